//! The one application error of the HTTP layer.
//!
//! One table maps each variant to its status and a stable snake_case `code`;
//! the body is always `{"code": ..., "message": ...}`. Client errors carry
//! their message; internal errors answer a generic message and are logged
//! once, here, with the cause.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::analytics::AnalyticsError;
use crate::store::StoreError;

/// Everything a handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed query, path or body.
    #[error("{0}")]
    BadRequest(String),
    /// A metric name the catalogue does not define.
    #[error("{0}")]
    UnknownMetric(String),
    /// No or an expired token, or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role may not do this (e.g. export as a leader).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource, or one outside the caller's scope (deliberately the same).
    #[error("{0}")]
    NotFound(String),
    /// The path exists, the method does not.
    #[error("this endpoint does not take this method")]
    MethodNotAllowed,
    /// The body is over the configured limit.
    #[error("request body over the configured limit (server.body_limit_bytes)")]
    PayloadTooLarge,
    /// A body whose content type the endpoint does not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Start-up (demo data, ingest, frame) is not finished.
    #[error("the service is starting: data are still loading")]
    NotReady,
    /// Too many failed logins for this name or address, or costly
    /// requests of this user: what, and the seconds to wait.
    #[error("{0}; try again in {1} s")]
    TooManyRequests(&'static str, u64),
    /// A query ran past the configured timeout.
    #[error("the query took longer than {0} s")]
    Timeout(u64),
    /// Anything else; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

/// The message of an error response, kept in its extensions for the
/// Open311 layer, which answers the same error in the spec's shape
/// (`[{code, description}]`, XML or JSON).
#[derive(Clone, Debug)]
pub struct ErrorText(pub String);

impl ApiError {
    /// The table: variant → (status, code).
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::UnknownMetric(_) => (StatusCode::BAD_REQUEST, "unknown_metric"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            ApiError::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The "not found" of a unit, also used for units out of scope.
    pub fn no_unit(code: &str) -> ApiError {
        ApiError::NotFound(format!("no unit {code:?}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "internal error; see the server log".to_owned()
            }
            other => other.to_string(),
        };
        let text = ErrorText(message.clone());
        let mut res = (status, Json(ErrorBody { code, message })).into_response();
        res.extensions_mut().insert(text);
        if let ApiError::TooManyRequests(_, secs) = self {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.max(1).into());
        }
        res
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::UnknownMetric { .. } => ApiError::UnknownMetric(e.to_string()),
            AnalyticsError::UnknownUnit { code } => ApiError::no_unit(&code),
            AnalyticsError::BadLevel { .. }
            | AnalyticsError::BadWindow { .. }
            | AnalyticsError::BadParameter { .. } => ApiError::BadRequest(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<polars::prelude::PolarsError> for ApiError {
    fn from(e: polars::prelude::PolarsError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::live::LiveError> for ApiError {
    fn from(e: crate::live::LiveError) -> Self {
        use crate::live::LiveError as L;
        match e {
            L::NotReady => ApiError::NotReady,
            L::BadInput(m) => ApiError::BadRequest(m),
            L::UnsupportedMediaType(m) => ApiError::UnsupportedMediaType(m),
            L::Analytics(a) => a.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
