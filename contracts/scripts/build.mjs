#!/usr/bin/env node
// Compile contracts/src with the pinned solc-js builds (package.json) into
// contracts/out/<Contract>.json = { contractName, sourceName, abi, bytecode,
// deployedBytecode, compiler }. Fails on any compiler error.
//
// Two compilation units:
//   - src/deriver/** with solc 0.6.12 (npm alias `solc-0.6.12`): the key
//     deriver built on the npm package elliptic-curve-solidity, whose pragma
//     is `>=0.5.3 <0.7.0`;
//   - everything else in src/ with solc 0.8.28.
// Imports that are not files under contracts/ resolve from node_modules
// (e.g. "elliptic-curve-solidity/contracts/EllipticCurve.sol").
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const solc = require('solc');
const solc06 = require('solc-0.6.12');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'src');
const deriverDir = path.join(srcDir, 'deriver');
const outDir = path.join(root, 'out');

// Contracts whose artifacts are written (the deployable ones).
const ARTIFACTS = [
  'PKPNFT', 'PKPPermissions', 'Staking', 'Secp256k1KeyDeriver',
  // Test tokens for the access-control condition tests (crates/candela-conditions).
  'TestERC20', 'TestERC721', 'TestERC1155',
];

export const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.methodIdentifiers'] },
  },
};

function collect(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...collect(p));
    else if (entry.name.endsWith('.sol')) out.push(p);
  }
  return out.sort();
}

// solc 0.6.12 knows no EVM version after istanbul; its bytecode runs on cancun.
export const SETTINGS_06 = { ...SETTINGS, evmVersion: 'istanbul' };

/** solc-js import callback: a file under contracts/, else an npm package in node_modules. */
function findImports(p) {
  const local = path.join(root, p);
  if (!p.startsWith('node_modules/') && fs.existsSync(local)) return { contents: fs.readFileSync(local, 'utf8') };
  let file;
  try {
    file = require.resolve(p, { paths: [root] });
  } catch {
    return { error: `not found: ${p}` };
  }
  return { contents: fs.readFileSync(file, 'utf8') };
}

function compileWith(compiler, files, settings) {
  const sources = {};
  for (const file of files) {
    const rel = path.relative(root, file).split(path.sep).join('/');
    sources[rel] = { content: fs.readFileSync(file, 'utf8') };
  }
  const input = { language: 'Solidity', sources, settings };
  const output = JSON.parse(compiler.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) {
    process.stderr.write(`${e.severity}: ${e.formattedMessage || e.message}\n`);
  }
  if (errors.length) throw new Error(`solc ${compiler.version()}: ${errors.length} error(s)`);
  output.compiler = { version: compiler.version(), settings };
  return output;
}

/** Both compilation units: [{ contracts, compiler }, ...]. */
export function compile() {
  const all = collect(srcDir);
  const inDeriver = (f) => f.startsWith(deriverDir + path.sep);
  return [
    compileWith(solc06, all.filter(inDeriver), SETTINGS_06),
    compileWith(solc, all.filter((f) => !inDeriver(f)), SETTINGS),
  ];
}

function main() {
  fs.mkdirSync(outDir, { recursive: true });
  for (const output of compile()) {
    const { version, settings } = output.compiler;
    for (const [sourceName, contracts] of Object.entries(output.contracts)) {
      if (!sourceName.startsWith('src/')) continue; // not the npm libraries
      for (const [name, c] of Object.entries(contracts)) {
        if (!ARTIFACTS.includes(name)) continue;
        const artifact = {
          contractName: name,
          sourceName,
          compiler: { name: 'solc', version, settings: { evmVersion: settings.evmVersion, optimizer: settings.optimizer } },
          abi: c.abi,
          bytecode: '0x' + c.evm.bytecode.object,
          deployedBytecode: '0x' + c.evm.deployedBytecode.object,
          methodIdentifiers: c.evm.methodIdentifiers,
        };
        fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + '\n');
        const size = c.evm.deployedBytecode.object.length / 2;
        console.log(`built ${name} (${sourceName}, solc ${version}): ${size} bytes deployed${size > 24576 ? ' — OVER EIP-170 LIMIT' : ''}`);
        if (size > 24576) process.exitCode = 1;
      }
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
