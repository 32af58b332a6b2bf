#!/usr/bin/env bash
# Builds js/dist/ethers.bundle.js and js/dist/jwt.bundle.js, the ethers v5.7.2
# and jsonwebtoken 8.5.1 (npm) bundles that actions see as `ethers` and `jwt`.
# Needs node and npm and the npm registry; cargo never runs this, and the
# crate builds and works without it (touching `ethers` or `jwt` then fails
# with a message naming this script).
set -euo pipefail
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
mkdir -p build dist
node gen-entry.cjs > build/entry.cjs
node bundle.cjs
echo "ethers bundle: $(wc -c < dist/ethers.bundle.js) bytes, jwt bundle: $(wc -c < dist/jwt.bundle.js) bytes, in $(pwd)/dist"
