use super::*;

const CIDR: &str = "10.244.0.0/16";
const NODE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn ep(a: &str, port: u16) -> Endpoint {
    Endpoint {
        ip: ip(a),
        port,
        ready: true,
        local: false,
    }
}

fn mk_service(name: &str, cluster_ip: &str, node_port: Option<u16>) -> ServicePort {
    ServicePort {
        cluster_ip: ip(cluster_ip),
        port: 80,
        protocol: Protocol::Tcp,
        node_port,
        session_affinity_timeout: None,
        service: format!("default/{name}:http"),
    }
}

fn mk_snapshot(services: Vec<(ServicePort, Vec<Endpoint>)>) -> Snapshot {
    Snapshot {
        services: services
            .into_iter()
            .map(|(sp, eps)| (ServicePortKey(sp.service.clone()), (sp, eps)))
            .collect(),
        cluster_cidr: CIDR.parse().expect("cidr"),
        node_ips: vec![NODE],
    }
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

#[test]
fn a_three_endpoint_cluster_ip_spreads_over_all_endpoints() {
    let r = compute(&three());
    let mut seen = BTreeMap::new();
    for random in 0..300u32 {
        match trace(&r, &pkt("10.244.9.9", ip("10.96.0.20"), 80, random)) {
            Verdict::Dnat {
                to,
                masquerade: false,
            } => *seen.entry(to).or_insert(0) += 1,
            v => panic!("unexpected {v:?}"),
        }
    }
    let want: BTreeMap<_, _> = [
        ("10.244.1.2", 100),
        ("10.244.2.3", 100),
        ("10.244.3.4", 100),
    ]
    .into_iter()
    .map(|(a, c)| ((ip(a), 8080), c))
    .collect();
    assert_eq!(seen, want, "balance must be exact");
}

#[test]
fn a_service_without_ready_endpoints_is_rejected() {
    let mut s = three();
    for (_, eps) in s.services.values_mut() {
        for e in eps.iter_mut() {
            e.ready = false;
        }
    }
    let r = compute(&s);
    assert_eq!(
        trace(&r, &pkt("10.244.9.9", ip("10.96.0.20"), 80, 0)),
        Verdict::Reject
    );
    assert_eq!(
        trace(&r, &pkt("10.244.9.9", ip("10.96.0.40"), 80, 0)),
        Verdict::Reject
    );
    assert_eq!(
        trace(&r, &pkt("203.0.113.5", NODE, 30040, 0)),
        Verdict::Reject
    );
}

#[test]
fn a_pod_reaching_itself_through_its_service_is_masqueraded() {
    let r = compute(&three());
    assert_eq!(
        trace(&r, &pkt("10.244.1.9", ip("10.96.0.30"), 80, 7)),
        Verdict::Dnat {
            to: (ip("10.244.1.9"), 5432),
            masquerade: true
        }
    );
}

#[test]
fn traffic_from_outside_the_cluster_cidr_is_masqueraded() {
    let r = compute(&three());
    assert_eq!(
        trace(&r, &pkt("192.0.2.10", ip("10.96.0.30"), 80, 0)),
        Verdict::Dnat {
            to: (ip("10.244.1.9"), 5432),
            masquerade: true
        }
    );
}

#[test]
fn a_node_port_on_a_node_ip_is_dnatted_to_an_endpoint() {
    let r = compute(&three());
    let v = trace(&r, &pkt("203.0.113.5", NODE, 30080, 1));
    assert_eq!(
        v,
        Verdict::Dnat {
            to: (ip("10.244.2.3"), 8080),
            masquerade: true
        }
    );
    // Not a node address: not a NodePort.
    assert_eq!(
        trace(&r, &pkt("203.0.113.5", ip("198.51.100.1"), 30080, 1)),
        Verdict::Accept
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

#[test]
fn a_change_to_one_services_endpoints_touches_only_that_services_elements() {
    let old_s = three();
    let mut new_s = old_s.clone();
    let key = ServicePortKey("default/web:http".into());
    new_s.services.get_mut(&key).expect("web").1[2] = ep("10.244.3.5", 8080);
    let (old, new) = (compute(&old_s), compute(&new_s));
    let tx = transaction(&old, &new);
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
    let (cols, chs) = apply(collections(&old), chains(&old), &tx);
    assert_eq!((cols, chs), (collections(&new), chains(&new)));
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
    let tx = transaction(&old, &new);
    let (cols, chs) = apply(collections(&old), chains(&old), &tx);
    assert_eq!((cols, chs), (collections(&new), chains(&new)));
    assert!(chains(&new).contains_key("lb-4") && !chains(&new).contains_key("lb-3"));
    let r = new;
    let hits: BTreeSet<_> = (0..4)
        .map(|i| trace(&r, &pkt("10.244.9.9", ip("10.96.0.20"), 80, i)))
        .collect();
    assert_eq!(hits.len(), 4);
}

#[test]
fn removing_a_service_removes_every_element_it_had() {
    let old_s = three();
    let mut new_s = old_s.clone();
    new_s
        .services
        .remove(&ServicePortKey("default/web:http".into()));
    let (old, new) = (compute(&old_s), compute(&new_s));
    let tx = transaction(&old, &new);
    let (cols, chs) = apply(collections(&old), chains(&old), &tx);
    assert_eq!((cols.clone(), chs), (collections(&new), chains(&new)));
    for c in cols.values() {
        for (k, v) in &c.elements {
            let e = element_text(k, v);
            assert!(!e.contains("10.96.0.20") && !e.contains("30080") && !e.contains("10.244.2.3"));
        }
    }
    assert_eq!(
        trace(&new, &pkt("10.244.9.9", ip("10.96.0.20"), 80, 0)),
        Verdict::Accept
    );
    assert_eq!(old.element_count() - new.element_count(), 1 + 1 + 3 + 3 + 3);
}

#[test]
fn an_unchanged_snapshot_yields_an_empty_diff() {
    let r = compute(&three());
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

fn many(count: u32) -> Snapshot {
    mk_snapshot(
        (0..count)
            .map(|i| {
                let [_, _, a, b] = (0x0a60_0000 + i).to_be_bytes();
                let sp = mk_service(
                    &format!("s{i}"),
                    &format!("10.96.{a}.{b}"),
                    Some(30000 + (i % 2700) as u16),
                );
                let eps = (0..3)
                    .map(|j| ep(&format!("10.244.{a}.{}", (b as u32 * 3 + j) % 250), 8080))
                    .collect();
                (sp, eps)
            })
            .collect(),
    )
}

#[test]
fn the_rule_and_chain_count_is_the_same_at_10_and_at_10000_services() {
    let (small, large) = (compute(&many(10)), compute(&many(10_000)));
    assert_eq!(small.chain_count(), large.chain_count());
    assert_eq!(small.rule_count(), large.rule_count());
    assert!(large.element_count() > 30_000);
}

#[test]
fn the_full_script_creates_chains_before_maps_before_elements_before_rules() {
    let s = render_full(&compute(&three()));
    let pos = |needle: &str| {
        s.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{s}"))
    };
    assert!(s.starts_with("add table ip knet-proxy\ndelete table ip knet-proxy\n"));
    assert!(pos("add chain ip knet-proxy lb-3") < pos("add map ip knet-proxy service-ips"));
    assert!(pos("add map ip knet-proxy backends-3") < pos("add element ip knet-proxy backends-3"));
    assert!(pos("add element ip knet-proxy service-ips") < pos("add rule ip knet-proxy lb-3"));
}
