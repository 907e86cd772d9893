//! The namespace controller: empties a terminating Namespace, then finalizes it.
//!
//! Mirrors pkg/controller/namespace/deletion/namespaced_resources_deleter.go
//! (`Delete`, `deleteAllContent`, `finalizeNamespace`) and the status
//! conditions of status_condition_utils.go. Content is discovered and listed by
//! the loop; this module decides, from that listing, what to delete, which
//! conditions to report and when to remove the `kubernetes` finalizer.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition, NamespaceStatus};
use kube::core::ApiResource;

use crate::action::{Action, ObjectTarget, Plan, Propagation};
use crate::meta::{name_of, time};

/// The finalizer the namespace controller owns (`v1.FinalizerKubernetes`).
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

/// One object found in a terminating namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentObject {
    /// Name.
    pub name: String,
    /// uid.
    pub uid: Option<String>,
    /// deletionTimestamp is set (deletion under way).
    pub deleting: bool,
    /// metadata.finalizers.
    pub finalizers: Vec<String>,
}

/// The objects of one namespaced resource in the namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceContent {
    /// The resource.
    pub resource: ApiResource,
    /// Its objects in the namespace.
    pub objects: Vec<ContentObject>,
}

/// What one reconcile of one namespace sees.
#[derive(Debug, Clone, Copy)]
pub struct NamespaceInput<'a> {
    /// The Namespace.
    pub namespace: &'a Namespace,
    /// Everything listed in it, per resource.
    pub content: &'a [NamespaceContent],
    /// Discovery failed (partially): the error text.
    pub discovery_error: Option<&'a str>,
    /// Resources whose listing failed, as error texts.
    pub content_errors: &'a [String],
    /// The current time.
    pub now: Timestamp,
}

/// Order in which resources are emptied: workload controllers first, so they
/// do not replace what is being deleted, then pods, then the rest, events last.
fn deletion_rank(resource: &ApiResource) -> (u8, String, String) {
    let rank = match (resource.group.as_str(), resource.plural.as_str()) {
        ("apps", "deployments") => 0,
        ("apps", _) | ("batch", _) => 1,
        ("", "replicationcontrollers") => 1,
        ("", "pods") => 2,
        ("", "events") | ("events.k8s.io", "events") => 4,
        _ => 3,
    };
    (rank, resource.group.clone(), resource.plural.clone())
}

/// True when the namespace is terminating and still carries our finalizer.
pub fn needs_finalizing(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        && ns
            .spec
            .as_ref()
            .and_then(|s| s.finalizers.as_ref())
            .is_some_and(|f| f.iter().any(|x| x == NAMESPACE_FINALIZER))
}

/// Deletes everything in a terminating namespace; once nothing is left, removes
/// the `kubernetes` finalizer through `namespaces/{name}/finalize`.
pub fn reconcile_namespace(input: NamespaceInput<'_>) -> Plan {
    let ns = input.namespace;
    let name = name_of(&ns.metadata).to_string();
    let mut plan = Plan::new();
    if !needs_finalizing(ns) {
        return plan;
    }

    let mut content: Vec<&NamespaceContent> = input
        .content
        .iter()
        .filter(|c| !c.objects.is_empty())
        .collect();
    content.sort_by_key(|c| deletion_rank(&c.resource));

    // Deviation: a discovery error does not block finalizing (the loop falls
    // back to the fixed list of kinds knet serves); failed listings do.
    if content.is_empty() && input.content_errors.is_empty() {
        // finalizeNamespace: every finalizer but ours, sorted and unique.
        let mut finalized = ns.clone();
        let mut rest: Vec<String> = ns
            .spec
            .as_ref()
            .and_then(|s| s.finalizers.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f != NAMESPACE_FINALIZER)
            .collect();
        rest.sort();
        rest.dedup();
        finalized
            .spec
            .get_or_insert_with(Default::default)
            .finalizers = Some(rest);
        plan.push_group(
            format!("Namespace {name} content"),
            vec![Action::FinalizeNamespace(Box::new(finalized))],
        );
        return plan;
    }

    // Delete what is not yet being deleted.
    let mut deletes = Vec::new();
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
    for c in &content {
        for o in &c.objects {
            if o.deleting {
                *remaining
                    .entry(format!("{}.{}", c.resource.plural, c.resource.group))
                    .or_default() += 1;
                for f in &o.finalizers {
                    *finalizers.entry(f.clone()).or_default() += 1;
                }
            } else {
                deletes.push(Action::Delete {
                    target: ObjectTarget {
                        resource: c.resource.clone(),
                        namespace: Some(name.clone()),
                        name: o.name.clone(),
                    },
                    uid: o.uid.clone(),
                    propagation: Some(Propagation::Background),
                });
            }
        }
    }
    let issued = !deletes.is_empty();
    plan.push_group(format!("Namespace {name} content"), deletes);

    // Status: phase Terminating and the deletion conditions.
    let mut status = ns.status.clone().unwrap_or_default();
    let mut changed = false;
    if status.phase.as_deref() != Some("Terminating") {
        status.phase = Some("Terminating".into());
        changed = true;
    }
    let wanted = deletion_conditions(
        input.discovery_error,
        input.content_errors,
        &remaining,
        &finalizers,
        input.now,
    );
    changed |= update_conditions(&mut status, wanted, input.now);
    if changed {
        let mut updated = ns.clone();
        updated.status = Some(status);
        plan.push_group(
            format!("Namespace {name} status"),
            vec![Action::ReplaceNamespaceStatus(Box::new(updated))],
        );
    }

    plan.requeue(if issued {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(2)
    });
    plan
}

const CONDITION_TYPES: [&str; 5] = [
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
];

fn ok_condition(type_: &str, now: Timestamp) -> NamespaceCondition {
    let (reason, message) = match type_ {
        "NamespaceDeletionDiscoveryFailure" => (
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        "NamespaceDeletionGroupVersionParsingFailure" => (
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        "NamespaceDeletionContentFailure" => (
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        "NamespaceContentRemaining" => ("ContentRemoved", "All content successfully removed"),
        _ => (
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        ),
    };
    NamespaceCondition {
        type_: type_.into(),
        status: "False".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(time(now)),
    }
}

fn failing(type_: &str, reason: &str, message: String, now: Timestamp) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(time(now)),
    }
}

/// The failing conditions (upstream `namespaceConditionUpdater`).
fn deletion_conditions(
    discovery_error: Option<&str>,
    content_errors: &[String],
    remaining: &BTreeMap<String, usize>,
    finalizers: &BTreeMap<String, usize>,
    now: Timestamp,
) -> Vec<NamespaceCondition> {
    let mut out = Vec::new();
    if let Some(err) = discovery_error {
        out.push(failing(
            "NamespaceDeletionDiscoveryFailure",
            "DiscoveryFailed",
            err.to_string(),
            now,
        ));
    }
    if !content_errors.is_empty() {
        let mut msgs = content_errors.to_vec();
        msgs.sort();
        out.push(failing(
            "NamespaceDeletionContentFailure",
            "ContentDeletionFailed",
            format!(
                "Failed to delete all resource types, {} remaining: {}",
                msgs.len(),
                msgs.join(", ")
            ),
            now,
        ));
    }
    if !remaining.is_empty() {
        let mut parts: Vec<String> = remaining
            .iter()
            .map(|(gr, n)| format!("{gr} has {n} resource instances"))
            .collect();
        parts.sort();
        out.push(failing(
            "NamespaceContentRemaining",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
            now,
        ));
    }
    if !finalizers.is_empty() {
        let mut parts: Vec<String> = finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        parts.sort();
        out.push(failing(
            "NamespaceFinalizersRemaining",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            ),
            now,
        ));
    }
    out
}

/// `updateConditions`: every maintained type is present, failing or "ok";
/// lastTransitionTime moves only when the status flips.
fn update_conditions(
    status: &mut NamespaceStatus,
    wanted: Vec<NamespaceCondition>,
    now: Timestamp,
) -> bool {
    let mut changed = false;
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    for type_ in CONDITION_TYPES {
        let new = wanted
            .iter()
            .find(|c| c.type_ == type_)
            .cloned()
            .unwrap_or_else(|| ok_condition(type_, now));
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(new);
                changed = true;
            }
            Some(old) => {
                if old.status != new.status
                    || old.message != new.message
                    || old.reason != new.reason
                {
                    if old.status != new.status {
                        old.last_transition_time = Some(time(now));
                    }
                    old.status = new.status;
                    old.reason = new.reason;
                    old.message = new.message;
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::ts;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Event, NamespaceSpec, Pod};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn terminating(name: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                resource_version: Some("9".into()),
                deletion_timestamp: Some(Time(ts(0))),
                ..ObjectMeta::default()
            },
            spec: Some(NamespaceSpec {
                finalizers: Some(vec![NAMESPACE_FINALIZER.into()]),
            }),
            status: Some(NamespaceStatus {
                phase: Some("Active".into()),
                conditions: None,
            }),
        }
    }

    fn content<K: kube::Resource<DynamicType = ()>>(names: &[(&str, bool)]) -> NamespaceContent {
        NamespaceContent {
            resource: ApiResource::erase::<K>(&()),
            objects: names
                .iter()
                .map(|(n, deleting)| ContentObject {
                    name: n.to_string(),
                    uid: Some(format!("uid-{n}")),
                    deleting: *deleting,
                    finalizers: if *deleting {
                        vec!["example.com/hold".into()]
                    } else {
                        vec![]
                    },
                })
                .collect(),
        }
    }

    fn run(ns: &Namespace, content: &[NamespaceContent]) -> Plan {
        reconcile_namespace(NamespaceInput {
            namespace: ns,
            content,
            discovery_error: None,
            content_errors: &[],
            now: ts(10),
        })
    }

    #[test]
    fn content_is_deleted_workloads_first_and_events_last_before_any_finalize() {
        let ns = terminating("shop");
        let plan = run(
            &ns,
            &[
                content::<Event>(&[("ev", false)]),
                content::<ConfigMap>(&[("cfg", false)]),
                content::<Pod>(&[("web-1", false)]),
                content::<Deployment>(&[("web", false)]),
            ],
        );
        let deleted: Vec<(String, String)> = plan
            .actions()
            .filter_map(|a| match a {
                Action::Delete {
                    target,
                    propagation,
                    ..
                } => {
                    assert_eq!(*propagation, Some(Propagation::Background));
                    assert_eq!(target.namespace.as_deref(), Some("shop"));
                    Some((target.resource.plural.clone(), target.name.clone()))
                }
                _ => None,
            })
            .collect();
        let plurals: Vec<&str> = deleted.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(plurals, ["deployments", "pods", "configmaps", "events"]);
        assert!(
            !plan
                .actions()
                .any(|a| matches!(a, Action::FinalizeNamespace(_)))
        );
        let status = plan
            .actions()
            .find_map(|a| match a {
                Action::ReplaceNamespaceStatus(n) => n.status.clone(),
                _ => None,
            })
            .unwrap();
        assert_eq!(status.phase.as_deref(), Some("Terminating"));
        assert_eq!(status.conditions.as_ref().unwrap().len(), 5);
        assert_eq!(plan.requeue_after, Some(Duration::from_secs(1)));
    }

    #[test]
    fn remaining_content_is_reported_and_waited_for() {
        let ns = terminating("shop");
        let plan = run(&ns, &[content::<Pod>(&[("web-1", true), ("web-2", true)])]);
        assert!(
            !plan
                .actions()
                .any(|a| matches!(a, Action::Delete { .. } | Action::FinalizeNamespace(_)))
        );
        let status = plan
            .actions()
            .find_map(|a| match a {
                Action::ReplaceNamespaceStatus(n) => n.status.clone(),
                _ => None,
            })
            .unwrap();
        let cond = |t: &str| {
            status
                .conditions
                .as_ref()
                .unwrap()
                .iter()
                .find(|c| c.type_ == t)
                .cloned()
                .unwrap()
        };
        let remaining = cond("NamespaceContentRemaining");
        assert_eq!(remaining.status, "True");
        assert_eq!(
            remaining.message.as_deref(),
            Some("Some resources are remaining: pods. has 2 resource instances")
        );
        assert_eq!(
            cond("NamespaceFinalizersRemaining").message.as_deref(),
            Some(
                "Some content in the namespace has finalizers remaining: example.com/hold in 2 resource instances"
            )
        );
        assert_eq!(
            cond("NamespaceDeletionDiscoveryFailure").reason.as_deref(),
            Some("ResourcesDiscovered")
        );
    }

    #[test]
    fn an_empty_namespace_is_finalized_keeping_other_finalizers() {
        let mut ns = terminating("shop");
        ns.spec.as_mut().unwrap().finalizers =
            Some(vec!["z.example/x".into(), NAMESPACE_FINALIZER.into()]);
        let plan = run(&ns, &[content::<Pod>(&[])]);
        let actions: Vec<&Action> = plan.actions().collect();
        assert_eq!(actions.len(), 1);
        let Action::FinalizeNamespace(n) = actions[0] else {
            panic!("expected finalize, got {actions:?}");
        };
        assert_eq!(
            n.spec.as_ref().unwrap().finalizers.as_deref(),
            Some(&["z.example/x".to_string()][..])
        );
    }

    #[test]
    fn discovery_and_listing_failures_are_reported_and_listing_failures_block_finalizing() {
        let ns = terminating("shop");
        let errors = vec!["widgets.example.com: boom".to_string()];
        let plan = reconcile_namespace(NamespaceInput {
            namespace: &ns,
            content: &[],
            discovery_error: Some("unable to retrieve the complete list of server APIs"),
            content_errors: &errors,
            now: ts(10),
        });
        assert!(
            !plan
                .actions()
                .any(|a| matches!(a, Action::FinalizeNamespace(_)))
        );
        let Some(Action::ReplaceNamespaceStatus(n)) = plan.actions().next() else {
            panic!("expected a status update");
        };
        let c = n.status.as_ref().unwrap().conditions.as_ref().unwrap();
        assert!(
            c.iter()
                .any(|c| c.type_ == "NamespaceDeletionDiscoveryFailure" && c.status == "True")
        );
        let failure = c
            .iter()
            .find(|c| c.type_ == "NamespaceDeletionContentFailure")
            .unwrap();
        assert_eq!(
            failure.message.as_deref(),
            Some("Failed to delete all resource types, 1 remaining: widgets.example.com: boom")
        );
    }

    #[test]
    fn live_or_already_finalized_namespaces_are_ignored() {
        let mut live = terminating("a");
        live.metadata.deletion_timestamp = None;
        assert!(run(&live, &[content::<Pod>(&[("p", false)])]).is_empty());
        let mut done = terminating("b");
        done.spec.as_mut().unwrap().finalizers = Some(vec![]);
        assert!(run(&done, &[content::<Pod>(&[("p", false)])]).is_empty());
    }
}
