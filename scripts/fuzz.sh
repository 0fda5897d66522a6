#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (fuzz/, outside the workspace).
#   scripts/fuzz.sh [TARGET|all] [SECONDS] [JOBS]
# builds the targets with coverage instrumentation on the stable toolchain
# (the flags `cargo fuzz` passes, without a sanitizer: the code is safe Rust),
# then runs each for SECONDS (default 30; 0: build only) on JOBS processes
# (default 1).
# The committed seeds (fuzz/corpus/T) and crash regressions
# (fuzz/regressions/T) are run first; a crash or a failed assertion exits
# non-zero and leaves the input in target/fuzz/artifacts/T/. What the
# fuzzer learns is kept in target/fuzz/corpus/T (not committed), so runs
# accumulate. The last line per target is libFuzzer's: executions, coverage
# (`cov`: edges; `ft`: features), corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(tensorfile message entry dataset csv idx text tokenizer spec signed_request api)
which="${1:-all}"
seconds="${2:-30}"
jobs="${3:-1}"
if [[ "$which" == all ]]; then selected=("${TARGETS[@]}"); else selected=("$which"); fi

host="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="$PWD/target/fuzz/build"
# --target keeps build scripts and proc macros uninstrumented.
# FUZZ_NO_BUILD=1 runs the targets as last built (a long campaign on one
# commit while the tree changes).
if [[ -z "${FUZZ_NO_BUILD:-}" ]]; then
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing" \
    cargo build --release --locked --manifest-path fuzz/Cargo.toml --target "$host" \
    $(printf -- '--bin %s ' "${selected[@]}")
fi

if [[ "$seconds" == 0 ]]; then exit 0; fi
status=0
for t in "${selected[@]}"; do
  work="target/fuzz/corpus/$t"
  artifacts="target/fuzz/artifacts/$t"
  mkdir -p "$work" "$artifacts" "fuzz/regressions/$t"
  log="target/fuzz/$t.log"
  echo "== fuzz $t for ${seconds}s on $jobs job(s)"
  # New inputs go to the first directory (the working corpus); the seeds and
  # regressions are read, never written. With several jobs libFuzzer forks
  # workers that log to fuzz-N.log in the current directory and copies each
  # into its own output when the worker ends: run them in target/fuzz/jobs.
  parallel=()
  if [[ "$jobs" -gt 1 ]]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
  mkdir -p target/fuzz/jobs
  if ! (cd target/fuzz/jobs && "$CARGO_TARGET_DIR/$host/release/$t" \
      "../../../$work" "../../../fuzz/corpus/$t" "../../../fuzz/regressions/$t" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      "${parallel[@]}" -print_final_stats=1 \
      -artifact_prefix="../../../$artifacts/") > "$log" 2>&1; then
    status=1
    echo "!! $t failed; the input is in $artifacts/"
    tail -n 40 "$log"
  fi
  rm -f target/fuzz/jobs/fuzz-*.log
  grep -E '^#[0-9]+' "$log" | tail -n 1 || true
  grep -E '^stat::number_of_executed_units' "$log" | tail -n 1 || true
done
exit "$status"
