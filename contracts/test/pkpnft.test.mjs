// PKPNFT: minting, ERC-721 behaviour, administration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ContractFactory, ZeroAddress, parseEther } from 'ethers';
import { setup, mint, send, expectRevert, gasMargin, RUST_ROOT } from './helpers.mjs';
import { loadArtifact } from '../scripts/lib.mjs';

let env, admin, alice, bob, carol;
before(async () => {
  env = await setup();
  [admin, alice, bob, carol] = env.signers;
});
after(async () => env?.stop());

test('metadata and interfaces', async () => {
  assert.equal(await env.pkpNft.symbol(), 'PKP');
  assert.equal(await env.pkpNft.supportsInterface('0x80ac58cd'), true); // ERC-721
  assert.equal(await env.pkpNft.supportsInterface('0x780e9d63'), true); // Enumerable
  assert.equal(await env.pkpNft.supportsInterface('0x01ffc9a7'), true); // ERC-165
  assert.equal(await env.pkpNft.supportsInterface('0xffffffff'), false);
  assert.equal(await env.pkpNft.owner(), await admin.getAddress());
  assert.equal(await env.pkpNft.getPkpPermissionsAddress(), await env.pkpPermissions.getAddress());
  assert.equal(await env.pkpNft.getStakingAddress(), await env.staking.getAddress());
});

test('mintNext mints to the caller and emits PKPMinted + PubkeyRoutingDataSet', async () => {
  const supply = await env.pkpNft.totalSupply();
  const { tokenId, pubkey, receipt } = await mint(env, alice);
  assert.equal(await env.pkpNft.ownerOf(tokenId), await alice.getAddress());
  assert.equal(await env.pkpNft.exists(tokenId), true);
  assert.equal(await env.pkpNft.isBurned(tokenId), false);
  assert.equal(await env.pkpNft.totalSupply(), supply + 1n);
  const names = receipt.logs.map((l) => env.pkpNft.interface.parseLog(l)?.name);
  assert.deepEqual(names, ['PubkeyRoutingDataSet', 'Transfer', 'PKPMinted']);
  const routing = env.pkpNft.interface.parseLog(receipt.logs[0]);
  assert.equal(routing.args.tokenId, tokenId);
  assert.equal(routing.args.pubkey, pubkey);
  assert.equal(routing.args.keyType, 2n);
  assert.equal(routing.args.stakingContract, await env.staking.getAddress());
  assert.equal(routing.args.derivedKeyId, await env.pkpNft.getDerivedKeyId(tokenId));
});

test('mintNext returns the token id (static call) and key ids never repeat', async () => {
  const predicted = await env.pkpNft.connect(bob).mintNext.staticCall(2);
  assert.ok(predicted > 0n);
  const a = await mint(env, bob);
  const b = await mint(env, bob);
  assert.notEqual(a.tokenId, b.tokenId);
  assert.notEqual(await env.pkpNft.getDerivedKeyId(a.tokenId), await env.pkpNft.getDerivedKeyId(b.tokenId));
  assert.notEqual(await env.pkpNft.getNextDerivedKeyId(), '0x' + '00'.repeat(32));
});

test('key types 2, 3, 10 and 11 can be minted and are recorded; others are refused', async () => {
  await expectRevert(env.pkpNft.connect(alice).mintNext(1), 'UnsupportedKeyType');
  await expectRevert(env.pkpNft.connect(alice).mintNext(0), 'UnsupportedKeyType');
  await expectRevert(env.pkpNft.connect(alice).mintNext(4), 'UnsupportedKeyType');
  await expectRevert(env.pkpNft.connect(alice).mintGrantAndBurnNext(12, '0x1220' + '11'.repeat(32)), 'UnsupportedKeyType');
  for (const keyType of [2n, 3n, 10n, 11n]) {
    const nft = env.pkpNft.connect(alice);
    const value = await nft.mintCost();
    const tokenId = await nft.mintNext.staticCall(keyType, { value });
    // the derivation's gas varies with the key id: twice the estimate
    const gasLimit = (await nft.mintNext.estimateGas(keyType, { value })) * 2n;
    const tx = await nft.mintNext(keyType, { value, gasLimit });
    const receipt = await tx.wait();
    const routing = env.pkpNft.interface.parseLog(receipt.logs[0]);
    assert.equal(routing.args.keyType, keyType);
    assert.equal(await env.pkpNft.getKeyType(routing.args.tokenId), keyType);
    assert.ok(tokenId > 0n);
  }
  assert.equal(await env.pkpNft.getKeyType(12345n), 0n);
});

test('mint cost: exact payment, owner-only setter, withdraw', async () => {
  await expectRevert(env.pkpNft.connect(alice).setMintCost(5), 'CallerNotOwner');
  await send(env.pkpNft.setMintCost(parseEther('0.01')));
  assert.equal(await env.pkpNft.mintCost(), parseEther('0.01'));
  await expectRevert(env.pkpNft.connect(alice).mintNext(2), 'WrongMintCost');
  await expectRevert(env.pkpNft.connect(alice).mintNext(2, { value: parseEther('0.02') }), 'WrongMintCost');
  await mint(env, alice); // pays mintCost
  assert.equal(await env.provider.getBalance(await env.pkpNft.getAddress()), parseEther('0.01'));
  await expectRevert(env.pkpNft.connect(alice).withdraw(), 'CallerNotOwner');
  await send(env.pkpNft.withdraw());
  assert.equal(await env.provider.getBalance(await env.pkpNft.getAddress()), 0n);
  await send(env.pkpNft.setMintCost(0));
});

test('root key: owner-only, validated, locked after the first mint', async () => {
  await expectRevert(env.pkpNft.connect(alice).setRootPubkey(RUST_ROOT), 'CallerNotOwner');
  await expectRevert(env.pkpNft.setRootPubkey(RUST_ROOT), 'RootPubkeyLocked');
  // A fresh registry without a root cannot mint.
  const a = loadArtifact('PKPNFT');
  const factory = new ContractFactory(a.abi, a.bytecode, admin);
  // The key deriver must be a contract.
  await expectRevert(factory.deploy(await admin.getAddress(), ZeroAddress), 'InvalidKeyDeriver');
  await expectRevert(factory.deploy(await admin.getAddress(), await alice.getAddress()), 'InvalidKeyDeriver');
  const fresh = await factory.deploy(await admin.getAddress(), await env.keyDeriver.getAddress());
  await fresh.waitForDeployment();
  assert.equal(await fresh.getKeyDeriverAddress(), await env.keyDeriver.getAddress());
  assert.equal(await fresh.getRootPubkey(), '0x');
  await expectRevert(fresh.connect(alice).mintNext(2), 'RootPubkeyNotSet');
  await expectRevert(fresh.setRootPubkey('0x04' + '11'.repeat(64)), 'InvalidPubkey'); // not on the curve
  await expectRevert(fresh.setRootPubkey('0x02' + RUST_ROOT.slice(4, 68)), 'InvalidPubkey'); // compressed
  // On the curve, but x >= n (x = n): refused, the ecrecover cross-check needs x < n.
  const xN = 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141';
  const yN = '98f66641cb0ae1776b463ebdee3d77fe2658f021db48e2c8ac7ab4c92f83621e';
  assert.equal(await env.keyDeriver.isOnCurve('0x' + xN, '0x' + yN), true);
  await expectRevert(fresh.setRootPubkey('0x04' + xN + yN), 'InvalidPubkey');
  await send(fresh.setRootPubkey(RUST_ROOT));
  assert.equal(await fresh.getRootPubkey(), RUST_ROOT);
  await expectRevert(fresh.connect(alice).mintGrantAndBurnNext(2, '0x1220' + '11'.repeat(32)), 'PkpPermissionsNotSet');
  await send(fresh.connect(alice).mintNext(2, await gasMargin(fresh.connect(alice).mintNext, [2])));
  await expectRevert(fresh.setRootPubkey(RUST_ROOT), 'RootPubkeyLocked');
});

test('wiring setters are owner-only and PKPPermissions is set once', async () => {
  await expectRevert(env.pkpNft.connect(alice).setPkpPermissionsAddress(await alice.getAddress()), 'CallerNotOwner');
  await expectRevert(env.pkpNft.setPkpPermissionsAddress(await alice.getAddress()), 'AlreadySet');
  await expectRevert(env.pkpNft.connect(alice).setStakingAddress(await alice.getAddress()), 'CallerNotOwner');
  await expectRevert(env.pkpNft.setStakingAddress(ZeroAddress), 'ZeroAddress');
});

test('ownership of the contract can be transferred', async () => {
  await expectRevert(env.staking.connect(alice).transferOwnership(await alice.getAddress()), 'CallerNotOwner');
  await send(env.pkpNft.transferOwnership(await carol.getAddress()));
  assert.equal(await env.pkpNft.owner(), await carol.getAddress());
  await expectRevert(env.pkpNft.setMintCost(1), 'CallerNotOwner');
  await send(env.pkpNft.connect(carol).transferOwnership(await admin.getAddress()));
  assert.equal(await env.pkpNft.owner(), await admin.getAddress());
});

test('ERC-721 transfers: owner, approved, operator; strangers refused', async () => {
  const A = await alice.getAddress();
  const B = await bob.getAddress();
  const C = await carol.getAddress();
  const { tokenId } = await mint(env, alice);
  await expectRevert(env.pkpNft.connect(bob).transferFrom(A, B, tokenId), 'ERC721InsufficientApproval');
  await expectRevert(env.pkpNft.connect(alice).transferFrom(B, C, tokenId), 'ERC721IncorrectOwner');
  await expectRevert(env.pkpNft.connect(alice).transferFrom(A, ZeroAddress, tokenId), 'ERC721InvalidReceiver');
  await send(env.pkpNft.connect(alice).transferFrom(A, B, tokenId));
  assert.equal(await env.pkpNft.ownerOf(tokenId), B);
  // approved address
  await expectRevert(env.pkpNft.connect(carol).approve(C, tokenId), 'ERC721InvalidApprover');
  await send(env.pkpNft.connect(bob).approve(C, tokenId));
  assert.equal(await env.pkpNft.getApproved(tokenId), C);
  await send(env.pkpNft.connect(carol)['safeTransferFrom(address,address,uint256)'](B, C, tokenId));
  assert.equal(await env.pkpNft.ownerOf(tokenId), C);
  assert.equal(await env.pkpNft.getApproved(tokenId), ZeroAddress, 'approval cleared on transfer');
  // operator
  await send(env.pkpNft.connect(carol).setApprovalForAll(A, true));
  assert.equal(await env.pkpNft.isApprovedForAll(C, A), true);
  await send(env.pkpNft.connect(alice)['safeTransferFrom(address,address,uint256,bytes)'](C, A, tokenId, '0x'));
  assert.equal(await env.pkpNft.ownerOf(tokenId), A);
  await send(env.pkpNft.connect(carol).setApprovalForAll(A, false));
});

test('safe transfer to a contract that does not accept ERC-721 reverts', async () => {
  const A = await alice.getAddress();
  const { tokenId } = await mint(env, alice);
  // The Staking contract has no onERC721Received.
  await expectRevert(
    env.pkpNft.connect(alice)['safeTransferFrom(address,address,uint256)'](A, await env.staking.getAddress(), tokenId),
    'ERC721InvalidReceiver',
  );
  assert.equal(await env.pkpNft.ownerOf(tokenId), A);
});

test('enumeration follows mints, transfers and burns', async () => {
  const D = await env.signers[4].getAddress();
  const dave = env.signers[4];
  const t1 = (await mint(env, dave)).tokenId;
  const t2 = (await mint(env, dave)).tokenId;
  const t3 = (await mint(env, dave)).tokenId;
  assert.equal(await env.pkpNft.balanceOf(D), 3n);
  const owned = async () => {
    const n = await env.pkpNft.balanceOf(D);
    const out = [];
    for (let i = 0n; i < n; i++) out.push(await env.pkpNft.tokenOfOwnerByIndex(D, i));
    return out.sort();
  };
  assert.deepEqual(await owned(), [t1, t2, t3].sort());
  await send(env.pkpNft.connect(dave).transferFrom(D, await alice.getAddress(), t1));
  assert.deepEqual(await owned(), [t2, t3].sort());
  const supply = await env.pkpNft.totalSupply();
  await send(env.pkpNft.connect(dave).burn(t2));
  assert.deepEqual(await owned(), [t3]);
  assert.equal(await env.pkpNft.totalSupply(), supply - 1n);
  const all = [];
  for (let i = 0n; i < supply - 1n; i++) all.push(await env.pkpNft.tokenByIndex(i));
  assert.ok(!all.includes(t2) && all.includes(t3) && all.includes(t1));
  await expectRevert(env.pkpNft.tokenOfOwnerByIndex(D, 1), 'ERC721OutOfBoundsIndex');
});

test('burn: owner or approved only; a burned PKP keeps its key', async () => {
  const { tokenId, pubkey } = await mint(env, alice);
  await expectRevert(env.pkpNft.connect(bob).burn(tokenId), 'ERC721InsufficientApproval');
  await send(env.pkpNft.connect(alice).burn(tokenId));
  assert.equal(await env.pkpNft.exists(tokenId), false);
  assert.equal(await env.pkpNft.isBurned(tokenId), true);
  assert.equal(await env.pkpNft.getPubkey(tokenId), pubkey);
  await expectRevert(env.pkpNft.ownerOf(tokenId), 'ERC721NonexistentToken');
  await expectRevert(env.pkpNft.connect(alice).burn(tokenId), 'ERC721NonexistentToken');
  // unknown token
  assert.equal(await env.pkpNft.getPubkey(12345), '0x');
  assert.equal(await env.pkpNft.getEthAddress(12345), ZeroAddress);
  assert.equal(await env.pkpNft.isBurned(12345), false);
});
