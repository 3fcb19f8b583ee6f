//! Helpers shared by the integration tests.

use std::path::PathBuf;

use wangge::grid::{load_geojson_with, GridModel, LoadOptions, Report};
use wangge::ingest::crs::Crs;
use wangge::ingest::privacy::KeyedHasher;
use wangge::ingest::{read_file, Batch, Event, Reject, Validator};

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn tiny_county() -> (GridModel, Report) {
    load_geojson_with(
        &fixture("grids/tiny_county.geojson"),
        LoadOptions {
            topology: true,
            ..Default::default()
        },
    )
    .expect("tiny county loads")
}

pub fn hasher() -> KeyedHasher {
    KeyedHasher::new([7u8; 32])
}

/// The validator of the tests: WGS 84, Shanghai, the test key.
pub fn validator(h: &KeyedHasher) -> Validator<'_> {
    Validator {
        crs: Crs::Wgs84,
        tz: chrono_tz::Asia::Shanghai,
        hasher: h,
        dates: wangge::ingest::Dates::default(),
        unused: Default::default(),
    }
}

/// A file's events, their row numbers, its rejects and its row count.
pub type FileRead = (Vec<Event>, Vec<u64>, Vec<Reject>, u64);

/// Every event and reject of a file, in file order.
pub fn read_all(path: &std::path::Path) -> Result<FileRead, wangge::ingest::IngestError> {
    let h = hasher();
    let v = validator(&h);
    let (mut ev, mut rows, mut rej) = (Vec::new(), Vec::new(), Vec::new());
    let n = read_file(path, None, &v, &mut |b: Batch| {
        ev.extend(b.events);
        rows.extend(b.rows);
        rej.extend(b.rejects);
        Ok(())
    })?;
    Ok((ev, rows, rej, n))
}
