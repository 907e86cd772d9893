//! The UDP hot path: replies already computed from the current zone snapshot, replayed byte for
//! byte. Pure (no I/O, no clock); each UDP worker owns one [`AnswerCache`].
//!
//! A local reply of [`process_packet`] is a function of the snapshot and of the query's bytes
//! after its ID: the ID is copied into the reply and nothing else depends on it. So the cache
//! maps a query's bytes from offset 2 to its reply's bytes from offset 2, for one snapshot. A
//! hit is therefore the slow path's reply exactly, with the client's ID and the question's
//! spelling (a client randomising case, draft-vixie-dnsext-dns0x20, simply misses); EDNS and
//! non-EDNS queries, RD, CD and the advertised buffer size are part of the key; a new snapshot
//! empties the cache. Queries answered upstream are never kept here (the forwarder caches
//! those, with their TTLs).

use std::collections::HashMap;

use crate::snapshot::Snapshot;
use crate::wire::{Processed, Transport, process_packet};

/// Size of the DNS header.
const HEADER_LEN: usize = 12;
/// Shortest query with one question: the header, the root name, type and class.
const MIN_QUERY: usize = HEADER_LEN + 5;
/// Longest query worth keeping (a 255-byte name and an OPT record fit).
const MAX_KEPT_QUERY: usize = 512;

/// Replies computed from one [`Snapshot`] (and one UDP size cap), keyed by the query's bytes
/// after the ID.
///
/// Bounded: when [`AnswerCache::capacity`] replies are held, the next new one empties the
/// cache first (a flood of distinct names costs misses, never memory).
#[derive(Debug)]
pub struct AnswerCache {
    /// The snapshot the replies were computed from ([`Snapshot::id`]); 0 before the first.
    snapshot_id: u64,
    /// The server's UDP size cap they were computed with.
    max_udp_payload: u16,
    capacity: usize,
    replies: HashMap<Box<[u8]>, Box<[u8]>>,
    hits: u64,
}

impl AnswerCache {
    /// An empty cache holding at most `capacity` replies (0: nothing is cached).
    pub fn new(capacity: usize) -> AnswerCache {
        AnswerCache {
            snapshot_id: 0,
            max_udp_payload: 0,
            capacity,
            replies: HashMap::new(),
            hits: 0,
        }
    }

    /// The most replies held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of replies held.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// Number of replies served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Whether no reply is held.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// What [`process_packet`] returns for this UDP packet, from the cache when the same query
    /// (up to its ID) was answered locally from the same snapshot before.
    ///
    /// Never panics, whatever the input; always equal to `process_packet(snapshot,
    /// max_udp_payload, packet, Transport::Udp)`. Another snapshot or another
    /// `max_udp_payload` than the previous call's empties the cache first.
    pub fn process(
        &mut self,
        snapshot: &Snapshot,
        max_udp_payload: u16,
        packet: &[u8],
    ) -> Processed {
        if (self.snapshot_id, self.max_udp_payload) != (snapshot.id, max_udp_payload) {
            self.replies.clear();
            self.snapshot_id = snapshot.id;
            self.max_udp_payload = max_udp_payload;
        }
        let key = cache_key(packet);
        if let Some(key) = key
            && let Some(reply) = self.replies.get(key)
        {
            self.hits += 1;
            let mut bytes = Vec::with_capacity(2 + reply.len());
            bytes.extend_from_slice(&packet[..2]);
            bytes.extend_from_slice(reply);
            return Processed::Reply(bytes);
        }
        let processed = process_packet(snapshot, max_udp_payload, packet, Transport::Udp);
        if let (Some(key), Processed::Reply(bytes)) = (key, &processed)
            && self.capacity > 0
            // Always true (replies carry the query's ID); what replaying relies on.
            && bytes.get(..2) == packet.get(..2)
        {
            if self.replies.len() >= self.capacity {
                self.replies.clear();
            }
            self.replies.insert(Box::from(key), Box::from(&bytes[2..]));
        }
        processed
    }
}

/// The key of a query whose reply may be kept, read by hand (no decoding): ordinary queries
/// only, so that junk does not displace real answers, and only queries whose every byte after
/// the ID is plain data. A compression pointer may point into the ID (offsets 0 and 1), which
/// makes the decoded name, and so the reply, depend on the ID: such queries are never kept.
///
/// Kept: QR, opcode and TC clear; one question whose name is uncompressed labels; no answer
/// or authority records; at most one additional record, an OPT owned by the root
/// (RFC 6891 §6.1.2); nothing after it; at most [`MAX_KEPT_QUERY`] bytes. Everything else
/// takes the slow path every time.
fn cache_key(packet: &[u8]) -> Option<&[u8]> {
    if !(MIN_QUERY..=MAX_KEPT_QUERY).contains(&packet.len()) {
        return None;
    }
    let flags = packet[2];
    // QR (0x80), opcode (0x78), TC (0x02).
    if flags & (0x80 | 0x78 | 0x02) != 0 {
        return None;
    }
    let count = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
    let additional = count(10);
    if count(4) != 1 || count(6) != 0 || count(8) != 0 || additional > 1 {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*packet.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // a compression pointer (0b11) or a reserved label type
        }
        at += len;
    }
    at += 4;
    if additional == 1 {
        // Root name, TYPE 41, then CLASS (2), TTL (4), RDLENGTH (2) and the options.
        if packet.get(at..at + 3)? != [0, 0, 41] {
            return None;
        }
        let rdlen = packet.get(at + 9..at + 11)?;
        at += 11 + usize::from(u16::from_be_bytes([rdlen[0], rdlen[1]]));
    }
    (at == packet.len()).then(|| &packet[2..])
}
