//! Containers as real processes: logs, restarts, images that are not built in, graceful deletion.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::Value;

fn pod(c: &Cluster, name: &str) -> Value {
    c.get_json(&["pod", name])
}

#[test]
fn kubectl_and_knet_logs_show_container_output_and_restarts_follow_the_policy() {
    let c = Cluster::up(1);
    let manifest = "apiVersion: v1
kind: Pod
metadata:
  name: flaky
spec:
  restartPolicy: OnFailure
  containers:
  - name: main
    image: busybox
    command: [\"/bin/sh\", \"-c\", \"echo run $(date +%s%N); echo to-stderr >&2; exit 3\"]
---
apiVersion: v1
kind: Pod
metadata:
  name: once
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [\"/bin/sh\", \"-c\", \"echo hello from $(hostname); exit 0\"]
";
    c.kubectl_stdin(&["apply", "-f", "-"], manifest).ok();
    // OnFailure: exit 3 restarts, with back-off.
    let p = c.eventually(Duration::from_secs(30), "a restart of flaky", || {
        let p = pod(&c, "flaky");
        (p["status"]["containerStatuses"][0]["restartCount"].as_i64()? >= 1).then_some(p)
    });
    let last = &p["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 3, "{p}");
    assert_eq!(last["reason"], "Error");
    let logs = c.kubectl(&["logs", "flaky"]).ok().to_string();
    assert!(
        logs.contains("run ") && logs.contains("to-stderr"),
        "{logs}"
    );
    let previous = c.knet(&["logs", "flaky", "--previous"]).ok().to_string();
    assert!(previous.contains("run "), "{previous}");
    // Never + exit 0: the pod succeeds and is not restarted.
    let once = c.eventually(Duration::from_secs(20), "once to succeed", || {
        let p = pod(&c, "once");
        (p["status"]["phase"] == "Succeeded").then_some(p)
    });
    assert_eq!(once["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(
        once["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    let out = c.knet(&["logs", "once"]).ok().to_string();
    assert_eq!(out, "hello from once\n");
}

#[test]
fn an_image_that_is_not_built_in_waits_with_a_clear_reason_and_disturbs_nothing() {
    let c = Cluster::up(1);
    let manifest = "apiVersion: v1
kind: Pod
metadata:
  name: contoso
spec:
  containers:
  - name: mybackend
    image: contoso/mybackend
  - name: web
    image: knet/netexec
";
    c.kubectl_stdin(&["apply", "-f", "-"], manifest).ok();
    let p = c.eventually(Duration::from_secs(20), "the image pull to fail", || {
        let p = pod(&c, "contoso");
        let statuses = p["status"]["containerStatuses"].as_array()?.clone();
        let waiting =
            statuses.iter().find(|s| s["name"] == "mybackend")?["state"]["waiting"].clone();
        let web_running =
            statuses.iter().find(|s| s["name"] == "web")?["state"]["running"].is_object();
        (waiting.is_object() && web_running).then_some(waiting)
    });
    let reason = p["reason"].as_str().unwrap();
    assert!(
        reason == "ErrImagePull" || reason == "ImagePullBackOff",
        "{p}"
    );
    let message = p["message"].as_str().unwrap();
    assert!(
        message.contains("contoso/mybackend") && message.contains("command"),
        "says how to fix it: {message}"
    );
    let table = c.kubectl(&["get", "pod", "contoso"]).ok().to_string();
    assert!(table.contains("1/2"), "{table}");
}

#[test]
fn deleting_a_pod_stops_its_processes_within_the_grace_period() {
    let c = Cluster::up(1);
    let manifest = "apiVersion: v1
kind: Pod
metadata:
  name: stubborn
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: main
    image: busybox
    command: [\"/bin/sh\", \"-c\", \"trap '' TERM; echo started; while true; do sleep 0.1; done\"]
---
apiVersion: v1
kind: Pod
metadata:
  name: polite
spec:
  containers:
  - name: main
    image: knet/netexec
";
    c.kubectl_stdin(&["apply", "-f", "-"], manifest).ok();
    c.eventually(Duration::from_secs(20), "both pods running", || {
        let a = pod(&c, "stubborn");
        let b = pod(&c, "polite");
        (a["status"]["phase"] == "Running" && b["status"]["phase"] == "Running").then_some(())
    });
    // netexec exits on SIGTERM at once; the trapping shell is killed after its grace period.
    let t = Instant::now();
    c.kubectl(&["delete", "pod", "polite"]).ok();
    let polite = t.elapsed();
    let t = Instant::now();
    c.kubectl(&["delete", "pod", "stubborn"]).ok();
    let stubborn = t.elapsed();
    assert!(
        polite < Duration::from_secs(3),
        "SIGTERM ends a cooperating container: {polite:?}"
    );
    assert!(
        stubborn >= Duration::from_secs(3),
        "the grace period is honoured: {stubborn:?}"
    );
    assert!(
        stubborn < Duration::from_secs(15),
        "then SIGKILL: {stubborn:?}"
    );
    assert!(c.kubectl(&["get", "pod", "stubborn"]).code != 0);
}
