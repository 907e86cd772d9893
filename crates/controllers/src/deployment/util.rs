//! Helpers of the Deployment controller, mirroring
//! pkg/controller/deployment/util/deployment_util.go.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::meta::{annotations_of, created, name_of, scaled_value, time};

/// Revision of a ReplicaSet in its Deployment's rollout sequence.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Older revisions a ReplicaSet served (rollbacks).
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's desired replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` when the ReplicaSet was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// Label carrying the template hash (`apps.DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Replica counts are clamped to this so that sums of a few ReplicaSets can
/// never overflow `i32` (validation only bounds each field, not their sums).
pub(crate) const MAX_REPLICAS: i32 = 10_000_000;

fn clamp(v: i32) -> i32 {
    v.clamp(0, MAX_REPLICAS)
}

/// Upstream `maxRevHistoryLengthInChars`.
pub(crate) const MAX_REV_HISTORY_LENGTH_IN_CHARS: usize = 2000;

const ANNOTATIONS_TO_SKIP: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];

// Condition reasons (deployment_util.go).
pub(crate) const REASON_RS_UPDATED: &str = "ReplicaSetUpdated";
pub(crate) const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub(crate) const REASON_FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub(crate) const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub(crate) const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub(crate) const REASON_PAUSED: &str = "DeploymentPaused";
pub(crate) const REASON_RESUMED: &str = "DeploymentResumed";
pub(crate) const REASON_MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub(crate) const REASON_MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

// ---- spec accessors with apps/v1 defaults (pkg/apis/apps/v1/defaults.go) ----

pub(crate) fn d_replicas(d: &Deployment) -> i32 {
    clamp(d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
}

pub(crate) fn d_min_ready(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

pub(crate) fn d_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

pub(crate) fn is_rolling_update(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

pub(crate) fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

fn default_25() -> IntOrString {
    IntOrString::String("25%".into())
}

fn surge_and_unavailable(d: &Deployment) -> (IntOrString, IntOrString) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    (
        ru.and_then(|r| r.max_surge.clone())
            .unwrap_or_else(default_25),
        ru.and_then(|r| r.max_unavailable.clone())
            .unwrap_or_else(default_25),
    )
}

/// `ResolveFenceposts`: maxSurge rounded up, maxUnavailable rounded down; if
/// both resolve to zero, maxUnavailable becomes 1.
pub fn resolve_fenceposts(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
    desired: i32,
) -> Result<(i32, i32), String> {
    let surge = clamp(scaled_value(max_surge, desired, true)?);
    let mut unavailable = clamp(scaled_value(max_unavailable, desired, false)?);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

/// `MaxSurge`: 0 unless rolling update.
pub(crate) fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    let (s, u) = surge_and_unavailable(d);
    resolve_fenceposts(&s, &u, d_replicas(d))
        .map(|(s, _)| s)
        .unwrap_or(0)
}

/// `MaxUnavailable`: 0 unless rolling update with replicas; capped at replicas.
pub(crate) fn max_unavailable(d: &Deployment) -> i32 {
    let replicas = d_replicas(d);
    if !is_rolling_update(d) || replicas == 0 {
        return 0;
    }
    let (s, u) = surge_and_unavailable(d);
    let v = resolve_fenceposts(&s, &u, replicas)
        .map(|(_, u)| u)
        .unwrap_or(0);
    v.min(replicas)
}

pub(crate) fn progress_deadline(d: &Deployment) -> Option<i32> {
    // Default 600; i32::MAX means "no deadline" (HasProgressDeadline).
    let v = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600);
    (v != i32::MAX).then_some(v)
}

pub(crate) fn revision_history_limit(d: &Deployment) -> Option<i32> {
    let v = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    (v != i32::MAX).then_some(v)
}

// ---- ReplicaSet accessors ----

pub(crate) fn rs_replicas(rs: &ReplicaSet) -> i32 {
    clamp(rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
}

pub(crate) fn set_rs_replicas(rs: &mut ReplicaSet, n: i32) {
    rs.spec.get_or_insert_with(Default::default).replicas = Some(n);
}

pub(crate) fn rs_status_replicas(rs: &ReplicaSet) -> i32 {
    clamp(rs.status.as_ref().map(|s| s.replicas).unwrap_or(0))
}

pub(crate) fn rs_available(rs: &ReplicaSet) -> i32 {
    clamp(
        rs.status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0),
    )
}

pub(crate) fn rs_ready(rs: &ReplicaSet) -> i32 {
    clamp(
        rs.status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
    )
}

pub(crate) fn rs_template(rs: &ReplicaSet) -> Option<&PodTemplateSpec> {
    rs.spec.as_ref().and_then(|s| s.template.as_ref())
}

/// `Revision`: the revision annotation, 0 when absent; `Err` when unparsable.
pub(crate) fn revision(rs: &ReplicaSet) -> Result<i64, ()> {
    match annotations_of(&rs.metadata).get(REVISION_ANNOTATION) {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| ()),
    }
}

/// `ReplicaSetsByCreationTimestamp`: older first, then by name.
pub(crate) fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(&a.metadata)
        .cmp(&created(&b.metadata))
        .then_with(|| name_of(&a.metadata).cmp(name_of(&b.metadata)))
}

/// `ReplicaSetsBySizeOlder`: larger first, ties older first.
pub(crate) fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// `ReplicaSetsBySizeNewer`: larger first, ties newer first.
pub(crate) fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// `ReplicaSetsByRevision`: lower revision first, ties by creation.
pub(crate) fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    match (revision(a), revision(b)) {
        (Ok(x), Ok(y)) if x != y => x.cmp(&y),
        _ => by_creation(a, b),
    }
}

/// `EqualIgnoreHash`: templates equal once the hash label is dropped, with nil
/// and empty collections alike (apimachinery's semantic DeepEqual).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
        super::hash::canonical_json(&t)
    };
    strip(a) == strip(b)
}

// ---- annotations ----

fn annotations_mut(rs: &mut ReplicaSet) -> &mut BTreeMap<String, String> {
    rs.metadata.annotations.get_or_insert_with(Default::default)
}

/// `SetReplicasAnnotations`.
pub(crate) fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let mut updated = false;
    let ann = annotations_mut(rs);
    for (key, value) in [
        (DESIRED_REPLICAS_ANNOTATION, desired),
        (MAX_REPLICAS_ANNOTATION, max),
    ] {
        let value = value.to_string();
        if ann.get(key) != Some(&value) {
            ann.insert(key.to_string(), value);
            updated = true;
        }
    }
    updated
}

/// `ReplicasAnnotationsNeedUpdate`.
pub(crate) fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let ann = annotations_of(&rs.metadata);
    ann.get(DESIRED_REPLICAS_ANNOTATION) != Some(&desired.to_string())
        || ann.get(MAX_REPLICAS_ANNOTATION) != Some(&max.to_string())
}

pub(crate) fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotations_of(&rs.metadata)
        .get(key)
        .and_then(|v| v.parse().ok())
}

/// `SetNewReplicaSetAnnotations`: copy the Deployment's annotations (except the
/// skipped ones), raise the revision, keep a revision history, and, for a
/// ReplicaSet about to be created, set the replicas annotations.
pub(crate) fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    for (k, v) in annotations_of(&d.metadata) {
        if ANNOTATIONS_TO_SKIP.contains(&k.as_str())
            || annotations_of(&rs.metadata).get(k) == Some(v)
        {
            continue;
        }
        annotations_mut(rs).insert(k.clone(), v.clone());
        changed = true;
    }
    let old_revision = annotations_of(&rs.metadata)
        .get(REVISION_ANNOTATION)
        .cloned();
    let old_revision_int = match old_revision.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            // Upstream gives up (and reports no change) on a bad revision.
            Err(_) => return false,
        },
    };
    if old_revision_int < new_revision {
        annotations_mut(rs).insert(REVISION_ANNOTATION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old_revision {
            // Rolling back to this ReplicaSet: remember the old revision.
            let history = annotations_of(&rs.metadata)
                .get(REVISION_HISTORY_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations_mut(rs).insert(REVISION_HISTORY_ANNOTATION.into(), old);
            } else {
                let mut parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_LENGTH_IN_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_LENGTH_IN_CHARS {
                    parts = parts.split_off(start);
                    parts.push(&old);
                    let joined = parts.join(",");
                    annotations_mut(rs).insert(REVISION_HISTORY_ANNOTATION.into(), joined);
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, d_replicas(d), d_replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

// ---- conditions ----

pub(crate) fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(time(now)),
        last_transition_time: Some(time(now)),
    }
}

pub(crate) fn get_condition<'a>(
    status: &'a DeploymentStatus,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == type_)
}

/// `SetDeploymentCondition`: no-op when status and reason are unchanged; keeps
/// lastTransitionTime when only the reason changes.
pub(crate) fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get_condition(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_);
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
}

pub(crate) fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 4), Ok((1, 1)));
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 3), Ok((1, 0)));
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 10), Ok((3, 2)));
        assert_eq!(
            resolve_fenceposts(&IntOrString::Int(1), &IntOrString::Int(0), 3),
            Ok((1, 0))
        );
        // Never both zero.
        assert_eq!(resolve_fenceposts(&pct("0%"), &pct("1%"), 2), Ok((0, 1)));
        assert!(resolve_fenceposts(&pct("abc"), &pct("1%"), 2).is_err());
    }
}
