//! Issue lists: the unit's issues, open first, paged, and one case with its
//! history; the issue pages Open311 reads too ([`issue_page`]). They
//! answer only issues in grids the caller sees fully.

use axum::extract::State;
use axum::http::header;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::{rfc3339, Caller};
use super::error::ApiError;
use super::extract::{P, Q};
use super::scope::Scope;
use super::state::AppState;
use crate::columns as c;
use crate::ingest::state;
use crate::store::{now_us, IssueRow};
use crate::vocab;
use polars::prelude::*;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IssuesQuery {
    pub unit: String,
    /// open or resolved.
    pub status: Option<String>,
    /// 1-based (default 1).
    pub page: Option<u64>,
    /// 1..=500 (default 50).
    pub per_page: Option<u64>,
    /// Reported on or after this local date (YYYY-MM-DD, the configured zone).
    pub from: Option<chrono::NaiveDate>,
    /// Reported before this local date (excluded), like the map's window.
    pub to: Option<chrono::NaiveDate>,
    /// Categories kept, comma-separated (the map's category filter).
    pub category: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IssueItem {
    pub id: String,
    pub category: String,
    /// RFC 3339.
    pub occurred_at: String,
    /// `open`, `resolved`, or `void` for a case voided (作废, 不予受理):
    /// no metric counts it and nothing is due on it.
    pub status: Option<String>,
    /// Canonical lifecycle state (`dispatched`, `closed`, ...).
    pub state: Option<String>,
    /// Its Chinese name (派遣, 结案, ...).
    pub state_zh: Option<String>,
    pub deadline: Option<String>,
    /// Open and past its deadline now (never a case that repeats another).
    pub overdue: bool,
    pub tier3: Option<String>,
    /// The report repeats another case (重复件, linked upstream): it counts
    /// in the call volume, and as a case only under that one (the case view
    /// names it).
    pub duplicate: bool,
    /// The source system whose id space `id` belongs to; absent for the
    /// county's own (ask for the case with `?system=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

/// One step of a case as the map shows it (the free-text note never leaves the store).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseStep {
    pub update_id: String,
    /// RFC 3339.
    pub at: String,
    pub state: String,
    pub state_zh: String,
    /// Unit or department dispatched or escalated to.
    pub to_unit: Option<String>,
    /// A new deadline set by this step (RFC 3339).
    pub deadline: Option<String>,
}

/// A case and its history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseView {
    #[serde(flatten)]
    pub item: IssueItem,
    pub resolved_at: Option<String>,
    /// Time of the last change (RFC 3339).
    pub updated_at: Option<String>,
    /// Where the case was reported (WGS84), for locating it on the map.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// The id of the case this report repeats (重复件, same source system).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    pub history: Vec<CaseStep>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuePage {
    pub total: u64,
    pub page: u64,
    pub items: Vec<IssueItem>,
}

/// Which issues to list.
#[derive(Debug, Clone, Default)]
pub(in crate::api) struct IssueFilter {
    /// Tier of `code` (0 for the county, 1, 2 or 3).
    pub level: u8,
    /// Unit whose issues are listed; empty = every issue received, also
    /// those outside the county (Open311 lists).
    pub code: String,
    /// `open` or `resolved`; None = both.
    pub status: Option<String>,
    /// One category (an Open311 service); None = all.
    pub category: Option<String>,
    /// Open311 lists: any of these categories, ids and statuses.
    pub categories: Vec<String>,
    pub ids: Vec<String>,
    pub statuses: Vec<String>,
    /// Reported in `[from, to]` (µs).
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// When set, only issues under these units, as (tier, code): a user
    /// scoped below the unit listed ([`Scope::roots`]).
    pub within: Option<Vec<(u8, String)>>,
    /// 0-based offset and page size.
    pub offset: u64,
    pub limit: u64,
}

/// A page of issues from the in-memory frame, open ones first, newest first
/// within a status (ties by id); and how many match the filter. Deadlines
/// and resolution times come from the pre-aggregates' issue table, their
/// only copy in memory.
pub(in crate::api) fn issue_page(
    frame: &DataFrame,
    pre: &crate::analytics::PreAgg,
    f: &IssueFilter,
) -> Result<(u64, Vec<IssueRow>), ApiError> {
    let mut keep = col(c::KIND).eq(lit(crate::analytics::preagg::ISSUE));
    if f.level == 0 && !f.code.is_empty() {
        // The county's cases are those inside it, as its figures count
        // them: a case outside every township is in no unit's list.
        keep = keep.and(col(c::tier(1)).is_not_null());
    } else if !f.code.is_empty() {
        keep = keep.and(col(c::tier(f.level)).eq(lit(f.code.clone())));
    }
    // A void case (作废, 不予受理) is neither open nor resolved: no metric
    // counts it, and nothing is due on it. Open311 lists it as closed.
    let void = || col(c::STATE).eq(lit(vocab::INVALID_STATE)).fill_null(false);
    let open = || {
        col(c::STATUS)
            .eq(lit(vocab::OPEN))
            .fill_null(false)
            .and(void().not())
    };
    if let Some(s) = &f.status {
        keep = keep.and(if s == vocab::OPEN {
            open()
        } else {
            col(c::STATUS).eq(lit(s.clone())).and(void().not())
        });
    }
    if !f.statuses.is_empty() {
        let any = f.statuses.iter().fold(lit(false), |any, s| {
            any.or(if s == vocab::OPEN {
                open()
            } else {
                col(c::STATUS).eq(lit(s.clone())).or(void())
            })
        });
        keep = keep.and(any);
    }
    if let Some(k) = &f.category {
        keep = keep.and(col(c::CATEGORY).eq(lit(k.clone())));
    }
    let any_of = |name: &str, values: &[String]| {
        let v = Series::new("values".into(), values.to_vec());
        col(name).is_in(lit(v).implode(false), false)
    };
    for (name, values) in [(c::CATEGORY, &f.categories), (c::ID, &f.ids)] {
        if !values.is_empty() {
            keep = keep.and(any_of(name, values));
        }
    }
    let occurred = col(c::OCCURRED_AT).cast(DataType::Int64);
    if let Some(t) = f.from {
        keep = keep.and(occurred.clone().gt_eq(lit(t)));
    }
    if let Some(t) = f.to {
        keep = keep.and(occurred.lt_eq(lit(t)));
    }
    if let Some(units) = &f.within {
        let mut any = lit(false);
        for level in 1..=3u8 {
            let codes: Vec<&str> = units
                .iter()
                .filter(|u| u.0 == level)
                .map(|u| u.1.as_str())
                .collect();
            if !codes.is_empty() {
                let codes = Series::new("codes".into(), codes);
                any = any.or(col(c::tier(level)).is_in(lit(codes).implode(false), false));
            }
        }
        keep = keep.and(any.fill_null(false));
    }
    let us = |name: &str| col(name).cast(DataType::Int64);
    let mut matching = frame
        .clone()
        .lazy()
        .with_row_index(c::FRAME_ROW, None)
        .filter(keep)
        .select([
            col(c::FRAME_ROW),
            col(c::ID),
            col(c::CATEGORY),
            us(c::OCCURRED_AT),
            col(c::STATUS),
            col(c::STATE),
            us(c::UPDATED_AT),
            col(c::LON),
            col(c::LAT),
            col(c::SOURCE),
            col(c::TIER1),
            col(c::TIER2),
            col(c::TIER3),
            col(c::SYSTEM),
            col(c::DUPLICATE).fill_null(false),
        ])
        .collect()?;
    let rows: Vec<u32> = matching
        .column(c::FRAME_ROW)?
        .idx()?
        .into_no_null_iter()
        .collect();
    for time in pre.case_times_at(&rows, &[c::DEADLINE, c::RESOLVED_AT])? {
        matching.with_column(time.cast(&DataType::Int64)?)?;
    }
    let total = matching.height() as u64;
    let open = open();
    // A suspended case (挂账) has its clock stopped: never overdue.
    let overdue = open
        .clone()
        .and(col(c::DEADLINE).lt(lit(now_us())))
        .and(col(c::DUPLICATE).not())
        .and(
            col(c::STATE)
                .eq(lit(vocab::SUSPENDED_STATE))
                .fill_null(false)
                .not(),
        )
        .fill_null(false);
    let df = matching
        .lazy()
        .sort_by_exprs(
            [overdue, open, col(c::OCCURRED_AT), col(c::ID)],
            SortMultipleOptions::default().with_order_descending_multi([true, true, true, false]),
        )
        .slice(
            i64::try_from(f.offset).unwrap_or(i64::MAX),
            IdxSize::try_from(f.limit).unwrap_or(IdxSize::MAX),
        )
        .collect()?;
    let s =
        |name: &str| -> PolarsResult<StringChunked> { Ok(c::text(df.column(name)?)?.into_owned()) };
    let i = |name: &str| -> PolarsResult<Int64Chunked> { Ok(df.column(name)?.i64()?.clone()) };
    let f64s = |name: &str| -> PolarsResult<Float64Chunked> { Ok(df.column(name)?.f64()?.clone()) };
    let (id, cat, status, source) = (s(c::ID)?, s(c::CATEGORY)?, s(c::STATUS)?, s(c::SOURCE)?);
    let (t1, t2, t3) = (s(c::TIER1)?, s(c::TIER2)?, s(c::TIER3)?);
    let (at, due, done) = (i(c::OCCURRED_AT)?, i(c::DEADLINE)?, i(c::RESOLVED_AT)?);
    let (lon, lat) = (f64s(c::LON)?, f64s(c::LAT)?);
    let (state, changed, system) = (s(c::STATE)?, i(c::UPDATED_AT)?, s(c::SYSTEM)?);
    let owned = |v: Option<&str>| v.map(str::to_owned);
    let dup = df.column(c::DUPLICATE)?.bool()?.clone();
    let rows = (0..df.height())
        .map(|k| IssueRow {
            id: id.get(k).unwrap_or_default().to_owned(),
            category: cat.get(k).unwrap_or_default().to_owned(),
            occurred_at: at.get(k).unwrap_or_default(),
            status: owned(status.get(k)),
            deadline: due.get(k),
            resolved_at: done.get(k),
            lon: lon.get(k).unwrap_or(f64::NAN),
            lat: lat.get(k).unwrap_or(f64::NAN),
            source: owned(source.get(k)),
            tier1: owned(t1.get(k)),
            tier2: owned(t2.get(k)),
            tier3: owned(t3.get(k)),
            state: owned(state.get(k)),
            updated_at: changed.get(k),
            system: system.get(k).unwrap_or_default().to_owned(),
            duplicate_of: None,
            duplicate: dup.get(k).unwrap_or(false),
        })
        .collect();
    Ok((total, rows))
}

fn status(s: Option<String>) -> Result<Option<String>, ApiError> {
    match s.as_deref() {
        None | Some("") | Some("all") => Ok(None),
        Some("open") | Some("resolved") => Ok(s),
        Some(other) => Err(ApiError::BadRequest(format!(
            "status {other:?}: use open or resolved"
        ))),
    }
}

/// Issues of a unit, open first, newest first.
#[utoipa::path(get, path = "/api/v1/issues", operation_id = "list_issues", params(IssuesQuery), responses((status = 200, body = IssuePage), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    c: Caller,
    Q(q): Q<IssuesQuery>,
) -> Result<Json<IssuePage>, ApiError> {
    let page = q.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::BadRequest(
            "page: pages are counted from 1".into(),
        ));
    }
    let per = q.per_page.unwrap_or(50);
    if !(1..=500).contains(&per) {
        return Err(ApiError::BadRequest("per_page must be 1..=500".into()));
    }
    let status = status(q.status)?;
    if let (Some(a), Some(b)) = (q.from, q.to) {
        if a >= b {
            return Err(ApiError::BadRequest(format!(
                "from {a} is not before to {b}"
            )));
        }
    }
    let from = q.from.map(|d| st.zone.midnight_us(d));
    let to = q.to.map(|d| st.zone.midnight_us(d) - 1);
    let categories = super::map::list(&q.category);
    // Acknowledged ingest shows in the list at once.
    st.on_current(move |snap| {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let i = scope.unit(model, &q.unit)?;
        let u = model.unit(i);
        let within = if scope.full(i) {
            None
        } else {
            scope.roots(model)
        };
        let f = IssueFilter {
            level: u.level,
            code: u.code.clone(),
            status,
            within,
            categories,
            from,
            to,
            offset: (page - 1).saturating_mul(per),
            limit: per,
            ..IssueFilter::default()
        };
        let (total, rows) = issue_page(&snap.frame, &snap.pre, &f)?;
        let now = now_us();
        let items = rows.into_iter().map(|r| item(r, now)).collect();
        Ok(Json(IssuePage { total, page, items }))
    })
    .await
}

/// The list status of a void case.
const VOID: &str = "void";

/// The list entry of an issue row, overdue as of `now`.
fn item(r: IssueRow, now: i64) -> IssueItem {
    let void = r.state.as_deref() == Some(vocab::INVALID_STATE);
    IssueItem {
        overdue: r.status.as_deref() == Some(vocab::OPEN)
            && !void
            && r.state.as_deref() != Some(vocab::SUSPENDED_STATE)
            && r.deadline.is_some_and(|d| d < now)
            && !r.duplicate,
        duplicate: r.duplicate,
        occurred_at: rfc3339(r.occurred_at),
        deadline: r.deadline.map(rfc3339),
        state_zh: r.state.as_deref().map(|s| state::zh(s).to_owned()),
        state: r.state,
        id: r.id,
        category: r.category,
        status: if void {
            Some(VOID.to_owned())
        } else {
            r.status
        },
        tier3: r.tier3,
        system: (!r.system.is_empty()).then_some(r.system),
    }
}

/// Which source system's id space a case id is read in.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SystemQuery {
    /// The case's source system (as listed with it; empty: the county's
    /// own id space); default: the caller's own (an account added with
    /// `--system`), else the county's own.
    pub system: Option<String>,
}

impl SystemQuery {
    /// The id space to read in: the one asked for, else the caller's.
    pub(in crate::api) fn of(self, c: &Caller) -> Result<String, ApiError> {
        match self.system {
            Some(s) if s.is_empty() => Ok(s),
            Some(s) => match crate::store::system_problem(&s) {
                Some(p) => Err(ApiError::BadRequest(format!("system: {p}"))),
                None => Ok(s),
            },
            None => Ok(c.user().system.clone()),
        }
    }
}

/// One issue with its history (state, time, unit dispatched to), for the
/// map's case view; answered only when the issue lies in the caller's scope.
#[utoipa::path(get, path = "/api/v1/issues/{id}", params(("id" = String, Path, description = "issue id"), SystemQuery),
    responses((status = 200, body = CaseView), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn case(
    State(st): State<AppState>,
    c: Caller,
    P(id): P<String>,
    Q(q): Q<SystemQuery>,
) -> Result<Json<CaseView>, ApiError> {
    let system = q.of(&c)?;
    let snap = st.snapshot()?;
    let store = st.store.clone();
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let found = store.case(&system, &id)?.filter(|(r, _)| {
            scope.event(
                model,
                [r.tier1.as_deref(), r.tier2.as_deref(), r.tier3.as_deref()],
            )
        });
        // Out of scope and unknown answer alike.
        let (r, steps) = found.ok_or_else(|| ApiError::NotFound(format!("no issue {id:?}")))?;
        let (resolved_at, updated_at) = (r.resolved_at.map(rfc3339), r.updated_at.map(rfc3339));
        let finite = |v: f64| v.is_finite().then_some(v);
        let (lon, lat) = (finite(r.lon), finite(r.lat));
        let duplicate_of = r.duplicate_of.clone();
        let history = steps
            .into_iter()
            .map(|s| CaseStep {
                at: rfc3339(s.at),
                state_zh: state::zh(&s.state).to_owned(),
                update_id: s.update_id,
                state: s.state,
                to_unit: s.to_unit,
                deadline: s.deadline.map(rfc3339),
            })
            .collect();
        Ok(Json(CaseView {
            item: item(r, now_us()),
            resolved_at,
            updated_at,
            lon,
            lat,
            duplicate_of,
            history,
        }))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdatesExport {
    /// First local date included (YYYY-MM-DD).
    pub from: Option<chrono::NaiveDate>,
    /// First local date excluded.
    pub to: Option<chrono::NaiveDate>,
    /// Start the CSV with a UTF-8 byte-order mark (for Excel/WPS).
    pub bom: Option<bool>,
}

/// The transitions of the cases in the caller's scope whose step lies in
/// the window, as CSV (one row per step, in (`at`, `update_id`) order), so
/// an analyst can fold any as-of state: `issue_id, update_id, at, state,
/// state_zh, deadline, satisfaction, solved, category, lon, lat, to_unit,
/// system` (the case's source system; empty for the county's own id space).
/// The note's hash is not exported.
#[utoipa::path(get, path = "/api/v1/export/updates", params(UpdatesExport),
    responses((status = 200, content_type = "text/csv"), (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_updates(
    State(st): State<AppState>,
    c: Caller,
    Q(q): Q<UpdatesExport>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if !matches!(
        c.user().role,
        crate::store::Role::Admin | crate::store::Role::Analyst
    ) {
        return Err(ApiError::Forbidden(
            "only admins and analysts may export case updates".into(),
        ));
    }
    let tz = st.zone.tz;
    let at = |d: Option<chrono::NaiveDate>, default: i64| -> i64 {
        d.and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map_or(default, |t| t.timestamp_micros())
    };
    let (from, to) = (at(q.from, i64::MIN), at(q.to, i64::MAX));
    let bom = q.bom.unwrap_or(false);
    let store = st.store.clone();
    let body = st
        .on_current(move |snap| {
            let model = &snap.grids.model;
            let scope = Scope::of(c.user(), model);
            // The tiers of every issue, to keep the caller's cases only.
            let f = snap
                .frame
                .clone()
                .lazy()
                .filter(col(c::KIND).eq(lit(crate::vocab::ISSUE)))
                .select([c::ID, c::SYSTEM, c::TIER1, c::TIER2, c::TIER3].map(col))
                .collect()?;
            let s = |n: &str| f.column(n).and_then(|x| c::text(x).map(|t| t.into_owned()));
            let (id, system) = (s(c::ID)?, s(c::SYSTEM)?);
            let (t1, t2, t3) = (s(c::TIER1)?, s(c::TIER2)?, s(c::TIER3)?);
            let mut visible = std::collections::HashSet::new();
            for k in 0..f.height() {
                if scope.event(model, [t1.get(k), t2.get(k), t3.get(k)]) {
                    if let Some(i) = id.get(k) {
                        visible
                            .insert((system.get(k).unwrap_or_default().to_owned(), i.to_owned()));
                    }
                }
            }
            let mut w = csv::Writer::from_writer(Vec::new());
            let err = |e: csv::Error| ApiError::Internal(e.to_string());
            w.write_record([
                "issue_id",
                "update_id",
                "at",
                "state",
                "state_zh",
                "deadline",
                "satisfaction",
                "solved",
                "category",
                "lon",
                "lat",
                "to_unit",
                "system",
            ])
            .map_err(err)?;
            let opt = |v: Option<String>| v.unwrap_or_default();
            let steps = store.updates_between(from, to, usize::MAX)?;
            for s in steps {
                if !visible.contains(&(s.system.clone(), s.issue_id.clone())) {
                    continue;
                }
                let safe = |v: String| crate::export::safe_cell(&v).into_owned();
                w.write_record([
                    safe(s.issue_id.clone()),
                    safe(s.update_id.clone()),
                    rfc3339(s.at),
                    s.state.clone(),
                    state::zh(&s.state).to_owned(),
                    opt(s.deadline.map(rfc3339)),
                    opt(s.satisfaction.clone()),
                    opt(s.solved.clone()),
                    safe(opt(s.category.clone())),
                    opt(s.lon.map(|x| x.to_string())),
                    opt(s.lat.map(|x| x.to_string())),
                    safe(opt(s.to_unit.clone())),
                    s.system.clone(),
                ])
                .map_err(err)?;
            }
            let mut out = if bom {
                b"\xEF\xBB\xBF".to_vec()
            } else {
                Vec::new()
            };
            out.extend(
                w.into_inner()
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            );
            Ok(out)
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"updates.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::testutil::{county, joined, Ev};
    use crate::analytics::{PreAgg, Zone};

    /// A list restricted to a user's units keeps the cases that lie in
    /// one of them but in no grid (`partial`): restricted to township T1
    /// (a leader of T1 listing their cases) it holds the case in village
    /// V1 outside every grid, and nothing of the other township. Before,
    /// the restriction was to the user's grids, so such a case was
    /// missing from every list but the village's own. The county's own
    /// list leaves out the case outside the county, which no figure of
    /// it counts.
    #[test]
    fn a_list_within_a_users_units_keeps_cases_in_no_grid() {
        let m = county();
        let events = [
            Ev::issue("2025-03-01 10:00", "G1"),
            Ev::issue("2025-03-02 10:00", "V1"),
            Ev::issue("2025-03-03 10:00", "G3"),
            Ev {
                grid: None,
                ..Ev::issue("2025-03-04 10:00", "G3")
            },
        ];
        let frame = crate::join::with_missing_columns(joined(&m, &events).lazy())
            .unwrap()
            .collect()
            .unwrap();
        assert_eq!(frame.column(c::TIER3).unwrap().null_count(), 2);
        let numbered = frame
            .clone()
            .with_row_index(c::FRAME_ROW.into(), None)
            .unwrap();
        let pre = PreAgg::build(numbered.lazy(), Zone::default()).unwrap();
        let ids = |within: Option<Vec<(u8, &str)>>| {
            let f = IssueFilter {
                // The county's list.
                level: 0,
                code: "C".into(),
                within: within.map(|w| w.into_iter().map(|(l, c)| (l, c.to_owned())).collect()),
                limit: 10,
                ..IssueFilter::default()
            };
            let (total, rows) = issue_page(&frame, &pre, &f).unwrap();
            let mut ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
            ids.sort();
            assert_eq!(total, ids.len() as u64);
            ids
        };
        assert_eq!(ids(Some(vec![(1, "T1")])), ["e0", "e1"]);
        assert_eq!(ids(Some(vec![(2, "V1")])), ["e0", "e1"]);
        assert_eq!(ids(Some(vec![(3, "G1"), (1, "T2")])), ["e0", "e2"]);
        // The county lists the cases inside it, as its figures count
        // them: not e3, outside every township (it was listed).
        assert_eq!(ids(None), ["e0", "e1", "e2"]);
        assert!(ids(Some(Vec::new())).is_empty());
    }
}
