"""`wangge emerging` against pyehsa (a Python port of R sfdep's emerging hot
spot analysis), category by category.

Generates a county of 8 x 10 grids sharing their vertices, a year of
incidents with planted patterns (a block hot all year, one hot from the
autumn on, one that cools down, a lone late flare, background noise), runs
the Rust CLI on the joined Parquet and pyehsa's steps (queen weights with
the unit itself, row-standardised; space-time Gi* with one lag;
conditional-permutation p; Mann-Kendall; classification) on the same cube.

What must agree, and why the rest may not:

- the cube: our per-period counts are the generated ones;
- Gi* z of every bin, to 1e-9 (same formula, same weights);
- Mann-Kendall p of every unit, and tau wherever the z series has no ties
  (pyehsa divides S by n(n-1)/2, R's Kendall and we by the tie-corrected
  denominator, which is the same without ties);
- the category of every unit, given the same significance flags: pyehsa's
  classifier run on our z series and flags gives our category, except where
  pyehsa's diminishing hot spot departs from sfdep (it asks for a hot last
  bin, sfdep only a significant one) -- asserted case by case;
- permutation p-values are drawn with different generators (numpy's and
  ours), so they agree in distribution, not digit for digit: bins judged
  differently must be marginal (both p near the 0.01 threshold), and whole
  pipelines' categories may then differ only for units with such a bin.
  sfdep's permutation draws neighbours from every bin of the cube while
  centring on the bin's own period, so many bins sit near the threshold:
  on this cube about 90 % of bins are judged alike and about a third of the
  units see identical flags in all twelve months; those are classified alike.

Run after `cargo build`:  python -m pytest tests/python/test_emerging.py
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon, mapping
from shapely.ops import unary_union

from pyehsa.ehsa_classification import EhsaClassification
from pyehsa.gi_star import GiStar
from pyehsa.mann_kendall import MannKendall
from pyehsa.spatial_weights import SpatialWeights

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))
ROWS, COLS, MONTHS = 8, 10, 12
X0, Y0, DX, DY = 115.0, 38.5, 0.01, 0.008
COUNTY = "130682"
ALPHA = 0.01
NSIM = 199

# pyehsa's names (sfdep's, "oscilating" included) to ours.
NAMES = {
    f"{kind} {side}spot": f"{kind}_{side}_spot"
    for kind in ["new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "historical"]
    for side in ["hot", "cold"]
}
NAMES.update({"oscilating hotspot": "oscillating_hot_spot", "oscilating coldspot": "oscillating_cold_spot",
              "no pattern detected": "no_pattern"})


def rate(r: int, c: int, m: int) -> float:
    """Expected incidents of grid (r, c) in month m (0 = January)."""
    lam = 1.5
    if r < 3 and c < 3:
        lam += 14.0  # hot all year
    if r >= 5 and c >= 7 and m >= 8:
        lam += 18.0  # hot from September
    if r < 3 and c >= 7:
        lam += max(0.0, 16.0 - 2.0 * m)  # cooling down
    if (r, c) == (6, 2) and m == 11:
        lam += 25.0  # a lone late flare
    return lam


def make_county(tmp: Path, seed: int = 20260317):
    rng = np.random.default_rng(seed)
    grids, villages, towns = [], {}, {}
    # Shared vertices, computed once: neighbours touch exactly, as libpysal needs.
    xs = [X0 + c * DX for c in range(COLS + 1)]
    ys = [Y0 + r * DY for r in range(ROWS + 1)]
    for r in range(ROWS):
        for c in range(COLS):
            geom = Polygon([(xs[c], ys[r]), (xs[c + 1], ys[r]), (xs[c + 1], ys[r + 1]), (xs[c], ys[r + 1])])
            town = f"{COUNTY}{1 + (r // 4) * 2 + c // 5:03d}"
            village = f"{town}{1 + ((r % 4) // 2) * 3 + (c % 5) // 2:03d}"
            code = f"{village}{len([g for g in grids if g['village'] == village]) + 1:03d}"
            grids.append({"code": code, "village": village, "town": town, "geom": geom, "r": r, "c": c})
            villages.setdefault(village, (town, []))[1].append(geom)
            towns.setdefault(town, []).append(geom)

    def feature(code, level, parent, geom):
        props = {"code": code, "name": code[-6:], "level": level, "parent": parent}
        if level == 3:
            props["households"] = 100
        return {"type": "Feature", "properties": props, "geometry": mapping(geom)}

    features = [feature(t, 1, None, unary_union(g)) for t, g in sorted(towns.items())]
    features += [feature(v, 2, t, unary_union(g)) for v, (t, g) in sorted(villages.items())]
    features += [feature(g["code"], 3, g["village"], g["geom"]) for g in grids]
    grids_path = tmp / "grids.geojson"
    grids_path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))

    rows, counts = [], {}
    for g in grids:
        for m in range(MONTHS):
            n = int(rng.poisson(rate(g["r"], g["c"], m)))
            counts[(g["code"], m)] = n
            # Local noon on a day of the month, in UTC (Shanghai is UTC+8).
            start = pd.Timestamp(year=2025, month=m + 1, day=1, hour=4)
            centre = g["geom"].centroid
            for k in range(n):
                rows.append({
                    "id": f"{g['code']}-{m}-{k}", "kind": "incident",
                    "occurred_at": start + pd.Timedelta(days=int(rng.integers(0, 28))),
                    "lon": centre.x, "lat": centre.y, "category": "盗窃", "status": None,
                    "resolved_at": pd.NaT, "deadline": pd.NaT, "satisfaction": None, "source": None,
                    "cleared": False, "household_hash": None, "visitor_hash": None,
                    "tier1": g["town"], "tier2": g["village"], "tier3": g["code"], "outcome": "matched",
                })
    df = pd.DataFrame(rows)
    for col in ("occurred_at", "resolved_at", "deadline"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[us]")
    for col in ("id", "kind", "category", "status", "satisfaction", "source", "household_hash", "visitor_hash",
                "tier1", "tier2", "tier3", "outcome"):
        df[col] = df[col].astype("string")
    joined = tmp / "joined.parquet"
    df.to_parquet(joined, index=False)
    return grids_path, joined, counts, {g["code"]: g["geom"] for g in grids}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not BIN.exists():
        pytest.fail(f"{BIN} not found: run `cargo build` first (or set WANGGE_BIN)")
    tmp = tmp_path_factory.mktemp("emerging")
    grids, joined, counts, geoms = make_county(tmp)
    cmd = [str(BIN), "emerging", "--grids", str(grids), "--joined", str(joined), "--level", "3",
           "--metric", "incident_count", "--granularity", "month", "--from", "2025-01-01", "--to", "2025-12-31",
           "--permutations", str(NSIM), "--alpha", str(ALPHA), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr}"
    ours = {u["code"]: u for u in json.loads(done.stdout)}

    cube = gpd.GeoDataFrame(
        [{"region_id": code, "time_period": m, "value": float(counts[(code, m)]), "geometry": geoms[code]}
         for code in sorted(geoms) for m in range(MONTHS)],
        geometry="geometry", crs="EPSG:4326",
    ).sort_values(["time_period", "region_id"]).reset_index(drop=True)
    w = SpatialWeights.calculate_spatial_weights(cube, "region_id")
    np.random.seed(77)
    bins = GiStar.calculate_gi_star_spacetime(cube, w, "region_id", "time_period", "value", k=1, nsim=NSIM)
    theirs = {}
    for code, g in bins.groupby("region_id"):
        g = g.sort_values("time_period")
        z = g["gi"].to_numpy()
        p = g["p_sim"].to_numpy()
        mk = MannKendall.mann_kendall_test(z)
        sig = p <= ALPHA
        cat = EhsaClassification.classify_hotspot(z, sig, mk["tau"], mk["sl"], ALPHA)["name"]
        theirs[code] = {"z": z, "p_bins": p, "significant": sig, "tau": mk["tau"], "p": mk["sl"],
                        "category": NAMES[cat]}
    return ours, theirs, counts


def test_the_cube_holds_the_generated_counts(run):
    ours, _, counts = run
    assert len(ours) == ROWS * COLS
    for code, u in ours.items():
        assert u["values"] == [float(counts[(code, m)]) for m in range(MONTHS)], code


def test_gi_star_of_every_bin_matches_pyehsa(run):
    ours, theirs, _ = run
    for code, u in ours.items():
        np.testing.assert_allclose(u["z"], theirs[code]["z"], rtol=0, atol=1e-9, err_msg=code)


def test_mann_kendall_matches_pyehsa(run):
    ours, theirs, _ = run
    for code, u in ours.items():
        assert u["p"] == pytest.approx(theirs[code]["p"], abs=1e-9), code
        if len(set(np.round(u["z"], 12))) == MONTHS:  # no ties: tau-a = tau-b
            assert u["tau"] == pytest.approx(theirs[code]["tau"], abs=1e-9), code


def _pyehsa_diminishing_departure(z, sig, tau, p) -> bool:
    """sfdep's diminishing hot spot (>= 90 % hot, last bin significant, falling)
    with a last bin that is not hot: pyehsa asks for a hot last bin."""
    hot = np.sum(sig & (z > 0)) / len(z)
    return hot >= 0.9 and sig[-1] and not z[-1] > 0 and tau < 0 and p <= ALPHA


def test_pyehsa_classifies_our_bins_as_we_do(run):
    ours, _, _ = run
    for code, u in ours.items():
        z, sig = np.array(u["z"]), np.array(u["significant"])
        mk = MannKendall.mann_kendall_test(z)
        cat = NAMES[EhsaClassification.classify_hotspot(z, sig, mk["tau"], mk["sl"], ALPHA)["name"]]
        if _pyehsa_diminishing_departure(z, sig, u["tau"], u["p"]):
            assert u["category"] == "diminishing_hot_spot", code
        else:
            assert cat == u["category"], f"{code}: pyehsa {cat}, ours {u['category']}, z {z}, sig {sig}"


def test_the_planted_patterns_are_found(run):
    ours, _, _ = run
    cats = {u["category"] for u in ours.values()}
    # All year hot, hot since autumn, cooling: three different stories.
    assert {"persistent_hot_spot", "intensifying_hot_spot"} & cats, cats
    assert {"consecutive_hot_spot", "new_hot_spot", "intensifying_hot_spot"} & cats, cats
    assert any(c.endswith("cold_spot") or c.startswith(("historical", "diminishing")) for c in cats), cats


def test_whole_pipelines_differ_only_where_random_draws_do(run):
    ours, theirs, _ = run
    same_flags = 0
    for code, u in ours.items():
        t = theirs[code]
        ours_sig, their_sig = np.array(u["significant"]), t["significant"]
        differ = np.flatnonzero(ours_sig != their_sig)
        # A bin judged differently is marginal on both sides.
        for k in differ:
            p_ours, p_theirs = u["p_bins"][k], t["p_bins"][k]
            assert min(p_ours, p_theirs) <= ALPHA and max(p_ours, p_theirs) <= 0.06, (code, k, p_ours, p_theirs)
        if len(differ) == 0:
            same_flags += 1
            z = np.array(u["z"])
            if not _pyehsa_diminishing_departure(z, ours_sig, u["tau"], u["p"]):
                assert u["category"] == t["category"], code
    # Some units do see the same flags in every period, and are classified alike.
    assert same_flags > 0
    # Both draw from the same permutation distribution: neither side's p is
    # systematically smaller (paired mean difference within 4 standard
    # errors), and no bin's p is far off (199 draws: sd <= 0.036 per side).
    ps = [(u["p_bins"], theirs[code]["p_bins"]) for code, u in ours.items()]
    diff = np.concatenate([np.array(a) - np.array(b) for a, b in ps])
    assert abs(diff.mean()) <= 4 * diff.std() / np.sqrt(len(diff)), (diff.mean(), diff.std())
    assert np.max(np.abs(diff)) <= 0.2
