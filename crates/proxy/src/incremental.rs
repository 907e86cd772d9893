//! [`Proxier`]: the table kept up to date one Service port at a time, at a cost that follows the
//! change, not the number of Services.
//!
//! kube-proxy's nftables proxier does the same with its partial syncs
//! (pkg/proxy/nftables/proxier.go `syncProxyRules`: when `tryPartialSync`, only the service
//! ports in the change trackers' `serviceChanged`/`endpointsChanged` sets get their chains and
//! elements rewritten). Here the unit is a destination (`ip . protocol . port`): each one's
//! entries depend only on the Service port that owns it ([`crate::compute`]'s rules: cluster
//! IPs first, then node ports, then external addresses, the first port in key order winning a
//! destination claimed twice). An index of who claims what settles ownership with a few map
//! lookups, so a change re-derives only the destinations it can affect:
//!
//! ```text
//!  changed keys ─► old and new claims ─► their destinations
//!                  cluster IP group's first port changed ─► that port's node port and external
//!                                                           destinations (it came in or went out)
//!                  a cluster IP on a node address ─► that protocol . port's node port destinations
//!  each destination: owner (index) ─► entries (dest_entry) ─► Ruleset, and the old/new parts
//!  the ports claiming those destinations ─► their conflicts again
//!  old part, new part ─► nft::delta ─► Transaction
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::nft::{self, Transaction, full_transaction};
use crate::{
    Categorized, Conflict, Dest, DestEntry, Kind, Phase, Protocol, Ruleset, ServicePort,
    ServicePortKey, Snapshot, categorize, compute, dest_entry,
};

/// The destinations a Service port asks for, before conflicts are settled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claims {
    /// `cluster ip . protocol . port`.
    cluster: Dest,
    /// `protocol . node port`, asked for on every node address.
    node_port: Option<(Protocol, u16)>,
    /// External and LoadBalancer IPs with the port, in the port's order (conflicts are
    /// numbered by it); repetitions kept.
    external: Vec<Dest>,
}

impl Claims {
    fn of(sp: &ServicePort) -> Claims {
        Claims {
            cluster: (sp.cluster_ip, sp.protocol, sp.port),
            node_port: sp.node_port.map(|np| (sp.protocol, np)),
            external: sp
                .external_ips
                .iter()
                .chain(&sp.load_balancer_ips)
                .map(|ip| (*ip, sp.protocol, sp.port))
                .collect(),
        }
    }
}

/// Who claims which destination, for every Service port of the snapshot (placed or not).
#[derive(Debug, Clone, Default)]
struct Index {
    claims: BTreeMap<ServicePortKey, Claims>,
    /// Cluster destination -> the ports whose cluster IP it is. The first one is placed; the
    /// others are left out whole (`Conflict::ClusterIp`).
    by_cluster: BTreeMap<Dest, BTreeSet<ServicePortKey>>,
    /// `protocol . node port` -> the ports asking for it.
    by_node_port: BTreeMap<(Protocol, u16), BTreeSet<ServicePortKey>>,
    /// External destination -> the ports listing it.
    by_external: BTreeMap<Dest, BTreeSet<ServicePortKey>>,
}

fn index_add<K: Ord>(m: &mut BTreeMap<K, BTreeSet<ServicePortKey>>, k: K, key: &ServicePortKey) {
    m.entry(k).or_default().insert(key.clone());
}

fn index_remove<K: Ord>(m: &mut BTreeMap<K, BTreeSet<ServicePortKey>>, k: K, key: &ServicePortKey) {
    if let std::collections::btree_map::Entry::Occupied(mut e) = m.entry(k) {
        e.get_mut().remove(key);
        if e.get().is_empty() {
            e.remove();
        }
    }
}

impl Index {
    fn build(s: &Snapshot) -> Index {
        let mut ix = Index::default();
        for (key, (sp, _)) in &s.services {
            ix.add(key, Claims::of(sp));
        }
        ix
    }

    fn add(&mut self, key: &ServicePortKey, c: Claims) {
        index_add(&mut self.by_cluster, c.cluster, key);
        if let Some(np) = c.node_port {
            index_add(&mut self.by_node_port, np, key);
        }
        for d in &c.external {
            index_add(&mut self.by_external, *d, key);
        }
        self.claims.insert(key.clone(), c);
    }

    fn remove(&mut self, key: &ServicePortKey) -> Option<Claims> {
        let c = self.claims.remove(key)?;
        index_remove(&mut self.by_cluster, c.cluster, key);
        if let Some(np) = c.node_port {
            index_remove(&mut self.by_node_port, np, key);
        }
        for d in &c.external {
            index_remove(&mut self.by_external, *d, key);
        }
        Some(c)
    }

    /// The port placed on cluster destination `d`: the first claimant in key order.
    fn cluster_owner(&self, d: &Dest) -> Option<&ServicePortKey> {
        self.by_cluster.get(d).and_then(|s| s.first())
    }

    /// The port is placed: its cluster destination is its own (else it is left out whole).
    fn placed(&self, key: &ServicePortKey) -> bool {
        self.claims
            .get(key)
            .is_some_and(|c| self.cluster_owner(&c.cluster) == Some(key))
    }

    /// A cluster IP on a node address takes `protocol . node port` from every node port.
    fn node_port_blocked(&self, node_ips: &BTreeSet<Ipv4Addr>, (p, np): (Protocol, u16)) -> bool {
        node_ips
            .iter()
            .any(|ip| self.by_cluster.contains_key(&(*ip, p, np)))
    }

    /// The port serving `protocol . node port`: the first placed claimant, unless blocked.
    /// (All claimants of one node port ask for the same destinations, so the first placed one
    /// takes them all or, when a cluster IP holds one of them, nobody does.)
    fn node_port_owner(
        &self,
        node_ips: &BTreeSet<Ipv4Addr>,
        np: (Protocol, u16),
    ) -> Option<&ServicePortKey> {
        if node_ips.is_empty() || self.node_port_blocked(node_ips, np) {
            return None;
        }
        self.by_node_port.get(&np)?.iter().find(|k| self.placed(k))
    }

    /// Who owns destination `d`, and how: `compute`'s claim order, by lookups.
    fn owner(&self, node_ips: &BTreeSet<Ipv4Addr>, d: &Dest) -> Option<(&ServicePortKey, Kind)> {
        if let Some(k) = self.cluster_owner(d) {
            return Some((k, Kind::ClusterIp));
        }
        if node_ips.contains(&d.0)
            && let Some(k) = self.node_port_owner(node_ips, (d.1, d.2))
        {
            return Some((k, Kind::External));
        }
        self.by_external
            .get(d)?
            .iter()
            .find(|k| self.placed(k))
            .map(|k| (k, Kind::External))
    }

    /// Every destination `c` asks for.
    fn dests_of(&self, node_ips: &BTreeSet<Ipv4Addr>, c: &Claims, out: &mut BTreeSet<Dest>) {
        out.insert(c.cluster);
        if let Some((p, np)) = c.node_port {
            out.extend(node_ips.iter().map(|ip| (*ip, p, np)));
        }
        out.extend(c.external.iter().copied());
    }

    /// Every port claiming `d` in any way: those whose conflicts may change with its owner.
    fn claimants_of(
        &self,
        node_ips: &BTreeSet<Ipv4Addr>,
        d: &Dest,
        out: &mut BTreeSet<ServicePortKey>,
    ) {
        out.extend(self.by_cluster.get(d).into_iter().flatten().cloned());
        out.extend(self.by_external.get(d).into_iter().flatten().cloned());
        if node_ips.contains(&d.0) {
            out.extend(
                self.by_node_port
                    .get(&(d.1, d.2))
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }

    /// The conflicts of port `key` (with Service name `service`), as `compute` reports them.
    fn conflicts_of(
        &self,
        node_ips: &BTreeSet<Ipv4Addr>,
        key: &ServicePortKey,
        sp: &ServicePort,
    ) -> Vec<((Phase, ServicePortKey, usize), Conflict)> {
        let Some(c) = self.claims.get(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if !self.placed(key) {
            out.push((
                (Phase::ClusterIp, key.clone(), 0),
                Conflict::ClusterIp {
                    service: sp.service.clone(),
                    ip: sp.cluster_ip,
                    port: sp.port,
                    protocol: sp.protocol,
                },
            ));
            return out;
        }
        // No node address, no node port destination, so nothing to conflict on.
        if let Some(np) = c.node_port.filter(|_| !node_ips.is_empty())
            && self.node_port_owner(node_ips, np) != Some(key)
        {
            out.push((
                (Phase::NodePort, key.clone(), 0),
                Conflict::NodePort {
                    service: sp.service.clone(),
                    port: np.1,
                    protocol: np.0,
                },
            ));
        }
        for (i, d) in c.external.iter().enumerate() {
            if self.owner(node_ips, d).map(|(k, _)| k) != Some(key) {
                out.push((
                    (Phase::External, key.clone(), i),
                    Conflict::External {
                        service: sp.service.clone(),
                        ip: d.0,
                        port: d.2,
                        protocol: d.1,
                    },
                ));
            }
        }
        out
    }
}

/// The table and the index behind it.
#[derive(Debug, Clone)]
struct State {
    ruleset: Ruleset,
    index: Index,
}

/// What [`Proxier::apply`] or [`Proxier::apply_full`] changed: the input of
/// [`Proxier::transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    kind: ChangesKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ChangesKind {
    /// The whole table is new: a full transaction recreates it.
    Full,
    /// The changed destinations' entries before and after, each in a frame of its whole table
    /// (see `nft::part`).
    Partial {
        old: Box<Ruleset>,
        new: Box<Ruleset>,
        destinations: usize,
    },
}

impl Changes {
    /// True when the whole table is to be recreated.
    pub fn is_full(&self) -> bool {
        self.kind == ChangesKind::Full
    }

    /// Number of destinations whose entries changed (0 for a full change).
    pub fn destinations(&self) -> usize {
        match &self.kind {
            ChangesKind::Full => 0,
            ChangesKind::Partial { destinations, .. } => *destinations,
        }
    }
}

/// The service proxy's table, kept up to date one Service port at a time.
///
/// ```text
///  start, failure ─► apply_full(&snapshot) ──┐
///  a few changed ports ─► apply(&snapshot, &changed) ─┴─► Changes ─► transaction() ─► nft -f
/// ```
///
/// [`Proxier::ruleset`] is always [`compute`] of the last snapshot given. A transaction
/// turns the table programmed after the previous one into this one; if the kernel refuses one,
/// the table is unknown and the next step must be [`Proxier::apply_full`] (kube-proxy: a failed
/// sync forces a full one). The snapshot may be the caller's own, changed in place between
/// calls, as long as every Service port added, removed or changed since the previous call is
/// in `changed`.
#[derive(Debug, Clone, Default)]
pub struct Proxier {
    state: Option<State>,
}

impl Proxier {
    /// A proxier with no table yet: the first step is a full one.
    pub fn new() -> Proxier {
        Proxier::default()
    }

    /// The desired table after the last step (None before the first).
    pub fn ruleset(&self) -> Option<&Ruleset> {
        self.state.as_ref().map(|s| &s.ruleset)
    }

    /// Recomputes everything from `s` ([`compute`] and the index): O(Services).
    pub fn apply_full(&mut self, s: &Snapshot) -> Changes {
        self.state = Some(State {
            ruleset: compute(s),
            index: Index::build(s),
        });
        Changes {
            kind: ChangesKind::Full,
        }
    }

    /// Takes in the Service ports of `changed` (added, removed or changed in `s` since the
    /// last step; keys that did not change are harmless), in time proportional to the change:
    /// O(log Services) per destination involved. Falls back to [`Proxier::apply_full`] before
    /// the first step and when the cluster CIDR or the node addresses changed (every node port
    /// and the fixed rules depend on them).
    pub fn apply(&mut self, s: &Snapshot, changed: &BTreeSet<ServicePortKey>) -> Changes {
        let node_ips: BTreeSet<Ipv4Addr> = s.node_ips.iter().copied().collect();
        let Some(st) = self.state.as_mut().filter(|st| {
            st.ruleset.cluster_cidr == s.cluster_cidr && st.ruleset.node_ips == node_ips
        }) else {
            return self.apply_full(s);
        };
        let State { ruleset, index } = st;
        let before = ruleset.frame();

        // 1. The index: old claims out, new ones in; every destination either asked for.
        let mut dests: BTreeSet<Dest> = BTreeSet::new();
        let mut ports: BTreeSet<ServicePortKey> = BTreeSet::new();
        // Cluster destinations whose claimants changed -> the port placed there before.
        let mut groups: BTreeMap<Dest, Option<ServicePortKey>> = BTreeMap::new();
        for key in changed {
            let new = s.services.get(key).map(|(sp, _)| Claims::of(sp));
            for c in index.claims.get(key).iter().copied().chain(new.as_ref()) {
                groups
                    .entry(c.cluster)
                    .or_insert_with(|| index.cluster_owner(&c.cluster).cloned());
                index.dests_of(&node_ips, c, &mut dests);
            }
            index.remove(key);
            if let Some(c) = new {
                index.add(key, c);
            }
            ports.insert(key.clone());
        }
        // 2. A port that came into or went out of its cluster IP group takes its node port and
        // external destinations with it. A cluster IP on a node address may block or free
        // that protocol . port's node port.
        for (group, placed_before) in groups {
            let placed_now = index.cluster_owner(&group).cloned();
            if placed_before != placed_now {
                for p in placed_before.into_iter().chain(placed_now) {
                    if let Some(c) = index.claims.get(&p) {
                        index.dests_of(&node_ips, c, &mut dests);
                    }
                    ports.insert(p);
                }
            }
            if node_ips.contains(&group.0) {
                dests.extend(node_ips.iter().map(|ip| (*ip, group.1, group.2)));
            }
        }

        // 3. Each destination's entries from its owner, now. Categorized once per port.
        let mut categorized: BTreeMap<&ServicePortKey, Categorized> = BTreeMap::new();
        let mut entries: Vec<(Dest, DestEntry, DestEntry)> = Vec::new();
        for d in &dests {
            index.claimants_of(&node_ips, d, &mut ports);
            let new = match index.owner(&node_ips, d) {
                Some((key, kind)) => match s.services.get_key_value(key) {
                    Some((key, (sp, eps))) => {
                        let c = categorized.entry(key).or_insert_with(|| categorize(eps));
                        dest_entry(sp, c, kind)
                    }
                    // Indexed but not in the snapshot: the caller left it out of `changed`.
                    None => DestEntry::default(),
                },
                None => DestEntry::default(),
            };
            let old = ruleset.dest_entry(d);
            if old != new {
                entries.push((*d, old, new));
            }
        }
        // Hairpin addresses: present before the change, for those the change touches.
        let mut hairpin: BTreeMap<Ipv4Addr, bool> = BTreeMap::new();
        for (_, old, new) in &entries {
            for ip in old.endpoint_ips().chain(new.endpoint_ips()) {
                hairpin
                    .entry(ip)
                    .or_insert_with(|| ruleset.hairpin.contains_key(&ip));
            }
        }
        let destinations = entries.len();
        let mut old_part = before;
        for (d, _, new) in &entries {
            let old = ruleset.remove_dest(d);
            old_part.add_to_part(*d, old);
            ruleset.insert_dest(*d, new.clone());
        }
        let mut new_part = ruleset.frame();
        for (d, _, new) in entries {
            new_part.add_to_part(d, new);
        }
        for (ip, was) in hairpin {
            match (was, ruleset.hairpin.contains_key(&ip)) {
                (true, false) => {
                    old_part.hairpin.insert(ip, 1);
                }
                (false, true) => {
                    new_part.hairpin.insert(ip, 1);
                }
                _ => {}
            }
        }

        // 4. Conflicts of every port whose destinations' owners may have changed.
        for key in &ports {
            for k in ruleset.conflict_keys_of(key) {
                ruleset.conflicts.remove(&k);
            }
            if let Some((sp, _)) = s.services.get(key) {
                ruleset
                    .conflicts
                    .extend(index.conflicts_of(&node_ips, key, sp));
            }
        }
        Changes {
            kind: ChangesKind::Partial {
                old: Box::new(old_part),
                new: Box::new(new_part),
                destinations,
            },
        }
    }

    /// The `nft -f` transaction for `changes`, the last step's result: element adds and
    /// deletes for a partial change (chains and maps when an endpoint count or an affinity
    /// timeout comes or goes), the whole table for a full one.
    pub fn transaction(&self, changes: &Changes) -> Transaction {
        let Some(st) = &self.state else {
            return Transaction::default();
        };
        match &changes.kind {
            ChangesKind::Full => full_transaction(&st.ruleset),
            ChangesKind::Partial { old, new, .. } => {
                nft::delta(old, new).unwrap_or_else(|| full_transaction(&st.ruleset))
            }
        }
    }

    /// [`Proxier::apply_full`], then its transaction.
    pub fn full(&mut self, s: &Snapshot) -> Transaction {
        let c = self.apply_full(s);
        self.transaction(&c)
    }

    /// [`Proxier::apply`], then its transaction.
    pub fn update(&mut self, s: &Snapshot, changed: &BTreeSet<ServicePortKey>) -> Transaction {
        let c = self.apply(s, changed);
        self.transaction(&c)
    }
}
