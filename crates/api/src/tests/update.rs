//! Updates of the main resource: immutable fields, pod spec rules, status kept from storage.

use serde_json::json;

use super::*;
use crate::FieldErrorType::*;

fn updated(kind: &str, old: &Value, new: Value) -> Value {
    match admit_update(info(kind), old, new) {
        Ok(v) => v,
        Err(e) => panic!("{kind} update not admitted: {e}"),
    }
}

#[test]
fn unchanged_objects_can_be_written_back() {
    for (kind, obj) in [
        ("po", mk_pod("web")),
        ("svc", mk_service("web")),
        ("deploy", mk_deployment("web")),
        ("rs", mk_replica_set("web")),
        ("endpointslices", mk_endpoint_slice("web-abc")),
        ("ing", mk_ingress("web")),
        ("netpol", mk_network_policy("allow")),
        ("cm", mk_config_map("cfg")),
        ("secret", mk_secret("db")),
        ("no", mk_node("node-a")),
        ("ns", mk_namespace("team-a")),
    ] {
        let old = stored(kind, obj);
        let new = updated(kind, &old, old.clone());
        assert_eq!(new, old, "{kind}");
    }
}

#[test]
fn name_namespace_and_uid_are_immutable() {
    let old = stored("cm", mk_config_map("cfg"));
    let mut new = old.clone();
    new["metadata"]["name"] = json!("other");
    new["metadata"]["uid"] = json!("another-uid");
    let errs = invalid_update("cm", &old, new);
    assert!(has(&errs, Invalid, "metadata.name"));
    assert!(has(&errs, Invalid, "metadata.uid"));
    let mut new = old.clone();
    new["metadata"]["namespace"] = json!("prod");
    assert_eq!(
        admit_update(info("cm"), &old, new)
            .expect_err("immutable")
            .to_string(),
        "ConfigMap \"cfg\" is invalid: metadata.namespace: Invalid value: \"prod\": field is immutable"
    );
}

#[test]
fn omitted_uid_and_creation_timestamp_are_kept_from_the_stored_object() {
    let old = stored("cm", mk_config_map("cfg"));
    let mut new = old.clone();
    let meta = new["metadata"].as_object_mut().expect("meta");
    meta.remove("uid");
    meta.remove("creationTimestamp");
    let v = updated("cm", &old, new);
    assert_eq!(v["metadata"]["uid"], old["metadata"]["uid"]);
    assert_eq!(
        v["metadata"]["creationTimestamp"],
        old["metadata"]["creationTimestamp"]
    );
}

#[test]
fn deployment_selectors_are_immutable() {
    let old = stored("deploy", mk_deployment("web"));
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "tier": "front"}});
    new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
    let err = admit_update(info("deploy"), &old, new).expect_err("immutable selector");
    assert_eq!(
        err.to_string(),
        "Deployment.apps \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"tier\":\"front\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    );
}

#[test]
fn replica_set_selectors_are_immutable_but_templates_may_change() {
    let old = stored("rs", mk_replica_set("web"));
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    new["spec"]["replicas"] = json!(3);
    let v = updated("rs", &old, new.clone());
    assert_eq!(v["spec"]["replicas"], 3);
    new["spec"]["selector"] = json!({"matchLabels": {"app": "api"}});
    new["spec"]["template"]["metadata"]["labels"] = json!({"app": "api"});
    assert!(has(
        &invalid_update("rs", &old, new),
        Invalid,
        "spec.selector"
    ));
}

#[test]
fn status_sent_to_the_main_resource_is_ignored() {
    let old = stored("deploy", mk_deployment("web"));
    let mut new = old.clone();
    new["status"] = json!({"replicas": 5, "readyReplicas": 5});
    new["spec"]["replicas"] = json!(2);
    let v = updated("deploy", &old, new);
    assert_eq!(v["status"], json!({}));
    assert_eq!(v["spec"]["replicas"], 2);

    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["status"] = json!({"phase": "Running", "podIP": "192.0.2.4"});
    let v = updated("po", &old, new);
    assert_eq!(
        v["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"})
    );
}

#[test]
fn pod_container_images_may_change() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    let v = updated("po", &old, new);
    assert_eq!(v["spec"]["containers"][0]["image"], "nginx:1.28");
}

#[test]
fn other_pod_spec_changes_are_forbidden() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8080}]);
    let err = admit_update(info("po"), &old, new).expect_err("forbidden");
    let AdmitError::Invalid { errors, .. } = &err else {
        panic!("expected Invalid, got {err}");
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].kind, errors[0].field.as_str()),
        (Forbidden, "spec")
    );
    assert!(errors[0].detail.starts_with(
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
    ));
    assert!(
        errors[0].detail.contains("containers[0].ports"),
        "{}",
        errors[0].detail
    );
}

#[test]
fn pods_may_not_add_or_remove_containers() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["spec"]["containers"] =
        json!([{"name": "app", "image": "nginx"}, {"name": "side", "image": "envoy"}]);
    assert!(has(
        &invalid_update("po", &old, new),
        Forbidden,
        "spec.containers"
    ));
}

#[test]
fn pod_tolerations_may_only_be_added() {
    let old = stored("po", mk_pod("web"));
    let mut new = old.clone();
    new["spec"]["tolerations"]
        .as_array_mut()
        .expect("tolerations")
        .push(json!({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}));
    let v = updated("po", &old, new);
    assert_eq!(v["spec"]["tolerations"].as_array().map(Vec::len), Some(3));
    let mut pod = mk_pod("web");
    pod["spec"]["tolerations"] =
        json!([{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]);
    let old = stored("po", pod);
    let mut new = old.clone();
    new["spec"]["tolerations"][0]["effect"] = json!("PreferNoSchedule");
    assert!(has(
        &invalid_update("po", &old, new),
        Forbidden,
        "spec.tolerations"
    ));
}

#[test]
fn pod_active_deadlines_may_only_shrink() {
    let mut pod = mk_pod("web");
    pod["spec"]["activeDeadlineSeconds"] = json!(100);
    let old = stored("po", pod);
    let mut new = old.clone();
    new["spec"]["activeDeadlineSeconds"] = json!(50);
    updated("po", &old, new.clone());
    new["spec"]["activeDeadlineSeconds"] = json!(200);
    assert!(has(
        &invalid_update("po", &old, new),
        Invalid,
        "spec.activeDeadlineSeconds"
    ));
}

#[test]
fn service_cluster_ips_may_not_change_once_set() {
    let mut svc = mk_service("web");
    svc["spec"]["clusterIP"] = json!("198.51.100.10");
    let old = stored("svc", svc);
    let mut new = old.clone();
    new["spec"]["clusterIP"] = json!("198.51.100.11");
    let errs = invalid_update("svc", &old, new);
    assert!(has(&errs, Invalid, "spec.clusterIPs[0]"), "{errs:?}");
}

#[test]
fn service_updates_without_allocated_values_keep_them() {
    let mut svc = mk_service("web");
    svc["spec"]["type"] = json!("NodePort");
    let mut old = stored("svc", svc.clone());
    old["spec"]["clusterIP"] = json!("198.51.100.10");
    old["spec"]["clusterIPs"] = json!(["198.51.100.10"]);
    old["spec"]["ipFamilies"] = json!(["IPv4"]);
    old["spec"]["ipFamilyPolicy"] = json!("SingleStack");
    old["spec"]["ports"][0]["nodePort"] = json!(30080);
    // What `kubectl apply` of the original manifest sends: no allocated fields at all.
    let mut new = svc;
    new["metadata"] = old["metadata"].clone();
    let v = updated("svc", &old, new);
    assert_eq!(v["spec"]["clusterIP"], "198.51.100.10");
    assert_eq!(v["spec"]["clusterIPs"], json!(["198.51.100.10"]));
    assert_eq!(v["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(v["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(v["spec"]["ports"][0]["nodePort"], 30080);
}

#[test]
fn services_may_switch_to_and_from_external_name() {
    let mut svc = mk_service("web");
    svc["spec"]["clusterIP"] = json!("198.51.100.10");
    let old = stored("svc", svc);
    let mut new = old.clone();
    new["spec"]["type"] = json!("ExternalName");
    new["spec"]["externalName"] = json!("web.example.com");
    let v = updated("svc", &old, new);
    assert!(v["spec"].get("clusterIP").is_none());
    assert!(v["spec"].get("clusterIPs").is_none());
    let mut back = v.clone();
    back["spec"]["type"] = json!("ClusterIP");
    back["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("externalName");
    back["spec"]["clusterIP"] = json!("198.51.100.20");
    let v2 = updated("svc", &v, back);
    assert_eq!(v2["spec"]["clusterIPs"], json!(["198.51.100.20"]));
}

#[test]
fn node_port_services_turned_cluster_ip_drop_their_node_ports() {
    let mut svc = mk_service("web");
    svc["spec"]["type"] = json!("NodePort");
    svc["spec"]["ports"][0]["nodePort"] = json!(30080);
    let old = stored("svc", svc);
    let mut new = old.clone();
    new["spec"]["type"] = json!("ClusterIP");
    let v = updated("svc", &old, new);
    assert!(v["spec"]["ports"][0].get("nodePort").is_none());
    assert!(v["spec"].get("externalTrafficPolicy").is_none());
}

#[test]
fn immutable_config_maps_and_secrets_refuse_data_changes() {
    let mut cm = mk_config_map("cfg");
    cm["immutable"] = json!(true);
    let old = stored("cm", cm);
    let mut new = old.clone();
    new["data"]["app.properties"] = json!("color=red");
    assert_eq!(
        admit_update(info("cm"), &old, new)
            .expect_err("immutable")
            .to_string(),
        "ConfigMap \"cfg\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    let mut new = old.clone();
    new["immutable"] = json!(false);
    assert!(has(
        &invalid_update("cm", &old, new),
        Forbidden,
        "immutable"
    ));

    let mut s = mk_secret("db");
    s["immutable"] = json!(true);
    let old = stored("secret", s);
    let mut new = old.clone();
    new["data"]["password"] = json!("bmV3");
    assert!(has(&invalid_update("secret", &old, new), Forbidden, "data"));
    let mut new = old.clone();
    new["type"] = json!("kubernetes.io/basic-auth");
    new["data"]["username"] = json!("YQ==");
    assert!(has(&invalid_update("secret", &old, new), Invalid, "type"));
}

#[test]
fn mutable_config_maps_accept_data_changes() {
    let old = stored("cm", mk_config_map("cfg"));
    let mut new = old.clone();
    new["data"]["app.properties"] = json!("color=red");
    assert_eq!(
        updated("cm", &old, new)["data"]["app.properties"],
        "color=red"
    );
}

#[test]
fn namespace_updates_keep_finalizers_and_status() {
    let old = stored("ns", mk_namespace("team-a"));
    let mut new = old.clone();
    new["spec"]["finalizers"] = json!([]);
    new["status"]["phase"] = json!("Terminating");
    let v = updated("ns", &old, new);
    assert_eq!(v["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(v["status"]["phase"], "Active");
}

#[test]
fn node_pod_cidrs_may_be_set_once() {
    let old = stored("no", json!({"metadata": {"name": "node-a"}}));
    let mut new = old.clone();
    new["spec"] = json!({"podCIDR": "10.244.3.0/24"});
    let v = updated("no", &old, new);
    assert_eq!(v["spec"]["podCIDRs"], json!(["10.244.3.0/24"]));
    let mut changed = v.clone();
    changed["spec"] = json!({"podCIDR": "10.244.4.0/24", "podCIDRs": ["10.244.4.0/24"]});
    assert!(has(
        &invalid_update("no", &v, changed),
        Forbidden,
        "spec.podCIDRs"
    ));
}

#[test]
fn endpoint_slice_address_types_are_immutable() {
    let old = stored("endpointslices", mk_endpoint_slice("web-abc"));
    let mut new = old.clone();
    new["addressType"] = json!("IPv6");
    new["endpoints"] = json!([{"addresses": ["2001:db8::10"]}]);
    assert!(has(
        &invalid_update("endpointslices", &old, new),
        Invalid,
        "addressType"
    ));
}

#[test]
fn ingress_class_controllers_are_immutable() {
    let ic = json!({"metadata": {"name": "knet"}, "spec": {"controller": "knet.dev/ingress"}});
    let old = stored("ingressclasses", ic);
    let mut new = old.clone();
    new["spec"]["controller"] = json!("example.com/other");
    assert!(has(
        &invalid_update("ingressclasses", &old, new),
        Invalid,
        "spec.controller"
    ));
}

#[test]
fn updates_are_strictly_decoded_too() {
    let old = stored("svc", mk_service("web"));
    let mut new = old.clone();
    new["spec"]["ports"][0]["nodeport"] = json!(30000);
    let err = admit_update(info("svc"), &old, new).expect_err("unknown field");
    assert_eq!(
        err.to_string(),
        "Service in version \"v1\" cannot be handled as a Service: strict decoding error: unknown field \"spec.ports[0].nodeport\""
    );
}
