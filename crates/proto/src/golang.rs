//! What the protobuf schema does not say about the Go structs behind it, but their JSON
//! form depends on: embedded (`json:",inline"`) structs, fields whose proto name is not their
//! JSON name, which scalar fields are Go pointers (an explicit zero is meaningful) and which
//! lack `omitempty` (a zero is printed).
//!
//! go-to-protobuf writes every non-pointer field of a Go struct to the wire, zero or not, so
//! a zero-valued `string`/`int`/`bool` on the wire usually means "unset": Go's `encoding/json`
//! then omits it (`omitempty`). Only pointer fields (`*int32`, `*bool`, `*string`...) and
//! fields without `omitempty` keep their zero values in the JSON kube-apiserver would see.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::tables;

/// How one protobuf field appears in Go's JSON.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FieldInfo {
    /// JSON key; `None` keeps the proto field name.
    pub(crate) json_name: Option<&'static str>,
    /// The field is an embedded Go struct: its fields are merged into the parent object.
    pub(crate) inline: bool,
    /// A Go pointer: a zero value on the wire was set explicitly and is kept.
    pub(crate) pointer: bool,
    /// No `omitempty` in the Go json tag: a zero value is printed.
    pub(crate) required: bool,
}

type Index = HashMap<(&'static str, &'static str), FieldInfo>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = Index::new();
        for &(message, field) in tables::INLINE {
            index.entry((message, field)).or_default().inline = true;
        }
        for &(message, field, json) in tables::RENAMED {
            index.entry((message, field)).or_default().json_name = Some(json);
        }
        for &(message, fields) in tables::POINTER.iter().copied().flatten() {
            for &field in fields {
                index.entry((message, field)).or_default().pointer = true;
            }
        }
        for &(message, fields) in tables::REQUIRED.iter().copied().flatten() {
            for &field in fields {
                index.entry((message, field)).or_default().required = true;
            }
        }
        index
    })
}

/// What is known about `message.field` (message by full protobuf name).
pub(crate) fn field_info(message: &str, field: &str) -> FieldInfo {
    index().get(&(message, field)).copied().unwrap_or_default()
}
