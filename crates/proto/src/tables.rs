//! Data tables for [`crate::golang`]. See each table for its source.

/// Embedded Go structs tagged `json:",inline"`: (message, proto field). Their fields are
/// flattened into the parent JSON object. Source: the Go types in k8s.io/api (e.g.
/// `ConfigMapEnvSource` embeds `LocalObjectReference`, `Volume` embeds `VolumeSource`,
/// `Probe` embeds `ProbeHandler`), cross-checked against the JSON schema of every
/// vendored message (a proto field absent from the object's JSON properties).
pub(crate) const INLINE: &[(&str, &str)] = &[
    (
        "k8s.io.api.core.v1.ConfigMapEnvSource",
        "localObjectReference",
    ),
    (
        "k8s.io.api.core.v1.ConfigMapKeySelector",
        "localObjectReference",
    ),
    (
        "k8s.io.api.core.v1.ConfigMapProjection",
        "localObjectReference",
    ),
    (
        "k8s.io.api.core.v1.ConfigMapVolumeSource",
        "localObjectReference",
    ),
    ("k8s.io.api.core.v1.SecretEnvSource", "localObjectReference"),
    (
        "k8s.io.api.core.v1.SecretKeySelector",
        "localObjectReference",
    ),
    (
        "k8s.io.api.core.v1.SecretProjection",
        "localObjectReference",
    ),
    (
        "k8s.io.api.core.v1.EphemeralContainer",
        "ephemeralContainerCommon",
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeSpec",
        "persistentVolumeSource",
    ),
    ("k8s.io.api.core.v1.Probe", "handler"),
    ("k8s.io.api.core.v1.Volume", "volumeSource"),
    ("k8s.io.api.networking.v1.IngressRule", "ingressRuleValue"),
];

/// Fields whose protobuf name is not their JSON name: (message, proto field, JSON key).
/// The protobuf tag was derived from the Go field name (`APIGroup` -> `aPIGroup`).
pub(crate) const RENAMED: &[(&str, &str, &str)] = &[(
    "k8s.io.api.networking.v1.IngressClassParametersReference",
    "aPIGroup",
    "apiGroup",
)];

/// Scalar fields that are Go pointers (`*int32`, `*bool`, `*string`...), by message: a zero
/// value on the wire was set explicitly and is kept. Two sources, merged:
pub(crate) const POINTER: &[&[(&str, &[&str])]] = &[POINTER_OBSERVED, POINTER_KNOWN];

/// Pointers observed on the wire: the scalar fields real kubectl 1.32 left out of the bodies in
/// `tests/fixtures/*.pb` (go-to-protobuf writes every non-pointer field, so an absent one is a
/// pointer). `job-from-cronjob.pb` sets every message of a Pod template and no scalar. Generated
/// by `tests/fixtures/pointers.py`; do not edit by hand.
const POINTER_OBSERVED: &[(&str, &[&str])] = &[
    (
        "k8s.io.api.apps.v1.DeploymentSpec",
        &[
            "podReplacementPolicy",
            "progressDeadlineSeconds",
            "revisionHistoryLimit",
        ],
    ),
    (
        "k8s.io.api.apps.v1.DeploymentStatus",
        &["collisionCount", "terminatingReplicas"],
    ),
    (
        "k8s.io.api.batch.v1.JobSpec",
        &[
            "activeDeadlineSeconds",
            "backoffLimit",
            "backoffLimitPerIndex",
            "completionMode",
            "completions",
            "managedBy",
            "manualSelector",
            "maxFailedIndexes",
            "parallelism",
            "podReplacementPolicy",
            "suspend",
            "ttlSecondsAfterFinished",
        ],
    ),
    (
        "k8s.io.api.batch.v1.JobStatus",
        &["failedIndexes", "ready", "terminating"],
    ),
    (
        "k8s.io.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        &["containerName"],
    ),
    (
        "k8s.io.api.batch.v1.SuccessPolicyRule",
        &["succeededCount", "succeededIndexes"],
    ),
    ("k8s.io.api.core.v1.AppArmorProfile", &["localhostProfile"]),
    (
        "k8s.io.api.core.v1.AzureDiskVolumeSource",
        &["cachingMode", "fsType", "kind", "readOnly"],
    ),
    (
        "k8s.io.api.core.v1.CSIVolumeSource",
        &["fsType", "readOnly"],
    ),
    (
        "k8s.io.api.core.v1.ClusterTrustBundleProjection",
        &["name", "optional", "signerName"],
    ),
    ("k8s.io.api.core.v1.ConfigMap", &["immutable"]),
    ("k8s.io.api.core.v1.ConfigMapEnvSource", &["optional"]),
    ("k8s.io.api.core.v1.ConfigMapKeySelector", &["optional"]),
    ("k8s.io.api.core.v1.ConfigMapProjection", &["optional"]),
    (
        "k8s.io.api.core.v1.ConfigMapVolumeSource",
        &["defaultMode", "optional"],
    ),
    ("k8s.io.api.core.v1.Container", &["restartPolicy"]),
    ("k8s.io.api.core.v1.DownwardAPIVolumeFile", &["mode"]),
    (
        "k8s.io.api.core.v1.DownwardAPIVolumeSource",
        &["defaultMode"],
    ),
    (
        "k8s.io.api.core.v1.EphemeralContainerCommon",
        &["restartPolicy"],
    ),
    ("k8s.io.api.core.v1.FCVolumeSource", &["lun"]),
    ("k8s.io.api.core.v1.GRPCAction", &["service"]),
    ("k8s.io.api.core.v1.HostPathVolumeSource", &["type"]),
    ("k8s.io.api.core.v1.ISCSIVolumeSource", &["initiatorName"]),
    ("k8s.io.api.core.v1.KeyToPath", &["mode"]),
    ("k8s.io.api.core.v1.Lifecycle", &["stopSignal"]),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimSpec",
        &[
            "storageClassName",
            "volumeAttributesClassName",
            "volumeMode",
        ],
    ),
    ("k8s.io.api.core.v1.PodDNSConfigOption", &["value"]),
    (
        "k8s.io.api.core.v1.PodResourceClaim",
        &["resourceClaimName", "resourceClaimTemplateName"],
    ),
    (
        "k8s.io.api.core.v1.PodSecurityContext",
        &[
            "fsGroup",
            "fsGroupChangePolicy",
            "runAsGroup",
            "runAsNonRoot",
            "runAsUser",
            "seLinuxChangePolicy",
            "supplementalGroupsPolicy",
        ],
    ),
    (
        "k8s.io.api.core.v1.PodSpec",
        &[
            "activeDeadlineSeconds",
            "automountServiceAccountToken",
            "enableServiceLinks",
            "hostUsers",
            "hostnameOverride",
            "preemptionPolicy",
            "priority",
            "runtimeClassName",
            "setHostnameAsFQDN",
            "shareProcessNamespace",
            "terminationGracePeriodSeconds",
        ],
    ),
    (
        "k8s.io.api.core.v1.Probe",
        &["terminationGracePeriodSeconds"],
    ),
    ("k8s.io.api.core.v1.ProjectedVolumeSource", &["defaultMode"]),
    ("k8s.io.api.core.v1.SeccompProfile", &["localhostProfile"]),
    ("k8s.io.api.core.v1.Secret", &["immutable"]),
    ("k8s.io.api.core.v1.SecretEnvSource", &["optional"]),
    ("k8s.io.api.core.v1.SecretKeySelector", &["optional"]),
    ("k8s.io.api.core.v1.SecretProjection", &["optional"]),
    (
        "k8s.io.api.core.v1.SecretVolumeSource",
        &["defaultMode", "optional"],
    ),
    (
        "k8s.io.api.core.v1.SecurityContext",
        &[
            "allowPrivilegeEscalation",
            "privileged",
            "procMount",
            "readOnlyRootFilesystem",
            "runAsGroup",
            "runAsNonRoot",
            "runAsUser",
        ],
    ),
    (
        "k8s.io.api.core.v1.ServiceAccount",
        &["automountServiceAccountToken"],
    ),
    (
        "k8s.io.api.core.v1.ServiceAccountTokenProjection",
        &["expirationSeconds"],
    ),
    ("k8s.io.api.core.v1.ServicePort", &["appProtocol"]),
    (
        "k8s.io.api.core.v1.ServiceSpec",
        &[
            "allocateLoadBalancerNodePorts",
            "internalTrafficPolicy",
            "ipFamilyPolicy",
            "loadBalancerClass",
            "trafficDistribution",
        ],
    ),
    ("k8s.io.api.core.v1.Toleration", &["tolerationSeconds"]),
    (
        "k8s.io.api.core.v1.TopologySpreadConstraint",
        &["minDomains", "nodeAffinityPolicy", "nodeTaintsPolicy"],
    ),
    (
        "k8s.io.api.core.v1.TypedLocalObjectReference",
        &["apiGroup"],
    ),
    (
        "k8s.io.api.core.v1.TypedObjectReference",
        &["apiGroup", "namespace"],
    ),
    (
        "k8s.io.api.core.v1.VolumeMount",
        &["mountPropagation", "recursiveReadOnly"],
    ),
    (
        "k8s.io.api.core.v1.WindowsSecurityContextOptions",
        &[
            "gmsaCredentialSpec",
            "gmsaCredentialSpecName",
            "hostProcess",
            "runAsUserName",
        ],
    ),
    (
        "k8s.io.api.policy.v1.PodDisruptionBudgetSpec",
        &["unhealthyPodEvictionPolicy"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        &["deletionGracePeriodSeconds"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference",
        &["blockOwnerDeletion", "controller"],
    ),
];

/// Pointers kubectl always sets (so never observed absent) or in messages kubectl never sends,
/// from the Go types in k8s.io/api and k8s.io/apimachinery (`*int32`, `*bool`, `*string`...).
const POINTER_KNOWN: &[(&str, &[&str])] = &[
    (
        "k8s.io.api.apps.v1.DaemonSetSpec",
        &["revisionHistoryLimit"],
    ),
    ("k8s.io.api.apps.v1.DaemonSetStatus", &["collisionCount"]),
    ("k8s.io.api.apps.v1.DeploymentSpec", &["replicas"]),
    ("k8s.io.api.apps.v1.ReplicaSetSpec", &["replicas"]),
    (
        "k8s.io.api.apps.v1.ReplicaSetStatus",
        &["terminatingReplicas"],
    ),
    (
        "k8s.io.api.apps.v1.RollingUpdateStatefulSetStrategy",
        &["partition"],
    ),
    (
        "k8s.io.api.apps.v1.StatefulSetSpec",
        &["replicas", "revisionHistoryLimit"],
    ),
    ("k8s.io.api.apps.v1.StatefulSetStatus", &["collisionCount"]),
    (
        "k8s.io.api.autoscaling.v1.HorizontalPodAutoscalerSpec",
        &["minReplicas", "targetCPUUtilizationPercentage"],
    ),
    (
        "k8s.io.api.autoscaling.v1.HorizontalPodAutoscalerStatus",
        &["currentCPUUtilizationPercentage", "observedGeneration"],
    ),
    (
        "k8s.io.api.batch.v1.CronJobSpec",
        &[
            "failedJobsHistoryLimit",
            "startingDeadlineSeconds",
            "successfulJobsHistoryLimit",
            "suspend",
            "timeZone",
        ],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeSpec",
        &["volumeAttributesClassName"],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimStatus",
        &["currentVolumeAttributesClassName"],
    ),
    (
        "k8s.io.api.discovery.v1.Endpoint",
        &["hostname", "nodeName", "zone"],
    ),
    (
        "k8s.io.api.discovery.v1.EndpointConditions",
        &["ready", "serving", "terminating"],
    ),
    (
        "k8s.io.api.discovery.v1.EndpointPort",
        &["appProtocol", "name", "port", "protocol"],
    ),
    ("k8s.io.api.networking.v1.HTTPIngressPath", &["pathType"]),
    (
        "k8s.io.api.networking.v1.IngressClassParametersReference",
        &["aPIGroup", "namespace", "scope"],
    ),
    (
        "k8s.io.api.networking.v1.IngressSpec",
        &["ingressClassName"],
    ),
    (
        "k8s.io.api.networking.v1.NetworkPolicyPort",
        &["endPort", "protocol"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        &[
            "gracePeriodSeconds",
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "orphanDependents",
            "propagationPolicy",
        ],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta",
        &["remainingItemCount"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.ListOptions",
        &["sendInitialEvents"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.PatchOptions",
        &["force"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.Preconditions",
        &["resourceVersion", "uid"],
    ),
];

/// Scalar fields without `omitempty` in their Go json tag, by message: a zero value is printed.
pub(crate) const REQUIRED: &[&[(&str, &[&str])]] = &[REQUIRED_SCHEMA, REQUIRED_KNOWN];

/// Fields the OpenAPI schema (or k8s-openapi) treats as optional although the Go tag has no
/// `omitempty`, seen in kubectl's own JSON for the fixtures.
const REQUIRED_KNOWN: &[(&str, &[&str])] = &[
    (
        "k8s.io.api.policy.v1.PodDisruptionBudgetStatus",
        &[
            "currentHealthy",
            "desiredHealthy",
            "disruptionsAllowed",
            "expectedPods",
        ],
    ),
    // k8s.io/api/batch/v1/types.go: `Status corev1.ConditionStatus json:"status"`.
    (
        "k8s.io.api.batch.v1.PodFailurePolicyOnPodConditionsPattern",
        &["status"],
    ),
];

/// Generated by `tests/fixtures/required.py` from k8s-openapi's required (non-`Option`)
/// properties; do not edit by hand.
const REQUIRED_SCHEMA: &[(&str, &[&str])] = &[
    ("k8s.io.api.apps.v1.ControllerRevision", &["revision"]),
    ("k8s.io.api.apps.v1.DaemonSetCondition", &["status", "type"]),
    (
        "k8s.io.api.apps.v1.DaemonSetStatus",
        &[
            "currentNumberScheduled",
            "desiredNumberScheduled",
            "numberMisscheduled",
            "numberReady",
        ],
    ),
    (
        "k8s.io.api.apps.v1.DeploymentCondition",
        &["status", "type"],
    ),
    (
        "k8s.io.api.apps.v1.ReplicaSetCondition",
        &["status", "type"],
    ),
    ("k8s.io.api.apps.v1.ReplicaSetStatus", &["replicas"]),
    (
        "k8s.io.api.apps.v1.StatefulSetCondition",
        &["status", "type"],
    ),
    ("k8s.io.api.apps.v1.StatefulSetStatus", &["replicas"]),
    (
        "k8s.io.api.autoscaling.v1.CrossVersionObjectReference",
        &["kind", "name"],
    ),
    (
        "k8s.io.api.autoscaling.v1.HorizontalPodAutoscalerSpec",
        &["maxReplicas"],
    ),
    (
        "k8s.io.api.autoscaling.v1.HorizontalPodAutoscalerStatus",
        &["currentReplicas", "desiredReplicas"],
    ),
    ("k8s.io.api.autoscaling.v1.ScaleStatus", &["replicas"]),
    ("k8s.io.api.batch.v1.CronJobSpec", &["schedule"]),
    ("k8s.io.api.batch.v1.JobCondition", &["status", "type"]),
    (
        "k8s.io.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        &["operator"],
    ),
    (
        "k8s.io.api.batch.v1.PodFailurePolicyOnPodConditionsPattern",
        &["type"],
    ),
    ("k8s.io.api.batch.v1.PodFailurePolicyRule", &["action"]),
    (
        "k8s.io.api.core.v1.AWSElasticBlockStoreVolumeSource",
        &["volumeID"],
    ),
    ("k8s.io.api.core.v1.AppArmorProfile", &["type"]),
    ("k8s.io.api.core.v1.AttachedVolume", &["devicePath", "name"]),
    (
        "k8s.io.api.core.v1.AzureDiskVolumeSource",
        &["diskName", "diskURI"],
    ),
    (
        "k8s.io.api.core.v1.AzureFilePersistentVolumeSource",
        &["secretName", "shareName"],
    ),
    (
        "k8s.io.api.core.v1.AzureFileVolumeSource",
        &["secretName", "shareName"],
    ),
    (
        "k8s.io.api.core.v1.CSIPersistentVolumeSource",
        &["driver", "volumeHandle"],
    ),
    ("k8s.io.api.core.v1.CSIVolumeSource", &["driver"]),
    (
        "k8s.io.api.core.v1.CinderPersistentVolumeSource",
        &["volumeID"],
    ),
    ("k8s.io.api.core.v1.CinderVolumeSource", &["volumeID"]),
    ("k8s.io.api.core.v1.ClusterTrustBundleProjection", &["path"]),
    ("k8s.io.api.core.v1.ComponentCondition", &["status", "type"]),
    ("k8s.io.api.core.v1.ConfigMapKeySelector", &["key"]),
    (
        "k8s.io.api.core.v1.ConfigMapNodeConfigSource",
        &["kubeletConfigKey", "name", "namespace"],
    ),
    ("k8s.io.api.core.v1.Container", &["name"]),
    (
        "k8s.io.api.core.v1.ContainerExtendedResourceRequest",
        &["containerName", "requestName", "resourceName"],
    ),
    ("k8s.io.api.core.v1.ContainerPort", &["containerPort"]),
    (
        "k8s.io.api.core.v1.ContainerResizePolicy",
        &["resourceName", "restartPolicy"],
    ),
    ("k8s.io.api.core.v1.ContainerRestartRule", &["action"]),
    (
        "k8s.io.api.core.v1.ContainerRestartRuleOnExitCodes",
        &["operator"],
    ),
    ("k8s.io.api.core.v1.ContainerStateTerminated", &["exitCode"]),
    (
        "k8s.io.api.core.v1.ContainerStatus",
        &["image", "imageID", "name", "ready", "restartCount"],
    ),
    ("k8s.io.api.core.v1.DaemonEndpoint", &["Port"]),
    ("k8s.io.api.core.v1.DownwardAPIVolumeFile", &["path"]),
    ("k8s.io.api.core.v1.EndpointAddress", &["ip"]),
    ("k8s.io.api.core.v1.EndpointPort", &["port"]),
    ("k8s.io.api.core.v1.EnvVar", &["name"]),
    ("k8s.io.api.core.v1.EphemeralContainerCommon", &["name"]),
    (
        "k8s.io.api.core.v1.FileKeySelector",
        &["key", "path", "volumeName"],
    ),
    ("k8s.io.api.core.v1.FlexPersistentVolumeSource", &["driver"]),
    ("k8s.io.api.core.v1.FlexVolumeSource", &["driver"]),
    (
        "k8s.io.api.core.v1.GCEPersistentDiskVolumeSource",
        &["pdName"],
    ),
    ("k8s.io.api.core.v1.GRPCAction", &["port"]),
    ("k8s.io.api.core.v1.GitRepoVolumeSource", &["repository"]),
    (
        "k8s.io.api.core.v1.GlusterfsPersistentVolumeSource",
        &["endpoints", "path"],
    ),
    (
        "k8s.io.api.core.v1.GlusterfsVolumeSource",
        &["endpoints", "path"],
    ),
    ("k8s.io.api.core.v1.HTTPHeader", &["name", "value"]),
    ("k8s.io.api.core.v1.HostAlias", &["ip"]),
    ("k8s.io.api.core.v1.HostIP", &["ip"]),
    ("k8s.io.api.core.v1.HostPathVolumeSource", &["path"]),
    (
        "k8s.io.api.core.v1.ISCSIPersistentVolumeSource",
        &["iqn", "lun", "targetPortal"],
    ),
    (
        "k8s.io.api.core.v1.ISCSIVolumeSource",
        &["iqn", "lun", "targetPortal"],
    ),
    ("k8s.io.api.core.v1.ImageVolumeStatus", &["imageRef"]),
    ("k8s.io.api.core.v1.KeyToPath", &["key", "path"]),
    ("k8s.io.api.core.v1.LimitRangeItem", &["type"]),
    ("k8s.io.api.core.v1.LinuxContainerUser", &["gid", "uid"]),
    ("k8s.io.api.core.v1.LocalVolumeSource", &["path"]),
    ("k8s.io.api.core.v1.ModifyVolumeStatus", &["status"]),
    ("k8s.io.api.core.v1.NFSVolumeSource", &["path", "server"]),
    ("k8s.io.api.core.v1.NamespaceCondition", &["status", "type"]),
    ("k8s.io.api.core.v1.NodeAddress", &["address", "type"]),
    ("k8s.io.api.core.v1.NodeCondition", &["status", "type"]),
    (
        "k8s.io.api.core.v1.NodeSelectorRequirement",
        &["key", "operator"],
    ),
    (
        "k8s.io.api.core.v1.NodeSystemInfo",
        &[
            "architecture",
            "bootID",
            "containerRuntimeVersion",
            "kernelVersion",
            "kubeProxyVersion",
            "kubeletVersion",
            "machineID",
            "operatingSystem",
            "osImage",
            "systemUUID",
        ],
    ),
    ("k8s.io.api.core.v1.ObjectFieldSelector", &["fieldPath"]),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimCondition",
        &["status", "type"],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimVolumeSource",
        &["claimName"],
    ),
    (
        "k8s.io.api.core.v1.PhotonPersistentDiskVolumeSource",
        &["pdID"],
    ),
    ("k8s.io.api.core.v1.PodAffinityTerm", &["topologyKey"]),
    (
        "k8s.io.api.core.v1.PodCertificateProjection",
        &["keyType", "signerName"],
    ),
    ("k8s.io.api.core.v1.PodCondition", &["status", "type"]),
    (
        "k8s.io.api.core.v1.PodExtendedResourceClaimStatus",
        &["resourceClaimName"],
    ),
    ("k8s.io.api.core.v1.PodIP", &["ip"]),
    ("k8s.io.api.core.v1.PodOS", &["name"]),
    ("k8s.io.api.core.v1.PodReadinessGate", &["conditionType"]),
    ("k8s.io.api.core.v1.PodResourceClaim", &["name"]),
    ("k8s.io.api.core.v1.PodResourceClaimStatus", &["name"]),
    ("k8s.io.api.core.v1.PodSchedulingGate", &["name"]),
    ("k8s.io.api.core.v1.PortStatus", &["port", "protocol"]),
    ("k8s.io.api.core.v1.PortworxVolumeSource", &["volumeID"]),
    ("k8s.io.api.core.v1.PreferredSchedulingTerm", &["weight"]),
    (
        "k8s.io.api.core.v1.QuobyteVolumeSource",
        &["registry", "volume"],
    ),
    ("k8s.io.api.core.v1.RBDPersistentVolumeSource", &["image"]),
    ("k8s.io.api.core.v1.RBDVolumeSource", &["image"]),
    (
        "k8s.io.api.core.v1.ReplicationControllerCondition",
        &["status", "type"],
    ),
    (
        "k8s.io.api.core.v1.ReplicationControllerStatus",
        &["replicas"],
    ),
    ("k8s.io.api.core.v1.ResourceClaim", &["name"]),
    ("k8s.io.api.core.v1.ResourceFieldSelector", &["resource"]),
    ("k8s.io.api.core.v1.ResourceHealth", &["resourceID"]),
    ("k8s.io.api.core.v1.ResourceStatus", &["name"]),
    (
        "k8s.io.api.core.v1.ScaleIOPersistentVolumeSource",
        &["gateway", "system"],
    ),
    (
        "k8s.io.api.core.v1.ScaleIOVolumeSource",
        &["gateway", "system"],
    ),
    (
        "k8s.io.api.core.v1.ScopedResourceSelectorRequirement",
        &["operator", "scopeName"],
    ),
    ("k8s.io.api.core.v1.SeccompProfile", &["type"]),
    ("k8s.io.api.core.v1.SecretKeySelector", &["key"]),
    (
        "k8s.io.api.core.v1.ServiceAccountTokenProjection",
        &["path"],
    ),
    ("k8s.io.api.core.v1.ServicePort", &["port"]),
    ("k8s.io.api.core.v1.SleepAction", &["seconds"]),
    ("k8s.io.api.core.v1.Sysctl", &["name", "value"]),
    ("k8s.io.api.core.v1.Taint", &["effect", "key"]),
    (
        "k8s.io.api.core.v1.TopologySelectorLabelRequirement",
        &["key"],
    ),
    (
        "k8s.io.api.core.v1.TopologySpreadConstraint",
        &["maxSkew", "topologyKey", "whenUnsatisfiable"],
    ),
    (
        "k8s.io.api.core.v1.TypedLocalObjectReference",
        &["kind", "name"],
    ),
    ("k8s.io.api.core.v1.TypedObjectReference", &["kind", "name"]),
    ("k8s.io.api.core.v1.Volume", &["name"]),
    ("k8s.io.api.core.v1.VolumeDevice", &["devicePath", "name"]),
    ("k8s.io.api.core.v1.VolumeMount", &["mountPath", "name"]),
    (
        "k8s.io.api.core.v1.VolumeMountStatus",
        &["mountPath", "name"],
    ),
    (
        "k8s.io.api.core.v1.VsphereVirtualDiskVolumeSource",
        &["volumePath"],
    ),
    ("k8s.io.api.core.v1.WeightedPodAffinityTerm", &["weight"]),
    ("k8s.io.api.discovery.v1.EndpointSlice", &["addressType"]),
    ("k8s.io.api.discovery.v1.ForNode", &["name"]),
    ("k8s.io.api.discovery.v1.ForZone", &["name"]),
    ("k8s.io.api.networking.v1.HTTPIngressPath", &["pathType"]),
    ("k8s.io.api.networking.v1.IPBlock", &["cidr"]),
    (
        "k8s.io.api.networking.v1.IngressClassParametersReference",
        &["kind", "name"],
    ),
    (
        "k8s.io.api.networking.v1.IngressPortStatus",
        &["port", "protocol"],
    ),
    ("k8s.io.api.networking.v1.IngressServiceBackend", &["name"]),
    (
        "k8s.io.api.networking.v1.ParentReference",
        &["name", "resource"],
    ),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.APIGroup", &["name"]),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.APIResource",
        &["kind", "name", "namespaced", "singularName"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.APIResourceList",
        &["groupVersion"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.Condition",
        &["message", "reason", "status", "type"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement",
        &["key", "operator"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.GroupResource",
        &["group", "resource"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.GroupVersionForDiscovery",
        &["groupVersion", "version"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        &["key", "operator"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference",
        &["apiVersion", "kind", "name", "uid"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.ServerAddressByClientCIDR",
        &["clientCIDR", "serverAddress"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.ShardInfo",
        &["selector"],
    ),
];
