//! The three tables by sorting packed integer keys.
//!
//! A polars group-by over seven string keys hashes every key of every row,
//! and at county density (5,000 grids, two years, ten million events) almost
//! every group holds one event, so that work buys nothing; string columns in
//! the output then cost more than the grouping. Here each string column is
//! replaced once by a small dictionary code ([`Codes`]), the codes of a row
//! are packed into one integer with the local day in the high bits, and a
//! parallel unstable sort brings equal keys together already in day order.
//! The tables keep the codes: every reader filters and groups integers.

use crate::vocab;
use polars::prelude::*;
use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use rayon::slice::ParallelSliceMut;
use sha2::{Digest, Sha256};

use super::{col_names as p, flags, Codes, INCIDENT, INVALID_STATE, ISSUE, RESOLVED, T, VISIT};
use crate::analytics::filter::DAY;
use crate::columns as c;

/// Codes of optional strings, 0 for null, in first-seen order.
struct Dict<'a> {
    codes: PlHashMap<&'a str, u32>,
    values: Vec<&'a str>,
}

impl<'a> Dict<'a> {
    fn new() -> Self {
        Dict {
            codes: PlHashMap::default(),
            values: Vec::new(),
        }
    }

    fn code(&mut self, v: Option<&'a str>) -> u32 {
        let Some(s) = v else { return 0 };
        let next = self.values.len() as u32 + 1;
        *self.codes.entry(s).or_insert_with(|| {
            self.values.push(s);
            next
        })
    }

    /// Appends the codes of rows `lo..lo + skip.len()` of `texts` to
    /// `out`, 0 for the rows to skip. A coded column's values are looked
    /// up once each; the codes are those of [`Dict::code`] in row order
    /// either way.
    fn extend(&mut self, texts: &c::Texts<'a>, skip: &[bool], lo: usize, out: &mut Vec<u32>) {
        let hi = lo + skip.len();
        match texts {
            c::Texts::Plain(s) => {
                out.extend(s.iter().skip(lo).take(hi - lo).zip(skip).map(|(v, &skip)| {
                    if skip {
                        0
                    } else {
                        self.code(v)
                    }
                }))
            }
            c::Texts::Coded { codes, values } => {
                let mut seen = vec![u32::MAX; values.len()];
                out.extend(codes[lo..hi].iter().zip(skip).map(|(&k, &skip)| {
                    let Some(known) = seen.get_mut(k as usize).filter(|_| !skip) else {
                        return 0;
                    };
                    if *known == u32::MAX {
                        *known = self.code(values.get(k as usize).copied());
                    }
                    *known
                }));
            }
        }
    }

    fn owned(&self) -> Vec<String> {
        self.values.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// Codes of (tier1, tier2, tier3) triples. The grid code nearly always
/// determines its village and township, so it is looked up alone and the
/// other two are only compared; a triple that disagrees gets its own code.
struct Tiers<'a> {
    by_grid: PlHashMap<&'a str, u32>,
    others: PlHashMap<[Option<&'a str>; 3], u32>,
    values: Vec<[Option<&'a str>; 3]>,
}

impl<'a> Tiers<'a> {
    fn new() -> Self {
        Tiers {
            by_grid: PlHashMap::default(),
            others: PlHashMap::default(),
            values: Vec::new(),
        }
    }

    fn code(&mut self, t: [Option<&'a str>; 3]) -> u32 {
        let next = self.values.len() as u32;
        if let Some(g) = t[2] {
            match self.by_grid.get(g) {
                Some(&i) if self.values[i as usize] == t => return i,
                Some(_) => {}
                None => {
                    self.by_grid.insert(g, next);
                    self.values.push(t);
                    return next;
                }
            }
        }
        *self.others.entry(t).or_insert_with(|| {
            self.values.push(t);
            next
        })
    }

    /// Appends the codes of rows `lo..lo + skip.len()` to `out`, as
    /// [`Tiers::code`] gives them in row order (0 for the rows to skip).
    /// When the three columns are coded, each distinct triple of their
    /// codes is looked up once.
    fn extend(&mut self, cols: &[c::Texts<'a>; 3], skip: &[bool], lo: usize, out: &mut Vec<u32>) {
        let hi = lo + skip.len();
        let [Some((c1, v1)), Some((c2, v2)), Some((c3, v3))] = cols.each_ref().map(c::Texts::coded)
        else {
            let [t1, t2, t3] = cols;
            let rows = t1.iter().zip(t2.iter()).zip(t3.iter());
            let rows = rows.skip(lo).take(hi - lo).zip(skip);
            out.extend(
                rows.map(|(((a, b), g), &skip)| if skip { 0 } else { self.code([a, b, g]) }),
            );
            return;
        };
        let text = |v: &[&'a str], k: u32| v.get(k as usize).copied();
        // By grid code: the first (township, village) seen with it; any
        // other triple through the map.
        let mut by_grid: Vec<Option<([u32; 2], u32)>> = vec![None; v3.len()];
        let mut others: PlHashMap<[u32; 3], u32> = PlHashMap::default();
        let rows = c1[lo..hi].iter().zip(&c2[lo..hi]).zip(&c3[lo..hi]);
        out.extend(rows.zip(skip).map(|(((&a, &b), &g), &skip)| {
            if skip {
                return 0;
            }
            let slot = by_grid.get_mut(g as usize);
            if let Some(Some((ab, code))) = slot.as_deref() {
                if *ab == [a, b] {
                    return *code;
                }
            }
            let code = *others
                .entry([a, b, g])
                .or_insert_with(|| self.code([text(v1, a), text(v2, b), text(v3, g)]));
            if let Some(slot @ None) = slot {
                *slot = Some(([a, b], code));
            }
            code
        }));
    }
}

/// Bits needed for codes `0..n`.
fn bits(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

/// A sortable packed key: `u64` when the fields fit, else `u128`.
trait Key: Copy + Ord + Send + Sync {
    fn from_wide(k: u128) -> Self;
    fn wide(self) -> u128;
}

impl Key for u64 {
    fn from_wide(k: u128) -> Self {
        k as u64
    }
    fn wide(self) -> u128 {
        u128::from(self)
    }
}

impl Key for u128 {
    fn from_wide(k: u128) -> Self {
        k
    }
    fn wide(self) -> u128 {
        self
    }
}

/// Field widths and shifts of a packed key, most significant first.
struct Layout {
    shifts: Vec<u32>,
    widths: Vec<u32>,
    total: u32,
}

impl Layout {
    /// `None` when the fields need more than 128 bits.
    fn new(widths: &[u32]) -> Option<Layout> {
        let total: u32 = widths.iter().sum();
        if total > 128 {
            return None;
        }
        let mut shifts = Vec::with_capacity(widths.len());
        let mut left = total;
        for w in widths {
            left -= w;
            shifts.push(left);
        }
        Some(Layout {
            shifts,
            widths: widths.to_vec(),
            total,
        })
    }

    fn pack(&self, fields: &[u64]) -> u128 {
        fields
            .iter()
            .zip(&self.shifts)
            .fold(0, |k, (f, s)| k | u128::from(*f) << s)
    }

    fn field(&self, key: u128, i: usize) -> u64 {
        let w = self.widths[i];
        if w == 0 {
            return 0;
        }
        ((key >> self.shifts[i]) & (u128::MAX >> (128 - w))) as u64
    }
}

fn too_wide() -> PolarsError {
    PolarsError::ComputeError("pre-aggregate keys need more than 128 bits".into())
}

/// The text key columns, read once for both halves of [`Keys::new`].
struct KeyTexts<'a> {
    /// Rows left out of every table: invalid cases (作废, 不予受理).
    excluded: Vec<bool>,
    tiers: [c::Texts<'a>; 3],
    kind: c::Texts<'a>,
    cat: c::Texts<'a>,
    src: c::Texts<'a>,
}

/// Per-row codes of the key columns, and their dictionaries.
struct Keys<'a> {
    /// 0 for a null day, else day - day0 + 1 (nulls sort first).
    days: Vec<u64>,
    day0: i32,
    tiers: Vec<u32>,
    kinds: Vec<u32>,
    cats: Vec<u32>,
    srcs: Vec<u32>,
    tier_dict: Tiers<'a>,
    kind_dict: Dict<'a>,
    cat_dict: Dict<'a>,
    src_dict: Dict<'a>,
    /// Rows in no table ([`KeyTexts::excluded`]): their codes are 0.
    excluded: Vec<bool>,
    /// Per row: status `resolved` (count and issue tables).
    resolved: Vec<bool>,
    /// Per row: state `suspended` now (issue table).
    suspended: Vec<bool>,
}

impl<'a> Keys<'a> {
    /// Codes of every row of `df`: two halves side by side, the second's
    /// dictionaries then folded into the first's.
    fn new(df: &'a DataFrame) -> PolarsResult<Keys<'a>> {
        let n = df.height();
        let mid = n / 2;
        // The flags of status and state, read once for every table.
        let state = c::Texts::of(df, c::STATE)?;
        let suspended = state.map(|s| s == Some(vocab::SUSPENDED_STATE));
        let resolved = c::Texts::of(df, c::STATUS)?.map(|s| s == Some(RESOLVED));
        let cols = KeyTexts {
            excluded: state.map(|s| s == Some(INVALID_STATE)),
            tiers: [
                c::Texts::of(df, c::TIER1)?,
                c::Texts::of(df, c::TIER2)?,
                c::Texts::of(df, c::TIER3)?,
            ],
            kind: c::Texts::of(df, c::KIND)?,
            cat: c::Texts::of(df, c::CATEGORY)?,
            src: c::Texts::of(df, c::SOURCE)?,
        };
        let (a, b) = rayon::join(
            || Keys::rows(df, &cols, 0, mid),
            || Keys::rows(df, &cols, mid, n),
        );
        let (mut a, b) = (a?, b?);
        let tiers: Vec<u32> = b
            .tier_dict
            .values
            .iter()
            .map(|t| a.tier_dict.code(*t))
            .collect();
        let remap = |into: &mut Dict<'a>, from: &Dict<'a>| -> Vec<u32> {
            // Code 0 (null) stays 0.
            std::iter::once(0)
                .chain(from.values.iter().map(|v| into.code(Some(v))))
                .collect()
        };
        let kinds = remap(&mut a.kind_dict, &b.kind_dict);
        let cats = remap(&mut a.cat_dict, &b.cat_dict);
        let srcs = remap(&mut a.src_dict, &b.src_dict);
        a.days.extend_from_slice(&b.days);
        // A skipped row's 0 may have no triple behind it.
        a.tiers.extend(
            b.tiers
                .iter()
                .map(|&t| tiers.get(t as usize).copied().unwrap_or(0)),
        );
        a.kinds.extend(b.kinds.iter().map(|&x| kinds[x as usize]));
        a.cats.extend(b.cats.iter().map(|&x| cats[x as usize]));
        a.srcs.extend(b.srcs.iter().map(|&x| srcs[x as usize]));
        a.excluded = cols.excluded;
        a.resolved = resolved;
        a.suspended = suspended;
        Ok(a)
    }

    /// Codes of rows `lo..hi`, with dictionaries of their own.
    fn rows(
        df: &'a DataFrame,
        cols: &KeyTexts<'a>,
        lo: usize,
        hi: usize,
    ) -> PolarsResult<Keys<'a>> {
        let day = df.column(DAY)?.i32()?;
        let day0 = day.min().unwrap_or(0);
        // The first half's vectors receive the second's rows afterwards.
        let n = if lo == 0 { df.height() } else { hi - lo };
        let mut k = Keys {
            days: Vec::with_capacity(n),
            day0,
            tiers: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            cats: Vec::with_capacity(n),
            srcs: Vec::with_capacity(n),
            tier_dict: Tiers::new(),
            kind_dict: Dict::new(),
            cat_dict: Dict::new(),
            src_dict: Dict::new(),
            excluded: Vec::new(),
            resolved: Vec::new(),
            suspended: Vec::new(),
        };
        let skip = &cols.excluded[lo..hi];
        let days = day.iter().skip(lo).take(hi - lo).zip(skip);
        k.days.extend(days.map(|(d, &skip)| match d {
            Some(d) if !skip => (i64::from(d) - i64::from(day0) + 1) as u64,
            _ => 0,
        }));
        k.tier_dict.extend(&cols.tiers, skip, lo, &mut k.tiers);
        k.kind_dict.extend(&cols.kind, skip, lo, &mut k.kinds);
        k.cat_dict.extend(&cols.cat, skip, lo, &mut k.cats);
        k.src_dict.extend(&cols.src, skip, lo, &mut k.srcs);
        Ok(k)
    }

    fn widths(&self) -> [u32; 5] {
        let max_day = self.days.iter().copied().max().unwrap_or(0) as usize;
        [
            bits(max_day + 1),
            bits(self.tier_dict.values.len()),
            bits(self.kind_dict.values.len() + 1),
            bits(self.cat_dict.values.len() + 1),
            bits(self.src_dict.values.len() + 1),
        ]
    }

    fn fields(&self, i: usize) -> [u64; 5] {
        [
            self.days[i],
            u64::from(self.tiers[i]),
            u64::from(self.kinds[i]),
            u64::from(self.cats[i]),
            u64::from(self.srcs[i]),
        ]
    }

    fn codes(&self) -> Codes {
        let own = |o: &Option<&str>| o.map(str::to_owned);
        Codes {
            tiers: self
                .tier_dict
                .values
                .iter()
                .map(|t| [own(&t[0]), own(&t[1]), own(&t[2])])
                .collect(),
            kinds: self.kind_dict.owned(),
            categories: self.cat_dict.owned(),
            sources: self.src_dict.owned(),
        }
    }

    /// The code of a kind, if any row has it.
    fn kind(&self, kind: &str) -> Option<u32> {
        self.kind_dict.codes.get(kind).copied()
    }

    fn day(&self, field: u64) -> Option<i32> {
        match field {
            0 => None,
            d => Some((i64::from(self.day0) + d as i64 - 1) as i32),
        }
    }
}

/// The five key columns being built for one table: tier, day, kind,
/// category, source (day field and dictionary code 0 = null).
struct KeyColumns {
    tiers: Vec<u32>,
    days: Vec<u64>,
    kinds: Vec<u32>,
    cats: Vec<u32>,
    srcs: Vec<u32>,
}

/// A coded column from codes where 0 is null.
fn coded(name: &str, codes: Vec<u32>) -> Column {
    if codes.contains(&0) {
        let v: UInt32Chunked = codes.into_iter().map(|x| x.checked_sub(1)).collect();
        v.with_name(name.into()).into_column()
    } else {
        let v: Vec<u32> = codes.into_iter().map(|x| x - 1).collect();
        Column::new(name.into(), v)
    }
}

impl KeyColumns {
    fn with_capacity(n: usize) -> Self {
        KeyColumns {
            tiers: Vec::with_capacity(n),
            days: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            cats: Vec::with_capacity(n),
            srcs: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, f: [u64; 5]) {
        self.days.push(f[0]);
        self.tiers.push(f[1] as u32);
        self.kinds.push(f[2] as u32);
        self.cats.push(f[3] as u32);
        self.srcs.push(f[4] as u32);
    }

    fn into_columns(self, k: &Keys) -> Vec<Column> {
        let days = if self.days.contains(&0) {
            let v: Int32Chunked = self.days.into_iter().map(|d| k.day(d)).collect();
            v.with_name(DAY.into()).into_column()
        } else {
            let v: Vec<i32> = self
                .days
                .into_iter()
                .map(|d| k.day(d).unwrap_or(0))
                .collect();
            Column::new(DAY.into(), v)
        };
        vec![
            Column::new(T.into(), self.tiers),
            days,
            coded(c::KIND, self.kinds),
            coded(c::CATEGORY, self.cats),
            coded(c::SOURCE, self.srcs),
        ]
    }
}

/// Low bits of a count-table key, its [`p::FLAGS`]: resolved (1),
/// satisfaction (2), cleared (1).
const FLAG_BITS: u32 = 4;

/// The three tables and their dictionaries, from a frame with the key
/// columns, [`DAY`], status, satisfaction, cleared, the three times and the
/// household hash.
/// The fourth is the case times of the rows the issue table leaves out
/// ([`aside_table`]), the fifth the issue table's rare times
/// ([`super::rare`]). Rows are numbered by the frame's [`c::FRAME_ROW`]
/// column when `df` has one, else by their position.
pub fn tables(df: &DataFrame) -> PolarsResult<(Codes, [DataFrame; 5])> {
    let (k, keys_s) = timed(|| Keys::new(df))?;
    // Three independent tables: whichever core is free takes the next.
    let (events, (issues, households)) = rayon::join(
        || timed(|| count_table(df, &k)),
        || {
            rayon::join(
                || timed(|| issue_table(df, &k)),
                || timed(|| household_table(df, &k)),
            )
        },
    );
    let ((events, events_s), (issues, issues_s)) = (events?, issues?);
    let (households, households_s) = households?;
    let ((issues, rare, households), compact_s) = timed(|| {
        let (issues, rare) = super::rare::split(issues)?;
        // Every row of the issue table is an issue, and every row of the
        // household table a visit, which no source filter restricts:
        // neither keeps those columns (readers take them as constants).
        let issues = super::instants::compact_table(issues)?.drop(c::KIND)?;
        Ok((issues, rare, households.drop_many([c::KIND, c::SOURCE])))
    })?;
    let (aside, aside_s) = timed(|| aside_table(df, &k))?;
    tracing::debug!(
        keys_s,
        events_s,
        issues_s,
        households_s,
        compact_s,
        aside_s,
        "tables built"
    );
    Ok((k.codes(), [events, issues, households, aside, rare]))
}

/// `f()`'s value and how long it took, in seconds (for the debug log).
fn timed<T>(f: impl FnOnce() -> PolarsResult<T>) -> PolarsResult<(T, f64)> {
    let t = std::time::Instant::now();
    let v = f()?;
    Ok((v, t.elapsed().as_secs_f64()))
}

/// Whether row `i` has a row of its own in the issue table.
fn in_issue_table(k: &Keys, issue: Option<u32>, i: usize) -> bool {
    Some(k.kinds[i]) == issue && !k.excluded[i]
}

/// The frame positions of `rows` of `df` (its [`c::FRAME_ROW`] column, or
/// the row numbers themselves).
fn frame_rows(df: &DataFrame, rows: &IdxCa) -> PolarsResult<Column> {
    let out = match df.column(c::FRAME_ROW) {
        Ok(ids) => ids
            .as_materialized_series()
            .take(rows)?
            .cast(&DataType::UInt32)?
            .into_column(),
        Err(_) => rows.cast(&DataType::UInt32)?.into_column(),
    };
    Ok(out.with_name(c::FRAME_ROW.into()))
}

/// The case times ([`super::CASE_TIMES`], µs) of every row that has one but
/// no row in the issue table (an invalid case, 作废/不予受理, or another kind
/// given one), with its [`c::FRAME_ROW`]: with the issue table's, every case
/// time of the frame, which the server's frame then does not hold itself.
fn aside_table(df: &DataFrame, k: &Keys) -> PolarsResult<DataFrame> {
    let issue = k.kind(ISSUE);
    // Rows with a case time, read chunk by chunk from the validity bits
    // (no copy of a column: the frame read from the database comes in
    // thousands of chunks).
    let mut held = vec![false; df.height()];
    let flow: Vec<Column> = super::CASE_TIMES
        .iter()
        .map(|n| df.column(n)?.cast(&DataType::Int64))
        .collect::<PolarsResult<_>>()?;
    for col in &flow {
        if col.null_count() == col.len() {
            continue;
        }
        let mut at = 0;
        for arr in col.i64()?.downcast_iter() {
            let marks = &mut held[at..at + arr.len()];
            match arr.validity() {
                None => marks.iter_mut().for_each(|m| *m = true),
                Some(valid) => {
                    for (m, ok) in marks.iter_mut().zip(valid.iter()) {
                        *m |= ok;
                    }
                }
            }
            at += arr.len();
        }
    }
    let rows: Vec<IdxSize> = (0..df.height())
        .filter(|&i| held[i] && !in_issue_table(k, issue, i))
        .map(|i| i as IdxSize)
        .collect();
    let idx = IdxCa::from_vec("".into(), rows);
    let mut cols = vec![frame_rows(df, &idx)?];
    for (f, name) in flow.iter().zip(super::CASE_TIMES_US) {
        cols.push(
            f.as_materialized_series()
                .take(&idx)?
                .with_name(name.into())
                .into_column(),
        );
    }
    DataFrame::new_infer_height(cols)
}

fn count_table(df: &DataFrame, k: &Keys) -> PolarsResult<DataFrame> {
    let w = k.widths();
    let layout = Layout::new(&[w[0], w[1], w[2], w[3], w[4], FLAG_BITS]).ok_or_else(too_wide)?;
    if layout.total <= 64 {
        count_rows::<u64>(df, k, &layout)
    } else {
        count_rows::<u128>(df, k, &layout)
    }
}

fn count_rows<K: Key>(df: &DataFrame, k: &Keys, layout: &Layout) -> PolarsResult<DataFrame> {
    let (issue, incident) = (k.kind(ISSUE), k.kind(INCIDENT));
    let cleared = df.column(c::CLEARED)?.bool()?;
    let ratings = c::Texts::of(df, c::SATISFACTION)?.map(|s| match s {
        Some(vocab::SATISFIED) => 1u64,
        Some(vocab::BASIC) => 2,
        Some(vocab::UNSATISFIED) => 3,
        _ => 0,
    });
    let mut keys: Vec<K> = Vec::with_capacity(df.height());
    let rows = k.resolved.iter().zip(&ratings).zip(cleared.iter());
    for (i, ((&st, &rating), cl)) in rows.enumerate() {
        if k.excluded[i] {
            continue;
        }
        let kind = Some(k.kinds[i]);
        let resolved = u64::from(kind == issue && st);
        let clear = u64::from(kind == incident && cl == Some(true));
        let [d, t, kk, ct, sr] = k.fields(i);
        let flags = (resolved * u64::from(flags::RESOLVED))
            | (rating << flags::RATING_SHIFT)
            | (clear * u64::from(flags::CLEARED));
        keys.push(K::from_wide(layout.pack(&[d, t, kk, ct, sr, flags])));
    }
    keys.par_sort_unstable();
    let mut cols = KeyColumns::with_capacity(keys.len());
    // u32: a group of one day, unit, kind, category, source and outcome
    // holds far fewer than four billion events, and the table is narrower.
    let (mut flags, mut counts): (Vec<u8>, Vec<u32>) = Default::default();
    let mut last: Option<u128> = None;
    for key in keys {
        let key = key.wide();
        if last != Some(key) {
            last = Some(key);
            cols.push(std::array::from_fn(|f| layout.field(key, f)));
            flags.push(layout.field(key, 5) as u8);
            counts.push(0);
        }
        if let Some(n) = counts.last_mut() {
            *n += 1;
        }
    }
    let mut out = cols.into_columns(k);
    out.push(Column::new(p::FLAGS.into(), flags));
    out.push(Column::new(p::N.into(), counts));
    DataFrame::new_infer_height(out)
}

/// One row per issue, in day order.
fn issue_table(df: &DataFrame, k: &Keys) -> PolarsResult<DataFrame> {
    let issue = k.kind(ISSUE);
    // A counting sort by day keeps the rows of a day in input order.
    let is_issue = |i: &usize| in_issue_table(k, issue, *i);
    let days = k.days.iter().copied().max().unwrap_or(0) as usize + 1;
    let mut start = vec![0usize; days + 1];
    for i in (0..df.height()).filter(is_issue) {
        start[k.days[i] as usize + 1] += 1;
    }
    for d in 0..days {
        start[d + 1] += start[d];
    }
    let mut rows: Vec<IdxSize> = vec![0; start[days]];
    for i in (0..df.height()).filter(is_issue) {
        let at = &mut start[k.days[i] as usize];
        rows[*at] = i as IdxSize;
        *at += 1;
    }
    let mut cols = KeyColumns::with_capacity(rows.len());
    for &i in &rows {
        cols.push(k.fields(i as usize));
    }
    // Each frame row's place in the table.
    let mut place = vec![NOT_PLACED; df.height()];
    for (j, &i) in rows.iter().enumerate() {
        place[i as usize] = j as IdxSize;
    }
    let idx = IdxCa::from_vec("".into(), rows);
    let mut out = cols.into_columns(k);
    // The times and the position, one column per task on both cores.
    // Each is read in frame order, chunk by chunk, and its values written
    // to their places: no copy of the column into one chunk first, and no
    // lookup of the chunk of a row.
    const CHANGED: &str = "changed";
    let mut jobs: Vec<(&str, &str)> = vec![
        (c::OCCURRED_AT, p::OCC_US),
        (c::RESOLVED_AT, p::RES_US),
        (c::DEADLINE, p::DUE_US),
        (c::UPDATED_AT, CHANGED),
    ];
    jobs.extend(c::FLOW.iter().copied().zip(p::FLOW_US));
    jobs.extend([c::LON, c::LAT].map(|n| (n, n)));
    let height = idx.len();
    let mut gathered: PlHashMap<&str, Column> = jobs
        .par_iter()
        .map(|&(from, to)| {
            let col = df.column(from)?;
            let placed = if [c::LON, c::LAT].contains(&from) {
                scatter(col.cast(&DataType::Float64)?.f64()?, &place, height).into_column()
            } else {
                scatter(col.cast(&DataType::Int64)?.i64()?, &place, height).into_column()
            };
            Ok((to, placed.with_name(to.into())))
        })
        .collect::<PolarsResult<Vec<_>>>()?
        .into_iter()
        .collect();
    // The first suspension, entered and left (the current one's start).
    let flow_us = |name: &str| {
        let at = c::FLOW.iter().position(|f| *f == name);
        at.and_then(|at| gathered.get(p::FLOW_US[at]))
            .cloned()
            .ok_or_else(|| PolarsError::ColumnNotFound(name.to_owned().into()))
    };
    let (first, resumed) = (flow_us(c::SUSPENDED_AT)?, flow_us(c::RESUMED_AT)?);
    let mut take = |name: &str| {
        gathered
            .remove(name)
            .ok_or_else(|| PolarsError::ColumnNotFound(name.to_owned().into()))
    };
    let (occurred, changed) = (take(p::OCC_US)?, take(CHANGED)?);
    out.push(occurred.clone());
    out.push(take(p::RES_US)?);
    out.push(take(p::DUE_US)?);
    // Suspended now: since it entered this suspension. Never resumed, that
    // is its first (a later step that keeps it suspended, an extension or
    // a re-sent row, moves its last change on, not its suspension); else
    // since its last change (or the report without one).
    let (first, resumed) = (first.i64()?, resumed.i64()?);
    let suspended: Int64Chunked = idx
        .into_no_null_iter()
        .zip(changed.i64()?.iter().zip(occurred.i64()?.iter()))
        .zip(first.iter().zip(resumed.iter()))
        .map(|((i, (changed, occurred)), (first, resumed))| {
            let since = match resumed {
                None => first.or(changed),
                Some(_) => changed,
            };
            k.suspended[i as usize]
                .then(|| since.or(occurred))
                .flatten()
        })
        .collect();
    out.push(suspended.with_name(p::SUSP_US.into()).into_column());
    let resolved: Vec<bool> = idx
        .into_no_null_iter()
        .map(|i| k.resolved[i as usize])
        .collect();
    out.push(Column::new(p::IS_RESOLVED.into(), resolved));
    for name in p::FLOW_US {
        out.push(take(name)?);
    }
    out.push(
        df.column(c::SOLVED)?
            .rechunk()
            .take(&idx)?
            .with_name(p::SOLVED.into()),
    );
    let rated: BooleanChunked = df.column(c::SATISFACTION)?.is_not_null();
    out.push(
        rated
            .rechunk()
            .take(&idx)?
            .with_name(p::RATED.into())
            .into_column(),
    );
    // Whether the case repeats another (counted in the volume, not as a case).
    out.push(
        df.column(c::DUPLICATE)?
            .bool()?
            .rechunk()
            .take(&idx)?
            .fill_null_with_values(false)?
            .into_column(),
    );
    // The position, for the repeat-complaint points.
    out.push(take(c::LON)?);
    out.push(take(c::LAT)?);
    // Where the issue is in the frame: the case times above are its only copy.
    out.push(frame_rows(df, &idx)?);
    DataFrame::new_infer_height(out)
}

/// A frame row that is not in the table ([`scatter`]).
const NOT_PLACED: IdxSize = IdxSize::MAX;

/// A column of `height` rows holding each value of `ca` at its row's
/// `place` (rows placed [`NOT_PLACED`] are left out): the frame read in
/// order, the table written where its rows go.
///
/// The loops write every row without a test: a row left out goes to a
/// slot past the end, dropped after (a test per row was a mispredicted
/// branch for every other row), and validity is written a byte per row,
/// then packed in one pass (setting bits at random places costs a read
/// and a write each).
pub(super) fn scatter<T: PolarsNumericType>(
    ca: &ChunkedArray<T>,
    place: &[IdxSize],
    height: usize,
) -> ChunkedArray<T> {
    let slot = |to: IdxSize| (to as usize).min(height);
    let mut values = vec![T::Native::default(); height + 1];
    // A row no value is written to is null too.
    let mut valid = vec![false; height + 1];
    let mut start = 0;
    for arr in ca.downcast_iter() {
        let places = &place[start..start + arr.len()];
        start += arr.len();
        for (&to, &v) in places.iter().zip(arr.values().iter()) {
            values[slot(to)] = v;
        }
        match arr.validity() {
            None => places.iter().for_each(|&to| valid[slot(to)] = true),
            Some(known) => places
                .iter()
                .zip(known.iter())
                .for_each(|(&to, ok)| valid[slot(to)] = ok),
        }
    }
    values.truncate(height);
    // No bitmap when every row has a value, as polars leaves it.
    valid.truncate(height);
    let valid: polars_arrow::bitmap::Bitmap = valid.into_iter().collect();
    let valid = (valid.unset_bits() > 0).then_some(valid);
    ChunkedArray::from_vec_validity(ca.name().clone(), values, valid)
}

/// A household's 64-bit key: the first 16 hex digits of its keyed hash (a
/// uniformly random value), or the leading bytes of a SHA-256 of the value
/// when it is not hex.
pub fn household_key(hash: &str) -> u64 {
    hash.get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_else(|| {
            let d = Sha256::digest(hash.as_bytes());
            u64::from_be_bytes(d[..8].try_into().unwrap_or_default())
        })
}

/// Distinct (keys, household) of visits: (packed keys, household key)
/// pairs sorted and deduplicated.
fn household_table(df: &DataFrame, k: &Keys) -> PolarsResult<DataFrame> {
    let hash = c::Texts::of(df, c::HOUSEHOLD_HASH)?;
    let visit = k.kind(VISIT);
    let rows: Vec<(usize, u64)> = hash
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(k.kinds[i]) == visit && !k.excluded[i])
        .filter_map(|(i, h)| Some((i, household_key(h?))))
        .collect();
    let layout = Layout::new(&k.widths()).ok_or_else(too_wide)?;
    if layout.total <= 64 {
        household_rows::<u64>(k, &layout, &rows)
    } else {
        household_rows::<u128>(k, &layout, &rows)
    }
}

fn household_rows<K: Key>(
    k: &Keys,
    layout: &Layout,
    rows: &[(usize, u64)],
) -> PolarsResult<DataFrame> {
    let mut keys: Vec<(K, u64)> = rows
        .iter()
        .map(|&(i, h)| (K::from_wide(layout.pack(&k.fields(i))), h))
        .collect();
    keys.par_sort_unstable();
    keys.dedup();
    let mut cols = KeyColumns::with_capacity(keys.len());
    let mut hh = Vec::with_capacity(keys.len());
    for (key, h) in keys {
        let key = key.wide();
        cols.push(std::array::from_fn(|f| layout.field(key, f)));
        hh.push(h);
    }
    let mut out = cols.into_columns(k);
    out.push(Column::new(p::HOUSEHOLD.into(), hh));
    DataFrame::new_infer_height(out)
}
