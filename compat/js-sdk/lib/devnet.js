// Starts and stops a `candela devnet --chain anvil` for the compatibility
// tests, and runs the `candela` CLI.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');

/** The `candela` binary: $CANDELA_BIN, or the workspace's debug build. */
function candelaBin() {
  if (process.env.CANDELA_BIN) return process.env.CANDELA_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
  return path.join(target, 'debug', 'candela');
}

/** Run the CLI and return its standard output. */
function candela(args) {
  return execFileSync(candelaBin(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The Staking ABI exactly as Lit publishes it in @lit-protocol/contracts. */
function stakingAbi() {
  const { datilDev } = require('@lit-protocol/contracts');
  const staking = datilDev.data.find((c) => c.name === 'Staking');
  return staking.contracts[0].ABI;
}

/**
 * Start a devnet of `nodes` node processes with its registry on anvil;
 * resolves once every node is ready and `network.json` is written.
 */
async function startDevnet({ nodes = 3, timeoutMs = 240_000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'candela-compat-'));
  const basePort = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(
    candelaBin(),
    ['devnet', '--chain', 'anvil', '--nodes', String(nodes), '--dir', dir,
      '--base-port', String(basePort), '--quiet'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const networkPath = path.join(dir, 'network.json');
  const started = Date.now();
  while (!/ready; press Ctrl-C/.test(output)) {
    if (child.exitCode !== null) throw new Error(`devnet exited early:\n${output}`);
    if (Date.now() - started > timeoutMs) {
      process.kill(-child.pid, 'SIGKILL');
      throw new Error(`devnet not ready after ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const network = JSON.parse(fs.readFileSync(networkPath, 'utf8'));
  // nodes this helper started itself (restarted or added members)
  const startedNodes = [];

  return {
    dir,
    networkPath,
    network,
    stakingAbi: stakingAbi(),
    output: () => output,
    /** Stop node `index` (SIGKILL), as a crash would. */
    stopNode(index) {
      const config = path.join(dir, `node-${index}`, 'config.json');
      for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let cmdline;
        try { cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
        if (cmdline.split('\0').includes(config)) process.kill(Number(pid), 'SIGKILL');
      }
    },
    /**
     * Start `candela node --config CONFIG` (a stopped member again, or one
     * `epoch advance` added), logging to node.log next to its config.
     */
    startNode(config) {
      const log = fs.openSync(path.join(path.dirname(config), 'node.log'), 'a');
      const node = spawn(candelaBin(), ['node', '--config', config], { stdio: ['ignore', log, log] });
      fs.closeSync(log);
      startedNodes.push(node);
      return node;
    },
    async stop() {
      for (const node of startedNodes) {
        if (node.exitCode === null) node.kill('SIGKILL');
      }
      if (child.exitCode === null) {
        process.kill(-child.pid, 'SIGINT');
        await new Promise((r) => {
          const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} r(); }, 10_000);
          child.on('exit', () => { clearTimeout(t); r(); });
        });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startDevnet, candela, stakingAbi };
