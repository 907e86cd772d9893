//! Images run the way the node agent runs them: by reference, with a container's command and args.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use knet_images::client::{self, DEFAULT_TIMEOUT};
use knet_images::serve_hostname::{ServeHostnameOptions, serve_hostname};
use knet_images::{Console, EXIT_UNKNOWN_IMAGE, EXIT_USAGE, Shutdown, run_image};

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

async fn run_bounded(image: &str, args: &[&str], shutdown: Shutdown) -> (i32, Console) {
    let console = Console::buffered();
    let code = tokio::time::timeout(
        Duration::from_secs(20),
        run_image(image, &strings(args), console.clone(), shutdown),
    )
    .await
    .expect("the image must stop");
    (code, console)
}

/// Waits for a `Started HTTP server on ADDR` log line and returns ADDR.
async fn logged_http_addr(console: &Console) -> SocketAddr {
    let marker = "Started HTTP server on ";
    assert!(eventually(|| console.out_text().contains(marker)).await);
    let text = console.out_text();
    let rest = &text[text.find(marker).unwrap() + marker.len()..];
    rest.lines().next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_image_that_is_not_built_in_exits_127_and_lists_the_built_in_ones() {
    let (code, console) = run_bounded("nginx:1.27", &[], never()).await;
    assert_eq!(code, EXIT_UNKNOWN_IMAGE);
    let err = console.err_text();
    assert!(
        err.contains("\"nginx:1.27\" is not built into knet"),
        "{err}"
    );
    assert!(err.contains("netexec"), "{err}");
}

#[tokio::test]
async fn agnhost_netexec_serves_until_exit_asks_for_a_code() {
    let console = Console::buffered();
    let args = strings(&[
        "/agnhost",
        "netexec",
        "--http-port=0",
        "--udp-port=-1",
        "--listen-address=127.0.0.1",
    ]);
    let running = {
        let console = console.clone();
        tokio::spawn(async move {
            run_image(
                "registry.k8s.io/e2e-test-images/agnhost:2.47",
                &args,
                console,
                never(),
            )
            .await
        })
    };
    let http = logged_http_addr(&console).await;
    assert!(http.ip().is_loopback());
    assert_eq!(
        client::http_get(
            &format!("http://{http}/echo?msg=via-agnhost"),
            DEFAULT_TIMEOUT
        )
        .await
        .unwrap()
        .body,
        "via-agnhost"
    );
    client::http_get(
        &format!("http://{http}/exit?code=7&timeout=1s"),
        DEFAULT_TIMEOUT,
    )
    .await
    .unwrap();
    let code = tokio::time::timeout(DEFAULT_TIMEOUT, running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, 7);
}

#[tokio::test]
async fn netexec_image_exits_zero_when_terminated() {
    let console = Console::buffered();
    let (stop, shutdown) = shutdown_switch();
    let args = strings(&[
        "--port",
        "0",
        "--udp-port",
        "0",
        "--listen-address",
        "127.0.0.1",
    ]);
    let running = {
        let console = console.clone();
        tokio::spawn(
            async move { run_image("knet/netexec:latest", &args, console, shutdown).await },
        )
    };
    let http = logged_http_addr(&console).await;
    assert_eq!(
        client::http_get(&format!("http://{http}/healthz"), DEFAULT_TIMEOUT)
            .await
            .unwrap()
            .status,
        200
    );
    stop.send(()).unwrap();
    let code = tokio::time::timeout(DEFAULT_TIMEOUT, running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, 0);
}

#[tokio::test]
async fn netexec_help_prints_usage_and_bad_flags_exit_2() {
    let (code, console) = run_bounded("netexec", &["--help"], never()).await;
    assert_eq!(code, 0);
    assert!(console.out_text().contains("--http-port"));
    let (code, console) = run_bounded("netexec", &["--http-port=99999"], never()).await;
    assert_eq!(code, EXIT_USAGE);
    assert!(
        console.err_text().contains("--http-port"),
        "{}",
        console.err_text()
    );
}

#[tokio::test]
async fn agnhost_needs_a_subcommand_it_knows() {
    let (code, console) = run_bounded("agnhost", &[], never()).await;
    assert_eq!(code, EXIT_USAGE);
    assert!(console.err_text().contains("missing subcommand"));
    let (code, console) = run_bounded("agnhost", &["porter"], never()).await;
    assert_eq!(code, EXIT_USAGE);
    assert!(
        console
            .err_text()
            .contains("\"porter\" is not built into knet")
    );
}

#[tokio::test]
async fn agnhost_connect_prints_refused_or_succeeds_like_agnhost() {
    let (code, console) = run_bounded(
        "agnhost",
        &["connect", &closed_port().to_string(), "--timeout=1s"],
        never(),
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(console.err_text(), "REFUSED\n");

    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http.to_string();
    let (code, console) =
        run_bounded("agnhost", &["connect", &http, "--timeout=1s"], never()).await;
    assert_eq!(code, 0, "{}", console.err_text());

    let udp = netexec.server.ports().udp.unwrap().to_string();
    let (code, console) =
        run_bounded("agnhost", &["connect", &udp, "--protocol=udp"], never()).await;
    assert_eq!(code, 0, "{}", console.err_text());

    let (code, console) =
        run_bounded("agnhost", &["connect", &http, "--timeout=soon"], never()).await;
    assert_eq!(code, 1);
    assert!(console.err_text().starts_with("UNKNOWN: "));
}

#[tokio::test]
async fn serve_hostname_answers_over_http_tcp_and_udp() {
    let http = serve_hostname(
        ServeHostnameOptions {
            port: 0,
            listen_address: Some(LOOPBACK),
            hostname: "pod-h".to_owned(),
            ..ServeHostnameOptions::default()
        },
        Console::discard(),
    )
    .await
    .unwrap();
    let url = format!("http://{}/any/path", http.http.unwrap());
    assert_eq!(
        client::http_get(&url, DEFAULT_TIMEOUT).await.unwrap().body,
        "pod-h"
    );

    let raw = serve_hostname(
        ServeHostnameOptions {
            port: 0,
            http: false,
            tcp: true,
            udp: true,
            listen_address: Some(LOOPBACK),
            hostname: "pod-h".to_owned(),
            ..ServeHostnameOptions::default()
        },
        Console::discard(),
    )
    .await
    .unwrap();
    let tcp = raw.tcp.unwrap();
    let udp = raw.udp.unwrap();
    assert_eq!(tcp.port(), udp.port(), "TCP and UDP share the port");
    assert_eq!(
        client::tcp_exchange(&tcp.to_string(), None, DEFAULT_TIMEOUT)
            .await
            .unwrap(),
        "pod-h"
    );
    assert_eq!(
        client::udp_exchange(&udp.to_string(), "anything", DEFAULT_TIMEOUT)
            .await
            .unwrap(),
        "pod-h"
    );
}

#[tokio::test]
async fn serve_hostname_refuses_http_together_with_tcp() {
    let (code, console) = run_bounded("agnhost", &["serve-hostname", "--tcp"], never()).await;
    assert_eq!(code, EXIT_USAGE);
    assert!(
        console.err_text().contains("at the same time"),
        "{}",
        console.err_text()
    );
}

#[tokio::test]
async fn pause_sleeps_until_terminated_then_exits_zero() {
    let (stop, shutdown) = shutdown_switch();
    let running = tokio::spawn(async move {
        run_image(
            "registry.k8s.io/pause:3.10",
            &[],
            Console::discard(),
            shutdown,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!running.is_finished(), "pause must not exit on its own");
    stop.send(()).unwrap();
    let code = tokio::time::timeout(DEFAULT_TIMEOUT, running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, 0);
}

#[tokio::test]
async fn sleep_exits_zero_after_the_given_seconds() {
    let start = Instant::now();
    let (code, _) = run_bounded("sleep", &["sleep", "0.2"], never()).await;
    assert_eq!(code, 0);
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn sleep_ends_early_with_zero_when_terminated() {
    let (stop, shutdown) = shutdown_switch();
    let running = tokio::spawn(async move {
        run_image(
            "sleep",
            &strings(&["infinity"]),
            Console::discard(),
            shutdown,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    let code = tokio::time::timeout(DEFAULT_TIMEOUT, running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, 0);
}

#[tokio::test]
async fn sleep_without_a_valid_duration_is_a_usage_error() {
    let (code, console) = run_bounded("sleep", &[], never()).await;
    assert_eq!(code, EXIT_USAGE);
    assert!(console.err_text().contains("missing operand"));
    let (code, _) = run_bounded("sleep", &["soon"], never()).await;
    assert_eq!(code, EXIT_USAGE);
}

#[test]
fn run_builds_its_own_runtime_and_returns_the_exit_code() {
    let start = Instant::now();
    assert_eq!(knet_images::run("knet/sleep", &strings(&["0.05"])), 0);
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(knet_images::run("nope", &[]), EXIT_UNKNOWN_IMAGE);
}
