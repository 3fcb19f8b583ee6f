//! The front end over HTTP: the files compiled into the binary
//! ([`crate::assets`]) by default, so the binary alone serves the map; or
//! directories on disk where `[server] web` or `[server.vendor]` name them
//! (front-end work without a rebuild). The Chinese font at
//! `/glyphs/NotoSansSC-Regular.woff2` is always the service's own cut for
//! the loaded grid version.
//!
//! Embedded files carry a strong `ETag` and `Cache-Control: no-cache`: a
//! browser keeps them and revalidates with a cheap 304, and an upgraded
//! binary's files are never served stale. A missing file under `/vendor/`
//! or `/glyphs/`, or any path that names a file, is a 404; only page paths
//! fall back to `index.html`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

use super::config::Server;
use super::{ApiError, AppState};
use crate::assets::{self, glyphs, glyphs::Glyphs};

/// Adds the front end's routes to `router`.
pub fn mount(mut router: Router<AppState>, cfg: &Server) -> Router<AppState> {
    for (prefix, dir) in &cfg.vendor {
        router = router.nest_service(prefix, ServeDir::new(dir));
    }
    for &prefix in assets::VENDOR_MOUNTS {
        if !cfg.vendor.contains_key(prefix) {
            router = router.route(
                &format!("{prefix}/{{*path}}"),
                get(
                    move |Path(path): Path<String>, headers: HeaderMap| async move {
                        embedded(prefix, &path, &headers)
                    },
                ),
            );
        }
    }
    router = router.route("/glyphs/{file}", get(font));
    if cfg.web.as_os_str().is_empty() {
        router.fallback(page)
    } else {
        let web = &cfg.web;
        router.fallback_service(ServeDir::new(web).fallback(ServeFile::new(web.join("index.html"))))
    }
}

fn not_found() -> Response {
    ApiError::NotFound("no such file".into()).into_response()
}

/// A 200 with the body, or a 304 when the client holds this version.
fn answer(
    headers: &HeaderMap,
    etag: &str,
    content_type: &str,
    body: impl Into<axum::body::Body>,
) -> Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.into().into_response();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

fn embedded(mount: &str, path: &str, headers: &HeaderMap) -> Response {
    match assets::file(mount, path) {
        Some(f) => answer(headers, &f.etag, f.content_type, f.bytes),
        None => not_found(),
    }
}

/// The embedded `web/`: a file by its path, `index.html` for page paths.
async fn page(req: Request) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return ApiError::MethodNotAllowed.into_response();
    }
    let path = req.uri().path().trim_start_matches('/');
    if path.is_empty() {
        return embedded("", "index.html", req.headers());
    }
    if assets::file("", path).is_some() {
        return embedded("", path, req.headers());
    }
    let names_a_file = path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    if names_a_file || path.starts_with("vendor/") || path.starts_with("glyphs/") {
        return not_found();
    }
    embedded("", "index.html", req.headers())
}

/// The font: the embedded face cut for the loaded grid version.
async fn font(
    State(st): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if file != glyphs::FILE_NAME {
        return Ok(not_found());
    }
    st.snapshot()?;
    let s = st.clone();
    let g = st.blocking(move || glyphs_for(&s)).await?;
    Ok(answer(&headers, &g.etag, "font/woff2", g.woff2.clone()))
}

/// The glyphs of the active grid version: cut on first use of a version
/// (at start-up, [`crate::cli`] asks for them once the data is loaded),
/// then kept. Blocking: about a second.
pub fn glyphs_for(st: &AppState) -> Result<Arc<Glyphs>, ApiError> {
    let snap = st.snapshot()?;
    let version = snap.grids.version.id;
    // Held while cutting: a second caller waits for the first one's cut.
    let mut cached = st.glyphs.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((v, g)) = cached.as_ref() {
        if *v == version {
            return Ok(g.clone());
        }
    }
    let t = Instant::now();
    let units = snap.grids.model.units();
    let g = glyphs::for_units(
        units.iter().map(|u| (u.code.as_str(), u.name.as_str())),
        &assets::ui_text(),
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(
        version,
        units = units.len(),
        chars = g.chars,
        bytes = g.woff2.len(),
        secs = t.elapsed().as_secs_f64(),
        "Chinese glyphs cut for the grid version"
    );
    for (code, name, chars) in &g.uncovered {
        tracing::warn!(
            code = code.as_str(),
            name = name.as_str(),
            chars = chars.as_str(),
            "unit name has characters the embedded font lacks; browsers without a font for them draw boxes"
        );
    }
    let g = Arc::new(g);
    *cached = Some((version, g.clone()));
    Ok(g)
}
