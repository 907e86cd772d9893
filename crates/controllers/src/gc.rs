//! The garbage collector: deletes dependents whose owners are gone, and runs
//! the `orphan` and `foregroundDeletion` finalizers.
//!
//! Mirrors pkg/controller/garbagecollector/garbagecollector.go:
//! `attemptToDeleteItem` (classify each ownerReference as solid, dangling or
//! waiting-for-dependents-deletion, then patch or delete),
//! `processDeletingDependentsItem` (foreground) and `attemptToOrphanWorker`
//! (orphan). The dependency graph is rebuilt from the watched caches on every
//! reconcile, over type-erased objects, so any kind can take part; owners of
//! kinds that are not watched are treated as existing (never collected on
//! their account), and dangling owners are verified live before acting.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::core::ApiResource;

use crate::action::{Action, ObjectTarget, OwnerProbe, Plan, Propagation};

/// `metav1.FinalizerOrphanDependents`.
pub const FINALIZER_ORPHAN: &str = "orphan";
/// `metav1.FinalizerDeleteDependents`.
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// An object as the garbage collector sees it: identity, owners, finalizers.
#[derive(Debug, Clone, PartialEq)]
pub struct GcObject {
    /// Its resource type.
    pub resource: ApiResource,
    /// Namespace, `None` when cluster-scoped.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// resourceVersion, used as precondition on patches.
    pub resource_version: Option<String>,
    /// ownerReferences.
    pub owner_references: Vec<OwnerReference>,
    /// metadata.finalizers.
    pub finalizers: Vec<String>,
    /// deletionTimestamp is set.
    pub deleting: bool,
}

impl GcObject {
    /// From any object's metadata.
    pub fn from_meta(resource: &ApiResource, meta: &ObjectMeta) -> Option<Self> {
        Some(GcObject {
            resource: resource.clone(),
            namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
            name: meta.name.clone()?,
            uid: meta.uid.clone()?,
            resource_version: meta.resource_version.clone(),
            owner_references: meta.owner_references.clone().unwrap_or_default(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
        })
    }

    fn target(&self) -> ObjectTarget {
        ObjectTarget {
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Being deleted in the foreground (`isDeletingDependents`).
    fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FINALIZER_FOREGROUND)
    }

    fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.resource.kind, self.name),
            None => format!("{} {}", self.resource.kind, self.name),
        }
    }
}

/// The group of an apiVersion ("apps/v1" → "apps", "v1" → "").
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// What one reconcile of the collector sees.
#[derive(Debug, Clone, Default)]
pub struct GcSnapshot {
    /// Every object of every watched kind whose cache is synced.
    pub objects: Vec<GcObject>,
    /// (group, kind) of those kinds, with their resource; an owner of one of
    /// these kinds that is not among `objects` is dangling.
    pub known: BTreeMap<(String, String), (ApiResource, bool)>,
}

impl GcSnapshot {
    /// Adds a synced kind and its objects.
    pub fn add_kind(
        &mut self,
        resource: &ApiResource,
        namespaced: bool,
        objects: impl IntoIterator<Item = GcObject>,
    ) {
        self.known.insert(
            (resource.group.clone(), resource.kind.clone()),
            (resource.clone(), namespaced),
        );
        self.objects.extend(objects);
    }
}

enum OwnerState<'a> {
    Solid,
    Dangling(OwnerProbe),
    Waiting(&'a GcObject),
}

/// One pass of the collector over the snapshot.
pub fn reconcile_garbage(snapshot: &GcSnapshot) -> Plan {
    let by_uid: BTreeMap<&str, &GcObject> = snapshot
        .objects
        .iter()
        .map(|o| (o.uid.as_str(), o))
        .collect();
    let mut dependents: BTreeMap<&str, Vec<&GcObject>> = BTreeMap::new();
    for o in &snapshot.objects {
        let mut seen = BTreeSet::new();
        for r in &o.owner_references {
            if seen.insert(r.uid.as_str()) {
                dependents.entry(r.uid.as_str()).or_default().push(o);
            }
        }
    }
    let deps_of = |uid: &str| dependents.get(uid).map(Vec::as_slice).unwrap_or_default();

    let mut objects: Vec<&GcObject> = snapshot.objects.iter().collect();
    objects.sort_by_cached_key(|o| o.key());

    let mut plan = Plan::new();
    for item in objects {
        // attemptToOrphanWorker: strip our reference from every dependent, then
        // drop the orphan finalizer.
        if item.deleting && item.has_finalizer(FINALIZER_ORPHAN) {
            let mut actions: Vec<Action> = deps_of(&item.uid)
                .iter()
                .map(|dep| patch_without(dep, &[item.uid.as_str()]))
                .collect();
            actions.push(remove_finalizer(item, FINALIZER_ORPHAN));
            plan.push_group(format!("orphan {}", item.key()), actions);
            continue;
        }

        // attemptToDeleteItem
        if item.deleting && !item.deleting_dependents() {
            continue;
        }
        if item.deleting_dependents() {
            // processDeletingDependentsItem: wait for blocking dependents (their
            // own passes delete them, as their owner is "waiting").
            let blocking = deps_of(&item.uid).iter().any(|dep| {
                dep.owner_references
                    .iter()
                    .any(|r| r.uid == item.uid && r.block_owner_deletion == Some(true))
            });
            if !blocking {
                plan.push_group(
                    format!("foreground {}", item.key()),
                    vec![remove_finalizer(item, FINALIZER_FOREGROUND)],
                );
            }
            continue;
        }
        if item.owner_references.is_empty() {
            continue;
        }

        let mut solid = 0;
        let mut dangling: Vec<OwnerProbe> = Vec::new();
        let mut waiting: Vec<&GcObject> = Vec::new();
        for r in &item.owner_references {
            match classify(r, item, &by_uid, &snapshot.known) {
                OwnerState::Solid => solid += 1,
                OwnerState::Dangling(probe) => dangling.push(probe),
                OwnerState::Waiting(owner) => waiting.push(owner),
            }
        }

        if solid > 0 {
            if dangling.is_empty() && waiting.is_empty() {
                continue;
            }
            // Drop the dangling and waiting references; keep the object.
            let mut drop: Vec<&str> = dangling.iter().map(|p| p.uid.as_str()).collect();
            drop.extend(waiting.iter().map(|o| o.uid.as_str()));
            let patch = patch_without(item, &drop);
            let mut actions = Vec::new();
            if !dangling.is_empty() {
                actions.push(Action::VerifyOwnersAbsent(dangling));
            }
            actions.push(patch);
            plan.push_group(format!("gc {}", item.key()), actions);
        } else if !waiting.is_empty() && !deps_of(&item.uid).is_empty() {
            // An owner waits for us and we have dependents: go in the foreground
            // too, unblocking our references first if a dependent is itself
            // deleting in the foreground (cycle avoidance).
            let mut actions = Vec::new();
            if !dangling.is_empty() {
                actions.push(Action::VerifyOwnersAbsent(dangling));
            }
            if deps_of(&item.uid).iter().any(|d| d.deleting_dependents()) {
                let refs = item
                    .owner_references
                    .iter()
                    .cloned()
                    .map(|mut r| {
                        r.block_owner_deletion = Some(false);
                        r
                    })
                    .collect();
                actions.push(Action::PatchOwnerReferences {
                    target: item.target(),
                    uid: item.uid.clone(),
                    resource_version: item.resource_version.clone(),
                    owner_references: refs,
                });
            }
            actions.push(delete(item, Propagation::Foreground));
            plan.push_group(format!("gc {}", item.key()), actions);
        } else {
            // No solid owner left: collect it, honouring its own finalizers.
            let policy = if item.has_finalizer(FINALIZER_ORPHAN) {
                Propagation::Orphan
            } else if item.has_finalizer(FINALIZER_FOREGROUND) {
                Propagation::Foreground
            } else {
                Propagation::Background
            };
            let mut actions = Vec::new();
            if !dangling.is_empty() {
                actions.push(Action::VerifyOwnersAbsent(dangling));
            }
            actions.push(delete(item, policy));
            plan.push_group(format!("gc {}", item.key()), actions);
        }
    }
    plan
}

fn classify<'a>(
    r: &OwnerReference,
    item: &GcObject,
    by_uid: &BTreeMap<&str, &'a GcObject>,
    known: &BTreeMap<(String, String), (ApiResource, bool)>,
) -> OwnerState<'a> {
    let group = group_of(&r.api_version).to_string();
    if let Some(owner) = by_uid.get(r.uid.as_str())
        && owner.resource.kind == r.kind
        && owner.resource.group == group
    {
        return if owner.deleting_dependents() {
            OwnerState::Waiting(owner)
        } else {
            OwnerState::Solid
        };
    }
    match known.get(&(group, r.kind.clone())) {
        // Not in a synced cache of its kind: dangling, to be verified live.
        Some((resource, namespaced)) => OwnerState::Dangling(OwnerProbe {
            target: ObjectTarget {
                resource: resource.clone(),
                namespace: if *namespaced {
                    item.namespace.clone()
                } else {
                    None
                },
                name: r.name.clone(),
            },
            uid: r.uid.clone(),
        }),
        // A kind we do not watch: assume it exists.
        None => OwnerState::Solid,
    }
}

/// `deleteOwnerRefJSONMergePatch`: the remaining references, with the
/// resourceVersion as precondition.
fn patch_without(obj: &GcObject, uids: &[&str]) -> Action {
    Action::PatchOwnerReferences {
        target: obj.target(),
        uid: obj.uid.clone(),
        resource_version: obj.resource_version.clone(),
        owner_references: obj
            .owner_references
            .iter()
            .filter(|r| !uids.contains(&r.uid.as_str()))
            .cloned()
            .collect(),
    }
}

fn remove_finalizer(obj: &GcObject, finalizer: &str) -> Action {
    Action::PatchFinalizers {
        target: obj.target(),
        resource_version: obj.resource_version.clone(),
        finalizers: obj
            .finalizers
            .iter()
            .filter(|f| *f != finalizer)
            .cloned()
            .collect(),
    }
}

fn delete(obj: &GcObject, policy: Propagation) -> Action {
    Action::Delete {
        target: obj.target(),
        uid: Some(obj.uid.clone()),
        propagation: Some(policy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::Pod;

    fn res<K: kube::Resource<DynamicType = ()>>() -> ApiResource {
        ApiResource::erase::<K>(&())
    }

    fn obj(resource: ApiResource, name: &str) -> GcObject {
        GcObject {
            resource,
            namespace: Some("default".into()),
            name: name.into(),
            uid: format!("uid-{name}"),
            resource_version: Some("7".into()),
            owner_references: vec![],
            finalizers: vec![],
            deleting: false,
        }
    }

    fn owned_by(mut o: GcObject, owner: &GcObject, block: bool) -> GcObject {
        o.owner_references.push(OwnerReference {
            api_version: owner.resource.api_version.clone(),
            kind: owner.resource.kind.clone(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        });
        o
    }

    fn snapshot(objects: Vec<GcObject>) -> GcSnapshot {
        let mut s = GcSnapshot::default();
        for r in [res::<Deployment>(), res::<ReplicaSet>(), res::<Pod>()] {
            let mine: Vec<GcObject> = objects
                .iter()
                .filter(|o| o.resource == r)
                .cloned()
                .collect();
            s.add_kind(&r, true, mine);
        }
        s
    }

    fn summary(plan: &Plan) -> Vec<String> {
        plan.actions()
            .map(|a| match a {
                Action::Delete {
                    target,
                    propagation,
                    ..
                } => format!("delete {} {:?}", target.name, propagation.unwrap()),
                Action::PatchOwnerReferences {
                    target,
                    owner_references,
                    resource_version,
                    ..
                } => format!(
                    "owners {} [{}] rv={}",
                    target.name,
                    owner_references
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    resource_version.as_deref().unwrap_or("")
                ),
                Action::PatchFinalizers {
                    target, finalizers, ..
                } => {
                    format!("finalizers {} [{}]", target.name, finalizers.join(","))
                }
                Action::VerifyOwnersAbsent(p) => {
                    format!(
                        "verify {}",
                        p.iter()
                            .map(|p| p.target.name.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn dependents_of_a_vanished_owner_are_deleted_in_the_background_after_a_live_check() {
        let rs = obj(res::<ReplicaSet>(), "web-1");
        let pod = owned_by(obj(res::<Pod>(), "web-1-abc"), &rs, true);
        // The ReplicaSet is gone; only the pod remains.
        let plan = reconcile_garbage(&snapshot(vec![pod]));
        assert_eq!(
            summary(&plan),
            ["verify web-1", "delete web-1-abc Background"]
        );
        let Action::VerifyOwnersAbsent(probes) = &plan.groups[0].actions[0] else {
            panic!()
        };
        assert_eq!(probes[0].uid, "uid-web-1");
        assert_eq!(probes[0].target.namespace.as_deref(), Some("default"));
        assert_eq!(probes[0].target.resource.plural, "replicasets");
    }

    #[test]
    fn objects_with_a_live_owner_are_kept() {
        let d = obj(res::<Deployment>(), "web");
        let rs = owned_by(obj(res::<ReplicaSet>(), "web-1"), &d, true);
        let pod = owned_by(obj(res::<Pod>(), "web-1-abc"), &rs, true);
        assert!(reconcile_garbage(&snapshot(vec![d, rs, pod])).is_empty());
    }

    #[test]
    fn owners_of_unwatched_kinds_are_assumed_to_exist() {
        let mut job = obj(res::<Pod>(), "x");
        job.resource.kind = "Job".into();
        job.resource.group = "batch".into();
        job.resource.api_version = "batch/v1".into();
        let pod = owned_by(obj(res::<Pod>(), "job-pod"), &job, true);
        assert!(reconcile_garbage(&snapshot(vec![pod])).is_empty());
    }

    #[test]
    fn a_dangling_reference_beside_a_solid_one_is_removed_not_the_object() {
        let d = obj(res::<Deployment>(), "web");
        let gone = obj(res::<Deployment>(), "gone");
        let rs = owned_by(
            owned_by(obj(res::<ReplicaSet>(), "web-1"), &d, true),
            &gone,
            false,
        );
        let plan = reconcile_garbage(&snapshot(vec![d, rs]));
        assert_eq!(summary(&plan), ["verify gone", "owners web-1 [web] rv=7"]);
    }

    #[test]
    fn orphan_deletion_strips_owner_references_then_removes_the_finalizer() {
        let mut d = obj(res::<Deployment>(), "web");
        d.deleting = true;
        d.finalizers = vec![FINALIZER_ORPHAN.into()];
        let rs = owned_by(obj(res::<ReplicaSet>(), "web-1"), &d, true);
        let plan = reconcile_garbage(&snapshot(vec![d.clone(), rs.clone()]));
        assert_eq!(
            summary(&plan),
            ["owners web-1 [] rv=7", "finalizers web []"]
        );
        // The ReplicaSet is not collected while its owner still exists.
        assert_eq!(plan.groups.len(), 1);
    }

    #[test]
    fn foreground_deletion_deletes_dependents_first_then_drops_the_finalizer() {
        let mut d = obj(res::<Deployment>(), "web");
        d.deleting = true;
        d.finalizers = vec![FINALIZER_FOREGROUND.into()];
        let rs = owned_by(obj(res::<ReplicaSet>(), "web-1"), &d, true);
        let pod = owned_by(obj(res::<Pod>(), "web-1-abc"), &rs, true);

        // The ReplicaSet has dependents: it goes in the foreground too; the owner waits.
        let plan = reconcile_garbage(&snapshot(vec![d.clone(), rs.clone(), pod.clone()]));
        assert_eq!(summary(&plan), ["delete web-1 Foreground"]);

        // The ReplicaSet now waits for its pods, which are deleted; the owner still waits.
        let mut rs2 = rs.clone();
        rs2.deleting = true;
        rs2.finalizers = vec![FINALIZER_FOREGROUND.into()];
        let plan = reconcile_garbage(&snapshot(vec![d.clone(), rs2.clone(), pod.clone()]));
        assert_eq!(summary(&plan), ["delete web-1-abc Background"]);

        // Pods gone: the ReplicaSet's finalizer goes; then the Deployment's.
        let plan = reconcile_garbage(&snapshot(vec![d.clone(), rs2]));
        assert_eq!(summary(&plan), ["finalizers web-1 []"]);
        let plan = reconcile_garbage(&snapshot(vec![d]));
        assert_eq!(summary(&plan), ["finalizers web []"]);
    }

    #[test]
    fn a_leaf_dependent_of_a_foreground_owner_is_deleted_in_the_background() {
        let mut rs = obj(res::<ReplicaSet>(), "web-1");
        rs.deleting = true;
        rs.finalizers = vec![FINALIZER_FOREGROUND.into(), "example.com/keep".into()];
        let pod = owned_by(obj(res::<Pod>(), "web-1-abc"), &rs, true);
        let plan = reconcile_garbage(&snapshot(vec![rs, pod]));
        assert_eq!(summary(&plan), ["delete web-1-abc Background"]);
    }

    #[test]
    fn objects_already_being_deleted_are_left_alone() {
        let rs = obj(res::<ReplicaSet>(), "web-1");
        let mut pod = owned_by(obj(res::<Pod>(), "web-1-abc"), &rs, true);
        pod.deleting = true;
        assert!(reconcile_garbage(&snapshot(vec![pod])).is_empty());
    }
}
