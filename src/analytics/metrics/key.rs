//! A tier's unit key with each model unit's position in it, the rows the
//! loops fill by that position, and the kind codes they tell apart.

use super::*;

/// A tier's [`UnitKey`] with each model unit's position in it: the loops
/// fill their sums by key position, and a metric is read by model index,
/// so a unit's code is touched only at the edges.
pub(super) struct TierKey {
    pub(super) key: UnitKey,
    /// Key position by model index (None: no event, or another tier).
    pub(super) at: Vec<Option<u32>>,
    /// What the key was made of, beside the tables: results computed with
    /// it are kept under it ([`super::dense_by`]).
    pub(super) ident: KeyIdent,
}

/// A [`TierKey`]'s level, root unit, grid model (address and size) and,
/// when restricted ([`TierKey::only`]), the model units it keeps.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct KeyIdent {
    level: u8,
    root: String,
    model: (usize, usize),
    only: Option<Vec<usize>>,
}

impl KeyIdent {
    pub(super) fn level(&self) -> u8 {
        self.level
    }
}

impl std::ops::Deref for TierKey {
    type Target = UnitKey;
    fn deref(&self) -> &UnitKey {
        &self.key
    }
}

impl TierKey {
    pub(super) fn of(
        pre: &PreAgg,
        gm: &GridModel,
        level: u8,
        root: &str,
    ) -> Result<TierKey, AnalyticsError> {
        let key = pre.unit_key(level, root)?;
        let mut at = vec![None; gm.units.len()];
        for (p, code) in key.names.iter().enumerate() {
            if let Some(i) = gm.index_of(code) {
                at[i] = Some(p as u32);
            }
        }
        let ident = KeyIdent {
            level,
            root: root.to_owned(),
            model: (gm as *const GridModel as usize, gm.units.len()),
            only: None,
        };
        Ok(TierKey { key, at, ident })
    }

    /// This key with the rows of the model units `indices` alone: every
    /// other place maps to no unit, and positions stay as they are.
    pub(super) fn only(&self, indices: &[usize]) -> TierKey {
        let mut wanted = vec![false; self.key.names.len()];
        for p in indices
            .iter()
            .filter_map(|&i| self.at.get(i).copied().flatten())
        {
            wanted[p as usize] = true;
        }
        let map: Vec<Option<u32>> = self
            .key
            .map
            .iter()
            .map(|p| p.filter(|&p| wanted[p as usize]))
            .collect();
        TierKey {
            key: UnitKey {
                expr: lit(Series::new("".into(), map.clone())).gather(col(T), false),
                map,
                names: self.key.names.clone(),
            },
            at: self.at.clone(),
            ident: KeyIdent {
                only: Some(indices.to_vec()),
                ..self.ident.clone()
            },
        }
    }

    /// What the model's unit `index` has in `d` (nothing: the default).
    pub(super) fn get<'a>(&self, d: &'a Dense, index: usize) -> Option<&'a Ingredients> {
        let p = self.at.get(index).copied().flatten()? as usize;
        d.touched
            .get(p)
            .copied()
            .unwrap_or(false)
            .then(|| &d.rows[p])
    }
}

/// The key of `level` on the tables of `pre` (level 0: the county root).
///
/// Kept per (pre-aggregate generation, level, root, model): a tier's key
/// maps every place code to its unit, 50,000 names at the grids, and was
/// an eighth of an uncached map request when made each time. A grid model
/// is never changed in place (a new grid version is a new model).
pub(super) fn unit_key(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
) -> Result<std::sync::Arc<TierKey>, AnalyticsError> {
    static KEYS: Recent<(u64, u8, String, usize, usize), std::sync::Arc<TierKey>> = Recent::new(16);
    let root = gm
        .level(0)
        .next()
        .map(|i| gm.unit(i).code.clone())
        .unwrap_or_default();
    let model = (gm as *const GridModel as usize, gm.units.len());
    KEYS.get_or(
        (pre.generation(), level, root.clone(), model.0, model.1),
        || TierKey::of(pre, gm, level, &root).map(std::sync::Arc::new),
    )
}

/// Ingredients by unit-key position, as the loops fill them: merged part
/// by part and read by position, without hashing or copying a code (the
/// map of codes it replaced was a third of an uncached map request).
#[derive(Default)]
pub(super) struct Dense {
    pub(super) rows: Vec<Ingredients>,
    /// Whether a part wrote the row (the unit had something in the window).
    pub(super) touched: Vec<bool>,
}

impl Dense {
    pub(super) fn new(n: usize) -> Dense {
        Dense {
            rows: vec![Ingredients::default(); n],
            touched: vec![false; n],
        }
    }

    /// Row `i`, marked as written.
    pub(super) fn at(&mut self, i: usize) -> &mut Ingredients {
        self.touched[i] = true;
        &mut self.rows[i]
    }

    /// The written rows with their key positions.
    pub(super) fn written(&self) -> impl Iterator<Item = (usize, &Ingredients)> {
        self.rows
            .iter()
            .enumerate()
            .filter(|(i, _)| self.touched[*i])
    }
}

/// Codes of the kinds the counts tell apart, and of the discovering sources.
pub(super) struct KindCodes {
    pub(super) issue: Option<u32>,
    pub(super) incident: Option<u32>,
    pub(super) visit: Option<u32>,
    pub(super) discovered: Vec<u32>,
}

impl KindCodes {
    pub(super) fn of(pre: &PreAgg) -> KindCodes {
        KindCodes {
            issue: pre.kind_code(ISSUE),
            incident: pre.kind_code(INCIDENT),
            visit: pre.kind_code(VISIT),
            discovered: pre.source_codes(&DISCOVERED_SOURCES),
        }
    }
}
