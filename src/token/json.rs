//! Strict JSON for JWT headers and payloads: one object, no duplicate member names (compared
//! after unescaping, so `"a"` and `"\u0061"` collide), nesting bounded.
//!
//! Duplicate members are how parser-differential attacks smuggle a second `iss` or `alg` past
//! a different parser (RFC 8725 §2.8 / RFC 7515 §4: "MUST reject or use a parser that returns
//! only the lexically last"); we reject.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// serde_json's own recursion limit; configured depths above it cannot be honoured.
pub const MAX_SUPPORTED_DEPTH: usize = 127;

/// Why a segment is not a strict JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("not valid JSON")]
    Syntax,
    #[error("not a JSON object")]
    NotObject,
    #[error("duplicate member name")]
    Duplicate,
    #[error("nested too deeply")]
    TooDeep,
}

/// Parses `bytes` as one JSON object whose containers nest at most `max_depth` deep (the
/// top-level object counts as 1).
pub fn parse_object(bytes: &[u8], max_depth: usize) -> Result<Map<String, Value>, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict {
        depth_left: max_depth,
    }
    .deserialize(&mut de)
    .map_err(classify)?;
    de.end().map_err(|_| JsonError::Syntax)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

// The visitor reports our own conditions through serde's custom errors; these markers
// recover them without string matching on serde_json's own messages.
const DUPLICATE: &str = "\u{0}duplicate";
const TOO_DEEP: &str = "\u{0}too deep";

fn classify(err: serde_json::Error) -> JsonError {
    let text = err.to_string();
    if text.starts_with(DUPLICATE) {
        JsonError::Duplicate
    } else if text.starts_with(TOO_DEEP) || text.starts_with("recursion limit exceeded") {
        JsonError::TooDeep
    } else {
        JsonError::Syntax
    }
}

struct Strict {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Strict {
    fn enter<E: de::Error>(&self) -> Result<Strict, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(Strict { depth_left }),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            depth_left: inner.depth_left,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(Strict {
                depth_left: inner.depth_left,
            })?;
            if members.insert(name, value).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_object_parses() {
        let map = parse_object(br#"{"a": [1, {"b": null}], "c": "d", "e": 1.5}"#, 64).unwrap();
        assert_eq!(map["c"], "d");
        assert_eq!(map["e"], 1.5);
    }

    #[test]
    fn duplicate_members_are_rejected_even_when_escaped() {
        assert_eq!(
            parse_object(br#"{"iss": "a", "iss": "b"}"#, 64),
            Err(JsonError::Duplicate)
        );
        assert_eq!(
            parse_object(br#"{"iss": "a", "\u0069ss": "b"}"#, 64),
            Err(JsonError::Duplicate)
        );
        assert_eq!(
            parse_object(br#"{"x": {"k": 1, "k": 2}}"#, 64),
            Err(JsonError::Duplicate)
        );
    }

    #[test]
    fn nesting_is_bounded() {
        assert!(parse_object(br#"{"a": {"b": [1]}}"#, 3).is_ok());
        assert_eq!(
            parse_object(br#"{"a": {"b": [1]}}"#, 2),
            Err(JsonError::TooDeep)
        );
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_object(deep.as_bytes(), 64), Err(JsonError::TooDeep));
    }

    #[test]
    fn non_objects_trailing_data_and_bad_utf8_are_rejected() {
        assert_eq!(parse_object(b"[1]", 64), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"\"s\"", 64), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"{} {}", 64), Err(JsonError::Syntax));
        assert_eq!(
            parse_object(b"{\"a\": \"\xff\"}", 64),
            Err(JsonError::Syntax)
        );
        assert_eq!(parse_object(b"", 64), Err(JsonError::Syntax));
    }
}
