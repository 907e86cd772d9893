//! The Deployment controller: rolls a Deployment's pod template out through
//! ReplicaSets.
//!
//! Mirrors pkg/controller/deployment: `syncDeployment`
//! (deployment_controller.go), `sync`, `scale`, `getNewReplicaSet`,
//! `cleanupDeployment`, `calculateStatus` (sync.go), `rolloutRolling` and friends
//! (rolling.go), `rolloutRecreate` (recreate.go), `syncRolloutStatus`
//! (progress.go) and util/deployment_util.go.
//!
//! One reconcile is one upstream sync, computed on working copies: every write a
//! sync would make to the same ReplicaSet is folded into one create or PUT, and
//! the several status writes into one status PUT at the end. ReplicaSet specs
//! used for the status are the ones read at the start of the sync, as upstream's
//! stale pointers give.

mod hash;
mod util;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

pub use hash::{compute_hash, safe_encode};
use util::*;
pub use util::{
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION, equal_ignore_hash, resolve_fenceposts,
};

use crate::action::{Action, EventSpec, EventType, ObjectTarget, Plan};
use crate::meta::{
    add_seconds, annotations_of, controller_of, is_being_deleted, is_controlled_by, key_of,
    labels_of, name_of, new_controller_ref, ns_of, object_reference, pod_phase, uid_of, until,
};
use crate::selector::{matches, selects_everything};

/// `source.component` of the Deployment controller's events.
pub const DEPLOYMENT_COMPONENT: &str = "deployment-controller";

/// The inputs of one Deployment sync.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentInput<'a> {
    /// The Deployment.
    pub deployment: &'a Deployment,
    /// All ReplicaSets of its namespace.
    pub replica_sets: &'a [Arc<ReplicaSet>],
    /// All pods of its namespace (only Recreate looks at them).
    pub pods: &'a [Arc<Pod>],
    /// The current time.
    pub now: Timestamp,
}

/// A ReplicaSet during a sync: what was read, and what it should become.
#[derive(Debug, Clone)]
struct Slot {
    /// As read; `None` when this sync creates it.
    original: Option<ReplicaSet>,
    current: ReplicaSet,
}

impl Slot {
    /// The object status is computed from (see the module docs).
    fn for_status(&self) -> &ReplicaSet {
        self.original.as_ref().unwrap_or(&self.current)
    }
    fn modified(&self) -> bool {
        match &self.original {
            None => true,
            Some(o) => o.metadata != self.current.metadata || o.spec != self.current.spec,
        }
    }
}

/// A sync stopped early (upstream returns an error and requeues).
struct Stop;

struct Sync<'a> {
    original: &'a Deployment,
    d: Deployment,
    slots: Vec<Slot>,
    claim_actions: Vec<Action>,
    events: Vec<EventSpec>,
    deletes: Vec<Action>,
    namespace_rs: &'a [Arc<ReplicaSet>],
    pods: &'a [Arc<Pod>],
    now: Timestamp,
    requeue: Option<Duration>,
}

/// Syncs one Deployment.
pub fn reconcile_deployment(input: DeploymentInput<'_>) -> Plan {
    let d = input.deployment;
    let key = format!("Deployment {}", key_of(&d.metadata));
    let mut plan = Plan::new();
    let Some(spec) = d.spec.as_ref() else {
        return plan;
    };

    // A selector that selects everything is refused (syncDeployment).
    if selects_everything(&spec.selector) {
        let generation = d.metadata.generation.unwrap_or(0);
        let observed = d
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            .unwrap_or(0);
        if observed < generation {
            let mut updated = d.clone();
            updated
                .status
                .get_or_insert_with(Default::default)
                .observed_generation = Some(generation);
            plan.push_group(
                key,
                vec![
                    Action::Event(EventSpec {
                        involved: object_reference("apps/v1", "Deployment", &d.metadata),
                        type_: EventType::Warning,
                        reason: "SelectingAll".into(),
                        message: "This deployment is selecting all pods. A non-empty selector is required.".into(),
                        component: DEPLOYMENT_COMPONENT,
                        action: None,
                    }),
                    Action::ReplaceDeploymentStatus(Box::new(updated)),
                ],
            );
        }
        return plan;
    }
    if matches(&spec.selector, &BTreeMap::new()).is_err() {
        tracing::warn!(deployment = %key_of(&d.metadata), "invalid selector; not syncing");
        return plan;
    }

    let mut sync = Sync {
        original: d,
        d: d.clone(),
        slots: Vec::new(),
        claim_actions: Vec::new(),
        events: Vec::new(),
        deletes: Vec::new(),
        namespace_rs: input.replica_sets,
        pods: input.pods,
        now: input.now,
        requeue: None,
    };
    sync.claim_replica_sets();
    let _ = sync.run();
    let requeue = sync.requeue;
    plan.push_group(key, sync.into_actions());
    if let Some(after) = requeue {
        plan.requeue(after);
    }
    plan
}

impl Sync<'_> {
    fn run(&mut self) -> Result<(), Stop> {
        if is_being_deleted(&self.d.metadata) {
            return self.sync_status_only();
        }
        self.check_paused_conditions();
        if d_paused(&self.d) {
            return self.sync();
        }
        if self.is_scaling_event()? {
            return self.sync();
        }
        if is_recreate(&self.d) {
            self.rollout_recreate()
        } else {
            self.rollout_rolling()
        }
    }

    fn d_ref(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        object_reference("apps/v1", "Deployment", &self.original.metadata)
    }

    fn event(&mut self, message: String) {
        self.events.push(EventSpec {
            involved: self.d_ref(),
            type_: EventType::Normal,
            reason: "ScalingReplicaSet".into(),
            message,
            component: DEPLOYMENT_COMPONENT,
            action: None,
        });
    }

    fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    fn selects(&self, meta: &ObjectMeta) -> bool {
        self.d
            .spec
            .as_ref()
            .is_some_and(|s| matches(&s.selector, labels_of(meta)).unwrap_or(false))
    }

    /// `getReplicaSetsForDeployment`: ClaimReplicaSets (adopt orphans, release
    /// non-matching) over every ReplicaSet of the namespace.
    fn claim_replica_sets(&mut self) {
        let d_uid = uid_of(&self.d.metadata).to_string();
        let deleting = is_being_deleted(&self.d.metadata);
        let mut all: Vec<&Arc<ReplicaSet>> = self
            .namespace_rs
            .iter()
            .filter(|rs| ns_of(&rs.metadata) == ns_of(&self.d.metadata))
            .collect();
        all.sort_by(|a, b| by_creation(a, b));
        for rs in all {
            let selected = self.selects(&rs.metadata);
            match controller_of(&rs.metadata) {
                Some(owner) if owner.uid == d_uid => {
                    if selected {
                        self.slots.push(Slot {
                            original: Some((**rs).clone()),
                            current: (**rs).clone(),
                        });
                    } else if !deleting {
                        let refs: Vec<OwnerReference> = rs
                            .metadata
                            .owner_references
                            .iter()
                            .flatten()
                            .filter(|r| r.uid != d_uid)
                            .cloned()
                            .collect();
                        self.claim_actions.push(owner_patch(rs, refs));
                    }
                }
                Some(_) => {}
                None => {
                    if selected && !deleting && !is_being_deleted(&rs.metadata) {
                        let mut refs = rs.metadata.owner_references.clone().unwrap_or_default();
                        refs.push(new_controller_ref(
                            "apps/v1",
                            "Deployment",
                            &self.d.metadata,
                        ));
                        self.claim_actions.push(owner_patch(rs, refs.clone()));
                        let mut adopted = (**rs).clone();
                        adopted.metadata.owner_references = Some(refs);
                        self.slots.push(Slot {
                            original: Some(adopted.clone()),
                            current: adopted,
                        });
                    }
                }
            }
        }
    }

    fn find_new(&self) -> Option<usize> {
        let template = &self.d.spec.as_ref()?.template;
        let hash = compute_hash(template, self.status().collision_count);
        let mut order: Vec<usize> = (0..self.slots.len()).collect();
        order.sort_by(|&a, &b| by_creation(&self.slots[a].current, &self.slots[b].current));
        // Upstream: the oldest ReplicaSet whose template equals ours ignoring the
        // hash. Also accepted (see hash.rs): one labelled with our current hash,
        // so a server that defaults ReplicaSet templates differently from
        // Deployment templates cannot make us create ReplicaSets forever.
        order.into_iter().find(|&i| {
            let rs = &self.slots[i].current;
            rs_template(rs).is_some_and(|t| equal_ignore_hash(t, template))
                || labels_of(&rs.metadata).get(POD_TEMPLATE_HASH_LABEL) == Some(&hash)
        })
    }

    fn olds(&self, new: Option<usize>) -> Vec<usize> {
        (0..self.slots.len()).filter(|&i| Some(i) != new).collect()
    }

    fn active(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter()
            .copied()
            .filter(|&i| rs_replicas(&self.slots[i].current) > 0)
            .collect()
    }

    fn sum_replicas(&self, idx: &[usize]) -> i32 {
        idx.iter()
            .map(|&i| rs_replicas(&self.slots[i].current))
            .fold(0i32, i32::saturating_add)
    }

    fn sort_idx(&self, idx: &mut [usize], cmp: fn(&ReplicaSet, &ReplicaSet) -> std::cmp::Ordering) {
        idx.sort_by(|&a, &b| cmp(&self.slots[a].current, &self.slots[b].current));
    }

    /// `getNewReplicaSet`, returning the slot of the new ReplicaSet.
    fn get_new_replica_set(&mut self, create: bool) -> Result<Option<usize>, Stop> {
        let existing = self.find_new();
        let olds = self.olds(existing);
        let max_old_revision = olds
            .iter()
            .filter_map(|&i| revision(&self.slots[i].current).ok())
            .max()
            .unwrap_or(0);
        let new_revision = max_old_revision.saturating_add(1);

        if let Some(i) = existing {
            let d = self.d.clone();
            let rs = &mut self.slots[i].current;
            let annotations_updated = set_new_rs_annotations(&d, rs, new_revision, true);
            let min_ready = d_min_ready(&d);
            let min_ready_needs_update = rs
                .spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0)
                != min_ready;
            if annotations_updated || min_ready_needs_update {
                rs.spec
                    .get_or_insert_with(Default::default)
                    .min_ready_seconds = (min_ready != 0).then_some(min_ready);
                return Ok(Some(i));
            }
            let rs_revision = annotations_of(&rs.metadata)
                .get(REVISION_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            let rs_name = name_of(&rs.metadata).to_string();
            self.set_deployment_revision(&rs_revision);
            if progress_deadline(&self.d).is_some()
                && get_condition(&self.status(), "Progressing").is_none()
            {
                let cond = new_condition(
                    "Progressing",
                    "True",
                    util::REASON_FOUND_NEW_RS,
                    format!("Found new replica set {rs_name:?}"),
                    self.now,
                );
                set_condition(self.d.status.get_or_insert_with(Default::default), cond);
            }
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }

        // Create the new ReplicaSet, named after the template hash.
        let spec = self.d.spec.clone().unwrap_or_default();
        let mut template = spec.template.clone();
        let hash = compute_hash(&template, self.status().collision_count);
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let name = format!("{}-{}", name_of(&self.d.metadata), hash);
        let min_ready = d_min_ready(&self.d);
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![new_controller_ref(
                    "apps/v1",
                    "Deployment",
                    &self.d.metadata,
                )]),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: (min_ready != 0).then_some(min_ready),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let replicas = self.new_rs_new_replicas(&olds, &new_rs);
        set_rs_replicas(&mut new_rs, replicas);
        set_new_rs_annotations(&self.d, &mut new_rs, new_revision, false);

        // The name is taken: ours but not yet visible to us, or a hash collision.
        if let Some(taken) = self.namespace_rs.iter().find(|rs| {
            ns_of(&rs.metadata) == ns_of(&self.d.metadata) && name_of(&rs.metadata) == name
        }) {
            if is_controlled_by(&taken.metadata, uid_of(&self.d.metadata)) {
                return Err(Stop);
            }
            let status = self.d.status.get_or_insert_with(Default::default);
            status.collision_count = Some(status.collision_count.unwrap_or(0).saturating_add(1));
            self.requeue = Some(Duration::ZERO);
            return Err(Stop);
        }

        self.slots.push(Slot {
            original: None,
            current: new_rs,
        });
        if replicas > 0 {
            self.event(format!("Scaled up replica set {name} from 0 to {replicas}"));
        }
        self.set_deployment_revision(&new_revision.to_string());
        if progress_deadline(&self.d).is_some() {
            let cond = new_condition(
                "Progressing",
                "True",
                util::REASON_NEW_RS_CREATED,
                format!("Created new replica set {name:?}"),
                self.now,
            );
            set_condition(self.d.status.get_or_insert_with(Default::default), cond);
        }
        Ok(Some(self.slots.len() - 1))
    }

    fn set_deployment_revision(&mut self, revision: &str) {
        let ann = self
            .d
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        if ann.get(REVISION_ANNOTATION).map(String::as_str) != Some(revision) {
            ann.insert(REVISION_ANNOTATION.into(), revision.to_string());
        }
    }

    /// `NewRSNewReplicas`.
    fn new_rs_new_replicas(&self, olds: &[usize], new_rs: &ReplicaSet) -> i32 {
        let replicas = d_replicas(&self.d);
        if is_recreate(&self.d) {
            return replicas;
        }
        let surge = max_surge(&self.d);
        let current = self.sum_replicas(olds) + rs_replicas(new_rs);
        let max_total = replicas + surge;
        if current >= max_total {
            return rs_replicas(new_rs);
        }
        let scale_up = (max_total - current).min(replicas - rs_replicas(new_rs));
        rs_replicas(new_rs) + scale_up
    }

    /// `scaleReplicaSetAndRecordEvent`.
    fn scale_and_record(&mut self, i: usize, new_scale: i32) -> bool {
        let current = rs_replicas(&self.slots[i].current);
        if current == new_scale {
            return false;
        }
        let op = if current < new_scale { "up" } else { "down" };
        self.scale_replica_set(i, new_scale, op)
    }

    /// `scaleReplicaSet`: sets the size and the replicas annotations; records
    /// "Scaled up/down replica set NAME from OLD to NEW" when the size changes.
    fn scale_replica_set(&mut self, i: usize, new_scale: i32, op: &str) -> bool {
        let replicas = d_replicas(&self.d);
        let max = replicas + max_surge(&self.d);
        let rs = &mut self.slots[i].current;
        let old = rs_replicas(rs);
        let size_needs_update = old != new_scale;
        if size_needs_update || replicas_annotations_need_update(rs, replicas, max) {
            set_rs_replicas(rs, new_scale);
            set_replicas_annotations(rs, replicas, max);
            if size_needs_update {
                let name = name_of(&rs.metadata).to_string();
                self.event(format!(
                    "Scaled {op} replica set {name} from {old} to {new_scale}"
                ));
                return true;
            }
        }
        false
    }

    /// `isScalingEvent`: an active ReplicaSet's desired-replicas annotation
    /// disagrees with `spec.replicas`.
    fn is_scaling_event(&mut self) -> Result<bool, Stop> {
        let new = self.get_new_replica_set(false)?;
        let mut all = self.olds(new);
        all.extend(new);
        let replicas = d_replicas(&self.d);
        Ok(self.active(&all).into_iter().any(|i| {
            int_annotation(&self.slots[i].current, DESIRED_REPLICAS_ANNOTATION)
                .is_some_and(|v| v != replicas)
        }))
    }

    /// `checkPausedConditions`.
    fn check_paused_conditions(&mut self) {
        if progress_deadline(&self.d).is_none() {
            return;
        }
        let status = self.status();
        let cond = get_condition(&status, "Progressing");
        if cond.is_some_and(|c| c.reason.as_deref() == Some(util::REASON_TIMED_OUT)) {
            return;
        }
        let paused_cond_exists =
            cond.is_some_and(|c| c.reason.as_deref() == Some(util::REASON_PAUSED));
        let paused = d_paused(&self.d);
        let condition = if paused && !paused_cond_exists {
            new_condition(
                "Progressing",
                "Unknown",
                util::REASON_PAUSED,
                "Deployment is paused".into(),
                self.now,
            )
        } else if !paused && paused_cond_exists {
            new_condition(
                "Progressing",
                "Unknown",
                util::REASON_RESUMED,
                "Deployment is resumed".into(),
                self.now,
            )
        } else {
            return;
        };
        set_condition(
            self.d.status.get_or_insert_with(Default::default),
            condition,
        );
    }

    /// `syncStatusOnly`.
    fn sync_status_only(&mut self) -> Result<(), Stop> {
        let new = self.get_new_replica_set(false)?;
        self.sync_deployment_status(new);
        Ok(())
    }

    /// `sync`: scaling events and paused Deployments.
    fn sync(&mut self) -> Result<(), Stop> {
        let new = self.get_new_replica_set(false)?;
        let olds = self.olds(new);
        self.scale(new, &olds);
        if d_paused(&self.d) {
            self.cleanup_deployment(&olds);
        }
        self.sync_deployment_status(new);
        Ok(())
    }

    /// `scale`: proportional scaling across active ReplicaSets.
    fn scale(&mut self, new: Option<usize>, olds: &[usize]) {
        let replicas = d_replicas(&self.d);
        if let Some(i) = self.find_active_or_latest(new, olds) {
            if rs_replicas(&self.slots[i].current) != replicas {
                self.scale_and_record(i, replicas);
            }
            return;
        }
        if let Some(n) = new
            && self.is_saturated(n)
        {
            for i in self.active(olds) {
                self.scale_and_record(i, 0);
            }
            return;
        }
        if !is_rolling_update(&self.d) {
            return;
        }
        let mut all: Vec<usize> = olds.to_vec();
        all.extend(new);
        let mut all = self.active(&all);
        let all_replicas = self.sum_replicas(&all);
        let allowed = if replicas > 0 {
            replicas + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - all_replicas;
        let op = match to_add.cmp(&0) {
            std::cmp::Ordering::Greater => {
                self.sort_idx(&mut all, by_size_newer);
                "up"
            }
            std::cmp::Ordering::Less => {
                self.sort_idx(&mut all, by_size_older);
                "down"
            }
            std::cmp::Ordering::Equal => "",
        };
        let mut added = 0;
        let mut sizes = Vec::with_capacity(all.len());
        for &i in &all {
            let rs = &self.slots[i].current;
            if to_add != 0 {
                let proportion = self.proportion(rs, to_add, added);
                sizes.push(rs_replicas(rs) + proportion);
                added += proportion;
            } else {
                sizes.push(rs_replicas(rs));
            }
        }
        for (pos, &i) in all.iter().enumerate() {
            let mut size = sizes[pos];
            if pos == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale_replica_set(i, size, op);
        }
    }

    /// `FindActiveOrLatest`.
    fn find_active_or_latest(&self, new: Option<usize>, olds: &[usize]) -> Option<usize> {
        if new.is_none() && olds.is_empty() {
            return None;
        }
        let mut sorted = olds.to_vec();
        self.sort_idx(&mut sorted, |a, b| by_creation(b, a));
        let mut all = sorted.clone();
        all.extend(new);
        let active = self.active(&all);
        match active.len() {
            0 => new.or_else(|| sorted.first().copied()),
            1 => Some(active[0]),
            _ => None,
        }
    }

    /// `IsSaturated`.
    fn is_saturated(&self, i: usize) -> bool {
        let rs = &self.slots[i].current;
        let replicas = d_replicas(&self.d);
        let Some(desired) = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) else {
            return false;
        };
        rs_replicas(rs) == replicas && desired == replicas && rs_available(rs) == replicas
    }

    /// `GetProportion` with `getReplicaSetFraction`.
    fn proportion(&self, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
        if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = {
            let replicas = d_replicas(&self.d);
            if replicas == 0 {
                -rs_replicas(rs)
            } else {
                let deployment_replicas = replicas + max_surge(&self.d);
                let annotated = int_annotation(rs, MAX_REPLICAS_ANNOTATION).unwrap_or_else(|| {
                    self.original
                        .status
                        .as_ref()
                        .and_then(|s| s.replicas)
                        .unwrap_or(0)
                });
                if annotated == 0 {
                    0
                } else {
                    let size = f64::from(rs_replicas(rs)) * f64::from(deployment_replicas)
                        / f64::from(annotated);
                    round_to_i32(size) - rs_replicas(rs)
                }
            }
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `rolloutRolling`.
    fn rollout_rolling(&mut self) -> Result<(), Stop> {
        let new = self.get_new_replica_set(true)?;
        let Some(n) = new else { return Ok(()) };
        let olds = self.olds(new);
        let mut all = olds.clone();
        all.push(n);

        if self.reconcile_new_replica_set(&all, n) {
            self.sync_rollout_status(new);
            return Ok(());
        }
        let active_olds = self.active(&olds);
        if self.reconcile_old_replica_sets(&all, active_olds, n) {
            self.sync_rollout_status(new);
            return Ok(());
        }
        if self.deployment_complete(&self.status()) {
            self.cleanup_deployment(&olds);
        }
        self.sync_rollout_status(new);
        Ok(())
    }

    /// `reconcileNewReplicaSet`.
    fn reconcile_new_replica_set(&mut self, all: &[usize], n: usize) -> bool {
        let replicas = d_replicas(&self.d);
        let current = rs_replicas(&self.slots[n].current);
        if current == replicas {
            return false;
        }
        if current > replicas {
            return self.scale_and_record(n, replicas);
        }
        let olds: Vec<usize> = all.iter().copied().filter(|&i| i != n).collect();
        let new_count = self.new_rs_new_replicas(&olds, &self.slots[n].current.clone());
        self.scale_and_record(n, new_count)
    }

    /// `reconcileOldReplicaSets`.
    fn reconcile_old_replica_sets(&mut self, all: &[usize], olds: Vec<usize>, n: usize) -> bool {
        if self.sum_replicas(&olds) == 0 {
            return false;
        }
        let all_pods = self.sum_replicas(all);
        let min_available = d_replicas(&self.d) - max_unavailable(&self.d);
        let new_rs = &self.slots[n].current;
        let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let (olds, cleaned) = self.cleanup_unhealthy_replicas(olds, max_scaled_down);
        let mut all = olds.clone();
        all.push(n);
        let scaled = self.scale_down_old_replica_sets_for_rolling_update(&all, olds);
        cleaned + scaled > 0
    }

    /// `cleanupUnhealthyReplicas`.
    fn cleanup_unhealthy_replicas(
        &mut self,
        mut olds: Vec<usize>,
        max_cleanup: i32,
    ) -> (Vec<usize>, i32) {
        self.sort_idx(&mut olds, by_creation);
        let mut total = 0;
        for &i in &olds {
            if total >= max_cleanup {
                break;
            }
            let rs = &self.slots[i].current;
            let replicas = rs_replicas(rs);
            let available = rs_available(rs);
            if replicas == 0 || replicas == available {
                continue;
            }
            let count = (max_cleanup - total).min(replicas - available);
            let new_count = replicas - count;
            if new_count > replicas {
                break;
            }
            self.scale_and_record(i, new_count);
            total += count;
        }
        (olds, total)
    }

    /// `scaleDownOldReplicaSetsForRollingUpdate`.
    fn scale_down_old_replica_sets_for_rolling_update(
        &mut self,
        all: &[usize],
        mut olds: Vec<usize>,
    ) -> i32 {
        let min_available = d_replicas(&self.d) - max_unavailable(&self.d);
        let available: i32 = all
            .iter()
            .map(|&i| rs_available(&self.slots[i].current))
            .fold(0i32, i32::saturating_add);
        if available <= min_available {
            return 0;
        }
        self.sort_idx(&mut olds, by_creation);
        let total_to_scale = available - min_available;
        let mut total = 0;
        for i in olds {
            if total >= total_to_scale {
                break;
            }
            let replicas = rs_replicas(&self.slots[i].current);
            if replicas == 0 {
                continue;
            }
            let count = replicas.min(total_to_scale - total);
            self.scale_and_record(i, replicas - count);
            total += count;
        }
        total
    }

    /// `rolloutRecreate`.
    fn rollout_recreate(&mut self) -> Result<(), Stop> {
        let mut new = self.get_new_replica_set(false)?;
        let olds = self.olds(new);
        let mut scaled_down = false;
        for i in self.active(&olds) {
            if self.scale_and_record(i, 0) {
                scaled_down = true;
            }
        }
        if scaled_down || self.old_pods_running(new, &olds) {
            self.sync_rollout_status(new);
            return Ok(());
        }
        if new.is_none() {
            new = self.get_new_replica_set(true)?;
        }
        if let Some(n) = new {
            let replicas = d_replicas(&self.d);
            self.scale_and_record(n, replicas);
        }
        if self.deployment_complete(&self.status()) {
            let olds = self.olds(new);
            self.cleanup_deployment(&olds);
        }
        self.sync_rollout_status(new);
        Ok(())
    }

    /// `oldPodsRunning`: old ReplicaSets report pods, or pods they control are
    /// not terminal.
    fn old_pods_running(&self, new: Option<usize>, olds: &[usize]) -> bool {
        let actual: i32 = olds
            .iter()
            .map(|&i| rs_status_replicas(&self.slots[i].current))
            .fold(0i32, i32::saturating_add);
        if actual > 0 {
            return true;
        }
        let new_uid = new.map(|n| uid_of(&self.slots[n].current.metadata).to_string());
        let owned: Vec<&str> = self
            .slots
            .iter()
            .filter(|s| s.original.is_some())
            .map(|s| uid_of(&s.current.metadata))
            .collect();
        self.pods.iter().any(|pod| {
            if ns_of(&pod.metadata) != ns_of(&self.d.metadata) || !self.selects(&pod.metadata) {
                return false;
            }
            let Some(owner) = controller_of(&pod.metadata) else {
                return false;
            };
            if Some(&owner.uid) == new_uid.as_ref() || !owned.contains(&owner.uid.as_str()) {
                return false;
            }
            !matches!(pod_phase(pod), "Failed" | "Succeeded")
        })
    }

    /// `cleanupDeployment`: delete the oldest zero-sized ReplicaSets beyond
    /// `revisionHistoryLimit`. ReplicaSets written in this sync are left alone
    /// (upstream sees their pre-sync spec and skips them too).
    fn cleanup_deployment(&mut self, olds: &[usize]) {
        let Some(limit) = revision_history_limit(&self.d) else {
            return;
        };
        let mut cleanable: Vec<usize> = olds
            .iter()
            .copied()
            .filter(|&i| !is_being_deleted(&self.slots[i].current.metadata))
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return;
        }
        self.sort_idx(&mut cleanable, by_revision);
        for &i in cleanable.iter().take(diff as usize) {
            let slot = &self.slots[i];
            let rs = &slot.current;
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if slot.modified()
                || rs_status_replicas(rs) != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            self.deletes.push(Action::Delete {
                target: ObjectTarget::of(rs),
                uid: rs.metadata.uid.clone(),
                propagation: None,
            });
        }
    }

    /// `calculateStatus` over the ReplicaSets as read (created ones as created).
    fn calculate_status(&self, new: Option<usize>) -> DeploymentStatus {
        let all: Vec<&ReplicaSet> = self.slots.iter().map(Slot::for_status).collect();
        let available: i32 = all
            .iter()
            .map(|rs| rs_available(rs))
            .fold(0i32, i32::saturating_add);
        let total: i32 = all
            .iter()
            .map(|rs| rs_replicas(rs))
            .fold(0i32, i32::saturating_add);
        let unavailable = (total - available).max(0);
        let nz = |v: i32| (v != 0).then_some(v);
        let previous = self.status();
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: nz(all
                .iter()
                .map(|rs| rs_status_replicas(rs))
                .fold(0i32, i32::saturating_add)),
            updated_replicas: nz(new
                .map(|n| rs_status_replicas(self.slots[n].for_status()))
                .unwrap_or(0)),
            ready_replicas: nz(all
                .iter()
                .map(|rs| rs_ready(rs))
                .fold(0i32, i32::saturating_add)),
            available_replicas: nz(available),
            unavailable_replicas: nz(unavailable),
            collision_count: previous.collision_count,
            conditions: previous.conditions.clone(),
            terminating_replicas: previous.terminating_replicas,
        };
        let condition = if available >= d_replicas(&self.d) - max_unavailable(&self.d) {
            new_condition(
                "Available",
                "True",
                util::REASON_MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
                self.now,
            )
        } else {
            new_condition(
                "Available",
                "False",
                util::REASON_MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                self.now,
            )
        };
        set_condition(&mut status, condition);
        status
    }

    /// `syncDeploymentStatus`.
    fn sync_deployment_status(&mut self, new: Option<usize>) {
        let status = self.calculate_status(new);
        self.d.status = Some(status);
    }

    /// `DeploymentComplete`.
    fn deployment_complete(&self, status: &DeploymentStatus) -> bool {
        let replicas = d_replicas(&self.d);
        status.updated_replicas.unwrap_or(0) == replicas
            && status.replicas.unwrap_or(0) == replicas
            && status.available_replicas.unwrap_or(0) == replicas
            && status.observed_generation.unwrap_or(0) >= self.d.metadata.generation.unwrap_or(0)
    }

    /// `syncRolloutStatus`, with `requeueStuckDeployment`.
    fn sync_rollout_status(&mut self, new: Option<usize>) {
        let mut status = self.calculate_status(new);
        let deadline = progress_deadline(&self.d);
        if deadline.is_none() {
            remove_condition(&mut status, "Progressing");
        }
        let current = self.status();
        let current_cond = get_condition(&current, "Progressing").cloned();
        let complete_before = status.replicas == status.updated_replicas
            && current_cond
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(util::REASON_NEW_RS_AVAILABLE));
        let d_name = name_of(&self.d.metadata).to_string();
        let new_name = new.map(|n| name_of(&self.slots[n].current.metadata).to_string());
        let subject = match &new_name {
            Some(n) => format!("ReplicaSet {n:?}"),
            None => format!("Deployment {d_name:?}"),
        };
        if deadline.is_some() && !complete_before {
            if self.deployment_complete(&status) {
                let cond = new_condition(
                    "Progressing",
                    "True",
                    util::REASON_NEW_RS_AVAILABLE,
                    format!("{subject} has successfully progressed."),
                    self.now,
                );
                set_condition(&mut status, cond);
            } else if self.progressing(&current, &status) {
                let mut cond = new_condition(
                    "Progressing",
                    "True",
                    util::REASON_RS_UPDATED,
                    format!("{subject} is progressing."),
                    self.now,
                );
                if let Some(c) = current_cond.as_ref() {
                    if c.status == "True" {
                        cond.last_transition_time = c.last_transition_time.clone();
                    }
                    remove_condition(&mut status, "Progressing");
                }
                set_condition(&mut status, cond);
            } else if self.timed_out(&status) {
                let cond = new_condition(
                    "Progressing",
                    "False",
                    util::REASON_TIMED_OUT,
                    format!("{subject} has timed out progressing."),
                    self.now,
                );
                set_condition(&mut status, cond);
            }
        }
        match self.replica_failure(new) {
            Some(cond) => set_condition(&mut status, cond),
            None => remove_condition(&mut status, "ReplicaFailure"),
        }
        if Some(&status) == self.d.status.as_ref() {
            self.requeue_stuck(&status);
        }
        self.d.status = Some(status);
    }

    /// `DeploymentProgressing`: more updated, fewer old, more ready or available.
    fn progressing(&self, old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
        let z = |v: Option<i32>| i64::from(v.unwrap_or(0));
        let old_old = z(old.replicas) - z(old.updated_replicas);
        let new_old = z(new.replicas) - z(new.updated_replicas);
        z(new.updated_replicas) > z(old.updated_replicas)
            || new_old < old_old
            || z(new.ready_replicas) > z(old.ready_replicas)
            || z(new.available_replicas) > z(old.available_replicas)
    }

    /// `DeploymentTimedOut`.
    fn timed_out(&self, status: &DeploymentStatus) -> bool {
        let Some(deadline) = progress_deadline(&self.d) else {
            return false;
        };
        let Some(cond) = get_condition(status, "Progressing") else {
            return false;
        };
        match cond.reason.as_deref() {
            Some(util::REASON_NEW_RS_AVAILABLE) => return false,
            Some(util::REASON_TIMED_OUT) => return true,
            _ => {}
        }
        let Some(from) = cond.last_update_time.as_ref() else {
            return false;
        };
        add_seconds(from.0, i64::from(deadline)) < self.now
    }

    /// `requeueStuckDeployment`.
    fn requeue_stuck(&mut self, status: &DeploymentStatus) {
        let Some(deadline) = progress_deadline(&self.d) else {
            return;
        };
        let current = self.status();
        let Some(cond) = get_condition(&current, "Progressing") else {
            return;
        };
        if self.deployment_complete(status)
            || cond.reason.as_deref() == Some(util::REASON_TIMED_OUT)
        {
            return;
        }
        let Some(last) = cond.last_update_time.as_ref() else {
            return;
        };
        let after = until(self.now, add_seconds(last.0, i64::from(deadline)));
        self.requeue = Some(if after < Duration::from_secs(1) {
            Duration::from_secs(1)
        } else {
            after + Duration::from_secs(1)
        });
    }

    /// `getReplicaFailures`: the new ReplicaSet's ReplicaFailure condition, else an old one's.
    fn replica_failure(&self, new: Option<usize>) -> Option<DeploymentCondition> {
        let convert = |rs: &ReplicaSet| {
            rs.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "ReplicaFailure"))
                .map(|c| DeploymentCondition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    last_transition_time: c.last_transition_time.clone(),
                    last_update_time: c.last_transition_time.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                })
        };
        if let Some(n) = new
            && let Some(c) = convert(&self.slots[n].current)
        {
            return Some(c);
        }
        self.slots.iter().find_map(|s| convert(&s.current))
    }

    /// Folds the sync into ordered actions: claims, ReplicaSet writes, events,
    /// ReplicaSet deletes, the Deployment's status and revision annotation.
    fn into_actions(self) -> Vec<Action> {
        let mut actions = self.claim_actions;
        // The new ReplicaSet is created before old ones are scaled down.
        for slot in self.slots.iter().filter(|s| s.original.is_none()) {
            actions.push(Action::CreateReplicaSet(Box::new(slot.current.clone())));
        }
        for slot in self
            .slots
            .iter()
            .filter(|s| s.original.is_some() && s.modified())
        {
            actions.push(Action::ReplaceReplicaSet(Box::new(slot.current.clone())));
        }
        actions.extend(self.events.into_iter().map(Action::Event));
        actions.extend(self.deletes);
        if self.d.status != self.original.status {
            actions.push(Action::ReplaceDeploymentStatus(Box::new(self.d.clone())));
        }
        let new_revision = annotations_of(&self.d.metadata).get(REVISION_ANNOTATION);
        if new_revision.is_some()
            && new_revision != annotations_of(&self.original.metadata).get(REVISION_ANNOTATION)
        {
            let mut annotations = BTreeMap::new();
            annotations.insert(
                REVISION_ANNOTATION.to_string(),
                new_revision.cloned().unwrap_or_default(),
            );
            actions.push(Action::PatchAnnotations {
                target: ObjectTarget::of(self.original),
                annotations,
            });
        }
        actions
    }
}

/// `integer.RoundToInt32`: half away from zero.
fn round_to_i32(v: f64) -> i32 {
    if v < 0.0 {
        (v - 0.5) as i32
    } else {
        (v + 0.5) as i32
    }
}

fn owner_patch(rs: &ReplicaSet, refs: Vec<OwnerReference>) -> Action {
    Action::PatchOwnerReferences {
        target: ObjectTarget::of(rs),
        uid: uid_of(&rs.metadata).to_string(),
        resource_version: rs.metadata.resource_version.clone(),
        owner_references: refs,
    }
}

#[cfg(test)]
mod tests;
