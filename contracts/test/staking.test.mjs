// Staking: the node set, read through Lit's own ABI exactly as the v7 SDK does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Contract, hexlify, randomBytes, Wallet } from 'ethers';
import { setup, send, expectRevert, gasMargin } from './helpers.mjs';
import { ROOT } from '../scripts/lib.mjs';

const LIT_STAKING_ABI = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'node_modules/@lit-protocol/contracts/dist/prod/datil-dev.json'), 'utf8'),
).data.find((c) => c.name === 'Staking').contracts[0].ABI;

const ip4 = (s) => s.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
// The SDK's intToIP (contracts-sdk hex2dec) in spirit: uint32 -> dotted quad.
const intToIP = (n) => [24, 16, 8, 0].map((s) => (Number(n) >>> s) & 255).join('.');

function node(i, over = {}) {
  return {
    ip: ip4('127.0.0.1'),
    ipv6: 0n,
    port: 7470 + i,
    nodeAddress: Wallet.createRandom().address,
    reward: 0n,
    senderPubKey: BigInt(hexlify(randomBytes(32))) | 1n, // ed25519 identity key
    receiverPubKey: 0n,
    ...over,
  };
}

let env, admin, alice, lit;
before(async () => {
  env = await setup();
  [admin, alice] = env.signers;
  // Our contract seen through Lit's ABI, as @lit-protocol/contracts-sdk sees it.
  lit = new Contract(env.staking.target, LIT_STAKING_ABI, env.provider);
});
after(async () => env?.stop());

test('fresh network: no validators, threshold 0 (the SDK refuses it: "Minimum validator count is not set")', async () => {
  const [epoch, minNodeCount, validators] = await lit.getActiveUnkickedValidatorStructsAndCounts();
  assert.equal(minNodeCount, 0n);
  assert.equal(validators.length, 0);
  assert.equal(epoch.epochLength, 3600n);
  assert.equal(epoch.timeout, 60n);
  assert.equal(epoch.number, 1n);
});

test('setValidators: visible through Lit ABI as (epoch, minNodeCount = threshold, validators); SDK URLs', async () => {
  const nodes = [node(0), node(1), node(2)];
  const r = await send(env.staking.setValidators(nodes, [], 2, await gasMargin(env.staking.setValidators, [nodes, [], 2])));
  const names = r.logs.map((l) => env.staking.interface.parseLog(l).name);
  assert.ok(names.includes('StateChanged') && names.includes('ValidatorSetChanged'));
  const [epoch, minNodeCount, validators] = await lit.getActiveUnkickedValidatorStructsAndCounts();
  assert.equal(minNodeCount, 2n);
  assert.equal(epoch.number, 2n);
  assert.ok(epoch.endTime > 0n);
  assert.equal(epoch.retries, 0n);
  assert.equal(validators.length, 3);
  for (let i = 0; i < 3; i++) {
    assert.equal(validators[i].nodeAddress, nodes[i].nodeAddress);
    assert.equal(validators[i].port, BigInt(nodes[i].port));
    assert.equal(validators[i].senderPubKey, nodes[i].senderPubKey);
    assert.equal(`http://${intToIP(validators[i].ip)}:${validators[i].port}`, `http://127.0.0.1:${7470 + i}`);
    assert.equal(await env.staking.getNodeIdentityKey(nodes[i].nodeAddress), '0x' + nodes[i].senderPubKey.toString(16).padStart(64, '0'));
    assert.equal(await env.staking.isActiveValidatorByNodeAddress(nodes[i].nodeAddress), true);
    assert.equal(await env.staking.nodeAddressToStakerAddress(nodes[i].nodeAddress), nodes[i].nodeAddress);
  }
  assert.equal(await lit.currentValidatorCountForConsensus(), 2n);
  assert.equal(await lit.state(), 0n); // Active
  assert.deepEqual([...(await lit.getValidatorsInCurrentEpoch())], nodes.map((n) => n.nodeAddress));
  assert.equal((await lit.getValidatorsStructsInCurrentEpoch()).length, 3);
  assert.equal((await lit.validators(nodes[1].nodeAddress)).port, 7471n);
  env.nodes = nodes;
});

test('URLs are optional per node', async () => {
  const nodes = [node(0), node(1)];
  await send(env.staking.setValidators(nodes, ['https://node0.example:443', ''], 1, await gasMargin(env.staking.setValidators, [nodes, ['https://node0.example:443', ''], 1])));
  assert.equal(await env.staking.getNodeUrl(nodes[0].nodeAddress), 'https://node0.example:443');
  assert.equal(await env.staking.getNodeUrl(nodes[1].nodeAddress), '');
  await expectRevert(env.staking.setValidators(nodes, ['only one'], 1), 'LengthMismatch');
  // the old set is gone
  assert.equal(await env.staking.isActiveValidator(env.nodes[0].nodeAddress), false);
  assert.equal(await env.staking.getNodeIdentityKey(env.nodes[0].nodeAddress), '0x' + '00'.repeat(32));
});

test('validation of the node set and the threshold', async () => {
  const a = node(0);
  await expectRevert(env.staking.setValidators([a, { ...node(1), nodeAddress: a.nodeAddress }], [], 1), 'DuplicateValidator');
  await expectRevert(env.staking.setValidators([node(0, { port: 0 })], [], 1), 'InvalidValidator');
  await expectRevert(env.staking.setValidators([node(0, { port: 70000 })], [], 1), 'InvalidValidator');
  await expectRevert(env.staking.setValidators([node(0, { ip: 0 })], [], 1), 'InvalidValidator');
  await expectRevert(env.staking.setValidators([node(0, { senderPubKey: 0n })], [], 1), 'InvalidValidator');
  await expectRevert(env.staking.setValidators([node(0, { nodeAddress: '0x' + '00'.repeat(20) })], [], 1), 'InvalidValidator');
  await expectRevert(env.staking.setValidators([node(0), node(1)], [], 3), 'InvalidThreshold');
  await expectRevert(env.staking.setValidators([node(0), node(1)], [], 0), 'InvalidThreshold');
  await send(env.staking.setValidators([node(0, { ip: 0, ipv6: 1n })], [], 1, await gasMargin(env.staking.setValidators, [[node(0, { ip: 0, ipv6: 1n })], [], 1]))); // IPv6-only is fine
});

test('threshold, kick, rejoin and epoch advance', async () => {
  const nodes = [node(0), node(1), node(2), node(3)];
  await send(env.staking.setValidators(nodes, [], 3, await gasMargin(env.staking.setValidators, [nodes, [], 3])));
  const epochBefore = (await lit.epoch()).number;
  await expectRevert(env.staking.setThreshold(5), 'InvalidThreshold');
  await send(env.staking.setThreshold(2));
  assert.equal(await lit.currentValidatorCountForConsensus(), 2n);
  await send(env.staking.adminKickValidatorInNextEpoch(nodes[1].nodeAddress));
  let [, t, vals] = await lit.getActiveUnkickedValidatorStructsAndCounts();
  assert.equal(t, 2n);
  assert.deepEqual(vals.map((v) => v.nodeAddress), [nodes[0], nodes[2], nodes[3]].map((n) => n.nodeAddress));
  assert.deepEqual([...(await lit.getKickedValidators())], [nodes[1].nodeAddress]);
  assert.equal(await lit.isActiveValidator(nodes[1].nodeAddress), false);
  await expectRevert(env.staking.adminKickValidatorInNextEpoch(nodes[1].nodeAddress), 'NotAValidator');
  await send(env.staking.adminRejoinValidator(nodes[1].nodeAddress));
  assert.equal((await lit.getActiveUnkickedValidators()).length, 4);
  await send(env.staking.adminKickValidatorInNextEpoch(nodes[3].nodeAddress));
  await send(env.staking.adminKickValidatorInNextEpoch(nodes[2].nodeAddress));
  await expectRevert(env.staking.adminKickValidatorInNextEpoch(nodes[1].nodeAddress), 'InvalidThreshold'); // would leave 1 < t
  await send(env.staking.advanceEpoch(await gasMargin(env.staking.advanceEpoch, [])));
  assert.equal((await lit.epoch()).number, epochBefore + 1n);
  // the kicked nodes leave the committee but keep their index (a share's
  // x-coordinate): the list is unchanged, indices 2 and 3 are out
  assert.deepEqual([...(await lit.getValidatorsInCurrentEpoch())], nodes.map((n) => n.nodeAddress));
  assert.deepEqual([...(await env.staking.getKickedOutIndices())], [2n, 3n]);
  assert.equal(await lit.currentValidatorCountForConsensus(), 2n, 'more than two thirds of the two left');
  assert.deepEqual([...(await lit.getActiveUnkickedValidators())], [nodes[0].nodeAddress, nodes[1].nodeAddress]);
  assert.deepEqual([...(await lit.getKickedValidators())], [nodes[2].nodeAddress, nodes[3].nodeAddress]);
  await expectRevert(env.staking.adminRejoinValidator(nodes[2].nodeAddress), 'NotAValidator');
});

test('kick votes: the threshold of committee members kicks a member out, its index kept', async () => {
  // five members whose node wallets are anvil's funded accounts; t = 4
  const nodes = env.signers.map((s, i) => node(i, { nodeAddress: s.address }));
  await send(env.staking.setValidators(nodes, [], 4, await gasMargin(env.staking.setValidators, [nodes, [], 4])));
  const epoch = (await lit.epoch()).number;
  const as = (i) => env.staking.connect(env.signers[i]);
  const target = nodes[2].nodeAddress;
  // a stranger, a vote for oneself, a target outside the set: refused
  const stranger = Wallet.createRandom().address;
  await expectRevert(as(2).kickValidatorInNextEpoch(target, 1, '0x'), 'NotAValidator');
  await expectRevert(as(0).kickValidatorInNextEpoch(stranger, 1, '0x'), 'NotAValidator');
  for (const [i, votes] of [[0, 1n], [1, 2n], [3, 3n]]) {
    await send(as(i).kickValidatorInNextEpoch(target, 1, '0x'));
    assert.deepEqual([...(await lit.getVotingStatusToKickValidator(epoch, target, nodes[i].nodeAddress))], [votes, true]);
  }
  await expectRevert(as(1).kickValidatorInNextEpoch(target, 1, '0x'), 'CannotVoteTwice');
  assert.equal((await lit.epoch()).number, epoch, 'three votes of four needed kick no one');
  // the fourth vote kicks: a new epoch, t = 3 of the four left, index 2 kept
  await send(as(4).kickValidatorInNextEpoch(target, 1, '0x', { gasLimit: 500000n }));
  assert.equal((await lit.epoch()).number, epoch + 1n);
  assert.deepEqual([...(await lit.getValidatorsInCurrentEpoch())], nodes.map((n) => n.nodeAddress));
  assert.deepEqual([...(await env.staking.getKickedOutIndices())], [2n]);
  const [, t, vals] = await lit.getActiveUnkickedValidatorStructsAndCounts();
  assert.equal(t, 3n);
  assert.deepEqual(vals.map((v) => v.nodeAddress), [0, 1, 3, 4].map((i) => nodes[i].nodeAddress));
  const votes = (await env.staking.getKickVotes()).map((v) => [v.epochNumber, v.voter, v.target]);
  assert.deepEqual(votes.slice(-4), [0, 1, 3, 4].map((i) => [epoch, nodes[i].nodeAddress, target]));
  // the kicked member votes no more, nor is it voted on again
  await expectRevert(as(2).kickValidatorInNextEpoch(nodes[0].nodeAddress, 1, '0x'), 'MustBeValidatorInNextEpochToKick');
  await expectRevert(as(0).kickValidatorInNextEpoch(target, 1, '0x'), 'NotAValidator');
  // the owner may set a committee with a hole directly, and a new set clears it
  await send(env.staking.setValidatorsKickedOut(nodes, [], 3, [1n], { gasLimit: 3000000n }));
  assert.deepEqual([...(await env.staking.getKickedOutIndices())], [1n]);
  await expectRevert(env.staking.setValidatorsKickedOut(nodes, [], 5, [1n]), 'InvalidThreshold');
  await expectRevert(env.staking.setValidatorsKickedOut(nodes, [], 3, [5n]), 'InvalidValidator');
  await send(env.staking.setValidators(nodes, [], 4, { gasLimit: 3000000n }));
  assert.deepEqual([...(await env.staking.getKickedOutIndices())], []);
});

test('epoch parameters and state (owner only)', async () => {
  await send(env.staking.setEpochLength(120));
  await send(env.staking.setEpochTimeout(30));
  await send(env.staking.setEpochEndTime(1234));
  const e = await lit.epoch();
  assert.deepEqual([e.epochLength, e.timeout, e.endTime], [120n, 30n, 1234n]);
  const r = await send(env.staking.setEpochState(4)); // Paused
  const ev = lit.interface.parseLog(r.logs[0]); // decoded with Lit's event ABI
  assert.equal(ev.name, 'StateChanged');
  assert.equal(ev.args.newState, 4n);
  assert.equal(await lit.state(), 4n);
  await send(env.staking.setEpochState(0));
});

test('every admin function is owner-only', async () => {
  const s = env.staking.connect(alice);
  const someone = await alice.getAddress();
  for (const [name, call] of [
    ['setValidators', () => s.setValidators([node(0)], [], 1)],
    ['setThreshold', () => s.setThreshold(1)],
    ['adminKickValidatorInNextEpoch', () => s.adminKickValidatorInNextEpoch(someone)],
    ['adminRejoinValidator', () => s.adminRejoinValidator(someone)],
    ['advanceEpoch', () => s.advanceEpoch()],
    ['setValidatorsKickedOut', () => s.setValidatorsKickedOut([], [], 0, [])],
    ['setEpochLength', () => s.setEpochLength(1)],
    ['setEpochTimeout', () => s.setEpochTimeout(1)],
    ['setEpochEndTime', () => s.setEpochEndTime(1)],
    ['setEpochState', () => s.setEpochState(1)],
    ['transferOwnership', () => s.transferOwnership(someone)],
  ]) {
    await expectRevert(call(), 'CallerNotOwner').catch((e) => { throw new Error(`${name}: ${e.message}`); });
  }
});
