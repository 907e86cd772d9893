//! Pod networking with real traffic: the scenarios of the source documents (container to container
//! over localhost, pod to pod on one node and across nodes without NAT, egress through the node's
//! address, node to pod and pod to node), in host-gw and VXLAN modes.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::Duration;

use common::{Cluster, knet_bin, pod_ip};
use serde_json::Value;

const PAIR: &str = "apiVersion: v1
kind: Pod
metadata:
  name: duo
spec:
  containers:
  - name: web
    image: knet/netexec
    args: [\"--http-port=8080\", \"--udp-port=-1\"]
  - name: sidecar
    image: knet/netexec
    args: [\"--http-port=9090\", \"--udp-port=-1\"]
";

fn servers(nodes: &[&str]) -> String {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: s{i}\n  labels:\n    app: s\nspec:\n  nodeName: {n}\n  containers:\n  - name: web\n    image: registry.k8s.io/e2e-test-images/agnhost:2.47\n    args: [\"netexec\", \"--http-port=8080\"]\n---\n"
            )
        })
        .collect()
}

fn running_pods(c: &Cluster, n: usize) -> Vec<Value> {
    c.eventually(
        Duration::from_secs(30),
        &format!("{n} running pods"),
        || {
            let pods = c.get_json(&["pods"]);
            let items: Vec<Value> = pods["items"].as_array()?.clone();
            let running = items
                .iter()
                .filter(|p| p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string())
                .count();
            (items.len() == n && running == n).then_some(items)
        },
    )
}

fn name_of(p: &Value) -> String {
    p["metadata"]["name"].as_str().unwrap().to_string()
}

#[test]
fn containers_of_one_pod_share_localhost_and_the_pod_name_as_hostname() {
    let c = Cluster::up(1);
    c.knet_stdin(&["apply", "-f", "-"], PAIR).ok();
    running_pods(&c, 1);
    let r = c.knet(&[
        "exec",
        "duo",
        "-c",
        "sidecar",
        "--",
        knet_bin(),
        "image",
        "client",
        "http",
        "http://127.0.0.1:8080/hostname",
    ]);
    assert_eq!(r.ok().trim(), "duo");
    let r = c.knet(&[
        "exec",
        "duo",
        "-c",
        "web",
        "--",
        knet_bin(),
        "image",
        "client",
        "http",
        "http://127.0.0.1:9090/clientip",
    ]);
    assert!(r.ok().starts_with("127.0.0.1:"), "{}", r.stdout);
    let hostname = c
        .knet(&["exec", "duo", "--", "hostname"])
        .ok()
        .trim()
        .to_string();
    assert_eq!(hostname, "duo");
}

fn pods_talk_without_nat(overlay: &str) {
    let c = Cluster::up_with(2, &["--overlay", overlay]);
    let w1 = format!("{}-worker", c.name);
    let w2 = format!("{}-worker2", c.name);
    c.knet_stdin(&["apply", "-f", "-"], &servers(&[&w1, &w1, &w2]))
        .ok();
    let pods = running_pods(&c, 3);
    let by_name = |n: &str| pods.iter().find(|p| name_of(p) == n).unwrap().clone();
    let (s0, s1, s2) = (by_name("s0"), by_name("s1"), by_name("s2"));
    // The kernel agrees with the API: each pod's eth0 has its podIP.
    for p in &pods {
        let addr = c
            .knet(&[
                "exec",
                &name_of(p),
                "--",
                "ip",
                "-4",
                "-o",
                "addr",
                "show",
                "eth0",
            ])
            .ok()
            .to_string();
        assert!(addr.contains(&format!("{}/32", pod_ip(p))), "{addr}");
    }
    // Same node.
    let seen = c.http_from("s0", &format!("http://{}:8080/clientip", pod_ip(&s1)));
    assert!(
        seen.starts_with(&format!("{}:", pod_ip(&s0))),
        "same node: the server sees the client pod's IP: {seen}"
    );
    // Across nodes, both ways.
    let seen = c.http_from("s0", &format!("http://{}:8080/clientip", pod_ip(&s2)));
    assert!(
        seen.starts_with(&format!("{}:", pod_ip(&s0))),
        "across nodes, no NAT: {seen}"
    );
    let seen = c.http_from("s2", &format!("http://{}:8080/clientip", pod_ip(&s1)));
    assert!(
        seen.starts_with(&format!("{}:", pod_ip(&s2))),
        "across nodes, no NAT: {seen}"
    );
    assert_eq!(
        c.http_from("s2", &format!("http://{}:8080/hostname", pod_ip(&s0))),
        "s0"
    );
    // The pod's own IP is the one others see, and the MTU fits the overlay.
    let link = c
        .knet(&["exec", "s0", "--", "ip", "-o", "link", "show", "eth0"])
        .ok()
        .to_string();
    let want = if overlay == "vxlan" {
        "mtu 1450 "
    } else {
        "mtu 1500 "
    };
    assert!(link.contains(want), "{link}");
    let sys = c
        .knet(&["exec", "s0", "--", "cat", "/sys/class/net/eth0/mtu"])
        .ok()
        .trim()
        .to_string();
    assert_eq!(
        format!("mtu {sys} "),
        want,
        "/sys shows the pod's own interfaces"
    );
}

#[test]
fn pods_talk_across_nodes_without_nat_in_host_gw_mode() {
    pods_talk_without_nat("host-gw");
}

#[test]
fn pods_talk_across_nodes_without_nat_in_vxlan_mode() {
    pods_talk_without_nat("vxlan");
}

#[test]
fn egress_is_masqueraded_to_the_node_address_and_nodes_reach_pods() {
    let c = Cluster::up(1);
    let w1 = format!("{}-worker", c.name);
    c.knet_stdin(&["apply", "-f", "-"], &servers(&[&w1])).ok();
    let pods = running_pods(&c, 1);
    let s0 = &pods[0];
    let node_ip = s0["status"]["hostIP"].as_str().unwrap().to_string();
    assert_eq!(node_ip, "172.18.0.3");
    // A server on the outside (the external namespace, 172.18.0.254) sees the node's address.
    let mut ext = c.spawn_in(
        "external",
        &["image", "netexec", "--http-port=9000", "--udp-port=-1"],
    );
    let seen = c.eventually(Duration::from_secs(10), "the external server", || {
        let r = c.knet(&[
            "exec",
            "s0",
            "--",
            knet_bin(),
            "image",
            "client",
            "http",
            "http://172.18.0.254:9000/clientip",
            "--timeout",
            "1000",
        ]);
        (r.code == 0).then(|| r.stdout.trim().to_string())
    });
    let _ = ext.kill();
    let _ = ext.wait();
    assert!(
        seen.starts_with(&format!("{node_ip}:")),
        "egress leaves with the node's address: {seen}"
    );
    // Node to pod: from the node's own namespace (node1 is the first worker).
    let out = c.run_in(
        "node1",
        &[
            knet_bin(),
            "image",
            "client",
            "http",
            &format!("http://{}:8080/hostname", pod_ip(s0)),
        ],
    );
    assert_eq!(out.trim(), "s0");
    // Pod to node: a server in the control-plane node's namespace.
    let mut srv = c.spawn_in(
        "node0",
        &["image", "netexec", "--http-port=9001", "--udp-port=-1"],
    );
    let seen = c.eventually(Duration::from_secs(10), "the node's server", || {
        let r = c.knet(&[
            "exec",
            "s0",
            "--",
            knet_bin(),
            "image",
            "client",
            "http",
            "http://172.18.0.2:9001/hostname",
            "--timeout",
            "1000",
        ]);
        (r.code == 0).then(|| r.stdout.trim().to_string())
    });
    let _ = srv.kill();
    let _ = srv.wait();
    assert!(!seen.is_empty());
}

#[test]
fn deleting_a_pod_frees_its_ip_and_removes_its_namespace() {
    let c = Cluster::up(1);
    let w1 = format!("{}-worker", c.name);
    c.knet_stdin(&["apply", "-f", "-"], &servers(&[&w1])).ok();
    let pods = running_pods(&c, 1);
    let uid = pods[0]["metadata"]["uid"].as_str().unwrap().to_string();
    let netns = format!("pod-{uid}");
    let world = c.world_pid();
    let list = || {
        let out = std::process::Command::new("nsenter")
            .args(["-t", &world.to_string(), "-m", "-n", "ip", "netns", "list"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(list().contains(&netns), "{}", list());
    let ipam = c
        .state
        .path()
        .join(&c.name)
        .join("nodes")
        .join(&w1)
        .join("ipam.json");
    assert!(std::fs::read_to_string(&ipam).unwrap().contains(&uid));
    let out = c.knet(&["delete", "pod", "s0"]).ok().to_string();
    assert_eq!(out, "pod \"s0\" deleted\n");
    assert!(
        !list().contains(&netns),
        "the pod's namespace is gone: {}",
        list()
    );
    assert!(
        !std::fs::read_to_string(&ipam).unwrap().contains(&uid),
        "its address is free"
    );
}

#[test]
fn the_demo_shows_every_pod_answering_every_other_without_nat() {
    let state = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(knet_bin())
        .arg("demo")
        .env("KNET_STATE_DIR", state.path())
        .env("KNET_CLUSTER", "demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::process::Command::new(knet_bin())
        .arg("down")
        .env("KNET_STATE_DIR", state.path())
        .env("KNET_CLUSTER", "demo")
        .output();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" (") && l.contains("demo-"))
        .collect();
    assert_eq!(
        rows.len(),
        6,
        "3 pods x 2 peers:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in rows {
        // FROM (node, IP) ... SERVER SAW IP:port — the same IP.
        let from_ip = row
            .split(", ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap();
        let saw = row.split_whitespace().last().unwrap();
        assert!(saw.starts_with(&format!("{from_ip}:")), "{row}");
    }
    // Then the Service by name: all three pods answer the 30 requests between them.
    let by_service: Vec<u32> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("ANSWERED BY"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert_eq!(by_service.len(), 3, "{stdout}");
    assert_eq!(by_service.iter().sum::<u32>(), 30, "{stdout}");
}
