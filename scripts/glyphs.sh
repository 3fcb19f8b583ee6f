#!/usr/bin/env bash
# A Chinese font for the mock server (tests/browser/mock-server.mjs), for
# front-end work without the Rust build. `wangge serve` does not use it: the
# binary embeds Noto Sans CJK and cuts its own font at start-up from the
# loaded county's names (src/assets/glyphs.rs).
#
# Output (git-ignored): web/glyphs/NotoSansSC-Regular.woff2, a fontTools
# subset of Debian's Noto Sans CJK SC face: ASCII, CJK punctuation, the 6,763
# hanzi of GB 2312, plus every character found in web/*.js and in the names
# of data/**/*.csv|geojson. About 2.5 MB. Skipped when already built; set
# WANGGE_GLYPHS_FORCE=1 to rebuild. Extra text: WANGGE_GLYPHS_TEXT=file.
#
# Installs what it needs: fonts-noto-cjk (apt, only if missing) and fontTools
# + brotli into the project venv (.venv, or $WANGGE_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=web/glyphs/NotoSansSC-Regular.woff2
if [ -s "$out" ] && [ -z "${WANGGE_GLYPHS_FORCE:-}" ]; then
  echo "glyphs: $out already built"
  exit 0
fi
ttc=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
if [ ! -f "$ttc" ]; then
  apt-get update -q
  apt-get install -y --no-install-recommends fonts-noto-cjk
fi
venv=${WANGGE_VENV:-$root/.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import fontTools, brotli' 2>/dev/null; then
  "$venv/bin/pip" install -q fonttools brotli
fi
mkdir -p web/glyphs
"$venv/bin/python" - "$ttc" "$out" "${WANGGE_GLYPHS_TEXT:-}" <<'PY'
import glob, sys
from fontTools.ttLib import TTCollection
from fontTools import subset

ttc, out, extra = sys.argv[1], sys.argv[2], sys.argv[3]
chars = set(chr(c) for c in range(0x20, 0x7F))
chars.update(chr(c) for c in range(0x3000, 0x3040))   # CJK punctuation
chars.update(chr(c) for c in range(0xFF00, 0xFFF0))   # full-width forms
chars.update("·—–‘’“”…‰℃←↑→↓▲▼△▽●○■□★☆√×÷±≤≥²³")
# GB 2312 level 1 and 2 hanzi: rows 0xB0-0xF7, cells 0xA1-0xFE.
for hi in range(0xB0, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
files = glob.glob("web/*.js") + glob.glob("data/**/*.csv", recursive=True) \
    + glob.glob("data/**/*.geojson", recursive=True) + ([extra] if extra else [])
for f in files:
    try:
        with open(f, encoding="utf-8", errors="ignore") as fh:
            text = fh.read(50_000_000)
    except OSError:
        continue
    chars.update(c for c in text if 0x3400 <= ord(c) <= 0x9FFF or 0x20000 <= ord(c) <= 0x2FFFF)

coll = TTCollection(ttc)
font = next(f for f in coll.fonts if "SC" in f["name"].getDebugName(1))
opts = subset.Options()
opts.flavor = "woff2"
opts.layout_features = ["*"]
opts.hinting = False
opts.desubroutinize = True
opts.name_IDs = ["*"]
sub = subset.Subsetter(opts)
sub.populate(unicodes=[ord(c) for c in chars])
sub.subset(font)
font.flavor = "woff2"
font.save(out)
print(f"glyphs: {len(chars)} characters → {out}")
PY
ls -l "$out"
