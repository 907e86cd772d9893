//! Keeps [`DnsState`]'s snapshot in step with the API: reflectors for Services,
//! EndpointSlices and Pods, and a debounced rebuild-and-swap after every change.

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::store::{Store, Writer};
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::{DnsState, Snapshot};

/// Watches Services, EndpointSlices and Pods in all namespaces and rebuilds the zone after
/// each burst of changes (quiet period [`crate::DnsConfig::rebuild_debounce`]), until
/// `shutdown` resolves. The first zone is published once all three lists have arrived; watch
/// errors are retried with back-off, so this only returns on shutdown.
pub async fn run_watcher(
    client: kube::Client,
    state: Arc<DnsState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let trigger = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    let services = reflect::<Service>(
        Api::all(client.clone()),
        trigger.clone(),
        &mut tasks,
        |_| {},
    );
    let slices = reflect::<EndpointSlice>(
        Api::all(client.clone()),
        trigger.clone(),
        &mut tasks,
        |_| {},
    );
    let pods = reflect::<Pod>(Api::all(client), trigger.clone(), &mut tasks, slim_pod);
    tokio::pin!(shutdown);

    let synced = async {
        let _ = services.wait_until_ready().await;
        let _ = slices.wait_until_ready().await;
        let _ = pods.wait_until_ready().await;
    };
    tokio::select! {
        _ = &mut shutdown => { tasks.abort_all(); return; }
        _ = synced => {}
    }
    let debounce = state.config().rebuild_debounce;
    loop {
        // The stores' Arcs, not copies of the objects.
        let started = tokio::time::Instant::now();
        let snapshot = Snapshot::build_from(
            &services.state(),
            &slices.state(),
            &pods.state(),
            state.config(),
        );
        let took = started.elapsed();
        state.replace(snapshot);
        tracing::debug!(serial = state.snapshot().serial(), "DNS zone rebuilt");
        tokio::select! {
            _ = &mut shutdown => break,
            _ = trigger.notified() => {}
        }
        // Let a burst of events (a Deployment's pods, a slice rewrite) settle into one rebuild;
        // in a large zone, at least as long as the last rebuild took, so that a stream of
        // changes cannot keep the rebuild busy all the time.
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(debounce.max(took)) => {}
        }
    }
    tasks.abort_all();
}

/// Whether a watcher error means "resourceVersion too old", which needs a fresh list: kube's
/// watcher relists on a 410 watch event by itself, but not when the watch request is refused.
fn is_gone(err: &watcher::Error) -> bool {
    let code = match err {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    };
    code == Some(410)
}

/// What the zone needs of a pod: its name and namespace, `hostname` and `subdomain`, phase and
/// addresses. The watcher keeps only that (a full Pod is several KiB: at 50,000 pods the rest
/// would be hundreds of MiB held for nothing).
pub fn slim_pod(pod: &mut Pod) {
    let meta = std::mem::take(&mut pod.metadata);
    pod.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        ..ObjectMeta::default()
    };
    pod.spec = pod.spec.take().map(|s| PodSpec {
        hostname: s.hostname,
        subdomain: s.subdomain,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|s| PodStatus {
        phase: s.phase,
        pod_ip: s.pod_ip,
        pod_ips: s.pod_ips,
        ..PodStatus::default()
    });
}

/// Starts a reflector for `api` on `tasks`, keeping each object as `slim` leaves it; every
/// applied event pokes `trigger`.
fn reflect<K>(
    api: Api<K>,
    trigger: Arc<Notify>,
    tasks: &mut JoinSet<()>,
    slim: fn(&mut K),
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Default + Send + Sync + 'static,
{
    let mut writer: Writer<K> = Writer::new(K::DynamicType::default());
    let store = writer.as_reader();
    tasks.spawn(async move {
        loop {
            let mut stream = watcher::watcher(api.clone(), watcher::Config::default())
                .default_backoff()
                .boxed();
            let mut relist = false;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(mut event) => {
                        if let watcher::Event::Apply(o)
                        | watcher::Event::Delete(o)
                        | watcher::Event::InitApply(o) = &mut event
                        {
                            slim(o);
                        }
                        let changed = matches!(
                            event,
                            watcher::Event::Apply(_)
                                | watcher::Event::Delete(_)
                                | watcher::Event::InitDone
                        );
                        writer.apply_watcher_event(&event);
                        if changed {
                            trigger.notify_one();
                        }
                    }
                    Err(e) if is_gone(&e) => {
                        relist = true;
                        break;
                    }
                    Err(e) => tracing::debug!(error = %e, "DNS watch error; retrying"),
                }
            }
            if !relist {
                // The stream ended (it should not); start over after a pause.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    });
    store
}
