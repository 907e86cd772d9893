//! Networking printers: EndpointSlice, NetworkPolicy, Ingress, IngressClass, ServiceCIDR,
//! IPAddress.

use jiff::Timestamp;
use serde_json::Value;

use super::{age, list_with_more, load_balancer_ingress, s};
use crate::json::{get, list_at, name, opt_int, opt_str, str_at};
use crate::selector::format_label_selector;

/// `formatDiscoveryPorts`: port numbers (or names, or "*"), at most three.
fn discovery_ports(slice: &Value) -> String {
    let ports = list_at(slice, &["ports"]);
    let items: Vec<String> = ports
        .iter()
        .map(|p| {
            if let Some(port) = opt_int(p, &["port"]) {
                port.to_string()
            } else if let Some(name) = opt_str(p, &["name"]) {
                name.to_string()
            } else {
                "*".to_string()
            }
        })
        .collect();
    list_with_more(&items, items.len(), 3)
}

/// `formatDiscoveryEndpoints`: every address of every endpoint, at most three.
fn discovery_endpoints(slice: &Value) -> String {
    let items: Vec<String> = list_at(slice, &["endpoints"])
        .iter()
        .flat_map(|e| list_at(e, &["addresses"]).iter())
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    list_with_more(&items, items.len(), 3)
}

pub(crate) fn endpoint_slice_cells(slice: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        s(name(slice)),
        s(str_at(slice, &["addressType"])),
        s(discovery_ports(slice)),
        s(discovery_endpoints(slice)),
        age(slice, now),
    ]
}

pub(crate) fn network_policy_cells(np: &Value, now: Timestamp) -> Vec<Value> {
    // The pod selector is a required struct upstream: absent reads as empty ("<none>").
    let empty = Value::Object(Default::default());
    let selector = get(np, &["spec", "podSelector"]).unwrap_or(&empty);
    vec![
        s(name(np)),
        s(format_label_selector(Some(selector))),
        age(np, now),
    ]
}

/// `formatHosts`: the rules' hosts, at most three, "*" when none.
fn ingress_hosts(ing: &Value) -> String {
    let rules = list_at(ing, &["spec", "rules"]);
    let max = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == max {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", rules.len() - max);
    }
    ret
}

pub(crate) fn ingress_cells(ing: &Value, now: Timestamp) -> Vec<Value> {
    let class = opt_str(ing, &["spec", "ingressClassName"]).unwrap_or("<none>");
    let ports = if list_at(ing, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        s(name(ing)),
        s(class),
        s(ingress_hosts(ing)),
        s(load_balancer_ingress(
            ing,
            &["status", "loadBalancer", "ingress"],
        )),
        s(ports),
        age(ing, now),
    ]
}

pub(crate) fn ingress_class_cells(ic: &Value, now: Timestamp) -> Vec<Value> {
    let parameters = match get(ic, &["spec", "parameters"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut text = str_at(p, &["kind"]).to_string();
            if let Some(group) = opt_str(p, &["apiGroup"]) {
                text = format!("{text}.{group}");
            }
            format!("{text}/{}", str_at(p, &["name"]))
        }
    };
    vec![
        s(name(ic)),
        s(str_at(ic, &["spec", "controller"])),
        s(parameters),
        age(ic, now),
    ]
}

pub(crate) fn service_cidr_cells(sc: &Value, now: Timestamp) -> Vec<Value> {
    let cidrs: Vec<&str> = list_at(sc, &["spec", "cidrs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![s(name(sc)), s(cidrs.join(",")), age(sc, now)]
}

/// Upstream prints an age cell without declaring an Age column; kubectl ignores the extra cell.
pub(crate) fn ip_address_cells(ip: &Value, now: Timestamp) -> Vec<Value> {
    let parent = match get(ip, &["spec", "parentRef"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let group = str_at(p, &["group"]);
            let resource = str_at(p, &["resource"]);
            let mut text = if group.is_empty() {
                resource.to_lowercase()
            } else {
                format!("{resource}.{group}").to_lowercase()
            };
            let ns = str_at(p, &["namespace"]);
            if !ns.is_empty() {
                text = format!("{text}/{ns}");
            }
            format!("{text}/{}", str_at(p, &["name"]))
        }
    };
    vec![s(name(ip)), s(parent), age(ip, now)]
}
