//! The dictionaries of the coded columns: every table holds `u32` codes
//! for the (tier1, tier2, tier3) triple, the kind, the category and the
//! source, and these lists turn them back into strings.

use polars::prelude::*;

use super::{col_names, CategoryCount, PreAgg, T};
use crate::analytics::AnalyticsError;
use crate::columns as c;

/// The dictionaries of the coded columns: a code is an index into its list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Codes {
    /// (tier1, tier2, tier3) codes of the rows' units; [`T`] indexes this.
    pub tiers: Vec<[Option<String>; 3]>,
    /// Kinds (`issue`, `incident`, `visit`).
    pub kinds: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Issue sources.
    pub sources: Vec<String>,
}

/// Dictionary names in the snapshot table of [`Codes`].
const DICTS: [&str; 4] = ["tier", "kind", "category", "source"];

impl Codes {
    fn dict(&self, i: usize) -> &[String] {
        match i {
            1 => &self.kinds,
            2 => &self.categories,
            _ => &self.sources,
        }
    }

    fn dict_mut(&mut self, i: usize) -> &mut Vec<String> {
        match i {
            1 => &mut self.kinds,
            2 => &mut self.categories,
            _ => &mut self.sources,
        }
    }

    /// Codes of `values` found in `dict` (values never seen have none).
    pub(super) fn find<S: AsRef<str>>(dict: &[String], values: &[S]) -> Vec<u32> {
        dict.iter()
            .enumerate()
            .filter(|(_, d)| values.iter().any(|v| v.as_ref() == d.as_str()))
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Extends these dictionaries with the values of `other` and returns,
    /// for each of its four dictionaries, the new code of each old code.
    pub(super) fn absorb(&mut self, other: &Codes) -> [Vec<u32>; 4] {
        let tier_map = {
            let mut tiers: PlHashMap<&[Option<String>; 3], u32> = PlHashMap::default();
            for (i, t) in self.tiers.iter().enumerate() {
                tiers.insert(t, i as u32);
            }
            let mut added: Vec<[Option<String>; 3]> = Vec::new();
            let base = self.tiers.len();
            let map: Vec<u32> = other
                .tiers
                .iter()
                .map(|t| match tiers.get(t) {
                    Some(&i) => i,
                    None => {
                        let i = (base + added.len()) as u32;
                        tiers.insert(t, i);
                        added.push(t.clone());
                        i
                    }
                })
                .collect();
            drop(tiers);
            self.tiers.extend(added);
            map
        };
        let mut maps = [tier_map, Vec::new(), Vec::new(), Vec::new()];
        for (d, map) in maps.iter_mut().enumerate().skip(1) {
            let mine = self.dict_mut(d);
            *map = other
                .dict(d)
                .iter()
                .map(|v| match mine.iter().position(|m| m == v) {
                    Some(i) => i as u32,
                    None => {
                        mine.push(v.clone());
                        mine.len() as u32 - 1
                    }
                })
                .collect();
        }
        maps
    }

    /// The dictionaries as one table (snapshot files hold tables).
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        let mut dict = Vec::new();
        let mut code = Vec::new();
        let mut vals: [Vec<Option<&str>>; 3] = Default::default();
        for (i, t) in self.tiers.iter().enumerate() {
            dict.push(DICTS[0]);
            code.push(i as u32);
            for (v, x) in vals.iter_mut().zip(t) {
                v.push(x.as_deref());
            }
        }
        for (d, name) in DICTS.iter().enumerate().skip(1) {
            for (i, x) in self.dict(d).iter().enumerate() {
                dict.push(*name);
                code.push(i as u32);
                vals[0].push(Some(x));
                vals[1].push(None);
                vals[2].push(None);
            }
        }
        let [a, b, cc] = vals;
        DataFrame::new_infer_height(vec![
            Column::new("dict".into(), dict),
            Column::new("code".into(), code),
            Column::new("a".into(), a),
            Column::new("b".into(), b),
            Column::new("c".into(), cc),
        ])
    }

    /// The inverse of [`Codes::to_frame`].
    pub fn from_frame(df: &DataFrame) -> PolarsResult<Codes> {
        let dict = df.column("dict")?.str()?;
        let code = df.column("code")?.u32()?;
        let (a, b, cc) = (
            df.column("a")?.str()?,
            df.column("b")?.str()?,
            df.column("c")?.str()?,
        );
        let mut out = Codes::default();
        let bad = || PolarsError::ComputeError("malformed pre-aggregate dictionary".into());
        for i in 0..df.height() {
            let at = code.get(i).ok_or_else(bad)? as usize;
            let d = DICTS
                .iter()
                .position(|n| Some(*n) == dict.get(i))
                .ok_or_else(bad)?;
            let owned = |s: Option<&str>| s.map(str::to_owned);
            if d == 0 {
                if at != out.tiers.len() {
                    return Err(bad());
                }
                out.tiers
                    .push([owned(a.get(i)), owned(b.get(i)), owned(cc.get(i))]);
            } else {
                let list = out.dict_mut(d);
                if at != list.len() {
                    return Err(bad());
                }
                list.push(a.get(i).ok_or_else(bad)?.to_owned());
            }
        }
        Ok(out)
    }
}

/// `df` with the codes of column `name` replaced through `map`.
pub(super) fn recode(df: &DataFrame, name: &str, map: &[u32]) -> PolarsResult<DataFrame> {
    // A table of one kind holds no kind column (and the household table
    // no source).
    let Ok(codes) = df.column(name) else {
        return Ok(df.clone());
    };
    let codes = codes.u32()?;
    let new: UInt32Chunked = codes
        .iter()
        .map(|v| v.and_then(|v| map.get(v as usize).copied()))
        .collect();
    let mut out = df.clone();
    out.with_column(new.with_name(name.into()).into_column())?;
    Ok(out)
}

/// A UInt32 list literal for `is_in`.
pub(super) fn code_list(codes: Vec<u32>) -> Expr {
    lit(Series::new("".into(), codes)).implode(false)
}

/// Replaces the codes of column `name` by their strings.
fn decode_column(df: &mut DataFrame, name: &str, dict: &[String]) -> PolarsResult<()> {
    let codes = df.column(name)?.u32()?;
    let strings: StringChunked = codes
        .iter()
        .map(|v| v.and_then(|v| dict.get(v as usize).map(String::as_str)))
        .collect();
    df.with_column(strings.with_name(name.into()).into_column())?;
    Ok(())
}

impl PreAgg {
    /// The code of a kind, if any event has it.
    pub fn kind_code(&self, kind: &str) -> Option<u32> {
        self.codes
            .kinds
            .iter()
            .position(|k| k == kind)
            .map(|i| i as u32)
    }

    /// Codes of the given sources.
    pub fn source_codes<S: AsRef<str>>(&self, sources: &[S]) -> Vec<u32> {
        Codes::find(&self.codes.sources, sources)
    }

    /// `df` (rows of these tables, or derived from them) with its kind,
    /// category and source codes as strings, where it has those columns.
    pub fn decode(&self, mut df: DataFrame) -> Result<DataFrame, AnalyticsError> {
        for (name, d) in [(c::KIND, 1), (c::CATEGORY, 2), (c::SOURCE, 3)] {
            if df.column(name).is_ok() {
                decode_column(&mut df, name, self.codes.dict(d))?;
            }
        }
        Ok(df)
    }

    /// Every (kind, category) among the events whose units `visible`
    /// accepts (by their [`Codes::tiers`] entry), with its event count: kinds
    /// in name order, each kind's categories most frequent first.
    pub fn categories(
        &self,
        visible: &dyn Fn(&[Option<String>; 3]) -> bool,
    ) -> Result<Vec<CategoryCount>, AnalyticsError> {
        let shown: Vec<bool> = self.codes.tiers.iter().map(visible).collect();
        let (t, kinds, cats, n) = (
            self.events.column(T)?.u32()?,
            self.events.column(c::KIND)?.u32()?,
            self.events.column(c::CATEGORY)?.u32()?,
            self.events.column(col_names::N)?.u32()?,
        );
        let width = self.codes.categories.len();
        let mut counts = vec![0u64; self.codes.kinds.len() * width];
        for (((t, k), ct), n) in t.iter().zip(kinds.iter()).zip(cats.iter()).zip(n.iter()) {
            if let (Some(t), Some(k), Some(ct), Some(n)) = (t, k, ct, n) {
                if shown[t as usize] {
                    counts[k as usize * width + ct as usize] += u64::from(n);
                }
            }
        }
        let mut out: Vec<CategoryCount> = counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &events)| CategoryCount {
                kind: self.codes.kinds[i / width].clone(),
                category: self.codes.categories[i % width].clone(),
                events,
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.kind, std::cmp::Reverse(a.events), &a.category).cmp(&(
                &b.kind,
                std::cmp::Reverse(b.events),
                &b.category,
            ))
        });
        Ok(out)
    }
}
