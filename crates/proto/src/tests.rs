//! Unit tests that build bodies from the compiled-in descriptors.

use prost::Message as _;
use prost_reflect::{DynamicMessage, Value as PValue};
use serde_json::{Value, json};

use crate::{ProtoError, decode, decode_wire, schema};

fn message(name: &str) -> DynamicMessage {
    DynamicMessage::new(schema::message(name).unwrap())
}

fn set(msg: &mut DynamicMessage, field: &str, value: PValue) {
    msg.try_set_field_by_name(field, value).unwrap();
}

fn string(s: &str) -> PValue {
    PValue::String(s.to_owned())
}

/// `k8s\0` + runtime.Unknown{typeMeta, raw}.
fn envelope(api_version: &str, kind: &str, object: &DynamicMessage) -> Vec<u8> {
    let mut type_meta = message("k8s.io.apimachinery.pkg.runtime.TypeMeta");
    if !api_version.is_empty() {
        set(&mut type_meta, "apiVersion", string(api_version));
    }
    if !kind.is_empty() {
        set(&mut type_meta, "kind", string(kind));
    }
    let mut unknown = message(schema::UNKNOWN);
    set(&mut unknown, "typeMeta", PValue::Message(type_meta));
    set(
        &mut unknown,
        "raw",
        PValue::Bytes(object.encode_to_vec().into()),
    );
    let mut body = crate::MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn time(seconds: i64, nanos: i32, micro: bool) -> DynamicMessage {
    let name = if micro { "MicroTime" } else { "Time" };
    let mut t = message(&format!("{}.{name}", schema::META_V1));
    set(&mut t, "seconds", PValue::I64(seconds));
    set(&mut t, "nanos", PValue::I32(nanos));
    t
}

/// A core/v1 Event carrying `firstTimestamp` (Time) and `eventTime` (MicroTime).
fn event_times(
    first: Option<DynamicMessage>,
    event: Option<DynamicMessage>,
) -> Result<Value, ProtoError> {
    let mut ev = message("k8s.io.api.core.v1.Event");
    if let Some(first) = first {
        set(&mut ev, "firstTimestamp", PValue::Message(first));
    }
    if let Some(event) = event {
        set(&mut ev, "eventTime", PValue::Message(event));
    }
    decode(&envelope("v1", "Event", &ev))
}

#[test]
fn time_is_rfc3339_in_utc_without_fraction() {
    let v = event_times(Some(time(1_700_000_000, 123_456_789, false)), None).unwrap();
    assert_eq!(v["firstTimestamp"], json!("2023-11-14T22:13:20Z"));
}

#[test]
fn micro_time_keeps_six_fraction_digits() {
    let v = event_times(None, Some(time(1_700_000_000, 123_456_789, true))).unwrap();
    assert_eq!(v["eventTime"], json!("2023-11-14T22:13:20.123456Z"));
}

#[test]
fn empty_time_and_go_zero_time_are_null() {
    let empty = message(&format!("{}.Time", schema::META_V1));
    let v = event_times(Some(empty), Some(time(-62_135_596_800, 0, true))).unwrap();
    assert_eq!(v["firstTimestamp"], Value::Null);
    assert_eq!(v["eventTime"], Value::Null);
}

#[test]
fn time_before_year_zero_is_a_decode_error() {
    let err = event_times(Some(time(-100_000_000_000, 0, false)), None).unwrap_err();
    assert!(
        matches!(&err, ProtoError::Decode { kind, reason } if kind == "Event" && reason.starts_with("firstTimestamp:")),
        "{err}"
    );
}

#[test]
fn time_with_nanos_out_of_range_is_a_decode_error() {
    let err = event_times(Some(time(0, -1, false)), None).unwrap_err();
    assert!(err.to_string().contains("nanos"), "{err}");
}

fn int_or_string(
    kind: i64,
    int_val: Option<i32>,
    str_val: Option<&str>,
) -> Result<Value, ProtoError> {
    let mut ios = message("k8s.io.apimachinery.pkg.util.intstr.IntOrString");
    set(&mut ios, "type", PValue::I64(kind));
    if let Some(i) = int_val {
        set(&mut ios, "intVal", PValue::I32(i));
    }
    if let Some(s) = str_val {
        set(&mut ios, "strVal", string(s));
    }
    let mut port = message("k8s.io.api.core.v1.ServicePort");
    set(&mut port, "port", PValue::I32(80));
    set(&mut port, "targetPort", PValue::Message(ios));
    let mut spec = message("k8s.io.api.core.v1.ServiceSpec");
    set(
        &mut spec,
        "ports",
        PValue::List(vec![PValue::Message(port)]),
    );
    let mut svc = message("k8s.io.api.core.v1.Service");
    set(&mut svc, "spec", PValue::Message(spec));
    decode(&envelope("v1", "Service", &svc)).map(|v| v["spec"]["ports"][0]["targetPort"].clone())
}

#[test]
fn int_or_string_is_a_number_or_a_string_by_type() {
    assert_eq!(int_or_string(0, Some(8080), None).unwrap(), json!(8080));
    assert_eq!(
        int_or_string(1, Some(5), Some("http")).unwrap(),
        json!("http")
    );
    assert_eq!(int_or_string(0, None, None).unwrap(), json!(0));
    assert_eq!(int_or_string(1, None, None).unwrap(), json!(""));
}

#[test]
fn int_or_string_with_an_unknown_type_is_a_decode_error() {
    let err = int_or_string(2, Some(1), None).unwrap_err();
    assert!(
        err.to_string().contains("impossible IntOrString.Type 2"),
        "{err}"
    );
}

fn quota_hard(values: &[(&str, Option<&str>)]) -> Value {
    let mut hard = std::collections::HashMap::new();
    for (name, q) in values {
        let mut quantity = message("k8s.io.apimachinery.pkg.api.resource.Quantity");
        if let Some(q) = q {
            set(&mut quantity, "string", string(q));
        }
        hard.insert(
            prost_reflect::MapKey::String((*name).to_owned()),
            PValue::Message(quantity),
        );
    }
    let mut spec = message("k8s.io.api.core.v1.ResourceQuotaSpec");
    set(&mut spec, "hard", PValue::Map(hard));
    let mut quota = message("k8s.io.api.core.v1.ResourceQuota");
    set(&mut quota, "spec", PValue::Message(spec));
    decode(&envelope("v1", "ResourceQuota", &quota)).unwrap()["spec"]["hard"].clone()
}

#[test]
fn quantity_is_its_string_and_an_empty_quantity_is_zero() {
    let hard = quota_hard(&[
        ("cpu", Some("1500m")),
        ("memory", Some("2Gi")),
        ("pods", None),
    ]);
    assert_eq!(hard, json!({"cpu": "1500m", "memory": "2Gi", "pods": "0"}));
}

#[test]
fn map_keys_come_out_sorted_like_go() {
    let hard = quota_hard(&[
        ("pods", Some("1")),
        ("cpu", Some("1")),
        ("memory", Some("1")),
    ]);
    let keys: Vec<_> = hard.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["cpu", "memory", "pods"]);
}

#[test]
fn go_duration_strings_match_time_duration_string() {
    use crate::wellknown::go_duration;
    let cases = [
        (0, "0s"),
        (1, "1ns"),
        (1_100, "1.1µs"),
        (2_200_000, "2.2ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (-1_500_000_000, "-1.5s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
        (i64::MAX, "2562047h47m16.854775807s"),
    ];
    for (ns, want) in cases {
        assert_eq!(go_duration(ns), want, "{ns}ns");
    }
}

#[test]
fn delete_options_from_any_group_version_decode_as_meta_delete_options() {
    let mut opts = message(&format!("{}.DeleteOptions", schema::META_V1));
    set(&mut opts, "gracePeriodSeconds", PValue::I64(0));
    set(&mut opts, "propagationPolicy", string("Foreground"));
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        let v = decode(&envelope(api_version, "DeleteOptions", &opts)).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": api_version, "kind": "DeleteOptions",
                   "gracePeriodSeconds": 0, "propagationPolicy": "Foreground"}),
            "{api_version}"
        );
    }
}

#[test]
fn embedded_structs_are_flattened_into_their_parent() {
    let mut reference = message("k8s.io.api.core.v1.LocalObjectReference");
    set(&mut reference, "name", string("settings"));
    let mut cm_source = message("k8s.io.api.core.v1.ConfigMapVolumeSource");
    set(
        &mut cm_source,
        "localObjectReference",
        PValue::Message(reference),
    );
    let mut source = message("k8s.io.api.core.v1.VolumeSource");
    set(&mut source, "configMap", PValue::Message(cm_source));
    let mut volume = message("k8s.io.api.core.v1.Volume");
    set(&mut volume, "name", string("config"));
    set(&mut volume, "volumeSource", PValue::Message(source));
    let mut spec = message("k8s.io.api.core.v1.PodSpec");
    set(
        &mut spec,
        "volumes",
        PValue::List(vec![PValue::Message(volume)]),
    );
    let mut pod = message("k8s.io.api.core.v1.Pod");
    set(&mut pod, "spec", PValue::Message(spec));
    let v = decode(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(
        v["spec"]["volumes"],
        json!([{"name": "config", "configMap": {"name": "settings"}}])
    );
}

#[test]
fn proto_names_that_differ_from_json_names_are_renamed() {
    let mut params = message("k8s.io.api.networking.v1.IngressClassParametersReference");
    set(&mut params, "aPIGroup", string("example.com"));
    set(&mut params, "kind", string("Params"));
    set(&mut params, "name", string("p"));
    let mut spec = message("k8s.io.api.networking.v1.IngressClassSpec");
    set(&mut spec, "parameters", PValue::Message(params));
    let mut class = message("k8s.io.api.networking.v1.IngressClass");
    set(&mut class, "spec", PValue::Message(spec));
    let v = decode(&envelope("networking.k8s.io/v1", "IngressClass", &class)).unwrap();
    assert_eq!(
        v["spec"]["parameters"],
        json!({"apiGroup": "example.com", "kind": "Params", "name": "p"})
    );
}

#[test]
fn zero_values_are_kept_for_pointers_and_dropped_for_omitempty_fields() {
    let mut spec = message("k8s.io.api.core.v1.PodSpec");
    set(&mut spec, "enableServiceLinks", PValue::Bool(false)); // *bool
    set(&mut spec, "terminationGracePeriodSeconds", PValue::I64(0)); // *int64
    set(&mut spec, "hostNetwork", PValue::Bool(false)); // bool,omitempty
    set(&mut spec, "nodeName", string("")); // string,omitempty
    let mut pod = message("k8s.io.api.core.v1.Pod");
    set(&mut pod, "spec", PValue::Message(spec));
    let body = envelope("v1", "Pod", &pod);
    assert_eq!(
        decode(&body).unwrap()["spec"],
        json!({"enableServiceLinks": false, "terminationGracePeriodSeconds": 0})
    );
    assert_eq!(
        decode_wire(&body).unwrap()["spec"],
        json!({"nodeName": "", "hostNetwork": false, "terminationGracePeriodSeconds": 0, "enableServiceLinks": false})
    );
}

#[test]
fn zero_values_of_fields_without_omitempty_are_kept() {
    let mut port = message("k8s.io.api.core.v1.ContainerPort");
    set(&mut port, "containerPort", PValue::I32(0));
    set(&mut port, "hostPort", PValue::I32(0));
    let mut container = message("k8s.io.api.core.v1.Container");
    set(&mut container, "name", string(""));
    set(
        &mut container,
        "ports",
        PValue::List(vec![PValue::Message(port)]),
    );
    let mut spec = message("k8s.io.api.core.v1.PodSpec");
    set(
        &mut spec,
        "containers",
        PValue::List(vec![PValue::Message(container)]),
    );
    let mut pod = message("k8s.io.api.core.v1.Pod");
    set(&mut pod, "spec", PValue::Message(spec));
    let v = decode(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(
        v["spec"]["containers"],
        json!([{"name": "", "ports": [{"containerPort": 0}]}])
    );
}

#[test]
fn bytes_are_standard_base64() {
    let mut secret = message("k8s.io.api.core.v1.Secret");
    let mut data = std::collections::HashMap::new();
    data.insert(
        prost_reflect::MapKey::String("key".to_owned()),
        PValue::Bytes(vec![0xff, 0x00, b'a'].into()),
    );
    set(&mut secret, "data", PValue::Map(data));
    let v = decode(&envelope("v1", "Secret", &secret)).unwrap();
    assert_eq!(v["data"], json!({"key": "/wBh"}));
}

fn revision(data: &[u8]) -> Result<Value, ProtoError> {
    let mut raw = message("k8s.io.apimachinery.pkg.runtime.RawExtension");
    set(&mut raw, "raw", PValue::Bytes(data.to_vec().into()));
    let mut rev = message("k8s.io.api.apps.v1.ControllerRevision");
    set(&mut rev, "data", PValue::Message(raw));
    set(&mut rev, "revision", PValue::I64(2));
    decode(&envelope("apps/v1", "ControllerRevision", &rev))
}

#[test]
fn raw_extension_holds_embedded_json() {
    let v = revision(br#"{"spec":{"template":{"metadata":{"labels":{"a":"b"}}}}}"#).unwrap();
    assert_eq!(
        v["data"],
        json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}})
    );
    assert_eq!(v["revision"], json!(2));
}

#[test]
fn raw_extension_with_the_protobuf_prefix_is_decoded_recursively() {
    let mut ns = message("k8s.io.api.core.v1.Namespace");
    let mut meta = message(&format!("{}.ObjectMeta", schema::META_V1));
    set(&mut meta, "name", string("inner"));
    set(&mut ns, "metadata", PValue::Message(meta));
    let v = revision(&envelope("v1", "Namespace", &ns)).unwrap();
    assert_eq!(
        v["data"],
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inner"}})
    );
}

#[test]
fn raw_extension_that_is_not_json_is_a_decode_error() {
    let err = revision(b"{not json").unwrap_err();
    assert!(err.to_string().contains("data: raw is not JSON"), "{err}");
}

#[test]
fn deeply_nested_embedded_envelopes_are_refused_without_overflowing_the_stack() {
    let mut ns = message("k8s.io.api.core.v1.Namespace");
    set(
        &mut ns,
        "metadata",
        PValue::Message(message(&format!("{}.ObjectMeta", schema::META_V1))),
    );
    let mut body = envelope("v1", "Namespace", &ns);
    for _ in 0..20 {
        let mut raw = message("k8s.io.apimachinery.pkg.runtime.RawExtension");
        set(&mut raw, "raw", PValue::Bytes(body.into()));
        let mut rev = message("k8s.io.api.apps.v1.ControllerRevision");
        set(&mut rev, "data", PValue::Message(raw));
        body = envelope("apps/v1", "ControllerRevision", &rev);
    }
    let err = decode(&body).unwrap_err();
    assert!(err.to_string().contains("nested too deeply"), "{err}");
}

#[test]
fn fields_v1_is_its_raw_json() {
    let mut fields = message(&format!("{}.FieldsV1", schema::META_V1));
    set(
        &mut fields,
        "Raw",
        PValue::Bytes(br#"{"f:data":{}}"#.to_vec().into()),
    );
    let mut entry = message(&format!("{}.ManagedFieldsEntry", schema::META_V1));
    set(&mut entry, "manager", string("kubectl"));
    set(&mut entry, "fieldsType", string("FieldsV1"));
    set(&mut entry, "fieldsV1", PValue::Message(fields));
    let mut meta = message(&format!("{}.ObjectMeta", schema::META_V1));
    set(
        &mut meta,
        "managedFields",
        PValue::List(vec![PValue::Message(entry)]),
    );
    let mut cm = message("k8s.io.api.core.v1.ConfigMap");
    set(&mut cm, "metadata", PValue::Message(meta));
    let v = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(
        v["metadata"]["managedFields"],
        json!([{"manager": "kubectl", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}])
    );
}

#[test]
fn an_envelope_without_kind_is_an_envelope_error_unless_defaults_are_given() {
    let ns = message("k8s.io.api.core.v1.Namespace");
    let body = envelope("", "", &ns);
    assert_eq!(
        decode(&body).unwrap_err(),
        ProtoError::Envelope("Object 'Kind' is missing".to_owned())
    );
    let v = crate::decode_with_defaults(&body, "v1", "Namespace").unwrap();
    assert_eq!(v, json!({"apiVersion": "v1", "kind": "Namespace"}));
}

#[test]
fn kinds_that_are_not_go_identifiers_are_unknown() {
    let ns = message("k8s.io.api.core.v1.Namespace");
    for kind in ["namespace", "Pod.Spec", "Pod Spec"] {
        assert!(
            matches!(
                decode(&envelope("v1", kind, &ns)),
                Err(ProtoError::UnknownKind { .. })
            ),
            "{kind}"
        );
    }
}

#[test]
fn api_version_and_kind_come_first() {
    let ns = message("k8s.io.api.core.v1.Namespace");
    let v = decode(&envelope("v1", "Namespace", &ns)).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys[..2], ["apiVersion", "kind"]);
}
