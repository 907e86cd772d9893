//! The UDP listener: worker threads doing blocking, batched I/O on the one socket.
//!
//! ```text
//!  socket ──recvmmsg (≤ BATCH, blocks for the first)──► worker thread ──sendmmsg──► socket
//!                                                          │ AnswerCache (hit: copy + ID)
//!                                                          │ miss: process_packet
//!                                                          └─ upstream ──► tokio task ──sendto──► socket
//! ```
//!
//! Why threads and batches: answering a cached query costs well under a microsecond, so the
//! time goes to the kernel (one receive and one send per query) and, with tokio tasks, to
//! readiness polling and wake-ups. A blocking thread that takes every queued datagram with one
//! `recvmmsg` and answers them with one `sendmmsg` does the least kernel work per query.

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg, sendto};
use tokio::sync::{Semaphore, oneshot, watch};

use crate::DnsState;
use crate::hot::AnswerCache;
use crate::wire::{Pending, Processed, Transport};

/// Largest UDP datagram read (any real query is far smaller; a longer one is cut to this).
const UDP_RECV: usize = 4096;
/// Most datagrams taken from the socket per `recvmmsg`, and replies sent per `sendmmsg`.
const BATCH: usize = 32;
/// Receive buffer asked for the socket (Linux defaults to 208 KiB, a few hundred queries).
const RECV_BUFFER: usize = 4 << 20;
/// How often an idle worker wakes up to see whether the server is stopping.
const WAKE: Duration = Duration::from_millis(100);

/// The running UDP worker threads. Dropping this tells them to stop (they notice within
/// [`WAKE`]); [`UdpWorkers::stop`] also waits for them.
pub(crate) struct UdpWorkers {
    stop: Arc<AtomicBool>,
    done: Vec<oneshot::Receiver<()>>,
}

impl UdpWorkers {
    /// Starts `state.config().udp_workers` threads on `sock`. Forwarded queries run on
    /// `runtime`, at most `forwards` at once, and are abandoned when `stop_rx` turns true.
    pub(crate) fn start(
        sock: std::net::UdpSocket,
        state: &Arc<DnsState>,
        forwards: &Arc<Semaphore>,
        stop_rx: &watch::Receiver<bool>,
        runtime: &tokio::runtime::Handle,
    ) -> std::io::Result<UdpWorkers> {
        // Blocking reads that time out now and then, to notice the stop flag.
        sock.set_nonblocking(false)?;
        sock.set_read_timeout(Some(WAKE))?;
        // Room for bursts while the workers are busy (the kernel caps it at net.core.rmem_max).
        if let Err(e) = rustix::net::sockopt::set_socket_recv_buffer_size(&sock, RECV_BUFFER) {
            tracing::debug!(error = %e, "could not enlarge the UDP receive buffer");
        }
        let sock = Arc::new(sock);
        let mut workers = UdpWorkers {
            stop: Arc::new(AtomicBool::new(false)),
            done: Vec::new(),
        };
        for i in 0..state.config().udp_workers.max(1) {
            let (done_tx, done_rx) = oneshot::channel::<()>();
            let worker = Worker {
                sock: sock.clone(),
                state: state.clone(),
                forwards: forwards.clone(),
                stop: workers.stop.clone(),
                stop_rx: stop_rx.clone(),
                runtime: runtime.clone(),
            };
            // On error `workers` is dropped, which stops the threads already started.
            std::thread::Builder::new()
                .name(format!("knet-dns-udp-{i}"))
                .spawn(move || {
                    worker.run();
                    drop(done_tx);
                })?;
            workers.done.push(done_rx);
        }
        Ok(workers)
    }

    /// Stops the threads and waits until they have ended.
    pub(crate) async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for done in std::mem::take(&mut self.done) {
            // Err once the thread ended (a panic drops the sender too).
            let _ = done.await;
        }
    }
}

impl Drop for UdpWorkers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One worker thread and what it shares with the others.
struct Worker {
    sock: Arc<std::net::UdpSocket>,
    state: Arc<DnsState>,
    forwards: Arc<Semaphore>,
    stop: Arc<AtomicBool>,
    stop_rx: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
}

impl Worker {
    fn run(self) {
        let fd = self.sock.as_raw_fd();
        let max_udp_payload = self.state.config().max_udp_payload;
        let mut cache = AnswerCache::new(self.state.config().answer_cache_size);
        let mut bufs = vec![[0u8; UDP_RECV]; BATCH];
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
        // (length, sender) of each datagram of the batch, then the replies to send.
        let mut received: Vec<(usize, SockaddrStorage)> = Vec::with_capacity(BATCH);
        let mut replies: Vec<(Vec<u8>, SocketAddrAny)> = Vec::with_capacity(BATCH);
        while !self.stop.load(Ordering::Relaxed) {
            received.clear();
            {
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                    bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
                // MSG_WAITFORONE: block for the first datagram, then take only what is queued.
                match recvmmsg(
                    fd,
                    &mut headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_WAITFORONE,
                    None,
                ) {
                    Ok(msgs) => {
                        received.extend(msgs.filter_map(|m| m.address.map(|a| (m.bytes, a))))
                    }
                    // The read timeout (time to look at the stop flag) or a signal.
                    Err(Errno::EAGAIN | Errno::EINTR) => continue,
                    Err(e) => {
                        // E.g. ICMP errors reported on the socket; never fatal for other clients.
                        tracing::debug!(error = %e, "UDP receive failed");
                        continue;
                    }
                }
            }
            let snapshot = self.state.snapshot.load();
            for ((len, peer), buf) in received.iter().zip(&bufs) {
                let Some(peer) = socket_addr(peer) else {
                    continue; // not an IP sender: cannot happen on a UDP/IP socket
                };
                let packet = buf.get(..*len).unwrap_or(buf);
                match cache.process(&snapshot, max_udp_payload, packet) {
                    Processed::Reply(bytes) => replies.push((bytes, peer.into())),
                    Processed::Drop => {}
                    Processed::Upstream(pending) => {
                        if let Some(bytes) = self.upstream(pending, peer) {
                            replies.push((bytes, peer.into()));
                        }
                    }
                }
            }
            drop(snapshot);
            send_all(&self.sock, &replies);
            replies.clear();
        }
    }

    /// A query for an upstream: the reply to send now when there is one (from the upstream
    /// cache, or a failure when too many forwards are in flight); otherwise it is resolved on
    /// the runtime, which sends the reply.
    fn upstream(&self, pending: Box<Pending>, peer: SocketAddr) -> Option<Vec<u8>> {
        if let Some(bytes) = self.state.forward_cached(&pending, Transport::Udp) {
            return Some(bytes);
        }
        let Ok(permit) = self.forwards.clone().try_acquire_owned() else {
            // Too many forwards in flight: fail fast rather than queue without bound.
            let resp = crate::forward::failure(
                &pending,
                &crate::ForwardError::Failed("too many queries in flight".into()),
            );
            return Some(crate::encode_response(
                resp,
                &pending.request,
                self.state.config().max_udp_payload,
                Transport::Udp,
            ));
        };
        let sock = self.sock.clone();
        let state = self.state.clone();
        let mut stop = self.stop_rx.clone();
        self.runtime.spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                bytes = state.forward(*pending, Transport::Udp) => {
                    // Never block a runtime thread: when the socket buffer is full the reply
                    // is dropped (the client retries).
                    if let Err(e) = sendto(&*sock, &bytes, SendFlags::DONTWAIT, &peer) {
                        tracing::debug!(%peer, error = %e, "UDP send failed");
                    }
                }
            }
            drop(permit);
        });
        None
    }
}

/// The sender's address, for the IPv4 and IPv6 families.
fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// Sends every reply, with as few `sendmmsg` calls as the kernel allows; a reply the kernel
/// refuses (no route back to a spoofed sender, say) is skipped, not retried.
fn send_all(sock: &std::net::UdpSocket, replies: &[(Vec<u8>, SocketAddrAny)]) {
    if replies.is_empty() {
        return;
    }
    let iovs: Vec<[IoSlice<'_>; 1]> = replies.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = replies
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut msgs: Vec<MMsgHdr<'_>> = replies
        .iter()
        .zip(&iovs)
        .zip(controls.iter_mut())
        .map(|(((_, peer), iov), control)| MMsgHdr::new_with_addr(peer, iov, control))
        .collect();
    let mut at = 0;
    while let Some(rest) = msgs.get_mut(at..).filter(|r| !r.is_empty()) {
        match sendmmsg(sock, rest, SendFlags::empty()) {
            Ok(0) => break,
            Ok(sent) => at += sent,
            Err(rustix::io::Errno::INTR) => {}
            // The error belongs to the first message of `rest`.
            Err(e) => {
                tracing::debug!(error = %e, "UDP send failed");
                at += 1;
            }
        }
    }
}

/// Answers every datagram on `sock` with itself, the QR (response) bit set, until `stop` (looked
/// at between batches and at least every read timeout the caller set on `sock`): a well-formed
/// DNS response (the question echoed, no records, NOERROR) for no DNS work at all, over the same
/// batched I/O as the workers ([`recvmmsg`] then [`send_all`]). `knet bench dns` loads it to
/// measure the most its load generator gets out of any server on the machine.
pub fn reflect(sock: &std::net::UdpSocket, stop: &AtomicBool) {
    let fd = sock.as_raw_fd();
    let mut bufs = vec![[0u8; UDP_RECV]; BATCH];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut replies: Vec<(Vec<u8>, SocketAddrAny)> = Vec::with_capacity(BATCH);
    while !stop.load(Ordering::Relaxed) {
        replies.clear();
        let received: Vec<(usize, SockaddrStorage)> = {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            match recvmmsg(
                fd,
                &mut headers,
                iovs.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(msgs) => msgs
                    .filter_map(|m| m.address.map(|a| (m.bytes, a)))
                    .collect(),
                // The read timeout (time to look at the stop flag), a signal, an ICMP error.
                Err(_) => continue,
            }
        };
        for ((len, peer), buf) in received.iter().zip(&bufs) {
            let (Some(peer), Some(packet)) = (socket_addr(peer), buf.get(..*len)) else {
                continue;
            };
            let mut reply = packet.to_vec();
            if let Some(flags) = reply.get_mut(2) {
                *flags |= 0x80;
                replies.push((reply, peer.into()));
            }
        }
        send_all(sock, &replies);
    }
}
