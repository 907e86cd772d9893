//! The watcher against knet's own API server (in memory, plain HTTP on loopback): objects
//! created through the API resolve within a second, deleted ones stop resolving.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knet_dns::hickory_proto::op::{Message, ResponseCode};
use knet_dns::hickory_proto::rr::RecordType;
use knet_dns::{Answer, DnsState, answer, run_watcher};
use kube::api::{Api, DeleteParams, PostParams};

fn resolve(state: &DnsState, qname: &str, qtype: RecordType) -> Message {
    match answer(&state.snapshot(), &query(qname, qtype)) {
        Answer::Local(m) => m,
        other => panic!("expected a local answer, got {other:?}"),
    }
}

/// Polls until `ok` holds for the answer, returning how long it took.
async fn wait_for(
    state: &DnsState,
    qname: &str,
    qtype: RecordType,
    ok: impl Fn(&Message) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let resp = resolve(state, qname, qtype);
        if ok(&resp) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{qname} never got there: {resp:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn api_server() -> (kube::Client, tokio::sync::oneshot::Sender<()>) {
    let store = knet_store::Store::in_memory(Default::default());
    let server = knet_apiserver::ApiServer::new(store, None);
    server.bootstrap().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(listener, None, async {
        let _ = stopped.await;
    }));
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    (kube::Client::try_from(config).unwrap(), stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_and_endpoints_created_through_the_api_resolve_within_a_second() {
    let (client, _stop_api) = api_server().await;
    let state = DnsState::new(cfg()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(run_watcher(client.clone(), Arc::clone(&state), async {
        let _ = stopped.await;
    }));

    // The bootstrap `kubernetes` Service appears once the first lists are in.
    wait_for(
        &state,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
        |m| ips(&m.answers) == vec![ip("10.96.0.1")],
    )
    .await;
    assert!(state.snapshot().is_synced());

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let created = services
        .create(
            &PostParams::default(),
            &mk_service("default", "web", &[], &[("http", 80, "TCP")]),
        )
        .await
        .unwrap();
    let cluster_ip: std::net::IpAddr = created
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .unwrap()
        .parse()
        .unwrap();
    let took = wait_for(
        &state,
        "web.default.svc.cluster.local.",
        RecordType::A,
        |m| ips(&m.answers) == vec![cluster_ip],
    )
    .await;
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // A headless Service and its EndpointSlice.
    services
        .create(
            &PostParams::default(),
            &mk_headless("default", "db", &[], false),
        )
        .await
        .unwrap();
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    slices
        .create(
            &PostParams::default(),
            &mk_slice(
                "default",
                "db",
                "IPv4",
                &[Ep {
                    hostname: Some("db-0"),
                    ..ep(&["198.51.100.7"])
                }],
                &[],
            ),
        )
        .await
        .unwrap();
    let took = wait_for(
        &state,
        "db-0.db.default.svc.cluster.local.",
        RecordType::A,
        |m| ips(&m.answers) == vec![ip("198.51.100.7")],
    )
    .await;
    assert!(took < Duration::from_secs(1), "took {took:?}");

    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        &state,
        "web.default.svc.cluster.local.",
        RecordType::A,
        |m| m.metadata.response_code == ResponseCode::NXDomain,
    )
    .await;

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), watcher)
        .await
        .unwrap()
        .unwrap();
}
