//! EndpointSlices (pkg/apis/discovery/validation/validation.go).

use std::collections::HashSet;

use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::field::{FieldError, Path};
use crate::names::{self, NameRule};
use crate::validation::meta::{self, FIELD_IMMUTABLE};

const MAX_TOPOLOGY_LABELS: usize = 16;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 100;
const MAX_ENDPOINTS: usize = 1000;
const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];

/// `ValidateEndpointSlice`; `allow_ip` admits the deprecated `IP` address type (updates only).
pub(crate) fn endpoint_slice(es: &EndpointSlice, allow_ip: bool) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &es.metadata,
        true,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    let at = es.address_type.as_str();
    let at_path = Path::new("addressType");
    if at.is_empty() {
        errs.push(FieldError::required(&at_path, ""));
    } else if !(ADDRESS_TYPES.contains(&at) || (allow_ip && at == "IP")) {
        let valid: &[&str] = if allow_ip {
            &["FQDN", "IP", "IPv4", "IPv6"]
        } else {
            ADDRESS_TYPES
        };
        errs.push(FieldError::not_supported(&at_path, at, valid));
    }
    let ep_path = Path::new("endpoints");
    if es.endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many(
            &ep_path,
            es.endpoints.len(),
            MAX_ENDPOINTS,
        ));
    } else {
        for (i, ep) in es.endpoints.iter().enumerate() {
            let p = ep_path.index(i);
            let ap = p.child("addresses");
            if ep.addresses.is_empty() {
                errs.push(FieldError::required(&ap, "must contain at least 1 address"));
            } else if ep.addresses.len() > MAX_ADDRESSES {
                errs.push(FieldError::too_many(&ap, ep.addresses.len(), MAX_ADDRESSES));
            }
            for (j, addr) in ep.addresses.iter().enumerate() {
                let p = ap.index(j);
                match at {
                    "IP" => errs.extend(names::invalid_all(&p, addr, names::ip(addr))),
                    "IPv4" => {
                        errs.extend(names::ipv4_address(&p, addr));
                        errs.extend(names::non_special_ip(&p, addr));
                    }
                    "IPv6" => {
                        errs.extend(names::ipv6_address(&p, addr));
                        errs.extend(names::non_special_ip(&p, addr));
                    }
                    "FQDN" => errs.extend(names::fully_qualified_domain_name(&p, addr)),
                    _ => {}
                }
            }
            let tp = p.child("topology");
            if let Some(topology) = &ep.deprecated_topology {
                if topology.len() > MAX_TOPOLOGY_LABELS {
                    errs.push(FieldError::too_many(
                        &tp,
                        topology.len(),
                        MAX_TOPOLOGY_LABELS,
                    ));
                }
                errs.extend(meta::labels(Some(topology), &tp));
            }
            if let Some(h) = &ep.hostname {
                errs.extend(names::invalid_all(
                    &p.child("hostname"),
                    h,
                    names::dns1123_label(h),
                ));
            }
        }
    }
    let ports = es.ports.as_deref().unwrap_or_default();
    let pp = Path::new("ports");
    if ports.len() > MAX_PORTS {
        errs.push(FieldError::too_many(&pp, ports.len(), MAX_PORTS));
        return errs;
    }
    let mut port_names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = pp.index(i);
        let name = port.name.as_deref().unwrap_or("");
        if !name.is_empty() {
            errs.extend(names::invalid_all(
                &p.child("name"),
                name,
                names::dns1123_label(name),
            ));
        }
        if !port_names.insert(name) {
            errs.push(FieldError::duplicate(&p.child("name"), name));
        }
        match port.protocol.as_deref() {
            None => errs.push(FieldError::required(&p.child("protocol"), "")),
            Some("TCP" | "UDP" | "SCTP") => {}
            Some(other) => errs.push(FieldError::not_supported(
                &p.child("protocol"),
                other,
                &["SCTP", "TCP", "UDP"],
            )),
        }
        if let Some(n) = port.port {
            // Upstream relies on the Go type (uint16-like range) here; keep to valid numbers.
            if !(0..=65535).contains(&n) {
                errs.push(FieldError::invalid(
                    &p.child("port"),
                    n,
                    &names::inclusive_range_error(0, 65535),
                ));
            }
        }
        if let Some(ap) = &port.app_protocol {
            errs.extend(names::invalid_all(
                &p.child("appProtocol"),
                ap,
                names::qualified_name(ap),
            ));
        }
    }
    errs
}

/// `ValidateEndpointSliceUpdate`: the address type is immutable.
pub(crate) fn endpoint_slice_update(new: &EndpointSlice, old: &EndpointSlice) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(endpoint_slice(new, true));
    if new.address_type != old.address_type {
        errs.push(FieldError::invalid(
            &Path::new("addressType"),
            new.address_type.as_str(),
            FIELD_IMMUTABLE,
        ));
    }
    errs
}
