//! The side effects a reconcile asks for, as plain values.
//!
//! Every pure reconcile function in this crate returns a [`Plan`]: groups of
//! [`Action`]s, one group per object it reconciled. The loops in
//! `runtime` execute a group in order and stop the group at its first failure
//! (the object is then retried with back-off), so an action may rely on the ones
//! before it in its group having succeeded — e.g. a `Scheduled` event follows its
//! binding and is only written when the binding worked.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::ApiResource;

/// `type` of a core/v1 Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `Normal`: nothing is wrong.
    Normal,
    /// `Warning`: something needs attention.
    Warning,
}

impl EventType {
    /// The string the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// A core/v1 Event to record, before it gets its name and timestamps.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSpec {
    /// The object the event is about (`involvedObject`).
    pub involved: ObjectReference,
    /// Normal or Warning.
    pub type_: EventType,
    /// Short CamelCase reason, e.g. `ScalingReplicaSet`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// `source.component` and `reportingComponent`, e.g. `deployment-controller`.
    pub component: &'static str,
    /// `action`, e.g. `Binding` for the scheduler; `None` for the classic recorders.
    pub action: Option<String>,
}

/// `propagationPolicy` of a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Delete dependents in the background after the owner is gone.
    Background,
    /// Delete dependents first; the owner waits with the `foregroundDeletion` finalizer.
    Foreground,
    /// Keep dependents; the `orphan` finalizer strips their owner references first.
    Orphan,
}

/// One object addressed by resource type, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectTarget {
    /// Group, version, kind and plural of the resource.
    pub resource: ApiResource,
    /// Namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
}

impl ObjectTarget {
    /// Target of a typed object from its metadata.
    pub fn of<K>(obj: &K) -> Self
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let meta = obj.meta();
        ObjectTarget {
            resource: ApiResource::erase::<K>(&()),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

/// An object that must be verified absent (or replaced by another uid) through a
/// live read before a dependent is garbage collected, as upstream's `isDangling`
/// does: the local caches may lag behind a newly created owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerProbe {
    /// Where the owner would be.
    pub target: ObjectTarget,
    /// The uid the ownerReference names.
    pub uid: String,
}

/// One side effect against the API server.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// POST a core/v1 Event (named `<object>.<unique hex>`). Failures are logged, never retried.
    Event(EventSpec),
    /// POST a pod (usually with `generateName`). When `recorder` is set, a
    /// `SuccessfulCreate` ("Created pod: NAME") or `FailedCreate` event is recorded
    /// on that object with `component`, as upstream's `RealPodControl` does.
    CreatePod {
        /// The pod to create (namespace in its metadata).
        pod: Box<Pod>,
        /// Object to record the create events on, and the recording component.
        recorder: Option<(ObjectReference, &'static str)>,
    },
    /// POST `pods/{name}/binding` with a core/v1 Binding targeting `node`.
    Bind {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Pod uid (sent in the Binding's metadata).
        uid: String,
        /// Target node.
        node: String,
    },
    /// PUT `pods/{name}/status` (optimistic concurrency on resourceVersion).
    ReplacePodStatus(Box<Pod>),
    /// Merge-patch `spec.podCIDR` and `spec.podCIDRs` of a node.
    PatchNodePodCidr {
        /// Node name.
        node: String,
        /// The allocated pod CIDR.
        cidr: Ipv4Net,
    },
    /// POST a ReplicaSet.
    CreateReplicaSet(Box<ReplicaSet>),
    /// PUT a ReplicaSet (spec, labels, annotations; resourceVersion precondition).
    ReplaceReplicaSet(Box<ReplicaSet>),
    /// PUT `replicasets/{name}/status`.
    ReplaceReplicaSetStatus(Box<ReplicaSet>),
    /// PUT `deployments/{name}/status`.
    ReplaceDeploymentStatus(Box<Deployment>),
    /// Merge-patch `metadata.annotations` (only the given keys).
    PatchAnnotations {
        /// Object to patch.
        target: ObjectTarget,
        /// Annotations to set.
        annotations: BTreeMap<String, String>,
    },
    /// Merge-patch `metadata.ownerReferences` to exactly this list (adopt, release,
    /// orphan), with `metadata.resourceVersion` as precondition when given.
    PatchOwnerReferences {
        /// Object to patch.
        target: ObjectTarget,
        /// uid of the object, sent as precondition.
        uid: String,
        /// resourceVersion precondition.
        resource_version: Option<String>,
        /// The complete new list.
        owner_references: Vec<OwnerReference>,
    },
    /// Merge-patch `metadata.finalizers` to exactly this list.
    PatchFinalizers {
        /// Object to patch.
        target: ObjectTarget,
        /// resourceVersion precondition.
        resource_version: Option<String>,
        /// The complete new list.
        finalizers: Vec<String>,
    },
    /// Guard: read these owners live and stop the group (to be retried) when any
    /// still exists with that uid. Upstream's GC verifies dangling owners the
    /// same way before acting on them, since caches may lag behind a new owner.
    VerifyOwnersAbsent(Vec<OwnerProbe>),
    /// DELETE an object. NotFound counts as success.
    Delete {
        /// Object to delete.
        target: ObjectTarget,
        /// uid precondition.
        uid: Option<String>,
        /// `propagationPolicy`; `None` leaves the server default.
        propagation: Option<Propagation>,
    },
    /// PUT `namespaces/{name}/status`.
    ReplaceNamespaceStatus(Box<Namespace>),
    /// PUT `namespaces/{name}/finalize` with the given spec.finalizers.
    FinalizeNamespace(Box<Namespace>),
    /// POST an EndpointSlice (named by the controller, see `endpointslice`).
    CreateEndpointSlice(Box<EndpointSlice>),
    /// PUT an EndpointSlice (resourceVersion precondition).
    ReplaceEndpointSlice(Box<EndpointSlice>),
    /// POST a core/v1 Endpoints (named after its Service).
    CreateEndpoints(Box<Endpoints>),
    /// PUT a core/v1 Endpoints (resourceVersion precondition).
    ReplaceEndpoints(Box<Endpoints>),
    /// PUT `services/{name}/status` (resourceVersion precondition).
    ReplaceServiceStatus(Box<Service>),
}

/// The actions for one object, executed in order; the first failure stops the group.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionGroup {
    /// Identity of the object reconciled, e.g. `ReplicaSet default/web-1`; the
    /// back-off after a failure is per key.
    pub key: String,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

/// The output of a reconcile: what to change, and when to look again even if
/// nothing changes (e.g. when `minReadySeconds` will have passed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Groups of actions, one per object that needs changes.
    pub groups: Vec<ActionGroup>,
    /// Reconcile again after this long, even without watch events.
    pub requeue_after: Option<Duration>,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Self {
        Plan::default()
    }

    /// Appends a group unless it is empty.
    pub fn push_group(&mut self, key: impl Into<String>, actions: Vec<Action>) {
        if !actions.is_empty() {
            self.groups.push(ActionGroup {
                key: key.into(),
                actions,
            });
        }
    }

    /// Asks for a reconcile after `after`, keeping the earliest request.
    pub fn requeue(&mut self, after: Duration) {
        self.requeue_after = Some(match self.requeue_after {
            Some(existing) => existing.min(after),
            None => after,
        });
    }

    /// Moves the groups of `other` into this plan and merges its requeue.
    pub fn merge(&mut self, other: Plan) {
        self.groups.extend(other.groups);
        if let Some(after) = other.requeue_after {
            self.requeue(after);
        }
    }

    /// All actions of all groups, in order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.groups.iter().flat_map(|g| g.actions.iter())
    }

    /// True when there is nothing to do now.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}
