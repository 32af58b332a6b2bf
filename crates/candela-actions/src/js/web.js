// `Request` and `Response` (and the body they share), built the first time
// an action touches either or calls `fetch`. Evaluates to a function of
// (natives, shared helpers) returning the classes and the two internal
// helpers `fetch` needs.
(function web(_native, shared) {
  'use strict';
  const { stringify, parse } = JSON;
  const { keys } = Object;
  const { Headers, utf8Encode, utf8Decode } = shared;

  // Body bytes (an ArrayBuffer or null) from what `new Response(body)` / `new Request(url, {body})` accept.
  function bodyBytes(body) {
    if (body == null) return [null, null];
    if (typeof body === 'string') return [utf8Encode(body).buffer, 'text/plain;charset=UTF-8'];
    if (body instanceof ArrayBuffer) return [body.slice(0), null];
    if (ArrayBuffer.isView(body)) return [body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength), null];
    return [utf8Encode(String(body)).buffer, 'text/plain;charset=UTF-8'];
  }

  class Body {
    #body;
    #used = false;
    constructor(bytes) { this.#body = bytes; }
    get bodyUsed() { return this.#used; }
    get body() { return this.#body === null ? null : new Uint8Array(this.#body.slice(0)); }
    #consume() {
      if (this.#used) throw new TypeError('Body has already been consumed');
      this.#used = true;
      return this.#body === null ? new ArrayBuffer(0) : this.#body;
    }
    async arrayBuffer() { return this.#consume().slice(0); }
    async bytes() { return new Uint8Array(this.#consume().slice(0)); }
    async text() { return utf8Decode(new Uint8Array(this.#consume()), false, false); }
    async json() { return parse(await this.text()); }
    // The bytes for a copy of this body (refused once consumed).
    cloneBytes() {
      if (this.#used) throw new TypeError('Body has already been consumed');
      return this.#body === null ? null : this.#body.slice(0);
    }
  }
  const cloneBytes = Body.prototype.cloneBytes;
  delete Body.prototype.cloneBytes;

  const responseUrls = new WeakMap();
  class Response extends Body {
    constructor(body = null, init = {}) {
      const options = init || {};
      const [bytes, type] = bodyBytes(body);
      super(bytes);
      const status = options.status === undefined ? 200 : Number(options.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) {
        throw new RangeError(`Failed to construct 'Response': The status provided (${options.status}) is outside the range [200, 599].`);
      }
      this.status = status;
      this.statusText = options.statusText === undefined ? '' : String(options.statusText);
      this.ok = status >= 200 && status < 300;
      this.redirected = false;
      this.type = 'default';
      this.headers = new Headers(options.headers);
      if (type !== null && !this.headers.has('content-type')) this.headers.set('content-type', type);
    }
    get url() { return responseUrls.get(this) || ''; }
    clone() {
      const copy = new Response(cloneBytes.call(this), { status: this.status, statusText: this.statusText, headers: this.headers });
      responseUrls.set(copy, this.url);
      copy.type = this.type;
      return copy;
    }
    static json(data, init = {}) {
      const headers = new Headers((init && init.headers) || undefined);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      return new Response(stringify(data), { ...(init || {}), headers });
    }
    get [Symbol.toStringTag]() { return 'Response'; }
  }

  // A response of `fetch`: the host's status may be outside 200..599 (e.g. 101), so it is set after construction.
  function responseFromHost(raw) {
    const r = new Response(raw.body, { headers: raw.headers });
    r.status = raw.status;
    r.statusText = raw.statusText;
    r.ok = raw.status >= 200 && raw.status < 300;
    r.type = 'basic';
    responseUrls.set(r, raw.url);
    return r;
  }

  class Request extends Body {
    constructor(input, init = {}) {
      const options = init || {};
      const from = input instanceof Request ? input : null;
      const url = from ? from.url : String(input);
      const method = String(options.method || (from ? from.method : 'GET')).toUpperCase();
      let bytes = null;
      let type = null;
      if (options.body != null) {
        if (method === 'GET' || method === 'HEAD') throw new TypeError('Request with GET/HEAD method cannot have body.');
        [bytes, type] = bodyBytes(options.body);
      } else if (from) {
        bytes = cloneBytes.call(from);
      }
      super(bytes);
      this.url = url;
      this.method = method;
      this.headers = new Headers(options.headers || (from ? from.headers : undefined));
      if (type !== null && !this.headers.has('content-type')) this.headers.set('content-type', type);
    }
    clone() { return new Request(this); }
    get [Symbol.toStringTag]() { return 'Request'; }
  }

  return Object.freeze({ Request, Response, responseFromHost, cloneBytes });
})
