//! `/api/v1/hotspots/emerging`: scoped as `/hotspots` is.

use axum::http::StatusCode;
use serde_json::Value;

use super::support::{env, get, login, openapi_document};

const Q: &str = "/api/v1/hotspots/emerging?level=3&metric=issue_count&grain=month&from=2025-01-01&to=2025-07-01";

fn codes(v: &Value) -> Vec<String> {
    v["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_sees_the_emerging_hot_spots_of_their_township_only() {
    let e = env();
    let c = e.codes.clone();
    let admin = login(&e.app, "admin").await;
    let all = get(&e.app, Q, &admin).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text());
    let all = all.json();
    let leader = login(&e.app, "leader").await;
    let mine = get(&e.app, Q, &leader).await.json();
    let mut want: Vec<String> = codes(&all)
        .into_iter()
        .filter(|code| code.starts_with(&c.township))
        .collect();
    let mut got = codes(&mine);
    want.sort();
    got.sort();
    assert!(!got.is_empty());
    assert_eq!(got, want);
    assert!(!got.contains(&c.other_grid));
    assert!(codes(&all).contains(&c.other_grid));
    // Six months, a category, a trend and a z per month for every unit.
    assert_eq!(mine["periods"].as_array().unwrap().len(), 6);
    for u in mine["units"].as_array().unwrap() {
        assert!(u["category"].as_str().unwrap().ends_with("spot") || u["category"] == "no_pattern");
        assert_eq!(u["z"].as_array().unwrap().len(), 6, "{u}");
        assert!(u["tau"].is_number() && u["p"].is_number());
    }
    let legend = mine["legend"].as_array().unwrap();
    assert_eq!(legend.len(), 17);
    assert_eq!(legend[0]["zh"], "新增热点");
    assert_eq!(legend[16]["en"], "No pattern detected");
    // Another township, named as parent, does not exist for the leader.
    let other = get(&e.app, &format!("{Q}&parent={}", c.other_township), &leader).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_or_unknown_rules_are_bad_requests_and_the_route_is_documented() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let rate = get(
        &e.app,
        "/api/v1/hotspots/emerging?level=1&metric=resolution_rate",
        &t,
    )
    .await;
    assert_eq!(rate.status, StatusCode::BAD_REQUEST, "{}", rate.text());
    let rules = get(
        &e.app,
        "/api/v1/hotspots/emerging?level=1&metric=issue_count&rules=esri",
        &t,
    )
    .await;
    assert_eq!(rules.status, StatusCode::BAD_REQUEST);
    let arcgis = get(
        &e.app,
        "/api/v1/hotspots/emerging?level=1&metric=issue_count&rules=arcgis&permutations=0",
        &t,
    )
    .await;
    assert_eq!(arcgis.status, StatusCode::OK, "{}", arcgis.text());
    let doc = openapi_document(&e.app).await;
    assert!(doc["paths"]["/api/v1/hotspots/emerging"]["get"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_export_carries_each_units_category() {
    let e = env();
    let t = login(&e.app, "analyst").await;
    let want = get(&e.app, Q, &t).await.json();
    let want: std::collections::HashMap<String, (String, f64)> = want["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let code = u["code"].as_str().unwrap().to_owned();
            (
                code,
                (
                    u["category"].as_str().unwrap().to_owned(),
                    u["tau"].as_f64().unwrap(),
                ),
            )
        })
        .collect();
    assert!(!want.is_empty());
    let r = get(
        &e.app,
        "/api/v1/export/metrics?level=3&format=csv&from=2025-01-01&to=2025-07-01&emerging=issue_count",
        &t,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut csv = csv::Reader::from_reader(r.body.as_slice());
    let headers = csv.headers().unwrap().clone();
    let at = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
    };
    let (code, cat, zh, tau) = (
        at("code"),
        at("emerging"),
        at("emerging_zh"),
        at("emerging_tau"),
    );
    let mut seen = 0;
    for row in csv.records() {
        let row = row.unwrap();
        let (c, t) = &want[&row[code]];
        assert_eq!(&row[cat], c, "{}", &row[code]);
        assert!(!row[zh].is_empty());
        let got: f64 = row[tau].parse().unwrap();
        assert!((got - t).abs() < 1e-9, "{} τ {got} against {t}", &row[code]);
        seen += 1;
    }
    assert_eq!(seen, want.len());
    // A rate, or another export, is refused with a reason.
    for uri in [
        "/api/v1/export/metrics?level=3&format=csv&emerging=closure_rate",
        "/api/v1/export/units?level=3&format=csv&emerging=issue_count",
        "/api/v1/export/events?format=csv&emerging=issue_count",
    ] {
        let r = get(&e.app, uri, &t).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
    }
}
