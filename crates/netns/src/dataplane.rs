//! The [`Dataplane`] seam: the kernel operations the node agent needs, addressed by namespace name, with the real
//! implementation over rtnetlink ([`KernelDataplane`]); the recording fake is [`FakeDataplane`](crate::FakeDataplane).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

use crate::netns::{identity_of, identity_of_handle, validate_name};
use crate::rtnl::Rtnl;
use crate::spec::{BridgeSpec, FdbEntry, LinkState, NeighborEntry, RouteSpec, VethSpec, VxlanSpec};
use crate::{Netns, NetnsError};

/// Kernel network operations, each in the network namespace named `ns` (a name under `/run/netns`; use
/// [`Netns::attach_current`] to name the world's own namespace).
///
/// Idempotency, so that a restarted agent can replay its intent: creating what exists with the same kind, adding
/// an address or neighbour that is there, setting what is set, and deleting what is gone all succeed. Routes are
/// added with replace semantics. An existing link of another kind is an error ([`NetnsError::LinkKindMismatch`]),
/// and an existing link of the right kind is not reconfigured.
pub trait Dataplane: Send + Sync {
    /// Creates the named network namespace (`ip netns add`); succeeds if it exists.
    fn create_netns(&self, name: &str) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// Deletes the named namespace (`ip netns delete`); its links (and their veth peers) go with it once nothing
    /// holds it. Succeeds if it is gone.
    fn delete_netns(&self, name: &str) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// Creates a bridge (down; see [`Dataplane::set_up`]).
    fn create_bridge(
        &self,
        ns: &str,
        bridge: &BridgeSpec,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// Creates a veth pair in `ns` with its peer in `veth.peer_netns`.
    fn create_veth_pair(
        &self,
        ns: &str,
        veth: &VethSpec,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// Creates a VXLAN device.
    fn create_vxlan(
        &self,
        ns: &str,
        vxlan: &VxlanSpec,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// Makes `link` a port of `bridge` (`ip link set LINK master BRIDGE`).
    fn attach_to_bridge(
        &self,
        ns: &str,
        link: &str,
        bridge: &str,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip link set LINK up`.
    fn set_up(&self, ns: &str, link: &str) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip link set LINK mtu MTU`.
    fn set_mtu(
        &self,
        ns: &str,
        link: &str,
        mtu: u32,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip addr add ADDR dev LINK`.
    fn add_address(
        &self,
        ns: &str,
        link: &str,
        addr: IpNet,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip addr del ADDR dev LINK` (absent already is fine).
    fn delete_address(
        &self,
        ns: &str,
        link: &str,
        addr: IpNet,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip route replace ...`.
    fn add_route(
        &self,
        ns: &str,
        route: &RouteSpec,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip route del ...`; succeeds if absent.
    fn delete_route(
        &self,
        ns: &str,
        route: &RouteSpec,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `bridge fdb append MAC dev DEV dst IP`.
    fn add_fdb_entry(
        &self,
        ns: &str,
        entry: &FdbEntry,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `bridge fdb del MAC dev DEV dst IP`; succeeds if absent.
    fn delete_fdb_entry(
        &self,
        ns: &str,
        entry: &FdbEntry,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip neigh replace IP lladdr MAC dev DEV nud permanent`.
    fn add_neighbor(
        &self,
        ns: &str,
        entry: &NeighborEntry,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip neigh del IP dev DEV`; succeeds if absent.
    fn delete_neighbor(
        &self,
        ns: &str,
        entry: &NeighborEntry,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip link del LINK` (a veth takes its peer along); succeeds if absent.
    fn delete_link(
        &self,
        ns: &str,
        link: &str,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// Writes a `net.` sysctl of the namespace (e.g. `net.ipv4.ip_forward` = `1`).
    fn set_sysctl(
        &self,
        ns: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// Applies an nftables script in the namespace as one transaction (`nft -f -`).
    fn nft_apply(
        &self,
        ns: &str,
        script: &str,
    ) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// The namespace's links.
    fn links(&self, ns: &str) -> impl Future<Output = Result<Vec<LinkState>, NetnsError>> + Send;
    /// The addresses of `link`.
    fn addresses(
        &self,
        ns: &str,
        link: &str,
    ) -> impl Future<Output = Result<Vec<IpNet>, NetnsError>> + Send;
}

/// The real [`Dataplane`]: rtnetlink in each namespace, one connection per namespace kept for reuse (and
/// re-opened if the name now points at another namespace), sysctls and nft through [`Netns`].
///
/// Connections run on the tokio runtime of their first use; use one `KernelDataplane` per runtime.
#[derive(Debug, Default)]
pub struct KernelDataplane {
    conns: Mutex<HashMap<String, Arc<Conn>>>,
}

#[derive(Debug)]
struct Conn {
    netns: Netns,
    handle: rtnetlink::Handle,
    identity: (u64, u64),
}

impl KernelDataplane {
    /// A dataplane with no open connection yet.
    pub fn new() -> Self {
        KernelDataplane::default()
    }

    /// The namespace `ns`, as held by this dataplane (for [`Netns::run_in`] or [`command_in`](crate::command_in)).
    pub async fn netns(&self, ns: &str) -> Result<Netns, NetnsError> {
        Ok(self.conn(ns).await?.netns.clone())
    }

    async fn conn(&self, ns: &str) -> Result<Arc<Conn>, NetnsError> {
        validate_name(ns)?;
        let identity = identity_of(ns)?;
        {
            let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(conn) = conns.get(ns)
                && conn.identity == identity
            {
                return Ok(Arc::clone(conn));
            }
        }
        let netns = Netns::open(ns)?;
        let identity = identity_of_handle(&netns)?;
        let handle = netns.netlink().await?;
        let conn = Arc::new(Conn {
            netns,
            handle,
            identity,
        });
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ns.to_string(), Arc::clone(&conn));
        Ok(conn)
    }

    fn forget(&self, ns: &str) {
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(ns);
    }
}

fn blocking_err(ns: &str, e: tokio::task::JoinError) -> NetnsError {
    NetnsError::Namespace {
        name: ns.to_string(),
        op: "blocking task",
        source: io::Error::other(e),
    }
}

impl Dataplane for KernelDataplane {
    async fn create_netns(&self, name: &str) -> Result<(), NetnsError> {
        let owned = name.to_string();
        tokio::task::spawn_blocking(move || Netns::open_or_create(&owned).map(drop))
            .await
            .map_err(|e| blocking_err(name, e))?
    }

    async fn delete_netns(&self, name: &str) -> Result<(), NetnsError> {
        self.forget(name);
        Netns::remove(name)
    }

    async fn create_bridge(&self, ns: &str, bridge: &BridgeSpec) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).create_bridge(bridge).await
    }

    async fn create_veth_pair(&self, ns: &str, veth: &VethSpec) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        let peer = match &veth.peer_netns {
            Some(peer_ns) => Some(self.conn(peer_ns).await?),
            None => None,
        };
        let peer_rtnl = peer
            .as_ref()
            .zip(veth.peer_netns.as_deref())
            .map(|(p, name)| Rtnl::new(&p.handle, name));
        let peer_arg = peer_rtnl
            .as_ref()
            .zip(peer.as_ref())
            .map(|(r, p)| (r, std::os::fd::AsFd::as_fd(&p.netns)));
        Rtnl::new(&conn.handle, ns)
            .create_veth(veth, peer_arg)
            .await
    }

    async fn create_vxlan(&self, ns: &str, vxlan: &VxlanSpec) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).create_vxlan(vxlan).await
    }

    async fn attach_to_bridge(&self, ns: &str, link: &str, bridge: &str) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns)
            .set_controller(link, bridge)
            .await
    }

    async fn set_up(&self, ns: &str, link: &str) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).set_up(link).await
    }

    async fn set_mtu(&self, ns: &str, link: &str, mtu: u32) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).set_mtu(link, mtu).await
    }

    async fn add_address(&self, ns: &str, link: &str, addr: IpNet) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).add_address(link, addr).await
    }

    async fn delete_address(&self, ns: &str, link: &str, addr: IpNet) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).delete_address(link, addr).await
    }

    async fn add_route(&self, ns: &str, route: &RouteSpec) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).add_route(route).await
    }

    async fn delete_route(&self, ns: &str, route: &RouteSpec) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).delete_route(route).await
    }

    async fn add_fdb_entry(&self, ns: &str, entry: &FdbEntry) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).add_fdb(entry).await
    }

    async fn delete_fdb_entry(&self, ns: &str, entry: &FdbEntry) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).delete_fdb(entry).await
    }

    async fn add_neighbor(&self, ns: &str, entry: &NeighborEntry) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).add_neighbor(entry).await
    }

    async fn delete_neighbor(&self, ns: &str, entry: &NeighborEntry) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).delete_neighbor(entry).await
    }

    async fn delete_link(&self, ns: &str, link: &str) -> Result<(), NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).delete_link(link).await
    }

    async fn set_sysctl(&self, ns: &str, key: &str, value: &str) -> Result<(), NetnsError> {
        let netns = self.conn(ns).await?.netns.clone();
        let (key, value) = (key.to_string(), value.to_string());
        tokio::task::spawn_blocking(move || netns.sysctl_set(&key, &value))
            .await
            .map_err(|e| blocking_err(ns, e))?
    }

    async fn nft_apply(&self, ns: &str, script: &str) -> Result<(), NetnsError> {
        let netns = self.conn(ns).await?.netns.clone();
        crate::nft_apply(&netns, script).await
    }

    async fn links(&self, ns: &str) -> Result<Vec<LinkState>, NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).links().await
    }

    async fn addresses(&self, ns: &str, link: &str) -> Result<Vec<IpNet>, NetnsError> {
        let conn = self.conn(ns).await?;
        Rtnl::new(&conn.handle, ns).addresses(link).await
    }
}
