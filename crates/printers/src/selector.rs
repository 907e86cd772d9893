//! Label and label-selector text as apimachinery prints them (`labels.FormatLabels`,
//! `metav1.LabelSelectorAsSelector(..).String()`, `metav1.FormatLabelSelector`).

use serde_json::Value;

use crate::json::{list_at, obj_at, str_at};

/// `labels.FormatLabels`: `k=v` pairs sorted by key joined with ",", `<none>` when empty.
pub fn format_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return "<none>".to_string();
    }
    let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs.join(",")
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: "" for a missing or empty selector, `Err`
/// for an invalid one (an unknown operator, values where none are allowed or none where some
/// are required).
pub(crate) fn selector_string(sel: Option<&Value>) -> Result<String, ()> {
    let Some(sel) = sel else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = obj_at(sel, &["matchLabels"]) {
        for (k, v) in labels {
            let v = v.as_str().ok_or(())?;
            reqs.push((k.clone(), format!("{k}={v}")));
        }
    }
    for expr in list_at(sel, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        let mut values: Vec<&str> = list_at(expr, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        values.dedup();
        let text = match str_at(expr, &["operator"]) {
            "In" | "NotIn" if values.is_empty() => return Err(()),
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_string(), text));
    }
    // The internal selector keeps requirements sorted by key.
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: the selector string, "<none>" when it selects everything or
/// nothing, "<error>" when invalid.
pub(crate) fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Err(()) => "<error>".to_string(),
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn match_labels_and_expressions_print_sorted_by_key() {
        let sel = json!({
            "matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists"},
                {"key": "os", "operator": "NotIn", "values": ["windows"]}
            ]
        });
        assert_eq!(
            format_label_selector(Some(&sel)),
            "app=shop,!canary,env in (dev,prod),os notin (windows),tier=web,zone"
        );
    }

    #[test]
    fn empty_selectors_print_none_and_invalid_ones_error() {
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
        assert_eq!(selector_string(Some(&bad)), Err(()));
    }

    #[test]
    fn labels_format_as_sorted_pairs() {
        assert_eq!(format_labels(&[("b", "2"), ("a", "1")]), "a=1,b=2");
        assert_eq!(format_labels(&[]), "<none>");
    }
}
