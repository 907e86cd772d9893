//! Executing [`Action`]s against the API server, behind a narrow trait.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{
    Binding, Endpoints, Event, EventSource, Namespace, Node, ObjectReference, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy,
};
use serde_json::json;
use tokio::time::Instant;

use super::backoff::KeyedBackoff;
use crate::action::{Action, EventSpec, EventType, ObjectTarget, Plan, Propagation};
use crate::meta::now_seconds;

/// What a successful action produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done.
    Done,
    /// An object was created under this name (for `generateName`).
    Created(String),
    /// The target was already gone (delete of a missing object).
    Gone,
}

/// Why an action failed; every failure stops its group and backs the key off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExecError {
    /// 409: stale resourceVersion, or a failed precondition.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 404 on something other than a delete.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409 AlreadyExists on a create.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A guard found an owner that still exists.
    #[error("owner {0} still exists")]
    OwnerExists(String),
    /// Any other API or transport error.
    #[error("{0}")]
    Other(String),
}

impl From<kube::Error> for ExecError {
    fn from(err: kube::Error) -> Self {
        match &err {
            kube::Error::Api(status) if status.is_already_exists() => {
                ExecError::AlreadyExists(status.message.clone())
            }
            kube::Error::Api(status) if status.is_not_found() => {
                ExecError::NotFound(status.message.clone())
            }
            kube::Error::Api(status) if status.is_conflict() => {
                ExecError::Conflict(status.message.clone())
            }
            _ => ExecError::Other(err.to_string()),
        }
    }
}

/// The side-effect seam: the loops hand actions to an executor; tests use a
/// recording fake.
pub(crate) trait Executor: Send + Sync {
    /// Performs one action.
    fn execute(&self, action: &Action) -> impl Future<Output = Result<Outcome, ExecError>> + Send;
}

/// Per-group result of executing a plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupReport {
    /// The group key.
    pub(crate) key: String,
    /// Outcomes of the actions that ran, by index in the group.
    pub(crate) outcomes: Vec<(usize, Outcome)>,
    /// The failure that stopped the group, if any.
    pub(crate) error: Option<ExecError>,
    /// The group did not run: its key is backing off.
    pub(crate) deferred: bool,
}

impl GroupReport {
    /// Every action of the group ran.
    pub(crate) fn completed(&self) -> bool {
        !self.deferred && self.error.is_none()
    }
}

/// Runs the groups of a plan in order: a group stops at its first failure
/// (events excepted, which are best effort) and its key backs off; groups whose
/// key is backing off are deferred.
pub(crate) async fn execute_plan<E: Executor>(
    exec: &E,
    plan: &Plan,
    backoff: &mut KeyedBackoff,
) -> Vec<GroupReport> {
    let mut reports = Vec::with_capacity(plan.groups.len());
    for group in &plan.groups {
        let now = Instant::now();
        let mut report = GroupReport {
            key: group.key.clone(),
            outcomes: Vec::new(),
            error: None,
            deferred: false,
        };
        if !backoff.ready(&group.key, now) {
            report.deferred = true;
            reports.push(report);
            continue;
        }
        for (i, action) in group.actions.iter().enumerate() {
            match exec.execute(action).await {
                Ok(outcome) => report.outcomes.push((i, outcome)),
                Err(err) if matches!(action, Action::Event(_)) => {
                    tracing::debug!(key = %group.key, %err, "could not record event");
                }
                Err(err) => {
                    match &err {
                        ExecError::Conflict(_)
                        | ExecError::OwnerExists(_)
                        | ExecError::AlreadyExists(_) => {
                            tracing::debug!(key = %group.key, %err, "will retry")
                        }
                        _ => tracing::warn!(key = %group.key, %err, "action failed; will retry"),
                    }
                    report.error = Some(err);
                    break;
                }
            }
        }
        if report.error.is_some() {
            backoff.failed(&group.key, Instant::now());
        } else {
            backoff.succeeded(&group.key);
        }
        reports.push(report);
    }
    reports
}

/// Unique event name suffixes: nanoseconds, strictly increasing per process
/// (upstream names events `<object>.<hex unix nanos>`).
static LAST_EVENT_NANOS: AtomicU64 = AtomicU64::new(0);

fn unique_nanos() -> u64 {
    let now = u64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(0);
    let mut last = LAST_EVENT_NANOS.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST_EVENT_NANOS.compare_exchange_weak(
            last,
            next,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return next,
            Err(actual) => last = actual,
        }
    }
}

/// The core/v1 Event for a spec: named `<object>.<hex>`, in the object's
/// namespace (`default` for cluster-scoped objects, as client-go's recorder).
pub(crate) fn build_event(spec: &EventSpec) -> Event {
    let namespace = spec
        .involved
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let object = spec.involved.name.clone().unwrap_or_default();
    let now = Time(now_seconds());
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{object}.{:x}", unique_nanos())),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        involved_object: spec.involved.clone(),
        reason: Some(spec.reason.clone()),
        message: Some(spec.message.clone()),
        type_: Some(spec.type_.as_str().to_string()),
        source: Some(EventSource {
            component: Some(spec.component.to_string()),
            host: None,
        }),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        reporting_component: Some(spec.component.to_string()),
        reporting_instance: Some(spec.component.to_string()),
        action: spec.action.clone(),
        event_time: None,
        related: None,
        series: None,
    }
}

/// The executor that talks to the API server.
#[derive(Clone)]
pub(crate) struct ApiExecutor {
    client: Client,
}

impl ApiExecutor {
    pub(crate) fn new(client: Client) -> Self {
        ApiExecutor { client }
    }

    fn dynamic(&self, target: &ObjectTarget) -> Api<DynamicObject> {
        match &target.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &target.resource),
            None => Api::all_with(self.client.clone(), &target.resource),
        }
    }

    fn ns_api<K>(&self, ns: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), ns.unwrap_or("default"))
    }

    async fn record(&self, spec: &EventSpec) -> Result<Outcome, ExecError> {
        let event = build_event(spec);
        let api: Api<Event> = self.ns_api(event.metadata.namespace.as_deref());
        api.create(&PostParams::default(), &event).await?;
        Ok(Outcome::Done)
    }

    async fn merge_patch(
        &self,
        target: &ObjectTarget,
        patch: serde_json::Value,
    ) -> Result<Outcome, ExecError> {
        self.dynamic(target)
            .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(Outcome::Done)
    }
}

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

/// `null` for an empty list, so a merge patch removes the field.
fn list_or_null<T: serde::Serialize>(items: &[T]) -> serde_json::Value {
    if items.is_empty() {
        serde_json::Value::Null
    } else {
        json!(items)
    }
}

impl Executor for ApiExecutor {
    async fn execute(&self, action: &Action) -> Result<Outcome, ExecError> {
        let pp = PostParams::default();
        match action {
            Action::Event(spec) => self.record(spec).await,
            Action::CreatePod { pod, recorder } => {
                let api: Api<Pod> = self.ns_api(pod.metadata.namespace.as_deref());
                match api.create(&pp, pod).await {
                    Ok(created) => {
                        let created_name = name(&created.metadata).to_string();
                        if let Some((involved, component)) = recorder {
                            let _ = self
                                .record(&EventSpec {
                                    involved: involved.clone(),
                                    type_: EventType::Normal,
                                    reason: "SuccessfulCreate".into(),
                                    message: format!("Created pod: {created_name}"),
                                    component,
                                    action: None,
                                })
                                .await;
                        }
                        Ok(Outcome::Created(created_name))
                    }
                    Err(err) => {
                        let err = ExecError::from(err);
                        if let Some((involved, component)) = recorder {
                            let _ = self
                                .record(&EventSpec {
                                    involved: involved.clone(),
                                    type_: EventType::Warning,
                                    reason: "FailedCreate".into(),
                                    message: format!("Error creating: {err}"),
                                    component,
                                    action: None,
                                })
                                .await;
                        }
                        Err(err)
                    }
                }
            }
            Action::Bind {
                namespace,
                pod,
                uid,
                node,
            } => {
                let binding = Binding {
                    metadata: ObjectMeta {
                        name: Some(pod.clone()),
                        namespace: Some(namespace.clone()),
                        uid: Some(uid.clone()),
                        ..ObjectMeta::default()
                    },
                    target: ObjectReference {
                        api_version: Some("v1".into()),
                        kind: Some("Node".into()),
                        name: Some(node.clone()),
                        ..ObjectReference::default()
                    },
                };
                let api: Api<Pod> = self.ns_api(Some(namespace));
                api.create_subresource::<_, serde_json::Value>("binding", pod, &pp, &binding)
                    .await?;
                Ok(Outcome::Done)
            }
            Action::ReplacePodStatus(pod) => {
                let api: Api<Pod> = self.ns_api(pod.metadata.namespace.as_deref());
                api.replace_status(name(&pod.metadata), &pp, pod).await?;
                Ok(Outcome::Done)
            }
            Action::PatchNodePodCidr { node, cidr } => {
                let api: Api<Node> = Api::all(self.client.clone());
                let patch =
                    json!({"spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}});
                api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                Ok(Outcome::Done)
            }
            Action::CreateReplicaSet(rs) => {
                let api: Api<ReplicaSet> = self.ns_api(rs.metadata.namespace.as_deref());
                let created = api.create(&pp, rs).await?;
                Ok(Outcome::Created(name(&created.metadata).to_string()))
            }
            Action::ReplaceReplicaSet(rs) => {
                let api: Api<ReplicaSet> = self.ns_api(rs.metadata.namespace.as_deref());
                api.replace(name(&rs.metadata), &pp, rs).await?;
                Ok(Outcome::Done)
            }
            Action::ReplaceReplicaSetStatus(rs) => {
                let api: Api<ReplicaSet> = self.ns_api(rs.metadata.namespace.as_deref());
                api.replace_status(name(&rs.metadata), &pp, rs).await?;
                Ok(Outcome::Done)
            }
            Action::ReplaceDeploymentStatus(d) => {
                let api: Api<Deployment> = self.ns_api(d.metadata.namespace.as_deref());
                api.replace_status(name(&d.metadata), &pp, d).await?;
                Ok(Outcome::Done)
            }
            Action::PatchAnnotations {
                target,
                annotations,
            } => {
                self.merge_patch(target, json!({"metadata": {"annotations": annotations}}))
                    .await
            }
            Action::PatchOwnerReferences {
                target,
                resource_version,
                owner_references,
                ..
            } => {
                let mut meta = json!({"ownerReferences": list_or_null(owner_references)});
                if let Some(rv) = resource_version {
                    meta["resourceVersion"] = json!(rv);
                }
                self.merge_patch(target, json!({ "metadata": meta })).await
            }
            Action::PatchFinalizers {
                target,
                resource_version,
                finalizers,
            } => {
                let mut meta = json!({"finalizers": list_or_null(finalizers)});
                if let Some(rv) = resource_version {
                    meta["resourceVersion"] = json!(rv);
                }
                self.merge_patch(target, json!({ "metadata": meta })).await
            }
            Action::VerifyOwnersAbsent(probes) => {
                for probe in probes {
                    let found = self
                        .dynamic(&probe.target)
                        .get_opt(&probe.target.name)
                        .await?;
                    if found.is_some_and(|o| o.metadata.uid.as_deref() == Some(probe.uid.as_str()))
                    {
                        return Err(ExecError::OwnerExists(format!(
                            "{} {}",
                            probe.target.resource.kind, probe.target.name
                        )));
                    }
                }
                Ok(Outcome::Done)
            }
            Action::Delete {
                target,
                uid,
                propagation,
            } => {
                let dp = DeleteParams {
                    propagation_policy: propagation.map(|p| match p {
                        Propagation::Background => PropagationPolicy::Background,
                        Propagation::Foreground => PropagationPolicy::Foreground,
                        Propagation::Orphan => PropagationPolicy::Orphan,
                    }),
                    preconditions: uid.as_ref().map(|uid| Preconditions {
                        uid: Some(uid.clone()),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match self.dynamic(target).delete(&target.name, &dp).await {
                    Ok(_) => Ok(Outcome::Done),
                    Err(kube::Error::Api(status)) if status.is_not_found() => Ok(Outcome::Gone),
                    Err(err) => Err(err.into()),
                }
            }
            Action::ReplaceNamespaceStatus(ns) => {
                let api: Api<Namespace> = Api::all(self.client.clone());
                api.replace_status(name(&ns.metadata), &pp, ns).await?;
                Ok(Outcome::Done)
            }
            Action::FinalizeNamespace(ns) => {
                let api: Api<Namespace> = Api::all(self.client.clone());
                match api
                    .replace_subresource("finalize", name(&ns.metadata), &pp, ns)
                    .await
                {
                    Ok(_) => Ok(Outcome::Done),
                    Err(kube::Error::Api(status)) if status.is_not_found() => Ok(Outcome::Gone),
                    Err(err) => Err(err.into()),
                }
            }
            Action::CreateEndpointSlice(es) => {
                let api: Api<EndpointSlice> = self.ns_api(es.metadata.namespace.as_deref());
                let created = api.create(&pp, es).await?;
                Ok(Outcome::Created(name(&created.metadata).to_string()))
            }
            Action::ReplaceEndpointSlice(es) => {
                let api: Api<EndpointSlice> = self.ns_api(es.metadata.namespace.as_deref());
                api.replace(name(&es.metadata), &pp, es).await?;
                Ok(Outcome::Done)
            }
            Action::CreateEndpoints(ep) => {
                let api: Api<Endpoints> = self.ns_api(ep.metadata.namespace.as_deref());
                let created = api.create(&pp, ep).await?;
                Ok(Outcome::Created(name(&created.metadata).to_string()))
            }
            Action::ReplaceEndpoints(ep) => {
                let api: Api<Endpoints> = self.ns_api(ep.metadata.namespace.as_deref());
                api.replace(name(&ep.metadata), &pp, ep).await?;
                Ok(Outcome::Done)
            }
            Action::ReplaceServiceStatus(svc) => {
                let api: Api<Service> = self.ns_api(svc.metadata.namespace.as_deref());
                api.replace_status(name(&svc.metadata), &pp, svc).await?;
                Ok(Outcome::Done)
            }
        }
    }
}

/// A recording executor for tests: records every action, answers from a script.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct FakeExecutor {
    pub(crate) ops: std::sync::Mutex<Vec<Action>>,
    /// Errors to return for actions whose `describe` matches a key.
    pub(crate) failures: std::sync::Mutex<std::collections::HashMap<String, ExecError>>,
    created: AtomicU64,
}

#[cfg(test)]
impl FakeExecutor {
    pub(crate) fn ops(&self) -> Vec<Action> {
        self.ops.lock().unwrap().clone()
    }
    pub(crate) fn fail(&self, describe: &str, err: ExecError) {
        self.failures
            .lock()
            .unwrap()
            .insert(describe.to_string(), err);
    }
}

/// A short description of an action ("Bind default/p", "Delete Pod default/x").
#[cfg(test)]
pub(crate) fn describe(action: &Action) -> String {
    let target = |t: &ObjectTarget| match &t.namespace {
        Some(ns) => format!("{} {ns}/{}", t.resource.kind, t.name),
        None => format!("{} {}", t.resource.kind, t.name),
    };
    match action {
        Action::Event(e) => format!("Event {}", e.reason),
        Action::CreatePod { pod, .. } => format!(
            "CreatePod {}",
            pod.metadata.generate_name.clone().unwrap_or_default()
        ),
        Action::Bind { namespace, pod, .. } => format!("Bind {namespace}/{pod}"),
        Action::ReplacePodStatus(p) => format!("ReplacePodStatus {}", name(&p.metadata)),
        Action::PatchNodePodCidr { node, .. } => format!("PatchNodePodCidr {node}"),
        Action::CreateReplicaSet(rs) => format!("CreateReplicaSet {}", name(&rs.metadata)),
        Action::ReplaceReplicaSet(rs) => format!("ReplaceReplicaSet {}", name(&rs.metadata)),
        Action::ReplaceReplicaSetStatus(rs) => {
            format!("ReplaceReplicaSetStatus {}", name(&rs.metadata))
        }
        Action::ReplaceDeploymentStatus(d) => {
            format!("ReplaceDeploymentStatus {}", name(&d.metadata))
        }
        Action::PatchAnnotations { target: t, .. } => format!("PatchAnnotations {}", target(t)),
        Action::PatchOwnerReferences { target: t, .. } => {
            format!("PatchOwnerReferences {}", target(t))
        }
        Action::PatchFinalizers { target: t, .. } => format!("PatchFinalizers {}", target(t)),
        Action::VerifyOwnersAbsent(p) => format!("VerifyOwnersAbsent {}", p.len()),
        Action::Delete { target: t, .. } => format!("Delete {}", target(t)),
        Action::ReplaceNamespaceStatus(n) => {
            format!("ReplaceNamespaceStatus {}", name(&n.metadata))
        }
        Action::FinalizeNamespace(n) => format!("FinalizeNamespace {}", name(&n.metadata)),
        Action::CreateEndpointSlice(es) => {
            format!("CreateEndpointSlice {}", name(&es.metadata))
        }
        Action::ReplaceEndpointSlice(es) => {
            format!("ReplaceEndpointSlice {}", name(&es.metadata))
        }
        Action::CreateEndpoints(ep) => format!("CreateEndpoints {}", name(&ep.metadata)),
        Action::ReplaceEndpoints(ep) => format!("ReplaceEndpoints {}", name(&ep.metadata)),
        Action::ReplaceServiceStatus(svc) => {
            format!("ReplaceServiceStatus {}", name(&svc.metadata))
        }
    }
}

#[cfg(test)]
impl Executor for FakeExecutor {
    async fn execute(&self, action: &Action) -> Result<Outcome, ExecError> {
        self.ops.lock().unwrap().push(action.clone());
        if let Some(err) = self.failures.lock().unwrap().get(&describe(action)) {
            return Err(err.clone());
        }
        Ok(match action {
            Action::CreatePod { pod, .. } => {
                let n = self.created.fetch_add(1, Ordering::Relaxed);
                Outcome::Created(format!(
                    "{}{n:05}",
                    pod.metadata.generate_name.clone().unwrap_or_default()
                ))
            }
            Action::CreateReplicaSet(rs) => Outcome::Created(name(&rs.metadata).to_string()),
            Action::CreateEndpointSlice(es) => Outcome::Created(name(&es.metadata).to_string()),
            Action::CreateEndpoints(ep) => Outcome::Created(name(&ep.metadata).to_string()),
            _ => Outcome::Done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ActionGroup;

    fn ev(reason: &str) -> Action {
        Action::Event(EventSpec {
            involved: ObjectReference {
                name: Some("web".into()),
                namespace: Some("shop".into()),
                ..ObjectReference::default()
            },
            type_: EventType::Normal,
            reason: reason.into(),
            message: "m".into(),
            component: "test",
            action: None,
        })
    }

    #[test]
    fn events_are_named_after_the_object_with_a_unique_hex_suffix() {
        let spec = match ev("Scheduled") {
            Action::Event(s) => s,
            _ => unreachable!(),
        };
        let a = build_event(&spec);
        let b = build_event(&spec);
        let an = a.metadata.name.unwrap();
        assert!(an.starts_with("web."), "{an}");
        assert_ne!(Some(an.clone()), b.metadata.name);
        assert!(u64::from_str_radix(an.trim_start_matches("web."), 16).is_ok());
        assert_eq!(a.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(a.count, Some(1));
        assert_eq!(a.type_.as_deref(), Some("Normal"));
        assert_eq!(a.source.unwrap().component.as_deref(), Some("test"));
        assert_eq!(a.reporting_component.as_deref(), Some("test"));
        assert!(a.first_timestamp.is_some() && a.first_timestamp == a.last_timestamp);
        // Cluster-scoped objects' events go to "default".
        let mut node_spec = spec.clone();
        node_spec.involved.namespace = None;
        assert_eq!(
            build_event(&node_spec).metadata.namespace.as_deref(),
            Some("default")
        );
    }

    #[tokio::test]
    async fn a_failure_stops_its_group_backs_off_its_key_and_spares_other_groups() {
        let fake = FakeExecutor::default();
        fake.fail(
            "Bind default/a",
            ExecError::Conflict("pod already assigned".into()),
        );
        fake.fail(
            "Event Ignored",
            ExecError::Other("events are best effort".into()),
        );
        let bind = |p: &str| Action::Bind {
            namespace: "default".into(),
            pod: p.into(),
            uid: "u".into(),
            node: "n".into(),
        };
        let plan = Plan {
            groups: vec![
                ActionGroup {
                    key: "a".into(),
                    actions: vec![bind("a"), ev("Scheduled")],
                },
                ActionGroup {
                    key: "b".into(),
                    actions: vec![ev("Ignored"), bind("b"), ev("Scheduled")],
                },
            ],
            requeue_after: None,
        };
        let mut backoff = KeyedBackoff::default();
        let reports = execute_plan(&fake, &plan, &mut backoff).await;
        assert!(!reports[0].completed());
        assert!(reports[1].completed());
        let ops: Vec<String> = fake.ops().iter().map(describe).collect();
        assert_eq!(
            ops,
            [
                "Bind default/a",
                "Event Ignored",
                "Bind default/b",
                "Event Scheduled"
            ]
        );
        // The failed key is deferred on an immediate retry.
        let again = execute_plan(&fake, &plan, &mut backoff).await;
        assert!(again[0].deferred);
    }
}
