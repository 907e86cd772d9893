//! The ReplicaSet controller: keeps `spec.replicas` pods running for each ReplicaSet.
//!
//! Mirrors pkg/controller/replicaset/replica_set.go (`syncReplicaSet`,
//! `manageReplicas`, `getPodsToDelete`), replica_set_utils.go (`calculateStatus`)
//! and the pod ranking of pkg/controller/controller_utils.go
//! (`ActivePodsWithRanks`), plus adoption/release through the ControllerRef
//! manager (controller_ref_manager.go).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use tokio::time::Instant;

use crate::action::{Action, EventSpec, EventType, ObjectTarget, Plan};
use crate::meta::{
    annotations_of, controller_of, created, is_being_deleted, is_pod_active, is_pod_available,
    is_pod_ready, key_of, labels_of, name_of, new_controller_ref, ns_of, object_reference,
    pod_phase, pod_ready_time, uid_of, until_available,
};
use crate::selector::{matches, selects_everything};

/// `source.component` of the ReplicaSet controller's events.
pub const RS_COMPONENT: &str = "replicaset-controller";

/// Most pods created or deleted in one sync (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// How long unobserved expectations block a ReplicaSet (upstream `ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Annotation ranking pods for scale-down (`controller.kubernetes.io/pod-deletion-cost`).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The inputs of one ReplicaSet sync.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaSetInput<'a> {
    /// The ReplicaSet.
    pub rs: &'a ReplicaSet,
    /// All pods of its namespace.
    pub pods: &'a [Arc<Pod>],
    /// All ReplicaSets of its namespace (to find siblings under the same owner).
    pub replica_sets: &'a [Arc<ReplicaSet>],
    /// False while creations/deletions of an earlier sync are not yet observed.
    pub expectations_satisfied: bool,
    /// The current time.
    pub now: Timestamp,
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_min_ready(rs: &ReplicaSet) -> i32 {
    rs.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// Whether the ReplicaSet's selector selects `meta`'s labels. Invalid or empty
/// selectors select nothing (validation forbids them upstream).
fn rs_selects(rs: &ReplicaSet, meta: &ObjectMeta) -> bool {
    let Some(spec) = rs.spec.as_ref() else {
        return false;
    };
    if selects_everything(&spec.selector) {
        return false;
    }
    matches(&spec.selector, labels_of(meta)).unwrap_or(false)
}

/// `ObjectTarget` of a pod.
fn pod_target(pod: &Pod) -> ObjectTarget {
    ObjectTarget::of(pod)
}

/// Syncs one ReplicaSet: claims pods, creates or deletes the difference, and
/// updates status.
pub fn reconcile_replicaset(input: ReplicaSetInput<'_>) -> Plan {
    let rs = input.rs;
    let rs_uid = uid_of(&rs.metadata);
    let rs_ref = object_reference("apps/v1", "ReplicaSet", &rs.metadata);
    let rs_deleting = is_being_deleted(&rs.metadata);
    let mut actions = Vec::new();
    let mut plan = Plan::new();

    // 1. Claim active pods (adopt matching orphans, release non-matching).
    let mut claimed: Vec<&Pod> = Vec::new();
    let mut pods: Vec<&Arc<Pod>> = input
        .pods
        .iter()
        .filter(|p| ns_of(&p.metadata) == ns_of(&rs.metadata) && is_pod_active(p))
        .collect();
    pods.sort_by(|a, b| name_of(&a.metadata).cmp(name_of(&b.metadata)));
    for pod in pods {
        let selected = rs_selects(rs, &pod.metadata);
        match controller_of(&pod.metadata) {
            Some(owner) if owner.uid == rs_uid => {
                if selected {
                    claimed.push(pod);
                } else if !rs_deleting {
                    // Release: drop our reference.
                    let refs: Vec<OwnerReference> = pod
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .filter(|r| r.uid != rs_uid)
                        .cloned()
                        .collect();
                    actions.push(Action::PatchOwnerReferences {
                        target: pod_target(pod),
                        uid: uid_of(&pod.metadata).to_string(),
                        resource_version: pod.metadata.resource_version.clone(),
                        owner_references: refs,
                    });
                }
            }
            Some(_) => {}
            None => {
                if selected && !rs_deleting {
                    let mut refs: Vec<OwnerReference> =
                        pod.metadata.owner_references.clone().unwrap_or_default();
                    refs.push(new_controller_ref("apps/v1", "ReplicaSet", &rs.metadata));
                    actions.push(Action::PatchOwnerReferences {
                        target: pod_target(pod),
                        uid: uid_of(&pod.metadata).to_string(),
                        resource_version: pod.metadata.resource_version.clone(),
                        owner_references: refs,
                    });
                    claimed.push(pod);
                }
            }
        }
    }

    // 2. manageReplicas, unless earlier work is unobserved or we are being deleted.
    if input.expectations_satisfied && !rs_deleting {
        let want = rs_replicas(rs).max(0) as usize;
        if claimed.len() < want {
            let diff = (want - claimed.len()).min(BURST_REPLICAS);
            if let Some(pod) = pod_from_template(rs) {
                for _ in 0..diff {
                    actions.push(Action::CreatePod {
                        pod: Box::new(pod.clone()),
                        recorder: Some((rs_ref.clone(), RS_COMPONENT)),
                    });
                }
            }
        } else if claimed.len() > want {
            let diff = (claimed.len() - want).min(BURST_REPLICAS);
            let related = related_pods(rs, input.replica_sets, input.pods);
            for pod in pods_to_delete(claimed.clone(), &related, diff, input.now) {
                actions.push(Action::Delete {
                    target: pod_target(pod),
                    uid: pod.metadata.uid.clone(),
                    propagation: None,
                });
                actions.push(Action::Event(EventSpec {
                    involved: rs_ref.clone(),
                    type_: EventType::Normal,
                    reason: "SuccessfulDelete".into(),
                    message: format!("Deleted pod: {}", name_of(&pod.metadata)),
                    component: RS_COMPONENT,
                    action: None,
                }));
            }
        }
    }

    // 3. Status.
    let new_status = calculate_status(rs, &claimed, input.now);
    if status_differs(rs, &new_status) {
        let mut updated = rs.clone();
        updated.status = Some(new_status);
        actions.push(Action::ReplaceReplicaSetStatus(Box::new(updated)));
    }

    // Look again when a ready pod will have been ready for minReadySeconds.
    let min_ready = rs_min_ready(rs);
    if let Some(wait) = claimed
        .iter()
        .filter_map(|p| until_available(p, min_ready, input.now))
        .min()
    {
        plan.requeue(wait);
    }

    plan.push_group(format!("ReplicaSet {}", key_of(&rs.metadata)), actions);
    plan
}

/// `controller.GetPodFromTemplate`: labels, annotations and finalizers of the
/// template, `generateName` `<rs>-`, the controller reference, and the spec.
pub fn pod_from_template(rs: &ReplicaSet) -> Option<Pod> {
    let template = rs.spec.as_ref()?.template.as_ref()?;
    let tmeta = template.metadata.clone().unwrap_or_default();
    Some(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", name_of(&rs.metadata))),
            namespace: rs.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![new_controller_ref(
                "apps/v1",
                "ReplicaSet",
                &rs.metadata,
            )]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

/// Pods of the ReplicaSets that share this ReplicaSet's controller
/// (`getIndirectlyRelatedPods`), selected by each one's selector.
fn related_pods<'a>(
    rs: &ReplicaSet,
    replica_sets: &[Arc<ReplicaSet>],
    pods: &'a [Arc<Pod>],
) -> Vec<&'a Pod> {
    let Some(owner) = controller_of(&rs.metadata) else {
        return Vec::new();
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for sibling in replica_sets {
        if ns_of(&sibling.metadata) != ns_of(&rs.metadata)
            || controller_of(&sibling.metadata).is_none_or(|o| o.uid != owner.uid)
        {
            continue;
        }
        for pod in pods {
            if ns_of(&pod.metadata) == ns_of(&rs.metadata)
                && rs_selects(sibling, &pod.metadata)
                && seen.insert(uid_of(&pod.metadata).to_string())
            {
                out.push(pod.as_ref());
            }
        }
    }
    out
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match pod_phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0, // Pending, and anything unknown to upstream's map
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    annotations_of(&pod.metadata)
        .get(POD_DELETION_COST)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

/// Max restart count of regular containers and of restartable init containers.
fn max_restarts(pod: &Pod) -> (i32, i32) {
    let Some(status) = pod.status.as_ref() else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    let sidecar = status
        .init_container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

/// `logarithmicRankDiff` buckets: floor(log2(age in ns)), -1 for no age.
fn log_bucket(t: Option<Timestamp>, now: Timestamp) -> i64 {
    let Some(t) = t else { return i64::MIN };
    let nanos = now.as_nanosecond() - t.as_nanosecond();
    if nanos <= 0 {
        -1
    } else {
        (nanos as f64).log2().floor() as i64
    }
}

/// `getPodsToDelete`: the first `diff` pods in upstream's deletion order —
/// unassigned < assigned; Pending < Unknown < Running; not ready < ready; lower
/// pod-deletion-cost; more related pods on the same node; more recently ready;
/// more restarts; newer (LogarithmicScaleDown buckets); then uid.
///
/// Deviation: upstream breaks ties inside one log2 age bucket by uid right away;
/// this keeps a total order (Rust's sort requires one) by comparing restarts and
/// creation before the uid.
pub fn pods_to_delete<'a>(
    mut pods: Vec<&'a Pod>,
    related: &[&Pod],
    diff: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    if diff < pods.len() {
        let mut on_node: HashMap<&str, usize> = HashMap::new();
        for p in related {
            if is_pod_active(p) {
                *on_node
                    .entry(
                        p.spec
                            .as_ref()
                            .and_then(|s| s.node_name.as_deref())
                            .unwrap_or_default(),
                    )
                    .or_default() += 1;
            }
        }
        pods.sort_by_cached_key(|p| {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or_default();
            let ready = is_pod_ready(p);
            let ready_key = if ready {
                let t = pod_ready_time(p);
                (t.is_some(), log_bucket(t, now))
            } else {
                (false, 0)
            };
            let (regular, sidecar) = max_restarts(p);
            let c = created(&p.metadata);
            (
                !node.is_empty(),
                phase_ordinal(p),
                ready,
                deletion_cost(p),
                std::cmp::Reverse(on_node.get(node).copied().unwrap_or(0)),
                ready_key,
                std::cmp::Reverse(regular),
                std::cmp::Reverse(sidecar),
                (c.is_some(), log_bucket(c, now)),
                uid_of(&p.metadata).to_string(),
            )
        });
    }
    pods.truncate(diff);
    pods
}

/// `calculateStatus` over the claimed active pods.
pub fn calculate_status(rs: &ReplicaSet, pods: &[&Pod], now: Timestamp) -> ReplicaSetStatus {
    let template_labels = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = rs_min_ready(rs);
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    for pod in pods {
        let labels = labels_of(&pod.metadata);
        if template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            fully_labeled += 1;
        }
        if is_pod_ready(pod) {
            ready += 1;
            if is_pod_available(pod, min_ready, now) {
                available += 1;
            }
        }
    }
    let nz = |v: i32| (v != 0).then_some(v);
    let mut status = rs.status.clone().unwrap_or_default();
    status.replicas = pods.len() as i32;
    status.fully_labeled_replicas = nz(fully_labeled);
    status.ready_replicas = nz(ready);
    status.available_replicas = nz(available);
    status.observed_generation = rs.metadata.generation;
    status
}

/// Whether a status update is needed (`updateReplicaSetStatus`'s steady-state check).
fn status_differs(rs: &ReplicaSet, new: &ReplicaSetStatus) -> bool {
    let old = rs.status.clone().unwrap_or_default();
    let z = |v: Option<i32>| v.unwrap_or(0);
    old.replicas != new.replicas
        || z(old.fully_labeled_replicas) != z(new.fully_labeled_replicas)
        || z(old.ready_replicas) != z(new.ready_replicas)
        || z(old.available_replicas) != z(new.available_replicas)
        || old.observed_generation.unwrap_or(0) != rs.metadata.generation.unwrap_or(0)
        || old.conditions != new.conditions
}

#[derive(Debug, Clone)]
struct Pending {
    creates: BTreeSet<String>,
    deletes: BTreeSet<String>,
    since: Instant,
}

/// Creations and deletions a ReplicaSet is waiting to observe in the pod cache
/// (upstream `ControllerExpectations`), keyed by ReplicaSet uid. Checked against
/// the cache on every sync, so the order of watch events and API responses does
/// not matter; they expire after [`EXPECTATIONS_TIMEOUT`].
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    by_rs: HashMap<String, Pending>,
}

impl Expectations {
    fn entry(&mut self, rs_uid: &str, now: Instant) -> &mut Pending {
        let pending = self
            .by_rs
            .entry(rs_uid.to_string())
            .or_insert_with(|| Pending {
                creates: BTreeSet::new(),
                deletes: BTreeSet::new(),
                since: now,
            });
        pending.since = now;
        pending
    }

    /// A pod (`namespace/name`) was created for the ReplicaSet.
    pub fn expect_create(&mut self, rs_uid: &str, pod_key: &str, now: Instant) {
        self.entry(rs_uid, now).creates.insert(pod_key.to_string());
    }

    /// The pod cache applied these pods (`namespace/name`), perhaps only briefly:
    /// their creations are observed even if they are gone again.
    pub fn observed(&mut self, pod_keys: &[String]) {
        if pod_keys.is_empty() {
            return;
        }
        for pending in self.by_rs.values_mut() {
            pending.creates.retain(|k| !pod_keys.contains(k));
        }
    }

    /// The pod with uid `pod_uid` was deleted for the ReplicaSet.
    pub fn expect_delete(&mut self, rs_uid: &str, pod_uid: &str, now: Instant) {
        self.entry(rs_uid, now).deletes.insert(pod_uid.to_string());
    }

    /// Drops whatever the cache now shows, and answers whether nothing is left
    /// (or what is left has expired).
    pub fn satisfied(&mut self, rs_uid: &str, pods: &PodIndex<'_>, now: Instant) -> bool {
        let Some(pending) = self.by_rs.get_mut(rs_uid) else {
            return true;
        };
        pending
            .creates
            .retain(|key| !pods.keys.contains(key.as_str()));
        pending
            .deletes
            .retain(|uid| pods.live_uids.contains(uid.as_str()));
        let done = (pending.creates.is_empty() && pending.deletes.is_empty())
            || now.duration_since(pending.since) >= EXPECTATIONS_TIMEOUT;
        if done {
            self.by_rs.remove(rs_uid);
        }
        done
    }

    /// Forgets a ReplicaSet (it was deleted).
    pub fn forget(&mut self, rs_uid: &str) {
        self.by_rs.remove(rs_uid);
    }

    /// When the oldest pending expectation expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_rs
            .values()
            .map(|p| p.since + EXPECTATIONS_TIMEOUT)
            .min()
    }

    /// uids with pending expectations.
    pub fn keys(&self) -> Vec<String> {
        self.by_rs.keys().cloned().collect()
    }
}

/// Pods as expectations need them.
#[derive(Debug, Default)]
pub struct PodIndex<'a> {
    keys: BTreeSet<String>,
    live_uids: BTreeSet<&'a str>,
}

impl<'a> PodIndex<'a> {
    /// Indexes pods by `namespace/name`, and the uids of those not being deleted.
    pub fn new(pods: impl IntoIterator<Item = &'a Pod>) -> Self {
        let mut index = PodIndex::default();
        for pod in pods {
            index.keys.insert(key_of(&pod.metadata));
            if pod.metadata.deletion_timestamp.is_none() {
                index.live_uids.insert(uid_of(&pod.metadata));
            }
        }
        index
    }
}

/// Groups objects by namespace.
pub(crate) fn by_namespace<K: kube::Resource>(objs: &[Arc<K>]) -> BTreeMap<String, Vec<Arc<K>>> {
    let mut out: BTreeMap<String, Vec<Arc<K>>> = BTreeMap::new();
    for o in objs {
        out.entry(o.meta().namespace.clone().unwrap_or_default())
            .or_default()
            .push(o.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{PodExt, RsExt, mk_pod, mk_rs, ts};

    const WEB: &[(&str, &str)] = &[("app", "web")];

    fn run(rs: &ReplicaSet, pods: Vec<Pod>, now: i64) -> Plan {
        let pods: Vec<Arc<Pod>> = pods.into_iter().map(Arc::new).collect();
        let rss = vec![Arc::new(rs.clone())];
        reconcile_replicaset(ReplicaSetInput {
            rs,
            pods: &pods,
            replica_sets: &rss,
            expectations_satisfied: true,
            now: ts(now),
        })
    }

    fn owned(name: &str) -> Pod {
        mk_pod("default", name)
            .with_labels(WEB)
            .owned_by("apps/v1", "ReplicaSet", "web-1")
    }

    fn creates(plan: &Plan) -> Vec<&Pod> {
        plan.actions()
            .filter_map(|a| match a {
                Action::CreatePod { pod, .. } => Some(pod.as_ref()),
                _ => None,
            })
            .collect()
    }

    fn deletes(plan: &Plan) -> Vec<String> {
        plan.actions()
            .filter_map(|a| match a {
                Action::Delete { target, .. } => Some(target.name.clone()),
                _ => None,
            })
            .collect()
    }

    fn status(plan: &Plan) -> Option<ReplicaSetStatus> {
        plan.actions().find_map(|a| match a {
            Action::ReplaceReplicaSetStatus(rs) => rs.status.clone(),
            _ => None,
        })
    }

    #[test]
    fn creates_the_missing_pods_from_the_template_with_a_controller_reference() {
        let rs = mk_rs("default", "web-1", 3, WEB);
        let plan = run(&rs, vec![owned("web-1-aaaaa")], 0);
        let pods = creates(&plan);
        assert_eq!(pods.len(), 2);
        let pod = pods[0];
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-1-"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(
            labels_of(&pod.metadata).get("app").map(String::as_str),
            Some("web")
        );
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.name.as_str(),
                owner.uid.as_str()
            ),
            ("apps/v1", "ReplicaSet", "web-1", "uid-web-1")
        );
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert!(matches!(
            &plan.groups[0].actions[0],
            Action::CreatePod { recorder: Some((r, RS_COMPONENT)), .. } if r.kind.as_deref() == Some("ReplicaSet")
        ));
    }

    #[test]
    fn nothing_is_created_while_expectations_are_pending() {
        let rs = mk_rs("default", "web-1", 3, WEB);
        let pods: Vec<Arc<Pod>> = vec![];
        let rss = vec![Arc::new(rs.clone())];
        let plan = reconcile_replicaset(ReplicaSetInput {
            rs: &rs,
            pods: &pods,
            replica_sets: &rss,
            expectations_satisfied: false,
            now: ts(0),
        });
        assert!(creates(&plan).is_empty());
    }

    #[test]
    fn terminating_and_finished_pods_do_not_count() {
        let rs = mk_rs("default", "web-1", 2, WEB);
        let plan = run(
            &rs,
            vec![
                owned("a").phase("Running"),
                owned("b").deleting(),
                owned("c").phase("Failed"),
                owned("d").phase("Succeeded"),
            ],
            0,
        );
        assert_eq!(creates(&plan).len(), 1);
        assert_eq!(status(&plan).unwrap().replicas, 1);
    }

    #[test]
    fn extra_pods_are_deleted_in_upstream_order() {
        let rs = mk_rs("default", "web-1", 0, WEB);
        let pods = vec![
            owned("ready-old")
                .on_node("n1")
                .ready_since(10)
                .created_at(0),
            owned("ready-new")
                .on_node("n1")
                .ready_since(90)
                .created_at(80),
            owned("running-unready").on_node("n1").phase("Running"),
            owned("pending").on_node("n1"),
            owned("unassigned"),
            owned("unknown").on_node("n1").phase("Unknown"),
        ];
        let rs2 = {
            let mut r = rs.clone();
            r.spec.as_mut().unwrap().replicas = Some(1);
            r
        };
        let plan = run(&rs2, pods.clone(), 100);
        assert_eq!(
            deletes(&plan),
            [
                "unassigned",
                "pending",
                "unknown",
                "running-unready",
                "ready-new"
            ]
        );
        // Scaling to zero deletes everything.
        assert_eq!(deletes(&run(&rs, pods, 100)).len(), 6);
    }

    #[test]
    fn among_equals_more_restarts_then_newer_pods_go_first() {
        let rs = mk_rs("default", "web-1", 1, WEB);
        let pods = vec![
            owned("old").on_node("n1").phase("Running").created_at(0),
            owned("newer").on_node("n1").phase("Running").created_at(90),
            owned("crashy")
                .on_node("n1")
                .phase("Running")
                .created_at(0)
                .restarts(5),
        ];
        assert_eq!(deletes(&run(&rs, pods, 100)), ["crashy", "newer"]);
    }

    #[test]
    fn deletion_cost_and_doubled_up_nodes_are_considered() {
        let rs = mk_rs("default", "web-1", 2, WEB).owned_by_deployment("web");
        let mut cheap = owned("cheap").on_node("n1").phase("Running");
        cheap
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(POD_DELETION_COST.into(), "-10".into());
        let pods = vec![
            owned("alone").on_node("n3").phase("Running"),
            owned("crowded-1").on_node("n2").phase("Running"),
            owned("crowded-2").on_node("n2").phase("Running"),
            cheap,
        ];
        // cheap first (lower cost), then one of the two pods doubled up on n2.
        let got = deletes(&run(&rs, pods, 100));
        assert_eq!(got, ["cheap", "crowded-1"]);
    }

    #[test]
    fn orphans_matching_the_selector_are_adopted_and_counted() {
        let rs = mk_rs("default", "web-1", 1, WEB);
        let orphan = mk_pod("default", "stray").with_labels(WEB);
        let other =
            mk_pod("default", "theirs")
                .with_labels(WEB)
                .owned_by("apps/v1", "ReplicaSet", "other");
        let plan = run(&rs, vec![orphan, other], 0);
        let adopt = plan
            .actions()
            .find_map(|a| match a {
                Action::PatchOwnerReferences {
                    target,
                    owner_references,
                    resource_version,
                    ..
                } => Some((
                    target.name.clone(),
                    owner_references.clone(),
                    resource_version.clone(),
                )),
                _ => None,
            })
            .unwrap();
        assert_eq!(adopt.0, "stray");
        assert_eq!(adopt.1.len(), 1);
        assert_eq!(adopt.1[0].uid, "uid-web-1");
        assert_eq!(adopt.2.as_deref(), Some("1"));
        assert!(
            creates(&plan).is_empty(),
            "the adopted pod fills the one replica"
        );
    }

    #[test]
    fn owned_pods_that_no_longer_match_are_released() {
        let rs = mk_rs("default", "web-1", 1, WEB);
        let relabelled = mk_pod("default", "moved")
            .with_labels(&[("app", "debug")])
            .owned_by("apps/v1", "ReplicaSet", "web-1");
        let plan = run(&rs, vec![relabelled], 0);
        let released = plan.actions().find_map(|a| match a {
            Action::PatchOwnerReferences {
                target,
                owner_references,
                ..
            } => Some((target.name.clone(), owner_references.len())),
            _ => None,
        });
        assert_eq!(released, Some(("moved".to_string(), 0)));
        assert_eq!(creates(&plan).len(), 1);
    }

    #[test]
    fn a_replicaset_being_deleted_neither_adopts_nor_creates() {
        let mut rs = mk_rs("default", "web-1", 3, WEB);
        rs.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(5)));
        let plan = run(&rs, vec![mk_pod("default", "stray").with_labels(WEB)], 10);
        assert!(!plan.actions().any(|a| matches!(
            a,
            Action::CreatePod { .. } | Action::PatchOwnerReferences { .. }
        )));
    }

    #[test]
    fn status_counts_ready_available_and_fully_labeled_replicas() {
        let mut rs = mk_rs("default", "web-1", 3, WEB);
        rs.spec.as_mut().unwrap().min_ready_seconds = Some(30);
        rs.spec
            .as_mut()
            .unwrap()
            .template
            .as_mut()
            .unwrap()
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert("tier".into(), "front".into());
        let pods = vec![
            owned("a").ready_since(0).with_labels(&[("tier", "front")]),
            owned("b").ready_since(90),
            owned("c"),
        ];
        let plan = run(&rs, pods, 100);
        let s = status(&plan).unwrap();
        assert_eq!(s.replicas, 3);
        assert_eq!(s.fully_labeled_replicas, Some(1));
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(s.available_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(1));
        // b becomes available 30s after 90 → look again after ~21s.
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(21)));
    }

    #[test]
    fn steady_state_writes_nothing() {
        let rs = mk_rs("default", "web-1", 1, WEB).with_status(1, 1, 1);
        let plan = run(&rs, vec![owned("a").ready_since(0)], 100);
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn expectations_clear_when_the_cache_shows_the_work() {
        let now = Instant::now();
        let mut exp = Expectations::default();
        exp.expect_create("rs", "default/web-1-abcde", now);
        exp.expect_delete("rs", "uid-gone", now);
        let gone = mk_pod("default", "gone");
        let pods = [gone.clone()];
        assert!(!exp.satisfied("rs", &PodIndex::new(pods.iter()), now));
        let created = mk_pod("default", "web-1-abcde");
        let pods = [created, gone.deleting()];
        assert!(exp.satisfied("rs", &PodIndex::new(pods.iter()), now));
        // And they expire.
        exp.expect_create("rs", "default/never", now);
        assert!(exp.satisfied("rs", &PodIndex::default(), now + EXPECTATIONS_TIMEOUT));
        // A creation seen by the cache only in passing still counts.
        exp.expect_create("rs", "default/brief", now);
        exp.observed(&["default/brief".to_string()]);
        assert!(exp.satisfied("rs", &PodIndex::default(), now));
    }
}
