//! A case sent again (CONTRACT.md, "Updates to cases"): which of two whole
//! rows of one (kind, id) is the newer, and the case a row makes of the case
//! as it stands. The service's store applies it to stored cases and
//! `wangge join` to the rows of its files, so both end with the same case.

use std::cmp::Ordering;

use super::fold::fold;
use super::state::{is_closed, rank, reopens};
use super::{Event, Kind, Step};

/// A whole row against the latest whole row of its case.
#[derive(Debug, Clone, PartialEq)]
pub enum Version {
    Newer,
    /// The same version again.
    Same,
    Older,
    /// Neither: refused, with the reason.
    Conflict(String),
}

/// Whether `new`, a whole row sent again without version times on both
/// sides, moves the case forward from `old`.
fn forward(old: &Event, new: &Event) -> bool {
    let (o, n) = (
        old.state.unwrap_or("reported"),
        new.state.unwrap_or("reported"),
    );
    (n == "reopened" && is_closed(o))
        || rank(n) > rank(o)
        || (old.resolved_at.is_none() && new.resolved_at.is_some())
        || (old.satisfaction.is_none() && new.satisfaction.is_some())
        || (old.cleared != Some(true) && new.cleared == Some(true))
        || (old.deadline.is_none() && new.deadline.is_some())
        || (old.duplicate_of.is_none() && new.duplicate_of.is_some())
}

/// `new`, a whole row of the case whose latest whole row is `base`: ordered
/// by `updated_at`; a row without one by the other's own version time
/// ([`Event::version_time`]), and two rows without one by whether the new
/// one moves the case forward. A visit record never changes.
pub fn compare(base: &Event, new: &Event) -> Version {
    if base == new {
        return Version::Same;
    }
    // The same content without a time, against a version with one (its
    // own, or the one a timeless re-open was given: [`timed`]).
    if new.updated_at.is_none() && base.updated_at.is_some() {
        let same = Event {
            updated_at: base.updated_at,
            flow: base.flow,
            ..new.clone()
        };
        if same == *base {
            return Version::Same;
        }
    }
    if new.kind == Kind::Visit {
        return Version::Conflict(
            "conflict: a visit record cannot change once stored; send a correction under a new id"
                .into(),
        );
    }
    match (base.updated_at, new.updated_at) {
        (Some(a), Some(b)) => match b.cmp(&a) {
            Ordering::Greater => Version::Newer,
            Ordering::Less => Version::Older,
            Ordering::Equal => Version::Conflict(format!(
                "conflict: ({}, {}) is stored with the same updated_at and other content",
                new.kind.as_str(),
                new.id
            )),
        },
        // A version with a time against one without: ordered by the
        // stored version's own time (its closing time, or when it
        // occurred), so a timed re-send after a timeless one is not taken
        // for a repeat of it.
        (None, Some(b)) => match b.cmp(&base.version_time()) {
            Ordering::Greater => Version::Newer,
            Ordering::Less => Version::Older,
            Ordering::Equal if forward(base, new) => Version::Newer,
            Ordering::Equal => Version::Older,
        },
        _ if forward(base, new) => Version::Newer,
        _ => Version::Older,
    }
}

/// `new`, a newer whole row of the case now `current`, with its version
/// time. A re-open sent without `updated_at` to a case closed since (by
/// its steps) happened after what is known of the case: it is given the
/// time just after the case's last change, so the steps it follows do not
/// fold over it and its milestone (返工) is not dated before the close.
pub fn timed(mut new: Event, current: &Event) -> Event {
    let reopens = new.updated_at.is_none()
        && new.state == Some("reopened")
        && current.state.is_some_and(is_closed);
    if reopens {
        let after = current
            .version_time()
            .max(new.version_time())
            .saturating_add(1);
        new.updated_at = Some(after);
        new.flow = new.version_flow();
    }
    new
}

/// `e` with the milestones already known of the case as it was (`before`)
/// kept: a re-fold from the latest whole row does not see older whole
/// rows, and a whole row with a later deadline than the case's extends it.
pub fn keep_milestones(mut e: Event, before: &Event) -> Event {
    if let (Some(new), Some(_)) = (e.deadline, before.deadline) {
        let at = e.version_time();
        e.flow.deadline(before.deadline, new, at);
    }
    e.flow = e.flow.merge(before.flow);
    e
}

/// What a whole row sent again did to its case ([`offer`]). Returned once
/// per such row and taken apart at once: never kept, so not boxed.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Offered {
    /// The case moved: its new latest whole row and the case now.
    Updated { base: Event, current: Event },
    /// The same version again, or a newer one that changes nothing.
    Unchanged,
    /// An older version: the case keeps its state; `Some` when the row
    /// shows an earlier milestone (the case with it).
    Stale(Option<Event>),
    /// Refused, with the reason.
    Conflict(String),
}

/// `new`, a whole row of the case whose latest whole row is `base` and
/// which is now `current` (the base with its steps folded in). `steps`
/// gives the case's steps; it is called only when an issue moves.
pub fn offer<E>(
    base: &Event,
    current: &Event,
    new: &Event,
    steps: impl FnOnce() -> Result<Vec<Step>, E>,
) -> Result<Offered, E> {
    match compare(base, new) {
        Version::Newer => {}
        Version::Same => return Ok(Offered::Unchanged),
        Version::Conflict(reason) => return Ok(Offered::Conflict(reason)),
        // A late version leaves the state as it is but may show an
        // earlier milestone.
        Version::Older if new.kind == Kind::Issue => {
            let flow = current.flow.merge(new.flow);
            return Ok(Offered::Stale((flow != current.flow).then(|| Event {
                flow,
                ..current.clone()
            })));
        }
        Version::Older => return Ok(Offered::Stale(None)),
    }
    let base = timed(new.clone(), current);
    let steps = match new.kind {
        Kind::Issue => steps()?,
        _ => Vec::new(),
    };
    let mut now = keep_milestones(fold(&base, &steps), current);
    // A newer whole row that is open re-opens the case it finds closed.
    if base.state.is_some_and(|s| reopens(current.state, s)) {
        now.flow.reopen(base.version_time());
    }
    Ok(if now == *current {
        Offered::Unchanged
    } else {
        Offered::Updated { base, current: now }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(state: &'static str) -> Event {
        Event {
            state: Some(state),
            ..Event::bare("c1", Kind::Issue)
        }
    }

    #[test]
    fn whole_rows_follow_their_version_times() {
        let mut old = issue("reported");
        old.updated_at = Some(10);
        let mut new = issue("closed");
        new.updated_at = Some(20);
        assert_eq!(compare(&old, &new), Version::Newer);
        assert_eq!(compare(&new, &old), Version::Older);
        assert_eq!(compare(&new, &new.clone()), Version::Same);
        let mut same_time = issue("handled");
        same_time.updated_at = Some(20);
        assert!(
            matches!(compare(&new, &same_time), Version::Conflict(r) if r.contains("same updated_at"))
        );
        // Without version times only forward moves apply.
        assert_eq!(
            compare(&issue("reported"), &issue("closed")),
            Version::Newer
        );
        assert_eq!(
            compare(&issue("closed"), &issue("dispatched")),
            Version::Older
        );
        assert_eq!(
            compare(&issue("closed"), &issue("reopened")),
            Version::Newer
        );
    }

    #[test]
    fn an_older_row_keeps_the_state_and_a_newer_one_reads_the_steps() {
        let mut first = issue("dispatched");
        first.updated_at = Some(10);
        let mut late = issue("reported");
        late.updated_at = Some(5);
        late.flow.accepted_at = Some(4);
        let got = offer(&first, &first, &late, || -> Result<_, ()> {
            panic!("an older row reads no steps")
        });
        match got.unwrap() {
            Offered::Stale(Some(e)) => {
                assert_eq!(e.state, Some("dispatched"));
                assert_eq!(e.flow.accepted_at, Some(4));
            }
            other => panic!("{other:?}"),
        }
        let mut closed = issue("closed");
        closed.updated_at = Some(20);
        let mut read = false;
        let got = offer(&first, &first, &closed, || -> Result<_, ()> {
            read = true;
            Ok(Vec::new())
        });
        assert!(read);
        match got.unwrap() {
            Offered::Updated { base, current } => {
                assert_eq!(base, closed);
                assert_eq!(current.state, Some("closed"));
            }
            other => panic!("{other:?}"),
        }
        let visit = Event::bare("v1", Kind::Visit);
        let moved = Event {
            occurred_at: 1,
            ..visit.clone()
        };
        assert!(matches!(
            offer(&visit, &visit, &moved, || -> Result<_, ()> {
                Ok(Vec::new())
            }),
            Ok(Offered::Conflict(_))
        ));
    }
}
