//! `serve-hostname`: answers the pod's hostname over HTTP (any path), raw TCP (write and close)
//! or UDP (any datagram), as agnhost's serve-hostname
//! (test/images/agnhost/serve-hostname/serve_hostname.go). Unlike agnhost it exits 0 at once on
//! SIGTERM instead of sleeping 60 s.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::{Console, ImageError, Shutdown, cli, listen};

/// What serve-hostname serves. `Default` is agnhost's: HTTP on 9376, all addresses.
#[derive(Debug, Clone)]
pub struct ServeHostnameOptions {
    /// Port for every protocol (`--port`, default 9376); 0 picks an ephemeral port.
    pub port: u16,
    /// Serve HTTP (`--http`, default true; excludes `tcp` and `udp`).
    pub http: bool,
    /// Write the hostname to each TCP connection and close it (`--tcp`).
    pub tcp: bool,
    /// Answer each datagram with the hostname (`--udp`).
    pub udp: bool,
    /// Answer HTTP with `Connection: close` (`--close`).
    pub close: bool,
    /// Address to listen on (`--listen-address`, knet extra); `None`: all addresses.
    pub listen_address: Option<IpAddr>,
    /// The name served.
    pub hostname: String,
}

impl Default for ServeHostnameOptions {
    fn default() -> Self {
        ServeHostnameOptions {
            port: 9376,
            http: true,
            tcp: false,
            udp: false,
            close: false,
            listen_address: None,
            hostname: crate::pod_hostname(),
        }
    }
}

#[derive(Debug, clap::Parser)]
#[command(
    name = "serve-hostname",
    about = "Serves the hostname through HTTP / TCP / UDP on the given port",
    disable_version_flag = true
)]
struct Flags {
    /// Serve raw over TCP.
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    tcp: bool,
    /// Serve raw over UDP.
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    udp: bool,
    /// Serve HTTP (`--http=false` to turn off).
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    http: bool,
    /// Close the connection after each HTTP request.
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    close: bool,
    /// Port number.
    #[arg(long, default_value_t = 9376)]
    port: u16,
    /// Address to listen on (knet extra); default all addresses.
    #[arg(long = "listen-address")]
    listen_address: Option<IpAddr>,
}

/// Running serve-hostname listeners; dropping it stops them.
#[derive(Debug)]
pub struct ServeHostname {
    /// The HTTP listener, if serving HTTP.
    pub http: Option<SocketAddr>,
    /// The TCP listener, if serving TCP.
    pub tcp: Option<SocketAddr>,
    /// The UDP socket, if serving UDP.
    pub udp: Option<SocketAddr>,
    _tasks: JoinSet<()>,
}

/// Starts serve-hostname in the current runtime; returns once it listens.
pub async fn serve_hostname(
    opts: ServeHostnameOptions,
    console: Console,
) -> Result<ServeHostname, ImageError> {
    if opts.http && (opts.tcp || opts.udp) {
        return Err(ImageError::Usage(
            "can't serve TCP/UDP mode and HTTP mode at the same time (add --http=false)".to_owned(),
        ));
    }
    let hostname: Arc<str> = opts.hostname.into();
    let mut tasks = JoinSet::new();
    let mut served = ServeHostname {
        http: None,
        tcp: None,
        udp: None,
        _tasks: JoinSet::new(),
    };
    let mut port = opts.port;
    let listen_error = |protocol, source| ImageError::Listen {
        protocol,
        addr: SocketAddr::new(
            opts.listen_address
                .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
            opts.port,
        ),
        source,
    };
    if opts.http || opts.tcp {
        let listener = listen::tcp(opts.listen_address, port)?;
        let addr = listener.local_addr().map_err(|e| listen_error("tcp", e))?;
        // TCP and UDP share one port, as agnhost's do; an ephemeral one is chosen once.
        port = addr.port();
        if opts.http {
            served.http = Some(addr);
            tasks.spawn(serve_http(
                listener,
                hostname.clone(),
                opts.close,
                console.clone(),
            ));
        } else {
            served.tcp = Some(addr);
            tasks.spawn(serve_tcp(listener, hostname.clone(), console.clone()));
        }
    }
    if opts.udp {
        let socket = listen::udp(opts.listen_address, port)?;
        port = socket
            .local_addr()
            .map_err(|e| listen_error("udp", e))?
            .port();
        served.udp = socket.local_addr().ok();
        tasks.spawn(serve_udp(socket, hostname.clone(), console.clone()));
    }
    console.log(&format!("Serving on port {port}."));
    served._tasks = tasks;
    Ok(served)
}

async fn serve_http(listener: TcpListener, hostname: Arc<str>, close: bool, console: Console) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let peer = listen::canonical(peer);
                    let hostname = hostname.clone();
                    let console = console.clone();
                    let service = service_fn(move |_req| {
                        console.log(&format!("HTTP request from {peer}"));
                        let mut response = Response::new(Full::new(Bytes::from(hostname.to_string())));
                        if close {
                            // Forces a new connection per request, as agnhost's --close.
                            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
                        }
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                    conns.spawn(async move {
                        let _ = conn.await;
                    });
                }
                Err(e) => {
                    console.log(&format!("Error from Accept(): {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_tcp(listener: TcpListener, hostname: Arc<str>, console: Console) {
    loop {
        match listener.accept().await {
            Ok((mut stream, peer)) => {
                console.log(&format!("TCP request from {}", listen::canonical(peer)));
                let hostname = hostname.clone();
                // Small write then close: not worth a task per connection to wait for it,
                // but a slow peer must not block the accept loop.
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        let _ = stream.write_all(hostname.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    })
                    .await;
                });
            }
            Err(e) => {
                console.log(&format!("Error from Accept(): {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_udp(socket: UdpSocket, hostname: Arc<str>, console: Console) {
    let mut buf = [0u8; 2048];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((_, peer)) => {
                console.log(&format!("UDP request from {}", listen::canonical(peer)));
                if let Err(e) = socket.send_to(hostname.as_bytes(), peer).await {
                    console.log(&format!("UDP reply failed: {e}"));
                }
            }
            Err(e) => {
                console.log(&format!("Error from ReadFrom(): {e}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// `serve-hostname [flags]` as a container runs it.
pub(crate) async fn run(args: &[String], console: Console, shutdown: Shutdown) -> i32 {
    let flags: Flags = match cli::parse("serve-hostname", args, &console) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let opts = ServeHostnameOptions {
        port: flags.port,
        http: flags.http,
        tcp: flags.tcp,
        udp: flags.udp,
        close: flags.close,
        listen_address: flags.listen_address,
        ..ServeHostnameOptions::default()
    };
    let served = match serve_hostname(opts, console.clone()).await {
        Ok(s) => s,
        Err(e @ ImageError::Usage(_)) => {
            return cli::usage_error(&console, "serve-hostname", &e.to_string());
        }
        Err(e) => {
            console.err(&format!("serve-hostname: {e}"));
            return 1;
        }
    };
    shutdown.await;
    console.log("Shutting down after receiving signal.");
    drop(served);
    0
}
