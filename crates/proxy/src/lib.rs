//! The pure core of knet's nftables service proxy: `compute(&Snapshot) -> Ruleset`,
//! `render_full`, `diff` (element-level transactions) and a packet `trace` of the ruleset.
//! No I/O, no runtime: applying the script with `nft -f` happens elsewhere.
//!
//! Layout (one table `ip knet-proxy`; see shared/notes/nftables-at-scale.md). The number
//! of chains and rules depends only on the distinct ready-endpoint counts `n`, never on the
//! number of Services; Services live in map and set elements, which are cheap to change.
//!
//! ```text
//! nat-prerouting / nat-output ── jump services
//!   services:  ip daddr . meta l4proto . th dport vmap @service-ips ──goto──> lb-<n>
//!              fib daddr type local meta l4proto . th dport vmap @nodeport-ips ──goto──> nodeport-lb-<n>
//!   lb-<n>:    ip saddr != <cluster cidr> mark 0x4000
//!              dnat to ip daddr . l4proto . dport . numgen random mod n map @backends-<n>
//!   nodeport-lb-<n>: mark 0x4000; dnat to l4proto . dport . numgen random mod n map @nodeport-backends-<n>
//! nat-postrouting ── jump masquerading: mark 0x4000 -> masquerade; ct dnat + saddr . daddr @hairpin -> masquerade
//! filter-{input,forward,output} ── ct state new jump endpoints-check:
//!   @no-endpoints / local @no-endpoint-nodeports ── goto reject-chain (tcp reset, else icmp port-unreachable)
//! ```
//! `numgen random mod n` over a map with exactly `n` buckets per Service balances exactly.
//!
//! Not yet: sessionAffinity ClientIP, traffic policies Local, LoadBalancer IPs, IPv6.
#![warn(missing_docs, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The nftables table this proxy owns (family `ip`).
pub const TABLE: &str = "knet-proxy";
/// The packet mark bit that asks `nat-postrouting` to masquerade (kube-proxy's 0x4000).
pub const MASQUERADE_MARK: u32 = 0x4000;

/// Transport protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The `inet_proto` symbol nft uses.
    pub fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// Identity of one Service port: `namespace/name:portname`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServicePortKey(pub String);

/// One port of a proxied (ClusterIP/NodePort) Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    /// The Service's cluster IP.
    pub cluster_ip: Ipv4Addr,
    /// The Service port.
    pub port: u16,
    /// Transport protocol.
    pub protocol: Protocol,
    /// The NodePort, if the Service has one.
    pub node_port: Option<u16>,
    /// sessionAffinity ClientIP timeout in seconds (not programmed yet, see crate docs).
    pub session_affinity_timeout: Option<u32>,
    /// `namespace/name:portname`, for humans.
    pub service: String,
}

/// One endpoint of a Service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Pod (or external) address.
    pub ip: Ipv4Addr,
    /// Target port.
    pub port: u16,
    /// Only ready endpoints receive traffic.
    pub ready: bool,
    /// The endpoint runs on this node (for traffic policy Local; not used yet).
    pub local: bool,
}

/// Everything the proxy needs to compute the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Service ports and their endpoints.
    pub services: BTreeMap<ServicePortKey, (ServicePort, Vec<Endpoint>)>,
    /// The pod CIDR of the cluster: traffic from outside it is masqueraded.
    pub cluster_cidr: Ipv4Net,
    /// This node's addresses (what `fib daddr type local` matches).
    pub node_ips: Vec<Ipv4Addr>,
}

/// `cluster ip . protocol . port`.
type Vip = (Ipv4Addr, Protocol, u16);
/// `protocol . node port`.
type NodePortKey = (Protocol, u16);
/// `ip . port` an endpoint is reached at.
type Dest = (Ipv4Addr, u16);
/// Buckets of one endpoint count: `key . bucket -> endpoint`.
type Buckets<K> = BTreeMap<(K, u32), Dest>;

/// Desired state of the table `ip knet-proxy`: fixed chains plus maps/sets with elements.
///
/// Invariant: for each entry `vip -> n` of `service_ips`, `backends[n]` holds exactly the
/// buckets `vip . 0 ..= n-1` (the same for `nodeports` / `nodeport_backends`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    cluster_cidr: Ipv4Net,
    /// Not rendered: the kernel's view of local addresses, used by `trace` to model `fib`.
    node_ips: BTreeSet<Ipv4Addr>,
    service_ips: BTreeMap<Vip, u32>,
    nodeports: BTreeMap<NodePortKey, u32>,
    backends: BTreeMap<u32, Buckets<Vip>>,
    nodeport_backends: BTreeMap<u32, Buckets<NodePortKey>>,
    no_endpoints: BTreeSet<Vip>,
    no_endpoint_nodeports: BTreeSet<NodePortKey>,
    hairpin: BTreeSet<Ipv4Addr>,
    conflicts: Vec<Conflict>,
}

/// A Service port that was left out of the table because another one already owns its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Conflict {
    /// Two Service ports share `cluster ip . protocol . port`.
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
}

/// Computes the desired table from a snapshot. Endpoints are sorted so that an unchanged
/// Service yields identical elements; the first Service port (in key order) wins a conflict.
pub fn compute(s: &Snapshot) -> Ruleset {
    let mut r = Ruleset {
        cluster_cidr: s.cluster_cidr,
        node_ips: s.node_ips.iter().copied().collect(),
        service_ips: BTreeMap::new(),
        nodeports: BTreeMap::new(),
        backends: BTreeMap::new(),
        nodeport_backends: BTreeMap::new(),
        no_endpoints: BTreeSet::new(),
        no_endpoint_nodeports: BTreeSet::new(),
        hairpin: BTreeSet::new(),
        conflicts: Vec::new(),
    };
    for (sp, eps) in s.services.values() {
        let vip = (sp.cluster_ip, sp.protocol, sp.port);
        if r.service_ips.contains_key(&vip) || r.no_endpoints.contains(&vip) {
            r.conflicts.push(Conflict::ClusterIp {
                service: sp.service.clone(),
                ip: sp.cluster_ip,
                port: sp.port,
                protocol: sp.protocol,
            });
            continue;
        }
        let ready: BTreeSet<(Ipv4Addr, u16)> = eps
            .iter()
            .filter(|e| e.ready)
            .map(|e| (e.ip, e.port))
            .collect();
        let np = match sp.node_port {
            Some(p) => {
                let k = (sp.protocol, p);
                if r.nodeports.contains_key(&k) || r.no_endpoint_nodeports.contains(&k) {
                    r.conflicts.push(Conflict::NodePort {
                        service: sp.service.clone(),
                        port: p,
                        protocol: sp.protocol,
                    });
                    None
                } else {
                    Some(k)
                }
            }
            None => None,
        };
        if ready.is_empty() {
            r.no_endpoints.insert(vip);
            if let Some(k) = np {
                r.no_endpoint_nodeports.insert(k);
            }
            continue;
        }
        let n = u32::try_from(ready.len()).unwrap_or(u32::MAX);
        r.service_ips.insert(vip, n);
        if let Some(k) = np {
            r.nodeports.insert(k, n);
        }
        for (i, &(ip, port)) in (0u32..).zip(ready.iter()) {
            r.backends
                .entry(n)
                .or_default()
                .insert((vip, i), (ip, port));
            if let Some(k) = np {
                r.nodeport_backends
                    .entry(n)
                    .or_default()
                    .insert((k, i), (ip, port));
            }
            r.hairpin.insert(ip);
        }
    }
    r
}

impl Ruleset {
    /// Service ports left out because of a conflict.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// Number of chains the rendered table has.
    pub fn chain_count(&self) -> usize {
        chains(self).len()
    }

    /// Number of rules the rendered table has.
    pub fn rule_count(&self) -> usize {
        chains(self).values().map(|c| c.rules.len()).sum()
    }

    /// Number of set and map elements the rendered table has.
    pub fn element_count(&self) -> usize {
        collections(self).values().map(|c| c.elements.len()).sum()
    }
}

// ---------------------------------------------------------------------------------------
// Rendering model: named chains and named collections (sets/maps) with text elements.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Chain {
    /// `type nat hook prerouting priority dstnat; policy accept;` for base chains.
    base: Option<&'static str>,
    rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Collection {
    map: bool,
    spec: String,
    /// key -> value (None for sets).
    elements: BTreeMap<String, Option<String>>,
}

fn lb_chain(n: u32) -> String {
    format!("lb-{n}")
}
fn nodeport_lb_chain(n: u32) -> String {
    format!("nodeport-lb-{n}")
}
fn vip_text(v: &Vip) -> String {
    format!("{} . {} . {}", v.0, v.1.nft(), v.2)
}
fn np_text(k: &NodePortKey) -> String {
    format!("{} . {}", k.0.nft(), k.1)
}
fn dest_text(d: &(Ipv4Addr, u16)) -> String {
    format!("{} . {}", d.0, d.1)
}

fn chains(r: &Ruleset) -> BTreeMap<String, Chain> {
    let mut c = BTreeMap::new();
    let mut base = |name: &str, spec: &'static str, rule: &str| {
        c.insert(
            name.to_string(),
            Chain {
                base: Some(spec),
                rules: vec![rule.to_string()],
            },
        );
    };
    base(
        "nat-prerouting",
        "type nat hook prerouting priority dstnat; policy accept;",
        "jump services",
    );
    base(
        "nat-output",
        "type nat hook output priority -100; policy accept;",
        "jump services",
    );
    base(
        "nat-postrouting",
        "type nat hook postrouting priority srcnat; policy accept;",
        "jump masquerading",
    );
    for hook in ["input", "forward", "output"] {
        let spec: &'static str = match hook {
            "input" => "type filter hook input priority -10; policy accept;",
            "forward" => "type filter hook forward priority -10; policy accept;",
            _ => "type filter hook output priority -10; policy accept;",
        };
        base(
            &format!("filter-{hook}"),
            spec,
            "ct state new jump endpoints-check",
        );
    }
    let mut plain = |name: &str, rules: Vec<String>| {
        c.insert(name.to_string(), Chain { base: None, rules });
    };
    plain(
        "services",
        vec![
            "ip daddr . meta l4proto . th dport vmap @service-ips".into(),
            "fib daddr type local meta l4proto . th dport vmap @nodeport-ips".into(),
        ],
    );
    plain(
        "masquerading",
        vec![
            format!(
                "meta mark & {m:#x} == {m:#x} meta mark set meta mark ^ {m:#x} masquerade fully-random",
                m = MASQUERADE_MARK
            ),
            "ct status dnat ip saddr . ip daddr @hairpin masquerade fully-random".into(),
        ],
    );
    plain(
        "endpoints-check",
        vec![
            "ip daddr . meta l4proto . th dport @no-endpoints goto reject-chain".into(),
            "fib daddr type local meta l4proto . th dport @no-endpoint-nodeports goto reject-chain"
                .into(),
        ],
    );
    plain(
        "reject-chain",
        vec![
            "meta l4proto tcp reject with tcp reset".into(),
            "reject".into(),
        ],
    );
    for &n in r.backends.keys() {
        plain(
            &lb_chain(n),
            vec![
                format!(
                    "ip saddr != {} meta mark set meta mark | {:#x}",
                    r.cluster_cidr, MASQUERADE_MARK
                ),
                format!(
                    "dnat ip to ip daddr . meta l4proto . th dport . numgen random mod {n} map @backends-{n}"
                ),
            ],
        );
    }
    for &n in r.nodeport_backends.keys() {
        plain(
            &nodeport_lb_chain(n),
            vec![
                format!("meta mark set meta mark | {MASQUERADE_MARK:#x}"),
                format!(
                    "dnat ip to meta l4proto . th dport . numgen random mod {n} map @nodeport-backends-{n}"
                ),
            ],
        );
    }
    c
}

fn collections(r: &Ruleset) -> BTreeMap<String, Collection> {
    let mut c = BTreeMap::new();
    let mut add = |name: String, map: bool, spec: String, elements| {
        c.insert(
            name,
            Collection {
                map,
                spec,
                elements,
            },
        );
    };
    add(
        "service-ips".into(),
        true,
        "type ipv4_addr . inet_proto . inet_service : verdict".into(),
        r.service_ips
            .iter()
            .map(|(v, n)| (vip_text(v), Some(format!("goto {}", lb_chain(*n)))))
            .collect(),
    );
    add(
        "nodeport-ips".into(),
        true,
        "type inet_proto . inet_service : verdict".into(),
        r.nodeports
            .iter()
            .map(|(k, n)| (np_text(k), Some(format!("goto {}", nodeport_lb_chain(*n)))))
            .collect(),
    );
    add(
        "no-endpoints".into(),
        false,
        "type ipv4_addr . inet_proto . inet_service".into(),
        r.no_endpoints.iter().map(|v| (vip_text(v), None)).collect(),
    );
    add(
        "no-endpoint-nodeports".into(),
        false,
        "type inet_proto . inet_service".into(),
        r.no_endpoint_nodeports
            .iter()
            .map(|k| (np_text(k), None))
            .collect(),
    );
    add(
        "hairpin".into(),
        false,
        "type ipv4_addr . ipv4_addr".into(),
        r.hairpin
            .iter()
            .map(|ip| (format!("{ip} . {ip}"), None))
            .collect(),
    );
    for (n, m) in &r.backends {
        add(
            format!("backends-{n}"),
            true,
            format!(
                "typeof ip daddr . meta l4proto . th dport . numgen random mod {n} : ip daddr . th dport"
            ),
            m.iter()
                .map(|((v, i), d)| (format!("{} . {i}", vip_text(v)), Some(dest_text(d))))
                .collect(),
        );
    }
    for (n, m) in &r.nodeport_backends {
        add(
            format!("nodeport-backends-{n}"),
            true,
            format!("typeof meta l4proto . th dport . numgen random mod {n} : ip daddr . th dport"),
            m.iter()
                .map(|((k, i), d)| (format!("{} . {i}", np_text(k)), Some(dest_text(d))))
                .collect(),
        );
    }
    c
}

// ---------------------------------------------------------------------------------------
// Transactions.

/// One command of an `nft -f` transaction on table `ip knet-proxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `add table` (makes a following `delete table` safe when the table is absent).
    AddTable,
    /// `delete table`.
    DeleteTable,
    /// `add chain` (empty; base chains with their hook).
    AddChain {
        /// Chain name.
        name: String,
        /// Base-chain spec, e.g. `type nat hook prerouting priority dstnat; policy accept;`.
        base: Option<String>,
    },
    /// `add set` / `add map`.
    AddCollection {
        /// Set or map name.
        name: String,
        /// A map (else a set).
        map: bool,
        /// `type ...` / `typeof ...`.
        spec: String,
    },
    /// `add rule`.
    AddRule {
        /// Chain name.
        chain: String,
        /// Rule text.
        rule: String,
    },
    /// `delete element` (keys only).
    DeleteElements {
        /// Set or map name.
        collection: String,
        /// Element keys.
        keys: Vec<String>,
    },
    /// `add element`.
    AddElements {
        /// Set or map name.
        collection: String,
        /// Element key and, for maps, value.
        elements: Vec<(String, Option<String>)>,
    },
    /// `flush chain`.
    FlushChain {
        /// Chain name.
        name: String,
    },
    /// `delete chain`.
    DeleteChain {
        /// Chain name.
        name: String,
    },
    /// `delete set` / `delete map`.
    DeleteCollection {
        /// Set or map name.
        name: String,
        /// A map (else a set).
        map: bool,
    },
}

/// An ordered list of commands, applied atomically by one `nft -f`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transaction {
    /// True when this transaction recreates the whole table.
    pub full: bool,
    /// The commands, in order.
    pub ops: Vec<Op>,
}

fn kind(map: bool) -> &'static str {
    if map { "map" } else { "set" }
}

fn element_text(k: &str, v: &Option<String>) -> String {
    match v {
        Some(v) => format!("{k} : {v}"),
        None => k.to_string(),
    }
}

impl Transaction {
    /// Renders the `nft -f` script.
    pub fn render(&self) -> String {
        let t = format!("ip {TABLE}");
        let mut s = String::new();
        for op in &self.ops {
            // Writing to a String cannot fail.
            let _ = match op {
                Op::AddTable => writeln!(s, "add table {t}"),
                Op::DeleteTable => writeln!(s, "delete table {t}"),
                Op::AddChain {
                    name,
                    base: Some(b),
                } => writeln!(s, "add chain {t} {name} {{ {b} }}"),
                Op::AddChain { name, base: None } => writeln!(s, "add chain {t} {name}"),
                Op::AddCollection { name, map, spec } => {
                    writeln!(s, "add {} {t} {name} {{ {spec}; }}", kind(*map))
                }
                Op::AddRule { chain, rule } => writeln!(s, "add rule {t} {chain} {rule}"),
                Op::DeleteElements { collection, keys } => {
                    writeln!(
                        s,
                        "delete element {t} {collection} {{ {} }}",
                        keys.join(", ")
                    )
                }
                Op::AddElements {
                    collection,
                    elements,
                } => {
                    let e: Vec<String> = elements.iter().map(|(k, v)| element_text(k, v)).collect();
                    writeln!(s, "add element {t} {collection} {{ {} }}", e.join(", "))
                }
                Op::FlushChain { name } => writeln!(s, "flush chain {t} {name}"),
                Op::DeleteChain { name } => writeln!(s, "delete chain {t} {name}"),
                Op::DeleteCollection { name, map } => {
                    writeln!(s, "delete {} {t} {name}", kind(*map))
                }
            };
        }
        s
    }
}

/// Largest number of elements written in one `add/delete element` command.
const ELEMENT_BATCH: usize = 1000;

fn push_elements(ops: &mut Vec<Op>, collection: &str, elements: Vec<(String, Option<String>)>) {
    for chunk in elements.chunks(ELEMENT_BATCH) {
        ops.push(Op::AddElements {
            collection: collection.to_string(),
            elements: chunk.to_vec(),
        });
    }
}

fn push_deletes(ops: &mut Vec<Op>, collection: &str, keys: Vec<String>) {
    for chunk in keys.chunks(ELEMENT_BATCH) {
        ops.push(Op::DeleteElements {
            collection: collection.to_string(),
            keys: chunk.to_vec(),
        });
    }
}

/// The transaction that (re)creates the whole table: `add table; delete table;` then every
/// chain, set/map, element and rule. Deleting rather than flushing the table also removes
/// `lb-<n>` chains and maps that are no longer used.
pub fn full_transaction(r: &Ruleset) -> Transaction {
    let chains = chains(r);
    let cols = collections(r);
    let mut ops = vec![Op::AddTable, Op::DeleteTable, Op::AddTable];
    // Chains first (verdict-map elements name them), then maps (rules name them).
    for (name, c) in &chains {
        ops.push(Op::AddChain {
            name: name.clone(),
            base: c.base.map(str::to_string),
        });
    }
    for (name, c) in &cols {
        ops.push(Op::AddCollection {
            name: name.clone(),
            map: c.map,
            spec: c.spec.clone(),
        });
    }
    for (name, c) in &cols {
        push_elements(
            &mut ops,
            name,
            c.elements
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
    }
    for (name, c) in &chains {
        for rule in &c.rules {
            ops.push(Op::AddRule {
                chain: name.clone(),
                rule: rule.clone(),
            });
        }
    }
    Transaction { full: true, ops }
}

/// The smallest transaction turning `old` into `new`: element adds and deletes, plus the
/// `lb-<n>` chain and `backends-<n>` map when an endpoint count `n` appears or disappears.
/// Falls back to [`full_transaction`] when a fixed rule changed (the cluster CIDR).
pub fn transaction(old: &Ruleset, new: &Ruleset) -> Transaction {
    let (oc, nc) = (chains(old), chains(new));
    let (os, ns) = (collections(old), collections(new));
    let changed_chain = nc.iter().any(|(n, c)| oc.get(n).is_some_and(|o| o != c));
    let changed_spec = ns.iter().any(|(n, c)| {
        os.get(n)
            .is_some_and(|o| o.spec != c.spec || o.map != c.map)
    });
    if changed_chain || changed_spec {
        return full_transaction(new);
    }
    let mut ops = Vec::new();
    let new_chains: Vec<(&String, &Chain)> =
        nc.iter().filter(|(n, _)| !oc.contains_key(*n)).collect();
    for (name, c) in &new_chains {
        ops.push(Op::AddChain {
            name: (*name).clone(),
            base: c.base.map(str::to_string),
        });
    }
    for (name, c) in ns.iter().filter(|(n, _)| !os.contains_key(*n)) {
        ops.push(Op::AddCollection {
            name: name.clone(),
            map: c.map,
            spec: c.spec.clone(),
        });
    }
    for (name, c) in &new_chains {
        for rule in &c.rules {
            ops.push(Op::AddRule {
                chain: (*name).clone(),
                rule: rule.clone(),
            });
        }
    }
    // Deletes before adds: a changed map value is a delete plus an add.
    for (name, o) in &os {
        if let Some(n) = ns.get(name) {
            let keys: Vec<String> = o
                .elements
                .iter()
                .filter(|(k, v)| n.elements.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            push_deletes(&mut ops, name, keys);
        }
    }
    for (name, n) in &ns {
        let old_elements = os.get(name).map(|o| &o.elements);
        let adds: Vec<(String, Option<String>)> = n
            .elements
            .iter()
            .filter(|(k, v)| old_elements.and_then(|o| o.get(*k)) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        push_elements(&mut ops, name, adds);
    }
    for name in oc.keys().filter(|n| !nc.contains_key(*n)) {
        ops.push(Op::FlushChain { name: name.clone() });
        ops.push(Op::DeleteChain { name: name.clone() });
    }
    for (name, c) in os.iter().filter(|(n, _)| !ns.contains_key(*n)) {
        ops.push(Op::DeleteCollection {
            name: name.clone(),
            map: c.map,
        });
    }
    Transaction { full: false, ops }
}

/// An `nft -f` script creating the whole table.
pub fn render_full(r: &Ruleset) -> String {
    full_transaction(r).render()
}

/// An `nft -f` transaction changing only what differs between `old` and `new`.
pub fn diff(old: &Ruleset, new: &Ruleset) -> String {
    transaction(old, new).render()
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
        to: (Ipv4Addr, u16),
        /// Source NAT in postrouting.
        masquerade: bool,
    },
    /// Refused (TCP reset, or ICMP port unreachable).
    Reject,
    /// Not a Service: the table lets it pass untouched.
    Accept,
}

/// Evaluates `r` the way the kernel evaluates the rendered rules for `pkt`:
/// nat prerouting (`services`), then postrouting (`masquerading`) after a DNAT, else the
/// filter hooks (`endpoints-check`). `fib daddr type local` is modelled by the node IPs.
pub fn trace(r: &Ruleset, pkt: &Packet) -> Verdict {
    let mut mark = 0u32;
    let vip = (pkt.dst, pkt.proto, pkt.dport);
    let local = r.node_ips.contains(&pkt.dst);
    // services: the first vmap hit is a goto, so the second rule is not reached.
    let dnat = if let Some(&n) = r.service_ips.get(&vip) {
        if !r.cluster_cidr.contains(&pkt.src) {
            mark |= MASQUERADE_MARK;
        }
        r.backends
            .get(&n)
            .and_then(|m| m.get(&(vip, pkt.random % n)))
            .copied()
    } else if let Some(&n) = local
        .then(|| r.nodeports.get(&(pkt.proto, pkt.dport)))
        .flatten()
    {
        mark |= MASQUERADE_MARK;
        r.nodeport_backends
            .get(&n)
            .and_then(|m| m.get(&((pkt.proto, pkt.dport), pkt.random % n)))
            .copied()
    } else {
        None
    };
    if let Some(to) = dnat {
        // masquerading: the mark, or ct status dnat with saddr . daddr in @hairpin.
        let hairpin = pkt.src == to.0 && r.hairpin.contains(&to.0);
        return Verdict::Dnat {
            to,
            masquerade: mark & MASQUERADE_MARK != 0 || hairpin,
        };
    }
    // filter hooks, ct state new: endpoints-check.
    if r.no_endpoints.contains(&vip)
        || (local && r.no_endpoint_nodeports.contains(&(pkt.proto, pkt.dport)))
    {
        return Verdict::Reject;
    }
    Verdict::Accept
}

#[cfg(test)]
mod tests;
