//! Where an export goes: a stream (a response body, stdout), one file, or a
//! hive-partitioned folder.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::Schema;

use super::{open_sink, ExportError, Format, Sink, SinkOptions};

/// Hive's name for a partition whose value is null.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The destination of an export.
pub enum Target<'w> {
    /// One file or body written to this writer.
    Stream(Box<dyn Write + Send + 'w>),
    /// One file at this path (parent folders made).
    File(PathBuf),
    /// A folder of `key=value/.../part-0.<ext>` files (events only; other
    /// exports write `part-0.<ext>` in the folder).
    Partitioned(PathBuf),
}

/// Creates `path` (and its folders) for writing.
pub fn create(path: &Path) -> Result<BufWriter<File>, ExportError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ExportError::io(dir, e))?;
    }
    let f = File::create(path).map_err(|e| ExportError::io(path, e))?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

/// Path of a partition file under `root`, e.g. `month=2026-03/tier1=130682001/part-0.parquet`.
pub fn partition_path(root: &Path, keys: &[(&str, Option<&str>)], format: Format) -> PathBuf {
    let mut p = root.to_path_buf();
    for (k, v) in keys {
        p.push(format!("{k}={}", v.unwrap_or(NULL_PARTITION)));
    }
    p.push(format!("part-0.{}", format.extension()));
    p
}

impl<'w> Target<'w> {
    /// One sink for the whole export; with the file written, if any.
    pub fn open(
        self,
        format: Format,
        schema: &Schema,
        opts: SinkOptions<'_>,
    ) -> Result<(Box<dyn Sink + 'w>, Option<PathBuf>), ExportError> {
        match self {
            Target::Stream(w) => Ok((open_sink(format, w, schema, opts)?, None)),
            Target::File(path) => {
                let sink = open_sink(format, create(&path)?, schema, opts)?;
                Ok((sink, Some(path)))
            }
            Target::Partitioned(dir) => {
                let path = partition_path(&dir, &[], format);
                let sink = open_sink(format, create(&path)?, schema, opts)?;
                Ok((sink, Some(path)))
            }
        }
    }
}
