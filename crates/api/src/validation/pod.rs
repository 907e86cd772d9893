//! Pods, pod specs and pod templates (pkg/apis/core/validation/validation.go: `ValidatePodSpec`,
//! `ValidatePodCreate`, `ValidatePodUpdate`, `ValidatePodStatusUpdate`, `ValidatePodTemplateSpec`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction, Lifecycle,
    LifecycleHandler, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodAffinityTerm,
    PodDNSConfig, PodSecurityContext, PodSpec, PodStatus, PodTemplateSpec, Probe,
    ResourceRequirements, SecurityContext, Toleration, TopologySpreadConstraint, Volume,
    VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::field::{FieldError, Path, Raw, go_strings};
use crate::names::{self, NameRule};
use crate::quantity::Quantity;
use crate::validation::meta::{self, non_negative};

/// The three protocols upstream supports, sorted as `sets.List` prints them.
pub(crate) const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// Which parts of pod validation apply (a subset of upstream `PodValidationOptions`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PodOpts {
    /// The spec belongs to a Pod, not to a template of another resource.
    pub(crate) resource_is_pod: bool,
}

/// `ValidatePodCreate`.
pub(crate) fn pod_create(pod: &Pod) -> Vec<FieldError> {
    let mut errs = pod_metadata_and_spec(pod);
    let spec_path = Path::new("spec");
    if let Some(spec) = &pod.spec {
        if spec
            .ephemeral_containers
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            errs.push(FieldError::forbidden(
                &spec_path.child("ephemeralContainers"),
                "cannot be set on create",
            ));
        }
        if spec.node_name.as_deref().is_some_and(|n| !n.is_empty())
            && spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty())
        {
            errs.push(FieldError::forbidden(
                &spec_path.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
    }
    errs
}

/// `validatePodMetadataAndSpec`.
fn pod_metadata_and_spec(pod: &Pod) -> Vec<FieldError> {
    let meta_path = Path::new("metadata");
    let spec_path = Path::new("spec");
    let mut errs = meta::object_meta(&pod.metadata, true, NameRule::Subdomain, &meta_path);
    let empty = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty);
    errs.extend(pod_specific_annotations(
        pod.metadata.annotations.as_ref(),
        spec,
        &meta_path.child("annotations"),
    ));
    errs.extend(pod_spec(
        spec,
        &spec_path,
        PodOpts {
            resource_is_pod: true,
        },
    ));
    for (list, name) in [
        (Some(&spec.containers), "containers"),
        (spec.init_containers.as_ref(), "initContainers"),
    ] {
        for (i, c) in list.into_iter().flatten().enumerate() {
            let image = c.image.as_deref().unwrap_or("");
            if image.len() != image.trim().len() {
                errs.push(FieldError::invalid(
                    &spec_path.child(name).index(i).child("image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    errs
}

/// `ValidatePodSpecificAnnotations` (mirror pods and the pod deletion cost).
fn pod_specific_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    spec: &PodSpec,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(annotations) = annotations else {
        return errs;
    };
    if let Some(v) = annotations.get("kubernetes.io/config.mirror")
        && spec.node_name.as_deref().unwrap_or("").is_empty()
    {
        errs.push(FieldError::invalid(
            &path.key("kubernetes.io/config.mirror"),
            v,
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    if let Some(v) = annotations.get("controller.kubernetes.io/pod-deletion-cost")
        && v.parse::<i32>().is_err()
    {
        errs.push(FieldError::invalid(
            &path.key("controller.kubernetes.io/pod-deletion-cost"),
            v,
            "must be a 32bit integer",
        ));
    }
    errs
}

/// `ValidatePodTemplateSpec`: the template of a Deployment or ReplicaSet.
pub(crate) fn pod_template_spec(t: &PodTemplateSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let empty_meta = Default::default();
    let m = t.metadata.as_ref().unwrap_or(&empty_meta);
    errs.extend(meta::labels(m.labels.as_ref(), &path.child("labels")));
    errs.extend(meta::annotations(
        m.annotations.as_ref(),
        &path.child("annotations"),
    ));
    let empty = PodSpec::default();
    let spec = t.spec.as_ref().unwrap_or(&empty);
    errs.extend(pod_specific_annotations(
        m.annotations.as_ref(),
        spec,
        &path.child("annotations"),
    ));
    errs.extend(pod_spec(spec, &path.child("spec"), PodOpts::default()));
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// `ValidatePodSpec`.
pub(crate) fn pod_spec(spec: &PodSpec, path: &Path, opts: PodOpts) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(FieldError::required(
            &path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let grace = spec.termination_grace_period_seconds;
    let (volumes, verrs) = self::volumes(
        spec.volumes.as_deref().unwrap_or_default(),
        &path.child("volumes"),
    );
    errs.extend(verrs);
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("");
    errs.extend(containers(
        &spec.containers,
        &volumes,
        grace,
        &path.child("containers"),
        restart_policy,
    ));
    errs.extend(init_containers(
        spec.init_containers.as_deref().unwrap_or_default(),
        &spec.containers,
        &volumes,
        grace,
        &path.child("initContainers"),
        restart_policy,
    ));
    errs.extend(host_network_deps(spec, path, opts));
    match restart_policy {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(&path.child("restartPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns_policy = spec.dns_policy.as_deref().unwrap_or("");
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(&path.child("dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(meta::labels(
        spec.node_selector.as_ref(),
        &path.child("nodeSelector"),
    ));
    errs.extend(pod_security_context(
        spec.security_context.as_ref(),
        spec,
        &path.child("securityContext"),
    ));
    errs.extend(affinity(spec.affinity.as_ref(), &path.child("affinity")));
    errs.extend(dns_config(
        spec.dns_config.as_ref(),
        dns_policy,
        &path.child("dnsConfig"),
    ));
    for (i, g) in spec
        .readiness_gates
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let p = path.child("readinessGates").index(i).child("conditionType");
        errs.extend(names::invalid_all(
            &p,
            &g.condition_type,
            names::qualified_name(&g.condition_type),
        ));
    }
    let mut seen_gates = HashSet::new();
    for (i, g) in spec
        .scheduling_gates
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let p = path.child("schedulingGates").index(i);
        errs.extend(names::invalid_all(
            &p,
            &g.name,
            names::qualified_name(&g.name),
        ));
        if !seen_gates.insert(g.name.as_str()) {
            errs.push(FieldError::duplicate(&p, g.name.as_str()));
        }
    }
    errs.extend(topology_spread_constraints(
        spec.topology_spread_constraints
            .as_deref()
            .unwrap_or_default(),
        &path.child("topologySpreadConstraints"),
    ));
    for (field, value, rule) in [
        (
            "serviceAccountName",
            &spec.service_account_name,
            NameRule::Subdomain,
        ),
        ("nodeName", &spec.node_name, NameRule::Subdomain),
        (
            "priorityClassName",
            &spec.priority_class_name,
            NameRule::Subdomain,
        ),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(names::invalid_all(
                &path.child(field),
                v,
                rule.check(v, false),
            ));
        }
    }
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            ads,
            &names::inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for field in ["hostname", "subdomain"] {
        let v = if field == "hostname" {
            &spec.hostname
        } else {
            &spec.subdomain
        };
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(names::invalid_all(
                &path.child(field),
                v,
                names::dns1123_label(v),
            ));
        }
    }
    errs.extend(tolerations(
        spec.tolerations.as_deref().unwrap_or_default(),
        &path.child("tolerations"),
    ));
    for (i, alias) in spec
        .host_aliases
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let p = path.child("hostAliases").index(i);
        errs.extend(names::invalid_all(
            &p.child("ip"),
            &alias.ip,
            names::ip(&alias.ip),
        ));
        for (j, h) in alias
            .hostnames
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            errs.extend(names::invalid_all(
                &p.child("hostnames").index(j),
                h,
                names::dns1123_subdomain(h),
            ));
        }
    }
    if let Some(rc) = &spec.runtime_class_name {
        errs.extend(names::invalid_all(
            &path.child("runtimeClassName"),
            rc,
            names::dns1123_subdomain(rc),
        ));
    }
    if let Some(pp) = &spec.preemption_policy {
        match pp.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(&path.child("preemptionPolicy"), "")),
            other => errs.push(FieldError::not_supported(
                &path.child("preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(overhead) = &spec.overhead {
        let req = ResourceRequirements {
            limits: Some(overhead.clone()),
            ..Default::default()
        };
        errs.extend(resource_requirements(&req, &path.child("overhead")));
    }
    if let Some(os) = &spec.os
        && os.name != "linux"
        && os.name != "windows"
    {
        errs.push(FieldError::not_supported(
            &path.child("os").child("name"),
            os.name.as_str(),
            &["linux", "windows"],
        ));
    }
    errs
}

/// `ValidateVolumes`: returns the valid volumes by name.
fn volumes<'a>(
    vols: &'a [Volume],
    path: &Path,
) -> (BTreeMap<&'a str, &'a Volume>, Vec<FieldError>) {
    let mut errs = Vec::new();
    let mut by_name = BTreeMap::new();
    for (i, vol) in vols.iter().enumerate() {
        let p = path.index(i);
        let name_path = p.child("name");
        let mut el = volume_source(vol, &p);
        if vol.name.is_empty() {
            el.push(FieldError::required(&name_path, ""));
        } else {
            el.extend(names::invalid_all(
                &name_path,
                &vol.name,
                names::dns1123_label(&vol.name),
            ));
        }
        if by_name.contains_key(vol.name.as_str()) {
            el.push(FieldError::duplicate(&name_path, vol.name.as_str()));
        }
        if el.is_empty() {
            by_name.insert(vol.name.as_str(), vol);
        } else {
            errs.extend(el);
        }
    }
    (by_name, errs)
}

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn volume_source(vol: &Volume, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    // Count the volume types that are set, in upstream's order of checks.
    let value = serde_json::to_value(vol).unwrap_or(Value::Null);
    let types: Vec<&str> = value
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| *k != "name")
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default();
    if types.is_empty() {
        errs.push(FieldError::required(path, "must specify a volume type"));
        return errs;
    }
    for extra in types.iter().skip(1) {
        errs.push(FieldError::forbidden(
            &path.child(extra),
            "may not specify more than 1 volume type",
        ));
    }
    let mode = |m: Option<i32>, p: &Path, errs: &mut Vec<FieldError>| {
        if let Some(m) = m.filter(|m| !(0..=0o777).contains(m)) {
            errs.push(FieldError::invalid(p, m, FILE_MODE_ERROR));
        }
    };
    if let Some(hp) = &vol.host_path {
        let p = path.child("hostPath");
        if hp.path.is_empty() {
            errs.push(FieldError::required(&p.child("path"), ""));
        } else {
            errs.extend(no_backsteps(&hp.path, &p.child("path")));
            let t = hp.type_.as_deref().unwrap_or("");
            const TYPES: &[&str] = &[
                "",
                "BlockDevice",
                "CharDevice",
                "Directory",
                "DirectoryOrCreate",
                "File",
                "FileOrCreate",
                "Socket",
            ];
            if !TYPES.contains(&t) {
                errs.push(FieldError::not_supported(&p.child("type"), t, TYPES));
            }
        }
    }
    if let Some(s) = &vol.secret {
        let p = path.child("secret");
        if s.secret_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(&p.child("secretName"), ""));
        }
        mode(s.default_mode, &p.child("defaultMode"), &mut errs);
    }
    if let Some(c) = &vol.config_map {
        let p = path.child("configMap");
        if c.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        mode(c.default_mode, &p.child("defaultMode"), &mut errs);
    }
    if let Some(d) = &vol.downward_api {
        mode(
            d.default_mode,
            &path.child("downwardAPI").child("defaultMode"),
            &mut errs,
        );
    }
    if let Some(pr) = &vol.projected {
        mode(
            pr.default_mode,
            &path.child("projected").child("defaultMode"),
            &mut errs,
        );
    }
    if let Some(pvc) = &vol.persistent_volume_claim
        && pvc.claim_name.is_empty()
    {
        errs.push(FieldError::required(
            &path.child("persistentVolumeClaim").child("claimName"),
            "",
        ));
    }
    if let Some(ed) = &vol.empty_dir
        && let Some(q) = &ed.size_limit
        && Quantity::parse(&q.0)
            .map(|q| q.is_negative())
            .unwrap_or(false)
    {
        errs.push(FieldError::forbidden(
            &path.child("emptyDir").child("sizeLimit"),
            "SizeLimit field must be a valid resource quantity",
        ));
    }
    errs
}

fn no_backsteps(target: &str, path: &Path) -> Vec<FieldError> {
    if target.split('/').any(|p| p == "..") {
        vec![FieldError::invalid(path, target, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

fn local_descending_path(target: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    errs.extend(no_backsteps(target, path));
    errs
}

/// `validateContainers`.
fn containers(
    list: &[Container],
    volumes: &BTreeMap<&str, &Volume>,
    grace: Option<i64>,
    path: &Path,
    restart_policy: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if list.is_empty() {
        errs.push(FieldError::required(path, ""));
        return errs;
    }
    let mut names = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        errs.extend(container_common(c, volumes, &p, restart_policy));
        if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        }
        errs.extend(lifecycle_and_probes(c, grace, &p));
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    errs.extend(host_port_conflicts(list, path));
    errs
}

/// `validateInitContainers`.
fn init_containers(
    list: &[Container],
    regular: &[Container],
    volumes: &BTreeMap<&str, &Volume>,
    grace: Option<i64>,
    path: &Path,
    restart_policy: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: HashSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        errs.extend(container_common(c, volumes, &p, restart_policy));
        let mut restart_always = false;
        if let Some(rp) = &c.restart_policy {
            if rp != "Always" {
                errs.push(FieldError::not_supported(
                    &p.child("restartPolicy"),
                    rp.as_str(),
                    &["Always"],
                ));
            }
            restart_always = rp == "Always";
        }
        if names.contains(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        } else if !c.name.is_empty() {
            names.insert(c.name.as_str());
        }
        errs.extend(host_port_conflicts(std::slice::from_ref(c), path));
        if restart_always {
            errs.extend(lifecycle_and_probes(c, grace, &p));
        } else {
            for (set, name) in [
                (c.lifecycle.is_some(), "lifecycle"),
                (c.liveness_probe.is_some(), "livenessProbe"),
                (c.readiness_probe.is_some(), "readinessProbe"),
                (c.startup_probe.is_some(), "startupProbe"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(
                        &p.child(name),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

/// `validateContainerCommon`.
fn container_common(
    c: &Container,
    volumes: &BTreeMap<&str, &Volume>,
    path: &Path,
    _restart_policy: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        errs.extend(names::invalid_all(
            &name_path,
            &c.name,
            names::dns1123_label(&c.name),
        ));
    }
    if c.image.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    match c.termination_message_policy.as_deref().unwrap_or("") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            &path.child("terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            &path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(container_ports(
        c.ports.as_deref().unwrap_or_default(),
        &path.child("ports"),
    ));
    errs.extend(env(
        c.env.as_deref().unwrap_or_default(),
        &path.child("env"),
    ));
    errs.extend(env_from(
        c.env_from.as_deref().unwrap_or_default(),
        &path.child("envFrom"),
    ));
    errs.extend(volume_mounts(
        c.volume_mounts.as_deref().unwrap_or_default(),
        volumes,
        &path.child("volumeMounts"),
    ));
    match c.image_pull_policy.as_deref().unwrap_or("") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(&path.child("imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    if let Some(r) = &c.resources {
        errs.extend(resource_requirements(r, &path.child("resources")));
    }
    errs.extend(security_context(
        c.security_context.as_ref(),
        &path.child("securityContext"),
    ));
    errs
}

/// `validateContainerPorts`.
fn container_ports(ports: &[ContainerPort], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = names::port_name(name);
            if !msgs.is_empty() {
                errs.extend(names::invalid_all(&p.child("name"), name, msgs));
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(&p.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&p.child("containerPort"), ""));
        } else {
            for m in names::port_num(i64::from(port.container_port)) {
                errs.push(FieldError::invalid(
                    &p.child("containerPort"),
                    port.container_port,
                    &m,
                ));
            }
        }
        if let Some(hp) = port.host_port.filter(|hp| *hp != 0) {
            for m in names::port_num(i64::from(hp)) {
                errs.push(FieldError::invalid(&p.child("hostPort"), hp, &m));
            }
        }
        errs.extend(protocol(port.protocol.as_deref(), &p.child("protocol")));
    }
    errs
}

/// A required protocol of TCP, UDP or SCTP.
pub(crate) fn protocol(proto: Option<&str>, path: &Path) -> Vec<FieldError> {
    match proto.unwrap_or("") {
        "" => vec![FieldError::required(path, "")],
        p if PROTOCOLS.contains(&p) => Vec::new(),
        p => vec![FieldError::not_supported(path, p, PROTOCOLS)],
    }
}

/// `AccumulateUniqueHostPorts` over one container list.
fn host_port_conflicts(list: &[Container], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (ci, c) in list.iter().enumerate() {
        for (pi, port) in c.ports.as_deref().unwrap_or_default().iter().enumerate() {
            let hp = port.host_port.unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                port.protocol.as_deref().unwrap_or(""),
                port.host_ip.as_deref().unwrap_or(""),
                hp
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    &path.index(ci).child("ports").index(pi).child("hostPort"),
                    key,
                ));
            }
        }
    }
    errs
}

/// `validatePodHostNetworkDeps`: with hostNetwork, hostPort must equal containerPort.
fn host_network_deps(spec: &PodSpec, path: &Path, opts: PodOpts) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec.host_network != Some(true) {
        return errs;
    }
    for (i, c) in spec.containers.iter().enumerate() {
        for (j, port) in c.ports.as_deref().unwrap_or_default().iter().enumerate() {
            let hp = port.host_port.unwrap_or(0);
            if (opts.resource_is_pod || hp != 0) && hp != port.container_port {
                errs.push(FieldError::invalid(
                    &path
                        .child("containers")
                        .index(i)
                        .child("ports")
                        .index(j)
                        .child("hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
    errs
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// `ValidateEnv`.
fn env(vars: &[EnvVar], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in vars.iter().enumerate() {
        let p = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            errs.extend(names::invalid_all(
                &p.child("name"),
                &ev.name,
                names::env_var_name(&ev.name),
            ));
        }
        let Some(from) = &ev.value_from else {
            continue;
        };
        let vp = p.child("valueFrom");
        let mut sources = 0;
        if let Some(fr) = &from.field_ref {
            sources += 1;
            let fp = vp.child("fieldRef");
            if fr.api_version.as_deref().unwrap_or("").is_empty() {
                errs.push(FieldError::required(&fp.child("apiVersion"), ""));
            } else if fr.field_path.is_empty() {
                errs.push(FieldError::required(&fp.child("fieldPath"), ""));
            } else if let Some((base, sub)) = split_subscript(&fr.field_path) {
                match base {
                    "metadata.annotations" => errs.extend(names::invalid_all(
                        &fp,
                        &sub.to_lowercase(),
                        names::qualified_name(&sub.to_lowercase()),
                    )),
                    "metadata.labels" => {
                        errs.extend(names::invalid_all(&fp, sub, names::qualified_name(sub)))
                    }
                    _ => errs.push(FieldError::invalid(&fp, base, "does not support subscript")),
                }
            } else if !ENV_FIELD_PATHS.contains(&fr.field_path.as_str())
                && !["metadata.labels", "metadata.annotations"].contains(&fr.field_path.as_str())
            {
                errs.push(FieldError::not_supported(
                    &fp.child("fieldPath"),
                    fr.field_path.as_str(),
                    ENV_FIELD_PATHS,
                ));
            }
        }
        if let Some(rf) = &from.resource_field_ref {
            sources += 1;
            let rp = vp.child("resourceFieldRef");
            if rf.resource.is_empty() {
                errs.push(FieldError::required(&rp.child("resource"), ""));
            } else if !RESOURCE_FIELD_PATHS.contains(&rf.resource.as_str())
                && !rf.resource.starts_with("requests.hugepages-")
                && !rf.resource.starts_with("limits.hugepages-")
            {
                errs.push(FieldError::not_supported(
                    &rp.child("resource"),
                    rf.resource.as_str(),
                    RESOURCE_FIELD_PATHS,
                ));
            }
        }
        for (set, field, name, key) in [
            (
                from.config_map_key_ref.is_some(),
                "configMapKeyRef",
                from.config_map_key_ref.as_ref().map(|r| r.name.as_str()),
                from.config_map_key_ref.as_ref().map(|r| r.key.as_str()),
            ),
            (
                from.secret_key_ref.is_some(),
                "secretKeyRef",
                from.secret_key_ref.as_ref().map(|r| r.name.as_str()),
                from.secret_key_ref.as_ref().map(|r| r.key.as_str()),
            ),
        ] {
            if !set {
                continue;
            }
            sources += 1;
            let kp = vp.child(field);
            let name = name.unwrap_or("");
            errs.extend(names::invalid_all(
                &kp.child("name"),
                name,
                NameRule::Subdomain.check(name, false),
            ));
            let key = key.unwrap_or("");
            if key.is_empty() {
                errs.push(FieldError::required(&kp.child("key"), ""));
            } else {
                errs.extend(names::invalid_all(
                    &kp.child("key"),
                    key,
                    names::config_map_key(key),
                ));
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !ev.value.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

/// `metadata.labels['app']` → (`metadata.labels`, `app`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let open = path.find("['")?;
    let inner = path[open + 2..].strip_suffix("']")?;
    Some((&path[..open], inner))
}

/// `ValidateEnvFrom`.
fn env_from(list: &[EnvFromSource], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in list.iter().enumerate() {
        let p = path.index(i);
        if let Some(prefix) = ev.prefix.as_deref().filter(|x| !x.is_empty()) {
            errs.extend(names::invalid_all(
                &p.child("prefix"),
                prefix,
                names::env_var_name(prefix),
            ));
        }
        let mut sources = 0;
        for (name, field) in [
            (
                ev.config_map_ref.as_ref().map(|r| r.name.as_str()),
                "configMapRef",
            ),
            (ev.secret_ref.as_ref().map(|r| r.name.as_str()), "secretRef"),
        ] {
            let Some(name) = name else {
                continue;
            };
            sources += 1;
            let np = p.child(field).child("name");
            if name.is_empty() {
                errs.push(FieldError::required(&np, ""));
            } else {
                errs.extend(names::invalid_all(
                    &np,
                    name,
                    NameRule::Subdomain.check(name, true),
                ));
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

/// `ValidateVolumeMounts`.
fn volume_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeMap<&str, &Volume>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        if !volumes.contains_key(m.name.as_str()) {
            errs.push(FieldError::not_found(&p.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&p.child("mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                &p.child("mountPath"),
                m.mount_path.as_str(),
                "must be unique",
            ));
        }
        let sub_path = m.sub_path.as_deref().unwrap_or("");
        if !sub_path.is_empty() {
            // Upstream reports these under the list path, not the indexed one.
            errs.extend(local_descending_path(sub_path, &path.child("subPath")));
        }
        let expr = m.sub_path_expr.as_deref().unwrap_or("");
        if !expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("subPathExpr"),
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(local_descending_path(expr, &path.child("subPathExpr")));
        }
        if let Some(mp) = &m.mount_propagation {
            const MODES: &[&str] = &["Bidirectional", "HostToContainer", "None"];
            if !MODES.contains(&mp.as_str()) {
                errs.push(FieldError::not_supported(
                    &path.child("mountPropagation"),
                    mp.as_str(),
                    MODES,
                ));
            }
        }
    }
    errs
}

/// Standard resource names of `helper.IsStandardResourceName` (unprefixed).
const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
    "requests.storage",
    "storage",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_extended_resource(name: &str) -> bool {
    if is_native_resource(name) || name.starts_with("requests.") {
        return false;
    }
    names::qualified_name(&format!("requests.{name}")).is_empty()
}

fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

/// `validateContainerResourceName`.
fn container_resource_name(name: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = names::invalid_all(path, name, names::qualified_name(name));
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !STANDARD_RESOURCES.contains(&name) && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource type or fully qualified",
            ));
        }
        if !["cpu", "memory", "ephemeral-storage"].contains(&name) && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// `ValidateResourceQuantityValue`: non-negative; extended resources are integers.
fn quantity_value(name: &str, q: &K8sQuantity, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Ok(parsed) = Quantity::parse(&q.0) else {
        return errs;
    };
    if parsed.is_negative() {
        errs.push(FieldError::invalid(
            path,
            parsed.canonical(),
            meta::IS_NEGATIVE,
        ));
    }
    if is_extended_resource(name) && parsed.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(
            path,
            Raw(parsed.canonical()),
            "must be an integer",
        ));
    }
    errs
}

/// `ValidateContainerResourceRequirements`.
fn resource_requirements(r: &ResourceRequirements, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let empty = BTreeMap::new();
    let limits = r.limits.as_ref().unwrap_or(&empty);
    let requests = r.requests.as_ref().unwrap_or(&empty);
    for (name, q) in limits {
        let p = lim_path.key(name);
        errs.extend(container_resource_name(name, &p));
        errs.extend(quantity_value(name, q, &p));
    }
    for (name, q) in requests {
        let p = req_path.key(name);
        errs.extend(container_resource_name(name, &p));
        errs.extend(quantity_value(name, q, &p));
        let Ok(req) = Quantity::parse(&q.0) else {
            continue;
        };
        match limits.get(name).and_then(|l| Quantity::parse(&l.0).ok()) {
            Some(lim) => {
                if req != lim && !is_overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        &req_path,
                        req.canonical(),
                        &format!("must be equal to {name} limit of {}", lim.canonical()),
                    ));
                } else if req > lim {
                    errs.push(FieldError::invalid(
                        &req_path,
                        req.canonical(),
                        &format!(
                            "must be less than or equal to {name} limit of {}",
                            lim.canonical()
                        ),
                    ));
                }
            }
            None if !is_overcommit_allowed(name) => errs.push(FieldError::required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
    }
    let cpu_mem =
        |m: &BTreeMap<String, K8sQuantity>| m.contains_key("cpu") || m.contains_key("memory");
    let huge = |m: &BTreeMap<String, K8sQuantity>| m.keys().any(|k| is_hugepages(k));
    if !cpu_mem(limits) && !cpu_mem(requests) && (huge(limits) || huge(requests)) {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    errs
}

/// `ValidateSecurityContext` of a container.
fn security_context(sc: Option<&SecurityContext>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sc) = sc else {
        return errs;
    };
    for (field, id) in [
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
    ] {
        if let Some(id) = id {
            for m in names::user_or_group_id(id) {
                errs.push(FieldError::invalid(&path.child(field), id, &m));
            }
        }
    }
    if let Some(pm) = &sc.proc_mount
        && pm != "Default"
        && pm != "Unmasked"
    {
        errs.push(FieldError::not_supported(
            &path.child("procMount"),
            pm.as_str(),
            &["Default", "Unmasked"],
        ));
    }
    if sc.allow_privilege_escalation == Some(false) && sc.privileged == Some(true) {
        errs.push(FieldError::invalid(
            path,
            Raw("&core.SecurityContext{...}".to_string()),
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
    errs.extend(seccomp_profile(
        sc.seccomp_profile
            .as_ref()
            .map(|s| (s.type_.as_str(), s.localhost_profile.as_deref())),
        &path.child("seccompProfile"),
    ));
    errs
}

fn seccomp_profile(sp: Option<(&str, Option<&str>)>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some((t, localhost)) = sp else {
        return errs;
    };
    match t {
        "Localhost" => {
            if localhost.is_none() {
                errs.push(FieldError::required(
                    &path.child("localhostProfile"),
                    "must be set when seccomp type is Localhost",
                ));
            }
        }
        "RuntimeDefault" | "Unconfined" => {
            if localhost.is_some() {
                errs.push(FieldError::invalid(
                    &path.child("localhostProfile"),
                    Raw("&core.SeccompProfile{...}".to_string()),
                    "can only be set when seccomp type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(
            &path.child("type"),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    errs
}

/// `validatePodSpecSecurityContext`.
fn pod_security_context(
    sc: Option<&PodSecurityContext>,
    spec: &PodSpec,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sc) = sc else {
        return errs;
    };
    for (field, id) in [
        ("fsGroup", sc.fs_group),
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
    ] {
        if let Some(id) = id {
            for m in names::user_or_group_id(id) {
                errs.push(FieldError::invalid(&path.child(field), id, &m));
            }
        }
    }
    for (i, gid) in sc
        .supplemental_groups
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        for m in names::user_or_group_id(*gid) {
            errs.push(FieldError::invalid(
                &path.child("supplementalGroups").index(i),
                *gid,
                &m,
            ));
        }
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            &path.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let mut sysctl_names = HashSet::new();
    for (i, s) in sc.sysctls.as_deref().unwrap_or_default().iter().enumerate() {
        let p = path.child("sysctls").index(i).child("name");
        if s.name.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else if !is_valid_sysctl_name(&s.name) {
            errs.push(FieldError::invalid(
                &p,
                s.name.as_str(),
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if !sysctl_names.insert(s.name.as_str()) {
            errs.push(FieldError::duplicate(&p, s.name.as_str()));
        }
    }
    if let Some(p) = &sc.fs_group_change_policy
        && p != "OnRootMismatch"
        && p != "Always"
    {
        errs.push(FieldError::not_supported(
            &path.child("fsGroupChangePolicy"),
            p.as_str(),
            &["Always", "OnRootMismatch"],
        ));
    }
    errs.extend(seccomp_profile(
        sc.seccomp_profile
            .as_ref()
            .map(|s| (s.type_.as_str(), s.localhost_profile.as_deref())),
        &path.child("seccompProfile"),
    ));
    if let Some(p) = &sc.supplemental_groups_policy
        && p != "Merge"
        && p != "Strict"
    {
        errs.push(FieldError::not_supported(
            &path.child("supplementalGroupsPolicy"),
            p.as_str(),
            &["Merge", "Strict"],
        ));
    }
    if let Some(p) = &sc.se_linux_change_policy
        && p != "Recursive"
        && p != "MountOption"
    {
        errs.push(FieldError::not_supported(
            &path.child("seLinuxChangePolicy"),
            p.as_str(),
            &["MountOption", "Recursive"],
        ));
    }
    errs
}

fn is_valid_sysctl_name(name: &str) -> bool {
    if name.len() > 253 {
        return false;
    }
    name.split(['.', '/']).all(|seg| {
        let b = seg.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// `validateLivenessProbe`, `validateReadinessProbe`, `validateStartupProbe`.
/// The lifecycle hooks and the liveness, readiness and startup probes of a container.
fn lifecycle_and_probes(c: &Container, grace: Option<i64>, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(l) = &c.lifecycle {
        errs.extend(lifecycle(l, grace, &p.child("lifecycle")));
    }
    for (probe_def, kind, field) in [
        (&c.liveness_probe, ProbeKind::Liveness, "livenessProbe"),
        (&c.readiness_probe, ProbeKind::Readiness, "readinessProbe"),
        (&c.startup_probe, ProbeKind::Startup, "startupProbe"),
    ] {
        errs.extend(probe(probe_def.as_ref(), kind, grace, &p.child(field)));
    }
    errs
}

fn probe(
    probe: Option<&Probe>,
    kind: ProbeKind,
    _grace: Option<i64>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(pr) = probe else {
        return errs;
    };
    let mut handlers = 0;
    if let Some(exec) = &pr.exec {
        handlers += 1;
        if exec.command.as_ref().is_none_or(|c| c.is_empty()) {
            errs.push(FieldError::required(
                &path.child("exec").child("command"),
                "",
            ));
        }
    }
    if let Some(h) = &pr.http_get {
        if handlers > 0 {
            errs.push(FieldError::forbidden(
                &path.child("httpGet"),
                "may not specify more than 1 handler type",
            ));
        } else {
            handlers += 1;
            errs.extend(http_get(h, &path.child("httpGet")));
        }
    }
    if let Some(t) = &pr.tcp_socket {
        if handlers > 0 {
            errs.push(FieldError::forbidden(
                &path.child("tcpSocket"),
                "may not specify more than 1 handler type",
            ));
        } else {
            handlers += 1;
            errs.extend(port_num_or_name(
                &t.port,
                &path.child("tcpSocket").child("port"),
            ));
        }
    }
    if let Some(g) = &pr.grpc {
        if handlers > 0 {
            errs.push(FieldError::forbidden(
                &path.child("grpc"),
                "may not specify more than 1 handler type",
            ));
        } else {
            handlers += 1;
            errs.extend(port_num_or_name(
                &IntOrString::Int(g.port),
                &path.child("grpc").child("port"),
            ));
        }
    }
    if handlers == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    for (field, v) in [
        ("initialDelaySeconds", pr.initial_delay_seconds),
        ("timeoutSeconds", pr.timeout_seconds),
        ("periodSeconds", pr.period_seconds),
        ("successThreshold", pr.success_threshold),
        ("failureThreshold", pr.failure_threshold),
    ] {
        errs.extend(non_negative(i64::from(v.unwrap_or(0)), &path.child(field)));
    }
    if let Some(t) = pr.termination_grace_period_seconds.filter(|t| *t <= 0) {
        errs.push(FieldError::invalid(
            &path.child("terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = pr.success_threshold.unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(
                    &path.child("successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = pr.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    &path.child("terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

fn http_get(h: &HTTPGetAction, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if h.path.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    errs.extend(port_num_or_name(&h.port, &path.child("port")));
    let scheme = h.scheme.as_deref().unwrap_or("");
    if scheme != "HTTP" && scheme != "HTTPS" {
        errs.push(FieldError::not_supported(
            &path.child("scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for header in h.http_headers.as_deref().unwrap_or_default() {
        errs.extend(names::invalid_all(
            &path.child("httpHeaders"),
            &header.name,
            names::http_header_name(&header.name),
        ));
    }
    errs
}

fn lifecycle(l: &Lifecycle, grace: Option<i64>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (h, name) in [(&l.post_start, "postStart"), (&l.pre_stop, "preStop")] {
        if let Some(h) = h {
            errs.extend(lifecycle_handler(h, grace, &path.child(name)));
        }
    }
    errs
}

fn lifecycle_handler(h: &LifecycleHandler, grace: Option<i64>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut handlers = 0;
    if let Some(exec) = &h.exec {
        handlers += 1;
        if exec.command.as_ref().is_none_or(|c| c.is_empty()) {
            errs.push(FieldError::required(
                &path.child("exec").child("command"),
                "",
            ));
        }
    }
    let more = |handlers: &mut i32, field: &str, errs: &mut Vec<FieldError>| -> bool {
        if *handlers > 0 {
            errs.push(FieldError::forbidden(
                &path.child(field),
                "may not specify more than 1 handler type",
            ));
            false
        } else {
            *handlers += 1;
            true
        }
    };
    if let Some(g) = &h.http_get
        && more(&mut handlers, "httpGet", &mut errs)
    {
        errs.extend(http_get(g, &path.child("httpGet")));
    }
    if let Some(t) = &h.tcp_socket
        && more(&mut handlers, "tcpSocket", &mut errs)
    {
        errs.extend(port_num_or_name(
            &t.port,
            &path.child("tcpSocket").child("port"),
        ));
    }
    if let Some(s) = &h.sleep
        && more(&mut handlers, "sleep", &mut errs)
        && let Some(g) = grace
        && (s.seconds < 0 || s.seconds > g)
    {
        errs.push(FieldError::invalid(
            &path.child("sleep"),
            s.seconds,
            &format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
        ));
    }
    if handlers == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

/// `ValidatePortNumOrName`.
pub(crate) fn port_num_or_name(port: &IntOrString, path: &Path) -> Vec<FieldError> {
    match port {
        IntOrString::Int(n) => names::port_num(i64::from(*n))
            .iter()
            .map(|m| FieldError::invalid(path, *n, m))
            .collect(),
        IntOrString::String(s) => names::invalid_all(path, s, names::port_name(s)),
    }
}

/// `ValidateTolerations`.
pub(crate) fn tolerations(list: &[Toleration], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let p = path.index(i);
        let key = t.key.as_deref().unwrap_or("");
        let op = t.operator.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        if !key.is_empty() {
            errs.extend(meta::label_name(key, &p.child("key")));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = names::label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        value,
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() {
            errs.extend(taint_effect(effect, &p.child("effect")));
        }
    }
    errs
}

/// `validateTaintEffect` (non-empty effect).
pub(crate) fn taint_effect(effect: &str, path: &Path) -> Vec<FieldError> {
    match effect {
        "NoSchedule" | "PreferNoSchedule" | "NoExecute" => Vec::new(),
        "" => vec![FieldError::required(path, "")],
        other => vec![FieldError::not_supported(
            path,
            other,
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        )],
    }
}

fn dns_config(cfg: Option<&PodDNSConfig>, policy: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if policy == "None" {
        match cfg {
            None => {
                errs.push(FieldError::required(
                    path,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                ));
                return errs;
            }
            Some(c) if c.nameservers.as_ref().is_none_or(|n| n.is_empty()) => {
                errs.push(FieldError::required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                ));
                return errs;
            }
            _ => {}
        }
    }
    let Some(cfg) = cfg else {
        return errs;
    };
    let ns = cfg.nameservers.as_deref().unwrap_or_default();
    if ns.len() > 3 {
        errs.push(FieldError::invalid(
            &path.child("nameservers"),
            go_strings(ns),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        errs.extend(names::invalid_all(
            &path.child("nameservers").index(i),
            n,
            names::ip(n),
        ));
    }
    let searches = cfg.searches.as_deref().unwrap_or_default();
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            go_strings(searches),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            go_strings(searches),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, s) in searches.iter().enumerate() {
        let s = s.strip_suffix('.').unwrap_or(s);
        errs.extend(names::invalid_all(
            &path.child("searches").index(i),
            s,
            names::dns1123_subdomain(s),
        ));
    }
    for (i, o) in cfg
        .options
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if o.name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(
                &path.child("options").index(i),
                "must not be empty",
            ));
        }
    }
    errs
}

fn affinity(a: Option<&Affinity>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(a) = a else {
        return errs;
    };
    if let Some(na) = &a.node_affinity {
        let p = path.child("nodeAffinity");
        if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
            let tp = p
                .child("requiredDuringSchedulingIgnoredDuringExecution")
                .child("nodeSelectorTerms");
            if req.node_selector_terms.is_empty() {
                errs.push(FieldError::required(
                    &tp,
                    "must have at least one node selector term",
                ));
            }
            for (i, term) in req.node_selector_terms.iter().enumerate() {
                errs.extend(node_selector_term(term, false, &tp.index(i)));
            }
        }
        for (i, t) in na
            .preferred_during_scheduling_ignored_during_execution
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let tp = p
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(i);
            if t.weight <= 0 || t.weight > 100 {
                errs.push(FieldError::invalid(
                    &tp.child("weight"),
                    t.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(node_selector_term(
                &t.preference,
                true,
                &tp.child("preference"),
            ));
        }
    }
    for (terms, weighted, name) in [
        (
            a.pod_affinity.as_ref().and_then(|x| {
                x.required_during_scheduling_ignored_during_execution
                    .as_deref()
            }),
            a.pod_affinity.as_ref().and_then(|x| {
                x.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            }),
            "podAffinity",
        ),
        (
            a.pod_anti_affinity.as_ref().and_then(|x| {
                x.required_during_scheduling_ignored_during_execution
                    .as_deref()
            }),
            a.pod_anti_affinity.as_ref().and_then(|x| {
                x.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            }),
            "podAntiAffinity",
        ),
    ] {
        let p = path.child(name);
        for (i, t) in terms.unwrap_or_default().iter().enumerate() {
            errs.extend(pod_affinity_term(
                t,
                &p.child("requiredDuringSchedulingIgnoredDuringExecution")
                    .index(i),
            ));
        }
        for (i, t) in weighted.unwrap_or_default().iter().enumerate() {
            errs.extend(weighted_term(
                t,
                &p.child("preferredDuringSchedulingIgnoredDuringExecution")
                    .index(i),
            ));
        }
    }
    errs
}

fn weighted_term(t: &WeightedPodAffinityTerm, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if t.weight <= 0 || t.weight > 100 {
        errs.push(FieldError::invalid(
            &path.child("weight"),
            t.weight,
            "must be in the range 1-100",
        ));
    }
    errs.extend(pod_affinity_term(
        &t.pod_affinity_term,
        &path.child("podAffinityTerm"),
    ));
    errs
}

fn pod_affinity_term(t: &PodAffinityTerm, path: &Path) -> Vec<FieldError> {
    let mut errs = meta::label_selector(t.label_selector.as_ref(), &path.child("labelSelector"));
    errs.extend(meta::label_selector(
        t.namespace_selector.as_ref(),
        &path.child("namespaceSelector"),
    ));
    for ns in t.namespaces.as_deref().unwrap_or_default() {
        errs.extend(names::invalid_all(
            &path.child("namespace"),
            ns,
            NameRule::Label.check(ns, false),
        ));
    }
    if t.topology_key.is_empty() {
        errs.push(FieldError::required(
            &path.child("topologyKey"),
            "can not be empty",
        ));
    }
    errs.extend(meta::label_name(
        &t.topology_key,
        &path.child("topologyKey"),
    ));
    errs
}

fn node_selector_term(
    term: &NodeSelectorTerm,
    allow_invalid_values: bool,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (j, req) in term
        .match_expressions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        errs.extend(node_selector_requirement(
            req,
            allow_invalid_values,
            &path.child("matchExpressions").index(j),
        ));
    }
    for (j, req) in term
        .match_fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let p = path.child("matchFields").index(j);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if values.len() != 1 {
                    errs.push(FieldError::required(
                        &p.child("values"),
                        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                    ));
                }
            }
            op => errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "not a valid selector operator",
            )),
        }
        if req.key != "metadata.name" {
            errs.push(FieldError::invalid(
                &p.child("key"),
                req.key.as_str(),
                "not a valid field selector key",
            ));
        } else {
            for (i, v) in values.iter().enumerate() {
                errs.extend(names::invalid_all(
                    &p.child("values").index(i),
                    v,
                    NameRule::Subdomain.check(v, false),
                ));
            }
        }
    }
    errs
}

fn node_selector_requirement(
    req: &NodeSelectorRequirement,
    allow_invalid_values: bool,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        op => errs.push(FieldError::invalid(
            &path.child("operator"),
            op,
            "not a valid selector operator",
        )),
    }
    errs.extend(meta::label_name(&req.key, &path.child("key")));
    if !allow_invalid_values {
        for (i, v) in values.iter().enumerate() {
            errs.extend(names::invalid_all(
                &path.child("values").index(i),
                v,
                names::label_value(v),
            ));
        }
    }
    errs
}

fn topology_spread_constraints(list: &[TopologySpreadConstraint], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(
                &p.child("maxSkew"),
                c.max_skew,
                "must be greater than zero",
            ));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(
                &p.child("topologyKey"),
                "can not be empty",
            ));
        } else {
            errs.extend(names::invalid_all(
                &p.child("topologyKey"),
                &c.topology_key,
                names::qualified_name(&c.topology_key),
            ));
        }
        match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" | "ScheduleAnyway" => {}
            other => errs.push(FieldError::not_supported(
                &p.child("whenUnsatisfiable"),
                other,
                &["DoNotSchedule", "ScheduleAnyway"],
            )),
        }
        if list[i + 1..].iter().any(|o| {
            o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable
        }) {
            errs.push(FieldError::duplicate(
                &p.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable),
            ));
        }
        if let Some(md) = c.min_domains {
            if c.when_unsatisfiable != "DoNotSchedule" {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    md,
                    &format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {}",
                        c.when_unsatisfiable
                    ),
                ));
            }
            if md <= 0 {
                errs.push(FieldError::invalid(
                    &p.child("minDomains"),
                    md,
                    "must be greater than 0",
                ));
            }
        }
        for (field, v) in [
            ("nodeAffinityPolicy", &c.node_affinity_policy),
            ("nodeTaintsPolicy", &c.node_taints_policy),
        ] {
            if let Some(v) = v
                && v != "Honor"
                && v != "Ignore"
            {
                errs.push(FieldError::not_supported(
                    &p.child(field),
                    v.as_str(),
                    &["Honor", "Ignore"],
                ));
            }
        }
        errs.extend(meta::label_selector(
            c.label_selector.as_ref(),
            &p.child("labelSelector"),
        ));
    }
    errs
}

/// The fields `ValidatePodUpdate` lets a user change.
const UPDATABLE_POD_SPEC_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// `ValidatePodUpdate`.
pub(crate) fn pod_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let meta_path = Path::new("metadata");
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &meta_path);
    errs.extend(pod_metadata_and_spec(new));
    errs.extend(mirror_annotation_updates(
        new,
        old,
        &meta_path.child("annotations"),
    ));
    let spec_path = Path::new("spec");
    let empty = PodSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&empty);
    let old_spec = old.spec.as_ref().unwrap_or(&empty);

    for (n, o, name) in [
        (
            &new_spec.containers[..],
            &old_spec.containers[..],
            "containers",
        ),
        (
            new_spec.init_containers.as_deref().unwrap_or_default(),
            old_spec.init_containers.as_deref().unwrap_or_default(),
            "initContainers",
        ),
    ] {
        let p = spec_path.child(name);
        if n.len() != o.len() {
            errs.push(FieldError::forbidden(
                &p,
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
        for (i, c) in n.iter().enumerate() {
            let image = c.image.as_deref().unwrap_or("");
            if image.is_empty() {
                errs.push(FieldError::required(&p.index(i).child("image"), ""));
            }
        }
    }

    let ads_path = spec_path.child("activeDeadlineSeconds");
    match (
        new_spec.active_deadline_seconds,
        old_spec.active_deadline_seconds,
    ) {
        (Some(n), old_ads) => {
            if n < 0 || n > i64::from(i32::MAX) {
                errs.push(FieldError::invalid(
                    &ads_path,
                    n,
                    &names::inclusive_range_error(0, i64::from(i32::MAX)),
                ));
                return errs;
            }
            if old_ads.is_some_and(|o| o < n) {
                errs.push(FieldError::invalid(
                    &ads_path,
                    n,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &ads_path,
            Raw("null".to_string()),
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }

    errs.extend(only_added_tolerations(
        new_spec.tolerations.as_deref().unwrap_or_default(),
        old_spec.tolerations.as_deref().unwrap_or_default(),
        &spec_path.child("tolerations"),
    ));
    errs.extend(only_deleted_scheduling_gates(
        new_spec,
        old_spec,
        &spec_path.child("schedulingGates"),
    ));

    if semantic_eq(new_spec, old_spec) {
        return errs;
    }
    let mut munged = new_spec.clone();
    for (c, o) in munged.containers.iter_mut().zip(&old_spec.containers) {
        c.image.clone_from(&o.image);
    }
    if let (Some(n), Some(o)) = (
        munged.init_containers.as_mut(),
        old_spec.init_containers.as_ref(),
    ) {
        for (c, o) in n.iter_mut().zip(o) {
            c.image.clone_from(&o.image);
        }
    }
    munged.active_deadline_seconds = old_spec.active_deadline_seconds;
    munged
        .scheduling_gates
        .clone_from(&old_spec.scheduling_gates);
    munged.tolerations.clone_from(&old_spec.tolerations);
    if old_spec
        .termination_grace_period_seconds
        .is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old_spec.termination_grace_period_seconds;
    }
    if !old_spec
        .scheduling_gates
        .as_ref()
        .is_none_or(|g| g.is_empty())
    {
        // Gated pods may gain node selectors (no mutations or deletions).
        let old_sel = old_spec.node_selector.clone().unwrap_or_default();
        let new_sel = munged.node_selector.clone().unwrap_or_default();
        if old_sel.iter().all(|(k, v)| new_sel.get(k) == Some(v)) {
            munged.node_selector.clone_from(&old_spec.node_selector);
        } else {
            errs.push(FieldError::invalid(
                &spec_path.child("nodeSelector"),
                crate::field::go_map(munged.node_selector.as_ref()),
                "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
            ));
            munged.node_selector.clone_from(&old_spec.node_selector);
        }
    }
    if !semantic_eq(&munged, old_spec) {
        let diff = spec_diff(old_spec, &munged);
        errs.push(FieldError::forbidden(
            &spec_path,
            &format!(
                "pod updates may not change fields other than {}\n{}",
                UPDATABLE_POD_SPEC_FIELDS.join(","),
                diff
            ),
        ));
    }
    errs
}

/// `apiequality.Semantic.DeepEqual`: unset and empty lists (and label-like maps) are equal.
fn semantic_eq(a: &PodSpec, b: &PodSpec) -> bool {
    if a == b {
        return true;
    }
    let norm = |s: &PodSpec| {
        let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
        crate::defaults::prune_empty(&mut v);
        v
    };
    norm(a) == norm(b)
}

/// A short, readable difference of two pod specs (upstream prints `cmp.Diff`).
fn spec_diff(old: &PodSpec, new: &PodSpec) -> String {
    let o = serde_json::to_value(old).unwrap_or(Value::Null);
    let n = serde_json::to_value(new).unwrap_or(Value::Null);
    let mut lines = Vec::new();
    diff_values("", &o, &n, &mut lines);
    format!("  core.PodSpec{{\n{}  }}\n", lines.concat())
}

fn diff_values(path: &str, o: &Value, n: &Value, out: &mut Vec<String>) {
    if o == n {
        return;
    }
    match (o, n) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(
                    &p,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_values(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ => {
            if !o.is_null() {
                out.push(format!("- \t{path}: {o}\n"));
            }
            if !n.is_null() {
                out.push(format!("+ \t{path}: {n}\n"));
            }
        }
    }
}

/// `ValidatePodSpecificAnnotationUpdates` for the mirror pod annotation.
fn mirror_annotation_updates(new: &Pod, old: &Pod, path: &Path) -> Vec<FieldError> {
    const MIRROR: &str = "kubernetes.io/config.mirror";
    let n = new
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MIRROR));
    let o = old
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MIRROR));
    match (o, n) {
        (Some(o), n) if n != Some(o) => vec![FieldError::forbidden(
            &path.key(MIRROR),
            "may not remove or update mirror pod annotation",
        )],
        (None, Some(_)) => vec![FieldError::forbidden(
            &path.key(MIRROR),
            "may not add mirror pod annotation",
        )],
        _ => Vec::new(),
    }
}

/// `validateOnlyAddedTolerations`: existing tolerations may only change `tolerationSeconds`.
fn only_added_tolerations(new: &[Toleration], old: &[Toleration], path: &Path) -> Vec<FieldError> {
    for o in old {
        let found = new.iter().any(|n| {
            let mut o = o.clone();
            o.toleration_seconds = n.toleration_seconds;
            &o == n
        });
        if !found {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    tolerations(new, path)
}

fn only_deleted_scheduling_gates(new: &PodSpec, old: &PodSpec, path: &Path) -> Vec<FieldError> {
    let old_names: HashSet<&str> = old
        .scheduling_gates
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    new.scheduling_gates
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, g)| !old_names.contains(g.name.as_str()))
        .map(|(i, g)| {
            FieldError::forbidden(
                &path.index(i).child("name"),
                &format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    g.name
                ),
            )
        })
        .collect()
}

const POD_PHASES: &[&str] = &["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// `ValidatePodStatusUpdate`, plus a check of `status.phase` and unique condition types.
pub(crate) fn pod_status_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let meta_path = Path::new("metadata");
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &meta_path);
    errs.extend(mirror_annotation_updates(
        new,
        old,
        &meta_path.child("annotations"),
    ));
    let empty = PodStatus::default();
    let status = new.status.as_ref().unwrap_or(&empty);
    let old_status = old.status.as_ref().unwrap_or(&empty);
    let status_path = Path::new("status");
    let mut seen_conditions = HashSet::new();
    for (i, c) in status
        .conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let system = ["PodScheduled", "Ready", "Initialized"].contains(&c.type_.as_str());
        if !system {
            // Upstream reports this under metadata.conditions[i].Type.
            errs.extend(names::invalid_all(
                &meta_path.child("conditions").index(i).child("Type"),
                &c.type_,
                names::qualified_name(&c.type_),
            ));
        }
        if !seen_conditions.insert(c.type_.as_str()) {
            errs.push(FieldError::duplicate(
                &status_path.child("conditions").index(i).child("type"),
                c.type_.as_str(),
            ));
        }
    }
    if let Some(phase) = status.phase.as_deref()
        && !POD_PHASES.contains(&phase)
    {
        errs.push(FieldError::not_supported(
            &status_path.child("phase"),
            phase,
            POD_PHASES,
        ));
    }
    let nn = status.nominated_node_name.as_deref().unwrap_or("");
    if nn != old_status.nominated_node_name.as_deref().unwrap_or("") && !nn.is_empty() {
        errs.extend(names::invalid_all(
            &status_path.child("nominatedNodeName"),
            nn,
            NameRule::Subdomain.check(nn, false),
        ));
    }
    let (nq, oq) = (
        status.qos_class.as_deref().unwrap_or(""),
        old_status.qos_class.as_deref().unwrap_or(""),
    );
    if nq != oq {
        errs.push(FieldError::invalid(
            &status_path.child("qosClass"),
            nq,
            meta::FIELD_IMMUTABLE,
        ));
    }
    let restart_policy = old
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("");
    errs.extend(container_state_transitions(
        status.container_statuses.as_deref().unwrap_or_default(),
        old_status.container_statuses.as_deref().unwrap_or_default(),
        &status_path.child("containerStatuses"),
        restart_policy,
    ));
    for (list, name) in [
        (
            status
                .pod_ips
                .as_ref()
                .map(|v| v.iter().map(|p| p.ip.clone()).collect::<Vec<_>>()),
            "podIPs",
        ),
        (
            status
                .host_ips
                .as_ref()
                .map(|v| v.iter().map(|p| p.ip.clone()).collect::<Vec<_>>()),
            "hostIPs",
        ),
    ] {
        let ips = list.unwrap_or_default();
        let p = status_path.child(name);
        for (i, ip) in ips.iter().enumerate() {
            errs.extend(names::invalid_all(
                &p.index(i).child("ip"),
                ip,
                names::ip(ip),
            ));
        }
        if ips.len() > 1 {
            if !names::is_dual_stack(&ips) || ips.len() > 2 {
                errs.push(FieldError::invalid(
                    &p,
                    go_strings(&ips),
                    "may specify no more than one IP for each IP family",
                ));
            }
            let mut seen = HashSet::new();
            for (i, ip) in ips.iter().enumerate() {
                if !seen.insert(ip.as_str()) {
                    errs.push(FieldError::duplicate(&p.index(i), ip.as_str()));
                }
            }
        }
        if name == "hostIPs" && !ips.is_empty() && status.host_ip.as_deref().unwrap_or("") != ips[0]
        {
            errs.push(FieldError::invalid(
                &p.index(0).child("ip"),
                ips[0].as_str(),
                "must be equal to `hostIP`",
            ));
        }
    }
    errs
}

fn container_state_transitions(
    new: &[k8s_openapi::api::core::v1::ContainerStatus],
    old: &[k8s_openapi::api::core::v1::ContainerStatus],
    path: &Path,
    restart_policy: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if restart_policy == "Always" {
        return errs;
    }
    for (i, o) in old.iter().enumerate() {
        let Some(term) = o.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
            continue;
        };
        if term.exit_code != 0 && restart_policy == "OnFailure" {
            continue;
        }
        for n in new {
            if n.name == o.name
                && n.state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .is_none()
            {
                errs.push(FieldError::forbidden(
                    &path.index(i).child("state"),
                    "may not be transitioned to non-terminated state",
                ));
            }
        }
    }
    errs
}
