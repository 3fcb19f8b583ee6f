//! JSON rows read straight from the body: each object's keys and scalar
//! values, borrowed where they need no unescaping, without building a
//! `serde_json::Value` tree (a map of owned strings per row) first. Ingest
//! bodies of a thousand rows spent more time there than in validating them.
//!
//! An element that is not an object is kept as [`JsonRow::NotObject`], so
//! one bad element is one rejected row, not a rejected body.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Field;

/// One value of an object, as a field sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Text(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    /// An array or object: text the column checks reject with their reason.
    Nested,
}

impl Scalar<'_> {
    /// The value as a column check reads it.
    pub fn field(&self) -> Field<'_> {
        match self {
            Scalar::Null => Field::Null,
            Scalar::Text(s) => Field::Text(s),
            Scalar::Int(n) => Field::Int(i128::from(*n)),
            Scalar::UInt(n) => Field::Int(i128::from(*n)),
            Scalar::Float(x) => Field::Num(*x),
            Scalar::Bool(b) => Field::Bool(*b),
            Scalar::Nested => Field::Text("[object]"),
        }
    }

    /// The value as an id: text, or a number as written (`12345`, not `12345.0`).
    pub fn id(&self) -> Option<String> {
        match self {
            Scalar::Text(s) => Some(s.clone().into_owned()),
            Scalar::Int(n) => Some(n.to_string()),
            Scalar::UInt(n) => Some(n.to_string()),
            Scalar::Float(x) => serde_json::Number::from_f64(*x).map(|n| n.to_string()),
            _ => None,
        }
    }
}

/// One element of a body: an object's entries in document order, or not an object.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonRow<'a> {
    Object(Vec<(Cow<'a, str>, Scalar<'a>)>),
    NotObject,
}

impl<'a> JsonRow<'a> {
    /// The value of each of the `N` columns named by `fields`, by
    /// `column_of` (contract names and aliases); `Err` with the reason
    /// when the row is not an object, two keys give one column, or a
    /// column's value is an array or an object (no column takes one: read
    /// as text it would be stored as something nobody sent).
    pub fn columns<const N: usize>(
        &self,
        column_of: impl Fn(&str) -> Option<usize>,
        fields: &[&'static str; N],
    ) -> Result<[Option<&Scalar<'a>>; N], String> {
        let JsonRow::Object(entries) = self else {
            return Err("not a JSON object".into());
        };
        let keys = entries.iter().map(|(k, _)| k.as_ref());
        let map = super::headers::map_names(keys, column_of, fields).map_err(|e| e.to_string())?;
        for (field, i) in fields.iter().zip(&map) {
            if let Some(i) = *i {
                if entries[i].1 == Scalar::Nested {
                    return Err(format!(
                        "{field} ({:?}): an array or object where one value belongs",
                        entries[i].0
                    ));
                }
            }
        }
        Ok(map.map(|i| i.map(|i| &entries[i].1)))
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Scalar::UInt(n))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(x))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested)
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A key, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = JsonRow<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some((Key(k), v)) = map.next_entry::<Key<'de>, Scalar<'de>>()? {
            entries.push((k, v));
        }
        Ok(JsonRow::Object(entries))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonRow::NotObject)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JsonRow::NotObject)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(JsonRow::NotObject)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(JsonRow::NotObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(JsonRow::NotObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(JsonRow::NotObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(JsonRow::NotObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(JsonRow::NotObject)
    }
}

impl<'de> Deserialize<'de> for JsonRow<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RowVisitor)
    }
}

/// The rows of a body: a JSON array of objects, or one object.
#[derive(Debug)]
pub struct JsonRows<'a>(pub Vec<JsonRow<'a>>);

impl<'de> Deserialize<'de> for JsonRows<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonRows<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array of objects, or one object")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(r) = seq.next_element::<JsonRow<'de>>()? {
                    rows.push(r);
                }
                Ok(JsonRows(rows))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Ok(JsonRows(vec![RowVisitor.visit_map(map)?]))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a body of rows: a JSON array, each element read alone (an
/// element that does not read, such as a number past a float's range, is
/// that row's error, and the others are read), or one object. `Err` when
/// the body is not JSON, or neither an array nor an object.
pub fn rows(body: &[u8]) -> Result<Vec<Result<JsonRow<'_>, String>>, serde_json::Error> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body)?;
        return Ok(items
            .into_iter()
            .map(|raw| row(raw.get()).map_err(|e| e.to_string()))
            .collect());
    }
    serde_json::from_slice::<JsonRows<'_>>(body).map(|r| r.0.into_iter().map(Ok).collect())
}

/// Parses one line of JSON Lines.
pub fn row(line: &str) -> Result<JsonRow<'_>, serde_json::Error> {
    serde_json::from_str(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_borrowed_unless_escaped_and_non_objects_are_rows() {
        let body = br#"[{"id": 12345, "lon": 115.5, "category": "\u73af\u5883", "x": [1, {"a": 2}], "ok": true, "n": null}, 7, "s"]"#;
        let r: Vec<JsonRow<'_>> = rows(body)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1], JsonRow::NotObject);
        assert_eq!(r[2], JsonRow::NotObject);
        let JsonRow::Object(e) = &r[0] else { panic!() };
        assert_eq!(e[0].1.id().as_deref(), Some("12345"));
        assert_eq!(e[1].1.field(), Field::Num(115.5));
        assert_eq!(e[2].1, Scalar::Text(Cow::Owned("环境".into())));
        assert_eq!(e[3].1.field(), Field::Text("[object]"));
        assert_eq!(e[4].1.field(), Field::Bool(true));
        assert_eq!(e[5].1.field(), Field::Null);
        assert!(matches!(&e[0].0, Cow::Borrowed("id")));
        // One object is one row; a scalar body is refused.
        assert_eq!(rows(br#"{"id": "a"}"#).unwrap().len(), 1);
        assert!(rows(b"42").is_err());
        assert!(rows(b"[{").is_err());
        // An element that does not read is its row's error alone.
        let r = rows(br#" [{"id": "a", "lon": 1e400}, {"id": "b"}]"#).unwrap();
        assert!(r[0].as_ref().unwrap_err().contains("out of range"), "{r:?}");
        assert!(matches!(&r[1], Ok(JsonRow::Object(e)) if e[0].1.id().as_deref() == Some("b")));
    }

    #[test]
    fn a_column_given_an_array_or_object_is_refused_by_name() {
        let fields = ["id", "category"];
        let column_of = |k: &str| fields.iter().position(|f| *f == k);
        for body in [
            r#"{"id": {"x": 1}, "category": "a"}"#,
            r#"{"id": "a", "category": ["b"]}"#,
        ] {
            let r = row(body).unwrap();
            let err = r.columns(column_of, &fields).unwrap_err();
            assert!(err.contains("an array or object"), "{err}");
            assert!(
                err.starts_with("id") || err.starts_with("category"),
                "{err}"
            );
        }
        // A key no column reads may hold anything.
        let r = row(r#"{"id": "a", "extra": {"x": [1]}}"#).unwrap();
        assert!(r.columns(column_of, &fields).is_ok());
    }
}
