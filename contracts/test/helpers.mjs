// Test helpers: one anvil per test file, deployment, revert decoding.
import assert from 'node:assert/strict';
import { Interface, keccak256, AbiCoder, getBytes, hexlify } from 'ethers';
import { startAnvil, deployAll, localProvider, loadArtifact } from '../scripts/lib.mjs';

/** The root key of the Rust test vectors (s = 0x1234567890abcdef). */
export const RUST_ROOT =
  '0x04f973a0b87062c389d125d8199e803b832b6ac6bf7867a4f6cd87506060fc4c584b4a0a3f26c988c54c236b224c48bb605b265949e65c098ecd87a581ca10e25d';

const ALL_ERRORS = new Interface(
  ['PKPNFT', 'PKPPermissions', 'Staking'].flatMap((n) => loadArtifact(n).abi.filter((f) => f.type === 'error')).filter(
    (f, i, arr) => arr.findIndex((g) => JSON.stringify(g) === JSON.stringify(f)) === i,
  ),
);

/** Start anvil, deploy and wire the contracts. Call `env.stop()` in after(). */
export async function setup({ rootPubkey = RUST_ROOT } = {}) {
  const anvil = await startAnvil();
  const provider = localProvider(anvil.url);
  const signers = await Promise.all([0, 1, 2, 3, 4].map((i) => provider.getSigner(i)));
  const contracts = await deployAll(signers[0], { rootPubkey });
  return {
    anvil,
    provider,
    signers,
    admin: signers[0],
    ...contracts,
    async stop() {
      provider.destroy();
      await anvil.stop();
    },
  };
}

/** The custom error name (and args) of a rejected contract call. */
export function revertOf(err) {
  const data = err?.data ?? err?.info?.error?.data ?? err?.error?.data;
  if (typeof data === 'string' && data.length >= 10) {
    const parsed = ALL_ERRORS.parseError(data);
    if (parsed) return { name: parsed.name, args: parsed.args };
  }
  if (err?.revert) return { name: err.revert.name, args: err.revert.args };
  return { name: null, message: err?.shortMessage ?? String(err) };
}

/** Assert that `promise` rejects with custom error `name`. */
export async function expectRevert(promise, name) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected revert ${name}, but the call succeeded`);
  const r = revertOf(err);
  assert.equal(r.name, name, `expected revert ${name}, got ${r.name ?? r.message}`);
  return r;
}

/** Send a transaction and wait for its receipt. */
export async function send(txPromise) {
  const tx = await txPromise;
  return tx.wait();
}

/**
 * Overrides with gasLimit = 120 % of the estimate. A mint's gas depends on the
 * key id the mined block yields (the derivation's double-and-add follows the
 * tweak's bits), so an exact estimate can run out of gas; Lit's SDK adds 10 %.
 */
export async function gasMargin(method, args, overrides = {}) {
  const estimate = await method.estimateGas(...args, overrides);
  return { ...overrides, gasLimit: (estimate * 12n) / 10n };
}

/** Mint a PKP to `signer`; returns { tokenId, pubkey, receipt }. */
export async function mint(env, signer) {
  const nft = env.pkpNft.connect(signer);
  const receipt = await send(nft.mintNext(2, await gasMargin(nft.mintNext, [2], { value: await nft.mintCost() })));
  const ev = receipt.logs.map((l) => { try { return nft.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === 'PKPMinted');
  return { tokenId: ev.args.tokenId, pubkey: ev.args.pubkey, receipt };
}

/** authMethodId = uint256(keccak256(abi.encode(authMethodType, id))), computed independently. */
export function authMethodId(type, id) {
  return BigInt(keccak256(AbiCoder.defaultAbiCoder().encode(['uint256', 'bytes'], [type, id])));
}

/** A random-looking sha2-256 multihash (CIDv0 bytes) from a label. */
export function cid(label) {
  return hexlify(new Uint8Array([0x12, 0x20, ...getBytes(keccak256(new TextEncoder().encode(label)))]));
}
