//! The probe handlers: `httpGet`, `tcpSocket`, `exec` and `grpc`, as kubelet runs them
//! (pkg/kubelet/prober/prober.go `runProbe`, pkg/probe/{http,tcp,exec}). HTTP and TCP probes come
//! from the node, not from inside the pod: their sockets are made by a [`ProbeDialer`] (the agent's
//! makes them in the node's network namespace), so this module is testable on loopback.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Empty};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{
    Container, GRPCAction, HTTPGetAction, HTTPHeader, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

use super::machine::ProbeOutcome;

/// How much of a response body or a command's output a probe keeps (pkg/probe/http
/// `maxRespBodyLength`, pkg/probe/exec `maxReadLength`: 10 KiB).
pub(crate) const MAX_OUTPUT: usize = 10 * 1024;

/// At most this many redirects are followed (Go's `http.Client` default, which kubelet keeps).
const MAX_REDIRECTS: usize = 10;

/// The `User-Agent` of HTTP probes, `kube-probe/<major>.<minor>` (pkg/probe/http/request.go) for
/// the Kubernetes version knet serves (the API server's `KUBE_MINOR`).
const USER_AGENT: &str = "kube-probe/1.33";

/// Makes the sockets of HTTP and TCP probes. Kubelet probes from the node's network namespace;
/// a socket keeps the namespace it was created in, so an implementation creates it there and
/// the handler connects it.
pub trait ProbeDialer: Send + Sync {
    /// A new, unconnected TCP socket of `addr`'s family, to connect to `addr`.
    fn socket(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<TcpSocket>>;
}

/// A [`ProbeDialer`] whose sockets are in the caller's own network namespace (tests, or an agent
/// that runs in the node's namespace).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostDialer;

impl ProbeDialer for HostDialer {
    fn socket(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<TcpSocket>> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        };
        Box::pin(std::future::ready(socket))
    }
}

/// What a probe is aimed at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// The pod's IP: the default host of HTTP and TCP probes.
    pub(crate) pod_ip: IpAddr,
    /// The container (for named ports).
    pub(crate) container: &'a Container,
}

/// The handler a probe names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Handler<'a> {
    /// `exec.command`.
    Exec(&'a [String]),
    /// `httpGet`.
    Http(&'a HTTPGetAction),
    /// `tcpSocket`.
    Tcp(&'a TCPSocketAction),
    /// `grpc`.
    Grpc(&'a GRPCAction),
    /// None (validation forbids it).
    Missing,
}

impl<'a> Handler<'a> {
    /// The handler of `probe`.
    pub(crate) fn of(probe: &'a Probe) -> Handler<'a> {
        if let Some(exec) = &probe.exec {
            Handler::Exec(exec.command.as_deref().unwrap_or_default())
        } else if let Some(http) = &probe.http_get {
            Handler::Http(http)
        } else if let Some(tcp) = &probe.tcp_socket {
            Handler::Tcp(tcp)
        } else if let Some(grpc) = &probe.grpc {
            Handler::Grpc(grpc)
        } else {
            Handler::Missing
        }
    }
}

/// The port a probe names: a number, or the name of one of the container's ports, or a number
/// written as a string (pkg/probe/util.go `ResolveContainerPort`).
pub(crate) fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            let named = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| i64::from(p.container_port));
            match named {
                Some(n) => n,
                None => name
                    .parse::<i64>()
                    .map_err(|_| format!("port {name} not found"))?,
            }
        }
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port number: {number}"))
}

/// An OS error as Go prints it ("connection refused"), other errors as they are.
fn os_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let desc = nix::errno::Errno::from_raw(n).desc();
            let mut chars = desc.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_lowercase().chain(chars).collect::<String>()
            })
        }
        None => e.to_string(),
    }
}

/// `host:port` to an address: an IP as it is, a name through the resolver.
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut addrs = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|_| format!("dial tcp: lookup {bare}: no such host"))?;
    addrs
        .next()
        .ok_or_else(|| format!("dial tcp: lookup {bare}: no such host"))
}

/// A TCP connection to `addr` through `dialer`, with Go's error text.
async fn dial(dialer: &dyn ProbeDialer, addr: SocketAddr) -> Result<TcpStream, String> {
    let socket = dialer
        .socket(addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: socket: {}", os_error(&e)))?;
    socket
        .connect(addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: connect: {}", os_error(&e)))
}

/// `tcpSocket`: success when a connection to `host` (default: the pod IP) and the port opens
/// within `timeout` (pkg/probe/tcp `DoTCPProbe`).
pub(crate) async fn tcp_socket(
    action: &TCPSocketAction,
    target: Target<'_>,
    dialer: &dyn ProbeDialer,
    timeout: Duration,
) -> ProbeOutcome {
    let port = match resolve_port(&action.port, target.container) {
        Ok(port) => port,
        Err(e) => return ProbeOutcome::Error(e),
    };
    let host = action
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| target.pod_ip.to_string());
    let attempt = async {
        let addr = resolve(&host, port).await?;
        dial(dialer, addr).await.map(drop)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => ProbeOutcome::Success(String::new()),
        Ok(Err(e)) => ProbeOutcome::Failure(e),
        Err(_) => ProbeOutcome::Failure(format!(
            "dial tcp {}: i/o timeout",
            join_host_port(&host, port)
        )),
    }
}

/// `exec`: runs `command` (the command line inside the container, already set up to run there)
/// and succeeds on exit code 0; a command still running after `timeout` is killed and fails
/// (pkg/probe/exec `Probe`, with the ExecProbeTimeout behaviour that is GA since 1.20). The output
/// (stdout then stderr, at most 10 KiB) is the message.
pub(crate) async fn exec(
    command: std::process::Command,
    argv: &[String],
    timeout: Duration,
) -> ProbeOutcome {
    let mut command = command;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return ProbeOutcome::Error(format!("cannot run {argv:?}: {e}")),
    };
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let run = async {
        let (out, err) = tokio::join!(read_limited(stdout), read_limited(stderr));
        (out, err, child.wait().await)
    };
    let finished = tokio::time::timeout(timeout, run).await;
    let line = argv.join(" ");
    match finished {
        Ok((mut out, err, Ok(status))) => {
            out.extend(err);
            out.truncate(MAX_OUTPUT);
            let output = String::from_utf8_lossy(&out).into_owned();
            if status.success() {
                ProbeOutcome::Success(output)
            } else if output.is_empty() {
                let code = status
                    .code()
                    .map_or_else(|| format!("{status}"), |c| c.to_string());
                ProbeOutcome::Failure(format!("command {line:?} exited with {code}"))
            } else {
                ProbeOutcome::Failure(output)
            }
        }
        Ok((_, _, Err(e))) => ProbeOutcome::Error(format!("cannot wait for {line:?}: {e}")),
        Err(_) => {
            // What the command started goes with it, as with a container's processes.
            if let Some(pgid) = pgid.filter(|p| *p > 1) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            ProbeOutcome::Failure(format!("command {line:?} timed out"))
        }
    }
}

/// Reads `r` to its end, keeping the first [`MAX_OUTPUT`] bytes (the rest is drained so that the
/// writer never blocks on a full pipe).
async fn read_limited(r: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut r) = r else { return kept };
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// `grpc`: not implemented by knet; reported as a failure that says so.
pub(crate) fn grpc(action: &GRPCAction) -> ProbeOutcome {
    let service = action
        .service
        .as_deref()
        .map(|s| format!(", service {s:?}"))
        .unwrap_or_default();
    ProbeOutcome::Failure(format!(
        "gRPC probes are not supported by knet (port {}{service})",
        action.port
    ))
}

/// `host:port` with brackets around an IPv6 host (Go's `net.JoinHostPort`).
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An absolute `http(s)` URL, split as the client needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    https: bool,
    /// The host, without brackets.
    host: String,
    port: u16,
    /// Path and query, starting with `/`.
    path: String,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(
            f,
            "{scheme}://{}{}",
            join_host_port(&self.host, self.port),
            self.path
        )
    }
}

impl Url {
    /// The `Host` header: `host:port` as Go sends it.
    fn authority(&self) -> String {
        join_host_port(&self.host, self.port)
    }

    /// The URL a `Location` header points to, relative to this one (RFC 3986 section 5.2, without
    /// dot-segment removal).
    fn join(&self, location: &str) -> Result<Url, String> {
        let location = location.split('#').next().unwrap_or_default();
        let absolute = location
            .split_once("://")
            .filter(|(scheme, _)| {
                !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            })
            .is_some();
        if absolute {
            return parse_url(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            let scheme = if self.https { "https" } else { "http" };
            return parse_url(&format!("{scheme}://{rest}"));
        }
        let path = if location.starts_with('/') {
            location.to_owned()
        } else if location.is_empty() {
            self.path.clone()
        } else if location.starts_with('?') {
            let base = self.path.split('?').next().unwrap_or("/");
            format!("{base}{location}")
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = base.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{dir}/{location}")
        };
        Ok(Url {
            path,
            ..self.clone()
        })
    }
}

/// Parses an absolute `http` or `https` URL.
fn parse_url(s: &str) -> Result<Url, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("parse {s:?}: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        other => {
            return Err(format!(
                "unsupported protocol scheme {:?}",
                other.unwrap_or_default()
            ));
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("parse {s:?}: no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    Ok(Url {
        https,
        host,
        port,
        path,
    })
}

/// The URL of an `httpGet` probe (prober.go `formatURL`): `host` default the pod IP, `path`
/// default `/` (a query in it is kept).
fn probe_url(action: &HTTPGetAction, target: Target<'_>) -> Result<Url, String> {
    let port = resolve_port(&action.port, target.container)?;
    let https = match action.scheme.as_deref().unwrap_or("HTTP") {
        s if s.eq_ignore_ascii_case("http") => false,
        s if s.eq_ignore_ascii_case("https") => true,
        other => return Err(format!("unsupported scheme {other:?}")),
    };
    let host = action
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| target.pod_ip.to_string());
    let path = action.path.as_deref().unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Ok(Url {
        https,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        path,
    })
}

/// `httpGet`: a GET within `timeout`; success for a status in 200..=399 (pkg/probe/http
/// `DoHTTPProbe`). Redirects are followed only to the same host name: one to another host ends
/// the probe with the redirect response, a success with a warning (`RedirectChecker(false)`).
/// HTTPS skips certificate verification, as kubelet's `InsecureSkipVerify` does.
pub(crate) async fn http_get(
    action: &HTTPGetAction,
    target: Target<'_>,
    dialer: &dyn ProbeDialer,
    timeout: Duration,
) -> ProbeOutcome {
    let url = match probe_url(action, target) {
        Ok(url) => url,
        Err(e) => return ProbeOutcome::Error(e),
    };
    let headers = action.http_headers.as_deref().unwrap_or_default();
    let outcome = tokio::time::timeout(timeout, fetch(url.clone(), headers, dialer)).await;
    let (status, body) = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return ProbeOutcome::Failure(e),
        Err(_) => {
            return ProbeOutcome::Failure(format!(
                "Get {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                url.to_string()
            ));
        }
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    match status {
        200..=299 => ProbeOutcome::Success(body),
        300..=399 => {
            ProbeOutcome::Success(format!("Probe terminated redirects, Response body: {body}"))
        }
        code => ProbeOutcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
    }
}

/// GETs `url`, following same-host redirects; the final status and (at most 10 KiB of) body.
async fn fetch(
    first: Url,
    headers: &[HTTPHeader],
    dialer: &dyn ProbeDialer,
) -> Result<(u16, Vec<u8>), String> {
    let mut url = first.clone();
    let mut followed = 0;
    loop {
        let get = |e: String| format!("Get {:?}: {e}", url.to_string());
        let response = get_once(&url, headers, dialer).await.map_err(get)?;
        let Some(location) = response.location.filter(|_| is_redirect(response.status)) else {
            return Ok((response.status, response.body));
        };
        let next = url
            .join(&location)
            .map_err(|e| get(format!("failed to parse Location header {location:?}: {e}")))?;
        if !next.host.eq_ignore_ascii_case(&first.host) {
            // Another host: the probe ends with this response (pkg/probe/http `RedirectChecker`).
            return Ok((response.status, response.body));
        }
        if followed >= MAX_REDIRECTS {
            return Err(format!(
                "Get {:?}: stopped after {MAX_REDIRECTS} redirects",
                next.to_string()
            ));
        }
        followed += 1;
        url = next;
    }
}

/// The statuses Go's client follows.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

struct Response {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

/// Both plain and TLS streams.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One GET on a new connection (kubelet's probe transport disables keep-alive).
async fn get_once(
    url: &Url,
    headers: &[HTTPHeader],
    dialer: &dyn ProbeDialer,
) -> Result<Response, String> {
    let addr = resolve(&url.host, url.port).await?;
    let stream = dial(dialer, addr).await?;
    let io: Box<dyn Io> = if url.https {
        Box::new(tls_connect(stream, &url.host).await?)
    } else {
        Box::new(stream)
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    let driver = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let request = build_request(url, headers)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = response.into_body();
    let mut kept = Vec::new();
    while kept.len() < MAX_OUTPUT {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = MAX_OUTPUT - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Some(Err(e)) => return Err(format!("reading the response body: {e}")),
        }
    }
    drop(driver);
    Ok(Response {
        status,
        location,
        body: kept,
    })
}

/// The probe request: the probe's headers, `Host` from them or the URL, kubelet's `User-Agent`
/// and `Accept` unless the probe sets them (pkg/probe/http/request.go `NewProbeRequest`).
fn build_request(url: &Url, headers: &[HTTPHeader]) -> Result<http::Request<Empty<Bytes>>, String> {
    let mut request = http::Request::get(url.path.as_str())
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("invalid request: {e}"))?;
    let map = request.headers_mut();
    for h in headers {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| format!("invalid header name {:?}: {e}", h.name))?;
        let value = HeaderValue::from_str(&h.value)
            .map_err(|e| format!("invalid header value for {:?}: {e}", h.name))?;
        map.append(name, value);
    }
    if !map.contains_key(header::HOST) {
        let host = HeaderValue::from_str(&url.authority())
            .map_err(|e| format!("invalid host {:?}: {e}", url.host))?;
        map.insert(header::HOST, host);
    }
    if !map.contains_key(header::USER_AGENT) {
        map.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    }
    if !map.contains_key(header::ACCEPT) {
        map.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    }
    map.insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(request)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A TLS client connection that accepts any server certificate: kubelet's probes set
/// `InsecureSkipVerify` (pkg/probe/http/http.go `New`), since a pod's certificate is rarely valid
/// for its IP. Handshake signatures are still checked.
async fn tls_connect(
    stream: TcpStream,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let config = tls_config()?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("invalid TLS server name {host:?}: {e}"))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| format!("tls: {e}"))
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("tls: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// Accepts every certificate (see [`tls_connect`]).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ContainerPort;
    use std::sync::Mutex;
    use std::time::Instant;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    const T: Duration = Duration::from_secs(2);

    /// A reply of the test server: status, extra headers, body.
    type Reply = (u16, Vec<(String, String)>, String);
    type Route = Arc<dyn Fn(&str, SocketAddr) -> Reply + Send + Sync>;

    /// A loopback HTTP/1.1 server (optionally TLS) answering through `route`; records each
    /// request's head.
    struct Server {
        addr: SocketAddr,
        heads: Arc<Mutex<Vec<String>>>,
    }

    impl Server {
        async fn start(route: Route, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let heads = Arc::new(Mutex::new(Vec::new()));
            let recorded = heads.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (route, heads, tls) = (route.clone(), recorded.clone(), tls.clone());
                    tokio::spawn(async move {
                        match tls {
                            Some(acceptor) => {
                                if let Ok(s) = acceptor.accept(stream).await {
                                    answer(s, addr, &route, &heads).await;
                                }
                            }
                            None => answer(stream, addr, &route, &heads).await,
                        }
                    });
                }
            });
            Server { addr, heads }
        }

        fn heads(&self) -> Vec<String> {
            self.heads.lock().unwrap().clone()
        }
    }

    async fn answer(
        mut s: impl AsyncRead + AsyncWrite + Unpin,
        addr: SocketAddr,
        route: &Route,
        heads: &Mutex<Vec<String>>,
    ) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if !head[0].is_ascii_uppercase() {
                // Not HTTP (a TLS hello): answer as Go's server does, and close.
                let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").await;
                return;
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
        heads.lock().unwrap().push(head);
        if path == "/hang" {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        let (code, extra, body) = route(&path, addr);
        let mut response = format!(
            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in extra {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        let _ = s.write_all(response.as_bytes()).await;
        let _ = s.shutdown().await;
    }

    fn routes() -> Route {
        Arc::new(|path: &str, addr: SocketAddr| {
            let redirect = |to: String| (302, vec![("Location".to_owned(), to)], "moved".into());
            match path {
                "/ok" | "/ok?x=1" => (200, vec![], "fine".into()),
                "/bad" => (500, vec![], "broken".into()),
                "/to-ok" => redirect("/ok".into()),
                "/to-ok-absolute" => redirect(format!("http://{addr}/ok")),
                "/to-bad" => redirect("bad".into()),
                "/away" => redirect("http://192.0.2.1/elsewhere".into()),
                "/loop" => redirect("/loop".into()),
                _ => (404, vec![], "not found".into()),
            }
        })
    }

    fn container() -> Container {
        Container {
            name: "app".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..ContainerPort::default()
            }]),
            ..Container::default()
        }
    }

    fn http(port: u16, path: &str) -> HTTPGetAction {
        HTTPGetAction {
            port: IntOrString::Int(i32::from(port)),
            path: Some(path.into()),
            ..HTTPGetAction::default()
        }
    }

    async fn get(action: &HTTPGetAction, timeout: Duration) -> ProbeOutcome {
        let c = container();
        let target = Target {
            pod_ip: IpAddr::from([127, 0, 0, 1]),
            container: &c,
        };
        http_get(action, target, &HostDialer, timeout).await
    }

    async fn tcp(port: u16) -> ProbeOutcome {
        let c = container();
        let target = Target {
            pod_ip: IpAddr::from([127, 0, 0, 1]),
            container: &c,
        };
        let action = TCPSocketAction {
            port: IntOrString::Int(i32::from(port)),
            host: None,
        };
        tcp_socket(&action, target, &HostDialer, T).await
    }

    /// A loopback port nobody listens on.
    async fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn an_http_probe_succeeds_on_2xx_and_fails_on_5xx_with_kubelets_message() {
        let server = Server::start(routes(), None).await;
        let port = server.addr.port();
        assert_eq!(
            get(&http(port, "/ok"), T).await,
            ProbeOutcome::Success("fine".into())
        );
        assert_eq!(
            get(&http(port, "/bad"), T).await,
            ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
        assert_eq!(
            get(&http(port, "/nothing"), T).await,
            ProbeOutcome::Failure("HTTP probe failed with statuscode: 404".into())
        );
    }

    #[tokio::test]
    async fn http_requests_carry_kubelets_headers_the_probes_own_and_the_query() {
        let server = Server::start(routes(), None).await;
        let mut action = http(server.addr.port(), "/ok?x=1");
        action.http_headers = Some(vec![HTTPHeader {
            name: "X-Custom".into(),
            value: "yes".into(),
        }]);
        assert!(matches!(get(&action, T).await, ProbeOutcome::Success(_)));
        let head = server.heads().pop().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /ok?x=1 http/1.1\r\n"), "{head}");
        for line in [
            "user-agent: kube-probe/1.33".to_owned(),
            "accept: */*".to_owned(),
            "x-custom: yes".to_owned(),
            format!("host: {}", server.addr),
            "connection: close".to_owned(),
        ] {
            assert!(head.contains(&line), "{line:?} in {head}");
        }
        // A probe's own User-Agent and Host replace the defaults.
        action.http_headers = Some(vec![
            HTTPHeader {
                name: "User-Agent".into(),
                value: "mine".into(),
            },
            HTTPHeader {
                name: "Host".into(),
                value: "example.test".into(),
            },
        ]);
        let _ = get(&action, T).await;
        let head = server.heads().pop().unwrap().to_ascii_lowercase();
        assert!(head.contains("user-agent: mine\r\n"), "{head}");
        assert!(!head.contains("kube-probe"), "{head}");
        assert!(head.contains("host: example.test\r\n"), "{head}");
    }

    #[tokio::test]
    async fn redirects_are_followed_on_the_same_host_only() {
        let server = Server::start(routes(), None).await;
        let port = server.addr.port();
        assert_eq!(
            get(&http(port, "/to-ok"), T).await,
            ProbeOutcome::Success("fine".into())
        );
        assert_eq!(
            get(&http(port, "/to-ok-absolute"), T).await,
            ProbeOutcome::Success("fine".into())
        );
        assert_eq!(
            get(&http(port, "/to-bad"), T).await,
            ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into()),
            "a relative Location resolves against the request's path"
        );
        let heads_before = server.heads().len();
        assert_eq!(
            get(&http(port, "/away"), T).await,
            ProbeOutcome::Success("Probe terminated redirects, Response body: moved".into()),
            "another host is not visited: the redirect itself is the (successful) answer"
        );
        assert_eq!(server.heads().len(), heads_before + 1);
        let ProbeOutcome::Failure(message) = get(&http(port, "/loop"), T).await else {
            panic!("a redirect loop fails");
        };
        assert!(message.ends_with("stopped after 10 redirects"), "{message}");
    }

    #[tokio::test]
    async fn a_closed_port_fails_http_and_tcp_probes_and_an_open_one_passes_tcp() {
        let port = closed_port().await;
        assert_eq!(
            get(&http(port, "/ok"), T).await,
            ProbeOutcome::Failure(format!(
                "Get \"http://127.0.0.1:{port}/ok\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
        assert_eq!(
            tcp(port).await,
            ProbeOutcome::Failure(format!(
                "dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
        let server = Server::start(routes(), None).await;
        assert_eq!(
            tcp(server.addr.port()).await,
            ProbeOutcome::Success(String::new())
        );
    }

    #[tokio::test]
    async fn an_http_probe_that_gets_no_answer_in_time_fails() {
        let server = Server::start(routes(), None).await;
        let started = Instant::now();
        let outcome = get(
            &http(server.addr.port(), "/hang"),
            Duration::from_millis(300),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(2));
        let ProbeOutcome::Failure(message) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(message.contains("Client.Timeout exceeded"), "{message}");
    }

    #[tokio::test]
    async fn https_probes_skip_certificate_verification_and_plain_http_is_not_tls() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rcgen::generate_simple_self_signed(vec!["pod.test".to_owned()]).unwrap();
        let cert = key.cert.der().clone();
        let private =
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], private)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let server = Server::start(routes(), Some(acceptor)).await;
        let mut action = http(server.addr.port(), "/ok");
        action.scheme = Some("HTTPS".into());
        assert_eq!(get(&action, T).await, ProbeOutcome::Success("fine".into()));

        let plain = Server::start(routes(), None).await;
        action.port = IntOrString::Int(i32::from(plain.addr.port()));
        let outcome = get(&action, T).await;
        assert!(
            matches!(&outcome, ProbeOutcome::Failure(m) if m.contains("tls")),
            "{outcome:?}"
        );
    }

    #[test]
    fn ports_are_numbers_or_the_containers_named_ports() {
        let c = container();
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("9090".into()), &c),
            Ok(9090)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("metrics".into()), &c),
            Err("port metrics not found".into())
        );
        assert_eq!(
            resolve_port(&IntOrString::Int(70000), &c),
            Err("invalid port number: 70000".into())
        );
        assert_eq!(
            resolve_port(&IntOrString::Int(0), &c),
            Err("invalid port number: 0".into())
        );
    }

    #[tokio::test]
    async fn a_named_port_the_container_lacks_is_an_error_not_a_failure() {
        let mut action = http(1, "/");
        action.port = IntOrString::String("metrics".into());
        assert_eq!(
            get(&action, T).await,
            ProbeOutcome::Error("port metrics not found".into())
        );
    }

    #[test]
    fn locations_resolve_against_the_request_url() {
        let base = parse_url("http://10.244.1.2:8080/a/b?q=1").unwrap();
        let join = |l: &str| base.join(l).unwrap().to_string();
        assert_eq!(join("/c"), "http://10.244.1.2:8080/c");
        assert_eq!(join("c?d=2"), "http://10.244.1.2:8080/a/c?d=2");
        assert_eq!(join("?z=3"), "http://10.244.1.2:8080/a/b?z=3");
        assert_eq!(join("//other:81/x"), "http://other:81/x");
        assert_eq!(
            join("https://[2001:db8::1]/y#frag"),
            "https://[2001:db8::1]:443/y"
        );
        assert!(base.join("ftp://host/x").is_err());
    }

    fn sh(script: &str) -> (std::process::Command, Vec<String>) {
        let argv = vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        let mut command = std::process::Command::new("sh");
        command.args(&argv[1..]);
        (command, argv)
    }

    #[tokio::test]
    async fn exec_probes_pass_on_exit_0_and_report_the_output_otherwise() {
        let (command, argv) = sh("echo hi");
        assert_eq!(
            exec(command, &argv, T).await,
            ProbeOutcome::Success("hi\n".into())
        );
        let (command, argv) = sh("echo out; echo err >&2; exit 3");
        assert_eq!(
            exec(command, &argv, T).await,
            ProbeOutcome::Failure("out\nerr\n".into())
        );
        let (command, argv) = sh("exit 1");
        assert_eq!(
            exec(command, &argv, T).await,
            ProbeOutcome::Failure("command \"sh -c exit 1\" exited with 1".into())
        );
        let (command, argv) = sh("head -c 20000 /dev/zero | tr '\\0' x");
        let ProbeOutcome::Success(output) = exec(command, &argv, T).await else {
            panic!("a long output still succeeds");
        };
        assert_eq!(output.len(), MAX_OUTPUT);
    }

    #[tokio::test]
    async fn an_exec_probe_that_runs_past_its_timeout_is_killed_and_fails() {
        let (command, argv) = sh("sleep 30 & sleep 30");
        let started = Instant::now();
        let outcome = exec(command, &argv, Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_secs(3), "not waited out");
        assert_eq!(
            outcome,
            ProbeOutcome::Failure("command \"sh -c sleep 30 & sleep 30\" timed out".into())
        );
    }

    #[test]
    fn grpc_probes_fail_saying_they_are_not_supported() {
        let outcome = grpc(&GRPCAction {
            port: 9000,
            service: Some("health".into()),
        });
        assert_eq!(
            outcome,
            ProbeOutcome::Failure(
                "gRPC probes are not supported by knet (port 9000, service \"health\")".into()
            )
        );
    }
}
