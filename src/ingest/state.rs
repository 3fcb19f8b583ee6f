//! The lifecycle of an issue (案件/诉求): the one table that maps the words
//! upstream systems use (12345 hotlines, 数字城管, grid apps) to canonical
//! states, and what each state means for the counts.
//!
//! | canonical | zh-CN | accepted words |
//! |---|---|---|
//! | `reported` | 上报 | reported, open, new, pending, 上报, 待受理, 待处理, 未办结, 新建 |
//! | `accepted` | 受理 | accepted, registered, 受理, 已受理, 立案, 已立案 |
//! | `dispatched` | 派遣 | dispatched, assigned, 派遣, 已派遣, 派单, 交办, 转办 |
//! | `in_progress` | 处置中 | in_progress, processing, 处置中, 办理中, 处理中 |
//! | `handled` | 已处置 | handled, 已处置, 待核查, 处置完成 |
//! | `returned` | 退回 | returned, 退回, 退单 |
//! | `escalated` | 上报上级 | escalated, 上报上级, 提级, 升级 |
//! | `suspended` | 挂账 | suspended, 挂账, 缓办, 挂起 |
//! | `closed` | 结案 | closed, resolved, done, 结案, 办结, 已办结, 已解决, 已完成, 回访, 已回访 |
//! | `reopened` | 重办 | reopened, rework, 重办, 返工, 核查不通过 |
//! | `invalid` | 作废 | invalid, rejected_case, 作废, 不予受理 |
//! | `self_handled` | 自行处置 | self_handled, 自行处置, 自处置 |
//!
//! Matching ignores ASCII case and surrounding blanks. A word not in the
//! table is rejected with the list of canonical states. `closed` and
//! `self_handled` are the closed states: the frame's `status` column keeps
//! the two-valued summary the metrics read (`resolved` for them, `open`
//! otherwise), and `invalid` cases are left out of every count.

/// Canonical states in lifecycle order, with their Chinese names and the
/// words that map to them.
pub const STATES: &[(&str, &str, &[&str])] = &[
    (
        "reported",
        "上报",
        &[
            "reported",
            "open",
            "new",
            "pending",
            "上报",
            "待受理",
            "待处理",
            "未办结",
            "新建",
        ],
    ),
    (
        "accepted",
        "受理",
        &["accepted", "registered", "受理", "已受理", "立案", "已立案"],
    ),
    (
        "dispatched",
        "派遣",
        &[
            "dispatched",
            "assigned",
            "派遣",
            "已派遣",
            "派单",
            "交办",
            "转办",
        ],
    ),
    (
        "in_progress",
        "处置中",
        &["in_progress", "processing", "处置中", "办理中", "处理中"],
    ),
    (
        "handled",
        "已处置",
        &["handled", "已处置", "待核查", "处置完成"],
    ),
    ("returned", "退回", &["returned", "退回", "退单"]),
    (
        "escalated",
        "上报上级",
        &["escalated", "上报上级", "提级", "升级"],
    ),
    ("suspended", "挂账", &["suspended", "挂账", "缓办", "挂起"]),
    (
        "closed",
        "结案",
        &[
            "closed",
            "resolved",
            "done",
            "结案",
            "办结",
            "已办结",
            "已解决",
            "已完成",
            "回访",
            "已回访",
        ],
    ),
    (
        "reopened",
        "重办",
        &["reopened", "rework", "重办", "返工", "核查不通过"],
    ),
    ("invalid", "作废", &["invalid", "作废", "不予受理"]),
    (
        "self_handled",
        "自行处置",
        &["self_handled", "自行处置", "自处置"],
    ),
];

/// The canonical state of an upstream word, or the reason it is not one.
pub fn canonical(word: &str) -> Result<&'static str, String> {
    let w = crate::vocab::lower(word.trim());
    STATES
        .iter()
        .find(|(_, _, words)| words.iter().any(|x| *x == w))
        .map(|(s, _, _)| *s)
        .ok_or_else(|| {
            let known: Vec<&str> = STATES.iter().map(|(s, _, _)| *s).collect();
            format!(
                "unknown state {}; expected one of {} (or their Chinese names, see the README)",
                super::privacy::shown(word),
                known.join(", ")
            )
        })
}

/// The Chinese name of a canonical state (the state itself when unknown).
pub fn zh(state: &str) -> &str {
    STATES
        .iter()
        .find(|(s, _, _)| *s == state)
        .map_or(state, |(_, z, _)| *z)
}

/// Whether a canonical state closes the case (结案 or 自行处置).
pub fn is_closed(state: &str) -> bool {
    matches!(state, "closed" | "self_handled")
}

/// Whether a case in state `from` that moves to `to` is re-opened: it
/// was closed and is open again (a void case is no re-open).
pub fn reopens(from: Option<&str>, to: &str) -> bool {
    from.is_some_and(is_closed) && !is_closed(to) && to != "invalid"
}

/// The two-valued status the metrics read: `resolved` for a closed case,
/// `open` otherwise.
pub fn status_of(state: &str) -> &'static str {
    if is_closed(state) {
        crate::vocab::RESOLVED
    } else {
        crate::vocab::OPEN
    }
}

/// Position of a state on the forward path, for updates that carry no
/// version time: a later position is a move forward. `reopened` is handled
/// by the caller as an explicit re-open; side states rank with the step
/// they interrupt.
pub fn rank(state: &str) -> u8 {
    match state {
        "reported" => 0,
        "accepted" => 1,
        "dispatched" | "returned" | "escalated" => 2,
        "in_progress" | "suspended" | "reopened" => 3,
        "handled" => 4,
        "closed" | "self_handled" | "invalid" => 5,
        _ => 0,
    }
}

/// When a case first reached each step of the work, from its transitions
/// and the whole-row versions received: what the workflow KPIs read (as of
/// a window end, a milestone counts when it lies at or before the end).
/// Milestones only accumulate: a late delivery can move one earlier, never
/// erase it, so the merge of two partial views is their earliest times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Flow {
    /// The first action after the report (受理/响应): any state but
    /// `reported` or `invalid`, reached by a transition or an open whole row.
    pub accepted_at: Option<i64>,
    /// Dispatched (派遣), or first seen in a state that follows a dispatch.
    pub dispatched_at: Option<i64>,
    /// Handled (处置完成): `handled`, or closed.
    pub handled_at: Option<i64>,
    /// First closed (首次结案): with a re-open after it, the closure in
    /// force until the re-open, which a figure as of a date before the
    /// re-open counts (the case's `resolved_at` is its latest closure).
    pub first_closed_at: Option<i64>,
    /// First returned (退单).
    pub returned_at: Option<i64>,
    /// First re-opened or failed a check (返工).
    pub reworked_at: Option<i64>,
    /// First extension of the deadline (延期).
    pub extended_at: Option<i64>,
    /// First escalated above the village (上报上级).
    pub escalated_at: Option<i64>,
    /// First entered suspension (挂账, 缓办).
    pub suspended_at: Option<i64>,
    /// First left that suspension for another state: with `suspended_at`
    /// the case's first suspension, so "suspended at T" is known for a
    /// case suspended then and resumed since.
    pub resumed_at: Option<i64>,
    /// The deadline in force before the first extension (原办理时限), set
    /// with `extended_at`: a figure as of a date before the extension
    /// reads this deadline, so extending a case today does not rewrite a
    /// past window's 按期 counts. Not a milestone: an instant of the case.
    pub first_deadline: Option<i64>,
    /// First re-opened after its first closure (首次重开): with
    /// `first_closed_at`, the span the case stood closed at first. Not
    /// `reworked_at`, which a check failed before any closure
    /// (处置 → 核查不通过 → 处置 → 结案) sets earlier than the closure.
    pub reopened_at: Option<i64>,
    /// Whether the problem was actually solved, as the latest report says (实际解决).
    pub solved: Option<bool>,
}

fn earliest(slot: &mut Option<i64>, at: i64) {
    *slot = Some(slot.map_or(at, |s| s.min(at)));
}

impl Flow {
    /// The milestones one whole-row version shows: its state at its version
    /// time. A row that arrives closed shows when it was handled but not
    /// when it was first acted on.
    pub fn of_version(state: Option<&str>, at: i64) -> Flow {
        let mut f = Flow::default();
        if let Some(s) = state {
            f.reach(s, at, true);
        }
        f
    }

    /// The case reached `state` at `at` (`whole_row`: seen in a whole-row version).
    pub fn reach(&mut self, state: &str, at: i64, whole_row: bool) {
        let acted = !matches!(state, "reported" | "invalid");
        if acted && !(whole_row && is_closed(state)) {
            earliest(&mut self.accepted_at, at);
        }
        match state {
            "dispatched" | "in_progress" | "returned" => earliest(&mut self.dispatched_at, at),
            "handled" => {
                earliest(&mut self.dispatched_at, at);
                earliest(&mut self.handled_at, at);
            }
            "closed" | "self_handled" => {
                earliest(&mut self.handled_at, at);
                earliest(&mut self.first_closed_at, at);
            }
            "reopened" => self.reopen(at),
            "escalated" => earliest(&mut self.escalated_at, at),
            _ => {}
        }
        if state == "returned" {
            earliest(&mut self.returned_at, at);
        }
        if state == "suspended" {
            earliest(&mut self.suspended_at, at);
        } else if self.suspended_at.is_some_and(|s| s < at) {
            earliest(&mut self.resumed_at, at);
        }
    }

    /// The case was re-opened (or failed a check) at `at`: rework, and a
    /// re-open when it had been closed before. A closed case moved on by
    /// a step or a whole row in any open state is re-opened too, whatever
    /// word the sending system uses ([`reopens`]).
    pub fn reopen(&mut self, at: i64) {
        earliest(&mut self.reworked_at, at);
        if self.first_closed_at.is_some_and(|c| c < at) {
            earliest(&mut self.reopened_at, at);
        }
    }

    /// The deadline moved from `before` to `after` at `at`: a later one is
    /// an extension; the first one keeps the deadline it replaced.
    pub fn deadline(&mut self, before: Option<i64>, after: i64, at: i64) {
        let Some(b) = before.filter(|&b| after > b) else {
            return;
        };
        match self.extended_at {
            Some(x) if x < at => {}
            Some(x) if x == at => {
                self.first_deadline = Some(self.first_deadline.map_or(b, |d| d.min(b)))
            }
            _ => (self.extended_at, self.first_deadline) = (Some(at), Some(b)),
        }
    }

    /// Both views together: the earliest time of each milestone; `solved`
    /// from `self` when it says.
    pub fn merge(self, other: Flow) -> Flow {
        let min = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        // The deadline before the first extension goes with that extension.
        let first_deadline = match (self.extended_at, other.extended_at) {
            (Some(a), Some(b)) if a < b => self.first_deadline,
            (Some(a), Some(b)) if b < a => other.first_deadline,
            (Some(_), Some(_)) => min(self.first_deadline, other.first_deadline),
            (Some(_), None) => self.first_deadline,
            (None, _) => other.first_deadline,
        };
        Flow {
            accepted_at: min(self.accepted_at, other.accepted_at),
            dispatched_at: min(self.dispatched_at, other.dispatched_at),
            handled_at: min(self.handled_at, other.handled_at),
            first_closed_at: min(self.first_closed_at, other.first_closed_at),
            returned_at: min(self.returned_at, other.returned_at),
            reworked_at: min(self.reworked_at, other.reworked_at),
            extended_at: min(self.extended_at, other.extended_at),
            escalated_at: min(self.escalated_at, other.escalated_at),
            suspended_at: min(self.suspended_at, other.suspended_at),
            resumed_at: min(self.resumed_at, other.resumed_at),
            first_deadline,
            reopened_at: min(self.reopened_at, other.reopened_at),
            solved: self.solved.or(other.solved),
        }
    }

    /// The milestone times in the order of [`crate::columns::FLOW`].
    pub fn times(&self) -> [Option<i64>; 12] {
        [
            self.accepted_at,
            self.dispatched_at,
            self.handled_at,
            self.first_closed_at,
            self.returned_at,
            self.reworked_at,
            self.extended_at,
            self.escalated_at,
            self.suspended_at,
            self.resumed_at,
            self.first_deadline,
            self.reopened_at,
        ]
    }

    /// The inverse of [`Flow::times`].
    pub fn from_times(t: [Option<i64>; 12], solved: Option<bool>) -> Flow {
        Flow {
            accepted_at: t[0],
            dispatched_at: t[1],
            handled_at: t[2],
            first_closed_at: t[3],
            returned_at: t[4],
            reworked_at: t[5],
            extended_at: t[6],
            escalated_at: t[7],
            suspended_at: t[8],
            resumed_at: t[9],
            first_deadline: t[10],
            reopened_at: t[11],
            solved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_words_map_to_one_state_each() {
        assert_eq!(canonical("已办结").unwrap(), "closed");
        assert_eq!(canonical(" Resolved ").unwrap(), "closed");
        assert_eq!(canonical("open").unwrap(), "reported");
        assert_eq!(canonical("派单").unwrap(), "dispatched");
        assert_eq!(canonical("核查不通过").unwrap(), "reopened");
        assert_eq!(canonical("不予受理").unwrap(), "invalid");
        let e = canonical("lost").unwrap_err();
        assert!(e.contains("reported") && e.contains("self_handled"), "{e}");
        // No word maps to two states.
        let mut all: Vec<&str> = STATES
            .iter()
            .flat_map(|(_, _, w)| w.iter().copied())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn milestones_keep_the_earliest_time() {
        let mut f = Flow::of_version(Some("reported"), 0);
        f.reach("dispatched", 10, false);
        f.reach("returned", 20, false);
        f.reach("dispatched", 30, false);
        f.deadline(Some(100), 200, 30);
        f.deadline(Some(200), 150, 40);
        f.reach("handled", 50, false);
        f.reach("reopened", 60, false);
        f.reach("closed", 70, false);
        f.reach("closed", 65, false);
        assert_eq!(f.first_closed_at, Some(65));
        // The first extension keeps the deadline it replaced; a later one
        // (or a shortening) does not.
        assert_eq!(f.first_deadline, Some(100));
        f.deadline(Some(200), 300, 80);
        assert_eq!((f.extended_at, f.first_deadline), (Some(30), Some(100)));
        let mut early = Flow::default();
        early.deadline(Some(50), 90, 25);
        assert_eq!(
            (f.merge(early).first_deadline, early.merge(f).first_deadline),
            (Some(50), Some(50))
        );
        assert_eq!(f.merge(Flow::default()).first_deadline, Some(100));
        assert_eq!(f.accepted_at, Some(10));
        assert_eq!(f.dispatched_at, Some(10));
        assert_eq!(
            (f.returned_at, f.reworked_at, f.handled_at),
            (Some(20), Some(60), Some(50))
        );
        assert_eq!(f.extended_at, Some(30));
        let late = Flow::of_version(Some("accepted"), 5);
        assert_eq!(f.merge(late).accepted_at, Some(5));
        assert_eq!(late.merge(f).handled_at, Some(50));
        // A row that arrives closed was handled then, its first action unknown.
        let closed = Flow::of_version(Some("closed"), 9);
        assert_eq!((closed.accepted_at, closed.handled_at), (None, Some(9)));
        assert_eq!(Flow::from_times(f.times(), f.solved), f);
    }

    #[test]
    fn closed_states_are_resolved() {
        assert_eq!(status_of("self_handled"), "resolved");
        assert_eq!(status_of("handled"), "open");
        assert_eq!(zh("suspended"), "挂账");
        assert!(rank("closed") > rank("handled") && rank("handled") > rank("reported"));
    }
}
