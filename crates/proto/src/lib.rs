//! Decodes Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into the
//! JSON object kube-apiserver would see, for the vendored built-in API groups.
//! It mirrors `k8s.io/apimachinery/pkg/runtime/serializer/protobuf` plus Go's JSON view of the
//! decoded object; it does not encode protobuf, and it knows nothing of defaulting or validation.
//!
//! ```text
//! body = "k8s\0" ++ runtime.Unknown{ typeMeta{apiVersion, kind}, raw, contentEncoding, contentType }
//!                                               |                 |
//!                     apiVersion+kind -> k8s.io.api.<group>.<version>.<Kind>
//!                                                                 raw -> DynamicMessage -> JSON
//! ```
//!
//! NOTICE: `protos/` holds `generated.proto` files of Kubernetes (Apache-2.0, Copyright The
//! Kubernetes Authors), see the crate README for their origin and version.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod envelope;
mod error;
mod golang;
mod json;
mod schema;
mod tables;
mod wellknown;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub use error::ProtoError;

use serde_json::{Map, Value};

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The 4 bytes every Kubernetes protobuf body starts with.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// Decodes a Kubernetes protobuf body into the object's JSON form: `apiVersion` and `kind`
/// first, then the fields as Go's `encoding/json` would print the decoded Go object.
///
/// Errors say whether the body is not protobuf at all, has a broken envelope, names a kind
/// without a vendored schema, or does not decode as that kind. Never panics.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    decode_inner(body, None, json::Mode::Go, json::MAX_EMBED_DEPTH)
}

/// Like [`decode`], but an envelope without `apiVersion` or `kind` takes them from the
/// request (the resource's group version and kind), as kube-apiserver's decoder does with
/// its default GroupVersionKind (`copyKindDefaults` in the protobuf serializer).
pub fn decode_with_defaults(
    body: &[u8],
    api_version: &str,
    kind: &str,
) -> Result<Value, ProtoError> {
    decode_inner(
        body,
        Some((api_version, kind)),
        json::Mode::Go,
        json::MAX_EMBED_DEPTH,
    )
}

/// Decodes a body keeping every field present on the wire, zero values included, with no Go
/// pointer/`omitempty` emulation. Special apimachinery types are still converted. For
/// debugging and for deriving which Go fields are pointers.
pub fn decode_wire(body: &[u8]) -> Result<Value, ProtoError> {
    decode_inner(body, None, json::Mode::Wire, json::MAX_EMBED_DEPTH)
}

/// Whether a `Content-Type` header value (parameters allowed) is Kubernetes protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Whether a protobuf schema for `apiVersion`/`kind` is compiled in.
pub fn supports(api_version: &str, kind: &str) -> bool {
    schema::descriptor_for(api_version, kind).is_ok()
}

pub(crate) fn decode_inner(
    body: &[u8],
    defaults: Option<(&str, &str)>,
    mode: json::Mode,
    embed_budget: usize,
) -> Result<Value, ProtoError> {
    let unknown = envelope::parse(body, defaults)?;
    let descriptor = schema::descriptor_for(&unknown.api_version, &unknown.kind)?;
    let decode_err = |reason: String| ProtoError::Decode {
        kind: unknown.kind.clone(),
        reason,
    };
    let message = prost_reflect::DynamicMessage::decode(descriptor, unknown.raw.as_slice())
        .map_err(|e| decode_err(e.to_string()))?;
    let converter = json::Converter { mode, embed_budget };
    let mut out = Map::new();
    out.insert(
        "apiVersion".to_owned(),
        Value::String(unknown.api_version.clone()),
    );
    out.insert("kind".to_owned(), Value::String(unknown.kind.clone()));
    match converter.message(&message).map_err(decode_err)? {
        Value::Object(fields) => out.extend(fields),
        other => {
            return Err(ProtoError::Decode {
                kind: unknown.kind.clone(),
                reason: format!("top-level value is not an object: {other}"),
            });
        }
    }
    Ok(Value::Object(out))
}
