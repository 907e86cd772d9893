//! Running programs inside a network namespace: any program, and `nft -f -`.

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

/// The `nft` binary: `PATH` first, then `/usr/sbin` and `/sbin`, which an unprivileged user's `PATH` often lacks.
pub fn nft_program() -> Option<&'static Path> {
    static NFT: OnceLock<Option<PathBuf>> = OnceLock::new();
    NFT.get_or_init(|| {
        let path_dirs =
            std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
        path_dirs
            .unwrap_or_default()
            .into_iter()
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|dir| dir.join("nft"))
            .find(|candidate| candidate.is_file())
    })
    .as_deref()
}

/// Applies an nftables script inside `netns` with `nft -f -`: one transaction, all or nothing. Requires the
/// `nftables` package ([`NetnsError::NftMissing`] otherwise); nft's error output is returned in
/// [`NetnsError::Nft`].
pub async fn nft_apply(netns: &Netns, script: &str) -> Result<(), NetnsError> {
    let nft = nft_program().ok_or(NetnsError::NftMissing)?;
    let mut command = tokio::process::Command::from(command_in(netns, nft, ["-f", "-"]));
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let spawn_err = |source| NetnsError::NftSpawn {
        ns: netns.name().to_string(),
        source,
    };
    let mut child = command.spawn().map_err(spawn_err)?;
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
