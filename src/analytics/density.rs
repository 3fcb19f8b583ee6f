//! Kernel density of event points on a fine raster, for the map at high zoom
//! (only for roles allowed to see points).
//!
//! Unit choropleths hide where inside a grid things happen; a raster of
//! estimated events per km² shows the street corner without exposing single
//! events. The kernel is the quartic (biweight) kernel used by ArcGIS and
//! QGIS heatmaps: K(d) = 3 / (π h²) · (1 − d²/h²)² for d < h, which
//! integrates to one, so the raster sums to the number of points (times the
//! cell area) away from the edges.

use polars::prelude::*;
use serde::Serialize;

use super::filter::{Query, DAY};
use super::AnalyticsError;
use crate::columns as c;
use crate::grid::GridModel;

/// Metres per degree of latitude.
const M_PER_DEG: f64 = 111_320.0;

/// Raster options.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DensityParams {
    /// Cell side in metres (default 50).
    pub cell_m: f64,
    /// Kernel radius h in metres (default 300).
    pub bandwidth_m: f64,
    /// Refuse rasters larger than this many cells (default 4,000,000).
    pub max_cells: usize,
}

impl Default for DensityParams {
    fn default() -> Self {
        DensityParams {
            cell_m: 50.0,
            bandwidth_m: 300.0,
            max_cells: 4_000_000,
        }
    }
}

/// A raster of density values, row 0 at the south edge.
#[derive(Debug, Clone, Serialize)]
pub struct DensityGrid {
    /// West edge, degrees.
    pub west: f64,
    /// South edge, degrees.
    pub south: f64,
    /// Cell width in degrees of longitude.
    pub cell_lon: f64,
    /// Cell height in degrees of latitude.
    pub cell_lat: f64,
    /// Columns.
    pub cols: usize,
    /// Rows.
    pub rows: usize,
    /// Events per km², row-major from the south-west cell.
    pub values: Vec<f64>,
}

impl DensityGrid {
    /// Value of the cell holding a lon/lat, if inside.
    pub fn at(&self, lon: f64, lat: f64) -> Option<f64> {
        let cx = ((lon - self.west) / self.cell_lon).floor();
        let cy = ((lat - self.south) / self.cell_lat).floor();
        if cx < 0.0 || cy < 0.0 || cx >= self.cols as f64 || cy >= self.rows as f64 {
            return None;
        }
        self.values
            .get(cy as usize * self.cols + cx as usize)
            .copied()
    }
}

/// Kernel density of lon/lat points over `bbox` = [west, south, east, north]
/// (default: the points' extent padded by the bandwidth).
pub fn kernel_density(
    points: &[(f64, f64)],
    bbox: Option<[f64; 4]>,
    params: DensityParams,
) -> Result<DensityGrid, AnalyticsError> {
    let DensityParams {
        cell_m,
        bandwidth_m: h,
        max_cells,
    } = params;
    if !(cell_m > 0.0 && h > 0.0 && cell_m.is_finite() && h.is_finite()) {
        return Err(AnalyticsError::BadParameter {
            name: "density",
            reason: "cell size and bandwidth must be positive".into(),
        });
    }
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let bbox = match bbox {
        Some(b) => b,
        None if pts.is_empty() => {
            return Err(AnalyticsError::BadParameter {
                name: "bbox",
                reason: "no points and no bounding box".into(),
            })
        }
        None => {
            let lat0 = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
            let (pad_x, pad_y) = (h / (M_PER_DEG * lat0.to_radians().cos()), h / M_PER_DEG);
            let b = pts
                .iter()
                .fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, p| {
                    [b[0].min(p.0), b[1].min(p.1), b[2].max(p.0), b[3].max(p.1)]
                });
            [b[0] - pad_x, b[1] - pad_y, b[2] + pad_x, b[3] + pad_y]
        }
    };
    let [west, south, east, north] = bbox;
    let kx = M_PER_DEG * ((south + north) / 2.0).to_radians().cos();
    let (cell_lon, cell_lat) = (cell_m / kx, cell_m / M_PER_DEG);
    let cols = ((east - west) / cell_lon).ceil().max(1.0);
    let rows = ((north - south) / cell_lat).ceil().max(1.0);
    let cells = cols * rows;
    if cells.is_nan() || cells > max_cells as f64 {
        return Err(AnalyticsError::BadParameter {
            name: "density",
            reason: format!("{cols}×{rows} cells exceed the limit of {max_cells}"),
        });
    }
    let (cols, rows) = (cols as usize, rows as usize);
    let mut values = vec![0.0; cols * rows];
    let norm = 3.0 / (std::f64::consts::PI * h * h) * 1e6;
    let reach = (h / cell_m).ceil() as i64;
    for &(lon, lat) in &pts {
        let (px, py) = ((lon - west) * kx, (lat - south) * M_PER_DEG);
        let (cx, cy) = ((px / cell_m).floor() as i64, (py / cell_m).floor() as i64);
        for y in (cy - reach).max(0)..=(cy + reach).min(rows as i64 - 1) {
            for x in (cx - reach).max(0)..=(cx + reach).min(cols as i64 - 1) {
                let (mx, my) = ((x as f64 + 0.5) * cell_m, (y as f64 + 0.5) * cell_m);
                let d2 = ((mx - px).powi(2) + (my - py).powi(2)) / (h * h);
                if d2 < 1.0 {
                    values[y as usize * cols + x as usize] += norm * (1.0 - d2).powi(2);
                }
            }
        }
    }
    Ok(DensityGrid {
        west,
        south,
        cell_lon,
        cell_lat,
        cols,
        rows,
        values,
    })
}

/// Query: lon/lat of the events passing a query (matched, partial and outside alike).
pub fn points_lazy(joined: LazyFrame, q: &Query) -> LazyFrame {
    joined
        .with_column(q.zone.local_day(c::OCCURRED_AT).alias(DAY))
        .filter(q.predicate())
        .select([col(c::LON), col(c::LAT)])
}

/// Collects the points of a query.
pub fn points(joined: LazyFrame, q: &Query) -> Result<Vec<(f64, f64)>, AnalyticsError> {
    let df = points_lazy(joined, q).collect()?;
    let (lon, lat) = (df.column(c::LON)?.f64()?, df.column(c::LAT)?.f64()?);
    Ok(lon
        .iter()
        .zip(lat.iter())
        .filter_map(|(a, b)| a.zip(b))
        .collect())
}

/// The density of the events of query `q` located in `grids` (tier-3
/// units of `gm`; `all`: they are every grid, so every located event
/// counts), over their extent widened by the kernel radius, with cells of
/// at least `params.cell_m` metres, larger when the raster would otherwise
/// pass `max_cells`. Returns the raster and the number of events in it;
/// none without a grid.
pub fn density_in(
    frame: &DataFrame,
    gm: &GridModel,
    q: &Query,
    grids: &[usize],
    all: bool,
    params: DensityParams,
) -> Result<Option<(DensityGrid, usize)>, AnalyticsError> {
    let Some(extent) = gm.extent(grids.iter().copied()) else {
        return Ok(None);
    };
    let bbox = [
        extent.min().x,
        extent.min().y,
        extent.max().x,
        extent.max().y,
    ];
    let keep = if all {
        col(c::TIER3).is_not_null()
    } else {
        let codes: Vec<&str> = grids.iter().map(|&g| gm.unit(g).code.as_str()).collect();
        col(c::TIER3).is_in(lit(Series::new("".into(), codes)).implode(false), false)
    };
    let pts = points(frame.clone().lazy().filter(keep), q)?;
    let pad_lat = params.bandwidth_m / M_PER_DEG;
    let mid = ((bbox[1] + bbox[3]) / 2.0).to_radians().cos().max(0.01);
    let pad_lon = pad_lat / mid;
    let b = [
        bbox[0] - pad_lon,
        bbox[1] - pad_lat,
        bbox[2] + pad_lon,
        bbox[3] + pad_lat,
    ];
    let (w_m, h_m) = ((b[2] - b[0]) * M_PER_DEG * mid, (b[3] - b[1]) * M_PER_DEG);
    let fit = (w_m * h_m / params.max_cells as f64).sqrt() * 1.01;
    let params = DensityParams {
        cell_m: params.cell_m.max(fit),
        ..params
    };
    Ok(Some((kernel_density(&pts, Some(b), params)?, pts.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_integrates_to_one_event() {
        let g = kernel_density(
            &[(116.0, 38.5)],
            None,
            DensityParams {
                cell_m: 10.0,
                bandwidth_m: 200.0,
                ..Default::default()
            },
        )
        .unwrap();
        let cell_km2 = (10.0 / 1000.0f64).powi(2);
        let total: f64 = g.values.iter().sum::<f64>() * cell_km2;
        assert!((total - 1.0).abs() < 0.01, "{total}");
        let peak = g.at(116.0, 38.5).unwrap();
        assert!((peak - 3.0 / (std::f64::consts::PI * 0.04)).abs() / peak < 0.01);
        assert_eq!(g.at(120.0, 38.5), None);
    }

    #[test]
    fn oversized_rasters_and_bad_parameters_are_refused() {
        let p = DensityParams {
            cell_m: 1.0,
            bandwidth_m: 100.0,
            max_cells: 1000,
        };
        assert!(kernel_density(&[(116.0, 38.5)], None, p).is_err());
        assert!(kernel_density(&[], None, DensityParams::default()).is_err());
        let empty = kernel_density(
            &[],
            Some([116.0, 38.5, 116.01, 38.51]),
            DensityParams::default(),
        )
        .unwrap();
        assert!(empty.values.iter().all(|v| *v == 0.0));
    }
}
