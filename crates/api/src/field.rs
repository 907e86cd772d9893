//! Field errors and paths, as `k8s.io/apimachinery/pkg/util/validation/field` prints them.

use std::collections::BTreeMap;
use std::fmt;

/// What is wrong with a field; one-to-one with `metav1.CauseType` (`field.ErrorType` upstream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorType {
    /// A required value is missing (`FieldValueRequired`).
    Required,
    /// A malformed value (`FieldValueInvalid`).
    Invalid,
    /// A value outside an enumeration (`FieldValueNotSupported`).
    NotSupported,
    /// A value that must be unique appears twice (`FieldValueDuplicate`).
    Duplicate,
    /// A value that is valid in form but not allowed here (`FieldValueForbidden`).
    Forbidden,
    /// A value longer than allowed (`FieldValueTooLong`).
    TooLong,
    /// A list with too many items (`FieldValueTooMany`).
    TooMany,
    /// A referenced value does not exist (`FieldValueNotFound`).
    NotFound,
}

impl FieldErrorType {
    /// The `metav1.CauseType` string, e.g. `FieldValueRequired`.
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Invalid => "FieldValueInvalid",
            FieldErrorType::NotSupported => "FieldValueNotSupported",
            FieldErrorType::Duplicate => "FieldValueDuplicate",
            FieldErrorType::Forbidden => "FieldValueForbidden",
            FieldErrorType::TooLong => "FieldValueTooLong",
            FieldErrorType::TooMany => "FieldValueTooMany",
            FieldErrorType::NotFound => "FieldValueNotFound",
        }
    }

    /// The human text upstream's `ErrorType.String()` gives, e.g. `Required value`.
    pub fn text(self) -> &'static str {
        match self {
            FieldErrorType::Required => "Required value",
            FieldErrorType::Invalid => "Invalid value",
            FieldErrorType::NotSupported => "Unsupported value",
            FieldErrorType::Duplicate => "Duplicate value",
            FieldErrorType::Forbidden => "Forbidden",
            FieldErrorType::TooLong => "Too long",
            FieldErrorType::TooMany => "Too many",
            FieldErrorType::NotFound => "Not found",
        }
    }
}

/// One validation error of one field, as upstream's `field.Error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// What is wrong.
    pub kind: FieldErrorType,
    /// The field path, e.g. `spec.ports[0].port`.
    pub field: String,
    /// The bad value as upstream prints it (strings quoted as Go's `%q`, numbers bare,
    /// structs in Go syntax); `None` when upstream omits it.
    pub value: Option<String>,
    /// Free text after the value, e.g. `must be between 1 and 65535, inclusive`.
    pub detail: String,
}

impl FieldError {
    /// The `metav1.CauseType` of this error, e.g. `FieldValueInvalid`.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The message without the field name (upstream `ErrorBody()`), used as a status cause message.
    pub fn body(&self) -> String {
        let mut s = match (self.kind, &self.value) {
            (FieldErrorType::Required | FieldErrorType::Forbidden | FieldErrorType::TooLong, _)
            | (_, None) => self.kind.text().to_string(),
            (_, Some(v)) => format!("{}: {}", self.kind.text(), v),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The full message as upstream's `field.Error.Error()`:
    /// `spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }

    pub(crate) fn required(path: &Path, detail: &str) -> FieldError {
        FieldError {
            kind: FieldErrorType::Required,
            field: path.to_string(),
            value: None,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn invalid(path: &Path, value: impl GoValue, detail: &str) -> FieldError {
        FieldError {
            kind: FieldErrorType::Invalid,
            field: path.to_string(),
            value: Some(value.go()),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn not_supported(path: &Path, value: impl GoValue, valid: &[&str]) -> FieldError {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError {
            kind: FieldErrorType::NotSupported,
            field: path.to_string(),
            value: Some(value.go()),
            detail,
        }
    }

    pub(crate) fn duplicate(path: &Path, value: impl GoValue) -> FieldError {
        FieldError {
            kind: FieldErrorType::Duplicate,
            field: path.to_string(),
            value: Some(value.go()),
            detail: String::new(),
        }
    }

    pub(crate) fn forbidden(path: &Path, detail: &str) -> FieldError {
        FieldError {
            kind: FieldErrorType::Forbidden,
            field: path.to_string(),
            value: None,
            detail: detail.to_string(),
        }
    }

    /// `field.TooLong` as in Kubernetes 1.33 (`may not be more than N bytes`).
    pub(crate) fn too_long(path: &Path, max: usize) -> FieldError {
        let unit = if max == 1 { "byte" } else { "bytes" };
        FieldError {
            kind: FieldErrorType::TooLong,
            field: path.to_string(),
            value: None,
            detail: format!("may not be more than {max} {unit}"),
        }
    }

    pub(crate) fn too_many(path: &Path, actual: usize, max: usize) -> FieldError {
        FieldError {
            kind: FieldErrorType::TooMany,
            field: path.to_string(),
            value: Some(actual.to_string()),
            detail: format!("must have at most {max} items"),
        }
    }

    pub(crate) fn not_found(path: &Path, value: impl GoValue) -> FieldError {
        FieldError {
            kind: FieldErrorType::NotFound,
            field: path.to_string(),
            value: Some(value.go()),
            detail: String::new(),
        }
    }

    pub(crate) fn with_detail(mut self, detail: &str) -> FieldError {
        self.detail = detail.to_string();
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// A field path as upstream's `field.Path`: `spec.containers[0].ports[1]`,
/// `metadata.annotations[foo]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    pub(crate) fn new(name: &str) -> Path {
        Path(name.to_string())
    }

    pub(crate) fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }

    pub(crate) fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }

    pub(crate) fn key(&self, k: &str) -> Path {
        Path(format!("{}[{}]", self.0, k))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value rendered the way upstream's `field.Error` prints its `BadValue`.
pub(crate) trait GoValue {
    fn go(&self) -> String;
}

impl GoValue for &str {
    fn go(&self) -> String {
        go_quote(self)
    }
}

impl GoValue for String {
    fn go(&self) -> String {
        go_quote(self)
    }
}

impl GoValue for &String {
    fn go(&self) -> String {
        go_quote(self)
    }
}

impl GoValue for i32 {
    fn go(&self) -> String {
        self.to_string()
    }
}

impl GoValue for i64 {
    fn go(&self) -> String {
        self.to_string()
    }
}

impl GoValue for usize {
    fn go(&self) -> String {
        self.to_string()
    }
}

impl GoValue for bool {
    fn go(&self) -> String {
        self.to_string()
    }
}

/// A value already in its printed form (Go `%#v` of structs, `String()` of quantities).
pub(crate) struct Raw(pub(crate) String);

impl GoValue for Raw {
    fn go(&self) -> String {
        self.0.clone()
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%#v` of a `map[string]string` (keys sorted, as fmt prints maps).
pub(crate) fn go_map(m: Option<&BTreeMap<String, String>>) -> Raw {
    match m {
        None => Raw("map[string]string(nil)".to_string()),
        Some(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
                .collect();
            Raw(format!("map[string]string{{{}}}", items.join(", ")))
        }
    }
}

/// Go's `%#v` of a `[]string`.
pub(crate) fn go_strings(v: &[String]) -> Raw {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    Raw(format!("[]string{{{}}}", items.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_errors_print_the_value_and_the_detail() {
        let e = FieldError::invalid(
            &Path::new("spec").child("ports").index(0).child("port"),
            0,
            "must be between 1 and 65535, inclusive",
        );
        assert_eq!(
            e.message(),
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
        );
        assert_eq!(e.reason(), "FieldValueInvalid");
    }

    #[test]
    fn required_and_forbidden_errors_omit_the_value() {
        let e = FieldError::required(&Path::new("spec").child("ports"), "");
        assert_eq!(e.message(), "spec.ports: Required value");
        let e = FieldError::forbidden(&Path::new("spec").child("x"), "not allowed");
        assert_eq!(e.message(), "spec.x: Forbidden: not allowed");
    }

    #[test]
    fn unsupported_values_list_quoted_choices() {
        let e = FieldError::not_supported(
            &Path::new("spec").child("ports").index(0).child("protocol"),
            "HTTP",
            &["SCTP", "TCP", "UDP"],
        );
        assert_eq!(
            e.message(),
            "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
        );
    }

    #[test]
    fn map_keys_print_in_brackets() {
        let p = Path::new("metadata").child("annotations").key("a/b");
        assert_eq!(p.to_string(), "metadata.annotations[a/b]");
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn maps_print_like_go_percent_sharp_v() {
        let mut m = BTreeMap::new();
        m.insert("b".to_string(), "2".to_string());
        m.insert("a".to_string(), "1".to_string());
        assert_eq!(
            go_map(Some(&m)).0,
            "map[string]string{\"a\":\"1\", \"b\":\"2\"}"
        );
    }
}
