//! The served resources, as the discovery documents of `/api/v1` and `/apis/<group>/v1` list them.

/// One served resource, as discovery (`/api/v1`, `/apis/apps/v1`) lists it.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; `""` is the core (legacy) group.
    pub group: &'static str,
    /// API version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Pod`.
    pub kind: &'static str,
    /// Plural resource name, e.g. `pods`.
    pub plural: &'static str,
    /// Singular resource name, e.g. `pod`.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names, e.g. `po`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Whether the resource has a `status` subresource.
    pub has_status: bool,
    /// Verbs of the main resource.
    pub verbs: &'static [&'static str],
}

impl ResourceInfo {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key prefix a store uses: `pods`, `deployments.apps`.
    pub fn store_resource(&self) -> String {
        self.group_resource()
    }

    /// The list kind, e.g. `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The group-qualified resource as error messages print it: `pods`, `deployments.apps`.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The group-qualified kind as `Invalid` errors print it: `Pod`, `Deployment.apps`.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

const VERBS_ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
// Namespaces do not support deletecollection upstream.
const VERBS_NO_COLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        has_status: true,
        verbs: VERBS_NO_COLLECTION,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        has_status: true,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        has_status: true,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        has_status: true,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Endpoints",
        plural: "endpoints",
        singular: "endpoints",
        namespaced: true,
        short_names: &["ep"],
        categories: &[],
        has_status: false,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        has_status: false,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        has_status: false,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        has_status: false,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "discovery.k8s.io",
        version: "v1",
        kind: "EndpointSlice",
        plural: "endpointslices",
        singular: "endpointslice",
        namespaced: true,
        short_names: &[],
        categories: &[],
        has_status: false,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        has_status: true,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        singular: "replicaset",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        has_status: true,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        singular: "networkpolicy",
        namespaced: true,
        short_names: &["netpol"],
        categories: &[],
        has_status: false,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
        singular: "ingress",
        namespaced: true,
        short_names: &["ing"],
        categories: &[],
        has_status: true,
        verbs: VERBS_ALL,
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "IngressClass",
        plural: "ingressclasses",
        singular: "ingressclass",
        namespaced: false,
        short_names: &[],
        categories: &[],
        has_status: false,
        verbs: VERBS_ALL,
    },
];

/// All served resources, core group first.
pub fn resources() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resource of an `apiVersion`/`kind` pair, e.g. (`apps/v1`, `Deployment`).
pub fn find_by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The resource of a URL path triple, e.g. (`apps`, `v1`, `deployments`).
pub fn find_by_plural(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// CLI lookup as kubectl resolves a resource argument: `po`, `pod`, `pods`, `Pod`, `deploy`,
/// `deployments.apps`, `deployments.v1.apps` (case-insensitive).
pub fn find_by_name(name: &str) -> Option<&'static ResourceInfo> {
    let lower = name.to_ascii_lowercase();
    // kubectl splits `resource.version.group` (the version must look like one) or
    // `resource.group`; a bare name matches any group, core first.
    let (resource, group, version) = match lower.split_once('.') {
        None => (lower.as_str(), None, None),
        Some((res, rest)) => match rest.split_once('.') {
            Some((v, g)) if looks_like_version(v) => (res, Some(g), Some(v)),
            _ => (res, Some(rest), None),
        },
    };
    let matches_name = |r: &ResourceInfo| {
        r.plural == resource
            || r.singular == resource
            || r.kind.eq_ignore_ascii_case(resource)
            || r.short_names.contains(&resource)
    };
    RESOURCES.iter().find(|r| {
        matches_name(r)
            && group.is_none_or(|g| r.group == g || (g == "core" && r.group.is_empty()))
            && version.is_none_or(|v| r.version == v)
    })
}

/// Whether `s` is a Kubernetes API version such as `v1`, `v1beta1`, `v2alpha3`.
fn looks_like_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    if tail.is_empty() {
        return true;
    }
    ["alpha", "beta"].iter().any(|stage| {
        tail.strip_prefix(stage)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_singulars_plurals_and_kinds_resolve() {
        for name in ["po", "pod", "pods", "Pod", "PODS"] {
            assert_eq!(find_by_name(name).map(|r| r.kind), Some("Pod"), "{name}");
        }
        assert_eq!(find_by_name("svc").map(|r| r.kind), Some("Service"));
        assert_eq!(find_by_name("ep").map(|r| r.kind), Some("Endpoints"));
        assert_eq!(find_by_name("cm").map(|r| r.kind), Some("ConfigMap"));
        assert_eq!(find_by_name("ns").map(|r| r.kind), Some("Namespace"));
        assert_eq!(find_by_name("no").map(|r| r.kind), Some("Node"));
        assert_eq!(find_by_name("ev").map(|r| r.kind), Some("Event"));
        assert_eq!(find_by_name("deploy").map(|r| r.kind), Some("Deployment"));
        assert_eq!(find_by_name("rs").map(|r| r.kind), Some("ReplicaSet"));
        assert_eq!(
            find_by_name("netpol").map(|r| r.kind),
            Some("NetworkPolicy")
        );
        assert_eq!(find_by_name("ing").map(|r| r.kind), Some("Ingress"));
    }

    #[test]
    fn group_qualified_names_resolve_and_wrong_groups_do_not() {
        assert_eq!(
            find_by_name("deployments.apps").map(|r| r.kind),
            Some("Deployment")
        );
        assert_eq!(
            find_by_name("deployments.v1.apps").map(|r| r.kind),
            Some("Deployment")
        );
        assert_eq!(
            find_by_name("deployment.apps").map(|r| r.kind),
            Some("Deployment")
        );
        assert_eq!(
            find_by_name("endpointslices.discovery.k8s.io").map(|r| r.kind),
            Some("EndpointSlice")
        );
        assert_eq!(
            find_by_name("ingresses.v1.networking.k8s.io").map(|r| r.kind),
            Some("Ingress")
        );
        assert!(find_by_name("deployments.extensions").is_none());
        assert!(find_by_name("deployments.v2.apps").is_none());
        assert!(find_by_name("widgets").is_none());
    }

    #[test]
    fn kind_and_plural_lookups_use_the_api_version() {
        let d = find_by_kind("apps/v1", "Deployment").map(|r| r.plural);
        assert_eq!(d, Some("deployments"));
        assert!(find_by_kind("v1", "Deployment").is_none());
        let p = find_by_plural("", "v1", "pods").map(|r| r.kind);
        assert_eq!(p, Some("Pod"));
        assert!(find_by_plural("apps", "v1", "pods").is_none());
    }

    #[test]
    fn names_derived_from_a_resource_follow_upstream() {
        let d = find_by_name("deploy").expect("deployments");
        assert_eq!(d.api_version(), "apps/v1");
        assert_eq!(d.store_resource(), "deployments.apps");
        assert_eq!(d.group_resource(), "deployments.apps");
        assert_eq!(d.group_kind(), "Deployment.apps");
        assert_eq!(d.list_kind(), "DeploymentList");
        let p = find_by_name("po").expect("pods");
        assert_eq!(p.api_version(), "v1");
        assert_eq!(p.group_resource(), "pods");
        assert_eq!(p.group_kind(), "Pod");
    }

    #[test]
    fn categories_and_scopes_match_upstream_discovery() {
        let all: Vec<&str> = resources()
            .iter()
            .filter(|r| r.categories.contains(&"all"))
            .map(|r| r.plural)
            .collect();
        assert_eq!(all, ["pods", "services", "deployments", "replicasets"]);
        let cluster: Vec<&str> = resources()
            .iter()
            .filter(|r| !r.namespaced)
            .map(|r| r.plural)
            .collect();
        assert_eq!(cluster, ["namespaces", "nodes", "ingressclasses"]);
        assert!(
            !find_by_name("ns")
                .expect("ns")
                .verbs
                .contains(&"deletecollection")
        );
    }
}
