// The part of node's `crypto` that jsonwebtoken (through jwa) uses. HMAC runs
// natively (sha256/384/512); public-key signatures are not offered here and
// fail with an error that says so.
'use strict';
const { Buffer } = require('buffer');
const native = require('./jwt-native.cjs');

const HMACS = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

function toBytes(data) {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.from(data);
}

exports.createHmac = function createHmac(algorithm, secret) {
  const hash = HMACS[String(algorithm).toLowerCase()];
  if (hash === undefined) throw new Error(`jwt: HMAC with ${algorithm} is not supported`);
  const key = toBytes(secret);
  const parts = [];
  return {
    update(data) {
      parts.push(toBytes(data));
      return this;
    },
    digest(encoding) {
      const mac = Buffer.from(native.get().hmac(hash, key, Buffer.concat(parts)));
      return encoding === undefined ? mac : mac.toString(encoding);
    },
  };
};

function unsupported(kind) {
  return function () {
    throw new Error(`jwt: ${kind} (RS/PS/ES algorithms) is not supported in Candela actions; use HS256/HS384/HS512, or crypto.subtle.verify for ECDSA P-256 and Ed25519`);
  };
}
exports.createSign = unsupported('signing with a public-key algorithm');
exports.createVerify = unsupported('verifying with a public-key algorithm');
exports.constants = {};
