//! `knet sandbox-exec`: the last step before a container's program runs. Started by the node agent
//! inside the world, it joins the pod's network namespace, takes a UTS namespace with the pod's
//! hostname and a mount namespace in which the pod's own /etc/hosts and /etc/resolv.conf are
//! bind-mounted (what kubelet and the container runtime do), then executes the program. It runs
//! single-threaded, before any runtime starts, as namespace changes require.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};

/// Options of `knet sandbox-exec`.
#[derive(Args, Debug)]
pub struct SandboxExecArgs {
    /// Join the world of this process first (its user and mount namespaces): how `knet exec`,
    /// started on the host, reaches a pod.
    #[arg(long)]
    pub world_pid: Option<u32>,
    /// The pod's network namespace (a name under /run/netns, or a path).
    #[arg(long)]
    pub netns: String,
    /// Hostname inside the pod (the pod's name).
    #[arg(long)]
    pub hostname: Option<String>,
    /// File to bind-mount over /etc/hosts.
    #[arg(long)]
    pub hosts: Option<PathBuf>,
    /// File to bind-mount over /etc/resolv.conf.
    #[arg(long)]
    pub resolv: Option<PathBuf>,
    /// Working directory.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// The program and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// Joins the user namespace (when it is not ours already: rootless worlds) and the mount namespace
/// of the world's first process.
fn join_world(pid: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let ns = |kind: &str| PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
    let user = std::fs::File::open(ns("user"))
        .with_context(|| format!("opening the world's user namespace (pid {pid})"))?;
    let mnt = std::fs::File::open(ns("mnt"))
        .with_context(|| format!("opening the world's mount namespace (pid {pid})"))?;
    let ours = std::fs::metadata("/proc/self/ns/user")
        .map(|m| m.ino())
        .unwrap_or(0);
    let theirs = std::fs::metadata(ns("user")).map(|m| m.ino()).unwrap_or(0);
    if ours != theirs {
        setns(user.as_fd(), CloneFlags::CLONE_NEWUSER)
            .context("joining the world's user namespace")?;
    }
    setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS).context("joining the world's mount namespace")?;
    Ok(())
}

/// Enters the sandbox and executes the program; returns only on failure.
pub fn run(a: &SandboxExecArgs) -> Result<std::convert::Infallible> {
    if let Some(pid) = a.world_pid {
        join_world(pid)?;
    }
    let path = if a.netns.contains('/') {
        PathBuf::from(&a.netns)
    } else {
        PathBuf::from("/run/netns").join(&a.netns)
    };
    let ns = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("joining the network namespace {}", path.display()))?;
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)
        .context("creating the container's mount and UTS namespaces")?;
    // Mounts made here must not leak back into the world's mount namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making mounts private")?;
    // /sys shows the network namespace of whoever mounted it: mount a fresh one for the pod's
    // (as `ip netns exec` does), so /sys/class/net lists the pod's interfaces. Best effort: a host
    // that forbids it still runs the container, and netlink tools see the right namespace anyway.
    if nix::mount::umount2("/sys", nix::mount::MntFlags::MNT_DETACH).is_ok() {
        let _ = mount(
            Some("sysfs"),
            "/sys",
            Some("sysfs"),
            MsFlags::empty(),
            None::<&str>,
        );
    }
    for (file, target) in [(&a.hosts, "/etc/hosts"), (&a.resolv, "/etc/resolv.conf")] {
        if let Some(file) = file {
            mount(
                Some(file.as_path()),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("bind-mounting {} on {target}", file.display()))?;
        }
    }
    if let Some(h) = &a.hostname {
        nix::unistd::sethostname(h).with_context(|| format!("setting the hostname {h:?}"))?;
    }
    if let Some(dir) = &a.workdir {
        std::env::set_current_dir(dir).with_context(|| format!("changing to {}", dir.display()))?;
    }
    let Some(program) = a.command.first() else {
        bail!("no program to run");
    };
    let argv: Vec<CString> = a
        .command
        .iter()
        .map(|s| CString::new(s.as_bytes()))
        .collect::<Result<_, _>>()
        .context("an argument contains a NUL byte")?;
    let prog = CString::new(program.as_bytes()).context("the program name contains a NUL byte")?;
    let err = nix::unistd::execvp(&prog, &argv).map_err(std::io::Error::from);
    match err {
        Ok(never) => match never {},
        Err(e) => bail!("executing {program:?}: {e}"),
    }
}
