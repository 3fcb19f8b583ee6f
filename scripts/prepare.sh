#!/usr/bin/env bash
# What `cargo build` embeds besides the code (build.rs stops the build
# without it): the npm packages MapLibre and uPlot (`npm ci`, extra
# arguments passed on, e.g. --omit=dev) and Debian's Noto Sans CJK
# collection, from which the service cuts its Chinese font (apt-get install
# fonts-noto-cjk, only if missing; WANGGE_CJK_FONT names another file).
# Needs the npm registry and a Debian mirror: run it on a connected machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/maplibre-gl ] || [ ! -d node_modules/uplot ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund "$@"
fi
if [ -z "${WANGGE_CJK_FONT:-}" ] && [ ! -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends fonts-noto-cjk
fi
