//! `knet bench ...`: benchmarks, not tests. They print figures for docs/benchmarks.md.

#[path = "bench_dns.rs"]
mod bench_dns;
#[path = "bench_pods.rs"]
mod bench_pods;
#[path = "bench_proxy.rs"]
mod bench_proxy;
#[path = "bench_proxy_rss.rs"]
mod bench_proxy_rss;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use futures::TryStreamExt;
use serde_json::{Value, json};

/// A benchmark's worker: the arguments of a hidden `knet bench X-worker`, run as soon as they are
/// parsed (see [`WorkerEntry`]).
pub trait Worker: clap::Args + clap::FromArgMatches {
    /// Runs the worker in a process that has one thread; returns its exit code.
    fn main(&self) -> i32;
}

/// `knet bench X-worker`: never constructed. Parsing it runs the worker `W`, while the process
/// still has one thread (`enter_world` needs that), and ends the process with the worker's exit
/// code, before `main` goes on.
pub enum WorkerEntry<W> {
    #[doc(hidden)]
    #[expect(dead_code, reason = "never constructed: parsing ends the process")]
    Never(std::convert::Infallible, std::marker::PhantomData<W>),
}

impl<W> std::fmt::Debug for WorkerEntry<W> {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            WorkerEntry::Never(never, _) => match never {},
        }
    }
}

impl<W: Worker> clap::FromArgMatches for WorkerEntry<W> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let args = W::from_arg_matches(matches)?;
        std::process::exit(args.main())
    }

    fn update_from_arg_matches(&mut self, _matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        match *self {
            WorkerEntry::Never(never, _) => match never {},
        }
    }
}

impl<W: Worker> clap::Args for WorkerEntry<W> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        W::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        W::augment_args_for_update(cmd)
    }
}

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// API server: create objects through the API while a watcher receives them.
    Api {
        /// Objects to create.
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        /// Concurrent writers.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Pods: sandbox setup (knet vs the CNI bridge plugin), pods through the API until Running,
    /// and pod-to-pod traffic across nodes vs node-to-node.
    Pods(bench_pods::PodsArgs),
    /// The part of `bench pods` that runs inside a world of its own.
    #[command(hide = true)]
    PodsWorker(WorkerEntry<bench_pods::WorkerArgs>),
    /// Service proxy: programming time for one changed Service at 1,000 to 30,000 Services, and
    /// first-packet latency through a ClusterIP, against kube-proxy's iptables layout.
    Proxy(bench_proxy::ProxyArgs),
    /// The part of `bench proxy` that runs inside a world of its own.
    #[command(hide = true)]
    ProxyWorker(WorkerEntry<bench_proxy::WorkerArgs>),
    /// Cluster DNS: knet's server against dnsmasq under dnsperf (QPS at saturation, latency,
    /// unpinned and pinned), and the server's memory with 10,000 Services and 50,000 pods.
    Dns(bench_dns::DnsArgs),
    /// The part of `bench dns` that runs inside a world of its own.
    #[command(hide = true)]
    DnsWorker(WorkerEntry<bench_dns::WorkerArgs>),
}

/// Runs a benchmark.
pub async fn run(cmd: &BenchCommand, _cluster: &str) -> Result<()> {
    match cmd {
        BenchCommand::Api {
            objects,
            concurrency,
        } => api(*objects, *concurrency).await,
        BenchCommand::Pods(args) => bench_pods::run(args).await,
        // Parsing `pods-worker` runs it and ends the process: this value never exists.
        BenchCommand::PodsWorker(WorkerEntry::Never(never, _)) => match *never {},
        BenchCommand::Proxy(args) => {
            bench_proxy::run(args).await?;
            if args.rss_services == 0 {
                return Ok(());
            }
            // Part 3: the control-plane process's memory on a real cluster.
            let n = args.rss_services;
            eprintln!("\n== part 3: memory at {n} Services (a real cluster) ==");
            // Twice, with 1 and 3 workers: the difference is what the extra node agents (each
            // with its proxy) hold; the rest of the process is the same in both.
            let small = bench_proxy_rss::measure(n, args.endpoints as usize, 1).await?;
            for line in small.lines() {
                println!("{line}");
            }
            let large = bench_proxy_rss::measure(n, args.endpoints as usize, 3).await?;
            for line in large.lines() {
                println!("{line}");
            }
            if let Some(line) = bench_proxy_rss::per_agent_line(&small, &large) {
                println!("{line}");
            }
            Ok(())
        }
        // As `pods-worker`: parsing `proxy-worker` runs it and ends the process.
        BenchCommand::ProxyWorker(WorkerEntry::Never(never, _)) => match *never {},
        BenchCommand::Dns(args) => bench_dns::run(args).await,
        // As `pods-worker`: parsing `dns-worker` runs it and ends the process.
        BenchCommand::DnsWorker(WorkerEntry::Never(never, _)) => match *never {},
    }
}

/// `name` in `PATH`, then in the system directories an unprivileged user's `PATH` may lack.
fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(std::path::PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The machine a benchmark ran on: cores, CPU model, kernel.
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
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), kernel {kernel}")
}

/// The body of an async benchmark worker (`knet bench X-worker`), once it is in its world: runs
/// `work` on a 2-thread runtime within `limit` and prints its figures as one JSON line after
/// `prefix`, for the parent to read; returns the exit code. Errors go to stderr under `name`.
fn run_async_worker<R, F>(name: &str, prefix: &str, limit: Duration, work: F) -> i32
where
    R: serde::Serialize,
    F: std::future::Future<Output = Result<R>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: starting the async runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async { tokio::time::timeout(limit, work).await });
    let code = match result {
        Ok(Ok(report)) => match serde_json::to_string(&report) {
            Ok(line) => {
                outln!("{prefix}{line}");
                0
            }
            Err(e) => {
                eprintln!("{name}: encoding the figures: {e}");
                1
            }
        },
        Ok(Err(e)) => {
            eprintln!("{name}: {e:#}");
            1
        }
        Err(_) => {
            eprintln!("{name}: not done within {limit:?}");
            1
        }
    };
    rt.shutdown_timeout(Duration::from_secs(2));
    let _ = std::io::Write::flush(&mut std::io::stdout());
    code
}

/// The report's line on the worker: its command line, and root or rootless.
fn worker_line(exe: &std::path::Path, worker_cmd: &[String], user_namespace: bool) -> String {
    format!(
        "Worker: `{} {}`, in a world of its own{}.",
        exe.display(),
        worker_cmd.join(" "),
        if user_namespace {
            " with a user namespace (the rootless path)"
        } else {
            " (root)"
        }
    )
}

/// How a target line reads.
fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// A throw-away control plane in its own state directory, stopped on drop.
struct Server {
    child: std::process::Child,
    dir: tempfile::TempDir,
    name: String,
    /// How it was started, for the report.
    command: String,
    /// Where its output goes, when not to the terminal.
    log: Option<std::path::PathBuf>,
}

impl Server {
    /// The end of the control plane's log, for error messages.
    fn log_tail(&self) -> String {
        let Some(path) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("the end of {}:\n{tail}", path.display())
    }

    /// SIGTERM, then up to 20 s for a clean shutdown (dropping kills it).
    async fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_server() -> Result<Server> {
    start_server_with(0, false).await
}

/// Starts `knet serve --nodes NODES` in a temporary state directory; with `log_to_file`, its
/// output goes to `serve.log` there instead of this terminal. Returns once the pid file exists.
async fn start_server_with(nodes: usize, log_to_file: bool) -> Result<Server> {
    let dir = tempfile::tempdir().context("making a temporary state directory")?;
    let name = format!("bench-{}", std::process::id());
    let exe = std::env::current_exe()?;
    let nodes_arg = nodes.to_string();
    let args = ["serve", "--name", &name, "--nodes", &nodes_arg];
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(args)
        .env("KNET_STATE_DIR", dir.path())
        .env("KNET_LOG", "warn")
        .stdin(std::process::Stdio::null());
    let log = if log_to_file {
        let path = dir.path().join("serve.log");
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        cmd.stdout(file.try_clone()?).stderr(file);
        Some(path)
    } else {
        None
    };
    let child = cmd.spawn().context("starting a control plane")?;
    let command = format!(
        "KNET_STATE_DIR={} KNET_LOG=warn {} {}",
        dir.path().display(),
        exe.display(),
        args.join(" ")
    );
    let mut server = Server {
        child,
        dir,
        name,
        command,
        log,
    };
    let pid_file = server.dir.path().join(&server.name).join("knet.pid");
    let start = Instant::now();
    while !pid_file.exists() {
        if let Ok(Some(status)) = server.child.try_wait() {
            bail!(
                "the control plane exited ({status}) before it was ready; {}",
                server.log_tail()
            );
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!(
                "the control plane did not start within 60 s; {}",
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(server)
}

async fn api(objects: usize, concurrency: usize) -> Result<()> {
    let server = start_server().await?;
    let kubeconfig = server.dir.path().join(&server.name).join("kubeconfig");
    let client = crate::client::connect(&kubeconfig).await?;
    let ns = "bench";
    crate::client::send(
        &client,
        http::Method::POST,
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
        None,
    )
    .await?;
    let list = crate::client::send(
        &client,
        http::Method::GET,
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        None,
        None,
    )
    .await?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();

    // Send times by object name; the watcher computes delivery latency from them.
    let sent: Arc<Mutex<HashMap<String, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(objects)));
    let watch_req = http::Request::builder()
        .uri(format!(
            "/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
        ))
        .body(Vec::new())?;
    let stream = client.request_events::<Value>(watch_req).await?;
    let watch_sent = sent.clone();
    let watcher = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(objects);
        futures::pin_mut!(stream);
        while latencies.len() < objects {
            match tokio::time::timeout(Duration::from_secs(60), stream.try_next()).await {
                Ok(Ok(Some(kube::core::WatchEvent::Added(o)))) => {
                    let now = Instant::now();
                    let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                    let at = watch_sent.lock().ok().and_then(|m| m.get(&name).copied());
                    if let Some(at) = at {
                        latencies.push(now.duration_since(at));
                    }
                }
                Ok(Ok(Some(_))) => {}
                _ => break,
            }
        }
        latencies
    });

    eprintln!("creating {objects} ConfigMaps with {concurrency} writers...");
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let next = next.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= objects {
                    break;
                }
                let name = format!("cm-{i}");
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"bench": "api"}}, "data": {"index": i.to_string()}});
                let t = Instant::now();
                if let Ok(mut m) = sent.lock() {
                    m.insert(name, t);
                }
                crate::client::send(&client, http::Method::POST, &format!("/api/v1/namespaces/{ns}/configmaps"), Some(&body), None).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, kube::Error>(lat)
        }));
    }
    let mut create_lat = Vec::new();
    for t in tasks {
        create_lat.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let mut watch_lat = tokio::time::timeout(Duration::from_secs(120), watcher).await??;
    create_lat.sort();
    watch_lat.sort();
    // `knet serve` is a supervisor whose child, the world process, runs the server.
    let supervisor = server.child.id();
    let world = bench_pods::children_of(supervisor).into_iter().next();
    let rss = peak_rss_kib(world.unwrap_or(supervisor)).unwrap_or(0);
    outln!(
        "knet bench api: {objects} ConfigMaps, {concurrency} concurrent writers, TLS, durable store (fsync per commit group)"
    );
    outln!(
        "  creates/s:                 {:.0}",
        objects as f64 / elapsed.as_secs_f64()
    );
    outln!(
        "  create latency p50 / p99:  {:.2} ms / {:.2} ms",
        ms(percentile(&create_lat, 0.5)),
        ms(percentile(&create_lat, 0.99))
    );
    outln!(
        "  watch events received:     {} of {objects}",
        watch_lat.len()
    );
    outln!(
        "  watch delivery p50 / p99:  {:.2} ms / {:.2} ms  (create sent -> event received)",
        ms(percentile(&watch_lat, 0.5)),
        ms(percentile(&watch_lat, 0.99))
    );
    outln!(
        "  server peak RSS:           {:.1} MiB",
        rss as f64 / 1024.0
    );
    outln!("  targets: >= 2000 creates/s, watch p99 < 50 ms");
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
