//! `knet bench proxy`: what knet's nftables service proxy costs, against kube-proxy's iptables
//! layout, measured in one run. A benchmark, not a test: it prints figures and a markdown block
//! for docs/benchmarks.md, with the command lines that produced them.
//!
//! ```text
//!  knet bench proxy ─┬─ re-exec `knet bench proxy-worker` ── enter_world() ── a private world (PID 1):
//!                    │   1. programming, per size N: netns prog-knet-N, table ip knet-proxy
//!                    │        full load, then one Service changed at a time as the node agent programs it:
//!                    │        Proxier::apply(&snapshot, &changed) → transaction → render → nft -f
//!                    │      netns prog-iptables-N: the same Services in kube-proxy's iptables layout,
//!                    │        iptables-restore (full load), then --noflush partial syncs as kube-proxy writes them
//!                    │   2. first packet: LAN + one node per (layout, size) + a server node (knet_topology, host-gw)
//!                    │        client pod on each proxy node ─connect─► ClusterIP ─DNAT─► server pod (other node)
//!                    │        all clients interleaved connect by connect
//!                    └─ (then `bench::run` runs part 3, the memory of a real cluster at 10,000
//!                        Services: `bench_proxy_rss`, host side, after this module's report)
//! ```
//!
//! Part 3 lives apart because it needs `knet serve` with the proxy in its node agents, not a
//! world of this worker's: it runs on the host side, as `bench pods` measures its cluster.
//!
//! Nothing touches the host's namespaces: the worker's world (user namespace when not root, mount,
//! network, pid, UTS, IPC, tmpfs on /tmp and /run/netns) and every table and namespace in it vanish
//! with its first process. As in `bench pods`, the worker runs from the argument parser
//! ([`super::WorkerEntry`]) because `enter_world` needs a process with one thread.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use knet_netns::{KernelDataplane, Netns};
use knet_proxy::{Endpoint, Protocol, ServicePort, ServicePortKey, Snapshot};
use knet_topology::{ClusterNet, NodeNet, PodNet};
use nix::sys::time::TimeVal;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::{ms, percentile};

/// The line on which the worker hands its figures to `knet bench proxy`.
const RESULT_PREFIX: &str = "knet-bench-proxy-result: ";
/// The whole worker.
const WORKER_LIMIT: Duration = Duration::from_secs(90 * 60);
/// Any single command (one `nft -f`, one `iptables-restore`, a listing).
const OP_LIMIT: Duration = Duration::from_secs(15 * 60);
/// The Service port of every benchmark Service, and the first port its endpoints listen on.
const SERVICE_PORT: u16 = 80;
const TARGET_PORT: u16 = 8080;
/// kube-proxy's masquerade mark (`--iptables-masquerade-bit` 14).
const MASQ_MARK: &str = "0x4000";
/// Targets: one change at 10,000 Services under 50 ms p99; first packet at 10,000 Services within
/// 10% of the figure at 10.
const CHANGE_TARGET_MS: f64 = 50.0;
const CHANGE_TARGET_SERVICES: usize = 10_000;
const FIRST_PACKET_TOLERANCE: f64 = 0.10;
/// `iptables-restore` arguments of the first load into an empty namespace. kube-proxy passes
/// `--noflush` on every sync, but iptables-nft 1.8.9's `--noflush` path is super-linear in the
/// number of chains (docs/benchmarks.md: 9.7 s at 1,000 Services of 10 endpoints, over 15
/// minutes at 10,000); without it the same input gives the same table when nothing is there.
/// Changes use `--noflush`, as they must.
const INITIAL_RESTORE_ARGS: &[&str] = &[];
/// Connects per path before the measured ones (neighbour entries, caches).
const WARMUP_CONNECTS: usize = 100;

/// Options of `knet bench proxy`.
#[derive(clap::Args, Debug, Clone)]
pub struct ProxyArgs {
    /// Services of part 1 (programming time), one table per size, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1000u32, 10_000, 30_000],
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub services: Vec<u32>,
    /// Ready endpoints of every Service.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub endpoints: u32,
    /// Services changed one at a time (one endpoint address replaced) at each size, for knet (200: the p99 is then a percentile, not the maximum).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub changes: u32,
    /// Services changed one at a time in kube-proxy's iptables layout (each costs seconds at
    /// 10,000 Services and more); 0 skips the iptables contrast of part 1.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub iptables_changes: u32,
    /// Services of part 2 (first packet), comma-separated (at most 4 sizes).
    #[arg(long, value_delimiter = ',', default_values_t = [10u32, 10_000],
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub first_packet_services: Vec<u32>,
    /// Measured TCP connections of part 2 through each (layout, size).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub connections: u32,
    /// Give the world a user namespace even as root (what an unprivileged user gets).
    #[arg(long)]
    pub user_namespace: bool,
    /// Services of part 3 (the control-plane process's memory on a real cluster, Services and
    /// EndpointSlices created through the API); 0 skips it.
    #[arg(long, default_value_t = 10_000)]
    pub rss_services: usize,
}

/// Options of the hidden `knet bench proxy-worker`.
#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    #[arg(long, value_delimiter = ',')]
    services: Vec<u32>,
    #[arg(long)]
    endpoints: u32,
    #[arg(long)]
    changes: u32,
    #[arg(long)]
    iptables_changes: u32,
    #[arg(long, value_delimiter = ',')]
    first_packet_services: Vec<u32>,
    #[arg(long)]
    connections: u32,
    #[arg(long)]
    user_namespace: bool,
    /// `iptables-restore`; none: no kube-proxy peer.
    #[arg(long)]
    iptables_restore: Option<PathBuf>,
}

impl super::Worker for WorkerArgs {
    fn main(&self) -> i32 {
        worker_main(self)
    }
}

// ---------------------------------------------------------------------------------------------
// The Services: pure

/// Cluster IP of benchmark Service `i`: 10.96.0.16 + i, inside the default Service CIDR
/// 10.96.0.0/12 (above the band where `kubernetes` and DNS live).
fn cluster_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 16)).wrapping_add(i as u32))
}

/// Stand-in endpoint address number `k`: 100.64.0.1 + k (shared address space, RFC 6598; 4M
/// addresses). These endpoints are data only: no packet is ever sent to them.
fn stand_in_endpoint(k: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 1)).wrapping_add(k as u32))
}

/// `bench/svc-000042:http`: keys sort in creation order, so the last Service is the newest.
fn service_key(i: usize) -> ServicePortKey {
    ServicePortKey(format!("bench/svc-{i:06}:http"))
}

/// `count` ClusterIP Services with `endpoints` ready endpoints each (stand-in addresses). With
/// `last`, the last Service's endpoints are `ip:TARGET_PORT + e` instead: the real server.
fn bench_snapshot(
    count: usize,
    endpoints: usize,
    last: Option<Ipv4Addr>,
    cluster_cidr: ipnet::Ipv4Net,
) -> Snapshot {
    let services = (0..count)
        .map(|i| {
            let key = service_key(i);
            let port =
                ServicePort::cluster_ip(key.0.clone(), cluster_ip(i), SERVICE_PORT, Protocol::Tcp);
            let eps = (0..endpoints)
                .map(|e| match last {
                    Some(server) if i + 1 == count => Endpoint::new(server, TARGET_PORT + e as u16),
                    _ => Endpoint::new(stand_in_endpoint(i * endpoints + e), TARGET_PORT),
                })
                .collect();
            (key, (port, eps))
        })
        .collect();
    let mut s = Snapshot::new(cluster_cidr, Vec::new());
    s.services = services;
    s
}

/// One Service changed: which one, and the endpoint address it lost and gained.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    key: ServicePortKey,
    old: (Ipv4Addr, u16),
    new: (Ipv4Addr, u16),
}

/// Change number `c` of a snapshot built by [`bench_snapshot`] with `count` Services of
/// `endpoints` endpoints: Services picked far apart, one endpoint address replaced by a fresh one
/// (a pod replaced by a new pod). Changes never repeat an address.
fn replace_endpoint(s: &mut Snapshot, count: usize, endpoints: usize, c: usize) -> Result<Change> {
    let key = service_key((c * 7919 + 13) % count);
    let (_, eps) = s
        .services
        .get_mut(&key)
        .ok_or_else(|| anyhow!("no service {}", key.0))?;
    let slot = c % eps.len().max(1);
    let ep = eps
        .get_mut(slot)
        .ok_or_else(|| anyhow!("service {} has no endpoints", key.0))?;
    let old = (ep.ip, ep.port);
    ep.ip = stand_in_endpoint(count * endpoints + c);
    Ok(Change {
        key,
        old,
        new: (ep.ip, ep.port),
    })
}

// ---------------------------------------------------------------------------------------------
// kube-proxy's iptables layout: pure
//
// What kube-proxy's iptables mode writes for ClusterIP Services (kubernetes
// pkg/proxy/iptables/proxier.go, syncProxyRules; chain names from servicePortChainName and
// servicePortEndpointChainName): one rule per Service port in KUBE-SERVICES, evaluated in order for
// the first packet of every connection; per Service a KUBE-SVC chain choosing an endpoint with
// `-m statistic --mode random --probability 1/(n-i)`; per endpoint a KUBE-SEP chain doing the DNAT.
// Partial syncs (MinimizeIPTablesRestore) rewrite the top-level chains in full, the changed
// Service's chains, and delete stale chains with `-X`.

/// kube-proxy hashes names into chain names (base32 of SHA-256, 16 characters); FNV-1a stands in
/// for it here: the names only need to be distinct and 16 characters long.
fn chain_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

fn svc_chain(key: &ServicePortKey) -> String {
    format!("KUBE-SVC-{}", chain_hash(&format!("{}tcp", key.0)))
}

fn sep_chain(key: &ServicePortKey, ep: (Ipv4Addr, u16)) -> String {
    format!(
        "KUBE-SEP-{}",
        chain_hash(&format!("{}tcp{}:{}", key.0, ep.0, ep.1))
    )
}

/// The ready endpoints of a Service port in the order both layouts use (sorted, deduplicated).
fn ready_endpoints(eps: &[Endpoint]) -> Vec<(Ipv4Addr, u16)> {
    let set: std::collections::BTreeSet<(Ipv4Addr, u16)> = eps
        .iter()
        .filter(|e| e.ready)
        .map(|e| (e.ip, e.port))
        .collect();
    set.into_iter().collect()
}

/// What an `iptables-restore --noflush` input rewrites.
#[derive(Debug, Clone, Copy)]
enum Restore<'a> {
    /// Everything, plus the jumps from the built-in chains (kube-proxy adds those once with
    /// `iptables -I`).
    Initial,
    /// The top-level chains, one Service's chains, and `-X` of chains no longer used.
    Partial {
        service: &'a ServicePortKey,
        stale: &'a [String],
    },
}

/// The `iptables-restore --noflush` input for `s` in kube-proxy's iptables layout.
fn iptables_restore_input(s: &Snapshot, what: Restore<'_>) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let mut line = |l: &str| {
        out.push_str(l);
        out.push('\n');
    };
    line("*filter");
    for c in [
        "KUBE-NODEPORTS",
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-PROXY-FIREWALL",
    ] {
        line(&format!(":{c} - [0:0]"));
    }
    if matches!(what, Restore::Initial) {
        for (chain, jump) in [
            (
                "INPUT",
                "-m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
            ),
            (
                "INPUT",
                "-m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS",
            ),
            (
                "INPUT",
                "-m conntrack --ctstate NEW -m comment --comment \"kubernetes externally visible service portals\" -j KUBE-EXTERNAL-SERVICES",
            ),
            (
                "FORWARD",
                "-m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
            ),
            (
                "FORWARD",
                "-m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
            ),
            (
                "FORWARD",
                "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            ),
            (
                "FORWARD",
                "-m conntrack --ctstate NEW -m comment --comment \"kubernetes externally visible service portals\" -j KUBE-EXTERNAL-SERVICES",
            ),
            (
                "OUTPUT",
                "-m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
            ),
            (
                "OUTPUT",
                "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            ),
        ] {
            line(&format!("-A {chain} {jump}"));
        }
    }
    line("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP");
    line(&format!(
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT"
    ));
    line(
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    );
    line("COMMIT");

    line("*nat");
    for c in [
        "KUBE-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
    ] {
        line(&format!(":{c} - [0:0]"));
    }
    let written = |key: &ServicePortKey| match what {
        Restore::Initial => true,
        Restore::Partial { service, .. } => service == key,
    };
    for (key, (_, eps)) in &s.services {
        if written(key) {
            line(&format!(":{} - [0:0]", svc_chain(key)));
            for ep in ready_endpoints(eps) {
                line(&format!(":{} - [0:0]", sep_chain(key, ep)));
            }
        }
    }
    // A stale chain is declared (which flushes it) before its `-X`, as kube-proxy does: a chain
    // that still holds rules cannot be deleted.
    if let Restore::Partial { stale, .. } = what {
        for chain in stale {
            line(&format!(":{chain} - [0:0]"));
        }
    }
    if matches!(what, Restore::Initial) {
        line("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES");
        line("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES");
        line(
            "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
        );
    }
    line(&format!(
        "-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN"
    ));
    line(&format!(
        "-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}"
    ));
    line(
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
    );
    line(&format!("-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}"));
    // KUBE-SERVICES: one rule per Service port with endpoints, in order; the NodePort jump last.
    for (key, (sp, eps)) in &s.services {
        if ready_endpoints(eps).is_empty() {
            continue;
        }
        line(&format!(
            "-A KUBE-SERVICES -m comment --comment \"{} cluster IP\" -m {p} -p {p} -d {}/32 --dport {} -j {}",
            key.0,
            sp.cluster_ip,
            sp.port,
            svc_chain(key),
            p = sp.protocol.nft()
        ));
    }
    line(
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
    );
    for (key, (sp, eps)) in &s.services {
        if !written(key) {
            continue;
        }
        let eps = ready_endpoints(eps);
        let svc = svc_chain(key);
        let p = sp.protocol.nft();
        line(&format!(
            "-A {svc} -m comment --comment \"{} cluster IP\" -m {p} -p {p} -d {}/32 --dport {} ! -s {} -j KUBE-MARK-MASQ",
            key.0, sp.cluster_ip, sp.port, s.cluster_cidr
        ));
        let n = eps.len();
        for (i, &ep) in eps.iter().enumerate() {
            let sep = sep_chain(key, ep);
            let comment = format!("-m comment --comment \"{} -> {}:{}\"", key.0, ep.0, ep.1);
            if i + 1 < n {
                // kube-proxy's computeProbability: fmt.Sprintf("%0.10f", 1.0/float64(n-i)).
                line(&format!(
                    "-A {svc} {comment} -m statistic --mode random --probability {:.10} -j {sep}",
                    1.0 / (n - i) as f64
                ));
            } else {
                line(&format!("-A {svc} {comment} -j {sep}"));
            }
        }
        for &ep in &eps {
            let sep = sep_chain(key, ep);
            line(&format!(
                "-A {sep} -m comment --comment {} -s {}/32 -j KUBE-MARK-MASQ",
                key.0, ep.0
            ));
            line(&format!(
                "-A {sep} -m comment --comment {} -m {p} -p {p} -j DNAT --to-destination {}:{}",
                key.0, ep.0, ep.1
            ));
        }
    }
    if let Restore::Partial { stale, .. } = what {
        for chain in stale {
            line(&format!("-X {chain}"));
        }
    }
    line("COMMIT");
    out
}

/// Chains declared and rules appended by an `iptables-restore` input.
fn restore_counts(input: &str) -> (usize, usize) {
    let chains = input.lines().filter(|l| l.starts_with(':')).count();
    let rules = input.lines().filter(|l| l.starts_with("-A ")).count();
    (chains, rules)
}

/// Elements `ip . proto . port : goto <chain>` of `nft list map ... service-ips` output.
fn count_service_ips(listing: &str) -> usize {
    listing.matches(" : goto ").count()
}

// ---------------------------------------------------------------------------------------------
// Figures

/// Percentiles of one series of durations.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
struct Pctl {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Pctl {
    fn of(samples: &[Duration]) -> Pctl {
        let mut v = samples.to_vec();
        v.sort();
        Pctl {
            p50_ms: ms(percentile(&v, 0.50)),
            p99_ms: ms(percentile(&v, 0.99)),
            max_ms: ms(v.last().copied().unwrap_or_default()),
        }
    }
}

/// One programming step of knet's proxy, split where its time goes.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
struct Split {
    /// The table brought up to date: `Proxier::apply` (the changed Service ports only) or
    /// `Proxier::apply_full` (`compute` and the index, for a load).
    compute_ms: f64,
    /// `Proxier::transaction` (element-level, or the whole table for a load), then `render`.
    diff_ms: f64,
    /// `nft -f -` in the namespace: process start to exit.
    nft_ms: f64,
}

impl Split {
    fn total_ms(&self) -> f64 {
        self.compute_ms + self.diff_ms + self.nft_ms
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct Programming {
    services: usize,
    endpoints: usize,
    chains: usize,
    rules: usize,
    elements: usize,
    load: Split,
    load_bytes: usize,
    /// `nft` runs of the full load: 1, or more when it had to be sliced (see `nft_full`).
    load_runs: usize,
    changes: usize,
    /// Changes whose transaction fell back to a full reload.
    full_fallbacks: usize,
    change_total: Pctl,
    change_compute: Pctl,
    change_diff: Pctl,
    change_nft: Pctl,
    /// An empty `nft -f -` in the same namespace right after each change: what starting nft
    /// from this process costs, whatever the script.
    change_nft_noop: Pctl,
    change_ops_max: usize,
    change_bytes_max: usize,
    /// Full reload of the whole table while it is in place (the fallback of a failed change).
    resync: Split,
    resync_runs: usize,
    iptables: Option<IptablesProgramming>,
    iptables_note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct IptablesProgramming {
    chains: usize,
    rules: usize,
    load_ms: f64,
    load_bytes: usize,
    changes: usize,
    change: Pctl,
    change_bytes: usize,
}

/// Connections through one (layout, size).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct PathFigures {
    layout: Layout,
    services: usize,
    node: String,
    client: String,
    load_ms: f64,
    connects: u64,
    errors: u64,
    connect_p50_us: f64,
    connect_p99_us: f64,
    /// Connections per second of one client doing connect + close back to back.
    conns_per_s: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Layout {
    #[default]
    Knet,
    Iptables,
}

impl Layout {
    fn label(self) -> &'static str {
        match self {
            Layout::Knet => "knet (nftables maps)",
            Layout::Iptables => "kube-proxy iptables layout",
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct FirstPacket {
    server: String,
    vip_note: String,
    paths: Vec<PathFigures>,
    /// Connections the server accepted, per endpoint port.
    accepts_per_port: Vec<u64>,
    notes: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct WorkerReport {
    user_namespace: bool,
    programming: Vec<Programming>,
    first_packet: Option<FirstPacket>,
    first_packet_error: Option<String>,
    commands: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The worker: inside a private world

fn worker_main(args: &WorkerArgs) -> i32 {
    let world = match knet_netns::enter_world(knet_netns::WorldOptions {
        tmpfs: vec![PathBuf::from("/tmp")],
        force_user_namespace: args.user_namespace,
        ..Default::default()
    }) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("knet bench proxy-worker: entering a world of its own: {e}");
            return 1;
        }
    };
    super::run_async_worker(
        "knet bench proxy-worker",
        RESULT_PREFIX,
        WORKER_LIMIT,
        worker(args, world.user_namespace),
    )
}

async fn worker(a: &WorkerArgs, user_namespace: bool) -> Result<WorkerReport> {
    let mut report = WorkerReport {
        user_namespace,
        ..Default::default()
    };
    Netns::attach_current(knet_topology::WORLD).context("naming the world's network namespace")?;
    let net = ClusterNet::default();
    let nft = knet_netns::nft_program().ok_or_else(|| anyhow!("nft not found"))?;
    report.commands.push(format!(
        "knet: {} -f - in the namespace (started without forking the benchmark process), fed the script knet_proxy renders as the node agent does (Proxier::apply_full(&snapshot) for a load; Proxier::apply(&snapshot, &changed) then transaction(&changes).render() for a change)",
        nft.display()
    ));
    if let Some(ipt) = &a.iptables_restore {
        report.commands.push(format!(
            "kube-proxy iptables layout: {} in the namespace, fed what kube-proxy's iptables mode writes (pkg/proxy/iptables/proxier.go): every chain on the first sync (into the empty namespace, without --noflush: iptables-nft 1.8.9's --noflush is super-linear in the chain count, 15+ minutes at 10,000 Services); on a change, with --noflush, the top-level chains (KUBE-SERVICES in full), the changed Service's KUBE-SVC/KUBE-SEP chains, -X of the stale KUBE-SEP chain",
            ipt.display()
        ));
    }
    let sizes: Vec<usize> = a.services.iter().map(|&s| s as usize).collect();
    for (i, &n) in sizes.iter().enumerate() {
        eprintln!(
            "[1/2] programming, {n} Services x {} endpoints ({} of {})...",
            a.endpoints,
            i + 1,
            sizes.len()
        );
        let p = programming(a, n, net.cluster_cidr).await?;
        report.programming.push(p);
    }
    eprintln!("[2/2] first packet through a ClusterIP...");
    match first_packet(a, &net, &mut report.commands).await {
        Ok(f) => report.first_packet = Some(f),
        Err(e) => {
            eprintln!("  the first-packet part failed: {e:#}");
            report.first_packet_error = Some(format!("{e:#}"));
        }
    }
    Ok(report)
}

/// A fresh named namespace for one table.
fn scratch_netns(name: &str) -> Result<Netns> {
    Netns::create(name).with_context(|| format!("creating network namespace {name}"))
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

/// Runs `program args` in `ns` with `input` on stdin; fails on a non-zero exit. Returns stdout.
/// Started as `nft_apply` starts nft (without forking this process), so that both layouts pay
/// the same for a process start.
async fn run_in_ns(ns: &Netns, program: &Path, args: &[&str], input: &str) -> Result<String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let what = format!("{what} in {}", ns.name());
    let mut child = knet_netns::spawn_in(ns, cmd)
        .await
        .with_context(|| format!("starting {what}"))?;
    let stdin = child.stdin.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            stdin.write_all(input.as_bytes()).await?;
            stdin.shutdown().await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let (fed, out) = tokio::join!(feed, bounded(&what, child.wait_with_output()));
    let out = out?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("{what}: {}: {}", out.status, truncate(err.trim(), 600));
    }
    fed.with_context(|| format!("writing to {what}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

async fn nft(ns: &Netns, script: &str) -> Result<Duration> {
    let t = Instant::now();
    bounded(
        &format!("nft -f - in {}", ns.name()),
        knet_netns::nft_apply(ns, script),
    )
    .await?;
    Ok(t.elapsed())
}

/// `service-ips` elements in the kernel's table.
async fn kernel_service_ips(ns: &Netns) -> Result<usize> {
    let nft = knet_netns::nft_program().ok_or_else(|| anyhow!("nft not found"))?;
    let out = run_in_ns(
        ns,
        nft,
        &["list", "map", "ip", knet_proxy::TABLE, "service-ips"],
        "",
    )
    .await?;
    Ok(count_service_ips(&out))
}

/// The whole table again, as the node agent loads it at start and after a failure:
/// `Proxier::apply_full`, its (full) transaction, render, `nft -f`. Returns the split, the
/// script's size and the number of `nft` runs it took (see [`nft_full`]).
async fn full_load(
    ns: &Netns,
    s: &Snapshot,
    proxier: &mut knet_proxy::Proxier,
) -> Result<(Split, usize, usize)> {
    let t = Instant::now();
    let changes = proxier.apply_full(s);
    let compute = t.elapsed();
    let t = Instant::now();
    let tx = proxier.transaction(&changes);
    let script = tx.render();
    let diff = t.elapsed();
    let (nft_time, runs) = nft_full(ns, &tx, &script).await?;
    Ok((
        Split {
            compute_ms: ms(compute),
            diff_ms: ms(diff),
            nft_ms: ms(nft_time),
        },
        script.len(),
        runs,
    ))
}

/// Why the kube-proxy peer could not be loaded, with the likely cause when it is known.
fn iptables_failure(e: &anyhow::Error) -> String {
    if too_long(e) {
        "iptables-restore (nf_tables) got EMSGSIZE: it cannot raise its netlink send buffer in a user namespace, so the peer runs only as root".into()
    } else {
        format!("failed: {e:#}")
    }
}

fn too_long(e: &anyhow::Error) -> bool {
    format!("{e:#}").contains("Message too long")
}

/// Applies a full transaction as the node agent does ([`knet_agent::proxy::apply_transaction`]: one
/// `nft -f`, or pieces when the kernel refuses the batch as too long, as in a user namespace).
/// Returns the time and the number of `nft` runs.
async fn nft_full(
    ns: &Netns,
    tx: &knet_proxy::Transaction,
    script: &str,
) -> Result<(Duration, usize)> {
    let t = Instant::now();
    let runs = bounded(
        &format!("nft -f - in {}", ns.name()),
        knet_agent::proxy::apply_transaction(ns, tx, script),
    )
    .await?;
    if runs > 1 {
        eprintln!(
            "  note: one transaction was too long for this world's netlink socket; applied in {runs} nft runs"
        );
    }
    Ok((t.elapsed(), runs))
}

/// Part 1 at one size: knet's table, then (if present) kube-proxy's iptables layout.
async fn programming(
    a: &WorkerArgs,
    n: usize,
    cluster_cidr: ipnet::Ipv4Net,
) -> Result<Programming> {
    let endpoints = a.endpoints as usize;
    let mut snap = bench_snapshot(n, endpoints, None, cluster_cidr);
    let ns = scratch_netns(&format!("prog-knet-{n}"))?;

    eprintln!("  knet: full load...");
    let mut proxier = knet_proxy::Proxier::new();
    let (load, load_bytes, load_runs) = full_load(&ns, &snap, &mut proxier).await?;
    let table = proxier
        .ruleset()
        .ok_or_else(|| anyhow!("no table after the full load"))?;
    eprintln!("    {}", secs_or_ms(load.total_ms()));
    let loaded = kernel_service_ips(&ns).await?;
    if loaded != n {
        bail!(
            "after the full load the kernel's service-ips map holds {loaded} elements, expected {n}"
        );
    }
    let mut p = Programming {
        services: n,
        endpoints,
        chains: table.chain_count(),
        rules: table.rule_count(),
        elements: table.element_count(),
        load,
        load_bytes,
        load_runs,
        changes: a.changes as usize,
        ..Default::default()
    };

    eprintln!("  knet: {} changes, one Service at a time...", a.changes);
    let (mut total, mut compute, mut diff, mut nft_t) = (vec![], vec![], vec![], vec![]);
    let mut noop = Vec::new();
    let mut changed = Vec::new();
    for c in 0..a.changes as usize {
        let change = replace_endpoint(&mut snap, n, endpoints, c)?;
        let keys = std::collections::BTreeSet::from([change.key.clone()]);
        changed.push(change);
        // The snapshot has changed (as the agent's, one Service at a time): the clock runs
        // until nft exits.
        let t0 = Instant::now();
        let changes = proxier.apply(&snap, &keys);
        let t1 = Instant::now();
        let tx = proxier.transaction(&changes);
        let script = tx.render();
        let t2 = Instant::now();
        let nft_time = nft(&ns, &script).await?;
        total.push(t0.elapsed());
        compute.push(t1 - t0);
        diff.push(t2 - t1);
        nft_t.push(nft_time);
        p.full_fallbacks += usize::from(tx.full);
        p.change_ops_max = p.change_ops_max.max(tx.ops.len());
        p.change_bytes_max = p.change_bytes_max.max(script.len());
        noop.push(nft(&ns, "").await?);
        if (c + 1) % 10 == 0 {
            eprintln!(
                "    {} of {}, the last {}",
                c + 1,
                a.changes,
                secs_or_ms(ms(t0.elapsed()))
            );
        }
    }
    p.change_total = Pctl::of(&total);
    p.change_compute = Pctl::of(&compute);
    p.change_diff = Pctl::of(&diff);
    p.change_nft = Pctl::of(&nft_t);
    p.change_nft_noop = Pctl::of(&noop);
    verify_changes(&ns, &changed, endpoints).await?;

    eprintln!("  knet: full resync over the loaded table...");
    let (resync, _, resync_runs) = full_load(&ns, &snap, &mut proxier).await?;
    eprintln!("    {}", secs_or_ms(resync.total_ms()));
    p.resync = resync;
    p.resync_runs = resync_runs;
    let loaded = kernel_service_ips(&ns).await?;
    if loaded != n {
        bail!(
            "after the resync the kernel's service-ips map holds {loaded} elements, expected {n}"
        );
    }
    drop_table(&ns).await;
    drop(proxier);

    match (&a.iptables_restore, a.iptables_changes) {
        (None, _) => p.iptables_note = Some("iptables-restore not found".into()),
        (Some(_), 0) => p.iptables_note = Some("skipped (--iptables-changes 0)".into()),
        (Some(ipt), k) => {
            match iptables_programming(ipt, &mut snap, n, endpoints, a.changes, k).await {
                Ok(figures) => p.iptables = Some(figures),
                Err(e) => {
                    eprintln!("  kube-proxy iptables layout failed: {e:#}");
                    p.iptables_note = Some(iptables_failure(&e));
                }
            }
        }
    }
    ns.delete()
        .with_context(|| format!("deleting namespace prog-knet-{n}"))?;
    Ok(p)
}

/// The kernel's table after the incremental changes holds each new endpoint address and none of
/// the replaced ones (each address is used by one Service only).
async fn verify_changes(ns: &Netns, changed: &[Change], endpoints: usize) -> Result<()> {
    let nft = knet_netns::nft_program().ok_or_else(|| anyhow!("nft not found"))?;
    let map = format!("backends-{endpoints}");
    let listing = run_in_ns(ns, nft, &["list", "map", "ip", knet_proxy::TABLE, &map], "").await?;
    for c in changed {
        let has = |ep: (Ipv4Addr, u16)| listing.contains(&format!(": {} . {}", ep.0, ep.1));
        if !has(c.new) {
            bail!(
                "after the changes, {map} lacks {}:{} (the new endpoint of {})",
                c.new.0,
                c.new.1,
                c.key.0
            );
        }
        if has(c.old) {
            bail!(
                "after the changes, {map} still holds {}:{} (the replaced endpoint of {})",
                c.old.0,
                c.old.1,
                c.key.0
            );
        }
    }
    Ok(())
}

/// Removes every table of a scratch namespace before it is deleted, so the kernel does not tear
/// them down in the background while the next size is measured.
async fn drop_table(ns: &Netns) {
    if let Err(e) = bounded(
        "nft flush ruleset",
        knet_netns::nft_apply(ns, "flush ruleset\n"),
    )
    .await
    {
        eprintln!("  note: emptying {}: {e:#}", ns.name());
    }
}

async fn iptables_programming(
    ipt: &Path,
    snap: &mut Snapshot,
    n: usize,
    endpoints: usize,
    first_change: u32,
    changes: u32,
) -> Result<IptablesProgramming> {
    let ns = scratch_netns(&format!("prog-iptables-{n}"))?;
    eprintln!("  kube-proxy iptables layout: full load...");
    let t = Instant::now();
    let input = iptables_restore_input(snap, Restore::Initial);
    run_in_ns(&ns, ipt, INITIAL_RESTORE_ARGS, &input).await?;
    let load = t.elapsed();
    eprintln!("    {}", secs_or_ms(ms(load)));
    let (chains, rules) = restore_counts(&input);
    let mut fig = IptablesProgramming {
        chains,
        rules,
        load_ms: ms(load),
        load_bytes: input.len(),
        changes: changes as usize,
        ..Default::default()
    };
    drop(input);
    eprintln!("  kube-proxy iptables layout: {changes} changes...");
    let mut times = Vec::new();
    for c in 0..changes as usize {
        let change = replace_endpoint(snap, n, endpoints, first_change as usize + c)?;
        let t = Instant::now();
        let stale = [sep_chain(&change.key, change.old)];
        let input = iptables_restore_input(
            snap,
            Restore::Partial {
                service: &change.key,
                stale: &stale,
            },
        );
        run_in_ns(&ns, ipt, &["--noflush"], &input).await?;
        times.push(t.elapsed());
        eprintln!(
            "    {} of {changes}: {}",
            c + 1,
            secs_or_ms(ms(t.elapsed()))
        );
        fig.change_bytes = fig.change_bytes.max(input.len());
    }
    fig.change = Pctl::of(&times);
    drop_table(&ns).await;
    ns.delete()
        .with_context(|| format!("deleting namespace prog-iptables-{n}"))?;
    Ok(fig)
}

// ---------------------------------------------------------------------------------------------
// Part 2: first packet

/// One client path: a proxy node with one layout and size, and a client pod on it.
struct ProxyPath {
    layout: Layout,
    services: usize,
    node: NodeNet,
    client: PodNet,
    vip: SocketAddrV4,
    load: Duration,
}

/// A pod uid whose first 8 hex digits (the host veth's name) are `i`.
fn bench_uid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn node_net(net: &ClusterNet, index: usize) -> Result<NodeNet> {
    Ok(NodeNet {
        name: format!("bench-node{index}"),
        index,
        ip: net.node_ip(index),
        pod_cidr: Some(format!("10.244.{index}.0/24").parse()?),
    })
}

/// `.2` of the node's pod CIDR (.1 is the gateway on cni0).
fn first_pod_ip(node: &NodeNet) -> Result<Ipv4Addr> {
    let cidr = node
        .pod_cidr
        .ok_or_else(|| anyhow!("node {} has no pod CIDR", node.name))?;
    Ok(Ipv4Addr::from(u32::from(cidr.network()) + 2))
}

async fn first_packet(
    a: &WorkerArgs,
    net: &ClusterNet,
    commands: &mut Vec<String>,
) -> Result<FirstPacket> {
    let dp = KernelDataplane::new();
    let endpoints = a.endpoints as usize;
    knet_topology::build_world(&dp, net)
        .await
        .context("building the LAN")?;
    let mut layouts = vec![Layout::Knet];
    if a.iptables_restore.is_some() {
        layouts.push(Layout::Iptables);
    }
    let mut plan = Vec::new();
    for &size in &a.first_packet_services {
        for &layout in &layouts {
            plan.push((layout, size as usize));
        }
    }
    // Node 1..=P run the proxies, node P+1 the server.
    let mut nodes = Vec::new();
    for index in 1..=plan.len() + 1 {
        nodes.push(node_net(net, index)?);
    }
    for node in &nodes {
        bounded(
            &format!("adding node {}", node.name),
            knet_topology::add_node(&dp, net, node),
        )
        .await?;
        bounded(
            &format!("pod network of node {}", node.name),
            knet_topology::set_up_pod_network(&dp, net, node),
        )
        .await?;
    }
    for node in &nodes {
        bounded(
            &format!("routes of node {}", node.name),
            knet_topology::sync_node_routes(&dp, net, node, &nodes),
        )
        .await?;
    }
    let server_node = nodes
        .last()
        .ok_or_else(|| anyhow!("no server node"))?
        .clone();
    let server = knet_topology::pod_net(&bench_uid(server_node.index), first_pod_ip(&server_node)?);
    bounded(
        "adding the server pod",
        knet_topology::add_pod(&dp, net, &server_node, &server),
    )
    .await?;
    let server_ns = bounded("opening the server pod", dp.netns(&server.netns)).await?;

    // The server: one listener per endpoint port, each accept counted and closed.
    let accepts: Arc<Vec<AtomicU64>> =
        Arc::new((0..endpoints).map(|_| AtomicU64::new(0)).collect());
    let mut acceptors = Vec::new();
    for e in 0..endpoints {
        let port = TARGET_PORT + e as u16;
        let listener = server_ns.run_in(move || {
            std::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        })??;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let accepts = accepts.clone();
        acceptors.push(tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                accepts[e].fetch_add(1, Ordering::Relaxed);
                drop(conn);
            }
        }));
    }

    let mut fig = FirstPacket {
        server: format!(
            "{}:{}-{} on its own node {}",
            server.ip,
            TARGET_PORT,
            TARGET_PORT + endpoints as u16 - 1,
            server_node.name
        ),
        vip_note: format!(
            "the test Service is the last of the N (cluster IP 10.96.0.16 + N - 1, port {SERVICE_PORT}); its {endpoints} endpoints are the server's ports; the other N - 1 Services have {endpoints} stand-in endpoints each"
        ),
        ..Default::default()
    };
    let mut paths = Vec::new();
    for (k, &(layout, size)) in plan.iter().enumerate() {
        let node = nodes[k].clone();
        let client = knet_topology::pod_net(&bench_uid(node.index), first_pod_ip(&node)?);
        bounded(
            "adding a client pod",
            knet_topology::add_pod(&dp, net, &node, &client),
        )
        .await?;
        let mut snap = bench_snapshot(size, endpoints, Some(server.ip), net.cluster_cidr);
        snap.node_ips = vec![node.ip];
        let node_ns = bounded("opening a node", dp.netns(&node.netns())).await?;
        eprintln!(
            "  {} with {size} Services on {}...",
            layout.label(),
            node.name
        );
        let t = Instant::now();
        match layout {
            Layout::Knet => {
                let tx = knet_proxy::full_transaction(&knet_proxy::compute(&snap));
                let (_, runs) = nft_full(&node_ns, &tx, &tx.render()).await?;
                if runs > 1 {
                    fig.notes.push(format!(
                        "knet's table with {size} Services was loaded in {runs} nft runs (one transaction was too long for this world's netlink socket)"
                    ));
                }
            }
            Layout::Iptables => {
                let ipt = a
                    .iptables_restore
                    .as_deref()
                    .ok_or_else(|| anyhow!("no iptables-restore"))?;
                let input = iptables_restore_input(&snap, Restore::Initial);
                if let Err(e) = run_in_ns(&node_ns, ipt, INITIAL_RESTORE_ARGS, &input).await {
                    fig.notes.push(format!(
                        "kube-proxy iptables layout with {size} Services not loaded: {}",
                        iptables_failure(&e)
                    ));
                    continue;
                }
            }
        }
        let load = t.elapsed();
        eprintln!("    {}", secs_or_ms(ms(load)));
        paths.push(ProxyPath {
            layout,
            services: size,
            vip: SocketAddrV4::new(cluster_ip(size - 1), SERVICE_PORT),
            node,
            client,
            load,
        });
    }
    let count = a.connections as usize;
    commands.push(format!(
        "first packet: per path, a client pod on the proxy's node connects to the test Service's cluster IP:{SERVICE_PORT}; the server pod {} listens on the endpoint ports; {WARMUP_CONNECTS} warm-up connects per path, then {count} measured per path, paths interleaved connect by connect (rotating order); each connect(2) timed, then close with SO_LINGER 0 (RST, no TIME_WAIT)",
        server.ip
    ));
    let mut targets = Vec::new();
    for p in &paths {
        let ns = bounded("opening a client pod", dp.netns(&p.client.netns)).await?;
        targets.push((ns, p.vip));
    }
    eprintln!(
        "  {} paths, {count} connects each, interleaved...",
        targets.len()
    );
    let series = tokio::task::spawn_blocking(move || {
        for (ns, vip) in &targets {
            wait_connectable(ns, *vip)?;
        }
        let _ = interleaved_connects(&targets, WARMUP_CONNECTS)?;
        interleaved_connects(&targets, count)
    })
    .await??;
    for (p, s) in paths.iter().zip(series) {
        fig.paths.push(PathFigures {
            layout: p.layout,
            services: p.services,
            node: p.node.name.clone(),
            client: format!("{} ({})", p.client.ip, p.client.netns),
            load_ms: ms(p.load),
            connects: s.connects,
            errors: s.errors,
            connect_p50_us: s.p50_us,
            connect_p99_us: s.p99_us,
            conns_per_s: s.conns_per_s,
        });
    }
    fig.accepts_per_port = accepts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    for t in acceptors {
        t.abort();
    }
    Ok(fig)
}

/// A TCP socket made in `ns`: connect gives up after 1 s, close sends a reset (SO_LINGER 0), so
/// that no TIME_WAIT piles up and the client's ports are reused at once.
fn client_sockets(ns: &Netns, n: usize) -> Result<Vec<OwnedFd>> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, setsockopt, socket, sockopt};
    let made = ns.run_in(|| {
        (0..n)
            .map(|_| {
                let fd = socket(
                    AddressFamily::Inet,
                    SockType::Stream,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )?;
                setsockopt(&fd, sockopt::SendTimeout, &TimeVal::new(1, 0))?;
                setsockopt(
                    &fd,
                    sockopt::Linger,
                    &libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    },
                )?;
                Ok::<_, nix::Error>(fd)
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(made?)
}

/// Waits (at most 10 s) until `vip` accepts connections from `ns`: the table and routes work.
fn wait_connectable(ns: &Netns, vip: SocketAddrV4) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fds = client_sockets(ns, 1)?;
        let sa = nix::sys::socket::SockaddrIn::from(vip);
        let last = match fds.first() {
            Some(fd) => nix::sys::socket::connect(fd.as_raw_fd(), &sa),
            None => bail!("no socket"),
        };
        match last {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                bail!("{vip} does not accept connections from {}: {e}", ns.name())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Connect times and rate of one path.
#[derive(Debug, Clone, Default, PartialEq)]
struct Series {
    connects: u64,
    errors: u64,
    p50_us: f64,
    p99_us: f64,
    conns_per_s: f64,
}

/// `count` connects per target, interleaved one by one in a rotating order so that every path
/// sees the same machine at the same moments. Each connect is timed; the close (a reset) counts
/// toward the rate.
fn interleaved_connects(targets: &[(Netns, SocketAddrV4)], count: usize) -> Result<Vec<Series>> {
    const BATCH: usize = 200;
    let p = targets.len();
    let mut connect: Vec<Vec<Duration>> = vec![Vec::with_capacity(count); p];
    let mut busy = vec![Duration::ZERO; p];
    let mut errors = vec![0u64; p];
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut done = 0;
    while done < count {
        if Instant::now() > deadline {
            bail!("{done} of {count} connect rounds after 600 s");
        }
        let n = BATCH.min(count - done);
        // Sockets are made ahead, a batch at a time: making one enters the namespace on a new
        // thread, which stays out of the timing.
        let mut fds: Vec<std::vec::IntoIter<OwnedFd>> = Vec::with_capacity(p);
        for (ns, _) in targets {
            fds.push(client_sockets(ns, n)?.into_iter());
        }
        for round in 0..n {
            for k in 0..p {
                let side = (done + round + k) % p;
                let Some(fd) = fds[side].next() else {
                    bail!("ran out of sockets");
                };
                let sa = nix::sys::socket::SockaddrIn::from(targets[side].1);
                let t = Instant::now();
                let r = nix::sys::socket::connect(fd.as_raw_fd(), &sa);
                let c = t.elapsed();
                drop(fd);
                busy[side] += t.elapsed();
                match r {
                    Ok(()) => connect[side].push(c),
                    Err(_) => errors[side] += 1,
                }
            }
        }
        done += n;
    }
    Ok((0..p)
        .map(|side| {
            let mut v = std::mem::take(&mut connect[side]);
            v.sort();
            Series {
                connects: v.len() as u64,
                errors: errors[side],
                p50_us: percentile(&v, 0.50).as_secs_f64() * 1e6,
                p99_us: percentile(&v, 0.99).as_secs_f64() * 1e6,
                conns_per_s: if busy[side].is_zero() {
                    0.0
                } else {
                    count as f64 / busy[side].as_secs_f64()
                },
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// `knet bench proxy`: on the host

fn joined(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// `knet bench proxy`.
pub(super) async fn run(a: &ProxyArgs) -> Result<()> {
    if knet_netns::nft_program().is_none() {
        bail!("nft not found: apt-get install nftables");
    }
    if a.first_packet_services.len() > 4 {
        bail!("--first-packet-services takes at most 4 sizes");
    }
    let exe = std::env::current_exe().context("finding the knet executable")?;
    let ipt = super::find_program("iptables-restore");
    let ipt_version = match &ipt {
        Some(p) => std::process::Command::new(p)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
        None => None,
    };
    let started = jiff::Timestamp::now();
    let mut worker_cmd = vec![
        "bench".to_string(),
        "proxy-worker".into(),
        "--services".into(),
        joined(&a.services),
        "--endpoints".into(),
        a.endpoints.to_string(),
        "--changes".into(),
        a.changes.to_string(),
        "--iptables-changes".into(),
        a.iptables_changes.to_string(),
        "--first-packet-services".into(),
        joined(&a.first_packet_services),
        "--connections".into(),
        a.connections.to_string(),
    ];
    if a.user_namespace {
        worker_cmd.push("--user-namespace".into());
    }
    if let Some(p) = &ipt {
        worker_cmd.push("--iptables-restore".into());
        worker_cmd.push(p.display().to_string());
    }
    let worker = run_worker(&exe, &worker_cmd).await;
    if let Err(e) = &worker {
        eprintln!("the worker failed: {e:#}");
    }
    print_report(
        a,
        &started,
        &exe,
        &worker_cmd,
        ipt_version.as_deref(),
        &worker,
    );
    worker.map(|_| ())
}

async fn run_worker(exe: &Path, args: &[String]) -> Result<WorkerReport> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(args)
        .env("KNET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = cmd.spawn().context("starting `knet bench proxy-worker`")?;
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
// The report: a markdown block for docs/benchmarks.md

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn secs_or_ms(v_ms: f64) -> String {
    if v_ms >= 1000.0 {
        format!("{:.2} s", v_ms / 1000.0)
    } else {
        format!("{v_ms:.1} ms")
    }
}

/// A load time, with the number of `nft` runs when it took more than one.
fn with_runs(time: String, runs: usize) -> String {
    if runs > 1 {
        format!("{time} ({runs} nft runs, not atomic)")
    } else {
        time
    }
}

fn print_report(
    a: &ProxyArgs,
    started: &jiff::Timestamp,
    exe: &Path,
    worker_cmd: &[String],
    ipt_version: Option<&str>,
    worker: &Result<WorkerReport>,
) {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = render_report(&mut s, a, started, exe, worker_cmd, ipt_version, worker);
    out!("{s}");
}

fn render_report(
    s: &mut String,
    a: &ProxyArgs,
    started: &jiff::Timestamp,
    exe: &Path,
    worker_cmd: &[String],
    ipt_version: Option<&str>,
    worker: &Result<WorkerReport>,
) -> std::fmt::Result {
    writeln!(s)?;
    writeln!(s, "## knet bench proxy")?;
    writeln!(s)?;
    writeln!(s, "```sh")?;
    writeln!(
        s,
        "knet bench proxy --services {} --endpoints {} --changes {} --iptables-changes {} --first-packet-services {} --connections {}{}",
        joined(&a.services),
        a.endpoints,
        a.changes,
        a.iptables_changes,
        joined(&a.first_packet_services),
        a.connections,
        if a.user_namespace {
            " --user-namespace"
        } else {
            ""
        }
    )?;
    writeln!(s, "```")?;
    writeln!(s)?;
    let peer = ipt_version.map_or_else(
        || "no iptables-restore found: no kube-proxy peer".to_string(),
        |v| format!("kube-proxy peer loaded with the `iptables` binary: {v}"),
    );
    writeln!(
        s,
        "Run {} on {}; {peer}; nftables through `nft -f -`.",
        started.strftime("%Y-%m-%d %H:%M UTC"),
        super::machine()
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
    for c in &w.commands {
        writeln!(s, "- {c}")?;
    }
    render_programming(s, a, w)?;
    render_first_packet(s, w)?;
    Ok(())
}

fn render_programming(s: &mut String, a: &ProxyArgs, w: &WorkerReport) -> std::fmt::Result {
    writeln!(s)?;
    writeln!(
        s,
        "### 1. Programming: one changed Service ({} endpoints each; one endpoint address replaced per change)",
        a.endpoints
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "knet: time from \"snapshot changed\" to `nft` exit, on the node agent's path (`Proxier::apply` of the changed Service port → element-level transaction → render → `nft -f -`), {} changes per size; full load into an empty namespace and full resync over the loaded table.",
        a.changes
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "| Services | chains / rules / elements | full load | full resync | one change p50 | p99 | max | p50 split: update / transaction+render / nft | largest change |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|")?;
    for p in &w.programming {
        writeln!(
            s,
            "| {} | {} / {} / {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} / {:.1} / {:.1} ms | {} ops, {} B{} |",
            thousands(p.services),
            p.chains,
            p.rules,
            thousands(p.elements),
            with_runs(secs_or_ms(p.load.total_ms()), p.load_runs),
            with_runs(secs_or_ms(p.resync.total_ms()), p.resync_runs),
            p.change_total.p50_ms,
            p.change_total.p99_ms,
            p.change_total.max_ms,
            p.change_compute.p50_ms,
            p.change_diff.p50_ms,
            p.change_nft.p50_ms,
            p.change_ops_max,
            p.change_bytes_max,
            if p.full_fallbacks > 0 {
                format!(", {} full fallbacks", p.full_fallbacks)
            } else {
                String::new()
            }
        )?;
    }
    writeln!(s)?;
    writeln!(
        s,
        "Full load split (compute+index / full transaction+render / nft): {}",
        w.programming
            .iter()
            .map(|p| format!(
                "{}: {:.0} / {:.0} / {:.0} ms",
                thousands(p.services),
                p.load.compute_ms,
                p.load.diff_ms,
                p.load.nft_ms
            ))
            .collect::<Vec<_>>()
            .join("; ")
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "Starting nft from the benchmark process (an empty `nft -f -` after each change, p50): {}",
        w.programming
            .iter()
            .map(|p| format!(
                "{}: {:.1} ms",
                thousands(p.services),
                p.change_nft_noop.p50_ms
            ))
            .collect::<Vec<_>>()
            .join("; ")
    )?;
    writeln!(s)?;
    let ipt: Vec<&Programming> = w
        .programming
        .iter()
        .filter(|p| p.iptables.is_some())
        .collect();
    if !ipt.is_empty() {
        writeln!(
            s,
            "kube-proxy's iptables layout, same Services (`iptables-restore`; a change, with `--noflush`, rewrites KUBE-SERVICES in full plus the changed Service's chains, as kube-proxy's partial sync does; time = render + restore):"
        )?;
        writeln!(s)?;
        writeln!(
            s,
            "| Services | chains / rules | full load | changes | one change p50 | p99 | max |"
        )?;
        writeln!(s, "|---|---|---|---|---|---|---|")?;
        for p in &ipt {
            if let Some(i) = &p.iptables {
                writeln!(
                    s,
                    "| {} | {} / {} | {} | {} | {} | {} | {} |",
                    thousands(p.services),
                    thousands(i.chains),
                    thousands(i.rules),
                    secs_or_ms(i.load_ms),
                    i.changes,
                    secs_or_ms(i.change.p50_ms),
                    secs_or_ms(i.change.p99_ms),
                    secs_or_ms(i.change.max_ms)
                )?;
            }
        }
        writeln!(s)?;
    }
    for p in &w.programming {
        if let Some(note) = &p.iptables_note {
            writeln!(
                s,
                "- iptables layout at {} Services: {note}",
                thousands(p.services)
            )?;
        }
    }
    if w.programming.iter().any(|p| p.iptables_note.is_some()) {
        writeln!(s)?;
    }
    let at_target = w
        .programming
        .iter()
        .find(|p| p.services == CHANGE_TARGET_SERVICES);
    match at_target {
        Some(p) => writeln!(
            s,
            "Target: one change at 10,000 Services under {CHANGE_TARGET_MS} ms p99: {} ({:.1} ms).",
            super::met(p.change_total.p99_ms < CHANGE_TARGET_MS),
            p.change_total.p99_ms
        )?,
        None => writeln!(
            s,
            "Target: one change at 10,000 Services under {CHANGE_TARGET_MS} ms p99: not judged (no run at 10,000)."
        )?,
    }
    if let (Some(first), Some(last)) = (w.programming.first(), w.programming.last())
        && last.services > first.services
    {
        writeln!(
            s,
            "Growth from {} to {} Services ({:.0}x): one change p50 {:.2}x, p99 {:.2}x; nft alone p50 {:.2}x.",
            thousands(first.services),
            thousands(last.services),
            last.services as f64 / first.services as f64,
            ratio(last.change_total.p50_ms, first.change_total.p50_ms),
            ratio(last.change_total.p99_ms, first.change_total.p99_ms),
            ratio(last.change_nft.p50_ms, first.change_nft.p50_ms)
        )?;
    }
    Ok(())
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

fn render_first_packet(s: &mut String, w: &WorkerReport) -> std::fmt::Result {
    writeln!(s)?;
    writeln!(s, "### 2. First packet through a ClusterIP")?;
    writeln!(s)?;
    let f = match (&w.first_packet, &w.first_packet_error) {
        (Some(f), _) => f,
        (None, e) => {
            writeln!(s, "Failed: {}", e.as_deref().unwrap_or("no figures"))?;
            return Ok(());
        }
    };
    writeln!(
        s,
        "Client pod on a proxy node → ClusterIP → DNAT → server pod {} (host-gw routes over the LAN); {}. One proxy node per (layout, size), all paths measured in the same loop.",
        f.server, f.vip_note
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "| layout | Services | table load | connects (errors) | connections/s | connect p50 | connect p99 |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|")?;
    for p in &f.paths {
        writeln!(
            s,
            "| {} | {} | {} | {} ({}) | {:.0} | {:.0} µs | {:.0} µs |",
            p.layout.label(),
            thousands(p.services),
            secs_or_ms(p.load_ms),
            p.connects,
            p.errors,
            p.conns_per_s,
            p.connect_p50_us,
            p.connect_p99_us
        )?;
    }
    writeln!(s)?;
    let total: u64 = f.accepts_per_port.iter().sum();
    writeln!(
        s,
        "The server accepted {total} connections; per endpoint port: {}.",
        f.accepts_per_port
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" / ")
    )?;
    for layout in [Layout::Knet, Layout::Iptables] {
        let mine: Vec<&PathFigures> = f.paths.iter().filter(|p| p.layout == layout).collect();
        let (Some(small), Some(large)) = (
            mine.iter().min_by_key(|p| p.services),
            mine.iter().max_by_key(|p| p.services),
        ) else {
            continue;
        };
        if small.services == large.services {
            continue;
        }
        let p50 = ratio(large.connect_p50_us, small.connect_p50_us) - 1.0;
        let rate = ratio(large.conns_per_s, small.conns_per_s) - 1.0;
        write!(
            s,
            "{}: at {} Services against {}: connect p50 {:+.1}%, p99 {:+.1}%, connections/s {:+.1}%",
            layout.label(),
            thousands(large.services),
            thousands(small.services),
            p50 * 100.0,
            (ratio(large.connect_p99_us, small.connect_p99_us) - 1.0) * 100.0,
            rate * 100.0
        )?;
        if layout == Layout::Knet {
            let ok = p50 <= FIRST_PACKET_TOLERANCE && -rate <= FIRST_PACKET_TOLERANCE;
            write!(
                s,
                ". Target: within {:.0}% (p50 and rate): {}",
                FIRST_PACKET_TOLERANCE * 100.0,
                super::met(ok)
            )?;
        }
        writeln!(s, ".")?;
        writeln!(s)?;
    }
    for note in &f.notes {
        writeln!(s, "- note: {note}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr() -> ipnet::Ipv4Net {
        "10.244.0.0/16".parse().unwrap()
    }

    #[test]
    fn the_last_service_is_the_server_and_the_others_are_stand_ins() {
        let server = Ipv4Addr::new(10, 244, 5, 2);
        let s = bench_snapshot(3, 2, Some(server), cidr());
        let (last_key, (last, eps)) = s.services.iter().next_back().unwrap();
        assert_eq!(last_key, &service_key(2));
        assert_eq!(last.cluster_ip, Ipv4Addr::new(10, 96, 0, 18));
        let dests: Vec<(Ipv4Addr, u16)> = eps.iter().map(|e| (e.ip, e.port)).collect();
        assert_eq!(dests, [(server, 8080), (server, 8081)]);
        let (_, first_eps) = &s.services[&service_key(0)];
        assert_eq!(first_eps[1].ip, Ipv4Addr::new(100, 64, 0, 2));
        let r = knet_proxy::compute(&s);
        assert_eq!(r.conflicts().len(), 0);
        // Three Services of two endpoints: one lb-2 chain, whatever the Service count.
        assert_eq!(
            r.chain_count(),
            knet_proxy::compute(&bench_snapshot(1, 2, None, cidr())).chain_count()
        );
    }

    #[test]
    fn a_change_replaces_one_endpoint_with_a_fresh_address_and_diffs_incrementally() {
        let mut s = bench_snapshot(100, 10, None, cidr());
        let mut proxier = knet_proxy::Proxier::new();
        assert!(proxier.full(&s).full);
        let c = replace_endpoint(&mut s, 100, 10, 0).unwrap();
        assert_ne!(c.old, c.new);
        let (_, eps) = &s.services[&c.key];
        assert!(eps.iter().any(|e| (e.ip, e.port) == c.new));
        assert!(!eps.iter().any(|e| (e.ip, e.port) == c.old));
        let changes = proxier.apply(&s, &std::collections::BTreeSet::from([c.key.clone()]));
        assert_eq!(changes.destinations(), 1);
        let tx = proxier.transaction(&changes);
        assert!(!tx.full);
        assert_eq!(proxier.ruleset(), Some(&knet_proxy::compute(&s)));
        let script = tx.render();
        assert!(script.contains(&format!("{} . {}", c.new.0, c.new.1)));
        // Another change picks another Service and another new address.
        let c2 = replace_endpoint(&mut s, 100, 10, 1).unwrap();
        assert_ne!(c2.key, c.key);
        assert_ne!(c2.new, c.new);
    }

    #[test]
    fn the_iptables_layout_puts_the_newest_service_last_before_the_nodeport_jump() {
        let s = bench_snapshot(3, 3, Some(Ipv4Addr::new(10, 244, 5, 2)), cidr());
        let input = iptables_restore_input(&s, Restore::Initial);
        let services: Vec<&str> = input
            .lines()
            .filter(|l| l.starts_with("-A KUBE-SERVICES"))
            .collect();
        assert_eq!(services.len(), 4);
        assert!(services[2].contains("-d 10.96.0.18/32 --dport 80"));
        assert!(services[2].ends_with(&svc_chain(&service_key(2))));
        assert!(services[3].contains("--dst-type LOCAL -j KUBE-NODEPORTS"));
        // 1/3, 1/2, then the last endpoint unconditionally, as kube-proxy writes them.
        let svc = svc_chain(&service_key(2));
        let choices: Vec<&str> = input
            .lines()
            .filter(|l| l.starts_with(&format!("-A {svc} ")) && l.contains("KUBE-SEP-"))
            .collect();
        assert_eq!(choices.len(), 3);
        assert!(choices[0].contains("--probability 0.3333333333"));
        assert!(choices[1].contains("--probability 0.5000000000"));
        assert!(!choices[2].contains("statistic"));
        assert!(input.contains("-j DNAT --to-destination 10.244.5.2:8082"));
        // Chains: 5 filter + 4 nat top-level, then per Service 1 + 3; rules grow with Services.
        let (chains, rules) = restore_counts(&input);
        assert_eq!(chains, 9 + 3 * 4);
        assert!(rules > 3 * (1 + 1 + 3 + 6));
        assert!(
            input
                .lines()
                .all(|l| !l.starts_with(':') || l.len() <= 1 + 28 + 8)
        );
    }

    #[test]
    fn a_partial_restore_rewrites_the_top_level_and_only_the_changed_service() {
        let mut s = bench_snapshot(50, 4, None, cidr());
        let c = replace_endpoint(&mut s, 50, 4, 3).unwrap();
        let stale = [sep_chain(&c.key, c.old)];
        let input = iptables_restore_input(
            &s,
            Restore::Partial {
                service: &c.key,
                stale: &stale,
            },
        );
        let declared: Vec<&str> = input
            .lines()
            .filter(|l| l.starts_with(":KUBE-SVC-"))
            .collect();
        assert_eq!(declared, [format!(":{} - [0:0]", svc_chain(&c.key))]);
        assert_eq!(
            input
                .lines()
                .filter(|l| l.starts_with("-A KUBE-SERVICES"))
                .count(),
            51
        );
        assert!(input.contains(&format!(":{} - [0:0]\n", stale[0])));
        assert!(input.contains(&format!("-X {}\n", stale[0])));
        assert!(input.contains(&format!("{} -> {}:{}", c.key.0, c.new.0, c.new.1)));
        assert!(!input.contains("-A PREROUTING"));
    }

    #[test]
    fn chain_names_are_distinct_per_service_and_endpoint() {
        let a = service_key(1);
        let b = service_key(2);
        assert_ne!(svc_chain(&a), svc_chain(&b));
        let ep = (Ipv4Addr::new(192, 0, 2, 1), 8080);
        assert_ne!(sep_chain(&a, ep), sep_chain(&b, ep));
        assert_ne!(sep_chain(&a, ep), sep_chain(&a, (ep.0, 8081)));
        assert_eq!(svc_chain(&a).len(), 25);
    }

    #[test]
    fn service_ips_are_counted_from_an_nft_listing() {
        let listing = "table ip knet-proxy {\n\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n\t\telements = { 10.96.0.16 . tcp . 80 : goto cluster-ip, 10.96.0.17 . tcp . 80 : goto cluster-ip,\n\t\t\t     10.96.0.18 . tcp . 80 : goto cluster-ip }\n\t}\n}\n";
        assert_eq!(count_service_ips(listing), 3);
    }

    #[test]
    fn report_numbers_read_well() {
        assert_eq!(thousands(30000), "30,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(secs_or_ms(12.34), "12.3 ms");
        assert_eq!(secs_or_ms(2500.0), "2.50 s");
        let p = Pctl::of(&[
            Duration::from_millis(3),
            Duration::from_millis(1),
            Duration::from_millis(2),
        ]);
        assert_eq!((p.p50_ms, p.max_ms), (2.0, 3.0));
    }
}
