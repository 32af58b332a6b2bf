#!/usr/bin/env bash
# Install the pinned toolchain (solc-js, anvil, ethers, Lit's published ABIs)
# from the npm registry and compile the contracts into out/.
set -euo pipefail
cd "$(dirname "$0")"
# --ignore-scripts: nothing here needs an install script. The anvil binary
# comes in the platform package @foundry-rs/anvil-<os>-<arch> (an optional
# dependency), not from @foundry-rs/anvil's postinstall.
npm ci --ignore-scripts --no-audit --no-fund
node scripts/build.mjs
