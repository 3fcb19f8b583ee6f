//! The `wangge` binary, run as a user runs it.

use std::process::Command;

use crate::util::fixture;

fn wangge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wangge"))
}

#[test]
fn check_prints_the_report_and_fails_on_fatal_problems() {
    let out = wangge()
        .arg("check")
        .arg(fixture("grids/fatal_problems.geojson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("error[duplicate_code] feature 1 (T)"),
        "{text}"
    );
    let ok = wangge()
        .arg("check")
        .arg(fixture("grids/tiny_county.geojson"))
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("warning[gap]"));
}

/// What a command that must succeed printed; its output when it failed.
fn succeeded(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `wangge join` of `events` over the tiny county, into `dir/out`.
fn join_tiny(dir: &std::path::Path, events: &std::path::Path, out: &str) -> std::process::Output {
    wangge()
        .args(["join", "--grids"])
        .arg(fixture("grids/tiny_county.geojson"))
        .arg("--events")
        .arg(events)
        .arg("--out")
        .arg(dir.join(out))
        .arg("--secret")
        .arg(dir.join("secret.key"))
        .output()
        .unwrap()
}

/// A case sent again in the files `wangge join` reads (CONTRACT.md: the
/// whole row again, usually with a newer `updated_at`) is written once, as
/// its newest version makes it, and each row is counted as the service
/// counts it. The service's store, given the same file by `wangge ingest`,
/// holds the same cases: state, closing time and milestones. Before, the
/// join kept the first row of a case and rejected the others as
/// duplicates, so c1 stayed 派遣 in the joined file while it was 结案 in
/// the service.
#[test]
fn join_writes_each_case_once_as_its_newest_version_as_the_service_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = d.join("events.csv");
    std::fs::write(
        &events,
        "id,kind,occurred_at,lon,lat,category,status,resolved_at,updated_at,household\n\
         c1,issue,2026-03-01 08:30,115.015,38.505,环境卫生,派遣,,2026-03-01 10:00,\n\
         c2,issue,2026-03-02 08:30,115.015,38.505,矛盾纠纷,open,,,\n\
         c1,issue,2026-03-01 08:30,115.015,38.505,环境卫生,结案,2026-03-03 09:00,2026-03-03 09:00,\n\
         v1,visit,2026-03-02 10:00,115.015,38.505,入户走访,,,,H-1\n\
         c3,issue,2026-03-02 11:00,115.015,38.505,其他,resolved,2026-03-02 12:00,2026-03-02 12:00,\n\
         c1,issue,2026-03-01 08:30,115.015,38.505,环境卫生,受理,,2026-03-01 09:00,\n\
         v1,visit,2026-03-04 10:00,115.015,38.505,入户走访,,,,H-1\n\
         c4,issue,2026-03-05 08:00,115.015,38.505,其他,open,,2026-03-05 08:00,\n\
         c3,issue,2026-03-02 11:00,115.015,38.505,其他,resolved,2026-03-02 12:00,2026-03-02 12:00,\n\
         c4,issue,2026-03-05 08:00,115.015,95,其他,resolved,,2026-03-06 08:00,\n",
    )
    .unwrap();
    let out = join_tiny(d, &events, "j.parquet");
    let text = succeeded(&out);
    assert!(
        text.contains(
            "10 rows read: 5 matched, 0 partial, 0 outside, 2 rejected (1 conflicts); \
             rows of a case read before: 1 updated, 1 unchanged, 1 stale"
        ),
        "{text}"
    );
    let rejects = std::fs::read_to_string(d.join("j.rejects.csv")).unwrap();
    assert!(
        rejects.contains("events.csv,8,id,conflict: a visit record cannot change"),
        "{rejects}"
    );
    assert!(rejects.contains("events.csv,11,lat,"), "{rejects}");
    // The cases in the joined file, and in the store.
    const COLS: [&str; 6] = [
        "state",
        "resolved_at",
        "updated_at",
        "accepted_at",
        "dispatched_at",
        "first_closed_at",
    ];
    use polars::prelude::*;
    let path = d.join("j.parquet");
    let df = LazyFrame::scan_parquet(PlRefPath::from(path.to_str().unwrap()), Default::default())
        .unwrap()
        .sort(["id"], Default::default())
        .collect()
        .unwrap();
    let ids: Vec<String> = df
        .column("id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, ["c1", "c2", "c3", "c4", "v1"]);
    let joined: Vec<Vec<String>> = (0..df.height())
        .map(|i| {
            COLS.iter()
                .map(|c| {
                    let v = df.column(c).unwrap().get(i).unwrap();
                    match v {
                        AnyValue::Null => "NULL".to_owned(),
                        AnyValue::Datetime(us, _, _) => us.to_string(),
                        AnyValue::String(s) => s.to_owned(),
                        other => other.to_string().trim_matches('"').to_owned(),
                    }
                })
                .collect()
        })
        .collect();
    assert_eq!(joined[0][0], "closed", "{joined:?}");
    assert_ne!(
        joined[0][3], "NULL",
        "the stale 受理 dates the acceptance: {joined:?}"
    );
    let data = d.join("svc");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(
        fixture("grids/tiny_county.geojson"),
        data.join("grids.geojson"),
    )
    .unwrap();
    let ingest = wangge()
        .args(["ingest", "--data"])
        .arg(&data)
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        ingest.status.success(),
        "{}",
        String::from_utf8_lossy(&ingest.stderr)
    );
    let db = rusqlite::Connection::open(data.join("wangge.db")).unwrap();
    let sql = format!("SELECT {} FROM events ORDER BY id", COLS.join(", "));
    let mut st = db.prepare(&sql).unwrap();
    let stored: Vec<Vec<String>> = st
        .query_map([], |r| {
            (0..COLS.len())
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        other => format!("{other:?}"),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(joined, stored);
}

/// `join --updates`: a rejected update row is written to the rejects file
/// with the events' and counted among the update rows read (it went only
/// to the terminal, and the count left it out).
#[test]
fn join_accounts_for_every_update_row_in_its_counts_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let events = d.join("events.csv");
    std::fs::write(
        &events,
        "id,kind,occurred_at,lon,lat,category,status\n\
         c1,issue,2026-03-01 08:30,115.015,38.505,环境卫生,reported\n",
    )
    .unwrap();
    let updates = d.join("updates.csv");
    std::fs::write(
        &updates,
        "issue_id,update_id,at,status,note\n\
         c1,u1,2026-03-01 09:00,派遣,\n\
         c1,u2,2026-03-01 10:00,飞走,\n\
         c1,u3,2026-03-02 10:00,结案,已处理,居民满意\n",
    )
    .unwrap();
    let out = wangge()
        .args(["join", "--grids"])
        .arg(fixture("grids/tiny_county.geojson"))
        .arg("--events")
        .arg(&events)
        .arg("--updates")
        .arg(&updates)
        .arg("--out")
        .arg(d.join("j.parquet"))
        .arg("--secret")
        .arg(d.join("secret.key"))
        .output()
        .unwrap();
    let text = succeeded(&out);
    assert!(
        text.contains(
            "3 update rows read: 2 rejected, 1 distinct steps; 1 folded into their issues"
        ),
        "{text}"
    );
    let rejects = std::fs::read_to_string(d.join("j.rejects.csv")).unwrap();
    let rows: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{rejects}");
    assert!(
        rows[0].contains(",3,status,") && rows[0].contains(r#"""飞*"" (2 characters, masked)"#),
        "{rejects}"
    );
    assert!(
        rows[1].contains(",4,,") && !rows[1].contains("居民满意"),
        "{rejects}"
    );
}

#[test]
fn join_writes_a_summary_whose_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = join_tiny(dir.path(), &fixture("events/edge_cases.csv"), "j.parquet");
    let text = succeeded(&out);
    assert!(
        text.contains(
            "17 rows read: 5 matched, 2 partial, 1 outside, 8 rejected (0 conflicts); \
             rows of a case read before: 0 updated, 0 unchanged, 1 stale"
        ),
        "{text}"
    );
    assert!(dir.path().join("j.rejects.csv").exists());
    // A misspelt column is left out of every row, and the join says so.
    let misspelt = dir.path().join("misspelt.csv");
    let text = std::fs::read_to_string(fixture("events/edge_cases.csv")).unwrap();
    let (head, rows) = text.split_once('\n').unwrap();
    std::fs::write(&misspelt, format!("{},deadlin\n{rows}", head.trim_end())).unwrap();
    let out = join_tiny(dir.path(), &misspelt, "m.parquet");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("misspelt.csv: columns no contract column reads, left out: deadlin"),
        "{err}"
    );
    // A value in a column the row's kind does not carry (破案 given as an
    // incident's status, a rating on a visit, a household on an issue) is
    // left out, and the join counts it, naming no value.
    let mixed = dir.path().join("mixed.csv");
    let head = text.lines().next().unwrap();
    std::fs::write(
        &mixed,
        format!(
            "{head}\n\
             x1,incident,2026-03-02 00:00,115.005,38.506,盗窃,已破案,,,,,true,,\n\
             x2,visit,2026-03-03 10:00,115.015,38.515,入户走访,,,,满意,,,H-9,王五\n\
             x3,visit,2026-03-03 11:00,115.015,38.515,入户走访,,,,满意,,,H-8,\n\
             x4,issue,2026-03-04 10:00,115.015,38.505,其他,open,,,,,,H-7,\n"
        ),
    )
    .unwrap();
    let out = join_tiny(dir.path(), &mixed, "x.parquet");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "values in columns their kind does not carry, left out: `household` on 1 issue rows, \
             `status` on 1 incident rows, `satisfaction` on 2 visit rows"
        ),
        "{err}"
    );
    assert!(!err.contains("H-7"), "{err}");
}

#[test]
fn a_missing_file_is_one_clear_line_and_a_nonzero_exit() {
    let out = wangge()
        .args(["check", "/nonexistent/grids.geojson"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/grids.geojson"), "{err}");
    // An events file too, the system's reason said once (it was twice).
    let d = tempfile::tempdir().unwrap();
    let out = join_tiny(
        d.path(),
        std::path::Path::new("/nonexistent/e.csv"),
        "j.parquet",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/e.csv: cannot read: No such file"),
        "{err}"
    );
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

/// A config file named on the command line must exist: a mistyped path
/// stops the command instead of running on the defaults; a key it does not
/// know stops it too, named.
#[test]
fn a_named_config_file_that_is_missing_or_unknown_stops_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("wangge.tmol");
    for cmd in [&["serve"][..], &["ingest", "events.csv"], &["user", "list"]] {
        let out = wangge()
            .args(cmd)
            .arg("--data")
            .arg(dir.path())
            .arg("--config")
            .arg(&missing)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}: no such config file", missing.display())),
            "{cmd:?}: {err}"
        );
    }
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[server]\nadress = \"0.0.0.0:8080\"\n").unwrap();
    let out = wangge()
        .args(["serve", "--data"])
        .arg(dir.path())
        .arg("--config")
        .arg(&typo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("typo.toml: unknown settings: server.adress"),
        "{err}"
    );
}

/// `wangge ingest` adds the demo's events and then its transition rows as
/// Parquet; the same rows as CSV afterwards change nothing, so both formats
/// read the same steps.
#[test]
fn ingest_reads_updates_as_parquet_as_it_reads_csv() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = wangge().args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    run(&[
        &os("demo"),
        &os("--out"),
        d.as_os_str(),
        &os("--grids"),
        &os("600"),
        &os("--events"),
        &os("3000"),
    ]);
    let data = d.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(d.join("grids.geojson"), data.join("grids.geojson")).unwrap();
    run(&[
        &os("ingest"),
        &os("--data"),
        data.as_os_str(),
        d.join("events.csv").as_os_str(),
    ]);
    // The CSV as a Parquet file of strings, as an upstream export would write it.
    let mut df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(d.join("updates.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let parquet = d.join("updates.parquet");
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut df)
        .unwrap();
    let first = run(&[
        &os("ingest"),
        &os("--data"),
        data.as_os_str(),
        parquet.as_os_str(),
    ]);
    let rows = df.height();
    assert!(first.contains(&format!("{rows} rows read: ")), "{first}");
    let updated: u64 = first
        .split(" updated")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(updated > rows as u64 / 2, "{first}");
    let again = run(&[
        &os("ingest"),
        &os("--data"),
        data.as_os_str(),
        d.join("updates.csv").as_os_str(),
    ]);
    assert!(
        again.contains(&format!(
            "{rows} rows read: 0 updated, {rows} unchanged, 0 stale, 0 pending, 0 rejected"
        )),
        "{again}"
    );
}

/// A setting the service does not understand stops `serve` before it
/// binds, naming the setting: a typo never falls back to a default.
#[test]
fn serve_stops_on_a_setting_it_does_not_understand() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, named) in [
        ("WANGGE_INGEST_CRS", "wgs48", "ingest.crs"),
        ("WANGGE_INGEST_TZ", "Asia/Shangai", "ingest.tz"),
        ("WANGGE_SERVR_ADDR", "127.0.0.1:1", "not a setting"),
    ] {
        let out = wangge()
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .env(var, value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value} started the service");
        assert!(
            err.contains(named) && (err.contains(value) || err.contains(var)),
            "{err}"
        );
    }
}

/// `wangge bench load` loads a copy of a data directory's grids into a new
/// store per repetition, counts every row of both files, leaves the data
/// directory as it was and removes its stores.
#[test]
fn bench_load_counts_every_row_of_both_files_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (d, work) = (dir.path().join("demo"), dir.path().join("work"));
    std::fs::create_dir_all(&work).unwrap();
    let ok = wangge()
        .args(["demo", "--grids", "600", "--events", "3000", "--out"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let before: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = wangge()
        .args(["bench", "load", "--reps", "2", "--data"])
        .arg(&d)
        .arg("--work")
        .arg(&work)
        .output()
        .unwrap();
    let text = succeeded(&out);
    let lines = |name: &str| {
        std::fs::read_to_string(d.join(name))
            .unwrap()
            .lines()
            .count() as u64
            - 1
    };
    let reps: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reps.len(), 2, "{text}");
    for r in &reps {
        assert_eq!(r["events_rows"], lines("events.csv"), "{text}");
        assert_eq!(r["updates_rows"], lines("updates.csv"), "{text}");
        assert!(r["events_s"].as_f64().unwrap() > 0.0 && r["updates_s"].as_f64().unwrap() > 0.0);
    }
    assert!(text.contains("load: events 3000 rows in "), "{text}");
    assert!(text.contains("load: case updates "), "{text}");
    let after: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
    // A DuckDB side that cannot run is the bench's error, not a side
    // left out; its store is removed all the same.
    let bad = wangge()
        .args(["bench", "load", "--duckdb", "--reps", "1", "--data"])
        .arg(&d)
        .arg("--work")
        .arg(&work)
        .env("WANGGE_BENCH_PYTHON", "/nonexistent/python")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/python"));
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
}

/// `wangge user` refuses what would weaken a deployment and manages accounts.
#[test]
fn user_accounts_are_checked_and_managed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = wangge()
        .args(["demo", "--grids", "600", "--events", "1000", "--out"])
        .arg(d)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let grids = std::fs::read_to_string(d.join("grids.geojson")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&grids).unwrap();
    let code_at = |level: u64| -> String {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["properties"]["level"] == level)
            .map(|f| f["properties"]["code"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (town, grid) = (code_at(1), code_at(3));
    let user = |args: &[&str]| {
        let out = wangge()
            .arg("user")
            .args(args)
            .arg("--data")
            .arg(d)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    for (args, why) in [
        (
            vec!["add", "--role", "admin", "--password", "", "root"],
            "characters",
        ),
        (
            vec!["add", "--role", "admin", "--password", "short", "root"],
            "at least 10",
        ),
        (
            vec![
                "add",
                "--role",
                "admin",
                "--password",
                "root-root-root",
                "root",
            ],
            "user name",
        ),
        (
            vec![
                "add",
                "--role",
                "admin",
                "--password",
                "good horse 1",
                "two\nlines",
            ],
            "control",
        ),
        (
            vec!["add", "--role", "admin", "--password", "good horse 1", ""],
            "1-64",
        ),
        (
            vec![
                "add",
                "--role",
                "leader",
                "--scope",
                "999",
                "--password",
                "good horse 1",
                "l",
            ],
            "no unit",
        ),
        (
            vec![
                "add",
                "--role",
                "chief",
                "--scope",
                &town,
                "--password",
                "good horse 1",
                "c",
            ],
            "grids",
        ),
        (
            vec!["add", "--role", "leader", "--password", "good horse 1", "l"],
            "at least one --scope",
        ),
    ] {
        let (ok, text) = user(&args);
        assert!(!ok && text.contains(why), "{args:?}: {text}");
    }
    let (ok, text) = user(&[
        "add",
        "--role",
        "chief",
        "--scope",
        &grid,
        "--password",
        "good horse 1",
        "chief1",
    ]);
    assert!(ok, "{text}");
    let (_, text) = user(&["list"]);
    assert!(
        text.contains("chief1\tchief") && text.contains("enabled"),
        "{text}"
    );
    assert!(user(&["disable", "chief1"]).0);
    assert!(user(&["list"]).1.contains("disabled"));
    assert!(user(&["enable", "chief1"]).0);
    let (ok, text) = user(&["passwd", "chief1"]);
    assert!(ok && text.contains("password (shown once)"), "{text}");
    assert!(user(&["revoke", "chief1"]).0);
    let (ok, text) = user(&["disable", "nobody"]);
    assert!(!ok && text.contains("no user"), "{text}");
}

/// The soak of `wangge bench serve`, bounded: readers, writers and refused
/// logins at once on a small demo county, without a single 5xx or broken
/// connection (the ten-minute run is reported in the README).
#[test]
fn a_short_soak_of_mixed_traffic_has_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let joined = dir.path().join("joined.parquet");
    let run = |args: Vec<std::ffi::OsString>| {
        let out = wangge().args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    run(vec![
        os("demo"),
        os("--out"),
        data.clone().into(),
        os("--grids"),
        os("600"),
        os("--events"),
        os("20000"),
    ]);
    run(vec![
        os("join"),
        os("--grids"),
        data.join("grids.geojson").into(),
        os("--events"),
        data.join("events.csv").into(),
        os("--out"),
        joined.clone().into(),
        os("--secret"),
        data.join("secret.key").into(),
    ]);
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run(vec![
        os("bench"),
        os("serve"),
        os("--data"),
        data.into(),
        os("--joined"),
        joined.into(),
        os("--only"),
        os("soak"),
        os("--soak-secs"),
        os("20"),
        os("--events"),
        os("4000"),
        os("--addr"),
        os(&addr.to_string()),
    ]);
    let line = out
        .lines()
        .find(|l| l.contains("\"part\":\"soak\""))
        .unwrap_or_else(|| panic!("{out}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["errors"], 0, "{out}");
    assert!(
        v["reads"].as_u64().unwrap() > 10 && v["writes"].as_u64().unwrap() > 2,
        "{out}"
    );
    assert!(v["logins"].as_u64().unwrap() > 10, "{out}");
}

/// The demo's events joined by the binary, once per test run.
fn demo_joined() -> &'static std::path::Path {
    static J: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    J.get_or_init(|| {
        let demo = crate::api::support::demo_dir();
        let out = demo.join("cli-joined.parquet");
        let done = wangge()
            .args(["join", "--grids"])
            .arg(demo.join("grids.geojson"))
            .arg("--events")
            .arg(demo.join("events.csv"))
            .arg("--out")
            .arg(&out)
            .arg("--secret")
            .arg(demo.join("cli-secret.key"))
            .output()
            .unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        out
    })
}

fn emerging(extra: &[&str]) -> std::process::Output {
    let demo = crate::api::support::demo_dir();
    wangge()
        .args(["emerging", "--joined"])
        .arg(demo_joined())
        .arg("--grids")
        .arg(demo.join("grids.geojson"))
        .args(["--level", "1", "--from", "2025-01-01", "--to", "2025-06-30"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn emerging_reports_one_category_per_township_over_the_windowed_counts() {
    let out = emerging(&[
        "--metric",
        "issue_count",
        "--granularity",
        "month",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let units: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let units = units.as_array().unwrap();
    let demo = crate::api::support::demo_dir();
    let stats = wangge()
        .args(["stats", "--joined"])
        .arg(demo_joined())
        .arg("--grids")
        .arg(demo.join("grids.geojson"))
        .args(["--level", "1", "--from", "2025-01-01", "--to", "2025-06-30"])
        .args(["--metric", "issue_count", "--json"])
        .output()
        .unwrap();
    let table: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(units.len(), rows.len());
    let names = [
        "new",
        "consecutive",
        "intensifying",
        "persistent",
        "diminishing",
        "sporadic",
        "oscillating",
        "historical",
    ];
    for (u, row) in units.iter().zip(rows) {
        assert_eq!(u["code"], row["code"]);
        // The cube's six months add up to the window's count.
        let values = u["values"].as_array().unwrap();
        assert_eq!(values.len(), 6);
        let sum: f64 = values.iter().map(|v| v.as_f64().unwrap()).sum();
        assert_eq!(sum, row["values"]["issue_count"].as_f64().unwrap(), "{u}");
        let c = u["category"].as_str().unwrap();
        assert!(
            c == "no_pattern"
                || names
                    .iter()
                    .any(|n| c == format!("{n}_hot_spot") || c == format!("{n}_cold_spot")),
            "{c}"
        );
        let (tau, p) = (u["tau"].as_f64().unwrap(), u["p"].as_f64().unwrap());
        assert!(
            (-1.0..=1.0).contains(&tau) && (0.0..=1.0).contains(&p),
            "{u}"
        );
    }
    // Seeded permutations: the same answer twice.
    let again = emerging(&[
        "--metric",
        "issue_count",
        "--granularity",
        "month",
        "--json",
    ]);
    assert_eq!(out.stdout, again.stdout);
}

#[test]
fn emerging_prints_categories_in_both_languages_and_refuses_a_rate() {
    let out = emerging(&[
        "--metric",
        "event_count",
        "--granularity",
        "week",
        "--rules",
        "arcgis",
        "--fdr",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("arcgis rules") && text.contains("类别"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("无模式") && l.contains("No pattern detected"))
            || text.contains("热点")
            || text.contains("冷点"),
        "{text}"
    );
    let rate = emerging(&["--metric", "resolution_rate"]);
    assert_eq!(rate.status.code(), Some(2));
    let err = String::from_utf8_lossy(&rate.stderr);
    assert!(err.contains("resolution_rate is not a count"), "{err}");
    let bad = emerging(&["--metric", "issue_count", "--rules", "esri"]);
    assert!(!bad.status.success());
}

#[test]
fn a_metrics_export_asked_for_emerging_carries_the_categories_of_wangge_emerging() {
    let out = emerging(&["--metric", "issue_count", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let units: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: std::collections::HashMap<String, String> = units
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["code"].as_str().unwrap().to_owned(),
                u["category"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let demo = crate::api::support::demo_dir();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.csv");
    let export = wangge()
        .args(["export", "metrics", "--joined"])
        .arg(demo_joined())
        .arg("--grids")
        .arg(demo.join("grids.geojson"))
        .args(["--level", "1", "--from", "2025-01-01", "--to", "2025-06-30"])
        .args(["--emerging", "issue_count", "--format", "csv", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let mut csv = csv::Reader::from_path(&file).unwrap();
    let headers = csv.headers().unwrap().clone();
    let at = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (code, cat) = (at("code"), at("emerging"));
    let got: std::collections::HashMap<String, String> = csv
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[code].to_owned(), r[cat].to_owned())
        })
        .collect();
    assert_eq!(got, want);
    let rate = wangge()
        .args(["export", "metrics", "--joined"])
        .arg(demo_joined())
        .arg("--grids")
        .arg(demo.join("grids.geojson"))
        .args(["--emerging", "closure_rate", "--format", "csv", "--out"])
        .arg(dir.path().join("x.csv"))
        .output()
        .unwrap();
    assert!(!rate.status.success());
    assert!(String::from_utf8_lossy(&rate.stderr).contains("count metric"));
}

fn repeats(extra: &[&str]) -> std::process::Output {
    let demo = crate::api::support::demo_dir();
    wangge()
        .args(["repeats", "--joined"])
        .arg(demo_joined())
        .arg("--grids")
        .arg(demo.join("grids.geojson"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn repeats_lists_points_by_level_and_refuses_bad_parameters() {
    let points = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = repeats(extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let two = points(&["--days", "90", "--min", "2", "--json"]);
    let five = points(&["--days", "90", "--min", "5", "--json"]);
    assert!(!two.is_empty(), "the demo county has no repeat point");
    assert!(two.iter().all(|p| p["peak"].as_u64().unwrap() >= 2));
    // The points at level 5 are those at level 2 that peak at 5 or more.
    let at5: Vec<&serde_json::Value> = two
        .iter()
        .filter(|p| p["peak"].as_u64().unwrap() >= 5)
        .collect();
    assert_eq!(five.iter().collect::<Vec<_>>(), at5);
    for p in &two {
        assert!(p["count"].as_u64() >= p["peak"].as_u64());
        assert!(p["first_us"].as_i64() <= p["last_us"].as_i64());
        assert!(p["category"].is_string() && p["lon"].is_f64() && p["lat"].is_f64());
    }
    // A window keeps only its issues.
    let spring = points(&[
        "--days",
        "90",
        "--min",
        "2",
        "--from",
        "2025-03-01",
        "--to",
        "2025-05-31",
        "--json",
    ]);
    let (lo, hi) = (1_740_758_400_000_000i64, 1_748_707_200_000_000i64);
    assert!(spring.len() < two.len());
    assert!(spring
        .iter()
        .all(|p| p["first_us"].as_i64().unwrap() >= lo && p["last_us"].as_i64().unwrap() < hi));
    let table = repeats(&["--days", "90"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("3次以上") && text.contains("5次以上"),
        "{text}"
    );
    for bad in [&["--meters", "0"][..], &["--days", "0"], &["--min", "1"]] {
        let out = repeats(bad);
        assert!(!out.status.success(), "{bad:?}");
    }
}

/// A demo data directory of 600 grids and 3,000 events under `dir`.
fn small_demo(dir: &std::path::Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let out = wangge()
        .args(["demo", "--grids", "600", "--events", "3000", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

/// `wangge serve` of `dir` on a free port, once /readyz answers 200; the
/// process and the file its log goes to.
fn serving(dir: &std::path::Path) -> (std::process::Child, std::path::PathBuf) {
    use std::io::{Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.with_extension("log");
    let mut child = wangge()
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    loop {
        let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
            let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut head = String::new();
            let _ = s.read_to_string(&mut head);
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")
        });
        if ready {
            return (child, log);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{status}: {}", std::fs::read_to_string(&log).unwrap());
        }
        assert!(t.elapsed().as_secs() < 120, "not ready");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A file load into the store of a running server would never reach its
/// frame (its maps would leave the rows out until a restart): `ingest`
/// and a second `serve` stop, naming the server, and load once it stops.
#[test]
fn a_store_a_server_holds_is_not_loaded_into_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_demo(dir.path());
    let extra = dir.path().join("more.csv");
    std::fs::rename(data.join("events.csv"), &extra).unwrap();
    let (mut server, _) = serving(&data);
    let pid = format!("pid {}", server.id());
    let ingest = || {
        wangge()
            .args(["ingest", "--data"])
            .arg(&data)
            .arg(&extra)
            .output()
            .unwrap()
    };
    let refused = ingest();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains("in use") && err.contains(&pid) && err.contains("`wangge serve`"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&refused.stdout).is_empty());
    let second = wangge()
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success() && err.contains(&pid), "{err}");
    server.kill().unwrap();
    server.wait().unwrap();
    let loaded = ingest();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("3000 rows read"));
}

/// A data directory copied elsewhere (its files' times not kept, as a copy
/// by hand onto an intranet server goes) starts without loading its event
/// and case-update files again: the database knows them by name and bytes.
#[test]
fn a_copied_data_directory_does_not_load_its_files_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_demo(dir.path());
    // Serves `dir` until /readyz answers 200; its log.
    let serve = |dir: &std::path::Path| -> String {
        let (mut child, log) = serving(dir);
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::read_to_string(&log).unwrap()
    };
    let first = serve(&data);
    assert!(first.contains("events ingested"), "{first}");
    assert!(first.contains("case updates ingested"), "{first}");
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        // A copy made by hand that did not keep the files' times.
        let to = copy.join(entry.file_name());
        std::fs::copy(entry.path(), &to).unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        std::fs::File::options()
            .append(true)
            .open(&to)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    let second = serve(&copy);
    assert!(!second.contains("ingested"), "{second}");
    assert_eq!(second.matches("not loaded again").count(), 2, "{second}");
    // A changed events file is loaded again.
    let events = copy.join("events.csv");
    let mut text = std::fs::read_to_string(&events).unwrap();
    let last = text.lines().last().unwrap().to_owned();
    text.push_str(&last.replacen(&last[..last.find(',').unwrap()], "copied-1", 1));
    text.push('\n');
    std::fs::write(&events, text).unwrap();
    let third = serve(&copy);
    assert!(third.contains("events ingested"), "{third}");
    assert!(!third.contains("case updates ingested"), "{third}");
}
