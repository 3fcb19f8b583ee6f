//! The Parquet snapshot of the event frame: used only while it matches the
//! database, extended by the events stored after it, never trusted blindly.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use super::support::{env, login, post_json};

/// Posts three open issues `{prefix}-0` to `{prefix}-2` in one grid.
async fn three_new_issues(app: &axum::Router, token: &str, prefix: &str) {
    let rows: Vec<_> = (0..3)
        .map(|i| json!({"id": format!("{prefix}-{i}"), "kind": "issue", "occurred_at": "2025-06-03T09:00:00+08:00",
            "lon": 115.0, "lat": 38.5, "category": "环境卫生", "status": "open"}))
        .collect();
    let r = post_json(app, "/api/v1/events", Some(token), json!(rows)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

fn wait_for_snapshot(store: &wangge::store::Store, key: Option<&str>) {
    let t = Instant::now();
    while !store.snapshot_matches(key).expect("meta") {
        assert!(t.elapsed() < Duration::from_secs(60), "no snapshot written");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_the_snapshot_plus_newer_events_and_ignores_a_bad_one() {
    let e = env();
    let store = e.state.store.clone();
    wait_for_snapshot(&store, None);
    // The service read its frame from the database, pseudonyms and all;
    // once the snapshot file holds them they leave memory.
    let t = Instant::now();
    while e.state.snapshot().expect("ready").pseudonyms.in_memory() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "pseudonyms kept in memory"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (truth, _) = store.load_frame().expect("frame from the database");
    let served = e.state.snapshot().expect("ready");
    // Unit codes and vocabulary are held coded, a few bytes a row.
    for (name, _) in wangge::columns::CODED {
        let col = served.frame.column(name).expect(name);
        assert!(col.dtype().is_categorical(), "{name}: {}", col.dtype());
    }
    // The milestones are held once, in the issue table, not in the frame.
    for name in wangge::analytics::preagg::CASE_TIMES {
        assert!(served.frame.column(name).is_err(), "{name} in the frame");
    }
    assert!(
        served
            .full_frame(&store)
            .expect("full")
            .equals_missing(&truth),
        "the served frame with its pseudonyms from the file = database"
    );
    let fast = store.load_frame_fast("", &[], &[]).expect("fast");
    assert_eq!(fast.from_database, 0);
    assert_eq!(fast.from_snapshot, truth.height() as u64);
    assert!(
        fast.full_frame(&store)
            .expect("full")
            .equals_missing(&truth),
        "snapshot = database"
    );

    // Events stored after the snapshot come from the database.
    let t = login(&e.app, "admin").await;
    three_new_issues(&e.app, &t, "snap").await;
    let (truth, high) = store.load_frame().expect("frame from the database");
    let fast = store.load_frame_fast("", &[], &[]).expect("fast");
    assert_eq!(fast.from_database, 3);
    assert_eq!(fast.high_water, high);
    // The frame in memory has no pseudonym column; only the rows newer than
    // the snapshot keep theirs in memory, the rest stay in the file.
    assert_eq!(fast.frame.schema().as_ref(), &wangge::store::frame_schema());
    for p in wangge::store::PSEUDONYMS {
        assert!(fast.frame.column(p).is_err(), "{p} in memory");
    }
    assert_eq!(fast.pseudonyms.in_memory(), 3);
    assert!(
        fast.full_frame(&store)
            .expect("full")
            .equals_missing(&truth),
        "snapshot + tail = database"
    );

    // An export's rows alone are the whole frame's rows, the newer events'
    // pseudonyms from memory and the others from the file.
    e.state.refresh().expect("refresh");
    let served = e.state.snapshot().expect("ready");
    assert_eq!(served.frame.height(), truth.height());
    assert!(served.pseudonyms.in_memory() > 0);
    rows_agree(&served, &store);

    // A new snapshot being written leaves the one in place usable until it
    // is committed: a server stopped meanwhile restarts from the old one.
    let version = store
        .active_grid_id()
        .expect("meta")
        .expect("a grid version");
    let pending = store
        .prepare_snapshot(&truth, high, version, "", &[], 0)
        .expect("prepare");
    let during = store.load_frame_fast("", &[], &[]).expect("fast");
    assert_eq!(
        (during.from_snapshot, during.from_database),
        (fast.from_snapshot, 3)
    );
    assert!(during
        .full_frame(&store)
        .expect("full")
        .equals_missing(&truth));
    pending.commit(&store).expect("commit");
    assert!(store.snapshot_matches(None).expect("meta"));
    let after = store.load_frame_fast("", &[], &[]).expect("fast");
    assert_eq!(
        (after.from_snapshot, after.from_database),
        (truth.height() as u64, 0)
    );
    assert!(after
        .full_frame(&store)
        .expect("full")
        .equals_missing(&truth));

    // A damaged file is not used: the pseudonyms of a frame read from it
    // come from the database, and a restart reads the database.
    assert_eq!(after.pseudonyms.in_memory(), 0);
    std::fs::write(store.snapshot_path(), b"not parquet").expect("overwrite");
    assert!(after
        .full_frame(&store)
        .expect("from the database")
        .equals_missing(&truth));
    rows_agree(&e.state.snapshot().expect("ready"), &store);
    let fast = store.load_frame_fast("", &[], &[]).expect("fast");
    assert_eq!(fast.from_snapshot, 0);
    assert!(fast
        .full_frame(&store)
        .expect("full")
        .equals_missing(&truth));
}

/// [`wangge::live::Snapshot::frame_at`] of every seventh row, the last
/// three and none: the whole frame's rows.
fn rows_agree(served: &wangge::live::Snapshot, store: &wangge::store::Store) {
    let whole = served.full_frame(store).expect("full");
    let n = whole.height() as u32;
    let mut rows: Vec<u32> = (0..n).step_by(7).collect();
    rows.extend((n - 3..n).filter(|r| r % 7 != 0));
    let idx = polars::prelude::IdxCa::from_vec(
        "".into(),
        rows.iter()
            .map(|&r| r as polars::prelude::IdxSize)
            .collect(),
    );
    let at = served.frame_at(store, &rows).expect("rows");
    assert!(at.equals_missing(&whole.take(&idx).expect("take")), "{at}");
    assert_eq!(served.frame_at(store, &[]).expect("none").height(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_stored_pre_aggregates_answers_like_a_fresh_build() {
    let e = env();
    let store = e.state.store.clone();
    // The pre-aggregates are stored under the key of this build and zone,
    // and only a reader passing that key is told they are there.
    let key = wangge::api::snapshot_key(e.state.zone);
    wait_for_snapshot(&store, Some(&key));
    assert!(!store
        .snapshot_matches(Some("preagg v1; another build"))
        .expect("meta"));
    let t = login(&e.app, "admin").await;
    let uri = "/api/v1/map?level=3&metric=event_count&from=2025-06-01&to=2025-07-01";
    let fresh = super::support::get(&e.app, uri, &t).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text());
    let grids = super::support::demo_dir().join("grids.geojson");
    let (model, version) = wangge::live::ensure_grids(&store, &grids).expect("grids");
    e.state
        .load(wangge::api::Grids::new(model, version).expect("grids"))
        .expect("restart");
    let again = super::support::get(&e.app, uri, &t).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json(), fresh.json());
    // The restart read the frame without its milestones (the issue table
    // holds them) and gives every row back as stored.
    let (truth, _) = store.load_frame().expect("frame from the database");
    let full = || {
        e.state
            .snapshot()
            .expect("ready")
            .full_frame(&store)
            .expect("full")
    };
    assert!(full().equals_missing(&truth));
    let flow = wangge::analytics::preagg::CASE_TIMES;
    let lean = |f: &polars::prelude::DataFrame| flow.iter().all(|n| f.column(n).is_err());
    let read = store
        .load_frame_fast(&key, &wangge::live::PRE_TABLES, &flow)
        .expect("lean");
    assert!(read.extras.is_some(), "extras");
    assert!(lean(&read.frame), "{:?}", read.frame.get_column_names());
    // Pre-aggregates whose file has the written length but does not
    // decode: the milestones are read from the frame file after all, and
    // the tables built again.
    let issues = store
        .snapshot_path()
        .to_string_lossy()
        .replace(".frame.parquet", ".pre-issues.parquet");
    let len = std::fs::metadata(&issues).expect("issue table file").len();
    std::fs::write(&issues, vec![0u8; len as usize]).expect("overwrite");
    e.state
        .load({
            let (model, version) = wangge::live::ensure_grids(&store, &grids).expect("grids");
            wangge::api::Grids::new(model, version).expect("grids")
        })
        .expect("restart on undecodable tables");
    let read = store
        .load_frame_fast(&key, &wangge::live::PRE_TABLES, &flow)
        .expect("whole");
    assert!(read.extras.is_none() && !lean(&read.frame));
    assert!(read
        .full_frame(&store)
        .expect("full")
        .equals_missing(&truth));
    let third = super::support::get(&e.app, uri, &t).await;
    assert_eq!(third.json(), fresh.json());
    assert!(full().equals_missing(&truth));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_cases_moved_patches_the_snapshot_with_their_rows() {
    let e = env();
    let store = e.state.store.clone();
    let key = wangge::api::snapshot_key(e.state.zone);
    wait_for_snapshot(&store, Some(&key));
    // Close fifty open issues of the demo.
    let served = e.state.snapshot().expect("ready");
    let f = &served.frame;
    let text = |n: &str| wangge::columns::text(f.column(n).unwrap()).unwrap();
    let (id, kind, status) = (text("id"), text("kind"), text("status"));
    let occurred = f
        .column("occurred_at")
        .unwrap()
        .cast(&polars::prelude::DataType::Int64)
        .unwrap();
    let occurred = occurred.i64().unwrap();
    let steps: Vec<_> = (0..f.height())
        .filter(|&k| kind.get(k) == Some("issue") && status.get(k) == Some("open"))
        .take(50)
        .map(|k| {
            let at = chrono::DateTime::from_timestamp_micros(occurred.get(k).unwrap() + 3_600_000_000).unwrap();
            json!({"issue_id": id.get(k).unwrap(), "update_id": "close", "at": at.to_rfc3339(), "status": "结案"})
        })
        .collect();
    assert_eq!(steps.len(), 50);
    let t = login(&e.app, "admin").await;
    let r = post_json(&e.app, "/api/v1/updates", Some(&t), json!(steps)).await;
    assert_eq!(r.json()["updated"], 50, "{}", r.text());
    // And three new cases, one of them already dispatched: the restart
    // reads them from the database, after the snapshot's rows.
    three_new_issues(&e.app, &t, "after").await;
    let step = json!([{"issue_id": "after-1", "update_id": "d", "at": "2025-06-03T10:00:00+08:00", "status": "派遣"}]);
    let r = post_json(&e.app, "/api/v1/updates", Some(&t), step).await;
    assert_eq!(r.json()["updated"], 1, "{}", r.text());
    e.state.refresh().expect("refresh");
    let uri = "/api/v1/map?level=1&metric=resolved_count";
    let live = super::support::get(&e.app, uri, &t).await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.text());
    // The served frame gives back every row as stored, the milestones
    // the closings set included (the frame holds none of its own).
    let (truth, _) = store.load_frame().expect("frame from the database");
    let full = |e: &super::support::Env| {
        e.state
            .snapshot()
            .expect("ready")
            .full_frame(&store)
            .expect("full")
    };
    assert!(!full(&e).equals_missing(&served.full_frame(&store).expect("before")));
    assert!(full(&e).equals_missing(&truth), "live frame = database");
    // The snapshot's rows of those cases are old: a restart reads them again, not every row.
    let fast = store.load_frame_fast(&key, &[], &[]).expect("fast");
    assert_eq!((fast.from_database, fast.changed_rows), (3, 50));
    assert!(
        fast.full_frame(&store)
            .expect("full")
            .equals_missing(&truth),
        "patched snapshot = database"
    );
    let grids = super::support::demo_dir().join("grids.geojson");
    let (model, version) = wangge::live::ensure_grids(&store, &grids).expect("grids");
    e.state
        .load(wangge::api::Grids::new(model, version).expect("grids"))
        .expect("restart");
    let again = super::support::get(&e.app, uri, &t).await;
    assert_eq!(
        again.json(),
        live.json(),
        "the restart answers as the live service did"
    );
    assert!(
        full(&e).equals_missing(&truth),
        "restarted frame = database"
    );
}
