//! Building `serde_json::Value`s strictly (duplicate keys are errors) and finding integers
//! that do not fit Kubernetes' 64-bit signed integers.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Prefix of the custom error raised for a repeated key; the key follows as a JSON string.
pub(crate) const DUPLICATE_KEY_PREFIX: &str = "duplicate key ";

/// A `Value` whose mappings were checked for duplicate keys while being read.
///
/// `serde_json::Value` silently keeps the last of repeated keys; kubectl's strict decoding
/// (and server-side field validation) reports them, so we do too.
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML or JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        // Values above i64::MAX are kept here and reported with their position by
        // `find_out_of_range` once the document is read.
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a finite number")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictValue::deserialize(d).map(|v| v.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{DUPLICATE_KEY_PREFIX}{}",
                    Value::String(key)
                )));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// What [`find_out_of_range`] saw.
#[derive(Debug, PartialEq)]
pub(crate) enum OutOfRange {
    /// An integer above `i64::MAX` (read as `u64`), as written in decimal.
    Certain(String),
    /// A whole float at or beyond ±2^63: either an integer literal too large even for `u64`
    /// (which parsers read as a float) or a float literal such as `1e20`. The source text
    /// decides.
    Possible,
}

/// The first integer in `v` that does not fit an `i64`, or a float that may have been one.
pub(crate) fn find_out_of_range(v: &Value) -> Option<OutOfRange> {
    let mut possible = false;
    let certain = walk(v, &mut possible);
    certain
        .map(OutOfRange::Certain)
        .or(possible.then_some(OutOfRange::Possible))
}

fn walk(v: &Value, possible: &mut bool) -> Option<String> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                if i64::try_from(u).is_err() {
                    return Some(u.to_string());
                }
            } else if let Some(f) = n.as_f64()
                && n.is_f64()
                && f.fract() == 0.0
                && f.abs() >= 9_223_372_036_854_775_808.0
            // 2^63
            {
                *possible = true;
            }
            None
        }
        Value::Array(items) => items.iter().find_map(|i| walk(i, possible)),
        Value::Object(map) => map.values().find_map(|i| walk(i, possible)),
        _ => None,
    }
}

/// Whether `text` (a plain YAML scalar, or a JSON number token) is an integer literal that
/// does not fit an `i64`. Follows serde-saphyr's integer forms: optional sign, decimal with
/// `_` separators, `0x`/`0o`/`0b` prefixes, and legacy octal (`0644`) as we enable it.
pub(crate) fn is_out_of_range_integer(text: &str) -> bool {
    let t = text.trim();
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(d) = unsigned.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = unsigned.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = unsigned.strip_prefix("0b") {
        (2, d)
    } else if unsigned.len() > 1
        && unsigned.starts_with('0')
        && unsigned
            .bytes()
            .all(|b| (b'0'..=b'7').contains(&b) || b == b'_')
    {
        (8, &unsigned[1..])
    } else {
        (10, unsigned)
    };
    if !digits.bytes().any(|b| b != b'_') {
        return false;
    }
    let mut value: u128 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let Some(d) = c.to_digit(radix) else {
            return false; // not an integer literal at all
        };
        match value
            .checked_mul(u128::from(radix))
            .and_then(|v| v.checked_add(u128::from(d)))
        {
            Some(v) => value = v,
            None => return true, // beyond even u128
        }
    }
    let limit = if negative {
        u128::from(i64::MAX.unsigned_abs()) + 1
    } else {
        u128::from(i64::MAX.unsigned_abs())
    };
    value > limit
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_values_reject_repeated_json_keys() {
        let err = serde_json::from_str::<StrictValue>(r#"{"a": 1, "b": {"c": 1, "c": 2}}"#)
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("duplicate key \"c\""), "{err}");
        let ok = serde_json::from_str::<StrictValue>(r#"{"a": [1, {"b": null}]}"#).unwrap();
        assert_eq!(ok.0, json!({"a": [1, {"b": null}]}));
    }

    #[test]
    fn integers_beyond_i64_are_found() {
        assert_eq!(find_out_of_range(&json!({"a": [1, -5, i64::MAX]})), None);
        assert_eq!(
            find_out_of_range(&json!({"a": {"b": 9_223_372_036_854_775_808u64}})),
            Some(OutOfRange::Certain("9223372036854775808".to_string()))
        );
        assert_eq!(
            find_out_of_range(&json!({"a": 1e20})),
            Some(OutOfRange::Possible)
        );
        assert_eq!(find_out_of_range(&json!({"a": 1.5e3})), None);
    }

    #[test]
    fn integer_literals_are_checked_against_i64() {
        assert!(!is_out_of_range_integer("9223372036854775807"));
        assert!(is_out_of_range_integer("9223372036854775808"));
        assert!(!is_out_of_range_integer("-9223372036854775808"));
        assert!(is_out_of_range_integer("-9223372036854775809"));
        assert!(is_out_of_range_integer(
            "99999999999999999999999999999999999999999"
        ));
        assert!(is_out_of_range_integer("0xFFFFFFFFFFFFFFFF"));
        assert!(!is_out_of_range_integer("0x7FFFFFFFFFFFFFFF"));
        assert!(!is_out_of_range_integer("1e20"));
        assert!(!is_out_of_range_integer("12.5"));
        assert!(!is_out_of_range_integer("abc"));
        assert!(!is_out_of_range_integer(""));
    }
}
