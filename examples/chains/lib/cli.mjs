// Small helpers shared by the CLI scripts: flag parsing, hex and integer
// checks, and the one-JSON-object-on-stdout / message-on-stderr convention.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// True when the module at `moduleUrl` is the script node was started with.
export function isMain(moduleUrl) {
  return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(moduleUrl));
}

export class UsageError extends Error {}

// Parses `--name value` pairs and bare `--flag`s (listed in `booleans`).
// Unknown flags, missing values and repeated flags are usage errors.
export function parseFlags(argv, { required = [], optional = [], booleans = [] }) {
  const known = new Set([...required, ...optional, ...booleans]);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const name = arg.slice(2);
    if (!known.has(name)) throw new UsageError(`unknown flag --${name}`);
    if (name in out) throw new UsageError(`--${name} given twice`);
    if (booleans.includes(name)) {
      out[name] = true;
      continue;
    }
    if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
    out[name] = argv[++i];
  }
  for (const name of required) {
    if (!(name in out)) throw new UsageError(`missing --${name}`);
  }
  for (const name of booleans) out[name] = out[name] === true;
  return out;
}

// Hex string (optionally 0x-prefixed) to bytes; `length` is checked when given.
export function hexBytes(name, value, length) {
  const hex = value.startsWith('0x') || value.startsWith('0X') ? value.slice(2) : value;
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new UsageError(`--${name} is not hex: ${JSON.stringify(value)}`);
  }
  const bytes = Uint8Array.from(Buffer.from(hex, 'hex'));
  if (length !== undefined && bytes.length !== length) {
    throw new UsageError(`--${name} must be ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

// A non-negative decimal integer as a BigInt, at most `max`.
export function decimal(name, value, max) {
  if (!/^[0-9]+$/.test(value)) throw new UsageError(`--${name} is not a non-negative integer: ${JSON.stringify(value)}`);
  const n = BigInt(value);
  if (max !== undefined && n > max) throw new UsageError(`--${name} is larger than ${max}`);
  return n;
}

export const toHex = (bytes) => Buffer.from(bytes).toString('hex');

// Runs `main(argv)`; prints its result as one JSON object. A thrown error
// prints `<script>: <message>` on stderr and exits 1 (2 for usage errors).
export async function run(script, usage, main) {
  try {
    const result = await main(process.argv.slice(2));
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (err) {
    process.stderr.write(`${script}: ${err.message}\n`);
    if (err instanceof UsageError) process.stderr.write(usage);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
