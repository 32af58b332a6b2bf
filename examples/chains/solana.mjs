#!/usr/bin/env node
// Solana side of the Candela chain examples, built on @solana/web3.js v1.
//
//   node solana.mjs message --from <base58> --to <base58> --lamports <n> --blockhash <base58>
//     -> {"message":"<hex of the legacy Message of one SystemProgram.transfer>"}
//   node solana.mjs verify --message <hex> --signature <hex, 64 bytes> --from <base58>
//     -> {"verified":true,"transaction":"<base64 wire tx>","signature":"<base58 tx signature>"}
//
// `verify` exits 1 when the signature does not verify.
import { Message, PublicKey, SystemProgram, Transaction } from '@solana/web3.js';
import bs58 from 'bs58';
import { UsageError, decimal, hexBytes, isMain, parseFlags, run, toHex } from './lib/cli.mjs';

const USAGE = `usage:
  node solana.mjs message --from <base58> --to <base58> --lamports <n> --blockhash <base58>
  node solana.mjs verify --message <hex> --signature <hex 64 bytes> --from <base58>
`;

function publicKey(name, value) {
  try {
    return new PublicKey(value);
  } catch (err) {
    throw new UsageError(`--${name} is not a base58 Solana public key: ${JSON.stringify(value)}`);
  }
}

function blockhash(value) {
  let bytes;
  try {
    bytes = bs58.decode(value);
  } catch {
    throw new UsageError(`--blockhash is not base58: ${JSON.stringify(value)}`);
  }
  if (bytes.length !== 32) throw new UsageError(`--blockhash must decode to 32 bytes, got ${bytes.length}`);
  return value;
}

// The serialized legacy message of a transaction holding one System Program
// transfer, paid for by (and signed by) `from` alone.
export function transferMessage({ from, to, lamports, recentBlockhash }) {
  const tx = new Transaction({ feePayer: from, recentBlockhash });
  tx.add(SystemProgram.transfer({ fromPubkey: from, toPubkey: to, lamports }));
  return tx.compileMessage().serialize();
}

// Assembles the transaction of `messageBytes` with `signature` by `from` and
// checks it with web3.js. Throws when the signature does not verify.
export function assembleAndVerify({ messageBytes, signature, from }) {
  let message;
  try {
    message = Message.from(Buffer.from(messageBytes));
  } catch (err) {
    throw new Error(`the message does not parse as a legacy Solana message: ${err.message}`);
  }
  if (!Buffer.from(message.serialize()).equals(Buffer.from(messageBytes))) {
    throw new Error('the message does not re-serialize to the same bytes (trailing or non-canonical data)');
  }
  const signers = message.accountKeys.slice(0, message.header.numRequiredSignatures);
  if (!signers.some((key) => key.equals(from))) {
    throw new Error(`${from.toBase58()} is not a signer of this message`);
  }
  if (signers.length !== 1) {
    throw new Error(`the message needs ${signers.length} signatures; this script supplies only the one of --from`);
  }
  const tx = Transaction.populate(message);
  tx.addSignature(from, Buffer.from(signature));
  if (!tx.verifySignatures()) throw new Error('the signature does not verify for this message and --from');
  return {
    verified: true,
    transaction: tx.serialize().toString('base64'),
    signature: bs58.encode(signature),
  };
}

if (isMain(import.meta.url)) {
  run('solana.mjs', USAGE, async ([command, ...rest]) => {
    if (command === 'message') {
      const f = parseFlags(rest, { required: ['from', 'to', 'lamports', 'blockhash'] });
      const message = transferMessage({
        from: publicKey('from', f.from),
        to: publicKey('to', f.to),
        lamports: decimal('lamports', f.lamports, 2n ** 64n - 1n),
        recentBlockhash: blockhash(f.blockhash),
      });
      return { message: toHex(message) };
    }
    if (command === 'verify') {
      const f = parseFlags(rest, { required: ['message', 'signature', 'from'] });
      return assembleAndVerify({
        messageBytes: hexBytes('message', f.message),
        signature: hexBytes('signature', f.signature, 64),
        from: publicKey('from', f.from),
      });
    }
    throw new UsageError(command === undefined ? 'missing command' : `unknown command ${JSON.stringify(command)}`);
  });
}
