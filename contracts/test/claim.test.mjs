// PKPNFT.claimAndMint: Lit's v7 mint of a key an action claimed, checked
// against the node wallets Staking lists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Wallet, getBytes, hexlify, keccak256, randomBytes, toUtf8Bytes, Signature } from 'ethers';
import { setup, send, expectRevert, gasMargin } from './helpers.mjs';

let env, alice, wallets;

/** keccak256("{actionCid}_{keyId}"), as Lit's nodes derive a claimed key id. */
const derivedKeyId = (cid, keyId) => keccak256(toUtf8Bytes(`${cid}_${keyId}`));

/** A node's claim signature: EIP-191 over the 32 bytes, as {r, s, v}. */
function claimSig(wallet, derived) {
  const sig = Signature.from(wallet.signingKey.sign(keccak256(Buffer.concat([Buffer.from('\x19Ethereum Signed Message:\n32'), getBytes(derived)]))));
  return { r: sig.r, s: sig.s, v: sig.v };
}

before(async () => {
  env = await setup();
  alice = env.signers[1];
  wallets = [0, 1, 2].map(() => Wallet.createRandom());
  const nodes = wallets.map((w, i) => ({
    ip: 0x7f000001,
    ipv6: 0n,
    port: 7470 + i,
    nodeAddress: w.address,
    reward: 0n,
    senderPubKey: BigInt(hexlify(randomBytes(32))) | 1n,
    receiverPubKey: 0n,
  }));
  await send(env.staking.setValidators(nodes, [], 2, await gasMargin(env.staking.setValidators, [nodes, [], 2])));
});
after(async () => env?.stop());

/** Send a claim; a refused one is refused when its gas is estimated. */
async function claim(derived, sigs, signer = alice) {
  const nft = env.pkpNft.connect(signer);
  const value = await nft.mintCost();
  // the derivation's gas varies with the key id: twice the estimate
  const gasLimit = (await nft.claimAndMint.estimateGas(2, derived, sigs, { value })) * 2n;
  return nft.claimAndMint(2, derived, sigs, { value, gasLimit });
}

test('the signatures of fewer than the threshold of node wallets mint nothing', async () => {
  const d = derivedKeyId('QmClaimer', 'fewer');
  await expectRevert(claim(d, [claimSig(wallets[0], d)]), 'InvalidClaimSignatures');
  // one node signing twice is one node
  await expectRevert(claim(d, [claimSig(wallets[0], d), claimSig(wallets[0], d)]), 'InvalidClaimSignatures');
  // a wallet outside the node set does not count
  await expectRevert(claim(d, [claimSig(wallets[0], d), claimSig(Wallet.createRandom(), d)]), 'InvalidClaimSignatures');
  // signatures of another key id do not count
  const other = derivedKeyId('QmClaimer', 'other');
  await expectRevert(claim(d, [claimSig(wallets[0], other), claimSig(wallets[1], other)]), 'InvalidClaimSignatures');
  assert.equal(await env.pkpNft.isClaimed(d), false);
});

test('the threshold of node signatures mints the key derived from the claimed id to the caller, once', async () => {
  const d = derivedKeyId('QmClaimer', 'user-1');
  const sigs = [claimSig(wallets[2], d), claimSig(wallets[0], d)];
  assert.equal(await env.pkpNft.checkNodeSignatures(sigs, d, await env.staking.getAddress()), true);
  const receipt = await (await claim(d, sigs)).wait();
  const routing = receipt.logs.map((l) => env.pkpNft.interface.parseLog(l)).find((l) => l?.name === 'PubkeyRoutingDataSet');
  assert.equal(routing.args.derivedKeyId, d);
  assert.equal(routing.args.pubkey, await env.pkpNft.computeDerivedPubkey(d));
  assert.equal(await env.pkpNft.ownerOf(routing.args.tokenId), await alice.getAddress());
  assert.equal(await env.pkpNft.isClaimed(d), true);
  // the same claim again, by anyone: refused
  await expectRevert(claim(d, sigs, env.signers[2]), 'KeyAlreadyClaimed');
});

test('a kicked node no longer counts, and only K256 keys are claimed', async () => {
  const d = derivedKeyId('QmClaimer', 'kicked');
  const sigs = [claimSig(wallets[0], d), claimSig(wallets[1], d)];
  await expectRevert(env.pkpNft.connect(alice).claimAndMint(3, d, sigs), 'UnsupportedKeyType');
  await send(env.staking.adminKickValidatorInNextEpoch(wallets[1].address));
  assert.equal(await env.pkpNft.checkNodeSignatures(sigs, d, await env.staking.getAddress()), false);
  await expectRevert(claim(d, sigs), 'InvalidClaimSignatures');
  await send(env.staking.adminRejoinValidator(wallets[1].address));
  await (await claim(d, sigs)).wait();
});
