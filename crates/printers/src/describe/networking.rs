//! Describers of EndpointSlice, NetworkPolicy, Ingress and IngressClass.

use jiff::Timestamp;
use serde_json::Value;

use super::DescribeContext;
use super::common::{annotations, events, labels, object_meta};
use super::core::format_endpoint_slices;
use super::writer::{Writer, wr};
use crate::json::{
    get, int_at, int_or_string, list_at, name, namespace, opt_bool, opt_int, opt_str, str_at,
    time_at,
};
use crate::printers::core::protocol;
use crate::printers::load_balancer_ingress;
use crate::selector::format_label_selector;

pub(crate) fn describe_endpoint_slice(
    slice: &Value,
    ctx: &DescribeContext<'_>,
    now: Timestamp,
) -> String {
    let mut w = Writer::new();
    object_meta(&mut w, slice);
    wr!(w, 0, "AddressType:\t{}\n", str_at(slice, &["addressType"]));
    let ports = list_at(slice, &["ports"]);
    if ports.is_empty() {
        w.write(0, "Ports: <unset>\n");
    } else {
        w.write(0, "Ports:\n");
        w.write(1, "Name\tPort\tProtocol\n");
        w.write(1, "----\t----\t--------\n");
        for p in ports {
            let pname = match opt_str(p, &["name"]) {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => "<unset>".to_string(),
            };
            let num = opt_int(p, &["port"])
                .map(|n| n.to_string())
                .unwrap_or_else(|| "<unset>".to_string());
            wr!(w, 1, "{pname}\t{num}\t{}\n", protocol(p));
        }
    }
    let endpoints = list_at(slice, &["endpoints"]);
    if endpoints.is_empty() {
        w.write(0, "Endpoints: <none>\n");
    } else {
        w.write(0, "Endpoints:\n");
        for ep in endpoints {
            let addrs: Vec<&str> = list_at(ep, &["addresses"])
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let text = addrs.join(", ");
            wr!(
                w,
                1,
                "- Addresses:\t{}\n",
                if text.is_empty() { "<none>" } else { &text }
            );
            w.write(2, "Conditions:\n");
            let ready = opt_bool(ep, &["conditions", "ready"])
                .map(|b| b.to_string())
                .unwrap_or_else(|| "<unset>".to_string());
            wr!(w, 3, "Ready:\t{ready}\n");
            wr!(
                w,
                2,
                "Hostname:\t{}\n",
                opt_str(ep, &["hostname"]).unwrap_or("<unset>")
            );
            if let Some(target) = get(ep, &["targetRef"]) {
                wr!(
                    w,
                    2,
                    "TargetRef:\t{}/{}\n",
                    str_at(target, &["kind"]),
                    str_at(target, &["name"])
                );
            }
            wr!(
                w,
                2,
                "NodeName:\t{}\n",
                opt_str(ep, &["nodeName"]).unwrap_or("<unset>")
            );
            wr!(
                w,
                2,
                "Zone:\t{}\n",
                opt_str(ep, &["zone"]).unwrap_or("<unset>")
            );
        }
    }
    events(&mut w, ctx.events, now);
    w.finish()
}

/// Go's `time.Time.String()` in UTC ("2006-01-02 15:04:05 +0000 UTC").
fn go_time_string(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => {
            let frac = t.subsec_nanosecond();
            if frac == 0 {
                t.strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
            } else {
                let digits = format!("{frac:09}");
                format!(
                    "{}.{} +0000 UTC",
                    t.strftime("%Y-%m-%d %H:%M:%S"),
                    digits.trim_end_matches('0')
                )
            }
        }
        None => "0001-01-01 00:00:00 +0000 UTC".to_string(),
    }
}

fn peers(w: &mut Writer, rules: &[Value], peers_field: &str, title: &str, indent: &str) {
    let (isolated, any_peer) = if peers_field == "from" {
        (
            "<none> (Selected pods are isolated for ingress connectivity)",
            "From: <any> (traffic not restricted by source)",
        )
    } else {
        (
            "<none> (Selected pods are isolated for egress connectivity)",
            "To: <any> (traffic not restricted by destination)",
        )
    };
    if rules.is_empty() {
        wr!(w, 0, "{indent}{isolated}\n");
        return;
    }
    for (i, rule) in rules.iter().enumerate() {
        let ports = list_at(rule, &["ports"]);
        if ports.is_empty() {
            wr!(
                w,
                0,
                "{indent}To Port: <any> (traffic allowed to all ports)\n"
            );
        } else {
            for port in ports {
                let proto = match str_at(port, &["protocol"]) {
                    "" => "TCP",
                    p => p,
                };
                let number = int_or_string(get(port, &["port"]));
                match opt_int(port, &["endPort"]) {
                    None => wr!(w, 0, "{indent}To Port: {number}/{proto}\n"),
                    Some(end) => wr!(w, 0, "{indent}To Port Range: {number}-{end}/{proto}\n"),
                }
            }
        }
        let list = list_at(rule, &[peers_field]);
        if list.is_empty() {
            wr!(w, 0, "{indent}{any_peer}\n");
        } else {
            for peer in list {
                wr!(w, 0, "{indent}{title}:\n");
                let pod_sel = get(peer, &["podSelector"]);
                let ns_sel = get(peer, &["namespaceSelector"]);
                if pod_sel.is_some() && ns_sel.is_some() {
                    wr!(
                        w,
                        1,
                        "{indent}NamespaceSelector: {}\n",
                        format_label_selector(ns_sel)
                    );
                    wr!(
                        w,
                        1,
                        "{indent}PodSelector: {}\n",
                        format_label_selector(pod_sel)
                    );
                } else if pod_sel.is_some() {
                    wr!(
                        w,
                        1,
                        "{indent}PodSelector: {}\n",
                        format_label_selector(pod_sel)
                    );
                } else if ns_sel.is_some() {
                    wr!(
                        w,
                        1,
                        "{indent}NamespaceSelector: {}\n",
                        format_label_selector(ns_sel)
                    );
                } else if let Some(block) = get(peer, &["ipBlock"]) {
                    wr!(w, 1, "{indent}IPBlock:\n");
                    wr!(w, 2, "{indent}CIDR: {}\n", str_at(block, &["cidr"]));
                    let except: Vec<&str> = list_at(block, &["except"])
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    wr!(w, 2, "{indent}Except: {}\n", except.join(", "));
                }
            }
        }
        if i != rules.len() - 1 {
            wr!(w, 0, "{indent}----------\n");
        }
    }
}

pub(crate) fn describe_network_policy(np: &Value) -> String {
    let mut w = Writer::new();
    wr!(w, 0, "Name:\t{}\n", name(np));
    wr!(w, 0, "Namespace:\t{}\n", namespace(np));
    wr!(
        w,
        0,
        "Created on:\t{}\n",
        go_time_string(time_at(np, &["metadata", "creationTimestamp"]))
    );
    labels(&mut w, "Labels", np, &["metadata", "labels"]);
    annotations(&mut w, "Annotations", np, &["metadata", "annotations"]);
    w.write(0, "Spec:\n");
    w.write(1, "PodSelector: ");
    let sel = get(np, &["spec", "podSelector"]);
    let empty_selector = sel.is_none_or(|s| {
        crate::json::map_len(s, &["matchLabels"]) == 0
            && list_at(s, &["matchExpressions"]).is_empty()
    });
    if empty_selector {
        w.write(
            2,
            "<none> (Allowing the specific traffic to all pods in this namespace)\n",
        );
    } else {
        wr!(w, 2, "{}\n", format_label_selector(sel));
    }
    let types: Vec<&str> = list_at(np, &["spec", "policyTypes"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if types.contains(&"Ingress") {
        w.write(1, "Allowing ingress traffic:\n");
        peers(
            &mut w,
            list_at(np, &["spec", "ingress"]),
            "from",
            "From",
            "    ",
        );
    } else {
        w.write(1, "Not affecting ingress traffic\n");
    }
    if types.contains(&"Egress") {
        w.write(1, "Allowing egress traffic:\n");
        peers(&mut w, list_at(np, &["spec", "egress"]), "to", "To", "    ");
    } else {
        w.write(1, "Not affecting egress traffic\n");
    }
    let types_text = types.join(", ");
    wr!(
        w,
        1,
        "Policy Types: {}\n",
        if types_text.is_empty() {
            "<none>"
        } else {
            &types_text
        }
    );
    w.finish()
}

/// `serviceBackendStringer`: "name:port".
fn service_backend_text(svc: &Value) -> String {
    let number = int_at(svc, &["port", "number"]);
    let port = if number != 0 {
        number.to_string()
    } else {
        str_at(svc, &["port", "name"]).to_string()
    };
    format!("{}:{port}", str_at(svc, &["name"]))
}

/// `describeBackendV1`: the service backend with its ready endpoints, or the resource.
fn backend_text(backend: &Value, ctx: &DescribeContext<'_>) -> String {
    if let Some(svc_backend) = get(backend, &["service"]) {
        let sb = service_backend_text(svc_backend);
        let svc_name = str_at(svc_backend, &["name"]);
        let Some(service) = ctx.services.iter().find(|s| name(s) == svc_name) else {
            return format!("{sb} (<error: services \"{svc_name}\" not found>)");
        };
        let number = int_at(svc_backend, &["port", "number"]);
        let port_name = str_at(svc_backend, &["port", "name"]);
        let mut sp_name = "";
        for sp in list_at(service, &["spec", "ports"]) {
            if (number != 0 && number == int_at(sp, &["port"]))
                || (!port_name.is_empty() && port_name == str_at(sp, &["name"]))
            {
                sp_name = str_at(sp, &["name"]);
            }
        }
        let slices: Vec<&Value> = ctx
            .endpoint_slices
            .iter()
            .copied()
            .filter(|s| {
                str_at(s, &["metadata", "labels", "kubernetes.io/service-name"]) == svc_name
            })
            .collect();
        return format!("{sb} ({})", format_endpoint_slices(&slices, Some(sp_name)));
    }
    if let Some(res) = get(backend, &["resource"]) {
        return format!(
            "APIGroup: {}, Kind: {}, Name: {}",
            opt_str(res, &["apiGroup"]).unwrap_or("<none>"),
            str_at(res, &["kind"]),
            str_at(res, &["name"])
        );
    }
    String::new()
}

pub(crate) fn describe_ingress(ing: &Value, ctx: &DescribeContext<'_>, now: Timestamp) -> String {
    let mut w = Writer::new();
    wr!(w, 0, "Name:\t{}\n", name(ing));
    labels(&mut w, "Labels", ing, &["metadata", "labels"]);
    wr!(w, 0, "Namespace:\t{}\n", namespace(ing));
    wr!(
        w,
        0,
        "Address:\t{}\n",
        load_balancer_ingress(ing, &["status", "loadBalancer", "ingress"])
    );
    wr!(
        w,
        0,
        "Ingress Class:\t{}\n",
        opt_str(ing, &["spec", "ingressClassName"]).unwrap_or("<none>")
    );
    let default_backend = match get(ing, &["spec", "defaultBackend"]) {
        Some(b) => backend_text(b, ctx),
        None => "<default>".to_string(),
    };
    wr!(w, 0, "Default backend:\t{default_backend}\n");
    let tls = list_at(ing, &["spec", "tls"]);
    if !tls.is_empty() {
        w.write(0, "TLS:\n");
        for t in tls {
            let hosts: Vec<&str> = list_at(t, &["hosts"])
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let secret = str_at(t, &["secretName"]);
            if secret.is_empty() {
                wr!(w, 1, "SNI routes {}\n", hosts.join(","));
            } else {
                wr!(w, 1, "{secret} terminates {}\n", hosts.join(","));
            }
        }
    }
    w.write(0, "Rules:\n  Host\tPath\tBackends\n");
    w.write(1, "----\t----\t--------\n");
    let mut count = 0;
    for rule in list_at(ing, &["spec", "rules"]) {
        if get(rule, &["http"]).is_none() {
            continue;
        }
        count += 1;
        let host = match str_at(rule, &["host"]) {
            "" => "*",
            h => h,
        };
        wr!(w, 1, "{host}\t\n");
        for path in list_at(rule, &["http", "paths"]) {
            let backend = get(path, &["backend"])
                .map(|b| backend_text(b, ctx))
                .unwrap_or_default();
            wr!(w, 2, "\t{} \t{backend}\n", str_at(path, &["path"]));
        }
    }
    if count == 0 {
        wr!(w, 1, "*\t*\t{default_backend}\n");
    }
    annotations(&mut w, "Annotations", ing, &["metadata", "annotations"]);
    events(&mut w, ctx.events, now);
    w.finish()
}

pub(crate) fn describe_ingress_class(
    ic: &Value,
    ctx: &DescribeContext<'_>,
    now: Timestamp,
) -> String {
    let mut w = Writer::new();
    wr!(w, 0, "Name:\t{}\n", name(ic));
    labels(&mut w, "Labels", ic, &["metadata", "labels"]);
    annotations(&mut w, "Annotations", ic, &["metadata", "annotations"]);
    wr!(
        w,
        0,
        "Controller:\t{}\n",
        str_at(ic, &["spec", "controller"])
    );
    if let Some(p) = get(ic, &["spec", "parameters"]) {
        w.write(0, "Parameters:\n");
        if let Some(group) = opt_str(p, &["apiGroup"]) {
            wr!(w, 1, "APIGroup:\t{group}\n");
        }
        wr!(w, 1, "Kind:\t{}\n", str_at(p, &["kind"]));
        wr!(w, 1, "Name:\t{}\n", str_at(p, &["name"]));
    }
    events(&mut w, ctx.events, now);
    w.finish()
}
