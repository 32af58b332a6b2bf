#!/usr/bin/env bash
# The main job: start a local Candela devnet (5 node processes), generate the
# root key jointly, mint a PKP, sign with more than two thirds of the nodes,
# verify the signature, and stop. Needs only the Rust toolchain.
# Extra arguments go to `candela quickstart` (e.g. --nodes 7).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin candela
exec target/release/candela quickstart --dir .candela/devnet --base-port 0 "$@"
