//! The node agent (knet's kubelet): for one node it builds the node's network (on the LAN, pod
//! bridge, routes to the other nodes, egress masquerade), runs the pods bound to it (sandbox
//! network, containers as processes through `knet-node`), writes their status back, and finishes
//! their graceful deletion. It is a client of the API server like any other.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod logs;
mod probes;
pub mod proxy;
mod sandbox;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::{Node, Pod};
use knet_netns::KernelDataplane;
use knet_node::{HostImages, PodIpam, PodRuntime, RuntimeConfig};
use knet_topology::{ClusterNet, NodeNet, PodNet};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher;
use serde_json::json;

pub use logs::{RuntimeExec, RuntimeLogs};

/// Errors that stop an agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The network could not be built.
    #[error("node {node}: {source}")]
    Topology {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: knet_topology::TopologyError,
    },
    /// Pod addresses could not be managed.
    #[error("node {node}: {source}")]
    Ipam {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: knet_node::IpamError,
    },
    /// The API could not be reached.
    #[error("node {node}: {source}")]
    Api {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// What one agent needs to know.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The node (its pod CIDR is read from the Node object).
    pub node: NodeNet,
    /// The cluster's address plan.
    pub net: ClusterNet,
    /// Where the agent keeps its files (IP allocations, pod hosts files, logs).
    pub state_dir: PathBuf,
    /// The knet executable (built-in images and the sandbox entry run through it).
    pub knet_exe: PathBuf,
    /// The node's resolver configuration, the text of its resolv.conf (kubelet `--resolv-conf`):
    /// what pods with `dnsPolicy: Default` get, and whose search domains ClusterFirst pods append.
    /// Empty: no nameserver, no search domain.
    pub node_resolv_conf: String,
}

/// Pods running on every agent of this process, by uid: what `pods/log` and `pods/exec` use.
#[derive(Clone, Default)]
pub struct Registry {
    pods: Arc<Mutex<HashMap<String, Arc<PodRuntime>>>>,
}

impl Registry {
    fn get(&self, uid: &str) -> Option<Arc<PodRuntime>> {
        self.pods.lock().ok()?.get(uid).cloned()
    }
    fn insert(&self, uid: &str, rt: Arc<PodRuntime>) {
        if let Ok(mut m) = self.pods.lock() {
            m.insert(uid.to_string(), rt);
        }
    }
    fn remove(&self, uid: &str) -> Option<Arc<PodRuntime>> {
        self.pods.lock().ok()?.remove(uid)
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Running {
    runtime: Arc<PodRuntime>,
    net: PodNet,
    status_task: tokio::task::JoinHandle<()>,
    /// The pod's probe workers (stopped when dropped).
    probes: knet_node::ProbeWorkers,
}

/// One node's agent.
pub struct Agent {
    client: kube::Client,
    dp: Arc<KernelDataplane>,
    cfg: AgentConfig,
    registry: Registry,
    pods: tokio::sync::Mutex<HashMap<String, Running>>,
    ipam: tokio::sync::Mutex<Option<PodIpam>>,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Agent {
    /// An agent for `cfg.node`.
    pub fn new(
        client: kube::Client,
        dp: Arc<KernelDataplane>,
        cfg: AgentConfig,
        registry: Registry,
    ) -> Arc<Agent> {
        Arc::new(Agent {
            client,
            dp,
            cfg,
            registry,
            pods: tokio::sync::Mutex::new(HashMap::new()),
            ipam: tokio::sync::Mutex::new(None),
        })
    }

    fn topo(&self, e: knet_topology::TopologyError) -> AgentError {
        AgentError::Topology {
            node: self.cfg.node.name.clone(),
            source: e,
        }
    }

    fn api(&self, e: kube::Error) -> AgentError {
        AgentError::Api {
            node: self.cfg.node.name.clone(),
            source: e,
        }
    }

    /// Puts the node on the LAN (before its pod CIDR is known).
    pub async fn attach(&self) -> Result<(), AgentError> {
        knet_topology::add_node(self.dp.as_ref(), &self.cfg.net, &self.cfg.node)
            .await
            .map_err(|e| self.topo(e))
    }

    /// Runs until `shutdown`: waits for the pod CIDR, builds the pod network, keeps routes in step
    /// with the other nodes and runs the node's pods.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AgentError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let name = self.cfg.node.name.clone();
        // 1. The pod CIDR, from node IPAM.
        let cidr = loop {
            let node = nodes.get(&name).await.map_err(|e| self.api(e))?;
            let cidr = node
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidr.as_deref())
                .and_then(|c| c.parse::<Ipv4Net>().ok());
            if let Some(c) = cidr {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut me = self.cfg.node.clone();
        me.pod_cidr = Some(cidr);
        knet_topology::set_up_pod_network(self.dp.as_ref(), &self.cfg.net, &me)
            .await
            .map_err(|e| self.topo(e))?;
        std::fs::create_dir_all(&self.cfg.state_dir).ok();
        let ipam = PodIpam::open(cidr, self.cfg.state_dir.join("ipam.json")).map_err(|e| {
            AgentError::Ipam {
                node: name.clone(),
                source: e,
            }
        })?;
        *self.ipam.lock().await = Some(ipam);
        self.set_ready(&nodes).await?;

        // The loops stop with this function (also when it is aborted: an agent restart), the pods
        // do not: they live in `self.pods` and the next run adopts them, as kubelet re-adopts
        // running containers after a restart.
        let _routes = AbortOnDrop(tokio::spawn(self.clone().sync_routes(me.clone())));
        let _pods = AbortOnDrop(tokio::spawn(self.clone().run_pods(me)));
        let proxy = proxy::NodeProxy::new(
            self.client.clone(),
            self.dp.clone(),
            self.cfg.node.clone(),
            self.cfg.net.cluster_cidr,
        );
        let _proxy = AbortOnDrop(tokio::spawn(proxy.run()));
        shutdown.await;
        Ok(())
    }

    /// Stops every pod of the node (the node is going away).
    pub async fn stop_all_pods(&self) {
        self.stop_all().await;
    }

    /// How many pods this agent runs.
    pub async fn running_pods(&self) -> usize {
        self.pods.lock().await.len()
    }

    async fn set_ready(&self, nodes: &Api<Node>) -> Result<(), AgentError> {
        let t = now();
        let status = json!({"status": {"conditions": [{
            "type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "knet node agent is posting ready status",
            "lastHeartbeatTime": t, "lastTransitionTime": t,
        }]}});
        nodes
            .patch_status(
                &self.cfg.node.name,
                &PatchParams::default(),
                &Patch::Strategic(status),
            )
            .await
            .map_err(|e| self.api(e))?;
        Ok(())
    }

    /// Keeps routes to the other nodes' pod CIDRs in step with the Node objects.
    async fn sync_routes(self: Arc<Self>, me: NodeNet) {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let mut stream = watcher(nodes.clone(), watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            if ev.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let Ok(list) = nodes.list(&Default::default()).await else {
                continue;
            };
            let peers: Vec<NodeNet> = list
                .items
                .iter()
                .filter_map(|n| {
                    let name = n.metadata.name.clone()?;
                    let ip = n
                        .status
                        .as_ref()?
                        .addresses
                        .as_ref()?
                        .iter()
                        .find(|a| a.type_ == "InternalIP")?
                        .address
                        .parse::<Ipv4Addr>()
                        .ok()?;
                    let pod_cidr = n.spec.as_ref()?.pod_cidr.as_deref()?.parse().ok();
                    Some(NodeNet {
                        name,
                        index: 0,
                        ip,
                        pod_cidr,
                    })
                })
                .collect();
            if let Err(e) =
                knet_topology::sync_node_routes(self.dp.as_ref(), &self.cfg.net, &me, &peers).await
            {
                tracing::warn!(node = %me.name, error = %e, "syncing routes");
            }
        }
    }

    async fn run_pods(self: Arc<Self>, me: NodeNet) {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", me.name));
        let mut stream = watcher(pods, cfg).boxed();
        let mut seen_in_relist: Vec<String> = Vec::new();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Init) => seen_in_relist.clear(),
                Ok(watcher::Event::InitDone) => {
                    // Pods that went away while the agent was not watching.
                    let running: Vec<String> = self.pods.lock().await.keys().cloned().collect();
                    for uid in running.iter().filter(|u| !seen_in_relist.contains(u)) {
                        self.stop_pod(uid, Some(Duration::ZERO)).await;
                    }
                }
                Ok(watcher::Event::InitApply(pod)) => {
                    if let Some(uid) = pod.metadata.uid.clone() {
                        seen_in_relist.push(uid);
                    }
                    self.clone().reconcile(&me, pod).await;
                }
                Ok(watcher::Event::Apply(pod)) => {
                    self.clone().reconcile(&me, pod).await;
                }
                Ok(watcher::Event::Delete(pod)) => {
                    if let Some(uid) = pod.metadata.uid.as_deref() {
                        self.stop_pod(uid, Some(Duration::ZERO)).await;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "pod watch");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn reconcile(self: Arc<Self>, me: &NodeNet, pod: Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let running = self.pods.lock().await.contains_key(&uid);
        if deleting {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64));
            self.stop_pod(&uid, grace).await;
            self.finish_deletion(&pod).await;
            return;
        }
        if running {
            return;
        }
        if let Err(e) = self.clone().start_pod(me, pod.clone()).await {
            tracing::warn!(pod = ?pod.metadata.name, error = %e, "starting pod");
        }
    }

    async fn start_pod(self: Arc<Self>, me: &NodeNet, pod: Pod) -> Result<(), String> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let ip = {
            let mut guard = self.ipam.lock().await;
            let ipam = guard.as_mut().ok_or("no pod CIDR yet")?;
            ipam.allocate(&uid).map_err(|e| e.to_string())?
        };
        let net = knet_topology::pod_net(&uid, ip);
        knet_topology::add_pod(self.dp.as_ref(), &self.cfg.net, me, &net)
            .await
            .map_err(|e| e.to_string())?;
        let files = self.cfg.state_dir.join("pods").join(&uid);
        std::fs::create_dir_all(&files).map_err(|e| e.to_string())?;
        let hostname = knet_node::pod_hostname(&pod);
        let hosts = files.join("hosts");
        let resolv = files.join("resolv.conf");
        std::fs::write(&hosts, sandbox::hosts_file(&hostname, ip)).map_err(|e| e.to_string())?;
        let resolv_conf = sandbox::resolv_conf(&pod, &self.cfg.node_resolv_conf);
        std::fs::write(&resolv, resolv_conf).map_err(|e| e.to_string())?;
        let sb = Arc::new(sandbox::PodSandbox {
            knet_exe: self.cfg.knet_exe.clone(),
            netns: net.netns.clone(),
            hostname,
            hosts,
            resolv,
        });
        let log_dir = knet_node::pod_log_dir(&self.cfg.state_dir.join("logs"), &ns, &name, &uid);
        let mut config = RuntimeConfig::new(
            log_dir,
            Arc::new(HostImages::new(self.cfg.knet_exe.clone())),
        );
        // Probes, run from the node's network namespace as kubelet's are from the node.
        let prober = knet_node::Prober::new(Arc::new(probes::NodeDialer { netns: me.netns() }));
        config.probes = prober.results();
        config.context.pod_ips = vec![IpAddr::V4(ip)];
        config.context.host_ips = vec![IpAddr::V4(me.ip)];
        config.env_sources = Some(Arc::new(sandbox::ApiEnvSources {
            client: self.client.clone(),
        }));
        // For `knet exec`, which runs commands from another process.
        config.env_dir = Some(files.join("env"));
        let runtime =
            Arc::new(PodRuntime::start(pod.clone(), sb, config).map_err(|e| e.to_string())?);
        self.registry.insert(&uid, runtime.clone());
        let probes = prober.start(&runtime, IpAddr::V4(ip));
        let status_task = tokio::spawn(self.clone().report_status(pod, runtime.clone(), ip));
        self.pods.lock().await.insert(
            uid,
            Running {
                runtime,
                net,
                status_task,
                probes,
            },
        );
        Ok(())
    }

    /// Writes the pod's status whenever the runtime's view changes.
    async fn report_status(self: Arc<Self>, pod: Pod, runtime: Arc<PodRuntime>, ip: Ipv4Addr) {
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let mut changes = runtime.changes();
        let mut last = serde_json::Value::Null;
        loop {
            let current = api.get(&name).await.unwrap_or_else(|_| pod.clone());
            if current.metadata.uid != pod.metadata.uid {
                return;
            }
            let mut status = runtime.status(&current);
            status.pod_ip = Some(ip.to_string());
            status.pod_ips = Some(vec![k8s_openapi::api::core::v1::PodIP {
                ip: ip.to_string(),
            }]);
            status.host_ip = Some(self.cfg.node.ip.to_string());
            status.host_ips = Some(vec![k8s_openapi::api::core::v1::HostIP {
                ip: self.cfg.node.ip.to_string(),
            }]);
            let value = serde_json::to_value(&status).unwrap_or_default();
            if value != last {
                let patch = json!({"status": value});
                match api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    Ok(_) => last = value,
                    Err(e) => tracing::debug!(pod = %name, error = %e, "status update"),
                }
            }
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
        }
    }

    async fn stop_pod(&self, uid: &str, grace: Option<Duration>) {
        let entry = self.pods.lock().await.remove(uid);
        let Some(entry) = entry else { return };
        entry.status_task.abort();
        // Liveness and startup workers stop by themselves once the pod is stopping (kubelet
        // worker.go, "Pod deletion requested"); readiness ones run until the containers are gone.
        entry.runtime.terminate(grace).await;
        entry.probes.stop();
        self.registry.remove(uid);
        if let Err(e) = knet_topology::remove_pod(self.dp.as_ref(), &entry.net).await {
            tracing::warn!(error = %e, "removing pod network");
        }
        if let Some(ipam) = self.ipam.lock().await.as_mut() {
            let _ = ipam.release(uid);
        }
        let _ = std::fs::remove_dir_all(self.cfg.state_dir.join("pods").join(uid));
    }

    /// The pod's containers are gone: delete it for good (grace 0), as kubelet does.
    async fn finish_deletion(&self, pod: &Pod) {
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        if let Err(e) = api.delete(&name, &dp).await {
            tracing::debug!(pod = %name, error = %e, "final delete");
        }
    }

    async fn stop_all(&self) {
        let uids: Vec<String> = self.pods.lock().await.keys().cloned().collect();
        for uid in uids {
            self.stop_pod(&uid, Some(Duration::from_secs(2))).await;
        }
    }
}
