//! The containers of one pod as supervised processes: started through the pod's [`Sandbox`], output
//! kept in CRI log files, restarted per `restartPolicy` with kubelet's back-off, reported as
//! `ContainerStatus` values, and stopped with SIGTERM, the grace period, then SIGKILL.
//!
//! ```text
//!  PodRuntime::start ──► pod task: init containers one by one (each to exit 0)
//!                                  then one supervisor per container:
//!        ┌────────────────────────────────────────────────────────────────────────┐
//!        │ plan ─Waiting─► ErrImagePull ⇄ ImagePullBackOff (back-off) ─► plan ... │
//!        │  └─► spawn (own process group, stdout/stderr → <log dir>/<c>/<n>.log)  │
//!        │       Running ─► exit ─► Terminated ─restartPolicy─► CrashLoopBackOff  │
//!        │                                        (10 s doubling to 300 s) ─► spawn│
//!        └────────────────────────────────────────────────────────────────────────┘
//!  PodRuntime::restart_container (a failed liveness/startup probe): SIGTERM, grace, SIGKILL; the
//!  instance is then restarted (back-off, restartCount) unless restartPolicy is Never.
//!  PodRuntime::terminate: no more restarts; SIGTERM to every process group; after the grace
//!  period SIGKILL; every child reaped.
//! ```
//!
//! Each container instance is a process group of its own (the group of its first process), so
//! signals reach the processes it started too; when the first process exits, what is left of its
//! group is killed, as a container's PID namespace ends with its init.

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::backoff::{Backoff, BackoffPolicy, go_duration};
use crate::logs::{self, LogError, LogFile, LogStream};
use crate::plan::{
    Images, PodContext, ProcessSpec, REASON_CREATE_CONTAINER_CONFIG_ERROR, REASON_ERR_IMAGE_PULL,
    REASON_IMAGE_PULL_BACK_OFF, plan_container,
};
use crate::probe::{NoProbes, Probes, started_and_ready};
use crate::sandbox::Sandbox;
use crate::status::pod_status;
use crate::streams::{self, IoSession};

/// Waiting reason of a container about to be created (kubelet `ContainerCreating`).
pub const REASON_CONTAINER_CREATING: &str = "ContainerCreating";
/// Waiting reason of containers while init containers run (kubelet `PodInitializing`).
pub const REASON_POD_INITIALIZING: &str = "PodInitializing";
/// Waiting reason between restarts (kubelet `ErrCrashLoopBackOff`).
pub const REASON_CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
/// Terminated reason of exit code 0.
pub const REASON_COMPLETED: &str = "Completed";
/// Terminated reason of any other exit.
pub const REASON_ERROR: &str = "Error";
/// Terminated reason of a process that could not be started (containerd `StartError`, exit 128).
pub const REASON_START_ERROR: &str = "StartError";

/// Default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);
/// How long the output of an exited container may still be drained (a process that left the
/// container's process group may hold its pipes open).
const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// `terminationMessagePolicy: FallbackToLogsOnError` takes at most this much of the log (kubelet
/// `kubecontainer.MaxContainerTerminationMessageLogLines`/`...LogLength`).
const FALLBACK_MESSAGE_LINES: usize = 80;
const FALLBACK_MESSAGE_BYTES: usize = 2048;

/// Errors of [`PodRuntime`] operations.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The pod has no container of that name.
    #[error("container {container} is not valid for pod {pod}")]
    UnknownContainer {
        /// The name asked for.
        container: String,
        /// The pod's name.
        pod: String,
    },
    /// The container is not running, so nothing can be run in it.
    #[error("container {container:?} in pod {pod:?} is not running")]
    NotRunning {
        /// The container's name.
        container: String,
        /// The pod's name.
        pod: String,
    },
    /// The container's configuration cannot be built (see the container's waiting reason).
    #[error("container {container:?}: {reason}: {message}")]
    Config {
        /// The container's name.
        container: String,
        /// The waiting reason.
        reason: String,
        /// The waiting message.
        message: String,
    },
    /// The pod has no `spec`.
    #[error("pod {0:?} has no spec")]
    NoSpec(String),
}

/// The current data of what containers' environments come from: the ConfigMaps and Secrets the
/// pod refers to and the Service variables ([`crate::service_env`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSourceData {
    /// `data` of the ConfigMaps of the pod's namespace, by name (absent: not found).
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// `data` of the Secrets of the pod's namespace, by name, decoded (absent: not found).
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// Service environment variables, `enableServiceLinks` already applied.
    pub service_env: BTreeMap<String, String>,
}

/// Reads [`EnvSourceData`] for a pod. The runtime asks before each container instance starts, as
/// kubelet computes a container's environment at each start (`makeEnvironmentVariables`,
/// pkg/kubelet/kubelet_pods.go): a restarted container sees the Services, ConfigMaps and Secrets
/// of that moment, and a container waiting on a missing ConfigMap starts once it exists.
pub trait EnvSources: Send + Sync {
    /// The data `pod`'s containers may use now. Failures are the implementation's to report; what
    /// could not be read is left out (a required ConfigMap or Secret then reads as not found).
    fn read<'a>(&'a self, pod: &'a Pod) -> BoxFuture<'a, EnvSourceData>;
}

/// How a [`PodRuntime`] runs its pod.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// The pod's log directory (kubelet: `/var/log/pods/<namespace>_<pod>_<uid>`, see
    /// [`logs::pod_log_dir`]); container logs go to `<container>/<restartCount>.log` in it.
    pub log_dir: PathBuf,
    /// Restart and image-pull back-off (default: 10 s doubling to 300 s).
    pub backoff: BackoffPolicy,
    /// The shortest grace period a container gets before SIGKILL, whatever the pod asks (kubelet
    /// `minimumGracePeriodInSeconds`, 2 s).
    pub min_grace_period: Duration,
    /// Built-in images and host programs.
    pub images: Arc<dyn Images>,
    /// Probe results (default: none, containers without probes are ready when running).
    pub probes: Arc<dyn Probes>,
    /// Downward API and env source data.
    pub context: PodContext,
    /// Read before each container instance starts; replaces the env source data of
    /// [`context`](Self::context). None: the context's data is used as it is.
    pub env_sources: Option<Arc<dyn EnvSources>>,
    /// Where each container's environment is written when an instance of it starts, so that a
    /// command run in the container from another process (`knet exec`) gets the same variables,
    /// as a runtime's exec does: `<env_dir>/<container>`, `NAME=VALUE` entries each ended by a
    /// NUL byte, mode 0600 (values may come from Secrets). None: not written.
    pub env_dir: Option<PathBuf>,
}

impl RuntimeConfig {
    /// Kubelet's defaults, logs in `log_dir`.
    pub fn new(log_dir: impl Into<PathBuf>, images: Arc<dyn Images>) -> Self {
        Self {
            log_dir: log_dir.into(),
            backoff: BackoffPolicy::default(),
            min_grace_period: Duration::from_secs(2),
            images,
            probes: Arc::new(NoProbes),
            context: PodContext::default(),
            env_sources: None,
            env_dir: None,
        }
    }
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("log_dir", &self.log_dir)
            .field("backoff", &self.backoff)
            .field("min_grace_period", &self.min_grace_period)
            .field("context", &self.context)
            .field("env_sources", &self.env_sources.is_some())
            .field("env_dir", &self.env_dir)
            .finish_non_exhaustive()
    }
}

/// A process's exit code, 128 + the signal that ended it otherwise (as runtimes report it).
fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|sig| 128 + sig))
        .unwrap_or(255)
}

/// What [`PodRuntime::terminate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Termination {
    /// The grace period that applied.
    pub grace_period: Duration,
    /// Containers whose processes were still running when it ended and got SIGKILL.
    pub killed: Vec<String>,
}

/// The grace period for stopping `pod`'s containers: `override_` (a force delete, an eviction), else
/// `metadata.deletionGracePeriodSeconds`, else `spec.terminationGracePeriodSeconds` (default 30 s);
/// never below `minimum` (kubelet `killContainer`, pkg/kubelet/kuberuntime/kuberuntime_container.go).
pub fn grace_period(pod: &Pod, override_: Option<Duration>, minimum: Duration) -> Duration {
    let seconds = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(0));
    let from_pod = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .map_or(DEFAULT_GRACE_PERIOD, seconds);
    override_.unwrap_or(from_pod).max(minimum)
}

/// Whether a container that exited with `exit_code` is started again (kubelet
/// `ShouldContainerBeRestarted`, pkg/kubelet/container/helpers.go).
pub fn should_restart(restart_policy: &str, exit_code: i32) -> bool {
    match restart_policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// A terminated container instance.
#[derive(Debug, Clone)]
struct Terminated {
    container_id: String,
    /// The restart count of the instance, which names its log file.
    restart: u32,
    exit_code: i32,
    reason: String,
    message: Option<String>,
    started_at: Option<Timestamp>,
    finished_at: Timestamp,
}

impl Terminated {
    fn to_api(&self) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                container_id: Some(self.container_id.clone()),
                exit_code: self.exit_code,
                reason: Some(self.reason.clone()),
                message: self.message.clone(),
                started_at: self.started_at.map(Time),
                finished_at: Some(Time(self.finished_at)),
                signal: None,
            }),
            ..ContainerState::default()
        }
    }
}

#[derive(Debug, Clone)]
enum InstanceState {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        container_id: String,
        started_at: Timestamp,
        /// The instance's process group.
        pgid: i32,
        /// What it was started as (its environment and working directory serve exec).
        process: Arc<ProcessSpec>,
    },
    Terminated(Terminated),
}

/// What the runtime knows of one container.
#[derive(Debug, Clone)]
struct Record {
    spec: Container,
    state: InstanceState,
    last_terminated: Option<Terminated>,
    restart_count: u32,
    image_id: String,
    /// Set when the running instance is killed to be restarted (a liveness or startup probe
    /// failure): it is then restarted whatever its exit code unless the policy is `Never`.
    restart_requested: bool,
}

impl Record {
    fn new(spec: Container, reason: &str) -> Self {
        Self {
            spec,
            state: InstanceState::Waiting {
                reason: reason.to_owned(),
                message: None,
            },
            last_terminated: None,
            restart_count: 0,
            image_id: String::new(),
            restart_requested: false,
        }
    }

    fn to_api(&self, probes: &dyn Probes) -> ContainerStatus {
        let (state, container_id, started, ready) = match &self.state {
            InstanceState::Waiting { reason, message } => (
                ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.clone()),
                        message: message.clone(),
                    }),
                    ..ContainerState::default()
                },
                None,
                false,
                false,
            ),
            InstanceState::Running {
                container_id,
                started_at,
                ..
            } => {
                let (started, ready) = started_and_ready(&self.spec, container_id, probes);
                (
                    ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(Time(*started_at)),
                        }),
                        ..ContainerState::default()
                    },
                    Some(container_id.clone()),
                    started,
                    ready,
                )
            }
            InstanceState::Terminated(t) => {
                (t.to_api(), Some(t.container_id.clone()), false, false)
            }
        };
        ContainerStatus {
            name: self.spec.name.clone(),
            image: self.spec.image.clone().unwrap_or_default(),
            image_id: self.image_id.clone(),
            container_id,
            state: Some(state),
            last_state: Some(
                self.last_terminated
                    .as_ref()
                    .map(Terminated::to_api)
                    .unwrap_or_default(),
            ),
            restart_count: i32::try_from(self.restart_count).unwrap_or(i32::MAX),
            ready,
            started: Some(started),
            ..ContainerStatus::default()
        }
    }

    fn pgid(&self) -> Option<i32> {
        match self.state {
            InstanceState::Running { pgid, .. } => Some(pgid),
            _ => None,
        }
    }
}

/// Which container: an init container or a regular one, by index in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Init(usize),
    Regular(usize),
}

#[derive(Debug)]
struct PodState {
    init: Vec<Record>,
    regular: Vec<Record>,
    /// Set once [`PodRuntime::terminate`] has stopped everything.
    terminal: bool,
}

impl PodState {
    fn record(&mut self, slot: Slot) -> Option<&mut Record> {
        match slot {
            Slot::Init(i) => self.init.get_mut(i),
            Slot::Regular(i) => self.regular.get_mut(i),
        }
    }

    fn find(&self, name: &str) -> Option<&Record> {
        self.init
            .iter()
            .chain(&self.regular)
            .find(|r| r.spec.name == name)
    }

    fn running_groups(&self) -> Vec<(String, i32)> {
        self.init
            .iter()
            .chain(&self.regular)
            .filter_map(|r| r.pgid().map(|g| (r.spec.name.clone(), g)))
            .collect()
    }
}

struct Shared {
    pod: Pod,
    /// `name_namespace(uid)`, as kubelet's `format.Pod` names a pod in messages.
    pod_label: String,
    pod_name: String,
    restart_policy: String,
    sandbox: Arc<dyn Sandbox>,
    config: RuntimeConfig,
    context: Mutex<PodContext>,
    state: Mutex<PodState>,
    /// Bumped on every status change.
    changes: watch::Sender<u64>,
    /// True once the pod is being stopped: nothing is started or restarted any more.
    stopping: watch::Sender<bool>,
    /// Woken when the context changes, so waiting containers try again.
    context_changed: Notify,
    /// Where clients attach to each container, by name.
    attach: std::collections::HashMap<String, Arc<streams::AttachPoint>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going with it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn update(&self, slot: Slot, f: impl FnOnce(&mut Record)) {
        if let Some(record) = lock(&self.state).record(slot) {
            f(record);
        }
        self.changes.send_modify(|n| *n += 1);
    }

    fn set_waiting(&self, slot: Slot, reason: &str, message: Option<String>) {
        self.update(slot, |r| {
            r.state = InstanceState::Waiting {
                reason: reason.to_owned(),
                message,
            };
        });
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// The context a container instance starts with: the set one, its env source data read anew
    /// when [`RuntimeConfig::env_sources`] is set.
    async fn current_context(&self) -> PodContext {
        let mut context = lock(&self.context).clone();
        if let Some(sources) = &self.config.env_sources {
            let data = sources.read(&self.pod).await;
            context.config_maps = data.config_maps;
            context.secrets = data.secrets;
            context.service_env = data.service_env;
        }
        context
    }

    /// Sleeps `d`, or less when the pod is being stopped or the context changed; returns whether
    /// the pod is being stopped.
    async fn pause(&self, d: Duration) -> bool {
        let mut stopping = self.stopping.subscribe();
        if *stopping.borrow_and_update() {
            return true;
        }
        let changed = self.context_changed.notified();
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            _ = stopping.wait_for(|s| *s) => {}
            () = changed => {}
        }
        self.is_stopping()
    }

    fn container(&self, slot: Slot) -> Option<Container> {
        let spec = self.pod.spec.as_ref()?;
        match slot {
            Slot::Init(i) => spec.init_containers.as_ref()?.get(i).cloned(),
            Slot::Regular(i) => spec.containers.get(i).cloned(),
        }
    }
}

/// How a container's supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The container exited with this code and will not be restarted.
    Exited(i32),
    /// The pod is being stopped.
    Stopped,
}

/// A container's current instance as the probe workers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeView {
    /// No instance: not created yet, or waiting to be started again.
    Absent,
    /// The instance runs since `started_at`.
    Running {
        container_id: String,
        started_at: Timestamp,
    },
    /// The instance ended (and may or may not be restarted).
    Terminated { container_id: String },
}

/// The running containers of one pod (see the module doc). Needs a tokio runtime. Dropping it
/// without [`terminate`](Self::terminate) kills every container's process group at once.
pub struct PodRuntime {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for PodRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodRuntime")
            .field("pod", &self.shared.pod_label)
            .finish_non_exhaustive()
    }
}

impl PodRuntime {
    /// Starts `pod`'s containers in `sandbox` (init containers first, one at a time).
    pub fn start(
        pod: Pod,
        sandbox: Arc<dyn Sandbox>,
        config: RuntimeConfig,
    ) -> Result<Self, RuntimeError> {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let Some(spec) = pod.spec.as_ref() else {
            return Err(RuntimeError::NoSpec(pod_name));
        };
        let has_init = spec.init_containers.as_ref().is_some_and(|c| !c.is_empty());
        let first_reason = if has_init {
            REASON_POD_INITIALIZING
        } else {
            REASON_CONTAINER_CREATING
        };
        let state = PodState {
            init: spec
                .init_containers
                .iter()
                .flatten()
                .map(|c| Record::new(c.clone(), REASON_POD_INITIALIZING))
                .collect(),
            regular: spec
                .containers
                .iter()
                .map(|c| Record::new(c.clone(), first_reason))
                .collect(),
            terminal: false,
        };
        let restart_policy = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".to_owned());
        let pod_label = format!(
            "{}_{}({})",
            pod_name,
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            pod.metadata.uid.as_deref().unwrap_or_default()
        );
        let attach = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .map(|c| {
                let point = streams::AttachPoint::new(
                    c.tty == Some(true),
                    c.stdin == Some(true),
                    c.stdin_once == Some(true),
                );
                (c.name.clone(), Arc::new(point))
            })
            .collect();
        let shared = Arc::new(Shared {
            attach,
            context: Mutex::new(config.context.clone()),
            pod,
            pod_label,
            pod_name,
            restart_policy,
            sandbox,
            config,
            state: Mutex::new(state),
            changes: watch::channel(0).0,
            stopping: watch::channel(false).0,
            context_changed: Notify::new(),
        });
        let task = tokio::spawn(run_pod(shared.clone()));
        Ok(Self {
            shared,
            task: Mutex::new(Some(task)),
        })
    }

    /// The pod this runtime runs.
    pub fn pod(&self) -> &Pod {
        &self.shared.pod
    }

    /// A receiver that changes whenever a container's status changes (for writing pod status).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Replaces the downward API / env source data; containers waiting on a missing ConfigMap or
    /// Secret try again at once.
    pub fn update_context(&self, context: PodContext) {
        *lock(&self.shared.context) = context;
        self.shared.context_changed.notify_waiters();
    }

    /// `status.containerStatuses`, in spec order.
    pub fn container_statuses(&self) -> Vec<ContainerStatus> {
        let probes = self.shared.config.probes.as_ref();
        lock(&self.shared.state)
            .regular
            .iter()
            .map(|r| r.to_api(probes))
            .collect()
    }

    /// `status.initContainerStatuses`, in spec order. A regular init container that exited 0 is
    /// ready, as kubelet reports it.
    pub fn init_container_statuses(&self) -> Vec<ContainerStatus> {
        let probes = self.shared.config.probes.as_ref();
        lock(&self.shared.state)
            .init
            .iter()
            .map(|r| {
                let mut status = r.to_api(probes);
                if let InstanceState::Terminated(t) = &r.state {
                    status.ready = t.exit_code == 0;
                }
                status
            })
            .collect()
    }

    /// Whether [`terminate`](Self::terminate) has finished: no process of the pod is left.
    pub fn is_terminated(&self) -> bool {
        lock(&self.shared.state).terminal
    }

    /// The pod status to report, with `current` (the pod as the API server has it) as the previous
    /// status: phase, conditions, container statuses, start time (see [`pod_status`]).
    pub fn status(&self, current: &Pod) -> PodStatus {
        pod_status(
            current,
            self.init_container_statuses(),
            self.container_statuses(),
            true,
            self.is_terminated(),
            Timestamp::now(),
        )
    }

    /// Restarts the current instance of `container` as kubelet does on a liveness failure: SIGTERM
    /// to its processes, SIGKILL after the pod's grace period; the container is then started again
    /// (with the usual back-off) unless the pod's `restartPolicy` is `Never`.
    pub fn restart_container(&self, container: &str) -> Result<(), RuntimeError> {
        self.kill_for_restart(container, None, None)
    }

    /// [`restart_container`](Self::restart_container) for the probe workers: only if the running
    /// instance is still `expected_id` (when given), with `grace` (a probe's
    /// `terminationGracePeriodSeconds`, KEP-2238) instead of the pod's grace period when given.
    pub(crate) fn kill_for_restart(
        &self,
        container: &str,
        expected_id: Option<&str>,
        grace: Option<Duration>,
    ) -> Result<(), RuntimeError> {
        let (pgid, container_id) = {
            let mut guard = lock(&self.shared.state);
            let state = &mut *guard;
            let pod = self.shared.pod_name.clone();
            let record = state
                .init
                .iter_mut()
                .chain(state.regular.iter_mut())
                .find(|r| r.spec.name == container)
                .ok_or_else(|| self.unknown(container))?;
            let not_running = || RuntimeError::NotRunning {
                container: container.to_owned(),
                pod,
            };
            let InstanceState::Running {
                pgid, container_id, ..
            } = &record.state
            else {
                return Err(not_running());
            };
            if expected_id.is_some_and(|id| id != container_id) {
                return Err(not_running());
            }
            let found = (*pgid, container_id.clone());
            record.restart_requested = true;
            found
        };
        signal_group(pgid, Signal::SIGTERM);
        let grace = grace_period(&self.shared.pod, grace, self.shared.config.min_grace_period);
        let shared = self.shared.clone();
        let name = container.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let state = lock(&shared.state);
            let same = state.find(&name).is_some_and(|r| {
                matches!(&r.state, InstanceState::Running { container_id: id, .. } if *id == container_id)
            });
            if same {
                signal_group(pgid, Signal::SIGKILL);
            }
        });
        Ok(())
    }

    /// Tells the status writer (every [`changes`](Self::changes) receiver) that the results of
    /// [`RuntimeConfig::probes`] changed, so that `ready`, `started` and the pod's conditions are
    /// computed again at once.
    pub fn probe_results_changed(&self) {
        self.shared.changes.send_modify(|n| *n += 1);
    }

    /// What a probe worker needs to know of `container`: its current instance, if any.
    pub(crate) fn probe_view(&self, container: &str) -> ProbeView {
        let state = lock(&self.shared.state);
        match state.find(container).map(|r| &r.state) {
            Some(InstanceState::Running {
                container_id,
                started_at,
                ..
            }) => ProbeView::Running {
                container_id: container_id.clone(),
                started_at: *started_at,
            },
            Some(InstanceState::Terminated(t)) => ProbeView::Terminated {
                container_id: t.container_id.clone(),
            },
            Some(InstanceState::Waiting { .. }) | None => ProbeView::Absent,
        }
    }

    /// Whether the pod is being stopped ([`terminate`](Self::terminate) was called).
    pub(crate) fn is_stopping(&self) -> bool {
        self.shared.is_stopping()
    }

    /// The pod's `restartPolicy` (default `Always`).
    pub(crate) fn restart_policy(&self) -> &str {
        &self.shared.restart_policy
    }

    /// Stops the pod for good: nothing is restarted any more, every container's process group gets
    /// SIGTERM, and those still running after the grace period (see [`grace_period`]) get SIGKILL.
    /// Returns once every process is reaped.
    pub async fn terminate(&self, grace_period_override: Option<Duration>) -> Termination {
        let grace = grace_period(
            &self.shared.pod,
            grace_period_override,
            self.shared.config.min_grace_period,
        );
        self.shared.stopping.send_replace(true);
        for (_, pgid) in lock(&self.shared.state).running_groups() {
            signal_group(pgid, Signal::SIGTERM);
        }
        let task = lock(&self.task).take();
        let mut killed = Vec::new();
        if let Some(mut task) = task {
            let finished = tokio::time::timeout(grace, &mut task).await.is_ok();
            if !finished {
                for (name, pgid) in lock(&self.shared.state).running_groups() {
                    signal_group(pgid, Signal::SIGKILL);
                    killed.push(name);
                }
                if let Err(e) = task.await {
                    tracing::warn!(pod = %self.shared.pod_label, error = %e, "pod task failed");
                }
            }
        }
        lock(&self.shared.state).terminal = true;
        self.shared.changes.send_modify(|n| *n += 1);
        Termination {
            grace_period: grace,
            killed,
        }
    }

    fn unknown(&self, container: &str) -> RuntimeError {
        RuntimeError::UnknownContainer {
            container: container.to_owned(),
            pod: self.shared.pod_name.clone(),
        }
    }

    /// Which log instance `kubectl logs` shows for `container` (kubelet `validateContainerLogStatus`,
    /// pkg/kubelet/kubelet_pods.go): with `previous`, the last terminated instance; else the running
    /// one, the terminated one, or while it waits to restart, the one that ended.
    fn log_instance(&self, container: &str, previous: bool) -> Result<u32, LogError> {
        let state = lock(&self.shared.state);
        let pod = self.shared.pod_name.clone();
        let Some(record) = state.find(container) else {
            return Err(LogError::UnknownContainer {
                container: container.to_owned(),
                pod,
            });
        };
        if previous {
            return record.last_terminated.as_ref().map(|t| t.restart).ok_or(
                LogError::NoPrevious {
                    container: container.to_owned(),
                    pod,
                },
            );
        }
        match (&record.state, &record.last_terminated) {
            (InstanceState::Running { .. }, _) => Ok(record.restart_count),
            (InstanceState::Terminated(t), _) => Ok(t.restart),
            (InstanceState::Waiting { .. }, Some(t)) => Ok(t.restart),
            (InstanceState::Waiting { reason, .. }, None) => Err(LogError::Waiting {
                container: container.to_owned(),
                pod,
                reason: match reason.as_str() {
                    REASON_ERR_IMAGE_PULL => "image can't be pulled".to_owned(),
                    REASON_IMAGE_PULL_BACK_OFF => "trying and failing to pull image".to_owned(),
                    other => other.to_owned(),
                },
            }),
        }
    }

    /// `kubectl logs POD -c CONTAINER [--previous] [--tail N] [--timestamps]`, with kubelet's choice
    /// of instance and error messages.
    pub fn read_logs(
        &self,
        container: &str,
        previous: bool,
        tail_lines: Option<usize>,
        timestamps: bool,
    ) -> Result<String, LogError> {
        let restart = self.log_instance(container, previous)?;
        logs::read_instance_log(
            &self.shared.config.log_dir,
            container,
            restart,
            tail_lines,
            timestamps,
        )
    }

    /// `kubectl logs -f`: the container's current log, then new lines until that instance ends.
    pub fn follow_logs(
        &self,
        container: &str,
        tail_lines: Option<usize>,
        timestamps: bool,
        poll: Duration,
    ) -> Result<
        impl futures::Stream<Item = Result<bytes::Bytes, LogError>> + Send + 'static,
        LogError,
    > {
        let restart = self.log_instance(container, false)?;
        let shared = self.shared.clone();
        let name = container.to_owned();
        let running = move || {
            let state = lock(&shared.state);
            state.find(&name).is_some_and(|r| {
                matches!(r.state, InstanceState::Running { .. }) && r.restart_count == restart
            })
        };
        Ok(logs::follow_logs(
            self.shared.config.log_dir.clone(),
            container.to_owned(),
            tail_lines,
            timestamps,
            poll,
            running,
        ))
    }

    /// Starts `command` in `container` as [`exec_command`](Self::exec_command) makes it, for an
    /// interactive session (CRI `Exec`): with pipes for the streams asked for, or on a new
    /// terminal when `tty` (stderr then goes to it too).
    pub fn exec_session(
        &self,
        container: &str,
        command: &[String],
        stdin: bool,
        tty: bool,
    ) -> Result<IoSession, RuntimeError> {
        let cmd = self.exec_command(container, command)?;
        let start_error = |e: std::io::Error| RuntimeError::Config {
            container: container.to_owned(),
            reason: REASON_START_ERROR.to_owned(),
            message: format!("cannot start {:?}: {e}", command.join(" ")),
        };
        if tty {
            let (master, slave) = streams::open_pty().map_err(start_error)?;
            let io = || -> std::io::Result<_> {
                let child = streams::on_terminal(&cmd, &slave)?
                    .kill_on_drop(true)
                    .spawn()?;
                Ok((
                    child,
                    streams::async_file(&master)?,
                    streams::async_file(&master)?,
                ))
            };
            let (mut child, reader, writer) = io().map_err(start_error)?;
            drop(slave);
            let master = Arc::new(master);
            return Ok(IoSession {
                input: stdin.then(|| streams::feed(writer)),
                output: streams::chunks(reader, LogStream::Stdout),
                resize: Some(Box::new(move |columns, rows| {
                    streams::set_terminal_size(&master, columns, rows);
                })),
                done: Box::pin(async move { child.wait().await.map(exit_code_of) }),
            });
        }
        let mut cmd = cmd;
        let stdin_io = if stdin { Stdio::piped() } else { Stdio::null() };
        cmd.stdin(stdin_io)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(start_error)?;
        let mut output = futures::stream::SelectAll::new();
        if let Some(stdout) = child.stdout.take() {
            output.push(streams::chunks(stdout, LogStream::Stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            output.push(streams::chunks(stderr, LogStream::Stderr));
        }
        Ok(IoSession {
            input: child.stdin.take().map(streams::feed),
            output: Box::pin(output),
            resize: None,
            done: Box::pin(async move { child.wait().await.map(exit_code_of) }),
        })
    }

    /// Attaches to `container`'s running instance (CRI `Attach`, `kubectl attach` and
    /// `kubectl run -it`): its output from now on, and its stdin when `stdin` and the container
    /// has one (`stdin: true`). The session is done when the instance ends; with `stdinOnce`, the
    /// container's stdin closes when this client's input ends.
    pub fn attach_session(&self, container: &str, stdin: bool) -> Result<IoSession, RuntimeError> {
        let point = self
            .shared
            .attach
            .get(container)
            .cloned()
            .ok_or_else(|| self.unknown(container))?;
        let output = tokio_stream::wrappers::BroadcastStream::new(point.output.subscribe());
        let (instance_stdin, terminal) = {
            let guard = lock(&point.instance);
            let Some(io) = guard.as_ref() else {
                return Err(RuntimeError::NotRunning {
                    container: container.to_owned(),
                    pod: self.shared.pod_name.clone(),
                });
            };
            (io.stdin.clone(), io.terminal.clone())
        };
        let input = match (stdin, instance_stdin) {
            (true, Some(target)) => {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
                let point = point.clone();
                tokio::spawn(async move {
                    while let Some(data) = rx.recv().await {
                        if target.send(data).await.is_err() {
                            return;
                        }
                    }
                    if point.stdin_once
                        && let Some(io) = lock(&point.instance).as_mut()
                    {
                        // Dropping the last sender ends the instance's stdin.
                        io.stdin = None;
                    }
                });
                Some(tx)
            }
            _ => None,
        };
        let mut ended = point.ended.subscribe();
        ended.mark_unchanged();
        use futures::StreamExt;
        Ok(IoSession {
            input,
            output: output
                .filter_map(|r| futures::future::ready(r.ok()))
                .boxed(),
            resize: terminal.map(|master| {
                Box::new(move |columns, rows| streams::set_terminal_size(&master, columns, rows))
                    as Box<dyn Fn(u16, u16) + Send + Sync>
            }),
            done: Box::pin(async move {
                let _ = ended.changed().await;
                Ok(0)
            }),
        })
    }

    /// A command that runs `command` in the pod as `kubectl exec -c CONTAINER -- COMMAND` does: in
    /// the pod's sandbox, with the container's environment and working directory. The container
    /// must be running. The caller sets up the standard streams and spawns it.
    pub fn exec_command(
        &self,
        container: &str,
        command: &[String],
    ) -> Result<std::process::Command, RuntimeError> {
        // The running instance's own environment, as a runtime's exec gets it.
        let planned = {
            let state = lock(&self.shared.state);
            let record = state
                .find(container)
                .ok_or_else(|| self.unknown(container))?;
            let InstanceState::Running { process, .. } = &record.state else {
                return Err(RuntimeError::NotRunning {
                    container: container.to_owned(),
                    pod: self.shared.pod_name.clone(),
                });
            };
            process.clone()
        };
        let Some((program, args)) = command.split_first() else {
            return Err(RuntimeError::Config {
                container: container.to_owned(),
                reason: "InvalidCommand".to_owned(),
                message: "no command given".to_owned(),
            });
        };
        let path = planned
            .env
            .iter()
            .find(|(n, _)| n == "PATH")
            .map_or(crate::plan::DEFAULT_PATH, |(_, v)| v.as_str());
        let resolved = self
            .shared
            .config
            .images
            .find_program(program, path, &planned.working_dir)
            .unwrap_or_else(|| PathBuf::from(program));
        let mut cmd = self.shared.sandbox.command(&resolved, args);
        cmd.env_clear()
            .envs(planned.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&planned.working_dir);
        Ok(cmd)
    }
}

impl Drop for PodRuntime {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            self.shared.stopping.send_replace(true);
            for (_, pgid) in lock(&self.shared.state).running_groups() {
                signal_group(pgid, Signal::SIGKILL);
            }
            task.abort();
        }
    }
}

fn signal_group(pgid: i32, signal: Signal) {
    if pgid <= 1 {
        return;
    }
    if let Err(e) = killpg(Pid::from_raw(pgid), signal)
        && e != nix::errno::Errno::ESRCH
    {
        tracing::warn!(pgid, ?signal, error = %e, "cannot signal a container's process group");
    }
}

/// The pod task: init containers one at a time, then every container at once.
async fn run_pod(shared: Arc<Shared>) {
    let (init_count, regular_count) = {
        let state = lock(&shared.state);
        (state.init.len(), state.regular.len())
    };
    // Every container task lives in this set, so that the pod task ends only when all of them
    // have, and aborting it (PodRuntime's drop) aborts them all.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..init_count {
        let restartable = shared
            .container(Slot::Init(i))
            .is_some_and(|c| c.restart_policy.as_deref() == Some("Always"));
        if restartable {
            // A sidecar (restartable init container) runs beside the others from now on.
            set.spawn(run_container(shared.clone(), Slot::Init(i)));
            continue;
        }
        match run_container(shared.clone(), Slot::Init(i)).await {
            Outcome::Exited(0) => {}
            Outcome::Stopped => break,
            // A failed init container that is not restarted fails the pod: its sidecars stop too.
            Outcome::Exited(_) => {
                shared.stopping.send_replace(true);
                for (_, pgid) in lock(&shared.state).running_groups() {
                    signal_group(pgid, Signal::SIGTERM);
                }
                break;
            }
        }
    }
    if !shared.is_stopping() {
        for i in 0..regular_count {
            shared.set_waiting(Slot::Regular(i), REASON_CONTAINER_CREATING, None);
            set.spawn(run_container(shared.clone(), Slot::Regular(i)));
        }
    }
    while set.join_next().await.is_some() {}
}

/// One container's life: plan, start, wait, restart per policy with back-off, until it is done or
/// the pod stops.
async fn run_container(shared: Arc<Shared>, slot: Slot) -> Outcome {
    let Some(container) = shared.container(slot) else {
        return Outcome::Stopped;
    };
    let policy = match slot {
        // Init containers are retried on failure unless the pod never restarts (kubelet
        // `computeInitContainerActions`); sidecars always restart.
        Slot::Init(_) if container.restart_policy.as_deref() == Some("Always") => "Always",
        Slot::Init(_) if shared.restart_policy == "Never" => "Never",
        Slot::Init(_) => "OnFailure",
        Slot::Regular(_) => shared.restart_policy.as_str(),
    }
    .to_owned();
    let policy_cfg = shared.config.backoff;
    let mut crash_backoff = Backoff::new(policy_cfg);
    let mut pull_backoff = Backoff::new(policy_cfg);
    loop {
        if shared.is_stopping() {
            return Outcome::Stopped;
        }
        let context = shared.current_context().await;
        let planned = plan_container(
            &shared.pod,
            &container,
            &context,
            shared.config.images.as_ref(),
        );
        let spec = match planned {
            Ok(spec) => spec,
            Err(waiting) if waiting.reason == REASON_CREATE_CONTAINER_CONFIG_ERROR => {
                // No back-off growth: kubelet's pod worker retries a failed sync after a fixed
                // period (`backOffPeriod`, 10 s, pkg/kubelet/pod_workers.go), and the environment
                // is computed again each time, so a ConfigMap created meanwhile is found.
                shared.set_waiting(slot, &waiting.reason, Some(waiting.message.clone()));
                if shared.pause(policy_cfg.initial).await {
                    return Outcome::Stopped;
                }
                continue;
            }
            Err(waiting) => {
                pull_backoff.next(Timestamp::now());
                let delay = pull_backoff.get();
                shared.set_waiting(slot, &waiting.reason, Some(waiting.message.clone()));
                if waiting.reason == REASON_ERR_IMAGE_PULL {
                    // kubelet shows ErrImagePull until its next sync, then ImagePullBackOff for
                    // the rest of the back-off (pkg/kubelet/images/image_manager.go).
                    if shared.pause(policy_cfg.initial.min(delay)).await {
                        return Outcome::Stopped;
                    }
                    let image = container.image.clone().unwrap_or_default();
                    shared.set_waiting(
                        slot,
                        REASON_IMAGE_PULL_BACK_OFF,
                        Some(format!(
                            "Back-off pulling image {image:?}: {REASON_ERR_IMAGE_PULL}: {}",
                            waiting.message
                        )),
                    );
                }
                if shared.pause(delay).await {
                    return Outcome::Stopped;
                }
                continue;
            }
        };
        pull_backoff = Backoff::new(policy_cfg);
        if let Some(dir) = &shared.config.env_dir
            && let Err(e) = write_env_file(dir, &container.name, &spec.env)
        {
            // Only `knet exec` loses the variables (it falls back to the literal env).
            tracing::warn!(container = %container.name, error = %e, "could not record the container's environment");
        }

        let terminated = run_instance(&shared, slot, &container, &spec).await;
        let exit_code = terminated.exit_code;
        let finished = terminated.finished_at;
        let mut requested = false;
        shared.update(slot, |r| {
            r.state = InstanceState::Terminated(terminated);
            requested = std::mem::take(&mut r.restart_requested);
        });
        if shared.is_stopping() {
            return Outcome::Stopped;
        }
        // A container killed for a failed liveness or startup probe is restarted unless the policy
        // is Never, whatever its exit code (kubelet `computePodActions`,
        // pkg/kubelet/kuberuntime/kuberuntime_manager.go: `restart = shouldRestartOnFailure(pod)`).
        let restart = should_restart(&policy, exit_code) || (requested && policy != "Never");
        if !restart {
            return Outcome::Exited(exit_code);
        }
        // kubelet `doBackOff` (pkg/kubelet/kuberuntime/kuberuntime_manager.go): the back-off runs
        // from the exit of the last instance; the first restart is immediate.
        let now = Timestamp::now();
        if crash_backoff.is_in_backoff_since(finished, now) {
            let message = format!(
                "back-off {} restarting failed container={} pod={}",
                go_duration(crash_backoff.get()),
                container.name,
                shared.pod_label
            );
            let mut before = None;
            shared.update(slot, |r| {
                if let InstanceState::Terminated(t) = &r.state {
                    before = r.last_terminated.replace(t.clone());
                }
                r.state = InstanceState::Waiting {
                    reason: REASON_CRASH_LOOP_BACK_OFF.to_owned(),
                    message: Some(message),
                };
            });
            if shared
                .pause(crash_backoff.remaining(finished, Timestamp::now()))
                .await
            {
                // Back to the terminated state: the pod is stopping and this is its last word.
                shared.update(slot, |r| {
                    if let Some(t) = r.last_terminated.take_if(|t| t.finished_at == finished) {
                        r.state = InstanceState::Terminated(t);
                        r.last_terminated = before;
                    }
                });
                return Outcome::Stopped;
            }
        }
        crash_backoff.next(finished);
        shared.update(slot, |r| {
            if let InstanceState::Terminated(t) = &r.state {
                r.last_terminated = Some(t.clone());
            }
            r.restart_count += 1;
            r.state = InstanceState::Waiting {
                reason: REASON_CONTAINER_CREATING.to_owned(),
                message: None,
            };
        });
    }
}

/// Runs one instance of the container to its end and returns how it ended.
async fn run_instance(
    shared: &Arc<Shared>,
    slot: Slot,
    container: &Container,
    spec: &ProcessSpec,
) -> Terminated {
    let container_id = format!("knet://{:032x}", rand::random::<u128>());
    let restart = lock(&shared.state)
        .record(slot)
        .map_or(0, |r| r.restart_count);
    let start_error = |message: String| Terminated {
        container_id: container_id.clone(),
        restart,
        exit_code: 128,
        reason: REASON_START_ERROR.to_owned(),
        message: Some(message),
        started_at: None,
        finished_at: Timestamp::now(),
    };
    shared.update(slot, |r| r.image_id = spec.image_id.clone());

    let log = match LogFile::create(&shared.config.log_dir, &container.name, restart) {
        Ok(log) => Arc::new(log),
        Err(e) => return start_error(format!("cannot create the container log: {e}")),
    };
    // Keep this instance's log and the previous one's, as kubelet keeps one dead container per
    // container (`MaxPerPodContainer`) and its log with it.
    logs::remove_logs_before(
        &shared.config.log_dir,
        &container.name,
        restart.saturating_sub(1),
    );
    if !spec.working_dir.is_dir() {
        return start_error(format!(
            "chdir to cwd ({:?}) set in config.json failed: no such file or directory",
            spec.working_dir.display().to_string()
        ));
    }
    let mut command = shared.sandbox.command(&spec.program, &spec.args);
    command
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.working_dir);
    let attach = shared.attach.get(&container.name).cloned();
    // A container with `tty` runs on a terminal of its own (its output is all stdout); one with
    // `stdin` gets a pipe that attached clients write to.
    let terminal = match attach.as_ref().filter(|a| a.tty) {
        Some(_) => match streams::open_pty() {
            Ok(pty) => Some(pty),
            Err(e) => return start_error(format!("cannot open a terminal for the container: {e}")),
        },
        None => None,
    };
    let spawned = match &terminal {
        Some((_, slave)) => streams::on_terminal(&command, slave).and_then(|mut c| c.spawn()),
        None => {
            let stdin = if attach.as_ref().is_some_and(|a| a.stdin) {
                Stdio::piped()
            } else {
                Stdio::null()
            };
            command
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0);
            tokio::process::Command::from(command).spawn()
        }
    };
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let program = spec.program.display().to_string();
            let message = if e.kind() == std::io::ErrorKind::NotFound && !program.contains('/') {
                format!("exec: {program:?}: executable file not found in $PATH")
            } else {
                format!("exec: {program:?}: {e}")
            };
            return start_error(message);
        }
    };
    let started_at = Timestamp::now();
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .unwrap_or(0);
    let mut copiers = Vec::new();
    let mut copy = |reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>, stream: LogStream| {
        let log = log.clone();
        let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match &attach {
            Some(point) => Box::new(streams::Tee {
                inner: reader,
                stream,
                to: point.output.clone(),
            }),
            None => reader,
        };
        copiers.push(tokio::spawn(async move {
            log.copy_from(reader, stream).await;
        }));
    };
    if let Some(stdout) = child.stdout.take() {
        copy(Box::new(stdout), LogStream::Stdout);
    }
    if let Some(stderr) = child.stderr.take() {
        copy(Box::new(stderr), LogStream::Stderr);
    }
    let mut instance_io = streams::InstanceIo {
        stdin: child.stdin.take().map(streams::feed),
        terminal: None,
    };
    if let Some((master, slave)) = terminal {
        drop(slave);
        match (streams::async_file(&master), streams::async_file(&master)) {
            (Ok(reader), Ok(writer)) => {
                copy(Box::new(reader), LogStream::Stdout);
                instance_io.stdin = Some(streams::feed(writer));
                instance_io.terminal = Some(Arc::new(master));
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(pod = %shared.pod_label, container = %container.name, error = %e, "cannot read the container's terminal");
            }
        }
    }
    if let Some(point) = &attach {
        *lock(&point.instance) = Some(instance_io);
    }
    shared.update(slot, |r| {
        r.state = InstanceState::Running {
            container_id: container_id.clone(),
            started_at,
            pgid,
            process: Arc::new(spec.clone()),
        };
    });
    // terminate() may have read the states before this one was Running: signal it here then.
    if shared.is_stopping() {
        signal_group(pgid, Signal::SIGTERM);
    }

    let status = child.wait().await;
    // What is left of the group goes with its first process, as a PID namespace ends with its init.
    signal_group(pgid, Signal::SIGKILL);
    if let Some(point) = &attach {
        *lock(&point.instance) = None;
        point.ended.send_modify(|n| *n += 1);
    }
    for mut copier in copiers {
        if tokio::time::timeout(LOG_DRAIN_TIMEOUT, &mut copier)
            .await
            .is_err()
        {
            copier.abort();
        }
    }
    let finished_at = Timestamp::now();
    let exit_code = match status {
        Ok(s) => exit_code_of(s),
        Err(e) => {
            tracing::warn!(pod = %shared.pod_label, container = %container.name, error = %e, "cannot wait for a container process");
            255
        }
    };
    let message = (exit_code != 0
        && container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError"))
    .then(|| logs::tail_for_message(log.path(), FALLBACK_MESSAGE_LINES, FALLBACK_MESSAGE_BYTES))
    .flatten();
    Terminated {
        container_id,
        restart,
        exit_code,
        reason: if exit_code == 0 {
            REASON_COMPLETED
        } else {
            REASON_ERROR
        }
        .to_owned(),
        message,
        started_at: Some(started_at),
        finished_at,
    }
}

/// Writes `env` to `<dir>/<container>` ([`RuntimeConfig::env_dir`]), replacing it atomically.
fn write_env_file(dir: &Path, container: &str, env: &[(String, String)]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut bytes = Vec::new();
    for (name, value) in env {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(b'=');
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    let tmp = dir.join(format!(".{container}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&bytes)?;
    std::fs::rename(&tmp, dir.join(container))
}

/// Reads a file [`RuntimeConfig::env_dir`] holds: the container's variables in order.
pub fn read_env_file(path: &Path) -> std::io::Result<Vec<(String, String)>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            let e = String::from_utf8_lossy(e);
            let (k, v) = e.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn restart_policies_decide_which_exits_restart() {
        assert!(should_restart("Always", 0));
        assert!(should_restart("Always", 1));
        assert!(!should_restart("OnFailure", 0));
        assert!(should_restart("OnFailure", 3));
        assert!(!should_restart("Never", 3));
    }

    #[test]
    fn the_grace_period_comes_from_the_deletion_then_the_spec_and_has_a_floor() {
        let min = Duration::from_secs(2);
        let mut pod = Pod {
            metadata: ObjectMeta::default(),
            spec: Some(PodSpec::default()),
            ..Pod::default()
        };
        assert_eq!(grace_period(&pod, None, min), Duration::from_secs(30));
        if let Some(s) = pod.spec.as_mut() {
            s.termination_grace_period_seconds = Some(5);
        }
        assert_eq!(grace_period(&pod, None, min), Duration::from_secs(5));
        pod.metadata.deletion_grace_period_seconds = Some(0);
        assert_eq!(grace_period(&pod, None, min), min);
        assert_eq!(
            grace_period(&pod, Some(Duration::from_secs(7)), min),
            Duration::from_secs(7)
        );
    }
}
