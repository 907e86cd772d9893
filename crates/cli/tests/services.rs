//! Services with real traffic: ClusterIP load balancing over every ready replica (AND selectors,
//! named target ports), NodePort through a node without a pod of the Service, LoadBalancer from
//! the external namespace (Cluster and Local policies, the health check node port), a
//! selector-less Service with a hand-made EndpointSlice, session affinity, quick refusal
//! without endpoints, scaling, and rules removed with their Service.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Cluster, knet_bin};
use serde_json::Value;

/// A Deployment of netexec pods with labels `app: NAME, tier: backend` and a named port `http`.
fn deployment(name: &str, replicas: u32, extra_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}, tier: backend}}
    spec:
{extra_spec}      containers:
      - name: web
        image: knet/netexec
        args: [\"--http-port=8080\", \"--udp-port=-1\"]
        ports:
        - {{name: http, containerPort: 8080}}
"
    )
}

const CLIENT: &str = "apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  containers:
  - name: c
    image: knet/netexec
    args: [\"--http-port=7070\", \"--udp-port=-1\"]
";

fn names(pods: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = pods
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn cluster_ip(c: &Cluster, svc: &str) -> String {
    c.get_json(&["svc", svc])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `client rr URL --count N` from pod `from`: how many answers each backend gave.
fn spread_from_pod(c: &Cluster, from: &str, url: &str, count: u32) -> BTreeMap<String, u32> {
    let r = c.knet(&[
        "exec",
        from,
        "--",
        knet_bin(),
        "image",
        "client",
        "rr",
        url,
        "--count",
        &count.to_string(),
        "--timeout",
        "2000",
    ]);
    parse_spread(r.ok())
}

fn parse_spread(out: &str) -> BTreeMap<String, u32> {
    out.lines()
        .filter_map(|l| {
            let (name, n) = l.trim().rsplit_once(' ')?;
            Some((name.to_string(), n.parse().ok()?))
        })
        .collect()
}

/// The nft table of the service proxy in a node's namespace.
fn proxy_table(c: &Cluster, node_netns: &str) -> String {
    c.run_in(node_netns, &["nft", "list", "table", "ip", "knet-proxy"])
}

#[test]
fn cluster_ip_balances_over_every_ready_replica_of_an_and_selector() {
    let c = Cluster::up(2);
    // The Service selects app=web AND tier=backend; `decoy` has only app=web.
    let decoy = "apiVersion: v1
kind: Pod
metadata:
  name: decoy
  labels: {app: web}
spec:
  containers:
  - name: web
    image: knet/netexec
    args: [\"--http-port=8080\", \"--udp-port=-1\"]
    ports:
    - {name: http, containerPort: 8080}
";
    let svc = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web, tier: backend}
  ports:
  - {name: h, port: 80, targetPort: http}
";
    let manifest = format!(
        "{}---\n{decoy}---\n{svc}---\n{CLIENT}",
        deployment("web", 3, "")
    );
    c.knet_stdin(&["apply", "-f", "-"], &manifest).ok();
    let web = c.ready_pods(&[], "web-", 3);
    c.ready_pods(&[], "client", 1);
    c.ready_pods(&[], "decoy", 1);

    // The EndpointSlice holds exactly the three replicas, port 8080 resolved from `http`.
    let slices = c.eventually(Duration::from_secs(20), "the web slice", || {
        let s = c.get_json(&["endpointslices", "-l", "kubernetes.io/service-name=web"]);
        let items = s["items"].as_array()?.clone();
        let n: usize = items
            .iter()
            .map(|s| s["endpoints"].as_array().map_or(0, Vec::len))
            .sum();
        (n == 3).then_some(items)
    });
    assert_eq!(slices[0]["ports"][0]["port"], 8080);
    assert_eq!(slices[0]["ports"][0]["name"], "h");
    let mut targets: Vec<String> = slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().unwrap().clone())
        .map(|e| e["targetRef"]["name"].as_str().unwrap().to_string())
        .collect();
    targets.sort();
    assert_eq!(targets, names(&web));
    // kubectl get endpoints shows the same addresses (legacy Endpoints kept in step).
    let eps = c.kubectl(&["get", "endpoints", "web", "-o", "json"]).json();
    let addrs = eps["subsets"][0]["addresses"].as_array().unwrap().len();
    assert_eq!(addrs, 3, "{eps}");

    // Real traffic: port 80 of the ClusterIP reaches every replica, never the decoy.
    let ip = cluster_ip(&c, "web");
    let spread = c.eventually(Duration::from_secs(10), "balanced answers", || {
        let s = spread_from_pod(&c, "client", &format!("http://{ip}/hostname"), 90);
        (s.len() == 3).then_some(s)
    });
    assert_eq!(spread.keys().cloned().collect::<Vec<_>>(), names(&web));
    assert!(
        spread.values().all(|n| *n >= 10),
        "random balancing over 3 endpoints: {spread:?}"
    );
    // The server sees the client pod's own address (no masquerade inside the cluster).
    let client_ip = c.get_json(&["pod", "client"])["status"]["podIP"]
        .as_str()
        .unwrap()
        .to_string();
    let seen = c.http_from("client", &format!("http://{ip}/clientip"));
    assert!(seen.starts_with(&format!("{client_ip}:")), "{seen}");
    // A pod reaching itself through its Service (hairpin) gets an answer.
    let first = names(&web)[0].clone();
    let hairpin = c.eventually(Duration::from_secs(10), "hairpin to itself", || {
        let r = c.knet(&[
            "exec",
            &first,
            "--",
            knet_bin(),
            "image",
            "client",
            "rr",
            &format!("http://{ip}/hostname"),
            "--count",
            "30",
            "--timeout",
            "2000",
        ]);
        let s = parse_spread(&r.stdout);
        (r.code == 0 && s.contains_key(&first)).then_some(s)
    });
    assert!(hairpin.contains_key(&first));

    // Scaling to one replica: within a bounded time only the survivor answers.
    c.kubectl(&["scale", "deployment/web", "--replicas=1"]).ok();
    let start = Instant::now();
    let survivors = c.eventually(Duration::from_secs(30), "traffic to one pod", || {
        // While replicas go away some requests may fail: only a clean round counts.
        let r = c.knet(&[
            "exec",
            "client",
            "--",
            knet_bin(),
            "image",
            "client",
            "rr",
            &format!("http://{ip}/hostname"),
            "--count",
            "20",
            "--timeout",
            "2000",
        ]);
        let s = parse_spread(&r.stdout);
        (r.code == 0 && s.len() == 1 && s.values().sum::<u32>() == 20).then_some(s)
    });
    eprintln!(
        "scaled to 1: traffic followed in {:?} ({survivors:?})",
        start.elapsed()
    );

    // Deleting the Service removes every trace of it from every node's table.
    let before = proxy_table(&c, "node1");
    assert!(
        before.contains(&ip),
        "the table holds the service: {before}"
    );
    c.knet(&["delete", "svc", "web"]).ok();
    for node in ["node0", "node1", "node2"] {
        let table = c.eventually(Duration::from_secs(10), "rules gone", || {
            let t = proxy_table(&c, node);
            (!t.contains(&ip)).then_some(t)
        });
        assert!(table.contains("table ip knet-proxy"), "{table}");
    }
}

#[test]
fn a_service_without_endpoints_refuses_at_once_and_session_affinity_sticks() {
    let c = Cluster::up(2);
    let manifest = format!(
        "{}---
apiVersion: v1
kind: Service
metadata:
  name: sticky
spec:
  selector: {{app: sticky}}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {{clientIP: {{timeoutSeconds: 60}}}}
  ports:
  - {{port: 80, targetPort: 8080}}
---
apiVersion: v1
kind: Service
metadata:
  name: empty
spec:
  selector: {{app: nothing-matches}}
  ports:
  - {{port: 80, targetPort: 8080}}
---
{CLIENT}",
        deployment("sticky", 3, "")
    );
    c.knet_stdin(&["apply", "-f", "-"], &manifest).ok();
    c.ready_pods(&[], "sticky-", 3);
    c.ready_pods(&[], "client", 1);
    let sticky = cluster_ip(&c, "sticky");
    let spread = c.eventually(Duration::from_secs(10), "answers", || {
        let s = spread_from_pod(&c, "client", &format!("http://{sticky}/hostname"), 30);
        (s.values().sum::<u32>() == 30).then_some(s)
    });
    assert_eq!(
        spread.len(),
        1,
        "ClientIP affinity keeps one backend: {spread:?}"
    );

    let empty = cluster_ip(&c, "empty");
    // Wait until the proxy knows the Service, then time a connection attempt.
    let target = format!("{empty}:80");
    let (out, took) = c.eventually(Duration::from_secs(10), "refusal", || {
        let start = Instant::now();
        let r = c.knet(&[
            "exec",
            "client",
            "--",
            knet_bin(),
            "image",
            "client",
            "connect",
            &target,
            "--timeout",
            "3000",
        ]);
        let took = start.elapsed();
        let out = format!("{}{}", r.stdout, r.stderr);
        (r.code != 0 && out.contains("REFUSED")).then_some((out, took))
    });
    assert!(out.contains("REFUSED"), "{out}");
    assert!(
        took < Duration::from_secs(2),
        "refused, not timed out ({took:?})"
    );
}

#[test]
fn node_port_and_load_balancer_reach_pods_from_outside() {
    let c = Cluster::up(2);
    let w1 = format!("{}-worker", c.name);
    // Every replica on worker 1 (node1): worker 2 (node2, 172.18.0.4) has none.
    let pin = format!("      nodeName: {w1}\n");
    let manifest = format!(
        "{}---
apiVersion: v1
kind: Service
metadata:
  name: np
spec:
  type: NodePort
  selector: {{app: np}}
  ports:
  - {{port: 80, targetPort: http, nodePort: 30080}}
---
apiVersion: v1
kind: Service
metadata:
  name: lb
spec:
  type: LoadBalancer
  selector: {{app: np}}
  ports:
  - {{port: 8000, targetPort: 8080}}
---
apiVersion: v1
kind: Service
metadata:
  name: lb-local
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {{app: np}}
  ports:
  - {{port: 8001, targetPort: 8080}}
",
        deployment("np", 2, &pin)
    );
    c.knet_stdin(&["apply", "-f", "-"], &manifest).ok();
    let pods = c.ready_pods(&[], "np-", 2);
    let client = |url: &str| {
        c.run_in_netns(
            "external",
            &[
                knet_bin(),
                "image",
                "client",
                "http",
                url,
                "--timeout",
                "2000",
            ],
        )
    };
    // NodePort through the node that has no pod of the Service: masqueraded to that node.
    let seen = c.eventually(Duration::from_secs(15), "node port", || {
        let r = client("http://172.18.0.4:30080/clientip");
        (r.code == 0).then(|| r.stdout.trim().to_string())
    });
    assert!(seen.starts_with("172.18.0.4:"), "{seen}");
    let host = client("http://172.18.0.2:30080/hostname");
    assert!(
        names(&pods).contains(&host.stdout.trim().to_string()),
        "{}",
        host.stdout
    );

    // LoadBalancer: an address from the pool on the LAN, reachable from outside.
    let lb_ip = c.eventually(Duration::from_secs(15), "a load balancer address", || {
        let s = c.get_json(&["svc", "lb"]);
        s["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .map(str::to_string)
    });
    assert!(lb_ip.starts_with("172.18.0."), "{lb_ip}");
    let host = c.eventually(Duration::from_secs(15), "LB traffic", || {
        let r = client(&format!("http://{lb_ip}:8000/hostname"));
        (r.code == 0).then(|| r.stdout.trim().to_string())
    });
    assert!(names(&pods).contains(&host), "{host}");

    // externalTrafficPolicy Local: the client's own address reaches the pod.
    let local_ip = c.eventually(Duration::from_secs(15), "a second address", || {
        let s = c.get_json(&["svc", "lb-local"]);
        s["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .map(str::to_string)
    });
    assert_ne!(local_ip, lb_ip);
    let seen = c.eventually(Duration::from_secs(15), "local LB traffic", || {
        let r = client(&format!("http://{local_ip}:8001/clientip"));
        (r.code == 0).then(|| r.stdout.trim().to_string())
    });
    assert!(
        seen.starts_with("172.18.0.254:"),
        "source preserved: {seen}"
    );
    // Its health check node port answers 200 on the node with endpoints, 503 elsewhere.
    let hc = c.get_json(&["svc", "lb-local"])["spec"]["healthCheckNodePort"]
        .as_u64()
        .unwrap();
    let on_w1 = client(&format!("http://172.18.0.3:{hc}/"));
    assert_eq!(on_w1.code, 0, "{}", on_w1.stderr);
    assert!(
        on_w1.stdout.contains("\"localEndpoints\":2"),
        "{}",
        on_w1.stdout
    );
    let on_w2 = client(&format!("http://172.18.0.4:{hc}/"));
    assert_ne!(
        on_w2.code, 0,
        "503 on a node without endpoints: {}",
        on_w2.stdout
    );

    // The proxy's metrics, kube-proxy's names.
    let metrics = client("http://172.18.0.3:10249/metrics");
    assert!(
        metrics
            .stdout
            .contains("kubeproxy_sync_proxy_rules_duration_seconds_count"),
        "{}",
        metrics.stdout
    );
    assert!(
        metrics
            .stdout
            .contains("kubeproxy_network_programming_duration_seconds_count"),
        "{}",
        metrics.stdout
    );
}

#[test]
fn a_selectorless_service_uses_a_hand_made_endpoint_slice() {
    let c = Cluster::up(1);
    // A database outside the cluster: a server in the external namespace.
    let mut ext = c.spawn_in(
        "external",
        &["image", "netexec", "--http-port=5432", "--udp-port=-1"],
    );
    let manifest = format!(
        "apiVersion: v1
kind: Service
metadata:
  name: external-database
spec:
  ports:
  - {{name: pg, port: 5432, targetPort: 5432}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: external-database-1
  labels:
    kubernetes.io/service-name: external-database
addressType: IPv4
ports:
- {{name: pg, port: 5432, protocol: TCP}}
endpoints:
- addresses: [\"172.18.0.254\"]
---
{CLIENT}"
    );
    c.knet_stdin(&["apply", "-f", "-"], &manifest).ok();
    c.ready_pods(&[], "client", 1);
    let ip = cluster_ip(&c, "external-database");
    let host = c.eventually(Duration::from_secs(15), "the external server", || {
        let r = c.knet(&[
            "exec",
            "client",
            "--",
            knet_bin(),
            "image",
            "client",
            "http",
            &format!("http://{ip}:5432/hostname"),
            "--timeout",
            "1000",
        ]);
        (r.code == 0).then(|| r.stdout.trim().to_string())
    });
    let _ = ext.kill();
    let _ = ext.wait();
    assert!(!host.is_empty());
    // The `kubernetes` Service is selector-less too: its endpoint is the API server on the
    // control-plane node, reachable from pods.
    let eps = c
        .kubectl(&["get", "endpoints", "kubernetes", "-o", "json"])
        .json();
    assert_eq!(
        eps["subsets"][0]["addresses"][0]["ip"], "172.18.0.2",
        "{eps}"
    );
    assert_eq!(eps["subsets"][0]["ports"][0]["port"], 6443, "{eps}");
    let r = c.knet(&[
        "exec",
        "client",
        "--",
        knet_bin(),
        "image",
        "client",
        "connect",
        "10.96.0.1:443",
        "--timeout",
        "2000",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The controller left the hand-made slice alone and made none of its own.
    let slices = c.get_json(&[
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=external-database",
    ]);
    let items = slices["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{slices}");
    assert_eq!(items[0]["metadata"]["name"], "external-database-1");
}

/// A UDP client that keeps sending from one port is one conntrack flow, pinned to the endpoint
/// its first datagram went to. When that endpoint goes away, the proxy deletes the flow's
/// conntrack entry (as kube-proxy does) and the next datagrams reach the remaining pod, instead
/// of vanishing for as long as the client keeps sending.
#[test]
fn udp_flows_to_a_removed_endpoint_move_to_the_remaining_one() {
    let c = Cluster::up(1);
    let pod = |name: &str| {
        format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: udp}}
spec:
  containers:
  - name: c
    image: knet/netexec
    args: [\"--http-port=8080\", \"--udp-port=8081\"]
"
        )
    };
    let svc = "apiVersion: v1
kind: Service
metadata:
  name: udp
spec:
  selector: {app: udp}
  ports:
  - {name: echo, protocol: UDP, port: 5353, targetPort: 8081}
";
    let all = [
        pod("udp-a"),
        pod("udp-b"),
        svc.to_string(),
        CLIENT.to_string(),
    ]
    .join("---\n");
    c.kubectl_stdin(&["apply", "-f", "-"], &all).ok();
    c.ready_pods(&[], "udp-", 2);
    c.ready_pods(&[], "client", 1);
    let ip = cluster_ip(&c, "udp");
    let target = format!("{ip}:5353");
    let ask = || {
        let r = c.knet(&[
            "exec",
            "client",
            "--",
            knet_bin(),
            "image",
            "client",
            "udp",
            &target,
            "--send",
            "hostname",
            "--source-port",
            "40000",
            "--timeout",
            "1000",
        ]);
        (r.code == 0).then(|| r.stdout.trim().to_string())
    };
    // The endpoints are programmed once the Service answers.
    let first = c.eventually(Duration::from_secs(20), "an answer over UDP", ask);
    assert!(first == "udp-a" || first == "udp-b", "{first}");
    for _ in 0..4 {
        assert_eq!(ask().as_deref(), Some(first.as_str()), "one flow, one pod");
    }
    let other = if first == "udp-a" { "udp-b" } else { "udp-a" };
    c.kubectl(&["delete", "pod", &first, "--wait=false"]).ok();
    // Same source port, so without the cleanup every datagram would keep following the old
    // entry (refreshed by each of them) to the pod that is gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ask().as_deref() != Some(other) {
        if Instant::now() > deadline {
            let conntrack = c.run_in_netns("node1", &["conntrack", "-L", "-p", "udp"]);
            let slices = c.kubectl(&[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=udp",
                "-o",
                "yaml",
            ]);
            let log = std::fs::read_to_string(c.state.path().join(&c.name).join("knet.log"))
                .unwrap_or_default();
            let log: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("UDP") || l.contains("proxy") || l.contains("conntrack"))
                .collect();
            panic!(
                "{other} did not answer the flow {first} had within 20 s\nconntrack in node1: {}{}\nslices: {}\nlog:\n{}",
                conntrack.stdout,
                conntrack.stderr,
                slices.stdout,
                log.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
