//! `knet`: a Kubernetes cluster whose networking is real, on one Linux machine.
//! This binary is the CLI and, as `knet serve`, the control-plane process.
#![forbid(unsafe_code)]

/// `print!` that ends the process quietly when stdout is a closed pipe (`knet get pods | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// `println!` counterpart of [`out!`].
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {{ out!($($arg)*); out!("\n"); }};
}

mod apply;
mod bench;
mod client;
mod cluster;
mod demo;
mod exec;
mod expose;
mod get;
mod resources;
mod sandbox_exec;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "knet",
    version,
    about = "Kubernetes networking, for real, on one machine",
    long_about = "knet runs a small Kubernetes-compatible cluster on this machine: an API server that kubectl \
talks to, controllers (scheduler, Deployments, ReplicaSets, node IPAM, garbage collection) and nodes.\n\n\
Start with `knet up`, then use `knet` or `kubectl` with the kubeconfig it prints.",
    after_help = "Examples:\n  knet up\n  knet apply -f app.yaml\n  knet get pods -o wide\n  knet expose deploy/web --port 80 --target-port 8080 --type NodePort\n  knet get svc,endpointslices\n  knet describe deploy/web\n  knet down"
)]
struct Cli {
    /// Name of the cluster to act on.
    #[arg(long, global = true, env = "KNET_CLUSTER", default_value = "knet")]
    cluster: String,
    /// Use this kubeconfig instead of the cluster's own.
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a cluster (in the background unless --foreground) and print its kubeconfig.
    Up(UpArgs),
    /// Start a cluster if none is up, run a Deployment of the built-in network test server, and show its pods answering each other.
    Demo,
    /// Stop the cluster and delete its state.
    Down {
        /// Keep the store, certificates and kubeconfig, so that `knet up` brings the same cluster back.
        #[arg(long)]
        keep_state: bool,
    },
    /// Run the control plane in this process (what `knet up` starts).
    #[command(hide = true)]
    Serve(ServeArgs),
    /// Create or update objects from manifests (client-side apply, like kubectl apply).
    Apply(ManifestArgs),
    /// Create objects from manifests.
    Create(ManifestArgs),
    /// List objects as tables, YAML or JSON.
    Get(GetArgs),
    /// Show one or more objects in detail, with their events.
    Describe(DescribeArgs),
    /// Delete objects by manifest, by name, by label or all of a type.
    Delete(DeleteArgs),
    /// Create a Service for a deployment, replica set, pod or service (like kubectl expose).
    #[command(
        long_about = "Create a Service for a deployment, replica set, pod or service, like kubectl expose.\n\n\
The Service selects the object's pods: a Deployment's or ReplicaSet's spec.selector.matchLabels \
(a selector with matchExpressions cannot be a Service selector: give --selector), a Pod's labels, a \
Service's selector. Without --port, the object's container ports are used (all of them when there are \
several). Without --labels, the Service gets the object's labels.",
        after_help = "Examples:\n  knet expose deploy/web --port 80 --target-port 8080\n  knet expose deployment web --port 80 --type NodePort\n  knet expose pod/client --port 9000 --protocol UDP --name client-udp\n  knet expose svc/web --port 443 --target-port https --name web-tls\n  knet expose deploy/web --port 80 --dry-run=client -o yaml"
    )]
    Expose(ExposeArgs),
    /// Run a command in a pod's container (its network, hostname, /etc/hosts and environment).
    Exec(ExecArgs),
    /// Print a container's log (like kubectl logs).
    Logs(LogsArgs),
    /// Print the client and server versions.
    Version,
    /// Print the path of the cluster's kubeconfig (or its content with --print).
    Kubeconfig {
        /// Print the kubeconfig itself.
        #[arg(long)]
        print: bool,
    },
    /// Run a built-in image (what a container with that image runs), e.g. `knet image netexec --http-port 8080`.
    #[command(disable_help_flag = true)]
    Image {
        /// netexec, client, agnhost, serve-hostname, pause, sleep.
        name: String,
        /// The image's own arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a program inside a pod sandbox (what the node agent starts for each container).
    #[command(hide = true)]
    SandboxExec(sandbox_exec::SandboxExecArgs),
    /// Benchmarks (not tests): measure knet against targets and peers.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Args, Debug)]
struct UpArgs {
    /// Number of worker nodes (besides the control-plane node).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=50))]
    nodes: u8,
    /// Stay in the foreground (Ctrl-C stops the cluster).
    #[arg(long)]
    foreground: bool,
    /// API server port on 127.0.0.1 (default: the port used before, else a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// How long to wait for the cluster to be ready, in seconds.
    #[arg(long, default_value_t = 60)]
    wait: u64,
    /// How pod traffic crosses between nodes: host-gw (routes over the LAN) or vxlan (an overlay).
    #[arg(long, default_value = "host-gw")]
    overlay: knet_topology::Overlay,
    /// DNS server (IP[:PORT], repeatable) the cluster DNS forwards names outside cluster.local
    /// to. It must be reachable from the cluster's LAN, e.g. a server in the `external`
    /// namespace (172.18.0.254); the machine's own resolvers are not (knet's network has no route
    /// to it). Without one, such names are refused.
    #[arg(long = "upstream-dns", value_name = "IP[:PORT]", value_parser = parse_dns_server)]
    upstream_dns: Vec<std::net::SocketAddr>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[arg(long, default_value = "knet")]
    name: String,
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value = "host-gw")]
    overlay: knet_topology::Overlay,
    #[arg(long = "upstream-dns", value_parser = parse_dns_server)]
    upstream_dns: Vec<std::net::SocketAddr>,
}

/// `IP` or `IP:PORT` (port 53 by default).
fn parse_dns_server(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    s.parse::<std::net::SocketAddr>()
        .map_err(|_| format!("{s:?} is not IP or IP:PORT"))
}

#[derive(Args, Debug)]
struct ManifestArgs {
    /// File, directory or `-` (stdin) holding manifests; repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<String>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Namespace for objects that name none.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// `server`: have the server validate and default without storing; `none` (default).
    #[arg(long, default_value = "none", value_parser = ["none", "server"])]
    dry_run: String,
}

#[derive(Args, Debug)]
struct ScopeArgs {
    /// Namespace (default: `default`).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// All namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Label selector, e.g. `app=web,tier!=db`.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Field selector, e.g. `spec.nodeName=knet-worker`.
    #[arg(long)]
    field_selector: Option<String>,
}

impl ScopeArgs {
    fn scope(&self) -> get::Scope {
        get::Scope {
            namespace: self.namespace.clone(),
            all_namespaces: self.all_namespaces,
            selector: self.selector.clone(),
            field_selector: self.field_selector.clone(),
        }
    }
}

#[derive(Args, Debug)]
struct GetArgs {
    /// TYPE[,TYPE...] [NAME...] or TYPE/NAME...
    #[arg(required = true)]
    resources: Vec<String>,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Output format: wide, yaml, json, name.
    #[arg(short = 'o', long)]
    output: Option<get::Output>,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    watch: bool,
    /// Show labels as the last column.
    #[arg(long)]
    show_labels: bool,
    /// Print no header line.
    #[arg(long)]
    no_headers: bool,
}

#[derive(Args, Debug)]
struct ExposeArgs {
    /// TYPE NAME or TYPE/NAME; TYPE is deployment (deploy), replicaset (rs), pod (po) or service (svc).
    #[arg(required = true, num_args = 1..=2, value_name = "TYPE/NAME")]
    resource: Vec<String>,
    /// Port(s) the Service serves on, e.g. 80 or 80,443 (default: the object's container ports).
    #[arg(long)]
    port: Option<String>,
    /// Container port (number or name) the Service sends traffic to (default: the same as --port).
    #[arg(long)]
    target_port: Option<String>,
    /// TCP (default), UDP or SCTP (default: the object's protocol for that port, else TCP).
    #[arg(long)]
    protocol: Option<expose::Protocol>,
    /// ClusterIP (default), NodePort or LoadBalancer.
    #[arg(long = "type", value_name = "TYPE")]
    service_type: Option<expose::ServiceType>,
    /// Name of the Service (default: the object's name).
    #[arg(long)]
    name: Option<String>,
    /// Pod selector, key=value[,key=value...] (default: the object's).
    #[arg(long)]
    selector: Option<String>,
    /// Labels of the Service, key=value[,key=value...] (default: the object's labels).
    #[arg(short = 'l', long)]
    labels: Option<String>,
    /// ClusterIP to ask for; `None` makes a headless Service.
    #[arg(long)]
    cluster_ip: Option<String>,
    /// None or ClientIP.
    #[arg(long)]
    session_affinity: Option<expose::SessionAffinity>,
    /// Namespace of the object and the Service (default: `default`).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// `client` (also a bare --dry-run): print the Service without creating it; `server`: have the
    /// server check it, default it and allocate its addresses without storing it.
    #[arg(
        long,
        default_value = "none",
        value_parser = ["none", "client", "server"],
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client"
    )]
    dry_run: String,
    /// Print the Service as yaml or json, or its name.
    #[arg(short = 'o', long, value_parser = ["yaml", "json", "name"])]
    output: Option<String>,
}

#[derive(Args, Debug)]
struct DescribeArgs {
    /// TYPE [NAME...] or TYPE/NAME...
    #[arg(required = true)]
    resources: Vec<String>,
    #[command(flatten)]
    scope: ScopeArgs,
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// The pod (or pod/NAME).
    pod: String,
    /// The container (default: the first).
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// Namespace (default: `default`).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Keep stdin open (accepted for kubectl compatibility: stdin is always passed through).
    #[arg(short = 'i', long)]
    stdin: bool,
    /// Allocate a terminal (accepted: the command runs on your terminal).
    #[arg(short = 't', long)]
    tty: bool,
    /// The command and its arguments, after `--`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct LogsArgs {
    /// The pod.
    pod: String,
    /// The container (needed when the pod has several).
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// Namespace (default: `default`).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Keep printing as the container writes.
    #[arg(short = 'f', long)]
    follow: bool,
    /// The previous (terminated) instance of the container.
    #[arg(short = 'p', long)]
    previous: bool,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<usize>,
    /// Prefix each line with its timestamp.
    #[arg(long)]
    timestamps: bool,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    /// TYPE NAME..., TYPE/NAME..., or TYPE with --all or -l.
    resources: Vec<String>,
    /// Delete what these manifests name.
    #[arg(short = 'f', long = "filename")]
    files: Vec<String>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    recursive: bool,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Delete every object of the type in the namespace.
    #[arg(long)]
    all: bool,
    /// Not finding an object is not an error.
    #[arg(long)]
    ignore_not_found: bool,
    /// Wait until the objects are gone.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    wait: bool,
}

fn kubeconfig(cli: &Cli) -> PathBuf {
    cli.kubeconfig
        .clone()
        .unwrap_or_else(|| cluster::kubeconfig_path(&cli.cluster))
}

async fn run(cli: Cli) -> Result<bool> {
    match &cli.command {
        Command::Up(a) => {
            cluster::up(cluster::UpOptions {
                serve: cluster::ServeOptions {
                    name: cli.cluster.clone(),
                    nodes: usize::from(a.nodes),
                    port: a.port,
                    overlay: a.overlay,
                    upstream_dns: a.upstream_dns.clone(),
                },
                foreground: a.foreground,
                wait: Duration::from_secs(a.wait),
            })
            .await?;
            Ok(true)
        }
        Command::Demo => {
            demo::run(&cli.cluster).await?;
            Ok(true)
        }
        Command::Down { keep_state } => {
            cluster::down(&cli.cluster, *keep_state).await?;
            Ok(true)
        }
        Command::Serve(_) => Ok(true),
        Command::Apply(a) | Command::Create(a) => {
            let c = client::connect(&kubeconfig(&cli)).await?;
            let mode = if matches!(cli.command, Command::Apply(_)) {
                apply::Mode::Apply
            } else {
                apply::Mode::Create
            };
            let opts = apply::ManifestOptions {
                files: a.files.clone(),
                recursive: a.recursive,
                namespace: a.namespace.clone(),
                dry_run: a.dry_run == "server",
                ..Default::default()
            };
            apply::run(&c, mode, &opts).await
        }
        Command::Get(a) => {
            let c = client::connect(&kubeconfig(&cli)).await?;
            let opts = get::GetOptions {
                output: a.output.unwrap_or(get::Output::Table),
                watch: a.watch,
                show_labels: a.show_labels,
                no_headers: a.no_headers,
            };
            get::get(&c, &a.resources, &a.scope.scope(), &opts).await
        }
        Command::Expose(a) => {
            let c = client::connect(&kubeconfig(&cli)).await?;
            let opts = expose::ExposeOptions {
                resource: a.resource.clone(),
                namespace: a.namespace.clone(),
                flags: expose::ExposeFlags {
                    port: a.port.clone(),
                    target_port: a.target_port.clone(),
                    protocol: a.protocol,
                    service_type: a.service_type,
                    name: a.name.clone(),
                    selector: a.selector.clone(),
                    labels: a.labels.clone(),
                    cluster_ip: a.cluster_ip.clone(),
                    session_affinity: a.session_affinity,
                },
                dry_run: match a.dry_run.as_str() {
                    "client" => expose::DryRun::Client,
                    "server" => expose::DryRun::Server,
                    _ => expose::DryRun::None,
                },
                output: a
                    .output
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
            };
            expose::run(&c, &opts).await
        }
        Command::Describe(a) => {
            let c = client::connect(&kubeconfig(&cli)).await?;
            get::describe(&c, &a.resources, &a.scope.scope()).await
        }
        Command::Delete(a) => {
            let c = client::connect(&kubeconfig(&cli)).await?;
            let opts = apply::ManifestOptions {
                files: a.files.clone(),
                recursive: a.recursive,
                namespace: a.scope.namespace.clone(),
                ignore_not_found: a.ignore_not_found,
                wait: a.wait,
                ..Default::default()
            };
            if !a.files.is_empty() {
                if !a.resources.is_empty() {
                    anyhow::bail!("give either -f or resource names, not both");
                }
                apply::run(&c, apply::Mode::Delete, &opts).await
            } else {
                apply::delete_named(&c, &a.resources, &a.scope.scope(), a.all, &opts).await
            }
        }
        Command::Exec(a) => {
            let c = client::connect(&kubeconfig(&cli)).await?;
            let code = exec::exec(
                &c,
                &cli.cluster,
                a.namespace.as_deref().unwrap_or("default"),
                &a.pod,
                a.container.as_deref(),
                &a.command,
            )
            .await?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(true)
        }
        Command::Logs(a) => {
            let c = client::connect(&kubeconfig(&cli)).await?;
            let pod = a
                .pod
                .strip_prefix("pod/")
                .or_else(|| a.pod.strip_prefix("pods/"))
                .unwrap_or(&a.pod);
            let mut path = format!(
                "/api/v1/namespaces/{}/pods/{}/log?follow={}&previous={}&timestamps={}",
                a.namespace.as_deref().unwrap_or("default"),
                pod,
                a.follow,
                a.previous,
                a.timestamps
            );
            if let Some(container) = &a.container {
                path.push_str(&format!("&container={}", get::urlencode(container)));
            }
            if let Some(n) = a.tail {
                path.push_str(&format!("&tailLines={n}"));
            }
            let req = http::Request::builder().uri(path).body(Vec::new())?;
            let mut stream = c.request_stream(req).await?;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = futures::AsyncReadExt::read(&mut stream, &mut buf).await?;
                if n == 0 {
                    break;
                }
                out!("{}", String::from_utf8_lossy(&buf[..n]));
            }
            Ok(true)
        }
        Command::Version => {
            outln!("Client Version: v{} (knet)", env!("CARGO_PKG_VERSION"));
            match client::connect(&kubeconfig(&cli)).await {
                Ok(c) => match c.apiserver_version().await {
                    Ok(v) => outln!("Server Version: {}", v.git_version),
                    Err(e) => eprintln!("Server Version: unknown ({e})"),
                },
                Err(_) => eprintln!("Server Version: no cluster is up (run `knet up`)"),
            }
            Ok(true)
        }
        Command::Kubeconfig { print } => {
            let path = kubeconfig(&cli);
            if *print {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {} (is the cluster up?)", path.display()))?;
                out!("{text}");
            } else {
                if !path.exists() {
                    anyhow::bail!("{} does not exist: run `knet up` first", path.display());
                }
                outln!("{}", path.display());
            }
            Ok(true)
        }
        Command::Image { .. } | Command::SandboxExec(_) => Ok(true),
        Command::Bench(b) => {
            bench::run(b, &cli.cluster).await?;
            Ok(true)
        }
    }
}

/// `knet serve`: bind the API port on the host, enter the world (while single-threaded), then run
/// the control plane, the nodes and their pods inside it.
fn serve_main(a: &ServeArgs) -> ExitCode {
    let listener = match cluster::bind_host_listener(&a.name, a.port) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let world = match knet_netns::enter_world(knet_netns::WorldOptions::default()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: entering knet's own namespaces: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging("info");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = cluster::ServeOptions {
        name: a.name.clone(),
        nodes: a.nodes,
        port: a.port,
        overlay: a.overlay,
        upstream_dns: a.upstream_dns.clone(),
    };
    match runtime.block_on(cluster::serve(opts, listener, world)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default_level: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KNET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::SandboxExec(a) = &cli.command {
        // Namespace changes need a single-threaded process: no runtime, no logging threads.
        return match sandbox_exec::run(a) {
            Ok(never) => match never {},
            Err(e) => {
                eprintln!("knet sandbox-exec: {e:#}");
                ExitCode::from(127)
            }
        };
    }
    if let Command::Serve(a) = &cli.command {
        return serve_main(a);
    }
    if let Command::Image { name, args } = &cli.command {
        // Built-in images run their own runtime and own the process.
        let code = knet_images::run(name, args);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let serving = matches!(cli.command, Command::Serve(_))
        || matches!(&cli.command, Command::Up(a) if a.foreground);
    let default_level = if serving { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KNET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            match e.chain().find_map(|c| c.downcast_ref::<kube::Error>()) {
                Some(k @ kube::Error::Api(_)) => eprintln!("{}", client::describe_error(k)),
                _ => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
