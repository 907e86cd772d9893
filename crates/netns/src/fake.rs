//! [`FakeDataplane`]: a [`Dataplane`] that records every call as an [`Op`], keeps a small model of namespaces,
//! links, addresses and routes (so reads answer and mistakes fail as the kernel would), and fails on demand.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;

use crate::netns::{sysctl_path, validate_name};
use crate::spec::{BridgeSpec, FdbEntry, LinkState, NeighborEntry, RouteSpec, VethSpec, VxlanSpec};
use crate::{Dataplane, NetnsError};

/// One recorded [`Dataplane`] call, named after the method, with its arguments as fields (`ns` is the namespace
/// the call acts in). Reads (`links`, `addresses`) are not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // Fields: the arguments of the method of the same name, documented on `Dataplane`.
pub enum Op {
    /// [`Dataplane::create_netns`].
    CreateNetns { name: String },
    /// [`Dataplane::delete_netns`].
    DeleteNetns { name: String },
    /// [`Dataplane::create_bridge`].
    CreateBridge { ns: String, bridge: BridgeSpec },
    /// [`Dataplane::create_veth_pair`].
    CreateVethPair { ns: String, veth: VethSpec },
    /// [`Dataplane::create_vxlan`].
    CreateVxlan { ns: String, vxlan: VxlanSpec },
    /// [`Dataplane::attach_to_bridge`].
    AttachToBridge {
        ns: String,
        link: String,
        bridge: String,
    },
    /// [`Dataplane::set_up`].
    SetUp { ns: String, link: String },
    /// [`Dataplane::set_mtu`].
    SetMtu { ns: String, link: String, mtu: u32 },
    /// [`Dataplane::add_address`].
    AddAddress {
        ns: String,
        link: String,
        addr: IpNet,
    },
    /// [`Dataplane::delete_address`].
    DeleteAddress {
        ns: String,
        link: String,
        addr: IpNet,
    },
    /// [`Dataplane::add_route`].
    AddRoute { ns: String, route: RouteSpec },
    /// [`Dataplane::delete_route`].
    DeleteRoute { ns: String, route: RouteSpec },
    /// [`Dataplane::add_fdb_entry`].
    AddFdbEntry { ns: String, entry: FdbEntry },
    /// [`Dataplane::delete_fdb_entry`].
    DeleteFdbEntry { ns: String, entry: FdbEntry },
    /// [`Dataplane::add_neighbor`].
    AddNeighbor { ns: String, entry: NeighborEntry },
    /// [`Dataplane::delete_neighbor`].
    DeleteNeighbor { ns: String, entry: NeighborEntry },
    /// [`Dataplane::delete_link`].
    DeleteLink { ns: String, link: String },
    /// [`Dataplane::set_sysctl`].
    SetSysctl {
        ns: String,
        key: String,
        value: String,
    },
    /// [`Dataplane::nft_apply`].
    NftApply { ns: String, script: String },
}

type Matcher = Box<dyn Fn(&Op) -> bool + Send>;

/// A recording [`Dataplane`] for unit tests of its callers.
///
/// Every call is appended to [`FakeDataplane::ops`] (failed ones too), then checked against the injected failures
/// ([`FakeDataplane::fail_when`], each used once), then applied to the model, which fails like the kernel does:
/// [`NetnsError::NotFound`] for a missing namespace, [`NetnsError::LinkNotFound`] for a missing link,
/// [`NetnsError::LinkKindMismatch`], and a `EEXIST` netlink error when a veth peer name is taken.
#[derive(Default)]
pub struct FakeDataplane {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    ops: Vec<Op>,
    failures: Vec<(Matcher, NetnsError)>,
    namespaces: BTreeMap<String, FakeNs>,
    next_index: u32,
}

#[derive(Default)]
struct FakeNs {
    links: BTreeMap<String, FakeLink>,
    routes: Vec<RouteSpec>,
    fdb: Vec<FdbEntry>,
    neighbors: Vec<NeighborEntry>,
    sysctls: BTreeMap<String, String>,
    nft: Vec<String>,
}

struct FakeLink {
    state: LinkState,
    addresses: Vec<IpNet>,
    /// The other end of a veth: (namespace, name).
    peer: Option<(String, String)>,
}

impl std::fmt::Debug for FakeDataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("FakeDataplane")
            .field("ops", &state.ops)
            .field("namespaces", &state.namespaces.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl FakeDataplane {
    /// An empty fake: no namespace exists.
    pub fn new() -> Self {
        FakeDataplane::default()
    }

    /// Adds a namespace that exists before the code under test runs (e.g. the world's), without recording it.
    pub fn with_netns(self, name: &str) -> Self {
        self.lock().add_ns(name);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The calls so far, in order.
    pub fn ops(&self) -> Vec<Op> {
        self.lock().ops.clone()
    }

    /// The calls so far, clearing the record.
    pub fn take_ops(&self) -> Vec<Op> {
        std::mem::take(&mut self.lock().ops)
    }

    /// Makes the next call matching `matches` fail with `error` (once; register several for several failures).
    pub fn fail_when(&self, matches: impl Fn(&Op) -> bool + Send + 'static, error: NetnsError) {
        self.lock().failures.push((Box::new(matches), error));
    }

    /// The names of the namespaces in the model.
    pub fn netns_names(&self) -> Vec<String> {
        self.lock().namespaces.keys().cloned().collect()
    }

    /// The routes of `ns` in the model.
    pub fn routes(&self, ns: &str) -> Vec<RouteSpec> {
        self.lock()
            .namespaces
            .get(ns)
            .map(|n| n.routes.clone())
            .unwrap_or_default()
    }

    /// The FDB entries of `ns` in the model.
    pub fn fdb_entries(&self, ns: &str) -> Vec<FdbEntry> {
        self.lock()
            .namespaces
            .get(ns)
            .map(|n| n.fdb.clone())
            .unwrap_or_default()
    }

    /// The neighbour entries of `ns` in the model.
    pub fn neighbors(&self, ns: &str) -> Vec<NeighborEntry> {
        self.lock()
            .namespaces
            .get(ns)
            .map(|n| n.neighbors.clone())
            .unwrap_or_default()
    }

    /// A sysctl of `ns` as last set (keys as given).
    pub fn sysctl(&self, ns: &str, key: &str) -> Option<String> {
        self.lock()
            .namespaces
            .get(ns)
            .and_then(|n| n.sysctls.get(key).cloned())
    }

    /// The nft scripts applied in `ns`, in order.
    pub fn nft_scripts(&self, ns: &str) -> Vec<String> {
        self.lock()
            .namespaces
            .get(ns)
            .map(|n| n.nft.clone())
            .unwrap_or_default()
    }

    /// Records `op`, applies an injected failure if one matches, then runs `apply` on the model.
    fn call<T>(
        &self,
        op: Op,
        apply: impl FnOnce(&mut State) -> Result<T, NetnsError>,
    ) -> Result<T, NetnsError> {
        let mut state = self.lock();
        state.ops.push(op.clone());
        if let Some(at) = state.failures.iter().position(|(matches, _)| matches(&op)) {
            let (_, error) = state.failures.remove(at);
            return Err(error);
        }
        apply(&mut state)
    }
}

impl State {
    fn add_ns(&mut self, name: &str) {
        if !self.namespaces.contains_key(name) {
            let mut ns = FakeNs::default();
            let lo = self.new_link("lo", None);
            ns.links.insert("lo".to_string(), lo);
            self.namespaces.insert(name.to_string(), ns);
        }
    }

    fn new_link(&mut self, name: &str, kind: Option<&str>) -> FakeLink {
        self.next_index += 1;
        FakeLink {
            state: LinkState {
                index: self.next_index,
                name: name.to_string(),
                kind: kind.map(str::to_string),
                up: false,
                mtu: if kind.is_none() { 65536 } else { 1500 },
                mac: None,
                controller: None,
                rx_packets: 0,
                tx_packets: 0,
            },
            addresses: Vec::new(),
            peer: None,
        }
    }

    fn ns(&mut self, ns: &str) -> Result<&mut FakeNs, NetnsError> {
        self.namespaces
            .get_mut(ns)
            .ok_or_else(|| NetnsError::NotFound {
                name: ns.to_string(),
            })
    }

    fn link(&mut self, ns: &str, link: &str) -> Result<&mut FakeLink, NetnsError> {
        self.ns(ns)?
            .links
            .get_mut(link)
            .ok_or_else(|| NetnsError::LinkNotFound {
                ns: ns.to_string(),
                link: link.to_string(),
            })
    }

    /// `Ok(true)` if `link` exists with `wanted` kind, `Ok(false)` if absent, a mismatch error otherwise.
    fn exists_as(
        &mut self,
        ns: &str,
        link: &str,
        wanted: &'static str,
    ) -> Result<bool, NetnsError> {
        match self.ns(ns)?.links.get(link) {
            None => Ok(false),
            Some(found) if found.state.kind.as_deref() == Some(wanted) => Ok(true),
            Some(found) => Err(NetnsError::LinkKindMismatch {
                ns: ns.to_string(),
                link: link.to_string(),
                found: found
                    .state
                    .kind
                    .clone()
                    .unwrap_or_else(|| "device".to_string()),
                wanted,
            }),
        }
    }

    fn remove_link(&mut self, ns: &str, link: &str) {
        let removed = self
            .namespaces
            .get_mut(ns)
            .and_then(|n| n.links.remove(link));
        let Some(removed) = removed else { return };
        if let Some((peer_ns, peer)) = removed.peer
            && let Some(n) = self.namespaces.get_mut(&peer_ns)
        {
            n.links.remove(&peer);
        }
        if let Some(n) = self.namespaces.get_mut(ns) {
            n.routes.retain(|r| r.dev.as_deref() != Some(link));
            for other in n.links.values_mut() {
                if other.state.controller == Some(removed.state.index) {
                    other.state.controller = None;
                }
            }
        }
    }
}

fn exists_err(ns: &str, op: &'static str, object: &str) -> NetnsError {
    NetnsError::Netlink {
        ns: ns.to_string(),
        op,
        object: object.to_string(),
        source: io::Error::from_raw_os_error(libc::EEXIST),
    }
}

impl Dataplane for FakeDataplane {
    async fn create_netns(&self, name: &str) -> Result<(), NetnsError> {
        self.call(
            Op::CreateNetns {
                name: name.to_string(),
            },
            |s| {
                validate_name(name)?;
                s.add_ns(name);
                Ok(())
            },
        )
    }

    async fn delete_netns(&self, name: &str) -> Result<(), NetnsError> {
        self.call(
            Op::DeleteNetns {
                name: name.to_string(),
            },
            |s| {
                validate_name(name)?;
                let links: Vec<String> = s
                    .namespaces
                    .get(name)
                    .map(|n| n.links.keys().cloned().collect())
                    .unwrap_or_default();
                for link in links {
                    s.remove_link(name, &link);
                }
                s.namespaces.remove(name);
                Ok(())
            },
        )
    }

    async fn create_bridge(&self, ns: &str, bridge: &BridgeSpec) -> Result<(), NetnsError> {
        self.call(
            Op::CreateBridge {
                ns: ns.to_string(),
                bridge: bridge.clone(),
            },
            |s| {
                if s.exists_as(ns, &bridge.name, "bridge")? {
                    return Ok(());
                }
                let mut link = s.new_link(&bridge.name, Some("bridge"));
                link.state.mtu = bridge.mtu.unwrap_or(1500);
                link.state.mac = bridge.mac;
                s.ns(ns)?.links.insert(bridge.name.clone(), link);
                Ok(())
            },
        )
    }

    async fn create_veth_pair(&self, ns: &str, veth: &VethSpec) -> Result<(), NetnsError> {
        self.call(
            Op::CreateVethPair {
                ns: ns.to_string(),
                veth: veth.clone(),
            },
            |s| {
                if s.exists_as(ns, &veth.name, "veth")? {
                    return Ok(());
                }
                let peer_ns = veth.peer_netns.clone().unwrap_or_else(|| ns.to_string());
                if s.ns(&peer_ns)?.links.contains_key(&veth.peer_name) {
                    return Err(exists_err(
                        ns,
                        "create link",
                        &format!("{} (veth, peer {})", veth.name, veth.peer_name),
                    ));
                }
                let mut local = s.new_link(&veth.name, Some("veth"));
                local.state.mtu = veth.mtu.unwrap_or(1500);
                local.state.mac = veth.mac;
                local.peer = Some((peer_ns.clone(), veth.peer_name.clone()));
                let mut peer = s.new_link(&veth.peer_name, Some("veth"));
                peer.state.mtu = veth.mtu.unwrap_or(1500);
                peer.state.mac = veth.peer_mac;
                peer.peer = Some((ns.to_string(), veth.name.clone()));
                s.ns(ns)?.links.insert(veth.name.clone(), local);
                s.ns(&peer_ns)?.links.insert(veth.peer_name.clone(), peer);
                Ok(())
            },
        )
    }

    async fn create_vxlan(&self, ns: &str, vxlan: &VxlanSpec) -> Result<(), NetnsError> {
        self.call(
            Op::CreateVxlan {
                ns: ns.to_string(),
                vxlan: vxlan.clone(),
            },
            |s| {
                if s.exists_as(ns, &vxlan.name, "vxlan")? {
                    return Ok(());
                }
                if let Some(underlay) = &vxlan.underlay {
                    s.link(ns, underlay)?;
                }
                let mut link = s.new_link(&vxlan.name, Some("vxlan"));
                link.state.mtu = vxlan.mtu.unwrap_or(1450);
                link.state.mac = vxlan.mac;
                s.ns(ns)?.links.insert(vxlan.name.clone(), link);
                Ok(())
            },
        )
    }

    async fn attach_to_bridge(&self, ns: &str, link: &str, bridge: &str) -> Result<(), NetnsError> {
        let op = Op::AttachToBridge {
            ns: ns.to_string(),
            link: link.to_string(),
            bridge: bridge.to_string(),
        };
        self.call(op, |s| {
            let bridge_index = s.link(ns, bridge)?.state.index;
            s.link(ns, link)?.state.controller = Some(bridge_index);
            Ok(())
        })
    }

    async fn set_up(&self, ns: &str, link: &str) -> Result<(), NetnsError> {
        self.call(
            Op::SetUp {
                ns: ns.to_string(),
                link: link.to_string(),
            },
            |s| {
                s.link(ns, link)?.state.up = true;
                Ok(())
            },
        )
    }

    async fn set_mtu(&self, ns: &str, link: &str, mtu: u32) -> Result<(), NetnsError> {
        self.call(
            Op::SetMtu {
                ns: ns.to_string(),
                link: link.to_string(),
                mtu,
            },
            |s| {
                s.link(ns, link)?.state.mtu = mtu;
                Ok(())
            },
        )
    }

    async fn add_address(&self, ns: &str, link: &str, addr: IpNet) -> Result<(), NetnsError> {
        self.call(
            Op::AddAddress {
                ns: ns.to_string(),
                link: link.to_string(),
                addr,
            },
            |s| {
                let found = s.link(ns, link)?;
                if !found.addresses.contains(&addr) {
                    found.addresses.push(addr);
                }
                Ok(())
            },
        )
    }

    async fn delete_address(&self, ns: &str, link: &str, addr: IpNet) -> Result<(), NetnsError> {
        self.call(
            Op::DeleteAddress {
                ns: ns.to_string(),
                link: link.to_string(),
                addr,
            },
            |s| {
                s.link(ns, link)?.addresses.retain(|a| *a != addr);
                Ok(())
            },
        )
    }

    async fn add_route(&self, ns: &str, route: &RouteSpec) -> Result<(), NetnsError> {
        self.call(
            Op::AddRoute {
                ns: ns.to_string(),
                route: route.clone(),
            },
            |s| {
                if let Some(dev) = &route.dev {
                    s.link(ns, dev)?;
                }
                let routes = &mut s.ns(ns)?.routes;
                routes.retain(|r| !(r.dst == route.dst && r.metric == route.metric));
                routes.push(route.clone());
                Ok(())
            },
        )
    }

    async fn delete_route(&self, ns: &str, route: &RouteSpec) -> Result<(), NetnsError> {
        self.call(
            Op::DeleteRoute {
                ns: ns.to_string(),
                route: route.clone(),
            },
            |s| {
                s.ns(ns)?
                    .routes
                    .retain(|r| !(r.dst == route.dst && r.metric == route.metric));
                Ok(())
            },
        )
    }

    async fn add_fdb_entry(&self, ns: &str, entry: &FdbEntry) -> Result<(), NetnsError> {
        self.call(
            Op::AddFdbEntry {
                ns: ns.to_string(),
                entry: entry.clone(),
            },
            |s| {
                s.link(ns, &entry.dev)?;
                let fdb = &mut s.ns(ns)?.fdb;
                if !fdb.contains(entry) {
                    fdb.push(entry.clone());
                }
                Ok(())
            },
        )
    }

    async fn delete_fdb_entry(&self, ns: &str, entry: &FdbEntry) -> Result<(), NetnsError> {
        self.call(
            Op::DeleteFdbEntry {
                ns: ns.to_string(),
                entry: entry.clone(),
            },
            |s| {
                s.ns(ns)?.fdb.retain(|e| e != entry);
                Ok(())
            },
        )
    }

    async fn add_neighbor(&self, ns: &str, entry: &NeighborEntry) -> Result<(), NetnsError> {
        self.call(
            Op::AddNeighbor {
                ns: ns.to_string(),
                entry: entry.clone(),
            },
            |s| {
                s.link(ns, &entry.dev)?;
                let neighbors = &mut s.ns(ns)?.neighbors;
                neighbors.retain(|n| !(n.dev == entry.dev && n.ip == entry.ip));
                neighbors.push(entry.clone());
                Ok(())
            },
        )
    }

    async fn delete_neighbor(&self, ns: &str, entry: &NeighborEntry) -> Result<(), NetnsError> {
        self.call(
            Op::DeleteNeighbor {
                ns: ns.to_string(),
                entry: entry.clone(),
            },
            |s| {
                s.ns(ns)?
                    .neighbors
                    .retain(|n| !(n.dev == entry.dev && n.ip == entry.ip));
                Ok(())
            },
        )
    }

    async fn delete_link(&self, ns: &str, link: &str) -> Result<(), NetnsError> {
        self.call(
            Op::DeleteLink {
                ns: ns.to_string(),
                link: link.to_string(),
            },
            |s| {
                s.ns(ns)?;
                s.remove_link(ns, link);
                Ok(())
            },
        )
    }

    async fn set_sysctl(&self, ns: &str, key: &str, value: &str) -> Result<(), NetnsError> {
        let op = Op::SetSysctl {
            ns: ns.to_string(),
            key: key.to_string(),
            value: value.to_string(),
        };
        self.call(op, |s| {
            sysctl_path(ns, key)?;
            s.ns(ns)?.sysctls.insert(key.to_string(), value.to_string());
            Ok(())
        })
    }

    async fn nft_apply(&self, ns: &str, script: &str) -> Result<(), NetnsError> {
        self.call(
            Op::NftApply {
                ns: ns.to_string(),
                script: script.to_string(),
            },
            |s| {
                s.ns(ns)?.nft.push(script.to_string());
                Ok(())
            },
        )
    }

    async fn links(&self, ns: &str) -> Result<Vec<LinkState>, NetnsError> {
        let mut state = self.lock();
        let mut links: Vec<LinkState> = state
            .ns(ns)?
            .links
            .values()
            .map(|l| l.state.clone())
            .collect();
        links.sort_by_key(|l| l.index);
        Ok(links)
    }

    async fn addresses(&self, ns: &str, link: &str) -> Result<Vec<IpNet>, NetnsError> {
        Ok(self.lock().link(ns, link)?.addresses.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn gw() -> IpAddr {
        "10.244.1.1".parse().unwrap()
    }

    /// What a node agent does for one pod, as a unit under test would.
    async fn setup_pod(dp: &impl Dataplane, pod: &str) -> Result<(), NetnsError> {
        dp.create_netns(pod).await?;
        let mut veth = VethSpec::new(format!("veth-{pod}"), "eth0", Some(pod.to_string()));
        veth.mtu = Some(1450);
        dp.create_veth_pair("node-a", &veth).await?;
        dp.attach_to_bridge("node-a", &veth.name, "cni0").await?;
        dp.set_up("node-a", &veth.name).await?;
        dp.set_up(pod, "lo").await?;
        dp.set_up(pod, "eth0").await?;
        dp.add_address(pod, "eth0", "10.244.1.5/24".parse().unwrap())
            .await?;
        dp.add_route(pod, &RouteSpec::default_via(gw())).await
    }

    #[test]
    fn the_fake_records_calls_in_order_and_models_their_effect() {
        let dp = FakeDataplane::new().with_netns("node-a");
        block_on(async {
            dp.create_bridge("node-a", &BridgeSpec::new("cni0"))
                .await
                .unwrap();
            setup_pod(&dp, "p1").await.unwrap();
        });
        let ops = dp.ops();
        assert_eq!(ops.len(), 9);
        assert_eq!(ops[1], Op::CreateNetns { name: "p1".into() });
        assert_eq!(
            ops[3],
            Op::AttachToBridge {
                ns: "node-a".into(),
                link: "veth-p1".into(),
                bridge: "cni0".into()
            }
        );

        let node_links = block_on(dp.links("node-a")).unwrap();
        let cni0 = node_links.iter().find(|l| l.name == "cni0").unwrap();
        let veth = node_links.iter().find(|l| l.name == "veth-p1").unwrap();
        assert_eq!(veth.controller, Some(cni0.index));
        assert!(veth.up);
        let pod_links = block_on(dp.links("p1")).unwrap();
        let eth0 = pod_links.iter().find(|l| l.name == "eth0").unwrap();
        assert_eq!((eth0.mtu, eth0.up), (1450, true));
        assert_eq!(
            block_on(dp.addresses("p1", "eth0")).unwrap(),
            vec!["10.244.1.5/24".parse::<IpNet>().unwrap()]
        );
        assert_eq!(dp.routes("p1"), vec![RouteSpec::default_via(gw())]);
    }

    #[test]
    fn the_fake_fails_like_the_kernel_on_missing_namespaces_and_links() {
        let dp = FakeDataplane::new().with_netns("node-a");
        let err = block_on(dp.set_up("nope", "eth0")).unwrap_err();
        assert!(
            matches!(err, NetnsError::NotFound { ref name } if name == "nope"),
            "{err}"
        );
        let err = block_on(dp.attach_to_bridge("node-a", "veth0", "cni0")).unwrap_err();
        assert_eq!(err.to_string(), "netns node-a: link \"cni0\" not found");
        block_on(dp.create_bridge("node-a", &BridgeSpec::new("veth0"))).unwrap();
        let err = block_on(dp.create_veth_pair("node-a", &VethSpec::new("veth0", "eth0", None)))
            .unwrap_err();
        assert!(matches!(err, NetnsError::LinkKindMismatch { .. }), "{err}");
        let err = block_on(dp.set_sysctl("node-a", "kernel.hostname", "x")).unwrap_err();
        assert!(matches!(err, NetnsError::InvalidSysctl { .. }), "{err}");
    }

    #[test]
    fn injected_failures_hit_the_matching_call_once_and_are_recorded() {
        let dp = FakeDataplane::new().with_netns("node-a");
        block_on(dp.create_bridge("node-a", &BridgeSpec::new("cni0"))).unwrap();
        dp.fail_when(
            |op| matches!(op, Op::AddRoute { .. }),
            NetnsError::Injected("route table full".into()),
        );
        let err = block_on(setup_pod(&dp, "p1")).unwrap_err();
        assert_eq!(err.to_string(), "injected failure: route table full");
        assert!(matches!(dp.ops().last(), Some(Op::AddRoute { .. })));
        // A retry replays the whole setup: every step is idempotent and the failure was used up.
        block_on(setup_pod(&dp, "p1")).unwrap();
        assert_eq!(dp.routes("p1").len(), 1);
        assert_eq!(block_on(dp.addresses("p1", "eth0")).unwrap().len(), 1);
    }

    #[test]
    fn deleting_a_pod_namespace_removes_the_veth_end_on_the_node() {
        let dp = FakeDataplane::new().with_netns("node-a");
        block_on(async {
            dp.create_bridge("node-a", &BridgeSpec::new("cni0"))
                .await
                .unwrap();
            setup_pod(&dp, "p1").await.unwrap();
            dp.delete_netns("p1").await.unwrap();
            dp.delete_netns("p1").await.unwrap();
        });
        let names: Vec<String> = block_on(dp.links("node-a"))
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, vec!["lo", "cni0"]);
        assert_eq!(dp.netns_names(), vec!["node-a"]);
    }

    #[test]
    fn a_taken_peer_name_is_an_eexist_netlink_error() {
        let dp = FakeDataplane::new().with_netns("node-a").with_netns("p1");
        block_on(dp.create_veth_pair("node-a", &VethSpec::new("v1", "eth0", Some("p1".into()))))
            .unwrap();
        let err = block_on(
            dp.create_veth_pair("node-a", &VethSpec::new("v2", "eth0", Some("p1".into()))),
        )
        .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EEXIST));
        assert!(
            err.to_string()
                .starts_with("netns node-a: create link v2 (veth, peer eth0): "),
            "{err}"
        );
    }
}
