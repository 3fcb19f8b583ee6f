"""汉字 in the notebooks' plots: township names, titles, legends.

matplotlib's default face (DejaVu Sans) has no Chinese characters, so 乡镇
names on an axis come out as boxes (□□□□). `use_cjk_font()` makes
Debian's Noto Sans CJK (package `fonts-noto-cjk`, the collection the
service cuts its map font from) the first sans-serif face, in its
Simplified Chinese cut. Every notebook that plots calls it after importing
matplotlib; `tests/python/test_notebooks.py` renders Chinese with this same
function and fails if the characters come out as boxes.

    from cjk import use_cjk_font
    use_cjk_font()
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib import font_manager

# Debian/Ubuntu `apt-get install fonts-noto-cjk`.
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
# The Simplified Chinese face of the collection.
FAMILY = "Noto Sans CJK SC"
# Faces tried when the Noto collection is not installed (Windows, macOS).
OTHERS = ["Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "SimHei"]


def use_cjk_font():
    """Puts a Chinese sans-serif face first in matplotlib's font list.

    Returns the font file matplotlib resolves for it (a `FontPath`: the
    file and the face index in the collection). Raises `RuntimeError` when
    no Chinese face is installed, rather than drawing boxes.
    """
    if NOTO_CJK.is_file():
        # Registers the faces even when matplotlib's font cache predates the package.
        font_manager.fontManager.addfont(str(NOTO_CJK))
    for family in [FAMILY, *OTHERS]:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family),
                                         fallback_to_default=False)
        except ValueError:
            continue
        rest = [f for f in matplotlib.rcParams["font.sans-serif"] if f != family]
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["font.sans-serif"] = [family, *rest]
        return path
    raise RuntimeError("no Chinese font for matplotlib: install Debian's fonts-noto-cjk "
                       f"({NOTO_CJK}) or one of {', '.join(OTHERS)}")
