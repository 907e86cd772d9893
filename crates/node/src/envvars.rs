//! Service environment variables: the `{SVC}_SERVICE_HOST`, `{SVC}_SERVICE_PORT` and docker-link
//! variables kubelet gives every container for the Services that exist when its pod starts
//! (pkg/kubelet/envvars/envvars.go `FromServices`, pkg/kubelet/kubelet_pods.go
//! `getServiceEnvVarMap`; <https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables>).
//! Pure: the caller lists the Services.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;

/// The namespace of the master Services (kubelet `metav1.NamespaceDefault`).
pub const MASTER_SERVICE_NAMESPACE: &str = "default";

/// Services whose variables every pod gets, whatever its namespace and `enableServiceLinks`
/// (kubelet `masterServices`).
pub const MASTER_SERVICES: &[&str] = &["kubernetes"];

/// The environment variables of `services` for a pod in `pod_namespace`: those of the pod
/// namespace's Services when `enable_links` (`spec.enableServiceLinks`, default true), and always
/// those of the master `kubernetes` Service of `default` (a Service of the same name in the pod's
/// own namespace takes its place when links are enabled). Services without a cluster IP (headless
/// `None`, ExternalName) give none.
///
/// Services are taken in name order, so when two of them give the same variable the result does
/// not depend on the listing order (kubelet walks a Go map there: its order is random).
pub fn service_env(
    pod_namespace: &str,
    services: &[Service],
    enable_links: bool,
) -> BTreeMap<String, String> {
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for service in services.iter().filter(|s| cluster_ip(s).is_some()) {
        let Some(name) = service.metadata.name.as_deref() else {
            continue;
        };
        let namespace = service
            .metadata
            .namespace
            .as_deref()
            .unwrap_or(MASTER_SERVICE_NAMESPACE);
        if namespace == MASTER_SERVICE_NAMESPACE && MASTER_SERVICES.contains(&name) {
            chosen.entry(name).or_insert(service);
        } else if namespace == pod_namespace && enable_links {
            chosen.insert(name, service);
        }
    }
    let mut env = BTreeMap::new();
    for (name, service) in chosen {
        env.extend(from_service(name, service));
    }
    env
}

/// `spec.clusterIP` when it is set and not `None` (`v1helper.IsServiceIPSet`).
fn cluster_ip(service: &Service) -> Option<&str> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .filter(|ip| !ip.is_empty() && *ip != "None")
}

/// A Service name as a variable name: upper case, `-` as `_` (`makeEnvVariableName`).
fn variable_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// One Service's variables, in `FromServices` order.
fn from_service(name: &str, service: &Service) -> Vec<(String, String)> {
    let Some(ip) = cluster_ip(service) else {
        return Vec::new();
    };
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let prefix = variable_name(name);
    let mut vars = vec![(format!("{prefix}_SERVICE_HOST"), ip.to_owned())];
    // Validation gives every Service with a cluster IP a port; kubelet would index out of range
    // without one, knet gives the host alone.
    let Some(first) = ports.first() else {
        return vars;
    };
    let service_port = format!("{prefix}_SERVICE_PORT");
    vars.push((service_port.clone(), first.port.to_string()));
    // Only the first port may be unnamed (validation).
    for port in ports {
        if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            vars.push((
                format!("{service_port}_{}", variable_name(port_name)),
                port.port.to_string(),
            ));
        }
    }
    // Docker-link variables (`makeLinkVariables`); `net.JoinHostPort` brackets IPv6 addresses.
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    };
    for (i, port) in ports.iter().enumerate() {
        let protocol = port
            .protocol
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or("TCP");
        let lower = protocol.to_lowercase();
        let url = format!("{lower}://{host}:{}", port.port);
        if i == 0 {
            vars.push((format!("{prefix}_PORT"), url.clone()));
        }
        let port_prefix = format!("{prefix}_PORT_{}_{}", port.port, protocol.to_uppercase());
        vars.push((port_prefix.clone(), url));
        vars.push((format!("{port_prefix}_PROTO"), lower));
        vars.push((format!("{port_prefix}_PORT"), port.port.to_string()));
        vars.push((format!("{port_prefix}_ADDR"), ip.to_owned()));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn mk_service(namespace: &str, name: &str, ip: &str, ports: &[(&str, i32, &str)]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.into()),
                ports: Some(
                    ports
                        .iter()
                        .map(|(name, port, protocol)| ServicePort {
                            name: (!name.is_empty()).then(|| (*name).to_owned()),
                            port: *port,
                            protocol: (!protocol.is_empty()).then(|| (*protocol).to_owned()),
                            ..ServicePort::default()
                        })
                        .collect(),
                ),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The Services of upstream's `TestEnvVarsFromServices` (pkg/kubelet/envvars/envvars_test.go).
    fn upstream_services() -> Vec<Service> {
        vec![
            mk_service("ns", "foo-bar", "1.2.3.4", &[("", 8080, "TCP")]),
            mk_service(
                "ns",
                "abc-123",
                "5.6.7.8",
                &[("u-d-p", 8081, "UDP"), ("t-c-p", 8081, "TCP")],
            ),
            mk_service(
                "ns",
                "q-u-u-x",
                "9.8.7.6",
                &[("", 8082, "TCP"), ("8083", 8083, "TCP")],
            ),
            mk_service("ns", "svrc-clusterip-none", "None", &[("", 8082, "TCP")]),
            mk_service("ns", "svrc-clusterip-empty", "", &[("", 8082, "TCP")]),
            mk_service(
                "ns",
                "super-ipv6",
                "2001:DB8::",
                &[("u-d-p", 8084, "UDP"), ("t-c-p", 8084, "TCP")],
            ),
        ]
    }

    #[test]
    fn services_give_upstreams_variables() {
        let env = service_env("ns", &upstream_services(), true);
        let want = map(&[
            ("FOO_BAR_SERVICE_HOST", "1.2.3.4"),
            ("FOO_BAR_SERVICE_PORT", "8080"),
            ("FOO_BAR_PORT", "tcp://1.2.3.4:8080"),
            ("FOO_BAR_PORT_8080_TCP", "tcp://1.2.3.4:8080"),
            ("FOO_BAR_PORT_8080_TCP_PROTO", "tcp"),
            ("FOO_BAR_PORT_8080_TCP_PORT", "8080"),
            ("FOO_BAR_PORT_8080_TCP_ADDR", "1.2.3.4"),
            ("ABC_123_SERVICE_HOST", "5.6.7.8"),
            ("ABC_123_SERVICE_PORT", "8081"),
            ("ABC_123_SERVICE_PORT_U_D_P", "8081"),
            ("ABC_123_SERVICE_PORT_T_C_P", "8081"),
            ("ABC_123_PORT", "udp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_UDP_PROTO", "udp"),
            ("ABC_123_PORT_8081_UDP_PORT", "8081"),
            ("ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"),
            ("ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_TCP_PROTO", "tcp"),
            ("ABC_123_PORT_8081_TCP_PORT", "8081"),
            ("ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"),
            ("Q_U_U_X_SERVICE_HOST", "9.8.7.6"),
            ("Q_U_U_X_SERVICE_PORT", "8082"),
            ("Q_U_U_X_SERVICE_PORT_8083", "8083"),
            ("Q_U_U_X_PORT", "tcp://9.8.7.6:8082"),
            ("Q_U_U_X_PORT_8082_TCP", "tcp://9.8.7.6:8082"),
            ("Q_U_U_X_PORT_8082_TCP_PROTO", "tcp"),
            ("Q_U_U_X_PORT_8082_TCP_PORT", "8082"),
            ("Q_U_U_X_PORT_8082_TCP_ADDR", "9.8.7.6"),
            ("Q_U_U_X_PORT_8083_TCP", "tcp://9.8.7.6:8083"),
            ("Q_U_U_X_PORT_8083_TCP_PROTO", "tcp"),
            ("Q_U_U_X_PORT_8083_TCP_PORT", "8083"),
            ("Q_U_U_X_PORT_8083_TCP_ADDR", "9.8.7.6"),
            ("SUPER_IPV6_SERVICE_HOST", "2001:DB8::"),
            ("SUPER_IPV6_SERVICE_PORT", "8084"),
            ("SUPER_IPV6_SERVICE_PORT_U_D_P", "8084"),
            ("SUPER_IPV6_SERVICE_PORT_T_C_P", "8084"),
            ("SUPER_IPV6_PORT", "udp://[2001:DB8::]:8084"),
            ("SUPER_IPV6_PORT_8084_UDP", "udp://[2001:DB8::]:8084"),
            ("SUPER_IPV6_PORT_8084_UDP_PROTO", "udp"),
            ("SUPER_IPV6_PORT_8084_UDP_PORT", "8084"),
            ("SUPER_IPV6_PORT_8084_UDP_ADDR", "2001:DB8::"),
            ("SUPER_IPV6_PORT_8084_TCP", "tcp://[2001:DB8::]:8084"),
            ("SUPER_IPV6_PORT_8084_TCP_PROTO", "tcp"),
            ("SUPER_IPV6_PORT_8084_TCP_PORT", "8084"),
            ("SUPER_IPV6_PORT_8084_TCP_ADDR", "2001:DB8::"),
        ]);
        assert_eq!(env, want);
    }

    #[test]
    fn a_port_without_protocol_is_tcp() {
        let services = [mk_service(
            "shop",
            "backend-service",
            "10.96.0.20",
            &[("http", 80, "")],
        )];
        let env = service_env("shop", &services, true);
        assert_eq!(
            env.get("BACKEND_SERVICE_PORT").map(String::as_str),
            Some("tcp://10.96.0.20:80")
        );
        assert_eq!(
            env.get("BACKEND_SERVICE_SERVICE_PORT_HTTP")
                .map(String::as_str),
            Some("80")
        );
        assert_eq!(
            env.get("BACKEND_SERVICE_PORT_80_TCP_PROTO")
                .map(String::as_str),
            Some("tcp")
        );
    }

    /// The cases of upstream's `TestMakeEnvironmentVariables` (pkg/kubelet/kubelet_pods_test.go):
    /// services of the pod's namespace, of another namespace, and the master service.
    fn cluster_services() -> Vec<Service> {
        vec![
            mk_service("test1", "kubernetes", "1.2.3.1", &[("", 8081, "TCP")]),
            mk_service("test1", "test", "1.2.3.3", &[("", 8083, "TCP")]),
            mk_service("test2", "test", "1.2.3.5", &[("", 8085, "TCP")]),
            mk_service("default", "kubernetes", "1.2.3.2", &[("", 8082, "TCP")]),
            mk_service("default", "not-special", "1.2.3.8", &[("", 8088, "TCP")]),
            mk_service("test1", "headless", "None", &[("", 80, "TCP")]),
        ]
    }

    #[test]
    fn a_pod_gets_its_namespaces_services_and_the_master_service() {
        let env = service_env("test2", &cluster_services(), true);
        assert_eq!(env["TEST_SERVICE_HOST"], "1.2.3.5");
        assert_eq!(env["TEST_PORT"], "tcp://1.2.3.5:8085");
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "1.2.3.2");
        assert_eq!(env["KUBERNETES_PORT_8082_TCP_ADDR"], "1.2.3.2");
        // Services of other namespaces (default's `not-special` too) give nothing.
        assert!(!env.contains_key("NOT_SPECIAL_SERVICE_HOST"));
        assert!(!env.contains_key("HEADLESS_SERVICE_HOST"));
        assert_eq!(env.len(), 14, "{env:?}");
    }

    #[test]
    fn a_kubernetes_service_of_the_pods_namespace_takes_the_masters_place() {
        let env = service_env("test1", &cluster_services(), true);
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "1.2.3.1");
        assert_eq!(env["KUBERNETES_SERVICE_PORT"], "8081");
        assert!(!env.contains_key("KUBERNETES_PORT_8082_TCP"));
        assert_eq!(env["TEST_SERVICE_HOST"], "1.2.3.3");
        assert!(!env.contains_key("HEADLESS_SERVICE_HOST"), "no cluster IP");
        // Whatever the listing order.
        let mut reversed = cluster_services();
        reversed.reverse();
        assert_eq!(service_env("test1", &reversed, true), env);
    }

    #[test]
    fn without_links_only_the_master_service_is_given() {
        let env = service_env("test1", &cluster_services(), false);
        let want = map(&[
            ("KUBERNETES_SERVICE_HOST", "1.2.3.2"),
            ("KUBERNETES_SERVICE_PORT", "8082"),
            ("KUBERNETES_PORT", "tcp://1.2.3.2:8082"),
            ("KUBERNETES_PORT_8082_TCP", "tcp://1.2.3.2:8082"),
            ("KUBERNETES_PORT_8082_TCP_PROTO", "tcp"),
            ("KUBERNETES_PORT_8082_TCP_PORT", "8082"),
            ("KUBERNETES_PORT_8082_TCP_ADDR", "1.2.3.2"),
        ]);
        assert_eq!(env, want);
    }

    #[test]
    fn a_pod_in_default_gets_default_services_and_the_master_once() {
        let env = service_env("default", &cluster_services(), true);
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "1.2.3.2");
        assert_eq!(env["NOT_SPECIAL_SERVICE_HOST"], "1.2.3.8");
        assert!(!env.contains_key("TEST_SERVICE_HOST"));
    }

    #[test]
    fn external_name_and_headless_services_give_nothing() {
        let mut external = mk_service("shop", "payments", "", &[("", 443, "TCP")]);
        if let Some(spec) = external.spec.as_mut() {
            spec.type_ = Some("ExternalName".into());
            spec.external_name = Some("payments.example.com".into());
            spec.cluster_ip = None;
        }
        let headless = mk_service("shop", "db", "None", &[("", 5432, "TCP")]);
        assert!(service_env("shop", &[external, headless], true).is_empty());
    }
}
