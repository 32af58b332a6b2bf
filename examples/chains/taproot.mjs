#!/usr/bin/env node
// Bitcoin taproot side of the Candela chain examples, built on bitcoinjs-lib v6
// and checked with @noble/curves. The transaction spends one P2TR output of
// the BIP-86 output key Q (key path, no script tree) to one destination, with
// no change output: the fee is prev-value - amount.
//
//   node taproot.mjs unsigned --output-key <hex 32, x-only Q> --prev-txid <hex 32> --prev-vout <n>
//                             --prev-value <sats> --to <address> --amount <sats> [--network regtest|testnet|bitcoin]
//     -> {"network", "address", "version", "locktime", "prevTxid", "prevVout", "prevValue",
//         "prevScript", "sequence", "to", "outputScript", "amount", "fee", "sighash"}
//   node taproot.mjs verify <the same flags> --signature <hex 64>
//     -> {"verified":true,"tx":"<hex of the signed tx>","txid":"<hex>"}
//
// `verify` exits 1 when the BIP-340 signature does not verify against Q and
// the BIP-341 key-path SIGHASH_DEFAULT sighash of the transaction.
import * as ecc from '@bitcoinerlab/secp256k1';
import { schnorr } from '@noble/curves/secp256k1';
import { Transaction, address, initEccLib, networks, payments } from 'bitcoinjs-lib';
import { UsageError, decimal, hexBytes, isMain, parseFlags, run, toHex } from './lib/cli.mjs';

initEccLib(ecc);

const USAGE = `usage:
  node taproot.mjs unsigned --output-key <hex 32> --prev-txid <hex 32> --prev-vout <n> --prev-value <sats>
                            --to <address> --amount <sats> [--network regtest|testnet|bitcoin]
  node taproot.mjs verify   <the same flags> --signature <hex 64>
`;

const TX_FLAGS = {
  required: ['output-key', 'prev-txid', 'prev-vout', 'prev-value', 'to', 'amount'],
  optional: ['network'],
};
const MAX_MONEY = 21_000_000n * 100_000_000n;
const VERSION = 2;
const LOCKTIME = 0;
const SEQUENCE = 0xffffffff;

// The one-input, one-output spend described by the flags, with its
// bitcoinjs-lib sighash. Everything the example action needs is in `fields`.
export function buildSpend(f) {
  const networkName = f.network ?? 'regtest';
  const network = networks[networkName];
  if (!['regtest', 'testnet', 'bitcoin'].includes(networkName) || network === undefined) {
    throw new UsageError(`--network must be regtest, testnet or bitcoin, got ${JSON.stringify(networkName)}`);
  }
  const outputKey = Buffer.from(hexBytes('output-key', f['output-key'], 32));
  if (!ecc.isXOnlyPoint(outputKey)) throw new UsageError('--output-key is not an x-only secp256k1 point');
  const prevTxid = hexBytes('prev-txid', f['prev-txid'], 32);
  const prevVout = Number(decimal('prev-vout', f['prev-vout'], 0xffffffffn));
  const prevValue = decimal('prev-value', f['prev-value'], MAX_MONEY);
  const amount = decimal('amount', f.amount, MAX_MONEY);
  if (amount > prevValue) throw new UsageError(`--amount ${amount} is more than --prev-value ${prevValue}`);

  const spent = payments.p2tr({ pubkey: outputKey, network });
  let outputScript;
  try {
    outputScript = address.toOutputScript(f.to, network);
  } catch (err) {
    throw new UsageError(`--to is not a ${networkName} address: ${err.message}`);
  }

  const tx = new Transaction();
  tx.version = VERSION;
  tx.locktime = LOCKTIME;
  // bitcoinjs-lib wants the txid in internal byte order (reversed display order).
  tx.addInput(Buffer.from(prevTxid).reverse(), prevVout, SEQUENCE);
  tx.addOutput(outputScript, Number(amount));
  const sighash = tx.hashForWitnessV1(0, [spent.output], [Number(prevValue)], Transaction.SIGHASH_DEFAULT);

  return {
    tx,
    outputKey,
    sighash,
    fields: {
      network: networkName,
      address: spent.address,
      version: VERSION,
      locktime: LOCKTIME,
      prevTxid: toHex(prevTxid),
      prevVout,
      prevValue: Number(prevValue),
      prevScript: toHex(spent.output),
      sequence: SEQUENCE,
      to: f.to,
      outputScript: toHex(outputScript),
      amount: Number(amount),
      fee: Number(prevValue - amount),
      sighash: toHex(sighash),
    },
  };
}

if (isMain(import.meta.url)) {
  run('taproot.mjs', USAGE, async ([command, ...rest]) => {
    if (command === 'unsigned') {
      return buildSpend(parseFlags(rest, TX_FLAGS)).fields;
    }
    if (command === 'verify') {
      const f = parseFlags(rest, { ...TX_FLAGS, required: [...TX_FLAGS.required, 'signature'] });
      const signature = hexBytes('signature', f.signature, 64);
      const { tx, outputKey, sighash } = buildSpend(f);
      if (!schnorr.verify(signature, sighash, outputKey)) {
        throw new Error('the BIP-340 signature does not verify against --output-key and the key-path sighash');
      }
      tx.setWitness(0, [Buffer.from(signature)]);
      return { verified: true, tx: tx.toHex(), txid: tx.getId() };
    }
    throw new UsageError(command === undefined ? 'missing command' : `unknown command ${JSON.stringify(command)}`);
  });
}
