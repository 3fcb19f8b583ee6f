//! One process loads into a store at a time: `wangge serve` and `wangge
//! ingest` each hold an exclusive lock on `<db>.lock` while they run.
//!
//! A file load into the database of a running server would be stored but
//! never reach the server's frame until its next start: its maps and
//! figures would silently leave the rows out. So the second process stops
//! at once, naming the holder. The lock is the operating system's (`flock`):
//! it goes with the process, also when that process is killed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Result, StoreError};

/// The claim on a store, held until dropped.
#[derive(Debug)]
pub struct Claim {
    _file: File,
}

/// The lock file of the database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    db.with_file_name(name)
}

impl Claim {
    /// Claims the store at `db` for `what` (the command, for the message
    /// another process gets); an error naming the holder when another
    /// process has it.
    pub fn take(db: &Path, what: &str) -> Result<Claim> {
        let path = lock_path(db);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let file_err = |source| StoreError::File {
            path: path.clone(),
            source,
        };
        // Owner only, as every file of the store (it names a process).
        let mut file = OpenOptions::new()
            .mode(0o600)
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(file_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::InUse {
                    path: db.to_owned(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(file_err(e)),
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        let me = format!("pid {}, `wangge {what}` since {now}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(me.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(file_err)?;
        Ok(Claim { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wangge.db");
        let first = Claim::take(&db, "serve").unwrap();
        // A second open file description: what another process gets.
        let err = Claim::take(&db, "ingest").unwrap_err().to_string();
        assert!(err.contains("wangge.db") && err.contains("in use"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains("`wangge serve`"),
            "{err}"
        );
        drop(first);
        let again = Claim::take(&db, "ingest").unwrap();
        let held = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert!(
            held.contains("`wangge ingest`") && !held.contains("serve"),
            "{held}"
        );
        drop(again);
    }
}
