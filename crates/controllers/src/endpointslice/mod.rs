//! The EndpointSlice controller: for every Service with a selector, one or more
//! `discovery.k8s.io/v1` EndpointSlices listing the pods it selects
//! (<https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/>).
//!
//! Mirrors pkg/controller/endpointslice/endpointslice_controller.go (`syncService`)
//! and staging/src/k8s.io/endpointslice: reconciler.go (`Reconcile`,
//! `reconcileByAddressType`, `reconcileByPortMapping`, `finalize`) and utils.go
//! (`podToEndpoint`, `getEndpointPorts`, `newEndpointSlice`,
//! `setEndpointSliceLabels`, `getSliceToFill`).
//!
//! ```text
//!  Service ──selector──► pods (same namespace, not Succeeded/Failed, with an IP)
//!     │                    │ podToEndpoint: addresses, ready/serving/terminating,
//!     │                    │ nodeName, zone, hostname, targetRef
//!     │                    ▼ grouped by resolved port set (named targetPorts differ per pod)
//!     └──owns──► EndpointSlice <svc>-xxxxx  (≤ max endpoints each; one empty placeholder
//!                                           when nothing is selected)
//! ```
//!
//! Deviations from upstream:
//! - **Names** are `<svc>-` plus five characters derived from the Service's uid and
//!   a counter (upstream's alphabet), not server-generated (`generateName`). A
//!   create decided on a stale cache then collides (409 AlreadyExists, retried after
//!   back-off) instead of producing a duplicate slice; upstream needs its
//!   `endpointSliceTracker` for that. Names already used in the namespace are skipped.
//! - Managed slices of a Service that lost its selector (or became ExternalName)
//!   are deleted; upstream leaves them stale. Slices of a deleted Service are deleted
//!   too (uid precondition), besides the garbage collector's ownerReference cleanup.
//! - Endpoints are placed and written in a fixed order (pod namespace/name, then
//!   addresses) instead of Go map order, so equal input gives equal output.
//! - No `endpoints.kubernetes.io/last-change-trigger-time` annotation, no topology
//!   hints, no metrics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::action::{Action, ObjectTarget, Plan};
use crate::meta::{is_pod_ready, key_of, labels_of, name_of, new_controller_ref, uid_of};
use crate::service::{
    endpoint_selector, find_port, is_service_ip_set, pod_ips_of_family, protocol_or_tcp,
    publish_not_ready, selects, should_pod_be_in_endpoints, should_set_hostname, spec_of,
};

/// `discovery.LabelServiceName`: the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// `discovery.LabelManagedBy`: which controller manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The `managed-by` value of this controller (upstream `ControllerName`).
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// `v1.IsHeadlessService`, set (empty) on slices of headless Services.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// `v1.LabelTopologyZone`, copied from a pod's node to its endpoint's `zone`.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Default `--max-endpoints-per-slice`.
pub const DEFAULT_MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// Largest accepted `--max-endpoints-per-slice` (the API allows 1000 endpoints).
pub const MAX_ENDPOINTS_PER_SLICE_LIMIT: usize = 1000;
/// When the change a written slice reflects happened (v1.EndpointsLastChangeTriggerTime): the
/// service proxy measures network programming latency from it.
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// Characters of generated name suffixes (`rand.SafeEncodeString`'s alphabet).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// `names.SimpleNameGenerator`'s longest prefix (63 - 5 random characters).
const MAX_PREFIX_LEN: usize = 58;

/// What one reconcile of all EndpointSlices looks at.
#[derive(Debug, Clone, Copy)]
pub struct EndpointSliceSnapshot<'a> {
    /// All Services.
    pub services: &'a [Arc<Service>],
    /// All pods.
    pub pods: &'a [Arc<Pod>],
    /// All nodes (a pod's node gives its endpoint's zone; pods on unknown nodes
    /// are skipped, as upstream does, unless not-ready addresses are published).
    pub nodes: &'a [Arc<Node>],
    /// All EndpointSlices (every namespace, every manager: names must not collide).
    pub slices: &'a [Arc<EndpointSlice>],
    /// Most endpoints per slice, 1..=1000 (clamped); upstream's default is 100.
    pub max_endpoints_per_slice: usize,
}

fn group_by_ns<K: kube::Resource>(objs: &[Arc<K>]) -> BTreeMap<&str, Vec<&K>> {
    let mut out: BTreeMap<&str, Vec<&K>> = BTreeMap::new();
    for o in objs {
        out.entry(o.meta().namespace.as_deref().unwrap_or_default())
            .or_default()
            .push(o.as_ref());
    }
    out
}

fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    labels_of(meta).get(key).map(String::as_str)
}

/// Whether this controller manages the slice (its `managed-by` label).
pub fn is_managed(slice: &EndpointSlice) -> bool {
    label(&slice.metadata, LABEL_MANAGED_BY) == Some(CONTROLLER_NAME)
}

/// Reconciles every Service's EndpointSlices: one action group per Service
/// (`EndpointSlices <ns>/<name>`) with creates, then updates, then deletes.
pub fn reconcile_endpoint_slices(snap: &EndpointSliceSnapshot<'_>) -> Plan {
    let max = snap
        .max_endpoints_per_slice
        .clamp(1, MAX_ENDPOINTS_PER_SLICE_LIMIT);
    let nodes: HashMap<&str, &Node> = snap
        .nodes
        .iter()
        .map(|n| (name_of(&n.metadata), n.as_ref()))
        .collect();
    let services = group_by_ns(snap.services);
    let pods = group_by_ns(snap.pods);
    let slices = group_by_ns(snap.slices);
    let namespaces: BTreeSet<&str> = services.keys().chain(slices.keys()).copied().collect();

    let mut plan = Plan::new();
    for ns in namespaces {
        let ns_services: BTreeMap<&str, &Service> = services
            .get(ns)
            .into_iter()
            .flatten()
            .map(|s| (name_of(&s.metadata), *s))
            .collect();
        let ns_pods = pods.get(ns).map(Vec::as_slice).unwrap_or_default();
        let ns_slices = slices.get(ns).map(Vec::as_slice).unwrap_or_default();
        let mut taken: BTreeSet<String> = ns_slices
            .iter()
            .map(|s| name_of(&s.metadata).to_string())
            .collect();

        for svc in ns_services.values() {
            let Some(selector) = endpoint_selector(svc) else {
                continue;
            };
            let selected: Vec<&Pod> = ns_pods
                .iter()
                .copied()
                .filter(|p| selects(selector, p))
                .collect();
            let actions = reconcile_service(
                &ServiceInput {
                    service: svc,
                    pods: &selected,
                    nodes: &nodes,
                    slices: ns_slices,
                    max,
                },
                &mut taken,
            );
            plan.push_group(format!("EndpointSlices {}", key_of(&svc.metadata)), actions);
        }

        // Managed slices whose Service is gone, lost its selector or became
        // ExternalName.
        let mut orphans: BTreeMap<&str, Vec<Action>> = BTreeMap::new();
        let mut ordered: Vec<&EndpointSlice> = ns_slices.to_vec();
        ordered.sort_by_key(|s| name_of(&s.metadata));
        for slice in ordered {
            if !is_managed(slice) || slice.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let Some(svc_name) = label(&slice.metadata, LABEL_SERVICE_NAME) else {
                continue;
            };
            let served = ns_services
                .get(svc_name)
                .is_some_and(|svc| endpoint_selector(svc).is_some());
            if !served {
                orphans.entry(svc_name).or_default().push(delete(slice));
            }
        }
        for (svc_name, actions) in orphans {
            plan.push_group(format!("EndpointSlices {ns}/{svc_name}"), actions);
        }
    }
    plan
}

/// One Service with the pods its selector selects.
struct ServiceInput<'a> {
    service: &'a Service,
    /// Pods of the Service's namespace that its selector selects.
    pods: &'a [&'a Pod],
    nodes: &'a HashMap<&'a str, &'a Node>,
    /// All slices of the namespace.
    slices: &'a [&'a EndpointSlice],
    max: usize,
}

/// Slices to create (unnamed), update and delete for one address type.
#[derive(Default)]
struct Changes<'a> {
    create: Vec<EndpointSlice>,
    update: Vec<EndpointSlice>,
    delete: Vec<&'a EndpointSlice>,
}

fn reconcile_service(input: &ServiceInput<'_>, taken: &mut BTreeSet<String>) -> Vec<Action> {
    let svc = input.service;
    let svc_name = name_of(&svc.metadata);
    let mut managed: Vec<&EndpointSlice> = input
        .slices
        .iter()
        .copied()
        .filter(|s| {
            is_managed(s)
                && label(&s.metadata, LABEL_SERVICE_NAME) == Some(svc_name)
                // dropEndpointSlicesPendingDeletion
                && s.metadata.deletion_timestamp.is_none()
        })
        .collect();
    managed.sort_by_key(|s| name_of(&s.metadata));

    let types = address_types(svc);
    let mut by_type: BTreeMap<&str, Vec<&EndpointSlice>> = BTreeMap::new();
    let mut unsupported = Vec::new();
    for slice in managed {
        if types.contains(slice.address_type.as_str()) {
            by_type
                .entry(slice.address_type.as_str())
                .or_default()
                .push(slice);
        } else {
            unsupported.push(slice);
        }
    }

    let mut actions = Vec::new();
    for address_type in types {
        let existing = by_type.remove(address_type).unwrap_or_default();
        let mut changes = finalize(svc, reconcile_address_type(input, &existing, address_type));
        if let Some(t) = trigger_time(svc, input.pods) {
            for slice in changes.create.iter_mut().chain(changes.update.iter_mut()) {
                slice
                    .metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(TRIGGER_TIME_ANNOTATION.into(), t.to_string());
            }
        }
        // Upstream creates nothing for a Service pending deletion, to avoid
        // racing the garbage collector.
        if svc.metadata.deletion_timestamp.is_none() {
            for mut slice in changes.create {
                slice.metadata.name = Some(slice_name(svc, taken));
                actions.push(Action::CreateEndpointSlice(Box::new(slice)));
            }
        }
        let mut updates = changes.update;
        updates.sort_by(|a, b| name_of(&a.metadata).cmp(name_of(&b.metadata)));
        for slice in updates {
            actions.push(Action::ReplaceEndpointSlice(Box::new(slice)));
        }
        actions.extend(changes.delete.into_iter().map(delete));
    }
    actions.extend(unsupported.into_iter().map(delete));
    actions
}

/// The time of the latest change behind the Service's endpoints (upstream's
/// TriggerTimeTracker, pkg/controller/util/endpoint/trigger_time_tracker.go, simplified to
/// what objects record): the Service's creation, and each selected pod's creation, last
/// readiness transition and deletion.
fn trigger_time(svc: &Service, pods: &[&Pod]) -> Option<jiff::Timestamp> {
    let pod_times = pods.iter().flat_map(|p| {
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0);
        [
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            ready,
            p.metadata.deletion_timestamp.as_ref().map(|t| t.0),
        ]
    });
    std::iter::once(svc.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .chain(pod_times)
        .flatten()
        .max()
}

/// `getAddressTypesForService`: from `spec.ipFamilies`; without families, the
/// cluster IP's family, or both for headless Services.
fn address_types(svc: &Service) -> BTreeSet<&'static str> {
    let spec = spec_of(svc);
    let mut out = BTreeSet::new();
    for family in spec.ip_families.iter().flatten() {
        match family.as_str() {
            "IPv4" => out.insert("IPv4"),
            "IPv6" => out.insert("IPv6"),
            _ => false,
        };
    }
    if !out.is_empty() {
        return out;
    }
    if is_service_ip_set(svc) {
        let v6 = spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .is_some_and(|ip| ip.is_ipv6());
        out.insert(if v6 { "IPv6" } else { "IPv4" });
    } else {
        out.insert("IPv4");
        out.insert("IPv6");
    }
    out
}

/// `ownedBy`: an ownerReference to this Service (v1, uid).
fn owned_by(slice: &EndpointSlice, svc: &Service) -> bool {
    slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid_of(&svc.metadata) && o.kind == "Service" && o.api_version == "v1")
}

/// The ports of a slice, order-free and with API defaults applied: slices with
/// equal keys hold endpoints with the same resolved ports (`NewPortMapKey`).
type PortKey = Vec<(String, Option<i32>, String, Option<String>)>;

fn port_key(ports: &[EndpointPort]) -> PortKey {
    let mut key: PortKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port,
                protocol_or_tcp(p.protocol.as_deref()).to_string(),
                p.app_protocol.clone(),
            )
        })
        .collect();
    key.sort();
    key
}

/// Identity of an endpoint (`hashEndpoint`): pod, addresses and hostname. Other
/// fields may change in place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct EndpointKey {
    namespace: String,
    name: String,
    addresses: Vec<String>,
    hostname: String,
}

fn endpoint_key(ep: &Endpoint) -> EndpointKey {
    let mut addresses = ep.addresses.clone();
    addresses.sort();
    let (namespace, name) = ep
        .target_ref
        .as_ref()
        .map(|r| {
            (
                r.namespace.clone().unwrap_or_default(),
                r.name.clone().unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    EndpointKey {
        namespace,
        name,
        addresses,
        hostname: ep.hostname.clone().unwrap_or_default(),
    }
}

/// `EndpointsEqualBeyondHash`: node, zone, conditions and targetRef (ignoring
/// its resourceVersion).
fn equal_beyond_hash(a: &Endpoint, b: &Endpoint) -> bool {
    let conditions = |e: &Endpoint| {
        e.conditions
            .as_ref()
            .map(|c| (c.ready, c.serving, c.terminating))
            .unwrap_or_default()
    };
    let target = |e: &Endpoint| {
        e.target_ref.as_ref().map(|r| ObjectReference {
            resource_version: None,
            ..r.clone()
        })
    };
    a.node_name == b.node_name
        && a.zone == b.zone
        && conditions(a) == conditions(b)
        && target(a) == target(b)
}

/// `getEndpointPorts`: one port per Service port the pod resolves, carrying the
/// Service port's name, protocol and appProtocol; headless Services may have none.
fn endpoint_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    spec_of(svc)
        .ports
        .iter()
        .flatten()
        .filter_map(|sp| {
            let port = find_port(pod, sp)?;
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(port),
                protocol: Some(protocol_or_tcp(sp.protocol.as_deref()).to_string()),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

/// `podToEndpoint`.
fn pod_to_endpoint(pod: &Pod, node: Option<&Node>, svc: &Service, address_type: &str) -> Endpoint {
    let serving = is_pod_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    // "ready" is never true for a terminating pod unless not-ready addresses are
    // published (compatibility with the Endpoints API).
    let ready = publish_not_ready(svc) || (serving && !terminating);
    let spec = pod.spec.as_ref();
    Endpoint {
        addresses: pod_ips_of_family(pod, address_type == "IPv6"),
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
        node_name: spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        zone: node
            .and_then(|n| label(&n.metadata, LABEL_ZONE))
            .filter(|z| !z.is_empty())
            .map(str::to_string),
        hostname: should_set_hostname(pod, svc)
            .then(|| spec.and_then(|s| s.hostname.clone()))
            .flatten(),
        hints: None,
        deprecated_topology: None,
    }
}

/// `setEndpointSliceLabels`: the Service's labels (reserved keys excepted), the
/// headless marker, the Service name and the manager.
fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = labels_of(&svc.metadata)
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                LABEL_SERVICE_NAME | LABEL_MANAGED_BY | LABEL_HEADLESS
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !is_service_ip_set(svc) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels.insert(
        LABEL_SERVICE_NAME.into(),
        name_of(&svc.metadata).to_string(),
    );
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    labels
}

/// `newEndpointSlice` (unnamed; see [`slice_name`]).
fn new_slice(svc: &Service, ports: Vec<EndpointPort>, address_type: &str) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            namespace: svc.metadata.namespace.clone(),
            labels: Some(slice_labels(svc)),
            owner_references: Some(vec![new_controller_ref("v1", "Service", &svc.metadata)]),
            ..ObjectMeta::default()
        },
        address_type: address_type.to_string(),
        endpoints: Vec::new(),
        ports: Some(ports),
    }
}

/// Five characters from the Service uid and a counter, in upstream's alphabet.
fn name_suffix(uid: &str, attempt: u32) -> String {
    // FNV-1a, 64 bit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uid.bytes().chain(attempt.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let base = ALPHANUMS.len() as u64;
    (0..5)
        .map(|_| {
            let c = ALPHANUMS[(h % base) as usize] as char;
            h /= base;
            c
        })
        .collect()
}

/// `<svc>-xxxxx` (prefix cut at 58 characters, as generateName does), the first
/// one not in `taken`; records it there.
fn slice_name(svc: &Service, taken: &mut BTreeSet<String>) -> String {
    let prefix: String = format!("{}-", name_of(&svc.metadata))
        .chars()
        .take(MAX_PREFIX_LEN)
        .collect();
    let uid = uid_of(&svc.metadata);
    let mut attempt: u32 = 0;
    loop {
        let name = format!("{prefix}{}", name_suffix(uid, attempt));
        if taken.insert(name.clone()) {
            return name;
        }
        attempt = attempt.wrapping_add(1);
    }
}

fn delete(slice: &EndpointSlice) -> Action {
    Action::Delete {
        target: ObjectTarget::of(slice),
        uid: slice.metadata.uid.clone(),
        propagation: None,
    }
}

/// `reconcileByAddressType`.
fn reconcile_address_type<'a>(
    input: &ServiceInput<'_>,
    existing: &[&'a EndpointSlice],
    address_type: &str,
) -> Changes<'a> {
    let svc = input.service;
    let mut changes = Changes::default();
    let mut existing_by_ports: BTreeMap<PortKey, Vec<&'a EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        if owned_by(slice, svc) {
            existing_by_ports
                .entry(port_key(slice.ports.as_deref().unwrap_or_default()))
                .or_default()
                .push(slice);
        } else {
            // Left by an earlier Service of the same name.
            changes.delete.push(slice);
        }
    }

    let mut desired: BTreeMap<PortKey, (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>)> =
        BTreeMap::new();
    let mut pods: Vec<&Pod> = input.pods.to_vec();
    pods.sort_by(|a, b| name_of(&a.metadata).cmp(name_of(&b.metadata)));
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(svc, pod);
        let entry = desired
            .entry(port_key(&ports))
            .or_insert_with(|| (ports, BTreeMap::new()));
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        let node = input.nodes.get(node_name).copied();
        // Upstream: a pod whose node is unknown is skipped (and retried) so that a
        // reference to a missing node cannot keep a stale endpoint forever — unless
        // the user publishes not-ready addresses explicitly.
        if node.is_none() && !publish_not_ready(svc) {
            continue;
        }
        let ep = pod_to_endpoint(pod, node, svc, address_type);
        if !ep.addresses.is_empty() {
            entry.1.insert(endpoint_key(&ep), ep);
        }
    }

    for (key, (ports, endpoints)) in desired {
        let slices = existing_by_ports.remove(&key).unwrap_or_default();
        reconcile_port_mapping(
            svc,
            &slices,
            endpoints,
            &ports,
            address_type,
            input.max,
            &mut changes,
        );
    }
    // Port sets no longer wanted.
    for slices in existing_by_ports.into_values() {
        changes.delete.extend(slices);
    }

    // When no slice would exist, keep (or make) one empty placeholder.
    if existing.len() == changes.delete.len() && changes.create.is_empty() {
        let placeholder = new_slice(svc, Vec::new(), address_type);
        if changes.delete.len() == 1 && placeholder_equivalent(changes.delete[0], &placeholder) {
            changes.delete.clear();
        } else {
            changes.create.push(placeholder);
        }
    }
    changes
}

/// `placeholderSliceCompare`: namespace, labels, no endpoints, no ports, same
/// address type.
fn placeholder_equivalent(a: &EndpointSlice, b: &EndpointSlice) -> bool {
    a.metadata.namespace == b.metadata.namespace
        && labels_of(&a.metadata) == labels_of(&b.metadata)
        && a.address_type == b.address_type
        && a.endpoints.is_empty()
        && b.endpoints.is_empty()
        && a.ports.as_deref().unwrap_or_default().is_empty()
        && b.ports.as_deref().unwrap_or_default().is_empty()
}

/// `getSliceToFill`: the slice closest to full once `count` endpoints are added.
fn slice_to_fill<'n>(
    candidates: impl Iterator<Item = (&'n String, usize)>,
    count: usize,
    max: usize,
) -> Option<String> {
    let mut best: Option<(usize, &String)> = None;
    for (name, len) in candidates {
        let Some(diff) = max.checked_sub(count + len) else {
            continue;
        };
        if best.is_none_or(|(d, _)| diff < d) {
            best = Some((diff, name));
            if diff == 0 {
                break;
            }
        }
    }
    best.map(|(_, name)| name.clone())
}

/// `reconcileByPortMapping`: keeps what is still wanted in place, fills slices
/// being updated anyway, then the unchanged slice that ends closest to full, then
/// new slices.
fn reconcile_port_mapping<'a>(
    svc: &Service,
    existing: &[&'a EndpointSlice],
    mut desired: BTreeMap<EndpointKey, Endpoint>,
    ports: &[EndpointPort],
    address_type: &str,
    max: usize,
    changes: &mut Changes<'a>,
) {
    let labels = slice_labels(svc);
    let mut work: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut to_update: BTreeSet<String> = BTreeSet::new();
    let mut unchanged: BTreeSet<String> = BTreeSet::new();

    // 1. Drop endpoints no longer desired; refresh those that changed.
    for slice in existing {
        let name = name_of(&slice.metadata).to_string();
        let mut kept = Vec::new();
        let mut endpoint_changed = false;
        for ep in &slice.endpoints {
            if let Some(want) = desired.remove(&endpoint_key(ep)) {
                endpoint_changed |= !equal_beyond_hash(&want, ep);
                kept.push(want);
            }
        }
        let labels_changed = labels_of(&slice.metadata) != &labels;
        if endpoint_changed || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                changes.delete.push(slice);
                continue;
            }
            let mut copy = (*slice).clone();
            copy.endpoints = kept;
            copy.metadata.labels = Some(labels.clone());
            work.insert(name.clone(), copy);
            to_update.insert(name);
        } else if labels_changed {
            let mut copy = (*slice).clone();
            copy.metadata.labels = Some(labels.clone());
            work.insert(name.clone(), copy);
            to_update.insert(name);
        } else {
            work.insert(name.clone(), (*slice).clone());
            unchanged.insert(name);
        }
    }

    // 2. Fill the slices that are written anyway, fullest first.
    if !desired.is_empty() && !to_update.is_empty() {
        let mut order: Vec<(usize, String)> = to_update
            .iter()
            .map(|n| (work.get(n).map_or(0, |s| s.endpoints.len()), n.clone()))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, name) in order {
            if let Some(slice) = work.get_mut(&name) {
                fill(&mut slice.endpoints, &mut desired, max);
            }
        }
    }

    // 3. Fit the rest into one unchanged slice if one has room, else new slices.
    while !desired.is_empty() {
        let target = if desired.len() < max && !unchanged.is_empty() {
            slice_to_fill(
                unchanged
                    .iter()
                    .map(|n| (n, work.get(n).map_or(0, |s| s.endpoints.len()))),
                desired.len(),
                max,
            )
        } else {
            None
        };
        match target.and_then(|name| work.get_mut(&name).map(|s| (name, s))) {
            Some((name, slice)) => {
                fill(&mut slice.endpoints, &mut desired, max);
                unchanged.remove(&name);
                to_update.insert(name);
            }
            None => {
                let mut slice = new_slice(svc, ports.to_vec(), address_type);
                fill(&mut slice.endpoints, &mut desired, max);
                changes.create.push(slice);
            }
        }
    }

    for name in to_update {
        if let Some(mut slice) = work.remove(&name) {
            slice.endpoints.sort_by_key(endpoint_key);
            changes.update.push(slice);
        }
    }
}

/// Moves desired endpoints (in key order) into `endpoints` up to `max`.
fn fill(endpoints: &mut Vec<Endpoint>, desired: &mut BTreeMap<EndpointKey, Endpoint>, max: usize) {
    while endpoints.len() < max {
        let Some((_, ep)) = desired.pop_first() else {
            break;
        };
        endpoints.push(ep);
    }
}

/// `finalize`: a create and a delete of the same address type become an update
/// of the slice that would have been deleted.
fn finalize<'a>(svc: &Service, mut changes: Changes<'a>) -> Changes<'a> {
    let mut i = 0;
    while i < changes.delete.len() {
        let Some(last) = changes.create.last() else {
            break;
        };
        let old = changes.delete[i];
        if old.address_type == last.address_type && owned_by(old, svc) {
            if let Some(mut slice) = changes.create.pop() {
                slice.metadata.name = old.metadata.name.clone();
                slice.metadata.uid = old.metadata.uid.clone();
                slice.metadata.resource_version = old.metadata.resource_version.clone();
                changes.update.push(slice);
            }
            changes.delete.remove(i);
        } else {
            i += 1;
        }
    }
    changes
}

#[cfg(test)]
mod tests;
