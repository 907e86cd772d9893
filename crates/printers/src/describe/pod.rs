//! `describePod`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use super::DescribeContext;
use super::common::{
    annotations, containers, controlled_by, events, labels, resources, rfc1123z, tolerations,
    topology_spread, volumes,
};
use super::writer::{Writer, wr};
use crate::duration::translate_timestamp_since;
use crate::json::{get, int_at, list_at, name, namespace, obj_at, opt_int, str_at, time_at};
use crate::quantity::Quantity;

/// `qos.GetPodQOS`: `status.qosClass`, else computed from the cpu and memory requests and
/// limits of all containers (BestEffort, Guaranteed or Burstable).
pub(crate) fn qos_class(pod: &Value) -> String {
    let set = str_at(pod, &["status", "qosClass"]);
    if !set.is_empty() {
        return set.to_string();
    }
    let mut requests: BTreeMap<String, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<String, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let all = list_at(pod, &["spec", "containers"])
        .iter()
        .chain(list_at(pod, &["spec", "initContainers"]).iter());
    for c in all {
        for (field, acc) in [("requests", &mut requests), ("limits", &mut limits)] {
            let mut found: Vec<&str> = Vec::new();
            if let Some(list) = obj_at(c, &["resources", field]) {
                for (res, q) in list {
                    if res != "cpu" && res != "memory" {
                        continue;
                    }
                    let Some(q) = Quantity::from_json(Some(q)) else {
                        continue;
                    };
                    if q > Quantity::zero() {
                        found.push(res);
                        acc.entry(res.clone())
                            .and_modify(|sum| sum.add(&q))
                            .or_insert(q);
                    }
                }
            }
            if field == "limits" && !(found.contains(&"cpu") && found.contains(&"memory")) {
                guaranteed = false;
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort".to_string();
    }
    if guaranteed {
        for (res, req) in &requests {
            if limits.get(res) != Some(req) {
                guaranteed = false;
                break;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed".to_string()
    } else {
        "Burstable".to_string()
    }
}

pub(crate) fn describe_pod(pod: &Value, ctx: &DescribeContext<'_>, now: Timestamp) -> String {
    let mut w = Writer::new();
    wr!(w, 0, "Name:\t{}\n", name(pod));
    wr!(w, 0, "Namespace:\t{}\n", namespace(pod));
    if let Some(p) = opt_int(pod, &["spec", "priority"]) {
        wr!(w, 0, "Priority:\t{p}\n");
    }
    for (title, field) in [
        ("Priority Class Name", "priorityClassName"),
        ("Runtime Class Name", "runtimeClassName"),
        ("Service Account", "serviceAccountName"),
    ] {
        let v = str_at(pod, &["spec", field]);
        if !v.is_empty() {
            wr!(w, 0, "{title}:\t{v}\n");
        }
    }
    let node = str_at(pod, &["spec", "nodeName"]);
    if node.is_empty() {
        w.write(0, "Node:\t<none>\n");
    } else {
        wr!(
            w,
            0,
            "Node:\t{node}/{}\n",
            str_at(pod, &["status", "hostIP"])
        );
    }
    if let Some(start) = time_at(pod, &["status", "startTime"]) {
        wr!(w, 0, "Start Time:\t{}\n", rfc1123z(Some(start)));
    }
    labels(&mut w, "Labels", pod, &["metadata", "labels"]);
    annotations(&mut w, "Annotations", pod, &["metadata", "annotations"]);
    let phase = str_at(pod, &["status", "phase"]);
    if get(pod, &["metadata", "deletionTimestamp"]).is_some()
        && phase != "Failed"
        && phase != "Succeeded"
    {
        wr!(
            w,
            0,
            "Status:\tTerminating (lasts {})\n",
            translate_timestamp_since(time_at(pod, &["metadata", "deletionTimestamp"]), now)
        );
        wr!(
            w,
            0,
            "Termination Grace Period:\t{}s\n",
            int_at(pod, &["metadata", "deletionGracePeriodSeconds"])
        );
    } else {
        wr!(w, 0, "Status:\t{phase}\n");
    }
    for (title, field) in [("Reason", "reason"), ("Message", "message")] {
        let v = str_at(pod, &["status", field]);
        if !v.is_empty() {
            wr!(w, 0, "{title}:\t{v}\n");
        }
    }
    if let Some(profile) = get(pod, &["spec", "securityContext", "seccompProfile"]) {
        let kind = str_at(profile, &["type"]);
        wr!(w, 0, "SeccompProfile:\t{kind}\n");
        if kind == "Localhost" {
            wr!(
                w,
                0,
                "LocalhostProfile:\t{}\n",
                str_at(profile, &["localhostProfile"])
            );
        }
    }
    wr!(w, 0, "IP:\t{}\n", str_at(pod, &["status", "podIP"]));
    let ips = list_at(pod, &["status", "podIPs"]);
    if ips.is_empty() {
        w.write(0, "IPs:\t<none>\n");
    } else {
        w.write(0, "IPs:\n");
        for ip in ips {
            wr!(w, 1, "IP:\t{}\n", str_at(ip, &["ip"]));
        }
    }
    if let Some(by) = controlled_by(pod) {
        wr!(w, 0, "Controlled By:\t{by}\n");
    }
    let nominated = str_at(pod, &["status", "nominatedNodeName"]);
    if !nominated.is_empty() {
        wr!(w, 0, "NominatedNodeName:\t{nominated}\n");
    }
    if let Some(res) = get(pod, &["spec", "resources"]) {
        w.write(0, "Resources:\n");
        resources(&mut w, Some(res), 1);
    }
    let init = list_at(pod, &["spec", "initContainers"]);
    if !init.is_empty() {
        containers(
            &mut w,
            "Init Containers",
            init,
            list_at(pod, &["status", "initContainerStatuses"]),
            Some(pod),
            "",
        );
    }
    containers(
        &mut w,
        "Containers",
        list_at(pod, &["spec", "containers"]),
        list_at(pod, &["status", "containerStatuses"]),
        Some(pod),
        "",
    );
    let ephemeral = list_at(pod, &["spec", "ephemeralContainers"]);
    if !ephemeral.is_empty() {
        containers(
            &mut w,
            "Ephemeral Containers",
            ephemeral,
            list_at(pod, &["status", "ephemeralContainerStatuses"]),
            Some(pod),
            "",
        );
    }
    let conditions = list_at(pod, &["status", "conditions"]);
    let gates = list_at(pod, &["spec", "readinessGates"]);
    if !gates.is_empty() {
        w.write(0, "Readiness Gates:\n  Type\tStatus\n");
        for g in gates {
            let kind = str_at(g, &["conditionType"]);
            let status = conditions
                .iter()
                .find(|c| str_at(c, &["type"]) == kind)
                .map(|c| str_at(c, &["status"]))
                .unwrap_or("<none>");
            wr!(w, 1, "{kind} \t{status} \n");
        }
    }
    if !conditions.is_empty() {
        w.write(0, "Conditions:\n  Type\tStatus\n");
        for c in conditions {
            wr!(
                w,
                1,
                "{} \t{} \n",
                str_at(c, &["type"]),
                str_at(c, &["status"])
            );
        }
    }
    volumes(&mut w, list_at(pod, &["spec", "volumes"]), "");
    wr!(w, 0, "QoS Class:\t{}\n", qos_class(pod));
    labels(&mut w, "Node-Selectors", pod, &["spec", "nodeSelector"]);
    tolerations(
        &mut w,
        "",
        "Tolerations",
        list_at(pod, &["spec", "tolerations"]),
    );
    topology_spread(
        &mut w,
        list_at(pod, &["spec", "topologySpreadConstraints"]),
        "",
    );
    events(&mut w, ctx.events, now);
    w.finish()
}
