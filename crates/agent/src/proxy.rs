//! The node's service proxy (knet's kube-proxy in nftables mode): it mirrors Services,
//! EndpointSlices and Nodes from the API, computes the desired `ip knet-proxy` table with
//! the pure `knet-proxy` crate, and changes the node's table only in `nft -f` transactions:
//! element-level diffs normally, the whole table at start and after any failure (as
//! kube-proxy's nftables proxier does, pkg/proxy/nftables/proxier.go `syncProxyRules`).
//!
//! Beside the table it runs what kube-proxy serves on a node: `/metrics` on port 10249
//! (`kubeproxy_sync_proxy_rules_duration_seconds`, `kubeproxy_network_programming_duration_seconds`, ...),
//! `/healthz` on 10256, and one health check server per `healthCheckNodePort` of
//! `externalTrafficPolicy: Local` Services (pkg/proxy/healthcheck). It also plays the bare-metal
//! load balancer's speaker (MetalLB's layer-2 mode): the node elected for a LoadBalancer address
//! puts it on its LAN interface so that it answers ARP for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipnet::{IpNet, Ipv4Net};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knet_netns::{Dataplane, KernelDataplane, Netns};
use knet_topology::NodeNet;
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

/// kube-proxy's default metrics port (`--metrics-bind-address`).
pub const METRICS_PORT: u16 = 10249;
/// kube-proxy's default health port (`--healthz-bind-address`).
pub const HEALTHZ_PORT: u16 = 10256;
/// The annotation the EndpointSlice controller sets to the time of the change that led to the
/// slice's current content (network programming latency is measured from it).
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Nodes with this label are not chosen to announce LoadBalancer addresses
/// (https://kubernetes.io/docs/reference/labels-annotations-taints/#node-kubernetes-io-exclude-from-external-load-balancers).
const EXCLUDE_FROM_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// Coalesces bursts of changes into one sync (kube-proxy's `minSyncPeriod` is 1 s; knet's
/// transactions are cheap, so it waits only long enough to batch one burst).
const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(20);
/// After a failed sync, the next (full) one is tried after this long.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The proxy's metrics, kube-proxy's names (pkg/proxy/metrics/metrics.go), prefix `kubeproxy_`.
pub(crate) struct Metrics {
    registry: Registry,
    sync: Histogram,
    sync_full: Histogram,
    sync_partial: Histogram,
    programming: Histogram,
    failures: Counter,
    last_sync: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kubeproxy");
        // pkg/proxy/metrics: ExponentialBuckets(0.001, 2, 15).
        let sync = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let sync_full = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let sync_partial = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        // pkg/proxy/metrics: 0.25, 0.5, then 1..59 by 1, then 60..115 by 5, 120..300 by 30.
        let programming = Histogram::new(
            [0.25, 0.5]
                .into_iter()
                .chain((1..60).map(f64::from))
                .chain((0..12).map(|i| 60.0 + 5.0 * f64::from(i)))
                .chain((0..7).map(|i| 120.0 + 30.0 * f64::from(i))),
        );
        let failures = Counter::default();
        let last_sync = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            sync.clone(),
        );
        registry.register(
            "sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
            sync_full.clone(),
        );
        registry.register(
            "sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
            sync_partial.clone(),
        );
        registry.register(
            "network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
            programming.clone(),
        );
        registry.register(
            "sync_proxy_rules_nftables_sync_failures",
            "Number of times the nftables transaction failed",
            failures.clone(),
        );
        registry.register(
            "sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            last_sync.clone(),
        );
        Metrics {
            registry,
            sync,
            sync_full,
            sync_partial,
            programming,
            failures,
            last_sync,
        }
    }

    fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// What the mirrors hold: objects by `namespace/name`, and whether the first list is done.
struct Mirror<K> {
    objects: BTreeMap<String, K>,
    synced: bool,
}

impl<K> Default for Mirror<K> {
    fn default() -> Self {
        Mirror {
            objects: BTreeMap::new(),
            synced: false,
        }
    }
}

type Shared<K> = Arc<Mutex<Mirror<K>>>;

fn key<K: Resource>(o: &K) -> String {
    format!(
        "{}/{}",
        o.meta().namespace.as_deref().unwrap_or(""),
        o.meta().name.as_deref().unwrap_or("")
    )
}

/// Keeps `mirror` equal to the API's objects of `api`; calls `on_apply` for each changed object
/// and wakes `notify` after each event.
async fn mirror<K>(
    api: Api<K>,
    mirror: Shared<K>,
    notify: Arc<Notify>,
    on_apply: impl Fn(&K) + Send + 'static,
) where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    let mut fresh: BTreeMap<String, K> = BTreeMap::new();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) => fresh.clear(),
            Ok(watcher::Event::InitApply(o)) => {
                on_apply(&o);
                fresh.insert(key(&o), o);
            }
            Ok(watcher::Event::InitDone) => {
                if let Ok(mut m) = mirror.lock() {
                    m.objects = std::mem::take(&mut fresh);
                    m.synced = true;
                }
                notify.notify_one();
            }
            Ok(watcher::Event::Apply(o)) => {
                on_apply(&o);
                if let Ok(mut m) = mirror.lock() {
                    m.objects.insert(key(&o), o);
                }
                notify.notify_one();
            }
            Ok(watcher::Event::Delete(o)) => {
                if let Ok(mut m) = mirror.lock() {
                    m.objects.remove(&key(&o));
                }
                notify.notify_one();
            }
            Err(e) => {
                tracing::debug!(error = %e, "proxy watch");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The time of the change an EndpointSlice reflects, from its trigger-time annotation.
fn trigger_time(slice: &EndpointSlice) -> Option<jiff::Timestamp> {
    slice
        .annotations()
        .get(TRIGGER_TIME_ANNOTATION)?
        .parse::<jiff::Timestamp>()
        .ok()
}

/// Binds a TCP listener inside network namespace `netns` (a socket keeps the namespace it was
/// made in), for tokio.
pub fn listen_in(netns: &str, addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let ns = Netns::open(netns).map_err(std::io::Error::other)?;
    let listener = ns
        .run_in(move || std::net::TcpListener::bind(addr))
        .map_err(std::io::Error::other)??;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// Which node announces LoadBalancer address `ip`, among `eligible` node names: the one whose
/// hash of `node#ip` is smallest (MetalLB's layer-2 election: every speaker computes the same
/// answer from the same inputs, so no coordination is needed). None when no node is eligible.
pub fn speaker_for<'a>(
    ip: Ipv4Addr,
    eligible: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    eligible
        .into_iter()
        .min_by_key(|node| (fnv1a(format!("{node}#{ip}").as_bytes()), *node))
}

/// FNV-1a, finished with splitmix64's mixer so that names differing in one byte spread well.
fn fnv1a(bytes: &[u8]) -> u64 {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The LoadBalancer addresses node `me` should announce: for each LoadBalancer Service's
/// ingress IP, the elected speaker among ready nodes (for `externalTrafficPolicy: Local`, only
/// nodes with a ready endpoint of the Service, as MetalLB does, so that traffic lands where it
/// is served).
pub fn addresses_to_announce(
    me: &str,
    services: &[Service],
    slices: &[EndpointSlice],
    nodes: &[Node],
) -> BTreeSet<Ipv4Addr> {
    let ready: Vec<&str> = nodes
        .iter()
        .filter(|n| node_ready(n) && !n.labels().contains_key(EXCLUDE_FROM_LB))
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    let mut out = BTreeSet::new();
    for svc in services {
        let Some(spec) = svc.spec.as_ref() else {
            continue;
        };
        if spec.type_.as_deref() != Some("LoadBalancer") {
            continue;
        }
        let local_only = spec.external_traffic_policy.as_deref() == Some("Local");
        let ns = svc.namespace().unwrap_or_default();
        let name = svc.name_any();
        let with_endpoints: BTreeSet<&str> = slices
            .iter()
            .filter(|s| {
                s.namespace().as_deref() == Some(ns.as_str())
                    && s.labels().get("kubernetes.io/service-name") == Some(&name)
            })
            .flat_map(|s| s.endpoints.iter())
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .filter_map(|e| e.node_name.as_deref())
            .collect();
        let eligible: Vec<&str> = ready
            .iter()
            .copied()
            .filter(|n| !local_only || with_endpoints.contains(n))
            .collect();
        let ingress = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        for ing in ingress.into_iter().flatten() {
            let Some(ip) = ing.ip.as_deref().and_then(|i| i.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            if speaker_for(ip, eligible.iter().copied()) == Some(me) {
                out.insert(ip);
            }
        }
    }
    out
}

/// A health check server's answer (pkg/proxy/healthcheck/service_health.go): 200 with the
/// number of local endpoints when there is one, else 503.
pub fn health_check_body(namespace: &str, name: &str, local: usize) -> (u16, String) {
    let body = serde_json::json!({
        "service": {"namespace": namespace, "name": name},
        "localEndpoints": local,
        "serviceProxyHealthy": true,
    });
    (if local > 0 { 200 } else { 503 }, body.to_string())
}

/// Shared state between the sync loop and the HTTP servers.
#[derive(Default)]
struct Health {
    /// healthCheckNodePort -> (namespace, name, local endpoints).
    services: HashMap<u16, (String, String, usize)>,
    /// When the table was last programmed.
    last_sync: Option<Instant>,
}

/// The proxy of one node.
pub(crate) struct NodeProxy {
    client: kube::Client,
    dp: Arc<KernelDataplane>,
    node: NodeNet,
    cluster_cidr: Ipv4Net,
    metrics: Arc<Metrics>,
    health: Arc<Mutex<Health>>,
}

impl NodeProxy {
    pub(crate) fn new(
        client: kube::Client,
        dp: Arc<KernelDataplane>,
        node: NodeNet,
        cluster_cidr: Ipv4Net,
    ) -> Arc<NodeProxy> {
        Arc::new(NodeProxy {
            client,
            dp,
            node,
            cluster_cidr,
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Mutex::new(Health::default())),
        })
    }

    /// Runs until dropped (aborted): mirrors, the sync loop, the metrics/health servers.
    pub(crate) async fn run(self: Arc<Self>) {
        let notify = Arc::new(Notify::new());
        let services: Shared<Service> = Arc::default();
        let slices: Shared<EndpointSlice> = Arc::default();
        let nodes: Shared<Node> = Arc::default();
        // Trigger times of slice changes not yet programmed.
        let pending: Arc<Mutex<Vec<jiff::Timestamp>>> = Arc::default();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(mirror(
            Api::<Service>::all(self.client.clone()),
            services.clone(),
            notify.clone(),
            |_| {},
        ));
        tasks.spawn(mirror(
            Api::<EndpointSlice>::all(self.client.clone()),
            slices.clone(),
            notify.clone(),
            {
                let pending = pending.clone();
                move |s: &EndpointSlice| {
                    if let (Some(t), Ok(mut p)) = (trigger_time(s), pending.lock()) {
                        p.push(t);
                    }
                }
            },
        ));
        tasks.spawn(mirror(
            Api::<Node>::all(self.client.clone()),
            nodes.clone(),
            notify.clone(),
            |_| {},
        ));
        tasks.spawn(self.clone().serve_metrics());
        tasks.spawn(
            self.clone()
                .sync_loop(notify, services, slices, nodes, pending),
        );
        while tasks.join_next().await.is_some() {}
    }

    async fn sync_loop(
        self: Arc<Self>,
        notify: Arc<Notify>,
        services: Shared<Service>,
        slices: Shared<EndpointSlice>,
        nodes: Shared<Node>,
        pending: Arc<Mutex<Vec<jiff::Timestamp>>>,
    ) {
        let netns = self.node.netns();
        let view = knet_proxy::NodeView {
            name: self.node.name.clone(),
            ips: vec![self.node.ip],
        };
        let mut applied: Option<knet_proxy::Ruleset> = None;
        let mut announced: BTreeSet<Ipv4Addr> = BTreeSet::new();
        let mut hc_servers: HashMap<u16, crate::AbortOnDrop> = HashMap::new();
        loop {
            notify.notified().await;
            tokio::time::sleep(MIN_SYNC_INTERVAL).await;
            let (svcs, sls, nds) = {
                let (Ok(s), Ok(e), Ok(n)) = (services.lock(), slices.lock(), nodes.lock()) else {
                    return;
                };
                if !(s.synced && e.synced && n.synced) {
                    continue;
                }
                (
                    s.objects.values().cloned().collect::<Vec<_>>(),
                    e.objects.values().cloned().collect::<Vec<_>>(),
                    n.objects.values().cloned().collect::<Vec<_>>(),
                )
            };
            let triggers: Vec<jiff::Timestamp> = pending
                .lock()
                .map(|mut p| std::mem::take(&mut *p))
                .unwrap_or_default();
            let start = Instant::now();
            let snapshot = knet_proxy::snapshot(&svcs, &sls, &view, self.cluster_cidr);
            let desired = knet_proxy::compute(&snapshot);
            for c in desired.conflicts() {
                tracing::warn!(node = %self.node.name, "service proxy: {c}");
            }
            let tx = match &applied {
                Some(old) => knet_proxy::transaction(old, &desired),
                None => knet_proxy::full_transaction(&desired),
            };
            if !tx.ops.is_empty() {
                let script = tx.render();
                let result = match Netns::open(&netns) {
                    Ok(ns) => knet_netns::nft_apply(&ns, &script).await,
                    Err(e) => Err(e),
                };
                let took = start.elapsed().as_secs_f64();
                self.metrics.sync.observe(took);
                if tx.full {
                    self.metrics.sync_full.observe(took);
                } else {
                    self.metrics.sync_partial.observe(took);
                }
                if let Err(e) = result {
                    // pkg/proxy/nftables: a failed transaction forces a full resync.
                    tracing::warn!(node = %self.node.name, error = %e, full = tx.full, "service proxy sync failed; will resync in full");
                    self.metrics.failures.inc();
                    applied = None;
                    if let Ok(mut p) = pending.lock() {
                        p.extend(triggers);
                    }
                    let notify = notify.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(RETRY_AFTER).await;
                        notify.notify_one();
                    });
                    continue;
                }
                tracing::debug!(node = %self.node.name, ops = tx.ops.len(), full = tx.full, took_ms = took * 1000.0, "service proxy synced");
            }
            applied = Some(desired);
            let now = jiff::Timestamp::now();
            for t in triggers {
                let secs = now.duration_since(t).as_secs_f64();
                if secs >= 0.0 {
                    self.metrics.programming.observe(secs);
                }
            }
            self.metrics.last_sync.set(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or_default(),
            );

            // Health check node ports of externalTrafficPolicy: Local Services.
            let wanted: HashMap<u16, (String, String, usize)> =
                knet_proxy::health_check_node_ports(&snapshot)
                    .into_iter()
                    .map(|h| (h.port, (h.namespace, h.name, h.local_endpoints)))
                    .collect();
            // Dropping a handle aborts its server (and closes its port).
            hc_servers.retain(|port, _| wanted.contains_key(port));
            for port in wanted.keys() {
                if !hc_servers.contains_key(port) {
                    let task = tokio::spawn(self.clone().serve_health_check(*port));
                    hc_servers.insert(*port, crate::AbortOnDrop(task));
                }
            }
            if let Ok(mut h) = self.health.lock() {
                h.services = wanted;
                h.last_sync = Some(Instant::now());
            }

            // LoadBalancer addresses this node announces on the LAN.
            let want = addresses_to_announce(&self.node.name, &svcs, &sls, &nds);
            for ip in announced.difference(&want) {
                let net = IpNet::from(Ipv4Net::from(*ip));
                if let Err(e) = self.dp.delete_address(&netns, "eth0", net).await {
                    tracing::warn!(node = %self.node.name, %ip, error = %e, "withdrawing a LoadBalancer address");
                }
            }
            for ip in want.difference(&announced) {
                let net = IpNet::from(Ipv4Net::from(*ip));
                if let Err(e) = self.dp.add_address(&netns, "eth0", net).await {
                    tracing::warn!(node = %self.node.name, %ip, error = %e, "announcing a LoadBalancer address");
                }
            }
            announced = want;
        }
    }

    /// `/metrics` on 10249 and `/healthz` `/livez` on 10256, on every address of the node.
    async fn serve_metrics(self: Arc<Self>) {
        let netns = self.node.netns();
        let metrics = self.metrics.clone();
        let health = self.health.clone();
        let metrics_app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        m.encode(),
                    )
                }
            }),
        );
        let healthz = move || {
            let h = health.clone();
            async move {
                let last = h.lock().ok().and_then(|h| h.last_sync);
                let body = serde_json::json!({
                    "lastUpdated": last.map(|t| format!("{:.3}s ago", t.elapsed().as_secs_f64())),
                    "nodeHealthy": last.is_some(),
                });
                let code = if last.is_some() { 200 } else { 503 };
                (
                    http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK),
                    body.to_string(),
                )
            }
        };
        let health_app = axum::Router::new()
            .route("/healthz", axum::routing::get(healthz.clone()))
            .route("/livez", axum::routing::get(healthz));
        let any = |port| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let serve = |port, app: axum::Router| {
            let node = self.node.name.clone();
            let listener = listen_in(&netns, any(port));
            async move {
                match listener {
                    Ok(l) => {
                        let _ = axum::serve(l, app).await;
                    }
                    Err(e) => tracing::warn!(%node, port, error = %e, "proxy listener"),
                }
            }
        };
        // Joined, not spawned: aborting the proxy (an agent restart) closes both listeners.
        tokio::join!(
            serve(METRICS_PORT, metrics_app),
            serve(HEALTHZ_PORT, health_app)
        );
    }

    /// One `healthCheckNodePort` server.
    async fn serve_health_check(self: Arc<Self>, port: u16) {
        let health = self.health.clone();
        let app = axum::Router::new().fallback(move || {
            let h = health.clone();
            async move {
                let entry = h.lock().ok().and_then(|h| h.services.get(&port).cloned());
                let (code, body) = match entry {
                    Some((ns, name, n)) => health_check_body(&ns, &name, n),
                    None => (503, String::from("{}")),
                };
                (
                    http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK),
                    [(http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        });
        match listen_in(
            &self.node.netns(),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        ) {
            Ok(l) => {
                let _ = axum::serve(l, app).await;
            }
            Err(e) => {
                tracing::warn!(node = %self.node.name, port, error = %e, "health check node port")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, NodeCondition, NodeStatus, ServiceSpec,
        ServiceStatus,
    };
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};
    use kube::api::ObjectMeta;

    fn node(name: &str, ready: bool) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn lb(name: &str, ip: &str, local: bool) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                external_traffic_policy: Some(if local { "Local" } else { "Cluster" }.into()),
                ..Default::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(vec![LoadBalancerIngress {
                        ip: Some(ip.into()),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            }),
        }
    }

    fn slice(svc: &str, nodes: &[(&str, bool)]) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: Some(format!("{svc}-abc")),
                namespace: Some("default".into()),
                labels: Some([("kubernetes.io/service-name".to_string(), svc.to_string())].into()),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: nodes
                .iter()
                .enumerate()
                .map(|(i, (n, ready))| Endpoint {
                    addresses: vec![format!("10.244.1.{}", i + 2)],
                    node_name: Some((*n).into()),
                    conditions: Some(EndpointConditions {
                        ready: Some(*ready),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ports: None,
        }
    }

    #[test]
    fn exactly_one_ready_node_announces_each_address() {
        let nodes = [node("a", true), node("b", true), node("c", false)];
        let svcs: Vec<Service> = (0..20)
            .map(|i| lb(&format!("s{i}"), &format!("172.18.0.{}", 200 + i), false))
            .collect();
        let mut seen = BTreeMap::new();
        for me in ["a", "b", "c"] {
            for ip in addresses_to_announce(me, &svcs, &[], &nodes) {
                assert!(seen.insert(ip, me).is_none(), "{ip} announced twice");
            }
        }
        assert_eq!(seen.len(), 20, "every address has a speaker");
        assert!(
            seen.values().all(|n| *n != "c"),
            "a node that is not ready never announces"
        );
        let a = seen.values().filter(|n| **n == "a").count();
        assert!(
            a > 0 && a < 20,
            "addresses spread over speakers: {a} of 20 on a"
        );
    }

    #[test]
    fn local_policy_announces_only_from_a_node_with_a_ready_endpoint() {
        let nodes = [node("a", true), node("b", true), node("c", true)];
        let svcs = [lb("web", "172.18.0.200", true)];
        let slices = [slice("web", &[("b", true), ("c", false)])];
        assert!(addresses_to_announce("a", &svcs, &slices, &nodes).is_empty());
        assert!(addresses_to_announce("c", &svcs, &slices, &nodes).is_empty());
        assert_eq!(
            addresses_to_announce("b", &svcs, &slices, &nodes),
            BTreeSet::from([Ipv4Addr::new(172, 18, 0, 200)])
        );
        // No endpoint anywhere: nobody announces it.
        assert!(
            ["a", "b", "c"]
                .iter()
                .all(|me| addresses_to_announce(me, &svcs, &[], &nodes).is_empty())
        );
    }

    #[test]
    fn the_election_does_not_depend_on_the_order_nodes_are_listed() {
        let ip = Ipv4Addr::new(172, 18, 0, 201);
        let one = speaker_for(ip, ["a", "b", "c", "d"]);
        let two = speaker_for(ip, ["d", "c", "b", "a"]);
        assert_eq!(one, two);
        assert_eq!(speaker_for(ip, std::iter::empty()), None);
    }

    #[test]
    fn health_check_answers_200_with_local_endpoints_and_503_without() {
        let (code, body) = health_check_body("default", "web", 2);
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["localEndpoints"], 2);
        assert_eq!(v["service"]["name"], "web");
        assert_eq!(health_check_body("default", "web", 0).0, 503);
    }

    #[test]
    fn metrics_use_kube_proxy_names() {
        let m = Metrics::new();
        m.sync.observe(0.004);
        m.programming.observe(0.3);
        let text = m.encode();
        assert!(
            text.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.004\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kubeproxy_network_programming_duration_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("kubeproxy_sync_proxy_rules_nftables_sync_failures_total 0"),
            "{text}"
        );
    }
}
