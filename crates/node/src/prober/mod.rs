//! Readiness, liveness and startup probes, run for real as kubelet's prober does
//! (pkg/kubelet/prober): one worker task per (container, probe kind) that follows the container's
//! instances, a result store the runtime reads through [`Probes`], and restarts through
//! [`PodRuntime::restart_container`]'s path.
//!
//! ```text
//!  Prober::start ──► worker (container, kind) ── tick: machine.rs (delay, period, thresholds, gating)
//!                        │ probe: handlers.rs (httpGet/tcpSocket via ProbeDialer, exec in the sandbox)
//!                        ├─► ProbeResults ◄── PodRuntime (ready, started) ──► pod status
//!                        │      └─ changed ─► PodRuntime::probe_results_changed ─► status writer
//!                        └─► liveness/startup failure ─► PodRuntime kill ─► restart (back-off, restartCount)
//! ```

mod handlers;
mod machine;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use tokio::task::JoinHandle;

use handlers::{Handler, Target};
pub use handlers::{HostDialer, ProbeDialer};
use machine::{Instance, Machine, Next, StoreOp, Timing, View};
pub use machine::{ProbeKind, ProbeOutcome, ProbeResult};

use crate::probe::Probes;
use crate::runtime::{PodRuntime, ProbeView};

/// The latest probe results of one pod, by container instance (kubelet's readiness, liveness and
/// startup results managers). Give it to the runtime as
/// [`RuntimeConfig::probes`](crate::RuntimeConfig::probes) through [`Prober::results`].
#[derive(Debug, Default)]
pub struct ProbeResults {
    results: Mutex<HashMap<(ProbeKind, String), ProbeResult>>,
}

impl ProbeResults {
    /// The latest `kind` result of container instance `container_id`, if any.
    pub fn get(&self, kind: ProbeKind, container_id: &str) -> Option<ProbeResult> {
        self.lock().get(&(kind, container_id.to_owned())).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(ProbeKind, String), ProbeResult>> {
        self.results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `op`; returns whether a result changed.
    fn apply(&self, kind: ProbeKind, op: StoreOp) -> bool {
        let mut results = self.lock();
        match op {
            StoreOp::Set {
                container_id,
                result,
            } => results.insert((kind, container_id), result) != Some(result),
            StoreOp::Remove { container_id } => results.remove(&(kind, container_id)).is_some(),
        }
    }

    fn known(&self, kind: ProbeKind, container_id: &str) -> Option<bool> {
        match self.get(kind, container_id)? {
            ProbeResult::Success => Some(true),
            ProbeResult::Failure => Some(false),
            ProbeResult::Unknown => None,
        }
    }
}

impl Probes for ProbeResults {
    fn readiness(&self, _container: &str, container_id: &str) -> Option<bool> {
        self.known(ProbeKind::Readiness, container_id)
    }

    fn startup(&self, _container: &str, container_id: &str) -> Option<bool> {
        self.known(ProbeKind::Startup, container_id)
    }
}

/// One pod's prober: create it before the pod's [`PodRuntime`], put [`results`](Self::results)
/// in the runtime's config, then [`start`](Self::start) the workers with the runtime.
#[derive(Clone)]
pub struct Prober {
    dialer: Arc<dyn ProbeDialer>,
    results: Arc<ProbeResults>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("results", &self.results)
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// A prober whose HTTP and TCP probes connect with sockets from `dialer`.
    pub fn new(dialer: Arc<dyn ProbeDialer>) -> Prober {
        Prober {
            dialer,
            results: Arc::new(ProbeResults::default()),
        }
    }

    /// The results, for [`RuntimeConfig::probes`](crate::RuntimeConfig::probes).
    pub fn results(&self) -> Arc<ProbeResults> {
        self.results.clone()
    }

    /// Starts one worker per probe of `runtime`'s containers and sidecars (restartable init
    /// containers, the only init containers that may have probes). HTTP and TCP probes go to
    /// `pod_ip` unless they name a host. The workers need a tokio runtime; they end when the pod's
    /// runtime has terminated or is dropped, or with the returned handle.
    pub fn start(&self, runtime: &Arc<PodRuntime>, pod_ip: IpAddr) -> ProbeWorkers {
        let Some(spec) = runtime.pod().spec.as_ref() else {
            return ProbeWorkers { tasks: Vec::new() };
        };
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        let pod_label = format!(
            "{}/{}",
            runtime
                .pod()
                .metadata
                .namespace
                .as_deref()
                .unwrap_or("default"),
            runtime.pod().metadata.name.as_deref().unwrap_or_default()
        );
        let mut tasks = Vec::new();
        for container in sidecars.chain(&spec.containers) {
            let probes = [
                (ProbeKind::Startup, &container.startup_probe),
                (ProbeKind::Readiness, &container.readiness_probe),
                (ProbeKind::Liveness, &container.liveness_probe),
            ];
            for (kind, probe) in probes {
                let Some(probe) = probe.clone() else { continue };
                let worker = Worker {
                    runtime: Arc::downgrade(runtime),
                    results: self.results.clone(),
                    dialer: self.dialer.clone(),
                    container: container.clone(),
                    has_startup: container.startup_probe.is_some(),
                    kind,
                    probe,
                    pod_ip,
                    pod_label: pod_label.clone(),
                };
                tasks.push(tokio::spawn(worker.run()));
            }
        }
        ProbeWorkers { tasks }
    }
}

/// A pod's running probe workers; dropping it (or [`stop`](Self::stop)) stops them.
#[derive(Debug)]
pub struct ProbeWorkers {
    tasks: Vec<JoinHandle<()>>,
}

impl ProbeWorkers {
    /// How many workers were started (one per probe).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the pod has no probes.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Stops every worker.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for ProbeWorkers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One (container, probe kind) worker (kubelet pkg/kubelet/prober/worker.go).
struct Worker {
    runtime: Weak<PodRuntime>,
    results: Arc<ProbeResults>,
    dialer: Arc<dyn ProbeDialer>,
    container: Container,
    has_startup: bool,
    kind: ProbeKind,
    probe: Probe,
    pod_ip: IpAddr,
    pod_label: String,
}

/// What a tick asked for, with what the probe needs.
enum Step {
    Wait(Duration),
    Probe {
        container_id: String,
        exec: Option<Box<Result<std::process::Command, String>>>,
    },
    Stop,
}

impl Worker {
    async fn run(self) {
        let clock = tokio::time::Instant::now();
        let mut machine = Machine::new(self.kind, Timing::of(&self.probe, self.kind));
        let Some(mut changes) = self.runtime.upgrade().map(|rt| rt.changes()) else {
            return;
        };
        loop {
            let now = clock.elapsed();
            let step = match self.runtime.upgrade() {
                Some(rt) => self.tick(&rt, &mut machine, now),
                None => Step::Stop,
            };
            match step {
                Step::Stop => return,
                Step::Wait(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(clock + until) => {}
                        changed = changes.changed() => if changed.is_err() { return },
                    }
                }
                Step::Probe { container_id, exec } => {
                    let outcome = self.probe_once(exec, machine.timing().timeout).await;
                    let Some(rt) = self.runtime.upgrade() else {
                        return;
                    };
                    let recorded = machine.record(now, &outcome);
                    self.report(&outcome, &recorded.ops);
                    self.apply(&rt, recorded.ops);
                    if recorded.restart {
                        self.restart(&rt, &container_id);
                    }
                }
            }
        }
    }

    /// Looks at the container and applies what the machine says.
    fn tick(&self, rt: &PodRuntime, machine: &mut Machine, now: Duration) -> Step {
        if rt.is_terminated() {
            return Step::Stop;
        }
        let view = rt.probe_view(&self.container.name);
        let instance = match &view {
            ProbeView::Absent => Instance::Absent,
            ProbeView::Running {
                container_id,
                started_at,
            } => Instance::Running {
                id: container_id,
                since_start: jiff::Timestamp::now()
                    .duration_since(*started_at)
                    .try_into()
                    .unwrap_or(Duration::ZERO),
                started: !self.has_startup
                    || self.results.get(ProbeKind::Startup, container_id)
                        == Some(ProbeResult::Success),
            },
            ProbeView::Terminated { container_id } => Instance::Exited { id: container_id },
        };
        let tick = machine.tick(View {
            instance,
            pod_deleting: rt.is_stopping(),
            restart_never: rt.restart_policy() == "Never",
            now,
        });
        self.apply(rt, tick.ops);
        match tick.next {
            Next::Stop => Step::Stop,
            Next::WaitUntil(until) => Step::Wait(until),
            Next::Probe => {
                let container_id = match view {
                    ProbeView::Running { container_id, .. } => container_id,
                    // The machine probes only running instances.
                    _ => return Step::Wait(now + machine.timing().period),
                };
                // Everything the probe needs from the runtime is taken now, so that the probe does
                // not keep the runtime alive.
                let exec = match Handler::of(&self.probe) {
                    Handler::Exec(argv) => Some(Box::new(
                        rt.exec_command(&self.container.name, argv)
                            .map_err(|e| e.to_string()),
                    )),
                    _ => None,
                };
                Step::Probe { container_id, exec }
            }
        }
    }

    /// Runs the probe once.
    async fn probe_once(
        &self,
        exec: Option<Box<Result<std::process::Command, String>>>,
        timeout: Duration,
    ) -> ProbeOutcome {
        let target = Target {
            pod_ip: self.pod_ip,
            container: &self.container,
        };
        match Handler::of(&self.probe) {
            Handler::Exec(argv) => match exec.map(|e| *e) {
                Some(Ok(command)) => handlers::exec(command, argv, timeout).await,
                Some(Err(e)) => ProbeOutcome::Error(e),
                None => ProbeOutcome::Error("no command to run".to_owned()),
            },
            Handler::Http(action) => {
                handlers::http_get(action, target, self.dialer.as_ref(), timeout).await
            }
            Handler::Tcp(action) => {
                handlers::tcp_socket(action, target, self.dialer.as_ref(), timeout).await
            }
            Handler::Grpc(action) => handlers::grpc(action),
            Handler::Missing => ProbeOutcome::Error(
                "the probe has no handler (exec, httpGet, tcpSocket or grpc)".to_owned(),
            ),
        }
    }

    /// Stores results; a change of readiness or startup makes the runtime report status again.
    fn apply(&self, rt: &PodRuntime, ops: Vec<StoreOp>) {
        let mut changed = false;
        for op in ops {
            changed |= self.results.apply(self.kind, op);
        }
        if changed && self.kind != ProbeKind::Liveness {
            rt.probe_results_changed();
        }
    }

    /// Logs what kubelet records as `Unhealthy` events.
    fn report(&self, outcome: &ProbeOutcome, ops: &[StoreOp]) {
        let (pod, container, kind) = (&self.pod_label, &self.container.name, self.kind.name());
        match outcome {
            ProbeOutcome::Success(_) => {
                if !ops.is_empty() {
                    tracing::debug!(%pod, %container, "{kind} probe succeeded");
                }
            }
            ProbeOutcome::Failure(message) if ops.is_empty() => {
                tracing::debug!(%pod, %container, "{kind} probe failed: {message}");
            }
            ProbeOutcome::Failure(message) => {
                tracing::info!(%pod, %container, "{kind} probe failed: {message}");
            }
            ProbeOutcome::Error(message) => {
                tracing::warn!(%pod, %container, "{kind} probe errored: {message}");
            }
        }
    }

    /// Kills the failed instance so that the runtime restarts it (kubelet: "Container X failed
    /// liveness probe, will be restarted"), with the probe's own grace period when it has one.
    fn restart(&self, rt: &PodRuntime, container_id: &str) {
        let (pod, container, kind) = (&self.pod_label, &self.container.name, self.kind.name());
        tracing::info!(%pod, %container, "container failed {kind} probe, will be restarted");
        let grace = self
            .probe
            .termination_grace_period_seconds
            .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
        if let Err(e) = rt.kill_for_restart(container, Some(container_id), grace) {
            tracing::debug!(%pod, %container, error = %e, "restart after a probe failure");
        }
    }
}
