//! A few recent results kept by key: what the metric computations derive
//! from one version of the pre-aggregates (a tier's unit key, a window's
//! repeat points) and ask for again from every tier and caller.
//!
//! Nothing is held locked while a value is computed: the computations run
//! on rayon, whose work stealing can bring the same key back on the same
//! thread, where a lock or a once-cell held across the computation would
//! wait for itself. Two callers missing the same key at once may both
//! compute it; callers that know they will ask several times (the tiers of
//! one table) ask once first.

use std::sync::Mutex;

/// At most `keep` values, the oldest dropped first.
pub struct Recent<K, V> {
    entries: Mutex<Vec<(K, V)>>,
    keep: usize,
}

impl<K: PartialEq, V: Clone> Recent<K, V> {
    pub const fn new(keep: usize) -> Self {
        Recent {
            entries: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// The value kept under `key`, else `make()`'s, kept when it succeeds.
    pub fn get_or<E>(&self, key: K, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let lock = || self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, v)) = lock().iter().find(|(k, _)| *k == key) {
            return Ok(v.clone());
        }
        let v = make()?;
        let mut entries = lock();
        if !entries.iter().any(|(k, _)| *k == key) {
            if entries.len() >= self.keep {
                entries.remove(0);
            }
            entries.push((key, v.clone()));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_values_and_not_the_failures() {
        let r: Recent<u8, u32> = Recent::new(2);
        let mut made = 0;
        let mut get = |k: u8| {
            r.get_or(k, || {
                made += 1;
                if k == 9 {
                    Err("no")
                } else {
                    Ok(u32::from(k) * 10)
                }
            })
        };
        assert_eq!(get(1), Ok(10));
        assert_eq!(get(1), Ok(10));
        assert_eq!(get(9), Err("no"));
        assert_eq!(get(9), Err("no"));
        assert_eq!(get(2), Ok(20));
        assert_eq!(get(3), Ok(30));
        // 1 was dropped for 3: made again.
        assert_eq!(get(1), Ok(10));
        assert_eq!(made, 6);
    }
}
