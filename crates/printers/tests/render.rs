//! kubectl's text layout of tables: header case, column alignment, decorations.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ago, meta, mk_pod, mk_service, now, running};
use knet_printers::{RenderOptions, render, table};
use serde_json::{Value, json};

fn pods() -> Vec<Value> {
    let mut a = mk_pod("web-7d4b9c-x2x8k");
    a["metadata"]["labels"] = json!({"app": "web", "pod-template-hash": "7d4b9c"});
    a["spec"]["nodeName"] = json!("worker-1");
    a["status"] = json!({"phase": "Running", "podIPs": [{"ip": "192.0.2.17"}],
                         "containerStatuses": [running("app", 0)]});
    let mut b = mk_pod("db-0");
    b["metadata"]["namespace"] = json!("data");
    b["metadata"]["creationTimestamp"] = json!(ago(5 * 86400 + 19 * 3600));
    b["status"] = json!({"phase": "Running", "containerStatuses": [{
        "name": "app", "ready": false, "restartCount": 12,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(182)}}
    }]});
    vec![a, b]
}

fn render_pods(opts: &RenderOptions) -> String {
    let pods = pods();
    let refs: Vec<&Value> = pods.iter().collect();
    render(&table("v1", "Pod", &refs, now()), &refs, opts)
}

#[test]
fn pods_render_exactly_as_kubectl_get_pods() {
    let want = "\
NAME               READY   STATUS             RESTARTS        AGE
web-7d4b9c-x2x8k   1/1     Running            0               5m
db-0               0/1     CrashLoopBackOff   12 (3m2s ago)   5d19h
";
    assert_eq!(render_pods(&RenderOptions::default()), want);
}

#[test]
fn wide_output_adds_the_priority_one_columns() {
    let want = "\
NAME               READY   STATUS             RESTARTS        AGE     IP           NODE       NOMINATED NODE   READINESS GATES
web-7d4b9c-x2x8k   1/1     Running            0               5m      192.0.2.17   worker-1   <none>           <none>
db-0               0/1     CrashLoopBackOff   12 (3m2s ago)   5d19h   <none>       <none>     <none>           <none>
";
    let opts = RenderOptions {
        wide: true,
        ..RenderOptions::default()
    };
    assert_eq!(render_pods(&opts), want);
}

#[test]
fn all_namespaces_prepends_namespace_and_show_labels_appends_labels() {
    let want = "\
NAMESPACE   NAME               READY   STATUS             RESTARTS        AGE     LABELS
default     web-7d4b9c-x2x8k   1/1     Running            0               5m      app=web,pod-template-hash=7d4b9c
data        db-0               0/1     CrashLoopBackOff   12 (3m2s ago)   5d19h   <none>
";
    let opts = RenderOptions {
        with_namespace: true,
        show_labels: true,
        ..RenderOptions::default()
    };
    assert_eq!(render_pods(&opts), want);
}

#[test]
fn kind_prefix_and_no_headers_print_kind_slash_name_rows_only() {
    let want = "\
pod/web-7d4b9c-x2x8k   1/1   Running            0               5m
pod/db-0               0/1   CrashLoopBackOff   12 (3m2s ago)   5d19h
";
    let opts = RenderOptions {
        kind_prefix: Some("Pod".to_string()),
        no_headers: true,
        ..RenderOptions::default()
    };
    assert_eq!(render_pods(&opts), want);
}

#[test]
fn services_render_with_kubectls_columns() {
    let kubernetes = mk_service(
        "kubernetes",
        json!({"type": "ClusterIP", "clusterIPs": ["198.51.100.1"],
               "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}),
    );
    let mut lb = mk_service(
        "shop",
        json!({"type": "LoadBalancer", "clusterIPs": ["198.51.100.77"],
               "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"},
                         {"port": 443, "protocol": "TCP"}]}),
    );
    lb["metadata"]["creationTimestamp"] = json!(ago(45));
    let objs = [&kubernetes, &lb];
    let out = render(
        &table("v1", "Service", &objs, now()),
        &objs,
        &RenderOptions::default(),
    );
    let want = "\
NAME         TYPE           CLUSTER-IP      EXTERNAL-IP   PORT(S)                AGE
kubernetes   ClusterIP      198.51.100.1    <none>        443/TCP                3d
shop         LoadBalancer   198.51.100.77   <pending>     80:31000/TCP,443/TCP   45s
";
    assert_eq!(out, want);
}

#[test]
fn short_columns_are_padded_to_the_minimum_width() {
    let cm = json!({"metadata": meta("a", "default", 9), "data": {"k": "v"}});
    let out = render(
        &table("v1", "ConfigMap", &[&cm], now()),
        &[&cm],
        &RenderOptions::default(),
    );
    assert_eq!(out, "NAME   DATA   AGE\na      1      9s\n");
}

#[test]
fn multi_line_and_control_characters_are_cut_and_escaped() {
    let ev = json!({
        "metadata": meta("e1", "default", 5),
        "involvedObject": {"kind": "Pod", "name": "p"},
        "type": "Warning", "reason": "Bad\u{1b}[31m", "lastTimestamp": ago(5),
        "message": "first line\nsecond line"
    });
    let out = render(
        &table("v1", "Event", &[&ev], now()),
        &[&ev],
        &RenderOptions::default(),
    );
    let want = "\
LAST SEEN   TYPE      REASON      OBJECT   MESSAGE
5s          Warning   Bad^[[31m   pod/p    first line...
";
    assert_eq!(out, want);
}

#[test]
fn an_empty_table_renders_nothing() {
    let t = table("v1", "Pod", &[], now());
    assert_eq!(render(&t, &[], &RenderOptions::default()), "");
}
