//! The OpenAPI 3.1 document, generated from the handlers' annotations, so
//! it cannot drift from the routes the front end calls.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    analysis, auth, emerging, export, ingest, issues, map, ogc, ops, repeats, tiles, units,
};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "wangge 网格", description = "Grid-management analytics: units, map values, trends, league tables, hot spots, issues, ingest, analyst exports."),
    paths(
        auth::login, auth::me, auth::logout,
        map::get_catalogue, map::basemap, map::categories, map::map, map::kpis, map::export,
        export::events, export::units, export::metrics,
        units::list, units::one, tiles::tile,
        analysis::trend, analysis::compare, analysis::hotspots, analysis::density,
        emerging::emerging, repeats::repeats,
        issues::list, issues::case, issues::services, issues::requests, issues::one, issues::create,
        issues::request_updates, issues::post_request_update, issues::export_updates,
        ingest::ingest,
        ingest::updates,
        ops::healthz, ops::readyz, ops::metrics,
        ogc::landing, ogc::conformance, ogc::collections, ogc::one_collection, ogc::items, ogc::item,
        document,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "The OpenAPI 3.1 document of the service", content_type = "application/json")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
