//! The event vocabulary every layer speaks, as stored: the kinds, the
//! two-valued status, satisfaction levels, sources and the lifecycle state
//! left out of every count. Ingest maps upstream spellings (Chinese names,
//! synonyms) onto these; everything after it compares against them.

/// Kind of residents' issue reports (群众反映问题/诉求).
pub const ISSUE: &str = "issue";
/// Kind of security incidents (治安/刑事/行政案件).
pub const INCIDENT: &str = "incident";
/// Kind of cadres' visits (走访/接访).
pub const VISIT: &str = "visit";
/// The three kinds.
pub const KINDS: [&str; 3] = [ISSUE, INCIDENT, VISIT];

/// Status of a closed case (办结).
pub const RESOLVED: &str = "resolved";
/// Status of a case not closed.
pub const OPEN: &str = "open";

/// Satisfaction: satisfied (满意).
pub const SATISFIED: &str = "satisfied";
/// Satisfaction: basically satisfied (基本满意).
pub const BASIC: &str = "basic";
/// Satisfaction: unsatisfied (不满意).
pub const UNSATISFIED: &str = "unsatisfied";
/// The satisfaction levels, best first.
pub const SATISFACTION: [&str; 3] = [SATISFIED, BASIC, UNSATISFIED];

/// Source: found on the grid's own patrol (巡查).
pub const PATROL: &str = "patrol";
/// The issue sources.
pub const SOURCES: [&str; 5] = [PATROL, "hotline", "walk_in", "online", "other"];
/// Sources that count as found by the grid's own work (发现), not reported
/// by residents. `visit` is accepted for systems that record it.
pub const DISCOVERED_SOURCES: [&str; 2] = [PATROL, VISIT];

/// Whether the problem was solved (实际解决), as a closing step reports it.
pub const SOLVED: &str = "solved";
/// The answers of `solved`: solved, partly solved, not solved.
pub const SOLVED_ANSWERS: [&str; 3] = [SOLVED, "partly", "unsolved"];

/// Lifecycle state of cases left out of every count (作废).
pub const INVALID_STATE: &str = "invalid";

/// Lifecycle state of a case parked (挂账): its clock stops, so it is never
/// overdue while suspended.
pub const SUSPENDED_STATE: &str = "suspended";

/// `s` in ASCII lower case, copied only when it has an upper-case letter
/// (the vocabularies are matched a row at a time).
pub fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        s.to_ascii_lowercase().into()
    } else {
        s.into()
    }
}
