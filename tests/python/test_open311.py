"""Open311 GeoReport v2: wangge read by a real client, and checked against
the spec's own example documents.

Starts `wangge serve` on a small demo county, reads it with `georeport`
(a GeoReport v2 client from PyPI, in JSON and in XML), and compares each
answer with the spec's example responses in tests/fixtures/open311
(transcribed there with their origin) field by field: element and key
names, their order, and their types. The client sends no credential on
reads, which wangge requires (reads are scoped to the caller's units):
the test adds the bearer header to its requests, nothing else.

Run after `cargo build`:  python -m pytest tests/python/test_open311.py
(`WANGGE_BIN` overrides the binary, default target/debug/wangge).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))
SPEC = ROOT / "tests" / "fixtures" / "open311"
JURISDICTION = "demo.wangge.cn"
# The demo's last months: the default window (the last 90 days) moves with
# the clock, the demo's dates do not.
WINDOW = {"start_date": "2026-08-01T00:00:00+08:00", "end_date": "2026-10-29T00:00:00+08:00"}
# wangge's documented extensions, after the spec's fields.
EXTENSIONS = {"system", "duplicates"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def run(*args) -> str:
    out = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"wangge {' '.join(map(str, args))}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """`wangge serve` on a demo county, with an admin's and a township leader's API tokens."""
    import socket
    import time

    d = tmp_path_factory.mktemp("open311")
    run("demo", "--out", d, "--grids", 600, "--events", 20000)
    units = [f["properties"] for f in json.loads((d / "grids.geojson").read_text())["features"]]
    town = next(u for u in units if u["level"] == 1)
    grid = next(f for f in json.loads((d / "grids.geojson").read_text())["features"]
                if f["properties"]["level"] == 3)
    ring = grid["geometry"]["coordinates"][0]
    point = (sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))
    tokens = {}
    for role, scope in (("admin", []), ("leader", ["--scope", town["code"]])):
        out = run("user", "add", "--role", role, *scope, "--token", "--data", d, role)
        tokens[role] = out.strip().splitlines()[-1].split()[-1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "WANGGE_OPEN311_JURISDICTION_ID": JURISDICTION}
    proc = subprocess.Popen([str(BIN), "serve", "--data", str(d), "--addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        yield {"base": base, "root": base + "/open311/v2", "tokens": tokens, "town": town,
               "point": point}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def call(service, path: str, role: str | None = "admin", data: dict | None = None):
    """(status, content type, body) of a GET, or of a form POST when `data` is given."""
    headers = {"Authorization": f"Bearer {service['tokens'][role]}"} if role else {}
    body = None
    if data is not None:
        body = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    req = urllib.request.Request(service["root"] + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def spec(name: str):
    """The spec's example: (XML root element, JSON value)."""
    return ET.parse(SPEC / f"{name}.xml").getroot(), json.loads((SPEC / f"{name}.json").read_text())


# --- field-by-field comparison with the spec's examples -------------------

def same_names(spec_names: list[str], ours: list[str], where: str):
    """The spec's names first, in its order; after them only wangge's extensions."""
    assert ours[: len(spec_names)] == spec_names, f"{where}: {ours} vs the spec's {spec_names}"
    assert set(ours[len(spec_names):]) <= EXTENSIONS, f"{where}: {ours[len(spec_names):]}"


def same_xml(spec_el: ET.Element, ours: ET.Element, where: str = ""):
    """Element names and order as in the spec's example, recursively;
    leaf texts of the same kind (time, number, boolean)."""
    where = f"{where}/{ours.tag}"
    assert ours.tag == spec_el.tag, where
    spec_kids, our_kids = list(spec_el), list(ours)
    if not spec_kids:
        kind_of_text(spec_el.text or "", ours.text or "", where)
        return
    if len({k.tag for k in spec_kids}) == 1:
        # A list (`<formats><format>…`): every entry is like the spec's first.
        for k in our_kids:
            same_xml(spec_kids[0], k, where)
        return
    same_names([k.tag for k in spec_kids], [k.tag for k in our_kids], where)
    for s, o in zip(spec_kids, our_kids):
        same_xml(s, o, where)


def kind_of_text(spec_text: str, ours: str, where: str):
    spec_text, ours = spec_text.strip(), ours.strip()
    if not ours:
        return  # an empty element: the spec's optional fields may be empty
    if ISO.match(spec_text):
        assert ISO.match(ours), f"{where}: {ours!r} is not ISO 8601 with an offset"
    elif spec_text in ("true", "false"):
        assert ours in ("true", "false"), f"{where}: {ours!r}"
    elif re.fullmatch(r"-?\d+\.\d+", spec_text):
        float(ours)
    elif where.endswith("/code") and spec_text.isdigit():
        assert ours.isdigit(), f"{where}: {ours!r}"


def same_json(spec_v, ours, where: str = ""):
    """Keys and order as in the spec's example; values of the same type.
    The spec writes some ids and codes as numbers (293944, 94122) where its
    field list calls them identifiers: wangge's are strings. A null in the
    example is a field that may be empty: a string or null."""
    if isinstance(spec_v, dict):
        assert isinstance(ours, dict), where
        same_names(list(spec_v), list(ours), where)
        for k in spec_v:
            same_json(spec_v[k], ours[k], f"{where}.{k}")
    elif isinstance(spec_v, list):
        assert isinstance(ours, list), where
        for o in ours:
            same_json(spec_v[0], o, f"{where}[]")
    elif ours is None or spec_v is None:
        assert ours is None or isinstance(ours, str), f"{where}: {ours!r}"
    elif isinstance(spec_v, bool):
        assert isinstance(ours, bool), f"{where}: {ours!r}"
    elif isinstance(spec_v, int):
        ok = isinstance(ours, str) if not where.endswith(".code") else isinstance(ours, int)
        assert ok and not isinstance(ours, bool), f"{where}: {ours!r}"
    elif isinstance(spec_v, float):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), f"{where}: {ours!r}"
    else:
        assert isinstance(ours, str), f"{where}: {ours!r}"
        if ISO.match(spec_v):
            assert ISO.match(ours), f"{where}: {ours!r} is not ISO 8601 with an offset"


def both(service, path: str, role: str | None = "admin", data: dict | None = None, status=200):
    """The XML root and the JSON value of one resource, each with its content type."""
    x = call(service, f"{path}.xml" if "?" not in path else path.replace("?", ".xml?", 1), role, data)
    j = call(service, f"{path}.json" if "?" not in path else path.replace("?", ".json?", 1), role, data)
    assert x[0] == status, x[2][:500]
    assert j[0] == status, j[2][:500]
    assert x[1] == "text/xml; charset=utf-8"
    assert j[1] == "application/json; charset=utf-8"
    assert x[2].startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(x[2]), json.loads(j[2])


def query(params: dict) -> str:
    return "?" + urllib.parse.urlencode(params)


def test_services_are_the_specs_list_of_services(service):
    x, j = both(service, "/services")
    sx, sj = spec("services")
    same_xml(sx, x)
    same_json(sj, j)
    assert len(j) > 0 and [s.findtext("service_code") for s in x] == [s["service_code"] for s in j]


def test_a_service_definition_has_the_code_and_no_attributes(service):
    code = call(service, "/services.json")
    code = json.loads(code[2])[0]["service_code"]
    x, j = both(service, "/services/" + urllib.parse.quote(code))
    sx, sj = spec("service_definition")
    # wangge's services ask for nothing more: the attributes are empty, so
    # only the definition's own fields can be compared.
    assert [k.tag for k in x] == [k.tag for k in sx] and len(x.find("attributes")) == 0
    assert list(j) == list(sj) and j == {"service_code": code, "attributes": []}


def test_requests_are_the_specs_list_of_requests(service):
    x, j = both(service, "/requests" + query({**WINDOW, "jurisdiction_id": JURISDICTION}))
    sx, sj = spec("requests")
    assert len(j) == len(x) > 0
    same_xml(sx, x)
    same_json(sj, j)
    assert [r.findtext("service_request_id") for r in x] == [r["service_request_id"] for r in j]
    # One request: a list of one, the same fields.
    rid = j[0]["service_request_id"]
    x1, j1 = both(service, "/requests/" + urllib.parse.quote(rid))
    same_xml(sx, x1)
    same_json(sj, j1)
    assert len(j1) == 1 and j1[0]["service_request_id"] == rid
    # No description is published, and the notice says why.
    for r in j:
        assert r["description"] is None
        assert "不予公开" in r["service_notice"] and "not published" in r["service_notice"]


def test_a_new_request_takes_the_specs_example_form_with_an_api_key(service):
    lon, lat = service["point"]
    # The spec's example POST, with wangge's service and position.
    form = {
        "api_key": service["tokens"]["admin"], "jurisdiction_id": JURISDICTION,
        "service_code": "环境卫生", "lat": lat, "long": lon, "address_string": "1234 5th street",
        "email": "smit333@sfgov.edu", "device_id": "tt222111", "account_id": "123456",
        "first_name": "john", "last_name": "smith", "phone": "111111111",
        "description": "A large sinkhole is destroying the street",
        "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg",
        "attribute[WHISPAWN]": "123456",
    }
    x, j = both(service, "/requests", role=None, data=form)
    sx, sj = spec("post_response")
    same_xml(sx, x)
    same_json(sj, j)
    assert x.find("request/account_id").text is None and j[0]["account_id"] is None
    rid = j[0]["service_request_id"]
    _, _, body = call(service, f"/requests/{urllib.parse.quote(rid)}.json")
    shown = json.loads(body)[0]
    assert shown["description"] is None
    for personal in ("smith", "111111111", "smit333", "sinkhole"):
        assert personal not in body.decode()


def test_a_wrong_api_key_is_the_specs_403_error(service):
    form = {"api_key": "not-a-key", "service_code": "环境卫生", "lat": 38.5, "long": 115.0}
    x, j = both(service, "/requests", role=None, data=form, status=403)
    sx, sj = spec("errors")
    same_xml(sx, x)
    same_json(sj, j)
    assert x.findtext("error/code") == "403" and j[0]["code"] == 403
    assert "api_key" in j[0]["description"]
    # Another jurisdiction: 404, the same shape.
    x, j = both(service, "/requests" + query({"jurisdiction_id": "sfgov.org"}), status=404)
    same_xml(sx, x)
    same_json(sj, j)
    assert j[0]["code"] == 404


def test_discovery_is_the_specs_document_without_a_token(service):
    x, j = both(service, "/discovery", role=None)
    sx, sj = spec("discovery")
    same_xml(sx, x)
    same_json(sj, j)
    ep = j["endpoints"][0]
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert ep["url"] == service["root"] and ep["type"] == "production"
    assert ep["formats"] == ["text/xml", "application/json"]


# --- a real client ---------------------------------------------------------

@pytest.fixture
def client(service, monkeypatch):
    """A `georeport` client for a role, JSON or XML; its reads carry the role's token."""
    import georeport
    import requests

    real_get = requests.get

    def client_for(role: str, fmt: str):
        def get(url, params=None, **kw):
            headers = {"Authorization": f"Bearer {service['tokens'][role]}"}
            return real_get(url, params=params, headers=headers, timeout=60, **kw)

        monkeypatch.setattr(georeport.georeport.requests, "get", get)
        return georeport.GeoReport(service["root"], jurisdiction=JURISDICTION, output_format=fmt)

    return client_for


def listed(v) -> list:
    """xmltodict gives a dict for a list of one."""
    return v if isinstance(v, list) else [v]


def test_the_georeport_client_reads_the_same_services_and_requests_in_json_and_xml(client):
    services_j = client("admin", "json").get_service_list()
    services_x = listed(client("admin", "xml").get_service_list())
    assert [s["service_code"] for s in services_j] == [s["service_code"] for s in services_x]
    assert services_j[0]["metadata"] is False and services_x[0]["metadata"] == "false"
    code = services_j[0]["service_code"]
    assert client("admin", "json").get_service_definition(code) == {"service_code": code, "attributes": []}
    d = client("admin", "xml").get_service_definition(code)
    assert d["service_code"] == code and not d["attributes"]
    reqs_j = client("admin", "json").get_service_requests(**WINDOW, status="open,closed")
    reqs_x = listed(client("admin", "xml").get_service_requests(**WINDOW, status="open,closed"))
    assert len(reqs_j) == len(reqs_x) > 0
    for rj, rx in zip(reqs_j, reqs_x):
        assert list(rj) == list(rx)
        assert rj["service_request_id"] == rx["service_request_id"]
        assert rj["status"] == rx["status"] in ("open", "closed")
        assert abs(rj["lat"] - float(rx["lat"])) < 1e-9
        assert rj["requested_datetime"] == rx["requested_datetime"]
    rid = reqs_j[0]["service_request_id"]
    assert client("admin", "json").get_service_request(rid)["service_request_id"] == rid
    assert client("admin", "xml").get_service_request(rid)["service_request_id"] == rid
    closed = client("admin", "json").get_service_requests(**WINDOW, status="closed")
    assert closed and all(r["status"] == "closed" for r in closed)


def test_a_leader_reads_only_their_townships_requests_through_the_client(client, service):
    town = service["town"]["name"]
    for fmt in ("json", "xml"):
        reqs = listed(client("leader", fmt).get_service_requests(**WINDOW))
        assert reqs, fmt
        assert all(r["agency_responsible"] == town or r["agency_responsible"].startswith(town + " ")
                   for r in reqs), fmt
    everyone = client("admin", "json").get_service_requests(**WINDOW)
    assert any(not (r["agency_responsible"] or "").startswith(town + " ") for r in everyone)
