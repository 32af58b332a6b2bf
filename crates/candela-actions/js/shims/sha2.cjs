// @ethersproject/sha2 with sha256 and sha512 computed natively; ripemd160 and
// HMAC come from the original package, loaded on first use.
'use strict';
const { arrayify } = require('@ethersproject/bytes');
const native = require('./native.cjs');

const original = () => require('@ethersproject/sha2/lib/index.js');

exports.sha256 = function sha256(data) {
  return native.get().sha256(arrayify(data));
};
exports.sha512 = function sha512(data) {
  return native.get().sha512(arrayify(data));
};
exports.ripemd160 = function ripemd160(data) {
  return original().ripemd160(data);
};
exports.computeHmac = function computeHmac(algorithm, key, data) {
  return original().computeHmac(algorithm, key, data);
};
Object.defineProperty(exports, 'SupportedAlgorithm', {
  enumerable: true,
  get: () => original().SupportedAlgorithm,
});
