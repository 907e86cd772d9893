//! `knet up`, `knet down` and the control-plane process (`knet serve`): state directory,
//! certificates, kubeconfig, the API server, node registration and the controllers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

/// Where clusters keep their state: `$KNET_STATE_DIR`, else `$XDG_STATE_HOME/knet`,
/// else `~/.local/state/knet`.
pub fn state_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("KNET_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("knet");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/state/knet");
    }
    PathBuf::from(format!("/tmp/knet-{}", nix::unistd::getuid()))
}

/// The state directory of cluster `name`.
pub fn cluster_dir(name: &str) -> PathBuf {
    state_root().join(name)
}

/// Cluster names become directory and node names: a DNS-1123 label.
pub fn check_name(name: &str) -> Result<()> {
    let errs = knet_labels::validation::is_dns1123_label(name);
    if !errs.is_empty() {
        bail!("invalid cluster name {name:?}: {}", errs.join("; "));
    }
    if name.len() > 40 {
        bail!(
            "invalid cluster name {name:?}: at most 40 characters (node names are derived from it)"
        );
    }
    Ok(())
}

/// The kubeconfig of cluster `name`.
pub fn kubeconfig_path(name: &str) -> PathBuf {
    cluster_dir(name).join("kubeconfig")
}

/// Node names, as kind names them: `<cluster>-control-plane`, `<cluster>-worker`, `<cluster>-worker2`...
pub fn node_names(cluster: &str, workers: usize) -> Vec<String> {
    let mut names = vec![format!("{cluster}-control-plane")];
    for i in 0..workers {
        if i == 0 {
            names.push(format!("{cluster}-worker"));
        } else {
            names.push(format!("{cluster}-worker{}", i + 1));
        }
    }
    names
}

/// The pid of a running control plane of cluster `name`, if any.
pub fn running_pid(name: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(cluster_dir(name).join("knet.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains("serve");
    (alive && ours).then_some(pid)
}

fn kubeconfig_yaml(cluster: &str, server: &str, ca_pem: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: {cluster}
  context:
    cluster: {cluster}
    user: {cluster}-admin
current-context: {cluster}
users:
- name: {cluster}-admin
  user:
    token: {token}
preferences: {{}}
"
    )
}

/// Options of the control-plane process.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Cluster name.
    pub name: String,
    /// Worker nodes.
    pub nodes: usize,
    /// Port to listen on (0: the one used before, else any free one).
    pub port: u16,
    /// How pod traffic crosses between nodes.
    pub overlay: knet_topology::Overlay,
    /// Where the cluster DNS forwards names outside the cluster domain.
    pub upstream_dns: Vec<std::net::SocketAddr>,
}

/// Binds the API server's port on the host's loopback: the port used before when it is free,
/// else a free one. Done before entering the world, so that the socket stays on the host.
pub fn bind_host_listener(name: &str, port: u16) -> Result<std::net::TcpListener> {
    check_name(name)?;
    let dir = cluster_dir(name);
    let saved: Option<u16> = std::fs::read_to_string(dir.join("port"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let wanted = if port != 0 { Some(port) } else { saved };
    if let Some(p) = wanted {
        match std::net::TcpListener::bind(("127.0.0.1", p)) {
            Ok(l) => return Ok(l),
            Err(e) if port != 0 => return Err(e).context(format!("binding 127.0.0.1:{p}")),
            Err(_) => {}
        }
    }
    std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding a port on 127.0.0.1")
}

/// Runs the control plane until SIGTERM or SIGINT, inside the world (see `knet_netns::enter_world`):
/// `host_listener` was bound on the host's loopback before, for kubectl and knet; in-world clients
/// (controllers, agents) use the same port on the world's own loopback.
pub async fn serve(
    opts: ServeOptions,
    host_listener: std::net::TcpListener,
    world: knet_netns::WorldChild,
) -> Result<()> {
    check_name(&opts.name)?;
    let dir = cluster_dir(&opts.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let store_path = dir.join("store.redb");
    let store = knet_store::Store::open(&store_path, knet_store::StoreOptions::default())
        .with_context(|| format!("opening the store {}", store_path.display()))?;
    // In-cluster clients reach the API server as the `kubernetes` Service (10.96.0.1, DNS
    // names kubernetes.default.svc...) on the control-plane node's address.
    let net_plan = knet_topology::ClusterNet::default();
    let sans: Vec<String> = [
        "10.96.0.1".to_string(),
        net_plan.node_ip(0).to_string(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        "kubernetes.default.svc.cluster.local".into(),
    ]
    .into();
    let pki = knet_apiserver::pki::Pki::load_or_create(&dir, &sans)?;
    host_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(host_listener)?;
    let addr = listener.local_addr()?;
    let world_listener = tokio::net::TcpListener::bind(("127.0.0.1", addr.port()))
        .await
        .context("binding the API port on the world's loopback")?;
    let server_url = format!("https://127.0.0.1:{}", addr.port());
    std::fs::write(dir.join("port"), addr.port().to_string())?;
    let kubeconfig = kubeconfig_yaml(&opts.name, &server_url, &pki.ca_cert, &pki.token);
    write_private(&dir.join("kubeconfig"), &kubeconfig)?;

    let server = knet_apiserver::ApiServer::new(store.clone(), Some(pki.token.clone()));
    server
        .bootstrap()
        .await
        .map_err(|e| anyhow::anyhow!("creating the system namespaces: {e}"))?;
    let tls = Arc::new(pki.server_config()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let serving = tokio::spawn(server.clone().serve(
        listener,
        Some(tls.clone()),
        stopped(stop_rx.clone()),
    ));
    let serving_world = tokio::spawn(server.clone().serve(
        world_listener,
        Some(tls.clone()),
        stopped(stop_rx.clone()),
    ));
    tracing::info!(%server_url, rootless = world.user_namespace, "API server listening");

    // The world's network: the LAN and the external client namespace.
    let net = knet_topology::ClusterNet {
        overlay: opts.overlay,
        ..knet_topology::ClusterNet::default()
    };
    knet_netns::Netns::attach_current(knet_topology::WORLD)
        .context("naming the world's network namespace")?;
    let dp = Arc::new(knet_netns::KernelDataplane::new());
    knet_topology::build_world(dp.as_ref(), &net)
        .await
        .context("building the LAN")?;

    let client = crate::client::client_from_kubeconfig_text(&kubeconfig).await?;
    let nodes = register_nodes(&client, &opts, &net).await?;
    let control_plane = nodes.first().map(|n| n.name.clone()).unwrap_or_default();
    let registry = knet_agent::Registry::default();
    server.set_pod_logs(Arc::new(knet_agent::RuntimeLogs(registry.clone())));
    server.set_pod_exec(Arc::new(knet_agent::RuntimeExec(registry.clone())));
    server.set_graceful_pod_deletion(true);
    let exe = std::env::current_exe().context("finding the knet executable")?;
    let mut agents: Vec<(Arc<knet_agent::Agent>, tokio::task::JoinHandle<()>)> = Vec::new();
    let start_agent = |agent: Arc<knet_agent::Agent>, rx: tokio::sync::watch::Receiver<bool>| {
        tokio::spawn(async move {
            if let Err(e) = agent.run(stopped(rx)).await {
                tracing::error!(error = %e, "node agent stopped");
            }
        })
    };
    for node in nodes {
        let cfg = knet_agent::AgentConfig {
            state_dir: dir.join("nodes").join(&node.name),
            node,
            net: net.clone(),
            knet_exe: exe.clone(),
            // kubelet's default --resolv-conf: the world's mount namespace is a copy of the
            // host's, so this is the host's file; none (unreadable) gives `Default` pods nothing.
            node_resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        };
        let agent = knet_agent::Agent::new(client.clone(), dp.clone(), cfg, registry.clone());
        agent.attach().await?;
        let handle = start_agent(agent.clone(), stop_rx.clone());
        agents.push((agent, handle));
    }
    // The API server on the control-plane node's address too: the `kubernetes` Service's
    // endpoint, as kube-apiserver's endpoint reconciler publishes its advertise address.
    let cp_ip = net.node_ip(0);
    let node_listener = knet_agent::proxy::listen_in(
        &knet_topology::node_netns(0),
        std::net::SocketAddr::from((cp_ip, API_SERVER_NODE_PORT)),
    )
    .context("binding the API port on the control-plane node")?;
    let serving_node = tokio::spawn(server.clone().serve(
        node_listener,
        Some(tls),
        stopped(stop_rx.clone()),
    ));
    publish_api_endpoints(&client, cp_ip, &control_plane).await?;
    // Cluster DNS: knet-dns on the control-plane node's address, port 53, behind the kube-dns
    // Service (10.96.0.10) in kube-system, reached through the service proxy as CoreDNS is.
    let dns_state = knet_dns::DnsState::new(knet_dns::DnsConfig {
        upstreams: opts.upstream_dns.clone(),
        nameserver_ips: vec![std::net::IpAddr::V4(DNS_SERVICE_IP)],
        ..knet_dns::DnsConfig::default()
    })?;
    let (dns_udp, dns_tcp) = knet_netns::Netns::open(&knet_topology::node_netns(0))?
        .run_in(move || -> std::io::Result<_> {
            Ok((
                std::net::UdpSocket::bind((cp_ip, 53))?,
                std::net::TcpListener::bind((cp_ip, 53))?,
            ))
        })?
        .context("binding port 53 on the control-plane node")?;
    let dns_server = tokio::spawn(knet_dns::serve(
        dns_udp,
        dns_tcp,
        dns_state.clone(),
        stopped(stop_rx.clone()),
    ));
    let dns_watcher = tokio::spawn(knet_dns::run_watcher(
        client.clone(),
        dns_state,
        stopped(stop_rx.clone()),
    ));
    publish_dns_service(&client, cp_ip, &control_plane).await?;
    let controllers = tokio::spawn(knet_controllers::run_all(
        client.clone(),
        knet_controllers::ControllerConfig::default(),
        stopped(stop_rx.clone()),
    ));

    std::fs::write(dir.join("knet.pid"), world.supervisor_pid.to_string())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // SIGHUP restarts the node agents (as restarting kubelet does): running pods are not disturbed.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::pin!(controllers);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => {
                tracing::info!("restarting the node agents");
                for (agent, handle) in agents.iter_mut() {
                    handle.abort();
                    let _ = (&mut *handle).await;
                    *handle = start_agent(agent.clone(), stop_rx.clone());
                }
            }
            r = &mut controllers => {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "controllers stopped"),
                    Err(e) => tracing::error!(error = %e, "controllers panicked"),
                }
                break;
            }
        }
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    for (agent, handle) in agents {
        let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), agent.stop_all_pods()).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), serving).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), serving_world).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), serving_node).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), dns_server).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), dns_watcher).await;
    store.close().await;
    let _ = std::fs::remove_file(dir.join("knet.pid"));
    Ok(())
}

/// Registers the cluster's Node objects, as each kubelet registers its own node.
/// The API server's port on the control-plane node (kube-apiserver's default secure port).
const API_SERVER_NODE_PORT: u16 = 6443;

/// Writes the `kubernetes` Service's Endpoints and EndpointSlice (default namespace): the API
/// server at `ip:6443`, as kube-apiserver's endpoint reconciler does
/// (pkg/controlplane/reconcilers). Replaces what an earlier run wrote.
async fn publish_api_endpoints(
    client: &kube::Client,
    ip: std::net::Ipv4Addr,
    node: &str,
) -> Result<()> {
    use k8s_openapi::api::core::v1::Endpoints;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::api::Api;
    let endpoints = serde_json::json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip.to_string()}],
            "ports": [{"name": "https", "port": API_SERVER_NODE_PORT, "protocol": "TCP"}]}],
    });
    let slice = serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip.to_string()], "nodeName": node,
            "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "https", "port": API_SERVER_NODE_PORT, "protocol": "TCP"}],
    });
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    for (what, r) in [
        ("Endpoints", put(&eps, endpoints).await),
        ("EndpointSlice", put(&slices, slice).await),
    ] {
        r.with_context(|| format!("publishing the kubernetes {what}"))?;
    }
    Ok(())
}

/// The cluster DNS Service's address (kubeadm's default: the tenth of the Service range).
const DNS_SERVICE_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 96, 0, 10);

/// Writes the `kube-dns` Service of kube-system (kubeadm's, with CoreDNS's labels) and its
/// EndpointSlice: knet's DNS server at `ip:53`, UDP and TCP.
async fn publish_dns_service(
    client: &kube::Client,
    ip: std::net::Ipv4Addr,
    node: &str,
) -> Result<()> {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::api::Api;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    if svcs.get_opt("kube-dns").await?.is_none() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                           "kubernetes.io/name": "knet-dns"}},
            "spec": {"clusterIP": DNS_SERVICE_IP.to_string(), "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
        }))?;
        svcs.create(&Default::default(), &svc)
            .await
            .context("creating the kube-dns Service")?;
    }
    let slice = serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kube-dns-knet", "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": "kube-dns",
                       "endpointslice.kubernetes.io/managed-by": "knet-control-plane"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip.to_string()], "nodeName": node,
            "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
    });
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "kube-system");
    put(&slices, slice)
        .await
        .context("publishing the kube-dns EndpointSlice")
}

/// Creates `obj`, or replaces the existing object of the same name.
async fn put<K>(api: &kube::api::Api<K>, obj: serde_json::Value) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let mut typed: K = serde_json::from_value(obj)?;
    let name = typed.meta().name.clone().unwrap_or_default();
    match api.get_opt(&name).await? {
        Some(existing) => {
            typed.meta_mut().resource_version = existing.meta().resource_version.clone();
            api.replace(&name, &Default::default(), &typed).await?;
        }
        None => {
            api.create(&Default::default(), &typed).await?;
        }
    }
    Ok(())
}

async fn register_nodes(
    client: &kube::Client,
    opts: &ServeOptions,
    net: &knet_topology::ClusterNet,
) -> Result<Vec<knet_topology::NodeNet>> {
    let mut out = Vec::new();
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    for (i, name) in node_names(&opts.name, opts.nodes).into_iter().enumerate() {
        let control_plane = i == 0;
        let mut labels = json!({
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            "beta.kubernetes.io/os": "linux",
        });
        let mut taints = json!([]);
        if control_plane {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
            // kind and kubeadm keep ordinary pods off the control plane when there are workers.
            if opts.nodes > 0 {
                taints = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
            }
        }
        let address = net.node_ip(i).to_string();
        out.push(knet_topology::NodeNet {
            name: name.clone(),
            index: i,
            ip: net.node_ip(i),
            pod_cidr: None,
        });
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
        });
        let path = format!("/api/v1/nodes/{name}");
        let exists = crate::client::get_opt(client, &path).await?.is_some();
        if !exists {
            crate::client::send(
                client,
                http::Method::POST,
                "/api/v1/nodes",
                Some(&node),
                None,
            )
            .await?;
        }
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let status = json!({"status": {
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "",
                "kernelVersion": kernel,
                "osImage": "knet",
                "containerRuntimeVersion": format!("knet://{}", env!("CARGO_PKG_VERSION")),
                "kubeletVersion": format!("v1.{}.0-knet", knet_apiserver::discovery::KUBE_MINOR),
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            },
            "conditions": [{
                "type": "Ready",
                "status": "False",
                "reason": "KubeletNotReady",
                "message": "the node agent is starting",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }],
        }});
        crate::client::send(
            client,
            http::Method::PATCH,
            &format!("{path}/status"),
            Some(&status),
            Some("application/merge-patch+json"),
        )
        .await?;
    }
    Ok(out)
}

fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

fn serve_args(o: &ServeOptions) -> Vec<String> {
    vec![
        "serve".into(),
        "--name".into(),
        o.name.clone(),
        "--nodes".into(),
        o.nodes.to_string(),
        "--port".into(),
        o.port.to_string(),
        "--overlay".into(),
        match o.overlay {
            knet_topology::Overlay::HostGw => "host-gw".into(),
            knet_topology::Overlay::Vxlan => "vxlan".into(),
        },
    ]
    .into_iter()
    .chain(
        o.upstream_dns
            .iter()
            .flat_map(|a| ["--upstream-dns".to_string(), a.to_string()]),
    )
    .collect()
}

/// Options of `knet up`.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// What the control plane runs with.
    pub serve: ServeOptions,
    /// Stay in the foreground instead of starting a background process.
    pub foreground: bool,
    /// How long to wait for the cluster.
    pub wait: Duration,
}

/// `knet up`.
pub async fn up(opts: UpOptions) -> Result<()> {
    let name = opts.serve.name.clone();
    check_name(&name)?;
    let dir = cluster_dir(&name);
    if let Some(pid) = running_pid(&name) {
        eprintln!("Cluster \"{name}\" is already running (pid {pid}).");
        print_next_steps(&name);
        return Ok(());
    }
    if opts.foreground {
        eprintln!("Starting cluster \"{name}\" in the foreground (Ctrl-C stops it)...");
        let exe = std::env::current_exe().context("finding the knet executable")?;
        let status = std::process::Command::new(exe)
            .args(serve_args(&opts.serve))
            .status()
            .context("starting the control plane")?;
        if !status.success() {
            bail!("the control plane exited with {status}");
        }
        return Ok(());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_file(dir.join("knet.pid"));
    let log_path = dir.join("knet.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let exe = std::env::current_exe().context("finding the knet executable")?;
    let started = Instant::now();
    eprintln!(
        "Starting cluster \"{name}\" ({} worker nodes)...",
        opts.serve.nodes
    );
    let mut child = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(exe)
            .args(serve_args(&opts.serve))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting the control plane")?
    };
    // Ready when the pid file is written (after node registration) and the API answers.
    loop {
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "the control plane exited ({status}) before it was ready; the end of {}:\n{}",
                log_path.display(),
                tail.join("\n")
            );
        }
        if running_pid(&name).is_some() {
            break;
        }
        if started.elapsed() > opts.wait {
            bail!(
                "the control plane did not become ready within {:?}; see {}",
                opts.wait,
                log_path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let client = crate::client::connect(&kubeconfig_path(&name)).await?;
    let nodes = crate::client::get_opt(&client, "/api/v1/nodes").await?;
    let count = nodes
        .as_ref()
        .and_then(|n| n["items"].as_array())
        .map_or(0, Vec::len);
    eprintln!(
        "Cluster \"{name}\" is up in {:.1}s: API server {}, {count} nodes.",
        started.elapsed().as_secs_f64(),
        std::fs::read_to_string(dir.join("port"))
            .map(|p| format!("https://127.0.0.1:{}", p.trim()))
            .unwrap_or_default()
    );
    print_next_steps(&name);
    Ok(())
}

fn print_next_steps(name: &str) {
    let kc = kubeconfig_path(name);
    outln!("kubeconfig: {}", kc.display());
    eprintln!("  export KUBECONFIG={}", kc.display());
    eprintln!("  kubectl get nodes        # or: knet get nodes");
}

/// `knet down`.
pub async fn down(name: &str, keep_state: bool) -> Result<()> {
    check_name(name)?;
    let dir = cluster_dir(name);
    match running_pid(name) {
        Some(pid) => {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while nix::sys::signal::kill(pid, None).is_ok() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if nix::sys::signal::kill(pid, None).is_ok() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            eprintln!("Stopped cluster \"{name}\".");
        }
        None if dir.exists() => eprintln!("Cluster \"{name}\" was not running."),
        None => {
            eprintln!(
                "There is no cluster \"{name}\" (nothing in {}).",
                dir.display()
            );
            return Ok(());
        }
    }
    if keep_state {
        eprintln!(
            "Its state is kept in {} (knet up starts it again).",
            dir.display()
        );
    } else {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        eprintln!("Deleted its state ({}).", dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_named_as_kind_names_them() {
        assert_eq!(
            node_names("knet", 2),
            vec!["knet-control-plane", "knet-worker", "knet-worker2"]
        );
    }

    #[test]
    fn cluster_names_must_be_dns_labels() {
        assert!(check_name("knet").is_ok());
        assert!(check_name("Bad_Name").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn kubeconfig_names_server_ca_and_token() {
        let y = kubeconfig_yaml("knet", "https://127.0.0.1:6443", "PEM", "tok");
        assert!(y.contains("server: https://127.0.0.1:6443"));
        assert!(y.contains("token: tok"));
        assert!(y.contains("current-context: knet"));
    }
}
