//! Property tests of the parsers: arbitrary bytes and mutations of valid
//! inputs (bytes inserted, removed, replaced) never panic, and every row a
//! body yields is numbered and either valid or rejected with a reason.
//! Query strings sent to the API never get a server error.
//!
//! `WANGGE_FUZZ_CASES` sets the cases per parser (200 in the test command);
//! run longer by hand with, for example,
//! `WANGGE_FUZZ_CASES=100000 cargo test --release --test tests fuzz`.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use wangge::ingest::crs::Crs;
use wangge::ingest::privacy::KeyedHasher;
use wangge::ingest::Validator;
use wangge::live::{parse_events, parse_updates};

fn cases() -> u32 {
    std::env::var("WANGGE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

fn hasher() -> &'static KeyedHasher {
    static H: OnceLock<KeyedHasher> = OnceLock::new();
    H.get_or_init(|| KeyedHasher::new([7; 32]))
}

fn validator() -> Validator<'static> {
    Validator {
        crs: Crs::Wgs84,
        tz: chrono_tz::Asia::Shanghai,
        hasher: hasher(),
        dates: wangge::ingest::Dates::default(),
        unused: Default::default(),
    }
}

/// `seed` with up to 16 bytes inserted, removed or replaced, or arbitrary bytes.
fn inputs(seed: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let mutated = prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 0..16)
        .prop_map(move |edits| {
            let mut b = seed.to_vec();
            for (at, kind, byte) in edits {
                let i = at.index(b.len() + 1);
                match kind {
                    0 => b.insert(i, byte),
                    1 if i < b.len() => {
                        b.remove(i);
                    }
                    _ if i < b.len() => b[i] = byte,
                    _ => b.push(byte),
                }
            }
            b
        });
    prop_oneof![
        3 => mutated,
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

const EVENTS_JSON: &str = r#"[{"id":"a1","kind":"issue","occurred_at":"2026-03-01 08:00","lon":115.0,"lat":38.5,"category":"环境卫生","status":"上报","deadline":"2026-03-05"},{"编号":"a2","类型":"incident","发生时间":"2026-03-02T08:00:00+08:00","经度":"115.01","纬度":38.51,"类别":"盗窃","cleared":true}]"#;
const STEPS_CSV: &[u8] = "issue_id,update_id,at,status,deadline,satisfaction,solved,to_unit,note\nA1,u1,2026-03-01 09:00,派遣,2026-03-05,,,街道城管办,\nA1,u2,2026-03-02 10:00,结案,,满意,是,,已清理\n".as_bytes();
const STEPS_JSON: &str = r#"[{"issue_id":"A1","update_id":"u1","at":"2026-03-01T09:00:00+08:00","status":"dispatched","lon":115.0,"lat":38.5},{"issue_id":"A1","update_id":"u2","at":"2026-03-02 10:00","status":"closed","satisfaction":"satisfied"}]"#;

/// A parsed body's rows: number, id, the row or why it was rejected.
type Rows<T> = Vec<(u64, Option<String>, Result<T, wangge::ingest::RowError>)>;

/// Every row a body yields is numbered from 1, and a rejected one has a reason.
fn numbered_with_reasons<T>(
    rows: Option<Rows<T>>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    for (n, _, r) in rows.iter().flatten() {
        prop_assert!(*n >= 1);
        if let Err(e) = r {
            prop_assert!(!e.reason.is_empty());
        }
    }
    Ok(())
}

#[test]
fn event_bodies_never_panic_and_every_row_has_an_outcome() {
    let v = validator();
    let csv: &'static [u8] = include_bytes!("fixtures/events/edge_cases.csv");
    let jsonl: &'static [u8] = include_bytes!("fixtures/events/edge_cases.jsonl");
    let gbk: &'static [u8] = include_bytes!("fixtures/events/gbk.csv");
    for (ct, seed) in [
        ("text/csv", csv),
        ("text/csv; charset=gbk", gbk),
        ("application/x-ndjson", jsonl),
        ("application/json", EVENTS_JSON.as_bytes()),
    ] {
        runner()
            .run(&inputs(seed), |body| {
                numbered_with_reasons(parse_events(&v, ct, &body).ok().map(|p| p.rows))
            })
            .unwrap_or_else(|e| panic!("{ct}: {e}"));
    }
}

#[test]
fn step_bodies_never_panic_and_every_row_has_an_outcome() {
    let v = validator();
    for (ct, seed) in [
        ("text/csv", STEPS_CSV),
        ("application/json", STEPS_JSON.as_bytes()),
        ("application/x-ndjson", STEPS_JSON.as_bytes()),
    ] {
        runner()
            .run(&inputs(seed), |body| {
                numbered_with_reasons(parse_updates(&v, ct, &body).ok().map(|p| p.rows))
            })
            .unwrap_or_else(|e| panic!("{ct}: {e}"));
    }
}

#[test]
fn grid_files_never_panic() {
    let seed: &'static [u8] = include_bytes!("fixtures/grids/tiny_county.geojson");
    runner()
        .run(&inputs(seed), |body| {
            let text = String::from_utf8_lossy(&body);
            let _ = wangge::grid::parse_geojson(&text, wangge::grid::LoadOptions::default());
            Ok(())
        })
        .unwrap();
}

/// A small valid Parquet file of events: typed columns (times, floats,
/// booleans, strings with Chinese text), two row groups.
fn events_parquet() -> &'static [u8] {
    use polars::prelude::*;
    let n = 40;
    let mut df = df!(
        "id" => (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>(),
        "kind" => (0..n).map(|i| ["issue", "incident", "visit"][i % 3]).collect::<Vec<_>>(),
        "occurred_at" => (0..n).map(|i| 1_772_000_000_000_000i64 + i as i64 * 3_600_000_000).collect::<Vec<_>>(),
        "lon" => (0..n).map(|i| 115.0 + i as f64 * 1e-3).collect::<Vec<_>>(),
        "lat" => (0..n).map(|i| 38.5 + i as f64 * 1e-3).collect::<Vec<_>>(),
        "category" => (0..n).map(|i| ["环境卫生", "盗窃", "走访"][i % 3]).collect::<Vec<_>>(),
        "status" => (0..n).map(|i| (i % 3 == 0).then_some("上报")).collect::<Vec<_>>(),
        "cleared" => (0..n).map(|i| (i % 3 == 1).then_some(i % 2 == 0)).collect::<Vec<_>>(),
    )
    .unwrap();
    df.apply("occurred_at", |c| {
        c.cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .unwrap()
    })
    .unwrap();
    let mut out = Vec::new();
    ParquetWriter::new(&mut out)
        .with_row_group_size(Some(20))
        .finish(&mut df)
        .unwrap();
    Box::leak(out.into_boxed_slice())
}

#[test]
fn event_files_in_every_format_never_panic_and_account_for_every_row() {
    // As the binary does: Parquet decoded first in a child process, whose
    // crash is the file's error.
    wangge::ingest::probe::set_program(env!("CARGO_BIN_EXE_wangge").into());
    let dir = tempfile::tempdir().unwrap();
    let v = validator();
    let csv: &'static [u8] = include_bytes!("fixtures/events/edge_cases.csv");
    let jsonl: &'static [u8] = include_bytes!("fixtures/events/edge_cases.jsonl");
    let parquet = events_parquet();
    for (name, seed) in [("e.csv", csv), ("e.jsonl", jsonl), ("e.parquet", parquet)] {
        let case = std::cell::Cell::new(0u32);
        runner()
            .run(&inputs(seed), |body| {
                // A new file each case: the Parquet reader maps the file,
                // and a file rewritten under a mapping is not a parser bug.
                case.set(case.get() + 1);
                let path = dir.path().join(format!("{}-{name}", case.get()));
                std::fs::write(&path, &body).unwrap();
                let (mut valid, mut rejected, mut balanced) = (0u64, 0u64, true);
                let read = wangge::ingest::read_file(&path, None, &v, &mut |b| {
                    valid += b.events.len() as u64;
                    rejected += b.rejects.len() as u64;
                    balanced &= b.read == (b.events.len() + b.rejects.len()) as u64;
                    Ok(())
                });
                prop_assert!(balanced, "a batch whose rows do not add up");
                if let Ok(n) = read {
                    prop_assert_eq!(n, valid + rejected);
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_never_get_a_server_error() {
    let e = super::api::support::env();
    let t = super::api::support::login(&e.app, "admin").await;
    let paths = [
        "/api/v1/map?",
        "/api/v1/trend?",
        "/api/v1/compare?",
        "/api/v1/issues?",
        "/api/v1/hotspots?",
        "/api/v1/export/metrics?",
        "/open311/v2/requests.json?",
    ];
    let seed = "level=2&metric=closure_rate&from=2026-01-01&to=2026-04-01&kind=issue&category=%E7%8E%AF%E5%A2%83%E5%8D%AB%E7%94%9F&unit=130682&grain=week&page=2&per_page=10&format=csv&start_date=2026-01-01T00:00:00Z&status=open,closed";
    let seed: &'static [u8] = seed.as_bytes();
    let (mut r, strategy) = (runner(), inputs(seed));
    let queries: Vec<Vec<u8>> = (0..cases())
        .map(|_| strategy.new_tree(&mut r).unwrap().current())
        .collect();
    for (k, q) in queries.iter().enumerate() {
        // Bytes a URI cannot carry are sent percent-encoded.
        let q: String = q
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let path = paths[k % paths.len()];
        let r = super::api::support::get(&e.app, &format!("{path}{q}"), &t).await;
        assert!(
            r.status.as_u16() < 500,
            "{path}{q}: {} {}",
            r.status,
            r.text()
        );
    }
}
