//! Where probes come from: kubelet probes pods over the network from the node, so HTTP and TCP
//! probe sockets are made in the node's network namespace (a socket keeps the namespace it was
//! created in) and connected from there to the pod IP.

use std::io;
use std::net::SocketAddr;

use futures::future::BoxFuture;
use tokio::net::TcpSocket;

/// Makes probe sockets in the network namespace named `netns` (the node's, `node{i}`).
pub(crate) struct NodeDialer {
    pub(crate) netns: String,
}

impl knet_node::ProbeDialer for NodeDialer {
    fn socket(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<TcpSocket>> {
        let name = self.netns.clone();
        Box::pin(async move {
            let netns = knet_netns::Netns::open(&name).map_err(io::Error::other)?;
            netns
                .run_in_async(move || {
                    if addr.is_ipv4() {
                        TcpSocket::new_v4()
                    } else {
                        TcpSocket::new_v6()
                    }
                })
                .await
                .map_err(io::Error::other)?
        })
    }
}
