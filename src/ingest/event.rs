//! One event, validated: the typed form of a CONTRACT.md row.

use serde::Serialize;

use crate::vocab::{self, lower};

use super::crs::Crs;
use super::privacy::{shown, KeyedHasher};
use super::time::parse_timestamp;

/// The three event streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 群众反映问题/诉求: a resident's issue report.
    Issue,
    /// 治安/刑事/行政案件: a security incident.
    Incident,
    /// 走访/接访: a cadre's visit.
    Visit,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Issue => vocab::ISSUE,
            Kind::Incident => vocab::INCIDENT,
            Kind::Visit => vocab::VISIT,
        }
    }

    /// Accepts the contract's names and the Chinese ones upstream systems use.
    pub fn parse(s: &str) -> Option<Kind> {
        match lower(s.trim()).as_ref() {
            vocab::ISSUE | "诉求" | "问题" | "群众诉求" => Some(Kind::Issue),
            vocab::INCIDENT | "案件" | "治安" => Some(Kind::Incident),
            vocab::VISIT | "走访" | "接访" => Some(Kind::Visit),
            _ => None,
        }
    }
}

/// A value as a source gives it: text from CSV/JSON, typed from Parquet/JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Null,
    Text(&'a str),
    Num(f64),
    /// An integer, kept exact: an id or a household number of 18 digits
    /// read as a float would lose its last digits and merge with others.
    Int(i128),
    Bool(bool),
    /// Microseconds since the epoch, UTC (Parquet timestamp columns
    /// adjusted to UTC).
    Time(i64),
    /// Microseconds of a wall-clock reading without a zone (Parquet
    /// timestamp columns not adjusted to UTC): read in the configured zone.
    Wall(i64),
}

/// The contract's columns, in order; readers map their headers onto these.
pub const FIELDS: [&str; 16] = [
    "id",
    "kind",
    "occurred_at",
    "lon",
    "lat",
    "category",
    "status",
    "resolved_at",
    "deadline",
    "satisfaction",
    "source",
    "cleared",
    "household",
    "visitor",
    "updated_at",
    "duplicate_of",
];

/// Position of a contract column in [`FIELDS`].
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub enum Col {
    Id,
    Kind,
    OccurredAt,
    Lon,
    Lat,
    Category,
    Status,
    ResolvedAt,
    Deadline,
    Satisfaction,
    Source,
    Cleared,
    Household,
    Visitor,
    UpdatedAt,
    DuplicateOf,
}

/// A validated event (coordinates in WGS84, times in µs UTC, personal data hashed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: String,
    pub kind: Kind,
    pub occurred_at: i64,
    pub lon: f64,
    pub lat: f64,
    pub category: String,
    /// Issue: `open` or `resolved`, the summary of [`Event::state`] the metrics read.
    pub status: Option<&'static str>,
    /// Issue: the canonical lifecycle state ([`super::state`]).
    pub state: Option<&'static str>,
    pub resolved_at: Option<i64>,
    pub deadline: Option<i64>,
    pub satisfaction: Option<&'static str>,
    pub source: Option<&'static str>,
    pub cleared: Option<bool>,
    pub household_hash: Option<String>,
    pub visitor_hash: Option<String>,
    /// When the source last changed this row (µs UTC): orders re-sent versions.
    pub updated_at: Option<i64>,
    /// Issue: when the case first reached each step of the work.
    pub flow: super::state::Flow,
    /// Issue: the id of the case this one repeats (重复件, same source
    /// system), as upstream linked them: the report stays in the call
    /// volume, the case is counted once (under the one it repeats).
    pub duplicate_of: Option<String>,
    /// The source system whose id space `id` belongs to (empty: the
    /// county's own); set from the writer, never read from the row.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system: String,
}

impl Event {
    /// An event of `kind` with what every event has, every optional field
    /// empty: what the validator and the API fill in.
    pub fn new(
        id: String,
        kind: Kind,
        occurred_at: i64,
        lon: f64,
        lat: f64,
        category: String,
    ) -> Event {
        Event {
            id,
            kind,
            occurred_at,
            lon,
            lat,
            category,
            status: None,
            state: None,
            resolved_at: None,
            deadline: None,
            satisfaction: None,
            source: None,
            cleared: None,
            household_hash: None,
            visitor_hash: None,
            updated_at: None,
            flow: Default::default(),
            duplicate_of: None,
            system: String::new(),
        }
    }

    /// A test's event: `id` of `kind` at 115.0°E 38.5°N, occurred at
    /// 1,000 µs, category 环境卫生, every optional field empty.
    #[cfg(test)]
    pub(crate) fn bare(id: &str, kind: Kind) -> Event {
        Event::new(id.into(), kind, 1_000, 115.0, 38.5, "环境卫生".into())
    }
}

impl Event {
    /// The time of this version: its `updated_at`, else its closing time
    /// when closed, else when it occurred.
    pub fn version_time(&self) -> i64 {
        self.updated_at
            .or(self
                .resolved_at
                .filter(|_| self.state.is_some_and(super::state::is_closed)))
            .unwrap_or(self.occurred_at)
    }

    /// The milestones this version shows by itself: a closed version was
    /// first closed by its closing time, when it gives one.
    pub fn version_flow(&self) -> super::state::Flow {
        let mut f = super::state::Flow::of_version(self.state, self.version_time());
        if let (Some(r), Some(c)) = (self.resolved_at, f.first_closed_at) {
            f.first_closed_at = Some(r.min(c));
        }
        f
    }
}

/// Why a row was rejected: the column at fault and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub column: &'static str,
    pub reason: String,
}

/// A column of an input table, by its contract name.
pub(super) trait Named: Copy {
    fn name(self) -> &'static str;
}

impl Named for Col {
    fn name(self) -> &'static str {
        FIELDS[self as usize]
    }
}

impl Named for &'static str {
    fn name(self) -> &'static str {
        self
    }
}

pub(super) fn err(col: impl Named, reason: impl Into<String>) -> RowError {
    RowError {
        column: col.name(),
        reason: reason.into(),
    }
}

/// What validation needs besides the row.
pub struct Validator<'a> {
    pub crs: Crs,
    pub tz: chrono_tz::Tz,
    pub hasher: &'a KeyedHasher,
    /// The instants accepted.
    pub dates: Dates,
    /// Values given in columns their row's kind does not carry, counted.
    pub unused: Unused,
}

/// The columns that belong to one kind (CONTRACT.md: `status` ... `source`
/// and `duplicate_of` are an issue's, `cleared` an incident's, `household`
/// and `visitor` a visit's). A value there on a row of another kind is
/// left out of the event.
const KIND_COLUMNS: [(Col, Kind); 9] = [
    (Col::Status, Kind::Issue),
    (Col::ResolvedAt, Kind::Issue),
    (Col::Deadline, Kind::Issue),
    (Col::Satisfaction, Kind::Issue),
    (Col::Source, Kind::Issue),
    (Col::DuplicateOf, Kind::Issue),
    (Col::Cleared, Kind::Incident),
    (Col::Household, Kind::Visit),
    (Col::Visitor, Kind::Visit),
];

/// How many valid rows gave a value in a column their kind does not carry,
/// by kind and column: the value is left out (a household identifier on an
/// issue row is not kept, hashed or not), and the count is told, never the
/// value (`wangge join` prints it, the service logs it), so a feed that
/// puts an incident's 破案 in `status`, or a rating on a visit, learns why
/// it is not counted.
#[derive(Debug, Default)]
pub struct Unused {
    counts: [[std::sync::atomic::AtomicU64; FIELDS.len()]; 3],
}

impl Unused {
    fn note(&self, kind: Kind, col: Col) {
        self.counts[kind as usize][col as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The counts so far, as (kind, column, rows), and none left.
    pub fn take(&self) -> Vec<(Kind, &'static str, u64)> {
        let mut out = Vec::new();
        for kind in [Kind::Issue, Kind::Incident, Kind::Visit] {
            for (col, n) in self.counts[kind as usize].iter().enumerate() {
                let n = n.swap(0, std::sync::atomic::Ordering::Relaxed);
                if n > 0 {
                    out.push((kind, FIELDS[col], n));
                }
            }
        }
        out
    }

    /// [`Unused::take`] as one line, or `None` when every value was read.
    pub fn describe(&self) -> Option<String> {
        let all = self.take();
        (!all.is_empty()).then(|| {
            let parts: Vec<String> = all
                .iter()
                .map(|(kind, col, n)| format!("`{col}` on {n} {} rows", kind.as_str()))
                .collect();
            format!(
                "values in columns their kind does not carry, left out: {}",
                parts.join(", ")
            )
        })
    }
}

/// [`text`], borrowed when the field is text: for values matched against a
/// vocabulary, not kept.
pub(super) fn text_ref(f: Field<'_>) -> Option<std::borrow::Cow<'_, str>> {
    match f {
        Field::Text(s) => Some(s.trim()).filter(|t| !t.is_empty()).map(Into::into),
        other => text(other).map(Into::into),
    }
}

/// An id (of a case, a step): text or a whole number. A boolean is a
/// broken column (a flag exported where the id belongs), not the id
/// "true".
pub(super) fn id_text(f: Field<'_>, col: impl Named) -> Result<String, RowError> {
    if let Field::Bool(b) = f {
        return Err(err(col, format!("a boolean ({b}) where an id belongs")));
    }
    text(f).ok_or_else(|| err(col, "missing"))
}

pub(super) fn text(f: Field<'_>) -> Option<String> {
    match f {
        Field::Text(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Field::Num(n) => Some(if n.fract() == 0.0 && n.abs() < 1e15 {
            format!("{}", n as i64)
        } else {
            n.to_string()
        }),
        Field::Int(n) => Some(n.to_string()),
        Field::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_null(f: Field<'_>) -> bool {
    match f {
        Field::Null => true,
        Field::Text(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A number for a message: in exponent form when it is huge (`1e308`,
/// not 309 digits).
fn short(v: f64) -> String {
    if v.abs() >= 1e9 {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

pub(super) fn number(f: Field<'_>, col: impl Named) -> Result<f64, RowError> {
    let v = match f {
        Field::Num(n) => n,
        Field::Int(n) => n as f64,
        Field::Text(s) if !s.trim().is_empty() => s
            .trim()
            .parse::<f64>()
            .map_err(|_| err(col, format!("not a number: {}", shown(s))))?,
        Field::Bool(b) => return Err(err(col, format!("not a number: {b}"))),
        _ => return Err(err(col, "missing")),
    };
    if !v.is_finite() {
        return Err(err(col, format!("not a finite number: {v}")));
    }
    Ok(v)
}

pub(super) fn time(
    f: Field<'_>,
    col: impl Named,
    tz: chrono_tz::Tz,
) -> Result<Option<i64>, RowError> {
    match f {
        Field::Time(t) => Ok(Some(t)),
        Field::Wall(t) => super::time::wall_clock(t, tz)
            .map(Some)
            .map_err(|r| err(col, r)),
        Field::Text(s) if !s.trim().is_empty() => {
            parse_timestamp(s, tz).map(Some).map_err(|r| err(col, r))
        }
        Field::Null | Field::Text(_) => Ok(None),
        Field::Num(_) | Field::Int(_) => Err(err(
            col,
            "a number, not a timestamp: send the time as text (2026-03-01 08:30, RFC 3339) \
             or as a Parquet timestamp column",
        )),
        Field::Bool(b) => Err(err(col, format!("not a timestamp: {b}"))),
    }
}

pub(super) fn one_of(
    f: Field<'_>,
    col: impl Named,
    map: &[(&[&str], &'static str)],
) -> Result<Option<&'static str>, RowError> {
    let Some(s) = text_ref(f) else {
        return Ok(None);
    };
    let low = lower(&s);
    for (names, value) in map {
        if names.iter().any(|n| *n == low) {
            return Ok(Some(value));
        }
    }
    let accepted: Vec<&str> = map.iter().map(|(_, v)| *v).collect();
    Err(err(
        col,
        format!(
            "unknown value {}; expected one of {}",
            shown(&s),
            accepted.join(", ")
        ),
    ))
}

pub(super) const SATISFACTION: &[(&[&str], &str)] = &[
    (&[vocab::SATISFIED, "满意", "非常满意"], vocab::SATISFIED),
    (
        &[vocab::BASIC, "basically_satisfied", "基本满意"],
        vocab::BASIC,
    ),
    (
        &[vocab::UNSATISFIED, "dissatisfied", "不满意"],
        vocab::UNSATISFIED,
    ),
];
const SOURCE: &[(&[&str], &str)] = &[
    (
        &[vocab::PATROL, "巡查", "网格员巡查", "排查"],
        vocab::PATROL,
    ),
    (&["hotline", "12345", "热线"], "hotline"),
    (&["walk_in", "来访", "上门"], "walk_in"),
    (&["online", "网上", "网络", "app", "微信"], "online"),
    (&["other", "其他"], "other"),
];

/// Longest id (events, cases, updates), in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest category, unit name or other short text, in characters.
pub const MAX_TEXT_CHARS: usize = 128;
/// Earliest instant accepted for an event or a step by default: 1990-01-01 00:00 UTC.
pub const EARLIEST_US: i64 = 631_152_000_000_000;
/// How far ahead of now an event or a step may lie by default: one year (a
/// clock off by a century, or a date typed with the wrong year, is refused).
pub const AHEAD_US: i64 = 366 * 86_400_000_000;

/// The instants an event or a step may carry (`[ingest] earliest` and
/// `ahead_days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dates {
    /// Earliest instant accepted (µs since the epoch, UTC).
    pub earliest_us: i64,
    /// How far past now an instant may lie (µs).
    pub ahead_us: i64,
}

impl Default for Dates {
    fn default() -> Self {
        Dates {
            earliest_us: EARLIEST_US,
            ahead_us: AHEAD_US,
        }
    }
}

impl Dates {
    /// A deadline's reach: from the earliest instant to ten times
    /// `ahead_us` from now (a project may be given years; 9999-12-31 is a
    /// placeholder that would keep a case from ever being overdue).
    pub(super) fn for_deadlines(&self) -> Dates {
        Dates {
            ahead_us: self.ahead_us.saturating_mul(10),
            ..*self
        }
    }

    /// `us` when it lies between the earliest instant and `ahead_us` from now.
    pub(super) fn check(&self, us: i64, col: impl Named) -> Result<i64, RowError> {
        // The clock read again only for an instant past the time it last
        // gave (as clocks go forward, an instant within reach of an earlier
        // now is within reach of this one): not once a field.
        thread_local! {
            static NOW_US: std::cell::Cell<i64> = const { std::cell::Cell::new(i64::MIN) };
        }
        let reach = |now: i64| now.saturating_add(self.ahead_us);
        let mut latest = reach(NOW_US.get());
        if us > latest {
            let now = chrono::Utc::now().timestamp_micros();
            NOW_US.set(now);
            latest = reach(now);
        }
        if us < self.earliest_us {
            let day = chrono::DateTime::from_timestamp_micros(self.earliest_us)
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            return Err(err(col, format!("before {day} ([ingest] earliest)")));
        }
        if us > latest {
            let days = self.ahead_us / 86_400_000_000;
            return Err(err(
                col,
                format!("more than {days} days in the future ([ingest] ahead_days)"),
            ));
        }
        Ok(us)
    }
}

/// A `duplicate_of` link: an id (at most [`MAX_ID_CHARS`]) other than the
/// case's own.
pub(super) fn duplicate_of(
    f: Field<'_>,
    own: &str,
    col: impl Named,
) -> Result<Option<String>, RowError> {
    let Some(id) = text(f) else { return Ok(None) };
    let id = bounded(id, MAX_ID_CHARS, col)?;
    if id == own {
        return Err(err(col, "the case itself; a case repeats another one"));
    }
    Ok(Some(id))
}

/// `s` when it is at most `max` characters long.
/// A category as every path takes it (files, the API, Open311's
/// `service_code`): trimmed, present, at most [`MAX_TEXT_CHARS`], no
/// control character.
pub fn category(f: Field<'_>) -> Result<String, RowError> {
    let category = text(f).ok_or_else(|| err(Col::Category, "missing"))?;
    bounded(category, MAX_TEXT_CHARS, Col::Category)
}

pub(super) fn bounded(s: String, max: usize, col: impl Named) -> Result<String, RowError> {
    // A control character (U+0000-U+001F, U+007F) in an id or a category
    // is a broken upstream field; stored, it would also make the Open311
    // XML answers ill-formed.
    if let Some(c) = s.chars().find(|c| c.is_ascii_control()) {
        return Err(err(
            col,
            format!("contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    // No more characters than bytes: most values need no count.
    if s.len() <= max {
        return Ok(s);
    }
    let n = s.chars().count();
    if n > max {
        return Err(err(col, format!("{n} characters; at most {max}")));
    }
    Ok(s)
}

impl Validator<'_> {
    /// A row's case: its id and kind, checked as [`Validator::validate`]
    /// checks them (what `wangge join` reads of every row before it reads
    /// the rows, to know which cases come more than once).
    pub fn identity<'r>(get: &impl Fn(Col) -> Field<'r>) -> Result<(String, Kind), RowError> {
        let id = id_text(get(Col::Id), Col::Id)?;
        let id = bounded(id, MAX_ID_CHARS, Col::Id)?;
        let kind_raw = text_ref(get(Col::Kind)).ok_or_else(|| err(Col::Kind, "missing"))?;
        let kind = Kind::parse(&kind_raw).ok_or_else(|| {
            err(
                Col::Kind,
                format!(
                    "unknown kind {}; expected issue, incident or visit",
                    shown(&kind_raw)
                ),
            )
        })?;
        Ok((id, kind))
    }

    /// Validates one row given as a field accessor over [`FIELDS`].
    pub fn validate<'r>(&self, get: impl Fn(Col) -> Field<'r>) -> Result<Event, RowError> {
        let (id, kind) = Self::identity(&get)?;
        let occurred_at = time(get(Col::OccurredAt), Col::OccurredAt, self.tz)?
            .ok_or_else(|| err(Col::OccurredAt, "missing"))?;
        let occurred_at = self.dates.check(occurred_at, Col::OccurredAt)?;
        let lon = number(get(Col::Lon), Col::Lon)?;
        let lat = number(get(Col::Lat), Col::Lat)?;
        let (lon, lat) = self.crs.unproject(lon, lat).map_err(|r| err(Col::Lon, r))?;
        if !(-90.0..=90.0).contains(&lat) {
            let hint = if (-90.0..=90.0).contains(&lon) && (-180.0..=180.0).contains(&lat) {
                " (lon and lat swapped?)"
            } else {
                ""
            };
            return Err(err(
                Col::Lat,
                format!("{} is out of range -90..90{hint}", short(lat)),
            ));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(err(
                Col::Lon,
                format!("{} is out of range -180..180", short(lon)),
            ));
        }
        let (lon, lat) = super::crs::to_wgs84(self.crs, lon, lat);
        let category = category(get(Col::Category))?;
        let mut ev = Event {
            // A version time a century ahead would make every later row
            // of the case stale: dated like the report.
            updated_at: time(get(Col::UpdatedAt), Col::UpdatedAt, self.tz)?
                .map(|t| self.dates.check(t, Col::UpdatedAt))
                .transpose()?,
            ..Event::new(id, kind, occurred_at, lon, lat, category)
        };
        match kind {
            Kind::Issue => {
                let word = text_ref(get(Col::Status))
                    .ok_or_else(|| err(Col::Status, "missing (required for issues)"))?;
                let state = super::state::canonical(&word).map_err(|r| err(Col::Status, r))?;
                ev.state = Some(state);
                ev.status = Some(super::state::status_of(state));
                ev.resolved_at = time(get(Col::ResolvedAt), Col::ResolvedAt, self.tz)?
                    .map(|t| self.dates.check(t, Col::ResolvedAt))
                    .transpose()?;
                ev.deadline = time(get(Col::Deadline), Col::Deadline, self.tz)?
                    .map(|t| self.dates.for_deadlines().check(t, Col::Deadline))
                    .transpose()?;
                if let Some(r) = ev.resolved_at.filter(|&r| r < occurred_at) {
                    let _ = r;
                    return Err(err(Col::ResolvedAt, "before occurred_at"));
                }
                ev.satisfaction = one_of(get(Col::Satisfaction), Col::Satisfaction, SATISFACTION)?;
                ev.source = one_of(get(Col::Source), Col::Source, SOURCE)?;
                ev.duplicate_of = duplicate_of(get(Col::DuplicateOf), &ev.id, Col::DuplicateOf)?;
                ev.flow = ev.version_flow();
            }
            Kind::Incident => {
                ev.cleared = match get(Col::Cleared) {
                    Field::Bool(b) => Some(b),
                    Field::Num(n) if n == 0.0 || n == 1.0 => Some(n == 1.0),
                    Field::Int(n) if n == 0 || n == 1 => Some(n == 1),
                    f if is_null(f) => None,
                    f => {
                        let s = text(f).unwrap_or_default();
                        match s.to_ascii_lowercase().as_str() {
                            "true" | "1" | "yes" | "y" | "是" | "已破" | "已破案" => {
                                Some(true)
                            }
                            "false" | "0" | "no" | "n" | "否" | "未破" | "未破案" => {
                                Some(false)
                            }
                            _ => {
                                return Err(err(
                                    Col::Cleared,
                                    format!("not a boolean: {}", shown(&s)),
                                ))
                            }
                        }
                    }
                };
            }
            Kind::Visit => {
                // Checked as an id is (a line break in a household number
                // or a name is a broken field, or a quote left open that
                // took rows in), the reason naming no value.
                let personal = |c: Col| {
                    text(get(c))
                        .map(|v| bounded(v, MAX_TEXT_CHARS, c).map(|v| self.hasher.hash(&v)))
                        .transpose()
                };
                ev.household_hash = personal(Col::Household)?;
                ev.visitor_hash = personal(Col::Visitor)?;
            }
        }
        for (col, of) in KIND_COLUMNS {
            if of != kind && !is_null(get(col)) {
                self.unused.note(kind, col);
            }
        }
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock read once is reused only for instants it already allows:
    /// one past the reach of that reading is checked against the clock again.
    #[test]
    fn dates_reach_from_now_whatever_was_checked_before() {
        let dates = Dates {
            earliest_us: 0,
            ahead_us: 3_600_000_000,
        };
        let now = || chrono::Utc::now().timestamp_micros();
        assert!(dates.check(1, Col::OccurredAt).is_ok());
        let past_reach = now() + 2 * dates.ahead_us;
        assert!(dates.check(past_reach, Col::OccurredAt).is_err());
        assert!(dates
            .check(now() + dates.ahead_us / 2, Col::OccurredAt)
            .is_ok());
        assert!(dates.check(past_reach, Col::OccurredAt).is_err());
        assert!(dates.check(-1, Col::OccurredAt).is_err());
    }

    #[test]
    fn vocabulary_matches_ignore_ascii_case_and_keep_the_text_borrowed() {
        assert_eq!(Kind::parse(" Issue "), Some(Kind::Issue));
        assert_eq!(Kind::parse("走访"), Some(Kind::Visit));
        assert!(matches!(lower("issue"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(lower("InCiDent"), "incident");
        assert_eq!(
            one_of(Field::Text(" SATISFIED "), Col::Satisfaction, SATISFACTION).unwrap(),
            Some(vocab::SATISFIED)
        );
        assert!(one_of(Field::Text("meh"), Col::Satisfaction, SATISFACTION).is_err());
        assert_eq!(
            one_of(Field::Text("  "), Col::Satisfaction, SATISFACTION).unwrap(),
            None
        );
    }
}
