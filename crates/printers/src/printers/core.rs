//! Core-group printers: Pod, Namespace, Node, Service, Endpoints, ConfigMap, Secret,
//! ServiceAccount, Event.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{age, join_host_port, load_balancer_ingress, n, s};
use crate::duration::translate_timestamp_since;
use crate::json::{
    bool_at, get, int_at, list_at, map_len, name, obj_at, opt_bool, opt_int, str_at, string_map,
    time_at,
};
use crate::selector::format_labels;
use crate::{Row, RowCondition};

/// Upstream `node.NodeUnreachablePodReason`.
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";

fn condition_true(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .any(|c| str_at(c, &["type"]) == kind && str_at(c, &["status"]) == "True")
}

/// `isPodInitializedConditionTrue`: the first Initialized condition decides.
fn initialized_condition_true(conditions: &[Value]) -> bool {
    conditions
        .iter()
        .find(|c| str_at(c, &["type"]) == "Initialized")
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// A later `finishedAt` of a container's last termination, as `lastRestartDate.Before(..)`.
fn note_last_termination(status: &Value, latest: &mut Option<Timestamp>) {
    if get(status, &["lastState", "terminated"]).is_some()
        && let Some(finished) = time_at(status, &["lastState", "terminated", "finishedAt"])
        && latest.is_none_or(|l| l < finished)
    {
        *latest = Some(finished);
    }
}

/// `printPod`: READY, STATUS (the reason logic of printers.go), RESTARTS with the age of the
/// last restart, and the wide columns.
pub(crate) fn pod_row(pod: &Value, now: Timestamp) -> Row {
    let containers = list_at(pod, &["spec", "containers"]);
    let init_containers = list_at(pod, &["spec", "initContainers"]);
    let conditions = list_at(pod, &["status", "conditions"]);
    let phase = str_at(pod, &["status", "phase"]);

    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total = containers.len();
    let mut ready = 0usize;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_restartable_init_restart: Option<Timestamp> = None;

    let mut reason = phase.to_string();
    let status_reason = str_at(pod, &["status", "reason"]);
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for c in conditions {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let mut row_conditions = Vec::new();
    match phase {
        "Succeeded" => row_conditions.push(RowCondition {
            kind: "Completed",
            status: "True",
            reason: "Succeeded",
            message: "The pod has completed successfully.",
        }),
        "Failed" => row_conditions.push(RowCondition {
            kind: "Completed",
            status: "True",
            reason: "Failed",
            message: "The pod failed.",
        }),
        _ => {}
    }

    // Sidecars (init containers with restartPolicy Always) count as containers.
    let is_restartable = |container_name: &str| {
        init_containers.iter().any(|c| {
            str_at(c, &["name"]) == container_name && str_at(c, &["restartPolicy"]) == "Always"
        })
    };
    total += init_containers
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .count();

    let mut initializing = false;
    for (i, cs) in list_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let cname = str_at(cs, &["name"]);
        restarts += int_at(cs, &["restartCount"]);
        note_last_termination(cs, &mut last_restart);
        let restartable = is_restartable(cname);
        if restartable {
            restartable_init_restarts += int_at(cs, &["restartCount"]);
            note_last_termination(cs, &mut last_restartable_init_restart);
        }
        let terminated = get(cs, &["state", "terminated"]);
        let waiting_reason = str_at(cs, &["state", "waiting", "reason"]);
        if terminated.is_some() && int_at(cs, &["state", "terminated", "exitCode"]) == 0 {
            continue;
        } else if restartable && opt_bool(cs, &["started"]) == Some(true) {
            if bool_at(cs, &["ready"]) {
                ready += 1;
            }
            continue;
        } else if terminated.is_some() {
            let treason = str_at(cs, &["state", "terminated", "reason"]);
            reason = if treason.is_empty() {
                let signal = int_at(cs, &["state", "terminated", "signal"]);
                if signal != 0 {
                    format!("Init:Signal:{signal}")
                } else {
                    format!(
                        "Init:ExitCode:{}",
                        int_at(cs, &["state", "terminated", "exitCode"])
                    )
                }
            } else {
                format!("Init:{treason}")
            };
        } else if get(cs, &["state", "waiting"]).is_some()
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_containers.len());
        }
        initializing = true;
        break;
    }

    if !initializing || initialized_condition_true(conditions) {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for cs in list_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(cs, &["restartCount"]);
            note_last_termination(cs, &mut last_restart);
            let waiting_reason = str_at(cs, &["state", "waiting", "reason"]);
            let terminated = get(cs, &["state", "terminated"]);
            let terminated_reason = str_at(cs, &["state", "terminated", "reason"]);
            if get(cs, &["state", "waiting"]).is_some() && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if terminated.is_some() && !terminated_reason.is_empty() {
                reason = terminated_reason.to_string();
            } else if terminated.is_some() {
                let signal = int_at(cs, &["state", "terminated", "signal"]);
                reason = if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!(
                        "ExitCode:{}",
                        int_at(cs, &["state", "terminated", "exitCode"])
                    )
                };
            } else if bool_at(cs, &["ready"]) && get(cs, &["state", "running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed while another still runs is Running.
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    let deleting = get(pod, &["metadata", "deletionTimestamp"]).is_some();
    if deleting && status_reason == NODE_UNREACHABLE_POD_REASON {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(at) if restarts != 0 => {
            format!(
                "{restarts} ({} ago)",
                translate_timestamp_since(Some(at), now)
            )
        }
        _ => restarts.to_string(),
    };

    let or_none = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    let pod_ip = list_at(pod, &["status", "podIPs"])
        .first()
        .map(|ip| str_at(ip, &["ip"]))
        .unwrap_or("");
    let gates = list_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_conditions = gates
            .iter()
            .filter(|g| {
                let kind = str_at(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(c, &["type"]) == kind)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{true_conditions}/{}", gates.len())
    };

    Row {
        cells: vec![
            s(name(pod)),
            s(format!("{ready}/{total}")),
            s(reason),
            s(restarts_text),
            age(pod, now),
            s(or_none(pod_ip)),
            s(or_none(str_at(pod, &["spec", "nodeName"]))),
            s(or_none(str_at(pod, &["status", "nominatedNodeName"]))),
            s(readiness_gates),
        ],
        conditions: row_conditions,
    }
}

pub(crate) fn namespace_cells(ns: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        s(name(ns)),
        s(str_at(ns, &["status", "phase"])),
        age(ns, now),
    ]
}

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role` values.
pub(crate) fn node_roles(node: &Value) -> Vec<String> {
    let mut roles: Vec<String> = Vec::new();
    for (k, v) in string_map(node, &["metadata", "labels"]) {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role.to_string());
            }
        } else if k == "kubernetes.io/role" && !v.is_empty() {
            roles.push(v.to_string());
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

fn node_address(node: &Value, kind: &str) -> String {
    list_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == kind)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

pub(crate) fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    // Only the Ready condition counts; a later duplicate wins, as a Go map would keep it.
    if let Some(ready) = list_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == "Ready")
    {
        if str_at(ready, &["status"]) == "True" {
            status.push("Ready".to_string());
        } else {
            status.push("NotReady".to_string());
        }
    }
    if status.is_empty() {
        status.push("Unknown".to_string());
    }
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled".to_string());
    }
    let roles = node_roles(node);
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let info = |field: &str| {
        let v = str_at(node, &["status", "nodeInfo", field]);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        s(name(node)),
        s(status.join(",")),
        s(roles),
        age(node, now),
        s(str_at(node, &["status", "nodeInfo", "kubeletVersion"])),
        s(node_address(node, "InternalIP")),
        s(node_address(node, "ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ]
}

/// The Service type; the API server defaults a missing type to ClusterIP.
pub(crate) fn service_type(svc: &Value) -> &str {
    match str_at(svc, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    }
}

/// A port's protocol; the API server defaults a missing protocol to TCP.
pub(crate) fn protocol(port: &Value) -> &str {
    match str_at(port, &["protocol"]) {
        "" => "TCP",
        p => p,
    }
}

fn string_list(v: &Value, path: &[&str]) -> Vec<String> {
    list_at(v, path)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// `getServiceExternalIP` as the API server calls it (wide: load-balancer points unclipped).
fn service_external_ip(svc: &Value) -> String {
    let external_ips = string_list(svc, &["spec", "externalIPs"]);
    match service_type(svc) {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc, &["status", "loadBalancer", "ingress"]);
            if !external_ips.is_empty() {
                let mut results: Vec<String> = Vec::new();
                if !lb.is_empty() {
                    results.extend(lb.split(',').map(str::to_string));
                }
                results.extend(external_ips);
                return results.join(",");
            }
            if lb.is_empty() {
                "<pending>".to_string()
            } else {
                lb
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// `makePortString`: `port/proto` or `port:nodePort/proto`, joined with ",".
fn service_ports(svc: &Value) -> String {
    list_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{}", protocol(p))
            } else {
                format!("{port}/{}", protocol(p))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    let cluster_ip = list_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let ports = service_ports(svc);
    vec![
        s(name(svc)),
        s(service_type(svc)),
        s(cluster_ip),
        s(service_external_ip(svc)),
        s(if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports
        }),
        age(svc, now),
        s(format_labels(&string_map(svc, &["spec", "selector"]))),
    ]
}

/// `formatEndpoints`: up to three `ip:port` entries (or bare IPs for port-less subsets),
/// then " + N more..."; `ports` restricts to named ports; "<none>" without subsets.
pub(crate) fn format_endpoints(ep: &Value, ports: Option<&[&str]>) -> String {
    let subsets = list_at(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addresses = list_at(ss, &["addresses"]);
        let ss_ports = list_at(ss, &["ports"]);
        if ss_ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for a in addresses {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for port in ss_ports {
            if ports.is_none_or(|names| names.contains(&str_at(port, &["name"]))) {
                count += addresses.len();
                for a in addresses {
                    if list.len() == max {
                        more = true;
                        break;
                    }
                    list.push(join_host_port(str_at(a, &["ip"]), int_at(port, &["port"])));
                }
            }
        }
    }
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    ret
}

pub(crate) fn endpoints_cells(ep: &Value, now: Timestamp) -> Vec<Value> {
    vec![s(name(ep)), s(format_endpoints(ep, None)), age(ep, now)]
}

pub(crate) fn config_map_cells(cm: &Value, now: Timestamp) -> Vec<Value> {
    let count = map_len(cm, &["data"]) + map_len(cm, &["binaryData"]);
    vec![
        s(name(cm)),
        n(i64::try_from(count).unwrap_or(i64::MAX)),
        age(cm, now),
    ]
}

pub(crate) fn secret_cells(secret: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        s(name(secret)),
        s(str_at(secret, &["type"])),
        n(i64::try_from(map_len(secret, &["data"])).unwrap_or(i64::MAX)),
        age(secret, now),
    ]
}

pub(crate) fn service_account_cells(sa: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        s(name(sa)),
        n(i64::try_from(list_at(sa, &["secrets"]).len()).unwrap_or(i64::MAX)),
        age(sa, now),
    ]
}

/// `formatEventSource`: component (or reporting controller), then ", host" (or instance).
pub(crate) fn event_source(ev: &Value) -> String {
    let first_non_empty = |a: &'static [&'static str], b: &'static [&'static str]| {
        let x = str_at(ev, a);
        if x.is_empty() {
            str_at(ev, b).to_string()
        } else {
            x.to_string()
        }
    };
    let component = first_non_empty(&["source", "component"], &["reportingComponent"]);
    let instance = first_non_empty(&["source", "host"], &["reportingInstance"]);
    if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    }
}

/// `printEvent` (wide: all ten cells).
pub(crate) fn event_cells(ev: &Value, now: Timestamp) -> Vec<Value> {
    let mut first_seen = translate_timestamp_since(time_at(ev, &["firstTimestamp"]), now);
    if time_at(ev, &["firstTimestamp"]).is_none() {
        first_seen = translate_timestamp_since(time_at(ev, &["eventTime"]), now);
    }
    let mut last_seen = translate_timestamp_since(time_at(ev, &["lastTimestamp"]), now);
    if time_at(ev, &["lastTimestamp"]).is_none() {
        last_seen = first_seen.clone();
    }
    let mut count = int_at(ev, &["count"]);
    if get(ev, &["series"]).is_some() {
        last_seen = translate_timestamp_since(time_at(ev, &["series", "lastObservedTime"]), now);
        count = int_at(ev, &["series", "count"]);
    } else if count == 0 {
        // Singleton events have no count in the new API.
        count = 1;
    }
    let kind = str_at(ev, &["involvedObject", "kind"]).to_lowercase();
    let involved_name = str_at(ev, &["involvedObject", "name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    vec![
        s(last_seen),
        s(str_at(ev, &["type"])),
        s(str_at(ev, &["reason"])),
        s(target),
        s(str_at(ev, &["involvedObject", "fieldPath"])),
        s(event_source(ev)),
        s(str_at(ev, &["message"]).trim()),
        s(first_seen),
        n(count),
        s(name(ev)),
    ]
}

/// An events.k8s.io/v1 Event in core/v1 shape (the fields the printers read), as the API
/// server's conversion to the internal Event does.
pub(crate) fn events_v1_as_core(ev: &Value) -> Value {
    let mut out = Map::new();
    let copy = |out: &mut Map<String, Value>, from: &[&str], to: &str| {
        if let Some(v) = get(ev, from) {
            out.insert(to.to_string(), v.clone());
        }
    };
    copy(&mut out, &["metadata"], "metadata");
    copy(&mut out, &["regarding"], "involvedObject");
    copy(&mut out, &["note"], "message");
    copy(&mut out, &["reason"], "reason");
    copy(&mut out, &["type"], "type");
    copy(&mut out, &["eventTime"], "eventTime");
    copy(&mut out, &["deprecatedFirstTimestamp"], "firstTimestamp");
    copy(&mut out, &["deprecatedLastTimestamp"], "lastTimestamp");
    copy(&mut out, &["deprecatedCount"], "count");
    copy(&mut out, &["deprecatedSource"], "source");
    copy(&mut out, &["reportingController"], "reportingComponent");
    copy(&mut out, &["reportingInstance"], "reportingInstance");
    if let Some(series) = obj_at(ev, &["series"]) {
        let mut s = Map::new();
        if let Some(c) = opt_int(ev, &["series", "count"]) {
            s.insert("count".to_string(), json!(c));
        }
        if let Some(t) = series.get("lastObservedTime") {
            s.insert("lastObservedTime".to_string(), t.clone());
        }
        out.insert("series".to_string(), Value::Object(s));
    }
    Value::Object(out)
}
