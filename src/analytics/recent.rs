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

    /// The value kept under `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Keeps `v` under `key`, in place of what was there.
    pub fn put(&self, key: K, v: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(k, _)| *k != key);
        if entries.len() >= self.keep {
            entries.remove(0);
        }
        entries.push((key, v));
    }

    /// The value kept under `key`, else `make()`'s, kept when it succeeds.
    pub fn get_or<E>(&self, key: K, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        self.get_fitting_or(key, |v| Some(v.clone()), make)
    }

    /// What `fits` makes of the value kept under `key` (`None`: it no
    /// longer fits), kept in its place; else `make()`'s, kept when it
    /// succeeds.
    pub fn get_fitting_or<E>(
        &self,
        key: K,
        fits: impl Fn(&V) -> Option<V>,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let lock = || self.entries.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut entries = lock();
            if let Some((_, v)) = entries.iter_mut().find(|(k, _)| *k == key) {
                if let Some(fit) = fits(v) {
                    *v = fit.clone();
                    return Ok(fit);
                }
            }
        }
        let v = make()?;
        self.put(key, v.clone());
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

    #[test]
    fn a_value_that_no_longer_fits_is_made_again_and_replaced() {
        let r: Recent<u8, (u32, u32)> = Recent::new(2);
        let made = std::cell::Cell::new(0);
        let get = |k: u8, version: u32, fits_from: u32| {
            r.get_fitting_or(
                k,
                |&(v, x)| (v >= fits_from).then_some((version, x)),
                || -> Result<_, ()> {
                    made.set(made.get() + 1);
                    Ok((version, u32::from(k) * 10 + version))
                },
            )
        };
        assert_eq!(get(1, 1, 0), Ok((1, 11)));
        // Still fits: kept, under the newer version.
        assert_eq!(get(1, 2, 1), Ok((2, 11)));
        assert_eq!(made.get(), 1);
        // Kept from version 2 on: fits from 2, not from 3.
        assert_eq!(get(1, 3, 2), Ok((3, 11)));
        assert_eq!(get(1, 4, 4), Ok((4, 14)));
        assert_eq!(made.get(), 2);
        assert_eq!(get(1, 4, 4), Ok((4, 14)));
        assert_eq!(made.get(), 2);
    }
}
