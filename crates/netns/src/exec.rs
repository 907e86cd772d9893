//! Running programs inside a network namespace: any program, and `nft -f -`.
//!
//! Two ways in. [`command_in`] gives a `Command` whose child joins the namespace between fork and
//! exec (a `pre_exec` hook); any hook makes std fork the whole process, page tables and all,
//! which costs tens of milliseconds in a large process. [`spawn_in`] starts the child from a
//! short-lived thread that has joined the namespace itself (namespaces are per thread, and a
//! child inherits the network namespace of the thread that creates it), with no hook, so std
//! uses `posix_spawn` (`clone(CLONE_VM | CLONE_VFORK)`: nothing is copied). The thread is this
//! module's own and ends with the spawn: no runtime thread ever leaves the caller's namespace.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use nix::sched::{CloneFlags, setns};
use tokio::io::AsyncWriteExt;

use crate::{Netns, NetnsError};

/// A command that runs `program args...` inside `netns`'s network namespace (and otherwise in the caller's
/// namespaces: same mount namespace, so `/sys` still shows the caller's links; use netlink, as `ip` and `nft` do).
///
/// The child joins the namespace with `setns(2)` between fork and exec, so no helper program is involved and the
/// namespace need not be named; `ip netns exec NAME` also works inside the world, at the cost of one more exec.
/// The `pre_exec` hook this needs makes std `fork()` the whole process: where starting the program is on a hot
/// path of a large process, use [`spawn_in`] instead.
pub fn command_in<I, S>(netns: &Netns, program: impl AsRef<OsStr>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    enter_before_exec(&mut command, netns.shared_fd());
    command
}

#[allow(unsafe_code)]
fn enter_before_exec(command: &mut Command, fd: Arc<OwnedFd>) {
    // SAFETY: `pre_exec` closures run in the forked child, where only async-signal-safe work is allowed. This one
    // makes a single setns(2) system call on a descriptor kept open by the `Arc` the closure owns (the parent's
    // copy lives as long as the `Command`, and fork duplicates it into the child), and turns a failure into an
    // `io::Error` from the raw errno, which does not allocate. It takes no lock and touches no shared state.
    unsafe {
        command
            .pre_exec(move || setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from));
    }
}

/// Why [`start_in`] failed: joining the namespace, or starting the program.
enum StartError {
    Enter(NetnsError),
    Spawn(io::Error),
}

/// What the spawning thread failed at.
enum Spawned {
    NoSetns(nix::errno::Errno),
    Failed(io::Error),
}

/// Starts `command` inside `netns`'s network namespace without forking this process: see the module's doc. The
/// child belongs to the caller's tokio runtime as if spawned there (`kill_on_drop`, `wait`, pipes). The command
/// must not carry a `pre_exec` hook (that would bring the fork back). Errors name the namespace and, for a
/// program that cannot be started, the program.
pub async fn spawn_in(
    netns: &Netns,
    command: tokio::process::Command,
) -> Result<tokio::process::Child, NetnsError> {
    let program = command.as_std().get_program().to_owned();
    start_in(netns, command).await.map_err(|e| match e {
        StartError::Enter(e) => e,
        StartError::Spawn(source) => NetnsError::Namespace {
            name: netns.name().to_string(),
            op: "start a program",
            source: io::Error::new(
                source.kind(),
                format!("{}: {source}", Path::new(&program).display()),
            ),
        },
    })
}

async fn start_in(
    netns: &Netns,
    mut command: tokio::process::Command,
) -> Result<tokio::process::Child, StartError> {
    let ns_err = |op, source| {
        StartError::Enter(NetnsError::Namespace {
            name: netns.name().to_string(),
            op,
            source,
        })
    };
    // tokio registers the child with the runtime's driver (for `wait` and `kill_on_drop`), so the spawning thread
    // must be inside the runtime's context.
    let rt = tokio::runtime::Handle::try_current()
        .map_err(|e| ns_err("start a program (no tokio runtime)", io::Error::other(e)))?;
    let fd = netns.shared_fd();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("knet-netns-spawn".into())
        .spawn(move || {
            // This thread is ours alone and ends below, so it may stay in the namespace it joins.
            let started = match setns(fd.as_fd(), CloneFlags::CLONE_NEWNET) {
                Ok(()) => {
                    let _entered = rt.enter();
                    command.spawn().map_err(Spawned::Failed)
                }
                Err(errno) => Err(Spawned::NoSetns(errno)),
            };
            // If the caller went away, dropping the child kills it when it asked for `kill_on_drop`.
            let _ = tx.send(started);
        })
        .map_err(|e| ns_err("spawn a thread", e))?;
    match rx.await {
        Ok(Ok(child)) => Ok(child),
        Ok(Err(Spawned::NoSetns(errno))) => Err(ns_err("setns", errno.into())),
        Ok(Err(Spawned::Failed(e))) => Err(StartError::Spawn(e)),
        Err(_) => Err(ns_err(
            "start a program (the spawning thread panicked)",
            io::Error::other("panic"),
        )),
    }
}

/// `name` in `PATH`, then in `/usr/sbin` and `/sbin`, which an unprivileged user's `PATH` often lacks.
fn find_sbin_program(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    path_dirs
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The `nft` binary (package nftables), found once.
pub fn nft_program() -> Option<&'static Path> {
    static NFT: OnceLock<Option<PathBuf>> = OnceLock::new();
    NFT.get_or_init(|| find_sbin_program("nft")).as_deref()
}

/// The `conntrack` binary (package conntrack, conntrack-tools), found once.
pub fn conntrack_program() -> Option<&'static Path> {
    static CONNTRACK: OnceLock<Option<PathBuf>> = OnceLock::new();
    CONNTRACK
        .get_or_init(|| find_sbin_program("conntrack"))
        .as_deref()
}

/// Applies an nftables script inside `netns` with `nft -f -`: one transaction, all or nothing. Requires the
/// `nftables` package ([`NetnsError::NftMissing`] otherwise); nft's error output is returned in
/// [`NetnsError::Nft`].
pub async fn nft_apply(netns: &Netns, script: &str) -> Result<(), NetnsError> {
    let nft = nft_program().ok_or(NetnsError::NftMissing)?;
    let mut command = tokio::process::Command::new(nft);
    command
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let spawn_err = |source| NetnsError::NftSpawn {
        ns: netns.name().to_string(),
        source,
    };
    // Started without forking this process (see the module's doc): in a process holding a large table, a fork
    // cost more than the transaction.
    let mut child = match start_in(netns, command).await {
        Ok(child) => child,
        Err(StartError::Enter(e)) => return Err(e),
        Err(StartError::Spawn(e)) => return Err(spawn_err(e)),
    };
    let stdin = child.stdin.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            stdin.write_all(script.as_bytes()).await?;
            stdin.shutdown().await?;
        }
        Ok::<(), io::Error>(())
    };
    let (fed, output) = tokio::join!(feed, child.wait_with_output());
    let output = output.map_err(spawn_err)?;
    if !output.status.success() {
        return Err(NetnsError::Nft {
            ns: netns.name().to_string(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    // nft succeeded, so it read the whole script; a write error here would be a bug worth seeing.
    fed.map_err(spawn_err)
}
