// Types of the globals a Candela action sees (the Lit Actions API), for
// editors: completion, hover documentation and `checkJs` type checking of the
// files under actions/ and lib/ (see jsconfig.json). Written by `candela
// init`; the runtime they describe is Candela's action sandbox, so nothing
// here is loaded when an action runs.
//
// jsParams: every request's `jsParams` object is the global `jsParams`, and
// each of its keys is a global too. Their names and types are yours, so they
// are not declared here: read them from `jsParams` (typed `JsParams` below),
// or declare the globals your actions use in a .d.ts file of your own, e.g.
//   declare const publicKey: string;
//   declare const toSign: number[];
// and describe `jsParams` itself by adding fields to `JsParams`:
//   interface JsParams { message: string }
//
// ethers: the sandbox provides ethers v5 (5.7.2) as the global `ethers`. Its
// types come from the ethers package itself; install it for your editor with
//   npm install --save-dev --save-exact ethers@5.7.2
// Without it, `ethers` is untyped (`any`) and nothing else changes.

/** Bytes as the sandbox accepts them: a Uint8Array (what `ethers.utils.arrayify` returns), any typed array or DataView, an ArrayBuffer, or an array of integers in 0..=255. */
type LitBytes = ArrayBufferView | ArrayBuffer | readonly number[];

/** One of the condition lists of access-control encryption; give exactly one of the three fields. */
interface LitConditionsArgs {
  /** Basic EVM conditions (`contractAddress`, `standardContractType`, `chain`, `method`, `parameters`, `returnValueTest`). */
  accessControlConditions?: readonly unknown[];
  /** Conditions on a contract function's return value (`functionAbi`, …). */
  evmContractConditions?: readonly unknown[];
  /** Conditions of several kinds, each with its `conditionType`. */
  unifiedAccessControlConditions?: readonly unknown[];
  /** Evaluate the conditions for this signer instead of the run's caller (checked like a request's authSig). */
  authSig?: object;
  /** The chain named in the conditions (accepted for Lit compatibility). */
  chain?: string;
}

/** An encrypted payload: what `encrypt` returns and `decryptAndCombine` / `decryptToSingleNode` take. */
interface LitCiphertext {
  /** The ciphertext, base64. */
  ciphertext: string;
  /** SHA-256 of the plaintext, hex. */
  dataToEncryptHash: string;
}

/** A PKP's token id: a decimal string, a 0x-hex string, or a number. */
type LitTokenId = string | number;

/** An auth method as the registry holds it (Lit's shape, values in 0x-hex). */
interface LitPermittedAuthMethod {
  auth_method_type: string;
  id: string;
  user_pubkey: string;
}

/** Text encodings of `uint8arrayToString` / `uint8arrayFromString`. */
type LitTextEncoding =
  | "utf8" | "utf-8" | "ascii" | "latin1" | "binary" | "base16" | "hex"
  | "base64" | "base64pad" | "base64url" | "base64urlpad";

/** The signing schemes Candela serves (Lit's names). */
type LitSigningScheme =
  | "EcdsaK256Sha256"
  | "SchnorrEd25519Sha512"
  | "SchnorrK256Taproot"
  | "Bls12381G1ProofOfPossession";

/** `Lit.Actions` (also the global `LitActions`): what an action can ask of the nodes. */
interface LitActionsApi {
  /**
   * Asks every node for its share of an ECDSA signature of the 32 bytes
   * `toSign` by the PKP `publicKey`; the client combines the shares and finds
   * the signature under `sigName`. Resolves to `"success"`.
   */
  signEcdsa(args: { toSign: LitBytes; publicKey: string; sigName: string }): Promise<string>;
  /**
   * Like `signEcdsa`, but the nodes exchange their shares and every node
   * gets the combined signature inside the action: a JSON string
   * `{"r": <33-byte compressed R, hex>, "s": <hex>, "v": 0 | 1}`
   * (drop the first byte of `r` for the signature's r).
   */
  signAndCombineEcdsa(args: { toSign: LitBytes; publicKey: string; sigName: string }): Promise<string>;
  /**
   * Signs `toSign` with the PKP `publicKey` (its secp256k1 key as minted)
   * under `signingScheme`, and every node gets the combined signature.
   * `EcdsaK256Sha256` resolves as `signAndCombineEcdsa`; the other schemes
   * (`SchnorrEd25519Sha512`, `SchnorrK256Taproot`,
   * `Bls12381G1ProofOfPossession`, for a PKP of that key type) to a JSON
   * string `{"signature", "verifying_key", "signed_data", "recovery_id"}`
   * (hex). A string `toSign` is signed as its UTF-8 bytes.
   */
  signAndCombine(args: { toSign: LitBytes | string; publicKey: string; sigName: string; signingScheme: LitSigningScheme }): Promise<string>;
  /** Signs `toSign` with the running action's own key for `signingScheme`; resolves to the same JSON string as `signAndCombine`. */
  signAsAction(args: { toSign: LitBytes | string; sigName: string; signingScheme: LitSigningScheme }): Promise<string>;
  /** The public key (hex) that the action `actionIpfsCid` signs with under `signingScheme`. */
  getActionPublicKey(args: { signingScheme: LitSigningScheme; actionIpfsCid: string }): Promise<string>;
  /** Whether `signOutput` (a `signAsAction` result) is the action `actionIpfsCid`'s signature of `toSign`. */
  verifyActionSignature(args: { signingScheme: LitSigningScheme; actionIpfsCid: string; toSign: LitBytes | string; signOutput: string }): Promise<boolean>;
  /** Signs `message` (text as UTF-8, or bytes) the way `personal_sign` does (EIP-191). Resolves to `"success"`. */
  ethPersonalSignMessageEcdsa(args: { message: string | LitBytes; publicKey: string; sigName: string }): Promise<string>;
  /** The action's response: a string is sent as it is, any other value as `JSON.stringify(response)`. The last call wins. */
  setResponse(args: { response: unknown }): void;
  /**
   * Runs `fn` on one node only (the leader of `name`, chosen from the
   * network's threshold signature on the request id). Resolves to the
   * leader's result as a string (`"[ERROR]"` if `fn` threw); with
   * `waitForResponse` every node gets it, otherwise the others get `undefined`.
   */
  runOnce(
    options: { waitForResponse?: boolean; name?: string },
    fn: () => unknown,
  ): Promise<string | undefined>;
  /** Every node contributes `value` under `name`; resolves to all the values collected. */
  broadcastAndCollect(args: { name: string; value: string }): Promise<string[]>;
  /** Runs the deployed action `ipfsId` (a CIDv0) as a child with `params` as its jsParams; resolves to the child's response. */
  call(args: { ipfsId: string; params?: Record<string, unknown> | null }): Promise<string>;
  /** The RPC URL of `chain` from the node's configuration. */
  getRpcUrl(args: { chain: string }): Promise<string>;
  /** The pending transaction count of `address` on `chain`, as a string. */
  getLatestNonce(args: { address: string; chain: string }): Promise<string>;
  /** The token id of the PKP with this public key (hex, with or without 0x): keccak256 of the uncompressed key, 0x-hex. */
  pubkeyToTokenId(args: { publicKey: string }): string;
  /** `array` as text in `encoding` (default `"utf8"`). */
  uint8arrayToString(array: LitBytes, encoding?: LitTextEncoding): string;
  /** The bytes of `string` in `encoding` (default `"utf8"`). */
  uint8arrayFromString(string: string, encoding?: LitTextEncoding): Uint8Array;
  /** Whether the action `ipfsId` is a permitted action of the PKP. */
  isPermittedAction(args: { tokenId: LitTokenId; ipfsId: string }): Promise<boolean>;
  /** Whether `address` is a permitted address of the PKP. */
  isPermittedAddress(args: { tokenId: LitTokenId; address: string }): Promise<boolean>;
  /** Whether the auth method (type, user id bytes) is permitted for the PKP. */
  isPermittedAuthMethod(args: { tokenId: LitTokenId; authMethodType: number | string; userId: LitBytes }): Promise<boolean>;
  /** The PKP's permitted actions (CIDs). */
  getPermittedActions(args: { tokenId: LitTokenId }): Promise<string[]>;
  /** The PKP's permitted addresses (lowercase 0x-hex). */
  getPermittedAddresses(args: { tokenId: LitTokenId }): Promise<string[]>;
  /** The PKP's permitted auth methods. */
  getPermittedAuthMethods(args: { tokenId: LitTokenId }): Promise<LitPermittedAuthMethod[]>;
  /** For each scope id below `maxScopeId` (default 100), whether the auth method has it. */
  getPermittedAuthMethodScopes(args: {
    tokenId: LitTokenId;
    authMethodType: number | string;
    userId: LitBytes;
    maxScopeId?: number;
  }): Promise<boolean[]>;
  /** Whether `conditions` hold for the run's caller (or `authSig`); the list's items tell their kind. */
  checkConditions(args: { conditions: readonly unknown[]; authSig?: object; chain?: string }): Promise<boolean>;
  /** Encrypts `to_encrypt` (text as UTF-8, or bytes) under the conditions. */
  encrypt(args: LitConditionsArgs & { to_encrypt: string | LitBytes }): Promise<LitCiphertext>;
  /** Decrypts on every node (each checks the conditions first); resolves to the plaintext as text. */
  decryptAndCombine(args: LitConditionsArgs & LitCiphertext): Promise<string>;
  /** Decrypts on one node only: it gets the plaintext as text, the others `""`. */
  decryptToSingleNode(args: LitConditionsArgs & LitCiphertext): Promise<string>;
  /**
   * Runs an unsigned transaction (RLP hex, as `ethers.utils.serializeTransaction`
   * writes it) as `eth_call` on the named chain; resolves to the returned bytes as `0x` hex.
   */
  callContract(args: { chain: string; txn: string }): Promise<string>;
  /**
   * AES-256-CBC decryption: a 32-byte key, the IV as the ciphertext's first 16 bytes.
   * Resolves to the plaintext as lowercase hex (no `0x`).
   */
  aesDecrypt(args: { symmetricKey: Uint8Array | ArrayLike<number>; ciphertext: Uint8Array | ArrayLike<number> }): Promise<string>;
  /**
   * Claims the key `keyId` for this action: resolves to `"success"`; the execution's
   * answer carries `claimData[keyId] = { signature, derivedKeyId }` on every node.
   */
  claimKey(args: { keyId: string }): Promise<string>;
}

/** `Lit.Auth` (also the global `LitAuth`): who is calling and which actions are running. */
interface LitAuthContext {
  /** CIDs of the running action and of the actions that called it, outermost first. */
  readonly actionIpfsIdStack: readonly string[];
  /** The address that signed the request's auth signature, if any. */
  readonly authSigAddress: string | null;
  /** The auth methods the caller proved (Lit's objects). */
  readonly authMethodContexts: readonly any[];
  /** Resources granted by the session. */
  readonly resources: readonly any[];
  /** The custom auth resource, empty when none. */
  readonly customAuthResource: string;
}

/**
 * The request's `jsParams` (JSON). Describe your actions' parameters by
 * adding fields in a .d.ts of your own: `interface JsParams { message: string }`.
 */
interface JsParams {
  [name: string]: any;
}

/** The Lit Actions API: `Lit.Actions` and `Lit.Auth` (frozen). */
declare const Lit: { readonly Actions: LitActionsApi; readonly Auth: LitAuthContext };
/** `Lit.Actions`, under its older name. */
declare const LitActions: LitActionsApi;
/** `Lit.Auth`, under its older name. */
declare const LitAuth: LitAuthContext;
/** The request's `jsParams`; each key is also a global of its own. */
declare var jsParams: JsParams;
/** ethers v5 (5.7.2), loaded the first time an action touches it. */
declare var ethers: typeof import("ethers").ethers;

/** Imports of deployed actions by CID (`import { f } from "ipfs://Qm…"`), loaded at run time. */
declare module "ipfs://*";

// ---- the web APIs of the sandbox (a subset; there is no DOM) ------------------

/** Console output becomes the run's logs; every method prints a line. */
declare var console: {
  log(...args: any[]): void;
  info(...args: any[]): void;
  warn(...args: any[]): void;
  error(...args: any[]): void;
  debug(...args: any[]): void;
  trace(...args: any[]): void;
  dir(value: any): void;
  assert(condition: unknown, ...args: any[]): void;
};

type HeadersInit = Headers | [string, string][] | Record<string, string>;

declare class Headers {
  constructor(init?: HeadersInit);
  append(name: string, value: string): void;
  set(name: string, value: string): void;
  get(name: string): string | null;
  has(name: string): boolean;
  delete(name: string): void;
  forEach(callback: (value: string, name: string, headers: Headers) => void, thisArg?: any): void;
  entries(): IterableIterator<[string, string]>;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

/** The answer to a `fetch`; its body can be read once. */
declare class Response {
  private constructor();
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly url: string;
  readonly redirected: boolean;
  readonly type: string;
  readonly headers: Headers;
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  json(): Promise<any>;
  clone(): Response;
}

interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  body?: string | LitBytes | null;
}

/** HTTP from the node (counted against the run's fetch limit; private addresses are refused). */
declare function fetch(input: string | { url: string }, init?: RequestInit): Promise<Response>;

declare class TextEncoder {
  readonly encoding: string;
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  readonly encoding: string;
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  decode(input?: LitBytes): string;
}

/** A key of `crypto.subtle`; its material stays out of the action's reach. */
interface LitCryptoKey {
  readonly type: string;
  readonly extractable: boolean;
  readonly algorithm: object;
  readonly usages: string[];
}

/** `crypto.subtle`: Web Crypto as host operations in Rust (digest, HMAC, AES-GCM/CBC, ECDSA P-256 and Ed25519 verify, raw/jwk keys). */
interface LitSubtleCrypto {
  digest(algorithm: string | { name: string }, data: LitBytes): Promise<ArrayBuffer>;
  importKey(format: string, keyData: LitBytes | object, algorithm: string | object, extractable: boolean, usages: string[]): Promise<LitCryptoKey>;
  exportKey(format: string, key: LitCryptoKey): Promise<ArrayBuffer | object>;
  generateKey(algorithm: object, extractable: boolean, usages: string[]): Promise<LitCryptoKey>;
  sign(algorithm: string | object, key: LitCryptoKey, data: LitBytes): Promise<ArrayBuffer>;
  verify(algorithm: string | object, key: LitCryptoKey, signature: LitBytes, data: LitBytes): Promise<boolean>;
  encrypt(algorithm: object, key: LitCryptoKey, data: LitBytes): Promise<ArrayBuffer>;
  decrypt(algorithm: object, key: LitCryptoKey, data: LitBytes): Promise<ArrayBuffer>;
}

declare var crypto: {
  /** Fills an integer typed array (at most 65536 bytes) with random bytes. */
  getRandomValues<T extends ArrayBufferView>(array: T): T;
  randomUUID(): string;
  subtle: LitSubtleCrypto;
};

declare function atob(data: string): string;
declare function btoa(data: string): string;
declare function setTimeout(callback: (...args: any[]) => void, delay?: number, ...args: any[]): number;
declare function clearTimeout(id: number | undefined): void;
declare function setInterval(callback: (...args: any[]) => void, delay?: number, ...args: any[]): number;
declare function clearInterval(id: number | undefined): void;
declare var self: typeof globalThis;
