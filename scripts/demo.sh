#!/usr/bin/env bash
# The main job: start a local Candela devnet (5 node processes), generate the
# root key jointly, mint a PKP, sign with more than two thirds of the nodes,
# verify the signature, and stop. Needs the Rust toolchain and Node/npm.
# Extra arguments go to `candela quickstart` (e.g. --nodes 7).
set -euo pipefail
cd "$(dirname "$0")/.."
# the ethers and jwt bundles actions use are compiled into the binary: make it first
# (npm, pinned) so the demo's binary has it
if [ ! -f crates/candela-actions/js/dist/ethers.bundle.js ] || [ ! -f crates/candela-actions/js/dist/jwt.bundle.js ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "demo.sh: node and npm are needed to build the ethers and jwt bundles that actions use" >&2
    echo "(crates/candela-actions/js/setup.sh, pinned npm packages); install Node.js 18+ and run again" >&2
    exit 1
  fi
  bash crates/candela-actions/js/setup.sh || {
    echo "demo.sh: crates/candela-actions/js/setup.sh failed (it needs the npm registry); without its bundles the binary's actions cannot use ethers or jwt" >&2
    exit 1
  }
fi
cargo build --release --bin candela
exec target/release/candela quickstart --dir .candela/devnet --base-port 0 "$@"
