//! knet's cluster DNS: the records of Kubernetes DNS-based service discovery (schema 1.1.0)
//! served authoritatively for the cluster zone, everything else forwarded to upstream resolvers
//! through a cache. It is not a general authoritative server (no zone files, transfers, DNSSEC).
//!
//! ```text
//!  API ──watch Services, EndpointSlices, Pods──► run_watcher ──Snapshot::build (debounced)──┐
//!                                                                                         swap
//!  UDP/TCP ──► serve ──► wire::process_packet ──► answer(&Snapshot, &Message) ◄── DnsState ◄┘
//!                │             │ Forward / Chase (ExternalName)
//!                │             └──► Forwarder: cache ─miss─► upstream (UDP, TCP on TC)
//!                └ UDP worker threads first try their AnswerCache: replies already encoded
//!                  from the current snapshot, replayed with the query's ID
//! ```
//!
//! Request paths read immutable snapshots; the watcher rebuilds and swaps them.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::dbg_macro, clippy::print_stdout)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod answer;
mod cache;
mod config;
mod forward;
mod hot;
mod server;
mod snapshot;
mod udp;
mod watcher;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use arc_swap::ArcSwap;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

pub use answer::{Answer, answer, response_to};
pub use cache::UpstreamAnswer;
pub use config::{DnsConfig, PodRecords};
pub use forward::ForwardError;
pub use hickory_proto;
pub use hot::AnswerCache;
pub use server::serve;
pub use snapshot::{SCHEMA_VERSION, Snapshot};
pub use udp::reflect;
pub use watcher::{run_watcher, slim_pod};
pub use wire::{Pending, Processed, Transport, encode_response, fuzz_query_path, process_packet};

/// Errors of the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The configuration cannot work.
    #[error("invalid DNS configuration: {0}")]
    Config(String),
    /// A socket could not be set up.
    #[error("DNS socket: {0}")]
    Io(#[from] std::io::Error),
}

/// What the server shares between its listeners and the watcher: the settings, the current
/// zone snapshot (swapped atomically) and the forwarder with its cache.
#[derive(Debug)]
pub struct DnsState {
    config: DnsConfig,
    snapshot: ArcSwap<Snapshot>,
    forwarder: forward::Forwarder,
    serial_base: u32,
    generation: AtomicU32,
}

impl DnsState {
    /// A state serving an empty, not yet synced zone (in-zone queries get SERVFAIL until the
    /// first [`DnsState::replace`]).
    pub fn new(config: DnsConfig) -> Result<Arc<DnsState>, DnsError> {
        config.validate()?;
        let serial_base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(Arc::new(DnsState {
            snapshot: ArcSwap::from_pointee(Snapshot::empty(&config).with_serial(serial_base)),
            forwarder: forward::Forwarder::new(&config),
            config,
            serial_base,
            generation: AtomicU32::new(0),
        }))
    }

    /// The settings.
    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    /// The zone queries are answered from right now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Makes `snapshot` the zone, with a new SOA serial. Queries already running finish on
    /// the old one.
    pub fn replace(&self, snapshot: Snapshot) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let serial = self.serial_base.wrapping_add(generation);
        self.snapshot.store(Arc::new(snapshot.with_serial(serial)));
    }

    /// Builds a zone from these objects and makes it current.
    pub fn update(&self, services: &[Service], slices: &[EndpointSlice], pods: &[Pod]) {
        self.replace(Snapshot::build(services, slices, pods, &self.config));
    }

    /// Number of upstream answers in the cache.
    pub fn cached_answers(&self) -> usize {
        self.forwarder.cache_len()
    }

    /// Answers one packet, asking upstream when needed: what the listeners run per query.
    /// `None` means no reply is sent.
    pub async fn handle(&self, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let snapshot = self.snapshot.load();
        match process_packet(&snapshot, self.config.max_udp_payload, packet, transport) {
            Processed::Reply(bytes) => Some(bytes),
            Processed::Drop => None,
            Processed::Upstream(pending) => Some(self.forward(*pending, transport).await),
        }
    }

    /// The answer to `pending` from the cache, without I/O, if it is there.
    pub(crate) fn forward_cached(
        &self,
        pending: &Pending,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let query = pending.request.queries.first()?;
        let key = cache::CacheKey::new(&pending.target, query.query_type, query.query_class)?;
        let hit = self.forwarder.cached(&key)?;
        let resp = forward::merge(pending, hit);
        Some(self.encode(resp, &pending.request, transport))
    }

    /// Resolves `pending` upstream and encodes the client's answer.
    pub(crate) async fn forward(&self, pending: Pending, transport: Transport) -> Vec<u8> {
        let resp = match pending.request.queries.first() {
            Some(q) => match self
                .forwarder
                .resolve(&pending.target, q.query_type, q.query_class)
                .await
            {
                Ok(upstream) => forward::merge(&pending, upstream),
                Err(e) => {
                    tracing::debug!(target = %pending.target, error = %e, "forwarding failed");
                    forward::failure(&pending, &e)
                }
            },
            None => response_to(&pending.request, hickory_proto::op::ResponseCode::FormErr),
        };
        self.encode(resp, &pending.request, transport)
    }

    fn encode(
        &self,
        resp: hickory_proto::op::Message,
        request: &hickory_proto::op::Message,
        transport: Transport,
    ) -> Vec<u8> {
        encode_response(resp, request, self.config.max_udp_payload, transport)
    }
}
