"""The analyst notebooks run top to bottom on a small demo export.

Each notebook under `notebooks/` is executed with nbclient in this venv's
Python kernel, with `WANGGE_EXPORT` pointing at a folder that `wangge export`
filled from a small demo, beside the service's own hot-spot report
(`hotspots.json`, which the hot-spot notebook must agree with); any cell
error fails the test, and so does a plot label drawn as boxes. The notebooks
are kept without outputs in git, and that is checked too.

Chinese in plots: the notebooks set matplotlib's font with
`notebooks/cjk.py`; the tests render two different township names with that
same set-up and fail if the images are alike (boxes look alike) or
matplotlib reports a glyph missing from the font.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# The font set-up the notebooks import (`from cjk import use_cjk_font`).
sys.path.insert(0, str(ROOT / "notebooks"))
import cjk  # noqa: E402

# Two township names of the same length with no character in common but 镇.
TOWNS = ("清风店镇", "大辛庄镇")
MISSING = "missing from font"


def run(*args) -> str:
    out = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"wangge {args}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("nbdemo")
    run("demo", "--out", d, "--grids", 600, "--events", 20000)
    run("join", "--grids", d / "grids.geojson", "--events", d / "events.csv",
        "--updates", d / "updates.csv",
        "--out", d / "joined.parquet", "--secret", d / "secret.key")
    out = d / "export"
    run("export", "events", "--joined", d / "joined.parquet", "--grids", d / "grids.geojson",
        "--out", out / "events.parquet")
    run("export", "units", "--grids", d / "grids.geojson", "--out", out / "units.parquet")
    # The service's own Gi* classes, for notebooks/03_hot_spots.ipynb to agree with.
    report = run("hotspots", "--joined", d / "joined.parquet", "--grids", d / "grids.geojson",
                 "--level", 3, "--metric", "event_density", "--json")
    (out / "hotspots.json").write_text(report, encoding="utf-8")
    return out


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebook_runs_without_errors_on_the_demo_export(path, export_dir, monkeypatch):
    monkeypatch.setenv("WANGGE_EXPORT", str(export_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    boxed = [o["text"] for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
             if o.get("output_type") == "stream" and MISSING in o.get("text", "")]
    assert not boxed, f"{path.name} draws labels as boxes:\n{''.join(boxed)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebook_that_plots_sets_the_cjk_font(path):
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    if "matplotlib" in code:
        assert "from cjk import use_cjk_font" in code and "use_cjk_font()" in code, \
            f"{path.name} plots: call notebooks/cjk.py's use_cjk_font() after importing matplotlib"


def _render(texts):
    """Each text drawn alone by Agg, and matplotlib's missing-glyph warnings."""
    images = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for text in texts:
            fig = Figure(figsize=(2.4, 0.6), dpi=100)
            FigureCanvasAgg(fig)
            fig.text(0.02, 0.25, text, fontsize=20)
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba()).copy())
    return images, [str(w.message) for w in caught if MISSING in str(w.message)]


@pytest.fixture
def rc():
    """matplotlib's settings are restored after the test."""
    with matplotlib.rc_context():
        yield


def test_the_notebooks_font_is_noto_sans_cjk_sc(rc):
    assert cjk.NOTO_CJK.is_file(), f"{cjk.NOTO_CJK} missing: apt-get install fonts-noto-cjk"
    path = cjk.use_cjk_font()
    assert Path(path) == cjk.NOTO_CJK
    assert font_manager.get_font(path).family_name == "Noto Sans CJK SC"
    # What a label with the default font properties is drawn with.
    assert font_manager.findfont(font_manager.FontProperties()) == path


def test_chinese_labels_render_as_glyphs_not_boxes(rc):
    cjk.use_cjk_font()
    (a, b), missing = _render(TOWNS)
    assert not missing, missing
    assert not np.array_equal(a, b), "two different Chinese strings render alike: boxes"
    assert (a[..., :3] < 128).any(), "the text is drawn"


def test_without_the_cjk_font_chinese_renders_as_boxes(rc):
    # The control: matplotlib's default face has no 汉字, and the checks above notice.
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
    (a, b), missing = _render(TOWNS)
    assert np.array_equal(a, b)
    assert missing
