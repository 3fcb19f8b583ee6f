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

#[test]
fn join_writes_a_summary_whose_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = wangge()
        .args(["join", "--grids"])
        .arg(fixture("grids/tiny_county.geojson"))
        .arg("--events")
        .arg(fixture("events/edge_cases.csv"))
        .arg("--out")
        .arg(dir.path().join("j.parquet"))
        .arg("--secret")
        .arg(dir.path().join("secret.key"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("17 rows read: 5 matched, 2 partial, 1 outside, 9 rejected (1 duplicates)"),
        "{text}"
    );
    assert!(dir.path().join("j.rejects.csv").exists());
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
}
