//! The listeners: UDP worker threads sharing one socket ([`crate::udp`]) and a TCP accept loop,
//! over sockets the caller has bound (knet binds them inside a node's network namespace).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::udp::UdpWorkers;
use crate::wire::Transport;
use crate::{DnsError, DnsState};

/// How long a TCP client may take to send the rest of a message it started.
const TCP_READ: Duration = Duration::from_secs(5);

/// Serves DNS on `udp` and `tcp` until `shutdown` resolves.
///
/// UDP is answered by [`crate::DnsConfig::udp_workers`] dedicated threads doing blocking,
/// batched I/O on `udp` (`recvmmsg`/`sendmmsg`), each with its own [`crate::AnswerCache`];
/// forwarded queries and TCP run on the caller's tokio runtime. The socket is switched to
/// blocking mode with a read timeout.
///
/// Each query is answered independently: a malformed packet gets FORMERR or is dropped, a slow
/// upstream delays only the queries waiting for it, and a slow or idle TCP client holds only
/// its own connection (closed after [`crate::DnsConfig::tcp_idle_timeout`]).
pub async fn serve(
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
    state: Arc<DnsState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DnsError> {
    tcp.set_nonblocking(true)?;
    let tcp = TcpListener::from_std(tcp)?;
    let udp_addr = udp.local_addr().ok();
    let (stop_tx, stop_rx) = watch::channel(false);
    let forwards = Arc::new(Semaphore::new(state.config().max_inflight_forwards.max(1)));
    let workers = UdpWorkers::start(
        udp,
        &state,
        &forwards,
        &stop_rx,
        &tokio::runtime::Handle::current(),
    )?;
    // In a JoinSet so that dropping this future also ends the acceptor (and `workers`' drop
    // stops the UDP threads).
    let mut tasks = JoinSet::new();
    tasks.spawn(tcp_acceptor(tcp, state.clone(), stop_rx.clone()));
    tracing::info!(
        udp = ?udp_addr,
        workers = state.config().udp_workers,
        zone = %state.snapshot().zone(),
        "DNS serving"
    );
    shutdown.await;
    let _ = stop_tx.send(true);
    workers.stop().await;
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn tcp_acceptor(listener: TcpListener, state: Arc<DnsState>, stop: watch::Receiver<bool>) {
    let limit = Arc::new(Semaphore::new(state.config().max_tcp_connections.max(1)));
    let mut conns = JoinSet::new();
    let stopping = stopped(stop.clone());
    tokio::pin!(stopping);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut stopping => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many DNS TCP connections; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let stop = stop.clone();
        conns.spawn(async move {
            tokio::select! {
                _ = stopped(stop) => {}
                r = tcp_connection(stream, &state) => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "DNS TCP connection ended");
                    }
                }
            }
            drop(permit);
        });
    }
    conns.abort_all();
}

/// RFC 1035 §4.2.2 / RFC 7766: two-byte length, then the message; several queries per
/// connection, answered in order.
async fn tcp_connection(mut stream: TcpStream, state: &DnsState) -> std::io::Result<()> {
    let idle = state.config().tcp_idle_timeout;
    let mut buf = Vec::new();
    loop {
        let len = match tokio::time::timeout(idle, stream.read_u16()).await {
            Err(_) => return Ok(()), // idle
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(r) => r?,
        };
        buf.resize(usize::from(len), 0);
        tokio::time::timeout(TCP_READ, stream.read_exact(&mut buf))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "slow client"))??;
        let Some(reply) = state.handle(&buf, Transport::Tcp).await else {
            continue;
        };
        let Ok(rlen) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&rlen.to_be_bytes());
        framed.extend_from_slice(&reply);
        tokio::time::timeout(TCP_READ, stream.write_all(&framed))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "slow reader"))??;
    }
}
