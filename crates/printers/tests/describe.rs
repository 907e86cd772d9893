//! `kubectl describe` text.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ago, meta, mk_pod, mk_service, now};
use knet_printers::{DescribeContext, describe, describe_with};
use serde_json::{Value, json};

fn web_pod() -> Value {
    let mut pod = mk_pod("web-7d4b9c-x2x8k");
    pod["metadata"]["labels"] = json!({"app": "web", "pod-template-hash": "7d4b9c"});
    pod["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\"}",
        "example.com/owner": "team-a"
    });
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": "web-7d4b9c", "uid": "uid-web-7d4b9c", "controller": true}]);
    pod["spec"] = json!({
        "nodeName": "worker-1", "serviceAccountName": "default", "priority": 0,
        "containers": [{
            "name": "app", "image": "nginx:1.27",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "env": [
                {"name": "MODE", "value": "prod"},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}
            ],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"},
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            "volumeMounts": [{"name": "kube-api-access-5xq2x",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]
        }],
        "volumes": [{"name": "kube-api-access-5xq2x", "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt"}},
            {"downwardAPI": {"items": []}}
        ]}}],
        "tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ]
    });
    pod["status"] = json!({
        "phase": "Running", "hostIP": "192.0.2.2", "podIP": "192.0.2.17",
        "podIPs": [{"ip": "192.0.2.17"}], "startTime": "2024-05-01T11:55:00Z",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        "containerStatuses": [{
            "name": "app", "ready": true, "restartCount": 0, "containerID": "knet://abc123",
            "imageID": "docker.io/library/nginx@sha256:0f",
            "state": {"running": {"startedAt": "2024-05-01T11:55:10Z"}}
        }]
    });
    pod
}

fn event(reason: &str, message: &str, source: &str, first: i64, last: i64, count: i64) -> Value {
    json!({"type": "Normal", "reason": reason, "message": message, "source": {"component": source},
           "firstTimestamp": ago(first), "lastTimestamp": ago(last), "count": count})
}

#[test]
fn describing_a_pod_prints_its_key_lines_aligned_like_kubectl() {
    let pulled = event(
        "Pulled",
        "Container image \"nginx:1.27\" already present on machine",
        "kubelet",
        295,
        100,
        3,
    );
    let scheduled = event(
        "Scheduled",
        "Successfully assigned default/web-7d4b9c-x2x8k to worker-1",
        "default-scheduler",
        300,
        300,
        1,
    );
    let out = describe("v1", "Pod", &web_pod(), &[&pulled, &scheduled], now());
    let expected_lines = [
        "Name:             web-7d4b9c-x2x8k\n",
        "Namespace:        default\n",
        "Service Account:  default\n",
        "Node:             worker-1/192.0.2.2\n",
        "Start Time:       Wed, 01 May 2024 11:55:00 +0000\n",
        "Labels:           app=web\n                  pod-template-hash=7d4b9c\n",
        "Annotations:      example.com/owner: team-a\n",
        "Status:           Running\n",
        "IP:               192.0.2.17\nIPs:\n  IP:           192.0.2.17\nControlled By:  ReplicaSet/web-7d4b9c\n",
        "Containers:\n  app:\n    Container ID:   knet://abc123\n    Image:          nginx:1.27\n",
        "    Port:           80/TCP\n    Host Port:      0/TCP\n",
        "    State:          Running\n      Started:      Wed, 01 May 2024 11:55:10 +0000\n",
        "    Ready:          True\n    Restart Count:  0\n",
        "    Requests:\n      cpu:      100m\n      memory:   64Mi\n",
        "    Readiness:  http-get http://:80/healthz delay=0s timeout=1s period=10s #success=1 #failure=3\n",
        "      POD_IP:    192.0.2.17 (v1:status.podIP)\n",
        "      PASSWORD:  <set to the key 'password' in secret 'creds'>  Optional: false\n",
        "      /var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-5xq2x (ro)\n",
        "Conditions:\n  Type          Status\n  Initialized   True \n  Ready         True \n",
        "    TokenExpirationSeconds:  3607\n    ConfigMapName:           kube-root-ca.crt\n",
        "QoS Class:                   Burstable\n",
        "Node-Selectors:              <none>\n",
        "Tolerations:                 node.kubernetes.io/not-ready:NoExecute op=Exists for 300s\n                             node.kubernetes.io/unreachable:NoExecute op=Exists for 300s\n",
        "Events:\n  Type    Reason     Age                   From               Message\n  ----    ------     ----                  ----               -------\n  Normal  Scheduled  5m                    default-scheduler  Successfully assigned default/web-7d4b9c-x2x8k to worker-1\n  Normal  Pulled     100s (x3 over 4m55s)  kubelet            Container image \"nginx:1.27\" already present on machine\n",
    ];
    for line in expected_lines {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(!out.contains("last-applied-configuration"));
}

#[test]
fn a_pod_without_events_says_none_and_a_deleting_one_is_terminating() {
    let mut pod = web_pod();
    pod["metadata"]["deletionTimestamp"] = json!(ago(10));
    pod["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    let out = describe("v1", "Pod", &pod, &[], now());
    let status = format!("Status:{}Terminating (lasts 10s)\n", " ".repeat(20));
    assert!(out.contains(&status), "{out}");
    assert!(out.contains("Termination Grace Period:  30s\n"), "{out}");
    let events = format!("Events:{}<none>\n", " ".repeat(22));
    assert!(out.ends_with(&events), "{out}");
}

#[test]
fn describing_a_service_prints_ports_endpoints_and_policies() {
    let svc = mk_service(
        "web",
        json!({
            "type": "NodePort", "clusterIP": "198.51.100.20", "clusterIPs": ["198.51.100.20"],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31000, "protocol": "TCP"}],
            "sessionAffinity": "None", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"
        }),
    );
    let slice = json!({
        "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["192.0.2.17"], "conditions": {"ready": true}},
            {"addresses": ["192.0.2.18"]},
            {"addresses": ["192.0.2.19"], "conditions": {"ready": false}}
        ]
    });
    let ctx = DescribeContext {
        endpoint_slices: &[&slice],
        ..DescribeContext::default()
    };
    let want = "\
Name:                     web
Namespace:                default
Labels:                   <none>
Annotations:              <none>
Selector:                 app=web
Type:                     NodePort
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       198.51.100.20
IPs:                      198.51.100.20
Port:                     http  80/TCP
TargetPort:               8080/TCP
NodePort:                 http  31000/TCP
Endpoints:                192.0.2.17:8080,192.0.2.18:8080
Session Affinity:         None
External Traffic Policy:  Cluster
Internal Traffic Policy:  Cluster
Events:                   <none>
";
    assert_eq!(describe_with("v1", "Service", &svc, &ctx, now()), want);
}

#[test]
fn a_service_without_endpoint_information_shows_none_and_falls_back_to_endpoints() {
    let svc = mk_service(
        "lb",
        json!({"type": "LoadBalancer", "clusterIP": "198.51.100.30",
               "ports": [{"port": 443, "protocol": "TCP"}]}),
    );
    let out = describe("v1", "Service", &svc, &[], now());
    // Aligned to "Session Affinity:", the widest label of this service.
    assert!(
        out.contains("Port:              <unset>  443/TCP\n"),
        "{out}"
    );
    assert!(out.contains("TargetPort:        443/TCP\n"), "{out}");
    assert!(out.contains("Endpoints:         <none>\n"), "{out}");
    let ep = json!({"subsets": [{"addresses": [{"ip": "192.0.2.40"}], "ports": [{"port": 8443}]}]});
    let ctx = DescribeContext {
        endpoints: Some(&ep),
        ..DescribeContext::default()
    };
    let out = describe_with("v1", "Service", &svc, &ctx, now());
    assert!(
        out.contains("Endpoints:         192.0.2.40:8443\n"),
        "{out}"
    );
}

#[test]
fn describing_a_deployment_shows_strategy_template_and_its_replica_sets() {
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", "default", 600),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
        "status": {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2, "unavailableReplicas": 1,
                   "conditions": [
                       {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                       {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}
    });
    let rs = |name: &str, image: &str, age: i64, replicas: i64| {
        json!({"metadata": {"name": name, "uid": format!("uid-{name}"), "creationTimestamp": ago(age),
                            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "uid-web", "controller": true}]},
               "spec": {"replicas": replicas, "template": {
                   "metadata": {"labels": {"app": "web", "pod-template-hash": name}},
                   "spec": {"containers": [{"name": "app", "image": image}]}}},
               "status": {"replicas": replicas}})
    };
    let new_rs = rs("web-new", "nginx:1.27", 60, 3);
    let old_rs = rs("web-old", "nginx:1.26", 600, 0);
    let foreign = json!({"metadata": {"name": "other", "ownerReferences": [{"uid": "x", "controller": true}]}});
    let ctx = DescribeContext {
        replica_sets: &[&new_rs, &foreign, &old_rs],
        ..DescribeContext::default()
    };
    let out = describe_with("apps/v1", "Deployment", &d, &ctx, now());
    for line in [
        "Replicas:               3 desired | 3 updated | 3 total | 2 available | 1 unavailable\n",
        "RollingUpdateStrategy:  25% max unavailable, 1 max surge\n",
        "Pod Template:\n  Labels:  app=web\n  Containers:\n   app:\n    Image:         nginx:1.27\n",
        "Conditions:\n  Type           Status  Reason\n  ----           ------  ------\n",
        "  Available      False   MinimumReplicasUnavailable\n  Progressing    True    ReplicaSetUpdated\n",
        "OldReplicaSets:  web-old (0/0 replicas created)\nNewReplicaSet:   web-new (3/3 replicas created)\nEvents:          <none>\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn describing_a_replica_set_counts_the_pods_it_controls() {
    let rs = json!({"metadata": {"name": "web-7d4b9c", "namespace": "default", "uid": "uid-rs"},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
                    "status": {"replicas": 2}});
    let mut running = web_pod();
    running["metadata"]["ownerReferences"][0]["uid"] = json!("uid-rs");
    let mut pending = running.clone();
    pending["status"]["phase"] = json!("Pending");
    let orphan = web_pod();
    let ctx = DescribeContext {
        pods: &[&running, &pending, &orphan],
        ..DescribeContext::default()
    };
    let out = describe_with("apps/v1", "ReplicaSet", &rs, &ctx, now());
    assert!(
        out.contains("Pods Status:  1 Running / 1 Waiting / 0 Succeeded / 0 Failed\n"),
        "{out}"
    );
    assert!(
        out.contains("Replicas:     2 current / 2 desired\n"),
        "{out}"
    );
}

#[test]
fn describing_a_secret_shows_sizes_not_values() {
    let secret = json!({"metadata": meta("creds", "default", 5), "type": "Opaque",
                        "data": {"username": "YWRtaW4=", "password": "czNjcjN0IXBhc3M="}});
    let want = "\
Name:         creds
Namespace:    default
Labels:       <none>
Annotations:  <none>

Type:  Opaque

Data
====
password:  11 bytes
username:  5 bytes
";
    let out = describe("v1", "Secret", &secret, &[], now());
    assert_eq!(out, want);
    assert!(!out.contains("admin"));
}

#[test]
fn describing_a_node_lists_its_pods_and_allocated_resources() {
    let node = json!({
        "metadata": {"name": "worker-1", "creationTimestamp": ago(86400)},
        "spec": {"taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                   "addresses": [{"type": "InternalIP", "address": "192.0.2.2"}],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}
    });
    let pod = web_pod();
    let ctx = DescribeContext {
        pods: &[&pod],
        ..DescribeContext::default()
    };
    let out = describe_with("v1", "Node", &node, &ctx, now());
    for line in [
        "Taints:             dedicated=web:NoSchedule\n",
        "Unschedulable:      false\n",
        "  InternalIP:  192.0.2.2\n",
        "Non-terminated Pods:          (1 in total)\n",
        "  default                     web-7d4b9c-x2x8k    100m (5%)     0 (0%)      64Mi (1%)        0 (0%)         5m\n",
        "  cpu                100m (5%)  0 (0%)\n",
        "  memory             64Mi (1%)  0 (0%)\n",
        "Events:              <none>\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn describing_a_network_policy_explains_its_rules() {
    let np = json!({"metadata": {"name": "db", "namespace": "default", "creationTimestamp": "2024-04-30T08:00:00Z"},
        "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"],
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}},
                                       {"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}],
                              "ports": [{"port": 5432}]}]}});
    let want = "\
Name:         db
Namespace:    default
Created on:   2024-04-30 08:00:00 +0000 UTC
Labels:       <none>
Annotations:  <none>
Spec:
  PodSelector:     app=db
  Allowing ingress traffic:
    To Port: 5432/TCP
    From:
      PodSelector: app=web
    From:
      IPBlock:
        CIDR: 192.0.2.0/24
        Except: 192.0.2.128/25
  Allowing egress traffic:
    <none> (Selected pods are isolated for egress connectivity)
  Policy Types: Ingress, Egress
";
    assert_eq!(
        describe("networking.k8s.io/v1", "NetworkPolicy", &np, &[], now()),
        want
    );
}

#[test]
fn describing_an_ingress_resolves_backends_to_service_endpoints() {
    let ing = json!({"metadata": meta("shop", "default", 5),
        "spec": {"ingressClassName": "knet",
                 "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                 "rules": [{"host": "shop.example.com", "http": {"paths": [
                     {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}});
    let svc = mk_service("web", json!({"ports": [{"name": "http", "port": 80}]}));
    let slice = json!({"metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": ["192.0.2.17"]}]});
    let ctx = DescribeContext {
        services: &[&svc],
        endpoint_slices: &[&slice],
        ..DescribeContext::default()
    };
    let out = describe_with("networking.k8s.io/v1", "Ingress", &ing, &ctx, now());
    for line in [
        "Address:          203.0.113.10\n",
        "Ingress Class:    knet\n",
        "Default backend:  <default>\n",
        "TLS:\n  shop-tls terminates shop.example.com\n",
        "                    /   web:80 (192.0.2.17:8080)\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let missing = describe("networking.k8s.io/v1", "Ingress", &ing, &[], now());
    assert!(
        missing.contains("web:80 (<error: services \"web\" not found>)"),
        "{missing}"
    );
}

#[test]
fn other_kinds_get_the_generic_describer() {
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default", "uid": "123", "generation": 1,
                     "managedFields": [{"manager": "kubectl"}]},
        "spec": {"size": 3, "colors": ["red", "blue"], "nested": {"deepField": true}}});
    let want = "\
Name:         w
Namespace:    default
Labels:       <none>
Annotations:  <none>
API Version:  example.com/v1
Kind:         Widget
Metadata:
  Generation:  1
  UID:         123
Spec:
  Colors:
    red
    blue
  Nested:
    Deep Field:  true
  Size:          3
Events:          <none>
";
    assert_eq!(
        describe("example.com/v1", "Widget", &widget, &[], now()),
        want
    );
}

#[test]
fn describing_a_namespace_mentions_quotas_and_limit_ranges() {
    let ns = json!({"metadata": {"name": "default", "labels": {"kubernetes.io/metadata.name": "default"}},
                    "status": {"phase": "Active"}});
    let want = "\
Name:         default
Labels:       kubernetes.io/metadata.name=default
Annotations:  <none>
Status:       Active

No resource quota.

No LimitRange resource.
";
    assert_eq!(describe("v1", "Namespace", &ns, &[], now()), want);
}

#[test]
fn describing_endpoints_and_endpoint_slices_lists_addresses_and_ports() {
    let ep = json!({"metadata": meta("web", "default", 5), "subsets": [{
        "addresses": [{"ip": "192.0.2.17"}, {"ip": "192.0.2.18"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]});
    let want = "\
Name:         web
Namespace:    default
Labels:       <none>
Annotations:  <none>
Subsets:
  Addresses:          192.0.2.17,192.0.2.18
  NotReadyAddresses:  <none>
  Ports:
    Name  Port  Protocol
    ----  ----  --------
    http  8080  TCP

Events:  <none>
";
    assert_eq!(describe("v1", "Endpoints", &ep, &[], now()), want);

    let slice = json!({"metadata": meta("web-abc", "default", 5), "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["192.0.2.17"], "conditions": {"ready": true},
                       "targetRef": {"kind": "Pod", "name": "web-1"}, "nodeName": "worker-1"}]});
    let want = "\
Name:         web-abc
Namespace:    default
Labels:       <none>
Annotations:  <none>
AddressType:  IPv4
Ports:
  Name  Port  Protocol
  ----  ----  --------
  http  8080  TCP
Endpoints:
  - Addresses:  192.0.2.17
    Conditions:
      Ready:    true
    Hostname:   <unset>
    TargetRef:  Pod/web-1
    NodeName:   worker-1
    Zone:       <unset>
Events:         <none>
";
    assert_eq!(
        describe("discovery.k8s.io/v1", "EndpointSlice", &slice, &[], now()),
        want
    );
}

#[test]
fn describing_a_config_map_prints_values_and_binary_sizes() {
    let cm = json!({"metadata": meta("conf", "default", 5),
                    "data": {"mode": "prod", "app.conf": "a=1\nb=2"}, "binaryData": {"logo": "AAEC"}});
    let want = "\
Name:         conf
Namespace:    default
Labels:       <none>
Annotations:  <none>

Data
====
app.conf:
----
a=1
b=2

mode:
----
prod


BinaryData
====
logo: 3 bytes

Events:  <none>
";
    assert_eq!(describe("v1", "ConfigMap", &cm, &[], now()), want);
}
