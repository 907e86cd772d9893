//! Fixture builders shared by the integration tests. Addresses are from the documentation
//! ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) where they are only data.
#![allow(dead_code, clippy::unwrap_used)]

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// The reference "now" of every test.
pub fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

/// `now` minus `secs` seconds, in the API's RFC 3339 form.
pub fn ago(secs: i64) -> String {
    let t = now() - SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn meta(name: &str, namespace: &str, age_secs: i64) -> Value {
    json!({
        "name": name,
        "namespace": namespace,
        "uid": format!("uid-{name}"),
        "creationTimestamp": ago(age_secs),
    })
}

/// A pod with one container `app` of image `nginx:1.27`, phase Pending, no status yet.
pub fn mk_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, "default", 300),
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
        "status": {"phase": "Pending"},
    })
}

/// A running, ready container status.
pub fn running(name: &str, restarts: i64) -> Value {
    json!({
        "name": name,
        "ready": true,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ago(240)}},
    })
}

pub fn mk_service(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, "default", 3 * 86400),
        "spec": spec,
    })
}

/// The cells of the single row printed for `obj`.
pub fn cells(api_version: &str, kind: &str, obj: &Value) -> Vec<Value> {
    knet_printers::table(api_version, kind, &[obj], now()).rows[0]
        .cells
        .clone()
}

/// The cell of the column called `column` (upstream spelling, e.g. "Status").
pub fn cell(api_version: &str, kind: &str, obj: &Value, column: &str) -> Value {
    let cols = knet_printers::columns(api_version, kind);
    let i = cols
        .iter()
        .position(|c| c.name == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    cells(api_version, kind, obj)[i].clone()
}
