//! Unit exports: one polygon row per unit with its attributes, and the
//! shared step that turns a list of units into a [`Batch`] in Hilbert order
//! of their centroids (also used by the metric tables).

use geo::Centroid;
use polars::prelude::*;

use super::order::{hilbert, sort_order, BBox};
use super::{Batch, ExportError, Geom, Output, Progress, Selection, SinkOptions, Summary};
use crate::grid::GridModel;

/// Unit code column.
pub const CODE: &str = "code";
/// Unit name column.
pub const NAME: &str = "name";
/// Tier column (0 county … 3 grid).
pub const LEVEL: &str = "level";
/// Parent code column.
pub const PARENT: &str = "parent";
/// Households column.
pub const HOUSEHOLDS: &str = "households";
/// Population column.
pub const POPULATION: &str = "population";
/// Area in km² (geodesic, as the service uses for densities) column.
pub const AREA_KM2: &str = "area_km2";
/// Centroid longitude column (for CSV readers without geometry).
pub const CENTROID_LON: &str = "centroid_lon";
/// Centroid latitude column.
pub const CENTROID_LAT: &str = "centroid_lat";

/// Indices of the units of `level` (every level when `None`) that `sel`
/// keeps: under or equal to its parent, and visible.
pub fn select(
    model: &GridModel,
    level: Option<u8>,
    sel: &Selection,
) -> Result<Vec<usize>, ExportError> {
    let under = match &sel.parent {
        Some(p) => {
            let i = model
                .index_of(p)
                .ok_or_else(|| ExportError::UnknownUnit { code: p.clone() })?;
            let mut v = vec![false; model.units().len()];
            v[i] = true;
            for d in model.descendants(i) {
                v[d] = true;
            }
            Some(v)
        }
        None => None,
    };
    Ok((0..model.units().len())
        .filter(|&i| level.is_none_or(|l| model.unit(i).level == l))
        .filter(|&i| under.as_ref().is_none_or(|u| u[i]))
        .filter(|&i| {
            sel.visible
                .as_ref()
                .is_none_or(|v| v.contains(&model.unit(i).code))
        })
        .collect())
}

/// Bounding box of the units at `idx`.
pub fn bounds(model: &GridModel, idx: &[usize]) -> BBox {
    let mut b = BBox::EMPTY;
    for &i in idx {
        b.add(&super::geoparquet::bbox_of(&Geom::Polygons(
            model.unit(i).geometry.clone(),
        )));
    }
    b
}

/// `idx` reordered along the Hilbert curve of the units' centroids.
pub fn spatial_order(model: &GridModel, idx: &[usize]) -> Vec<usize> {
    let b = bounds(model, idx);
    let keys: Vec<u32> = idx
        .iter()
        .map(|&i| {
            let c = model.unit(i).geometry.centroid();
            c.map_or(0, |c| hilbert(&b, c.x(), c.y()))
        })
        .collect();
    sort_order(&keys)
        .into_iter()
        .map(|k| idx[k as usize])
        .collect()
}

/// The attribute frame and polygons of the units at `idx`, in that order.
pub fn batch(model: &GridModel, idx: &[usize]) -> Result<Batch, ExportError> {
    let units: Vec<_> = idx.iter().map(|&i| model.unit(i)).collect();
    let centroids: Vec<_> = units.iter().map(|u| u.geometry.centroid()).collect();
    let frame = DataFrame::new_infer_height(vec![
        Column::new(
            CODE.into(),
            units.iter().map(|u| u.code.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            NAME.into(),
            units.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            LEVEL.into(),
            units.iter().map(|u| u32::from(u.level)).collect::<Vec<_>>(),
        ),
        Column::new(
            PARENT.into(),
            units
                .iter()
                .map(|u| u.parent.map(|p| model.unit(p).code.as_str()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            HOUSEHOLDS.into(),
            units.iter().map(|u| u.households).collect::<Vec<_>>(),
        ),
        Column::new(
            POPULATION.into(),
            units.iter().map(|u| u.population).collect::<Vec<_>>(),
        ),
        Column::new(
            AREA_KM2.into(),
            units.iter().map(|u| u.area_km2).collect::<Vec<_>>(),
        ),
        Column::new(
            CENTROID_LON.into(),
            centroids
                .iter()
                .map(|c| c.map(|c| c.x()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            CENTROID_LAT.into(),
            centroids
                .iter()
                .map(|c| c.map(|c| c.y()))
                .collect::<Vec<_>>(),
        ),
    ])?;
    let geometry = units
        .iter()
        .map(|u| Geom::Polygons(u.geometry.clone()))
        .collect();
    Ok(Batch { frame, geometry })
}

/// Writes the units of `level` that `sel` keeps to `target`.
pub fn export(
    model: &GridModel,
    level: Option<u8>,
    sel: &Selection,
    out: Output<'_>,
    progress: &dyn Progress,
) -> Result<Summary, ExportError> {
    let idx = spatial_order(model, &select(model, level, sel)?);
    progress.total(idx.len() as u64);
    let b = batch(model, &idx)?;
    let query = out.query.clone();
    let opts = SinkOptions {
        bom: out.bom,
        types: &["MultiPolygon"],
        bbox: bounds(model, &idx),
        tz: out.tz,
        query: &query,
        zh_headers: out.zh_headers,
    };
    write_one(b, opts, out, progress)
}

/// Writes one in-memory batch as the whole export.
pub(crate) fn write_one(
    b: Batch,
    opts: SinkOptions<'_>,
    out: Output<'_>,
    progress: &dyn Progress,
) -> Result<Summary, ExportError> {
    let (mut sink, file) = out.target.open(out.format, b.frame.schema(), opts)?;
    sink.write(&b)?;
    progress.inc(b.frame.height() as u64);
    Ok(Summary {
        rows: sink.finish()?,
        files: file.into_iter().collect(),
    })
}
