//! Listeners on one address or on all addresses (dual-stack `[::]`, falling back to `0.0.0.0`
//! where the pod has no IPv6), as Go's `net.Listen("tcp", ":port")` does.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

use crate::ImageError;

/// Binds a TCP listener on `ip` (all addresses when `None`) and `port` (0: ephemeral).
pub(crate) fn tcp(ip: Option<IpAddr>, port: u16) -> Result<TcpListener, ImageError> {
    let socket = bind(ip, port, Type::STREAM, Protocol::TCP)?;
    let addr = local_or(&socket, ip, port);
    socket
        .listen(1024)
        .and_then(|()| TcpListener::from_std(socket.into()))
        .map_err(|source| ImageError::Listen {
            protocol: "tcp",
            addr,
            source,
        })
}

/// Binds a UDP socket on `ip` (all addresses when `None`) and `port` (0: ephemeral).
pub(crate) fn udp(ip: Option<IpAddr>, port: u16) -> Result<UdpSocket, ImageError> {
    let socket = bind(ip, port, Type::DGRAM, Protocol::UDP)?;
    let addr = local_or(&socket, ip, port);
    UdpSocket::from_std(socket.into()).map_err(|source| ImageError::Listen {
        protocol: "udp",
        addr,
        source,
    })
}

fn local_or(socket: &Socket, ip: Option<IpAddr>, port: u16) -> SocketAddr {
    socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or_else(|| SocketAddr::new(ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), port))
}

fn bind(ip: Option<IpAddr>, port: u16, ty: Type, proto: Protocol) -> Result<Socket, ImageError> {
    let protocol = if ty == Type::STREAM { "tcp" } else { "udp" };
    let err = |addr, source| ImageError::Listen {
        protocol,
        addr,
        source,
    };
    match ip {
        Some(ip) => {
            let addr = SocketAddr::new(ip, port);
            bind_one(addr, ty, proto, false).map_err(|e| err(addr, e))
        }
        None => {
            let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
            match bind_one(any6, ty, proto, true) {
                Ok(socket) => Ok(socket),
                // No IPv6 in this network namespace (or the kernel): serve IPv4 only.
                Err(e6) if is_no_ipv6(&e6) => {
                    let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
                    bind_one(any4, ty, proto, false).map_err(|e| err(any4, e))
                }
                Err(e6) => Err(err(any6, e6)),
            }
        }
    }
}

fn is_no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EAFNOSUPPORT | nix::libc::EADDRNOTAVAIL | nix::libc::EPROTONOSUPPORT)
    )
}

fn bind_one(addr: SocketAddr, ty: Type, proto: Protocol, dual_stack: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    if ty == Type::STREAM {
        // As Go and most servers do, so a restarted container can rebind while old connections
        // sit in TIME_WAIT.
        socket.set_reuse_address(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A peer address as Go reports it: IPv4-mapped IPv6 (`[::ffff:10.0.0.1]:5`) shown as IPv4.
pub(crate) fn canonical(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}
