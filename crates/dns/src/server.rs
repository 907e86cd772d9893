//! The listeners: UDP workers sharing one socket and a TCP accept loop, over sockets the caller
//! has bound (knet binds them inside a node's network namespace).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::wire::{Processed, Transport, process_packet};
use crate::{DnsError, DnsState};

/// Largest UDP datagram read (any valid query is far smaller).
const UDP_RECV: usize = 4096;
/// How long a TCP client may take to send the rest of a message it started.
const TCP_READ: Duration = Duration::from_secs(5);

/// Serves DNS on `udp` and `tcp` until `shutdown` resolves.
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
    udp.set_nonblocking(true)?;
    tcp.set_nonblocking(true)?;
    let udp = Arc::new(UdpSocket::from_std(udp)?);
    let tcp = TcpListener::from_std(tcp)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let forwards = Arc::new(Semaphore::new(state.config().max_inflight_forwards.max(1)));

    let mut tasks = JoinSet::new();
    for _ in 0..state.config().udp_workers.max(1) {
        tasks.spawn(udp_worker(
            udp.clone(),
            state.clone(),
            forwards.clone(),
            stop_rx.clone(),
        ));
    }
    tasks.spawn(tcp_acceptor(tcp, state.clone(), stop_rx.clone()));
    tracing::info!(
        udp = ?udp.local_addr().ok(),
        workers = state.config().udp_workers,
        zone = %state.snapshot().zone(),
        "DNS serving"
    );
    shutdown.await;
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn udp_worker(
    sock: Arc<UdpSocket>,
    state: Arc<DnsState>,
    forwards: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; UDP_RECV];
    let stop = stopped(stop);
    tokio::pin!(stop);
    let mut inflight = JoinSet::new();
    loop {
        let (n, peer) = tokio::select! {
            biased;
            _ = &mut stop => break,
            r = sock.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // E.g. ICMP errors reported on the socket; never fatal for other clients.
                    tracing::debug!(error = %e, "UDP receive failed");
                    continue;
                }
            },
            // Reap finished forwards so the set does not grow.
            Some(_) = inflight.join_next(), if !inflight.is_empty() => continue,
        };
        let processed = {
            let snapshot = state.snapshot.load();
            process_packet(
                &snapshot,
                state.config().max_udp_payload,
                &buf[..n],
                Transport::Udp,
            )
        };
        match processed {
            Processed::Reply(bytes) => send(&sock, &bytes, peer).await,
            Processed::Drop => {}
            Processed::Upstream(pending) => {
                if let Some(bytes) = state.forward_cached(&pending, Transport::Udp) {
                    send(&sock, &bytes, peer).await;
                    continue;
                }
                let Ok(permit) = forwards.clone().try_acquire_owned() else {
                    // Too many forwards in flight: fail fast rather than queue without bound.
                    let resp = crate::forward::failure(
                        &pending,
                        &crate::ForwardError::Failed("too many queries in flight".into()),
                    );
                    let bytes = crate::encode_response(
                        resp,
                        &pending.request,
                        state.config().max_udp_payload,
                        Transport::Udp,
                    );
                    send(&sock, &bytes, peer).await;
                    continue;
                };
                let sock = sock.clone();
                let state = state.clone();
                inflight.spawn(async move {
                    let bytes = state.forward(*pending, Transport::Udp).await;
                    send(&sock, &bytes, peer).await;
                    drop(permit);
                });
            }
        }
    }
    inflight.abort_all();
}

async fn send(sock: &UdpSocket, bytes: &[u8], peer: SocketAddr) {
    if let Err(e) = sock.send_to(bytes, peer).await {
        tracing::debug!(%peer, error = %e, "UDP send failed");
    }
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
