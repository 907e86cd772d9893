//! Small helpers over object metadata, pods and times, as upstream's
//! `metav1`, `podutil` and `controller_utils` provide them.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The ownerReference with `controller: true`, if any (`metav1.GetControllerOf`).
pub(crate) fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.controller == Some(true))
}

/// True when the object's controller reference names `uid` (`metav1.IsControlledBy`).
pub(crate) fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// `metav1.NewControllerRef`: controller and blockOwnerDeletion set.
pub(crate) fn new_controller_ref(
    api_version: &str,
    kind: &str,
    owner: &ObjectMeta,
) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// An ObjectReference for events (`involvedObject`).
pub(crate) fn object_reference(
    api_version: &str,
    kind: &str,
    meta: &ObjectMeta,
) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.to_string()),
        kind: Some(kind.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// `namespace/name` of an object, for keys and messages.
pub(crate) fn key_of(meta: &ObjectMeta) -> String {
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{}", name_of(meta)),
        _ => name_of(meta).to_string(),
    }
}

pub(crate) fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

pub(crate) fn ns_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or_default()
}

pub(crate) fn uid_of(meta: &ObjectMeta) -> &str {
    meta.uid.as_deref().unwrap_or_default()
}

pub(crate) fn labels_of(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    meta.labels.as_ref().unwrap_or(&EMPTY)
}

pub(crate) fn annotations_of(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    meta.annotations.as_ref().unwrap_or(&EMPTY)
}

pub(crate) fn is_being_deleted(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// Creation time, or `None` when unset (sorts as "zero" like Go's time.Time{}).
pub(crate) fn created(meta: &ObjectMeta) -> Option<Timestamp> {
    meta.creation_timestamp.as_ref().map(|t| t.0)
}

/// Now, truncated to whole seconds as the API serialises `metav1.Time`, so that a
/// value written and read back compares equal.
pub fn now_seconds() -> Timestamp {
    truncate_seconds(Timestamp::now())
}

pub(crate) fn truncate_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

pub(crate) fn time(t: Timestamp) -> Time {
    Time(t)
}

/// `t + secs` seconds, saturating at the representable range.
pub(crate) fn add_seconds(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or(t)
}

/// Non-negative duration from `now` until `t` (zero when `t` is past).
pub(crate) fn until(now: Timestamp, t: Timestamp) -> Duration {
    let d = t.duration_since(now);
    if d.is_negative() {
        Duration::ZERO
    } else {
        Duration::try_from(d).unwrap_or(Duration::ZERO)
    }
}

// ---- pods (pkg/api/v1/pod/util.go, pkg/controller/controller_utils.go) ----

pub(crate) fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// `controller.IsPodActive`: not Succeeded, not Failed, not being deleted.
pub(crate) fn is_pod_active(pod: &Pod) -> bool {
    let phase = pod_phase(pod);
    phase != "Succeeded" && phase != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

pub(crate) fn is_pod_terminal(pod: &Pod) -> bool {
    matches!(pod_phase(pod), "Succeeded" | "Failed")
}

pub(crate) fn pod_condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == type_)
}

/// `podutil.IsPodReady`: the Ready condition is True.
pub(crate) fn is_pod_ready(pod: &Pod) -> bool {
    pod_condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// When the pod became ready (Ready condition's lastTransitionTime), if ready.
pub(crate) fn pod_ready_time(pod: &Pod) -> Option<Timestamp> {
    pod_condition(pod, "Ready")
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

/// `podutil.IsPodAvailable`: ready for at least `min_ready_seconds`.
pub(crate) fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_pod_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    match pod_ready_time(pod) {
        Some(since) => add_seconds(since, i64::from(min_ready_seconds)) < now,
        None => false,
    }
}

/// How long until a ready pod becomes available, if it is ready but not yet available.
pub(crate) fn until_available(
    pod: &Pod,
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<Duration> {
    if min_ready_seconds <= 0 || !is_pod_ready(pod) || is_pod_available(pod, min_ready_seconds, now)
    {
        return None;
    }
    let since = pod_ready_time(pod)?;
    Some(until(now, add_seconds(since, i64::from(min_ready_seconds))) + Duration::from_secs(1))
}

// ---- intstr (staging/src/k8s.io/apimachinery/pkg/util/intstr/intstr.go) ----

/// `intstr.GetScaledValueFromIntOrPercent`: an int as is, or `N%` of `total`,
/// rounded up or down. Strings without `%` are an error, as upstream.
pub(crate) fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(v) => Ok(*v),
        IntOrString::String(s) => {
            let Some(num) = s.strip_suffix('%') else {
                return Err(format!(
                    "invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"
                ));
            };
            let pct: i64 = num
                .parse()
                .map_err(|_| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let product = pct * i64::from(total);
            let v = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(v).map_err(|_| format!("value {s:?} of {total} is out of range"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up_or_down_as_asked() {
        let p = IntOrString::String("25%".into());
        assert_eq!(scaled_value(&p, 3, true), Ok(1));
        assert_eq!(scaled_value(&p, 3, false), Ok(0));
        assert_eq!(scaled_value(&p, 4, true), Ok(1));
        assert_eq!(scaled_value(&p, 10, true), Ok(3));
        assert_eq!(scaled_value(&p, 10, false), Ok(2));
        assert_eq!(scaled_value(&IntOrString::Int(2), 10, false), Ok(2));
    }

    #[test]
    fn strings_without_percent_sign_are_rejected() {
        assert!(scaled_value(&IntOrString::String("3".into()), 10, true).is_err());
        assert!(scaled_value(&IntOrString::String("x%".into()), 10, true).is_err());
    }
}
