//! Extractors whose rejections are [`ApiError`]s, so a malformed query,
//! path or body gets the same `{code, message}` JSON as every other error
//! instead of axum's plain-text rejection.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request};
use axum::http::request::Parts;
use axum::http::Method;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `Query<T>` answering 400 `bad_request` JSON.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        unknown_parameter(parts)?;
        parse_query(parts.uri.query()).map(Q)
    }
}

/// The query string as `T`; a value that does not parse is refused with
/// the parameter's name (`from: input is out of range`).
pub(super) fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(
        query.unwrap_or_default().as_bytes(),
    ));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // A field that names itself (the window's dates) is not named twice.
        ApiError::BadRequest(match path.as_str() {
            "" | "." | "?" => inner,
            p if inner.starts_with(&format!("{p}: ")) => inner,
            p => format!("{p}: {inner}"),
        })
    })
}

/// A query parameter that an `/api/v1` route does not take, as its entry
/// in the API document lists them: a mistyped filter (`form=` for
/// `from=`) would otherwise be dropped and the answer cover more than was
/// asked. The other families (OGC API, Open311) follow their standards,
/// whose clients may send parameters of their own.
fn unknown_parameter(parts: &Parts) -> Result<(), ApiError> {
    let (Some(route), Some(doc)) = (
        parts.extensions.get::<MatchedPath>(),
        parts.extensions.get::<Arc<utoipa::openapi::OpenApi>>(),
    ) else {
        return Ok(());
    };
    check_query(doc, &parts.method, route, parts.uri.query())
}

/// [`Q`]'s check of the query's parameter names, for a handler that parses
/// its query itself.
pub(super) fn check_query(
    doc: &utoipa::openapi::OpenApi,
    method: &Method,
    route: &MatchedPath,
    query: Option<&str>,
) -> Result<(), ApiError> {
    use utoipa::openapi::path::ParameterIn;
    let Some(query) = query.filter(|_| route.as_str().starts_with("/api/v1/")) else {
        return Ok(());
    };
    let Some(item) = doc.paths.paths.get(route.as_str()) else {
        return Ok(());
    };
    let op = match *method {
        // A HEAD is answered by the GET route.
        Method::GET | Method::HEAD => item.get.as_ref(),
        Method::POST => item.post.as_ref(),
        Method::PUT => item.put.as_ref(),
        Method::DELETE => item.delete.as_ref(),
        _ => None,
    };
    let taken: Vec<&str> = item
        .parameters
        .iter()
        .chain(op.and_then(|o| o.parameters.as_ref()))
        .flatten()
        .filter(|p| matches!(p.parameter_in, ParameterIn::Query))
        .map(|p| p.name.as_str())
        .collect();
    match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| !taken.contains(&k.as_ref())) {
        None => Ok(()),
        Some((k, _)) => Err(ApiError::BadRequest(format!(
            "unknown query parameter `{k}`; {} takes {}",
            route.as_str(),
            match taken.is_empty() {
                true => "none".to_owned(),
                false => taken.join(", "),
            }
        ))),
    }
}

/// The `If-None-Match` header alone (extracting the whole `HeaderMap`
/// would copy every header of every request).
pub struct IfNoneMatch(pub Option<axum::http::HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatch(
            parts
                .headers
                .get(axum::http::header::IF_NONE_MATCH)
                .cloned(),
        ))
    }
}

/// `Path<T>` answering 400 `bad_request` JSON.
pub struct P<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| P(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// The raw body, answering 413 `payload_too_large` JSON over the limit.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e| match e {
                BytesRejection::FailedToBufferBody(ref inner)
                    if inner.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::PayloadTooLarge
                }
                other => ApiError::BadRequest(other.body_text()),
            })
    }
}

/// A JSON body, answering 400 `bad_request` JSON when it does not parse.
pub struct J<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for J<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Body(bytes) = Body::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(J)
            .map_err(|e| ApiError::BadRequest(format!("body is not the expected JSON: {e}")))
    }
}

/// A tier from a query: 0 (county) to 3 (grid), else 400.
pub fn check_level(level: u8) -> Result<u8, ApiError> {
    if level > 3 {
        return Err(ApiError::BadRequest(format!(
            "level {level} is not a tier 0..3"
        )));
    }
    Ok(level)
}
