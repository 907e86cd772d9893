//! The query path's pure core: a question and a [`Snapshot`] in, a response (or "ask upstream")
//! out. No I/O, no clock, no allocation beyond the response itself.

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::config::PodRecords;
use crate::snapshot::{Snapshot, reverse_soa, undash};

/// Longest CNAME chain followed inside the zone (ExternalName Services pointing at each other).
const MAX_CHAIN: usize = 8;

/// What the server does with a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The complete response.
    Local(Message),
    /// The name is outside the cluster zone and the authoritative reverse ranges: forward the
    /// question to an upstream resolver.
    Forward,
    /// An ExternalName alias (§2.5): `response` holds the CNAME chain so far; the server resolves
    /// `target` upstream and appends its records, as the specification's example shows
    /// (glibc and musl stub resolvers do not follow a bare CNAME themselves).
    Chase {
        /// The response so far (CNAME records in the answer section).
        response: Message,
        /// The out-of-zone name the last CNAME points to.
        target: Name,
    },
}

/// A response to `request` with its header, question and flags set, and no records.
pub fn response_to(request: &Message, rcode: ResponseCode) -> Message {
    let mut resp = Message::response(request.metadata.id, request.metadata.op_code);
    resp.metadata.recursion_desired = request.metadata.recursion_desired;
    resp.metadata.checking_disabled = request.metadata.checking_disabled;
    // The cluster DNS is the pods' recursive resolver (resolv.conf points at it).
    resp.metadata.recursion_available = true;
    resp.metadata.response_code = rcode;
    resp.queries = request.queries.clone();
    resp
}

/// Answers `request` from `snapshot`.
///
/// Rules (RFC 1034 §4.3.2, RFC 2308, RFC 8020): a name with records of the asked type answers
/// them; a name that exists without them is NOERROR with the zone's SOA in the authority
/// section (NODATA); a name that does not exist is NXDOMAIN with the SOA. Names compare
/// case-insensitively; answers carry the question's spelling.
pub fn answer(snapshot: &Snapshot, request: &Message) -> Answer {
    if request.metadata.message_type != MessageType::Query {
        return Answer::Local(response_to(request, ResponseCode::FormErr));
    }
    if request.metadata.op_code != OpCode::Query {
        return Answer::Local(response_to(request, ResponseCode::NotImp));
    }
    let [query] = request.queries.as_slice() else {
        // RFC 9619: a query has exactly one question. The questions are not echoed (they
        // could make the error larger than any buffer).
        let mut resp = response_to(request, ResponseCode::FormErr);
        resp.queries.clear();
        return Answer::Local(resp);
    };
    let qtype = query.query_type;
    if matches!(
        qtype,
        RecordType::AXFR | RecordType::IXFR | RecordType::OPT | RecordType::TSIG
    ) {
        return Answer::Local(response_to(request, ResponseCode::Refused));
    }
    if query.query_class != DNSClass::IN {
        return Answer::Local(response_to(request, ResponseCode::Refused));
    }
    let name = &query.name;
    if snapshot.in_zone(name) {
        if !snapshot.synced {
            return Answer::Local(response_to(request, ResponseCode::ServFail));
        }
        return zone_answer(snapshot, request, query);
    }
    if is_reverse(name) {
        return reverse_answer(snapshot, request, query);
    }
    Answer::Forward
}

fn is_reverse(name: &Name) -> bool {
    let mut labels = name.iter().rev();
    let (Some(last), Some(second)) = (labels.next(), labels.next()) else {
        return false;
    };
    last.eq_ignore_ascii_case(b"arpa")
        && (second.eq_ignore_ascii_case(b"in-addr") || second.eq_ignore_ascii_case(b"ip6"))
}

fn with_owner(record: &Record, owner: &Name) -> Record {
    let mut r = record.clone();
    r.name = owner.clone();
    r
}

fn type_matches(record: &Record, qtype: RecordType) -> bool {
    qtype == RecordType::ANY || record.record_type() == qtype
}

fn zone_answer(snapshot: &Snapshot, request: &Message, query: &Query) -> Answer {
    let qtype = query.query_type;
    let mut resp = response_to(request, ResponseCode::NoError);
    resp.metadata.authoritative = true;
    let mut owner = query.name.clone();
    for _ in 0..MAX_CHAIN {
        let Some(entry) = snapshot.get(&owner) else {
            if let Some(ip) = pod_address(snapshot, &owner) {
                let data = match ip {
                    IpAddr::V4(v4) => RData::A(hickory_proto::rr::rdata::A(v4)),
                    IpAddr::V6(v6) => RData::AAAA(hickory_proto::rr::rdata::AAAA(v6)),
                };
                let rec = Record::from_rdata(owner, snapshot.ttl, data);
                if type_matches(&rec, qtype) {
                    resp.answers.push(rec);
                } else {
                    resp.authorities.push(snapshot.soa.clone());
                }
                return Answer::Local(resp);
            }
            // RFC 6604 §2.1: after a CNAME the RCODE describes the last name of the chain.
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.authorities.push(snapshot.soa.clone());
            return Answer::Local(resp);
        };
        if let Some(target) = entry.cname()
            && qtype != RecordType::CNAME
        {
            let cname = entry
                .records
                .iter()
                .find(|r| r.record_type() == RecordType::CNAME);
            if let Some(rec) = cname {
                resp.answers.push(with_owner(rec, &owner));
            }
            if qtype == RecordType::ANY {
                return Answer::Local(resp);
            }
            if snapshot.in_zone(target) {
                owner = target.clone();
                continue;
            }
            return Answer::Chase {
                response: resp,
                target: target.clone(),
            };
        }
        let before = resp.answers.len();
        resp.answers.extend(
            entry
                .records
                .iter()
                .filter(|r| type_matches(r, qtype))
                .map(|r| with_owner(r, &owner)),
        );
        if resp.answers.len() == before {
            resp.authorities.push(snapshot.soa.clone());
        } else {
            add_srv_glue(snapshot, &mut resp);
        }
        return Answer::Local(resp);
    }
    // A chain longer than MAX_CHAIN (a loop of ExternalName Services).
    Answer::Local(response_to(request, ResponseCode::ServFail))
}

/// §2.3.2/§2.4.2: "The Additional section of the response may include the A records referred
/// to in the SRV records."
fn add_srv_glue(snapshot: &Snapshot, resp: &mut Message) {
    for i in 0..resp.answers.len() {
        let RData::SRV(srv) = &resp.answers[i].data else {
            continue;
        };
        let Some(entry) = snapshot.get(&srv.target) else {
            continue;
        };
        for rec in &entry.records {
            if matches!(rec.record_type(), RecordType::A | RecordType::AAAA)
                && !resp.additionals.contains(rec)
            {
                resp.additionals.push(rec.clone());
            }
        }
    }
}

/// `<a-b-c-d>.<ns>.pod.<zone>` (§2.6), per the configured [`PodRecords`] mode.
fn pod_address(snapshot: &Snapshot, name: &Name) -> Option<IpAddr> {
    if snapshot.pod_records == PodRecords::Disabled
        || name.num_labels() != snapshot.zone_labels.checked_add(3)?
    {
        return None;
    }
    let mut labels = name.iter();
    let host = labels.next()?;
    let ns = labels.next()?;
    let pod = labels.next()?;
    if !pod.eq_ignore_ascii_case(b"pod") {
        return None;
    }
    let ip = undash(host)?;
    if snapshot.pod_records == PodRecords::Verified {
        let ns = std::str::from_utf8(ns).ok()?.to_ascii_lowercase();
        if !snapshot.pod_ips.get(&ns)?.contains(&ip) {
            return None;
        }
    }
    Some(ip)
}

fn reverse_answer(snapshot: &Snapshot, request: &Message, query: &Query) -> Answer {
    let net = query.name.parse_arpa_name().ok();
    // The configured range holding the name, if any.
    let ours = net.and_then(|net| {
        snapshot
            .reverse_cidrs
            .iter()
            .find(|cidr| cidr.contains(&net))
            .copied()
    });
    let entry = snapshot.get(&query.name);
    let has_records = entry.is_some_and(|e| !e.records.is_empty());
    if !has_records && ours.is_none() {
        return Answer::Forward;
    }
    if !snapshot.synced {
        return Answer::Local(response_to(request, ResponseCode::ServFail));
    }
    let mut resp = response_to(request, ResponseCode::NoError);
    resp.metadata.authoritative = true;
    let soa_net = ours.or(net);
    let soa = || match soa_net {
        Some(net) => reverse_soa(snapshot, net),
        None => snapshot.soa.clone(),
    };
    match entry {
        Some(entry) => {
            resp.answers.extend(
                entry
                    .records
                    .iter()
                    .filter(|r| type_matches(r, query.query_type))
                    .map(|r| with_owner(r, &query.name)),
            );
            if resp.answers.is_empty() {
                resp.authorities.push(soa());
            }
        }
        None => {
            resp.metadata.response_code = ResponseCode::NXDomain;
            resp.authorities.push(soa());
        }
    }
    Answer::Local(resp)
}
