//! Patch strategies of fields, transcribed from the `patchStrategy` / `patchMergeKey` Go struct
//! tags of k8s.io/api (v0.32, the tags compiled into kubectl 1.32), for the kinds knet serves.
//!
//! Strategic merge patch looks a field's strategy up by walking the object's Go type; we walk a
//! small table of the types that hold tagged fields instead. Any field not listed here has no
//! tag: its lists are replaced whole and its maps merge recursively, exactly as upstream treats
//! untagged fields.
//!
//! Kinds whose objects hold no tagged list besides `metadata` (finalizers, ownerReferences):
//! Endpoints (EndpointSubset's addresses/notReadyAddresses/ports carry no tag), EndpointSlice
//! (`endpoints`/`ports` are atomic), ConfigMap, Secret, Event (core and events.k8s.io),
//! NetworkPolicy, Ingress and IngressClass.

/// Patch strategy of a list field (its `patchStrategy`/`patchMergeKey` struct tags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// No tag: a patch replaces the whole list.
    Replace,
    /// `patchStrategy:"merge" patchMergeKey:"<key>"`: elements are objects matched by this key.
    MergeByKey(&'static str),
    /// `patchStrategy:"merge"` without a merge key: a set of primitives (e.g. `finalizers`).
    MergePrimitives,
}

impl ListStrategy {
    /// The merge key, for [`ListStrategy::MergeByKey`].
    pub fn merge_key(self) -> Option<&'static str> {
        match self {
            ListStrategy::MergeByKey(key) => Some(key),
            _ => None,
        }
    }

    /// Whether lists with this strategy are merged rather than replaced.
    pub fn merges(self) -> bool {
        !matches!(self, ListStrategy::Replace)
    }
}

/// Everything strategic merge patch needs to know about one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldPatchMeta {
    /// Strategy when the field is a list; [`ListStrategy::Replace`] for untagged fields.
    pub list: ListStrategy,
    /// `retainKeys` strategy: a `$retainKeys` directive clears keys not listed (e.g. Deployment
    /// `spec.strategy`, the elements of PodSpec `volumes`).
    pub retain_keys: bool,
    /// `patchStrategy:"replace"` on an object field: a patch replaces the whole object
    /// (e.g. PodDisruptionBudget `spec.selector`).
    pub replace: bool,
}

impl FieldPatchMeta {
    const NONE: FieldPatchMeta = FieldPatchMeta {
        list: ListStrategy::Replace,
        retain_keys: false,
        replace: false,
    };
}

/// A field's patch metadata and the type of its value (or of its list elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) ty: Ty,
    pub(crate) meta: FieldPatchMeta,
}

/// The Go types (of k8s.io/api) that hold tagged fields, or lead to types that do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// A type with no tagged field anywhere below it.
    Unknown,
    /// The root of an object of a kind we have no table for: only `metadata` is known.
    GenericObject,
    /// The root of a kind whose only tagged lists are in `metadata`.
    MetaOnlyObject,
    Pod,
    PodTemplate,
    Deployment,
    /// ReplicaSet, DaemonSet, StatefulSet, ReplicationController, Job: `spec.template` is a
    /// PodTemplateSpec and `status.conditions` merge on `type`.
    TemplatedWorkload,
    CronJob,
    Service,
    Node,
    Namespace,
    ServiceAccount,
    PodDisruptionBudget,
    ObjectMeta,
    PodTemplateSpec,
    PodSpec,
    Container,
    PodStatus,
    ContainerStatus,
    DeploymentSpec,
    TemplateOwnerSpec,
    CronJobSpec,
    JobTemplateSpec,
    ServiceSpec,
    NodeSpec,
    NodeStatus,
    PodDisruptionBudgetSpec,
    /// A status whose `conditions` merge on `type` (Deployment, ReplicaSet, Namespace, Service...).
    ConditionsStatus,
    /// Upstream's `MergeItem` test type (patch_test.go), to port its cases verbatim.
    #[cfg(test)]
    MergeItem,
    /// Upstream's `RetainKeysMergeItem` test type.
    #[cfg(test)]
    RetainKeysMergeItem,
}

const fn plain(ty: Ty) -> Field {
    Field {
        ty,
        meta: FieldPatchMeta::NONE,
    }
}

const fn merge(key: &'static str, ty: Ty) -> Field {
    Field {
        ty,
        meta: FieldPatchMeta {
            list: ListStrategy::MergeByKey(key),
            retain_keys: false,
            replace: false,
        },
    }
}

const fn merge_retain(key: &'static str, ty: Ty) -> Field {
    Field {
        ty,
        meta: FieldPatchMeta {
            list: ListStrategy::MergeByKey(key),
            retain_keys: true,
            replace: false,
        },
    }
}

const fn primitives() -> Field {
    Field {
        ty: Ty::Unknown,
        meta: FieldPatchMeta {
            list: ListStrategy::MergePrimitives,
            retain_keys: false,
            replace: false,
        },
    }
}

const fn retain(ty: Ty) -> Field {
    Field {
        ty,
        meta: FieldPatchMeta {
            list: ListStrategy::Replace,
            retain_keys: true,
            replace: false,
        },
    }
}

const fn replace() -> Field {
    Field {
        ty: Ty::Unknown,
        meta: FieldPatchMeta {
            list: ListStrategy::Replace,
            retain_keys: false,
            replace: true,
        },
    }
}

impl Ty {
    /// The root type for objects of `kind` in `api_version` ("v1", "apps/v1", ...).
    pub(crate) fn root(api_version: &str, kind: &str) -> Ty {
        let group = match api_version.split_once('/') {
            Some((group, _version)) => group,
            None => "",
        };
        match (group, kind) {
            ("", "Pod") => Ty::Pod,
            ("", "PodTemplate") => Ty::PodTemplate,
            ("apps" | "extensions", "Deployment") => Ty::Deployment,
            ("apps" | "extensions", "ReplicaSet" | "DaemonSet")
            | ("apps", "StatefulSet")
            | ("", "ReplicationController")
            | ("batch", "Job") => Ty::TemplatedWorkload,
            ("batch", "CronJob") => Ty::CronJob,
            ("", "Service") => Ty::Service,
            ("", "Node") => Ty::Node,
            ("", "Namespace") => Ty::Namespace,
            ("", "ServiceAccount") => Ty::ServiceAccount,
            ("policy", "PodDisruptionBudget") => Ty::PodDisruptionBudget,
            ("", "Endpoints" | "ConfigMap" | "Secret" | "Event")
            | ("discovery.k8s.io", "EndpointSlice")
            | ("events.k8s.io", "Event")
            | ("networking.k8s.io", "NetworkPolicy" | "Ingress" | "IngressClass") => {
                Ty::MetaOnlyObject
            }
            #[cfg(test)]
            ("test.knet.dev", "MergeItem") => Ty::MergeItem,
            _ => Ty::GenericObject,
        }
    }

    fn is_object_root(self) -> bool {
        matches!(
            self,
            Ty::GenericObject
                | Ty::MetaOnlyObject
                | Ty::Pod
                | Ty::PodTemplate
                | Ty::Deployment
                | Ty::TemplatedWorkload
                | Ty::CronJob
                | Ty::Service
                | Ty::Node
                | Ty::Namespace
                | Ty::ServiceAccount
                | Ty::PodDisruptionBudget
        )
    }

    /// The field `name` of this type. Struct tags cited from k8s.io/api (core/v1, apps/v1,
    /// batch/v1, policy/v1) and k8s.io/apimachinery (meta/v1 ObjectMeta).
    pub(crate) fn field(self, name: &str) -> Field {
        use Ty::*;
        if name == "metadata" && self.is_object_root() {
            return plain(ObjectMeta);
        }
        match (self, name) {
            (Pod, "spec") => plain(PodSpec),
            (Pod, "status") => plain(PodStatus),
            (PodTemplate, "template") => plain(PodTemplateSpec),
            (Deployment, "spec") => plain(DeploymentSpec),
            (TemplatedWorkload, "spec") => plain(TemplateOwnerSpec),
            (CronJob, "spec") => plain(CronJobSpec),
            (Service, "spec") => plain(ServiceSpec),
            (Node, "spec") => plain(NodeSpec),
            (Node, "status") => plain(NodeStatus),
            (PodDisruptionBudget, "spec") => plain(PodDisruptionBudgetSpec),
            (
                Deployment | TemplatedWorkload | Service | Namespace | PodDisruptionBudget,
                "status",
            ) => plain(ConditionsStatus),
            // ServiceAccount.Secrets `patchStrategy:"merge" patchMergeKey:"name"`
            (ServiceAccount, "secrets") => merge("name", Unknown),

            // ObjectMeta.Finalizers `patchStrategy:"merge"`,
            // ObjectMeta.OwnerReferences `patchStrategy:"merge" patchMergeKey:"uid"`
            (ObjectMeta, "finalizers") => primitives(),
            (ObjectMeta, "ownerReferences") => merge("uid", Unknown),

            // DeploymentSpec.Strategy `patchStrategy:"retainKeys"`
            (DeploymentSpec, "template") => plain(PodTemplateSpec),
            (DeploymentSpec, "strategy") => retain(Unknown),
            (TemplateOwnerSpec, "template") => plain(PodTemplateSpec),
            (CronJobSpec, "jobTemplate") => plain(JobTemplateSpec),
            (JobTemplateSpec, "metadata") => plain(ObjectMeta),
            (JobTemplateSpec, "spec") => plain(TemplateOwnerSpec),
            (PodTemplateSpec, "metadata") => plain(ObjectMeta),
            (PodTemplateSpec, "spec") => plain(PodSpec),

            // PodSpec
            (PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
                merge("name", Container)
            }
            (PodSpec, "volumes") => merge_retain("name", Unknown),
            (PodSpec, "imagePullSecrets") => merge("name", Unknown),
            (PodSpec, "hostAliases") => merge("ip", Unknown),
            (PodSpec, "topologySpreadConstraints") => merge("topologyKey", Unknown),
            (PodSpec, "schedulingGates") => merge("name", Unknown),
            (PodSpec, "resourceClaims") => merge_retain("name", Unknown),

            // Container and EphemeralContainerCommon
            (Container, "ports") => merge("containerPort", Unknown),
            (Container, "env") => merge("name", Unknown),
            (Container, "volumeMounts") => merge("mountPath", Unknown),
            (Container, "volumeDevices") => merge("devicePath", Unknown),

            // PodStatus
            (PodStatus, "conditions") => merge("type", Unknown),
            (PodStatus, "podIPs" | "hostIPs") => merge("ip", Unknown),
            (PodStatus, "resourceClaimStatuses") => merge_retain("name", Unknown),
            (
                PodStatus,
                "containerStatuses" | "initContainerStatuses" | "ephemeralContainerStatuses",
            ) => plain(ContainerStatus),
            (ContainerStatus, "volumeMounts") => merge("mountPath", Unknown),
            (ContainerStatus, "allocatedResourcesStatus") => merge("name", Unknown),

            // ServiceSpec.Ports `patchStrategy:"merge" patchMergeKey:"port"`
            (ServiceSpec, "ports") => merge("port", Unknown),

            // NodeSpec.PodCIDRs `patchStrategy:"merge"`; NodeStatus conditions/addresses on `type`
            (NodeSpec, "podCIDRs") => primitives(),
            (NodeStatus, "conditions" | "addresses") => merge("type", Unknown),

            // PodDisruptionBudgetSpec.Selector `patchStrategy:"replace"`
            (PodDisruptionBudgetSpec, "selector") => replace(),

            (ConditionsStatus, "conditions") => merge("type", Unknown),

            #[cfg(test)]
            (MergeItem, "mergingList" | "mergeItemPtr") => merge("name", MergeItem),
            #[cfg(test)]
            (MergeItem, "nonMergingList") => plain(MergeItem),
            #[cfg(test)]
            (MergeItem, "mergingIntList") => primitives(),
            #[cfg(test)]
            (MergeItem, "replacingItem") => replace(),
            #[cfg(test)]
            (MergeItem, "retainKeysMap") => retain(RetainKeysMergeItem),
            #[cfg(test)]
            (MergeItem, "retainKeysMergingList") => merge_retain("name", MergeItem),
            #[cfg(test)]
            (RetainKeysMergeItem, "mergingIntList") => primitives(),
            #[cfg(test)]
            (RetainKeysMergeItem, "mergingList") => merge("name", MergeItem),
            #[cfg(test)]
            (RetainKeysMergeItem, "nonMergingList") => plain(MergeItem),

            _ => plain(Unknown),
        }
    }

    /// The field found by walking `path` (list indexes elided) from this type.
    pub(crate) fn walk(self, path: &[&str]) -> Option<Field> {
        let (last, parents) = path.split_last()?;
        let mut ty = self;
        for name in parents {
            ty = ty.field(name).ty;
        }
        Some(ty.field(last))
    }
}

/// Patch strategy of the list field at `path` (object keys from the root, list indexes elided)
/// in objects of `kind` in `api_version`.
///
/// ```
/// use knet_patch::{list_strategy, ListStrategy};
/// assert_eq!(
///     list_strategy("apps/v1", "Deployment", &["spec", "template", "spec", "containers"]),
///     ListStrategy::MergeByKey("name"),
/// );
/// assert_eq!(list_strategy("v1", "Pod", &["spec", "tolerations"]), ListStrategy::Replace);
/// ```
pub fn list_strategy(api_version: &str, kind: &str, path: &[&str]) -> ListStrategy {
    field_patch_meta(api_version, kind, path).list
}

/// Full patch metadata (list strategy, `retainKeys`, `replace`) of the field at `path`.
pub fn field_patch_meta(api_version: &str, kind: &str, path: &[&str]) -> FieldPatchMeta {
    Ty::root(api_version, kind)
        .walk(path)
        .map_or(FieldPatchMeta::NONE, |field| field.meta)
}

/// Whether knet has the strategy table of this kind. For other kinds (custom resources, kinds
/// not served) only `metadata` is known and every other list is replaced; kube-apiserver answers
/// 415 Unsupported Media Type to a strategic merge patch of a custom resource.
pub fn is_known_kind(api_version: &str, kind: &str) -> bool {
    !matches!(Ty::root(api_version, kind), Ty::GenericObject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_template_containers_merge_on_name_under_every_workload() {
        let template_containers = ["spec", "template", "spec", "containers"];
        for (api_version, kind) in [
            ("apps/v1", "Deployment"),
            ("apps/v1", "ReplicaSet"),
            ("apps/v1", "DaemonSet"),
            ("apps/v1", "StatefulSet"),
            ("v1", "ReplicationController"),
            ("batch/v1", "Job"),
        ] {
            assert_eq!(
                list_strategy(api_version, kind, &template_containers),
                ListStrategy::MergeByKey("name"),
                "{kind}"
            );
        }
        assert_eq!(
            list_strategy(
                "batch/v1",
                "CronJob",
                &[
                    "spec",
                    "jobTemplate",
                    "spec",
                    "template",
                    "spec",
                    "initContainers"
                ]
            ),
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            list_strategy("v1", "PodTemplate", &["template", "spec", "volumes"]),
            ListStrategy::MergeByKey("name")
        );
    }

    #[test]
    fn container_lists_use_their_upstream_merge_keys() {
        let cases = [
            ("ports", ListStrategy::MergeByKey("containerPort")),
            ("env", ListStrategy::MergeByKey("name")),
            ("volumeMounts", ListStrategy::MergeByKey("mountPath")),
            ("volumeDevices", ListStrategy::MergeByKey("devicePath")),
            ("envFrom", ListStrategy::Replace),
            ("args", ListStrategy::Replace),
        ];
        for containers in ["containers", "initContainers", "ephemeralContainers"] {
            for (field, want) in cases {
                assert_eq!(
                    list_strategy("v1", "Pod", &["spec", containers, field]),
                    want,
                    "{containers}.{field}"
                );
            }
        }
    }

    #[test]
    fn pod_spec_lists_use_their_upstream_merge_keys() {
        let cases = [
            ("volumes", ListStrategy::MergeByKey("name")),
            ("imagePullSecrets", ListStrategy::MergeByKey("name")),
            ("hostAliases", ListStrategy::MergeByKey("ip")),
            (
                "topologySpreadConstraints",
                ListStrategy::MergeByKey("topologyKey"),
            ),
            ("schedulingGates", ListStrategy::MergeByKey("name")),
            ("resourceClaims", ListStrategy::MergeByKey("name")),
            ("tolerations", ListStrategy::Replace),
            ("readinessGates", ListStrategy::Replace),
        ];
        for (field, want) in cases {
            assert_eq!(
                list_strategy("v1", "Pod", &["spec", field]),
                want,
                "{field}"
            );
        }
        assert!(field_patch_meta("v1", "Pod", &["spec", "volumes"]).retain_keys);
        assert!(field_patch_meta("apps/v1", "Deployment", &["spec", "strategy"]).retain_keys);
    }

    #[test]
    fn status_lists_merge_per_kind() {
        let conditions = ListStrategy::MergeByKey("type");
        assert_eq!(
            list_strategy("v1", "Pod", &["status", "conditions"]),
            conditions
        );
        assert_eq!(
            list_strategy("v1", "Pod", &["status", "podIPs"]),
            ListStrategy::MergeByKey("ip")
        );
        assert_eq!(
            list_strategy("v1", "Pod", &["status", "containerStatuses"]),
            ListStrategy::Replace
        );
        assert_eq!(
            list_strategy("v1", "Node", &["status", "conditions"]),
            conditions
        );
        assert_eq!(
            list_strategy("v1", "Node", &["status", "addresses"]),
            conditions
        );
        assert_eq!(
            list_strategy("v1", "Node", &["spec", "podCIDRs"]),
            ListStrategy::MergePrimitives
        );
        assert_eq!(
            list_strategy("v1", "Node", &["spec", "taints"]),
            ListStrategy::Replace
        );
        for (api_version, kind) in [
            ("apps/v1", "Deployment"),
            ("apps/v1", "ReplicaSet"),
            ("v1", "Namespace"),
            ("v1", "Service"),
        ] {
            assert_eq!(
                list_strategy(api_version, kind, &["status", "conditions"]),
                conditions,
                "{kind}"
            );
        }
        assert_eq!(
            list_strategy("v1", "Service", &["spec", "ports"]),
            ListStrategy::MergeByKey("port")
        );
    }

    #[test]
    fn object_meta_lists_merge_for_every_kind_even_unknown_ones() {
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("networking.k8s.io/v1", "Ingress"),
            ("example.com/v1", "Widget"),
        ] {
            assert_eq!(
                list_strategy(api_version, kind, &["metadata", "finalizers"]),
                ListStrategy::MergePrimitives
            );
            assert_eq!(
                list_strategy(api_version, kind, &["metadata", "ownerReferences"]),
                ListStrategy::MergeByKey("uid")
            );
        }
        assert_eq!(
            list_strategy("v1", "Namespace", &["spec", "finalizers"]),
            ListStrategy::Replace
        );
    }

    #[test]
    fn kinds_without_merge_keyed_lists_replace_their_lists() {
        let cases: [(&str, &str, &[&str]); 7] = [
            ("v1", "Endpoints", &["subsets"]),
            ("v1", "Endpoints", &["subsets", "addresses"]),
            ("discovery.k8s.io/v1", "EndpointSlice", &["endpoints"]),
            ("discovery.k8s.io/v1", "EndpointSlice", &["ports"]),
            (
                "networking.k8s.io/v1",
                "NetworkPolicy",
                &["spec", "ingress"],
            ),
            ("networking.k8s.io/v1", "Ingress", &["spec", "rules"]),
            ("v1", "Event", &["related"]),
        ];
        for (api_version, kind, path) in cases {
            assert_eq!(
                list_strategy(api_version, kind, path),
                ListStrategy::Replace,
                "{kind} {path:?}"
            );
            assert!(is_known_kind(api_version, kind));
        }
        assert!(!is_known_kind("example.com/v1", "Widget"));
        assert_eq!(list_strategy("v1", "Pod", &[]), ListStrategy::Replace);
    }

    #[test]
    fn kinds_are_told_apart_by_group() {
        assert_eq!(
            list_strategy(
                "v1",
                "Deployment",
                &["spec", "template", "spec", "containers"]
            ),
            ListStrategy::Replace
        );
        assert!(!is_known_kind("example.com/v1", "Pod"));
    }
}
