//! The query's filters and unit keys translated to codes: what every
//! reader of the tables compares and groups by.

use polars::prelude::*;

use super::codes::{code_list, Codes};
use super::{PreAgg, ISSUE, T};
use crate::analytics::filter::{day_number, Query};
use crate::analytics::AnalyticsError;
use crate::columns as c;

/// A unit key for one tier: an expression giving each table row the
/// position of its unit in `names` (null when the row has none there).
#[derive(Debug, Clone)]
pub struct UnitKey {
    /// UInt32 position into `names`.
    pub expr: Expr,
    /// The same, per tier code (for loops).
    pub map: Vec<Option<u32>>,
    /// Unit codes.
    pub names: Vec<String>,
}

/// [`PreAgg::predicate`] for plain loops over the coded columns: the same
/// rows pass, without building an expression or a filtered copy.
#[derive(Debug, Clone)]
pub struct CodeFilter {
    from: Option<i32>,
    to: Option<i32>,
    kinds: Option<Vec<bool>>,
    categories: Option<Vec<bool>>,
    sources: Option<Vec<bool>>,
    issue: Option<u32>,
}

/// Whether `v` is in `set` (None: every value, null included).
#[inline(always)]
fn member(set: &Option<Vec<bool>>, v: Option<u32>) -> bool {
    match set {
        None => true,
        Some(set) => v.is_some_and(|v| set.get(v as usize).copied().unwrap_or(false)),
    }
}

impl CodeFilter {
    /// Whether the category filter keeps `category` (a row must pass
    /// the others too).
    #[inline]
    pub fn keeps_category(&self, category: Option<u32>) -> bool {
        member(&self.categories, category)
    }

    /// Whether every row whose days lie in `first..=last` passes: no code
    /// is filtered and the window holds those days (a table sliced to the
    /// window, read without testing each row's day).
    pub fn keeps_days(&self, first: i32, last: i32) -> bool {
        self.filters_no_code()
            && self.from.is_none_or(|f| first >= f)
            && self.to.is_none_or(|t| last < t)
    }

    /// Whether no kind, category or source is filtered.
    pub fn filters_no_code(&self) -> bool {
        self.kinds.is_none() && self.categories.is_none() && self.sources.is_none()
    }

    /// Whether every row passes.
    pub fn keeps_all(&self) -> bool {
        self.from.is_none()
            && self.to.is_none()
            && self.kinds.is_none()
            && self.categories.is_none()
            && self.sources.is_none()
    }

    /// Whether a row with these day and codes passes.
    #[inline]
    pub fn keeps(
        &self,
        day: Option<i32>,
        kind: Option<u32>,
        cat: Option<u32>,
        src: Option<u32>,
    ) -> bool {
        self.keeps_row(cat, || (day, kind, src))
    }

    /// [`CodeFilter::keeps`] with the row's category tested first and its
    /// day, kind and source read only if the category passes: a query of
    /// one category stops most rows at that one read.
    #[inline(always)]
    pub fn keeps_row(
        &self,
        cat: Option<u32>,
        rest: impl FnOnce() -> (Option<i32>, Option<u32>, Option<u32>),
    ) -> bool {
        if !member(&self.categories, cat) {
            return false;
        }
        let (day, kind, src) = rest();
        if self.from.is_some() || self.to.is_some() {
            let Some(d) = day else { return false };
            if self.from.is_some_and(|f| d < f) || self.to.is_some_and(|t| d >= t) {
                return false;
            }
        }
        if !member(&self.kinds, kind) {
            return false;
        }
        if self.sources.is_some() {
            // Sources restrict issues only (null kinds as polars' logic has them).
            let not_issue = kind.is_some() && self.issue.is_none_or(|i| Some(i) != kind);
            return not_issue || member(&self.sources, src);
        }
        true
    }
}

impl PreAgg {
    /// The query's filters on the coded tables: its window on [`DAY`], and
    /// its kinds, categories and sources as codes (a value never seen
    /// matches nothing). Sources restrict issues only, as in
    /// [`Query::predicate`].
    pub fn predicate(&self, q: &Query) -> Expr {
        let window = Query {
            kinds: Vec::new(),
            categories: Vec::new(),
            sources: Vec::new(),
            ..q.clone()
        };
        let mut p = window.predicate();
        if !q.kinds.is_empty() {
            let codes = Codes::find(&self.codes.kinds, &q.kinds);
            p = p.and(col(c::KIND).is_in(code_list(codes), false));
        }
        if !q.categories.is_empty() {
            let codes = Codes::find(&self.codes.categories, &q.categories);
            p = p.and(col(c::CATEGORY).is_in(code_list(codes), false));
        }
        if !q.sources.is_empty() {
            let codes = Codes::find(&self.codes.sources, &q.sources);
            let in_sources = col(c::SOURCE).is_in(code_list(codes), false);
            let not_issue = match self.kind_code(ISSUE) {
                Some(issue) => col(c::KIND).neq(lit(issue)),
                None => col(c::KIND).is_not_null(),
            };
            p = p.and(not_issue.or(in_sources.fill_null(false)));
        }
        p
    }

    /// The query's filter for loops (see [`CodeFilter`]).
    pub fn code_filter(&self, q: &Query) -> CodeFilter {
        let set = |dict: &[String], values: &[String]| {
            (!values.is_empty()).then(|| {
                let mut v = vec![false; dict.len()];
                for i in Codes::find(dict, values) {
                    v[i as usize] = true;
                }
                v
            })
        };
        CodeFilter {
            from: q.from.map(day_number),
            to: q.to.map(day_number),
            kinds: set(&self.codes.kinds, &q.kinds),
            categories: set(&self.codes.categories, &q.categories),
            sources: set(&self.codes.sources, &q.sources),
            issue: self.kind_code(ISSUE),
        }
    }

    /// The key of tier `level` (1-3); level 0 gives every located row the
    /// county `root`.
    pub fn unit_key(&self, level: u8, root: &str) -> Result<UnitKey, AnalyticsError> {
        let mut names: Vec<String> = Vec::new();
        let map: Vec<Option<u32>> = match level {
            0 => {
                names.push(root.to_owned());
                self.codes
                    .tiers
                    .iter()
                    .map(|t| t[0].as_ref().map(|_| 0))
                    .collect()
            }
            1..=3 => {
                let mut at: PlHashMap<&str, u32> = PlHashMap::default();
                self.codes
                    .tiers
                    .iter()
                    .map(|t| {
                        t[usize::from(level) - 1].as_deref().map(|code| {
                            *at.entry(code).or_insert_with(|| {
                                names.push(code.to_owned());
                                names.len() as u32 - 1
                            })
                        })
                    })
                    .collect()
            }
            _ => return Err(AnalyticsError::BadLevel { level }),
        };
        let expr = lit(Series::new("".into(), map.clone())).gather(col(T), false);
        Ok(UnitKey { expr, map, names })
    }

    /// The pre-aggregates restricted to the events of one unit of `level`.
    pub fn cut(&self, level: u8, code: &str) -> Result<PreAgg, AnalyticsError> {
        if level == 0 {
            return Ok(self.clone());
        }
        let i = usize::from(level.min(3)) - 1;
        let keep: Vec<u32> = (0..self.codes.tiers.len() as u32)
            .filter(|&t| self.codes.tiers[t as usize][i].as_deref() == Some(code))
            .collect();
        let list = code_list(keep);
        let f = |df: &DataFrame| {
            df.clone()
                .lazy()
                .filter(col(T).is_in(list.clone(), false))
                .collect()
        };
        let mut cut = PreAgg::from_tables(
            self.codes.clone(),
            // The aside is by frame row, and a unit's cut answers queries
            // only: it gives no frame its milestones. The rare times are
            // by frame row too, and its issues read theirs there.
            [
                f(&self.events)?,
                f(&self.issues)?,
                f(&self.households)?,
                self.aside.clear(),
                self.rare.table().clone(),
            ],
            self.zone,
        )?;
        cut.cut = true;
        Ok(cut)
    }
}
