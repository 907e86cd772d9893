//! The fuzz target on stable: random and mutated valid packets (fixed seed) through the query
//! path and a long-lived hot-path cache; nothing panics, every invariant of `fuzz_query_path`
//! holds, the cache answers as the slow path, and the answers to a fixed set of valid queries
//! are the same before and after.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use knet_dns::hickory_proto::op::Message;
use knet_dns::hickory_proto::rr::RecordType;
use knet_dns::{
    AnswerCache, DnsState, Processed, Snapshot, Transport, answer, fuzz_query_path, process_packet,
};

/// At most this many packets…
const ITERATIONS: usize = 200_000;
/// …or this long (debug builds are slow), but at least `MIN_ITERATIONS`.
const BUDGET: Duration = Duration::from_secs(4);
const MIN_ITERATIONS: usize = 20_000;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

fn fixed_queries() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let names = [
        ("kubernetes.default.svc.cluster.local.", RecordType::A),
        ("WEB.shop.svc.cluster.local.", RecordType::AAAA),
        ("db.shop.svc.cluster.local.", RecordType::A),
        ("_pg._tcp.db.shop.svc.cluster.local.", RecordType::SRV),
        ("_http._tcp.web.shop.svc.cluster.local.", RecordType::SRV),
        ("1.2.0.192.in-addr.arpa.", RecordType::PTR),
        ("search.shop.svc.cluster.local.", RecordType::CNAME),
        ("198-51-100-9.shop.pod.cluster.local.", RecordType::A),
        ("dns-version.cluster.local.", RecordType::TXT),
        ("nosuch.shop.svc.cluster.local.", RecordType::A),
        ("shop.svc.cluster.local.", RecordType::A),
        ("cluster.local.", RecordType::SOA),
        ("loop.shop.svc.cluster.local.", RecordType::A),
        ("www.example.com.", RecordType::A),
        ("99.2.0.192.in-addr.arpa.", RecordType::PTR),
    ];
    for (i, (n, t)) in names.iter().enumerate() {
        let mut q = query(n, *t);
        q.metadata.id = i as u16;
        out.push(q.to_vec().unwrap());
        let mut e = query_edns(n, *t, 1232);
        e.metadata.id = 1000 + i as u16;
        out.push(e.to_vec().unwrap());
    }
    out
}

fn outcomes(snapshot: &Snapshot, packets: &[Vec<u8>]) -> Vec<Processed> {
    packets
        .iter()
        .flat_map(|p| {
            [Transport::Udp, Transport::Tcp].map(|t| process_packet(snapshot, 1232, p, t))
        })
        .collect()
}

/// Seeds: the fixed queries, plus encoded answers (records in every section) with QR cleared.
fn corpus(snapshot: &Snapshot, fixed: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut seeds = fixed.to_vec();
    for p in fixed {
        let q = Message::from_vec(p).unwrap();
        if let knet_dns::Answer::Local(resp) = answer(snapshot, &q) {
            let mut bytes = resp.to_vec().unwrap();
            bytes[2] &= 0x7f;
            seeds.push(bytes);
        }
    }
    seeds
}

fn mutate(rng: &mut Rng, mut p: Vec<u8>) -> Vec<u8> {
    const INTERESTING: [u8; 8] = [0x00, 0xff, 0xc0, 0x3f, 0x40, 0x80, 0x01, 0x29];
    for _ in 0..1 + rng.below(4) {
        let len = p.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                p[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                p[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => p.truncate(rng.below(len + 1)),
            3 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                p.splice(at..at, bytes);
            }
            4 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                p.drain(a..b);
            }
            5 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(32)).min(len);
                let chunk = p[a..b].to_vec();
                let at = rng.below(len + 1);
                p.splice(at..at, chunk);
            }
            6 if len >= 12 => {
                // A header count (QD/AN/NS/AR) set to something odd.
                let field = 4 + 2 * rng.below(4);
                let v = [0u16, 1, 2, 0xffff, rng.next() as u16][rng.below(5)];
                p[field..field + 2].copy_from_slice(&v.to_be_bytes());
            }
            7 if len > 0 => {
                // A compression pointer somewhere, possibly forward or into itself.
                let at = rng.below(len);
                p.splice(at..at, [0xc0 | (rng.byte() & 0x3f), rng.byte()]);
            }
            8 => {
                let n = rng.below(600);
                p = (0..n).map(|_| rng.byte()).collect();
            }
            _ => {}
        }
    }
    if p.len() > 2 && rng.below(10) != 0 {
        p[2] &= 0x7f; // mostly keep it a query, so it gets past the QR check
    }
    p
}

#[test]
fn random_and_mutated_packets_never_break_the_query_path() {
    let snapshot = fuzz_zone();
    let fixed = fixed_queries();
    let before = outcomes(&snapshot, &fixed);
    let seeds = corpus(&snapshot, &fixed);

    let state = DnsState::new(cfg()).unwrap();
    state.replace(fuzz_zone());
    let state_before = outcomes(&state.snapshot(), &fixed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // One long-lived hot-path cache, small enough to be emptied again and again.
    let mut hot = AnswerCache::new(256);

    let mut rng = Rng(0x5eed_d15c_0ffe_e000);
    let start = Instant::now();
    let mut done = 0;
    while done < ITERATIONS && (done < MIN_ITERATIONS || start.elapsed() < BUDGET) {
        let seed = seeds[rng.below(seeds.len())].clone();
        let packet = mutate(&mut rng, seed);
        fuzz_query_path(&snapshot, &packet);
        assert_eq!(
            hot.process(&snapshot, 1232, &packet),
            process_packet(&snapshot, 1232, &packet, Transport::Udp),
            "the hot path answers as the slow path: {packet:02x?}"
        );
        if done % 16 == 0 {
            // Through the server's own entry point too (no upstreams: nothing leaves the host).
            let _ = runtime.block_on(state.handle(&packet, Transport::Udp));
        }
        done += 1;
    }
    eprintln!(
        "{done} packets in {:?}, {} hot-path hits",
        start.elapsed(),
        hot.hits()
    );
    assert!(done >= MIN_ITERATIONS);
    assert!(
        hot.hits() > 0,
        "repeated queries were answered from the cache"
    );
    assert!(hot.len() <= hot.capacity());

    assert_eq!(outcomes(&snapshot, &fixed), before, "answers are unchanged");
    let via_state: Vec<Processed> = outcomes(&state.snapshot(), &fixed);
    assert_eq!(via_state, state_before, "the state's zone answers the same");
    assert_eq!(
        state.cached_answers(),
        0,
        "nothing was cached without upstreams"
    );
}

#[test]
fn every_fixed_query_passes_the_target_checks() {
    let snapshot = fuzz_zone();
    for p in fixed_queries() {
        fuzz_query_path(&snapshot, &p);
        assert!(matches!(
            process_packet(&snapshot, 1232, &p, Transport::Udp),
            Processed::Reply(_) | Processed::Upstream(_)
        ));
    }
}
