//! A bounded cache of upstream answers, keyed by question, honouring TTLs (RFC 1035 §7.4) and
//! caching negative answers for the SOA-derived time of RFC 2308 §5, capped short.
//! Pure: the caller passes the clock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::snapshot::{MAX_KEY, write_key};

/// The records of one upstream answer.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamAnswer {
    /// The upstream's RCODE.
    pub rcode: ResponseCode,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authorities: Vec<Record>,
    /// Additional section (no OPT).
    pub additionals: Vec<Record>,
}

impl UpstreamAnswer {
    fn records_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.answers
            .iter_mut()
            .chain(self.authorities.iter_mut())
            .chain(self.additionals.iter_mut())
    }
}

/// Cache key: the question, case-folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    name: Box<[u8]>,
    qtype: u16,
    qclass: u16,
}

impl CacheKey {
    pub(crate) fn new(name: &Name, qtype: RecordType, qclass: DNSClass) -> Option<CacheKey> {
        let mut buf = [0u8; MAX_KEY];
        let key = write_key(name, &mut buf)?;
        Some(CacheKey {
            name: Box::from(key),
            qtype: qtype.into(),
            qclass: qclass.into(),
        })
    }
}

#[derive(Debug)]
struct Entry {
    answer: UpstreamAnswer,
    stored: Instant,
    expires: Instant,
    seq: u64,
}

/// How long each kind of answer may stay.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachePolicy {
    pub(crate) capacity: usize,
    pub(crate) max_ttl: u32,
    pub(crate) negative_ttl: u32,
}

/// The cache. Eviction is first-in first-out once full (after dropping expired entries).
#[derive(Debug)]
pub(crate) struct Cache {
    policy: CachePolicy,
    map: HashMap<CacheKey, Entry>,
    order: VecDeque<(CacheKey, u64)>,
    seq: u64,
}

/// How long `answer` may be cached, or `None` when it must not be.
pub(crate) fn cache_ttl(answer: &UpstreamAnswer, policy: &CachePolicy) -> Option<u32> {
    let negative = |answer: &UpstreamAnswer| {
        // RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM); without an SOA the
        // answer is not cached.
        answer.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(r.ttl.min(soa.minimum).min(policy.negative_ttl)),
            _ => None,
        })
    };
    let ttl = match answer.rcode {
        ResponseCode::NXDomain => negative(answer)?,
        ResponseCode::NoError if answer.answers.is_empty() => negative(answer)?,
        ResponseCode::NoError => answer
            .answers
            .iter()
            .map(|r| r.ttl)
            .min()?
            .min(policy.max_ttl),
        // SERVFAIL, REFUSED, ...: not cached, the next query tries again.
        _ => return None,
    };
    (ttl > 0).then_some(ttl)
}

impl Cache {
    pub(crate) fn new(policy: CachePolicy) -> Cache {
        Cache {
            policy,
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
        }
    }

    /// The cached answer with TTLs lowered by the time spent in the cache.
    pub(crate) fn get(&self, key: &CacheKey, now: Instant) -> Option<UpstreamAnswer> {
        let entry = self.map.get(key)?;
        if now >= entry.expires {
            return None;
        }
        let elapsed = u32::try_from(now.duration_since(entry.stored).as_secs()).unwrap_or(u32::MAX);
        let mut answer = entry.answer.clone();
        for r in answer.records_mut() {
            r.ttl = r.ttl.saturating_sub(elapsed);
        }
        Some(answer)
    }

    /// Stores `answer` if its kind and TTL allow; returns whether it was stored.
    pub(crate) fn insert(&mut self, key: CacheKey, answer: UpstreamAnswer, now: Instant) -> bool {
        if self.policy.capacity == 0 {
            return false;
        }
        let Some(ttl) = cache_ttl(&answer, &self.policy) else {
            return false;
        };
        if !self.map.contains_key(&key) && self.map.len() >= self.policy.capacity {
            self.map.retain(|_, e| e.expires > now);
            while self.map.len() >= self.policy.capacity {
                let Some((old, seq)) = self.order.pop_front() else {
                    break;
                };
                if self.map.get(&old).is_some_and(|e| e.seq == seq) {
                    self.map.remove(&old);
                }
            }
        }
        self.seq += 1;
        let seq = self.seq;
        self.order.push_back((key.clone(), seq));
        self.map.insert(
            key,
            Entry {
                answer,
                stored: now,
                expires: now + Duration::from_secs(u64::from(ttl)),
                seq,
            },
        );
        // Keep the order queue from growing without bound under refreshes of the same keys.
        if self.order.len() > self.policy.capacity.saturating_mul(2).max(16) {
            let map = &self.map;
            self.order
                .retain(|(k, s)| map.get(k).is_some_and(|e| e.seq == *s));
        }
        true
    }

    /// Number of stored answers (expired ones included until evicted).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, SOA};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn policy(capacity: usize) -> CachePolicy {
        CachePolicy {
            capacity,
            max_ttl: 300,
            negative_ttl: 5,
        }
    }

    fn positive(ttl: u32) -> UpstreamAnswer {
        UpstreamAnswer {
            rcode: ResponseCode::NoError,
            answers: vec![Record::from_rdata(
                name("www.example.com."),
                ttl,
                RData::A(A::new(192, 0, 2, 1)),
            )],
            authorities: vec![],
            additionals: vec![],
        }
    }

    fn nxdomain(soa_ttl: u32, minimum: u32) -> UpstreamAnswer {
        let soa = SOA::new(name("ns.example."), name("h.example."), 1, 1, 1, 1, minimum);
        UpstreamAnswer {
            rcode: ResponseCode::NXDomain,
            answers: vec![],
            authorities: vec![Record::from_rdata(
                name("example."),
                soa_ttl,
                RData::SOA(soa),
            )],
            additionals: vec![],
        }
    }

    fn key(s: &str) -> CacheKey {
        CacheKey::new(&name(s), RecordType::A, DNSClass::IN).unwrap()
    }

    #[test]
    fn ttls_count_down_while_cached_and_entries_expire() {
        let mut cache = Cache::new(policy(10));
        let t0 = Instant::now();
        assert!(cache.insert(key("www.example.com."), positive(60), t0));
        let later = cache
            .get(&key("WWW.Example.com."), t0 + Duration::from_secs(20))
            .unwrap();
        assert_eq!(later.answers[0].ttl, 40);
        assert!(
            cache
                .get(&key("www.example.com."), t0 + Duration::from_secs(60))
                .is_none()
        );
    }

    #[test]
    fn positive_ttls_are_capped_and_zero_ttls_are_not_cached() {
        let p = policy(10);
        assert_eq!(cache_ttl(&positive(86_400), &p), Some(300));
        assert_eq!(cache_ttl(&positive(0), &p), None);
    }

    #[test]
    fn negative_answers_are_cached_briefly_per_rfc2308() {
        let p = policy(10);
        assert_eq!(cache_ttl(&nxdomain(3600, 900), &p), Some(5));
        assert_eq!(cache_ttl(&nxdomain(3600, 2), &p), Some(2));
        let mut no_soa = nxdomain(1, 1);
        no_soa.authorities.clear();
        assert_eq!(cache_ttl(&no_soa, &p), None);
        let mut servfail = positive(60);
        servfail.rcode = ResponseCode::ServFail;
        assert_eq!(cache_ttl(&servfail, &p), None);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let mut cache = Cache::new(policy(3));
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(cache.insert(key(&format!("n{i}.example.")), positive(60), t0));
            assert!(cache.len() <= 3);
        }
        // First in, first out: the newest three remain.
        assert!(cache.get(&key("n9.example."), t0).is_some());
        assert!(cache.get(&key("n7.example."), t0).is_some());
        assert!(cache.get(&key("n6.example."), t0).is_none());
    }
}
