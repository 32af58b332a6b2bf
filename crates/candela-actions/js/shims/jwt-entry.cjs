// Entry of the jwt bundle: jsonwebtoken 8.5.1 (the version Lit's runtime
// bundles as the `jwt` global), with node's `crypto` replaced by
// jwt-crypto.cjs, whose HMAC is native.
'use strict';
const nativeRef = require('./jwt-native.cjs');
globalThis.__candelaJwtFactory = function makeJwt(native) {
  nativeRef.set(native);
  return require('jsonwebtoken');
};
