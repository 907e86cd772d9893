//! From Kubernetes objects to a [`Snapshot`], as kube-proxy reads them
//! (pkg/proxy/serviceport.go `newBaseServiceInfo`, pkg/proxy/endpointslicecache.go), and the
//! health check node ports of externalTrafficPolicy Local Services.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::{
    DEFAULT_AFFINITY_TIMEOUT, Endpoint, Protocol, ServicePort, ServicePortKey, Snapshot,
    TrafficPolicy,
};

/// The label that ties an EndpointSlice to its Service (`discovery.LabelServiceName`).
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// What the proxy needs to know about the node it runs on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeView {
    /// The Node's name: endpoints whose `nodeName` equals it are local.
    pub name: String,
    /// The node's primary addresses: node ports are served on them.
    pub ips: Vec<Ipv4Addr>,
}

fn protocol(p: Option<&str>) -> Option<Protocol> {
    match p.unwrap_or("TCP") {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

fn port(p: Option<i32>) -> Option<u16> {
    p.and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0)
}

fn ipv4s(list: Option<&Vec<String>>) -> Vec<Ipv4Addr> {
    list.into_iter()
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// pkg/api/v1/service `ExternallyAccessible`.
fn externally_accessible(spec: &ServiceSpec) -> bool {
    match spec.type_.as_deref() {
        Some("LoadBalancer" | "NodePort") => true,
        None | Some("ClusterIP") => spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()),
        _ => false,
    }
}

/// The IPv4 cluster IP of a proxied Service: `clusterIPs` (or `clusterIP`), not `None`
/// (headless), and only for types ClusterIP, NodePort and LoadBalancer (ExternalName Services
/// have no virtual IP).
fn cluster_ip(spec: &ServiceSpec) -> Option<Ipv4Addr> {
    if !matches!(
        spec.type_.as_deref(),
        None | Some("ClusterIP" | "NodePort" | "LoadBalancer")
    ) {
        return None;
    }
    let listed = spec.cluster_ips.iter().flatten().chain(&spec.cluster_ip);
    listed
        .filter(|ip| ip.as_str() != "None")
        .find_map(|ip| ip.parse().ok())
}

/// One endpoint as the EndpointSlice cache keeps it.
struct SliceEndpoint {
    ip: Ipv4Addr,
    node: Option<String>,
    ready: bool,
    serving: bool,
    terminating: bool,
}

/// Builds the proxy's snapshot from Services and EndpointSlices, as kube-proxy does:
///
/// - Services of type ClusterIP, NodePort and LoadBalancer with an IPv4 cluster IP are
///   proxied; headless (`clusterIP: None`) and ExternalName Services are not.
/// - A Service port's endpoints come from the IPv4 EndpointSlices of the same namespace
///   labelled `kubernetes.io/service-name=<name>`, from the slice port with the same name (""
///   when unnamed; a port without a name is ignored, as kube-proxy does) and protocol.
///   Several slices merge; an `ip:port` listed twice counts once (a local copy wins).
/// - Conditions: ready and serving default to true, terminating to false
///   (`newEndpointSliceInfo`). `local` means `nodeName` is this node.
/// - LoadBalancer IPs are `status.loadBalancer.ingress[].ip` in VIP mode (`ipMode` unset or
///   `VIP`); externalIPs come from the spec. externalTrafficPolicy Local applies only to
///   externally accessible Services; the affinity timeout defaults to 10800 s.
///
/// It is the fold of [`service_ports`] over the Services.
pub fn snapshot<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &NodeView,
    cluster_cidr: Ipv4Net,
) -> Snapshot {
    // (namespace, service name) -> slices.
    let mut by_service: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    for s in slices {
        let Some(svc) = slice_service(s) else {
            continue;
        };
        let ns = s.metadata.namespace.as_deref().unwrap_or_default();
        by_service.entry((ns, svc)).or_default().push(s);
    }
    let mut snap = Snapshot::new(cluster_cidr, node.ips.clone());
    for svc in services {
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let slices = by_service.get(&(ns, name)).into_iter().flatten().copied();
        snap.services.extend(service_ports(svc, slices, node));
    }
    snap
}

/// The Service an EndpointSlice belongs to (its `kubernetes.io/service-name` label), if it
/// is one the proxy reads (IPv4).
pub fn slice_service(slice: &EndpointSlice) -> Option<&str> {
    if slice.address_type != "IPv4" {
        return None;
    }
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .map(String::as_str)
}

/// One Service's ports with their endpoints, as [`snapshot`] converts them: what a caller that
/// keeps its [`Snapshot`] up to date one Service at a time passes to
/// [`Snapshot::replace_service`]. `slices` are the Service's EndpointSlices, in any order
/// (others, and non-IPv4 ones, are ignored); they merge in name order. Empty when the Service
/// is not proxied.
pub fn service_ports<'a>(
    svc: &Service,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &NodeView,
) -> Vec<(ServicePortKey, (ServicePort, Vec<Endpoint>))> {
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let Some(cluster_ip) = cluster_ip(spec) else {
        return Vec::new();
    };
    let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    // By slice name, so that merging is deterministic.
    let slices: BTreeMap<&str, &EndpointSlice> = slices
        .into_iter()
        .filter(|s| {
            slice_service(s) == Some(name)
                && s.metadata.namespace.as_deref().unwrap_or_default() == ns
        })
        .map(|s| (s.metadata.name.as_deref().unwrap_or_default(), s))
        .collect();
    let external = externally_accessible(spec);
    let etp = if external && spec.external_traffic_policy.as_deref() == Some("Local") {
        TrafficPolicy::Local
    } else {
        TrafficPolicy::Cluster
    };
    let itp = if spec.internal_traffic_policy.as_deref() == Some("Local") {
        TrafficPolicy::Local
    } else {
        TrafficPolicy::Cluster
    };
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT)
    });
    // pkg/api/v1/service NeedsHealthCheck: LoadBalancer with externalTrafficPolicy Local.
    let health_check_node_port = (spec.type_.as_deref() == Some("LoadBalancer")
        && etp == TrafficPolicy::Local)
        .then(|| port(spec.health_check_node_port))
        .flatten();
    let load_balancer_ips: Vec<Ipv4Addr> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter(|i| matches!(i.ip_mode.as_deref(), None | Some("VIP")))
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect();
    let external_ips = ipv4s(spec.external_ips.as_ref());
    let mut out = Vec::new();
    for p in spec.ports.iter().flatten() {
        let (Some(proto), Some(svc_port)) = (protocol(p.protocol.as_deref()), port(Some(p.port)))
        else {
            continue;
        };
        let port_name = p.name.as_deref().unwrap_or_default();
        let key = ServicePortKey::new(ns, name, port_name);
        let sp = ServicePort {
            cluster_ip,
            port: svc_port,
            protocol: proto,
            node_port: port(p.node_port),
            session_affinity_timeout: affinity,
            service: key.0.clone(),
            external_ips: external_ips.clone(),
            load_balancer_ips: load_balancer_ips.clone(),
            external_traffic_policy: etp,
            internal_traffic_policy: itp,
            health_check_node_port,
        };
        let eps = endpoints(slices.values().copied(), port_name, proto, &node.name);
        out.push((key, (sp, eps)));
    }
    out
}

/// The endpoints of one Service port across the Service's slices (`addEndpoints`).
fn endpoints<'a>(
    slices: impl Iterator<Item = &'a EndpointSlice>,
    port_name: &str,
    proto: Protocol,
    node_name: &str,
) -> Vec<Endpoint> {
    let mut found: BTreeMap<(Ipv4Addr, u16), Endpoint> = BTreeMap::new();
    for slice in slices {
        for sp in slice.ports.iter().flatten() {
            if sp.name.as_deref() != Some(port_name)
                || protocol(sp.protocol.as_deref()) != Some(proto)
            {
                continue;
            }
            let Some(target) = port(sp.port) else {
                continue;
            };
            for e in slice.endpoints.iter().filter_map(slice_endpoint) {
                let local = !node_name.is_empty() && e.node.as_deref() == Some(node_name);
                let ep = Endpoint {
                    ip: e.ip,
                    port: target,
                    ready: e.ready,
                    local,
                    serving: e.serving,
                    terminating: e.terminating,
                };
                // endpointslicecache.go: the first copy wins unless a later one is local.
                if local || !found.contains_key(&(e.ip, target)) {
                    found.insert((e.ip, target), ep);
                }
            }
        }
    }
    found.into_values().collect()
}

fn slice_endpoint(e: &k8s_openapi::api::discovery::v1::Endpoint) -> Option<SliceEndpoint> {
    // kube-proxy uses the first address only.
    let ip = e.addresses.first()?.parse().ok()?;
    let c = e.conditions.as_ref();
    Some(SliceEndpoint {
        ip,
        node: e.node_name.clone(),
        ready: c.and_then(|c| c.ready).unwrap_or(true),
        serving: c.and_then(|c| c.serving).unwrap_or(true),
        terminating: c.and_then(|c| c.terminating).unwrap_or(false),
    })
}

/// A health check node port to serve (pkg/proxy/healthcheck/service_health.go): HTTP 200
/// when `local_endpoints > 0`, else 503, with the body
/// `{"service":{"namespace":..,"name":..},"localEndpoints":N}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HealthCheckNodePort {
    /// `spec.healthCheckNodePort`.
    pub port: u16,
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// Distinct IPs of this node's ready endpoints, over all the Service's ports
    /// (`LocalReadyEndpoints`; terminating endpoints do not count).
    pub local_endpoints: usize,
}

/// The health check node ports of the snapshot's LoadBalancer Services with
/// externalTrafficPolicy Local, one per Service, by port. A port claimed by two Services is
/// served for the first in (namespace, name) order.
pub fn health_check_node_ports(s: &Snapshot) -> Vec<HealthCheckNodePort> {
    let mut local_ips: BTreeMap<(&str, &str), BTreeSet<Ipv4Addr>> = BTreeMap::new();
    let mut ports: BTreeMap<u16, (&str, &str)> = BTreeMap::new();
    for (key, (sp, eps)) in &s.services {
        let service = key.service();
        let ips = local_ips.entry(service).or_default();
        ips.extend(eps.iter().filter(|e| e.local && e.ready).map(|e| e.ip));
        if let Some(p) = sp.health_check_node_port {
            let first = ports.entry(p).or_insert(service);
            *first = (*first).min(service);
        }
    }
    ports
        .into_iter()
        .map(|(port, (ns, name))| HealthCheckNodePort {
            port,
            namespace: ns.to_string(),
            name: name.to_string(),
            local_endpoints: local_ips.get(&(ns, name)).map_or(0, BTreeSet::len),
        })
        .collect()
}

/// [`health_check_node_ports`] kept up to date one Service at a time (the node agent's
/// health check servers follow it without a walk over every Service per change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthChecks {
    /// (namespace, name) -> its health check node ports and local ready endpoint addresses.
    by_service: BTreeMap<(String, String), (BTreeSet<u16>, usize)>,
    /// Port -> the Services asking for it; the first is served.
    by_port: BTreeMap<u16, BTreeSet<(String, String)>>,
}

impl HealthChecks {
    /// No health check node port.
    pub fn new() -> HealthChecks {
        HealthChecks::default()
    }

    /// All of `s` again: O(Services). Returns every port served before or after.
    pub fn rebuild(&mut self, s: &Snapshot) -> BTreeSet<u16> {
        let mut touched: BTreeSet<u16> = self.by_port.keys().copied().collect();
        *self = HealthChecks::default();
        let services: BTreeSet<(&str, &str)> = s.services.keys().map(|k| k.service()).collect();
        for (ns, name) in services {
            touched.extend(self.update(s, ns, name));
        }
        touched
    }

    /// Service `namespace/name` again, from its ports in `s` (none when it is gone). Returns
    /// the ports whose answer may have changed.
    pub fn update(&mut self, s: &Snapshot, namespace: &str, name: &str) -> BTreeSet<u16> {
        let service = (namespace.to_string(), name.to_string());
        let mut ports = BTreeSet::new();
        let mut ips = BTreeSet::new();
        for key in s.service_keys(namespace, name) {
            if let Some((sp, eps)) = s.services.get(&key) {
                ports.extend(sp.health_check_node_port);
                ips.extend(eps.iter().filter(|e| e.local && e.ready).map(|e| e.ip));
            }
        }
        let mut touched = ports.clone();
        if let Some((old, _)) = self.by_service.remove(&service) {
            for p in old {
                if let Some(set) = self.by_port.get_mut(&p) {
                    set.remove(&service);
                    if set.is_empty() {
                        self.by_port.remove(&p);
                    }
                }
                touched.insert(p);
            }
        }
        if !ports.is_empty() {
            for p in &ports {
                self.by_port.entry(*p).or_default().insert(service.clone());
            }
            self.by_service.insert(service, (ports, ips.len()));
        }
        touched
    }

    /// What `port` serves now.
    pub fn get(&self, port: u16) -> Option<HealthCheckNodePort> {
        let (ns, name) = self.by_port.get(&port)?.first()?;
        let local_endpoints = self
            .by_service
            .get(&(ns.clone(), name.clone()))
            .map_or(0, |(_, n)| *n);
        Some(HealthCheckNodePort {
            port,
            namespace: ns.clone(),
            name: name.clone(),
            local_endpoints,
        })
    }

    /// Every served port, by port: equal to [`health_check_node_ports`] of the snapshot.
    pub fn all(&self) -> Vec<HealthCheckNodePort> {
        self.by_port.keys().filter_map(|p| self.get(*p)).collect()
    }
}

#[cfg(test)]
mod tests;
