//! Fixture builders and query helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knet_dns::hickory_proto::op::{Edns, Message, Query};
use knet_dns::hickory_proto::rr::{Name, RData, Record, RecordType};
use knet_dns::{DnsConfig, Snapshot};
use serde_json::json;

/// Settings for tests: addresses from the documentation ranges, reverse answers for them.
pub fn cfg() -> DnsConfig {
    DnsConfig {
        reverse_cidrs: vec![
            "192.0.2.0/24".parse().unwrap(),
            "198.51.100.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        ..DnsConfig::default()
    }
}

/// A ClusterIP Service with `ports` as (name, port, protocol).
pub fn mk_service(ns: &str, name: &str, ips: &[&str], ports: &[(&str, i32, &str)]) -> Service {
    let ports: Vec<_> = ports
        .iter()
        .map(|(n, p, proto)| {
            let mut v = json!({"port": p, "protocol": proto});
            if !n.is_empty() {
                v["name"] = json!(n);
            }
            v
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ips.first().copied().unwrap_or(""), "clusterIPs": ips, "ports": ports},
    }))
    .unwrap()
}

/// A headless Service.
pub fn mk_headless(
    ns: &str,
    name: &str,
    ports: &[(&str, i32, &str)],
    publish_not_ready: bool,
) -> Service {
    let mut svc = mk_service(ns, name, &["None"], ports);
    let spec = svc.spec.as_mut().unwrap();
    spec.cluster_ips = Some(vec!["None".into()]);
    spec.publish_not_ready_addresses = Some(publish_not_ready);
    svc
}

/// An ExternalName Service.
pub fn mk_external(ns: &str, name: &str, target: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "ExternalName", "externalName": target},
    }))
    .unwrap()
}

/// One endpoint: addresses, ready condition, hostname, target pod name.
pub struct Ep<'a> {
    pub addrs: &'a [&'a str],
    pub ready: Option<bool>,
    pub hostname: Option<&'a str>,
    pub pod: Option<&'a str>,
}

pub fn ep<'a>(addrs: &'a [&'a str]) -> Ep<'a> {
    Ep {
        addrs,
        ready: Some(true),
        hostname: None,
        pod: None,
    }
}

/// An EndpointSlice of Service `svc`, with ports (name, port, protocol).
pub fn mk_slice(
    ns: &str,
    svc: &str,
    family: &str,
    eps: &[Ep<'_>],
    ports: &[(&str, i32, &str)],
) -> EndpointSlice {
    let endpoints: Vec<_> = eps
        .iter()
        .map(|e| {
            let mut v = json!({"addresses": e.addrs});
            if let Some(r) = e.ready {
                v["conditions"] = json!({"ready": r});
            }
            if let Some(h) = e.hostname {
                v["hostname"] = json!(h);
            }
            if let Some(p) = e.pod {
                v["targetRef"] = json!({"kind": "Pod", "namespace": ns, "name": p});
            }
            v
        })
        .collect();
    let ports: Vec<_> = ports
        .iter()
        .map(|(n, p, proto)| json!({"name": n, "port": p, "protocol": proto}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": format!("{svc}-abc"), "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": family,
        "endpoints": endpoints,
        "ports": ports,
    }))
    .unwrap()
}

/// A running pod with `ip`, optional hostname and subdomain.
pub fn mk_pod(
    ns: &str,
    name: &str,
    ip: &str,
    hostname: Option<&str>,
    subdomain: Option<&str>,
) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "pause"}]});
    if let Some(h) = hostname {
        spec["hostname"] = json!(h);
    }
    if let Some(s) = subdomain {
        spec["subdomain"] = json!(s);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
        "status": {"podIP": ip, "podIPs": [{"ip": ip}]},
    }))
    .unwrap()
}

pub fn build(services: &[Service], slices: &[EndpointSlice], pods: &[Pod]) -> Snapshot {
    Snapshot::build(services, slices, pods, &cfg())
}

pub fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// A recursive query for (name, type).
pub fn query(qname: &str, qtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(qname), qtype));
    m
}

/// The same with an EDNS(0) OPT advertising `size`.
pub fn query_edns(qname: &str, qtype: RecordType, size: u16) -> Message {
    let mut m = query(qname, qtype);
    let mut edns = Edns::new();
    edns.set_max_payload(size);
    m.set_edns(edns);
    m
}

pub fn ips(records: &[Record]) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn has_soa(records: &[Record]) -> bool {
    records.iter().any(|r| matches!(r.data, RData::SOA(_)))
}

/// The zone the fuzz target answers from (the cargo-fuzz target builds the same one).
pub fn fuzz_zone() -> Snapshot {
    let services = vec![
        mk_service(
            "default",
            "kubernetes",
            &["192.0.2.1"],
            &[("https", 443, "TCP")],
        ),
        mk_service(
            "shop",
            "web",
            &["192.0.2.10", "2001:db8::10"],
            &[("http", 80, "TCP")],
        ),
        mk_headless("shop", "db", &[("pg", 5432, "TCP")], false),
        mk_external("shop", "search", "www.example.com"),
        mk_external("shop", "loop", "loop.shop.svc.cluster.local"),
    ];
    let slices = vec![mk_slice(
        "shop",
        "db",
        "IPv4",
        &[
            Ep {
                hostname: Some("db-0"),
                ..ep(&["198.51.100.1"])
            },
            ep(&["198.51.100.2"]),
        ],
        &[("pg", 5432, "TCP")],
    )];
    build(
        &services,
        &slices,
        &[mk_pod("shop", "p", "198.51.100.9", None, None)],
    )
}
