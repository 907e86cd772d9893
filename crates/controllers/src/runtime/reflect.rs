//! Watch caches: a kube-runtime watcher feeding a reflector store, restarted
//! with a fresh list whenever the server says the resourceVersion is gone.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::store::{Store, Writer};
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Aborts the task when dropped, so caches die with their controller.
pub(crate) struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A synced-or-syncing cache of one resource.
pub(crate) struct Reflected<K>
where
    K: Resource + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    pub(crate) store: Store<K>,
    _task: Option<AbortOnDrop>,
}

impl<K> Reflected<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    /// True once the first list has been applied.
    pub(crate) fn is_ready(&self) -> bool {
        self.store
            .wait_until_ready()
            .now_or_never()
            .is_some_and(|r| r.is_ok())
    }

    /// Resolves once the first list has been applied.
    pub(crate) async fn ready(&self) {
        if self.store.wait_until_ready().await.is_err() {
            // The writer is gone (task aborted): never ready.
            futures::future::pending::<()>().await;
        }
    }
}

/// Whether a watcher error means "resourceVersion too old": the watcher then
/// needs a relist. kube's watcher relists by itself on a 410 watch *event*,
/// but not when the watch request itself is answered 410.
fn is_gone(err: &watcher::Error) -> bool {
    let api = match err {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    };
    api == Some(410)
}

/// `namespace/name` of every object applied to a cache since the last drain
/// (upstream's informer "add" hooks, used to observe expectations).
pub(crate) type Observed = Arc<std::sync::Mutex<Vec<String>>>;

/// Drains an [`Observed`] log.
pub(crate) fn drain(observed: &Observed) -> Vec<String> {
    observed
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

/// Starts watching `api` into a store; every change pokes `trigger`.
pub(crate) fn reflect<K>(api: Api<K>, dyntype: K::DynamicType, trigger: Arc<Notify>) -> Reflected<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync + 'static,
{
    reflect_observed(api, dyntype, trigger, None, |_| {})
}

/// [`reflect`], keeping each object as `slim` leaves it (a controller that needs only part of
/// each object need not hold the rest).
pub(crate) fn reflect_slim<K>(
    api: Api<K>,
    dyntype: K::DynamicType,
    trigger: Arc<Notify>,
    slim: fn(&mut K),
) -> Reflected<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync + 'static,
{
    reflect_observed(api, dyntype, trigger, None, slim)
}

/// [`reflect`], also logging applied objects into `observed`, keeping them as `slim` leaves them.
pub(crate) fn reflect_observed<K>(
    api: Api<K>,
    dyntype: K::DynamicType,
    trigger: Arc<Notify>,
    observed: Option<Observed>,
    slim: fn(&mut K),
) -> Reflected<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync + 'static,
{
    let mut writer: Writer<K> = Writer::new(dyntype);
    let store = writer.as_reader();
    let task = tokio::spawn(async move {
        loop {
            let mut stream = watcher::watcher(api.clone(), watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(item) = stream.next().await {
                match item {
                    Ok(mut event) => {
                        if let Event::Apply(obj) | Event::Delete(obj) | Event::InitApply(obj) =
                            &mut event
                        {
                            slim(obj);
                        }
                        if let (Some(log), Event::Apply(obj) | Event::InitApply(obj)) =
                            (&observed, &event)
                        {
                            let meta = obj.meta();
                            let key = format!(
                                "{}/{}",
                                meta.namespace.as_deref().unwrap_or_default(),
                                meta.name.as_deref().unwrap_or_default()
                            );
                            if let Ok(mut log) = log.lock() {
                                log.push(key);
                            }
                        }
                        writer.apply_watcher_event(&event);
                        if matches!(event, Event::Apply(_) | Event::Delete(_) | Event::InitDone) {
                            trigger.notify_one();
                        }
                    }
                    Err(err) if is_gone(&err) => {
                        tracing::debug!(%err, "watch expired; relisting");
                        break;
                    }
                    Err(err) => tracing::debug!(%err, "watch error; retrying with back-off"),
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    Reflected {
        store,
        _task: Some(AbortOnDrop(task)),
    }
}

/// A cache fed by hand (tests): the returned writer applies watch events.
#[cfg(test)]
pub(crate) fn manual<K>(dyntype: K::DynamicType, objects: Vec<K>) -> (Writer<K>, Reflected<K>)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    let mut writer: Writer<K> = Writer::new(dyntype);
    writer.apply_watcher_event(&Event::Init);
    for o in objects {
        writer.apply_watcher_event(&Event::InitApply(o));
    }
    writer.apply_watcher_event(&Event::InitDone);
    let store = writer.as_reader();
    (writer, Reflected { store, _task: None })
}
