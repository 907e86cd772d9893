//! Services from the command line: `knet expose` and the real `kubectl expose` against knet, and
//! `knet get` over several types (`svc,endpointslices`).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::Cluster;
use serde_json::{Value, json};

/// A Deployment `name` whose pods are `app=name` and serve on container port 8080 (or on no
/// declared port with `ports = false`).
fn mk_deployment(name: &str, ports: bool) -> String {
    let ports = if ports {
        "        ports:\n        - containerPort: 8080\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    team: net
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: server
        image: knet/netexec
{ports}"
    )
}

fn create(c: &Cluster, manifest: &str) {
    let out = c.knet_stdin(&["apply", "-f", "-"], manifest);
    out.ok();
}

fn service(c: &Cluster, name: &str) -> Value {
    c.get_json(&["svc", name])
}

#[test]
fn knet_expose_creates_a_node_port_service_with_the_deployments_selector() {
    let c = Cluster::up(1);
    create(&c, &mk_deployment("x", true));
    let out = c
        .knet(&[
            "expose",
            "deploy/x",
            "--port",
            "80",
            "--target-port",
            "8080",
            "--type",
            "NodePort",
        ])
        .ok()
        .to_string();
    assert_eq!(out.trim(), "service/x exposed");
    let svc = service(&c, "x");
    assert_eq!(svc["spec"]["selector"], json!({"app": "x"}));
    assert_eq!(svc["metadata"]["labels"], json!({"team": "net"}));
    assert_eq!(svc["spec"]["type"], "NodePort");
    let ports = svc["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "{svc}");
    assert_eq!(ports[0]["port"], 80);
    assert_eq!(ports[0]["targetPort"], 8080);
    assert_eq!(ports[0]["protocol"], "TCP");
    let node_port = ports[0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    let ip: std::net::Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
    // 10.96.0.0/12: the service range the API server allocates from.
    assert_eq!(u32::from(ip) & 0xfff0_0000, 0x0a60_0000, "{ip}");

    // Without --port, the Deployment's one container port is the port and the target port;
    // -o json prints what the server stored.
    let created = c
        .knet(&[
            "expose",
            "deployment",
            "x",
            "--name",
            "x-direct",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(created["kind"], "Service");
    assert_eq!(created["metadata"]["name"], "x-direct");
    assert_eq!(created["spec"]["ports"][0]["port"], 8080);
    assert_eq!(created["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(created["spec"]["type"], "ClusterIP");
    assert!(created["spec"]["clusterIP"].is_string(), "{created}");

    // --dry-run=client prints the Service and creates nothing.
    let yaml = c
        .knet(&[
            "expose",
            "deploy/x",
            "--port",
            "81",
            "--name",
            "x-dry",
            "--dry-run=client",
            "-o",
            "yaml",
        ])
        .ok()
        .to_string();
    assert!(yaml.contains("kind: Service"), "{yaml}");
    assert!(yaml.contains("port: 81"), "{yaml}");
    let err = c.kubectl(&["get", "svc", "x-dry"]).fails().to_string();
    assert!(err.contains("NotFound"), "{err}");
    // The same Service through the real server's dry run gets defaults but is not stored either.
    let dry = c
        .knet(&[
            "expose",
            "deploy/x",
            "--port",
            "81",
            "--name",
            "x-dry",
            "--dry-run=server",
        ])
        .ok()
        .to_string();
    assert_eq!(dry.trim(), "service/x-dry exposed (server dry run)");
    c.kubectl(&["get", "svc", "x-dry"]).fails();

    // Exposing the same object under the same name again is the server's AlreadyExists.
    let err = c
        .knet(&["expose", "deploy/x", "--port", "80"])
        .fails()
        .to_string();
    assert!(
        err.contains("AlreadyExists") && err.contains("\"x\" already exists"),
        "{err}"
    );
}

#[test]
fn kubectl_expose_works_against_knet() {
    let c = Cluster::up(1);
    create(&c, &mk_deployment("y", true));
    let out = c
        .kubectl(&["expose", "deployment", "y", "--port", "80"])
        .ok()
        .to_string();
    assert!(out.contains("service/y exposed"), "{out}");
    let svc = service(&c, "y");
    assert_eq!(svc["spec"]["selector"], json!({"app": "y"}));
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
    assert!(svc["spec"]["clusterIP"].is_string(), "{svc}");
    // knet reads back what kubectl created, in its own table.
    let table = c.knet(&["get", "svc", "y"]).ok().to_string();
    let header = table.lines().next().unwrap();
    for col in [
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "EXTERNAL-IP",
        "PORT(S)",
        "AGE",
    ] {
        assert!(header.contains(col), "{table}");
    }
    assert!(table.contains("80/TCP"), "{table}");
    // And kubectl reads back what knet expose created, re-exposing a Service by its selector.
    c.knet(&[
        "expose",
        "svc/y",
        "--port",
        "443",
        "--target-port",
        "8080",
        "--name",
        "y-tls",
    ])
    .ok();
    let tls = c.get_json(&["svc", "y-tls"]);
    assert_eq!(tls["spec"]["selector"], json!({"app": "y"}));
    assert_eq!(tls["spec"]["ports"][0]["port"], 443);
    assert_eq!(tls["spec"]["ports"][0]["targetPort"], 8080);
}

const MANUAL: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: manual
spec:
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: manual-1
  labels:
    kubernetes.io/service-name: manual
addressType: IPv4
ports:
- port: 8080
  protocol: TCP
endpoints:
- addresses:
  - 192.0.2.10
"#;

#[test]
fn knet_get_of_several_types_prints_one_table_per_type() {
    let c = Cluster::up(0);
    // A selectorless Service with a hand-written slice: no controller manages either, so the
    // slice table is there whatever the EndpointSlice controller does.
    create(&c, MANUAL);
    let out = c.knet(&["get", "svc,endpointslices"]).ok().to_string();
    let tables: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(
        tables.len(),
        2,
        "one table per type, a blank line apart:\n{out}"
    );
    let svc_header = tables[0].lines().next().unwrap();
    assert!(
        svc_header.starts_with("NAME") && svc_header.contains("CLUSTER-IP"),
        "{out}"
    );
    assert!(tables[0].contains("service/manual "), "{out}");
    assert!(tables[0].contains("service/kubernetes "), "{out}");
    let slice_header = tables[1].lines().next().unwrap();
    for col in ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"] {
        assert!(slice_header.contains(col), "{out}");
    }
    assert!(
        tables[1].contains("endpointslice.discovery.k8s.io/manual-1"),
        "{out}"
    );

    // -o wide keeps one table per type, with the wide columns.
    let wide = c
        .knet(&["get", "svc,endpointslices", "-o", "wide"])
        .ok()
        .to_string();
    assert!(wide.lines().next().unwrap().contains("SELECTOR"), "{wide}");
    assert_eq!(wide.split("\n\n").count(), 2, "{wide}");

    // -o json of several types is a v1 List holding every kind.
    let list = c.knet(&["get", "svc,endpointslices", "-o", "json"]).json();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["apiVersion"], "v1");
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"Service") && kinds.contains(&"EndpointSlice"),
        "{kinds:?}"
    );
    let yaml = c
        .knet(&["get", "svc,endpointslices", "-o", "yaml"])
        .ok()
        .to_string();
    assert!(yaml.starts_with("apiVersion: v1\nkind: List"), "{yaml}");

    // TYPE/NAME arguments, one object alone is itself, several are a List.
    let one = c.knet(&["get", "svc/manual", "-o", "json"]).json();
    assert_eq!(one["kind"], "Service");
    assert_eq!(one["metadata"]["name"], "manual");
    let two = c
        .knet(&["get", "svc/manual", "endpointslices/manual-1", "-o", "name"])
        .ok()
        .to_string();
    assert_eq!(
        two.lines().collect::<Vec<_>>(),
        vec!["service/manual", "endpointslice.discovery.k8s.io/manual-1"]
    );
}

#[test]
fn knet_expose_refuses_a_missing_object_a_missing_port_and_an_invalid_type() {
    let c = Cluster::up(0);
    let err = c
        .knet(&["expose", "deploy/missing", "--port", "80"])
        .fails()
        .to_string();
    assert!(
        err.contains("NotFound") && err.contains("deployments.apps \"missing\" not found"),
        "{err}"
    );

    create(&c, &mk_deployment("noport", false));
    let err = c.knet(&["expose", "deploy/noport"]).fails().to_string();
    assert!(
        err.contains("couldn't find port via --port flag or introspection"),
        "{err}"
    );

    let err = c
        .knet(&[
            "expose",
            "deploy/noport",
            "--port",
            "80",
            "--type",
            "Ingress",
        ])
        .fails()
        .to_string();
    assert!(
        err.contains("Ingress") && err.contains("ClusterIP, NodePort, LoadBalancer"),
        "{err}"
    );

    let err = c
        .knet(&["expose", "configmap/kube-root-ca.crt", "--port", "80"])
        .fails()
        .to_string();
    assert!(err.contains("cannot expose a ConfigMap"), "{err}");

    // None of the refused commands left a Service behind.
    let names: Vec<String> = c.get_json(&["svc"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["kubernetes"]);
}
