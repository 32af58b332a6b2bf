#!/usr/bin/env node
// Deploy Staking, Secp256k1KeyDeriver, PKPNFT and PKPPermissions and print
// their addresses as JSON.
//
//   node deploy.mjs --rpc-url URL --private-key HEX [--root-pubkey 0x04…]
//                   [--epoch-length SECS] [--epoch-timeout SECS]
//
// The deployer becomes the owner (administrator) of the three registry
// contracts (the key deriver is stateless and has no owner) and
// wires them together (PKPNFT -> PKPPermissions, PKPNFT -> Staking). Without
// --root-pubkey, call PKPNFT.setRootPubkey(bytes) before the first mint.
import { parseArgs } from 'node:util';
import { JsonRpcProvider, Wallet, NonceManager } from 'ethers';
import { deployAll } from './scripts/lib.mjs';

const usage = 'usage: node deploy.mjs --rpc-url URL --private-key HEX [--root-pubkey 0x04..] [--epoch-length SECS] [--epoch-timeout SECS]';

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'rpc-url': { type: 'string' },
        'private-key': { type: 'string' },
        'root-pubkey': { type: 'string' },
        'epoch-length': { type: 'string', default: '3600' },
        'epoch-timeout': { type: 'string', default: '60' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    return;
  }
  if (!values['rpc-url'] || !values['private-key']) {
    console.error(usage);
    process.exit(2);
  }
  const key = values['private-key'].startsWith('0x') ? values['private-key'] : `0x${values['private-key']}`;
  const provider = new JsonRpcProvider(values['rpc-url'], undefined, { staticNetwork: true, pollingInterval: 250, cacheTimeout: -1 });
  const wallet = new Wallet(key, provider);
  const signer = new NonceManager(wallet);
  const { chainId } = await provider.getNetwork();
  const { staking, keyDeriver, pkpNft, pkpPermissions } = await deployAll(signer, {
    rootPubkey: values['root-pubkey'],
    epochLength: BigInt(values['epoch-length']),
    epochTimeout: BigInt(values['epoch-timeout']),
  });
  const out = {
    chainId: Number(chainId),
    deployer: wallet.address,
    pkpNft: await pkpNft.getAddress(),
    pkpPermissions: await pkpPermissions.getAddress(),
    staking: await staking.getAddress(),
    keyDeriver: await keyDeriver.getAddress(),
  };
  console.log(JSON.stringify(out, null, 2));
  provider.destroy();
}

main().catch((e) => {
  console.error(`deploy failed: ${e.shortMessage ?? e.message}${e.data ? ` (revert data ${e.data})` : ""}`);
  process.exit(1);
});
