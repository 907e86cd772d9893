//! The thin I/O layer: watch caches, the reconcile loop, and action execution.
//!
//! ```text
//!  watcher ──► reflector store ──notify──► drive(): wait for a change, a requeue
//!   (relist on 410,                         │       time or a back-off expiry
//!    back-off on errors)                    ▼
//!                               Reconciler::pass(): snapshot the stores,
//!                               call the pure reconcile, execute its Plan
//!                               (per-key back-off), remember what it must
//!                               (expectations, assumed bindings, pending CIDRs)
//! ```

pub(crate) mod backoff;
pub(crate) mod executor;
pub(crate) mod loops;
pub(crate) mod reflect;

#[cfg(test)]
mod http_tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::Notify;
use tokio::time::Instant;

use backoff::KeyedBackoff;

/// A cloneable "stop now" signal.
pub(crate) type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Wraps a shutdown future so every controller can await it.
pub(crate) fn shutdown_signal(f: impl Future<Output = ()> + Send + 'static) -> Shutdown {
    f.boxed().shared()
}

/// Coalesces bursts of watch events into one pass.
const DEBOUNCE: Duration = Duration::from_millis(20);
/// Reconcile at least this often, whatever happens (a level-triggered safety net).
const RESYNC: Duration = Duration::from_secs(300);

/// One controller: waits for its caches, then reconciles everything per pass.
pub(crate) trait Reconciler: Send {
    /// Controller name, for logs.
    fn name(&self) -> &'static str;
    /// Resolves once the caches the first pass needs are synced.
    fn ready(&self) -> impl Future<Output = ()> + Send;
    /// One reconcile of everything; returns when to run again at the latest.
    fn pass(&mut self) -> impl Future<Output = Option<Duration>> + Send;
}

/// Runs `reconciler` until `shutdown`: a pass on start, on every change
/// (debounced), and when a requeue or back-off expires.
pub(crate) async fn drive<R: Reconciler>(
    mut reconciler: R,
    trigger: Arc<Notify>,
    shutdown: Shutdown,
) {
    tokio::select! {
        _ = shutdown.clone() => return,
        _ = reconciler.ready() => {}
    }
    tracing::info!(controller = reconciler.name(), "caches synced; starting");
    loop {
        let started = Instant::now();
        let requeue = reconciler.pass().await.unwrap_or(RESYNC).min(RESYNC);
        // A pass walks everything, so its cost grows with the cluster. Waiting at least as long
        // as the last pass took before the next (besides the debounce) keeps a controller under
        // about half a core while events stream in (thousands of objects created in a row),
        // leaving the rest to the API server and the other loops; small clusters, whose passes
        // take microseconds, still react after DEBOUNCE. (client-go's workqueue rate limiters and
        // kube-proxy's minSyncPeriod serve the same end.)
        let pace = started.elapsed().max(DEBOUNCE);
        let wake = Instant::now() + requeue;
        tokio::select! {
            _ = shutdown.clone() => {
                tracing::info!(controller = reconciler.name(), "shutting down");
                return;
            }
            _ = trigger.notified() => {
                tokio::time::sleep(pace).await;
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// The earliest of a plan's requeue and the next back-off expiry.
pub(crate) fn next_wake(requeue: Option<Duration>, backoff: &KeyedBackoff) -> Option<Duration> {
    let from_backoff = backoff.next_ready().map(|at| {
        at.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10))
    });
    match (requeue, from_backoff) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
