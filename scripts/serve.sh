#!/usr/bin/env bash
# The main job on the embedded default: build, make the demo county if
# missing (the real 定州市 boundary, 5,000 grids, 1,000,000 events), and serve
# the map on http://127.0.0.1:8080. Installs what the front end needs: npm
# packages (MapLibre, uPlot) and the Chinese font subset (scripts/glyphs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/maplibre-gl ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --omit=dev
fi
bash scripts/glyphs.sh
cargo build --release --bin wangge
exec "${CARGO_TARGET_DIR:-target}/release/wangge" serve "$@"
