use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ClientIPConfig, LoadBalancerIngress, LoadBalancerStatus, ServicePort as K8sServicePort,
    ServiceSpec, ServiceStatus, SessionAffinityConfig,
};
use k8s_openapi::api::discovery::v1::{
    Endpoint as K8sEndpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::{Packet, Verdict, compute, trace};

const NODE_NAME: &str = "knet-worker";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn node() -> NodeView {
    NodeView {
        name: NODE_NAME.into(),
        ips: vec![ip("192.0.2.10")],
    }
}

fn port(name: Option<&str>, port: i32, protocol: &str) -> K8sServicePort {
    K8sServicePort {
        name: name.map(str::to_string),
        port,
        protocol: Some(protocol.into()),
        ..Default::default()
    }
}

fn mk_service(name: &str, cluster_ip: &str, ports: Vec<K8sServicePort>) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some("default".into()),
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: Some(cluster_ip.into()),
            cluster_ips: Some(vec![cluster_ip.into()]),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    }
}

fn with_spec(mut svc: Service, f: impl FnOnce(&mut ServiceSpec)) -> Service {
    if let Some(spec) = svc.spec.as_mut() {
        f(spec);
    }
    svc
}

struct Ep {
    ip: &'static str,
    node: &'static str,
    ready: Option<bool>,
    serving: Option<bool>,
    terminating: Option<bool>,
}

fn ready(ip: &'static str, node: &'static str) -> Ep {
    Ep {
        ip,
        node,
        ready: Some(true),
        serving: Some(true),
        terminating: Some(false),
    }
}

fn mk_slice(
    name: &str,
    service: &str,
    ports: Vec<(Option<&str>, i32, &str)>,
    endpoints: Vec<Ep>,
) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some("default".into()),
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(
                SERVICE_NAME_LABEL.to_string(),
                service.to_string(),
            )])),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: endpoints
            .into_iter()
            .map(|e| K8sEndpoint {
                addresses: vec![e.ip.into()],
                node_name: Some(e.node.into()),
                conditions: Some(EndpointConditions {
                    ready: e.ready,
                    serving: e.serving,
                    terminating: e.terminating,
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(
            ports
                .into_iter()
                .map(|(name, port, protocol)| EndpointPort {
                    name: name.map(str::to_string),
                    port: Some(port),
                    protocol: Some(protocol.into()),
                    app_protocol: None,
                })
                .collect(),
        ),
    }
}

fn build(services: &[Service], slices: &[EndpointSlice]) -> Snapshot {
    snapshot(
        services,
        slices,
        &node(),
        "10.244.0.0/16".parse().expect("cidr"),
    )
}

fn endpoints_of<'a>(s: &'a Snapshot, key: &str) -> &'a [Endpoint] {
    &s.services
        .get(&ServicePortKey(key.into()))
        .unwrap_or_else(|| panic!("{key} missing from {:?}", s.services.keys()))
        .1
}

fn addrs(eps: &[Endpoint]) -> Vec<(Ipv4Addr, u16)> {
    eps.iter().map(|e| (e.ip, e.port)).collect()
}

#[test]
fn each_service_port_takes_the_slice_port_with_its_name_and_protocol() {
    let svc = mk_service(
        "web",
        "10.96.0.20",
        vec![
            port(Some("http"), 80, "TCP"),
            port(Some("metrics"), 9090, "TCP"),
            port(Some("dns"), 53, "UDP"),
        ],
    );
    let slice = mk_slice(
        "web-abc",
        "web",
        vec![
            (Some("metrics"), 9100, "TCP"),
            (Some("http"), 8080, "TCP"),
            // Right name, wrong protocol: not web's dns port.
            (Some("dns"), 5353, "TCP"),
        ],
        vec![ready("10.244.1.2", "other"), ready("10.244.2.3", NODE_NAME)],
    );
    let s = build(&[svc], &[slice]);
    let http = endpoints_of(&s, "default/web:http");
    assert_eq!(
        addrs(http),
        [(ip("10.244.1.2"), 8080), (ip("10.244.2.3"), 8080)]
    );
    assert_eq!(
        http.iter().map(|e| e.local).collect::<Vec<_>>(),
        [false, true]
    );
    assert_eq!(
        addrs(endpoints_of(&s, "default/web:metrics")),
        [(ip("10.244.1.2"), 9100), (ip("10.244.2.3"), 9100)]
    );
    assert!(endpoints_of(&s, "default/web:dns").is_empty());
    let (sp, _) = &s.services[&ServicePortKey("default/web:dns".into())];
    assert_eq!((sp.port, sp.protocol), (53, Protocol::Udp));
}

#[test]
fn an_unnamed_port_matches_the_slice_port_named_empty_but_not_one_without_a_name() {
    let svc = mk_service("web", "10.96.0.20", vec![port(None, 80, "TCP")]);
    let named_empty = mk_slice(
        "web-a",
        "web",
        vec![(Some(""), 8080, "TCP")],
        vec![ready("10.244.1.2", "n")],
    );
    let nameless = mk_slice(
        "web-b",
        "web",
        vec![(None, 8081, "TCP")],
        vec![ready("10.244.1.3", "n")],
    );
    let s = build(&[svc], &[named_empty, nameless]);
    assert_eq!(
        addrs(endpoints_of(&s, "default/web:")),
        [(ip("10.244.1.2"), 8080)]
    );
}

#[test]
fn endpoints_of_several_slices_merge_and_a_duplicate_counts_once_preferring_the_local_copy() {
    let svc = mk_service("web", "10.96.0.20", vec![port(Some("http"), 80, "TCP")]);
    let ports = || vec![(Some("http"), 8080, "TCP")];
    let a = mk_slice(
        "web-a",
        "web",
        ports(),
        vec![ready("10.244.1.2", "other"), ready("10.244.1.3", "other")],
    );
    let b = mk_slice(
        "web-b",
        "web",
        ports(),
        vec![ready("10.244.1.3", NODE_NAME), ready("10.244.1.4", "other")],
    );
    // Another Service's slice, and a slice of the same name in another namespace.
    let other = mk_slice("db-a", "db", ports(), vec![ready("10.244.9.9", "x")]);
    let mut elsewhere = mk_slice("web-c", "web", ports(), vec![ready("10.244.8.8", "x")]);
    elsewhere.metadata.namespace = Some("prod".into());
    let mut v6 = mk_slice("web-d", "web", ports(), vec![ready("10.244.7.7", "x")]);
    v6.address_type = "IPv6".into();
    let s = build(&[svc], &[b, other, elsewhere, v6, a]);
    let eps = endpoints_of(&s, "default/web:http");
    assert_eq!(
        addrs(eps),
        [
            (ip("10.244.1.2"), 8080),
            (ip("10.244.1.3"), 8080),
            (ip("10.244.1.4"), 8080)
        ]
    );
    assert!(eps[1].local);
}

#[test]
fn conditions_default_as_the_api_says_and_not_ready_endpoints_get_no_traffic() {
    let svc = mk_service("web", "10.96.0.20", vec![port(Some("http"), 80, "TCP")]);
    let slice = mk_slice(
        "web-a",
        "web",
        vec![(Some("http"), 8080, "TCP")],
        vec![
            Ep {
                ip: "10.244.1.2",
                node: "n",
                ready: None,
                serving: None,
                terminating: None,
            },
            Ep {
                ip: "10.244.1.3",
                node: "n",
                ready: Some(false),
                serving: Some(false),
                terminating: None,
            },
        ],
    );
    let s = build(&[svc], &[slice]);
    let eps = endpoints_of(&s, "default/web:http");
    assert_eq!(
        eps.iter()
            .map(|e| (e.ready, e.serving, e.terminating))
            .collect::<Vec<_>>(),
        [(true, true, false), (false, false, false)]
    );
    let r = compute(&s);
    for random in 0..4 {
        let p = Packet {
            src: ip("10.244.5.5"),
            dst: ip("10.96.0.20"),
            proto: Protocol::Tcp,
            dport: 80,
            random,
        };
        assert_eq!(
            trace(&r, &p),
            Verdict::Dnat {
                to: (ip("10.244.1.2"), 8080),
                masquerade: false
            }
        );
    }
}

#[test]
fn a_terminating_but_serving_endpoint_takes_traffic_when_no_endpoint_is_ready() {
    let svc = mk_service("web", "10.96.0.20", vec![port(Some("http"), 80, "TCP")]);
    let terminating = |ip, serving| Ep {
        ip,
        node: "n",
        ready: Some(false),
        serving: Some(serving),
        terminating: Some(true),
    };
    let slice = mk_slice(
        "web-a",
        "web",
        vec![(Some("http"), 8080, "TCP")],
        vec![
            terminating("10.244.1.2", false),
            terminating("10.244.1.3", true),
        ],
    );
    let r = compute(&build(&[svc], &[slice]));
    let p = Packet {
        src: ip("10.244.5.5"),
        dst: ip("10.96.0.20"),
        proto: Protocol::Tcp,
        dport: 80,
        random: 0,
    };
    assert_eq!(
        trace(&r, &p),
        Verdict::Dnat {
            to: (ip("10.244.1.3"), 8080),
            masquerade: false
        }
    );
}

#[test]
fn headless_external_name_and_unallocated_services_are_not_proxied() {
    let headless = mk_service("headless", "None", vec![port(Some("http"), 80, "TCP")]);
    let external_name = with_spec(
        mk_service("ext", "10.96.0.21", vec![port(Some("http"), 80, "TCP")]),
        |s| {
            s.type_ = Some("ExternalName".into());
            s.external_name = Some("example.org".into());
        },
    );
    let unallocated = with_spec(
        mk_service("new", "10.96.0.22", vec![port(Some("http"), 80, "TCP")]),
        |s| {
            s.cluster_ip = None;
            s.cluster_ips = None;
        },
    );
    let proxied = mk_service("web", "10.96.0.23", vec![port(Some("http"), 80, "TCP")]);
    let s = build(&[headless, external_name, unallocated, proxied], &[]);
    assert_eq!(
        s.services.keys().cloned().collect::<Vec<_>>(),
        [ServicePortKey("default/web:http".into())]
    );
}

#[test]
fn load_balancer_addresses_policies_and_affinity_come_from_spec_and_status() {
    let svc = with_spec(
        mk_service("lb", "10.96.0.30", vec![port(Some("http"), 80, "TCP")]),
        |s| {
            s.type_ = Some("LoadBalancer".into());
            s.external_ips = Some(vec!["198.51.100.8".into()]);
            s.external_traffic_policy = Some("Local".into());
            s.internal_traffic_policy = Some("Local".into());
            s.health_check_node_port = Some(31999);
            s.session_affinity = Some("ClientIP".into());
            s.session_affinity_config = Some(SessionAffinityConfig {
                client_ip: Some(ClientIPConfig {
                    timeout_seconds: Some(60),
                }),
            });
            if let Some(p) = s.ports.as_mut().and_then(|p| p.first_mut()) {
                p.node_port = Some(30080);
            }
        },
    );
    let ingress = |ip: &str, mode: Option<&str>| LoadBalancerIngress {
        ip: Some(ip.into()),
        ip_mode: mode.map(str::to_string),
        ..Default::default()
    };
    let svc = Service {
        status: Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(vec![
                    ingress("198.51.100.7", None),
                    ingress("198.51.100.9", Some("VIP")),
                    // Proxy mode: the load balancer proxies, kube-proxy does not capture it.
                    ingress("198.51.100.10", Some("Proxy")),
                ]),
            }),
            ..Default::default()
        }),
        ..svc
    };
    let s = build(&[svc], &[]);
    let (sp, _) = &s.services[&ServicePortKey("default/lb:http".into())];
    assert_eq!(
        sp.load_balancer_ips,
        [ip("198.51.100.7"), ip("198.51.100.9")]
    );
    assert_eq!(sp.external_ips, [ip("198.51.100.8")]);
    assert_eq!(sp.node_port, Some(30080));
    assert_eq!(sp.external_traffic_policy, TrafficPolicy::Local);
    assert_eq!(sp.internal_traffic_policy, TrafficPolicy::Local);
    assert_eq!(sp.session_affinity_timeout, Some(60));
    assert_eq!(sp.health_check_node_port, Some(31999));
    assert_eq!(s.node_ips, [ip("192.0.2.10")]);
}

#[test]
fn defaults_cluster_policies_no_affinity_and_the_3_hour_affinity_timeout() {
    let plain = mk_service("a", "10.96.0.30", vec![port(Some("http"), 80, "TCP")]);
    // externalTrafficPolicy means nothing for a ClusterIP Service without external IPs.
    let internal_only = with_spec(
        mk_service("b", "10.96.0.31", vec![port(Some("http"), 80, "TCP")]),
        |s| {
            s.external_traffic_policy = Some("Local".into());
            s.session_affinity = Some("ClientIP".into());
        },
    );
    let s = build(&[plain, internal_only], &[]);
    let a = &s.services[&ServicePortKey("default/a:http".into())].0;
    assert_eq!(
        (
            a.external_traffic_policy,
            a.internal_traffic_policy,
            a.session_affinity_timeout
        ),
        (TrafficPolicy::Cluster, TrafficPolicy::Cluster, None)
    );
    let b = &s.services[&ServicePortKey("default/b:http".into())].0;
    assert_eq!(b.external_traffic_policy, TrafficPolicy::Cluster);
    assert_eq!(b.session_affinity_timeout, Some(DEFAULT_AFFINITY_TIMEOUT));
    assert_eq!(b.health_check_node_port, None);
}

#[test]
fn health_check_node_ports_count_distinct_local_ready_endpoint_ips_per_service() {
    let lb = |name: &str, ip: &str, policy: &str, hc: i32| {
        with_spec(
            mk_service(
                name,
                ip,
                vec![
                    port(Some("http"), 80, "TCP"),
                    port(Some("https"), 443, "TCP"),
                ],
            ),
            |s| {
                s.type_ = Some("LoadBalancer".into());
                s.external_traffic_policy = Some(policy.into());
                s.health_check_node_port = Some(hc);
            },
        )
    };
    let terminating_local = Ep {
        ip: "10.244.0.9",
        node: NODE_NAME,
        ready: Some(false),
        serving: Some(true),
        terminating: Some(true),
    };
    let slice = mk_slice(
        "web-a",
        "web",
        vec![(Some("http"), 8080, "TCP"), (Some("https"), 8443, "TCP")],
        vec![
            ready("10.244.0.5", NODE_NAME),
            ready("10.244.0.6", NODE_NAME),
            ready("10.244.1.7", "other"),
            terminating_local,
        ],
    );
    let s = build(
        &[
            lb("web", "10.96.0.40", "Local", 31001),
            lb("idle", "10.96.0.41", "Local", 31002),
            lb("cluster", "10.96.0.42", "Cluster", 31003),
        ],
        &[slice],
    );
    assert_eq!(
        health_check_node_ports(&s),
        [
            HealthCheckNodePort {
                port: 31001,
                namespace: "default".into(),
                name: "web".into(),
                local_endpoints: 2
            },
            HealthCheckNodePort {
                port: 31002,
                namespace: "default".into(),
                name: "idle".into(),
                local_endpoints: 0
            },
        ]
    );
}
