//! `updates.csv`: the demo county's issues as they move after their first
//! report, the way a 12345 or 数字城管 work-order system sends them.
//!
//! Each issue of `events.csv` gets 1-7 transition rows consistent with the
//! row it was reported with: acceptance and dispatch; for issues still open
//! at the report, handling and closing for most, suspension (挂账, resumed
//! and mostly closed later for some) or
//! invalidation (作废) for a few, returns (退单) and deadline extensions
//! for some; for closed issues, an escalation (上报上级) for a few, a
//! callback with the resident's rating and whether it was solved, and for
//! some a failed check (核查不通过) and a second closing; a few of those
//! closed after the report fail a check before their first closing. Like real
//! feeds, 1% of the rows are sent twice, the rows of 5% of the issues
//! arrive newest first (so older steps come late and are stale), and a few
//! updates name cases that never arrive (they stay pending).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::rng::Rng;
use super::timeline::END_SECS;
use super::DemoError;

/// Header of `updates.csv` (CONTRACT.md transition columns).
const HEADER: &str = "issue_id,update_id,at,status,deadline,satisfaction,solved,to_unit,note\n";

/// What [`write`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateCounts {
    pub rows: usize,
    pub issues: usize,
}

/// One issue as reported in `events.csv` (times in seconds).
struct Reported {
    id: String,
    occurred: i64,
    resolved: Option<i64>,
    deadline: Option<i64>,
    rated: bool,
}

fn secs(s: &str) -> Option<i64> {
    crate::ingest::time::parse_timestamp(s, chrono_tz::Asia::Shanghai)
        .ok()
        .map(|us| us.div_euclid(1_000_000))
}

fn stamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| {
            t.with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%dT%H:%M:%S+08:00")
                .to_string()
        })
        .unwrap_or_default()
}

/// The issues of an `events.csv` written by [`super::events::write`]
/// (rows the demo spoiled on purpose, and repeats, are skipped).
fn reported(events: &Path) -> Result<Vec<Reported>, DemoError> {
    let io = |source| DemoError::Io {
        path: events.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(events).map_err(io)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 10 || f[0].is_empty() || f[1] != "issue" || !seen.insert(f[0].to_owned()) {
            continue;
        }
        let Some(occurred) = secs(f[2]) else { continue };
        out.push(Reported {
            id: f[0].to_owned(),
            occurred,
            resolved: secs(f[7]),
            deadline: secs(f[8]),
            rated: !f[9].is_empty(),
        });
    }
    Ok(out)
}

/// Writes `updates.csv` for the issues of `events` (deterministic for a seed).
pub fn write(events: &Path, seed: u64, path: &Path) -> Result<UpdateCounts, DemoError> {
    let issues = reported(events)?;
    let mut r = Rng::stream(seed, 0x0005_7A7E);
    let mut out = String::from(HEADER);
    let mut counts = UpdateCounts {
        issues: issues.len(),
        ..UpdateCounts::default()
    };
    let mut rows: Vec<String> = Vec::with_capacity(5);
    for is in &issues {
        rows.clear();
        let mut n = 0;
        let mut row = |at: i64, status: &str, extra: [&str; 5]| {
            if at >= END_SECS {
                return;
            }
            n += 1;
            let mut line = String::new();
            let _ = writeln!(
                line,
                "{},u{n},{},{status},{},{},{},{},{}",
                is.id,
                stamp(at),
                extra[0],
                extra[1],
                extra[2],
                extra[3],
                extra[4]
            );
            rows.push(line);
        };
        let t0 = is.occurred;
        let h = 3600;
        let mut accepted = t0 + h / 2 + r.below(h as usize) as i64;
        let mut dispatched = t0 + 2 * h + r.below(2 * h as usize) as i64;
        // A case closed within hours was accepted and dispatched before
        // its closure: a dispatch after it would re-open the case.
        if let Some(done) = is.resolved.filter(|&d| d <= dispatched) {
            let span = (done - t0).max(0);
            (accepted, dispatched) = (t0 + span / 4, t0 + span / 2);
        }
        row(accepted, "受理", [""; 5]);
        row(dispatched, "派遣", ["", "", "", "街道城管办", ""]);
        match is.resolved {
            Some(done) => {
                if r.chance(0.03) && done - dispatched > 3 * h {
                    // Beyond the village: escalated to the county bureau.
                    row(
                        dispatched + h,
                        "上报上级",
                        ["", "", "", "市城管局", "超出村级处置能力"],
                    );
                }
                if r.chance(0.04) && done - dispatched > 6 * h {
                    row(dispatched + 3 * h, "退单", ["", "", "", "", "非本单位职责"]);
                }
                if r.chance(0.03) {
                    // The check fails and the case is done again.
                    row(done + 20 * h, "核查不通过", [""; 5]);
                    row(done + 70 * h, "结案", [""; 5]);
                } else if !is.rated && r.chance(0.6) {
                    let sat = ["满意", "基本满意", "不满意"][r.weighted(&[0.8, 0.15, 0.05])];
                    let solved = ["解决", "部分解决", "未解决"][r.weighted(&[0.85, 0.1, 0.05])];
                    row(done + 24 * h, "回访", ["", sat, solved, "", ""]);
                }
            }
            None => {
                let u = r.unit();
                if u < 0.01 {
                    row(dispatched + h, "作废", ["", "", "", "", "重复诉求"]);
                } else if u < 0.05 {
                    let suspended = dispatched + 5 * h;
                    row(suspended, "挂账", ["", "", "", "", "需专项资金"]);
                    if r.chance(0.4) {
                        // The funds come: work resumes, and most such
                        // cases are then handled and closed.
                        let resumed = suspended + (3 + r.below(30)) as i64 * 86_400;
                        row(resumed, "处置中", ["", "", "", "", "专项资金到位"]);
                        if r.chance(0.7) {
                            let done = resumed + (12 + r.below(120)) as i64 * h;
                            row(done - h, "已处置", [""; 5]);
                            row(done, "结案", [""; 5]);
                        }
                    }
                } else if u < 0.45 {
                    let due = is.deadline.unwrap_or(t0 + 7 * 86_400);
                    let extended = if r.chance(0.1) {
                        stamp(due + 5 * 86_400)
                    } else {
                        String::new()
                    };
                    row(
                        dispatched + 6 * h,
                        "处置中",
                        [extended.as_str(), "", "", "", ""],
                    );
                    let done = dispatched + (12 + r.below(200)) as i64 * h;
                    if (done / 60) % 12 == 0 && done - dispatched > 12 * h {
                        // Handled, but the check fails before any closure
                        // (rework, not a re-open), and it is handled again.
                        row(done - 5 * h, "已处置", [""; 5]);
                        row(done - 4 * h, "核查不通过", ["", "", "", "", "整改不到位"]);
                    }
                    row(done - h, "已处置", [""; 5]);
                    row(done, "结案", [""; 5]);
                } else {
                    row(dispatched + 6 * h, "处置中", [""; 5]);
                }
            }
        }
        if r.chance(0.05) {
            rows.reverse();
        }
        for line in &rows {
            out.push_str(line);
            counts.rows += 1;
            if r.chance(0.01) {
                out.push_str(line);
                counts.rows += 1;
            }
        }
    }
    // Updates of cases the feed never delivers.
    for k in 0..(issues.len() / 2000).max(1) {
        let _ = writeln!(out, "X{k:07},u1,{},受理,,,,,", stamp(END_SECS - 86_400));
        counts.rows += 1;
    }
    let mut f = std::fs::File::create(path).map_err(|source| DemoError::Io {
        path: path.to_owned(),
        source,
    })?;
    f.write_all(out.as_bytes())
        .map_err(|source| DemoError::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok(counts)
}
