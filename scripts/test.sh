#!/usr/bin/env bash
# Runs every test of wangge: Rust (unit, integration, doc), then the Python
# checks against PySAL, installing what they need (a venv under .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== Rust tests"
cargo test --no-fail-fast

if [ -d tests/python ] && ls tests/python/test_*.py >/dev/null 2>&1; then
  echo "== Python tests (PySAL esda and friends)"
  venv=${WANGGE_VENV:-$root/.venv}
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q -r tests/python/requirements.txt
  cargo build --quiet --bin wangge
  WANGGE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/wangge" "$venv/bin/python" -m pytest -q tests/python
fi
