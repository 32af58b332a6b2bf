// The official Lit JS SDK v7, installed from npm and used as its
// documentation shows, against a Candela devnet on anvil.
//
// One devnet serves every test of this file (they run in order): the
// `before` hook starts `candela devnet --chain anvil`, mints a PKP owned by a
// test wallet with the Candela CLI, and connects the SDK's client.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ethers } = require('ethers');
const { startDevnet, candela } = require('../lib/devnet');
const { WALLET_KEY, sdkClient, allAbilities, onlyWallet, walletSession: sessionOf, walletAuthMethod } = require('../lib/sdk');

// anvil's account 0, which deploys and owns the devnet's contracts
const ANVIL_ADMIN_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

let devnet;
let client;
let wallet;
let pkp;
let sessionSigs;

before(async () => {
  // four nodes, threshold three: one node may be down (the last test)
  devnet = await startDevnet({ nodes: 4 });
  wallet = new ethers.Wallet(WALLET_KEY);
  pkp = JSON.parse(
    candela([
      'pkp', 'mint', '--network', devnet.networkPath, '--private-key', WALLET_KEY,
      '--permit-address', wallet.address, '--json',
    ]),
  );
  client = sdkClient(devnet);
});

after(async () => {
  if (client) await client.disconnect();
  if (devnet) await devnet.stop();
});

/** A wallet session of `signer` on the test client (see lib/sdk.js). */
const walletSession = (signer, options) => sessionOf(client, signer, options);

const RESPOND_ONLY = `Lit.Actions.setResponse({ response: 'hello ' + who });`;

test('connect reads the node set from the Staking contract on anvil and handshakes with every node', async () => {
  await client.connect();
  assert.equal(client.ready, true);
  const expected = devnet.network.nodes.map((n) => n.url).sort();
  assert.deepEqual([...client.connectedNodes].sort(), expected);
  assert.equal(client.config.minNodeCount, devnet.network.threshold);
  assert.equal(client.networkPubKey, devnet.network.blsPublicKey);
  assert.equal(client.subnetPubKey, devnet.network.blsPublicKey);
  // the nonce is a real, recent block hash of the registry chain
  const provider = new ethers.providers.JsonRpcProvider(devnet.network.rpcUrl);
  const block = await provider.getBlock(client.latestBlockhash);
  assert.ok(block, `latestBlockhash ${client.latestBlockhash} is a block of the chain`);
});

test('getSessionSigs with a wallet gives a session every node accepts', async () => {
  sessionSigs = await walletSession(wallet, {
    expiration: new Date(Date.now() + 10 * 60 * 1000).toISOString(),
  });
  assert.deepEqual(Object.keys(sessionSigs).sort(), [...client.connectedNodes].sort());
});

test('executeJs runs an action on every node; its signEcdsa shares combine and verify in the SDK', async () => {
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('candela')));
  const res = await client.executeJs({
    sessionSigs,
    code: `(async () => {
      const sig = await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: 'sig1' });
      Lit.Actions.setResponse({ response: JSON.stringify({ ok: true, n: magic * 2 }) });
    })();`,
    jsParams: { toSign: Array.from(toSign), publicKey: pkp.publicKey, magic: 21 },
  });
  assert.deepEqual(res.response, { ok: true, n: 42 });
  const sig = res.signatures.sig1;
  assert.ok(sig, 'the SDK combined signature sig1');
  const recovered = ethers.utils.recoverAddress(toSign, sig.signature);
  assert.equal(recovered, pkp.ethAddress);
});

test('pkpSign with a wallet session signs a digest with the PKP', async () => {
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('pkp sign')));
  const sig = await client.pkpSign({ pubKey: pkp.publicKey, toSign, sessionSigs });
  assert.equal(ethers.utils.recoverAddress(toSign, sig.signature), pkp.ethAddress);
});

test('pkpSign with authMethods: a stranger\'s session signs when a wallet auth method of the owner comes with it, and is refused alone', async () => {
  const stranger = ethers.Wallet.createRandom();
  const strangerSigs = await walletSession(stranger);
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('with the owner')));
  await assert.rejects(
    client.pkpSign({ pubKey: pkp.publicKey, toSign, sessionSigs: strangerSigs }),
    (e) => /NodeUnauthorized|neither owns/.test(JSON.stringify(e.info ?? {}) + e.message),
  );
  const sig = await client.pkpSign({
    pubKey: pkp.publicKey,
    toSign,
    sessionSigs: strangerSigs,
    authMethods: [await walletAuthMethod(client, wallet)],
  });
  assert.equal(ethers.utils.recoverAddress(toSign, sig.signature), pkp.ethAddress);
});

test('encrypt and decrypt under access-control conditions: the wallet decrypts, a stranger is refused', async () => {
  const accessControlConditions = onlyWallet(wallet.address);
  const secret = 'the candela secret';
  const { ciphertext, dataToEncryptHash } = await client.encrypt({
    accessControlConditions,
    dataToEncrypt: new TextEncoder().encode(secret),
  });
  const { decryptedData } = await client.decrypt({
    accessControlConditions,
    ciphertext,
    dataToEncryptHash,
    sessionSigs,
    chain: 'ethereum',
  });
  assert.equal(new TextDecoder().decode(decryptedData), secret);

  const stranger = ethers.Wallet.createRandom();
  const strangerSigs = await walletSession(stranger);
  await assert.rejects(
    client.decrypt({ accessControlConditions, ciphertext, dataToEncryptHash, sessionSigs: strangerSigs, chain: 'ethereum' }),
    (e) => /NotAuthorized/i.test(JSON.stringify(e.info ?? e.message) + e.message),
  );
});

test('encrypt and decrypt under unifiedAccessControlConditions with an or: the SDK\'s condition hash and the nodes\' agree', async () => {
  const stranger = ethers.Wallet.createRandom();
  const isWallet = (address) => ({ conditionType: 'evmBasic', ...onlyWallet(address)[0] });
  const unifiedAccessControlConditions = [isWallet(stranger.address), { operator: 'or' }, isWallet(wallet.address)];
  const { ciphertext, dataToEncryptHash } = await client.encrypt({
    unifiedAccessControlConditions,
    dataToEncrypt: new TextEncoder().encode('either of two'),
  });
  const { decryptedData } = await client.decrypt({
    unifiedAccessControlConditions,
    ciphertext,
    dataToEncryptHash,
    sessionSigs,
    chain: 'ethereum',
  });
  assert.equal(new TextDecoder().decode(decryptedData), 'either of two');
  const third = await walletSession(ethers.Wallet.createRandom());
  await assert.rejects(
    client.decrypt({ unifiedAccessControlConditions, ciphertext, dataToEncryptHash, sessionSigs: third, chain: 'ethereum' }),
    (e) => /NotAuthorized/i.test(JSON.stringify(e.info ?? e.message) + e.message),
  );
});

test('ciphertexts cross over: the candela CLI decrypts what the SDK encrypted, and the SDK decrypts what `candela encrypt --lit` wrote', async () => {
  const accessControlConditions = onlyWallet(wallet.address);
  const fromSdk = await client.encrypt({
    accessControlConditions,
    dataToEncrypt: new TextEncoder().encode('sealed by the SDK'),
  });
  const input = path.join(devnet.dir, 'from-sdk.json');
  fs.writeFileSync(input, JSON.stringify({ ...fromSdk, accessControlConditions }));
  const opened = candela(['decrypt', '--network', devnet.networkPath, '--input', input, '--private-key', WALLET_KEY]);
  assert.equal(opened, 'sealed by the SDK');

  const conditionsFile = path.join(devnet.dir, 'conditions.json');
  fs.writeFileSync(conditionsFile, JSON.stringify({ accessControlConditions }));
  const fromCandela = JSON.parse(
    candela(['encrypt', '--network', devnet.networkPath, '--conditions', conditionsFile, '--string', 'sealed by candela', '--lit']),
  );
  const { decryptedData } = await client.decrypt({
    accessControlConditions: fromCandela.accessControlConditions,
    ciphertext: fromCandela.ciphertext,
    dataToEncryptHash: fromCandela.dataToEncryptHash,
    sessionSigs,
    chain: 'ethereum',
  });
  assert.equal(new TextDecoder().decode(decryptedData), 'sealed by candela');
});

test('a secret the SDK encrypted to one action opens inside that action with decryptAndCombine and nowhere else; what an action encrypts, the SDK decrypts', async () => {
  const opener = `(async () => {
    const secret = await Lit.Actions.decryptAndCombine({ accessControlConditions, ciphertext, dataToEncryptHash, authSig: null, chain: 'ethereum' });
    Lit.Actions.setResponse({ response: 'opened: ' + secret });
  })();`;
  const cid = candela(['action', 'cid', writeAction('opener.js', opener)]).trim();
  const onlyTheAction = [
    {
      contractAddress: '',
      standardContractType: '',
      chain: 'ethereum',
      method: '',
      parameters: [':currentActionIpfsId'],
      returnValueTest: { comparator: '=', value: cid },
    },
  ];
  const { ciphertext, dataToEncryptHash } = await client.encrypt({
    accessControlConditions: onlyTheAction,
    dataToEncrypt: new TextEncoder().encode('an api key'),
  });
  const res = await client.executeJs({
    sessionSigs,
    code: opener,
    jsParams: { accessControlConditions: onlyTheAction, ciphertext, dataToEncryptHash },
  });
  assert.equal(res.response, 'opened: an api key');
  await assert.rejects(
    client.decrypt({ accessControlConditions: onlyTheAction, ciphertext, dataToEncryptHash, sessionSigs, chain: 'ethereum' }),
    (e) => /not evaluated inside an action/.test(e.message),
  );

  const accessControlConditions = onlyWallet(wallet.address);
  const sealed = await client.executeJs({
    sessionSigs,
    code: `(async () => {
      const sealed = await Lit.Actions.runOnce({ waitForResponse: true, name: 'seal' }, async () =>
        JSON.stringify(await Lit.Actions.encrypt({ accessControlConditions, to_encrypt: new TextEncoder().encode('sealed in an action') })));
      Lit.Actions.setResponse({ response: sealed });
    })();`,
    jsParams: { accessControlConditions },
  });
  // without signatures the SDK hands the action's response back as the string it set
  const made = JSON.parse(sealed.response);
  const { decryptedData } = await client.decrypt({
    accessControlConditions,
    ciphertext: made.ciphertext,
    dataToEncryptHash: made.dataToEncryptHash,
    sessionSigs,
    chain: 'ethereum',
  });
  assert.equal(new TextDecoder().decode(decryptedData), 'sealed in an action');
});

test('getPkpSessionSigs: the network signs a session for the PKP through its wallet auth method, and the PKP session signs', async () => {
  const pkpSessionSigs = await client.getPkpSessionSigs({
    pkpPublicKey: pkp.publicKey,
    authMethods: [await walletAuthMethod(client, wallet)],
    resourceAbilityRequests: allAbilities(),
    expiration: new Date(Date.now() + 10 * 60 * 1000).toISOString(),
  });
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('as the pkp')));
  const sig = await client.pkpSign({ pubKey: pkp.publicKey, toSign, sessionSigs: pkpSessionSigs });
  assert.equal(ethers.utils.recoverAddress(toSign, sig.signature), pkp.ethAddress);
});

test('getLitActionSessionSigs: a custom-auth action permitted on the PKP authorises a session for it', async () => {
  const authCode = `Lit.Actions.setResponse({ response: JSON.stringify(password === 'open sesame') });`;
  const cid = candela(['action', 'cid', writeAction('auth.js', authCode)]).trim();
  const gated = JSON.parse(
    candela(['pkp', 'mint', '--network', devnet.networkPath, '--private-key', WALLET_KEY, '--permit-action', cid, '--burn', '--json']),
  );
  const session = (password) =>
    client.getLitActionSessionSigs({
      pkpPublicKey: gated.publicKey,
      litActionCode: Buffer.from(authCode).toString('base64'),
      jsParams: { password },
      resourceAbilityRequests: allAbilities(),
      expiration: new Date(Date.now() + 10 * 60 * 1000).toISOString(),
    });
  const pkpSessionSigs = await session('open sesame');
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('custom auth')));
  const sig = await client.pkpSign({ pubKey: gated.publicKey, toSign, sessionSigs: pkpSessionSigs });
  assert.equal(ethers.utils.recoverAddress(toSign, sig.signature), gated.ethAddress);
  await assert.rejects(session('wrong'), (e) => /Unauthorized|NotAuthorized/i.test(e.info?.errorCode ?? e.message));
});

test('executeJs with authMethods: every node verifies a wallet auth method and the action sees it in Lit.Auth.authMethodContexts; a forged one is refused', async () => {
  const code = `Lit.Actions.setResponse({ response: JSON.stringify(Lit.Auth.authMethodContexts) });`;
  const other = ethers.Wallet.createRandom();
  const method = await walletAuthMethod(client, other);
  const res = await client.executeJs({ sessionSigs, code, authMethods: [method], jsParams: {} });
  // without signatures the SDK hands the action's response back as the string it set
  assert.deepEqual(JSON.parse(res.response), [
    { authMethodType: 1, userId: other.address, appId: 'lit', usedForSignSessionKeyRequest: false },
  ]);

  const forged = JSON.parse(method.accessToken);
  forged.signedMessage = forged.signedMessage.replace(other.address, wallet.address);
  forged.address = wallet.address;
  await assert.rejects(
    client.executeJs({
      sessionSigs,
      code,
      authMethods: [{ authMethodType: 1, accessToken: JSON.stringify(forged) }],
      jsParams: {},
    }),
    (e) => e.info?.errorCode === 'NodeInvalidAuthMethod' && /does not verify/.test(e.info?.message),
  );
});

/** Write an action file into the devnet's directory; returns its path. */
function writeAction(name, code) {
  const file = path.join(devnet.dir, name);
  fs.writeFileSync(file, code);
  return file;
}

test('nodes accept any recent block hash of the registry chain as SIWE nonce, and refuse a hash that is no block of it', async () => {
  const provider = new ethers.providers.JsonRpcProvider(devnet.network.rpcUrl);
  const older = (await provider.getBlock('latest')).hash;
  for (let i = 0; i < 3; i++) await provider.send('evm_mine', []);
  assert.notEqual((await provider.getBlock('latest')).hash, older);

  const recent = await walletSession(wallet, { nonce: async () => older });
  const res = await client.executeJs({ sessionSigs: recent, code: RESPOND_ONLY, jsParams: { who: 'block' } });
  assert.equal(res.response, 'hello block');

  const notABlock = await walletSession(wallet, {
    nonce: async () => ethers.utils.hexlify(ethers.utils.randomBytes(32)),
  });
  await assert.rejects(
    client.executeJs({ sessionSigs: notABlock, code: RESPOND_ONLY, jsParams: { who: 'nobody' } }),
    (e) => e.info?.errorCode === 'NodeInvalidAuthSig' && /nonce/.test(e.info?.message),
  );
});

test('a session carrying a capacity-credit delegation (as apps for Lit\'s paid networks make them) works, and the delegation gives its signer\'s rights to nobody', async () => {
  const dAppOwner = ethers.Wallet.createRandom();
  const { capacityDelegationAuthSig } = await client.createCapacityDelegationAuthSig({
    dAppOwnerWallet: dAppOwner,
    capacityTokenId: '7',
    delegateeAddresses: [wallet.address],
    uses: '10',
  });
  const delegated = await walletSession(wallet, { capabilityAuthSigs: [capacityDelegationAuthSig] });
  const res = await client.executeJs({ sessionSigs: delegated, code: RESPOND_ONLY, jsParams: { who: 'delegated' } });
  assert.equal(res.response, 'hello delegated');
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('delegated')));
  const sig = await client.pkpSign({ pubKey: pkp.publicKey, toSign, sessionSigs: delegated });
  assert.equal(ethers.utils.recoverAddress(toSign, sig.signature), pkp.ethAddress);

  // the session's own wallet is the caller: a delegation signed by the PKP's
  // owner gives a stranger's session no right to sign with it
  const { capacityDelegationAuthSig: fromOwner } = await client.createCapacityDelegationAuthSig({
    dAppOwnerWallet: wallet,
    capacityTokenId: '7',
    delegateeAddresses: [],
    uses: '10',
  });
  const stranger = await walletSession(ethers.Wallet.createRandom(), { capabilityAuthSigs: [fromOwner] });
  await assert.rejects(
    client.pkpSign({ pubKey: pkp.publicKey, toSign, sessionSigs: stranger }),
    (e) => /NodeUnauthorized|neither owns/.test(JSON.stringify(e.info ?? {}) + e.message),
  );
});

test('executeJs by ipfsId runs an action deployed with `candela action deploy`', async () => {
  const file = writeAction('hello.js', RESPOND_ONLY);
  const cid = candela(['action', 'deploy', '--network', devnet.networkPath, file]).trim().split(/\s+/).find((w) => w.startsWith('Qm'));
  assert.match(cid, /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/);
  const res = await client.executeJs({ sessionSigs, ipfsId: cid, jsParams: { who: cid } });
  assert.equal(res.response, `hello ${cid}`);
});

test('Lit\'s v7 claim flow: an action\'s claimKey comes back in executeJs\'s claims as node-wallet signatures, PKPNFT.claimAndMint through Lit\'s ABI mints the claimed key once, and the SDK signs with it', async () => {
  const keyId = 'compat-user';
  const file = writeAction('claim.js', `(async () => {
    const r = await Lit.Actions.claimKey({ keyId: '${keyId}' });
    Lit.Actions.setResponse({ response: r });
  })();`);
  const cid = candela(['action', 'deploy', '--network', devnet.networkPath, file]).trim().split(/\s+/).find((w) => w.startsWith('Qm'));
  const res = await client.executeJs({ sessionSigs, ipfsId: cid });
  const claim = res.claims[keyId];
  assert.ok(claim, `claims: ${JSON.stringify(res.claims)}`);
  assert.equal('0x' + claim.derivedKeyId, ethers.utils.keccak256(ethers.utils.toUtf8Bytes(`${cid}_${keyId}`)));
  assert.equal(claim.signatures.length, devnet.network.nodes.length);
  // each signature is a node wallet's EIP-191 signature of the key id
  const wallets = devnet.network.nodes.map((n) => ethers.utils.getAddress('0x' + n.walletAddress)).sort();
  const signers = claim.signatures
    .map((sig) => ethers.utils.verifyMessage(ethers.utils.arrayify('0x' + claim.derivedKeyId), sig))
    .sort();
  assert.deepEqual(signers, wallets);

  const { datil } = require('@lit-protocol/contracts');
  const abi = datil.data.find((c) => c.name === 'PKPNFT').contracts[0].ABI;
  const registry = devnet.network.registry;
  const minter = wallet.connect(new ethers.providers.JsonRpcProvider(registry.rpcUrl));
  const nft = new ethers.Contract(registry.contracts.pkpNft, abi, minter);
  const value = await nft.mintCost();
  const args = [2, '0x' + claim.derivedKeyId, claim.signatures];
  const receipt = await (await nft.claimAndMint(...args, { value, gasLimit: 3_000_000 })).wait();
  const minted = receipt.logs.map((l) => { try { return nft.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === 'PKPMinted');
  assert.ok(minted, 'PKPMinted');
  assert.equal(await nft.ownerOf(minted.args.tokenId), wallet.address);
  // a key id is minted once
  await assert.rejects(nft.callStatic.claimAndMint(...args, { value }));
  // too few signatures: refused
  await assert.rejects(nft.callStatic.claimAndMint(2, '0x' + claim.derivedKeyId, claim.signatures.slice(0, 1), { value }));

  const pubKey = minted.args.pubkey;
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('claimed key')));
  const sig = await client.pkpSign({ pubKey, toSign, sessionSigs });
  assert.equal(ethers.utils.recoverAddress(toSign, sig.signature), ethers.utils.computeAddress(pubKey));
});

test('executeJs with useSingleNode: one node runs the action and its answer is the result', async () => {
  const res = await client.executeJs({ sessionSigs, code: RESPOND_ONLY, useSingleNode: true, jsParams: { who: 'one node' } });
  assert.equal(res.response, 'hello one node');
});

test('every v7 endpoint answers with and without a trailing slash, and errors are non-2xx JSON with errorCode and message', async () => {
  const url = devnet.network.nodes[0].url;
  for (const endpoint of ['/web/handshake', '/web/execute/v1', '/web/pkp/sign/v1', '/web/encryption/sign', '/web/sign_session_key/v1']) {
    for (const suffix of ['', '/']) {
      const res = await fetch(url + endpoint + suffix, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientPublicKey: 'test', challenge: 'ab' }),
      });
      const body = await res.json();
      if (endpoint === '/web/handshake') {
        assert.equal(res.status, 200, `${endpoint}${suffix}`);
        assert.equal(body.networkPublicKey, devnet.network.blsPublicKey);
      } else {
        assert.ok(res.status >= 400 && res.status < 500, `${endpoint}${suffix}: ${res.status}`);
        assert.notEqual(body.errorCode, 'NodeNotFound', `${endpoint}${suffix} exists`);
        assert.equal(typeof body.errorCode, 'string');
        assert.equal(typeof body.message, 'string');
      }
    }
  }
});

test('with one node down the SDK cannot execute (it needs every node) while the candela client signs with threshold nodes; once the node is kicked from the Staking view the SDK connects to the others and signs', async () => {
  devnet.stopNode(3);
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('one down')));
  const code = `(async () => {
    await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: 'sig' });
    Lit.Actions.setResponse({ response: 'signed' });
  })();`;
  await assert.rejects(
    client.executeJs({ sessionSigs, code, jsParams: { toSign: Array.from(toSign), publicKey: pkp.publicKey } }),
  );
  const file = writeAction('one-down.js', code);
  const out = candela([
    'action', 'run', '--network', devnet.networkPath, '--private-key', WALLET_KEY,
    '--params', JSON.stringify({ toSign: Array.from(toSign), publicKey: pkp.publicKey }), file,
  ]);
  assert.match(out, /signed/);
  assert.match(out, new RegExp(pkp.ethAddress.slice(2), 'i'), 'the verified signature recovers to the PKP');

  // the SDK handshakes with every node the chain lists, so it cannot even
  // connect while one is down...
  const fresh = sdkClient(devnet);
  await assert.rejects(fresh.connect());
  // ...until the Staking owner kicks it from the set the SDK reads; the
  // node keeps its key share, and the three others sign for the SDK
  const admin = ['--network', devnet.networkPath, '--node', '3', '--private-key', ANVIL_ADMIN_KEY];
  assert.deepEqual(JSON.parse(candela(['contracts', 'kick', ...admin])), { kicked: [3] });
  await fresh.connect();
  try {
    assert.equal(fresh.connectedNodes.size, 3);
    const freshSigs = await sessionOf(fresh, wallet);
    // presignatures without the dead node may still be in the making: the
    // nodes say so (503 NodePresignaturePoolEmpty), and a client tries again
    let res;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fresh.executeJs({ sessionSigs: freshSigs, code, jsParams: { toSign: Array.from(toSign), publicKey: pkp.publicKey } });
        break;
      } catch (e) {
        if (attempt >= 20 || !/PresignaturePoolEmpty/.test(e.message)) throw e;
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
    assert.equal(ethers.utils.recoverAddress(toSign, res.signatures.sig.signature), pkp.ethAddress);
  } finally {
    await fresh.disconnect();
  }
  assert.deepEqual(JSON.parse(candela(['contracts', 'rejoin', ...admin])), { kicked: [] });
});

/** GET /web/status of `url`, or null while the node does not answer. */
async function statusOf(url) {
  try {
    const res = await fetch(url + '/web/status');
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** Poll `check` every second until it returns a truthy value. */
async function waitFor(what, check, timeoutMs = 240_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${devnet.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * The SDK's pkpSign with the test's PKP, tried again while the nodes answer
 * that presignatures of the new committee are still in the making.
 */
async function pkpSignOnceThePoolRefilled(toSign, sessionSigs) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.pkpSign({ pubKey: pkp.publicKey, toSign, sessionSigs });
    } catch (e) {
      if (attempt >= 20 || !/PresignaturePoolEmpty/.test(e.message + JSON.stringify(e.info ?? ''))) throw e;
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

/** The Staking contract object the SDK listens on, once it reconnected. */
let firstStakingContract = null;

test('across an epoch change the SDK follows the Staking contract: a fifth member joins, the keys move to it, the nodes\' handshake epoch and the SDK\'s epoch advance together, and the PKP minted before signs with its old address and a ciphertext of before decrypts', async () => {
  // the member the test before stopped comes back first: every member of
  // the new committee receives a share
  devnet.startNode(path.join(devnet.dir, 'node-3', 'config.json'));
  await waitFor('node 3 ready', async () => (await statusOf(devnet.network.nodes[3].url))?.ready);

  const stakingListenedTo = client._stakingContract;
  const accessControlConditions = onlyWallet(wallet.address);
  const secret = 'sealed before the epoch change';
  const sealed = await client.encrypt({ accessControlConditions, dataToEncrypt: new TextEncoder().encode(secret) });
  const provider = new ethers.providers.JsonRpcProvider(devnet.network.rpcUrl);
  const staking = new ethers.Contract(devnet.network.stakingAddress, devnet.stakingAbi, provider);
  const epochBefore = (await staking.epoch()).number.toNumber();
  const handshake = async (url) => {
    const res = await fetch(url + '/web/handshake', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clientPublicKey: 'test', challenge: 'ab' }),
    });
    return res.json();
  };
  assert.equal((await handshake(devnet.network.nodes[0].url)).epoch, epochBefore, 'nodes report the Staking epoch');
  assert.equal(client.config.bootstrapUrls.length, 4);

  // the Staking owner adds a member (setValidators starts the next epoch)
  const grown = JSON.parse(candela(['epoch', 'advance', '--dir', devnet.dir, '--add', '1', '--admin-key', ANVIL_ADMIN_KEY]));
  assert.deepEqual([grown.size, grown.threshold], [5, 4]);
  devnet.startNode(grown.added[0].config);
  const network = JSON.parse(fs.readFileSync(devnet.networkPath, 'utf8'));
  assert.equal((await staking.epoch()).number.toNumber(), epochBefore + 1);

  // every member, the new one too, reports the new epoch once the keys moved
  await waitFor('the keys on the new committee', async () => {
    const all = await Promise.all(network.nodes.map((n) => statusOf(n.url)));
    return all.every((s) => s && s.ready && s.networkEpoch === epochBefore + 1 && Object.keys(s.blsPublicShares).length === 5);
  });
  for (const n of network.nodes) {
    const h = await handshake(n.url);
    assert.equal(h.epoch, epochBefore + 1);
    assert.equal(h.networkPublicKey, devnet.network.blsPublicKey, 'the BLS key is the same');
  }

  // the client connected before saw Staking's StateChanged and reconnected
  // to the new set by itself
  await waitFor('the SDK on the new node set', async () => client.config.bootstrapUrls.length === 5 && client.ready);
  // (the SDK's reconnect makes a new Staking contract object but keeps its
  // StateChanged listener on the old one: it follows later epochs through
  // it, and its provider polls until the last test removes it)
  firstStakingContract = stakingListenedTo;
  assert.equal(client.config.minNodeCount, 4);
  assert.equal(client.networkPubKey, devnet.network.blsPublicKey);
  // (the SDK names the previous epoch for its first 15 s, then this one)
  await waitFor('the SDK\'s epoch', async () => client.currentEpochNumber === epochBefore + 1, 60_000);

  const sigs = await walletSession(wallet);
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('after the epoch change')));
  const sig = await pkpSignOnceThePoolRefilled(toSign, sigs);
  assert.equal(ethers.utils.recoverAddress(toSign, sig.signature), pkp.ethAddress, 'the PKP keeps its address');

  const { decryptedData } = await client.decrypt({ accessControlConditions, ...sealed, sessionSigs: sigs, chain: 'ethereum' });
  assert.equal(new TextDecoder().decode(decryptedData), secret);
});

test('across a kick the SDK follows the Staking contract: the owner kicks member 2 and advances the epoch, the keys move to the four others (index 2 left empty, threshold 3), the kicked node erases its shares and stops, and the SDK reconnects to the four: the PKP signs with its old address and a ciphertext of before decrypts', async () => {
  const provider = new ethers.providers.JsonRpcProvider(devnet.network.rpcUrl);
  const staking = new ethers.Contract(devnet.network.stakingAddress, devnet.stakingAbi, provider);
  const epochBefore = (await staking.epoch()).number.toNumber();
  const accessControlConditions = onlyWallet(wallet.address);
  const secret = 'sealed before the kick';
  const sealed = await client.encrypt({ accessControlConditions, dataToEncrypt: new TextEncoder().encode(secret) });

  // kicked for the next epoch, then the next epoch: member 2 leaves the
  // committee and keeps its index; the threshold becomes 3 of 4
  const admin = ['--network', devnet.networkPath, '--private-key', ANVIL_ADMIN_KEY];
  assert.deepEqual(JSON.parse(candela(['contracts', 'kick', '--node', '2', ...admin])), { kicked: [2] });
  const advanced = JSON.parse(candela(['contracts', 'advance-epoch', ...admin]));
  assert.deepEqual(
    [advanced.epoch, advanced.committee, advanced.kicked, advanced.threshold],
    [epochBefore + 1, [0, 1, 3, 4], [2], 3],
  );
  const network = JSON.parse(fs.readFileSync(devnet.networkPath, 'utf8'));
  const stay = network.nodes.filter((n) => n.index !== 2);
  await waitFor('the keys on the four others', async () => {
    const all = await Promise.all(stay.map((n) => statusOf(n.url)));
    return all.every((s) => s && s.ready && s.networkEpoch === epochBefore + 1
      && Object.keys(s.blsPublicShares).join() === '0,1,3,4');
  });
  await waitFor('the kicked node to stop', async () => (await statusOf(network.nodes[2].url)) === null);

  await waitFor('the SDK on the four', async () => client.config.bootstrapUrls.length === 4 && client.ready);
  assert.equal(client.config.minNodeCount, 3);
  assert.equal(client.networkPubKey, devnet.network.blsPublicKey, 'the BLS key is the same');

  const sigs = await walletSession(wallet);
  const toSign = ethers.utils.arrayify(ethers.utils.keccak256(ethers.utils.toUtf8Bytes('after the kick')));
  const sig = await pkpSignOnceThePoolRefilled(toSign, sigs);
  assert.equal(ethers.utils.recoverAddress(toSign, sig.signature), pkp.ethAddress, 'the PKP keeps its address');
  const { decryptedData } = await client.decrypt({ accessControlConditions, ...sealed, sessionSigs: sigs, chain: 'ethereum' });
  assert.equal(new TextDecoder().decode(decryptedData), secret);
  // the listener the SDK left on its first Staking contract object (a leak
  // of SDK 7: its provider would poll forever)
  firstStakingContract?.removeAllListeners('StateChanged');
});
