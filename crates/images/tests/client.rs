//! The `client` image against real servers on 127.0.0.1: output, exit codes, bounded timeouts.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use knet_images::client::{self, DEFAULT_TIMEOUT};
use knet_images::{Console, run_image};
use tokio::net::TcpListener;

/// Runs `client ARGS` in-process; returns the exit code and the console it wrote to.
async fn client_cli(args: &[&str]) -> (i32, Console) {
    let console = Console::buffered();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let code = tokio::time::timeout(
        Duration::from_secs(20),
        run_image("client", &args, console.clone(), never()),
    )
    .await
    .expect("the client must never hang");
    (code, console)
}

/// A TCP proxy on 127.0.0.1 handing each new connection to the next backend in turn, as a
/// Service's per-connection load balancing does.
async fn round_robin_proxy(backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut next = 0;
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            let backend = backends[next % backends.len()];
            next += 1;
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    addr
}

/// A listener that accepts connections and never writes or closes.
async fn silent_tcp_server() -> SocketAddr {
    let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

#[tokio::test]
async fn http_prints_one_body_per_request_and_exits_zero() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let url = format!("http://{}/hostname", netexec.server.ports().http);
    let (code, console) = client_cli(&["http", &url, "--count", "3", "--interval", "5"]).await;
    assert_eq!(code, 0, "{}", console.err_text());
    assert_eq!(console.out_text(), "pod-a\npod-a\npod-a\n");
    assert_eq!(console.err_text(), "");
}

#[tokio::test]
async fn http_exits_one_when_a_request_answers_an_error_status() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let url = format!(
        "http://{}/echo?msg=broken&code=503",
        netexec.server.ports().http
    );
    let (code, console) = client_cli(&["http", &url]).await;
    assert_eq!(code, 1);
    assert_eq!(console.out_text(), "broken\n");
    assert!(
        console.err_text().contains("status 503"),
        "{}",
        console.err_text()
    );
}

#[tokio::test]
async fn http_to_a_closed_port_reports_refused_and_exits_one() {
    let url = format!("http://{}/hostname", closed_port());
    let (code, console) = client_cli(&["http", &url]).await;
    assert_eq!(code, 1);
    assert_eq!(console.err_text(), "request 1/1: REFUSED\n");
}

#[tokio::test]
async fn http_to_a_server_that_never_answers_times_out_in_bounded_time() {
    let silent = silent_tcp_server().await;
    let start = Instant::now();
    let (code, console) =
        client_cli(&["http", &format!("http://{silent}/"), "--timeout", "200"]).await;
    assert_eq!(code, 1);
    assert_eq!(console.err_text(), "request 1/1: TIMEOUT\n");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn tcp_sends_text_and_prints_the_echo() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let target = netexec.server.ports().tcp.unwrap().to_string();
    let (code, console) = client_cli(&["tcp", &target, "--send", "marco"]).await;
    assert_eq!(code, 0, "{}", console.err_text());
    assert_eq!(console.out_text(), "marco\n");
}

#[tokio::test]
async fn tcp_to_a_silent_server_times_out_in_bounded_time() {
    let silent = silent_tcp_server().await.to_string();
    let start = Instant::now();
    let (code, console) = client_cli(&["tcp", &silent, "--timeout", "200"]).await;
    assert_eq!(code, 1);
    assert_eq!(console.err_text(), "TIMEOUT\n");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn udp_sends_a_datagram_and_prints_the_answer() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let target = netexec.server.ports().udp.unwrap().to_string();
    let (code, console) = client_cli(&["udp", &target, "--send", "hostname"]).await;
    assert_eq!(code, 0, "{}", console.err_text());
    assert_eq!(console.out_text(), "pod-a\n");
    let (_, console) = client_cli(&["udp", &target, "--send", "clientip"]).await;
    assert!(console.out_text().starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn udp_to_a_closed_port_reports_refused() {
    // Loopback answers a datagram to a closed port with ICMP port unreachable.
    let socket = std::net::UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let closed = socket.local_addr().unwrap().to_string();
    drop(socket);
    let (code, console) = client_cli(&["udp", &closed, "--send", "hostname"]).await;
    assert_eq!(code, 1);
    assert_eq!(console.err_text(), "REFUSED\n");
}

#[tokio::test]
async fn udp_without_an_answer_times_out_in_bounded_time() {
    let quiet = tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    let target = quiet.local_addr().unwrap().to_string();
    let start = Instant::now();
    let (code, console) =
        client_cli(&["udp", &target, "--send", "hostname", "--timeout", "200"]).await;
    assert_eq!(code, 1);
    assert_eq!(console.err_text(), "TIMEOUT\n");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn connect_exits_zero_when_the_port_accepts() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let (code, console) = client_cli(&["connect", &netexec.server.ports().http.to_string()]).await;
    assert_eq!(code, 0, "{}", console.err_text());
    assert_eq!(console.err_text(), "");
}

#[tokio::test]
async fn connect_reports_refused_on_a_closed_port() {
    let (code, console) = client_cli(&["connect", &closed_port().to_string()]).await;
    assert_eq!(code, 1);
    assert_eq!(console.err_text(), "REFUSED\n");
}

#[tokio::test]
async fn connect_reports_unknown_for_a_malformed_target() {
    let (code, console) = client_cli(&["connect", "no-port-here"]).await;
    assert_eq!(code, 1);
    assert!(
        console.err_text().starts_with("UNKNOWN: "),
        "{}",
        console.err_text()
    );
}

#[tokio::test]
async fn connect_times_out_when_the_listeners_queue_is_full() {
    // A listener with a full accept queue drops SYNs, so connects hang until the timeout.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from((LOOPBACK, 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let target = socket
        .local_addr()
        .unwrap()
        .as_socket()
        .unwrap()
        .to_string();
    // Each connect that succeeds stays in the (never accepted) queue and fills it.
    let mut timed_out = None;
    for _ in 0..8 {
        let start = Instant::now();
        match client::tcp_connect(&target, Duration::from_millis(200)).await {
            Ok(_) => {}
            Err(e) => {
                timed_out = Some((e, start.elapsed()));
                break;
            }
        }
    }
    let (err, took) = timed_out.expect("the accept queue never filled");
    assert_eq!(err.class(), "TIMEOUT");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let (code, console) = client_cli(&["connect", &target, "--timeout", "200"]).await;
    assert_eq!(code, 1);
    assert_eq!(console.err_text(), "TIMEOUT\n");
}

#[tokio::test]
async fn rr_counts_the_answers_of_each_backend() {
    let a = start_netexec(loopback_options("pod-a")).await;
    let b = start_netexec(loopback_options("pod-b")).await;
    let proxy = round_robin_proxy(vec![a.server.ports().http, b.server.ports().http]).await;
    let url = format!("http://{proxy}/hostname");

    let counts = client::round_robin(&url, 10, DEFAULT_TIMEOUT).await;
    assert!(counts.errors.is_empty(), "{:?}", counts.errors);
    assert_eq!(counts.counts.get("pod-a"), Some(&5));
    assert_eq!(counts.counts.get("pod-b"), Some(&5));

    let (code, console) = client_cli(&["rr", &url, "--count", "6"]).await;
    assert_eq!(code, 0, "{}", console.err_text());
    assert_eq!(console.out_text(), "pod-a 3\npod-b 3\n");
}

#[tokio::test]
async fn rr_exits_one_when_some_requests_fail() {
    let url = format!("http://{}/hostname", closed_port());
    let (code, console) = client_cli(&["rr", &url, "--count", "2"]).await;
    assert_eq!(code, 1);
    assert_eq!(console.out_text(), "");
    assert!(
        console.err_text().starts_with("2 of 2 requests failed"),
        "{}",
        console.err_text()
    );
}

#[tokio::test]
async fn latency_prints_connect_time_percentiles() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let target = netexec.server.ports().http.to_string();
    let report = client::connect_latency(&target, 20, DEFAULT_TIMEOUT).await;
    assert_eq!(report.samples.len(), 20);
    assert!(report.errors.is_empty());
    assert!(report.percentile(50.0) <= report.percentile(99.0));

    let (code, console) = client_cli(&["latency", &target, "--count", "10"]).await;
    assert_eq!(code, 0, "{}", console.err_text());
    let out = console.out_text();
    let keys: Vec<&str> = out.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        keys,
        [
            "connects", "errors", "min_us", "p50_us", "p90_us", "p99_us", "max_us"
        ]
    );
    assert!(out.starts_with("connects 10\nerrors 0\n"), "{out}");
    for line in out.lines() {
        let value = line.split(' ').nth(1).unwrap();
        value.parse::<u128>().unwrap();
    }
}

#[tokio::test]
async fn latency_to_a_closed_port_counts_errors_and_exits_one() {
    let (code, console) =
        client_cli(&["latency", &closed_port().to_string(), "--count", "3"]).await;
    assert_eq!(code, 1);
    assert!(console.out_text().starts_with("connects 0\nerrors 3\n"));
    assert!(console.err_text().contains("REFUSED"));
}

#[tokio::test]
async fn bad_command_lines_are_usage_errors() {
    for args in [
        &[][..],
        &["http"],
        &["nope"],
        &["http", "http://x", "--count", "x"],
    ] {
        let (code, console) = client_cli(args).await;
        assert_eq!(code, 2, "{args:?}");
        assert!(!console.err_text().is_empty());
    }
    let (code, console) = client_cli(&["--help"]).await;
    assert_eq!(code, 0);
    assert!(console.out_text().contains("connect"));
}

#[tokio::test]
async fn the_client_stops_with_zero_when_terminated() {
    let silent = silent_tcp_server().await.to_string();
    let (stop, shutdown) = shutdown_switch();
    let console = Console::buffered();
    let args: Vec<String> = ["tcp", silent.as_str(), "--timeout", "60000"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let running = tokio::spawn(async move { run_image("client", &args, console, shutdown).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    let code = tokio::time::timeout(DEFAULT_TIMEOUT, running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, 0);
}
