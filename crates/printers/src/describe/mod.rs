//! `kubectl describe` text, mirroring staging/src/k8s.io/kubectl/pkg/describe/describe.go.
//! Times print in UTC (kubectl prints the local zone).

mod common;
mod core;
mod generic;
mod networking;
mod pod;
mod workloads;
mod writer;

use jiff::Timestamp;
use serde_json::Value;

use crate::printers::group_of;

/// Related objects a describer shows besides the object itself; all optional (empty when the
/// caller did not fetch them).
#[derive(Debug, Clone, Copy, Default)]
pub struct DescribeContext<'a> {
    /// core/v1 (or events.k8s.io/v1) Events about the object, already filtered.
    pub events: &'a [&'a Value],
    /// Pods: a ReplicaSet's "Pods Status" counts the ones it controls; a Node lists the
    /// non-terminated ones scheduled to it.
    pub pods: &'a [&'a Value],
    /// ReplicaSets of the namespace: a Deployment shows its old and new ReplicaSets.
    pub replica_sets: &'a [&'a Value],
    /// EndpointSlices of a Service (label `kubernetes.io/service-name`), or of the Services an
    /// Ingress routes to.
    pub endpoint_slices: &'a [&'a Value],
    /// The Service's Endpoints, used when no EndpointSlices are given.
    pub endpoints: Option<&'a Value>,
    /// Services an Ingress routes to.
    pub services: &'a [&'a Value],
    /// The Node's Lease (kube-node-lease namespace).
    pub lease: Option<&'a Value>,
}

/// `kubectl describe` text for one object, with its Events (core/v1, already filtered).
/// Pod, Service, Deployment, ReplicaSet, Node, Namespace, Endpoints, EndpointSlice,
/// ConfigMap, Secret (values shown as sizes), NetworkPolicy, Ingress and IngressClass have
/// their upstream describers; other kinds get the generic one (metadata, then every other
/// field).
pub fn describe(
    api_version: &str,
    kind: &str,
    object: &Value,
    events: &[&Value],
    now: Timestamp,
) -> String {
    let ctx = DescribeContext {
        events,
        ..DescribeContext::default()
    };
    describe_with(api_version, kind, object, &ctx, now)
}

/// `describe` with related objects (pods, ReplicaSets, EndpointSlices, ...) for the
/// describers that show them.
pub fn describe_with(
    api_version: &str,
    kind: &str,
    object: &Value,
    ctx: &DescribeContext<'_>,
    now: Timestamp,
) -> String {
    match (group_of(api_version), kind) {
        ("", "Pod") => pod::describe_pod(object, ctx, now),
        ("", "Service") => core::describe_service(object, ctx, now),
        ("", "Node") => core::describe_node(object, ctx, now),
        ("", "Namespace") => core::describe_namespace(object),
        ("", "Endpoints") => core::describe_endpoints(object, ctx, now),
        ("", "ConfigMap") => core::describe_config_map(object, ctx, now),
        ("", "Secret") => core::describe_secret(object),
        ("apps", "Deployment") => workloads::describe_deployment(object, ctx, now),
        ("apps", "ReplicaSet") => workloads::describe_replica_set(object, ctx, now),
        ("discovery.k8s.io", "EndpointSlice") => {
            networking::describe_endpoint_slice(object, ctx, now)
        }
        ("networking.k8s.io", "NetworkPolicy") => networking::describe_network_policy(object),
        ("networking.k8s.io", "Ingress") => networking::describe_ingress(object, ctx, now),
        ("networking.k8s.io", "IngressClass") => {
            networking::describe_ingress_class(object, ctx, now)
        }
        _ => generic::describe_generic(object, ctx, now),
    }
}
