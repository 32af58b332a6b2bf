#!/usr/bin/env node
// Test-vector generator for candela-conditions' canonical JSON and hash.
//
// Re-implements, independently, the behaviour of Lit's JS SDK
// (@lit-protocol/access-control-conditions: canonicalFormatter.ts and
// hashing.ts): each condition object is rebuilt with a fixed key order and
// only known keys, the list is JSON.stringify'd and hashed with SHA-256.
// Prints vectors.json ({name, kind, conditions, canonical, hash}[]) to stdout.
//
//   node gen.mjs > vectors.json
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

const abiParams = (ps) => ps.map((p) => ({ name: p.name, type: p.type }));

function evmBasic(c) {
  return {
    contractAddress: c.contractAddress,
    chain: c.chain,
    standardContractType: c.standardContractType,
    method: c.method,
    parameters: c.parameters,
    returnValueTest: { comparator: c.returnValueTest.comparator, value: c.returnValueTest.value },
  };
}

function evmContract(c) {
  const abi = c.functionAbi;
  return {
    contractAddress: c.contractAddress,
    functionName: c.functionName,
    functionParams: c.functionParams,
    functionAbi: {
      name: abi.name,
      inputs: abiParams(abi.inputs),
      outputs: abiParams(abi.outputs),
      constant: abi.constant === undefined ? false : abi.constant,
      stateMutability: abi.stateMutability, // dropped by JSON.stringify when undefined
    },
    chain: c.chain,
    returnValueTest: {
      key: c.returnValueTest.key,
      comparator: c.returnValueTest.comparator,
      value: c.returnValueTest.value,
    },
  };
}

function format(kind, item) {
  if (Array.isArray(item)) return item.map((i) => format(kind, i));
  if ('operator' in item) return { operator: item.operator };
  if (!('returnValueTest' in item)) throw new Error('not a condition');
  if (kind === 'accessControlConditions') return evmBasic(item);
  if (kind === 'evmContractConditions') return evmContract(item);
  if (item.conditionType === 'evmBasic') return evmBasic(item);
  if (item.conditionType === 'evmContract') return evmContract(item);
  throw new Error(`conditionType ${item.conditionType}`);
}

const cases = JSON.parse(fs.readFileSync(path.join(here, 'cases.json'), 'utf8'));
const out = cases.map(({ name, kind, conditions }) => {
  const canonical = JSON.stringify(conditions.map((c) => format(kind, c)));
  const hash = createHash('sha256').update(Buffer.from(canonical, 'utf8')).digest('hex');
  return { name, kind, conditions, canonical, hash };
});
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
