//! What the registry strategies (`PrepareForCreate`/`PrepareForUpdate`) and the default
//! admission plugins (DefaultTolerationSeconds, Priority, ServiceAccount) do before validation.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LoadBalancerStatus, Pod, PodCondition, PodSpec, PodStatus, Service, ServiceSpec, ServiceStatus,
    Toleration,
};
use k8s_openapi::api::networking::v1::{IngressLoadBalancerStatus, IngressStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::quantity::Quantity;
use crate::validation::corev1::needs_health_check;

/// `rest.BeforeCreate`: a new object carries no deletion state.
pub(crate) fn meta_for_create(meta: &mut ObjectMeta) {
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
}

/// `rest.BeforeUpdate`: system fields the client may omit are kept from the stored object.
pub(crate) fn meta_for_update(new: &mut ObjectMeta, old: &ObjectMeta) {
    new.generation = old.generation;
    if new.uid.as_deref().unwrap_or("").is_empty() {
        new.uid.clone_from(&old.uid);
    }
    if old.creation_timestamp.is_some() {
        new.creation_timestamp.clone_from(&old.creation_timestamp);
    }
    if old.deletion_timestamp.is_some() {
        new.deletion_timestamp.clone_from(&old.deletion_timestamp);
    }
    if old.deletion_grace_period_seconds.is_some() && new.deletion_grace_period_seconds.is_none() {
        new.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
    }
}

/// Pod create: the strategy (status Pending, QoS class, scheduling-gated condition) and the
/// admission plugins that mutate pods.
pub(crate) fn pod_for_create(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    default_toleration_seconds(spec);
    // Priority admission without PriorityClasses: built-in classes or the global default 0.
    if spec.priority.is_none() {
        let priority = match spec.priority_class_name.as_deref() {
            Some("system-node-critical") => 2_000_001_000,
            Some("system-cluster-critical") => 2_000_000_000,
            _ => 0,
        };
        spec.priority = Some(priority);
    }
    if spec.preemption_policy.is_none() {
        spec.preemption_policy = Some("PreemptLowerPriority".to_string());
    }
    // ServiceAccount admission: every pod runs as a service account, `default` if unnamed.
    if spec
        .service_account_name
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        spec.service_account_name = Some("default".to_string());
        spec.service_account = Some("default".to_string());
    }
    let qos = qos_class(spec);
    let mut status = PodStatus {
        phase: Some("Pending".to_string()),
        qos_class: Some(qos.to_string()),
        ..Default::default()
    };
    if spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty())
    {
        status.conditions = Some(vec![PodCondition {
            type_: "PodScheduled".to_string(),
            status: "False".to_string(),
            reason: Some("SchedulingGated".to_string()),
            message: Some("Scheduling is blocked due to non-empty scheduling gates".to_string()),
            ..Default::default()
        }]);
    }
    pod.status = Some(status);
}

/// Pod update: status is kept; the DefaultTolerationSeconds plugin also runs on updates.
pub(crate) fn pod_for_update(pod: &mut Pod, old: &Pod) {
    pod.status.clone_from(&old.status);
    default_toleration_seconds(pod.spec.get_or_insert_with(PodSpec::default));
}

/// The DefaultTolerationSeconds admission plugin: tolerate not-ready and unreachable nodes
/// for 300 seconds unless the pod already tolerates them.
fn default_toleration_seconds(spec: &mut PodSpec) {
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    let tolerates = |key: &str| {
        tolerations.iter().any(|t| {
            let k = t.key.as_deref().unwrap_or("");
            let e = t.effect.as_deref().unwrap_or("");
            (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
        })
    };
    let mut added = Vec::new();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        if !tolerates(key) {
            added.push(Toleration {
                key: Some(key.to_string()),
                operator: Some("Exists".to_string()),
                effect: Some("NoExecute".to_string()),
                toleration_seconds: Some(300),
                value: None,
            });
        }
    }
    tolerations.extend(added);
}

/// `qos.ComputePodQOS`.
pub(crate) fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let res = c.resources.clone().unwrap_or_default();
        for (name, q) in res.requests.iter().flatten() {
            let name = match name.as_str() {
                "cpu" => "cpu",
                "memory" => "memory",
                _ => continue,
            };
            if let Ok(q) = Quantity::parse(&q.0) {
                if q.is_negative() || q.is_zero() {
                    continue;
                }
                let sum = requests.get(name).map_or(q, |prev| q.add(prev));
                requests.insert(name, sum);
            }
        }
        let mut found = Vec::new();
        for (name, q) in res.limits.iter().flatten() {
            let name = match name.as_str() {
                "cpu" => "cpu",
                "memory" => "memory",
                _ => continue,
            };
            if let Ok(q) = Quantity::parse(&q.0) {
                if q.is_negative() || q.is_zero() {
                    continue;
                }
                found.push(name);
                let sum = limits.get(name).map_or(q, |prev| q.add(prev));
                limits.insert(name, sum);
            }
        }
        if !(found.contains(&"cpu") && found.contains(&"memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &requests {
            if limits.get(name) != Some(req) {
                guaranteed = false;
                break;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn spec_type(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or("")
}

fn needs_cluster_ip(spec: &ServiceSpec) -> bool {
    spec_type(spec) != "ExternalName"
}

fn needs_node_port(spec: &ServiceSpec) -> bool {
    let t = spec_type(spec);
    t == "NodePort"
        || (t == "LoadBalancer" && spec.allocate_load_balancer_node_ports != Some(false))
}

/// Service create: empty status, and `NormalizeClusterIPs` of the REST storage.
pub(crate) fn service_for_create(svc: &mut Service) {
    svc.status = Some(ServiceStatus {
        load_balancer: Some(LoadBalancerStatus::default()),
        ..Default::default()
    });
    let spec = svc.spec.get_or_insert_with(ServiceSpec::default);
    let ip = spec.cluster_ip.clone().unwrap_or_default();
    if !ip.is_empty() && spec.cluster_ips.as_ref().is_none_or(|v| v.is_empty()) {
        spec.cluster_ips = Some(vec![ip]);
    }
}

/// Service update: `PrepareForUpdate` (status kept, allocated values patched in, cluster IPs
/// normalized, type-dependent fields dropped).
pub(crate) fn service_for_update(svc: &mut Service, old: &Service) {
    svc.status.clone_from(&old.status);
    let empty = ServiceSpec::default();
    let o = old.spec.as_ref().unwrap_or(&empty).clone();
    let n = svc.spec.get_or_insert_with(ServiceSpec::default);

    // patchAllocatedValues
    if needs_cluster_ip(&o) && needs_cluster_ip(n) {
        if n.cluster_ip.as_deref().unwrap_or("").is_empty() {
            n.cluster_ip.clone_from(&o.cluster_ip);
        }
        if n.cluster_ips.as_ref().is_none_or(|v| v.is_empty())
            && o.cluster_ips.as_ref().is_some_and(|v| !v.is_empty())
        {
            n.cluster_ips.clone_from(&o.cluster_ips);
        }
        // The allocator keeps the IP family fields of an existing service.
        if n.ip_family_policy.is_none() {
            n.ip_family_policy.clone_from(&o.ip_family_policy);
        }
        if n.ip_families.as_ref().is_none_or(|v| v.is_empty()) && n.cluster_ips == o.cluster_ips {
            n.ip_families.clone_from(&o.ip_families);
        }
    }
    if needs_node_port(&o) && needs_node_port(n) {
        let used = |s: &ServiceSpec| -> Vec<i32> {
            s.ports
                .iter()
                .flatten()
                .filter_map(|p| p.node_port.filter(|np| *np != 0))
                .collect()
        };
        let old_used = used(&o);
        let new_used = used(n);
        let in_both: Vec<i32> = old_used
            .iter()
            .copied()
            .filter(|p| new_used.contains(p))
            .collect();
        let by_name: BTreeMap<String, i32> = o
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone().unwrap_or_default(), p.node_port.unwrap_or(0)))
            .collect();
        for p in n.ports.iter_mut().flatten() {
            if p.node_port.unwrap_or(0) == 0 {
                let old_val = by_name
                    .get(p.name.as_deref().unwrap_or(""))
                    .copied()
                    .unwrap_or(0);
                if old_val != 0 && !in_both.contains(&old_val) {
                    p.node_port = Some(old_val);
                }
            }
        }
    }
    if needs_health_check(&o) && needs_health_check(n) && n.health_check_node_port.unwrap_or(0) == 0
    {
        n.health_check_node_port = o.health_check_node_port;
    }

    // NormalizeClusterIPs
    let old_ip = o.cluster_ip.clone().unwrap_or_default();
    let new_ip = n.cluster_ip.clone().unwrap_or_default();
    let old_ips = o.cluster_ips.clone().unwrap_or_default();
    if !old_ips.is_empty()
        && n.cluster_ips.as_ref().is_none_or(|v| v.is_empty())
        && old_ip == new_ip
    {
        n.cluster_ips = Some(old_ips.clone());
    }
    if old_ip != new_ip {
        let same = n.cluster_ips.clone().unwrap_or_default() == old_ips;
        if !old_ip.is_empty() && new_ip.is_empty() {
            if same {
                n.cluster_ips = None;
            }
        } else if same {
            n.cluster_ips = Some(vec![new_ip]);
        }
    }

    // dropTypeDependentFields
    if needs_cluster_ip(&o) && !needs_cluster_ip(n) {
        if n.cluster_ip == o.cluster_ip && n.cluster_ips.clone().unwrap_or_default() == old_ips {
            n.cluster_ip = None;
            n.cluster_ips = None;
        }
        if n.ip_families.clone().unwrap_or_default() == o.ip_families.clone().unwrap_or_default() {
            n.ip_families = None;
        }
        if n.ip_family_policy == o.ip_family_policy {
            n.ip_family_policy = None;
        }
    }
    if needs_node_port(&o) && !needs_node_port(n) {
        let node_ports = |s: &ServiceSpec| -> Vec<i32> {
            s.ports
                .iter()
                .flatten()
                .map(|p| p.node_port.unwrap_or(0))
                .collect()
        };
        if node_ports(&o) == node_ports(n) {
            for p in n.ports.iter_mut().flatten() {
                p.node_port = None;
            }
        }
    }
    if needs_health_check(&o)
        && !needs_health_check(n)
        && o.health_check_node_port == n.health_check_node_port
    {
        n.health_check_node_port = None;
    }
    if spec_type(&o) == "LoadBalancer"
        && spec_type(n) != "LoadBalancer"
        && n.allocate_load_balancer_node_ports.is_some()
        && n.allocate_load_balancer_node_ports == o.allocate_load_balancer_node_ports
    {
        n.allocate_load_balancer_node_ports = None;
    }
    if spec_type(&o) == "LoadBalancer"
        && spec_type(n) != "LoadBalancer"
        && n.load_balancer_class == o.load_balancer_class
    {
        n.load_balancer_class = None;
    }
    if crate::validation::corev1::externally_accessible(&o)
        && !crate::validation::corev1::externally_accessible(n)
        && n.external_traffic_policy == o.external_traffic_policy
    {
        n.external_traffic_policy = None;
    }
    if spec_type(n) != "LoadBalancer" {
        let status = svc.status.get_or_insert_with(ServiceStatus::default);
        status.load_balancer = Some(LoadBalancerStatus::default());
    }
}

/// Ingress create: empty status.
pub(crate) fn empty_ingress_status() -> IngressStatus {
    IngressStatus {
        load_balancer: Some(IngressLoadBalancerStatus::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;

    fn spec_with(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> PodSpec {
        let map = |l: &[(&str, &str)]| {
            if l.is_empty() {
                None
            } else {
                Some(
                    l.iter()
                        .map(|(k, v)| (k.to_string(), Q(v.to_string())))
                        .collect(),
                )
            }
        };
        PodSpec {
            containers: vec![Container {
                name: "app".into(),
                resources: Some(ResourceRequirements {
                    requests: map(requests),
                    limits: map(limits),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn pods_without_resources_are_best_effort() {
        assert_eq!(qos_class(&spec_with(&[], &[])), "BestEffort");
    }

    #[test]
    fn pods_with_equal_cpu_and_memory_requests_and_limits_are_guaranteed() {
        let s = spec_with(
            &[("cpu", "1"), ("memory", "1Gi")],
            &[("cpu", "1000m"), ("memory", "1Gi")],
        );
        assert_eq!(qos_class(&s), "Guaranteed");
    }

    #[test]
    fn pods_with_only_requests_are_burstable() {
        assert_eq!(qos_class(&spec_with(&[("cpu", "100m")], &[])), "Burstable");
        let s = spec_with(
            &[("cpu", "500m"), ("memory", "1Gi")],
            &[("cpu", "1"), ("memory", "1Gi")],
        );
        assert_eq!(qos_class(&s), "Burstable");
    }
}
