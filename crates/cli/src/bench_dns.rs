//! `knet bench dns`: knet's cluster DNS server under load, against dnsmasq (the cache inside the
//! original kube-dns) loaded with the same records, and the memory the server's zone takes. A
//! benchmark, not a test: it prints figures and a markdown block for docs/benchmarks.md, with the
//! command lines that produced them.
//!
//! ```text
//!  knet bench dns ── re-exec `knet bench dns-worker` ── enter_world() ── a private world (PID 1):
//!    1. synthetic cluster: S Services (1 in 10 headless), P Pods (their endpoints), one
//!       EndpointSlice per Service, as k8s-openapi objects; VmRSS/VmHWM before and after
//!       DnsState::update (the objects stay held, as the watcher's stores hold them: Pods slimmed by
//!       knet_dns::slim_pod)
//!    2. per round, unpinned then pinned (server on one CPU, dnsperf on another):
//!         knet (serve() on a tokio runtime of this process, 127.0.0.10:53) ◄── dnsperf, A queries
//!         dnsmasq (child, same names as addn-hosts, 127.0.0.53:53)         ◄── dnsperf, A queries
//!           (which of the two goes first alternates by round)
//!         knet                                                              ◄── dnsperf, mixed queries
//!         no-op responder (threads of this process, 127.0.0.99:53)          ◄── dnsperf, A queries
//!           (echoes each query as a response, no DNS work: dnsperf's ceiling on this machine)
//! ```
//!
//! Nothing touches the host: the worker's world (own network, mount, pid, UTS and IPC namespaces;
//! a user namespace when not root; tmpfs on /tmp, where the query and hosts files live) vanishes
//! with its first process, and every child (dnsmasq, dnsperf) is killed when its handle drops,
//! also when SIGINT or SIGTERM ends the run early ([`Interrupt`]). It needs no cluster. As in `bench pods`, the worker runs from the argument parser
//! ([`super::WorkerEntry`]) because `enter_world` needs a process with one thread; the worker stays
//! synchronous apart from the DNS server's own runtime, so pinning that runtime's threads is
//! pinning the server (`taskset -c` on a process: threads inherit the creating thread's CPUs).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knet_dns::hickory_proto::op::{Message, Query, ResponseCode};
use knet_dns::hickory_proto::rr::{Name, RData, RecordType};
use knet_dns::{DnsConfig, DnsState};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The line on which the worker hands its figures to `knet bench dns`.
const RESULT_PREFIX: &str = "knet-bench-dns-result: ";
/// The whole worker (rounds × 6 runs × `--seconds` stays far below it with the limits below).
const WORKER_LIMIT: Duration = Duration::from_secs(3 * 60 * 60);
/// knet's server and dnsmasq, on the world's loopback (nothing else listens there).
const KNET_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 10), 53);
const DNSMASQ_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 53), 53);
/// The no-op responder that measures the load generator's ceiling.
const REFLECTOR_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 99), 53);
/// Scratch files, on the world's own /tmp (a tmpfs).
const WORK_DIR: &str = "/tmp/knet-bench-dns";
/// Targets (issue 5): knet at least 40,000 QPS and at least twice dnsmasq.
const QPS_TARGET: f64 = 40_000.0;
const RATIO_TARGET: f64 = 2.0;
/// Every tenth Service is headless (its pods are published by name and address).
const HEADLESS_EVERY: usize = 10;
const SERVICES_PER_NAMESPACE: usize = 100;
/// Lines of the mixed query file (dnsperf loops over it).
const MIX_LINES: usize = 20_000;
/// The Service port every Service has (named, so it has an SRV record) and its pods' port.
const SERVICE_PORT: u16 = 80;
const TARGET_PORT: u16 = 8080;
const NODES: usize = 4;

/// Options of `knet bench dns`.
#[derive(clap::Args, Debug, Clone)]
pub struct DnsArgs {
    /// Seconds of each dnsperf run (`-l`).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub seconds: u32,
    /// Rounds. Each runs knet and dnsmasq on A queries (which goes first alternates) and knet on
    /// the mixed queries, unpinned and then pinned.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Services in the zone (one in ten headless), in namespaces of 100.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    pub services: u32,
    /// Pods, spread evenly over the Services as their endpoints (addresses from 10.244.0.0/16).
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(0..=65_000))]
    pub pods: u32,
    /// dnsperf clients (`-c`).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub clients: u32,
    /// dnsperf's rate limit (`-Q`), above what either server reaches: the figures are saturation.
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_qps: u32,
}

/// Options of the hidden `knet bench dns-worker`.
#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    #[arg(long)]
    seconds: u32,
    #[arg(long)]
    rounds: u32,
    #[arg(long)]
    services: u32,
    #[arg(long)]
    pods: u32,
    #[arg(long)]
    clients: u32,
    #[arg(long)]
    max_qps: u32,
    #[arg(long)]
    dnsperf: PathBuf,
    /// dnsmasq; none: no peer.
    #[arg(long)]
    dnsmasq: Option<PathBuf>,
    /// util-linux `taskset`; none: no pinned runs.
    #[arg(long)]
    taskset: Option<PathBuf>,
}

impl super::Worker for WorkerArgs {
    fn main(&self) -> i32 {
        worker_main(self)
    }
}

// ---------------------------------------------------------------------------------------------
// The synthetic cluster

/// One Service of the synthetic cluster and the addresses DNS should give for it.
#[derive(Debug, Clone, PartialEq)]
struct PlannedService {
    name: String,
    namespace: String,
    /// The ClusterIP; `None` for a headless Service.
    cluster_ip: Option<Ipv4Addr>,
    /// Its pods: (name, address), in order.
    pods: Vec<(String, Ipv4Addr)>,
}

impl PlannedService {
    fn fqdn(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name, self.namespace)
    }
}

/// Service `i` is `svc<i>` in namespace `ns<i mod namespaces>`, ClusterIP 10.96.0.16 + i (clear
/// of the `kubernetes` and `kube-dns` addresses), headless when `i mod 10 = 9`; pod `j` belongs to
/// Service `j mod services`, address 10.244.0.2 + j.
fn plan(services: usize, pods: usize) -> Vec<PlannedService> {
    let namespaces = services.div_ceil(SERVICES_PER_NAMESPACE).max(1);
    let svc_base = u32::from(Ipv4Addr::new(10, 96, 0, 16));
    let pod_base = u32::from(Ipv4Addr::new(10, 244, 0, 2));
    let mut plan: Vec<PlannedService> = (0..services)
        .map(|i| PlannedService {
            name: format!("svc{i}"),
            namespace: format!("ns{}", i % namespaces),
            cluster_ip: (i % HEADLESS_EVERY != HEADLESS_EVERY - 1)
                .then(|| Ipv4Addr::from(svc_base + i as u32)),
            pods: Vec::new(),
        })
        .collect();
    if services > 0 {
        for j in 0..pods {
            let svc = &mut plan[j % services];
            let name = format!("{}-{}", svc.name, j / services);
            svc.pods.push((name, Ipv4Addr::from(pod_base + j as u32)));
        }
    }
    plan
}

/// The objects the API would hold for `plan`: Services, one EndpointSlice per Service (at most
/// 100 endpoints per slice, as the EndpointSlice controller writes them) and Running Pods. Built
/// from JSON, as the watcher receives them; headless Services' pods are StatefulSet-like
/// (`hostname`/`subdomain`), so their endpoints carry hostnames.
fn objects(plan: &[PlannedService]) -> Result<(Vec<Service>, Vec<EndpointSlice>, Vec<Pod>)> {
    let mut services = Vec::with_capacity(plan.len());
    let mut slices = Vec::with_capacity(plan.len());
    let mut pods = Vec::new();
    let created = "2026-11-27T00:00:00Z";
    for (i, p) in plan.iter().enumerate() {
        let ip = p.cluster_ip.map_or("None".to_string(), |ip| ip.to_string());
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": p.name, "namespace": p.namespace, "uid": uid(1, i),
                "resourceVersion": (i + 1).to_string(), "creationTimestamp": created,
                "labels": {"app": p.name},
            },
            "spec": {
                "type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack", "selector": {"app": p.name},
                "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                "ports": [{"name": "http", "protocol": "TCP", "port": SERVICE_PORT, "targetPort": TARGET_PORT}],
            },
            "status": {"loadBalancer": {}},
        });
        services.push(serde_json::from_value(svc).context("building a Service")?);
        let headless = p.cluster_ip.is_none();
        let chunks: Vec<&[(String, Ipv4Addr)]> = if p.pods.is_empty() {
            vec![&[]]
        } else {
            p.pods.chunks(100).collect()
        };
        for (c, chunk) in chunks.into_iter().enumerate() {
            let endpoints: Vec<serde_json::Value> = chunk
                .iter()
                .enumerate()
                .map(|(k, (pod, addr))| {
                    let mut ep = json!({
                        "addresses": [addr.to_string()],
                        "conditions": {"ready": true, "serving": true, "terminating": false},
                        "nodeName": format!("node{}", (c * 100 + k) % NODES),
                        "targetRef": {"kind": "Pod", "namespace": p.namespace, "name": pod},
                    });
                    if headless {
                        ep["hostname"] = json!(pod);
                    }
                    ep
                })
                .collect();
            let slice = json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {
                    "name": format!("{}-{c:05}", p.name), "namespace": p.namespace,
                    "uid": uid(2, i * 1000 + c), "resourceVersion": (i + 1).to_string(),
                    "creationTimestamp": created,
                    "labels": {
                        "kubernetes.io/service-name": p.name,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "http", "protocol": "TCP", "port": TARGET_PORT}],
            });
            slices.push(serde_json::from_value(slice).context("building an EndpointSlice")?);
        }
        for (k, (pod, addr)) in p.pods.iter().enumerate() {
            let node = (i + k * plan.len()) % NODES;
            let mut spec = json!({
                "nodeName": format!("node{node}"),
                "containers": [{
                    "name": "app", "image": "knet/netexec",
                    "args": ["--http-port", TARGET_PORT.to_string()],
                    "ports": [{"name": "http", "containerPort": TARGET_PORT, "protocol": "TCP"}],
                }],
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                "terminationGracePeriodSeconds": 30,
            });
            if headless {
                spec["hostname"] = json!(pod);
                spec["subdomain"] = json!(p.name);
            }
            let cond =
                |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": created});
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": pod, "namespace": p.namespace, "uid": uid(3, i * 1000 + k),
                    "resourceVersion": (i + 1).to_string(), "creationTimestamp": created,
                    "labels": {"app": p.name},
                },
                "spec": spec,
                "status": {
                    "phase": "Running", "podIP": addr.to_string(), "podIPs": [{"ip": addr.to_string()}],
                    "hostIP": format!("172.18.0.{}", node + 2), "startTime": created,
                    "conditions": [cond("PodScheduled"), cond("Initialized"), cond("ContainersReady"), cond("Ready")],
                },
            });
            let mut pod: Pod = serde_json::from_value(pod).context("building a Pod")?;
            // As the server's watcher keeps it.
            knet_dns::slim_pod(&mut pod);
            pods.push(pod);
        }
    }
    Ok((services, slices, pods))
}

fn uid(kind: u32, i: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{i:012x}")
}

/// What a query of the mixed file asks, and so what knet must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A of a ClusterIP Service: NOERROR, its ClusterIP.
    ServiceA,
    /// A of a headless Service: NOERROR, its pods' addresses.
    HeadlessA,
    /// SRV of a ClusterIP Service's named port: NOERROR, one target.
    Srv,
    /// PTR of a ClusterIP or a headless endpoint: NOERROR, one name.
    Ptr,
    /// A of a name under an existing namespace that does not exist: NXDOMAIN.
    NxDomain,
}

#[derive(Debug, Clone, PartialEq)]
struct QueryLine {
    name: String,
    qtype: RecordType,
    kind: Kind,
}

/// The share of each kind in the mixed file, in twentieths: 50% Service A, 10% headless A,
/// 15% SRV, 15% PTR, 10% NXDOMAIN.
fn kind_of(line: usize) -> Kind {
    match line % 20 {
        0..10 => Kind::ServiceA,
        10..12 => Kind::HeadlessA,
        12..15 => Kind::Srv,
        15..18 => Kind::Ptr,
        _ => Kind::NxDomain,
    }
}

fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// The A queries both servers get: every ClusterIP Service once, in a shuffled order.
fn a_queries(plan: &[PlannedService]) -> Vec<QueryLine> {
    let mut lines: Vec<QueryLine> = plan
        .iter()
        .filter(|s| s.cluster_ip.is_some())
        .map(|s| QueryLine {
            name: s.fqdn(),
            qtype: RecordType::A,
            kind: Kind::ServiceA,
        })
        .collect();
    shuffle(&mut lines, 0x5eed_0001);
    lines
}

/// The mixed queries (knet only): `lines` queries of the kinds of [`kind_of`], shuffled. A kind
/// the cluster has nothing for (no headless Service with pods) is asked as a Service A instead.
fn mix_queries(plan: &[PlannedService], lines: usize) -> Vec<QueryLine> {
    let cluster_ip: Vec<&PlannedService> = plan.iter().filter(|s| s.cluster_ip.is_some()).collect();
    let headless: Vec<&PlannedService> = plan
        .iter()
        .filter(|s| s.cluster_ip.is_none() && !s.pods.is_empty())
        .collect();
    // PTR targets: ClusterIPs and headless endpoints, alternately.
    let ptr_ips: Vec<Ipv4Addr> = {
        let svc = cluster_ip.iter().filter_map(|s| s.cluster_ip);
        let eps: Vec<Ipv4Addr> = headless
            .iter()
            .flat_map(|s| s.pods.iter().map(|p| p.1))
            .collect();
        let mut out = Vec::new();
        for (k, ip) in svc.enumerate() {
            out.push(ip);
            if let Some(ep) = eps.get(k) {
                out.push(*ep);
            }
        }
        out
    };
    if cluster_ip.is_empty() {
        return Vec::new();
    }
    let mut counters = [0usize; 5];
    let mut out = Vec::with_capacity(lines);
    for line in 0..lines {
        let mut kind = kind_of(line);
        if kind == Kind::HeadlessA && headless.is_empty() {
            kind = Kind::ServiceA;
        }
        let n = &mut counters[kind as usize];
        let pick = *n;
        *n += 1;
        let svc = cluster_ip[pick % cluster_ip.len()];
        let (name, qtype) = match kind {
            Kind::ServiceA => (svc.fqdn(), RecordType::A),
            Kind::HeadlessA => (headless[pick % headless.len()].fqdn(), RecordType::A),
            Kind::Srv => (format!("_http._tcp.{}", svc.fqdn()), RecordType::SRV),
            Kind::Ptr => (reverse_name(ptr_ips[pick % ptr_ips.len()]), RecordType::PTR),
            Kind::NxDomain => (
                format!("nosuch{pick}.{}.svc.cluster.local", svc.namespace),
                RecordType::A,
            ),
        };
        out.push(QueryLine { name, qtype, kind });
    }
    shuffle(&mut out, 0x5eed_0002);
    out
}

/// dnsperf's input format: `name TYPE` per line.
fn query_file(lines: &[QueryLine]) -> String {
    let mut s = String::with_capacity(lines.len() * 48);
    for l in lines {
        let _ = writeln!(s, "{} {}", l.name, l.qtype);
    }
    s
}

/// dnsmasq's records: `address name` per ClusterIP Service (`--addn-hosts`, hosts(5) format).
fn hosts_file(plan: &[PlannedService]) -> String {
    let mut s = String::with_capacity(plan.len() * 48);
    for p in plan {
        if let Some(ip) = p.cluster_ip {
            let _ = writeln!(s, "{ip} {}", p.fqdn());
        }
    }
    s
}

/// Fisher-Yates with splitmix64: the same order on every run, no dependency.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..v.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

// ---------------------------------------------------------------------------------------------
// Figures

/// What dnsperf printed about one run.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
struct Perf {
    sent: u64,
    completed: u64,
    lost: u64,
    qps: f64,
    avg_ms: f64,
    min_ms: f64,
    max_ms: f64,
    stddev_ms: f64,
    /// Response codes and their counts, as dnsperf lists them.
    rcodes: Vec<(String, u64)>,
    /// dnsperf's "Run time (s)": the sending time plus the wait for the last answers.
    run_s: f64,
}

/// Reads dnsperf's "Statistics" block.
fn parse_dnsperf(out: &str) -> Result<Perf> {
    let field = |label: &str| -> Option<&str> {
        out.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(label))
            .map(str::trim)
    };
    let first_num = |label: &str| -> Result<f64> {
        field(label)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("dnsperf printed no {label:?} figure"))
    };
    // "0.000231 (min 0.000015, max 0.004263)"
    let latency = field("Average Latency (s):")
        .ok_or_else(|| anyhow!("dnsperf printed no average latency"))?;
    let inner = |key: &str| -> Option<f64> {
        latency
            .split([',', '(', ')'])
            .map(str::trim)
            .find_map(|p| p.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    let rcodes = field("Response codes:")
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let mut w = part.split_whitespace();
            let code = w.next()?.to_string();
            let n = w.next()?.parse().ok()?;
            Some((code, n))
        })
        .collect();
    Ok(Perf {
        sent: first_num("Queries sent:")? as u64,
        completed: first_num("Queries completed:")? as u64,
        lost: first_num("Queries lost:")? as u64,
        qps: first_num("Queries per second:")?,
        avg_ms: first_num("Average Latency (s):")? * 1e3,
        min_ms: inner("min").unwrap_or(f64::NAN) * 1e3,
        max_ms: inner("max").unwrap_or(f64::NAN) * 1e3,
        stddev_ms: first_num("Latency StdDev (s):")? * 1e3,
        rcodes,
        run_s: first_num("Run time (s):")?,
    })
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ServerKind {
    Knet,
    Dnsmasq,
    /// A responder that does no DNS work ([`knet_dns::reflect`]): what dnsperf can get out of any server
    /// on this machine.
    Reflector,
}

impl ServerKind {
    fn label(self) -> &'static str {
        match self {
            ServerKind::Knet => "knet",
            ServerKind::Dnsmasq => "dnsmasq",
            ServerKind::Reflector => "no-op responder",
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Queries {
    /// A queries for ClusterIP Service names.
    A,
    /// The mixed file.
    Mix,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Run {
    round: u32,
    pinned: bool,
    server: ServerKind,
    queries: Queries,
    perf: Perf,
    /// Threads of the server process during the run.
    threads: usize,
    /// CPU time (user + system) the server and dnsperf used during dnsperf's run.
    server_cpu_s: f64,
    load_cpu_s: f64,
}

/// One dnsperf run against one server.
#[derive(Debug, Clone, PartialEq)]
struct Measured {
    perf: Perf,
    threads: usize,
    server_cpu_s: f64,
    load_cpu_s: f64,
}

/// VmRSS and VmHWM of a process, KiB.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
struct Mem {
    rss_kib: u64,
    hwm_kib: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct WorkerReport {
    user_namespace: bool,
    services: usize,
    headless: usize,
    slices: usize,
    pods: usize,
    namespaces: usize,
    /// Names in knet's zone (with or without records).
    zone_names: usize,
    /// `DnsState::update` with all the objects.
    update_ms: f64,
    /// The worker before the objects exist, with them, with them and the zone, and after serving.
    mem_start: Mem,
    mem_objects: Mem,
    mem_zone: Mem,
    mem_served: Mem,
    /// dnsmasq with the same records, after its last run.
    dnsmasq_mem: Option<Mem>,
    a_lines: usize,
    mix_lines: usize,
    mix_shares: Vec<(String, usize)>,
    /// CPUs of the pinned runs: (load generator, server).
    pinned_cpus: Option<(usize, usize)>,
    runs: Vec<Run>,
    /// /proc/loadavg (1, 5, 15 minutes) before the first run and after the last: other work on
    /// the machine shows here.
    load_before: String,
    load_after: String,
    commands: Vec<String>,
    notes: Vec<String>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// Medians over the rounds of one (mode, server, queries) series.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Series {
    qps: f64,
    avg_ms: f64,
    stddev_ms: f64,
    /// The server's CPU time per answered query, µs: what a query costs it, whatever the load
    /// generator manages.
    server_us: f64,
    /// dnsperf's CPU time over its run time (1.0 = one core busy).
    load_share: f64,
    /// The server's CPU time over dnsperf's run time.
    server_share: f64,
}

fn series(runs: &[Run], pinned: bool, server: ServerKind, queries: Queries) -> Option<Series> {
    let sel: Vec<&Run> = runs
        .iter()
        .filter(|r| r.pinned == pinned && r.server == server && r.queries == queries)
        .collect();
    (!sel.is_empty()).then(|| Series {
        qps: median(sel.iter().map(|r| r.perf.qps).collect()),
        avg_ms: median(sel.iter().map(|r| r.perf.avg_ms).collect()),
        stddev_ms: median(sel.iter().map(|r| r.perf.stddev_ms).collect()),
        server_us: median(
            sel.iter()
                .map(|r| 1e6 * ratio(r.server_cpu_s, r.perf.completed as f64))
                .collect(),
        ),
        load_share: median(
            sel.iter()
                .map(|r| ratio(r.load_cpu_s, r.perf.run_s))
                .collect(),
        ),
        server_share: median(
            sel.iter()
                .map(|r| ratio(r.server_cpu_s, r.perf.run_s))
                .collect(),
        ),
    })
}

/// knet/dnsmasq QPS of each round where both ran on A queries in this mode.
fn round_ratios(runs: &[Run], pinned: bool) -> Vec<f64> {
    let mut by_round: BTreeMap<u32, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for r in runs
        .iter()
        .filter(|r| r.pinned == pinned && r.queries == Queries::A)
    {
        let e = by_round.entry(r.round).or_default();
        match r.server {
            ServerKind::Knet => e.0 = Some(r.perf.qps),
            ServerKind::Dnsmasq => e.1 = Some(r.perf.qps),
            ServerKind::Reflector => {}
        }
    }
    by_round
        .values()
        .filter_map(|(k, d)| Some(ratio((*k)?, (*d)?)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The worker: inside a private world, synchronous apart from the DNS server's runtime

fn worker_main(args: &WorkerArgs) -> i32 {
    // /tmp becomes the world's own tmpfs: query files, dnsmasq's hosts and pid files.
    let world = match knet_netns::enter_world(knet_netns::WorldOptions {
        tmpfs: vec![PathBuf::from("/tmp")],
        ..Default::default()
    }) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("knet bench dns-worker: entering a world of its own: {e}");
            return 1;
        }
    };
    let interrupt = match Interrupt::install() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("knet bench dns-worker: {e:#}");
            return 1;
        }
    };
    let started = Instant::now();
    match worker(args, world.user_namespace, started, &interrupt) {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(line) => {
                outln!("{RESULT_PREFIX}{line}");
                let _ = std::io::Write::flush(&mut std::io::stdout());
                0
            }
            Err(e) => {
                eprintln!("knet bench dns-worker: encoding the figures: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("knet bench dns-worker: {e:#}");
            1
        }
    }
}

fn worker(
    a: &WorkerArgs,
    user_namespace: bool,
    started: Instant,
    interrupt: &Interrupt,
) -> Result<WorkerReport> {
    let dir = Path::new(WORK_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {WORK_DIR}"))?;
    let plan = plan(a.services as usize, a.pods as usize);
    let a_lines = a_queries(&plan);
    let mix_lines = mix_queries(&plan, MIX_LINES);
    let (a_file, mix_file, hosts) = (
        dir.join("a.queries"),
        dir.join("mix.queries"),
        dir.join("hosts"),
    );
    std::fs::write(&a_file, query_file(&a_lines))?;
    std::fs::write(&mix_file, query_file(&mix_lines))?;
    std::fs::write(&hosts, hosts_file(&plan))?;
    let mut report = WorkerReport {
        user_namespace,
        services: plan.len(),
        headless: plan.iter().filter(|p| p.cluster_ip.is_none()).count(),
        pods: plan.iter().map(|p| p.pods.len()).sum(),
        namespaces: plan.len().div_ceil(SERVICES_PER_NAMESPACE).max(1),
        a_lines: a_lines.len(),
        mix_lines: mix_lines.len(),
        ..Default::default()
    };
    for (kind, label) in [
        (Kind::ServiceA, "A of a ClusterIP Service"),
        (Kind::HeadlessA, "A of a headless Service"),
        (Kind::Srv, "SRV _http._tcp of a Service"),
        (Kind::Ptr, "PTR of a ClusterIP or endpoint"),
        (Kind::NxDomain, "A of a missing name (NXDOMAIN)"),
    ] {
        let n = mix_lines.iter().filter(|l| l.kind == kind).count();
        report.mix_shares.push((label.to_string(), n));
    }

    // 1. The zone and its memory.
    report.mem_start = mem_of("self").context("reading /proc/self/status")?;
    eprintln!(
        "building {} Services ({} headless), their EndpointSlices and {} Pods...",
        report.services, report.headless, report.pods
    );
    let (services, slices, pods) = objects(&plan)?;
    report.slices = slices.len();
    report.mem_objects = mem_of("self")?;
    let state = DnsState::new(DnsConfig {
        nameserver_ips: vec![std::net::IpAddr::V4(*KNET_ADDR.ip())],
        ..DnsConfig::default()
    })?;
    let t = Instant::now();
    state.update(&services, &slices, &pods);
    report.update_ms = t.elapsed().as_secs_f64() * 1e3;
    report.zone_names = state.snapshot().name_count();
    report.mem_zone = mem_of("self")?;
    eprintln!(
        "zone: {} names in {:.0} ms; worker VmRSS {:.1} MiB with objects and zone",
        report.zone_names,
        report.update_ms,
        mib(report.mem_zone.rss_kib)
    );

    // 2. The runs.
    let cpus = allowed_cpus()?;
    let pinned_cpus = match (&a.taskset, cpus.as_slice()) {
        (Some(_), [load, server, ..]) => Some((*load, *server)),
        (None, _) => {
            report
                .notes
                .push("taskset not found: no pinned runs".into());
            None
        }
        (Some(_), _) => {
            report
                .notes
                .push("fewer than 2 CPUs allowed: no pinned runs".into());
            None
        }
    };
    report.pinned_cpus = pinned_cpus;
    if a.dnsmasq.is_none() {
        report
            .notes
            .push("dnsmasq not found: no peer (apt-get install dnsmasq-base)".into());
    }
    let bench = Bench {
        args: a,
        state: state.clone(),
        plan: &plan,
        a_file: &a_file,
        mix_file: &mix_file,
        hosts: &hosts,
        user_namespace,
        all_cpus: cpus,
        interrupt,
    };
    report.commands = bench.describe(pinned_cpus);
    bench
        .check_knet()
        .context("knet's answers before the measurement")?;
    if a.dnsmasq.is_some() {
        bench
            .check_dnsmasq(None)
            .context("dnsmasq's answers before the measurement")?;
    }
    report.load_before = loadavg();
    let modes: Vec<Option<(usize, usize)>> =
        std::iter::once(None).chain(pinned_cpus.map(Some)).collect();
    for round in 1..=a.rounds {
        for &pin in &modes {
            let mut order = vec![ServerKind::Knet, ServerKind::Dnsmasq];
            if round % 2 == 0 {
                order.reverse();
            }
            let mut jobs: Vec<(ServerKind, Queries)> = order
                .into_iter()
                .filter(|s| *s == ServerKind::Knet || a.dnsmasq.is_some())
                .map(|s| (s, Queries::A))
                .collect();
            jobs.push((ServerKind::Knet, Queries::Mix));
            jobs.push((ServerKind::Reflector, Queries::A));
            for (server, queries) in jobs {
                interrupt.check()?;
                if started.elapsed() > WORKER_LIMIT {
                    bail!("not done within {WORKER_LIMIT:?}");
                }
                let m = match server {
                    ServerKind::Knet => bench.knet_run(pin, queries)?,
                    ServerKind::Reflector => bench.reflector_run(pin)?,
                    ServerKind::Dnsmasq => {
                        let (m, mem) = bench.dnsmasq_run(pin)?;
                        report.dnsmasq_mem = Some(mem);
                        m
                    }
                };
                eprintln!(
                    "round {round}/{}, {}: {:?} {:?}: {:.0} QPS, average {:.3} ms (sd {:.3}), lost {}; CPU s: server {:.1}, dnsperf {:.1}",
                    a.rounds,
                    if pin.is_some() { "pinned" } else { "unpinned" },
                    server,
                    queries,
                    m.perf.qps,
                    m.perf.avg_ms,
                    m.perf.stddev_ms,
                    m.perf.lost,
                    m.server_cpu_s,
                    m.load_cpu_s
                );
                report.runs.push(Run {
                    round,
                    pinned: pin.is_some(),
                    server,
                    queries,
                    perf: m.perf,
                    threads: m.threads,
                    server_cpu_s: m.server_cpu_s,
                    load_cpu_s: m.load_cpu_s,
                });
            }
        }
    }
    report.load_after = loadavg();
    report.mem_served = mem_of("self")?;
    // The objects stay alive until here, as the watcher's stores keep them.
    drop((services, slices, pods));
    Ok(report)
}

/// What every run shares.
struct Bench<'a> {
    args: &'a WorkerArgs,
    state: Arc<DnsState>,
    plan: &'a [PlannedService],
    a_file: &'a Path,
    mix_file: &'a Path,
    hosts: &'a Path,
    user_namespace: bool,
    all_cpus: Vec<usize>,
    interrupt: &'a Interrupt,
}

impl Bench<'_> {
    fn dnsmasq_args(&self) -> Vec<String> {
        let mut args = vec![
            "--no-resolv".to_string(),
            "--no-hosts".into(),
            format!("--addn-hosts={}", self.hosts.display()),
            "--local=/cluster.local/".into(),
            "--cache-size=10000".into(),
            "-k".into(),
            "-p".into(),
            DNSMASQ_ADDR.port().to_string(),
            format!("--listen-address={}", DNSMASQ_ADDR.ip()),
            "--bind-interfaces".into(),
            // Inside the world: no pid file on the host's /run, logs (start-up only; queries
            // are not logged) to stderr rather than the host's syslog.
            format!("--pid-file={WORK_DIR}/dnsmasq.pid"),
            "--log-facility=-".into(),
        ];
        if self.user_namespace {
            // No `nobody` in a user namespace that maps only root.
            args.push("--user=root".into());
        }
        args
    }

    fn dnsperf_args(&self, server: SocketAddrV4, file: &Path) -> Vec<String> {
        let a = self.args;
        vec![
            "-s".into(),
            server.ip().to_string(),
            "-p".into(),
            server.port().to_string(),
            "-d".into(),
            file.display().to_string(),
            "-c".into(),
            a.clients.to_string(),
            "-l".into(),
            a.seconds.to_string(),
            "-Q".into(),
            a.max_qps.to_string(),
        ]
    }

    /// `taskset -c CPU program args`, or `program args` unpinned.
    fn command(&self, cpu: Option<usize>, program: &Path, args: &[String]) -> Command {
        match (cpu, &self.args.taskset) {
            (Some(cpu), Some(taskset)) => {
                let mut c = Command::new(taskset);
                c.arg("-c").arg(cpu.to_string()).arg(program).args(args);
                c
            }
            _ => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        }
    }

    fn describe(&self, pin: Option<(usize, usize)>) -> Vec<String> {
        let a = self.args;
        let mut out = vec![format!(
            "knet: knet_dns::serve on UDP+TCP {KNET_ADDR} in the worker process, spawned on a tokio multi-thread runtime with one worker thread per CPU the process may use, DnsConfig::default() (udp_workers = {}), zone built by DnsState::update; a fresh runtime and fresh sockets per run",
            self.state.config().udp_workers
        )];
        if let Some(dnsmasq) = &a.dnsmasq {
            out.push(format!(
                "dnsmasq: {} {} (a fresh process per run)",
                dnsmasq.display(),
                self.dnsmasq_args().join(" ")
            ));
        }
        out.push(format!(
            "no-op responder (dnsperf's ceiling): {} threads of the worker process on UDP {REFLECTOR_ADDR} (as many as knet's UDP workers), each echoing every datagram back with the QR bit set (recvmmsg/sendmmsg batches of 32, as knet's workers): a valid response for no DNS work, so no server can be seen above its QPS",
            self.state.config().udp_workers
        ));
        out.push(format!(
            "load: {} {}; file {} (every ClusterIP Service name, A, shuffled) or {} (mixed, {MIX_LINES} lines)",
            a.dnsperf.display(),
            self.dnsperf_args(KNET_ADDR, Path::new("FILE")).join(" "),
            self.a_file.display(),
            self.mix_file.display()
        ));
        if let (Some((load, server)), Some(taskset)) = (pin, &a.taskset) {
            out.push(format!(
                "pinned runs: dnsperf under `{} -c {load}`, dnsmasq under `{} -c {server}`, knet's server runtime and the no-op responder created by a thread pinned to CPU {server} (sched_setaffinity; its threads inherit it, as under taskset)",
                taskset.display(),
                taskset.display()
            ));
        }
        out
    }

    /// Runs `f` with this thread on the server's CPU when `pin` says so (the threads it creates
    /// inherit that CPU), then gives the thread all CPUs back.
    fn on_server_cpu<T>(
        &self,
        pin: Option<(usize, usize)>,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if let Some((_, server_cpu)) = pin {
            set_thread_cpus(&[server_cpu])?;
        }
        let result = f();
        if pin.is_some() {
            set_thread_cpus(&self.all_cpus)?;
        }
        result
    }

    /// One dnsperf run against a server of this process at `addr`: the server's CPU is this
    /// process's own time, dnsperf's (once reaped) its children's.
    fn measure_in_process(
        &self,
        pin: Option<(usize, usize)>,
        addr: SocketAddrV4,
        file: &Path,
    ) -> Result<Measured> {
        let before = cpu_seconds("self")?;
        let mut load = self.dnsperf(pin.map(|p| p.0), addr, file)?;
        let threads = thread_count("self");
        let perf = load.finish(self.interrupt)?;
        let after = cpu_seconds("self")?;
        Ok(Measured {
            perf,
            threads,
            server_cpu_s: after.own - before.own,
            load_cpu_s: after.children - before.children,
        })
    }

    /// Runs `knet_dns::serve` on a fresh runtime for one dnsperf run.
    fn knet_run(&self, pin: Option<(usize, usize)>, queries: Queries) -> Result<Measured> {
        self.on_server_cpu(pin, || self.knet_run_inner(pin, queries))
    }

    fn knet_run_inner(&self, pin: Option<(usize, usize)>, queries: Queries) -> Result<Measured> {
        let file = match queries {
            Queries::A => self.a_file,
            Queries::Mix => self.mix_file,
        };
        self.with_knet(|| self.measure_in_process(pin, KNET_ADDR, file))
    }

    /// Serves knet's zone on [`KNET_ADDR`] (fresh sockets, and a fresh runtime with one worker
    /// thread per CPU this thread may use) while `f` runs, then stops the server and waits for
    /// it: the next run binds the same address.
    fn with_knet<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("knet-dns")
            .enable_all()
            .build()
            .context("starting the DNS server's runtime")?;
        let udp = UdpSocket::bind(KNET_ADDR).with_context(|| format!("binding UDP {KNET_ADDR}"))?;
        let tcp = std::net::TcpListener::bind(KNET_ADDR)
            .with_context(|| format!("binding TCP {KNET_ADDR}"))?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(knet_dns::serve(udp, tcp, self.state.clone(), async move {
            let _ = stop_rx.await;
        }));
        let outcome = self.wait_ready(KNET_ADDR).and_then(|()| f());
        let _ = stop_tx.send(());
        let stopped =
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), server).await });
        rt.shutdown_timeout(Duration::from_secs(2));
        match stopped {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => bail!("knet's DNS server failed: {e}"),
            Ok(Err(e)) => bail!("knet's DNS server task: {e}"),
            Err(_) => bail!("knet's DNS server did not stop within 10 s"),
        }
        outcome
    }

    /// dnsperf against [`knet_dns::reflect`] (on the server's CPU when pinned), A queries: the most QPS
    /// dnsperf gets out of any server here, since the responder does no DNS work at all.
    fn reflector_run(&self, pin: Option<(usize, usize)>) -> Result<Measured> {
        self.on_server_cpu(pin, || self.reflector_run_inner(pin))
    }

    fn reflector_run_inner(&self, pin: Option<(usize, usize)>) -> Result<Measured> {
        let sock = UdpSocket::bind(REFLECTOR_ADDR)
            .with_context(|| format!("binding UDP {REFLECTOR_ADDR}"))?;
        // Blocking reads that time out now and then, to notice the stop flag.
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let stop = Arc::new(AtomicBool::new(false));
        // As many threads on the socket as knet's server has UDP workers, created by this
        // thread: pinned runs put them on the server's CPU.
        let sock = Arc::new(sock);
        let mut threads = Vec::new();
        for i in 0..self.state.config().udp_workers.max(1) {
            let (sock, flag) = (sock.clone(), stop.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("reflector-{i}"))
                .spawn(move || knet_dns::reflect(&sock, &flag));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e).context("starting the no-op responder");
                }
            }
        }
        let outcome = self
            .wait_ready(REFLECTOR_ADDR)
            .and_then(|()| self.measure_in_process(pin, REFLECTOR_ADDR, self.a_file));
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            if t.join().is_err() {
                bail!("the no-op responder panicked");
            }
        }
        outcome
    }

    /// Starts dnsmasq for one dnsperf run; returns dnsperf's figures and dnsmasq's memory.
    fn dnsmasq_run(&self, pin: Option<(usize, usize)>) -> Result<(Measured, Mem)> {
        let dnsmasq = self.start_dnsmasq(pin.map(|p| p.1))?;
        self.check_dnsmasq(Some(&dnsmasq))?;
        let pid = dnsmasq.0.id().to_string();
        let (before, server_before) = (cpu_seconds("self")?, cpu_seconds(&pid)?);
        let mut load = self.dnsperf(pin.map(|p| p.0), DNSMASQ_ADDR, self.a_file)?;
        let threads = thread_count(&pid);
        let perf = load.finish(self.interrupt)?;
        let (after, server_after) = (cpu_seconds("self")?, cpu_seconds(&pid)?);
        let mem = mem_of(&pid).context("reading dnsmasq's memory")?;
        drop(dnsmasq);
        let m = Measured {
            perf,
            threads,
            server_cpu_s: server_after.own - server_before.own,
            load_cpu_s: after.children - before.children,
        };
        Ok((m, mem))
    }

    fn start_dnsmasq(&self, cpu: Option<usize>) -> Result<Reaped> {
        let program = self
            .args
            .dnsmasq
            .as_deref()
            .ok_or_else(|| anyhow!("no dnsmasq"))?;
        let mut cmd = self.command(cpu, program, &self.dnsmasq_args());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().context("starting dnsmasq")?;
        Ok(Reaped(child))
    }

    fn dnsperf(&self, cpu: Option<usize>, server: SocketAddrV4, file: &Path) -> Result<Load> {
        let mut cmd = self.command(cpu, &self.args.dnsperf, &self.dnsperf_args(server, file));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().context("starting dnsperf")?;
        Ok(Load {
            child: Reaped(child),
            // dnsperf waits up to its query timeout (5 s) for the last answers.
            deadline: Instant::now() + Duration::from_secs(u64::from(self.args.seconds) + 30),
        })
    }

    /// Polls `server` until it answers the first Service's A query (at most 10 s).
    fn wait_ready(&self, server: SocketAddrV4) -> Result<()> {
        let probe = self
            .plan
            .iter()
            .find(|p| p.cluster_ip.is_some())
            .ok_or_else(|| anyhow!("no ClusterIP Service"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match ask(server.into(), &probe.fqdn(), RecordType::A) {
                Ok(m) if m.metadata.response_code == ResponseCode::NoError => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    self.interrupt.check()?;
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(m) => bail!(
                    "{server} answers {} with {}",
                    probe.fqdn(),
                    m.metadata.response_code
                ),
                Err(e) => return Err(e.context(format!("{server} did not answer within 10 s"))),
            }
        }
    }

    /// Every hundredth line of both query files, and the first of each kind, against knet,
    /// over the network: the answers the measurement counts are the right ones.
    fn check_knet(&self) -> Result<()> {
        self.with_knet(|| {
            let mut seen = std::collections::HashSet::new();
            let lines = a_queries(self.plan)
                .into_iter()
                .chain(mix_queries(self.plan, MIX_LINES));
            for (i, line) in lines.enumerate() {
                if !seen.insert(line.kind as usize) && i % 100 != 0 {
                    continue;
                }
                let m = ask(KNET_ADDR.into(), &line.name, line.qtype)?;
                check_answer(self.plan, &line, &m)
                    .with_context(|| format!("{} {}", line.name, line.qtype))?;
            }
            Ok(())
        })
    }

    /// dnsmasq gives the same address as knet for every 97th Service (starts one if not given).
    fn check_dnsmasq(&self, running: Option<&Reaped>) -> Result<()> {
        let own = match running {
            Some(_) => None,
            None => Some(self.start_dnsmasq(None)?),
        };
        self.wait_ready(DNSMASQ_ADDR)?;
        for p in self.plan.iter().step_by(97) {
            let Some(ip) = p.cluster_ip else { continue };
            let m = ask(DNSMASQ_ADDR.into(), &p.fqdn(), RecordType::A)?;
            if answer_ips(&m) != vec![ip] {
                bail!(
                    "dnsmasq answers {} with {:?}, expected {ip}",
                    p.fqdn(),
                    answer_ips(&m)
                );
            }
        }
        drop(own);
        Ok(())
    }
}

/// SIGINT, SIGTERM and SIGHUP, blocked in every thread of the worker and read from a signalfd.
///
/// The worker is PID 1 of its world, and the kernel drops signals that PID 1 has no handler for
/// (pid_namespaces(7)), so Ctrl-C or the supervisor's forwarded SIGTERM would otherwise go
/// unnoticed until the last run. Blocked signals stay pending instead, and the worker polls for
/// them wherever it waits; it then fails, and its children are killed as their handles drop.
struct Interrupt(SignalFd);

impl Interrupt {
    /// Call while the process has one thread: threads created later inherit the blocked set.
    fn install() -> Result<Interrupt> {
        let mut set = SigSet::empty();
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(sig);
        }
        set.thread_block()
            .context("blocking SIGINT/SIGTERM/SIGHUP")?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .context("signalfd")?;
        Ok(Interrupt(fd))
    }

    fn check(&self) -> Result<()> {
        match self.0.read_signal() {
            Ok(Some(info)) => bail!("interrupted by signal {}", info.ssi_signo),
            Ok(None) => Ok(()),
            Err(e) => bail!("reading the signalfd: {e}"),
        }
    }
}

/// A child killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running dnsperf.
struct Load {
    child: Reaped,
    deadline: Instant,
}

impl Load {
    /// Waits for dnsperf to end (bounded) and reads its figures.
    fn finish(&mut self, interrupt: &Interrupt) -> Result<Perf> {
        let status = loop {
            if let Some(status) = self.child.0.try_wait()? {
                break status;
            }
            interrupt.check()?;
            if Instant::now() > self.deadline {
                bail!("dnsperf did not finish in time");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = self.child.0.stdout.take() {
            s.read_to_string(&mut out)?;
        }
        if let Some(mut s) = self.child.0.stderr.take() {
            s.read_to_string(&mut err)?;
        }
        if !status.success() {
            bail!("dnsperf: {status}: {}{}", out.trim(), err.trim());
        }
        parse_dnsperf(&out).with_context(|| format!("dnsperf printed:\n{out}{err}"))
    }
}

/// Checks knet's answer to one line of the mixed file against the plan.
fn check_answer(plan: &[PlannedService], line: &QueryLine, m: &Message) -> Result<()> {
    let rcode = m.metadata.response_code;
    let want = if line.kind == Kind::NxDomain {
        ResponseCode::NXDomain
    } else {
        ResponseCode::NoError
    };
    if rcode != want {
        bail!("response code {rcode}, expected {want}");
    }
    let svc = |fqdn: &str| plan.iter().find(|p| p.fqdn() == fqdn);
    match line.kind {
        Kind::ServiceA | Kind::HeadlessA => {
            let p = svc(&line.name).ok_or_else(|| anyhow!("not a planned Service"))?;
            let mut want: Vec<Ipv4Addr> = match p.cluster_ip {
                Some(ip) => vec![ip],
                None => p.pods.iter().map(|x| x.1).collect(),
            };
            let mut got = answer_ips(m);
            want.sort();
            got.sort();
            if got != want {
                bail!("addresses {got:?}, expected {want:?}");
            }
        }
        Kind::Srv => {
            let target = line.name.trim_start_matches("_http._tcp.");
            let ok = m.answers.iter().any(|r| match &r.data {
                RData::SRV(s) => {
                    s.port == SERVICE_PORT && s.target.to_string().trim_end_matches('.') == target
                }
                _ => false,
            });
            if !ok {
                bail!("no SRV {SERVICE_PORT} {target} in {:?}", m.answers);
            }
        }
        Kind::Ptr => {
            let ok = m.answers.iter().any(|r| match &r.data {
                RData::PTR(p) => p.0.to_string().ends_with(".svc.cluster.local."),
                _ => false,
            });
            if !ok {
                bail!("no PTR to a Service name in {:?}", m.answers);
            }
        }
        Kind::NxDomain => {}
    }
    Ok(())
}

fn answer_ips(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// One UDP query, 500 ms for the answer.
fn ask(server: SocketAddr, name: &str, qtype: RecordType) -> Result<Message> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name)?, qtype));
    let id = q.metadata.id;
    sock.send_to(&q.to_vec()?, server)?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock.recv_from(&mut buf)?;
        let m = Message::from_vec(&buf[..n])?;
        if m.metadata.id == id {
            return Ok(m);
        }
    }
}

fn allowed_cpus() -> Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    Ok((0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect())
}

/// Pins the calling thread (threads it creates inherit the set, as under `taskset`).
fn set_thread_cpus(cpus: &[usize]) -> Result<()> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c).with_context(|| format!("CPU {c}"))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).context("sched_setaffinity")
}

fn proc_status(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}

fn kib_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn mem_of(pid: &str) -> Result<Mem> {
    let status = proc_status(pid).ok_or_else(|| anyhow!("no /proc/{pid}/status"))?;
    Ok(Mem {
        rss_kib: kib_field(&status, "VmRSS").unwrap_or(0),
        hwm_kib: kib_field(&status, "VmHWM").unwrap_or(0),
    })
}

/// CPU time of a process from /proc/PID/stat, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cpu {
    /// utime + stime: all its threads, live and exited.
    own: f64,
    /// cutime + cstime: its children that it has waited for.
    children: f64,
}

/// proc(5) gives these in clock ticks of `sysconf(_SC_CLK_TCK)`, which is USER_HZ, 100 on every
/// Linux architecture's user ABI.
const CLOCK_TICKS: f64 = 100.0;

fn parse_cpu(stat: &str) -> Option<Cpu> {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields after the
    // last ')' start at field 3 (state), so utime (14) is the 12th of them.
    let fields: Vec<f64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse::<f64>().ok())
        .collect::<Option<_>>()?;
    let [utime, stime, cutime, cstime] = fields[..] else {
        return None;
    };
    Some(Cpu {
        own: (utime + stime) / CLOCK_TICKS,
        children: (cutime + cstime) / CLOCK_TICKS,
    })
}

fn cpu_seconds(pid: &str) -> Result<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu(&stat).ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat"))
}

fn thread_count(pid: &str) -> usize {
    proc_status(pid)
        .and_then(|s| kib_field(&s, "Threads"))
        .map_or(0, |n| n as usize)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------------
// The host side

/// First line of `program args` (stdout, else stderr) that contains `needle`.
fn version_line(program: &Path, args: &[&str], needle: &str) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.contains(needle))
        .map(|l| l.trim().to_string())
}

pub(super) async fn run(a: &DnsArgs) -> Result<()> {
    let dnsperf = super::find_program("dnsperf")
        .ok_or_else(|| anyhow!("dnsperf not found: apt-get install dnsperf"))?;
    let dnsmasq = super::find_program("dnsmasq");
    let taskset = super::find_program("taskset");
    let exe = std::env::current_exe().context("finding the knet executable")?;
    let versions = Versions {
        dnsperf: version_line(&dnsperf, &["-h"], "Version")
            .map(|v| format!("dnsperf {}", v.trim_start_matches("Version "))),
        // "Dnsmasq version 2.90  Copyright (c) ..."
        dnsmasq: dnsmasq
            .as_deref()
            .and_then(|d| version_line(d, &["--version"], "version"))
            .map(|v| v.split("  ").next().unwrap_or_default().to_string()),
    };
    let started = jiff::Timestamp::now();
    let mut worker_cmd = vec![
        "bench".to_string(),
        "dns-worker".into(),
        "--seconds".into(),
        a.seconds.to_string(),
        "--rounds".into(),
        a.rounds.to_string(),
        "--services".into(),
        a.services.to_string(),
        "--pods".into(),
        a.pods.to_string(),
        "--clients".into(),
        a.clients.to_string(),
        "--max-qps".into(),
        a.max_qps.to_string(),
        "--dnsperf".into(),
        dnsperf.display().to_string(),
    ];
    for (flag, path) in [("--dnsmasq", &dnsmasq), ("--taskset", &taskset)] {
        if let Some(p) = path {
            worker_cmd.push(flag.into());
            worker_cmd.push(p.display().to_string());
        }
    }
    eprintln!(
        "knet bench dns: {} Services, {} pods, {} rounds of {} s runs, in a private world...",
        a.services, a.pods, a.rounds, a.seconds
    );
    let worker = run_worker(&exe, &worker_cmd, a).await;
    if let Err(e) = &worker {
        eprintln!("the worker failed: {e:#}");
    }
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = render_report(&mut s, a, &started, &exe, &worker_cmd, &versions, &worker);
    out!("{s}");
    worker.map(|_| ())
}

async fn run_worker(exe: &Path, args: &[String], a: &DnsArgs) -> Result<WorkerReport> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(args)
        .env("KNET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = cmd.spawn().context("starting `knet bench dns-worker`")?;
    // Six runs per round at most, each `seconds` plus start-up and dnsperf's drain, plus the
    // objects and zone (a minute is ample at the largest sizes).
    let limit = Duration::from_secs(60 + u64::from(a.rounds) * 6 * (u64::from(a.seconds) + 40))
        .min(WORKER_LIMIT);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("the worker did not finish within {limit:?}"))??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| anyhow!("the worker exited ({}) without figures", out.status))?;
    serde_json::from_str(line).context("reading the worker's figures")
}

// ---------------------------------------------------------------------------------------------
// The report: a markdown block for docs/benchmarks.md

struct Versions {
    dnsperf: Option<String>,
    dnsmasq: Option<String>,
}

fn thousands(n: f64) -> String {
    if !n.is_finite() {
        return "-".into();
    }
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn mode_name(pinned: bool, w: &WorkerReport) -> String {
    match (pinned, w.pinned_cpus) {
        (true, Some((load, server))) => format!("pinned (server CPU {server}, dnsperf CPU {load})"),
        (true, None) => "pinned".into(),
        (false, _) => "unpinned".into(),
    }
}

fn render_report(
    s: &mut String,
    a: &DnsArgs,
    started: &jiff::Timestamp,
    exe: &Path,
    worker_cmd: &[String],
    versions: &Versions,
    worker: &Result<WorkerReport>,
) -> std::fmt::Result {
    writeln!(s)?;
    writeln!(s, "## knet bench dns")?;
    writeln!(s)?;
    writeln!(s, "```sh")?;
    writeln!(
        s,
        "knet bench dns --seconds {} --rounds {} --services {} --pods {} --clients {} --max-qps {}",
        a.seconds, a.rounds, a.services, a.pods, a.clients, a.max_qps
    )?;
    writeln!(s, "```")?;
    writeln!(s)?;
    writeln!(
        s,
        "Run {} on {}; {}; {}.",
        started.strftime("%Y-%m-%d %H:%M UTC"),
        super::machine(),
        versions
            .dnsperf
            .as_deref()
            .unwrap_or("dnsperf (version unknown)"),
        versions.dnsmasq.as_deref().unwrap_or("no dnsmasq: no peer")
    )?;
    let w = match worker {
        Ok(w) => w,
        Err(e) => {
            writeln!(s)?;
            writeln!(s, "The run failed: {e:#}")?;
            return Ok(());
        }
    };
    writeln!(
        s,
        "{}",
        super::worker_line(exe, worker_cmd, w.user_namespace)
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "Zone: {} Services in {} namespaces ({} headless), {} EndpointSlices, {} Pods; {} names; A file: {} names; mixed file: {}.",
        thousands(w.services as f64),
        w.namespaces,
        thousands(w.headless as f64),
        thousands(w.slices as f64),
        thousands(w.pods as f64),
        thousands(w.zone_names as f64),
        thousands(w.a_lines as f64),
        w.mix_shares
            .iter()
            .map(|(k, n)| format!("{k} {:.0}%", 100.0 * *n as f64 / w.mix_lines.max(1) as f64))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(s)?;
    for c in &w.commands {
        writeln!(s, "- {c}")?;
    }
    writeln!(
        s,
        "- load average (1/5/15 min) before the first run: {}; after the last: {}",
        w.load_before, w.load_after
    )?;
    for n in &w.notes {
        writeln!(s, "- note: {n}")?;
    }

    writeln!(s)?;
    writeln!(
        s,
        "### Throughput at saturation (dnsperf -c {} -Q {}, {} s per run; latency as dnsperf reports it: average ± standard deviation, max; CPU: user + system time over dnsperf's run time, 100% = one core)",
        a.clients, a.max_qps, a.seconds
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "| mode | round | server | queries | QPS | latency avg ± sd | max | lost | response codes | server threads | CPU: server / dnsperf |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    for r in &w.runs {
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.3} ± {:.3} ms | {:.1} ms | {} | {} | {} | {:.0}% / {:.0}% |",
            if r.pinned { "pinned" } else { "unpinned" },
            r.round,
            r.server.label(),
            match r.queries {
                Queries::A => "A",
                Queries::Mix => "mixed",
            },
            thousands(r.perf.qps),
            r.perf.avg_ms,
            r.perf.stddev_ms,
            r.perf.max_ms,
            r.perf.lost,
            r.perf
                .rcodes
                .iter()
                .map(|(c, n)| format!("{c} {}", thousands(*n as f64)))
                .collect::<Vec<_>>()
                .join(", "),
            r.threads,
            100.0 * ratio(r.server_cpu_s, r.perf.run_s),
            100.0 * ratio(r.load_cpu_s, r.perf.run_s)
        )?;
    }

    writeln!(s)?;
    writeln!(s, "### Summary (medians over the rounds)")?;
    writeln!(s)?;
    writeln!(
        s,
        "| mode | knet A QPS | knet latency | dnsmasq A QPS | dnsmasq latency | knet / dnsmasq | per-round ratios | knet mixed QPS | mixed latency | no-op responder QPS (dnsperf's ceiling) |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|---|")?;
    let mut targets = Vec::new();
    let mut cost = Vec::new();
    for pinned in [false, true] {
        let knet = series(&w.runs, pinned, ServerKind::Knet, Queries::A);
        let Some(knet) = knet else { continue };
        let peer = series(&w.runs, pinned, ServerKind::Dnsmasq, Queries::A);
        let mix = series(&w.runs, pinned, ServerKind::Knet, Queries::Mix);
        let ratios = round_ratios(&w.runs, pinned);
        let lat = |x: Option<Series>| {
            x.map_or("-".into(), |x| {
                format!("{:.3} ± {:.3} ms", x.avg_ms, x.stddev_ms)
            })
        };
        let r = ratio(knet.qps, peer.map_or(f64::NAN, |p| p.qps));
        let ceiling = series(&w.runs, pinned, ServerKind::Reflector, Queries::A);
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.2}x | {} | {} | {} | {} |",
            mode_name(pinned, w),
            thousands(knet.qps),
            lat(Some(knet)),
            thousands(peer.map_or(f64::NAN, |p| p.qps)),
            lat(peer),
            r,
            ratios
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" / "),
            thousands(mix.map_or(f64::NAN, |m| m.qps)),
            lat(mix),
            thousands(ceiling.map_or(f64::NAN, |c| c.qps)),
        )?;
        let peer_qps = peer.map_or(f64::NAN, |p| p.qps);
        let ceiling_qps = ceiling.map_or(f64::NAN, |c| c.qps);
        let ratio_verdict = if !r.is_finite() {
            "not judged (no peer)".to_string()
        } else if r >= RATIO_TARGET {
            "met".to_string()
        } else if RATIO_TARGET * peer_qps > ceiling_qps {
            // No server can be seen doing more than the generator delivers to a responder
            // that does nothing.
            format!(
                "NOT met, and not observable with dnsperf here: {RATIO_TARGET}x dnsmasq is {} QPS, above the {} QPS dnsperf gets from a responder that does no DNS work; knet reaches {:.0}% of that ceiling, dnsmasq {:.0}%",
                thousands(RATIO_TARGET * peer_qps),
                thousands(ceiling_qps),
                100.0 * ratio(knet.qps, ceiling_qps),
                100.0 * ratio(peer_qps, ceiling_qps)
            )
        } else {
            "NOT met".to_string()
        };
        targets.push(format!(
            "{}: knet ≥ {} QPS: {} ({}); knet ≥ {RATIO_TARGET}x dnsmasq ({:.2}x): {ratio_verdict}",
            if pinned { "pinned" } else { "unpinned" },
            thousands(QPS_TARGET),
            super::met(knet.qps >= QPS_TARGET),
            thousands(knet.qps),
            r
        ));
        cost.push((pinned, knet, peer, mix));
    }
    writeln!(s)?;
    for t in targets {
        writeln!(s, "- target, {t}")?;
    }

    writeln!(s)?;
    writeln!(
        s,
        "What a query costs each server (medians of server CPU time / answered queries), and how busy dnsperf was: when dnsperf keeps its core busy, the QPS above is the load generator's ceiling, not the server's."
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "| mode | knet A: server CPU per query | dnsperf CPU | dnsmasq A: server CPU per query | dnsperf CPU | dnsmasq / knet per query | knet mixed: CPU per query | no-op responder: CPU per query |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|")?;
    let mut ceiling = None;
    let mut floor = Vec::new();
    for (pinned, knet, peer, mix) in cost {
        let noop = series(&w.runs, pinned, ServerKind::Reflector, Queries::A);
        let us = |x: Option<Series>| x.map_or("-".into(), |x| format!("{:.2} µs", x.server_us));
        let share =
            |x: Option<Series>| x.map_or("-".into(), |x| format!("{:.0}%", 100.0 * x.load_share));
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.2}x | {} | {} |",
            if pinned { "pinned" } else { "unpinned" },
            us(Some(knet)),
            share(Some(knet)),
            us(peer),
            share(peer),
            ratio(peer.map_or(f64::NAN, |p| p.server_us), knet.server_us),
            us(mix),
            us(noop)
        )?;
        if let (Some(noop), Some(peer)) = (noop, peer) {
            floor.push((pinned, noop.server_us, peer.server_us));
        }
        if pinned && knet.load_share >= 0.9 && knet.server_share < 0.9 {
            ceiling = Some((knet.load_share, knet.server_share));
        }
    }
    if let Some((load, server)) = ceiling {
        writeln!(s)?;
        writeln!(
            s,
            "Pinned, dnsperf kept its core {:.0}% busy while knet's server used {:.0}% of its own: knet's pinned QPS is a lower bound, set by the load generator.",
            100.0 * load,
            100.0 * server
        )?;
    }
    for (pinned, noop, peer) in floor {
        if noop > peer / RATIO_TARGET {
            writeln!(s)?;
            writeln!(
                s,
                "{}: a responder that does no DNS work costs {noop:.2} µs of CPU per query (the kernel's receive and send), more than half of dnsmasq's {peer:.2} µs: on this machine no server using the socket API can answer at {RATIO_TARGET}x dnsmasq's cost per query either.",
                if pinned { "Pinned" } else { "Unpinned" }
            )?;
        }
    }

    writeln!(s)?;
    writeln!(
        s,
        "### Memory: the process that holds the zone ({} Services, {} Pods)",
        thousands(w.services as f64),
        thousands(w.pods as f64)
    )?;
    writeln!(s)?;
    writeln!(s, "| worker process | VmRSS | VmHWM |")?;
    writeln!(s, "|---|---|---|")?;
    for (what, m) in [
        ("before the objects", w.mem_start),
        (
            "with the Services, EndpointSlices and Pods (as the watcher's stores hold them: Pods reduced by `slim_pod`)",
            w.mem_objects,
        ),
        (
            "with the objects and the zone (DnsState::update)",
            w.mem_zone,
        ),
        ("after all runs", w.mem_served),
    ] {
        writeln!(
            s,
            "| {what} | {:.1} MiB | {:.1} MiB |",
            mib(m.rss_kib),
            mib(m.hwm_kib)
        )?;
    }
    writeln!(s)?;
    writeln!(
        s,
        "Objects: +{:.1} MiB; zone: +{:.1} MiB ({} names, built in {:.0} ms).{}",
        mib(w.mem_objects.rss_kib.saturating_sub(w.mem_start.rss_kib)),
        mib(w.mem_zone.rss_kib.saturating_sub(w.mem_objects.rss_kib)),
        thousands(w.zone_names as f64),
        w.update_ms,
        w.dnsmasq_mem.map_or(String::new(), |m| format!(
            " dnsmasq with the {} ClusterIP names: VmRSS {:.1} MiB, VmHWM {:.1} MiB.",
            thousands(w.a_lines as f64),
            mib(m.rss_kib),
            mib(m.hwm_kib)
        ))
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use knet_dns::{Processed, Transport, process_packet};

    const DNSPERF_OUT: &str = "DNS Performance Testing Tool
Version 2.10.0

[Status] Testing complete (time limit)

Statistics:

  Queries sent:         58553
  Queries completed:    58550 (99.99%)
  Queries lost:         3 (0.01%)

  Response codes:       NOERROR 52695 (90.00%), NXDOMAIN 5855 (10.00%)
  Average packet size:  request 45, response 61
  Run time (s):         2.003484
  Queries per second:   29225.589024

  Average Latency (s):  0.003098 (min 0.000034, max 0.025439)
  Latency StdDev (s):   0.003803
";

    #[test]
    fn dnsperf_statistics_are_read() {
        let p = parse_dnsperf(DNSPERF_OUT).unwrap();
        assert_eq!((p.sent, p.completed, p.lost), (58553, 58550, 3));
        assert!((p.qps - 29225.589024).abs() < 1e-6);
        assert!((p.avg_ms - 3.098).abs() < 1e-9);
        assert!((p.min_ms - 0.034).abs() < 1e-9);
        assert!((p.max_ms - 25.439).abs() < 1e-9);
        assert!((p.stddev_ms - 3.803).abs() < 1e-9);
        assert!((p.run_s - 2.003484).abs() < 1e-9);
        assert_eq!(
            p.rcodes,
            vec![
                ("NOERROR".to_string(), 52695),
                ("NXDOMAIN".to_string(), 5855)
            ]
        );
        assert!(parse_dnsperf("[Fatal] no such file").is_err());
    }

    #[test]
    fn the_plan_spreads_pods_and_makes_one_service_in_ten_headless() {
        let p = plan(20, 50);
        assert_eq!(p.len(), 20);
        assert_eq!(p.iter().filter(|s| s.cluster_ip.is_none()).count(), 2);
        assert_eq!(p[0].cluster_ip, Some(Ipv4Addr::new(10, 96, 0, 16)));
        assert_eq!(p[9].cluster_ip, None);
        assert_eq!(p[3].fqdn(), "svc3.ns0.svc.cluster.local");
        assert!(p.iter().all(|s| s.pods.len() == 2 || s.pods.len() == 3));
        assert_eq!(
            p[1].pods[0],
            ("svc1-0".into(), Ipv4Addr::new(10, 244, 0, 3))
        );
        assert_eq!(p[1].pods[1].1, Ipv4Addr::new(10, 244, 0, 23));
        let big = plan(10_000, 65_000);
        assert_eq!(big[9_999].namespace, "ns99");
        assert_eq!(
            big[0].pods.last().unwrap().1,
            Ipv4Addr::new(10, 244, 234, 98)
        );
    }

    #[test]
    fn the_mix_has_its_shares_and_every_line_is_a_valid_query() {
        let p = plan(100, 500);
        let mix = mix_queries(&p, 2000);
        let count = |k: Kind| mix.iter().filter(|l| l.kind == k).count();
        assert_eq!(count(Kind::ServiceA), 1000);
        assert_eq!(count(Kind::HeadlessA), 200);
        assert_eq!(count(Kind::Srv), 300);
        assert_eq!(count(Kind::Ptr), 300);
        assert_eq!(count(Kind::NxDomain), 200);
        // Shuffled: the first 20 lines are not the kinds in generation order.
        assert!((0..20).any(|i| mix[i].kind != kind_of(i)));
        for line in query_file(&mix).lines() {
            let (name, qtype) = line.split_once(' ').unwrap();
            assert!(Name::from_ascii(name).is_ok(), "{line}");
            assert!(["A", "SRV", "PTR"].contains(&qtype), "{line}");
        }
    }

    #[test]
    fn without_headless_endpoints_the_mix_asks_service_names_instead() {
        let p = plan(20, 0);
        let mix = mix_queries(&p, 100);
        assert_eq!(mix.iter().filter(|l| l.kind == Kind::HeadlessA).count(), 0);
        assert_eq!(mix.iter().filter(|l| l.kind == Kind::ServiceA).count(), 60);
    }

    #[test]
    fn the_hosts_file_and_the_a_queries_name_the_same_cluster_ip_services() {
        let p = plan(30, 0);
        let hosts = hosts_file(&p);
        let a = a_queries(&p);
        assert_eq!(hosts.lines().count(), 27);
        assert_eq!(a.len(), 27);
        assert!(hosts.contains("10.96.0.16 svc0.ns0.svc.cluster.local\n"));
        for q in &a {
            assert!(hosts.contains(&format!(" {}\n", q.name)), "{}", q.name);
        }
    }

    #[test]
    fn shuffling_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        a.sort();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }

    /// Every line of both query files gets the answer the bench expects from knet's zone built
    /// from the synthetic objects (the same check the worker makes over the network, for all
    /// lines).
    #[test]
    fn knets_zone_from_the_synthetic_objects_answers_every_query_line_as_expected() {
        let p = plan(50, 200);
        let (services, slices, pods) = objects(&p).unwrap();
        assert_eq!((services.len(), slices.len(), pods.len()), (50, 50, 200));
        let state = DnsState::new(DnsConfig::default()).unwrap();
        state.update(&services, &slices, &pods);
        let snapshot = state.snapshot();
        let lines = a_queries(&p)
            .into_iter()
            .chain(mix_queries(&p, 400))
            .collect::<Vec<_>>();
        for line in &lines {
            let mut q = Message::query();
            q.add_query(Query::query(
                Name::from_ascii(&line.name).unwrap(),
                line.qtype,
            ));
            let packet = q.to_vec().unwrap();
            let Processed::Reply(bytes) = process_packet(&snapshot, 1232, &packet, Transport::Udp)
            else {
                panic!("{} {}: not answered locally", line.name, line.qtype);
            };
            let m = Message::from_vec(&bytes).unwrap();
            check_answer(&p, line, &m)
                .unwrap_or_else(|e| panic!("{} {}: {e:#}", line.name, line.qtype));
        }
        // And a wrong expectation is caught.
        let wrong = QueryLine {
            name: p[0].fqdn(),
            qtype: RecordType::A,
            kind: Kind::NxDomain,
        };
        let mut q = Message::query();
        q.add_query(Query::query(
            Name::from_ascii(&wrong.name).unwrap(),
            wrong.qtype,
        ));
        let Processed::Reply(bytes) =
            process_packet(&snapshot, 1232, &q.to_vec().unwrap(), Transport::Udp)
        else {
            panic!("not answered locally");
        };
        assert!(check_answer(&p, &wrong, &Message::from_vec(&bytes).unwrap()).is_err());
    }

    #[test]
    fn medians_and_round_ratios() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
        let run = |round, server, qps| Run {
            round,
            pinned: false,
            server,
            queries: Queries::A,
            perf: Perf {
                qps,
                ..Perf::default()
            },
            threads: 1,
            server_cpu_s: 0.0,
            load_cpu_s: 0.0,
        };
        let runs = vec![
            run(1, ServerKind::Knet, 100.0),
            run(1, ServerKind::Dnsmasq, 50.0),
            run(2, ServerKind::Dnsmasq, 40.0),
            run(2, ServerKind::Knet, 120.0),
            run(3, ServerKind::Knet, 90.0),
        ];
        assert_eq!(round_ratios(&runs, false), vec![2.0, 3.0]);
        assert!(round_ratios(&runs, true).is_empty());
        let knet = series(&runs, false, ServerKind::Knet, Queries::A).unwrap();
        assert_eq!(knet.qps, 100.0);
        assert!(series(&runs, false, ServerKind::Knet, Queries::Mix).is_none());
    }

    #[test]
    fn the_report_judges_the_targets_on_the_medians_and_flags_a_saturated_load_generator() {
        let run = |round, pinned, server, qps: f64, server_cpu_s, load_cpu_s| Run {
            round,
            pinned,
            server,
            queries: Queries::A,
            perf: Perf {
                qps,
                completed: (qps * 10.0) as u64,
                run_s: 10.0,
                ..Perf::default()
            },
            threads: 1,
            server_cpu_s,
            load_cpu_s,
        };
        let w = WorkerReport {
            runs: vec![
                run(1, false, ServerKind::Knet, 90_000.0, 9.0, 9.0),
                run(1, false, ServerKind::Dnsmasq, 40_000.0, 8.0, 6.0),
                run(1, true, ServerKind::Knet, 100_000.0, 8.0, 9.8),
                run(1, true, ServerKind::Dnsmasq, 80_000.0, 9.6, 9.0),
                run(1, true, ServerKind::Reflector, 102_000.0, 7.65, 9.9),
            ],
            ..WorkerReport::default()
        };
        let args = DnsArgs {
            seconds: 10,
            rounds: 1,
            services: 10,
            pods: 0,
            clients: 8,
            max_qps: 300_000,
        };
        let versions = Versions {
            dnsperf: None,
            dnsmasq: None,
        };
        let mut s = String::new();
        render_report(
            &mut s,
            &args,
            &jiff::Timestamp::UNIX_EPOCH,
            Path::new("knet"),
            &[],
            &versions,
            &Ok(w),
        )
        .unwrap();
        assert!(
            s.contains("unpinned: knet ≥ 40,000 QPS: met (90,000); knet ≥ 2x dnsmasq (2.25x): met"),
            "{s}"
        );
        // 2x dnsmasq (160,000) is above what dnsperf got from the no-op responder (102,000).
        assert!(
            s.contains(
                "pinned: knet ≥ 40,000 QPS: met (100,000); knet ≥ 2x dnsmasq (1.25x): NOT met, and not observable with dnsperf here: 2x dnsmasq is 160,000 QPS, above the 102,000 QPS dnsperf gets from a responder that does no DNS work; knet reaches 98% of that ceiling, dnsmasq 78%"
            ),
            "{s}"
        );
        // Per query: knet 8 s / 1,000,000 = 8 µs, dnsmasq 9.6 s / 800,000 = 12 µs, the
        // responder 7.65 s / 1,020,000 = 7.5 µs.
        assert!(
            s.contains("| pinned | 8.00 µs | 98% | 12.00 µs | 90% | 1.50x | - | 7.50 µs |"),
            "{s}"
        );
        assert!(
            s.contains("Pinned: a responder that does no DNS work costs 7.50 µs of CPU per query"),
            "{s}"
        );
        assert!(!s.contains("Unpinned: a responder"), "{s}");
        assert!(
            s.contains("dnsperf kept its core 98% busy while knet's server used 80% of its own"),
            "{s}"
        );
    }

    #[test]
    fn proc_status_fields_are_read() {
        let status = "Name:\tknet\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t3\n";
        assert_eq!(kib_field(status, "VmRSS"), Some(1024));
        assert_eq!(kib_field(status, "VmHWM"), Some(2048));
        assert_eq!(kib_field(status, "Threads"), Some(3));
        assert_eq!(kib_field(status, "VmSwap"), None);
        let stat = "42 (knet (dns) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 3 0";
        assert_eq!(
            parse_cpu(stat),
            Some(Cpu {
                own: 3.0,
                children: 0.1
            })
        );
        assert_eq!(parse_cpu("42 (knet) S 1 2"), None);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(
            reverse_name(Ipv4Addr::new(10, 96, 1, 2)),
            "2.1.96.10.in-addr.arpa"
        );
    }
}
