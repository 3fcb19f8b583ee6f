//! What a caller may see, decided once per request from the role and the
//! scope codes, and asked by every handler before it answers.
//!
//! Two levels of sight per unit: `full` (the unit and any breakdown under it:
//! children, league tables, issue lists) and `total` (the unit's own figures
//! only). Admins see everything fully; leaders and analysts see their
//! subtrees fully; chiefs see their grids fully and the ancestors of their
//! grids as totals, never their siblings. A unit without either answers 404,
//! exactly as an unknown code does, so a code's existence does not leak.

use super::error::ApiError;
use crate::grid::GridModel;
use crate::store::{Role, User};

/// Event points (rows, positions, their density and clusters) are for
/// admins and analysts; every other role sees counts per unit only.
/// `Err(Forbidden(refusal))` for the others.
pub fn sees_points(user: &User, refusal: &str) -> Result<(), ApiError> {
    if matches!(user.role, Role::Admin | Role::Analyst) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(refusal.into()))
    }
}

/// Per-unit visibility for one caller.
pub struct Scope {
    all: bool,
    full: Vec<bool>,
    total: Vec<bool>,
    /// Cache-key part: the same key means the same visibility.
    pub key: String,
}

impl Scope {
    /// The scope of `user` over `model`; codes not in the model are ignored.
    pub fn of(user: &User, model: &GridModel) -> Scope {
        let n = model.units().len();
        if user.role == Role::Admin {
            return Scope {
                all: true,
                full: Vec::new(),
                total: Vec::new(),
                key: "*".into(),
            };
        }
        let mut full = vec![false; n];
        let mut total = vec![false; n];
        for code in &user.scopes {
            let Some(i) = model.index_of(code) else {
                continue;
            };
            full[i] = true;
            for d in model.descendants(i) {
                full[d] = true;
            }
            // Only chiefs get their ancestors' totals: a grid alone has no
            // context, while a leader's subtree is its own context.
            if user.role == Role::Chief {
                for a in model.ancestors(i) {
                    total[a] = true;
                }
            }
        }
        for i in 0..n {
            total[i] |= full[i];
        }
        let mut codes = user.scopes.clone();
        codes.sort();
        let key = format!("{}:{}", user.role.as_str(), codes.join(","));
        Scope {
            all: false,
            full,
            total,
            key,
        }
    }

    /// Everything visible (an admin).
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// May see the unit and breakdowns under it.
    pub fn full(&self, i: usize) -> bool {
        self.all || self.full.get(i).copied().unwrap_or(false)
    }

    /// The units of tier `level` under `parent` (anywhere when `None`)
    /// that this scope sees in full: what an analysis over points or a
    /// tier covers for the caller.
    pub fn full_units(&self, model: &GridModel, level: u8, parent: Option<usize>) -> Vec<usize> {
        model
            .level(level)
            .filter(|&i| self.full(i) && model.is_under(i, parent))
            .collect()
    }

    /// May see the unit's own totals.
    pub fn total(&self, i: usize) -> bool {
        self.all || self.total.get(i).copied().unwrap_or(false)
    }

    /// Index of a unit the caller may see at least as a total; else 404.
    pub fn unit(&self, model: &GridModel, code: &str) -> Result<usize, ApiError> {
        model
            .index_of(code)
            .filter(|&i| self.total(i))
            .ok_or_else(|| ApiError::no_unit(code))
    }

    /// The unit a query narrows to (`parent=`), when one is given; a
    /// unit out of scope is 404 as in [`Scope::unit`].
    pub fn parent(&self, model: &GridModel, code: Option<&str>) -> Result<Option<usize>, ApiError> {
        code.map(|c| self.unit(model, c)).transpose()
    }

    /// Index of a unit the caller may see fully (breakdowns); else 404.
    pub fn unit_full(&self, model: &GridModel, code: &str) -> Result<usize, ApiError> {
        model
            .index_of(code)
            .filter(|&i| self.full(i))
            .ok_or_else(|| ApiError::no_unit(code))
    }

    /// The units visible fully whose parent is not, when not everything
    /// is, as (tier, code): restricts row-level lists (issues) under a unit
    /// seen as a total to what lies in them, cases in a village but in no
    /// grid (`partial`) included.
    pub fn roots(&self, model: &GridModel) -> Option<Vec<(u8, String)>> {
        if self.all {
            return None;
        }
        Some(
            (0..model.units().len())
                .filter(|&i| self.full(i) && !model.unit(i).parent.is_some_and(|p| self.full(p)))
                .map(|i| (model.unit(i).level, model.unit(i).code.clone()))
                .collect(),
        )
    }

    /// The scope `user` may write in, or 403 for a role that does not
    /// write: admins write anywhere (also outside every unit), leaders in
    /// their units, chiefs in their own grids when the deployment lets
    /// them (`[auth] chief_writes`), analysts nowhere.
    pub fn writer(user: &User, model: &GridModel, chief_writes: bool) -> Result<Scope, ApiError> {
        match user.role {
            Role::Analyst => Err(ApiError::Forbidden(
                "analysts read and export; they do not send events or updates".into(),
            )),
            Role::Chief if !chief_writes => Err(ApiError::Forbidden(
                "this deployment does not take events or updates from grid chiefs".into(),
            )),
            _ => Ok(Scope::of(user, model)),
        }
    }

    /// Whether a writer with this scope may store a case located in these
    /// tier codes (or change one stored there): the deepest unit must be
    /// seen fully, so a position outside every unit is for admins only.
    pub fn writes(&self, model: &GridModel, tiers: [Option<&str>; 3]) -> bool {
        self.event(model, tiers)
    }

    /// Whether an event in these tier codes is visible row by row.
    pub fn event(&self, model: &GridModel, tiers: [Option<&str>; 3]) -> bool {
        if self.all {
            return true;
        }
        tiers
            .iter()
            .rev()
            .flatten()
            .next()
            .and_then(|c| model.index_of(c))
            .is_some_and(|i| self.full(i))
    }
}

pub use crate::live::NOT_YOURS;

impl crate::live::WriteScope for Scope {
    fn is_all(&self) -> bool {
        self.all
    }
    fn covers(&self, model: &GridModel, tiers: [Option<&str>; 3]) -> bool {
        self.writes(model, tiers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::parse_geojson;

    fn model() -> GridModel {
        let f = |code: &str, level: u8, parent: Option<&str>, x: f64| {
            let p = parent.map_or("null".to_owned(), |p| format!("{p:?}"));
            format!(
                r#"{{"type":"Feature","properties":{{"code":"{code}","name":"{code}","level":{level},"parent":{p}}},
                "geometry":{{"type":"Polygon","coordinates":[[[{x},0],[{x1},0],[{x1},1],[{x},1],[{x},0]]]}}}}"#,
                x1 = x + 1.0
            )
        };
        let feats = [
            f("T", 1, None, 0.0),
            f("V", 2, Some("T"), 0.0),
            f("G1", 3, Some("V"), 0.0),
            f("G2", 3, Some("V"), 0.0),
        ];
        let text = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            feats.join(",")
        );
        parse_geojson(&text, Default::default()).unwrap().0
    }

    #[test]
    fn a_chief_sees_the_parents_of_a_grid_as_totals_and_never_its_sibling() {
        let m = model();
        let chief = User {
            id: 1,
            name: "c".into(),
            role: Role::Chief,
            scopes: vec!["G1".into()],
            system: String::new(),
        };
        let s = Scope::of(&chief, &m);
        let i = |c| m.index_of(c).unwrap();
        assert!(s.full(i("G1")) && !s.total(i("G2")));
        assert!(s.total(i("V")) && !s.full(i("V")));
        assert!(s.total(i("T")) && !s.full(i("T")));
        assert!(matches!(s.unit(&m, "G2"), Err(ApiError::NotFound(_))));
        assert_eq!(s.roots(&m), Some(vec![(3, "G1".to_owned())]));
        // A village's leader: the village is the root, so a case in it but
        // in no grid is listed under the township too.
        let leader = User {
            role: Role::Leader,
            scopes: vec!["V".into()],
            ..chief
        };
        let s = Scope::of(&leader, &m);
        assert_eq!(s.roots(&m), Some(vec![(2, "V".to_owned())]));
    }
}
