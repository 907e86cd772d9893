//! Defaulting and v1 conversion quirks, as the API server applies them while decoding
//! (pkg/apis/core/v1/defaults.go and conversion.go, apps/v1, networking/v1, discovery/v1).

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentStrategy, ReplicaSet, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    ClientIPConfig, Container, ContainerPort, EmptyDirVolumeSource, Endpoints, EnvVar,
    HTTPGetAction, HostIP, LifecycleHandler, Namespace, Node, Pod, PodIP, PodSecurityContext,
    PodSpec, Probe, Secret, Service, SessionAffinityConfig, Volume,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{IngressClass, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::validation::corev1::externally_accessible;

/// `v1.DefaultClientIPServiceAffinitySeconds`.
const DEFAULT_CLIENT_IP_AFFINITY_SECONDS: i32 = 10800;

fn set_if_none<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn set_if_empty(slot: &mut Option<String>, value: &str) {
    if slot.as_deref().unwrap_or("").is_empty() {
        *slot = Some(value.to_string());
    }
}

/// `SetObjectDefaults_Pod` plus the v1 conversions of `serviceAccount`, `podIP(s)`, `hostIP(s)`.
pub(crate) fn pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    // SetDefaults_Pod: requests default to limits for containers of a pod (not templates).
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        if let Some(res) = c.resources.as_mut()
            && let Some(limits) = res.limits.clone()
        {
            let requests = res.requests.get_or_insert_with(Default::default);
            for (k, v) in limits {
                requests.entry(k).or_insert(v);
            }
        }
    }
    set_if_none(&mut spec.enable_service_links, true);
    if spec.host_network == Some(true) {
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            for p in c.ports.iter_mut().flatten() {
                if p.host_port.unwrap_or(0) == 0 {
                    p.host_port = Some(p.container_port);
                }
            }
        }
    }
    pod_spec(spec);
    if let Some(status) = pod.status.as_mut() {
        // Convert_v1_PodStatus_To_core_PodStatus and back: podIP wins when both disagree.
        if let Some(ip) = status.pod_ip.clone().filter(|ip| !ip.is_empty()) {
            let first = status
                .pod_ips
                .as_ref()
                .and_then(|v| v.first())
                .map(|p| p.ip.clone());
            if first.as_deref() != Some(ip.as_str()) {
                status.pod_ips = Some(vec![PodIP { ip }]);
            }
        }
        if let Some(first) = status.pod_ips.as_ref().and_then(|v| v.first()) {
            status.pod_ip = Some(first.ip.clone());
        }
        if let Some(ip) = status.host_ip.clone().filter(|ip| !ip.is_empty()) {
            let first = status
                .host_ips
                .as_ref()
                .and_then(|v| v.first())
                .map(|p| p.ip.clone());
            if first.as_deref() != Some(ip.as_str()) {
                status.host_ips = Some(vec![HostIP { ip }]);
            }
        }
        if let Some(first) = status.host_ips.as_ref().and_then(|v| v.first()) {
            status.host_ip = Some(first.ip.clone());
        }
    }
}

/// `SetDefaults_PodSpec` and the defaults of everything inside a pod spec.
pub(crate) fn pod_spec(spec: &mut PodSpec) {
    set_if_empty(&mut spec.dns_policy, "ClusterFirst");
    set_if_empty(&mut spec.restart_policy, "Always");
    set_if_none(&mut spec.security_context, PodSecurityContext::default());
    set_if_none(&mut spec.termination_grace_period_seconds, 30);
    set_if_empty(&mut spec.scheduler_name, "default-scheduler");
    // v1 conversion: serviceAccount is the deprecated alias of serviceAccountName.
    if spec
        .service_account_name
        .as_deref()
        .unwrap_or("")
        .is_empty()
        && let Some(sa) = spec.service_account.clone().filter(|s| !s.is_empty())
    {
        spec.service_account_name = Some(sa);
    }
    if let Some(sa) = spec.service_account_name.clone().filter(|s| !s.is_empty()) {
        spec.service_account = Some(sa);
    }
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        container(c);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        ephemeral_pull_policy(&c.image, &mut c.image_pull_policy);
        set_if_empty(&mut c.termination_message_path, "/dev/termination-log");
        set_if_empty(&mut c.termination_message_policy, "File");
        for e in c.env.iter_mut().flatten() {
            env_var(e);
        }
    }
    for v in spec.volumes.iter_mut().flatten() {
        volume(v);
    }
}

fn ephemeral_pull_policy(image: &Option<String>, policy: &mut Option<String>) {
    if policy.as_deref().unwrap_or("").is_empty() {
        *policy = Some(default_pull_policy(image.as_deref().unwrap_or("")).to_string());
    }
}

/// `SetDefaults_Container` and the defaults of its ports, env, probes and lifecycle.
fn container(c: &mut Container) {
    ephemeral_pull_policy(&c.image, &mut c.image_pull_policy);
    set_if_empty(&mut c.termination_message_path, "/dev/termination-log");
    set_if_empty(&mut c.termination_message_policy, "File");
    for p in c.ports.iter_mut().flatten() {
        container_port(p);
    }
    for e in c.env.iter_mut().flatten() {
        env_var(e);
    }
    for p in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        probe(p);
    }
    if let Some(l) = c.lifecycle.as_mut() {
        for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
            lifecycle_handler(h);
        }
    }
}

fn container_port(p: &mut ContainerPort) {
    set_if_empty(&mut p.protocol, "TCP");
}

fn env_var(e: &mut EnvVar) {
    if let Some(fr) = e.value_from.as_mut().and_then(|f| f.field_ref.as_mut()) {
        set_if_empty(&mut fr.api_version, "v1");
    }
}

/// `SetDefaults_Probe` and `SetDefaults_HTTPGetAction`.
fn probe(p: &mut Probe) {
    if p.timeout_seconds.unwrap_or(0) == 0 {
        p.timeout_seconds = Some(1);
    }
    if p.period_seconds.unwrap_or(0) == 0 {
        p.period_seconds = Some(10);
    }
    if p.success_threshold.unwrap_or(0) == 0 {
        p.success_threshold = Some(1);
    }
    if p.failure_threshold.unwrap_or(0) == 0 {
        p.failure_threshold = Some(3);
    }
    if let Some(h) = p.http_get.as_mut() {
        http_get(h);
    }
}

fn lifecycle_handler(h: &mut LifecycleHandler) {
    if let Some(g) = h.http_get.as_mut() {
        http_get(g);
    }
}

fn http_get(h: &mut HTTPGetAction) {
    set_if_empty(&mut h.path, "/");
    set_if_empty(&mut h.scheme, "HTTP");
}

/// `SetDefaults_Volume` and the default modes of projected files (0644).
fn volume(v: &mut Volume) {
    let has_source = serde_json::to_value(&*v)
        .ok()
        .and_then(|val| val.as_object().map(|o| o.keys().any(|k| k != "name")))
        .unwrap_or(false);
    if !has_source {
        v.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    if let Some(s) = v.secret.as_mut() {
        set_if_none(&mut s.default_mode, 0o644);
    }
    if let Some(c) = v.config_map.as_mut() {
        set_if_none(&mut c.default_mode, 0o644);
    }
    if let Some(d) = v.downward_api.as_mut() {
        set_if_none(&mut d.default_mode, 0o644);
        for item in d.items.iter_mut().flatten() {
            if let Some(fr) = item.field_ref.as_mut() {
                set_if_empty(&mut fr.api_version, "v1");
            }
        }
    }
    if let Some(p) = v.projected.as_mut() {
        set_if_none(&mut p.default_mode, 0o644);
        for src in p.sources.iter_mut().flatten() {
            if let Some(t) = src.service_account_token.as_mut() {
                set_if_none(&mut t.expiration_seconds, 3600);
            }
            if let Some(d) = src.downward_api.as_mut() {
                for item in d.items.iter_mut().flatten() {
                    if let Some(fr) = item.field_ref.as_mut() {
                        set_if_empty(&mut fr.api_version, "v1");
                    }
                }
            }
        }
    }
    if let Some(h) = v.host_path.as_mut() {
        set_if_none(&mut h.type_, String::new());
    }
}

/// The pull policy `SetDefaults_Container` picks: `Always` for `:latest` or untagged images.
pub(crate) fn default_pull_policy(image: &str) -> &'static str {
    let image = image.trim();
    if image.is_empty() {
        return "IfNotPresent";
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, t)| t);
    // Repository paths must be lowercase; upstream's parse error means "no tag".
    let path_has_upper = name
        .split_once('/')
        .map_or(name, |(first, rest)| {
            if first.contains(['.', ':']) || first == "localhost" {
                rest
            } else {
                name
            }
        })
        .split(':')
        .next()
        .is_some_and(|p| p.chars().any(|c| c.is_ascii_uppercase()));
    if path_has_upper {
        return "IfNotPresent";
    }
    match (tag, digest) {
        (Some("latest"), _) => "Always",
        (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

/// `SetDefaults_Service`.
pub(crate) fn service(svc: &mut Service) {
    let spec = svc.spec.get_or_insert_with(Default::default);
    set_if_empty(&mut spec.session_affinity, "None");
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let missing = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .is_none();
            if missing {
                spec.session_affinity_config = Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig {
                        timeout_seconds: Some(DEFAULT_CLIENT_IP_AFFINITY_SECONDS),
                    }),
                });
            }
        }
        _ => {}
    }
    set_if_empty(&mut spec.type_, "ClusterIP");
    for p in spec.ports.iter_mut().flatten() {
        set_if_empty(&mut p.protocol, "TCP");
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
    if externally_accessible(spec)
        && spec
            .external_traffic_policy
            .as_deref()
            .unwrap_or("")
            .is_empty()
    {
        spec.external_traffic_policy = Some("Cluster".to_string());
    }
    let ty = spec.type_.clone().unwrap_or_default();
    if spec.internal_traffic_policy.is_none()
        && ["NodePort", "LoadBalancer", "ClusterIP"].contains(&ty.as_str())
    {
        spec.internal_traffic_policy = Some("Cluster".to_string());
    }
    if ty == "LoadBalancer" {
        set_if_none(&mut spec.allocate_load_balancer_node_ports, true);
        let ingress = svc
            .status
            .as_mut()
            .and_then(|s| s.load_balancer.as_mut())
            .and_then(|l| l.ingress.as_mut());
        for ing in ingress.into_iter().flatten() {
            if ing.ip.as_deref().is_some_and(|ip| !ip.is_empty()) && ing.ip_mode.is_none() {
                ing.ip_mode = Some("VIP".to_string());
            }
        }
    }
}

/// `SetDefaults_Deployment` and the pod template defaults.
pub(crate) fn deployment(d: &mut Deployment) {
    let spec = d.spec.get_or_insert_with(Default::default);
    set_if_none(&mut spec.replicas, 1);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    set_if_empty(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        set_if_none(
            &mut ru.max_unavailable,
            IntOrString::String("25%".to_string()),
        );
        set_if_none(&mut ru.max_surge, IntOrString::String("25%".to_string()));
    }
    set_if_none(&mut spec.revision_history_limit, 10);
    set_if_none(&mut spec.progress_deadline_seconds, 600);
    pod_spec(spec.template.spec.get_or_insert_with(Default::default));
}

/// `SetDefaults_ReplicaSet` and the pod template defaults.
pub(crate) fn replica_set(rs: &mut ReplicaSet) {
    let spec = rs.spec.get_or_insert_with(Default::default);
    set_if_none(&mut spec.replicas, 1);
    let template = spec.template.get_or_insert_with(Default::default);
    pod_spec(template.spec.get_or_insert_with(Default::default));
}

/// `SetDefaults_Secret` and the v1 conversion that folds `stringData` into `data`.
pub(crate) fn secret(s: &mut Secret) {
    set_if_empty(&mut s.type_, "Opaque");
    if let Some(string_data) = s.string_data.take() {
        let data = s.data.get_or_insert_with(Default::default);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
}

/// `SetDefaults_EndpointPort`.
pub(crate) fn endpoints(ep: &mut Endpoints) {
    for ss in ep.subsets.iter_mut().flatten() {
        for p in ss.ports.iter_mut().flatten() {
            set_if_empty(&mut p.protocol, "TCP");
        }
    }
}

/// discovery/v1 `SetDefaults_EndpointPort`: name `""`, protocol TCP.
pub(crate) fn endpoint_slice(es: &mut EndpointSlice) {
    for p in es.ports.iter_mut().flatten() {
        set_if_none(&mut p.name, String::new());
        set_if_none(&mut p.protocol, "TCP".to_string());
    }
}

/// `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort`.
pub(crate) fn network_policy(np: &mut NetworkPolicy) {
    let spec = np.spec.get_or_insert_with(Default::default);
    for rule in spec.ingress.iter_mut().flatten() {
        for p in rule.ports.iter_mut().flatten() {
            set_if_none(&mut p.protocol, "TCP".to_string());
        }
    }
    for rule in spec.egress.iter_mut().flatten() {
        for p in rule.ports.iter_mut().flatten() {
            set_if_none(&mut p.protocol, "TCP".to_string());
        }
    }
    if spec.policy_types.as_ref().is_none_or(|t| t.is_empty()) {
        let mut types = vec!["Ingress".to_string()];
        if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
            types.push("Egress".to_string());
        }
        spec.policy_types = Some(types);
    }
}

/// `SetDefaults_IngressClass`.
pub(crate) fn ingress_class(ic: &mut IngressClass) {
    if let Some(p) = ic.spec.as_mut().and_then(|s| s.parameters.as_mut()) {
        set_if_none(&mut p.scope, "Cluster".to_string());
    }
}

/// `SetDefaults_Namespace`: the `kubernetes.io/metadata.name` label.
pub(crate) fn namespace(ns: &mut Namespace) {
    if let Some(name) = ns.metadata.name.clone().filter(|n| !n.is_empty()) {
        ns.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("kubernetes.io/metadata.name".to_string(), name);
    }
}

/// `SetDefaults_NodeStatus` and the v1 conversion of `podCIDR`/`podCIDRs`.
pub(crate) fn node(n: &mut Node) {
    if let Some(status) = n.status.as_mut()
        && status.allocatable.is_none()
    {
        status.allocatable.clone_from(&status.capacity);
    }
    if let Some(spec) = n.spec.as_mut() {
        let cidrs_empty = spec.pod_cidrs.as_ref().is_none_or(|c| c.is_empty());
        if let Some(c) = spec.pod_cidr.clone().filter(|c| !c.is_empty())
            && cidrs_empty
        {
            spec.pod_cidrs = Some(vec![c]);
        }
        if let Some(first) = spec.pod_cidrs.as_ref().and_then(|c| c.first()) {
            spec.pod_cidr = Some(first.clone());
        }
    }
}

/// Drops empty lists, and empty maps of the fields Go marks `omitempty`, from an output value,
/// so stored objects look like the ones kube-apiserver returns.
pub(crate) fn prune_empty(v: &mut Value) {
    const MAP_FIELDS: &[&str] = &[
        "labels",
        "annotations",
        "matchLabels",
        "nodeSelector",
        "data",
        "binaryData",
        "stringData",
        "limits",
        "requests",
        "capacity",
        "allocatable",
        "overhead",
        "selector",
        "topology",
        "deprecatedTopology",
        "allocatedResources",
    ];
    prune_in(v, MAP_FIELDS, true);
}

fn prune_in(v: &mut Value, map_fields: &[&str], top: bool) {
    match v {
        Value::Object(map) => {
            for (_, child) in map.iter_mut() {
                prune_in(child, map_fields, false);
            }
            map.retain(|k, child| match child {
                // EndpointSlice.endpoints has no omitempty upstream.
                Value::Array(a) => !a.is_empty() || (top && k == "endpoints"),
                Value::Object(o) => !o.is_empty() || !map_fields.contains(&k.as_str()),
                _ => true,
            });
        }
        Value::Array(items) => {
            for item in items {
                prune_in(item, map_fields, false);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_without_a_tag_or_tagged_latest_are_always_pulled() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(
            default_pull_policy("registry.example:5000/team/app"),
            "Always"
        );
        assert_eq!(default_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(
            default_pull_policy("registry.example:5000/team/app:v2"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("nginx@sha256:abcd"), "IfNotPresent");
        assert_eq!(default_pull_policy("nginx:latest@sha256:abcd"), "Always");
        assert_eq!(default_pull_policy(""), "IfNotPresent");
        assert_eq!(default_pull_policy("Nginx"), "IfNotPresent");
    }

    #[test]
    fn pruning_drops_empty_lists_and_empty_label_maps_but_keeps_empty_structs() {
        let mut v = serde_json::json!({
            "metadata": {"labels": {}, "finalizers": []},
            "spec": {"securityContext": {}, "containers": [{"ports": []}]},
            "endpoints": []
        });
        prune_empty(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "metadata": {},
                "spec": {"securityContext": {}, "containers": [{}]},
                "endpoints": []
            })
        );
    }
}
