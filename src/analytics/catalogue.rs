//! The metric catalogue: every metric defined once, with its stable name,
//! labels, unit, direction, the event kinds it needs and its formula.
//!
//! The API, the map legend, the exports and the CLI all read names and labels
//! from here, so a metric cannot mean one thing on the map and another in a
//! spreadsheet. Each metric is computed from the per-unit [`Ingredients`]
//! (additive counts of the window) and the unit's [`UnitContext`] (area,
//! households, number of grids); rates also expose their numerator and
//! denominator as a [`Ratio`] so rankings can build confidence intervals and
//! Empirical-Bayes estimates.

use crate::vocab;
use serde::Serialize;

use super::ingredients::{Ingredients, UnitContext};
use super::AnalyticsError;

/// What a metric's number is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricUnit {
    /// A count of events or households.
    Count,
    /// Events per km² of the unit's area.
    PerKm2,
    /// Events per 1,000 households; null when the unit has no household data.
    Per1000Households,
    /// Events per 100 visits.
    Per100Visits,
    /// Visits per tier-3 grid of the unit.
    PerGrid,
    /// A proportion in 0..=1, shown as a percentage.
    Ratio,
    /// Hours.
    Hours,
    /// Mean satisfaction score on the 3..=5 scale.
    Score,
}

/// Whether a larger value is good news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Larger is better (resolution rate).
    HigherIsBetter,
    /// Larger is worse (incidents per km², backlog).
    HigherIsWorse,
    /// Neither (visit counts, issue counts: more reports may mean better access).
    Neutral,
}

/// Numerator and denominator of a proportion metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// Successes (resolved, satisfied, cleared, households visited ...).
    pub num: f64,
    /// Trials (reported, rated, incidents, households ...).
    pub den: f64,
}

/// A metric's definition.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MetricDef {
    /// Stable snake_case name used by the API, exports and the CLI.
    pub name: &'static str,
    /// zh-CN label.
    pub zh: &'static str,
    /// English label.
    pub en: &'static str,
    /// Unit of the value.
    pub unit: MetricUnit,
    /// Whether larger is better.
    pub direction: Direction,
    /// Event kinds the metric reads.
    pub kinds: &'static [&'static str],
    /// The formula in words (English), for legends and exports; see [`catalogue()`].
    pub formula: &'static str,
    /// Additive count: gets 同比/环比 changes.
    pub is_count: bool,
    /// The value for a unit; `None` = no data (never silently zero).
    #[serde(skip)]
    pub value: fn(&Ingredients, &UnitContext) -> Option<f64>,
    /// Numerator and denominator, for proportion metrics.
    #[serde(skip)]
    pub ratio: Option<fn(&Ingredients, &UnitContext) -> Option<Ratio>>,
    /// Event count and exposure (area, thousands of households, grids,
    /// hundreds of visits), for Poisson-type rates: value = num / den.
    #[serde(skip)]
    pub exposure: Option<fn(&Ingredients, &UnitContext) -> Option<Ratio>>,
}

impl MetricDef {
    /// Whether the metric is a proportion with a binomial numerator/denominator.
    pub fn is_rate(&self) -> bool {
        self.ratio.is_some()
    }

    /// Whether the metric is a count per unit of exposure.
    pub fn is_poisson_rate(&self) -> bool {
        self.exposure.is_some()
    }

    /// Numerator and denominator of a proportion or of a Poisson-type rate.
    pub fn parts(&self, i: &Ingredients, cx: &UnitContext) -> Option<Ratio> {
        self.ratio.or(self.exposure).and_then(|f| f(i, cx))
    }

    /// The counts of events the figure is a function of (none for a
    /// figure of other counts): see [`EVENT_FIGURES`].
    pub fn event_counts(&self) -> &'static [EventCount] {
        EVENT_FIGURES
            .iter()
            .find(|(name, _)| *name == self.name)
            .map_or(&[], |(_, counts)| *counts)
    }

    /// "zh (name)" as tables print it.
    pub fn label(&self) -> String {
        format!("{} ({})", self.zh, self.name)
    }
}

/// The cases a statistic of cases is taken over (the hours, the
/// satisfaction score), for the small-cell rule: a median or a mean of a
/// few cases gives their values away. `None` for a count or a ratio,
/// whose own parts are weighed.
pub fn cases_behind(m: &MetricDef, i: &Ingredients) -> Option<u64> {
    match m.name {
        "response_hours" | "cycle_hours" | "median_hours_to_resolve" | "p90_hours_to_resolve" => {
            Some(i.closed)
        }
        "satisfaction_score" => Some(i.satisfied + i.basic + i.unsatisfied),
        _ => None,
    }
}

/// A unit's count of events, or of one kind of them: events = issues +
/// incidents + visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCount {
    Events,
    Issues,
    Incidents,
    Visits,
}

impl EventCount {
    pub const ALL: [EventCount; 4] = [
        EventCount::Events,
        EventCount::Issues,
        EventCount::Incidents,
        EventCount::Visits,
    ];

    /// The count in `i`.
    pub fn of(self, i: &Ingredients) -> f64 {
        (match self {
            EventCount::Events => i.issues + i.incidents + i.visits,
            EventCount::Issues => i.issues,
            EventCount::Incidents => i.incidents,
            EventCount::Visits => i.visits,
        }) as f64
    }
}

/// The figures that are functions of a unit's counts of events (each per
/// unit of something known: area, households, grids; or of visits), with
/// the counts each reads. A figure withheld gives its counts away through
/// the others: disclosure control withholds every figure of a count
/// withheld ([`event_complements`]).
pub const EVENT_FIGURES: [(&str, &[EventCount]); 12] = {
    use EventCount::*;
    [
        ("event_count", &[Events]),
        ("event_density", &[Events]),
        ("issue_count", &[Issues]),
        ("issue_density", &[Issues]),
        ("issues_per_1k_households", &[Issues]),
        ("incident_count", &[Incidents]),
        ("incident_density", &[Incidents]),
        ("incidents_per_1k_households", &[Incidents]),
        ("visit_count", &[Visits]),
        ("visits_per_grid", &[Visits]),
        ("issues_per_100_visits", &[Issues, Visits]),
        // Issues found on visits are a count of their own, but per visit
        // the figure gives the visits away (found ≤ issues ≤ events).
        ("issues_found_per_100_visits", &[Visits]),
    ]
};

/// The counts of events to withhold, given those withheld for themselves
/// (`withheld`, in [`EventCount::ALL`]'s order), the counts' sizes (the
/// figures the caller could not otherwise see: a unit's counts, or what
/// only hidden units make of them) and what a small cell is. Events =
/// issues + incidents + visits, so one count withheld alone is a
/// subtraction away: the smallest of the three kinds not withheld goes
/// with it (the complementary suppression of statistical tables). The
/// kinds withheld then still add up to the events less the kinds shown:
/// when that sum is a small cell itself, the events go too. The caller
/// withholds every figure of a count withheld.
pub fn event_complements(
    mut withheld: [bool; 4],
    sizes: [f64; 4],
    small: impl Fn(f64) -> bool,
) -> [bool; 4] {
    if withheld.iter().filter(|&&w| w).count() == 1 {
        let smallest = (1..4)
            .filter(|&k| !withheld[k])
            .min_by(|&a, &b| sizes[a].total_cmp(&sizes[b]));
        if let Some(k) = smallest {
            withheld[k] = true;
        }
    }
    let kinds: f64 = (1..4).filter(|&k| withheld[k]).map(|k| sizes[k]).sum();
    if withheld[1..].iter().any(|&w| w) && small(kinds) {
        withheld[0] = true;
    }
    withheld
}

const ISSUE: &[&str] = &[vocab::ISSUE];
const INCIDENT: &[&str] = &[vocab::INCIDENT];
const VISIT: &[&str] = &[vocab::VISIT];
const ISSUE_VISIT: &[&str] = &[vocab::ISSUE, vocab::VISIT];
const ALL: &[&str] = &vocab::KINDS;

fn div(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

fn ratio(num: u64, den: u64) -> Option<Ratio> {
    (den > 0).then_some(Ratio {
        num: num as f64,
        den: den as f64,
    })
}

fn per(n: u64, exposure: f64) -> Option<Ratio> {
    (exposure > 0.0).then_some(Ratio {
        num: n as f64,
        den: exposure,
    })
}

fn per_1k(n: u64, cx: &UnitContext) -> Option<Ratio> {
    cx.households.and_then(|h| per(n, h as f64 / 1000.0))
}

fn resolution(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.closed, i.cases)
}
fn on_time(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.on_time, i.due)
}
fn closure(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.closed_due, i.due_closure)
}
fn on_time_closure(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.closed_on_time, i.due_closure)
}
fn handling(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.handled, i.dispatched)
}
fn on_time_handling(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.handled_on_time, i.dispatched)
}
fn overdue_pending(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.overdue_pending, i.pending_handling)
}
fn rework(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.reworked, i.due_closure)
}
fn extension(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.extended, i.dispatched)
}
fn return_(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.returned, i.dispatched)
}
fn callback(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.closed_rated, i.closed)
}
fn solved(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.solved, i.solved_reported)
}
fn local_resolution(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.closed_local, i.closed)
}
fn satisfaction(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.satisfied, i.rated())
}
fn clearance(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.cleared, i.incidents)
}
fn coverage(i: &Ingredients, cx: &UnitContext) -> Option<Ratio> {
    // More distinct households than registered ones happens with stale
    // household figures; the numerator is capped so the rate stays a proportion.
    cx.households
        .and_then(|h| ratio(i.households_visited.min(h), h))
}
fn discovery(i: &Ingredients, _: &UnitContext) -> Option<Ratio> {
    ratio(i.discovered, i.sourced)
}

/// Every metric, in display order.
///
/// Formulas (all over events whose local date is in the window and that pass
/// the kind/category/source filters; "issues" = rows of kind `issue`):
///
/// - `event_count` = events of any kind; `issue_count`, `incident_count`,
///   `visit_count` = events of that kind.
/// - `*_density` = count / unit area (km²).
/// - `*_per_1k_households` = count × 1000 / households; null without household data.
/// - `resolved_count` = issues with status `resolved`.
/// - `resolution_rate` (办结率) = cases closed by the window end / cases
///   reported in the window. A *case* is an issue that repeats no other:
///   a report upstream linked to the case it repeats (`duplicate_of`, 重复件)
///   counts in `issue_count` and the other volumes, but in no case figure
///   (应结案, 结案率, backlog, handling, rework ...), so a merged case counts once.
/// - `on_time_rate` (按期办结率) = issues resolved at or before their deadline /
///   issues with a deadline that are due: resolved, or still open with the
///   deadline before the window end (open issues not yet due are left out).
/// - `median_hours_to_resolve`, `p90_hours_to_resolve` = median and 90th
///   percentile (linear interpolation) of resolved_at − occurred_at in hours,
///   over resolved issues of the window with both times and a non-negative duration.
/// - `backlog_open` (期末积压) = issues that occurred before the window end (now,
///   for a window without an end) and
///   were not resolved before it (all history, not only the window).
/// - `overdue_open` (超期未办结) = backlog issues whose deadline is before the window end,
///   not suspended (挂账) then.
/// - `satisfaction_rate` (满意率) = `satisfied` / rated (satisfied + basic + unsatisfied).
/// - `satisfaction_score` = (5·satisfied + 4·basic + 3·unsatisfied) / rated.
/// - `clearance_rate` (破案率) = incidents with `cleared` true / incidents.
/// - `households_visited` = distinct household hashes among visits.
/// - `visit_coverage` (走访覆盖率) = min(households_visited, households) / households.
/// - `visits_per_grid` = visits / number of tier-3 grids in the unit.
/// - `issues_per_100_visits` = issues × 100 / visits.
/// - `issues_found_per_100_visits` = issues found by patrols or visits × 100 / visits.
/// - `repeat_points_3`, `repeat_points_5` (重复投诉点位) = clusters of the
///   window's issues (same category, linked within 100 m and 30 days) whose
///   peak (most issues inside one 30-day span) is at least 3 or 5, each
///   counted in the unit most of its issues are in. Not additive over days.
/// - `discovery_rate` (发现率) = issues with source `patrol` or `visit` / issues
///   with a known source.
pub fn catalogue() -> &'static [MetricDef] {
    CATALOGUE
}

/// The metric with this name.
pub fn metric(name: &str) -> Result<&'static MetricDef, AnalyticsError> {
    CATALOGUE
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| AnalyticsError::UnknownMetric {
            name: name.to_owned(),
        })
}

macro_rules! m {
    ($name:literal, $zh:literal, $en:literal, $unit:ident, $dir:ident, $kinds:expr, $count:literal, $value:expr, $formula:literal) => {
        MetricDef {
            name: $name,
            zh: $zh,
            en: $en,
            unit: MetricUnit::$unit,
            direction: Direction::$dir,
            kinds: $kinds,
            formula: $formula,
            is_count: $count,
            value: $value,
            ratio: None,
            exposure: None,
        }
    };
    (poisson $name:literal, $zh:literal, $en:literal, $unit:ident, $dir:ident, $kinds:expr, $parts:expr, $formula:literal) => {
        MetricDef {
            name: $name,
            zh: $zh,
            en: $en,
            unit: MetricUnit::$unit,
            direction: Direction::$dir,
            kinds: $kinds,
            formula: $formula,
            is_count: false,
            value: {
                const PARTS: fn(&Ingredients, &UnitContext) -> Option<Ratio> = $parts;
                |i, cx| PARTS(i, cx).and_then(|r| div(r.num, r.den))
            },
            ratio: None,
            exposure: Some({
                const PARTS: fn(&Ingredients, &UnitContext) -> Option<Ratio> = $parts;
                PARTS
            }),
        }
    };
    (rate $name:literal, $zh:literal, $en:literal, $dir:ident, $kinds:expr, $ratio:expr, $formula:literal) => {
        MetricDef {
            name: $name,
            zh: $zh,
            en: $en,
            unit: MetricUnit::Ratio,
            direction: Direction::$dir,
            kinds: $kinds,
            formula: $formula,
            is_count: false,
            value: |i, cx| $ratio(i, cx).and_then(|r| div(r.num, r.den)),
            ratio: Some($ratio),
            exposure: None,
        }
    };
}

static CATALOGUE: &[MetricDef] = &[
    m!(
        "event_count",
        "事件总数",
        "Events",
        Count,
        Neutral,
        ALL,
        true,
        |i, _| Some((i.issues + i.incidents + i.visits) as f64), "events of any kind"),
    m!(
        "issue_count",
        "问题数",
        "Issues reported",
        Count,
        Neutral,
        ISSUE,
        true,
        |i, _| Some(i.issues as f64), "issues reported (kind issue)"),
    m!(
        "incident_count",
        "案件数",
        "Incidents",
        Count,
        HigherIsWorse,
        INCIDENT,
        true,
        |i, _| Some(i.incidents as f64), "incidents (kind incident)"),
    m!(
        "visit_count",
        "走访次数",
        "Visits",
        Count,
        HigherIsBetter,
        VISIT,
        true,
        |i, _| Some(i.visits as f64), "visits (kind visit)"),
    m!(
        "resolved_count",
        "办结数",
        "Issues resolved",
        Count,
        HigherIsBetter,
        ISSUE,
        true,
        |i, _| Some(i.closed as f64), "issues of the window closed by its end (as of the window end: a case closed later was open then)"),
    m!(
        "backlog_open",
        "期末积压",
        "Open backlog at window end",
        Count,
        HigherIsWorse,
        ISSUE,
        true,
        |i, _| Some(i.backlog as f64), "issues that occurred before the window end and were not resolved before it (all history)"),
    m!(
        "overdue_open",
        "超期未办结",
        "Overdue open issues",
        Count,
        HigherIsWorse,
        ISSUE,
        true,
        |i, _| Some(i.overdue as f64), "backlog issues whose deadline (in force then) is before the window end, not suspended (挂账) then: a suspension stops the clock"),
    m!(
        "households_visited",
        "走访户数",
        "Households visited",
        Count,
        HigherIsBetter,
        VISIT,
        true,
        |i, _| Some(i.households_visited as f64), "distinct household hashes among visits"),
    m!(
        "repeat_points_3",
        "重复投诉点位(3次以上)",
        "Repeat complaint points (3 or more)",
        Count,
        HigherIsWorse,
        ISSUE,
        true,
        |i, _| Some(i.repeat_points[0] as f64), "places where issues of one category came back: clusters of the window's issues (same category, each within 100 m and 30 days of another) with 3 or more inside one 30-day span, counted in the unit most of their issues are in"),
    m!(
        "repeat_points_5",
        "重复投诉点位(5次以上)",
        "Repeat complaint points (5 or more)",
        Count,
        HigherIsWorse,
        ISSUE,
        true,
        |i, _| Some(i.repeat_points[1] as f64), "as repeat_points_3, with 5 or more inside one 30-day span"),
    m!(poisson "event_density", "事件密度", "Events per km²", PerKm2, Neutral, ALL, |i, cx| per(i.issues + i.incidents + i.visits, cx.area_km2), "events / area km²"),
    m!(poisson "issue_density", "问题密度", "Issues per km²", PerKm2, Neutral, ISSUE, |i, cx| per(i.issues, cx.area_km2), "issues / area km²"),
    m!(poisson "incident_density", "案件密度", "Incidents per km²", PerKm2, HigherIsWorse, INCIDENT, |i, cx| per(i.incidents, cx.area_km2), "incidents / area km²"),
    m!(poisson "issues_per_1k_households", "每千户问题数", "Issues per 1,000 households", Per1000Households, Neutral, ISSUE, |i, cx| per_1k(i.issues, cx), "issues × 1000 / households (null without household data)"),
    m!(poisson "incidents_per_1k_households", "每千户案件数", "Incidents per 1,000 households", Per1000Households, HigherIsWorse, INCIDENT, |i, cx| per_1k(i.incidents, cx), "incidents × 1000 / households (null without household data)"),
    m!(rate "resolution_rate", "办结率", "Resolution rate", HigherIsBetter, ISSUE, resolution, "cases of the window closed by the window end / cases reported in the window (as of the window end; a report linked upstream to the case it repeats, 重复件, is in the call volume but no case of its own)"),
    m!(rate "on_time_rate", "按期办结率", "On-time resolution rate", HigherIsBetter, ISSUE, on_time, "issues closed by the window end at or before their deadline / issues with a deadline that are due (closed by the window end, or open past the deadline at it and not suspended (挂账) then)"),
    m!(rate "closure_rate", "结案率", "Closure rate", HigherIsBetter, ISSUE, closure, "closed / 应结案 (cases due for closure), as of the window end: 应结案 = issues reported in the window, not invalid, not suspended (挂账) at the window end (in their first suspension then, or in their current one), that were closed by the window end or whose deadline is at or before it (cases not yet due are left out, as published monthly reports do); a case closed after the window end counts as open, one re-opened after it as closed at its first closure, and a deadline extended after it as the one the extension replaced"),
    m!(rate "on_time_closure_rate", "按期结案率", "On-time closure rate", HigherIsBetter, ISSUE, on_time_closure, "cases of 应结案 closed by the window end at or before their deadline (a case without a deadline is on time) / 应结案"),
    m!(rate "handling_rate", "处置率", "Handling rate", HigherIsBetter, ISSUE, handling, "cases of the window dispatched by its end that were handled (处置完成 or closed) by it / cases of the window dispatched by its end (as of the window end)"),
    m!(rate "on_time_handling_rate", "按期处置率", "On-time handling rate", HigherIsBetter, ISSUE, on_time_handling, "cases of the window dispatched by its end and handled by it at or before the deadline in force (a case without a deadline is on time) / cases of the window dispatched by its end"),
    m!(
        "overdue_pending",
        "超期待处置",
        "Overdue cases awaiting handling",
        Count,
        HigherIsWorse,
        ISSUE,
        true,
        |i, _| Some(i.overdue_pending as f64), "cases of any time dispatched before the window end, neither handled nor closed before it, whose deadline (in force then) is before it, not suspended (挂账) then"),
    m!(rate "overdue_pending_rate", "超期待处置率", "Share of cases awaiting handling that are overdue", HigherIsWorse, ISSUE, overdue_pending, "超期待处置 / cases of any time dispatched before the window end and neither handled nor closed before it (待处置)"),
    m!(rate "rework_rate", "返工率", "Rework rate", HigherIsWorse, ISSUE, rework, "cases of 应结案 closed by the window end that were re-opened or failed a check (重办, 返工, 核查不通过) at least once by it / 应结案"),
    m!(rate "extension_rate", "延期率", "Extension rate", HigherIsWorse, ISSUE, extension, "cases of the window dispatched by its end whose deadline was extended (a later deadline than the one in force) by it / cases of the window dispatched by its end"),
    m!(rate "return_rate", "退单率", "Return rate", HigherIsWorse, ISSUE, return_, "cases of the window dispatched by its end that were returned (退回, 退单) at least once by it / cases of the window dispatched by its end"),
    m!(rate "callback_rate", "回访率", "Callback rate", HigherIsBetter, ISSUE, callback, "cases of the window closed by its end with a satisfaction rating / cases of the window closed by its end"),
    m!(rate "solved_rate", "实际解决率", "Actually solved rate", HigherIsBetter, ISSUE, solved, "closed cases of the window whose latest `solved` report says solved / closed cases of the window with a `solved` report (partly solved is not solved)"),
    m!(rate "local_resolution_rate", "就地化解率", "Local resolution rate", HigherIsBetter, ISSUE, local_resolution, "cases of the window closed by its end never escalated above their village (上报上级) by it / cases of the window closed by its end"),
    m!(
        "response_hours",
        "响应时长(小时)",
        "Response time (hours)",
        Hours,
        HigherIsWorse,
        ISSUE,
        false,
        |i, _| i.response_hours, "median hours from the report to the first action after it (any state but reported or invalid, from a transition or an open whole row), over cases of the window acted on by its end"),
    m!(
        "cycle_hours",
        "办理周期(小时)",
        "Handling cycle (hours)",
        Hours,
        HigherIsWorse,
        ISSUE,
        false,
        |i, _| i.cycle_hours, "mean hours from the first action (acceptance) to closure, over cases of the window closed by its end with a known first action"),
    m!(
        "median_hours_to_resolve",
        "办结时长中位数(小时)",
        "Median hours to resolve",
        Hours,
        HigherIsWorse,
        ISSUE,
        false,
        |i, _| i.median_hours, "median of resolved_at − occurred_at in hours over issues of the window closed by its end"),
    m!(
        "p90_hours_to_resolve",
        "办结时长90分位(小时)",
        "90th percentile hours to resolve",
        Hours,
        HigherIsWorse,
        ISSUE,
        false,
        |i, _| i.p90_hours, "90th percentile (linear) of resolved_at − occurred_at in hours over issues of the window closed by its end"),
    m!(rate "satisfaction_rate", "满意率", "Satisfaction rate", HigherIsBetter, ISSUE, satisfaction, "satisfied / rated (satisfied + basic + unsatisfied)"),
    m!(
        "satisfaction_score",
        "满意度得分",
        "Satisfaction score (3-5)",
        Score,
        HigherIsBetter,
        ISSUE,
        false,
        |i, _| {
            div(
                (5 * i.satisfied + 4 * i.basic + 3 * i.unsatisfied) as f64,
                i.rated() as f64,
            )
        }, "(5·satisfied + 4·basic + 3·unsatisfied) / rated"),
    m!(rate "clearance_rate", "破案率", "Incident clearance rate", HigherIsBetter, INCIDENT, clearance, "incidents cleared / incidents"),
    m!(rate "visit_coverage", "走访覆盖率", "Visit coverage of households", HigherIsBetter, VISIT, coverage, "min(distinct households visited, households) / households"),
    m!(poisson "visits_per_grid", "网格平均走访次数", "Visits per grid", PerGrid, HigherIsBetter, VISIT, |i, cx| per(i.visits, cx.grids as f64), "visits / tier-3 grids in the unit"),
    m!(poisson "issues_per_100_visits", "百次走访问题数", "Issues per 100 visits", Per100Visits, Neutral, ISSUE_VISIT, |i, _| per(i.issues, i.visits as f64 / 100.0), "issues × 100 / visits"),
    m!(poisson "issues_found_per_100_visits", "百次走访发现问题数", "Issues found per 100 visits", Per100Visits, HigherIsBetter, ISSUE_VISIT, |i, _| per(i.discovered, i.visits as f64 / 100.0), "issues from patrols or visits × 100 / visits"),
    m!(rate "discovery_rate", "发现率", "Share of issues found by patrols and visits", HigherIsBetter, ISSUE, discovery, "issues from patrols or visits / issues with a known source"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_labelled() {
        let mut names: Vec<&str> = catalogue().iter().map(|m| m.name).collect();
        for m in catalogue() {
            assert!(
                m.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{}",
                m.name
            );
            assert!(!m.zh.is_empty() && !m.en.is_empty() && !m.formula.is_empty());
            assert!(!m.kinds.is_empty());
        }
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn the_figures_of_event_counts_are_metrics_of_the_catalogue() {
        let i = Ingredients {
            issues: 2,
            incidents: 3,
            visits: 4,
            discovered: 1,
            ..Ingredients::default()
        };
        let cx = UnitContext {
            area_km2: 1.0,
            households: Some(1000),
            grids: 1,
        };
        for (n, counts) in EVENT_FIGURES {
            let m = metric(n).unwrap();
            assert_eq!(m.event_counts(), counts);
            assert!((m.value)(&i, &cx).is_some_and(|v| v > 0.0), "{n}");
        }
        assert!(metric("resolved_count").unwrap().event_counts().is_empty());
    }

    #[test]
    fn every_statistic_of_cases_names_the_cases_behind_it() {
        let i = Ingredients::default();
        for m in catalogue() {
            let weighed = m.is_count || m.ratio.is_some() || m.exposure.is_some();
            assert_eq!(
                cases_behind(m, &i).is_some(),
                !weighed,
                "{}: a figure the small-cell rule weighs by its parts or by its cases",
                m.name
            );
        }
    }

    #[test]
    fn one_count_withheld_takes_the_smallest_other_kind_with_it() {
        let small = |v: f64| v > 0.0 && v < 5.0;
        // Incidents withheld: the visits (smaller than the issues) too;
        // together 11, no small cell, so the events stay.
        let sizes = [24.0, 13.0, 3.0, 8.0];
        assert_eq!(
            event_complements([false, false, true, false], sizes, small),
            [false, false, true, true]
        );
        // The events withheld: one kind too, or their sum gives them.
        assert_eq!(
            event_complements([true, false, false, false], sizes, small),
            [true, false, true, false]
        );
        // Two withheld already, or none: nothing more.
        for w in [[false, true, false, true], [false; 4]] {
            assert_eq!(event_complements(w, sizes, small), w);
        }
        // 3 incidents and 1 visit: their sum, the events less the issues,
        // is 4, a small cell: the events go too.
        assert_eq!(
            event_complements([false, false, true, false], [20.0, 16.0, 3.0, 1.0], small),
            [true, false, true, true]
        );
    }

    #[test]
    fn an_unknown_metric_is_an_error_naming_it() {
        let e = metric("nope").unwrap_err();
        assert!(e.to_string().contains("nope"));
        assert_eq!(metric("resolution_rate").unwrap().zh, "办结率");
    }

    #[test]
    fn rates_are_null_on_a_zero_base_and_per_household_is_null_without_households() {
        let i = Ingredients::default();
        let cx = UnitContext {
            area_km2: 2.0,
            households: None,
            grids: 1,
        };
        for name in [
            "resolution_rate",
            "on_time_rate",
            "satisfaction_rate",
            "clearance_rate",
            "visit_coverage",
            "discovery_rate",
            "satisfaction_score",
            "issues_per_100_visits",
            "issues_per_1k_households",
        ] {
            let m = metric(name).unwrap();
            assert_eq!((m.value)(&i, &cx), None, "{name}");
        }
        assert_eq!((metric("issue_density").unwrap().value)(&i, &cx), Some(0.0));
        assert_eq!((metric("issue_count").unwrap().value)(&i, &cx), Some(0.0));
    }
}
