//! Named network namespaces under `/run/netns`, the convention `ip netns` uses, so `ip netns exec NAME` works.

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::NetnsError;

/// Where named network namespaces are bind-mounted (iproute2's `NETNS_RUN_DIR`). Inside the world this is a tmpfs
/// of the world's own mount namespace, invisible to the host.
pub const RUN_NETNS: &str = "/run/netns";

/// A handle on a named network namespace: its name and an open descriptor of it.
///
/// The namespace itself lives as long as its bind mount at `/run/netns/NAME` (removed by [`Netns::delete`]), any
/// descriptor of it (this handle's included) or any process or socket in it. Dropping the handle closes only the
/// descriptor. Cloning is cheap and shares the descriptor.
#[derive(Debug, Clone)]
pub struct Netns {
    name: String,
    fd: Arc<OwnedFd>,
}

impl Netns {
    /// Creates a new, empty network namespace (only `lo`, down) named `name`: a short-lived thread unshares its
    /// network namespace and bind-mounts `/proc/thread-self/ns/net` onto `/run/netns/NAME`, as `ip netns add`
    /// does. Fails with [`NetnsError::AlreadyExists`] if the name is taken.
    pub fn create(name: &str) -> Result<Netns, NetnsError> {
        validate_name(name)?;
        let path = path_of(name);
        // The mount point; O_EXCL so that of two creators of one name exactly one wins.
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&path)
        {
            Ok(file) => drop(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(NetnsError::AlreadyExists {
                    name: name.to_string(),
                });
            }
            Err(e) => return Err(ns_err(name, "create the mount point under /run/netns", e)),
        }
        let made = std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("knet-netns-create".into())
                .spawn_scoped(scope, || -> Result<OwnedFd, NetnsError> {
                    unshare(CloneFlags::CLONE_NEWNET)
                        .map_err(|e| ns_err(name, "unshare(CLONE_NEWNET)", e.into()))?;
                    mount(
                        Some("/proc/thread-self/ns/net"),
                        &path,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .map_err(|e| ns_err(name, "bind-mount /proc/thread-self/ns/net", e.into()))?;
                    let file = fs::File::open(&path).map_err(|e| ns_err(name, "open", e))?;
                    Ok(OwnedFd::from(file))
                })
                .map_err(|e| ns_err(name, "spawn a thread", e))?;
            worker
                .join()
                .map_err(|_| ns_err(name, "thread panicked", io::Error::other("panic")))?
        });
        match made {
            Ok(fd) => Ok(Netns {
                name: name.to_string(),
                fd: Arc::new(fd),
            }),
            Err(e) => {
                let _ = umount2(&path, MntFlags::MNT_DETACH);
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Opens the existing namespace `name`.
    pub fn open(name: &str) -> Result<Netns, NetnsError> {
        validate_name(name)?;
        let path = path_of(name);
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(NetnsError::NotFound {
                    name: name.to_string(),
                });
            }
            Err(e) => return Err(ns_err(name, "open", e)),
        };
        let fs_type =
            nix::sys::statfs::fstatfs(&file).map_err(|e| ns_err(name, "fstatfs", e.into()))?;
        if fs_type.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
            // A leftover mount point whose bind mount is gone.
            return Err(ns_err(
                name,
                "open",
                io::Error::other("not a namespace (nothing is mounted on the file)"),
            ));
        }
        Ok(Netns {
            name: name.to_string(),
            fd: Arc::new(file.into()),
        })
    }

    /// Opens `name`, creating it if it does not exist (idempotent create).
    pub fn open_or_create(name: &str) -> Result<Netns, NetnsError> {
        match Netns::create(name) {
            Err(NetnsError::AlreadyExists { .. }) => Netns::open(name),
            other => other,
        }
    }

    /// Gives the calling thread's network namespace the name `name` (like `ip netns attach NAME $$`), e.g. to
    /// address the world's own namespace, the LAN, by name.
    pub fn attach_current(name: &str) -> Result<Netns, NetnsError> {
        validate_name(name)?;
        let path = path_of(name);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&path)
        {
            Ok(file) => drop(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(NetnsError::AlreadyExists {
                    name: name.to_string(),
                });
            }
            Err(e) => return Err(ns_err(name, "create the mount point under /run/netns", e)),
        }
        if let Err(e) = mount(
            Some("/proc/thread-self/ns/net"),
            &path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        ) {
            let _ = fs::remove_file(&path);
            return Err(ns_err(
                name,
                "bind-mount /proc/thread-self/ns/net",
                e.into(),
            ));
        }
        Netns::open(name)
    }

    /// Whether a namespace file `name` exists under `/run/netns`.
    pub fn exists(name: &str) -> bool {
        validate_name(name).is_ok() && path_of(name).exists()
    }

    /// The names under `/run/netns`, sorted (`ip netns list`).
    pub fn list() -> Result<Vec<String>, NetnsError> {
        let mut names = Vec::new();
        let entries = fs::read_dir(RUN_NETNS).map_err(|e| ns_err("", "list /run/netns", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ns_err("", "list /run/netns", e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes the name (unmount + unlink, `ip netns delete`). The namespace goes away with the last descriptor,
    /// process or socket still in it; its veth ends go with it.
    pub fn delete(self) -> Result<(), NetnsError> {
        Netns::remove(&self.name)
    }

    /// Removes the name `name` if present; succeeds if it is already gone (idempotent delete).
    pub fn remove(name: &str) -> Result<(), NetnsError> {
        validate_name(name)?;
        let path = path_of(name);
        match umount2(&path, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point (a leftover file); ENOENT: already gone.
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(ns_err(name, "unmount", e.into())),
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ns_err(name, "remove the mount point", e)),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`.
    pub fn path(&self) -> PathBuf {
        path_of(&self.name)
    }

    /// The namespace's inode number, as in `readlink /proc/PID/ns/net` = `net:[INODE]`.
    pub fn inode(&self) -> Result<u64, NetnsError> {
        let stat = nix::sys::stat::fstat(self.fd.as_fd())
            .map_err(|e| ns_err(&self.name, "fstat", e.into()))?;
        Ok(stat.st_ino)
    }

    /// The shared descriptor (for `pre_exec` closures that must own it).
    pub(crate) fn shared_fd(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.fd)
    }

    /// Runs `f` on a new thread that first enters this namespace, and returns its result. Sockets created by `f`,
    /// and files of `/proc/sys/net` it opens, belong to this namespace. The thread ends with `f`, so no pooled
    /// thread is ever left in a foreign namespace. A panic in `f` is resumed in the caller.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("knet-netns-run".into())
                .spawn_scoped(scope, || {
                    setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET).map(|()| f())
                })
                .map_err(|e| ns_err(&self.name, "spawn a thread", e))?;
            match worker.join() {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(errno)) => Err(ns_err(&self.name, "setns", errno.into())),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// [`Netns::run_in`] for async callers: the executor thread is not blocked while `f` runs.
    pub async fn run_in_async<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NetnsError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let fd = self.shared_fd();
        std::thread::Builder::new()
            .name("knet-netns-run".into())
            .spawn(move || {
                let result = setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map(|()| f());
                let _ = tx.send(result);
            })
            .map_err(|e| ns_err(&self.name, "spawn a thread", e))?;
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(errno)) => Err(ns_err(&self.name, "setns", errno.into())),
            Err(_) => Err(ns_err(
                &self.name,
                "thread panicked",
                io::Error::other("panic"),
            )),
        }
    }

    /// A new rtnetlink connection acting in this namespace. The socket is created on a thread inside the namespace
    /// (a socket keeps the namespace it was made in); its connection task is spawned on the caller's tokio runtime
    /// and ends when the last clone of the handle is dropped.
    pub async fn netlink(&self) -> Result<rtnetlink::Handle, NetnsError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|e| ns_err(&self.name, "netlink", io::Error::other(e)))?;
        let rt_for_socket = rt.clone();
        let (conn, handle, _) = self
            .run_in_async(move || {
                let _entered = rt_for_socket.enter();
                rtnetlink::new_connection()
            })
            .await?
            .map_err(|e| ns_err(&self.name, "open a netlink socket", e))?;
        rt.spawn(conn);
        Ok(handle)
    }

    /// Writes a sysctl of this namespace, e.g. `net.ipv4.ip_forward` = `1` or `net/ipv4/conf/eth0/proxy_arp`. Only
    /// `net.` keys are accepted: they are per network namespace, so no write can reach the host's kernel settings.
    /// Use the `/` form when an interface name contains dots.
    pub fn sysctl_set(&self, key: &str, value: &str) -> Result<(), NetnsError> {
        let path = sysctl_path(&self.name, key)?;
        self.run_in(|| fs::write(&path, value))?
            .map_err(|e| NetnsError::Sysctl {
                ns: self.name.clone(),
                key: key.to_string(),
                source: e,
            })
    }

    /// Reads a sysctl of this namespace (trimmed).
    pub fn sysctl_get(&self, key: &str) -> Result<String, NetnsError> {
        let path = sysctl_path(&self.name, key)?;
        self.run_in(|| fs::read_to_string(&path))?
            .map(|s| s.trim().to_string())
            .map_err(|e| NetnsError::Sysctl {
                ns: self.name.clone(),
                key: key.to_string(),
                source: e,
            })
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The `(device, inode)` of `/run/netns/NAME` now, to notice a namespace deleted and re-created under one name.
pub(crate) fn identity_of(name: &str) -> Result<(u64, u64), NetnsError> {
    match fs::metadata(path_of(name)) {
        Ok(meta) => Ok((meta.dev(), meta.ino())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(NetnsError::NotFound {
            name: name.to_string(),
        }),
        Err(e) => Err(ns_err(name, "stat", e)),
    }
}

/// The `(device, inode)` of an open namespace handle.
pub(crate) fn identity_of_handle(ns: &Netns) -> Result<(u64, u64), NetnsError> {
    let stat =
        nix::sys::stat::fstat(ns.fd.as_fd()).map_err(|e| ns_err(&ns.name, "fstat", e.into()))?;
    Ok((stat.st_dev, stat.st_ino))
}

fn path_of(name: &str) -> PathBuf {
    Path::new(RUN_NETNS).join(name)
}

fn ns_err(name: &str, op: &'static str, source: io::Error) -> NetnsError {
    NetnsError::Namespace {
        name: name.to_string(),
        op,
        source,
    }
}

/// A namespace name must be a plain file name: `ip netns` rejects the same (iproute2 `ip/ipnetns.c`,
/// `is_valid_netns_name`: non-empty, shorter than `NAME_MAX`, no `/`, not `.` or `..`).
pub(crate) fn validate_name(name: &str) -> Result<(), NetnsError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() >= 255 {
        Some("longer than 254 bytes")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name == "." || name == ".." {
        Some("is '.' or '..'")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(NetnsError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// `/proc/sys/...` for a `net.` sysctl key, dotted or slashed.
pub(crate) fn sysctl_path(ns: &str, key: &str) -> Result<PathBuf, NetnsError> {
    let invalid = |reason| NetnsError::InvalidSysctl {
        ns: ns.to_string(),
        key: key.to_string(),
        reason,
    };
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    let mut parts = rel.split('/');
    if parts.next() != Some("net") {
        return Err(invalid("only net.* keys are per network namespace"));
    }
    let mut depth = 0;
    for part in parts {
        if part.is_empty() || part == "." || part == ".." || part.contains('\0') {
            return Err(invalid("empty, '.' or '..' component"));
        }
        depth += 1;
    }
    if depth == 0 {
        return Err(invalid("names no setting"));
    }
    Ok(Path::new("/proc/sys").join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_follow_ip_netns_rules() {
        for ok in ["pod-1", "node.a", "x", "knet_world"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "/abs", "nul\0"] {
            assert!(
                matches!(validate_name(bad), Err(NetnsError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_name(&"a".repeat(255)).is_err());
    }

    #[test]
    fn sysctl_keys_are_limited_to_the_net_tree() {
        assert_eq!(
            sysctl_path("n", "net.ipv4.ip_forward").unwrap(),
            Path::new("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("n", "net/ipv4/conf/eth0.100/proxy_arp").unwrap(),
            Path::new("/proc/sys/net/ipv4/conf/eth0.100/proxy_arp")
        );
        for bad in [
            "kernel.hostname",
            "vm.swappiness",
            "net",
            "net/../kernel/x",
            "net.ipv4..x",
            "net//ipv4",
        ] {
            let err = sysctl_path("pod-a", bad).unwrap_err();
            assert!(matches!(err, NetnsError::InvalidSysctl { .. }), "{bad}");
            assert!(
                err.to_string()
                    .starts_with("netns pod-a: invalid sysctl key"),
                "{err}"
            );
        }
    }
}
