use chrono::NaiveDate;

#[test]
fn a_metric_reads_only_the_tables_its_formula_uses() {
    use crate::analytics::catalogue::metric;
    let parts = |name: &str| Parts::of(metric(name).unwrap());
    let none = Parts {
        lifecycle: false,
        durations: false,
        backlog: false,
        households: false,
        repeats: false,
    };
    assert_eq!(parts("issue_count"), none);
    assert_eq!(
        parts("backlog_open"),
        Parts {
            backlog: true,
            ..none
        }
    );
    assert_eq!(
        parts("on_time_rate"),
        Parts {
            lifecycle: true,
            ..none
        }
    );
    assert_eq!(
        parts("median_hours_to_resolve"),
        Parts {
            lifecycle: true,
            durations: true,
            ..none
        }
    );
    assert_eq!(
        parts("visit_coverage"),
        Parts {
            households: true,
            ..none
        }
    );
    for name in ["repeat_points_3", "repeat_points_5"] {
        assert_eq!(
            parts(name),
            Parts {
                repeats: true,
                ..none
            }
        );
    }
    // Every metric of the catalogue still reads what it did: a full
    // table computed with only its parts gives the same value.
    let gm = county();
    let df = joined(
        &gm,
        &[
            Ev::issue("2026-03-01 09:00", "G1"),
            Ev::visit("2026-03-02 10:00", "G2", "h1"),
            Ev::incident("2026-03-03 11:00", "G3"),
        ],
    );
    let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
    let q = Query::window(
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
    );
    let all = ingredients(&pre, &gm, 3, &q).unwrap();
    for def in catalogue() {
        let some = ingredients_of(&pre, &gm, 3, &q, Parts::of(def)).unwrap();
        for (code, ing) in &all {
            let cx = UnitContext {
                area_km2: 1.0,
                households: Some(100),
                grids: 1,
            };
            assert_eq!(
                (def.value)(ing, &cx),
                (def.value)(&some[code], &cx),
                "{} of {code}",
                def.name
            );
        }
    }
    // And over cases that move (dispatched, handled, late, reworked...):
    // one metric's values, as the map asks for them, are the full table's.
    let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 2_000, 60);
    let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
    for level in 1..=3 {
        let full = compute_metrics(&pre, &gm, level, &Query::default()).unwrap();
        for def in catalogue() {
            let mut some = 0;
            for (index, v) in metric_values(&pre, &gm, level, &Query::default(), def).unwrap() {
                let row = full.rows.iter().find(|r| r.index == index);
                let want = row.and_then(|r| r.value(def.name));
                assert_eq!(v, want, "{} at tier {level}, unit {index}", def.name);
                some += usize::from(v.is_some());
            }
            if def.name != "repeat_points_3" && def.name != "repeat_points_5" {
                assert!(
                    some > 0,
                    "{} has a value somewhere at tier {level}",
                    def.name
                );
            }
        }
    }
}

use super::*;
use crate::analytics::filter::{day_number, Zone};
use crate::analytics::testutil::{county, joined, Ev};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// The window alone ([`compute_window`]) and some units alone
/// ([`ingredients_for`]) have what the full table has.
#[test]
fn the_window_alone_and_some_units_have_the_full_tables_values() {
    let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 2_000, 60);
    let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
    let q = Query {
        zone: pre.zone,
        ..Query::window(d(2025, 1, 1), d(2025, 2, 1))
    };
    for level in 1..=3 {
        let full = compute_metrics(&pre, &gm, level, &q).unwrap();
        let alone = compute_window(&pre, &gm, level, &q).unwrap();
        assert!(full.rows.iter().any(|r| !r.pop.is_empty()));
        assert_eq!(full.rows.len(), alone.rows.len());
        for (a, b) in full.rows.iter().zip(&alone.rows) {
            assert_eq!(
                (&a.code, &a.values, &a.ingredients),
                (&b.code, &b.values, &b.ingredients)
            );
            assert!(b.yoy.is_empty() && b.pop.is_empty());
        }
        assert!(full.rows.iter().any(|r| r.ingredients.issues > 0));
        let some: Vec<usize> = full.rows.iter().step_by(3).map(|r| r.index).collect();
        let ings = ingredients_for(&pre, &gm, level, &q, Parts::ALL, &some).unwrap();
        assert_eq!(ings.len(), some.len());
        for (i, ing) in some.iter().zip(&ings) {
            let row = full.rows.iter().find(|r| r.index == *i).unwrap();
            assert_eq!(&row.ingredients, ing, "{}", row.code);
        }
        // Only their rows are read: every other place maps to no unit.
        let key = unit_key(&pre, &gm, level).unwrap();
        let only = key.only(&some);
        let kept: std::collections::BTreeSet<u32> =
            some.iter().filter_map(|&i| key.at[i]).collect();
        assert!(only.map.iter().flatten().all(|p| kept.contains(p)));
        assert_eq!(
            only.map.iter().filter(|p| p.is_some()).count(),
            key.map
                .iter()
                .flatten()
                .filter(|p| kept.contains(p))
                .count()
        );
    }
}

/// The loops of [`ingredients_of`] give what the reference polars
/// queries give, on every tier, with and without filters.
#[test]
fn the_loops_agree_with_the_polars_queries() {
    let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 5_000, 60);
    let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
    let filtered = Query {
        categories: vec!["环境卫生".into(), "盗窃".into()],
        sources: vec!["patrol".into()],
        ..Query::window(d(2025, 1, 10), d(2025, 2, 1))
    };
    let visits = Query {
        kinds: vec!["visit".into(), "issue".into()],
        ..Query::window(d(2025, 1, 1), d(2025, 1, 20))
    };
    for q in [Query::default(), filtered, visits] {
        let q = Query {
            zone: pre.zone,
            ..q
        };
        let end_us = q.end_us().unwrap_or(i64::MAX / 2);
        for level in 0..=3 {
            let key = unit_key(&pre, &gm, level).unwrap();
            let mut fast = Dense::new(key.names.len());
            add_counts(&pre, &pre.events_in(&q), &key, &q, &mut fast).unwrap();
            add_lifecycle(&pre, &pre.issues_in(&q), &key, &q, end_us, true, &mut fast).unwrap();
            add_backlog(&pre, &key, &q, end_us, &mut fast).unwrap();
            add_households(&pre, &pre.households_in(&q), &key, &q, &mut fast).unwrap();
            let fast: HashMap<String, Ingredients> = fast
                .written()
                .map(|(i, ing)| (key.names[i].clone(), ing.clone()))
                .collect();
            let mut slow = HashMap::new();
            for df in [
                counts_lazy(&pre, pre.events.clone().lazy(), &key, &q),
                lifecycle_lazy(
                    &pre,
                    pre.issue_table_whole().unwrap().lazy(),
                    &key,
                    &q,
                    end_us,
                ),
                backlog_lazy(
                    &pre,
                    pre.issue_table_whole().unwrap().lazy(),
                    &key,
                    &q,
                    end_us,
                ),
                households_lazy(&pre, pre.households_whole().unwrap().lazy(), &key, &q),
            ] {
                read_rows(&df.collect().unwrap(), &key, &mut slow, set_field).unwrap();
            }
            assert!(!fast.is_empty());
            // Hours may differ in the last bit (another summation order).
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                (a, b) => a == b,
            };
            assert_eq!(fast.len(), slow.len(), "level {level}, {q:?}");
            for (unit, a) in &fast {
                let b = &slow[unit];
                assert!(close(a.median_hours, b.median_hours), "{unit}");
                assert!(close(a.p90_hours, b.p90_hours), "{unit}");
                // The workflow counts have no lazy twin: the
                // scale-out job and the fixtures check them.
                let strip = |i: &Ingredients| {
                    let mut i = Ingredients {
                        median_hours: None,
                        p90_hours: None,
                        ..i.clone()
                    };
                    i.take_lifecycle(&Ingredients {
                        on_time: i.on_time,
                        due: i.due,
                        due_closure: i.due_closure,
                        closed_due: i.closed_due,
                        closed_on_time: i.closed_on_time,
                        ..Ingredients::default()
                    });
                    i.take_backlog(&Ingredients {
                        backlog: i.backlog,
                        overdue: i.overdue,
                        ..Ingredients::default()
                    });
                    i
                };
                assert_eq!(strip(a), strip(b), "{unit} level {level}, {q:?}");
            }
        }
    }
}

/// The repeat points per unit from the pre-aggregates' issue table are
/// the clusters the joined frame gives (`repeats`, what `/repeats` and
/// `wangge repeats` answer), counted where their home is, on every
/// tier, with and without filters.
#[test]
fn repeat_points_per_unit_are_the_frame_clusters_counted_at_home() {
    let (gm, mut df) = crate::analytics::testutil::big(2, 2, 3, 6_000, 90);
    // 100 places 220 m apart (never linked across), so each place
    // gathers issues of several categories over the 90 days.
    let place = |i: usize| ((i * 7_919) % 100) as f64;
    let n = df.height();
    let lon: Vec<f64> = (0..n).map(|i| 0.5 + (place(i) % 10.0) * 0.0025).collect();
    let lat: Vec<f64> = (0..n)
        .map(|i| 0.5 + (place(i) / 10.0).floor() * 0.002)
        .collect();
    df.with_column(Column::new(c::LON.into(), lon)).unwrap();
    df.with_column(Column::new(c::LAT.into(), lat)).unwrap();
    let pre = PreAgg::build(df.clone().lazy(), Zone::default()).unwrap();
    let queries = [
        Query::default(),
        Query {
            categories: vec!["环境卫生".into()],
            ..Query::window(d(2025, 1, 10), d(2025, 3, 1))
        },
        Query::window(d(2025, 2, 1), d(2025, 3, 1)),
    ];
    let (mut seen3, mut seen5) = (0, 0);
    for q in queries {
        let q = Query {
            zone: pre.zone,
            ..q
        };
        let found = repeats::repeats(
            df.clone().lazy(),
            &q,
            &repeats::RepeatParams::default(),
            repeats::LEVELS[0],
        )
        .unwrap();
        // `/repeats` clusters the issue table: the same clusters, field for
        // field (centres summed in frame order), over every grid and over
        // some of them.
        let params = repeats::RepeatParams::default();
        let report = |grids: Option<&[usize]>| {
            repeat_report(&pre, &gm, grids, 1, &q, &params, 2)
                .unwrap()
                .clusters
        };
        let json = |c: &[repeats::RepeatCluster]| serde_json::to_string(c).unwrap();
        let frame_two = repeats::repeats(df.clone().lazy(), &q, &params, 2).unwrap();
        assert_eq!(json(&report(None)), json(&frame_two));
        let some: Vec<usize> = gm.level(3).step_by(2).collect();
        let codes: Vec<&str> = some.iter().map(|&i| gm.unit(i).code.as_str()).collect();
        let in_some = col(c::TIER3).is_in(lit(Series::new("".into(), codes)).implode(false), false);
        let frame_some =
            repeats::repeats(df.clone().lazy().filter(in_some), &q, &params, 2).unwrap();
        assert!(!frame_some.is_empty() && frame_some.len() < frame_two.len());
        assert_eq!(json(&report(Some(&some))), json(&frame_some));
        for level in 1..=3 {
            let key = unit_key(&pre, &gm, level).unwrap();
            let mut fast = Dense::new(key.names.len());
            add_repeats(&pre, &key, &q, &mut fast).unwrap();
            let counts = repeats::counts_at(&gm, level, &found);
            for i in gm.level(level) {
                let code = &gm.unit(i).code;
                let ours = key.get(&fast, i).map_or([0, 0], |x| x.repeat_points);
                let theirs = counts[i].map(|c| c as u64);
                assert_eq!(ours, theirs, "{code} level {level}, {q:?}");
                seen3 += ours[0];
                seen5 += ours[1];
            }
        }
    }
    // The fixture has points at both levels, and fewer at 5 than at 3.
    assert!(seen5 > 0 && seen3 > seen5, "{seen3} {seen5}");
}

/// Repeat points are kept per pre-aggregate generation: an append
/// that completes a point shows at once, and a duplicate report counts.
#[test]
fn a_third_complaint_appended_makes_a_repeat_point() {
    let gm = county();
    let at = |t: &'static str| Ev {
        category: "噪音",
        ..Ev::issue(t, "G1")
    };
    let two = joined(&gm, &[at("2026-03-01 09:00"), at("2026-03-10 09:00")]);
    let mut pre = PreAgg::build(two.lazy(), Zone::default()).unwrap();
    let q = Query::window(d(2026, 3, 1), d(2026, 4, 1));
    let points = |pre: &PreAgg| {
        let v = metric_values(
            pre,
            &gm,
            3,
            &q,
            crate::analytics::catalogue::metric("repeat_points_3").unwrap(),
        )
        .unwrap();
        v.into_iter()
            .map(|(i, v)| (gm.unit(i).code.clone(), v.unwrap()))
            .filter(|(_, v)| *v > 0.0)
            .collect::<Vec<_>>()
    };
    assert!(points(&pre).is_empty());
    let third = joined(
        &gm,
        &[Ev {
            duplicate: true,
            ..at("2026-03-20 09:00")
        }],
    );
    pre.append(&PreAgg::build(third.lazy(), Zone::default()).unwrap())
        .unwrap();
    assert_eq!(points(&pre), vec![("G1".to_owned(), 1.0)]);
}

/// The tables of `df`, its rows numbered in the frame from `first`.
fn tables_of(df: &DataFrame, first: usize) -> PreAgg {
    let numbered = crate::analytics::preagg::numbered(df.clone(), first).unwrap();
    PreAgg::build(numbered.lazy(), Zone::default()).unwrap()
}

/// A day of 2025.
fn d25(m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, m, day).unwrap()
}

/// The windows of January and March 2025.
fn jan_and_march() -> (Query, Query) {
    (
        Query::window(d25(1, 1), d25(2, 1)),
        Query::window(d25(3, 1), d25(4, 1)),
    )
}

/// A test county's events of 2025 before March, from March on, and both in
/// that order (the frame the two are numbered in).
fn split_at_march() -> (GridModel, DataFrame, DataFrame, DataFrame) {
    let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 6_000, 90);
    let march = day_number(NaiveDate::from_ymd_opt(2025, 3, 1).unwrap());
    let part = |before: bool| {
        let day = Zone::default().local_day(c::OCCURRED_AT);
        let keep = if before {
            day.lt(lit(march))
        } else {
            day.gt_eq(lit(march))
        };
        df.clone().lazy().filter(keep).collect().unwrap()
    };
    let (early, late) = (part(true), part(false));
    assert!(early.height() > 1_000 && late.height() > 1_000);
    let mut frame = early.clone();
    frame.vstack_mut(&late).unwrap();
    (gm, early, late, frame)
}

/// A window's repeat points are kept while the pre-aggregates change on
/// other days (a live feed's new reports), and clustered again when a
/// change touches its days.
#[test]
fn repeat_points_outlive_changes_on_other_days() {
    let (_, early, late, frame) = split_at_march();
    let d = d25;
    let mut pre = tables_of(&early, 0);
    let (jan, mar) = jan_and_march();
    let first = pre.generation();
    let jan_points = cached_repeat_homes(&pre, &jan).unwrap();
    let mar_before = cached_repeat_homes(&pre, &mar).unwrap();
    assert!(!jan_points.is_empty() && mar_before.is_empty());
    // March's reports arrive: January's points are kept, March's made.
    pre.append(&tables_of(&late, early.height())).unwrap();
    assert!(pre.unchanged_between(first, jan.from.map(day_number), jan.to.map(day_number)));
    assert!(!pre.unchanged_between(first, mar.from.map(day_number), mar.to.map(day_number)));
    assert!(!pre.unchanged_between(first, None, None));
    let jan_after = cached_repeat_homes(&pre, &jan).unwrap();
    assert!(std::sync::Arc::ptr_eq(&jan_points, &jan_after));
    let mar_after = cached_repeat_homes(&pre, &mar).unwrap();
    assert!(!mar_after.is_empty());
    let sorted = |v: &[(u32, usize)]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    let fresh = repeat_points::repeat_homes(&pre, &mar).unwrap();
    assert_eq!(sorted(&mar_after), sorted(&fresh));
    // Cases of 20 January changed in place: January is clustered again.
    let changed = pre
        .replace_days(&frame, &[day_number(d(1, 20))], None)
        .unwrap();
    let jan_changed = cached_repeat_homes(&changed, &jan).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&jan_points, &jan_changed));
    assert_eq!(sorted(&jan_changed), sorted(&jan_points));
    let mar_kept = cached_repeat_homes(&changed, &mar).unwrap();
    assert!(std::sync::Arc::ptr_eq(&mar_after, &mar_kept));
    // Another line of tables (a unit's cut, a test's build) never takes
    // these: the same query clusters its own.
    let other = tables_of(&early, 0);
    assert!(!std::sync::Arc::ptr_eq(
        &jan_points,
        &cached_repeat_homes(&other, &jan).unwrap()
    ));
}

/// One pass over the issues gives each period's backlog, overdue and awaiting
/// handling (待处置) counts as a scan of all history per period does.
#[test]
fn backlog_series_matches_one_scan_per_period() {
    let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 6_000, 90);
    let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
    let tos: Vec<NaiveDate> = (0..40)
        .map(|k| d(2024, 12, 20) + chrono::Duration::days(3 * k))
        .collect();
    let only_backlog = Parts {
        lifecycle: false,
        durations: false,
        backlog: true,
        households: false,
        repeats: false,
    };
    for q in [
        Query::default(),
        Query {
            categories: vec!["环境卫生".into()],
            sources: vec!["patrol".into()],
            ..Query::default()
        },
    ] {
        for level in 1..=3 {
            let series = backlog_series(&pre, &gm, level, &q, &tos).unwrap();
            // Each of the four counts is seen above zero.
            let mut nonzero = [0; 4];
            for (k, to) in tos.iter().enumerate() {
                let pq = Query {
                    from: Some(*to - chrono::Duration::days(3)),
                    to: Some(*to),
                    ..q.clone()
                };
                let scan = ingredients_of(&pre, &gm, level, &pq, only_backlog).unwrap();
                for u in gm.level(level) {
                    let code = &gm.unit(u).code;
                    let want = scan.get(code).map_or([0; 4], |i| {
                        [i.backlog, i.overdue, i.pending_handling, i.overdue_pending]
                    });
                    let got = series[k].get(code).copied().unwrap_or_default();
                    let got = [got.backlog, got.overdue, got.pending, got.overdue_pending];
                    assert_eq!(got, want, "{code} at {to}, {q:?}");
                    for (seen, g) in nonzero.iter_mut().zip(got) {
                        *seen += usize::from(g > 0);
                    }
                }
            }
            assert!(nonzero.iter().all(|&n| n > 0), "{nonzero:?}");
        }
    }
}

/// The backlog read through the index of open issues is that of a scan
/// of every issue, at any end (the first of a month, mid-month, mid-day,
/// before the first report, after the last), on tables of several runs
/// and chunks and after cases changed in place.
#[test]
fn the_backlog_through_the_open_index_is_that_of_every_issue() {
    let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 6_000, 90);
    let zone = Zone::default();
    // A week reported late: its rows come after, in a run of their own.
    let (a, b) = (day_number(d(2025, 2, 10)), day_number(d(2025, 2, 17)));
    let part = |week: bool| {
        let day = zone.local_day(c::OCCURRED_AT);
        let on = day.clone().gt_eq(lit(a)).and(day.lt(lit(b)));
        let keep = if week { on } else { on.not() };
        df.clone().lazy().filter(keep).collect().unwrap()
    };
    let (early, late) = (part(false), part(true));
    let mut frame = early.clone();
    frame.vstack_mut(&late).unwrap();
    let numbered = |df: DataFrame, first| crate::analytics::preagg::numbered(df, first).unwrap();
    let mut appended = PreAgg::build(numbered(early.clone(), 0).lazy(), zone).unwrap();
    appended
        .append(&PreAgg::build(numbered(late, early.height()).lazy(), zone).unwrap())
        .unwrap();
    assert_eq!(appended.run_counts()[1], 2);
    assert!(appended.issue_chunks().unwrap().len() > 1);
    let changed = appended
        .replace_days(&frame, &[day_number(d(2025, 1, 20)), a + 2], None)
        .unwrap();
    let mut ends: Vec<i64> = (0..30)
        .map(|k| zone.midnight_us(d(2024, 12, 20) + chrono::Duration::days(4 * k)))
        .collect();
    ends.extend([ends[5] + 13 * 3_600_000_000, ends[17] + 1, ends[22] - 1]);
    ends.push(zone.midnight_us(d(2025, 3, 1)));
    let queries = [
        Query::default(),
        Query {
            categories: vec!["环境卫生".into(), "噪音".into()],
            ..Query::default()
        },
        Query {
            sources: vec!["hotline".into()],
            ..Query::default()
        },
    ];
    let mut open_seen = 0;
    for pre in [&appended, &changed] {
        let whole = pre.issue_table_whole().unwrap();
        for level in 1..=3 {
            let key = unit_key(pre, &gm, level).unwrap();
            for q in &queries {
                let f = pre.code_filter(q);
                for &end in &ends {
                    let mut got = Dense::new(key.names.len());
                    add_backlog(pre, &key, q, end, &mut got).unwrap();
                    let mut every = vec![backlog::Open::default(); key.names.len()];
                    for (_, part) in pre.issue_chunks().unwrap() {
                        let rows = 0..part.height();
                        backlog::count_open(pre, &part, &key, &f, end, rows, &mut every).unwrap();
                    }
                    let mut lazy = HashMap::new();
                    let df = backlog_lazy(pre, whole.clone().lazy(), &key, q, end);
                    read_rows(&df.collect().unwrap(), &key, &mut lazy, set_field).unwrap();
                    let got: HashMap<&str, &Ingredients> = got
                        .written()
                        .map(|(i, g)| (key.names[i].as_str(), g))
                        .collect();
                    assert_eq!(got.len(), lazy.len(), "level {level} at {end}, {q:?}");
                    for (i, name) in key.names.iter().enumerate() {
                        let Some(g) = got.get(name.as_str()) else {
                            assert_eq!(every[i], backlog::Open::default(), "{name}");
                            continue;
                        };
                        let want = &lazy[name];
                        let ctx = format!("{name} at {end}, {q:?}");
                        assert_eq!(
                            (g.backlog, g.overdue),
                            (want.backlog, want.overdue),
                            "{ctx}"
                        );
                        let e = every[i];
                        assert_eq!((g.backlog, g.overdue), (e.backlog, e.overdue), "{ctx}");
                        assert_eq!(
                            (g.pending_handling, g.overdue_pending),
                            (e.pending, e.overdue_pending),
                            "{ctx}"
                        );
                        open_seen += usize::from(g.pending_handling > 0 && g.overdue > 0);
                    }
                }
            }
        }
    }
    assert!(open_seen > 100, "{open_seen}");
}

#[test]
fn quantiles_interpolate_like_polars() {
    let mut v = vec![4.0, 1.0, 3.0, 2.0];
    assert_eq!(quantile(&mut v, 0.5), Some(2.5));
    assert_eq!(quantile(&mut v, 0.9), Some(3.7));
    assert_eq!(quantile(&mut [7.0], 0.9), Some(7.0));
    assert_eq!(quantile(&mut [], 0.5), None);
}

fn march() -> Query {
    Query::window(d(2026, 3, 1), d(2026, 4, 1))
}

/// The fixture whose numbers the tests below work out by hand.
fn events() -> Vec<Ev> {
    let issue = |at, grid| Ev::issue(at, grid);
    vec![
        // G1: at local midnight (28 Feb in UTC), resolved in 10 h, on time.
        Ev {
            status: Some("resolved"),
            resolved: Some("2026-03-01 10:30"),
            deadline: Some("2026-03-02 00:00"),
            satisfaction: Some("satisfied"),
            source: Some("patrol"),
            ..issue("2026-03-01 00:30", "G1")
        },
        // G1: resolved in 48 h, a day late.
        Ev {
            status: Some("resolved"),
            resolved: Some("2026-03-12 09:00"),
            deadline: Some("2026-03-11 09:00"),
            satisfaction: Some("basic"),
            source: Some("hotline"),
            ..issue("2026-03-10 09:00", "G1")
        },
        // G1: open and overdue at the window end.
        Ev {
            deadline: Some("2026-03-25 09:00"),
            source: Some("patrol"),
            ..issue("2026-03-20 09:00", "G1")
        },
        // G1: February, open, no deadline: backlog only.
        issue("2026-02-28 23:59", "G1"),
        Ev {
            cleared: Some(true),
            ..Ev::incident("2026-03-05 12:00", "G1")
        },
        Ev {
            cleared: Some(false),
            ..Ev::incident("2026-03-06 12:00", "G1")
        },
        Ev::visit("2026-03-03 10:00", "G1", "h1"),
        Ev::visit("2026-03-04 10:00", "G1", "h1"),
        Ev::visit("2026-03-04 11:00", "G1", "h2"),
        // Local midnight of 1 April: 31 March in UTC, but April locally.
        Ev::visit("2026-04-01 00:00", "G1", "h3"),
        // G2: resolved in 10 h, no deadline, unsatisfied, unknown source.
        Ev {
            status: Some("resolved"),
            resolved: Some("2026-03-15 20:00"),
            satisfaction: Some("unsatisfied"),
            ..issue("2026-03-15 10:00", "G2")
        },
        // G2: open, not yet due at the window end.
        Ev {
            deadline: Some("2026-04-05 00:00"),
            ..issue("2026-03-31 23:59", "G2")
        },
        // G3 (no household data): incidents last year, last month, this month.
        Ev::incident("2025-03-10 10:00", "G3"),
        Ev::incident("2026-03-10 10:00", "G3"),
        Ev::incident("2026-03-11 10:00", "G3"),
        Ev::incident("2026-02-10 10:00", "G3"),
        // Outside every unit.
        Ev {
            grid: None,
            ..issue("2026-03-05 10:00", "G1")
        },
        // A leap day.
        Ev::incident("2028-02-29 12:00", "G1"),
    ]
}

fn pre() -> (GridModel, PreAgg) {
    let gm = county();
    let pre = PreAgg::build(joined(&gm, &events()).lazy(), Zone::default()).unwrap();
    (gm, pre)
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn grid_metrics_match_the_hand_computation() {
    let (gm, pre) = pre();
    let t = compute_metrics(&pre, &gm, 3, &march()).unwrap();
    let g1 = t.row("G1").unwrap();
    let i = &g1.ingredients;
    assert_eq!((i.issues, i.incidents, i.visits, i.resolved), (3, 2, 3, 2));
    assert_eq!((i.on_time, i.due, i.backlog, i.overdue), (1, 3, 2, 1));
    assert_eq!(
        (i.satisfied, i.basic, i.unsatisfied, i.cleared),
        (1, 1, 0, 1)
    );
    assert_eq!((i.discovered, i.sourced, i.households_visited), (2, 3, 2));
    assert!(close(g1.value("resolution_rate"), 2.0 / 3.0));
    assert!(close(g1.value("on_time_rate"), 1.0 / 3.0));
    assert!(close(g1.value("median_hours_to_resolve"), 29.0));
    assert!(close(g1.value("p90_hours_to_resolve"), 44.2));
    assert!(close(g1.value("satisfaction_rate"), 0.5));
    assert!(close(g1.value("satisfaction_score"), 4.5));
    assert!(close(g1.value("clearance_rate"), 0.5));
    assert!(close(g1.value("visit_coverage"), 2.0 / 60.0));
    assert!(close(g1.value("visits_per_grid"), 3.0));
    assert!(close(g1.value("issues_per_100_visits"), 100.0));
    assert!(close(g1.value("issues_found_per_100_visits"), 200.0 / 3.0));
    assert!(close(g1.value("discovery_rate"), 2.0 / 3.0));
    assert!(close(g1.value("issue_density"), 3.0));
    assert!(close(g1.value("issues_per_1k_households"), 50.0));
    assert!(close(g1.value("backlog_open"), 2.0));
    assert!(close(g1.value("overdue_open"), 1.0));

    let g2 = t.row("G2").unwrap();
    assert!(close(g2.value("resolution_rate"), 0.5));
    assert_eq!(
        g2.value("on_time_rate"),
        None,
        "nothing due: no data, not 0%"
    );
    assert_eq!(g2.value("discovery_rate"), None);
    assert_eq!(g2.value("issues_per_100_visits"), None);
    assert!(close(g2.value("visit_coverage"), 0.0));
    assert!(close(g2.value("satisfaction_score"), 3.0));
    assert!(close(g2.value("median_hours_to_resolve"), 10.0));
    assert_eq!((g2.ingredients.backlog, g2.ingredients.overdue), (1, 0));

    let g3 = t.row("G3").unwrap();
    assert_eq!(
        g3.value("incidents_per_1k_households"),
        None,
        "no households is no data, never zero"
    );
    assert_eq!(g3.value("visit_coverage"), None);
    assert!(close(g3.value("incident_density"), 1.0));
}

/// A window ends before the first instant of the next: a case closed at
/// 00:00 on 1 April (what a closing date without a time gives) was open at
/// the end of March and is April's closure, as a report at that instant is
/// April's; it counted closed in March and in March's backlog at once. One
/// closed a minute before is March's.
#[test]
fn a_case_closed_at_midnight_on_the_first_is_the_next_month_s() {
    let gm = county();
    let events = vec![
        Ev {
            status: Some("resolved"),
            resolved: Some("2026-04-01 00:00"),
            deadline: Some("2026-04-01 00:00"),
            ..Ev::issue("2026-03-31 10:00", "G1")
        },
        Ev {
            status: Some("resolved"),
            resolved: Some("2026-03-31 23:59"),
            deadline: Some("2026-04-05 00:00"),
            ..Ev::issue("2026-03-31 10:00", "G2")
        },
    ];
    let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
    let t = compute_metrics(&pre, &gm, 3, &march()).unwrap();
    let g1 = &t.row("G1").unwrap().ingredients;
    // Open at the end of March, due at its first instant after: neither
    // closed, nor due for 结案率, nor overdue.
    assert_eq!(
        (g1.closed, g1.due_closure, g1.backlog, g1.overdue),
        (0, 0, 1, 0)
    );
    let g2 = &t.row("G2").unwrap().ingredients;
    assert_eq!((g2.closed, g2.closed_due, g2.backlog), (1, 1, 0));
    let spring = Query::window(d(2026, 3, 1), d(2026, 5, 1));
    let t = compute_metrics(&pre, &gm, 3, &spring).unwrap();
    let g1 = &t.row("G1").unwrap().ingredients;
    assert_eq!(
        (g1.closed, g1.closed_due, g1.closed_on_time, g1.backlog),
        (1, 1, 1, 0)
    );
}

#[test]
fn changes_have_defined_answers_for_zero_bases() {
    let (gm, pre) = pre();
    let t = compute_metrics(&pre, &gm, 3, &march()).unwrap();
    let g3 = t.row("G3").unwrap();
    assert_eq!(g3.yoy["incident_count"], change(2.0, 1.0));
    assert_eq!(g3.yoy["incident_count"].pct, Some(100.0));
    assert_eq!(g3.pop["incident_count"].pct, Some(100.0));
    let g1 = t.row("G1").unwrap();
    assert_eq!(
        g1.yoy["incident_count"].pct, None,
        "growth from nothing has no percentage"
    );
    assert_eq!(g1.yoy["incident_count"].abs, 2.0);
    assert_eq!(g1.pop["issue_count"].pct, Some(200.0));
    assert_eq!(g1.yoy["visit_count"].pct, None);
    assert_eq!(
        t.row("G2").unwrap().yoy["incident_count"].pct,
        Some(0.0),
        "0 → 0 is no change"
    );
}

#[test]
fn villages_and_townships_add_up_their_grids() {
    let (gm, pre) = pre();
    let v = compute_metrics(&pre, &gm, 2, &march()).unwrap();
    let v1 = v.row("V1").unwrap();
    assert_eq!(
        (
            v1.ingredients.issues,
            v1.ingredients.resolved,
            v1.context.households,
            v1.context.grids
        ),
        (5, 3, Some(100), 2)
    );
    assert!(close(v1.value("median_hours_to_resolve"), 10.0));
    assert!(close(v1.value("p90_hours_to_resolve"), 40.4));
    assert!(close(v1.value("issues_per_1k_households"), 50.0));
    let t = compute_metrics(&pre, &gm, 1, &march()).unwrap();
    assert_eq!(t.row("T2").unwrap().value("issues_per_1k_households"), None);
    assert_eq!(t.row("T1").unwrap().ingredients.incidents, 2);
    assert_eq!(t.row("T2").unwrap().ingredients.incidents, 2);
    assert!(compute_metrics(&pre, &gm, 4, &march()).is_err());
}

#[test]
fn an_empty_window_gives_zero_counts_null_rates_and_the_standing_backlog() {
    let (gm, pre) = pre();
    let t = compute_metrics(&pre, &gm, 3, &Query::window(d(2030, 1, 1), d(2030, 2, 1))).unwrap();
    let g1 = t.row("G1").unwrap();
    assert_eq!(g1.value("issue_count"), Some(0.0));
    assert_eq!(g1.value("resolution_rate"), None);
    assert_eq!(g1.value("median_hours_to_resolve"), None);
    assert_eq!((g1.ingredients.backlog, g1.ingredients.overdue), (2, 1));
    assert_eq!(t.rows.len(), 3);
}

#[test]
fn filters_by_source_category_and_leap_day() {
    let (gm, pre) = pre();
    let q = Query {
        sources: vec!["patrol".into()],
        ..march()
    };
    let g1 = compute_metrics(&pre, &gm, 3, &q)
        .unwrap()
        .row("G1")
        .unwrap()
        .ingredients
        .clone();
    assert_eq!((g1.issues, g1.incidents, g1.visits), (2, 2, 3));
    let q = Query {
        categories: vec!["盗窃".into()],
        ..march()
    };
    let g1 = compute_metrics(&pre, &gm, 3, &q)
        .unwrap()
        .row("G1")
        .unwrap()
        .ingredients
        .clone();
    assert_eq!((g1.issues, g1.incidents), (0, 2));
    let leap =
        compute_metrics(&pre, &gm, 3, &Query::window(d(2028, 2, 29), d(2028, 3, 1))).unwrap();
    let g1 = leap.row("G1").unwrap();
    assert_eq!(g1.value("incident_count"), Some(1.0));
    assert_eq!(g1.yoy["incident_count"].base, 0.0);
}

#[test]
fn the_wide_frame_has_every_metric_and_change_column() {
    let (gm, pre) = pre();
    let df = compute_metrics(&pre, &gm, 3, &march())
        .unwrap()
        .to_dataframe()
        .unwrap();
    assert_eq!(df.height(), 3);
    assert!(df.column("resolution_rate").is_ok());
    assert!(df.column("incident_count_yoy_pct").is_ok());
}

#[test]
fn the_county_root_sums_every_unit_but_not_the_outside() {
    use crate::analytics::testutil::{model, square, unit};
    let sq = square(0.0, 0.0, 0.01);
    let gm = model(vec![
        (unit("C", 0, None, 4.0, sq.clone()), None),
        (unit("T1", 1, None, 2.0, sq.clone()), Some("C")),
        (unit("T2", 1, None, 2.0, sq.clone()), Some("C")),
        (unit("V1", 2, None, 2.0, sq.clone()), Some("T1")),
        (unit("G1", 3, Some(10), 2.0, sq), Some("V1")),
    ]);
    let events = vec![
        Ev::incident("2026-03-02 10:00", "G1"),
        Ev::incident("2026-03-03 10:00", "G1"),
        Ev {
            grid: None,
            ..Ev::incident("2026-03-03 10:00", "G1")
        },
    ];
    let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
    let t = compute_metrics(&pre, &gm, 0, &march()).unwrap();
    assert_eq!(t.rows.len(), 1);
    let c = t.row("C").unwrap();
    // T2 has no household figure, so neither has the county: no data, not 10.
    assert_eq!(
        (
            c.ingredients.incidents,
            c.context.households,
            c.context.grids
        ),
        (2, None, 1)
    );
    assert!(close(c.value("incident_density"), 0.5));
}

/// A closed window's ingredients are kept while the pre-aggregates change
/// on other days (all days before its end when the backlog is read), and
/// computed again, the same as from scratch, when a change touches them.
#[test]
fn a_windows_ingredients_outlive_changes_on_other_days() {
    let (gm, early, late, frame) = split_at_march();
    let d = d25;
    let mut pre = tables_of(&early, 0);
    let (jan, mar) = jan_and_march();
    let no_backlog = Parts {
        backlog: false,
        repeats: false,
        ..Parts::ALL
    };
    let with_backlog = Parts {
        repeats: false,
        ..Parts::ALL
    };
    let kept = |pre: &PreAgg, level: u8, q: &Query, parts: Parts| {
        let key = unit_key(pre, &gm, level).unwrap();
        kept_dense(pre, &key, q, parts).unwrap()
    };
    // What the same query computes from scratch, as kept.
    let fresh = |pre: &PreAgg, level: u8, q: &Query, parts: Parts| {
        let key = unit_key(pre, &gm, level).unwrap();
        let d = compute_dense(pre, &key, q, parts).unwrap();
        d.written()
            .map(|(i, ing)| (i as u32, ing.clone()))
            .collect::<Vec<_>>()
    };
    let jan3 = kept(&pre, 3, &jan, no_backlog).unwrap();
    let jan_backlog = kept(&pre, 2, &jan, with_backlog).unwrap();
    assert!(jan3.iter().any(|(_, i)| i.cases > 0 && i.closed > 0));
    assert!(jan_backlog.iter().any(|(_, i)| i.backlog > 0));
    assert!(std::sync::Arc::ptr_eq(
        &jan3,
        &kept(&pre, 3, &jan, no_backlog).unwrap()
    ));
    // Another tier, parts, window or filter is another result.
    assert!(!std::sync::Arc::ptr_eq(
        &jan3,
        &kept(&pre, 2, &jan, no_backlog).unwrap()
    ));
    let mar_before = kept(&pre, 3, &mar, no_backlog).unwrap();
    assert!(mar_before.is_empty());
    // March's reports arrive: January's results are kept, with or without
    // the backlog (every day before its end is unchanged); March's made.
    pre.append(&tables_of(&late, early.height())).unwrap();
    let jan3_after = kept(&pre, 3, &jan, no_backlog).unwrap();
    assert!(std::sync::Arc::ptr_eq(&jan3, &jan3_after));
    assert_eq!(*jan3_after, fresh(&pre, 3, &jan, no_backlog));
    let jan_backlog_after = kept(&pre, 2, &jan, with_backlog).unwrap();
    assert!(std::sync::Arc::ptr_eq(&jan_backlog, &jan_backlog_after));
    assert_eq!(*jan_backlog_after, fresh(&pre, 2, &jan, with_backlog));
    let mar_after = kept(&pre, 3, &mar, no_backlog).unwrap();
    assert!(!mar_after.is_empty());
    assert_eq!(*mar_after, fresh(&pre, 3, &mar, no_backlog));
    // A window from March with the backlog reads January too: cases of
    // 20 January changed in place make it, and January, computed again.
    let mar_backlog = kept(&pre, 2, &mar, with_backlog).unwrap();
    let changed = pre
        .replace_days(&frame, &[day_number(d(1, 20))], None)
        .unwrap();
    for (level, q, parts, before) in [
        (3, &jan, no_backlog, &jan3),
        (2, &jan, with_backlog, &jan_backlog),
        (2, &mar, with_backlog, &mar_backlog),
    ] {
        let again = kept(&changed, level, q, parts).unwrap();
        assert!(!std::sync::Arc::ptr_eq(before, &again), "{q:?} {parts:?}");
        assert_eq!(*again, fresh(&changed, level, q, parts));
    }
    // March without the backlog reads none of January's days.
    assert!(std::sync::Arc::ptr_eq(
        &mar_after,
        &kept(&changed, 3, &mar, no_backlog).unwrap()
    ));
    // A window open at its end is as of now, and a unit's cut answers one
    // request: neither is kept.
    let open = Query {
        from: Some(d(1, 1)),
        ..Query::default()
    };
    assert!(kept(&changed, 3, &open, no_backlog).is_none());
    let cut = changed.cut(1, "T00").unwrap();
    assert!(cut.is_cut());
    assert!(kept(&cut, 3, &jan, no_backlog).is_none());
}

/// A window's clustering grows with new reports into what clustering the
/// grown tables from scratch gives, and is made again when an issue moved.
#[test]
fn a_windows_clustering_grows_with_new_reports() {
    use repeat_points::{in_grid, located, repeat_homes, Clustered};
    let (_, df) = crate::analytics::testutil::big(2, 2, 3, 6_000, 90);
    let zone = Zone::default();
    let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
    let day = zone.local_day(c::OCCURRED_AT);
    let between = |lo: NaiveDate, hi: NaiveDate| {
        df.clone()
            .lazy()
            .filter(
                day.clone()
                    .gt_eq(lit(day_number(lo)))
                    .and(day.clone().lt(lit(day_number(hi)))),
            )
            .collect()
            .unwrap()
    };
    let early = between(d(1, 1), d(3, 1));
    let slices = [
        between(d(3, 1), d(3, 5)),
        between(d(3, 5), d(3, 20)),
        between(d(3, 20), d(6, 1)),
    ];
    assert!(early.height() > 1_000 && slices.iter().all(|s| s.height() > 100));
    let q = Query::window(d(1, 1), d(4, 1));
    let sorted = |mut v: Vec<(u32, usize)>| {
        v.sort_unstable();
        v
    };
    let mut pre = tables_of(&early, 0);
    let located_now = |pre: &PreAgg| located(pre, &q, |t| in_grid(pre, t)).unwrap();
    let mut c = Clustered::of(&pre, &located_now(&pre)).unwrap();
    assert!(!c.homes().is_empty());
    assert_eq!(sorted(c.homes()), sorted(repeat_homes(&pre, &q).unwrap()));
    let (mut frame, mut grew) = (early.clone(), 0);
    for slice in &slices {
        pre.append(&tables_of(slice, frame.height())).unwrap();
        frame.vstack_mut(slice).unwrap();
        let loc = located_now(&pre);
        let grown = c.grown(&pre, &loc).expect("only new reports");
        let fresh = sorted(repeat_homes(&pre, &q).unwrap());
        assert_eq!(sorted(grown.homes()), fresh);
        // The same issues in another order (a table rebuilt): matched by
        // frame row.
        let mut shuffled = loc.clone();
        for v in [&mut shuffled.frame_rows, &mut shuffled.places] {
            v.reverse();
        }
        shuffled.points.reverse();
        let regrown = c.grown(&pre, &shuffled).expect("the same issues");
        assert_eq!(sorted(regrown.homes()), fresh);
        assert_eq!(sorted(Clustered::of(&pre, &loc).unwrap().homes()), fresh);
        // Points that were there and grew (a new report joined them).
        grew += c
            .points
            .iter()
            .filter(|p| !grown.points.contains(p))
            .count();
        c = grown;
    }
    assert!(grew > 0, "no point grew: the test reads nothing new");
    // Cases of 20 January rebuilt as they were: nothing to link.
    let jan20 = day_number(d(1, 20));
    let same = pre.replace_days(&frame, &[jan20], None).unwrap();
    let again = c.grown(&same, &located_now(&same)).expect("nothing moved");
    assert_eq!(sorted(again.homes()), sorted(c.homes()));
    // They moved 2 km east: made again, as from scratch.
    let moved = frame
        .clone()
        .lazy()
        .with_column(
            when(day.clone().eq(lit(jan20)))
                .then(col(c::LON) + lit(0.02))
                .otherwise(col(c::LON))
                .alias(c::LON),
        )
        .collect()
        .unwrap();
    let moved = pre.replace_days(&moved, &[jan20], None).unwrap();
    let loc = located_now(&moved);
    assert!(c.grown(&moved, &loc).is_none());
    assert_eq!(
        sorted(Clustered::of(&moved, &loc).unwrap().homes()),
        sorted(repeat_homes(&moved, &q).unwrap())
    );
}
