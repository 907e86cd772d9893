//! knet's kernel-facing layer: the world sandbox a knet process enters first, named network namespaces inside it,
//! links/addresses/routes/VXLAN over rtnetlink behind the [`Dataplane`] trait, sysctls, and programs (nft) run in
//! a namespace. It knows nothing of Kubernetes objects; the node agent decides what to build.
//!
//! ```text
//!  host ── enter_world() ──► world (user?+mnt+net+pid+uts+ipc namespaces, PID 1, tmpfs /run/netns)
//!                               ├── Netns "lan"    bridge, node ports          ┐
//!                               ├── Netns "node-a" eth0, cni0, vxlan0, routes   │ Dataplane (rtnetlink)
//!                               ├── Netns "pod-x"  lo, eth0 (veth peer)         │ + sysctl + nft_apply
//!                               └── ...                                         ┘
//! ```
//!
//! The one crate of the workspace allowed `unsafe` (STYLE.md §12): `fork` in [`enter_world`] and the `pre_exec`
//! hook of [`command_in`], each a single item with a `// SAFETY:` comment; everything else goes through nix.
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::undocumented_unsafe_blocks)]

mod dataplane;
mod error;
mod exec;
mod fake;
mod netns;
mod rtnl;
mod spec;
mod world;

pub use dataplane::{Dataplane, KernelDataplane};
pub use error::NetnsError;
pub use exec::{command_in, conntrack_program, nft_apply, nft_program, spawn_in};
pub use fake::{FakeDataplane, Op};
pub use netns::{Netns, RUN_NETNS};
pub use spec::{
    BridgeSpec, FdbEntry, LinkState, MacAddr, NeighborEntry, ParseMacError, RouteSpec,
    VXLAN_OVERHEAD, VXLAN_PORT, VethSpec, VxlanSpec,
};
pub use world::{WorldChild, WorldOptions, enter_world, in_world};

/// Re-exported so that callers of [`Netns::netlink`] can name the handle without depending on rtnetlink.
pub use rtnetlink;
