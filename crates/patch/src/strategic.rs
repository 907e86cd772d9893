//! Applying a strategic merge patch, following `StrategicMergeMapPatch` of
//! k8s.io/apimachinery/pkg/util/strategicpatch/patch.go (mergeMap, mergeSlice,
//! mergePatchIntoOriginal, applyRetainKeysDirective, normalizeElementOrder) with the options the
//! API server uses: parallel lists are merged and unmatched nulls are dropped.
//!
//! Element order follows upstream exactly, including the effect of its in-place slice writes
//! (see [`GoSlice`]). Deliberate differences, none reachable by patches kubectl creates:
//! - where upstream copies a patch value verbatim into the result (a key absent from the target,
//!   a list element new to it, the content of `$patch: replace`), we merge it into an empty
//!   value, so the result holds no `null`s or directives a typed decode would reject (upstream
//!   strips `null`s and `$patch` maps there too: discardNullValuesFromPatch, removeDirectives);
//! - `$deleteFromPrimitiveList` on an untagged list deletes, where upstream would store the
//!   deletion list as the list.

use serde_json::{Map, Value};

use crate::error::{PatchError, go_fmt, json_type};
use crate::merge::{json_eq, same_json_type};
use crate::schema::{Field, ListStrategy, Ty};

pub(crate) const DIRECTIVE_MARKER: &str = "$patch";
pub(crate) const DELETE_DIRECTIVE: &str = "delete";
pub(crate) const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
pub(crate) const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
pub(crate) const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
pub(crate) const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

pub(crate) type Object = Map<String, Value>;

/// Field path from the root, for error messages.
#[derive(Default)]
pub(crate) struct Path(Vec<String>);

impl Path {
    pub(crate) fn child(&self, key: &str) -> Path {
        let mut segments = self.0.clone();
        segments.push(key.to_string());
        Path(segments)
    }

    pub(crate) fn render(&self) -> String {
        if self.0.is_empty() {
            ".".to_string()
        } else {
            self.0.join(".")
        }
    }
}

/// See [`crate::apply_strategic_merge_patch`].
pub(crate) fn apply(
    target: &Value,
    patch: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    let Value::Object(target) = target else {
        return Err(PatchError::invalid(format!(
            "the target of a strategic merge patch must be a JSON object, not a {}",
            json_type(target)
        )));
    };
    let Value::Object(patch) = patch else {
        return Err(PatchError::invalid(format!(
            "a strategic merge patch must be a JSON object, not a {}",
            json_type(patch)
        )));
    };
    let root = Ty::root(api_version, kind);
    merge_map(target.clone(), patch.clone(), root, &Path::default()).map(Value::Object)
}

/// mergeMap: merges `patch` into `original`, whose Go type is `ty`.
fn merge_map(
    mut original: Object,
    mut patch: Object,
    ty: Ty,
    path: &Path,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        // handleDirectiveInMergeMap
        return match directive.as_str() {
            Some(REPLACE_DIRECTIVE) => {
                patch.shift_remove(DIRECTIVE_MARKER);
                Ok(clean_object(&patch))
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

    apply_retain_keys_directive(&mut original, &mut patch, path)?;
    merge_set_element_order_lists(&mut original, &mut patch, ty, path)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            let Some(field) = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX) else {
                return Err(PatchError::BadPrimitiveListDirective {
                    path: path.render(),
                });
            };
            (field.to_string(), true)
        } else {
            (key, false)
        };

        // A null deletes the key; a null for a key the target lacks is dropped.
        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        if is_delete_list && !patch_value.is_array() {
            return Err(PatchError::BadPrimitiveListDirective {
                path: path.render(),
            });
        }

        let field = ty.field(&key);
        let field_path = path.child(&key);
        let Some(original_value) = original.get_mut(&key) else {
            if !is_delete_list && let Some(value) = new_value(patch_value, field, &field_path)? {
                original.insert(key, value);
            }
            continue;
        };
        if !same_json_type(original_value, &patch_value) {
            if !is_delete_list {
                match new_value(patch_value, field, &field_path)? {
                    Some(value) => *original_value = value,
                    None => {
                        original.shift_remove(&key);
                    }
                }
            }
            continue;
        }
        match (original_value, patch_value) {
            (Value::Object(original_map), Value::Object(patch_map)) => {
                let merged = if field.meta.replace {
                    clean_object(&patch_map)
                } else {
                    merge_map(
                        std::mem::take(original_map),
                        patch_map,
                        field.ty,
                        &field_path,
                    )?
                };
                *original_map = merged;
            }
            (Value::Array(original_list), Value::Array(patch_list)) => {
                let merged = merge_list(
                    std::mem::take(original_list),
                    patch_list,
                    field,
                    is_delete_list,
                    &field_path,
                )?;
                *original_list = merged;
            }
            (original_value, patch_value) => *original_value = patch_value,
        }
    }
    Ok(original)
}

/// The value for a key the target lacks (or holds with another JSON type): the patch value
/// merged into an empty value; `None` when it is a map saying `$patch: delete`.
fn new_value(patch_value: Value, field: Field, path: &Path) -> Result<Option<Value>, PatchError> {
    match patch_value {
        Value::Object(patch_map) => {
            if patch_map
                .get(DIRECTIVE_MARKER)
                .is_some_and(|d| d == DELETE_DIRECTIVE)
            {
                return Ok(None);
            }
            if field.meta.replace {
                return Ok(Some(Value::Object(clean_object(&patch_map))));
            }
            merge_map(Object::new(), patch_map, field.ty, path).map(|m| Some(Value::Object(m)))
        }
        Value::Array(patch_list) => {
            merge_list(Vec::new(), patch_list, field, false, path).map(|l| Some(Value::Array(l)))
        }
        scalar => Ok(Some(scalar)),
    }
}

/// A patch value with `null` members and directives removed (upstream
/// discardNullValuesFromPatch + removeDirectives); `None` for a map holding `$patch`.
fn clean(value: &Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE_MARKER) {
                None
            } else {
                Some(Value::Object(clean_object(map)))
            }
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|item| match item {
                    Value::Null => Some(Value::Null),
                    item => clean(item),
                })
                .collect(),
        )),
        scalar => Some(scalar.clone()),
    }
}

fn clean_object(map: &Object) -> Object {
    map.iter()
        .filter(|(key, value)| !value.is_null() && !is_directive_key(key))
        .filter_map(|(key, value)| clean(value).map(|v| (key.clone(), v)))
        .collect()
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE_MARKER
        || key == RETAIN_KEYS_DIRECTIVE
        || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
}

/// extractKey: the field name of `<prefix>/<field>`.
pub(crate) fn extract_key<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    match key.split_once('/') {
        Some((found, field)) if found == prefix => Some(field),
        _ => None,
    }
}

/// applyRetainKeysDirective: clears the keys of `original` not listed in `$retainKeys`, after
/// checking that the patch itself sets no key outside the list.
fn apply_retain_keys_directive(
    original: &mut Object,
    patch: &mut Object,
    path: &Path,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRetainKeysDirective {
            path: path.render(),
        });
    };
    let retained = |key: &str| retain.iter().any(|k| k.as_str() == Some(key));
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !retained(key) {
            return Err(PatchError::RetainKeysMismatch {
                path: path.render(),
                key: key.clone(),
            });
        }
    }
    original.retain(|key, _| retained(key));
    Ok(())
}

/// A `$setElementOrder/<field>` directive read against the lists it orders, and checked against
/// the patch list (used when applying and when creating patches).
pub(crate) struct SetOrder {
    pub(crate) field_name: String,
    pub(crate) field_path: Path,
    pub(crate) order: Vec<Value>,
    pub(crate) original_list: Option<Vec<Value>>,
    pub(crate) patch_list: Option<Vec<Value>>,
    pub(crate) field: Field,
}

impl SetOrder {
    pub(crate) fn read(
        directive: &str,
        order: Value,
        original: &Object,
        patch: &Object,
        ty: Ty,
        path: &Path,
    ) -> Result<SetOrder, PatchError> {
        let Some(field_name) = extract_key(directive, SET_ELEMENT_ORDER_PREFIX) else {
            return Err(PatchError::BadSetElementOrderDirective {
                path: path.render(),
            });
        };
        let field_name = field_name.to_string();
        let field_path = path.child(&field_name);
        let Value::Array(order) = order else {
            return Err(PatchError::BadSetElementOrderDirective {
                path: field_path.render(),
            });
        };
        let list = |obj: &Object| match obj.get(&field_name) {
            None => Ok(None),
            Some(Value::Array(list)) => Ok(Some(list.clone())),
            Some(other) => Err(type_mismatch(&field_path, "list", other)),
        };
        let original_list = list(original)?;
        let patch_list = list(patch)?;
        let field = ty.field(&field_name);
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            field.meta.list.merge_key(),
            &field_path,
        )?;
        Ok(SetOrder {
            field_name,
            field_path,
            order,
            original_list,
            patch_list,
            field,
        })
    }
}

/// Puts a merged list in the directive's order: its elements first, server-only ones by their
/// position in `server_order` (normalizeElementOrder).
pub(crate) fn order_merged_list(
    merged: Vec<Value>,
    order: &[Value],
    server_order: &[Value],
    field: Field,
    field_path: &Path,
) -> Result<Vec<Value>, PatchError> {
    let keyed = field
        .meta
        .list
        .merge_key()
        .filter(|_| merged.iter().all(Value::is_object));
    let (patch_items, server_only) = partition_by_presence(merged, order, keyed, field_path)?;
    normalize_element_order(
        patch_items,
        server_only,
        order,
        server_order,
        keyed,
        field_path,
    )
}

/// mergePatchIntoOriginal: merges each list that has a `$setElementOrder/<field>` directive and
/// orders it: elements in the directive's order, the target's other elements interleaved by
/// their position in the target. Removes the directive and the list from `patch`.
fn merge_set_element_order_lists(
    original: &mut Object,
    patch: &mut Object,
    ty: Ty,
    path: &Path,
) -> Result<(), PatchError> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|key| key.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for directive in directives {
        let Some(order) = patch.shift_remove(&directive) else {
            continue;
        };
        let SetOrder {
            field_name,
            field_path,
            order,
            original_list,
            patch_list,
            field,
        } = SetOrder::read(&directive, order, original, patch, ty, path)?;

        let (merged, server_order) = match (original_list, patch_list) {
            (None, None) => continue,
            (Some(original_list), None) => (original_list.clone(), original_list),
            (original_list, Some(patch_list)) => {
                let merged = merge_list_with_backing(
                    original_list.unwrap_or_default(),
                    patch_list,
                    field,
                    false,
                    &field_path,
                )?;
                (merged.list, merged.backing)
            }
        };
        let ordered = order_merged_list(merged, &order, &server_order, field, &field_path)?;
        original.insert(field_name.clone(), Value::Array(ordered));
        patch.shift_remove(&field_name);
    }
    Ok(())
}

pub(crate) fn type_mismatch(path: &Path, expected: &'static str, found: &Value) -> PatchError {
    PatchError::TypeMismatch {
        path: path.render(),
        expected,
        found: json_type(found),
    }
}

pub(crate) fn missing_merge_key(path: &Path, element: &Value, merge_key: &str) -> PatchError {
    PatchError::MissingMergeKey {
        path: path.render(),
        merge_key: merge_key.to_string(),
        element: go_fmt(element),
    }
}

pub(crate) fn has_delete_directive(value: &Value) -> bool {
    value
        .get(DIRECTIVE_MARKER)
        .is_some_and(|d| d == DELETE_DIRECTIVE)
}

/// validatePatchWithSetOrderList: the patch list's elements (deletions aside) must appear in the
/// `$setElementOrder` list, in the same relative order.
pub(crate) fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
    path: &Path,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = match merge_key {
        Some(_) => {
            let mut kept = Vec::new();
            for item in patch_list {
                if !item.is_object() {
                    return Err(type_mismatch(path, "map", item));
                }
                if !has_delete_directive(item) {
                    kept.push(item);
                }
            }
            kept
        }
        None => patch_list.iter().collect(),
    };
    let (mut patch_index, mut order_index) = (0, 0);
    while patch_index < non_delete.len() && order_index < order.len() {
        let item = non_delete[patch_index];
        if item.get(DIRECTIVE_MARKER).is_some() {
            patch_index += 1;
            continue;
        }
        if merge_key_value_equal(item, &order[order_index], merge_key, path)? {
            patch_index += 1;
        }
        order_index += 1;
    }
    if patch_index < non_delete.len() && order_index >= order.len() {
        return Err(PatchError::SetElementOrderMismatch {
            path: path.render(),
            patch_list: go_fmt(&Value::Array(patch_list.to_vec())),
            order: go_fmt(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

/// mergeKeyValueEqual.
fn merge_key_value_equal(
    left: &Value,
    right: &Value,
    merge_key: Option<&str>,
    path: &Path,
) -> Result<bool, PatchError> {
    let Some(key) = merge_key else {
        return Ok(json_eq(left, right));
    };
    let left_value = key_value(left, key, path)?;
    let right_value = key_value(right, key, path)?;
    Ok(json_eq(left_value, right_value))
}

/// The merge key's value of a list element, which must be a map holding it.
pub(crate) fn key_value<'a>(
    item: &'a Value,
    key: &str,
    path: &Path,
) -> Result<&'a Value, PatchError> {
    let Value::Object(map) = item else {
        return Err(type_mismatch(path, "map", item));
    };
    map.get(key)
        .ok_or_else(|| missing_merge_key(path, item, key))
}

/// A merged list, and what the target list's Go backing array holds afterwards (see [`GoSlice`]).
struct MergedList {
    list: Vec<Value>,
    backing: Vec<Value>,
}

/// mergeSliceHandler: merges `patch` into `original` per the field's strategy.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Field,
    is_delete_list: bool,
    path: &Path,
) -> Result<Vec<Value>, PatchError> {
    merge_list_with_backing(original, patch, field, is_delete_list, path).map(|m| m.list)
}

fn merge_list_with_backing(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Field,
    is_delete_list: bool,
    path: &Path,
) -> Result<MergedList, PatchError> {
    let list = match field.meta.list {
        // Upstream would make the deletion list itself the value of an untagged list; kubectl
        // never sends one, and deleting is what the directive asks for.
        ListStrategy::Replace if is_delete_list => delete_from_slice(original.clone(), &patch),
        ListStrategy::Replace => patch.iter().filter_map(clean).collect(),
        ListStrategy::MergeByKey(key) => {
            return merge_slice(original, patch, field.ty, Some(key), is_delete_list, path);
        }
        ListStrategy::MergePrimitives => {
            return merge_slice(original, patch, field.ty, None, is_delete_list, path);
        }
    };
    Ok(MergedList {
        list,
        backing: original,
    })
}

/// sliceElementType: whether the elements of both lists are maps; errors for lists of lists and
/// mixed element types. `None` when both lists are empty.
pub(crate) fn elements_are_maps(
    original: &[Value],
    patch: &[Value],
    path: &Path,
) -> Result<Option<bool>, PatchError> {
    let mut first: Option<&Value> = None;
    for item in original.iter().chain(patch) {
        if item.is_array() {
            return Err(PatchError::ListOfLists {
                path: path.render(),
            });
        }
        match first {
            None => first = Some(item),
            Some(first) if !same_json_type(first, item) => {
                return Err(PatchError::MixedListElements {
                    path: path.render(),
                    elements: format!(
                        "[{} {}]",
                        go_fmt(&Value::Array(original.to_vec())),
                        go_fmt(&Value::Array(patch.to_vec()))
                    ),
                });
            }
            Some(_) => {}
        }
    }
    Ok(first.map(Value::is_object))
}

/// The target list as upstream's Go code manipulates it. Upstream deletes from it in place
/// (`append(s[:i], s[i+1:]...)`) and appends new elements to it (`append(s, v)`, which writes
/// into the same backing array while it has room), and mergePatchIntoOriginal then orders the
/// merged list by that backing array. The resulting orders are what upstream's tests expect
/// (patch_test.go "add map and delete map from merging list ... with conflict"), so we replay
/// those writes. The target comes from runtime.DefaultUnstructuredConverter, whose slices have
/// no spare capacity.
pub(crate) struct GoSlice {
    /// The current slice (upstream's `original` variable).
    pub(crate) items: Vec<Value>,
    /// The backing array of the target list, as long as the target list.
    backing: Vec<Value>,
    /// Whether `items` still shares `backing` (no append has reallocated it yet).
    shared: bool,
}

impl GoSlice {
    pub(crate) fn new(items: Vec<Value>) -> GoSlice {
        GoSlice {
            backing: items.clone(),
            items,
            shared: true,
        }
    }

    fn remove(&mut self, index: usize) {
        if self.shared {
            let len = self.items.len();
            for i in index..len.saturating_sub(1) {
                if let Some(next) = self.backing.get(i + 1).cloned()
                    && let Some(slot) = self.backing.get_mut(i)
                {
                    *slot = next;
                }
            }
        }
        self.items.remove(index);
    }

    fn push(&mut self, item: Value) {
        if self.shared {
            match self.backing.get_mut(self.items.len()) {
                Some(slot) => *slot = item.clone(),
                None => self.shared = false,
            }
        }
        self.items.push(item);
    }

    fn set(&mut self, index: usize, item: Value) {
        if self.shared
            && let Some(slot) = self.backing.get_mut(index)
        {
            *slot = item.clone();
        }
        if let Some(slot) = self.items.get_mut(index) {
            *slot = item;
        }
    }
}

/// mergeSlice: merges two lists of a field tagged `patchStrategy:"merge"`.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem_ty: Ty,
    merge_key: Option<&'static str>,
    is_delete_list: bool,
    path: &Path,
) -> Result<MergedList, PatchError> {
    let Some(are_maps) = elements_are_maps(&original, &patch, path)? else {
        return Ok(MergedList {
            list: original.clone(),
            backing: original,
        });
    };

    if !are_maps {
        if merge_key.is_some() {
            // Upstream fails the same way once it looks for the merge key in a scalar.
            let scalar = original.iter().chain(&patch).next().unwrap_or(&Value::Null);
            return Err(type_mismatch(path, "map", scalar));
        }
        if is_delete_list {
            return Ok(MergedList {
                list: delete_from_slice(original.clone(), &patch),
                backing: original,
            });
        }
        let mut merged = original.clone();
        for item in &patch {
            if !merged.iter().any(|m| json_eq(m, item)) {
                merged.push(item.clone());
            }
        }
        let (patch_items, server_only) = partition_by_presence(merged, &patch, None, path)?;
        let list =
            normalize_element_order(patch_items, server_only, &patch, &original, None, path)?;
        return Ok(MergedList {
            list,
            backing: original,
        });
    }

    if is_delete_list {
        return Err(PatchError::BadPrimitiveListDirective {
            path: path.render(),
        });
    }
    let Some(key) = merge_key else {
        return Err(PatchError::NoMergeKey {
            path: path.render(),
        });
    };
    let mut slice = GoSlice::new(original);
    match merge_slice_with_special_elements(&mut slice, patch, key, path)? {
        Special::Replace(rest) => {
            let mut list = Vec::with_capacity(rest.len());
            for item in rest {
                list.push(match item {
                    Value::Object(map) => {
                        Value::Object(merge_map(Object::new(), map, elem_ty, path)?)
                    }
                    other => other,
                });
            }
            // normalizeSliceOrder checks every element for the merge key.
            for item in &list {
                key_value(item, key, path)?;
            }
            Ok(MergedList {
                list,
                backing: slice.backing,
            })
        }
        Special::Merge(patch) => {
            let server_order = slice.items.clone();
            merge_slice_without_special_elements(&mut slice, &patch, key, elem_ty, path)?;
            let merged = std::mem::take(&mut slice.items);
            let (patch_items, server_only) =
                partition_by_presence(merged, &patch, Some(key), path)?;
            let list = normalize_element_order(
                patch_items,
                server_only,
                &patch,
                &server_order,
                Some(key),
                path,
            )?;
            Ok(MergedList {
                list,
                backing: slice.backing,
            })
        }
    }
}

/// What remains of a patch list once its `$patch` elements are applied.
pub(crate) enum Special {
    /// Merge these elements into the target list.
    Merge(Vec<Value>),
    /// `$patch: replace`: these elements are the list.
    Replace(Vec<Value>),
}

/// mergeSliceWithSpecialElements: applies the `$patch` elements of a patch list: `delete`
/// removes every target element with that merge key value, `replace` makes the rest of the patch
/// the list, `merge` is refused as upstream refuses it.
pub(crate) fn merge_slice_with_special_elements(
    slice: &mut GoSlice,
    patch: Vec<Value>,
    key: &str,
    path: &Path,
) -> Result<Special, PatchError> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE_MARKER) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let Some(value) = item.get(key) else {
                    return Err(missing_merge_key(path, &item, key));
                };
                // deleteMatchingEntries
                while let Some(index) = slice
                    .items
                    .iter()
                    .position(|element| element.get(key).is_some_and(|v| json_eq(v, value)))
                {
                    slice.remove(index);
                }
            }
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => {
                return Err(PatchError::UnsupportedDirective {
                    path: path.render(),
                    directive: MERGE_DIRECTIVE.to_string(),
                    message: "merging lists cannot yet be specified in the patch".to_string(),
                });
            }
            _ => {
                return Err(PatchError::UnsupportedDirective {
                    path: path.render(),
                    directive: go_fmt(directive),
                    message: format!(
                        "unknown patch type: {} in map: {}",
                        go_fmt(directive),
                        go_fmt(&item)
                    ),
                });
            }
        }
    }
    Ok(if replace {
        Special::Replace(rest)
    } else {
        Special::Merge(rest)
    })
}

/// mergeSliceWithoutSpecialElements: merges each patch element into the first target element
/// with the same merge key value, or appends it.
fn merge_slice_without_special_elements(
    slice: &mut GoSlice,
    patch: &[Value],
    key: &str,
    elem_ty: Ty,
    path: &Path,
) -> Result<(), PatchError> {
    for item in patch {
        let value = key_value(item, key, path)?;
        let Value::Object(patch_map) = item else {
            return Err(type_mismatch(path, "map", item));
        };
        let mut found = None;
        for (index, element) in slice.items.iter().enumerate() {
            let Value::Object(element_map) = element else {
                return Err(type_mismatch(path, "map", element));
            };
            if element_map.get(key).is_some_and(|v| json_eq(v, value)) {
                found = Some((index, element_map.clone()));
                break;
            }
        }
        match found {
            Some((index, element_map)) => {
                let merged = merge_map(element_map, patch_map.clone(), elem_ty, path)?;
                slice.set(index, Value::Object(merged));
            }
            None => {
                let added = merge_map(Object::new(), patch_map.clone(), elem_ty, path)?;
                slice.push(Value::Object(added));
            }
        }
    }
    Ok(())
}

/// deleteFromSlice: removes every element equal to one of `to_delete`.
fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|item| !to_delete.iter().any(|d| json_eq(d, item)))
        .collect()
}

/// partitionMapsByPresentInList / partitionPrimitivesByPresentInList: the elements of `list`
/// present in `by` (by merge key value for maps), and the others.
pub(crate) fn partition_by_presence(
    list: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
    path: &Path,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::with_capacity(list.len());
    let mut absent = Vec::new();
    for item in list {
        let found = match merge_key {
            Some(key) => {
                let value = key_value(&item, key, path)?;
                by.iter()
                    .any(|b| b.get(key).is_some_and(|v| json_eq(v, value)))
            }
            None => by.iter().any(|b| json_eq(b, &item)),
        };
        if found {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// index: the position of `item` in `list`, by merge key value for maps.
fn index_of(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    match merge_key {
        Some(key) => {
            let value = item.get(key);
            list.iter()
                .position(|element| match (element.get(key), value) {
                    (Some(a), Some(b)) => json_eq(a, b),
                    (None, None) => true,
                    _ => false,
                })
        }
        None => list.iter().position(|element| json_eq(element, item)),
    }
}

/// normalizeSliceOrder: sorts `to_sort` by position in `order` (stable; elements not in `order`
/// go last), with `$patch: delete` elements at the end.
pub(crate) fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: Option<&str>,
    path: &Path,
) -> Result<Vec<Value>, PatchError> {
    let (mut sorted, deletes): (Vec<Value>, Vec<Value>) = match merge_key {
        Some(key) => {
            for item in to_sort.iter().chain(order) {
                key_value(item, key, path)?;
            }
            to_sort
                .into_iter()
                .partition(|item| !has_delete_directive(item))
        }
        None => (to_sort, Vec::new()),
    };
    sorted.sort_by_key(|item| index_of(order, item, merge_key).unwrap_or(usize::MAX));
    sorted.extend(deletes);
    Ok(sorted)
}

/// normalizeElementOrder: orders patch elements by the patch (or `$setElementOrder`) order and
/// the target's other elements by their target order, then interleaves the two, keeping both
/// relative orders (mergeSortedSlice).
pub(crate) fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
    path: &Path,
) -> Result<Vec<Value>, PatchError> {
    let right = normalize_slice_order(patch_items, patch_order, merge_key, path)?;
    let left = normalize_slice_order(server_only, server_order, merge_key, path)?;

    let mut merged = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                // A server-only element goes first only if both are in the target and it came
                // earlier there.
                match (
                    index_of(server_order, l, merge_key),
                    index_of(server_order, r, merge_key),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        merged.extend(next);
    }
    Ok(merged)
}
