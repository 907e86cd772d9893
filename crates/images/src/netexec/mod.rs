//! `netexec`: the HTTP, UDP and TCP test server of Kubernetes' agnhost
//! (test/images/agnhost/netexec/netexec.go), with knet extras: a TCP echo port, switchable
//! `/healthz` and `/readyz` codes, and a `--listen-address`.
//!
//! ```text
//!  --http-port (8080) ── HTTP/1.1 + h2c: /, /hostname, /clientip, /echo, /header, /dial, /shell, ...
//!  --udp-port  (8081) ── "hostname" | "echo X" | "clientip" datagrams
//!  --tcp-port  (off)  ── echoes every byte back (line echo)
//! ```

mod http;
mod tcp;
mod udp;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::{Console, ImageError, Shutdown, cli, listen};

/// How long a SIGTERM'd netexec waits for in-flight requests before it exits.
const TERMINATION_GRACE: Duration = Duration::from_secs(5);

/// What netexec serves and where. `Default` is agnhost's defaults (HTTP 8080, UDP 8081, all
/// addresses) with the hostname from [`crate::pod_hostname`].
#[derive(Debug, Clone)]
pub struct NetexecOptions {
    /// HTTP port (`--http-port`, alias `--port`); 0 picks an ephemeral port.
    pub http_port: u16,
    /// UDP port (`--udp-port`, -1 on the command line disables it); 0 picks an ephemeral port.
    pub udp_port: Option<u16>,
    /// TCP echo port (`--tcp-port`, knet extra, disabled by default); 0 picks an ephemeral port.
    pub tcp_port: Option<u16>,
    /// Address to listen on (`--listen-address`, knet extra); `None`: all addresses, IPv4 and IPv6.
    pub listen_address: Option<IpAddr>,
    /// Addresses the UDP server listens on (`--udp-listen-addresses`); empty: as `listen_address`.
    pub udp_listen_addresses: Vec<IpAddr>,
    /// The name `/hostname` and UDP `hostname` answer.
    pub hostname: String,
    /// Serve every HTTP request as a GET of this path and query (`--http-override`).
    pub http_override: Option<String>,
    /// After SIGTERM, keep serving (with `/readyz` answering 503) this long (`--delay-shutdown`).
    pub delay_shutdown: Duration,
    /// The shell `/shell` runs commands with.
    pub shell: PathBuf,
}

impl Default for NetexecOptions {
    fn default() -> Self {
        NetexecOptions {
            http_port: 8080,
            udp_port: Some(8081),
            tcp_port: None,
            listen_address: None,
            udp_listen_addresses: Vec::new(),
            hostname: crate::pod_hostname(),
            http_override: None,
            delay_shutdown: Duration::ZERO,
            shell: PathBuf::from("/bin/sh"),
        }
    }
}

/// netexec's command line, as agnhost's flags spell it.
#[derive(Debug, clap::Parser)]
#[command(
    name = "netexec",
    about = "HTTP, UDP and TCP test server (agnhost netexec)",
    allow_negative_numbers = true,
    disable_version_flag = true
)]
struct Flags {
    /// HTTP listen port.
    #[arg(long = "http-port", visible_alias = "port", default_value_t = 8080)]
    http_port: i32,
    /// UDP listen port; -1 disables the UDP server.
    #[arg(long = "udp-port", default_value_t = 8081)]
    udp_port: i32,
    /// SCTP listen port; accepted for compatibility, knet has no SCTP server.
    #[arg(long = "sctp-port", default_value_t = -1)]
    sctp_port: i32,
    /// TCP echo port (knet extra); -1 disables it.
    #[arg(long = "tcp-port", default_value_t = -1)]
    tcp_port: i32,
    /// Address to listen on (knet extra); default all addresses.
    #[arg(long = "listen-address")]
    listen_address: Option<IpAddr>,
    /// Comma-separated addresses the UDP server listens on.
    #[arg(long = "udp-listen-addresses", default_value = "")]
    udp_listen_addresses: String,
    /// Serve every request as a GET of this path and query.
    #[arg(long = "http-override")]
    http_override: Option<String>,
    /// Seconds to keep serving after SIGTERM (with /readyz failing) before exiting.
    #[arg(long = "delay-shutdown", default_value_t = 0)]
    delay_shutdown: u64,
    /// Not supported by knet (no HTTPS yet).
    #[arg(long = "tls-cert-file")]
    tls_cert_file: Option<String>,
    /// Not supported by knet (no HTTPS yet).
    #[arg(long = "tls-private-key-file")]
    tls_private_key_file: Option<String>,
}

impl NetexecOptions {
    /// Parses netexec's flags (`--http-port=8080 --udp-port=-1 ...`).
    pub fn from_args(args: &[String]) -> Result<Self, ImageError> {
        use clap::Parser;
        let argv = std::iter::once("netexec".to_owned()).chain(args.iter().cloned());
        let flags =
            Flags::try_parse_from(argv).map_err(|e| ImageError::Usage(e.render().to_string()))?;
        Self::from_flags(flags)
    }

    fn from_flags(flags: Flags) -> Result<Self, ImageError> {
        if flags.tls_cert_file.is_some() || flags.tls_private_key_file.is_some() {
            return Err(ImageError::Usage(
                "--tls-cert-file/--tls-private-key-file: knet's netexec does not serve HTTPS yet"
                    .to_owned(),
            ));
        }
        let udp_listen_addresses = flags
            .udp_listen_addresses
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<IpAddr>().map_err(|_| {
                    ImageError::Usage(format!("--udp-listen-addresses: invalid address {a:?}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetexecOptions {
            http_port: port("--http-port", flags.http_port)?,
            udp_port: optional_port("--udp-port", flags.udp_port)?,
            tcp_port: optional_port("--tcp-port", flags.tcp_port)?,
            listen_address: flags.listen_address,
            udp_listen_addresses,
            http_override: flags.http_override.filter(|o| !o.is_empty()),
            delay_shutdown: Duration::from_secs(flags.delay_shutdown),
            ..NetexecOptions::default()
        })
    }
}

fn port(flag: &str, value: i32) -> Result<u16, ImageError> {
    u16::try_from(value)
        .map_err(|_| ImageError::Usage(format!("{flag}: port {value} is not in 0-65535")))
}

fn optional_port(flag: &str, value: i32) -> Result<Option<u16>, ImageError> {
    if value == -1 {
        Ok(None)
    } else {
        port(flag, value).map(Some)
    }
}

/// The addresses netexec actually listens on (ports resolved when 0 was asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundPorts {
    /// The HTTP listener.
    pub http: SocketAddr,
    /// The (first) UDP socket, if enabled.
    pub udp: Option<SocketAddr>,
    /// The TCP echo listener, if enabled.
    pub tcp: Option<SocketAddr>,
}

/// A running netexec: its ports, and its exit code once `/exit`, `/shutdown` or the shutdown
/// future stops it. Dropping it does not stop the server; await [`Netexec::wait`].
#[derive(Debug)]
pub struct Netexec {
    ports: BoundPorts,
    task: JoinHandle<i32>,
}

impl Netexec {
    /// Where the servers listen.
    pub fn ports(&self) -> BoundPorts {
        self.ports
    }

    /// Waits until the server stops and returns the exit code it asks for.
    pub async fn wait(self) -> i32 {
        self.task.await.unwrap_or(1)
    }
}

/// A request to stop with `code`, waiting up to `timeout` for open connections.
#[derive(Debug, Clone, Copy)]
struct ExitRequest {
    code: i32,
    timeout: Duration,
}

/// What the handlers share. Switches are atomics: handlers only flip numbers.
struct State {
    hostname: String,
    console: Console,
    shell: PathBuf,
    http_override: Option<String>,
    /// Status code `/healthz` answers (knet extra: set by `/sethealth?code=`).
    health_code: AtomicU16,
    /// Status code `/readyz` answers before termination (knet extra: set by `/setready?code=`).
    ready_code: AtomicU16,
    /// SIGTERM seen: `/readyz` answers 503, as agnhost's does.
    terminating: AtomicBool,
    exit: mpsc::Sender<ExitRequest>,
}

/// Starts netexec's servers in the current tokio runtime and returns once they listen. They run
/// until `/exit` or `/shutdown` is requested or `shutdown` completes (then `/readyz` fails for
/// `delay_shutdown`, in-flight requests finish, and the exit code is 0).
pub async fn serve_netexec(
    opts: NetexecOptions,
    console: Console,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Netexec, ImageError> {
    let http = listen::tcp(opts.listen_address, opts.http_port)?;
    let http_addr = local_addr(&http, "tcp", opts.listen_address, opts.http_port)?;

    let mut aux = JoinSet::new();
    let (exit_tx, exit_rx) = mpsc::channel(4);
    let state = Arc::new(State {
        hostname: opts.hostname.clone(),
        console: console.clone(),
        shell: opts.shell.clone(),
        http_override: opts.http_override.clone(),
        health_code: AtomicU16::new(200),
        ready_code: AtomicU16::new(200),
        terminating: AtomicBool::new(false),
        exit: exit_tx,
    });

    let mut udp_addr = None;
    if let Some(mut udp_port) = opts.udp_port {
        let addresses: Vec<Option<IpAddr>> = if opts.udp_listen_addresses.is_empty() {
            vec![opts.listen_address]
        } else {
            opts.udp_listen_addresses
                .iter()
                .copied()
                .map(Some)
                .collect()
        };
        for ip in addresses {
            let socket = listen::udp(ip, udp_port)?;
            let addr = socket.local_addr().map_err(|source| ImageError::Listen {
                protocol: "udp",
                addr: SocketAddr::new(ip.unwrap_or(http_addr.ip()), udp_port),
                source,
            })?;
            // An ephemeral port is chosen once; every UDP address shares it, as agnhost's do.
            udp_port = addr.port();
            udp_addr.get_or_insert(addr);
            console.log(&format!("Started UDP server on {addr}"));
            aux.spawn(udp::serve(socket, state.clone()));
        }
    }

    let mut tcp_addr = None;
    if let Some(tcp_port) = opts.tcp_port {
        let listener = listen::tcp(opts.listen_address, tcp_port)?;
        let addr = local_addr(&listener, "tcp", opts.listen_address, tcp_port)?;
        tcp_addr = Some(addr);
        console.log(&format!("Started TCP echo server on {addr}"));
        aux.spawn(tcp::serve(listener, state.clone()));
    }

    console.log(&format!("Started HTTP server on {http_addr}"));
    let task = tokio::spawn(serve_http(
        http,
        state,
        exit_rx,
        Box::pin(shutdown),
        opts.delay_shutdown,
        aux,
    ));
    Ok(Netexec {
        ports: BoundPorts {
            http: http_addr,
            udp: udp_addr,
            tcp: tcp_addr,
        },
        task,
    })
}

fn local_addr(
    listener: &tokio::net::TcpListener,
    protocol: &'static str,
    ip: Option<IpAddr>,
    port: u16,
) -> Result<SocketAddr, ImageError> {
    listener.local_addr().map_err(|source| ImageError::Listen {
        protocol,
        addr: SocketAddr::new(
            ip.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
            port,
        ),
        source,
    })
}

/// Completes when `timer` is set and fires; never otherwise.
async fn fire(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>) {
    match timer.as_mut() {
        Some(sleep) => sleep.await,
        None => std::future::pending().await,
    }
}

/// The HTTP accept loop; owns the UDP/TCP tasks (`aux`) and stops them when it stops.
async fn serve_http(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut exit_rx: mpsc::Receiver<ExitRequest>,
    mut shutdown: Shutdown,
    delay_shutdown: Duration,
    aux: JoinSet<()>,
) -> i32 {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    let mut terminating = false;
    let mut stop_timer: Option<Pin<Box<tokio::time::Sleep>>> = None;

    let exit = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let peer = listen::canonical(peer);
                    let state = state.clone();
                    let service = service_fn(move |req| http::handle(state.clone(), peer, req));
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    let conn = graceful.watch(conn);
                    conns.spawn(async move {
                        // A client that goes away mid-request is not the server's problem.
                        let _ = conn.await;
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    state.console.log(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            Some(request) = exit_rx.recv() => break request,
            () = &mut shutdown, if !terminating => {
                terminating = true;
                state.terminating.store(true, Ordering::Relaxed);
                if !delay_shutdown.is_zero() {
                    state.console.log(&format!(
                        "Sleeping {} seconds before terminating...",
                        delay_shutdown.as_secs_f64()
                    ));
                }
                stop_timer = Some(Box::pin(tokio::time::sleep(delay_shutdown)));
            }
            () = fire(&mut stop_timer) => break ExitRequest { code: 0, timeout: TERMINATION_GRACE },
        }
    };

    drop(listener);
    drop(aux);
    if exit.timeout.is_zero() {
        drop(graceful);
    } else {
        let done = tokio::time::timeout(exit.timeout, graceful.shutdown()).await;
        state.console.log(&format!(
            "Graceful shutdown completed with: {}",
            if done.is_ok() {
                "<nil>"
            } else {
                "context deadline exceeded"
            }
        ));
    }
    conns.shutdown().await;
    exit.code
}

/// `netexec [flags]` as a container runs it.
pub(crate) async fn run(args: &[String], console: Console, shutdown: Shutdown) -> i32 {
    let flags: Flags = match cli::parse("netexec", args, &console) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if flags.sctp_port != -1 {
        console.log("SCTP is not supported by knet's netexec; ignoring --sctp-port");
    }
    let opts = match NetexecOptions::from_flags(flags) {
        Ok(o) => o,
        Err(e) => return cli::usage_error(&console, "netexec", &e.to_string()),
    };
    match serve_netexec(opts, console.clone(), shutdown).await {
        Ok(server) => server.wait().await,
        Err(e) => {
            console.err(&format!("netexec: {e}"));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_are_agnhosts() {
        let opts = NetexecOptions::from_args(&[]).unwrap();
        assert_eq!(opts.http_port, 8080);
        assert_eq!(opts.udp_port, Some(8081));
        assert_eq!(opts.tcp_port, None);
        assert_eq!(opts.listen_address, None);
    }

    #[test]
    fn flags_take_values_with_equals_or_space_and_minus_one_disables() {
        let opts = NetexecOptions::from_args(&args(&[
            "--http-port=9000",
            "--udp-port",
            "-1",
            "--tcp-port=7",
            "--sctp-port=-1",
            "--delay-shutdown=3",
        ]))
        .unwrap();
        assert_eq!(opts.http_port, 9000);
        assert_eq!(opts.udp_port, None);
        assert_eq!(opts.tcp_port, Some(7));
        assert_eq!(opts.delay_shutdown, Duration::from_secs(3));
    }

    #[test]
    fn port_is_an_alias_of_http_port() {
        let opts = NetexecOptions::from_args(&args(&["--port", "80"])).unwrap();
        assert_eq!(opts.http_port, 80);
    }

    #[test]
    fn udp_listen_addresses_are_parsed() {
        let opts =
            NetexecOptions::from_args(&args(&["--udp-listen-addresses=127.0.0.1,::1"])).unwrap();
        assert_eq!(
            opts.udp_listen_addresses,
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for bad in [
            &["--http-port=70000"][..],
            &["--udp-port=-2"],
            &["--http-port=x"],
            &["--udp-listen-addresses=nope"],
            &["--tls-cert-file=/localhost.crt"],
            &["--no-such-flag"],
            &["positional"],
        ] {
            assert!(
                matches!(
                    NetexecOptions::from_args(&args(bad)),
                    Err(ImageError::Usage(_))
                ),
                "{bad:?} should be rejected"
            );
        }
    }
}
