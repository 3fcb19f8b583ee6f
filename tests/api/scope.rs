//! The role × endpoint × scope matrix: every role, every unit endpoint, a
//! unit in scope and one out of scope; out of scope must look exactly like a
//! unit that does not exist, and no list may carry a unit the role cannot see.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::support::{env, get, login, post_json, Env};

const W: &str = "from=2025-01-01&to=2025-07-01";

/// Every endpoint that takes a unit, as a URI for that unit.
fn endpoints(code: &str) -> Vec<(String, bool)> {
    // (uri, needs full sight rather than totals)
    vec![
        (format!("/api/v1/units/{code}"), false),
        (format!("/api/v1/units/{code}/kpis?{W}"), false),
        (
            format!("/api/v1/trend?unit={code}&metric=issue_count&grain=month&{W}"),
            false,
        ),
        (format!("/api/v1/issues?unit={code}"), false),
        (
            format!("/api/v1/map?level=3&metric=event_count&parent={code}&{W}"),
            false,
        ),
        (
            format!("/api/v1/units?level=3&parent={code}&zoom=10"),
            false,
        ),
        (
            format!("/api/v1/compare?unit={code}&metric=resolution_rate&{W}"),
            true,
        ),
        (
            format!("/api/v1/hotspots?level=3&metric=event_count&parent={code}&{W}"),
            true,
        ),
    ]
}

async fn status(e: &Env, t: &str, uri: &str) -> (StatusCode, String) {
    let r = get(&e.app, uri, t).await;
    (r.status, r.text())
}

/// Out of scope answers exactly what an unknown code answers.
async fn looks_absent(e: &Env, t: &str, code: &str) {
    for ((uri, _), (ghost, _)) in endpoints(code)
        .into_iter()
        .zip(endpoints("999999999999999"))
    {
        let (s, body) = status(e, t, &uri).await;
        let (gs, gbody) = status(e, t, &ghost).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}: {body}");
        assert_eq!(gs, StatusCode::NOT_FOUND, "{ghost}: {gbody}");
        assert_eq!(
            body.replace(code, "X"),
            gbody.replace("999999999999999", "X"),
            "{uri}"
        );
    }
}

async fn visible(e: &Env, t: &str, code: &str, full: bool) {
    for (uri, needs_full) in endpoints(code) {
        let (s, body) = status(e, t, &uri).await;
        let expect = if needs_full && !full {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(s, expect, "{uri}: {body}");
    }
}

fn codes_of(v: &Value, list: &str, key: &str) -> Vec<String> {
    v[list]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[key].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The position of an event the join put in grid `code`.
fn event_in(conn: &rusqlite::Connection, code: &str) -> (f64, f64) {
    conn.query_row(
        "SELECT lon, lat FROM events WHERE tier3 = ?1 LIMIT 1",
        [code],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

fn feature_codes(v: &Value) -> Vec<String> {
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_every_unit() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let c = e.codes.clone();
    for code in [
        &c.township,
        &c.village,
        &c.grid,
        &c.sibling,
        &c.other_township,
        &c.other_grid,
    ] {
        visible(&e, &t, code, true).await;
    }
    let all = get(&e.app, "/api/v1/map?level=1&metric=event_count", &t)
        .await
        .json();
    assert!(codes_of(&all, "values", "code").contains(&c.other_township));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_and_analysts_see_their_subtree_only() {
    let e = env();
    let c = e.codes.clone();
    for role in ["leader", "analyst"] {
        let t = login(&e.app, role).await;
        for code in [&c.township, &c.village, &c.grid, &c.sibling] {
            visible(&e, &t, code, true).await;
        }
        looks_absent(&e, &t, &c.other_township).await;
        looks_absent(&e, &t, &c.other_grid).await;
        for level in 1..=3 {
            let m = get(
                &e.app,
                &format!("/api/v1/map?level={level}&metric=event_count"),
                &t,
            )
            .await
            .json();
            let codes = codes_of(&m, "values", "code");
            assert!(
                !codes.is_empty() && codes.iter().all(|x| x.starts_with(&c.township)),
                "{role} L{level}: {codes:?}"
            );
            let u = get(&e.app, &format!("/api/v1/units?level={level}"), &t)
                .await
                .json();
            assert!(
                feature_codes(&u).iter().all(|x| x.starts_with(&c.township)),
                "{role} units L{level}"
            );
        }
        let county = get(&e.app, "/api/v1/map?level=0&metric=event_count", &t)
            .await
            .json();
        assert!(
            codes_of(&county, "values", "code").is_empty(),
            "the county total is outside a township's subtree"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chief_sees_their_grid_and_its_parents_only_as_totals() {
    let e = env();
    let c = e.codes.clone();
    let t = login(&e.app, "chief").await;
    visible(&e, &t, &c.grid, true).await;
    visible(&e, &t, &c.village, false).await;
    visible(&e, &t, &c.township, false).await;
    for code in [&c.sibling, &c.other_township, &c.other_grid] {
        looks_absent(&e, &t, code).await;
    }
    let m3 = get(&e.app, "/api/v1/map?level=3&metric=event_count", &t)
        .await
        .json();
    assert_eq!(codes_of(&m3, "values", "code"), vec![c.grid.clone()]);
    let m2 = get(&e.app, "/api/v1/map?level=2&metric=event_count", &t)
        .await
        .json();
    assert_eq!(codes_of(&m2, "values", "code"), vec![c.village.clone()]);
    let u3 = get(&e.app, "/api/v1/units?level=3", &t).await.json();
    assert_eq!(feature_codes(&u3), vec![c.grid.clone()]);
    let u1 = get(&e.app, "/api/v1/units?level=1", &t).await.json();
    assert_eq!(feature_codes(&u1), vec![c.township.clone()]);
    let v = get(&e.app, &format!("/api/v1/units/{}", c.village), &t)
        .await
        .json();
    assert_eq!(codes_of(&v, "children", "code"), vec![c.grid.clone()]);
    let issues = get(
        &e.app,
        &format!("/api/v1/issues?unit={}&per_page=500", c.village),
        &t,
    )
    .await
    .json();
    assert!(
        issues["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["tier3"] == c.grid.as_str()),
        "{issues}"
    );
    let hs = get(&e.app, "/api/v1/hotspots?level=3&metric=event_count", &t)
        .await
        .json();
    assert!(codes_of(&hs, "units", "code").iter().all(|x| *x == c.grid));
    let body = get(
        &e.app,
        &format!(
            "/api/v1/map?level=2&metric=event_count&parent={}",
            c.township
        ),
        &t,
    )
    .await
    .text();
    assert!(!body.contains(&c.sibling) && !body.contains(&c.other_grid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_and_analysts_export_and_only_their_scope() {
    let e = env();
    let c = e.codes.clone();
    for (role, ok) in [
        ("admin", true),
        ("analyst", true),
        ("leader", false),
        ("chief", false),
    ] {
        let t = login(&e.app, role).await;
        let r = get(&e.app, "/api/v1/export?level=3", &t).await;
        if !ok {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}");
            assert_eq!(r.json()["code"], "forbidden");
            continue;
        }
        assert_eq!(r.status, StatusCode::OK, "{role}");
        let text = r.text();
        assert_eq!(text.contains(&c.other_grid), role == "admin", "{role}");
        let out = get(
            &e.app,
            &format!("/api/v1/export?level=3&parent={}", c.other_township),
            &t,
        )
        .await;
        assert_eq!(
            out.status,
            if role == "admin" {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_scoped_like_reads() {
    let e = env();
    let c = e.codes.clone();
    // Positions of events the join already put in each grid.
    let conn = rusqlite::Connection::open(e.state.store.path()).unwrap();
    let at = |code: &str| event_in(&conn, code);
    let (mine, theirs) = (at(&c.grid), at(&c.other_grid));
    let ev = |id: &str, p: (f64, f64), status: &str| json!({"id": id, "kind": "issue", "occurred_at": "2026-03-01 08:00", "lon": p.0, "lat": p.1, "category": "环境卫生", "status": status});
    let not_yours = wangge::api::scope::NOT_YOURS;
    let admin = login(&e.app, "admin").await;
    // A case of another township, sent by its own system.
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&admin),
        json!([ev("X-9", theirs, "open")]),
    )
    .await
    .json();
    assert_eq!(r["matched"], 1, "{r}");
    let t = login(&e.app, "chief").await;
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([
            ev("S-1", mine, "open"),
            // Elsewhere: refused, and the reply names no unit.
            ev("S-2", theirs, "resolved"),
            // Another township's id, sent again from the chief's own grid:
            // the same answer, and the case stays where it is.
            ev("X-9", mine, "closed"),
            // An id nobody has, outside the county: refused alike.
            ev("S-3", (0.0, 0.0), "open"),
        ]),
    )
    .await
    .json();
    assert_eq!(
        (r["matched"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(3)),
        "{r}"
    );
    assert_eq!(r["rows"][0]["unit"], c.grid.as_str());
    for k in 1..4 {
        assert_eq!(r["rows"][k]["reason"], not_yours, "{r}");
    }
    assert!(!r.to_string().contains(&c.other_grid) && !r.to_string().contains(&c.other_township));
    let stored = |id: &str| -> Option<(String, String)> {
        conn.query_row("SELECT tier3, state FROM events WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ok()
    };
    assert_eq!(stored("S-2"), None);
    assert_eq!(
        stored("X-9"),
        Some((c.other_grid.clone(), "reported".into()))
    );
    // Who first delivered a case is kept.
    let writer: String = conn
        .query_row("SELECT writer FROM events WHERE id = 'S-1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(writer, "user:chief");
    // Updates: the chief's own case moves; another's, an unknown one (no
    // waiting step can be planted for a case to come) and a move out of the
    // grid are refused with the same words.
    let step = |id: &str, u: &str, extra: Value| {
        let mut v =
            json!({"issue_id": id, "update_id": u, "at": "2026-03-02 08:00", "status": "结案"});
        if let Some(o) = extra.as_object() {
            for (k, x) in o {
                v[k] = x.clone();
            }
        }
        v
    };
    let r = post_json(
        &e.app,
        "/api/v1/updates",
        Some(&t),
        json!([
            step("S-1", "a", json!({})),
            step("X-9", "a", json!({})),
            step("NOT-YET", "a", json!({})),
            step("S-1", "b", json!({"lon": theirs.0, "lat": theirs.1})),
        ]),
    )
    .await
    .json();
    assert_eq!(
        (
            r["updated"].as_u64(),
            r["rejected"].as_u64(),
            r["pending"].as_u64()
        ),
        (Some(1), Some(3), Some(0)),
        "{r}"
    );
    for k in 1..4 {
        assert_eq!(r["rows"][k]["reason"], not_yours, "{r}");
    }
    assert_eq!(
        stored("X-9"),
        Some((c.other_grid.clone(), "reported".into()))
    );
    // Open311 writes follow the same rule.
    let form = format!("service_code=噪音&lat={}&long={}", theirs.1, theirs.0);
    let r = super::support::send(
        &e.app,
        "POST",
        "/open311/v2/requests.json",
        Some(&t),
        Some("application/x-www-form-urlencoded"),
        form.into_bytes(),
    )
    .await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text());
    // A leader writes in their township only; an analyst does not write.
    let leader = login(&e.app, "leader").await;
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&leader),
        json!([ev("L-1", mine, "open"), ev("L-2", theirs, "open")]),
    )
    .await
    .json();
    assert_eq!(
        (r["matched"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    let analyst = login(&e.app, "analyst").await;
    for path in ["/api/v1/events", "/api/v1/updates"] {
        let r = post_json(
            &e.app,
            path,
            Some(&analyst),
            json!([ev("A-1", mine, "open")]),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text());
    }
    // What the chief may read is unchanged.
    let march = "start_date=2026-02-15T00:00:00%2B08:00&end_date=2026-03-15T00:00:00%2B08:00";
    let list = get(&e.app, &format!("/open311/v2/requests.json?{march}"), &t)
        .await
        .json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["service_request_id"].as_str())
        .collect();
    assert!(ids.contains(&"S-1") && !ids.contains(&"X-9"));
    assert_eq!(
        get(&e.app, "/open311/v2/requests/X-9.json", &t)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&e.app, "/open311/v2/requests/S-1.json", &t)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_source_system_has_its_own_id_space() {
    let e = env();
    let c = e.codes.clone();
    let conn = rusqlite::Connection::open(e.state.store.path()).unwrap();
    let at = |code: &str| event_in(&conn, code);
    let (mine, theirs) = (at(&c.grid), at(&c.other_grid));
    let ev = |p: (f64, f64)| json!({"id": "K-1", "kind": "issue", "occurred_at": "2026-03-01 08:00", "lon": p.0, "lat": p.1, "category": "环境卫生", "status": "open"});
    // Two county-wide upstream systems, each numbering its own cases.
    for (name, system) in [("hotline", "12345"), ("cityops", "szcg")] {
        e.state
            .store
            .add_user(
                name,
                wangge::store::Role::Admin,
                &[],
                super::support::PASSWORD,
                system,
            )
            .unwrap();
    }
    let (admin, chief) = (login(&e.app, "admin").await, login(&e.app, "chief").await);
    let (hotline, cityops) = (
        login(&e.app, "hotline").await,
        login(&e.app, "cityops").await,
    );
    let post = |token: &str, path: &'static str, body: Value| {
        let (app, token) = (e.app.clone(), token.to_owned());
        async move { post_json(&app, path, Some(&token), body).await.json() }
    };
    // A grid chief takes the id first: the systems' own cases under that
    // id are still stored, each in its system's id space.
    let r = post(&chief, "/api/v1/events", json!([ev(mine)])).await;
    assert_eq!(r["matched"], 1, "{r}");
    let r = post(&hotline, "/api/v1/events", json!([ev(theirs)])).await;
    assert_eq!(
        (r["matched"].as_u64(), r["rows"][0]["unit"].as_str()),
        (Some(1), Some(c.other_grid.as_str())),
        "{r}"
    );
    let r = post(&cityops, "/api/v1/events", json!([ev(mine)])).await;
    assert_eq!(r["matched"], 1, "{r}");
    // Sent again, a case is the same case.
    let r = post(&hotline, "/api/v1/events", json!([ev(theirs)])).await;
    assert_eq!(r["unchanged"], 1, "{r}");
    let stored: Vec<(String, String, String)> = conn
        .prepare("SELECT system, tier3, writer FROM events WHERE id = 'K-1' ORDER BY system")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        stored,
        [
            ("".into(), c.grid.clone(), "user:chief".into()),
            ("12345".into(), c.other_grid.clone(), "user:hotline".into()),
            ("szcg".into(), c.grid.clone(), "user:cityops".into()),
        ]
    );
    // A step reaches the case of its writer's system only.
    let step =
        json!([{"issue_id": "K-1", "update_id": "u1", "at": "2026-03-02 08:00", "status": "结案"}]);
    let r = post(&hotline, "/api/v1/updates", step.clone()).await;
    assert_eq!(r["updated"], 1, "{r}");
    let r = post(&cityops, "/api/v1/updates", step).await;
    assert_eq!(r["updated"], 1, "{r}");
    let case = |who: &str, path: &'static str| {
        let (app, who) = (e.app.clone(), who.to_owned());
        async move {
            let r = get(&app, path, &who).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
            let v = r.json();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (s("state"), s("tier3"), v["system"].clone())
        }
    };
    // Read by id: in the caller's own system, or the one named.
    assert_eq!(
        case(&hotline, "/api/v1/issues/K-1").await,
        ("closed".into(), c.other_grid.clone(), json!("12345"))
    );
    assert_eq!(
        case(&admin, "/api/v1/issues/K-1").await,
        ("reported".into(), c.grid.clone(), Value::Null)
    );
    assert_eq!(
        case(&admin, "/api/v1/issues/K-1?system=szcg").await,
        ("closed".into(), c.grid.clone(), json!("szcg"))
    );
    assert_eq!(
        case(&hotline, "/api/v1/issues/K-1?system=").await,
        ("reported".into(), c.grid.clone(), Value::Null)
    );
    let r = get(&e.app, "/api/v1/issues/K-1?system=no%20such", &admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // Lists show each case with its system: the chief sees the two in
    // their grid, not the hotline's elsewhere, and cannot read it by id.
    let list = get(
        &e.app,
        &format!("/api/v1/issues?unit={}&per_page=500", c.grid),
        &chief,
    )
    .await
    .json();
    let mut k1: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["id"] == "K-1")
        .map(|i| (i["system"].to_string(), i["state"].to_string()))
        .collect();
    k1.sort();
    assert_eq!(
        k1,
        [
            ("\"szcg\"".into(), "\"closed\"".into()),
            ("null".into(), "\"reported\"".into())
        ]
    );
    let r = get(&e.app, "/api/v1/issues/K-1?system=12345", &chief).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let all = get(
        &e.app,
        "/open311/v2/requests.json?service_request_id=K-1",
        &admin,
    )
    .await
    .json();
    let mut seen: Vec<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["system"].to_string(), x["status"].to_string()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("\"12345\"".into(), "\"closed\"".into()),
            ("\"szcg\"".into(), "\"closed\"".into()),
            ("null".into(), "\"open\"".into())
        ]
    );
    let one = get(&e.app, "/open311/v2/requests/K-1.json?system=12345", &admin)
        .await
        .json();
    assert_eq!(
        (one[0]["status"].as_str(), one[0]["system"].as_str()),
        (Some("closed"), Some("12345"))
    );
    // A system's name is checked like any other input.
    let bad = e.state.store.add_user(
        "bad",
        wangge::store::Role::Admin,
        &[],
        super::support::PASSWORD,
        "no such",
    );
    assert!(bad.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_report_lists_the_open_cases_nearby_that_may_be_the_same() {
    let e = env();
    let c = e.codes.clone();
    let conn = rusqlite::Connection::open(e.state.store.path()).unwrap();
    let at = |code: &str| event_in(&conn, code);
    let (mine, theirs) = (at(&c.grid), at(&c.other_grid));
    // `m` metres north of a position.
    let north = |p: (f64, f64), m: f64| (p.0, p.1 + m / 111_195.0);
    // A category no demo issue has, so only these cases are candidates.
    let ev = |id: &str, kind: &str, p: (f64, f64), status: &str| json!({"id": id, "kind": kind, "occurred_at": "2026-03-01 08:00", "lon": p.0, "lat": p.1, "category": "井盖缺失", "status": status});
    let admin = login(&e.app, "admin").await;
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&admin),
        json!([
            ev("D-1", "issue", mine, "open"),
            ev("D-2", "issue", north(mine, 60.0), "dispatched"),
            ev("D-3", "issue", north(mine, 20.0), "closed"),
            ev("D-4", "issue", north(mine, 400.0), "open"),
            ev("D-5", "issue", theirs, "open"),
        ]),
    )
    .await
    .json();
    assert_eq!(r["rejected"], 0, "{r}");
    // Without the option, no suggestions.
    assert!(r["rows"][0].get("duplicates").is_none(), "{r}");
    let r = post_json(
        &e.app,
        "/api/v1/events?duplicates=true",
        Some(&admin),
        json!([
            ev("D-10", "issue", north(mine, 10.0), "open"),
            ev("D-11", "incident", north(mine, 10.0), "open"),
            ev("D-12", "issue", north(theirs, 30.0), "open"),
            // Sent again: not new, nothing suggested.
            ev("D-1", "issue", mine, "open"),
        ]),
    )
    .await
    .json();
    let near = |k: usize| -> Vec<(String, f64)> {
        r["rows"][k]["duplicates"]
            .as_array()
            .unwrap_or_else(|| panic!("row {k}: {r}"))
            .iter()
            .map(|d| {
                (
                    d["id"].as_str().unwrap().to_owned(),
                    d["distance_m"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    // Open cases of the category within 250 m, nearest first: the closed
    // one and the one 400 m away are not suggested.
    let got = near(0);
    assert_eq!(
        got.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["D-1", "D-2"],
        "{r}"
    );
    assert!(
        (got[0].1 - 10.0).abs() <= 1.0 && (got[1].1 - 50.0).abs() <= 1.0,
        "{got:?}"
    );
    assert_eq!(r["rows"][0]["duplicates"][1]["state"], "dispatched");
    assert!(r["rows"][1].get("duplicates").is_none(), "an incident: {r}");
    assert_eq!(
        near(2).iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["D-5"]
    );
    assert!(r["rows"][3].get("duplicates").is_none(), "{r}");
    // A grid chief is told only of cases in their own grids.
    let chief = login(&e.app, "chief").await;
    let r = post_json(
        &e.app,
        "/api/v1/events?duplicates=true",
        Some(&chief),
        json!([ev("D-20", "issue", north(mine, 5.0), "open")]),
    )
    .await
    .json();
    let ids: Vec<&str> = r["rows"][0]["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"D-1") && ids.contains(&"D-10"), "{r}");
    // A case in the sibling grid, close to the chief's grid: suggested to
    // the admin, never to the chief.
    let points = |code: &str| -> Vec<(f64, f64)> {
        conn.prepare("SELECT lon, lat FROM events WHERE tier3 = ?1")
            .unwrap()
            .query_map([code], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let metres = |a: (f64, f64), b: (f64, f64)| {
        let k = (a.1.to_radians()).cos() * 111_320.0;
        (((a.0 - b.0) * k).powi(2) + ((a.1 - b.1) * 110_574.0).powi(2)).sqrt()
    };
    let (a, b) = points(&c.grid)
        .into_iter()
        .flat_map(|a| points(&c.sibling).into_iter().map(move |b| (a, b)))
        .min_by(|x, y| metres(x.0, x.1).total_cmp(&metres(y.0, y.1)))
        .unwrap();
    // Walk from the sibling's event to the grid's: the last point in the
    // sibling and the first in the grid lie on either side of their border.
    let snap = e.state.snapshot().unwrap();
    let grid_of = |p: (f64, f64)| snap.grids.locate_one(p.0, p.1).1[2].clone();
    let along = |t: f64| (b.0 + (a.0 - b.0) * t, b.1 + (a.1 - b.1) * t);
    let steps = 1000;
    let k = (0..=steps)
        .find(|&k| grid_of(along(k as f64 / steps as f64)).as_deref() == Some(c.grid.as_str()))
        .unwrap();
    let (near_mine, sib) = (
        along(k as f64 / steps as f64),
        along((k - 1) as f64 / steps as f64),
    );
    assert_eq!(
        grid_of(sib).as_deref(),
        Some(c.sibling.as_str()),
        "the grids are neighbours"
    );
    assert!(metres(near_mine, sib) < 50.0);
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&admin),
        json!([ev("D-30", "issue", sib, "open")]),
    )
    .await
    .json();
    assert_eq!(r["matched"], 1, "{r}");
    let suggested = |token: String, id: &'static str| {
        let app = e.app.clone();
        async move {
            let r = post_json(
                &app,
                "/api/v1/events?duplicates=true",
                Some(&token),
                json!([ev(id, "issue", near_mine, "open")]),
            )
            .await
            .json();
            r["rows"][0]["duplicates"]
                .as_array()
                .unwrap_or_else(|| panic!("{r}"))
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert!(suggested(admin.clone(), "D-31")
        .await
        .contains(&"D-30".to_owned()));
    assert!(!suggested(chief.clone(), "D-32")
        .await
        .contains(&"D-30".to_owned()));
    // Open311: a new request always comes with its possible duplicates.
    let form = format!(
        "service_code=井盖缺失&lat={}&long={}",
        north(mine, 30.0).1,
        mine.0
    );
    let r = super::support::send(
        &e.app,
        "POST",
        "/open311/v2/requests.json",
        Some(&admin),
        Some("application/x-www-form-urlencoded"),
        form.into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    let ids: Vec<&str> = v[0]["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.first(), Some(&"D-10"), "{v}");
    assert!(ids.contains(&"D-1") && ids.len() <= 5, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_can_keep_chiefs_from_writing() {
    let e = super::support::env_with(|cfg| cfg.auth.chief_writes = false);
    let t = login(&e.app, "chief").await;
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_category_choices_come_from_the_callers_units_only() {
    let e = env();
    let c = e.codes.clone();
    let conn = rusqlite::Connection::open(e.state.store.path()).unwrap();
    let (lon, lat): (f64, f64) = conn
        .query_row(
            "SELECT lon, lat FROM events WHERE tier3 = ?1 LIMIT 1",
            [&c.other_grid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // A category that exists only in a grid the chief does not hold.
    let admin = login(&e.app, "admin").await;
    let ev = json!([{"id": "CAT-1", "kind": "issue", "occurred_at": "2026-03-01 08:00",
        "lon": lon, "lat": lat, "category": "占道经营", "status": "open"}]);
    let r = post_json(&e.app, "/api/v1/events", Some(&admin), ev).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let names = |v: Value, key: &str| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x[key].as_str().unwrap().to_owned())
            .collect()
    };
    let all = get(&e.app, "/api/v1/categories", &admin).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text());
    let all = all.json();
    assert!(names(all.clone(), "category").contains(&"占道经营".to_owned()));
    // Every kind is offered, not only issues.
    let kinds = names(all, "kind");
    for k in ["issue", "incident", "visit"] {
        assert!(kinds.iter().any(|x| x == k), "{k}: {kinds:?}");
    }
    let services = get(&e.app, "/open311/v2/services.json", &admin)
        .await
        .json();
    assert!(names(services, "service_code").contains(&"占道经营".to_owned()));

    let chief = login(&e.app, "chief").await;
    let mine = get(&e.app, "/api/v1/categories", &chief).await.json();
    assert!(!mine.as_array().unwrap().is_empty());
    assert!(!mine.to_string().contains("占道经营"), "{mine}");
    let services = get(&e.app, "/open311/v2/services.json", &chief)
        .await
        .json();
    assert!(!services.to_string().contains("占道经营"), "{services}");
    // A chief's counts are of their own grid: never more than the county's.
    let total = |v: &Value| -> u64 {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["events"].as_u64().unwrap())
            .sum()
    };
    let county = get(&e.app, "/api/v1/categories", &admin).await.json();
    assert!(total(&mine) < total(&county));
}

/// The map value of `code` in a `/api/v1/map` answer.
fn value_of(map: &Value, code: &str) -> Option<f64> {
    map["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in {map}"))["value"]
        .as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subtracting_what_a_chief_sees_never_isolates_a_hidden_grid() {
    let e = env();
    let snap = e.state.snapshot().unwrap();
    let model = &snap.grids.model;
    // A village of at least three grids, and two chiefs: one on every grid
    // of it but one (the village minus their grids would be that grid), one
    // on every grid but two.
    let v = model
        .level(2)
        .find(|&v| model.unit(v).children.len() >= 3)
        .expect("a village with three grids");
    let village = model.unit(v).code.clone();
    let grids: Vec<String> = model
        .unit(v)
        .children
        .iter()
        .map(|&g| model.unit(g).code.clone())
        .collect();
    let n = grids.len();
    for (name, mine) in [
        ("chief_but_one", &grids[..n - 1]),
        ("chief_but_two", &grids[..n - 2]),
    ] {
        e.state
            .store
            .add_user(
                name,
                wangge::store::Role::Chief,
                mine,
                super::support::PASSWORD,
                "",
            )
            .unwrap();
    }
    let admin = login(&e.app, "admin").await;
    let (one, two) = (
        login(&e.app, "chief_but_one").await,
        login(&e.app, "chief_but_two").await,
    );
    let map = |t: String| {
        let app = e.app.clone();
        async move {
            get(&app, "/api/v1/map?level=2&metric=event_count", &t)
                .await
                .json()
        }
    };
    let total = value_of(&map(admin.clone()).await, &village).expect("the village has events");
    assert!(total > 0.0);

    // One grid hidden: no figure of the village, in the map, the KPIs or the trend.
    assert_eq!(value_of(&map(one.clone()).await, &village), None);
    let kpis = get(&e.app, &format!("/api/v1/units/{village}/kpis"), &one)
        .await
        .json();
    assert!(
        kpis["kpis"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["value"].is_null()
                && k["yoy"]["abs"].is_null()
                && k["mom"]["abs"].is_null()),
        "{kpis}"
    );
    let trend = get(
        &e.app,
        &format!("/api/v1/trend?unit={village}&metric=event_count"),
        &one,
    )
    .await
    .json();
    let series = trend["series"].as_array().unwrap();
    assert!(
        !series.is_empty() && series.iter().all(|p| p["value"].is_null()),
        "{trend}"
    );
    assert!(trend["alerts"].as_array().unwrap().is_empty());
    // Nor in the metric table they export, in any format (the village's
    // row is there, without a figure).
    let export = |t: String| {
        let app = e.app.clone();
        async move {
            let r = get(&app, "/api/v1/export/metrics?level=2&format=csv", &t).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            let mut rows = csv::Reader::from_reader(r.body.as_slice());
            let head = rows.headers().unwrap().clone();
            let col = |name: &str| head.iter().position(|h| h == name).unwrap();
            let (code, events, issues) = (col("code"), col("event_count"), col("issue_count"));
            rows.records()
                .map(|r| r.unwrap())
                .map(|r| {
                    (
                        r[code].to_owned(),
                        (r[events].to_owned(), r[issues].to_owned()),
                    )
                })
                .collect::<std::collections::HashMap<_, _>>()
        }
    };
    assert_eq!(
        export(one.clone()).await.get(&village),
        Some(&(String::new(), String::new())),
        "one hidden grid: no figure of the village in the export"
    );
    assert_eq!(
        export(admin.clone()).await[&village].0,
        total.to_string(),
        "the admin's export has the village's events"
    );
    // Their own grids stay as they are.
    let m3 = get(&e.app, "/api/v1/map?level=3&metric=event_count", &one)
        .await
        .json();
    let a3 = get(&e.app, "/api/v1/map?level=3&metric=event_count", &admin)
        .await
        .json();
    for g in &grids[..n - 1] {
        assert_eq!(value_of(&m3, g), value_of(&a3, g));
    }

    // Two grids hidden: no figure of the village either, however many
    // events the two hold (a remainder of any size is the hidden grids'
    // figure, and two windows subtracted can make it small), in the map
    // and the export alike.
    assert_eq!(value_of(&map(two.clone()).await, &village), None);
    assert_eq!(export(two).await[&village], (String::new(), String::new()));
}

/// A chief sees their village only as a total withheld from them (one
/// sibling grid hidden, or a small remainder): what they can subtract from
/// the township's and the county's totals is their own grid, not that
/// village total. Two issues in the sibling grid in a window nothing else
/// has were shown in the township's and the county's figures (the
/// township minus the withheld village was 0: "nothing new"), and the
/// township minus the chief's grid gave them away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_village_total_withheld_from_a_chief_is_not_what_they_can_subtract_higher_up() {
    let e = env();
    let snap = e.state.snapshot().unwrap();
    let model = &snap.grids.model;
    let v = model
        .level(2)
        .find(|&v| model.unit(v).children.len() >= 2)
        .expect("a village with two grids");
    let (mine, sibling) = (model.unit(v).children[0], model.unit(v).children[1]);
    let code = |i: usize| model.unit(i).code.clone();
    let township = model.unit(v).parent.expect("a village has a township");
    let county = model
        .unit(township)
        .parent
        .expect("a township has a county");
    let inside = |i: usize| {
        let g = model.get(&code(i)).unwrap();
        let p = geo::InteriorPoint::interior_point(&g.geometry).unwrap();
        (p.x(), p.y())
    };
    let admin = login(&e.app, "admin").await;
    let mut rows = Vec::new();
    for (n, grid) in [(3, mine), (2, sibling)] {
        let (lon, lat) = inside(grid);
        for k in 0..n {
            rows.push(json!({"id": format!("LEAK-{grid}-{k}"), "kind": "issue",
                "occurred_at": "2019-03-05T09:00:00+08:00", "lon": lon, "lat": lat,
                "category": "测试泄露", "status": "受理"}));
        }
    }
    let r = post_json(&e.app, "/api/v1/events", Some(&admin), json!(rows))
        .await
        .json();
    assert_eq!(r["matched"], 5, "{r}");
    e.state.refresh().unwrap();
    e.state
        .store
        .add_user(
            "chief_one_grid",
            wangge::store::Role::Chief,
            &[code(mine)],
            super::support::PASSWORD,
            "",
        )
        .unwrap();
    let chief = login(&e.app, "chief_one_grid").await;
    let window = "from=2019-03-01&to=2019-03-31&category=%E6%B5%8B%E8%AF%95%E6%B3%84%E9%9C%B2";
    let issues = |t: String, unit: String| {
        let app = e.app.clone();
        async move {
            let r = get(&app, &format!("/api/v1/units/{unit}/kpis?{window}"), &t).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            let v = r.json();
            v["kpis"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["metric"] == "issue_count")
                .unwrap_or_else(|| panic!("issue_count in {v}"))["value"]
                .as_f64()
        }
    };
    for (unit, all) in [(mine, 3.0), (v, 5.0), (township, 5.0), (county, 5.0)] {
        assert_eq!(issues(admin.clone(), code(unit)).await, Some(all));
    }
    assert_eq!(issues(chief.clone(), code(mine)).await, Some(3.0));
    for unit in [v, township, county] {
        assert_eq!(
            issues(chief.clone(), code(unit)).await,
            None,
            "{} minus the chief's 3 would be the sibling grid's 2",
            code(unit)
        );
    }
    let map = get(
        &e.app,
        &format!("/api/v1/map?level=1&metric=issue_count&{window}"),
        &chief,
    )
    .await
    .json();
    assert_eq!(value_of(&map, &code(township)), None, "{map}");
}

/// A chief is shown no figure of a unit above their own. Withholding
/// only the figures whose hidden remainder was small let a chief work out
/// what was withheld: 3 incidents and 1 resolved issue among 10 issues
/// and 8 visits elsewhere in the county, withheld as counts, were 21 − 10
/// − 8 and 0.1 × 10 of the figures shown beside them; a month withheld
/// was a year less the same year without that month; two hidden cases'
/// durations were their median and 90th percentile. Now every figure of
/// the county is withheld from the chief, in every window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chief_is_shown_no_figure_of_a_unit_above_their_own() {
    let e = env();
    let snap = e.state.snapshot().unwrap();
    let model = &snap.grids.model;
    let townships: Vec<usize> = model.level(1).collect();
    assert!(townships.len() >= 2);
    let first_grid = |t: usize| {
        let v = model.unit(t).children[0];
        model.unit(v).children[0]
    };
    let (mine, there) = (first_grid(townships[0]), first_grid(townships[1]));
    let code = |i: usize| model.unit(i).code.clone();
    let county = model.unit(townships[0]).parent.expect("a county");
    let g = model.get(&code(there)).unwrap();
    let p = geo::InteriorPoint::interior_point(&g.geometry).unwrap();
    let at = |id: String, kind: &str| {
        json!({"id": id, "kind": kind, "occurred_at": "2019-05-06T09:00:00+08:00",
            "lon": p.x(), "lat": p.y(), "category": "测试关联"})
    };
    let mut rows = Vec::new();
    for k in 0..10 {
        let mut r = at(format!("LINK-I{k}"), "issue");
        r["status"] = json!("受理");
        if k == 0 {
            r["status"] = json!("结案");
            r["resolved_at"] = json!("2019-05-07T09:00:00+08:00");
        }
        rows.push(r);
    }
    rows.extend((0..8).map(|k| at(format!("LINK-V{k}"), "visit")));
    rows.extend((0..3).map(|k| at(format!("LINK-C{k}"), "incident")));
    let admin = login(&e.app, "admin").await;
    let r = post_json(&e.app, "/api/v1/events", Some(&admin), json!(rows))
        .await
        .json();
    assert_eq!(r["matched"], 21, "{r}");
    e.state.refresh().unwrap();
    e.state
        .store
        .add_user(
            "chief_far_away",
            wangge::store::Role::Chief,
            &[code(mine)],
            super::support::PASSWORD,
            "",
        )
        .unwrap();
    let chief = login(&e.app, "chief_far_away").await;
    let kpis = |t: String, window: &str| {
        let app = e.app.clone();
        let url = format!(
            "/api/v1/units/{}/kpis?{window}&category=%E6%B5%8B%E8%AF%95%E5%85%B3%E8%81%94",
            code(county)
        );
        async move {
            let r = get(&app, &url, &t).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            let v = r.json();
            v["kpis"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    (
                        k["metric"].as_str().unwrap().to_owned(),
                        k["value"].as_f64(),
                    )
                })
                .collect::<std::collections::HashMap<_, _>>()
        }
    };
    let may = "from=2019-05-01&to=2019-05-31";
    let all = kpis(admin, may).await;
    for (name, value) in [
        ("event_count", 21.0),
        ("issue_count", 10.0),
        ("visit_count", 8.0),
        ("incident_count", 3.0),
        ("resolved_count", 1.0),
        ("resolution_rate", 0.1),
        ("backlog_open", 9.0),
    ] {
        assert_eq!(all[name], Some(value), "{name} for the admin");
    }
    for window in [
        may,
        "from=2019-01-01&to=2019-12-31",
        "from=2019-01-01&to=2019-04-30",
    ] {
        let seen = kpis(chief.clone(), window).await;
        assert!(
            seen.values().all(Option::is_none),
            "no figure of the county for the chief over {window}: {seen:?}"
        );
    }
}
