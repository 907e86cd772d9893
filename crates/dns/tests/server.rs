//! The server over real loopback sockets: UDP and TCP, truncation and the TCP retry, malformed
//! input, and forwarding with its cache against a small upstream started here.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use knet_dns::hickory_proto::op::{Message, MessageType, ResponseCode};
use knet_dns::hickory_proto::rr::rdata::{A, SOA};
use knet_dns::hickory_proto::rr::{Name, RData, Record, RecordType};
use knet_dns::{DnsConfig, DnsState, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(3);

/// A running server: its addresses and the sender that stops it.
struct Running {
    udp: SocketAddr,
    tcp: SocketAddr,
    state: Arc<DnsState>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(cfg: DnsConfig) -> Running {
    let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let tcp = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let state = DnsState::new(cfg).unwrap();
    // A headless Service with 60 endpoints: its A answer (~1 000 bytes) needs TCP or EDNS.
    let addrs: Vec<String> = (1..=60).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let eps: Vec<Ep<'_>> = refs.chunks(1).map(ep).collect();
    state.update(
        &[
            mk_service(
                "default",
                "kubernetes",
                &["192.0.2.1"],
                &[("https", 443, "TCP")],
            ),
            mk_headless("default", "wide", &[], false),
            mk_external("default", "search", "www.example.com"),
        ],
        &[mk_slice("default", "wide", "IPv4", &eps, &[])],
        &[],
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn({
        let state = state.clone();
        async move {
            serve(udp, tcp, state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        }
    });
    Running {
        udp: udp_addr,
        tcp: tcp_addr,
        state,
        stop: Some(stop),
        task,
    }
}

async fn udp_ask(server: SocketAddr, q: &Message) -> Message {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap();
    assert!(n <= 1232, "no UDP answer exceeds the cap");
    Message::from_vec(&buf[..n]).unwrap()
}

async fn tcp_ask(server: SocketAddr, queries: &[Message]) -> Vec<Message> {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let mut out = Vec::new();
    for q in queries {
        let bytes = q.to_vec().unwrap();
        out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    // All queries in one write: pipelined.
    stream.write_all(&out).await.unwrap();
    let mut answers = Vec::new();
    for _ in queries {
        let len = tokio::time::timeout(WAIT, stream.read_u16())
            .await
            .unwrap()
            .unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.unwrap();
        answers.push(Message::from_vec(&buf).unwrap());
    }
    answers
}

#[tokio::test]
async fn cluster_names_resolve_over_udp_and_tcp() {
    let s = start(cfg()).await;
    let q = query("kubernetes.default.svc.cluster.local.", RecordType::A);
    let udp = udp_ask(s.udp, &q).await;
    assert_eq!(udp.metadata.id, q.metadata.id);
    assert_eq!(ips(&udp.answers), vec![ip("192.0.2.1")]);
    let tcp = tcp_ask(s.tcp, std::slice::from_ref(&q)).await;
    assert_eq!(ips(&tcp[0].answers), vec![ip("192.0.2.1")]);
}

#[tokio::test]
async fn one_tcp_connection_answers_pipelined_queries_in_order() {
    let s = start(cfg()).await;
    let qs = vec![
        query("kubernetes.default.svc.cluster.local.", RecordType::A),
        query("nosuch.default.svc.cluster.local.", RecordType::A),
        query(
            "_https._tcp.kubernetes.default.svc.cluster.local.",
            RecordType::SRV,
        ),
    ];
    let answers = tcp_ask(s.tcp, &qs).await;
    for (q, a) in qs.iter().zip(&answers) {
        assert_eq!(q.metadata.id, a.metadata.id);
        assert_eq!(q.queries, a.queries);
    }
    assert_eq!(answers[1].metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(answers[2].answers[0].record_type(), RecordType::SRV);
}

#[tokio::test]
async fn a_truncated_udp_answer_is_complete_when_retried_over_tcp() {
    let s = start(cfg()).await;
    let q = query("wide.default.svc.cluster.local.", RecordType::A);
    let udp = udp_ask(s.udp, &q).await;
    assert!(udp.metadata.truncation);
    assert!(udp.answers.is_empty());
    let tcp = tcp_ask(s.tcp, &[q]).await;
    assert!(!tcp[0].metadata.truncation);
    assert_eq!(tcp[0].answers.len(), 60);
    // With EDNS(0) the same answer fits in one datagram.
    let edns = udp_ask(
        s.udp,
        &query_edns("wide.default.svc.cluster.local.", RecordType::A, 1232),
    )
    .await;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 60);
    assert_eq!(edns.edns.as_ref().unwrap().max_payload(), 1232);
}

#[tokio::test]
async fn malformed_packets_do_not_disturb_other_clients() {
    let s = start(cfg()).await;
    let bad = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let mut seed = 0x9e37_79b9_u32;
    for i in 0..500 {
        let len = (i % 40) + 1;
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        bad.send_to(&junk, s.udp).await.unwrap();
        if i % 100 == 99 {
            // Let the workers drain the socket: 500 datagrams at once can exceed a default
            // receive buffer (net.core.rmem_max 208 KiB), and a full buffer drops queries.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    // A header with QR clear and a broken question: FORMERR with the same ID.
    let packet = [0x0a, 0x0b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0];
    let fe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    fe.send_to(&packet, s.udp).await.unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(WAIT, fe.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let resp = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(resp.metadata.id, 0x0a0b);
    assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);

    // A TCP client that sends half a message and stalls holds only its own connection.
    let mut stalled = TcpStream::connect(s.tcp).await.unwrap();
    stalled.write_all(&[0x00, 0x40, 0x01]).await.unwrap();

    let q = query("kubernetes.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        ips(&udp_ask(s.udp, &q).await.answers),
        vec![ip("192.0.2.1")]
    );
    assert_eq!(
        ips(&tcp_ask(s.tcp, &[q]).await[0].answers),
        vec![ip("192.0.2.1")]
    );
}

#[tokio::test]
async fn a_changed_service_answers_its_new_address_over_udp() {
    let s = start(cfg()).await;
    let q = query("kubernetes.default.svc.cluster.local.", RecordType::A);
    // Several times, so that every worker has the answer cached.
    for _ in 0..8 {
        assert_eq!(
            ips(&udp_ask(s.udp, &q).await.answers),
            vec![ip("192.0.2.1")]
        );
    }
    s.state.update(
        &[mk_service(
            "default",
            "kubernetes",
            &["192.0.2.2"],
            &[("https", 443, "TCP")],
        )],
        &[],
        &[],
    );
    for _ in 0..8 {
        assert_eq!(
            ips(&udp_ask(s.udp, &q).await.answers),
            vec![ip("192.0.2.2")]
        );
    }
}

#[tokio::test]
async fn a_burst_from_many_clients_gets_every_answer_to_its_sender() {
    let s = start(cfg()).await;
    let wide = mk_headless("default", "wide", &[], false);
    // 40 Services, s0..s39 with 192.0.2.(100+i).
    let mut services: Vec<_> = (0..40)
        .map(|i| {
            mk_service(
                "default",
                &format!("s{i}"),
                &[&format!("192.0.2.{}", 100 + i)],
                &[],
            )
        })
        .collect();
    services.push(wide);
    s.state.update(&services, &[], &[]);
    let clients: Vec<UdpSocket> = futures_join(4).await;
    // Every client sends all its queries before reading any answer: they queue up and are
    // taken in batches.
    for (c, sock) in clients.iter().enumerate() {
        for i in 0..40u16 {
            let mut q = query(&format!("s{i}.default.svc.cluster.local."), RecordType::A);
            q.metadata.id = (c as u16) << 8 | i;
            sock.send_to(&q.to_vec().unwrap(), s.udp).await.unwrap();
        }
    }
    for (c, sock) in clients.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        let mut buf = vec![0u8; 2048];
        while seen.len() < 40 {
            let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
                .await
                .expect("every answer in time")
                .unwrap();
            let resp = Message::from_vec(&buf[..n]).unwrap();
            let (client, i) = (resp.metadata.id >> 8, resp.metadata.id & 0xff);
            assert_eq!(usize::from(client), c, "an answer goes to its own client");
            let want: std::net::IpAddr = format!("192.0.2.{}", 100 + i).parse().unwrap();
            assert_eq!(ips(&resp.answers), vec![want]);
            seen.insert(i);
        }
    }
}

async fn futures_join(n: usize) -> Vec<UdpSocket> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap());
    }
    out
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let mut s = start(cfg()).await;
    s.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(WAIT, &mut s.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_aborted_server_stops_answering_udp() {
    let s = start(cfg()).await;
    let q = query("kubernetes.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        ips(&udp_ask(s.udp, &q).await.answers),
        vec![ip("192.0.2.1")]
    );
    s.task.abort();
    // The worker threads notice within their 100 ms wake-up and close the socket.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let _ = sock.send_to(&q.to_vec().unwrap(), s.udp).await;
    let mut buf = [0u8; 512];
    let got = tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await;
    assert!(
        !matches!(got, Ok(Ok(_))),
        "no answer after the server was dropped"
    );
}

// ---- forwarding --------------------------------------------------------------------------

/// Queries an upstream saw, per (name, transport).
type Seen = Arc<Mutex<HashMap<(String, &'static str), usize>>>;

/// A tiny upstream resolver: answers by name, counts what it is asked.
struct Upstream {
    addr: SocketAddr,
    seen: Seen,
}

impl Upstream {
    fn count(&self, name: &str, transport: &'static str) -> usize {
        *self
            .seen
            .lock()
            .unwrap()
            .get(&(name.to_string(), transport))
            .unwrap_or(&0)
    }
}

fn upstream_answer(req: &Message, udp: bool) -> Option<Message> {
    let q = req.queries.first()?;
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_available = true;
    resp.queries = req.queries.clone();
    let n = q.name.to_lowercase().to_ascii();
    let a = |name: &Name, ip: [u8; 4], ttl| {
        Record::from_rdata(
            name.clone(),
            ttl,
            RData::A(A::new(ip[0], ip[1], ip[2], ip[3])),
        )
    };
    match n.as_str() {
        "www.example.com." => resp.answers.push(a(&q.name, [192, 0, 2, 77], 60)),
        "missing.example.com." => {
            resp.metadata.response_code = ResponseCode::NXDomain;
            let soa = SOA::new(
                Name::from_ascii("ns.example.com.").unwrap(),
                Name::from_ascii("h.example.com.").unwrap(),
                1,
                1,
                1,
                1,
                60,
            );
            resp.authorities.push(Record::from_rdata(
                Name::from_ascii("example.com.").unwrap(),
                60,
                RData::SOA(soa),
            ));
        }
        "big.example.com." if udp => resp.metadata.truncation = true,
        "big.example.com." => {
            for i in 1..=40 {
                resp.answers.push(a(&q.name, [203, 0, 113, i], 60));
            }
        }
        "broken.example.com." => resp.metadata.response_code = ResponseCode::ServFail,
        _ => resp.metadata.response_code = ResponseCode::NXDomain,
    }
    Some(resp)
}

async fn start_upstream() -> Upstream {
    // UDP and TCP on one port: the port the kernel picks for UDP may be taken for TCP (by another
    // test's connection), so try again with another.
    let mut attempts = 0;
    let (udp, addr, tcp) = loop {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = udp.local_addr().unwrap();
        match tokio::net::TcpListener::bind(addr).await {
            Ok(tcp) => break (udp, addr, tcp),
            Err(e) if attempts < 50 => {
                attempts += 1;
                eprintln!("upstream: TCP port {addr} taken ({e}); another");
            }
            Err(e) => panic!("no port free for both UDP and TCP: {e}"),
        }
    };
    let seen: Seen = Arc::default();
    let record = {
        let seen = seen.clone();
        move |req: &Message, transport: &'static str| {
            if let Some(q) = req.queries.first() {
                *seen
                    .lock()
                    .unwrap()
                    .entry((q.name.to_lowercase().to_ascii(), transport))
                    .or_default() += 1;
            }
        }
    };
    let rec_udp = record.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            rec_udp(&req, "udp");
            if let Some(resp) = upstream_answer(&req, true) {
                let _ = udp.send_to(&resp.to_vec().unwrap(), peer).await;
            }
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = tcp.accept().await else {
                continue;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let Ok(len) = stream.read_u16().await else {
                    return;
                };
                let mut buf = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Ok(req) = Message::from_vec(&buf) else {
                    return;
                };
                record(&req, "tcp");
                if let Some(resp) = upstream_answer(&req, false) {
                    let bytes = resp.to_vec().unwrap();
                    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&bytes);
                    let _ = stream.write_all(&out).await;
                }
            });
        }
    });
    Upstream { addr, seen }
}

fn forwarding(upstreams: Vec<SocketAddr>) -> DnsConfig {
    DnsConfig {
        upstreams,
        upstream_timeout: Duration::from_millis(300),
        ..cfg()
    }
}

#[tokio::test]
async fn names_outside_the_zone_are_forwarded_and_cached() {
    let up = start_upstream().await;
    let s = start(forwarding(vec![up.addr])).await;
    let q = query("WwW.Example.COM.", RecordType::A);
    let first = udp_ask(s.udp, &q).await;
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ips(&first.answers), vec![ip("192.0.2.77")]);
    assert!(!first.metadata.authoritative);
    assert!(first.metadata.recursion_available);
    assert_eq!(
        first.queries, q.queries,
        "the question comes back as asked (0x20)"
    );
    assert_eq!(first.metadata.message_type, MessageType::Response);

    let again = udp_ask(s.udp, &query("www.example.com.", RecordType::A)).await;
    assert_eq!(ips(&again.answers), vec![ip("192.0.2.77")]);
    assert!(again.answers[0].ttl <= 60);
    let over_tcp = tcp_ask(s.tcp, &[query("www.example.com.", RecordType::A)]).await;
    assert_eq!(ips(&over_tcp[0].answers), vec![ip("192.0.2.77")]);
    assert_eq!(
        up.count("www.example.com.", "udp"),
        1,
        "later answers came from the cache"
    );
    assert_eq!(s.state.cached_answers(), 1);
}

#[tokio::test]
async fn negative_upstream_answers_are_cached_too() {
    let up = start_upstream().await;
    let s = start(forwarding(vec![up.addr])).await;
    for _ in 0..3 {
        let resp = udp_ask(s.udp, &query("missing.example.com.", RecordType::A)).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
        assert!(has_soa(&resp.authorities));
    }
    assert_eq!(up.count("missing.example.com.", "udp"), 1);
}

#[tokio::test]
async fn a_truncated_upstream_answer_is_fetched_again_over_tcp() {
    let up = start_upstream().await;
    let s = start(forwarding(vec![up.addr])).await;
    let resp = udp_ask(s.udp, &query_edns("big.example.com.", RecordType::A, 1232)).await;
    assert_eq!(resp.answers.len(), 40);
    assert_eq!(up.count("big.example.com.", "udp"), 1);
    assert_eq!(up.count("big.example.com.", "tcp"), 1);
    // Without EDNS the client gets TC and the whole answer over TCP (from the cache).
    let plain = udp_ask(s.udp, &query("big.example.com.", RecordType::A)).await;
    assert!(plain.metadata.truncation);
    let tcp = tcp_ask(s.tcp, &[query("big.example.com.", RecordType::A)]).await;
    assert_eq!(tcp[0].answers.len(), 40);
    assert_eq!(up.count("big.example.com.", "tcp"), 1);
}

#[tokio::test]
async fn an_unresponsive_upstream_is_skipped_for_the_next_one() {
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let up = start_upstream().await;
    let s = start(forwarding(vec![silent.local_addr().unwrap(), up.addr])).await;
    let resp = udp_ask(s.udp, &query("www.example.com.", RecordType::A)).await;
    assert_eq!(ips(&resp.answers), vec![ip("192.0.2.77")]);
    let mut buf = [0u8; 512];
    assert!(
        silent.try_recv_from(&mut buf).is_ok(),
        "the first upstream was asked"
    );
}

#[tokio::test]
async fn upstream_failures_are_servfail_and_no_upstream_is_refused() {
    let up = start_upstream().await;
    let s = start(forwarding(vec![up.addr])).await;
    let resp = udp_ask(s.udp, &query("broken.example.com.", RecordType::A)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    // SERVFAIL is not cached.
    udp_ask(s.udp, &query("broken.example.com.", RecordType::A)).await;
    assert_eq!(up.count("broken.example.com.", "udp"), 2);

    let lone = start(cfg()).await;
    let resp = udp_ask(lone.udp, &query("www.example.com.", RecordType::A)).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::Refused);
    // The cluster zone still answers.
    let q = query("kubernetes.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        ips(&udp_ask(lone.udp, &q).await.answers),
        vec![ip("192.0.2.1")]
    );
}

#[tokio::test]
async fn an_external_name_service_resolves_through_the_upstream() {
    let up = start_upstream().await;
    let s = start(forwarding(vec![up.addr])).await;
    let resp = udp_ask(
        s.udp,
        &query("search.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(resp.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(
        resp.answers[0].name,
        Name::from_ascii("search.default.svc.cluster.local.").unwrap()
    );
    assert_eq!(ips(&resp.answers), vec![ip("192.0.2.77")]);
    assert_eq!(up.count("www.example.com.", "udp"), 1);
}
