//! Cases that come more than once in `join`'s files. A case is sent again
//! whenever it moves (CONTRACT.md), and an export of a hotline's cases may
//! hold several versions of one: the join writes each case once, as its
//! rows make it by the rule the service's store applies
//! ([`crate::ingest::version`]), so the joined file and the service agree.
//!
//! The id and kind of every row are read first ([`crate::ingest::read_keys`]):
//! a case that comes once is written as its row is read, one that comes
//! again is held until its last row and written there.

use std::convert::Infallible;

use rustc_hash::FxHashMap;

use super::steps::CaseSteps;
use crate::ingest::fold::fold;
use crate::ingest::version::{offer, Offered};
use crate::ingest::{case_key, Event, Kind};

/// What became of one row ([`Versions::offer`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// The first row of its case (counted by where the case is written).
    First,
    Updated,
    Unchanged,
    Stale,
    /// Refused, with the reason.
    Conflict(String),
}

/// A case that comes again, as its rows so far make it (boxed in the map:
/// a table of a million cases held inline took gigabytes).
struct Held {
    /// The case now: its latest whole row with its steps folded in.
    current: Event,
    /// Its latest whole row, when it is not `current` (most cases have no
    /// steps, and one copy of them is kept).
    base: Option<Event>,
    /// The order its first row came in.
    seq: u64,
}

impl Held {
    fn base(&self) -> &Event {
        self.base.as_ref().unwrap_or(&self.current)
    }
}

/// The cases that come more than once, and those of them held.
#[derive(Default)]
pub struct Versions {
    /// Rows still to come per case that comes more than once
    /// ([`case_key`]); a case leaves when its last row comes.
    left: FxHashMap<u128, u32>,
    held: FxHashMap<u128, Box<Held>>,
    seq: u64,
}

/// `e` with the steps of its case folded in.
pub(super) fn folded(e: Event, steps: &CaseSteps) -> Event {
    if e.kind != Kind::Issue || steps.is_empty() {
        return e;
    }
    match steps.of(&e.id) {
        Some(s) => fold(&e, &s),
        None => e,
    }
}

impl Versions {
    /// From the rows per case of every file: the cases with more than one.
    pub fn new(mut counts: FxHashMap<u128, u32>) -> Versions {
        counts.retain(|_, n| *n > 1);
        counts.shrink_to_fit();
        Versions {
            held: FxHashMap::with_capacity_and_hasher(counts.len(), Default::default()),
            left: counts,
            seq: 0,
        }
    }

    /// Cases that come more than once (before the first row is offered).
    pub fn repeated(&self) -> usize {
        self.left.len()
    }

    /// No case is held or still to come: every row from here on is a case
    /// of its own.
    pub fn idle(&self) -> bool {
        self.left.is_empty() && self.held.is_empty()
    }

    /// `e`, the next row read of the files in order: its fate, and the case
    /// to write now, if any (a case that comes once at its row, one that
    /// comes again at its last row).
    pub fn offer(&mut self, e: Event, steps: &CaseSteps) -> (Fate, Option<Event>) {
        if self.idle() {
            return (Fate::First, Some(folded(e, steps)));
        }
        let key = case_key(e.kind, &e.id);
        let last = match self.left.get_mut(&key) {
            None if !self.held.contains_key(&key) => {
                return (Fate::First, Some(folded(e, steps)));
            }
            None => false,
            Some(n) => {
                *n -= 1;
                *n == 0
            }
        };
        if last {
            self.left.remove(&key);
        }
        let h = match self.held.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                let stepped = e.kind == Kind::Issue && steps.count(&e.id) > 0;
                let (current, base) = match stepped {
                    true => (folded(e.clone(), steps), Some(e)),
                    false => (e, None),
                };
                v.insert(Box::new(Held {
                    current,
                    base,
                    seq: self.seq,
                }));
                self.seq += 1;
                return (Fate::First, None);
            }
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        };
        if h.base().id != e.id {
            // Another case under the same key (a 128-bit collision): a
            // case of its own.
            return (Fate::First, Some(folded(e, steps)));
        }
        let offered = offer(h.base(), &h.current, &e, || {
            Ok::<_, Infallible>(steps.of(&e.id).unwrap_or_default())
        });
        let fate = match offered {
            Ok(Offered::Updated { base, current }) => {
                h.base = (base != current).then_some(base);
                h.current = current;
                Fate::Updated
            }
            Ok(Offered::Unchanged) => Fate::Unchanged,
            Ok(Offered::Stale(current)) => {
                if let Some(c) = current {
                    let before = std::mem::replace(&mut h.current, c);
                    h.base.get_or_insert(before);
                }
                Fate::Stale
            }
            Ok(Offered::Conflict(reason)) => Fate::Conflict(reason),
            Err(never) => match never {},
        };
        if !last {
            return (fate, None);
        }
        (fate, self.held.remove(&key).map(|h| h.current))
    }

    /// The cases still held, in the order their first row came: a row of
    /// theirs was rejected, so their last row never came.
    pub fn rest(&mut self) -> Vec<Event> {
        let mut rest: Vec<Box<Held>> = self.held.drain().map(|(_, h)| h).collect();
        rest.sort_unstable_by_key(|h| h.seq);
        rest.into_iter().map(|h| h.current).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(rows: &[&Event]) -> Versions {
        let mut counts = FxHashMap::default();
        for e in rows {
            *counts.entry(case_key(e.kind, &e.id)).or_insert(0) += 1;
        }
        Versions::new(counts)
    }

    fn issue(id: &str, state: &'static str, updated_at: i64) -> Event {
        Event {
            state: Some(state),
            updated_at: Some(updated_at),
            occurred_at: 0,
            ..Event::bare(id, Kind::Issue)
        }
    }

    /// A case that comes three times is written once, at its last row, as
    /// its newest version; a case that comes once is written at its row.
    #[test]
    fn a_case_is_written_once_as_its_newest_version() {
        let (a1, a2, a0) = (
            issue("a", "dispatched", 10),
            issue("a", "closed", 20),
            issue("a", "reported", 5),
        );
        let b = issue("b", "reported", 1);
        let mut v = counted(&[&a1, &a2, &a0, &b]);
        assert_eq!(v.repeated(), 1);
        let steps = CaseSteps::default();
        assert_eq!(v.offer(a1, &steps), (Fate::First, None));
        assert_eq!(v.offer(a2.clone(), &steps), (Fate::Updated, None));
        let (fate, b_now) = v.offer(b.clone(), &steps);
        assert_eq!((fate, b_now), (Fate::First, Some(b)));
        let (fate, written) = v.offer(a0, &steps);
        assert_eq!(fate, Fate::Stale);
        assert_eq!(written.map(|e| e.state), Some(Some("closed")));
        assert!(v.rest().is_empty());
    }

    /// A case with steps (`--updates`) is held with its steps folded in:
    /// the same row again leaves it as the steps made it, and a late row
    /// that shows an earlier milestone adds it without moving the state.
    #[test]
    fn a_held_case_keeps_its_steps() {
        let mut steps = CaseSteps::default();
        steps.push(
            crate::ingest::Step::new("a", "u1", 15, "dispatched"),
            (0, 2),
        );
        steps.finish();
        let first = issue("a", "reported", 10);
        let mut late = issue("a", "reported", 5);
        late.flow.accepted_at = Some(4);
        let mut v = counted(&[&first, &first, &late]);
        assert_eq!(v.offer(first.clone(), &steps), (Fate::First, None));
        assert_eq!(v.offer(first, &steps), (Fate::Unchanged, None));
        let (fate, written) = v.offer(late, &steps);
        assert_eq!(fate, Fate::Stale);
        let written = written.unwrap();
        assert_eq!(written.state, Some("dispatched"));
        assert_eq!(written.flow.dispatched_at, Some(15));
        assert_eq!(written.flow.accepted_at, Some(4));
    }

    /// A case whose last counted row never comes (it was rejected) is
    /// still written, by [`Versions::rest`].
    #[test]
    fn a_case_whose_last_row_was_rejected_is_written_at_the_end() {
        let a1 = issue("a", "reported", 10);
        let mut v = counted(&[&a1, &a1]);
        assert_eq!(
            v.offer(a1.clone(), &CaseSteps::default()),
            (Fate::First, None)
        );
        assert_eq!(v.rest(), vec![a1]);
    }
}
