// @ethersproject/signing-key on native secp256k1: same classes, functions and
// results (RFC 6979 nonces, low s), without loading the pure-JS elliptic curve.
'use strict';
const { arrayify, hexlify, hexDataLength, splitSignature } = require('@ethersproject/bytes');
const { defineReadOnly } = require('@ethersproject/properties');
const { Logger } = require('@ethersproject/logger');
const native = require('./native.cjs');

const logger = new Logger('signing-key/5.7.0');

class SigningKey {
  constructor(privateKey) {
    defineReadOnly(this, 'curve', 'secp256k1');
    defineReadOnly(this, 'privateKey', hexlify(privateKey));
    if (hexDataLength(this.privateKey) !== 32) {
      logger.throwArgumentError('invalid private key', 'privateKey', '[[ REDACTED ]]');
    }
    const secret = arrayify(this.privateKey);
    defineReadOnly(this, 'publicKey', native.get().publicKey(secret, false));
    defineReadOnly(this, 'compressedPublicKey', native.get().publicKey(secret, true));
    defineReadOnly(this, '_isSigningKey', true);
  }

  _addPoint(other) {
    return native.get().addPoints(arrayify(this.publicKey), arrayify(computePublicKey(other)));
  }

  signDigest(digest) {
    const bytes = arrayify(digest);
    if (bytes.length !== 32) logger.throwArgumentError('bad digest length', 'digest', digest);
    const sig = native.get().sign(arrayify(this.privateKey), bytes);
    return splitSignature({ recoveryParam: sig.recoveryParam, r: sig.r, s: sig.s });
  }

  computeSharedSecret(otherKey) {
    return native.get().sharedSecret(arrayify(this.privateKey), arrayify(computePublicKey(otherKey)));
  }

  static isSigningKey(value) {
    return !!(value && value._isSigningKey);
  }
}

function recoverPublicKey(digest, signature) {
  const sig = splitSignature(signature);
  return native.get().recover(arrayify(digest), arrayify(sig.r), arrayify(sig.s), sig.recoveryParam);
}

function computePublicKey(key, compressed) {
  const bytes = arrayify(key);
  if (bytes.length === 32) {
    const signingKey = new SigningKey(bytes);
    return compressed ? signingKey.compressedPublicKey : signingKey.publicKey;
  }
  if (bytes.length === 33 || bytes.length === 65) {
    if ((bytes.length === 33) === !!compressed) return hexlify(bytes);
    return native.get().convertPublicKey(bytes, !!compressed);
  }
  return logger.throwArgumentError('invalid public or private key', 'key', '[REDACTED]');
}

exports.SigningKey = SigningKey;
exports.recoverPublicKey = recoverPublicKey;
exports.computePublicKey = computePublicKey;
