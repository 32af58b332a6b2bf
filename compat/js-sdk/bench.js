// Latency of the official Lit JS SDK's calls against a Candela devnet on
// anvil, as ratios to signing one digest with one local key (ethers) in
// this same process: `npm run bench [-- ROUNDS]`.
'use strict';

const { ethers } = require('ethers');
const { startDevnet, candela } = require('./lib/devnet');
const { WALLET_KEY, sdkClient, walletSession, onlyWallet } = require('./lib/sdk');

const ROUNDS = Number(process.argv[2] ?? 30);

/** p50 and p99 of `n` runs of `f`, in milliseconds. */
async function measure(n, f) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await f(i);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

/** Wait until the nodes hold `want` free presignatures (or a minute passed). */
async function poolHolds(devnet, want) {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const free = await Promise.all(
      devnet.network.nodes.map((n) =>
        fetch(`${n.url}/web/status`).then((r) => r.json()).then((s) => s.presignaturesFree, () => 0),
      ),
    );
    if (Math.max(...free) >= want) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main() {
  const devnet = await startDevnet({ nodes: 4 });
  try {
    // measure signing, not presignature generation: fill the pool first
    await poolHolds(devnet, Math.min(2 * ROUNDS, 60));
    const wallet = new ethers.Wallet(WALLET_KEY);
    const pkp = JSON.parse(candela(['pkp', 'mint', '--network', devnet.networkPath, '--private-key', WALLET_KEY, '--json']));
    const client = sdkClient(devnet);
    const connect = await measure(1, () => client.connect());
    const sessionSigs = await walletSession(client, wallet);
    const digest = (i) => ethers.utils.arrayify(ethers.utils.id(`bench ${i}`));
    const key = new ethers.utils.SigningKey(WALLET_KEY);
    const baseline = await measure(ROUNDS * 10, (i) => key.signDigest(digest(i)));
    const pkpSign = await measure(ROUNDS, (i) => client.pkpSign({ pubKey: pkp.publicKey, toSign: digest(i), sessionSigs }));
    const executeJs = await measure(ROUNDS, (i) =>
      client.executeJs({
        sessionSigs,
        code: `(async () => { await Lit.Actions.signEcdsa({ toSign, publicKey, sigName: 's' }); })();`,
        jsParams: { toSign: Array.from(digest(i)), publicKey: pkp.publicKey },
      }),
    );
    const accessControlConditions = onlyWallet(wallet.address);
    const sealed = await client.encrypt({ accessControlConditions, dataToEncrypt: new Uint8Array(1024) });
    const decrypt = await measure(ROUNDS, () =>
      client.decrypt({ accessControlConditions, ...sealed, sessionSigs, chain: 'ethereum' }),
    );
    const row = (name, m) =>
      console.log(`${name.padEnd(28)} p50 ${m.p50.toFixed(2).padStart(8)} ms  p99 ${m.p99.toFixed(2).padStart(8)} ms  p50 = ${(m.p50 / baseline.p50).toFixed(0).padStart(6)}x baseline`);
    console.log(`Lit JS SDK 7.4.0 against a 4-node Candela devnet on anvil (threshold 3), ${ROUNDS} rounds each`);
    row('baseline: ethers signDigest', baseline);
    row('connect', connect);
    row('pkpSign', pkpSign);
    row('executeJs + signEcdsa', executeJs);
    row('decrypt (1 KiB)', decrypt);
    await client.disconnect();
  } finally {
    await devnet.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
