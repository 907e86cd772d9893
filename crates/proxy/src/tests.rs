use super::*;
use crate::nft::{Chain, Collection, chains, collections, element_text};

const CIDR: &str = "10.244.0.0/16";
const NODE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const POD: &str = "10.244.9.9";
const OUTSIDE: &str = "203.0.113.5";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn ep(a: &str, port: u16) -> Endpoint {
    Endpoint::new(ip(a), port)
}

fn local_ep(a: &str, port: u16) -> Endpoint {
    Endpoint {
        local: true,
        ..ep(a, port)
    }
}

fn mk_service(name: &str, cluster_ip: &str, node_port: Option<u16>) -> ServicePort {
    ServicePort {
        node_port,
        ..ServicePort::cluster_ip(
            format!("default/{name}:http"),
            ip(cluster_ip),
            80,
            Protocol::Tcp,
        )
    }
}

fn mk_snapshot(services: Vec<(ServicePort, Vec<Endpoint>)>) -> Snapshot {
    let mut s = Snapshot::new(CIDR.parse().expect("cidr"), vec![NODE]);
    for (sp, eps) in services {
        s.insert(sp, eps);
    }
    s
}

fn pkt(src: &str, dst: Ipv4Addr, dport: u16, random: u32) -> Packet {
    Packet {
        src: ip(src),
        dst,
        proto: Protocol::Tcp,
        dport,
        random,
    }
}

fn dnat(to: &str, port: u16, masquerade: bool) -> Verdict {
    Verdict::Dnat {
        to: (ip(to), port),
        masquerade,
    }
}

/// Where `count` new connections from `src` to `dst:dport` go, one per `numgen` value.
fn spread(r: &Ruleset, src: &str, dst: Ipv4Addr, dport: u16, count: u32) -> BTreeMap<Verdict, u32> {
    let mut seen = BTreeMap::new();
    for random in 0..count {
        *seen
            .entry(trace(r, &pkt(src, dst, dport, random)))
            .or_insert(0) += 1;
    }
    seen
}

fn three() -> Snapshot {
    mk_snapshot(vec![
        (
            mk_service("web", "10.96.0.20", Some(30080)),
            vec![
                ep("10.244.1.2", 8080),
                ep("10.244.2.3", 8080),
                ep("10.244.3.4", 8080),
            ],
        ),
        (
            mk_service("db", "10.96.0.30", None),
            vec![ep("10.244.1.9", 5432)],
        ),
        (mk_service("empty", "10.96.0.40", Some(30040)), vec![]),
    ])
}

/// A LoadBalancer Service at 198.51.100.7 (and externalIP 198.51.100.8) with node port 30090:
/// endpoints 10.244.0.5 (on this node), 10.244.2.6 and 10.244.3.7 (elsewhere).
fn lb(policy: TrafficPolicy, local_endpoint: bool) -> Snapshot {
    let sp = ServicePort {
        load_balancer_ips: vec![ip("198.51.100.7")],
        external_ips: vec![ip("198.51.100.8")],
        external_traffic_policy: policy,
        ..mk_service("lb", "10.96.0.50", Some(30090))
    };
    let mut eps = vec![ep("10.244.2.6", 8080), ep("10.244.3.7", 8080)];
    if local_endpoint {
        eps.push(local_ep("10.244.0.5", 8080));
    }
    mk_snapshot(vec![(sp, eps)])
}

/// Applies a transaction to the rendering model, the way nft would.
fn apply(
    mut cols: BTreeMap<String, Collection>,
    mut chs: BTreeMap<String, Chain>,
    tx: &Transaction,
) -> (BTreeMap<String, Collection>, BTreeMap<String, Chain>) {
    assert!(!tx.full, "expected an incremental transaction");
    for op in &tx.ops {
        match op {
            Op::AddChain { name, base } => {
                assert!(base.is_none());
                assert!(
                    chs.insert(
                        name.clone(),
                        Chain {
                            base: None,
                            rules: vec![]
                        }
                    )
                    .is_none()
                );
            }
            Op::AddCollection { name, map, spec } => {
                let c = Collection {
                    map: *map,
                    spec: spec.clone(),
                    elements: BTreeMap::new(),
                };
                assert!(cols.insert(name.clone(), c).is_none());
            }
            Op::AddRule { chain, rule } => chs
                .get_mut(chain)
                .expect("chain exists")
                .rules
                .push(rule.clone()),
            Op::DeleteElements { collection, keys } => {
                let c = cols.get_mut(collection).expect("collection exists");
                for k in keys {
                    assert!(
                        c.elements.remove(k).is_some(),
                        "deleting a missing element {k}"
                    );
                }
            }
            Op::AddElements {
                collection,
                elements,
            } => {
                let c = cols.get_mut(collection).expect("collection exists");
                for (k, v) in elements {
                    assert!(
                        c.elements.insert(k.clone(), v.clone()).is_none(),
                        "adding {k} twice"
                    );
                }
            }
            Op::FlushChain { name } => chs.get_mut(name).expect("chain exists").rules.clear(),
            Op::DeleteChain { name } => {
                assert!(chs.remove(name).is_some_and(|c| c.rules.is_empty()));
            }
            Op::DeleteCollection { name, .. } => assert!(cols.remove(name).is_some()),
            Op::AddTable | Op::DeleteTable => panic!("table op in an incremental transaction"),
        }
    }
    (cols, chs)
}

fn assert_applies(old: &Ruleset, new: &Ruleset) -> Transaction {
    let tx = transaction(old, new);
    let (cols, chs) = apply(collections(old), chains(old), &tx);
    assert_eq!((cols, chs), (collections(new), chains(new)));
    tx
}

fn element_ops(tx: &Transaction) -> Vec<String> {
    tx.ops
        .iter()
        .flat_map(|op| match op {
            Op::AddElements { elements, .. } => {
                elements.iter().map(|(k, v)| element_text(k, v)).collect()
            }
            Op::DeleteElements { keys, .. } => keys.clone(),
            _ => vec![],
        })
        .collect()
}

// --- cluster IPs ------------------------------------------------------------------------

#[test]
fn a_three_endpoint_cluster_ip_spreads_exactly_over_all_endpoints_without_masquerading_pods() {
    let r = compute(&three());
    let want: BTreeMap<_, _> = ["10.244.1.2", "10.244.2.3", "10.244.3.4"]
        .into_iter()
        .map(|a| (dnat(a, 8080, false), 100))
        .collect();
    assert_eq!(spread(&r, POD, ip("10.96.0.20"), 80, 300), want);
}

#[test]
fn traffic_from_the_node_or_outside_the_cluster_cidr_to_a_cluster_ip_is_masqueraded() {
    let r = compute(&three());
    for src in ["192.0.2.10", OUTSIDE] {
        assert_eq!(
            trace(&r, &pkt(src, ip("10.96.0.30"), 80, 0)),
            dnat("10.244.1.9", 5432, true),
            "from {src}"
        );
    }
}

#[test]
fn a_pod_reaching_itself_through_its_service_is_masqueraded() {
    let r = compute(&three());
    assert_eq!(
        trace(&r, &pkt("10.244.1.9", ip("10.96.0.30"), 80, 7)),
        dnat("10.244.1.9", 5432, true)
    );
    // Another pod of the same Service reaching it is not.
    assert_eq!(
        trace(&r, &pkt("10.244.1.2", ip("10.96.0.30"), 80, 7)),
        dnat("10.244.1.9", 5432, false)
    );
}

#[test]
fn a_service_without_ready_endpoints_is_rejected_on_every_destination() {
    let mut s = three();
    for (_, eps) in s.services.values_mut() {
        for e in eps.iter_mut() {
            e.ready = false;
        }
    }
    let r = compute(&s);
    assert_eq!(
        trace(&r, &pkt(POD, ip("10.96.0.20"), 80, 0)),
        Verdict::Reject
    );
    assert_eq!(
        trace(&r, &pkt(POD, ip("10.96.0.40"), 80, 0)),
        Verdict::Reject
    );
    assert_eq!(trace(&r, &pkt(OUTSIDE, NODE, 30040, 0)), Verdict::Reject);
    assert_eq!(trace(&r, &pkt(OUTSIDE, NODE, 30080, 0)), Verdict::Reject);
}

#[test]
fn serving_terminating_endpoints_are_used_only_when_none_is_ready() {
    let terminating = |a: &str, serving: bool| Endpoint {
        ready: false,
        serving,
        terminating: true,
        ..ep(a, 8080)
    };
    let sp = mk_service("web", "10.96.0.20", None);
    let with_ready = mk_snapshot(vec![(
        sp.clone(),
        vec![ep("10.244.1.2", 8080), terminating("10.244.1.3", true)],
    )]);
    assert_eq!(
        spread(&compute(&with_ready), POD, ip("10.96.0.20"), 80, 10),
        BTreeMap::from([(dnat("10.244.1.2", 8080, false), 10)])
    );
    let only_terminating = mk_snapshot(vec![(
        sp.clone(),
        vec![
            terminating("10.244.1.3", true),
            terminating("10.244.1.4", false),
        ],
    )]);
    assert_eq!(
        spread(&compute(&only_terminating), POD, ip("10.96.0.20"), 80, 10),
        BTreeMap::from([(dnat("10.244.1.3", 8080, false), 10)])
    );
    let not_serving = mk_snapshot(vec![(sp, vec![terminating("10.244.1.4", false)])]);
    assert_eq!(
        trace(&compute(&not_serving), &pkt(POD, ip("10.96.0.20"), 80, 0)),
        Verdict::Reject
    );
}

#[test]
fn other_traffic_is_accepted_untouched() {
    let r = compute(&three());
    assert_eq!(
        trace(&r, &pkt("10.244.1.2", ip("10.96.0.20"), 81, 0)),
        Verdict::Accept
    );
    assert_eq!(
        trace(&r, &pkt("10.244.1.2", ip("198.51.100.7"), 80, 0)),
        Verdict::Accept
    );
}

// --- internalTrafficPolicy ----------------------------------------------------------------

#[test]
fn internal_traffic_policy_local_uses_only_this_nodes_endpoints_and_drops_without_one() {
    let sp = ServicePort {
        internal_traffic_policy: TrafficPolicy::Local,
        ..mk_service("web", "10.96.0.20", None)
    };
    let s = mk_snapshot(vec![(
        sp.clone(),
        vec![
            ep("10.244.2.3", 8080),
            local_ep("10.244.0.4", 8080),
            local_ep("10.244.0.5", 8080),
        ],
    )]);
    let want: BTreeMap<_, _> = ["10.244.0.4", "10.244.0.5"]
        .into_iter()
        .map(|a| (dnat(a, 8080, false), 5))
        .collect();
    assert_eq!(spread(&compute(&s), POD, ip("10.96.0.20"), 80, 10), want);

    let remote_only = mk_snapshot(vec![(sp.clone(), vec![ep("10.244.2.3", 8080)])]);
    assert_eq!(
        trace(&compute(&remote_only), &pkt(POD, ip("10.96.0.20"), 80, 0)),
        Verdict::Drop
    );
    let none = mk_snapshot(vec![(sp, vec![])]);
    assert_eq!(
        trace(&compute(&none), &pkt(POD, ip("10.96.0.20"), 80, 0)),
        Verdict::Reject
    );
}

// --- node ports, LoadBalancer IPs, external IPs -------------------------------------------

#[test]
fn a_node_port_on_a_node_ip_is_dnatted_to_an_endpoint_and_masqueraded() {
    let r = compute(&three());
    assert_eq!(
        trace(&r, &pkt(OUTSIDE, NODE, 30080, 1)),
        dnat("10.244.2.3", 8080, true)
    );
    // Not a node address: not a NodePort.
    assert_eq!(
        trace(&r, &pkt(OUTSIDE, ip("198.51.100.1"), 30080, 1)),
        Verdict::Accept
    );
}

#[test]
fn load_balancer_and_external_ips_with_policy_cluster_balance_over_all_endpoints_masqueraded() {
    let r = compute(&lb(TrafficPolicy::Cluster, true));
    let want: BTreeMap<_, _> = ["10.244.0.5", "10.244.2.6", "10.244.3.7"]
        .into_iter()
        .map(|a| (dnat(a, 8080, true), 2))
        .collect();
    for dst in ["198.51.100.7", "198.51.100.8"] {
        assert_eq!(spread(&r, OUTSIDE, ip(dst), 80, 6), want, "{dst}");
    }
    assert_eq!(spread(&r, OUTSIDE, NODE, 30090, 6), want);
    // The LB IP only answers on the Service's port.
    assert_eq!(
        trace(&r, &pkt(OUTSIDE, ip("198.51.100.7"), 30090, 0)),
        Verdict::Accept
    );
}

#[test]
fn external_traffic_policy_local_keeps_the_client_address_and_uses_only_local_endpoints() {
    let r = compute(&lb(TrafficPolicy::Local, true));
    for (dst, port) in [
        (ip("198.51.100.7"), 80),
        (ip("198.51.100.8"), 80),
        (NODE, 30090),
    ] {
        assert_eq!(
            spread(&r, OUTSIDE, dst, port, 5),
            BTreeMap::from([(dnat("10.244.0.5", 8080, false), 5)]),
            "{dst}:{port}"
        );
    }
}

#[test]
fn external_traffic_policy_local_without_a_local_endpoint_drops_external_clients() {
    let r = compute(&lb(TrafficPolicy::Local, false));
    assert_eq!(
        trace(&r, &pkt(OUTSIDE, ip("198.51.100.7"), 80, 0)),
        Verdict::Drop
    );
    assert_eq!(trace(&r, &pkt(OUTSIDE, NODE, 30090, 0)), Verdict::Drop);
    // The cluster IP is not subject to the external policy.
    assert_eq!(
        trace(&r, &pkt(POD, ip("10.96.0.50"), 80, 0)),
        dnat("10.244.2.6", 8080, false)
    );
}

#[test]
fn pods_and_the_node_reaching_a_local_policy_load_balancer_ip_short_circuit_to_all_endpoints() {
    for local_endpoint in [true, false] {
        let r = compute(&lb(TrafficPolicy::Local, local_endpoint));
        let targets = |src: &str| {
            spread(&r, src, ip("198.51.100.7"), 80, 6)
                .into_keys()
                .collect::<Vec<_>>()
        };
        let mut all = vec!["10.244.2.6", "10.244.3.7"];
        if local_endpoint {
            all.insert(0, "10.244.0.5");
        }
        // Pods keep their address; the node is masqueraded (its source would be the LB IP).
        let from_pod: Vec<_> = all.iter().map(|a| dnat(a, 8080, false)).collect();
        let from_node: Vec<_> = all.iter().map(|a| dnat(a, 8080, true)).collect();
        assert_eq!(targets(POD), from_pod, "local endpoint: {local_endpoint}");
        assert_eq!(targets("192.0.2.10"), from_node);
    }
}

#[test]
fn a_load_balancer_ip_without_any_endpoint_is_rejected_whatever_the_policy() {
    for policy in [TrafficPolicy::Cluster, TrafficPolicy::Local] {
        let mut s = lb(policy, true);
        for (_, eps) in s.services.values_mut() {
            eps.clear();
        }
        let r = compute(&s);
        for src in [OUTSIDE, POD] {
            assert_eq!(
                trace(&r, &pkt(src, ip("198.51.100.7"), 80, 0)),
                Verdict::Reject
            );
        }
    }
}

// --- session affinity ----------------------------------------------------------------------

fn sticky(timeout: u32) -> Snapshot {
    let mut s = three();
    for (sp, _) in s.services.values_mut() {
        sp.session_affinity_timeout = Some(timeout);
    }
    s
}

#[test]
fn a_client_with_session_affinity_keeps_its_endpoint_whatever_numgen_draws() {
    let r = compute(&sticky(DEFAULT_AFFINITY_TIMEOUT));
    let mut table = AffinityTable::new();
    let vip = ip("10.96.0.20");
    let first = trace_with(&r, &pkt(POD, vip, 80, 2), &mut table);
    assert_eq!(first, dnat("10.244.3.4", 8080, false));
    for random in 0..30 {
        assert_eq!(
            trace_with(&r, &pkt(POD, vip, 80, random), &mut table),
            first
        );
    }
    // Another client is balanced on its own, and so is the same client on a node port.
    assert_eq!(
        trace_with(&r, &pkt("10.244.7.7", vip, 80, 0), &mut table),
        dnat("10.244.1.2", 8080, false)
    );
    assert_eq!(
        trace_with(&r, &pkt(POD, NODE, 30080, 1), &mut table),
        dnat("10.244.2.3", 8080, true)
    );
    assert_eq!(table.len(), 3);
    // Without affinity state every connection is balanced anew.
    assert_eq!(
        trace(&r, &pkt(POD, vip, 80, 0)),
        dnat("10.244.1.2", 8080, false)
    );
}

#[test]
fn affinity_expires_after_the_services_timeout_of_inactivity() {
    let r = compute(&sticky(60));
    let mut table = AffinityTable::new();
    let vip = ip("10.96.0.20");
    let first = trace_with(&r, &pkt(POD, vip, 80, 0), &mut table);
    // Each new connection refreshes the entry.
    for _ in 0..5 {
        table.advance(50);
        assert_eq!(trace_with(&r, &pkt(POD, vip, 80, 1), &mut table), first);
    }
    table.advance(60);
    assert!(table.is_empty());
    assert_eq!(
        trace_with(&r, &pkt(POD, vip, 80, 1), &mut table),
        dnat("10.244.2.3", 8080, false)
    );
}

#[test]
fn a_sticky_client_whose_endpoint_went_away_is_dropped_once_then_balanced_again() {
    let old = compute(&sticky(DEFAULT_AFFINITY_TIMEOUT));
    let mut table = AffinityTable::new();
    let vip = ip("10.96.0.20");
    assert_eq!(
        trace_with(&old, &pkt(POD, vip, 80, 2), &mut table),
        dnat("10.244.3.4", 8080, false)
    );
    let mut s = sticky(DEFAULT_AFFINITY_TIMEOUT);
    let key = ServicePortKey("default/web:http".into());
    s.services.get_mut(&key).expect("web").1.pop();
    let new = compute(&s);
    assert_eq!(
        trace_with(&new, &pkt(POD, vip, 80, 2), &mut table),
        Verdict::Drop
    );
    assert_eq!(
        trace_with(&new, &pkt(POD, vip, 80, 1), &mut table),
        dnat("10.244.2.3", 8080, false)
    );
    assert_eq!(
        trace_with(&new, &pkt(POD, vip, 80, 0), &mut table),
        dnat("10.244.2.3", 8080, false)
    );
}

// --- table shape and transactions ---------------------------------------------------------

fn many(count: u32) -> Snapshot {
    mk_snapshot(
        (0..count)
            .map(|i| {
                let [_, _, a, b] = (0x0a60_0000 + i).to_be_bytes();
                let mut sp = mk_service(
                    &format!("s{i}"),
                    &format!("10.96.{a}.{b}"),
                    // The node port range holds 2768 ports.
                    u16::try_from(i)
                        .ok()
                        .filter(|i| *i < 2700)
                        .map(|i| 30000 + i),
                );
                // A mix of every feature, with a bounded set of parameters.
                match i % 4 {
                    0 => sp.session_affinity_timeout = Some(10_800),
                    1 => {
                        sp.load_balancer_ips = vec![ip(&format!("198.51.{a}.{b}"))];
                        sp.external_traffic_policy = TrafficPolicy::Local;
                    }
                    2 => sp.internal_traffic_policy = TrafficPolicy::Local,
                    _ => sp.external_ips = vec![ip(&format!("203.0.{a}.{b}"))],
                }
                let eps = (0..3)
                    .map(|j| Endpoint {
                        local: j == 0,
                        ..ep(&format!("10.244.{a}.{}", (b as u32 * 3 + j) % 250), 8080)
                    })
                    .collect();
                (sp, eps)
            })
            .collect(),
    )
}

#[test]
fn the_rule_and_chain_count_is_the_same_at_10_and_at_10000_services() {
    let (small, large) = (compute(&many(10)), compute(&many(10_000)));
    assert_eq!(large.conflicts().len(), 0, "{:?}", large.conflicts().next());
    assert_eq!(small.chain_count(), large.chain_count());
    assert_eq!(small.rule_count(), large.rule_count());
    assert!(large.element_count() > 50_000);
}

#[test]
fn a_change_to_one_services_endpoints_touches_only_that_services_elements() {
    let old_s = sticky(DEFAULT_AFFINITY_TIMEOUT);
    let mut new_s = old_s.clone();
    let key = ServicePortKey("default/web:http".into());
    new_s.services.get_mut(&key).expect("web").1[2] = ep("10.244.3.5", 8080);
    let (old, new) = (compute(&old_s), compute(&new_s));
    let tx = assert_applies(&old, &new);
    let elements = element_ops(&tx);
    assert!(!elements.is_empty());
    for e in &elements {
        assert!(
            e.contains("10.96.0.20") || e.contains("30080") || e.contains("10.244.3."),
            "{e} is not web's"
        );
    }
    assert!(
        tx.ops
            .iter()
            .all(|op| matches!(op, Op::AddElements { .. } | Op::DeleteElements { .. }))
    );
    assert!(diff(&old, &new).contains("10.244.3.5 . 8080"));
}

#[test]
fn scaling_a_service_to_a_new_endpoint_count_adds_and_removes_its_chain_and_map() {
    let old_s = three();
    let mut new_s = old_s.clone();
    let key = ServicePortKey("default/web:http".into());
    new_s
        .services
        .get_mut(&key)
        .expect("web")
        .1
        .push(ep("10.244.4.4", 8080));
    let (old, new) = (compute(&old_s), compute(&new_s));
    assert_applies(&old, &new);
    assert!(chains(&new).contains_key("lb-4") && !chains(&new).contains_key("lb-3"));
    assert_eq!(spread(&new, POD, ip("10.96.0.20"), 80, 4).len(), 4);
}

#[test]
fn a_new_affinity_timeout_or_local_policy_adds_its_chains_incrementally() {
    let old = compute(&three());
    let mut s = three();
    let key = ServicePortKey("default/db:http".into());
    {
        let (sp, eps) = s.services.get_mut(&key).expect("db");
        sp.session_affinity_timeout = Some(60);
        sp.internal_traffic_policy = TrafficPolicy::Local;
        eps[0].local = true;
    }
    let new = compute(&s);
    let tx = assert_applies(&old, &new);
    assert!(!tx.full);
    let added: Vec<&str> = tx
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::AddChain { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(added, ["affinity-60", "local-lb-1"]);
    // And back: the chains go again.
    let tx = assert_applies(&new, &old);
    let deleted: Vec<&str> = tx
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::DeleteChain { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, ["affinity-60", "local-lb-1"]);
}

#[test]
fn removing_a_service_removes_every_element_it_had() {
    let old_s = sticky(DEFAULT_AFFINITY_TIMEOUT);
    let mut new_s = old_s.clone();
    new_s
        .services
        .remove(&ServicePortKey("default/web:http".into()));
    let (old, new) = (compute(&old_s), compute(&new_s));
    assert_applies(&old, &new);
    for c in collections(&new).values() {
        for (k, v) in &c.elements {
            let e = element_text(k, v);
            assert!(!e.contains("10.96.0.20") && !e.contains("30080") && !e.contains("10.244.2.3"));
        }
    }
    assert_eq!(
        trace(&new, &pkt(POD, ip("10.96.0.20"), 80, 0)),
        Verdict::Accept
    );
    // service-ips, cluster-lb, backends-3 and affinity-timeouts, affinity-backends for the
    // cluster IP and the node port; the endpoints' hairpin entries.
    assert_eq!(
        old.element_count() - new.element_count(),
        2 * (1 + 1 + 3 + 1 + 3) + 3
    );
}

#[test]
fn an_unchanged_snapshot_yields_an_empty_diff() {
    let r = compute(&lb(TrafficPolicy::Local, true));
    assert_eq!(diff(&r, &r), "");
}

#[test]
fn a_changed_cluster_cidr_falls_back_to_a_full_sync() {
    let old = compute(&three());
    let mut s = three();
    s.cluster_cidr = "10.200.0.0/16".parse().expect("cidr");
    let tx = transaction(&old, &compute(&s));
    assert!(tx.full);
}

#[test]
fn the_full_script_creates_chains_before_maps_before_elements_before_rules() {
    let s = render_full(&compute(&sticky(DEFAULT_AFFINITY_TIMEOUT)));
    let pos = |needle: &str| {
        s.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{s}"))
    };
    assert!(s.starts_with("add table ip knet-proxy\ndelete table ip knet-proxy\n"));
    assert!(pos("add chain ip knet-proxy lb-3") < pos("add map ip knet-proxy service-ips"));
    assert!(pos("add map ip knet-proxy backends-3") < pos("add element ip knet-proxy backends-3"));
    assert!(pos("add element ip knet-proxy cluster-lb") < pos("add rule ip knet-proxy lb-3"));
    assert!(
        pos("add chain ip knet-proxy affinity-10800")
            < pos("add element ip knet-proxy affinity-timeouts")
    );
}

// --- conflicts -------------------------------------------------------------------------------

#[test]
fn a_destination_claimed_twice_goes_to_the_first_service_port_and_is_reported() {
    let mut s = three();
    // Same cluster IP and port as web: left out entirely.
    s.insert(
        mk_service("xdup", "10.96.0.20", None),
        vec![ep("10.244.5.5", 80)],
    );
    // Same node port as web: only the node port is left out.
    s.insert(
        mk_service("xnp", "10.96.0.60", Some(30080)),
        vec![ep("10.244.6.6", 80)],
    );
    // An external IP on a node address and port that web's node port owns.
    s.insert(
        ServicePort {
            external_ips: vec![NODE],
            port: 30080,
            ..mk_service("xext", "10.96.0.70", None)
        },
        vec![ep("10.244.7.7", 80)],
    );
    let r = compute(&s);
    assert_eq!(
        r.conflicts().cloned().collect::<Vec<_>>(),
        [
            Conflict::ClusterIp {
                service: "default/xdup:http".into(),
                ip: ip("10.96.0.20"),
                port: 80,
                protocol: Protocol::Tcp
            },
            Conflict::NodePort {
                service: "default/xnp:http".into(),
                port: 30080,
                protocol: Protocol::Tcp
            },
            Conflict::External {
                service: "default/xext:http".into(),
                ip: NODE,
                port: 30080,
                protocol: Protocol::Tcp
            },
        ]
    );
    assert_eq!(
        trace(&r, &pkt(OUTSIDE, NODE, 30080, 0)),
        dnat("10.244.1.2", 8080, true)
    );
    assert_eq!(
        trace(&r, &pkt(POD, ip("10.96.0.60"), 80, 0)),
        dnat("10.244.6.6", 80, false)
    );
}

/// Random snapshots over a small universe (shared endpoint addresses, endpoint counts that come
/// and go, local endpoints, policies, affinity, no endpoints): every incremental transaction
/// between two of them, applied to the old table, gives exactly the new table.
#[test]
fn incremental_transactions_between_random_snapshots_reach_the_new_table() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let random_snapshot = |next: &mut dyn FnMut(u64) -> u64| {
        let mut services = Vec::new();
        for s in 0..6u8 {
            if next(5) == 0 {
                continue;
            }
            let policy = |x| {
                if x == 0 {
                    TrafficPolicy::Local
                } else {
                    TrafficPolicy::Cluster
                }
            };
            let sp = ServicePort {
                session_affinity_timeout: (next(3) == 0).then_some(30 + 30 * next(2) as u32),
                external_traffic_policy: policy(next(2)),
                internal_traffic_policy: policy(next(3)),
                load_balancer_ips: if next(2) == 0 {
                    vec![Ipv4Addr::new(198, 51, 100, s)]
                } else {
                    vec![]
                },
                ..mk_service(
                    &format!("s{s}"),
                    &format!("10.96.0.{}", 10 + s),
                    (next(2) == 0).then_some(30000 + u16::from(s)),
                )
            };
            let eps = (0..next(5))
                .map(|_| Endpoint {
                    local: next(2) == 0,
                    ..ep(&format!("10.244.1.{}", 2 + next(6)), 8080)
                })
                .collect();
            services.push((sp, eps));
        }
        compute(&mk_snapshot(services))
    };
    let mut tables = vec![random_snapshot(&mut next)];
    for _ in 0..300 {
        let new = random_snapshot(&mut next);
        let old = tables.last().expect("one table");
        let tx = transaction(old, &new);
        if !tx.full {
            assert_applies(old, &new);
        }
        tables.push(new);
    }
}

// --- the incremental path (Proxier) ----------------------------------------------------------

/// A xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

const NODE2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

/// A random Service port over a small universe where everything collides sometimes: shared
/// cluster IPs, a cluster IP on a node address, node ports shared or equal to a Service port,
/// external IPs equal to cluster IPs or node addresses, listed twice; endpoint counts that
/// come and go, local and terminating endpoints, both policies, two affinity timeouts.
fn random_port(rng: &mut Rng, key: &ServicePortKey) -> (ServicePort, Vec<Endpoint>) {
    let cluster_ips = [ip("10.96.0.10"), ip("10.96.0.11"), ip("10.96.0.12"), NODE];
    let externals = [
        ip("198.51.100.1"),
        ip("198.51.100.2"),
        ip("10.96.0.10"),
        NODE2,
    ];
    let policy = |rng: &mut Rng| {
        if rng.chance(2) {
            TrafficPolicy::Local
        } else {
            TrafficPolicy::Cluster
        }
    };
    let cluster_ip = if rng.chance(6) {
        NODE
    } else {
        rng.pick(&cluster_ips[..3])
    };
    let sp = ServicePort {
        cluster_ip,
        port: rng.pick(&[80, 81]),
        protocol: if rng.chance(5) {
            Protocol::Udp
        } else {
            Protocol::Tcp
        },
        node_port: rng.chance(2).then(|| rng.pick(&[30000, 30001, 80])),
        session_affinity_timeout: rng.chance(3).then(|| rng.pick(&[30, 60])),
        service: key.0.clone(),
        external_ips: (0..rng.below(3)).map(|_| rng.pick(&externals)).collect(),
        load_balancer_ips: (0..rng.below(2)).map(|_| rng.pick(&externals)).collect(),
        external_traffic_policy: policy(rng),
        internal_traffic_policy: policy(rng),
        health_check_node_port: rng.chance(3).then(|| rng.pick(&[31000, 31001])),
    };
    let eps = (0..rng.below(5))
        .map(|_| {
            let ready = !rng.chance(4);
            Endpoint {
                ip: Ipv4Addr::new(10, 244, 1, 2 + rng.below(6) as u8),
                port: rng.pick(&[8080, 8081]),
                ready,
                local: rng.chance(2),
                serving: ready || rng.chance(2),
                terminating: !ready && rng.chance(2),
            }
        })
        .collect();
    (sp, eps)
}

fn random_key(rng: &mut Rng) -> ServicePortKey {
    ServicePortKey::new(
        "default",
        &format!("s{}", rng.below(6)),
        &format!("p{}", rng.below(2)),
    )
}

/// Random sequences of changes (1 to 3 Service ports added, changed or removed at a time, now
/// and then with unchanged ports among the changed, the node's addresses or the cluster CIDR
/// changed): after every step the proxier's table is exactly `compute`'s for the new snapshot,
/// its transaction turns the old table into the new one, and the health checks follow.
#[test]
fn the_incremental_table_always_equals_compute_and_its_transactions_reach_it() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut s = Snapshot::new(CIDR.parse().expect("cidr"), vec![NODE, NODE2]);
    let mut proxier = Proxier::new();
    let mut hc = HealthChecks::new();
    let tx = proxier.full(&s);
    assert!(tx.full);
    let mut old = compute(&s);
    let (mut partial, mut with_conflicts) = (0, 0);
    for step in 0..3000 {
        let mut changed = BTreeSet::new();
        for _ in 0..1 + rng.below(3) {
            let key = random_key(&mut rng);
            if rng.chance(4) {
                s.services.remove(&key);
            } else {
                let (sp, eps) = random_port(&mut rng, &key);
                s.services.insert(key.clone(), (sp, eps));
            }
            changed.insert(key);
        }
        if rng.chance(10) {
            changed.insert(random_key(&mut rng));
        }
        let mut expect_full = false;
        if rng.chance(60) {
            s.node_ips = if s.node_ips.len() == 2 {
                vec![NODE]
            } else {
                vec![NODE, NODE2]
            };
            expect_full = true;
        }
        let tx = proxier.update(&s, &changed);
        let new = compute(&s);
        let got = proxier.ruleset().expect("a table");
        assert_eq!(got, &new, "step {step}: changed {changed:?}");
        assert_eq!(tx.full, expect_full, "step {step}");
        if !tx.full {
            let (cols, chs) = apply(collections(&old), chains(&old), &tx);
            assert_eq!(
                (cols, chs),
                (collections(&new), chains(&new)),
                "step {step}: changed {changed:?}\n{}",
                tx.render()
            );
            partial += 1;
        }
        for key in &changed {
            let (ns, name) = key.service();
            hc.update(&s, ns, name);
        }
        if expect_full {
            hc.rebuild(&s);
        }
        assert_eq!(hc.all(), health_check_node_ports(&s), "step {step}");
        with_conflicts += usize::from(new.conflicts().len() > 0);
        old = new;
    }
    // The universe is small enough that conflicts are frequent, and most steps are partial.
    assert!(
        with_conflicts > 500,
        "{with_conflicts} steps with conflicts"
    );
    assert!(partial > 2500, "{partial} partial steps");
}

#[test]
fn an_unchanged_port_in_the_changed_set_yields_an_empty_transaction() {
    let s = three();
    let mut proxier = Proxier::new();
    proxier.full(&s);
    let key = ServicePortKey("default/web:http".into());
    let tx = proxier.update(&s, &BTreeSet::from([key]));
    assert!(!tx.full);
    assert_eq!(tx.render(), "");
}

#[test]
fn a_changed_cluster_cidr_makes_the_proxier_recreate_the_table() {
    let mut s = three();
    let mut proxier = Proxier::new();
    proxier.full(&s);
    s.cluster_cidr = "10.200.0.0/16".parse().expect("cidr");
    let tx = proxier.update(&s, &BTreeSet::new());
    assert!(tx.full);
    assert_eq!(proxier.ruleset(), Some(&compute(&s)));
}

/// At 10,000 Services a changed Service costs what it touches: its own destinations' elements,
/// a handful of them, and no chain or map.
#[test]
fn one_changed_service_among_10000_touches_only_its_own_destinations() {
    let mut s = many(10_000);
    let mut proxier = Proxier::new();
    proxier.full(&s);
    // Service 1000: session affinity, node port 31000.
    let key = ServicePortKey("default/s1000:http".into());
    let (sp, eps) = s.services.get_mut(&key).expect("s1000");
    eps[1].ip = ip("10.244.200.200");
    let vip = sp.cluster_ip.to_string();
    let changes = proxier.apply(&s, &BTreeSet::from([key]));
    // Its cluster IP and its node port.
    assert_eq!(changes.destinations(), 2);
    let tx = proxier.transaction(&changes);
    assert!(
        tx.ops
            .iter()
            .all(|op| matches!(op, Op::AddElements { .. } | Op::DeleteElements { .. }))
    );
    for e in element_ops(&tx) {
        assert!(
            e.contains(&format!("{vip} . ")) || e.contains(" . 31000") || e.starts_with("10.244."),
            "{e} is not s1000's"
        );
    }
    assert!(tx.render().contains("10.244.200.200 . 8080"));
    assert_eq!(proxier.ruleset(), Some(&compute(&s)));
}

#[test]
fn replacing_a_services_ports_reports_only_the_ports_that_changed() {
    let mut s = Snapshot::new(CIDR.parse().expect("cidr"), vec![NODE]);
    let port = |name: &str, p: u16| {
        let key = ServicePortKey::new("default", "web", name);
        let sp = ServicePort::cluster_ip(key.0.clone(), ip("10.96.0.20"), p, Protocol::Tcp);
        (key, (sp, vec![ep("10.244.1.2", 8080)]))
    };
    // A neighbour whose name extends web's: not one of web's ports.
    s.insert(
        mk_service("web-2", "10.96.0.21", None),
        vec![ep("10.244.1.3", 80)],
    );
    let first = s.replace_service("default", "web", [port("http", 80), port("https", 443)]);
    assert_eq!(first.len(), 2);
    let second = s.replace_service("default", "web", [port("http", 80), port("admin", 8443)]);
    let keys = |names: &[&str]| -> BTreeSet<ServicePortKey> {
        names
            .iter()
            .map(|n| ServicePortKey::new("default", "web", n))
            .collect()
    };
    assert_eq!(second, keys(&["admin", "https"]));
    assert_eq!(
        s.service_keys("default", "web")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        keys(&["admin", "http"])
    );
    assert_eq!(
        s.replace_service("default", "web", []),
        keys(&["admin", "http"])
    );
    assert_eq!(s.services.len(), 1);
}
