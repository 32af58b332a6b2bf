// Test helpers: run an example action in node with a small Lit.Actions shim
// that signs with locally generated keys, and run the CLI scripts as the Rust
// end-to-end tests will (a child node process, JSON on stdout).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify, types } from 'node:util';
import vm from 'node:vm';
import { ed25519 } from '@noble/curves/ed25519';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1';

const here = dirname(fileURLToPath(import.meta.url));
export const chainsDir = join(here, '..');
export const actionsDir = join(here, '..', '..', 'actions');

export const hex = (bytes) => Buffer.from(bytes).toString('hex');

// A stand-in for one PKP: its secp256k1 key as minted (which names it in
// `publicKey`), and the Ed25519 and taproot keys the network would derive,
// here just generated locally.
export function makePkp() {
  const mintedSecret = secp256k1.utils.randomSecretKey();
  const edSecret = ed25519.utils.randomSecretKey();

  // BIP-86: internal key P with even y, tweak t = H_TapTweak(x(P)), Q = P + tG.
  // BIP-340 signing with d + t gives signatures valid for x(Q) (schnorr.sign
  // negates the key itself when Q has odd y).
  const { n } = secp256k1.CURVE;
  const d0 = schnorr.utils.bytesToNumberBE(secp256k1.utils.randomSecretKey());
  const P0 = secp256k1.Point.BASE.multiply(d0);
  const d = P0.hasEvenY() ? d0 : n - d0;
  const internalKey = schnorr.getPublicKey(schnorr.utils.numberToBytesBE(d, 32));
  const t = schnorr.utils.bytesToNumberBE(schnorr.utils.taggedHash('TapTweak', internalKey));
  if (t >= n) throw new Error('tweak out of range (probability ~2^-128)');
  const tweakedSecret = schnorr.utils.numberToBytesBE((d + t) % n, 32);

  return {
    publicKey: '0x' + hex(secp256k1.getPublicKey(mintedSecret, false)),
    edSecret,
    edPublicKey: ed25519.getPublicKey(edSecret),
    internalKey,
    tweakedSecret,
    outputKey: schnorr.getPublicKey(tweakedSecret),
  };
}

// Runs the action file in a fresh V8 context holding only what the sandbox
// offers (Lit.Actions, jsParams and each of its keys as globals, TextEncoder,
// crypto.subtle):
// no require, no Buffer, no process. Resolves to { response, calls } once the
// action's promise settles; rejects with the action's error. `record`, when
// given, receives `calls` and `response` as they happen, so that a test can
// look at them after a rejection too.
export async function runAction(file, jsParams, pkp, record = {}) {
  const code = await readFile(join(actionsDir, file), 'utf8');
  const calls = (record.calls = []);
  let response;
  const signAndCombine = async ({ toSign, publicKey, sigName, signingScheme }) => {
    calls.push({ toSign, publicKey, sigName, signingScheme });
    if (publicKey !== pkp.publicKey) throw new Error(`shim: unknown PKP ${publicKey}`);
    if (typeof sigName !== 'string' || sigName === '') throw new Error('shim: sigName must be a non-empty string');
    if (!types.isUint8Array(toSign) && !Array.isArray(toSign)) {
      throw new Error('shim: toSign must be a Uint8Array or an array of ints');
    }
    const bytes = Uint8Array.from(toSign);
    let signature;
    let verifyingKey;
    if (signingScheme === 'SchnorrEd25519Sha512') {
      signature = ed25519.sign(bytes, pkp.edSecret);
      verifyingKey = pkp.edPublicKey;
    } else if (signingScheme === 'SchnorrK256Taproot') {
      if (bytes.length !== 32) throw new Error(`shim: SchnorrK256Taproot signs 32 bytes, got ${bytes.length}`);
      signature = schnorr.sign(bytes, pkp.tweakedSecret);
      verifyingKey = pkp.outputKey;
    } else {
      throw new Error(`shim: unsupported signingScheme ${signingScheme}`);
    }
    return JSON.stringify({
      signature: hex(signature),
      verifying_key: hex(verifyingKey),
      signed_data: hex(bytes),
      recovery_id: null,
    });
  };
  const setResponse = ({ response: r }) => {
    if (typeof r !== 'string') throw new Error('shim: setResponse needs a string response');
    response = r;
    record.response = r;
  };
  const ctx = vm.createContext({
    ...jsParams,
    jsParams,
    Lit: { Actions: { signAndCombine, setResponse } },
    TextEncoder,
    crypto: { subtle: globalThis.crypto.subtle },
  });
  const completion = vm.runInContext(code, ctx, { filename: file });
  if (typeof completion?.then !== 'function') throw new Error(`${file} does not end with its async IIFE`);
  await completion;
  return { response, calls };
}

const execFileP = promisify(execFile);

// Runs `node <script> ...args` from examples/chains. Resolves to
// { code, stdout, stderr, json } whatever the exit code.
export async function runScript(script, args) {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [join(chainsDir, script), ...args]);
    return { code: 0, stdout, stderr, json: JSON.parse(stdout) };
  } catch (err) {
    if (typeof err.code !== 'number') throw err;
    return { code: err.code, stdout: err.stdout, stderr: err.stderr, json: undefined };
  }
}
