// examples/actions/solana-transfer.js run in node with a local-key shim,
// checked with @solana/web3.js through solana.mjs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  Keypair,
  Message,
  PublicKey,
  SystemInstruction,
  SystemProgram,
  Transaction,
  TransactionInstruction,
  TransactionMessage,
} from '@solana/web3.js';
import bs58 from 'bs58';
import { hex, makePkp, runAction, runScript } from './helpers.mjs';

const randomAddress = () => Keypair.generate().publicKey;
const randomBlockhash = () => bs58.encode(randomBytes(32));

async function transferMessage(pkp, lamports, to = randomAddress()) {
  const from = new PublicKey(pkp.edPublicKey);
  const out = await runScript('solana.mjs', [
    'message',
    '--from', from.toBase58(),
    '--to', to.toBase58(),
    '--lamports', String(lamports),
    '--blockhash', randomBlockhash(),
  ]);
  assert.equal(out.code, 0, out.stderr);
  return { from, to, message: out.json.message };
}

// A legacy message compiled by web3.js from arbitrary instructions, fee payer `from`.
function compiledMessage(from, instructions) {
  const tx = new Transaction({ feePayer: from, recentBlockhash: randomBlockhash() });
  tx.add(...instructions);
  return hex(tx.compileMessage().serialize());
}

test('a transfer signed by the action verifies with web3.js and assembles into a wire transaction', async () => {
  const pkp = makePkp();
  const lamports = 1_500_000n;
  const { from, to, message } = await transferMessage(pkp, lamports);
  // maxLamports equal to the amount is allowed; given as a decimal string.
  const { response, calls } = await runAction(
    'solana-transfer.js',
    { publicKey: pkp.publicKey, message, maxLamports: String(lamports) },
    pkp,
  );
  assert.equal(calls.length, 1);
  assert.equal(calls[0].signingScheme, 'SchnorrEd25519Sha512');
  const signed = JSON.parse(response);
  assert.equal(signed.signed_data, message);
  assert.equal(signed.verifying_key, hex(from.toBytes()));
  assert.equal(signed.signature.length, 128);

  const out = await runScript('solana.mjs', [
    'verify', '--message', message, '--signature', signed.signature, '--from', from.toBase58(),
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.json.verified, true);
  assert.equal(out.json.signature, bs58.encode(Buffer.from(signed.signature, 'hex')));

  // The wire transaction, decoded again by web3.js: signed by `from`, one transfer of `lamports` to `to`.
  const tx = Transaction.from(Buffer.from(out.json.transaction, 'base64'));
  assert.equal(tx.verifySignatures(), true);
  assert.equal(bs58.encode(tx.signature), out.json.signature);
  assert.equal(tx.instructions.length, 1);
  const decoded = SystemInstruction.decodeTransfer(tx.instructions[0]);
  assert.ok(decoded.fromPubkey.equals(from));
  assert.ok(decoded.toPubkey.equals(to));
  assert.equal(BigInt(decoded.lamports), lamports);
});

test('the action reads the u64 lamports exactly: maxLamports above 2^53 as a string, one lamport over is refused', async () => {
  const pkp = makePkp();
  const lamports = 2n ** 60n + 12345n;
  const { message } = await transferMessage(pkp, lamports);
  const ok = await runAction('solana-transfer.js', { publicKey: pkp.publicKey, message, maxLamports: String(lamports) }, pkp);
  assert.equal(JSON.parse(ok.response).signed_data, message);
  const refusal = runAction(
    'solana-transfer.js',
    { publicKey: pkp.publicKey, message, maxLamports: String(lamports - 1n) },
    pkp,
  );
  await assert.rejects(refusal, new RegExp(`${lamports} lamports, more than maxLamports ${lamports - 1n}`));
});

test('a transfer above maxLamports is refused without signing', async () => {
  const pkp = makePkp();
  const { message } = await transferMessage(pkp, 1001);
  const record = {};
  await assert.rejects(
    runAction('solana-transfer.js', { publicKey: pkp.publicKey, message, maxLamports: 1000 }, pkp, record),
    /refusing to sign: the transfer is 1001 lamports, more than maxLamports 1000/,
  );
  assert.equal(record.calls.length, 0);
  assert.equal(record.response, undefined);
});

test('a message that is not a single System Program transfer from the signer is refused, naming why', async () => {
  const pkp = makePkp();
  const from = new PublicKey(pkp.edPublicKey);
  const to = randomAddress();
  const transfer = (lamports) => SystemProgram.transfer({ fromPubkey: from, toPubkey: to, lamports });
  const other = randomAddress();
  const { message: good } = await transferMessage(pkp, 5);
  const v0 = new TransactionMessage({
    payerKey: from,
    recentBlockhash: randomBlockhash(),
    instructions: [transfer(5)],
  }).compileToV0Message();

  const cases = [
    [compiledMessage(from, [transfer(5), transfer(6)]), /the message has 2 instructions/],
    [
      hex(new Message({
        header: { numRequiredSignatures: 1, numReadonlySignedAccounts: 0, numReadonlyUnsignedAccounts: 0 },
        accountKeys: [from],
        recentBlockhash: randomBlockhash(),
        instructions: [],
      }).serialize()),
      /the message has 0 instructions/,
    ],
    [
      compiledMessage(from, [new TransactionInstruction({ programId: randomAddress(), keys: [], data: Buffer.from([2, 0, 0, 0]) })]),
      /not the System Program/,
    ],
    [compiledMessage(from, [SystemProgram.assign({ accountPubkey: from, programId: other })]), /instruction is 1, not Transfer \(2\)/],
    // A transfer whose source is another signer, with the PKP only paying the fee.
    [
      compiledMessage(from, [SystemProgram.transfer({ fromPubkey: other, toPubkey: to, lamports: 5 })]),
      /needs 2 signatures/,
    ],
    [good + '00', /bytes after its last instruction/],
    [good.slice(0, -2), /message ends inside instruction 0's data/],
    [hex(v0.serialize()), /versioned \(v0\) messages are not accepted/],
    ['zz', /message is not hex/],
  ];
  for (const [message, why] of cases) {
    const run = runAction('solana-transfer.js', { publicKey: pkp.publicKey, message, maxLamports: 10 ** 9 }, pkp);
    await assert.rejects(run, why, `message ${message.slice(0, 40)}... should be refused with ${why}`);
  }
});

test('a transfer from a key other than the PKP is refused after signing, with no response', async () => {
  const pkp = makePkp();
  const elsewhere = makePkp();
  const { message } = await transferMessage(elsewhere, 10);
  const record = {};
  await assert.rejects(
    runAction('solana-transfer.js', { publicKey: pkp.publicKey, message, maxLamports: 10 }, pkp, record),
    /not from this PKP's Ed25519 key/,
  );
  assert.equal(record.calls.length, 1);
  assert.equal(record.response, undefined);
});

test('a tampered signature fails solana.mjs verify with exit 1', async () => {
  const pkp = makePkp();
  const { from, message } = await transferMessage(pkp, 42);
  const { response } = await runAction('solana-transfer.js', { publicKey: pkp.publicKey, message, maxLamports: 42 }, pkp);
  const signature = Buffer.from(JSON.parse(response).signature, 'hex');
  signature[10] ^= 0x01;
  const out = await runScript('solana.mjs', [
    'verify', '--message', message, '--signature', hex(signature), '--from', from.toBase58(),
  ]);
  assert.equal(out.code, 1);
  assert.equal(out.stdout, '');
  assert.match(out.stderr, /the signature does not verify/);

  // The untampered signature over a different message fails too.
  const { message: another } = await transferMessage(pkp, 43);
  signature[10] ^= 0x01;
  const out2 = await runScript('solana.mjs', [
    'verify', '--message', another, '--signature', hex(signature), '--from', from.toBase58(),
  ]);
  assert.equal(out2.code, 1);
  assert.match(out2.stderr, /the signature does not verify/);
});
