// `crypto.subtle`: the Web Crypto API's shapes (algorithm normalisation,
// CryptoKey objects, DOMException names and texts as Node's webcrypto gives
// them), with every cryptographic computation done by the native functions
// (src/subtle.rs, RustCrypto crates). Nothing here hashes, encrypts or
// verifies by itself. Evaluates to a function of (natives, shared helpers).
(function subtle(native, shared) {
  'use strict';
  const { defineProperty, freeze } = Object;
  const PromiseCtor = Promise;

  const domError = (name, message) => new DOMException(message, name);
  const unrecognized = () => domError('NotSupportedError', 'Unrecognized algorithm name');
  const operationFailed = () => domError('OperationError', 'The operation failed for an operation-specific reason');

  // A view of a BufferSource's bytes (not a copy: every native reads it before
  // any JavaScript runs again); anything else is the TypeError Web Crypto gives.
  function source(value, method, position) {
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return shared.bytesOf(value);
    throw new TypeError(`Failed to execute '${method}' on 'SubtleCrypto': ${position} argument is not instance of ArrayBuffer, Buffer, TypedArray, or DataView.`);
  }

  const HASHES = { 'SHA-1': 'SHA-1', 'SHA-256': 'SHA-256', 'SHA-384': 'SHA-384', 'SHA-512': 'SHA-512' };
  const ALGORITHMS = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512', 'HMAC', 'AES-GCM', 'AES-CBC', 'ECDSA', 'Ed25519'];

  // { name, ...params } with the name in its registered spelling.
  function normalize(algorithm) {
    const params = typeof algorithm === 'string' ? { name: algorithm } : algorithm;
    if (params === null || typeof params !== 'object' || typeof params.name !== 'string') {
      throw new TypeError("Failed to normalize algorithm: 'name' is required");
    }
    const upper = params.name.toUpperCase();
    const name = ALGORITHMS.find((a) => a.toUpperCase() === upper);
    if (name === undefined) throw unrecognized();
    return { ...params, name };
  }
  function hashOf(value, what) {
    if (value === undefined) {
      throw new TypeError(`Failed to normalize algorithm: passed algorithm can not be converted to '${what}' because 'hash' is required in '${what}'.`);
    }
    const hash = normalize(value).name;
    if (HASHES[hash] === undefined) throw unrecognized();
    return hash;
  }

  // The key material of each CryptoKey, out of reach of the action.
  const material = new WeakMap();
  let constructing = false;
  class CryptoKey {
    constructor() {
      if (!constructing) throw new TypeError('Illegal constructor');
    }
    get [Symbol.toStringTag]() { return 'CryptoKey'; }
  }
  function makeKey(type, extractable, algorithm, usages, bytes) {
    constructing = true;
    let key;
    try { key = new CryptoKey(); } finally { constructing = false; }
    defineProperty(key, 'type', { value: type, enumerable: true });
    defineProperty(key, 'extractable', { value: Boolean(extractable), enumerable: true });
    defineProperty(key, 'algorithm', { value: freeze(algorithm), enumerable: true });
    defineProperty(key, 'usages', { value: freeze(Array.from(usages)), enumerable: true });
    material.set(key, bytes);
    return key;
  }
  function keyBytes(key, algorithmName, usage) {
    if (!(key instanceof CryptoKey) || !material.has(key)) {
      throw new TypeError("parameter 2 is not of type 'CryptoKey'");
    }
    if (key.algorithm.name !== algorithmName || !key.usages.includes(usage)) {
      // Node's texts: sign/verify name the operation, the ciphers do not.
      const text = usage === 'sign' || usage === 'verify' ? `Unable to use this key to ${usage}` : 'The requested operation is not valid for the provided key';
      throw domError('InvalidAccessError', text);
    }
    return material.get(key);
  }

  const b64url = {
    encode: (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join('')).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    decode: (text) => {
      if (typeof text !== 'string') throw domError('DataError', 'Invalid keyData');
      const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
      return Uint8Array.from(bin, (c) => c.charCodeAt(0));
    },
  };
  const HMAC_JWK = { 'SHA-1': 'HS1', 'SHA-256': 'HS256', 'SHA-384': 'HS384', 'SHA-512': 'HS512' };

  function checkUsages(usages, allowed) {
    const list = Array.from(usages || []);
    for (const u of list) {
      if (!allowed.includes(u)) throw domError('SyntaxError', 'Unsupported key usage for a key of this algorithm');
    }
    return list;
  }

  function importKey(format, keyData, algorithm, extractable, usages) {
    const alg = normalize(algorithm);
    if (format !== 'raw' && format !== 'jwk') {
      if (['spki', 'pkcs8'].includes(format)) throw domError('NotSupportedError', `Unable to import ${alg.name} key with format ${format}`);
      throw new TypeError(`Failed to execute 'importKey' on 'SubtleCrypto': 1st argument value '${format}' is not a valid enum value of type KeyFormat.`);
    }
    const jwk = format === 'jwk' ? keyData : null;
    if (jwk !== null && (jwk === null || typeof jwk !== 'object')) throw domError('DataError', 'Invalid keyData');
    // a copy: the key must not change when the action's buffer does
    const raw = () => (jwk === null ? source(keyData, 'importKey', '2nd').slice() : null);
    switch (alg.name) {
      case 'HMAC': {
        const hash = hashOf(alg.hash, 'HmacImportParams');
        const bytes = jwk ? b64url.decode(jwk.k) : raw();
        if (jwk && jwk.kty !== 'oct') throw domError('DataError', 'Invalid JWK "kty" Parameter');
        if (bytes.length === 0) throw domError('DataError', 'Zero-length key is not supported');
        const length = alg.length === undefined ? bytes.length * 8 : Number(alg.length);
        return makeKey('secret', extractable, { name: 'HMAC', hash: { name: hash }, length }, checkUsages(usages, ['sign', 'verify']), bytes);
      }
      case 'AES-GCM':
      case 'AES-CBC': {
        const bytes = jwk ? b64url.decode(jwk.k) : raw();
        if (jwk && jwk.kty !== 'oct') throw domError('DataError', 'Invalid JWK "kty" Parameter');
        if (![16, 24, 32].includes(bytes.length)) throw domError('DataError', 'Invalid key length');
        return makeKey('secret', extractable, { name: alg.name, length: bytes.length * 8 }, checkUsages(usages, ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey']), bytes);
      }
      case 'ECDSA': {
        if (alg.namedCurve !== 'P-256') throw domError('NotSupportedError', `Unsupported named curve: ${alg.namedCurve} (only P-256)`);
        let bytes;
        if (jwk) {
          if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw domError('DataError', 'Invalid JWK "kty" or "crv" Parameter');
          if (jwk.d !== undefined) throw domError('NotSupportedError', 'Importing ECDSA private keys is not supported (verify only)');
          const x = b64url.decode(jwk.x);
          const y = b64url.decode(jwk.y);
          bytes = new Uint8Array(65);
          bytes[0] = 4;
          bytes.set(x, 1 + 32 - x.length);
          bytes.set(y, 33 + 32 - y.length);
        } else {
          bytes = raw();
        }
        if (!native.p256Valid(bytes)) throw domError('DataError', 'Invalid keyData');
        return makeKey('public', true, { name: 'ECDSA', namedCurve: 'P-256' }, checkUsages(usages, ['verify']), native.p256Uncompressed(bytes));
      }
      case 'Ed25519': {
        let bytes;
        if (jwk) {
          if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw domError('DataError', 'Invalid JWK "kty" or "crv" Parameter');
          if (jwk.d !== undefined) throw domError('NotSupportedError', 'Importing Ed25519 private keys is not supported (verify only)');
          bytes = b64url.decode(jwk.x);
        } else {
          bytes = raw();
        }
        if (bytes.length !== 32) throw domError('DataError', 'Invalid keyData');
        return makeKey('public', true, { name: 'Ed25519' }, checkUsages(usages, ['verify']), bytes);
      }
      default:
        throw domError('NotSupportedError', `Unable to import ${alg.name} key`);
    }
  }

  function exportKey(format, key) {
    if (!(key instanceof CryptoKey) || !material.has(key)) throw new TypeError("parameter 2 is not of type 'CryptoKey'");
    if (!key.extractable) throw domError('InvalidAccessError', 'key is not extractable');
    const bytes = material.get(key);
    const name = key.algorithm.name;
    if (format === 'raw') return bytes.slice().buffer;
    if (format !== 'jwk') throw domError('NotSupportedError', `Unable to export ${name} key with format ${format}`);
    const common = { key_ops: Array.from(key.usages), ext: key.extractable };
    switch (name) {
      case 'HMAC': return { ...common, kty: 'oct', k: b64url.encode(bytes), alg: HMAC_JWK[key.algorithm.hash.name] };
      case 'AES-GCM': return { ...common, kty: 'oct', k: b64url.encode(bytes), alg: `A${bytes.length * 8}GCM` };
      case 'AES-CBC': return { ...common, kty: 'oct', k: b64url.encode(bytes), alg: `A${bytes.length * 8}CBC` };
      case 'ECDSA': return { ...common, kty: 'EC', crv: 'P-256', x: b64url.encode(bytes.subarray(1, 33)), y: b64url.encode(bytes.subarray(33, 65)) };
      case 'Ed25519': return { ...common, crv: 'Ed25519', x: b64url.encode(bytes), kty: 'OKP', alg: 'Ed25519' };
      default: throw unrecognized();
    }
  }

  function generateKey(algorithm, extractable, usages) {
    const alg = normalize(algorithm);
    switch (alg.name) {
      case 'HMAC': {
        const hash = hashOf(alg.hash, 'HmacKeyGenParams');
        const bits = alg.length === undefined ? { 'SHA-1': 512, 'SHA-256': 512, 'SHA-384': 1024, 'SHA-512': 1024 }[hash] : Number(alg.length);
        return importKey('raw', native.randomBytes(Math.ceil(bits / 8)), { name: 'HMAC', hash }, extractable, usages);
      }
      case 'AES-GCM':
      case 'AES-CBC': {
        const bits = Number(alg.length);
        if (![128, 192, 256].includes(bits)) throw domError('OperationError', 'AES key length must be 128, 192 or 256 bits');
        return importKey('raw', native.randomBytes(bits / 8), { name: alg.name }, extractable, usages);
      }
      default:
        throw domError('NotSupportedError', `Generating ${alg.name} keys is not supported`);
    }
  }

  function ivOf(alg, size, what) {
    if (alg.iv === undefined) throw new TypeError(`Failed to normalize algorithm: 'iv' is required in '${what}'.`);
    const iv = source(alg.iv, 'encrypt', 'iv');
    if (size !== undefined && iv.length !== size) throw domError('OperationError', `algorithm.iv must contain exactly ${size} bytes`);
    if (iv.length === 0) throw domError('OperationError', 'algorithm.iv must not be empty');
    return iv;
  }

  function cipher(encrypt, algorithm, key, data) {
    const method = encrypt ? 'encrypt' : 'decrypt';
    const alg = normalize(algorithm);
    const input = source(data, method, '3rd');
    switch (alg.name) {
      case 'AES-GCM': {
        const bytes = keyBytes(key, 'AES-GCM', method);
        const iv = ivOf(alg, undefined, 'AesGcmParams');
        const aad = alg.additionalData === undefined ? new Uint8Array(0) : source(alg.additionalData, method, 'additionalData');
        const tagLength = alg.tagLength === undefined ? 128 : Number(alg.tagLength);
        if (tagLength !== 128) throw domError('NotSupportedError', `AES-GCM tagLength ${tagLength} is not supported (only 128)`);
        const out = native.aesGcm(encrypt, bytes, iv, input, aad);
        if (out === null) throw operationFailed();
        return out;
      }
      case 'AES-CBC': {
        const bytes = keyBytes(key, 'AES-CBC', method);
        const iv = ivOf(alg, 16, 'AesCbcParams');
        const out = native.aesCbc(encrypt, bytes, iv, input);
        if (out === null) throw operationFailed();
        return out;
      }
      default:
        throw unrecognized();
    }
  }

  function sign(algorithm, key, data) {
    const alg = normalize(algorithm);
    const input = source(data, 'sign', '3rd');
    if (alg.name !== 'HMAC') {
      if (alg.name === 'ECDSA' || alg.name === 'Ed25519') throw domError('NotSupportedError', `${alg.name} signing is not supported (verify only)`);
      throw unrecognized();
    }
    const bytes = keyBytes(key, 'HMAC', 'sign');
    return native.hmac(key.algorithm.hash.name, bytes, input);
  }

  function verify(algorithm, key, signature, data) {
    const alg = normalize(algorithm);
    const sig = source(signature, 'verify', '3rd');
    const input = source(data, 'verify', '4th');
    switch (alg.name) {
      case 'HMAC': {
        const bytes = keyBytes(key, 'HMAC', 'verify');
        return native.hmacVerify(key.algorithm.hash.name, bytes, sig, input);
      }
      case 'ECDSA': {
        const hash = hashOf(alg.hash, 'EcdsaParams');
        return native.p256Verify(hash, keyBytes(key, 'ECDSA', 'verify'), sig, input);
      }
      case 'Ed25519':
        return native.ed25519Verify(keyBytes(key, 'Ed25519', 'verify'), sig, input);
      default:
        throw unrecognized();
    }
  }

  function digest(algorithm, data) {
    const name = normalize(algorithm).name;
    if (HASHES[name] === undefined) throw unrecognized();
    return native.digest(name, source(data, 'digest', '2nd'));
  }

  // Every method returns a promise, and reports a failure by rejecting it.
  const later = (f) => function (...args) {
    try {
      return PromiseCtor.resolve(f(...args));
    } catch (e) {
      return PromiseCtor.reject(e);
    }
  };
  class SubtleCrypto {
    constructor() {
      if (!constructing) throw new TypeError('Illegal constructor');
    }
    get [Symbol.toStringTag]() { return 'SubtleCrypto'; }
  }
  const methods = {
    digest: later(digest),
    importKey: later(importKey),
    exportKey: later(exportKey),
    generateKey: later(generateKey),
    sign: later(sign),
    verify: later(verify),
    encrypt: later((a, k, d) => cipher(true, a, k, d)),
    decrypt: later((a, k, d) => cipher(false, a, k, d)),
  };
  for (const name of Object.keys(methods)) {
    defineProperty(SubtleCrypto.prototype, name, { value: methods[name], writable: true, configurable: true, enumerable: true });
  }
  constructing = true;
  const instance = new SubtleCrypto();
  constructing = false;
  if (typeof globalThis.CryptoKey === 'undefined') {
    defineProperty(globalThis, 'CryptoKey', { value: CryptoKey, writable: true, configurable: true, enumerable: false });
    defineProperty(globalThis, 'SubtleCrypto', { value: SubtleCrypto, writable: true, configurable: true, enumerable: false });
  }
  return freeze(instance);
})
