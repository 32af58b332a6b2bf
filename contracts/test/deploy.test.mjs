// deploy.mjs against a real anvil: prints the four addresses as JSON, wired.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { Contract } from 'ethers';
import { startAnvil, localProvider, loadArtifact, ROOT } from '../scripts/lib.mjs';
import { RUST_ROOT } from './helpers.mjs';

const run = promisify(execFile);
// anvil's first default dev account
const KEY = 'ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

test('deploy.mjs deploys, wires and prints JSON', async () => {
  const anvil = await startAnvil();
  const provider = localProvider(anvil.url);
  try {
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'deploy.mjs'), '--rpc-url', anvil.url, '--private-key', KEY, '--root-pubkey', RUST_ROOT]);
    const out = JSON.parse(stdout);
    assert.deepEqual(Object.keys(out).sort(), ['chainId', 'deployer', 'keyDeriver', 'pkpNft', 'pkpPermissions', 'staking']);
    assert.equal(out.chainId, 31337);
    assert.equal(out.deployer, '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    for (const a of [out.pkpNft, out.pkpPermissions, out.staking, out.keyDeriver]) assert.notEqual(await provider.getCode(a), '0x');
    const nft = new Contract(out.pkpNft, loadArtifact('PKPNFT').abi, provider);
    assert.equal(await nft.getPkpPermissionsAddress(), out.pkpPermissions);
    assert.equal(await nft.getStakingAddress(), out.staking);
    assert.equal(await nft.getKeyDeriverAddress(), out.keyDeriver);
    assert.equal(await nft.getRootPubkey(), RUST_ROOT);
    assert.equal(await nft.owner(), out.deployer);
    const perms = new Contract(out.pkpPermissions, loadArtifact('PKPPermissions').abi, provider);
    assert.equal(await perms.getPkpNftAddress(), out.pkpNft);
  } finally {
    provider.destroy();
    await anvil.stop();
  }
});

test('deploy.mjs refuses missing arguments', async () => {
  await assert.rejects(run(process.execPath, [path.join(ROOT, 'deploy.mjs'), '--rpc-url', 'http://127.0.0.1:1']), (e) => e.code === 2);
});
