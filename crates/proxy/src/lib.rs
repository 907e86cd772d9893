//! The pure core of knet's nftables service proxy: Services and EndpointSlices to a
//! [`Snapshot`] ([`snapshot`], or one Service at a time with [`service_ports`]),
//! `compute(&Snapshot) -> Ruleset`, `render_full`, element-level transactions
//! ([`transaction`]), the [`Proxier`] that keeps the table up to date at the cost of the changed
//! Service ports only, and a packet [`trace`] of the ruleset. No I/O, no runtime: applying the
//! script with `nft -f` happens elsewhere (knet-agent).
//!
//! Semantics are kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go,
//! <https://kubernetes.io/docs/reference/networking/virtual-ips/>); the layout is not. kube-proxy
//! has chains per Service and per endpoint; here the number of chains and rules depends only on
//! the distinct endpoint counts `n` and the distinct sessionAffinity timeouts, never on the
//! number of Services, which live in map and set elements (shared/notes/nftables-at-scale.md).
//!
//! ```text
//! dest = ip daddr . meta l4proto . th dport: a cluster IP, external IP, LoadBalancer IP, or
//!        node IP . node port (kube-proxy nftables' default `--nodeport-addresses primary`)
//!
//! nat-prerouting / nat-output ── jump services
//!   services:          dest vmap @service-ips ──goto──> one of four policy chains:
//!   cluster-ip:        ip saddr != <cluster cidr> mark 0x4000; goto cluster-endpoints
//!   cluster-ip-local:  (internalTrafficPolicy Local) same mark; goto local-endpoints
//!   external:          mark 0x4000; goto cluster-endpoints
//!   external-local:    (externalTrafficPolicy Local) pods: goto cluster-endpoints (short-circuit);
//!                      fib saddr type local: mark, goto cluster-endpoints; else goto local-endpoints
//!   cluster-endpoints: dest @affinity-timeouts: dnat to saddr . dest map @affinity (sticky)
//!                      dest vmap @cluster-lb ──goto──> lb-<n>
//!   local-endpoints:   the same with @local-lb ──goto──> local-lb-<n>
//!   lb-<n>:            dnat to dest . numgen random mod n map @backends-<n>   (exact balance)
//!   local-lb-<n>:      dnat to dest . numgen random mod n map @local-backends-<n>
//! nat-postrouting ── jump masquerading: mark 0x4000 -> masquerade; hairpin -> masquerade
//! filter-{input,forward,output}:
//!   ct state new jump endpoints-check:  dest vmap @no-endpoint-services (reject-chain | drop)
//!   ct state new ct status dnat jump affinity-check:
//!     ct original dest vmap @affinity-timeouts ──goto──> affinity-<seconds>:
//!       backend not an endpoint of dest any more: delete the entry, drop (the client retries)
//!       update @affinity { saddr . ct original dest timeout <seconds>s : ip daddr . th dport }
//! ```
//!
//! Session affinity (kube-proxy: a set and a rule per endpoint) is one dynamic map `affinity`
//! keyed by `client . dest`, written after the DNAT from the connection's real target and read
//! before choosing at random. It differs from kube-proxy in two ways: stickiness is per
//! destination address (a client reaching a Service by its cluster IP and by a node port may get
//! two endpoints), and the first packet of a client whose endpoint went away is dropped once (the
//! retransmission picks a new one) where kube-proxy picks a new endpoint at once. An entry is
//! valid while its endpoint is an endpoint of the destination in either view (all endpoints, or
//! this node's), so a client stuck to a remote endpoint before its Service switched to
//! externalTrafficPolicy Local keeps it until the entry expires. A full transaction (start,
//! failure) recreates the table and so forgets affinity.
//!
//! Not yet: loadBalancerSourceRanges, topology-aware routing, IPv6.
#![warn(missing_docs, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

mod conntrack;
mod incremental;
mod k8s;
mod nft;

pub use conntrack::{ConntrackDelete, UdpFlows, stale_entries, udp_flows};
pub use incremental::{Changes, Proxier};
pub use k8s::{
    HealthCheckNodePort, HealthChecks, NodeView, SERVICE_NAME_LABEL, health_check_node_ports,
    service_ports, slice_service, snapshot,
};
pub use nft::{Op, Transaction, diff, full_transaction, render_full, transaction};

/// The nftables table this proxy owns (family `ip`).
pub const TABLE: &str = "knet-proxy";
/// The packet mark bit that asks `nat-postrouting` to masquerade (kube-proxy's 0x4000).
pub const MASQUERADE_MARK: u32 = 0x4000;
/// sessionAffinityConfig.clientIP.timeoutSeconds when unset: 3 hours
/// (`DefaultClientIPServiceAffinitySeconds`, k8s.io/api/core/v1).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;

/// Transport protocol of a Service port.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Protocol {
    /// TCP (the API's default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Every protocol, in the order the per-protocol rules are rendered.
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// The `inet_proto` symbol nft uses.
    pub fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// `externalTrafficPolicy` / `internalTrafficPolicy` of a Service.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TrafficPolicy {
    /// Any ready endpoint in the cluster (the default).
    #[default]
    Cluster,
    /// Only endpoints on this node.
    Local,
}

/// Identity of one Service port: `namespace/name:portname` (`portname` empty when unnamed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServicePortKey(pub String);

impl ServicePortKey {
    /// `namespace/name:port`.
    pub fn new(namespace: &str, name: &str, port: &str) -> Self {
        ServicePortKey(format!("{namespace}/{name}:{port}"))
    }

    /// The half-open range `[from, to)` of the keys of Service `namespace/name`'s ports:
    /// `namespace/name:` is followed by `;` in byte order, and names hold neither.
    fn service_range(namespace: &str, name: &str) -> (ServicePortKey, ServicePortKey) {
        (
            ServicePortKey(format!("{namespace}/{name}:")),
            ServicePortKey(format!("{namespace}/{name};")),
        )
    }

    /// The Service's namespace and name. Namespaces, names and port names are DNS labels, so
    /// neither `/` nor `:` occurs inside them; a key without `/` has an empty namespace.
    pub fn service(&self) -> (&str, &str) {
        let (ns, rest) = self.0.split_once('/').unwrap_or(("", &self.0));
        let name = rest.split_once(':').map_or(rest, |(n, _)| n);
        (ns, name)
    }
}

/// One port of a proxied (ClusterIP, NodePort or LoadBalancer) Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    /// The Service's cluster IP.
    pub cluster_ip: Ipv4Addr,
    /// The Service port.
    pub port: u16,
    /// Transport protocol.
    pub protocol: Protocol,
    /// The NodePort, if the Service has one; served on every address of `Snapshot::node_ips`.
    pub node_port: Option<u16>,
    /// sessionAffinity ClientIP with this timeout in seconds; `None` for sessionAffinity None.
    pub session_affinity_timeout: Option<u32>,
    /// `namespace/name:portname`, for humans.
    pub service: String,
    /// `spec.externalIPs`: handled like LoadBalancer IPs ("external" destinations).
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip` (VIP mode).
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// For node ports, external IPs and LoadBalancer IPs.
    pub external_traffic_policy: TrafficPolicy,
    /// For the cluster IP.
    pub internal_traffic_policy: TrafficPolicy,
    /// `spec.healthCheckNodePort` of a LoadBalancer Service with externalTrafficPolicy Local.
    pub health_check_node_port: Option<u16>,
}

impl ServicePort {
    /// A ClusterIP Service port with the API's defaults (policies Cluster, no affinity).
    pub fn cluster_ip(
        service: impl Into<String>,
        cluster_ip: Ipv4Addr,
        port: u16,
        protocol: Protocol,
    ) -> Self {
        ServicePort {
            cluster_ip,
            port,
            protocol,
            service: service.into(),
            ..ServicePort::default()
        }
    }

    /// True when the port has a destination other than its cluster IP
    /// (kube-proxy's `ExternallyAccessible`).
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some()
            || !self.external_ips.is_empty()
            || !self.load_balancer_ips.is_empty()
    }
}

impl Default for ServicePort {
    /// Unspecified addresses, port 0, TCP, no node port, the API's default policies.
    fn default() -> Self {
        ServicePort {
            cluster_ip: Ipv4Addr::UNSPECIFIED,
            port: 0,
            protocol: Protocol::Tcp,
            node_port: None,
            session_affinity_timeout: None,
            service: String::new(),
            external_ips: Vec::new(),
            load_balancer_ips: Vec::new(),
            external_traffic_policy: TrafficPolicy::Cluster,
            internal_traffic_policy: TrafficPolicy::Cluster,
            health_check_node_port: None,
        }
    }
}

/// One endpoint of a Service port, with its EndpointSlice conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Pod (or external) address.
    pub ip: Ipv4Addr,
    /// Target port.
    pub port: u16,
    /// `conditions.ready` (nil counts as true). Ready endpoints receive traffic.
    pub ready: bool,
    /// The endpoint's `nodeName` is this node (for the traffic policies Local).
    pub local: bool,
    /// `conditions.serving` (nil counts as true).
    pub serving: bool,
    /// `conditions.terminating` (nil counts as false). Serving terminating endpoints receive
    /// traffic only when no endpoint is ready (KEP-1669).
    pub terminating: bool,
}

impl Endpoint {
    /// A ready, serving, not terminating endpoint on another node.
    pub fn new(ip: Ipv4Addr, port: u16) -> Self {
        Endpoint {
            ip,
            port,
            ready: true,
            local: false,
            serving: true,
            terminating: false,
        }
    }

    fn serving_terminating(&self) -> bool {
        self.serving && self.terminating
    }
}

impl Default for Endpoint {
    /// `0.0.0.0:0`, ready and serving, like an endpoint whose conditions are all unset.
    fn default() -> Self {
        Endpoint::new(Ipv4Addr::UNSPECIFIED, 0)
    }
}

/// Everything the proxy needs to compute the table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Service ports and their endpoints.
    pub services: BTreeMap<ServicePortKey, (ServicePort, Vec<Endpoint>)>,
    /// The pod CIDR of the cluster: traffic from outside it to a cluster IP is masqueraded.
    pub cluster_cidr: Ipv4Net,
    /// This node's addresses: node ports are served on them, and they are the sources that
    /// `fib saddr type local` matches.
    pub node_ips: Vec<Ipv4Addr>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new(cluster_cidr: Ipv4Net, node_ips: Vec<Ipv4Addr>) -> Self {
        Snapshot {
            services: BTreeMap::new(),
            cluster_cidr,
            node_ips,
        }
    }

    /// Adds (or replaces) a Service port, keyed by its `service` string.
    pub fn insert(&mut self, port: ServicePort, endpoints: Vec<Endpoint>) {
        self.services
            .insert(ServicePortKey(port.service.clone()), (port, endpoints));
    }

    /// The keys of Service `namespace/name`'s ports (`namespace/name:...`): a range of the
    /// map, found in O(log Services).
    pub fn service_keys(&self, namespace: &str, name: &str) -> Vec<ServicePortKey> {
        let (from, to) = ServicePortKey::service_range(namespace, name);
        self.services
            .range(from..to)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Replaces all the ports of Service `namespace/name` with `ports` (as [`service_ports`]
    /// gives them; none when the Service is gone or not proxied) and returns the keys whose
    /// entry was added, removed or changed: what [`Proxier::apply`] needs.
    pub fn replace_service(
        &mut self,
        namespace: &str,
        name: &str,
        ports: impl IntoIterator<Item = (ServicePortKey, (ServicePort, Vec<Endpoint>))>,
    ) -> BTreeSet<ServicePortKey> {
        let mut old: BTreeMap<ServicePortKey, (ServicePort, Vec<Endpoint>)> = self
            .service_keys(namespace, name)
            .into_iter()
            .filter_map(|k| self.services.remove_entry(&k))
            .collect();
        let mut changed = BTreeSet::new();
        for (key, value) in ports {
            if old.remove(&key).as_ref() != Some(&value) {
                changed.insert(key.clone());
            }
            self.services.insert(key, value);
        }
        changed.extend(old.into_keys());
        changed
    }
}

/// `ip . protocol . port`: a destination the proxy captures (cluster IP, external IP,
/// LoadBalancer IP, or node IP with node port).
pub type Dest = (Ipv4Addr, Protocol, u16);
/// `ip . port` an endpoint is reached at.
pub type Backend = (Ipv4Addr, u16);

/// Which policy chain a destination's `service-ips` element points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Route {
    /// A cluster IP; `local` for internalTrafficPolicy Local.
    ClusterIp { local: bool },
    /// An external destination with externalTrafficPolicy Cluster.
    External,
    /// An external destination with externalTrafficPolicy Local.
    ExternalLocal,
}

/// What the filter hooks do with a new connection to a destination without usable endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum NoEndpoints {
    /// The Service has no usable endpoint anywhere: reject.
    Reject,
    /// A traffic policy Local without a local endpoint: drop.
    Drop,
}

/// Desired state of the table `ip knet-proxy`: fixed chains plus maps/sets with elements.
///
/// Invariant: every destination in `routes` has the endpoint list (non-empty) its route uses
/// in `cluster` or `local`, except an `ExternalLocal` one without local endpoints (which then
/// has a `Drop` entry in `no_endpoints`). Every destination's entries come from the one Service
/// port that owns it (`DestEntry`); the counters below are derived from the maps and kept by
/// `Ruleset::insert_dest` / `Ruleset::remove_dest`, so that the chains and collections the
/// table needs are known without a walk over every destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    cluster_cidr: Ipv4Net,
    /// Not rendered: the kernel's view of local addresses, used by `trace` to model `fib`.
    node_ips: BTreeSet<Ipv4Addr>,
    routes: BTreeMap<Dest, Route>,
    cluster: BTreeMap<Dest, Vec<Backend>>,
    local: BTreeMap<Dest, Vec<Backend>>,
    no_endpoints: BTreeMap<Dest, NoEndpoints>,
    affinity: BTreeMap<Dest, u32>,
    /// Endpoint addresses of `cluster` and `local` (the `hairpin` set), each with the number of
    /// list entries naming it.
    hairpin: BTreeMap<Ipv4Addr, usize>,
    /// Endpoint count `n` of `cluster` lists -> destinations with that count (`lb-<n>`,
    /// `backends-<n>`).
    cluster_sizes: BTreeMap<usize, usize>,
    /// The same for `local` (`local-lb-<n>`, `local-backends-<n>`).
    local_sizes: BTreeMap<usize, usize>,
    /// Affinity timeout -> destinations with it (`affinity-<seconds>`).
    timeouts: BTreeMap<u32, usize>,
    /// In the order `compute` meets them: cluster IPs, then node ports, then external
    /// addresses; within each, by Service port key (and by position in the port's list).
    conflicts: BTreeMap<ConflictKey, Conflict>,
}

/// Where a conflict sorts: its phase, the Service port left out, the address's position among
/// the port's external and LoadBalancer IPs (0 for the other phases).
type ConflictKey = (Phase, ServicePortKey, usize);

/// The order in which `compute` places destinations (and so reports conflicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Phase {
    ClusterIp,
    NodePort,
    External,
}

/// How the Service port that owns a destination reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Its cluster IP: the internal traffic policy applies.
    ClusterIp,
    /// A node port, external IP or LoadBalancer IP: the external traffic policy applies.
    External,
}

/// Everything the table holds for one destination. It depends only on the Service port that
/// owns the destination (its policies, affinity and endpoints) and on how it is reached: one
/// Service's contribution to the table can be computed alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DestEntry {
    route: Option<Route>,
    cluster: Option<Vec<Backend>>,
    local: Option<Vec<Backend>>,
    no_endpoints: Option<NoEndpoints>,
    affinity: Option<u32>,
}

impl DestEntry {
    /// Endpoint addresses of both lists (for `hairpin`), with repetitions.
    fn endpoint_ips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.cluster
            .iter()
            .chain(&self.local)
            .flatten()
            .map(|b| b.0)
    }
}

/// The entries of destination `kind` of Service port `sp` whose endpoints are `c`, as
/// kube-proxy's nftables proxier (pkg/proxy/nftables/proxier.go, `syncProxyRules`) writes the
/// service's chains.
fn dest_entry(sp: &ServicePort, c: &Categorized, kind: Kind) -> DestEntry {
    let mut e = DestEntry::default();
    let affinity = sp.session_affinity_timeout.map(|t| t.max(1));
    match kind {
        Kind::ClusterIp => {
            // proxier.go: the cluster IP goes to the internal policy chain when it has
            // endpoints; else no-endpoint-services says drop (internalTrafficPolicy Local
            // without a local endpoint) or reject (no endpoint at all).
            let itp_local = sp.internal_traffic_policy == TrafficPolicy::Local;
            let view = if itp_local { &c.local } else { &c.cluster };
            if view.is_empty() {
                e.no_endpoints = Some(no_endpoints(c));
            } else {
                e.route = Some(Route::ClusterIp { local: itp_local });
                e.affinity = affinity;
                if itp_local {
                    e.local = Some(view.clone());
                } else {
                    e.cluster = Some(view.clone());
                }
            }
        }
        Kind::External => {
            // proxier.go: external destinations go to the service's external chain when it
            // has endpoints anywhere (the short-circuit rules need it even without local
            // ones), and to no-endpoint-services when the external policy has no endpoint.
            let etp_local = sp.external_traffic_policy == TrafficPolicy::Local;
            if c.any {
                e.cluster = Some(c.cluster.clone());
                e.affinity = affinity;
                if etp_local {
                    e.route = Some(Route::ExternalLocal);
                    if !c.local.is_empty() {
                        e.local = Some(c.local.clone());
                    }
                } else {
                    e.route = Some(Route::External);
                }
            }
            let external_view = if etp_local { &c.local } else { &c.cluster };
            if external_view.is_empty() {
                e.no_endpoints = Some(no_endpoints(c));
            }
        }
    }
    e
}

/// A Service port (or one of its destinations) left out of the table because another Service
/// port already owns the same destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Conflict {
    /// Two Service ports share `cluster ip . protocol . port`; the whole port is left out.
    #[error("{service}: {ip}:{port}/{protocol:?} is already used by another service port")]
    ClusterIp {
        /// The Service port left out.
        service: String,
        /// Cluster IP.
        ip: Ipv4Addr,
        /// Port.
        port: u16,
        /// Protocol.
        protocol: Protocol,
    },
    /// Two Service ports share `protocol . node port`.
    #[error("{service}: node port {port}/{protocol:?} is already used by another service port")]
    NodePort {
        /// The Service port whose node port was left out.
        service: String,
        /// Node port.
        port: u16,
        /// Protocol.
        protocol: Protocol,
    },
    /// An external or LoadBalancer IP with port is already another Service port's destination.
    #[error(
        "{service}: external address {ip}:{port}/{protocol:?} is already used by another service port"
    )]
    External {
        /// The Service port whose destination was left out.
        service: String,
        /// External or LoadBalancer IP.
        ip: Ipv4Addr,
        /// Port.
        port: u16,
        /// Protocol.
        protocol: Protocol,
    },
}

/// The endpoints a Service port uses, chosen as kube-proxy's `CategorizeEndpoints`
/// (pkg/proxy/topology.go) does, without topology hints.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Categorized {
    /// Ready endpoints, else serving terminating ones (KEP-1669), sorted.
    cluster: Vec<Backend>,
    /// Local ready endpoints, else local serving terminating ones, sorted.
    local: Vec<Backend>,
    /// Some endpoint anywhere is ready or serving-terminating.
    any: bool,
}

fn categorize(eps: &[Endpoint]) -> Categorized {
    let pick = |f: &dyn Fn(&Endpoint) -> bool| -> Vec<Backend> {
        eps.iter()
            .filter(|e| f(e))
            .map(|e| (e.ip, e.port))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let mut cluster = pick(&|e| e.ready);
    if cluster.is_empty() {
        cluster = pick(&|e| e.serving_terminating());
    }
    let mut local = pick(&|e| e.local && e.ready);
    if local.is_empty() {
        local = pick(&|e| e.local && e.serving_terminating());
    }
    let any = !cluster.is_empty();
    Categorized {
        cluster,
        local,
        any,
    }
}

/// Computes the desired table from a snapshot. Endpoints are sorted so that an unchanged
/// Service yields identical elements. Cluster IPs are placed first, then node ports, then
/// external and LoadBalancer IPs; within each, the first Service port in key order wins a
/// destination claimed twice (the others are reported in [`Ruleset::conflicts`]).
///
/// This is the reference: [`Proxier`] keeps the same table up to date one Service port at a
/// time and must always equal `compute` of the same snapshot (tests.rs checks it on random
/// sequences of changes).
pub fn compute(s: &Snapshot) -> Ruleset {
    let mut r = Ruleset::empty(s.cluster_cidr, s.node_ips.iter().copied().collect());
    // Destination -> the Service port that owns it.
    let mut claimed: BTreeMap<Dest, &ServicePortKey> = BTreeMap::new();
    let mut placed: Vec<(&ServicePortKey, &ServicePort, Categorized)> = Vec::new();
    for (key, (sp, eps)) in &s.services {
        let dest = (sp.cluster_ip, sp.protocol, sp.port);
        if claimed.contains_key(&dest) {
            r.conflicts.insert(
                (Phase::ClusterIp, key.clone(), 0),
                Conflict::ClusterIp {
                    service: sp.service.clone(),
                    ip: sp.cluster_ip,
                    port: sp.port,
                    protocol: sp.protocol,
                },
            );
            continue;
        }
        claimed.insert(dest, key);
        let c = categorize(eps);
        r.insert_dest(dest, dest_entry(sp, &c, Kind::ClusterIp));
        placed.push((key, sp, c));
    }
    // Node ports next, so that an external IP cannot take a node address's port.
    let mut externals: Vec<(&ServicePort, &Categorized, Dest)> = Vec::new();
    for (key, sp, c) in &placed {
        let Some(np) = sp.node_port else { continue };
        let dests: Vec<Dest> = r.node_ips.iter().map(|ip| (*ip, sp.protocol, np)).collect();
        if dests.iter().any(|d| claimed.contains_key(d)) {
            r.conflicts.insert(
                (Phase::NodePort, (*key).clone(), 0),
                Conflict::NodePort {
                    service: sp.service.clone(),
                    port: np,
                    protocol: sp.protocol,
                },
            );
            continue;
        }
        for d in dests {
            claimed.insert(d, key);
            externals.push((sp, c, d));
        }
    }
    for (key, sp, c) in &placed {
        for (i, ip) in sp
            .external_ips
            .iter()
            .chain(&sp.load_balancer_ips)
            .enumerate()
        {
            let d = (*ip, sp.protocol, sp.port);
            if let Some(owner) = claimed.get(&d) {
                // The same address listed twice by one port is not a conflict.
                if owner != key {
                    r.conflicts.insert(
                        (Phase::External, (*key).clone(), i),
                        Conflict::External {
                            service: sp.service.clone(),
                            ip: *ip,
                            port: sp.port,
                            protocol: sp.protocol,
                        },
                    );
                }
                continue;
            }
            claimed.insert(d, key);
            externals.push((sp, c, d));
        }
    }
    for (sp, c, d) in externals {
        r.insert_dest(d, dest_entry(sp, c, Kind::External));
    }
    r
}

fn no_endpoints(c: &Categorized) -> NoEndpoints {
    if c.any {
        NoEndpoints::Drop
    } else {
        NoEndpoints::Reject
    }
}

fn count_up<K: Ord>(m: &mut BTreeMap<K, usize>, k: K) {
    *m.entry(k).or_insert(0) += 1;
}

fn count_down<K: Ord>(m: &mut BTreeMap<K, usize>, k: K) {
    if let std::collections::btree_map::Entry::Occupied(mut e) = m.entry(k) {
        if *e.get() <= 1 {
            e.remove();
        } else {
            *e.get_mut() -= 1;
        }
    }
}

impl Ruleset {
    /// A table without destinations.
    fn empty(cluster_cidr: Ipv4Net, node_ips: BTreeSet<Ipv4Addr>) -> Ruleset {
        Ruleset {
            cluster_cidr,
            node_ips,
            routes: BTreeMap::new(),
            cluster: BTreeMap::new(),
            local: BTreeMap::new(),
            no_endpoints: BTreeMap::new(),
            affinity: BTreeMap::new(),
            hairpin: BTreeMap::new(),
            cluster_sizes: BTreeMap::new(),
            local_sizes: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            conflicts: BTreeMap::new(),
        }
    }

    /// Adds the entries of destination `d`, which has none yet.
    fn insert_dest(&mut self, d: Dest, e: DestEntry) {
        for ip in e.endpoint_ips() {
            count_up(&mut self.hairpin, ip);
        }
        if let Some(route) = e.route {
            self.routes.insert(d, route);
        }
        if let Some(eps) = e.cluster {
            count_up(&mut self.cluster_sizes, eps.len());
            self.cluster.insert(d, eps);
        }
        if let Some(eps) = e.local {
            count_up(&mut self.local_sizes, eps.len());
            self.local.insert(d, eps);
        }
        if let Some(v) = e.no_endpoints {
            self.no_endpoints.insert(d, v);
        }
        if let Some(t) = e.affinity {
            count_up(&mut self.timeouts, t);
            self.affinity.insert(d, t);
        }
    }

    /// Removes and returns the entries of destination `d`.
    fn remove_dest(&mut self, d: &Dest) -> DestEntry {
        let e = DestEntry {
            route: self.routes.remove(d),
            cluster: self.cluster.remove(d),
            local: self.local.remove(d),
            no_endpoints: self.no_endpoints.remove(d),
            affinity: self.affinity.remove(d),
        };
        for ip in e.endpoint_ips() {
            count_down(&mut self.hairpin, ip);
        }
        if let Some(eps) = &e.cluster {
            count_down(&mut self.cluster_sizes, eps.len());
        }
        if let Some(eps) = &e.local {
            count_down(&mut self.local_sizes, eps.len());
        }
        if let Some(t) = e.affinity {
            count_down(&mut self.timeouts, t);
        }
        e
    }

    /// A copy of the entries of destination `d`.
    fn dest_entry(&self, d: &Dest) -> DestEntry {
        DestEntry {
            route: self.routes.get(d).copied(),
            cluster: self.cluster.get(d).cloned(),
            local: self.local.get(d).cloned(),
            no_endpoints: self.no_endpoints.get(d).copied(),
            affinity: self.affinity.get(d).copied(),
        }
    }

    /// This table's cluster CIDR, node addresses and chain-deciding counters, without any
    /// destination: the frame that `nft::part` fills with a few destinations' entries.
    fn frame(&self) -> Ruleset {
        Ruleset {
            cluster_sizes: self.cluster_sizes.clone(),
            local_sizes: self.local_sizes.clone(),
            timeouts: self.timeouts.clone(),
            ..Ruleset::empty(self.cluster_cidr, self.node_ips.clone())
        }
    }
}

impl Ruleset {
    /// Service ports (or destinations) left out because of a conflict, in the order `compute`
    /// meets them: cluster IPs, node ports, external addresses; each by Service port key.
    pub fn conflicts(&self) -> impl ExactSizeIterator<Item = &Conflict> + '_ {
        self.conflicts.values()
    }

    /// The conflicts of Service port `key` (a few map lookups, whatever the table's size).
    pub fn conflicts_of(&self, key: &ServicePortKey) -> Vec<&Conflict> {
        self.conflict_keys_of(key)
            .iter()
            .filter_map(|k| self.conflicts.get(k))
            .collect()
    }

    fn conflict_keys_of(&self, key: &ServicePortKey) -> Vec<ConflictKey> {
        [Phase::ClusterIp, Phase::NodePort, Phase::External]
            .into_iter()
            .flat_map(|p| {
                self.conflicts
                    .range((p, key.clone(), 0)..=(p, key.clone(), usize::MAX))
                    .map(|(k, _)| k.clone())
            })
            .collect()
    }

    /// Number of chains the rendered table has.
    pub fn chain_count(&self) -> usize {
        nft::chains(self).len()
    }

    /// Number of rules the rendered table has.
    pub fn rule_count(&self) -> usize {
        nft::chains(self).values().map(|c| c.rules.len()).sum()
    }

    /// Number of set and map elements the rendered table has.
    pub fn element_count(&self) -> usize {
        nft::collections(self)
            .values()
            .map(|c| c.elements.len())
            .sum()
    }

    /// The endpoints a sticky entry for `dest` may point at (both endpoint views).
    fn affinity_backends(&self, dest: &Dest) -> BTreeSet<Backend> {
        self.cluster
            .get(dest)
            .into_iter()
            .chain(self.local.get(dest))
            .flatten()
            .copied()
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Packet trace.

/// A new connection's first packet, as the hooks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Transport protocol.
    pub proto: Protocol,
    /// Destination port.
    pub dport: u16,
    /// The value `numgen random` draws for this packet (taken `mod n`).
    pub random: u32,
}

/// What the table does to a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Destination rewritten; `masquerade` says whether the source is rewritten too.
    Dnat {
        /// New destination.
        to: Backend,
        /// Source NAT in postrouting.
        masquerade: bool,
    },
    /// Refused (TCP reset, or ICMP port unreachable): the Service has no endpoints.
    Reject,
    /// Silently dropped: a traffic policy Local without a local endpoint, or a sticky
    /// endpoint that is gone (its entry is removed, so the client's retry is balanced again).
    Drop,
    /// Not a Service: the table lets it pass untouched.
    Accept,
}

/// The kernel's `affinity` dynamic map, for [`trace_with`]: `client . dest -> endpoint` with
/// an expiry, on a clock that tests move with [`AffinityTable::advance`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AffinityTable {
    now: u64,
    entries: BTreeMap<(Ipv4Addr, Dest), (Backend, u64)>,
}

impl AffinityTable {
    /// An empty table at time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&mut self, secs: u64) {
        self.now = self.now.saturating_add(secs);
    }

    /// The live entry for `client . dest`.
    pub fn get(&self, client: Ipv4Addr, dest: Dest) -> Option<Backend> {
        self.entries
            .get(&(client, dest))
            .filter(|(_, expires)| *expires > self.now)
            .map(|(b, _)| *b)
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.entries.values().filter(|(_, e)| *e > self.now).count()
    }

    /// True when no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn update(&mut self, client: Ipv4Addr, dest: Dest, to: Backend, timeout: u32) {
        let expires = self.now.saturating_add(u64::from(timeout));
        self.entries.insert((client, dest), (to, expires));
    }

    fn remove(&mut self, client: Ipv4Addr, dest: Dest) {
        self.entries.remove(&(client, dest));
    }
}

/// Evaluates `r` for `pkt` the way the kernel evaluates the rendered rules, with no sticky
/// entries (see [`trace_with`]).
pub fn trace(r: &Ruleset, pkt: &Packet) -> Verdict {
    trace_with(r, pkt, &mut AffinityTable::new())
}

/// Evaluates `r` for `pkt` the way the kernel evaluates the rendered rules: nat
/// (`services` and the policy chains), then the filter hooks (`endpoints-check` for packets
/// not DNATed, `affinity-check` for DNATed ones, which reads and writes `affinity`), then
/// postrouting (`masquerading`). `fib saddr type local` is modelled by the node IPs.
pub fn trace_with(r: &Ruleset, pkt: &Packet, affinity: &mut AffinityTable) -> Verdict {
    let dest = (pkt.dst, pkt.proto, pkt.dport);
    let from_pod = r.cluster_cidr.contains(&pkt.src);
    let from_node = r.node_ips.contains(&pkt.src);
    let mut mark = false;
    // services: dest vmap @service-ips, then the policy chain.
    let view = match r.routes.get(&dest) {
        None => None,
        Some(Route::ClusterIp { local }) => {
            mark |= !from_pod;
            Some(if *local { &r.local } else { &r.cluster })
        }
        Some(Route::External) => {
            mark = true;
            Some(&r.cluster)
        }
        Some(Route::ExternalLocal) => {
            if from_pod {
                Some(&r.cluster)
            } else if from_node {
                mark = true;
                Some(&r.cluster)
            } else {
                Some(&r.local)
            }
        }
    };
    // cluster-endpoints / local-endpoints: the sticky entry first, else lb-<n>.
    let dnat = view.and_then(|v| {
        let sticky = r
            .affinity
            .contains_key(&dest)
            .then(|| affinity.get(pkt.src, dest))
            .flatten();
        sticky.or_else(|| {
            let eps = v.get(&dest)?;
            let n = u32::try_from(eps.len()).ok()?;
            let i = usize::try_from(pkt.random.checked_rem(n)?).ok()?;
            eps.get(i).copied()
        })
    });
    let Some(to) = dnat else {
        // filter hooks, ct state new: endpoints-check.
        return match r.no_endpoints.get(&dest) {
            Some(NoEndpoints::Reject) => Verdict::Reject,
            Some(NoEndpoints::Drop) => Verdict::Drop,
            None => Verdict::Accept,
        };
    };
    // filter hooks, ct status dnat: affinity-check.
    if let Some(&timeout) = r.affinity.get(&dest) {
        if !r.affinity_backends(&dest).contains(&to) {
            affinity.remove(pkt.src, dest);
            return Verdict::Drop;
        }
        affinity.update(pkt.src, dest, to, timeout);
    }
    // masquerading: the mark, or ct status dnat with saddr . daddr in @hairpin.
    let hairpin = pkt.src == to.0 && r.hairpin.contains_key(&to.0);
    Verdict::Dnat {
        to,
        masquerade: mark || hairpin,
    }
}

#[cfg(test)]
mod tests;
