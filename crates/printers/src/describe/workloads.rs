//! `describeDeployment` and `describeReplicaSet`.

use jiff::Timestamp;
use serde_json::Value;

use super::DescribeContext;
use super::common::{events, pod_template, rfc1123z};
use super::writer::{Writer, wr};
use crate::json::{get, int_at, int_or_string, list_at, name, namespace, str_at, time_at};
use crate::printers::apps::desired_replicas;
use crate::selector::{format_label_selector, selector_string};

fn uid(obj: &Value) -> &str {
    str_at(obj, &["metadata", "uid"])
}

/// Objects whose controller owner reference points at `owner` (by UID).
fn controlled_by<'a>(owner: &Value, candidates: &[&'a Value]) -> Vec<&'a Value> {
    let owner_uid = uid(owner);
    candidates
        .iter()
        .copied()
        .filter(|c| {
            crate::json::controller_ref(c)
                .is_some_and(|r| !owner_uid.is_empty() && str_at(r, &["uid"]) == owner_uid)
        })
        .collect()
}

/// `EqualIgnoreHash`: pod templates equal once the `pod-template-hash` label is dropped.
fn templates_equal_ignoring_hash(a: Option<&Value>, b: Option<&Value>) -> bool {
    without_hash(a) == without_hash(b)
}

fn without_hash(template: Option<&Value>) -> Option<Value> {
    let mut t = template?.clone();
    if let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut) {
        let now_empty = match meta.get_mut("labels").and_then(Value::as_object_mut) {
            Some(labels) => {
                labels.remove("pod-template-hash");
                labels.is_empty()
            }
            None => false,
        };
        // Semantic equality treats an empty map like a missing one.
        if now_empty {
            meta.remove("labels");
        }
    }
    Some(t)
}

/// `printReplicaSetsByLabels`.
fn replica_sets_text(list: &[&Value]) -> String {
    if list.is_empty() {
        return "<none>".to_string();
    }
    list.iter()
        .map(|rs| {
            format!(
                "{} ({}/{} replicas created)",
                name(rs),
                int_at(rs, &["status", "replicas"]),
                desired_replicas(rs)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn conditions_table(w: &mut Writer, obj: &Value) {
    let conditions = list_at(obj, &["status", "conditions"]);
    if conditions.is_empty() {
        return;
    }
    w.write(0, "Conditions:\n  Type\tStatus\tReason\n");
    w.write(1, "----\t------\t------\n");
    for c in conditions {
        wr!(
            w,
            1,
            "{} \t{}\t{}\n",
            str_at(c, &["type"]),
            str_at(c, &["status"]),
            str_at(c, &["reason"])
        );
    }
}

pub(crate) fn describe_deployment(d: &Value, ctx: &DescribeContext<'_>, now: Timestamp) -> String {
    let mut w = Writer::new();
    wr!(w, 0, "Name:\t{}\n", name(d));
    wr!(w, 0, "Namespace:\t{}\n", namespace(d));
    wr!(
        w,
        0,
        "CreationTimestamp:\t{}\n",
        rfc1123z(time_at(d, &["metadata", "creationTimestamp"]))
    );
    super::common::labels(&mut w, "Labels", d, &["metadata", "labels"]);
    super::common::annotations(&mut w, "Annotations", d, &["metadata", "annotations"]);
    let selector =
        selector_string(get(d, &["spec", "selector"])).unwrap_or_else(|()| "<error>".to_string());
    wr!(w, 0, "Selector:\t{selector}\n");
    wr!(
        w,
        0,
        "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable\n",
        desired_replicas(d),
        int_at(d, &["status", "updatedReplicas"]),
        int_at(d, &["status", "replicas"]),
        int_at(d, &["status", "availableReplicas"]),
        int_at(d, &["status", "unavailableReplicas"])
    );
    wr!(
        w,
        0,
        "StrategyType:\t{}\n",
        str_at(d, &["spec", "strategy", "type"])
    );
    wr!(
        w,
        0,
        "MinReadySeconds:\t{}\n",
        int_at(d, &["spec", "minReadySeconds"])
    );
    if let Some(ru) = get(d, &["spec", "strategy", "rollingUpdate"]) {
        wr!(
            w,
            0,
            "RollingUpdateStrategy:\t{} max unavailable, {} max surge\n",
            int_or_string(get(ru, &["maxUnavailable"])),
            int_or_string(get(ru, &["maxSurge"]))
        );
    }
    pod_template(&mut w, get(d, &["spec", "template"]));
    conditions_table(&mut w, d);

    // deploymentutil.GetAllReplicaSets: the ReplicaSets the Deployment controls, oldest
    // first; the new one is the first whose template matches the Deployment's.
    let mut owned = controlled_by(d, ctx.replica_sets);
    owned.sort_by(|a, b| {
        time_at(a, &["metadata", "creationTimestamp"])
            .cmp(&time_at(b, &["metadata", "creationTimestamp"]))
            .then_with(|| name(a).cmp(name(b)))
    });
    let template = get(d, &["spec", "template"]);
    let new_rs = owned
        .iter()
        .copied()
        .find(|rs| templates_equal_ignoring_hash(get(rs, &["spec", "template"]), template));
    let old: Vec<&Value> = owned
        .iter()
        .copied()
        .filter(|rs| new_rs.is_none_or(|n| uid(n) != uid(rs)))
        .collect();
    if !owned.is_empty() {
        wr!(w, 0, "OldReplicaSets:\t{}\n", replica_sets_text(&old));
        let new_list: Vec<&Value> = new_rs.into_iter().collect();
        wr!(w, 0, "NewReplicaSet:\t{}\n", replica_sets_text(&new_list));
    }
    events(&mut w, ctx.events, now);
    w.finish()
}

pub(crate) fn describe_replica_set(
    rs: &Value,
    ctx: &DescribeContext<'_>,
    now: Timestamp,
) -> String {
    let mut w = Writer::new();
    wr!(w, 0, "Name:\t{}\n", name(rs));
    wr!(w, 0, "Namespace:\t{}\n", namespace(rs));
    wr!(
        w,
        0,
        "Selector:\t{}\n",
        format_label_selector(get(rs, &["spec", "selector"]))
    );
    super::common::labels(&mut w, "Labels", rs, &["metadata", "labels"]);
    super::common::annotations(&mut w, "Annotations", rs, &["metadata", "annotations"]);
    if let Some(by) = super::common::controlled_by(rs) {
        wr!(w, 0, "Controlled By:\t{by}\n");
    }
    wr!(
        w,
        0,
        "Replicas:\t{} current / {} desired\n",
        int_at(rs, &["status", "replicas"]),
        desired_replicas(rs)
    );
    let (mut running, mut waiting, mut succeeded, mut failed) = (0, 0, 0, 0);
    for pod in controlled_by(rs, ctx.pods) {
        match str_at(pod, &["status", "phase"]) {
            "Running" => running += 1,
            "Pending" => waiting += 1,
            "Succeeded" => succeeded += 1,
            "Failed" => failed += 1,
            _ => {}
        }
    }
    w.write(0, "Pods Status:\t");
    wr!(
        w,
        0,
        "{running} Running / {waiting} Waiting / {succeeded} Succeeded / {failed} Failed\n"
    );
    pod_template(&mut w, get(rs, &["spec", "template"]));
    conditions_table(&mut w, rs);
    events(&mut w, ctx.events, now);
    w.finish()
}
