//! `GET /api/v1/repeats`: repeat-complaint points (重复投诉点位) for the
//! roles that may see event points (admins and analysts, as
//! `/api/v1/density`); see [`crate::analytics::repeats`].
//!
//! Only the issues in the grids the caller sees fully (under `parent` when
//! given) are clustered, so nothing outside the caller's units counts
//! towards or shows in a cluster. A cluster carries no free text and no
//! case id: its centre, category, count, peak, first and last local date
//! and the codes of its unit.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::Q;
use super::map::Window;
use super::scope::Scope;
use super::state::AppState;
use crate::analytics::filter::{date_of, DAY_US};
use crate::analytics::metrics;
use crate::analytics::repeats::{self, RepeatParams};

/// Most clusters one answer lists (the per-unit counts count them all).
const MAX_CLUSTERS: usize = 5_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RepeatsQuery {
    /// Tier of the per-unit counts (1 township, 2 village, 3 grid; default 1).
    pub level: Option<u8>,
    /// Only the issues in this unit (a township, village or grid).
    pub parent: Option<String>,
    /// Issues within one span that make a listed point (default 3).
    pub min: Option<usize>,
    /// Largest distance between two linked issues, metres (default 100, at most 1,000).
    pub meters: Option<f64>,
    /// Largest time between two linked issues, days (default 30, at most 366).
    pub days: Option<u32>,
    #[serde(flatten)]
    #[param(ignore)]
    pub window: Window,
}

/// One repeat-complaint point.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RepeatDto {
    /// Centre (mean of the issues), WGS84.
    pub lon: f64,
    pub lat: f64,
    pub category: String,
    /// Issues in the cluster.
    pub count: usize,
    /// Most issues inside one `days`-long span (decides the level).
    pub peak: usize,
    /// Local date of the first issue.
    pub first: String,
    /// Local date of the last issue.
    pub last: String,
    /// The grid (or the deepest unit) most of its issues are in.
    pub grid: Option<String>,
    /// Its unit at `level`.
    pub unit: Option<String>,
}

/// Repeat points per unit at the assessment levels.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RepeatUnit {
    pub code: String,
    /// Points with 3 or more issues in one span (3次以上).
    pub repeat_points_3: usize,
    /// Points with 5 or more (5次以上).
    pub repeat_points_5: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Repeats {
    pub meters: f64,
    pub days: u32,
    pub min: usize,
    /// Points with a peak of at least `min`, largest peak first.
    pub clusters: Vec<RepeatDto>,
    /// Whether `clusters` was cut at 5,000.
    pub truncated: bool,
    /// Every unit of `level` in view, with its counts.
    pub units: Vec<RepeatUnit>,
}

/// Repeat-complaint points of the issues in the caller's grids, with the
/// counts per unit of a tier; for admins and analysts, 403 otherwise.
#[utoipa::path(get, path = "/api/v1/repeats", params(RepeatsQuery, Window),
    responses((status = 200, body = Repeats), (status = 400, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn repeats(
    State(st): State<AppState>,
    c: Caller,
    Q(r): Q<RepeatsQuery>,
) -> Result<Json<Repeats>, ApiError> {
    super::scope::sees_points(
        c.user(),
        "repeat-complaint points are event points: for admins and analysts",
    )?;
    let level = r.level.unwrap_or(1);
    if !(1..=3).contains(&level) {
        return Err(ApiError::BadRequest(format!(
            "level {level}: use 1 (township), 2 (village) or 3 (grid)"
        )));
    }
    let params = RepeatParams {
        meters: r.meters.unwrap_or(repeats::DEFAULT_METERS),
        days: r.days.unwrap_or(repeats::DEFAULT_DAYS),
    };
    if params.meters > 1_000.0 || params.days > 366 {
        return Err(ApiError::BadRequest(
            "meters at most 1,000 and days at most 366".into(),
        ));
    }
    params.validate()?;
    let min = r.min.unwrap_or(repeats::DEFAULT_MIN);
    repeats::validate_min(min)?;
    let q = r.window.query(&st)?;
    let snap = st.snapshot()?;
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let parent = r
            .parent
            .as_deref()
            .map(|p| scope.unit_full(model, p))
            .transpose()?;
        let grids = (!scope.is_all() || parent.is_some())
            .then(|| scope.full_units(model, crate::grid::GRID_LEVEL, parent));
        let found =
            metrics::repeat_report(&snap.pre, model, grids.as_deref(), level, &q, &params, min)?;
        let day =
            |us: i64| date_of((us + q.zone.offset_us()).div_euclid(DAY_US) as i32).to_string();
        let mut clusters = Vec::new();
        for cl in found.clusters.iter().filter(|cl| cl.peak >= min) {
            let home = cl.home().and_then(|code| model.index_of(code));
            let at_level = home.and_then(|i| model.ancestor_at(i, level));
            clusters.push(RepeatDto {
                lon: cl.lon,
                lat: cl.lat,
                category: cl.category.clone(),
                count: cl.count,
                peak: cl.peak,
                first: day(cl.first_us),
                last: day(cl.last_us),
                grid: home.map(|i| model.unit(i).code.clone()),
                unit: at_level.map(|i| model.unit(i).code.clone()),
            });
        }
        let truncated = clusters.len() > MAX_CLUSTERS;
        clusters.truncate(MAX_CLUSTERS);
        Ok(Json(Repeats {
            meters: params.meters,
            days: params.days,
            min,
            clusters,
            truncated,
            units: scope
                .full_units(model, level, parent)
                .into_iter()
                .map(|i| RepeatUnit {
                    code: model.unit(i).code.clone(),
                    repeat_points_3: found.counts[i][0],
                    repeat_points_5: found.counts[i][1],
                })
                .collect(),
        }))
    })
    .await
}
