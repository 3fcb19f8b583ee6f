//! The unit hierarchy: county (level 0, optional), townships (1), villages (2), grids (3).

use std::collections::HashMap;

use geo::MultiPolygon;

/// Tier of a unit. Level 0 is the optional county root.
pub type Level = u8;

/// Deepest tier: the grid (网格).
pub const GRID_LEVEL: Level = 3;

/// One administrative unit with its geometry and attributes.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Unique code (e.g. 15 digits for a grid in the national layout).
    pub code: String,
    /// Display name, usually Chinese.
    pub name: String,
    /// 0 county, 1 township/street, 2 village/community, 3 grid.
    pub level: Level,
    /// Index of the parent unit in [`GridModel::units`].
    pub parent: Option<usize>,
    /// Indices of the children, sorted by code.
    pub children: Vec<usize>,
    /// Households (户数), when the file has them.
    pub households: Option<u64>,
    /// Residents, when the file has them.
    pub population: Option<u64>,
    /// Grid chief (网格长), when the file has one.
    pub chief: Option<String>,
    /// Polygon(s) in WGS84 lon/lat.
    pub geometry: MultiPolygon<f64>,
    /// Geodesic area in km² (see [`crate::grid::area`]).
    pub area_km2: f64,
    /// Position of the feature in the input file (0-based), for messages.
    pub feature_index: usize,
}

/// A loaded, validated county: every unit and the hierarchy between them.
///
/// Units are stored sorted by (level, code), so index order is deterministic
/// whatever the order of the input file.
#[derive(Debug, Clone, Default)]
pub struct GridModel {
    pub(crate) units: Vec<Unit>,
    pub(crate) by_code: HashMap<String, usize>,
}

impl GridModel {
    /// Builds the model from units already checked for duplicate codes and
    /// parent links; sorts them and wires parents and children.
    pub(crate) fn from_units(mut units: Vec<Unit>, parents: Vec<Option<String>>) -> Self {
        let mut order: Vec<usize> = (0..units.len()).collect();
        order.sort_by(|&a, &b| {
            (units[a].level, &units[a].code).cmp(&(units[b].level, &units[b].code))
        });
        let mut sorted_parents = Vec::with_capacity(units.len());
        let mut taken: Vec<Option<Unit>> = units.drain(..).map(Some).collect();
        let mut sorted = Vec::with_capacity(taken.len());
        for &i in &order {
            if let Some(u) = taken[i].take() {
                sorted.push(u);
                sorted_parents.push(parents[i].clone());
            }
        }
        let by_code: HashMap<String, usize> = sorted
            .iter()
            .enumerate()
            .map(|(i, u)| (u.code.clone(), i))
            .collect();
        for (i, p) in sorted_parents.iter().enumerate() {
            if let Some(p) = p.as_ref().and_then(|p| by_code.get(p)) {
                sorted[i].parent = Some(*p);
            }
        }
        for i in 0..sorted.len() {
            if let Some(p) = sorted[i].parent {
                sorted[p].children.push(i);
            }
        }
        GridModel {
            units: sorted,
            by_code,
        }
    }

    /// All units, sorted by (level, code).
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// The unit at an index.
    pub fn unit(&self, index: usize) -> &Unit {
        &self.units[index]
    }

    /// Index of the unit with this code.
    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.by_code.get(code).copied()
    }

    /// The unit with this code.
    pub fn get(&self, code: &str) -> Option<&Unit> {
        self.index_of(code).map(|i| &self.units[i])
    }

    /// Indices of the units of one level, in code order.
    pub fn level(&self, level: Level) -> impl Iterator<Item = usize> + '_ {
        self.units
            .iter()
            .enumerate()
            .filter(move |(_, u)| u.level == level)
            .map(|(i, _)| i)
    }

    /// Number of units of one level.
    pub fn count(&self, level: Level) -> usize {
        self.level(level).count()
    }

    /// Ancestors of a unit, nearest first (parent, grandparent, ...).
    pub fn ancestors(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.units[index].parent, move |&p| self.units[p].parent)
    }

    /// The ancestor (or the unit itself) at a given level.
    pub fn ancestor_at(&self, index: usize, level: Level) -> Option<usize> {
        std::iter::once(index)
            .chain(self.ancestors(index))
            .find(|&i| self.units[i].level == level)
    }

    /// Is `index` the unit `parent` or one of its descendants (or is there
    /// no parent to be under)?
    pub fn is_under(&self, index: usize, parent: Option<usize>) -> bool {
        parent.is_none_or(|p| index == p || self.ancestors(index).any(|a| a == p))
    }

    /// The bounding box of the units `indices`, none for none.
    pub fn extent(&self, indices: impl IntoIterator<Item = usize>) -> Option<geo::Rect<f64>> {
        use geo::BoundingRect;
        indices
            .into_iter()
            .filter_map(|i| self.units[i].geometry.bounding_rect())
            .reduce(|a, r| {
                geo::Rect::new(
                    (a.min().x.min(r.min().x), a.min().y.min(r.min().y)),
                    (a.max().x.max(r.max().x), a.max().y.max(r.max().y)),
                )
            })
    }

    /// All descendants of a unit (not the unit itself), depth first.
    pub fn descendants(&self, index: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.units[index].children.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            out.push(i);
            stack.extend(self.units[i].children.iter().rev().copied());
        }
        out
    }

    /// Top-level units: those without a parent (the county root, or the townships).
    pub fn roots(&self) -> impl Iterator<Item = usize> + '_ {
        self.units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.parent.is_none())
            .map(|(i, _)| i)
    }

    /// Households of a unit: its own figure, else the sum over its children
    /// when every child has one; `None` means "no data", never zero.
    pub fn households(&self, index: usize) -> Option<u64> {
        let u = &self.units[index];
        if u.households.is_some() || u.children.is_empty() {
            return u.households;
        }
        u.children.iter().map(|&c| self.households(c)).sum()
    }
}
