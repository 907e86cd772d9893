//! Strict decoding: JSON into the typed k8s-openapi struct, reporting type errors with their
//! path and unknown fields the way kube-apiserver's strict decoder does
//! (`strict decoding error: unknown field "spec.containers[0].imagePullPolicyy"`).

use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::AdmitError;
use crate::quantity::Quantity;
use crate::registry::ResourceInfo;

/// A decoded object and the unknown fields of its input, in input order.
pub(crate) struct Decoded<T> {
    pub(crate) object: T,
    pub(crate) unknown_fields: Vec<String>,
}

/// Builds the 400 error of a body that cannot be decoded into `info`'s kind.
pub(crate) fn decode_error(info: &ResourceInfo, detail: &str) -> AdmitError {
    AdmitError::Decode {
        kind: info.kind.to_string(),
        message: format!(
            "{} in version \"{}\" cannot be handled as a {}: {}",
            info.kind, info.version, info.kind, detail
        ),
    }
}

/// Decodes `value` as `info`'s kind: checks `apiVersion`/`kind`, normalizes quantities, decodes
/// the typed struct and lists the fields the struct does not know.
pub(crate) fn decode<T: DeserializeOwned + Serialize>(
    info: &ResourceInfo,
    mut value: Value,
) -> Result<Decoded<T>, AdmitError> {
    let Some(obj) = value.as_object_mut() else {
        return Err(decode_error(
            info,
            &format!(
                "json: cannot unmarshal {} into Go value of type {}",
                json_type(&value),
                go_kind(info)
            ),
        ));
    };
    let api_version = info.api_version();
    match obj.get("apiVersion") {
        None | Some(Value::Null) => {
            obj.insert("apiVersion".to_string(), Value::String(api_version.clone()));
        }
        Some(Value::String(v)) if *v == api_version => {}
        Some(Value::String(v)) => {
            return Err(AdmitError::Decode {
                kind: info.kind.to_string(),
                message: format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                ),
            });
        }
        Some(other) => {
            return Err(decode_error(
                info,
                &format!(
                    "json: cannot unmarshal {} into Go struct field {}.apiVersion of type string",
                    json_type(other),
                    go_kind(info)
                ),
            ));
        }
    }
    match obj.get("kind") {
        None | Some(Value::Null) => {
            obj.insert("kind".to_string(), Value::String(info.kind.to_string()));
        }
        Some(Value::String(k)) if k == info.kind => {}
        Some(Value::String(k)) => {
            return Err(AdmitError::Decode {
                kind: info.kind.to_string(),
                message: format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    info.kind
                ),
            });
        }
        Some(other) => {
            return Err(decode_error(
                info,
                &format!(
                    "json: cannot unmarshal {} into Go struct field {}.kind of type string",
                    json_type(other),
                    go_kind(info)
                ),
            ));
        }
    }
    normalize_quantities(info, &mut value)?;
    normalize_bytes(info, &mut value)?;
    let object: T = serde_path_to_error::deserialize(&value)
        .map_err(|e| decode_error(info, &type_error_message(info, &e)))?;
    let round_trip = serde_json::to_value(&object)
        .map_err(|e| decode_error(info, &format!("cannot encode object: {e}")))?;
    let mut unknown_fields = Vec::new();
    collect_unknown(&value, &round_trip, "", &mut unknown_fields);
    Ok(Decoded {
        object,
        unknown_fields,
    })
}

/// The message of the strict decoding error for `unknown` fields.
pub(crate) fn strict_error(info: &ResourceInfo, unknown: &[String]) -> AdmitError {
    let list: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {}", crate::field::go_quote(f)))
        .collect();
    decode_error(info, &format!("strict decoding error: {}", list.join(", ")))
}

fn go_kind(info: &ResourceInfo) -> String {
    format!(
        "{}.{}",
        if info.group.is_empty() {
            "v1"
        } else {
            info.version
        },
        info.kind
    )
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Turns serde's `invalid type: string "80", expected i32` into Go's
/// `json: cannot unmarshal string into Go struct field Pod.spec.containers[0].ports[0].containerPort of type int32`.
fn type_error_message(
    info: &ResourceInfo,
    e: &serde_path_to_error::Error<serde_json::Error>,
) -> String {
    let inner = e.inner().to_string();
    let path = e.path().to_string();
    let Some(rest) = inner.strip_prefix("invalid type: ") else {
        return inner;
    };
    let Some((found, expected)) = rest.split_once(", expected ") else {
        return inner;
    };
    let found = if found.starts_with("string") {
        "string"
    } else if found.starts_with("integer") || found.starts_with("floating point") {
        "number"
    } else if found.starts_with("boolean") {
        "bool"
    } else if found.starts_with("sequence") {
        "array"
    } else if found.starts_with("map") {
        "object"
    } else {
        found
    };
    let expected = match expected {
        "i32" => "int32".to_string(),
        "i64" => "int64".to_string(),
        "u32" => "uint32".to_string(),
        "f64" => "float64".to_string(),
        "a string" => "string".to_string(),
        "a boolean" => "bool".to_string(),
        "a sequence" => "[]interface {}".to_string(),
        "a map" => "map[string]string".to_string(),
        other if other.starts_with(char::is_uppercase) => format!("v1.{other}"),
        other => other.to_string(),
    };
    if path.is_empty() || path == "." {
        return format!("json: cannot unmarshal {found} into Go value of type {expected}");
    }
    format!(
        "json: cannot unmarshal {found} into Go struct field {}.{path} of type {expected}",
        info.kind
    )
}

/// Records every key of `input` (with a non-null value) that the typed round trip lost.
fn collect_unknown(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                if v.is_null() {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match o.get(k) {
                    None => out.push(p),
                    Some(ov) => collect_unknown(v, ov, &p, out),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (idx, (v, ov)) in i.iter().zip(o).enumerate() {
                collect_unknown(v, ov, &format!("{path}[{idx}]"), out);
            }
        }
        _ => {}
    }
}

/// One step of a path pattern over JSON.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    AnyIndex,
    AnyKey,
}

fn parse_pattern(p: &str) -> Vec<Seg<'_>> {
    let mut segs = Vec::new();
    for part in p.split('.') {
        if part == "*" {
            segs.push(Seg::AnyKey);
        } else if let Some(key) = part.strip_suffix("[*]") {
            segs.push(Seg::Key(key));
            segs.push(Seg::AnyIndex);
        } else {
            segs.push(Seg::Key(part));
        }
    }
    segs
}

fn visit_mut(
    v: &mut Value,
    segs: &[Seg<'_>],
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    let Some((first, rest)) = segs.split_first() else {
        return f(v);
    };
    match (first, v) {
        (Seg::Key(k), Value::Object(m)) => match m.get_mut(*k) {
            Some(child) => visit_mut(child, rest, f),
            None => Ok(()),
        },
        (Seg::AnyKey, Value::Object(m)) => {
            for child in m.values_mut() {
                visit_mut(child, rest, f)?;
            }
            Ok(())
        }
        (Seg::AnyIndex, Value::Array(a)) => {
            for child in a {
                visit_mut(child, rest, f)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Quantity fields of a pod spec; `true` marks resource lists rounded up to milli precision
/// (`SetDefaults_ResourceList`).
const POD_SPEC_QUANTITIES: &[(&str, bool)] = &[
    ("containers[*].resources.limits.*", true),
    ("containers[*].resources.requests.*", true),
    ("initContainers[*].resources.limits.*", true),
    ("initContainers[*].resources.requests.*", true),
    ("ephemeralContainers[*].resources.limits.*", true),
    ("ephemeralContainers[*].resources.requests.*", true),
    ("overhead.*", true),
    ("resources.limits.*", true),
    ("resources.requests.*", true),
    (
        "containers[*].env[*].valueFrom.resourceFieldRef.divisor",
        false,
    ),
    (
        "initContainers[*].env[*].valueFrom.resourceFieldRef.divisor",
        false,
    ),
    ("volumes[*].emptyDir.sizeLimit", false),
    (
        "volumes[*].downwardAPI.items[*].resourceFieldRef.divisor",
        false,
    ),
    (
        "volumes[*].projected.sources[*].downwardAPI.items[*].resourceFieldRef.divisor",
        false,
    ),
    (
        "volumes[*].ephemeral.volumeClaimTemplate.spec.resources.requests.*",
        false,
    ),
    (
        "volumes[*].ephemeral.volumeClaimTemplate.spec.resources.limits.*",
        false,
    ),
];

const POD_STATUS_QUANTITIES: &[(&str, bool)] = &[
    ("containerStatuses[*].allocatedResources.*", true),
    ("containerStatuses[*].resources.limits.*", true),
    ("containerStatuses[*].resources.requests.*", true),
    ("initContainerStatuses[*].allocatedResources.*", true),
    ("initContainerStatuses[*].resources.limits.*", true),
    ("initContainerStatuses[*].resources.requests.*", true),
];

/// Accepts JSON numbers where a quantity is expected (YAML `cpu: 1` arrives as a number),
/// rejects malformed quantities as upstream's decoder does, and stores the canonical form.
fn normalize_quantities(info: &ResourceInfo, value: &mut Value) -> Result<(), AdmitError> {
    let mut patterns: Vec<(String, bool)> = Vec::new();
    let mut add = |prefix: &str, list: &[(&str, bool)]| {
        for (p, round) in list {
            patterns.push((format!("{prefix}{p}"), *round));
        }
    };
    match info.kind {
        "Pod" => {
            add("spec.", POD_SPEC_QUANTITIES);
            add("status.", POD_STATUS_QUANTITIES);
        }
        "Deployment" | "ReplicaSet" => add("spec.template.spec.", POD_SPEC_QUANTITIES),
        "Node" => add("status.", &[("capacity.*", true), ("allocatable.*", true)]),
        _ => {}
    }
    for (pattern, round) in &patterns {
        let segs = parse_pattern(pattern);
        visit_mut(value, &segs, &mut |v| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Ok(()),
            };
            let mut q = Quantity::parse(&text).map_err(|e| e.to_string())?;
            if *round {
                q.round_up(-3);
            }
            *v = Value::String(q.canonical());
            Ok(())
        })
        .map_err(|e| decode_error(info, &e))?;
    }
    Ok(())
}

/// Checks base64 byte fields as Go's decoder does (which also skips line breaks).
fn normalize_bytes(info: &ResourceInfo, value: &mut Value) -> Result<(), AdmitError> {
    let pattern = match info.kind {
        "Secret" => "data.*",
        "ConfigMap" => "binaryData.*",
        _ => return Ok(()),
    };
    visit_mut(value, &parse_pattern(pattern), &mut |v| {
        let Value::String(s) = v else {
            return Ok(());
        };
        let cleaned: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
        if let Err(e) = base64::engine::general_purpose::STANDARD.decode(cleaned.as_bytes()) {
            let offset = match e {
                base64::DecodeError::InvalidByte(o, _)
                | base64::DecodeError::InvalidLastSymbol(o, _) => o,
                base64::DecodeError::InvalidLength(len) => len - len % 4,
                base64::DecodeError::InvalidPadding => cleaned.find('=').unwrap_or(cleaned.len()),
            };
            return Err(format!("illegal base64 data at input byte {offset}"));
        }
        *s = cleaned;
        Ok(())
    })
    .map_err(|e| decode_error(info, &e))
}
