//! The patch types of the Kubernetes API over `serde_json` values: JSON merge patch, JSON patch
//! and strategic merge patch as kube-apiserver applies them, and kubectl's three-way merge patch.
//! Pure functions: no I/O, no typed objects; strategic merge strategies come from a built-in table.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::print_stdout, clippy::dbg_macro)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod jsonpatch;
mod merge;
mod schema;
mod strategic;
mod strategic_diff;

#[cfg(test)]
mod strategic_tests;

pub use error::PatchError;
pub use schema::{FieldPatchMeta, ListStrategy, field_patch_meta, is_known_kind, list_strategy};

use serde_json::Value;

/// Applies an RFC 7386 JSON merge patch (`application/merge-patch+json`), as kube-apiserver does
/// with evanphx/json-patch `MergePatch`: objects merge recursively, `null` deletes a key, any
/// other value (lists included) replaces the target's. The patch must be a JSON object.
pub fn apply_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    merge::apply_merge_patch(target, patch)
}

/// Applies an RFC 6902 JSON patch (`application/json-patch+json`), a list of `add`, `remove`,
/// `replace`, `move`, `copy` and `test` operations, all or nothing; at most 10000 operations, as
/// kube-apiserver allows. The json-patch crate does the work.
pub fn apply_json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    jsonpatch::apply_json_patch(target, patch)
}

/// Applies a strategic merge patch (`application/strategic-merge-patch+json`) as
/// k8s.io/apimachinery/pkg/util/strategicpatch (patch.go) `StrategicMergeMapPatch` does for
/// kube-apiserver: maps merge recursively, `null` deletes a key, lists merge per the field's
/// `patchStrategy`/`patchMergeKey` (see [`list_strategy`]) or are replaced, and the directives
/// `$patch: replace|delete` (maps and list elements), `$retainKeys`,
/// `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>` are honoured.
/// `$patch: merge` is refused, as upstream refuses it.
///
/// `api_version` and `kind` name the root object, e.g. `("apps/v1", "Deployment")` or
/// `("v1", "Pod")`; kinds without a table (see [`is_known_kind`]) merge only `metadata` lists.
/// Target and patch must be JSON objects.
pub fn apply_strategic_merge_patch(
    target: &Value,
    patch: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    strategic::apply(target, patch, api_version, kind)
}

/// Creates a three-way JSON merge patch like kubectl's for types without a schema
/// (k8s.io/apimachinery/pkg/util/jsonmergepatch `CreateThreeWayJSONMergePatch`): fields removed
/// from `original` (the last applied configuration) and absent from `modified` are deleted
/// (`null`); fields of `modified` that differ from `current` are set; fields only in `current`
/// (set by the server or other writers) are kept. Lists are replaced whole. Without `original`
/// nothing is deleted. The result is `{}` when nothing needs to change; apply it with
/// [`apply_merge_patch`].
pub fn create_three_way_merge_patch(
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
) -> Result<Value, PatchError> {
    merge::create_three_way_merge_patch(original, modified, current)
}

/// Creates a three-way strategic merge patch as `kubectl apply` does
/// (strategicpatch `CreateThreeWayMergePatch`, overwriting conflicts): the changes and additions
/// from `current` to `modified`, plus the deletions from `original` (the last applied
/// configuration) to `modified`. Lists merge per [`list_strategy`], with `$setElementOrder`,
/// `$deleteFromPrimitiveList`, `$retainKeys` and `$patch: delete` directives as kubectl emits
/// them; fields only in `current` are kept. Keys are sorted as Go writes them; the result is `{}`
/// when nothing needs to change. Apply it with [`apply_strategic_merge_patch`].
pub fn create_three_way_strategic_merge_patch(
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    strategic_diff::create_three_way(original, modified, current, api_version, kind)
}

/// Creates the strategic merge patch turning `original` into `modified`
/// (strategicpatch `CreateTwoWayMergePatch`): fields missing from `modified` are deleted.
pub fn create_two_way_strategic_merge_patch(
    original: &Value,
    modified: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Value, PatchError> {
    strategic_diff::create_two_way(original, modified, api_version, kind)
}
