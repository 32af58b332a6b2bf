// Candela example action: sign a Bitcoin taproot key-path spend with the PKP,
// but only to an allowed destination and for at most `maxAmount` satoshis.
//
// The transaction has one input, spending a P2TR output of the PKP's BIP-86
// output key Q, and one output. The action computes the BIP-341 key-path
// SIGHASH_DEFAULT sighash of that transaction itself (tagged SHA-256 hashes
// via crypto.subtle), checks the output against the policy, and signs the
// sighash with SchnorrK256Taproot. The response is the JSON that
// signAndCombine resolves to (signature: 64-byte BIP-340 signature hex,
// verifying_key: x-only Q hex) with the computed `sighash` hex added.
// A policy violation or a malformed field is refused with a thrown Error.
//
// jsParams: {
//   publicKey,     // the PKP's secp256k1 public key as minted (0x04... hex)
//   // The transaction, as printed by `node examples/chains/taproot.mjs unsigned ...`
//   // (its other fields -- network, address, to, fee, sighash -- are ignored):
//   version,       // transaction version (u32), e.g. 2
//   locktime,      // nLockTime (u32), e.g. 0
//   prevTxid,      // hex txid of the spent output, in the usual display order
//   prevVout,      // its output index
//   prevValue,     // its value in satoshis
//   prevScript,    // its scriptPubKey hex: 5120 followed by x-only Q
//   sequence,      // the input's nSequence (u32), e.g. 4294967295
//   outputScript,  // the one output's scriptPubKey hex
//   amount,        // the one output's value in satoshis
//   // The policy:
//   maxAmount,     // largest `amount` signed (satoshis)
//   allowedTo,     // allowed destination: an output scriptPubKey hex, or an
//                  // array of them (taproot.mjs prints the one of an address
//                  // as `outputScript`)
//   maxFee,        // optional: largest fee (prevValue - amount) signed
// }
// Amounts are numbers or decimal strings.

const hexToBytes = (hex, what) => {
  if (typeof hex !== "string") throw new Error(`${what} must be a hex string`);
  const h = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new Error(`${what} is not hex`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
};

const bytesToHex = (bytes) => {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
};

const toInteger = (value, what, max) => {
  let n;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) n = BigInt(value);
  else if (typeof value === "string" && /^[0-9]+$/.test(value)) n = BigInt(value);
  else throw new Error(`${what} must be a non-negative integer (number or decimal string)`);
  if (n > max) throw new Error(`${what} is larger than ${max}`);
  return n;
};

const U32_MAX = 0xffffffffn;
const MAX_MONEY = 2100000000000000n;

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
};

const littleEndian = (value, bytes) => {
  const out = new Uint8Array(bytes);
  let v = BigInt(value);
  for (let i = 0; i < bytes; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
};

// Bitcoin's CompactSize length prefix (scripts here are far below 2^32).
const compactSize = (n) => {
  if (n < 0xfd) return Uint8Array.of(n);
  if (n <= 0xffff) return concat(Uint8Array.of(0xfd), littleEndian(n, 2));
  return concat(Uint8Array.of(0xfe), littleEndian(n, 4));
};

const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));

// BIP-340 tagged hash: SHA256(SHA256(tag) || SHA256(tag) || msg).
const taggedHash = async (tag, msg) => {
  const tagHash = await sha256(new TextEncoder().encode(tag));
  return sha256(concat(tagHash, tagHash, msg));
};

// BIP-341 signature message of input 0 for SIGHASH_DEFAULT (hash_type 0x00),
// key path (ext_flag 0) and no annex, hashed with the "TapSighash" tag.
const keyPathSighash = async (tx) => {
  const txidInternal = tx.prevTxid.slice().reverse();
  const shaPrevouts = await sha256(concat(txidInternal, littleEndian(tx.prevVout, 4)));
  const shaAmounts = await sha256(littleEndian(tx.prevValue, 8));
  const shaScriptPubkeys = await sha256(concat(compactSize(tx.prevScript.length), tx.prevScript));
  const shaSequences = await sha256(littleEndian(tx.sequence, 4));
  const shaOutputs = await sha256(
    concat(littleEndian(tx.amount, 8), compactSize(tx.outputScript.length), tx.outputScript),
  );
  const sigMsg = concat(
    Uint8Array.of(0x00), // hash_type: SIGHASH_DEFAULT
    littleEndian(tx.version, 4),
    littleEndian(tx.locktime, 4),
    shaPrevouts,
    shaAmounts,
    shaScriptPubkeys,
    shaSequences,
    shaOutputs,
    Uint8Array.of(0x00), // spend_type: key path, no annex
    littleEndian(0, 4), // input_index
  );
  return taggedHash("TapSighash", concat(Uint8Array.of(0x00), sigMsg)); // epoch 0
};

(async () => {
  const tx = {
    version: toInteger(version, "version", U32_MAX),
    locktime: toInteger(locktime, "locktime", U32_MAX),
    prevTxid: hexToBytes(prevTxid, "prevTxid"),
    prevVout: toInteger(prevVout, "prevVout", U32_MAX),
    prevValue: toInteger(prevValue, "prevValue", MAX_MONEY),
    prevScript: hexToBytes(prevScript, "prevScript"),
    sequence: toInteger(sequence, "sequence", U32_MAX),
    outputScript: hexToBytes(outputScript, "outputScript"),
    amount: toInteger(amount, "amount", MAX_MONEY),
  };
  if (tx.prevTxid.length !== 32) throw new Error(`prevTxid must be 32 bytes, got ${tx.prevTxid.length}`);
  if (tx.prevScript.length !== 34 || tx.prevScript[0] !== 0x51 || tx.prevScript[1] !== 0x20) {
    throw new Error("prevScript is not a P2TR output script (5120 followed by 32 bytes)");
  }
  if (tx.outputScript.length === 0) throw new Error("outputScript is empty");

  // The policy.
  const limit = toInteger(maxAmount, "maxAmount", MAX_MONEY);
  if (tx.amount > limit) {
    throw new Error(`refusing to sign: amount ${tx.amount} sats is more than maxAmount ${limit}`);
  }
  if (tx.amount > tx.prevValue) {
    throw new Error(`refusing to sign: amount ${tx.amount} sats is more than the spent output's ${tx.prevValue}`);
  }
  const fee = tx.prevValue - tx.amount;
  if (typeof maxFee !== "undefined" && maxFee !== null) {
    const feeLimit = toInteger(maxFee, "maxFee", MAX_MONEY);
    if (fee > feeLimit) throw new Error(`refusing to sign: fee ${fee} sats is more than maxFee ${feeLimit}`);
  }
  const allowed = (Array.isArray(allowedTo) ? allowedTo : [allowedTo]).map((s, i) =>
    bytesToHex(hexToBytes(s, `allowedTo[${i}]`)),
  );
  const destination = bytesToHex(tx.outputScript);
  if (!allowed.includes(destination)) {
    throw new Error(`refusing to sign: destination script ${destination} is not in allowedTo`);
  }

  const sighash = await keyPathSighash(tx);
  const result = JSON.parse(
    await Lit.Actions.signAndCombine({
      toSign: sighash,
      publicKey,
      sigName: "taproot-spend",
      signingScheme: "SchnorrK256Taproot",
    }),
  );
  // The signature spends the output only when it is locked to this PKP's Q.
  const outputKey = String(result.verifying_key).toLowerCase().replace(/^0x/, "");
  if (outputKey !== bytesToHex(tx.prevScript.subarray(2))) {
    throw new Error(`prevScript is locked to ${bytesToHex(tx.prevScript.subarray(2))}, not to this PKP's output key ${outputKey}`);
  }
  Lit.Actions.setResponse({ response: JSON.stringify({ ...result, sighash: bytesToHex(sighash) }) });
})();
