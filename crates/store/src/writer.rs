//! The single writer: group commit of every pending request in one backend transaction.
//!
//! Per batch: each request is checked against the index (plus the batch's own earlier writes) in arrival order and
//! gets the next revision; the batch is committed once (one fsync); only then is it applied to the index, its
//! events published in revision order, and the callers answered. A caller is thus acknowledged only after its write
//! is durable, and it reads its own write as soon as it is acknowledged.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::backend::{Backend, Op};
use crate::store::{Entry, Shared};
use crate::{Change, Event, EventType, Key, Outcome, Precondition, StoreError};

/// Most requests in one batch (one backend transaction).
const MAX_BATCH: usize = 1024;

/// The function of a read-modify-write.
pub(crate) type UpdateFn = Box<dyn FnOnce(Option<&Value>) -> Result<Change, StoreError> + Send>;

/// Where the writer answers a write.
pub(crate) type Reply = oneshot::Sender<Result<Outcome, StoreError>>;

/// What a caller asks of the writer.
pub(crate) enum Request {
    Write {
        key: Key,
        op: WriteOp,
        reply: Reply,
    },
    /// Finish what is queued before this, then stop.
    Close {
        reply: oneshot::Sender<()>,
    },
}

pub(crate) enum WriteOp {
    Create(Value),
    Update(Value, Precondition),
    Delete(Precondition),
    Modify(UpdateFn),
}

pub(crate) fn spawn(shared: Arc<Shared>, backend: Box<dyn Backend>, rx: mpsc::Receiver<Request>) {
    let run = move || {
        Writer {
            shared,
            backend,
            failed: None,
        }
        .run(rx)
    };
    if let Err(e) = std::thread::Builder::new()
        .name("knet-store-writer".into())
        .spawn(run)
    {
        // The receiver was moved into the closure and dropped with it: every write will answer Closed.
        tracing::error!("cannot start the store writer thread: {e}");
    }
}

struct Writer {
    shared: Arc<Shared>,
    backend: Box<dyn Backend>,
    /// Set by a failed commit: what reached the disk is unknown, so no further write is accepted.
    failed: Option<String>,
}

/// A request of the batch being prepared, and what it will answer.
struct Pending {
    reply: Reply,
    result: Result<Outcome, StoreError>,
    /// Whether `result` depends on the commit.
    writes: bool,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        let mut close = None;
        while close.is_none() {
            let Ok(first) = rx.recv() else { break };
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Close { reply } => close = Some(reply),
                    Request::Write { key, op, reply } => {
                        batch.push((key, op, reply));
                        if batch.len() < MAX_BATCH {
                            next = rx.try_recv().ok();
                        }
                    }
                }
            }
            self.process(batch);
        }
        // Requests queued behind a close are dropped with rx: their callers get Closed.
        drop(rx);
        drop(self.backend);
        self.shared.shutdown();
        if let Some(reply) = close {
            let _ = reply.send(());
        }
    }

    fn process(&mut self, batch: Vec<(Key, WriteOp, Reply)>) {
        let mut revision = self.shared.read().revision;
        let base = revision;
        let mut changes: HashMap<Key, Option<Entry>> = HashMap::new();
        let mut ops = Vec::new();
        let mut events = Vec::new();
        let mut pending = Vec::with_capacity(batch.len());
        for (key, op, reply) in batch {
            if let Some(message) = &self.failed {
                let result = Err(StoreError::Backend(format!(
                    "store failed earlier: {message}"
                )));
                pending.push(Pending {
                    reply,
                    result,
                    writes: false,
                });
                continue;
            }
            let current = match changes.get(&key) {
                Some(entry) => entry.clone(),
                None => self.shared.entry(&key),
            };
            let result = decide(&key, current.as_ref(), op).and_then(|decision| {
                apply_decision(
                    &key,
                    current,
                    decision,
                    &mut revision,
                    &mut changes,
                    &mut ops,
                    &mut events,
                )
            });
            let writes = matches!(result, Ok(Outcome::Put(_) | Outcome::Deleted(_)));
            pending.push(Pending {
                reply,
                result,
                writes,
            });
        }

        if !ops.is_empty() {
            match self.backend.commit(&ops, revision) {
                Ok(()) => self.shared.apply(changes, revision, events),
                Err(e) => {
                    let message = e.to_string();
                    tracing::error!(
                        revisions = %format!("{}..={revision}", base + 1),
                        "store commit failed, refusing further writes: {message}"
                    );
                    for p in pending.iter_mut().filter(|p| p.writes) {
                        p.result = Err(StoreError::Backend(message.clone()));
                    }
                    self.failed = Some(message);
                }
            }
        }
        for p in pending {
            // A caller that went away does not care.
            let _ = p.reply.send(p.result);
        }
    }
}

/// What a request does to the current state, before revisions are assigned.
enum Decision {
    /// Store this object; `prev` tells whether it is an Added or a Modified.
    Put(Value),
    Delete,
    Unchanged,
}

fn decide(key: &Key, current: Option<&Entry>, op: WriteOp) -> Result<Decision, StoreError> {
    match op {
        WriteOp::Create(object) => match current {
            Some(_) => Err(StoreError::AlreadyExists(key.clone())),
            None => Ok(Decision::Put(object)),
        },
        WriteOp::Update(object, pre) => {
            let current = current.ok_or_else(|| StoreError::NotFound(key.clone()))?;
            check_precondition(key, current, &pre)?;
            Ok(Decision::Put(object))
        }
        WriteOp::Delete(pre) => {
            let current = current.ok_or_else(|| StoreError::NotFound(key.clone()))?;
            check_precondition(key, current, &pre)?;
            Ok(Decision::Delete)
        }
        WriteOp::Modify(f) => {
            let object = current.map(|e| &*e.object);
            // The function is the caller's code: a panic in it fails that request, not the writer.
            let change = catch_unwind(AssertUnwindSafe(move || f(object)))
                .map_err(|_| StoreError::rejected(Panicked(key.to_string())))??;
            match change {
                Change::Put(object) => {
                    if let Some(reason) = object_problem(&object) {
                        return Err(StoreError::InvalidObject {
                            key: key.clone(),
                            reason: reason.to_owned(),
                        });
                    }
                    Ok(Decision::Put(object))
                }
                Change::Delete if current.is_none() => Err(StoreError::NotFound(key.clone())),
                Change::Delete => Ok(Decision::Delete),
                Change::Keep => Ok(Decision::Unchanged),
            }
        }
    }
}

/// The error of a read-modify-write function that panicked.
#[derive(Debug, thiserror::Error)]
#[error("the update function for {0} panicked")]
struct Panicked(String);

/// Mirrors `storage.Preconditions.Check` of the Kubernetes API server (staging/src/k8s.io/apiserver/pkg/storage/
/// interfaces.go).
fn check_precondition(key: &Key, current: &Entry, pre: &Precondition) -> Result<(), StoreError> {
    match pre {
        Precondition::None => Ok(()),
        Precondition::ResourceVersion(rv) if *rv == current.revision => Ok(()),
        Precondition::ResourceVersion(rv) => Err(StoreError::Conflict {
            key: key.clone(),
            expected: rv.to_string(),
            actual: current.revision.to_string(),
        }),
        Precondition::Uid(uid) => {
            let actual = current
                .object
                .get("metadata")
                .and_then(|m| m.get("uid"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if actual == uid {
                Ok(())
            } else {
                Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: uid.clone(),
                    actual: actual.to_owned(),
                })
            }
        }
    }
}

fn apply_decision(
    key: &Key,
    current: Option<Entry>,
    decision: Decision,
    revision: &mut u64,
    changes: &mut HashMap<Key, Option<Entry>>,
    ops: &mut Vec<Op>,
    events: &mut Vec<Event>,
) -> Result<Outcome, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidObject {
        key: key.clone(),
        reason: reason.to_owned(),
    };
    match decision {
        Decision::Unchanged => Ok(Outcome::Unchanged(current.map(|e| e.object))),
        Decision::Put(mut object) => {
            if let Some(current) = &current {
                set_resource_version(&mut object, current.revision).map_err(invalid)?;
                if object == *current.object {
                    return Ok(Outcome::Unchanged(Some(current.object.clone())));
                }
            }
            let rev = *revision + 1;
            set_resource_version(&mut object, rev).map_err(invalid)?;
            let value = serde_json::to_vec(&object).map_err(|e| invalid(&e.to_string()))?;
            *revision = rev;
            let object = Arc::new(object);
            ops.push(Op::Put {
                key: key.clone(),
                value,
            });
            events.push(Event {
                revision: rev,
                kind: if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                },
                key: key.clone(),
                object: object.clone(),
                prev: current.map(|e| e.object),
            });
            changes.insert(
                key.clone(),
                Some(Entry {
                    revision: rev,
                    object: object.clone(),
                }),
            );
            Ok(Outcome::Put(object))
        }
        Decision::Delete => {
            let current = current.ok_or_else(|| StoreError::NotFound(key.clone()))?;
            let rev = *revision + 1;
            let mut last = (*current.object).clone();
            set_resource_version(&mut last, rev).map_err(invalid)?;
            *revision = rev;
            let last = Arc::new(last);
            ops.push(Op::Delete { key: key.clone() });
            events.push(Event {
                revision: rev,
                kind: EventType::Deleted,
                key: key.clone(),
                object: last.clone(),
                prev: Some(current.object),
            });
            changes.insert(key.clone(), None);
            Ok(Outcome::Deleted(last))
        }
    }
}

/// Why the store cannot keep `object`, if it cannot.
pub(crate) fn object_problem(object: &Value) -> Option<&'static str> {
    match object {
        Value::Object(map) => match map.get("metadata") {
            None | Some(Value::Object(_)) => None,
            Some(_) => Some("metadata is not a JSON object"),
        },
        _ => Some("not a JSON object"),
    }
}

fn set_resource_version(object: &mut Value, revision: u64) -> Result<(), &'static str> {
    let map = object.as_object_mut().ok_or("not a JSON object")?;
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or("metadata is not a JSON object")?;
    metadata.insert(
        "resourceVersion".to_owned(),
        Value::String(revision.to_string()),
    );
    Ok(())
}
