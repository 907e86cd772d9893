//! The pod sandbox as the container runtime sees it: commands go through `knet sandbox-exec`; the
//! pod's /etc/hosts and /etc/resolv.conf, and what its containers' environment comes from
//! (Services, ConfigMaps, Secrets), read from the API each time a container starts.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{Api, ListParams};

/// A pod's namespaces and files.
pub(crate) struct PodSandbox {
    pub(crate) knet_exe: PathBuf,
    pub(crate) netns: String,
    pub(crate) hostname: String,
    pub(crate) hosts: PathBuf,
    pub(crate) resolv: PathBuf,
}

impl knet_node::Sandbox for PodSandbox {
    fn command(&self, program: &Path, args: &[String]) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.knet_exe);
        cmd.arg("sandbox-exec")
            .arg("--netns")
            .arg(&self.netns)
            .arg("--hostname")
            .arg(&self.hostname)
            .arg("--hosts")
            .arg(&self.hosts)
            .arg("--resolv")
            .arg(&self.resolv)
            .arg("--")
            .arg(program)
            .args(args);
        cmd
    }
}

/// kubelet's managed /etc/hosts (pkg/kubelet/kubelet_pods.go managedHostsFileContent).
pub(crate) fn hosts_file(hostname: &str, ip: Ipv4Addr) -> String {
    format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{ip}\t{hostname}\n"
    )
}

/// The cluster DNS Service's address (kubelet `--cluster-dns`): the tenth address of the Service
/// range 10.96.0.0/12, as kubeadm and kind choose it.
pub(crate) const CLUSTER_DNS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10));

/// The cluster's DNS domain (kubelet `--cluster-domain`, kubeadm's default).
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";

/// The pod's /etc/resolv.conf per its `dnsPolicy` and `dnsConfig` (kubelet `GetPodDNS`,
/// pkg/kubelet/network/dns/dns.go); `node_resolv_conf` is the node's own file, what `Default`
/// pods get.
pub(crate) fn resolv_conf(pod: &Pod, node_resolv_conf: &str) -> String {
    knet_node::pod_resolv_conf(pod, &[CLUSTER_DNS], CLUSTER_DOMAIN, node_resolv_conf)
}

/// How long each read for a starting container's environment may take before it goes on without
/// that object.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The env sources of a pod's containers as the API has them when each container starts
/// (kubelet's `Get` change-detection strategy for ConfigMaps and Secrets: read when needed).
pub(crate) struct ApiEnvSources {
    pub(crate) client: kube::Client,
}

impl knet_node::EnvSources for ApiEnvSources {
    fn read<'a>(&'a self, pod: &'a Pod) -> BoxFuture<'a, knet_node::EnvSourceData> {
        Box::pin(async move {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let (config_map_names, secret_names) = knet_node::env_source_names(pod);
            let mut data = knet_node::EnvSourceData {
                service_env: service_env(&self.client, pod).await,
                ..knet_node::EnvSourceData::default()
            };
            let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
            for cm in config_map_names {
                let what = format!("reading ConfigMap {namespace}/{cm}");
                if let Some(Some(found)) = bounded(name, &what, config_maps.get_opt(&cm)).await {
                    data.config_maps.insert(cm, found.data.unwrap_or_default());
                }
            }
            let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
            for secret in secret_names {
                let what = format!("reading Secret {namespace}/{secret}");
                if let Some(Some(found)) = bounded(name, &what, secrets.get_opt(&secret)).await {
                    data.secrets.insert(secret, secret_strings(&found));
                }
            }
            data
        })
    }
}

/// A Secret's `data` as environment values: the bytes as text, as kubelet's `string(secret.Data[k])`
/// (invalid UTF-8 replaced).
fn secret_strings(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

/// The Service environment variables of `pod` (kubelet `getServiceEnvVarMap`,
/// pkg/kubelet/kubelet_pods.go): the Services of its namespace and the master `kubernetes`
/// Service of `default`, as they are now. A failing API is logged and gives no variables from
/// that listing: a pod never waits for them (kubelet's own informer cache may be as stale).
async fn service_env(client: &kube::Client, pod: &Pod) -> BTreeMap<String, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let enable_links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let mut services: Vec<Service> = Vec::new();
    if enable_links {
        let api: Api<Service> = Api::namespaced(client.clone(), namespace);
        let what = format!("listing the Services of namespace {namespace}");
        if let Some(list) = bounded(name, &what, api.list(&ListParams::default())).await {
            services.extend(list.items);
        }
    }
    let master_ns = knet_node::MASTER_SERVICE_NAMESPACE;
    if !(enable_links && namespace == master_ns) {
        let api: Api<Service> = Api::namespaced(client.clone(), master_ns);
        for service in knet_node::MASTER_SERVICES {
            let what = format!("reading Service {master_ns}/{service}");
            if let Some(found) = bounded(name, &what, api.get_opt(service)).await {
                services.extend(found);
            }
        }
    }
    knet_node::service_env(namespace, &services, enable_links)
}

/// `call` within [`READ_TIMEOUT`]; a failure or a timeout is logged and gives `None`.
async fn bounded<T>(
    pod: &str,
    what: &str,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Option<T> {
    match tokio::time::timeout(READ_TIMEOUT, call).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            tracing::warn!(%pod, error = %e, "{what} for a container's environment failed; going on without it");
            None
        }
        Err(_) => {
            tracing::warn!(%pod, "{what} for a container's environment timed out; going on without it");
            None
        }
    }
}
