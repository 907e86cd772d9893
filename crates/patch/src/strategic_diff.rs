//! Creating strategic merge patches as kubectl does: `diffMaps`/`diffLists` and
//! `CreateThreeWayMergePatch` (with `overwrite`, as `kubectl apply` calls it) of
//! k8s.io/apimachinery/pkg/util/strategicpatch/patch.go.
//!
//! The three-way patch is the two-way diff current -> modified without deletions, merged with
//! the deletions of original -> modified. Merging two patches keeps their directives
//! (`mergeMap` with `MergeParallelList` off and unmatched nulls kept), unlike applying one.

use serde_json::{Map, Value};

use crate::error::{PatchError, go_fmt, json_type};
use crate::merge::{json_eq, same_json_type};
use crate::schema::{Field, Ty};
use crate::strategic::{
    DELETE_DIRECTIVE, DELETE_FROM_PRIMITIVE_LIST_PREFIX, DIRECTIVE_MARKER, GoSlice, Object, Path,
    REPLACE_DIRECTIVE, RETAIN_KEYS_DIRECTIVE, SET_ELEMENT_ORDER_PREFIX, SetOrder, Special,
    elements_are_maps, key_value, merge_slice_with_special_elements, normalize_element_order,
    normalize_slice_order, order_merged_list, partition_by_presence, type_mismatch,
};

/// DiffOptions of upstream.
#[derive(Clone, Copy, Default)]
struct DiffOptions {
    /// Generate `$setElementOrder` lists.
    set_element_order: bool,
    /// Leave changes and additions out of the patch.
    ignore_changes_and_additions: bool,
    /// Leave deletions out of the patch.
    ignore_deletions: bool,
    /// Generate a `$retainKeys` list (the map is a field with the retainKeys strategy).
    build_retain_keys: bool,
}

fn as_object<'a>(value: &'a Value, what: &str) -> Result<&'a Object, PatchError> {
    value.as_object().ok_or_else(|| {
        PatchError::invalid(format!(
            "the {what} configuration must be a JSON object, not a {}",
            json_type(value)
        ))
    })
}

/// See [`crate::create_two_way_strategic_merge_patch`].
pub(crate) fn create_two_way(
    original: &Value,
    modified: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    let original = as_object(original, "original")?;
    let modified = as_object(modified, "modified")?;
    let options = DiffOptions {
        set_element_order: true,
        ..DiffOptions::default()
    };
    let patch = diff_maps(
        original,
        modified,
        Ty::root(api_version, kind),
        options,
        &Path::default(),
    )?;
    Ok(sorted_keys(Value::Object(patch)))
}

/// See [`crate::create_three_way_strategic_merge_patch`].
pub(crate) fn create_three_way(
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    let empty = Object::new();
    let original = match original {
        Some(value) => as_object(value, "original")?,
        None => &empty,
    };
    let modified = as_object(modified, "modified")?;
    let current = as_object(current, "current")?;
    let root = Ty::root(api_version, kind);
    let path = Path::default();

    let delta = diff_maps(
        current,
        modified,
        root,
        DiffOptions {
            ignore_deletions: true,
            set_element_order: true,
            ..DiffOptions::default()
        },
        &path,
    )?;
    let deletions = diff_maps(
        original,
        modified,
        root,
        DiffOptions {
            set_element_order: true,
            ignore_changes_and_additions: true,
            ..DiffOptions::default()
        },
        &path,
    )?;
    let patch = merge_patches(deletions, delta, root, &path)?;
    Ok(sorted_keys(Value::Object(patch)))
}

/// Object keys sorted at every depth, as Go's encoding/json writes maps.
fn sorted_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

/// diffMaps: the patch turning `original` into `modified`, whose Go type is `ty`.
fn diff_maps(
    original: &Object,
    modified: &Object,
    ty: Ty,
    options: DiffOptions,
    path: &Path,
) -> Result<Object, PatchError> {
    let mut patch = Object::new();
    let mut retain_keys: Vec<String> = Vec::new();
    for (key, modified_value) in modified {
        if options.build_retain_keys && !modified_value.is_null() {
            retain_keys.push(key.clone());
        }
        let Some(original_value) = original.get(key) else {
            if !options.ignore_changes_and_additions {
                patch.insert(key.clone(), modified_value.clone());
            }
            continue;
        };
        if key == DIRECTIVE_MARKER {
            // handleDirectiveMarker
            let (Some(o), Some(m)) = (original_value.as_str(), modified_value.as_str()) else {
                return Err(PatchError::invalid(format!(
                    "invalid value for special key: {DIRECTIVE_MARKER}"
                )));
            };
            if o != m {
                patch.insert(key.clone(), modified_value.clone());
            }
            continue;
        }
        if !same_json_type(original_value, modified_value) {
            if !options.ignore_changes_and_additions {
                patch.insert(key.clone(), modified_value.clone());
            }
            continue;
        }
        let field = ty.field(key);
        let field_path = path.child(key);
        let field_options = DiffOptions {
            build_retain_keys: field.meta.retain_keys,
            ..options
        };
        match (original_value, modified_value) {
            (Value::Object(o), Value::Object(m)) => {
                if field.meta.replace {
                    if !options.ignore_changes_and_additions {
                        patch.insert(key.clone(), modified_value.clone());
                    }
                } else {
                    let nested = diff_maps(o, m, field.ty, field_options, &field_path)?;
                    if !nested.is_empty() {
                        patch.insert(key.clone(), Value::Object(nested));
                    }
                }
            }
            (Value::Array(o), Value::Array(m)) if field.meta.list.merges() => {
                let lists = diff_lists(o, m, field, field_options, &field_path)?;
                if !lists.patch.is_empty() {
                    patch.insert(key.clone(), Value::Array(lists.patch));
                }
                if !lists.deletions.is_empty() {
                    patch.insert(
                        format!("{DELETE_FROM_PRIMITIVE_LIST_PREFIX}/{key}"),
                        Value::Array(lists.deletions),
                    );
                }
                if !lists.order.is_empty() {
                    patch.insert(
                        format!("{SET_ELEMENT_ORDER_PREFIX}/{key}"),
                        Value::Array(lists.order),
                    );
                }
            }
            _ => {
                // replacePatchFieldIfNotEqual
                if !options.ignore_changes_and_additions && !json_eq(original_value, modified_value)
                {
                    patch.insert(key.clone(), modified_value.clone());
                }
            }
        }
    }

    // updatePatchIfMissing
    if !options.ignore_deletions {
        for key in original.keys() {
            if !modified.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }

    let has_additional_new_field = original
        .iter()
        .any(|(k, v)| !v.is_null() && !modified.contains_key(k));
    if !retain_keys.is_empty() && (!patch.is_empty() || has_additional_new_field) {
        retain_keys.sort();
        patch.insert(
            RETAIN_KEYS_DIRECTIVE.to_string(),
            Value::Array(retain_keys.into_iter().map(Value::String).collect()),
        );
    }
    Ok(patch)
}

/// The three lists diffLists returns.
#[derive(Default)]
struct ListDiff {
    /// Added and changed elements, then `$patch: delete` elements (lists of maps).
    patch: Vec<Value>,
    /// Deleted primitives (`$deleteFromPrimitiveList`).
    deletions: Vec<Value>,
    /// The `$setElementOrder` list.
    order: Vec<Value>,
}

/// diffLists, for a field tagged `patchStrategy:"merge"`.
fn diff_lists(
    original: &[Value],
    modified: &[Value],
    field: Field,
    options: DiffOptions,
    path: &Path,
) -> Result<ListDiff, PatchError> {
    if original.is_empty() {
        if modified.is_empty() || options.ignore_changes_and_additions {
            return Ok(ListDiff::default());
        }
        return Ok(ListDiff {
            patch: modified.to_vec(),
            ..ListDiff::default()
        });
    }
    if elements_are_maps(original, modified, path)? == Some(true) {
        let Some(key) = field.meta.list.merge_key() else {
            return Err(PatchError::NoMergeKey {
                path: path.render(),
            });
        };
        let (changes, deletions) =
            diff_lists_of_maps(original, modified, key, field.ty, options, path)?;
        let mut patch = normalize_slice_order(changes, modified, Some(key), path)?;
        let order_same = is_order_same(original, modified, key, path)?;
        patch.extend(deletions);
        let order = if options.set_element_order
            && ((!options.ignore_changes_and_additions && (!patch.is_empty() || !order_same))
                || (!options.ignore_deletions && !patch.is_empty()))
        {
            let mut order = Vec::with_capacity(modified.len());
            for item in modified {
                let mut entry = Map::new();
                entry.insert(key.to_string(), key_value(item, key, path)?.clone());
                order.push(Value::Object(entry));
            }
            order
        } else {
            Vec::new()
        };
        return Ok(ListDiff {
            patch,
            deletions: Vec::new(),
            order,
        });
    }

    let (additions, deletions) = diff_lists_of_scalars(original, modified, options);
    let patch = normalize_slice_order(additions, modified, None, path)?;
    // Upstream sorts the original list in place (sortScalars) before comparing it with the
    // modified one, so an unsorted but unchanged list still gets a `$setElementOrder`.
    let sorted_original = sort_scalars(original.to_vec());
    let unchanged = sorted_original.len() == modified.len()
        && sorted_original
            .iter()
            .zip(modified)
            .all(|(o, m)| json_eq(o, m));
    let order = if options.set_element_order
        && ((!options.ignore_deletions && !deletions.is_empty())
            || (!options.ignore_changes_and_additions && !unchanged))
    {
        modified.to_vec()
    } else {
        Vec::new()
    };
    Ok(ListDiff {
        patch,
        deletions,
        order,
    })
}

/// Elements sorted by the `%v` rendering of `key` (sortMergeListsByNameArray).
fn sorted_by_key<'a>(list: &'a [Value], key: &str) -> Vec<(String, &'a Value)> {
    let mut sorted: Vec<(String, &Value)> = list
        .iter()
        .map(|item| {
            let rendered = item.get(key).map_or_else(|| "<nil>".to_string(), go_fmt);
            (rendered, item)
        })
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
}

/// diffListsOfMaps: the changed and added elements, and `$patch: delete` elements for the
/// removed ones, walking both lists sorted by merge key.
fn diff_lists_of_maps(
    original: &[Value],
    modified: &[Value],
    key: &str,
    elem_ty: Ty,
    options: DiffOptions,
    path: &Path,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let original_sorted = sorted_by_key(original, key);
    let modified_sorted = sorted_by_key(modified, key);
    let mut patch = Vec::new();
    let mut deletions = Vec::new();
    let (mut oi, mut mi) = (0, 0);
    loop {
        let o = original_sorted.get(oi);
        let m = modified_sorted.get(mi);
        if o.is_none() && m.is_none() {
            break;
        }
        if let Some((_, item)) = o {
            key_value(item, key, path)?;
        }
        if let Some((_, item)) = m {
            key_value(item, key, path)?;
        }
        match (o, m) {
            (Some((o_key, o_item)), Some((m_key, m_item))) if o_key == m_key => {
                if let (Value::Object(o_map), Value::Object(m_map)) = (o_item, m_item) {
                    let mut nested = diff_maps(o_map, m_map, elem_ty, options, path)?;
                    if !nested.is_empty() {
                        nested.insert(key.to_string(), key_value(m_item, key, path)?.clone());
                        patch.push(Value::Object(nested));
                    }
                }
                oi += 1;
                mi += 1;
            }
            (None, Some((_, m_item))) => {
                if !options.ignore_changes_and_additions {
                    patch.push((*m_item).clone());
                }
                mi += 1;
            }
            (Some((o_key, _)), Some((m_key, m_item))) if o_key > m_key => {
                if !options.ignore_changes_and_additions {
                    patch.push((*m_item).clone());
                }
                mi += 1;
            }
            (Some((_, o_item)), _) => {
                if !options.ignore_deletions {
                    let mut directive = Map::new();
                    directive.insert(key.to_string(), key_value(o_item, key, path)?.clone());
                    directive.insert(
                        DIRECTIVE_MARKER.to_string(),
                        Value::String(DELETE_DIRECTIVE.to_string()),
                    );
                    deletions.push(Value::Object(directive));
                }
                oi += 1;
            }
            (None, None) => break,
        }
    }
    Ok((patch, deletions))
}

/// Primitives sorted by their `%v` rendering (sortScalars).
fn sort_scalars(mut list: Vec<Value>) -> Vec<Value> {
    list.sort_by_cached_key(go_fmt);
    list
}

/// diffListsOfScalars: the added primitives and the (deduplicated) deleted ones.
fn diff_lists_of_scalars(
    original: &[Value],
    modified: &[Value],
    options: DiffOptions,
) -> (Vec<Value>, Vec<Value>) {
    let original_sorted = sort_scalars(original.to_vec());
    let modified_sorted = sort_scalars(modified.to_vec());
    let mut additions = Vec::new();
    let mut deletions: Vec<Value> = Vec::new();
    let (mut oi, mut mi) = (0, 0);
    loop {
        let o = original_sorted.get(oi);
        let m = modified_sorted.get(mi);
        let (o_str, m_str) = (o.map(go_fmt), m.map(go_fmt));
        match (o, m) {
            (None, None) => break,
            (Some(_), Some(_)) if o_str == m_str => {
                oi += 1;
                mi += 1;
            }
            (None, Some(m)) => {
                if !options.ignore_changes_and_additions {
                    additions.push(m.clone());
                }
                mi += 1;
            }
            (Some(_), Some(m)) if o_str > m_str => {
                if !options.ignore_changes_and_additions {
                    additions.push(m.clone());
                }
                mi += 1;
            }
            (Some(o), _) => {
                if !options.ignore_deletions && !deletions.iter().any(|d| json_eq(d, o)) {
                    deletions.push(o.clone());
                }
                oi += 1;
            }
        }
    }
    (additions, deletions)
}

/// isOrderSame: both lists hold the same merge key values at the same positions.
fn is_order_same(
    original: &[Value],
    modified: &[Value],
    key: &str,
    path: &Path,
) -> Result<bool, PatchError> {
    if original.len() != modified.len() {
        return Ok(false);
    }
    for (o, m) in original.iter().zip(modified) {
        if !json_eq(key_value(o, key, path)?, key_value(m, key, path)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// removeDirectives: drops the maps holding `$patch`, at any depth; `None` for such a map.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// mergeMap without merging parallel lists and keeping unmatched nulls: merges the patch
/// `patch` into the patch `original`, keeping the directives of both.
fn merge_patches(
    mut original: Object,
    mut patch: Object,
    ty: Ty,
    path: &Path,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        return match directive.as_str() {
            Some(REPLACE_DIRECTIVE) => {
                patch.shift_remove(DIRECTIVE_MARKER);
                Ok(patch)
            }
            Some(DELETE_DIRECTIVE) => Ok(Object::new()),
            _ => Err(PatchError::UnsupportedDirective {
                path: path.render(),
                directive: go_fmt(directive),
                message: format!(
                    "unknown patch type: {} in map: {}",
                    go_fmt(directive),
                    go_fmt(&Value::Object(patch.clone()))
                ),
            }),
        };
    }

    // applyRetainKeysDirective, patch-merging mode: both patches must agree.
    if let Some(retain) = patch.shift_remove(RETAIN_KEYS_DIRECTIVE) {
        match original.get(RETAIN_KEYS_DIRECTIVE) {
            Some(existing) if !json_eq(existing, &retain) => {
                return Err(PatchError::invalid(format!(
                    "{} and {} are not deep equal: this may happen when calculating the 3-way diff patch",
                    go_fmt(existing),
                    go_fmt(&retain)
                )));
            }
            Some(_) => {}
            None => {
                original.insert(RETAIN_KEYS_DIRECTIVE.to_string(), retain);
            }
        }
    }

    // mergePatchIntoOriginal, patch-merging mode.
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for directive in directives {
        let Some(order) = patch.shift_remove(&directive) else {
            continue;
        };
        match original.get(&directive) {
            Some(existing) if !json_eq(existing, &order) => {
                return Err(PatchError::BadSetElementOrderDirective {
                    path: path.render(),
                });
            }
            Some(_) => {}
            None => {
                original.insert(directive.clone(), order.clone());
            }
        }
        let SetOrder {
            field_name,
            field_path,
            order,
            original_list,
            patch_list,
            field,
        } = SetOrder::read(&directive, order, &original, &patch, ty, path)?;
        let server_order = original_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list) {
            (None, None) => continue,
            (Some(list), None) | (None, Some(list)) => list,
            (Some(original_list), Some(patch_list)) => {
                merge_patch_lists(original_list, patch_list, field, &field_path)?
            }
        };
        let ordered = order_merged_list(merged, &order, &server_order, field, &field_path)?;
        original.insert(field_name.clone(), Value::Array(ordered));
        patch.shift_remove(&field_name);
    }

    for (key, patch_value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            original.insert(key, patch_value);
            continue;
        }
        if patch_value.is_null() {
            original.insert(key, Value::Null);
            continue;
        }
        let field = ty.field(&key);
        let field_path = path.child(&key);
        let Some(original_value) = original.get_mut(&key) else {
            if let Some(value) = remove_directives(patch_value) {
                original.insert(key, value);
            }
            continue;
        };
        match (original_value, patch_value) {
            (Value::Object(o), Value::Object(p)) if !field.meta.replace => {
                let merged = merge_patches(std::mem::take(o), p, field.ty, &field_path)?;
                *o = merged;
            }
            (Value::Array(o), Value::Array(p)) if field.meta.list.merges() => {
                let merged = merge_patch_lists(std::mem::take(o), p, field, &field_path)?;
                *o = merged;
            }
            (original_value, patch_value) => match remove_directives(patch_value) {
                Some(value) => *original_value = value,
                None => {
                    original.shift_remove(&key);
                }
            },
        }
    }
    Ok(original)
}

/// mergeSlice in patch-merging mode: new elements are kept as they are, `$patch: delete`
/// elements of the original patch go last.
fn merge_patch_lists(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Field,
    path: &Path,
) -> Result<Vec<Value>, PatchError> {
    let Some(are_maps) = elements_are_maps(&original, &patch, path)? else {
        return Ok(original);
    };
    if !are_maps {
        let mut merged = original.clone();
        for item in &patch {
            if !merged.iter().any(|m| json_eq(m, item)) {
                merged.push(item.clone());
            }
        }
        let (patch_items, server_only) = partition_by_presence(merged, &patch, None, path)?;
        return normalize_element_order(patch_items, server_only, &patch, &original, None, path);
    }
    let Some(key) = field.meta.list.merge_key() else {
        return Err(PatchError::NoMergeKey {
            path: path.render(),
        });
    };
    let mut slice = GoSlice::new(original);
    let rest = match merge_slice_with_special_elements(&mut slice, patch, key, path)? {
        Special::Replace(rest) => {
            return normalize_slice_order(rest.clone(), &rest, Some(key), path);
        }
        Special::Merge(rest) => rest,
    };
    let server_order = slice.items.clone();
    let mut merged = slice.items;
    for item in &rest {
        let value = key_value(item, key, path)?;
        let Value::Object(patch_map) = item else {
            return Err(type_mismatch(path, "map", item));
        };
        let found = merged
            .iter()
            .position(|element| element.get(key).is_some_and(|v| json_eq(v, value)));
        match found.and_then(|index| merged.get_mut(index)) {
            Some(Value::Object(element)) => {
                let combined =
                    merge_patches(std::mem::take(element), patch_map.clone(), field.ty, path)?;
                *element = combined;
            }
            Some(other) => return Err(type_mismatch(path, "map", other)),
            None => merged.push(item.clone()),
        }
    }
    let (patch_items, server_only) = partition_by_presence(merged, &rest, Some(key), path)?;
    normalize_element_order(
        patch_items,
        server_only,
        &rest,
        &server_order,
        Some(key),
        path,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::{
        apply_strategic_merge_patch, create_three_way_strategic_merge_patch,
        create_two_way_strategic_merge_patch,
    };

    fn yaml(text: &str) -> Value {
        serde_saphyr::from_str(text).unwrap()
    }

    /// The last applied configuration: `kubectl apply` of this manifest created the Deployment.
    fn applied_v1() -> Value {
        yaml(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, stage: beta}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        env:
        - {name: MODE, value: prod}
        - {name: OLD, value: "1"}
"#,
        )
    }

    /// The Deployment as the API server holds it: defaulted, with status and server fields.
    fn live_v1() -> Value {
        yaml(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  uid: 6f1b2c3d-0000-4000-8000-000000000001
  resourceVersion: "41"
  generation: 1
  labels: {app: web, stage: beta}
spec:
  replicas: 1
  progressDeadlineSeconds: 600
  revisionHistoryLimit: 10
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        imagePullPolicy: IfNotPresent
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
        env:
        - {name: MODE, value: prod}
        - {name: OLD, value: "1"}
      restartPolicy: Always
      dnsPolicy: ClusterFirst
status:
  observedGeneration: 1
  replicas: 1
  conditions:
  - {type: Available, status: "True"}
"#,
        )
    }

    fn manifest_v2() -> Value {
        let mut v2 = applied_v1();
        v2["metadata"]["labels"] = json!({"app": "web"});
        v2["spec"]["replicas"] = json!(3);
        v2["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        v2["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "MODE", "value": "prod"}]);
        v2
    }

    #[test]
    fn a_three_way_patch_is_what_kubectl_apply_sends_and_keeps_server_fields() {
        let patch = create_three_way_strategic_merge_patch(
            Some(&applied_v1()),
            &manifest_v2(),
            &live_v1(),
            "apps/v1",
            "Deployment",
        )
        .unwrap();
        assert_eq!(
            patch.to_string(),
            json!({
                "metadata": {"labels": {"stage": null}},
                "spec": {
                    "replicas": 3,
                    "template": {"spec": {
                        "$setElementOrder/containers": [{"name": "web"}],
                        "containers": [{
                            "$setElementOrder/env": [{"name": "MODE"}],
                            "env": [{"$patch": "delete", "name": "OLD"}],
                            "image": "nginx:1.27",
                            "name": "web"
                        }]
                    }}
                }
            })
            .to_string(),
            "keys are sorted as kubectl's patch bytes"
        );

        let live_v2 =
            apply_strategic_merge_patch(&live_v1(), &patch, "apps/v1", "Deployment").unwrap();
        let mut want = live_v1();
        want["metadata"]["labels"] = json!({"app": "web"});
        want["spec"]["replicas"] = json!(3);
        let container = &mut want["spec"]["template"]["spec"]["containers"][0];
        container["image"] = json!("nginx:1.27");
        container["env"] = json!([{"name": "MODE", "value": "prod"}]);
        assert_eq!(live_v2, want);

        // Applying the same manifest again changes nothing: kubectl reports "unchanged".
        let again = create_three_way_strategic_merge_patch(
            Some(&manifest_v2()),
            &manifest_v2(),
            &live_v2,
            "apps/v1",
            "Deployment",
        )
        .unwrap();
        assert_eq!(again, json!({}));
    }

    #[test]
    fn a_three_way_patch_without_last_applied_configuration_deletes_nothing() {
        let patch = create_three_way_strategic_merge_patch(
            None,
            &manifest_v2(),
            &live_v1(),
            "apps/v1",
            "Deployment",
        )
        .unwrap();
        assert!(patch["metadata"].is_null(), "{patch}");
        let container = &patch["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "nginx:1.27");
        assert!(container.get("env").is_none(), "{patch}");
    }

    #[test]
    fn a_three_way_patch_deletes_a_removed_finalizer_and_keeps_a_server_added_one() {
        let original =
            json!({"metadata": {"name": "c", "finalizers": ["example.com/a", "example.com/b"]}});
        let modified = json!({"metadata": {"name": "c", "finalizers": ["example.com/a"]}});
        let current = json!({"metadata": {"name": "c", "uid": "1",
            "finalizers": ["example.com/a", "example.com/b", "kubernetes.io/pvc-protection"]}});
        let patch = create_three_way_strategic_merge_patch(
            Some(&original),
            &modified,
            &current,
            "v1",
            "ConfigMap",
        )
        .unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {
                "$deleteFromPrimitiveList/finalizers": ["example.com/b"],
                "$setElementOrder/finalizers": ["example.com/a"]
            }})
        );
        let applied = apply_strategic_merge_patch(&current, &patch, "v1", "ConfigMap").unwrap();
        assert_eq!(
            applied["metadata"]["finalizers"],
            json!(["example.com/a", "kubernetes.io/pvc-protection"])
        );
    }

    #[test]
    fn a_three_way_patch_switching_the_deployment_strategy_retains_only_its_keys() {
        let original = json!({"spec": {"strategy": {"type": "RollingUpdate"}}});
        let modified = json!({"spec": {"strategy": {"type": "Recreate"}}});
        let current = live_v1();
        let patch = create_three_way_strategic_merge_patch(
            Some(&original),
            &modified,
            &current,
            "apps/v1",
            "Deployment",
        )
        .unwrap();
        assert_eq!(
            patch,
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
        );
        let applied =
            apply_strategic_merge_patch(&current, &patch, "apps/v1", "Deployment").unwrap();
        assert_eq!(applied["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn a_two_way_patch_removes_a_container_by_name_and_orders_the_rest() {
        let original = json!({"spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "b", "image": "y"}, {"name": "c", "image": "z"}
        ]}});
        let modified = json!({"spec": {"containers": [
            {"name": "c", "image": "z"}, {"name": "a", "image": "x2"}
        ]}});
        let patch =
            create_two_way_strategic_merge_patch(&original, &modified, "v1", "Pod").unwrap();
        assert_eq!(
            patch,
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
                "containers": [{"image": "x2", "name": "a"}, {"$patch": "delete", "name": "b"}]
            }})
        );
        assert_eq!(
            apply_strategic_merge_patch(&original, &patch, "v1", "Pod").unwrap(),
            modified
        );
    }

    #[test]
    fn creating_a_patch_needs_objects_and_merge_keys() {
        let err = create_three_way_strategic_merge_patch(None, &json!([]), &json!({}), "v1", "Pod")
            .unwrap_err();
        assert!(matches!(err, crate::PatchError::InvalidDocument { .. }));
        let err = create_two_way_strategic_merge_patch(
            &json!({"spec": {"containers": [{"name": "a"}]}}),
            &json!({"spec": {"containers": [{"image": "b"}]}}),
            "v1",
            "Pod",
        )
        .unwrap_err();
        assert!(
            matches!(err, crate::PatchError::MissingMergeKey { .. }),
            "{err}"
        );
    }
}
