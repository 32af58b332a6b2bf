#!/usr/bin/env node
// BLS12-381 signature check with @noble/curves, by pairing: public key in G1
// (48-byte compressed), signature in G2 (96-byte compressed).
//
//   node bls.mjs verify --public-key <hex 48> --message <hex> --signature <hex 96> --dst <string> [--augment]
//     -> {"verified":true}
//
// Checks e(G1 generator, signature) == e(public key, H(m)), where H is
// hash_to_curve to G2 (SHA-256 expand_message_xmd, SSWU) with the given DST and
// m is the message, or, with --augment, the public key bytes followed by the
// message (message augmentation). Exits 1 when it does not hold, and also
// for the identity point as public key or signature, which would satisfy the
// equation for any message.
import { bls12_381 as bls } from '@noble/curves/bls12-381';
import { UsageError, hexBytes, isMain, parseFlags, run } from './lib/cli.mjs';

const USAGE = `usage:
  node bls.mjs verify --public-key <hex 48> --message <hex> --signature <hex 96> --dst <string> [--augment]
`;

function point(group, name, bytes) {
  let p;
  try {
    p = bls[group].Point.fromHex(bytes);
  } catch (err) {
    throw new Error(`--${name} is not a valid compressed ${group} point: ${err.message}`);
  }
  p.assertValidity();
  if (p.is0()) throw new Error(`--${name} is the identity point`);
  return p;
}

export function verifyBls({ publicKey, message, signature, dst, augment }) {
  const pk = point('G1', 'public-key', publicKey);
  const sig = point('G2', 'signature', signature);
  const hashed = augment ? Uint8Array.from([...publicKey, ...message]) : message;
  const hm = bls.G2.hashToCurve(hashed, { DST: dst });
  const left = bls.pairing(bls.G1.Point.BASE, sig);
  const right = bls.pairing(pk, hm);
  if (!bls.fields.Fp12.eql(left, right)) {
    throw new Error(`the signature does not verify for this public key and message (DST ${JSON.stringify(dst)}, ${augment ? 'augmented' : 'not augmented'})`);
  }
  return { verified: true };
}

if (isMain(import.meta.url)) {
  run('bls.mjs', USAGE, async ([command, ...rest]) => {
    if (command !== 'verify') {
      throw new UsageError(command === undefined ? 'missing command' : `unknown command ${JSON.stringify(command)}`);
    }
    const f = parseFlags(rest, { required: ['public-key', 'message', 'signature', 'dst'], booleans: ['augment'] });
    if (f.dst.length === 0) throw new UsageError('--dst must not be empty');
    return verifyBls({
      publicKey: hexBytes('public-key', f['public-key'], 48),
      message: hexBytes('message', f.message),
      signature: hexBytes('signature', f.signature, 96),
      dst: f.dst,
      augment: f.augment,
    });
  });
}
