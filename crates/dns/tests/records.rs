//! The records of the Kubernetes DNS specification, and the negative answers, through the pure
//! `answer` function.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use knet_dns::hickory_proto::op::{Message, OpCode, ResponseCode};
use knet_dns::hickory_proto::rr::{DNSClass, RData, RecordType};
use knet_dns::{Answer, DnsConfig, PodRecords, Snapshot, answer};

fn local(snapshot: &Snapshot, q: &Message) -> Message {
    match answer(snapshot, q) {
        Answer::Local(m) => m,
        other => panic!("expected a local answer, got {other:?}"),
    }
}

fn ask(snapshot: &Snapshot, qname: &str, qtype: RecordType) -> Message {
    local(snapshot, &query(qname, qtype))
}

fn assert_nxdomain(resp: &Message) {
    assert_eq!(
        resp.metadata.response_code,
        ResponseCode::NXDomain,
        "{resp:?}"
    );
    assert!(resp.answers.is_empty());
    assert!(
        has_soa(&resp.authorities),
        "NXDOMAIN carries the zone's SOA"
    );
    assert!(resp.metadata.authoritative);
}

fn assert_nodata(resp: &Message) {
    assert_eq!(
        resp.metadata.response_code,
        ResponseCode::NoError,
        "{resp:?}"
    );
    assert!(resp.answers.is_empty(), "{resp:?}");
    assert!(has_soa(&resp.authorities), "NODATA carries the zone's SOA");
    assert!(resp.metadata.authoritative);
}

fn cluster() -> Snapshot {
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
            &[("http", 80, "TCP"), ("", 8080, "TCP"), ("dns", 53, "UDP")],
        ),
        mk_headless("shop", "db", &[("pg", 5432, "TCP")], false),
        mk_headless("shop", "empty", &[("pg", 5432, "TCP")], false),
        mk_headless("shop", "warm", &[], true),
        mk_external("shop", "search", "www.example.com"),
        mk_external("shop", "alias", "web.shop.svc.cluster.local."),
        mk_external("shop", "loop-a", "loop-b.shop.svc.cluster.local"),
        mk_external("shop", "loop-b", "loop-a.shop.svc.cluster.local"),
    ];
    let pg = [("pg", 5432, "TCP")];
    let slices = vec![
        mk_slice(
            "shop",
            "db",
            "IPv4",
            &[
                Ep {
                    hostname: Some("db-0"),
                    ..ep(&["198.51.100.1"])
                },
                Ep {
                    hostname: Some("db-1"),
                    ..ep(&["198.51.100.2"])
                },
                ep(&["198.51.100.3"]),
                Ep {
                    ready: Some(false),
                    ..ep(&["198.51.100.4"])
                },
                Ep {
                    ready: None,
                    ..ep(&["198.51.100.5"])
                },
            ],
            &pg,
        ),
        mk_slice(
            "shop",
            "empty",
            "IPv4",
            &[Ep {
                ready: Some(false),
                ..ep(&["198.51.100.9"])
            }],
            &pg,
        ),
        mk_slice(
            "shop",
            "warm",
            "IPv4",
            &[Ep {
                ready: Some(false),
                ..ep(&["198.51.100.20"])
            }],
            &[],
        ),
    ];
    let pods = vec![mk_pod("shop", "db-0", "198.51.100.1", None, None)];
    build(&services, &slices, &pods)
}

#[test]
fn a_cluster_ip_service_has_an_authoritative_a_record() {
    let resp = ask(
        &cluster(),
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.metadata.authoritative);
    assert!(resp.metadata.recursion_available);
    assert_eq!(ips(&resp.answers), vec![ip("192.0.2.1")]);
    assert_eq!(resp.answers[0].ttl, 30);
    assert_eq!(resp.answers[0].dns_class, DNSClass::IN);
}

#[test]
fn names_match_case_insensitively_and_answers_keep_the_question_spelling() {
    let resp = ask(
        &cluster(),
        "KuberNetes.DEFAULT.svc.Cluster.Local.",
        RecordType::A,
    );
    assert_eq!(ips(&resp.answers), vec![ip("192.0.2.1")]);
    assert_eq!(
        resp.answers[0].name.to_ascii(),
        "KuberNetes.DEFAULT.svc.Cluster.Local."
    );
    assert_eq!(
        resp.queries[0].name.to_ascii(),
        "KuberNetes.DEFAULT.svc.Cluster.Local."
    );
}

#[test]
fn a_dual_stack_service_has_aaaa_and_a_single_stack_one_answers_aaaa_with_nodata() {
    let snap = cluster();
    let v6 = ask(&snap, "web.shop.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(ips(&v6.answers), vec![ip("2001:db8::10")]);
    let v4 = ask(&snap, "web.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(ips(&v4.answers), vec![ip("192.0.2.10")]);
    assert_nodata(&ask(
        &snap,
        "kubernetes.default.svc.cluster.local.",
        RecordType::AAAA,
    ));
}

#[test]
fn named_ports_of_a_cluster_ip_service_have_srv_records_pointing_at_the_service() {
    let snap = cluster();
    let resp = ask(
        &snap,
        "_http._tcp.web.shop.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(resp.answers.len(), 1);
    let RData::SRV(srv) = &resp.answers[0].data else {
        panic!("not an SRV: {resp:?}");
    };
    assert_eq!(srv.port, 80);
    assert_eq!(srv.target, name("web.shop.svc.cluster.local."));
    // The additional section carries the target's addresses.
    assert_eq!(
        ips(&resp.additionals),
        vec![ip("192.0.2.10"), ip("2001:db8::10")]
    );
    let udp = ask(
        &snap,
        "_dns._udp.web.shop.svc.cluster.local.",
        RecordType::SRV,
    );
    let RData::SRV(srv) = &udp.answers[0].data else {
        panic!("not an SRV: {udp:?}");
    };
    assert_eq!(srv.port, 53);
}

#[test]
fn srv_names_for_unknown_ports_or_protocols_do_not_exist() {
    let snap = cluster();
    // The unnamed port 8080 has no SRV record; the protocol must match.
    assert_nxdomain(&ask(
        &snap,
        "_8080._tcp.web.shop.svc.cluster.local.",
        RecordType::SRV,
    ));
    assert_nxdomain(&ask(
        &snap,
        "_http._udp.web.shop.svc.cluster.local.",
        RecordType::SRV,
    ));
    // `_tcp.<svc>` is an empty non-terminal: it exists.
    assert_nodata(&ask(
        &snap,
        "_tcp.web.shop.svc.cluster.local.",
        RecordType::SRV,
    ));
    // An SRV name asked for A exists without A records.
    assert_nodata(&ask(
        &snap,
        "_http._tcp.web.shop.svc.cluster.local.",
        RecordType::A,
    ));
}

#[test]
fn cluster_ips_have_ptr_records() {
    let snap = cluster();
    let resp = ask(&snap, "1.2.0.192.in-addr.arpa.", RecordType::PTR);
    assert!(resp.metadata.authoritative);
    let RData::PTR(ptr) = &resp.answers[0].data else {
        panic!("not a PTR: {resp:?}");
    };
    assert_eq!(ptr.0, name("kubernetes.default.svc.cluster.local."));
    let v6 = local(
        &snap,
        &query(
            &knet_dns::hickory_proto::rr::Name::from(ip("2001:db8::10")).to_ascii(),
            RecordType::PTR,
        ),
    );
    let RData::PTR(ptr) = &v6.answers[0].data else {
        panic!("not a PTR: {v6:?}");
    };
    assert_eq!(ptr.0, name("web.shop.svc.cluster.local."));
}

#[test]
fn a_headless_service_answers_with_its_ready_endpoints() {
    let resp = ask(&cluster(), "db.shop.svc.cluster.local.", RecordType::A);
    // .4 is not ready; .5 has no ready condition, which means ready.
    assert_eq!(
        ips(&resp.answers),
        vec![
            ip("198.51.100.1"),
            ip("198.51.100.2"),
            ip("198.51.100.3"),
            ip("198.51.100.5")
        ]
    );
}

#[test]
fn a_headless_service_without_ready_endpoints_is_nxdomain() {
    let snap = cluster();
    assert_nxdomain(&ask(&snap, "empty.shop.svc.cluster.local.", RecordType::A));
    assert_nxdomain(&ask(
        &snap,
        "_pg._tcp.empty.shop.svc.cluster.local.",
        RecordType::SRV,
    ));
}

#[test]
fn publish_not_ready_addresses_publishes_unready_endpoints() {
    let resp = ask(&cluster(), "warm.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(ips(&resp.answers), vec![ip("198.51.100.20")]);
}

#[test]
fn headless_endpoints_have_hostname_records_and_dashed_names_without_one() {
    let snap = cluster();
    let resp = ask(&snap, "db-1.db.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(ips(&resp.answers), vec![ip("198.51.100.2")]);
    let dashed = ask(
        &snap,
        "198-51-100-3.db.shop.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(ips(&dashed.answers), vec![ip("198.51.100.3")]);
    // Not-ready endpoints have no name either.
    assert_nxdomain(&ask(
        &snap,
        "198-51-100-4.db.shop.svc.cluster.local.",
        RecordType::A,
    ));
    assert_nxdomain(&ask(
        &snap,
        "db-9.db.shop.svc.cluster.local.",
        RecordType::A,
    ));
}

#[test]
fn headless_srv_has_one_record_per_ready_endpoint_with_address_glue() {
    let resp = ask(
        &cluster(),
        "_pg._tcp.db.shop.svc.cluster.local.",
        RecordType::SRV,
    );
    let mut targets: Vec<String> = resp
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::SRV(s) => {
                assert_eq!(s.port, 5432);
                s.target.to_ascii()
            }
            other => panic!("not an SRV: {other:?}"),
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "198-51-100-3.db.shop.svc.cluster.local.",
            "198-51-100-5.db.shop.svc.cluster.local.",
            "db-0.db.shop.svc.cluster.local.",
            "db-1.db.shop.svc.cluster.local.",
        ]
    );
    assert_eq!(
        ips(&resp.additionals),
        vec![
            ip("198.51.100.1"),
            ip("198.51.100.2"),
            ip("198.51.100.3"),
            ip("198.51.100.5")
        ]
    );
    assert!(
        resp.additionals
            .iter()
            .any(|r| r.name == name("db-0.db.shop.svc.cluster.local."))
    );
}

#[test]
fn headless_endpoint_addresses_have_ptr_records_to_their_hostnames() {
    let snap = cluster();
    let resp = ask(&snap, "2.100.51.198.in-addr.arpa.", RecordType::PTR);
    let RData::PTR(ptr) = &resp.answers[0].data else {
        panic!("not a PTR: {resp:?}");
    };
    assert_eq!(ptr.0, name("db-1.db.shop.svc.cluster.local."));
    let dashed = ask(&snap, "3.100.51.198.in-addr.arpa.", RecordType::PTR);
    let RData::PTR(ptr) = &dashed.answers[0].data else {
        panic!("not a PTR: {dashed:?}");
    };
    assert_eq!(ptr.0, name("198-51-100-3.db.shop.svc.cluster.local."));
}

#[test]
fn unknown_addresses_in_the_cluster_ranges_are_nxdomain_and_others_are_forwarded() {
    let snap = cluster();
    let resp = ask(&snap, "99.2.0.192.in-addr.arpa.", RecordType::PTR);
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    assert!(has_soa(&resp.authorities));
    // The SOA of the reverse zone of 192.0.2.0/24.
    assert_eq!(resp.authorities[0].name, name("2.0.192.in-addr.arpa."));
    assert_eq!(
        answer(&snap, &query("1.113.0.203.in-addr.arpa.", RecordType::PTR)),
        Answer::Forward
    );
    // A known address asked for another type: NODATA.
    let nodata = ask(&snap, "1.2.0.192.in-addr.arpa.", RecordType::A);
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty() && has_soa(&nodata.authorities));
}

#[test]
fn an_external_name_service_is_a_cname_chased_upstream() {
    let snap = cluster();
    match answer(
        &snap,
        &query("search.shop.svc.cluster.local.", RecordType::A),
    ) {
        Answer::Chase { response, target } => {
            assert_eq!(target, name("www.example.com."));
            let RData::CNAME(c) = &response.answers[0].data else {
                panic!("not a CNAME: {response:?}");
            };
            assert_eq!(c.0, name("www.example.com."));
            assert!(response.metadata.authoritative);
        }
        other => panic!("expected a chase, got {other:?}"),
    }
    // Asked for the CNAME itself: answered locally.
    let resp = ask(&snap, "search.shop.svc.cluster.local.", RecordType::CNAME);
    assert_eq!(resp.answers.len(), 1);
    assert_eq!(resp.answers[0].record_type(), RecordType::CNAME);
}

#[test]
fn an_external_name_inside_the_zone_is_followed_locally() {
    let resp = ask(&cluster(), "alias.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(resp.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(ips(&resp.answers), vec![ip("192.0.2.10")]);
    assert_eq!(resp.answers[1].name, name("web.shop.svc.cluster.local."));
}

#[test]
fn a_cname_loop_is_servfail() {
    let resp = ask(&cluster(), "loop-a.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn pod_names_answer_their_dashed_address_in_insecure_mode() {
    let snap = cluster();
    let resp = ask(
        &snap,
        "203-0-113-7.anywhere.pod.cluster.local.",
        RecordType::A,
    );
    assert_eq!(ips(&resp.answers), vec![ip("203.0.113.7")]);
    assert_nodata(&ask(
        &snap,
        "203-0-113-7.anywhere.pod.cluster.local.",
        RecordType::AAAA,
    ));
    let v6 = ask(
        &snap,
        "2001-db8--7.anywhere.pod.cluster.local.",
        RecordType::AAAA,
    );
    assert_eq!(ips(&v6.answers), vec![ip("2001:db8::7")]);
    assert_nxdomain(&ask(
        &snap,
        "not-an-ip.shop.pod.cluster.local.",
        RecordType::A,
    ));
    assert_nodata(&ask(&snap, "shop.pod.cluster.local.", RecordType::A));
}

#[test]
fn verified_pod_names_need_a_pod_with_that_address_in_that_namespace() {
    let cfg = DnsConfig {
        pod_records: PodRecords::Verified,
        ..cfg()
    };
    let pods = vec![mk_pod("shop", "p", "198.51.100.40", None, None)];
    // As the watcher keeps it.
    let mut slim = pods.clone();
    slim.iter_mut().for_each(knet_dns::slim_pod);
    let snap = Snapshot::build(&[], &[], &slim, &cfg);
    assert!(
        slim[0]
            .spec
            .as_ref()
            .is_some_and(|s| s.containers.is_empty())
    );
    let resp = ask(
        &snap,
        "198-51-100-40.shop.pod.cluster.local.",
        RecordType::A,
    );
    assert_eq!(ips(&resp.answers), vec![ip("198.51.100.40")]);
    assert_nxdomain(&ask(
        &snap,
        "198-51-100-40.other.pod.cluster.local.",
        RecordType::A,
    ));
    assert_nxdomain(&ask(
        &snap,
        "198-51-100-41.shop.pod.cluster.local.",
        RecordType::A,
    ));

    let off = DnsConfig {
        pod_records: PodRecords::Disabled,
        ..cfg
    };
    let snap = Snapshot::build(&[], &[], &pods, &off);
    assert_nxdomain(&ask(
        &snap,
        "198-51-100-40.shop.pod.cluster.local.",
        RecordType::A,
    ));
}

#[test]
fn a_pod_hostname_and_subdomain_name_it_under_its_headless_service() {
    // The slice has no hostname (as from a controller that leaves it out); the pod's
    // spec.hostname/subdomain supply it, as the EndpointSlice controller would.
    let services = vec![mk_headless("ml", "workers", &[], false)];
    let slices = vec![mk_slice(
        "ml",
        "workers",
        "IPv4",
        &[
            Ep {
                pod: Some("trainer-x"),
                ..ep(&["198.51.100.50"])
            },
            Ep {
                pod: Some("other"),
                ..ep(&["198.51.100.51"])
            },
        ],
        &[],
    )];
    let pods = vec![
        mk_pod(
            "ml",
            "trainer-x",
            "198.51.100.50",
            Some("trainer"),
            Some("workers"),
        ),
        mk_pod(
            "ml",
            "other",
            "198.51.100.51",
            Some("other-host"),
            Some("elsewhere"),
        ),
    ];
    // The same with the pods as the watcher keeps them (`slim_pod`).
    let mut slim = pods.clone();
    slim.iter_mut().for_each(knet_dns::slim_pod);
    for pods in [pods, slim] {
        let snap = build(&services, &slices, &pods);
        let resp = ask(
            &snap,
            "trainer.workers.ml.svc.cluster.local.",
            RecordType::A,
        );
        assert_eq!(ips(&resp.answers), vec![ip("198.51.100.50")]);
        // A subdomain naming another Service does not give a name under this one.
        assert_nxdomain(&ask(
            &snap,
            "other-host.workers.ml.svc.cluster.local.",
            RecordType::A,
        ));
        let dashed = ask(
            &snap,
            "198-51-100-51.workers.ml.svc.cluster.local.",
            RecordType::A,
        );
        assert_eq!(ips(&dashed.answers), vec![ip("198.51.100.51")]);
    }
}

#[test]
fn the_schema_version_is_published_as_txt() {
    let resp = ask(&cluster(), "dns-version.cluster.local.", RecordType::TXT);
    let RData::TXT(txt) = &resp.answers[0].data else {
        panic!("not a TXT: {resp:?}");
    };
    assert_eq!(txt.to_string(), "1.1.0");
}

#[test]
fn namespaces_and_the_svc_label_exist_without_records() {
    let snap = cluster();
    assert_nodata(&ask(&snap, "shop.svc.cluster.local.", RecordType::A));
    assert_nodata(&ask(&snap, "svc.cluster.local.", RecordType::A));
    assert_nxdomain(&ask(&snap, "nosuchns.svc.cluster.local.", RecordType::A));
    assert_nxdomain(&ask(&snap, "nosuch.shop.svc.cluster.local.", RecordType::A));
    assert_nxdomain(&ask(
        &snap,
        "a.b.web.shop.svc.cluster.local.",
        RecordType::A,
    ));
    // The search-path expansions pods produce for external names (ndots:5).
    assert_nxdomain(&ask(
        &snap,
        "www.example.com.shop.svc.cluster.local.",
        RecordType::A,
    ));
    assert_nxdomain(&ask(
        &snap,
        "www.example.com.cluster.local.",
        RecordType::AAAA,
    ));
}

#[test]
fn the_apex_has_soa_and_ns_records() {
    let snap = cluster();
    let soa = ask(&snap, "cluster.local.", RecordType::SOA);
    let RData::SOA(s) = &soa.answers[0].data else {
        panic!("not an SOA: {soa:?}");
    };
    assert_eq!(s.mname, name("ns.dns.cluster.local."));
    assert_eq!(s.minimum, 30);
    let ns = ask(&snap, "cluster.local.", RecordType::NS);
    assert_eq!(ns.answers[0].record_type(), RecordType::NS);
    assert_nodata(&ask(&snap, "cluster.local.", RecordType::A));
}

#[test]
fn the_ttl_and_cluster_domain_are_configurable() {
    let cfg = DnsConfig {
        cluster_domain: "corp.example.".into(),
        ttl: 5,
        ..cfg()
    };
    let svc = vec![mk_service("default", "api", &["192.0.2.3"], &[])];
    let snap = Snapshot::build(&svc, &[], &[], &cfg);
    let resp = ask(&snap, "api.default.svc.corp.example.", RecordType::A);
    assert_eq!(ips(&resp.answers), vec![ip("192.0.2.3")]);
    assert_eq!(resp.answers[0].ttl, 5);
    assert_eq!(
        answer(
            &snap,
            &query("api.default.svc.cluster.local.", RecordType::A)
        ),
        Answer::Forward
    );
}

#[test]
fn names_outside_the_zone_are_forwarded() {
    let snap = cluster();
    assert_eq!(
        answer(&snap, &query("www.example.com.", RecordType::A)),
        Answer::Forward
    );
    assert_eq!(
        answer(&snap, &query("local.", RecordType::SOA)),
        Answer::Forward
    );
}

#[test]
fn until_the_first_sync_zone_queries_fail_rather_than_deny() {
    let snap = Snapshot::empty(&cfg());
    assert!(!snap.is_synced());
    let resp = ask(
        &snap,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        answer(&snap, &query("www.example.com.", RecordType::A)),
        Answer::Forward
    );
}

#[test]
fn malformed_or_unsupported_queries_get_the_matching_error() {
    let snap = cluster();
    let mut notify = query("cluster.local.", RecordType::SOA);
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(
        local(&snap, &notify).metadata.response_code,
        ResponseCode::NotImp
    );

    let mut two = query("kubernetes.default.svc.cluster.local.", RecordType::A);
    two.add_query(knet_dns::hickory_proto::op::Query::query(
        name("web.shop.svc.cluster.local."),
        RecordType::A,
    ));
    assert_eq!(
        local(&snap, &two).metadata.response_code,
        ResponseCode::FormErr
    );

    let mut chaos = query("kubernetes.default.svc.cluster.local.", RecordType::TXT);
    chaos.queries[0].query_class = DNSClass::CH;
    assert_eq!(
        local(&snap, &chaos).metadata.response_code,
        ResponseCode::Refused
    );

    let axfr = ask(&snap, "cluster.local.", RecordType::AXFR);
    assert_eq!(axfr.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn any_returns_every_record_of_the_name() {
    let resp = ask(&cluster(), "web.shop.svc.cluster.local.", RecordType::ANY);
    assert_eq!(
        ips(&resp.answers),
        vec![ip("192.0.2.10"), ip("2001:db8::10")]
    );
}

#[test]
fn replacing_the_snapshot_changes_the_soa_serial() {
    let state = knet_dns::DnsState::new(cfg()).unwrap();
    let before = state.snapshot().serial();
    state.update(&[mk_service("default", "a", &["192.0.2.4"], &[])], &[], &[]);
    let after = state.snapshot().serial();
    assert_ne!(before, after);
    let resp = ask(&state.snapshot(), "cluster.local.", RecordType::SOA);
    let RData::SOA(s) = &resp.answers[0].data else {
        panic!("not an SOA");
    };
    assert_eq!(s.serial, after);
}
