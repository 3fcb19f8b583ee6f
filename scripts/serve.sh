#!/usr/bin/env bash
# The main job on the embedded default: build, make the demo county if
# missing (the real 定州市 boundary, 5,000 grids, 1,000,000 events), and serve
# the map on http://127.0.0.1:8080. Installs what the build embeds: npm
# packages (MapLibre, uPlot) and Debian's Noto Sans CJK font (apt, only if
# missing). The binary it builds, target/release/wangge, is the whole
# deployment: README "Deploying on an intranet".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh --omit=dev
cargo build --release --bin wangge
exec "${CARGO_TARGET_DIR:-target}/release/wangge" serve "$@"
