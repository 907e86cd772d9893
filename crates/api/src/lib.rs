//! The resource registry and the write path of the API server: strict decoding, defaulting,
//! registry strategies and validation, mirroring kube-apiserver 1.33 for the kinds knet serves.
//! Pure functions over `serde_json::Value`; no I/O, no storage, no allocation of IPs or ports.
//!
//! ```text
//!  JSON ──► decode (strict, typed) ──► defaults ──► strategy + admission ──► validation ──► JSON
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod decode;
mod defaults;
mod field;
mod fields;
mod names;
mod object;
mod quantity;
mod registry;
mod strategy;
mod validation;

use serde_json::Value;

pub use field::{FieldError, FieldErrorType};
pub use fields::field_value;
pub use registry::{ResourceInfo, find_by_kind, find_by_name, find_by_plural, resources};
pub use validation::corev1::NODE_PORT_RANGE;

use object::{Input, Object};

/// A write the API server refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// 400 BadRequest: the body cannot be decoded as the kind, e.g.
    /// `Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo"`.
    #[error("{message}")]
    Decode {
        /// The kind the body was decoded as, e.g. `Pod`.
        kind: String,
        /// The full upstream message.
        message: String,
    },
    /// 422 Invalid: `Service "web" is invalid: spec.ports[0].port: Invalid value: 0: ...`.
    #[error("{}", invalid_message(.kind, .name, .errors))]
    Invalid {
        /// The kind, e.g. `Deployment` (the message qualifies it: `Deployment.apps`).
        kind: String,
        /// The object's name.
        name: String,
        /// The field errors, duplicates removed, in upstream's order.
        errors: Vec<FieldError>,
    },
}

impl AdmitError {
    /// The HTTP status code of the error: 400 or 422.
    pub fn code(&self) -> u16 {
        match self {
            AdmitError::Decode { .. } => 400,
            AdmitError::Invalid { .. } => 422,
        }
    }

    /// The `metav1.StatusReason`: `BadRequest` or `Invalid`.
    pub fn reason(&self) -> &'static str {
        match self {
            AdmitError::Decode { .. } => "BadRequest",
            AdmitError::Invalid { .. } => "Invalid",
        }
    }

    /// The API group of the kind, for `status.details.group` (`""` for core).
    pub fn group(&self) -> &'static str {
        let kind = match self {
            AdmitError::Decode { kind, .. } | AdmitError::Invalid { kind, .. } => kind,
        };
        resources()
            .iter()
            .find(|r| r.kind == kind.as_str())
            .map_or("", |r| r.group)
    }
}

/// `NewInvalid`'s message: `Kind.group "name" is invalid: err` or `...: [err1, err2]`.
fn invalid_message(kind: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = resources()
        .iter()
        .find(|r| r.kind == kind)
        .map_or_else(|| kind.to_string(), |r| r.group_kind());
    let msgs: Vec<String> = errors.iter().map(FieldError::message).collect();
    let mut unique: Vec<&String> = Vec::new();
    for m in &msgs {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    let name = field::go_quote(name);
    match unique.len() {
        0 => format!("{qualified} {name} is invalid"),
        1 => format!("{qualified} {name} is invalid: {}", unique[0]),
        _ => {
            let joined: Vec<&str> = unique.iter().map(|s| s.as_str()).collect();
            format!("{qualified} {name} is invalid: [{}]", joined.join(", "))
        }
    }
}

/// How unknown fields are treated (the `fieldValidation` query parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Unknown fields are a decode error (kubectl's default).
    #[default]
    Strict,
    /// Unknown fields are dropped and reported as warnings.
    Warn,
    /// Unknown fields are dropped silently.
    Ignore,
}

/// An admitted object and the warnings to return with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    /// The normalized object to store.
    pub object: Value,
    /// Warnings, e.g. `unknown field "spec.foo"` under [`FieldValidation::Warn`].
    pub warnings: Vec<String>,
}

/// Strictly decodes (unknown fields are errors, listed with their full path, e.g.
/// `spec.containers[0].imagePullPolicyy`; type mismatches too), applies defaults, the create
/// strategy and validation. Returns the normalized object. Does not touch uid,
/// resourceVersion, creationTimestamp or generation: the server does.
pub fn admit_create(info: &ResourceInfo, object: Value) -> Result<Value, AdmitError> {
    admit_create_with(info, object, FieldValidation::Strict).map(|a| a.object)
}

/// [`admit_create`] with a choice of how unknown fields are treated.
pub fn admit_create_with(
    info: &ResourceInfo,
    object: Value,
    validation: FieldValidation,
) -> Result<Admitted, AdmitError> {
    let input = Input::of(&object);
    let (mut obj, unknown) = Object::decode(info, object)?;
    let warnings = unknown_fields(info, unknown, validation)?;
    obj.set_defaults();
    obj.prepare_for_create();
    let errors = obj.validate_create(input);
    finish(info, &obj, errors, warnings)
}

/// Admits an update of the main resource: [`admit_create`]'s steps with the update rules
/// (`ValidateXUpdate`: immutable metadata, selectors, pod specs, ...). Status comes from `old`
/// for resources with a status subresource, as upstream's `PrepareForUpdate`.
pub fn admit_update(info: &ResourceInfo, old: &Value, new: Value) -> Result<Value, AdmitError> {
    admit_update_with(info, old, new, FieldValidation::Strict).map(|a| a.object)
}

/// [`admit_update`] with a choice of how unknown fields are treated.
pub fn admit_update_with(
    info: &ResourceInfo,
    old: &Value,
    new: Value,
    validation: FieldValidation,
) -> Result<Admitted, AdmitError> {
    let input = Input::of(&new);
    let (mut obj, unknown) = Object::decode(info, new)?;
    let warnings = unknown_fields(info, unknown, validation)?;
    let (old_obj, _) = Object::decode(info, old.clone())?;
    obj.set_defaults();
    obj.prepare_for_update(&old_obj);
    let errors = obj.validate_update(&old_obj, input);
    finish(info, &obj, errors, warnings)
}

/// Admits a status subresource update: the result is `old` with the `status` of `new`
/// (metadata and spec unchanged), strictly decoded and status-validated.
pub fn admit_status_update(
    info: &ResourceInfo,
    old: &Value,
    new: Value,
) -> Result<Value, AdmitError> {
    admit_status_update_with(info, old, new, FieldValidation::Strict).map(|a| a.object)
}

/// [`admit_status_update`] with a choice of how unknown fields are treated.
pub fn admit_status_update_with(
    info: &ResourceInfo,
    old: &Value,
    new: Value,
    validation: FieldValidation,
) -> Result<Admitted, AdmitError> {
    if !info.has_status {
        return Err(AdmitError::Decode {
            kind: info.kind.to_string(),
            message: format!("{} has no status subresource", info.group_resource()),
        });
    }
    let (mut obj, unknown) = Object::decode(info, new)?;
    let warnings = unknown_fields(info, unknown, validation)?;
    let (old_obj, _) = Object::decode(info, old.clone())?;
    obj.set_defaults();
    let Some(result) = Object::with_status_of(&old_obj, obj) else {
        return Err(AdmitError::Decode {
            kind: info.kind.to_string(),
            message: format!("{} has no status subresource", info.group_resource()),
        });
    };
    let errors = result.validate_status_update(&old_obj);
    finish(info, &result, errors, warnings)
}

fn unknown_fields(
    info: &ResourceInfo,
    unknown: Vec<String>,
    validation: FieldValidation,
) -> Result<Vec<String>, AdmitError> {
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    match validation {
        FieldValidation::Strict => Err(decode::strict_error(info, &unknown)),
        FieldValidation::Warn => Ok(unknown
            .iter()
            .map(|f| format!("unknown field {}", field::go_quote(f)))
            .collect()),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

fn finish(
    info: &ResourceInfo,
    obj: &Object,
    errors: Vec<FieldError>,
    warnings: Vec<String>,
) -> Result<Admitted, AdmitError> {
    if !errors.is_empty() {
        let mut unique: Vec<FieldError> = Vec::with_capacity(errors.len());
        for e in errors {
            if !unique.iter().any(|u| u.message() == e.message()) {
                unique.push(e);
            }
        }
        return Err(AdmitError::Invalid {
            kind: info.kind.to_string(),
            name: obj.metadata().name.clone().unwrap_or_default(),
            errors: unique,
        });
    }
    let mut value = obj
        .to_value()
        .map_err(|e| decode::decode_error(info, &format!("cannot encode object: {e}")))?;
    defaults::prune_empty(&mut value);
    Ok(Admitted {
        object: value,
        warnings,
    })
}

#[cfg(test)]
mod tests;
