//! knet's object store: an etcd-like, revisioned store of Kubernetes objects as JSON, with an in-memory index for
//! get/list/watch (bounded watch history) in front of a durable [`Backend`] (redb by default).
//! It interprets nothing but `metadata.resourceVersion` and `metadata.uid`, and does not filter by labels or fields.
//!
//! ```text
//!  create/update/delete/guaranteed_update ──► queue ──► one writer thread, per batch of pending requests:
//!                                                        check preconditions in order, assign revisions,
//!                                                        Backend::commit(ops, revision)   (one fsync per batch)
//!                                                        apply to the index, publish events, answer callers
//!  get / list ◄── index (objects, revision, history) ──► watchers (bounded channel each; full → Gone)
//! ```
//!
//! The single global revision is the Kubernetes `resourceVersion`: every write gets the next one, and the store
//! writes it into the stored object's `metadata.resourceVersion`, as the etcd3 storage of the Kubernetes API
//! server does (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go).
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod backend;
mod error;
mod redb_backend;
mod store;
mod watch;
mod writer;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

pub use backend::{Backend, Loaded, MemoryBackend, Op};
pub use error::StoreError;
pub use redb_backend::RedbBackend;
pub use store::{Store, StoreStats};
pub use watch::Watch;

/// Default of [`StoreOptions::history_len`].
pub const DEFAULT_HISTORY_LEN: usize = 10_000;

/// Default capacity of a watcher's channel ([`Store::watch`]): a watcher that falls this many events behind is
/// dropped with [`StoreError::Gone`].
pub const DEFAULT_WATCH_CAPACITY: usize = 8_192;

/// Where an object lives: `resource` is the plural with its group (`pods`, `deployments.apps`), `namespace` is
/// `None` for cluster-scoped objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Plural resource name with its group, `plural[.group]`: `pods`, `deployments.apps`.
    pub resource: String,
    /// Namespace of a namespaced object, `None` for a cluster-scoped one.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl Key {
    /// Key of a namespaced object.
    pub fn namespaced(
        resource: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Key {
        Key {
            resource: resource.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// Key of a cluster-scoped object.
    pub fn cluster(resource: impl Into<String>, name: impl Into<String>) -> Key {
        Key {
            resource: resource.into(),
            namespace: None,
            name: name.into(),
        }
    }
}

impl fmt::Display for Key {
    /// `pods/default/web` for a namespaced object, `nodes/node-1` for a cluster-scoped one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.resource, ns, self.name),
            None => write!(f, "{}/{}", self.resource, self.name),
        }
    }
}

/// Kind of a watch [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object was updated.
    Modified,
    /// The object was deleted.
    Deleted,
}

impl EventType {
    /// The watch event type as the Kubernetes API spells it: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as a watcher sees it.
#[derive(Clone, Debug)]
pub struct Event {
    /// Revision of the change; `object`'s `metadata.resourceVersion` holds the same number.
    pub revision: u64,
    /// What happened.
    pub kind: EventType,
    /// Which object.
    pub key: Key,
    /// The new state; for [`EventType::Deleted`], the last state with `metadata.resourceVersion` set to the
    /// deletion revision (as the etcd3 watcher of the Kubernetes API server sends it).
    pub object: Arc<Value>,
    /// The state before this event (`None` for [`EventType::Added`]).
    pub prev: Option<Arc<Value>>,
}

/// A condition the stored object must meet for an update or delete; a stale one is [`StoreError::Conflict`].
/// Mirrors `storage.Preconditions` of the Kubernetes API server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Precondition {
    /// No condition.
    #[default]
    None,
    /// `metadata.resourceVersion` must be this revision.
    ResourceVersion(u64),
    /// `metadata.uid` must be this uid.
    Uid(String),
}

/// Options of a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How many events the store keeps for watches that start from a past revision (for all resources together).
    /// A watch from an older revision is [`StoreError::Gone`]. The current revision is always watchable, even with
    /// 0. Default [`DEFAULT_HISTORY_LEN`].
    pub history_len: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            history_len: DEFAULT_HISTORY_LEN,
        }
    }
}

/// What the function given to [`Store::modify`] decides.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Store this object (create it when absent). An object equal to the stored one is not written.
    Put(Value),
    /// Delete the object ([`StoreError::NotFound`] when absent).
    Delete,
    /// Leave it as it is.
    Keep,
}

/// What [`Store::modify`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The object was created or updated; this is the stored state.
    Put(Arc<Value>),
    /// The object was deleted; this is its last state, at the deletion revision.
    Deleted(Arc<Value>),
    /// Nothing was written (a [`Change::Keep`], or a [`Change::Put`] equal to the stored object); this is the
    /// current state.
    Unchanged(Option<Arc<Value>>),
}

/// The `metadata.resourceVersion` of an object, parsed.
pub fn resource_version(object: &Value) -> Option<u64> {
    object
        .get("metadata")?
        .get("resourceVersion")?
        .as_str()?
        .parse()
        .ok()
}
