//! Strict JSON decoding shared by the wire messages.
//!
//! Two leniencies of serde would let our parser and other tools read the same signed
//! bytes differently: a map with a duplicate key keeps the last value (other parsers
//! keep the first, or fail), and a derived `Deserialize` accepts a struct written as a
//! JSON array of its field values (`["debian","12","…"]` for an `OsInfo`). So wire
//! messages are first parsed into a generic value that refuses duplicate keys anywhere,
//! objects are required at every place where the schema has a struct, and only then is
//! the value converted to the typed message (which refuses unknown fields).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::ProtoError;
use crate::limits::{MAX_JSON_DEPTH, check_json_depth};

/// A place in a message: object keys, and `*` for every element of an array.
pub(crate) type Path<'a> = &'a [&'a str];

/// Parses `bytes` as a `T`: size limit, nesting limit, syntax (`malformed`), then shape
/// (objects at `struct_paths`, the typed conversion) whose failures become `shape_err`.
pub(crate) fn parse_strict<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
    max_bytes: usize,
    struct_paths: &[Path<'_>],
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
    let UniqueKeys(value) = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => shape_err(e.to_string()),
        _ => ProtoError::malformed(what, e),
    })?;
    require_objects(&value, struct_paths).map_err(shape_err)?;
    serde_json::from_value(value).map_err(|e| shape_err(e.to_string()))
}

/// Checks that every value found at one of `paths` is a JSON object. Absent values and
/// paths through non-containers are skipped: the typed conversion reports those.
pub(crate) fn require_objects(root: &Value, paths: &[Path<'_>]) -> Result<(), String> {
    for path in paths {
        let mut stack = vec![(root, 0usize)];
        while let Some((value, depth)) = stack.pop() {
            let Some(step) = path.get(depth) else {
                if !value.is_object() {
                    return Err(format!("{} must be a JSON object", display(path)));
                }
                continue;
            };
            match (*step, value) {
                ("*", Value::Array(items)) => {
                    stack.extend(items.iter().map(|item| (item, depth + 1)));
                }
                (key, Value::Object(map)) => {
                    if let Some(child) = map.get(key) {
                        stack.push((child, depth + 1));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A JSON value whose objects have no duplicate keys, at any depth.
pub(crate) struct UniqueKeys(pub(crate) Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {:?}",
                    crate::error::echo(&key)
                )));
            }
            let UniqueKeys(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

fn display(path: Path<'_>) -> String {
    if path.is_empty() {
        "the document".to_owned()
    } else {
        path.join(".").replace(".*", "[]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PATHS: &[Path<'_>] = &[&[], &["a"], &["list", "*"], &["list", "*", "inner"]];

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let parse = |s: &str| serde_json::from_str::<UniqueKeys>(s).map(|v| v.0);
        assert_eq!(
            parse(r#"{"a":[{"b":1,"c":"x"}],"d":null,"e":-1.5}"#).unwrap(),
            json!({"a":[{"b":1,"c":"x"}],"d":null,"e":-1.5})
        );
        assert!(parse(r#"{"a":1,"a":1}"#).is_err());
        assert!(parse(r#"{"x":[{"b":1,"b":2}]}"#).is_err());
        // Escapes that spell the same key are the same key.
        assert!(parse(r#"{"a":1,"\u0061":2}"#).is_err());
        // A missing-field error of the typed conversion is a shape error.
        let err = parse_strict::<std::collections::BTreeMap<String, u8>>(
            br#"{"k":1,"k":2}"#,
            "test",
            100,
            &[],
            ProtoError::NotAStatement,
        )
        .unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NotAStatement);
    }

    #[test]
    fn arrays_where_objects_belong_are_refused() {
        assert!(require_objects(&json!({"a": {}, "list": [{"inner": {}}]}), PATHS).is_ok());
        assert!(require_objects(&json!({}), PATHS).is_ok());
        assert!(require_objects(&json!([]), PATHS).is_err());
        assert!(require_objects(&json!({"a": []}), PATHS).is_err());
        assert!(require_objects(&json!({"list": [{}, []]}), PATHS).is_err());
        let err = require_objects(&json!({"list": [{"inner": [1]}]}), PATHS).unwrap_err();
        assert_eq!(err, "list[].inner must be a JSON object");
    }
}
