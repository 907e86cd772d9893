//! knet's controllers — node IPAM, the default scheduler, ReplicaSet, Deployment,
//! garbage collection, namespace deletion, EndpointSlices, Endpoints and
//! LoadBalancer address allocation — as clients of a Kubernetes API server.
//! Each is a pure reconcile function (snapshot in, [`Plan`] of actions out) plus a
//! thin watch/execute loop; none of them stores state of its own outside the API.
//!
//! ```text
//!            API server (list/watch, writes)
//!   ┌───────────────┬─────────────┬──────────────┬──────────────┬────────────┐
//!   ▼ Nodes         ▼ Pods, Nodes ▼ RS, Pods     ▼ Deploy, RS,  ▼ Deploy,RS, ▼ Namespaces
//!   node IPAM       scheduler     replicaset       Pods          Pods,Svc,... (+ discovery)
//!   reconcile_      reconcile_    reconcile_     reconcile_     reconcile_   reconcile_
//!   node_ipam       scheduler     replicaset     deployment     garbage      namespace
//!
//!   ▼ Svc, Pods, Nodes,     ▼ Svc, Pods,      ▼ Svc
//!     EndpointSlices          Endpoints
//!   reconcile_endpoint_     reconcile_        reconcile_load_
//!   slices                  endpoints         balancers (LB IPAM)
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::dbg_macro, clippy::print_stdout)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod action;
pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod gc;
pub mod ipam;
pub mod lbipam;
mod meta;
pub mod namespace;
pub mod replicaset;
mod runtime;
pub mod scheduler;
pub mod selector;
mod service;

#[cfg(test)]
mod admission_tests;
#[cfg(test)]
mod testutil;

use std::future::Future;
use std::sync::Arc;

use ipnet::Ipv4Net;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use tokio::sync::Notify;

pub use action::{
    Action, ActionGroup, EventSpec, EventType, ObjectTarget, OwnerProbe, Plan, Propagation,
};
pub use lbipam::{LbPool, LbPoolError};
pub use meta::now_seconds;

use runtime::backoff::KeyedBackoff;
use runtime::executor::ApiExecutor;
use runtime::loops::{
    ApiContent, DeploymentLoop, EndpointSliceLoop, EndpointsLoop, GcKind, GcLoop, IpamLoop,
    LbIpamLoop, NamespaceLoop, ReplicaSetLoop, SchedulerLoop,
};
use runtime::reflect::{reflect, reflect_observed, reflect_slim};
use runtime::{drive, shutdown_signal};

/// Settings of the controllers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// The range pod CIDRs are carved from. Default `10.244.0.0/16`.
    pub cluster_cidr: Ipv4Net,
    /// Prefix length of each node's pod CIDR; at least the cluster CIDR's. Default 24.
    pub node_cidr_mask: u8,
    /// Addresses given to Services of type LoadBalancer. Default
    /// `172.18.0.200-172.18.0.250` (in the node LAN 172.18.0.0/24).
    pub lb_pool: LbPool,
    /// Most endpoints per EndpointSlice (`--max-endpoints-per-slice`), 1..=1000.
    /// Default 100.
    pub max_endpoints_per_slice: usize,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            cluster_cidr: Ipv4Net::new(std::net::Ipv4Addr::new(10, 244, 0, 0), 16)
                .unwrap_or_default(),
            node_cidr_mask: 24,
            lb_pool: LbPool::default(),
            max_endpoints_per_slice: endpointslice::DEFAULT_MAX_ENDPOINTS_PER_SLICE,
        }
    }
}

impl ControllerConfig {
    /// Checks that the settings can work (mask, slice size).
    pub fn validate(&self) -> Result<(), ControllerError> {
        ipam::CidrSet::new(self.cluster_cidr, self.node_cidr_mask)
            .map_err(|e| ControllerError::Config(e.to_string()))?;
        let limit = endpointslice::MAX_ENDPOINTS_PER_SLICE_LIMIT;
        if !(1..=limit).contains(&self.max_endpoints_per_slice) {
            return Err(ControllerError::Config(format!(
                "max_endpoints_per_slice must be between 1 and {limit}, got {}",
                self.max_endpoints_per_slice
            )));
        }
        Ok(())
    }
}

/// Why the controllers stopped before shutdown.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The configuration cannot work (e.g. a node mask shorter than the cluster CIDR's).
    #[error("invalid controller configuration: {0}")]
    Config(String),
    /// A controller task ended abnormally.
    #[error("controller {name} stopped unexpectedly: {reason}")]
    Stopped {
        /// Which controller.
        name: &'static str,
        /// What happened.
        reason: String,
    },
}

/// Runs every controller until `shutdown` resolves; returns the first fatal error.
pub async fn run_all(
    client: Client,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    // Validate up front so a bad config fails before anything starts.
    config.validate()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = {
        let mut rx = stop_rx.clone();
        shutdown_signal(async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        })
    };
    let external = tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        }
    });

    let mut tasks = tokio::task::JoinSet::new();
    macro_rules! start {
        ($name:literal, $fut:expr) => {{
            let fut = $fut;
            tasks.spawn(async move { ($name, fut.await) });
        }};
    }
    start!(
        "node-ipam",
        run_node_ipam(client.clone(), config.clone(), stop.clone())
    );
    start!("scheduler", run_scheduler(client.clone(), stop.clone()));
    start!("replicaset", run_replicaset(client.clone(), stop.clone()));
    start!("deployment", run_deployment(client.clone(), stop.clone()));
    start!(
        "garbage-collector",
        run_garbage_collector(client.clone(), stop.clone())
    );
    start!("namespace", run_namespace(client.clone(), stop.clone()));
    start!(
        "endpointslice",
        run_endpoint_slices(client.clone(), config.clone(), stop.clone())
    );
    start!("endpoints", run_endpoints(client.clone(), stop.clone()));
    start!("lb-ipam", run_lb_ipam(client, config.clone(), stop.clone()));

    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let err = match joined {
            Ok((_, Ok(()))) => None,
            Ok((_, Err(e))) => Some(e),
            Err(e) => Some(ControllerError::Stopped {
                name: "controller",
                reason: if e.is_panic() {
                    "panicked".into()
                } else {
                    e.to_string()
                },
            }),
        };
        if let Some(err) = err {
            tracing::error!(%err, "controller failed; stopping the others");
            first_error.get_or_insert(err);
            let _ = stop_tx.send(true);
        }
    }
    external.abort();
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Node IPAM: gives every Node a `spec.podCIDR` from `config.cluster_cidr`.
pub async fn run_node_ipam(
    client: Client,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    ipam::CidrSet::new(config.cluster_cidr, config.node_cidr_mask)
        .map_err(|e| ControllerError::Config(e.to_string()))?;
    let trigger = Arc::new(Notify::new());
    let nodes = reflect(Api::<Node>::all(client.clone()), (), trigger.clone());
    let reconciler = IpamLoop {
        nodes,
        exec: ApiExecutor::new(client),
        cluster_cidr: config.cluster_cidr,
        node_mask: config.node_cidr_mask,
        state: ipam::IpamState::default(),
        backoff: KeyedBackoff::default(),
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}

/// The default scheduler: binds pods with no `spec.nodeName` to nodes.
pub async fn run_scheduler(
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let trigger = Arc::new(Notify::new());
    let reconciler = SchedulerLoop {
        pods: reflect(Api::<Pod>::all(client.clone()), (), trigger.clone()),
        nodes: reflect(Api::<Node>::all(client.clone()), (), trigger.clone()),
        exec: ApiExecutor::new(client),
        assumed: Default::default(),
        backoff: KeyedBackoff::default(),
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}

/// The ReplicaSet controller.
pub async fn run_replicaset(
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let trigger = Arc::new(Notify::new());
    let observed = runtime::reflect::Observed::default();
    let reconciler = ReplicaSetLoop {
        replica_sets: reflect(Api::<ReplicaSet>::all(client.clone()), (), trigger.clone()),
        pods: reflect_observed(
            Api::<Pod>::all(client.clone()),
            (),
            trigger.clone(),
            Some(observed.clone()),
            |_| {},
        ),
        observed,
        exec: ApiExecutor::new(client),
        expectations: replicaset::Expectations::default(),
        backoff: KeyedBackoff::default(),
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}

/// The Deployment controller.
pub async fn run_deployment(
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let trigger = Arc::new(Notify::new());
    let reconciler = DeploymentLoop {
        deployments: reflect(Api::<Deployment>::all(client.clone()), (), trigger.clone()),
        replica_sets: reflect(Api::<ReplicaSet>::all(client.clone()), (), trigger.clone()),
        pods: reflect(Api::<Pod>::all(client.clone()), (), trigger.clone()),
        exec: ApiExecutor::new(client),
        backoff: KeyedBackoff::default(),
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}

/// The kinds the garbage collector watches (owners and dependents that exist today).
pub fn gc_resources() -> Vec<(ApiResource, bool)> {
    vec![
        (ApiResource::erase::<Deployment>(&()), true),
        (ApiResource::erase::<ReplicaSet>(&()), true),
        (ApiResource::erase::<Pod>(&()), true),
        (ApiResource::erase::<Service>(&()), true),
        (ApiResource::erase::<EndpointSlice>(&()), true),
    ]
}

/// What the garbage collector keeps of an object: the metadata it reads ([`gc::GcObject`]), not
/// the object's content or its annotations and managed fields (upstream's collector watches
/// metadata only, `PartialObjectMetadata`, for the same reason).
fn gc_metadata_only(o: &mut DynamicObject) {
    o.data = serde_json::Value::Null;
    o.metadata.annotations = None;
    o.metadata.managed_fields = None;
    o.metadata.labels = None;
}

/// The garbage collector (background, orphan and foreground deletion).
pub async fn run_garbage_collector(
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let trigger = Arc::new(Notify::new());
    let kinds = gc_resources()
        .into_iter()
        .map(|(resource, namespaced)| GcKind {
            cache: reflect_slim(
                Api::<DynamicObject>::all_with(client.clone(), &resource),
                resource.clone(),
                trigger.clone(),
                gc_metadata_only,
            ),
            resource,
            namespaced,
        })
        .collect();
    let reconciler = GcLoop {
        kinds,
        exec: ApiExecutor::new(client),
        backoff: KeyedBackoff::default(),
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}

/// The namespace controller: empties terminating namespaces and finalizes them.
pub async fn run_namespace(
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let trigger = Arc::new(Notify::new());
    let reconciler = NamespaceLoop {
        namespaces: reflect(Api::<Namespace>::all(client.clone()), (), trigger.clone()),
        content: ApiContent {
            client: client.clone(),
        },
        exec: ApiExecutor::new(client),
        backoff: KeyedBackoff::default(),
        discovered: None,
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}

/// The EndpointSlice controller: slices for every Service with a selector.
pub async fn run_endpoint_slices(
    client: Client,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    config.validate()?;
    let trigger = Arc::new(Notify::new());
    let reconciler = EndpointSliceLoop {
        services: reflect(Api::<Service>::all(client.clone()), (), trigger.clone()),
        pods: reflect(Api::<Pod>::all(client.clone()), (), trigger.clone()),
        nodes: reflect(Api::<Node>::all(client.clone()), (), trigger.clone()),
        slices: reflect(
            Api::<EndpointSlice>::all(client.clone()),
            (),
            trigger.clone(),
        ),
        exec: ApiExecutor::new(client),
        max_endpoints_per_slice: config.max_endpoints_per_slice,
        backoff: KeyedBackoff::default(),
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}

/// The Endpoints controller: a v1 Endpoints per Service with a selector.
pub async fn run_endpoints(
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let trigger = Arc::new(Notify::new());
    let reconciler = EndpointsLoop {
        services: reflect(Api::<Service>::all(client.clone()), (), trigger.clone()),
        pods: reflect(Api::<Pod>::all(client.clone()), (), trigger.clone()),
        endpoints: reflect(Api::<Endpoints>::all(client.clone()), (), trigger.clone()),
        exec: ApiExecutor::new(client),
        backoff: KeyedBackoff::default(),
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}

/// LoadBalancer IPAM: addresses from `config.lb_pool` for LoadBalancer Services.
pub async fn run_lb_ipam(
    client: Client,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    let trigger = Arc::new(Notify::new());
    let reconciler = LbIpamLoop {
        services: reflect(Api::<Service>::all(client.clone()), (), trigger.clone()),
        exec: ApiExecutor::new(client),
        pool: config.lb_pool,
        assumed: Default::default(),
        reported: Default::default(),
        backoff: KeyedBackoff::default(),
    };
    drive(reconciler, trigger, shutdown_signal(shutdown)).await;
    Ok(())
}
