#!/usr/bin/env bash
# Run every cargo-fuzz target of fuzz/ for SECONDS each (default 20):
#   scripts/fuzz.sh            # 20 s per target
#   scripts/fuzz.sh 3600       # an hour per target
#   FUZZ_TARGETS="cid auth" scripts/fuzz.sh 600
# Uses the machine's own toolchain (libFuzzer needs unstable rustc flags,
# allowed with RUSTC_BOOTSTRAP=1; no sanitizer, as the stable toolchain ships
# none) and installs cargo-fuzz when missing. With a nightly toolchain,
# FUZZ_SANITIZER=address runs under AddressSanitizer. Corpora grow
# in fuzz/corpus/<target>/ (only the committed seed-* files are tracked);
# a crash leaves its input in fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET="${1:-20}"

# the fuzz build has its own target dir inside the worktree (fuzz/target)
unset CARGO_TARGET_DIR
export CARGO_INCREMENTAL=0
# rustix 0.37 (pulled in through alloy) sees nightly's rustc_attrs in its
# linux_raw backend and fails to build; its libc backend builds everywhere
export RUSTFLAGS="${RUSTFLAGS:-} --cfg=rustix_use_libc"

cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

SANITIZER="${FUZZ_SANITIZER:-none}"
# FUZZ_BUILD=dev builds unoptimised: about 40 % less build time and some
# 20 times fewer executions per second (the CI smoke run: the targets
# build and run); the default, release, is for real runs
case "${FUZZ_BUILD:-release}" in
  release) BUILD_FLAG=-O ;;
  dev) BUILD_FLAG=--dev ;;
  *) echo "[fuzz] FUZZ_BUILD is release or dev" >&2; exit 2 ;;
esac
if [ "$SANITIZER" = none ]; then
  export RUSTC_BOOTSTRAP=1
  fuzz() { cargo fuzz "$@"; }
else
  fuzz() { cargo +nightly fuzz "$@"; }
fi
targets="${FUZZ_TARGETS:-$(fuzz list)}"
# (on failure the compiler's errors are what the log needs, not the tail)
if ! build_log="$(fuzz build "$BUILD_FLAG" -s "$SANITIZER" 2>&1)"; then
  printf '%s\n' "$build_log" | grep -E -A12 '^(error|warning: unused)' | head -n 80 >&2
  echo "[fuzz] the fuzz targets do not build" >&2
  exit 1
fi
printf '%s\n' "$build_log" | tail -n 3
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "[fuzz] $t for ${SECONDS_PER_TARGET}s"
  # -rss_limit_mb: the hybrid target keeps a 150 KB container; 2 GB is plenty
  fuzz run "$BUILD_FLAG" -s "$SANITIZER" "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 2>&1 | grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|panicked|SUMMARY' || true
  if ls "artifacts/$t"/crash-* >/dev/null 2>&1; then
    echo "[fuzz] $t crashed: see fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
# incremental build state only costs disk
rm -rf target/*/release/incremental target/*/debug/incremental
