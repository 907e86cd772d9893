//! The error of every patch function.

use serde_json::Value;

/// Why a patch could not be applied or created. Every variant is the client's fault (a bad
/// patch, or a patch that does not fit the object); [`PatchError::http_status`] gives the status
/// kube-apiserver answers with. Messages of strategic merge patch errors are upstream's
/// (k8s.io/apimachinery/pkg/util/mergepatch/errors.go), values rendered as Go's `%v` does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The patch (or target) document does not have the shape its patch type requires.
    #[error("invalid patch document: {reason}")]
    InvalidDocument {
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON patch has more operations than kube-apiserver accepts.
    #[error("the allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations {
        /// The limit (10000, as kube-apiserver's `maxJSONPatchOperations`).
        max: usize,
        /// Operations in the patch.
        got: usize,
    },
    /// A JSON patch operation other than `test` failed.
    #[error("json patch operation {index} ({op}) failed at path {path:?}: {reason}")]
    JsonPatchOpFailed {
        /// Index of the failed operation in the patch.
        index: usize,
        /// The operation (`add`, `remove`, `replace`, `move`, `copy`).
        op: String,
        /// The JSON pointer the operation applies to.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// A JSON patch `test` operation found a different value.
    #[error("json patch test operation {index} failed at path {path:?}: value did not match")]
    JsonPatchTestFailed {
        /// Index of the failed operation in the patch.
        index: usize,
        /// The JSON pointer tested.
        path: String,
    },
    /// A `$patch` directive with a value strategic merge patch does not support in this place
    /// (upstream supports `replace` and `delete` on maps and list elements only).
    #[error("{message}")]
    UnsupportedDirective {
        /// Field path of the map holding the directive.
        path: String,
        /// The directive's value.
        directive: String,
        /// Upstream's message.
        message: String,
    },
    /// An element of a list merged by key lacks the merge key.
    #[error("map: {element} does not contain declared merge key: {merge_key}")]
    MissingMergeKey {
        /// Field path of the list.
        path: String,
        /// The merge key of the list.
        merge_key: String,
        /// The element, rendered as Go's `%v`.
        element: String,
    },
    /// A value does not have the JSON type the patch or the field's strategy requires.
    #[error("type mismatch at {path}: expected {expected}, found {found}")]
    TypeMismatch {
        /// Field path of the value.
        path: String,
        /// The JSON type required.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// Elements of one list (target and patch together) are of different JSON types.
    #[error("list element types are not identical: {elements}")]
    MixedListElements {
        /// Field path of the list.
        path: String,
        /// The lists, rendered as Go's `%v`.
        elements: String,
    },
    /// A list whose elements are lists.
    #[error("lists of lists are not supported")]
    ListOfLists {
        /// Field path of the list.
        path: String,
    },
    /// A list of objects whose field is tagged to merge without a merge key.
    #[error("cannot merge lists without merge key at {path}")]
    NoMergeKey {
        /// Field path of the list.
        path: String,
    },
    /// A malformed `$deleteFromPrimitiveList/<field>` directive.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveListDirective {
        /// Field path of the map holding the directive.
        path: String,
    },
    /// A malformed `$setElementOrder/<field>` directive.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrderDirective {
        /// Field path of the map holding the directive.
        path: String,
    },
    /// The elements of a patch list are not in the order of its `$setElementOrder` list.
    #[error(
        "The order in patch list:\n{patch_list}\n doesn't match $setElementOrder list:\n{order}\n"
    )]
    SetElementOrderMismatch {
        /// Field path of the list.
        path: String,
        /// The patch list, rendered as Go's `%v`.
        patch_list: String,
        /// The `$setElementOrder` list, rendered as Go's `%v`.
        order: String,
    },
    /// A `$retainKeys` directive that is not a list.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeysDirective {
        /// Field path of the map holding the directive.
        path: String,
    },
    /// The patch sets a key its own `$retainKeys` list does not retain.
    #[error("patch content doesn't match retainKeys list")]
    RetainKeysMismatch {
        /// Field path of the map holding the directive.
        path: String,
        /// The key set but not retained.
        key: String,
    },
    /// Three-way patch creation found keys changed both by the user and by someone else in a
    /// way that cannot be reconciled.
    #[error("patch:\n{patch}\nconflicts with changes made from original to current:\n{changes}\n")]
    Conflict {
        /// The additions and changes, as JSON.
        patch: String,
        /// The deletions, as JSON.
        changes: String,
    },
}

impl PatchError {
    /// The HTTP status kube-apiserver answers with for this error: 400 for malformed patches,
    /// 413 for too many JSON patch operations, 422 for JSON patch operations that do not apply
    /// (and lists of lists, retainKeys mismatches), and 500 for the strategic merge errors
    /// upstream does not classify (a missing merge key is an "Internal error occurred" there).
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::InvalidDocument { .. }
            | PatchError::BadPrimitiveListDirective { .. }
            | PatchError::BadSetElementOrderDirective { .. }
            | PatchError::BadRetainKeysDirective { .. } => 400,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::JsonPatchOpFailed { .. }
            | PatchError::JsonPatchTestFailed { .. }
            | PatchError::ListOfLists { .. }
            | PatchError::RetainKeysMismatch { .. } => 422,
            PatchError::Conflict { .. } => 409,
            PatchError::UnsupportedDirective { .. }
            | PatchError::MissingMergeKey { .. }
            | PatchError::TypeMismatch { .. }
            | PatchError::MixedListElements { .. }
            | PatchError::NoMergeKey { .. }
            | PatchError::SetElementOrderMismatch { .. } => 500,
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> PatchError {
        PatchError::InvalidDocument {
            reason: reason.into(),
        }
    }
}

/// The JSON type of a value, as named in errors.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Renders a decoded JSON value as Go's `fmt` `%v` renders the `interface{}` upstream holds:
/// `map[k:v]` with sorted keys, `[a b]`, bare strings, `<nil>`, float64 numbers.
pub(crate) fn go_fmt(value: &Value) -> String {
    let mut out = String::new();
    write_go(value, &mut out);
    out
}

fn write_go(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_go(v, out);
                }
            }
            out.push(']');
        }
    }
}

/// Go's `%v` of a float64: shortest representation, exponent form when the exponent is below
/// -4 or at least 6 (strconv.FormatFloat 'g' with shortest precision).
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => return sci,
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_render_as_go_fmt_does() {
        assert_eq!(
            go_fmt(&json!({"value": "b", "name": 1, "list": [1, true, null]})),
            "map[list:[1 true <nil>] name:1 value:b]"
        );
        assert_eq!(go_fmt(&json!(8080)), "8080");
        assert_eq!(go_fmt(&json!(1000000)), "1e+06");
        assert_eq!(go_fmt(&json!(1500000)), "1.5e+06");
        assert_eq!(go_fmt(&json!(0.5)), "0.5");
        assert_eq!(go_fmt(&json!(0.00001)), "1e-05");
    }

    #[test]
    fn missing_merge_key_reads_as_upstream_and_is_an_internal_error_there() {
        let err = PatchError::MissingMergeKey {
            path: "spec.containers".into(),
            merge_key: "name".into(),
            element: go_fmt(&json!({"image": "nginx"})),
        };
        assert_eq!(
            err.to_string(),
            "map: map[image:nginx] does not contain declared merge key: name"
        );
        assert_eq!(err.http_status(), 500);
        assert_eq!(PatchError::invalid("x").http_status(), 400);
    }
}
