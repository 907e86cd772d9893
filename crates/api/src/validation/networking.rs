//! NetworkPolicy, Ingress and IngressClass (pkg/apis/networking/validation/validation.go).

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, IPBlock, Ingress, IngressBackend, IngressClass, IngressSpec, NetworkPolicy,
    NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field::{FieldError, Path, Raw};
use crate::names::{self, NameRule};
use crate::validation::meta::{self, FIELD_IMMUTABLE};

/// `ValidateNetworkPolicy`.
pub(crate) fn network_policy(np: &NetworkPolicy) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &np.metadata,
        true,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    errs.extend(network_policy_spec(
        &np.spec.clone().unwrap_or_default(),
        &Path::new("spec"),
    ));
    errs
}

/// `ValidateNetworkPolicyUpdate`.
pub(crate) fn network_policy_update(new: &NetworkPolicy, old: &NetworkPolicy) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(network_policy_spec(
        &new.spec.clone().unwrap_or_default(),
        &Path::new("spec"),
    ));
    errs
}

fn network_policy_spec(spec: &NetworkPolicySpec, path: &Path) -> Vec<FieldError> {
    let mut errs = meta::label_selector(spec.pod_selector.as_ref(), &path.child("podSelector"));
    for (i, rule) in spec
        .ingress
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let rp = path.child("ingress").index(i);
        for (j, port) in rule.ports.as_deref().unwrap_or_default().iter().enumerate() {
            errs.extend(network_policy_port(port, &rp.child("ports").index(j)));
        }
        for (j, peer) in rule.from.as_deref().unwrap_or_default().iter().enumerate() {
            errs.extend(network_policy_peer(peer, &rp.child("from").index(j)));
        }
    }
    for (i, rule) in spec
        .egress
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let rp = path.child("egress").index(i);
        for (j, port) in rule.ports.as_deref().unwrap_or_default().iter().enumerate() {
            errs.extend(network_policy_port(port, &rp.child("ports").index(j)));
        }
        for (j, peer) in rule.to.as_deref().unwrap_or_default().iter().enumerate() {
            errs.extend(network_policy_peer(peer, &rp.child("to").index(j)));
        }
    }
    let types = spec.policy_types.as_deref().unwrap_or_default();
    if types.len() > 2 {
        errs.push(FieldError::invalid(
            &path.child("policyTypes"),
            crate::field::go_strings(types),
            "may not specify more than two policyTypes",
        ));
        return errs;
    }
    for (i, t) in types.iter().enumerate() {
        if t != "Ingress" && t != "Egress" {
            errs.push(FieldError::not_supported(
                &path.child("policyTypes").index(i),
                t.as_str(),
                &["Ingress", "Egress"],
            ));
        }
    }
    errs
}

/// `ValidateNetworkPolicyPort`.
fn network_policy_port(port: &NetworkPolicyPort, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(p) = &port.protocol
        && !["TCP", "UDP", "SCTP"].contains(&p.as_str())
    {
        errs.push(FieldError::not_supported(
            &path.child("protocol"),
            p.as_str(),
            &["TCP", "UDP", "SCTP"],
        ));
    }
    match &port.port {
        Some(IntOrString::Int(n)) => {
            for m in names::port_num(i64::from(*n)) {
                errs.push(FieldError::invalid(&path.child("port"), *n, &m));
            }
            if let Some(end) = port.end_port {
                if end < *n {
                    errs.push(FieldError::invalid(
                        &path.child("endPort"),
                        end,
                        "must be greater than or equal to `port`",
                    ));
                }
                for m in names::port_num(i64::from(end)) {
                    errs.push(FieldError::invalid(&path.child("endPort"), end, &m));
                }
            }
        }
        Some(IntOrString::String(s)) => {
            if let Some(end) = port.end_port {
                errs.push(FieldError::invalid(
                    &path.child("endPort"),
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            errs.extend(names::invalid_all(
                &path.child("port"),
                s,
                names::port_name(s),
            ));
        }
        None => {
            if let Some(end) = port.end_port {
                errs.push(FieldError::invalid(
                    &path.child("endPort"),
                    end,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
    errs
}

/// `ValidateNetworkPolicyPeer`.
fn network_policy_peer(peer: &NetworkPolicyPeer, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut peers = 0;
    if let Some(s) = &peer.pod_selector {
        peers += 1;
        errs.extend(meta::label_selector(Some(s), &path.child("podSelector")));
    }
    if let Some(s) = &peer.namespace_selector {
        peers += 1;
        errs.extend(meta::label_selector(
            Some(s),
            &path.child("namespaceSelector"),
        ));
    }
    if let Some(b) = &peer.ip_block {
        peers += 1;
        errs.extend(ip_block(b, &path.child("ipBlock")));
    }
    if peers == 0 {
        errs.push(FieldError::required(path, "must specify a peer"));
    } else if peers > 1 && peer.ip_block.is_some() {
        errs.push(FieldError::forbidden(
            path,
            "may not specify both ipBlock and another peer",
        ));
    }
    errs
}

/// `ValidateIPBlock`: `except` entries must be strict subsets of `cidr`.
fn ip_block(b: &IPBlock, path: &Path) -> Vec<FieldError> {
    if b.cidr.is_empty() {
        return vec![FieldError::required(&path.child("cidr"), "")];
    }
    let mut errs = names::cidr(&path.child("cidr"), &b.cidr);
    let Some(cidr) = names::parse_cidr(&b.cidr) else {
        return errs;
    };
    for (i, ex) in b.except.as_deref().unwrap_or_default().iter().enumerate() {
        let p = path.child("except").index(i);
        let e = names::cidr(&p, ex);
        if !e.is_empty() {
            errs.extend(e);
            continue;
        }
        let Some(except) = names::parse_cidr(ex) else {
            continue;
        };
        if !cidr.contains(&except.network()) || cidr.prefix_len() >= except.prefix_len() {
            errs.push(FieldError::invalid(
                &p,
                ex.as_str(),
                "must be a strict subset of `cidr`",
            ));
        }
    }
    errs
}

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];

/// `ValidateIngressCreate`.
pub(crate) fn ingress_create(ing: &Ingress) -> Vec<FieldError> {
    let mut errs = ingress(ing);
    let class = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/ingress.class"));
    let class_name = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_ref());
    if let (Some(a), Some(c)) = (class, class_name)
        && a != c
    {
        errs.push(FieldError::invalid(
            &Path::new("annotations").child("kubernetes.io/ingress.class"),
            a,
            "must match `ingressClassName` when both are specified",
        ));
    }
    errs
}

/// `ValidateIngressUpdate`.
pub(crate) fn ingress_update(new: &Ingress, old: &Ingress) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(ingress(new));
    errs
}

fn ingress(ing: &Ingress) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &ing.metadata,
        true,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    errs.extend(ingress_spec(
        &ing.spec.clone().unwrap_or_default(),
        &Path::new("spec"),
    ));
    errs
}

fn ingress_spec(spec: &IngressSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules = spec.rules.as_deref().unwrap_or_default();
    if rules.is_empty() && spec.default_backend.is_none() {
        errs.push(FieldError::invalid(
            path,
            Raw("[]networking.IngressRule(nil)".to_string()),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(b) = &spec.default_backend {
        errs.extend(ingress_backend(b, &path.child("defaultBackend")));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = path.child("rules").index(i);
        let host = rule.host.as_deref().unwrap_or("");
        if !host.is_empty() {
            if host.parse::<std::net::IpAddr>().is_ok() {
                errs.push(FieldError::invalid(
                    &rp.child("host"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
            let msgs = if host.contains('*') {
                names::wildcard_dns1123_subdomain(host)
            } else {
                names::dns1123_subdomain(host)
            };
            errs.extend(names::invalid_all(&rp.child("host"), host, msgs));
        }
        if let Some(http) = &rule.http {
            let hp = rp.child("http");
            if http.paths.is_empty() {
                errs.push(FieldError::required(&hp.child("paths"), ""));
            }
            for (j, p) in http.paths.iter().enumerate() {
                errs.extend(http_ingress_path(p, &hp.child("paths").index(j)));
            }
        }
    }
    for (i, tls) in spec.tls.as_deref().unwrap_or_default().iter().enumerate() {
        let tp = path.child("tls").index(i);
        for (j, host) in tls.hosts.as_deref().unwrap_or_default().iter().enumerate() {
            let msgs = if host.contains('*') {
                names::wildcard_dns1123_subdomain(host)
            } else {
                names::dns1123_subdomain(host)
            };
            errs.extend(names::invalid_all(&tp.child("hosts").index(j), host, msgs));
        }
        if let Some(secret) = tls.secret_name.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(names::invalid_all(
                &tp.child("secretName"),
                secret,
                NameRule::Subdomain.check(secret, false),
            ));
        }
    }
    if let Some(class) = &spec.ingress_class_name {
        errs.extend(names::invalid_all(
            &path.child("ingressClassName"),
            class,
            NameRule::Subdomain.check(class, false),
        ));
    }
    errs
}

fn http_ingress_path(p: &HTTPIngressPath, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if p.path_type.is_empty() {
        errs.push(FieldError::required(
            &path.child("pathType"),
            "pathType must be specified",
        ));
        return errs;
    }
    let value = p.path.as_deref().unwrap_or("");
    match p.path_type.as_str() {
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid(
                    &path.child("path"),
                    value,
                    "must be an absolute path",
                ));
            }
            if !value.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if value.contains(seq) {
                        errs.push(FieldError::invalid(
                            &path.child("path"),
                            value,
                            &format!("must not contain '{seq}'"),
                        ));
                    }
                }
                for suffix in ["/..", "/."] {
                    if value.ends_with(suffix) {
                        errs.push(FieldError::invalid(
                            &path.child("path"),
                            value,
                            &format!("cannot end with '{suffix}'"),
                        ));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid(
                    &path.child("path"),
                    value,
                    "must be an absolute path",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            &path.child("pathType"),
            other,
            PATH_TYPES,
        )),
    }
    errs.extend(ingress_backend(&p.backend, &path.child("backend")));
    errs
}

/// `validateIngressBackend`.
fn ingress_backend(b: &IngressBackend, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (&b.resource, &b.service) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (Some(r), None) => {
            let rp = path.child("resource");
            if let Some(g) = &r.api_group {
                errs.extend(names::invalid_all(
                    &rp.child("apiGroup"),
                    g,
                    names::dns1123_subdomain(g),
                ));
            }
            for (field, v) in [("kind", &r.kind), ("name", &r.name)] {
                if v.is_empty() {
                    errs.push(FieldError::required(&rp.child(field), ""));
                } else {
                    errs.extend(path_segment_name(v, &rp.child(field)));
                }
            }
        }
        (None, Some(s)) => {
            let sp = path.child("service");
            if s.name.is_empty() {
                errs.push(FieldError::required(&sp.child("name"), ""));
            } else {
                errs.extend(names::invalid_all(
                    &sp.child("name"),
                    &s.name,
                    NameRule::Dns1035.check(&s.name, false),
                ));
            }
            let port = s.port.clone().unwrap_or_default();
            let name = port.name.as_deref().unwrap_or("");
            let number = port.number.unwrap_or(0);
            match (name.is_empty(), number == 0) {
                (false, false) => errs.push(FieldError::invalid(
                    path,
                    "",
                    "cannot set both port name & port number",
                )),
                (false, true) => errs.extend(names::invalid_all(
                    &sp.child("port").child("name"),
                    name,
                    names::port_name(name),
                )),
                (true, false) => {
                    for m in names::port_num(i64::from(number)) {
                        errs.push(FieldError::invalid(
                            &sp.child("port").child("number"),
                            number,
                            &m,
                        ));
                    }
                }
                (true, true) => errs.push(FieldError::required(
                    path,
                    "port name or number is required",
                )),
            }
        }
        (None, None) => errs.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
    }
    errs
}

/// `content.IsPathSegmentName`.
fn path_segment_name(v: &str, path: &Path) -> Vec<FieldError> {
    names::invalid_all(path, v, names::path_segment_name(v))
}

/// `ValidateIngressStatusUpdate`.
pub(crate) fn ingress_status_update(new: &Ingress, old: &Ingress) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let ingress = new
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_deref())
        .unwrap_or_default();
    let p = Path::new("status").child("loadBalancer").child("ingress");
    for (i, ing) in ingress.iter().enumerate() {
        let ip = ing.ip.as_deref().unwrap_or("");
        if !ip.is_empty() {
            errs.extend(names::invalid_all(
                &p.index(i).child("ip"),
                ip,
                names::ip(ip),
            ));
        }
        let host = ing.hostname.as_deref().unwrap_or("");
        if !host.is_empty() {
            errs.extend(names::invalid_all(
                &p.index(i).child("hostname"),
                host,
                names::dns1123_subdomain(host),
            ));
            if host.parse::<std::net::IpAddr>().is_ok() {
                errs.push(FieldError::invalid(
                    &p.index(i).child("hostname"),
                    host,
                    "must be a DNS name, not an IP address",
                ));
            }
        }
    }
    errs
}

/// `ValidateIngressClass`.
pub(crate) fn ingress_class(ic: &IngressClass) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &ic.metadata,
        false,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    let spec = ic.spec.clone().unwrap_or_default();
    let sp = Path::new("spec");
    let controller = spec.controller.as_deref().unwrap_or("");
    if controller.is_empty() {
        errs.push(FieldError::required(&sp.child("controller"), ""));
    } else {
        if controller.len() > 250 {
            errs.push(FieldError::too_long(&sp.child("controller"), 250));
        }
        errs.extend(names::domain_prefixed_path(
            &sp.child("controller"),
            controller,
        ));
    }
    if let Some(params) = &spec.parameters {
        let pp = sp.child("parameters");
        if let Some(g) = &params.api_group {
            errs.extend(names::invalid_all(
                &pp.child("apiGroup"),
                g,
                names::dns1123_subdomain(g),
            ));
        }
        for (field, v) in [("kind", &params.kind), ("name", &params.name)] {
            if v.is_empty() {
                errs.push(FieldError::required(&pp.child(field), ""));
            } else {
                errs.extend(path_segment_name(v, &pp.child(field)));
            }
        }
        match params.scope.as_deref() {
            None => errs.push(FieldError::required(&pp.child("scope"), "")),
            Some("Namespace") => match &params.namespace {
                None => errs.push(FieldError::required(
                    &pp.child("namespace"),
                    "`parameters.scope` is set to 'Namespace'",
                )),
                Some(ns) => errs.extend(names::invalid_all(
                    &pp.child("namespace"),
                    ns,
                    NameRule::Label.check(ns, false),
                )),
            },
            Some("Cluster") => {
                if params.namespace.is_some() {
                    errs.push(FieldError::forbidden(
                        &pp.child("namespace"),
                        "`parameters.scope` is set to 'Cluster'",
                    ));
                }
            }
            Some(other) => errs.push(FieldError::not_supported(
                &pp.child("scope"),
                other,
                &["Cluster", "Namespace"],
            )),
        }
    }
    errs
}

/// `ValidateIngressClassUpdate`: the controller is immutable.
pub(crate) fn ingress_class_update(new: &IngressClass, old: &IngressClass) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let n = new
        .spec
        .as_ref()
        .and_then(|s| s.controller.clone())
        .unwrap_or_default();
    let o = old
        .spec
        .as_ref()
        .and_then(|s| s.controller.clone())
        .unwrap_or_default();
    if n != o {
        errs.push(FieldError::invalid(
            &Path::new("spec").child("controller"),
            n.as_str(),
            FIELD_IMMUTABLE,
        ));
    }
    errs.extend(ingress_class(new));
    errs
}
