//! Writing `grids.geojson`: one FeatureCollection with every level.
//!
//! Written by hand rather than through a document tree: the file is tens of
//! megabytes, and streaming features through a buffered writer keeps memory
//! flat. Properties go through serde_json (escaping, field order as
//! declared); coordinates are the mesh's rounded f64s printed with Rust's
//! shortest round-trip formatting, so equal vertices print equally.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::county::{County, Unit};
use super::DemoError;

#[derive(Serialize)]
struct Properties<'a> {
    code: &'a str,
    name: &'a str,
    level: u8,
    parent: Option<&'a str>,
    households: u64,
    population: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    chief: Option<&'a str>,
}

/// Writes every unit of `county` to `path`.
pub fn write(county: &County, path: &Path) -> Result<(), DemoError> {
    let io = |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write_all(&mut w, &county.units).map_err(io)?;
    w.flush().map_err(io)
}

fn write_all<W: Write>(w: &mut W, units: &[Unit]) -> std::io::Result<()> {
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    for (i, u) in units.iter().enumerate() {
        if i > 0 {
            w.write_all(b",\n")?;
        }
        w.write_all(b"{\"type\":\"Feature\",\"properties\":")?;
        let props = Properties {
            code: &u.code,
            name: &u.name,
            level: u.level,
            parent: u.parent.as_deref(),
            households: u.households,
            population: u.population,
            chief: u.chief.as_deref(),
        };
        serde_json::to_writer(&mut *w, &props).map_err(std::io::Error::other)?;
        w.write_all(b",\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[")?;
        for (r, ring) in u.rings.iter().enumerate() {
            w.write_all(if r > 0 { b",[" } else { b"[" })?;
            for (k, p) in ring.iter().enumerate() {
                if k > 0 {
                    w.write_all(b",")?;
                }
                write!(w, "[{},{}]", p[0], p[1])?;
            }
            w.write_all(b"]")?;
        }
        w.write_all(b"]}}")?;
    }
    w.write_all(b"\n]}\n")
}
