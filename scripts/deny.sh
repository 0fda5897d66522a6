#!/usr/bin/env bash
# Licences, bans and sources of every dependency, by deny.toml. cargo-deny is
# built from crates.io into target/tools (inside the checkout, so a clean CI
# checkout builds it once, ~4 min on 2 cores). Advisories are not checked:
# their database is fetched from GitHub, which CI cannot reach.
#   scripts/deny.sh [--install-only]
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.20.2
deny=target/tools/bin/cargo-deny
if ! "$deny" --version 2>/dev/null | grep -qx "cargo-deny $version"; then
  echo "== cargo install cargo-deny $version (into target/tools)"
  cargo install --quiet --locked cargo-deny --version "$version" \
    --root target/tools --target-dir target/tools-build
fi
if [[ "${1:-}" == --install-only ]]; then exit 0; fi
"$deny" --version
"$deny" check --hide-inclusion-graph licenses bans sources
