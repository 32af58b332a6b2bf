#!/usr/bin/env node
// Uniswap V2 on a local chain for the rebalancing example: deploy the
// compiled contracts of the npm packages @uniswap/v2-core and
// @uniswap/v2-periphery (never copied into this repository), fund a
// portfolio, move the price, print the state, and write the action with the
// deployment's addresses and guard rails in it.
//
//   node uniswap.js deploy --rpc URL --key HEX                    > deployment.json
//   node uniswap.js fund   --rpc URL --key HEX --deployment F --to ADDR --a N --b N --eth N
//   node uniswap.js swap   --rpc URL --key HEX --deployment F --sell a|b --amount N
//   node uniswap.js state  --rpc URL --deployment F --who ADDR [--text 1]
//   node uniswap.js history --rpc URL --deployment F --who ADDR [--text 1]
//   node uniswap.js build-action --deployment F --price-url URL --out FILE [--target-weight 0.5]
//        [--tolerance 0.02] [--max-per-run N] [--max-per-day N] [--max-deviation 0.05]
//        [--slippage-bps 100] [--chain anvil]
//
// Amounts are whole tokens (18 decimals). Everything prints JSON on stdout.
"use strict";
const fs = require("fs");
const path = require("path");
const { ethers } = require("ethers");

const artifact = (pkg, name) => require(`${pkg}/build/${name}.json`);
const CORE = "@uniswap/v2-core";
const PERIPHERY = "@uniswap/v2-periphery";
const SUPPLY = ethers.utils.parseUnits("1000000000", 18);
const SWAP_TOPIC = ethers.utils.id("Swap(address,uint256,uint256,uint256,uint256,address)");

function args(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[++i];
    else out._.push(argv[i]);
  }
  return out;
}

function need(opts, name) {
  if (opts[name] === undefined) throw new Error(`--${name} is required`);
  return opts[name];
}

function wallet(opts) {
  const provider = new ethers.providers.JsonRpcProvider(need(opts, "rpc"));
  return new ethers.Wallet(need(opts, "key"), provider);
}

async function deployed(signer, pkg, name, ...ctor) {
  const a = artifact(pkg, name);
  const bytecode = a.bytecode.startsWith("0x") ? a.bytecode : "0x" + a.bytecode;
  const factory = new ethers.ContractFactory(a.abi, bytecode, signer);
  const c = await factory.deploy(...ctor);
  await c.deployed();
  return c;
}

async function deploy(opts) {
  const signer = wallet(opts);
  const me = await signer.getAddress();
  const weth = await deployed(signer, PERIPHERY, "WETH9");
  const factory = await deployed(signer, CORE, "UniswapV2Factory", me);
  const router = await deployed(signer, PERIPHERY, "UniswapV2Router02", factory.address, weth.address);
  // ERC-20 tokens: the test token of @uniswap/v2-core (its whole supply to
  // the deployer); the third one is not on the action's allow-list.
  const t1 = await deployed(signer, CORE, "ERC20", SUPPLY);
  const t2 = await deployed(signer, CORE, "ERC20", SUPPLY);
  const t3 = await deployed(signer, CORE, "ERC20", SUPPLY);
  const deadline = Math.floor(Date.now() / 1000) + 3600;
  for (const t of [t1, t2, t3]) {
    await (await t.approve(router.address, ethers.constants.MaxUint256)).wait();
  }
  // Pools: 100,000 of one token against 200,000 of the other (2:1), and a
  // pool with the token that is not allowed.
  const liquidity = async (x, y) =>
    (
      await router.addLiquidity(
        x.address,
        y.address,
        ethers.utils.parseUnits("100000", 18),
        ethers.utils.parseUnits("200000", 18),
        0,
        0,
        me,
        deadline
      )
    ).wait();
  await liquidity(t1, t2);
  await liquidity(t1, t3);
  const pairAddress = await factory.getPair(t1.address, t2.address);
  const pair = new ethers.Contract(pairAddress, artifact(CORE, "UniswapV2Pair").abi, signer);
  const [token0, token1] = [await pair.token0(), await pair.token1()];
  const chainId = (await signer.provider.getNetwork()).chainId;
  return {
    chainId,
    deployer: me,
    weth: weth.address,
    factory: factory.address,
    router: router.address,
    pair: pairAddress,
    // token A is the pair's token0, token B its token1
    tokenA: token0,
    tokenB: token1,
    otherToken: t3.address,
    otherPair: await factory.getPair(t1.address, t3.address),
  };
}

const load = (opts) => JSON.parse(fs.readFileSync(need(opts, "deployment"), "utf8"));
const erc20 = (address, signerOrProvider) =>
  new ethers.Contract(address, artifact(CORE, "ERC20").abi, signerOrProvider);

async function fund(opts) {
  const d = load(opts);
  const signer = wallet(opts);
  const to = need(opts, "to");
  const sent = [];
  for (const [token, amount] of [
    [d.tokenA, opts.a],
    [d.tokenB, opts.b],
  ]) {
    if (amount && Number(amount) > 0) {
      const tx = await erc20(token, signer).transfer(to, ethers.utils.parseUnits(amount, 18));
      sent.push((await tx.wait()).transactionHash);
    }
  }
  if (opts.eth && Number(opts.eth) > 0) {
    const tx = await signer.sendTransaction({ to, value: ethers.utils.parseEther(opts.eth) });
    sent.push((await tx.wait()).transactionHash);
  }
  return { to, transactions: sent };
}

async function swap(opts) {
  const d = load(opts);
  const signer = wallet(opts);
  const router = new ethers.Contract(d.router, artifact(PERIPHERY, "UniswapV2Router02").abi, signer);
  const sellA = need(opts, "sell").toLowerCase() === "a";
  const route = sellA ? [d.tokenA, d.tokenB] : [d.tokenB, d.tokenA];
  const tx = await router.swapExactTokensForTokens(
    ethers.utils.parseUnits(need(opts, "amount"), 18),
    0,
    route,
    await signer.getAddress(),
    Math.floor(Date.now() / 1000) + 3600
  );
  return { transaction: (await tx.wait()).transactionHash };
}

async function state(opts) {
  const d = load(opts);
  const provider = new ethers.providers.JsonRpcProvider(need(opts, "rpc"));
  const who = need(opts, "who");
  const pair = new ethers.Contract(d.pair, artifact(CORE, "UniswapV2Pair").abi, provider);
  const [r0, r1] = await pair.getReserves();
  const num = (bn) => Number(ethers.utils.formatUnits(bn, 18));
  const [a, b] = [num(await erc20(d.tokenA, provider).balanceOf(who)), num(await erc20(d.tokenB, provider).balanceOf(who))];
  const price = num(r1) / num(r0);
  return {
    who,
    reserveA: num(r0),
    reserveB: num(r1),
    price,
    balanceA: a,
    balanceB: b,
    weightA: (a * price) / (a * price + b),
    eth: num(await provider.getBalance(who)),
    nonce: await provider.getTransactionCount(who),
  };
}

async function history(opts) {
  const d = load(opts);
  const provider = new ethers.providers.JsonRpcProvider(need(opts, "rpc"));
  const who = need(opts, "who");
  const logs = await provider.getLogs({
    address: d.pair,
    fromBlock: 0,
    toBlock: "latest",
    topics: [SWAP_TOPIC, null, ethers.utils.hexZeroPad(who, 32)],
  });
  const swaps = [];
  for (const log of logs) {
    const tx = await provider.getTransaction(log.transactionHash);
    swaps.push({ block: log.blockNumber, tx: log.transactionHash, from: tx.from, nonce: tx.nonce });
  }
  return { who, swaps };
}

function buildAction(opts) {
  const d = load(opts);
  const config = {
    chain: opts.chain || "anvil",
    chainId: d.chainId,
    router: d.router,
    pair: d.pair,
    allowedRouters: [d.router],
    allowedPairs: [d.pair, d.otherPair],
    allowedTokens: [d.tokenA, d.tokenB],
    targetWeightA: Number(opts["target-weight"] || 0.5),
    tolerance: Number(opts.tolerance || 0.02),
    maxTradePerRun: Number(opts["max-per-run"] || 20000),
    maxTradePerDay: Number(opts["max-per-day"] || 100000),
    priceUrl: need(opts, "price-url"),
    maxPriceDeviation: Number(opts["max-deviation"] || 0.05),
    slippageBps: Number(opts["slippage-bps"] || 100),
    deadlineSeconds: 600,
  };
  const template = fs.readFileSync(path.join(__dirname, "rebalance.template.js"), "utf8");
  const code = template.replace("__CONFIG__", JSON.stringify(config, null, 2));
  const out = need(opts, "out");
  fs.writeFileSync(out, code);
  return { file: out, config };
}

async function main() {
  const opts = args(process.argv.slice(2));
  const command = opts._[0];
  const commands = { deploy, fund, swap, state, history, "build-action": buildAction };
  if (!commands[command]) {
    throw new Error(`usage: uniswap.js ${Object.keys(commands).join("|")} [options] (see the file's header)`);
  }
  const out = await commands[command](opts);
  if (opts.text !== undefined && command === "state") {
    const f = (x, n) => Number(x).toFixed(n);
    process.stdout.write(
      `portfolio: ${f(out.balanceA, 2)} A + ${f(out.balanceB, 2)} B at ${f(out.price, 4)} B/A, ` +
        `weight of A ${f(out.weightA, 3)}\n`
    );
  } else if (opts.text !== undefined && command === "history") {
    const last = out.swaps[out.swaps.length - 1];
    process.stdout.write(
      last
        ? `${out.swaps.length} swaps by ${out.who}; last: tx ${last.tx} (block ${last.block}, nonce ${last.nonce})\n`
        : `no swaps by ${out.who}\n`
    );
  } else {
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  }
}

main().catch((e) => {
  process.stderr.write(`uniswap.js: ${e.message}\n`);
  process.exit(1);
});
