//! Tolerant accessors over plain JSON objects: a missing field or a field of an unexpected
//! type reads as absent (empty string, zero, empty list), never as a panic.

use jiff::Timestamp;
use serde_json::{Map, Value};

static EMPTY_LIST: Vec<Value> = Vec::new();

/// The value at `path` (object keys), if every step exists.
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

/// The string at `path`, or "" when missing or not a string.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The string at `path` when present (may be empty).
pub(crate) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// The integer at `path` when present.
pub(crate) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    let n = get(v, path)?;
    n.as_i64()
        .or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .or_else(|| n.as_f64().map(|f| f as i64))
}

/// The integer at `path`, or 0.
pub(crate) fn int_at(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

/// The boolean at `path` when present.
pub(crate) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// The boolean at `path`, or false.
pub(crate) fn bool_at(v: &Value, path: &[&str]) -> bool {
    opt_bool(v, path).unwrap_or(false)
}

/// The list at `path`, or an empty list.
pub(crate) fn list_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(EMPTY_LIST.as_slice())
}

/// The object at `path` when present.
pub(crate) fn obj_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path).and_then(Value::as_object)
}

/// The string-to-string map at `path` (labels, selectors), sorted by key; non-string values
/// are skipped.
pub(crate) fn string_map<'a>(v: &'a Value, path: &[&str]) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = obj_at(v, path)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.as_str(), s)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Number of entries of the object at `path` (0 when missing).
pub(crate) fn map_len(v: &Value, path: &[&str]) -> usize {
    obj_at(v, path).map(Map::len).unwrap_or(0)
}

/// The RFC 3339 timestamp at `path` when present and parseable. Kubernetes' zero time
/// (`0001-01-01T00:00:00Z`) reads as absent, as `metav1.Time.IsZero` does.
pub(crate) fn time_at(v: &Value, path: &[&str]) -> Option<Timestamp> {
    let ts: Timestamp = opt_str(v, path)?.parse().ok()?;
    if ts.as_second() <= ZERO_TIME_SECONDS {
        None
    } else {
        Some(ts)
    }
}

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) relative to the Unix epoch.
const ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// `metadata.name`.
pub(crate) fn name(v: &Value) -> &str {
    str_at(v, &["metadata", "name"])
}

/// `metadata.namespace`.
pub(crate) fn namespace(v: &Value) -> &str {
    str_at(v, &["metadata", "namespace"])
}

/// An IntOrString value as Go's `intstr.IntOrString.String()` prints it ("<nil>" when absent).
pub(crate) fn int_or_string(v: Option<&Value>) -> String {
    match v {
        None => "<nil>".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

/// Go's `%v` of a JSON scalar as an unstructured object holds it.
pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The controller owner reference (`controller: true`) of an object.
pub(crate) fn controller_ref(v: &Value) -> Option<&Value> {
    list_at(v, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| bool_at(r, &["controller"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_and_mistyped_fields_read_as_absent() {
        let v = json!({"a": {"b": 3, "s": "x", "n": null, "l": [1]}});
        assert_eq!(str_at(&v, &["a", "b"]), "");
        assert_eq!(int_at(&v, &["a", "s"]), 0);
        assert_eq!(int_at(&v, &["a", "b"]), 3);
        assert!(get(&v, &["a", "n"]).is_none());
        assert!(list_at(&v, &["a", "missing"]).is_empty());
        assert_eq!(list_at(&v, &["a", "l"]).len(), 1);
        assert_eq!(str_at(&json!("scalar"), &["a"]), "");
    }

    #[test]
    fn go_zero_time_reads_as_absent() {
        let v =
            json!({"t": "0001-01-01T00:00:00Z", "u": "2024-01-02T03:04:05Z", "bad": "yesterday"});
        assert!(time_at(&v, &["t"]).is_none());
        assert!(time_at(&v, &["bad"]).is_none());
        assert!(time_at(&v, &["u"]).is_some());
    }
}
