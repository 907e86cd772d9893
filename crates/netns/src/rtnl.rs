//! Link, address, route, FDB and neighbour requests over one rtnetlink connection, with errors naming the
//! namespace and the object, and the idempotency rules of [`Dataplane`](crate::Dataplane).

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use futures::TryStreamExt;
use futures::stream::StreamExt;
use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteScope, RouteType};
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVxlan, RouteMessageBuilder,
};

use crate::NetnsError;
use crate::error::{netlink_errno, netlink_io};
use crate::spec::{
    BridgeSpec, FdbEntry, LinkState, MacAddr, NeighborEntry, RouteSpec, VethSpec, VxlanSpec,
};

/// `IFNAMSIZ` - 1: the longest interface name the kernel accepts.
const MAX_LINK_NAME: usize = 15;

/// Requests in one namespace (`ns` only names it in errors; `handle` acts there).
pub(crate) struct Rtnl<'a> {
    handle: &'a Handle,
    ns: &'a str,
}

impl<'a> Rtnl<'a> {
    pub(crate) fn new(handle: &'a Handle, ns: &'a str) -> Self {
        Rtnl { handle, ns }
    }

    fn err(&self, op: &'static str, object: impl Into<String>, e: rtnetlink::Error) -> NetnsError {
        NetnsError::Netlink {
            ns: self.ns.to_string(),
            op,
            object: object.into(),
            source: netlink_io(e),
        }
    }

    fn link_not_found(&self, link: &str) -> NetnsError {
        NetnsError::LinkNotFound {
            ns: self.ns.to_string(),
            link: link.to_string(),
        }
    }

    pub(crate) fn check_link_name(&self, link: &str) -> Result<(), NetnsError> {
        let reason = if link.is_empty() {
            Some("empty")
        } else if link.len() > MAX_LINK_NAME {
            Some("longer than 15 bytes (IFNAMSIZ)")
        } else if link == "." || link == ".." {
            Some("is '.' or '..'")
        } else if link
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0')
        {
            Some("contains '/', ':', a space or a NUL")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(NetnsError::InvalidLinkName {
                ns: self.ns.to_string(),
                link: link.to_string(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// The link named `name`, if any.
    pub(crate) async fn link(&self, name: &str) -> Result<Option<LinkMessage>, NetnsError> {
        self.check_link_name(name)?;
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(found) => Ok(found),
            Err(e) if netlink_errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(self.err("get link", name, e)),
        }
    }

    /// The index of the link named `name`, or [`NetnsError::LinkNotFound`].
    pub(crate) async fn index(&self, name: &str) -> Result<u32, NetnsError> {
        match self.link(name).await? {
            Some(link) => Ok(link.header.index),
            None => Err(self.link_not_found(name)),
        }
    }

    /// Succeeds if `name` exists with kind `wanted`; `Ok(false)` if it does not exist.
    async fn exists_as(&self, name: &str, wanted: &'static str) -> Result<bool, NetnsError> {
        match self.link(name).await? {
            None => Ok(false),
            Some(link) => {
                let found = kind_of(&link);
                if found.as_deref() == Some(wanted) {
                    Ok(true)
                } else {
                    Err(NetnsError::LinkKindMismatch {
                        ns: self.ns.to_string(),
                        link: name.to_string(),
                        found: found.unwrap_or_else(|| "device".to_string()),
                        wanted,
                    })
                }
            }
        }
    }

    /// Sends a link creation; a concurrent creator that won (`EEXIST`) counts as success when the kind matches.
    async fn add_link(
        &self,
        name: &str,
        wanted: &'static str,
        message: LinkMessage,
    ) -> Result<(), NetnsError> {
        match self.handle.link().add(message).execute().await {
            Ok(()) => Ok(()),
            Err(e)
                if netlink_errno(&e) == Some(libc::EEXIST)
                    && self.exists_as(name, wanted).await? =>
            {
                Ok(())
            }
            Err(e) => Err(self.err("create link", format!("{name} ({wanted})"), e)),
        }
    }

    pub(crate) async fn create_bridge(&self, spec: &BridgeSpec) -> Result<(), NetnsError> {
        if self.exists_as(&spec.name, "bridge").await? {
            return Ok(());
        }
        let mut builder = LinkMessageBuilder::<LinkBridge>::new(&spec.name);
        if let Some(mtu) = spec.mtu {
            builder = builder.mtu(mtu);
        }
        if let Some(mac) = spec.mac {
            builder = builder.address(mac.0.to_vec());
        }
        self.add_link(&spec.name, "bridge", builder.build()).await
    }

    /// Creates the pair with the peer already in its namespace (`peer`: a connection acting there and the
    /// namespace's descriptor), named there, in one request. An existing veth of the same name counts as done.
    pub(crate) async fn create_veth(
        &self,
        spec: &VethSpec,
        peer: Option<(&Rtnl<'_>, BorrowedFd<'_>)>,
    ) -> Result<(), NetnsError> {
        self.check_link_name(&spec.peer_name)?;
        if self.exists_as(&spec.name, "veth").await? {
            return Ok(());
        }
        let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new().name(spec.peer_name.clone());
        if let Some(mtu) = spec.mtu {
            peer_msg = peer_msg.mtu(mtu);
        }
        if let Some(mac) = spec.peer_mac {
            peer_msg = peer_msg.address(mac.0.to_vec());
        }
        if let Some((_, fd)) = peer {
            // The kernel reads the descriptor while handling the request; `fd` is borrowed for the whole call.
            peer_msg = peer_msg.setns_by_fd(fd.as_raw_fd());
        }
        let mut builder = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(spec.name.clone())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())));
        if let Some(mtu) = spec.mtu {
            builder = builder.mtu(mtu);
        }
        if let Some(mac) = spec.mac {
            builder = builder.address(mac.0.to_vec());
        }
        let object = match &spec.peer_netns {
            Some(ns) => format!("{} (veth, peer {} in {ns})", spec.name, spec.peer_name),
            None => format!("{} (veth, peer {})", spec.name, spec.peer_name),
        };
        match self.handle.link().add(builder.build()).execute().await {
            Ok(()) => {}
            Err(e)
                if netlink_errno(&e) == Some(libc::EEXIST)
                    && self.exists_as(&spec.name, "veth").await? =>
            {
                return Ok(());
            }
            Err(e) => return Err(self.err("create link", object, e)),
        }
        if !spec.ipv6_link_local {
            // The kernel refuses IPv6 settings in the creating request (the device has no IPv6 state yet:
            // EAFNOSUPPORT), so they follow, while both ends are still down.
            self.set_no_link_local(&spec.name).await?;
            match peer {
                Some((peer, _)) => peer.set_no_link_local(&spec.peer_name).await?,
                None => self.set_no_link_local(&spec.peer_name).await?,
            }
        }
        Ok(())
    }

    async fn set_no_link_local(&self, link: &str) -> Result<(), NetnsError> {
        let message = LinkUnspec::new_with_name(link)
            .append_extra_attribute(no_link_local())
            .build();
        self.change("set addrgenmode none", link, message).await
    }

    pub(crate) async fn create_vxlan(&self, spec: &VxlanSpec) -> Result<(), NetnsError> {
        if self.exists_as(&spec.name, "vxlan").await? {
            return Ok(());
        }
        let mut builder = LinkVxlan::new(&spec.name, spec.vni)
            .port(spec.port)
            .learning(spec.learning)
            .local(spec.local);
        if let Some(underlay) = &spec.underlay {
            builder = builder.dev(self.index(underlay).await?);
        }
        if let Some(mtu) = spec.mtu {
            builder = builder.mtu(mtu);
        }
        if let Some(mac) = spec.mac {
            builder = builder.address(mac.0.to_vec());
        }
        self.add_link(&spec.name, "vxlan", builder.build()).await
    }

    async fn change(
        &self,
        op: &'static str,
        link: &str,
        message: LinkMessage,
    ) -> Result<(), NetnsError> {
        match self.handle.link().change(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if netlink_errno(&e) == Some(libc::ENODEV) => Err(self.link_not_found(link)),
            Err(e) => Err(self.err(op, link, e)),
        }
    }

    pub(crate) async fn set_up(&self, link: &str) -> Result<(), NetnsError> {
        self.check_link_name(link)?;
        self.change("set up", link, LinkUnspec::new_with_name(link).up().build())
            .await
    }

    pub(crate) async fn set_mtu(&self, link: &str, mtu: u32) -> Result<(), NetnsError> {
        self.check_link_name(link)?;
        self.change(
            "set mtu",
            link,
            LinkUnspec::new_with_name(link).mtu(mtu).build(),
        )
        .await
    }

    pub(crate) async fn set_controller(&self, link: &str, bridge: &str) -> Result<(), NetnsError> {
        self.check_link_name(link)?;
        let bridge_index = self.index(bridge).await?;
        let message = LinkUnspec::new_with_name(link)
            .controller(bridge_index)
            .build();
        self.change("attach to bridge", link, message).await
    }

    pub(crate) async fn delete_link(&self, link: &str) -> Result<(), NetnsError> {
        let Some(found) = self.link(link).await? else {
            return Ok(());
        };
        match self.handle.link().del(found.header.index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if netlink_errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(self.err("delete link", link, e)),
        }
    }

    pub(crate) async fn add_address(&self, link: &str, addr: IpNet) -> Result<(), NetnsError> {
        let index = self.index(link).await?;
        match self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len())
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if netlink_errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(self.err("add address", format!("{addr} on {link}"), e)),
        }
    }

    /// Removes `addr` from `link`; absent already is fine.
    pub(crate) async fn delete_address(&self, link: &str, addr: IpNet) -> Result<(), NetnsError> {
        let index = self.index(link).await?;
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut found = Vec::new();
        while let Some(msg) = stream.next().await {
            let msg = msg.map_err(|e| self.err("list addresses", link, e))?;
            if msg.header.index != index || msg.header.prefix_len != addr.prefix_len() {
                continue;
            }
            let matches = msg.attributes.iter().any(|a| {
                matches!(a, AddressAttribute::Local(ip) | AddressAttribute::Address(ip) if *ip == addr.addr())
            });
            if matches {
                found.push(msg);
            }
        }
        for msg in found {
            match self.handle.address().del(msg).execute().await {
                Ok(()) => {}
                Err(e) if netlink_errno(&e) == Some(libc::EADDRNOTAVAIL) => {}
                Err(e) => return Err(self.err("delete address", format!("{addr} on {link}"), e)),
            }
        }
        Ok(())
    }

    pub(crate) async fn addresses(&self, link: &str) -> Result<Vec<IpNet>, NetnsError> {
        let index = self.index(link).await?;
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = stream.next().await {
            let msg = msg.map_err(|e| self.err("list addresses", link, e))?;
            if msg.header.index != index {
                continue;
            }
            let mut local = None;
            let mut address = None;
            for attr in &msg.attributes {
                match attr {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(address)
                && let Ok(net) = IpNet::new(ip, msg.header.prefix_len)
            {
                out.push(net);
            }
        }
        Ok(out)
    }

    async fn route_message(
        &self,
        route: &RouteSpec,
    ) -> Result<netlink_packet_route::route::RouteMessage, NetnsError> {
        let invalid = |what: String| NetnsError::Netlink {
            ns: self.ns.to_string(),
            op: "build route",
            object: route.to_string(),
            source: io::Error::new(io::ErrorKind::InvalidInput, what),
        };
        let mut builder = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(route.dst.network(), route.dst.prefix_len())
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(via) = route.via {
            builder = builder.gateway(via).map_err(|e| invalid(e.to_string()))?;
        } else {
            builder = builder.scope(RouteScope::Link);
        }
        if let Some(dev) = &route.dev {
            builder = builder.output_interface(self.index(dev).await?);
        }
        if route.onlink {
            builder = builder.onlink();
        }
        if let Some(metric) = route.metric {
            builder = builder.priority(metric);
        }
        Ok(builder.build())
    }

    pub(crate) async fn add_route(&self, route: &RouteSpec) -> Result<(), NetnsError> {
        let message = self.route_message(route).await?;
        self.handle
            .route()
            .add(message)
            .replace()
            .execute()
            .await
            .map_err(|e| self.err("add route", route.to_string(), e))
    }

    pub(crate) async fn delete_route(&self, route: &RouteSpec) -> Result<(), NetnsError> {
        let message = match self.route_message(route).await {
            Ok(m) => m,
            // The route's link is gone, and the route with it.
            Err(NetnsError::LinkNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.handle.route().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(e) if netlink_errno(&e) == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(self.err("delete route", route.to_string(), e)),
        }
    }

    fn fdb_message(index: u32, entry: &FdbEntry) -> NeighbourMessage {
        let mut message = NeighbourMessage::default();
        message.header.family = AddressFamily::Bridge;
        message.header.ifindex = index;
        message.header.state = NeighbourState::Permanent;
        // NTF_SELF: the entry belongs to the VXLAN device's own table, not to a bridge it may be a port of.
        message.header.flags = NeighbourFlags::Own;
        message.header.kind = RouteType::Unspec;
        message
            .attributes
            .push(NeighbourAttribute::LinkLayerAddress(entry.mac.0.to_vec()));
        message
            .attributes
            .push(NeighbourAttribute::Destination(match entry.dst {
                IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
                IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
            }));
        message
    }

    async fn request(
        &self,
        op: &'static str,
        object: String,
        message: NetlinkMessage<RouteNetlinkMessage>,
        ok_errno: i32,
    ) -> Result<(), NetnsError> {
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(message)
            .map_err(|e| self.err(op, object.clone(), e))?;
        while let Some(response) = responses.next().await {
            if let NetlinkPayload::Error(err) = response.payload
                && let Some(code) = err.code
            {
                if -code.get() == ok_errno {
                    return Ok(());
                }
                return Err(self.err(op, object, rtnetlink::Error::NetlinkError(err)));
            }
        }
        Ok(())
    }

    /// `bridge fdb append MAC dev DEV dst IP self permanent`.
    pub(crate) async fn add_fdb(&self, entry: &FdbEntry) -> Result<(), NetnsError> {
        let index = self.index(&entry.dev).await?;
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(
            Self::fdb_message(index, entry),
        ));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
        self.request("add fdb entry", entry.to_string(), request, libc::EEXIST)
            .await
    }

    /// `bridge fdb del MAC dev DEV dst IP self`; a missing entry or device counts as deleted.
    pub(crate) async fn delete_fdb(&self, entry: &FdbEntry) -> Result<(), NetnsError> {
        let index = match self.index(&entry.dev).await {
            Ok(index) => index,
            Err(NetnsError::LinkNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::DelNeighbour(
            Self::fdb_message(index, entry),
        ));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        self.request("delete fdb entry", entry.to_string(), request, libc::ENOENT)
            .await
    }

    /// `ip neigh replace IP lladdr MAC dev DEV nud permanent`.
    pub(crate) async fn add_neighbor(&self, entry: &NeighborEntry) -> Result<(), NetnsError> {
        let index = self.index(&entry.dev).await?;
        self.handle
            .neighbours()
            .add(index, entry.ip)
            .link_layer_address(&entry.mac.0)
            .replace()
            .execute()
            .await
            .map_err(|e| self.err("add neighbour", entry.to_string(), e))
    }

    /// `ip neigh del IP dev DEV`; a missing entry or device counts as deleted.
    pub(crate) async fn delete_neighbor(&self, entry: &NeighborEntry) -> Result<(), NetnsError> {
        let index = match self.index(&entry.dev).await {
            Ok(index) => index,
            Err(NetnsError::LinkNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut message = NeighbourMessage::default();
        message.header.family = match entry.ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        message.header.ifindex = index;
        message
            .attributes
            .push(NeighbourAttribute::Destination(match entry.ip {
                IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
                IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
            }));
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::DelNeighbour(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        self.request("delete neighbour", entry.to_string(), request, libc::ENOENT)
            .await
    }

    pub(crate) async fn links(&self) -> Result<Vec<LinkState>, NetnsError> {
        let mut stream = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(link) = stream.next().await {
            let link = link.map_err(|e| self.err("list links", "all", e))?;
            out.push(link_state(&link));
        }
        Ok(out)
    }
}

/// `addrgenmode none`: the link gets no IPv6 link-local address when it comes up.
fn no_link_local() -> LinkAttribute {
    LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
        In6AddrGenMode::None,
    )])])
}

fn kind_of(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|attr| match attr {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|info| match info {
            LinkInfo::Kind(kind) => Some(kind.to_string()),
            _ => None,
        }),
        _ => None,
    })
}

fn link_state(link: &LinkMessage) -> LinkState {
    let mut state = LinkState {
        index: link.header.index,
        name: String::new(),
        kind: kind_of(link),
        up: link.header.flags.contains(LinkFlags::Up),
        mtu: 0,
        mac: None,
        controller: None,
        rx_packets: 0,
        tx_packets: 0,
    };
    for attr in &link.attributes {
        match attr {
            LinkAttribute::IfName(name) => state.name = name.clone(),
            LinkAttribute::Mtu(mtu) => state.mtu = *mtu,
            LinkAttribute::Address(bytes) => state.mac = MacAddr::try_from(bytes.as_slice()).ok(),
            LinkAttribute::Controller(index) => state.controller = Some(*index),
            LinkAttribute::Stats64(stats) => {
                state.rx_packets = stats.rx_packets;
                state.tx_packets = stats.tx_packets;
            }
            _ => {}
        }
    }
    state
}
