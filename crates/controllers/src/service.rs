//! Service and pod helpers shared by the endpoint controllers and LB IPAM, as
//! upstream's `k8s.io/endpointslice/util` (controller_utils.go), `utils.go`
//! (`FindPort`) and `pkg/apis/core/v1/helper` provide them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::meta::{is_pod_terminal, labels_of};

static EMPTY_SPEC: LazyLock<ServiceSpec> = LazyLock::new(ServiceSpec::default);

pub(crate) fn spec_of(svc: &Service) -> &ServiceSpec {
    svc.spec.as_ref().unwrap_or(&EMPTY_SPEC)
}

/// `spec.type`, `ClusterIP` when unset (the API server's default).
pub(crate) fn service_type(svc: &Service) -> &str {
    spec_of(svc).type_.as_deref().unwrap_or("ClusterIP")
}

/// The selector the endpoint controllers act on, or `None` when they must leave
/// the Service alone: no selector ("services without a selector receive no
/// endpoints from this controller", endpointslice_controller.go `syncService`),
/// or type ExternalName (<https://issues.k8s.io/105986>).
///
/// An empty map counts as no selector: the API stores `selector` with Go's
/// `omitempty`, so `{}` reads back as nil upstream.
pub(crate) fn endpoint_selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    if service_type(svc) == "ExternalName" {
        return None;
    }
    spec_of(svc).selector.as_ref().filter(|s| !s.is_empty())
}

/// `labels.Set(selector).AsSelectorPreValidated().Matches`: every pair present
/// (AND); extra labels on the pod are fine.
pub(crate) fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = labels_of(&pod.metadata);
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `helper.IsServiceIPSet`: false for headless (`None`) and unset cluster IPs.
pub(crate) fn is_service_ip_set(svc: &Service) -> bool {
    let ip = spec_of(svc).cluster_ip.as_deref().unwrap_or_default();
    ip != "None" && !ip.is_empty()
}

pub(crate) fn is_headless(svc: &Service) -> bool {
    spec_of(svc).cluster_ip.as_deref() == Some("None")
}

pub(crate) fn publish_not_ready(svc: &Service) -> bool {
    spec_of(svc).publish_not_ready_addresses == Some(true)
}

/// The pod's IPs: `status.podIPs`, or `status.podIP` when the list is empty.
pub(crate) fn pod_ips(pod: &Pod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let ips: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    status
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .into_iter()
        .collect()
}

/// The pod's IPs of one family, re-stringified (upstream parses "sloppily" and
/// prints back, so irregular spellings come out canonical).
pub(crate) fn pod_ips_of_family(pod: &Pod, ipv6: bool) -> Vec<String> {
    pod_ips(pod)
        .into_iter()
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .filter(|ip| ip.is_ipv6() == ipv6)
        .map(|ip| ip.to_string())
        .collect()
}

/// `ShouldPodBeInEndpoints`: not terminal (Succeeded/Failed), has an IP, and —
/// unless `include_terminating` — not being deleted.
pub(crate) fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if is_pod_terminal(pod) || pod_ips(pod).is_empty() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// `ShouldSetHostname`: the pod has `spec.hostname` and its `spec.subdomain`
/// names this Service (in the pod's namespace).
pub(crate) fn should_set_hostname(pod: &Pod, svc: &Service) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.hostname.as_deref().is_some_and(|h| !h.is_empty())
        && spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace
}

/// A protocol with the API default (`TCP`) applied.
pub(crate) fn protocol_or_tcp(p: Option<&str>) -> &str {
    match p {
        Some(p) if !p.is_empty() => p,
        _ => "TCP",
    }
}

/// `FindPort`: a numeric targetPort as is (unset or zero: the service port, as
/// the API server defaults it); a named one is looked up among the containers'
/// ports with that name and the service port's protocol, then among sidecars
/// (init containers with `restartPolicy: Always`). `None` when nothing matches.
pub(crate) fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let name = match &port.target_port {
        None => return Some(port.port),
        Some(IntOrString::Int(0)) => return Some(port.port),
        Some(IntOrString::Int(n)) => return Some(*n),
        Some(IntOrString::String(s)) if s.is_empty() => return Some(port.port),
        Some(IntOrString::String(s)) => s,
    };
    let protocol = protocol_or_tcp(port.protocol.as_deref());
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_deref() == Some(name.as_str())
                && protocol_or_tcp(p.protocol.as_deref()) == protocol
        })
        .map(|p| p.container_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{PodExt, ServiceExt, mk_pod, mk_service, svc_port};

    #[test]
    fn a_selector_needs_every_pair_and_ignores_extra_labels() {
        let svc = mk_service("default", "web", &[("app", "web"), ("tier", "front")]);
        let sel = endpoint_selector(&svc).unwrap();
        let both =
            mk_pod("default", "a").with_labels(&[("app", "web"), ("tier", "front"), ("x", "y")]);
        let one = mk_pod("default", "b").with_labels(&[("app", "web")]);
        assert!(selects(sel, &both));
        assert!(!selects(sel, &one));
    }

    #[test]
    fn external_name_and_empty_selectors_are_not_for_the_endpoint_controllers() {
        let mut svc = mk_service("default", "web", &[("app", "web")]).type_("ExternalName");
        assert!(endpoint_selector(&svc).is_none());
        svc = mk_service("default", "web", &[]);
        assert!(endpoint_selector(&svc).is_none());
        svc.spec.as_mut().unwrap().selector = Some(BTreeMap::new());
        assert!(endpoint_selector(&svc).is_none());
    }

    #[test]
    fn named_target_ports_resolve_by_name_and_protocol() {
        let pod = mk_pod("default", "a")
            .with_container_port("http", 8080, "TCP")
            .with_container_port("dns", 5353, "UDP");
        let named = |n: &str, proto: &str| {
            let mut p = svc_port("p", 80, IntOrString::String(n.into()));
            p.protocol = Some(proto.into());
            p
        };
        assert_eq!(find_port(&pod, &named("http", "TCP")), Some(8080));
        assert_eq!(find_port(&pod, &named("dns", "UDP")), Some(5353));
        assert_eq!(find_port(&pod, &named("dns", "TCP")), None);
        assert_eq!(find_port(&pod, &named("missing", "TCP")), None);
        assert_eq!(
            find_port(&pod, &svc_port("p", 80, IntOrString::Int(9000))),
            Some(9000)
        );
        let mut defaulted = svc_port("p", 80, IntOrString::Int(0));
        assert_eq!(find_port(&pod, &defaulted), Some(80));
        defaulted.target_port = None;
        assert_eq!(find_port(&pod, &defaulted), Some(80));
    }

    #[test]
    fn terminal_pods_and_pods_without_ips_are_left_out() {
        let running = mk_pod("default", "a").with_ip("192.0.2.1");
        assert!(should_pod_be_in_endpoints(&running, false));
        assert!(!should_pod_be_in_endpoints(&mk_pod("default", "b"), true));
        assert!(!should_pod_be_in_endpoints(
            &running.clone().phase("Succeeded"),
            true
        ));
        assert!(!should_pod_be_in_endpoints(
            &running.clone().phase("Failed"),
            true
        ));
        let terminating = running.deleting();
        assert!(should_pod_be_in_endpoints(&terminating, true));
        assert!(!should_pod_be_in_endpoints(&terminating, false));
    }
}
