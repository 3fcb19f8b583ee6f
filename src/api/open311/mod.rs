//! Open311 GeoReport v2 under `/open311/v2`, for the upstream systems
//! (hotline, city-management platforms) that speak it: issue categories as
//! services, issues as service requests, case steps as request updates
//! (FixMyStreet's extension), and the discovery document.
//!
//! Every resource answers in JSON or XML after its extension
//! (`requests.xml`, `requests/K-1.json`); the two are one serde model each
//! ([`format`]). Errors take the spec's shape, `[{code, description}]` or
//! `<errors><error>…`, with the HTTP status as the code; a missing or
//! refused credential is 403, as the spec says. A machine client may send
//! its API token as `api_key` (query or form body) instead of the bearer
//! header ([`envelope`]). Reads answer only what the caller's scope holds,
//! like the JSON API. Free-text descriptions are never published (every
//! request's `service_notice` says so) and names, phone numbers and
//! e-mail addresses sent with a new request are not stored.
//!
//! Not here: `tokens/{id}`, which serves services of type `batch`; every
//! service here is `realtime` (a POST answers with the request's id).

pub mod envelope;
pub mod format;
pub mod requests;
pub mod updates;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::P;
use super::state::AppState;
pub use format::{spec_error, SpecError};
use format::{Document, Format, List, Listed, Plural, Reply};

/// The `specification` token of GeoReport v2 in the discovery document.
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

/// When this interface last changed (discovery's `changeset`: services
/// and definitions as clients may cache them).
pub const CHANGESET: &str = "2026-12-05T00:00:00+08:00";

/// The middleware of every Open311 route: a `jurisdiction_id` other than
/// the configured one is 404 (the spec's answer to an unknown one; with
/// none configured any is accepted), and errors take the spec's shape.
pub async fn answer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let format = Format::of_path(req.uri().path());
    let asked = req
        .extensions()
        .get::<envelope::Envelope>()
        .and_then(|e| e.jurisdiction_id.clone());
    let ours = &st.config.open311.jurisdiction_id;
    let res = match asked {
        Some(j) if !ours.is_empty() && j != *ours => ApiError::NotFound(format!(
            "jurisdiction_id {j:?} is not served here (this service answers for {ours:?})"
        ))
        .into_response(),
        _ => next.run(req).await,
    };
    spec_error(format, res)
}

/// An endpoint of the discovery document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub specification: &'static str,
    pub url: String,
    pub changeset: &'static str,
    /// `production`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// MIME types: `text/xml`, `application/json`.
    #[schema(value_type = Vec<String>)]
    pub formats: Plural<&'static str>,
}

/// The service discovery document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Discovery {
    pub changeset: &'static str,
    pub contact: String,
    pub key_service: String,
    #[schema(value_type = Vec<Endpoint>)]
    pub endpoints: Plural<Endpoint>,
}

impl Document for Discovery {
    const ROOT: &'static str = "discovery";
}

/// Open311 service discovery: where the GeoReport v2 endpoint is, in which
/// formats, and whom to ask for a key (`[open311]` settings). No token needed.
#[utoipa::path(get, path = "/open311/v2/discovery.json", operation_id = "open311_discovery",
    responses((status = 200, body = Discovery)))]
pub async fn discovery(
    State(st): State<AppState>,
    format: Format,
    headers: HeaderMap,
) -> Reply<Discovery> {
    let cfg = &st.config.open311;
    let url = if cfg.url.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        format!("http://{host}/open311/v2")
    } else {
        cfg.url.clone()
    };
    let endpoint = Endpoint {
        specification: SPECIFICATION,
        url,
        changeset: CHANGESET,
        kind: "production",
        formats: Plural::new("format", vec!["text/xml", "application/json"]),
    };
    Reply(
        format,
        Discovery {
            changeset: CHANGESET,
            contact: cfg.contact.clone(),
            key_service: cfg.key_service.clone(),
            endpoints: Plural::new("endpoint", vec![endpoint]),
        },
    )
}

/// A service: one issue category.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Service {
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    /// Always false: no service asks for more than the request's own fields.
    pub metadata: bool,
    /// Always `realtime`: a POST answers with the request's id.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub keywords: String,
    pub group: &'static str,
}

impl Listed for Service {
    const LIST: &'static str = "services";
    const ITEM: &'static str = "service";
}

/// The issue categories found in the caller's units, most frequent first.
async fn categories(st: &AppState, c: Caller) -> Result<Vec<String>, ApiError> {
    let cats = super::map::visible_categories(st, c).await?;
    Ok(cats
        .into_iter()
        .filter(|x| x.kind == crate::analytics::preagg::ISSUE)
        .map(|x| x.category)
        .collect())
}

/// GET services: the issue categories found in the caller's units, most
/// frequent first (`services.xml` alike).
#[utoipa::path(get, path = "/open311/v2/services.json", operation_id = "open311_services",
    responses((status = 200, body = [Service]), (status = 403, body = [SpecError])), security(("bearer" = [])))]
pub async fn services(
    State(st): State<AppState>,
    c: Caller,
    format: Format,
) -> Result<Reply<List<Service>>, ApiError> {
    let list = categories(&st, c)
        .await?
        .into_iter()
        .map(|code| Service {
            service_name: code.clone(),
            service_code: code,
            description: String::new(),
            metadata: false,
            kind: "realtime",
            keywords: String::new(),
            group: crate::vocab::ISSUE,
        })
        .collect();
    Ok(Reply(format, List(list)))
}

/// A service attribute. There are none: wangge's services ask for nothing
/// beyond the request's own fields, so every definition lists no attribute.
#[derive(Serialize)]
pub enum Attribute {}

/// A service definition: its code and its (empty) attributes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceDefinition {
    pub service_code: String,
    #[schema(value_type = Vec<Object>)]
    pub attributes: Plural<Attribute>,
}

impl Document for ServiceDefinition {
    const ROOT: &'static str = "service_definition";
}

/// GET a service definition (`services/{code}.json` or `.xml`): the code
/// and no attributes, for a service among the caller's; else 404.
#[utoipa::path(get, path = "/open311/v2/services/{code}", operation_id = "open311_service_definition",
    params(("code" = String, Path, description = "service code with .json or .xml")),
    responses((status = 200, body = ServiceDefinition), (status = 404, body = [SpecError])), security(("bearer" = [])))]
pub async fn definition(
    State(st): State<AppState>,
    c: Caller,
    P(code): P<String>,
) -> Result<Reply<ServiceDefinition>, ApiError> {
    let (code, format) = Format::split(&code)?;
    if !categories(&st, c).await?.contains(&code) {
        return Err(ApiError::NotFound(format!("no service {code:?}")));
    }
    Ok(Reply(
        format,
        ServiceDefinition {
            service_code: code,
            attributes: Plural::new("attribute", Vec::new()),
        },
    ))
}
