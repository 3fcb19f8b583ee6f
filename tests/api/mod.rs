//! The HTTP API through the router (no port), and once over real TCP;
//! the scope matrix, the exports, the league table and the kill -9 test in
//! their own files.

mod accounts;
mod compare;
mod durability;
mod emerging;
mod export;
mod grid_versions;
mod lifecycle;
mod open311;
mod repeats;
mod scope;
mod snapshot;
pub(crate) mod support;
mod tiles;

use axum::http::StatusCode;
use serde_json::json;

use self::support::{
    audit_until, env, env_with, get, login, openapi_document, post_json, send, Res,
};

const MONTH: &str = "from=2025-06-01&to=2025-07-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_gives_a_token_that_logout_revokes() {
    let e = env();
    let t = login(&e.app, "leader").await;
    let me = get(&e.app, "/api/v1/me", &t).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.json(),
        json!({"name": "leader", "role": "leader", "scopes": [e.codes.township]})
    );
    let out = send(&e.app, "POST", "/api/v1/logout", Some(&t), None, Vec::new()).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let again = get(&e.app, "/api/v1/me", &t).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.json()["code"], "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_no_token_is_401_json() {
    let e = env();
    let r = post_json(
        &e.app,
        "/api/v1/login",
        None,
        json!({"username": "admin", "password": "nope"}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let r = send(&e.app, "GET", "/api/v1/catalogue", None, None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(&e.app, "/api/v1/catalogue", "not-a-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_and_bodies_get_4xx_json() {
    let e = env();
    let t = login(&e.app, "admin").await;
    for (uri, code) in [
        ("/api/v1/map?level=9&metric=issue_count", "bad_request"),
        ("/api/v1/map?level=1&metric=nope", "unknown_metric"),
        ("/api/v1/map?level=x&metric=issue_count", "bad_request"),
        (
            "/api/v1/map?level=1&metric=issue_count&from=2025-13-01",
            "bad_request",
        ),
        (
            "/api/v1/map?level=1&metric=issue_count&from=2025-07-01&to=2025-06-01",
            "bad_request",
        ),
        (
            "/api/v1/map?level=1&metric=issue_count&kind=spam",
            "bad_request",
        ),
        (
            "/api/v1/trend?unit=130682&metric=issue_count&grain=hour",
            "bad_request",
        ),
        // More than 800 days: a coarser grain is asked for.
        (
            "/api/v1/trend?unit=130682&metric=issue_count&grain=day&from=2020-01-01&to=2026-01-01",
            "bad_request",
        ),
        ("/api/v1/issues?unit=130682&per_page=0", "bad_request"),
        ("/api/v1/issues?unit=130682&page=0", "bad_request"),
        // Values out of range are refused, not moved into it.
        ("/api/v1/density?cell_m=0", "bad_request"),
        ("/api/v1/density?cell_m=NaN", "bad_request"),
        (
            "/api/v1/hotspots/emerging?level=1&metric=issue_count&lag=1000000",
            "bad_request",
        ),
        (
            "/api/v1/compare?unit=130682&metric=closure_rate&basis=per_1000_households",
            "bad_request",
        ),
        ("/api/v1/units/nope", "not_found"),
        ("/api/v1/nothing-here", "not_found"),
    ] {
        let r = get(&e.app, uri, &t).await;
        assert!(r.status.is_client_error(), "{uri}: {}", r.status);
        assert_eq!(r.json()["code"], code, "{uri}: {}", r.text());
        assert!(r.json()["message"].is_string());
    }
    let r = send(
        &e.app,
        "POST",
        "/api/v1/login",
        None,
        Some("application/json"),
        b"{".to_vec(),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("application/xml"),
        b"<a/>".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("application/json"),
        b"[1,".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413_json() {
    let e = env_with(|c| c.server.body_limit_bytes = 1024);
    let t = login(&e.app, "admin").await;
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("application/json"),
        vec![b' '; 4096],
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["code"], "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_values_are_cached_with_an_etag_and_carry_breaks() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let uri = format!("/api/v1/map?level=1&metric=issue_count&{MONTH}");
    let r = get(&e.app, &uri, &t).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["metric"]["name"], "issue_count");
    assert!(v["values"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(v["breaks"]["quantile"].is_array() && v["breaks"]["jenks"].is_array());
    let etag = r
        .headers
        .get("etag")
        .expect("etag")
        .to_str()
        .unwrap()
        .to_owned();
    let again = get(&e.app, &uri, &t).await;
    assert_eq!(again.body, r.body);
    let req = axum::http::Request::builder()
        .uri(&uri)
        .header("authorization", format!("Bearer {t}"))
        .header("if-none-match", &etag);
    let res =
        tower::ServiceExt::oneshot(e.app.clone(), req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    // The map's own shape: the same values as parallel arrays, no names.
    let cols = get(&e.app, &format!("{uri}&shape=columns"), &t)
        .await
        .json();
    let rows = v["values"].as_array().unwrap();
    let codes: Vec<_> = rows.iter().map(|r| r["code"].clone()).collect();
    let values: Vec<_> = rows.iter().map(|r| r["value"].clone()).collect();
    assert_eq!(cols["codes"], json!(codes));
    assert_eq!(cols["values"], json!(values));
    assert_eq!(cols["breaks"], v["breaks"]);
    // No data: a null value there, listed apart here.
    assert!(cols.get("no_data").is_none(), "{cols}");
    let nulls: Vec<_> = rows
        .iter()
        .filter(|r| r["value"].is_null())
        .map(|r| r["code"].clone())
        .collect();
    assert_eq!(v["no_data"], json!(nulls));
    // A client holding the code list names it by its tag and gets the
    // values alone; another tag gets the list again.
    let tag = cols["codes_tag"].as_str().unwrap().to_owned();
    assert_eq!(tag.len(), 16);
    let held = get(&e.app, &format!("{uri}&shape=columns&codes_tag={tag}"), &t)
        .await
        .json();
    assert!(held.get("codes").is_none(), "{held}");
    assert_eq!(
        (&held["codes_tag"], &held["values"]),
        (&cols["codes_tag"], &cols["values"])
    );
    let other = get(&e.app, &format!("{uri}&shape=columns&codes_tag=0000"), &t)
        .await
        .json();
    assert_eq!(other["codes"], cols["codes"]);
    let bad = get(&e.app, &format!("{uri}&shape=table"), &t).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_endpoint_answers_the_contract_shapes() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let c = &e.codes;
    let cat = get(&e.app, "/api/v1/catalogue", &t).await.json();
    assert!(cat
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "resolution_rate" && m["label_zh"].is_string()));
    let units = get(
        &e.app,
        &format!("/api/v1/units?level=3&parent={}&zoom=12", c.village),
        &t,
    )
    .await
    .json();
    assert_eq!(units["type"], "FeatureCollection");
    let props = &units["features"][0]["properties"];
    for k in ["code", "name", "level", "parent", "households", "area_km2"] {
        assert!(props.get(k).is_some(), "{k} missing");
    }
    // RFC 7946 §11.2: the unit code is the feature id, and no coordinate
    // carries more than 7 decimals.
    assert_eq!(units["features"][0]["id"], props["code"]);
    let ring = &units["features"][0]["geometry"]["coordinates"][0][0];
    for xy in ring.as_array().unwrap() {
        for v in xy.as_array().unwrap() {
            let text = v.to_string();
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= 7, "{text} has {decimals} decimals");
        }
    }
    let one = get(&e.app, &format!("/api/v1/units/{}", c.village), &t)
        .await
        .json();
    assert_eq!(one["unit"]["code"], c.village.as_str());
    assert_eq!(one["ancestors"][0]["code"], c.township.as_str());
    assert!(one["children"]
        .as_array()
        .unwrap()
        .iter()
        .any(|ch| ch["code"] == c.grid.as_str()));
    let k = get(
        &e.app,
        &format!("/api/v1/units/{}/kpis?{MONTH}", c.township),
        &t,
    )
    .await
    .json();
    assert!(k["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["metric"] == "issue_count" && x["yoy"].is_object() && x["mom"].is_object()));
    let tr = get(
        &e.app,
        &format!(
            "/api/v1/trend?unit={}&metric=issue_count&grain=week&from=2025-01-06&to=2025-07-07",
            c.township
        ),
        &t,
    )
    .await
    .json();
    assert_eq!(tr["series"].as_array().unwrap().len(), 26, "{tr}");
    assert!(tr["alerts"].is_array());
    let cmp = get(
        &e.app,
        &format!(
            "/api/v1/compare?unit={}&metric=resolution_rate&{MONTH}",
            c.township
        ),
        &t,
    )
    .await
    .json();
    let row = &cmp["rows"][0];
    for k in [
        "code",
        "name",
        "rank",
        "prev_rank",
        "value",
        "smoothed",
        "ci_low",
        "ci_high",
        "volume",
        "eligible",
        "score",
        "spark",
    ] {
        assert!(row.get(k).is_some(), "compare row lacks {k}: {row}");
    }
    let hs = get(&e.app, "/api/v1/hotspots?level=2&metric=event_count", &t)
        .await
        .json();
    assert!(hs["moran"]["i"].is_number(), "{hs}");
    assert!(hs["units"][0]["gi_class"].is_string() && hs["units"][0]["lisa"].is_string());
    let is = get(
        &e.app,
        &format!("/api/v1/issues?unit={}&per_page=5", c.township),
        &t,
    )
    .await
    .json();
    let items = is["items"].as_array().unwrap();
    assert!(is["total"].as_u64().unwrap() >= items.len() as u64);
    // Open first.
    let first_resolved = items
        .iter()
        .position(|i| i["status"] != "open")
        .unwrap_or(items.len());
    assert!(items[first_resolved..]
        .iter()
        .all(|i| i["status"] != "open"));
    // The list follows the map's window and category filter: every item
    // lies in them, and the filtered total is no larger than the unit's.
    let all = get(
        &e.app,
        &format!("/api/v1/issues?unit={}&per_page=500", c.township),
        &t,
    )
    .await
    .json();
    // Deadlines (kept only by the pre-aggregates' issue table) are the
    // stored ones, and the overdue cases come first.
    let (stored, _) = e.state.store.load_frame().expect("frame from the database");
    let ids = wangge::columns::text(stored.column("id").unwrap())
        .unwrap()
        .into_owned();
    let kinds = wangge::columns::text(stored.column("kind").unwrap())
        .unwrap()
        .into_owned();
    let due = stored
        .column("deadline")
        .unwrap()
        .cast(&polars::prelude::DataType::Int64)
        .unwrap();
    let due: std::collections::HashMap<&str, Option<i64>> = ids
        .iter()
        .zip(kinds.iter())
        .zip(due.i64().unwrap().iter())
        .filter(|((_, k), _)| *k == Some("issue"))
        .map(|((id, _), d)| (id.unwrap(), d))
        .collect();
    let items = all["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["deadline"].is_string()));
    for i in items {
        let listed = i["deadline"].as_str().map(|d| {
            chrono::DateTime::parse_from_rfc3339(d)
                .unwrap()
                .timestamp_micros()
        });
        assert_eq!(listed, due[i["id"].as_str().unwrap()], "{i}");
    }
    let first_in_time = items
        .iter()
        .position(|i| i["overdue"] != true)
        .unwrap_or(items.len());
    assert!(items[first_in_time..].iter().all(|i| i["overdue"] != true));
    let cat = all["items"][0]["category"].as_str().unwrap().to_owned();
    let day = all["items"][0]["occurred_at"].as_str().unwrap()[..7].to_owned() + "-01";
    let from = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap();
    let to = from + chrono::Months::new(1);
    let url = format!(
        "/api/v1/issues?unit={}&per_page=500&category={}&from={from}&to={to}",
        c.township,
        urlencode(&cat)
    );
    let some = get(&e.app, &url, &t).await.json();
    let items = some["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{url}: {some}");
    assert!(some["total"].as_u64() <= all["total"].as_u64());
    for i in items {
        assert_eq!(i["category"], cat.as_str());
        let at = chrono::DateTime::parse_from_rfc3339(i["occurred_at"].as_str().unwrap()).unwrap();
        let local = at.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        assert!(local >= from && local < to, "{local} outside {from}..{to}");
    }
    let bad = get(
        &e.app,
        &format!("/api/v1/issues?unit={}&from={to}&to={from}", c.township),
        &t,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_idempotent_and_reports_every_row() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let lonlat = (115.0, 38.5);
    let ev = |id: &str| json!({"id": id, "kind": "incident", "occurred_at": "2026-03-01T08:30:00+08:00", "lon": lonlat.0, "lat": lonlat.1, "category": "盗窃"});
    let body = json!([ev("T-1"), ev("T-2"), ev("T-1"), {"id": "T-3", "kind": "issue"}]);
    let r = post_json(&e.app, "/api/v1/events", Some(&t), body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["read"], 4);
    assert_eq!(v["rejected"], 1);
    // The same row twice in one batch: stored once, then `unchanged`.
    assert_eq!(v["unchanged"], 1);
    assert_eq!(v["rows"][2]["outcome"], "unchanged");
    let sum: u64 = [
        "matched",
        "partial",
        "outside",
        "updated",
        "unchanged",
        "stale",
        "pending",
        "rejected",
    ]
    .iter()
    .map(|k| v[*k].as_u64().unwrap())
    .sum();
    assert_eq!(sum, 4);
    assert_eq!(v["rows"].as_array().unwrap().len(), 4);
    assert_eq!(v["rows"][3]["outcome"], "rejected");
    assert!(v["rows"][3]["reason"]
        .as_str()
        .unwrap()
        .contains("occurred_at"));
    let again = post_json(&e.app, "/api/v1/events", Some(&t), body)
        .await
        .json();
    assert_eq!(
        (again["rejected"].as_u64(), again["unchanged"].as_u64()),
        (Some(1), Some(3))
    );
    let csv =
        "id,kind,occurred_at,lon,lat,category\nC-1,incident,2026-03-01 08:00,115.0,38.5,盗窃\n";
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("text/csv"),
        csv.as_bytes().to_vec(),
    )
    .await
    .json();
    assert_eq!(
        (r["read"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(0))
    );
    // A UTF-8 upload with one byte it cannot read (here a GBK character
    // pasted in), undeclared or declared: that row alone is rejected,
    // naming its column; the others keep their Chinese text (read as
    // GB18030 for that byte, 矛盾纠纷 was stored as 鐭涚浘绾犵悍).
    for (ct, p) in [("text/csv", "ENC-U"), ("text/csv; charset=utf-8", "ENC-D")] {
        let mut csv = format!(
            "id,kind,occurred_at,lon,lat,category\n\
             {p}-1,incident,2026-03-01 08:00,115.0,38.5,矛盾纠纷\n\
             {p}-2,incident,2026-03-01 08:00,115.0,38.5,"
        )
        .into_bytes();
        csv.extend(b"\xB0\xA1\n");
        csv.extend(format!("{p}-3,incident,2026-03-01 08:00,115.0,38.5,盗窃\n").as_bytes());
        let r = send(&e.app, "POST", "/api/v1/events", Some(&t), Some(ct), csv).await;
        assert_eq!(r.status, StatusCode::OK, "{ct}: {}", r.text());
        let r = r.json();
        assert_eq!(
            (r["read"].as_u64(), r["rejected"].as_u64()),
            (Some(3), Some(1)),
            "{ct}: {r}"
        );
        let why = r["rows"][1]["reason"].as_str().unwrap();
        assert!(
            why.contains("category") && why.contains("malformed"),
            "{why}"
        );
    }
    let jl = format!("{}\n{}\n", ev("J-1"), ev("J-2"));
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("application/x-ndjson"),
        jl.into_bytes(),
    )
    .await
    .json();
    assert_eq!(
        (r["read"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(0))
    );
    // A byte-order mark before JSON (as editors on Windows write it) is
    // skipped; an id or a category given as an array or an object is that
    // row's reject, naming the column, not text stored as "[object]".
    for (ct, text) in [
        (
            "application/json",
            format!("[{}, {}]", ev("BOM-1"), ev("BOM-2")),
        ),
        (
            "application/x-ndjson",
            format!("{}\n{}\n", ev("BOM-3"), ev("BOM-4")),
        ),
    ] {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend(text.as_bytes());
        let r = send(&e.app, "POST", "/api/v1/events", Some(&t), Some(ct), body).await;
        assert_eq!(r.status, StatusCode::OK, "{ct}: {}", r.text());
        let r = r.json();
        assert_eq!(
            (r["read"].as_u64(), r["rejected"].as_u64()),
            (Some(2), Some(0)),
            "{ct}: {r}"
        );
    }
    let mut nested = ev("N-1");
    nested["id"] = json!({"x": 1});
    let mut listed = ev("N-2");
    listed["category"] = json!(["盗窃"]);
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([nested, listed]))
        .await
        .json();
    assert_eq!(
        (r["read"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(2)),
        "{r}"
    );
    for (row, column) in [(0, "id"), (1, "category")] {
        let reason = r["rows"][row]["reason"].as_str().unwrap();
        assert!(
            reason.contains(column) && reason.contains("an array or object"),
            "{reason}"
        );
    }
    // A key or header no column reads is named in the answer (a misspelt
    // deadline is not read); a body read whole has none.
    let mut misspelt = ev("U-1");
    misspelt["deadlin"] = json!("2026-03-09");
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([misspelt, ev("U-2")]),
    )
    .await
    .json();
    assert_eq!(r["unread_columns"], json!(["deadlin"]), "{r}");
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([ev("U-3")]))
        .await
        .json();
    assert!(r.get("unread_columns").is_none(), "{r}");
    assert!(r.get("unused_values").is_none(), "{r}");
    // A value in a column the row's kind does not carry is left out and
    // counted, by kind and column.
    let mut rated_visit = ev("U-4");
    rated_visit["kind"] = json!("visit");
    rated_visit["satisfaction"] = json!("满意");
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([rated_visit]))
        .await
        .json();
    assert_eq!(
        r["unused_values"],
        json!([{"kind": "visit", "column": "satisfaction", "rows": 1}]),
        "{r}"
    );
    let steps = "issue_id,update_id,at,status,satisfation\nU-9,s1,2026-03-02 08:00,受理,满意\n";
    let r = send(
        &e.app,
        "POST",
        "/api/v1/updates",
        Some(&t),
        Some("text/csv"),
        steps.as_bytes().to_vec(),
    )
    .await
    .json();
    assert_eq!(r["unread_columns"], json!(["satisfation"]), "{r}");
    // A boolean for a number is named as such; a huge number is not
    // written out digit by digit.
    let mut boolean = ev("N-3");
    boolean["lon"] = json!(true);
    let mut huge = ev("N-4");
    huge["lat"] = json!(1e308);
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([boolean, huge]))
        .await
        .json();
    let reasons: Vec<&str> = (0..2)
        .map(|i| r["rows"][i]["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("not a number: true"), "{r}");
    assert!(reasons[1].contains("1e308 is out of range"), "{r}");
    // What the file readers take, the API takes too: a GBK CSV with the
    // Chinese headers of county exports, and JSON with Chinese keys.
    let gbk_csv = format!(
        "编号,类型,发生时间,经度,纬度,类别\nG-1,incident,2026-03-01 08:00,{},{},诈骗\n",
        lonlat.0, lonlat.1
    );
    let (gbk, _, lossy) = encoding_rs::GBK.encode(&gbk_csv);
    assert!(!lossy && std::str::from_utf8(&gbk).is_err());
    for charset in ["text/csv", "text/csv; charset=GBK"] {
        let r = send(
            &e.app,
            "POST",
            "/api/v1/events",
            Some(&t),
            Some(charset),
            gbk.to_vec(),
        )
        .await
        .json();
        assert_eq!(r["read"].as_u64(), Some(1), "{charset}: {r}");
        let want = if charset == "text/csv" { 0 } else { 1 };
        assert_eq!(
            (r["rejected"].as_u64(), r["unchanged"].as_u64()),
            (Some(0), Some(want)),
            "{charset}: the second post is the same version again: {r}"
        );
        assert_eq!(r["rows"][0]["id"], "G-1");
    }
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("text/csv; charset=latin1"),
        gbk.to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());
    // Two headers for one field: refused, nothing read.
    let both = "id,kind,occurred_at,lon,经度,lat,category\nB-1,incident,2026-03-01 08:00,115.0,115.1,38.5,盗窃\n";
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("text/csv"),
        both.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(
        r.text()
            .contains("the columns `lon` and `经度` both give `lon`"),
        "{}",
        r.text()
    );
    // Two keys for one field in an object: that row rejected.
    let two = json!([{"id": "B-2", "kind": "incident", "occurred_at": "2026-03-01 08:30", "lon": lonlat.0, "lat": lonlat.1, "纬度": lonlat.1, "category": "盗窃"}]);
    let r = post_json(&e.app, "/api/v1/events", Some(&t), two)
        .await
        .json();
    assert_eq!(r["rejected"].as_u64(), Some(1), "{r}");
    assert!(
        r["rows"][0]["reason"]
            .as_str()
            .is_some_and(|m| m.contains("`lat` and `纬度` both give `lat`")),
        "{r}"
    );
    let zh = json!([{"编号": "Z-1", "类型": "incident", "发生时间": "2026-03-01 08:30", "经度": lonlat.0, "纬度": lonlat.1, "类别": "盗窃"}]);
    let r = post_json(&e.app, "/api/v1/events", Some(&t), zh)
        .await
        .json();
    assert_eq!(
        (
            r["read"].as_u64(),
            r["rejected"].as_u64(),
            r["rows"][0]["id"].as_str()
        ),
        (Some(1), Some(0), Some("Z-1")),
        "{r}"
    );
    let before = e.state.snapshot().unwrap().frame.height();
    assert!(e.state.refresh().unwrap());
    assert_eq!(e.state.snapshot().unwrap().frame.height(), before + 19);
    let cats = get(&e.app, "/api/v1/categories", &t).await.text();
    assert!(
        cats.contains("矛盾纠纷") && !cats.contains("鐭涚浘"),
        "{cats}"
    );
}

/// A quote opened in a CSV body and never closed takes the rows after it
/// into one value: that row is rejected, naming the column and the lines
/// it took in, as the file readers reject it, and nothing of it is stored.
/// The API stored the row, the next rows hashed into its household.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_left_open_in_a_csv_body_rejects_its_row() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let csv = "id,kind,occurred_at,lon,lat,category,household\n\
               Q-1,visit,2026-03-01 08:00,115.0,38.5,走访,\"H1\n\
               Q-2,visit,2026-03-01 09:00,115.0,38.5,走访,H2\n\
               Q-3,visit,2026-03-01 10:00,115.0,38.5,走访,H3\n";
    let before = e.state.snapshot().unwrap().frame.height();
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("text/csv"),
        csv.as_bytes().to_vec(),
    )
    .await
    .json();
    assert_eq!(
        (r["read"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(r["rows"][0]["id"], "Q-1", "{r}");
    let reason = r["rows"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("household: ") && reason.contains("lines 2-4 and takes in line 3"),
        "{reason}"
    );
    assert!(
        !reason.contains("H2"),
        "a rejected value is never echoed: {reason}"
    );
    assert!(e.state.refresh().is_ok());
    assert_eq!(e.state.snapshot().unwrap().frame.height(), before);
    // A quote opened in the last row and never closed: no row after it
    // to give it away, yet the row is rejected, not stored with the rest
    // of the body as its value. A quote inside an unquoted value is text.
    for (body, column) in [
        (
            "Q-7,issue,2026-03-01 08:00,115.0,38.5,环境卫生,\"open",
            "status",
        ),
        (
            "Q-8,issue,2026-03-01 08:00,115.0,38.5,环境卫生,\"open\n\n",
            "status",
        ),
        (
            "Q-9,issue,\"2026-03-01 08:00,115.0,38.5,环境卫生,open\n",
            "occurred_at",
        ),
    ] {
        let csv = format!("id,kind,occurred_at,lon,lat,category,status\nQ-0,issue,2026-03-01 08:00,115.0,38.5,5\"管道,open\n{body}");
        let r = send(
            &e.app,
            "POST",
            "/api/v1/events",
            Some(&t),
            Some("text/csv"),
            csv.into_bytes(),
        )
        .await
        .json();
        assert_eq!(
            (r["read"].as_u64(), r["rejected"].as_u64()),
            (Some(2), Some(1)),
            "{r}"
        );
        let reason = r["rows"][1]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!(
                "{column}: a quote opened on line 3 is never closed"
            )),
            "{reason}"
        );
        assert_ne!(r["rows"][0]["outcome"], "rejected", "{r}");
    }
    // A number past a float's range rejects its row alone (it refused
    // the whole array).
    let body = r#"[{"id": "Q-5", "kind": "incident", "occurred_at": "2026-03-01 08:00", "lon": 1e400, "lat": 38.5, "category": "盗窃"},
            {"id": "Q-6", "kind": "incident", "occurred_at": "2026-03-01 08:00", "lon": 115.0, "lat": 38.5, "category": "盗窃"}]"#;
    let r = send(
        &e.app,
        "POST",
        "/api/v1/events",
        Some(&t),
        Some("application/json"),
        body.as_bytes().to_vec(),
    )
    .await
    .json();
    assert_eq!(
        (r["read"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{r}"
    );
    assert!(
        r["rows"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("out of range"),
        "{r}"
    );
    assert_eq!(r["rows"][1]["outcome"], "matched", "{r}");
    // A JSON row rejected for its shape is still named by its id.
    let nested = json!([{"id": "Q-4", "kind": "visit", "occurred_at": "2026-03-01 08:00",
        "lon": 115.0, "lat": 38.5, "category": "走访", "household": ["H4"]}]);
    let r = post_json(&e.app, "/api/v1/events", Some(&t), nested)
        .await
        .json();
    assert_eq!(
        (
            r["rows"][0]["id"].as_str(),
            r["rows"][0]["outcome"].as_str()
        ),
        (Some("Q-4"), Some("rejected")),
        "{r}"
    );
}

/// A body sent gzip-compressed (`Content-Encoding: gzip`) is read as
/// the same rows; the body limit counts what it decompresses to, so a
/// small file of zeros that would fill memory is refused 413; a body that
/// is not the gzip it says is a 400. A gzip body was read as its
/// compressed bytes: "not JSON".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_body_is_read_decompressed_within_the_body_limit() {
    use std::io::Write;
    let e = env();
    let t = login(&e.app, "admin").await;
    let gzip = |parts: &mut dyn Iterator<Item = Vec<u8>>| {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for p in parts {
            z.write_all(&p).unwrap();
        }
        z.finish().unwrap()
    };
    let post = |body: Vec<u8>| {
        let (app, t) = (e.app.clone(), t.clone());
        async move {
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/api/v1/events")
                .header("authorization", format!("Bearer {t}"))
                .header("content-type", "text/csv")
                .header("content-encoding", "gzip")
                .body(axum::body::Body::from(body))
                .unwrap();
            let res = tower::ServiceExt::oneshot(app, req).await.unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let csv = "id,kind,occurred_at,lon,lat,category\n\
               GZ-1,incident,2026-03-01 08:00,115.0,38.5,盗窃\n\
               GZ-2,incident,2026-03-01 09:00,115.0,38.5,盗窃\n";
    let (status, text) = post(gzip(&mut std::iter::once(csv.as_bytes().to_vec()))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["read"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(0)),
        "{v}"
    );
    // 65 MiB of zeros (past the 64 MiB limit) in about 64 KiB.
    let mut zeros = (0..65).map(|_| vec![b'0'; 1 << 20]);
    let bomb = gzip(&mut zeros);
    assert!(bomb.len() < 1 << 20);
    let (status, text) = post(bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let (status, text) = post(b"not gzip at all".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}

/// HTTP methods as the OpenAPI document names them.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Whether the router answered `r` for want of a route: its fallbacks
/// (`no_route`'s 404 "no such endpoint", in JSON or in GeoReport v2's
/// shape; `no_method`'s 405), or the front end, which answers what no API
/// route takes with its page, a 405, or a 404 that names no resource (its
/// "no such file", or an empty one from a directory on disk).
fn unrouted(r: &Res) -> bool {
    let text = r.text();
    let html = r
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    (r.status == StatusCode::NOT_FOUND
        && (text.is_empty() || text.contains("no such endpoint") || text.contains("no such file")))
        || r.status == StatusCode::METHOD_NOT_ALLOWED
        || html
}

/// A documented path with each `{parameter}` given a plausible value.
fn filled(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{tier}" => "3",
            "{z}" | "{x}" => "0",
            "{y}" => "0.mvt",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The document and the router come from one route table; this checks
/// the result as a client meets it: every operation the served document
/// lists is answered by a handler, not by the router's fallbacks. Asked
/// without a token and without a body, each handler answers (401, 400,
/// 403, or its data) before doing any work on the store. The front end
/// (`/`, `/glyphs/`, the vendor files) is outside the table and the
/// document: its files are not API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_3_1_and_every_documented_operation_is_routed() {
    let e = env();
    let v = openapi_document(&e.app).await;
    assert!(v["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = v["paths"].as_object().expect("paths");
    let documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    for known in [
        ("post", "/api/v1/login"),
        ("get", "/api/v1/units/{code}/kpis"),
        ("get", "/api/v1/export/events"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/open311/v2/requests.json"),
        ("post", "/open311/v2/requests.xml"),
        ("get", "/ogc"),
        ("get", "/ogc/collections/{id}/items/{fid}"),
        ("get", "/tiles/{tier}/{z}/{x}/{y}"),
        ("get", "/healthz"),
    ] {
        assert!(
            documented.contains(&(known.0.into(), known.1.into())),
            "{} {} is missing from the document: {documented:?}",
            known.0.to_uppercase(),
            known.1
        );
    }
    for front_end in ["/", "/glyphs/{file}"] {
        assert!(!paths.contains_key(front_end), "{front_end} is documented");
    }
    // What `unrouted` tells apart: the fallbacks of each part of the
    // service and the front end's page, from a handler's own 404.
    let t = login(&e.app, "admin").await;
    for (method, uri, token) in [
        ("GET", "/api/v1/no-such-thing", None),
        ("DELETE", "/api/v1/login", None),
        ("GET", "/open311/v2/no-such-thing.json", None),
        ("PUT", "/open311/v2/requests.xml", None),
        ("GET", "/ogc/no-such-thing", None),
        ("GET", "/tiles/3/0/0", None),
        ("POST", "/healthz", None),
        ("GET", "/no-such-page", Some(t.as_str())),
    ] {
        let r = send(&e.app, method, uri, token, None, Vec::new()).await;
        assert!(unrouted(&r), "{method} {uri}: {} {}", r.status, r.text());
    }
    let own = get(&e.app, "/api/v1/units/NO-SUCH-UNIT", &t).await;
    assert_eq!(own.status, StatusCode::NOT_FOUND, "{}", own.text());
    assert!(!unrouted(&own), "a handler's 404 taken for the router's");
    for (method, path) in &documented {
        let method = method.to_uppercase();
        let uri = filled(path);
        let r = send(&e.app, &method, &uri, None, None, Vec::new()).await;
        assert!(
            !unrouted(&r),
            "{method} {path} is documented but not routed ({uri}: {} {})",
            r.status,
            r.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_answer() {
    let e = env();
    assert_eq!(
        send(&e.app, "GET", "/healthz", None, None, Vec::new())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&e.app, "GET", "/readyz", None, None, Vec::new())
            .await
            .status,
        StatusCode::OK
    );
    let t = login(&e.app, "admin").await;
    get(&e.app, "/api/v1/catalogue", &t).await;
    // Not for anyone: an admin (or the configured scraper token) only.
    let anon = send(&e.app, "GET", "/metrics", None, None, Vec::new()).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    let chief = login(&e.app, "chief").await;
    assert_eq!(
        get(&e.app, "/metrics", &chief).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A method no one uses is one bounded label, not a new series per name.
    send(
        &e.app,
        "FROB",
        "/api/v1/catalogue",
        Some(&t),
        None,
        Vec::new(),
    )
    .await;
    let m = get(&e.app, "/metrics", &t).await.text();
    assert!(m.contains("wangge_http_requests_total{route=\"/api/v1/catalogue\",method=\"GET\",status=\"200\"} 1"), "{m}");
    assert!(m.contains("wangge_ready 1"));
    assert!(!m.contains("FROB") && m.contains("method=\"OTHER\""), "{m}");
    let scraped = env_with(|cfg| cfg.server.metrics_token = "scrape-me-8f3a1c9d2e".into());
    let r = send(
        &scraped.app,
        "GET",
        "/metrics",
        Some("scrape-me-8f3a1c9d2e"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        &scraped.app,
        "GET",
        "/metrics",
        Some("scrape-you"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_lists_shows_and_creates_requests() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let s = get(&e.app, "/open311/v2/services.json", &t).await.json();
    let code = s[0]["service_code"].as_str().expect("a service").to_owned();
    // The demo's last months (without dates: the last 90 days before now).
    let list = get(
        &e.app,
        "/open311/v2/requests.json?limit=3&start_date=2026-08-01T00:00:00%2B08:00&end_date=2026-10-29T00:00:00%2B08:00",
        &t,
    )
    .await
    .json();
    let id = list[0]["service_request_id"]
        .as_str()
        .expect("a request")
        .to_owned();
    let one = get(&e.app, &format!("/open311/v2/requests/{id}.json"), &t)
        .await
        .json();
    assert_eq!(one[0]["service_request_id"], id.as_str());
    let form = format!("service_code={}&lat=38.5&long=115.0", urlencode(&code));
    let r = send(
        &e.app,
        "POST",
        "/open311/v2/requests.json",
        Some(&t),
        Some("application/x-www-form-urlencoded"),
        form.into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let new_id = r.json()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        get(&e.app, &format!("/open311/v2/requests/{new_id}.json"), &t)
            .await
            .status,
        StatusCode::OK
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_exports_are_audited() {
    let e = env();
    let t = login(&e.app, "analyst").await;
    let r = get(&e.app, "/api/v1/export?level=2", &t).await;
    assert_eq!(r.status, StatusCode::OK);
    get(&e.app, "/api/v1/catalogue", &t).await;
    let log = audit_until(&e, |log| log.iter().any(|a| a.action == "read")).await;
    assert!(log.iter().any(|a| a.action == "export"
        && a.user.as_deref() == Some("analyst")
        && a.target.contains("/api/v1/export")));
    assert!(log
        .iter()
        .any(|a| a.action == "read" && a.target.contains("/api/v1/catalogue")));
    assert!(log.iter().any(|a| a.action == "login"));
    // Repeated reads are counted, not lost, and coalesced: the same user,
    // target and status within a second are one record with a count.
    for _ in 0..5 {
        get(&e.app, "/api/v1/units?level=1", &t).await;
    }
    let ours = |log: &[wangge::store::AuditEntry]| -> Vec<(u32, i64)> {
        log.iter()
            .filter(|a| {
                a.target == "GET /api/v1/units?level=1" && a.user.as_deref() == Some("analyst")
            })
            .map(|a| (a.n, a.at))
            .collect()
    };
    let log = audit_until(&e, |log| ours(log).iter().map(|x| x.0).sum::<u32>() >= 5).await;
    let records = ours(&log);
    assert_eq!(records.iter().map(|x| x.0).sum::<u32>(), 5, "{records:?}");
    // At most one writer pass and one second boundary fall inside five reads.
    assert!(records.len() <= 3, "not coalesced: {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_on_an_export_runs_nothing_and_is_not_an_export_record() {
    let e = env();
    let t = login(&e.app, "analyst").await;
    for uri in [
        "/api/v1/export?level=2",
        "/api/v1/export/events?format=csv",
        "/api/v1/export/metrics?format=parquet&level=1",
        "/api/v1/export/units?format=geojson",
    ] {
        let r = send(&e.app, "HEAD", uri, Some(&t), None, Vec::new()).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert!(r.body.is_empty(), "{uri}");
        assert!(r.headers.contains_key("content-type"), "{uri}");
    }
    // Checked like the GET: a chief may not, a unit out of scope is 404.
    let chief = login(&e.app, "chief").await;
    let r = send(
        &e.app,
        "HEAD",
        "/api/v1/export/events",
        Some(&chief),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let out = format!("/api/v1/export/events?parent={}", e.codes.other_township);
    let r = send(&e.app, "HEAD", &out, Some(&t), None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // One real export, so the audit writer has run past the HEADs.
    let r = get(&e.app, "/api/v1/export/units?format=csv", &t).await;
    assert_eq!(r.status, StatusCode::OK);
    let log = audit_until(&e, |log| log.iter().any(|a| a.action == "export")).await;
    let exports: Vec<&str> = log
        .iter()
        .filter(|a| a.action == "export")
        .map(|a| a.target.as_str())
        .collect();
    assert_eq!(
        exports,
        ["GET /api/v1/export/units?format=csv"],
        "{exports:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_over_real_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = env();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = e.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let body = json!({"username": "admin", "password": self::support::PASSWORD}).to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"token\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_are_served_and_missing_assets_are_404() {
    // A vendor directory without the file asked for.
    let vendor = tempfile::tempdir().unwrap();
    let e = env_with(|c| {
        c.server
            .vendor
            .insert("/vendor/test".into(), vendor.path().to_owned());
    });
    let web = e.state.config.server.web.clone();
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>网格</title>").unwrap();
    std::fs::write(web.join("app.js"), "export {};").unwrap();
    let r = send(&e.app, "GET", "/", None, None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("网格"));
    assert_eq!(
        send(&e.app, "GET", "/app.js", None, None, Vec::new())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&e.app, "GET", "/vendor/test/x.js", None, None, Vec::new())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&e.app, "GET", "/glyphs/none.woff2", None, None, Vec::new())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// With no `[server] web` or `[server.vendor]`, the binary serves the front
/// end it embeds: the page, MapLibre with its worker, uPlot, and the
/// Chinese font cut for the loaded county, each with its content type and
/// an entity tag that answers 304; missing assets are 404, not the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_front_end_is_served_with_types_tags_and_404s() {
    use axum::http::header;
    use tower::ServiceExt;
    let e = env_with(|c| {
        c.server.web = Default::default();
        c.server.vendor.clear();
    });
    let get = |uri: &'static str| send(&e.app, "GET", uri, None, None, Vec::new());
    let page = get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("网格化管理"));
    for (uri, ct) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        (
            "/vendor/maplibre-gl/maplibre-gl.mjs",
            "text/javascript; charset=utf-8",
        ),
        (
            "/vendor/maplibre-gl/maplibre-gl-worker.mjs",
            "text/javascript; charset=utf-8",
        ),
        (
            "/vendor/maplibre-gl/maplibre-gl.css",
            "text/css; charset=utf-8",
        ),
        (
            "/vendor/uplot/uPlot.esm.js",
            "text/javascript; charset=utf-8",
        ),
        ("/glyphs/NotoSansSC-Regular.woff2", "font/woff2"),
    ] {
        let r = get(uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.headers[header::CONTENT_TYPE], ct, "{uri}");
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache", "{uri}");
        let etag = r.headers[header::ETAG].to_str().unwrap().to_owned();
        let again = e
            .app
            .clone()
            .oneshot(
                axum::http::Request::get(uri)
                    .header(header::IF_NONE_MATCH, &etag)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{uri}");
    }
    let font = get("/glyphs/NotoSansSC-Regular.woff2").await;
    assert_eq!(&font.body[..4], b"wOF2");
    for uri in [
        "/vendor/maplibre-gl/maplibre-gl.mjs.map",
        "/vendor/uplot/uPlot.cjs.js",
        "/vendor/other/x.js",
        "/glyphs/other.woff2",
        "/no-such-module.js",
    ] {
        assert_eq!(get(uri).await.status, StatusCode::NOT_FOUND, "{uri}");
    }
    // A page path (a link into the app) is the page.
    assert!(get("/some/page").await.text().contains("网格化管理"));
}

/// Text goes out gzip-compressed to clients that accept it, and reads back
/// the same; Parquet downloads are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_is_gzipped_for_clients_that_accept_it_and_parquet_is_not() {
    use std::io::Read;
    use tower::ServiceExt;
    let e = env();
    let t = login(&e.app, "admin").await;
    let fetch = |uri: String, gzip: bool| {
        let app = e.app.clone();
        let t = t.clone();
        async move {
            let mut b = axum::http::Request::builder()
                .uri(uri)
                .header("authorization", format!("Bearer {t}"));
            if gzip {
                b = b.header("accept-encoding", "gzip");
            }
            let res = app
                .oneshot(b.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let enc = res
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec();
            (enc, body)
        }
    };
    let units = format!("/api/v1/units?level=3&parent={}&zoom=12", e.codes.township);
    let (plain_enc, plain) = fetch(units.clone(), false).await;
    let (enc, zipped) = fetch(units, true).await;
    assert_eq!(plain_enc, None);
    assert_eq!(enc.as_deref(), Some("gzip"));
    assert!(
        zipped.len() * 2 < plain.len(),
        "{} of {}",
        zipped.len(),
        plain.len()
    );
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, plain);
    let (enc, body) = fetch("/api/v1/export/units?level=1".into(), true).await;
    assert_eq!(enc, None);
    assert_eq!(&body[..4], b"PAR1");
}

/// A mistyped filter is refused, never dropped: `form=` for `from=` would
/// otherwise answer for the whole record as if it had been filtered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_parameter_the_route_does_not_take_is_refused_by_name() {
    let e = env();
    let t = login(&e.app, "admin").await;
    for (uri, method, bad) in [
        (
            "/api/v1/map?level=3&metric=event_count&form=2026-03-01",
            "GET",
            "form",
        ),
        (
            "/api/v1/trend?unit=130682100&metric=event_count&step=week",
            "GET",
            "step",
        ),
        (
            "/api/v1/export/events?format=csv&cateogry=盗窃",
            "HEAD",
            "cateogry",
        ),
        ("/api/v1/units?level=3&x=1", "GET", "x"),
    ] {
        let r = send(&e.app, method, uri, Some(&t), None, Vec::new()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        if method == "GET" {
            let v = r.json();
            let m = v["message"].as_str().unwrap();
            assert!(
                m.starts_with(&format!("unknown query parameter `{bad}`; /api/v1/")),
                "{uri}: {m}"
            );
        }
    }
    let r = get(
        &e.app,
        "/api/v1/map?level=3&metric=event_count&form=2026-03-01",
        &t,
    )
    .await;
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("takes level, metric, parent, shape, codes_tag, from, to, kind, category"),
        "{}",
        r.text()
    );
    // The same routes with the names they take answer.
    for uri in [
        "/api/v1/map?level=3&metric=event_count&from=2026-03-01",
        "/api/v1/units?level=3",
    ] {
        assert_eq!(get(&e.app, uri, &t).await.status, StatusCode::OK, "{uri}");
    }
    // A value that does not parse is refused with its parameter's name.
    for (uri, want) in [
        (
            "/api/v1/map?level=3&metric=event_count&from=2026-13-01",
            "from: not a date (YYYY-MM-DD): \"2026-13-01\"",
        ),
        (
            "/api/v1/units/130682100/kpis?to=yesterday",
            "to: not a date (YYYY-MM-DD): \"yesterday\"",
        ),
        ("/api/v1/units?level=x", "level: invalid digit"),
    ] {
        let r = get(&e.app, uri, &t).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        let v = r.json();
        let m = v["message"].as_str().unwrap();
        assert!(m.starts_with(want), "{uri}: {m}");
    }
    // The OGC API follows its standard: clients send parameters of their own.
    let r = get(&e.app, "/ogc/collections?f=json&client=qgis", &t).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_security_headers_and_errors_are_json() {
    let e = env();
    let t = login(&e.app, "admin").await;
    for r in [
        send(&e.app, "GET", "/", None, None, Vec::new()).await,
        get(&e.app, "/api/v1/catalogue", &t).await,
    ] {
        let h = |n: &str| {
            r.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(h("content-security-policy").contains("default-src 'self'"));
        assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("referrer-policy"), "no-referrer");
    }
    let r = post_json(
        &e.app,
        "/api/v1/login",
        None,
        json!({"username": "admin", "password": self::support::PASSWORD}),
    )
    .await;
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    let r = send(&e.app, "POST", "/api/v1/map", Some(&t), None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["code"], "method_not_allowed");
    // Open311 answers in GeoReport v2's error shape.
    let r = send(
        &e.app,
        "DELETE",
        "/open311/v2/requests.json",
        Some(&t),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()[0]["code"], 405);
    let r = get(&e.app, "/api/v1/no-such-thing", &t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_text_is_bounded_dates_are_plausible_and_csv_cells_cannot_be_formulas() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let conn = rusqlite::Connection::open(e.state.store.path()).unwrap();
    let (lon, lat): (f64, f64) = conn
        .query_row(
            "SELECT lon, lat FROM events WHERE tier3 IS NOT NULL LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let ev = |id: String, at: &str, cat: &str| json!({"id": id, "kind": "issue", "occurred_at": at, "lon": lon, "lat": lat, "category": cat, "status": "open"});
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([
            ev(
                "F-1".into(),
                "2025-03-01 08:00",
                "=HYPERLINK(\"http://evil\",\"点我\")"
            ),
            ev("x".repeat(129), "2025-03-01 08:00", "环境卫生"),
            ev("F-2".into(), "1970-01-02 08:00", "环境卫生"),
            ev("F-3".into(), "2099-01-01 08:00", "环境卫生"),
            ev("F-4".into(), "2025-03-01 08:00", &"长".repeat(129)),
        ]),
    )
    .await
    .json();
    assert_eq!(
        (r["matched"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(4)),
        "{r}"
    );
    let reasons: Vec<&str> = r["rows"].as_array().unwrap()[1..]
        .iter()
        .map(|x| x["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].starts_with("id: 129 characters"), "{reasons:?}");
    assert!(reasons[1].contains("before 1990"), "{reasons:?}");
    assert!(reasons[2].contains("future"), "{reasons:?}");
    assert!(
        reasons[3].starts_with("category: 129 characters"),
        "{reasons:?}"
    );
    e.state.refresh().unwrap();
    let csv = get(
        &e.app,
        "/api/v1/export/events?format=csv&from=2025-03-01&to=2025-03-02&kind=issue",
        &t,
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = csv.text();
    let row = text
        .lines()
        .find(|l| l.starts_with("F-1,"))
        .expect("the row");
    assert!(row.contains("'=HYPERLINK("), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accepted_date_range_is_configurable() {
    let e = env_with(|c| {
        c.ingest.earliest = "2024-01-01".into();
        c.ingest.ahead_days = 0;
    });
    let t = login(&e.app, "admin").await;
    let ev = |id: &str, at: &str| json!({"id": id, "kind": "incident", "occurred_at": at, "lon": 115.0, "lat": 38.5, "category": "盗窃"});
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%d 08:00")
        .to_string();
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([
            ev("D-1", "2023-12-31 08:00"),
            ev("D-2", "2024-01-02 08:00"),
            ev("D-3", &tomorrow)
        ]),
    )
    .await
    .json();
    let rows = r["rows"].as_array().unwrap();
    let reason = |k: usize| rows[k]["reason"].as_str().unwrap_or("").to_owned();
    assert!(reason(0).contains("before 2024-01-01"), "{r}");
    assert_ne!(rows[1]["outcome"], "rejected", "{r}");
    assert!(reason(2).contains("0 days in the future"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_and_the_service_keeps_answering() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = env();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(wangge::api::server::serve(
        listener,
        e.app.clone(),
        4,
        Duration::from_secs(1),
        std::future::pending(),
    ));
    // Twice as many clients as the limit start a request and never finish
    // its headers: the server closes each when its header time is up (the
    // bound below only keeps a broken server from hanging the test).
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    for s in &mut slow {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a half-open connection stayed open");
    }
    // As many clients as there are slots send whole headers and start a
    // body they never finish: each is answered and closed when its body
    // has stalled for the header time, and the slots are free again.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
        stalled.push(s);
    }
    for s in &mut stalled {
        let mut out = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
        assert!(closed.is_ok(), "a stalled body kept its connection open");
        let out = String::from_utf8_lossy(&out);
        assert!(
            out.starts_with("HTTP/1.1 4"),
            "a stalled body is a client error: {out}"
        );
    }
    // The crowd filled every slot and has gone: its memory is handed back.
    let released = async {
        while wangge::api::server::memory_releases() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(20), released)
            .await
            .is_ok(),
        "no memory handed back after the crowd"
    );
    // A client that sends a whole request is served.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_string(&mut out))
        .await
        .expect("answered")
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_requests_are_limited_per_user() {
    let e = env_with(|c| {
        c.server.costly_per_minute = 1;
        c.server.costly_burst = 2;
    });
    let a = login(&e.app, "analyst").await;
    let l = login(&e.app, "leader").await;
    let url = &format!(
        "/api/v1/compare?unit={}&metric=event_count",
        e.codes.township
    );
    for _ in 0..2 {
        let r = get(&e.app, url, &a).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    // HEAD on an export computes nothing and is not counted.
    let h = send(
        &e.app,
        "HEAD",
        "/api/v1/export/metrics?level=1",
        Some(&a),
        None,
        Vec::new(),
    )
    .await;
    assert_ne!(h.status, StatusCode::TOO_MANY_REQUESTS);
    let r = get(&e.app, "/api/v1/export/metrics?level=1", &a).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(r.json()["code"], "too_many_requests");
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("too many costly requests"), "{message}");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Another user, and the cheap endpoints of the same user, are not held up.
    assert_eq!(get(&e.app, url, &l).await.status, StatusCode::OK);
    assert_eq!(get(&e.app, "/api/v1/me", &a).await.status, StatusCode::OK);
}

/// No basemap by default (the map then asks no other server, and the
/// security policy allows none); a configured one is listed and its server
/// alone is let into the policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_basemap_is_off_by_default_and_its_server_alone_is_allowed() {
    let e = env();
    let t = login(&e.app, "chief").await;
    let r = get(&e.app, "/api/v1/basemap", &t).await;
    assert_eq!(r.json(), serde_json::Value::Null);
    let policy = r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("connect-src 'self';"), "{policy}");
    assert!(!policy.contains("http"), "{policy}");
    let e = env_with(|c| {
        c.map.basemap = "http://10.1.2.3:8080/gwc/{z}/{x}/{y}.png".into();
        c.map.basemap_attribution = "天地图".into();
    });
    let t = login(&e.app, "chief").await;
    let r = get(&e.app, "/api/v1/basemap", &t).await;
    assert_eq!(
        r.json(),
        json!({"tiles": ["http://10.1.2.3:8080/gwc/{z}/{x}/{y}.png"], "attribution": "天地图"})
    );
    let policy = r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("img-src 'self' data: blob: http://10.1.2.3:8080;"),
        "{policy}"
    );
    assert!(
        policy.contains("connect-src 'self' http://10.1.2.3:8080;"),
        "{policy}"
    );
}

/// The density raster is for the roles that may see event rows, over their
/// own units only; it integrates to the events it is made of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_density_raster_reaches_only_admins_and_analysts_within_their_units() {
    let e = env();
    for role in ["chief", "leader"] {
        let t = login(&e.app, role).await;
        let r = get(&e.app, "/api/v1/density", &t).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {}", r.text());
    }
    let analyst = login(&e.app, "analyst").await;
    let admin = login(&e.app, "admin").await;
    let mine = get(&e.app, "/api/v1/density?kind=issue", &analyst).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text());
    let mine = mine.json();
    let all = get(&e.app, "/api/v1/density?kind=issue", &admin)
        .await
        .json();
    let (n_mine, n_all) = (
        mine["events"].as_u64().unwrap(),
        all["events"].as_u64().unwrap(),
    );
    assert!(n_mine > 0 && n_mine < n_all, "{n_mine} of {n_all}");
    // The analyst's raster covers their township (and the kernel's reach), not the county.
    let snap = e.state.snapshot().unwrap();
    let town = snap.grids.model.get(&e.codes.township).unwrap();
    let b = geo::BoundingRect::bounding_rect(&town.geometry).unwrap();
    let pad = 0.01; // over the 300 m radius, in degrees
    assert!(mine["west"].as_f64().unwrap() >= b.min().x - pad);
    assert!(mine["east"].as_f64().unwrap() <= b.max().x + pad);
    assert!(mine["south"].as_f64().unwrap() >= b.min().y - pad);
    assert!(mine["north"].as_f64().unwrap() <= b.max().y + pad);
    // Events per km² times the cell area, summed: the events (all inside
    // the raster, which reaches a radius past every grid).
    let cell_km2 = {
        let rows = mine["rows"].as_f64().unwrap();
        let cols = mine["cols"].as_f64().unwrap();
        let lat = (mine["north"].as_f64().unwrap() - mine["south"].as_f64().unwrap()) / rows;
        let lon = (mine["east"].as_f64().unwrap() - mine["west"].as_f64().unwrap()) / cols;
        let mid = ((mine["north"].as_f64().unwrap() + mine["south"].as_f64().unwrap()) / 2.0)
            .to_radians()
            .cos();
        lat * 111.32 * lon * 111.32 * mid
    };
    let values = mine["values"].as_array().unwrap();
    assert_eq!(
        values.len() as u64,
        mine["rows"].as_u64().unwrap() * mine["cols"].as_u64().unwrap()
    );
    let total: f64 = values.iter().map(|v| v.as_f64().unwrap()).sum::<f64>() * cell_km2;
    assert!(
        (total - n_mine as f64).abs() / (n_mine as f64) < 0.05,
        "{total} for {n_mine} events"
    );
    // Another township is not theirs: 404, as an unknown unit.
    let other = get(
        &e.app,
        &format!("/api/v1/density?parent={}", e.codes.other_township),
        &analyst,
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}
