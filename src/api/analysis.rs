//! Trend with alerts, the league table of a unit's children, and hot spots.
//!
//! Adapters over [`crate::analytics`]: the catalogue's trend function counts
//! events only, so the trend of any metric is computed here period by
//! period from the analytics' per-unit ingredients, over pre-aggregates cut
//! down to the one unit first (a year of days then costs milliseconds).

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::Q;
use super::map::Window;
use super::scope::Scope;
use super::state::AppState;
use crate::analytics::{self, metric, Granularity, MetricUnit, RankParams};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    pub unit: String,
    pub metric: String,
    /// day, week (ISO) or month (default).
    pub grain: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub window: Window,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrendPoint {
    pub period: String,
    pub value: Option<f64>,
    /// Trailing moving average (7 days, 4 weeks, 3 months).
    pub ma: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertDto {
    pub period: String,
    pub observed: u64,
    pub expected: f64,
    /// P(X ≥ observed) under Poisson(expected).
    pub p: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Trend {
    pub series: Vec<TrendPoint>,
    pub alerts: Vec<AlertDto>,
}

/// The grain asked for and the periods of its trailing mean.
fn grain(s: Option<&str>) -> Result<(Granularity, usize), ApiError> {
    let g: Granularity = s
        .unwrap_or("month")
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("grain {e}")))?;
    let ma = match g {
        Granularity::Day => 7,
        Granularity::IsoWeek => 4,
        Granularity::Month => 3,
    };
    Ok((g, ma))
}

/// A metric of one unit per period, with spike alerts on its event counts.
#[utoipa::path(get, path = "/api/v1/trend", params(TrendQuery, Window), responses((status = 200, body = Trend), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn trend(
    State(st): State<AppState>,
    c: Caller,
    Q(t): Q<TrendQuery>,
) -> Result<Json<Trend>, ApiError> {
    let def = metric(&t.metric)?;
    let (g, ma) = grain(t.grain.as_deref())?;
    let q = t.window.query(&st)?;
    let snap = st.snapshot()?;
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let i = scope.unit(model, &t.unit)?;
        // Alerts give observed counts: only for units seen fully.
        let trend = analytics::unit_trend(
            &snap.pre,
            model,
            i,
            def,
            &q,
            (g, ma),
            scope.full(i),
            &|_, _| Ok::<_, ApiError>(super::disclosure::shows_figures(&scope, i)),
        )?;
        Ok(Json(Trend {
            series: trend
                .series
                .into_iter()
                .map(|p| TrendPoint {
                    period: p.period,
                    value: p.value,
                    ma: p.ma,
                })
                .collect(),
            alerts: trend
                .alerts
                .into_iter()
                .map(|a| AlertDto {
                    period: a.period,
                    observed: a.observed,
                    expected: a.expected,
                    p: a.probability,
                })
                .collect(),
        }))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    pub unit: String,
    pub metric: String,
    /// A count metric is ranked `per_1000_households` (the default, where
    /// the units have household data) or `as_is`.
    pub basis: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub window: Window,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScorePart {
    pub name: String,
    pub points: f64,
    pub max: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScoreDto {
    pub total: f64,
    pub parts: Vec<ScorePart>,
}

/// One period of the sparklines' shared axis, `[from, to)`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SparkPeriodDto {
    /// `2026-03-01`, `2026-W09` or `2026-03`.
    pub label: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CompareRow {
    pub code: String,
    pub name: String,
    pub rank: Option<usize>,
    pub prev_rank: Option<usize>,
    /// Rates: the ranks every unit of the same standing shares (first, last).
    pub rank_low: Option<usize>,
    pub rank_high: Option<usize>,
    /// Rates: better, as_expected or worse than the pooled rate of the
    /// units compared, by the funnel plot's 95% limits.
    #[schema(value_type = Option<String>)]
    pub standing: Option<analytics::Standing>,
    /// Rates: the funnel plot's z-score (overdispersion-adjusted).
    pub z: Option<f64>,
    /// Rates: beyond the 99.8% limits.
    pub alarm: bool,
    /// Previous rank − rank; 0 while the unit keeps its standing.
    pub rank_change: Option<i64>,
    /// The metric, or with `basis` per_1000_households the count per 1,000
    /// households.
    pub value: Option<f64>,
    /// The count itself when `basis` is per_1000_households.
    pub count: Option<f64>,
    /// Empirical-Bayes estimate (rates).
    pub smoothed: Option<f64>,
    /// 95% interval of `value`: Wilson for proportions, exact Poisson for
    /// counts, and the count's exact interval over the exposure for densities
    /// and per-household or per-visit rates; null for durations and scores.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// The rate's denominator, or the value for counts.
    pub volume: Option<f64>,
    /// Ranked (enough volume, has data).
    pub eligible: bool,
    pub score: Option<ScoreDto>,
    /// The metric in each period of `spark_periods`; null where nothing was
    /// recorded (before the data's first event or after its last).
    pub spark: Vec<Option<f64>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Compare {
    /// `as_is` or `per_1000_households`: what the rows' `value` is (a count
    /// metric is ranked per 1,000 households by default where the units
    /// have household data; the sparklines stay counts).
    pub basis: &'static str,
    /// Rates: the funnel plot of the rows (value against volume): the
    /// pooled rate, the overdispersion scale and the variance model
    /// (`beta_binomial`: θ(1−θ)/n; `poisson_gamma`: θ/e); limits at
    /// θ ± z·scale·√variance for z = 1.96 and 3.09.
    #[schema(value_type = Option<Object>)]
    pub funnel: Option<analytics::Funnel>,
    /// day, iso_week or month: the grain of `spark_periods`.
    #[schema(value_type = String)]
    pub spark_grain: Granularity,
    /// The periods every row's sparkline is drawn over: exactly the window.
    pub spark_periods: Vec<SparkPeriodDto>,
    pub rows: Vec<CompareRow>,
}

/// The league table of a unit's children (the caller must see the unit fully).
#[utoipa::path(get, path = "/api/v1/compare", params(CompareQuery, Window), responses((status = 200, body = Compare), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn compare(
    State(st): State<AppState>,
    c: Caller,
    Q(cq): Q<CompareQuery>,
) -> Result<Json<Compare>, ApiError> {
    let def = metric(&cq.metric)?;
    let q = cq.window.query(&st)?;
    let params = RankParams {
        per_households: match cq.basis.as_deref() {
            None => true,
            Some("per_1000_households") if !def.is_count || def.unit != MetricUnit::Count => {
                return Err(ApiError::BadRequest(format!(
                    "basis per_1000_households: {} is not a count (only counts are ranked per 1,000 households)",
                    def.name
                )))
            }
            Some("per_1000_households") => true,
            Some("as_is") => false,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "basis {other:?}: use per_1000_households or as_is"
                )))
            }
        },
        ..RankParams::default()
    };
    let snap = st.snapshot()?;
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let i = scope.unit_full(model, &cq.unit)?;
        let table = analytics::league_table(&snap.pre, model, i, def.name, &q, params, &|k| {
            scope.full(k)
        })?;
        let per_1k = table.basis == analytics::Basis::Per1000Households;
        let rows = table
            .rows
            .into_iter()
            .map(|row| {
                let r = row.rank;
                CompareRow {
                    eligible: r.rank.is_some(),
                    volume: r.ratio.map(|x| x.den).or(r.value),
                    code: r.code,
                    name: r.name,
                    rank: r.rank,
                    prev_rank: r.previous_rank,
                    rank_low: r.rank_range.map(|x| x.0),
                    rank_high: r.rank_range.map(|x| x.1),
                    standing: r.standing,
                    z: r.z,
                    alarm: r.alarm,
                    rank_change: r.rank_change,
                    value: r.value,
                    count: r.ratio.filter(|_| per_1k).map(|x| x.num),
                    smoothed: r.smoothed,
                    ci_low: r.interval.map(|x| x.0),
                    ci_high: r.interval.map(|x| x.1),
                    score: row.score.map(|s| ScoreDto {
                        total: s.total,
                        parts: s
                            .components
                            .iter()
                            .map(|p| ScorePart {
                                name: p.metric.to_owned(),
                                points: p.points,
                                max: p.max_points,
                            })
                            .collect(),
                    }),
                    spark: row.spark,
                }
            })
            .collect();
        Ok(Json(Compare {
            basis: if per_1k {
                "per_1000_households"
            } else {
                "as_is"
            },
            funnel: table.funnel,
            spark_grain: table.spark_grain,
            spark_periods: table
                .spark_periods
                .into_iter()
                .map(|p| SparkPeriodDto {
                    label: p.label,
                    from: p.from,
                    to: p.to,
                })
                .collect(),
            rows,
        }))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HotspotQuery {
    pub level: u8,
    pub metric: String,
    pub parent: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub window: Window,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MoranDto {
    pub i: f64,
    pub z: f64,
    pub p_norm: f64,
    pub p_sim: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HotUnit {
    pub code: String,
    pub gi_z: f64,
    /// Two-sided p of Gi*.
    pub gi_p: f64,
    /// Benjamini-Hochberg q-value of `gi_p` over the units analysed.
    pub gi_q: f64,
    /// hot99, hot95, hot90, ns, cold90, cold95, cold99: q < 0.01, 0.05, 0.10.
    pub gi_class: &'static str,
    /// HH, LH, LL, HL (pseudo p < 0.05) or ns.
    pub lisa: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Hotspots {
    /// Null with fewer than three units with data, or constant values.
    pub moran: Option<MoranDto>,
    pub units: Vec<HotUnit>,
}

/// Gi* and Local Moran per unit, global Moran's I, over the visible units of a tier.
#[utoipa::path(get, path = "/api/v1/hotspots", params(HotspotQuery, Window), responses((status = 200, body = Hotspots)), security(("bearer" = [])))]
pub async fn hotspots(
    State(st): State<AppState>,
    c: Caller,
    Q(h): Q<HotspotQuery>,
) -> Result<Json<Hotspots>, ApiError> {
    let def = metric(&h.metric)?;
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
        let keep = |i: usize| scope.full(i) && model.is_under(i, parent);
        let weights = |units: &[usize]| st2.contiguity(model, units);
        let params = analytics::HotspotParams {
            permutations: st2.config.analytics.permutations,
            seed: 12345,
            fdr: 0.05,
        };
        let found =
            analytics::tier_hotspots(&snap.pre, model, h.level, def, &q, &keep, &weights, params);
        let Ok(found) = found? else {
            return Ok(Json(Hotspots {
                moran: None,
                units: Vec::new(),
            }));
        };
        let report = found.report;
        let units = report
            .units
            .iter()
            .map(|u| HotUnit {
                code: u.code.clone(),
                gi_z: u.gi.z,
                gi_p: (2.0 * u.gi.p).min(1.0),
                gi_q: u.gi_q,
                gi_class: analytics::hotspots::grade(u.gi.z, u.gi_q),
                lisa: match (u.local.p_sim, u.local.quadrant) {
                    (Some(p), qd) if p < 0.05 => match qd {
                        analytics::Quadrant::HH => "HH",
                        analytics::Quadrant::LH => "LH",
                        analytics::Quadrant::LL => "LL",
                        analytics::Quadrant::HL => "HL",
                    },
                    _ => "ns",
                },
            })
            .collect();
        let m = &report.moran;
        Ok(Json(Hotspots {
            moran: Some(MoranDto {
                i: m.i,
                z: m.z_norm,
                p_norm: m.p_norm,
                p_sim: m.p_sim,
            }),
            units,
        }))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DensityQuery {
    /// Only the events in this unit (a township, village or grid).
    pub parent: Option<String>,
    /// Cell side in metres (50 by default; larger where the raster would
    /// pass 250,000 cells).
    pub cell_m: Option<f64>,
    #[serde(flatten)]
    #[param(ignore)]
    pub window: Window,
}

/// Estimated events per km² on a raster (quartic kernel, 300 m radius).
#[derive(Serialize, utoipa::ToSchema)]
pub struct DensityDto {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
    pub cols: usize,
    pub rows: usize,
    pub cell_m: f64,
    pub bandwidth_m: f64,
    /// Events the raster is made of.
    pub events: usize,
    /// The largest value.
    pub max: f32,
    /// Events per km², row by row from the north-west cell.
    pub values: Vec<f32>,
}

/// Where events cluster inside units: a kernel-density raster of the event
/// points in the caller's units, for the roles that may see event rows
/// (admins and analysts); every other role is refused.
#[utoipa::path(get, path = "/api/v1/density", params(DensityQuery, Window),
    responses((status = 200, body = DensityDto), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn density(
    State(st): State<AppState>,
    c: Caller,
    Q(d): Q<DensityQuery>,
) -> Result<Json<DensityDto>, ApiError> {
    super::scope::sees_points(
        c.user(),
        "event points (and their density) are for admins and analysts",
    )?;
    let q = d.window.query(&st)?;
    let snap = st.snapshot()?;
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let parent = d
            .parent
            .as_deref()
            .map(|p| scope.unit_full(model, p))
            .transpose()?;
        let grids = scope.full_units(model, crate::grid::GRID_LEVEL, parent);
        // Every located event is in some grid: no filter needed for a caller
        // who sees the whole county.
        let all = scope.is_all() && parent.is_none();
        let params = analytics::DensityParams {
            cell_m: match d.cell_m.unwrap_or(50.0) {
                m if (10.0..=5_000.0).contains(&m) => m,
                m => {
                    return Err(ApiError::BadRequest(format!(
                        "cell_m: {m} is not 10 to 5000 metres"
                    )))
                }
            },
            max_cells: 250_000,
            ..Default::default()
        };
        let (g, events) = analytics::density_in(&snap.frame, model, &q, &grids, all, params)?
            .ok_or_else(|| ApiError::NotFound("no grid to estimate a density over".into()))?;
        // North row first, as an image is drawn.
        let mut values = Vec::with_capacity(g.values.len());
        for r in (0..g.rows).rev() {
            values.extend(
                g.values[r * g.cols..(r + 1) * g.cols]
                    .iter()
                    .map(|&v| v as f32),
            );
        }
        let max = values.iter().copied().fold(0.0f32, f32::max);
        let cell_m = g.cell_lat * 111_320.0;
        Ok(Json(DensityDto {
            west: g.west,
            south: g.south,
            east: g.west + g.cell_lon * g.cols as f64,
            north: g.south + g.cell_lat * g.rows as f64,
            cols: g.cols,
            rows: g.rows,
            cell_m,
            bandwidth_m: params.bandwidth_m,
            events,
            max,
            values,
        }))
    })
    .await
}
