#!/usr/bin/env bash
# The evaluator's cross-build, cross-CPU determinism check.
#   bash .ci/determinism.sh [--build-native]
#
# Compares two builds of the evaluator that share no compiled code: the dev
# profile for the baseline x86-64 CPU (the one the tests built: opt-level 2,
# debug assertions and overflow checks on) and the release profile with
# -C target-cpu=native (AVX2, FMA and AVX-512 where this CPU has them, in its
# own target dir). It scores a seeded mlp on digits, a seeded standardised mlp
# on breast-cancer, a seeded gpt on Shakespeare and a seeded bert on the
# sentiment fixture (tokenised with MiniLM's tokenizer, fetched by
# scripts/test.sh) with 1, 2 and 8 threads, then runs the baseline build under
# qemu-x86_64 as a CPU without AVX (Nehalem) and one with AVX2 and FMA
# (Haswell). Every receipt must be the same bytes. Then the numpy
# implementation of docs/determinism.md (scripts/reference_eval.py) must give
# the same per-example scores, score and digest on the same models. Needs
# qemu-user for the emulated runs (.ci/run installs it).
# --build-native: only build the native release (.ci/background.sh does, early).
# GPT_LIMIT: sequences the gpt runs score (default 24; the mlp scores all 359).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/determinism
mkdir -p "$out"
rm -f "$out"/*.json
gpt_limit=${GPT_LIMIT:-24}

build_native() {
  RUSTFLAGS="-C target-cpu=native" cargo build --locked --release -q -p evaluator \
    --bin evaluator --target-dir target/det-native
}
if [[ "${1:-}" == --build-native ]]; then build_native; exit 0; fi
echo "== build the evaluator: dev profile for x86-64, release for target-cpu=native"
# The test command's own build (a no-op after scripts/test.sh): building one
# package alone would resolve other features and compile it all again.
cargo test --workspace --locked --no-run -q
build_native
baseline=target/debug/evaluator
native=target/det-native/release/evaluator
synthetic=target/debug/examples/synthetic_model
bounty=target/debug/bounty
"$synthetic" mlp:64,32,10 determinism "$out/mlp.safetensors"
"$synthetic" \
  gpt:vocab=96,context=64,layers=2,width=32,heads=4 determinism "$out/gpt.safetensors"
"$synthetic" mlp:30,16,2+standardize determinism \
  "$out/std.safetensors"
"$synthetic" \
  bert:vocab=30522,positions=32,types=2,layers=2,width=32,heads=4,ffn=64,classes=2,pool=mean \
  determinism "$out/bert.safetensors"
"$bounty" dataset pack datasets/tests/fixtures/sentiment.tsv \
  --whole --texts target/models/all-minilm-l6-v2/tokenizer.json --sequence-length 32 \
  --license "MIT OR Apache-2.0" --out "$out" >/dev/null

score() { # LABEL THREADS COMMAND...
  local label=$1 threads=$2; shift 2
  "$@" score --threads "$threads" --model "$out/mlp.safetensors" --dataset digits:hidden --json \
    > "$out/mlp-$label.json"
  "$@" score --threads "$threads" --model "$out/gpt.safetensors" --dataset shakespeare:hidden \
    --limit "$gpt_limit" --json > "$out/gpt-$label.json"
  "$@" score --threads "$threads" --model "$out/std.safetensors" --dataset breast-cancer:hidden \
    --metric cross-entropy --json > "$out/std-$label.json"
  "$@" score --threads "$threads" --model "$out/bert.safetensors" \
    --dataset "$out/sentiment.safetensors" --metric cross-entropy --json > "$out/bert-$label.json"
  printf '   %-22s mlp %s  gpt %s  std %s  bert %s\n' "$label" \
    "$(grep -m1 '"score"' "$out/mlp-$label.json" | tr -dc '0-9')" \
    "$(grep -m1 '"score"' "$out/gpt-$label.json" | tr -dc '0-9')" \
    "$(grep -m1 '"score"' "$out/std-$label.json" | tr -dc '0-9')" \
    "$(grep -m1 '"score"' "$out/bert-$label.json" | tr -dc '0-9')"
}

echo "== score (receipt score in millionths)"
for t in 1 2 8; do score "dev-x86-64-${t}threads" "$t" "$baseline"; done
for t in 1 8; do score "native-${t}threads" "$t" "$native"; done
if command -v qemu-x86_64 >/dev/null; then
  for cpu in Nehalem Haswell; do
    # TCG warns about CPUID bits it cannot emulate; they do not touch arithmetic.
    score "qemu-$cpu" 2 qemu-x86_64 -cpu "$cpu" "$baseline" 2> >(grep -v "TCG doesn't support" >&2)
  done
else
  echo "qemu-x86_64 not found: install qemu-user for the emulated CPUs" >&2
  exit 1
fi

echo "== compare"
for model in mlp gpt std bert; do
  reference="$out/$model-dev-x86-64-1threads.json"
  for f in "$out/$model"-*.json; do
    if ! cmp -s "$reference" "$f"; then
      echo "DIFFERENT: $f differs from $reference" >&2
      exit 1
    fi
  done
  echo "   $model: $(ls "$out/$model"-*.json | wc -l) receipts, all the same bytes"
done

# One more voice: the numpy implementation of docs/determinism.md, on the
# same models and on dataset files packed from the same bundled data.
echo "== the numpy reference (scripts/reference_eval.py) gives the same receipts"
python3 -c "import safetensors, numpy" 2>/dev/null || python3 -m pip install -q safetensors numpy
"$bounty" dataset pack digits --out "$out" >/dev/null
"$bounty" dataset pack shakespeare --out "$out" >/dev/null
"$bounty" dataset pack breast-cancer --out "$out" >/dev/null
reference() { # MODEL DATASET METRIC [LIMIT]
  local limit=()
  [ -n "${4:-}" ] && limit=(--limit "$4")
  "$baseline" score --model "$out/$1.safetensors" --dataset "$out/$2-hidden.safetensors" \
    --metric "$3" "${limit[@]}" --json > "$out/ref-evaluator.json"
  python3 scripts/reference_eval.py "$out/$1.safetensors" "$out/$2-hidden.safetensors" \
    --metric "$3" "${limit[@]}" > "$out/ref-numpy.json"
  printf '   %s on %s:' "$1" "$2"
  python3 scripts/check_reference.py "$out/ref-evaluator.json" "$out/ref-numpy.json"
}
reference mlp digits accuracy
reference mlp digits cross-entropy
reference gpt shakespeare cross-entropy "$gpt_limit"
reference gpt shakespeare accuracy "$gpt_limit"
reference std breast-cancer cross-entropy
reference std breast-cancer accuracy
