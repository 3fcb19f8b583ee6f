//! Service request updates, FixMyStreet's extension of GeoReport v2: the
//! steps of the caller's cases (GET), and a step sent by an upstream
//! system (POST). The free-text note of a step is never shown: an
//! update's `description` is the state's Chinese name.

use axum::extract::{Request, State};
use serde::{Deserialize, Serialize};

use super::format::{post_body, Format, List, Listed, Reply};
use super::requests::{instant, WINDOW_US};
use crate::api::auth::{rfc3339, Caller};
use crate::api::error::ApiError;
use crate::api::extract::Q;
use crate::api::ingest::{parse_updates, store_updates};
use crate::api::scope::Scope;
use crate::api::state::AppState;
use crate::ingest::state;
use crate::store::now_us;

/// An update of a service request.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestUpdate {
    pub update_id: String,
    pub service_request_id: String,
    /// open or closed.
    pub status: &'static str,
    pub updated_datetime: String,
    /// The Chinese state name: the free-text note may name residents and is never shown.
    pub description: String,
    /// The canonical lifecycle state's Chinese name (派遣, 结案, ...).
    pub external_status_code: String,
    /// Extension: the request's source system; absent for the county's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

impl Listed for RequestUpdate {
    const LIST: &'static str = "service_request_updates";
    const ITEM: &'static str = "request_update";
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdatesQuery {
    /// ISO 8601 with an offset; default: 24 hours before `end_date`; at
    /// most 90 days before it.
    pub start_date: Option<String>,
    /// ISO 8601 with an offset; default: now.
    pub end_date: Option<String>,
}

/// Updates one answer gives at most.
pub const MAX_UPDATES: usize = 10_000;

/// GET updates (`servicerequestupdates.json` or `.xml`): updates of
/// requests in the caller's scope between `start_date` and `end_date`
/// (at most 90 days), oldest first; a window with more than
/// [`MAX_UPDATES`] of them is refused (400), never cut short.
#[utoipa::path(get, path = "/open311/v2/servicerequestupdates.json", operation_id = "open311_updates", params(UpdatesQuery),
    responses((status = 200, body = [RequestUpdate]), (status = 400, body = [super::SpecError])), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    c: Caller,
    format: Format,
    Q(q): Q<UpdatesQuery>,
) -> Result<Reply<List<RequestUpdate>>, ApiError> {
    let given = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
    let end = given(&q.end_date)
        .map(|s| instant(&s, "end_date"))
        .transpose()?
        .unwrap_or_else(now_us);
    let start = given(&q.start_date)
        .map(|s| instant(&s, "start_date"))
        .transpose()?
        .unwrap_or(end - 86_400_000_000);
    if start > end {
        return Err(ApiError::BadRequest("start_date is after end_date".into()));
    }
    if end - start > WINDOW_US {
        return Err(ApiError::BadRequest(
            "start_date to end_date spans more than 90 days".into(),
        ));
    }
    let snap = st.snapshot()?;
    let store = st.store.clone();
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let mut out = Vec::new();
        let mut seen: std::collections::HashMap<(String, String), bool> = Default::default();
        // Page by page through the window, the caller's steps kept: a
        // window with more of them than one answer holds is refused, never
        // cut short.
        const PAGE: usize = 10_000;
        let to = end.saturating_add(1);
        let mut page = store.updates_between(start, to, PAGE)?;
        while !page.is_empty() {
            let next = match page.len() {
                PAGE => page.last().cloned(),
                _ => None,
            };
            for s in page {
                let key = (s.system.clone(), s.issue_id.clone());
                let visible = match seen.get(&key) {
                    Some(v) => *v,
                    None => {
                        let v = store.issue(&s.system, &s.issue_id)?.is_some_and(|r| {
                            scope.event(
                                model,
                                [r.tier1.as_deref(), r.tier2.as_deref(), r.tier3.as_deref()],
                            )
                        });
                        seen.insert(key, v);
                        v
                    }
                };
                if visible {
                    out.push(s);
                }
            }
            if out.len() > MAX_UPDATES {
                return Err(ApiError::BadRequest(format!(
                    "more than {MAX_UPDATES} updates of your requests between start_date and end_date: ask for a shorter window"
                )));
            }
            page = match next {
                Some(last) => store.updates_after(&last, to, PAGE)?,
                None => Vec::new(),
            };
        }
        let out = out
            .into_iter()
            .map(|s| {
                let zh = state::zh(&s.state).to_owned();
                RequestUpdate {
                    status: if state::is_closed(&s.state) {
                        "closed"
                    } else {
                        "open"
                    },
                    update_id: s.update_id,
                    service_request_id: s.issue_id,
                    updated_datetime: rfc3339(s.at),
                    description: zh.clone(),
                    external_status_code: zh,
                    system: (!s.system.is_empty()).then_some(s.system),
                }
            })
            .collect();
        Ok(Reply(format, List(out)))
    })
    .await
}

/// The answer to a POST: the update's id, as FixMyStreet's extension has it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UpdateAccepted {
    pub update_id: String,
}

impl Listed for UpdateAccepted {
    const LIST: &'static str = "service_request_updates";
    const ITEM: &'static str = "request_update";
}

/// POST an update (`servicerequestupdates.json` or `.xml`), form-encoded
/// or JSON: `update_id`, `service_request_id`, `status`,
/// `updated_datetime`, `description` (hashed, never stored in clear) and
/// optionally `external_status_code` with the lifecycle state (English or
/// Chinese), which wins over the two-valued `status`. A step that cannot
/// be stored is 400 with the reason; one whose case has not arrived yet is
/// kept and applied when it does.
#[utoipa::path(post, path = "/open311/v2/servicerequestupdates.json", operation_id = "open311_post_update",
    responses((status = 200, body = [UpdateAccepted]), (status = 400, body = [super::SpecError])), security(("bearer" = [])))]
pub async fn post(
    State(st): State<AppState>,
    c: Caller,
    format: Format,
    req: Request,
) -> Result<Reply<List<UpdateAccepted>>, ApiError> {
    // Form fields are all strings; a JSON body may carry numbers.
    let mut fields: serde_json::Map<String, serde_json::Value> = post_body(req).await?;
    for envelope in ["api_key", "jurisdiction_id"] {
        fields.remove(envelope);
    }
    let update_id = match fields.get("update_id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    if let Some(code) = fields.remove("external_status_code") {
        fields.insert("status".into(), code);
    }
    let body = serde_json::to_vec(&serde_json::Value::Object(fields))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let st2 = st.clone();
    let out = st
        .blocking(move || {
            let parsed = parse_updates(&st2.live.validator(), "application/json", &body)?;
            store_updates(&st2, c.user(), parsed.rows)
        })
        .await?;
    if let Some(row) = out.rows.into_iter().find(|r| r.outcome == "rejected") {
        return Err(ApiError::BadRequest(row.reason.unwrap_or_default()));
    }
    Ok(Reply(format, List(vec![UpdateAccepted { update_id }])))
}
