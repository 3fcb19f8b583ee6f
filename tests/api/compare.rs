//! The league table: intervals for every kind of metric that has one, and
//! sparklines over exactly the selected window.

use axum::http::StatusCode;
use serde_json::Value;
use wangge::analytics::{poisson_interval, Z95};

use super::support::{env, get, login};

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_metric_has_exact_poisson_intervals_in_the_league_table() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let year = "from=2025-01-01&to=2026-01-01";
    let get_rows = |metric: &'static str| {
        let uri = format!(
            "/api/v1/compare?unit={}&metric={metric}&{year}&basis=as_is",
            e.codes.township
        );
        let (app, t) = (e.app.clone(), t.clone());
        async move {
            let r = get(&app, &uri, &t).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()["rows"].as_array().expect("rows").clone()
        }
    };
    let rows = get_rows("issue_count").await;
    assert!(rows.len() >= 2);
    for row in &rows {
        let x = f(&row["value"]);
        let (lo, hi) = (f(&row["ci_low"]), f(&row["ci_high"]));
        let (want_lo, want_hi) = poisson_interval(x, 1.0, Z95).unwrap();
        assert!(
            (lo - want_lo).abs() < 1e-9 && (hi - want_hi).abs() < 1e-9,
            "{row}"
        );
        assert!(lo <= x && x <= hi, "{row}");
    }
    // A density: the count's interval over the area, so the interval's ends
    // stand to the value as the count's ends stand to the count.
    for row in get_rows("issue_density").await {
        let count = rows
            .iter()
            .find(|r| r["code"] == row["code"])
            .expect("same units");
        let n = f(&count["value"]);
        if n > 0.0 {
            let area = n / f(&row["value"]);
            assert!(
                (f(&row["ci_low"]) * area - f(&count["ci_low"])).abs() < 1e-6,
                "{row}"
            );
            assert!(
                (f(&row["ci_high"]) * area - f(&count["ci_high"])).abs() < 1e-6,
                "{row}"
            );
        }
    }
    // Per 1,000 households: present wherever the unit has household figures.
    for row in get_rows("issues_per_1k_households").await {
        assert_eq!(row["value"].is_null(), row["ci_low"].is_null(), "{row}");
        assert_eq!(row["ci_low"].is_null(), row["ci_high"].is_null(), "{row}");
    }
    // A duration has no interval.
    for row in get_rows("median_hours_to_resolve").await {
        assert!(row["ci_low"].is_null() && row["ci_high"].is_null(), "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparklines_cover_exactly_the_window_on_periods_shared_by_every_row() {
    let e = env();
    let t = login(&e.app, "leader").await;
    let cmp = |from: &str, to: &str| {
        let uri = format!(
            "/api/v1/compare?unit={}&metric=incident_count&from={from}&to={to}",
            e.codes.township
        );
        let (app, t) = (e.app.clone(), t.clone());
        async move {
            let r = get(&app, &uri, &t).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()
        }
    };
    // A year that starts before the demo's first event (2024-11-01).
    let c = cmp("2024-01-01", "2025-01-01").await;
    assert_eq!(c["spark_grain"], "month");
    // The counts are ranked per 1,000 households; the sparklines stay counts.
    assert_eq!(c["basis"], "per_1000_households");
    let periods = c["spark_periods"].as_array().unwrap();
    let labels: Vec<&str> = periods
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 12);
    assert_eq!((labels[0], labels[11]), ("2024-01", "2024-12"));
    assert_eq!(periods[0]["from"], "2024-01-01");
    assert_eq!(periods[11]["to"], "2025-01-01");
    let rows = c["rows"].as_array().unwrap();
    assert!(rows.len() >= 2);
    for row in rows {
        let spark = row["spark"].as_array().unwrap();
        assert_eq!(spark.len(), 12, "{row}");
        // Nothing was recorded before November: unknown, not zero.
        assert!(spark[..10].iter().all(Value::is_null), "{row}");
        assert!(spark[10..].iter().all(Value::is_number), "{row}");
        // The months add up to the window's count.
        let sum: f64 = spark.iter().filter_map(Value::as_f64).sum();
        assert_eq!(sum, f(&row["count"]), "{row}");
    }
    // A month is drawn by day, and every row has the same days.
    let c = cmp("2025-06-01", "2025-07-01").await;
    assert_eq!(c["spark_grain"], "day");
    assert_eq!(c["spark_periods"].as_array().unwrap().len(), 30);
    assert!(c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["spark"].as_array().unwrap().len() == 30 && r["spark"][0].is_number()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_ranked_per_1000_households_unless_asked_as_they_are() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let uri = |basis: &str| {
        format!(
            "/api/v1/compare?unit={}&metric=overdue_open&from=2025-01-01&to=2026-01-01{basis}",
            e.codes.township
        )
    };
    let per = get(&e.app, &uri(""), &t).await.json();
    let raw = get(&e.app, &uri("&basis=as_is"), &t).await.json();
    assert_eq!(per["basis"], "per_1000_households", "{per}");
    assert_eq!(raw["basis"], "as_is", "{raw}");
    let rows = per["rows"].as_array().unwrap();
    assert!(
        rows.iter().filter(|r| r["value"].is_number()).count() >= 2,
        "{per}"
    );
    for row in rows {
        let unit = get(
            &e.app,
            &format!("/api/v1/units/{}", row["code"].as_str().unwrap()),
            &t,
        )
        .await
        .json()["unit"]
            .clone();
        if unit["households"].is_null() {
            // No household data: no rate, not ranked.
            assert!(row["value"].is_null() && row["rank"].is_null(), "{row}");
            continue;
        }
        let households = f(&unit["households"]);
        let count = f(&row["count"]);
        // The same count as the raw table, over thousands of households.
        let same = raw["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == row["code"])
            .unwrap();
        assert_eq!(count, f(&same["value"]), "{row}");
        assert!(
            (f(&row["value"]) - count * 1000.0 / households).abs() < 1e-9,
            "{row} {unit}"
        );
        // Ranked like a rate: a funnel standing and an interval around the rate.
        if row["eligible"] == true {
            assert!(row["standing"].is_string(), "{row}");
            assert!(
                f(&row["ci_low"]) <= f(&row["value"]) && f(&row["value"]) <= f(&row["ci_high"])
            );
        }
    }
    assert!(raw["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["count"].is_null()));
    let bad = get(&e.app, &uri("&basis=per_capita"), &t).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
}
