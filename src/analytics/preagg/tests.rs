//! The tables against the polars queries they replace, row for row, and
//! their life: snapshots, appends, day windows.

use super::col_names as p;

use chrono::NaiveDate;

use super::runs::MAX_RUNS;
use super::*;
use crate::analytics::filter::{day_number, Query};
use crate::analytics::metrics::compute_metrics;
use crate::analytics::testutil::big;
use crate::vocab;

#[test]
fn the_count_table_adds_up_to_the_events() {
    let (_, df) = big(2, 2, 3, 5_000, 60);
    let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
    let total: u32 = pre
        .events
        .column(p::N)
        .unwrap()
        .u32()
        .unwrap()
        .sum()
        .unwrap();
    assert_eq!(total, 5_000);
    let issues = pre
        .events
        .clone()
        .lazy()
        .filter(col(c::KIND).eq(lit(pre.kind_code(ISSUE).unwrap())))
        .collect()
        .unwrap();
    assert_eq!(
        issues.column(p::N).unwrap().u32().unwrap().sum().unwrap() as usize,
        pre.issues.height()
    );
}

/// Rows of a frame in a canonical order, to compare tables built two ways.
fn canonical(df: &DataFrame) -> DataFrame {
    let by: Vec<PlSmallStr> = df.get_column_names().into_iter().cloned().collect();
    df.sort(by, SortMultipleOptions::default()).unwrap()
}

fn keys() -> Vec<Expr> {
    [
        c::TIER1,
        c::TIER2,
        c::TIER3,
        DAY,
        c::KIND,
        c::CATEGORY,
        c::SOURCE,
    ]
    .into_iter()
    .map(col)
    .collect()
}

/// The reference: the count table as a polars group-by over strings, the
/// events' shared outcome (their flags) part of the key.
fn events_reference(with_day: LazyFrame) -> DataFrame {
    let bit = |pred: Expr, value: u8| {
        when(pred.fill_null(false))
            .then(lit(i32::from(value)))
            .otherwise(lit(0i32))
    };
    let rating = |level: &str, r: u8| {
        bit(
            col(c::SATISFACTION).eq(lit(level)),
            r << flags::RATING_SHIFT,
        )
    };
    let flags = bit(
        col(c::KIND)
            .eq(lit(ISSUE))
            .and(col(c::STATUS).eq(lit(RESOLVED))),
        flags::RESOLVED,
    ) + rating(vocab::SATISFIED, 1)
        + rating(vocab::BASIC, 2)
        + rating(vocab::UNSATISFIED, 3)
        + bit(
            col(c::KIND).eq(lit(INCIDENT)).and(col(c::CLEARED)),
            flags::CLEARED,
        );
    let mut by = keys();
    by.push(flags.cast(DataType::UInt8).alias(p::FLAGS));
    with_day
        .group_by(by)
        .agg([len().cast(DataType::UInt32).alias(p::N)])
        .collect()
        .unwrap()
}

fn issues_reference(with_day: LazyFrame) -> DataFrame {
    let mut cols = keys();
    cols.extend([
        col(c::OCCURRED_AT).cast(DataType::Int64).alias(p::OCC_US),
        col(c::RESOLVED_AT).cast(DataType::Int64).alias(p::RES_US),
        col(c::DEADLINE).cast(DataType::Int64).alias(p::DUE_US),
        when(col(c::STATE).eq(lit("suspended")).fill_null(false))
            .then(
                when(col(c::RESUMED_AT).is_null())
                    .then(col(c::SUSPENDED_AT))
                    .otherwise(lit(NULL))
                    .cast(DataType::Int64)
                    .fill_null(col(c::UPDATED_AT).cast(DataType::Int64))
                    .fill_null(col(c::OCCURRED_AT).cast(DataType::Int64)),
            )
            .otherwise(lit(NULL).cast(DataType::Int64))
            .alias(p::SUSP_US),
        col(c::STATUS)
            .eq(lit(RESOLVED))
            .fill_null(false)
            .alias(p::IS_RESOLVED),
    ]);
    for (from, to) in c::FLOW.iter().zip(p::FLOW_US) {
        cols.push(col(*from).cast(DataType::Int64).alias(to));
    }
    cols.push(col(c::SOLVED).alias(p::SOLVED));
    cols.push(col(c::SATISFACTION).is_not_null().alias(p::RATED));
    cols.push(col(c::DUPLICATE).fill_null(false));
    cols.push(col(c::LON).cast(DataType::Float64));
    cols.push(col(c::LAT).cast(DataType::Float64));
    with_day
        .filter(col(c::KIND).eq(lit(ISSUE)))
        .select(cols)
        .collect()
        .unwrap()
}

fn households_reference(with_day: LazyFrame) -> DataFrame {
    let mut cols = keys();
    cols.push(col(c::HOUSEHOLD_HASH));
    let df = with_day
        .filter(
            col(c::KIND)
                .eq(lit(VISIT))
                .and(col(c::HOUSEHOLD_HASH).is_not_null()),
        )
        .select(cols)
        .unique(None, UniqueKeepStrategy::Any)
        .collect()
        .unwrap();
    let keys: Vec<Option<u64>> = df
        .column(c::HOUSEHOLD_HASH)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|h| h.map(household_key))
        .collect();
    let mut df = df.drop(c::HOUSEHOLD_HASH).unwrap();
    df.with_column(Column::new(p::HOUSEHOLD.into(), keys))
        .unwrap();
    df
}

/// A table of `pre` with strings for codes, columns in reference order.
fn decoded(pre: &PreAgg, df: &DataFrame) -> DataFrame {
    let t = df.column(T).unwrap().u32().unwrap();
    let mut out = pre.decode(df.clone()).unwrap();
    for (i, name) in [c::TIER1, c::TIER2, c::TIER3].into_iter().enumerate() {
        let v: StringChunked = t
            .iter()
            .map(|x| x.and_then(|x| pre.codes.tiers[x as usize][i].as_deref()))
            .collect();
        out.with_column(v.with_name(name.into()).into_column())
            .unwrap();
    }
    let mut names = vec![c::TIER1, c::TIER2, c::TIER3];
    names.extend(
        df.get_column_names()
            .into_iter()
            .map(|n| n.as_str())
            .filter(|n| *n != T),
    );
    out.select(names).unwrap()
}

#[test]
fn the_packed_tables_hold_the_rows_of_the_polars_queries() {
    use crate::analytics::testutil::{county, joined, Ev};
    let (_, big_df) = big(2, 2, 3, 5_000, 60);
    let gm = county();
    let small = joined(
        &gm,
        &[
            Ev::issue("2026-03-01 00:30", "G1"),
            Ev {
                grid: None,
                ..Ev::issue("2026-03-01 00:30", "G1")
            },
            Ev {
                grid: None,
                ..Ev::visit("2026-03-02 10:00", "G2", "h1")
            },
            Ev::visit("2026-03-02 10:00", "G2", "h1"),
            Ev::visit("2026-03-02 11:00", "G2", "h1"),
            Ev::incident("2026-02-28 23:59", "G3"),
        ],
    );
    for df in [big_df, small] {
        the_same_rows(df);
    }
}

/// Times with a fraction of a second keep their column in µs, the others
/// are held as seconds, and the tables still hold the queries' rows; a
/// build of each kind appended to the other reads back the same.
#[test]
fn times_with_fractions_of_a_second_keep_microseconds_and_the_same_rows() {
    let (_, df) = big(2, 2, 3, 2_000, 60);
    let occurred = df.column(c::OCCURRED_AT).unwrap().clone();
    let mut us: Vec<Option<i64>> = occurred
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    // Some rows of each half.
    for t in us.iter_mut().step_by(97) {
        *t = t.map(|t| t + 250_000);
    }
    let fraction = Int64Chunked::from_iter_options(c::OCCURRED_AT.into(), us.into_iter())
        .into_column()
        .cast(occurred.dtype())
        .unwrap();
    let mut exact = df.clone();
    exact.with_column(fraction).unwrap();
    let held = |pre: &PreAgg, name: &str| pre.issues.column(name).unwrap().dtype().clone();
    let whole = PreAgg::build(df.clone().lazy(), Zone::default()).unwrap();
    let fine = PreAgg::build(exact.clone().lazy(), Zone::default()).unwrap();
    assert_eq!(held(&whole, p::OCC_US), DataType::UInt32);
    assert_eq!(held(&fine, p::OCC_US), DataType::Int64);
    assert_eq!(held(&fine, p::RES_US), DataType::UInt32);
    the_same_rows(exact.clone());
    // Appended both ways: the issue rows of both builds, in µs.
    let n = df.height();
    for (a, b) in [(&df, &exact), (&exact, &df)] {
        let head = numbered(a.slice(0, n / 2), 0).unwrap();
        let tail = numbered(b.slice((n / 2) as i64, n - n / 2), n / 2).unwrap();
        let mut pre = PreAgg::build(head.lazy(), Zone::default()).unwrap();
        pre.append(&PreAgg::build(tail.lazy(), Zone::default()).unwrap())
            .unwrap();
        let mut both = a.slice(0, n / 2);
        both.vstack_mut(&b.slice((n / 2) as i64, n - n / 2))
            .unwrap();
        let direct = PreAgg::build(both.lazy(), Zone::default()).unwrap();
        assert_eq!(
            canonical(&decoded(&pre, &pre.issue_table_whole().unwrap())),
            canonical(&decoded(&direct, &direct.issue_table_whole().unwrap()))
        );
    }
}

fn the_same_rows(mut df: DataFrame) {
    let zone = Zone::default();
    let pre = PreAgg::build(df.clone().lazy(), zone).unwrap();
    let n = df.height();
    if df.column(c::STATE).is_err() {
        df.with_column(Column::new(c::STATE.into(), vec![None::<&str>; n]))
            .unwrap();
    }
    for name in std::iter::once(c::UPDATED_AT).chain(c::FLOW) {
        if df.column(name).is_err() {
            df.with_column(
                Column::new(name.into(), vec![None::<i64>; n])
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                    .unwrap(),
            )
            .unwrap();
        }
    }
    if df.column(c::SOLVED).is_err() {
        df.with_column(Column::new(c::SOLVED.into(), vec![None::<bool>; n]))
            .unwrap();
    }
    // The milestones come back whole from the issue table and the aside.
    let back = DataFrame::new_infer_height(pre.case_times(n).unwrap()).unwrap();
    assert_eq!(back, df.select(CASE_TIMES).unwrap());
    let with_day = df
        .lazy()
        .with_column(zone.local_day(c::OCCURRED_AT).alias(DAY));
    for (table, reference) in [
        (pre.events.clone(), events_reference(with_day.clone())),
        (
            pre.issue_table_whole().unwrap(),
            issues_reference(with_day.clone()),
        ),
        (pre.households.clone(), households_reference(with_day)),
    ] {
        // The issues' frame rows are checked above, through the milestones.
        let mut ours = decoded(&pre, &table);
        let _ = ours.drop_in_place(c::FRAME_ROW);
        let ours = canonical(&ours);
        let reference = canonical(&reference.select(ours.get_column_names()).unwrap());
        assert!(ours.equals_missing(&reference), "{ours}\n{reference}");
        let days = table.column(DAY).unwrap().i32().unwrap();
        assert!(days.iter().zip(days.iter().skip(1)).all(|(a, b)| a <= b));
    }
}

/// The dictionaries survive a snapshot, and appending a build with
/// other dictionaries recodes its rows into ours.
#[test]
fn categories_count_the_visible_units_events_by_kind_most_frequent_first() {
    use crate::analytics::testutil::{county, joined, Ev};
    let gm = county();
    let fraud = Ev {
        category: "诈骗",
        ..Ev::incident("2026-03-02 10:00", "G3")
    };
    let events = [
        Ev::issue("2026-03-01 09:00", "G1"),
        Ev {
            category: "环境卫生",
            ..Ev::issue("2026-03-01 09:00", "G1")
        },
        Ev {
            category: "环境卫生",
            ..Ev::issue("2026-03-05 09:00", "G2")
        },
        Ev::incident("2026-03-02 10:00", "G1"),
        fraud.clone(),
        fraud,
        Ev::visit("2026-03-03 15:00", "G2", "h1"),
    ];
    let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
    let row = |k: &str, c: &str, n: u64| CategoryCount {
        kind: k.into(),
        category: c.into(),
        events: n,
    };
    assert_eq!(
        pre.categories(&|_| true).unwrap(),
        vec![
            row("incident", "诈骗", 2),
            row("incident", "盗窃", 1),
            row("issue", "环境卫生", 2),
            row("issue", "矛盾纠纷", 1),
            row("visit", "入户走访", 1),
        ]
    );
    // Only grid G1's events: G3's fraud and G2's visit are not listed.
    let g1 = |t: &[Option<String>; 3]| t[2].as_deref() == Some("G1");
    assert_eq!(
        pre.categories(&g1).unwrap(),
        vec![
            row("incident", "盗窃", 1),
            row("issue", "环境卫生", 1),
            row("issue", "矛盾纠纷", 1),
        ]
    );
}

#[test]
fn codes_survive_snapshots_and_appends() {
    let (_, df) = big(2, 2, 3, 3_000, 60);
    let zone = Zone::default();
    let pre = PreAgg::build(df.clone().lazy(), zone).unwrap();
    let back = PreAgg::from_snapshot(pre.snapshot_tables().unwrap(), zone).unwrap();
    assert_eq!(back.codes, pre.codes);
    // The second half first: its dictionaries number values differently.
    let (a, b) = (
        super::numbered(df.slice(0, 1_500), 0).unwrap(),
        super::numbered(df.slice(1_500, 1_500), 1_500).unwrap(),
    );
    let mut parts = PreAgg::build(b.lazy(), zone).unwrap();
    parts
        .append(&PreAgg::build(a.lazy(), zone).unwrap())
        .unwrap();
    let n = |p: &PreAgg| p.events.column(p::N).unwrap().u32().unwrap().sum();
    assert_eq!(n(&pre), n(&parts));
    assert_eq!(
        canonical(&decoded(&pre, &pre.issue_table_whole().unwrap())),
        canonical(&decoded(&parts, &parts.issue_table_whole().unwrap()))
    );
}

#[test]
fn day_windows_are_cut_from_the_sorted_tables() {
    let (_, df) = big(2, 2, 3, 5_000, 60);
    let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
    let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
    let q = Query::window(d(1, 10), d(1, 20));
    let cut = pre.events_in(&q);
    let days = cut.column(DAY).unwrap().i32().unwrap();
    assert!(
        days.min().unwrap() >= day_number(d(1, 10)) && days.max().unwrap() < day_number(d(1, 20))
    );
    let all = pre
        .events
        .clone()
        .lazy()
        .filter(q.predicate())
        .collect()
        .unwrap();
    assert_eq!(cut.height(), all.height());
    assert_eq!(pre.events_in(&Query::window(d(6, 1), d(6, 2))).height(), 0);
    assert_eq!(
        pre.issues_before_end(&Query::default()).height(),
        pre.issues.height()
    );
}

/// Events folded in by [`PreAgg::append`], in batches whose days go
/// back and forth, answer every window like one build over them all.
#[test]
fn appended_batches_answer_like_one_build() {
    let (gm, df) = big(2, 2, 3, 6_000, 90);
    let zone = Zone::default();
    let whole = PreAgg::build(df.clone().lazy(), zone).unwrap();
    // Batches cut from a shuffled order: each spans the whole period.
    let n = df.height() as i64;
    let order: Vec<IdxSize> = (0..n as IdxSize)
        .map(|i| (i * 7_919) % n as IdxSize)
        .collect();
    let shuffled = df.take(&IdxCa::from_vec("i".into(), order)).unwrap();
    // Numbered as a server's frame numbers the batches it appends.
    let batch = |start: i64, len: usize| {
        super::numbered(shuffled.slice(start, len), start as usize).unwrap()
    };
    let mut pre = PreAgg::build(batch(0, 500).lazy(), zone).unwrap();
    let mut start = 500;
    for len in [50, 1_000, 7, 300, 2_000, 1, 900, 600, 642] {
        let part = PreAgg::build(batch(start, len).lazy(), zone).unwrap();
        pre.append(&part).unwrap();
        start += len as i64;
    }
    assert_eq!(start, n);
    // Recent rows after everything extend the last run instead.
    assert!(pre
        .run_counts()
        .iter()
        .all(|&r| (1..=MAX_RUNS).contains(&r)));
    let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
    for q in [
        Query::default(),
        Query::window(d(1, 10), d(1, 20)),
        Query::window(d(2, 1), d(3, 1)),
    ] {
        for level in 1..=3 {
            let a = compute_metrics(&whole, &gm, level, &q).unwrap();
            let b = compute_metrics(&pre, &gm, level, &q).unwrap();
            assert_eq!(
                serde_json::to_value(&a.rows).unwrap(),
                serde_json::to_value(&b.rows).unwrap(),
                "level {level}, {q:?}"
            );
        }
        assert_eq!(
            pre.events_in(&q).column(p::N).unwrap().u32().unwrap().sum(),
            whole
                .events_in(&q)
                .column(p::N)
                .unwrap()
                .u32()
                .unwrap()
                .sum()
        );
    }
}

#[test]
fn a_coded_frame_in_many_chunks_builds_the_tables_of_its_text() {
    // The server's frame: categoricals, cut into chunks. Some events lie
    // outside every unit or in no grid, and some grids' events name
    // another village than their grid's: each (township, village, grid)
    // triple gets its code as in text.
    let (_, df) = big(2, 2, 3, 5_000, 60);
    let r = || col("r");
    let null_text = || lit(NULL).cast(DataType::String);
    let df = df
        .lazy()
        .with_row_index("r", None)
        .with_columns([
            when(r().lt(lit(20)))
                .then(null_text())
                .otherwise(col(c::TIER1))
                .alias(c::TIER1),
            when(r().lt(lit(20)))
                .then(null_text())
                .when(r().lt(lit(3_000)).and(r().gt_eq(lit(2_950))))
                .then(lit("T01V01"))
                .otherwise(col(c::TIER2))
                .alias(c::TIER2),
            when(r().lt(lit(40)))
                .then(null_text())
                .otherwise(col(c::TIER3))
                .alias(c::TIER3),
        ])
        .drop(cols(["r"]))
        .collect()
        .unwrap();
    let zone = Zone::default();
    let text = PreAgg::build(df.clone().lazy(), zone).unwrap();
    let mut coded = crate::columns::encode(df.slice(0, 1_700)).unwrap();
    for (at, len) in [(1_700, 2_000), (3_700, 1_300)] {
        coded
            .vstack_mut(&crate::columns::encode(df.slice(at, len)).unwrap())
            .unwrap();
    }
    assert!(coded.column(c::TIER3).unwrap().dtype().is_categorical());
    assert_eq!(coded.first_col_n_chunks(), 3);
    let from_codes = PreAgg::build(coded.lazy(), zone).unwrap();
    assert_eq!(from_codes.codes, text.codes);
    assert!(from_codes.events.equals_missing(&text.events));
    assert!(from_codes
        .issue_table_whole()
        .unwrap()
        .equals_missing(&text.issue_table_whole().unwrap()));
    assert!(from_codes.households.equals_missing(&text.households));
    // Both kinds of triple were coded: with and without a grid, and a
    // grid under two villages.
    let triples = &from_codes.codes.tiers;
    assert!(triples.iter().any(|t| t[2].is_none() && t[0].is_some()));
    assert!(triples.iter().any(|t| t.iter().all(Option::is_none)));
    let grids: std::collections::HashSet<_> = triples.iter().filter_map(|t| t[2].clone()).collect();
    assert!(grids.len() < triples.iter().filter(|t| t[2].is_some()).count());
}

/// Cases changed in place (status, rating, unit, report day, milestones,
/// made invalid), their days aggregated again, answer every window, tier
/// and issue row like one build of the changed frame, and give the frame
/// back its milestones: from a frame holding them, and from the server's
/// frame without them plus the changed rows.
#[test]
fn cases_changed_in_place_answer_like_one_build_once_their_days_are_rebuilt() {
    let (gm, df) = big(2, 2, 3, 6_000, 90);
    let zone = Zone::default();
    // Two runs, as a server's tables have after appends.
    let mut pre = PreAgg::build(df.slice(0, 4_000).lazy(), zone).unwrap();
    let second = super::numbered(df.slice(4_000, 2_000), 4_000).unwrap();
    pre.append(&PreAgg::build(second.lazy(), zone).unwrap())
        .unwrap();
    assert_eq!(
        pre.case_time_rows().unwrap(),
        PreAgg::build(df.clone().lazy(), zone)
            .unwrap()
            .case_time_rows()
            .unwrap()
    );
    let idx = col("idx");
    let m = (idx.clone() % lit(37u32))
        .eq(lit(5u32))
        .and(col(c::KIND).neq(lit(VISIT)));
    let every = |k: u32| m.clone().and((idx.clone() % lit(k)).eq(lit(0u32)));
    let three_days = lit(3 * crate::analytics::filter::DAY_US);
    let changed = df
        .clone()
        .lazy()
        .with_row_index("idx", None)
        .with_columns([
            when(m.clone())
                .then(lit(RESOLVED))
                .otherwise(col(c::STATUS))
                .alias(c::STATUS),
            when(m.clone())
                .then(lit("satisfied"))
                .otherwise(col(c::SATISFACTION))
                .alias(c::SATISFACTION),
            when(every(5))
                .then(lit(INVALID_STATE))
                .otherwise(col(c::STATE))
                .alias(c::STATE),
            when(every(3))
                .then(
                    (col(c::OCCURRED_AT).cast(DataType::Int64) + three_days.clone())
                        .cast(DataType::Datetime(TimeUnit::Microseconds, None)),
                )
                .otherwise(col(c::OCCURRED_AT))
                .alias(c::OCCURRED_AT),
            when(m.clone())
                .then(
                    (col(c::OCCURRED_AT).cast(DataType::Int64) + three_days)
                        .cast(DataType::Datetime(TimeUnit::Microseconds, None)),
                )
                .otherwise(col(c::HANDLED_AT))
                .alias(c::HANDLED_AT),
            when(every(4))
                .then(lit(NULL).cast(DataType::Datetime(TimeUnit::Microseconds, None)))
                .otherwise(col(c::ACCEPTED_AT))
                .alias(c::ACCEPTED_AT),
        ])
        .with_columns([c::TIER1, c::TIER2, c::TIER3].map(|t| {
            when(every(2))
                .then(col(t).shift(lit(1)))
                .otherwise(col(t))
                .alias(t)
        }))
        .collect()
        .unwrap();
    let rows: Vec<usize> = changed
        .column("idx")
        .unwrap()
        .idx()
        .unwrap()
        .into_no_null_iter()
        .zip(df.column(c::KIND).unwrap().str().unwrap().iter())
        .filter(|&(i, k)| i % 37 == 5 && k != Some(VISIT))
        .map(|(i, _)| i as usize)
        .collect();
    let changed = changed.drop("idx").unwrap();
    let at = |f: &DataFrame, i: usize| {
        let t = f
            .column(c::OCCURRED_AT)
            .unwrap()
            .as_materialized_series()
            .to_physical_repr();
        t.i64().unwrap().get(i).unwrap()
    };
    let reported: Vec<i64> = rows
        .iter()
        .flat_map(|&i| [at(&df, i), at(&changed, i)])
        .collect();
    let days = zone.days_of_us(&reported);
    assert!(
        rows.len() > 50 && days.len() > 30,
        "{} rows, {} days",
        rows.len(),
        days.len()
    );
    let whole = PreAgg::build(changed.clone().lazy(), zone).unwrap();
    let stale = pre.replace_days(&changed, &[], None).unwrap();
    // The changed rows at their places, as `replace_rows` gives them.
    let newer = super::numbered(changed.clone(), 0)
        .unwrap()
        .take(&IdxCa::from_vec(
            "".into(),
            rows.iter().map(|&i| i as IdxSize).collect(),
        ))
        .unwrap();
    let lean = super::without_case_times(changed.clone());
    assert!(!lean.schema().contains(c::HANDLED_AT) && !lean.schema().contains(c::DEADLINE));
    let flow = changed.select(CASE_TIMES).unwrap();
    for rebuilt in [
        pre.replace_days(&changed, &days, None).unwrap(),
        pre.replace_days(&lean, &days, Some(&newer)).unwrap(),
    ] {
        assert_eq!(
            rebuilt.case_time_rows().unwrap(),
            whole.case_time_rows().unwrap()
        );
        let back = rebuilt.case_times(changed.height()).unwrap();
        assert_eq!(DataFrame::new_infer_height(back).unwrap(), flow);
        rebuilt_like_whole(&gm, &rebuilt, &whole, &stale);
    }
    // Without the newer rows, the lean frame keeps the old milestones: the
    // test can fail.
    let old = pre.replace_days(&lean, &days, None).unwrap();
    assert_ne!(
        old.case_time_rows().unwrap(),
        whole.case_time_rows().unwrap()
    );
}

fn rebuilt_like_whole(
    gm: &crate::grid::GridModel,
    rebuilt: &PreAgg,
    whole: &PreAgg,
    stale: &PreAgg,
) {
    let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
    let rows_of = |p: &PreAgg, level, q: &Query| {
        serde_json::to_value(&compute_metrics(p, gm, level, q).unwrap().rows).unwrap()
    };
    for q in [
        Query::default(),
        Query::window(d(1, 10), d(1, 20)),
        Query::window(d(2, 1), d(3, 1)),
    ] {
        for level in 1..=3 {
            assert_eq!(
                rows_of(rebuilt, level, &q),
                rows_of(whole, level, &q),
                "level {level}, {q:?}"
            );
        }
    }
    // Without the days, the change is not seen: the test can fail.
    assert_ne!(
        rows_of(stale, 3, &Query::default()),
        rows_of(whole, 3, &Query::default())
    );
    assert_eq!(
        canonical(&decoded(rebuilt, &rebuilt.issue_table_whole().unwrap())),
        canonical(&decoded(whole, &whole.issue_table_whole().unwrap()))
    );
    assert!(rebuilt
        .run_counts()
        .iter()
        .all(|&r| (1..=MAX_RUNS).contains(&r)));
    // Each run is still in day order.
    for (table, runs) in [
        (&rebuilt.events, &rebuilt.runs[0]),
        (&rebuilt.issues, &rebuilt.runs[1]),
    ] {
        let days = days_of(table).unwrap();
        for (k, &s) in runs.iter().enumerate() {
            let e = runs.get(k + 1).copied().unwrap_or(table.height());
            assert!(
                (s + 1..e).all(|i| days.get(i - 1) <= days.get(i)),
                "run {k}"
            );
        }
    }
}

/// Invalid cases (作废, 不予受理) are in no table and no dictionary: a
/// frame holding them builds the tables of the frame without them, as
/// text and coded.
#[test]
fn invalid_cases_build_the_tables_of_the_frame_without_them() {
    let (_, df) = big(2, 2, 3, 5_000, 60);
    let zone = Zone::default();
    let invalid = col(c::KIND)
        .eq(lit(ISSUE))
        .and(col("r").cast(DataType::Int64) % lit(7i64))
        .eq(lit(0i64))
        .or(col("r").lt(lit(3)));
    let marked = df
        .lazy()
        .with_row_index("r", None)
        .with_column(
            when(invalid.clone())
                .then(lit(INVALID_STATE))
                .otherwise(col(c::STATE))
                .alias(c::STATE),
        )
        // The first rows' category is only ever seen on invalid cases.
        .with_column(
            when(col("r").lt(lit(3)))
                .then(lit("作废专用类别"))
                .otherwise(col(c::CATEGORY))
                .alias(c::CATEGORY),
        )
        .collect()
        .unwrap();
    // Numbered as they are in the whole frame.
    let marked = super::numbered(marked, 0).unwrap();
    let kept = marked
        .clone()
        .lazy()
        .filter(
            col(c::STATE)
                .neq(lit(INVALID_STATE))
                .or(col(c::STATE).is_null()),
        )
        .drop(cols(["r"]))
        .collect()
        .unwrap();
    let marked = marked.drop("r").unwrap();
    assert!(kept.height() < marked.height() - 100);
    let (n, whole_flow) = (marked.height(), marked.select(CASE_TIMES).unwrap());
    let want = PreAgg::build(kept.lazy(), zone).unwrap();
    for frame in [marked.clone(), crate::columns::encode(marked).unwrap()] {
        let got = PreAgg::build(frame.lazy(), zone).unwrap();
        assert_eq!(got.codes, want.codes);
        assert!(!got.codes.categories.iter().any(|c| c == "作废专用类别"));
        assert!(got.events.equals_missing(&want.events));
        assert!(got
            .issue_table_whole()
            .unwrap()
            .equals_missing(&want.issue_table_whole().unwrap()));
        assert!(got.households.equals_missing(&want.households));
        // Only the invalid cases' milestones are set aside.
        assert_eq!(want.aside.height(), 0);
        assert!(got.aside.height() > 50, "{}", got.aside.height());
        let back = DataFrame::new_infer_height(got.case_times(n).unwrap()).unwrap();
        assert_eq!(back, whole_flow);
    }
}

/// The open-issue index is built once per version of the tables: clones
/// share it, a change starts it anew.
#[test]
fn the_open_issue_index_is_shared_by_clones_and_renewed_by_changes() {
    let (_, df) = big(2, 2, 3, 3_000, 60);
    let zone = Zone::default();
    let (early, late) = (df.slice(0, 2_000), df.slice(2_000, 1_000));
    let mut pre = PreAgg::build(numbered(early, 0).unwrap().lazy(), zone).unwrap();
    let copy = pre.clone();
    let built = copy.open_index().unwrap();
    assert!(built.rows_kept() > 0);
    assert!(std::sync::Arc::ptr_eq(&built, &pre.open_index().unwrap()));
    pre.append(&PreAgg::build(numbered(late, 2_000).unwrap().lazy(), zone).unwrap())
        .unwrap();
    let after = pre.open_index().unwrap();
    assert!(!std::sync::Arc::ptr_eq(&built, &after));
    assert!(std::sync::Arc::ptr_eq(&built, &copy.open_index().unwrap()));
    assert!(after.rows_kept() > built.rows_kept());
}
