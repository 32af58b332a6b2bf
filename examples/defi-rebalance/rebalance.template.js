// Portfolio rebalancing on a Uniswap V2 pool, run by a PKP bound to this
// action's CID (mint-grant-burn). `uniswap.js build-action` writes the
// deployment's addresses and the guard rails into CONFIG, so they are part
// of the code (and of its CID): no caller can change them with jsParams.
//
// jsParams: { publicKey, router?, pair?, eventId? }
//   publicKey  the PKP that holds the portfolio (it must permit this action)
//   router     optional; must be on the allow-list
//   pair       optional; must be on the allow-list, and its tokens too
//
// Response (JSON): { status: "balanced" | "traded" | "refused", ... }
const CONFIG = __CONFIG__;

const PAIR_ABI = [
  "function token0() view returns (address)",
  "function token1() view returns (address)",
  "function getReserves() view returns (uint112, uint112, uint32)",
];
const ERC20_ABI = [
  "function balanceOf(address) view returns (uint256)",
  "function allowance(address, address) view returns (uint256)",
  "function approve(address, uint256) returns (bool)",
];
const ROUTER_ABI = [
  "function swapExactTokensForTokens(uint256, uint256, address[], address, uint256) returns (uint256[])",
];
const SWAP_TOPIC = ethers.utils.id("Swap(address,uint256,uint256,uint256,uint256,address)");
const DAY_SECONDS = 24 * 3600;
const APPROVE_GAS = 100000;
const SWAP_GAS = 250000;

const same = (x, y) => x.toLowerCase() === y.toLowerCase();
const listed = (list, x) => list.some((y) => same(x, y));
const units = (bn) => Number(ethers.utils.formatUnits(bn, 18));
const refused = (reason, extra) => ({ status: "refused", reason, ...(extra || {}) });

/** Weight of token A after selling `dx` of the sold token into the pool. */
function weightAfter(dx, sellA, a, b, rA, rB) {
  const [rIn, rOut] = sellA ? [rA, rB] : [rB, rA];
  const dy = (dx * 0.997 * rOut) / (rIn + dx * 0.997);
  const [na, nb, nrA, nrB] = sellA
    ? [a - dx, b + dy, rA + dx, rB - dy]
    : [a + dy, b - dx, rA - dy, rB + dx];
  const p = nrB / nrA;
  return (na * p) / (na * p + nb);
}

/** The amount to sell so that the weight of A becomes `target` (bisection). */
function amountToSell(sellA, a, b, rA, rB, target) {
  let lo = 0;
  let hi = sellA ? a : b;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    const w = weightAfter(mid, sellA, a, b, rA, rB);
    // selling A lowers A's weight; selling B raises it
    if (sellA ? w > target : w < target) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Value (in token B) this PKP traded on the pair in the last day. */
async function tradedToday(provider, pair, holder, aIsToken0, now) {
  const logs = await provider.getLogs({
    address: pair,
    fromBlock: 0,
    toBlock: "latest",
    topics: [SWAP_TOPIC, null, ethers.utils.hexZeroPad(holder, 32)],
  });
  let total = 0;
  for (const log of logs) {
    const block = await provider.getBlock(log.blockNumber);
    if (now - block.timestamp > DAY_SECONDS) continue;
    const [in0, in1, out0, out1] = ethers.utils.defaultAbiCoder.decode(
      ["uint256", "uint256", "uint256", "uint256"],
      log.data
    );
    const [bIn, bOut] = aIsToken0 ? [in1, out1] : [in0, out0];
    total += units(bIn.add(bOut));
  }
  return total;
}

/** Sign `tx` with the PKP on every node and send it from one node. */
async function signAndSend(tx, publicKey, sigName, provider) {
  const toSign = ethers.utils.arrayify(
    ethers.utils.keccak256(ethers.utils.serializeTransaction(tx))
  );
  const signature = JSON.parse(
    await Lit.Actions.signAndCombineEcdsa({ toSign, publicKey, sigName })
  );
  const joined = ethers.utils.joinSignature({
    r: "0x" + signature.r.substring(2),
    s: "0x" + signature.s,
    v: signature.v,
  });
  const signed = ethers.utils.serializeTransaction(tx, joined);
  const hash = await Lit.Actions.runOnce({ waitForResponse: true, name: sigName }, async () => {
    const sent = await provider.sendTransaction(signed);
    const receipt = await sent.wait();
    return receipt.status === 1 ? sent.hash : `reverted:${sent.hash}`;
  });
  if (typeof hash !== "string" || !hash.startsWith("0x")) {
    throw new Error(`${sigName} transaction failed: ${hash}`);
  }
  return hash;
}

async function rebalance() {
  const router = jsParams.router || CONFIG.router;
  const pairAddress = jsParams.pair || CONFIG.pair;
  if (!listed(CONFIG.allowedRouters, router)) {
    return refused(`router ${router} is not on the allow-list`);
  }
  if (!listed(CONFIG.allowedPairs, pairAddress)) {
    return refused(`pair ${pairAddress} is not on the allow-list`);
  }
  const rpcUrl = await Lit.Actions.getRpcUrl({ chain: CONFIG.chain });
  const provider = new ethers.providers.JsonRpcProvider(rpcUrl);
  const pair = new ethers.Contract(pairAddress, PAIR_ABI, provider);
  const [token0, token1] = await Promise.all([pair.token0(), pair.token1()]);
  for (const token of [token0, token1]) {
    if (!listed(CONFIG.allowedTokens, token)) {
      return refused(`token ${token} of pair ${pairAddress} is not on the allow-list`);
    }
  }
  const tokenA = token0;
  const tokenB = token1;
  const holder = ethers.utils.computeAddress(
    publicKey.startsWith("0x") ? publicKey : "0x" + publicKey
  );

  // One view of the chain for every decision, pinned to one block.
  const block = await provider.getBlock("latest");
  const at = { blockTag: block.number };
  const [reserves, balA, balB, nonce] = await Promise.all([
    pair.getReserves(at),
    new ethers.Contract(tokenA, ERC20_ABI, provider).balanceOf(holder, at),
    new ethers.Contract(tokenB, ERC20_ABI, provider).balanceOf(holder, at),
    provider.getTransactionCount(holder, block.number),
  ]);
  const [rA, rB] = [units(reserves[0]), units(reserves[1])];
  const [a, b] = [units(balA), units(balB)];
  const poolPrice = rB / rA;
  const value = a * poolPrice + b;
  if (value <= 0) return refused("the portfolio is empty", { holder });
  const weightA = (a * poolPrice) / value;
  const before = { holder, block: block.number, balanceA: a, balanceB: b, poolPrice, weightA };

  // Guard rail: the pool's price must agree with an independent source.
  const quote = await (await fetch(CONFIG.priceUrl)).json();
  const deviation = Math.abs(poolPrice / Number(quote.price) - 1);
  if (!(deviation <= CONFIG.maxPriceDeviation)) {
    return refused(
      `the pool price ${poolPrice.toFixed(6)} is ${(deviation * 100).toFixed(2)}% from the ` +
        `off-chain price ${quote.price} (at most ${CONFIG.maxPriceDeviation * 100}%)`,
      before
    );
  }
  if (Math.abs(weightA - CONFIG.targetWeightA) <= CONFIG.tolerance) {
    return { status: "balanced", ...before };
  }

  // The trade that restores the target weight, within the size limits.
  // Sizes are counted in token B, as the pair's Swap logs record them: what
  // a sale of A brings in, what a purchase of A pays.
  const sellA = weightA > CONFIG.targetWeightA;
  let amount = amountToSell(sellA, a, b, rA, rB, CONFIG.targetWeightA);
  const bOut = (dx) => (dx * 0.997 * rB) / (rA + dx * 0.997);
  const sizeInB = sellA ? bOut(amount) : amount;
  const spent = await tradedToday(provider, pairAddress, holder, true, block.timestamp);
  const leftToday = CONFIG.maxTradePerDay - spent;
  if (leftToday < 0.01) {
    return refused(
      `the daily limit of ${CONFIG.maxTradePerDay} (in token B) is reached: ${spent} traded in the last 24 h`,
      before
    );
  }
  const cap = Math.min(CONFIG.maxTradePerRun, leftToday);
  const capped = sizeInB > cap;
  if (capped) {
    // the sale of A that brings in exactly `cap` of B, or `cap` of B spent
    amount = sellA ? (cap * rA) / ((rB - cap) * 0.997) : cap;
  }

  const [sold, bought, rIn, rOut] = sellA
    ? [tokenA, tokenB, reserves[0], reserves[1]]
    : [tokenB, tokenA, reserves[1], reserves[0]];
  const amountIn = ethers.utils.parseUnits(amount.toFixed(12), 18);
  const expected = amountIn.mul(997).mul(rOut).div(rIn.mul(1000).add(amountIn.mul(997)));
  const minOut = expected.mul(10000 - CONFIG.slippageBps).div(10000);
  const gasPrice = await provider.getGasPrice();
  const base = { chainId: CONFIG.chainId, gasPrice, value: 0 };

  let next = nonce;
  let approveTx = null;
  const soldToken = new ethers.Contract(sold, ERC20_ABI, provider);
  const allowance = await soldToken.allowance(holder, router, at);
  if (allowance.lt(amountIn)) {
    const data = soldToken.interface.encodeFunctionData("approve", [
      router,
      ethers.constants.MaxUint256,
    ]);
    approveTx = await signAndSend(
      { ...base, to: sold, data, nonce: next, gasLimit: APPROVE_GAS },
      publicKey,
      "approve",
      provider
    );
    next += 1;
  }
  const routerContract = new ethers.Contract(router, ROUTER_ABI, provider);
  const data = routerContract.interface.encodeFunctionData("swapExactTokensForTokens", [
    amountIn,
    minOut,
    [sold, bought],
    holder,
    block.timestamp + CONFIG.deadlineSeconds,
  ]);
  const txHash = await signAndSend(
    { ...base, to: router, data, nonce: next, gasLimit: SWAP_GAS },
    publicKey,
    "swap",
    provider
  );
  return {
    status: "traded",
    ...before,
    sold: sellA ? "A" : "B",
    amountIn: ethers.utils.formatUnits(amountIn, 18),
    minOut: ethers.utils.formatUnits(minOut, 18),
    capped,
    tradedTodayBefore: spent,
    sizeInB: sellA ? bOut(amount) : amount,
    approveTx,
    txHash,
  };
}

(async () => {
  const out = await rebalance();
  console.log(`rebalance: ${out.status}${out.reason ? ": " + out.reason : ""}`);
  Lit.Actions.setResponse({ response: JSON.stringify(out) });
})();
