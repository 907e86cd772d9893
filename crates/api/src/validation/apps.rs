//! Deployments and ReplicaSets (pkg/apis/apps/validation/validation.go and the selector
//! immutability of pkg/registry/apps/{deployment,replicaset}/strategy.go).

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStatus, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::field::{FieldError, Path, Raw, go_map};
use crate::names::{self, NameRule};
use crate::validation::meta::{self, FIELD_IMMUTABLE, go_label_selector, non_negative};
use crate::validation::pod;

/// `ValidateDeployment`. `selector_given` tells a missing `spec.selector` from an empty one.
pub(crate) fn deployment(d: &Deployment, selector_given: bool) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &d.metadata,
        true,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    errs.extend(deployment_spec(
        &d.spec.clone().unwrap_or_default(),
        selector_given,
        &Path::new("spec"),
    ));
    errs
}

fn deployment_spec(spec: &DeploymentSpec, selector_given: bool, path: &Path) -> Vec<FieldError> {
    let mut errs = non_negative(
        i64::from(spec.replicas.unwrap_or(0)),
        &path.child("replicas"),
    );
    errs.extend(selector_and_template(
        &spec.selector,
        selector_given,
        &spec.template,
        path,
    ));
    let strategy = spec.strategy.clone().unwrap_or_default();
    let sp = path.child("strategy");
    match strategy.type_.as_deref().unwrap_or("") {
        "Recreate" => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    &sp.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(FieldError::required(
                &sp.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => errs.extend(rolling_update(ru, &sp.child("rollingUpdate"))),
        },
        other => errs.push(FieldError::not_supported(
            &sp,
            Raw(format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}",
                crate::field::go_quote(other)
            )),
            &["Recreate", "RollingUpdate"],
        )),
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    errs.extend(non_negative(
        i64::from(min_ready),
        &path.child("minReadySeconds"),
    ));
    if let Some(r) = spec.revision_history_limit {
        errs.extend(non_negative(
            i64::from(r),
            &path.child("revisionHistoryLimit"),
        ));
    }
    if let Some(p) = spec.progress_deadline_seconds {
        errs.extend(non_negative(
            i64::from(p),
            &path.child("progressDeadlineSeconds"),
        ));
        if p <= min_ready {
            errs.push(FieldError::invalid(
                &path.child("progressDeadlineSeconds"),
                p,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// The selector checks of `ValidateDeploymentSpec`/`ValidateReplicaSetSpec` and
/// `ValidatePodTemplateSpecForReplicaSet`.
fn selector_and_template(
    selector: &LabelSelector,
    selector_given: bool,
    template: &PodTemplateSpec,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let sel_path = path.child("selector");
    let is_empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty());
    if !selector_given {
        errs.push(FieldError::required(&sel_path, ""));
    } else {
        errs.extend(meta::label_selector(Some(selector), &sel_path));
        if is_empty {
            errs.push(FieldError::invalid(
                &sel_path,
                go_label_selector(selector),
                "empty selector is invalid for deployment",
            ));
        }
    }
    let tp = path.child("template");
    let template_labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if !selector_given {
        // A nil selector selects nothing, so it never matches the template.
        errs.push(FieldError::invalid(
            &tp.child("metadata").child("labels"),
            go_map(template.metadata.as_ref().and_then(|m| m.labels.as_ref())),
            "`selector` does not match template `labels`",
        ));
    } else {
        match knet_labels::Selector::from_label_selector(selector) {
            Err(_) => errs.push(FieldError::invalid(
                &sel_path,
                go_label_selector(selector),
                "invalid label selector",
            )),
            Ok(s) => {
                if !is_empty && !s.matches(&template_labels) {
                    errs.push(FieldError::invalid(
                        &tp.child("metadata").child("labels"),
                        go_map(template.metadata.as_ref().and_then(|m| m.labels.as_ref())),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
    }
    errs.extend(pod::pod_template_spec(template, &tp));
    let spec = template.spec.clone().unwrap_or_default();
    let rp = spec.restart_policy.as_deref().unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            &tp.child("spec").child("restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if spec.active_deadline_seconds.is_some() {
        errs.push(FieldError::forbidden(
            &tp.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    errs
}

fn int_or_string_go(v: &IntOrString) -> Raw {
    match v {
        IntOrString::Int(i) => Raw(i.to_string()),
        IntOrString::String(s) => Raw(s.clone()),
    }
}

/// `getIntOrPercentValue`.
fn int_or_percent_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => match s.strip_suffix('%') {
            Some(n) if names::percent(s).is_empty() => n.parse().unwrap_or(0),
            _ => s.parse().unwrap_or(0),
        },
    }
}

fn positive_int_or_percent(v: &IntOrString, path: &Path) -> Vec<FieldError> {
    match v {
        IntOrString::String(s) => names::percent(s)
            .iter()
            .map(|m| FieldError::invalid(path, int_or_string_go(v), m))
            .collect(),
        IntOrString::Int(i) => non_negative(i64::from(*i), path),
    }
}

/// `ValidateRollingUpdateDeployment`.
fn rolling_update(ru: &RollingUpdateDeployment, path: &Path) -> Vec<FieldError> {
    let zero = IntOrString::Int(0);
    let mu = ru.max_unavailable.as_ref().unwrap_or(&zero);
    let ms = ru.max_surge.as_ref().unwrap_or(&zero);
    let mut errs = positive_int_or_percent(mu, &path.child("maxUnavailable"));
    errs.extend(positive_int_or_percent(ms, &path.child("maxSurge")));
    if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
        errs.push(FieldError::invalid(
            &path.child("maxUnavailable"),
            int_or_string_go(mu),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    if let IntOrString::String(s) = mu
        && names::percent(s).is_empty()
        && int_or_percent_value(mu) > 100
    {
        errs.push(FieldError::invalid(
            &path.child("maxUnavailable"),
            int_or_string_go(mu),
            "must not be greater than 100%",
        ));
    }
    errs
}

/// Semantic equality of selectors: unset and empty lists and maps are equal.
fn selectors_equal(a: &LabelSelector, b: &LabelSelector) -> bool {
    let norm = |s: &LabelSelector| {
        let labels = s.match_labels.clone().unwrap_or_default();
        let exprs: Vec<(String, String, Vec<String>)> = s
            .match_expressions
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.key, e.operator, e.values.unwrap_or_default()))
            .collect();
        (labels, exprs)
    };
    norm(a) == norm(b)
}

/// apps/v1 selectors cannot change after creation (the apps/v1 strategies' ValidateUpdate).
fn immutable_selector(new: &LabelSelector, old: &LabelSelector) -> Option<FieldError> {
    (!selectors_equal(new, old)).then(|| {
        FieldError::invalid(
            &Path::new("spec").child("selector"),
            go_label_selector(new),
            FIELD_IMMUTABLE,
        )
    })
}

/// `ValidateDeploymentUpdate` plus the selector immutability of the apps/v1 strategy.
pub(crate) fn deployment_update(
    new: &Deployment,
    old: &Deployment,
    selector_given: bool,
) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let ns = new.spec.clone().unwrap_or_default();
    let os = old.spec.clone().unwrap_or_default();
    errs.extend(deployment_spec(&ns, selector_given, &Path::new("spec")));
    errs.extend(immutable_selector(&ns.selector, &os.selector));
    errs
}

/// `ValidateDeploymentStatusUpdate`.
pub(crate) fn deployment_status_update(new: &Deployment, old: &Deployment) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let s = new.status.clone().unwrap_or_default();
    errs.extend(deployment_status(&s, &Path::new("status")));
    let old_cc = old.status.as_ref().and_then(|s| s.collision_count);
    if let Some(o) = old_cc
        && s.collision_count.is_none_or(|n| n < o)
    {
        errs.push(FieldError::invalid(
            &Path::new("status").child("collisionCount"),
            s.collision_count.unwrap_or(0),
            "cannot be decremented",
        ));
    }
    errs
}

fn deployment_status(s: &DeploymentStatus, path: &Path) -> Vec<FieldError> {
    let mut errs = non_negative(
        s.observed_generation.unwrap_or(0),
        &path.child("observedGeneration"),
    );
    let replicas = s.replicas.unwrap_or(0);
    let updated = s.updated_replicas.unwrap_or(0);
    let ready = s.ready_replicas.unwrap_or(0);
    let available = s.available_replicas.unwrap_or(0);
    for (field, v) in [
        ("replicas", replicas),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("unavailableReplicas", s.unavailable_replicas.unwrap_or(0)),
    ] {
        errs.extend(non_negative(i64::from(v), &path.child(field)));
    }
    if let Some(c) = s.collision_count {
        errs.extend(non_negative(i64::from(c), &path.child("collisionCount")));
    }
    let msg = "cannot be greater than status.replicas";
    for (field, v) in [
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if v > replicas {
            errs.push(FieldError::invalid(&path.child(field), v, msg));
        }
    }
    if available > ready {
        errs.push(FieldError::invalid(
            &path.child("availableReplicas"),
            available,
            "cannot be greater than readyReplicas",
        ));
    }
    errs
}

/// `ValidateReplicaSet`.
pub(crate) fn replica_set(rs: &ReplicaSet, selector_given: bool) -> Vec<FieldError> {
    let mut errs = meta::object_meta(
        &rs.metadata,
        true,
        NameRule::Subdomain,
        &Path::new("metadata"),
    );
    errs.extend(replica_set_spec(
        &rs.spec.clone().unwrap_or_default(),
        selector_given,
        &Path::new("spec"),
    ));
    errs
}

fn replica_set_spec(spec: &ReplicaSetSpec, selector_given: bool, path: &Path) -> Vec<FieldError> {
    let mut errs = non_negative(
        i64::from(spec.replicas.unwrap_or(0)),
        &path.child("replicas"),
    );
    errs.extend(non_negative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &path.child("minReadySeconds"),
    ));
    let template = spec.template.clone().unwrap_or_default();
    errs.extend(selector_and_template(
        &spec.selector,
        selector_given,
        &template,
        path,
    ));
    errs
}

/// `ValidateReplicaSetUpdate` plus the selector immutability of the apps/v1 strategy.
pub(crate) fn replica_set_update(
    new: &ReplicaSet,
    old: &ReplicaSet,
    selector_given: bool,
) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    let ns = new.spec.clone().unwrap_or_default();
    let os = old.spec.clone().unwrap_or_default();
    errs.extend(replica_set_spec(&ns, selector_given, &Path::new("spec")));
    errs.extend(immutable_selector(&ns.selector, &os.selector));
    errs
}

/// `ValidateReplicaSetStatusUpdate`.
pub(crate) fn replica_set_status_update(new: &ReplicaSet, old: &ReplicaSet) -> Vec<FieldError> {
    let mut errs = meta::object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(replica_set_status(
        &new.status.clone().unwrap_or_default(),
        &Path::new("status"),
    ));
    errs
}

fn replica_set_status(s: &ReplicaSetStatus, path: &Path) -> Vec<FieldError> {
    let replicas = s.replicas;
    let fully = s.fully_labeled_replicas.unwrap_or(0);
    let ready = s.ready_replicas.unwrap_or(0);
    let available = s.available_replicas.unwrap_or(0);
    let mut errs = Vec::new();
    for (field, v) in [
        ("replicas", replicas),
        ("fullyLabeledReplicas", fully),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        errs.extend(non_negative(i64::from(v), &path.child(field)));
    }
    errs.extend(non_negative(
        s.observed_generation.unwrap_or(0),
        &path.child("observedGeneration"),
    ));
    let msg = "cannot be greater than status.replicas";
    for (field, v) in [
        ("fullyLabeledReplicas", fully),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if v > replicas {
            errs.push(FieldError::invalid(&path.child(field), v, msg));
        }
    }
    if available > ready {
        errs.push(FieldError::invalid(
            &path.child("availableReplicas"),
            available,
            "cannot be greater than readyReplicas",
        ));
    }
    errs
}
