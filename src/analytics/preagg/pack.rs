//! The count and household tables by sorting packed integer keys.
//!
//! A polars group-by over seven string keys hashes every key of every row,
//! and at county density (5,000 grids, two years, ten million events) almost
//! every group holds one event, so that work buys nothing. Here each string
//! column is replaced by a small dictionary code, the codes of a row are
//! packed into one `u64` with the local day in the high bits, and a parallel
//! unstable sort brings equal keys together already in day order. The result
//! holds the same rows as the group-by of [`super::events_lazy`] and the
//! `unique` of [`super::households_lazy`] (in day order; rows of one day in
//! no particular order, as there). When the codes need more than 64 bits,
//! the callers fall back to polars.

use polars::prelude::*;
use rayon::slice::ParallelSliceMut;

use super::{col_names as p, INCIDENT, ISSUE, RESOLVED, VISIT};
use crate::analytics::filter::DAY;
use crate::columns as c;

/// Codes of optional strings, 0 for null, in first-seen order.
struct Dict<'a> {
    codes: PlHashMap<&'a str, u32>,
    values: Vec<Option<&'a str>>,
}

impl<'a> Dict<'a> {
    fn new() -> Self {
        Dict {
            codes: PlHashMap::default(),
            values: vec![None],
        }
    }

    fn code(&mut self, v: Option<&'a str>) -> u32 {
        let Some(s) = v else { return 0 };
        let next = self.values.len() as u32;
        *self.codes.entry(s).or_insert_with(|| {
            self.values.push(Some(s));
            next
        })
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
}

/// Bits needed for codes `0..n`.
fn bits(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

/// Field widths and shifts of a packed key, most significant first.
struct Layout {
    shifts: Vec<u32>,
    widths: Vec<u32>,
}

impl Layout {
    /// `None` when the fields need more than 64 bits.
    fn new(widths: &[u32]) -> Option<Layout> {
        let total: u32 = widths.iter().sum();
        if total > 64 {
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
        })
    }

    fn pack(&self, fields: &[u64]) -> u64 {
        fields
            .iter()
            .zip(&self.shifts)
            .fold(0, |k, (f, s)| k | f.checked_shl(*s).unwrap_or(0))
    }

    fn field(&self, key: u64, i: usize) -> u64 {
        let w = self.widths[i];
        if w == 0 {
            return 0;
        }
        (key >> self.shifts[i]) & (u64::MAX >> (64 - w))
    }
}

/// The coded key columns shared by both tables.
struct Keys<'a> {
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
}

fn strs<'a>(df: &'a DataFrame, name: &str) -> PolarsResult<&'a StringChunked> {
    df.column(name)?.str()
}

impl<'a> Keys<'a> {
    /// Codes of the rows of `df` where `keep` holds.
    fn new(df: &'a DataFrame, keep: &[bool]) -> PolarsResult<Keys<'a>> {
        let day = df.column(DAY)?.i32()?;
        let day0 = day.min().unwrap_or(0);
        let (t1, t2, t3) = (
            strs(df, c::TIER1)?,
            strs(df, c::TIER2)?,
            strs(df, c::TIER3)?,
        );
        let (kind, cat, src) = (
            strs(df, c::KIND)?,
            strs(df, c::CATEGORY)?,
            strs(df, c::SOURCE)?,
        );
        let mut k = Keys {
            days: Vec::new(),
            day0,
            tiers: Vec::new(),
            kinds: Vec::new(),
            cats: Vec::new(),
            srcs: Vec::new(),
            tier_dict: Tiers::new(),
            kind_dict: Dict::new(),
            cat_dict: Dict::new(),
            src_dict: Dict::new(),
        };
        let rows = t1.iter().zip(t2.iter()).zip(t3.iter()).zip(day.iter());
        let rows = rows
            .zip(kind.iter())
            .zip(cat.iter())
            .zip(src.iter())
            .zip(keep);
        for (((((((a, b), g), d), kd), ct), sr), &keep) in rows {
            if !keep {
                continue;
            }
            // Null day = 0, so nulls sort first as in polars' default sort.
            k.days
                .push(d.map_or(0, |d| (i64::from(d) - i64::from(day0) + 1) as u64));
            k.tiers.push(k.tier_dict.code([a, b, g]));
            k.kinds.push(k.kind_dict.code(kd));
            k.cats.push(k.cat_dict.code(ct));
            k.srcs.push(k.src_dict.code(sr));
        }
        Ok(k)
    }

    fn widths(&self) -> [u32; 5] {
        let max_day = self.days.iter().copied().max().unwrap_or(0) as usize;
        [
            bits(max_day + 1),
            bits(self.tier_dict.values.len()),
            bits(self.kind_dict.values.len()),
            bits(self.cat_dict.values.len()),
            bits(self.src_dict.values.len()),
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

    /// The seven key columns of the unpacked rows. Strings are gathered
    /// from the small dictionaries (views into their buffers, no copies).
    fn columns(&self, layout: &Layout, keys: &[u64]) -> PolarsResult<Vec<Column>> {
        let codes = |f: usize| -> IdxCa {
            IdxCa::from_vec(
                "".into(),
                keys.iter()
                    .map(|&k| layout.field(k, f) as IdxSize)
                    .collect(),
            )
        };
        let tiers = codes(1);
        let tier = |i: usize, name: &str| -> PolarsResult<Column> {
            let values: Vec<Option<&str>> = self.tier_dict.values.iter().map(|t| t[i]).collect();
            let dict = StringChunked::from_slice_options(name.into(), &values);
            Ok(dict.take(&tiers)?.into_column())
        };
        let dict = |d: &Dict<'a>, f: usize, name: &str| -> PolarsResult<Column> {
            let dict = StringChunked::from_slice_options(name.into(), &d.values);
            Ok(dict.take(&codes(f))?.into_column())
        };
        let days: Int32Chunked = keys
            .iter()
            .map(|&k| match layout.field(k, 0) {
                0 => None,
                d => Some((i64::from(self.day0) + d as i64 - 1) as i32),
            })
            .collect();
        Ok(vec![
            tier(0, c::TIER1)?,
            tier(1, c::TIER2)?,
            tier(2, c::TIER3)?,
            days.with_name(DAY.into()).into_column(),
            dict(&self.kind_dict, 2, c::KIND)?,
            dict(&self.cat_dict, 3, c::CATEGORY)?,
            dict(&self.src_dict, 4, c::SOURCE)?,
        ])
    }
}

/// Low bits of a count-table key: resolved (1), satisfaction (2), cleared (1).
const FLAG_BITS: u32 = 4;

/// The count table of [`super::events_lazy`] from a frame with the key
/// columns, [`DAY`], status, satisfaction and cleared; `None` when the keys
/// do not fit 64 bits.
pub fn count_table(df: &DataFrame) -> PolarsResult<Option<DataFrame>> {
    let keep = vec![true; df.height()];
    let k = Keys::new(df, &keep)?;
    let w = k.widths();
    let Some(layout) = Layout::new(&[w[0], w[1], w[2], w[3], w[4], FLAG_BITS]) else {
        return Ok(None);
    };
    let (kind, status) = (strs(df, c::KIND)?, strs(df, c::STATUS)?);
    let (sat, cleared) = (strs(df, c::SATISFACTION)?, df.column(c::CLEARED)?.bool()?);
    let mut keys: Vec<u64> = Vec::with_capacity(df.height());
    let rows = kind
        .iter()
        .zip(status.iter())
        .zip(sat.iter())
        .zip(cleared.iter());
    for (i, (((kd, st), sa), cl)) in rows.enumerate() {
        let resolved = u64::from(kd == Some(ISSUE) && st == Some(RESOLVED));
        let rating = match sa {
            Some("satisfied") => 1,
            Some("basic") => 2,
            Some("unsatisfied") => 3,
            _ => 0,
        };
        let clear = u64::from(kd == Some(INCIDENT) && cl == Some(true));
        let [d, t, kk, ct, sr] = k.fields(i);
        keys.push(layout.pack(&[d, t, kk, ct, sr, resolved | rating << 1 | clear << 3]));
    }
    keys.par_sort_unstable();
    let mut groups: Vec<u64> = Vec::new();
    let mut counts: [Vec<i64>; 6] = Default::default();
    for &key in &keys {
        let g = key >> FLAG_BITS;
        if groups.last() != Some(&g) {
            groups.push(g);
            for c in counts.iter_mut() {
                c.push(0);
            }
        }
        let f = key & 0b1111;
        let rating = (f >> 1) & 0b11;
        let add = [
            1,
            f & 1,
            u64::from(rating == 1),
            u64::from(rating == 2),
            u64::from(rating == 3),
            f >> 3,
        ];
        for (c, a) in counts.iter_mut().zip(add) {
            if let Some(last) = c.last_mut() {
                *last += a as i64;
            }
        }
    }
    // Unpack with the flag field cleared.
    let shifted: Vec<u64> = groups.iter().map(|g| g << FLAG_BITS).collect();
    let mut cols = k.columns(&layout, &shifted)?;
    let names = [
        p::N,
        p::RESOLVED,
        p::SATISFIED,
        p::BASIC,
        p::UNSATISFIED,
        p::CLEARED,
    ];
    for (name, v) in names.into_iter().zip(counts) {
        cols.push(Column::new(name.into(), v));
    }
    Ok(Some(DataFrame::new_infer_height(cols)?))
}

/// The household table of [`super::households_lazy`] from a frame with the
/// key columns, [`DAY`] and the household hash; `None` when the keys do not
/// fit 64 bits.
pub fn household_table(df: &DataFrame) -> PolarsResult<Option<DataFrame>> {
    let (kind, hash) = (strs(df, c::KIND)?, strs(df, c::HOUSEHOLD_HASH)?);
    let keep: Vec<bool> = kind
        .iter()
        .zip(hash.iter())
        .map(|(k, h)| k == Some(VISIT) && h.is_some())
        .collect();
    let k = Keys::new(df, &keep)?;
    let mut hashes = Dict::new();
    let codes: Vec<u32> = hash
        .iter()
        .zip(&keep)
        .filter(|(_, &keep)| keep)
        .map(|(h, _)| hashes.code(h))
        .collect();
    let w = k.widths();
    let Some(layout) = Layout::new(&[w[0], w[1], w[2], w[3], w[4], bits(hashes.values.len())])
    else {
        return Ok(None);
    };
    let mut keys: Vec<u64> = (0..codes.len())
        .map(|i| {
            let [d, t, kk, ct, sr] = k.fields(i);
            layout.pack(&[d, t, kk, ct, sr, u64::from(codes[i])])
        })
        .collect();
    keys.par_sort_unstable();
    keys.dedup();
    let mut cols = k.columns(&layout, &keys)?;
    let codes = IdxCa::from_vec(
        "".into(),
        keys.iter()
            .map(|&key| layout.field(key, 5) as IdxSize)
            .collect(),
    );
    let dict = StringChunked::from_slice_options(c::HOUSEHOLD_HASH.into(), &hashes.values);
    cols.push(dict.take(&codes)?.into_column());
    Ok(Some(DataFrame::new_infer_height(cols)?))
}
