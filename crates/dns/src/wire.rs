//! Bytes in, bytes out: decoding, EDNS(0), truncation and error answers around
//! [`crate::answer`]. Pure; the fuzz target drives [`process_packet`].

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::Name;

use crate::answer::{Answer, answer, response_to};
use crate::snapshot::Snapshot;

/// Size of the DNS header.
const HEADER_LEN: usize = 12;
/// Every DNS client accepts 512-byte UDP answers (RFC 1035 §4.2.1).
const CLASSIC_UDP: usize = 512;

/// The transport a query came over; it decides how large an answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: answers beyond the client's buffer are truncated (TC set).
    Udp,
    /// TCP: whole answers, up to 65 535 bytes.
    Tcp,
}

/// A query that needs an upstream resolver.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The decoded query.
    pub request: Message,
    /// The in-zone part of the answer (an ExternalName CNAME chain), if any.
    pub partial: Option<Message>,
    /// The name to ask upstream (the question, or the end of the CNAME chain).
    pub target: Name,
}

/// What to do with one received packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Send nothing (not a DNS query, or a response: answering those invites loops).
    Drop,
    /// Ask upstream, then answer with [`encode_response`].
    Upstream(Box<Pending>),
}

/// Turns one received packet into a reply, or says it needs an upstream.
///
/// Never panics, whatever the input. Malformed queries get FORMERR when their header can be
/// read (RFC 1035 §4.1.1), and are dropped otherwise.
pub fn process_packet(
    snapshot: &Snapshot,
    max_udp_payload: u16,
    packet: &[u8],
    transport: Transport,
) -> Processed {
    let Some(header) = packet.get(..HEADER_LEN) else {
        return Processed::Drop;
    };
    if header[2] & 0x80 != 0 {
        return Processed::Drop; // QR set: a response.
    }
    let request = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => return Processed::Reply(formerr(header)),
    };
    if request.metadata.message_type != MessageType::Query {
        return Processed::Drop;
    }
    if let Some(edns) = &request.edns
        && edns.version() > 0
    {
        // RFC 6891 §6.1.3: unknown EDNS version → BADVERS, with an OPT of version 0.
        let resp = response_to(&request, ResponseCode::BADVERS);
        return Processed::Reply(encode_response(resp, &request, max_udp_payload, transport));
    }
    match answer(snapshot, &request) {
        Answer::Local(resp) => {
            Processed::Reply(encode_response(resp, &request, max_udp_payload, transport))
        }
        Answer::Forward => {
            let target = request
                .queries
                .first()
                .map(|q| q.name.clone())
                .unwrap_or_default();
            Processed::Upstream(Box::new(Pending {
                request,
                partial: None,
                target,
            }))
        }
        Answer::Chase { response, target } => Processed::Upstream(Box::new(Pending {
            request,
            partial: Some(response),
            target,
        })),
    }
}

/// A FORMERR answer built from the raw header of an undecodable query: same ID and opcode,
/// RD copied, no sections.
fn formerr(header: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    out[0] = header[0];
    out[1] = header[1];
    // QR=1, opcode as received, RD as received.
    out[2] = 0x80 | (header[2] & 0x78) | (header[2] & 0x01);
    // RA=1, RCODE=FORMERR.
    out[3] = 0x80 | ResponseCode::FormErr.low();
    out
}

/// The largest answer `request` may receive over `transport`.
pub(crate) fn size_limit(request: &Message, max_udp_payload: u16, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => match &request.edns {
            // RFC 6891 §6.2.5: values below 512 are treated as 512.
            Some(edns) => usize::from(edns.max_payload().min(max_udp_payload)).max(CLASSIC_UDP),
            None => CLASSIC_UDP,
        },
    }
}

/// Encodes `resp` for `request`: an OPT record when the query had one (RFC 6891 §6.1.1), and,
/// over UDP, truncation to the client's size. Additional records are dropped first (they are
/// optional, RFC 2181 §9); if the answer still does not fit, TC is set and the sections are
/// emptied so the client retries over TCP.
pub fn encode_response(
    mut resp: Message,
    request: &Message,
    max_udp_payload: u16,
    transport: Transport,
) -> Vec<u8> {
    resp.edns = request.edns.as_ref().map(|_| {
        let mut edns = Edns::new();
        edns.set_max_payload(max_udp_payload.max(CLASSIC_UDP as u16));
        edns.set_version(0);
        edns
    });
    let limit = size_limit(request, max_udp_payload, transport);
    let bytes = match resp.to_vec() {
        Ok(b) if b.len() <= limit => return b,
        Ok(b) => b,
        Err(_) => return servfail(&resp),
    };
    if transport == Transport::Tcp {
        // Over the TCP limit: nothing smaller is correct.
        drop(bytes);
        return servfail(&resp);
    }
    if !resp.additionals.is_empty() {
        resp.additionals.clear();
        if let Ok(b) = resp.to_vec()
            && b.len() <= limit
        {
            return b;
        }
    }
    resp.answers.clear();
    resp.authorities.clear();
    resp.additionals.clear();
    resp.metadata.truncation = true;
    match resp.to_vec() {
        Ok(b) if b.len() <= limit => b,
        // Only the question section can still be too large (a 255-byte name and an OPT fit
        // in 512 bytes, so this is a query with many questions): answer with the header.
        _ => servfail(&resp),
    }
}

/// A header-only SERVFAIL for `resp` (used when encoding fails).
fn servfail(resp: &Message) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    out[..2].copy_from_slice(&resp.metadata.id.to_be_bytes());
    let opcode: u8 = resp.metadata.op_code.into();
    out[2] = 0x80 | ((opcode & 0x0f) << 3) | u8::from(resp.metadata.recursion_desired);
    out[3] = 0x80 | ResponseCode::ServFail.low();
    out
}

/// The fuzz target (`fuzz/fuzz_targets/query.rs`, and the stable `tests/fuzz.rs`): runs one
/// packet through the whole synchronous query path over UDP and TCP, through the encoding of a
/// forwarding failure, and through the UDP hot path ([`crate::AnswerCache`], which must answer
/// exactly as [`process_packet`]), checking what every reply must keep. Panics when one is
/// broken.
pub fn fuzz_query_path(snapshot: &Snapshot, data: &[u8]) {
    const CAP: u16 = 1232;
    for transport in [Transport::Udp, Transport::Tcp] {
        match process_packet(snapshot, CAP, data, transport) {
            Processed::Reply(bytes) => {
                assert!(bytes.len() >= HEADER_LEN, "a reply has a header");
                assert_eq!(bytes[..2], data[..2], "a reply carries the query's ID");
                assert_ne!(bytes[2] & 0x80, 0, "a reply has QR set");
                if transport == Transport::Udp {
                    assert!(bytes.len() <= usize::from(CAP), "UDP replies fit the cap");
                }
                let reply = Message::from_vec(&bytes);
                assert!(reply.is_ok(), "a reply decodes: {reply:?}");
            }
            Processed::Drop => {
                assert!(
                    data.len() < HEADER_LEN || data[2] & 0x80 != 0,
                    "only non-queries are dropped"
                );
            }
            Processed::Upstream(pending) => {
                assert_eq!(
                    pending.request.queries.len(),
                    1,
                    "one question is forwarded"
                );
                let failed =
                    crate::forward::failure(&pending, &crate::ForwardError::Failed("fuzz".into()));
                let bytes = encode_response(failed, &pending.request, CAP, transport);
                let reply = Message::from_vec(&bytes);
                assert!(reply.is_ok(), "a forwarding failure decodes: {reply:?}");
            }
        }
    }
    // The UDP hot path answers exactly as the slow path: on a miss (which may fill the cache),
    // on a hit, and on a hit for the same query with another ID.
    let slow = process_packet(snapshot, CAP, data, Transport::Udp);
    let mut cache = crate::AnswerCache::new(4);
    assert_eq!(
        cache.process(snapshot, CAP, data),
        slow,
        "a miss is the slow path"
    );
    assert_eq!(
        cache.process(snapshot, CAP, data),
        slow,
        "a hit is the slow path"
    );
    if let [a, b, rest @ ..] = data {
        let mut other = vec![a ^ 0x5a, b ^ 0xa5];
        other.extend_from_slice(rest);
        assert_eq!(
            cache.process(snapshot, CAP, &other),
            process_packet(snapshot, CAP, &other, Transport::Udp),
            "a hit carries the query's own ID"
        );
    }
}
