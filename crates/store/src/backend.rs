//! The durable side of the store, behind a narrow trait: load everything once, then commit batches.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Key, StoreError};

/// One change of a committed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store `value` (the object's JSON) at `key`, replacing what is there.
    Put {
        /// The object's key.
        key: Key,
        /// The object's JSON, `metadata.resourceVersion` included.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// The object's key.
        key: Key,
    },
}

impl Op {
    /// The key this op changes.
    pub fn key(&self) -> &Key {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// What [`Backend::load`] returns: every stored object (key and JSON), and the last committed revision.
pub type Loaded = (Vec<(Key, Vec<u8>)>, u64);

/// A durable home for the objects and the revision counter. The store calls it from one thread only.
pub trait Backend: Send + 'static {
    /// Everything stored, and the last committed revision (0 for a new store).
    fn load(&mut self) -> Result<Loaded, StoreError>;

    /// Applies `ops` (in order) and records `revision` as the last one, atomically and durably: when this returns
    /// `Ok`, a crash loses none of it. `ops` is never empty.
    fn commit(&mut self, ops: &[Op], revision: u64) -> Result<(), StoreError>;
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        (**self).load()
    }

    fn commit(&mut self, ops: &[Op], revision: u64) -> Result<(), StoreError> {
        (**self).commit(ops, revision)
    }
}

/// A backend in memory, for tests: clones share the same data, so a store reopened on a clone sees what an earlier
/// store committed (a restart without a disk). It records how many commits it took and can be made to fail.
#[derive(Clone, Debug, Default)]
pub struct MemoryBackend {
    inner: Arc<Mutex<MemoryData>>,
}

#[derive(Debug, Default)]
struct MemoryData {
    objects: BTreeMap<Key, Vec<u8>>,
    revision: u64,
    commits: u64,
    fail: Option<String>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, MemoryData> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many commits succeeded.
    pub fn commits(&self) -> u64 {
        self.data().commits
    }

    /// The last committed revision.
    pub fn revision(&self) -> u64 {
        self.data().revision
    }

    /// The committed JSON of `key`.
    pub fn object(&self, key: &Key) -> Option<Vec<u8>> {
        self.data().objects.get(key).cloned()
    }

    /// How many objects are committed.
    pub fn len(&self) -> usize {
        self.data().objects.len()
    }

    /// Whether no object is committed.
    pub fn is_empty(&self) -> bool {
        self.data().objects.is_empty()
    }

    /// Makes every later commit fail with `message` (`None`: succeed again).
    pub fn fail_commits(&self, message: Option<&str>) {
        self.data().fail = message.map(str::to_owned);
    }
}

impl Backend for MemoryBackend {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        let data = self.data();
        let objects = data
            .objects
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok((objects, data.revision))
    }

    fn commit(&mut self, ops: &[Op], revision: u64) -> Result<(), StoreError> {
        let mut data = self.data();
        if let Some(message) = &data.fail {
            return Err(StoreError::Backend(message.clone()));
        }
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    data.objects.insert(key.clone(), value.clone());
                }
                Op::Delete { key } => {
                    data.objects.remove(key);
                }
            }
        }
        data.revision = revision;
        data.commits += 1;
        Ok(())
    }
}
