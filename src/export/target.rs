//! Where an export goes: a stream (a response body, stdout), one file, a
//! hive-partitioned folder, or the same hive files as one tar stream.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::Schema;

use super::tar::TarWriter;
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
    /// The files [`Target::Partitioned`] would write, as the entries of one
    /// tar archive written to this writer (events only).
    Archive(Box<dyn Write + Send + 'w>),
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

/// Where the files of a partitioned export go, one after the other.
pub enum Parts<'w> {
    /// Under this folder.
    Folder(PathBuf),
    /// As entries of a tar archive.
    Archive(TarWriter<Box<dyn Write + Send + 'w>>),
}

impl Parts<'_> {
    /// Writes the file at the hive path `rel` (relative, from
    /// [`partition_path`]) with `fill`; what `fill` returned, and the path
    /// written (under the folder, or the entry's name). An archive entry is
    /// held in memory until complete, since its header carries its size.
    pub fn file<T>(
        &mut self,
        rel: &Path,
        fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T, ExportError>,
    ) -> Result<(T, PathBuf), ExportError> {
        match self {
            Parts::Folder(root) => {
                let path = root.join(rel);
                let mut w = create(&path)?;
                let out = fill(&mut w)?;
                w.flush().map_err(|e| ExportError::io(&path, e))?;
                Ok((out, path))
            }
            Parts::Archive(tar) => {
                let mut buf = Vec::new();
                let out = fill(&mut buf)?;
                let name: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
                tar.append(&name.join("/"), &buf)
                    .map_err(|e| ExportError::io("<tar>", e))?;
                Ok((out, rel.to_path_buf()))
            }
        }
    }

    /// Completes the output (the end of an archive).
    pub fn finish(self) -> Result<(), ExportError> {
        match self {
            Parts::Folder(_) => Ok(()),
            Parts::Archive(tar) => tar
                .finish()
                .map(drop)
                .map_err(|e| ExportError::io("<tar>", e)),
        }
    }
}

impl<'w> Target<'w> {
    /// The destination of a partitioned export (a folder or an archive);
    /// the target itself back when it takes one file.
    pub fn parts(self) -> Result<Parts<'w>, Self> {
        match self {
            Target::Partitioned(dir) => Ok(Parts::Folder(dir)),
            Target::Archive(w) => Ok(Parts::Archive(TarWriter::new(w))),
            whole => Err(whole),
        }
    }

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
            Target::Archive(_) => Err(ExportError::NotPartitioned),
        }
    }
}
