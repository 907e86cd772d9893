//! `client`: knet's test client, in the spirit of agnhost's `connect` and netexec's `/dial`.
//! Every operation has a bounded timeout ([`DEFAULT_TIMEOUT`] unless given) and never hangs.
//! HTTP requests use a fresh connection each, so a Service's load balancing (per connection)
//! shows in [`round_robin`].

mod cli;

pub(crate) use cli::{failure_line, run};

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Timeout of every client operation unless one is given: 5 s, as agnhost's dial uses.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response body or stream read kept.
const MAX_RESPONSE: usize = 16 << 20;
/// Largest datagram read.
const MAX_DATAGRAM: usize = 65535;

/// Why a client operation failed. [`ClientError::class`] gives agnhost connect's fixed prefix.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The target or URL is malformed (agnhost: `UNKNOWN`).
    #[error("invalid target {target:?}: {reason}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name did not resolve (agnhost: `DNS`).
    #[error("lookup {host}: {reason}")]
    Dns {
        /// The name looked up.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The peer refused the connection, or answered a datagram with port unreachable
    /// (agnhost: `REFUSED`).
    #[error("connect {addr}: connection refused")]
    Refused {
        /// The address refused.
        addr: String,
    },
    /// The operation did not finish in time (agnhost: `TIMEOUT`).
    #[error("{target}: timed out after {after:?}")]
    Timeout {
        /// What was being reached.
        target: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// Another socket error (agnhost: `OTHER`).
    #[error("{op} {target}: {source}")]
    Io {
        /// `connect`, `write`, `read`, ...
        op: &'static str,
        /// What was being reached.
        target: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange failed after connecting (agnhost: `OTHER`).
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

impl ClientError {
    /// The fixed prefix agnhost's `connect` prints for this error, which tests match on:
    /// `UNKNOWN`, `DNS`, `REFUSED`, `TIMEOUT` or `OTHER`.
    pub fn class(&self) -> &'static str {
        match self {
            ClientError::InvalidTarget { .. } => "UNKNOWN",
            ClientError::Dns { .. } => "DNS",
            ClientError::Refused { .. } => "REFUSED",
            ClientError::Timeout { .. } => "TIMEOUT",
            ClientError::Io { .. } | ClientError::Http { .. } => "OTHER",
        }
    }

    fn io(op: &'static str, target: impl ToString, source: io::Error) -> Self {
        let target = target.to_string();
        match source.kind() {
            io::ErrorKind::ConnectionRefused => ClientError::Refused { addr: target },
            _ => ClientError::Io { op, target, source },
        }
    }
}

/// Bounds `fut` by `timeout`, reporting a [`ClientError::Timeout`] for `target`.
async fn bounded<T>(
    target: &str,
    timeout: Duration,
    fut: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| {
            Err(ClientError::Timeout {
                target: target.to_owned(),
                after: timeout,
            })
        })
}

/// `host:port`, bracketing IPv6 literals (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host:port` (`[v6]:port` for IPv6) into host and port.
fn split_host_port(target: &str) -> Result<(&str, u16), ClientError> {
    let invalid = |reason: &str| ClientError::InvalidTarget {
        target: target.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| invalid("missing port, want HOST:PORT"))?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| invalid("unclosed '['"))?,
        None if host.contains(':') => return Err(invalid("too many colons; write [IPv6]:PORT")),
        None => host,
    };
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid("port must be a number in 0-65535"))?;
    Ok((host, port))
}

/// Resolves `host:port` (an IP literal or a name, through the system resolver as Go's does).
pub async fn resolve_target(target: &str) -> Result<Vec<SocketAddr>, ClientError> {
    let (host, port) = split_host_port(target)?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ClientError::Dns {
            host: host.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ClientError::Dns {
            host: host.to_owned(),
            reason: "no such host".to_owned(),
        });
    }
    Ok(addrs)
}

/// Connects to the first address of `target` that accepts (no timeout of its own).
async fn connect_any(target: &str) -> Result<TcpStream, ClientError> {
    let mut first_error = None;
    for addr in resolve_target(target).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Small request/response exchanges: do not wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => {
                first_error.get_or_insert(ClientError::io("connect", addr, e));
            }
        }
    }
    Err(first_error.unwrap_or_else(|| ClientError::Dns {
        host: target.to_owned(),
        reason: "no such host".to_owned(),
    }))
}

/// Opens a TCP connection to `target` and closes it; returns how long the connect took.
pub async fn tcp_connect(target: &str, timeout: Duration) -> Result<Duration, ClientError> {
    bounded(target, timeout, async {
        let addrs = resolve_target(target).await?;
        let mut first_error = None;
        for addr in addrs {
            let start = Instant::now();
            match TcpStream::connect(addr).await {
                Ok(_stream) => return Ok(start.elapsed()),
                Err(e) => {
                    first_error.get_or_insert(ClientError::io("connect", addr, e));
                }
            }
        }
        Err(first_error.unwrap_or_else(|| ClientError::Dns {
            host: target.to_owned(),
            reason: "no such host".to_owned(),
        }))
    })
    .await
}

/// An HTTP response as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body, UTF-8 (invalid bytes replaced).
    pub body: String,
}

/// Parses a client URL: `http://host[:port]/path?query`; the scheme may be left out.
fn parse_url(url: &str) -> Result<(Uri, String), ClientError> {
    let invalid = |reason: String| ClientError::InvalidTarget {
        target: url.to_owned(),
        reason,
    };
    let full = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let uri: Uri = full.parse().map_err(|e| invalid(format!("{e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(invalid(format!(
                "scheme {other:?} is not supported, use http"
            )));
        }
        None => return Err(invalid("missing scheme".to_owned())),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("missing host".to_owned()))?;
    let host = authority.host();
    let port = authority.port_u16().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((uri.clone(), join_host_port(host, &port.to_string())))
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// GETs `url` over a new connection (HTTP/1.1), bounded by `timeout` from resolve to last byte.
pub async fn http_get(url: &str, timeout: Duration) -> Result<HttpResponse, ClientError> {
    let (uri, target) = parse_url(url)?;
    bounded(url, timeout, async {
        let stream = connect_any(&target).await?;
        let http_err = |reason: String| ClientError::Http {
            url: url.to_owned(),
            reason,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http_err(e.to_string()))?;
        // The connection is driven by its own task and closed when this request is done.
        let _driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let host = uri.authority().map_or("", |a| a.as_str());
        let request = Request::get(path)
            .header(header::HOST, host)
            .header(
                header::USER_AGENT,
                concat!("knet-client/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| http_err(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| http_err(e.to_string()))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| http_err(format!("reading body: {e}")))?
            .to_bytes();
        Ok(HttpResponse {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    })
    .await
}

/// Connects to `target`, sends `send` plus a newline (if given) and closes the sending side, then
/// reads until the peer closes. Returns what was read. If the peer never closes, what arrived
/// before `timeout` is returned (a `TIMEOUT` only when nothing did).
pub async fn tcp_exchange(
    target: &str,
    send: Option<&str>,
    timeout: Duration,
) -> Result<String, ClientError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stream = bounded(target, timeout, connect_any(target)).await?;
    if let Some(text) = send {
        let mut line = text.as_bytes().to_vec();
        line.push(b'\n');
        let written = tokio::time::timeout_at(deadline, async {
            stream.write_all(&line).await?;
            stream.shutdown().await
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ClientError::io("write", target, e)),
            Err(_) => {
                return Err(ClientError::Timeout {
                    target: target.to_owned(),
                    after: timeout,
                });
            }
        }
    }
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                received.extend_from_slice(&chunk[..n]);
                if received.len() > MAX_RESPONSE {
                    break;
                }
            }
            Ok(Err(e)) if received.is_empty() => return Err(ClientError::io("read", target, e)),
            Ok(Err(_)) => break,
            Err(_) if received.is_empty() => {
                return Err(ClientError::Timeout {
                    target: target.to_owned(),
                    after: timeout,
                });
            }
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&received).into_owned())
}

/// Sends `payload` as one datagram to `target` and waits for one datagram back.
pub async fn udp_exchange(
    target: &str,
    payload: &str,
    timeout: Duration,
) -> Result<String, ClientError> {
    udp_exchange_from(target, payload, timeout, 0).await
}

/// [`udp_exchange`] from local port `source_port` (0: any). Repeated exchanges from one port
/// are one flow to conntrack, as a long-lived UDP client's datagrams are.
pub async fn udp_exchange_from(
    target: &str,
    payload: &str,
    timeout: Duration,
    source_port: u16,
) -> Result<String, ClientError> {
    bounded(target, timeout, async {
        let addr = *resolve_target(target)
            .await?
            .first()
            .ok_or_else(|| ClientError::Dns {
                host: target.to_owned(),
                reason: "no such host".to_owned(),
            })?;
        let local: SocketAddr = if addr.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, source_port).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, source_port).into()
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| ClientError::io("bind", local, e))?;
        // A connected socket receives only the peer's answers, and ICMP port unreachable as
        // ECONNREFUSED.
        socket
            .connect(addr)
            .await
            .map_err(|e| ClientError::io("connect", addr, e))?;
        socket
            .send(payload.as_bytes())
            .await
            .map_err(|e| ClientError::io("write", addr, e))?;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| ClientError::io("read", addr, e))?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .await
}

/// Per-backend answer counts of repeated GETs (each on a new connection).
#[derive(Debug, Default)]
pub struct RoundRobin {
    /// How often each distinct (trimmed) body was answered, e.g. each pod's `/hostname`.
    pub counts: BTreeMap<String, usize>,
    /// The requests that failed, in order.
    pub errors: Vec<ClientError>,
}

/// GETs `url` `count` times, each on a new connection, and counts the distinct answers.
/// Answers with an error status count as errors.
pub async fn round_robin(url: &str, count: u32, timeout: Duration) -> RoundRobin {
    let mut result = RoundRobin::default();
    for _ in 0..count {
        match http_get(url, timeout).await {
            Ok(r) if r.status < 400 => {
                *result.counts.entry(r.body.trim().to_owned()).or_default() += 1;
            }
            Ok(r) => result.errors.push(ClientError::Http {
                url: url.to_owned(),
                reason: format!("status {}", r.status),
            }),
            Err(e) => result.errors.push(e),
        }
    }
    result
}

/// TCP connect times to one target.
#[derive(Debug, Default)]
pub struct LatencyReport {
    /// Successful connect times, sorted ascending.
    pub samples: Vec<Duration>,
    /// The connects that failed.
    pub errors: Vec<ClientError>,
}

impl LatencyReport {
    /// The `p`-th percentile (0 < p ≤ 100) by nearest rank, or `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.samples.is_empty() {
            return None;
        }
        let n = self.samples.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.samples.get(rank.clamp(1, n) - 1).copied()
    }
}

/// Connects to `target` `count` times in a row and records each connect time.
pub async fn connect_latency(target: &str, count: u32, timeout: Duration) -> LatencyReport {
    let mut report = LatencyReport::default();
    for _ in 0..count {
        match tcp_connect(target, timeout).await {
            Ok(took) => report.samples.push(took),
            Err(e) => report.errors.push(e),
        }
    }
    report.samples.sort();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_pairs_split_like_go() {
        assert_eq!(split_host_port("192.0.2.1:80").unwrap(), ("192.0.2.1", 80));
        assert_eq!(
            split_host_port("[2001:db8::1]:53").unwrap(),
            ("2001:db8::1", 53)
        );
        assert_eq!(split_host_port("svc.ns:8080").unwrap(), ("svc.ns", 8080));
        for bad in [
            "192.0.2.1",
            "2001:db8::1:80",
            ":80",
            "host:port",
            "host:70000",
            "[::1:80",
        ] {
            let err = split_host_port(bad).unwrap_err();
            assert_eq!(err.class(), "UNKNOWN", "{bad}");
        }
    }

    #[test]
    fn ipv6_hosts_are_bracketed_when_joined() {
        assert_eq!(join_host_port("2001:db8::1", "80"), "[2001:db8::1]:80");
        assert_eq!(join_host_port("192.0.2.1", "80"), "192.0.2.1:80");
        assert_eq!(join_host_port("[::1]", "80"), "[::1]:80");
    }

    #[test]
    fn urls_default_to_http_and_port_80() {
        let (uri, target) = parse_url("svc.ns/hostname").unwrap();
        assert_eq!(uri.path(), "/hostname");
        assert_eq!(target, "svc.ns:80");
        let (_, target) = parse_url("http://[2001:db8::1]:8080/").unwrap();
        assert_eq!(target, "[2001:db8::1]:8080");
        assert_eq!(parse_url("https://svc/").unwrap_err().class(), "UNKNOWN");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let report = LatencyReport {
            samples: (1..=100).map(Duration::from_millis).collect(),
            errors: Vec::new(),
        };
        assert_eq!(report.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(report.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(report.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(LatencyReport::default().percentile(50.0), None);
    }
}
