use super::*;
use crate::testutil::{
    NodeExt, PodExt, ServiceExt, labels, mk_endpoint_pod, mk_node, mk_pod, mk_service, svc_port,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

const WEB: &[(&str, &str)] = &[("app", "web")];

fn nodes() -> Vec<Node> {
    vec![
        mk_node("node-a", 0).with_labels(&[(LABEL_ZONE, "zone-1")]),
        mk_node("node-b", 0),
    ]
}

fn web() -> Service {
    mk_service("default", "web", WEB)
}

fn pod(name: &str, ip: &str) -> Pod {
    mk_endpoint_pod("default", name, ip, "node-a").with_labels(WEB)
}

fn arcs<T: Clone>(items: &[T]) -> Vec<Arc<T>> {
    items.iter().cloned().map(Arc::new).collect()
}

fn run_with(
    services: &[Service],
    pods: &[Pod],
    slices: &[EndpointSlice],
    nodes: &[Node],
    max: usize,
) -> Plan {
    let (services, pods, slices, nodes) = (arcs(services), arcs(pods), arcs(slices), arcs(nodes));
    reconcile_endpoint_slices(&EndpointSliceSnapshot {
        services: &services,
        pods: &pods,
        nodes: &nodes,
        slices: &slices,
        max_endpoints_per_slice: max,
    })
}

fn run(services: &[Service], pods: &[Pod], slices: &[EndpointSlice]) -> Plan {
    run_with(services, pods, slices, &nodes(), 100)
}

/// Applies a plan as the API server would: creates get a uid and resourceVersion
/// 1, updates bump the resourceVersion, deletes remove.
fn apply(slices: &mut Vec<EndpointSlice>, plan: &Plan) {
    for action in plan.actions() {
        match action {
            Action::CreateEndpointSlice(es) => {
                let mut es = (**es).clone();
                let name = es.metadata.name.clone().unwrap();
                assert!(
                    !slices
                        .iter()
                        .any(|s| s.metadata.name.as_deref() == Some(&name)),
                    "name {name} is taken"
                );
                es.metadata.uid = Some(format!("uid-{name}"));
                es.metadata.resource_version = Some("1".into());
                slices.push(es);
            }
            Action::ReplaceEndpointSlice(es) => {
                let slot = slices
                    .iter_mut()
                    .find(|s| s.metadata.name == es.metadata.name)
                    .expect("updated slice exists");
                assert_eq!(slot.metadata.resource_version, es.metadata.resource_version);
                let rv: u64 = slot
                    .metadata
                    .resource_version
                    .as_deref()
                    .unwrap()
                    .parse()
                    .unwrap();
                *slot = (**es).clone();
                slot.metadata.resource_version = Some((rv + 1).to_string());
            }
            Action::Delete { target, uid, .. } => {
                assert_eq!(target.resource.kind, "EndpointSlice");
                slices.retain(|s| {
                    !(s.metadata.name.as_deref() == Some(target.name.as_str())
                        && (uid.is_none() || s.metadata.uid == *uid))
                });
            }
            other => panic!("unexpected action {other:?}"),
        }
    }
}

/// Reconciles and applies until nothing changes; returns the slices.
fn converge(
    services: &[Service],
    pods: &[Pod],
    mut slices: Vec<EndpointSlice>,
) -> Vec<EndpointSlice> {
    for _ in 0..5 {
        let plan = run(services, pods, &slices);
        if plan.is_empty() {
            return slices;
        }
        apply(&mut slices, &plan);
    }
    panic!("no steady state: {slices:#?}");
}

fn creates(plan: &Plan) -> Vec<&EndpointSlice> {
    plan.actions()
        .filter_map(|a| match a {
            Action::CreateEndpointSlice(es) => Some(es.as_ref()),
            _ => None,
        })
        .collect()
}

fn ops(plan: &Plan) -> Vec<String> {
    plan.actions()
        .map(|a| match a {
            Action::CreateEndpointSlice(es) => {
                format!("create {}", es.metadata.name.as_deref().unwrap_or_default())
            }
            Action::ReplaceEndpointSlice(es) => {
                format!("update {}", es.metadata.name.as_deref().unwrap_or_default())
            }
            Action::Delete { target, .. } => format!("delete {}", target.name),
            other => format!("{other:?}"),
        })
        .collect()
}

fn pod_names(slice: &EndpointSlice) -> Vec<String> {
    slice
        .endpoints
        .iter()
        .map(|e| e.target_ref.as_ref().unwrap().name.clone().unwrap())
        .collect()
}

fn endpoint<'a>(slices: &'a [EndpointSlice], pod: &str) -> &'a Endpoint {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .find(|e| e.target_ref.as_ref().and_then(|r| r.name.as_deref()) == Some(pod))
        .unwrap_or_else(|| panic!("no endpoint for {pod}"))
}

fn conditions(ep: &Endpoint) -> (bool, bool, bool) {
    let c = ep.conditions.as_ref().unwrap();
    (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
}

fn port_numbers(slice: &EndpointSlice) -> Vec<i32> {
    slice
        .ports
        .iter()
        .flatten()
        .map(|p| p.port.unwrap())
        .collect()
}

#[test]
fn a_service_gets_a_slice_listing_the_pods_that_carry_all_its_selector_labels() {
    let svc = mk_service("default", "web", &[("app", "web"), ("tier", "front")])
        .with_labels(&[("team", "shop")]);
    let both = &[("app", "web"), ("tier", "front")];
    let pods = vec![
        pod("a", "192.0.2.1").with_labels(&[("tier", "front"), ("extra", "fine")]),
        pod("b", "192.0.2.2"),
        mk_endpoint_pod("other", "c", "192.0.2.3", "node-a").with_labels(both),
        mk_endpoint_pod("default", "d", "192.0.2.4", "node-b")
            .with_labels(both)
            .with_hostname("d", "web"),
        mk_endpoint_pod("default", "e", "192.0.2.5", "node-b")
            .with_labels(both)
            .with_hostname("e", "elsewhere"),
    ];
    let plan = run(&[svc], &pods, &[]);
    assert_eq!(plan.groups.len(), 1);
    assert_eq!(plan.groups[0].key, "EndpointSlices default/web");
    let made = creates(&plan);
    assert_eq!(made.len(), 1, "{plan:#?}");
    let es = made[0];
    let name = es.metadata.name.as_deref().unwrap();
    assert!(
        name.starts_with("web-") && name.len() == "web-".len() + 5,
        "{name}"
    );
    assert_eq!(es.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(es.address_type, "IPv4");
    assert_eq!(
        es.metadata.labels,
        Some(labels(&[
            ("team", "shop"),
            (LABEL_SERVICE_NAME, "web"),
            (LABEL_MANAGED_BY, CONTROLLER_NAME),
        ]))
    );
    let owner = &es.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str()
        ),
        ("v1", "Service", "web", "uid-web")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(
        es.ports,
        Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            app_protocol: None,
        }])
    );
    assert_eq!(pod_names(es), ["a", "d", "e"]);
    let a = &es.endpoints[0];
    assert_eq!(a.addresses, ["192.0.2.1"]);
    assert_eq!(conditions(a), (true, true, false));
    assert_eq!(a.node_name.as_deref(), Some("node-a"));
    assert_eq!(a.zone.as_deref(), Some("zone-1"));
    assert_eq!(a.hostname, None);
    assert_eq!(
        a.target_ref,
        Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: Some("default".into()),
            name: Some("a".into()),
            uid: Some("uid-a".into()),
            ..ObjectReference::default()
        })
    );
    let d = &es.endpoints[1];
    assert_eq!(d.zone, None, "node-b has no zone label");
    assert_eq!(
        d.hostname.as_deref(),
        Some("d"),
        "subdomain names the service"
    );
    assert_eq!(
        es.endpoints[2].hostname, None,
        "subdomain names another service"
    );
}

#[test]
fn a_not_ready_pod_is_listed_as_neither_ready_nor_serving() {
    let starting = mk_pod("default", "a")
        .on_node("node-a")
        .phase("Running")
        .with_ip("192.0.2.1")
        .with_labels(WEB);
    let slices = converge(&[web()], &[starting], vec![]);
    assert_eq!(conditions(endpoint(&slices, "a")), (false, false, false));
}

#[test]
fn a_terminating_pod_is_not_ready_but_keeps_serving() {
    let slices = converge(&[web()], &[pod("a", "192.0.2.1").deleting()], vec![]);
    assert_eq!(conditions(endpoint(&slices, "a")), (false, true, true));
}

#[test]
fn publishing_not_ready_addresses_marks_every_endpoint_ready() {
    let starting = mk_pod("default", "a")
        .on_node("node-a")
        .phase("Running")
        .with_ip("192.0.2.1")
        .with_labels(WEB);
    let pods = [starting, pod("b", "192.0.2.2").deleting()];
    let slices = converge(&[web().publish_not_ready()], &pods, vec![]);
    assert_eq!(conditions(endpoint(&slices, "a")), (true, false, false));
    assert_eq!(conditions(endpoint(&slices, "b")), (true, true, true));
}

#[test]
fn a_service_without_usable_pods_gets_one_empty_placeholder_slice() {
    let pods = vec![
        mk_pod("default", "no-ip")
            .on_node("node-a")
            .ready_since(0)
            .with_labels(WEB),
        pod("done", "192.0.2.2").phase("Succeeded"),
        pod("failed", "192.0.2.3").phase("Failed"),
    ];
    let plan = run(&[web()], &pods, &[]);
    let made = creates(&plan);
    assert_eq!(made.len(), 1, "{plan:#?}");
    assert!(made[0].endpoints.is_empty());
    assert_eq!(made[0].ports, Some(vec![]));
    assert_eq!(
        labels_of(&made[0].metadata)
            .get(LABEL_SERVICE_NAME)
            .map(String::as_str),
        Some("web")
    );
    // The placeholder is kept as is.
    let slices = converge(&[web()], &pods, vec![]);
    assert_eq!(slices.len(), 1);
    assert!(run(&[web()], &pods, &slices).is_empty());
}

#[test]
fn the_placeholder_is_updated_in_place_when_pods_appear() {
    let slices = converge(&[web()], &[], vec![]);
    let placeholder = slices[0].metadata.name.clone().unwrap();
    let plan = run(&[web()], &[pod("a", "192.0.2.1")], &slices);
    assert_eq!(ops(&plan), [format!("update {placeholder}")]);
    let Some(Action::ReplaceEndpointSlice(es)) = plan.actions().next() else {
        unreachable!()
    };
    assert_eq!(es.metadata.resource_version.as_deref(), Some("1"));
    assert_eq!(es.metadata.uid, slices[0].metadata.uid);
    assert_eq!(port_numbers(es), [8080]);
    assert_eq!(pod_names(es), ["a"]);
}

#[test]
fn a_named_target_port_that_resolves_differently_splits_pods_by_port_set() {
    let svc = web().with_ports(vec![svc_port(
        "http",
        80,
        IntOrString::String("http".into()),
    )]);
    let pods = vec![
        pod("a", "192.0.2.1").with_container_port("http", 8080, "TCP"),
        pod("b", "192.0.2.2").with_container_port("http", 9090, "TCP"),
        pod("c", "192.0.2.3").with_container_port("http", 8080, "TCP"),
        // Cannot resolve "http" (wrong protocol): left out of the port group.
        pod("d", "192.0.2.4").with_container_port("http", 8080, "UDP"),
    ];
    let plan = run(std::slice::from_ref(&svc), &pods, &[]);
    let mut made: Vec<(Vec<i32>, Vec<String>)> = creates(&plan)
        .into_iter()
        .map(|s| (port_numbers(s), pod_names(s)))
        .collect();
    made.sort();
    assert_eq!(
        made,
        [
            (vec![], vec!["d".to_string()]),
            (vec![8080], vec!["a".to_string(), "c".to_string()]),
            (vec![9090], vec!["b".to_string()]),
        ]
    );
    let slices = converge(&[svc], &pods, vec![]);
    assert_eq!(slices.len(), 3);
}

#[test]
fn more_endpoints_than_fit_in_one_slice_are_spread_over_several() {
    let pods: Vec<Pod> = (0..250)
        .map(|i| pod(&format!("p{i:03}"), &format!("198.51.100.{}", i % 250 + 1)))
        .collect();
    let plan = run(&[web()], &pods, &[]);
    let made = creates(&plan);
    let mut sizes: Vec<usize> = made.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100, 100]);
    let names: BTreeSet<&str> = made
        .iter()
        .map(|s| s.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "distinct names: {names:?}");
    let listed: BTreeSet<String> = made.iter().flat_map(|s| pod_names(s)).collect();
    assert_eq!(listed.len(), 250, "every pod exactly once");

    // A smaller limit makes more slices.
    let plan = run_with(&[web()], &pods, &[], &nodes(), 60);
    assert_eq!(creates(&plan).len(), 5);

    // One more pod goes into the slice with room; nothing else is written.
    let mut slices = converge(&[web()], &pods, vec![]);
    let mut more = pods.clone();
    more.push(pod("p250", "203.0.113.1"));
    let plan = run(&[web()], &more, &slices);
    assert_eq!(plan.actions().count(), 1, "{:?}", ops(&plan));
    let Some(Action::ReplaceEndpointSlice(es)) = plan.actions().next() else {
        panic!("{:?}", ops(&plan))
    };
    assert_eq!(es.endpoints.len(), 51);
    apply(&mut slices, &plan);
    assert!(run(&[web()], &more, &slices).is_empty());
}

#[test]
fn an_unchanged_input_writes_nothing_whatever_the_order() {
    let svc = web().with_ports(vec![
        svc_port("http", 80, IntOrString::String("http".into())),
        svc_port("metrics", 9100, IntOrString::Int(9100)),
    ]);
    let mut pods: Vec<Pod> = (0..30)
        .map(|i| {
            pod(&format!("p{i:02}"), &format!("198.51.100.{}", i + 1)).with_container_port(
                "http",
                if i % 2 == 0 { 8080 } else { 8081 },
                "TCP",
            )
        })
        .collect();
    let mut slices = converge(std::slice::from_ref(&svc), &pods, vec![]);
    assert_eq!(slices.len(), 2);
    pods.reverse();
    slices.reverse();
    for s in &mut slices {
        s.endpoints.reverse();
        if let Some(p) = s.ports.as_mut() {
            p.reverse();
        }
    }
    // A changed pod resourceVersion is not a change either.
    for s in &mut slices {
        for e in &mut s.endpoints {
            e.target_ref.as_mut().unwrap().resource_version = Some("42".into());
        }
    }
    assert!(run(std::slice::from_ref(&svc), &pods, &slices).is_empty());

    // A readiness change rewrites only the slice holding that pod.
    let idx = pods
        .iter()
        .position(|p| p.metadata.name.as_deref() == Some("p04"))
        .unwrap();
    pods[idx] = pods[idx].clone().deleting();
    let plan = run(&[svc], &pods, &slices);
    assert_eq!(plan.actions().count(), 1, "{:?}", ops(&plan));
    let Some(Action::ReplaceEndpointSlice(es)) = plan.actions().next() else {
        panic!("{:?}", ops(&plan))
    };
    assert_eq!(
        conditions(endpoint(std::slice::from_ref(es), "p04")),
        (false, true, true)
    );
}

#[test]
fn a_removed_pod_leaves_its_slice_and_an_emptied_slice_goes() {
    let pods = vec![pod("a", "192.0.2.1"), pod("b", "192.0.2.2")];
    let slices = converge(&[web()], &pods, vec![]);
    let plan = run(&[web()], &pods[..1], &slices);
    let Some(Action::ReplaceEndpointSlice(es)) = plan.actions().next() else {
        panic!("{:?}", ops(&plan))
    };
    assert_eq!(pod_names(es), ["a"]);

    // With max 1 each pod has its own slice; removing one deletes its slice.
    let mut small = Vec::new();
    for _ in 0..3 {
        let plan = run_with(&[web()], &pods, &small, &nodes(), 1);
        apply(&mut small, &plan);
    }
    assert_eq!(small.len(), 2);
    let plan = run_with(&[web()], &pods[..1], &small, &nodes(), 1);
    let b_slice = small.iter().find(|s| pod_names(s) == ["b"]).unwrap();
    assert_eq!(
        ops(&plan),
        [format!("delete {}", b_slice.metadata.name.clone().unwrap())]
    );
}

#[test]
fn slices_of_selector_less_services_are_left_alone_unless_this_controller_made_them() {
    let db = mk_service("default", "db", &[]);
    let user_slice = EndpointSlice {
        metadata: ObjectMeta {
            name: Some("db-manual".into()),
            namespace: Some("default".into()),
            uid: Some("uid-db-manual".into()),
            labels: Some(labels(&[(LABEL_SERVICE_NAME, "db")])),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![Endpoint {
            addresses: vec!["203.0.113.7".into()],
            ..Endpoint::default()
        }],
        ports: None,
    };
    assert!(
        run(
            std::slice::from_ref(&db),
            &[],
            std::slice::from_ref(&user_slice)
        )
        .is_empty()
    );

    // A slice this controller made while `db` still had a selector is deleted.
    let with_selector = mk_service("default", "db", &[("app", "db")]);
    let made = converge(&[with_selector], &[], vec![]);
    let mut slices = made.clone();
    slices.push(user_slice);
    let plan = run(&[db], &[], &slices);
    assert_eq!(
        ops(&plan),
        [format!("delete {}", made[0].metadata.name.clone().unwrap())]
    );
    assert_eq!(plan.groups[0].key, "EndpointSlices default/db");
}

#[test]
fn slices_of_a_deleted_or_external_name_service_are_deleted_with_a_uid_precondition() {
    let slices = converge(&[web()], &[pod("a", "192.0.2.1")], vec![]);
    let plan = run(&[], &[pod("a", "192.0.2.1")], &slices);
    let Some(Action::Delete { target, uid, .. }) = plan.actions().next() else {
        panic!("{:?}", ops(&plan))
    };
    assert_eq!(Some(&target.name), slices[0].metadata.name.as_ref());
    assert_eq!(target.namespace.as_deref(), Some("default"));
    assert_eq!(uid, &slices[0].metadata.uid);

    let external = web().type_("ExternalName");
    assert_eq!(run(&[external], &[], &slices).actions().count(), 1);

    // Slices already being deleted are not deleted again.
    let mut going = slices.clone();
    going[0].metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(crate::testutil::ts(5)),
    );
    assert!(run(&[], &[], &going).is_empty());
}

#[test]
fn a_service_pending_deletion_gets_no_new_slices() {
    let plan = run(&[web().deleting()], &[pod("a", "192.0.2.1")], &[]);
    assert!(plan.is_empty(), "{:?}", ops(&plan));
}

#[test]
fn slices_left_by_an_earlier_service_of_the_same_name_are_replaced() {
    let mut old = converge(&[web()], &[pod("a", "192.0.2.1")], vec![]);
    old[0].metadata.owner_references.as_mut().unwrap()[0].uid = "uid-old".into();
    let plan = run(&[web()], &[pod("a", "192.0.2.1")], &old);
    let old_name = old[0].metadata.name.clone().unwrap();
    let got = ops(&plan);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("create web-") && got[0] != format!("create {old_name}"));
    assert_eq!(got[1], format!("delete {old_name}"));
}

#[test]
fn pods_on_unknown_nodes_are_skipped_unless_not_ready_addresses_are_published() {
    let stray = mk_endpoint_pod("default", "a", "192.0.2.1", "node-gone").with_labels(WEB);
    let slices = converge(&[web()], std::slice::from_ref(&stray), vec![]);
    assert!(slices.iter().all(|s| s.endpoints.is_empty()));
    let slices = converge(&[web().publish_not_ready()], &[stray], vec![]);
    assert_eq!(endpoint(&slices, "a").zone, None);
}

#[test]
fn new_slice_names_skip_names_already_in_the_namespace() {
    let first = creates(&run(&[web()], &[], &[]))[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let squatter = EndpointSlice {
        metadata: ObjectMeta {
            name: Some(first.clone()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![],
        ports: None,
    };
    let plan = run(&[web()], &[], &[squatter]);
    let second = creates(&plan)[0].metadata.name.clone().unwrap();
    assert_ne!(first, second);
    assert!(second.starts_with("web-"));
    // The same input names the same way (names are not random).
    assert_eq!(
        creates(&run(&[web()], &[], &[]))[0].metadata.name,
        Some(first)
    );
}

#[test]
fn the_services_labels_and_headlessness_reach_its_slices() {
    let pods = [pod("a", "192.0.2.1")];
    let slices = converge(&[web()], &pods, vec![]);
    let relabelled = web().with_labels(&[("team", "shop"), (LABEL_MANAGED_BY, "someone-else")]);
    let plan = run(&[relabelled], &pods, &slices);
    let Some(Action::ReplaceEndpointSlice(es)) = plan.actions().next() else {
        panic!("{:?}", ops(&plan))
    };
    assert_eq!(
        es.metadata.labels,
        Some(labels(&[
            ("team", "shop"),
            (LABEL_SERVICE_NAME, "web"),
            (LABEL_MANAGED_BY, CONTROLLER_NAME),
        ]))
    );
    let headless = converge(&[web().headless()], &pods, vec![]);
    assert_eq!(
        labels_of(&headless[0].metadata)
            .get(LABEL_HEADLESS)
            .map(String::as_str),
        Some("")
    );
}

#[test]
fn a_headless_service_without_ports_lists_its_pods_without_ports() {
    let svc = web().headless().with_ports(vec![]);
    let slices = converge(&[svc], &[pod("a", "192.0.2.1")], vec![]);
    assert_eq!(slices.len(), 1);
    assert_eq!(port_numbers(&slices[0]), Vec::<i32>::new());
    assert_eq!(pod_names(&slices[0]), ["a"]);
}

#[test]
fn written_slices_carry_the_time_of_the_latest_change_behind_them() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let t = |s: &str| Time(s.parse().unwrap());
    let mut svc = web();
    svc.metadata.creation_timestamp = Some(t("2026-11-27T10:00:00Z"));
    let mut p = pod("a", "192.0.2.1");
    p.metadata.creation_timestamp = Some(t("2026-11-27T10:00:05Z"));
    if let Some(c) = p
        .status
        .as_mut()
        .and_then(|s| s.conditions.as_mut())
        .and_then(|cs| cs.iter_mut().find(|c| c.type_ == "Ready"))
    {
        c.last_transition_time = Some(t("2026-11-27T10:00:09Z"));
    }
    let plan = run(&[svc.clone()], &[p.clone()], &[]);
    let made = creates(&plan);
    let annotations = made[0].metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations.get(TRIGGER_TIME_ANNOTATION).map(String::as_str),
        Some("2026-11-27T10:00:09Z"),
        "the pod became ready last"
    );
    // Converged slices are not rewritten for the annotation alone.
    let slices = converge(&[svc.clone()], &[p.clone()], vec![]);
    assert!(
        run(&[svc], &[p], &slices)
            .groups
            .iter()
            .all(|g| g.actions.is_empty())
    );
}
