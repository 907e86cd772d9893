//! Rows of the non-pod kinds, the default table, robustness and the Table JSON shape.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ago, cell, cells, meta, mk_pod, mk_service, now};
use serde_json::{Value, json};

fn svc_cell(spec: Value, column: &str) -> Value {
    cell("v1", "Service", &mk_service("web", spec), column)
}

#[test]
fn a_cluster_ip_service_lists_its_ports_and_no_external_ip() {
    let svc = mk_service(
        "web",
        json!({
            "type": "ClusterIP",
            "clusterIP": "198.51.100.20",
            "clusterIPs": ["198.51.100.20"],
            "selector": {"app": "web", "tier": "front"},
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
        }),
    );
    assert_eq!(
        cells("v1", "Service", &svc),
        [
            json!("web"),
            json!("ClusterIP"),
            json!("198.51.100.20"),
            json!("<none>"),
            json!("80/TCP,443/TCP"),
            json!("3d"),
            json!("app=web,tier=front")
        ]
    );
}

#[test]
fn node_ports_print_between_port_and_protocol() {
    let ports = svc_cell(
        json!({
            "type": "NodePort",
            "clusterIPs": ["198.51.100.21"],
            "ports": [
                {"port": 80, "nodePort": 31000, "protocol": "TCP"},
                {"port": 443, "protocol": "TCP"},
                {"port": 53, "nodePort": 31053, "protocol": "UDP"}
            ]
        }),
        "Port(s)",
    );
    assert_eq!(ports, json!("80:31000/TCP,443/TCP,53:31053/UDP"));
}

#[test]
fn a_headless_service_shows_none_as_cluster_ip_and_a_portless_one_none_ports() {
    let spec = json!({"clusterIP": "None", "clusterIPs": ["None"]});
    assert_eq!(svc_cell(spec.clone(), "Cluster-IP"), json!("None"));
    assert_eq!(svc_cell(spec.clone(), "Port(s)"), json!("<none>"));
    assert_eq!(svc_cell(spec, "Selector"), json!("<none>"));
    assert_eq!(svc_cell(json!({}), "Cluster-IP"), json!("<none>"));
}

#[test]
fn a_load_balancer_is_pending_until_it_has_an_ingress_point() {
    let mut svc = mk_service(
        "lb",
        json!({"type": "LoadBalancer", "clusterIPs": ["198.51.100.30"],
               "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
    );
    assert_eq!(
        cell("v1", "Service", &svc, "External-IP"),
        json!("<pending>")
    );
    svc["status"] = json!({"loadBalancer": {"ingress": [
        {"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.5"}
    ]}});
    assert_eq!(
        cell("v1", "Service", &svc, "External-IP"),
        json!("203.0.113.5,203.0.113.7,lb.example.com")
    );
    svc["spec"]["externalIPs"] = json!(["192.0.2.99"]);
    assert_eq!(
        cell("v1", "Service", &svc, "External-IP"),
        json!("203.0.113.5,203.0.113.7,lb.example.com,192.0.2.99")
    );
}

#[test]
fn external_ips_and_external_names_show_in_external_ip() {
    assert_eq!(
        svc_cell(
            json!({"type": "ClusterIP", "externalIPs": ["192.0.2.50", "192.0.2.51"]}),
            "External-IP"
        ),
        json!("192.0.2.50,192.0.2.51")
    );
    assert_eq!(
        svc_cell(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            "External-IP"
        ),
        json!("db.example.com")
    );
}

fn endpoints(subsets: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("web", "default", 60), "subsets": subsets})
}

#[test]
fn endpoints_show_three_addresses_then_how_many_more() {
    let ep = endpoints(json!([{
        "addresses": [{"ip": "192.0.2.1"}, {"ip": "192.0.2.2"}, {"ip": "192.0.2.3"}, {"ip": "192.0.2.4"}],
        "notReadyAddresses": [{"ip": "192.0.2.9"}],
        "ports": [{"port": 8080, "protocol": "TCP"}]
    }]));
    assert_eq!(
        cells("v1", "Endpoints", &ep),
        [
            json!("web"),
            json!("192.0.2.1:8080,192.0.2.2:8080,192.0.2.3:8080 + 1 more..."),
            json!("60s")
        ]
    );
}

#[test]
fn endpoints_without_subsets_are_none_and_portless_subsets_list_bare_ips() {
    assert_eq!(
        cell("v1", "Endpoints", &endpoints(json!([])), "Endpoints"),
        json!("<none>")
    );
    let headless = endpoints(json!([{"addresses": [{"ip": "192.0.2.1"}, {"ip": "2001:db8::1"}]}]));
    assert_eq!(
        cell("v1", "Endpoints", &headless, "Endpoints"),
        json!("192.0.2.1,2001:db8::1")
    );
    let v6 = endpoints(json!([{"addresses": [{"ip": "2001:db8::1"}], "ports": [{"port": 80}]}]));
    assert_eq!(
        cell("v1", "Endpoints", &v6, "Endpoints"),
        json!("[2001:db8::1]:80")
    );
}

#[test]
fn endpoint_slices_show_address_type_ports_and_addresses() {
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": meta("web-abc12", "default", 120),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443}],
        "endpoints": [
            {"addresses": ["192.0.2.1"]}, {"addresses": ["192.0.2.2"]},
            {"addresses": ["192.0.2.3"]}, {"addresses": ["192.0.2.4"], "conditions": {"ready": false}}
        ]
    });
    assert_eq!(
        cells("discovery.k8s.io/v1", "EndpointSlice", &slice),
        [
            json!("web-abc12"),
            json!("IPv4"),
            json!("80,443"),
            json!("192.0.2.1,192.0.2.2,192.0.2.3 + 1 more..."),
            json!("2m")
        ]
    );
    let empty = json!({"metadata": meta("empty", "default", 1), "addressType": "IPv4"});
    let row = cells("discovery.k8s.io/v1", "EndpointSlice", &empty);
    assert_eq!(row[2..4], [json!("<unset>"), json!("<unset>")]);
}

fn mk_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta("web", "default", 5 * 86400 + 19 * 3600),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "app", "image": "nginx:1.27"},
                    {"name": "proxy", "image": "envoy:1.30"}
                ]}
            }
        },
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    })
}

#[test]
fn a_deployment_prints_ready_over_desired_and_integer_counts() {
    assert_eq!(
        cells("apps/v1", "Deployment", &mk_deployment()),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("5d19h"),
            json!("app,proxy"),
            json!("nginx:1.27,envoy:1.30"),
            json!("app=web")
        ]
    );
}

#[test]
fn a_replica_set_prints_desired_current_ready_as_integers() {
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": meta("web-7d4b9c", "default", 182),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9c"}},
                 "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
        "status": {"replicas": 3, "readyReplicas": 1}
    });
    assert_eq!(
        cells("apps/v1", "ReplicaSet", &rs),
        [
            json!("web-7d4b9c"),
            json!(3),
            json!(3),
            json!(1),
            json!("3m2s"),
            json!("app"),
            json!("nginx:1.27"),
            json!("app=web,pod-template-hash=7d4b9c")
        ]
    );
    let cols = knet_printers::columns("apps/v1", "ReplicaSet");
    assert_eq!(cols[1].kind, "integer");
}

#[test]
fn namespaces_print_their_phase() {
    let ns = json!({"metadata": {"name": "team-a", "creationTimestamp": ago(7200)}, "status": {"phase": "Active"}});
    assert_eq!(
        cells("v1", "Namespace", &ns),
        [json!("team-a"), json!("Active"), json!("120m")]
    );
}

#[test]
fn a_cordoned_ready_node_prints_scheduling_disabled_roles_and_wide_details() {
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "cp-1", "creationTimestamp": ago(86400 * 10),
                     "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "etcd"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.2"}, {"type": "Hostname", "address": "cp-1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "kernelVersion": "6.8.0", "containerRuntimeVersion": "knet://0.1.0"}
        }
    });
    assert_eq!(
        cells("v1", "Node", &node),
        [
            json!("cp-1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,etcd"),
            json!("10d"),
            json!("v1.32.0"),
            json!("192.0.2.2"),
            json!("<none>"),
            json!("<unknown>"),
            json!("6.8.0"),
            json!("knet://0.1.0")
        ]
    );
    let bare = json!({"metadata": {"name": "w"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    assert_eq!(cell("v1", "Node", &bare, "Status"), json!("NotReady"));
    assert_eq!(
        cell("v1", "Node", &json!({"metadata": {"name": "w"}}), "Status"),
        json!("Unknown")
    );
    assert_eq!(cell("v1", "Node", &bare, "Roles"), json!("<none>"));
}

#[test]
fn config_maps_and_secrets_count_their_keys() {
    let cm = json!({"metadata": meta("conf", "default", 30), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AAE="}});
    assert_eq!(
        cells("v1", "ConfigMap", &cm),
        [json!("conf"), json!(3), json!("30s")]
    );
    let secret = json!({"metadata": meta("creds", "default", 30), "type": "Opaque", "data": {"user": "YWRtaW4=", "pass": "cw=="}});
    assert_eq!(
        cells("v1", "Secret", &secret),
        [json!("creds"), json!("Opaque"), json!(2), json!("30s")]
    );
}

#[test]
fn events_print_last_seen_type_reason_object_message_and_wide_details() {
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": meta("web-1.17c3", "default", 600),
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "type": "Normal",
        "message": "Container image \"nginx:1.27\" already present on machine\n",
        "source": {"component": "kubelet", "host": "worker-1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(65)
    });
    assert_eq!(
        cells("v1", "Event", &ev),
        [
            json!("65s"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web-1"),
            json!("spec.containers{app}"),
            json!("kubelet, worker-1"),
            json!("Container image \"nginx:1.27\" already present on machine"),
            json!("10m"),
            json!(1),
            json!("web-1.17c3")
        ]
    );
}

#[test]
fn series_events_use_the_series_time_and_count_and_events_k8s_io_prints_alike() {
    let ev = json!({
        "metadata": meta("e", "default", 600),
        "involvedObject": {"kind": "Node", "name": "worker-1"},
        "reportingComponent": "knet-node", "eventTime": "2024-05-01T11:50:00.000000Z",
        "series": {"count": 4, "lastObservedTime": ago(30)}
    });
    let row = cells("v1", "Event", &ev);
    assert_eq!(row[0], json!("30s"));
    assert_eq!(row[5], json!("knet-node"));
    assert_eq!(row[7], json!("10m"));
    assert_eq!(row[8], json!(4));
    let v1 = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": meta("e", "default", 600),
        "regarding": {"kind": "Pod", "name": "web-1"}, "note": "Started container app",
        "reason": "Started", "type": "Normal", "reportingController": "kubelet",
        "deprecatedFirstTimestamp": ago(600), "deprecatedLastTimestamp": ago(600), "deprecatedCount": 2
    });
    let row = cells("events.k8s.io/v1", "Event", &v1);
    assert_eq!(
        row[..4],
        [
            json!("10m"),
            json!("Normal"),
            json!("Started"),
            json!("pod/web-1")
        ]
    );
    assert_eq!(row[6], json!("Started container app"));
    assert_eq!(row[8], json!(2));
}

#[test]
fn network_policies_print_their_pod_selector() {
    let np = json!({"metadata": meta("db", "default", 90), "spec": {"podSelector": {"matchLabels": {"app": "db"}}}});
    assert_eq!(
        cells("networking.k8s.io/v1", "NetworkPolicy", &np),
        [json!("db"), json!("app=db"), json!("90s")]
    );
    let all = json!({"metadata": meta("deny", "default", 90), "spec": {"podSelector": {}}});
    assert_eq!(
        cell(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            &all,
            "Pod-Selector"
        ),
        json!("<none>")
    );
}

#[test]
fn ingresses_print_class_hosts_address_and_ports() {
    let ing = json!({
        "metadata": meta("shop", "default", 3600),
        "spec": {
            "ingressClassName": "knet",
            "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"}, {"host": "d.example.com"}]
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
    });
    assert_eq!(
        cells("networking.k8s.io/v1", "Ingress", &ing),
        [
            json!("shop"),
            json!("knet"),
            json!("a.example.com,b.example.com,c.example.com + 2 more..."),
            json!("203.0.113.10"),
            json!("80, 443"),
            json!("60m")
        ]
    );
    let bare = json!({"metadata": meta("x", "default", 1), "spec": {}});
    assert_eq!(
        cells("networking.k8s.io/v1", "Ingress", &bare)[1..5],
        [json!("<none>"), json!("*"), json!(""), json!("80")]
    );
}

#[test]
fn ingress_classes_print_controller_and_parameters() {
    let ic = json!({
        "metadata": {"name": "knet", "creationTimestamp": ago(60)},
        "spec": {"controller": "knet.dev/ingress",
                 "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}
    });
    assert_eq!(
        cells("networking.k8s.io/v1", "IngressClass", &ic),
        [
            json!("knet"),
            json!("knet.dev/ingress"),
            json!("IngressParameters.k8s.example.com/external-lb"),
            json!("60s")
        ]
    );
}

#[test]
fn kinds_without_a_printer_get_the_servers_name_and_created_at_table() {
    let cols = knet_printers::columns("rbac.authorization.k8s.io/v1", "ClusterRole");
    let shape: Vec<(&str, &str, &str)> = cols.iter().map(|c| (c.name, c.kind, c.format)).collect();
    assert_eq!(
        shape,
        [("Name", "string", "name"), ("Created At", "date", "")]
    );
    let role = json!({"metadata": {"name": "view", "creationTimestamp": "2024-04-01T08:30:00Z"}});
    assert_eq!(
        cells("rbac.authorization.k8s.io/v1", "ClusterRole", &role),
        [json!("view"), json!("2024-04-01T08:30:00Z")]
    );
}

#[test]
fn missing_or_mistyped_fields_never_panic_for_any_kind() {
    let kinds = [
        ("v1", "Pod"),
        ("v1", "Namespace"),
        ("v1", "Node"),
        ("v1", "Service"),
        ("v1", "Endpoints"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("v1", "Event"),
        ("events.k8s.io/v1", "Event"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("coordination.k8s.io/v1", "Lease"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("policy/v1", "PodDisruptionBudget"),
        ("example.com/v1", "Widget"),
    ];
    let odd = [
        json!({}),
        json!(null),
        json!("text"),
        json!({"metadata": 5, "spec": [], "status": "x"}),
        json!({"spec": {"containers": "no", "ports": [1, "a", null], "rules": {}},
               "status": {"containerStatuses": [null, 3, {"state": []}], "conditions": 4}}),
    ];
    for (api_version, kind) in kinds {
        for obj in &odd {
            let table = knet_printers::table(api_version, kind, &[obj], now());
            assert_eq!(table.rows.len(), 1);
            assert!(table.rows[0].cells.len() >= table.columns.len(), "{kind}");
            let _ = knet_printers::describe(api_version, kind, obj, &[obj], now());
        }
    }
}

#[test]
fn every_row_has_one_cell_per_column() {
    let pod = mk_pod("p");
    let svc = mk_service("s", json!({}));
    for (api_version, kind, obj) in [("v1", "Pod", &pod), ("v1", "Service", &svc)] {
        let table = knet_printers::table(api_version, kind, &[obj], now());
        assert_eq!(table.rows[0].cells.len(), table.columns.len());
    }
}

#[test]
fn table_json_has_the_meta_k8s_io_v1_shape() {
    let mut done = mk_pod("job-1");
    done["status"]["phase"] = json!("Succeeded");
    let running = mk_pod("web-1");
    let table = knet_printers::table("v1", "Pod", &[&done, &running], now());
    let partial = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": {"name": "job-1"}});
    let out = knet_printers::table_json(&table, vec![partial.clone()], "98657");
    assert_eq!(out["kind"], "Table");
    assert_eq!(out["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(out["metadata"], json!({"resourceVersion": "98657"}));
    assert_eq!(
        out["columnDefinitions"][0],
        json!({
            "name": "Name", "type": "string", "format": "name",
            "description": table.columns[0].description, "priority": 0
        })
    );
    assert_eq!(out["columnDefinitions"][5]["priority"], 1);
    assert_eq!(out["rows"][0]["cells"][2], "Succeeded");
    assert_eq!(out["rows"][0]["object"], partial);
    assert_eq!(
        out["rows"][0]["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                "message": "The pod has completed successfully."}])
    );
    assert!(out["rows"][1].get("conditions").is_none());
    assert_eq!(out["rows"][1]["object"], Value::Null);
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "kind",
            "apiVersion",
            "metadata",
            "columnDefinitions",
            "rows"
        ]
    );
    let empty =
        knet_printers::table_json(&knet_printers::table("v1", "Pod", &[], now()), vec![], "");
    assert_eq!(empty["metadata"], json!({}));
    assert_eq!(empty["rows"], json!([]));
}

#[test]
fn jobs_print_status_completions_and_duration() {
    let mut job = json!({
        "metadata": meta("backup", "default", 600),
        "spec": {"completions": 3, "template": {"spec": {"containers": [{"name": "b", "image": "busybox"}]}}},
        "status": {"succeeded": 1, "startTime": ago(590)}
    });
    assert_eq!(
        cells("batch/v1", "Job", &job)[..5],
        [
            json!("backup"),
            json!("Running"),
            json!("1/3"),
            json!("9m50s"),
            json!("10m")
        ]
    );
    job["status"] = json!({"succeeded": 3, "startTime": ago(590), "completionTime": ago(470),
                           "conditions": [{"type": "Complete", "status": "True"}]});
    assert_eq!(
        cells("batch/v1", "Job", &job)[1..4],
        [json!("Complete"), json!("3/3"), json!("2m")]
    );
    job["spec"] = json!({"parallelism": 2});
    job["status"] = json!({});
    assert_eq!(
        cells("batch/v1", "Job", &job)[1..4],
        [json!("Running"), json!("0/1 of 2"), json!("")]
    );
}

#[test]
fn cron_jobs_daemon_sets_and_stateful_sets_print_their_counts() {
    let cj = json!({"metadata": meta("nightly", "default", 60),
        "spec": {"schedule": "0 3 * * *", "suspend": false,
                 "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(30)}});
    assert_eq!(
        cells("batch/v1", "CronJob", &cj)[..7],
        [
            json!("nightly"),
            json!("0 3 * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("30s"),
            json!("60s")
        ]
    );
    let ds = json!({"metadata": meta("agent", "kube-system", 60),
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": []}}},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                   "updatedNumberScheduled": 2, "numberAvailable": 1}});
    assert_eq!(
        cells("apps/v1", "DaemonSet", &ds)[..8],
        [
            json!("agent"),
            json!(2),
            json!(2),
            json!(1),
            json!(2),
            json!(1),
            json!("kubernetes.io/os=linux"),
            json!("60s")
        ]
    );
    let sts = json!({"metadata": meta("db", "default", 60), "spec": {"replicas": 3}, "status": {"readyReplicas": 2}});
    assert_eq!(
        cells("apps/v1", "StatefulSet", &sts)[..3],
        [json!("db"), json!("2/3"), json!("60s")]
    );
}
