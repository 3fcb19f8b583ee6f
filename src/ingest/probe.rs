//! Parquet files decoded first in a child process.
//!
//! A damaged Parquet page can make the decoder ask for an impossible
//! allocation (a validity run of 2^61 bytes was found by fuzzing), and a
//! failed allocation aborts the process: no panic handler sees it. A file
//! from the data directory or `wangge ingest` is therefore decoded once,
//! every column of it, by `wangge probe-parquet FILE` in a child process
//! with a memory limit; only a file the child read whole is read here. A
//! crash of the child is the file's error, naming it, and the service
//! goes on.
//!
//! The probe runs only where the program to run it is known
//! ([`set_program`]: the `wangge` binary sets itself); a library caller
//! without it reads in process, guarded against panics only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use polars::prelude::{ParquetReader, SerReader};

use super::IngestError;

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Address space the child may use: a valid file decodes in far less.
const LIMIT_BYTES: u64 = 8 << 30;

/// Sets the program whose `probe-parquet FILE` decodes a file (the
/// `wangge` binary itself). Set once; later calls are ignored.
pub fn set_program(path: PathBuf) {
    let _ = PROGRAM.set(path);
}

/// Decodes every column of `path`, one column at a time so the child holds
/// one decoded column at most (the child's side): its rows, or polars'
/// reason when the file does not decode.
pub fn decode_all(path: &Path) -> Result<usize, String> {
    super::read::refuse_decimals(path)?;
    let open = || std::fs::File::open(path).map_err(|e| e.to_string());
    let schema = ParquetReader::new(open()?)
        .schema()
        .map_err(|e| e.to_string())?;
    let mut rows = 0;
    for name in schema.iter_names() {
        let df = ParquetReader::new(open()?)
            .with_columns(Some(vec![name.to_string()]))
            .finish()
            .map_err(|e| format!("column {name:?}: {e}"))?;
        rows = df.height();
    }
    Ok(rows)
}

/// Runs the probe on `path` when a program is set: `Ok` when the child
/// decoded the file whole.
pub fn check(path: &Path) -> Result<(), IngestError> {
    match PROGRAM.get() {
        Some(program) => check_with(program, path),
        None => Ok(()),
    }
}

/// Runs `program probe-parquet path` with the memory limit and reads its end.
fn check_with(program: &Path, path: &Path) -> Result<(), IngestError> {
    let bad = |reason: String| IngestError::Parse {
        path: path.to_owned(),
        reason: format!("not a readable Parquet file: {reason}"),
    };
    let mut cmd = Command::new(program);
    cmd.arg("probe-parquet").arg(path);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe, and nothing else runs
        // between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: LIMIT_BYTES,
                    rlim_max: LIMIT_BYTES,
                };
                libc::setrlimit(libc::RLIMIT_AS, &lim);
                Ok(())
            });
        }
    }
    let out = cmd.output().map_err(|e| {
        bad(format!(
            "could not start the decoder check ({}): {e}",
            program.display()
        ))
    })?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    // The last line that says something (a panic's message, not the
    // note on backtraces after it).
    let said = said
        .trim()
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("note:"))
        .unwrap_or("");
    Err(bad(match out.status.code() {
        Some(_) if !said.is_empty() => said.trim_start_matches("error: ").to_owned(),
        Some(code) => format!("the decoder check failed (exit {code})"),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = out.status.signal().unwrap_or(0);
            format!(
                "the decoder crashed on it (signal {signal}: a damaged page or an impossible \
                 allocation); nothing of the file was read"
            )
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("probe.sh");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// The parent's reading of the child's end: a crash (here an abort, as
    /// a failed allocation ends) and an error are the file's error, naming
    /// it; a clean exit lets the file be read.
    #[test]
    fn a_crashed_or_failed_check_is_the_files_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events.parquet");
        let crash = program(dir.path(), "kill -ABRT $$");
        let e = check_with(&crash, &file).unwrap_err().to_string();
        assert!(
            e.contains("events.parquet") && e.contains("crashed") && e.contains("signal 6"),
            "{e}"
        );
        let fail = program(
            dir.path(),
            "echo 'error: column \"lon\": out of spec' >&2; exit 2",
        );
        let e = check_with(&fail, &file).unwrap_err().to_string();
        assert!(e.contains("column \"lon\": out of spec"), "{e}");
        let fine = program(dir.path(), "exit 0");
        assert!(check_with(&fine, &file).is_ok());
    }

    #[test]
    fn a_valid_file_decodes_whole_and_a_truncated_one_does_not() {
        use polars::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut df = df!("a" => [1i64, 2, 3], "b" => ["x", "y", "z"]).unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        assert_eq!(decode_all(&path), Ok(3));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(decode_all(&path).is_err());
    }
}
