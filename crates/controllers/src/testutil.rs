//! Builder fixtures for the unit tests (`mk_pod`, `mk_node`, `mk_rs`, `mk_deployment`,
//! `mk_service`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, ContainerStatus, LoadBalancerIngress, LoadBalancerStatus, Node,
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, NodeSpec, Pod, PodCondition, PodIP,
    PodSpec, PodStatus, PodTemplateSpec, Service, ServicePort, ServiceSpec, ServiceStatus, Taint,
    Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A fixed base time plus `secs` seconds.
pub(crate) fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

pub(crate) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn meta(ns: Option<&str>, name: &str, created: i64) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: ns.map(str::to_string),
        uid: Some(format!("uid-{name}")),
        resource_version: Some("1".into()),
        creation_timestamp: Some(Time(ts(created))),
        generation: Some(1),
        ..ObjectMeta::default()
    }
}

// ---- nodes ----

pub(crate) fn mk_node(name: &str, created: i64) -> Node {
    Node {
        metadata: meta(None, name, created),
        spec: Some(NodeSpec::default()),
        status: None,
    }
}

pub(crate) trait NodeExt: Sized {
    fn with_pod_cidr(self, cidr: &str) -> Self;
    fn with_labels(self, pairs: &[(&str, &str)]) -> Self;
    fn unschedulable(self) -> Self;
    fn with_taint(self, key: &str, value: &str, effect: &str) -> Self;
}

impl NodeExt for Node {
    fn with_pod_cidr(mut self, cidr: &str) -> Self {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.pod_cidr = Some(cidr.to_string());
        spec.pod_cidrs = Some(vec![cidr.to_string()]);
        self
    }
    fn with_labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.metadata
            .labels
            .get_or_insert_with(Default::default)
            .extend(labels(pairs));
        self
    }
    fn unschedulable(mut self) -> Self {
        self.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
        self
    }
    fn with_taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.spec
            .get_or_insert_with(Default::default)
            .taints
            .get_or_insert_with(Vec::new)
            .push(Taint {
                key: key.into(),
                value: (!value.is_empty()).then(|| value.to_string()),
                effect: effect.into(),
                time_added: None,
            });
        self
    }
}

// ---- pods ----

pub(crate) fn mk_pod(ns: &str, name: &str) -> Pod {
    Pod {
        metadata: meta(Some(ns), name, 0),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some("registry.example/app:1".into()),
                ..Container::default()
            }],
            scheduler_name: Some("default-scheduler".into()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..PodStatus::default()
        }),
    }
}

pub(crate) trait PodExt: Sized {
    fn with_labels(self, pairs: &[(&str, &str)]) -> Self;
    fn created_at(self, secs: i64) -> Self;
    fn on_node(self, node: &str) -> Self;
    fn phase(self, phase: &str) -> Self;
    fn ready_since(self, secs: i64) -> Self;
    fn restarts(self, n: i32) -> Self;
    fn deleting(self) -> Self;
    fn owned_by(self, api_version: &str, kind: &str, name: &str) -> Self;
    fn with_owner(self, owner: OwnerReference) -> Self;
    fn tolerating(self, key: &str, op: &str, value: &str, effect: &str) -> Self;
    fn with_node_selector(self, pairs: &[(&str, &str)]) -> Self;
    fn requiring_node_label(self, key: &str, op: &str, values: &[&str]) -> Self;
    fn with_ip(self, ip: &str) -> Self;
    fn with_container_port(self, name: &str, port: i32, protocol: &str) -> Self;
    fn with_hostname(self, hostname: &str, subdomain: &str) -> Self;
}

impl PodExt for Pod {
    fn with_labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.metadata
            .labels
            .get_or_insert_with(Default::default)
            .extend(labels(pairs));
        self
    }
    fn created_at(mut self, secs: i64) -> Self {
        self.metadata.creation_timestamp = Some(Time(ts(secs)));
        self
    }
    fn on_node(mut self, node: &str) -> Self {
        self.spec.get_or_insert_with(Default::default).node_name = Some(node.into());
        self
    }
    fn phase(mut self, phase: &str) -> Self {
        self.status.get_or_insert_with(Default::default).phase = Some(phase.into());
        self
    }
    fn ready_since(mut self, secs: i64) -> Self {
        let status = self.status.get_or_insert_with(Default::default);
        status.phase = Some("Running".into());
        status
            .conditions
            .get_or_insert_with(Vec::new)
            .push(PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(ts(secs))),
                ..PodCondition::default()
            });
        self
    }
    fn restarts(mut self, n: i32) -> Self {
        self.status
            .get_or_insert_with(Default::default)
            .container_statuses
            .get_or_insert_with(Vec::new)
            .push(ContainerStatus {
                name: "app".into(),
                restart_count: n,
                ..ContainerStatus::default()
            });
        self
    }
    fn deleting(mut self) -> Self {
        self.metadata.deletion_timestamp = Some(Time(ts(1000)));
        self
    }
    fn owned_by(self, api_version: &str, kind: &str, name: &str) -> Self {
        self.with_owner(OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
    }
    fn with_owner(mut self, owner: OwnerReference) -> Self {
        self.metadata
            .owner_references
            .get_or_insert_with(Vec::new)
            .push(owner);
        self
    }
    fn tolerating(mut self, key: &str, op: &str, value: &str, effect: &str) -> Self {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        self.spec
            .get_or_insert_with(Default::default)
            .tolerations
            .get_or_insert_with(Vec::new)
            .push(Toleration {
                key: opt(key),
                operator: opt(op),
                value: opt(value),
                effect: opt(effect),
                toleration_seconds: None,
            });
        self
    }
    fn with_node_selector(mut self, pairs: &[(&str, &str)]) -> Self {
        self.spec
            .get_or_insert_with(Default::default)
            .node_selector
            .get_or_insert_with(Default::default)
            .extend(labels(pairs));
        self
    }
    fn requiring_node_label(mut self, key: &str, op: &str, values: &[&str]) -> Self {
        let spec = self.spec.get_or_insert_with(Default::default);
        let affinity = spec.affinity.get_or_insert_with(Default::default);
        let node_affinity = affinity.node_affinity.get_or_insert_with(Default::default);
        let required = node_affinity
            .required_during_scheduling_ignored_during_execution
            .get_or_insert_with(|| NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm::default()],
            });
        required.node_selector_terms[0]
            .match_expressions
            .get_or_insert_with(Vec::new)
            .push(NodeSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: (!values.is_empty())
                    .then(|| values.iter().map(|v| v.to_string()).collect()),
            });
        self
    }
    fn with_ip(mut self, ip: &str) -> Self {
        let status = self.status.get_or_insert_with(Default::default);
        status.pod_ip = Some(ip.into());
        status.pod_ips = Some(vec![PodIP { ip: ip.into() }]);
        self
    }
    fn with_container_port(mut self, name: &str, port: i32, protocol: &str) -> Self {
        if let Some(c) = self
            .spec
            .get_or_insert_with(Default::default)
            .containers
            .first_mut()
        {
            c.ports.get_or_insert_with(Vec::new).push(ContainerPort {
                name: (!name.is_empty()).then(|| name.to_string()),
                container_port: port,
                protocol: Some(protocol.into()),
                ..ContainerPort::default()
            });
        }
        self
    }
    fn with_hostname(mut self, hostname: &str, subdomain: &str) -> Self {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.hostname = Some(hostname.into());
        spec.subdomain = Some(subdomain.into());
        self
    }
}

/// A pod that the endpoint controllers list: Running, Ready, with an IP, on `node`.
pub(crate) fn mk_endpoint_pod(ns: &str, name: &str, ip: &str, node: &str) -> Pod {
    mk_pod(ns, name).on_node(node).ready_since(0).with_ip(ip)
}

// ---- services ----

/// A ClusterIP Service selecting `selector`, port 80 → targetPort 8080/TCP named `http`.
pub(crate) fn mk_service(ns: &str, name: &str, selector: &[(&str, &str)]) -> Service {
    Service {
        metadata: meta(Some(ns), name, 0),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: (!selector.is_empty()).then(|| labels(selector)),
            cluster_ip: Some("10.96.0.10".into()),
            cluster_ips: Some(vec!["10.96.0.10".into()]),
            ip_families: Some(vec!["IPv4".into()]),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::Int(8080)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: Some(ServiceStatus::default()),
    }
}

pub(crate) trait ServiceExt: Sized {
    fn with_labels(self, pairs: &[(&str, &str)]) -> Self;
    fn with_ports(self, ports: Vec<ServicePort>) -> Self;
    fn publish_not_ready(self) -> Self;
    fn headless(self) -> Self;
    fn type_(self, t: &str) -> Self;
    fn load_balancer(self) -> Self;
    fn requesting_ip(self, ip: &str) -> Self;
    fn lb_class(self, class: &str) -> Self;
    fn with_ingress_ip(self, ip: &str) -> Self;
    fn created_at(self, secs: i64) -> Self;
    fn deleting(self) -> Self;
}

/// A ServicePort `name` → `target` (TCP).
pub(crate) fn svc_port(name: &str, port: i32, target: IntOrString) -> ServicePort {
    ServicePort {
        name: (!name.is_empty()).then(|| name.to_string()),
        port,
        protocol: Some("TCP".into()),
        target_port: Some(target),
        ..ServicePort::default()
    }
}

impl ServiceExt for Service {
    fn with_labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.metadata
            .labels
            .get_or_insert_with(Default::default)
            .extend(labels(pairs));
        self
    }
    fn with_ports(mut self, ports: Vec<ServicePort>) -> Self {
        self.spec.get_or_insert_with(Default::default).ports = Some(ports);
        self
    }
    fn publish_not_ready(mut self) -> Self {
        self.spec
            .get_or_insert_with(Default::default)
            .publish_not_ready_addresses = Some(true);
        self
    }
    fn headless(mut self) -> Self {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.cluster_ip = Some("None".into());
        spec.cluster_ips = Some(vec!["None".into()]);
        self
    }
    fn type_(mut self, t: &str) -> Self {
        self.spec.get_or_insert_with(Default::default).type_ = Some(t.into());
        self
    }
    fn load_balancer(self) -> Self {
        self.type_("LoadBalancer")
    }
    fn requesting_ip(mut self, ip: &str) -> Self {
        self.spec
            .get_or_insert_with(Default::default)
            .load_balancer_ip = Some(ip.into());
        self
    }
    fn lb_class(mut self, class: &str) -> Self {
        self.spec
            .get_or_insert_with(Default::default)
            .load_balancer_class = Some(class.into());
        self
    }
    fn with_ingress_ip(mut self, ip: &str) -> Self {
        self.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(vec![LoadBalancerIngress {
                    ip: Some(ip.into()),
                    ip_mode: Some("VIP".into()),
                    ..LoadBalancerIngress::default()
                }]),
            }),
            conditions: None,
        });
        self
    }
    fn created_at(mut self, secs: i64) -> Self {
        self.metadata.creation_timestamp = Some(Time(ts(secs)));
        self
    }
    fn deleting(mut self) -> Self {
        self.metadata.deletion_timestamp = Some(Time(ts(1000)));
        self
    }
}

// ---- workloads ----

pub(crate) fn mk_template(pairs: &[(&str, &str)], image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(pairs)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

pub(crate) fn mk_rs(ns: &str, name: &str, replicas: i32, pairs: &[(&str, &str)]) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            labels: Some(labels(pairs)),
            ..meta(Some(ns), name, 0)
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(pairs)),
                match_expressions: None,
            },
            template: Some(mk_template(pairs, "registry.example/app:1")),
            min_ready_seconds: None,
        }),
        status: Some(ReplicaSetStatus::default()),
    }
}

pub(crate) trait RsExt: Sized {
    fn owned_by_deployment(self, name: &str) -> Self;
    fn with_status(self, replicas: i32, ready: i32, available: i32) -> Self;
}

impl RsExt for ReplicaSet {
    fn owned_by_deployment(mut self, name: &str) -> Self {
        self.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        self
    }
    fn with_status(mut self, replicas: i32, ready: i32, available: i32) -> Self {
        let status = self.status.get_or_insert_with(Default::default);
        status.replicas = replicas;
        status.fully_labeled_replicas = Some(replicas);
        status.ready_replicas = Some(ready);
        status.available_replicas = Some(available);
        status.observed_generation = self.metadata.generation;
        self
    }
}

pub(crate) fn mk_deployment(
    ns: &str,
    name: &str,
    replicas: i32,
    pairs: &[(&str, &str)],
) -> Deployment {
    Deployment {
        metadata: meta(Some(ns), name, 0),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(pairs)),
                match_expressions: None,
            },
            template: mk_template(pairs, "registry.example/app:1"),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".into())),
                    max_unavailable: Some(IntOrString::String("25%".into())),
                }),
            }),
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

pub(crate) trait DeploymentExt: Sized {
    fn image(self, image: &str) -> Self;
    fn surge_unavailable(self, surge: IntOrString, unavailable: IntOrString) -> Self;
    fn recreate(self) -> Self;
    fn paused(self) -> Self;
    fn history_limit(self, n: i32) -> Self;
}

impl DeploymentExt for Deployment {
    fn image(mut self, image: &str) -> Self {
        if let Some(pod) = self.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            pod.containers[0].image = Some(image.into());
        }
        self
    }
    fn surge_unavailable(mut self, surge: IntOrString, unavailable: IntOrString) -> Self {
        if let Some(spec) = self.spec.as_mut() {
            spec.strategy = Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(surge),
                    max_unavailable: Some(unavailable),
                }),
            });
        }
        self
    }
    fn recreate(mut self) -> Self {
        if let Some(spec) = self.spec.as_mut() {
            spec.strategy = Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            });
        }
        self
    }
    fn paused(mut self) -> Self {
        if let Some(spec) = self.spec.as_mut() {
            spec.paused = Some(true);
        }
        self
    }
    fn history_limit(mut self, n: i32) -> Self {
        if let Some(spec) = self.spec.as_mut() {
            spec.revision_history_limit = Some(n);
        }
        self
    }
}
