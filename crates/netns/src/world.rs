//! The world: the namespaces a knet process lives in, so that nothing it builds touches the host.
//!
//! ```text
//!  host (pid N, uid U)                      enter_world()
//!   │ not root: unshare(USER), uid_map "0 U 1", gid_map "0 G 1", setgroups deny
//!   │ unshare(MNT | NET | PID | UTS | IPC), mount --make-rprivate /
//!   │ fork ───────────────────────────────┐
//!   ▼                                     ▼
//!  supervisor (host pid N)               world child: PID 1 of the new pid namespace
//!   forwards SIGTERM/SIGINT/SIGHUP/       PR_SET_PDEATHSIG(SIGKILL), fresh /proc, tmpfs on /run/netns,
//!   SIGQUIT, SIGKILLs on a second         lo up, hostname; returns WorldChild and runs the program
//!   SIGTERM/SIGINT, exits with the        (API server, agents, pods' namespaces and processes)
//!   child's code
//! ```
//!
//! `kill -9` of the supervisor kills the child (parent-death signal); the death of a pid namespace's first process
//! kills every process in it, and with them go every namespace, link, route, nftables table and mount they held.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::NetnsError;
use crate::netns::RUN_NETNS;

static IN_WORLD: AtomicBool = AtomicBool::new(false);

/// What [`enter_world`] sets up besides the fixed namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldOptions {
    /// Hostname inside the world's UTS namespace; default `knet`. `None` keeps the host's name.
    pub hostname: Option<String>,
    /// Existing directories to cover with a fresh tmpfs inside the world (scratch space that vanishes with it).
    pub tmpfs: Vec<PathBuf>,
    /// Create a user namespace (uid 0 inside mapped to the caller's uid) even when already root. The default
    /// (`false`) creates one only when not root. Tests use it to run the rootless path as root.
    pub force_user_namespace: bool,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            hostname: Some("knet".to_string()),
            tmpfs: Vec::new(),
            force_user_namespace: false,
        }
    }
}

/// What the world child learns from [`enter_world`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldChild {
    /// Host pid of the supervisor (the process that called `enter_world`), read before the new pid namespace.
    pub supervisor_pid: u32,
    /// Whether the world has its own user namespace (rootless, or [`WorldOptions::force_user_namespace`]).
    pub user_namespace: bool,
    /// The caller's effective uid outside the world (root inside is mapped to it when `user_namespace`).
    pub outer_uid: u32,
    /// The caller's effective gid outside the world.
    pub outer_gid: u32,
    /// Whether a fresh `/proc` for the new pid namespace could be mounted (a host may forbid it to user
    /// namespaces; the old one still serves `/proc/self` and `/proc/sys/net`, only `ps` sees host processes).
    pub fresh_proc: bool,
}

/// Whether this process is a world child: it returned from [`enter_world`].
///
/// Programs started inside the world are inside it too, but only know it if told (e.g. by an environment variable
/// the world child sets on the commands it spawns).
pub fn in_world() -> bool {
    IN_WORLD.load(Ordering::SeqCst)
}

/// Moves the calling process into a world of its own: user (when not root), mount, network, pid, UTS and IPC
/// namespaces, then forks. It returns only in the child, PID 1 of the new pid namespace; the calling process
/// becomes the supervisor and never returns from this function (it exits with the child's exit code, or
/// 128 + signal number if the child was killed).
///
/// Call it first thing in `main`, while the process has a single thread: before any async runtime, thread pool or
/// logging thread. The function refuses otherwise ([`NetnsError::MultiThreaded`]).
///
/// Sockets opened before the call keep the namespace they were created in, and the world child inherits them. This
/// is how the API server stays reachable from the host: bind the listener on the host's `127.0.0.1` first, then
/// enter the world, then serve on the inherited listener:
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = std::net::TcpListener::bind("127.0.0.1:6443")?; // host loopback
/// let world = knet_netns::enter_world(knet_netns::WorldOptions::default())?; // from here on: PID 1, own netns
/// listener.set_nonblocking(true)?;
/// let rt = tokio::runtime::Runtime::new()?;
/// rt.block_on(async move {
///     let listener = tokio::net::TcpListener::from_std(listener)?; // accepts connections from the host
///     # let _ = (world, listener);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok(()) }
/// ```
///
/// The child is PID 1 of its pid namespace, so the kernel drops signals it has no handler for, even SIGTERM from
/// the supervisor: install handlers (`tokio::signal`) for SIGTERM and SIGINT. A second SIGTERM/SIGINT to the
/// supervisor is escalated to SIGKILL. Orphaned processes are reparented to the child, which should reap them.
///
/// Errors before the fork are returned in the calling process; errors after it are returned in the child (which
/// should then exit: the supervisor exits with the same code).
pub fn enter_world(opts: WorldOptions) -> Result<WorldChild, NetnsError> {
    if in_world() {
        return Err(world_err(
            "enter twice",
            io::Error::from(io::ErrorKind::AlreadyExists),
        ));
    }
    let threads = count_threads().map_err(|e| world_err("count threads in /proc/self/task", e))?;
    if threads != 1 {
        return Err(NetnsError::MultiThreaded { threads });
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let user_namespace = uid != 0 || opts.force_user_namespace;
    if user_namespace {
        unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| world_err("unshare(CLONE_NEWUSER)", e.into()))?;
        // Without "deny" an unprivileged process may not write gid_map (user_namespaces(7)).
        fs::write("/proc/self/setgroups", "deny")
            .map_err(|e| world_err("write /proc/self/setgroups", e))?;
        fs::write("/proc/self/uid_map", format!("0 {uid} 1\n"))
            .map_err(|e| world_err("write /proc/self/uid_map", e))?;
        fs::write("/proc/self/gid_map", format!("0 {gid} 1\n"))
            .map_err(|e| world_err("write /proc/self/gid_map", e))?;
    }
    let supervisor_pid = std::process::id();
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC,
    )
    .map_err(|e| {
        world_err(
            "unshare(CLONE_NEWNS|CLONE_NEWNET|CLONE_NEWPID|CLONE_NEWUTS|CLONE_NEWIPC)",
            e.into(),
        )
    })?;
    // Nothing mounted from here on propagates back to the host's mount namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| world_err("make / recursively private", e.into()))?;

    // Block the signals the supervisor forwards before forking, so that none is lost (or kills the supervisor with
    // its default action) between the fork and the supervisor's first sigwait. The child restores the old mask.
    let mut forwarded = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
    ] {
        forwarded.add(sig);
    }
    let old_mask = forwarded
        .thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .map_err(|e| world_err("block signals", e.into()))?;
    // The child learns that the supervisor died before PR_SET_PDEATHSIG took effect when this pipe reads EOF.
    let (death_r, death_w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK) {
        Ok(p) => p,
        Err(e) => {
            let _ = old_mask.thread_set_mask();
            return Err(world_err("pipe2", e.into()));
        }
    };
    // Output buffered now would be written twice, by both processes.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    match fork_single_threaded() {
        Err(e) => {
            let _ = old_mask.thread_set_mask();
            Err(world_err("fork", e.into()))
        }
        Ok(ForkResult::Parent { child }) => {
            drop(death_r);
            supervise(child, &forwarded, death_w)
        }
        Ok(ForkResult::Child) => {
            drop(death_w);
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                .map_err(|e| world_err("prctl(PR_SET_PDEATHSIG)", e.into()))?;
            let mut byte = [0u8; 1];
            if let Ok(0) = nix::unistd::read(&death_r, &mut byte) {
                // EOF: the supervisor is already gone, nobody would ever stop this world.
                std::process::exit(1);
            }
            drop(death_r);
            old_mask
                .thread_set_mask()
                .map_err(|e| world_err("restore the signal mask", e.into()))?;
            let world = WorldChild {
                supervisor_pid,
                user_namespace,
                outer_uid: uid,
                outer_gid: gid,
                fresh_proc: false,
            };
            setup_child(&opts, world)
        }
    }
}

/// `fork(2)`, called only by [`enter_world`] after it checked that the process has a single thread.
#[allow(unsafe_code)]
fn fork_single_threaded() -> nix::Result<ForkResult> {
    // SAFETY: fork is unsound only when other threads exist: the child would inherit locks (allocator, stdio) held
    // by threads that do not exist in it. `enter_world` counted the entries of /proc/self/task just before (and
    // fails closed when it cannot), found exactly one, and starts no thread between that check and this call. The
    // child continues in ordinary Rust code with a single thread, as a process does after exec.
    unsafe { nix::unistd::fork() }
}

fn world_err(step: &'static str, source: io::Error) -> NetnsError {
    NetnsError::World { step, source }
}

fn count_threads() -> io::Result<usize> {
    Ok(fs::read_dir("/proc/self/task")?.count())
}

/// The supervisor's life: forward termination signals to the world child, exit with its status.
fn supervise(child: Pid, signals: &SigSet, _death_w: OwnedFd) -> ! {
    let mut termination_requests = 0u32;
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap(child) {
                    std::process::exit(code);
                }
            }
            Ok(sig) => {
                let escalate = matches!(sig, Signal::SIGTERM | Signal::SIGINT);
                if escalate {
                    termination_requests += 1;
                }
                let send = if escalate && termination_requests > 1 {
                    Signal::SIGKILL
                } else {
                    sig
                };
                tracing::debug!(?sig, ?send, %child, "world supervisor forwards a signal");
                // ESRCH: the child is already gone; its SIGCHLD is pending.
                let _ = kill(child, send);
            }
            Err(Errno::EINTR) => {}
            Err(_) => {
                // sigwait cannot fail with a valid set; fall back to a blocking wait rather than spin.
                let code = loop {
                    match waitpid(child, None) {
                        Err(Errno::EINTR) => continue,
                        Ok(status) => break exit_code(status).unwrap_or(1),
                        Err(_) => break 1,
                    }
                };
                std::process::exit(code);
            }
        }
    }
}

fn reap(child: Pid) -> Option<i32> {
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Err(Errno::EINTR) => continue,
            Err(_) => return Some(1),
            Ok(status) => return exit_code(status),
        }
    }
}

fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// The world child's setup after the fork: /proc, /run/netns, scratch tmpfs, hostname, loopback.
fn setup_child(opts: &WorldOptions, mut world: WorldChild) -> Result<WorldChild, NetnsError> {
    let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        proc_flags,
        None::<&str>,
    ) {
        Ok(()) => world.fresh_proc = true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot mount a fresh /proc in the world; keeping the host's")
        }
    }
    prepare_run_netns()?;
    for dir in &opts.tmpfs {
        mount_tmpfs(dir).map_err(|e| world_err("mount a tmpfs on a scratch directory", e))?;
    }
    if let Some(name) = &opts.hostname {
        nix::unistd::sethostname(name).map_err(|e| world_err("sethostname", e.into()))?;
    }
    loopback_up()?;
    IN_WORLD.store(true, Ordering::SeqCst);
    Ok(world)
}

fn mount_tmpfs(dir: &Path) -> io::Result<()> {
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(io::Error::from)
}

/// Mounts a tmpfs of our own on `/run/netns`, shared within the world as iproute2 makes it, so that a namespace's
/// bind mount removed there also goes away in mount namespaces cloned later (containers), which would otherwise
/// keep the namespace alive.
///
/// When `/run/netns` does not exist it is not created on the host's disk: `/run` is replaced (in the world only)
/// by a tmpfs into which each of its entries is bind-mounted back, and `/run/netns` is made in that tmpfs. This is
/// how rootless container tools "copy up" a directory they cannot write (rootlesskit `--copy-up=/run`).
fn prepare_run_netns() -> Result<(), NetnsError> {
    let run_netns = Path::new(RUN_NETNS);
    if !run_netns.is_dir() {
        copy_up_run().map_err(|e| world_err("copy up /run", e))?;
        fs::create_dir(run_netns).map_err(|e| world_err("create /run/netns", e))?;
    }
    mount_tmpfs(run_netns).map_err(|e| world_err("mount a tmpfs on /run/netns", e))?;
    mount(
        None::<&str>,
        run_netns,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .map_err(|e| world_err("make /run/netns shared", e.into()))?;
    Ok(())
}

fn copy_up_run() -> io::Result<()> {
    let run = Path::new("/run");
    // A handle on the original /run that still reaches it once the tmpfs covers the path.
    let old = nix::fcntl::open(
        run,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let old_path = PathBuf::from(format!("/proc/self/fd/{}", old.as_raw_fd()));
    let entries: Vec<fs::DirEntry> = fs::read_dir(&old_path)?.collect::<Result<_, _>>()?;
    mount_tmpfs(run)?;
    for entry in entries {
        let name = entry.file_name();
        let src = old_path.join(&name);
        let dst = run.join(&name);
        let kind = entry.file_type()?;
        let result = if kind.is_symlink() {
            fs::read_link(&src).and_then(|target| std::os::unix::fs::symlink(target, &dst))
        } else {
            let made = if kind.is_dir() {
                fs::create_dir(&dst)
            } else {
                fs::File::create(&dst).map(drop)
            };
            made.and_then(|()| {
                mount(
                    Some(&src),
                    &dst,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(io::Error::from)
            })
        };
        if let Err(e) = result {
            tracing::warn!(entry = %dst.display(), error = %e, "cannot carry /run entry into the world");
        }
    }
    Ok(())
}

fn loopback_up() -> Result<(), NetnsError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| world_err("start a runtime to bring lo up", e))?;
    let result = rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        crate::rtnl::Rtnl::new(&handle, "world")
            .set_up("lo")
            .await
            .map_err(io::Error::other)
    });
    result.map_err(|e| world_err("bring lo up", e))
}
