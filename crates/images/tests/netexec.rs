//! netexec served in-process on 127.0.0.1 ephemeral ports, hit with hyper and with knet's client.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use http::StatusCode;
use knet_images::client::{self, DEFAULT_TIMEOUT};
use knet_images::netexec::NetexecOptions;

#[tokio::test]
async fn root_and_unknown_paths_answer_the_current_time() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http;
    for path in ["/", "/no/such/endpoint"] {
        let answer = hyper_get(http, path, &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(
            answer.body.starts_with("NOW: 20"),
            "{path}: {}",
            answer.body
        );
        assert!(answer.body.ends_with(" +0000 UTC"), "{}", answer.body);
    }
}

#[tokio::test]
async fn hostname_answers_the_pods_name_under_both_spellings() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http;
    assert_eq!(hyper_get(http, "/hostname", &[]).await.body, "pod-a");
    assert_eq!(hyper_get(http, "/hostName", &[]).await.body, "pod-a");
}

#[tokio::test]
async fn clientip_reports_the_peer_address_the_server_sees() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let answer = hyper_get(netexec.server.ports().http, "/clientip", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, answer.local.to_string());
    assert!(answer.body.starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn echo_returns_the_message_with_the_requested_status() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http;
    let answer = hyper_get(http, "/echo?msg=hello%20world&code=201", &[]).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.body, "hello world");
    let answer = hyper_get(http, "/echo?msg=x&code=abc", &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn header_returns_one_request_header_or_all_of_them_as_json() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http;
    let answer = hyper_get(http, "/header?key=X-Test", &[("x-test", "abc")]).await;
    assert_eq!(answer.body, "abc");
    let answer = hyper_get(http, "/header?key=X-Absent", &[]).await;
    assert_eq!(answer.body, "");
    let answer = hyper_get(http, "/header", &[("x-test", "abc")]).await;
    let all: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(all["X-Test"], serde_json::json!(["abc"]));
    assert_eq!(all["Host"], serde_json::json!([http.to_string()]));
}

#[tokio::test]
async fn healthz_and_readyz_answer_the_codes_they_are_switched_to() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http;
    assert_eq!(
        hyper_get(http, "/healthz", &[]).await.status,
        StatusCode::OK
    );
    let readyz = hyper_get(http, "/readyz", &[]).await;
    assert_eq!(
        (readyz.status, readyz.body.as_str()),
        (StatusCode::OK, "ok")
    );

    assert_eq!(
        hyper_get(http, "/sethealth?code=500", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        hyper_get(http, "/healthz", &[]).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        hyper_get(http, "/setready?code=503", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        hyper_get(http, "/readyz", &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Switching one probe leaves the other alone, and both switch back.
    hyper_get(http, "/sethealth?status=200", &[]).await;
    assert_eq!(
        hyper_get(http, "/healthz", &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        hyper_get(http, "/readyz", &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    hyper_get(http, "/setready?code=200", &[]).await;
    assert_eq!(hyper_get(http, "/readyz", &[]).await.status, StatusCode::OK);

    assert_eq!(
        hyper_get(http, "/sethealth?code=nope", &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        hyper_get(http, "/sethealth", &[]).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn shell_runs_the_command_and_reports_output_and_exit_status_as_json() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http;
    let answer = hyper_get(http, "/shell?cmd=echo%20hi", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(json, serde_json::json!({"output": "hi\n"}));

    let answer = hyper_get(
        http,
        "/shell?shellCommand=echo%20oops%20%3E%262%3B%20exit%203",
        &[],
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"output": "oops\n", "error": "exit status 3"})
    );
}

#[tokio::test]
async fn redirect_points_at_the_location_with_the_requested_status() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http;
    let answer = hyper_get(http, "/redirect?location=/echo%3Fmsg%3Dx&code=307", &[]).await;
    assert_eq!(answer.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(answer.headers["location"], "/echo?msg=x");
    let answer = hyper_get(http, "/redirect?location=/hostname", &[]).await;
    assert_eq!(answer.status, StatusCode::FOUND);
}

#[tokio::test]
async fn post_form_parameters_are_read_like_query_parameters() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let stream = tokio::net::TcpStream::connect(netexec.server.ports().http)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = http::Request::post("/echo")
        .header("host", "netexec")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from("msg=posted")))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"posted");
}

#[tokio::test]
async fn http2_without_tls_is_served_too() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let stream = tokio::net::TcpStream::connect(netexec.server.ports().http)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get(format!("http://{}/hostname", netexec.server.ports().http))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"pod-a");
}

#[tokio::test]
async fn knets_client_reads_every_endpoint_over_http() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let base = format!("http://{}", netexec.server.ports().http);
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move { client::http_get(&url, DEFAULT_TIMEOUT).await.unwrap() }
    };
    assert_eq!(get("/hostname").await.body, "pod-a");
    assert!(get("/clientip").await.body.starts_with("127.0.0.1:"));
    assert_eq!(get("/echo?msg=hey").await.body, "hey");
    assert_eq!(get("/echo?msg=bad&code=502").await.status, 502);
    assert!(
        get("/header?key=User-Agent")
            .await
            .body
            .starts_with("knet-client/")
    );
    assert_eq!(get("/redirect?location=/x").await.status, 302);
    // The scheme may be left out.
    let bare = base.trim_start_matches("http://").to_owned() + "/hostname";
    assert_eq!(
        client::http_get(&bare, DEFAULT_TIMEOUT).await.unwrap().body,
        "pod-a"
    );
}

#[tokio::test]
async fn udp_answers_hostname_echo_and_clientip() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let udp = netexec.server.ports().udp.unwrap().to_string();
    assert_eq!(
        client::udp_exchange(&udp, "hostname", DEFAULT_TIMEOUT)
            .await
            .unwrap(),
        "pod-a"
    );
    assert_eq!(
        client::udp_exchange(&udp, "echo Hello UDP", DEFAULT_TIMEOUT)
            .await
            .unwrap(),
        "Hello UDP"
    );
    let clientip = client::udp_exchange(&udp, "clientip\n", DEFAULT_TIMEOUT)
        .await
        .unwrap();
    assert!(clientip.starts_with("127.0.0.1:"), "{clientip}");
}

#[tokio::test]
async fn udp_ignores_unknown_commands_so_the_client_times_out_quickly() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let udp = netexec.server.ports().udp.unwrap().to_string();
    let start = Instant::now();
    let err = client::udp_exchange(&udp, "bogus", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.class(), "TIMEOUT");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn tcp_echo_sends_lines_back() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let tcp = netexec.server.ports().tcp.unwrap().to_string();
    let echoed = client::tcp_exchange(&tcp, Some("hello tcp"), DEFAULT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(echoed, "hello tcp\n");
}

#[tokio::test]
async fn tcp_echo_answers_each_line_while_the_connection_stays_open() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let stream = tokio::net::TcpStream::connect(netexec.server.ports().tcp.unwrap())
        .await
        .unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    for text in ["one", "two"] {
        writer
            .write_all(format!("{text}\n").as_bytes())
            .await
            .unwrap();
        let line = tokio::time::timeout(DEFAULT_TIMEOUT, lines.next_line())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line.as_deref(), Some(text));
    }
}

#[tokio::test]
async fn dial_makes_http_udp_and_tcp_requests_and_collects_the_responses() {
    let target = start_netexec(loopback_options("target-pod")).await;
    let prober = start_netexec(loopback_options("prober-pod")).await;
    let ports = target.server.ports();
    let dial = |query: String| {
        let http = prober.server.ports().http;
        async move {
            let answer = hyper_get(http, &format!("/dial?{query}"), &[]).await;
            (answer.status, answer.body)
        }
    };

    let (status, body) = dial(format!(
        "request=hostname&host=127.0.0.1&port={}&protocol=http&tries=3",
        ports.http.port()
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"responses":["target-pod","target-pod","target-pod"]}"#
    );

    let (_, body) = dial(format!(
        "request=hostname&host=127.0.0.1&port={}&protocol=udp",
        ports.udp.unwrap().port()
    ))
    .await;
    assert_eq!(body, r#"{"responses":["target-pod"]}"#);

    let (_, body) = dial(format!(
        "request=ping&host=127.0.0.1&port={}&protocol=tcp",
        ports.tcp.unwrap().port()
    ))
    .await;
    assert_eq!(body, r#"{"responses":["ping\n"]}"#);

    // The prober's clientip as the target saw it: the prober dialed from loopback.
    let (_, body) = dial(format!(
        "request=clientip&host=127.0.0.1&port={}",
        ports.http.port()
    ))
    .await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        json["responses"][0]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}

#[tokio::test]
async fn dial_reports_failures_as_errors_and_bad_parameters_as_400() {
    let prober = start_netexec(loopback_options("prober-pod")).await;
    let http = prober.server.ports().http;
    let closed = closed_port();

    let answer = hyper_get(
        http,
        &format!(
            "/dial?request=hostname&host=127.0.0.1&port={}&tries=2",
            closed.port()
        ),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert!(json.get("responses").is_none());
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0].as_str().unwrap().contains("connection refused"),
        "{errors:?}"
    );

    for bad in [
        "/dial?host=127.0.0.1&port=80".to_owned(),
        "/dial?request=hostname&host=127.0.0.1&port=80&protocol=sctp".to_owned(),
        "/dial?request=hostname&host=127.0.0.1&port=80&tries=x".to_owned(),
        "/dial?request=hostname&host=127.0.0.1&port=notaport".to_owned(),
    ] {
        assert_eq!(
            hyper_get(http, &bad, &[]).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn exit_stops_every_server_with_the_requested_code() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let ports = netexec.server.ports();
    let answer = hyper_get(ports.http, "/exit?code=3&timeout=1s", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let code = tokio::time::timeout(DEFAULT_TIMEOUT, netexec.server.wait())
        .await
        .unwrap();
    assert_eq!(code, 3);
    let err = client::tcp_connect(&ports.http.to_string(), DEFAULT_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(err.class(), "REFUSED");
    let err = client::tcp_connect(&ports.tcp.unwrap().to_string(), DEFAULT_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(err.class(), "REFUSED");
}

#[tokio::test]
async fn exit_rejects_malformed_parameters_and_keeps_serving() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let http = netexec.server.ports().http;
    for bad in ["/exit?code=x", "/exit?timeout=5", "/exit?wait=soon"] {
        assert_eq!(
            hyper_get(http, bad, &[]).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(hyper_get(http, "/hostname", &[]).await.body, "pod-a");
}

#[tokio::test]
async fn shutdown_fails_readyz_during_the_delay_then_exits_zero() {
    let opts = NetexecOptions {
        delay_shutdown: Duration::from_secs(2),
        ..loopback_options("pod-a")
    };
    let netexec = start_netexec(opts).await;
    let http = netexec.server.ports().http;
    netexec.stop.send(()).unwrap();
    // agnhost: readyz says 503 (take me out of the endpoints) while healthz stays 200.
    let mut saw_shutting_down = false;
    for _ in 0..50 {
        let answer = hyper_get(http, "/readyz", &[]).await;
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(answer.body, "shutting down");
            saw_shutting_down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_shutting_down);
    assert_eq!(
        hyper_get(http, "/healthz", &[]).await.status,
        StatusCode::OK
    );
    let code = tokio::time::timeout(DEFAULT_TIMEOUT, netexec.server.wait())
        .await
        .unwrap();
    assert_eq!(code, 0);
}

#[tokio::test]
async fn http_override_serves_every_request_as_the_override() {
    let opts = NetexecOptions {
        http_override: Some("/echo?msg=overridden".to_owned()),
        ..loopback_options("pod-a")
    };
    let netexec = start_netexec(opts).await;
    let answer = hyper_get(netexec.server.ports().http, "/hostname", &[]).await;
    assert_eq!(answer.body, "overridden");
}

#[tokio::test]
async fn each_request_is_logged_with_its_peer_and_request_line() {
    let netexec = start_netexec(loopback_options("pod-a")).await;
    let answer = hyper_get(netexec.server.ports().http, "/hostname?x=1", &[]).await;
    let expected = format!("{} \"GET /hostname?x=1 HTTP/1.1\"", answer.local);
    assert!(
        eventually(|| netexec.console.out_text().contains(&expected)).await,
        "{}",
        netexec.console.out_text()
    );
    let log = netexec.console.out_text();
    assert!(log.contains("Started HTTP server on 127.0.0.1:"), "{log}");
    assert!(log.contains("Started UDP server on 127.0.0.1:"), "{log}");
}

#[tokio::test]
async fn udp_and_tcp_can_be_disabled() {
    let opts = NetexecOptions {
        udp_port: None,
        tcp_port: None,
        ..loopback_options("pod-a")
    };
    let netexec = start_netexec(opts).await;
    assert_eq!(netexec.server.ports().udp, None);
    assert_eq!(netexec.server.ports().tcp, None);
    assert_eq!(
        hyper_get(netexec.server.ports().http, "/healthz", &[])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_port_already_in_use_is_a_listen_error() {
    let taken = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
    let opts = NetexecOptions {
        http_port: taken.local_addr().unwrap().port(),
        ..loopback_options("pod-a")
    };
    let err = knet_images::netexec::serve_netexec(opts, knet_images::Console::discard(), never())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to listen on tcp 127.0.0.1:"),
        "{err}"
    );
}
