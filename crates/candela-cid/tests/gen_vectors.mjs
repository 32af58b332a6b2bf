// Regenerates tests/vectors.json with independent JavaScript implementations
// of the IPFS UnixFS importer, so the Rust crate is checked against code it
// shares nothing with.
//
// How to run (needs network access to the npm registry once):
//
//   mkdir -p /tmp/cid-vectors && cd /tmp/cid-vectors
//   npm init -y >/dev/null
//   npm install ipfs-only-hash@4.0.0 ipfs-unixfs-importer@17.1.1
//   node /path/to/crates/candela-cid/tests/gen_vectors.mjs \
//     > /path/to/crates/candela-cid/tests/vectors.json
//
// The packages are resolved from ./node_modules of the *current directory*
// (not of this script), so the repository never needs a node_modules tree.
//
// Every CID is computed by
//   A. ipfs-only-hash 4.0.0 (which bundles ipfs-unixfs-importer 7.0.3) with
//      the kubo `ipfs add` defaults set explicitly,
//   B. ipfs-only-hash 4.0.0 with no options at all (its defaults), for the
//      kubo-default vectors only,
//   C. ipfs-unixfs-importer 17.1.1 with the same settings set explicitly
//      (its own defaults are CIDv1 + raw leaves, so they MUST be set), and
//   D. ipfs-unixfs-importer 17.1.1 with `profile: 'unixfs-v0-2015'`, for the
//      kubo-default vectors only,
// and the script aborts unless all of them agree.
//
// kubo `ipfs add --only-hash` defaults: CIDv0, dag-pb UnixFS File leaves (no
// raw leaves), chunker size-262144, balanced layout, 174 links per node,
// sha2-256.

import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const cwd = process.cwd()
const require = createRequire(join(cwd, 'noop.js'))

function pkgDir (name) {
  return join(cwd, 'node_modules', name)
}
function pkgVersion (dir) {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version
}
// ESM-only packages: import the file named by their "exports" map.
async function importEsm (name, subpath = '.') {
  const dir = pkgDir(name)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const target = pkg.exports[subpath].import
  return import(pathToFileURL(join(dir, target)).href)
}

const onlyHash = require('ipfs-only-hash')
const { importer } = await importEsm('ipfs-unixfs-importer')
const { fixedSize } = await importEsm('ipfs-unixfs-importer', './chunker')
const { balanced } = await importEsm('ipfs-unixfs-importer', './layout')

const versions = {
  'ipfs-only-hash': pkgVersion(pkgDir('ipfs-only-hash')),
  'ipfs-only-hash/node_modules/ipfs-unixfs-importer': pkgVersion(
    join(pkgDir('ipfs-only-hash'), 'node_modules', 'ipfs-unixfs-importer')
  ),
  'ipfs-unixfs-importer': pkgVersion(pkgDir('ipfs-unixfs-importer'))
}

const KUBO_CHUNK = 262144
const KUBO_MAX_CHILDREN = 174

// ---- deterministic inputs (mirrored in tests/vectors.rs) -------------------

const GENERATORS = {
  text: 'UTF-8 bytes of the vector\'s "text" field',
  pattern: 'byte[i] = (i * 31 + 7) mod 251, i = 0..len',
  lcg: 'state = 1; for each byte: state = (state * 1664525 + 1013904223) mod 2^32; byte = state >> 24',
  zeros: 'len zero bytes'
}

function generate (input) {
  switch (input.gen) {
    case 'text':
      return new TextEncoder().encode(input.text)
    case 'pattern': {
      const out = new Uint8Array(input.len)
      for (let i = 0; i < input.len; i++) out[i] = (i * 31 + 7) % 251
      return out
    }
    case 'lcg': {
      const out = new Uint8Array(input.len)
      let state = 1
      for (let i = 0; i < input.len; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0
        out[i] = state >>> 24
      }
      return out
    }
    case 'zeros':
      return new Uint8Array(input.len)
    default:
      throw new Error(`unknown generator ${input.gen}`)
  }
}

// ---- the implementations ---------------------------------------------------

// ipfs-unixfs-importer >= 13 has no onlyHash option: it always calls put(),
// so hand it a blockstore that discards every block.
const blockstore = {
  get: async () => { throw new Error('unexpected blockstore get') },
  put: async (cid) => cid,
  has: async () => false
}

async function viaOnlyHashExplicit (bytes, chunkSize, maxChildren) {
  return onlyHash.of(bytes, {
    cidVersion: 0,
    rawLeaves: false,
    leafType: 'file',
    hashAlg: 'sha2-256',
    chunker: 'fixed',
    maxChunkSize: chunkSize,
    avgChunkSize: chunkSize,
    minChunkSize: chunkSize,
    strategy: 'balanced',
    maxChildrenPerNode: maxChildren,
    reduceSingleLeafToSelf: true
  })
}

async function viaOnlyHashDefaults (bytes) {
  return onlyHash.of(bytes)
}

async function lastCid (source, options) {
  let cid
  for await (const entry of importer(source, blockstore, options)) cid = entry.cid
  return cid
}

async function viaImporterExplicit (bytes, chunkSize, maxChildren) {
  const cid = await lastCid([{ content: bytes }], {
    cidVersion: 0,
    rawLeaves: false,
    leafType: 'file',
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize }),
    layout: balanced({ maxChildrenPerNode: maxChildren })
  })
  return cid.toString()
}

async function viaImporterProfile (bytes) {
  const cid = await lastCid([{ content: bytes }], {
    profile: 'unixfs-v0-2015'
  })
  return cid.toString()
}

// ---- the vector list -------------------------------------------------------

const kubo = [
  ['empty file', { gen: 'text', text: '' }],
  ['hello world\\n', { gen: 'text', text: 'hello world\n' }],
  ['one byte', { gen: 'pattern', len: 1 }],
  ['1000 pseudo-random bytes', { gen: 'lcg', len: 1000 }],
  ['exactly one chunk', { gen: 'pattern', len: KUBO_CHUNK }],
  ['one chunk + 1 byte', { gen: 'pattern', len: KUBO_CHUNK + 1 }],
  ['exactly two chunks', { gen: 'lcg', len: 2 * KUBO_CHUNK }],
  ['1 MiB of zeros (identical leaves)', { gen: 'zeros', len: 1 << 20 }],
  ['~5 MiB (partial last chunk)', { gen: 'lcg', len: 5 * (1 << 20) + 12345 }],
  ['exactly 174 chunks (one full layer)', { gen: 'pattern', len: KUBO_MAX_CHILDREN * KUBO_CHUNK }],
  ['174 chunks + 1 byte (second layer)', { gen: 'pattern', len: KUBO_MAX_CHILDREN * KUBO_CHUNK + 1 }]
].map(([name, input]) => ({ name, input, chunk_size: KUBO_CHUNK, max_children: KUBO_MAX_CHILDREN }))

// Small chunking parameters reach trees several layers deep cheaply
// (a third layer at kubo defaults needs > 7 GiB of input).
const small = []
for (const len of [0, 1, 4, 5, 12, 13, 36, 37, 108, 109, 1000]) {
  small.push({ name: `chunk 4, fanout 3, ${len} bytes`, input: { gen: 'lcg', len }, chunk_size: 4, max_children: 3 })
}
for (const len of [2, 3, 7, 8, 9, 33]) {
  small.push({ name: `chunk 1, fanout 2, ${len} bytes`, input: { gen: 'pattern', len }, chunk_size: 1, max_children: 2 })
}
small.push({ name: 'chunk 1000, fanout 174, 174001 bytes', input: { gen: 'lcg', len: 174001 }, chunk_size: 1000, max_children: 174 })

const vectors = []
for (const v of [...kubo, ...small]) {
  const bytes = generate(v.input)
  const isKubo = v.chunk_size === KUBO_CHUNK && v.max_children === KUBO_MAX_CHILDREN
  const results = {
    onlyHashExplicit: await viaOnlyHashExplicit(bytes, v.chunk_size, v.max_children),
    importerExplicit: await viaImporterExplicit(bytes, v.chunk_size, v.max_children)
  }
  if (isKubo) {
    results.onlyHashDefaults = await viaOnlyHashDefaults(bytes)
    results.importerProfile = await viaImporterProfile(bytes)
  }
  const distinct = new Set(Object.values(results))
  if (distinct.size !== 1) {
    throw new Error(`implementations disagree for ${v.name}: ${JSON.stringify(results)}`)
  }
  vectors.push({ ...v, cid: results.onlyHashExplicit, checked_by: Object.keys(results) })
  process.stderr.write(`${results.onlyHashExplicit}  ${v.name}\n`)
}

const out = {
  about: 'CIDv0 test vectors generated by tests/gen_vectors.mjs; see that file for how to regenerate.',
  generated_with: { node: process.version, packages: versions },
  settings: 'cidVersion 0, rawLeaves false, leafType file, fixed-size chunker of chunk_size bytes, balanced layout with max_children links per node, sha2-256',
  generators: GENERATORS,
  vectors
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n')
