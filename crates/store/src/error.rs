//! Errors of the store.

use crate::Key;

/// An error of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(Key),
    /// The object already exists.
    #[error("{0} already exists")]
    AlreadyExists(Key),
    /// A [`crate::Precondition`] did not hold: `expected` is the precondition's resourceVersion or uid, `actual`
    /// the stored object's.
    #[error("precondition failed for {key}: expected {expected}, found {actual}")]
    Conflict {
        /// The object.
        key: Key,
        /// The value the precondition asked for.
        expected: String,
        /// The value the stored object has.
        actual: String,
    },
    /// A watch asked for events after `requested`, but the history starts after `oldest` (a watch from `oldest`
    /// or later would succeed). A watcher that fell too far behind also ends with this, `requested` being the last
    /// revision it received. The message mirrors the Kubernetes watch cache's.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone {
        /// The revision asked for.
        requested: u64,
        /// The oldest revision a watch can start from.
        oldest: u64,
    },
    /// The store was closed.
    #[error("store is closed")]
    Closed,
    /// The durable backend failed. After a failed commit the store refuses further writes (what reached the disk
    /// is unknown); reopen it.
    #[error("store backend: {0}")]
    Backend(String),
    /// The object is not a JSON object, or its `metadata` is not one.
    #[error("invalid object for {key}: {reason}")]
    InvalidObject {
        /// The object's key.
        key: Key,
        /// What is wrong.
        reason: String,
    },
    /// The function of [`crate::Store::guaranteed_update`] or [`crate::Store::modify`] aborted with its own error;
    /// get it back with [`StoreError::downcast_rejected`].
    #[error(transparent)]
    Rejected(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a caller's error, for the function of [`crate::Store::guaranteed_update`] to abort with.
    pub fn rejected<E: std::error::Error + Send + Sync + 'static>(error: E) -> StoreError {
        StoreError::Rejected(Box::new(error))
    }

    /// The caller's error of a [`StoreError::Rejected`] of type `E`, or the error itself when it is anything else.
    pub fn downcast_rejected<E: std::error::Error + 'static>(self) -> Result<E, StoreError> {
        match self {
            StoreError::Rejected(inner) => match inner.downcast::<E>() {
                Ok(typed) => Ok(*typed),
                Err(inner) => Err(StoreError::Rejected(inner)),
            },
            other => Err(other),
        }
    }

    /// A reference to the caller's error of a [`StoreError::Rejected`] of type `E`.
    pub fn rejected_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            StoreError::Rejected(inner) => inner.downcast_ref::<E>(),
            _ => None,
        }
    }
}
