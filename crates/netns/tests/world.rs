//! The world sandbox, seen from the host. `enter_world` must be called while a process has one thread, so each
//! trial re-executes this test binary with `KNET_NETNS_PROBE=<mode>`: `main` then enters the world before anything
//! else runs and reports on stdout (one JSON line), and the trial checks the report and the host around it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use knet_netns::{
    BridgeSpec, Dataplane, KernelDataplane, Netns, VethSpec, WorldOptions, enter_world, in_world,
    nft_apply,
};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};

const PROBE: &str = "KNET_NETNS_PROBE";
const FORCE_USERNS: &str = "KNET_NETNS_PROBE_USERNS";

fn main() {
    if let Ok(mode) = std::env::var(PROBE) {
        probe(&mode);
    }
    // Orphaned world children (after a SIGKILL of their supervisor) are reparented to this process, which reaps
    // them, instead of to the host's init.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let args = Arguments::from_args();
    let root = nix::unistd::geteuid().is_root();
    let setpriv = Path::new("/usr/bin/setpriv").exists();
    let trials = vec![
        Trial::test(
            "enter_world makes the caller root and pid 1 in fresh namespaces with a private run netns",
            enter_world_makes_the_caller_root_and_pid_1_in_fresh_namespaces,
        ),
        Trial::test(
            "a listener bound before enter_world serves the host from inside the world",
            a_listener_bound_before_enter_world_serves_the_host,
        ),
        Trial::test(
            "the supervisor exits with the world child's exit code",
            the_supervisor_exits_with_the_child_exit_code,
        ),
        Trial::test(
            "sigterm to the supervisor reaches the world child",
            sigterm_to_the_supervisor_reaches_the_child,
        ),
        Trial::test(
            "killing the supervisor with sigkill leaves no process behind",
            killing_the_supervisor_with_sigkill_leaves_no_process_behind,
        ),
        Trial::test(
            "enter_world refuses a process that already runs threads",
            enter_world_refuses_a_multithreaded_process,
        ),
        Trial::test(
            "a forced user namespace gives root a rootless world that builds networks",
            a_forced_user_namespace_gives_a_rootless_world,
        ),
        Trial::test(
            "an unprivileged user gets a world of its own that builds networks",
            an_unprivileged_user_gets_a_world_that_builds_networks,
        )
        .with_ignored_flag(!(root && setpriv)),
        Trial::test(
            "nothing is left on the host after the world is killed mid-work",
            nothing_is_left_on_the_host_after_the_world_is_killed,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}

// ---------------------------------------------------------------------------------------------------------------
// Probe side: runs in the re-executed binary, single-threaded until enter_world returns.

fn probe(mode: &str) -> ! {
    if mode == "threads" {
        let _t = std::thread::spawn(|| std::thread::sleep(Duration::from_secs(5)));
        let err = enter_world(WorldOptions::default()).unwrap_err();
        println!("{}", json!({ "error": err.to_string() }));
        std::process::exit(0);
    }
    // Bound on the host's loopback before entering: the world child inherits it.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = WorldOptions {
        force_user_namespace: std::env::var_os(FORCE_USERNS).is_some(),
        ..Default::default()
    };
    let world = enter_world(opts).unwrap();
    match mode {
        "report" => {
            let _world_ns = Netns::attach_current("world").unwrap();
            let rt = tokio::runtime::Runtime::new().unwrap();
            let links = rt.block_on(KernelDataplane::new().links("world")).unwrap();
            let lo_up = links.iter().any(|l| l.name == "lo" && l.up);
            let fs_type = nix::sys::statfs::statfs("/run/netns")
                .unwrap()
                .filesystem_type();
            let report = json!({
                "uid": nix::unistd::getuid().as_raw(),
                "gid": nix::unistd::getgid().as_raw(),
                "pid": std::process::id(),
                "netns": std::fs::read_link("/proc/self/ns/net").unwrap().to_string_lossy(),
                "run_netns_tmpfs": fs_type == nix::sys::statfs::TMPFS_MAGIC,
                "run_netns": Netns::list().unwrap(),
                "in_world": in_world(),
                "hostname": nix::unistd::gethostname().unwrap().to_string_lossy(),
                "lo_up": lo_up,
                "links": links.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
                "supervisor_pid": world.supervisor_pid,
                "user_namespace": world.user_namespace,
                "outer_uid": world.outer_uid,
                "fresh_proc": world.fresh_proc,
                "proc_pids": std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).count(),
                "port": port,
            });
            println!("{report}");
            std::io::stdout().flush().unwrap();
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(b"hello from the world\n").unwrap();
            std::process::exit(0);
        }
        m if m.starts_with("exit:") => std::process::exit(m[5..].parse().unwrap()),
        "term" => {
            let mut set = nix::sys::signal::SigSet::empty();
            set.add(nix::sys::signal::Signal::SIGTERM);
            set.thread_block().unwrap();
            println!("{}", json!({ "ready": true }));
            std::io::stdout().flush().unwrap();
            let sig = set.wait().unwrap();
            std::process::exit(if sig == nix::sys::signal::Signal::SIGTERM {
                42
            } else {
                1
            });
        }
        "sleep" => {
            // Never waited for: the test kills the whole world around it.
            #[allow(clippy::zombie_processes)]
            let sleeper = Command::new("sleep").arg("1000").spawn().unwrap();
            println!("{}", json!({ "sleep_pid_inside": sleeper.id() }));
            std::io::stdout().flush().unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        "dataplane" | "dataplane-hold" => {
            let report = build_a_small_network();
            println!("{report}");
            std::io::stdout().flush().unwrap();
            if mode == "dataplane-hold" {
                loop {
                    std::thread::sleep(Duration::from_secs(60));
                }
            }
            std::process::exit(0);
        }
        other => panic!("unknown probe mode {other}"),
    }
}

/// Two namespaces joined by a bridge and veths, TCP between them, an nft table: the things a leak would leave.
fn build_a_small_network() -> Value {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dp = KernelDataplane::new();
        for ns in ["hub", "a", "b"] {
            dp.create_netns(ns).await.unwrap();
        }
        dp.create_bridge("hub", &BridgeSpec::new("br0")).await.unwrap();
        dp.set_up("hub", "br0").await.unwrap();
        for (ns, veth, ip) in [("a", "veth-a", "10.250.200.1/24"), ("b", "veth-b", "10.250.200.2/24")] {
            dp.create_veth_pair("hub", &VethSpec::new(veth, "eth0", Some(ns.to_string()))).await.unwrap();
            dp.attach_to_bridge("hub", veth, "br0").await.unwrap();
            dp.set_up("hub", veth).await.unwrap();
            dp.set_up(ns, "eth0").await.unwrap();
            dp.add_address(ns, "eth0", ip.parse().unwrap()).await.unwrap();
        }
        let a = dp.netns("a").await.unwrap();
        let b = dp.netns("b").await.unwrap();
        let script = "table inet knet_probe {\n  chain out {\n    type filter hook output priority 0;\n  }\n}\n";
        let nft = nft_apply(&a, script).await;
        let server = SocketAddr::from(SocketAddrV4::new(Ipv4Addr::new(10, 250, 200, 2), 7000));
        let exchange = tokio::task::spawn_blocking(move || common::tcp_echo(&b, server, &a, 4096)).await.unwrap();
        json!({
            "uid": nix::unistd::getuid().as_raw(),
            "netns": Netns::list().unwrap(),
            "tcp_peer": exchange.seen_by_server.ip().to_string(),
            "nft": nft.map(|()| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
        })
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Host side.

/// A running probe (the supervisor process). Dropping it kills the supervisor with SIGKILL and reaps the world
/// child too (this harness is a child subreaper, so orphans come back to it): nothing outlives a trial, even a
/// failed one.
struct Probe {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Probe {
    fn spawn(cmd: &mut Command) -> Probe {
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Probe { child, out }
    }

    /// The next line of the probe's stdout, as JSON.
    fn report(&mut self) -> Value {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("probe said {line:?}: {e}"))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// SIGKILL to the supervisor; returns the world child's host pid (now ours to reap) after reaping both.
    fn kill9(&mut self) -> Vec<u32> {
        let world = children_of(self.pid());
        let _ = self.child.kill();
        let _ = self.child.wait();
        world
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let world = self.kill9();
            wait_gone(&world);
        }
    }
}

fn probe_command(mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(PROBE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg().into()) }
}

fn own_netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn enter_world_makes_the_caller_root_and_pid_1_in_fresh_namespaces() -> Result<(), Failed> {
    let mut probe = Probe::spawn(&mut probe_command("report"));
    let report = probe.report();
    TcpStream::connect(("127.0.0.1", report["port"].as_u64().unwrap() as u16)).unwrap();
    let status = probe.wait();
    check(report["uid"] == 0 && report["gid"] == 0, || {
        format!("not root inside: {report}")
    })?;
    check(report["pid"] == 1, || format!("not pid 1: {report}"))?;
    check(
        report["netns"].as_str() != Some(own_netns().as_str()),
        || format!("same netns as the host: {report}"),
    )?;
    check(report["run_netns_tmpfs"] == true, || {
        format!("/run/netns is not a tmpfs: {report}")
    })?;
    check(report["run_netns"] == json!(["world"]), || {
        format!("/run/netns holds more than ours: {report}")
    })?;
    check(report["in_world"] == true, || {
        format!("in_world() is false: {report}")
    })?;
    check(report["hostname"] == "knet", || {
        format!("hostname: {report}")
    })?;
    check(
        report["lo_up"] == true && report["links"] == json!(["lo"]),
        || format!("links: {report}"),
    )?;
    check(report["supervisor_pid"] == probe.pid(), || {
        format!("supervisor pid {} vs {report}", probe.pid())
    })?;
    check(report["fresh_proc"] == true, || {
        format!("no fresh /proc: {report}")
    })?;
    check(report["proc_pids"].as_u64().unwrap() <= 2, || {
        format!("/proc shows host processes: {report}")
    })?;
    check(status.success(), || format!("probe exited with {status}"))?;
    check(!Path::new("/run/netns/world").exists(), || {
        "the host sees the world's /run/netns/world".into()
    })
}

fn a_listener_bound_before_enter_world_serves_the_host() -> Result<(), Failed> {
    let mut probe = Probe::spawn(&mut probe_command("report"));
    let port = probe.report()["port"].as_u64().unwrap() as u16;
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut greeting = String::new();
    conn.read_to_string(&mut greeting).unwrap();
    let status = probe.wait();
    check(greeting == "hello from the world\n", || {
        format!("greeting {greeting:?}")
    })?;
    check(status.success(), || format!("probe exited with {status}"))
}

fn the_supervisor_exits_with_the_child_exit_code() -> Result<(), Failed> {
    let status = probe_command("exit:7").status().unwrap();
    check(status.code() == Some(7), || {
        format!("supervisor exited with {status}")
    })
}

fn sigterm_to_the_supervisor_reaches_the_child() -> Result<(), Failed> {
    let mut probe = Probe::spawn(&mut probe_command("term"));
    let report = probe.report();
    check(report["ready"] == true, || format!("{report}"))?;
    let pid = nix::unistd::Pid::from_raw(probe.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = probe.wait();
    check(status.code() == Some(42), || {
        format!("supervisor exited with {status}, want the child's 42")
    })
}

/// Host pids whose parent is `ppid`, from `/proc/*/status`.
fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        if status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["PPid:", &ppid.to_string()])
        {
            out.push(pid);
        }
    }
    out
}

/// Alive = exists and is not a zombie. Zombies that are ours (we are a subreaper) are reaped on the way.
fn alive(pid: u32) -> bool {
    let _ = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(pid as i32),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pids: &[u32]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn killing_the_supervisor_with_sigkill_leaves_no_process_behind() -> Result<(), Failed> {
    let mut probe = Probe::spawn(&mut probe_command("sleep"));
    let report = probe.report();
    check(report["sleep_pid_inside"] == 2, || {
        format!("the sleeper is not pid 2 inside: {report}")
    })?;
    let world = children_of(probe.pid());
    check(world.len() == 1, || {
        format!("supervisor children: {world:?}")
    })?;
    let sleepers = children_of(world[0]);
    check(sleepers.len() == 1, || {
        format!("world children: {sleepers:?}")
    })?;
    let cmdline = std::fs::read_to_string(format!("/proc/{}/cmdline", sleepers[0])).unwrap();
    check(cmdline.starts_with("sleep\0"), || {
        format!("grandchild is {cmdline:?}")
    })?;
    probe.kill9();
    check(wait_gone(&[world[0], sleepers[0]]), || {
        format!(
            "still alive 10 s after kill -9 of the supervisor: world {} sleep {}",
            world[0], sleepers[0]
        )
    })?;
    // Reaped, not merely dead: the pids are free again.
    check(!Path::new(&format!("/proc/{}", world[0])).exists(), || {
        format!("world child {} is a zombie", world[0])
    })
}

fn enter_world_refuses_a_multithreaded_process() -> Result<(), Failed> {
    let mut probe = Probe::spawn(&mut probe_command("threads"));
    let report = probe.report();
    probe.wait();
    let error = report["error"].as_str().unwrap_or_default();
    check(
        error.starts_with("enter the world: the process has 2 threads"),
        || format!("error: {error:?}"),
    )
}

fn check_small_network(report: &Value) -> Result<(), Failed> {
    check(report["tcp_peer"] == "10.250.200.1", || {
        format!("tcp: {report}")
    })?;
    check(report["nft"] == "ok", || format!("nft: {report}"))?;
    check(report["netns"] == json!(["a", "b", "hub"]), || {
        format!("netns: {report}")
    })
}

fn a_forced_user_namespace_gives_a_rootless_world() -> Result<(), Failed> {
    let mut probe = Probe::spawn(probe_command("report").env(FORCE_USERNS, "1"));
    let report = probe.report();
    TcpStream::connect(("127.0.0.1", report["port"].as_u64().unwrap() as u16)).unwrap();
    probe.wait();
    check(
        report["user_namespace"] == true && report["uid"] == 0,
        || format!("{report}"),
    )?;
    check(
        report["run_netns_tmpfs"] == true && report["pid"] == 1,
        || format!("{report}"),
    )?;
    let mut probe = Probe::spawn(probe_command("dataplane").env(FORCE_USERNS, "1"));
    let report = probe.report();
    let status = probe.wait();
    check(status.success(), || format!("probe exited with {status}"))?;
    check_small_network(&report)
}

/// As `nobody` (setpriv from util-linux): the rootless path for real, /run copy-up included when the host has no
/// /run/netns.
fn an_unprivileged_user_gets_a_world_that_builds_networks() -> Result<(), Failed> {
    let as_nobody = |mode: &str| {
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .env(PROBE, mode)
            .current_dir("/")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        cmd
    };
    let mut probe = Probe::spawn(&mut as_nobody("report"));
    let report = probe.report();
    TcpStream::connect(("127.0.0.1", report["port"].as_u64().unwrap() as u16)).unwrap();
    probe.wait();
    check(report["uid"] == 0 && report["outer_uid"] == 65534, || {
        format!("{report}")
    })?;
    check(
        report["user_namespace"] == true && report["pid"] == 1,
        || format!("{report}"),
    )?;
    check(
        report["run_netns_tmpfs"] == true && report["lo_up"] == true,
        || format!("{report}"),
    )?;
    let mut probe = Probe::spawn(&mut as_nobody("dataplane"));
    let report = probe.report();
    let status = probe.wait();
    check(status.success(), || format!("probe exited with {status}"))?;
    check_small_network(&report)
}

fn nothing_is_left_on_the_host_after_the_world_is_killed() -> Result<(), Failed> {
    let before = common::host_snapshot();
    let mut probe = Probe::spawn(&mut probe_command("dataplane-hold"));
    let report = probe.report();
    check_small_network(&report)?;
    let world = probe.kill9();
    check(wait_gone(&world), || {
        format!("world child {world:?} survived kill -9 of its supervisor")
    })?;
    let after = common::host_snapshot();
    check(before == after, || {
        format!("the host changed:\n{}", common::diff(&before, &after))
    })
}
