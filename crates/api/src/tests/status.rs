//! Status subresource updates: only status changes, and it is validated.

use serde_json::json;

use super::*;
use crate::FieldErrorType::*;
use crate::admit_status_update;

fn status_updated(kind: &str, old: &Value, new: Value) -> Value {
    match admit_status_update(info(kind), old, new) {
        Ok(v) => v,
        Err(e) => panic!("{kind} status update not admitted: {e}"),
    }
}

fn invalid_status(kind: &str, old: &Value, new: Value) -> Vec<(FieldErrorType, String)> {
    match admit_status_update(info(kind), old, new) {
        Ok(v) => panic!("{kind} status update admitted: {v}"),
        Err(AdmitError::Invalid { errors, .. }) => {
            errors.into_iter().map(|e| (e.kind, e.field)).collect()
        }
        Err(e) => panic!("{kind} status update rejected with a decode error: {e}"),
    }
}

#[test]
fn pod_status_updates_change_only_the_status() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["status"] = json!({
        "phase": "Running",
        "podIP": "192.0.2.20",
        "conditions": [{"type": "Ready", "status": "True"}]
    });
    new["spec"]["nodeName"] = json!("node-a");
    new["metadata"]["labels"] = json!({"app": "changed"});
    let v = status_updated("po", &old, new);
    assert_eq!(v["status"]["phase"], "Running");
    assert_eq!(v["status"]["podIPs"], json!([{"ip": "192.0.2.20"}]));
    assert_eq!(v["status"]["qosClass"], "BestEffort");
    assert!(v["spec"].get("nodeName").is_none());
    assert_eq!(v["metadata"]["labels"], json!({"app": "web"}));
}

#[test]
fn pod_phases_addresses_and_condition_types_are_validated() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["status"] = json!({
        "phase": "Exploded",
        "podIPs": [{"ip": "192.0.2.300"}],
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}]
    });
    let errs = invalid_status("po", &old, new);
    assert!(has(&errs, NotSupported, "status.phase"), "{errs:?}");
    assert!(has(&errs, Invalid, "status.podIPs[0].ip"), "{errs:?}");
    assert!(
        has(&errs, Duplicate, "status.conditions[1].type"),
        "{errs:?}"
    );
}

#[test]
fn pod_qos_class_may_not_change_in_status_updates() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["status"]["qosClass"] = json!("Guaranteed");
    assert!(has(
        &invalid_status("po", &old, new),
        Invalid,
        "status.qosClass"
    ));
}

#[test]
fn pods_may_carry_one_address_per_family() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["status"]["podIPs"] = json!([{"ip": "192.0.2.20"}, {"ip": "2001:db8::20"}]);
    let v = status_updated("po", &old, new.clone());
    assert_eq!(v["status"]["podIP"], "192.0.2.20");
    new["status"]["podIPs"] = json!([{"ip": "192.0.2.20"}, {"ip": "192.0.2.21"}]);
    assert!(has(
        &invalid_status("po", &old, new),
        Invalid,
        "status.podIPs"
    ));
}

#[test]
fn service_load_balancer_status_gets_vip_mode_and_valid_addresses() {
    let mut svc = mk_service("web");
    svc["spec"]["type"] = json!("LoadBalancer");
    let old = stored("svc", svc);
    let mut new = old.clone();
    new["status"] = json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}]}});
    let v = status_updated("svc", &old, new.clone());
    assert_eq!(v["status"]["loadBalancer"]["ingress"][0]["ipMode"], "VIP");
    new["status"] = json!({"loadBalancer": {"ingress": [{"ip": "not-an-ip"}]}});
    assert!(has(
        &invalid_status("svc", &old, new),
        Invalid,
        "status.loadBalancer.ingress[0].ip"
    ));
    let plain = stored("svc", mk_service("db"));
    let mut new = plain.clone();
    new["status"] = json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}]}});
    assert!(has(
        &invalid_status("svc", &plain, new),
        Forbidden,
        "status.loadBalancer.ingress"
    ));
}

#[test]
fn deployment_status_counts_are_consistent() {
    let old = stored("deploy", mk_deployment("web"));
    let mut new = old.clone();
    new["status"] = json!({"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1});
    new["spec"]["replicas"] = json!(9);
    let v = status_updated("deploy", &old, new.clone());
    assert_eq!(v["status"]["readyReplicas"], 1);
    assert_eq!(v["spec"]["replicas"], 1);
    new["status"] = json!({"replicas": 1, "readyReplicas": 2});
    assert!(has(
        &invalid_status("deploy", &old, new),
        Invalid,
        "status.readyReplicas"
    ));
}

#[test]
fn replica_set_status_counts_are_not_negative() {
    let old = stored("rs", mk_replica_set("web"));
    let mut new = old.clone();
    new["status"] = json!({"replicas": -1});
    assert!(has(
        &invalid_status("rs", &old, new),
        Invalid,
        "status.replicas"
    ));
}

#[test]
fn namespace_phases_follow_the_deletion_timestamp() {
    let old = stored("ns", mk_namespace("team-a"));
    let mut new = old.clone();
    new["status"]["phase"] = json!("Terminating");
    assert!(has(
        &invalid_status("ns", &old, new),
        Invalid,
        "status.Phase"
    ));
}

#[test]
fn kinds_without_a_status_subresource_refuse_status_updates() {
    let old = stored("cm", mk_config_map("cfg"));
    let err = admit_status_update(info("cm"), &old, old.clone()).expect_err("no status");
    assert_eq!(err.code(), 400);
}

#[test]
fn status_updates_are_strictly_decoded() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["status"]["phaze"] = json!("Running");
    let err = admit_status_update(info("po"), &old, new).expect_err("unknown");
    assert!(
        err.to_string().ends_with("unknown field \"status.phaze\""),
        "{err}"
    );
}
