// @ethersproject/keccak256 with the hash computed natively.
'use strict';
const { arrayify } = require('@ethersproject/bytes');
const native = require('./native.cjs');

exports.keccak256 = function keccak256(data) {
  return native.get().keccak256(arrayify(data));
};
