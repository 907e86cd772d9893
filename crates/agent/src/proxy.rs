//! The node's service proxy (knet's kube-proxy in nftables mode): it mirrors Services,
//! EndpointSlices and Nodes from the API, keeps the desired `ip knet-proxy` table with the pure
//! `knet-proxy` crate, and changes the node's table only in `nft -f` transactions: element-level
//! changes normally, the whole table at start and after any failure (as kube-proxy's nftables
//! proxier does, pkg/proxy/nftables/proxier.go `syncProxyRules`).
//!
//! Each sync costs what changed, not the number of Services, as kube-proxy's partial syncs do
//! (its change trackers hand `syncProxyRules` the changed service ports only):
//!
//! ```text
//!  watch events ─► mirrors (objects + keys changed since the last sync)
//!    changed Services, changed slices ─(slice ─► its Service, label kubernetes.io/service-name)─►
//!    affected Services ─► service_ports() each ─► Snapshot::replace_service ─► changed port keys
//!    ─► Proxier::apply ─► transaction ─► nft -f        (health checks, LoadBalancer addresses:
//!                                                       the affected Services only)
//! ```
//!
//! What stays O(Services): a (re)list of Services or EndpointSlices (start, watch reset) rebuilds
//! the snapshot and compares it with the previous one; a full transaction (start, failure)
//! recreates the table; a change in the set of ready nodes recomputes every LoadBalancer
//! Service's announcement.
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

/// What the mirrors hold: objects by `namespace/name`, whether the first list is done, and
/// what changed since the sync loop last took the changes.
struct Mirror<K> {
    objects: BTreeMap<String, K>,
    synced: bool,
    /// Keys of objects applied or deleted since the sync loop last looked.
    changed: BTreeSet<String>,
    /// A (re)list replaced `objects` since the sync loop last looked: anything may have changed.
    relisted: bool,
}

impl<K> Default for Mirror<K> {
    fn default() -> Self {
        Mirror {
            objects: BTreeMap::new(),
            synced: false,
            changed: BTreeSet::new(),
            relisted: false,
        }
    }
}

impl<K> Mirror<K> {
    /// The changes since the last call: (relisted, changed keys).
    fn take_changes(&mut self) -> (bool, BTreeSet<String>) {
        (
            std::mem::take(&mut self.relisted),
            std::mem::take(&mut self.changed),
        )
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

/// Keeps `mirror` equal to the API's objects of `api`, recording which changed; calls
/// `on_apply` for each changed object and wakes `notify` after each event.
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
                    m.relisted = true;
                    m.changed.clear();
                }
                notify.notify_one();
            }
            Ok(watcher::Event::Apply(o)) => {
                on_apply(&o);
                if let Ok(mut m) = mirror.lock() {
                    let k = key(&o);
                    m.changed.insert(k.clone());
                    m.objects.insert(k, o);
                }
                notify.notify_one();
            }
            Ok(watcher::Event::Delete(o)) => {
                if let Ok(mut m) = mirror.lock() {
                    let k = key(&o);
                    m.objects.remove(&k);
                    m.changed.insert(k);
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

/// `namespace/name` -> (namespace, name).
fn split_key(k: &str) -> (String, String) {
    let (ns, name) = k.split_once('/').unwrap_or(("", k));
    (ns.to_string(), name.to_string())
}

/// What one sync has to program.
#[derive(Debug, Default, PartialEq, Eq)]
struct Step {
    /// Service ports added, removed or changed.
    changed: BTreeSet<knet_proxy::ServicePortKey>,
    /// Services (namespace, name) whose object or slices changed.
    services: BTreeSet<(String, String)>,
    /// Everything was read again (a relist): every Service may have changed.
    all: bool,
}

/// The proxy's [`knet_proxy::Snapshot`], kept up to date one changed object at a time, with
/// the index that finds a Service's EndpointSlices without a walk over all of them.
struct Tracker {
    view: knet_proxy::NodeView,
    snapshot: knet_proxy::Snapshot,
    /// Slice key -> the Service (namespace, name) it belonged to when last seen.
    slice_owner: BTreeMap<String, (String, String)>,
    /// (namespace, Service name) -> its slices' keys.
    slices_of: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Tracker {
    fn new(view: knet_proxy::NodeView, cluster_cidr: Ipv4Net) -> Tracker {
        let snapshot = knet_proxy::Snapshot::new(cluster_cidr, view.ips.clone());
        Tracker {
            view,
            snapshot,
            slice_owner: BTreeMap::new(),
            slices_of: BTreeMap::new(),
        }
    }

    fn slice_owner_of(slice: &EndpointSlice) -> Option<(String, String)> {
        let svc = knet_proxy::slice_service(slice)?;
        Some((slice.namespace().unwrap_or_default(), svc.to_string()))
    }

    fn index_slice(&mut self, key: &str, owner: Option<(String, String)>) {
        if let Some(before) = self.slice_owner.remove(key)
            && let Some(keys) = self.slices_of.get_mut(&before)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.slices_of.remove(&before);
            }
        }
        if let Some(owner) = owner {
            self.slices_of
                .entry(owner.clone())
                .or_default()
                .insert(key.to_string());
            self.slice_owner.insert(key.to_string(), owner);
        }
    }

    /// The slices of Service `namespace/name` among `slices`.
    fn slices_of<'a>(
        &'a self,
        service: &(String, String),
        slices: &'a BTreeMap<String, EndpointSlice>,
    ) -> impl Iterator<Item = &'a EndpointSlice> + 'a {
        self.slices_of
            .get(service)
            .into_iter()
            .flatten()
            .filter_map(|k| slices.get(k))
    }

    /// Everything again, after a (re)list: O(Services). The changed ports are found by
    /// comparing the new snapshot with the previous one, so that a relist does not need a
    /// full transaction (which would forget session affinity).
    fn rebuild(
        &mut self,
        services: &BTreeMap<String, Service>,
        slices: &BTreeMap<String, EndpointSlice>,
    ) -> Step {
        let new = knet_proxy::snapshot(
            services.values(),
            slices.values(),
            &self.view,
            self.snapshot.cluster_cidr,
        );
        self.slice_owner.clear();
        self.slices_of.clear();
        for (k, slice) in slices {
            self.index_slice(k, Tracker::slice_owner_of(slice));
        }
        let old = std::mem::replace(&mut self.snapshot, new);
        let mut changed: BTreeSet<knet_proxy::ServicePortKey> = old
            .services
            .iter()
            .filter(|(k, v)| self.snapshot.services.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        changed.extend(
            self.snapshot
                .services
                .keys()
                .filter(|k| !old.services.contains_key(*k))
                .cloned(),
        );
        Step {
            changed,
            services: BTreeSet::new(),
            all: true,
        }
    }

    /// The Services and slices of `changed_services` / `changed_slices` (keys; present in the
    /// maps or deleted) again: O(changed objects x log Services).
    fn apply(
        &mut self,
        services: &BTreeMap<String, Service>,
        slices: &BTreeMap<String, EndpointSlice>,
        changed_services: &BTreeSet<String>,
        changed_slices: &BTreeSet<String>,
    ) -> Step {
        let mut affected: BTreeSet<(String, String)> =
            changed_services.iter().map(|k| split_key(k)).collect();
        for k in changed_slices {
            // A slice counts for the Service it belonged to and the one it belongs to now
            // (its label could change; deleted, it belongs to none).
            let now = slices.get(k).and_then(Tracker::slice_owner_of);
            affected.extend(self.slice_owner.get(k).cloned());
            affected.extend(now.clone());
            self.index_slice(k, now);
        }
        let mut changed = BTreeSet::new();
        for service in &affected {
            let (ns, name) = service;
            let ports = match services.get(&format!("{ns}/{name}")) {
                Some(svc) => {
                    knet_proxy::service_ports(svc, self.slices_of(service, slices), &self.view)
                }
                None => Vec::new(),
            };
            changed.extend(self.snapshot.replace_service(ns, name, ports));
        }
        Step {
            changed,
            services: affected,
            all: false,
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

/// The nodes that may announce LoadBalancer addresses: ready, not labelled
/// `node.kubernetes.io/exclude-from-external-load-balancers`; by name.
fn speakers<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Vec<String> {
    let mut names: Vec<String> = nodes
        .into_iter()
        .filter(|n| node_ready(n) && !n.labels().contains_key(EXCLUDE_FROM_LB))
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    names.sort();
    names
}

/// The addresses of one Service that node `me` should announce: for a LoadBalancer Service,
/// each ingress IP whose elected speaker among `ready` nodes is `me` (for
/// `externalTrafficPolicy: Local`, only nodes with a ready endpoint of the Service, as MetalLB
/// does, so that traffic lands where it is served). `slices` are the Service's EndpointSlices.
fn service_addresses_to_announce<'a>(
    me: &str,
    svc: &Service,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ready: &[&str],
) -> BTreeSet<Ipv4Addr> {
    let mut out = BTreeSet::new();
    let Some(spec) = svc.spec.as_ref() else {
        return out;
    };
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return out;
    }
    let local_only = spec.external_traffic_policy.as_deref() == Some("Local");
    let with_endpoints: BTreeSet<&str> = slices
        .into_iter()
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
    out
}

/// The LoadBalancer addresses node `me` should announce: for each LoadBalancer Service's
/// ingress IP, the elected speaker among ready nodes (see `service_addresses_to_announce`).
pub fn addresses_to_announce(
    me: &str,
    services: &[Service],
    slices: &[EndpointSlice],
    nodes: &[Node],
) -> BTreeSet<Ipv4Addr> {
    let ready = speakers(nodes);
    let ready: Vec<&str> = ready.iter().map(String::as_str).collect();
    let mut out = BTreeSet::new();
    for svc in services {
        let ns = svc.namespace().unwrap_or_default();
        let name = svc.name_any();
        let own = slices.iter().filter(|s| {
            s.namespace().as_deref() == Some(ns.as_str())
                && s.labels().get(knet_proxy::SERVICE_NAME_LABEL) == Some(&name)
        });
        out.extend(service_addresses_to_announce(me, svc, own, &ready));
    }
    out
}

/// The LoadBalancer addresses this node should announce, kept per Service so that a change
/// costs the changed Services only.
#[derive(Debug, Default)]
struct Announcer {
    /// Nodes that may announce, by name (see [`speakers`]).
    speakers: Vec<String>,
    /// (namespace, name) -> the addresses this node announces for it (non-empty).
    by_service: BTreeMap<(String, String), BTreeSet<Ipv4Addr>>,
    /// Address -> how many Services want it announced here.
    wanted: BTreeMap<Ipv4Addr, usize>,
}

impl Announcer {
    /// Takes the nodes in; true when the speakers changed (every Service must be recomputed).
    fn set_speakers<'a>(&mut self, nodes: impl IntoIterator<Item = &'a Node>) -> bool {
        let now = speakers(nodes);
        let changed = now != self.speakers;
        self.speakers = now;
        changed
    }

    /// Service `service` again (absent: gone). Returns the addresses whose wanted state may
    /// have changed.
    fn update<'a>(
        &mut self,
        me: &str,
        service: &(String, String),
        svc: Option<&Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> BTreeSet<Ipv4Addr> {
        let ready: Vec<&str> = self.speakers.iter().map(String::as_str).collect();
        let now = svc
            .map(|svc| service_addresses_to_announce(me, svc, slices, &ready))
            .unwrap_or_default();
        let before = self.by_service.remove(service).unwrap_or_default();
        for ip in &before {
            if let Some(n) = self.wanted.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    self.wanted.remove(ip);
                }
            }
        }
        for ip in &now {
            *self.wanted.entry(*ip).or_insert(0) += 1;
        }
        let touched = before.union(&now).copied().collect();
        if !now.is_empty() {
            self.by_service.insert(service.clone(), now);
        }
        touched
    }

    fn wants(&self, ip: &Ipv4Addr) -> bool {
        self.wanted.contains_key(ip)
    }
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

    /// Runs `conntrack -D` for each filter in the node's namespace. Not fatal: without the
    /// conntrack tool (package conntrack) or on failure, such flows recover only when their
    /// clients stop sending for the UDP timeout.
    async fn clear_conntrack(&self, netns: &str, stale: &[knet_proxy::ConntrackDelete]) {
        let Some(program) = knet_netns::conntrack_program() else {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "conntrack not found (apt-get install conntrack): stale UDP flows to removed endpoints are not cleared"
                )
            });
            return;
        };
        let ns = match Netns::open(netns) {
            Ok(ns) => ns,
            Err(e) => {
                tracing::warn!(node = %self.node.name, error = %e, "clearing stale UDP flows");
                return;
            }
        };
        let mut deleted = 0;
        for filter in stale {
            // conntrack walks the kernel's table to find the entries; a walk that races with
            // other changes can fail, so a failure is retried.
            for attempt in 1..=3 {
                match run_conntrack(&ns, program, &filter.args()).await {
                    Ok(n) => {
                        deleted += n;
                        break;
                    }
                    Err(e) if attempt < 3 => {
                        tracing::debug!(node = %self.node.name, error = %e, "conntrack -D failed; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => tracing::warn!(
                        node = %self.node.name,
                        args = ?filter.args(),
                        error = %e,
                        "could not clear stale UDP flows"
                    ),
                }
            }
        }
        tracing::info!(node = %self.node.name, filters = stale.len(), deleted, "stale UDP flows cleared");
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
        let mut tracker = Tracker::new(view, self.cluster_cidr);
        let mut proxier = knet_proxy::Proxier::new();
        // The kernel's table is unknown (start) or may differ from the proxier's (a failed
        // transaction): the next transaction recreates it.
        let mut needs_full = true;
        let mut started = false;
        let mut health_checks = knet_proxy::HealthChecks::new();
        let mut announcer = Announcer::default();
        let mut announced: BTreeSet<Ipv4Addr> = BTreeSet::new();
        let mut hc_servers: HashMap<u16, crate::AbortOnDrop> = HashMap::new();
        // The UDP flows each UDP Service port had at the last programmed sync.
        let mut udp_flows: HashMap<knet_proxy::ServicePortKey, knet_proxy::UdpFlows> =
            HashMap::new();
        loop {
            notify.notified().await;
            tokio::time::sleep(MIN_SYNC_INTERVAL).await;
            let start = Instant::now();
            // Under the mirrors' locks: take what changed and convert only that.
            let (step, lb_touched) = {
                let (Ok(mut s), Ok(mut e), Ok(mut n)) =
                    (services.lock(), slices.lock(), nodes.lock())
                else {
                    return;
                };
                if !(s.synced && e.synced && n.synced) {
                    continue;
                }
                let (s_relisted, s_changed) = s.take_changes();
                let (e_relisted, e_changed) = e.take_changes();
                let (n_relisted, n_changed) = n.take_changes();
                let step = if !started || s_relisted || e_relisted {
                    tracker.rebuild(&s.objects, &e.objects)
                } else {
                    tracker.apply(&s.objects, &e.objects, &s_changed, &e_changed)
                };
                let speakers_changed = (!started || n_relisted || !n_changed.is_empty())
                    && announcer.set_speakers(n.objects.values());
                started = true;
                // LoadBalancer addresses: the affected Services, or all of them when anything
                // may have changed (a relist, or another set of speakers).
                let recheck: BTreeSet<(String, String)> = if step.all || speakers_changed {
                    s.objects
                        .keys()
                        .map(|k| split_key(k))
                        .chain(announcer.by_service.keys().cloned())
                        .collect()
                } else {
                    step.services.clone()
                };
                let mut touched = BTreeSet::new();
                for svc in &recheck {
                    let obj = s.objects.get(&format!("{}/{}", svc.0, svc.1));
                    let own = tracker.slices_of(svc, &e.objects);
                    touched.extend(announcer.update(&self.node.name, svc, obj, own));
                }
                (step, touched)
            };
            let triggers: Vec<jiff::Timestamp> = pending
                .lock()
                .map(|mut p| std::mem::take(&mut *p))
                .unwrap_or_default();

            let snapshot = &tracker.snapshot;
            let changes = if needs_full {
                proxier.apply_full(snapshot)
            } else {
                proxier.apply(snapshot, &step.changed)
            };
            if let Some(r) = proxier.ruleset() {
                if changes.is_full() {
                    for c in r.conflicts() {
                        tracing::warn!(node = %self.node.name, "service proxy: {c}");
                    }
                } else {
                    for c in step.changed.iter().flat_map(|k| r.conflicts_of(k)) {
                        tracing::warn!(node = %self.node.name, "service proxy: {c}");
                    }
                }
            }
            let tx = proxier.transaction(&changes);
            let mut programmed = true;
            if !tx.ops.is_empty() {
                let script = tx.render();
                let result = match Netns::open(&netns) {
                    Ok(ns) => apply_transaction(&ns, &tx, &script).await.map(|runs| {
                        if runs > 1 {
                            tracing::warn!(node = %self.node.name, runs, "the transaction was too long for one netlink batch (a user namespace caps the socket buffer); applied in pieces, not atomically");
                        }
                    }),
                    Err(e) => Err(e),
                };
                let took = start.elapsed().as_secs_f64();
                self.metrics.sync.observe(took);
                if tx.full {
                    self.metrics.sync_full.observe(took);
                } else {
                    self.metrics.sync_partial.observe(took);
                }
                match result {
                    Ok(()) => {
                        tracing::debug!(node = %self.node.name, ops = tx.ops.len(), full = tx.full, took_ms = took * 1000.0, "service proxy synced");
                    }
                    Err(e) => {
                        // pkg/proxy/nftables: a failed transaction forces a full resync.
                        tracing::warn!(node = %self.node.name, error = %e, full = tx.full, "service proxy sync failed; will resync in full");
                        self.metrics.failures.inc();
                        programmed = false;
                    }
                }
            }
            needs_full = !programmed;
            if programmed {
                // Now that no rule sends traffic to the endpoints a UDP Service lost, drop the
                // conntrack entries that still do (kube-proxy's CleanStaleEntries).
                let keys: BTreeSet<knet_proxy::ServicePortKey> = if changes.is_full() {
                    udp_flows
                        .keys()
                        .chain(snapshot.services.keys())
                        .cloned()
                        .collect()
                } else {
                    step.changed.clone()
                };
                let mut stale = Vec::new();
                for key in keys {
                    let new = snapshot
                        .services
                        .get(&key)
                        .and_then(|(port, eps)| knet_proxy::udp_flows(port, eps));
                    if let Some(old) = udp_flows.get(&key) {
                        stale.extend(knet_proxy::stale_entries(old, new.as_ref()));
                    }
                    match new {
                        Some(flows) => udp_flows.insert(key, flows),
                        None => udp_flows.remove(&key),
                    };
                }
                if !stale.is_empty() {
                    self.clear_conntrack(&netns, &stale).await;
                }
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
            } else {
                if let Ok(mut p) = pending.lock() {
                    p.extend(triggers);
                }
                let notify = notify.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RETRY_AFTER).await;
                    notify.notify_one();
                });
            }

            // Health check node ports of externalTrafficPolicy: Local Services (they follow the
            // snapshot, whatever became of the transaction).
            let touched = if step.all {
                health_checks.rebuild(&tracker.snapshot)
            } else {
                let mut touched = BTreeSet::new();
                for (ns, name) in &step.services {
                    touched.extend(health_checks.update(&tracker.snapshot, ns, name));
                }
                touched
            };
            if let Ok(mut h) = self.health.lock() {
                for port in &touched {
                    match health_checks.get(*port) {
                        Some(hc) => {
                            h.services
                                .insert(*port, (hc.namespace, hc.name, hc.local_endpoints));
                        }
                        None => {
                            h.services.remove(port);
                        }
                    }
                }
                if programmed {
                    h.last_sync = Some(Instant::now());
                }
            }
            for port in &touched {
                if health_checks.get(*port).is_none() {
                    // Dropping a handle aborts its server (and closes its port).
                    hc_servers.remove(port);
                } else if !hc_servers.contains_key(port) {
                    let task = tokio::spawn(self.clone().serve_health_check(*port));
                    hc_servers.insert(*port, crate::AbortOnDrop(task));
                }
            }

            // LoadBalancer addresses this node announces on the LAN.
            for ip in lb_touched {
                let net = IpNet::from(Ipv4Net::from(ip));
                match (announcer.wants(&ip), announced.contains(&ip)) {
                    (true, false) => {
                        if let Err(e) = self.dp.add_address(&netns, "eth0", net).await {
                            tracing::warn!(node = %self.node.name, %ip, error = %e, "announcing a LoadBalancer address");
                        }
                        announced.insert(ip);
                    }
                    (false, true) => {
                        if let Err(e) = self.dp.delete_address(&netns, "eth0", net).await {
                            tracing::warn!(node = %self.node.name, %ip, error = %e, "withdrawing a LoadBalancer address");
                        }
                        announced.remove(&ip);
                    }
                    _ => {}
                }
            }
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

/// Runs `conntrack ARGS` (a `-D`) in `ns`; the number of entries it deleted. conntrack exits 1
/// both when nothing matched ("0 flow entries have been deleted.") and on errors: only the
/// former is a success.
async fn run_conntrack(
    ns: &Netns,
    program: &std::path::Path,
    args: &[String],
) -> Result<usize, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = knet_netns::spawn_in(ns, cmd)
        .await
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let count = stderr
        .split_once(" flow entries have been deleted")
        .and_then(|(before, _)| before.rsplit(' ').next())
        .and_then(|n| n.trim().parse::<usize>().ok());
    match (out.status.code(), count) {
        (Some(0 | 1), Some(n)) => Ok(n),
        _ => Err(format!("{}: {}", out.status, stderr.trim())),
    }
}

/// Whether nft failed because the kernel refused the batch as too long for the netlink socket
/// (EMSGSIZE).
fn too_long(e: &knet_netns::NetnsError) -> bool {
    matches!(e, knet_netns::NetnsError::Nft { stderr, .. } if stderr.contains("Message too long"))
}

/// Splits a piece of a transaction in two, in order: the op list in halves, or a lone element op's
/// elements in halves; `None` when it cannot be made smaller.
fn split_ops(mut ops: Vec<knet_proxy::Op>) -> Option<(Vec<knet_proxy::Op>, Vec<knet_proxy::Op>)> {
    use knet_proxy::Op;
    if ops.len() > 1 {
        let second = ops.split_off(ops.len() / 2);
        return Some((ops, second));
    }
    match ops.pop()? {
        Op::AddElements {
            collection,
            mut elements,
        } if elements.len() > 1 => {
            let second = elements.split_off(elements.len() / 2);
            Some((
                vec![Op::AddElements {
                    collection: collection.clone(),
                    elements,
                }],
                vec![Op::AddElements {
                    collection,
                    elements: second,
                }],
            ))
        }
        Op::DeleteElements {
            collection,
            mut keys,
        } if keys.len() > 1 => {
            let second = keys.split_off(keys.len() / 2);
            Some((
                vec![Op::DeleteElements {
                    collection: collection.clone(),
                    keys,
                }],
                vec![Op::DeleteElements {
                    collection,
                    keys: second,
                }],
            ))
        }
        _ => None,
    }
}

/// Applies `tx` (rendered as `script`) in `ns` with one `nft -f`, all or nothing, and returns the
/// number of `nft` runs. When the kernel refuses the batch as too long for the netlink socket
/// (EMSGSIZE: in a user namespace the socket's buffer cannot grow past `net.core.wmem_max`, so a
/// rootless full load of a few thousand Services does not fit), the transaction is applied in
/// three steps instead: its table, chains, sets, maps and rules; its element changes, in order, in
/// pieces halved until each fits; then its chain and set deletions. Not atomic, so Services not
/// yet loaded are missing for that moment, but the table ends as the transaction says. (Pieces
/// hold elements only: a batch with rules makes nft read the table's rules back from the kernel,
/// and nft 1.0.6 cannot parse its own `ip daddr . meta l4proto . th dport` map rule back.)
pub async fn apply_transaction(
    ns: &Netns,
    tx: &knet_proxy::Transaction,
    script: &str,
) -> Result<usize, knet_netns::NetnsError> {
    use knet_proxy::Op;
    match knet_netns::nft_apply(ns, script).await {
        Ok(()) => return Ok(1),
        Err(e) if too_long(&e) && !tx.ops.is_empty() => {}
        Err(e) => return Err(e),
    }
    let (mut setup, mut elements, mut teardown) = (Vec::new(), Vec::new(), Vec::new());
    for op in &tx.ops {
        match op {
            Op::AddElements { .. } | Op::DeleteElements { .. } => elements.push(op.clone()),
            Op::DeleteChain { .. } | Op::DeleteCollection { .. } => teardown.push(op.clone()),
            _ => setup.push(op.clone()),
        }
    }
    let piece = |ops: Vec<Op>| knet_proxy::Transaction { full: false, ops };
    let mut runs = 1;
    if !setup.is_empty() {
        runs += 1;
        knet_netns::nft_apply(ns, &piece(setup).render()).await?;
    }
    let mut pending = std::collections::VecDeque::from([elements]);
    while let Some(ops) = pending.pop_front() {
        if ops.is_empty() {
            continue;
        }
        runs += 1;
        match knet_netns::nft_apply(ns, &piece(ops.clone()).render()).await {
            Ok(()) => {}
            Err(e) if too_long(&e) => match split_ops(ops) {
                Some((a, b)) => {
                    pending.push_front(b);
                    pending.push_front(a);
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    if !teardown.is_empty() {
        runs += 1;
        knet_netns::nft_apply(ns, &piece(teardown).render()).await?;
    }
    Ok(runs)
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

    /// A ClusterIP Service with ports `http` (80) and `dns` (53/UDP) at `10.96.0.<n>`; a
    /// LoadBalancer one with ingress `172.18.0.<200 + n>` when `lb` (externalTrafficPolicy
    /// Local for odd `n`).
    fn mk_service(name: &str, n: u8, lb: bool) -> Service {
        use k8s_openapi::api::core::v1::ServicePort;
        let port = |name: &str, port: i32, protocol: &str| ServicePort {
            name: Some(name.into()),
            port,
            protocol: Some(protocol.into()),
            ..Default::default()
        };
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some(if lb { "LoadBalancer" } else { "ClusterIP" }.into()),
                external_traffic_policy: (lb && n % 2 == 1).then(|| "Local".into()),
                cluster_ip: Some(format!("10.96.0.{n}")),
                ports: Some(vec![port("http", 80, "TCP"), port("dns", 53, "UDP")]),
                ..Default::default()
            }),
            status: lb.then(|| ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(vec![LoadBalancerIngress {
                        ip: Some(format!("172.18.0.{}", 200 + u16::from(n))),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            }),
        }
    }

    /// Slice `name` of Service `svc` with endpoints `10.244.<n>.<i>` on `nodes[i]`, for both
    /// ports.
    fn mk_slice(name: &str, svc: &str, n: u8, nodes: &[&str]) -> EndpointSlice {
        use k8s_openapi::api::discovery::v1::EndpointPort;
        let port = |name: &str, port: i32, protocol: &str| EndpointPort {
            name: Some(name.into()),
            port: Some(port),
            protocol: Some(protocol.into()),
            ..Default::default()
        };
        let mut s = slice(svc, &nodes.iter().map(|n| (*n, true)).collect::<Vec<_>>());
        s.metadata.name = Some(name.into());
        for (i, e) in s.endpoints.iter_mut().enumerate() {
            e.addresses = vec![format!("10.244.{n}.{}", i + 2)];
        }
        s.ports = Some(vec![port("http", 8080, "TCP"), port("dns", 5353, "UDP")]);
        s
    }

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Random changes to Services and EndpointSlices (created, changed, deleted, a slice moved
    /// to another Service by its label): after each, the tracker's snapshot equals the one
    /// built from every object, the ports it reports changed are exactly those that differ, and
    /// the proxier fed those ports has `compute`'s table; LoadBalancer announcements follow.
    #[test]
    fn the_tracked_snapshot_and_announcements_equal_a_rebuild_from_every_object() {
        let view = knet_proxy::NodeView {
            name: "a".into(),
            ips: vec![Ipv4Addr::new(172, 18, 0, 2)],
        };
        let cidr: Ipv4Net = "10.244.0.0/16".parse().unwrap();
        let nodes: BTreeMap<String, Node> = ["a", "b"]
            .iter()
            .map(|n| (format!("/{n}"), node(n, true)))
            .collect();
        let mut tracker = Tracker::new(view.clone(), cidr);
        let mut proxier = knet_proxy::Proxier::new();
        let mut announcer = Announcer::default();
        assert!(announcer.set_speakers(nodes.values()));
        let mut services: BTreeMap<String, Service> = BTreeMap::new();
        let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
        let step = tracker.rebuild(&services, &slices);
        assert!(step.all && step.changed.is_empty());
        proxier.apply_full(&tracker.snapshot);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let names = ["web", "db", "web-2", "api"];
        for round in 0..400 {
            let before = tracker.snapshot.clone();
            let (mut changed_services, mut changed_slices) = (BTreeSet::new(), BTreeSet::new());
            for _ in 0..1 + rng.below(2) {
                let svc = names[rng.below(4) as usize];
                if rng.below(2) == 0 {
                    let key = format!("default/{svc}");
                    if rng.below(4) == 0 {
                        services.remove(&key);
                    } else {
                        let n = 10 + rng.below(3) as u8;
                        services.insert(key.clone(), mk_service(svc, n, rng.below(2) == 0));
                    }
                    changed_services.insert(key);
                } else {
                    let slice_name = format!("slice-{}", rng.below(5));
                    let key = format!("default/{slice_name}");
                    if rng.below(4) == 0 {
                        slices.remove(&key);
                    } else {
                        let on: Vec<&str> = (0..rng.below(4))
                            .map(|_| ["a", "b"][rng.below(2) as usize])
                            .collect();
                        let n = rng.below(4) as u8;
                        slices.insert(key.clone(), mk_slice(&slice_name, svc, n, &on));
                    }
                    changed_slices.insert(key);
                }
            }
            let step = tracker.apply(&services, &slices, &changed_services, &changed_slices);
            let all = knet_proxy::snapshot(services.values(), slices.values(), &view, cidr);
            assert_eq!(tracker.snapshot, all, "round {round}");
            let differ: BTreeSet<knet_proxy::ServicePortKey> = before
                .services
                .keys()
                .chain(all.services.keys())
                .filter(|k| before.services.get(*k) != all.services.get(*k))
                .cloned()
                .collect();
            assert_eq!(step.changed, differ, "round {round}");
            proxier.apply(&tracker.snapshot, &step.changed);
            assert_eq!(proxier.ruleset(), Some(&knet_proxy::compute(&all)));
            for svc in &step.services {
                let obj = services.get(&format!("{}/{}", svc.0, svc.1));
                announcer.update("a", svc, obj, tracker.slices_of(svc, &slices));
            }
            let svcs: Vec<Service> = services.values().cloned().collect();
            let sls: Vec<EndpointSlice> = slices.values().cloned().collect();
            let nds: Vec<Node> = nodes.values().cloned().collect();
            assert_eq!(
                announcer.wanted.keys().copied().collect::<BTreeSet<_>>(),
                addresses_to_announce("a", &svcs, &sls, &nds),
                "round {round}"
            );
        }
        // And a relist finds nothing changed.
        let step = tracker.rebuild(&services, &slices);
        assert!(step.changed.is_empty());
    }

    #[test]
    fn a_slice_relabelled_to_another_service_moves_its_endpoints() {
        let view = knet_proxy::NodeView {
            name: "a".into(),
            ips: vec![Ipv4Addr::new(172, 18, 0, 2)],
        };
        let mut tracker = Tracker::new(view, "10.244.0.0/16".parse().unwrap());
        let services: BTreeMap<String, Service> = [
            ("default/web".to_string(), mk_service("web", 10, false)),
            ("default/db".to_string(), mk_service("db", 11, false)),
        ]
        .into();
        let mut slices: BTreeMap<String, EndpointSlice> =
            [("default/s".to_string(), mk_slice("s", "web", 1, &["a"]))].into();
        tracker.rebuild(&services, &slices);
        let eps = |t: &Tracker, svc: &str| {
            t.snapshot.services[&knet_proxy::ServicePortKey::new("default", svc, "http")]
                .1
                .len()
        };
        assert_eq!((eps(&tracker, "web"), eps(&tracker, "db")), (1, 0));
        slices.insert("default/s".into(), mk_slice("s", "db", 1, &["a"]));
        let step = tracker.apply(
            &services,
            &slices,
            &BTreeSet::new(),
            &BTreeSet::from(["default/s".to_string()]),
        );
        assert_eq!((eps(&tracker, "web"), eps(&tracker, "db")), (0, 1));
        // Both Services' two ports.
        assert_eq!(step.changed.len(), 4);
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

    #[test]
    fn a_transaction_too_long_for_one_batch_splits_in_order_down_to_single_elements() {
        use knet_proxy::Op;
        let el = |i: usize| {
            (
                format!("10.96.0.{i} . tcp . 80"),
                Some("goto x".to_string()),
            )
        };
        let ops = vec![
            Op::AddTable,
            Op::AddElements {
                collection: "m".into(),
                elements: (0..4).map(el).collect(),
            },
        ];
        let (a, b) = split_ops(ops.clone()).unwrap();
        assert_eq!((a.len(), b.len()), (1, 1));
        assert!(matches!(a[0], Op::AddTable));
        // A lone element op is split by its elements, keeping their order.
        let (c, d) = split_ops(b).unwrap();
        let elements = |ops: &[Op]| match &ops[0] {
            Op::AddElements { elements, .. } => elements.clone(),
            _ => Vec::new(),
        };
        assert_eq!(elements(&c), vec![el(0), el(1)]);
        assert_eq!(elements(&d), vec![el(2), el(3)]);
        let (e, _) = split_ops(c).unwrap();
        assert_eq!(elements(&e), vec![el(0)]);
        assert!(split_ops(e).is_none(), "one element cannot be split");
        assert!(split_ops(vec![Op::AddTable]).is_none());
        let deletes = vec![Op::DeleteElements {
            collection: "s".into(),
            keys: vec!["a".into(), "b".into(), "c".into()],
        }];
        let (f, g) = split_ops(deletes).unwrap();
        assert!(matches!(&f[0], Op::DeleteElements { keys, .. } if keys == &["a"]));
        assert!(matches!(&g[0], Op::DeleteElements { keys, .. } if keys == &["b", "c"]));
    }
}
