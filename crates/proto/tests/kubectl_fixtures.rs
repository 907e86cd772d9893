//! Decodes protobuf bodies captured from the real kubectl 1.32 (tests/fixtures/*.pb, made by
//! tests/fixtures/capture.py and pointers.py) and compares them with kubectl's own JSON for
//! the same command (`--dry-run=client -o json`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use knet_proto::{ProtoError, decode, is_protobuf};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn kubectl_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("{name}.dry-run.json"))).unwrap()
}

/// Keys whose value is `null`: Go prints them for unset pointer and slice fields without
/// `omitempty`; on the wire such fields are simply absent, and `decode` leaves them out.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

const FIXTURES: &[&str] = &[
    "configmap",
    "secret",
    "namespace",
    "service",
    "service-headless",
    "deployment",
    "deployment-zero-replicas",
    "ingress",
    "pdb",
    "quota",
    "serviceaccount",
    "job",
    "job-from-cronjob",
];

#[test]
fn every_kubectl_body_decodes_to_the_json_kubectl_prints_for_the_same_object() {
    for name in FIXTURES {
        let decoded =
            decode(&fixture(&format!("{name}.pb"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            without_nulls(&decoded),
            without_nulls(&kubectl_json(name)),
            "{name}"
        );
    }
}

#[test]
fn small_kubectl_bodies_decode_to_exactly_kubectls_json_nulls_included() {
    for name in FIXTURES.iter().filter(|n| **n != "job-from-cronjob") {
        assert_eq!(
            decode(&fixture(&format!("{name}.pb"))).unwrap(),
            kubectl_json(name),
            "{name}"
        );
    }
}

#[test]
fn configmap_keeps_empty_values_and_unset_creation_timestamp_is_null() {
    let v = decode(&fixture("configmap.pb")).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app-config", "namespace": "default", "creationTimestamp": null},
            "data": {"empty": "", "greeting": "hello world", "mode": "prod"}
        })
    );
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys[..2], ["apiVersion", "kind"]);
}

#[test]
fn secret_data_is_base64() {
    let v = decode(&fixture("secret.pb")).unwrap();
    assert_eq!(
        v["data"],
        json!({"password": "czNjcjN0", "user": "YWRtaW4="})
    );
}

#[test]
fn service_target_ports_are_numbers_or_names() {
    let v = decode(&fixture("service.pb")).unwrap();
    let ports = &v["spec"]["ports"];
    assert_eq!(ports[0]["targetPort"], json!(8080));
    assert_eq!(ports[1]["targetPort"], json!("https"));
    assert!(
        ports[0].get("nodePort").is_none(),
        "unset nodePort (0, omitempty) must be dropped"
    );
}

#[test]
fn an_explicit_zero_in_a_pointer_field_survives() {
    let v = decode(&fixture("deployment-zero-replicas.pb")).unwrap();
    assert_eq!(v["spec"]["replicas"], json!(0));
    assert!(v["spec"].get("minReadySeconds").is_none());
}

#[test]
fn quota_quantities_and_pdb_int_or_string_keep_their_forms() {
    let quota = decode(&fixture("quota.pb")).unwrap();
    assert_eq!(
        quota["spec"]["hard"],
        json!({"cpu": "1500m", "memory": "2Gi", "pods": "10"})
    );
    let pdb = decode(&fixture("pdb.pb")).unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], json!("50%"));
}

#[test]
fn every_pod_template_field_kubectl_sends_is_decoded() {
    let v = decode(&fixture("job-from-cronjob.pb")).unwrap();
    let spec = &v["spec"]["template"]["spec"];
    // Probe embeds ProbeHandler and Volume embeds VolumeSource: flattened, as in Go's JSON.
    assert!(spec["containers"][0]["livenessProbe"]["httpGet"].is_object());
    assert!(spec["volumes"][0]["configMap"].is_object());
    assert!(spec["volumes"][0].get("volumeSource").is_none());
    assert_eq!(
        v["metadata"]["ownerReferences"][0]["controller"],
        json!(true)
    );
}

#[test]
fn a_kind_without_a_vendored_schema_is_reported_with_its_version() {
    assert_eq!(
        decode(&fixture("priorityclass.pb")).unwrap_err(),
        ProtoError::UnknownKind {
            api_version: "scheduling.k8s.io/v1".to_owned(),
            kind: "PriorityClass".to_owned(),
        }
    );
}

#[test]
fn bodies_without_the_magic_prefix_are_not_protobuf() {
    for body in [
        &b""[..],
        b"k8s",
        b"{\"kind\":\"ConfigMap\"}",
        b"K8S\0\n\x04",
    ] {
        assert_eq!(
            decode(body).unwrap_err(),
            ProtoError::NotProtobuf,
            "{body:?}"
        );
    }
    assert!(
        ProtoError::NotProtobuf
            .to_string()
            .contains("does not appear to be a protobuf message")
    );
}

#[test]
fn the_magic_prefix_alone_is_an_empty_body() {
    assert_eq!(
        decode(b"k8s\0").unwrap_err(),
        ProtoError::Envelope("empty body".to_owned())
    );
}

#[test]
fn a_truncated_body_is_a_clear_error() {
    let body = fixture("deployment.pb");
    let err = decode(&body[..body.len() - 7]).unwrap_err();
    assert!(matches!(err, ProtoError::Envelope(_)), "{err}");
    assert!(
        err.to_string().starts_with("invalid protobuf envelope: "),
        "{err}"
    );
}

#[test]
fn a_corrupted_object_inside_a_valid_envelope_names_the_kind() {
    // Shorten the object in the envelope's `raw` field (2) by one byte, keeping the envelope
    // well-formed: the envelope parses, the object does not.
    let body = fixture("namespace.pb");
    let type_meta_end = 4 + 2 + usize::from(body[5]);
    assert_eq!(body[type_meta_end], 0x12, "raw field follows typeMeta");
    let raw_len = usize::from(body[type_meta_end + 1]);
    let raw = &body[type_meta_end + 2..type_meta_end + 2 + raw_len];
    let mut broken = body[..type_meta_end].to_vec();
    broken.extend([0x12, u8::try_from(raw_len - 1).unwrap()]);
    broken.extend(&raw[..raw_len - 1]);
    let err = decode(&broken).unwrap_err();
    assert!(
        matches!(&err, ProtoError::Decode { kind, .. } if kind == "Namespace"),
        "{err}"
    );
}

#[test]
fn truncations_and_bit_flips_of_every_fixture_never_panic() {
    let mut outcomes = [0usize; 2];
    for name in FIXTURES.iter().chain(["priorityclass"].iter()) {
        let body = fixture(&format!("{name}.pb"));
        for len in 0..body.len() {
            outcomes[usize::from(decode(&body[..len]).is_ok())] += 1;
        }
        let mut flipped = body.clone();
        for i in 0..body.len() {
            for bit in [i % 8, (i * 5 + 3) % 8] {
                flipped[i] ^= 1 << bit;
                outcomes[usize::from(decode(&flipped).is_ok())] += 1;
                flipped[i] ^= 1 << bit;
            }
        }
    }
    // Both outcomes happen: corruption is detected, and some flips (in string bytes) still
    // decode.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

#[test]
fn content_types_with_parameters_are_recognised() {
    assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
    assert!(is_protobuf(
        "application/vnd.kubernetes.protobuf; charset=utf-8"
    ));
    assert!(is_protobuf(
        "Application/VND.Kubernetes.Protobuf;stream=watch"
    ));
    assert!(!is_protobuf("application/json"));
    assert!(!is_protobuf("application/vnd.kubernetes.protobuf+json"));
    assert!(!is_protobuf(""));
}
