//! What the Service controllers write passes knet-api's admission (strict decoding,
//! defaulting, validation): the checks the API server makes before storing it.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::action::{Action, Plan};
use crate::endpoints::{EndpointsSnapshot, reconcile_endpoints};
use crate::endpointslice::{EndpointSliceSnapshot, LABEL_ZONE, reconcile_endpoint_slices};
use crate::lbipam::{LbSnapshot, reconcile_load_balancers};
use crate::testutil::{
    NodeExt, PodExt, ServiceExt, mk_endpoint_pod, mk_node, mk_service, svc_port,
};

fn info(api_version: &str, kind: &str) -> &'static knet_api::ResourceInfo {
    knet_api::find_by_kind(api_version, kind).unwrap()
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn services() -> Vec<Service> {
    vec![
        mk_service("shop", "web", &[("app", "web")])
            .with_labels(&[("team", "shop")])
            .with_ports(vec![
                svc_port("http", 80, IntOrString::String("http".into())),
                svc_port("metrics", 9100, IntOrString::Int(9100)),
            ]),
        mk_service("shop", "db", &[("app", "db")])
            .headless()
            .publish_not_ready()
            .with_ports(vec![]),
        mk_service("shop", "lb", &[("app", "web")]).load_balancer(),
    ]
}

fn pods() -> Vec<Pod> {
    vec![
        mk_endpoint_pod("shop", "web-1", "192.0.2.1", "node-a")
            .with_labels(&[("app", "web")])
            .with_container_port("http", 8080, "TCP"),
        mk_endpoint_pod("shop", "web-2", "192.0.2.2", "node-a")
            .with_labels(&[("app", "web")])
            .deleting(),
        mk_endpoint_pod("shop", "db-0", "192.0.2.3", "node-a")
            .with_labels(&[("app", "db")])
            .with_hostname("db-0", "db"),
    ]
}

fn arcs<T: Clone>(items: &[T]) -> Vec<Arc<T>> {
    items.iter().cloned().map(Arc::new).collect()
}

#[test]
fn endpoint_slices_pass_admission() {
    let (services, pods) = (arcs(&services()), arcs(&pods()));
    let nodes: Vec<Arc<Node>> =
        arcs(&[mk_node("node-a", 0).with_labels(&[(LABEL_ZONE, "zone-1")])]);
    let plan = reconcile_endpoint_slices(&EndpointSliceSnapshot {
        services: &services,
        pods: &pods,
        nodes: &nodes,
        slices: &[],
        max_endpoints_per_slice: 100,
    });
    let slices: Vec<&EndpointSlice> = plan
        .actions()
        .filter_map(|a| match a {
            Action::CreateEndpointSlice(es) => Some(es.as_ref()),
            _ => None,
        })
        .collect();
    assert!(slices.len() >= 3, "{plan:#?}");
    let mut stored = Vec::new();
    for es in slices {
        let admitted =
            knet_api::admit_create(info("discovery.k8s.io/v1", "EndpointSlice"), json(es))
                .unwrap_or_else(|e| panic!("{e}: {}", json(es)));
        let mut back: EndpointSlice = serde_json::from_value(admitted).unwrap();
        back.metadata.uid = Some(format!("uid-{}", back.metadata.name.clone().unwrap()));
        back.metadata.resource_version = Some("1".into());
        stored.push(back);
    }
    // What the server stored (defaulted, `ports: []` dropped) reads as up to date.
    let stored = arcs(&stored);
    let again = reconcile_endpoint_slices(&EndpointSliceSnapshot {
        services: &services,
        pods: &pods,
        nodes: &nodes,
        slices: &stored,
        max_endpoints_per_slice: 100,
    });
    assert!(again.is_empty(), "{again:#?}");
}

#[test]
fn endpoints_pass_admission_and_read_back_unchanged() {
    let (services, pods) = (arcs(&services()), arcs(&pods()));
    let plan = reconcile_endpoints(&EndpointsSnapshot {
        services: &services,
        pods: &pods,
        endpoints: &[],
    });
    let mut stored = Vec::new();
    for action in plan.actions() {
        let Action::CreateEndpoints(ep) = action else {
            panic!("{action:?}")
        };
        let admitted = knet_api::admit_create(info("v1", "Endpoints"), json(ep))
            .unwrap_or_else(|e| panic!("{e}: {}", json(ep)));
        let mut back: Endpoints = serde_json::from_value(admitted).unwrap();
        back.metadata.resource_version = Some("1".into());
        stored.push(back);
    }
    assert_eq!(stored.len(), 3);
    let stored = arcs(&stored);
    let again = reconcile_endpoints(&EndpointsSnapshot {
        services: &services,
        pods: &pods,
        endpoints: &stored,
    });
    assert!(again.is_empty(), "{again:#?}");
}

#[test]
fn load_balancer_status_passes_admission() {
    let services = arcs(&services());
    let plan: Plan = reconcile_load_balancers(&LbSnapshot {
        services: &services,
        pool: crate::LbPool::default(),
        assumed: &BTreeMap::new(),
        reported: &BTreeMap::new(),
    });
    let Some(Action::ReplaceServiceStatus(svc)) = plan.actions().next() else {
        panic!("{plan:#?}")
    };
    let old = services
        .iter()
        .find(|s| s.metadata.name == svc.metadata.name)
        .unwrap();
    let admitted =
        knet_api::admit_status_update(info("v1", "Service"), &json(old.as_ref()), json(svc))
            .unwrap_or_else(|e| panic!("{e}: {}", json(svc)));
    assert_eq!(
        admitted["status"]["loadBalancer"]["ingress"],
        serde_json::json!([{"ip": "172.18.0.200", "ipMode": "VIP"}])
    );
}
