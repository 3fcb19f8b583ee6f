//! `GET /api/v1/hotspots/emerging`: emerging hot spots of a count metric
//! over the units of a tier the caller sees in full, scoped as
//! `/api/v1/hotspots` is; see [`crate::analytics::emerging`].

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::Q;
use super::map::Window;
use super::scope::Scope;
use super::state::AppState;
use crate::analytics::emerging::{self, Category, Params, Rules};
use crate::analytics::{metric, AnalyticsError, Granularity};
use crate::export::metrics::EmergingColumns;

/// Most permutations one request may ask for.
const MAX_PERMUTATIONS: usize = 999;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmergingQuery {
    pub level: u8,
    /// A count metric of the catalogue.
    pub metric: String,
    pub parent: Option<String>,
    /// day, week (ISO) or month (default).
    pub grain: Option<String>,
    /// Previous periods in each bin's neighbourhood (default 1).
    pub lag: Option<usize>,
    /// sfdep (default) or arcgis.
    pub rules: Option<String>,
    /// Permutations for pseudo p-values (default 199, at most 999; 0 = analytic p).
    pub permutations: Option<usize>,
    /// Judge bins by their Benjamini-Hochberg q.
    pub fdr: Option<bool>,
    #[serde(flatten)]
    #[param(ignore)]
    pub window: Window,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EmergingUnit {
    pub code: String,
    pub category: Category,
    /// Mann-Kendall τ of the unit's Gi* z series.
    pub tau: f64,
    /// Two-sided p of that trend.
    pub p: f64,
    /// Gi* z per period.
    pub z: Vec<f64>,
    /// Whether each period's bin was significant.
    pub significant: Vec<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LegendEntry {
    pub category: Category,
    pub zh: &'static str,
    pub en: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Emerging {
    /// Period labels, oldest first.
    pub periods: Vec<String>,
    /// Empty with fewer than three units (a window of fewer than two periods is a 400).
    pub units: Vec<EmergingUnit>,
    /// Every category with its zh-CN and English names, in display order.
    pub legend: Vec<LegendEntry>,
}

fn grain(s: Option<&str>) -> Result<Granularity, ApiError> {
    s.unwrap_or("month")
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("grain {e}")))
}

impl EmergingQuery {
    fn params(&self) -> Result<Params, ApiError> {
        let rules: Rules = self
            .rules
            .as_deref()
            .unwrap_or("sfdep")
            .parse()
            .map_err(ApiError::BadRequest)?;
        let permutations = self.permutations.unwrap_or(emerging::DEFAULT_PERMUTATIONS);
        if permutations > MAX_PERMUTATIONS {
            return Err(ApiError::BadRequest(format!(
                "permutations {permutations}: at most {MAX_PERMUTATIONS}"
            )));
        }
        let lag = self.lag.unwrap_or(emerging::DEFAULT_LAG);
        if !(1..=12).contains(&lag) {
            return Err(ApiError::BadRequest(format!("lag {lag}: 1 to 12 periods")));
        }
        Ok(Params {
            lag,
            permutations,
            fdr: self.fdr.unwrap_or(false),
            rules,
            ..Params::default()
        })
    }
}

/// The categories column of a metrics export (blocking): emerging hot
/// spots of the count metric `def` by month over the window `q`, default
/// parameters, over the units of `level` under `parent` that `user` sees
/// in full; empty when there are too few units or periods for a statistic.
pub fn export_columns(
    st: &AppState,
    snap: &crate::live::Snapshot,
    user: &crate::store::User,
    level: u8,
    parent: Option<&str>,
    def: &'static crate::analytics::MetricDef,
    q: &crate::analytics::Query,
) -> Result<EmergingColumns, ApiError> {
    let model = &snap.grids.model;
    let scope = Scope::of(user, model);
    let parent = parent.map(|p| scope.unit_full(model, p)).transpose()?;
    let units = scope.full_units(model, level, parent);
    if units.len() < 3 {
        return Ok(EmergingColumns::new());
    }
    let w = st.contiguity(model, &units)?;
    Ok(emerging::categories(
        &snap.pre, model, level, &units, def, q, &w,
    )?)
}

/// Emerging hot-spot category, trend and Gi* series of the visible units of a tier.
#[utoipa::path(get, path = "/api/v1/hotspots/emerging", params(EmergingQuery, Window), responses((status = 200, body = Emerging), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn emerging(
    State(st): State<AppState>,
    c: Caller,
    Q(h): Q<EmergingQuery>,
) -> Result<Json<Emerging>, ApiError> {
    let def = metric(&h.metric)?;
    let g = grain(h.grain.as_deref())?;
    let params = h.params()?;
    let q = h.window.query(&st)?;
    let snap = st.snapshot()?;
    let st2 = st.clone();
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let parent = h
            .parent
            .as_deref()
            .map(|p| scope.unit_full(model, p))
            .transpose()?;
        let units = scope.full_units(model, h.level, parent);
        let legend = Category::ALL
            .iter()
            .map(|&c| LegendEntry {
                category: c,
                zh: c.zh(),
                en: c.en(),
            })
            .collect();
        let empty = |legend| Emerging {
            periods: Vec::new(),
            units: Vec::new(),
            legend,
        };
        if units.len() < 3 {
            return Ok(Json(empty(legend)));
        }
        let w = st2.contiguity(model, &units)?;
        let report = match emerging::run(&snap.pre, model, h.level, &units, def, &q, g, &w, params)
        {
            Ok(r) => r,
            // Too few periods or units: no statistic, not an error.
            Err(AnalyticsError::Shape { .. }) => return Ok(Json(empty(legend))),
            Err(e) => return Err(e.into()),
        };
        Ok(Json(Emerging {
            periods: report.periods.into_iter().map(|p| p.label).collect(),
            units: report
                .units
                .into_iter()
                .map(|u| EmergingUnit {
                    code: u.code,
                    category: u.category,
                    tau: u.tau,
                    p: u.p,
                    z: u.z,
                    significant: u.significant,
                })
                .collect(),
            legend,
        }))
    })
    .await
}
