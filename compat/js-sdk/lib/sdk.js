// The Lit JS SDK used as its documentation shows, shared by the
// compatibility tests and the benchmark.
'use strict';

const { LitNodeClientNodeJs } = require('@lit-protocol/lit-node-client-nodejs');
const { LIT_ABILITY } = require('@lit-protocol/constants');
const {
  LitActionResource,
  LitPKPResource,
  LitAccessControlConditionResource,
  createSiweMessageWithRecaps,
  generateAuthSig,
} = require('@lit-protocol/auth-helpers');

// anvil's well-known second account: the wallet of the tests and the bench.
const WALLET_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

/** An SDK client for the devnet (`litNetwork: 'custom'`), not connected yet. */
function sdkClient(devnet) {
  return new LitNodeClientNodeJs({
    litNetwork: 'custom',
    rpcUrl: devnet.network.rpcUrl,
    checkNodeAttestation: false,
    debug: !!process.env.LIT_DEBUG,
    contractContext: {
      Staking: { address: devnet.network.stakingAddress, abi: devnet.stakingAbi },
    },
  });
}

/** Every resource and ability a session of these tests asks for. */
function allAbilities() {
  return [
    { resource: new LitActionResource('*'), ability: LIT_ABILITY.LitActionExecution },
    { resource: new LitPKPResource('*'), ability: LIT_ABILITY.PKPSigning },
    {
      resource: new LitAccessControlConditionResource('*'),
      ability: LIT_ABILITY.AccessControlConditionDecryption,
    },
  ];
}

/**
 * A wallet session as the SDK's documentation makes one: the SDK asks the
 * wallet, through `authNeededCallback`, to sign a SIWE + ReCap capability
 * for its session key. `nonce` gives the SIWE nonce (by default the SDK's
 * `getLatestBlockhash()`); `capabilityAuthSigs` are extra capabilities
 * (such as a capacity-credit delegation) the SDK attaches to the session.
 */
function walletSession(client, signer, { nonce = () => client.getLatestBlockhash(), expiration, capabilityAuthSigs } = {}) {
  return client.getSessionSigs({
    chain: 'ethereum',
    expiration,
    capabilityAuthSigs,
    resourceAbilityRequests: allAbilities(),
    authNeededCallback: async ({ uri, expiration, resourceAbilityRequests }) => {
      const toSign = await createSiweMessageWithRecaps({
        uri,
        expiration,
        resources: resourceAbilityRequests,
        walletAddress: signer.address,
        nonce: await nonce(),
        litNodeClient: client,
      });
      return generateAuthSig({ signer, toSign });
    },
  });
}

/**
 * An Ethereum wallet auth method (type 1) as Lit's apps make one: the
 * wallet signs a SIWE message whose nonce is the network's latest block
 * hash, and the access token is that auth signature as JSON.
 */
async function walletAuthMethod(client, signer) {
  const authSig = await generateAuthSig({
    signer,
    toSign: await createSiweMessageWithRecaps({
      uri: 'lit:session:auth-method',
      expiration: new Date(Date.now() + 10 * 60 * 1000).toISOString(),
      walletAddress: signer.address,
      nonce: await client.getLatestBlockhash(),
      litNodeClient: client,
    }),
  });
  return { authMethodType: 1, accessToken: JSON.stringify(authSig) };
}

/** `accessControlConditions` that hold for `address` only. */
function onlyWallet(address) {
  return [
    {
      contractAddress: '',
      standardContractType: '',
      chain: 'ethereum',
      method: '',
      parameters: [':userAddress'],
      returnValueTest: { comparator: '=', value: address },
    },
  ];
}

module.exports = { WALLET_KEY, sdkClient, allAbilities, walletSession, walletAuthMethod, onlyWallet };
