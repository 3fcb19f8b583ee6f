//! The HTTP service: JSON under `/api/v1`, Open311 under `/open311/v2`,
//! operations endpoints, and the static front end at `/`.
//!
//! In: an [`AppState`] (store, grid model, analytics snapshot). Out: one
//! [`app`] router that `wangge serve` binds and the tests drive without a
//! port. Handlers extract, check scope ([`scope::Scope`]), make one call
//! into the analytics or the store on a blocking thread, and return a DTO;
//! every error is an [`ApiError`] with a JSON `{code, message}` body
//! (under `/open311/v2` in GeoReport v2's own shape, JSON or XML).

mod analysis;
mod auth;
pub mod config;
pub mod disclosure;
mod emerging;
mod error;
mod export;
mod extract;
mod ingest;
mod issues;
pub mod limit;
mod map;
mod ogc;
mod open311;
mod openapi;
mod ops;
mod repeats;
pub mod scope;
pub mod server;
mod state;
pub mod throttle;
mod tiles;
mod units;
pub mod web;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};
use tower_http::compression::CompressionLayer;

pub use crate::live::snapshot_key;
pub use config::Config;
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use state::{zone_of, AppState, Grids};
pub use tiles::warm as warm_tiles;

async fn no_route() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn no_method() -> ApiError {
    ApiError::MethodNotAllowed
}

/// What the browser may load and do: only this service's own scripts,
/// styles, tiles, fonts and workers (MapLibre runs its worker from a blob
/// and draws images from data URLs), and the configured basemap server's
/// tiles; no framing, no sniffing, no referrer.
fn csp(config: &Config) -> axum::http::HeaderValue {
    let basemap = config.map.basemap_origin().ok().flatten();
    let extra = basemap.map(|o| format!(" {o}")).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:{extra}; worker-src 'self' blob:; child-src 'self' blob:; \
         connect-src 'self'{extra}; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    // The origin was checked with the configuration (no quotes, spaces or
    // semicolons); a value a header cannot carry falls back to no basemap.
    axum::http::HeaderValue::try_from(policy).unwrap_or_else(|_| csp(&Config::default()))
}

/// The security headers of every response (kept when a handler set its own).
async fn security_headers(
    axum::extract::State(policy): axum::extract::State<axum::http::HeaderValue>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(policy);
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    res
}

/// The whole service.
pub fn app(state: AppState) -> Router {
    // Endpoints that compute over many rows: limited per user.
    let costly = Router::new()
        .route("/map", get(map::map))
        .route("/trend", get(analysis::trend))
        .route("/compare", get(analysis::compare))
        .route("/hotspots", get(analysis::hotspots))
        .route("/density", get(analysis::density))
        .route("/hotspots/emerging", get(emerging::emerging))
        .route("/repeats", get(repeats::repeats))
        .route("/export", get(map::export))
        .route("/export/events", get(export::events))
        .route("/export/units", get(export::units))
        .route("/export/metrics", get(export::metrics))
        .route("/export/updates", get(issues::export_updates))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit::costly));
    let api = Router::new()
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/catalogue", get(map::get_catalogue))
        .route("/categories", get(map::categories))
        .route("/basemap", get(map::basemap))
        .route("/units", get(units::list))
        .route("/units/{code}", get(units::one))
        .route("/units/{code}/kpis", get(map::kpis))
        .route("/issues", get(issues::list))
        .route("/issues/{id}", get(issues::case))
        .route("/events", post(ingest::ingest))
        .route("/updates", post(ingest::updates))
        .route("/openapi.json", get(openapi::document))
        .merge(costly)
        .fallback(no_route)
        .method_not_allowed_fallback(no_method);
    // Each resource in both formats (the extension chooses); errors in
    // the spec's shape, whatever answered them.
    let open311 = Router::new()
        .route("/discovery.json", get(open311::discovery))
        .route("/discovery.xml", get(open311::discovery))
        .route("/services.json", get(open311::services))
        .route("/services.xml", get(open311::services))
        .route("/services/{code}", get(open311::definition))
        .route(
            "/requests.json",
            get(open311::requests::list).post(open311::requests::create),
        )
        .route(
            "/requests.xml",
            get(open311::requests::list).post(open311::requests::create),
        )
        .route("/requests/{id}", get(open311::requests::one))
        .route(
            "/servicerequestupdates.json",
            get(open311::updates::list).post(open311::updates::post),
        )
        .route(
            "/servicerequestupdates.xml",
            get(open311::updates::list).post(open311::updates::post),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            open311::answer,
        ));
    let ogc = Router::new()
        .route("/conformance", get(ogc::conformance))
        .route("/collections", get(ogc::collections))
        .route("/collections/{id}", get(ogc::one_collection))
        .route("/collections/{id}/items", get(ogc::items))
        .route("/collections/{id}/items/{fid}", get(ogc::item))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method);
    let tiles = Router::new()
        .route("/{tier}/{z}/{x}/{y}", get(tiles::tile))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method);
    let router = Router::new()
        .nest("/api/v1", api)
        .nest("/open311/v2", open311)
        .route("/ogc", get(ogc::landing))
        .nest("/ogc", ogc)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/tiles", tiles);
    // The front end: embedded, or from disk where the config says so.
    web::mount(router, &state.config.server)
        .layer(middleware::from_fn_with_state(state.clone(), ops::observe))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(state.config.server.body_limit_bytes))
        .layer(compression())
        .layer(middleware::from_fn_with_state(
            csp(&state.config),
            security_headers,
        ))
        .with_state(state)
}

/// gzip for text a client accepts it for: the tier-3 geometry of a county
/// is about 2 MB of GeoJSON, a long wait on a tablet at the end of a
/// township's network. Parquet and tar downloads are left as they are
/// (already compressed, and streamed).
fn compression() -> CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::predicate::{Predicate, SizeAbove};
    let textual = |_: axum::http::StatusCode,
                   _: axum::http::Version,
                   headers: &axum::http::HeaderMap,
                   _: &axum::http::Extensions| {
        headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.starts_with("application/json")
                    || ct.starts_with("application/geo+json")
                    || ct.starts_with("application/javascript")
                    || ct.starts_with("text/")
                    || ct.starts_with(tiles::MVT)
            })
    };
    CompressionLayer::new()
        .quality(tower_http::CompressionLevel::Fastest)
        .compress_when(SizeAbove::new(1024).and(textual))
}
