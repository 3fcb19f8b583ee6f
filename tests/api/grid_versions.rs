//! A new grid file: the old version stays in the database and every stored
//! event is re-joined against the new one.

use axum::http::StatusCode;

use super::support::{demo_dir, env, get, login};
use wangge::api::Grids;
use wangge::live::ensure_grids;

/// Tier-3 code → number of stored events in it, and the grid version of every event.
fn tier3_counts(db: &std::path::Path) -> (Vec<(String, i64)>, Vec<i64>) {
    let c = rusqlite::Connection::open(db).expect("db");
    let mut st = c
        .prepare("SELECT tier3, count(*) FROM events WHERE tier3 IS NOT NULL GROUP BY tier3")
        .expect("sql");
    let counts = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut st = c
        .prepare("SELECT DISTINCT grid_version FROM events ORDER BY 1")
        .expect("sql");
    let versions = st
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    (counts, versions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_grid_file_keeps_the_old_version_and_rejoins_the_events() {
    let e = env();
    let store = e.state.store.clone();
    let old_text = std::fs::read_to_string(demo_dir().join("grids.geojson")).expect("grids");
    let (before, _) = tier3_counts(store.path());
    let old = store.active_grid().expect("active").expect("a version").0;
    let in_grid = |counts: &[(String, i64)], code: &str| {
        counts
            .iter()
            .find(|(c, _)| c == code)
            .map_or(0, |(_, n)| *n)
    };
    let moved = in_grid(&before, &e.codes.grid);
    assert!(moved > 0, "the renamed grid holds events");

    // The same boundaries with one grid renamed: its events must follow the new code.
    let renamed = format!("{}-v2", e.codes.grid);
    let mut doc: serde_json::Value = serde_json::from_str(&old_text).expect("geojson");
    let features = doc["features"].as_array_mut().expect("features");
    let f = features
        .iter_mut()
        .find(|f| f["properties"]["code"] == e.codes.grid.as_str())
        .expect("the grid's feature");
    f["properties"]["code"] = renamed.clone().into();
    let dir = tempfile::tempdir().expect("tempdir");
    let new_path = dir.path().join("grids.geojson");
    std::fs::write(&new_path, doc.to_string()).expect("write");

    let (model, version) = ensure_grids(&store, &new_path).expect("new version");
    assert!(version.id > old.id);
    let versions = store.grid_versions().expect("versions");
    assert_eq!(
        versions.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![old.id, version.id],
        "both versions are kept, oldest first"
    );
    assert_eq!(versions[0], old, "the old version is unchanged");
    let c = rusqlite::Connection::open(store.path()).expect("db");
    let kept: String = c
        .query_row(
            "SELECT geojson FROM grid_versions WHERE id = ?1",
            [old.id],
            |r| r.get(0),
        )
        .expect("old text");
    // The old file's boundaries and units are kept, its grid chiefs'
    // names not: a person's name, which nothing the service shows uses.
    assert_eq!(kept, wangge::grid::stored_copy(&old_text).unwrap());
    assert!(old_text.contains("\"chief\""), "the demo names its chiefs");
    assert!(!kept.contains("\"chief\""), "{}", &kept[..200]);
    let reread = wangge::grid::parse_geojson(&kept, Default::default())
        .unwrap()
        .0;
    let file = wangge::grid::parse_geojson(&old_text, Default::default())
        .unwrap()
        .0;
    assert_eq!(reread.units().len(), file.units().len());
    for (a, b) in reread.units().iter().zip(file.units()) {
        assert_eq!(
            (&a.code, &a.name, a.level, a.households, a.population),
            (&b.code, &b.name, b.level, b.households, b.population)
        );
        assert_eq!(a.geometry, b.geometry);
        assert_eq!(a.chief, None);
    }

    let (after, event_versions) = tier3_counts(store.path());
    assert_eq!(event_versions, vec![version.id], "every event is re-joined");
    assert_eq!(in_grid(&after, &e.codes.grid), 0);
    assert_eq!(in_grid(&after, &renamed), moved);
    let total = |v: &[(String, i64)]| v.iter().map(|x| x.1).sum::<i64>();
    assert_eq!(total(&after), total(&before), "no event lost or doubled");

    // Loading the same file again is not a new version.
    let (_, same) = ensure_grids(&store, &new_path).expect("same file");
    assert_eq!(same.id, version.id);
    assert_eq!(store.grid_versions().expect("versions").len(), 2);
    // A version an older release stored whole (and did not mark cut) is
    // kept so at the next start.
    store.set_grid_text(old.id, &old_text).expect("older copy");
    c.execute("DELETE FROM meta WHERE key = 'grid_versions_cut'", [])
        .expect("an older release's database");
    let with_chiefs = || {
        store
            .grid_texts()
            .unwrap()
            .into_iter()
            .filter(|(_, t)| t.contains("\"chief\""))
            .count()
    };
    assert_eq!(with_chiefs(), 1);
    ensure_grids(&store, &new_path).expect("same file");
    assert_eq!(with_chiefs(), 0);

    // The service built on the new version answers with the new code.
    e.state
        .load(Grids::new(model, version).expect("grids"))
        .expect("frame");
    let t = login(&e.app, "admin").await;
    let r = get(
        &e.app,
        "/api/v1/map?level=3&metric=issue_count&from=2020-01-01&to=2030-01-01",
        &t,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let values = r.json()["values"].as_array().expect("values").clone();
    assert!(values.iter().any(|v| v["code"] == renamed.as_str()));
    assert!(!values.iter().any(|v| v["code"] == e.codes.grid.as_str()));
    let unit = get(&e.app, &format!("/api/v1/units/{renamed}"), &t).await;
    assert_eq!(unit.status, StatusCode::OK, "{}", unit.text());
}
