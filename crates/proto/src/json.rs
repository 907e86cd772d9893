//! Converts a decoded [`DynamicMessage`] to the JSON Go's `encoding/json` prints for the
//! corresponding Kubernetes Go struct. Not the proto3 JSON mapping: int64 stays a number,
//! bytes are base64, and the apimachinery types in [`crate::wellknown`] use their own forms.

use std::collections::BTreeMap;

use prost_reflect::{DynamicMessage, MapKey, ReflectMessage as _, Value as PValue};
use serde_json::{Map, Value};

use crate::{golang, wellknown};

/// How much of Go's JSON behaviour to mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Go's JSON view: drop zero-valued non-pointer `omitempty` scalars.
    Go,
    /// Every field present on the wire, zero or not.
    Wire,
}

/// Embedded `k8s\0` bodies (in a `RawExtension`) are decoded recursively up to this depth.
pub(crate) const MAX_EMBED_DEPTH: usize = 8;

pub(crate) struct Converter {
    pub(crate) mode: Mode,
    /// Remaining depth for embedded envelopes.
    pub(crate) embed_budget: usize,
}

impl Converter {
    /// The JSON of one message (a Go struct or one of the special apimachinery types).
    pub(crate) fn message(&self, msg: &DynamicMessage) -> Result<Value, String> {
        if let Some(special) = self.special(msg) {
            return special;
        }
        let mut out = Map::new();
        self.fields_into(msg, &mut out)?;
        Ok(Value::Object(out))
    }

    fn special(&self, msg: &DynamicMessage) -> Option<Result<Value, String>> {
        let name = msg.descriptor().full_name().to_owned();
        Some(match name.as_str() {
            "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => wellknown::time(msg, false),
            "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => wellknown::time(msg, true),
            "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Ok(wellknown::duration(msg)),
            "k8s.io.apimachinery.pkg.api.resource.Quantity"
            | "k8s.io.apimachinery.pkg.api.resource.QuantityValue" => Ok(wellknown::quantity(msg)),
            "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => wellknown::int_or_string(msg),
            "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs" => self.verbs(msg),
            "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => {
                embedded_json(wellknown::raw_bytes(msg, "Raw"), "fieldsV1")
            }
            "k8s.io.apimachinery.pkg.runtime.RawExtension" => self.raw_extension(msg),
            _ => return None,
        })
    }

    /// `metav1.Verbs` is a Go `[]string` wrapped in a message so it can be nullable.
    fn verbs(&self, msg: &DynamicMessage) -> Result<Value, String> {
        let mut out = Map::new();
        self.fields_into(msg, &mut out)?;
        Ok(out
            .remove("items")
            .unwrap_or_else(|| Value::Array(Vec::new())))
    }

    /// `runtime.RawExtension` marshals as its raw bytes, which are JSON, or an embedded
    /// protobuf object when they carry the `k8s\0` prefix.
    fn raw_extension(&self, msg: &DynamicMessage) -> Result<Value, String> {
        let raw = wellknown::raw_bytes(msg, "raw");
        if let Some(bytes) = raw.as_deref().filter(|b| b.starts_with(&crate::MAGIC)) {
            let budget = self
                .embed_budget
                .checked_sub(1)
                .ok_or("embedded protobuf objects nested too deeply")?;
            return crate::decode_inner(bytes, None, self.mode, budget)
                .map_err(|e| format!("embedded object: {e}"));
        }
        embedded_json(raw, "raw")
    }

    /// Writes the message's fields into `out`, flattening embedded structs.
    fn fields_into(
        &self,
        msg: &DynamicMessage,
        out: &mut Map<String, Value>,
    ) -> Result<(), String> {
        let descriptor = msg.descriptor();
        let message_name = descriptor.full_name();
        for fd in descriptor.fields() {
            if !msg.has_field(&fd) {
                continue;
            }
            let info = golang::field_info(message_name, fd.name());
            let value = msg.get_field(&fd);
            // An embedded struct's fields live in this object, so errors name them directly.
            if let (true, PValue::Message(inner)) = (info.inline, value.as_ref()) {
                self.fields_into(inner, out)?;
                continue;
            }
            if self.mode == Mode::Go
                && !fd.is_list()
                && !fd.is_map()
                && is_zero_scalar(value.as_ref())
                && !info.pointer
                && !info.required
            {
                continue;
            }
            let key = info.json_name.unwrap_or(fd.name());
            let json = self
                .field(value.as_ref())
                .map_err(|e| format!("{key}: {e}"))?;
            out.insert(key.to_owned(), json);
        }
        Ok(())
    }

    fn field(&self, value: &PValue) -> Result<Value, String> {
        match value {
            PValue::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.scalar_or_message(v).map_err(|e| format!("[{i}]: {e}")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            PValue::Map(entries) => {
                // Go's encoding/json sorts map keys.
                let mut sorted = BTreeMap::new();
                for (k, v) in entries {
                    let key = map_key(k);
                    let json = self
                        .scalar_or_message(v)
                        .map_err(|e| format!("[{key:?}]: {e}"))?;
                    sorted.insert(key, json);
                }
                Ok(Value::Object(sorted.into_iter().collect()))
            }
            other => self.scalar_or_message(other),
        }
    }

    fn scalar_or_message(&self, value: &PValue) -> Result<Value, String> {
        Ok(match value {
            PValue::Bool(b) => Value::Bool(*b),
            PValue::I32(n) => Value::from(*n),
            PValue::I64(n) => Value::from(*n),
            PValue::U32(n) => Value::from(*n),
            PValue::U64(n) => Value::from(*n),
            PValue::F32(f) => finite(f64::from(*f))?,
            PValue::F64(f) => finite(*f)?,
            PValue::String(s) => Value::String(s.clone()),
            PValue::Bytes(b) => wellknown::base64(b),
            PValue::EnumNumber(n) => Value::from(*n),
            PValue::Message(m) => self.message(m)?,
            PValue::List(_) | PValue::Map(_) => return Err("nested list or map".to_owned()),
        })
    }
}

fn finite(f: f64) -> Result<Value, String> {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("unsupported value {f}"))
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// Whether a singular value is its Go zero value ("", 0, false, empty bytes).
fn is_zero_scalar(value: &PValue) -> bool {
    match value {
        PValue::Bool(b) => !b,
        PValue::I32(n) => *n == 0,
        PValue::I64(n) => *n == 0,
        PValue::U32(n) => *n == 0,
        PValue::U64(n) => *n == 0,
        PValue::F32(f) => *f == 0.0,
        PValue::F64(f) => *f == 0.0,
        PValue::String(s) => s.is_empty(),
        PValue::Bytes(b) => b.is_empty(),
        PValue::EnumNumber(n) => *n == 0,
        PValue::Message(_) | PValue::List(_) | PValue::Map(_) => false,
    }
}

/// Raw JSON bytes (`RawExtension.raw`, `FieldsV1.Raw`) as a value; absent bytes are `null`,
/// as Go's `MarshalJSON` of a nil `Raw` prints.
fn embedded_json(raw: Option<Vec<u8>>, what: &str) -> Result<Value, String> {
    match raw {
        None => Ok(Value::Null),
        Some(bytes) if bytes.is_empty() => Ok(Value::Null),
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| format!("{what} is not JSON: {e}"))
        }
    }
}
