"""CGCS2000 Gauss-Krüger input (EPSG:4491-4554): a county's grid file and
events given in projected metres join exactly as the same data in
longitude/latitude.

The reference is PROJ itself (pyproj): the demo county's grid polygons are
projected into 3-degree zone 38 (EPSG:4526, easting with the zone number in
front) and declared in the file's legacy `crs` member; its events are
projected into the same zone's other series (EPSG:4547, central meridian
114°E, no zone number) and joined with `--crs epsg:4547`. wangge takes both
back with proj4rs; every position must come back to within a millimetre
and every event must land in the same grid.

Run after `cargo build`:  python -m pytest tests/python
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))


def run(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    if ok:
        assert out.returncode == 0, f"wangge {' '.join(map(str, args))}\n{out.stdout}\n{out.stderr}"
    return out


def project_rings(geometry: dict, t: Transformer) -> None:
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    for poly in polys:
        for ring in poly:
            for p in ring:
                p[0], p[1] = t.transform(p[0], p[1])


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gk")
    run("demo", "--out", d, "--grids", 600, "--events", 3000)
    fc = json.loads((d / "grids.geojson").read_text(encoding="utf-8"))
    to_zone = Transformer.from_crs("EPSG:4326", "EPSG:4526", always_xy=True)
    for f in fc["features"]:
        project_rings(f["geometry"], to_zone)
    fc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4526"}}
    (d / "grids_gk.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    # The events in metres where they are positions at all (the demo's
    # deliberately broken rows stay as they are, and are rejected either way).
    to_cm = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)
    with open(d / "events.csv", encoding="utf-8", newline="") as src, \
            open(d / "events_gk.csv", "w", encoding="utf-8", newline="") as dst:
        rows = csv.DictReader(src)
        out = csv.DictWriter(dst, fieldnames=rows.fieldnames)
        out.writeheader()
        for r in rows:
            try:
                lon, lat = float(r["lon"]), float(r["lat"])
                ok = -180 <= lon <= 180 and -90 <= lat <= 90
            except ValueError:
                ok = False
            if ok:
                r["lon"], r["lat"] = (f"{v:.4f}" for v in to_cm.transform(lon, lat))
            out.writerow(r)
    return {"dir": d}


def test_projected_grids_and_events_join_as_their_longitude_latitude_originals(county):
    d = county["dir"]
    run("join", "--grids", d / "grids.geojson", "--events", d / "events.csv",
        "--out", d / "ll.parquet", "--secret", d / "secret.key")
    run("join", "--grids", d / "grids_gk.geojson", "--events", d / "events_gk.csv", "--crs", "epsg:4547",
        "--out", d / "gk.parquet", "--secret", d / "secret.key")
    ll = pl.read_parquet(d / "ll.parquet").sort("id")
    gk = pl.read_parquet(d / "gk.parquet").sort("id")
    assert ll.height == gk.height and ll.height > 2500
    assert ll["id"].to_list() == gk["id"].to_list()
    for c in ["tier1", "tier2", "tier3", "outcome"]:
        assert ll[c].to_list() == gk[c].to_list(), c
    # 1e-8 degrees is about a millimetre: the CSV keeps 0.1 mm of easting.
    assert (ll["lon"] - gk["lon"]).abs().max() < 1e-8
    assert (ll["lat"] - gk["lat"]).abs().max() < 1e-8
    assert (gk["outcome"] == "matched").sum() > 2000


def test_the_grid_check_takes_the_projection_from_the_command_line_or_the_file(county):
    d = county["dir"]
    fc = json.loads((d / "grids_gk.geojson").read_text(encoding="utf-8"))
    del fc["crs"]
    bare = d / "grids_gk_bare.geojson"
    bare.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    declared = json.loads(run("check", d / "grids_gk.geojson", "--json").stdout)
    given = json.loads(run("check", bare, "--crs", "EPSG:4526", "--json").stdout)
    original = json.loads(run("check", d / "grids.geojson", "--json").stdout)
    assert declared["units_by_level"] == given["units_by_level"] == original["units_by_level"]
    # Without the projection the metres are refused, naming the position.
    out = run("check", bare, ok=False)
    assert out.returncode != 0 and "out of lon/lat range" in out.stdout + out.stderr
    # The wrong zone: every position is refused with the system's name.
    out = run("check", bare, "--crs", "EPSG:4527", ok=False)
    assert out.returncode != 0 and "EPSG:4527" in out.stdout + out.stderr
    # A file declaring one projection and a command line saying another.
    out = run("check", d / "grids_gk.geojson", "--crs", "EPSG:4547", ok=False)
    assert out.returncode != 0 and "declared by the file" in out.stdout + out.stderr
