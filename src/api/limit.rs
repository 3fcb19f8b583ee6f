//! Per-client limits on the endpoints that compute over many rows (map
//! values, trends, league tables, hot spots, exports): each user may start
//! `[server] costly_per_minute` of them a minute, with bursts of
//! `costly_burst`; past that a request answers 429 with `Retry-After` and
//! costs nothing. One script looping over exports cannot slow the map of
//! everyone else. Keyed by user name (only authenticated requests reach a
//! handler; the keys are bounded by the user table); HEAD, which computes
//! nothing, is not counted.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::error::ApiError;
use super::state::AppState;

/// Middleware over the costly routes.
pub async fn costly(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::HEAD {
        if let Some(c) = req.extensions().get::<Caller>() {
            if let Err(secs) = st.costly.check(&c.user().name) {
                return ApiError::TooManyRequests(
                    "too many costly requests (maps, trends, rankings, hot spots, exports) this minute",
                    secs,
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}
