//! Operations: `/healthz`, `/readyz`, `/metrics` (Prometheus text) and the
//! middleware that logs every request, counts it, and writes the audit log.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: data loaded and the database answers.
#[utoipa::path(get, path = "/readyz", responses((status = 200), (status = 503)))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let store = st.store.clone();
    let db = tokio::task::spawn_blocking(move || store.meta("schema").is_ok())
        .await
        .unwrap_or(false);
    if st.is_ready() && db {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            if db {
                "loading"
            } else {
                "database unavailable"
            },
        )
            .into_response()
    }
}

/// Prometheus text exposition, for an admin's session or token, or for the
/// scraper's bearer token `[server] metrics_token` when one is set.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain"),
    (status = 401, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn metrics(
    State(st): State<AppState>,
    ext: axum::http::Extensions,
    headers: axum::http::HeaderMap,
) -> Response {
    let admin = ext
        .get::<super::auth::Caller>()
        .is_some_and(|c| c.user().role == crate::store::Role::Admin);
    let token = &st.config.server.metrics_token;
    let scraper = !token.is_empty()
        && headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| {
                use sha2::Digest;
                // Compared as digests: the time does not depend on where they differ.
                sha2::Sha256::digest(t.trim()) == sha2::Sha256::digest(token)
            });
    if !admin && !scraper {
        return super::error::ApiError::Unauthorized(
            "metrics are for admins, or for the scraper's [server] metrics_token".into(),
        )
        .into_response();
    }
    let m = &st.metrics;
    let live = &st.live.counters;
    let mut out = String::new();
    out.push_str("# HELP wangge_http_requests_total HTTP requests by route, method and status.\n# TYPE wangge_http_requests_total counter\n");
    let mut total = 0;
    let mut rows: Vec<(String, String, u16, u64)> = Vec::new();
    for (route, by) in m.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        for ((method, status), n) in by {
            rows.push((route.clone(), method.to_string(), *status, *n));
        }
    }
    rows.sort();
    for (route, method, status, n) in rows {
        total += n;
        let _ = writeln!(out, "wangge_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}");
    }
    let secs = m.latency_us.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(out, "# HELP wangge_http_request_seconds Time spent answering.\n# TYPE wangge_http_request_seconds summary");
    let _ = writeln!(
        out,
        "wangge_http_request_seconds_sum {secs}\nwangge_http_request_seconds_count {total}"
    );
    let counters = [
        (
            "wangge_ingest_rows_total",
            "Rows received by the ingest endpoint.",
            &live.ingest_read,
        ),
        (
            "wangge_ingest_stored_total",
            "Events newly stored by the ingest endpoint.",
            &live.ingest_stored,
        ),
        (
            "wangge_ingest_rejected_total",
            "Rows rejected by the ingest endpoint (duplicates included).",
            &live.ingest_rejected,
        ),
        (
            "wangge_ingest_duplicates_total",
            "Rows whose (kind, id) was already stored.",
            &live.ingest_duplicates,
        ),
        (
            "wangge_updates_rows_total",
            "Transition rows received by the updates endpoints.",
            &live.updates_read,
        ),
        (
            "wangge_frame_rebuilds_total",
            "Rebuilds of the analytics frame after ingest.",
            &live.rebuilds,
        ),
        (
            "wangge_map_cache_hits_total",
            "Map responses served from the cache.",
            &m.cache_hits,
        ),
        (
            "wangge_map_cache_misses_total",
            "Map responses computed.",
            &m.cache_misses,
        ),
    ];
    for (name, help, v) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            v.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP wangge_frame_rows Events in the analytics frame.\n# TYPE wangge_frame_rows gauge\nwangge_frame_rows {}",
        live.frame_rows.load(Ordering::Relaxed)
    );
    let pending = st.store.pending_updates().unwrap_or(-1);
    let _ = writeln!(
        out,
        "# HELP wangge_updates_pending Updates waiting for their case.\n# TYPE wangge_updates_pending gauge\nwangge_updates_pending {pending}"
    );
    let _ = writeln!(
        out,
        "# HELP wangge_ready 1 when data are loaded.\n# TYPE wangge_ready gauge\nwangge_ready {}",
        u8::from(st.is_ready())
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// What the audit log calls a request, by path.
fn action(method: &str, path: &str) -> Option<&'static str> {
    // A HEAD delivers nothing (the exports answer it from their headers).
    if method == "HEAD" {
        return None;
    }
    if path.starts_with("/api/v1/export") {
        return Some("export");
    }
    if method == "POST"
        && (path == "/api/v1/events" || path == "/api/v1/updates" || path.starts_with("/open311/"))
    {
        return Some("ingest");
    }
    if path == "/api/v1/login" || path == "/api/v1/openapi.json" {
        return None;
    }
    (path.starts_with("/api/v1/") || path.starts_with("/open311/") || path.starts_with("/ogc"))
        .then_some("read")
}

/// Logs, counts and audits each request. Nothing here allocates for a
/// request the audit has already seen this second (a map polled by many
/// clients is the busiest path the service has).
pub async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let t = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let session = req.extensions().get::<Caller>().map(|c| c.0.clone());
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
    st.metrics.latency_us.fetch_add(us, Ordering::Relaxed);
    st.metrics.count(
        route.as_ref().map_or("unmatched", |m| m.as_str()),
        &method,
        status,
    );
    let user = session.as_ref().map(|s| s.user.name.as_str());
    let path = uri.path();
    tracing::info!(target: "wangge::request", %method, path, status, ms = us as f64 / 1000.0, user = user.unwrap_or("-"));
    if let (Some(action), Some(user)) = (action(method.as_str(), path), user) {
        let target = uri.path_and_query().map_or(path, |p| p.as_str());
        let target = super::open311::envelope::redacted(target);
        st.audit_request(user, action, method.as_str(), &target, status);
    }
    res
}
