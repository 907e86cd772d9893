//! Rendering a [`Ruleset`] as named chains and collections, and the `nft -f` transactions that
//! create it ([`full_transaction`]) or change it element by element ([`transaction`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::{
    Backend, DEFAULT_AFFINITY_TIMEOUT, Dest, MASQUERADE_MARK, NoEndpoints, Protocol, Route,
    Ruleset, TABLE,
};

/// Size of the dynamic `affinity` map: one entry per client and sticky destination
/// (kube-proxy's per-endpoint sets hold 65535 each). When full, new clients are not sticky.
pub(crate) const AFFINITY_SIZE: u32 = 1 << 20;

/// A chain: base chains carry their hook spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    /// `type nat hook prerouting priority dstnat; policy accept;` for base chains.
    pub(crate) base: Option<&'static str>,
    pub(crate) rules: Vec<String>,
}

/// A named set or map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Collection {
    pub(crate) map: bool,
    pub(crate) spec: String,
    /// key -> value (None for sets).
    pub(crate) elements: BTreeMap<String, Option<String>>,
}

fn lb_chain(local: bool, n: usize) -> String {
    if local {
        format!("local-lb-{n}")
    } else {
        format!("lb-{n}")
    }
}
fn backends_map(local: bool, n: usize) -> String {
    if local {
        format!("local-backends-{n}")
    } else {
        format!("backends-{n}")
    }
}
fn affinity_chain(timeout: u32) -> String {
    format!("affinity-{timeout}")
}
fn dest_text(d: &Dest) -> String {
    format!("{} . {} . {}", d.0, d.1.nft(), d.2)
}
fn backend_text(b: &Backend) -> String {
    format!("{} . {}", b.0, b.1)
}
fn route_chain(r: Route) -> &'static str {
    match r {
        Route::ClusterIp { local: false } => "cluster-ip",
        Route::ClusterIp { local: true } => "cluster-ip-local",
        Route::External => "external",
        Route::ExternalLocal => "external-local",
    }
}

/// The packet's destination as the nat hooks see it (before DNAT).
const DEST: &str = "ip daddr . meta l4proto . th dport";
/// The connection's original destination, after DNAT (`ct original proto-dst` needs the
/// protocol in context, hence one rule per protocol).
const ORIGINAL_DEST: &str = "ct original ip daddr . meta l4proto . ct original proto-dst";

pub(crate) fn chains(r: &Ruleset) -> BTreeMap<String, Chain> {
    let mut c = BTreeMap::new();
    let mut base = |name: &str, spec: &'static str, rules: &[&str]| {
        c.insert(
            name.to_string(),
            Chain {
                base: Some(spec),
                rules: rules.iter().map(|r| r.to_string()).collect(),
            },
        );
    };
    base(
        "nat-prerouting",
        "type nat hook prerouting priority dstnat; policy accept;",
        &["jump services"],
    );
    base(
        "nat-output",
        "type nat hook output priority -100; policy accept;",
        &["jump services"],
    );
    base(
        "nat-postrouting",
        "type nat hook postrouting priority srcnat; policy accept;",
        &["jump masquerading"],
    );
    // After the nat hooks: packets not DNATed meet endpoints-check, DNATed ones affinity-check.
    let filter = [
        "ct state new jump endpoints-check",
        "ct state new ct status dnat jump affinity-check",
    ];
    base(
        "filter-input",
        "type filter hook input priority -10; policy accept;",
        &filter,
    );
    base(
        "filter-forward",
        "type filter hook forward priority -10; policy accept;",
        &filter,
    );
    base(
        "filter-output",
        "type filter hook output priority -10; policy accept;",
        &filter,
    );
    let mut plain = |name: &str, rules: Vec<String>| {
        c.insert(name.to_string(), Chain { base: None, rules });
    };
    let mark = format!("meta mark set meta mark | {MASQUERADE_MARK:#x}");
    let cidr = r.cluster_cidr;
    plain("services", vec![format!("{DEST} vmap @service-ips")]);
    // proxier.go: off-cluster traffic to a cluster IP is masqueraded ("you can establish a
    // static route for your Service range, routing to any node").
    plain(
        "cluster-ip",
        vec![
            format!("ip saddr != {cidr} {mark}"),
            "goto cluster-endpoints".into(),
        ],
    );
    plain(
        "cluster-ip-local",
        vec![
            format!("ip saddr != {cidr} {mark}"),
            "goto local-endpoints".into(),
        ],
    );
    // proxier.go's external chain: with policy Cluster, masquerade (the endpoint may be on
    // another node); with policy Local keep the source, except for pods (short-circuit to
    // all endpoints, as if the traffic went out to the load balancer and came back) and the
    // node itself (masqueraded, as the LB IP it would use as source is local).
    plain(
        "external",
        vec![mark.clone(), "goto cluster-endpoints".into()],
    );
    plain(
        "external-local",
        vec![
            format!("ip saddr {cidr} goto cluster-endpoints"),
            format!("fib saddr type local {mark} goto cluster-endpoints"),
            "goto local-endpoints".into(),
        ],
    );
    let sticky = format!(
        "{DEST} @affinity-timeouts dnat ip to ip saddr . ip daddr . meta l4proto . th dport map @affinity"
    );
    plain(
        "cluster-endpoints",
        vec![sticky.clone(), format!("{DEST} vmap @cluster-lb")],
    );
    plain(
        "local-endpoints",
        vec![sticky, format!("{DEST} vmap @local-lb")],
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
        vec![format!("{DEST} vmap @no-endpoint-services")],
    );
    plain(
        "reject-chain",
        vec![
            "meta l4proto tcp reject with tcp reset".into(),
            "reject".into(),
        ],
    );
    plain(
        "affinity-check",
        Protocol::ALL
            .iter()
            .map(|p| {
                format!(
                    "meta l4proto {} {ORIGINAL_DEST} vmap @affinity-timeouts",
                    p.nft()
                )
            })
            .collect(),
    );
    let key = format!("ip saddr . {ORIGINAL_DEST}");
    for &t in r.timeouts.keys() {
        let mut rules: Vec<String> = Protocol::ALL
            .iter()
            .map(|p| {
                format!(
                    "meta l4proto {} {ORIGINAL_DEST} . ip daddr . th dport != @affinity-backends \
                     delete @affinity {{ {key} : ip daddr . th dport }} drop",
                    p.nft()
                )
            })
            .collect();
        rules.extend(Protocol::ALL.iter().map(|p| {
            format!(
                "meta l4proto {} update @affinity {{ {key} timeout {t}s : ip daddr . th dport }}",
                p.nft()
            )
        }));
        plain(&affinity_chain(t), rules);
    }
    for (local, sizes) in [(false, &r.cluster_sizes), (true, &r.local_sizes)] {
        for &n in sizes.keys() {
            plain(
                &lb_chain(local, n),
                vec![format!(
                    "dnat ip to {DEST} . numgen random mod {n} map @{}",
                    backends_map(local, n)
                )],
            );
        }
    }
    c
}

pub(crate) fn collections(r: &Ruleset) -> BTreeMap<String, Collection> {
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
    let dest_verdict = "type ipv4_addr . inet_proto . inet_service : verdict".to_string();
    add(
        "service-ips".into(),
        true,
        dest_verdict.clone(),
        r.routes
            .iter()
            .map(|(d, route)| (dest_text(d), Some(format!("goto {}", route_chain(*route)))))
            .collect(),
    );
    add(
        "no-endpoint-services".into(),
        true,
        dest_verdict.clone(),
        r.no_endpoints
            .iter()
            .map(|(d, v)| {
                let verdict = match v {
                    NoEndpoints::Reject => "goto reject-chain",
                    NoEndpoints::Drop => "drop",
                };
                (dest_text(d), Some(verdict.to_string()))
            })
            .collect(),
    );
    add(
        "affinity-timeouts".into(),
        true,
        dest_verdict.clone(),
        r.affinity
            .iter()
            .map(|(d, t)| (dest_text(d), Some(format!("goto {}", affinity_chain(*t)))))
            .collect(),
    );
    add(
        "affinity-backends".into(),
        false,
        "type ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service".into(),
        r.affinity
            .keys()
            .flat_map(|d| {
                r.affinity_backends(d)
                    .into_iter()
                    .map(move |b| (format!("{} . {}", dest_text(d), backend_text(&b)), None))
            })
            .collect(),
    );
    add(
        "affinity".into(),
        true,
        format!(
            "type ipv4_addr . ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; \
             flags dynamic,timeout; timeout {DEFAULT_AFFINITY_TIMEOUT}s; size {AFFINITY_SIZE}"
        ),
        BTreeMap::new(),
    );
    add(
        "hairpin".into(),
        false,
        "type ipv4_addr . ipv4_addr".into(),
        r.hairpin
            .keys()
            .map(|ip| (format!("{ip} . {ip}"), None))
            .collect(),
    );
    for (local, views, sizes, dispatch) in [
        (false, &r.cluster, &r.cluster_sizes, "cluster-lb"),
        (true, &r.local, &r.local_sizes, "local-lb"),
    ] {
        add(
            dispatch.into(),
            true,
            dest_verdict.clone(),
            views
                .iter()
                .map(|(d, eps)| {
                    (
                        dest_text(d),
                        Some(format!("goto {}", lb_chain(local, eps.len()))),
                    )
                })
                .collect(),
        );
        // One map per endpoint count in use in the whole table (`sizes`), also when `r` is a
        // part holding only a few destinations (see `part`).
        let mut by_count: BTreeMap<usize, BTreeMap<String, Option<String>>> =
            sizes.keys().map(|n| (*n, BTreeMap::new())).collect();
        for (d, eps) in views {
            let m = by_count.entry(eps.len()).or_default();
            for (i, b) in eps.iter().enumerate() {
                m.insert(format!("{} . {i}", dest_text(d)), Some(backend_text(b)));
            }
        }
        for (n, elements) in by_count {
            add(
                backends_map(local, n),
                true,
                format!("typeof {DEST} . numgen random mod {n} : ip daddr . th dport"),
                elements,
            );
        }
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
        /// `type ...` / `typeof ...`, with flags.
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

pub(crate) fn element_text(k: &str, v: &Option<String>) -> String {
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
/// `lb-<n>` chains and maps that are no longer used (and empties `affinity`).
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
/// `lb-<n>` / `local-lb-<n>` chain and map when an endpoint count `n` appears or disappears,
/// and the `affinity-<seconds>` chain when a timeout does. Falls back to [`full_transaction`]
/// when a fixed rule changed (the cluster CIDR).
///
/// The destinations whose entries differ are found by comparing the two typed rulesets (a walk
/// over both); only their elements are rendered and compared. [`Proxier`](crate::Proxier)
/// knows the changed destinations without that walk and goes straight to the same `delta`.
pub fn transaction(old: &Ruleset, new: &Ruleset) -> Transaction {
    let dests = changed_dests(old, new);
    let removed = old
        .hairpin
        .keys()
        .filter(|ip| !new.hairpin.contains_key(*ip))
        .copied()
        .collect();
    let added = new
        .hairpin
        .keys()
        .filter(|ip| !old.hairpin.contains_key(*ip))
        .copied()
        .collect();
    delta(&part(old, &dests, removed), &part(new, &dests, added))
        .unwrap_or_else(|| full_transaction(new))
}

/// The transaction between two parts (see [`part`]) of the same destinations: `old` as
/// programmed, `new` as desired, each with its whole table's counters (so its chains and
/// collections are the whole table's) and only the changed destinations' entries and hairpin
/// addresses. None when a fixed rule or a collection's type changed: that needs a full
/// transaction.
pub(crate) fn delta(old: &Ruleset, new: &Ruleset) -> Option<Transaction> {
    let (oc, nc) = (chains(old), chains(new));
    let (os, ns) = (collections(old), collections(new));
    let changed_chain = nc.iter().any(|(n, c)| oc.get(n).is_some_and(|o| o != c));
    let changed_spec = ns.iter().any(|(n, c)| {
        os.get(n)
            .is_some_and(|o| o.spec != c.spec || o.map != c.map)
    });
    if changed_chain || changed_spec {
        return None;
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
    // (Elements of a collection that goes away go with it.)
    for (name, o) in os.iter().filter(|(n, _)| ns.contains_key(*n)) {
        let new_elements = ns.get(name).map(|n| &n.elements);
        let keys: Vec<String> = o
            .elements
            .iter()
            .filter(|(k, v)| new_elements.and_then(|n| n.get(*k)) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        push_deletes(&mut ops, name, keys);
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
    Some(Transaction { full: false, ops })
}

/// Destinations whose route, endpoints, no-endpoint verdict or affinity differ.
fn changed_dests(old: &Ruleset, new: &Ruleset) -> BTreeSet<Dest> {
    fn diff<V: PartialEq>(a: &BTreeMap<Dest, V>, b: &BTreeMap<Dest, V>, out: &mut BTreeSet<Dest>) {
        for (d, v) in a {
            if b.get(d) != Some(v) {
                out.insert(*d);
            }
        }
        for (d, v) in b {
            if a.get(d) != Some(v) {
                out.insert(*d);
            }
        }
    }
    let mut out = BTreeSet::new();
    diff(&old.routes, &new.routes, &mut out);
    diff(&old.cluster, &new.cluster, &mut out);
    diff(&old.local, &new.local, &mut out);
    diff(&old.no_endpoints, &new.no_endpoints, &mut out);
    diff(&old.affinity, &new.affinity, &mut out);
    out
}

/// A part of `r`: its frame (cluster CIDR and counters, so the same chains and collections as
/// `r`) with the entries of `dests` only and `hairpin` as its hairpin set. Rendering it gives
/// `r`'s chains and collections with exactly those destinations' elements.
pub(crate) fn part(r: &Ruleset, dests: &BTreeSet<Dest>, hairpin: BTreeSet<Ipv4Addr>) -> Ruleset {
    let mut p = r.frame();
    for d in dests {
        p.add_to_part(*d, r.dest_entry(d));
    }
    p.hairpin = hairpin.into_iter().map(|ip| (ip, 1)).collect();
    p
}

impl Ruleset {
    /// Adds a destination's entries to a part, leaving its counters (the whole table's) alone.
    pub(crate) fn add_to_part(&mut self, d: Dest, e: crate::DestEntry) {
        if let Some(route) = e.route {
            self.routes.insert(d, route);
        }
        if let Some(eps) = e.cluster {
            self.cluster.insert(d, eps);
        }
        if let Some(eps) = e.local {
            self.local.insert(d, eps);
        }
        if let Some(v) = e.no_endpoints {
            self.no_endpoints.insert(d, v);
        }
        if let Some(t) = e.affinity {
            self.affinity.insert(d, t);
        }
    }
}

/// An `nft -f` script creating the whole table.
pub fn render_full(r: &Ruleset) -> String {
    full_transaction(r).render()
}

/// An `nft -f` transaction changing only what differs between `old` and `new`.
pub fn diff(old: &Ruleset, new: &Ruleset) -> String {
    transaction(old, new).render()
}
