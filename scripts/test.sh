#!/usr/bin/env bash
# Runs every test of wangge: Rust (unit, integration, doc), the Python checks
# against PySAL, and the browser tests in Debian Chromium. Installs what they
# need by itself (a venv under .venv, npm packages, Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
# A full run gains nothing from incremental state, which takes gigabytes.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# The binary embeds the front end: npm packages and the CJK font first.
bash scripts/prepare.sh

echo "== Rust tests"
cargo test --no-fail-fast

echo "== Python tests (PySAL esda, GeoPandas, DuckDB, GDAL's ogrinfo, notebooks)"
# GDAL's command-line tools read the OGC API - Features endpoint as QGIS does;
# the notebooks' plots draw 汉字 with Noto Sans CJK (prepare.sh skips the font
# when WANGGE_CJK_FONT names another file).
missing=()
command -v ogrinfo > /dev/null || missing+=(gdal-bin)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
venv=${WANGGE_VENV:-$root/.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r tests/python/requirements.txt
cargo build --quiet --bin wangge
WANGGE_BIN="$CARGO_TARGET_DIR/debug/wangge" "$venv/bin/python" -m pytest -q tests/python

echo "== Browser tests (Debian Chromium, offline)"
WANGGE_BIN="$CARGO_TARGET_DIR/debug/wangge" bash scripts/browser-test.sh
