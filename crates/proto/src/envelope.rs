//! The `k8s\0` + `runtime.Unknown` envelope. Upstream:
//! staging/src/k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go (`Decode`).

use prost_reflect::{DynamicMessage, ReflectMessage as _, Value as PValue};

use crate::{MAGIC, ProtoError, schema};

/// The fields of `runtime.Unknown` this crate uses.
#[derive(Debug)]
pub(crate) struct Unknown {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) raw: Vec<u8>,
}

/// Checks the prefix and decodes the envelope. `contentEncoding` and `contentType` are
/// ignored, as upstream ignores them: `raw` is always the protobuf encoding of the object.
pub(crate) fn parse(body: &[u8], defaults: Option<(&str, &str)>) -> Result<Unknown, ProtoError> {
    let data = body.strip_prefix(&MAGIC).ok_or(ProtoError::NotProtobuf)?;
    if data.is_empty() {
        return Err(ProtoError::Envelope("empty body".to_owned()));
    }
    let message = DynamicMessage::decode(schema::message(schema::UNKNOWN)?, data)
        .map_err(|e| ProtoError::Envelope(e.to_string()))?;
    let get = |m: &DynamicMessage, name: &str| -> Option<PValue> {
        let fd = m.descriptor().get_field_by_name(name)?;
        m.has_field(&fd).then(|| m.get_field(&fd).into_owned())
    };
    let string = |v: Option<PValue>| match v {
        Some(PValue::String(s)) => s,
        _ => String::new(),
    };
    let (mut api_version, mut kind) = match get(&message, "typeMeta") {
        Some(PValue::Message(type_meta)) => (
            string(get(&type_meta, "apiVersion")),
            string(get(&type_meta, "kind")),
        ),
        _ => (String::new(), String::new()),
    };
    if let Some((default_version, default_kind)) = defaults {
        if api_version.is_empty() {
            api_version = default_version.to_owned();
        }
        if kind.is_empty() {
            kind = default_kind.to_owned();
        }
    }
    if kind.is_empty() {
        return Err(ProtoError::Envelope("Object 'Kind' is missing".to_owned()));
    }
    if api_version.is_empty() {
        return Err(ProtoError::Envelope(
            "Object 'apiVersion' is missing".to_owned(),
        ));
    }
    let raw = match get(&message, "raw") {
        Some(PValue::Bytes(b)) => b.to_vec(),
        _ => Vec::new(),
    };
    Ok(Unknown {
        api_version,
        kind,
        raw,
    })
}
