//! The shape of knet's network: the world (a LAN bridge standing for the datacenter network), the
//! node namespaces on it with their pod bridges, routes between nodes (host-gw or VXLAN), egress
//! masquerade, the external client namespace, and each pod's sandbox network. It decides names,
//! addresses and routes and applies them through the [`Dataplane`] seam; it keeps no state.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use knet_netns::{
    BridgeSpec, Dataplane, FdbEntry, MacAddr, NeighborEntry, NetnsError, RouteSpec, VethSpec,
    VxlanSpec,
};

/// Name of the world's own network namespace (the LAN), as attached under /run/netns.
pub const WORLD: &str = "world";
/// Name of the external client namespace ("the internet side").
pub const EXTERNAL: &str = "external";
/// The LAN bridge in the world namespace.
pub const LAN_BRIDGE: &str = "lan0";
/// Each node's pod bridge (the name the CNI bridge plugin uses).
pub const POD_BRIDGE: &str = "cni0";
/// The VXLAN device of the overlay mode (flannel names it `flannel.1`).
pub const VXLAN_DEV: &str = "knet.1";
/// VXLAN network identifier.
pub const VXLAN_VNI: u32 = 1;
/// Bytes VXLAN adds to every packet (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14).
pub const VXLAN_OVERHEAD: u32 = 50;
/// MTU of the LAN.
pub const LAN_MTU: u32 = 1500;

/// Errors applying the topology.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A kernel operation failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// An address plan that cannot work.
    #[error("{0}")]
    Plan(String),
}

/// How pod traffic crosses between nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Overlay {
    /// Routes to every other node's pod CIDR via that node's LAN address (nodes share the LAN).
    #[default]
    HostGw,
    /// A VXLAN overlay: pod traffic to other nodes is encapsulated in UDP 4789 between LAN addresses.
    Vxlan,
}

impl std::str::FromStr for Overlay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "host-gw" | "none" => Ok(Overlay::HostGw),
            "vxlan" => Ok(Overlay::Vxlan),
            other => Err(format!("unknown overlay {other:?}: use host-gw or vxlan")),
        }
    }
}

/// The cluster's address plan.
#[derive(Clone, Debug)]
pub struct ClusterNet {
    /// The node network (default 172.18.0.0/24, as kind uses): .1 is the world's router address.
    pub lan: Ipv4Net,
    /// All pod addresses (default 10.244.0.0/16).
    pub cluster_cidr: Ipv4Net,
    /// Host-gw or VXLAN.
    pub overlay: Overlay,
}

impl Default for ClusterNet {
    fn default() -> Self {
        ClusterNet {
            lan: Ipv4Net::new(Ipv4Addr::new(172, 18, 0, 0), 24).unwrap_or_default(),
            cluster_cidr: Ipv4Net::new(Ipv4Addr::new(10, 244, 0, 0), 16).unwrap_or_default(),
            overlay: Overlay::HostGw,
        }
    }
}

impl ClusterNet {
    /// The world's address on the LAN (the default gateway of nodes and of the external namespace).
    pub fn router(&self) -> Ipv4Addr {
        nth(self.lan, 1)
    }

    /// The LAN address of node number `index` (0 = the control plane): .2, .3, ...
    pub fn node_ip(&self, index: usize) -> Ipv4Addr {
        nth(self.lan, 2 + index as u32)
    }

    /// The external client namespace's address: the last usable address of the LAN.
    pub fn external_ip(&self) -> Ipv4Addr {
        let last = u32::from(self.lan.broadcast()).saturating_sub(1);
        Ipv4Addr::from(last)
    }

    /// MTU of pod interfaces: the LAN's, less the encapsulation overhead in VXLAN mode.
    pub fn pod_mtu(&self) -> u32 {
        match self.overlay {
            Overlay::HostGw => LAN_MTU,
            Overlay::Vxlan => LAN_MTU - VXLAN_OVERHEAD,
        }
    }

    fn lan_net(&self, ip: Ipv4Addr) -> IpNet {
        IpNet::V4(Ipv4Net::new(ip, self.lan.prefix_len()).unwrap_or(self.lan))
    }
}

fn nth(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).saturating_add(n))
}

/// The gateway of a pod CIDR: its first address, on the node's `cni0`.
pub fn gateway(pod_cidr: Ipv4Net) -> Ipv4Addr {
    nth(pod_cidr, 1)
}

/// One node as the network sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeNet {
    /// Node name (`knet-worker`).
    pub name: String,
    /// Position (0 = control plane); decides the LAN address and namespace name.
    pub index: usize,
    /// Its LAN address.
    pub ip: Ipv4Addr,
    /// Its pod CIDR, once IPAM gave it one.
    pub pod_cidr: Option<Ipv4Net>,
}

impl NodeNet {
    /// The node's network namespace name.
    pub fn netns(&self) -> String {
        node_netns(self.index)
    }

    /// The world-side end of the node's LAN cable.
    fn lan_port(&self) -> String {
        format!("veth-node{}", self.index)
    }

    /// The node's VXLAN tunnel endpoint MAC (derived from its LAN address, stable across restarts).
    pub fn vtep_mac(&self) -> MacAddr {
        MacAddr::local_from_ipv4(0x0e, self.ip)
    }
}

/// First octet of the bridges' fixed MACs (locally administered, unicast; VTEPs use 0x0e).
const BRIDGE_MAC_PREFIX: u8 = 0x0a;

/// Network namespace name of node number `index`.
pub fn node_netns(index: usize) -> String {
    format!("node{index}")
}

/// Builds the world: the LAN bridge with the router address, and the external client namespace on it.
/// The world has no link to the machine's real network: it lives in namespaces knet created.
pub async fn build_world(dp: &impl Dataplane, net: &ClusterNet) -> Result<(), TopologyError> {
    dp.set_up(WORLD, "lo").await?;
    let mut lan = BridgeSpec::new(LAN_BRIDGE);
    // Fixed, for the same reason as the nodes' pod bridges (see `add_node`).
    lan.mac = Some(MacAddr::local_from_ipv4(BRIDGE_MAC_PREFIX, net.router()));
    dp.create_bridge(WORLD, &lan).await?;
    dp.add_address(WORLD, LAN_BRIDGE, net.lan_net(net.router()))
        .await?;
    dp.set_up(WORLD, LAN_BRIDGE).await?;
    // The world routes between the LAN and nothing else; forwarding lets the external namespace
    // and nodes reach each other through it when they are not on-link.
    dp.set_sysctl(WORLD, "net.ipv4.ip_forward", "1").await?;

    dp.create_netns(EXTERNAL).await?;
    plug_into_lan(dp, net, EXTERNAL, "ext0", net.external_ip()).await?;
    Ok(())
}

/// A veth from the LAN bridge to `eth0` of namespace `ns`, with `ip`, default route via the router.
async fn plug_into_lan(
    dp: &impl Dataplane,
    net: &ClusterNet,
    ns: &str,
    port: &str,
    ip: Ipv4Addr,
) -> Result<(), TopologyError> {
    let veth = VethSpec::new(port, "eth0", Some(ns.to_string()));
    dp.create_veth_pair(WORLD, &veth).await?;
    dp.attach_to_bridge(WORLD, port, LAN_BRIDGE).await?;
    dp.set_up(WORLD, port).await?;
    dp.set_up(ns, "lo").await?;
    dp.add_address(ns, "eth0", net.lan_net(ip)).await?;
    dp.set_up(ns, "eth0").await?;
    dp.add_route(ns, &RouteSpec::default_via(IpAddr::V4(net.router())))
        .await?;
    Ok(())
}

/// Adds a node: its namespace on the LAN, forwarding on.
pub async fn add_node(
    dp: &impl Dataplane,
    net: &ClusterNet,
    node: &NodeNet,
) -> Result<(), TopologyError> {
    let ns = node.netns();
    dp.create_netns(&ns).await?;
    plug_into_lan(dp, net, &ns, &node.lan_port(), node.ip).await?;
    dp.set_sysctl(&ns, "net.ipv4.ip_forward", "1").await?;
    Ok(())
}

/// The nftables table of a node: masquerade of pod traffic leaving the cluster CIDR through the
/// node's LAN interface (egress NAT to the node's address, as flannel and kindnet do). Pod-to-pod
/// traffic, also across nodes, is never translated.
pub fn node_nat_table(net: &ClusterNet) -> String {
    format!(
        "table ip knet-node\n\
         delete table ip knet-node\n\
         table ip knet-node {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {cidr} ip daddr != {cidr} oifname \"eth0\" masquerade\n\
         \t}}\n\
         }}\n",
        cidr = net.cluster_cidr
    )
}

/// Gives a node its pod network once it has a pod CIDR: `cni0` with the gateway address, egress
/// masquerade, and (VXLAN) the tunnel device.
pub async fn set_up_pod_network(
    dp: &impl Dataplane,
    net: &ClusterNet,
    node: &NodeNet,
) -> Result<(), TopologyError> {
    let Some(cidr) = node.pod_cidr else {
        return Err(TopologyError::Plan(format!(
            "node {} has no pod CIDR yet",
            node.name
        )));
    };
    if !net.cluster_cidr.contains(&cidr) {
        return Err(TopologyError::Plan(format!(
            "node {} pod CIDR {cidr} is outside the cluster CIDR {}",
            node.name, net.cluster_cidr
        )));
    }
    let ns = node.netns();
    let mut bridge = BridgeSpec::new(POD_BRIDGE);
    bridge.mtu = Some(net.pod_mtu());
    // A fixed MAC (as the CNI bridge plugin sets one): a bridge without takes its lowest port's
    // address, which changes when that pod goes away, and the other pods' ARP entries for their
    // gateway then point at an address the bridge no longer answers to, so their traffic to
    // anything off-pod is lost until those entries expire.
    bridge.mac = Some(MacAddr::local_from_ipv4(BRIDGE_MAC_PREFIX, gateway(cidr)));
    dp.create_bridge(&ns, &bridge).await?;
    let gw = Ipv4Net::new(gateway(cidr), cidr.prefix_len()).unwrap_or(cidr);
    dp.add_address(&ns, POD_BRIDGE, IpNet::V4(gw)).await?;
    dp.set_up(&ns, POD_BRIDGE).await?;
    // Pods reach each other through the node (see `add_pod`): no ICMP redirects telling
    // them to go direct.
    for key in [
        "net.ipv4.conf.all.send_redirects",
        "net.ipv4.conf.cni0.send_redirects",
    ] {
        dp.set_sysctl(&ns, key, "0").await?;
    }
    // Where the host has loaded br_netfilter, bridged frames would meet the IP hooks at the
    // bridge and a Service DNAT back to the sending pod would be bridged out of the port it
    // came in (dropped without hairpin mode). Pods are routed (see `add_pod`), so turn it off
    // in the node; without the module the key does not exist and there is nothing to do.
    let _ = dp
        .set_sysctl(&ns, "net.bridge.bridge-nf-call-iptables", "0")
        .await;
    dp.nft_apply(&ns, &node_nat_table(net)).await?;
    if net.overlay == Overlay::Vxlan {
        let mut vx = VxlanSpec::new(VXLAN_DEV, VXLAN_VNI, node.ip);
        vx.underlay = Some("eth0".into());
        vx.mtu = Some(net.pod_mtu());
        vx.mac = Some(node.vtep_mac());
        dp.create_vxlan(&ns, &vx).await?;
        // flannel's layout: the VTEP holds the pod network's .0 address as a /32.
        let vtep = Ipv4Net::new(cidr.network(), 32).unwrap_or(cidr);
        dp.add_address(&ns, VXLAN_DEV, IpNet::V4(vtep)).await?;
        dp.set_up(&ns, VXLAN_DEV).await?;
    }
    Ok(())
}

/// Routes from `node` to every other node's pod CIDR: via the peer's LAN address (host-gw), or
/// through the VXLAN device with a static neighbour and forwarding entry per peer (flannel's vxlan
/// backend: pkg/backend/vxlan). Idempotent; call again when nodes change.
pub async fn sync_node_routes(
    dp: &impl Dataplane,
    net: &ClusterNet,
    node: &NodeNet,
    peers: &[NodeNet],
) -> Result<(), TopologyError> {
    let ns = node.netns();
    for peer in peers.iter().filter(|p| p.name != node.name) {
        let Some(cidr) = peer.pod_cidr else { continue };
        match net.overlay {
            Overlay::HostGw => {
                dp.add_route(&ns, &RouteSpec::via(IpNet::V4(cidr), IpAddr::V4(peer.ip)))
                    .await?;
            }
            Overlay::Vxlan => {
                let vtep = IpAddr::V4(cidr.network());
                dp.add_neighbor(
                    &ns,
                    &NeighborEntry {
                        dev: VXLAN_DEV.into(),
                        ip: vtep,
                        mac: peer.vtep_mac(),
                    },
                )
                .await?;
                dp.add_fdb_entry(
                    &ns,
                    &FdbEntry {
                        dev: VXLAN_DEV.into(),
                        mac: peer.vtep_mac(),
                        dst: IpAddr::V4(peer.ip),
                    },
                )
                .await?;
                let mut route = RouteSpec::via(IpNet::V4(cidr), vtep);
                route.dev = Some(VXLAN_DEV.into());
                route.onlink = true;
                dp.add_route(&ns, &route).await?;
            }
        }
    }
    Ok(())
}

/// A pod sandbox's network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNet {
    /// The pod's network namespace name.
    pub netns: String,
    /// The node-side veth, a port of `cni0`.
    pub host_veth: String,
    /// The pod's address.
    pub ip: Ipv4Addr,
}

/// Names the sandbox of pod `uid`: namespace `pod-<uid>`, host veth `veth<8 hex of uid>` (15
/// characters at most, as link names must be).
pub fn pod_net(uid: &str, ip: Ipv4Addr) -> PodNet {
    let short: String = uid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    PodNet {
        netns: format!("pod-{uid}"),
        host_veth: format!("veth{short}"),
        ip,
    }
}

/// Creates the pod's network: namespace, veth pair (`eth0` inside, a `cni0` port outside), address
/// from the node's pod CIDR, default route via the gateway, loopback up (what the CNI bridge plugin
/// with host-local IPAM does).
pub async fn add_pod(
    dp: &impl Dataplane,
    net: &ClusterNet,
    node: &NodeNet,
    pod: &PodNet,
) -> Result<(), TopologyError> {
    let Some(cidr) = node.pod_cidr else {
        return Err(TopologyError::Plan(format!(
            "node {} has no pod CIDR yet",
            node.name
        )));
    };
    if !cidr.contains(&pod.ip) || pod.ip == gateway(cidr) || pod.ip == cidr.network() {
        return Err(TopologyError::Plan(format!(
            "pod address {} is not a usable address of {cidr}",
            pod.ip
        )));
    }
    let ns = node.netns();
    dp.create_netns(&pod.netns).await?;
    let mut veth = VethSpec::new(&pod.host_veth, "eth0", Some(pod.netns.clone()));
    veth.mtu = Some(net.pod_mtu());
    // IPv4 only: without IPv6 link-local addresses a new veth sends no DAD/RS/MLD packets that
    // the bridge would flood to every pod, which made setup cost grow with the pods on the node.
    veth.ipv6_link_local = false;
    dp.create_veth_pair(&ns, &veth).await?;
    dp.attach_to_bridge(&ns, &pod.host_veth, POD_BRIDGE).await?;
    dp.set_up(&ns, &pod.host_veth).await?;
    dp.set_up(&pod.netns, "lo").await?;
    // The pod's address is a /32 and its only neighbour is the gateway (Calico's layout), so
    // that traffic between pods of one node is routed by the node rather than bridged: the
    // node's conntrack then sees both directions of a Service connection and can undo the
    // Service DNAT on the reply, without br_netfilter (which a rootless knet cannot load).
    let addr = Ipv4Net::new(pod.ip, 32).unwrap_or(cidr);
    dp.add_address(&pod.netns, "eth0", IpNet::V4(addr)).await?;
    dp.set_up(&pod.netns, "eth0").await?;
    let gw = Ipv4Net::new(gateway(cidr), 32).unwrap_or(cidr);
    dp.add_route(&pod.netns, &RouteSpec::dev(IpNet::V4(gw), "eth0"))
        .await?;
    dp.add_route(
        &pod.netns,
        &RouteSpec::default_via(IpAddr::V4(gateway(cidr))),
    )
    .await?;
    Ok(())
}

/// Removes the pod's network: its namespace (the veth pair goes with it).
pub async fn remove_pod(dp: &impl Dataplane, pod: &PodNet) -> Result<(), TopologyError> {
    dp.delete_netns(&pod.netns).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use knet_netns::{FakeDataplane, Op};

    fn node(index: usize, cidr: &str) -> NodeNet {
        let net = ClusterNet::default();
        NodeNet {
            name: format!("n{index}"),
            index,
            ip: net.node_ip(index),
            pod_cidr: Some(cidr.parse().unwrap()),
        }
    }

    #[test]
    fn the_address_plan_matches_kind() {
        let net = ClusterNet::default();
        assert_eq!(net.router(), Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(net.node_ip(0), Ipv4Addr::new(172, 18, 0, 2));
        assert_eq!(net.node_ip(2), Ipv4Addr::new(172, 18, 0, 4));
        assert_eq!(net.external_ip(), Ipv4Addr::new(172, 18, 0, 254));
        assert_eq!(
            gateway("10.244.1.0/24".parse().unwrap()),
            Ipv4Addr::new(10, 244, 1, 1)
        );
    }

    #[test]
    fn vxlan_lowers_the_pod_mtu_by_the_encapsulation_overhead() {
        let mut net = ClusterNet::default();
        assert_eq!(net.pod_mtu(), 1500);
        net.overlay = Overlay::Vxlan;
        assert_eq!(net.pod_mtu(), 1450);
    }

    #[test]
    fn pod_names_fit_the_kernel_limits() {
        let p = pod_net(
            "3f2c1a9e-1234-4bcd-9a0e-001122334455",
            Ipv4Addr::new(10, 244, 1, 5),
        );
        assert_eq!(p.host_veth, "veth3f2c1a9e");
        assert!(p.host_veth.len() <= 15);
        assert_eq!(p.netns, "pod-3f2c1a9e-1234-4bcd-9a0e-001122334455");
    }

    #[test]
    fn masquerade_covers_only_traffic_leaving_the_cluster_cidr() {
        let t = node_nat_table(&ClusterNet::default());
        assert!(
            t.contains(
                "ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 oifname \"eth0\" masquerade"
            ),
            "{t}"
        );
    }

    async fn world_with_node(net: &ClusterNet, n: &NodeNet) -> FakeDataplane {
        let dp = FakeDataplane::new().with_netns(WORLD);
        build_world(&dp, net).await.unwrap();
        add_node(&dp, net, n).await.unwrap();
        set_up_pod_network(&dp, net, n).await.unwrap();
        dp
    }

    #[tokio::test]
    async fn a_node_sits_on_the_lan_with_forwarding_masquerade_and_cni0() {
        let net = ClusterNet::default();
        let n = node(1, "10.244.1.0/24");
        let dp = world_with_node(&net, &n).await;
        assert_eq!(
            dp.sysctl("node1", "net.ipv4.ip_forward").as_deref(),
            Some("1")
        );
        let routes: Vec<String> = dp.routes("node1").iter().map(|r| r.to_string()).collect();
        assert_eq!(routes, vec!["default via 172.18.0.1"]);
        assert!(dp.nft_scripts("node1")[0].contains("masquerade"));
        let ext: Vec<String> = dp.routes(EXTERNAL).iter().map(|r| r.to_string()).collect();
        assert_eq!(ext, vec!["default via 172.18.0.1"]);
    }

    #[tokio::test]
    async fn host_gw_routes_each_peer_pod_cidr_via_its_lan_address() {
        let net0 = ClusterNet::default();
        let dp = world_with_node(&net0, &node(1, "10.244.1.0/24")).await;
        let net = ClusterNet::default();
        let me = node(1, "10.244.1.0/24");
        let peers = vec![
            me.clone(),
            node(2, "10.244.2.0/24"),
            NodeNet {
                pod_cidr: None,
                ..node(3, "10.244.3.0/24")
            },
        ];
        sync_node_routes(&dp, &net, &me, &peers).await.unwrap();
        let routes: Vec<String> = dp.routes("node1").iter().map(|r| r.to_string()).collect();
        assert_eq!(
            routes,
            vec!["default via 172.18.0.1", "10.244.2.0/24 via 172.18.0.4"]
        );
    }

    #[tokio::test]
    async fn vxlan_routes_go_through_the_tunnel_with_static_neighbours() {
        let net = ClusterNet {
            overlay: Overlay::Vxlan,
            ..ClusterNet::default()
        };
        let me = node(1, "10.244.1.0/24");
        let dp = world_with_node(&net, &me).await;
        let peer = node(2, "10.244.2.0/24");
        sync_node_routes(&dp, &net, &me, std::slice::from_ref(&peer))
            .await
            .unwrap();
        let routes: Vec<String> = dp.routes("node1").iter().map(|r| r.to_string()).collect();
        assert_eq!(
            routes,
            vec![
                "default via 172.18.0.1",
                "10.244.2.0/24 via 10.244.2.0 dev knet.1 onlink"
            ]
        );
        let fdb = dp.fdb_entries("node1");
        assert_eq!(fdb.len(), 1);
        assert_eq!(fdb[0].dst, IpAddr::V4(peer.ip));
        assert_eq!(dp.neighbors("node1")[0].mac, peer.vtep_mac());
    }

    #[tokio::test]
    async fn a_pod_gets_a_veth_into_cni0_an_address_and_a_default_route() {
        let net = ClusterNet::default();
        let n = node(1, "10.244.1.0/24");
        let dp = world_with_node(&net, &n).await;
        let pod = pod_net("abcdef0123", Ipv4Addr::new(10, 244, 1, 7));
        add_pod(&dp, &net, &n, &pod).await.unwrap();
        let ops = dp.ops();
        assert!(ops.iter().any(|o| matches!(o, Op::AttachToBridge { link, bridge, .. } if link == "vethabcdef01" && bridge == "cni0")), "{ops:?}");
        let routes: Vec<String> = dp
            .routes(&pod.netns)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            routes,
            vec!["10.244.1.1/32 dev eth0", "default via 10.244.1.1"]
        );
        let bad = pod_net("x", Ipv4Addr::new(10, 244, 1, 1));
        assert!(
            add_pod(&dp, &net, &n, &bad).await.is_err(),
            "the gateway is not a pod address"
        );
    }
}
