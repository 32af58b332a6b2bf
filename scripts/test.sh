#!/usr/bin/env bash
# Every test, from a fresh machine: installs what the tests need, checks
# formatting and lints, then runs the whole workspace test suite (unit,
# in-process multi-party, and end-to-end tests that start real node
# processes on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

# npm packages the action runtime uses (ethers@5, bundled once), when present.
if [ -f crates/candela-actions/js/setup.sh ]; then
  bash crates/candela-actions/js/setup.sh
fi

# npm packages the action-project tests (crates/candela-cli/tests/e2e_project.rs)
# install into their temporary projects: esbuild (the pin of `candela build`,
# with this platform's binary package) and js-sha3, fetched into npm's cache
# here so that a registry outage fails here, early and clearly.
npm cache add esbuild@0.24.2 js-sha3@0.9.3 \
  "@esbuild/$(node -p 'process.platform + "-" + process.arch')@0.24.2"

# The official Lit JS SDK v7 (pinned in compat/js-sdk/package-lock.json),
# for the compatibility suite at the end.
npm ci --prefix compat/js-sdk --no-audit --no-fund
# The DeFi example's Uniswap V2 artifacts and ethers (pinned in
# examples/defi-rebalance/package-lock.json), for crates/candela-cli/tests/e2e_defi.rs.
npm ci --prefix examples/defi-rebalance --no-audit --no-fund
# TypeScript and the ethers 5.7.2 types (pinned in
# compat/typescript/package-lock.json) that check the editor declarations
# `candela init` writes, for crates/candela-cli/tests/typescript_declarations.rs.
npm ci --prefix compat/typescript --no-audit --no-fund
# @solana/web3.js 1, bitcoinjs-lib 6 and @noble/curves (pinned in
# examples/chains/package-lock.json): the scripts that build and independently
# verify the Solana, taproot and BLS signatures of the chain examples, and
# their tests.
npm ci --prefix examples/chains --no-audit --no-fund

# Solidity registry contracts: pinned solc from npm, tests against a real
# anvil (npm @foundry-rs/anvil) on loopback.
bash contracts/test.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

# Compatibility: the official Lit JS SDK v7, unchanged, against a devnet on
# anvil started by the suite (compat/js-sdk/test/).
# The test build above made the `candela` binary these suites start
# (target/debug/candela, as the e2e tests use it); build it only when it is
# missing: built on its own it resolves other features and rebuilds much of
# the tree (about 3 minutes on 2 cores).
[ -x "${CARGO_TARGET_DIR:-target}/debug/candela" ] || cargo build -p candela-cli --bin candela
npm test --prefix compat/js-sdk
# The Solana and taproot example actions (examples/actions/) run in node with
# a local-key Lit.Actions shim, their transactions verified by @solana/web3.js,
# bitcoinjs-lib and @noble/curves; the BLS verifier against noble signatures.
npm test --prefix examples/chains

# Fuzz smoke run: every cargo-fuzz target of fuzz/ builds and runs for a few
# seconds (7 targets, unoptimised build: the build is most of the time on a
# 2-core machine). Real runs: scripts/fuzz.sh 3600 (optimised).
FUZZ_BUILD=dev bash scripts/fuzz.sh "${CANDELA_FUZZ_SECONDS:-5}"
