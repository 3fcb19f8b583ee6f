//! The OpenAPI 3.1 document, generated from the handlers' annotations, so
//! it cannot drift from the routes the front end calls.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    analysis, auth, emerging, export, ingest, issues, map, ogc, open311, ops, repeats, tiles, units,
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

/// Each Open311 resource documented at its `.json` path is also served at
/// the `.xml` one: the same operation, answered as `text/xml`.
struct XmlTwins;

impl Modify for XmlTwins {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let twins: Vec<(String, utoipa::openapi::PathItem)> = doc
            .paths
            .paths
            .iter()
            .filter(|(p, _)| p.starts_with("/open311/") && p.ends_with(".json"))
            .map(|(p, item)| {
                let mut item = item.clone();
                for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                    if let Some(id) = &mut op.operation_id {
                        id.push_str("_xml");
                    }
                    for r in op.responses.responses.values_mut() {
                        if let utoipa::openapi::RefOr::T(r) = r {
                            if let Some(c) = r.content.shift_remove("application/json") {
                                r.content.insert("text/xml".into(), c);
                            }
                        }
                    }
                }
                (format!("{}.xml", p.trim_end_matches(".json")), item)
            })
            .collect();
        doc.paths.paths.extend(twins);
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
        issues::list, issues::case, issues::export_updates,
        open311::discovery, open311::services, open311::definition,
        open311::requests::list, open311::requests::one, open311::requests::create,
        open311::updates::list, open311::updates::post,
        ingest::ingest,
        ingest::updates,
        ops::healthz, ops::readyz, ops::metrics,
        ogc::landing, ogc::conformance, ogc::collections, ogc::one_collection, ogc::items, ogc::item,
        document,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&Bearer, &XmlTwins)
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "The OpenAPI 3.1 document of the service", content_type = "application/json")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
