#!/usr/bin/env bash
# Browser tests of the web front end (tests/browser/, Node's test runner,
# Debian Chromium via playwright-core) against the real `wangge serve` on
# loopback with a small demo county; then the first-idle benchmark with the
# 5,000-grid county (skip it with WANGGE_SKIP_BENCH=1).
# Installs what it needs: chromium and fonts-noto-cjk (apt, only if
# missing), npm ci, the debug binary (which embeds the front end and font).
# Screenshots: tests/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
cargo build --quiet --bin wangge
export WANGGE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/wangge"

echo "== Browser tests (tests/browser, screenshots in tests/artifacts/)"
node --test --test-concurrency=1 tests/browser/

if [ -z "${WANGGE_SKIP_BENCH:-}" ]; then
  echo "== Benchmark: navigation to first map idle, 5,000 grids at tier 3"
  node tests/browser/bench.mjs --grids 5000 --events 100000 --runs 3
fi
