//! Strict JSON decoding shared by the wire messages, in one streaming pass.
//!
//! Two leniencies of serde would let our parser and other tools read the same signed
//! bytes differently: a map with a duplicate key keeps the last value (other parsers
//! keep the first, or fail), and a derived `Deserialize` accepts a struct written as a
//! JSON array of its field values (`["debian","12","…"]` for an `OsInfo`). So wire
//! messages are decoded through [`Strict`], a deserializer that wraps serde_json's and
//! refuses both at any depth while the typed message (which refuses unknown fields) is
//! being built: no generic tree of the whole document is built first. A body that
//! names an unknown field is refused at that field, before its value is read, so
//! hostile input costs at most about its own size in memory (docs/benchmarks.md).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};

use crate::error::ProtoError;
use crate::limits::{MAX_JSON_DEPTH, check_json_depth};

/// Parses `bytes` as a `T`: size limit, nesting limit, UTF-8, then one streaming pass
/// that refuses bad syntax (`malformed`) and bad shape (duplicate keys, arrays where the
/// schema has a struct, unknown or missing fields), whose failures become `shape_err`.
pub(crate) fn parse_strict<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &'static str,
    max_bytes: usize,
    shape_err: fn(String) -> ProtoError,
) -> Result<T, ProtoError> {
    if bytes.len() > max_bytes {
        return Err(ProtoError::TooLarge {
            what,
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    check_json_depth(bytes, MAX_JSON_DEPTH)?;
    // UTF-8 checked once for the whole text: reading from a `&str`, serde_json does
    // not check each string again (per string it was a tenth of a statement's parse).
    // Bytes that are not UTF-8 are bad syntax wherever they are.
    let text = std::str::from_utf8(bytes).map_err(|e| ProtoError::malformed(what, e))?;
    // A shape error may come before a syntax error further on; bad syntax anywhere is
    // `malformed`, so the error path checks the syntax with a pass that keeps nothing.
    let classify = |e: serde_json::Error| match e.classify() {
        serde_json::error::Category::Data => {
            match serde_json::from_slice::<de::IgnoredAny>(bytes) {
                Err(syntax) if syntax.classify() != serde_json::error::Category::Data => {
                    ProtoError::malformed(what, syntax)
                }
                _ => shape_err(e.to_string()),
            }
        }
        _ => ProtoError::malformed(what, e),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(Strict(&mut de)).map_err(classify)?;
    de.end().map_err(classify)?;
    Ok(value)
}

/// `#[serde(deserialize_with = "crate::json::objects")]` for a list whose elements
/// must be JSON objects even where serde would take an array (internally tagged enums
/// accept `["file", …]` for `{"kind": "file", …}`).
pub(crate) fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_seq(Objects {
        max: usize::MAX,
        what: "",
        item: PhantomData,
    })
}

/// [`objects`] with at most `max` elements, refused at element `max + 1` (before it
/// is read), so a hostile list costs no more than `max` elements of memory.
pub(crate) fn at_most_objects<'de, D, T>(
    deserializer: D,
    max: usize,
    what: &'static str,
) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_seq(Objects {
        max,
        what,
        item: PhantomData,
    })
}

struct Objects<T> {
    max: usize,
    what: &'static str,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Objects<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of JSON objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max).min(64));
        while let Some(item) = seq.next_element_seed(Object(PhantomData))? {
            if out.len() == self.max {
                return Err(de::Error::custom(format_args!(
                    "more than {} {}",
                    self.max, self.what
                )));
            }
            out.push(item);
        }
        Ok(out)
    }
}

/// One element of [`objects`]: read only from a JSON object.
struct Object<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Object<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// A deserializer that passes everything to the one it wraps, except that structs
/// are read only from JSON objects and no object may repeat a key, at any depth.
pub(crate) struct Strict<D>(pub(crate) D);

macro_rules! forward {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    /// A struct only from an object: serde_json's `deserialize_struct` would take an
    /// array of the field values too.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor whose nested values are read through [`Strict`].
struct Wrap<V>(V);

macro_rules! pass {
    ($($method:ident: $ty:ty)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.0.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    pass! {
        visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64
        visit_i128: i128 visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64
        visit_u128: u128 visit_f32: f32 visit_f64: f64 visit_char: char
        visit_str: &str visit_borrowed_str: &'de str visit_string: String
        visit_bytes: &[u8] visit_borrowed_bytes: &'de [u8] visit_byte_buf: Vec<u8>
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Strict(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Strict(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Seq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Map {
            map,
            seen: Seen::default(),
        })
    }

    /// Enums of the wire format are unit variants written as strings; the content of
    /// a data variant (none exists) would be read without the checks.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(data)
    }
}

/// A seed whose value is read through [`Strict`].
struct Seed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

struct Seq<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<A> {
    type Error = A::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }
    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// An object's entries, refusing a key seen before in the same object. Escapes that
/// spell the same key are the same key (the comparison is on the decoded text).
struct Map<'de, A> {
    map: A,
    seen: Seen<'de>,
}

/// How many keys of an object [`Seen`] keeps inline: the objects of the wire format
/// have fewer (a package 3, a check result 6, a statement 4).
const FEW_KEYS: usize = 8;

/// The keys of one object read so far: the first [`FEW_KEYS`] inline and compared in
/// turn, the rest in a hash set (an object of many keys stays linear). A key without
/// escapes is borrowed from the input: most objects cost no allocation here.
struct Seen<'de> {
    few: [Cow<'de, str>; FEW_KEYS],
    len: usize,
    many: HashSet<Cow<'de, str>>,
}

impl Default for Seen<'_> {
    fn default() -> Self {
        Seen {
            few: [const { Cow::Borrowed("") }; FEW_KEYS],
            len: 0,
            many: HashSet::new(),
        }
    }
}

impl<'de> Seen<'de> {
    fn contains(&self, key: &str) -> bool {
        self.few[..self.len.min(FEW_KEYS)].iter().any(|k| k == key) || self.many.contains(key)
    }

    fn insert(&mut self, key: Cow<'de, str>) {
        match self.few.get_mut(self.len) {
            Some(slot) => *slot = key,
            None => {
                self.many.insert(key);
            }
        }
        self.len += 1;
    }
}

/// Reads an object key, borrowed from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.map.next_key_seed(KeySeed)? else {
            return Ok(None);
        };
        if self.seen.contains(&key) {
            return Err(de::Error::custom(format_args!(
                "duplicate key {:?}",
                crate::error::echo(&key)
            )));
        }
        let value = seed.deserialize(StrDeserializer::<A::Error>::new(&key))?;
        self.seen.insert(key);
        Ok(Some(value))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: u8,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Inner,
        list: Vec<Inner>,
        maybe: Option<Inner>,
        #[serde(default)]
        facts: serde_json::Map<String, serde_json::Value>,
        #[serde(default, deserialize_with = "two")]
        few: Vec<Inner>,
    }

    fn two<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Inner>, D::Error> {
        at_most_objects(d, 2, "items")
    }

    fn parse(text: &str) -> Result<Outer, ProtoError> {
        parse_strict(text.as_bytes(), "test", 1 << 20, ProtoError::NotAStatement)
    }

    const GOOD: &str = r#"{"inner":{"a":1},"list":[{"a":2}],"maybe":{"a":3},"facts":{"x":[{"y":1}]},"few":[{"a":4},{"a":5}]}"#;

    #[test]
    fn a_good_document_parses() {
        let v = parse(GOOD).unwrap();
        assert_eq!(v.inner, Inner { a: 1 });
        assert_eq!(v.list, [Inner { a: 2 }]);
        assert_eq!(v.maybe, Some(Inner { a: 3 }));
        assert_eq!(v.facts["x"], serde_json::json!([{"y": 1}]));
        assert_eq!(v.few.len(), 2);
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for (from, to) in [
            (r#"{"inner""#, r#"{"inner":{"a":1},"inner""#),
            (r#"{"a":1}"#, r#"{"a":1,"a":1}"#),
            (r#"{"y":1}"#, r#"{"y":1,"y":2}"#),
            // Escapes that spell the same key are the same key.
            (r#"{"y":1}"#, r#"{"y":1,"\u0079":1}"#),
            (r#""facts":{"#, r#""facts":{"x":0,"#),
        ] {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD);
            let err = parse(&text).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::NotAStatement, "{text}");
            assert!(err.to_string().contains("duplicate key"), "{text}: {err}");
        }
        // Maps too (serde alone keeps the last value).
        let err = parse_strict::<BTreeMap<String, u8>>(
            br#"{"k":1,"k":2}"#,
            "test",
            100,
            ProtoError::NotAStatement,
        )
        .unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NotAStatement);
    }

    /// Past the keys kept inline ([`FEW_KEYS`]) the rest go to a set: a repeat is
    /// refused wherever the first one sits, escaped or not.
    #[test]
    fn duplicate_keys_are_refused_in_objects_of_many_keys() {
        let keys: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
        let object = |extra: &str| {
            let mut entries: Vec<String> = keys.iter().map(|k| format!("\"{k}\":1")).collect();
            if !extra.is_empty() {
                entries.push(extra.to_owned());
            }
            format!("{{{}}}", entries.join(","))
        };
        let map = |text: &str| {
            parse_strict::<BTreeMap<String, u8>>(
                text.as_bytes(),
                "test",
                1 << 16,
                ProtoError::NotAStatement,
            )
        };
        assert_eq!(map(&object("")).unwrap().len(), 20);
        for repeat in [
            r#""k02":2"#,
            r#""k07":2"#,
            r#""k08":2"#,
            r#""k19":2"#,
            r#""\u006b15":2"#,
            r#""\u006b03":2"#,
        ] {
            let err = map(&object(repeat)).unwrap_err();
            assert!(err.to_string().contains("duplicate key"), "{repeat}: {err}");
        }
        assert_eq!(map(&object(r#""k20":2"#)).unwrap().len(), 21);
    }

    #[test]
    fn arrays_where_objects_belong_are_refused() {
        for (from, to) in [
            (r#"{"a":1}"#, "[1]"),
            (r#"[{"a":2}]"#, "[[2]]"),
            (r#""maybe":{"a":3}"#, r#""maybe":[3]"#),
            (r#"{"a":4}"#, "[4]"),
        ] {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD);
            assert_eq!(
                parse(&text).unwrap_err().code(),
                crate::ErrorCode::NotAStatement,
                "{text}"
            );
        }
        assert!(parse(r#"[{"a":1},[],null,{}]"#).is_err());
    }

    #[test]
    fn syntax_unknown_fields_and_bounded_lists() {
        for bad in ["", "{", "{}}", &format!("{GOOD} x"), "\u{1}"] {
            assert_eq!(
                parse(bad).unwrap_err().code(),
                crate::ErrorCode::Malformed,
                "{bad:?}"
            );
        }
        let err = parse(&GOOD.replacen('{', r#"{"z\nforged":1,"#, 1)).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let three = GOOD.replace(r#"{"a":5}]"#, r#"{"a":5},{"a":6}]"#);
        let err = parse(&three).unwrap_err();
        assert!(err.to_string().contains("more than 2 items"), "{err}");
    }

    /// The issue's hostile body: 4 MB of `{"z":[0,0,…]}`. The old parser built a
    /// generic tree of it first (about 35 times its size); this one stops at `"z"`.
    #[test]
    fn a_hostile_body_is_refused_without_building_it() {
        let mut body = b"{\"z\":[0".to_vec();
        while body.len() < crate::MAX_ENVELOPE_BYTES - 4 {
            body.extend_from_slice(b",0");
        }
        body.extend_from_slice(b"]}");
        let mut result = None;
        let info = allocation_counter::measure(|| {
            result = Some(parse_strict::<Outer>(
                &body,
                "test",
                crate::MAX_ENVELOPE_BYTES,
                ProtoError::NotAStatement,
            ));
        });
        let err = result.unwrap().unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        assert!(info.bytes_max < 16 * 1024, "peak {} bytes", info.bytes_max);
    }
}
