//! Defaulting, strategies and mutating admission as kube-apiserver applies them on create.

use serde_json::json;

use super::*;

#[test]
fn pods_get_the_pod_spec_defaults() {
    let v = created("pods", mk_pod("web"));
    let spec = &v["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["enableServiceLinks"], true);
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["serviceAccount"], "default");
}

#[test]
fn containers_get_termination_message_and_pull_policy_defaults() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"] = json!([
        {"name": "tagged", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
        {"name": "untagged", "image": "nginx"},
        {"name": "latest", "image": "nginx:latest"}
    ]);
    pod["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox"}]);
    let v = created("pods", pod);
    let c = &v["spec"]["containers"];
    assert_eq!(c[0]["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c[0]["terminationMessagePolicy"], "File");
    assert_eq!(c[0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c[0]["ports"][0]["protocol"], "TCP");
    assert_eq!(c[1]["imagePullPolicy"], "Always");
    assert_eq!(c[2]["imagePullPolicy"], "Always");
    let init = &v["spec"]["initContainers"][0];
    assert_eq!(init["imagePullPolicy"], "Always");
    assert_eq!(init["terminationMessagePolicy"], "File");
}

#[test]
fn probes_and_downward_api_env_get_their_defaults() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["readinessProbe"] = json!({"httpGet": {"port": 80}});
    pod["spec"]["containers"][0]["livenessProbe"] =
        json!({"tcpSocket": {"port": "http"}, "periodSeconds": 5});
    pod["spec"]["containers"][0]["ports"] = json!([{"name": "http", "containerPort": 80}]);
    pod["spec"]["containers"][0]["env"] =
        json!([{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]);
    let v = created("pods", pod);
    let c = &v["spec"]["containers"][0];
    let r = &c["readinessProbe"];
    assert_eq!(r["timeoutSeconds"], 1);
    assert_eq!(r["periodSeconds"], 10);
    assert_eq!(r["successThreshold"], 1);
    assert_eq!(r["failureThreshold"], 3);
    assert_eq!(r["httpGet"]["scheme"], "HTTP");
    assert_eq!(r["httpGet"]["path"], "/");
    assert_eq!(c["livenessProbe"]["periodSeconds"], 5);
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
}

#[test]
fn pods_tolerate_unready_and_unreachable_nodes_for_five_minutes() {
    let v = created("pods", mk_pod("web"));
    assert_eq!(
        v["spec"]["tolerations"],
        json!([
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
        ])
    );
}

#[test]
fn pods_that_already_tolerate_not_ready_nodes_keep_their_toleration() {
    let mut pod = mk_pod("web");
    pod["spec"]["tolerations"] = json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]);
    let v = created("pods", pod);
    let t = v["spec"]["tolerations"].as_array().expect("tolerations");
    assert_eq!(t.len(), 2);
    assert_eq!(t[0]["tolerationSeconds"], 10);
    assert_eq!(t[1]["key"], "node.kubernetes.io/unreachable");
}

#[test]
fn new_pods_are_pending_and_best_effort_without_resources() {
    let mut pod = mk_pod("web");
    pod["status"] = json!({"phase": "Running", "podIP": "192.0.2.3"});
    let v = created("pods", pod);
    assert_eq!(
        v["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"})
    );
}

#[test]
fn pods_with_only_limits_get_equal_requests_and_are_guaranteed() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": "500m", "memory": "128Mi"}});
    let v = created("pods", pod);
    assert_eq!(
        v["spec"]["containers"][0]["resources"]["requests"],
        json!({"cpu": "500m", "memory": "128Mi"})
    );
    assert_eq!(v["status"]["qosClass"], "Guaranteed");
}

#[test]
fn host_network_pods_publish_their_container_ports_on_the_host() {
    let mut pod = mk_pod("web");
    pod["spec"]["hostNetwork"] = json!(true);
    pod["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8080}]);
    let v = created("pods", pod);
    assert_eq!(v["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
}

#[test]
fn volumes_get_default_modes_and_empty_dir_when_no_source_is_given() {
    let mut pod = mk_pod("web");
    pod["spec"]["volumes"] = json!([
        {"name": "scratch"},
        {"name": "cfg", "configMap": {"name": "app"}},
        {"name": "creds", "secret": {"secretName": "db"}},
        {"name": "host", "hostPath": {"path": "/var/log"}}
    ]);
    let v = created("pods", pod);
    let vols = &v["spec"]["volumes"];
    assert_eq!(vols[0]["emptyDir"], json!({}));
    assert_eq!(vols[1]["configMap"]["defaultMode"], 420);
    assert_eq!(vols[2]["secret"]["defaultMode"], 420);
    assert_eq!(vols[3]["hostPath"]["type"], "");
}

#[test]
fn cluster_ip_services_get_their_defaults() {
    let v = created("svc", mk_service("web"));
    let spec = &v["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert!(spec.get("externalTrafficPolicy").is_none());
    assert!(spec.get("allocateLoadBalancerNodePorts").is_none());
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
}

#[test]
fn externally_reachable_services_get_an_external_traffic_policy() {
    let mut svc = mk_service("web");
    svc["spec"]["type"] = json!("NodePort");
    let v = created("svc", svc);
    assert_eq!(v["spec"]["externalTrafficPolicy"], "Cluster");
    let mut svc = mk_service("web");
    svc["spec"]["type"] = json!("LoadBalancer");
    let v = created("svc", svc);
    assert_eq!(v["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(v["spec"]["allocateLoadBalancerNodePorts"], true);
}

#[test]
fn client_ip_affinity_gets_a_three_hour_timeout() {
    let mut svc = mk_service("web");
    svc["spec"]["sessionAffinity"] = json!("ClientIP");
    let v = created("svc", svc);
    assert_eq!(
        v["spec"]["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
}

#[test]
fn external_name_services_get_none_of_the_cluster_ip_fields() {
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}
    });
    let v = created("svc", svc);
    let spec = &v["spec"];
    assert!(spec.get("internalTrafficPolicy").is_none());
    assert!(spec.get("clusterIP").is_none());
    assert!(spec.get("clusterIPs").is_none());
    assert!(spec.get("externalTrafficPolicy").is_none());
}

#[test]
fn headless_services_keep_cluster_ip_none() {
    let mut svc = mk_service("db");
    svc["spec"]["clusterIP"] = json!("None");
    let v = created("svc", svc);
    assert_eq!(v["spec"]["clusterIP"], "None");
    assert_eq!(v["spec"]["clusterIPs"], json!(["None"]));
}

#[test]
fn a_requested_cluster_ip_is_mirrored_into_cluster_ips() {
    let mut svc = mk_service("web");
    svc["spec"]["clusterIP"] = json!("198.51.100.10");
    let v = created("svc", svc);
    assert_eq!(v["spec"]["clusterIPs"], json!(["198.51.100.10"]));
}

#[test]
fn deployments_get_replicas_strategy_limits_and_template_defaults() {
    let v = created("deploy", mk_deployment("web"));
    let spec = &v["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let t = &spec["template"]["spec"];
    assert_eq!(t["restartPolicy"], "Always");
    assert_eq!(t["terminationGracePeriodSeconds"], 30);
    assert_eq!(t["containers"][0]["imagePullPolicy"], "IfNotPresent");
    // Pod-only defaults and admission do not touch templates.
    assert!(t.get("enableServiceLinks").is_none());
    assert!(t.get("tolerations").is_none());
    assert_eq!(v["status"], json!({}));
}

#[test]
fn replica_sets_default_to_one_replica() {
    let v = created("rs", mk_replica_set("web"));
    assert_eq!(v["spec"]["replicas"], 1);
}

#[test]
fn secrets_default_to_opaque_and_fold_string_data_into_data() {
    let mut s = mk_secret("db");
    s["stringData"] = json!({"user": "admin"});
    let v = created("secrets", s);
    assert_eq!(v["type"], "Opaque");
    assert_eq!(
        v["data"],
        json!({"password": "czNjcjN0", "user": "YWRtaW4="})
    );
    assert!(v.get("stringData").is_none());
}

#[test]
fn namespaces_are_active_with_the_kubernetes_finalizer_and_name_label() {
    let v = created("ns", mk_namespace("team-a"));
    assert_eq!(v["status"]["phase"], "Active");
    assert_eq!(v["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(
        v["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
}

#[test]
fn endpoint_ports_default_to_tcp() {
    let ep = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}]
    });
    assert_eq!(
        created("ep", ep)["subsets"][0]["ports"][0]["protocol"],
        "TCP"
    );
    let mut es = mk_endpoint_slice("web-abc");
    es["ports"] = json!([{"port": 80}]);
    let v = created("endpointslices", es);
    assert_eq!(
        v["ports"][0],
        json!({"name": "", "port": 80, "protocol": "TCP"})
    );
}

#[test]
fn network_policies_get_policy_types_and_tcp_ports() {
    let v = created("netpol", mk_network_policy("allow-web"));
    assert_eq!(v["spec"]["policyTypes"], json!(["Ingress"]));
    assert_eq!(v["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP");
    let mut np = mk_network_policy("egress");
    np["spec"]["egress"] = json!([{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]);
    let v = created("netpol", np);
    assert_eq!(v["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
}

#[test]
fn ingress_class_parameters_default_to_cluster_scope() {
    let ic = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": "knet"},
        "spec": {"controller": "knet.dev/ingress", "parameters": {"kind": "Config", "name": "default"}}
    });
    assert_eq!(
        created("ingressclasses", ic)["spec"]["parameters"]["scope"],
        "Cluster"
    );
}

#[test]
fn ingresses_are_stored_with_an_empty_load_balancer_status() {
    let v = created("ing", mk_ingress("web"));
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
}

#[test]
fn nodes_get_allocatable_from_capacity_and_pod_cidrs_from_pod_cidr() {
    let mut node = mk_node("node-a");
    node["status"] = json!({"capacity": {"cpu": 4, "memory": "8Gi", "pods": "110"}});
    let v = created("no", node);
    assert_eq!(
        v["status"]["allocatable"],
        json!({"cpu": "4", "memory": "8Gi", "pods": "110"})
    );
    assert_eq!(v["spec"]["podCIDRs"], json!(["10.244.1.0/24"]));
}

#[test]
fn empty_lists_and_label_maps_are_not_stored() {
    let mut pod = mk_pod("web");
    pod["metadata"]["annotations"] = json!({});
    pod["spec"]["containers"][0]["args"] = json!([]);
    let v = created("pods", pod);
    assert!(v["metadata"].get("annotations").is_none());
    assert!(v["spec"]["containers"][0].get("args").is_none());
}

#[test]
fn admitting_an_admitted_object_again_changes_nothing() {
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
        let once = created(kind, obj);
        let twice = created(kind, once.clone());
        assert_eq!(twice, once, "{kind}");
    }
}

#[test]
fn a_manifest_as_kubectl_create_deployment_writes_it_is_admitted() {
    // `kubectl create deployment web --image=nginx --dry-run=client -o yaml`, namespace filled
    // in by the server from the request path.
    let d = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"creationTimestamp": null, "labels": {"app": "web"}, "name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {"containers": [{"image": "nginx", "name": "nginx", "resources": {}}]}
            }
        },
        "status": {}
    });
    let v = created("deploy", d);
    assert_eq!(v["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    assert!(v["metadata"].get("creationTimestamp").is_none());
}
