//! The Endpoints controller: keeps a core/v1 Endpoints object, named after its
//! Service, in step with the pods each Service with a selector selects, so that
//! `kubectl get endpoints` and older clients work. (v1 Endpoints is deprecated
//! since 1.33 in favour of EndpointSlices, KEP-4974, but still served and filled.)
//!
//! Mirrors pkg/controller/endpoint/endpoints_controller.go (`syncService`,
//! `addEndpointSubset`, `truncateEndpoints`) and pkg/api/v1/endpoints/util.go
//! (`RepackSubsets`).
//!
//! Deviations from upstream:
//! - Subsets, addresses and ports are sorted by value (subsets by their address
//!   lists) where `SortSubsets` sorts by hashes: same grouping, stable order.
//! - Only Endpoints carrying `endpoints.kubernetes.io/managed-by:
//!   endpoint-controller` (set on every Endpoints it writes, as 1.33 does) are
//!   deleted when their Service is gone; upstream deletes the same-named Endpoints
//!   on a Service deletion event whatever its labels. Level-triggered, the label
//!   keeps user-made Endpoints that are created before their Service.
//! - Over capacity (more than 1000 addresses), the truncated result is what is
//!   compared, so a steady over-capacity Service is not rewritten on every sync.
//! - No `endpoints.kubernetes.io/last-change-trigger-time` annotation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::action::{Action, ObjectTarget, Plan};
use crate::meta::{annotations_of, is_pod_ready, key_of, labels_of, name_of};
use crate::service::{
    endpoint_selector, find_port, is_headless, is_service_ip_set, pod_ips_of_family,
    protocol_or_tcp, publish_not_ready, selects, should_pod_be_in_endpoints, should_set_hostname,
    spec_of,
};

/// `LabelManagedBy` of the Endpoints controller (added in 1.33, KEP-4974).
pub const LABEL_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
/// The `managed-by` value (upstream `ControllerName`).
pub const CONTROLLER_NAME: &str = "endpoint-controller";
/// `v1.EndpointsOverCapacity`: set to `truncated` when addresses were dropped.
pub const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// `v1.IsHeadlessService`, set (empty) on Endpoints of headless Services.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// Most addresses (ready and not ready) one Endpoints object keeps (`maxCapacity`).
pub const MAX_CAPACITY: usize = 1000;

/// What one reconcile of all Endpoints looks at.
#[derive(Debug, Clone, Copy)]
pub struct EndpointsSnapshot<'a> {
    /// All Services.
    pub services: &'a [Arc<Service>],
    /// All pods.
    pub pods: &'a [Arc<Pod>],
    /// All Endpoints objects.
    pub endpoints: &'a [Arc<Endpoints>],
}

/// Reconciles every Service's Endpoints: one group per object
/// (`Endpoints <ns>/<name>`), a create, an update or a delete.
pub fn reconcile_endpoints(snap: &EndpointsSnapshot<'_>) -> Plan {
    let existing: BTreeMap<String, &Endpoints> = snap
        .endpoints
        .iter()
        .map(|e| (key_of(&e.metadata), e.as_ref()))
        .collect();
    let mut pods_by_ns: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for pod in snap.pods {
        pods_by_ns
            .entry(pod.metadata.namespace.as_deref().unwrap_or_default())
            .or_default()
            .push(pod);
    }
    let mut services: Vec<&Service> = snap.services.iter().map(|s| s.as_ref()).collect();
    services.sort_by_cached_key(|s| key_of(&s.metadata));

    let mut plan = Plan::new();
    for svc in &services {
        let Some(selector) = endpoint_selector(svc) else {
            continue;
        };
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        let mut selected: Vec<&Pod> = pods_by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| selects(selector, p))
            .collect();
        selected.sort_by_key(|p| name_of(&p.metadata));
        let key = key_of(&svc.metadata);
        let action = sync_service(svc, &selected, existing.get(&key).copied());
        plan.push_group(format!("Endpoints {key}"), action.into_iter().collect());
    }

    // Endpoints this controller wrote whose Service is gone.
    let live: BTreeSet<String> = services.iter().map(|s| key_of(&s.metadata)).collect();
    for (key, ep) in existing {
        if live.contains(&key)
            || labels_of(&ep.metadata)
                .get(LABEL_MANAGED_BY)
                .map(String::as_str)
                != Some(CONTROLLER_NAME)
            || ep.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        plan.push_group(
            format!("Endpoints {key}"),
            vec![Action::Delete {
                target: ObjectTarget::of(ep),
                uid: ep.metadata.uid.clone(),
                propagation: None,
            }],
        );
    }
    plan
}

/// `syncService` for one Service and the pods its selector selects.
fn sync_service(svc: &Service, pods: &[&Pod], current: Option<&Endpoints>) -> Option<Action> {
    let mut subsets = desired_subsets(svc, pods);
    let truncated = truncate(&mut subsets);
    if truncated {
        // Canonical again (emptied subsets go, equal ones merge), so that the
        // stored object compares equal on the next sync.
        subsets = repack(&subsets);
    }
    let labels = endpoints_labels(svc);

    match current {
        None => {
            let mut annotations = BTreeMap::new();
            if truncated {
                annotations.insert(ANNOTATION_OVER_CAPACITY.to_string(), "truncated".into());
            }
            Some(Action::CreateEndpoints(Box::new(Endpoints {
                metadata: ObjectMeta {
                    name: svc.metadata.name.clone(),
                    namespace: svc.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                    ..ObjectMeta::default()
                },
                subsets: (!subsets.is_empty()).then_some(subsets),
            })))
        }
        Some(current) => {
            let have = repack(current.subsets.as_deref().unwrap_or_default());
            let annotated =
                annotations_of(&current.metadata).contains_key(ANNOTATION_OVER_CAPACITY);
            if have == subsets && labels_of(&current.metadata) == &labels && annotated == truncated
            {
                return None;
            }
            let mut updated = current.clone();
            updated.subsets = (!subsets.is_empty()).then_some(subsets);
            updated.metadata.labels = Some(labels);
            let mut annotations = updated.metadata.annotations.take().unwrap_or_default();
            if truncated {
                annotations.insert(ANNOTATION_OVER_CAPACITY.to_string(), "truncated".into());
            } else {
                annotations.remove(ANNOTATION_OVER_CAPACITY);
            }
            updated.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
            Some(Action::ReplaceEndpoints(Box::new(updated)))
        }
    }
}

/// The Service's labels, the manager label, and the headless marker when the
/// Service has no cluster IP.
fn endpoints_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = labels_of(&svc.metadata).clone();
    if is_service_ip_set(svc) {
        labels.remove(LABEL_HEADLESS);
    } else {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    labels
}

/// The repacked subsets for a Service and the pods its selector selects: each
/// pod that may be listed (`ShouldPodBeInEndpoints`, terminating ones only with
/// `publishNotReadyAddresses`) is a ready or not-ready address for every Service
/// port it resolves.
pub fn desired_subsets(svc: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let tolerate_unready = publish_not_ready(svc);
    let ipv6 = spec_of(svc)
        .ip_families
        .as_ref()
        .and_then(|f| f.first())
        .is_some_and(|f| f == "IPv6");
    let ports = spec_of(svc).ports.as_deref().unwrap_or_default();
    let mut expanded = Vec::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, tolerate_unready) {
            continue;
        }
        // `podToEndpointAddressForService`: the pod IP of the Service's family.
        let Some(ip) = pod_ips_of_family(pod, ipv6).into_iter().next() else {
            continue;
        };
        let address = EndpointAddress {
            ip,
            hostname: should_set_hostname(pod, svc)
                .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
                .flatten(),
            node_name: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
                ..ObjectReference::default()
            }),
        };
        let ready = tolerate_unready || is_pod_ready(pod);
        let mut add = |port: Option<EndpointPort>| {
            let (addresses, not_ready) = if ready {
                (Some(vec![address.clone()]), None)
            } else {
                (None, Some(vec![address.clone()]))
            };
            expanded.push(EndpointSubset {
                addresses,
                not_ready_addresses: not_ready,
                ports: port.map(|p| vec![p]),
            });
        };
        if ports.is_empty() {
            // A headless Service may have no ports.
            if is_headless(svc) {
                add(None);
            }
            continue;
        }
        for sp in ports {
            if let Some(port) = find_port(pod, sp) {
                add(Some(EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port,
                    protocol: Some(protocol_or_tcp(sp.protocol.as_deref()).to_string()),
                    app_protocol: sp.app_protocol.clone(),
                }));
            }
        }
    }
    repack(&expanded)
}

/// An address's identity in a repack: IP and target uid.
type AddressKey = (String, String);
/// A port with API defaults applied: name, port, protocol, appProtocol.
type PortKey = (String, i32, String, Option<String>);

fn address_key(a: &EndpointAddress) -> AddressKey {
    let uid = a
        .target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .unwrap_or_default();
    (a.ip.clone(), uid)
}

fn port_key(p: &EndpointPort) -> PortKey {
    (
        p.name.clone().unwrap_or_default(),
        p.port,
        protocol_or_tcp(p.protocol.as_deref()).to_string(),
        p.app_protocol.clone(),
    )
}

/// `RepackSubsets`: expands subsets to (port, address, ready) triples and packs
/// them again so that addresses offering the same ports share one subset. An
/// address not ready on a port stays not ready there. Sorted by value; target
/// resourceVersions are dropped (they are not compared upstream either).
pub fn repack(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut all: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    // `None` is the sentinel for subsets without ports.
    let mut by_port: BTreeMap<Option<PortKey>, BTreeMap<AddressKey, bool>> = BTreeMap::new();
    for subset in subsets {
        let ports: Vec<Option<PortKey>> = match subset.ports.as_deref() {
            None | Some([]) => vec![None],
            Some(ports) => ports.iter().map(|p| Some(port_key(p))).collect(),
        };
        let addresses = subset.addresses.iter().flatten().map(|a| (a, true)).chain(
            subset
                .not_ready_addresses
                .iter()
                .flatten()
                .map(|a| (a, false)),
        );
        for (address, ready) in addresses {
            let key = address_key(address);
            all.entry(key.clone()).or_insert_with(|| {
                let mut a = address.clone();
                if let Some(r) = a.target_ref.as_mut() {
                    r.resource_version = None;
                }
                a
            });
            for port in &ports {
                let readiness = by_port.entry(port.clone()).or_default();
                let was = readiness.entry(key.clone()).or_insert(ready);
                *was = *was && ready;
            }
        }
    }
    let mut by_addresses: BTreeMap<Vec<(AddressKey, bool)>, Vec<PortKey>> = BTreeMap::new();
    for (port, readiness) in by_port {
        let ports = by_addresses
            .entry(readiness.into_iter().collect())
            .or_default();
        ports.extend(port);
    }
    by_addresses
        .into_iter()
        .map(|(addresses, mut ports)| {
            ports.sort();
            let pick = |want: bool| -> Option<Vec<EndpointAddress>> {
                let list: Vec<EndpointAddress> = addresses
                    .iter()
                    .filter(|(_, ready)| *ready == want)
                    .filter_map(|(k, _)| all.get(k).cloned())
                    .collect();
                (!list.is_empty()).then_some(list)
            };
            EndpointSubset {
                addresses: pick(true),
                not_ready_addresses: pick(false),
                ports: (!ports.is_empty()).then(|| {
                    ports
                        .into_iter()
                        .map(|(name, port, protocol, app_protocol)| EndpointPort {
                            name: (!name.is_empty()).then_some(name),
                            port,
                            protocol: Some(protocol),
                            app_protocol,
                        })
                        .collect()
                }),
            }
        })
        .collect()
}

/// `truncateEndpoints`: above [`MAX_CAPACITY`] addresses, keeps ready addresses
/// first, spread over the subsets in proportion to their size (rounded up, the
/// last subsets taking what is left). Returns whether anything was dropped.
fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let count = |v: &Option<Vec<EndpointAddress>>| v.as_ref().map_or(0, Vec::len);
    let total_ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let total_not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if total_ready + total_not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = total_ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready {
        (MAX_CAPACITY, total_ready)
    } else {
        (MAX_CAPACITY - total_ready, total_not_ready)
    };
    let mut room = max;
    for subset in subsets.iter_mut() {
        let list = if truncate_ready {
            subset.not_ready_addresses = None;
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let n = count(list);
        // ceil(n / total * max), in integers.
        let share = (n * max).div_ceil(total.max(1)).min(room);
        if let Some(v) = list.as_mut() {
            v.truncate(share);
        }
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
        room -= count(list);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{
        PodExt, ServiceExt, labels, mk_endpoint_pod, mk_pod, mk_service, svc_port,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    const WEB: &[(&str, &str)] = &[("app", "web")];

    fn web() -> Service {
        mk_service("default", "web", WEB)
    }

    fn pod(name: &str, ip: &str) -> Pod {
        mk_endpoint_pod("default", name, ip, "node-a").with_labels(WEB)
    }

    fn not_ready(name: &str, ip: &str) -> Pod {
        mk_pod("default", name)
            .on_node("node-a")
            .phase("Running")
            .with_ip(ip)
            .with_labels(WEB)
    }

    fn run(services: &[Service], pods: &[Pod], endpoints: &[Endpoints]) -> Plan {
        let services: Vec<Arc<Service>> = services.iter().cloned().map(Arc::new).collect();
        let pods: Vec<Arc<Pod>> = pods.iter().cloned().map(Arc::new).collect();
        let endpoints: Vec<Arc<Endpoints>> = endpoints.iter().cloned().map(Arc::new).collect();
        reconcile_endpoints(&EndpointsSnapshot {
            services: &services,
            pods: &pods,
            endpoints: &endpoints,
        })
    }

    fn written(plan: &Plan) -> Endpoints {
        match plan.actions().next() {
            Some(Action::CreateEndpoints(ep) | Action::ReplaceEndpoints(ep)) => (**ep).clone(),
            other => panic!("expected an Endpoints write, got {other:?}"),
        }
    }

    fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        list.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_pods_become_addresses_and_not_ready_addresses() {
        let svc = web().with_labels(&[("team", "shop")]);
        let pods = [
            pod("a", "192.0.2.1"),
            not_ready("b", "192.0.2.2"),
            pod("c", "192.0.2.3").deleting(),
            pod("d", "192.0.2.4").with_hostname("d", "web"),
            mk_endpoint_pod("default", "other", "192.0.2.9", "node-a")
                .with_labels(&[("app", "db")]),
        ];
        let ep = written(&run(&[svc], &pods, &[]));
        assert_eq!(ep.metadata.name.as_deref(), Some("web"));
        assert_eq!(ep.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(
            ep.metadata.labels,
            Some(labels(&[
                ("team", "shop"),
                (LABEL_MANAGED_BY, CONTROLLER_NAME)
            ]))
        );
        assert_eq!(ep.metadata.owner_references, None, "upstream sets no owner");
        let subsets = ep.subsets.unwrap();
        assert_eq!(subsets.len(), 1);
        let s = &subsets[0];
        assert_eq!(ips(&s.addresses), ["192.0.2.1", "192.0.2.4"]);
        assert_eq!(
            ips(&s.not_ready_addresses),
            ["192.0.2.2"],
            "terminating pods are left out"
        );
        assert_eq!(
            s.ports,
            Some(vec![EndpointPort {
                name: Some("http".into()),
                port: 8080,
                protocol: Some("TCP".into()),
                app_protocol: None,
            }])
        );
        let a = &s.addresses.as_ref().unwrap()[0];
        assert_eq!(a.node_name.as_deref(), Some("node-a"));
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
        assert_eq!(
            s.addresses.as_ref().unwrap()[1].hostname.as_deref(),
            Some("d")
        );
    }

    #[test]
    fn publishing_not_ready_addresses_lists_every_pod_as_ready_even_terminating_ones() {
        let pods = [
            not_ready("b", "192.0.2.2"),
            pod("c", "192.0.2.3").deleting(),
        ];
        let ep = written(&run(&[web().publish_not_ready()], &pods, &[]));
        let s = &ep.subsets.unwrap()[0];
        assert_eq!(ips(&s.addresses), ["192.0.2.2", "192.0.2.3"]);
        assert_eq!(s.not_ready_addresses, None);
    }

    #[test]
    fn pods_resolving_named_ports_differently_land_in_different_subsets() {
        let svc = web().with_ports(vec![
            svc_port("http", 80, IntOrString::String("http".into())),
            svc_port("", 9100, IntOrString::Int(9100)),
        ]);
        let pods = [
            pod("a", "192.0.2.1").with_container_port("http", 8080, "TCP"),
            pod("b", "192.0.2.2").with_container_port("http", 9090, "TCP"),
            pod("c", "192.0.2.3"),
        ];
        let ep = written(&run(&[svc], &pods, &[]));
        let got: Vec<(Vec<&str>, Vec<i32>)> = ep
            .subsets
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    ips(&s.addresses),
                    s.ports.iter().flatten().map(|p| p.port).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (vec!["192.0.2.1"], vec![8080]),
                (vec!["192.0.2.1", "192.0.2.2", "192.0.2.3"], vec![9100]),
                (vec!["192.0.2.2"], vec![9090]),
            ]
        );
    }

    #[test]
    fn a_service_without_pods_gets_an_empty_endpoints_and_selector_less_ones_none() {
        let ep = written(&run(&[web()], &[], &[]));
        assert_eq!(ep.subsets, None);
        assert!(run(&[mk_service("default", "db", &[])], &[], &[]).is_empty());
        assert!(
            run(
                &[web().type_("ExternalName")],
                &[pod("a", "192.0.2.1")],
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn an_up_to_date_endpoints_is_not_rewritten_and_a_change_is_an_update() {
        let pods = [pod("a", "192.0.2.1"), not_ready("b", "192.0.2.2")];
        let mut ep = written(&run(&[web()], &pods, &[]));
        ep.metadata.resource_version = Some("5".into());
        ep.metadata.uid = Some("uid-ep".into());
        // Order and pod resourceVersions do not matter.
        if let Some(s) = ep.subsets.as_mut() {
            s.reverse();
            for a in s.iter_mut().flat_map(|s| s.addresses.iter_mut().flatten()) {
                a.target_ref.as_mut().unwrap().resource_version = Some("77".into());
            }
        }
        assert!(run(&[web()], &pods, &[ep.clone()]).is_empty());

        let now_ready = [pod("a", "192.0.2.1"), pod("b", "192.0.2.2")];
        let plan = run(&[web()], &now_ready, &[ep]);
        let Some(Action::ReplaceEndpoints(updated)) = plan.actions().next() else {
            panic!("{plan:?}")
        };
        assert_eq!(updated.metadata.resource_version.as_deref(), Some("5"));
        let s = &updated.subsets.as_ref().unwrap()[0];
        assert_eq!(ips(&s.addresses), ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(s.not_ready_addresses, None);
    }

    #[test]
    fn headless_services_are_labelled_and_may_have_no_ports() {
        let svc = web().headless().with_ports(vec![]);
        let ep = written(&run(&[svc], &[pod("a", "192.0.2.1")], &[]));
        assert_eq!(
            labels_of(&ep.metadata)
                .get(LABEL_HEADLESS)
                .map(String::as_str),
            Some("")
        );
        let s = &ep.subsets.unwrap()[0];
        assert_eq!(ips(&s.addresses), ["192.0.2.1"]);
        assert_eq!(s.ports, None);
    }

    #[test]
    fn endpoints_are_deleted_with_their_service_but_user_made_ones_stay() {
        let mut ours = written(&run(&[web()], &[], &[]));
        ours.metadata.uid = Some("uid-ep".into());
        let theirs = Endpoints {
            metadata: ObjectMeta {
                name: Some("external".into()),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            subsets: None,
        };
        let plan = run(&[], &[], &[ours, theirs]);
        let got: Vec<(String, Option<String>)> = plan
            .actions()
            .map(|a| match a {
                Action::Delete { target, uid, .. } => (target.name.clone(), uid.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, [("web".to_string(), Some("uid-ep".to_string()))]);
    }

    #[test]
    fn more_than_a_thousand_addresses_are_truncated_ready_ones_first() {
        let pods: Vec<Pod> = (0..1100)
            .map(|i| {
                // Addresses repeat; (IP, pod uid) is what identifies an address.
                let ip = format!("198.51.100.{}", i % 250 + 1);
                if i < 900 {
                    pod(&format!("p{i:04}"), &ip)
                } else {
                    not_ready(&format!("p{i:04}"), &ip)
                }
            })
            .collect();
        let ep = written(&run(&[web()], &pods, &[]));
        let s = &ep.subsets.as_ref().unwrap()[0];
        assert_eq!(s.addresses.as_ref().map(Vec::len), Some(900));
        assert_eq!(s.not_ready_addresses.as_ref().map(Vec::len), Some(100));
        assert_eq!(
            annotations_of(&ep.metadata)
                .get(ANNOTATION_OVER_CAPACITY)
                .map(String::as_str),
            Some("truncated")
        );
        // Steady state: the truncated object is not rewritten.
        assert!(run(&[web()], &pods, std::slice::from_ref(&ep)).is_empty());
        // Back under capacity: the annotation goes.
        let plan = run(&[web()], &pods[..10], &[ep]);
        let updated = written(&plan);
        assert!(!annotations_of(&updated.metadata).contains_key(ANNOTATION_OVER_CAPACITY));
    }

    #[test]
    fn repacking_keeps_not_ready_when_an_address_is_not_ready_on_a_port() {
        let address = |ip: &str| EndpointAddress {
            ip: ip.into(),
            ..EndpointAddress::default()
        };
        let port = |n: i32| EndpointPort {
            port: n,
            ..EndpointPort::default()
        };
        let subsets = [
            EndpointSubset {
                addresses: Some(vec![address("192.0.2.1"), address("192.0.2.2")]),
                not_ready_addresses: None,
                ports: Some(vec![port(80)]),
            },
            EndpointSubset {
                addresses: None,
                not_ready_addresses: Some(vec![address("192.0.2.1")]),
                ports: Some(vec![port(80)]),
            },
            EndpointSubset {
                addresses: Some(vec![address("192.0.2.1"), address("192.0.2.2")]),
                not_ready_addresses: None,
                ports: Some(vec![port(443)]),
            },
        ];
        let packed = repack(&subsets);
        assert_eq!(packed.len(), 2);
        let on = |p: i32| {
            packed
                .iter()
                .find(|s| s.ports.iter().flatten().any(|x| x.port == p))
                .unwrap()
        };
        assert_eq!(ips(&on(80).addresses), ["192.0.2.2"]);
        assert_eq!(ips(&on(80).not_ready_addresses), ["192.0.2.1"]);
        assert_eq!(ips(&on(443).addresses), ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(
            on(443).ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("TCP")
        );
        assert_eq!(repack(&packed), packed, "repacking is idempotent");
    }
}
