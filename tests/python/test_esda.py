"""Hot-spot statistics of `wangge hotspots` against PySAL esda, to 1e-9.

Generates a county (jittered lattice: every grid shares its corner vertices
with its neighbours, as a well-made grid file does), a joined Parquet of
incidents with a hot corner, runs the Rust CLI and recomputes everything with
libpysal/esda from the same GeoJSON.

Run after `cargo build`:  python -m pytest tests/python
(`WANGGE_BIN` overrides the binary, default target/debug/wangge).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon, mapping
from shapely.ops import unary_union

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))
TOL = 1e-9

ROWS, COLS = 8, 10  # grid cells; villages are 2x2 cells, townships 4x5 cells
X0, Y0, DX, DY = 115.0, 38.5, 0.01, 0.008
COUNTY = "130682"


def _nodes(rng: np.random.Generator) -> np.ndarray:
    """Lattice nodes, interior ones jittered so the county is not a plain grid."""
    nodes = np.zeros((ROWS + 1, COLS + 1, 2))
    for r in range(ROWS + 1):
        for c in range(COLS + 1):
            jx, jy = (0.0, 0.0)
            if 0 < r < ROWS and 0 < c < COLS:
                jx, jy = rng.uniform(-0.3, 0.3, 2)
            nodes[r, c] = (X0 + (c + jx) * DX, Y0 + (r + jy) * DY)
    return nodes


def _cell(nodes: np.ndarray, r: int, c: int) -> Polygon:
    return Polygon(
        [tuple(nodes[r, c]), tuple(nodes[r, c + 1]), tuple(nodes[r + 1, c + 1]), tuple(nodes[r + 1, c])]
    )


def make_county(tmp: Path, seed: int = 20260301) -> tuple[Path, Path, dict[str, int]]:
    rng = np.random.default_rng(seed)
    nodes = _nodes(rng)
    grids, villages, towns = [], {}, {}
    for r in range(ROWS):
        for c in range(COLS):
            town = f"{COUNTY}{1 + (r // 4) * 2 + c // 5:03d}"
            village = f"{town}{1 + ((r % 4) // 2) * 3 + (c % 5) // 2:03d}"
            code = f"{village}{len([g for g in grids if g['village'] == village]) + 1:03d}"
            grids.append({"code": code, "village": village, "town": town, "geom": _cell(nodes, r, c), "r": r, "c": c})
            villages.setdefault(village, (town, []))[1].append(grids[-1]["geom"])
            towns.setdefault(town, []).append(grids[-1]["geom"])

    features = []

    def feature(code, name, level, parent, geom, households=None):
        props = {"code": code, "name": name, "level": level, "parent": parent}
        if households is not None:
            props["households"] = households
        return {"type": "Feature", "properties": props, "geometry": mapping(geom)}

    for t, geoms in sorted(towns.items()):
        features.append(feature(t, f"镇{t[-3:]}", 1, None, unary_union(geoms)))
    for v, (t, geoms) in sorted(villages.items()):
        features.append(feature(v, f"村{v[-6:]}", 2, t, unary_union(geoms)))
    for g in grids:
        features.append(feature(g["code"], f"网格{g['code'][-6:]}", 3, g["village"], g["geom"], 100))
    grids_path = tmp / "grids.geojson"
    grids_path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))

    # Incidents: Poisson with a hot south-west corner; a few outside the window.
    rows, counts = [], {}
    base = pd.Timestamp("2026-02-28T16:00:00")  # 2026-03-01 00:00 in Shanghai
    for g in grids:
        lam = 2.0 + 10.0 * np.exp(-((g["r"] / 3.0) ** 2 + (g["c"] / 3.0) ** 2))
        n = int(rng.poisson(lam))
        counts[g["code"]] = n
        centre = g["geom"].centroid
        for k in range(n + 1):
            # The extra event falls in April (local), outside the March window.
            at = base + pd.Timedelta(minutes=int(rng.integers(0, 31 * 24 * 60))) if k < n else base + pd.Timedelta(days=31, minutes=5)
            rows.append(
                {
                    "id": f"{g['code']}-{k}",
                    "kind": "incident",
                    "occurred_at": at,
                    "lon": centre.x,
                    "lat": centre.y,
                    "category": "盗窃",
                    "status": None,
                    "resolved_at": pd.NaT,
                    "deadline": pd.NaT,
                    "satisfaction": None,
                    "source": None,
                    "cleared": bool(rng.integers(0, 2)),
                    "household_hash": None,
                    "visitor_hash": None,
                    "tier1": g["town"],
                    "tier2": g["village"],
                    "tier3": g["code"],
                    "outcome": "matched",
                }
            )
    df = pd.DataFrame(rows)
    for col in ("occurred_at", "resolved_at", "deadline"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[us]")
    for col in ("id", "kind", "category", "status", "satisfaction", "source", "household_hash", "visitor_hash", "tier1", "tier2", "tier3", "outcome"):
        df[col] = df[col].astype("string")
    joined_path = tmp / "joined.parquet"
    df.to_parquet(joined_path, index=False)
    return grids_path, joined_path, counts


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not BIN.exists():
        pytest.fail(f"{BIN} not found: run `cargo build` first (or set WANGGE_BIN)")
    tmp = tmp_path_factory.mktemp("county")
    grids, joined, counts = make_county(tmp)
    cmd = [
        str(BIN), "hotspots", "--grids", str(grids), "--joined", str(joined), "--level", "3",
        "--metric", "incident_count", "--from", "2026-03-01", "--to", "2026-03-31",
        "--permutations", "0", "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    out = json.loads(done.stdout)
    gdf = gpd.read_file(grids)
    gdf = gdf[gdf["level"] == 3].set_index("code").loc[out["codes"]]
    return out, gdf, counts


def _weights(gdf):
    w = libpysal.weights.Queen.from_dataframe(gdf, use_index=True, silence_warnings=True)
    return w


def _y(out, w):
    by_code = dict(zip(out["codes"], out["values"]))
    return np.array([by_code[c] for c in w.id_order], dtype=float)


def test_values_are_the_windowed_counts_per_grid(run):
    out, _, counts = run
    assert out["no_data"] == []
    assert dict(zip(out["codes"], out["values"])) == {k: float(v) for k, v in counts.items()}


def test_queen_neighbours_match_libpysal(run):
    out, gdf, _ = run
    w = _weights(gdf)
    codes = out["codes"]
    for i, code in enumerate(codes):
        assert sorted(codes[j] for j in out["neighbours"][i]) == sorted(w.neighbors[code]), code


def test_global_moran_matches_esda(run):
    out, gdf, _ = run
    w = _weights(gdf)
    mi = esda.Moran(_y(out, w), w, transformation="r", permutations=0)
    m = out["report"]["moran"]
    for ours, theirs in [
        (m["i"], mi.I), (m["expected"], mi.EI), (m["variance_norm"], mi.VI_norm), (m["z_norm"], mi.z_norm),
        (m["p_norm"], mi.p_norm), (m["variance_rand"], mi.VI_rand), (m["z_rand"], mi.z_rand), (m["p_rand"], mi.p_rand),
    ]:
        assert ours == pytest.approx(theirs, abs=TOL, rel=TOL)
    assert m["i"] > 0.1, "the generated county has a hot corner"


def test_gi_star_matches_esda_with_binary_weights(run):
    out, gdf, _ = run
    w = _weights(gdf)
    g = esda.G_Local(_y(out, w), w, transform="B", star=True, permutations=0)
    units = {u["code"]: u for u in out["report"]["units"]}
    for k, code in enumerate(w.id_order):
        assert units[code]["gi"]["z"] == pytest.approx(g.Zs[k], abs=TOL, rel=TOL), code
        assert units[code]["gi"]["p"] == pytest.approx(g.p_norm[k], abs=TOL, rel=TOL), code


def test_local_moran_and_quadrants_match_esda(run):
    out, gdf, _ = run
    w = _weights(gdf)
    lm = esda.Moran_Local(_y(out, w), w, transformation="r", permutations=0)
    names = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
    units = {u["code"]: u for u in out["report"]["units"]}
    for k, code in enumerate(w.id_order):
        assert units[code]["local"]["i"] == pytest.approx(lm.Is[k], abs=TOL, rel=TOL), code
        assert units[code]["local"]["quadrant"] == names[int(lm.q[k])], code
