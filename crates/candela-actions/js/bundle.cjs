// Bundles the two npm libraries actions see as globals, each into one IIFE
// script under dist/:
// - ethers.bundle.js: build/entry.cjs (ethers 5.7.2), replacing three
//   @ethersproject packages by shims whose expensive primitives are native
//   (keccak256, sha256/sha512, secp256k1);
// - jwt.bundle.js: jsonwebtoken 8.5.1, with node's `crypto` replaced by
//   shims/jwt-crypto.cjs (native HMAC) and node's buffer/stream/util/events
//   by their npm browser packages.
'use strict';
const path = require('path');
const esbuild = require('esbuild');

const shims = {
  '@ethersproject/keccak256': 'keccak256.cjs',
  '@ethersproject/sha2': 'sha2.cjs',
  '@ethersproject/signing-key': 'signing-key.cjs',
};

const nativeShims = {
  name: 'candela-native-shims',
  setup(build) {
    build.onResolve({ filter: /^@ethersproject\/(keccak256|sha2|signing-key)$/ }, (args) => ({
      path: path.join(__dirname, 'shims', shims[args.path]),
    }));
  },
};

const common = {
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
};

const nodeBuiltins = {
  crypto: path.join(__dirname, 'shims', 'jwt-crypto.cjs'),
  buffer: require.resolve('buffer/'),
  stream: require.resolve('stream-browserify'),
  util: require.resolve('util/'),
  events: require.resolve('events/'),
};

const jwtShims = {
  name: 'candela-jwt-shims',
  setup(build) {
    build.onResolve({ filter: /^(crypto|buffer|stream|util|events)$/ }, (args) => ({
      path: nodeBuiltins[args.path],
    }));
  },
};

Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [path.join(__dirname, 'build', 'entry.cjs')],
    outfile: path.join(__dirname, 'dist', 'ethers.bundle.js'),
    mainFields: ['main'],
    plugins: [nativeShims],
  }),
  esbuild.build({
    ...common,
    entryPoints: [path.join(__dirname, 'shims', 'jwt-entry.cjs')],
    outfile: path.join(__dirname, 'dist', 'jwt.bundle.js'),
    mainFields: ['browser', 'main'],
    inject: [path.join(__dirname, 'shims', 'jwt-globals.mjs')],
    define: { global: 'globalThis' },
    plugins: [jwtShims],
  }),
]).catch(() => process.exit(1));
