//! The real kubectl against a real knet control plane.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{Cluster, is_ready};
use serde_json::Value;

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: server
        image: knet/netexec
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"#;

#[test]
fn kubectl_lists_the_system_namespaces_and_the_nodes() {
    let c = Cluster::up(2);
    let out = c.kubectl(&["get", "ns"]).ok().to_string();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(out.contains(ns), "missing {ns} in:\n{out}");
    }
    assert!(
        out.starts_with("NAME"),
        "kubectl printed the server's table:\n{out}"
    );
    assert!(out.contains("Active"));
    let nodes = c.get_json(&["nodes"]);
    let names: Vec<&str> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // Node IPAM gives every node its own /24 of the cluster CIDR.
    let cidrs = c.eventually(Duration::from_secs(10), "pod CIDRs on every node", || {
        let nodes = c.get_json(&["nodes"]);
        let cidrs: Vec<String> = nodes["items"]
            .as_array()?
            .iter()
            .filter_map(|n| n["spec"]["podCIDR"].as_str().map(str::to_string))
            .collect();
        (cidrs.len() == 3).then_some(cidrs)
    });
    let mut unique = cidrs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{cidrs:?}");
    assert!(
        cidrs
            .iter()
            .all(|c| c.starts_with("10.244.") && c.ends_with("/24")),
        "{cidrs:?}"
    );
}

#[test]
fn kubectl_create_then_get_yaml_shows_server_defaults() {
    let c = Cluster::up(1);
    let out = c
        .kubectl_stdin(&["create", "-f", "-"], WEB)
        .ok()
        .to_string();
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(out.contains("service/web created"), "{out}");
    let yaml = c
        .kubectl(&["get", "deploy", "web", "-o", "yaml"])
        .ok()
        .to_string();
    assert!(yaml.contains("type: RollingUpdate"), "{yaml}");
    assert!(yaml.contains("maxSurge: 25%"), "{yaml}");
    assert!(yaml.contains("revisionHistoryLimit: 10"), "{yaml}");
    let svc = c.get_json(&["svc", "web"]);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    // A second create of the same objects is refused, and changes nothing.
    let rv = svc["metadata"]["resourceVersion"].clone();
    let err = c
        .kubectl_stdin(&["create", "-f", "-"], WEB)
        .fails()
        .to_string();
    assert!(
        err.contains("AlreadyExists") && err.contains("\"web\" already exists"),
        "{err}"
    );
    assert_eq!(
        c.get_json(&["svc", "web"])["metadata"]["resourceVersion"],
        rv
    );
}

#[test]
fn kubectl_apply_twice_creates_then_configures() {
    let c = Cluster::up(1);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    tier: a\ndata:\n  mode: fast\n  remove-me: x\n";
    let out = c.kubectl_stdin(&["apply", "-f", "-"], cm).ok().to_string();
    assert!(out.contains("configmap/settings created"), "{out}");
    // A label added by someone else is kept across the next apply (three-way merge).
    c.kubectl(&["label", "cm", "settings", "owner=ops"]).ok();
    let changed = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    tier: b\ndata:\n  mode: slow\n";
    let out = c
        .kubectl_stdin(&["apply", "-f", "-"], changed)
        .ok()
        .to_string();
    assert!(out.contains("configmap/settings configured"), "{out}");
    let got = c.get_json(&["cm", "settings"]);
    assert_eq!(got["data"]["mode"], "slow");
    assert!(
        got["data"].get("remove-me").is_none(),
        "a key removed from the manifest is removed: {got}"
    );
    assert_eq!(got["metadata"]["labels"]["tier"], "b");
    assert_eq!(got["metadata"]["labels"]["owner"], "ops");
    let out = c
        .kubectl_stdin(&["apply", "-f", "-"], changed)
        .ok()
        .to_string();
    assert!(out.contains("configmap/settings unchanged"), "{out}");

    // A Deployment: kubectl sends a strategic merge patch.
    c.kubectl_stdin(&["apply", "-f", "-"], WEB).ok();
    let scaled = WEB
        .replace("replicas: 2", "replicas: 4")
        .replace("image: knet/netexec", "image: knet/netexec:v2");
    let out = c
        .kubectl_stdin(&["apply", "-f", "-"], &scaled)
        .ok()
        .to_string();
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert!(out.contains("service/web unchanged"), "{out}");
    let d = c.get_json(&["deploy", "web"]);
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "knet/netexec:v2"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"],
        "/dev/termination-log",
        "server defaults survive the patch"
    );
    assert_eq!(d["metadata"]["generation"], 2);
}

#[test]
fn kubectl_get_watch_sees_an_update() {
    let c = Cluster::up(0);
    c.kubectl(&["create", "configmap", "watched", "--from-literal=v=1"])
        .ok();
    let mut child = c
        .kubectl_cmd(&[
            "get",
            "configmap",
            "watched",
            "-w",
            "-o",
            "jsonpath={.data.v}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "1");
    c.kubectl(&[
        "patch",
        "configmap",
        "watched",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"v":"2"}}"#,
    ])
    .ok();
    let seen = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen.unwrap(), "2");
}

#[test]
fn kubectl_delete_f_removes_the_objects() {
    let c = Cluster::up(1);
    c.kubectl_stdin(&["apply", "-f", "-"], WEB).ok();
    let out = c
        .kubectl_stdin(&["delete", "-f", "-"], WEB)
        .ok()
        .to_string();
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    assert!(out.contains("service \"web\" deleted"), "{out}");
    let err = c.kubectl(&["get", "svc", "web"]).fails().to_string();
    assert!(
        err.contains("NotFound") && err.contains("services \"web\" not found"),
        "{err}"
    );
    // The garbage collector removes what the Deployment owned.
    c.eventually(
        Duration::from_secs(15),
        "the Deployment's ReplicaSets and Pods to go",
        || {
            let rs = c.get_json(&["rs", "-l", "app=web"]);
            let pods = c.get_json(&["pods", "-l", "app=web"]);
            (rs["items"].as_array()?.is_empty() && pods["items"].as_array()?.is_empty())
                .then_some(())
        },
    );
}

#[test]
fn every_example_of_the_source_documents_applies() {
    let c = Cluster::up(2);
    let dir = common::seeds_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 14, "{files:?}");
    for f in &files {
        let out = c.kubectl(&["apply", "-f", f.to_str().unwrap()]);
        assert_eq!(
            out.code,
            0,
            "{}:\n{}\n{}",
            f.display(),
            out.stdout,
            out.stderr
        );
    }
    for (kind, name) in [
        ("pod", "backend"),
        ("deployment", "backend"),
        ("deployment", "frontend"),
        ("service", "backend-service"),
        ("service", "frontend-service"),
        ("service", "external-database"),
        ("endpointslice", "external-database-1"),
        ("ingress", "my-ingress"),
        ("ingress", "example-ingress"),
        ("ingress", "path-example"),
        ("networkpolicy", "allow-frontend"),
        ("service", "my-clusterip-service"),
    ] {
        c.kubectl(&["get", kind, name]).ok();
    }
    // The last frontend-service applied is the LoadBalancer one.
    assert_eq!(
        c.get_json(&["svc", "frontend-service"])["spec"]["type"],
        "LoadBalancer"
    );
}

#[test]
fn deployments_make_pods_that_the_scheduler_spreads_over_the_workers() {
    let c = Cluster::up(2);
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &WEB.replace("replicas: 2", "replicas: 4"),
    )
    .ok();
    let pods = c.eventually(Duration::from_secs(15), "4 scheduled pods", || {
        let pods = c.get_json(&["pods", "-l", "app=web"]);
        let items = pods["items"].as_array()?.clone();
        let bound = items
            .iter()
            .filter(|p| p["spec"]["nodeName"].is_string())
            .count();
        (items.len() == 4 && bound == 4).then_some(items)
    });
    let mut per_node = std::collections::BTreeMap::new();
    for p in &pods {
        *per_node
            .entry(p["spec"]["nodeName"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet");
        assert!(p["metadata"]["name"].as_str().unwrap().starts_with("web-"));
    }
    let name = &c.name;
    assert_eq!(
        per_node,
        [
            (format!("{name}-worker"), 2),
            (format!("{name}-worker2"), 2)
        ]
        .into_iter()
        .collect(),
        "spread over workers, none on the tainted control plane"
    );
    // kubectl scale goes through the scale subresource.
    c.kubectl(&["scale", "deployment", "web", "--replicas=1"])
        .ok();
    c.eventually(Duration::from_secs(15), "scale down to 1 pod", || {
        let pods = c.get_json(&["pods", "-l", "app=web"]);
        (pods["items"].as_array()?.len() == 1).then_some(())
    });
    let events = c.kubectl(&["get", "events"]).ok().to_string();
    assert!(events.contains("Scheduled"), "{events}");
    assert!(events.contains("ScalingReplicaSet"), "{events}");
}

#[test]
fn a_namespace_deletion_deletes_what_is_in_it() {
    let c = Cluster::up(0);
    c.kubectl(&["create", "namespace", "team-a"]).ok();
    c.kubectl(&[
        "-n",
        "team-a",
        "create",
        "configmap",
        "one",
        "--from-literal=a=b",
    ])
    .ok();
    c.kubectl_stdin(&["-n", "team-a", "apply", "-f", "-"], WEB)
        .ok();
    let out = c
        .kubectl(&["delete", "namespace", "team-a", "--timeout=30s"])
        .ok()
        .to_string();
    assert!(out.contains("namespace \"team-a\" deleted"), "{out}");
    let err = c.kubectl(&["get", "ns", "team-a"]).fails().to_string();
    assert!(err.contains("not found"), "{err}");
    let all = c.get_json(&["configmaps,services,deployments", "-A"]);
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["metadata"]["namespace"] != "team-a"),
        "{all}"
    );
    // Nothing can be created in a namespace that does not exist.
    let err = c
        .kubectl(&["-n", "team-a", "create", "configmap", "two"])
        .fails()
        .to_string();
    assert!(err.contains("namespaces \"team-a\" not found"), "{err}");
}

#[test]
fn label_and_field_selectors_filter_lists() {
    let c = Cluster::up(0);
    c.kubectl(&["create", "configmap", "a", "--from-literal=k=v"])
        .ok();
    c.kubectl(&["create", "configmap", "b", "--from-literal=k=v"])
        .ok();
    c.kubectl(&["label", "configmap", "a", "app=web", "tier=front"])
        .ok();
    c.kubectl(&["label", "configmap", "b", "app=web"]).ok();
    let names = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(c.get_json(&["cm", "-l", "app=web,tier=front"])),
        vec!["a"],
        "AND semantics"
    );
    assert_eq!(names(c.get_json(&["cm", "-l", "app=web"])), vec!["a", "b"]);
    assert!(names(c.get_json(&["cm", "-l", "tier notin (front)"])).contains(&"b".to_string()));
    assert_eq!(
        names(c.get_json(&["cm", "--field-selector", "metadata.name=b"])),
        vec!["b"]
    );
    let err = c
        .kubectl(&["get", "cm", "--field-selector", "spec.bogus=1"])
        .fails()
        .to_string();
    assert!(err.contains("field label not supported"), "{err}");
}

#[test]
fn bad_input_is_refused_clearly_and_changes_nothing() {
    let c = Cluster::up(0);
    c.kubectl(&["create", "configmap", "keep", "--from-literal=a=1"])
        .ok();
    let before = c.get_json(&["cm", "keep"]);

    // Malformed YAML.
    let err = c
        .kubectl_stdin(
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
        )
        .fails()
        .to_string();
    assert!(
        err.to_lowercase().contains("yaml") || err.contains("error converting"),
        "{err}"
    );
    // An unknown kind.
    let err = c
        .kubectl_stdin(
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n",
        )
        .fails()
        .to_string();
    assert!(err.contains("Widget"), "{err}");
    // A wrong apiVersion for a kind.
    let err = c
        .kubectl_stdin(
            &["apply", "-f", "-"],
            "apiVersion: apps/v2\nkind: Deployment\nmetadata:\n  name: w\n",
        )
        .fails()
        .to_string();
    assert!(
        err.contains("apps/v2") || err.contains("no matches for kind"),
        "{err}"
    );
    // An unknown field: strict validation on the server.
    let err = c
        .kubectl_stdin(
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\ndatta:\n  a: b\n",
        )
        .fails()
        .to_string();
    assert!(
        err.contains("unknown field") && err.contains("datta"),
        "{err}"
    );
    // An invalid field value.
    let bad_port = "apiVersion: v1\nkind: Service\nmetadata:\n  name: badport\nspec:\n  selector:\n    app: x\n  ports:\n  - port: 70000\n";
    let err = c
        .kubectl_stdin(&["apply", "-f", "-"], bad_port)
        .fails()
        .to_string();
    assert!(
        err.contains("spec.ports[0].port") && err.contains("Invalid value"),
        "{err}"
    );
    // A stale update.
    let mut stale = before.clone();
    stale["metadata"]["resourceVersion"] = Value::String("1".into());
    stale["data"]["a"] = Value::String("2".into());
    let err = c
        .kubectl_stdin(&["replace", "-f", "-"], &stale.to_string())
        .fails()
        .to_string();
    assert!(
        err.contains("Conflict") && err.contains("the object has been modified"),
        "{err}"
    );

    assert_eq!(
        c.get_json(&["cm", "keep"]),
        before,
        "the stored object is unchanged"
    );
    for name in ["odd", "badport"] {
        assert!(c.kubectl(&["get", "cm,svc", name]).stdout.trim().is_empty());
    }
}

#[test]
fn acknowledged_writes_survive_kill_9_of_the_control_plane() {
    let c = Cluster::up(0);
    let mut written = Vec::new();
    for i in 0..20 {
        let name = format!("durable-{i}");
        c.kubectl(&[
            "create",
            "configmap",
            &name,
            &format!("--from-literal=i={i}"),
        ])
        .ok();
        let rv = c.get_json(&["cm", &name])["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        written.push((name, rv));
    }
    let pid = c.server_pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    c.eventually(Duration::from_secs(5), "the control plane to die", || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            .is_err()
            .then_some(())
    });
    c.knet(&["up"]).ok();
    for (name, rv) in &written {
        let got = c.get_json(&["cm", name]);
        assert_eq!(
            got["metadata"]["resourceVersion"].as_str(),
            Some(rv.as_str()),
            "{name}"
        );
    }
}

#[test]
fn a_template_change_rolls_out_within_max_surge_and_max_unavailable() {
    let c = Cluster::up(2);
    let deploy = WEB
        .split("---")
        .next()
        .unwrap()
        .replace("replicas: 2", "replicas: 4\n  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0");
    c.kubectl_stdin(&["apply", "-f", "-"], &deploy).ok();
    // The node agents run the pods; netexec has no probes, so a running container is ready.
    c.eventually(Duration::from_secs(30), "4 ready pods", || {
        let d = c.get_json(&["deploy", "web"]);
        (d["status"]["readyReplicas"] == 4 && d["status"]["updatedReplicas"] == 4).then_some(())
    });
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &deploy.replace("image: knet/netexec", "image: knet/netexec:v2"),
    )
    .ok();
    let mut max_pods = 0;
    let mut min_ready = usize::MAX;
    c.eventually(Duration::from_secs(60), "the rollout to finish", || {
        let pods = c.get_json(&["pods", "-l", "app=web"]);
        let live: Vec<&Value> = pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| !p["metadata"]["deletionTimestamp"].is_string())
            .collect();
        let ready = live.iter().filter(|p| is_ready(p)).count();
        max_pods = max_pods.max(live.len());
        min_ready = min_ready.min(ready);
        let new = live
            .iter()
            .filter(|p| p["spec"]["containers"][0]["image"] == "knet/netexec:v2")
            .count();
        (live.len() == 4 && new == 4 && ready == 4).then_some(())
    });
    assert!(
        max_pods <= 5,
        "maxSurge 1 over 4 replicas allows 5 pods, saw {max_pods}"
    );
    assert!(
        min_ready >= 4,
        "maxUnavailable 0 keeps 4 ready pods, saw {min_ready}"
    );
    let rs = c.get_json(&["rs", "-l", "app=web"]);
    let rs = rs["items"].as_array().unwrap();
    assert_eq!(
        rs.len(),
        2,
        "old and new ReplicaSets are kept (revisionHistoryLimit)"
    );
    let replicas: Vec<i64> = rs
        .iter()
        .map(|r| r["spec"]["replicas"].as_i64().unwrap())
        .collect();
    assert!(
        replicas.contains(&0) && replicas.contains(&4),
        "{replicas:?}"
    );
    let d = c.get_json(&["deploy", "web"]);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
}

#[test]
fn services_get_cluster_ips_and_node_ports_that_are_unique_and_freed() {
    let c = Cluster::up(0);
    let k = c.get_json(&["svc", "kubernetes"]);
    assert_eq!(
        k["spec"]["clusterIP"], "10.96.0.1",
        "the kubernetes Service takes the first address"
    );
    let svc = |name: &str, extra: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n{extra}  ports:\n  - port: 80\n"
        )
    };
    c.kubectl_stdin(&["apply", "-f", "-"], &svc("a", "")).ok();
    c.kubectl_stdin(&["apply", "-f", "-"], &svc("b", "  type: NodePort\n"))
        .ok();
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &svc("h", "  clusterIP: None\n  selector:\n    app: h\n"),
    )
    .ok();
    let a = c.get_json(&["svc", "a"]);
    let b = c.get_json(&["svc", "b"]);
    let ip_a = a["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip_a.starts_with("10.") && ip_a != "10.96.0.1", "{a}");
    assert_eq!(a["spec"]["clusterIPs"][0], ip_a.as_str());
    assert_ne!(ip_a, b["spec"]["clusterIP"].as_str().unwrap());
    let port = b["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&port), "{b}");
    assert_eq!(c.get_json(&["svc", "h"])["spec"]["clusterIPs"][0], "None");
    // A requested address that is taken, or out of range, is refused.
    let err = c
        .kubectl_stdin(
            &["apply", "-f", "-"],
            &svc("dup", &format!("  clusterIP: {ip_a}\n")),
        )
        .fails()
        .to_string();
    assert!(err.contains("provided IP is already allocated"), "{err}");
    let err = c
        .kubectl_stdin(
            &["apply", "-f", "-"],
            &svc("far", "  clusterIP: 192.0.2.1\n"),
        )
        .fails()
        .to_string();
    assert!(err.contains("not in the valid range"), "{err}");
    let err = c
        .kubectl_stdin(
            &["apply", "-f", "-"],
            &svc(
                "np",
                &format!("  type: NodePort\n  ports:\n  - port: 81\n    nodePort: {port}\n"),
            )
            .replace("  ports:\n  - port: 80\n", ""),
        )
        .fails()
        .to_string();
    assert!(err.contains("provided port is already allocated"), "{err}");
    // Deleting a Service frees its address and port.
    c.kubectl(&["delete", "svc", "a", "b"]).ok();
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &svc("dup", &format!("  clusterIP: {ip_a}\n")),
    )
    .ok();
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &svc(
            "np",
            &format!("  type: NodePort\n  ports:\n  - port: 81\n    nodePort: {port}\n"),
        )
        .replace("  ports:\n  - port: 80\n", ""),
    )
    .ok();
    // A LoadBalancer with externalTrafficPolicy Local gets a health check node port, which
    // goes back to the pool when the policy becomes Cluster.
    let local = "  type: LoadBalancer\n  externalTrafficPolicy: Local\n";
    c.kubectl_stdin(&["apply", "-f", "-"], &svc("lbl", local))
        .ok();
    let lbl = c.get_json(&["svc", "lbl"]);
    let hc = lbl["spec"]["healthCheckNodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&hc), "{lbl}");
    assert_ne!(Some(hc), lbl["spec"]["ports"][0]["nodePort"].as_i64());
    let cluster = "  type: LoadBalancer\n  externalTrafficPolicy: Cluster\n";
    c.kubectl_stdin(&["apply", "-f", "-"], &svc("lbl", cluster))
        .ok();
    let lbl = c.get_json(&["svc", "lbl"]);
    assert!(lbl["spec"]["healthCheckNodePort"].is_null(), "{lbl}");
    let reuse = format!("  type: NodePort\n  ports:\n  - port: 82\n    nodePort: {hc}\n");
    c.kubectl_stdin(
        &["apply", "-f", "-"],
        &svc("np2", &reuse).replace("  ports:\n  - port: 80\n", ""),
    )
    .ok();
}

#[test]
fn kubectl_exec_runs_in_the_pod_with_its_streams_and_exit_code() {
    let c = Cluster::up(2);
    c.kubectl_stdin(&["apply", "-f", "-"], WEB).ok();
    let pods = c.ready_pods(&["-l", "app=web"], "web-", 2);
    let name = |p: &Value| p["metadata"]["name"].as_str().unwrap().to_owned();
    let (a, b) = (name(&pods[0]), name(&pods[1]));

    let run = c.kubectl(&["exec", &a, "--", "hostname"]);
    assert_eq!(run.ok().trim(), a);

    // stdout and stderr apart; the command's exit code is kubectl's.
    let run = c.kubectl(&[
        "exec",
        &a,
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stdout, "out\n");
    assert!(run.stderr.contains("err\n"), "{}", run.stderr);

    // stdin (-i) reaches the command whole, and its end ends the command.
    let input = "0123456789".repeat(20_000);
    let run = c.kubectl_stdin(&["exec", "-i", &a, "--", "wc", "-c"], &input);
    assert_eq!(run.ok().trim(), "200000");

    // The command runs in the pod's network namespace: the other pod sees this pod's address.
    let url = format!("http://{}:8080/clientip", common::pod_ip(&pods[1]));
    let run = c.kubectl(&[
        "exec",
        &a,
        "--",
        common::knet_bin(),
        "image",
        "client",
        "http",
        &url,
    ]);
    let seen = run.ok().trim().to_owned();
    let a_ip = common::pod_ip(&pods[0]);
    assert!(seen.starts_with(&format!("{a_ip}:")), "{b} saw {seen}");

    let run = c.kubectl(&["exec", &a, "-c", "nope", "--", "true"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("container nope is not valid"),
        "{}",
        run.stderr
    );

    // The usual toolbox pod: a base image whose args run as host programs; exec into it
    // resolves the Service through the cluster DNS.
    c.kubectl(&[
        "run",
        "tools",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sleep",
        "3600",
    ])
    .ok();
    c.eventually(Duration::from_secs(30), "pod tools running", || {
        let pod = c.get_json(&["pod", "tools"]);
        (pod["status"]["phase"] == "Running").then_some(())
    });
    let ip = c.get_json(&["service", "web"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = c.kubectl(&["exec", "tools", "--", "getent", "hosts", "web"]);
    assert!(run.ok().starts_with(&format!("{ip} ")), "{}", run.stdout);

    // -t: a terminal, with kubectl's size, stderr on it, and the exit code still passed on.
    let (code, text) = in_terminal(
        &c,
        &["exec", "-it", &a, "--", "sh"],
        None,
        "tty; stty size; echo done-$((2+2)) >&2; exit 7\n",
    );
    assert_eq!(code, Some(7), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("30 100"), "{text}");
    assert!(text.contains("done-4"), "{text}");

    // kubectl before 1.29 speaks only SPDY: it gets a clear error, not a hang.
    let old = std::path::Path::new("/usr/lib/google-cloud-sdk/bin/kubectl.1.27");
    if old.exists() {
        let cmd = c.kubectl_cmd(&["exec", &a, "--", "hostname"]);
        let mut old_cmd = std::process::Command::new(old);
        old_cmd.args(cmd.get_args());
        old_cmd.envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
        let out = old_cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("kubectl 1.30 or later"), "{stderr}");
    }
}

/// Runs `kubectl ARGS` on a terminal of its own (script(1), 100 columns x 30 rows); writes
/// `input` to it once the output shows `after` (at once without), and returns kubectl's exit
/// code and everything the terminal showed.
fn in_terminal(
    c: &Cluster,
    args: &[&str],
    after: Option<&str>,
    input: &str,
) -> (Option<i32>, String) {
    let cmd = c.kubectl_cmd(args);
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut script = std::process::Command::new("script")
        .arg("-qec")
        .arg(format!("stty cols 100 rows 30; {}", line.join(" ")))
        .arg("/dev/null")
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let mut stdout = script.stdout.take().unwrap();
    let reader = {
        let shown = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    if let Some(after) = after {
        while !text().contains(after) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {after:?} in {}",
                text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut stdin = script.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, input.as_bytes()).unwrap();
    let status = loop {
        if let Some(status) = script.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl hangs: {}",
            text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stdin);
    reader.join().unwrap();
    (status.code(), text())
}

#[test]
fn kubectl_run_it_rm_gives_a_shell_in_a_new_pod_and_attach_streams_output() {
    let c = Cluster::up(1);
    c.kubectl_stdin(&["apply", "-f", "-"], WEB).ok();
    c.ready_pods(&["-l", "app=web"], "web-", 2);
    let ip = c.get_json(&["service", "web"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_owned();

    // The debugging idiom: a throw-away pod with a shell on the user's terminal (attach).
    let (code, text) = in_terminal(
        &c,
        &[
            "run",
            "-it",
            "--rm",
            "debug",
            "--image=busybox",
            "--restart=Never",
            "--",
            "sh",
        ],
        Some("pressing enter"),
        "echo from-$(hostname); getent hosts web; exit 5\n",
    );
    assert!(text.contains("from-debug"), "{text}");
    assert!(text.contains(&format!("{ip} ")), "{text}");
    assert_eq!(code, Some(5), "{text}");
    assert!(text.contains("pod \"debug\" deleted"), "{text}");
    c.eventually(Duration::from_secs(20), "pod debug gone", || {
        let run = c.kubectl(&["get", "pod", "debug"]);
        (run.code != 0).then_some(())
    });

    // Without a terminal: stdin through the attach, stdinOnce closing it, the exit code back.
    let run = c.kubectl_stdin(
        &[
            "run",
            "-i",
            "--rm",
            "reader",
            "--image=busybox",
            "--restart=Never",
            "--",
            "sh",
            "-c",
            "read x; echo got=$x; cat >/dev/null; echo eof; exit 2",
        ],
        "hello\nmore\n",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.contains("got=hello\neof\n"), "{}", run.stdout);
    assert!(!run.stderr.contains("falling back"), "{}", run.stderr);

    // Ephemeral containers are not served: kubectl debug says so (it crashed on a NotFound
    // without details).
    let web = c.ready_pods(&["-l", "app=web"], "web-", 2);
    let target = web[0]["metadata"]["name"].as_str().unwrap().to_owned();
    let run = c.kubectl(&["debug", &target, "--image=busybox", "--", "true"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("ephemeral containers are disabled for this cluster"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panic"), "{}", run.stderr);

    // port-forward is not served: kubectl says what to do instead.
    let run = c.kubectl(&["port-forward", &target, "18080:8080"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("knet does not serve pods/portforward"),
        "{}",
        run.stderr
    );

    // kubectl attach to a container without stdin streams its output.
    let pods = c.ready_pods(&["-l", "app=web"], "web-", 2);
    let name = pods[0]["metadata"]["name"].as_str().unwrap().to_owned();
    let mut attach = c.kubectl_cmd(&["attach", &name]);
    let mut child = attach
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "attach stays until the container ends or the user leaves"
    );
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("rror"), "{stderr}");
}

#[test]
fn kubectl_explain_describes_the_served_kinds_from_their_upstream_schemas() {
    let c = Cluster::up(1);
    let run = c.kubectl(&["explain", "svc.spec.sessionAffinity"]);
    let out = run.ok();
    assert!(out.contains("KIND:       Service"), "{out}");
    assert!(out.contains("FIELD: sessionAffinity <string>"), "{out}");
    assert!(out.contains("Supports \"ClientIP\" and \"None\""), "{out}");

    let run = c.kubectl(&["explain", "endpointslices.endpoints", "--recursive"]);
    let out = run.ok();
    assert!(out.contains("GROUP:      discovery.k8s.io"), "{out}");
    assert!(out.contains("conditions\t<EndpointConditions>"), "{out}");
    assert!(out.contains("ready\t<boolean>"), "{out}");

    let run = c.kubectl(&["explain", "networkpolicy.spec.podSelector"]);
    assert!(run.ok().contains("<LabelSelector>"), "{}", run.stdout);
}
