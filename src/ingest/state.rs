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
        &["reported", "open", "new", "pending", "上报", "待受理", "待处理", "未办结", "新建"],
    ),
    (
        "accepted",
        "受理",
        &["accepted", "registered", "受理", "已受理", "立案", "已立案"],
    ),
    (
        "dispatched",
        "派遣",
        &["dispatched", "assigned", "派遣", "已派遣", "派单", "交办", "转办"],
    ),
    (
        "in_progress",
        "处置中",
        &["in_progress", "processing", "处置中", "办理中", "处理中"],
    ),
    ("handled", "已处置", &["handled", "已处置", "待核查", "处置完成"]),
    ("returned", "退回", &["returned", "退回", "退单"]),
    ("escalated", "上报上级", &["escalated", "上报上级", "提级", "升级"]),
    ("suspended", "挂账", &["suspended", "挂账", "缓办", "挂起"]),
    (
        "closed",
        "结案",
        &[
            "closed", "resolved", "done", "结案", "办结", "已办结", "已解决", "已完成", "回访",
            "已回访",
        ],
    ),
    ("reopened", "重办", &["reopened", "rework", "重办", "返工", "核查不通过"]),
    ("invalid", "作废", &["invalid", "作废", "不予受理"]),
    ("self_handled", "自行处置", &["self_handled", "自行处置", "自处置"]),
];

/// The canonical state of an upstream word, or the reason it is not one.
pub fn canonical(word: &str) -> Result<&'static str, String> {
    let w = word.trim().to_ascii_lowercase();
    STATES
        .iter()
        .find(|(_, _, words)| words.iter().any(|x| *x == w))
        .map(|(s, _, _)| *s)
        .ok_or_else(|| {
            let known: Vec<&str> = STATES.iter().map(|(s, _, _)| *s).collect();
            format!(
                "unknown state {:?}; expected one of {} (or their Chinese names, see the README)",
                word.trim(),
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

/// The two-valued status the metrics read: `resolved` for a closed case,
/// `open` otherwise.
pub fn status_of(state: &str) -> &'static str {
    if is_closed(state) {
        "resolved"
    } else {
        "open"
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
        let mut all: Vec<&str> = STATES.iter().flat_map(|(_, _, w)| w.iter().copied()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn closed_states_are_resolved() {
        assert_eq!(status_of("self_handled"), "resolved");
        assert_eq!(status_of("handled"), "open");
        assert_eq!(zh("suspended"), "挂账");
        assert!(rank("closed") > rank("handled") && rank("handled") > rank("reported"));
    }
}
