//! The crate's error type: every message names the namespace and the object it was about.

use std::io;

/// Errors of the world sandbox, network namespaces, netlink, sysctl and nftables operations.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// A step of [`enter_world`](crate::enter_world) failed.
    #[error("enter the world: {step}: {source}")]
    World {
        /// What was being done (e.g. `write /proc/self/uid_map`).
        step: &'static str,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// [`enter_world`](crate::enter_world) was called in a process that already runs threads.
    #[error(
        "enter the world: the process has {threads} threads; call enter_world before any thread or async runtime starts"
    )]
    MultiThreaded {
        /// Threads counted in `/proc/self/task`.
        threads: usize,
    },
    /// A namespace name that cannot be a file name under `/run/netns`.
    #[error("invalid network namespace name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A link name the kernel would reject (`IFNAMSIZ`).
    #[error("netns {ns}: invalid link name {link:?}: {reason}")]
    InvalidLinkName {
        /// Namespace of the request.
        ns: String,
        /// The rejected name.
        link: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// `Netns::create` found the name taken.
    #[error("network namespace {name:?} already exists")]
    AlreadyExists {
        /// The namespace name.
        name: String,
    },
    /// No namespace of that name under `/run/netns`.
    #[error("network namespace {name:?} not found")]
    NotFound {
        /// The namespace name.
        name: String,
    },
    /// A namespace-level system call failed (unshare, bind mount, setns, open...).
    #[error("network namespace {name:?}: {op}: {source}")]
    Namespace {
        /// The namespace name.
        name: String,
        /// What was being done.
        op: &'static str,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// A netlink request failed.
    #[error("netns {ns}: {op} {object}: {source}")]
    Netlink {
        /// Namespace of the request.
        ns: String,
        /// The operation (e.g. `add address`).
        op: &'static str,
        /// The object (e.g. `10.250.1.1/24 on cni0`).
        object: String,
        /// The kernel's answer as an OS error where it gave one.
        #[source]
        source: io::Error,
    },
    /// A link a request depends on does not exist.
    #[error("netns {ns}: link {link:?} not found")]
    LinkNotFound {
        /// Namespace of the request.
        ns: String,
        /// The missing link.
        link: String,
    },
    /// A link of the requested name exists with another kind.
    #[error("netns {ns}: link {link:?} exists as a {found}, not a {wanted}")]
    LinkKindMismatch {
        /// Namespace of the request.
        ns: String,
        /// The link name.
        link: String,
        /// The kind found (`veth`, `bridge`, ... or `device` when it has none).
        found: String,
        /// The kind requested.
        wanted: &'static str,
    },
    /// A sysctl key outside `net.` or with path tricks.
    #[error("netns {ns}: invalid sysctl key {key:?}: {reason}")]
    InvalidSysctl {
        /// Namespace of the request.
        ns: String,
        /// The rejected key.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Reading or writing a sysctl failed.
    #[error("netns {ns}: sysctl {key}: {source}")]
    Sysctl {
        /// Namespace of the request.
        ns: String,
        /// The key.
        key: String,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The `nft` program is not installed.
    #[error(
        "nft not found in PATH, /usr/sbin or /sbin: install the nftables package (Debian: apt-get install nftables)"
    )]
    NftMissing,
    /// `nft -f -` could not be run.
    #[error("netns {ns}: run nft: {source}")]
    NftSpawn {
        /// Namespace of the request.
        ns: String,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// `nft -f -` rejected the script.
    #[error("netns {ns}: nft -f - failed ({status}): {stderr}")]
    Nft {
        /// Namespace of the request.
        ns: String,
        /// Exit status as text.
        status: String,
        /// nft's error output, trimmed.
        stderr: String,
    },
    /// A failure injected into [`FakeDataplane`](crate::FakeDataplane) by a test.
    #[error("injected failure: {0}")]
    Injected(String),
}

impl NetnsError {
    /// The OS error number behind this error, when there is one (`EEXIST`, `ENODEV`...).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::World { source, .. }
            | Self::Namespace { source, .. }
            | Self::Netlink { source, .. }
            | Self::Sysctl { source, .. }
            | Self::NftSpawn { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Converts an rtnetlink error to an `io::Error` carrying the kernel's errno when the kernel answered with one.
pub(crate) fn netlink_io(err: rtnetlink::Error) -> io::Error {
    match err {
        rtnetlink::Error::NetlinkError(msg) => match msg.code {
            Some(code) => io::Error::from_raw_os_error(-code.get()),
            None => io::Error::other("netlink error without code"),
        },
        other => io::Error::other(other.to_string()),
    }
}

/// The errno of a netlink error, if the kernel sent one.
pub(crate) fn netlink_errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}
