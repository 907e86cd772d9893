//! The executor and a whole controller against an in-process fake API server:
//! checks the HTTP requests knet's server will see (paths, verbs, bodies).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Client;
use kube::api::Resource;
use serde_json::{Value, json};

use super::executor::{ApiExecutor, ExecError, Executor, Outcome};
use crate::action::{Action, ObjectTarget, OwnerProbe, Propagation};
use crate::testutil::mk_rs;

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

type Responder = Arc<dyn Fn(&Seen) -> (u16, Value) + Send + Sync>;

fn status(code: u16, reason: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason}),
    )
}

/// Echoes writes back (naming generateName objects), 404s everything else.
fn echo(seen: &Seen) -> (u16, Value) {
    match seen.method.as_str() {
        "POST" | "PUT" | "PATCH" => {
            let mut body = seen.body.clone();
            if body["metadata"]["name"].is_null() {
                if let Some(prefix) = body["metadata"]["generateName"].as_str() {
                    body["metadata"]["name"] = json!(format!("{prefix}abcde"));
                } else {
                    body["metadata"]["name"] =
                        json!(seen.path.rsplit('/').next().unwrap_or_default());
                }
            }
            (201, body)
        }
        "DELETE" => (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
        ),
        _ => status(404, "NotFound"),
    }
}

fn mock(responder: Responder) -> (Client, Arc<Mutex<Vec<Seen>>>) {
    let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log2 = log.clone();
    let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
        let log = log2.clone();
        let responder = responder.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| Box::new(e) as BoxErr)?
                .to_bytes();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                content_type: parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let body: BoxBody<Bytes, BoxErr> = if seen.query.contains("watch=") {
                // Watches stay open and silent.
                StreamBody::new(futures::stream::pending::<
                    Result<http_body::Frame<Bytes>, BoxErr>,
                >())
                .boxed()
            } else {
                log.lock().unwrap().push(seen.clone());
                let (code, value) = responder(&seen);
                let resp = Full::new(Bytes::from(value.to_string()))
                    .map_err(|never| match never {})
                    .boxed();
                return Ok::<_, BoxErr>(
                    Response::builder()
                        .status(code)
                        .header("content-type", "application/json")
                        .body(resp)
                        .unwrap(),
                );
            };
            Ok(Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(body)
                .unwrap())
        }
    });
    (Client::new(svc, "default"), log)
}

fn seen(log: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

fn pod_target(ns: &str, name: &str) -> ObjectTarget {
    ObjectTarget {
        resource: kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
        namespace: Some(ns.into()),
        name: name.into(),
    }
}

#[tokio::test]
async fn binding_is_posted_to_the_pod_binding_subresource() {
    let (client, log) = mock(Arc::new(echo));
    let exec = ApiExecutor::new(client);
    let out = exec
        .execute(&Action::Bind {
            namespace: "shop".into(),
            pod: "cart".into(),
            uid: "uid-cart".into(),
            node: "node-a".into(),
        })
        .await;
    assert_eq!(out, Ok(Outcome::Done));
    let req = &seen(&log)[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/api/v1/namespaces/shop/pods/cart/binding")
    );
    assert_eq!(req.body["kind"], "Binding");
    assert_eq!(req.body["apiVersion"], "v1");
    assert_eq!(req.body["metadata"]["uid"], "uid-cart");
    assert_eq!(
        req.body["target"],
        json!({"apiVersion": "v1", "kind": "Node", "name": "node-a"})
    );
}

#[tokio::test]
async fn finalize_is_a_put_to_the_namespace_finalize_subresource() {
    let (client, log) = mock(Arc::new(echo));
    let exec = ApiExecutor::new(client);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("shop".into()),
            resource_version: Some("9".into()),
            ..ObjectMeta::default()
        },
        spec: Some(NamespaceSpec {
            finalizers: Some(vec![]),
        }),
        status: None,
    };
    assert_eq!(
        exec.execute(&Action::FinalizeNamespace(Box::new(ns))).await,
        Ok(Outcome::Done)
    );
    let req = &seen(&log)[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("PUT", "/api/v1/namespaces/shop/finalize")
    );
    assert_eq!(req.body["spec"]["finalizers"], json!([]));
    assert_eq!(req.body["metadata"]["resourceVersion"], "9");
}

#[tokio::test]
async fn owner_reference_and_finalizer_patches_are_merge_patches_with_a_resource_version() {
    let (client, log) = mock(Arc::new(echo));
    let exec = ApiExecutor::new(client);
    let rs = mk_rs("default", "web-1", 1, &[("app", "web")]);
    exec.execute(&Action::PatchOwnerReferences {
        target: ObjectTarget::of(&rs),
        uid: "uid-web-1".into(),
        resource_version: Some("7".into()),
        owner_references: vec![],
    })
    .await
    .unwrap();
    exec.execute(&Action::PatchOwnerReferences {
        target: pod_target("default", "p"),
        uid: "uid-p".into(),
        resource_version: Some("8".into()),
        owner_references: vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web-1".into(),
            uid: "uid-web-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }],
    })
    .await
    .unwrap();
    exec.execute(&Action::PatchFinalizers {
        target: ObjectTarget::of(&rs),
        resource_version: Some("9".into()),
        finalizers: vec!["example.com/keep".into()],
    })
    .await
    .unwrap();
    let reqs = seen(&log);
    assert_eq!(reqs[0].method, "PATCH");
    assert_eq!(
        reqs[0].path,
        "/apis/apps/v1/namespaces/default/replicasets/web-1"
    );
    assert_eq!(reqs[0].content_type, "application/merge-patch+json");
    assert_eq!(
        reqs[0].body,
        json!({"metadata": {"ownerReferences": null, "resourceVersion": "7"}})
    );
    assert_eq!(reqs[1].path, "/api/v1/namespaces/default/pods/p");
    assert_eq!(
        reqs[1].body["metadata"]["ownerReferences"][0]["controller"],
        true
    );
    assert_eq!(
        reqs[1].body["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
        true
    );
    assert_eq!(
        reqs[2].body,
        json!({"metadata": {"finalizers": ["example.com/keep"], "resourceVersion": "9"}})
    );
}

#[tokio::test]
async fn deletes_carry_propagation_and_uid_precondition_and_tolerate_not_found() {
    let (client, log) = mock(Arc::new(|s: &Seen| {
        if s.path.ends_with("/gone") {
            status(404, "NotFound")
        } else {
            echo(s)
        }
    }));
    let exec = ApiExecutor::new(client);
    let del = |name: &str| Action::Delete {
        target: pod_target("default", name),
        uid: Some(format!("uid-{name}")),
        propagation: Some(Propagation::Foreground),
    };
    assert_eq!(exec.execute(&del("x")).await, Ok(Outcome::Done));
    assert_eq!(exec.execute(&del("gone")).await, Ok(Outcome::Gone));
    let req = &seen(&log)[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("DELETE", "/api/v1/namespaces/default/pods/x")
    );
    assert_eq!(req.body["propagationPolicy"], "Foreground");
    assert_eq!(req.body["preconditions"]["uid"], "uid-x");
}

#[tokio::test]
async fn conflicts_and_owner_checks_come_back_as_retryable_errors() {
    let (client, _log) = mock(Arc::new(|s: &Seen| {
        match (s.method.as_str(), s.path.as_str()) {
            ("PUT", _) => status(409, "Conflict"),
            ("GET", "/apis/apps/v1/namespaces/default/replicasets/alive") => (
                200,
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "alive", "uid": "uid-alive"}}),
            ),
            ("GET", "/apis/apps/v1/namespaces/default/replicasets/reborn") => (
                200,
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "reborn", "uid": "uid-new"}}),
            ),
            _ => status(404, "NotFound"),
        }
    }));
    let exec = ApiExecutor::new(client);
    let rs = mk_rs("default", "web-1", 1, &[]);
    assert!(matches!(
        exec.execute(&Action::ReplaceReplicaSet(Box::new(rs))).await,
        Err(ExecError::Conflict(_))
    ));
    let probe = |name: &str, uid: &str| OwnerProbe {
        target: ObjectTarget {
            resource: kube::core::ApiResource::erase::<ReplicaSet>(&()),
            namespace: Some("default".into()),
            name: name.into(),
        },
        uid: uid.into(),
    };
    assert!(matches!(
        exec.execute(&Action::VerifyOwnersAbsent(vec![probe(
            "alive",
            "uid-alive"
        )]))
        .await,
        Err(ExecError::OwnerExists(_))
    ));
    // Gone, or replaced by an object with another uid: absent.
    assert_eq!(
        exec.execute(&Action::VerifyOwnersAbsent(vec![
            probe("vanished", "u"),
            probe("reborn", "uid-old")
        ]))
        .await,
        Ok(Outcome::Done)
    );
}

#[tokio::test]
async fn created_pods_are_recorded_on_the_replicaset_with_their_generated_name() {
    let (client, log) = mock(Arc::new(echo));
    let exec = ApiExecutor::new(client);
    let rs = mk_rs("default", "web-1", 1, &[("app", "web")]);
    let pod = crate::replicaset::pod_from_template(&rs).unwrap();
    let involved = ObjectReference {
        api_version: Some("apps/v1".into()),
        kind: Some(ReplicaSet::kind(&()).into()),
        name: Some("web-1".into()),
        namespace: Some("default".into()),
        ..ObjectReference::default()
    };
    let out = exec
        .execute(&Action::CreatePod {
            pod: Box::new(pod),
            recorder: Some((involved, "replicaset-controller")),
        })
        .await;
    assert_eq!(out, Ok(Outcome::Created("web-1-abcde".into())));
    let reqs = seen(&log);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/api/v1/namespaces/default/pods")
    );
    assert_eq!(reqs[0].body["metadata"]["generateName"], "web-1-");
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("POST", "/api/v1/namespaces/default/events")
    );
    assert_eq!(reqs[1].body["reason"], "SuccessfulCreate");
    assert_eq!(reqs[1].body["message"], "Created pod: web-1-abcde");
    assert_eq!(reqs[1].body["source"]["component"], "replicaset-controller");
    assert_eq!(reqs[1].body["involvedObject"]["kind"], "ReplicaSet");
}

#[tokio::test]
async fn the_replicaset_controller_lists_creates_pods_and_stops_on_shutdown() {
    let rs = serde_json::to_value(mk_rs("default", "web-1", 2, &[("app", "web")])).unwrap();
    let rs_list = json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {"resourceVersion": "10"}, "items": [rs]});
    let (client, log) = mock(Arc::new(move |s: &Seen| {
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/apis/apps/v1/replicasets") => (200, rs_list.clone()),
            ("GET", "/api/v1/pods") => (
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": []}),
            ),
            _ => echo(s),
        }
    }));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(crate::run_replicaset(client, async move {
        let _ = stop_rx.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let creates = seen(&log)
            .iter()
            .filter(|s| s.method == "POST" && s.path == "/api/v1/namespaces/default/pods")
            .count();
        let status = seen(&log)
            .iter()
            .any(|s| s.path.ends_with("/replicasets/web-1/status"));
        if creates >= 2 && status {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", seen(&log));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(());
    let result = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
    let creates = seen(&log)
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/api/v1/namespaces/default/pods")
        .count();
    assert_eq!(creates, 2, "expectations prevent duplicates");
    let status = seen(&log)
        .into_iter()
        .find(|s| s.path.ends_with("/replicasets/web-1/status"))
        .unwrap();
    assert_eq!(status.method, "PUT");
    assert_eq!(status.body["status"]["observedGeneration"], 1);
}

#[tokio::test]
async fn run_all_rejects_a_node_mask_shorter_than_the_cluster_cidr() {
    let (client, _log) = mock(Arc::new(echo));
    let config = crate::ControllerConfig {
        cluster_cidr: "10.244.0.0/16".parse().unwrap(),
        node_cidr_mask: 8,
        ..crate::ControllerConfig::default()
    };
    let result = crate::run_all(client, config, futures::future::pending()).await;
    assert!(
        matches!(result, Err(crate::ControllerError::Config(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn endpoint_and_service_status_writes_go_to_their_paths() {
    use crate::testutil::{ServiceExt, mk_service};
    use k8s_openapi::api::core::v1::Endpoints;
    let (client, log) = mock(Arc::new(echo));
    let exec = ApiExecutor::new(client);
    let svc = mk_service("shop", "web", &[("app", "web")])
        .load_balancer()
        .with_ingress_ip("203.0.113.10");
    assert_eq!(
        exec.execute(&Action::ReplaceServiceStatus(Box::new(svc)))
            .await,
        Ok(Outcome::Done)
    );
    let ep = Endpoints {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("shop".into()),
            ..ObjectMeta::default()
        },
        subsets: None,
    };
    assert_eq!(
        exec.execute(&Action::CreateEndpoints(Box::new(ep.clone())))
            .await,
        Ok(Outcome::Created("web".into()))
    );
    let mut stored = ep;
    stored.metadata.resource_version = Some("4".into());
    exec.execute(&Action::ReplaceEndpoints(Box::new(stored)))
        .await
        .unwrap();
    let reqs = seen(&log);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("PUT", "/api/v1/namespaces/shop/services/web/status")
    );
    assert_eq!(
        reqs[0].body["status"]["loadBalancer"]["ingress"],
        json!([{"ip": "203.0.113.10", "ipMode": "VIP"}])
    );
    assert_eq!(reqs[0].body["metadata"]["resourceVersion"], "1");
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("POST", "/api/v1/namespaces/shop/endpoints")
    );
    assert_eq!(reqs[1].body["kind"], "Endpoints");
    assert_eq!(
        (reqs[2].method.as_str(), reqs[2].path.as_str()),
        ("PUT", "/api/v1/namespaces/shop/endpoints/web")
    );
    assert_eq!(reqs[2].body["metadata"]["resourceVersion"], "4");
}

#[tokio::test]
async fn the_endpointslice_controller_lists_and_creates_a_slice_for_a_service() {
    use crate::testutil::{PodExt, mk_endpoint_pod, mk_node, mk_service};
    let list = |kind: &str, api_version: &str, items: Vec<Value>| json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": "10"}, "items": items});
    let services = list(
        "ServiceList",
        "v1",
        vec![serde_json::to_value(mk_service("default", "web", &[("app", "web")])).unwrap()],
    );
    let pods = list(
        "PodList",
        "v1",
        vec![
            serde_json::to_value(
                mk_endpoint_pod("default", "web-1", "192.0.2.10", "node-a")
                    .with_labels(&[("app", "web"), ("pod-template-hash", "abc")]),
            )
            .unwrap(),
            serde_json::to_value(
                mk_endpoint_pod("default", "db-1", "192.0.2.20", "node-a")
                    .with_labels(&[("app", "db")]),
            )
            .unwrap(),
        ],
    );
    let nodes = list(
        "NodeList",
        "v1",
        vec![serde_json::to_value(mk_node("node-a", 0)).unwrap()],
    );
    let slices = list("EndpointSliceList", "discovery.k8s.io/v1", vec![]);
    // Like the API server: a second create of a name is 409 AlreadyExists.
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    let (client, log) = mock(Arc::new(move |s: &Seen| {
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/api/v1/services") => (200, services.clone()),
            ("GET", "/api/v1/pods") => (200, pods.clone()),
            ("GET", "/api/v1/nodes") => (200, nodes.clone()),
            ("GET", "/apis/discovery.k8s.io/v1/endpointslices") => (200, slices.clone()),
            ("POST", _) => {
                let name = s.body["metadata"]["name"].as_str().unwrap_or_default();
                let mut names = names.lock().unwrap();
                if names.iter().any(|n| n == name) {
                    status(409, "AlreadyExists")
                } else {
                    names.push(name.to_string());
                    echo(s)
                }
            }
            _ => echo(s),
        }
    }));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(crate::run_endpoint_slices(
        client,
        crate::ControllerConfig::default(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let created = loop {
        if let Some(s) = seen(&log)
            .into_iter()
            .find(|s| s.method == "POST" && s.path == path)
        {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:#?}", seen(&log));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = stop_tx.send(());
    let result = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");

    let body = &created.body;
    assert_eq!(body["apiVersion"], "discovery.k8s.io/v1");
    assert_eq!(body["kind"], "EndpointSlice");
    assert!(
        body["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("web-") && n.len() == 9),
        "{body}"
    );
    assert_eq!(body["metadata"]["generateName"], Value::Null);
    assert_eq!(
        body["metadata"]["labels"],
        json!({
            "kubernetes.io/service-name": "web",
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
        })
    );
    assert_eq!(
        body["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "uid-web",
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(body["addressType"], "IPv4");
    assert_eq!(
        body["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        body["endpoints"],
        json!([{
            "addresses": ["192.0.2.10"],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": "node-a",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "uid-web-1"}
        }])
    );
    // Passes that ran before the (silent) slice watch showed the slice chose the
    // same name again, which the server refuses: there is never a second slice.
    let names: BTreeSet<String> = seen(&log)
        .iter()
        .filter(|s| s.method == "POST" && s.path == path)
        .filter_map(|s| s.body["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}
