//! One `Reconciler` per controller: snapshot the caches, call the pure
//! reconcile, execute the plan, remember what the next pass must know.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::discovery::{Discovery, Scope, verbs};
use tokio::time::Instant;

use super::backoff::KeyedBackoff;
use super::executor::{Executor, GroupReport, Outcome, execute_plan};
use super::reflect::{Observed, Reflected, drain};
use super::{Reconciler, next_wake};
use crate::action::{Action, Plan};
use crate::deployment::{DeploymentInput, reconcile_deployment};
use crate::endpoints::{EndpointsSnapshot, reconcile_endpoints};
use crate::endpointslice::{EndpointSliceSnapshot, reconcile_endpoint_slices};
use crate::gc::{GcObject, GcSnapshot, reconcile_garbage};
use crate::ipam::{IpamState, node_pod_cidrs, reconcile_node_ipam};
use crate::lbipam::{
    LbPool, LbSnapshot, REASON_ALLOCATION_FAILED, assigned_ip, reconcile_load_balancers,
    still_unallocated,
};
use crate::meta::{key_of, now_seconds, ns_of, uid_of};
use crate::namespace::{
    ContentObject, NamespaceContent, NamespaceInput, needs_finalizing, reconcile_namespace,
};
use crate::replicaset::{
    Expectations, PodIndex, ReplicaSetInput, by_namespace, reconcile_replicaset,
};
use crate::scheduler::reconcile_scheduler;

fn pair<'a>(
    plan: &'a Plan,
    reports: &'a [GroupReport],
) -> impl Iterator<Item = (&'a crate::action::ActionGroup, &'a GroupReport)> {
    plan.groups.iter().zip(reports.iter())
}

// ---------------------------------------------------------------- node IPAM

pub(crate) struct IpamLoop<E> {
    pub(crate) nodes: Reflected<Node>,
    pub(crate) exec: E,
    pub(crate) cluster_cidr: Ipv4Net,
    pub(crate) node_mask: u8,
    pub(crate) state: IpamState,
    pub(crate) backoff: KeyedBackoff,
}

impl<E: Executor> Reconciler for IpamLoop<E> {
    fn name(&self) -> &'static str {
        "node-ipam"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        self.nodes.ready()
    }

    async fn pass(&mut self) -> Option<Duration> {
        let nodes = self.nodes.store.state();
        let out = match reconcile_node_ipam(&nodes, self.cluster_cidr, self.node_mask, &self.state)
        {
            Ok(out) => out,
            Err(err) => {
                tracing::error!(%err, "node IPAM cannot run");
                return None;
            }
        };
        self.state.pending = out.pending;
        self.state.next_candidate = out.next_candidate;
        let reports = execute_plan(&self.exec, &out.plan, &mut self.backoff).await;
        for (group, report) in pair(&out.plan, &reports) {
            for action in &group.actions {
                match action {
                    Action::PatchNodePodCidr { node, .. } if !report.completed() => {
                        self.state.pending.remove(node);
                    }
                    Action::Event(e) if report.completed() => {
                        if let Some(uid) = &e.involved.uid {
                            self.state.reported_unavailable.insert(uid.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
        // Forget reports for nodes that got a CIDR or are gone.
        let waiting: Vec<String> = nodes
            .iter()
            .filter(|n| node_pod_cidrs(n).is_empty())
            .map(|n| uid_of(&n.metadata).to_string())
            .collect();
        self.state
            .reported_unavailable
            .retain(|uid| waiting.contains(uid));
        next_wake(out.plan.requeue_after, &self.backoff)
    }
}

// ---------------------------------------------------------------- scheduler

pub(crate) struct SchedulerLoop<E> {
    pub(crate) pods: Reflected<Pod>,
    pub(crate) nodes: Reflected<Node>,
    pub(crate) exec: E,
    /// pod uid → node, for bindings the pod cache has not shown yet.
    pub(crate) assumed: BTreeMap<String, String>,
    pub(crate) backoff: KeyedBackoff,
}

impl<E: Executor> Reconciler for SchedulerLoop<E> {
    fn name(&self) -> &'static str {
        "default-scheduler"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        let (pods, nodes) = (self.pods.store.clone(), self.nodes.store.clone());
        async move {
            let _ = pods.wait_until_ready().await;
            let _ = nodes.wait_until_ready().await;
        }
    }

    async fn pass(&mut self) -> Option<Duration> {
        let pods = self.pods.store.state();
        let nodes = self.nodes.store.state();
        // Drop assumptions the cache has caught up with (bound or gone).
        let unbound: HashMap<&str, ()> = pods
            .iter()
            .filter(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or_default()
                    .is_empty()
            })
            .map(|p| (uid_of(&p.metadata), ()))
            .collect();
        self.assumed
            .retain(|uid, _| unbound.contains_key(uid.as_str()));

        let plan = reconcile_scheduler(&pods, &nodes, &self.assumed, now_seconds());
        let reports = execute_plan(&self.exec, &plan, &mut self.backoff).await;
        for (group, report) in pair(&plan, &reports) {
            for (i, _) in &report.outcomes {
                if let Some(Action::Bind { uid, node, .. }) = group.actions.get(*i) {
                    self.assumed.insert(uid.clone(), node.clone());
                }
            }
        }
        self.backoff
            .retain(|k| plan.groups.iter().any(|g| g.key == k));
        next_wake(plan.requeue_after, &self.backoff)
    }
}

// ---------------------------------------------------------------- ReplicaSets

pub(crate) struct ReplicaSetLoop<E> {
    pub(crate) replica_sets: Reflected<ReplicaSet>,
    pub(crate) pods: Reflected<Pod>,
    /// Pods the pod cache applied since the last pass.
    pub(crate) observed: Observed,
    pub(crate) exec: E,
    pub(crate) expectations: Expectations,
    pub(crate) backoff: KeyedBackoff,
}

impl<E: Executor> Reconciler for ReplicaSetLoop<E> {
    fn name(&self) -> &'static str {
        "replicaset-controller"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        let (a, b) = (self.replica_sets.store.clone(), self.pods.store.clone());
        async move {
            let _ = a.wait_until_ready().await;
            let _ = b.wait_until_ready().await;
        }
    }

    async fn pass(&mut self) -> Option<Duration> {
        self.expectations.observed(&drain(&self.observed));
        let rss = self.replica_sets.store.state();
        let pods = self.pods.store.state();
        let pods_by_ns = by_namespace(&pods);
        let rss_by_ns = by_namespace(&rss);
        let indexes: BTreeMap<&str, PodIndex<'_>> = pods_by_ns
            .iter()
            .map(|(ns, pods)| (ns.as_str(), PodIndex::new(pods.iter().map(|p| p.as_ref()))))
            .collect();
        let empty_pods: Vec<Arc<Pod>> = Vec::new();
        let empty_index = PodIndex::default();
        let now = Instant::now();
        let ts = now_seconds();

        let mut plan = Plan::new();
        let mut owner_of_key: HashMap<String, String> = HashMap::new();
        let mut ordered: Vec<&Arc<ReplicaSet>> = rss.iter().collect();
        ordered.sort_by_cached_key(|rs| key_of(&rs.metadata));
        for rs in ordered {
            let ns = ns_of(&rs.metadata);
            let uid = uid_of(&rs.metadata).to_string();
            let satisfied =
                self.expectations
                    .satisfied(&uid, indexes.get(ns).unwrap_or(&empty_index), now);
            let p = reconcile_replicaset(ReplicaSetInput {
                rs,
                pods: pods_by_ns.get(ns).unwrap_or(&empty_pods),
                replica_sets: rss_by_ns.get(ns).map(Vec::as_slice).unwrap_or_default(),
                expectations_satisfied: satisfied,
                now: ts,
            });
            for g in &p.groups {
                owner_of_key.insert(g.key.clone(), uid.clone());
            }
            plan.merge(p);
        }
        let live: Vec<&str> = rss.iter().map(|rs| uid_of(&rs.metadata)).collect();
        for uid in self.expectations.keys() {
            if !live.contains(&uid.as_str()) {
                self.expectations.forget(&uid);
            }
        }

        let reports = execute_plan(&self.exec, &plan, &mut self.backoff).await;
        let now = Instant::now();
        for (group, report) in pair(&plan, &reports) {
            let Some(rs_uid) = owner_of_key.get(&group.key) else {
                continue;
            };
            for (i, outcome) in &report.outcomes {
                match (group.actions.get(*i), outcome) {
                    (Some(Action::CreatePod { pod, .. }), Outcome::Created(name)) => {
                        let key = format!("{}/{name}", ns_of(&pod.metadata));
                        self.expectations.expect_create(rs_uid, &key, now);
                    }
                    (
                        Some(Action::Delete {
                            target,
                            uid: Some(pod_uid),
                            ..
                        }),
                        Outcome::Done,
                    ) if target.resource.kind == "Pod" => {
                        self.expectations.expect_delete(rs_uid, pod_uid, now);
                    }
                    _ => {}
                }
            }
        }
        self.backoff
            .retain(|k| plan.groups.iter().any(|g| g.key == k));
        let expiry = self
            .expectations
            .next_expiry()
            .map(|at| at.saturating_duration_since(Instant::now()));
        let wake = next_wake(plan.requeue_after, &self.backoff);
        match (wake, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

// ---------------------------------------------------------------- Deployments

pub(crate) struct DeploymentLoop<E> {
    pub(crate) deployments: Reflected<Deployment>,
    pub(crate) replica_sets: Reflected<ReplicaSet>,
    pub(crate) pods: Reflected<Pod>,
    pub(crate) exec: E,
    pub(crate) backoff: KeyedBackoff,
}

impl<E: Executor> Reconciler for DeploymentLoop<E> {
    fn name(&self) -> &'static str {
        "deployment-controller"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        let (a, b, c) = (
            self.deployments.store.clone(),
            self.replica_sets.store.clone(),
            self.pods.store.clone(),
        );
        async move {
            let _ = a.wait_until_ready().await;
            let _ = b.wait_until_ready().await;
            let _ = c.wait_until_ready().await;
        }
    }

    async fn pass(&mut self) -> Option<Duration> {
        let deployments = self.deployments.store.state();
        let rss = by_namespace(&self.replica_sets.store.state());
        let pods = by_namespace(&self.pods.store.state());
        let now = now_seconds();
        let mut plan = Plan::new();
        let mut ordered: Vec<&Arc<Deployment>> = deployments.iter().collect();
        ordered.sort_by_cached_key(|d| key_of(&d.metadata));
        for d in ordered {
            let ns = ns_of(&d.metadata);
            plan.merge(reconcile_deployment(DeploymentInput {
                deployment: d,
                replica_sets: rss.get(ns).map(Vec::as_slice).unwrap_or_default(),
                pods: pods.get(ns).map(Vec::as_slice).unwrap_or_default(),
                now,
            }));
        }
        execute_plan(&self.exec, &plan, &mut self.backoff).await;
        self.backoff
            .retain(|k| plan.groups.iter().any(|g| g.key == k));
        next_wake(plan.requeue_after, &self.backoff)
    }
}

// ---------------------------------------------------------------- garbage collector

/// A watched kind of the garbage collector.
pub(crate) struct GcKind {
    pub(crate) resource: ApiResource,
    pub(crate) namespaced: bool,
    pub(crate) cache: Reflected<DynamicObject>,
}

pub(crate) struct GcLoop<E> {
    pub(crate) kinds: Vec<GcKind>,
    pub(crate) exec: E,
    pub(crate) backoff: KeyedBackoff,
}

impl<E: Executor> Reconciler for GcLoop<E> {
    fn name(&self) -> &'static str {
        "garbage-collector"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        // Each pass uses whichever caches are synced; kinds not yet synced are
        // treated as existing owners, which is safe.
        futures::future::ready(())
    }

    async fn pass(&mut self) -> Option<Duration> {
        let mut snapshot = GcSnapshot::default();
        for kind in &self.kinds {
            if !kind.cache.is_ready() {
                continue;
            }
            let objects = kind
                .cache
                .store
                .state()
                .iter()
                .filter_map(|o| GcObject::from_meta(&kind.resource, &o.metadata))
                .collect::<Vec<_>>();
            snapshot.add_kind(&kind.resource, kind.namespaced, objects);
        }
        let plan = reconcile_garbage(&snapshot);
        execute_plan(&self.exec, &plan, &mut self.backoff).await;
        self.backoff
            .retain(|k| plan.groups.iter().any(|g| g.key == k));
        let pending_sync = self.kinds.iter().any(|k| !k.cache.is_ready());
        let wake = next_wake(plan.requeue_after, &self.backoff);
        if pending_sync {
            Some(
                wake.unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(1)),
            )
        } else {
            wake
        }
    }
}

// ---------------------------------------------------------------- EndpointSlices

pub(crate) struct EndpointSliceLoop<E> {
    pub(crate) services: Reflected<Service>,
    pub(crate) pods: Reflected<Pod>,
    pub(crate) nodes: Reflected<Node>,
    pub(crate) slices: Reflected<EndpointSlice>,
    pub(crate) exec: E,
    pub(crate) max_endpoints_per_slice: usize,
    pub(crate) backoff: KeyedBackoff,
}

impl<E: Executor> Reconciler for EndpointSliceLoop<E> {
    fn name(&self) -> &'static str {
        "endpointslice-controller"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        let (a, b, c, d) = (
            self.services.store.clone(),
            self.pods.store.clone(),
            self.nodes.store.clone(),
            self.slices.store.clone(),
        );
        async move {
            let _ = a.wait_until_ready().await;
            let _ = b.wait_until_ready().await;
            let _ = c.wait_until_ready().await;
            let _ = d.wait_until_ready().await;
        }
    }

    async fn pass(&mut self) -> Option<Duration> {
        let services = self.services.store.state();
        let pods = self.pods.store.state();
        let nodes = self.nodes.store.state();
        let slices = self.slices.store.state();
        let plan = reconcile_endpoint_slices(&EndpointSliceSnapshot {
            services: &services,
            pods: &pods,
            nodes: &nodes,
            slices: &slices,
            max_endpoints_per_slice: self.max_endpoints_per_slice,
        });
        // A create or update decided on a stale slice cache fails (409: the
        // name exists, or the resourceVersion moved) and is retried after back-off.
        execute_plan(&self.exec, &plan, &mut self.backoff).await;
        self.backoff
            .retain(|k| plan.groups.iter().any(|g| g.key == k));
        next_wake(plan.requeue_after, &self.backoff)
    }
}

// ---------------------------------------------------------------- Endpoints

pub(crate) struct EndpointsLoop<E> {
    pub(crate) services: Reflected<Service>,
    pub(crate) pods: Reflected<Pod>,
    pub(crate) endpoints: Reflected<Endpoints>,
    pub(crate) exec: E,
    pub(crate) backoff: KeyedBackoff,
}

impl<E: Executor> Reconciler for EndpointsLoop<E> {
    fn name(&self) -> &'static str {
        "endpoint-controller"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        let (a, b, c) = (
            self.services.store.clone(),
            self.pods.store.clone(),
            self.endpoints.store.clone(),
        );
        async move {
            let _ = a.wait_until_ready().await;
            let _ = b.wait_until_ready().await;
            let _ = c.wait_until_ready().await;
        }
    }

    async fn pass(&mut self) -> Option<Duration> {
        let services = self.services.store.state();
        let pods = self.pods.store.state();
        let endpoints = self.endpoints.store.state();
        let plan = reconcile_endpoints(&EndpointsSnapshot {
            services: &services,
            pods: &pods,
            endpoints: &endpoints,
        });
        execute_plan(&self.exec, &plan, &mut self.backoff).await;
        self.backoff
            .retain(|k| plan.groups.iter().any(|g| g.key == k));
        next_wake(plan.requeue_after, &self.backoff)
    }
}

// ---------------------------------------------------------------- LB IPAM

pub(crate) struct LbIpamLoop<E> {
    pub(crate) services: Reflected<Service>,
    pub(crate) exec: E,
    pub(crate) pool: LbPool,
    /// Service uid → (address written or `None` for cleared, the resourceVersion
    /// the write was based on), until the cache shows a newer version.
    pub(crate) assumed: BTreeMap<String, (Option<Ipv4Addr>, Option<String>)>,
    /// Service uid → last `AllocationFailed` message recorded.
    pub(crate) reported: BTreeMap<String, String>,
    pub(crate) backoff: KeyedBackoff,
}

impl<E: Executor> Reconciler for LbIpamLoop<E> {
    fn name(&self) -> &'static str {
        "lb-ipam-controller"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        self.services.ready()
    }

    async fn pass(&mut self) -> Option<Duration> {
        let services = self.services.store.state();
        // The cache has caught up with a write once it shows another version of
        // the Service than the one the write was based on (or the Service is gone).
        let versions: HashMap<&str, Option<&str>> = services
            .iter()
            .map(|s| (uid_of(&s.metadata), s.metadata.resource_version.as_deref()))
            .collect();
        self.assumed
            .retain(|uid, (_, rv)| versions.get(uid.as_str()) == Some(&rv.as_deref()));
        let unallocated = still_unallocated(&services);
        self.reported.retain(|uid, _| unallocated.contains(uid));

        let assumed: BTreeMap<String, Option<Ipv4Addr>> = self
            .assumed
            .iter()
            .map(|(uid, (ip, _))| (uid.clone(), *ip))
            .collect();
        let plan = reconcile_load_balancers(&LbSnapshot {
            services: &services,
            pool: self.pool,
            assumed: &assumed,
            reported: &self.reported,
        });
        let reports = execute_plan(&self.exec, &plan, &mut self.backoff).await;
        for (group, report) in pair(&plan, &reports) {
            for (i, _) in &report.outcomes {
                match group.actions.get(*i) {
                    Some(Action::ReplaceServiceStatus(svc)) => {
                        self.assumed.insert(
                            uid_of(&svc.metadata).to_string(),
                            (assigned_ip(svc), svc.metadata.resource_version.clone()),
                        );
                    }
                    Some(Action::Event(e)) if e.reason == REASON_ALLOCATION_FAILED => {
                        if let Some(uid) = &e.involved.uid {
                            self.reported.insert(uid.clone(), e.message.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
        self.backoff
            .retain(|k| plan.groups.iter().any(|g| g.key == k));
        next_wake(plan.requeue_after, &self.backoff)
    }
}

// ---------------------------------------------------------------- namespaces

/// Discovery and listing of namespaced content, behind a seam.
pub(crate) trait ContentSource: Send + Sync {
    /// Namespaced resources that can be listed and deleted; `Err` carries the
    /// discovery error and the fallback list.
    fn discover(
        &self,
    ) -> impl Future<Output = Result<Vec<ApiResource>, (String, Vec<ApiResource>)>> + Send;
    /// Objects of `resource` in `namespace`; `Ok(None)` when the resource is not served.
    fn list(
        &self,
        resource: &ApiResource,
        namespace: &str,
    ) -> impl Future<Output = Result<Option<Vec<ContentObject>>, String>> + Send;
}

/// The kinds knet serves, used when discovery fails.
pub(crate) fn fixed_namespaced_resources() -> Vec<ApiResource> {
    use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Event, Secret, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
    vec![
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<ReplicaSet>(&()),
        ApiResource::erase::<Pod>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Endpoints>(&()),
        ApiResource::erase::<EndpointSlice>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
        ApiResource::erase::<Ingress>(&()),
        ApiResource::erase::<Event>(&()),
    ]
}

/// `ContentSource` over the API server.
pub(crate) struct ApiContent {
    pub(crate) client: kube::Client,
}

impl ContentSource for ApiContent {
    async fn discover(&self) -> Result<Vec<ApiResource>, (String, Vec<ApiResource>)> {
        let discovery = Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(|e| (e.to_string(), fixed_namespaced_resources()))?;
        let mut out: Vec<ApiResource> = Vec::new();
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                if caps.scope == Scope::Namespaced
                    && caps.supports_operation(verbs::LIST)
                    && caps.supports_operation(verbs::DELETE)
                    && !out
                        .iter()
                        .any(|r| r.group == resource.group && r.plural == resource.plural)
                {
                    out.push(resource);
                }
            }
        }
        Ok(out)
    }

    async fn list(
        &self,
        resource: &ApiResource,
        namespace: &str,
    ) -> Result<Option<Vec<ContentObject>>, String> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, resource);
        match api.list(&ListParams::default()).await {
            Ok(list) => Ok(Some(
                list.items
                    .into_iter()
                    .filter_map(|o| {
                        Some(ContentObject {
                            name: o.metadata.name.clone()?,
                            uid: o.metadata.uid.clone(),
                            deleting: o.metadata.deletion_timestamp.is_some(),
                            finalizers: o.metadata.finalizers.clone().unwrap_or_default(),
                        })
                    })
                    .collect(),
            )),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 => Ok(None),
            Err(e) => Err(format!("{}.{}: {e}", resource.plural, resource.group)),
        }
    }
}

/// How long a discovery result is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(30);

type Discovered = Result<Vec<ApiResource>, (String, Vec<ApiResource>)>;

pub(crate) struct NamespaceLoop<E, C> {
    pub(crate) namespaces: Reflected<Namespace>,
    pub(crate) content: C,
    pub(crate) exec: E,
    pub(crate) backoff: KeyedBackoff,
    /// Last discovery and when it was made.
    pub(crate) discovered: Option<(Instant, Discovered)>,
}

impl<E: Executor, C: ContentSource> Reconciler for NamespaceLoop<E, C> {
    fn name(&self) -> &'static str {
        "namespace-controller"
    }

    fn ready(&self) -> impl Future<Output = ()> + Send {
        self.namespaces.ready()
    }

    async fn pass(&mut self) -> Option<Duration> {
        let terminating: Vec<Arc<Namespace>> = self
            .namespaces
            .store
            .state()
            .into_iter()
            .filter(|ns| needs_finalizing(ns))
            .collect();
        if terminating.is_empty() {
            return None;
        }
        // Deviation: upstream blocks finalization on discovery errors; knet falls
        // back to the fixed list of kinds it serves and only reports the error.
        let fresh = self
            .discovered
            .as_ref()
            .is_some_and(|(at, found)| found.is_ok() && at.elapsed() < DISCOVERY_TTL);
        if !fresh {
            self.discovered = Some((Instant::now(), self.content.discover().await));
        }
        let (resources, discovery_error) = match self.discovered.as_ref().map(|(_, d)| d.clone()) {
            Some(Ok(r)) => (r, None),
            Some(Err((err, fallback))) => (fallback, Some(err)),
            None => (fixed_namespaced_resources(), None),
        };
        let now = now_seconds();
        let mut plan = Plan::new();
        for ns in &terminating {
            let name = crate::meta::name_of(&ns.metadata);
            let mut content = Vec::new();
            let mut errors = Vec::new();
            for resource in &resources {
                match self.content.list(resource, name).await {
                    Ok(Some(objects)) => content.push(NamespaceContent {
                        resource: resource.clone(),
                        objects,
                    }),
                    Ok(None) => {}
                    Err(e) => errors.push(e),
                }
            }
            plan.merge(reconcile_namespace(NamespaceInput {
                namespace: ns,
                content: &content,
                discovery_error: discovery_error.as_deref(),
                content_errors: &errors,
                now,
            }));
        }
        execute_plan(&self.exec, &plan, &mut self.backoff).await;
        self.backoff
            .retain(|k| plan.groups.iter().any(|g| g.key == k));
        next_wake(plan.requeue_after, &self.backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::executor::{ExecError, FakeExecutor, describe};
    use crate::runtime::reflect::manual;
    use crate::testutil::{NodeExt, PodExt, mk_node, mk_pod, mk_rs};
    use kube::runtime::watcher::Event;

    fn ops(exec: &FakeExecutor) -> Vec<String> {
        exec.ops().iter().map(describe).collect()
    }

    #[tokio::test]
    async fn replicaset_loop_does_not_create_twice_while_the_pod_cache_is_stale() {
        let rs = mk_rs("default", "web-1", 2, &[("app", "web")]);
        let (_rw, rss) = manual((), vec![rs.clone()]);
        let (mut pw, pods) = manual::<Pod>((), vec![]);
        let observed = Observed::default();
        let mut lp = ReplicaSetLoop {
            replica_sets: rss,
            pods,
            observed: observed.clone(),
            exec: FakeExecutor::default(),
            expectations: Expectations::default(),
            backoff: KeyedBackoff::default(),
        };
        let requeue = lp.pass().await;
        assert_eq!(
            ops(&lp.exec),
            [
                "CreatePod web-1-",
                "CreatePod web-1-",
                "ReplaceReplicaSetStatus web-1"
            ]
        );
        // Expectations ask for a look before they expire.
        assert!(requeue.is_some());

        // The cache has not seen the pods: nothing new is created.
        lp.pass().await;
        let creates = ops(&lp.exec)
            .iter()
            .filter(|o| o.starts_with("CreatePod"))
            .count();
        assert_eq!(creates, 2);

        // The pods show up; one is deleted again before any pass looks: its
        // creation still counts as observed, and exactly one replacement follows.
        let owned = |name: &str| {
            mk_pod("default", name)
                .with_labels(&[("app", "web")])
                .owned_by("apps/v1", "ReplicaSet", "web-1")
        };
        pw.apply_watcher_event(&Event::Apply(owned("web-1-00000")));
        pw.apply_watcher_event(&Event::Apply(owned("web-1-00001")));
        observed.lock().unwrap().extend([
            "default/web-1-00000".to_string(),
            "default/web-1-00001".to_string(),
        ]);
        pw.apply_watcher_event(&Event::Delete(owned("web-1-00001")));
        lp.pass().await;
        let creates = ops(&lp.exec)
            .iter()
            .filter(|o| o.starts_with("CreatePod"))
            .count();
        assert_eq!(creates, 3);
    }

    #[tokio::test]
    async fn scheduler_loop_does_not_bind_a_pod_twice_while_the_pod_cache_is_stale() {
        let (mut pw, pods) = manual((), vec![mk_pod("default", "p")]);
        let (_nw, nodes) = manual((), vec![mk_node("node-a", 0), mk_node("node-b", 0)]);
        let mut lp = SchedulerLoop {
            pods,
            nodes,
            exec: FakeExecutor::default(),
            assumed: BTreeMap::new(),
            backoff: KeyedBackoff::default(),
        };
        lp.pass().await;
        assert_eq!(ops(&lp.exec), ["Bind default/p", "Event Scheduled"]);
        assert_eq!(lp.assumed.get("uid-p").map(String::as_str), Some("node-a"));

        // A second pod arrives before the cache shows the binding: it goes to
        // node-b (the assumed pod counts on node-a) and p is not bound again.
        pw.apply_watcher_event(&Event::Apply(mk_pod("default", "q")));
        lp.pass().await;
        assert_eq!(
            ops(&lp.exec)[2..],
            ["Bind default/q".to_string(), "Event Scheduled".to_string()]
        );
        assert_eq!(lp.assumed.get("uid-q").map(String::as_str), Some("node-b"));

        // The cache catches up: the assumptions are dropped.
        pw.apply_watcher_event(&Event::Apply(mk_pod("default", "p").on_node("node-a")));
        pw.apply_watcher_event(&Event::Apply(mk_pod("default", "q").on_node("node-b")));
        lp.pass().await;
        assert!(lp.assumed.is_empty());
        assert_eq!(lp.exec.ops().len(), 4);
    }

    #[tokio::test]
    async fn a_failed_binding_is_retried_after_back_off_not_assumed() {
        let (_pw, pods) = manual((), vec![mk_pod("default", "p")]);
        let (_nw, nodes) = manual((), vec![mk_node("node-a", 0)]);
        let exec = FakeExecutor::default();
        exec.fail("Bind default/p", ExecError::Other("etcd is sad".into()));
        let mut lp = SchedulerLoop {
            pods,
            nodes,
            exec,
            assumed: BTreeMap::new(),
            backoff: KeyedBackoff::default(),
        };
        let wake = lp.pass().await;
        assert!(lp.assumed.is_empty());
        assert!(wake.is_some_and(|w| w <= crate::runtime::backoff::BASE_DELAY));
        // Immediately again: deferred by the back-off, no second attempt yet.
        lp.pass().await;
        assert_eq!(ops(&lp.exec), ["Bind default/p"]);
    }

    #[tokio::test]
    async fn ipam_loop_keeps_reservations_until_seen_and_drops_failed_ones() {
        let (mut nw, nodes) = manual((), vec![mk_node("node-a", 0), mk_node("node-b", 1)]);
        let exec = FakeExecutor::default();
        exec.fail(
            "PatchNodePodCidr node-b",
            ExecError::NotFound("node-b".into()),
        );
        let mut lp = IpamLoop {
            nodes,
            exec,
            cluster_cidr: "10.244.0.0/16".parse().unwrap(),
            node_mask: 24,
            state: IpamState::default(),
            backoff: KeyedBackoff::default(),
        };
        lp.pass().await;
        assert_eq!(lp.state.pending.len(), 1, "{:?}", lp.state.pending);
        assert_eq!(
            lp.state
                .pending
                .get("node-a")
                .map(|c| c.to_string())
                .as_deref(),
            Some("10.244.0.0/24")
        );

        // node-a's patch is not in the cache yet; node-c arrives and must not get .0.
        nw.apply_watcher_event(&Event::Apply(mk_node("node-c", 2)));
        lp.exec.failures.lock().unwrap().clear();
        lp.pass().await;
        let got: Vec<String> = lp
            .exec
            .ops()
            .iter()
            .filter_map(|a| match a {
                Action::PatchNodePodCidr { node, cidr } => Some(format!("{node}={cidr}")),
                _ => None,
            })
            .collect();
        // (node-b's retry is deferred by its back-off; node-c takes a later block.)
        assert_eq!(got[0], "node-a=10.244.0.0/24");
        assert!(got.iter().any(|g| g.starts_with("node-c=")), "{got:?}");
        assert!(
            !got[1..].iter().any(|g| g.ends_with("=10.244.0.0/24")),
            "{got:?}"
        );

        // Once the cache shows the CIDR the reservation is released.
        nw.apply_watcher_event(&Event::Apply(
            mk_node("node-a", 0).with_pod_cidr("10.244.0.0/24"),
        ));
        lp.pass().await;
        assert!(!lp.state.pending.contains_key("node-a"));
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use crate::runtime::executor::{ExecError, FakeExecutor, describe};
    use crate::runtime::reflect::manual;
    use crate::testutil::{PodExt, ServiceExt, mk_endpoint_pod, mk_node, mk_service};
    use kube::runtime::watcher::Event;

    fn ops(exec: &FakeExecutor) -> Vec<String> {
        exec.ops().iter().map(describe).collect()
    }

    fn lb(name: &str, created: i64) -> Service {
        mk_service("default", name, &[("app", name)])
            .load_balancer()
            .created_at(created)
    }

    fn status_ip(action: &Action) -> Option<String> {
        match action {
            Action::ReplaceServiceStatus(svc) => assigned_ip(svc).map(|ip| ip.to_string()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn lb_ipam_loop_does_not_hand_out_an_address_twice_while_the_cache_is_stale() {
        let (mut sw, services) = manual((), vec![lb("a", 1)]);
        let mut lp = LbIpamLoop {
            services,
            exec: FakeExecutor::default(),
            pool: "203.0.113.10-203.0.113.11".parse().unwrap(),
            assumed: BTreeMap::new(),
            reported: BTreeMap::new(),
            backoff: KeyedBackoff::default(),
        };
        lp.pass().await;
        assert_eq!(
            ops(&lp.exec),
            ["ReplaceServiceStatus a", "Event IPAllocated"]
        );

        // b arrives before the cache shows a's address: b gets the other one,
        // and a is not written again.
        sw.apply_watcher_event(&Event::Apply(lb("b", 2)));
        lp.pass().await;
        let all = lp.exec.ops();
        assert_eq!(
            ops(&lp.exec)[2..],
            ["ReplaceServiceStatus b", "Event IPAllocated"]
        );
        assert_eq!(status_ip(&all[0]).as_deref(), Some("203.0.113.10"));
        assert_eq!(status_ip(&all[2]).as_deref(), Some("203.0.113.11"));

        // The cache catches up: assumptions go, nothing is written.
        for (name, ip, created) in [("a", "203.0.113.10", 1), ("b", "203.0.113.11", 2)] {
            let mut svc = lb(name, created).with_ingress_ip(ip);
            svc.metadata.resource_version = Some("2".into());
            sw.apply_watcher_event(&Event::Apply(svc));
        }
        lp.pass().await;
        assert!(lp.assumed.is_empty(), "{:?}", lp.assumed);
        assert_eq!(lp.exec.ops().len(), 4);

        // The pool is exhausted: c's failure is reported once.
        sw.apply_watcher_event(&Event::Apply(lb("c", 3)));
        lp.pass().await;
        lp.pass().await;
        assert_eq!(ops(&lp.exec)[4..], ["Event AllocationFailed"]);
        assert!(lp.reported.contains_key("uid-c"));

        // b goes away: c gets its address and the report is forgotten later.
        sw.apply_watcher_event(&Event::Delete(lb("b", 2)));
        lp.pass().await;
        assert_eq!(
            ops(&lp.exec)[5..],
            ["ReplaceServiceStatus c", "Event IPAllocated"]
        );
        assert_eq!(
            status_ip(&lp.exec.ops()[5]).as_deref(),
            Some("203.0.113.11")
        );
    }

    #[tokio::test]
    async fn a_failed_lb_status_write_is_not_assumed_and_is_retried() {
        let (_sw, services) = manual((), vec![lb("a", 1)]);
        let exec = FakeExecutor::default();
        exec.fail(
            "ReplaceServiceStatus a",
            ExecError::Conflict("stale".into()),
        );
        let mut lp = LbIpamLoop {
            services,
            exec,
            pool: "203.0.113.10-203.0.113.11".parse().unwrap(),
            assumed: BTreeMap::new(),
            reported: BTreeMap::new(),
            backoff: KeyedBackoff::default(),
        };
        let wake = lp.pass().await;
        assert!(lp.assumed.is_empty());
        assert!(wake.is_some_and(|w| w <= crate::runtime::backoff::BASE_DELAY));
    }

    #[tokio::test]
    async fn endpointslice_loop_creates_once_then_follows_pod_changes() {
        let (mut pw, pods) = manual(
            (),
            vec![
                mk_endpoint_pod("default", "a", "192.0.2.1", "node-a")
                    .with_labels(&[("app", "web")]),
            ],
        );
        let (_sw, services) = manual((), vec![mk_service("default", "web", &[("app", "web")])]);
        let (_nw, nodes) = manual((), vec![mk_node("node-a", 0)]);
        let (mut ew, slices) = manual::<EndpointSlice>((), vec![]);
        let mut lp = EndpointSliceLoop {
            services,
            pods,
            nodes,
            slices,
            exec: FakeExecutor::default(),
            max_endpoints_per_slice: 100,
            backoff: KeyedBackoff::default(),
        };
        lp.pass().await;
        let created = match lp.exec.ops().first() {
            Some(Action::CreateEndpointSlice(es)) => (**es).clone(),
            other => panic!("{other:?}"),
        };
        // While the slice cache is stale the same name is chosen again (the
        // server would answer 409); once it shows the slice nothing is written.
        lp.pass().await;
        assert_eq!(lp.exec.ops().get(1), lp.exec.ops().first());
        let mut stored = created.clone();
        stored.metadata.uid = Some("uid-slice".into());
        stored.metadata.resource_version = Some("1".into());
        ew.apply_watcher_event(&Event::Apply(stored));
        lp.pass().await;
        assert_eq!(lp.exec.ops().len(), 2);

        // The pod terminates: the slice is updated in place.
        pw.apply_watcher_event(&Event::Apply(
            mk_endpoint_pod("default", "a", "192.0.2.1", "node-a")
                .with_labels(&[("app", "web")])
                .deleting(),
        ));
        lp.pass().await;
        let name = created.metadata.name.clone().unwrap();
        assert_eq!(ops(&lp.exec)[2..], [format!("ReplaceEndpointSlice {name}")]);
    }
}

#[cfg(test)]
mod namespace_tests {
    use super::*;
    use crate::runtime::executor::{FakeExecutor, describe};
    use crate::runtime::reflect::manual;
    use crate::testutil::ts;
    use k8s_openapi::api::core::v1::NamespaceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use std::sync::Mutex;

    /// Content that disappears once deleted.
    #[derive(Default)]
    struct FakeContent {
        pods: Mutex<Vec<String>>,
        discoveries: Mutex<usize>,
    }

    impl ContentSource for &FakeContent {
        async fn discover(&self) -> Result<Vec<ApiResource>, (String, Vec<ApiResource>)> {
            *self.discoveries.lock().unwrap() += 1;
            Ok(vec![ApiResource::erase::<Pod>(&())])
        }
        async fn list(
            &self,
            _: &ApiResource,
            _: &str,
        ) -> Result<Option<Vec<ContentObject>>, String> {
            Ok(Some(
                self.pods
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|n| ContentObject {
                        name: n.clone(),
                        uid: None,
                        deleting: false,
                        finalizers: vec![],
                    })
                    .collect(),
            ))
        }
    }

    #[tokio::test]
    async fn a_terminating_namespace_is_emptied_then_finalized() {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some("shop".into()),
                deletion_timestamp: Some(Time(ts(0))),
                ..ObjectMeta::default()
            },
            spec: Some(NamespaceSpec {
                finalizers: Some(vec!["kubernetes".into()]),
            }),
            status: None,
        };
        let content = FakeContent::default();
        content.pods.lock().unwrap().push("web-1".into());
        let (_w, namespaces) = manual((), vec![ns]);
        let mut lp = NamespaceLoop {
            namespaces,
            content: &content,
            exec: FakeExecutor::default(),
            backoff: KeyedBackoff::default(),
            discovered: None,
        };
        let wake = lp.pass().await;
        assert!(wake.is_some(), "content remains: look again");
        let ops: Vec<String> = lp.exec.ops().iter().map(describe).collect();
        assert_eq!(
            ops,
            ["Delete Pod shop/web-1", "ReplaceNamespaceStatus shop"]
        );

        content.pods.lock().unwrap().clear();
        lp.pass().await;
        let ops: Vec<String> = lp.exec.ops().iter().map(describe).collect();
        assert_eq!(
            ops.last().map(String::as_str),
            Some("FinalizeNamespace shop")
        );
        assert_eq!(
            *content.discoveries.lock().unwrap(),
            1,
            "discovery is cached"
        );
    }
}
