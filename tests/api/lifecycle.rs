//! Cases that move: re-sent rows, transition rows in any order, as-of
//! backlogs, the Open311 view of a case and its updates.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::support::{get, login, post_json, send, Env};

/// A position inside the demo county.
const AT: (f64, f64) = (115.0, 38.5);

fn issue(id: &str, status: &str, occurred: &str) -> Value {
    json!({"id": id, "kind": "issue", "occurred_at": occurred, "lon": AT.0, "lat": AT.1,
           "category": "环境卫生", "status": status})
}

/// A reported issue with a deadline.
fn reported_due(id: &str, occurred: &str, deadline: &str) -> Value {
    let mut v = issue(id, "reported", occurred);
    v["deadline"] = json!(deadline);
    v
}

fn step(issue: &str, update: &str, at: &str, status: &str) -> Value {
    json!({"issue_id": issue, "update_id": update, "at": at, "status": status})
}

async fn updates(e: &Env, t: &str, body: Value) -> Value {
    let r = post_json(&e.app, "/api/v1/updates", Some(t), body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// Outcome counts add up to the rows read.
fn balanced(v: &Value) {
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
    assert_eq!(Some(sum), v["read"].as_u64(), "{v}");
    assert_eq!(v["rows"].as_array().unwrap().len() as u64, sum);
}

/// The grid holding [`AT`].
async fn grid_of(e: &Env, t: &str, id: &str) -> String {
    e.state.refresh().unwrap();
    let snap = e.state.snapshot().unwrap();
    let f = &snap.frame;
    let ids = f.column("id").unwrap().str().unwrap();
    let k = ids
        .iter()
        .position(|x| x == Some(id))
        .expect("case in the frame");
    let _ = t;
    wangge::columns::text(f.column("tier3").unwrap())
        .unwrap()
        .get(k)
        .unwrap()
        .to_owned()
}

async fn kpi(e: &Env, t: &str, unit: &str, window: &str, metric: &str) -> Option<f64> {
    let r = get(
        &e.app,
        &format!("/api/v1/units/{unit}/kpis?{window}&kind=issue"),
        t,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    let k = v["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["metric"] == metric)
        .unwrap_or_else(|| panic!("{metric} in {v}"))
        .clone();
    k["value"].as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixmystreet_scenario_closes_a_case_once() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    // A case sent open.
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([issue("FMS-1", "open", "2020-03-02T09:00:00+08:00")]),
    )
    .await
    .json();
    balanced(&r);
    let grid = grid_of(&e, &t, "FMS-1").await;
    let march = "from=2020-03-01&to=2020-04-01";
    let before = kpi(&e, &t, &grid, march, "resolved_count").await;
    // An update closing it a week later; the same update again; an older update last.
    let close = step("FMS-1", "u-2", "2020-03-09T10:00:00+08:00", "已办结");
    let r = updates(&e, &t, json!([close.clone()])).await;
    assert_eq!(r["updated"], 1, "{r}");
    let r = updates(&e, &t, json!([close])).await;
    assert_eq!(r["unchanged"], 1, "{r}");
    let r = updates(
        &e,
        &t,
        json!([step("FMS-1", "u-1", "2020-03-03T09:00:00+08:00", "派遣")]),
    )
    .await;
    assert_eq!(r["stale"], 1, "the older update changes nothing: {r}");
    balanced(&r);
    // Closed, counted once.
    let one = get(&e.app, "/open311/v2/requests/FMS-1.json", &t)
        .await
        .json();
    assert_eq!(one[0]["status"], "closed", "{one}");
    assert_eq!(one[0]["status_notes"], "结案");
    assert!(
        one[0]["updated_datetime"]
            .as_str()
            .unwrap()
            .starts_with("2020-03-09T10:00:00"),
        "{one}"
    );
    e.state.refresh().unwrap();
    let after = kpi(&e, &t, &grid, march, "resolved_count").await;
    assert_eq!(after, Some(before.unwrap_or(0.0) + 1.0));
    assert_eq!(kpi(&e, &t, &grid, march, "issue_count").await, Some(1.0));
    // Two distinct updates listed.
    let u = get(
        &e.app,
        "/open311/v2/servicerequestupdates.json?start_date=2020-03-01T00:00:00%2B08:00&end_date=2020-04-01T00:00:00%2B08:00",
        &t,
    )
    .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.text());
    let u = u.json();
    let ids: Vec<&str> = u
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["update_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["u-1", "u-2"], "{u}");
    assert_eq!(u[1]["status"], "closed");
    assert_eq!(u[1]["external_status_code"], "结案");
    // The transitions export, to fold any as-of state.
    let csv = get(
        &e.app,
        "/api/v1/export/updates?from=2020-03-01&to=2020-04-01&bom=true",
        &t,
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    let text = csv.text();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("issue_id,update_id,at,state,state_zh"));
    assert!(
        lines[1].starts_with("FMS-1,u-1,") && lines[1].contains(",dispatched,派遣,"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("FMS-1,u-2,") && lines[2].contains(",closed,结案,"),
        "{text}"
    );
    // An analyst of one township gets its cases only.
    let a = login(&e.app, "analyst").await;
    let own = get(
        &e.app,
        "/api/v1/export/updates?from=2020-03-01&to=2020-04-01",
        &a,
    )
    .await
    .text();
    let want = if grid.starts_with(&e.codes.township) {
        3
    } else {
        1
    };
    assert_eq!(own.lines().count(), want, "{own}");
    let chief = login(&e.app, "chief").await;
    let r = get(&e.app, "/api/v1/export/updates", &chief).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrival_order_does_not_matter() {
    let steps = [
        step("ORD-1", "a", "2020-05-02T09:00:00+08:00", "受理"),
        step("ORD-1", "b", "2020-05-03T09:00:00+08:00", "派遣"),
        step("ORD-1", "c", "2020-05-05T09:00:00+08:00", "已处置"),
        step("ORD-1", "d", "2020-05-06T09:00:00+08:00", "结案"),
        step("ORD-1", "e", "2020-05-08T09:00:00+08:00", "核查不通过"),
        json!({"issue_id": "ORD-1", "update_id": "f", "at": "2020-05-20T09:00:00+08:00",
               "status": "closed", "satisfaction": "基本满意", "deadline": "2020-05-30 18:00"}),
    ];
    let orders: [&[usize]; 3] = [
        &[0, 1, 2, 3, 4, 5],
        &[5, 3, 1, 0, 4, 2],
        &[2, 5, 4, 0, 3, 1],
    ];
    let mut seen = Vec::new();
    for (k, order) in orders.iter().enumerate() {
        let e = super::support::env();
        let t = login(&e.app, "admin").await;
        // The first order sends the case first; the others send some
        // updates before the case exists (pending) and the rest after.
        let split = if k == 0 { 0 } else { 3 };
        let body = |ix: &[usize]| Value::Array(ix.iter().map(|&i| steps[i].clone()).collect());
        if split > 0 {
            let r = updates(&e, &t, body(&order[..split])).await;
            assert_eq!(r["pending"], 3, "{r}");
        }
        let r = post_json(
            &e.app,
            "/api/v1/events",
            Some(&t),
            json!([issue("ORD-1", "上报", "2020-05-01T09:00:00+08:00")]),
        )
        .await
        .json();
        balanced(&r);
        let r = updates(&e, &t, body(&order[split..])).await;
        balanced(&r);
        let one = get(&e.app, "/open311/v2/requests/ORD-1.json", &t)
            .await
            .json();
        let grid = grid_of(&e, &t, "ORD-1").await;
        let may = "from=2020-05-01&to=2020-06-01";
        let metrics = (
            kpi(&e, &t, &grid, may, "resolved_count").await,
            kpi(&e, &t, &grid, may, "satisfaction_rate").await.is_some(),
            kpi(&e, &t, &grid, may, "backlog_open").await,
        );
        seen.push((one[0].clone(), metrics));
    }
    assert_eq!(seen[0].0["status"], "closed", "{:?}", seen[0]);
    assert_eq!(
        seen[0].0["expected_datetime"].as_str().map(|s| &s[..10]),
        Some("2020-05-30")
    );
    assert_eq!(seen[0].1, (Some(1.0), true, Some(0.0)));
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_closed_in_april_is_in_marchs_backlog_and_not_aprils() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([issue("ASOF-1", "reported", "2020-03-10T09:00:00+08:00")]),
    )
    .await;
    let r = updates(
        &e,
        &t,
        json!([step(
            "ASOF-1",
            "close",
            "2020-04-15T09:00:00+08:00",
            "closed"
        )]),
    )
    .await;
    assert_eq!(r["updated"], 1, "{r}");
    let grid = grid_of(&e, &t, "ASOF-1").await;
    let march = kpi(
        &e,
        &t,
        &grid,
        "from=2020-03-01&to=2020-04-01",
        "backlog_open",
    )
    .await;
    let april = kpi(
        &e,
        &t,
        &grid,
        "from=2020-04-01&to=2020-05-01",
        "backlog_open",
    )
    .await;
    assert_eq!((march, april), (Some(1.0), Some(0.0)));
}

/// A case suspended (挂账) in March and resumed in April was suspended at
/// the end of March: it is not in March's 应结案, though it is closed now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_suspended_at_the_window_end_is_not_due_though_resumed_since() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let due = |id: &str, occurred: &str| reported_due(id, occurred, "2020-03-20T18:00:00+08:00");
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([
            due("SUSP-1", "2020-03-02T09:00:00+08:00"),
            due("SUSP-2", "2020-03-03T09:00:00+08:00")
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = updates(
        &e,
        &t,
        json!([
            step("SUSP-1", "s", "2020-03-10T09:00:00+08:00", "挂账"),
            step("SUSP-1", "r", "2020-04-05T09:00:00+08:00", "处置中"),
            step("SUSP-1", "c", "2020-04-10T09:00:00+08:00", "结案"),
            step("SUSP-2", "c", "2020-03-25T09:00:00+08:00", "结案"),
        ]),
    )
    .await;
    assert_eq!(r["updated"], 4, "{r}");
    let grid = grid_of(&e, &t, "SUSP-1").await;
    assert_eq!(grid, grid_of(&e, &t, "SUSP-2").await);
    // March: only SUSP-2 is due, and it is closed.
    let march = "from=2020-03-01&to=2020-04-01";
    assert_eq!(kpi(&e, &t, &grid, march, "closure_rate").await, Some(1.0));
    // As of 15 April (resumed on the 5th, closed on the 10th) both count.
    let to_april = "from=2020-03-01&to=2020-04-16";
    assert_eq!(
        kpi(&e, &t, &grid, to_april, "closure_rate").await,
        Some(1.0)
    );
    // As of 6 April SUSP-1 is resumed but open: due, and not closed.
    let to_april_7 = "from=2020-03-01&to=2020-04-07";
    assert_eq!(
        kpi(&e, &t, &grid, to_april_7, "closure_rate").await,
        Some(0.5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_rows_sent_again_follow_updated_at() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let mut v1 = issue("ROW-1", "受理", "2020-06-01T09:00:00+08:00");
    v1["updated_at"] = json!("2020-06-01T10:00:00+08:00");
    let mut v2 = issue("ROW-1", "结案", "2020-06-01T09:00:00+08:00");
    v2["updated_at"] = json!("2020-06-03T10:00:00+08:00");
    v2["resolved_at"] = json!("2020-06-03T10:00:00+08:00");
    let mut conflict = issue("ROW-1", "派遣", "2020-06-01T09:00:00+08:00");
    conflict["updated_at"] = json!("2020-06-03T10:00:00+08:00");
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([v1.clone()]))
        .await
        .json();
    balanced(&r);
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([v2.clone(), v2, v1, conflict]),
    )
    .await
    .json();
    balanced(&r);
    let outcomes: Vec<&str> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["updated", "unchanged", "stale", "rejected"],
        "{r}"
    );
    assert!(
        r["rows"][3]["reason"]
            .as_str()
            .unwrap()
            .contains("conflict"),
        "{r}"
    );
    let one = get(&e.app, "/open311/v2/requests/ROW-1.json", &t)
        .await
        .json();
    assert_eq!(
        one[0]["status"], "closed",
        "a late delivery must not re-open: {one}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopen_sent_without_a_time_reopens_the_case_its_steps_closed() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let case = |id: &str| {
        let (app, t, id) = (e.app.clone(), t.clone(), id.to_owned());
        async move { get(&app, &format!("/api/v1/issues/{id}"), &t).await.json() }
    };
    for id in ["RE-1", "RE-2"] {
        let r = post_json(
            &e.app,
            "/api/v1/events",
            Some(&t),
            json!([issue(id, "reported", "2026-11-01T09:00:00+08:00")]),
        )
        .await
        .json();
        balanced(&r);
        updates(
            &e,
            &t,
            json!([
                step(id, "a", "2026-11-02T09:00:00+08:00", "受理"),
                step(id, "b", "2026-11-03T09:00:00+08:00", "结案"),
            ]),
        )
        .await;
        assert_eq!(case(id).await["state"], "closed");
    }
    // The whole row again, re-opened, with no updated_at: the case is
    // re-opened after its close, not folded under the steps again.
    let reopened = issue("RE-1", "reopened", "2026-11-01T09:00:00+08:00");
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([reopened.clone()]),
    )
    .await
    .json();
    assert_eq!(r["rows"][0]["outcome"], "updated", "{r}");
    let c = case("RE-1").await;
    assert_eq!(
        (c["state"].as_str(), c["resolved_at"].as_str()),
        (Some("reopened"), None),
        "{c}"
    );
    assert!(
        c["updated_at"].as_str().unwrap() > "2026-11-03T01:00:00",
        "after the close: {c}"
    );
    // Sent again as it was: unchanged.
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([reopened.clone()]),
    )
    .await
    .json();
    assert_eq!(r["rows"][0]["outcome"], "unchanged", "{r}");
    // A timed re-open after a timeless one is a newer version, not a repeat.
    let mut timed = issue("RE-2", "reopened", "2026-11-01T09:00:00+08:00");
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([timed.clone()]))
        .await
        .json();
    assert_eq!(r["rows"][0]["outcome"], "updated", "{r}");
    timed["updated_at"] = json!("2026-11-05T09:00:00+08:00");
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([timed]))
        .await
        .json();
    assert_eq!(r["rows"][0]["outcome"], "updated", "{r}");
    let c = case("RE-2").await;
    assert_eq!(c["state"], "reopened", "{c}");
    assert!(
        c["updated_at"].as_str().unwrap().starts_with("2026-11-05"),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_update_rows_get_a_reason_and_the_good_ones_land() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([issue("BAD-1", "open", "2020-07-01T09:00:00+08:00")]),
    )
    .await;
    let good = step("BAD-1", "ok", "2020-07-02T09:00:00+08:00", "派单");
    let r = updates(
        &e,
        &t,
        json!([
            step("BAD-1", "x1", "2020-07-02T09:00:00+08:00", "丢失"),
            {"update_id": "x2", "at": "2020-07-02T09:00:00+08:00", "status": "closed"},
            step("BAD-1", "x3", "yesterday", "closed"),
            good,
            {"issue_id": "BAD-1", "update_id": "ok", "at": "2020-07-02T09:00:00+08:00", "status": "结案"},
        ]),
    )
    .await;
    balanced(&r);
    let reasons: Vec<String> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            format!(
                "{} {}",
                x["outcome"].as_str().unwrap(),
                x["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        reasons[0].starts_with("rejected status: unknown state \"丢*\" (2 characters, masked)"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("rejected issue_id: missing"),
        "{reasons:?}"
    );
    assert!(reasons[2].starts_with("rejected at:"), "{reasons:?}");
    assert_eq!(reasons[3].trim(), "updated");
    assert!(reasons[4].starts_with("rejected conflict"), "{reasons:?}");
    let one = get(&e.app, "/open311/v2/requests/BAD-1.json", &t)
        .await
        .json();
    assert_eq!(one[0]["status_notes"], "派遣");
    // A CSV of updates with the headers of a Chinese work-order export.
    let csv = "工单编号,环节编号,操作时间,状态,备注\nBAD-1,c1,2020-07-03 09:00,已处置,居民张三反映已处理\n";
    let r = send(
        &e.app,
        "POST",
        "/api/v1/updates",
        Some(&t),
        Some("text/csv"),
        csv.as_bytes().to_vec(),
    )
    .await
    .json();
    assert_eq!(r["updated"], 1, "{r}");
    // The note is stored as a keyed hash only.
    let db = std::fs::read(e.state.store.path()).unwrap();
    let wal = std::fs::read(e.state.store.path().with_extension("db-wal")).unwrap_or_default();
    let needle = "张三".as_bytes();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "a note is stored in clear"
        );
    }
}

/// 天门市's published monthly report: 立案 996, 应结案 972, 结案 911
/// (结案率 93.72%), 按期结案 737 (按期结案率 75.82%). A synthetic month
/// of cases with those counts, reported open and moved by transition rows,
/// plus cases the rates must leave out (invalid, suspended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_monthly_report_is_reproduced() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let day = |d: u32, h: u32| format!("2020-08-{d:02}T{h:02}:00:00+08:00");
    let (mut cases, mut steps) = (Vec::new(), Vec::new());
    for k in 0..1001u32 {
        let id = format!("TM-{k}");
        let d = 1 + k % 20;
        let mut c = issue(&id, "立案", &day(d, 9));
        // Deadlines: five days on; the 24 not yet due end in September.
        let due = if (972..996).contains(&k) {
            "2020-09-10T18:00:00+08:00".to_owned()
        } else {
            day(d + 5, 18)
        };
        c["deadline"] = json!(due);
        cases.push(c);
        if k < 911 {
            // 737 closed in time, 174 late (still within August).
            let at = if k < 737 {
                day(d + 3, 12)
            } else {
                day(d + 8, 12)
            };
            steps.push(step(&id, "dispatch", &day(d, 15), "派遣"));
            steps.push(step(&id, "close", &at, "结案"));
        } else if (996..999).contains(&k) {
            steps.push(step(&id, "void", &day(d, 10), "作废"));
        } else if k >= 999 {
            steps.push(step(&id, "hold", &day(d, 10), "挂账"));
        }
    }
    let r = post_json(&e.app, "/api/v1/events", Some(&t), Value::Array(cases))
        .await
        .json();
    balanced(&r);
    assert_eq!(r["rejected"], 0, "{r}");
    // Shuffled by a fixed permutation: arrival order must not matter.
    let n = steps.len();
    let shuffled: Vec<Value> = (0..n).map(|i| steps[(i * 7919) % n].clone()).collect();
    let r = updates(&e, &t, Value::Array(shuffled)).await;
    balanced(&r);
    assert_eq!(r["rejected"], 0, "{r}");
    let grid = grid_of(&e, &t, "TM-0").await;
    let aug = "from=2020-08-01&to=2020-09-01";
    let pct = |v: Option<f64>| format!("{:.2}", v.expect("a rate") * 100.0);
    assert_eq!(pct(kpi(&e, &t, &grid, aug, "closure_rate").await), "93.72");
    assert_eq!(
        pct(kpi(&e, &t, &grid, aug, "on_time_closure_rate").await),
        "75.82"
    );
    // Invalid cases are in no count; suspended ones are registered.
    assert_eq!(kpi(&e, &t, &grid, aug, "issue_count").await, Some(998.0));
    // As of the end of August 10th, fewer cases were closed.
    let early = kpi(
        &e,
        &t,
        &grid,
        "from=2020-08-01&to=2020-08-11",
        "closure_rate",
    )
    .await;
    assert!(early.is_some_and(|v| v < 0.9372), "{early:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_requests_take_dates_and_lists() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let mut a = issue("L-1", "open", "2020-09-02T09:00:00+08:00");
    a["category"] = json!("噪音扰民");
    let b = issue("L-2", "结案", "2020-09-05T09:00:00+08:00");
    let c = issue("L-3", "open", "2020-10-05T09:00:00+08:00");
    post_json(&e.app, "/api/v1/events", Some(&t), json!([a, b, c])).await;
    let ids = |v: Value| -> Vec<String> {
        let mut x: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
            .collect();
        x.sort();
        x
    };
    let sept = "start_date=2020-09-01T00:00:00%2B08:00&end_date=2020-09-30T23:59:59%2B08:00";
    let r = get(&e.app, &format!("/open311/v2/requests.json?{sept}"), &t)
        .await
        .json();
    assert_eq!(ids(r), ["L-1", "L-2"]);
    let r = get(
        &e.app,
        &format!("/open311/v2/requests.json?{sept}&status=closed"),
        &t,
    )
    .await
    .json();
    assert_eq!(ids(r), ["L-2"]);
    let r = get(&e.app, &format!("/open311/v2/requests.json?{sept}&service_code=%E5%99%AA%E9%9F%B3%E6%89%B0%E6%B0%91,%E7%8E%AF%E5%A2%83%E5%8D%AB%E7%94%9F"), &t).await.json();
    assert_eq!(ids(r), ["L-1", "L-2"]);
    let r = get(
        &e.app,
        "/open311/v2/requests.json?service_request_id=L-3,L-1",
        &t,
    )
    .await
    .json();
    assert_eq!(ids(r), ["L-1", "L-3"]);
    let r = get(
        &e.app,
        "/open311/v2/requests.json?status=open,closed&start_date=nope",
        &t,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// The workflow KPIs on a month of ten cases whose every figure is known
/// (worked out in the comments), from transitions sent newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_kpis_follow_the_steps_of_each_case() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let at = |d: u32, h: u32| format!("2020-06-{d:02}T{h:02}:00:00+08:00");
    let (mut cases, mut steps) = (Vec::new(), Vec::new());
    for k in 0..10u32 {
        let (id, d) = (format!("WF-{k}"), 1 + k);
        let mut c = issue(&id, "上报", &at(d, 9));
        c["deadline"] = json!(at(d + 5, 18));
        cases.push(c);
        let mut s = |u: &str, when: String, status: &str, extra: Value| {
            let mut v = step(&id, u, &when, status);
            for (key, val) in extra.as_object().unwrap() {
                v[key] = val.clone();
            }
            steps.push(v);
        };
        match k {
            // Reported only: never acted on.
            9 => {}
            // Accepted three hours after the report, handled on the spot.
            8 => {
                s("a", at(d, 12), "受理", json!({}));
                s("b", at(d, 13), "自行处置", json!({}));
            }
            _ => {
                s("a", at(d, 10), "受理", json!({}));
                s("b", at(d, 11), "派遣", json!({}));
            }
        }
        match k {
            0..=5 => {
                s("c", at(d + 2, 12), "已处置", json!({}));
                s("d", at(d + 3, 9), "结案", json!({}));
            }
            6 => {
                s("c", at(d + 7, 12), "已处置", json!({}));
                s("d", at(d + 8, 9), "结案", json!({}));
            }
            _ => {}
        }
        match k {
            0 => s(
                "e",
                at(d + 5, 9),
                "回访",
                json!({"satisfaction": "满意", "solved": "解决"}),
            ),
            5 => s(
                "e",
                at(d + 5, 9),
                "回访",
                json!({"satisfaction": "不满意", "solved": "未解决"}),
            ),
            1 => {
                s("r1", at(d, 12), "退单", json!({}));
                s("r2", at(d, 13), "派遣", json!({}));
            }
            2 => s(
                "x",
                at(d, 14),
                "处置中",
                json!({"deadline": at(d + 10, 18)}),
            ),
            3 => {
                s("f", at(d + 3, 10), "核查不通过", json!({}));
                s("g", at(d + 4, 9), "结案", json!({}));
            }
            4 => s("h", at(d, 15), "上报上级", json!({"to_unit": "市城管局"})),
            _ => {}
        }
    }
    let r = post_json(&e.app, "/api/v1/events", Some(&t), Value::Array(cases))
        .await
        .json();
    assert_eq!(r["rejected"], 0, "{r}");
    steps.reverse();
    let r = updates(&e, &t, Value::Array(steps)).await;
    balanced(&r);
    assert_eq!(r["rejected"], 0, "{r}");
    let grid = grid_of(&e, &t, "WF-0").await;
    let june = "from=2020-06-01&to=2020-07-01";
    let want = [
        // Dispatched: WF-0..7 (8); handled by the end: WF-0..6 (7).
        ("handling_rate", 7.0 / 8.0),
        // Handled by the deadline: WF-0..5 (WF-2's was extended); WF-6 late.
        ("on_time_handling_rate", 6.0 / 8.0),
        // WF-7: dispatched, never handled, deadline passed: 1 of 1 pending.
        ("overdue_pending", 1.0),
        ("overdue_pending_rate", 1.0),
        // 应结案: 8 closed + WF-7 and WF-9 due; WF-3 failed its check.
        ("rework_rate", 1.0 / 10.0),
        ("extension_rate", 1.0 / 8.0),
        ("return_rate", 1.0 / 8.0),
        // Closed: WF-0..6 and WF-8; rated: WF-0 and WF-5.
        ("callback_rate", 2.0 / 8.0),
        // Solved reported for WF-0 (solved) and WF-5 (unsolved).
        ("solved_rate", 0.5),
        // WF-4 was escalated.
        ("local_resolution_rate", 7.0 / 8.0),
        // Eight cases acted on after one hour, WF-8 after three.
        ("response_hours", 1.0),
        // From acceptance to closing: 71 h × 5, WF-3 95 h, WF-6 191 h, WF-8 1 h.
        ("cycle_hours", (71.0 * 5.0 + 95.0 + 191.0 + 1.0) / 8.0),
        ("closure_rate", 8.0 / 10.0),
    ];
    for (metric, v) in want {
        let got = kpi(&e, &t, &grid, june, metric).await;
        assert!(
            got.is_some_and(|g| (g - v).abs() < 1e-9),
            "{metric}: {got:?}, want {v}"
        );
    }
    // As of June 5th: of WF-0..3 (all dispatched), WF-0 and WF-1 were handled.
    let early = kpi(
        &e,
        &t,
        &grid,
        "from=2020-06-01&to=2020-06-05",
        "handling_rate",
    )
    .await;
    assert_eq!(early, Some(0.5));
    // Nothing was closed by June 3rd: no callback rate, not a zero.
    let none = kpi(
        &e,
        &t,
        &grid,
        "from=2020-06-01&to=2020-06-03",
        "callback_rate",
    )
    .await;
    assert_eq!(none, None);
}

/// The values of `metrics` for `unit` over `window`, in their order.
async fn kpis(e: &Env, t: &str, unit: &str, window: &str, metrics: &[&str]) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for m in metrics {
        out.push(kpi(e, t, unit, window, m).await);
    }
    out
}

/// Call volume, backlog, overdue, closure and resolution rates of `unit`.
async fn figures(e: &Env, t: &str, unit: &str, window: &str) -> Vec<Option<f64>> {
    let metrics = [
        "issue_count",
        "backlog_open",
        "overdue_open",
        "closure_rate",
        "resolution_rate",
    ];
    kpis(e, t, unit, window, &metrics).await
}

/// [`figures`], then the closure rates (结案率, 按期结案率).
async fn figures_and_closure(e: &Env, t: &str, unit: &str, window: &str) -> Vec<Option<f64>> {
    let mut out = figures(e, t, unit, window).await;
    let closure = ["closure_rate", "on_time_closure_rate"];
    out.extend(kpis(e, t, unit, window, &closure).await);
    out
}

/// The service started again from its database, as after a restart.
fn restart(e: &Env) {
    let grids = super::support::demo_dir().join("grids.geojson");
    let (model, version) = wangge::live::ensure_grids(&e.state.store, &grids).expect("grids");
    e.state
        .load(wangge::api::Grids::new(model, version).expect("grids"))
        .expect("restart");
}

/// A report that upstream links to the case it repeats (`duplicate_of`,
/// 重复件) stays in the call volume but is no case of its own: the backlog,
/// 应结案 and the resolution rate count the merged case once, in the live
/// service and after a restart from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_counts_in_the_volume_and_once_as_a_case() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let due = |id: &str, occurred: &str| reported_due(id, occurred, "2020-03-06T18:00:00+08:00");
    let mut b = due("DUP-B", "2020-03-03T09:00:00+08:00");
    b["duplicate_of"] = json!("DUP-A");
    let mut own = due("DUP-X", "2020-03-03T10:00:00+08:00");
    own["duplicate_of"] = json!("DUP-X");
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([
            due("DUP-A", "2020-03-02T09:00:00+08:00"),
            b,
            due("DUP-C", "2020-03-04T09:00:00+08:00"),
            own
        ]),
    )
    .await
    .json();
    balanced(&r);
    // A case cannot repeat itself: the row is refused, naming the column.
    assert_eq!(r["rejected"], 1, "{r}");
    let refused = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["outcome"] == "rejected")
        .unwrap();
    assert!(
        refused["reason"].as_str().unwrap().contains("duplicate_of"),
        "{refused}"
    );
    let grid = grid_of(&e, &t, "DUP-A").await;
    assert_eq!(grid_of(&e, &t, "DUP-C").await, grid);
    let march = "from=2020-03-01&to=2020-04-01";
    // B repeats A; C is a case of its own so far.
    assert_eq!(
        figures(&e, &t, &grid, march).await,
        vec![Some(3.0), Some(2.0), Some(2.0), Some(0.0), Some(0.0)]
    );
    // A step links C to A too, then A is closed.
    let mut link = step("DUP-C", "merge", "2020-03-05T09:00:00+08:00", "受理");
    link["duplicate_of"] = json!("DUP-A");
    let r = updates(&e, &t, json!([link])).await;
    assert_eq!(r["updated"], 1, "{r}");
    e.state.refresh().unwrap();
    assert_eq!(
        figures(&e, &t, &grid, march).await,
        vec![Some(3.0), Some(1.0), Some(1.0), Some(0.0), Some(0.0)]
    );
    let r = updates(
        &e,
        &t,
        json!([step("DUP-A", "close", "2020-03-10T09:00:00+08:00", "结案")]),
    )
    .await;
    assert_eq!(r["updated"], 1, "{r}");
    e.state.refresh().unwrap();
    let live = figures(&e, &t, &grid, march).await;
    assert_eq!(
        live,
        vec![Some(3.0), Some(0.0), Some(0.0), Some(1.0), Some(1.0)]
    );
    // The case view names the case repeated; the list marks the reports.
    for id in ["DUP-B", "DUP-C"] {
        let v = get(&e.app, &format!("/api/v1/issues/{id}"), &t)
            .await
            .json();
        assert_eq!(v["duplicate_of"], "DUP-A", "{v}");
        assert_eq!(v["duplicate"], true, "{v}");
    }
    let v = get(&e.app, "/api/v1/issues/DUP-A", &t).await.json();
    assert!(
        v.get("duplicate_of").is_none() && v["duplicate"] == false,
        "{v}"
    );
    let list = get(
        &e.app,
        &format!("/api/v1/issues?unit={grid}&{march}&per_page=50&status=all"),
        &t,
    )
    .await
    .json();
    let marked: Vec<(String, bool)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i["duplicate"] == true))
        .collect();
    for (id, dup) in [("DUP-A", false), ("DUP-B", true), ("DUP-C", true)] {
        assert!(marked.contains(&(id.to_owned(), dup)), "{id}: {marked:?}");
    }
    // A restart reads the links back from the database.
    restart(&e);
    assert_eq!(figures(&e, &t, &grid, march).await, live);
}

/// A voided case (作废) stays in its grid's list, as void: not open, not
/// overdue, not under `status=open`; Open311 gives it as closed. It was
/// listed first as open and overdue, and counted among the open requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voided_case_is_listed_as_void_never_open_or_overdue() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([
            reported_due(
                "VOID-1",
                "2021-05-02T09:00:00+08:00",
                "2021-05-03T09:00:00+08:00"
            ),
            reported_due(
                "LIVE-1",
                "2021-05-02T09:00:00+08:00",
                "2021-05-03T09:00:00+08:00"
            ),
        ]),
    )
    .await
    .json();
    balanced(&r);
    let r = updates(
        &e,
        &t,
        json!([step("VOID-1", "v-1", "2021-05-02T10:00:00+08:00", "作废")]),
    )
    .await;
    assert_eq!(r["updated"], 1, "{r}");
    let grid = grid_of(&e, &t, "VOID-1").await;
    let list = |q: &'static str| {
        let (app, t, grid) = (e.app.clone(), t.clone(), grid.clone());
        async move {
            let r = get(
                &app,
                &format!("/api/v1/issues?unit={grid}&from=2021-05-01&to=2021-05-04{q}"),
                &t,
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()
        }
    };
    let all = list("").await;
    let item = |v: &Value, id: &str| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
    };
    let void = item(&all, "VOID-1").expect("the void case is listed");
    assert_eq!(
        (void["status"].as_str(), void["overdue"].as_bool()),
        (Some("void"), Some(false)),
        "{void}"
    );
    assert_eq!(void["state_zh"], "作废");
    let live = item(&all, "LIVE-1").unwrap();
    assert_eq!(
        (live["status"].as_str(), live["overdue"].as_bool()),
        (Some("open"), Some(true))
    );
    assert_eq!(
        all["items"][0]["id"], "LIVE-1",
        "open and overdue first: {all}"
    );
    let open = list("&status=open").await;
    assert!(
        item(&open, "VOID-1").is_none() && item(&open, "LIVE-1").is_some(),
        "{open}"
    );
    let one = get(&e.app, "/open311/v2/requests/VOID-1.json", &t)
        .await
        .json();
    assert_eq!(one[0]["status"], "closed", "{one}");
    let open311 = get(
        &e.app,
        "/open311/v2/requests.json?status=open&start_date=2021-05-01T00:00:00%2B08:00&end_date=2021-05-04T00:00:00%2B08:00",
        &t,
    )
    .await
    .json();
    let ids: Vec<&str> = open311
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["service_request_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"LIVE-1") && !ids.contains(&"VOID-1"),
        "{ids:?}"
    );
}

/// Posts `cases` (issues placed at [`AT`]), then their `steps`, which must
/// all change their case; the grid that holds them all.
async fn cases_in_one_grid(e: &Env, t: &str, cases: Value, steps: Value) -> String {
    let ids: Vec<String> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let n = steps.as_array().unwrap().len();
    let r = post_json(&e.app, "/api/v1/events", Some(t), cases).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = updates(e, t, steps).await;
    assert_eq!(r["updated"], n, "{r}");
    let grid = grid_of(e, t, &ids[0]).await;
    for id in &ids[1..] {
        assert_eq!(grid, grid_of(e, t, id).await, "{id}");
    }
    grid
}

/// A past window's figures are as the cases stood at its end: a case
/// closed in March and re-opened (核查不通过) in April stays closed in
/// March's 结案率 and backlog, and a deadline extended in April leaves a
/// case that was overdue at the end of March overdue then. Before, the
/// re-open took the closure out of March for good, and an extension sent
/// today raised last month's 结案率: a grid could mend its past figures by
/// extending its overdue cases. Live, and after a restart from the
/// database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_window_does_not_move_when_a_case_is_reopened_or_extended_after_it() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let at = |m: u32, d: u32| format!("2020-{m:02}-{d:02}T09:00:00+08:00");
    let grid = cases_in_one_grid(
        &e,
        &t,
        json!([
            reported_due("PAST-R", &at(3, 2), &at(3, 20)),
            reported_due("PAST-E", &at(3, 5), &at(3, 25)),
            reported_due("PAST-C", &at(3, 6), &at(3, 20)),
        ]),
        json!([
            step("PAST-R", "close", &at(3, 15), "结案"),
            step("PAST-C", "close", &at(3, 12), "结案"),
        ]),
    )
    .await;
    let march = "from=2020-03-01&to=2020-04-01";
    let then = figures_and_closure(&e, &t, &grid, march).await;
    // 应结案: all three (PAST-E due on 25 March); closed: PAST-R and PAST-C,
    // both in time; PAST-E open and overdue.
    let third = Some(2.0 / 3.0);
    assert_eq!(
        then,
        [Some(3.0), Some(1.0), Some(1.0), third, third, third, third]
    );
    let mut extend = step("PAST-E", "extend", &at(4, 2), "处置中");
    extend["deadline"] = json!(at(4, 30));
    let r = updates(
        &e,
        &t,
        json!([
            step("PAST-R", "recheck", &at(4, 3), "核查不通过"),
            step("PAST-R", "close2", &at(4, 10), "结案"),
            extend,
            step("PAST-E", "close", &at(4, 20), "结案"),
        ]),
    )
    .await;
    assert_eq!(r["updated"], 4, "{r}");
    e.state.refresh().unwrap();
    let now = figures_and_closure(&e, &t, &grid, march).await;
    assert_eq!(now, then, "March as it stood at its end");
    // As of 5 April: PAST-R re-opened and overdue, PAST-E extended and not
    // due; of 应结案 (PAST-R, PAST-C) one is closed.
    let to_april_5 = "from=2020-03-01&to=2020-04-05";
    let early = figures(&e, &t, &grid, to_april_5).await;
    assert_eq!(early[1..4], [Some(2.0), Some(1.0), Some(0.5)]);
    // As of 21 April: all closed, PAST-R after its deadline.
    let to_april_21 = "from=2020-03-01&to=2020-04-21";
    assert_eq!(
        kpi(&e, &t, &grid, to_april_21, "closure_rate").await,
        Some(1.0)
    );
    assert_eq!(
        kpi(&e, &t, &grid, to_april_21, "on_time_closure_rate").await,
        third
    );
    // A restart reads the first closure and deadline back from the database.
    restart(&e);
    let again = figures_and_closure(&e, &t, &grid, march).await;
    assert_eq!(again, then, "March after a restart");
}

/// A suspended case (挂账) has its clock stopped: it stays in the backlog
/// but is not overdue while suspended, at a window end or in a grid
/// chief's list, and counts as overdue again once resumed. Before, a case
/// parked for special funds showed overdue for as long as it waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_case_is_in_the_backlog_but_never_overdue_while_suspended() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let at = |m: u32, d: u32| format!("2022-{m:02}-{d:02}T09:00:00+08:00");
    let grid = cases_in_one_grid(
        &e,
        &t,
        json!([
            reported_due("PARK-A", &at(5, 2), &at(5, 10)),
            reported_due("LATE-B", &at(5, 3), &at(5, 10)),
            reported_due("PARK-C", &at(5, 4), &at(5, 10)),
        ]),
        json!([
            step("PARK-A", "s", &at(5, 5), "挂账"),
            step("PARK-C", "s", &at(5, 6), "挂账"),
            step("PARK-C", "r", &at(6, 10), "处置中"),
        ]),
    )
    .await;
    let open_and_overdue = |w: &'static str| {
        let (e, t, grid) = (&e, &t, &grid);
        async move {
            (
                kpi(e, t, grid, w, "backlog_open").await,
                kpi(e, t, grid, w, "overdue_open").await,
            )
        }
    };
    // End of May: all three open; PARK-A and PARK-C suspended.
    let may = "from=2022-05-01&to=2022-06-01";
    assert_eq!(open_and_overdue(may).await, (Some(3.0), Some(1.0)));
    // End of June: PARK-C resumed and late again.
    let june = "from=2022-06-01&to=2022-07-01";
    assert_eq!(open_and_overdue(june).await, (Some(3.0), Some(2.0)));
    let r = get(
        &e.app,
        &format!("/api/v1/issues?unit={grid}&from=2022-05-01&to=2022-06-01"),
        &t,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = r.json();
    let overdue: Vec<(String, bool)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i["overdue"] == true))
        .collect();
    // As of now: PARK-C was resumed in June and is late again.
    for (id, late) in [("PARK-A", false), ("LATE-B", true), ("PARK-C", true)] {
        assert!(
            overdue.contains(&(id.to_owned(), late)),
            "{id}: {overdue:?}"
        );
    }
    // The list is as of now, overdue first: PARK-A, parked, comes last.
    assert_eq!(list["items"][2]["id"], "PARK-A", "overdue first: {list}");
}

/// A step that leaves a suspended case suspended (挂账 sent again, a
/// deadline extended while it waits) does not move when its suspension
/// began: May's figures stay as they were. Before, the suspension was
/// dated from the case's last change, so a 挂账 re-sent in June made the
/// case overdue at the end of May. And a case suspended at the window end
/// is not due for 按期办结率 either (its clock stopped, as for 应结案 and
/// overdue): it was counted due and late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_kept_by_later_steps_began_when_it_began_and_stops_the_clock() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let at = |m: u32, d: u32| format!("2022-{m:02}-{d:02}T09:00:00+08:00");
    let grid = cases_in_one_grid(
        &e,
        &t,
        json!([
            reported_due("PARK", &at(5, 2), &at(5, 10)),
            reported_due("LATE", &at(5, 3), &at(5, 10)),
            reported_due("DONE", &at(5, 4), &at(5, 10)),
        ]),
        json!([
            step("PARK", "s", &at(5, 5), "挂账"),
            step("LATE", "d", &at(5, 4), "派遣"),
            step("DONE", "c", &at(5, 6), "结案"),
        ]),
    )
    .await;
    let w = "from=2022-05-01&to=2022-06-01";
    let may = || {
        kpis(
            &e,
            &t,
            &grid,
            w,
            &["backlog_open", "overdue_open", "on_time_rate"],
        )
    };
    // Due at the end of May for 按期办结率: DONE (on time) and LATE (open,
    // late); PARK waits, suspended.
    let before = may().await;
    assert_eq!(before, [Some(2.0), Some(1.0), Some(0.5)]);
    let mut extended = step("PARK", "x", &at(6, 6), "挂账");
    extended["deadline"] = json!(at(7, 10));
    updates(
        &e,
        &t,
        json!([step("PARK", "s2", &at(6, 5), "挂账"), extended]),
    )
    .await;
    e.state.refresh().unwrap();
    assert_eq!(may().await, before);
}

/// A check failed before a case was first closed (处置 → 核查不通过 →
/// 处置 → 结案) is rework, not a re-open: when the case is re-opened
/// (重办) after the window end, the window still counts it closed at its
/// first closure. Before, the earliest rework (the failed check, before
/// the closure) stood for the re-open, so a 重办 in April took the case's
/// March closure away: March's 结案率 fell from 100% to 50%, and its
/// backlog and overdue counts rose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_failed_before_the_first_closure_is_no_reopen_of_the_window() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let at = |m: u32, d: u32| format!("2019-{m:02}-{d:02}T09:00:00+08:00");
    let grid = cases_in_one_grid(
        &e,
        &t,
        json!([
            reported_due("CHECKED", &at(3, 1), &at(3, 10)),
            reported_due("PLAIN", &at(3, 1), &at(3, 10)),
        ]),
        json!([
            step("CHECKED", "d", &at(3, 2), "派遣"),
            step("CHECKED", "h1", &at(3, 3), "处置完成"),
            step("CHECKED", "f", &at(3, 4), "核查不通过"),
            step("CHECKED", "h2", &at(3, 5), "处置完成"),
            step("CHECKED", "c", &at(3, 7), "结案"),
            step("PLAIN", "d", &at(3, 2), "派遣"),
            step("PLAIN", "h1", &at(3, 3), "处置完成"),
            step("PLAIN", "c", &at(3, 7), "结案"),
        ]),
    )
    .await;
    let w = "from=2019-03-01&to=2019-04-01";
    let metrics = [
        "closure_rate",
        "rework_rate",
        "backlog_open",
        "overdue_open",
    ];
    let march = || kpis(&e, &t, &grid, w, &metrics);
    let before = march().await;
    assert_eq!(before, [Some(1.0), Some(0.5), Some(0.0), Some(0.0)]);
    updates(
        &e,
        &t,
        json!([
            step("CHECKED", "r", &at(4, 5), "重办"),
            step("PLAIN", "r", &at(4, 5), "重办"),
        ]),
    )
    .await;
    e.state.refresh().unwrap();
    assert_eq!(march().await, before);
    // After a restart, from the database.
    restart(&e);
    assert_eq!(march().await, before);
}

/// A step dated before its case was reported is no step of it (a wrong
/// clock or time zone at the source). Sent for a stored case it is
/// rejected, naming both times, and not kept; waiting for its case, it is
/// left out when the case arrives. Such steps were answered `updated`
/// while the case stayed as it was, with their milestones (accepted,
/// closed) set on a case still open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_dated_before_its_case_was_reported_is_refused() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let case = |id: &str| {
        let (app, t, id) = (e.app.clone(), t.clone(), id.to_owned());
        async move { get(&app, &format!("/api/v1/issues/{id}"), &t).await.json() }
    };
    let r = post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([issue("EARLY-1", "reported", "2026-11-27T08:00:00+08:00")]),
    )
    .await
    .json();
    balanced(&r);
    let r = updates(
        &e,
        &t,
        json!([
            step("EARLY-1", "s1", "2026-11-26T08:00:00+08:00", "受理"),
            step("EARLY-1", "s2", "2026-11-26T09:00:00+08:00", "结案"),
            step("EARLY-1", "s3", "2026-11-27T09:00:00+08:00", "受理"),
        ]),
    )
    .await;
    balanced(&r);
    let outcomes: Vec<&str> = (0..3)
        .map(|k| r["rows"][k]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["rejected", "rejected", "updated"], "{r}");
    let why = r["rows"][1]["reason"].as_str().unwrap();
    assert!(
        why.contains("2026-11-26T01:00:00Z")
            && why.contains("before the issue was reported (2026-11-27T00:00:00Z)"),
        "{why}"
    );
    let kept: Vec<String> = e
        .state
        .store
        .history("", "EARLY-1")
        .unwrap()
        .into_iter()
        .map(|s| s.update_id)
        .collect();
    assert_eq!(kept, ["s3"]);
    let c = case("EARLY-1").await;
    assert_eq!(
        (c["state"].as_str(), c["status"].as_str()),
        (Some("accepted"), Some("open")),
        "{c}"
    );

    // Waiting for its case: left out when the case arrives.
    let r = updates(
        &e,
        &t,
        json!([step("EARLY-2", "s1", "2026-11-20T09:00:00+08:00", "结案")]),
    )
    .await;
    assert_eq!(r["pending"], 1, "{r}");
    post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([issue("EARLY-2", "reported", "2026-11-21T08:00:00+08:00")]),
    )
    .await;
    let c = case("EARLY-2").await;
    assert_eq!(
        (c["state"].as_str(), c["resolved_at"].as_str()),
        (Some("reported"), None),
        "{c}"
    );
    // Nor is it kept in the case's history (or the feeds that publish it).
    assert!(e.state.store.history("", "EARLY-2").unwrap().is_empty());
}

/// A closed case moved on by a later step in an open state (派遣 again,
/// 处置中, 上报上级) or by a newer whole row that is open was re-opened,
/// whatever word the sending system uses: it is back in the backlog from
/// then on, counts in 返工率, and the window it stood closed in keeps it
/// closed. Before, only the re-open words (重办, 返工, 核查不通过) dated a
/// re-open: a case re-dispatched after its closure was open but in no
/// 返工率, and March's figures lost its March closure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_case_moved_on_by_any_open_step_is_a_reopen() {
    let e = super::support::env();
    let t = login(&e.app, "admin").await;
    let at = |m: u32, d: u32| format!("2018-{m:02}-{d:02}T09:00:00+08:00");
    let mut whole = reported_due("AGAIN-ROW", &at(3, 1), &at(3, 10));
    whole["updated_at"] = json!(at(3, 1));
    let grid = cases_in_one_grid(
        &e,
        &t,
        json!([
            reported_due("AGAIN-STEP", &at(3, 1), &at(3, 10)),
            whole.clone(),
            reported_due("PLAIN", &at(3, 1), &at(3, 10)),
        ]),
        json!([
            step("AGAIN-STEP", "c", &at(3, 7), "结案"),
            step("AGAIN-ROW", "c", &at(3, 7), "结案"),
            step("PLAIN", "c", &at(3, 7), "结案"),
        ]),
    )
    .await;
    let march = "from=2018-03-01&to=2018-04-01";
    let metrics = [
        "closure_rate",
        "rework_rate",
        "backlog_open",
        "overdue_open",
    ];
    let before = kpis(&e, &t, &grid, march, &metrics).await;
    assert_eq!(before, [Some(1.0), Some(0.0), Some(0.0), Some(0.0)]);
    let r = updates(&e, &t, json!([step("AGAIN-STEP", "d2", &at(4, 3), "派遣")])).await;
    assert_eq!(r["updated"], 1, "{r}");
    whole["status"] = json!("处置中");
    whole["updated_at"] = json!(at(4, 4));
    let r = post_json(&e.app, "/api/v1/events", Some(&t), json!([whole])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["updated"], 1, "{}", r.text());
    e.state.refresh().unwrap();
    assert_eq!(kpis(&e, &t, &grid, march, &metrics).await, before);
    // As of 5 April both are open again and overdue (返工率 counts the
    // cases closed by the window end).
    let april_5 = "from=2018-03-01&to=2018-04-05";
    let reopened = kpis(&e, &t, &grid, april_5, &metrics).await;
    assert_eq!(reopened, [Some(1.0 / 3.0), Some(0.0), Some(2.0), Some(2.0)]);
    let r = updates(
        &e,
        &t,
        json!([
            step("AGAIN-STEP", "c2", &at(4, 10), "结案"),
            step("AGAIN-ROW", "c2", &at(4, 10), "结案"),
        ]),
    )
    .await;
    assert_eq!(r["updated"], 2, "{r}");
    e.state.refresh().unwrap();
    // Closed again by 15 April: two of three re-worked.
    let april_15 = "from=2018-03-01&to=2018-04-15";
    let closed = kpis(&e, &t, &grid, april_15, &metrics).await;
    assert_eq!(closed, [Some(1.0), Some(2.0 / 3.0), Some(0.0), Some(0.0)]);
    for (w, want) in [(march, &before), (april_5, &reopened), (april_15, &closed)] {
        assert_eq!(&kpis(&e, &t, &grid, w, &metrics).await, want, "{w}");
    }
    restart(&e);
    for (w, want) in [(march, &before), (april_5, &reopened), (april_15, &closed)] {
        assert_eq!(
            &kpis(&e, &t, &grid, w, &metrics).await,
            want,
            "{w} after a restart"
        );
    }
}
