// Bundles build/entry.cjs with esbuild into dist/ethers.bundle.js (one IIFE
// script), replacing three @ethersproject packages by shims whose expensive
// primitives are native (keccak256, sha256/sha512, secp256k1).
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

esbuild
  .build({
    entryPoints: [path.join(__dirname, 'build', 'entry.cjs')],
    outfile: path.join(__dirname, 'dist', 'ethers.bundle.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    mainFields: ['main'],
    target: 'es2020',
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'none',
    plugins: [nativeShims],
    logLevel: 'warning',
  })
  .catch(() => process.exit(1));
