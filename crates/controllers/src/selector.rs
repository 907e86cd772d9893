//! Label selector and node selector matching, as the controllers need it.
//!
//! Mirrors `metav1.LabelSelectorAsSelector`
//! (staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go) and the node
//! affinity matching of `nodeaffinity.RequiredNodeAffinity`
//! (staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A label selector that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Unknown operator in a requirement.
    #[error("{0:?} is not a valid label selector operator")]
    UnknownOperator(String),
    /// In/NotIn without values, or Exists/DoesNotExist with values.
    #[error("invalid values for operator {operator:?} on key {key:?}")]
    InvalidValues {
        /// The requirement key.
        key: String,
        /// The requirement operator.
        operator: String,
    },
}

/// True when the selector has neither matchLabels nor matchExpressions, i.e.
/// selects everything.
pub fn selects_everything(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
}

/// Whether `labels` satisfy `selector` (matchLabels AND all matchExpressions).
pub fn matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    // Validate first so that an invalid selector never matches by accident.
    for req in selector.match_expressions.as_deref().unwrap_or_default() {
        validate(
            &req.key,
            &req.operator,
            req.values.as_deref().unwrap_or_default(),
        )?;
    }
    for (k, v) in selector.match_labels.as_ref().into_iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for req in selector.match_expressions.as_deref().unwrap_or_default() {
        let values = req.values.as_deref().unwrap_or_default();
        if !requirement_matches(&req.key, &req.operator, values, labels) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn validate(key: &str, operator: &str, values: &[String]) -> Result<(), SelectorError> {
    let ok = match operator {
        "In" | "NotIn" => !values.is_empty(),
        "Exists" | "DoesNotExist" => values.is_empty(),
        other => return Err(SelectorError::UnknownOperator(other.to_string())),
    };
    if ok {
        Ok(())
    } else {
        Err(SelectorError::InvalidValues {
            key: key.to_string(),
            operator: operator.to_string(),
        })
    }
}

fn requirement_matches(
    key: &str,
    operator: &str,
    values: &[String],
    labels: &BTreeMap<String, String>,
) -> bool {
    match operator {
        "In" => labels.get(key).is_some_and(|v| values.contains(v)),
        "NotIn" => labels.get(key).is_none_or(|v| !values.contains(v)),
        "Exists" => labels.contains_key(key),
        "DoesNotExist" => !labels.contains_key(key),
        _ => false,
    }
}

/// Whether a node matches a nodeSelector term: all matchExpressions on its
/// labels and all matchFields (`metadata.name`) hold. A term with neither
/// matches nothing, and an invalid requirement makes its term fail, as upstream.
pub fn node_selector_term_matches(
    term: &NodeSelectorTerm,
    node_name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| node_requirement_matches(r, labels))
        && fields.iter().all(|r| {
            if r.key != "metadata.name" {
                return false;
            }
            let mut fields = BTreeMap::new();
            fields.insert(r.key.clone(), node_name.to_string());
            // Upstream only allows In/NotIn with exactly one value for fields.
            matches!(r.operator.as_str(), "In" | "NotIn")
                && r.values.as_ref().is_some_and(|v| v.len() == 1)
                && node_requirement_matches(r, &fields)
        })
}

/// One node selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt).
pub fn node_requirement_matches(
    req: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" | "NotIn" | "Exists" | "DoesNotExist" => {
            validate(&req.key, &req.operator, values).is_ok()
                && requirement_matches(&req.key, &req.operator, values, labels)
        }
        "Gt" | "Lt" => {
            let [bound] = values else { return false };
            let Ok(bound) = bound.parse::<i64>() else {
                return false;
            };
            let Some(Ok(value)) = labels.get(&req.key).map(|v| v.parse::<i64>()) else {
                return false;
            };
            if req.operator == "Gt" {
                value > bound
            } else {
                value < bound
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    #[test]
    fn match_labels_and_expressions_must_all_hold() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                expr("tier", "In", &["front", "back"]),
                expr("canary", "DoesNotExist", &[]),
                expr("env", "NotIn", &["prod"]),
            ]),
        };
        assert_eq!(
            matches(&sel, &labels(&[("app", "web"), ("tier", "front")])),
            Ok(true)
        );
        assert_eq!(
            matches(&sel, &labels(&[("app", "web"), ("tier", "mid")])),
            Ok(false)
        );
        assert_eq!(
            matches(
                &sel,
                &labels(&[("app", "web"), ("tier", "front"), ("canary", "1")])
            ),
            Ok(false)
        );
        assert_eq!(
            matches(
                &sel,
                &labels(&[("app", "web"), ("tier", "back"), ("env", "prod")])
            ),
            Ok(false)
        );
    }

    #[test]
    fn invalid_expressions_are_errors_not_matches() {
        let sel = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr("a", "In", &[])]),
        };
        assert!(matches(&sel, &labels(&[("a", "b")])).is_err());
        let sel = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr("a", "Near", &["x"])]),
        };
        assert!(matches(&sel, &labels(&[("a", "x")])).is_err());
    }

    #[test]
    fn empty_selector_selects_everything() {
        let sel = LabelSelector::default();
        assert!(selects_everything(&sel));
        assert_eq!(matches(&sel, &labels(&[("x", "y")])), Ok(true));
    }

    #[test]
    fn node_terms_support_gt_lt_and_metadata_name() {
        let term = NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: "cores".into(),
                operator: "Gt".into(),
                values: Some(vec!["4".into()]),
            }]),
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec!["node-a".into()]),
            }]),
        };
        assert!(node_selector_term_matches(
            &term,
            "node-a",
            &labels(&[("cores", "8")])
        ));
        assert!(!node_selector_term_matches(
            &term,
            "node-b",
            &labels(&[("cores", "8")])
        ));
        assert!(!node_selector_term_matches(
            &term,
            "node-a",
            &labels(&[("cores", "2")])
        ));
        assert!(!node_selector_term_matches(
            &NodeSelectorTerm::default(),
            "node-a",
            &labels(&[])
        ));
    }
}
