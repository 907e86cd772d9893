//! `knet expose`: a new Service for a Deployment, ReplicaSet, Pod or Service, built as `kubectl
//! expose` builds it (staging/src/k8s.io/kubectl/pkg/cmd/expose/expose.go, and the
//! `polymorphichelpers` it reads the exposed object with). [`build_service`] is the pure part;
//! [`run`] fetches the object, creates the Service and reports like kubectl.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodSpec, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knet_labels::validation;

use crate::get::{self, Output};

/// Longest Service name: a DNS-1035 label. kubectl cuts the exposed object's name to it.
const DNS1035_LABEL_MAX_LENGTH: usize = 63;

/// `--type`: the Service types `knet expose` creates. `ExternalName` is left out: such a Service
/// selects no pods and has no ports, so there is nothing to take from the exposed object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    /// A virtual IP inside the cluster (the default).
    ClusterIp,
    /// ClusterIP plus a port (30000-32767) on every node.
    NodePort,
    /// NodePort plus an external load balancer address.
    LoadBalancer,
}

impl ServiceType {
    /// The API spelling (`spec.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

impl std::str::FromStr for ServiceType {
    type Err = String;
    /// The API spelling, case-insensitively (`NodePort`, `nodeport`).
    fn from_str(s: &str) -> Result<Self, String> {
        [
            ServiceType::ClusterIp,
            ServiceType::NodePort,
            ServiceType::LoadBalancer,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            format!(
                "invalid Service type {s:?}: supported values are ClusterIP, NodePort, LoadBalancer"
            )
        })
    }
}

/// `--protocol`: a Service port's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The API spelling (`TCP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    /// `TCP`, `UDP` or `SCTP`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, String> {
        [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("invalid protocol {s:?}: supported values are TCP, UDP, SCTP"))
    }
}

/// `--session-affinity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionAffinity {
    /// Each connection may go to any endpoint.
    None,
    /// Connections from one client IP go to the same endpoint.
    ClientIp,
}

impl std::str::FromStr for SessionAffinity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "None" => Ok(SessionAffinity::None),
            "ClientIP" => Ok(SessionAffinity::ClientIp),
            other => Err(format!(
                "unknown session affinity: {other} (legal values: None, ClientIP)"
            )),
        }
    }
}

/// The flags of `knet expose` that shape the Service. `None` means "not given": the value then
/// comes from the exposed object, or the API default applies.
#[derive(Clone, Debug, Default)]
pub struct ExposeFlags {
    /// `--port`: one port, or several separated by commas.
    pub port: Option<String>,
    /// `--target-port`: a number or a container port's name, for every Service port.
    pub target_port: Option<String>,
    /// `--protocol`.
    pub protocol: Option<Protocol>,
    /// `--type`.
    pub service_type: Option<ServiceType>,
    /// `--name` (default: the exposed object's name).
    pub name: Option<String>,
    /// `--selector`: `key=value[,key=value...]`.
    pub selector: Option<String>,
    /// `--labels`: `key=value[,key=value...]` (default: the exposed object's labels).
    pub labels: Option<String>,
    /// `--cluster-ip`: an address, or `None` for a headless Service.
    pub cluster_ip: Option<String>,
    /// `--session-affinity`.
    pub session_affinity: Option<SessionAffinity>,
}

/// An object `knet expose` can expose (kubectl's `canBeExposed`, without the
/// ReplicationController that knet does not serve).
#[derive(Clone, Debug)]
pub enum Exposable {
    /// apps/v1 Deployment.
    Deployment(Deployment),
    /// apps/v1 ReplicaSet.
    ReplicaSet(ReplicaSet),
    /// v1 Pod.
    Pod(Pod),
    /// v1 Service.
    Service(Service),
}

/// Why no Service could be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExposeError {
    /// The object has no selector (or labels) a Service could use.
    NoSelector(String),
    /// The object selects pods with `matchExpressions`, which a Service selector cannot say.
    SetBasedSelector(String),
    /// No `--port`, and the object declares no port.
    NoPort,
    /// A flag's value is malformed.
    InvalidFlag {
        /// The flag, e.g. `--port`.
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl fmt::Display for ExposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExposeError::NoSelector(why) => write!(
                f,
                "couldn't retrieve selectors via --selector flag or introspection: {why}"
            ),
            ExposeError::SetBasedSelector(exprs) => write!(
                f,
                "couldn't retrieve selectors via --selector flag or introspection: couldn't convert expressions - \"{exprs}\" to map-based selector format (a Service selects pods by label equality only; give --selector key=value)"
            ),
            ExposeError::NoPort => write!(
                f,
                "couldn't find port via --port flag or introspection (the object declares no container port; give --port)"
            ),
            ExposeError::InvalidFlag { flag, message } => write!(f, "invalid {flag}: {message}"),
        }
    }
}

impl std::error::Error for ExposeError {}

fn invalid(flag: &'static str, message: impl Into<String>) -> ExposeError {
    ExposeError::InvalidFlag {
        flag,
        message: message.into(),
    }
}

/// One port the exposed object declares, with its protocols in the order they appear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredPort {
    /// The container port (or, for a Service, the service port).
    pub port: i32,
    /// `TCP`, `UDP`, `SCTP`: one port number may be declared for several.
    pub protocols: Vec<String>,
}

impl Exposable {
    fn metadata(&self) -> &ObjectMeta {
        match self {
            Exposable::Deployment(o) => &o.metadata,
            Exposable::ReplicaSet(o) => &o.metadata,
            Exposable::Pod(o) => &o.metadata,
            Exposable::Service(o) => &o.metadata,
        }
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// The pods' selector: kubectl's `mapBasedSelectorForObject`
    /// (staging/src/k8s.io/kubectl/pkg/polymorphichelpers/mapbasedselectorforobject.go).
    pub fn selector(&self) -> Result<BTreeMap<String, String>, ExposeError> {
        match self {
            Exposable::Deployment(d) => {
                let sel = d.spec.as_ref().map(|s| &s.selector);
                match_labels_only(sel, "deployment")
            }
            Exposable::ReplicaSet(rs) => {
                let sel = rs.spec.as_ref().map(|s| &s.selector);
                match_labels_only(sel, "replicaset")
            }
            Exposable::Pod(p) => match &p.metadata.labels {
                Some(l) if !l.is_empty() => Ok(l.clone()),
                _ => Err(ExposeError::NoSelector(
                    "the pod has no labels and cannot be exposed".to_string(),
                )),
            },
            // kubectl accepts an empty (but present) selector; the API drops empty maps, so
            // knet asks for a non-empty one: a Service that selects nothing by label is not what
            // exposing another Service means.
            Exposable::Service(s) => match s.spec.as_ref().and_then(|s| s.selector.as_ref()) {
                Some(sel) if !sel.is_empty() => Ok(sel.clone()),
                _ => Err(ExposeError::NoSelector(
                    "the service has no pod selector set".to_string(),
                )),
            },
        }
    }

    /// The ports the object declares, without duplicates, in order: every container's ports
    /// (kubectl's `portsForObject` and `multiProtocolsForObject`), or a Service's ports.
    pub fn ports(&self) -> Vec<DeclaredPort> {
        let mut out: Vec<DeclaredPort> = Vec::new();
        let mut add = |port: i32, protocol: Option<&str>| {
            // An unset protocol is TCP, the API default.
            let protocol = protocol.unwrap_or("TCP").to_string();
            match out.iter_mut().find(|p| p.port == port) {
                Some(p) => {
                    if !p.protocols.contains(&protocol) {
                        p.protocols.push(protocol);
                    }
                }
                None => out.push(DeclaredPort {
                    port,
                    protocols: vec![protocol],
                }),
            }
        };
        let pod_spec: Option<&PodSpec> = match self {
            Exposable::Deployment(d) => d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
            Exposable::ReplicaSet(rs) => rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref()),
            Exposable::Pod(p) => p.spec.as_ref(),
            Exposable::Service(s) => {
                for p in s
                    .spec
                    .as_ref()
                    .and_then(|s| s.ports.as_ref())
                    .into_iter()
                    .flatten()
                {
                    add(p.port, p.protocol.as_deref());
                }
                None
            }
        };
        for c in pod_spec.map(|s| s.containers.as_slice()).unwrap_or(&[]) {
            for p in c.ports.as_deref().unwrap_or(&[]) {
                add(p.container_port, p.protocol.as_deref());
            }
        }
        out
    }
}

/// A Deployment's or ReplicaSet's selector as a Service selector: `matchLabels` only.
fn match_labels_only(
    sel: Option<&LabelSelector>,
    what: &str,
) -> Result<BTreeMap<String, String>, ExposeError> {
    let exprs = sel
        .and_then(|s| s.match_expressions.as_deref())
        .unwrap_or(&[]);
    if !exprs.is_empty() {
        let text = exprs
            .iter()
            .map(|e| {
                let values = e.values.as_deref().unwrap_or(&[]);
                if values.is_empty() {
                    format!("{} {}", e.key, e.operator)
                } else {
                    format!("{} {} ({})", e.key, e.operator, values.join(","))
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ExposeError::SetBasedSelector(text));
    }
    match sel.and_then(|s| s.match_labels.as_ref()) {
        Some(l) if !l.is_empty() => Ok(l.clone()),
        _ => Err(ExposeError::NoSelector(format!(
            "invalid {what}: no selectors, therefore cannot be exposed"
        ))),
    }
}

/// Parses `key=value[,key=value...]` as kubectl's `parseLabels` does (exactly one `=` per pair,
/// so `==` and `!=` are refused), then checks keys and values as the API will.
pub fn parse_labels(
    flag: &'static str,
    spec: &str,
) -> Result<BTreeMap<String, String>, ExposeError> {
    let mut out = BTreeMap::new();
    for pair in spec.split(',') {
        let mut parts = pair.split('=');
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid(
                flag,
                format!("unexpected label spec: {pair:?} (expected key=value[,key=value...])"),
            ));
        };
        if key.is_empty() {
            return Err(invalid(flag, "unexpected empty label key"));
        }
        if let Some(e) = validation::is_qualified_name(key).first() {
            return Err(invalid(flag, format!("label key {key:?}: {e}")));
        }
        if let Some(e) = validation::is_valid_label_value(value).first() {
            return Err(invalid(flag, format!("label value {value:?}: {e}")));
        }
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

fn parse_port(s: &str) -> Result<i32, ExposeError> {
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| invalid("--port", format!("{s:?} is not a port number (1-65535)")))?;
    if let Some(e) = validation::is_valid_port_num(n).first() {
        return Err(invalid("--port", format!("{n}: {e}")));
    }
    i32::try_from(n).map_err(|_| invalid("--port", format!("{n} is out of range")))
}

/// `--target-port`: a number (1-65535) or a container port's name (an IANA service name), as
/// `intstr.Parse` reads it.
pub fn parse_target_port(s: &str) -> Result<IntOrString, ExposeError> {
    if let Ok(n) = s.parse::<i64>() {
        if let Some(e) = validation::is_valid_port_num(n).first() {
            return Err(invalid("--target-port", format!("{n}: {e}")));
        }
        let n = i32::try_from(n)
            .map_err(|_| invalid("--target-port", format!("{n} is out of range")))?;
        return Ok(IntOrString::Int(n));
    }
    if let Some(e) = validation::is_valid_port_name(s).first() {
        return Err(invalid(
            "--target-port",
            format!("{s:?} is neither a port number nor a valid port name: {e}"),
        ));
    }
    Ok(IntOrString::String(s.to_string()))
}

/// The Service `kubectl expose` would create for `object` with `flags` (expose.go
/// `createService`):
/// - name: `--name`, else the object's name cut to 63 characters;
/// - selector: `--selector`, else the object's (see [`Exposable::selector`]);
/// - ports: `--port`, else the object's declared ports; several ports are named `port-N`, and a
///   port declared for several protocols becomes one Service port per protocol (`port-N-udp`);
/// - protocol: `--protocol` for every port, else the object's for that port, else TCP;
/// - targetPort: `--target-port` for every port, else the port itself;
/// - labels: `--labels`, else the object's labels.
pub fn build_service(object: &Exposable, flags: &ExposeFlags) -> Result<Service, ExposeError> {
    let selector = match &flags.selector {
        Some(s) => parse_labels("--selector", s)?,
        None => object.selector()?,
    };
    let headless = flags.cluster_ip.as_deref() == Some("None");
    let declared = object.ports();
    let port_numbers: Vec<i32> = match &flags.port {
        Some(p) => p.split(',').map(parse_port).collect::<Result<_, _>>()?,
        None if declared.is_empty() && !headless => return Err(ExposeError::NoPort),
        None => declared.iter().map(|d| d.port).collect(),
    };
    let several = port_numbers.len() > 1;
    let mut ports = Vec::new();
    for (i, &port) in port_numbers.iter().enumerate() {
        let name = several.then(|| format!("port-{}", i + 1));
        let own = declared.iter().find(|d| d.port == port);
        match (flags.protocol, own) {
            (Some(p), _) => ports.push(service_port(name, port, p.as_str())),
            (None, Some(d)) if d.protocols.len() > 1 => {
                for proto in &d.protocols {
                    let name = format!("port-{}-{}", i + 1, proto.to_lowercase());
                    ports.push(service_port(Some(name), port, proto));
                }
            }
            (None, Some(d)) => {
                let proto = d.protocols.first().map(String::as_str).unwrap_or("TCP");
                ports.push(service_port(name, port, proto));
            }
            (None, None) => ports.push(service_port(name, port, "TCP")),
        }
    }
    let target = flags
        .target_port
        .as_deref()
        .map(parse_target_port)
        .transpose()?;
    for p in &mut ports {
        p.target_port = Some(target.clone().unwrap_or(IntOrString::Int(p.port)));
    }
    let name = match &flags.name {
        Some(n) => n.clone(),
        None => object
            .name()
            .chars()
            .take(DNS1035_LABEL_MAX_LENGTH)
            .collect(),
    };
    if name.is_empty() {
        return Err(invalid("--name", "name must be specified"));
    }
    let labels = match &flags.labels {
        Some(l) => Some(parse_labels("--labels", l)?),
        None => object.metadata().labels.clone().filter(|l| !l.is_empty()),
    };
    let session_affinity = flags.session_affinity.map(|a| match a {
        SessionAffinity::None => "None".to_string(),
        SessionAffinity::ClientIp => "ClientIP".to_string(),
    });
    Ok(Service {
        metadata: ObjectMeta {
            name: Some(name),
            labels,
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: (!ports.is_empty()).then_some(ports),
            type_: flags.service_type.map(|t| t.as_str().to_string()),
            cluster_ip: flags.cluster_ip.clone(),
            session_affinity,
            ..Default::default()
        }),
        status: None,
    })
}

fn service_port(name: Option<String>, port: i32, protocol: &str) -> ServicePort {
    ServicePort {
        name,
        port,
        protocol: Some(protocol.to_string()),
        ..Default::default()
    }
}

/// `--dry-run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun {
    /// Create the Service.
    None,
    /// Print the Service without sending it.
    Client,
    /// Have the server validate, default and allocate without storing.
    Server,
}

/// Everything `knet expose` was asked.
#[derive(Clone, Debug)]
pub struct ExposeOptions {
    /// `TYPE NAME` or `TYPE/NAME`.
    pub resource: Vec<String>,
    /// `-n`; `None` is the `default` namespace.
    pub namespace: Option<String>,
    /// The Service's shape.
    pub flags: ExposeFlags,
    /// `--dry-run`.
    pub dry_run: DryRun,
    /// `-o yaml|json|name`; `None` prints `service/NAME exposed`.
    pub output: Option<Output>,
}

/// Splits `TYPE/NAME` or `TYPE NAME` and checks that the type can be exposed.
pub fn parse_target(args: &[String]) -> Result<(&'static knet_api::ResourceInfo, String)> {
    let (kind, name) = match args {
        [one] => match one.split_once('/') {
            Some((k, n)) if !k.is_empty() && !n.is_empty() => (k, n),
            _ => anyhow::bail!(
                "you must specify the object to expose as TYPE NAME or TYPE/NAME, e.g. `knet expose deploy/web --port 80`"
            ),
        },
        [kind, name] if !kind.contains('/') && !name.contains('/') => {
            (kind.as_str(), name.as_str())
        }
        _ => anyhow::bail!(
            "knet expose takes one object, as TYPE NAME or TYPE/NAME, e.g. `knet expose deploy/web --port 80`"
        ),
    };
    let info = knet_api::find_by_name(kind)
        .ok_or_else(|| anyhow::anyhow!("the server doesn't have a resource type \"{kind}\""))?;
    let exposable = matches!(
        (info.group, info.kind),
        ("apps", "Deployment") | ("apps", "ReplicaSet") | ("", "Pod") | ("", "Service")
    );
    if !exposable {
        anyhow::bail!(
            "cannot expose a {} (knet exposes a deployment (deploy), replicaset (rs), pod (po) or service (svc))",
            info.group_kind()
        );
    }
    Ok((info, name.to_string()))
}

async fn fetch(
    c: &kube::Client,
    info: &knet_api::ResourceInfo,
    ns: &str,
    name: &str,
) -> Result<Exposable> {
    let c = c.clone();
    Ok(match info.kind {
        "Deployment" => Exposable::Deployment(kube::Api::namespaced(c, ns).get(name).await?),
        "ReplicaSet" => Exposable::ReplicaSet(kube::Api::namespaced(c, ns).get(name).await?),
        "Pod" => Exposable::Pod(kube::Api::namespaced(c, ns).get(name).await?),
        _ => Exposable::Service(kube::Api::namespaced(c, ns).get(name).await?),
    })
}

/// `knet expose`: fetches the object, builds the Service, creates it (or prints it with
/// `--dry-run=client`) and reports `service/NAME exposed` or the object in the `-o` format.
pub async fn run(c: &kube::Client, opts: &ExposeOptions) -> Result<bool> {
    let (info, name) = parse_target(&opts.resource)?;
    let ns = opts.namespace.as_deref().unwrap_or("default");
    let object = fetch(c, info, ns, &name).await?;
    let mut service = build_service(&object, &opts.flags)?;
    let created = match opts.dry_run {
        DryRun::Client => {
            // As kubectl: the printed object names a namespace only when one was asked for.
            service.metadata.namespace = opts.namespace.clone();
            service
        }
        DryRun::None | DryRun::Server => {
            let params = kube::api::PostParams {
                dry_run: opts.dry_run == DryRun::Server,
                field_manager: Some("knet-expose".to_string()),
            };
            kube::Api::<Service>::namespaced(c.clone(), ns)
                .create(&params, &service)
                .await?
        }
    };
    let svc_name = created.metadata.name.clone().unwrap_or_default();
    match opts.output {
        Some(out @ (Output::Yaml | Output::Json)) => {
            get::print_objects(vec![serde_json::to_value(&created)?], out, true)?;
        }
        Some(_) => outln!("service/{svc_name}"),
        None => {
            let suffix = match opts.dry_run {
                DryRun::None => "",
                DryRun::Client => " (dry run)",
                DryRun::Server => " (server dry run)",
            };
            outln!("service/{svc_name} exposed{suffix}");
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec};
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn container(ports: &[(i32, &str)]) -> Container {
        Container {
            name: "c".to_string(),
            image: Some("knet/netexec".to_string()),
            ports: Some(
                ports
                    .iter()
                    .map(|&(port, proto)| ContainerPort {
                        container_port: port,
                        protocol: Some(proto.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn mk_deployment(name: &str, selector: LabelSelector, containers: Vec<Container>) -> Exposable {
        Exposable::Deployment(Deployment {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                labels: Some(labels(&[("team", "net")])),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                selector,
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers,
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        })
    }

    fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(labels(pairs)),
            match_expressions: None,
        }
    }

    fn web() -> Exposable {
        mk_deployment(
            "web",
            match_labels(&[("app", "web")]),
            vec![container(&[(8080, "TCP")])],
        )
    }

    fn spec(s: &Service) -> &ServiceSpec {
        s.spec.as_ref().unwrap()
    }

    #[test]
    fn a_deployment_is_exposed_with_its_selector_ports_and_type() {
        let flags = ExposeFlags {
            port: Some("80".into()),
            target_port: Some("8080".into()),
            service_type: Some(ServiceType::NodePort),
            ..Default::default()
        };
        let svc = build_service(&web(), &flags).unwrap();
        assert_eq!(svc.metadata.name.as_deref(), Some("web"));
        assert_eq!(svc.metadata.labels, Some(labels(&[("team", "net")])));
        let s = spec(&svc);
        assert_eq!(s.selector, Some(labels(&[("app", "web")])));
        assert_eq!(s.type_.as_deref(), Some("NodePort"));
        let ports = s.ports.as_ref().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port, 80);
        assert_eq!(ports[0].name, None);
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
        assert_eq!(ports[0].target_port, Some(IntOrString::Int(8080)));
    }

    #[test]
    fn the_single_container_port_is_the_default_port_and_target_port() {
        let svc = build_service(&web(), &ExposeFlags::default()).unwrap();
        let p = &spec(&svc).ports.as_ref().unwrap()[0];
        assert_eq!(p.port, 8080);
        assert_eq!(p.target_port, Some(IntOrString::Int(8080)));
        assert_eq!(spec(&svc).type_, None, "the API defaults the type");
    }

    #[test]
    fn several_container_ports_are_all_exposed_and_named() {
        let d = mk_deployment(
            "multi",
            match_labels(&[("app", "m")]),
            vec![
                container(&[(8080, "TCP")]),
                container(&[(9090, "TCP"), (8080, "TCP")]),
            ],
        );
        let svc = build_service(&d, &ExposeFlags::default()).unwrap();
        let ports = spec(&svc).ports.clone().unwrap();
        let got: Vec<(Option<&str>, i32)> =
            ports.iter().map(|p| (p.name.as_deref(), p.port)).collect();
        assert_eq!(got, vec![(Some("port-1"), 8080), (Some("port-2"), 9090)]);
    }

    #[test]
    fn a_port_declared_for_tcp_and_udp_gives_one_service_port_per_protocol() {
        let d = mk_deployment(
            "dns",
            match_labels(&[("app", "dns")]),
            vec![container(&[(53, "TCP"), (53, "UDP")])],
        );
        let svc = build_service(&d, &ExposeFlags::default()).unwrap();
        let ports = spec(&svc).ports.clone().unwrap();
        let got: Vec<(&str, &str)> = ports
            .iter()
            .map(|p| (p.name.as_deref().unwrap(), p.protocol.as_deref().unwrap()))
            .collect();
        assert_eq!(got, vec![("port-1-tcp", "TCP"), ("port-1-udp", "UDP")]);
        // --protocol overrides what the object declares.
        let flags = ExposeFlags {
            protocol: Some(Protocol::Udp),
            ..Default::default()
        };
        let svc = build_service(&d, &flags).unwrap();
        let ports = spec(&svc).ports.clone().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].protocol.as_deref(), Some("UDP"));
    }

    #[test]
    fn no_port_given_and_none_declared_is_refused_unless_headless() {
        let d = mk_deployment("bare", match_labels(&[("app", "b")]), vec![container(&[])]);
        assert_eq!(
            build_service(&d, &ExposeFlags::default()).unwrap_err(),
            ExposeError::NoPort
        );
        let headless = ExposeFlags {
            cluster_ip: Some("None".into()),
            ..Default::default()
        };
        let svc = build_service(&d, &headless).unwrap();
        assert_eq!(spec(&svc).cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec(&svc).ports, None);
    }

    #[test]
    fn match_expressions_are_refused_with_the_expression_in_the_message() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["front".into(), "back".into()]),
            }]),
        };
        let d = mk_deployment("web", sel, vec![container(&[(80, "TCP")])]);
        let e = build_service(&d, &ExposeFlags::default()).unwrap_err();
        assert!(matches!(e, ExposeError::SetBasedSelector(_)), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("tier In (front,back)"), "{msg}");
        assert!(msg.contains("map-based selector"), "{msg}");
        // An explicit --selector sidesteps the object's selector, as with kubectl.
        let flags = ExposeFlags {
            selector: Some("tier=front".into()),
            ..Default::default()
        };
        let svc = build_service(&d, &flags).unwrap();
        assert_eq!(spec(&svc).selector, Some(labels(&[("tier", "front")])));
    }

    #[test]
    fn a_pod_is_selected_by_its_labels_and_a_pod_without_labels_is_refused() {
        let mut pod = Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                labels: Some(labels(&[("run", "p")])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![container(&[(5353, "UDP")])],
                ..Default::default()
            }),
            status: None,
        };
        let svc = build_service(&Exposable::Pod(pod.clone()), &ExposeFlags::default()).unwrap();
        assert_eq!(spec(&svc).selector, Some(labels(&[("run", "p")])));
        assert_eq!(
            spec(&svc).ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("UDP")
        );
        pod.metadata.labels = None;
        let e = build_service(&Exposable::Pod(pod), &ExposeFlags::default()).unwrap_err();
        assert!(e.to_string().contains("the pod has no labels"), "{e}");
    }

    #[test]
    fn a_service_is_re_exposed_with_its_selector_and_ports() {
        let svc = Service {
            metadata: ObjectMeta {
                name: Some("nginx".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(labels(&[("app", "nginx")])),
                ports: Some(vec![service_port(None, 443, "TCP")]),
                ..Default::default()
            }),
            status: None,
        };
        let flags = ExposeFlags {
            target_port: Some("https".into()),
            name: Some("nginx-https".into()),
            ..Default::default()
        };
        let out = build_service(&Exposable::Service(svc), &flags).unwrap();
        assert_eq!(out.metadata.name.as_deref(), Some("nginx-https"));
        assert_eq!(out.metadata.labels, None);
        let p = &spec(&out).ports.as_ref().unwrap()[0];
        assert_eq!(p.port, 443);
        assert_eq!(p.target_port, Some(IntOrString::String("https".into())));
        assert_eq!(spec(&out).selector, Some(labels(&[("app", "nginx")])));
    }

    #[test]
    fn a_replicaset_without_match_labels_is_refused() {
        let rs = Exposable::ReplicaSet(ReplicaSet {
            metadata: ObjectMeta {
                name: Some("rs".into()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                selector: LabelSelector::default(),
                ..Default::default()
            }),
            status: None,
        });
        let e = build_service(&rs, &ExposeFlags::default()).unwrap_err();
        assert!(
            e.to_string().contains("invalid replicaset: no selectors"),
            "{e}"
        );
    }

    #[test]
    fn long_names_are_cut_to_a_dns_label() {
        let long = "a".repeat(80);
        let d = mk_deployment(
            &long,
            match_labels(&[("app", "a")]),
            vec![container(&[(80, "TCP")])],
        );
        let svc = build_service(&d, &ExposeFlags::default()).unwrap();
        assert_eq!(svc.metadata.name.unwrap().len(), 63);
    }

    #[test]
    fn malformed_flags_are_refused_clearly() {
        let cases = [
            (
                ExposeFlags {
                    port: Some("http".into()),
                    ..Default::default()
                },
                "--port",
            ),
            (
                ExposeFlags {
                    port: Some("70000".into()),
                    ..Default::default()
                },
                "--port",
            ),
            (
                ExposeFlags {
                    target_port: Some("Not_A_Name".into()),
                    ..Default::default()
                },
                "--target-port",
            ),
            (
                ExposeFlags {
                    selector: Some("app==web".into()),
                    ..Default::default()
                },
                "--selector",
            ),
            (
                ExposeFlags {
                    labels: Some("=x".into()),
                    ..Default::default()
                },
                "--labels",
            ),
        ];
        for (flags, flag) in cases {
            match build_service(&web(), &flags) {
                Err(ExposeError::InvalidFlag { flag: f, .. }) => assert_eq!(f, flag),
                other => panic!("{flag}: expected an invalid-flag error, got {other:?}"),
            }
        }
    }

    #[test]
    fn several_ports_can_be_given_and_share_the_target_port() {
        let flags = ExposeFlags {
            port: Some("80,443".into()),
            target_port: Some("8080".into()),
            ..Default::default()
        };
        let svc = build_service(&web(), &flags).unwrap();
        let ports = spec(&svc).ports.clone().unwrap();
        assert_eq!(ports.len(), 2);
        assert!(
            ports
                .iter()
                .all(|p| p.target_port == Some(IntOrString::Int(8080)))
        );
        assert_eq!(ports[1].name.as_deref(), Some("port-2"));
    }

    #[test]
    fn service_types_and_protocols_parse_as_the_api_spells_them() {
        assert_eq!("NodePort".parse::<ServiceType>(), Ok(ServiceType::NodePort));
        assert_eq!(
            "loadbalancer".parse::<ServiceType>(),
            Ok(ServiceType::LoadBalancer)
        );
        let e = "Ingress".parse::<ServiceType>().unwrap_err();
        assert!(e.contains("ClusterIP, NodePort, LoadBalancer"), "{e}");
        assert_eq!("udp".parse::<Protocol>(), Ok(Protocol::Udp));
        assert!("ICMP".parse::<Protocol>().is_err());
    }

    #[test]
    fn targets_are_type_slash_name_or_type_then_name_of_an_exposable_kind() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (info, name) = parse_target(&s(&["deploy/web"])).unwrap();
        assert_eq!((info.kind, name.as_str()), ("Deployment", "web"));
        let (info, name) = parse_target(&s(&["svc", "db"])).unwrap();
        assert_eq!((info.kind, name.as_str()), ("Service", "db"));
        let (info, _) = parse_target(&s(&["rs/x"])).unwrap();
        assert_eq!(info.kind, "ReplicaSet");
        let e = parse_target(&s(&["configmap/x"])).unwrap_err().to_string();
        assert!(e.contains("cannot expose a ConfigMap"), "{e}");
        assert!(parse_target(&s(&["deploy"])).is_err());
        assert!(parse_target(&s(&["deploy/a", "deploy/b"])).is_err());
    }
}
