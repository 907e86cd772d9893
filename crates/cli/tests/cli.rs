//! The knet CLI against a real knet control plane.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::Duration;

use common::Cluster;

const APP: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: cart
  template:
    metadata:
      labels:
        app: cart
    spec:
      containers:
      - name: cart
        image: knet/netexec
---
apiVersion: v1
kind: Service
metadata:
  name: cart
  namespace: shop
spec:
  selector:
    app: cart
  ports:
  - name: http
    port: 80
    targetPort: 8080
";

#[test]
fn knet_apply_reports_each_object_and_is_idempotent() {
    let c = Cluster::up(1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, APP).unwrap();
    let f = file.to_str().unwrap();
    let out = c.knet(&["apply", "-f", f]).ok().to_string();
    assert_eq!(
        out,
        "namespace/shop created\ndeployment.apps/cart created\nservice/cart created\n"
    );
    let out = c.knet(&["apply", "-f", f]).ok().to_string();
    assert_eq!(
        out,
        "namespace/shop unchanged\ndeployment.apps/cart unchanged\nservice/cart unchanged\n"
    );
    std::fs::write(&file, APP.replace("replicas: 2", "replicas: 3")).unwrap();
    let out = c.knet(&["apply", "-f", f]).ok().to_string();
    assert!(out.contains("deployment.apps/cart configured"), "{out}");
    let d = c.get_json(&["-n", "shop", "deploy", "cart"]);
    assert_eq!(d["spec"]["replicas"], 3);
}

#[test]
fn knet_get_prints_tables_wide_yaml_json_and_names() {
    let c = Cluster::up(2);
    c.knet_stdin(&["apply", "-f", "-"], APP).ok();
    c.eventually(Duration::from_secs(15), "two cart pods", || {
        let out = c
            .knet(&["get", "pods", "-n", "shop", "-o", "name"])
            .ok()
            .to_string();
        (out.lines().count() == 2).then_some(())
    });
    let table = c.knet(&["get", "pods", "-n", "shop"]).ok().to_string();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{table}"
    );
    c.eventually(Duration::from_secs(20), "both cart pods Running", || {
        let t = c.knet(&["get", "pods", "-n", "shop"]).ok().to_string();
        (t.matches("Running").count() == 2).then_some(())
    });
    let wide = c
        .knet(&["get", "pods", "-n", "shop", "-o", "wide"])
        .ok()
        .to_string();
    assert!(wide.lines().next().unwrap().contains("NODE"), "{wide}");
    assert!(wide.contains(&format!("{}-worker", c.name)), "{wide}");
    let yaml = c
        .knet(&["get", "svc", "cart", "-n", "shop", "-o", "yaml"])
        .ok()
        .to_string();
    assert!(
        yaml.starts_with("apiVersion: v1\nkind: Service\n"),
        "{yaml}"
    );
    assert!(yaml.contains("  - name: http\n"), "{yaml}");
    let json: serde_json::Value =
        serde_json::from_str(c.knet(&["get", "deploy", "-n", "shop", "-o", "json"]).ok()).unwrap();
    assert_eq!(json["kind"], "List");
    assert_eq!(json["items"][0]["metadata"]["name"], "cart");
    let names = c
        .knet(&["get", "deploy,svc", "-n", "shop", "-o", "name"])
        .ok()
        .to_string();
    assert_eq!(names, "deployment.apps/cart\nservice/cart\n");
    let all = c.knet(&["get", "pods", "-A"]).ok().to_string();
    assert!(
        all.lines().next().unwrap().starts_with("NAMESPACE"),
        "{all}"
    );
    let labelled = c
        .knet(&["get", "pods", "-n", "shop", "-l", "app=cart", "-o", "name"])
        .ok()
        .to_string();
    assert_eq!(labelled.lines().count(), 2);
    let none = c.knet(&["get", "pods"]);
    none.ok();
    assert!(
        none.stderr
            .contains("No resources found in default namespace."),
        "{}",
        none.stderr
    );
    let missing = c.knet(&["get", "svc", "nope", "-n", "shop"]);
    assert!(
        missing.fails().contains("services \"nope\" not found"),
        "{}",
        missing.stderr
    );
}

#[test]
fn knet_describe_shows_the_object_and_its_events() {
    let c = Cluster::up(1);
    c.knet_stdin(&["apply", "-f", "-"], APP).ok();
    let out = c.eventually(Duration::from_secs(15), "a ScalingReplicaSet event", || {
        let out = c
            .knet(&["describe", "deploy/cart", "-n", "shop"])
            .ok()
            .to_string();
        out.contains("ScalingReplicaSet").then_some(out)
    });
    assert!(out.contains("Name:"), "{out}");
    assert!(out.contains("cart"), "{out}");
    assert!(out.contains("Events:"), "{out}");
    let svc = c
        .knet(&["describe", "svc", "cart", "-n", "shop"])
        .ok()
        .to_string();
    assert!(
        svc.contains("Selector:") && svc.contains("app=cart"),
        "{svc}"
    );
}

#[test]
fn manifest_errors_name_the_file_document_line_and_field() {
    let c = Cluster::up(0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 70000\n";
    std::fs::write(&file, text).unwrap();
    let r = c.knet(&["apply", "-f", file.to_str().unwrap()]);
    let err = r.fails().to_string();
    assert!(
        r.stdout.contains("configmap/fine created"),
        "the good object is applied: {}",
        r.stdout
    );
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("document 2"), "{err}");
    assert!(err.contains("line 6"), "{err}");
    assert!(err.contains("Service \"web\" is invalid"), "{err}");
    assert!(err.contains("spec.ports[0].port"), "{err}");

    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n",
    )
    .unwrap();
    let err = c
        .knet(&["apply", "-f", file.to_str().unwrap()])
        .fails()
        .to_string();
    assert!(err.contains("bad.yaml") && err.contains("line 5"), "{err}");

    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Gadget\nmetadata:\n  name: x\n",
    )
    .unwrap();
    let err = c
        .knet(&["apply", "-f", file.to_str().unwrap()])
        .fails()
        .to_string();
    assert!(
        err.contains("Gadget") && err.contains("document 1"),
        "{err}"
    );

    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\nspec:\n  oops: 1\n",
    )
    .unwrap();
    let err = c
        .knet(&["apply", "-f", file.to_str().unwrap()])
        .fails()
        .to_string();
    assert!(err.contains("unknown field \"spec\""), "{err}");
    assert!(c.knet(&["get", "cm", "y"]).code != 0, "nothing was stored");
}

#[test]
fn knet_delete_by_name_label_and_all() {
    let c = Cluster::up(0);
    c.knet_stdin(&["apply", "-f", "-"], APP).ok();
    let out = c
        .knet(&["delete", "svc", "cart", "-n", "shop"])
        .ok()
        .to_string();
    assert_eq!(out, "service \"cart\" deleted\n");
    let out = c
        .knet(&["delete", "deploy", "-n", "shop", "-l", "app=nothing"])
        .ok()
        .to_string();
    assert_eq!(out, "");
    let out = c
        .knet(&["delete", "deploy", "--all", "-n", "shop"])
        .ok()
        .to_string();
    assert_eq!(out, "deployment \"cart\" deleted\n");
    let err = c
        .knet(&["delete", "svc", "cart", "-n", "shop"])
        .fails()
        .to_string();
    assert!(err.contains("NotFound"), "{err}");
    c.knet(&["delete", "svc", "cart", "-n", "shop", "--ignore-not-found"])
        .ok();
}

#[test]
fn up_is_idempotent_and_down_leaves_nothing() {
    let c = Cluster::up(1);
    let again = c.knet(&["up"]);
    again.ok();
    assert!(again.stderr.contains("already running"), "{}", again.stderr);
    let pid = c.server_pid();
    c.knet(&["down"]).ok();
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "the control plane is gone"
    );
    assert!(
        !c.state.path().join(&c.name).exists(),
        "its state is removed"
    );
    // Drop runs `knet down` again: it must say there is nothing, not fail.
}

#[test]
fn down_keep_state_then_up_brings_the_same_cluster_back() {
    let c = Cluster::up(0);
    c.knet_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\ndata:\n  a: b\n",
    )
    .ok();
    let before = c.get_json(&["cm", "kept"]);
    c.knet(&["down", "--keep-state"]).ok();
    c.knet(&["up"]).ok();
    assert_eq!(c.get_json(&["cm", "kept"]), before);
}

#[test]
fn knet_get_watch_prints_changes_as_they_happen() {
    use std::io::{BufRead, BufReader};
    let c = Cluster::up(0);
    c.knet_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w1\n",
    )
    .ok();
    let mut child = std::process::Command::new(common::knet_bin())
        .args(["get", "configmaps", "-w", "-o", "name"])
        .env("KNET_STATE_DIR", c.state.path())
        .env("KNET_CLUSTER", &c.name)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
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
    let first = rx.recv_timeout(Duration::from_secs(10));
    c.knet_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w2\n",
    )
    .ok();
    let mut seen = vec![first.unwrap()];
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push(line);
        if seen.iter().any(|l| l == "configmap/w2") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        seen.first().map(String::as_str),
        Some("configmap/w1"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l == "configmap/w2"),
        "the new object is seen: {seen:?}"
    );
}

#[test]
fn version_and_kubeconfig_describe_the_cluster() {
    let c = Cluster::up(0);
    let v = c.knet(&["version"]).ok().to_string();
    assert!(v.contains("Client Version: v0.1.0"), "{v}");
    assert!(v.contains("Server Version: v1.33.0-knet"), "{v}");
    let path = c.knet(&["kubeconfig"]).ok().trim().to_string();
    assert_eq!(std::path::PathBuf::from(&path), c.kubeconfig);
    let text = c.knet(&["kubeconfig", "--print"]).ok().to_string();
    assert!(text.contains("server: https://127.0.0.1:"), "{text}");
    let kubectl_version = c.kubectl(&["version", "-o", "json"]).json();
    assert_eq!(kubectl_version["serverVersion"]["minor"], "33");
}
