//! Bytes in, bytes out: malformed packets, EDNS(0) and truncation.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use knet_dns::hickory_proto::op::{Message, ResponseCode};
use knet_dns::hickory_proto::rr::RecordType;
use knet_dns::{Processed, Snapshot, Transport, process_packet};

fn reply(snapshot: &Snapshot, packet: &[u8], transport: Transport) -> Message {
    match process_packet(snapshot, 1232, packet, transport) {
        Processed::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// A headless Service with `n` ready endpoints.
fn wide(n: u8) -> Snapshot {
    let addrs: Vec<String> = (1..=n).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let eps: Vec<Ep<'_>> = refs.chunks(1).map(ep).collect();
    build(
        &[mk_headless("default", "wide", &[], false)],
        &[mk_slice("default", "wide", "IPv4", &eps, &[])],
        &[],
    )
}

#[test]
fn packets_shorter_than_a_header_and_responses_are_dropped() {
    let snap = wide(1);
    assert_eq!(
        process_packet(&snap, 1232, &[], Transport::Udp),
        Processed::Drop
    );
    assert_eq!(
        process_packet(&snap, 1232, &[0x12; 11], Transport::Udp),
        Processed::Drop
    );
    let mut resp = query("wide.default.svc.cluster.local.", RecordType::A);
    resp.metadata.message_type = knet_dns::hickory_proto::op::MessageType::Response;
    assert_eq!(
        process_packet(&snap, 1232, &resp.to_vec().unwrap(), Transport::Udp),
        Processed::Drop
    );
}

#[test]
fn an_undecodable_query_with_a_header_gets_formerr_with_its_id() {
    let snap = wide(1);
    // Header says one question, then garbage.
    let mut packet = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    packet.extend_from_slice(&[0xff, 0xfe, 0x00]);
    let resp = reply(&snap, &packet, Transport::Udp);
    assert_eq!(resp.metadata.id, 0xbeef);
    assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
    assert!(resp.metadata.recursion_desired);
}

#[test]
fn an_edns_query_gets_an_opt_record_and_a_plain_one_does_not() {
    let snap = wide(1);
    let q = query_edns("wide.default.svc.cluster.local.", RecordType::A, 4096);
    let resp = reply(&snap, &q.to_vec().unwrap(), Transport::Udp);
    let edns = resp.edns.as_ref().expect("OPT in the answer");
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(edns.version(), 0);
    let plain = query("wide.default.svc.cluster.local.", RecordType::A);
    assert!(
        reply(&snap, &plain.to_vec().unwrap(), Transport::Udp)
            .edns
            .is_none()
    );
}

#[test]
fn an_unknown_edns_version_gets_badvers() {
    let snap = wide(1);
    let mut q = query_edns("wide.default.svc.cluster.local.", RecordType::A, 1232);
    q.edns.as_mut().unwrap().set_version(1);
    let resp = reply(&snap, &q.to_vec().unwrap(), Transport::Udp);
    // BADVERS is extended RCODE 16 (the OPT record carries its upper bits).
    assert_eq!(u16::from(resp.metadata.response_code), 16);
    assert!(resp.edns.is_some());
    assert!(resp.answers.is_empty());
}

#[test]
fn udp_answers_over_512_bytes_are_truncated_for_clients_without_edns() {
    let snap = wide(60); // 60 A records: ~1000 bytes
    let q = query("wide.default.svc.cluster.local.", RecordType::A);
    let bytes = match process_packet(&snap, 1232, &q.to_vec().unwrap(), Transport::Udp) {
        Processed::Reply(b) => b,
        other => panic!("{other:?}"),
    };
    assert!(bytes.len() <= 512);
    let resp = Message::from_vec(&bytes).unwrap();
    assert!(resp.metadata.truncation);
    assert!(resp.answers.is_empty());
    assert_eq!(resp.queries, q.queries);
    // Over TCP the whole answer comes back.
    let tcp = reply(&snap, &q.to_vec().unwrap(), Transport::Tcp);
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 60);
}

#[test]
fn the_edns_buffer_size_is_honoured_up_to_the_configured_cap() {
    let snap = wide(60);
    let q = query_edns("wide.default.svc.cluster.local.", RecordType::A, 4096);
    let resp = reply(&snap, &q.to_vec().unwrap(), Transport::Udp);
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 60);

    let big = wide(100); // ~1650 bytes: over the 1232 cap even with a 4096 buffer
    let bytes = match process_packet(&big, 1232, &q.to_vec().unwrap(), Transport::Udp) {
        Processed::Reply(b) => b,
        other => panic!("{other:?}"),
    };
    assert!(bytes.len() <= 1232);
    let resp = Message::from_vec(&bytes).unwrap();
    assert!(resp.metadata.truncation);
    assert!(resp.edns.is_some(), "the OPT record survives truncation");

    // A client advertising less than 512 still gets 512 (RFC 6891 §6.2.5).
    let small = query_edns("wide.default.svc.cluster.local.", RecordType::A, 100);
    let snap20 = wide(20); // ~370 bytes
    let resp = reply(&snap20, &small.to_vec().unwrap(), Transport::Udp);
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 20);
}

#[test]
fn additional_records_are_dropped_before_the_answer_is_truncated() {
    // 16 SRV records (~1 070 bytes) fit in 1232 bytes; with their 16 A records they do not.
    let addrs: Vec<String> = (1..=16).map(|i| format!("198.51.100.{i}")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let eps: Vec<Ep<'_>> = refs.chunks(1).map(ep).collect();
    let snap = build(
        &[mk_headless("default", "wide", &[("p", 1, "TCP")], false)],
        &[mk_slice(
            "default",
            "wide",
            "IPv4",
            &eps,
            &[("p", 1, "TCP")],
        )],
        &[],
    );
    let q = query_edns(
        "_p._tcp.wide.default.svc.cluster.local.",
        RecordType::SRV,
        1232,
    );
    let resp = reply(&snap, &q.to_vec().unwrap(), Transport::Udp);
    let tcp = reply(&snap, &q.to_vec().unwrap(), Transport::Tcp);
    assert_eq!(tcp.additionals.len(), 16, "TCP carries the glue");
    assert!(
        tcp.to_vec().unwrap().len() > 1232,
        "the full answer does not fit in UDP"
    );
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), 16);
    assert!(resp.additionals.is_empty());
}

#[test]
fn a_query_with_many_long_questions_gets_a_formerr_that_fits() {
    // Found by the fuzzer: echoing 21 questions made a FORMERR larger than the UDP limit.
    let snap = wide(1);
    let mut q = query("wide.default.svc.cluster.local.", RecordType::A);
    for i in 0..20 {
        // Distinct first labels, so name compression cannot shrink them.
        let long = format!("{i:02}{}.example.", "a".repeat(61));
        q.add_query(knet_dns::hickory_proto::op::Query::query(
            name(&long),
            RecordType::A,
        ));
    }
    let packet = q.to_vec().unwrap();
    assert!(packet.len() > 1232);
    let bytes = match process_packet(&snap, 1232, &packet, Transport::Udp) {
        Processed::Reply(b) => b,
        other => panic!("{other:?}"),
    };
    assert!(bytes.len() <= 512);
    let resp = Message::from_vec(&bytes).unwrap();
    assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(resp.metadata.id, q.metadata.id);
    knet_dns::fuzz_query_path(&snap, &packet);
}
