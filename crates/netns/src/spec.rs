//! Values describing links, routes and forwarding entries: what the node agent asks for and what it reads back.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// The VXLAN UDP port assigned by IANA (RFC 7348 §5), also Linux's `dstport` that `ip link` asks to be explicit about.
pub const VXLAN_PORT: u16 = 4789;

/// Bytes a VXLAN encapsulation adds over IPv4: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14).
/// A pod MTU of `underlay MTU - 50` avoids fragmentation, as flannel's vxlan backend does.
pub const VXLAN_OVERHEAD: u32 = 50;

/// A 48-bit Ethernet (MAC) address, written `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `00:00:00:00:00:00`: in a VXLAN forwarding database, the entry every unknown or broadcast frame is sent by
    /// (`bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst REMOTE`).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// A locally administered unicast address derived from an IPv4 address: `02:42:a.b.c.d` style (the first
    /// octet has the local bit set and the multicast bit clear), stable across restarts for the same address.
    pub fn local_from_ipv4(prefix: u8, ip: Ipv4Addr) -> MacAddr {
        let [a, b, c, d] = ip.octets();
        MacAddr([(prefix & 0xfe) | 0x02, 0x42, a, b, c, d])
    }

    /// The six octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

/// The error of parsing a [`MacAddr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: want six hexadecimal octets separated by ':'")]
pub struct ParseMacError(String);

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for octet in &mut out {
            let part = parts.next().ok_or_else(|| ParseMacError(s.to_string()))?;
            if part.is_empty() || part.len() > 2 {
                return Err(ParseMacError(s.to_string()));
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| ParseMacError(s.to_string()))?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError(s.to_string()));
        }
        Ok(MacAddr(out))
    }
}

impl TryFrom<&[u8]> for MacAddr {
    type Error = ParseMacError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        <[u8; 6]>::try_from(bytes)
            .map(MacAddr)
            .map_err(|_| ParseMacError(format!("{bytes:02x?}")))
    }
}

/// A Linux bridge (`ip link add NAME type bridge`), e.g. a node's `cni0` or the LAN switch of the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// Interface name, at most 15 bytes.
    pub name: String,
    /// MTU; `None` keeps the kernel's (1500, then the smallest port's).
    pub mtu: Option<u32>,
    /// A fixed MAC. Without one the bridge takes its lowest port's address, which changes as ports come and go and
    /// leaves stale gateway entries in the pods' ARP caches.
    pub mac: Option<MacAddr>,
}

impl BridgeSpec {
    /// A bridge with the kernel's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        BridgeSpec {
            name: name.into(),
            mtu: None,
            mac: None,
        }
    }
}

/// A veth pair created in one namespace with its peer moved to another (and named there) in the same request, as
/// `ip link add NAME type veth peer name PEER netns NS` does: no temporary name, no rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    /// The end that stays in the namespace the request is made in (the node side, e.g. `veth1a2b3c4d`).
    pub name: String,
    /// The other end's name in its namespace (e.g. `eth0`).
    pub peer_name: String,
    /// The namespace (name under `/run/netns`) the peer goes to; `None` keeps both ends together.
    pub peer_netns: Option<String>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// MAC of the local end.
    pub mac: Option<MacAddr>,
    /// MAC of the peer end (the pod's `eth0`).
    pub peer_mac: Option<MacAddr>,
    /// Whether both ends generate an IPv6 link-local address when up (the kernel's default, `true`). `false` sets
    /// `addrgenmode none` in the creating request: no link-local address, hence no duplicate address detection,
    /// router solicitation or MLD report per pod, which a bridge floods to every port, so that with IPv6 on, the
    /// cost of adding a pod grows with the pods already on the bridge. IPv4-only clusters can turn it off.
    pub ipv6_link_local: bool,
}

impl VethSpec {
    /// A pair `name` here / `peer_name` in `peer_netns`, kernel defaults otherwise.
    pub fn new(
        name: impl Into<String>,
        peer_name: impl Into<String>,
        peer_netns: Option<String>,
    ) -> Self {
        VethSpec {
            name: name.into(),
            peer_name: peer_name.into(),
            peer_netns,
            mtu: None,
            mac: None,
            peer_mac: None,
            ipv6_link_local: true,
        }
    }
}

/// A VXLAN device (`ip link add NAME type vxlan id VNI local IP dev UNDERLAY dstport 4789 nolearning`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanSpec {
    /// Interface name.
    pub name: String,
    /// VXLAN network identifier (24 bits).
    pub vni: u32,
    /// Source address of the encapsulated packets (the node's address on the LAN).
    pub local: Ipv4Addr,
    /// The underlay link the tunnel uses (e.g. the node's `eth0`).
    pub underlay: Option<String>,
    /// Destination UDP port; [`VXLAN_PORT`] by default.
    pub port: u16,
    /// Whether the kernel learns remote MACs from received packets. Off by default: the agent programs the
    /// forwarding database itself, as flannel does.
    pub learning: bool,
    /// MTU; the underlay's minus [`VXLAN_OVERHEAD`] avoids fragmentation.
    pub mtu: Option<u32>,
    /// A fixed MAC, so that the other nodes' neighbour entries stay valid across restarts.
    pub mac: Option<MacAddr>,
}

impl VxlanSpec {
    /// A VXLAN device on port 4789 with learning off.
    pub fn new(name: impl Into<String>, vni: u32, local: Ipv4Addr) -> Self {
        VxlanSpec {
            name: name.into(),
            vni,
            local,
            underlay: None,
            port: VXLAN_PORT,
            learning: false,
            mtu: None,
            mac: None,
        }
    }
}

/// A route in the main table. Adding one replaces any route to the same destination (`ip route replace`), so
/// repeating it converges instead of failing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    /// Destination prefix; `0.0.0.0/0` is the default route.
    pub dst: IpNet,
    /// Next hop (`via`).
    pub via: Option<IpAddr>,
    /// Output link (`dev`). A route with `dev` and no `via` has link scope.
    pub dev: Option<String>,
    /// `onlink`: the gateway is on the link even without an address in its subnet (overlay next hops).
    pub onlink: bool,
    /// Route metric (`metric`/`priority`).
    pub metric: Option<u32>,
}

impl RouteSpec {
    /// `default via GW`.
    pub fn default_via(gateway: IpAddr) -> Self {
        let dst = match gateway {
            IpAddr::V4(_) => IpNet::V4(ipnet::Ipv4Net::default()),
            IpAddr::V6(_) => IpNet::V6(ipnet::Ipv6Net::default()),
        };
        RouteSpec {
            dst,
            via: Some(gateway),
            dev: None,
            onlink: false,
            metric: None,
        }
    }

    /// `DST via GW` (host-gw: another node's pod CIDR via that node's address).
    pub fn via(dst: IpNet, gateway: IpAddr) -> Self {
        RouteSpec {
            dst,
            via: Some(gateway),
            dev: None,
            onlink: false,
            metric: None,
        }
    }

    /// `DST dev LINK` (scope link).
    pub fn dev(dst: IpNet, dev: impl Into<String>) -> Self {
        RouteSpec {
            dst,
            via: None,
            dev: Some(dev.into()),
            onlink: false,
            metric: None,
        }
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dst.prefix_len() == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(via) = self.via {
            write!(f, " via {via}")?;
        }
        if let Some(dev) = &self.dev {
            write!(f, " dev {dev}")?;
        }
        if self.onlink {
            f.write_str(" onlink")?;
        }
        if let Some(metric) = self.metric {
            write!(f, " metric {metric}")?;
        }
        Ok(())
    }
}

/// A forwarding database entry of a VXLAN device: frames for `mac` are encapsulated to `dst`
/// (`bridge fdb append MAC dev DEV dst IP`). Entries for [`MacAddr::ZERO`] accumulate: broadcast and unknown
/// frames go to every such `dst`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FdbEntry {
    /// The VXLAN device.
    pub dev: String,
    /// The inner destination MAC ([`MacAddr::ZERO`] for the flood list).
    pub mac: MacAddr,
    /// The remote tunnel endpoint.
    pub dst: IpAddr,
}

impl FdbEntry {
    /// The flood entry `00:00:00:00:00:00 dst REMOTE`.
    pub fn flood(dev: impl Into<String>, dst: IpAddr) -> Self {
        FdbEntry {
            dev: dev.into(),
            mac: MacAddr::ZERO,
            dst,
        }
    }
}

impl fmt::Display for FdbEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {} dst {}", self.mac, self.dev, self.dst)
    }
}

/// A permanent neighbour (ARP/NDP) entry (`ip neigh replace IP lladdr MAC dev DEV nud permanent`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NeighborEntry {
    /// The link.
    pub dev: String,
    /// The neighbour's IP address.
    pub ip: IpAddr,
    /// Its MAC.
    pub mac: MacAddr,
}

impl fmt::Display for NeighborEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lladdr {} dev {}", self.ip, self.mac, self.dev)
    }
}

/// A link as the kernel reports it (`ip -s link show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// Interface index in its namespace.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `IFLA_INFO_KIND` (`veth`, `bridge`, `vxlan`...); `None` for devices without one (`lo`).
    pub kind: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// MTU.
    pub mtu: u32,
    /// Hardware address, if it is an Ethernet one.
    pub mac: Option<MacAddr>,
    /// Index of the bridge (or other controller) it is attached to.
    pub controller: Option<u32>,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_parse_and_print_in_lowercase_colon_form() {
        let mac: MacAddr = "02:42:0A:F4:00:01".parse().unwrap();
        assert_eq!(mac, MacAddr([0x02, 0x42, 0x0a, 0xf4, 0x00, 0x01]));
        assert_eq!(mac.to_string(), "02:42:0a:f4:00:01");
        for bad in [
            "",
            "02:42",
            "02:42:0a:f4:00:01:02",
            "0x:42:0a:f4:00:01",
            "002:42:0a:f4:00:01",
            "02-42-0a-f4-00-01",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn macs_derived_from_an_address_are_locally_administered_unicast() {
        let mac = MacAddr::local_from_ipv4(0x0e, Ipv4Addr::new(172, 18, 0, 2));
        assert_eq!(mac.to_string(), "0e:42:ac:12:00:02");
        assert_eq!(mac.0[0] & 0x01, 0, "unicast");
        assert_eq!(mac.0[0] & 0x02, 0x02, "locally administered");
        let odd = MacAddr::local_from_ipv4(0x01, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(odd.0[0], 0x02);
    }

    #[test]
    fn routes_print_like_ip_route() {
        let gw: IpAddr = "10.250.1.1".parse().unwrap();
        assert_eq!(
            RouteSpec::default_via(gw).to_string(),
            "default via 10.250.1.1"
        );
        let mut r = RouteSpec::via(
            "10.250.20.0/24".parse().unwrap(),
            "10.250.100.2".parse().unwrap(),
        );
        r.dev = Some("vxlan0".into());
        r.onlink = true;
        assert_eq!(
            r.to_string(),
            "10.250.20.0/24 via 10.250.100.2 dev vxlan0 onlink"
        );
        assert_eq!(
            RouteSpec::dev("10.250.9.0/24".parse().unwrap(), "cni0").to_string(),
            "10.250.9.0/24 dev cni0"
        );
    }
}
