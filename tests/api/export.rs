//! The analyst exports over HTTP: `partition=month,township` answers a tar
//! archive of the hive files `wangge export --partition` writes, with the
//! filters, scope, refusals and audit of the unpartitioned export; and the
//! export routes in the OpenAPI document.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use axum::http::StatusCode;
use chrono::NaiveDate;
use polars::prelude::{IntoLazy, ParquetReader, SerReader};
use wangge::analytics::Query;
use wangge::export::{self, Format, NoProgress, Output, Selection, Target};

use super::support::{audit_until, env, get, login, openapi_document, send, Res};

/// Two kinds over one calendar year.
const FILTER: &str = "from=2025-01-01&to=2026-01-01&kind=issue,incident";
const PARTITION: &str = "partition=month,township";

/// The entries of a tar archive, by name.
fn untar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("a tar archive")
        .map(|e| {
            let mut e = e.expect("an entry");
            assert!(e.header().entry_type().is_file());
            let name = e.path().expect("a name").to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("entry bytes");
            (name, data)
        })
        .collect()
}

/// Data rows of a CSV file.
fn csv_rows(bytes: &[u8]) -> usize {
    let mut rows = 0;
    for r in csv::Reader::from_reader(bytes).records() {
        r.expect("a CSV record");
        rows += 1;
    }
    rows
}

/// Rows of a Parquet file.
fn parquet_rows(bytes: &[u8]) -> usize {
    ParquetReader::new(Cursor::new(bytes))
        .finish()
        .expect("a Parquet file")
        .height()
}

/// The (month, township) of a hive path `month=…/tier1=…/part-0.<ext>`.
fn hive_keys(name: &str, ext: &str) -> (String, String) {
    let parts: Vec<&str> = name.split('/').collect();
    assert_eq!(parts.len(), 3, "{name}");
    assert_eq!(parts[2], format!("part-0.{ext}"), "{name}");
    let month = parts[0].strip_prefix("month=").expect(name);
    let town = parts[1].strip_prefix("tier1=").expect(name);
    (month.to_owned(), town.to_owned())
}

fn is_archive(r: &Res) -> bool {
    r.status == StatusCode::OK
        && r.headers["content-type"] == "application/x-tar"
        && r.headers["content-disposition"]
            .to_str()
            .is_ok_and(|d| d.contains("filename=\"wangge-events") && d.contains(".tar\""))
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_export_is_a_tar_of_the_files_the_cli_writes() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let whole = get(
        &e.app,
        &format!("/api/v1/export/events?format=csv&{FILTER}"),
        &t,
    )
    .await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.text());
    let r = get(
        &e.app,
        &format!("/api/v1/export/events?format=csv&{FILTER}&{PARTITION}"),
        &t,
    )
    .await;
    assert!(is_archive(&r), "{:?} {}", r.headers, r.text());
    let parts = untar(&r.body);
    for name in parts.keys() {
        let (month, _) = hive_keys(name, "csv");
        assert!(("2025-01".."2026-01").contains(&month.as_str()), "{name}");
    }
    let rows: usize = parts.values().map(|b| csv_rows(b)).sum();
    assert!(rows > 0);
    assert_eq!(
        rows,
        csv_rows(&whole.body),
        "partitions against the whole export"
    );
    // The same call as `wangge export events --partition --format csv`.
    let dir = tempfile::tempdir().unwrap();
    let snap = e.state.snapshot().unwrap();
    let q = Query {
        from: Some(day("2025-01-01")),
        to: Some(day("2026-01-01")),
        kinds: vec!["issue".into(), "incident".into()],
        categories: Vec::new(),
        sources: Vec::new(),
        zone: e.state.zone,
    };
    let out = Output {
        format: Format::Csv,
        bom: false,
        target: Target::Partitioned(dir.path().to_owned()),
        tz: chrono_tz::Asia::Shanghai,
        query: Vec::new(),
        zh_headers: false,
    };
    let lf = snap.full_frame(&e.state.store).unwrap().lazy();
    let summary = export::events::export(
        lf,
        &snap.grids.model,
        &q,
        &Selection::default(),
        out,
        &NoProgress,
    )
    .unwrap();
    let folder: BTreeMap<String, Vec<u8>> = summary
        .files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(dir.path()).unwrap();
            (
                rel.to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        folder.keys().collect::<Vec<_>>(),
        parts.keys().collect::<Vec<_>>()
    );
    assert!(folder == parts, "an archived file differs from the CLI's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_gets_the_partitions_of_their_scope_only() {
    let e = env();
    let c = e.codes.clone();
    let t = login(&e.app, "analyst").await;
    let whole = get(&e.app, &format!("/api/v1/export/events?{FILTER}"), &t).await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.text());
    // The keys in any order, `tier1` for the township.
    let r = get(
        &e.app,
        &format!("/api/v1/export/events?{FILTER}&partition=tier1,month"),
        &t,
    )
    .await;
    assert!(is_archive(&r), "{:?} {}", r.headers, r.text());
    let parts = untar(&r.body);
    assert!(!parts.is_empty());
    let mut rows = 0;
    for (name, bytes) in &parts {
        assert_eq!(hive_keys(name, "parquet").1, c.township, "{name}");
        rows += parquet_rows(bytes);
    }
    assert_eq!(rows, parquet_rows(&whole.body));
    // Out of scope is not found, exactly as an unknown unit.
    for parent in [c.other_township.as_str(), "999999999"] {
        let r = get(
            &e.app,
            &format!("/api/v1/export/events?parent={parent}&{PARTITION}"),
            &t,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{parent}: {}", r.text());
        assert_eq!(r.json()["code"], "not_found");
    }
    let inside = get(
        &e.app,
        &format!(
            "/api/v1/export/events?parent={}&{FILTER}&{PARTITION}",
            c.village
        ),
        &t,
    )
    .await;
    assert!(is_archive(&inside));
    assert!(untar(&inside.body).len() <= parts.len());
    let log = audit_until(&e, |log| log.iter().any(|a| a.target.contains(PARTITION))).await;
    assert!(
        log.iter().any(|a| a.action == "export"
            && a.user.as_deref() == Some("analyst")
            && a.status == 200
            && a.target.contains(PARTITION)),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_is_refused_where_the_unpartitioned_export_is() {
    let e = env();
    let leader = login(&e.app, "leader").await;
    let r = get(
        &e.app,
        &format!("/api/v1/export/events?{PARTITION}"),
        &leader,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], "forbidden");
    let r = send(
        &e.app,
        "GET",
        &format!("/api/v1/export/events?{PARTITION}"),
        None,
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let t = login(&e.app, "analyst").await;
    for uri in [
        "/api/v1/export/events?partition=month",
        "/api/v1/export/events?partition=month,village",
        "/api/v1/export/events?partition=month,township&format=xml",
        "/api/v1/export/events?partition=month,township&kind=spam",
        "/api/v1/export/units?partition=month,township",
        "/api/v1/export/metrics?level=1&partition=month,township",
    ] {
        let r = get(&e.app, uri, &t).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
        assert_eq!(r.json()["code"], "bad_request", "{uri}");
    }
    // An empty value is no partition.
    let r = get(&e.app, "/api/v1/export/units?level=1&partition=", &t).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], Format::Geoparquet.content_type());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_the_exports_with_their_parameters_and_content_types() {
    let e = env();
    let v = openapi_document(&e.app).await;
    for (what, archive) in [("events", true), ("units", false), ("metrics", false)] {
        let op = &v["paths"][format!("/api/v1/export/{what}")]["get"];
        assert!(op.is_object(), "/api/v1/export/{what} missing");
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for p in [
            "level",
            "parent",
            "from",
            "to",
            "kind",
            "category",
            "format",
            "bom",
            "partition",
        ] {
            assert!(params.contains(&p), "{what}: no parameter {p}");
        }
        let content = op["responses"]["200"]["content"]
            .as_object()
            .expect("content types");
        for f in [Format::Geoparquet, Format::Csv, Format::Geojson] {
            let ct = f.content_type().split(';').next().unwrap();
            assert!(content.contains_key(ct), "{what}: no {ct}");
        }
        assert_eq!(content.contains_key("application/x-tar"), archive, "{what}");
        for status in ["400", "404"] {
            assert!(op["responses"][status].is_object(), "{what}: no {status}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_is_named_after_what_was_asked() {
    let e = env();
    let t = super::support::login(&e.app, "admin").await;
    let uri = format!(
        "/api/v1/export/metrics?level=2&parent={}&from=2026-01-01&to=2026-04-01&kind=issue&category=%E7%8E%AF%E5%A2%83%E5%8D%AB%E7%94%9F&format=csv&bom=true",
        e.codes.township
    );
    let r = super::support::get(&e.app, &uri, &t).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d = r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let stem = format!(
        "wangge-metrics-tier2-{}-2026-01-01_2026-04-01-issue-",
        e.codes.township
    );
    assert!(d.contains(&format!("filename=\"{stem}____.csv\"")), "{d}");
    // The UTF-8 name keeps the category: 环境卫生, percent-encoded.
    assert!(
        d.contains(&format!(
            "filename*=UTF-8''{stem}%E7%8E%AF%E5%A2%83%E5%8D%AB%E7%94%9F.csv"
        )),
        "{d}"
    );
    // A BOM first, for Excel in Chinese.
    assert!(r.body.starts_with(&[0xEF, 0xBB, 0xBF]));
    // A differently filtered export has another name; HEAD says the same as GET.
    let other = super::support::send(
        &e.app,
        "HEAD",
        &uri.replace("kind=issue", "kind=incident"),
        Some(&t),
        None,
        Vec::new(),
    )
    .await;
    let d2 = other.headers["content-disposition"].to_str().unwrap();
    assert_ne!(d2, d);
    assert!(d2.contains("-incident-"), "{d2}");
}
