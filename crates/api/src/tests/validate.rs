//! Validation on create: field paths, error types and upstream's messages.

use serde_json::json;

use super::*;
use crate::FieldErrorType::*;

#[test]
fn valid_objects_of_every_kind_are_admitted() {
    created("po", mk_pod("web"));
    created("svc", mk_service("web"));
    created("deploy", mk_deployment("web"));
    created("rs", mk_replica_set("web"));
    created("endpointslices", mk_endpoint_slice("web-abc"));
    created("ing", mk_ingress("web"));
    created("netpol", mk_network_policy("allow"));
    created("cm", mk_config_map("cfg"));
    created("secret", mk_secret("db"));
    created("no", mk_node("node-a"));
    created("ns", mk_namespace("team-a"));
    created(
        "ev",
        json!({"metadata": {"name": "web.1", "namespace": "default"},
               "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
               "reason": "Started", "type": "Normal"}),
    );
}

#[test]
fn object_names_follow_the_rule_of_their_kind() {
    let mut pod = mk_pod("Web_1");
    assert!(has(&invalid("po", pod.clone()), Invalid, "metadata.name"));
    pod["metadata"]["name"] = json!("web.v1");
    created("po", pod);
    // Services are DNS-1035 labels: no leading digit, no dots.
    assert!(has(
        &invalid("svc", mk_service("1web")),
        Invalid,
        "metadata.name"
    ));
    assert!(has(
        &invalid("svc", mk_service("web.v1")),
        Invalid,
        "metadata.name"
    ));
    // Namespaces are DNS-1123 labels.
    assert!(has(
        &invalid("ns", mk_namespace("team.a")),
        Invalid,
        "metadata.name"
    ));
    let mut cm = mk_config_map("cfg");
    cm["metadata"]["name"] = json!("");
    let errs = invalid("cm", cm);
    assert!(has(&errs, Required, "metadata.name"));
}

#[test]
fn a_missing_name_says_name_or_generate_name_is_required() {
    let mut cm = mk_config_map("cfg");
    cm["metadata"].as_object_mut().expect("meta").remove("name");
    assert_eq!(
        create_error("cm", cm),
        "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );
}

#[test]
fn generate_name_prefixes_are_validated_with_a_trailing_dash_allowed() {
    let mut pod = mk_pod("web-x7k2p");
    pod["metadata"]["generateName"] = json!("web-");
    created("po", pod.clone());
    pod["metadata"]["generateName"] = json!("Web-");
    assert!(has(&invalid("po", pod), Invalid, "metadata.generateName"));
}

#[test]
fn namespaced_kinds_need_a_namespace_and_cluster_kinds_refuse_one() {
    let mut cm = mk_config_map("cfg");
    cm["metadata"]
        .as_object_mut()
        .expect("meta")
        .remove("namespace");
    assert!(has(&invalid("cm", cm), Required, "metadata.namespace"));
    let mut node = mk_node("node-a");
    node["metadata"]["namespace"] = json!("default");
    assert!(has(&invalid("no", node), Forbidden, "metadata.namespace"));
}

#[test]
fn label_keys_and_values_and_annotation_keys_are_validated_for_every_kind() {
    let mut cm = mk_config_map("cfg");
    cm["metadata"]["labels"] = json!({"bad key": "v", "ok": "bad value!"});
    cm["metadata"]["annotations"] = json!({"-bad": "x"});
    let errs = invalid("cm", cm);
    assert_eq!(
        errs.iter()
            .filter(|(k, f)| *k == Invalid && f == "metadata.labels")
            .count(),
        2
    );
    assert!(has(&errs, Invalid, "metadata.annotations"));
    let mut node = mk_node("node-a");
    node["metadata"]["labels"] = json!({"a/b/c": "x"});
    assert!(has(&invalid("no", node), Invalid, "metadata.labels"));
}

#[test]
fn annotations_larger_than_256_kib_are_too_long() {
    let mut cm = mk_config_map("cfg");
    cm["metadata"]["annotations"] = json!({"big": "x".repeat(256 * 1024)});
    assert!(has(&invalid("cm", cm), TooLong, "metadata.annotations"));
}

#[test]
fn service_ports_must_be_in_range_with_upstream_wording() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"][0]["port"] = json!(0);
    svc["spec"]["ports"][0]["targetPort"] = json!(8080);
    let err = admit_create(info("svc"), svc).expect_err("invalid");
    assert_eq!(err.code(), 422);
    assert_eq!(err.reason(), "Invalid");
    assert_eq!(
        err.to_string(),
        "Service \"web\" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
    );
    // As upstream, an unset targetPort defaults to the (invalid) port and is reported too.
    let mut svc = mk_service("web");
    svc["spec"]["ports"][0]["port"] = json!(0);
    assert_eq!(
        create_error("svc", svc),
        "Service \"web\" is invalid: [spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive, \
         spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive]"
    );
}

#[test]
fn service_protocols_are_tcp_udp_or_sctp() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"][0]["protocol"] = json!("HTTP");
    assert_eq!(
        create_error("svc", svc),
        "Service \"web\" is invalid: spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
    );
}

#[test]
fn several_errors_are_listed_in_brackets() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"] = json!([{"port": 0}, {"port": 70000}]);
    let msg = create_error("svc", svc);
    assert!(msg.starts_with("Service \"web\" is invalid: ["), "{msg}");
    assert!(msg.contains("spec.ports[0].name: Required value"), "{msg}");
    assert!(
        msg.contains("spec.ports[1].port: Invalid value: 70000"),
        "{msg}"
    );
    assert!(msg.ends_with(']'), "{msg}");
}

#[test]
fn services_need_ports_unless_headless_or_external_name() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"] = json!([]);
    assert!(has(&invalid("svc", svc.clone()), Required, "spec.ports"));
    svc["spec"]["clusterIP"] = json!("None");
    created("svc", svc.clone());
    svc["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("selector");
    created("svc", svc);
}

#[test]
fn service_port_names_are_required_and_unique_when_there_are_several() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"] = json!([{"name": "http", "port": 80}, {"port": 443}]);
    assert!(has(
        &invalid("svc", svc.clone()),
        Required,
        "spec.ports[1].name"
    ));
    svc["spec"]["ports"] = json!([{"name": "http", "port": 80}, {"name": "http", "port": 443}]);
    assert!(has(
        &invalid("svc", svc.clone()),
        Duplicate,
        "spec.ports[1].name"
    ));
    svc["spec"]["ports"] = json!([{"name": "http", "port": 80}, {"name": "Https", "port": 443}]);
    assert!(has(
        &invalid("svc", svc.clone()),
        Invalid,
        "spec.ports[1].name"
    ));
    svc["spec"]["ports"] = json!([{"name": "a", "port": 80}, {"name": "b", "port": 80}]);
    assert!(has(&invalid("svc", svc), Duplicate, "spec.ports[1]"));
}

#[test]
fn target_ports_are_port_numbers_or_iana_names() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"][0]["targetPort"] = json!("not_a_name");
    assert!(has(
        &invalid("svc", svc.clone()),
        Invalid,
        "spec.ports[0].targetPort"
    ));
    svc["spec"]["ports"][0]["targetPort"] = json!(70000);
    assert!(has(
        &invalid("svc", svc.clone()),
        Invalid,
        "spec.ports[0].targetPort"
    ));
    svc["spec"]["ports"][0]["targetPort"] = json!("http");
    created("svc", svc);
}

#[test]
fn service_types_are_the_four_upstream_ones() {
    let mut svc = mk_service("web");
    svc["spec"]["type"] = json!("Ingress");
    assert_eq!(
        create_error("svc", svc),
        "Service \"web\" is invalid: spec.type: Unsupported value: \"Ingress\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
    );
}

#[test]
fn external_name_services_need_a_lowercase_dns_name() {
    let base = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"type": "ExternalName"}
    });
    assert!(has(
        &invalid("svc", base.clone()),
        Required,
        "spec.externalName"
    ));
    let mut svc = base.clone();
    svc["spec"]["externalName"] = json!("DB.Example.com");
    assert!(has(
        &invalid("svc", svc.clone()),
        Invalid,
        "spec.externalName"
    ));
    svc["spec"]["externalName"] = json!("db.example.com.");
    created("svc", svc.clone());
    svc["spec"]["clusterIP"] = json!("198.51.100.7");
    assert!(has(&invalid("svc", svc), Forbidden, "spec.clusterIPs"));
}

#[test]
fn headless_services_cannot_be_node_ports_or_load_balancers() {
    for ty in ["NodePort", "LoadBalancer"] {
        let mut svc = mk_service("web");
        svc["spec"]["type"] = json!(ty);
        svc["spec"]["clusterIP"] = json!("None");
        let errs = invalid("svc", svc);
        assert!(has(&errs, Invalid, "spec.clusterIPs[0]"), "{ty}: {errs:?}");
    }
}

#[test]
fn node_ports_only_for_node_port_and_load_balancer_services_and_in_range() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"][0]["nodePort"] = json!(30080);
    assert!(has(
        &invalid("svc", svc.clone()),
        Forbidden,
        "spec.ports[0].nodePort"
    ));
    svc["spec"]["type"] = json!("NodePort");
    created("svc", svc.clone());
    svc["spec"]["ports"][0]["nodePort"] = json!(80);
    assert_eq!(
        create_error("svc", svc),
        "Service \"web\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
}

#[test]
fn client_ip_affinity_timeouts_are_between_one_second_and_a_day() {
    for (t, ok) in [(0, false), (1, true), (86400, true), (86401, false)] {
        let mut svc = mk_service("web");
        svc["spec"]["sessionAffinity"] = json!("ClientIP");
        svc["spec"]["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": t}});
        if ok {
            created("svc", svc);
        } else {
            assert!(has(
                &invalid("svc", svc),
                Invalid,
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
            ));
        }
    }
    let mut svc = mk_service("web");
    svc["spec"]["sessionAffinity"] = json!("Sticky");
    assert!(has(
        &invalid("svc", svc),
        NotSupported,
        "spec.sessionAffinity"
    ));
}

#[test]
fn external_traffic_policy_is_only_for_externally_reachable_services() {
    let mut svc = mk_service("web");
    svc["spec"]["externalTrafficPolicy"] = json!("Local");
    assert!(has(
        &invalid("svc", svc.clone()),
        Invalid,
        "spec.externalTrafficPolicy"
    ));
    svc["spec"]["type"] = json!("NodePort");
    created("svc", svc.clone());
    svc["spec"]["externalTrafficPolicy"] = json!("Nearest");
    assert!(has(
        &invalid("svc", svc),
        NotSupported,
        "spec.externalTrafficPolicy"
    ));
}

#[test]
fn cluster_ips_must_be_addresses_or_none() {
    let mut svc = mk_service("web");
    svc["spec"]["clusterIP"] = json!("10.0.0.300");
    let errs = invalid("svc", svc.clone());
    assert!(has(&errs, Invalid, "spec.clusterIPs[0]"), "{errs:?}");
    svc["spec"]["clusterIP"] = json!("2001:db8::10");
    created("svc", svc.clone());
    svc["spec"]["clusterIP"] = json!("198.51.100.10");
    svc["spec"]["clusterIPs"] = json!(["198.51.100.11"]);
    assert!(has(&invalid("svc", svc), Invalid, "spec.clusterIPs"));
}

#[test]
fn service_selectors_are_label_maps() {
    let mut svc = mk_service("web");
    svc["spec"]["selector"] = json!({"app": "no spaces allowed"});
    assert!(has(&invalid("svc", svc), Invalid, "spec.selector"));
}

#[test]
fn containers_need_unique_dns_label_names_and_an_image() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"] = json!([
        {"name": "app", "image": "nginx"},
        {"name": "app", "image": "nginx"},
        {"name": "Side_Car", "image": "envoy"},
        {"name": "noimage"}
    ]);
    let errs = invalid("po", pod);
    assert!(has(&errs, Duplicate, "spec.containers[1].name"));
    assert!(has(&errs, Invalid, "spec.containers[2].name"));
    assert!(has(&errs, Required, "spec.containers[3].image"));
    let mut pod = mk_pod("web");
    pod["spec"]["containers"] = json!([]);
    assert!(has(&invalid("po", pod), Required, "spec.containers"));
}

#[test]
fn init_container_names_may_not_repeat_app_container_names() {
    let mut pod = mk_pod("web");
    pod["spec"]["initContainers"] = json!([{"name": "app", "image": "busybox"}]);
    assert!(has(
        &invalid("po", pod),
        Duplicate,
        "spec.initContainers[0].name"
    ));
}

#[test]
fn container_ports_are_in_range_with_unique_iana_names() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["ports"] = json!([
        {"containerPort": 0},
        {"containerPort": 70000},
        {"name": "http", "containerPort": 80},
        {"name": "http", "containerPort": 81},
        {"name": "this-name-is-too-long", "containerPort": 82},
        {"containerPort": 83, "protocol": "ICMP"}
    ]);
    let errs = invalid("po", pod);
    assert!(has(
        &errs,
        Required,
        "spec.containers[0].ports[0].containerPort"
    ));
    assert!(has(
        &errs,
        Invalid,
        "spec.containers[0].ports[1].containerPort"
    ));
    assert!(has(&errs, Duplicate, "spec.containers[0].ports[3].name"));
    assert!(has(&errs, Invalid, "spec.containers[0].ports[4].name"));
    assert!(has(
        &errs,
        NotSupported,
        "spec.containers[0].ports[5].protocol"
    ));
}

#[test]
fn host_ports_may_not_collide_across_containers() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"] = json!([
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 8080}]},
        {"name": "b", "image": "nginx", "ports": [{"containerPort": 81, "hostPort": 8080}]}
    ]);
    assert!(has(
        &invalid("po", pod),
        Duplicate,
        "spec.containers[1].ports[0].hostPort"
    ));
}

#[test]
fn env_var_names_are_c_identifier_like() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["env"] = json!([{"name": "GOOD_NAME", "value": "1"}, {"name": "1=bad", "value": "x"}, {"value": "x"}]);
    let errs = invalid("po", pod);
    assert!(has(&errs, Invalid, "spec.containers[0].env[1].name"));
    assert!(has(&errs, Required, "spec.containers[0].env[2].name"));
}

#[test]
fn env_sources_are_checked() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["env"] = json!([
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.nope"}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "db", "key": "bad/key"}}},
        {"name": "C", "valueFrom": {}},
        {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}
    ]);
    let errs = invalid("po", pod);
    assert!(has(
        &errs,
        NotSupported,
        "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"
    ));
    assert!(has(
        &errs,
        Invalid,
        "spec.containers[0].env[1].valueFrom.secretKeyRef.key"
    ));
    assert!(has(&errs, Invalid, "spec.containers[0].env[2].valueFrom"));
    assert_eq!(errs.iter().filter(|(_, f)| f.contains("env[3]")).count(), 0);
}

#[test]
fn volume_mounts_must_name_a_declared_volume_and_volumes_one_source() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
    assert!(has(
        &invalid("po", pod.clone()),
        NotFound,
        "spec.containers[0].volumeMounts[0].name"
    ));
    pod["spec"]["volumes"] =
        json!([{"name": "data", "emptyDir": {}, "hostPath": {"path": "/tmp"}}]);
    let errs = invalid("po", pod.clone());
    assert!(
        has(&errs, Forbidden, "spec.volumes[0].hostPath"),
        "{errs:?}"
    );
    pod["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
    created("po", pod);
}

#[test]
fn resource_requests_may_not_exceed_limits() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}});
    assert_eq!(
        create_error("po", pod),
        "Pod \"web\" is invalid: spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"
    );
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["resources"] = json!({"limits": {"gpu": "1"}});
    assert!(has(
        &invalid("po", pod),
        Invalid,
        "spec.containers[0].resources.limits[gpu]"
    ));
}

#[test]
fn restart_and_dns_policies_are_enumerations() {
    let mut pod = mk_pod("web");
    pod["spec"]["restartPolicy"] = json!("Sometimes");
    pod["spec"]["dnsPolicy"] = json!("Google");
    let errs = invalid("po", pod);
    assert!(has(&errs, NotSupported, "spec.restartPolicy"));
    assert!(has(&errs, NotSupported, "spec.dnsPolicy"));
}

#[test]
fn probes_need_exactly_one_handler_and_liveness_success_threshold_one() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["livenessProbe"] =
        json!({"successThreshold": 2, "exec": {"command": ["true"]}});
    pod["spec"]["containers"][0]["readinessProbe"] = json!({"periodSeconds": 5});
    let errs = invalid("po", pod);
    assert!(has(
        &errs,
        Invalid,
        "spec.containers[0].livenessProbe.successThreshold"
    ));
    assert!(has(&errs, Required, "spec.containers[0].readinessProbe"));
}

#[test]
fn tolerations_and_hostnames_are_validated() {
    let mut pod = mk_pod("web");
    pod["spec"]["tolerations"] = json!([{"operator": "Equal", "value": "x"}]);
    pod["spec"]["hostname"] = json!("Web.1");
    let errs = invalid("po", pod);
    assert!(has(&errs, Invalid, "spec.tolerations[0].operator"));
    assert!(has(&errs, Invalid, "spec.hostname"));
}

#[test]
fn deployments_require_a_selector() {
    let mut d = mk_deployment("web");
    d["spec"].as_object_mut().expect("spec").remove("selector");
    let errs = invalid("deploy", d);
    assert!(has(&errs, Required, "spec.selector"));
    assert!(has(&errs, Invalid, "spec.template.metadata.labels"));
}

#[test]
fn empty_deployment_selectors_are_invalid() {
    let mut d = mk_deployment("web");
    d["spec"]["selector"] = json!({});
    assert_eq!(
        create_error("deploy", d),
        "Deployment.apps \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
    );
}

#[test]
fn deployment_selectors_must_match_the_template_labels() {
    let mut d = mk_deployment("web");
    d["spec"]["selector"] = json!({"matchLabels": {"app": "api"}});
    assert_eq!(
        create_error("deploy", d),
        "Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
    );
    let mut d = mk_deployment("web");
    d["spec"]["selector"] =
        json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]});
    created("deploy", d);
}

#[test]
fn deployment_selector_requirements_are_validated() {
    let mut d = mk_deployment("web");
    d["spec"]["selector"] =
        json!({"matchExpressions": [{"key": "app", "operator": "Near", "values": ["web"]}]});
    let errs = invalid("deploy", d);
    assert!(
        has(&errs, Invalid, "spec.selector.matchExpressions[0].operator"),
        "{errs:?}"
    );
    let mut d = mk_deployment("web");
    d["spec"]["selector"] = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In"}]});
    assert!(has(
        &invalid("deploy", d),
        Required,
        "spec.selector.matchExpressions[0].values"
    ));
}

#[test]
fn deployment_numbers_and_strategy_are_validated() {
    let mut d = mk_deployment("web");
    d["spec"]["replicas"] = json!(-1);
    d["spec"]["strategy"] = json!({"rollingUpdate": {"maxUnavailable": "110%", "maxSurge": "abc"}});
    d["spec"]["minReadySeconds"] = json!(700);
    let errs = invalid("deploy", d);
    assert!(has(&errs, Invalid, "spec.replicas"));
    assert!(has(
        &errs,
        Invalid,
        "spec.strategy.rollingUpdate.maxUnavailable"
    ));
    assert!(has(&errs, Invalid, "spec.strategy.rollingUpdate.maxSurge"));
    assert!(has(&errs, Invalid, "spec.progressDeadlineSeconds"));
    let mut d = mk_deployment("web");
    d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert!(has(
        &invalid("deploy", d),
        NotSupported,
        "spec.template.spec.restartPolicy"
    ));
}

#[test]
fn replica_set_templates_are_validated_like_pods() {
    let mut rs = mk_replica_set("web");
    rs["spec"]["template"]["spec"]["containers"][0]["name"] = json!("App");
    rs["spec"]["selector"] = json!({"matchLabels": {"app": "other"}});
    let errs = invalid("rs", rs);
    assert!(has(&errs, Invalid, "spec.template.spec.containers[0].name"));
    assert!(has(&errs, Invalid, "spec.template.metadata.labels"));
}

#[test]
fn endpoint_slice_address_types_and_addresses_are_validated() {
    let mut es = mk_endpoint_slice("web-abc");
    es["addressType"] = json!("IP");
    assert!(has(
        &invalid("endpointslices", es),
        NotSupported,
        "addressType"
    ));
    let mut es = mk_endpoint_slice("web-abc");
    es["endpoints"] =
        json!([{"addresses": ["2001:db8::1"]}, {"addresses": []}, {"addresses": ["127.0.0.1"]}]);
    let errs = invalid("endpointslices", es);
    assert!(has(&errs, Invalid, "endpoints[0].addresses[0]"));
    assert!(has(&errs, Required, "endpoints[1].addresses"));
    assert!(has(&errs, Invalid, "endpoints[2].addresses[0]"));
    let mut es = mk_endpoint_slice("web-abc");
    es["addressType"] = json!("FQDN");
    es["endpoints"] = json!([{"addresses": ["db.example.com"]}, {"addresses": ["localhost"]}]);
    let errs = invalid("endpointslices", es);
    assert_eq!(
        errs,
        vec![(Invalid, "endpoints[1].addresses[0]".to_string())]
    );
}

#[test]
fn endpoint_slices_hold_at_most_a_thousand_endpoints_of_a_hundred_addresses() {
    let mut es = mk_endpoint_slice("web-abc");
    let many: Vec<serde_json::Value> = (0..1001)
        .map(|i| json!({"addresses": [format!("192.0.2.{}", i % 250 + 1)]}))
        .collect();
    es["endpoints"] = json!(many);
    assert!(has(&invalid("endpointslices", es), TooMany, "endpoints"));
    let mut es = mk_endpoint_slice("web-abc");
    let addrs: Vec<String> = (0..101).map(|i| format!("198.51.100.{}", i + 1)).collect();
    es["endpoints"] = json!([{"addresses": addrs}]);
    assert!(has(
        &invalid("endpointslices", es),
        TooMany,
        "endpoints[0].addresses"
    ));
}

#[test]
fn endpoint_slice_ports_have_unique_names_and_known_protocols() {
    let mut es = mk_endpoint_slice("web-abc");
    es["ports"] =
        json!([{"name": "http", "port": 80}, {"name": "http", "port": 81, "protocol": "QUIC"}]);
    let errs = invalid("endpointslices", es);
    assert!(has(&errs, Duplicate, "ports[1].name"));
    assert!(has(&errs, NotSupported, "ports[1].protocol"));
}

#[test]
fn ingress_hosts_are_dns_names_optionally_with_a_leading_wildcard() {
    let mut ing = mk_ingress("web");
    ing["spec"]["rules"][0]["host"] = json!("*.example.com");
    created("ing", ing.clone());
    ing["spec"]["rules"][0]["host"] = json!("foo.*.example.com");
    assert!(has(
        &invalid("ing", ing.clone()),
        Invalid,
        "spec.rules[0].host"
    ));
    ing["spec"]["rules"][0]["host"] = json!("192.0.2.1");
    assert!(has(&invalid("ing", ing), Invalid, "spec.rules[0].host"));
}

#[test]
fn ingress_paths_need_a_path_type_and_absolute_prefix_paths() {
    let mut ing = mk_ingress("web");
    ing["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("api");
    assert!(has(
        &invalid("ing", ing.clone()),
        Invalid,
        "spec.rules[0].http.paths[0].path"
    ));
    ing["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("ImplementationSpecific");
    assert!(has(
        &invalid("ing", ing.clone()),
        Invalid,
        "spec.rules[0].http.paths[0].path"
    ));
    ing["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("Regex");
    assert!(has(
        &invalid("ing", ing.clone()),
        NotSupported,
        "spec.rules[0].http.paths[0].pathType"
    ));
    ing["spec"]["rules"][0]["http"]["paths"][0]
        .as_object_mut()
        .expect("path")
        .remove("pathType");
    assert_eq!(
        create_error("ing", ing),
        "Ingress.networking.k8s.io \"web\" is invalid: spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
    );
}

#[test]
fn ingress_backends_name_a_service_and_a_port_number_or_name() {
    let mut ing = mk_ingress("web");
    let backend = "/spec/rules/0/http/paths/0/backend/service/port";
    *ing.pointer_mut(backend).expect("port") = json!({"number": 80, "name": "http"});
    assert!(has(
        &invalid("ing", ing.clone()),
        Invalid,
        "spec.rules[0].http.paths[0].backend"
    ));
    *ing.pointer_mut(backend).expect("port") = json!({});
    assert!(has(
        &invalid("ing", ing.clone()),
        Required,
        "spec.rules[0].http.paths[0].backend"
    ));
    *ing.pointer_mut(backend).expect("port") = json!({"name": "http"});
    created("ing", ing.clone());
    *ing.pointer_mut("/spec/rules/0/http/paths/0/backend/service/name")
        .expect("name") = json!("Web");
    assert!(has(
        &invalid("ing", ing),
        Invalid,
        "spec.rules[0].http.paths[0].backend.service.name"
    ));
    let empty = json!({"metadata": {"name": "x", "namespace": "default"}, "spec": {}});
    assert!(has(&invalid("ing", empty), Invalid, "spec"));
}

#[test]
fn network_policy_ip_blocks_need_valid_cidrs_with_strict_subset_exceptions() {
    let mut np = mk_network_policy("allow");
    np["spec"]["ingress"][0]["from"][0]["ipBlock"] = json!({"cidr": "192.0.2.0/33"});
    assert!(has(
        &invalid("netpol", np.clone()),
        Invalid,
        "spec.ingress[0].from[0].ipBlock.cidr"
    ));
    np["spec"]["ingress"][0]["from"][0]["ipBlock"] =
        json!({"cidr": "192.0.2.0/24", "except": ["198.51.100.0/25"]});
    assert!(has(
        &invalid("netpol", np.clone()),
        Invalid,
        "spec.ingress[0].from[0].ipBlock.except[0]"
    ));
    np["spec"]["ingress"][0]["from"][0]["ipBlock"] =
        json!({"cidr": "192.0.2.0/24", "except": ["192.0.2.0/24"]});
    assert!(has(
        &invalid("netpol", np),
        Invalid,
        "spec.ingress[0].from[0].ipBlock.except[0]"
    ));
}

#[test]
fn network_policy_ports_protocols_and_peers_are_validated() {
    let mut np = mk_network_policy("allow");
    np["spec"]["ingress"][0]["ports"] =
        json!([{"port": 0}, {"port": 80, "protocol": "ICMP"}, {"port": "http", "endPort": 90}]);
    np["spec"]["ingress"][0]["from"] =
        json!([{}, {"podSelector": {"matchLabels": {"app": "a b"}}}]);
    np["spec"]["egress"] =
        json!([{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}, "podSelector": {}}]}]);
    let errs = invalid("netpol", np);
    assert!(has(&errs, Invalid, "spec.ingress[0].ports[0].port"));
    assert!(has(
        &errs,
        NotSupported,
        "spec.ingress[0].ports[1].protocol"
    ));
    assert!(has(&errs, Invalid, "spec.ingress[0].ports[2].endPort"));
    assert!(has(&errs, Required, "spec.ingress[0].from[0]"));
    assert!(has(
        &errs,
        Invalid,
        "spec.ingress[0].from[1].podSelector.matchLabels"
    ));
    assert!(has(&errs, Forbidden, "spec.egress[0].to[0]"));
}

#[test]
fn config_map_and_secret_keys_are_config_keys() {
    let mut cm = mk_config_map("cfg");
    cm["data"] = json!({"ok.key_1-x": "1", "bad/key": "2"});
    let errs = invalid("cm", cm);
    assert_eq!(errs, vec![(Invalid, "data[bad/key]".to_string())]);
    let mut s = mk_secret("db");
    s["stringData"] = json!({"a b": "x"});
    assert!(has(&invalid("secret", s), Invalid, "data[a b]"));
}

#[test]
fn config_maps_and_secrets_hold_at_most_one_mebibyte() {
    let mut cm = mk_config_map("cfg");
    cm["data"] = json!({"big": "x".repeat(1024 * 1024 + 1)});
    assert!(has(&invalid("cm", cm), TooLong, ""));
    let mut s = mk_secret("db");
    s["stringData"] = json!({"big": "x".repeat(1024 * 1024 + 1)});
    let err = create_error("secret", s);
    assert_eq!(
        err,
        "Secret \"db\" is invalid: data: Too long: may not be more than 1048576 bytes"
    );
}

#[test]
fn typed_secrets_need_their_keys() {
    let s = json!({"metadata": {"name": "tls", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {"tls.crt": ""}});
    let errs = invalid("secret", s);
    assert_eq!(errs, vec![(Required, "data[tls.key]".to_string())]);
}

#[test]
fn node_pod_cidrs_must_be_valid_and_one_per_family() {
    let mut node = mk_node("node-a");
    node["spec"] = json!({"podCIDR": "10.244.1.0/33"});
    assert!(has(&invalid("no", node), Invalid, "spec.podCIDRs[0]"));
    let mut node = mk_node("node-a");
    node["spec"] = json!({"podCIDRs": ["10.244.1.0/24", "10.244.2.0/24"]});
    assert!(has(&invalid("no", node), Invalid, "spec.podCIDRs"));
    let mut node = mk_node("node-a");
    node["spec"] = json!({"podCIDRs": ["10.244.1.0/24", "fd00:10:244:1::/64"]});
    created("no", node);
}

#[test]
fn node_taints_need_valid_keys_and_effects() {
    let mut node = mk_node("node-a");
    node["spec"]["taints"] = json!([{"key": "dedicated", "effect": "Sometimes"}, {"key": "bad key", "effect": "NoSchedule"}]);
    let errs = invalid("no", node);
    assert!(has(&errs, NotSupported, "metadata.taints[0].effect"));
    assert!(has(&errs, Invalid, "metadata.taints[1].key"));
}

#[test]
fn namespace_finalizers_must_be_standard_or_qualified() {
    let mut ns = mk_namespace("team-a");
    ns["spec"] = json!({"finalizers": ["custom"]});
    assert!(has(&invalid("ns", ns), Invalid, "spec.finalizers"));
}

#[test]
fn events_must_match_their_involved_object_namespace() {
    let ev = json!({"metadata": {"name": "x.1", "namespace": "prod"},
                    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"}});
    assert!(has(&invalid("ev", ev), Invalid, "involvedObject.namespace"));
}

#[test]
fn ingress_class_controllers_are_domain_prefixed_paths() {
    let ic = json!({"metadata": {"name": "knet"}, "spec": {"controller": "nginx"}});
    assert!(has(
        &invalid("ingressclasses", ic),
        Invalid,
        "spec.controller"
    ));
    let ic = json!({"metadata": {"name": "knet"}, "spec": {}});
    assert!(has(
        &invalid("ingressclasses", ic),
        Required,
        "spec.controller"
    ));
}

#[test]
fn invalid_errors_carry_cause_reasons_and_bodies() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"][0]["port"] = json!(0);
    svc["spec"]["ports"][0]["targetPort"] = json!(80);
    let Err(AdmitError::Invalid { kind, name, errors }) = admit_create(info("svc"), svc) else {
        panic!("expected Invalid");
    };
    assert_eq!((kind.as_str(), name.as_str()), ("Service", "web"));
    let e = &errors[0];
    assert_eq!(e.reason(), "FieldValueInvalid");
    assert_eq!(e.field, "spec.ports[0].port");
    assert_eq!(e.value.as_deref(), Some("0"));
    assert_eq!(
        e.body(),
        "Invalid value: 0: must be between 1 and 65535, inclusive"
    );
}
