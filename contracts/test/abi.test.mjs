// The ABI we compile vs the ABI Lit publishes in @lit-protocol/contracts
// (the version pinned in package.json, the one @lit-protocol/*@7.4.0 uses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadArtifact, ROOT } from '../scripts/lib.mjs';

// The package's "exports" hide package.json, so read the installed files directly.
const LIT_DIR = path.join(ROOT, 'node_modules', '@lit-protocol', 'contracts');
const LIT_VERSION = JSON.parse(fs.readFileSync(path.join(LIT_DIR, 'package.json'), 'utf8')).version;
// The networks of the v7 SDK (constants/mappers: datil-dev, datil-test, datil, custom = datil-dev).
const NETWORKS = ['datil', 'datil-dev', 'datil-test'];

function litAbi(network, contract) {
  const file = path.join(LIT_DIR, 'dist', 'prod', `${network}.json`);
  const data = JSON.parse(fs.readFileSync(file, 'utf8')).data;
  const entry = data.find((c) => c.name === contract);
  assert.ok(entry, `${contract} missing from ${network}`);
  return entry.contracts[0].ABI;
}

/** JSON with object keys sorted recursively (array order kept). */
function canonical(value) {
  const sort = (v) =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])]))
        : v;
  return JSON.stringify(sort(value));
}

const FN = 'getActiveUnkickedValidatorStructsAndCounts';

test(`pinned @lit-protocol/contracts is 0.0.74`, () => {
  assert.equal(LIT_VERSION, '0.0.74');
});

for (const network of NETWORKS) {
  test(`Staking.${FN} ABI is byte-for-byte Lit's (${network}, @lit-protocol/contracts ${LIT_VERSION})`, () => {
    const theirs = litAbi(network, 'Staking').filter((f) => f.name === FN);
    const ours = loadArtifact('Staking').abi.filter((f) => f.name === FN);
    assert.equal(theirs.length, 1);
    assert.equal(ours.length, 1);
    assert.equal(canonical(ours[0]), canonical(theirs[0]));
  });
}

test(`${FN} output shape (documented in README)`, () => {
  const [f] = loadArtifact('Staking').abi.filter((x) => x.name === FN);
  const shape = f.outputs.map((o) => (o.components ? `${o.type}(${o.components.map((c) => `${c.type} ${c.name}`).join(', ')})` : o.type));
  assert.deepEqual(shape, [
    'tuple(uint256 epochLength, uint256 number, uint256 endTime, uint256 retries, uint256 timeout)',
    'uint256',
    'tuple[](uint32 ip, uint128 ipv6, uint32 port, address nodeAddress, uint256 reward, uint256 senderPubKey, uint256 receiverPubKey)',
  ]);
});

// Every function, event and error we share a name with Lit must have Lit's
// exact ABI entry (one of them, for overloads). Lit's PKPNFT events of the
// pubkey router live in its PubkeyRouter contract.
const PAIRS = [
  ['PKPNFT', ['PKPNFT', 'PubkeyRouter']],
  ['PKPPermissions', ['PKPPermissions']],
  ['Staking', ['Staking']],
];

for (const [ours, litNames] of PAIRS) {
  test(`${ours}: every entry named like one of Lit's matches it exactly`, () => {
    const theirs = litNames.flatMap((n) => litAbi('datil', n));
    const theirByName = new Map();
    for (const f of theirs) {
      if (!f.name) continue;
      const key = `${f.type}:${f.name}`;
      theirByName.set(key, [...(theirByName.get(key) ?? []), canonical(f)]);
    }
    let shared = 0;
    const mismatches = [];
    for (const f of loadArtifact(ours).abi) {
      if (!f.name) continue;
      const candidates = theirByName.get(`${f.type}:${f.name}`);
      if (!candidates) continue;
      shared++;
      if (!candidates.includes(canonical(f))) mismatches.push(`${f.type} ${f.name}`);
    }
    assert.deepEqual(mismatches, []);
    assert.ok(shared > 10, `only ${shared} shared entries`);
  });
}

test('the Lit SDK functions Candela must serve exist with Lit ABI', () => {
  const names = (c) => new Set(loadArtifact(c).abi.map((f) => f.name));
  for (const fn of ['mintNext', 'mintGrantAndBurnNext', 'getPubkey', 'getEthAddress', 'tokenOfOwnerByIndex', 'balanceOf', 'ownerOf', 'mintCost', 'getNextDerivedKeyId', 'exists', 'burn']) {
    assert.ok(names('PKPNFT').has(fn), `PKPNFT.${fn}`);
  }
  for (const fn of [
    'addPermittedAction', 'removePermittedAction', 'addPermittedAddress', 'removePermittedAddress',
    'addPermittedAuthMethod', 'removePermittedAuthMethod', 'addPermittedAuthMethodScope', 'removePermittedAuthMethodScope',
    'isPermittedAction', 'isPermittedAddress', 'isPermittedAuthMethod', 'getPermittedActions', 'getPermittedAddresses',
    'getPermittedAuthMethods', 'getPermittedAuthMethodScopes', 'getAuthMethodId', 'getTokenIdsForAuthMethod',
    'batchAddRemoveAuthMethods', 'isPermittedAuthMethodScopePresent', 'getUserPubkeyForAuthMethod',
  ]) {
    assert.ok(names('PKPPermissions').has(fn), `PKPPermissions.${fn}`);
  }
  for (const fn of [FN, 'epoch', 'state', 'currentValidatorCountForConsensus', 'getValidatorsInCurrentEpoch', 'getKickedValidators']) {
    assert.ok(names('Staking').has(fn), `Staking.${fn}`);
  }
});
