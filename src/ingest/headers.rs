//! Header names (CSV and Parquet columns, JSON keys) to contract columns.
//!
//! A name gives a column by its contract name or a Chinese alias
//! ([`super::column_of`], [`super::update_column_of`]). When two names give
//! the same column (`lat` and `纬度`, or `时间` and `发生时间`), which one the
//! file meant cannot be guessed: the input is refused with both names, never
//! read from whichever comes first.

/// Two names that give one contract column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    /// The contract column's name.
    pub column: &'static str,
    pub first: String,
    pub second: String,
}

impl std::fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.second {
            write!(f, "two columns are named `{}`", self.first)?;
        } else {
            write!(
                f,
                "the columns `{}` and `{}` both give `{}`",
                self.first, self.second, self.column
            )?;
        }
        f.write_str(": keep one of them")
    }
}

/// For each of the `N` contract columns (named by `fields`), the position
/// among `names` of the one that gives it by `column_of`; names that give
/// none are left out.
pub fn map_names<'n, const N: usize>(
    names: impl IntoIterator<Item = &'n str>,
    column_of: impl Fn(&str) -> Option<usize>,
    fields: &[&'static str; N],
) -> Result<[Option<usize>; N], Ambiguous> {
    // Each column's position and name, so a second name for it can be
    // reported with the first without keeping every name (a JSON row's
    // keys are mapped once per row).
    let mut map: [Option<(usize, &str)>; N] = [None; N];
    for (i, name) in names.into_iter().enumerate() {
        let Some(c) = column_of(name).filter(|&c| c < N) else {
            continue;
        };
        if let Some((_, first)) = map[c] {
            return Err(Ambiguous {
                column: fields[c],
                first: first.trim().trim_start_matches('\u{feff}').to_owned(),
                second: name.trim().to_owned(),
            });
        }
        map[c] = Some((i, name));
    }
    Ok(map.map(|m| m.map(|(i, _)| i)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{column_of, update_column_of, FIELDS, UPDATE_FIELDS};

    #[test]
    fn a_name_and_its_alias_together_are_refused_with_both_names() {
        let e = map_names(["id", "lat", "纬度"], column_of, &FIELDS).unwrap_err();
        assert_eq!(
            (e.column, e.first.as_str(), e.second.as_str()),
            ("lat", "lat", "纬度")
        );
        assert_eq!(
            e.to_string(),
            "the columns `lat` and `纬度` both give `lat`: keep one of them"
        );
        let e = map_names(["\u{feff}LON", "lon"], column_of, &FIELDS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the columns `LON` and `lon` both give `lon`: keep one of them"
        );
        let e = map_names(["issue_id", "at", "at"], update_column_of, &UPDATE_FIELDS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "two columns are named `at`: keep one of them"
        );
    }

    #[test]
    fn every_name_is_placed_and_unknown_names_are_left_out() {
        let map = map_names(["备注", "纬度", "id", "extra"], column_of, &FIELDS).unwrap();
        assert_eq!(map[crate::ingest::Col::Lat as usize], Some(1));
        assert_eq!(map[crate::ingest::Col::Id as usize], Some(2));
        assert_eq!(map.iter().flatten().count(), 2);
    }
}
