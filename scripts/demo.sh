#!/usr/bin/env bash
# The main job on the embedded default: build, make the demo county if
# missing, join its events.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin wangge
bin=${CARGO_TARGET_DIR:-target}/release/wangge
if [ ! -f data/demo/grids.geojson ] || [ ! -f data/demo/events.csv ]; then
  "$bin" demo --out data/demo
fi
"$bin" check data/demo/grids.geojson
"$bin" join --grids data/demo/grids.geojson --events data/demo/events.csv --out data/demo/joined.parquet
