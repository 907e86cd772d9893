//! The cluster zone as an immutable value, computed from Services, EndpointSlices and Pods.
//!
//! Built off the query path by [`Snapshot::build`]; queries only read it. Every name of the zone
//! that exists (including empty non-terminals such as `svc.<zone>` and `<ns>.svc.<zone>`) is a key
//! of one hash map, so "NXDOMAIN or NODATA" is one lookup.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::config::{DnsConfig, PodRecords};

/// The schema version served at `dns-version.<zone>` (specification §2.2).
pub const SCHEMA_VERSION: &str = "1.1.0";

/// Label of an EndpointSlice naming its Service (discovery.k8s.io/v1).
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Longest name in wire form (RFC 1035 §2.3.4), plus room to detect longer input.
pub(crate) const MAX_KEY: usize = 256;

/// Writes the lowercase wire form of `name` (length-prefixed labels, then 0) into `buf`: the
/// zone's map key. Case-insensitive and unambiguous (a label may itself hold a dot).
pub(crate) fn write_key<'b>(name: &Name, buf: &'b mut [u8; MAX_KEY]) -> Option<&'b [u8]> {
    let mut at = 0;
    for label in name.iter() {
        let end = at + 1 + label.len();
        if label.len() > 63 || end >= MAX_KEY {
            return None;
        }
        buf[at] = label.len() as u8;
        for (dst, src) in buf[at + 1..end].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        at = end;
    }
    buf[at] = 0;
    Some(&buf[..=at])
}

fn key_of(name: &Name) -> Option<Box<[u8]>> {
    let mut buf = [0u8; MAX_KEY];
    write_key(name, &mut buf).map(Box::from)
}

/// The key of the parent name (first label removed); `None` at the root.
fn parent_key(key: &[u8]) -> Option<&[u8]> {
    let len = *key.first()? as usize;
    if len == 0 {
        return None;
    }
    key.get(1 + len..)
}

/// Whether `s` can be one DNS label of a Kubernetes name (RFC 1123 characters; `_` for SRV).
fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `labels` + `zone`, lowercase; `None` when a label is not a valid one.
fn name_in(labels: &[&str], zone: &Name) -> Option<Name> {
    if !labels.iter().all(|l| label_ok(l)) {
        return None;
    }
    let lower: Vec<String> = labels.iter().map(|l| l.to_ascii_lowercase()).collect();
    Name::from_labels(lower.iter().map(|l| l.as_bytes()))
        .ok()?
        .append_domain(zone)
        .ok()
}

/// The "system-assigned identifier" CoreDNS gives an endpoint without a hostname: its address
/// with `.`/`:` replaced by `-` (coredns plugin/kubernetes `endpointHostname`).
pub(crate) fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

/// Parses a dashed address label (`10-244-1-5`, `2001-db8--1`).
pub(crate) fn undash(label: &[u8]) -> Option<IpAddr> {
    if label.is_empty() || label.len() > 45 {
        return None;
    }
    let text = std::str::from_utf8(label).ok()?;
    let dots = text.replace('-', ".");
    if let Ok(IpAddr::V4(v4)) = dots.parse::<IpAddr>() {
        return Some(IpAddr::V4(v4));
    }
    text.replace('-', ":")
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// The SOA's MNAME and the NS target: `ns.dns.<zone>` (what CoreDNS publishes).
fn ns_name(zone: &Name) -> Name {
    name_in(&["ns", "dns"], zone).unwrap_or_else(|| zone.clone())
}

/// The smallest reverse zone (octet or nibble aligned) containing `net`.
pub(crate) fn reverse_zone(net: IpNet) -> Name {
    let (root, labels): (&[&str], Vec<String>) = match net {
        IpNet::V4(n) => {
            let octets = n.network().octets();
            let keep = usize::from(n.prefix_len() / 8);
            (
                &["in-addr", "arpa"],
                octets[..keep].iter().rev().map(|o| o.to_string()).collect(),
            )
        }
        IpNet::V6(n) => {
            let bits = u128::from(n.network());
            let keep = usize::from(n.prefix_len() / 4);
            (
                &["ip6", "arpa"],
                (0..keep)
                    .rev()
                    .map(|i| format!("{:x}", (bits >> (124 - 4 * i)) & 0xf))
                    .collect(),
            )
        }
    };
    let all = labels
        .iter()
        .map(String::as_str)
        .chain(root.iter().copied())
        .map(str::as_bytes);
    Name::from_labels(all).unwrap_or_else(|_| Name::root())
}

/// One name of the zone: its records (none for an empty non-terminal).
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    pub(crate) records: Vec<Record>,
}

impl Entry {
    /// The CNAME target, when the name is an alias.
    pub(crate) fn cname(&self) -> Option<&Name> {
        self.records.iter().find_map(|r| match &r.data {
            RData::CNAME(c) => Some(&c.0),
            _ => None,
        })
    }
}

/// The cluster zone and the reverse names of cluster addresses, ready to answer queries.
///
/// Immutable: [`crate::DnsState`] swaps whole snapshots.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) zone: Name,
    pub(crate) zone_labels: u8,
    pub(crate) ttl: u32,
    pub(crate) soa: Record,
    pub(crate) synced: bool,
    pub(crate) pod_records: PodRecords,
    pub(crate) reverse_cidrs: Vec<IpNet>,
    pub(crate) names: HashMap<Box<[u8]>, Entry>,
    /// Pod addresses per namespace, for [`PodRecords::Verified`].
    pub(crate) pod_ips: HashMap<String, HashSet<IpAddr>>,
    /// Identifies this content: a fresh value for every snapshot built and for every
    /// [`Snapshot::with_serial`] (a clone keeps it, and answers the same). Caches of encoded
    /// answers are valid for one id only.
    pub(crate) id: u64,
}

/// Source of [`Snapshot::id`] values (never reused: 2^64 rebuilds do not happen).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl Snapshot {
    /// A zone with only its apex records, marked not synced: in-zone queries are answered
    /// SERVFAIL until the first real snapshot (so no client caches a false NXDOMAIN while the
    /// watches start, as CoreDNS delays serving until its caches sync).
    pub fn empty(cfg: &DnsConfig) -> Snapshot {
        let mut s = Builder::new(cfg).finish();
        s.synced = false;
        s
    }

    /// Computes the zone (specification 1.1.0, <https://github.com/kubernetes/dns/blob/master/docs/specification.md>).
    ///
    /// An invalid `cfg.cluster_domain` falls back to `cluster.local` ([`crate::DnsState::new`]
    /// rejects one before it gets here).
    pub fn build(
        services: &[Service],
        slices: &[EndpointSlice],
        pods: &[Pod],
        cfg: &DnsConfig,
    ) -> Snapshot {
        Snapshot::build_from(services, slices, pods, cfg)
    }

    /// [`Snapshot::build`] over anything that lends the objects, e.g. a watch store's `Arc`s
    /// (no copies of them).
    pub fn build_from<S, E, P>(
        services: &[S],
        slices: &[E],
        pods: &[P],
        cfg: &DnsConfig,
    ) -> Snapshot
    where
        S: Borrow<Service>,
        E: Borrow<EndpointSlice>,
        P: Borrow<Pod>,
    {
        let mut b = Builder::new(cfg);
        let mut pods_by_name: HashMap<(&str, &str), &Pod> = HashMap::new();
        for pod in pods.iter().map(Borrow::borrow) {
            let (Some(ns), Some(name)) = (
                pod.metadata.namespace.as_deref(),
                pod.metadata.name.as_deref(),
            ) else {
                continue;
            };
            b.namespace(ns);
            pods_by_name.insert((ns, name), pod);
            if cfg.pod_records == PodRecords::Verified {
                let set = b.pod_ips.entry(ns.to_ascii_lowercase()).or_default();
                set.extend(pod_ips(pod));
            }
        }
        let mut slices_by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for slice in slices.iter().map(Borrow::borrow) {
            let ns = slice.metadata.namespace.as_deref();
            let svc = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                .map(String::as_str);
            if let (Some(ns), Some(svc)) = (ns, svc) {
                slices_by_service.entry((ns, svc)).or_default().push(slice);
            }
        }
        for svc in services.iter().map(Borrow::borrow) {
            let (Some(ns), Some(name)) = (
                svc.metadata.namespace.as_deref(),
                svc.metadata.name.as_deref(),
            ) else {
                continue;
            };
            b.namespace(ns);
            let Some(spec) = svc.spec.as_ref() else {
                continue;
            };
            let Some(svc_name) = name_in(&[name, ns, "svc"], &b.zone) else {
                continue;
            };
            if spec.type_.as_deref() == Some("ExternalName") {
                b.external_name(&svc_name, spec.external_name.as_deref());
            } else if spec.cluster_ip.as_deref() == Some("None") {
                let slices = slices_by_service
                    .get(&(ns, name))
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                let publish_all = spec.publish_not_ready_addresses == Some(true);
                b.headless(name, ns, &svc_name, slices, publish_all, &pods_by_name);
            } else {
                b.cluster_ip(name, ns, &svc_name, svc);
            }
        }
        b.finish()
    }

    /// The zone apex (lowercase, fully qualified).
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// Whether this snapshot reflects the API (false only for [`Snapshot::empty`]).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        match &self.soa.data {
            RData::SOA(soa) => soa.serial,
            _ => 0,
        }
    }

    /// Number of names (with or without records) the snapshot answers for.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// The same zone with SOA serial `serial` (serials change with every rebuild).
    pub fn with_serial(mut self, serial: u32) -> Snapshot {
        self.id = next_id();
        self.soa = soa_record(&self.zone, self.ttl, serial);
        let mut buf = [0u8; MAX_KEY];
        if let Some(key) = write_key(&self.zone, &mut buf)
            && let Some(apex) = self.names.get_mut(key)
        {
            for r in &mut apex.records {
                if matches!(r.data, RData::SOA(_)) {
                    *r = self.soa.clone();
                }
            }
        }
        self
    }

    pub(crate) fn get(&self, name: &Name) -> Option<&Entry> {
        let mut buf = [0u8; MAX_KEY];
        let key = write_key(name, &mut buf)?;
        self.names.get(key)
    }

    /// Whether the name is at or below the cluster zone.
    pub(crate) fn in_zone(&self, name: &Name) -> bool {
        self.zone.zone_of(name)
    }
}

fn soa_record(zone: &Name, ttl: u32, serial: u32) -> Record {
    soa_for(zone.clone(), zone, ttl, serial)
}

/// An SOA owned by `owner`, naming the cluster zone's server and hostmaster. Refresh, retry
/// and expire as CoreDNS's kubernetes plugin; MINIMUM = the TTL, which RFC 2308 §4 makes the
/// negative-caching TTL.
fn soa_for(owner: Name, cluster_zone: &Name, ttl: u32, serial: u32) -> Record {
    let hostmaster = name_in(&["hostmaster"], cluster_zone).unwrap_or_else(|| cluster_zone.clone());
    let soa = SOA::new(
        ns_name(cluster_zone),
        hostmaster,
        serial,
        7200,
        1800,
        86400,
        ttl,
    );
    Record::from_rdata(owner, ttl, RData::SOA(soa))
}

/// The SOA of negative answers about addresses in `net`: owned by the smallest reverse zone
/// containing it.
pub(crate) fn reverse_soa(snapshot: &Snapshot, net: IpNet) -> Record {
    soa_for(
        reverse_zone(net),
        &snapshot.zone,
        snapshot.ttl,
        snapshot.serial(),
    )
}

fn pod_ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = status
        .pod_ips
        .iter()
        .flatten()
        .filter_map(|p| p.ip.parse().ok())
        .collect();
    if let Some(ip) = status.pod_ip.as_ref().and_then(|p| p.parse().ok())
        && !ips.contains(&ip)
    {
        ips.push(ip);
    }
    ips
}

fn proto_label(protocol: Option<&str>) -> String {
    format!("_{}", protocol.unwrap_or("TCP").to_ascii_lowercase())
}

struct Builder {
    zone: Name,
    ttl: u32,
    cfg_pod_records: PodRecords,
    reverse_cidrs: Vec<IpNet>,
    names: HashMap<Box<[u8]>, Entry>,
    pod_ips: HashMap<String, HashSet<IpAddr>>,
    namespaces: HashSet<String>,
}

impl Builder {
    fn new(cfg: &DnsConfig) -> Builder {
        let zone = cfg.zone().unwrap_or_else(|_| {
            let mut n = Name::from_labels([&b"cluster"[..], &b"local"[..]]).unwrap_or_default();
            n.set_fqdn(true);
            n
        });
        let mut b = Builder {
            zone: zone.clone(),
            ttl: cfg.ttl,
            cfg_pod_records: cfg.pod_records,
            reverse_cidrs: cfg.reverse_cidrs.clone(),
            names: HashMap::new(),
            pod_ips: HashMap::new(),
            namespaces: HashSet::new(),
        };
        b.add(&zone, soa_record(&zone, cfg.ttl, 1));
        let ns = ns_name(&zone);
        b.add(
            &zone,
            Record::from_rdata(zone.clone(), cfg.ttl, RData::NS(NS(ns.clone()))),
        );
        for ip in &cfg.nameserver_ips {
            b.address(&ns, *ip);
        }
        if let Some(version) = name_in(&["dns-version"], &zone) {
            let txt = RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()]));
            b.add(&version, Record::from_rdata(version.clone(), cfg.ttl, txt));
        }
        // Pod names live under pod.<zone>; the namespaces below it are added as they are seen.
        if cfg.pod_records != PodRecords::Disabled
            && let Some(pod) = name_in(&["pod"], &zone)
        {
            b.ent(&pod);
        }
        b
    }

    fn add(&mut self, name: &Name, record: Record) {
        if let Some(key) = key_of(name) {
            self.names.entry(key).or_default().records.push(record);
        }
    }

    fn ent(&mut self, name: &Name) {
        if let Some(key) = key_of(name) {
            self.names.entry(key).or_default();
        }
    }

    fn address(&mut self, name: &Name, ip: IpAddr) {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.add(name, Record::from_rdata(name.clone(), self.ttl, data));
    }

    fn ptr(&mut self, ip: IpAddr, target: &Name) {
        let reverse = Name::from(ip);
        let rec = Record::from_rdata(reverse.clone(), self.ttl, RData::PTR(PTR(target.clone())));
        self.add(&reverse, rec);
    }

    fn srv(&mut self, name: &Name, port: u16, target: &Name, weight: u16) {
        // Priority 0 for all; weights split 100 among the targets as CoreDNS does.
        let data = RData::SRV(SRV::new(0, weight, port, target.clone()));
        self.add(name, Record::from_rdata(name.clone(), self.ttl, data));
    }

    fn namespace(&mut self, ns: &str) {
        let lower = ns.to_ascii_lowercase();
        if self.namespaces.contains(&lower) {
            return;
        }
        // `<ns>.svc.<zone>` exists for every namespace (NOERROR, no data); likewise
        // `<ns>.pod.<zone>` when pod records are served.
        if let Some(n) = name_in(&[ns, "svc"], &self.zone) {
            self.ent(&n);
        }
        if self.cfg_pod_records != PodRecords::Disabled
            && let Some(n) = name_in(&[ns, "pod"], &self.zone)
        {
            self.ent(&n);
        }
        self.namespaces.insert(lower);
    }

    /// §2.5: `<service>.<ns>.svc.<zone>. IN CNAME <extname>.`
    fn external_name(&mut self, svc_name: &Name, external: Option<&str>) {
        let Some(target) = external
            .map(|e| e.trim_end_matches('.'))
            .filter(|e| !e.is_empty())
            .and_then(|e| Name::from_ascii(e).ok())
        else {
            return;
        };
        let mut target = target.to_lowercase();
        target.set_fqdn(true);
        let rec = Record::from_rdata(svc_name.clone(), self.ttl, RData::CNAME(CNAME(target)));
        self.add(svc_name, rec);
    }

    /// §2.3: A/AAAA of the ClusterIPs, SRV per named port, PTR per ClusterIP.
    fn cluster_ip(&mut self, name: &str, ns: &str, svc_name: &Name, svc: &Service) {
        let Some(spec) = svc.spec.as_ref() else {
            return;
        };
        let mut ips: Vec<IpAddr> = spec
            .cluster_ips
            .iter()
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        if let Some(ip) = spec.cluster_ip.as_ref().and_then(|ip| ip.parse().ok())
            && !ips.contains(&ip)
        {
            ips.push(ip);
        }
        if ips.is_empty() {
            // No address allocated yet: nothing to publish.
            return;
        }
        for ip in &ips {
            self.address(svc_name, *ip);
            self.ptr(*ip, svc_name);
        }
        let mut seen = HashSet::new();
        for port in spec.ports.iter().flatten() {
            let Some(pname) = port.name.as_deref().filter(|n| !n.is_empty()) else {
                continue; // "Unnamed ports do not have an SRV record."
            };
            let Ok(number) = u16::try_from(port.port) else {
                continue;
            };
            let proto = proto_label(port.protocol.as_deref());
            let Some(srv_name) =
                name_in(&[&format!("_{pname}"), &proto, name, ns, "svc"], &self.zone)
            else {
                continue;
            };
            if seen.insert((srv_name.clone(), number)) {
                self.srv(&srv_name, number, svc_name, 100);
            }
        }
    }

    /// §2.4: A/AAAA of ready endpoints at the Service name and at `<hostname>.<service>`, SRV per
    /// endpoint and named port, PTR per endpoint address.
    fn headless(
        &mut self,
        name: &str,
        ns: &str,
        svc_name: &Name,
        slices: &[&EndpointSlice],
        publish_all: bool,
        pods: &HashMap<(&str, &str), &Pod>,
    ) {
        // (hostname name, address) pairs, deduplicated across slices.
        let mut addresses: Vec<(Name, IpAddr)> = Vec::new();
        let mut seen_addr: HashSet<(Name, IpAddr)> = HashSet::new();
        // (SRV name, port, target)
        let mut srvs: Vec<(Name, u16, Name)> = Vec::new();
        let mut seen_srv: HashSet<(Name, u16, Name)> = HashSet::new();
        for slice in slices {
            let family_ok = matches!(slice.address_type.as_str(), "IPv4" | "IPv6");
            if !family_ok {
                continue; // FQDN slices carry no addresses DNS can publish.
            }
            for ep in &slice.endpoints {
                // 1.1.0 "ready": the endpoint's ready condition (nil means ready, per the
                // EndpointConditions docs), or any endpoint when publishNotReadyAddresses.
                let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                if !(ready || publish_all) {
                    continue;
                }
                let hostname = ep
                    .hostname
                    .clone()
                    .filter(|h| label_ok(h))
                    .or_else(|| pod_hostname(ep, ns, name, pods));
                for addr in &ep.addresses {
                    let Ok(ip) = addr.parse::<IpAddr>() else {
                        continue;
                    };
                    let host = hostname.clone().unwrap_or_else(|| dashed(ip));
                    let Some(host_name) = name_in(&[&host, name, ns, "svc"], &self.zone) else {
                        continue;
                    };
                    if seen_addr.insert((host_name.clone(), ip)) {
                        addresses.push((host_name.clone(), ip));
                    }
                    for port in slice.ports.iter().flatten() {
                        let (Some(pname), Some(number)) = (
                            port.name.as_deref().filter(|n| !n.is_empty()),
                            port.port.and_then(|p| u16::try_from(p).ok()),
                        ) else {
                            continue;
                        };
                        let proto = proto_label(port.protocol.as_deref());
                        let Some(srv_name) =
                            name_in(&[&format!("_{pname}"), &proto, name, ns, "svc"], &self.zone)
                        else {
                            continue;
                        };
                        let item = (srv_name, number, host_name.clone());
                        if seen_srv.insert(item.clone()) {
                            srvs.push(item);
                        }
                    }
                }
            }
        }
        for (host_name, ip) in &addresses {
            self.address(svc_name, *ip);
            self.address(host_name, *ip);
            self.ptr(*ip, host_name);
        }
        let mut per_name: HashMap<Name, usize> = HashMap::new();
        for (srv_name, _, _) in &srvs {
            *per_name.entry(srv_name.clone()).or_default() += 1;
        }
        for (srv_name, port, target) in &srvs {
            let n = per_name.get(srv_name).copied().unwrap_or(1).max(1);
            let weight = u16::try_from(100 / n).unwrap_or(1).max(1);
            self.srv(srv_name, *port, target, weight);
        }
    }

    fn finish(mut self) -> Snapshot {
        // Every ancestor of a name with records exists (an empty non-terminal, RFC 8020 §2),
        // up to the zone apex or the root of the reverse tree.
        let zone_key = key_of(&self.zone).unwrap_or_default();
        let keys: Vec<Box<[u8]>> = self.names.keys().cloned().collect();
        for key in keys {
            let mut cur: &[u8] = &key;
            while let Some(parent) = parent_key(cur) {
                if parent == &*zone_key || parent == [0] {
                    break;
                }
                self.names.entry(Box::from(parent)).or_default();
                cur = parent;
            }
        }
        let soa = soa_record(&self.zone, self.ttl, 1);
        Snapshot {
            zone_labels: self.zone.num_labels(),
            zone: self.zone,
            ttl: self.ttl,
            soa,
            synced: true,
            pod_records: self.cfg_pod_records,
            reverse_cidrs: self.reverse_cidrs,
            names: self.names,
            pod_ips: self.pod_ips,
            id: next_id(),
        }
    }
}

/// The hostname the EndpointSlice controller would have set: a pod's `spec.hostname` when its
/// `spec.subdomain` names this Service (k8s.io/kubernetes pkg/controller/util/endpoint
/// `podToEndpointAddressForService`), for slices written by controllers that leave it out.
fn pod_hostname(
    ep: &k8s_openapi::api::discovery::v1::Endpoint,
    ns: &str,
    service: &str,
    pods: &HashMap<(&str, &str), &Pod>,
) -> Option<String> {
    let target = ep.target_ref.as_ref()?;
    if target.kind.as_deref() != Some("Pod") {
        return None;
    }
    let pod_ns = target.namespace.as_deref().unwrap_or(ns);
    let pod = pods.get(&(pod_ns, target.name.as_deref()?))?;
    let spec = pod.spec.as_ref()?;
    if pod_ns != ns || spec.subdomain.as_deref() != Some(service) {
        return None;
    }
    spec.hostname.clone().filter(|h| label_ok(h))
}
