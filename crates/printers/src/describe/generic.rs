//! The generic describer (describe.go `genericDescriber`): metadata, then every other field
//! of the object with "smart" labels.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::DescribeContext;
use super::common::{events, object_meta};
use super::writer::{Writer, wr};
use crate::json::scalar_text;

const SKIP: &[&str] = &[
    ".metadata.managedFields",
    ".metadata.name",
    ".metadata.namespace",
    ".metadata.labels",
    ".metadata.annotations",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Lower,
    Upper,
    Digit,
    Other,
}

fn class(c: char) -> Class {
    if c.is_lowercase() {
        Class::Lower
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_numeric() {
        Class::Digit
    } else {
        Class::Other
    }
}

/// `camelcase.Split` (github.com/fatih/camelcase): runs of one character class, with an
/// upper-to-lower transition moving the last capital into the next word ("HTTPServer" ->
/// "HTTP", "Server").
fn camel_split(s: &str) -> Vec<String> {
    let mut runs: Vec<Vec<char>> = Vec::new();
    let mut last: Option<Class> = None;
    for c in s.chars() {
        let k = class(c);
        match runs.last_mut() {
            Some(run) if last == Some(k) => run.push(c),
            _ => runs.push(vec![c]),
        }
        last = Some(k);
    }
    for i in 0..runs.len().saturating_sub(1) {
        let upper_then_lower = runs[i].first().is_some_and(|c| c.is_uppercase())
            && runs[i + 1].first().is_some_and(|c| c.is_lowercase());
        if upper_then_lower && let Some(c) = runs[i].pop() {
            runs[i + 1].insert(0, c);
        }
    }
    runs.into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.into_iter().collect())
        .collect()
}

/// Go's `strings.Title`: upper-case the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_';
    }
    out
}

/// `smartLabelFor`: "apiVersion" -> "API Version", "creationTimestamp" -> "Creation Timestamp";
/// fields with characters other than letters and '-' are kept as they are.
pub(crate) fn smart_label(field: &str) -> String {
    if field.chars().any(|c| !c.is_alphabetic() && c != '-') {
        return field.to_string();
    }
    const ACRONYMS: &[&str] = &["API", "URL", "UID", "OSB", "GUID"];
    camel_split(field)
        .into_iter()
        .filter(|p| p != "_")
        .map(|p| {
            let upper = p.to_uppercase();
            if ACRONYMS.contains(&upper.as_str()) {
                upper
            } else {
                title(&p)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `printUnstructuredContent`.
fn content(w: &mut Writer, level: usize, map: &Map<String, Value>, prefix: &str) {
    let mut fields: Vec<&String> = map.keys().collect();
    fields.sort();
    for field in fields {
        let Some(value) = map.get(field) else {
            continue;
        };
        let path = format!("{prefix}.{field}");
        if SKIP.contains(&path.as_str()) {
            continue;
        }
        match value {
            Value::Object(child) => {
                wr!(w, level, "{}:\n", smart_label(field));
                content(w, level + 1, child, &path);
            }
            Value::Array(items) => {
                wr!(w, level, "{}:\n", smart_label(field));
                for item in items {
                    match item {
                        Value::Object(child) => content(w, level + 1, child, &path),
                        other => wr!(w, level + 1, "{}\n", scalar_text(other)),
                    }
                }
            }
            scalar => wr!(
                w,
                level,
                "{}:\t{}\n",
                smart_label(field),
                scalar_text(scalar)
            ),
        }
    }
}

pub(crate) fn describe_generic(obj: &Value, ctx: &DescribeContext<'_>, now: Timestamp) -> String {
    let mut w = Writer::new();
    object_meta(&mut w, obj);
    if let Some(map) = obj.as_object() {
        content(&mut w, 0, map, "");
    }
    events(&mut w, ctx.events, now);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_labels_split_camel_case_and_keep_acronyms() {
        assert_eq!(smart_label("apiVersion"), "API Version");
        assert_eq!(smart_label("creationTimestamp"), "Creation Timestamp");
        assert_eq!(smart_label("uid"), "UID");
        assert_eq!(smart_label("HTTPServer"), "HTTP Server");
        assert_eq!(smart_label("foo.bar"), "foo.bar");
        assert_eq!(smart_label("kind"), "Kind");
    }
}
