//! Object metadata, labels, annotations and label selectors
//! (`k8s.io/apimachinery/pkg/api/validation/objectmeta.go`, `apis/meta/v1/validation`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference, Time,
};

use crate::field::{FieldError, Path, Raw, go_quote, go_strings};
use crate::names::{self, NameRule};

/// Upstream `TotalAnnotationSizeLimitB`.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Upstream `FieldImmutableErrorMsg`.
pub(crate) const FIELD_IMMUTABLE: &str = "field is immutable";

/// Upstream `IsNegativeErrorMsg`.
pub(crate) const IS_NEGATIVE: &str = "must be greater than or equal to 0";

/// `ValidateObjectMeta` of pkg/apis/core/validation (apimachinery's plus kube finalizer names).
pub(crate) fn object_meta(
    meta: &ObjectMeta,
    namespaced: bool,
    rule: NameRule,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(generate) = meta.generate_name.as_deref().filter(|g| !g.is_empty()) {
        errs.extend(names::invalid_all(
            &path.child("generateName"),
            generate,
            rule.check(generate, true),
        ));
    }
    match meta.name.as_deref().filter(|n| !n.is_empty()) {
        None => errs.push(FieldError::required(
            &path.child("name"),
            "name or generateName is required",
        )),
        Some(name) => errs.extend(names::invalid_all(
            &path.child("name"),
            name,
            rule.check(name, false),
        )),
    }
    errs.extend(common(meta, namespaced, path));
    errs
}

/// The checks of `validateObjectMetaAccessorWithOptsCommon` and the kube finalizer names.
fn common(meta: &ObjectMeta, namespaced: bool, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ns = meta.namespace.as_deref().unwrap_or("");
    if namespaced {
        if ns.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            errs.extend(names::invalid_all(
                &path.child("namespace"),
                ns,
                NameRule::Label.check(ns, false),
            ));
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    if let Some(g) = meta.generation.filter(|g| *g < 0) {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            g,
            IS_NEGATIVE,
        ));
    }
    errs.extend(labels(meta.labels.as_ref(), &path.child("labels")));
    errs.extend(annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(owner_references(
        meta.owner_references.as_deref().unwrap_or_default(),
        &path.child("ownerReferences"),
    ));
    let finalizers = meta.finalizers.as_deref().unwrap_or_default();
    errs.extend(finalizer_list(finalizers, &path.child("finalizers")));
    for (i, f) in finalizers.iter().enumerate() {
        errs.extend(kube_finalizer_name(f, &path.child("finalizers").index(i)));
    }
    for (i, mf) in meta
        .managed_fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let p = path.child("managedFields").index(i);
        let op = mf.operation.as_deref().unwrap_or("");
        if op != "Apply" && op != "Update" {
            errs.push(FieldError::invalid(
                &p.child("operation"),
                op,
                "must be `Apply` or `Update`",
            ));
        }
        let ft = mf.fields_type.as_deref().unwrap_or("");
        if !ft.is_empty() && ft != "FieldsV1" {
            errs.push(FieldError::invalid(
                &p.child("fieldsType"),
                ft,
                "must be `FieldsV1`",
            ));
        }
    }
    errs
}

/// `ValidateObjectMetaUpdate`: name, namespace, uid and timestamps are immutable.
pub(crate) fn object_meta_update(
    new: &ObjectMeta,
    old: &ObjectMeta,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.deletion_timestamp.is_some() {
        let old_f = old.finalizers.as_deref().unwrap_or_default();
        let mut extra: Vec<String> = new
            .finalizers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|f| !old_f.contains(f))
            .cloned()
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("finalizers"),
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_strings(&extra).0
                ),
            ));
        }
    }
    let (ng, og) = (new.generation.unwrap_or(0), old.generation.unwrap_or(0));
    if ng < og {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            ng,
            "must not be decremented",
        ));
    }
    let immutable_str =
        |name: &str, n: &Option<String>, o: &Option<String>, errs: &mut Vec<FieldError>| {
            let (n, o) = (n.as_deref().unwrap_or(""), o.as_deref().unwrap_or(""));
            if n != o {
                errs.push(FieldError::invalid(&path.child(name), n, FIELD_IMMUTABLE));
            }
        };
    immutable_str("name", &new.name, &old.name, &mut errs);
    immutable_str("namespace", &new.namespace, &old.namespace, &mut errs);
    immutable_str("uid", &new.uid, &old.uid, &mut errs);
    if new.creation_timestamp != old.creation_timestamp {
        errs.push(FieldError::invalid(
            &path.child("creationTimestamp"),
            go_time(new.creation_timestamp.as_ref()),
            FIELD_IMMUTABLE,
        ));
    }
    if new.deletion_timestamp != old.deletion_timestamp {
        errs.push(FieldError::invalid(
            &path.child("deletionTimestamp"),
            go_time_ptr(new.deletion_timestamp.as_ref()),
            FIELD_IMMUTABLE,
        ));
    }
    if new.deletion_grace_period_seconds != old.deletion_grace_period_seconds {
        let v = match new.deletion_grace_period_seconds {
            Some(s) => s.to_string(),
            None => "null".to_string(),
        };
        errs.push(FieldError::invalid(
            &path.child("deletionGracePeriodSeconds"),
            Raw(v),
            FIELD_IMMUTABLE,
        ));
    }
    errs.extend(labels(new.labels.as_ref(), &path.child("labels")));
    errs.extend(annotations(
        new.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(owner_references(
        new.owner_references.as_deref().unwrap_or_default(),
        &path.child("ownerReferences"),
    ));
    let finalizers = new.finalizers.as_deref().unwrap_or_default();
    errs.extend(finalizer_list(finalizers, &path.child("finalizers")));
    for (i, f) in finalizers.iter().enumerate() {
        errs.extend(kube_finalizer_name(f, &path.child("finalizers").index(i)));
    }
    errs
}

/// Go's `time.Time.String()` of a `metav1.Time` (zero time when unset).
fn go_time(t: Option<&Time>) -> Raw {
    match t {
        Some(t) => Raw(format!("{} +0000 UTC", t.0.strftime("%Y-%m-%d %H:%M:%S"))),
        None => Raw("0001-01-01 00:00:00 +0000 UTC".to_string()),
    }
}

fn go_time_ptr(t: Option<&Time>) -> Raw {
    match t {
        Some(_) => go_time(t),
        None => Raw("null".to_string()),
    }
}

/// `ValidateLabels`: qualified-name keys and label values.
pub(crate) fn labels(map: Option<&BTreeMap<String, String>>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in map.into_iter().flatten() {
        errs.extend(label_name(k, path));
        errs.extend(names::invalid_all(path, v, names::label_value(v)));
    }
    errs
}

/// `ValidateLabelName`.
pub(crate) fn label_name(key: &str, path: &Path) -> Vec<FieldError> {
    names::invalid_all(path, key, names::qualified_name(key))
}

/// `ValidateAnnotations`: case-insensitive qualified-name keys, 256 KiB in total.
pub(crate) fn annotations(map: Option<&BTreeMap<String, String>>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in map.into_iter().flatten() {
        for msg in names::qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k, &msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn owner_references(refs: &[OwnerReference], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let version = r.api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                r.api_version.as_str(),
                "version must not be empty",
            ));
        }
        if r.kind.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("kind"),
                "",
                "must not be empty",
            ));
        }
        if r.name.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("name"),
                "",
                "must not be empty",
            ));
        }
        if r.uid.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("uid"),
                "",
                "must not be empty",
            ));
        }
        if r.api_version == "v1" && r.kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                Raw(format!(
                    "v1.OwnerReference{{APIVersion:\"v1\", Kind:\"Event\", Name:{}, UID:{}}}",
                    go_quote(&r.name),
                    go_quote(&r.uid)
                )),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.controller == Some(true) {
            let cur = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    Raw("[]v1.OwnerReference{...}".to_string()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {cur}"
                    ),
                )),
                None => first_controller = Some(cur),
            }
        }
    }
    errs
}

/// `ValidateFinalizers`: qualified names; orphan and foreground deletion exclude each other.
fn finalizer_list(finalizers: &[String], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in finalizers {
        errs.extend(names::invalid_all(path, f, names::qualified_name(f)));
    }
    if finalizers.iter().any(|f| f == "orphan")
        && finalizers.iter().any(|f| f == "foregroundDeletion")
    {
        errs.push(FieldError::invalid(
            path,
            go_strings(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// `validateKubeFinalizerName`: unqualified finalizers must be standard ones.
pub(crate) fn kube_finalizer_name(name: &str, path: &Path) -> Vec<FieldError> {
    if !name.contains('/') && !["kubernetes", "orphan", "foregroundDeletion"].contains(&name) {
        return vec![FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        )];
    }
    Vec::new()
}

/// `ValidateLabelSelector` (strict label values).
pub(crate) fn label_selector(sel: Option<&LabelSelector>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sel) = sel else {
        return errs;
    };
    errs.extend(labels(
        sel.match_labels.as_ref(),
        &path.child("matchLabels"),
    ));
    for (i, req) in sel
        .match_expressions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        errs.extend(selector_requirement(
            req,
            &path.child("matchExpressions").index(i),
        ));
    }
    errs
}

fn selector_requirement(req: &LabelSelectorRequirement, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    &path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        op => errs.push(FieldError::invalid(
            &path.child("operator"),
            op,
            "not a valid selector operator",
        )),
    }
    errs.extend(label_name(&req.key, &path.child("key")));
    for (i, v) in values.iter().enumerate() {
        errs.extend(names::invalid_all(
            &path.child("values").index(i),
            v,
            names::label_value(v),
        ));
    }
    errs
}

/// Go's `%#v` of a `v1.LabelSelector`, as upstream prints selectors in errors.
pub(crate) fn go_label_selector(sel: &LabelSelector) -> Raw {
    let ml = crate::field::go_map(sel.match_labels.as_ref()).0;
    let me = match sel.match_expressions.as_deref() {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(reqs) => {
            let items: Vec<String> = reqs
                .iter()
                .map(|r| {
                    let values = match r.values.as_deref() {
                        None => "[]string(nil)".to_string(),
                        Some(v) => go_strings(v).0,
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(&r.key),
                        go_quote(&r.operator),
                        values
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    Raw(format!(
        "v1.LabelSelector{{MatchLabels:{ml}, MatchExpressions:{me}}}"
    ))
}

/// Non-negative integer check (`ValidateNonnegativeField`).
pub(crate) fn non_negative(value: i64, path: &Path) -> Vec<FieldError> {
    if value < 0 {
        vec![FieldError::invalid(path, value, IS_NEGATIVE)]
    } else {
        Vec::new()
    }
}
