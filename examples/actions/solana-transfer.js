// Candela example action: sign a Solana transfer with the PKP's Ed25519 key,
// but only a plain SOL transfer of at most `maxLamports`.
//
// The action parses the serialized legacy Solana message itself and signs it
// only when it is exactly one System Program Transfer instruction from the
// message's single signer (the fee payer), of at most `maxLamports` lamports.
// Anything else is refused with a thrown Error saying why. The signature is
// over the message bytes (SchnorrEd25519Sha512); the response is the JSON
// string that signAndCombine resolves to, whose `verifying_key` is the
// Ed25519 public key, i.e. the Solana address in hex.
//
// jsParams: {
//   publicKey,    // the PKP's secp256k1 public key as minted (0x04... hex)
//   message,      // hex of the serialized legacy message (e.g. from
//                 // `node examples/chains/solana.mjs message ...`)
//   maxLamports,  // largest transfer allowed: a number or a decimal string
// }

const SYSTEM_PROGRAM_TRANSFER = 2;

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

const toAmount = (value, what) => {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === "string" && /^[0-9]+$/.test(value)) return BigInt(value);
  throw new Error(`${what} must be a non-negative integer (number or decimal string)`);
};

// A reader over the message bytes that fails, naming what it was reading,
// instead of running past the end.
const reader = (bytes) => {
  let pos = 0;
  const take = (n, what) => {
    if (pos + n > bytes.length) throw new Error(`message ends inside ${what}`);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  return {
    u8: (what) => take(1, what)[0],
    bytes: take,
    // Solana's compact-u16: 7 bits a byte, low bits first, at most 3 bytes.
    compactU16: (what) => {
      let value = 0;
      for (let i = 0; i < 3; i++) {
        const b = take(1, what)[0];
        value |= (b & 0x7f) << (7 * i);
        if ((b & 0x80) === 0) {
          if (value > 0xffff) throw new Error(`${what} does not fit in a compact-u16`);
          if (i > 0 && b === 0) throw new Error(`${what} is not minimally encoded`);
          return value;
        }
      }
      throw new Error(`${what} is longer than 3 bytes`);
    },
    done: () => pos === bytes.length,
  };
};

const parseLegacyMessage = (bytes) => {
  const r = reader(bytes);
  const numRequiredSignatures = r.u8("the header");
  if (numRequiredSignatures & 0x80) {
    throw new Error("versioned (v0) messages are not accepted: only a legacy message");
  }
  const numReadonlySigned = r.u8("the header");
  const numReadonlyUnsigned = r.u8("the header");
  const numKeys = r.compactU16("the account key count");
  const keys = [];
  for (let i = 0; i < numKeys; i++) keys.push(r.bytes(32, `account key ${i}`));
  if (numRequiredSignatures > numKeys || numReadonlySigned > numRequiredSignatures) {
    throw new Error("the message header does not match its account keys");
  }
  if (numReadonlyUnsigned > numKeys - numRequiredSignatures) {
    throw new Error("the message header does not match its account keys");
  }
  const recentBlockhash = r.bytes(32, "the recent blockhash");
  const numInstructions = r.compactU16("the instruction count");
  const instructions = [];
  for (let i = 0; i < numInstructions; i++) {
    const programIdIndex = r.u8(`instruction ${i}`);
    const numAccounts = r.compactU16(`instruction ${i}'s account count`);
    const accounts = Array.from(r.bytes(numAccounts, `instruction ${i}'s accounts`));
    const dataLength = r.compactU16(`instruction ${i}'s data length`);
    const data = r.bytes(dataLength, `instruction ${i}'s data`);
    for (const index of [programIdIndex, ...accounts]) {
      if (index >= numKeys) throw new Error(`instruction ${i} refers to account ${index}, past the ${numKeys} keys`);
    }
    instructions.push({ programIdIndex, accounts, data });
  }
  if (!r.done()) throw new Error("the message has bytes after its last instruction");
  return { numRequiredSignatures, numReadonlySigned, numReadonlyUnsigned, keys, recentBlockhash, instructions };
};

// The one System Program transfer of the message, or a thrown Error naming
// how the message differs from that shape.
const singleTransfer = (msg) => {
  if (msg.instructions.length !== 1) {
    throw new Error(`the message has ${msg.instructions.length} instructions; only a single transfer is signed`);
  }
  const ix = msg.instructions[0];
  if (!msg.keys[ix.programIdIndex].every((b) => b === 0)) {
    throw new Error(`the instruction's program is ${bytesToHex(msg.keys[ix.programIdIndex])}, not the System Program`);
  }
  const d = ix.data;
  if (d.length < 4) throw new Error("the System Program instruction has no instruction tag");
  const tag = d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24);
  if (tag !== SYSTEM_PROGRAM_TRANSFER) {
    throw new Error(`the System Program instruction is ${tag >>> 0}, not Transfer (2)`);
  }
  if (d.length !== 12) throw new Error(`a Transfer's data is 12 bytes, this one is ${d.length}`);
  let lamports = 0n;
  for (let i = 11; i >= 4; i--) lamports = (lamports << 8n) | BigInt(d[i]);
  if (ix.accounts.length !== 2) throw new Error(`a Transfer names 2 accounts, this one ${ix.accounts.length}`);
  if (msg.numRequiredSignatures !== 1) {
    throw new Error(`the message needs ${msg.numRequiredSignatures} signatures; only the PKP's alone is accepted`);
  }
  if (ix.accounts[0] !== 0) {
    throw new Error("the transfer is not from the message's signer and fee payer (account 0)");
  }
  return { from: msg.keys[ix.accounts[0]], to: msg.keys[ix.accounts[1]], lamports };
};

(async () => {
  const messageBytes = hexToBytes(message, "message");
  const limit = toAmount(maxLamports, "maxLamports");
  const transfer = singleTransfer(parseLegacyMessage(messageBytes));
  if (transfer.lamports > limit) {
    throw new Error(`refusing to sign: the transfer is ${transfer.lamports} lamports, more than maxLamports ${limit}`);
  }
  const result = await Lit.Actions.signAndCombine({
    toSign: messageBytes,
    publicKey,
    sigName: "solana-transfer",
    signingScheme: "SchnorrEd25519Sha512",
  });
  // The signature only makes a valid transaction when the PKP's Ed25519 key
  // is the transfer's source; say so instead of returning a useless one.
  const verifyingKey = JSON.parse(result).verifying_key.toLowerCase().replace(/^0x/, "");
  if (verifyingKey !== bytesToHex(transfer.from)) {
    throw new Error(`the transfer is from ${bytesToHex(transfer.from)}, not from this PKP's Ed25519 key ${verifyingKey}`);
  }
  Lit.Actions.setResponse({ response: result });
})();
