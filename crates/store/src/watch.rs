//! A watch: the history backlog, then the live events of one resource (and namespace).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::store::Shared;
use crate::{Event, StoreError};

/// A stream of [`Event`]s in revision order. Ends with `Err(Gone)` when the watcher fell too far behind, and with
/// `None` when the store is closed. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Watch {
    shared: Arc<Shared>,
    resource: String,
    id: u64,
    /// Revision of the last event handed out (at first, the revision the watch started after).
    last: u64,
    backlog: std::vec::IntoIter<Arc<Event>>,
    rx: mpsc::Receiver<Arc<Event>>,
    lagged: Arc<AtomicBool>,
    done: bool,
}

impl Watch {
    pub(crate) fn new(
        shared: Arc<Shared>,
        resource: String,
        id: u64,
        after: u64,
        backlog: Vec<Arc<Event>>,
        rx: mpsc::Receiver<Arc<Event>>,
        lagged: Arc<AtomicBool>,
    ) -> Watch {
        Watch {
            shared,
            resource,
            id,
            last: after,
            backlog: backlog.into_iter(),
            rx,
            lagged,
            done: false,
        }
    }

    /// The next event; `None` once the watch has ended.
    pub async fn next(&mut self) -> Option<Result<Event, StoreError>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// The revision of the last event handed out (or the one the watch started after).
    pub fn last_revision(&self) -> u64 {
        self.last
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, StoreError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(event) = self.backlog.next() {
            self.last = event.revision;
            return Poll::Ready(Some(Ok(Arc::unwrap_or_clone(event))));
        }
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // Only a watch that started after a future revision sees events at or below its start.
                Poll::Ready(Some(event)) if event.revision <= self.last => continue,
                Poll::Ready(Some(event)) => {
                    self.last = event.revision;
                    return Poll::Ready(Some(Ok(Arc::unwrap_or_clone(event))));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    if self.lagged.load(Ordering::Acquire) {
                        let oldest = self.shared.read().compacted;
                        return Poll::Ready(Some(Err(StoreError::Gone {
                            requested: self.last,
                            oldest,
                        })));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl futures_core::Stream for Watch {
    type Item = Result<Event, StoreError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.done {
            self.shared.unregister(&self.resource, self.id);
        }
    }
}
