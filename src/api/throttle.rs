//! Failed logins slow down: after [`FREE`] failures for one user name or
//! one client address, each further attempt waits twice as long as the one
//! before (1 s, 2 s, 4 s, ... up to [`MAX_WAIT`]); a login during the wait
//! answers 429 with `Retry-After` and costs no password check. A success
//! clears the name. The counts live in memory (a restart forgets them) and
//! are bounded: past [`MAX_KEYS`] entries the ones no longer waiting are
//! dropped.
//!
//! A rate limiter (`governor`) limits how often requests come; what is
//! wanted here is a wait that grows with each failure of the same name, and
//! a map of counts is the whole of it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before waits begin.
pub const FREE: u32 = 5;
/// Longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Entries kept before idle ones are dropped.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    until: Instant,
}

/// Failed logins by user name and by client address.
#[derive(Default)]
pub struct Throttle {
    by: Mutex<HashMap<String, Failures>>,
}

fn keys(name: &str, addr: Option<IpAddr>) -> Vec<String> {
    let mut k = vec![format!("user:{name}")];
    if let Some(a) = addr {
        k.push(format!("addr:{a}"));
    }
    k
}

impl Throttle {
    /// The seconds to wait before this name or address may try again, if any.
    pub fn wait(&self, name: &str, addr: Option<IpAddr>) -> Option<u64> {
        let now = Instant::now();
        let by = self.by.lock().unwrap_or_else(|p| p.into_inner());
        keys(name, addr)
            .iter()
            .filter_map(|k| by.get(k))
            .filter(|f| f.until > now)
            .map(|f| (f.until - now).as_secs_f64().ceil() as u64)
            .max()
    }

    /// Counts a failed login of `name` from `addr`.
    pub fn failed(&self, name: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let mut by = self.by.lock().unwrap_or_else(|p| p.into_inner());
        if by.len() >= MAX_KEYS {
            by.retain(|_, f| f.until > now);
        }
        for k in keys(name, addr) {
            let f = by.entry(k).or_insert(Failures {
                count: 0,
                until: now,
            });
            f.count += 1;
            if f.count >= FREE {
                let wait = Duration::from_secs(1u64 << (f.count - FREE).min(20)).min(MAX_WAIT);
                f.until = now + wait;
            }
        }
    }

    /// A successful login clears the name (the address keeps its count: one
    /// right password does not unlock guessing at every other name).
    pub fn succeeded(&self, name: &str) {
        self.by
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&format!("user:{name}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_begin_after_the_free_failures_and_double() {
        let t = Throttle::default();
        let a: Option<IpAddr> = Some([10, 0, 0, 1].into());
        for _ in 0..FREE - 1 {
            t.failed("admin", a);
            assert_eq!(t.wait("admin", a), None);
        }
        t.failed("admin", a);
        assert_eq!(t.wait("admin", a), Some(1));
        t.failed("admin", a);
        assert_eq!(t.wait("admin", a), Some(2));
        // The address waits for any name; another address for this name too.
        assert_eq!(t.wait("someone", a), Some(2));
        assert_eq!(t.wait("admin", Some([10, 0, 0, 2].into())), Some(2));
        assert_eq!(t.wait("someone", Some([10, 0, 0, 2].into())), None);
        t.succeeded("admin");
        assert_eq!(t.wait("admin", Some([10, 0, 0, 2].into())), None);
        assert_eq!(t.wait("admin", a), Some(2));
    }
}
