//! The UDP hot path (`AnswerCache`): replayed replies are the slow path's replies, byte for byte,
//! with the client's ID and spelling; EDNS and plain queries stay apart; a new snapshot empties
//! the cache; unusual packets and forwarded queries are never kept.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use knet_dns::hickory_proto::op::{Message, OpCode, ResponseCode};
use knet_dns::hickory_proto::rr::{Record, RecordType};
use knet_dns::{AnswerCache, DnsState, Processed, Snapshot, Transport, process_packet};

const CAP: u16 = 1232;

fn bytes_of(mut m: Message, id: u16) -> Vec<u8> {
    m.metadata.id = id;
    m.to_vec().unwrap()
}

fn slow(snapshot: &Snapshot, packet: &[u8]) -> Processed {
    process_packet(snapshot, CAP, packet, Transport::Udp)
}

fn reply(p: Processed) -> Message {
    match p {
        Processed::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// A zone with a ClusterIP Service, a headless one too large for 512 bytes, a pod and a name
/// outside it.
fn zone(web_ip: &str) -> Snapshot {
    let addrs: Vec<String> = (1..=60).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let eps: Vec<Ep<'_>> = refs.chunks(1).map(ep).collect();
    build(
        &[
            mk_service("shop", "web", &[web_ip], &[("http", 80, "TCP")]),
            mk_headless("shop", "wide", &[], false),
        ],
        &[mk_slice("shop", "wide", "IPv4", &eps, &[])],
        &[],
    )
}

fn ordinary_queries() -> Vec<Message> {
    vec![
        query("web.shop.svc.cluster.local.", RecordType::A),
        query_edns("web.shop.svc.cluster.local.", RecordType::A, 1232),
        query("web.shop.svc.cluster.local.", RecordType::AAAA),
        query("_http._tcp.web.shop.svc.cluster.local.", RecordType::SRV),
        query("nosuch.shop.svc.cluster.local.", RecordType::A),
        query("shop.svc.cluster.local.", RecordType::A),
        query("10.2.0.192.in-addr.arpa.", RecordType::PTR),
        query("198-51-100-7.shop.pod.cluster.local.", RecordType::A),
        query("wide.shop.svc.cluster.local.", RecordType::A),
        query_edns("wide.shop.svc.cluster.local.", RecordType::A, 4096),
        query("web.shop.svc.cluster.local.", RecordType::AXFR),
    ]
}

#[test]
fn a_hit_is_the_slow_path_reply_byte_for_byte_with_the_new_id() {
    let snap = zone("192.0.2.10");
    let mut cache = AnswerCache::new(64);
    for (i, q) in ordinary_queries().into_iter().enumerate() {
        let first = bytes_of(q.clone(), 0x1000 + i as u16);
        assert_eq!(cache.process(&snap, CAP, &first), slow(&snap, &first));
        let hits = cache.hits();
        let again = bytes_of(q, 0xbeef);
        let hit = cache.process(&snap, CAP, &again);
        assert_eq!(
            cache.hits(),
            hits + 1,
            "query {i} is answered from the cache"
        );
        assert_eq!(hit, slow(&snap, &again), "query {i}");
        assert_eq!(reply(hit).metadata.id, 0xbeef);
    }
    assert_eq!(cache.len(), ordinary_queries().len());
}

#[test]
fn answers_keep_the_question_spelling_of_each_client() {
    let snap = zone("192.0.2.10");
    let mut cache = AnswerCache::new(64);
    for (round, spelling) in [
        "web.shop.svc.cluster.local.",
        "WeB.ShOp.svc.CLUSTER.local.",
        "web.shop.svc.cluster.local.",
        "WeB.ShOp.svc.CLUSTER.local.",
    ]
    .into_iter()
    .enumerate()
    {
        let packet = bytes_of(query(spelling, RecordType::A), round as u16);
        let resp = reply(cache.process(&snap, CAP, &packet));
        assert_eq!(resp.queries[0].name.to_string(), spelling);
        assert_eq!(resp.answers[0].name.to_string(), spelling);
        assert_eq!(ips(&resp.answers), vec![ip("192.0.2.10")]);
    }
    assert_eq!(cache.hits(), 2, "each spelling is its own entry");
}

#[test]
fn edns_and_plain_queries_are_not_mixed_up() {
    let snap = zone("192.0.2.10");
    let mut cache = AnswerCache::new(64);
    let name = "wide.shop.svc.cluster.local.";
    // Twice each, interleaved, EDNS first: the second round comes from the cache.
    for _ in 0..2 {
        let edns = reply(cache.process(
            &snap,
            CAP,
            &bytes_of(query_edns(name, RecordType::A, 1232), 1),
        ));
        assert!(edns.edns.is_some(), "an EDNS query gets an OPT record");
        assert!(!edns.metadata.truncation);
        assert_eq!(edns.answers.len(), 60);

        let plain = reply(cache.process(&snap, CAP, &bytes_of(query(name, RecordType::A), 2)));
        assert!(plain.edns.is_none(), "a plain query gets no OPT record");
        assert!(plain.metadata.truncation, "60 records do not fit 512 bytes");
        assert!(plain.answers.is_empty());

        // A small advertised buffer counts as 512 bytes (RFC 6891 §6.2.5).
        let small = reply(cache.process(
            &snap,
            CAP,
            &bytes_of(query_edns(name, RecordType::A, 512), 3),
        ));
        assert!(small.edns.is_some());
        assert!(small.metadata.truncation);
    }
    assert_eq!(cache.hits(), 3);

    // The same cache under a smaller server cap: the EDNS answer no longer fits.
    let packet = bytes_of(query_edns(name, RecordType::A, 1232), 4);
    let capped = cache.process(&snap, 512, &packet);
    assert_eq!(capped, process_packet(&snap, 512, &packet, Transport::Udp));
    assert!(reply(capped).metadata.truncation);
}

#[test]
fn a_new_snapshot_empties_the_cache() {
    let state = DnsState::new(cfg()).unwrap();
    state.replace(zone("192.0.2.10"));
    let mut cache = AnswerCache::new(64);
    let packet = bytes_of(query("web.shop.svc.cluster.local.", RecordType::A), 7);
    for _ in 0..2 {
        let resp = reply(cache.process(&state.snapshot(), CAP, &packet));
        assert_eq!(ips(&resp.answers), vec![ip("192.0.2.10")]);
    }
    assert_eq!(cache.hits(), 1);

    // The Service changes its address.
    state.replace(zone("192.0.2.20"));
    let resp = reply(cache.process(&state.snapshot(), CAP, &packet));
    assert_eq!(ips(&resp.answers), vec![ip("192.0.2.20")]);
    assert_eq!(cache.hits(), 1, "the old answer is not replayed");
    assert_eq!(cache.len(), 1);

    // Replacing with the same content still starts over (the SOA serial changed).
    let before = state.snapshot().serial();
    state.replace(zone("192.0.2.20"));
    let nx = bytes_of(query("nosuch.shop.svc.cluster.local.", RecordType::A), 8);
    cache.process(&state.snapshot(), CAP, &nx);
    let resp = reply(cache.process(&state.snapshot(), CAP, &nx));
    assert_ne!(state.snapshot().serial(), before);
    let soa_serial = |r: &Record| match &r.data {
        knet_dns::hickory_proto::rr::RData::SOA(soa) => soa.serial,
        _ => 0,
    };
    assert_eq!(soa_serial(&resp.authorities[0]), state.snapshot().serial());
}

#[test]
fn unusual_packets_and_forwarded_queries_are_never_kept() {
    let snap = zone("192.0.2.10");
    let mut cache = AnswerCache::new(64);
    let web = || query("web.shop.svc.cluster.local.", RecordType::A);

    let mut notify = web();
    notify.metadata.op_code = OpCode::Notify;
    let mut two = web();
    two.add_query(knet_dns::hickory_proto::op::Query::query(
        name("web.shop.svc.cluster.local."),
        RecordType::AAAA,
    ));
    let mut with_answer = web();
    with_answer.add_answer(Record::from_rdata(
        name("web.shop.svc.cluster.local."),
        30,
        knet_dns::hickory_proto::rr::RData::A(knet_dns::hickory_proto::rr::rdata::A(
            "192.0.2.99".parse().unwrap(),
        )),
    ));
    let mut truncated = web();
    truncated.metadata.truncation = true;
    let forwarded = query("www.example.com.", RecordType::A);

    let mut packets: Vec<Vec<u8>> = [notify, two, with_answer, truncated, forwarded]
        .into_iter()
        .map(|m| bytes_of(m, 9))
        .collect();
    // Longer than any ordinary query: trailing bytes after the question.
    let mut long = bytes_of(web(), 9);
    long.resize(600, 0);
    packets.push(long);
    // Malformed and a response.
    packets.push(vec![0x0a, 0x0b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0]);
    let mut response = bytes_of(web(), 9);
    response[2] |= 0x80;
    packets.push(response);

    for p in &packets {
        for _ in 0..2 {
            assert_eq!(cache.process(&snap, CAP, p), slow(&snap, p));
        }
    }
    assert!(cache.is_empty(), "nothing unusual was kept");
    assert_eq!(cache.hits(), 0);
    assert_eq!(
        reply(slow(&snap, &packets[0])).metadata.response_code,
        ResponseCode::NotImp
    );
    assert!(matches!(slow(&snap, &packets[4]), Processed::Upstream(_)));
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let snap = zone("192.0.2.10");
    let mut cache = AnswerCache::new(3);
    for i in 0..50 {
        let packet = bytes_of(
            query(&format!("n{i}.shop.svc.cluster.local."), RecordType::A),
            1,
        );
        let resp = reply(cache.process(&snap, CAP, &packet));
        assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
        assert!(cache.len() <= 3);
    }
    let mut off = AnswerCache::new(0);
    let packet = bytes_of(query("web.shop.svc.cluster.local.", RecordType::A), 1);
    for _ in 0..3 {
        assert_eq!(off.process(&snap, CAP, &packet), slow(&snap, &packet));
    }
    assert!(off.is_empty());
    assert_eq!(off.hits(), 0);
}

#[test]
fn a_question_compressed_into_the_id_is_never_kept() {
    let snap = zone("192.0.2.10");
    let mut cache = AnswerCache::new(64);
    // The question's name is a pointer to offset 0: the ID bytes are read as labels, so the
    // same bytes after the ID ask different questions under different IDs.
    let packet = |id: [u8; 2]| {
        let mut p = id.to_vec();
        p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[0xc0, 0x00, 0x00, 252, 0x00, 0x01]); // AXFR IN
        p
    };
    let root = packet([0x00, 0x00]);
    let other = packet([0x01, b'a']);
    for p in [&root, &other, &root, &other] {
        assert_eq!(cache.process(&snap, CAP, p), slow(&snap, p));
    }
    assert!(cache.is_empty());
    let (a, b) = (reply(slow(&snap, &root)), reply(slow(&snap, &other)));
    assert_eq!(a.metadata.response_code, ResponseCode::Refused);
    assert_ne!(a.queries, b.queries, "the two IDs ask different questions");
}
