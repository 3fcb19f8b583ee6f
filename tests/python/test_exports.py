"""`wangge export` files open in the analysts' tools with the service's numbers.

Builds a small demo county with the real binary (`wangge demo`, `wangge
join`), exports events, units and metric tables as GeoParquet, CSV and
GeoJSON, and reads them back with GeoPandas, DuckDB (spatial extension,
offline) and polars; row counts and values are checked against
`wangge stats --json`.

Run after `cargo build`:  python -m pytest tests/python
(`WANGGE_BIN` overrides the binary, default target/debug/wangge).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))


def run(*args: str | Path) -> str:
    out = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"wangge {' '.join(map(str, args))}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("demo")
    run("demo", "--out", d, "--grids", 600, "--events", 20000)
    joined = d / "joined.parquet"
    run("join", "--grids", d / "grids.geojson", "--events", d / "events.csv",
        "--out", joined, "--secret", d / "secret.key")
    return {"dir": d, "grids": d / "grids.geojson", "joined": joined}


def export(demo, what: str, out: Path, *extra: str | Path) -> Path:
    run("export", what, "--joined", demo["joined"], "--grids", demo["grids"], "--out", out, *extra)
    return out


def stats(demo, level: int, *extra: str) -> dict[str, dict]:
    text = run("stats", "--joined", demo["joined"], "--grids", demo["grids"],
               "--level", str(level), "--json", *extra)
    return {r["code"]: r for r in json.loads(text)["rows"]}


def spatial() -> duckdb.DuckDBPyConnection:
    import duckdb_ext

    con = duckdb.connect()
    con.execute("SET extension_directory = ?", [os.path.join(list(duckdb_ext.__path__)[0], "extensions")])
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("LOAD spatial")
    return con


@pytest.fixture(scope="module")
def events(demo) -> Path:
    return export(demo, "events", demo["dir"] / "events.parquet")


@pytest.fixture(scope="module")
def township_stats(demo) -> dict[str, dict]:
    return stats(demo, 1)


def test_the_geo_metadata_is_geoparquet_1_1_with_a_bbox_covering(events):
    meta = json.loads(pq.ParquetFile(events).metadata.metadata[b"geo"])
    assert meta["version"] == "1.1.0"
    assert meta["primary_column"] == "geometry"
    col = meta["columns"]["geometry"]
    assert col["encoding"] == "WKB"
    assert col["geometry_types"] == ["Point"]
    assert col["covering"]["bbox"] == {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}
    assert col["crs"]["id"] == {"authority": "OGC", "code": "CRS84"}
    t = pq.read_table(events, columns=["lon", "lat", "bbox"])
    lon, lat = t["lon"].to_numpy(), t["lat"].to_numpy()
    assert col["bbox"] == [lon.min(), lat.min(), lon.max(), lat.max()]
    bbox = t["bbox"].combine_chunks()
    np.testing.assert_array_equal(bbox.field("xmin").to_numpy(), lon)
    np.testing.assert_array_equal(bbox.field("ymax").to_numpy(), lat)
    f = pq.ParquetFile(events)
    assert f.metadata.row_group(0).column(0).compression == "ZSTD"


def test_geopandas_reads_points_in_crs84_at_the_event_coordinates(events, township_stats):
    gdf = gpd.read_parquet(events)
    assert gdf.crs is not None and gdf.crs.equals("OGC:CRS84")
    assert gdf.crs.to_epsg() in (4326, None)  # CRS84 is EPSG:4326 with lon/lat axes
    assert set(gdf.geom_type) == {"Point"}
    np.testing.assert_array_equal(gdf.geometry.x.to_numpy(), gdf["lon"].to_numpy())
    np.testing.assert_array_equal(gdf.geometry.y.to_numpy(), gdf["lat"].to_numpy())
    per_town = gdf.dropna(subset=["tier1"]).groupby("tier1").size()
    assert per_town.to_dict() == {c: int(r["values"]["event_count"]) for c, r in township_stats.items()
                                  if r["values"]["event_count"]}
    assert (gdf["tier1"].isna() == (gdf["outcome"] == "outside")).all()
    # no clear household identifier, only hex keyed hashes
    h = gdf["household_hash"].dropna()
    assert len(h) > 0 and h.str.fullmatch(r"[0-9a-f]{32,64}").all()


def test_rows_are_in_spatial_order_so_row_groups_are_compact(events):
    gdf = gpd.read_parquet(events)
    # Within a month, consecutive points are much closer than random pairs.
    m = gdf[gdf["month"] == gdf["month"].mode()[0]]
    xy = np.c_[m["lon"], m["lat"]]
    step = np.hypot(*np.diff(xy, axis=0).T).mean()
    rng = np.random.default_rng(1)
    shuffled = xy[rng.permutation(len(xy))]
    random_step = np.hypot(*np.diff(shuffled, axis=0).T).mean()
    assert step < random_step / 5


def test_local_date_parts_are_in_shanghai_time(events):
    df = pl.read_parquet(events)
    local = df["occurred_at"].dt.convert_time_zone("Asia/Shanghai").dt.date()
    assert (local == df["local_date"]).all()
    assert (df["local_date"].dt.year() == df["year"]).all()
    assert (df["local_date"].dt.strftime("%Y-%m") == df["month"]).all()
    assert (df["local_date"].dt.strftime("%G-W%V") == df["iso_week"]).all()


def test_duckdb_spatial_reads_the_geometry_and_counts_issues_per_township(events, township_stats):
    con = spatial()
    rows = con.execute(
        "SELECT tier1, count(*) FROM read_parquet(?) WHERE kind = 'issue' AND tier1 IS NOT NULL GROUP BY 1",
        [str(events)]).fetchall()
    assert dict(rows) == {c: int(r["values"]["issue_count"]) for c, r in township_stats.items()
                          if r["values"]["issue_count"]}
    typ, bad = con.execute(
        "SELECT any_value(ST_GeometryType(geometry)), "
        "count(*) FILTER (WHERE abs(ST_X(geometry) - lon) > 0 OR abs(ST_Y(geometry) - lat) > 0) "
        "FROM read_parquet(?)", [str(events)]).fetchone()
    assert str(typ) == "POINT" and bad == 0


def test_the_joined_file_codes_units_and_vocabularies_that_every_reader_takes_as_text(demo, township_stats):
    # `wangge join` writes the unit codes, kinds, categories and states as
    # Parquet dictionary columns (a code per row, each value once).
    schema = pq.read_schema(demo["joined"])
    for name in ["kind", "category", "status", "tier1", "tier2", "tier3", "outcome", "state"]:
        assert str(schema.field(name).type).startswith("dictionary<values=string"), name
    want = {c: int(r["values"]["issue_count"]) for c, r in township_stats.items() if r["values"]["issue_count"]}
    # polars compares them with strings, as a Series and as an expression.
    df = pl.read_parquet(demo["joined"])
    issues = df.filter((df["kind"] == "issue") & (df["outcome"] != "rejected") & df["tier1"].is_not_null())
    assert issues.height == sum(want.values())
    assert dict(issues.group_by("tier1").len().iter_rows()) == want
    assert df.filter(pl.col("tier3") == df["tier3"].drop_nulls()[0]).height > 0
    # pandas makes them `category` columns of the same strings.
    pdf = pd.read_parquet(demo["joined"])
    assert isinstance(pdf["tier1"].dtype, pd.CategoricalDtype)
    got = pdf[pdf["kind"] == "issue"].groupby("tier1", observed=True).size()
    assert {k: int(v) for k, v in got.items()} == want
    # DuckDB reads them as VARCHAR.
    con = duckdb.connect()
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                             [str(demo["joined"])]).fetchall())
    assert types["tier1"] == "VARCHAR" and types["category"] == "VARCHAR"
    rows = con.execute("SELECT tier1, count(*) FROM read_parquet(?) WHERE kind = 'issue' AND tier1 IS NOT NULL "
                       "GROUP BY 1", [str(demo["joined"])]).fetchall()
    assert dict(rows) == want


def test_the_joined_file_says_its_times_are_instants_so_every_reader_shows_the_hour_given(demo):
    # The event file gives wall-clock times of the county (Asia/Shanghai);
    # the joined file holds them as instants typed UTC (Parquet
    # isAdjustedToUTC = true), so no reader takes them for local times.
    instants = ["occurred_at", "resolved_at", "deadline", "updated_at", "accepted_at", "dispatched_at",
                "handled_at", "first_closed_at", "returned_at", "reworked_at", "reopened_at", "extended_at",
                "first_deadline", "escalated_at", "suspended_at", "resumed_at"]
    schema = pq.read_schema(demo["joined"])
    for name in instants:
        assert schema.field(name).type == pa.timestamp("us", tz="UTC"), name
    given = pl.read_csv(demo["dir"] / "events.csv", infer_schema_length=0).select("id", "occurred_at").head(200)
    # Wall-clock text, some with the county's offset written out.
    given = {k: v[:19].replace("T", " ") for k, v in given.iter_rows()
             if len(v) == 19 or v.endswith("+08:00")}
    df = pl.read_parquet(demo["joined"], columns=["id", "occurred_at"]).filter(pl.col("id").is_in(list(given)))
    assert df.height > 100
    shown = df.with_columns(pl.col("occurred_at").dt.convert_time_zone("Asia/Shanghai")
                            .dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert dict(shown.iter_rows()) == {k: given[k] for k in shown["id"]}
    pdf = pd.read_parquet(demo["joined"], columns=["id", "occurred_at"])
    assert str(pdf["occurred_at"].dt.tz) == "UTC"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    first = next(iter(given))
    (text,) = con.execute("SELECT strftime(occurred_at, '%Y-%m-%d %H:%M:%S') FROM read_parquet(?) WHERE id = ?",
                          [str(demo["joined"]), first]).fetchone()
    assert text == given[first]


def test_a_filtered_export_holds_exactly_the_filtered_events(demo):
    frm, to = "2026-03-01", "2026-03-31"
    out = export(demo, "events", demo["dir"] / "march_issues.parquet",
                 "--from", frm, "--to", to, "--kind", "issue")
    df = pl.read_parquet(out)
    assert df["kind"].unique().to_list() == ["issue"]
    assert df["month"].unique().to_list() == ["2026-03"]
    s = stats(demo, 1, "--from", frm, "--to", to, "--kind", "issue")
    total = sum(int(r["values"]["issue_count"] or 0) for r in s.values())
    assert total > 0 and df.filter(pl.col("tier1").is_not_null()).height == total


def test_a_partitioned_export_has_hive_folders_by_month_and_township(demo, events, township_stats):
    root = export(demo, "events", demo["dir"] / "parts", "--partition")
    files = sorted(root.glob("month=*/tier1=*/part-0.parquet"))
    assert files and all(len(p.relative_to(root).parts) == 3 for p in files)
    con = spatial()
    rows = con.execute(
        "SELECT tier1, count(*) FROM read_parquet(?, hive_partitioning = true, "
        "hive_types = {'month': VARCHAR, 'tier1': VARCHAR}) WHERE tier1 <> '__HIVE_DEFAULT_PARTITION__' "
        "AND tier1 IS NOT NULL GROUP BY 1", [str(root / "**" / "*.parquet")]).fetchall()
    assert dict(rows) == {c: int(r["values"]["event_count"]) for c, r in township_stats.items()
                          if r["values"]["event_count"]}
    whole = pl.scan_parquet(events).select(pl.len()).collect().item()
    parts = pl.scan_parquet(str(root / "**" / "*.parquet"), hive_partitioning=True).select(pl.len()).collect().item()
    assert parts == whole
    one = gpd.read_parquet(files[0])
    assert one.crs.equals("OGC:CRS84") and "tier1" not in one.columns


def test_units_are_multipolygons_with_their_attributes(demo):
    out = export(demo, "units", demo["dir"] / "units.parquet")
    gdf = gpd.read_parquet(out)
    assert gdf.crs.equals("OGC:CRS84")
    assert set(gdf.geom_type) == {"MultiPolygon"}
    assert gdf["level"].value_counts().to_dict() == {3: 600, 2: 542, 1: 25, 0: 1}
    src = gpd.read_file(demo["grids"]).set_index("code")
    g = gdf.set_index("code")
    common = src.index.intersection(g.index)
    assert len(common) == len(src)
    np.testing.assert_allclose(g.loc[common].to_crs(6933).area, src.loc[common].to_crs(6933).area, rtol=1e-9)
    eq = g.loc[common].to_crs(6933).area / 1e6  # equal-area
    np.testing.assert_allclose(g.loc[common, "area_km2"], eq, rtol=0.01)


def test_units_as_geojson_open_in_geopandas(demo):
    out = export(demo, "units", demo["dir"] / "towns.geojson", "--level", "1", "--format", "geojson")
    gdf = gpd.read_file(out)
    assert len(gdf) == 25 and gdf.crs.to_epsg() == 4326
    assert set(gdf.geom_type) == {"MultiPolygon"}


def test_a_metric_table_carries_the_service_values(demo, township_stats):
    out = export(demo, "metrics", demo["dir"] / "metrics.parquet", "--level", "1")
    gdf = gpd.read_parquet(out).set_index("code")
    assert len(gdf) == len(township_stats) and set(gdf.geom_type) == {"MultiPolygon"}
    for code, r in township_stats.items():
        for m in ("issue_count", "resolution_rate", "event_density", "visit_coverage"):
            want = r["values"][m]
            got = gdf.loc[code, m]
            if want is None:
                assert pd.isna(got)
            else:
                assert got == pytest.approx(want, rel=1e-12)
    assert not gdf["suppressed"].any()


def test_small_cells_are_suppressed_when_asked(demo):
    grid_stats = stats(demo, 3)
    out = export(demo, "metrics", demo["dir"] / "grids_public.parquet", "--level", "3",
                 "--suppress-below", "5")
    df = pl.read_parquet(out)
    small = {c for c, r in grid_stats.items() if (r["values"]["event_count"] or 0) < 5}
    assert small, "the demo should have grids with few events"
    sup = df.filter(pl.col("suppressed"))
    assert set(sup["code"].to_list()) == small
    assert sup["event_count"].null_count() == sup.height
    counts = df.filter(~pl.col("suppressed"))["incident_count"].drop_nulls()
    assert (counts >= 5).all()


def test_csv_with_a_bom_opens_in_excel_and_pandas(demo, township_stats):
    out = export(demo, "metrics", demo["dir"] / "towns.csv", "--format", "csv", "--bom")
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(out, encoding="utf-8-sig", dtype={"code": str})
    assert len(df) == len(township_stats)
    assert df.set_index("code")["issue_count"].to_dict() == {
        c: r["values"]["issue_count"] for c, r in township_stats.items()}
    names = {c: r["name"] for c, r in township_stats.items()}
    assert df.set_index("code")["name"].to_dict() == names  # Chinese names survive


@pytest.fixture(scope="module")
def service(demo, tmp_path_factory):
    """`wangge serve` on the demo with an analyst and a leader of one township."""
    import shutil
    import socket
    import time
    import urllib.request

    d = tmp_path_factory.mktemp("serve")
    for f in ("grids.geojson", "events.csv"):
        shutil.copy(demo["dir"] / f, d / f)
    town = next(iter(stats(demo, 1)))
    tokens = {}
    for role in ("analyst", "leader"):
        out = run("user", "add", "--role", role, "--scope", town, "--token", "--data", d, role)
        tokens[role] = out.strip().splitlines()[-1].split()[-1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(BIN), "serve", "--data", str(d), "--addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        yield {"base": base, "tokens": tokens, "town": town, "dir": d}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def get(service, role: str, path: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(service["base"] + path,
                                 headers={"Authorization": f"Bearer {service['tokens'][role]}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_api_streams_an_analysts_events_within_scope(service, township_stats):
    status, body = get(service, "analyst", "/api/v1/export/events?format=geoparquet")
    assert status == 200
    path = service["dir"] / "api_events.parquet"
    path.write_bytes(body)
    gdf = gpd.read_parquet(path)
    town = service["town"]
    assert gdf.crs.equals("OGC:CRS84") and set(gdf["tier1"]) == {town}
    assert len(gdf) == township_stats[town]["values"]["event_count"]


def test_the_api_streams_a_tar_of_hive_folders_that_duckdb_and_geopandas_read(service, township_stats):
    import io
    import re
    import tarfile

    status, body = get(service, "analyst", "/api/v1/export/events?partition=month,township")
    assert status == 200
    root = service["dir"] / "api_parts"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
        names = tar.getnames()
        assert all(m.isfile() for m in tar.getmembers())
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, filter="data")
        else:
            tar.extractall(root)
    town = service["town"]
    assert names and all(re.fullmatch(rf"month=\d{{4}}-\d{{2}}/tier1={town}/part-0\.parquet", n) for n in names)
    rows = spatial().execute(
        "SELECT tier1, count(*), count(DISTINCT month) FROM read_parquet(?, hive_partitioning = true, "
        "hive_types = {'month': VARCHAR, 'tier1': VARCHAR}) GROUP BY 1", [str(root / "**" / "*.parquet")]).fetchall()
    assert rows == [(town, int(township_stats[town]["values"]["event_count"]), len(names))]
    status, whole = get(service, "analyst", "/api/v1/export/events")
    path = service["dir"] / "api_whole.parquet"
    path.write_bytes(whole)
    assert rows[0][1] == pq.ParquetFile(path).metadata.num_rows
    one = gpd.read_parquet(root / names[0])
    assert one.crs.equals("OGC:CRS84") and set(one.geom_type) == {"Point"}
    assert "tier1" not in one.columns and "month" not in one.columns


def test_the_api_refuses_row_level_events_to_a_leader_and_suppresses_small_cells(service):
    status, body = get(service, "leader", "/api/v1/export/events")
    assert status == 403 and json.loads(body)["code"] == "forbidden"
    status, body = get(service, "leader", "/api/v1/export/metrics?level=3&format=geojson")
    assert status == 200
    path = service["dir"] / "leader_grids.geojson"
    path.write_bytes(body)
    gdf = gpd.read_file(path)
    assert gdf["code"].str.startswith(service["town"]).all()
    small = gdf["suppressed"]
    assert gdf.loc[small, "event_count"].isna().all()
    assert (gdf.loc[~small, "event_count"] >= 5).all()
    status, body = get(service, "leader", "/api/v1/export/units?format=xml")
    assert status == 400 and json.loads(body)["code"] == "bad_request"


def test_an_xlsx_metric_table_opens_in_openpyxl_with_chinese_headers_and_the_service_values(
        service, township_stats):
    import io

    import openpyxl

    status, body = get(service, "analyst", "/api/v1/export/metrics?level=1&format=xlsx")
    assert status == 200, body[:200]
    wb = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    assert wb.sheetnames == ["数据", "说明"]
    rows = list(wb["数据"].iter_rows(values_only=True))
    header = list(rows[0])
    # Chinese headers from the catalogue's labels.
    for zh in ("编码", "名称", "问题数", "办结率", "事件密度"):
        assert zh in header, header
    town = service["town"]
    by_code = {r[header.index("编码")]: r for r in rows[1:]}
    assert set(by_code) == {town}
    want = township_stats[town]["values"]
    got = by_code[town]
    assert got[header.index("名称")] == township_stats[town]["name"]
    assert got[header.index("问题数")] == want["issue_count"]
    assert got[header.index("办结率")] == pytest.approx(want["resolution_rate"], rel=1e-12)
    # The second sheet names every column and records the query.
    about = list(wb["说明"].iter_rows(values_only=True))
    fields = {r[1]: r[0] for r in about[1:] if r[1]}
    assert fields["issue_count"] == "问题数" and fields["code"] == "编码"
    record = {r[0]: r[1] for r in about if r[0]}
    assert record["导出 (export)"] == "metrics" and record["层级 (level)"] == "1"
    assert record["时区"] == "Asia/Shanghai"


def test_xlsx_events_carry_local_times_as_excel_dates(service):
    import datetime as dt
    import io

    import openpyxl

    window = "from=2025-06-01&to=2025-07-01&kind=issue"
    status, body = get(service, "analyst", f"/api/v1/export/events?format=xlsx&{window}")
    assert status == 200, body[:200]
    status, csv = get(service, "analyst", f"/api/v1/export/events?format=csv&{window}")
    assert status == 200
    want = pd.read_csv(io.BytesIO(csv), dtype={"id": str})
    rows = list(openpyxl.load_workbook(io.BytesIO(body), read_only=True)["数据"].iter_rows(values_only=True))
    header = list(rows[0])
    got = {r[header.index("编号")]: r[header.index("发生时间")] for r in rows[1:]}
    assert len(got) == len(want) > 0
    shanghai = dt.timezone(dt.timedelta(hours=8))
    for _, r in want.iterrows():
        utc = dt.datetime.fromisoformat(r["occurred_at"].replace("Z", "+00:00"))
        assert isinstance(got[r["id"]], dt.datetime)
        assert got[r["id"]] == utc.astimezone(shanghai).replace(tzinfo=None)
    status, body = get(service, "analyst", "/api/v1/export/events?format=xlsx&partition=month,township")
    assert status == 200  # a tar of workbooks


def test_the_openapi_document_passes_the_validator(service):
    from openapi_spec_validator import validate

    status, body = get(service, "analyst", "/api/v1/openapi.json")
    assert status == 200
    doc = json.loads(body)
    validate(doc)  # raises with the first error
    # Query parameters are declared in the query, with their real optionality.
    compare = doc["paths"]["/api/v1/compare"]["get"]["parameters"]
    where = {p["name"]: (p["in"], p.get("required", False)) for p in compare}
    assert where["unit"] == ("query", True) and where["from"] == ("query", False)
    assert where["basis"] == ("query", False)


def test_csv_with_chinese_headers_and_geoparquet_with_the_query_record(service, township_stats):
    import io

    status, body = get(service, "analyst", "/api/v1/export/metrics?level=1&format=csv&headers=zh&bom=true")
    assert status == 200
    df = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig", dtype={"编码": str})
    assert {"编码", "名称", "问题数", "结案率"} <= set(df.columns), list(df.columns)
    town = service["town"]
    assert df.set_index("编码").loc[town, "问题数"] == township_stats[town]["values"]["issue_count"]
    status, body = get(service, "analyst", "/api/v1/export/metrics?level=1&format=csv&headers=pinyin")
    assert status == 400 and json.loads(body)["code"] == "bad_request"
    status, body = get(service, "analyst", "/api/v1/export/metrics?level=1&from=2025-01-01&to=2025-07-01&kind=issue")
    assert status == 200
    meta = pq.ParquetFile(io.BytesIO(body)).metadata.metadata
    record = json.loads(meta[b"wangge:query"])
    assert record["导出 (export)"] == "metrics"
    assert record["起始日期 (from)"] == "2025-01-01" and record["截止日期，不含 (to)"] == "2025-07-01"
    assert record["类型 (kind)"] == "issue"
    assert b"geo" in meta  # GeoParquet's own key is kept


def ogrinfo(service, role: str, *args: str) -> str:
    """GDAL's `ogrinfo` on the service's OGC API - Features, as QGIS reads it."""
    out = subprocess.run(
        ["ogrinfo", "--config", "GDAL_HTTP_HEADERS",
         f"Authorization: Bearer {service['tokens'][role]}", *args],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"ogrinfo {args}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_gdal_lists_the_tiers_and_reads_a_scoped_tier_through_ogc_api_features(service):
    import re

    status, body = get(service, "leader", "/ogc/conformance")
    assert status == 200
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in json.loads(body)["conformsTo"]
    listing = ogrinfo(service, "leader", "-ro", "-q", f"OAPIF:{service['base']}/ogc")
    for tier in ("tier1", "tier2", "tier3"):
        assert tier in listing
    # The grids of the leader's township: as many as the map's own unit list,
    # read through GDAL's paging (pages of 5, so the next links are followed).
    status, body = get(service, "leader", "/api/v1/units?level=3")
    codes = {f["properties"]["code"] for f in json.loads(body)["features"]}
    assert len(codes) > 5
    text = ogrinfo(service, "leader", "-ro", "-al", "-oo", "PAGE_SIZE=5",
                   f"OAPIF:{service['base']}/ogc", "tier3")
    assert int(re.search(r"Feature Count: (\d+)", text).group(1)) == len(codes)
    read = set(re.findall(r"^  code \(String\) = (\S+)$", text, re.M))
    assert read == codes
    assert "MULTIPOLYGON" in text
    # A unit outside the scope is not found, and a bbox narrows the page.
    status, _ = get(service, "leader", "/ogc/collections/tier1/items?limit=1000")
    page = json.loads(_)
    assert page["numberMatched"] == 1 == page["numberReturned"]
    assert page["features"][0]["id"] == service["town"]
    status, body = get(service, "analyst", "/ogc/collections/tier1/items?bbox=0,0,1,1")
    assert status == 200 and json.loads(body)["numberMatched"] == 0


def test_ogc_items_carry_the_maps_metric_for_a_window_and_gdal_reads_it(service):
    """A tier as a QGIS layer with its numbers: `metric` adds catalogue
    values to each unit's properties over the map's window, equal to what
    the map shows the same caller, and the paging links keep them."""
    import re

    window = "from=2025-01-01&to=2025-07-01&kind=issue"
    for role in ("analyst", "leader"):
        status, body = get(service, role, f"/api/v1/map?level=2&metric=issue_count&{window}")
        assert status == 200
        expected = {v["code"]: v["value"] for v in json.loads(body)["values"]}
        status, body = get(service, role, "/ogc/collections/tier2/items?limit=10000"
                           f"&metric=issue_count,closure_rate&{window}")
        assert status == 200, body
        feats = json.loads(body)["features"]
        got = {f["id"]: f["properties"]["issue_count"] for f in feats}
        assert got == expected and any(got.values()), role
        assert all("closure_rate" in f["properties"] for f in feats)
    # The next page keeps the metric and the window.
    status, body = get(service, "analyst", f"/ogc/collections/tier2/items?limit=3&metric=issue_count&{window}")
    links = {link["rel"]: link["href"] for link in json.loads(body)["links"]}
    status, body = get(service, "analyst", links["next"].removeprefix(service["base"]))
    assert status == 200
    nxt = json.loads(body)["features"]
    assert len(nxt) == 3 and all(f["properties"]["issue_count"] == expected.get(f["id"], f["properties"]["issue_count"])
                                 for f in nxt)
    status, body = get(service, "analyst", f"/api/v1/map?level=2&metric=issue_count&{window}")
    expected = {v["code"]: v["value"] for v in json.loads(body)["values"]}
    assert [f["properties"]["issue_count"] for f in nxt] == [expected[f["id"]] for f in nxt]
    # One unit by id, with the attribute; an unknown metric is a 400 that names it.
    code = nxt[0]["id"]
    status, body = get(service, "analyst", f"/ogc/collections/tier2/items/{code}?metric=issue_count&{window}")
    assert status == 200 and json.loads(body)["properties"]["issue_count"] == expected[code]
    status, body = get(service, "analyst", "/ogc/collections/tier2/items?metric=no_such_metric")
    assert status == 400 and b"no_such_metric" in body
    # GDAL reads the attribute as a field of the layer.
    url = f"{service['base']}/ogc/collections/tier2/items?limit=10000&metric=issue_count&{window}"
    text = ogrinfo(service, "analyst", "-ro", "-al", url)
    read = dict(re.findall(r"^  code \(String\) = (\S+)$\n(?:^  .*$\n)*?^  issue_count \(\w+\) = (\S+)$",
                           text, re.M))
    assert len(read) == len(expected)
    assert all(float(read[c]) == expected[c] for c in read if expected[c] is not None)


def test_geopandas_reads_a_leaders_tier_through_gdals_oapif_driver(service):
    """What an analyst types in a notebook: `geopandas.read_file("OAPIF:...")`
    (pyogrio's own GDAL, not Debian's), with the token as GDAL's bearer auth."""
    import os

    import geopandas as gpd

    # GDAL's bearer authentication (GDAL >= 3.9), from the environment.
    auth = {"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": service["tokens"]["leader"]}
    os.environ.update(auth)
    try:
        gdf = gpd.read_file(f"OAPIF:{service['base']}/ogc", layer="tier2")
    finally:
        for k in auth:
            del os.environ[k]
    status, body = get(service, "leader", "/api/v1/units?level=2")
    codes = {f["properties"]["code"] for f in json.loads(body)["features"]}
    assert len(gdf) == len(codes) > 1
    assert set(gdf["code"]) == codes
    assert gdf.crs is not None and gdf.crs.to_epsg() in (4326, None)
    assert gdf.geometry.notna().all() and (gdf.geometry.area > 0).all()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The web-mercator tile z/x/y holding a point (the slippy-map formula)."""
    import math

    n = 2 ** z
    lat_r = math.radians(lat)
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(lat_r)) / math.pi) / 2.0 * n)
    return x, y


def test_gdal_reads_a_leaders_vector_tile_with_only_their_grids(service):
    import re

    status, body = get(service, "leader", "/api/v1/units?level=3&geometry=bbox")
    assert status == 200
    grids = json.loads(body)["features"]
    codes = {f["properties"]["code"] for f in grids}
    b = grids[0]["bbox"]
    x, y = tile_of((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, 12)
    path = service["dir"] / f"tile-{x}-{y}.mvt"
    status, body = get(service, "leader", f"/tiles/3/12/{x}/{y}.mvt")
    assert status == 200 and body
    path.write_bytes(body)
    # GDAL's MVT driver decodes it as QGIS would: georeferenced from z/x/y.
    text = ogrinfo(service, "leader", "-ro", "-al", "-oo", f"Z={12}", "-oo", f"X={x}", "-oo", f"Y={y}",
                   f"MVT:{path}")
    read = set(re.findall(r"^  code \(String\) = (\S+)$", text, re.M))
    assert grids[0]["properties"]["code"] in read
    assert read <= codes, read - codes
    assert "units" in text and "labels" in text
    # Coordinates come back in the grid's neighbourhood (EPSG:3857 metres).
    assert "POLYGON" in text


def test_the_maps_jenks_classes_are_mapclassifys_fisher_jenks(service):
    import mapclassify

    status, body = get(service, "analyst",
                       "/api/v1/map?level=3&metric=event_count&from=2025-01-01&to=2026-01-01")
    assert status == 200
    r = json.loads(body)
    values = np.array([v["value"] for v in r["values"] if v["value"] is not None], dtype=float)
    assert len(np.unique(values)) > 5
    ours = np.array(r["breaks"]["jenks"], dtype=float)
    theirs = mapclassify.FisherJenks(values, k=5).bins

    def within(uppers):
        lo, total = -np.inf, 0.0
        for u in uppers:
            cls = values[(values > lo) & (values <= u)]
            total += ((cls - cls.mean()) ** 2).sum() if len(cls) else 0.0
            lo = u
        return total

    assert len(ours) == len(theirs) == 5
    # The optimum: the same within-class sum of squares (the bounds
    # themselves agree unless two classings tie).
    assert within(ours) == pytest.approx(within(theirs), rel=1e-9)
    assert ours[-1] == values.max()
