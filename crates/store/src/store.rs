//! The store: the in-memory index (objects, revision, history, watchers) and the public API over it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};

use serde_json::Value;
use tokio::sync::{mpsc as tmpsc, oneshot};

use crate::backend::{Backend, MemoryBackend};
use crate::redb_backend::RedbBackend;
use crate::watch::Watch;
use crate::writer::{self, Request, UpdateFn, WriteOp};
use crate::{
    Change, DEFAULT_WATCH_CAPACITY, Event, Key, Outcome, Precondition, StoreError, StoreOptions,
    resource_version,
};

/// A stored object and the revision it was last written at (its `metadata.resourceVersion`).
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) revision: u64,
    pub(crate) object: Arc<Value>,
}

/// Objects of one resource: by namespace (`None` for cluster-scoped), then by name, both sorted.
type ResourceIndex = BTreeMap<Option<String>, BTreeMap<String, Entry>>;

/// One registered watcher: the writer sends it every matching event, and drops it when its channel is full.
#[derive(Debug)]
pub(crate) struct WatcherSlot {
    pub(crate) id: u64,
    pub(crate) namespace: Option<String>,
    pub(crate) tx: tmpsc::Sender<Arc<Event>>,
    /// Set when the watcher was dropped because its channel was full.
    pub(crate) lagged: Arc<AtomicBool>,
}

#[derive(Debug)]
pub(crate) struct State {
    objects: HashMap<String, ResourceIndex>,
    /// Last assigned revision: every object and event is at or below it.
    pub(crate) revision: u64,
    /// Every event after this revision is in `history`; a watch from an older revision is Gone.
    pub(crate) compacted: u64,
    history: VecDeque<Arc<Event>>,
    history_len: usize,
    watchers: HashMap<String, Vec<WatcherSlot>>,
    next_watcher_id: u64,
    closed: bool,
}

/// Everything the writer and the readers share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: RwLock<State>,
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Shared {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn entry(&self, key: &Key) -> Option<Entry> {
        self.read().entry(key).cloned()
    }

    /// Makes a committed batch visible: the objects, the revision, then the events in revision order.
    pub(crate) fn apply(
        &self,
        changes: HashMap<Key, Option<Entry>>,
        revision: u64,
        events: Vec<Event>,
    ) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        let mut state = self.write();
        for (key, entry) in changes {
            match entry {
                Some(entry) => state.insert(key, entry),
                None => state.remove(&key),
            }
        }
        state.revision = revision;
        for event in events {
            state.publish(Arc::new(event));
        }
    }

    /// Marks the store closed and ends every watch.
    pub(crate) fn shutdown(&self) {
        let mut state = self.write();
        state.closed = true;
        state.watchers.clear();
    }

    pub(crate) fn unregister(&self, resource: &str, id: u64) {
        let mut state = self.write();
        if let Some(slots) = state.watchers.get_mut(resource) {
            slots.retain(|s| s.id != id);
            if slots.is_empty() {
                state.watchers.remove(resource);
            }
        }
    }
}

impl State {
    fn entry(&self, key: &Key) -> Option<&Entry> {
        self.objects
            .get(&key.resource)?
            .get(&key.namespace)?
            .get(&key.name)
    }

    fn insert(&mut self, key: Key, entry: Entry) {
        self.objects
            .entry(key.resource)
            .or_default()
            .entry(key.namespace)
            .or_default()
            .insert(key.name, entry);
    }

    fn remove(&mut self, key: &Key) {
        let Some(by_ns) = self.objects.get_mut(&key.resource) else {
            return;
        };
        if let Some(by_name) = by_ns.get_mut(&key.namespace) {
            by_name.remove(&key.name);
            if by_name.is_empty() {
                by_ns.remove(&key.namespace);
            }
        }
        if by_ns.is_empty() {
            self.objects.remove(&key.resource);
        }
    }

    /// Appends `event` to the history (trimming it) and sends it to the watchers of its resource and namespace.
    fn publish(&mut self, event: Arc<Event>) {
        if let Some(slots) = self.watchers.get_mut(&event.key.resource) {
            slots.retain(|slot| {
                if slot.namespace.is_some() && slot.namespace != event.key.namespace {
                    return true;
                }
                match slot.tx.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(tmpsc::error::TrySendError::Full(_)) => {
                        // A slow watcher must not hold up writers: drop it; it ends with Gone once it has read
                        // what is buffered (as the Kubernetes cacher terminates watchers it cannot feed).
                        slot.lagged.store(true, Ordering::Release);
                        false
                    }
                    Err(tmpsc::error::TrySendError::Closed(_)) => false,
                }
            });
            if slots.is_empty() {
                self.watchers.remove(&event.key.resource);
            }
        }
        self.history.push_back(event);
        while self.history.len() > self.history_len {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.revision;
            }
        }
    }
}

/// Counters of the writer, for metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Backend commits (one per batch that wrote anything).
    pub commits: u64,
    /// Writes committed (creates, updates, deletes).
    pub writes: u64,
    /// Watches currently subscribed to live events.
    pub watchers: usize,
}

/// The store. Cheap to clone (an `Arc` inside); all clones are the same store.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
}

impl Store {
    /// Opens (creating when missing) the redb file at `path` and loads every object into the index. Blocking and
    /// brief; works inside or outside a tokio runtime. The file stays open until [`Store::close`] (or, in the
    /// background, until the last clone is dropped): close before reopening the same file in one process.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        Store::with_backend(RedbBackend::open(path)?, opts)
    }

    /// A store with the same semantics as [`Store::open`] but nothing on disk (tests).
    pub fn in_memory(opts: StoreOptions) -> Store {
        Store::start(Box::new(MemoryBackend::new()), Vec::new(), 0, opts)
    }

    /// A store over any [`Backend`]: loads it, then serves from the index.
    pub fn with_backend<B: Backend>(
        mut backend: B,
        opts: StoreOptions,
    ) -> Result<Store, StoreError> {
        let (stored, revision) = backend.load()?;
        let objects = parse_all(stored)?;
        Ok(Store::start(Box::new(backend), objects, revision, opts))
    }

    fn start(
        backend: Box<dyn Backend>,
        objects: Vec<(Key, Entry)>,
        revision: u64,
        opts: StoreOptions,
    ) -> Store {
        // A new store starts at revision 1 (as etcd does), so that no list is at resourceVersion "0", which means
        // "any" to Kubernetes clients.
        let revision = objects
            .iter()
            .map(|(_, e)| e.revision)
            .fold(revision.max(1), u64::max);
        let mut state = State {
            objects: HashMap::new(),
            revision,
            compacted: revision,
            history: VecDeque::new(),
            history_len: opts.history_len,
            watchers: HashMap::new(),
            next_watcher_id: 0,
            closed: false,
        };
        for (key, entry) in objects {
            state.insert(key, entry);
        }
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        });
        let (requests, rx) = mpsc::channel();
        writer::spawn(shared.clone(), backend, rx);
        Store {
            inner: Arc::new(Inner { shared, requests }),
        }
    }

    async fn send(&self, key: &Key, op: WriteOp) -> Result<Outcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        let request = Request::Write {
            key: key.clone(),
            op,
            reply,
        };
        self.inner
            .requests
            .send(request)
            .map_err(|_| StoreError::Closed)?;
        // Dropping this future does not withdraw a queued write.
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Creates the object at the next revision; [`StoreError::AlreadyExists`] when `key` exists. Returns the
    /// stored object (with `metadata.resourceVersion`).
    pub async fn create(&self, key: &Key, object: Value) -> Result<Arc<Value>, StoreError> {
        check_object(key, &object)?;
        match self.send(key, WriteOp::Create(object)).await? {
            Outcome::Put(stored) | Outcome::Unchanged(Some(stored)) => Ok(stored),
            other => Err(unexpected(key, other)),
        }
    }

    /// Replaces the object; [`StoreError::NotFound`] when absent, [`StoreError::Conflict`] when `pre` fails.
    /// `object.metadata.resourceVersion` is ignored (the caller turns it into `pre`). An object equal to the stored
    /// one (resourceVersion aside) is not written and keeps its resourceVersion, as etcd3's GuaranteedUpdate
    /// short-circuits an unchanged object (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go).
    pub async fn update(
        &self,
        key: &Key,
        object: Value,
        pre: Precondition,
    ) -> Result<Arc<Value>, StoreError> {
        check_object(key, &object)?;
        match self.send(key, WriteOp::Update(object, pre)).await? {
            Outcome::Put(stored) | Outcome::Unchanged(Some(stored)) => Ok(stored),
            other => Err(unexpected(key, other)),
        }
    }

    /// Atomic read-modify-write: `f` gets the current object (or `None`) and returns the new one (created when
    /// absent), or an error to abort with (wrap your own in [`StoreError::rejected`]). `f` runs on the writer, after
    /// every earlier write, so no update is lost; keep it short and do not call the store's async methods from it.
    /// An unchanged object is not written (see [`Store::update`]).
    pub async fn guaranteed_update<F>(&self, key: &Key, f: F) -> Result<Arc<Value>, StoreError>
    where
        F: FnOnce(Option<&Value>) -> Result<Value, StoreError> + Send + 'static,
    {
        let f: UpdateFn = Box::new(move |current| f(current).map(Change::Put));
        match self.send(key, WriteOp::Modify(f)).await? {
            Outcome::Put(stored) | Outcome::Unchanged(Some(stored)) => Ok(stored),
            other => Err(unexpected(key, other)),
        }
    }

    /// Like [`Store::guaranteed_update`], but `f` may also delete the object or leave it alone (for example to
    /// delete an object whose last finalizer an update removes).
    pub async fn modify<F>(&self, key: &Key, f: F) -> Result<Outcome, StoreError>
    where
        F: FnOnce(Option<&Value>) -> Result<Change, StoreError> + Send + 'static,
    {
        self.send(key, WriteOp::Modify(Box::new(f))).await
    }

    /// Deletes the object; [`StoreError::NotFound`] when absent, [`StoreError::Conflict`] when `pre` fails. Returns
    /// the last state with `metadata.resourceVersion` set to the deletion revision, as etcd3's conditionalDelete
    /// returns it.
    pub async fn delete(&self, key: &Key, pre: Precondition) -> Result<Arc<Value>, StoreError> {
        match self.send(key, WriteOp::Delete(pre)).await? {
            Outcome::Deleted(last) => Ok(last),
            other => Err(unexpected(key, other)),
        }
    }

    /// The object at `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Arc<Value>> {
        self.inner
            .shared
            .read()
            .entry(key)
            .map(|e| e.object.clone())
    }

    /// All objects of `resource` (in `namespace` when `Some`), sorted by (namespace, name), and the revision the
    /// list is consistent at.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let state = self.inner.shared.read();
        let mut items = Vec::new();
        if let Some(by_ns) = state.objects.get(resource) {
            match namespace {
                Some(ns) => {
                    if let Some(by_name) = by_ns.get(&Some(ns.to_owned())) {
                        items.extend(by_name.values().map(|e| e.object.clone()));
                    }
                }
                None => {
                    for by_name in by_ns.values() {
                        items.extend(by_name.values().map(|e| e.object.clone()));
                    }
                }
            }
        }
        (items, state.revision)
    }

    /// Events of `resource` (in `namespace` when `Some`) with a revision above `after`: first from the history,
    /// then live, in revision order, without gaps or duplicates. [`StoreError::Gone`] when the history no longer
    /// reaches back to `after` (the current revision is always watchable). A watch from a future revision starts
    /// with the first event above it. A watcher more than [`DEFAULT_WATCH_CAPACITY`] events behind ends with Gone.
    pub fn watch(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: u64,
    ) -> Result<Watch, StoreError> {
        self.watch_with_capacity(resource, namespace, after, DEFAULT_WATCH_CAPACITY)
    }

    /// [`Store::watch`] with the number of live events the watcher may fall behind before it is dropped with
    /// [`StoreError::Gone`] (at least 1). Events replayed from the history do not count.
    pub fn watch_with_capacity(
        &self,
        resource: &str,
        namespace: Option<&str>,
        after: u64,
        capacity: usize,
    ) -> Result<Watch, StoreError> {
        let shared = &self.inner.shared;
        // The history snapshot and the subscription are taken under one lock, and the writer publishes under it
        // too: every event is either in the snapshot or sent on the channel, never both, never neither.
        let mut state = shared.write();
        if state.closed {
            return Err(StoreError::Closed);
        }
        if after < state.compacted {
            return Err(StoreError::Gone {
                requested: after,
                oldest: state.compacted,
            });
        }
        let start = state.history.partition_point(|e| e.revision <= after);
        let backlog: Vec<Arc<Event>> = state
            .history
            .range(start..)
            .filter(|e| {
                e.key.resource == resource
                    && namespace.is_none_or(|ns| e.key.namespace.as_deref() == Some(ns))
            })
            .cloned()
            .collect();
        let (tx, rx) = tmpsc::channel(capacity.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        let id = state.next_watcher_id;
        state.next_watcher_id += 1;
        state
            .watchers
            .entry(resource.to_owned())
            .or_default()
            .push(WatcherSlot {
                id,
                namespace: namespace.map(str::to_owned),
                tx,
                lagged: lagged.clone(),
            });
        drop(state);
        Ok(Watch::new(
            shared.clone(),
            resource.to_owned(),
            id,
            after,
            backlog,
            rx,
            lagged,
        ))
    }

    /// The last assigned revision (of the last committed write).
    pub fn revision(&self) -> u64 {
        self.inner.shared.read().revision
    }

    /// Counters of the writer since the store was opened.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.inner.shared.commits.load(Ordering::Relaxed),
            writes: self.inner.shared.writes.load(Ordering::Relaxed),
            watchers: self
                .inner
                .shared
                .read()
                .watchers
                .values()
                .map(Vec::len)
                .sum(),
        }
    }

    /// Finishes the writes queued so far, closes the backend and ends every watch. Later writes and watches are
    /// [`StoreError::Closed`]; reads keep answering from the index. Idempotent.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.inner.requests.send(Request::Close { reply }).is_ok() {
            // An error means the writer has already stopped, which is what we wait for.
            let _ = rx.await;
        }
    }
}

/// Parses loaded objects into index entries, on all cores for a large store (JSON parsing dominates opening).
fn parse_all(stored: Vec<(Key, Vec<u8>)>) -> Result<Vec<(Key, Entry)>, StoreError> {
    fn parse(chunk: Vec<(Key, Vec<u8>)>) -> Result<Vec<(Key, Entry)>, StoreError> {
        chunk
            .into_iter()
            .map(|(key, bytes)| {
                let object: Value = serde_json::from_slice(&bytes).map_err(|e| {
                    StoreError::Backend(format!("stored object {key} is not JSON: {e}"))
                })?;
                let revision = resource_version(&object).unwrap_or(0);
                let object = Arc::new(object);
                Ok((key, Entry { revision, object }))
            })
            .collect()
    }
    const PER_THREAD: usize = 2_000;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if stored.len() < 2 * PER_THREAD || threads < 2 {
        return parse(stored);
    }
    let chunk_len = stored.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    let mut rest = stored;
    while rest.len() > chunk_len {
        let tail = rest.split_off(chunk_len);
        chunks.push(std::mem::replace(&mut rest, tail));
    }
    chunks.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || parse(chunk)))
            .collect();
        let mut objects = Vec::new();
        for handle in handles {
            let parsed = handle
                .join()
                .map_err(|_| StoreError::Backend("parsing stored objects panicked".into()))??;
            objects.extend(parsed);
        }
        Ok(objects)
    })
}

/// The checks the store makes of a caller's object before queueing it.
fn check_object(key: &Key, object: &Value) -> Result<(), StoreError> {
    writer::object_problem(object).map_or(Ok(()), |reason| {
        Err(StoreError::InvalidObject {
            key: key.clone(),
            reason: reason.to_owned(),
        })
    })
}

fn unexpected(key: &Key, outcome: Outcome) -> StoreError {
    StoreError::Backend(format!(
        "internal: unexpected outcome for {key}: {outcome:?}"
    ))
}
