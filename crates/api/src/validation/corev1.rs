//! Core v1 kinds other than Pod (pkg/apis/core/validation/validation.go and events.go):
//! Service, Namespace, Node, ConfigMap, Secret, Endpoints, Event.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{
    ConfigMap, EndpointAddress, Endpoints, Event, LoadBalancerStatus, Namespace, Node, Secret,
    Service, ServicePort, ServiceSpec, Taint,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field::{FieldError, Path, Raw, go_quote, go_strings};
use crate::names::{self, NameRule};
use crate::quantity::Quantity;
use crate::validation::meta::{self, FIELD_IMMUTABLE};
use crate::validation::pod::{port_num_or_name, protocol, taint_effect};

/// The default NodePort range of kube-apiserver (`--service-node-port-range`).
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<i32> = 30000..=32767;

/// Upstream `core.MaxSecretSize`, also the ConfigMap limit.
const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn spec_type(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or("")
}

fn cluster_ips(spec: &ServiceSpec) -> &[String] {
    spec.cluster_ips.as_deref().unwrap_or_default()
}

fn is_headless(spec: &ServiceSpec) -> bool {
    cluster_ips(spec).len() == 1 && cluster_ips(spec)[0] == "None"
}

/// `service.ExternallyAccessible`.
pub(crate) fn externally_accessible(spec: &ServiceSpec) -> bool {
    let t = spec_type(spec);
    t == "LoadBalancer"
        || t == "NodePort"
        || (t == "ClusterIP" && spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()))
}

/// `service.NeedsHealthCheck`.
pub(crate) fn needs_health_check(spec: &ServiceSpec) -> bool {
    spec_type(spec) == "LoadBalancer" && spec.external_traffic_policy.as_deref() == Some("Local")
}

/// Go's `%#v` of the (protocol, port) key upstream prints for duplicate service ports.
fn go_service_port_key(p: &ServicePort) -> Raw {
    Raw(format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(p.protocol.as_deref().unwrap_or("")),
        p.port
    ))
}

/// `ValidateService`.
pub(crate) fn service(svc: &Service) -> Vec<FieldError> {
    let meta_path = Path::new("metadata");
    let mut errs = meta::object_meta(&svc.metadata, true, NameRule::Dns1035, &meta_path);
    let annotations = svc.metadata.annotations.clone().unwrap_or_default();
    if let (Some(mode), Some(hints)) = (
        annotations.get("service.kubernetes.io/topology-mode"),
        annotations.get("service.kubernetes.io/topology-aware-hints"),
    ) && mode != hints
    {
        errs.push(FieldError::invalid(
                &meta_path.child("annotations").key("service.kubernetes.io/topology-mode"),
                mode,
                "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified",
            ));
    }
    let empty = ServiceSpec::default();
    let spec = svc.spec.as_ref().unwrap_or(&empty);
    let sp = Path::new("spec");
    let ports = spec.ports.as_deref().unwrap_or_default();
    let ty = spec_type(spec);
    if ports.is_empty() && !is_headless(spec) && ty != "ExternalName" {
        errs.push(FieldError::required(&sp.child("ports"), ""));
    }
    match ty {
        "LoadBalancer" | "NodePort" if is_headless(spec) => {
            errs.push(FieldError::invalid(
                &sp.child("clusterIPs").index(0),
                "None",
                &format!("may not be set to 'None' for {ty} services"),
            ));
        }
        "ExternalName" => {
            if !cluster_ips(spec).is_empty() {
                errs.push(FieldError::forbidden(
                    &sp.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_families.as_ref().is_some_and(|f| !f.is_empty()) {
                errs.push(FieldError::forbidden(
                    &sp.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    &sp.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let name = spec.external_name.as_deref().unwrap_or("");
            let cname = name.strip_suffix('.').unwrap_or(name);
            if cname.is_empty() {
                errs.push(FieldError::required(&sp.child("externalName"), ""));
            } else {
                errs.extend(names::invalid_all(
                    &sp.child("externalName"),
                    cname,
                    names::dns1123_subdomain(cname),
                ));
            }
        }
        _ => {}
    }
    let mut port_names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        errs.extend(service_port(
            port,
            ports.len() > 1,
            &mut port_names,
            &sp.child("ports").index(i),
        ));
    }
    if spec.selector.is_some() {
        errs.extend(meta::labels(spec.selector.as_ref(), &sp.child("selector")));
    }
    let affinity = spec.session_affinity.as_deref().unwrap_or("");
    match affinity {
        "" => errs.push(FieldError::required(&sp.child("sessionAffinity"), "")),
        "ClientIP" => {
            let cp = sp.child("sessionAffinityConfig");
            let detail = "when session affinity type is ClientIP";
            match &spec.session_affinity_config {
                None => errs.push(FieldError::required(&cp, detail)),
                Some(c) => match &c.client_ip {
                    None => errs.push(FieldError::required(&cp.child("clientIP"), detail)),
                    Some(ip) => match ip.timeout_seconds {
                        None => errs.push(FieldError::required(
                            &cp.child("clientIP").child("timeoutSeconds"),
                            detail,
                        )),
                        Some(t) if t <= 0 || t > 86400 => errs.push(FieldError::invalid(
                            &cp.child("clientIP").child("timeoutSeconds"),
                            t,
                            "must be greater than 0 and less than 86400",
                        )),
                        Some(_) => {}
                    },
                },
            }
        }
        "None" => {
            if spec.session_affinity_config.is_some() {
                errs.push(FieldError::forbidden(
                    &sp.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &sp.child("sessionAffinity"),
            other,
            &["ClientIP", "None"],
        )),
    }
    errs.extend(cluster_ips_related_fields(spec, &sp));
    for (i, ip) in spec
        .external_ips
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let p = sp.child("externalIPs").index(i);
        let msgs = names::ip(ip);
        if msgs.is_empty() {
            errs.extend(names::non_special_ip(&p, ip));
        } else {
            errs.extend(names::invalid_all(&p, ip, msgs));
        }
    }
    match ty {
        "" => errs.push(FieldError::required(&sp.child("type"), "")),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" => {}
        other => errs.push(FieldError::not_supported(
            &sp.child("type"),
            other,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    let mut node_ports = HashSet::new();
    let mut port_keys = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let pp = sp.child("ports").index(i);
        let np = port.node_port.unwrap_or(0);
        if np != 0 {
            match ty {
                "ClusterIP" | "ExternalName" => errs.push(FieldError::forbidden(
                    &pp.child("nodePort"),
                    &format!("may not be used when `type` is '{ty}'"),
                )),
                _ if !NODE_PORT_RANGE.contains(&np) => errs.push(FieldError::invalid(
                    &pp.child("nodePort"),
                    np,
                    &format!(
                        "provided port is not in the valid range. The range of valid ports is {}-{}",
                        NODE_PORT_RANGE.start(),
                        NODE_PORT_RANGE.end()
                    ),
                )),
                _ => {}
            }
            if !node_ports.insert((port.protocol.clone(), np)) {
                errs.push(FieldError::duplicate(&pp.child("nodePort"), np));
            }
        }
        if !port_keys.insert((port.protocol.clone(), port.port)) {
            errs.push(FieldError::duplicate(&pp, go_service_port_key(port)));
        }
    }
    if let Some(ranges) = spec
        .load_balancer_source_ranges
        .as_ref()
        .filter(|r| !r.is_empty())
    {
        let p = sp.child("LoadBalancerSourceRanges");
        if ty != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                &p,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            errs.extend(names::cidr(&p.index(i), r.trim()));
        }
    }
    if spec.allocate_load_balancer_node_ports.is_some() && ty != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            &sp.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if ty == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
        // Upstream reports this path without the `spec.` prefix.
        errs.push(FieldError::required(
            &Path::new("allocateLoadBalancerNodePorts"),
            "",
        ));
    }
    if let Some(class) = &spec.load_balancer_class {
        if ty == "LoadBalancer" {
            errs.extend(names::invalid_all(
                &sp.child("loadBalancerClass"),
                class,
                names::qualified_name(class),
            ));
        } else {
            errs.push(FieldError::forbidden(
                &sp.child("loadBalancerClass"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    let etp = spec.external_traffic_policy.as_deref().unwrap_or("");
    if !externally_accessible(spec) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                &sp.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(FieldError::required(&sp.child("externalTrafficPolicy"), ""));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(FieldError::not_supported(
            &sp.child("externalTrafficPolicy"),
            etp,
            &["Cluster", "Local"],
        ));
    }
    let hcnp = spec.health_check_node_port.unwrap_or(0);
    if !needs_health_check(spec) {
        if hcnp != 0 {
            errs.push(FieldError::invalid(
                &sp.child("healthCheckNodePort"),
                hcnp,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hcnp != 0 {
        // A zero value is filled by the port allocator, which runs before validation upstream.
        for m in names::port_num(i64::from(hcnp)) {
            errs.push(FieldError::invalid(
                &sp.child("healthCheckNodePort"),
                hcnp,
                &m,
            ));
        }
    }
    match spec.internal_traffic_policy.as_deref() {
        None => {
            if ["NodePort", "LoadBalancer", "ClusterIP"].contains(&ty) {
                errs.push(FieldError::required(&sp.child("internalTrafficPolicy"), ""));
            }
        }
        Some("Cluster" | "Local") => {}
        Some(other) => errs.push(FieldError::not_supported(
            &sp.child("internalTrafficPolicy"),
            other,
            &["Cluster", "Local"],
        )),
    }
    if let Some(td) = &spec.traffic_distribution
        && td != "PreferClose"
    {
        errs.push(FieldError::not_supported(
            &sp.child("trafficDistribution"),
            td.as_str(),
            &["PreferClose"],
        ));
    }
    errs
}

/// `validateServicePort`.
fn service_port<'a>(
    port: &'a ServicePort,
    require_name: bool,
    names_seen: &mut HashSet<&'a str>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = port.name.as_deref().unwrap_or("");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(names::invalid_all(
            &path.child("name"),
            name,
            names::dns1123_label(name),
        ));
        if !names_seen.insert(name) {
            errs.push(FieldError::duplicate(&path.child("name"), name));
        }
    }
    for m in names::port_num(i64::from(port.port)) {
        errs.push(FieldError::invalid(&path.child("port"), port.port, &m));
    }
    errs.extend(protocol(port.protocol.as_deref(), &path.child("protocol")));
    let target = port.target_port.clone().unwrap_or(IntOrString::Int(0));
    errs.extend(port_num_or_name(&target, &path.child("targetPort")));
    if let Some(ap) = &port.app_protocol {
        errs.extend(names::invalid_all(
            &path.child("appProtocol"),
            ap,
            names::qualified_name(ap),
        ));
    }
    errs
}

/// `ValidateServiceClusterIPsRelatedFields`.
fn cluster_ips_related_fields(spec: &ServiceSpec, sp: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec_type(spec) == "ExternalName" {
        return errs;
    }
    let ips_path = sp.child("clusterIPs");
    let ips = cluster_ips(spec);
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(&ips_path, ""));
        } else if ips[0] != cluster_ip {
            errs.push(FieldError::invalid(
                &ips_path,
                go_strings(ips),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            &ips_path,
            go_strings(ips),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let families = spec.ip_families.as_deref().unwrap_or_default();
    let mut seen = HashSet::new();
    for (i, f) in families.iter().enumerate() {
        let p = sp.child("ipFamilies").index(i);
        if f != "IPv4" && f != "IPv6" {
            errs.push(FieldError::not_supported(&p, f.as_str(), &["IPv4", "IPv6"]));
        }
        if !seen.insert(f.as_str()) {
            errs.push(FieldError::duplicate(&p, f.as_str()));
        }
    }
    if let Some(policy) = &spec.ip_family_policy {
        const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&policy.as_str()) {
            errs.push(FieldError::not_supported(
                &sp.child("ipFamilyPolicy"),
                policy.as_str(),
                POLICIES,
            ));
        }
    }
    let mut invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(
                    &ips_path,
                    go_strings(ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let msgs = names::ip(ip);
        invalid |= !msgs.is_empty();
        errs.extend(names::invalid_all(&ips_path.index(i), ip, msgs));
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            &ips_path,
            go_strings(ips),
            "may only hold up to 2 values",
        ));
    }
    if invalid {
        return errs;
    }
    if ips.len() > 1 && !names::is_dual_stack(ips) {
        errs.push(FieldError::invalid(
            &ips_path,
            go_strings(ips),
            "may specify no more than one IP for each IP family",
        ));
    }
    if !is_headless(spec) {
        for (i, (ip, fam)) in ips.iter().zip(families).enumerate() {
            let v6 = ip.contains(':');
            if fam == "IPv4" && v6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    ip.as_str(),
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if fam == "IPv6" && !v6 {
                errs.push(FieldError::invalid(
                    &ips_path.index(i),
                    ip.as_str(),
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

/// `ValidateServiceUpdate`.
pub(crate) fn service_update(new: &Service, old: &Service) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let empty = ServiceSpec::default();
    let n = new.spec.as_ref().unwrap_or(&empty);
    let o = old.spec.as_ref().unwrap_or(&empty);
    let ips_path = Path::new("spec").child("clusterIPs");
    if spec_type(n) != "ExternalName"
        && spec_type(o) != "ExternalName"
        && !(is_headless(n) && is_headless(o))
    {
        let (ni, oi) = (cluster_ips(n), cluster_ips(o));
        if ni.len() == oi.len() {
            for (i, ip) in oi.iter().enumerate() {
                if ip != &ni[i] {
                    errs.push(FieldError::invalid(
                        &ips_path.index(i),
                        go_strings(ni),
                        "may not change once set",
                    ));
                }
            }
        } else if oi.len() > ni.len() {
            if ni.is_empty() {
                errs.push(FieldError::invalid(
                    &ips_path.index(0),
                    go_strings(ni),
                    "primary clusterIP can not be unset",
                ));
            } else if !oi.is_empty() && ni[0] != oi[0] {
                errs.push(FieldError::invalid(
                    &ips_path.index(0),
                    go_strings(ni),
                    "may not change once set",
                ));
            }
            if ni.len() == 1 && n.ip_family_policy.as_deref() != Some("SingleStack") {
                errs.push(FieldError::invalid(
                    &Path::new("spec").child("ipFamilyPolicy"),
                    Raw(n
                        .ip_family_policy
                        .as_deref()
                        .map_or("null".to_string(), go_quote)),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !oi.is_empty() && ni[0] != oi[0] {
            errs.push(FieldError::invalid(
                &ips_path.index(0),
                go_strings(ni),
                "may not change once set",
            ));
        }
    }
    if spec_type(n) != "ExternalName"
        && spec_type(o) != "ExternalName"
        && !is_headless(n)
        && !is_headless(o)
    {
        let (nf, of) = (
            n.ip_families.as_deref().unwrap_or_default(),
            o.ip_families.as_deref().unwrap_or_default(),
        );
        let fp = Path::new("spec").child("ipFamilies");
        if nf.len() == of.len() {
            if nf != of {
                errs.push(FieldError::invalid(
                    &fp.index(0),
                    go_strings(nf),
                    "may not change once set",
                ));
            }
        } else if !of.is_empty() && !nf.is_empty() && nf[0] != of[0] {
            errs.push(FieldError::invalid(
                &fp.index(0),
                go_strings(nf),
                "may not change once set",
            ));
        }
    }
    if spec_type(n) == "LoadBalancer"
        && spec_type(o) == "LoadBalancer"
        && n.load_balancer_class != o.load_balancer_class
    {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("loadBalancerClass"),
            Raw(n
                .load_balancer_class
                .as_deref()
                .map_or("null".to_string(), go_quote)),
            "may not change once set",
        ));
    }
    if needs_health_check(o)
        && needs_health_check(n)
        && n.health_check_node_port != o.health_check_node_port
    {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("healthCheckNodePort"),
            FIELD_IMMUTABLE,
        ));
    }
    errs.extend(service(new));
    errs
}

/// `ValidateServiceStatusUpdate`.
pub(crate) fn service_status_update(new: &Service, old: &Service) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let empty = ServiceSpec::default();
    let spec = new.spec.as_ref().unwrap_or(&empty);
    let lb = new.status.as_ref().and_then(|s| s.load_balancer.as_ref());
    errs.extend(load_balancer_status(
        lb,
        spec_type(spec) == "LoadBalancer",
        &Path::new("status").child("loadBalancer"),
    ));
    errs
}

/// `ValidateLoadBalancerStatus`.
pub(crate) fn load_balancer_status(
    lb: Option<&LoadBalancerStatus>,
    is_lb: bool,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ingress = lb.and_then(|l| l.ingress.as_deref()).unwrap_or_default();
    let ip = path.child("ingress");
    if !is_lb && !ingress.is_empty() {
        errs.push(FieldError::forbidden(
            &ip,
            "may only be used when `spec.type` is 'LoadBalancer'",
        ));
        return errs;
    }
    for (i, ing) in ingress.iter().enumerate() {
        let p = ip.index(i);
        let addr = ing.ip.as_deref().unwrap_or("");
        if !addr.is_empty() {
            errs.extend(names::invalid_all(&p.child("ip"), addr, names::ip(addr)));
        }
        match (&ing.ip_mode, addr.is_empty()) {
            (Some(_), true) => errs.push(FieldError::forbidden(
                &p.child("ipMode"),
                "may not be set when `ip` is not set",
            )),
            (Some(m), false) if m != "VIP" && m != "Proxy" => errs.push(FieldError::not_supported(
                &p.child("ipMode"),
                m.as_str(),
                &["Proxy", "VIP"],
            )),
            (None, false) => errs.push(FieldError::required(
                &p.child("ipMode"),
                "must be specified when `ip` is set",
            )),
            _ => {}
        }
        let host = ing.hostname.as_deref().unwrap_or("");
        if !host.is_empty() {
            errs.extend(names::invalid_all(
                &p.child("hostname"),
                host,
                names::dns1123_subdomain(host),
            ));
            if host.parse::<std::net::IpAddr>().is_ok() {
                errs.push(FieldError::invalid(
                    &p.child("hostname"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
        }
    }
    errs
}

/// `ValidateNamespace`.
pub(crate) fn namespace(ns: &Namespace) -> Vec<FieldError> {
    let mut errs = meta::object_meta(&ns.metadata, false, NameRule::Label, &Path::new("metadata"));
    let p = Path::new("spec").child("finalizers");
    for f in ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref())
        .unwrap_or_default()
    {
        errs.extend(names::invalid_all(&p, f, names::qualified_name(f)));
        errs.extend(meta::kube_finalizer_name(f, &p));
    }
    errs
}

/// `ValidateNamespaceStatusUpdate`.
pub(crate) fn namespace_status_update(new: &Namespace, old: &Namespace) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let phase = new
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("");
    let p = Path::new("status").child("Phase");
    if new.metadata.deletion_timestamp.is_none() {
        if phase != "Active" {
            errs.push(FieldError::invalid(
                &p,
                phase,
                "may only be 'Active' if `deletionTimestamp` is empty",
            ));
        }
    } else if phase != "Terminating" {
        errs.push(FieldError::invalid(
            &p,
            phase,
            "may only be 'Terminating' if `deletionTimestamp` is not empty",
        ));
    }
    errs
}

/// `ValidateNode`.
pub(crate) fn node(node: &Node) -> Vec<FieldError> {
    let meta_path = Path::new("metadata");
    let mut errs = meta::object_meta(&node.metadata, false, NameRule::Subdomain, &meta_path);
    let spec = node.spec.clone().unwrap_or_default();
    errs.extend(node_taints(
        spec.taints.as_deref().unwrap_or_default(),
        &meta_path.child("taints"),
    ));
    errs.extend(node_resources(node));
    let cidrs = spec.pod_cidrs.as_deref().unwrap_or_default();
    let p = Path::new("spec").child("podCIDRs");
    for (i, c) in cidrs.iter().enumerate() {
        errs.extend(names::cidr(&p.index(i), c));
    }
    if cidrs.len() > 1 {
        if !names::is_dual_stack(cidrs) || cidrs.len() > 2 {
            errs.push(FieldError::invalid(
                &p,
                go_strings(cidrs),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen = HashSet::new();
        for (i, c) in cidrs.iter().enumerate() {
            if !seen.insert(c.as_str()) {
                errs.push(FieldError::duplicate(&p.index(i), c.as_str()));
            }
        }
    }
    errs
}

/// `validateNodeTaints` (upstream reports them under `metadata.taints`).
fn node_taints(taints: &[Taint], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut unique: HashSet<(&str, &str)> = HashSet::new();
    for (i, t) in taints.iter().enumerate() {
        let p = path.index(i);
        errs.extend(meta::label_name(&t.key, &p.child("key")));
        let value = t.value.as_deref().unwrap_or("");
        let msgs = names::label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &p.child("value"),
                value,
                &msgs.join(";"),
            ));
        }
        errs.extend(taint_effect(&t.effect, &p.child("effect")));
        if !unique.insert((t.effect.as_str(), t.key.as_str())) {
            errs.push(
                FieldError::duplicate(
                    &p,
                    Raw(format!(
                        "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:<nil>}}",
                        go_quote(&t.key),
                        go_quote(value),
                        go_quote(&t.effect)
                    )),
                )
                .with_detail("taints must be unique by key and effect pair"),
            );
        }
    }
    errs
}

/// `ValidateNodeResources`.
fn node_resources(node: &Node) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let status = node.status.clone().unwrap_or_default();
    for (field, list) in [
        ("capacity", &status.capacity),
        ("allocatable", &status.allocatable),
    ] {
        for (k, v) in list.iter().flatten() {
            if let Ok(q) = Quantity::parse(&v.0)
                && q.is_negative()
            {
                errs.push(FieldError::invalid(
                    &Path::new("status").child(field).child(k),
                    q.canonical(),
                    meta::IS_NEGATIVE,
                ));
            }
        }
    }
    errs
}

/// `ValidateNodeUpdate`.
pub(crate) fn node_update(new: &Node, old: &Node) -> Vec<FieldError> {
    let meta_path = Path::new("metadata");
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &meta_path);
    errs.extend(node_resources(new));
    let mut seen = HashSet::new();
    let addresses = new
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_deref())
        .unwrap_or_default();
    for (i, a) in addresses.iter().enumerate() {
        if !seen.insert((a.type_.as_str(), a.address.as_str())) {
            errs.push(FieldError::duplicate(
                &Path::new("status").child("addresses").index(i),
                Raw(format!(
                    "core.NodeAddress{{Type:{}, Address:{}}}",
                    go_quote(&a.type_),
                    go_quote(&a.address)
                )),
            ));
        }
    }
    let ns = new.spec.clone().unwrap_or_default();
    let os = old.spec.clone().unwrap_or_default();
    let old_cidrs = os.pod_cidrs.clone().unwrap_or_default();
    if !old_cidrs.is_empty() && ns.pod_cidrs.clone().unwrap_or_default() != old_cidrs {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("podCIDRs"),
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let old_provider = os.provider_id.as_deref().unwrap_or("");
    if !old_provider.is_empty() && old_provider != ns.provider_id.as_deref().unwrap_or("") {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("providerID"),
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    errs.extend(node_taints(
        ns.taints.as_deref().unwrap_or_default(),
        &meta_path.child("taints"),
    ));
    if ns.external_id != os.external_id {
        errs.push(FieldError::forbidden(
            &Path::new("spec").child("externalID"),
            "may not be updated",
        ));
    }
    // Pod CIDRs given for the first time must be valid.
    let p = Path::new("spec").child("podCIDRs");
    for (i, c) in ns
        .pod_cidrs
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        errs.extend(names::cidr(&p.index(i), c));
    }
    errs
}

/// `ValidateConfigMap`.
pub(crate) fn config_map(cm: &ConfigMap) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &cm.metadata,
        true,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    let mut total = 0usize;
    let binary = cm.binary_data.clone().unwrap_or_default();
    for (k, v) in cm.data.iter().flatten() {
        let p = Path::new("data").key(k);
        errs.extend(names::invalid_all(&p, k, names::config_map_key(k)));
        if binary.contains_key(k) {
            errs.push(FieldError::invalid(
                &p,
                k,
                "duplicate of key present in binaryData",
            ));
        }
        total += v.len();
    }
    for (k, v) in &binary {
        errs.extend(names::invalid_all(
            &Path::new("binaryData").key(k),
            k,
            names::config_map_key(k),
        ));
        total += v.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&Path::new(""), MAX_SECRET_SIZE));
    }
    errs
}

/// `ValidateConfigMapUpdate`.
pub(crate) fn config_map_update(new: &ConfigMap, old: &ConfigMap) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    if old.immutable == Some(true) {
        let msg = "field is immutable when `immutable` is set";
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(&Path::new("immutable"), msg));
        }
        if new.data.clone().unwrap_or_default() != old.data.clone().unwrap_or_default() {
            errs.push(FieldError::forbidden(&Path::new("data"), msg));
        }
        if new.binary_data.clone().unwrap_or_default()
            != old.binary_data.clone().unwrap_or_default()
        {
            errs.push(FieldError::forbidden(&Path::new("binaryData"), msg));
        }
    }
    errs.extend(config_map(new));
    errs
}

/// `ValidateSecret`.
pub(crate) fn secret(s: &Secret) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &s.metadata,
        true,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    let data_path = Path::new("data");
    let empty = BTreeMap::new();
    let data = s.data.as_ref().unwrap_or(&empty);
    let mut total = 0usize;
    for (k, v) in data {
        errs.extend(names::invalid_all(
            &data_path.key(k),
            k,
            names::config_map_key(k),
        ));
        total += v.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.contains_key(k);
    match s.type_.as_deref().unwrap_or("") {
        "kubernetes.io/service-account-token" => {
            let name = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .map(String::as_str)
                .unwrap_or("");
            if name.is_empty() {
                errs.push(FieldError::required(
                    &Path::new("metadata")
                        .child("annotations")
                        .key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if s.type_.as_deref() == Some("kubernetes.io/dockercfg") {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match data.get(key) {
                None => errs.push(FieldError::required(&data_path.key(key), "")),
                Some(bytes) => {
                    if let Err(e) = serde_json::from_slice::<
                        serde_json::Map<String, serde_json::Value>,
                    >(&bytes.0)
                    {
                        errs.push(FieldError::invalid(
                            &data_path.key(key),
                            "<secret contents redacted>",
                            &e.to_string(),
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required(&data_path.key("username"), ""));
            errs.push(FieldError::required(&data_path.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            errs.push(FieldError::required(&data_path.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(FieldError::required(&data_path.key(key), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// `ValidateSecretUpdate`.
pub(crate) fn secret_update(new: &Secret, old: &Secret) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let (nt, ot) = (
        new.type_.as_deref().unwrap_or(""),
        old.type_.as_deref().unwrap_or(""),
    );
    if nt != ot {
        errs.push(FieldError::invalid(&Path::new("type"), nt, FIELD_IMMUTABLE));
    }
    if old.immutable == Some(true) {
        let msg = "field is immutable when `immutable` is set";
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(&Path::new("immutable"), msg));
        }
        if new.data.clone().unwrap_or_default() != old.data.clone().unwrap_or_default() {
            errs.push(FieldError::forbidden(&Path::new("data"), msg));
        }
    }
    errs.extend(secret(new));
    errs
}

/// `ValidateEndpoints`.
pub(crate) fn endpoints(ep: &Endpoints) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &ep.metadata,
        true,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    let sp = Path::new("subsets");
    for (i, ss) in ep.subsets.as_deref().unwrap_or_default().iter().enumerate() {
        let p = sp.index(i);
        let addrs = ss.addresses.as_deref().unwrap_or_default();
        let not_ready = ss.not_ready_addresses.as_deref().unwrap_or_default();
        if addrs.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(
                &p,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (j, a) in addrs.iter().enumerate() {
            errs.extend(endpoint_address(a, &p.child("addresses").index(j)));
        }
        for (j, a) in not_ready.iter().enumerate() {
            errs.extend(endpoint_address(a, &p.child("notReadyAddresses").index(j)));
        }
        let ports = ss.ports.as_deref().unwrap_or_default();
        for (j, port) in ports.iter().enumerate() {
            let pp = p.child("ports").index(j);
            let name = port.name.as_deref().unwrap_or("");
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(&pp.child("name"), ""));
            } else if !name.is_empty() {
                errs.extend(names::invalid_all(
                    &pp.child("name"),
                    name,
                    names::dns1123_label(name),
                ));
            }
            for m in names::port_num(i64::from(port.port)) {
                errs.push(FieldError::invalid(&pp.child("port"), port.port, &m));
            }
            errs.extend(protocol(port.protocol.as_deref(), &pp.child("protocol")));
            if let Some(ap) = &port.app_protocol {
                errs.extend(names::invalid_all(
                    &pp.child("appProtocol"),
                    ap,
                    names::qualified_name(ap),
                ));
            }
        }
    }
    errs
}

fn endpoint_address(a: &EndpointAddress, path: &Path) -> Vec<FieldError> {
    let mut errs = names::invalid_all(&path.child("ip"), &a.ip, names::ip(&a.ip));
    if let Some(h) = a.hostname.as_deref().filter(|h| !h.is_empty()) {
        errs.extend(names::invalid_all(
            &path.child("hostname"),
            h,
            names::dns1123_label(h),
        ));
    }
    if let Some(n) = &a.node_name {
        errs.extend(names::invalid_all(
            &path.child("nodeName"),
            n,
            NameRule::Subdomain.check(n, false),
        ));
    }
    errs.extend(names::non_special_ip(&path.child("ip"), &a.ip));
    errs
}

/// `legacyValidateEvent` as applied to core/v1 Events (events.go).
pub(crate) fn event(ev: &Event) -> Vec<FieldError> {
    // The generic metadata checks every create runs (`validateCommonFields`).
    let mut errs = meta::object_meta(
        &ev.metadata,
        true,
        NameRule::PathSegment,
        &Path::new("metadata"),
    );
    let ns = ev.metadata.namespace.as_deref().unwrap_or("");
    let involved_ns = ev.involved_object.namespace.as_deref().unwrap_or("");
    let inp = Path::new("involvedObject").child("namespace");
    if ev.event_time.is_none() {
        if involved_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(FieldError::invalid(
                    &inp,
                    involved_ns,
                    "does not match event.namespace",
                ));
            }
        } else if ns != involved_ns {
            errs.push(FieldError::invalid(
                &inp,
                involved_ns,
                "does not match event.namespace",
            ));
        }
    } else {
        if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(FieldError::invalid(
                &inp,
                involved_ns,
                "does not match event.namespace",
            ));
        }
        let rc = ev.reporting_component.as_deref().unwrap_or("");
        if rc.is_empty() {
            errs.push(FieldError::required(&Path::new("reportingComponent"), ""));
        }
        errs.extend(names::invalid_all(
            &Path::new("reportingComponent"),
            rc,
            names::qualified_name(rc),
        ));
        for (field, value, limit, required) in [
            (
                "reportingInstance",
                ev.reporting_instance.as_deref(),
                128,
                true,
            ),
            ("action", ev.action.as_deref(), 128, true),
            ("reason", ev.reason.as_deref(), 128, true),
            ("message", ev.message.as_deref(), 1024, false),
        ] {
            let v = value.unwrap_or("");
            if required && v.is_empty() {
                errs.push(FieldError::required(&Path::new(field), ""));
            }
            if v.len() > limit {
                errs.push(FieldError::invalid(
                    &Path::new(field),
                    "",
                    &format!("can have at most {limit} characters"),
                ));
            }
        }
    }
    errs.extend(names::invalid_all(
        &Path::new("namespace"),
        ns,
        names::dns1123_subdomain(ns),
    ));
    errs
}
