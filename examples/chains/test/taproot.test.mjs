// examples/actions/taproot-spend.js run in node with a local-key shim,
// checked against bitcoinjs-lib's sighash and noble's BIP-340 verification
// through taproot.mjs.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import * as ecc from '@bitcoinerlab/secp256k1';
import { Transaction, initEccLib, networks, payments } from 'bitcoinjs-lib';
import { hex, makePkp, runAction, runScript } from './helpers.mjs';

initEccLib(ecc);

// One address of each standard kind on `network`, from random keys/hashes.
function destinations(network) {
  const pubkey = Buffer.from(ecc.pointFromScalar(randomBytes(32), true));
  return {
    p2tr: payments.p2tr({ internalPubkey: pubkey.subarray(1), network }).address,
    p2wpkh: payments.p2wpkh({ pubkey, network }).address,
    p2wsh: payments.p2wsh({ hash: randomBytes(32), network }).address,
    p2pkh: payments.p2pkh({ pubkey, network }).address,
    p2sh: payments.p2sh({ hash: randomBytes(20), network }).address,
  };
}

function txFlags(pkp, { prevTxid, prevVout, prevValue, to, amount, network }) {
  return [
    '--output-key', hex(pkp.outputKey),
    '--prev-txid', prevTxid,
    '--prev-vout', String(prevVout),
    '--prev-value', String(prevValue),
    '--to', to,
    '--amount', String(amount),
    '--network', network,
  ];
}

async function unsigned(pkp, spend) {
  const out = await runScript('taproot.mjs', ['unsigned', ...txFlags(pkp, spend)]);
  assert.equal(out.code, 0, out.stderr);
  return out.json;
}

function randomSpend(network, to) {
  const prevValue = randomInt(10_000, 2 ** 40);
  return {
    prevTxid: randomBytes(32).toString('hex'),
    prevVout: randomInt(0, 2 ** 32 - 1),
    prevValue,
    to,
    amount: prevValue - randomInt(0, 10_000),
    network,
  };
}

test("the shim's taproot key is the BIP-86 output key that bitcoinjs-lib derives from its internal key", () => {
  for (let i = 0; i < 8; i++) {
    const pkp = makePkp();
    const p2tr = payments.p2tr({ internalPubkey: Buffer.from(pkp.internalKey) });
    assert.equal(hex(p2tr.pubkey), hex(pkp.outputKey));
  }
});

test("the action's sighash equals bitcoinjs-lib's and its signature verifies against Q, for every destination kind and network", async () => {
  const pkp = makePkp();
  for (const name of ['regtest', 'testnet', 'bitcoin']) {
    for (const [kind, to] of Object.entries(destinations(networks[name]))) {
      const spend = randomSpend(name, to);
      const fields = await unsigned(pkp, spend);
      assert.equal(fields.address, payments.p2tr({ pubkey: Buffer.from(pkp.outputKey), network: networks[name] }).address);
      const { response, calls } = await runAction(
        'taproot-spend.js',
        { ...fields, publicKey: pkp.publicKey, maxAmount: spend.amount, allowedTo: fields.outputScript },
        pkp,
      );
      assert.equal(calls.length, 1);
      assert.equal(calls[0].signingScheme, 'SchnorrK256Taproot');
      const signed = JSON.parse(response);
      assert.equal(signed.sighash, fields.sighash, `${name} ${kind}: the action's sighash differs from bitcoinjs-lib's`);
      assert.equal(signed.signed_data, fields.sighash);
      assert.equal(signed.verifying_key, hex(pkp.outputKey));

      const out = await runScript('taproot.mjs', ['verify', ...txFlags(pkp, spend), '--signature', signed.signature]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.json.verified, true);

      // The signed transaction, decoded again by bitcoinjs-lib: the signature
      // is the key-path witness, valid for Q by the second secp256k1 library.
      const tx = Transaction.fromHex(out.json.tx);
      assert.equal(tx.getId(), out.json.txid);
      assert.equal(tx.ins.length, 1);
      assert.equal(hex(Buffer.from(tx.ins[0].hash).reverse()), spend.prevTxid);
      assert.equal(tx.ins[0].index, spend.prevVout);
      assert.equal(tx.ins[0].witness.length, 1);
      assert.equal(hex(tx.ins[0].witness[0]), signed.signature);
      assert.equal(tx.outs.length, 1);
      assert.equal(tx.outs[0].value, spend.amount);
      assert.equal(hex(tx.outs[0].script), fields.outputScript);
      const sighash = tx.hashForWitnessV1(
        0,
        [Buffer.from(fields.prevScript, 'hex')],
        [spend.prevValue],
        Transaction.SIGHASH_DEFAULT,
      );
      assert.ok(ecc.verifySchnorr(sighash, Buffer.from(pkp.outputKey), Buffer.from(signed.signature, 'hex')));
    }
  }
});

test('an amount above maxAmount is refused without signing', async () => {
  const pkp = makePkp();
  const spend = randomSpend('regtest', destinations(networks.regtest).p2wpkh);
  const fields = await unsigned(pkp, spend);
  const record = {};
  await assert.rejects(
    runAction(
      'taproot-spend.js',
      { ...fields, publicKey: pkp.publicKey, maxAmount: String(spend.amount - 1), allowedTo: fields.outputScript },
      pkp,
      record,
    ),
    new RegExp(`refusing to sign: amount ${spend.amount} sats is more than maxAmount ${spend.amount - 1}`),
  );
  assert.equal(record.calls.length, 0);
  assert.equal(record.response, undefined);
});

test('a destination not in allowedTo is refused without signing', async () => {
  const pkp = makePkp();
  const dest = destinations(networks.regtest);
  const allowed = destinations(networks.regtest);
  const spend = randomSpend('regtest', dest.p2tr);
  const fields = await unsigned(pkp, spend);
  const allowedScripts = await Promise.all(
    [allowed.p2tr, allowed.p2wpkh].map(async (to) => (await unsigned(pkp, { ...spend, to })).outputScript),
  );
  const record = {};
  await assert.rejects(
    runAction(
      'taproot-spend.js',
      { ...fields, publicKey: pkp.publicKey, maxAmount: spend.amount, allowedTo: allowedScripts },
      pkp,
      record,
    ),
    new RegExp(`refusing to sign: destination script ${fields.outputScript} is not in allowedTo`),
  );
  assert.equal(record.calls.length, 0);

  // The same spend with its destination in the list is signed.
  const ok = await runAction(
    'taproot-spend.js',
    { ...fields, publicKey: pkp.publicKey, maxAmount: spend.amount, allowedTo: [...allowedScripts, fields.outputScript.toUpperCase()] },
    pkp,
  );
  assert.equal(JSON.parse(ok.response).sighash, fields.sighash);
});

test('a fee above maxFee, and a spent output not locked to the PKP, are refused', async () => {
  const pkp = makePkp();
  const spend = { ...randomSpend('regtest', destinations(networks.regtest).p2wsh), prevValue: 50_000, amount: 40_000 };
  const fields = await unsigned(pkp, spend);
  const params = { ...fields, publicKey: pkp.publicKey, maxAmount: 40_000, allowedTo: fields.outputScript };
  await assert.rejects(
    runAction('taproot-spend.js', { ...params, maxFee: 9_999 }, pkp),
    /refusing to sign: fee 10000 sats is more than maxFee 9999/,
  );
  await runAction('taproot-spend.js', { ...params, maxFee: '10000' }, pkp);

  // Fields made for another key: signing goes ahead, but the action sees that
  // the output is not this PKP's and returns nothing.
  const other = makePkp();
  const otherFields = await unsigned(other, spend);
  const record = {};
  await assert.rejects(
    runAction('taproot-spend.js', { ...otherFields, publicKey: pkp.publicKey, maxAmount: 40_000, allowedTo: fields.outputScript }, pkp, record),
    /prevScript is locked to [0-9a-f]{64}, not to this PKP's output key/,
  );
  assert.equal(record.response, undefined);

  await assert.rejects(
    runAction('taproot-spend.js', { ...params, prevScript: '0014' + '11'.repeat(20) }, pkp),
    /prevScript is not a P2TR output script/,
  );
  await assert.rejects(
    runAction('taproot-spend.js', { ...params, amount: 50_001, maxAmount: 60_000 }, pkp),
    /amount 50001 sats is more than the spent output's 50000/,
  );
});

test('a tampered signature, or one for another amount, fails taproot.mjs verify with exit 1', async () => {
  const pkp = makePkp();
  const spend = randomSpend('regtest', destinations(networks.regtest).p2tr);
  const fields = await unsigned(pkp, spend);
  const { response } = await runAction(
    'taproot-spend.js',
    { ...fields, publicKey: pkp.publicKey, maxAmount: spend.amount, allowedTo: fields.outputScript },
    pkp,
  );
  const signature = Buffer.from(JSON.parse(response).signature, 'hex');
  signature[40] ^= 0x80;
  const tampered = await runScript('taproot.mjs', ['verify', ...txFlags(pkp, spend), '--signature', hex(signature)]);
  assert.equal(tampered.code, 1);
  assert.equal(tampered.stdout, '');
  assert.match(tampered.stderr, /the BIP-340 signature does not verify/);

  signature[40] ^= 0x80;
  const good = await runScript('taproot.mjs', ['verify', ...txFlags(pkp, spend), '--signature', hex(signature)]);
  assert.equal(good.code, 0, good.stderr);
  const otherAmount = await runScript('taproot.mjs', [
    'verify', ...txFlags(pkp, { ...spend, amount: spend.amount - 1 }), '--signature', hex(signature),
  ]);
  assert.equal(otherAmount.code, 1);
  assert.match(otherAmount.stderr, /the BIP-340 signature does not verify/);
});
