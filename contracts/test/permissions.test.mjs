// PKPPermissions: every function, true/false cases, owner-only, and
// mintGrantAndBurnNext (atomic; afterwards every mutation reverts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase58, toBeHex, ZeroAddress } from 'ethers';
import { setup, mint, send, expectRevert, authMethodId, cid, gasMargin } from './helpers.mjs';

const ACTION = 2n;
const ADDRESS = 1n;
const WEBAUTHN = 3n;
const DISCORD = 4n;

let env, admin, alice, bob, carol;
before(async () => {
  env = await setup();
  [admin, alice, bob, carol] = env.signers;
});
after(async () => env?.stop());

const perms = (s) => env.pkpPermissions.connect(s);

test('authMethodId = uint256(keccak256(abi.encode(type, id)))', async () => {
  for (const [t, id] of [[1n, '0x' + '11'.repeat(20)], [2n, cid('x')], [6n, '0x'], [0x4e663n, '0xdeadbeef']]) {
    assert.equal(await env.pkpPermissions.getAuthMethodId(t, id), authMethodId(t, id));
  }
});

test('a real CIDv0 decodes to the 34-byte multihash the contract stores', async () => {
  const cidv0 = 'QmWBaeu6y1zEcKbsEqCuhuDHPL3W8pZouCPdafMCRCSUWk';
  const bytes = toBeHex(decodeBase58(cidv0), 34); // what Lit's SDK getBytesFromMultihash yields
  assert.equal(bytes.slice(0, 6), '0x1220');
  const { tokenId } = await mint(env, alice);
  await send(perms(alice).addPermittedAction(tokenId, bytes, [1]));
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, bytes), true);
});

test('actions: add / is / get / remove, with scopes', async () => {
  const { tokenId } = await mint(env, alice);
  const a1 = cid('action one');
  const a2 = cid('action two');
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, a1), false);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedActions(tokenId))], []);
  const r = await send(perms(alice).addPermittedAction(tokenId, a1, [1, 2]));
  const evs = r.logs.map((l) => env.pkpPermissions.interface.parseLog(l));
  assert.deepEqual(evs.map((e) => e.name), ['PermittedAuthMethodScopeAdded', 'PermittedAuthMethodScopeAdded', 'PermittedAuthMethodAdded']);
  assert.equal(evs[2].args.authMethodType, ACTION);
  assert.equal(evs[2].args.id, a1);
  await send(perms(alice).addPermittedAction(tokenId, a2, []));
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, a1), true);
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, a2), true);
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, cid('other')), false);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedActions(tokenId))], [a1, a2]);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, ACTION, a1, 4))], [false, true, true, false]);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, ACTION, a2, 3))], [false, false, false]);
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, ACTION, a1), true);
  await send(perms(alice).removePermittedAction(tokenId, a1));
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, a1), false);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedActions(tokenId))], [a2]);
  // removal clears the scopes (re-adding does not resurrect them)
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, ACTION, a1, 3))], [false, false, false]);
  await send(perms(alice).addPermittedAction(tokenId, a1, []));
  assert.equal(await env.pkpPermissions.isPermittedAuthMethodScopePresent(tokenId, ACTION, a1, 1), false);
  // permissions are per token
  const other = await mint(env, alice);
  assert.equal(await env.pkpPermissions.isPermittedAction(other.tokenId, a2), false);
});

test('actions must be sha2-256 multihashes (34 bytes, 0x1220…)', async () => {
  const { tokenId } = await mint(env, alice);
  await expectRevert(perms(alice).addPermittedAction(tokenId, '0x1220' + '11'.repeat(31), [1]), 'InvalidIpfsCID');
  await expectRevert(perms(alice).addPermittedAction(tokenId, '0x1320' + '11'.repeat(32), [1]), 'InvalidIpfsCID');
  const text = '0x' + Buffer.from('QmWBaeu6y1zEcKbsEqCuhuDHPL3W8pZouCPdafMCRCSUWk').toString('hex');
  await expectRevert(perms(alice).addPermittedAction(tokenId, text, [1]), 'InvalidIpfsCID');
});

test('addresses: owner implicit and listed first; add / is / get / remove', async () => {
  const A = await alice.getAddress();
  const B = await bob.getAddress();
  const C = await carol.getAddress();
  const { tokenId } = await mint(env, alice);
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, A), true, 'owner is implicitly permitted');
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, B), false);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAddresses(tokenId))], [A]);
  await send(perms(alice).addPermittedAddress(tokenId, B, [1]));
  await send(perms(alice).addPermittedAddress(tokenId, C, [2]));
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, B), true);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAddresses(tokenId))], [A, B, C]);
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, ADDRESS, B), true);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, ADDRESS, C, 3))], [false, false, true]);
  await send(perms(alice).removePermittedAddress(tokenId, B));
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, B), false);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAddresses(tokenId))], [A, C]);
  // After a transfer the new owner is the implicit one, and only it may change permissions.
  await send(env.pkpNft.connect(alice).transferFrom(A, B, tokenId));
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, A), false);
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, B), true);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAddresses(tokenId))], [B, C]);
  await expectRevert(perms(alice).addPermittedAddress(tokenId, A, []), 'NotPKPOwner');
  await send(perms(bob).addPermittedAddress(tokenId, A, []));
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, A), true);
});

test('auth methods: add / is / get / remove, user pubkey, token index', async () => {
  const { tokenId } = await mint(env, alice);
  const am = { authMethodType: DISCORD, id: '0x' + 'aa'.repeat(16), userPubkey: '0x' };
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, DISCORD, am.id), false);
  const r = await send(perms(alice).addPermittedAuthMethod(tokenId, am, [1]));
  const added = r.logs.map((l) => env.pkpPermissions.interface.parseLog(l)).find((e) => e.name === 'PermittedAuthMethodAdded');
  assert.equal(added.args.tokenId, tokenId);
  assert.equal(added.args.authMethodType, DISCORD);
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, DISCORD, am.id), true);
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, DISCORD, '0x' + 'bb'.repeat(16)), false);
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, 5n, am.id), false, 'type is part of the id');
  const list = await env.pkpPermissions.getPermittedAuthMethods(tokenId);
  assert.equal(list.length, 1);
  assert.deepEqual([list[0].authMethodType, list[0].id, list[0].userPubkey], [DISCORD, am.id, '0x']);
  assert.deepEqual([...(await env.pkpPermissions.getTokenIdsForAuthMethod(DISCORD, am.id))], [tokenId]);
  // WebAuthn keeps its first user pubkey
  const wa = { authMethodType: WEBAUTHN, id: '0x0102', userPubkey: '0x' + '04'.repeat(65) };
  await send(perms(alice).addPermittedAuthMethod(tokenId, wa, [2]));
  assert.equal(await env.pkpPermissions.getUserPubkeyForAuthMethod(WEBAUTHN, '0x0102'), wa.userPubkey);
  const other = await mint(env, bob);
  await expectRevert(perms(bob).addPermittedAuthMethod(other.tokenId, { ...wa, userPubkey: '0x' + '05'.repeat(65) }, []), 'WebAuthnPubkeyMismatch');
  await send(perms(bob).addPermittedAuthMethod(other.tokenId, wa, []));
  assert.deepEqual([...(await env.pkpPermissions.getTokenIdsForAuthMethod(WEBAUTHN, '0x0102'))], [tokenId, other.tokenId]);
  // getPermittedAuthMethods also lists actions and addresses (they are auth methods)
  await send(perms(alice).addPermittedAction(tokenId, cid('am-list'), []));
  assert.equal((await env.pkpPermissions.getPermittedAuthMethods(tokenId)).length, 3);
  // remove
  await send(perms(alice).removePermittedAuthMethod(tokenId, DISCORD, am.id));
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, DISCORD, am.id), false);
  assert.deepEqual([...(await env.pkpPermissions.getTokenIdsForAuthMethod(DISCORD, am.id))], []);
  assert.equal((await env.pkpPermissions.getPermittedAuthMethods(tokenId)).length, 2);
  // validation
  await expectRevert(perms(alice).addPermittedAuthMethod(tokenId, { authMethodType: 0, id: '0x01', userPubkey: '0x' }, []), 'InvalidAuthMethodType');
  await expectRevert(perms(alice).addPermittedAuthMethod(tokenId, { authMethodType: ADDRESS, id: '0x01', userPubkey: '0x' }, []), 'InvalidAddressId');
  await expectRevert(perms(alice).addPermittedAuthMethod(tokenId, { authMethodType: ACTION, id: '0x01', userPubkey: '0x' }, []), 'InvalidIpfsCID');
});

test('auth method scopes: add / remove / read', async () => {
  const { tokenId } = await mint(env, alice);
  const id = '0x' + 'cc'.repeat(8);
  await send(perms(alice).addPermittedAuthMethod(tokenId, { authMethodType: DISCORD, id, userPubkey: '0x' }, []));
  assert.equal(await env.pkpPermissions.isPermittedAuthMethodScopePresent(tokenId, DISCORD, id, 1), false);
  const r = await send(perms(alice).addPermittedAuthMethodScope(tokenId, DISCORD, id, 1));
  const ev = env.pkpPermissions.interface.parseLog(r.logs[0]);
  assert.equal(ev.name, 'PermittedAuthMethodScopeAdded');
  assert.deepEqual([ev.args.authMethodType, ev.args.id, ev.args.scopeId], [DISCORD, id, 1n]);
  await send(perms(alice).addPermittedAuthMethodScope(tokenId, DISCORD, id, 2));
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, DISCORD, id, 3))], [false, true, true]);
  await send(perms(alice).removePermittedAuthMethodScope(tokenId, DISCORD, id, 1));
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, DISCORD, id, 3))], [false, false, true]);
  assert.equal(await env.pkpPermissions.isPermittedAuthMethodScopePresent(tokenId, DISCORD, id, 2), true);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, DISCORD, id, 0))], []);
});

test('batchAddRemoveAuthMethods', async () => {
  const { tokenId } = await mint(env, alice);
  const B = await bob.getAddress();
  await send(perms(alice).addPermittedAuthMethod(tokenId, { authMethodType: DISCORD, id: '0x01', userPubkey: '0x' }, []));
  await send(perms(alice).batchAddRemoveAuthMethods(tokenId, [ADDRESS, ACTION], [B, cid('batch')], ['0x', '0x'], [[1], [1, 2]], [DISCORD], ['0x01']));
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, B), true);
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, cid('batch')), true);
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, DISCORD, '0x01'), false);
  await expectRevert(perms(alice).batchAddRemoveAuthMethods(tokenId, [ADDRESS], [], [], [], [], []), 'LengthMismatch');
});

test('only the PKP owner can mutate: every mutating function', async () => {
  const { tokenId } = await mint(env, alice);
  const id = '0x' + 'dd'.repeat(4);
  await send(perms(alice).addPermittedAuthMethod(tokenId, { authMethodType: DISCORD, id, userPubkey: '0x' }, [1]));
  await send(perms(alice).addPermittedAction(tokenId, cid('keep'), [1]));
  for (const who of [bob, admin]) {
    const p = perms(who);
    const calls = mutatingCalls(p, tokenId, id, await bob.getAddress());
    for (const [name, call] of calls) {
      const r = await expectRevert(call(), 'NotPKPOwner').catch((e) => { throw new Error(`${name}: ${e.message}`); });
      assert.equal(r.args.tokenId, tokenId);
    }
  }
  // nothing changed
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, cid('keep')), true);
  assert.equal(await env.pkpPermissions.isPermittedAuthMethod(tokenId, DISCORD, id), true);
  // unknown token
  await expectRevert(perms(alice).addPermittedAction(777n, cid('x'), []), 'UnknownPKP');
});

/** Every mutating function of PKPPermissions, as [name, () => promise]. */
function mutatingCalls(p, tokenId, id, someAddress) {
  return [
    ['addPermittedAction', () => p.addPermittedAction(tokenId, cid('new'), [1])],
    ['removePermittedAction', () => p.removePermittedAction(tokenId, cid('keep'))],
    ['addPermittedAddress', () => p.addPermittedAddress(tokenId, someAddress, [1])],
    ['removePermittedAddress', () => p.removePermittedAddress(tokenId, someAddress)],
    ['addPermittedAuthMethod', () => p.addPermittedAuthMethod(tokenId, { authMethodType: DISCORD, id: '0x99', userPubkey: '0x' }, [1])],
    ['removePermittedAuthMethod', () => p.removePermittedAuthMethod(tokenId, DISCORD, id)],
    ['addPermittedAuthMethodScope', () => p.addPermittedAuthMethodScope(tokenId, DISCORD, id, 2)],
    ['removePermittedAuthMethodScope', () => p.removePermittedAuthMethodScope(tokenId, DISCORD, id, 1)],
    ['batchAddRemoveAuthMethods', () => p.batchAddRemoveAuthMethods(tokenId, [DISCORD], ['0x98'], ['0x'], [[1]], [DISCORD], [id])],
  ];
}

test('mintGrantAndBurnNext: one transaction mints, grants (scope 1) and burns', async () => {
  const action = cid('immutable action');
  const predicted = await env.pkpNft.connect(carol).mintGrantAndBurnNext.staticCall(2, action);
  const before = await env.pkpNft.totalSupply();
  const nftC = env.pkpNft.connect(carol);
  const r = await send(nftC.mintGrantAndBurnNext(2, action, await gasMargin(nftC.mintGrantAndBurnNext, [2, action])));
  const nftAddr = (await env.pkpNft.getAddress()).toLowerCase();
  const permAddr = (await env.pkpPermissions.getAddress()).toLowerCase();
  const seq = r.logs.map((l) => {
    const iface = l.address.toLowerCase() === nftAddr ? env.pkpNft.interface : l.address.toLowerCase() === permAddr ? env.pkpPermissions.interface : null;
    const ev = iface.parseLog(l);
    return ev.name === 'Transfer' ? `Transfer(${ev.args.from === ZeroAddress ? '0' : ev.args.from === env.pkpNft.target ? 'nft' : ev.args.from}->${ev.args.to === ZeroAddress ? '0' : ev.args.to === env.pkpNft.target ? 'nft' : ev.args.to})` : ev.name;
  });
  assert.deepEqual(seq, ['PubkeyRoutingDataSet', 'Transfer(0->nft)', 'PKPMinted', 'PermittedAuthMethodScopeAdded', 'PermittedAuthMethodAdded', 'Transfer(nft->0)']);
  const minted = env.pkpNft.interface.parseLog(r.logs[2]);
  const tokenId = minted.args.tokenId;
  assert.notEqual(tokenId, predicted, 'a different key id in the mined block is fine');
  assert.equal(await env.pkpNft.totalSupply(), before);
  assert.equal(await env.pkpNft.exists(tokenId), false);
  assert.equal(await env.pkpNft.isBurned(tokenId), true);
  assert.equal(await env.pkpNft.getPubkey(tokenId), minted.args.pubkey);
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, action), true);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, ACTION, action, 3))], [false, true, false]);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedActions(tokenId))], [action]);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAddresses(tokenId))], [], 'no owner once burned');
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, await carol.getAddress()), false);
  assert.equal(await env.pkpPermissions.isPermittedAddress(tokenId, env.pkpNft.target), false);
  await expectRevert(env.pkpNft.ownerOf(tokenId), 'ERC721NonexistentToken');
  env.burned = { tokenId, action };
});

test('mintGrantAndBurnNext is atomic: a failing grant leaves no PKP behind', async () => {
  const bad = '0x1220' + '00'.repeat(31); // 33 bytes: rejected by PKPPermissions
  const supply = await env.pkpNft.totalSupply();
  const next = await env.pkpNft.connect(carol).getNextDerivedKeyId();
  const r = await expectRevert(env.pkpNft.connect(carol).mintGrantAndBurnNext(2, bad), 'InvalidIpfsCID');
  assert.ok(r);
  assert.equal(await env.pkpNft.totalSupply(), supply);
  assert.equal(await env.pkpNft.connect(carol).getNextDerivedKeyId(), next, 'mint counter unchanged');
  // The same, mined: a transaction with a fixed gas limit is included, fails
  // as a whole, and leaves no token, no event and no counter change.
  const tx = await env.pkpNft.connect(carol).mintGrantAndBurnNext(2, bad, { gasLimit: 1_500_000 });
  await assert.rejects(tx.wait(), (e) => e.code === 'CALL_EXCEPTION');
  const receipt = await env.provider.getTransactionReceipt(tx.hash);
  assert.equal(receipt.status, 0);
  assert.equal(receipt.logs.length, 0);
  assert.equal(await env.pkpNft.totalSupply(), supply);
  // a valid call right after still works
  const nftC = env.pkpNft.connect(carol);
  await send(nftC.mintGrantAndBurnNext(2, cid('after failure'), await gasMargin(nftC.mintGrantAndBurnNext, [2, cid('after failure')])));
});

test('after the burn EVERY mutation reverts, for everyone (even the NFT contract)', async () => {
  const { tokenId, action } = env.burned;
  const nftAddr = env.pkpNft.target;
  // Impersonate the PKPNFT contract itself: it owned the token during the grant.
  await env.anvil.rpc('anvil_impersonateAccount', [nftAddr]);
  await env.anvil.rpc('anvil_setBalance', [nftAddr, '0x56BC75E2D63100000']);
  const asNft = await env.provider.getSigner(nftAddr);
  const someone = await bob.getAddress();
  for (const who of [carol, bob, admin, asNft]) {
    for (const [name, call] of mutatingCalls(perms(who), tokenId, action, someone)) {
      await expectRevert(call(), 'PKPBurned').catch((e) => { throw new Error(`${name}: ${e.message}`); });
    }
    // ERC-721 mutations on the burned token
    const nft = env.pkpNft.connect(who);
    const from = await who.getAddress();
    await expectRevert(nft.transferFrom(from, someone, tokenId), 'ERC721NonexistentToken');
    await expectRevert(nft['safeTransferFrom(address,address,uint256)'](from, someone, tokenId), 'ERC721NonexistentToken');
    await expectRevert(nft['safeTransferFrom(address,address,uint256,bytes)'](from, someone, tokenId, '0x'), 'ERC721NonexistentToken');
    await expectRevert(nft.approve(someone, tokenId), 'ERC721NonexistentToken');
    await expectRevert(nft.burn(tokenId), 'ERC721NonexistentToken');
  }
  await env.anvil.rpc('anvil_stopImpersonatingAccount', [nftAddr]);
  // still exactly as granted
  assert.deepEqual([...(await env.pkpPermissions.getPermittedActions(tokenId))], [action]);
  assert.equal((await env.pkpPermissions.getPermittedAuthMethods(tokenId)).length, 1);
  assert.deepEqual([...(await env.pkpPermissions.getPermittedAuthMethodScopes(tokenId, ACTION, action, 3))], [false, true, false]);
});

test('a PKP burned by its owner is frozen too', async () => {
  const { tokenId } = await mint(env, alice);
  await send(perms(alice).addPermittedAction(tokenId, cid('frozen'), [1]));
  await send(env.pkpNft.connect(alice).burn(tokenId));
  await expectRevert(perms(alice).removePermittedAction(tokenId, cid('frozen')), 'PKPBurned');
  assert.equal(await env.pkpPermissions.isPermittedAction(tokenId, cid('frozen')), true);
});
