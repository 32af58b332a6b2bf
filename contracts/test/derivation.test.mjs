// On-chain key derivation vs independent implementations: vectors produced
// by candela-crypto (Rust: derive::pkp_tweak / derive_public_key) and
// @noble/curves (RFC 9380 expand_message_xmd + secp256k1). The curve
// arithmetic on-chain is Witnet's EllipticCurve (npm elliptic-curve-solidity)
// inside Secp256k1KeyDeriver.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve';
import { sha256 } from '@noble/hashes/sha256';
import { getBytes, hexlify, keccak256, computeAddress, toBeHex, Contract, ContractFactory } from 'ethers';
import { loadArtifact } from '../scripts/lib.mjs';
import { setup, mint, expectRevert, RUST_ROOT } from './helpers.mjs';

const N = secp256k1.CURVE.n;
const Point = secp256k1.ProjectivePoint;
const DST = new TextEncoder().encode('candela-pkp-v1');

// Produced with candela-crypto at this commit: root = 0x1234567890abcdef·G,
// tweak = derive::pkp_tweak(key_id), pk = derive::derive_public_key(root, key_id).
const RUST_VECTORS = [
  {
    keyId: '0x' + '00'.repeat(32),
    tweak: '0x8cdbad3a1aa988f27c36eaf69f0597707f391bdd3375e786d94bd8eb8b13b74a',
    pk: '0x04199a14cdb16077e58d667ae4e1c262f449383f0149508517b18a713f8563b7a8d75ffbf68b6aeadc2326d7c06f0eb18c8cd9580f1f569304cfbfd7580fe28813',
  },
  {
    keyId: '0x' + 'ab'.repeat(32),
    tweak: '0xf02063f89c6428a2e19416d163f5003fa15f0ee8a1ee339f843f26ff9e66efa1',
    pk: '0x0455b2d1089269c94ea195e2bf7cdcc76d4d8b76b3c596075bf3eef2cfb30334f051b3f16910198dd6d158b23ed2c6689a9cfd18d0f562a8977c234161266c5b87',
  },
  {
    keyId: '0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    tweak: '0xe5e4e84ffc5876df2871c56b4e7248c68ab7686da421e13e957a5d6e2c7dacf4',
    pk: '0x0497308706ff9f60de94c6270fda4b05d66bb984cc4bb02f9d411c176d76b6729dbbe0aa3cd0a5c84d706ad6dae08cb98cf25d610bc9c0b315bd728be9a6d2ea42',
  },
];

/** RFC 9380 hash_to_field(msg, 1) over Z_n, L = 48, with noble. */
function nobleTweak(keyId) {
  const u = expand_message_xmd(getBytes(keyId), DST, 48, sha256);
  return BigInt(hexlify(u)) % N;
}

function nobleDerive(rootHex, keyId) {
  const root = Point.fromHex(getBytes(rootHex).slice(0));
  return root.add(Point.BASE.multiply(nobleTweak(keyId)));
}

const hex65 = (p) => hexlify(p.toRawBytes(false));

let env;
before(async () => {
  env = await setup();
});
after(async () => env?.stop());

test('noble reproduces the Rust vectors (the vectors are what we think they are)', () => {
  assert.equal(hex65(Point.BASE.multiply(0x1234567890abcdefn)), RUST_ROOT);
  for (const v of RUST_VECTORS) {
    assert.equal(toBeHex(nobleTweak(v.keyId), 32), v.tweak);
    assert.equal(hex65(nobleDerive(RUST_ROOT, v.keyId)), v.pk);
  }
});

test('Secp256k1KeyDeriver: derive = noble, edge cases, isOnCurve', async () => {
  const d = env.keyDeriver;
  const root = Point.fromHex(getBytes(RUST_ROOT)).toAffine();
  for (const t of [1n, 2n, 3n, 0xdeadbeefn, N / 2n, N - 2n, N - 1n]) {
    const want = Point.fromAffine(root).add(Point.BASE.multiply(t)).toAffine();
    const [x, y] = await d.derive(root.x, root.y, t);
    assert.deepEqual([x, y], [want.x, want.y], `tweak ${t}`);
  }
  // root = G, tweak 1: the doubling branch of ecAdd.
  const g = Point.BASE.toAffine();
  const two = Point.BASE.double().toAffine();
  assert.deepEqual([...(await d.derive(g.x, g.y, 1n))], [two.x, two.y]);
  // root = G, tweak n - 1: G + (-G) is the point at infinity.
  await assert.rejects(d.derive(g.x, g.y, N - 1n), /derived point invalid/);
  await assert.rejects(d.derive(root.x, root.y, 0n), /tweak out of range/);
  await assert.rejects(d.derive(root.x, root.y, N), /tweak out of range/);
  await assert.rejects(d.derive(root.x, root.y + 1n, 5n), /root not on curve/);
  assert.equal(await d.isOnCurve(root.x, root.y), true);
  assert.equal(await d.isOnCurve(root.x, root.y + 1n), false);
  assert.equal(await d.isOnCurve(0n, 0n), false);
});

test('keyTweak = candela-crypto pkp_tweak (Rust vectors)', async () => {
  for (const v of RUST_VECTORS) {
    assert.equal(toBeHex(await env.pkpNft.keyTweak(v.keyId), 32), v.tweak);
  }
});

test('computeDerivedPubkey = candela-crypto derive_public_key (Rust vectors)', async () => {
  assert.equal(await env.pkpNft.getRootPubkey(), RUST_ROOT);
  for (const v of RUST_VECTORS) {
    assert.equal(await env.pkpNft.computeDerivedPubkey(v.keyId), v.pk);
  }
});

test('computeDerivedPubkey = noble for 24 random key ids; gas spread', async () => {
  const gas = [];
  for (let i = 0; i < 24; i++) {
    const keyId = keccak256(new TextEncoder().encode(`key ${i}`));
    assert.equal(toBeHex(await env.pkpNft.keyTweak(keyId), 32), toBeHex(nobleTweak(keyId), 32));
    assert.equal(await env.pkpNft.computeDerivedPubkey(keyId), hex65(nobleDerive(RUST_ROOT, keyId)));
    // Execution gas: the estimate minus the calldata cost (4 per zero byte, 16 otherwise).
    const data = getBytes(env.pkpNft.interface.encodeFunctionData('computeDerivedPubkey', [keyId]));
    const calldata = data.reduce((sum, b) => sum + (b === 0 ? 4n : 16n), 0n);
    gas.push(Number((await env.pkpNft.computeDerivedPubkey.estimateGas(keyId)) - calldata));
  }
  // The library's double-and-add follows the tweak's bits (≈ 75k + 0.9k per
  // bit of length + 1.8k per set bit), so a mint's gas varies with the key id,
  // which a gas estimate cannot know (clients add a margin, Lit's SDK 10 %).
  // The worst case (all 256 bits set) stays under 0.8 M.
  const min = Math.min(...gas);
  const max = Math.max(...gas);
  console.log(`computeDerivedPubkey execution gas: min ${min}, max ${max} (${(((max - min) / min) * 100).toFixed(1)} %)`);
  assert.ok(max < 800_000, `gas ${max}`);
});

test('a bad key deriver cannot register a wrong key (ecrecover cross-check)', async () => {
  // PKPNFT wired to a "deriver" returning G + G for everything.
  const two = Point.BASE.double().toAffine();
  const abi = ['function isOnCurve(uint256,uint256) pure returns (bool)', 'function derive(uint256,uint256,uint256) pure returns (uint256,uint256)'];
  // Runtime: memory = (1, 2G.x, 2G.y); derive (100 bytes of calldata) returns
  // words 1..2, anything else (isOnCurve) words 0..1, i.e. true.
  const word = (v) => toBeHex(v, 32).slice(2);
  const runtime = '6001600052' + '7f' + word(two.x) + '602052' + '7f' + word(two.y) + '604052' + '6040' + '606436146020' + '02' + 'f3';
  const len = runtime.length / 2;
  const init = '0x60' + len.toString(16).padStart(2, '0') + '80600b6000396000f3' + runtime;
  const fakeAddr = (await (await env.admin.sendTransaction({ data: init })).wait()).contractAddress;
  const fake = new Contract(fakeAddr, abi, env.provider);
  assert.deepEqual([...(await fake.derive(1n, 2n, 3n))], [two.x, two.y]);
  const a = loadArtifact('PKPNFT');
  const nft = await new ContractFactory(a.abi, a.bytecode, env.admin).deploy(await env.admin.getAddress(), fakeAddr);
  await nft.waitForDeployment();
  await (await nft.setRootPubkey(RUST_ROOT)).wait();
  await expectRevert(nft.computeDerivedPubkey('0x' + '00'.repeat(32)), 'DerivationMismatch');
  await expectRevert(nft.mintNext(2), 'DerivationMismatch');
});

test('minted PKPs: pubkey = root + tweak(derivedKeyId)·G, tokenId = keccak256 of the 65-byte pubkey (Lit), address', async () => {
  const alice = env.signers[1];
  const seen = new Set();
  for (let i = 0; i < 4; i++) {
    const { tokenId, pubkey } = await mint(env, alice);
    const keyId = await env.pkpNft.getDerivedKeyId(tokenId);
    assert.notEqual(keyId, '0x' + '00'.repeat(32));
    assert.ok(!seen.has(keyId), 'key ids are unique');
    seen.add(keyId);
    assert.equal(pubkey, hex65(nobleDerive(RUST_ROOT, keyId)));
    assert.equal(await env.pkpNft.getPubkey(tokenId), pubkey);
    // Lit's formula (candela-crypto derive::token_id): keccak256 of the 65
    // bytes 0x04 || x || y; the address hashes the 64 bytes x || y.
    assert.equal(tokenId, BigInt(keccak256(pubkey)), "Lit's keccak256 of the 65 bytes");
    assert.notEqual(tokenId, BigInt(keccak256(getBytes(pubkey).slice(1))), 'not the 64 bytes without 0x04');
    assert.equal(await env.pkpNft.tokenIdFormula(), 2n);
    assert.equal(await env.pkpNft.pubkeyToTokenId(pubkey), tokenId);
    assert.equal(await env.pkpNft.getEthAddress(tokenId), computeAddress(pubkey));
    assert.equal(await env.pkpNft.ethAddressToPkpId(computeAddress(pubkey)), tokenId);
    assert.equal(await env.pkpNft.getKeyType(tokenId), 2n);
  }
});
