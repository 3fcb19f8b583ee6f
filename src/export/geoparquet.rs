//! GeoParquet 1.1: a WKB `geometry` column, a `bbox` struct covering column
//! and the file-level `geo` metadata, written with polars' batched Parquet
//! writer (zstd, row groups of [`ROW_GROUP`] rows).
//!
//! polars 0.55's `ParquetWriter::with_key_value_metadata` writes custom
//! file-level key/value pairs, so the `geo` key needs no second writer; the
//! metadata is static, so the bounding box of the whole file is computed
//! before the first row is written (events: one aggregate query; units and
//! metric tables: in memory). The CRS is written explicitly as the PROJJSON
//! of `OGC:CRS84` (WGS84, longitude first), which is also what an absent
//! `crs` means in the specification.

use std::io::Write;

use polars::prelude::*;
use serde_json::{json, Value};

use super::order::BBox;
use super::{Batch, ExportError, Geom};

/// Name of the geometry column.
pub const GEOMETRY: &str = "geometry";
/// Name of the bounding-box covering column.
pub const BBOX: &str = "bbox";
/// Rows per row group.
pub const ROW_GROUP: usize = 65_536;

/// PROJJSON of `OGC:CRS84`, as PROJ writes it.
pub fn crs84() -> Value {
    json!({
        "$schema": "https://proj.org/schemas/v0.7/projjson.schema.json",
        "type": "GeographicCRS",
        "name": "WGS 84 (CRS84)",
        "datum_ensemble": {
            "name": "World Geodetic System 1984 ensemble",
            "members": [
                {"name": "World Geodetic System 1984 (Transit)"},
                {"name": "World Geodetic System 1984 (G730)"},
                {"name": "World Geodetic System 1984 (G873)"},
                {"name": "World Geodetic System 1984 (G1150)"},
                {"name": "World Geodetic System 1984 (G1674)"},
                {"name": "World Geodetic System 1984 (G1762)"},
                {"name": "World Geodetic System 1984 (G2139)"},
                {"name": "World Geodetic System 1984 (G2296)"}
            ],
            "ellipsoid": {"name": "WGS 84", "semi_major_axis": 6378137, "inverse_flattening": 298.257223563},
            "accuracy": "2.0",
            "id": {"authority": "EPSG", "code": 6326}
        },
        "coordinate_system": {
            "subtype": "ellipsoidal",
            "axis": [
                {"name": "Geodetic longitude", "abbreviation": "Lon", "direction": "east", "unit": "degree"},
                {"name": "Geodetic latitude", "abbreviation": "Lat", "direction": "north", "unit": "degree"}
            ]
        },
        "scope": "Not known.",
        "area": "World.",
        "bbox": {"south_latitude": -90, "west_longitude": -180, "north_latitude": 90, "east_longitude": 180},
        "id": {"authority": "OGC", "code": "CRS84"}
    })
}

/// The `geo` metadata of a file whose geometries are of `types` (e.g.
/// `["Point"]`) and lie in `bbox`.
///
/// # Examples
/// ```
/// use wangge::export::{geoparquet::geo_metadata, order::BBox};
/// let b = BBox { xmin: 114.8, ymin: 38.3, xmax: 115.3, ymax: 38.7 };
/// let m: serde_json::Value = serde_json::from_str(&geo_metadata(&["Point"], &b)).unwrap();
/// assert_eq!(m["version"], "1.1.0");
/// assert_eq!(m["columns"]["geometry"]["covering"]["bbox"]["xmin"][1], "xmin");
/// ```
pub fn geo_metadata(types: &[&str], bbox: &BBox) -> String {
    let mut column = json!({
        "encoding": "WKB",
        "geometry_types": types,
        "crs": crs84(),
        "edges": "planar",
        "covering": {"bbox": {
            "xmin": [BBOX, "xmin"], "ymin": [BBOX, "ymin"],
            "xmax": [BBOX, "xmax"], "ymax": [BBOX, "ymax"],
        }},
    });
    if let Some(b) = bbox.to_array() {
        column["bbox"] = json!(b);
    }
    json!({
        "version": "1.1.0",
        "primary_column": GEOMETRY,
        "columns": {GEOMETRY: column},
    })
    .to_string()
}

/// The bounding box of one geometry.
pub fn bbox_of(g: &Geom) -> BBox {
    use geo::BoundingRect;
    match g {
        Geom::Point(p) => BBox {
            xmin: p.x(),
            ymin: p.y(),
            xmax: p.x(),
            ymax: p.y(),
        },
        Geom::Polygons(mp) => mp.bounding_rect().map_or(BBox::EMPTY, |r| BBox {
            xmin: r.min().x,
            ymin: r.min().y,
            xmax: r.max().x,
            ymax: r.max().y,
        }),
    }
}

/// The `geometry` (WKB) and `bbox` (struct of xmin, ymin, xmax, ymax) columns of a batch.
pub fn geometry_columns(geoms: &[Geom]) -> PolarsResult<[Column; 2]> {
    let wkb: Vec<Vec<u8>> = geoms
        .iter()
        .map(|g| match g {
            Geom::Point(p) => super::wkb::point(*p),
            Geom::Polygons(mp) => super::wkb::multipolygon(mp),
        })
        .collect();
    let wkb = BinaryChunked::from_iter_values(GEOMETRY.into(), wkb.iter().map(Vec::as_slice));
    let boxes: Vec<BBox> = geoms.iter().map(bbox_of).collect();
    let part = |name: &str, f: fn(&BBox) -> f64| {
        Series::new(name.into(), boxes.iter().map(f).collect::<Vec<f64>>())
    };
    let fields = [
        part("xmin", |b| b.xmin),
        part("ymin", |b| b.ymin),
        part("xmax", |b| b.xmax),
        part("ymax", |b| b.ymax),
    ];
    let bbox = StructChunked::from_series(BBOX.into(), geoms.len(), fields.iter())?;
    Ok([wkb.into_series().into(), bbox.into_series().into()])
}

/// Writes batches as one GeoParquet file.
pub struct GeoParquetSink<W: Write> {
    writer: polars::io::parquet::write::BatchedWriter<W>,
    rows: u64,
}

impl<W: Write> GeoParquetSink<W> {
    /// A file with attribute columns `schema` plus geometry and bbox, and
    /// the `geo` metadata of `types` and `bbox`, and the query that made the
    /// file as a JSON object under `wangge:query`.
    pub fn new(
        out: W,
        schema: &Schema,
        types: &[&str],
        bbox: &BBox,
        query: &[(String, String)],
    ) -> Result<Self, ExportError> {
        let mut full = schema.clone();
        let empty = geometry_columns(&[])?;
        for c in &empty {
            full.insert(c.name().clone(), c.dtype().clone());
        }
        let record: serde_json::Map<String, serde_json::Value> = query
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let meta = KeyValueMetadata::from_static(vec![
            ("geo".into(), geo_metadata(types, bbox)),
            (
                "wangge:query".into(),
                serde_json::Value::Object(record).to_string(),
            ),
        ]);
        let writer = ParquetWriter::new(out)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_key_value_metadata(Some(meta))
            .batched(&full)?;
        Ok(GeoParquetSink { writer, rows: 0 })
    }

    /// Appends a batch, in row groups of at most [`ROW_GROUP`] rows.
    pub fn write(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let mut frame = batch.frame.clone();
        for c in geometry_columns(&batch.geometry)? {
            frame.with_column(c)?;
        }
        let mut offset = 0;
        while offset < frame.height() {
            let mut part = frame.slice(offset as i64, ROW_GROUP);
            part.rechunk_mut();
            self.writer.write_batch(&part)?;
            offset += ROW_GROUP;
        }
        self.rows += frame.height() as u64;
        Ok(())
    }

    /// Writes the footer with the metadata; the rows written.
    pub fn finish(self) -> Result<u64, ExportError> {
        self.writer.finish()?;
        Ok(self.rows)
    }
}
