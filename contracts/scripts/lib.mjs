// Shared helpers: artifacts, the anvil binary shipped by @foundry-rs/anvil,
// and deployment of the three contracts. Used by deploy.mjs and the tests.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ContractFactory, JsonRpcProvider } from 'ethers';

const require = createRequire(import.meta.url);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The compiled artifact contracts/out/<name>.json (run `npm run build` first). */
export function loadArtifact(name) {
  const file = path.join(ROOT, 'out', `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`${file} missing: run \`npm run build\` (or ./setup.sh) first`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * Path of the anvil binary. @foundry-rs/anvil ships it in a per-platform
 * optional dependency (@foundry-rs/anvil-<os>-<arch>/bin/anvil); its own
 * bin.mjs is only a Node wrapper around that file, so we spawn the binary
 * directly (signals and exit codes then behave as for any child process).
 */
export function anvilPath() {
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  let dir;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(`${pkg} is not installed (unsupported platform, or run ./setup.sh)`);
  }
  const bin = path.join(dir, 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
  if (!fs.existsSync(bin)) throw new Error(`anvil binary missing at ${bin}`);
  return bin;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function rpc(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

/**
 * Start anvil on a free loopback port and wait until it answers.
 * Returns { url, port, rpc(method, params), stop() }.
 */
export async function startAnvil({ extraArgs = [], timeoutMs = 20000 } = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(anvilPath(), ['--host', '127.0.0.1', '--port', String(port), '--quiet', ...extraArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let exited = false;
    child.on('exit', () => (exited = true));
    const deadline = Date.now() + timeoutMs;
    while (!exited && Date.now() < deadline) {
      try {
        await rpc(url, 'eth_chainId');
        const stop = () =>
          new Promise((resolve) => {
            if (exited) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          });
        return { url, port, child, rpc: (m, p) => rpc(url, m, p), stop };
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (!exited) child.kill('SIGKILL');
    if (attempt === 2) throw new Error(`anvil did not start: ${stderr}`);
  }
}

/**
 * An ethers provider for a local node. `cacheTimeout: -1` matters: by
 * default ethers reuses the result of an identical request (e.g. the same
 * eth_estimateGas) for 250 ms, which returns stale gas estimates when the
 * same account mints twice in quick succession.
 */
export function localProvider(url) {
  return new JsonRpcProvider(url, undefined, { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 });
}

/**
 * Deploy Staking, the Secp256k1KeyDeriver (stateless, no owner), PKPNFT and
 * PKPPermissions with `signer` as deployer and owner of the three registry
 * contracts, and wire them together. `rootPubkey` (65-byte 0x04…
 * hex) is optional: without it, call PKPNFT.setRootPubkey before the first
 * mint.
 */
export async function deployAll(signer, { rootPubkey, epochLength = 3600n, epochTimeout = 60n } = {}) {
  const admin = await signer.getAddress();
  const deploy = async (name, args) => {
    const a = loadArtifact(name);
    const c = await new ContractFactory(a.abi, a.bytecode, signer).deploy(...args);
    await c.waitForDeployment();
    return c;
  };
  const staking = await deploy('Staking', [admin, epochLength, epochTimeout]);
  const keyDeriver = await deploy('Secp256k1KeyDeriver', []);
  const pkpNft = await deploy('PKPNFT', [admin, await keyDeriver.getAddress()]);
  const pkpPermissions = await deploy('PKPPermissions', [admin, await pkpNft.getAddress()]);
  await (await pkpNft.setPkpPermissionsAddress(await pkpPermissions.getAddress())).wait();
  await (await pkpNft.setStakingAddress(await staking.getAddress())).wait();
  if (rootPubkey) await (await pkpNft.setRootPubkey(rootPubkey)).wait();
  return { staking, keyDeriver, pkpNft, pkpPermissions };
}
