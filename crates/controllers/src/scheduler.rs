//! The default scheduler: binds pending pods to nodes.
//!
//! Filters mirror the kube-scheduler plugins that matter without resource
//! accounting, in upstream's default order: NodeUnschedulable
//! (pkg/scheduler/framework/plugins/nodeunschedulable), TaintToleration
//! (plugins/tainttoleration, with `v1helper.TolerationsTolerateTaint` from
//! staging/src/k8s.io/api/core/v1/toleration.go) and NodeAffinity
//! (plugins/nodeaffinity: nodeSelector plus required node affinity). The first
//! failing filter is a node's reason, as the framework stops at it.
//!
//! Scoring is deliberately simple: fewest pods already on the node, ties broken
//! by node name. Unschedulable pods get `PodScheduled=False` / `Unschedulable`
//! with upstream's `FitError` message (pkg/scheduler/framework/types.go) and a
//! `FailedScheduling` event; they are retried on every change and only written
//! again when the message changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition, Taint, Toleration};

use crate::action::{Action, EventSpec, EventType, Plan};
use crate::meta::{
    created, is_pod_terminal, key_of, labels_of, name_of, ns_of, object_reference, pod_condition,
    time, uid_of,
};
use crate::selector::node_selector_term_matches;

/// The scheduler name this scheduler serves (`spec.schedulerName`).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Reason of a node that is `spec.unschedulable` (nodeunschedulable.ErrReasonUnschedulable).
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// Reason of a node with a NoSchedule/NoExecute taint the pod does not tolerate.
pub const REASON_UNTOLERATED_TAINT: &str = "node(s) had untolerated taint(s)";
/// Reason of a node that fails nodeSelector / required node affinity (nodeaffinity.ErrReasonPod).
pub const REASON_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
/// Message when the cluster has no nodes at all (scheduler.ErrNoNodesAvailable).
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// `v1.TaintNodeUnschedulable`.
const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// `Toleration.ToleratesTaint` (staging/src/k8s.io/api/core/v1/toleration.go):
/// an empty effect matches every effect, an empty key with `Exists` matches every
/// key, an empty operator means `Equal`.
pub fn toleration_tolerates_taint(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or_default() {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        "Exists" => true,
        _ => false,
    }
}

/// `v1helper.TolerationsTolerateTaint`: some toleration tolerates the taint.
pub fn tolerations_tolerate_taint(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations
        .iter()
        .any(|t| toleration_tolerates_taint(t, taint))
}

/// `v1helper.FindMatchingUntoleratedTaint` with the DoNotSchedule filter
/// (NoSchedule and NoExecute): the first such taint no toleration covers.
pub fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerations_tolerate_taint(tolerations, t))
}

/// The filters, in upstream order; `Err(reason)` from the first that fails.
pub fn filter_node(pod: &Pod, node: &Node) -> Result<(), &'static str> {
    let pod_spec = pod.spec.as_ref();
    let tolerations = pod_spec
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let node_spec = node.spec.as_ref();

    // NodeUnschedulable: tolerating the unschedulable taint also tolerates the flag.
    if node_spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        let taint = Taint {
            key: TAINT_NODE_UNSCHEDULABLE.into(),
            effect: "NoSchedule".into(),
            value: None,
            time_added: None,
        };
        if !tolerations_tolerate_taint(tolerations, &taint) {
            return Err(REASON_UNSCHEDULABLE);
        }
    }

    // TaintToleration
    let taints = node_spec
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    if find_untolerated_taint(taints, tolerations).is_some() {
        return Err(REASON_UNTOLERATED_TAINT);
    }

    // NodeAffinity: nodeSelector AND (required terms ORed).
    let labels = labels_of(&node.metadata);
    if let Some(selector) = pod_spec.and_then(|s| s.node_selector.as_ref())
        && selector.iter().any(|(k, v)| labels.get(k) != Some(v))
    {
        return Err(REASON_NODE_AFFINITY);
    }
    let required = pod_spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    if let Some(required) = required {
        let name = name_of(&node.metadata);
        if !required
            .node_selector_terms
            .iter()
            .any(|term| node_selector_term_matches(term, name, labels))
        {
            return Err(REASON_NODE_AFFINITY);
        }
    }
    Ok(())
}

/// `FitError.Error()`: `0/N nodes are available: <sorted histogram>.` followed by
/// the message of the default preemption PostFilter. Every reason here is
/// UnschedulableAndUnresolvable, so preemption is "not helpful" on every node.
pub fn fit_error_message(
    pod: &Pod,
    num_nodes: usize,
    reasons: &BTreeMap<&'static str, usize>,
) -> String {
    let mut histogram: Vec<String> = reasons
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    // Go's sort.Strings: byte order of "<count> <reason>".
    histogram.sort();
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if !histogram.is_empty() {
        msg.push_str(&format!(" {}.", histogram.join(", ")));
    }
    let never = pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        .is_some_and(|p| p == "Never");
    if never {
        msg.push_str(" not eligible due to preemptionPolicy=Never.");
    } else {
        msg.push_str(&format!(
            " preemption: 0/{num_nodes} nodes are available: {num_nodes} Preemption is not helpful for scheduling."
        ));
    }
    msg
}

/// A pod this scheduler must place: no node yet, our scheduler name (empty
/// defaults to ours), not terminal, not being deleted, no scheduling gates.
pub fn needs_scheduling(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.node_name.as_deref().unwrap_or_default().is_empty()
        && spec
            .scheduler_name
            .as_deref()
            .unwrap_or(DEFAULT_SCHEDULER_NAME)
            == DEFAULT_SCHEDULER_NAME
        && pod.metadata.deletion_timestamp.is_none()
        && !is_pod_terminal(pod)
        && spec.scheduling_gates.as_ref().is_none_or(|g| g.is_empty())
}

/// Picks the node for `pod`: the feasible node with the fewest pods, ties by name.
/// `Err(message)` is the unschedulable message.
pub fn select_node<'a>(
    pod: &Pod,
    nodes: &[&'a Node],
    pods_per_node: &BTreeMap<String, usize>,
) -> Result<&'a Node, String> {
    if nodes.is_empty() {
        return Err(NO_NODES_AVAILABLE.to_string());
    }
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut best: Option<(&Node, usize)> = None;
    for node in nodes {
        match filter_node(pod, node) {
            Ok(()) => {
                let count = pods_per_node
                    .get(name_of(&node.metadata))
                    .copied()
                    .unwrap_or(0);
                let better = match best {
                    None => true,
                    Some((b, bc)) => {
                        count < bc
                            || (count == bc && name_of(&node.metadata) < name_of(&b.metadata))
                    }
                };
                if better {
                    best = Some((node, count));
                }
            }
            Err(reason) => *reasons.entry(reason).or_default() += 1,
        }
    }
    best.map(|(n, _)| n)
        .ok_or_else(|| fit_error_message(pod, nodes.len(), &reasons))
}

/// Schedules every pod that needs it.
///
/// `assumed` maps pod uid → node for bindings this scheduler made that the pod
/// cache has not shown yet (upstream's "assumed pods"); they count on their node
/// and are not scheduled again. Pods are taken in queue order: higher
/// `spec.priority` first, then older first. Each placement counts for the next.
pub fn reconcile_scheduler(
    pods: &[Arc<Pod>],
    nodes: &[Arc<Node>],
    assumed: &BTreeMap<String, String>,
    now: Timestamp,
) -> Plan {
    let mut node_list: Vec<&Node> = nodes.iter().map(|n| n.as_ref()).collect();
    node_list.sort_by(|a, b| name_of(&a.metadata).cmp(name_of(&b.metadata)));

    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods {
        if is_pod_terminal(pod) {
            continue;
        }
        let bound = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        if let Some(node) = bound.or_else(|| assumed.get(uid_of(&pod.metadata)).cloned()) {
            *per_node.entry(node).or_default() += 1;
        }
    }

    let mut queue: Vec<&Arc<Pod>> = pods
        .iter()
        .filter(|p| needs_scheduling(p) && !assumed.contains_key(uid_of(&p.metadata)))
        .collect();
    queue.sort_by(|a, b| {
        let prio = |p: &Pod| p.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        prio(b)
            .cmp(&prio(a))
            .then_with(|| created(&a.metadata).cmp(&created(&b.metadata)))
            .then_with(|| key_of(&a.metadata).cmp(&key_of(&b.metadata)))
    });

    let mut plan = Plan::new();
    for pod in queue {
        let key = format!("Pod {}", key_of(&pod.metadata));
        let ns = ns_of(&pod.metadata).to_string();
        let name = name_of(&pod.metadata).to_string();
        match select_node(pod, &node_list, &per_node) {
            Ok(node) => {
                let node_name = name_of(&node.metadata).to_string();
                *per_node.entry(node_name.clone()).or_default() += 1;
                plan.push_group(
                    key,
                    vec![
                        Action::Bind {
                            namespace: ns.clone(),
                            pod: name.clone(),
                            uid: uid_of(&pod.metadata).to_string(),
                            node: node_name.clone(),
                        },
                        Action::Event(EventSpec {
                            involved: object_reference("v1", "Pod", &pod.metadata),
                            type_: EventType::Normal,
                            reason: "Scheduled".into(),
                            message: format!("Successfully assigned {ns}/{name} to {node_name}"),
                            component: DEFAULT_SCHEDULER_NAME,
                            action: Some("Binding".into()),
                        }),
                    ],
                );
            }
            Err(message) => {
                let current = pod_condition(pod, "PodScheduled");
                let unchanged = current.is_some_and(|c| {
                    c.status == "False"
                        && c.reason.as_deref() == Some("Unschedulable")
                        && c.message.as_deref() == Some(message.as_str())
                });
                if unchanged {
                    continue;
                }
                let mut updated = (**pod).clone();
                set_pod_condition(
                    &mut updated,
                    PodCondition {
                        type_: "PodScheduled".into(),
                        status: "False".into(),
                        reason: Some("Unschedulable".into()),
                        message: Some(message.clone()),
                        ..PodCondition::default()
                    },
                    now,
                );
                plan.push_group(
                    key,
                    vec![
                        Action::ReplacePodStatus(Box::new(updated)),
                        Action::Event(EventSpec {
                            involved: object_reference("v1", "Pod", &pod.metadata),
                            type_: EventType::Warning,
                            reason: "FailedScheduling".into(),
                            message,
                            component: DEFAULT_SCHEDULER_NAME,
                            action: Some("Scheduling".into()),
                        }),
                    ],
                );
            }
        }
    }
    plan
}

/// `podutil.UpdatePodCondition`: replaces the condition of that type, keeping
/// lastTransitionTime when the status does not change.
fn set_pod_condition(pod: &mut Pod, mut condition: PodCondition, now: Timestamp) {
    let status = pod.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            condition.last_transition_time = if existing.status == condition.status {
                existing.last_transition_time.clone()
            } else {
                Some(time(now))
            };
            condition.last_probe_time = existing.last_probe_time.clone();
            *existing = condition;
        }
        None => {
            condition.last_transition_time = Some(time(now));
            conditions.push(condition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{NodeExt, PodExt, mk_node, mk_pod, ts};

    fn bindings(plan: &Plan) -> Vec<(String, String)> {
        plan.actions()
            .filter_map(|a| match a {
                Action::Bind { pod, node, .. } => Some((pod.clone(), node.clone())),
                _ => None,
            })
            .collect()
    }

    fn three_nodes() -> Vec<Arc<Node>> {
        ["node-a", "node-b", "node-c"]
            .iter()
            .enumerate()
            .map(|(i, n)| Arc::new(mk_node(n, i as i64)))
            .collect()
    }

    #[test]
    fn pods_spread_across_three_nodes_fewest_pods_first_ties_by_name() {
        let pods: Vec<Arc<Pod>> = (0..6)
            .map(|i| Arc::new(mk_pod("default", &format!("web-{i}")).created_at(i)))
            .collect();
        let plan = reconcile_scheduler(&pods, &three_nodes(), &BTreeMap::new(), ts(10));
        let got = bindings(&plan);
        let nodes: Vec<&str> = got.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            nodes,
            ["node-a", "node-b", "node-c", "node-a", "node-b", "node-c"]
        );
        assert_eq!(got[0].0, "web-0");
    }

    #[test]
    fn existing_and_assumed_pods_count_towards_spreading() {
        let mut pods = vec![
            Arc::new(
                mk_pod("default", "old-1")
                    .on_node("node-a")
                    .phase("Running"),
            ),
            Arc::new(
                mk_pod("default", "old-2")
                    .on_node("node-b")
                    .phase("Running"),
            ),
            Arc::new(
                mk_pod("default", "done")
                    .on_node("node-c")
                    .phase("Succeeded"),
            ),
            Arc::new(mk_pod("default", "in-flight")),
        ];
        pods.push(Arc::new(mk_pod("default", "new").created_at(5)));
        let mut assumed = BTreeMap::new();
        assumed.insert("uid-in-flight".to_string(), "node-c".to_string());
        let plan = reconcile_scheduler(&pods, &three_nodes(), &assumed, ts(10));
        // node-c has the assumed pod; the succeeded one does not count. a and b tie → a.
        assert_eq!(bindings(&plan), [("new".to_string(), "node-a".to_string())]);
    }

    #[test]
    fn binding_is_followed_by_a_scheduled_event() {
        let pods = vec![Arc::new(mk_pod("shop", "cart"))];
        let plan = reconcile_scheduler(&pods, &three_nodes(), &BTreeMap::new(), ts(10));
        let group = &plan.groups[0];
        assert!(
            matches!(&group.actions[0], Action::Bind { node, uid, .. } if node == "node-a" && uid == "uid-cart")
        );
        match &group.actions[1] {
            Action::Event(e) => {
                assert_eq!(e.reason, "Scheduled");
                assert_eq!(e.message, "Successfully assigned shop/cart to node-a");
                assert_eq!(e.component, "default-scheduler");
                assert_eq!(e.type_, EventType::Normal);
            }
            other => panic!("expected event, got {other:?}"),
        }
    }

    #[test]
    fn pods_that_name_a_node_or_another_scheduler_are_not_touched() {
        let mut other = mk_pod("default", "custom");
        other.spec.as_mut().unwrap().scheduler_name = Some("my-scheduler".into());
        let pods = vec![
            Arc::new(mk_pod("default", "pinned").on_node("node-z")),
            Arc::new(other),
            Arc::new(mk_pod("default", "going").deleting()),
        ];
        let plan = reconcile_scheduler(&pods, &three_nodes(), &BTreeMap::new(), ts(10));
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn unschedulable_tainted_and_unmatched_nodes_are_filtered() {
        let nodes = vec![
            Arc::new(mk_node("node-a", 0).unschedulable()),
            Arc::new(mk_node("node-b", 1).with_taint("dedicated", "gpu", "NoSchedule")),
            Arc::new(mk_node("node-c", 2).with_labels(&[("disk", "hdd")])),
            Arc::new(mk_node("node-d", 3).with_labels(&[("disk", "ssd")])),
        ];
        let pods = vec![Arc::new(
            mk_pod("default", "db").with_node_selector(&[("disk", "ssd")]),
        )];
        let plan = reconcile_scheduler(&pods, &nodes, &BTreeMap::new(), ts(10));
        assert_eq!(bindings(&plan), [("db".to_string(), "node-d".to_string())]);
    }

    #[test]
    fn tolerations_open_tainted_and_cordoned_nodes() {
        let nodes = vec![
            Arc::new(mk_node("node-a", 0).unschedulable()),
            Arc::new(mk_node("node-b", 1).with_taint("dedicated", "gpu", "NoExecute")),
        ];
        let p1 = mk_pod("default", "p1").tolerating("dedicated", "Equal", "gpu", "NoExecute");
        let plan = reconcile_scheduler(&[Arc::new(p1)], &nodes, &BTreeMap::new(), ts(10));
        assert_eq!(bindings(&plan), [("p1".to_string(), "node-b".to_string())]);

        let p2 = mk_pod("default", "p2").tolerating(
            "node.kubernetes.io/unschedulable",
            "Exists",
            "",
            "",
        );
        let plan = reconcile_scheduler(&[Arc::new(p2)], &nodes[..1], &BTreeMap::new(), ts(10));
        assert_eq!(bindings(&plan), [("p2".to_string(), "node-a".to_string())]);

        // Wrong value, wrong effect: not tolerated; PreferNoSchedule never filters.
        let taint = Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let tol = |key: &str, op: &str, value: &str, effect: &str| Toleration {
            key: (!key.is_empty()).then(|| key.into()),
            operator: (!op.is_empty()).then(|| op.into()),
            value: (!value.is_empty()).then(|| value.into()),
            effect: (!effect.is_empty()).then(|| effect.into()),
            toleration_seconds: None,
        };
        assert!(toleration_tolerates_taint(&tol("k", "", "v", ""), &taint));
        assert!(!toleration_tolerates_taint(
            &tol("k", "Equal", "w", ""),
            &taint
        ));
        assert!(!toleration_tolerates_taint(
            &tol("k", "Exists", "", "NoExecute"),
            &taint
        ));
        assert!(toleration_tolerates_taint(
            &tol("", "Exists", "", ""),
            &taint
        ));
        assert!(!toleration_tolerates_taint(&tol("", "", "", ""), &taint));
        let soft = Taint {
            effect: "PreferNoSchedule".into(),
            ..taint
        };
        assert!(find_untolerated_taint(&[soft], &[]).is_none());
    }

    #[test]
    fn required_node_affinity_expressions_are_honoured() {
        let nodes = vec![
            Arc::new(mk_node("node-a", 0).with_labels(&[("zone", "east")])),
            Arc::new(mk_node("node-b", 1).with_labels(&[("zone", "west")])),
            Arc::new(mk_node("node-c", 2)),
        ];
        let pod = mk_pod("default", "p")
            .requiring_node_label("zone", "NotIn", &["east"])
            .requiring_node_label("zone", "Exists", &[]);
        let plan = reconcile_scheduler(&[Arc::new(pod)], &nodes, &BTreeMap::new(), ts(10));
        assert_eq!(bindings(&plan), [("p".to_string(), "node-b".to_string())]);
    }

    #[test]
    fn no_fit_sets_pod_scheduled_false_with_the_upstream_message() {
        let nodes = vec![
            Arc::new(mk_node("node-a", 0).unschedulable()),
            Arc::new(mk_node("node-b", 1)),
            Arc::new(mk_node("node-c", 2)),
        ];
        let pod = mk_pod("default", "p").with_node_selector(&[("disk", "ssd")]);
        let plan = reconcile_scheduler(&[Arc::new(pod)], &nodes, &BTreeMap::new(), ts(10));
        let expected = "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
        let group = &plan.groups[0];
        match &group.actions[0] {
            Action::ReplacePodStatus(p) => {
                let c = pod_condition(p, "PodScheduled").unwrap();
                assert_eq!(c.status, "False");
                assert_eq!(c.reason.as_deref(), Some("Unschedulable"));
                assert_eq!(c.message.as_deref(), Some(expected));
                assert_eq!(c.last_transition_time.as_ref().map(|t| t.0), Some(ts(10)));
            }
            other => panic!("expected status update, got {other:?}"),
        }
        match &group.actions[1] {
            Action::Event(e) => {
                assert_eq!(e.reason, "FailedScheduling");
                assert_eq!(e.type_, EventType::Warning);
                assert_eq!(e.message, expected);
            }
            other => panic!("expected event, got {other:?}"),
        }
    }

    #[test]
    fn an_unchanged_unschedulable_pod_is_not_written_again_but_is_retried() {
        let nodes = vec![Arc::new(mk_node("node-a", 0).unschedulable())];
        let pod = mk_pod("default", "p");
        let first = reconcile_scheduler(&[Arc::new(pod)], &nodes, &BTreeMap::new(), ts(10));
        let Action::ReplacePodStatus(updated) = &first.groups[0].actions[0] else {
            panic!("expected status update");
        };
        let updated = Arc::new((**updated).clone());
        let second = reconcile_scheduler(
            std::slice::from_ref(&updated),
            &nodes,
            &BTreeMap::new(),
            ts(20),
        );
        assert!(second.is_empty());
        // The node is uncordoned: the same pod is now bound.
        let fixed = vec![Arc::new(mk_node("node-a", 0))];
        let third = reconcile_scheduler(&[updated], &fixed, &BTreeMap::new(), ts(30));
        assert_eq!(bindings(&third), [("p".to_string(), "node-a".to_string())]);
    }

    #[test]
    fn histogram_is_sorted_and_an_empty_cluster_says_so() {
        let pod = mk_pod("default", "p");
        let mut reasons = BTreeMap::new();
        reasons.insert(REASON_UNTOLERATED_TAINT, 1);
        reasons.insert(REASON_NODE_AFFINITY, 2);
        assert_eq!(
            fit_error_message(&pod, 3, &reasons),
            "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        let plan = reconcile_scheduler(&[Arc::new(pod)], &[], &BTreeMap::new(), ts(10));
        let Action::ReplacePodStatus(p) = &plan.groups[0].actions[0] else {
            panic!("expected status update");
        };
        assert_eq!(
            pod_condition(p, "PodScheduled").and_then(|c| c.message.as_deref()),
            Some(NO_NODES_AVAILABLE)
        );
    }

    #[test]
    fn higher_priority_pods_are_placed_first() {
        let mut urgent = mk_pod("default", "urgent").created_at(9);
        urgent.spec.as_mut().unwrap().priority = Some(1000);
        let pods = vec![
            Arc::new(mk_pod("default", "early").created_at(1)),
            Arc::new(urgent),
        ];
        let nodes = vec![
            Arc::new(mk_node("node-a", 0)),
            Arc::new(mk_node("node-b", 0)),
        ];
        let plan = reconcile_scheduler(&pods, &nodes, &BTreeMap::new(), ts(10));
        assert_eq!(
            bindings(&plan),
            [
                ("urgent".to_string(), "node-a".to_string()),
                ("early".to_string(), "node-b".to_string())
            ]
        );
    }
}
