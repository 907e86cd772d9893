//! Where a pod's processes run. The agent implements [`Sandbox`] with the pod's namespaces
//! (knet-netns); [`HostSandbox`] runs plain host processes, for tests.

use std::path::Path;
use std::process::Command;

/// Where a pod's processes run: the pod sandbox's namespaces. The agent implements it with real
/// namespaces; tests use [`HostSandbox`] (runs on the host, plain processes).
///
/// The runtime adds to the returned command its environment (cleared first), working directory,
/// standard streams and a process group of its own; an implementation must not start a new session
/// (`setsid`), or signals to the container's process group would miss its processes.
pub trait Sandbox: Send + Sync {
    /// A command that runs `program args` inside the pod's network/UTS/IPC namespaces, with the
    /// pod's own /etc/hosts and /etc/resolv.conf when given.
    fn command(&self, program: &Path, args: &[String]) -> Command;
}

/// A [`Sandbox`] that is the host itself: `program args` as a plain child process.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostSandbox;

impl Sandbox for HostSandbox {
    fn command(&self, program: &Path, args: &[String]) -> Command {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}
