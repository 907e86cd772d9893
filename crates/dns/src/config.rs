//! Settings of the DNS server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::{IpNet, Ipv4Net};

use crate::DnsError;

/// How `<a-b-c-d>.<ns>.pod.<zone>` names are answered (CoreDNS's `pods` option).
///
/// The schema keeps these records as deprecated but required (specification §2.6); kubeadm's
/// Corefile uses `pods insecure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodRecords {
    /// No pod records: such names are NXDOMAIN.
    Disabled,
    /// Any well-formed dashed address answers with that address, whether or not a pod has it.
    #[default]
    Insecure,
    /// Only addresses of pods that exist in the named namespace answer.
    Verified,
}

/// Settings of the cluster DNS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// The cluster domain (the zone served authoritatively). Default `cluster.local`.
    pub cluster_domain: String,
    /// TTL of every record of the cluster zone, and of its negative answers. Default 30 s
    /// (kubeadm's Corefile `ttl 30`).
    pub ttl: u32,
    /// Pod A/AAAA records. Default [`PodRecords::Insecure`].
    pub pod_records: PodRecords,
    /// Address ranges whose reverse (`in-addr.arpa`/`ip6.arpa`) names are answered here, with
    /// NXDOMAIN when no Service or endpoint has the address; other reverse names are forwarded.
    /// Default: the service range `10.96.0.0/12` and the pod range `10.244.0.0/16`.
    pub reverse_cidrs: Vec<IpNet>,
    /// Addresses of this server, published as the A/AAAA records of `ns.dns.<zone>` (the name
    /// the zone's SOA and NS records point to). Default none.
    pub nameserver_ips: Vec<IpAddr>,
    /// Upstream resolvers for names outside the cluster zone, tried in order. UDP, retried over
    /// TCP when the answer is truncated. Empty: such names are REFUSED. Default none.
    pub upstreams: Vec<SocketAddr>,
    /// How long to wait for one upstream before trying the next. Default 2 s.
    pub upstream_timeout: Duration,
    /// Maximum number of cached upstream answers. 0 disables the cache. Default 10 000.
    pub cache_size: usize,
    /// Upper bound on how long a positive upstream answer is cached (its TTLs still apply).
    /// Default 300 s.
    pub cache_max_ttl: u32,
    /// Upper bound on how long NXDOMAIN/NODATA upstream answers are cached (the SOA minimum of
    /// RFC 2308 still applies). Default 5 s.
    pub negative_cache_ttl: u32,
    /// Largest UDP answer ever sent, whatever the client's EDNS0 buffer size (RFC 9715 / DNS
    /// flag day 2020 recommend 1232). Clients without EDNS0 get 512 bytes. Default 1232.
    pub max_udp_payload: u16,
    /// Most local UDP replies each UDP worker thread keeps, encoded, for the current zone
    /// snapshot ([`crate::AnswerCache`]; about 200 bytes each). 0 disables it. Default 32 768.
    pub answer_cache_size: usize,
    /// Number of threads answering on the UDP socket (blocking, batched I/O; see
    /// [`crate::serve`]). Default: the available parallelism, between 2 and 4 (threads
    /// sharing one socket gain little beyond that, and each keeps its own answer cache).
    pub udp_workers: usize,
    /// Forwarded queries in flight at once; beyond it, queries get SERVFAIL. Default 1024.
    pub max_inflight_forwards: usize,
    /// Open TCP connections at once; beyond it, new ones are closed. Default 256.
    pub max_tcp_connections: usize,
    /// A TCP connection idle this long is closed (RFC 7766 §6.2.3). Default 10 s.
    pub tcp_idle_timeout: Duration,
    /// Quiet period after a watch event before the zone is rebuilt. Default 50 ms.
    pub rebuild_debounce: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            cluster_domain: "cluster.local".into(),
            ttl: 30,
            pod_records: PodRecords::Insecure,
            reverse_cidrs: vec![
                IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, 96, 0, 0), 12).unwrap_or_default()),
                IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, 244, 0, 0), 16).unwrap_or_default()),
            ],
            nameserver_ips: Vec::new(),
            upstreams: Vec::new(),
            upstream_timeout: Duration::from_secs(2),
            cache_size: 10_000,
            cache_max_ttl: 300,
            negative_cache_ttl: 5,
            max_udp_payload: 1232,
            answer_cache_size: 32_768,
            udp_workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, 4),
            max_inflight_forwards: 1024,
            max_tcp_connections: 256,
            tcp_idle_timeout: Duration::from_secs(10),
            rebuild_debounce: Duration::from_millis(50),
        }
    }
}

impl DnsConfig {
    /// The cluster zone as a lowercase, fully qualified name.
    pub fn zone(&self) -> Result<Name, DnsError> {
        let trimmed = self.cluster_domain.trim_end_matches('.');
        if trimmed.is_empty() {
            return Err(DnsError::Config("the cluster domain is empty".into()));
        }
        let mut name = Name::from_ascii(trimmed)
            .map_err(|e| DnsError::Config(format!("cluster domain {trimmed:?}: {e}")))?;
        name.set_fqdn(true);
        Ok(name.to_lowercase())
    }

    /// Checks that the settings can work.
    pub fn validate(&self) -> Result<(), DnsError> {
        self.zone()?;
        if self.max_udp_payload < 512 {
            return Err(DnsError::Config(format!(
                "max_udp_payload {} is below the 512 bytes every DNS client accepts",
                self.max_udp_payload
            )));
        }
        if self.udp_workers == 0 {
            return Err(DnsError::Config("udp_workers must be at least 1".into()));
        }
        Ok(())
    }
}
