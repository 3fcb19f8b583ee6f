//! Header names (CSV and Parquet columns, JSON keys) to contract columns.
//!
//! A name gives a column by its contract name or a Chinese alias
//! ([`super::column_of`], [`super::update_column_of`]). When two names give
//! the same column (`lat` and `纬度`, or `时间` and `发生时间`), which one the
//! file meant cannot be guessed: the input is refused with both names, never
//! read from whichever comes first.

/// Why a header may lack a column it seems to hold, for the message that
/// names the missing column (empty when nothing stands out): a header of
/// one column holding another separator, or NUL bytes (UTF-16 read
/// without its byte-order mark).
///
/// # Examples
///
/// ```
/// use wangge::ingest::headers::header_hint;
///
/// assert!(header_hint(["id;kind;lon"]).contains("semicolons"));
/// assert!(header_hint(["i\0d\0"]).contains("UTF-16"));
/// assert_eq!(header_hint(["id", "kind"]), "");
/// ```
pub fn header_hint<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.iter().any(|n| n.contains('\0')) {
        return " (the header holds NUL bytes: the file looks like UTF-16 without its \
                byte-order mark; save it as UTF-8)"
            .into();
    }
    let [one] = names[..] else {
        return String::new();
    };
    for (sep, what) in [(';', "semicolons"), ('\t', "tabs"), ('|', "vertical bars")] {
        if one.contains(sep) {
            return format!(
                " (the header is one column holding {what}: save the file separated \
                 by commas, or by tabs as .tsv)"
            );
        }
    }
    String::new()
}

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
