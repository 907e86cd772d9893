//! Describers of core kinds: Service, Node, Namespace, Endpoints, ConfigMap, Secret.

use std::collections::BTreeMap;

use base64::Engine as _;
use jiff::Timestamp;
use serde_json::Value;

use super::DescribeContext;
use super::common::{annotations, events, labels, object_meta, rfc1123z};
use super::writer::{Writer, wr};
use crate::duration::translate_timestamp_since;
use crate::json::{
    bool_at, get, int_at, list_at, name, namespace, obj_at, opt_bool, opt_str, str_at, string_map,
    time_at,
};
use crate::printers::core::{format_endpoints, node_roles, protocol, service_type};
use crate::printers::join_host_port;
use crate::quantity::Quantity;
use crate::selector::format_labels;

/// `formatEndpointSlices`: ready endpoints of the slices as `ip:port` (port restricted to
/// `port_name`), at most three then " + N more..."; "<none>" without slices.
pub(crate) fn format_endpoint_slices(slices: &[&Value], port_name: Option<&str>) -> String {
    if slices.is_empty() {
        return "<none>".to_string();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    let ready = |ep: &Value| opt_bool(ep, &["conditions", "ready"]).unwrap_or(true);
    let first_address = |ep: &Value| {
        list_at(ep, &["addresses"])
            .first()
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    for slice in slices {
        let ports = list_at(slice, &["ports"]);
        let endpoints = list_at(slice, &["endpoints"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            for ep in endpoints {
                if list.len() == max {
                    more = true;
                }
                if !ready(ep) {
                    continue;
                }
                if !more && let Some(addr) = first_address(ep) {
                    list.push(addr);
                }
                count += 1;
            }
            continue;
        }
        for port in ports {
            if port_name.is_some_and(|want| str_at(port, &["name"]) != want) {
                continue;
            }
            for ep in endpoints {
                if list.len() == max {
                    more = true;
                }
                let Some(addr) = first_address(ep) else {
                    continue;
                };
                if !ready(ep) {
                    continue;
                }
                if !more {
                    list.push(join_host_port(&addr, int_at(port, &["port"])));
                }
                count += 1;
            }
        }
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    ret
}

fn joined_strings(v: &Value, path: &[&str], sep: &str) -> String {
    list_at(v, path)
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(sep)
}

pub(crate) fn describe_service(svc: &Value, ctx: &DescribeContext<'_>, now: Timestamp) -> String {
    let mut w = Writer::new();
    object_meta(&mut w, svc);
    wr!(
        w,
        0,
        "Selector:\t{}\n",
        format_labels(&string_map(svc, &["spec", "selector"]))
    );
    wr!(w, 0, "Type:\t{}\n", service_type(svc));
    if let Some(policy) = opt_str(svc, &["spec", "ipFamilyPolicy"]) {
        wr!(w, 0, "IP Family Policy:\t{policy}\n");
    }
    let families = joined_strings(svc, &["spec", "ipFamilies"], ",");
    wr!(
        w,
        0,
        "IP Families:\t{}\n",
        if families.is_empty() {
            "<none>"
        } else {
            &families
        }
    );
    wr!(w, 0, "IP:\t{}\n", str_at(svc, &["spec", "clusterIP"]));
    let ips = joined_strings(svc, &["spec", "clusterIPs"], ",");
    wr!(
        w,
        0,
        "IPs:\t{}\n",
        if ips.is_empty() { "<none>" } else { &ips }
    );
    let external = joined_strings(svc, &["spec", "externalIPs"], ",");
    if !external.is_empty() {
        wr!(w, 0, "External IPs:\t{external}\n");
    }
    let lb_ip = str_at(svc, &["spec", "loadBalancerIP"]);
    if !lb_ip.is_empty() {
        wr!(w, 0, "Desired LoadBalancer IP:\t{lb_ip}\n");
    }
    let external_name = str_at(svc, &["spec", "externalName"]);
    if !external_name.is_empty() {
        wr!(w, 0, "External Name:\t{external_name}\n");
    }
    let ingress = list_at(svc, &["status", "loadBalancer", "ingress"]);
    if !ingress.is_empty() {
        let points: Vec<String> = ingress
            .iter()
            .map(|i| {
                let ip = str_at(i, &["ip"]);
                if ip.is_empty() {
                    return str_at(i, &["hostname"]).to_string();
                }
                match opt_str(i, &["ipMode"]) {
                    Some(mode) => format!("{ip} ({mode})"),
                    None => ip.to_string(),
                }
            })
            .collect();
        wr!(w, 0, "LoadBalancer Ingress:\t{}\n", points.join(", "));
    }
    for sp in list_at(svc, &["spec", "ports"]) {
        let port_name = str_at(sp, &["name"]);
        let shown_name = if port_name.is_empty() {
            "<unset>"
        } else {
            port_name
        };
        let proto = protocol(sp);
        let port = int_at(sp, &["port"]);
        wr!(w, 0, "Port:\t{shown_name}\t{port}/{proto}\n");
        // The API server defaults targetPort to the port.
        let target = match get(sp, &["targetPort"]) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.as_i64().unwrap_or(0).to_string(),
            None => port.to_string(),
        };
        wr!(w, 0, "TargetPort:\t{target}/{proto}\n");
        let node_port = int_at(sp, &["nodePort"]);
        if node_port != 0 {
            wr!(w, 0, "NodePort:\t{shown_name}\t{node_port}/{proto}\n");
        }
        let endpoints = if !ctx.endpoint_slices.is_empty() {
            format_endpoint_slices(ctx.endpoint_slices, Some(port_name))
        } else if let Some(ep) = ctx.endpoints {
            format_endpoints(ep, Some(&[port_name]))
        } else {
            "<none>".to_string()
        };
        wr!(w, 0, "Endpoints:\t{endpoints}\n");
    }
    wr!(
        w,
        0,
        "Session Affinity:\t{}\n",
        str_at(svc, &["spec", "sessionAffinity"])
    );
    let etp = str_at(svc, &["spec", "externalTrafficPolicy"]);
    if !etp.is_empty() {
        wr!(w, 0, "External Traffic Policy:\t{etp}\n");
    }
    if let Some(itp) = opt_str(svc, &["spec", "internalTrafficPolicy"]) {
        wr!(w, 0, "Internal Traffic Policy:\t{itp}\n");
    }
    let hc = int_at(svc, &["spec", "healthCheckNodePort"]);
    if hc != 0 {
        wr!(w, 0, "HealthCheck NodePort:\t{hc}\n");
    }
    let ranges = joined_strings(svc, &["spec", "loadBalancerSourceRanges"], ",");
    if !ranges.is_empty() {
        wr!(w, 0, "LoadBalancer Source Ranges:\t{ranges}\n");
    }
    events(&mut w, ctx.events, now);
    w.finish()
}

/// `Taint.ToString`.
fn taint_text(t: &Value) -> String {
    let key = str_at(t, &["key"]);
    let value = str_at(t, &["value"]);
    let effect = str_at(t, &["effect"]);
    match (value.is_empty(), effect.is_empty()) {
        (true, true) => key.to_string(),
        (false, true) => format!("{key}={value}:"),
        (true, false) => format!("{key}:{effect}"),
        (false, false) => format!("{key}={value}:{effect}"),
    }
}

type ResourceList = BTreeMap<String, Quantity>;

fn resource_list(v: &Value, path: &[&str]) -> ResourceList {
    obj_at(v, path)
        .map(|m| {
            m.iter()
                .filter_map(|(k, q)| Quantity::from_json(Some(q)).map(|q| (k.clone(), q)))
                .collect()
        })
        .unwrap_or_default()
}

fn add_list(into: &mut ResourceList, from: &ResourceList) {
    for (k, q) in from {
        into.entry(k.clone())
            .and_modify(|sum| sum.add(q))
            .or_insert(*q);
    }
}

fn max_list(into: &mut ResourceList, from: &ResourceList) {
    for (k, q) in from {
        match into.get(k) {
            Some(cur) if cur >= q => {}
            _ => {
                into.insert(k.clone(), *q);
            }
        }
    }
}

/// kubectl's `resourcehelper.PodRequestsAndLimits`: containers summed, init containers as
/// a maximum (sidecars accumulate), plus the pod overhead.
fn pod_requests_and_limits(pod: &Value) -> (ResourceList, ResourceList) {
    let mut out = Vec::new();
    for field in ["requests", "limits"] {
        let mut total = ResourceList::new();
        for c in list_at(pod, &["spec", "containers"]) {
            add_list(&mut total, &resource_list(c, &["resources", field]));
        }
        let mut restartable = ResourceList::new();
        let mut init_max = ResourceList::new();
        for c in list_at(pod, &["spec", "initContainers"]) {
            let own = resource_list(c, &["resources", field]);
            let effective = if str_at(c, &["restartPolicy"]) == "Always" {
                add_list(&mut total, &own);
                add_list(&mut restartable, &own);
                restartable.clone()
            } else {
                let mut tmp = own;
                add_list(&mut tmp, &restartable);
                tmp
            };
            max_list(&mut init_max, &effective);
        }
        max_list(&mut total, &init_max);
        let overhead = resource_list(pod, &["spec", "overhead"]);
        if field == "requests" {
            add_list(&mut total, &overhead);
        } else {
            for (k, q) in &overhead {
                if let Some(v) = total.get_mut(k) {
                    v.add(q);
                }
            }
        }
        out.push(total);
    }
    let limits = out.pop().unwrap_or_default();
    let requests = out.pop().unwrap_or_default();
    (requests, limits)
}

/// `int64(float64(a) / float64(b) * 100)`, 0 when `b` is 0 (upstream divides by zero).
fn percent(a: i128, b: i128) -> i64 {
    if b == 0 {
        return 0;
    }
    (a as f64 / b as f64 * 100.0) as i64
}

fn get_q(list: &ResourceList, name: &str) -> Quantity {
    list.get(name).copied().unwrap_or_else(Quantity::zero)
}

/// `describeNodeResource`: the non-terminated pods table and the allocated resources.
fn node_resources(w: &mut Writer, node: &Value, pods: &[&Value], now: Timestamp) {
    wr!(w, 0, "Non-terminated Pods:\t({} in total)\n", pods.len());
    w.write(
        1,
        "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n",
    );
    w.write(
        1,
        "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n",
    );
    let mut allocatable = resource_list(node, &["status", "capacity"]);
    if crate::json::map_len(node, &["status", "allocatable"]) > 0 {
        allocatable = resource_list(node, &["status", "allocatable"]);
    }
    let alloc_cpu = get_q(&allocatable, "cpu").milli_value();
    let alloc_mem = get_q(&allocatable, "memory").value();
    let mut reqs = ResourceList::new();
    let mut limits = ResourceList::new();
    for pod in pods {
        let (req, lim) = pod_requests_and_limits(pod);
        let (cr, cl, mr, ml) = (
            get_q(&req, "cpu"),
            get_q(&lim, "cpu"),
            get_q(&req, "memory"),
            get_q(&lim, "memory"),
        );
        wr!(
            w,
            1,
            "{}\t{}\t\t{cr} ({}%)\t{cl} ({}%)\t{mr} ({}%)\t{ml} ({}%)\t{}\n",
            namespace(pod),
            name(pod),
            percent(cr.milli_value(), alloc_cpu),
            percent(cl.milli_value(), alloc_cpu),
            percent(mr.value(), alloc_mem),
            percent(ml.value(), alloc_mem),
            translate_timestamp_since(time_at(pod, &["metadata", "creationTimestamp"]), now)
        );
        // getPodsTotalRequestsAndLimits
        add_list(&mut reqs, &req);
        add_list(&mut limits, &lim);
    }
    w.write(
        0,
        "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n",
    );
    w.write(1, "Resource\tRequests\tLimits\n");
    w.write(1, "--------\t--------\t------\n");
    let alloc_eph = get_q(&allocatable, "ephemeral-storage").value();
    for (res, alloc, milli) in [
        ("cpu", alloc_cpu, true),
        ("memory", alloc_mem, false),
        ("ephemeral-storage", alloc_eph, false),
    ] {
        let (r, l) = (get_q(&reqs, res), get_q(&limits, res));
        let (rv, lv) = if milli {
            (r.milli_value(), l.milli_value())
        } else {
            (r.value(), l.value())
        };
        wr!(
            w,
            1,
            "{res}\t{r} ({}%)\t{l} ({}%)\n",
            percent(rv, alloc),
            percent(lv, alloc)
        );
    }
    let standard = ["cpu", "memory", "ephemeral-storage", "pods"];
    for (res, alloc) in &allocatable {
        if res.starts_with("hugepages-") {
            let (r, l) = (get_q(&reqs, res), get_q(&limits, res));
            wr!(
                w,
                1,
                "{res}\t{r} ({}%)\t{l} ({}%)\n",
                percent(r.value(), alloc.value()),
                percent(l.value(), alloc.value())
            );
        }
    }
    for res in allocatable.keys() {
        if !res.starts_with("hugepages-") && !standard.contains(&res.as_str()) {
            wr!(
                w,
                1,
                "{res}\t{}\t{}\n",
                get_q(&reqs, res),
                get_q(&limits, res)
            );
        }
    }
}

pub(crate) fn describe_node(node: &Value, ctx: &DescribeContext<'_>, now: Timestamp) -> String {
    let mut w = Writer::new();
    wr!(w, 0, "Name:\t{}\n", name(node));
    let roles = node_roles(node);
    wr!(
        w,
        0,
        "Roles:\t{}\n",
        if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }
    );
    labels(&mut w, "Labels", node, &["metadata", "labels"]);
    annotations(&mut w, "Annotations", node, &["metadata", "annotations"]);
    wr!(
        w,
        0,
        "CreationTimestamp:\t{}\n",
        rfc1123z(time_at(node, &["metadata", "creationTimestamp"]))
    );
    let mut taints: Vec<&Value> = list_at(node, &["spec", "taints"]).iter().collect();
    taints.sort_by_key(|t| format!("{},{}", str_at(t, &["effect"]), str_at(t, &["key"])));
    w.write(0, "Taints:\t");
    if taints.is_empty() {
        w.line("<none>");
    } else {
        for (i, t) in taints.iter().enumerate() {
            if i != 0 {
                w.write(0, "\t");
            }
            wr!(w, 0, "{}\n", taint_text(t));
        }
    }
    wr!(
        w,
        0,
        "Unschedulable:\t{}\n",
        bool_at(node, &["spec", "unschedulable"])
    );
    if let Some(lease) = ctx.lease {
        w.write(0, "Lease:\n");
        wr!(
            w,
            1,
            "HolderIdentity:\t{}\n",
            opt_str(lease, &["spec", "holderIdentity"]).unwrap_or("<unset>")
        );
        for (title, field) in [("AcquireTime", "acquireTime"), ("RenewTime", "renewTime")] {
            let t = time_at(lease, &["spec", field])
                .map(|t| rfc1123z(Some(t)))
                .unwrap_or_else(|| "<unset>".to_string());
            wr!(w, 1, "{title}:\t{t}\n");
        }
    }
    let conditions = list_at(node, &["status", "conditions"]);
    if !conditions.is_empty() {
        w.write(
            0,
            "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n",
        );
        w.write(
            1,
            "----\t------\t-----------------\t------------------\t------\t-------\n",
        );
        for c in conditions {
            wr!(
                w,
                1,
                "{} \t{} \t{} \t{} \t{} \t{}\n",
                str_at(c, &["type"]),
                str_at(c, &["status"]),
                rfc1123z(time_at(c, &["lastHeartbeatTime"])),
                rfc1123z(time_at(c, &["lastTransitionTime"])),
                str_at(c, &["reason"]),
                str_at(c, &["message"])
            );
        }
    }
    w.write(0, "Addresses:\n");
    for a in list_at(node, &["status", "addresses"]) {
        wr!(
            w,
            1,
            "{}:\t{}\n",
            str_at(a, &["type"]),
            str_at(a, &["address"])
        );
    }
    for (title, field) in [("Capacity", "capacity"), ("Allocatable", "allocatable")] {
        if let Some(list) = obj_at(node, &["status", field]) {
            if list.is_empty() {
                continue;
            }
            wr!(w, 0, "{title}:\n");
            let mut names: Vec<&String> = list.keys().collect();
            names.sort();
            for res in names {
                let q = list
                    .get(res)
                    .map(super::common::quantity_text)
                    .unwrap_or_default();
                wr!(w, 0, "  {res}:\t{q}\n");
            }
        }
    }
    w.write(0, "System Info:\n");
    for (title, field) in [
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
        ("Kube-Proxy Version", "kubeProxyVersion"),
    ] {
        wr!(
            w,
            0,
            "  {title}:\t{}\n",
            str_at(node, &["status", "nodeInfo", field])
        );
    }
    let pod_cidr = str_at(node, &["spec", "podCIDR"]);
    if !pod_cidr.is_empty() {
        wr!(w, 0, "PodCIDR:\t{pod_cidr}\n");
    }
    let pod_cidrs = joined_strings(node, &["spec", "podCIDRs"], ",");
    if !pod_cidrs.is_empty() {
        wr!(w, 0, "PodCIDRs:\t{pod_cidrs}\n");
    }
    let provider = str_at(node, &["spec", "providerID"]);
    if !provider.is_empty() {
        wr!(w, 0, "ProviderID:\t{provider}\n");
    }
    let node_name = name(node);
    let pods: Vec<&Value> = ctx
        .pods
        .iter()
        .copied()
        .filter(|p| {
            str_at(p, &["spec", "nodeName"]) == node_name
                && !matches!(str_at(p, &["status", "phase"]), "Succeeded" | "Failed")
        })
        .collect();
    node_resources(&mut w, node, &pods, now);
    events(&mut w, ctx.events, now);
    w.finish()
}

pub(crate) fn describe_namespace(ns: &Value) -> String {
    let mut w = Writer::new();
    wr!(w, 0, "Name:\t{}\n", name(ns));
    labels(&mut w, "Labels", ns, &["metadata", "labels"]);
    annotations(&mut w, "Annotations", ns, &["metadata", "annotations"]);
    wr!(w, 0, "Status:\t{}\n", str_at(ns, &["status", "phase"]));
    let conditions = list_at(ns, &["status", "conditions"]);
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n");
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n");
        w.write(1, "----\t------\t------------------\t------\t-------\n");
        for c in conditions {
            wr!(
                w,
                1,
                "{}\t{}\t{}\t{}\t{}\n",
                str_at(c, &["type"]),
                str_at(c, &["status"]),
                rfc1123z(time_at(c, &["lastTransitionTime"])),
                str_at(c, &["reason"]),
                str_at(c, &["message"])
            );
        }
    }
    w.write(0, "\n");
    w.write(0, "No resource quota.\n");
    w.write(0, "\n");
    w.write(0, "No LimitRange resource.\n");
    w.finish()
}

pub(crate) fn describe_endpoints(ep: &Value, ctx: &DescribeContext<'_>, now: Timestamp) -> String {
    let mut w = Writer::new();
    object_meta(&mut w, ep);
    w.write(0, "Subsets:\n");
    for subset in list_at(ep, &["subsets"]) {
        for (title, field) in [
            ("Addresses", "addresses"),
            ("NotReadyAddresses", "notReadyAddresses"),
        ] {
            let ips: Vec<&str> = list_at(subset, &[field])
                .iter()
                .map(|a| str_at(a, &["ip"]))
                .collect();
            let text = ips.join(",");
            wr!(
                w,
                1,
                "{title}:\t{}\n",
                if text.is_empty() { "<none>" } else { &text }
            );
        }
        let ports = list_at(subset, &["ports"]);
        if !ports.is_empty() {
            w.write(1, "Ports:\n");
            w.write(2, "Name\tPort\tProtocol\n");
            w.write(2, "----\t----\t--------\n");
            for p in ports {
                let pname = str_at(p, &["name"]);
                wr!(
                    w,
                    2,
                    "{}\t{}\t{}\n",
                    if pname.is_empty() { "<unset>" } else { pname },
                    int_at(p, &["port"]),
                    protocol(p)
                );
            }
        }
        w.write(0, "\n");
    }
    events(&mut w, ctx.events, now);
    w.finish()
}

pub(crate) fn describe_config_map(cm: &Value, ctx: &DescribeContext<'_>, now: Timestamp) -> String {
    let mut w = Writer::new();
    object_meta(&mut w, cm);
    w.write(0, "\nData\n====\n");
    for (k, v) in string_map(cm, &["data"]) {
        wr!(w, 0, "{k}:\n----\n");
        wr!(w, 0, "{v}\n");
        w.write(0, "\n");
    }
    w.write(0, "\nBinaryData\n====\n");
    if let Some(binary) = obj_at(cm, &["binaryData"]) {
        let mut keys: Vec<&String> = binary.keys().collect();
        keys.sort();
        for k in keys {
            let len = binary.get(k).map(decoded_len).unwrap_or(0);
            wr!(w, 0, "{k}: {len} bytes\n");
        }
    }
    w.write(0, "\n");
    events(&mut w, ctx.events, now);
    w.finish()
}

/// The length of a base64 (`[]byte` in JSON) value once decoded.
fn decoded_len(v: &Value) -> usize {
    let s = v.as_str().unwrap_or("");
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(bytes) => bytes.len(),
        Err(_) => s.trim_end_matches('=').len() * 3 / 4,
    }
}

pub(crate) fn describe_secret(secret: &Value) -> String {
    let mut w = Writer::new();
    object_meta(&mut w, secret);
    let kind = str_at(secret, &["type"]);
    wr!(w, 0, "\nType:\t{kind}\n");
    w.write(0, "\nData\n====\n");
    if let Some(data) = obj_at(secret, &["data"]) {
        let mut keys: Vec<&String> = data.keys().collect();
        keys.sort();
        for k in keys {
            let value = data.get(k).unwrap_or(&Value::Null);
            // A service account token is shown, as upstream does; everything else is a size.
            let token = (k == "token" && kind == "kubernetes.io/service-account-token")
                .then(|| {
                    base64::engine::general_purpose::STANDARD
                        .decode(value.as_str().unwrap_or(""))
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                })
                .flatten();
            match token {
                Some(t) => wr!(w, 0, "{k}:\t{t}\n"),
                None => wr!(w, 0, "{k}:\t{} bytes\n", decoded_len(value)),
            }
        }
    }
    w.finish()
}
