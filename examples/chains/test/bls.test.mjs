// bls.mjs against signatures made with noble's BLS12-381 (public keys in G1,
// signatures in G2), plain and with message augmentation.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { bls12_381 as bls } from '@noble/curves/bls12-381';
import { hex, runScript } from './helpers.mjs';

const NUL = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_';
const AUG = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_AUG_';
const sigs = bls.longSignatures;

function keypair() {
  const secret = bls.utils.randomSecretKey();
  return { secret, publicKey: sigs.getPublicKey(secret).toBytes(true) };
}

// Signs `message` with DST `dst`; with `augment`, signs publicKey || message.
function sign({ secret, publicKey }, message, dst, augment) {
  const hashed = augment ? Buffer.concat([publicKey, message]) : message;
  return sigs.Signature.toBytes(sigs.sign(sigs.hash(hashed, dst), secret));
}

const verify = (publicKey, message, signature, dst, augment) =>
  runScript('bls.mjs', [
    'verify',
    '--public-key', hex(publicKey),
    '--message', hex(message),
    '--signature', hex(signature),
    '--dst', dst,
    ...(augment ? ['--augment'] : []),
  ]);

test('bls.mjs accepts a plain signature and an augmented one, each with its own DST and mode', async () => {
  const key = keypair();
  assert.equal(key.publicKey.length, 48);
  const message = randomBytes(40);
  const plain = sign(key, message, NUL, false);
  assert.equal(plain.length, 96);
  const plainOut = await verify(key.publicKey, message, plain, NUL, false);
  assert.equal(plainOut.code, 0, plainOut.stderr);
  assert.deepEqual(plainOut.json, { verified: true });

  const augmented = sign(key, message, AUG, true);
  const augOut = await verify(key.publicKey, message, augmented, AUG, true);
  assert.equal(augOut.code, 0, augOut.stderr);
  assert.deepEqual(augOut.json, { verified: true });

  // The empty message is a message too.
  const empty = sign(key, new Uint8Array(0), AUG, true);
  const emptyOut = await verify(key.publicKey, new Uint8Array(0), empty, AUG, true);
  assert.equal(emptyOut.code, 0, emptyOut.stderr);
});

test('bls.mjs rejects a wrong message, the other augmentation mode, another DST and another key with exit 1', async () => {
  const key = keypair();
  const message = randomBytes(32);
  const augmented = sign(key, message, AUG, true);
  const wrongMessage = Buffer.from(message);
  wrongMessage[0] ^= 1;
  const rejections = [
    ['wrong message', key.publicKey, wrongMessage, augmented, AUG, true],
    ['not augmented', key.publicKey, message, augmented, AUG, false],
    ['other DST', key.publicKey, message, augmented, NUL, true],
    ['other key', keypair().publicKey, message, augmented, AUG, true],
    // A plain signature over m, checked as if it were over pk || m.
    ['plain signature checked as augmented', key.publicKey, message, sign(key, message, NUL, false), NUL, true],
  ];
  for (const [what, publicKey, msg, signature, dst, augment] of rejections) {
    const out = await verify(publicKey, msg, signature, dst, augment);
    assert.equal(out.code, 1, `${what}: ${out.stdout}`);
    assert.equal(out.stdout, '');
    assert.match(out.stderr, /the signature does not verify/, what);
  }
});

test('bls.mjs rejects the identity point as public key or signature, and malformed points', async () => {
  const key = keypair();
  const message = randomBytes(8);
  const signature = sign(key, message, NUL, false);
  // Compressed encodings of the point at infinity: flag bits 0b11 then zeros.
  const g1Identity = Buffer.concat([Buffer.from([0xc0]), Buffer.alloc(47)]);
  const g2Identity = Buffer.concat([Buffer.from([0xc0]), Buffer.alloc(95)]);
  const both = await verify(g1Identity, message, g2Identity, NUL, false);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /identity point/);
  const sigOnly = await verify(key.publicKey, message, g2Identity, NUL, false);
  assert.equal(sigOnly.code, 1);
  assert.match(sigOnly.stderr, /--signature is the identity point/);

  const notOnCurve = Buffer.from(signature);
  notOnCurve[50] ^= 0x01;
  const bad = await verify(key.publicKey, message, notOnCurve, NUL, false);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--signature is not a valid compressed G2 point|the signature does not verify/);

  const short = await verify(key.publicKey.subarray(1), message, signature, NUL, false);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /--public-key must be 48 bytes/);
});
