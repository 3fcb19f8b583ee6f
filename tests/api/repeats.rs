//! `/api/v1/repeats`: repeat-complaint points are event points, so only
//! admins and analysts get them, and only from the issues of their units.

use axum::http::StatusCode;
use serde_json::Value;

use super::support::{env, get, login, openapi_document};

fn clusters(v: &Value) -> &Vec<Value> {
    v["clusters"].as_array().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_points_reach_only_admins_and_analysts_within_their_units() {
    let e = env();
    let c = e.codes.clone();
    for role in ["chief", "leader"] {
        let t = login(&e.app, role).await;
        let r = get(&e.app, "/api/v1/repeats", &t).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {}", r.text());
    }
    let admin = login(&e.app, "admin").await;
    let analyst = login(&e.app, "analyst").await;
    let q = "/api/v1/repeats?level=1&min=2&days=90";
    let all = get(&e.app, q, &admin).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text());
    let all = all.json();
    let mine = get(&e.app, q, &analyst).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text());
    let mine = mine.json();
    assert!(
        !clusters(&all).is_empty(),
        "the demo county has no repeat point"
    );
    assert!(
        !clusters(&mine).is_empty(),
        "none in the analyst's township"
    );
    // The county's points reach outside the analyst's township; theirs never do.
    let outside = |v: &Value| {
        clusters(v)
            .iter()
            .filter(|p| !p["grid"].as_str().unwrap().starts_with(&c.township))
            .count()
    };
    assert!(outside(&all) > 0);
    assert_eq!(outside(&mine), 0);
    let units: Vec<&str> = mine["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(units, vec![c.township.as_str()]);
    // A point: its place, category, counts and dates, nothing else.
    for p in clusters(&mine) {
        let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["category", "count", "first", "grid", "last", "lat", "lon", "peak", "unit"]
        );
        assert!(p["peak"].as_u64().unwrap() >= 2);
        assert!(p["count"].as_u64().unwrap() >= p["peak"].as_u64().unwrap());
        assert!(p["first"].as_str().unwrap() <= p["last"].as_str().unwrap());
        assert_eq!(p["unit"], c.township.as_str());
    }
    // The per-unit counts count the listed points.
    for (v, who) in [(&all, "admin"), (&mine, "analyst")] {
        assert_eq!(v["truncated"], false);
        let listed3 = clusters(v)
            .iter()
            .filter(|p| p["peak"].as_u64().unwrap() >= 3)
            .count() as u64;
        let counted3: u64 = v["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["repeat_points_3"].as_u64().unwrap())
            .sum();
        assert_eq!(listed3, counted3, "{who}");
        let listed5 = clusters(v)
            .iter()
            .filter(|p| p["peak"].as_u64().unwrap() >= 5)
            .count() as u64;
        let counted5: u64 = v["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["repeat_points_5"].as_u64().unwrap())
            .sum();
        assert_eq!(listed5, counted5, "{who}");
    }
    // The default level keeps only points of three or more in one span.
    let three = get(&e.app, "/api/v1/repeats?days=90", &admin).await.json();
    assert!(clusters(&three)
        .iter()
        .all(|p| p["peak"].as_u64().unwrap() >= 3));
    assert!(clusters(&three).len() <= clusters(&all).len());
    // Another township is not the analyst's: 404, as an unknown unit.
    let other = get(
        &e.app,
        &format!("/api/v1/repeats?parent={}", c.other_township),
        &analyst,
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_repeat_parameters_are_refused_and_the_route_is_documented() {
    let e = env();
    let t = login(&e.app, "admin").await;
    for q in ["min=1", "meters=0", "meters=5000", "days=0", "level=4"] {
        let r = get(&e.app, &format!("/api/v1/repeats?{q}"), &t).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text());
    }
    let doc = openapi_document(&e.app).await;
    assert!(doc["paths"]["/api/v1/repeats"]["get"].is_object());
}
