//! The OpenAPI 3.1 document, generated from the handlers' annotations by
//! the same route table that builds the router ([`super::app`]), so a route
//! cannot be served without being documented, nor documented without
//! being served.
//!
//! Each handler's `#[utoipa::path]` names the whole path a client calls
//! (`/api/v1/map`); the route table puts it in the router nested at its
//! prefix through [`under`], which checks the prefix and keeps the rest.

use std::sync::Arc;

use axum::{Extension, Json};
use utoipa::openapi::path::Paths;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::UtoipaMethodRouter;

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

/// What the document says besides its paths: its title, the error body
/// and the bearer scheme. The paths come from the route table.
#[derive(OpenApi)]
#[openapi(
    info(title = "wangge 网格", description = "Grid-management analytics: units, map values, trends, league tables, hot spots, issues, ingest, analyst exports."),
    components(schemas(super::error::ErrorBody)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

/// `routes` for a router nested at `prefix`: the paths of their
/// annotations, which name the whole path as served, cut to the part
/// after the prefix (the nesting puts it back, in the router and in the
/// document alike).
///
/// # Panics
///
/// When an annotation names a path outside `prefix`: the route table
/// would serve the handler somewhere else than its document says. Every
/// build of the router meets it, so no such table gets past the tests.
pub fn under<S>(prefix: &str, routes: UtoipaMethodRouter<S>) -> UtoipaMethodRouter<S> {
    let (schemas, paths, router) = routes;
    let mut nested = Paths::new();
    for (path, item) in paths.paths {
        let Some(rest) = path.strip_prefix(prefix).filter(|r| r.starts_with('/')) else {
            panic!("{path} is documented outside {prefix}, where the route table puts it");
        };
        nested.paths.insert(rest.to_owned(), item);
    }
    (schemas, nested, router)
}

/// `routes` also at the `.xml` twin of each `.json` path: GeoReport v2
/// serves every resource in both formats, the same operation answered as
/// `text/xml`.
pub fn with_xml_twins<S>(routes: UtoipaMethodRouter<S>) -> UtoipaMethodRouter<S> {
    let (schemas, mut paths, router) = routes;
    let twins: Vec<(String, utoipa::openapi::PathItem)> = paths
        .paths
        .iter()
        .filter_map(|(p, item)| {
            let stem = p.strip_suffix(".json")?;
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
            Some((format!("{stem}.xml"), item))
        })
        .collect();
    paths.paths.extend(twins);
    (schemas, paths, router)
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json",
    responses((status = 200, description = "The OpenAPI 3.1 document of the service", content_type = "application/json")))]
pub async fn document(
    Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(utoipa::openapi::OpenApi::clone(&doc))
}
