//! `knet bench pods`: what running pods costs, measured in one run. A benchmark, not a test: it
//! prints figures (for docs/benchmarks.md) and the command lines that produced them.
//!
//! ```text
//!  knet bench pods ─┬─ re-exec `knet bench pods-worker` ── enter_world() ── a private world (PID 1):
//!                   │    LAN + nodes (knet_topology), host-gw routes
//!                   │    1. N sandboxes: knet add_pod / remove_pod, timed per pod
//!                   │       the same N through the CNI bridge plugin (ip netns add, ADD, DEL) on the same nodes
//!                   │    3. iperf3 and TCP connect latency: pod→pod across nodes vs node→node
//!                   └─ 2. `knet serve --nodes N` (throw-away state directory): N pods through the API
//!                         (concurrent writers), watched until Running with an IP, then deleted; RSS from /proc
//! ```
//!
//! Nothing touches the host's namespaces: the worker's world (user?, mount, network, pid, UTS,
//! IPC namespaces of its own, a tmpfs on /tmp and /run/netns) and `knet serve`'s world vanish with
//! their first process. Every loop is bounded in count and time, every child is killed on drop.
//!
//! The worker must enter its world while the process has one thread, and `main` builds the async
//! runtime right after parsing the command line; so `pods-worker` runs from the argument parser
//! ([`super::WorkerEntry`]'s `FromArgMatches`) and ends the process there, before `main` goes on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::TryStreamExt;
use knet_netns::{Dataplane, KernelDataplane, Netns};
use knet_topology::{ClusterNet, NodeNet, PodNet};
use nix::sys::time::TimeVal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// The line on which the worker hands its figures to `knet bench pods`.
const RESULT_PREFIX: &str = "knet-bench-pods-result: ";
/// Where Debian's containernetworking-plugins puts the plugins.
const CNI_DIR: &str = "/usr/lib/cni";
/// Any single kernel operation, plugin call or short command.
const OP_LIMIT: Duration = Duration::from_secs(20);
/// The whole worker.
const WORKER_LIMIT: Duration = Duration::from_secs(40 * 60);
const IPERF_PORT: &str = "5201";
const NETEXEC_PORT: u16 = 8080;
/// The pods of the traffic measurement (hex, so their veth names are distinct).
const TRAFFIC_UID_A: &str = "fffffffa-0000-4000-8000-00000000000a";
const TRAFFIC_UID_B: &str = "fffffffb-0000-4000-8000-00000000000b";
/// The 1,000-pod target: all Running in under 20 s.
const RUNNING_TARGET: Duration = Duration::from_secs(20);
const SANDBOX_TARGET_MS: f64 = 10.0;

/// Options of `knet bench pods`.
#[derive(clap::Args, Debug, Clone)]
pub struct PodsArgs {
    /// Pods: sandboxes created and deleted by knet and by the CNI bridge plugin, and pods created
    /// and deleted through the API.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub pods: u32,
    /// Worker nodes the pods are spread over.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=50))]
    pub nodes: u8,
    /// Concurrent API writers (creates, then deletes).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Seconds of each iperf3 run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub iperf_seconds: u32,
    /// TCP connects of each latency run.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub latency_count: u32,
}

/// Options of the hidden `knet bench pods-worker`.
#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    #[arg(long)]
    pods: u32,
    #[arg(long)]
    nodes: u8,
    #[arg(long)]
    iperf_seconds: u32,
    #[arg(long)]
    latency_count: u32,
    /// The CNI bridge plugin (its directory must hold host-local too); none: no CNI peer.
    #[arg(long)]
    cni_bridge: Option<PathBuf>,
    /// iperf3; none: no throughput measurement.
    #[arg(long)]
    iperf3: Option<PathBuf>,
    /// iproute2's `ip` (for `ip netns add`, as the CNI peer's runtime would).
    #[arg(long)]
    ip: Option<PathBuf>,
}

impl super::Worker for WorkerArgs {
    fn main(&self) -> i32 {
        worker_main(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Figures

/// Per-pod times of one step over all nodes: percentiles, and the medians of each node's first
/// and last 10% of pods (does the step get slower as pods accumulate on a node?).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
struct Stats {
    n: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    first10_ms: f64,
    last10_ms: f64,
}

impl Stats {
    /// `per_node[i]`: node i's samples in the order its pods were handled.
    fn of(per_node: &[Vec<Duration>]) -> Stats {
        let all: Vec<Duration> = per_node.iter().flatten().copied().collect();
        let (mut first, mut last) = (Vec::new(), Vec::new());
        for samples in per_node {
            let k = samples.len().div_ceil(10);
            first.extend_from_slice(&samples[..k]);
            last.extend_from_slice(&samples[samples.len() - k..]);
        }
        Stats {
            n: all.len(),
            p50_ms: ms(percentile(&all, 0.50)),
            p99_ms: ms(percentile(&all, 0.99)),
            max_ms: ms(percentile(&all, 1.0)),
            first10_ms: ms(percentile(&first, 0.50)),
            last10_ms: ms(percentile(&last, 0.50)),
        }
    }

    fn growth(&self) -> f64 {
        ratio(self.last10_ms, self.first10_ms)
    }
}

/// Element-wise sums of two series of the same shape (e.g. netns creation + plugin ADD per pod).
fn add_series(a: &[Vec<Duration>], b: &[Vec<Duration>]) -> Vec<Vec<Duration>> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| *p + *q).collect())
        .collect()
}

/// Nearest-rank percentile (`p` in 0..=1).
fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct WorkerReport {
    user_namespace: bool,
    node_cidrs: Vec<String>,
    knet_setup: Stats,
    knet_setup_s: f64,
    knet_teardown: Stats,
    knet_teardown_s: f64,
    /// From the last `remove_pod` until the kernel had destroyed every pod veth.
    knet_drain_s: f64,
    cni: Option<CniReport>,
    cni_note: Option<String>,
    traffic: Option<TrafficReport>,
    traffic_note: Option<String>,
    commands: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct CniReport {
    netns_add: Stats,
    add: Stats,
    netns_add_and_add: Stats,
    setup_s: f64,
    del: Stats,
    netns_del: Stats,
    del_and_netns_del: Stats,
    teardown_s: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct TrafficReport {
    pod_a: String,
    pod_b: String,
    node_a: String,
    node_b: String,
    pod_gbps: Option<f64>,
    node_gbps: Option<f64>,
    pod_runs_gbps: Vec<f64>,
    node_runs_gbps: Vec<f64>,
    pod_retransmits: Option<u64>,
    node_retransmits: Option<u64>,
    pod_connect: Option<Latency>,
    node_connect: Option<Latency>,
    notes: Vec<String>,
}

/// TCP connect times of one series.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
struct Latency {
    connects: u64,
    errors: u64,
    p50_us: u64,
    p99_us: u64,
}

/// Gbit/s received and the sender's retransmits from `iperf3 -J`.
fn parse_iperf(json_text: &str) -> Result<(f64, Option<u64>)> {
    let v: Value = serde_json::from_str(json_text).context("parsing iperf3 -J output")?;
    if let Some(e) = v["error"].as_str() {
        bail!("iperf3: {e}");
    }
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .ok_or_else(|| anyhow!("iperf3 -J output has no end.sum_received.bits_per_second"))?;
    Ok((bps / 1e9, v["end"]["sum_sent"]["retransmits"].as_u64()))
}

// ---------------------------------------------------------------------------------------------
// The worker: inside a private world

fn worker_main(args: &WorkerArgs) -> i32 {
    // /tmp becomes the world's own tmpfs: the CNI plugin's IPAM state and iperf3's scratch files
    // live and die there.
    let world = match knet_netns::enter_world(knet_netns::WorldOptions {
        tmpfs: vec![PathBuf::from("/tmp")],
        ..Default::default()
    }) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("knet bench pods-worker: entering a world of its own: {e}");
            return 1;
        }
    };
    super::run_async_worker(
        "knet bench pods-worker",
        RESULT_PREFIX,
        WORKER_LIMIT,
        worker(args, world.user_namespace),
    )
}

async fn worker(a: &WorkerArgs, user_namespace: bool) -> Result<WorkerReport> {
    let pods = a.pods as usize;
    let node_count = usize::from(a.nodes).max(1);
    let per_node = pods.div_ceil(node_count);
    let net = ClusterNet::default();
    Netns::attach_current(knet_topology::WORLD).context("naming the world's network namespace")?;
    let dp = KernelDataplane::new();
    knet_topology::build_world(&dp, &net)
        .await
        .context("building the LAN")?;
    // One more address per node than the sandboxes take: the traffic pods.
    let nodes = plan_nodes(&net, node_count, per_node + 1)?;
    for node in &nodes {
        knet_topology::add_node(&dp, &net, node)
            .await
            .with_context(|| format!("adding node {}", node.name))?;
        knet_topology::set_up_pod_network(&dp, &net, node)
            .await
            .with_context(|| format!("pod network of node {}", node.name))?;
    }
    for node in &nodes {
        knet_topology::sync_node_routes(&dp, &net, node, &nodes)
            .await
            .with_context(|| format!("routes of node {}", node.name))?;
    }
    let mut report = WorkerReport {
        user_namespace,
        node_cidrs: nodes
            .iter()
            .map(|n| n.pod_cidr.map(|c| c.to_string()).unwrap_or_default())
            .collect(),
        ..Default::default()
    };
    report.commands.push(format!(
        "knet sandboxes: knet_topology::add_pod / remove_pod over KernelDataplane, {pods} pods round-robin over {node_count} node namespaces (cni0 {}), one at a time",
        report.node_cidrs.join(", ")
    ));

    knet_sandboxes(&dp, &net, &nodes, pods, &mut report).await?;

    match (&a.cni_bridge, &a.ip) {
        (Some(plugin), Some(ip)) => {
            let cni = cni_sandboxes(&dp, &nodes, pods, plugin, ip, &mut report.commands).await?;
            report.cni = Some(cni);
        }
        (None, _) => {
            report.cni_note = Some(format!(
                "{CNI_DIR}/bridge not found: apt-get install containernetworking-plugins"
            ));
        }
        (_, None) => report.cni_note = Some("`ip` (iproute2) not found".into()),
    }

    if nodes.len() >= 2 {
        let t = traffic(&dp, &net, &nodes, per_node, a, &mut report.commands).await?;
        report.traffic = Some(t);
    } else {
        report.traffic_note =
            Some("one node: nothing crosses nodes (use --nodes 2 or more)".into());
    }
    Ok(report)
}

/// Node `i` (index i+1 on the LAN) gets the i+1-th block of the cluster CIDR: a /24 when it holds
/// `per_node` pods besides network, gateway and broadcast addresses, else the smallest larger block.
fn plan_nodes(net: &ClusterNet, count: usize, per_node: usize) -> Result<Vec<NodeNet>> {
    let cluster = net.cluster_cidr;
    let mut prefix = 24u8;
    while prefix > cluster.prefix_len() && (1usize << (32 - prefix)) < per_node + 3 {
        prefix -= 1;
    }
    let block = 1usize << (32 - prefix);
    if block < per_node + 3 || (count + 1) * block > 1usize << (32 - cluster.prefix_len()) {
        bail!("{per_node} pods on each of {count} nodes do not fit the cluster CIDR {cluster}");
    }
    (0..count)
        .map(|i| {
            let base = u32::from(cluster.network()) + ((i + 1) * block) as u32;
            Ok(NodeNet {
                name: format!("bench-node{}", i + 1),
                index: i + 1,
                ip: net.node_ip(i + 1),
                pod_cidr: Some(format!("{}/{prefix}", Ipv4Addr::from(base)).parse()?),
            })
        })
        .collect()
}

/// The `k`-th pod address of `node`: .2, .3, ... (.1 is the gateway on cni0).
fn pod_ip(node: &NodeNet, k: usize) -> Result<Ipv4Addr> {
    let cidr = node
        .pod_cidr
        .ok_or_else(|| anyhow!("node {} has no pod CIDR", node.name))?;
    let ip = Ipv4Addr::from(u32::from(cidr.network()) + 2 + k as u32);
    if !cidr.contains(&ip) || ip == cidr.broadcast() {
        bail!("pod {k} does not fit {cidr}");
    }
    Ok(ip)
}

/// A pod uid whose first 8 hex digits (the host veth's name) are the pod's number.
fn bench_uid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

async fn bounded<T, E>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T>
where
    E: Into<anyhow::Error>,
{
    match tokio::time::timeout(OP_LIMIT, fut).await {
        Ok(r) => r.map_err(Into::into).with_context(|| what.to_string()),
        Err(_) => bail!("{what}: not done within {OP_LIMIT:?}"),
    }
}

async fn knet_sandboxes(
    dp: &KernelDataplane,
    net: &ClusterNet,
    nodes: &[NodeNet],
    pods: usize,
    report: &mut WorkerReport,
) -> Result<()> {
    eprintln!(
        "knet: creating {pods} pod sandboxes over {} nodes...",
        nodes.len()
    );
    let mut setup = vec![Vec::new(); nodes.len()];
    let mut created: Vec<(usize, PodNet)> = Vec::with_capacity(pods);
    let started = Instant::now();
    for i in 0..pods {
        let (n, k) = (i % nodes.len(), i / nodes.len());
        let pod = knet_topology::pod_net(&bench_uid(i), pod_ip(&nodes[n], k)?);
        let t = Instant::now();
        bounded(
            &format!("knet add_pod {i}"),
            knet_topology::add_pod(dp, net, &nodes[n], &pod),
        )
        .await?;
        setup[n].push(t.elapsed());
        created.push((n, pod));
    }
    report.knet_setup_s = started.elapsed().as_secs_f64();
    let ports = pod_ports(dp, nodes).await?;
    if ports != pods {
        bail!("after knet's setup the nodes have {ports} pod ports, expected {pods}");
    }
    eprintln!("knet: deleting them...");
    let mut teardown = vec![Vec::new(); nodes.len()];
    let started = Instant::now();
    for (i, (n, pod)) in created.iter().enumerate() {
        let t = Instant::now();
        bounded(
            &format!("knet remove_pod {i}"),
            knet_topology::remove_pod(dp, pod),
        )
        .await?;
        teardown[*n].push(t.elapsed());
    }
    report.knet_teardown_s = started.elapsed().as_secs_f64();
    let drain = Instant::now();
    wait_ports_gone(dp, nodes).await?;
    report.knet_drain_s = drain.elapsed().as_secs_f64();
    report.knet_setup = Stats::of(&setup);
    report.knet_teardown = Stats::of(&teardown);
    Ok(())
}

/// Pod ports (host veths) on the nodes' bridges, as the kernel lists them.
async fn pod_ports(dp: &KernelDataplane, nodes: &[NodeNet]) -> Result<usize> {
    let mut count = 0;
    for node in nodes {
        let links = bounded("listing links", dp.links(&node.netns())).await?;
        count += links.iter().filter(|l| l.name.starts_with("veth")).count();
    }
    Ok(count)
}

/// Waits (at most 2 minutes) until the kernel has destroyed every pod veth of the nodes: deleting
/// a namespace only drops its name, the kernel tears it down in the background.
async fn wait_ports_gone(dp: &KernelDataplane, nodes: &[NodeNet]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = pod_ports(dp, nodes).await?;
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{left} pod veths still exist 120 s after their namespaces were deleted");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The CNI network configuration for `node`: the reference bridge plugin on the node's `cni0`
/// with host-local IPAM over the node's pod CIDR (flannel's delegate configuration).
fn cni_conf(node: &NodeNet, data_dir: &Path) -> String {
    json!({
        "cniVersion": "1.0.0",
        "name": "knet-bench",
        "type": "bridge",
        "bridge": knet_topology::POD_BRIDGE,
        "isGateway": true,
        "isDefaultGateway": true,
        "ipMasq": false,
        "hairpinMode": true,
        "mtu": knet_topology::LAN_MTU,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": node.pod_cidr.map(|c| c.to_string()).unwrap_or_default()}]],
            "dataDir": data_dir.join(&node.name),
        },
    })
    .to_string()
}

/// One CNI plugin call (a new plugin process, as the runtime makes), in the node's namespace.
async fn cni_call(
    node: &Netns,
    plugin: &Path,
    command: &str,
    container: &str,
    netns: &str,
    conf: &str,
) -> Result<Duration> {
    let plugin_dir = plugin.parent().unwrap_or(Path::new(CNI_DIR));
    let mut cmd = tokio::process::Command::from(knet_netns::command_in(
        node,
        plugin,
        std::iter::empty::<&str>(),
    ));
    cmd.env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container)
        .env("CNI_NETNS", format!("{}/{netns}", knet_netns::RUN_NETNS))
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", plugin_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = format!("CNI {command} {container}");
    let t = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("{what}: starting {}", plugin.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(conf.as_bytes()).await?;
        stdin.shutdown().await?;
    }
    let out = bounded(&what, child.wait_with_output()).await?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!(
            "{what}: {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

/// Runs `program args` to completion (bounded), failing on a non-zero exit; returns its time.
async fn run_timed(program: &Path, args: &[&str]) -> Result<Duration> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = format!("{} {}", program.display(), args.join(" "));
    let t = Instant::now();
    let out = bounded(&what, cmd.output()).await?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!(
            "{what}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

async fn cni_sandboxes(
    dp: &KernelDataplane,
    nodes: &[NodeNet],
    pods: usize,
    plugin: &Path,
    ip: &Path,
    commands: &mut Vec<String>,
) -> Result<CniReport> {
    // The world's own /tmp (a tmpfs that vanishes with it).
    let data_dir = PathBuf::from("/tmp/knet-bench-cni");
    let mut node_ns = Vec::with_capacity(nodes.len());
    for node in nodes {
        node_ns.push(bounded("opening a node namespace", dp.netns(&node.netns())).await?);
    }
    let confs: Vec<String> = nodes.iter().map(|n| cni_conf(n, &data_dir)).collect();
    commands.push(format!(
        "CNI peer, per pod (same nodes, same cni0): {ip} netns add cni-N; then in the node's netns: CNI_COMMAND=ADD CNI_CONTAINERID=knet-bench-N CNI_NETNS=/run/netns/cni-N CNI_IFNAME=eth0 CNI_PATH={dir} {plugin} < conf; teardown: CNI_COMMAND=DEL ... {plugin} < conf; {ip} netns del cni-N",
        ip = ip.display(),
        plugin = plugin.display(),
        dir = plugin.parent().unwrap_or(Path::new(CNI_DIR)).display(),
    ));
    if let Some(conf) = confs.first() {
        commands.push(format!("CNI conf of {}: {conf}", nodes[0].name));
    }
    eprintln!("CNI bridge plugin: creating {pods} pod sandboxes...");
    let n_nodes = nodes.len();
    let (mut netns_add, mut add) = (vec![Vec::new(); n_nodes], vec![Vec::new(); n_nodes]);
    let started = Instant::now();
    for i in 0..pods {
        let n = i % n_nodes;
        let name = format!("cni-{i}");
        netns_add[n].push(run_timed(ip, &["netns", "add", &name]).await?);
        let id = format!("knet-bench-{i}");
        add[n].push(cni_call(&node_ns[n], plugin, "ADD", &id, &name, &confs[n]).await?);
    }
    let setup_s = started.elapsed().as_secs_f64();
    let ports = pod_ports(dp, nodes).await?;
    if ports != pods {
        bail!("after the CNI plugin's setup the nodes have {ports} pod ports, expected {pods}");
    }
    eprintln!("CNI bridge plugin: deleting them...");
    let (mut del, mut netns_del) = (vec![Vec::new(); n_nodes], vec![Vec::new(); n_nodes]);
    let started = Instant::now();
    for i in 0..pods {
        let n = i % n_nodes;
        let name = format!("cni-{i}");
        let id = format!("knet-bench-{i}");
        del[n].push(cni_call(&node_ns[n], plugin, "DEL", &id, &name, &confs[n]).await?);
        netns_del[n].push(run_timed(ip, &["netns", "del", &name]).await?);
    }
    let teardown_s = started.elapsed().as_secs_f64();
    wait_ports_gone(dp, nodes).await?;
    Ok(CniReport {
        netns_add: Stats::of(&netns_add),
        add: Stats::of(&add),
        netns_add_and_add: Stats::of(&add_series(&netns_add, &add)),
        setup_s,
        del: Stats::of(&del),
        netns_del: Stats::of(&netns_del),
        del_and_netns_del: Stats::of(&add_series(&del, &netns_del)),
        teardown_s,
    })
}

/// Starts `program args` in `ns`, killed when the handle drops.
fn spawn_in(ns: &Netns, program: &Path, args: &[&str]) -> Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::from(knet_netns::command_in(ns, program, args));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    cmd.spawn()
        .with_context(|| format!("starting {} in {}", program.display(), ns.name()))
}

/// Runs `program args` in `ns` to completion within `limit`; returns its output whatever its status.
async fn output_in(
    ns: &Netns,
    program: &Path,
    args: &[&str],
    limit: Duration,
) -> Result<std::process::Output> {
    let mut cmd = tokio::process::Command::from(knet_netns::command_in(ns, program, args));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(out) => out.with_context(|| format!("running {} in {}", program.display(), ns.name())),
        Err(_) => bail!(
            "{} {} in {}: not done within {limit:?}",
            program.display(),
            args.join(" "),
            ns.name()
        ),
    }
}

/// A TCP socket made in `ns` (a socket keeps the namespace it was made in, wherever it is used),
/// whose connect gives up after 1 s.
fn socket_in(ns: &Netns) -> Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, setsockopt, socket, sockopt};
    let made = ns.run_in(|| {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        setsockopt(&fd, sockopt::SendTimeout, &TimeVal::new(1, 0))?;
        Ok::<_, nix::Error>(fd)
    })?;
    Ok(made?)
}

/// `connect(2)` of `fd` to `addr`, timed: the SYN / SYN-ACK round trip plus the kernel's work on
/// both ends. The connection is closed when `fd` drops.
fn timed_connect(fd: &OwnedFd, addr: SocketAddrV4) -> Result<Duration, nix::Error> {
    let sa = nix::sys::socket::SockaddrIn::from(addr);
    let t = Instant::now();
    nix::sys::socket::connect(fd.as_raw_fd(), &sa)?;
    Ok(t.elapsed())
}

/// Waits (at most 5 s) until `addr` accepts TCP connections from `ns`.
fn wait_listening(ns: &Netns, addr: SocketAddrV4) -> Result<()> {
    for _ in 0..100 {
        if timed_connect(&socket_in(ns)?, addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{addr} did not accept connections from {}", ns.name())
}

/// TCP connect times from two namespaces to their targets, interleaved connect by connect (ABBA
/// order), so that both series see the same machine at the same moments.
fn interleaved_connects(
    a: (&Netns, SocketAddrV4),
    b: (&Netns, SocketAddrV4),
    count: usize,
) -> Result<[Latency; 2]> {
    const BATCH: usize = 100;
    let targets = [a, b];
    let mut samples: [Vec<Duration>; 2] = [Vec::with_capacity(count), Vec::with_capacity(count)];
    let mut errors = [0u64; 2];
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut done = 0;
    while done < count {
        if Instant::now() > deadline {
            bail!("{done} of {count} connect pairs after 120 s");
        }
        let n = BATCH.min(count - done);
        // Sockets made ahead, a batch at a time: making one enters the namespace on a new thread,
        // which is kept out of the timed connect.
        let mut fds: [Vec<OwnedFd>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
        for (side, (ns, _)) in targets.iter().enumerate() {
            for _ in 0..n {
                fds[side].push(socket_in(ns)?);
            }
        }
        let [fa, fb] = fds;
        for (k, pair) in fa.into_iter().zip(fb).enumerate() {
            let order = if (done + k) % 2 == 0 { [0, 1] } else { [1, 0] };
            let pair = [pair.0, pair.1];
            for side in order {
                match timed_connect(&pair[side], targets[side].1) {
                    Ok(d) => samples[side].push(d),
                    Err(_) => errors[side] += 1,
                }
            }
        }
        done += n;
    }
    let latency = |side: usize| Latency {
        connects: samples[side].len() as u64,
        errors: errors[side],
        p50_us: percentile(&samples[side], 0.50).as_micros() as u64,
        p99_us: percentile(&samples[side], 0.99).as_micros() as u64,
    };
    Ok([latency(0), latency(1)])
}

/// One iperf3 run from `ns` to `server`; retried (bounded) while the server is not listening yet.
async fn iperf(
    iperf3: &Path,
    ns: &Netns,
    server: &str,
    seconds: u32,
) -> Result<(f64, Option<u64>)> {
    let secs = seconds.to_string();
    let args = ["-c", server, "-p", IPERF_PORT, "-t", &secs, "-J"];
    let mut last = anyhow!("iperf3 did not run");
    for _ in 0..20 {
        let out = output_in(
            ns,
            iperf3,
            &args,
            Duration::from_secs(u64::from(seconds) + 20),
        )
        .await?;
        match parse_iperf(&String::from_utf8_lossy(&out.stdout)) {
            Ok(r) if out.status.success() => return Ok(r),
            Ok(_) => last = anyhow!("iperf3 -c {server}: {}", out.status),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

async fn traffic(
    dp: &KernelDataplane,
    net: &ClusterNet,
    nodes: &[NodeNet],
    per_node: usize,
    a: &WorkerArgs,
    commands: &mut Vec<String>,
) -> Result<TrafficReport> {
    let (node_a, node_b) = (&nodes[0], &nodes[1]);
    // Addresses no sandbox of the first part used: no stale neighbour entry anywhere.
    let pod_a = knet_topology::pod_net(TRAFFIC_UID_A, pod_ip(node_a, per_node)?);
    let pod_b = knet_topology::pod_net(TRAFFIC_UID_B, pod_ip(node_b, per_node)?);
    for (node, pod) in [(node_a, &pod_a), (node_b, &pod_b)] {
        bounded(
            "adding a traffic pod",
            knet_topology::add_pod(dp, net, node, pod),
        )
        .await?;
    }
    let ns_pod_a = bounded("opening pod a", dp.netns(&pod_a.netns)).await?;
    let ns_pod_b = bounded("opening pod b", dp.netns(&pod_b.netns)).await?;
    let ns_node_a = bounded("opening node a", dp.netns(&node_a.netns())).await?;
    let ns_node_b = bounded("opening node b", dp.netns(&node_b.netns())).await?;
    let exe = std::env::current_exe().context("finding the knet executable")?;
    let mut report = TrafficReport {
        pod_a: format!("{} on {}", pod_a.ip, node_a.name),
        pod_b: format!("{} on {}", pod_b.ip, node_b.name),
        node_a: format!("{} ({})", node_a.ip, node_a.name),
        node_b: format!("{} ({})", node_b.ip, node_b.name),
        ..Default::default()
    };
    let port = NETEXEC_PORT.to_string();
    let mut servers = Vec::new();
    for ns in [&ns_pod_a, &ns_node_a] {
        servers.push(spawn_in(
            ns,
            &exe,
            &["image", "netexec", "--http-port", &port, "--udp-port", "-1"],
        )?);
        if let Some(iperf3) = &a.iperf3 {
            servers.push(spawn_in(ns, iperf3, &["-s", "-p", IPERF_PORT])?);
        }
    }
    let pod_target = SocketAddrV4::new(pod_a.ip, NETEXEC_PORT);
    let node_target = SocketAddrV4::new(node_a.ip, NETEXEC_PORT);
    let count = a.latency_count as usize;
    commands.push(format!(
        "latency: knet image netexec --http-port {port} --udp-port -1 in pod A ({}) and in node A ({}); {count} TCP connects (connect(2) timed, then closed) from pod B ({}) to {pod_target} interleaved one by one with {count} from node B ({}) to {node_target}",
        pod_a.netns,
        node_a.netns(),
        pod_b.netns,
        node_b.netns()
    ));
    eprintln!("traffic: TCP connect latency, pod->pod across nodes and node->node, interleaved...");
    let (b_pod, b_node) = (ns_pod_b.clone(), ns_node_b.clone());
    let [pod_lat, node_lat] = tokio::task::spawn_blocking(move || {
        wait_listening(&b_pod, pod_target)?;
        wait_listening(&b_node, node_target)?;
        interleaved_connects((&b_pod, pod_target), (&b_node, node_target), count)
    })
    .await??;
    report.pod_connect = Some(pod_lat);
    report.node_connect = Some(node_lat);

    if let Some(iperf3) = &a.iperf3 {
        commands.push(format!(
            "throughput: {iperf} -s -p {IPERF_PORT} in pod A and in node A; {iperf} -c {} -p {IPERF_PORT} -t {secs} -J in pod B and {iperf} -c {} -p {IPERF_PORT} -t {secs} -J in node B, twice each in the order pod, node, node, pod (mean of the two)",
            pod_a.ip,
            node_a.ip,
            iperf = iperf3.display(),
            secs = a.iperf_seconds
        ));
        eprintln!(
            "traffic: iperf3, 4 runs of {} s (pod, node, node, pod)...",
            a.iperf_seconds
        );
        let mut runs: [Vec<(f64, Option<u64>)>; 2] = [Vec::new(), Vec::new()];
        for side in [0usize, 1, 1, 0] {
            let (ns, server, what) = if side == 0 {
                (&ns_pod_b, pod_a.ip, "pod->pod")
            } else {
                (&ns_node_b, node_a.ip, "node->node")
            };
            match iperf(iperf3, ns, &server.to_string(), a.iperf_seconds).await {
                Ok(r) => runs[side].push(r),
                Err(e) => report.notes.push(format!("iperf3 {what}: {e:#}")),
            }
        }
        let mean = |r: &[(f64, Option<u64>)]| {
            (!r.is_empty()).then(|| r.iter().map(|x| x.0).sum::<f64>() / r.len() as f64)
        };
        let retrans = |r: &[(f64, Option<u64>)]| r.iter().map(|x| x.1).sum::<Option<u64>>();
        (report.pod_gbps, report.pod_retransmits) = (mean(&runs[0]), retrans(&runs[0]));
        (report.node_gbps, report.node_retransmits) = (mean(&runs[1]), retrans(&runs[1]));
        report.pod_runs_gbps = runs[0].iter().map(|x| x.0).collect();
        report.node_runs_gbps = runs[1].iter().map(|x| x.0).collect();
    } else {
        report
            .notes
            .push("iperf3 not found: apt-get install iperf3".into());
    }
    for mut server in servers {
        let _ = server.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), server.wait()).await;
    }
    for pod in [&pod_a, &pod_b] {
        bounded("removing a traffic pod", knet_topology::remove_pod(dp, pod)).await?;
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// `knet bench pods`: on the host

/// What `knet bench pods` learned through the API.
#[derive(Debug, Default)]
struct ApiReport {
    serve_command: String,
    ready_s: f64,
    creates_done_s: f64,
    running: usize,
    /// First create sent → the last pod seen Running with its IP.
    all_running_s: Option<f64>,
    create_to_running: Vec<Duration>,
    per_node: BTreeMap<String, usize>,
    deleted: usize,
    delete_s: Option<f64>,
    world_pid: Option<u32>,
    world_hwm_kib: Option<u64>,
    world_rss_running_kib: Option<u64>,
    supervisor_hwm_kib: Option<u64>,
    containers: usize,
    containers_rss_kib: u64,
    containers_pss_kib: u64,
    notes: Vec<String>,
}

/// `knet bench pods`.
pub(super) async fn run(a: &PodsArgs) -> Result<()> {
    let exe = std::env::current_exe().context("finding the knet executable")?;
    let cni = Path::new(CNI_DIR).join("bridge");
    let cni = (cni.is_file() && Path::new(CNI_DIR).join("host-local").is_file()).then_some(cni);
    let iperf3 = super::find_program("iperf3");
    let ip = super::find_program("ip");
    let started = jiff::Timestamp::now();

    eprintln!(
        "[1/2] sandboxes and traffic in a private world ({} pods, {} nodes)...",
        a.pods, a.nodes
    );
    let mut worker_cmd = vec![
        "bench".to_string(),
        "pods-worker".into(),
        "--pods".into(),
        a.pods.to_string(),
        "--nodes".into(),
        a.nodes.to_string(),
        "--iperf-seconds".into(),
        a.iperf_seconds.to_string(),
        "--latency-count".into(),
        a.latency_count.to_string(),
    ];
    for (flag, path) in [("--cni-bridge", &cni), ("--iperf3", &iperf3), ("--ip", &ip)] {
        if let Some(p) = path {
            worker_cmd.push(flag.into());
            worker_cmd.push(p.display().to_string());
        }
    }
    let worker = run_worker(&exe, &worker_cmd).await;
    if let Err(e) = &worker {
        eprintln!("the sandbox/traffic worker failed: {e:#}");
    }

    eprintln!(
        "[2/2] {} pods through the API of a throw-away cluster ({} workers)...",
        a.pods, a.nodes
    );
    let api = api_pods(a).await;
    if let Err(e) = &api {
        eprintln!("the end-to-end run failed: {e:#}");
    }

    print_report(a, &started, &exe, &worker_cmd, &worker, &api);
    match (worker, api) {
        (Ok(_), Ok(_)) => Ok(()),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

async fn run_worker(exe: &Path, args: &[String]) -> Result<WorkerReport> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(args)
        .env("KNET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = cmd.spawn().context("starting `knet bench pods-worker`")?;
    let out = tokio::time::timeout(
        WORKER_LIMIT + Duration::from_secs(60),
        child.wait_with_output(),
    )
    .await
    .map_err(|_| anyhow!("the worker did not finish within {WORKER_LIMIT:?}"))??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| anyhow!("the worker exited ({}) without figures", out.status))?;
    serde_json::from_str(line).context("reading the worker's figures")
}

// ---------------------------------------------------------------------------------------------
// End to end through the API

/// What the pod watch has seen, by pod name.
#[derive(Default)]
struct Seen {
    sent: HashMap<String, Instant>,
    running: HashMap<String, Instant>,
    node: HashMap<String, String>,
    present: HashSet<String>,
    deleted: HashMap<String, Instant>,
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

fn observe(seen: &mut Seen, pod: &Value, now: Instant) {
    let Some(name) = pod["metadata"]["name"].as_str() else {
        return;
    };
    seen.present.insert(name.to_string());
    if let Some(node) = pod["spec"]["nodeName"].as_str() {
        seen.node.insert(name.to_string(), node.to_string());
    }
    let running = pod["status"]["phase"] == "Running"
        && pod["status"]["podIP"]
            .as_str()
            .is_some_and(|ip| !ip.is_empty());
    if running {
        seen.running.entry(name.to_string()).or_insert(now);
    }
}

/// Lists, then watches, the bench's pods until `stop`; lists again whenever the watch ends.
async fn watch_pods(
    client: kube::Client,
    base: String,
    seen: Arc<Mutex<Seen>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let list = match crate::client::send(&client, http::Method::GET, &base, None, None).await {
            Ok(list) => list,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        {
            let now = Instant::now();
            let mut s = lock(&seen);
            let items = list["items"].as_array().cloned().unwrap_or_default();
            let names: HashSet<String> = items
                .iter()
                .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            let gone: Vec<String> = s.present.difference(&names).cloned().collect();
            for name in gone {
                s.present.remove(&name);
                s.deleted.entry(name).or_insert(now);
            }
            for pod in &items {
                observe(&mut s, pod, now);
            }
        }
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        let Ok(req) = http::Request::builder()
            .uri(format!("{base}&watch=true&resourceVersion={rv}"))
            .body(Vec::new())
        else {
            return;
        };
        let Ok(stream) = client.request_events::<Value>(req).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        futures::pin_mut!(stream);
        loop {
            let event = tokio::select! {
                e = stream.try_next() => e,
                _ = stop.changed() => return,
            };
            let now = Instant::now();
            match event {
                Ok(Some(
                    kube::core::WatchEvent::Added(p) | kube::core::WatchEvent::Modified(p),
                )) => observe(&mut lock(&seen), &p, now),
                Ok(Some(kube::core::WatchEvent::Deleted(p))) => {
                    if let Some(name) = p["metadata"]["name"].as_str() {
                        let mut s = lock(&seen);
                        s.present.remove(name);
                        s.deleted.entry(name.to_string()).or_insert(now);
                    }
                }
                Ok(Some(kube::core::WatchEvent::Bookmark(_))) => {}
                _ => break,
            }
        }
    }
}

/// Polls until `done` holds or `limit` passes, printing progress every 5 s; whether it held.
async fn wait_until(
    seen: &Mutex<Seen>,
    limit: Duration,
    what: &str,
    done: impl Fn(&Seen) -> (bool, usize),
) -> bool {
    let started = Instant::now();
    let mut next_progress = Duration::from_secs(5);
    loop {
        let (ok, count) = done(&lock(seen));
        if ok {
            return true;
        }
        let elapsed = started.elapsed();
        if elapsed > limit {
            return false;
        }
        if elapsed > next_progress {
            eprintln!("  {count} {what} after {:.0} s", elapsed.as_secs_f64());
            next_progress += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_nodes_ready(client: &kube::Client, expected: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let nodes =
            crate::client::send(client, http::Method::GET, "/api/v1/nodes", None, None).await?;
        let ready = nodes["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|n| {
                        n["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                    })
                    .count()
            })
            .unwrap_or(0);
        if ready >= expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{ready} of {expected} nodes Ready after 90 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends one request per pod from `concurrency` writers.
async fn for_each_pod<F, Fut>(pods: usize, concurrency: usize, op: F) -> Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let op = Arc::new(op);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, op) = (next.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pods {
                    return Ok::<_, anyhow::Error>(());
                }
                op(i).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

fn pod_name(i: usize) -> String {
    format!("bench-{i}")
}

async fn api_pods(a: &PodsArgs) -> Result<ApiReport> {
    let pods = a.pods as usize;
    let nodes = usize::from(a.nodes);
    let mut server = super::start_server_with(nodes, true).await?;
    let mut report = ApiReport {
        serve_command: server.command.clone(),
        ..Default::default()
    };
    let ready_started = Instant::now();
    let kubeconfig = server.dir.path().join(&server.name).join("kubeconfig");
    let client = crate::client::connect(&kubeconfig).await?;
    wait_nodes_ready(&client, nodes + 1)
        .await
        .map_err(|e| anyhow!("{e}; {}", server.log_tail()))?;
    report.ready_s = ready_started.elapsed().as_secs_f64();
    let ns = "bench";
    crate::client::send(
        &client,
        http::Method::POST,
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
        None,
    )
    .await?;
    let base = format!("/api/v1/namespaces/{ns}/pods?labelSelector=bench%3Dpods");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(watch_pods(client.clone(), base, seen.clone(), stop_rx));
    // The watch lists first; give it its first list before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;

    eprintln!(
        "  creating {pods} pods (image knet/pause) with {} writers...",
        a.concurrency
    );
    let started = Instant::now();
    let (c, s) = (client.clone(), seen.clone());
    for_each_pod(pods, usize::from(a.concurrency), move |i| {
        let (client, seen) = (c.clone(), s.clone());
        async move {
            let name = pod_name(i);
            let body = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": {"bench": "pods"}},
                "spec": {"containers": [{"name": "pause", "image": "knet/pause"}]},
            });
            lock(&seen).sent.insert(name, Instant::now());
            crate::client::send(
                &client,
                http::Method::POST,
                &format!("/api/v1/namespaces/{ns}/pods"),
                Some(&body),
                None,
            )
            .await?;
            Ok(())
        }
    })
    .await?;
    report.creates_done_s = started.elapsed().as_secs_f64();
    let limit = Duration::from_secs(120) + Duration::from_millis(200) * a.pods;
    let all_running = wait_until(&seen, limit, "pods Running", |s| {
        (s.running.len() >= pods, s.running.len())
    })
    .await;
    {
        let s = lock(&seen);
        report.running = s.running.len();
        let last = s.running.values().max().copied();
        if all_running {
            report.all_running_s = last.map(|t| t.duration_since(started).as_secs_f64());
        } else {
            report.notes.push(format!(
                "only {} of {pods} pods Running with an IP after {:.0} s",
                s.running.len(),
                limit.as_secs_f64()
            ));
        }
        report.create_to_running = s
            .running
            .iter()
            .filter_map(|(name, at)| Some(at.duration_since(*s.sent.get(name)?)))
            .collect();
        for node in s.node.values() {
            *report.per_node.entry(node.clone()).or_default() += 1;
        }
    }
    // Memory with every pod running.
    let supervisor = server.child.id();
    report.world_pid = children_of(supervisor).into_iter().next();
    if let Some(world) = report.world_pid {
        report.world_rss_running_kib = status_kib(world, "VmRSS");
        for pid in children_of(world) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "knet" {
                report.containers += 1;
                report.containers_rss_kib += status_kib(pid, "VmRSS").unwrap_or(0);
                report.containers_pss_kib += smaps_rollup_kib(pid, "Pss").unwrap_or(0);
            }
        }
    }

    eprintln!("  deleting them with {} writers...", a.concurrency);
    let deleting = Instant::now();
    let c = client.clone();
    let deleted = for_each_pod(pods, usize::from(a.concurrency), move |i| {
        let client = c.clone();
        async move {
            let path = format!("/api/v1/namespaces/{ns}/pods/{}", pod_name(i));
            match crate::client::send(&client, http::Method::DELETE, &path, None, None).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    })
    .await;
    if let Err(e) = deleted {
        report.notes.push(format!("deleting pods: {e:#}"));
    }
    let all_gone = wait_until(&seen, limit, "pods deleted", |s| {
        let deleted = s.deleted.len();
        (
            deleted >= pods || (deleted > 0 && s.present.is_empty()),
            deleted,
        )
    })
    .await;
    {
        let s = lock(&seen);
        report.deleted = s.deleted.len();
        if all_gone {
            report.delete_s = s
                .deleted
                .values()
                .max()
                .map(|t| t.duration_since(deleting).as_secs_f64());
        } else {
            report.notes.push(format!(
                "only {} of {pods} pods gone after {:.0} s",
                s.deleted.len(),
                limit.as_secs_f64()
            ));
        }
    }
    if let Some(world) = report.world_pid {
        report.world_hwm_kib = status_kib(world, "VmHWM");
    }
    report.supervisor_hwm_kib = status_kib(supervisor, "VmHWM");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), watcher).await;
    server.stop().await;
    Ok(report)
}

/// Processes whose parent is `pid` (host pids, from /proc). The world process of a `knet serve`
/// is the only child of its supervisor.
pub(super) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| parent_pid(&s))
                == Some(pid)
        })
        .collect();
    out.sort_unstable();
    out
}

/// The parent pid from a `/proc/PID/stat` line (the command name may hold spaces and parentheses).
fn parent_pid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&text, field)
}

fn smaps_rollup_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    kib_field(&text, field)
}

/// `Field:   1234 kB` → 1234.
fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// The report

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| kib_field(&t, "MemTotal"))
        .map_or(0.0, |k| k as f64 / 1024.0 / 1024.0);
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let debian = std::fs::read_to_string("/etc/debian_version").unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {mem:.0} GiB, kernel {kernel}, Debian {}",
        debian.trim()
    )
}

fn stats_row(what: &str, s: &Stats, wall_s: Option<f64>) {
    outln!(
        "  {what:<38} {:>8.3} {:>8.3} {:>8.3} {:>10.3} {:>9.3} {:>6.2}x {:>8}",
        s.p50_ms,
        s.p99_ms,
        s.max_ms,
        s.first10_ms,
        s.last10_ms,
        s.growth(),
        wall_s.map_or(String::new(), |w| format!("{w:.2} s"))
    );
}

fn print_report(
    a: &PodsArgs,
    started: &jiff::Timestamp,
    exe: &Path,
    worker_cmd: &[String],
    worker: &Result<WorkerReport>,
    api: &Result<ApiReport>,
) {
    let pods = a.pods as usize;
    let nodes = usize::from(a.nodes);
    outln!();
    outln!(
        "knet bench pods --pods {pods} --nodes {nodes} --concurrency {} --iperf-seconds {} --latency-count {}",
        a.concurrency,
        a.iperf_seconds,
        a.latency_count
    );
    outln!(
        "  started {}, on {}",
        started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        machine()
    );
    outln!("commands:");
    outln!(
        "  worker (enters a world of its own, then runs parts 1 and 3): {} {}",
        exe.display(),
        worker_cmd.join(" ")
    );
    if let Ok(w) = worker {
        for c in &w.commands {
            outln!("  {c}");
        }
    }
    if let Ok(r) = api {
        outln!("  cluster: {}", r.serve_command);
        outln!(
            "  pods: POST /api/v1/namespaces/bench/pods {{\"metadata\":{{\"name\":\"bench-N\",\"labels\":{{\"bench\":\"pods\"}}}},\"spec\":{{\"containers\":[{{\"name\":\"pause\",\"image\":\"knet/pause\"}}]}}}} from {} writers; watch ?labelSelector=bench=pods; DELETE each pod (graceful) from {} writers",
            a.concurrency,
            a.concurrency
        );
    }

    outln!();
    outln!(
        "1. Pod sandbox network: {pods} pods round-robin over {nodes} nodes ({} per node), one at a time, same world",
        pods.div_ceil(nodes)
    );
    match worker {
        Err(e) => outln!("  failed: {e:#}"),
        Ok(w) => {
            outln!(
                "  {:<38} {:>8} {:>8} {:>8} {:>10} {:>9} {:>7} {:>8}",
                "per pod (ms)",
                "median",
                "p99",
                "max",
                "first 10%",
                "last 10%",
                "growth",
                "all pods"
            );
            stats_row(
                "knet setup (add_pod: netns+veth+...)",
                &w.knet_setup,
                Some(w.knet_setup_s),
            );
            if let Some(c) = &w.cni {
                stats_row("CNI: ip netns add", &c.netns_add, None);
                stats_row("CNI: bridge ADD", &c.add, None);
                stats_row(
                    "CNI: ip netns add + bridge ADD",
                    &c.netns_add_and_add,
                    Some(c.setup_s),
                );
            }
            stats_row(
                "knet teardown (remove_pod)",
                &w.knet_teardown,
                Some(w.knet_teardown_s),
            );
            if let Some(c) = &w.cni {
                stats_row("CNI: bridge DEL", &c.del, None);
                stats_row("CNI: ip netns del", &c.netns_del, None);
                stats_row(
                    "CNI: bridge DEL + ip netns del",
                    &c.del_and_netns_del,
                    Some(c.teardown_s),
                );
            }
            outln!(
                "  knet teardown: the kernel destroyed the last pod veth {:.2} s after the last remove_pod (namespaces are destroyed in the background)",
                w.knet_drain_s
            );
            if let Some(c) = &w.cni {
                outln!(
                    "  CNI / knet, setup medians: {:.1}x for the plugin's ADD alone (knet's figure includes the netns), {:.1}x with ip netns add; p99: {:.1}x; teardown medians: {:.1}x (DEL + netns del vs remove_pod)",
                    ratio(c.add.p50_ms, w.knet_setup.p50_ms),
                    ratio(c.netns_add_and_add.p50_ms, w.knet_setup.p50_ms),
                    ratio(c.netns_add_and_add.p99_ms, w.knet_setup.p99_ms),
                    ratio(c.del_and_netns_del.p50_ms, w.knet_teardown.p50_ms)
                );
                outln!(
                    "  all {pods} pods: setup {:.2} s knet vs {:.2} s CNI ({:.1}x); teardown {:.2} s knet (+{:.2} s until the kernel had destroyed every veth) vs {:.2} s CNI ({:.1}x counting the drain)",
                    w.knet_setup_s,
                    c.setup_s,
                    ratio(c.setup_s, w.knet_setup_s),
                    w.knet_teardown_s,
                    w.knet_drain_s,
                    c.teardown_s,
                    ratio(c.teardown_s, w.knet_teardown_s + w.knet_drain_s)
                );
            }
            if let Some(note) = &w.cni_note {
                outln!("  CNI peer not run: {note}");
            }
            outln!(
                "  target: median sandbox setup under {SANDBOX_TARGET_MS} ms: {} ({:.3} ms)",
                super::met(w.knet_setup.p50_ms < SANDBOX_TARGET_MS),
                w.knet_setup.p50_ms
            );
            if w.user_namespace {
                outln!("  (rootless: the world has its own user namespace)");
            }
        }
    }

    outln!();
    outln!(
        "2. End to end through the API: {pods} pods (knet/pause, no nodeName) on {nodes} workers, {} writers",
        a.concurrency
    );
    match api {
        Err(e) => outln!("  failed: {e:#}"),
        Ok(r) => print_api(r, pods, nodes),
    }

    outln!();
    outln!(
        "3. Across nodes (host-gw): pod -> pod vs node -> node, same world as part 1 (connects interleaved one by one)"
    );
    match worker {
        Err(_) => outln!("  failed (see part 1)"),
        Ok(w) => match (&w.traffic, &w.traffic_note) {
            (Some(t), _) => print_traffic(t, a),
            (None, Some(note)) => outln!("  not run: {note}"),
            (None, None) => outln!("  not run"),
        },
    }
}

fn print_api(r: &ApiReport, pods: usize, nodes: usize) {
    outln!(
        "  cluster ready (all nodes Ready):       {:.2} s after the control plane wrote its pid file",
        r.ready_s
    );
    outln!(
        "  creates answered after:               {:.2} s",
        r.creates_done_s
    );
    outln!(
        "  pods Running with an IP:              {} of {pods}",
        r.running
    );
    if let Some(t) = r.all_running_s {
        outln!(
            "  first create -> last pod Running:     {t:.2} s  ({:.0} pods/s)",
            pods as f64 / t
        );
        if pods == 1000 {
            outln!(
                "  target: 1,000 pods Running in under {} s: {} ({t:.2} s)",
                RUNNING_TARGET.as_secs(),
                super::met(t < RUNNING_TARGET.as_secs_f64())
            );
        } else {
            outln!(
                "  target: 1,000 pods Running in under {} s: not judged (run with --pods 1000)",
                RUNNING_TARGET.as_secs()
            );
        }
    }
    outln!(
        "  create -> Running per pod:            median {:.0} ms, p99 {:.0} ms",
        ms(percentile(&r.create_to_running, 0.5)),
        ms(percentile(&r.create_to_running, 0.99))
    );
    let spread: Vec<String> = r.per_node.iter().map(|(n, c)| format!("{n} {c}")).collect();
    outln!(
        "  scheduled:                            {}",
        spread.join(", ")
    );
    match r.delete_s {
        Some(t) => outln!(
            "  first delete -> last pod gone:        {t:.2} s  ({:.0} pods/s, graceful: SIGTERM to pause)",
            r.deleted as f64 / t
        ),
        None => outln!(
            "  pods gone:                            {} of {pods}",
            r.deleted
        ),
    }
    let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    outln!(
        "  control plane peak RSS (VmHWM):       {} world process (API server, store, controllers, {} agents), {} supervisor",
        mib(r.world_hwm_kib),
        nodes + 1,
        mib(r.supervisor_hwm_kib)
    );
    outln!(
        "  world process RSS with all running:   {}",
        mib(r.world_rss_running_kib)
    );
    outln!(
        "  pause containers with all running:    {} processes, RSS sum {} (shared binary pages counted in each), PSS sum {}",
        r.containers,
        mib(Some(r.containers_rss_kib)),
        mib(Some(r.containers_pss_kib))
    );
    for note in &r.notes {
        outln!("  note: {note}");
    }
}

fn print_traffic(t: &TrafficReport, a: &PodsArgs) {
    outln!(
        "  pods: A {} <- B {}; nodes: A {} <- B {}",
        t.pod_a,
        t.pod_b,
        t.node_a,
        t.node_b
    );
    outln!(
        "  {:<40} {:>12} {:>12} {:>8}",
        "",
        "pod->pod",
        "node->node",
        "ratio"
    );
    let gbps = |g: Option<f64>| g.map_or("-".into(), |g| format!("{g:.2}"));
    outln!(
        "  {:<40} {:>12} {:>12} {:>7.2}x",
        format!("iperf3 TCP, mean of 2 x {} s (Gbit/s)", a.iperf_seconds),
        gbps(t.pod_gbps),
        gbps(t.node_gbps),
        ratio(
            t.pod_gbps.unwrap_or(f64::NAN),
            t.node_gbps.unwrap_or(f64::NAN)
        )
    );
    let runs = |r: &[f64]| {
        r.iter()
            .map(|g| format!("{g:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    outln!(
        "  {:<40} {:>12} {:>12}",
        "  each run (Gbit/s)",
        runs(&t.pod_runs_gbps),
        runs(&t.node_runs_gbps)
    );
    let retr = |r: Option<u64>| r.map_or("-".into(), |r| r.to_string());
    outln!(
        "  {:<40} {:>12} {:>12}",
        "iperf3 retransmits",
        retr(t.pod_retransmits),
        retr(t.node_retransmits)
    );
    if let (Some(p), Some(n)) = (&t.pod_connect, &t.node_connect) {
        outln!(
            "  {:<40} {:>12} {:>12} {:>7.2}x",
            format!("TCP connect p50 (us), {} each", a.latency_count),
            p.p50_us,
            n.p50_us,
            ratio(p.p50_us as f64, n.p50_us as f64)
        );
        outln!(
            "  {:<40} {:>12} {:>12} {:>7.2}x",
            "TCP connect p99 (us)",
            p.p99_us,
            n.p99_us,
            ratio(p.p99_us as f64, n.p99_us as f64)
        );
        outln!(
            "  {:<40} {:>12} {:>12}",
            "connect errors",
            p.errors,
            n.errors
        );
    }
    for note in &t.notes {
        outln!("  note: {note}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn stats_compare_each_nodes_first_and_last_tenth() {
        let node = |offset: u64| (1..=20).map(|i| d(i + offset)).collect::<Vec<_>>();
        let s = Stats::of(&[node(0), node(100)]);
        assert_eq!(s.n, 40);
        assert_eq!(s.max_ms, 120.0);
        // First 10% of each node: 1, 2 and 101, 102; last: 19, 20 and 119, 120.
        assert_eq!(s.first10_ms, 2.0);
        assert_eq!(s.last10_ms, 20.0);
        assert_eq!(percentile(&[d(3), d(1), d(2)], 0.5), d(2));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn series_add_element_wise() {
        let sum = add_series(&[vec![d(1), d(2)]], &[vec![d(10), d(20)]]);
        assert_eq!(sum, vec![vec![d(11), d(22)]]);
    }

    #[test]
    fn nodes_get_a_24_or_a_larger_block_when_the_pods_need_it() {
        let net = ClusterNet::default();
        let nodes = plan_nodes(&net, 4, 251).unwrap();
        let cidrs: Vec<String> = nodes
            .iter()
            .map(|n| n.pod_cidr.unwrap().to_string())
            .collect();
        assert_eq!(
            cidrs,
            [
                "10.244.1.0/24",
                "10.244.2.0/24",
                "10.244.3.0/24",
                "10.244.4.0/24"
            ]
        );
        assert_eq!(nodes[0].ip, Ipv4Addr::new(172, 18, 0, 3));
        assert_eq!(pod_ip(&nodes[0], 0).unwrap(), Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(
            pod_ip(&nodes[0], 252).unwrap(),
            Ipv4Addr::new(10, 244, 1, 254)
        );
        assert!(pod_ip(&nodes[0], 253).is_err());
        let big = plan_nodes(&net, 2, 600).unwrap();
        assert_eq!(big[1].pod_cidr.unwrap().to_string(), "10.244.8.0/22");
        assert!(plan_nodes(&net, 50, 5000).is_err());
    }

    #[test]
    fn bench_uids_name_distinct_veths() {
        let a = knet_topology::pod_net(&bench_uid(1), Ipv4Addr::new(10, 244, 1, 2));
        let b = knet_topology::pod_net(&bench_uid(17), Ipv4Addr::new(10, 244, 1, 3));
        assert_eq!(a.host_veth, "veth00000001");
        assert_eq!(b.host_veth, "veth00000011");
        assert!(a.netns.len() <= 64);
    }

    #[test]
    fn iperf_json_gives_gbits_and_retransmits() {
        let j =
            r#"{"end":{"sum_sent":{"retransmits":3},"sum_received":{"bits_per_second":2.5e10}}}"#;
        assert_eq!(parse_iperf(j).unwrap(), (25.0, Some(3)));
        assert!(parse_iperf(r#"{"error":"unable to connect"}"#).is_err());
    }

    #[test]
    fn proc_fields_are_parsed() {
        assert_eq!(parent_pid("42 (a (b) c) S 7 42 42 0"), Some(7));
        assert_eq!(
            kib_field("VmPeak:\t  100 kB\nVmHWM:\t  2048 kB\n", "VmHWM"),
            Some(2048)
        );
        assert_eq!(kib_field("Pss:  12 kB\nPss_Anon: 3 kB\n", "Pss"), Some(12));
    }

    #[test]
    fn the_cni_conf_is_the_bridge_plugin_on_the_nodes_cni0() {
        let net = ClusterNet::default();
        let nodes = plan_nodes(&net, 1, 10).unwrap();
        let conf: Value = serde_json::from_str(&cni_conf(&nodes[0], Path::new("/tmp/x"))).unwrap();
        assert_eq!(conf["type"], "bridge");
        assert_eq!(conf["bridge"], "cni0");
        assert_eq!(conf["ipam"]["ranges"][0][0]["subnet"], "10.244.1.0/24");
        assert_eq!(conf["ipam"]["dataDir"], "/tmp/x/bench-node1");
    }
}
