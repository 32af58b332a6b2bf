// Candela action prelude: evaluated (as bytecode) in every fresh sandbox before
// the action. It evaluates to a setup function that the Rust side calls with
// the native bridge; the bridge never becomes a global. Every check that
// matters (limits, sizes, permissions) is made again in Rust: this file only
// shapes arguments and results the way Lit's API does.
(function setup(native, authJson, paramsJson, headersJson) {
  'use strict';
  const g = globalThis;
  const { stringify, parse } = JSON;
  const { defineProperty, freeze, keys } = Object;
  const PromiseCtor = Promise;
  const pending = new Map();
  const timers = new Map();

  const lockGlobal = (name, value) =>
    defineProperty(g, name, { value, writable: false, configurable: false, enumerable: false });
  const setGlobal = (name, value) =>
    defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });

  // ---- the op bridge -------------------------------------------------------

  // Starts a host operation; the promise settles when Rust calls `complete`.
  function hostCall(name, args, bytes) {
    return new PromiseCtor((resolve, reject) => {
      const id = native.start(name, stringify(args === undefined ? {} : args), bytes);
      pending.set(id, [resolve, reject]);
    });
  }

  // kind 0: resolve, 1: reject with an Error of that text, 2: a timer fired.
  function complete(id, kind, value) {
    if (kind === 2) {
      const fire = timers.get(id);
      if (fire !== undefined) {
        timers.delete(id);
        fire();
      }
      return;
    }
    const entry = pending.get(id);
    if (entry === undefined) return;
    pending.delete(id);
    if (kind === 0) entry[0](value);
    else entry[1](new Error(value));
  }

  // Bytes from a Uint8Array, any typed array / DataView, an ArrayBuffer or an
  // array of integers in 0..=255; anything else is a TypeError naming `what`.
  function bytesOf(value, what) {
    if (value instanceof Uint8Array) return value;
    if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const b = value[i];
        if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) {
          throw new TypeError(`${what} must be bytes: element ${i} is ${stringify(b) ?? String(b)}, not an integer in 0..255`);
        }
      }
      return Uint8Array.from(value);
    }
    const kind = value === null ? 'null' : typeof value;
    throw new TypeError(`${what} must be a Uint8Array or an array of numbers, got ${kind}`);
  }

  const requireString = (value, what) => {
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`${what} must be a non-empty string`);
    }
    return value;
  };

  // ---- text, base64, random --------------------------------------------------

  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(input = '') { return native.utf8Encode(String(input)); }
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    constructor(label = 'utf-8', options = {}) {
      const l = String(label).trim().toLowerCase();
      if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
        throw new RangeError(`TextDecoder: unsupported encoding '${label}' (only utf-8)`);
      }
      this.#fatal = Boolean(options && options.fatal);
      this.#ignoreBOM = Boolean(options && options.ignoreBOM);
    }
    get encoding() { return 'utf-8'; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input) {
      if (input === undefined) return '';
      return native.utf8Decode(bytesOf(input, 'TextDecoder.decode input'), this.#fatal, this.#ignoreBOM);
    }
  }

  const crypto = ({
    getRandomValues(array) {
      if (!ArrayBuffer.isView(array) || array instanceof DataView || array instanceof Float32Array || array instanceof Float64Array) {
        throw new TypeError('crypto.getRandomValues: argument must be an integer typed array');
      }
      if (array.byteLength > 65536) {
        throw new RangeError(`crypto.getRandomValues: ${array.byteLength} bytes requested, at most 65536 allowed`);
      }
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(native.randomBytes(array.byteLength));
      return array;
    },
    randomUUID() {
      const b = native.randomBytes(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
  });

  // ---- console -----------------------------------------------------------------

  // Lines as Deno prints them (src/js/inspect.js, built on the first
  // console call that needs more than plain strings).
  const print = (...args) => {
    let line;
    if (args.every((a) => typeof a === 'string') && (args.length < 2 || !args[0].includes('%'))) line = args.join(' ');
    else line = extension('inspect').formatArgs(args);
    native.print(line);
  };
  const console = freeze({
    log: print,
    info: print,
    warn: print,
    error: print,
    debug: print,
    trace: print,
    dir: (value) => print(value),
    assert: (condition, ...args) => {
      if (!condition) print(...(args.length ? ['Assertion failed:', ...args] : ['Assertion failed']));
    },
  });

  // ---- timers --------------------------------------------------------------------

  function setTimeout(callback, delay = 0, ...args) {
    if (typeof callback !== 'function') throw new TypeError('setTimeout: callback must be a function');
    const id = native.timer(Number(delay) || 0);
    timers.set(id, () => callback(...args));
    return id;
  }
  function clearTimeout(id) {
    if (timers.delete(id)) native.clearTimer(id);
  }
  // An interval keeps the id of its first timer; each tick re-arms a native timer.
  const intervals = new Map();
  function setInterval(callback, delay = 0, ...args) {
    if (typeof callback !== 'function') throw new TypeError('setInterval: callback must be a function');
    const ms = Number(delay) || 0;
    let current;
    const arm = () => {
      current = native.timer(ms);
      intervals.set(first, current);
      timers.set(current, () => { arm(); callback(...args); });
    };
    const first = native.timer(ms);
    current = first;
    intervals.set(first, first);
    timers.set(first, () => { arm(); callback(...args); });
    return first;
  }
  function clearInterval(id) {
    const current = intervals.get(id);
    if (current === undefined) return;
    intervals.delete(id);
    clearTimeout(current);
  }

  // ---- fetch, Headers, Request, Response ------------------------------------------

  // Headers made immutable (LitHeaders): every change is refused, as the
  // Fetch standard's "immutable" guard does.
  const immutableHeaders = new WeakSet();
  const refuseChange = (h) => {
    if (immutableHeaders.has(h)) throw new TypeError('Headers are immutable.');
  };
  class Headers {
    #map = new Map();
    constructor(init) {
      if (init == null) return;
      if (init instanceof Headers) init.forEach((v, k) => this.append(k, v));
      else if (Array.isArray(init)) for (const [k, v] of init) this.append(k, v);
      else if (typeof init === 'object') for (const k of keys(init)) this.append(k, init[k]);
    }
    append(name, value) {
      refuseChange(this);
      const k = String(name).toLowerCase();
      const v = String(value);
      const old = this.#map.get(k);
      this.#map.set(k, old === undefined ? v : `${old}, ${v}`);
    }
    set(name, value) { refuseChange(this); this.#map.set(String(name).toLowerCase(), String(value)); }
    get(name) { const v = this.#map.get(String(name).toLowerCase()); return v === undefined ? null : v; }
    has(name) { return this.#map.has(String(name).toLowerCase()); }
    delete(name) { refuseChange(this); this.#map.delete(String(name).toLowerCase()); }
    forEach(callback, thisArg) { for (const [k, v] of this.#sorted()) callback.call(thisArg, v, k, this); }
    entries() { return this.#sorted()[Symbol.iterator](); }
    keys() { return this.#sorted().map(([k]) => k)[Symbol.iterator](); }
    values() { return this.#sorted().map(([, v]) => v)[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    // Iteration is in lexicographic order of the (lower-case) names, as in the Fetch standard.
    #sorted() { return Array.from(this.#map.entries()).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); }
    get [Symbol.toStringTag]() { return 'Headers'; }
  }

  // Request, Response and their body live in src/js/web.js, built on first use.
  let webClasses;
  const web = () => {
    if (webClasses === undefined) webClasses = extension('web');
    return webClasses;
  };

  // Lit's fetch is a frozen wrapper that counts the call before anything
  // else: a call over the limit, or one whose request is refused or fails
  // later, still counts.
  async function fetch(input, init = {}) {
    native.countFetch();
    const { Request, responseFromHost, cloneBytes } = web();
    const request = input instanceof Request && (init == null || keys(init).length === 0) ? input : new Request(input, init);
    const headers = [];
    request.headers.forEach((v, k) => headers.push([k, v]));
    const bytes = cloneBytes.call(request);
    const body = bytes === null ? undefined : new Uint8Array(bytes);
    const raw = await hostCall('fetch', { url: request.url, method: request.method, headers }, body);
    return responseFromHost(raw);
  }

  freeze(fetch);

  // ---- Lit.Actions -------------------------------------------------------------------

  // Lit's argument checks (its ops' ensure_* checks), as RangeErrors with
  // Lit's texts. A string argument of Lit's ops that is not a string reads
  // as '' there (so it is "blank"); numbers and bigints are read as their
  // decimal text here.
  const opString = (value) =>
    (typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'bigint' ? String(value) : '');
  const ensureNotBlank = (value, what) => {
    const text = opString(value);
    if (text.trim() === '') throw new RangeError(`${what} must not be blank`);
    return text;
  };
  const ensureNotEmpty = (length, what) => {
    if (!(length > 0)) throw new RangeError(`${what} must not be empty`);
  };
  const U256_MAX = (1n << 256n) - 1n;
  const ensureU256 = (value, what) => {
    const text = ensureNotBlank(value, what);
    const ok = /^0x[0-9a-fA-F]{1,64}$/.test(text) || (/^[0-9]+$/.test(text) && BigInt(text) <= U256_MAX);
    if (!ok) throw new RangeError(`${what} must be a valid U256 string`);
    return text;
  };
  // Bytes as Lit's `new Uint8Array(x)` reads them: anything that is not
  // bytes (undefined, an object without length) reads as no bytes.
  const opBytes = (value, what) =>
    (value === undefined || value === null || (typeof value === 'object' && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer) && !Array.isArray(value) && value.length === undefined)
      ? new Uint8Array(0)
      : bytesOf(value, what));
  // A function whose checks throw returns a rejected promise, as Lit's async ops do.
  const rejecting = (f) => (...args) => {
    try { return f(...args); } catch (e) { return PromiseCtor.reject(e); }
  };

  const uint8arrayFromString = (string, encoding = 'utf8') => native.encode(String(string), String(encoding));
  const uint8arrayToString = (array, encoding = 'utf8') => native.decode(bytesOf(array, 'array'), String(encoding));

  function signArgs(name, { toSign, publicKey, sigName } = {}) {
    const bytes = opBytes(toSign, `${name}: toSign`);
    ensureNotEmpty(bytes.length, 'toSign');
    ensureNotBlank(publicKey, 'publicKey');
    ensureNotBlank(sigName, 'sigName');
    return [{ publicKey, sigName }, bytes];
  }

  const schemeBytes = (toSign, what) => (typeof toSign === 'string' ? native.utf8Encode(toSign) : opBytes(toSign, what));

  const generic = (name) => (args = {}) => hostCall(name, args);
  const permitted = (name) => rejecting((args = {}) => {
    ensureU256(args.tokenId, 'tokenId');
    return hostCall(name, args);
  });

  const Actions = {
    signEcdsa: (params) => {
      try { return hostCall('signEcdsa', ...signArgs('signEcdsa', params)); } catch (e) { return PromiseCtor.reject(e); }
    },
    signAndCombineEcdsa: (params) => {
      try { return hostCall('signAndCombineEcdsa', ...signArgs('signAndCombineEcdsa', params)); } catch (e) { return PromiseCtor.reject(e); }
    },
    ethPersonalSignMessageEcdsa: ({ message, publicKey, sigName } = {}) => {
      try {
        const bytes = typeof message === 'string' ? native.utf8Encode(message) : opBytes(message, 'ethPersonalSignMessageEcdsa: message');
        ensureNotEmpty(bytes.length, 'toSign');
        ensureNotBlank(publicKey, 'publicKey');
        ensureNotBlank(sigName, 'sigName');
        return hostCall('ethPersonalSignMessageEcdsa', { publicKey, sigName }, bytes);
      } catch (e) {
        return PromiseCtor.reject(e);
      }
    },
    // Lit passes toSign through `new Uint8Array(toSign)`, which turns a string
    // into zero bytes; Candela signs a string's UTF-8 bytes instead.
    signAndCombine: ({ toSign, publicKey, sigName, signingScheme } = {}) => {
      try {
        const bytes = schemeBytes(toSign, 'signAndCombine: toSign');
        ensureNotEmpty(bytes.length, 'toSign');
        ensureNotBlank(publicKey, 'publicKey');
        ensureNotBlank(sigName, 'sigName');
        ensureNotBlank(signingScheme, 'signingScheme');
        return hostCall('signAndCombine', { publicKey, sigName, signingScheme }, bytes);
      } catch (e) {
        return PromiseCtor.reject(e);
      }
    },
    signAsAction: ({ toSign, sigName, signingScheme } = {}) => {
      try {
        const bytes = schemeBytes(toSign, 'signAsAction: toSign');
        ensureNotEmpty(bytes.length, 'toSign');
        ensureNotBlank(sigName, 'sigName');
        ensureNotBlank(signingScheme, 'signingScheme');
        return hostCall('signAsAction', { sigName, signingScheme }, bytes);
      } catch (e) {
        return PromiseCtor.reject(e);
      }
    },
    getActionPublicKey: ({ signingScheme, actionIpfsCid } = {}) => {
      try {
        ensureNotBlank(signingScheme, 'signingScheme');
        ensureNotBlank(actionIpfsCid, 'actionIpfsCid');
        return hostCall('getActionPublicKey', { signingScheme, actionIpfsCid });
      } catch (e) {
        return PromiseCtor.reject(e);
      }
    },
    verifyActionSignature: ({ signingScheme, actionIpfsCid, toSign, signOutput } = {}) => {
      try {
        ensureNotBlank(signingScheme, 'signingScheme');
        ensureNotBlank(actionIpfsCid, 'actionIpfsCid');
        ensureNotBlank(signOutput, 'signOutput');
        return hostCall('verifyActionSignature', { signingScheme, actionIpfsCid, signOutput }, schemeBytes(toSign, 'verifyActionSignature: toSign'));
      } catch (e) {
        return PromiseCtor.reject(e);
      }
    },
    // Lit's op takes a string and reads anything else as '': a missing
    // response sets ''. Other values are kept as JSON here (see
    // docs/lit-sandbox-api.md).
    setResponse: ({ response }) => {
      let text = '';
      if (typeof response === 'string') text = response;
      else if (response !== undefined && response !== null) text = stringify(response) ?? '';
      native.setResponse(text);
    },
    async runOnce({ waitForResponse = false, name } = {}, fn) {
      const key = name || 'default_bc_id';
      const leader = await hostCall('runOnce', { step: 'isLeader', name: key });
      if (leader) {
        let result = '';
        try {
          result = await fn();
        } catch (e) {
          // Lit's behaviour (every node gets '[ERROR]'), but the error itself,
          // with its stack, stays in this node's logs, which the client shows.
          print(`Error running function: runOnce "${key}" threw:`, e && e.stack ? `${e}\n${e.stack}` : e);
          result = '[ERROR]';
        }
        try {
          result = result.toString();
        } catch (e) {
          print('Error converting response to string:', e);
          result = '';
        }
        if (waitForResponse) await hostCall('runOnce', { step: 'publish', name: key, value: result });
        return result;
      }
      if (waitForResponse) return hostCall('runOnce', { step: 'collect', name: key });
      return undefined;
    },
    broadcastAndCollect: ({ name, value } = {}) => hostCall('broadcastAndCollect', { name: String(name), value: String(value) }),
    call: rejecting(({ ipfsId, params } = {}) => {
      ensureNotBlank(ipfsId, 'ipfsId');
      return hostCall('call', { ipfsId: opString(ipfsId), params: params === undefined ? null : params });
    }),
    getRpcUrl: ({ chain } = {}) => hostCall('getRpcUrl', { chain: String(chain) }),
    getLatestNonce: rejecting(({ address, chain } = {}) => {
      // Lit reads the address as 20 bytes of hex (serde's text for anything else).
      const hex = typeof address === 'string' ? address.replace(/^0x/, '') : '';
      if (typeof address !== 'string' || hex.length !== 40 || !/^[0-9a-fA-F]*$/.test(hex)) {
        let detail = `invalid type: ${address === null ? 'null' : typeof address}`;
        if (typeof address === 'string') detail = hex.length !== 40 ? `invalid length ${hex.length}` : `invalid value: string ${stringify(address)}`;
        throw new TypeError(`${detail}, expected a (both 0x-prefixed or not) hex string or byte array containing 20 bytes`);
      }
      ensureNotBlank(chain, 'chain');
      return hostCall('getLatestNonce', { address: String(address), chain: String(chain) });
    }),
    pubkeyToTokenId: ({ publicKey } = {}) => native.pubkeyToTokenId(ensureNotBlank(publicKey, 'publicKey')),
    uint8arrayToString,
    uint8arrayFromString,
    isPermittedAction: rejecting((args = {}) => {
      ensureU256(args.tokenId, 'tokenId');
      return hostCall('isPermittedAction', args);
    }),
    isPermittedAddress: rejecting((args = {}) => {
      ensureU256(args.tokenId, 'tokenId');
      return hostCall('isPermittedAddress', args);
    }),
    isPermittedAuthMethod: rejecting(({ tokenId, authMethodType, userId } = {}) => {
      ensureU256(tokenId, 'tokenId');
      ensureU256(authMethodType, 'authMethodType');
      const user = opBytes(userId, 'userId');
      ensureNotEmpty(user.length, 'userId');
      return hostCall('isPermittedAuthMethod', { tokenId, authMethodType, userId: Array.from(user) });
    }),
    getPermittedActions: permitted('getPermittedActions'),
    getPermittedAddresses: permitted('getPermittedAddresses'),
    getPermittedAuthMethods: permitted('getPermittedAuthMethods'),
    getPermittedAuthMethodScopes: rejecting(({ tokenId, authMethodType, userId, maxScopeId = 100 } = {}) => {
      ensureU256(tokenId, 'tokenId');
      ensureU256(authMethodType, 'authMethodType');
      const user = opBytes(userId, 'userId');
      ensureNotEmpty(user.length, 'userId');
      return hostCall('getPermittedAuthMethodScopes', { tokenId, authMethodType, userId: Array.from(user), maxScopeId });
    }),
    checkConditions: rejecting((args = {}) => {
      const { conditions, chain } = args;
      ensureNotEmpty(Array.isArray(conditions) ? conditions.length : 0, 'conditions');
      if (chain !== undefined && chain !== null) ensureNotBlank(chain, 'chain');
      return hostCall('checkConditions', args);
    }),
    decryptAndCombine: generic('decryptAndCombine'),
    decryptToSingleNode: generic('decryptToSingleNode'),
    encrypt: ({ to_encrypt, ...conditions } = {}) => {
      try {
        const bytes = typeof to_encrypt === 'string' ? new TextEncoder().encode(to_encrypt) : bytesOf(to_encrypt, 'encrypt: to_encrypt');
        return hostCall('encrypt', { ...conditions, to_encrypt: Array.from(bytes) });
      } catch (e) { return PromiseCtor.reject(e); }
    },
    callContract: rejecting((args = {}) => {
      ensureNotBlank(args.chain, 'chain');
      ensureNotBlank(args.txn, 'txn');
      return hostCall('callContract', args);
    }),
    // AES-256-CBC as Lit's node decrypts: the ciphertext's first 16 bytes
    // are the IV; resolves to the plaintext as lowercase hex.
    aesDecrypt: rejecting(({ symmetricKey, ciphertext } = {}) => {
      const key = opBytes(symmetricKey, 'aesDecrypt: symmetricKey');
      const data = opBytes(ciphertext, 'aesDecrypt: ciphertext');
      ensureNotEmpty(key.length, 'symmetricKey');
      ensureNotEmpty(data.length, 'ciphertext');
      return hostCall('aesDecrypt', { symmetricKey: Array.from(key) }, data);
    }),
    claimKey: rejecting((args = {}) => {
      ensureNotBlank(args.keyId, 'keyId');
      return hostCall('claimKey', args);
    }),
  };
  freeze(Actions);

  const authObject = parse(authJson);
  for (const k of keys(authObject)) freeze(authObject[k]);
  const Auth = freeze(authObject);
  // The request's HTTP headers (lower-case names, repeated ones joined with ", "), unchangeable.
  const LitHeaders = new Headers(parse(headersJson));
  immutableHeaders.add(LitHeaders);
  freeze(LitHeaders);
  const Lit = freeze({ Actions, Auth, Headers: LitHeaders });

  // ---- globals -------------------------------------------------------------------------

  lockGlobal('Lit', Lit);
  lockGlobal('LitActions', Actions);
  lockGlobal('LitAuth', Auth);
  lockGlobal('LitHeaders', LitHeaders);
  // ---- the clock ------------------------------------------------------------
  // Date reads the host's clock, so that a replay can answer the readings the
  // node recorded. `new Date(x)` and the rest of Date behave as in any engine:
  // the wrapper keeps Date's name, length, prototype and static methods.
  const RealDate = Date;
  const dateProto = RealDate.prototype;
  const { apply, construct } = Reflect;
  const hostNow = () => native.now();
  // QuickJS's parser reads a few ISO-looking strings that V8 (and the
  // format in the language) refuse, and refuses one V8 reads; these are
  // settled here before the string reaches it. Regular expressions run
  // through the exec captured now, so an action cannot redirect them.
  const StringCtor = String;
  const regexpExec = RegExp.prototype.exec;
  const toUpperCase = StringCtor.prototype.toUpperCase;
  const realParse = RealDate.parse;
  const matches = (re, text) => apply(regexpExec, re, [text]) !== null;
  // month 00 or day 00 ("2020-00-01"): no date, where QuickJS falls back to its loose parser
  const zeroMonthOrDay = /^(?:[+-]\d{6}|\d{4})-(?:00(?!\d)|\d\d-00(?!\d))/;
  // a comma before the fraction of a second, or an offset of hours alone ("+05")
  const badIsoTime = /^(?:[+-]\d{6}|\d{4})-\d\d-\d\dT\d\d:\d\d(?::\d\d,|(?::\d\d(?:\.\d+)?)?[+-]\d\d$)/;
  // lower-case "t" and "z" in an otherwise valid ISO date-time, which V8 reads
  const lowerCaseIso = /^(?:[+-]\d{6}|\d{4})-\d\d-\d\d[tT]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[zZ]|[+-]\d\d:?\d\d)?$/;
  function parseDate(text) {
    if (matches(zeroMonthOrDay, text) || matches(badIsoTime, text)) return NaN;
    if (matches(lowerCaseIso, text)) return realParse(apply(toUpperCase, text, []));
    return realParse(text);
  }
  function CandelaDate(...args) {
    if (new.target === undefined) return new RealDate(hostNow()).toString();
    if (args.length === 0) return construct(RealDate, [hostNow()], new.target);
    if (args.length === 1 && typeof args[0] === 'string') return construct(RealDate, [parseDate(args[0])], new.target);
    return construct(RealDate, args, new.target);
  }
  const hidden = (value) => ({ value, writable: true, configurable: true, enumerable: false });
  defineProperty(CandelaDate, 'name', { value: 'Date', configurable: true });
  defineProperty(CandelaDate, 'length', { value: RealDate.length, configurable: true });
  defineProperty(CandelaDate, 'prototype', { value: dateProto, writable: false });
  defineProperty(dateProto, 'constructor', hidden(CandelaDate));
  defineProperty(CandelaDate, 'now', hidden({ now() { return hostNow(); } }.now));
  defineProperty(CandelaDate, 'parse', hidden({ parse(text) { return parseDate(`${text}`); } }.parse));
  defineProperty(CandelaDate, 'UTC', hidden(RealDate.UTC));

  // QuickJS's field setters (setUTCFullYear & co) return NaN for a NaN or
  // infinite argument but leave the date's time value as it was, so
  // `new Date(0).setUTCFullYear(NaN)` left a valid 1970-01-01 behind. The
  // language says a setter stores the time value it returns; these wrappers
  // store the NaN too (the arguments are coerced once, by the original).
  const setTime = dateProto.setTime;
  for (const name of [
    'setMilliseconds', 'setUTCMilliseconds', 'setSeconds', 'setUTCSeconds',
    'setMinutes', 'setUTCMinutes', 'setHours', 'setUTCHours', 'setDate', 'setUTCDate',
    'setMonth', 'setUTCMonth', 'setFullYear', 'setUTCFullYear', 'setYear',
  ]) {
    const original = dateProto[name];
    if (typeof original !== 'function') continue;
    const setter = {
      [name]() {
        const time = apply(original, this, arguments);
        if (time !== time) apply(setTime, this, [NaN]);
        return time;
      },
    }[name];
    defineProperty(setter, 'length', { value: original.length, configurable: true });
    defineProperty(dateProto, name, hidden(setter));
  }
  setGlobal('Date', CandelaDate);

  // ---- Math.random ----------------------------------------------------------
  // QuickJS seeds Math.random from the clock (microseconds), so two nodes
  // starting an action in the same microsecond drew the same numbers. This
  // generator (xoshiro128**) is seeded per run with 128 bits from the
  // operating system's RNG, like V8's per-isolate seeding. Not for secrets:
  // crypto.getRandomValues reads the OS RNG on every call.
  {
    const imul = Math.imul;
    const seed = native.randomBytes(16);
    const word = (i) => ((seed[i] | (seed[i + 1] << 8) | (seed[i + 2] << 16) | (seed[i + 3] << 24)) >>> 0);
    let s0 = word(0), s1 = word(4), s2 = word(8), s3 = word(12);
    if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is a fixed point
    const rotl = (x, k) => (x << k) | (x >>> (32 - k));
    const next = () => {
      const result = imul(rotl(imul(s1, 5), 7), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      return result;
    };
    // 53 random bits: 27 from one draw and 26 from the next.
    const random = { random() { return ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992; } }.random;
    defineProperty(Math, 'random', hidden(random));
  }

  setGlobal('self', g);
  // Lit exposes `global` too (older Deno had it).
  setGlobal('global', g);
  setGlobal('console', console);
  setGlobal('fetch', fetch);
  setGlobal('Headers', Headers);
  setGlobal('TextEncoder', TextEncoder);
  setGlobal('TextDecoder', TextDecoder);
  setGlobal('crypto', crypto);
  setGlobal('atob', (data) => native.atob(String(data)));
  setGlobal('btoa', (data) => native.btoa(String(data)));
  setGlobal('setTimeout', setTimeout);
  setGlobal('clearTimeout', clearTimeout);
  setGlobal('setInterval', setInterval);
  setGlobal('clearInterval', clearInterval);
  setGlobal('eval', function evalIsDisabled() {
    throw new EvalError('eval is disabled in Candela actions');
  });
  // The sandbox has no compiler; `new Function(…)` and the constructors of
  // async and generator functions say so with a catchable EvalError. Each
  // replacement keeps its prototype, so `f instanceof Function` still holds.
  for (const [what, proto] of [
    ['Function', Function.prototype],
    ['AsyncFunction', Object.getPrototypeOf(async function () {})],
    ['GeneratorFunction', Object.getPrototypeOf(function* () {})],
    ['AsyncGeneratorFunction', Object.getPrototypeOf(async function* () {})],
  ]) {
    const refuse = function () {
      throw new EvalError(`${what} constructor is disabled in Candela actions (no code is compiled at run time)`);
    };
    defineProperty(refuse, 'name', { value: what, configurable: true });
    defineProperty(refuse, 'prototype', { value: proto, writable: false, configurable: false, enumerable: false });
    defineProperty(proto, 'constructor', hidden(refuse));
    if (what === 'Function') setGlobal('Function', refuse);
  }

  // ---- lazily built globals -------------------------------------------------
  // Each is built on first touch (a getter on globalThis that replaces itself
  // with the value), so a run that never uses it pays nothing. Their code is
  // in src/js/*.js, compiled once per process; `native.extension(name, shared)`
  // evaluates it with the helpers it needs and returns what it builds.
  const shared = freeze({
    bytesOf,
    Headers,
    print,
    promiseState: (p) => native.promiseState(p),
    userFrames: (stack) => native.userFrames(stack),
    utf8Encode: (text) => native.utf8Encode(text),
    utf8Decode: (bytes, fatal, ignoreBOM) => native.utf8Decode(bytes, fatal, ignoreBOM),
  });
  const extensions = new Map();
  const extension = (name) => {
    let value = extensions.get(name);
    if (value === undefined) {
      value = native.extension(name, shared);
      extensions.set(name, value);
    }
    return value;
  };
  const lazyGlobal = (name, build) =>
    defineProperty(g, name, {
      configurable: true,
      enumerable: false,
      get() {
        const value = build();
        setGlobal(name, value);
        return value;
      },
      set(value) {
        setGlobal(name, value);
      },
    });
  lazyGlobal('Response', () => web().Response);
  lazyGlobal('Request', () => web().Request);
  lazyGlobal('WebAssembly', () => extension('wasm'));
  lazyGlobal('jwt', () => native.loadJwt());
  lazyGlobal('Deno', () => extension('deno').Deno);
  // Lit's runtime (Deno) has no storage in this context: touching it throws.
  defineProperty(g, 'localStorage', {
    configurable: true,
    enumerable: false,
    get() { throw extension('deno').notSupported('LocalStorage is not supported in this context.'); },
  });
  defineProperty(g, 'sessionStorage', {
    configurable: true,
    enumerable: false,
    get() { throw extension('deno').notSupported('SessionStorage is not supported in this context.'); },
  });
  // crypto is frozen, so `subtle` stays a getter; it builds the object once.
  let subtle;
  defineProperty(crypto, 'subtle', {
    configurable: false,
    enumerable: true,
    get() {
      if (subtle === undefined) subtle = extension('subtle');
      return subtle;
    },
  });
  freeze(crypto);

  // `ethers` (v5) is loaded on first touch only: actions that never use it pay nothing.
  defineProperty(g, 'ethers', {
    configurable: true,
    enumerable: false,
    get() {
      const value = native.loadEthers();
      setGlobal('ethers', value);
      return value;
    },
    set(value) {
      setGlobal('ethers', value);
    },
  });

  // jsParams: the object, and each key as a global. Lit assigns them all
  // in strict mode (Object.assign onto globalThis), so a key naming a
  // read-only global (Lit, LitActions, LitAuth, LitHeaders, undefined,
  // NaN, Infinity) or one with only a getter fails the run before the
  // action starts: setup then returns that error's text, not `complete`.
  const params = parse(paramsJson);
  setGlobal('jsParams', params);
  for (const k of keys(params)) {
    if (k === 'jsParams') continue;
    const d = Object.getOwnPropertyDescriptor(g, k);
    if (d !== undefined && 'value' in d && !d.writable) {
      return `TypeError: Cannot assign to read only property '${k}' of object '#<Window>'`;
    }
    if (d !== undefined && d.get !== undefined && d.set === undefined) {
      return `TypeError: Cannot set property ${k} of #<Window> which has only a getter`;
    }
    setGlobal(k, params[k]);
  }

  return complete;
})
