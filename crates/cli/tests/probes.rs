//! Probes in a real cluster: readiness through `httpGet` (from the node to the pod IP) and `exec`
//! (inside the pod's sandbox) drives the pod's Ready condition and `containerStatuses[].ready`;
//! a failing liveness probe restarts the container. Periods are 1 s to keep the tests short.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::Value;

fn pod(c: &Cluster, name: &str) -> Value {
    c.get_json(&["pod", name])
}

/// The pod's Ready condition ("True", "False"), if reported.
fn ready_condition(p: &Value) -> Option<String> {
    p["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?["status"]
        .as_str()
        .map(str::to_owned)
}

/// `containerStatuses[0].ready`.
fn container_ready(p: &Value) -> Option<bool> {
    p["status"]["containerStatuses"][0]["ready"].as_bool()
}

/// Waits until the pod is Running with Ready `want` (condition and container agree).
fn wait_ready(c: &Cluster, name: &str, want: bool, within: Duration) -> Value {
    let status = if want { "True" } else { "False" };
    c.eventually(within, &format!("{name} Ready={status}"), || {
        let p = pod(c, name);
        (p["status"]["phase"] == "Running"
            && ready_condition(&p).as_deref() == Some(status)
            && container_ready(&p) == Some(want))
        .then_some(p)
    })
}

const READINESS: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: knet/netexec
    ports:
    - name: http
      containerPort: 8080
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      initialDelaySeconds: 3
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: inside
spec:
  containers:
  - name: main
    image: busybox
    command: [\"/bin/sh\", \"-c\", \"sleep 3600\"]
    readinessProbe:
      exec:
        command: [\"/bin/sh\", \"-c\", \"test \\\"$(hostname)\\\" = inside\"]
      periodSeconds: 1
";

#[test]
fn readiness_probes_drive_the_ready_condition_both_ways() {
    let c = Cluster::up(1);
    c.kubectl_stdin(&["apply", "-f", "-"], READINESS).ok();
    // Running, not yet probed (initial delay): not ready.
    let p = wait_ready(&c, "web", false, Duration::from_secs(30));
    assert_eq!(p["status"]["containerStatuses"][0]["started"], true, "{p}");
    // The first success makes it ready.
    wait_ready(&c, "web", true, Duration::from_secs(15));
    let table = c.kubectl(&["get", "pod", "web"]).ok().to_string();
    assert!(table.contains("1/1"), "{table}");

    // /readyz answers 503 from now on: not ready after the next probe...
    c.http_from("web", "http://127.0.0.1:8080/setready?code=503");
    let t = Instant::now();
    wait_ready(&c, "web", false, Duration::from_secs(10));
    let to_unready = t.elapsed();
    // ...and 200 again: ready again.
    c.http_from("web", "http://127.0.0.1:8080/setready?code=200");
    let t = Instant::now();
    wait_ready(&c, "web", true, Duration::from_secs(10));
    let to_ready = t.elapsed();
    // One period (1 s), the probe, and the status write; kubectl polling adds its own.
    for took in [to_unready, to_ready] {
        assert!(
            took < Duration::from_secs(5),
            "status followed the probe in {took:?}"
        );
    }
    let web = pod(&c, "web");
    assert_eq!(web["status"]["containerStatuses"][0]["restartCount"], 0);

    // An exec probe runs inside the pod's sandbox: its hostname is the pod's name.
    wait_ready(&c, "inside", true, Duration::from_secs(30));
}

const LIVENESS: &str = "apiVersion: v1
kind: Pod
metadata:
  name: dead
spec:
  containers:
  - name: web
    image: knet/netexec
    livenessProbe:
      tcpSocket:
        port: 9999
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: alive
spec:
  containers:
  - name: web
    image: knet/netexec
    livenessProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 1
      failureThreshold: 1
";

#[test]
fn a_liveness_probe_on_a_closed_port_restarts_the_container() {
    let c = Cluster::up(1);
    c.kubectl_stdin(&["apply", "-f", "-"], LIVENESS).ok();
    let p = c.eventually(Duration::from_secs(40), "dead to restart", || {
        let p = pod(&c, "dead");
        (p["status"]["containerStatuses"][0]["restartCount"].as_i64()? >= 1).then_some(p)
    });
    let status = &p["status"]["containerStatuses"][0];
    assert!(
        status["lastState"]["terminated"]["finishedAt"].is_string(),
        "the killed instance is the last state: {p}"
    );
    // The same probe on the port netexec serves keeps its container alive all along.
    std::thread::sleep(Duration::from_secs(3));
    let alive = pod(&c, "alive");
    assert_eq!(alive["status"]["phase"], "Running", "{alive}");
    assert_eq!(
        alive["status"]["containerStatuses"][0]["restartCount"], 0,
        "{alive}"
    );
    let started = alive["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].clone();
    assert!(started.is_string(), "{alive}");
}
