//! Forwarding of names outside the cluster zone to upstream resolvers: UDP first, TCP when the
//! answer comes back truncated (RFC 7766 §5), each upstream in turn, answers cached.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::answer::response_to;
use crate::cache::{Cache, CacheKey, CachePolicy, UpstreamAnswer};
use crate::config::DnsConfig;
use crate::wire::Pending;

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No upstream is configured.
    #[error("no upstream resolvers configured")]
    NoUpstreams,
    /// Every upstream timed out, failed, or answered SERVFAIL/REFUSED.
    #[error("no upstream answered: {0}")]
    Failed(String),
}

/// The buffer size advertised to upstreams (DNS flag day 2020).
const UPSTREAM_PAYLOAD: u16 = 1232;

/// Upstream resolvers plus the answer cache.
#[derive(Debug)]
pub(crate) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    cache: Mutex<Cache>,
}

impl Forwarder {
    pub(crate) fn new(cfg: &DnsConfig) -> Forwarder {
        Forwarder {
            upstreams: cfg.upstreams.clone(),
            timeout: cfg.upstream_timeout,
            cache: Mutex::new(Cache::new(CachePolicy {
                capacity: cfg.cache_size,
                max_ttl: cfg.cache_max_ttl,
                negative_ttl: cfg.negative_cache_ttl,
            })),
        }
    }

    /// The cached answer for a question, if any (no I/O: the UDP fast path calls this).
    pub(crate) fn cached(&self, key: &CacheKey) -> Option<UpstreamAnswer> {
        let cache = self.cache.lock().ok()?;
        cache.get(key, Instant::now())
    }

    pub(crate) fn cache_len(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Resolves a question upstream (through the cache).
    pub(crate) async fn resolve(
        &self,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Result<UpstreamAnswer, ForwardError> {
        let key = CacheKey::new(name, qtype, qclass);
        if let Some(hit) = key.as_ref().and_then(|k| self.cached(k)) {
            return Ok(hit);
        }
        if self.upstreams.is_empty() {
            return Err(ForwardError::NoUpstreams);
        }
        let mut failures = Vec::new();
        for upstream in &self.upstreams {
            match self.ask(*upstream, name, qtype, qclass).await {
                Ok(answer)
                    if matches!(answer.rcode, ResponseCode::NoError | ResponseCode::NXDomain) =>
                {
                    if let (Some(key), Ok(mut cache)) = (key, self.cache.lock()) {
                        cache.insert(key, answer.clone(), Instant::now());
                    }
                    return Ok(answer);
                }
                Ok(answer) => failures.push(format!("{upstream}: {}", answer.rcode)),
                Err(e) => failures.push(format!("{upstream}: {e}")),
            }
        }
        Err(ForwardError::Failed(failures.join("; ")))
    }

    /// One upstream: UDP, then TCP if truncated.
    async fn ask(
        &self,
        upstream: SocketAddr,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> std::io::Result<UpstreamAnswer> {
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        let mut q = Query::query(name.clone(), qtype);
        q.set_query_class(qclass);
        query.add_query(q);
        let mut edns = Edns::new();
        edns.set_max_payload(UPSTREAM_PAYLOAD);
        query.set_edns(edns);
        let bytes = query.to_vec().map_err(std::io::Error::other)?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let udp = tokio::time::timeout_at(deadline, udp_exchange(upstream, &bytes, &query)).await;
        let resp = match udp {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out",
                ));
            }
        };
        let resp = if resp.metadata.truncation {
            let tcp = tokio::time::timeout(self.timeout, tcp_exchange(upstream, &bytes, &query));
            match tcp.await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "timed out over TCP",
                    ));
                }
            }
        } else {
            resp
        };
        Ok(UpstreamAnswer {
            rcode: resp.metadata.response_code,
            answers: resp.answers,
            authorities: resp.authorities,
            additionals: resp.additionals,
        })
    }
}

/// Whether `resp` answers `query` (same ID and question, a response): anything else on the
/// socket is ignored, so off-path spoofing must guess the port and the ID.
fn matches_query(resp: &Message, query: &Message) -> bool {
    resp.metadata.id == query.metadata.id
        && resp.metadata.message_type == MessageType::Response
        && resp.metadata.op_code == OpCode::Query
        && match (resp.queries.first(), query.queries.first()) {
            (Some(a), Some(b)) => {
                a.query_type == b.query_type && a.query_class == b.query_class && a.name == b.name
            }
            // Some servers omit the question in error answers.
            (None, _) => resp.metadata.response_code != ResponseCode::NoError,
            _ => false,
        }
}

async fn udp_exchange(
    upstream: SocketAddr,
    bytes: &[u8],
    query: &Message,
) -> std::io::Result<Message> {
    let local: SocketAddr = match upstream.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // A fresh socket (random source port) per query, connected so only the upstream's
    // datagrams arrive.
    let sock = UdpSocket::bind(local).await?;
    sock.connect(upstream).await?;
    sock.send(bytes).await?;
    let mut buf = vec![0u8; usize::from(UPSTREAM_PAYLOAD).max(4096)];
    loop {
        let n = sock.recv(&mut buf).await?;
        let Ok(resp) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if matches_query(&resp, query) {
            return Ok(resp);
        }
    }
}

async fn tcp_exchange(
    upstream: SocketAddr,
    bytes: &[u8],
    query: &Message,
) -> std::io::Result<Message> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(bytes.len()).map_err(std::io::Error::other)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    loop {
        let len = stream.read_u16().await?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await?;
        let resp = Message::from_vec(&buf).map_err(std::io::Error::other)?;
        if matches_query(&resp, query) {
            return Ok(resp);
        }
    }
}

/// The client's response from an upstream answer: the upstream's RCODE and sections after any
/// in-zone CNAME chain; not authoritative unless the chain started in the zone.
pub(crate) fn merge(pending: &Pending, upstream: UpstreamAnswer) -> Message {
    let mut resp = match &pending.partial {
        Some(partial) => partial.clone(),
        None => response_to(&pending.request, ResponseCode::NoError),
    };
    resp.metadata.response_code = upstream.rcode;
    resp.answers.extend(upstream.answers);
    resp.authorities = upstream.authorities;
    resp.additionals = upstream.additionals;
    resp
}

/// The client's response when no upstream answered.
pub(crate) fn failure(pending: &Pending, err: &ForwardError) -> Message {
    let rcode = match err {
        // Nothing to forward to: this server declines, as a server without recursion does.
        ForwardError::NoUpstreams => ResponseCode::Refused,
        ForwardError::Failed(_) => ResponseCode::ServFail,
    };
    let mut resp = response_to(&pending.request, rcode);
    if let Some(partial) = &pending.partial {
        // Keep the in-zone CNAME chain; the target just could not be resolved.
        resp.answers = partial.answers.clone();
        resp.metadata.authoritative = partial.metadata.authoritative;
    }
    resp
}
