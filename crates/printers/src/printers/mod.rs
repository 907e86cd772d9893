//! Table printers: which columns each kind has and how each cell is computed, mirroring
//! kubernetes/kubernetes pkg/printers/internalversion/printers.go. The API server always
//! generates tables with `Wide: true` (all columns, nothing clipped); clients drop the
//! priority-1 columns unless asked for wide output.

pub(crate) mod apps;
pub(crate) mod columns;
pub(crate) mod core;
mod networking;
mod other;

use jiff::Timestamp;
use serde_json::Value;

use crate::duration::translate_timestamp_since;
use crate::json::{list_at, time_at};
use crate::{Column, Row};

/// One printer per kind (group + kind; versions of a group print alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Printer {
    Pod,
    Namespace,
    Node,
    Service,
    Endpoints,
    EndpointSlice,
    Deployment,
    ReplicaSet,
    DaemonSet,
    StatefulSet,
    Job,
    CronJob,
    ConfigMap,
    Secret,
    ServiceAccount,
    Event,
    /// events.k8s.io Events, printed through the core Event printer as upstream does.
    EventsV1Event,
    NetworkPolicy,
    Ingress,
    IngressClass,
    Lease,
    RoleBinding,
    ClusterRoleBinding,
    PriorityClass,
    PodDisruptionBudget,
    ServiceCidr,
    IpAddress,
    Default,
}

/// The API group of an apiVersion ("" for the core group's "v1").
pub(crate) fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

impl Printer {
    pub(crate) fn resolve(api_version: &str, kind: &str) -> Printer {
        use Printer::*;
        match (group_of(api_version), kind) {
            ("", "Pod") => Pod,
            ("", "Namespace") => Namespace,
            ("", "Node") => Node,
            ("", "Service") => Service,
            ("", "Endpoints") => Endpoints,
            ("", "ConfigMap") => ConfigMap,
            ("", "Secret") => Secret,
            ("", "ServiceAccount") => ServiceAccount,
            ("", "Event") => Event,
            ("events.k8s.io", "Event") => EventsV1Event,
            ("discovery.k8s.io", "EndpointSlice") => EndpointSlice,
            ("apps" | "extensions", "Deployment") => Deployment,
            ("apps" | "extensions", "ReplicaSet") => ReplicaSet,
            ("apps" | "extensions", "DaemonSet") => DaemonSet,
            ("apps", "StatefulSet") => StatefulSet,
            ("batch", "Job") => Job,
            ("batch", "CronJob") => CronJob,
            ("networking.k8s.io" | "extensions", "NetworkPolicy") => NetworkPolicy,
            ("networking.k8s.io" | "extensions", "Ingress") => Ingress,
            ("networking.k8s.io", "IngressClass") => IngressClass,
            ("networking.k8s.io", "ServiceCIDR") => ServiceCidr,
            ("networking.k8s.io", "IPAddress") => IpAddress,
            ("coordination.k8s.io", "Lease") => Lease,
            ("rbac.authorization.k8s.io", "RoleBinding") => RoleBinding,
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => ClusterRoleBinding,
            ("scheduling.k8s.io", "PriorityClass") => PriorityClass,
            ("policy", "PodDisruptionBudget") => PodDisruptionBudget,
            _ => Default,
        }
    }

    pub(crate) fn columns(self) -> Vec<Column> {
        use Printer::*;
        match self {
            Pod => columns::pod(),
            Namespace => columns::namespace(),
            Node => columns::node(),
            Service => columns::service(),
            Endpoints => columns::endpoints(),
            EndpointSlice => columns::endpoint_slice(),
            Deployment => columns::deployment(),
            ReplicaSet => columns::replica_set(),
            DaemonSet => columns::daemon_set(),
            StatefulSet => columns::stateful_set(),
            Job => columns::job(),
            CronJob => columns::cron_job(),
            ConfigMap => columns::config_map(),
            Secret => columns::secret(),
            ServiceAccount => columns::service_account(),
            Event | EventsV1Event => columns::event(),
            NetworkPolicy => columns::network_policy(),
            Ingress => columns::ingress(),
            IngressClass => columns::ingress_class(),
            Lease => columns::lease(),
            RoleBinding => columns::role_binding(false),
            ClusterRoleBinding => columns::role_binding(true),
            PriorityClass => columns::priority_class(),
            PodDisruptionBudget => columns::pod_disruption_budget(),
            ServiceCidr => columns::service_cidr(),
            IpAddress => columns::ip_address(),
            Default => columns::default_table(),
        }
    }

    pub(crate) fn row(self, obj: &Value, now: Timestamp) -> Row {
        use Printer::*;
        let plain = |cells: Vec<Value>| Row {
            cells,
            conditions: Vec::new(),
        };
        match self {
            Pod => core::pod_row(obj, now),
            Namespace => plain(core::namespace_cells(obj, now)),
            Node => plain(core::node_cells(obj, now)),
            Service => plain(core::service_cells(obj, now)),
            Endpoints => plain(core::endpoints_cells(obj, now)),
            ConfigMap => plain(core::config_map_cells(obj, now)),
            Secret => plain(core::secret_cells(obj, now)),
            ServiceAccount => plain(core::service_account_cells(obj, now)),
            Event => plain(core::event_cells(obj, now)),
            EventsV1Event => plain(core::event_cells(&core::events_v1_as_core(obj), now)),
            EndpointSlice => plain(networking::endpoint_slice_cells(obj, now)),
            NetworkPolicy => plain(networking::network_policy_cells(obj, now)),
            Ingress => plain(networking::ingress_cells(obj, now)),
            IngressClass => plain(networking::ingress_class_cells(obj, now)),
            ServiceCidr => plain(networking::service_cidr_cells(obj, now)),
            IpAddress => plain(networking::ip_address_cells(obj, now)),
            Deployment => plain(apps::deployment_cells(obj, now)),
            ReplicaSet => plain(apps::replica_set_cells(obj, now)),
            DaemonSet => plain(apps::daemon_set_cells(obj, now)),
            StatefulSet => plain(apps::stateful_set_cells(obj, now)),
            Job => plain(apps::job_cells(obj, now)),
            CronJob => plain(apps::cron_job_cells(obj, now)),
            Lease => plain(other::lease_cells(obj, now)),
            RoleBinding | ClusterRoleBinding => plain(other::role_binding_cells(obj, now)),
            PriorityClass => plain(other::priority_class_cells(obj, now)),
            PodDisruptionBudget => plain(other::pod_disruption_budget_cells(obj, now)),
            Default => plain(other::default_cells(obj)),
        }
    }
}

/// A string cell.
pub(crate) fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

/// An integer cell.
pub(crate) fn n(value: i64) -> Value {
    Value::from(value)
}

/// The AGE cell: `translateTimestampSince(metadata.creationTimestamp)`.
pub(crate) fn age(obj: &Value, now: Timestamp) -> Value {
    s(translate_timestamp_since(
        time_at(obj, &["metadata", "creationTimestamp"]),
        now,
    ))
}

/// `layoutContainerCells`: container names and images, each joined with ",".
pub(crate) fn container_cells(pod_spec_path: &[&str], obj: &Value) -> (Value, Value) {
    let mut path: Vec<&str> = pod_spec_path.to_vec();
    path.push("containers");
    let containers = list_at(obj, &path);
    let names: Vec<&str> = containers
        .iter()
        .map(|c| crate::json::str_at(c, &["name"]))
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| crate::json::str_at(c, &["image"]))
        .collect();
    (s(names.join(",")), s(images.join(",")))
}

/// `listWithMoreString`: up to `max` items joined with ",", then " + N more...";
/// "<unset>" when empty.
pub(crate) fn list_with_more(items: &[String], total: usize, max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let ret = shown.join(",");
    if total > max {
        return format!("{ret} + {} more...", total - max);
    }
    if ret.is_empty() {
        return "<unset>".to_string();
    }
    ret
}

/// `net.JoinHostPort`: brackets IPv6 literals.
pub(crate) fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The load-balancer ingress points (IP, else hostname) as a sorted, de-duplicated,
/// comma-joined set (`loadBalancerStatusStringer` with `wide`, as the API server prints).
pub(crate) fn load_balancer_ingress(status: &Value, path: &[&str]) -> String {
    let mut set: Vec<&str> = list_at(status, path)
        .iter()
        .filter_map(|i| {
            let ip = crate::json::str_at(i, &["ip"]);
            let host = crate::json::str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.sort_unstable();
    set.dedup();
    set.join(",")
}
