//! The current state of a case: its latest whole row with the transitions
//! received for it applied in (`at`, `update_id`) order, whatever order they
//! arrived in. The store keeps cases this way; `wangge join --updates`
//! folds a file of transitions into the events it joins the same way.

use super::state::{canonical, is_closed, reopens, status_of};
use super::{Event, Step};

/// Satisfaction ratings and issue sources, as interned strings.
pub use crate::vocab::{SATISFACTION, SOURCES};

/// The interned copy of `v` when it is one of `known`.
pub fn intern(v: Option<String>, known: &[&'static str]) -> Option<&'static str> {
    let v = v?;
    known.iter().copied().find(|k| *k == v)
}

/// The current state of a case: `base` with `steps` applied in (`at`,
/// `update_id`) order. Steps before the base's version time are history the
/// base already reflects. A step dated before the case was reported
/// (`occurred_at`) is no step of it (a wrong clock or time zone at the
/// source): it is left out, milestones and all; the store refuses such a
/// step of a stored case ([`before_report`]). `updated_at` of the result is
/// the time of its last change.
pub fn fold(base: &Event, steps: &[Step]) -> Event {
    let mut steps: Vec<&Step> = steps
        .iter()
        .filter(|s| before_report(base, s).is_none())
        .collect();
    steps.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.update_id.cmp(&b.update_id)));
    let from = base.version_time();
    let mut e = base.clone();
    let mut deadline = base.deadline;
    for s in steps {
        let Ok(state) = canonical(&s.state) else {
            continue;
        };
        // Milestones read every step, also those the base already reflects.
        e.flow.reach(state, s.at, false);
        if let Some(d) = s.deadline {
            e.flow.deadline(deadline, d, s.at);
            deadline = Some(d);
        }
        if let Some(v) = &s.solved {
            e.flow.solved = Some(v == crate::vocab::SOLVED);
        }
        // A link is kept from any step: the latest one names the case.
        if s.duplicate_of.is_some() {
            e.duplicate_of = s.duplicate_of.clone();
        }
        // A rating too, from a step the base's row postdates when the row
        // has none (a whole row sent without the callback's rating says
        // nothing of it; `solved` from the same step was kept, the rating
        // lost): a rating in the row stands against older steps.
        if let Some(v) = intern(s.satisfaction.clone(), &SATISFACTION) {
            if s.at >= from || base.satisfaction.is_none() {
                e.satisfaction = Some(v);
            }
        }
        if s.at < from {
            continue;
        }
        let was_closed = e.state.is_some_and(is_closed);
        if reopens(e.state, state) {
            e.flow.reopen(s.at);
        }
        e.state = Some(state);
        e.status = Some(status_of(state));
        if is_closed(state) {
            if !was_closed || e.resolved_at.is_none() {
                e.resolved_at = Some(s.at);
            }
        } else {
            e.resolved_at = None;
        }
        if s.deadline.is_some() {
            e.deadline = s.deadline;
        }
        if let Some(c) = &s.category {
            e.category = c.clone();
        }
        if let (Some(lon), Some(lat)) = (s.lon, s.lat) {
            e.lon = lon;
            e.lat = lat;
        }
        e.updated_at = Some(e.updated_at.map_or(s.at, |u| u.max(s.at)));
    }
    e
}

/// Why step `s` cannot be a step of the case `base` reports: it is dated
/// before the case was reported. `None` for a step at or after that.
pub fn before_report(base: &Event, s: &Step) -> Option<String> {
    (s.at < base.occurred_at).then(|| {
        let utc = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us).map_or_else(
                || us.to_string(),
                |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )
        };
        format!(
            "update {:?} of issue {:?} is dated {}, before the issue was reported ({}): \
             check the sending system's clock and time zone",
            s.update_id,
            s.issue_id,
            utc(s.at),
            utc(base.occurred_at)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Kind;

    fn step(at: i64, state: &str) -> Step {
        Step::new("c", &format!("u{at}"), at, state)
    }

    /// A closed case put on hold (挂账) is re-opened and suspended at the
    /// same step: its re-open is dated, and its suspension has not ended.
    #[test]
    fn a_closed_case_suspended_again_is_reopened_and_still_suspended() {
        let base = Event {
            state: Some("reported"),
            occurred_at: 1,
            ..Event::bare("c", Kind::Issue)
        };
        let e = fold(&base, &[step(5, "closed"), step(9, "suspended")]);
        assert_eq!(e.state, Some("suspended"));
        assert_eq!(
            (e.flow.first_closed_at, e.flow.reopened_at),
            (Some(5), Some(9))
        );
        assert_eq!((e.flow.suspended_at, e.flow.resumed_at), (Some(9), None));
        // Voiding a closed case re-opens nothing.
        let void = fold(&base, &[step(5, "closed"), step(9, "invalid")]);
        assert_eq!((void.flow.reworked_at, void.flow.reopened_at), (None, None));
    }
}
