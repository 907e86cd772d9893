//! RFC 6902 JSON patch, applied by the json-patch crate with kube-apiserver's limits.

use serde_json::Value;

use crate::error::PatchError;

/// kube-apiserver's `maxJSONPatchOperations` (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go).
pub(crate) const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

fn op_name(op: &json_patch::PatchOperation) -> &'static str {
    match op {
        json_patch::PatchOperation::Add(_) => "add",
        json_patch::PatchOperation::Remove(_) => "remove",
        json_patch::PatchOperation::Replace(_) => "replace",
        json_patch::PatchOperation::Move(_) => "move",
        json_patch::PatchOperation::Copy(_) => "copy",
        json_patch::PatchOperation::Test(_) => "test",
    }
}

/// See [`crate::apply_json_patch`].
pub(crate) fn apply_json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(operations) = patch else {
        return Err(PatchError::invalid(format!(
            "a JSON patch must be a list of operations, not a {}",
            crate::error::json_type(patch)
        )));
    };
    if operations.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            max: MAX_JSON_PATCH_OPERATIONS,
            got: operations.len(),
        });
    }
    let mut parsed = Vec::with_capacity(operations.len());
    for (index, operation) in operations.iter().enumerate() {
        let operation: json_patch::PatchOperation = serde_json::from_value(operation.clone())
            .map_err(|e| PatchError::invalid(format!("operation {index}: {e}")))?;
        parsed.push(operation);
    }
    // The document is a copy we drop on error, so the variant that does not roll back is enough.
    let mut doc = target.clone();
    json_patch::patch_unsafe(&mut doc, &parsed).map_err(|e| {
        let path = e.path.to_string();
        match e.kind {
            json_patch::PatchErrorKind::TestFailed => PatchError::JsonPatchTestFailed {
                index: e.operation,
                path,
            },
            kind => PatchError::JsonPatchOpFailed {
                index: e.operation,
                op: parsed
                    .get(e.operation)
                    .map_or("unknown", op_name)
                    .to_string(),
                path,
                reason: kind.to_string(),
            },
        }
    })?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use crate::{PatchError, apply_json_patch};
    use serde_json::json;

    fn pod() -> serde_json::Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}
        })
    }

    #[test]
    fn json_patch_adds_removes_and_replaces() {
        let patch = json!([
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
            {"op": "remove", "path": "/metadata/labels/app"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.27"},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "sidecar", "image": "envoy"}}
        ]);
        let got = apply_json_patch(&pod(), &patch).unwrap();
        assert_eq!(
            got,
            json!({
                "metadata": {"name": "web", "labels": {"tier": "front"}},
                "spec": {"containers": [
                    {"name": "app", "image": "nginx:1.27"},
                    {"name": "sidecar", "image": "envoy"}
                ]}
            })
        );
    }

    #[test]
    fn json_patch_moves_copies_and_tests() {
        let patch = json!([
            {"op": "test", "path": "/metadata/name", "value": "web"},
            {"op": "copy", "from": "/metadata/labels", "path": "/metadata/annotations"},
            {"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/name"}
        ]);
        let got = apply_json_patch(&pod(), &patch).unwrap();
        assert_eq!(got["metadata"]["labels"], json!({"name": "web"}));
        assert_eq!(got["metadata"]["annotations"], json!({"app": "web"}));
    }

    #[test]
    fn a_failing_test_op_reports_its_index_and_path_and_leaves_the_target_alone() {
        let target = pod();
        let patch = json!([
            {"op": "replace", "path": "/metadata/name", "value": "other"},
            {"op": "test", "path": "/metadata/labels/app", "value": "db"}
        ]);
        let err = apply_json_patch(&target, &patch).unwrap_err();
        assert_eq!(
            err,
            PatchError::JsonPatchTestFailed {
                index: 1,
                path: "/metadata/labels/app".into()
            }
        );
        assert_eq!(err.http_status(), 422);
        assert_eq!(target, pod());
    }

    #[test]
    fn an_op_on_a_missing_path_reports_which_op_failed() {
        let patch = json!([
            {"op": "add", "path": "/metadata/labels/x", "value": "y"},
            {"op": "remove", "path": "/spec/nodeName"}
        ]);
        let err = apply_json_patch(&pod(), &patch).unwrap_err();
        match &err {
            PatchError::JsonPatchOpFailed {
                index, op, path, ..
            } => {
                assert_eq!(
                    (*index, op.as_str(), path.as_str()),
                    (1, "remove", "/spec/nodeName")
                );
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert_eq!(err.http_status(), 422);

        let err = apply_json_patch(
            &pod(),
            &json!([{"op": "replace", "path": "/spec/missing/x", "value": 1}]),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            PatchError::JsonPatchOpFailed { index: 0, .. }
        ));
    }

    #[test]
    fn malformed_json_patches_are_invalid_documents() {
        for patch in [
            json!({"op": "add"}),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"op": "add", "path": "/a"}]),
            json!([{"op": "add", "path": "no-slash", "value": 1}]),
        ] {
            let err = apply_json_patch(&pod(), &patch).unwrap_err();
            assert!(
                matches!(err, PatchError::InvalidDocument { .. }),
                "{patch}: {err}"
            );
            assert_eq!(err.http_status(), 400);
        }
    }

    #[test]
    fn json_patch_with_too_many_operations_is_refused() {
        let op = json!({"op": "test", "path": "/metadata/name", "value": "web"});
        let patch = serde_json::Value::Array(vec![op; 10_001]);
        let err = apply_json_patch(&pod(), &patch).unwrap_err();
        assert_eq!(
            err,
            PatchError::TooManyOperations {
                max: 10_000,
                got: 10_001
            }
        );
        assert_eq!(err.http_status(), 413);
    }
}
