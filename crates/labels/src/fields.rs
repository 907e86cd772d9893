//! Field selectors (`?fieldSelector=metadata.name=foo,status.phase!=Running`).
//!
//! Mirrors `k8s.io/apimachinery/pkg/fields/selector.go`: terms split at unescaped commas,
//! `!=`, `==` or `=` (the first operator found from the left), values unescaped with `\\`,
//! `\,` and `\=`. Which fields a resource supports, and how their values are read from an
//! object, is the caller's business (the `get` function of [`FieldSelector::matches`]).

use std::fmt;

use crate::error::SelectorError;

/// One `field=value` or `field!=value` term of a [`FieldSelector`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldTerm {
    /// The field path, e.g. `metadata.name` or `spec.nodeName`.
    pub field: String,
    /// `true` for `!=`, `false` for `=` and `==`.
    pub negated: bool,
    /// The value, unescaped.
    pub value: String,
}

impl FieldTerm {
    /// Whether an object whose field has `actual` (`""` when missing) satisfies this term.
    pub fn matches(&self, actual: &str) -> bool {
        (actual == self.value) != self.negated
    }
}

impl fmt::Display for FieldTerm {
    /// Upstream `hasTerm.String()`/`notHasTerm.String()`: `field=value` or `field!=value`
    /// with the value escaped (`==` prints as `=`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.negated { "!=" } else { "=" };
        write!(f, "{}{op}{}", self.field, escape_field_value(&self.value))
    }
}

/// A field selector: terms that must all hold (AND). Empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// The selector that matches all objects.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// Parses a field selector as upstream `fields.ParseSelector`. Terms are sorted by their
    /// text (as upstream does) and empty terms (`a=b,,c=d`) are skipped. The field name is
    /// not validated here: which fields are selectable depends on the resource.
    pub fn parse(s: &str) -> Result<FieldSelector, SelectorError> {
        let mut parts = split_terms(s);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, raw_value)) = split_term(part) else {
                return Err(SelectorError::FieldTerm {
                    selector: s.to_string(),
                    term: part.to_string(),
                });
            };
            terms.push(FieldTerm {
                field: field.to_string(),
                negated: op == "!=",
                value: unescape_field_value(raw_value)?,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// A selector requiring `field=value` for one field (upstream `OneTermEqualSelector`).
    pub fn one_term_equal(field: impl Into<String>, value: impl Into<String>) -> FieldSelector {
        FieldSelector {
            terms: vec![FieldTerm {
                field: field.into(),
                negated: false,
                value: value.into(),
            }],
        }
    }

    /// The terms, in upstream's (sorted) order.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// Whether an object satisfies every term. `get(field)` returns the object's value for a
    /// field; a missing value (`None`) compares as `""`, as upstream `fields.Set.Get` does.
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.terms
            .iter()
            .all(|t| t.matches(get(&t.field).as_deref().unwrap_or("")))
    }

    /// Whether the selector has no terms, and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value `field` must equal when the selector has a `field=value` term
    /// (upstream `RequiresExactMatch`), e.g. `spec.nodeName` for a kubelet's pod watch.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.negated)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// Upstream `String()`: the terms joined by `,`, values escaped; empty for everything.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Upstream `fields.EscapeValue`: prefixes `\`, `,` and `=` with a backslash.
pub fn escape_field_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Upstream `fields.UnescapeValue`: undoes [`escape_field_value`]; any other escape, a trailing
/// lone backslash, or an unescaped `,` or `=` is an error.
pub fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::InvalidEscape {
                    sequence: format!("\\{c}"),
                });
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(SelectorError::UnescapedCharacter { character: c }),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::InvalidEscape {
            sequence: "\\".to_string(),
        });
    }
    Ok(out)
}

/// Upstream `splitTerms`: splits at commas not preceded by a backslash, keeping escapes.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Upstream `splitTerm`: the field has no escaping, so the first operator from the left
/// splits the term; `!=` and `==` are tried before `=` at each position.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn getter(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |f: &str| map.get(f).cloned()
    }

    fn term(field: &str, negated: bool, value: &str) -> FieldTerm {
        FieldTerm {
            field: field.to_string(),
            negated,
            value: value.to_string(),
        }
    }

    #[test]
    fn parse_reads_equals_double_equals_and_not_equals() {
        let s = FieldSelector::parse("status.phase!=Running,metadata.name=foo,spec.nodeName==n1")
            .unwrap();
        assert_eq!(
            s.terms(),
            &[
                term("metadata.name", false, "foo"),
                term("spec.nodeName", false, "n1"),
                term("status.phase", true, "Running"),
            ]
        );
        assert_eq!(
            s.to_string(),
            "metadata.name=foo,spec.nodeName=n1,status.phase!=Running"
        );
    }

    #[test]
    fn matching_is_and_and_missing_fields_are_empty() {
        let s = FieldSelector::parse("metadata.name=foo,status.phase!=Running").unwrap();
        assert!(s.matches(&getter(&[
            ("metadata.name", "foo"),
            ("status.phase", "Pending")
        ])));
        assert!(s.matches(&getter(&[("metadata.name", "foo")])));
        assert!(!s.matches(&getter(&[
            ("metadata.name", "foo"),
            ("status.phase", "Running")
        ])));
        assert!(!s.matches(&getter(&[("metadata.name", "bar")])));

        let empty_node = FieldSelector::parse("spec.nodeName=").unwrap();
        assert!(empty_node.matches(&getter(&[])));
        assert!(!empty_node.matches(&getter(&[("spec.nodeName", "n1")])));
    }

    #[test]
    fn escaped_commas_and_equals_are_part_of_the_value() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d,x!=y").unwrap();
        assert_eq!(
            s.terms(),
            &[
                term("metadata.name", false, r"a,b=c\d"),
                term("x", true, "y")
            ]
        );
        assert_eq!(s.to_string(), r"metadata.name=a\,b\=c\\d,x!=y");
        assert_eq!(FieldSelector::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn bad_escapes_and_unescaped_specials_are_errors() {
        assert_eq!(
            FieldSelector::parse(r"a=b\n").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \n"
        );
        assert_eq!(
            FieldSelector::parse(r"a=b\").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: '='"
        );
    }

    #[test]
    fn terms_without_an_operator_are_rejected() {
        assert_eq!(
            FieldSelector::parse("a=b,nonsense")
                .unwrap_err()
                .to_string(),
            "invalid selector: 'a=b,nonsense'; can't understand 'nonsense'"
        );
    }

    #[test]
    fn empty_selector_and_empty_terms_match_everything() {
        let s = FieldSelector::parse("").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&getter(&[])));
        assert_eq!(FieldSelector::parse("a=b,,").unwrap().terms().len(), 1);
        assert!(FieldSelector::everything().is_empty());
        assert_eq!(FieldSelector::everything().to_string(), "");
    }

    #[test]
    fn requires_exact_match_ignores_negated_terms() {
        let s = FieldSelector::parse("spec.nodeName=n1,metadata.name!=x").unwrap();
        assert_eq!(s.requires_exact_match("spec.nodeName"), Some("n1"));
        assert_eq!(s.requires_exact_match("metadata.name"), None);
        assert_eq!(
            FieldSelector::one_term_equal("metadata.name", "a=b").to_string(),
            r"metadata.name=a\=b"
        );
    }
}
