//! Which files of the data directory are already in the database, so that
//! a start loads a file again only when its content changed.
//!
//! A file is known by its name inside the data directory and its content:
//! a data directory copied to another path or machine (as intranet
//! installations are, by hand, often without keeping modification times)
//! is recognised as loaded, where keying on the absolute path and the
//! modification time loaded ten million events again. A start compares the
//! size and modification time first and reads the file only when they
//! differ; then the SHA-256 of its bytes decides.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Result, Store, StoreError};

/// What the ledger keeps of a loaded file: `size:mtime:sha256`.
#[derive(Debug)]
struct Stamp {
    size: u64,
    mtime: u64,
    digest: Option<String>,
}

impl Stamp {
    fn parse(text: &str) -> Option<Stamp> {
        let mut parts = text.splitn(3, ':');
        let size = parts.next()?.parse().ok()?;
        let mtime = parts.next()?.parse().ok()?;
        let digest = parts.next().map(str::to_owned);
        Some(Stamp {
            size,
            mtime,
            digest,
        })
    }

    fn text(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}:{}:{d}", self.size, self.mtime),
            None => format!("{}:{}", self.size, self.mtime),
        }
    }
}

/// A file to load, and what to record once it is loaded.
#[derive(Debug)]
pub struct Unloaded {
    key: String,
    stamp: Stamp,
}

impl Unloaded {
    /// Records the file as loaded (after its rows are stored).
    pub fn record(&self, store: &Store) -> Result<()> {
        store.set_meta(&self.key, &self.stamp.text())
    }
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.to_owned(),
        source: e,
    }
}

/// SHA-256 of a file's bytes, in hex.
fn digest(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| io(path, e))?;
    Ok(hex::encode(h.finalize()))
}

impl Store {
    /// `name` of the data directory `dir` when it is there and not loaded
    /// in its present content; `None` when it is absent or already loaded.
    pub fn unloaded(&self, dir: &Path, name: &str) -> Result<Option<Unloaded>> {
        let path = dir.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(None);
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let mut now = Stamp {
            size: meta.len(),
            mtime,
            digest: None,
        };
        let key = format!("loaded:{name}");
        let before = match self.meta(&key)? {
            Some(text) => Stamp::parse(&text),
            // What the ledger kept before it knew files by name and content:
            // the absolute path, the size and the modification time.
            None => {
                let legacy = format!(
                    "ingested:{}",
                    std::fs::canonicalize(&path)
                        .unwrap_or(path.clone())
                        .display()
                );
                self.meta(&legacy)?.as_deref().and_then(Stamp::parse)
            }
        };
        let quick = before
            .as_ref()
            .is_some_and(|b| b.size == now.size && b.mtime == now.mtime);
        if quick && before.as_ref().is_some_and(|b| b.digest.is_some()) {
            return Ok(None);
        }
        let t = std::time::Instant::now();
        now.digest = Some(digest(&path)?);
        let unloaded = Unloaded { key, stamp: now };
        // Same size and time from the older ledger, or the same bytes:
        // loaded already; the stamp is brought up to date.
        let same = before
            .is_some_and(|b| b.size == unloaded.stamp.size && b.digest == unloaded.stamp.digest);
        if quick || same {
            tracing::info!(
                file = %path.display(),
                secs = t.elapsed().as_secs_f64(),
                "file unchanged since it was loaded (same SHA-256); not loaded again"
            );
            unloaded.record(self)?;
            return Ok(None);
        }
        Ok(Some(unloaded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mtime(path: &Path, secs: u64) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn a_file_is_loaded_again_only_when_its_bytes_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("wangge.db")).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        assert!(
            store.unloaded(&data, "events.csv").unwrap().is_none(),
            "absent"
        );
        let file = data.join("events.csv");
        std::fs::write(&file, "id,kind\na,issue\n").unwrap();
        set_mtime(&file, 1_000);
        let first = store.unloaded(&data, "events.csv").unwrap().expect("new");
        first.record(&store).unwrap();
        assert!(store.unloaded(&data, "events.csv").unwrap().is_none());
        // Copied without its time: the same bytes, loaded.
        set_mtime(&file, 2_000);
        assert!(store.unloaded(&data, "events.csv").unwrap().is_none());
        // Another directory with the same file: known by name and bytes.
        let copy = dir.path().join("copy");
        std::fs::create_dir(&copy).unwrap();
        std::fs::copy(&file, copy.join("events.csv")).unwrap();
        assert!(store.unloaded(&copy, "events.csv").unwrap().is_none());
        // The same size and time but other bytes are caught only by a
        // changed time; other bytes with a new time are loaded.
        std::fs::write(&file, "id,kind\nb,issue\n").unwrap();
        set_mtime(&file, 3_000);
        let changed = store
            .unloaded(&data, "events.csv")
            .unwrap()
            .expect("changed");
        changed.record(&store).unwrap();
        assert!(store.unloaded(&data, "events.csv").unwrap().is_none());
        // Other files are apart.
        std::fs::write(data.join("updates.csv"), "id,kind\na,issue\n").unwrap();
        assert!(store.unloaded(&data, "updates.csv").unwrap().is_some());
    }

    #[test]
    fn a_database_of_the_older_ledger_does_not_load_its_files_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("wangge.db")).unwrap();
        let file = dir.path().join("events.csv");
        std::fs::write(&file, "id,kind\na,issue\n").unwrap();
        set_mtime(&file, 1_000);
        let legacy = format!(
            "ingested:{}",
            std::fs::canonicalize(&file).unwrap().display()
        );
        store.set_meta(&legacy, "16:1000").unwrap();
        assert!(store.unloaded(dir.path(), "events.csv").unwrap().is_none());
        // Now known by content: a copy with a new time is loaded too.
        set_mtime(&file, 5_000);
        assert!(store.unloaded(dir.path(), "events.csv").unwrap().is_none());
        // Changed under the older ledger's stamp: loaded again.
        let store2 = Store::open(&dir.path().join("other.db")).unwrap();
        store2.set_meta(&legacy, "16:999").unwrap();
        assert!(store2.unloaded(dir.path(), "events.csv").unwrap().is_some());
    }
}
