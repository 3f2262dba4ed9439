//! Parsing request bodies strictly: a JSON object that names a key twice is refused. With
//! `serde_json` the last value would win silently, so `{"password": "a", "password": "b"}`
//! logged in with `b` while a proxy or log checked `a`; canonical JSON (signatures, hashes)
//! forbids duplicate keys outright. Nesting depth stays limited by `serde_json` (128 levels).

use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as JsonValue};

/// Parses `bytes` as one JSON value, refusing duplicate keys in any object. The error is
/// `serde_json`'s, with its position.
pub fn parse(bytes: &[u8]) -> Result<JsonValue, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize(&mut deserializer)?.0;
    deserializer.end()?;
    Ok(value)
}

struct StrictValue(JsonValue);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = JsonValue;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<JsonValue, E> {
        Ok(JsonValue::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<JsonValue, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<JsonValue, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<JsonValue, E> {
        Ok(serde_json::Number::from_f64(value).map_or(JsonValue::Null, JsonValue::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<JsonValue, E> {
        Ok(JsonValue::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<JsonValue, E> {
        Ok(JsonValue::String(value))
    }

    fn visit_unit<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }

    fn visit_none<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsonValue, D::Error> {
        StrictValue::deserialize(deserializer).map(|value| value.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<JsonValue, A::Error> {
        let mut values = Vec::with_capacity(items.size_hint().unwrap_or(0).min(1024));
        while let Some(StrictValue(value)) = items.next_element()? {
            values.push(value);
        }
        Ok(JsonValue::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<JsonValue, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {key:?} in a JSON object"
                )));
            }
            let value = entries.next_value_seed(StrictSeed)?;
            object.insert(key, value);
        }
        Ok(JsonValue::Object(object))
    }
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = JsonValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsonValue, D::Error> {
        StrictValue::deserialize(deserializer).map(|value| value.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [
            r#"{"password": "a", "password": "b"}"#,
            r#"{"auth": {"type": "x", "type": "y"}}"#,
            r#"[{"a": 1}, {"b": 1, "b": 1}]"#,
        ] {
            let error = parse(body.as_bytes()).expect_err(body);
            assert!(error.to_string().contains("duplicate key"), "{error}");
        }
    }

    #[test]
    fn everything_else_parses_as_serde_json_does() {
        let body =
            r#"{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": {}}, "d": 18446744073709551615}"#;
        let strict = parse(body.as_bytes()).expect("valid");
        let plain: JsonValue = serde_json::from_str(body).expect("valid");
        assert_eq!(strict, plain);
        assert_eq!(parse(b"\"s\"").expect("string"), json!("s"));
        assert!(parse(b"{} trailing").is_err());
        assert!(parse(b"{").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
    }
}
