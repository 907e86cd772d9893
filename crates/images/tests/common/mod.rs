//! Helpers shared by the real-traffic tests: everything listens on 127.0.0.1 ephemeral ports.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use knet_images::netexec::{Netexec, NetexecOptions, serve_netexec};
use knet_images::{Console, Shutdown};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// netexec on 127.0.0.1 with every server on an ephemeral port.
pub fn loopback_options(hostname: &str) -> NetexecOptions {
    NetexecOptions {
        http_port: 0,
        udp_port: Some(0),
        tcp_port: Some(0),
        listen_address: Some(LOOPBACK),
        hostname: hostname.to_owned(),
        ..NetexecOptions::default()
    }
}

/// A shutdown future and the switch that fires it (keep the switch alive: dropping it fires too).
pub fn shutdown_switch() -> (oneshot::Sender<()>, Shutdown) {
    let (tx, rx) = oneshot::channel::<()>();
    (
        tx,
        Box::pin(async move {
            let _ = rx.await;
        }),
    )
}

pub fn never() -> Shutdown {
    Box::pin(std::future::pending())
}

/// A netexec that runs until `/exit` or the returned switch fires.
pub struct Running {
    pub server: Netexec,
    pub console: Console,
    pub stop: oneshot::Sender<()>,
}

pub async fn start_netexec(opts: NetexecOptions) -> Running {
    let console = Console::buffered();
    let (stop, shutdown) = shutdown_switch();
    let server = serve_netexec(opts, console.clone(), shutdown)
        .await
        .unwrap();
    Running {
        server,
        console,
        stop,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The client's side of the connection, as the server should see it.
    pub local: SocketAddr,
}

/// GETs `path` from `addr` with hyper's own HTTP/1 client, adding `headers`.
pub async fn hyper_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let driver = tokio::spawn(conn);
    let mut request = Request::get(path).header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    driver.abort();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
        local,
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Polls `check` every 10 ms for up to 5 s.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
