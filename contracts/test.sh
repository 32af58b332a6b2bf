#!/usr/bin/env bash
# Set up (npm ci + build) and run the contract tests against a real anvil.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
# One file at a time: each test file starts its own anvil (2-core machines).
node --test --test-concurrency=1 test/*.test.mjs
