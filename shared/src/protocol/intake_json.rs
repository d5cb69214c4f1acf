//! A report's JSON as the strict intake reads it: one parse of the body into a tree that borrows
//! its strings and field names from the body and keeps each object's fields as a list in the
//! order sent. A `serde_json::Value` allocated a string per field name and a B-tree per object
//! (every cell of a report is an object), and building and dropping it was a seventh of a hub's
//! time under load (docs/BENCHMARKS.md, "Intake throughput").
//!
//! A field sent twice is kept twice here, so the intake can refuse it: a `Value` would keep the
//! last silently, and a parser above might keep the first (docs/decisions.md).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// One JSON value, its strings borrowed from the body where they have no escapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object's fields in the order sent, duplicates included.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Json<'a> {
    /// Reads `body` as JSON; serde_json's error says where (and may quote the body: callers keep
    /// only its line and column). Text, not bytes: the body is checked as UTF-8 once, where it
    /// arrives, rather than string by string here and again in the typed read.
    pub fn parse(body: &'a str) -> Result<Json<'a>, serde_json::Error> {
        serde_json::from_str(body)
    }

    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The field `key` of an object (the first, if sent twice); `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object()?.get(key)
    }
}

impl<'a> Object<'a> {
    /// The field `key` (the first, if sent twice: the intake refuses duplicates before it asks).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A field name sent more than once, if any. Sorting only above a handful of fields: an
    /// object may have up to `MAX_ARRAY` of them, and comparing each pair of those would let one
    /// report cost a million comparisons.
    pub fn duplicate(&self) -> Option<&str> {
        if self.0.len() <= 8 {
            return self
                .0
                .iter()
                .enumerate()
                .find(|(i, (k, _))| self.0[..*i].iter().any(|(seen, _)| seen == k))
                .map(|(_, (k, _))| k.as_ref());
        }
        let mut keys: Vec<&str> = self.keys().collect();
        keys.sort_unstable();
        keys.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
    }
}

impl<'a> std::ops::Index<&str> for Object<'a> {
    type Output = Json<'a>;

    /// The field `key`, which the caller has checked is there.
    fn index(&self, key: &str) -> &Json<'a> {
        self.get(key)
            .unwrap_or_else(|| panic!("field `{key}` checked present"))
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Json<'de>, E> {
        Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_string())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key_seed(Key)? {
            fields.push((key, map.next_value()?));
        }
        Ok(Json::Object(Object(fields)))
    }
}

/// A field name, borrowed from the body unless it has escapes (serde's `Cow<str>` always copies).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

/// A checked tree read into a typed value (the intake's `Report`) without parsing the text again:
/// the tree already holds every string and number. Errors are serde's plain ones; the intake has
/// refused anything that could fail here, so one would be a drift between the check and the type.
pub fn read<'de, T: Deserialize<'de>>(tree: &'de Json<'_>) -> Result<T, de::value::Error> {
    T::deserialize(tree)
}

impl<'de> de::IntoDeserializer<'de, de::value::Error> for &'de Json<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for &'de Json<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self {
            Json::Null => v.visit_unit(),
            Json::Bool(b) => v.visit_bool(*b),
            Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => v.visit_u64(u),
                (None, Some(i), _) => v.visit_i64(i),
                (None, None, Some(f)) => v.visit_f64(f),
                (None, None, None) => Err(de::Error::custom("not a number serde can carry")),
            },
            Json::String(s) => v.visit_borrowed_str(s),
            Json::Array(a) => {
                let mut items = de::value::SeqDeserializer::new(a.iter());
                let out = v.visit_seq(&mut items)?;
                items.end()?;
                Ok(out)
            }
            Json::Object(o) => {
                let fields = o.0.iter().map(|(k, x)| (k.as_ref(), x));
                let mut map = de::value::MapDeserializer::new(fields);
                let out = v.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self {
            Json::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }

    /// Only unit variants, written as strings (the report's enums: importance, review state, fault).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        match self {
            Json::String(s) => v.visit_enum(de::value::BorrowedStrDeserializer::new(s)),
            _ => Err(de::Error::custom(
                "an enum is one of its names, as a string",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_names_are_borrowed_unless_escaped() {
        let body = r#"{"org": "H01", "a\u0062": "x\ny", "n": [1, -2, 2.5, true, null]}"#;
        let j = Json::parse(body).unwrap();
        let o = j.as_object().unwrap();
        let (k, v) = o.0.first().unwrap();
        assert!(matches!(k, Cow::Borrowed("org")));
        assert!(matches!(v, Json::String(Cow::Borrowed("H01"))));
        assert_eq!(o.get("ab").and_then(Json::as_str), Some("x\ny"));
        let n = o.get("n").and_then(Json::as_array).unwrap();
        assert_eq!(n[0].as_u64(), Some(1));
        assert_eq!(n[1], Json::Number((-2i64).into()));
        assert_eq!(n[2], Json::Number(Number::from_f64(2.5).unwrap()));
        assert_eq!(n[3], Json::Bool(true));
        assert_eq!(n[4], Json::Null);
    }

    #[test]
    fn the_same_as_serde_json_reads_it() {
        let body = r#"{"b": {"c": [1, 2, {"d": "e"}]}, "a": 18446744073709551615, "z": -1.25e2}"#;
        let ours = Json::parse(body).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(body).unwrap();
        fn same(j: &Json, v: &serde_json::Value) -> bool {
            match (j, v) {
                (Json::Null, serde_json::Value::Null) => true,
                (Json::Bool(a), serde_json::Value::Bool(b)) => a == b,
                (Json::Number(a), serde_json::Value::Number(b)) => a == b,
                (Json::String(a), serde_json::Value::String(b)) => a == b,
                (Json::Array(a), serde_json::Value::Array(b)) => {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
                }
                (Json::Object(a), serde_json::Value::Object(b)) => {
                    a.len() == b.len()
                        && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same(x, y)))
                }
                _ => false,
            }
        }
        assert!(same(&ours, &theirs));
    }

    #[test]
    fn a_field_sent_twice_is_kept_twice_and_found() {
        let j = Json::parse(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(j.as_object().unwrap().duplicate(), Some("a"));
        let many: String = (0..50).map(|i| format!("\"k{i}\": {i},")).collect();
        let twice = format!("{{{many} \"k7\": 0}}");
        let j = Json::parse(&twice).unwrap();
        assert_eq!(j.as_object().unwrap().duplicate(), Some("k7"));
        let once = format!("{{{many} \"last\": 0}}");
        let j = Json::parse(&once).unwrap();
        assert_eq!(j.as_object().unwrap().duplicate(), None);
    }

    #[test]
    fn a_tree_reads_into_a_type_as_serde_json_reads_the_text() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct T {
            n: u32,
            m: Option<i64>,
            f: f64,
            s: String,
            v: Vec<Option<bool>>,
            e: crate::template::Importance,
            #[serde(default)]
            absent: Vec<u8>,
        }
        let text = r#"{"n": 7, "m": -3, "f": 2.5, "s": "a\"b", "v": [true, null], "e": "high"}"#;
        let ours: T = read(&Json::parse(text).unwrap()).unwrap();
        assert_eq!(ours, serde_json::from_str::<T>(text).unwrap());
        let unknown = r#"{"n": 7, "m": null, "f": 1, "s": "", "v": [], "e": "low", "x": 1}"#;
        assert!(read::<T>(&Json::parse(unknown).unwrap()).is_err());
        let wrong = r#"{"n": -1, "m": null, "f": 1, "s": "", "v": [], "e": "low"}"#;
        assert!(read::<T>(&Json::parse(wrong).unwrap()).is_err());
    }
}
