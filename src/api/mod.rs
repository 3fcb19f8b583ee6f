//! The HTTP service: JSON under `/api/v1`, Open311 under `/open311/v2`,
//! operations endpoints, and the static front end at `/`.
//!
//! In: an [`AppState`] (store, grid model, analytics snapshot). Out: one
//! [`app`] router that `wangge serve` binds and the tests drive without a
//! port. One route table (`routes`) registers each endpoint from its
//! handler's annotation and gives the OpenAPI document with the router.
//! Handlers extract, check scope ([`scope::Scope`]), make one call
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

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::{middleware, Extension, Router};
use tower_http::compression::CompressionLayer;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

pub use crate::live::snapshot_key;
pub use config::Config;
pub use error::ApiError;
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

/// Where the parts of the service are nested.
const API: &str = "/api/v1";
const OPEN311: &str = "/open311/v2";
const OGC: &str = "/ogc";
const TILES: &str = "/tiles";

/// One handler's routes, as `routes!` makes them from its annotation.
type Routes = UtoipaMethodRouter<AppState>;

/// The router's own answers to a path it does not serve and to a method a
/// path does not take. `OpenApiRouter` has no `method_not_allowed_fallback`,
/// so both are set on its axum router and the document is taken along.
fn fallbacks(routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let (router, doc) = routes.split_for_parts();
    let router = router
        .fallback(no_route)
        .method_not_allowed_fallback(no_method);
    OpenApiRouter::with_openapi(doc).merge(router.into())
}

/// The route table: every endpoint of the service, each registered once
/// from its handler's `#[utoipa::path]` (method and path), which gives the
/// router and the OpenAPI document at the same time.
fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let in_api = |r: Routes| openapi::under(API, r);
    let in_open311 = |r: Routes| openapi::with_xml_twins(openapi::under(OPEN311, r));
    let in_ogc = |r: Routes| openapi::under(OGC, r);
    let in_tiles = |r: Routes| openapi::under(TILES, r);
    // Endpoints that compute over many rows: limited per user.
    let costly = OpenApiRouter::new()
        .routes(in_api(routes!(map::map)))
        .routes(in_api(routes!(analysis::trend)))
        .routes(in_api(routes!(analysis::compare)))
        .routes(in_api(routes!(analysis::hotspots)))
        .routes(in_api(routes!(analysis::density)))
        .routes(in_api(routes!(emerging::emerging)))
        .routes(in_api(routes!(repeats::repeats)))
        .routes(in_api(routes!(map::export)))
        .routes(in_api(routes!(export::events)))
        .routes(in_api(routes!(export::units)))
        .routes(in_api(routes!(export::metrics)))
        .routes(in_api(routes!(issues::export_updates)))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit::costly));
    let v1 = OpenApiRouter::new()
        .routes(in_api(routes!(auth::login)))
        .routes(in_api(routes!(auth::logout)))
        .routes(in_api(routes!(auth::me)))
        .routes(in_api(routes!(map::get_catalogue)))
        .routes(in_api(routes!(map::categories)))
        .routes(in_api(routes!(map::basemap)))
        .routes(in_api(routes!(units::list)))
        .routes(in_api(routes!(units::one)))
        .routes(in_api(routes!(map::kpis)))
        .routes(in_api(routes!(issues::list)))
        .routes(in_api(routes!(issues::case)))
        .routes(in_api(routes!(ingest::ingest)))
        .routes(in_api(routes!(ingest::updates)))
        .routes(in_api(routes!(openapi::document)))
        .merge(costly);
    // Each resource in both formats (the extension chooses); errors in
    // the spec's shape, whatever answered them.
    let georeport = OpenApiRouter::new()
        .routes(in_open311(routes!(open311::discovery)))
        .routes(in_open311(routes!(open311::services)))
        .routes(in_open311(routes!(open311::definition)))
        .routes(in_open311(routes!(
            open311::requests::list,
            open311::requests::create
        )))
        .routes(in_open311(routes!(open311::requests::one)))
        .routes(in_open311(routes!(
            open311::updates::list,
            open311::updates::post
        )));
    let georeport = fallbacks(georeport).layer(middleware::from_fn_with_state(
        state.clone(),
        open311::answer,
    ));
    let features = OpenApiRouter::new()
        .routes(in_ogc(routes!(ogc::conformance)))
        .routes(in_ogc(routes!(ogc::collections)))
        .routes(in_ogc(routes!(ogc::one_collection)))
        .routes(in_ogc(routes!(ogc::items)))
        .routes(in_ogc(routes!(ogc::item)));
    let vector_tiles = OpenApiRouter::new().routes(in_tiles(routes!(tiles::tile)));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest(API, fallbacks(v1))
        .nest(OPEN311, georeport)
        .routes(routes!(ogc::landing))
        .nest(OGC, fallbacks(features))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .nest(TILES, fallbacks(vector_tiles))
}

/// The whole service.
pub fn app(state: AppState) -> Router {
    let (router, doc) = routes(&state).split_for_parts();
    // The front end: embedded, or from disk where the config says so. Its
    // files are not part of the API, so they stay out of the route table
    // and the document.
    web::mount(router, &state.config.server)
        .layer(Extension(Arc::new(doc)))
        .layer(middleware::from_fn_with_state(state.clone(), ops::observe))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(state.config.server.body_limit_bytes))
        // A body sent gzip-compressed (`Content-Encoding: gzip`, as batch
        // senders on a slow link do) is read decompressed; the body limit
        // counts the decompressed bytes, so a small bomb is refused 413.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
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
