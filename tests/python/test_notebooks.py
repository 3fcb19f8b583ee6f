"""The analyst notebooks run top to bottom on a small demo export.

Each notebook under `notebooks/` is executed with nbclient in this venv's
Python kernel, with `WANGGE_EXPORT` pointing at a folder that `wangge export`
filled from a small demo; any cell error fails the test. The notebooks are
kept without outputs in git, and that is checked too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def run(*args) -> None:
    out = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"wangge {args}\n{out.stdout}\n{out.stderr}"


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
