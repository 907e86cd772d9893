//! Behaviour of the write path, kind by kind, against upstream's rules and messages.

mod decode;
mod defaulting;
mod status;
mod update;
mod validate;

use serde_json::{Value, json};

use crate::{AdmitError, FieldErrorType, ResourceInfo, admit_create, admit_update, find_by_name};

pub(super) fn info(name: &str) -> &'static ResourceInfo {
    find_by_name(name).expect("served resource")
}

/// Creates `object` as `kind` and expects it to be admitted.
pub(super) fn created(kind: &str, object: Value) -> Value {
    match admit_create(info(kind), object) {
        Ok(v) => v,
        Err(e) => panic!("{kind} not admitted: {e}"),
    }
}

/// Creates `object` as `kind` and expects a 422, returning (type, field) of each error.
pub(super) fn invalid(kind: &str, object: Value) -> Vec<(FieldErrorType, String)> {
    match admit_create(info(kind), object) {
        Ok(v) => panic!("{kind} admitted but should be invalid: {v}"),
        Err(AdmitError::Invalid { errors, .. }) => {
            errors.into_iter().map(|e| (e.kind, e.field)).collect()
        }
        Err(e) => panic!("{kind} rejected with a decode error: {e}"),
    }
}

/// The full message of the error of creating `object`.
pub(super) fn create_error(kind: &str, object: Value) -> String {
    match admit_create(info(kind), object) {
        Ok(v) => panic!("{kind} admitted: {v}"),
        Err(e) => e.to_string(),
    }
}

/// Updates `old` to `new` and expects a 422, returning (type, field) of each error.
pub(super) fn invalid_update(kind: &str, old: &Value, new: Value) -> Vec<(FieldErrorType, String)> {
    match admit_update(info(kind), old, new) {
        Ok(v) => panic!("{kind} update admitted but should be invalid: {v}"),
        Err(AdmitError::Invalid { errors, .. }) => {
            errors.into_iter().map(|e| (e.kind, e.field)).collect()
        }
        Err(e) => panic!("{kind} update rejected with a decode error: {e}"),
    }
}

pub(super) fn has(errors: &[(FieldErrorType, String)], kind: FieldErrorType, field: &str) -> bool {
    errors.iter().any(|(k, f)| *k == kind && f == field)
}

/// Simulates what the server stores after a create: the admitted object with system fields.
pub(super) fn stored(kind: &str, object: Value) -> Value {
    let mut v = created(kind, object);
    let meta = v["metadata"].as_object_mut().expect("metadata");
    meta.insert("uid".into(), json!("7f5c8a8e-0000-4000-8000-000000000001"));
    meta.insert("resourceVersion".into(), json!("1"));
    meta.insert("creationTimestamp".into(), json!("2025-01-01T00:00:00Z"));
    v
}

pub(super) fn mk_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    })
}

pub(super) fn mk_service(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    })
}

pub(super) fn mk_deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    })
}

pub(super) fn mk_replica_set(name: &str) -> Value {
    let mut d = mk_deployment(name);
    d["kind"] = json!("ReplicaSet");
    d
}

pub(super) fn mk_endpoint_slice(name: &str) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.0.2.10"], "conditions": {"ready": true}}],
        "ports": [{"name": "http", "port": 80}]
    })
}

pub(super) fn mk_ingress(name: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"rules": [{"host": "www.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
        ]}}]}
    })
}

pub(super) fn mk_network_policy(name: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}],
                         "ports": [{"port": 80}]}]
        }
    })
}

pub(super) fn mk_config_map(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"app.properties": "color=blue"}
    })
}

pub(super) fn mk_secret(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"password": "czNjcjN0"}
    })
}

pub(super) fn mk_node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {"podCIDR": "10.244.1.0/24"}})
}

pub(super) fn mk_namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}
