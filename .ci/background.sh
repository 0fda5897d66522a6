#!/usr/bin/env bash
# CI's builds that no test needs until the end, in one queue: cargo-deny,
# the evaluator's release build for target-cpu=native (the determinism
# check's second build), and the instrumented fuzz targets. .ci/run starts
# this at the lowest priority, so it takes only the cycles the tests leave
# idle (their end-to-end runs mostly wait on deadlines), and waits for it
# before the steps that use what it built.
set -euo pipefail
cd "$(dirname "$0")/.."
# `setsid` gave this queue a scheduler autogroup of its own, and between
# autogroups the kernel shares the CPU evenly whatever each process's nice:
# lower the group's weight too, or this queue takes half the machine.
echo 19 > /proc/self/autogroup 2>/dev/null || true
echo "== $(date -u +%T) cargo-deny"
scripts/deny.sh --install-only
echo "== $(date -u +%T) the evaluator for target-cpu=native"
bash .ci/determinism.sh --build-native
echo "== $(date -u +%T) the fuzz targets"
scripts/fuzz.sh all 0
echo "== $(date -u +%T) done"
