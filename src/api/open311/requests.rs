//! Service requests: GET a list, GET one, POST a new one.
//!
//! A request is an issue of the event frame (reads) or of the store (one
//! by id), in the caller's scope only. The spec's field list is answered
//! whole, in its order, with these choices:
//!
//! - `description` is always empty (null): the free text may name
//!   residents, so it is neither stored nor published; `service_notice`
//!   says so, in Chinese and English, on every request.
//! - `agency_responsible` is the grid that holds the case, named with its
//!   township (`城关镇 牛村第3网格`), the unit whose grid staff handle it;
//!   the deepest unit known for a case located above grid level; empty
//!   for one outside every unit.
//! - `status_notes` is the Chinese name of the lifecycle state (派遣, 结案).
//! - `address`, `address_id`, `zipcode` and `media_url` are empty: no
//!   addresses or media are kept; `lat`/`long` give the place.

use axum::extract::{Request, State};
use serde::{Deserialize, Serialize};

use super::format::{post_body, Format, List, Listed, Plural, Reply};
use crate::api::auth::{rfc3339, Caller};
use crate::api::error::ApiError;
use crate::api::extract::{P, Q};
use crate::api::ingest::store_rows;
use crate::api::issues::{issue_page, IssueFilter, SystemQuery};
use crate::api::scope::Scope;
use crate::api::state::AppState;
use crate::grid::GridModel;
use crate::ingest::{state, Event, Kind};
use crate::store::{new_token, now_us, IssueRow};

/// Every request's `service_notice`: why `description` is empty.
pub const NOTICE: &str = "问题描述不予公开：其中可能含有居民个人信息。\
                          Descriptions are not published: they may contain residents' personal data.";

/// The default and widest window of GET requests: 90 days.
pub const WINDOW_US: i64 = 90 * 86_400_000_000;

/// Most requests in one answer.
pub const MAX_REQUESTS: u64 = 1000;

/// A service request, the spec's fields in the spec's order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    pub service_request_id: String,
    /// open or closed.
    pub status: &'static str,
    /// The Chinese name of the lifecycle state (派遣, 结案, ...).
    pub status_notes: Option<String>,
    pub service_name: String,
    pub service_code: String,
    /// Always empty: free text is never published.
    pub description: Option<String>,
    /// The grid (with its township) that holds the case.
    pub agency_responsible: Option<String>,
    /// Why `description` is empty (Chinese, then English).
    pub service_notice: Option<String>,
    /// ISO 8601 with the offset (China Standard Time).
    pub requested_datetime: String,
    /// The case's last change (for a closed case, its closing time).
    pub updated_datetime: Option<String>,
    /// The deadline.
    pub expected_datetime: Option<String>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    /// WGS84.
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
    /// Extension: the source system whose id space `service_request_id`
    /// belongs to; absent for the county's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

impl Listed for ServiceRequest {
    const LIST: &'static str = "service_requests";
    const ITEM: &'static str = "request";
}

/// The unit responsible for a case at these tier codes: its grid (or the
/// deepest unit known) named after its township.
fn agency(model: &GridModel, tiers: [Option<&str>; 3]) -> Option<String> {
    let code = tiers.into_iter().rev().flatten().next()?;
    let i = model.index_of(code)?;
    let unit = model.unit(i);
    match model.ancestor_at(i, 1) {
        Some(t) if t != i => Some(format!("{} {}", model.unit(t).name, unit.name)),
        _ => Some(unit.name.clone()),
    }
}

fn request(r: IssueRow, model: &GridModel) -> ServiceRequest {
    // A void case (作废, 不予受理) is finished: closed, its note says why.
    let closed = r.status.as_deref() == Some(crate::vocab::RESOLVED)
        || r.state.as_deref() == Some(crate::vocab::INVALID_STATE);
    let updated = if closed { r.resolved_at } else { None }
        .or(r.updated_at)
        .or(r.resolved_at);
    let finite = |v: f64| v.is_finite().then_some(v);
    ServiceRequest {
        agency_responsible: agency(
            model,
            [r.tier1.as_deref(), r.tier2.as_deref(), r.tier3.as_deref()],
        ),
        status_notes: r.state.as_deref().map(|s| state::zh(s).to_owned()),
        status: if closed { "closed" } else { "open" },
        service_code: r.category.clone(),
        service_name: r.category,
        description: None,
        service_notice: Some(NOTICE.to_owned()),
        requested_datetime: rfc3339(r.occurred_at),
        updated_datetime: updated.map(rfc3339),
        expected_datetime: r.deadline.map(rfc3339),
        address: None,
        address_id: None,
        zipcode: None,
        lat: finite(r.lat),
        long: finite(r.lon),
        media_url: None,
        service_request_id: r.id,
        system: (!r.system.is_empty()).then_some(r.system),
    }
}

/// An instant of a query: ISO 8601 with an offset (`2026-09-01T00:00:00+08:00`, `...Z`).
pub(super) fn instant(s: &str, what: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_micros())
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "{what} {s:?} is not an ISO 8601 time with an offset (2026-09-01T00:00:00+08:00): {e}"
            ))
        })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// Comma-separated request ids; the other arguments are then ignored,
    /// as the spec says.
    pub service_request_id: Option<String>,
    /// Comma-separated service codes.
    pub service_code: Option<String>,
    /// Requested at or after (ISO 8601 with an offset). Without dates: the
    /// last 90 days; with one: the 90 days from it (or up to it).
    pub start_date: Option<String>,
    /// Requested at or before; the window may not span more than 90 days.
    pub end_date: Option<String>,
    /// Comma-separated: open, closed.
    pub status: Option<String>,
    /// Accepted; see `[open311] jurisdiction_id` (checked by the middleware).
    #[allow(dead_code)]
    pub jurisdiction_id: Option<String>,
    /// Extension: at most this many (1..=1000, default 1000).
    pub limit: Option<u64>,
}

/// The requested-at window `[from, to]` (µs) of a GET: the spec's
/// defaults around `now`, and at most 90 days.
fn window(start: Option<i64>, end: Option<i64>, now: i64) -> Result<(i64, i64), ApiError> {
    let (from, to) = match (start, end) {
        (None, None) => (now.saturating_sub(WINDOW_US), now),
        (Some(s), None) => (s, s.saturating_add(WINDOW_US)),
        (None, Some(e)) => (e.saturating_sub(WINDOW_US), e),
        (Some(s), Some(e)) => (s, e),
    };
    if from > to {
        return Err(ApiError::BadRequest("start_date is after end_date".into()));
    }
    if to - from > WINDOW_US {
        return Err(ApiError::BadRequest(
            "start_date to end_date spans more than 90 days".into(),
        ));
    }
    Ok((from, to))
}

impl RequestsQuery {
    /// The filter over the frame, for the caller's grids (`grids`).
    fn filter(self, now: i64) -> Result<IssueFilter, ApiError> {
        let list = crate::api::map::list;
        let limit = self.limit.unwrap_or(MAX_REQUESTS);
        if !(1..=MAX_REQUESTS).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit {limit}: 1 to {MAX_REQUESTS}"
            )));
        }
        let ids = list(&self.service_request_id);
        if !ids.is_empty() {
            return Ok(IssueFilter {
                level: 3,
                ids,
                limit,
                ..IssueFilter::default()
            });
        }
        let mut statuses = Vec::new();
        for s in list(&self.status) {
            statuses.push(match s.as_str() {
                "open" => crate::vocab::OPEN.to_owned(),
                "closed" => crate::vocab::RESOLVED.to_owned(),
                o => {
                    return Err(ApiError::BadRequest(format!(
                        "status {o:?}: use open or closed"
                    )))
                }
            });
        }
        let date = |s: &Option<String>, what| {
            s.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| instant(s, what))
                .transpose()
        };
        let (from, to) = window(
            date(&self.start_date, "start_date")?,
            date(&self.end_date, "end_date")?,
            now,
        )?;
        Ok(IssueFilter {
            level: 3,
            categories: list(&self.service_code),
            statuses,
            from: Some(from),
            to: Some(to),
            limit,
            ..IssueFilter::default()
        })
    }
}

/// GET requests (`requests.json`, `requests.xml`): requests in the
/// caller's scope, overdue and open first, newest first; at most 1000.
#[utoipa::path(get, path = "/open311/v2/requests.json", operation_id = "open311_requests", params(RequestsQuery),
    responses((status = 200, body = [ServiceRequest]), (status = 400, body = [super::SpecError])), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    c: Caller,
    format: Format,
    Q(q): Q<RequestsQuery>,
) -> Result<Reply<List<ServiceRequest>>, ApiError> {
    let f = q.filter(now_us())?;
    st.on_current(move |snap| {
        let model = &snap.grids.model;
        let f = IssueFilter {
            within: Scope::of(c.user(), model).roots(model),
            ..f
        };
        let (_, rows) = issue_page(&snap.frame, &snap.pre, &f)?;
        let list = rows.into_iter().map(|r| request(r, model)).collect();
        Ok(Reply(format, List(list)))
    })
    .await
}

/// GET a request (`requests/{id}.json` or `.xml`): a list of one, when the
/// request lies in the caller's scope; else 404, as an unknown id.
#[utoipa::path(get, path = "/open311/v2/requests/{id}", operation_id = "open311_request",
    params(("id" = String, Path, description = "request id with .json or .xml"), SystemQuery),
    responses((status = 200, body = [ServiceRequest]), (status = 404, body = [super::SpecError])), security(("bearer" = [])))]
pub async fn one(
    State(st): State<AppState>,
    c: Caller,
    P(id): P<String>,
    Q(q): Q<SystemQuery>,
) -> Result<Reply<List<ServiceRequest>>, ApiError> {
    let (id, format) = Format::split(&id)?;
    let system = q.of(&c)?;
    let snap = st.snapshot()?;
    let store = st.store.clone();
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let r = store.issue(&system, &id)?.filter(|r| {
            scope.event(
                model,
                [r.tier1.as_deref(), r.tier2.as_deref(), r.tier3.as_deref()],
            )
        });
        let r = r.ok_or_else(|| ApiError::NotFound(format!("no service request {id:?}")))?;
        Ok(Reply(format, List(vec![request(r, model)])))
    })
    .await
}

/// Fields of a POST that wangge reads. The rest of the spec's
/// (`address_string`, `email`, `first_name`, `last_name`, `phone`,
/// `device_id`, `account_id`, `description`, `media_url`, `attribute[]`)
/// is accepted and dropped: names, contacts and free text may identify
/// residents and are never stored.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewRequest {
    pub service_code: String,
    /// WGS84; required with `long` (addresses are not geocoded here).
    pub lat: Option<f64>,
    pub long: Option<f64>,
    /// Accepted; see `[open311] jurisdiction_id` (read with `api_key` by
    /// the middleware, before the handler).
    #[allow(dead_code)]
    pub jurisdiction_id: Option<String>,
    /// An API token, instead of the bearer header.
    #[allow(dead_code)]
    pub api_key: Option<String>,
}

/// The answer to a POST.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Created {
    pub service_request_id: String,
    /// Why the description given is not published (Chinese, then English).
    pub service_notice: String,
    /// Always empty: requests are not tied to residents' accounts.
    pub account_id: Option<String>,
    /// Extension: open requests of the same service within 250 m that may
    /// be the same problem, nearest first, at most five (those in the
    /// caller's units only); absent when there are none.
    #[serde(skip_serializing_if = "Plural::is_empty")]
    #[schema(value_type = Vec<crate::analytics::duplicates::Nearby>)]
    pub duplicates: Plural<crate::analytics::duplicates::Nearby>,
}

impl Listed for Created {
    const LIST: &'static str = "service_requests";
    const ITEM: &'static str = "request";
}

/// POST a request (`requests.json`, `requests.xml`): a new open issue at
/// `lat`/`long`, form-encoded as the spec sends it (or a JSON object).
#[utoipa::path(post, path = "/open311/v2/requests.json", operation_id = "open311_create", request_body = NewRequest,
    responses((status = 200, body = [Created]), (status = 400, body = [super::SpecError]), (status = 403, body = [super::SpecError])),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    c: Caller,
    format: Format,
    req: Request,
) -> Result<Reply<List<Created>>, ApiError> {
    let new: NewRequest = post_body(req).await?;
    let (Some(lat), Some(lon)) = (new.lat, new.long) else {
        return Err(ApiError::BadRequest(
            "lat and long are required (address_string and address_id are not geocoded here)"
                .into(),
        ));
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(ApiError::BadRequest("lat/long out of range".into()));
    }
    // The service code is the category, checked as every path checks it.
    let category = crate::ingest::category(crate::ingest::Field::Text(&new.service_code))
        .map_err(|e| ApiError::BadRequest(format!("service_code: {}", e.reason)))?;
    let id = format!("o311-{}", &new_token()?[..20]);
    let event = Event {
        status: Some("open"),
        state: Some("reported"),
        source: Some("online"),
        ..Event::new(id.clone(), Kind::Issue, now_us(), lon, lat, category)
    };
    let event = Event {
        flow: event.version_flow(),
        ..event
    };
    let st2 = st.clone();
    let out = st
        .blocking(move || store_rows(&st2, c.user(), vec![(1, Some(id), Ok(event))], true))
        .await?;
    let row = out
        .rows
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("no row outcome".into()))?;
    if row.outcome == "rejected" {
        return Err(ApiError::BadRequest(row.reason.unwrap_or_default()));
    }
    Ok(Reply(
        format,
        List(vec![Created {
            service_request_id: row.id.unwrap_or_default(),
            service_notice: NOTICE.to_owned(),
            account_id: None,
            duplicates: Plural::new("duplicate", row.duplicates.unwrap_or_default()),
        }]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn the_window_defaults_to_90_days_and_spans_no_more() {
        let now = 1_000 * DAY;
        assert_eq!(window(None, None, now).unwrap(), (now - 90 * DAY, now));
        assert_eq!(window(Some(0), None, now).unwrap(), (0, 90 * DAY));
        assert_eq!(window(None, Some(now), now).unwrap(), (now - 90 * DAY, now));
        assert!(window(Some(0), Some(90 * DAY), now).is_ok());
        assert!(window(Some(0), Some(90 * DAY + 1), now).is_err());
        assert!(window(Some(2), Some(1), now).is_err());
    }

    #[test]
    fn an_empty_argument_is_one_not_sent() {
        let q = RequestsQuery {
            service_request_id: Some(String::new()),
            service_code: Some(" ".into()),
            start_date: Some(String::new()),
            end_date: None,
            status: Some(String::new()),
            jurisdiction_id: Some(String::new()),
            limit: None,
        };
        let f = q.filter(100 * DAY).unwrap();
        assert!(f.ids.is_empty() && f.categories.is_empty() && f.statuses.is_empty());
        assert_eq!((f.from, f.to), (Some(10 * DAY), Some(100 * DAY)));
        assert_eq!(f.limit, MAX_REQUESTS);
    }
}
