//! RFC 7386 JSON merge patch: applying it as kube-apiserver does (gopkg.in/evanphx/json-patch
//! `MergePatch`) and creating three-way patches as kubectl does for types without a schema
//! (k8s.io/apimachinery/pkg/util/jsonmergepatch `CreateThreeWayJSONMergePatch`).

use serde_json::{Map, Value};

use crate::error::PatchError;

/// Deep equality of decoded JSON where numbers compare by value, as Go's `float64` do
/// (`1` equals `1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Whether two values have the same JSON type (Go's `reflect.TypeOf` of the decoded value).
pub(crate) fn same_json_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Applies an RFC 7386 JSON merge patch. The patch must be a JSON object (kube-apiserver rejects
/// any other patch as "Invalid JSON Patch"). Values taken from the patch lose the `null`s of
/// their nested objects, including objects inside lists, as evanphx/json-patch prunes them.
pub(crate) fn apply_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::invalid(format!(
            "a merge patch must be a JSON object, not a {}",
            crate::error::json_type(patch)
        )));
    }
    let mut doc = target.clone();
    merge_into(&mut doc, patch);
    Ok(doc)
}

fn merge_into(doc: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *doc = pruned(patch);
        return;
    };
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    if let Value::Object(map) = doc {
        for (key, value) in patch {
            if value.is_null() {
                map.shift_remove(key);
            } else {
                merge_into(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// A copy of `value` without the `null` members of its objects, at any depth.
fn pruned(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), pruned(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(pruned).collect()),
        other => other.clone(),
    }
}

/// The RFC 7386 merge patch turning `from` into `to` (evanphx/json-patch `CreateMergePatch`):
/// changed and added keys get `to`'s value, removed keys get `null`, nested objects are diffed,
/// lists are compared whole.
pub(crate) fn diff(from: &Map<String, Value>, to: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for (key, to_value) in to {
        match from.get(key) {
            None => {
                patch.insert(key.clone(), to_value.clone());
            }
            Some(from_value) if !same_json_type(from_value, to_value) => {
                patch.insert(key.clone(), to_value.clone());
            }
            Some(Value::Object(from_map)) => {
                if let Value::Object(to_map) = to_value {
                    let nested = diff(from_map, to_map);
                    if !nested.is_empty() {
                        patch.insert(key.clone(), Value::Object(nested));
                    }
                }
            }
            Some(from_value) => {
                if !json_eq(from_value, to_value) {
                    patch.insert(key.clone(), to_value.clone());
                }
            }
        }
    }
    for key in from.keys() {
        if !to.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    patch
}

/// Keeps only the `null`s of a patch (`keep_null`) or everything but them
/// (jsonmergepatch `keepOrDeleteNullInObj`). Explicitly empty objects count as values.
fn keep_or_delete_null(patch: &Map<String, Value>, keep_null: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in patch {
        match value {
            Value::Null => {
                if keep_null {
                    out.insert(key.clone(), Value::Null);
                }
            }
            Value::Object(map) if map.is_empty() => {
                if !keep_null {
                    out.insert(key.clone(), value.clone());
                }
            }
            Value::Object(map) => {
                let nested = keep_or_delete_null(map, keep_null);
                if !nested.is_empty() {
                    out.insert(key.clone(), Value::Object(nested));
                }
            }
            _ => {
                if !keep_null {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
    }
    out
}

/// mergepatch `HasConflicts`: whether two patches set a key to different values.
fn has_conflicts(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => l
            .iter()
            .any(|(k, lv)| r.get(k).is_some_and(|rv| has_conflicts(lv, rv))),
        (Value::Object(_), _) => true,
        (Value::Array(l), Value::Array(r)) => {
            l.len() != r.len() || l.iter().zip(r).any(|(l, r)| has_conflicts(l, r))
        }
        (Value::Array(_), _) => true,
        _ => !json_eq(left, right),
    }
}

fn as_object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, PatchError> {
    value.as_object().ok_or_else(|| {
        PatchError::invalid(format!(
            "the {what} configuration must be a JSON object, not a {}",
            crate::error::json_type(value)
        ))
    })
}

/// See [`crate::create_three_way_merge_patch`].
pub(crate) fn create_three_way_merge_patch(
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
) -> Result<Value, PatchError> {
    let empty = Map::new();
    let original = match original {
        Some(value) => as_object(value, "original")?,
        None => &empty,
    };
    let modified = as_object(modified, "modified")?;
    let current = as_object(current, "current")?;

    // Additions and changes come from current -> modified; deletions only from what the user
    // removed since the last apply (original -> modified), so fields set by others survive.
    let add_and_change = keep_or_delete_null(&diff(current, modified), false);
    let deletions = keep_or_delete_null(&diff(original, modified), true);

    let add_and_change = Value::Object(add_and_change);
    let deletions = Value::Object(deletions);
    if has_conflicts(&add_and_change, &deletions) {
        return Err(PatchError::Conflict {
            patch: add_and_change.to_string(),
            changes: deletions.to_string(),
        });
    }
    let mut patch = deletions;
    merge_into(&mut patch, &add_and_change);
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{apply_merge_patch, create_three_way_merge_patch};
    use serde_json::json;

    #[test]
    fn merge_patch_sets_replaces_and_deletes_keys() {
        let target = json!({
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"replicas": 1, "ports": [{"port": 80}]}
        });
        let patch = json!({
            "metadata": {"labels": {"tier": null, "team": "net"}},
            "spec": {"replicas": 3, "ports": [{"port": 443}]}
        });
        let got = apply_merge_patch(&target, &patch).unwrap();
        assert_eq!(
            got,
            json!({
                "metadata": {"name": "web", "labels": {"app": "web", "team": "net"}},
                "spec": {"replicas": 3, "ports": [{"port": 443}]}
            })
        );
    }

    #[test]
    fn merge_patch_values_for_new_keys_lose_their_nulls() {
        let got = apply_merge_patch(
            &json!({"a": 1}),
            &json!({"b": {"c": null, "d": 1, "e": [{"f": null, "g": 2}]}}),
        )
        .unwrap();
        assert_eq!(got, json!({"a": 1, "b": {"d": 1, "e": [{"g": 2}]}}));
    }

    #[test]
    fn merge_patch_replaces_a_scalar_with_an_object_and_back() {
        let got = apply_merge_patch(
            &json!({"a": "x", "b": {"c": 1}}),
            &json!({"a": {"y": 1}, "b": 2}),
        )
        .unwrap();
        assert_eq!(got, json!({"a": {"y": 1}, "b": 2}));
    }

    #[test]
    fn merge_patch_must_be_an_object() {
        for patch in [json!(null), json!([1]), json!("x"), json!(5)] {
            let err = apply_merge_patch(&json!({}), &patch).unwrap_err();
            assert!(matches!(err, PatchError::InvalidDocument { .. }), "{patch}");
            assert_eq!(err.http_status(), 400);
        }
    }

    #[test]
    fn numbers_compare_by_value_like_go_float64() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!({"a": [1, 2.5]}), &json!({"a": [1.0, 2.5]})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_eq(&json!(1), &json!("1")));
    }

    #[test]
    fn three_way_patch_deletes_a_field_the_user_removed_but_keeps_a_server_set_field() {
        let original = json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "labels": {"app": "w", "old": "x"}},
            "spec": {"size": 1, "color": "red"}
        });
        let modified = json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "labels": {"app": "w"}},
            "spec": {"size": 2}
        });
        let current = json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {
                "name": "w", "uid": "5f0c", "resourceVersion": "7",
                "labels": {"app": "w", "old": "x", "injected": "yes"}
            },
            "spec": {"size": 1, "color": "red", "defaulted": true},
            "status": {"ready": true}
        });
        let patch = create_three_way_merge_patch(Some(&original), &modified, &current).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"labels": {"old": null}}, "spec": {"color": null, "size": 2}})
        );
        let applied = apply_merge_patch(&current, &patch).unwrap();
        assert_eq!(
            applied,
            json!({
                "apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {
                    "name": "w", "uid": "5f0c", "resourceVersion": "7",
                    "labels": {"app": "w", "injected": "yes"}
                },
                "spec": {"size": 2, "defaulted": true},
                "status": {"ready": true}
            })
        );
    }

    #[test]
    fn three_way_patch_without_last_applied_never_deletes() {
        let modified = json!({"spec": {"size": 2}});
        let current = json!({"spec": {"size": 1, "color": "red"}});
        let patch = create_three_way_merge_patch(None, &modified, &current).unwrap();
        assert_eq!(patch, json!({"spec": {"size": 2}}));
    }

    #[test]
    fn three_way_patch_replaces_lists_whole_and_is_empty_when_nothing_changed() {
        let original = json!({"spec": {"hosts": ["a", "b"]}});
        let modified = json!({"spec": {"hosts": ["a", "c"]}});
        let current = json!({"spec": {"hosts": ["a", "b"]}, "status": {}});
        let patch = create_three_way_merge_patch(Some(&original), &modified, &current).unwrap();
        assert_eq!(patch, json!({"spec": {"hosts": ["a", "c"]}}));

        let patch = create_three_way_merge_patch(Some(&modified), &modified, &current).unwrap();
        assert_eq!(patch, json!({"spec": {"hosts": ["a", "c"]}}));
        let applied = apply_merge_patch(&current, &patch).unwrap();
        let again = create_three_way_merge_patch(Some(&modified), &modified, &applied).unwrap();
        assert_eq!(again, json!({}));
    }

    #[test]
    fn three_way_patch_restores_a_field_someone_else_changed() {
        let original = json!({"spec": {"size": 1}});
        let current = json!({"spec": {"size": 5}});
        let patch = create_three_way_merge_patch(Some(&original), &original, &current).unwrap();
        assert_eq!(patch, json!({"spec": {"size": 1}}));
    }

    #[test]
    fn three_way_patch_keeps_an_explicitly_empty_object() {
        let modified = json!({"spec": {"selector": {}}});
        let current = json!({"spec": {}});
        let patch = create_three_way_merge_patch(None, &modified, &current).unwrap();
        assert_eq!(patch, json!({"spec": {"selector": {}}}));
    }

    #[test]
    fn three_way_patch_rejects_non_object_configurations() {
        let err = create_three_way_merge_patch(None, &json!([1]), &json!({})).unwrap_err();
        assert!(matches!(err, PatchError::InvalidDocument { .. }));
    }
}
