//! Pod phase and conditions from container statuses, as kubelet computes them. Pure.
//!
//! - phase: `getPhase` (pkg/kubelet/kubelet_pods.go), and `generateAPIPodStatus`' rule that a pod
//!   never leaves a terminal phase;
//! - conditions: `GeneratePodInitializedCondition`, `GeneratePodReadyCondition`,
//!   `GenerateContainersReadyCondition` (pkg/kubelet/status/generate.go), `PodReadyToStartContainers`
//!   and `PodScheduled`, with `lastTransitionTime` kept while a condition's status does not change
//!   (`updateLastTransitionTime`, pkg/kubelet/status/status_manager.go).

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// `status.phase` of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PodPhase {
    /// Accepted, not every container started yet.
    Pending,
    /// Every container started, at least one running or restarting.
    Running,
    /// Every container terminated with exit code 0 and none will be restarted.
    Succeeded,
    /// Every container terminated, at least one in failure, and none will be restarted.
    Failed,
}

impl PodPhase {
    /// The phase as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
        }
    }

    /// Parses the API spelling (`Unknown` and anything else give `None`).
    pub fn parse(phase: &str) -> Option<Self> {
        match phase {
            "Pending" => Some(Self::Pending),
            "Running" => Some(Self::Running),
            "Succeeded" => Some(Self::Succeeded),
            "Failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// Succeeded or Failed: the pod's containers will not run again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// Condition reasons of pkg/kubelet/status/generate.go.
const UNKNOWN_CONTAINER_STATUSES: &str = "UnknownContainerStatuses";
const POD_COMPLETED: &str = "PodCompleted";
const POD_FAILED: &str = "PodFailed";
const CONTAINERS_NOT_READY: &str = "ContainersNotReady";
const CONTAINERS_NOT_INITIALIZED: &str = "ContainersNotInitialized";
const READINESS_GATES_NOT_READY: &str = "ReadinessGatesNotReady";

/// Conditions the node agent owns (kubelet `PodConditionByKubelet`); others are kept as they are.
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodScheduled",
    "Ready",
    "Initialized",
    "ContainersReady",
    "PodReadyToStartContainers",
];

fn is_restartable_init_container(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn status_of<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

fn is_running(s: &ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.running.is_some())
}

fn terminated_exit(s: &ContainerStatus) -> Option<i32> {
    s.state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .map(|t| t.exit_code)
}

fn is_waiting(s: &ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.waiting.is_some())
}

fn last_terminated_exit(s: &ContainerStatus) -> Option<i32> {
    s.last_state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .map(|t| t.exit_code)
}

/// kubelet `HasAnyRegularContainerStarted` (pkg/kubelet/container/helpers.go).
fn has_any_regular_container_started(spec: &PodSpec, statuses: &[ContainerStatus]) -> bool {
    let names: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    statuses
        .iter()
        .filter(|s| names.contains(s.name.as_str()))
        .any(|s| is_running(s) || terminated_exit(s).is_some())
}

/// The pod phase from its containers' statuses (init and regular, looked up by name): kubelet's
/// `getPhase`. `pod_is_terminal` says the pod is being shut down for good (deleted or finished), so
/// stopped containers will not be restarted whatever the restart policy.
pub fn pod_phase(spec: &PodSpec, statuses: &[ContainerStatus], pod_is_terminal: bool) -> PodPhase {
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let mut pending_initialization = 0;
    let mut failed_initialization = 0;
    for c in spec.init_containers.iter().flatten() {
        if is_restartable_init_container(c) {
            continue;
        }
        let Some(s) = status_of(statuses, &c.name) else {
            pending_initialization += 1;
            continue;
        };
        if is_running(s) {
            pending_initialization += 1;
        } else if let Some(code) = terminated_exit(s) {
            if code != 0 {
                failed_initialization += 1;
            }
        } else if is_waiting(s) {
            match last_terminated_exit(s) {
                Some(code) if code != 0 => failed_initialization += 1,
                Some(_) => {}
                None => pending_initialization += 1,
            }
        } else {
            pending_initialization += 1;
        }
    }

    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in spec.init_containers.iter().flatten() {
        if !is_restartable_init_container(c) {
            continue;
        }
        let Some(s) = status_of(statuses, &c.name) else {
            unknown += 1;
            continue;
        };
        if is_running(s) {
            if s.started != Some(true) {
                pending_initialization += 1;
            }
            running += 1;
        } else if terminated_exit(s).is_some() {
            // Terminated sidecars do not count for the phase.
        } else if is_waiting(s) {
            if last_terminated_exit(s).is_none() {
                pending_initialization += 1;
                waiting += 1;
            }
        } else {
            pending_initialization += 1;
            unknown += 1;
        }
    }

    for c in &spec.containers {
        let Some(s) = status_of(statuses, &c.name) else {
            unknown += 1;
            continue;
        };
        if is_running(s) {
            running += 1;
        } else if let Some(code) = terminated_exit(s) {
            stopped += 1;
            if code == 0 {
                succeeded += 1;
            }
        } else if is_waiting(s) {
            if last_terminated_exit(s).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }

    if failed_initialization > 0 && restart_policy == "Never" {
        return PodPhase::Failed;
    }
    if (pending_initialization > 0 && !has_any_regular_container_started(spec, statuses))
        || waiting > 0
    {
        return PodPhase::Pending;
    }
    if running > 0 && unknown == 0 {
        return PodPhase::Running;
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if pod_is_terminal {
            return if stopped == succeeded {
                PodPhase::Succeeded
            } else {
                PodPhase::Failed
            };
        }
        if restart_policy == "Always" {
            return PodPhase::Running;
        }
        if stopped == succeeded {
            return PodPhase::Succeeded;
        }
        if restart_policy == "Never" {
            return PodPhase::Failed;
        }
        return PodPhase::Running;
    }
    PodPhase::Pending
}

fn condition(
    type_: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<String>,
) -> PodCondition {
    PodCondition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        ..PodCondition::default()
    }
}

/// Go's `fmt.Sprintf("%s", []string{...})`: `[a b]`.
fn go_list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

/// `GenerateContainersReadyCondition`.
pub fn containers_ready_condition(
    spec: &PodSpec,
    statuses: &[ContainerStatus],
    phase: PodPhase,
) -> PodCondition {
    const TYPE: &str = "ContainersReady";
    if statuses.is_empty() {
        return condition(TYPE, false, Some(UNKNOWN_CONTAINER_STATUSES), None);
    }
    let mut unknown = vec![];
    let mut unready = vec![];
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| is_restartable_init_container(c));
    for c in sidecars.chain(&spec.containers) {
        match status_of(statuses, &c.name) {
            Some(s) if !s.ready => unready.push(c.name.as_str()),
            Some(_) => {}
            None => unknown.push(c.name.as_str()),
        }
    }
    if phase == PodPhase::Succeeded && unknown.is_empty() {
        return condition(TYPE, false, Some(POD_COMPLETED), None);
    }
    if phase == PodPhase::Failed {
        return condition(TYPE, false, Some(POD_FAILED), None);
    }
    let mut messages = vec![];
    if !unknown.is_empty() {
        messages.push(format!(
            "containers with unknown status: {}",
            go_list(&unknown)
        ));
    }
    if !unready.is_empty() {
        messages.push(format!(
            "containers with unready status: {}",
            go_list(&unready)
        ));
    }
    if messages.is_empty() {
        condition(TYPE, true, None, None)
    } else {
        condition(
            TYPE,
            false,
            Some(CONTAINERS_NOT_READY),
            Some(messages.join(", ")),
        )
    }
}

/// `GeneratePodReadyCondition`: ContainersReady, and every readiness gate's condition True.
pub fn ready_condition(
    spec: &PodSpec,
    conditions: &[PodCondition],
    statuses: &[ContainerStatus],
    phase: PodPhase,
) -> PodCondition {
    const TYPE: &str = "Ready";
    let containers_ready = containers_ready_condition(spec, statuses, phase);
    if containers_ready.status != "True" {
        return PodCondition {
            type_: TYPE.to_owned(),
            ..containers_ready
        };
    }
    let mut messages = vec![];
    for gate in spec.readiness_gates.iter().flatten() {
        match conditions.iter().find(|c| c.type_ == gate.condition_type) {
            None => messages.push(format!(
                "corresponding condition of pod readiness gate {:?} does not exist.",
                gate.condition_type
            )),
            Some(c) if c.status != "True" => messages.push(format!(
                "the status of pod readiness gate {:?} is not \"True\", but {}",
                gate.condition_type, c.status
            )),
            Some(_) => {}
        }
    }
    if messages.is_empty() {
        condition(TYPE, true, None, None)
    } else {
        condition(
            TYPE,
            false,
            Some(READINESS_GATES_NOT_READY),
            Some(messages.join(", ")),
        )
    }
}

/// `GeneratePodInitializedCondition`.
pub fn initialized_condition(
    spec: &PodSpec,
    statuses: &[ContainerStatus],
    phase: PodPhase,
) -> PodCondition {
    const TYPE: &str = "Initialized";
    let init_containers: Vec<&Container> = spec.init_containers.iter().flatten().collect();
    if statuses.is_empty() && !init_containers.is_empty() {
        return condition(TYPE, false, Some(UNKNOWN_CONTAINER_STATUSES), None);
    }
    let mut unknown = vec![];
    let mut incomplete = vec![];
    for c in &init_containers {
        let Some(s) = status_of(statuses, &c.name) else {
            unknown.push(c.name.as_str());
            continue;
        };
        let initialized = if is_restartable_init_container(c) {
            s.started == Some(true)
        } else {
            s.ready
        };
        if !initialized {
            incomplete.push(c.name.as_str());
        }
    }
    if phase == PodPhase::Succeeded && unknown.is_empty() {
        return condition(TYPE, true, Some(POD_COMPLETED), None);
    }
    if has_any_regular_container_started(spec, statuses) {
        return condition(TYPE, true, None, None);
    }
    let mut messages = vec![];
    if !unknown.is_empty() {
        messages.push(format!(
            "containers with unknown status: {}",
            go_list(&unknown)
        ));
    }
    if !incomplete.is_empty() {
        messages.push(format!(
            "containers with incomplete status: {}",
            go_list(&incomplete)
        ));
    }
    if messages.is_empty() {
        condition(TYPE, true, None, None)
    } else {
        condition(
            TYPE,
            false,
            Some(CONTAINERS_NOT_INITIALIZED),
            Some(messages.join(", ")),
        )
    }
}

/// The pod's conditions: those the agent does not own, kept from `previous`; then
/// PodReadyToStartContainers, Initialized, Ready, ContainersReady and PodScheduled, each with the
/// `lastTransitionTime` of `previous` while its status is unchanged, else `now`.
pub fn pod_conditions(
    spec: &PodSpec,
    previous: &[PodCondition],
    statuses: &[ContainerStatus],
    phase: PodPhase,
    sandbox_ready: bool,
    now: Timestamp,
) -> Vec<PodCondition> {
    let mut conditions: Vec<PodCondition> = previous
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    let generated = [
        condition("PodReadyToStartContainers", sandbox_ready, None, None),
        initialized_condition(spec, statuses, phase),
        ready_condition(spec, &conditions, statuses, phase),
        containers_ready_condition(spec, statuses, phase),
        condition("PodScheduled", true, None, None),
    ];
    for mut c in generated {
        let old = previous.iter().find(|o| o.type_ == c.type_);
        c.last_transition_time = match old {
            Some(o) if o.status == c.status && o.last_transition_time.is_some() => {
                o.last_transition_time.clone()
            }
            _ => Some(Time(now)),
        };
        conditions.push(c);
    }
    conditions
}

/// The pod status the agent reports: phase (never leaving a terminal phase already in `pod.status`),
/// conditions, container statuses, `startTime` (kept, else `now`). Addresses (`podIP`, `podIPs`,
/// `hostIP`, `hostIPs`) are kept from `pod.status`; the agent sets them.
pub fn pod_status(
    pod: &Pod,
    init_container_statuses: Vec<ContainerStatus>,
    container_statuses: Vec<ContainerStatus>,
    sandbox_ready: bool,
    pod_is_terminal: bool,
    now: Timestamp,
) -> PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let previous = pod.status.clone().unwrap_or_default();
    let all: Vec<ContainerStatus> = init_container_statuses
        .iter()
        .chain(&container_statuses)
        .cloned()
        .collect();
    let mut phase = pod_phase(&spec, &all, pod_is_terminal);
    if let Some(old) = previous.phase.as_deref().and_then(PodPhase::parse)
        && old.is_terminal()
    {
        phase = old;
    }
    let conditions = pod_conditions(
        &spec,
        previous.conditions.as_deref().unwrap_or_default(),
        &all,
        phase,
        sandbox_ready,
        now,
    );
    PodStatus {
        phase: Some(phase.as_str().to_owned()),
        conditions: Some(conditions),
        container_statuses: Some(container_statuses),
        init_container_statuses: (!init_container_statuses.is_empty())
            .then_some(init_container_statuses),
        start_time: previous.start_time.clone().or(Some(Time(now))),
        ..previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
        PodReadinessGate,
    };

    fn mk_spec(containers: &[&str], init: &[&str], restart_policy: &str) -> PodSpec {
        let mk = |n: &&str| Container {
            name: (*n).to_owned(),
            ..Container::default()
        };
        PodSpec {
            containers: containers.iter().map(mk).collect(),
            init_containers: (!init.is_empty()).then(|| init.iter().map(mk).collect()),
            restart_policy: Some(restart_policy.to_owned()),
            ..PodSpec::default()
        }
    }

    fn running(name: &str, ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            ready,
            started: Some(true),
            state: Some(ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        }
    }

    fn terminated(name: &str, code: i32) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            started: Some(false),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        }
    }

    fn waiting(name: &str, reason: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.into()),
                    ..ContainerStateWaiting::default()
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        }
    }

    fn crash_looping(name: &str, last_code: i32) -> ContainerStatus {
        ContainerStatus {
            last_state: terminated(name, last_code).state,
            ..waiting(name, "CrashLoopBackOff")
        }
    }

    fn phase(spec: &PodSpec, statuses: &[ContainerStatus]) -> PodPhase {
        pod_phase(spec, statuses, false)
    }

    #[test]
    fn a_pod_whose_containers_are_not_all_started_is_pending() {
        let spec = mk_spec(&["a", "b"], &[], "Always");
        assert_eq!(phase(&spec, &[]), PodPhase::Pending);
        assert_eq!(
            phase(&spec, &[running("a", true), waiting("b", "ErrImagePull")]),
            PodPhase::Pending
        );
        assert_eq!(phase(&spec, &[running("a", true)]), PodPhase::Pending);
    }

    #[test]
    fn a_pod_with_all_containers_started_and_one_running_is_running() {
        let spec = mk_spec(&["a", "b"], &[], "Never");
        assert_eq!(
            phase(&spec, &[running("a", true), terminated("b", 1)]),
            PodPhase::Running
        );
    }

    #[test]
    fn stopped_containers_give_a_phase_that_depends_on_the_restart_policy() {
        let all_ok = [terminated("a", 0), terminated("b", 0)];
        let one_failed = [terminated("a", 0), terminated("b", 2)];
        let cases = [
            ("Always", &all_ok, PodPhase::Running),
            ("Always", &one_failed, PodPhase::Running),
            ("OnFailure", &all_ok, PodPhase::Succeeded),
            ("OnFailure", &one_failed, PodPhase::Running),
            ("Never", &all_ok, PodPhase::Succeeded),
            ("Never", &one_failed, PodPhase::Failed),
        ];
        for (policy, statuses, want) in cases {
            let spec = mk_spec(&["a", "b"], &[], policy);
            assert_eq!(phase(&spec, statuses), want, "{policy}");
        }
    }

    #[test]
    fn a_crash_looping_container_counts_as_stopped() {
        let spec = mk_spec(&["a"], &[], "Always");
        assert_eq!(phase(&spec, &[crash_looping("a", 1)]), PodPhase::Running);
        let spec = mk_spec(&["a"], &[], "OnFailure");
        assert_eq!(phase(&spec, &[crash_looping("a", 1)]), PodPhase::Running);
    }

    #[test]
    fn a_terminal_pod_is_succeeded_or_failed_whatever_the_restart_policy() {
        let spec = mk_spec(&["a", "b"], &[], "Always");
        let statuses = [terminated("a", 0), terminated("b", 143)];
        assert_eq!(pod_phase(&spec, &statuses, true), PodPhase::Failed);
        let statuses = [terminated("a", 0), terminated("b", 0)];
        assert_eq!(pod_phase(&spec, &statuses, true), PodPhase::Succeeded);
    }

    #[test]
    fn init_containers_keep_the_pod_pending_until_they_succeed() {
        let spec = mk_spec(&["app"], &["setup"], "Always");
        assert_eq!(phase(&spec, &[running("setup", false)]), PodPhase::Pending);
        assert_eq!(
            phase(&spec, &[terminated("setup", 0), running("app", true)]),
            PodPhase::Running
        );
        let never = mk_spec(&["app"], &["setup"], "Never");
        assert_eq!(phase(&never, &[terminated("setup", 1)]), PodPhase::Failed);
    }

    #[test]
    fn ready_needs_every_container_ready_and_says_which_are_not() {
        let spec = mk_spec(&["a", "b", "c"], &[], "Always");
        let statuses = [running("a", true), running("b", false)];
        let c = ready_condition(&spec, &[], &statuses, PodPhase::Running);
        assert_eq!(c.type_, "Ready");
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            c.message.as_deref(),
            Some("containers with unknown status: [c], containers with unready status: [b]")
        );
        let statuses = [running("a", true), running("b", true), running("c", true)];
        let c = ready_condition(&spec, &[], &statuses, PodPhase::Running);
        assert_eq!((c.status.as_str(), c.reason), ("True", None));
    }

    #[test]
    fn readiness_gates_must_be_true_for_the_pod_to_be_ready() {
        let mut spec = mk_spec(&["a"], &[], "Always");
        spec.readiness_gates = Some(vec![PodReadinessGate {
            condition_type: "example.com/lb".into(),
        }]);
        let c = ready_condition(&spec, &[], &[running("a", true)], PodPhase::Running);
        assert_eq!(c.reason.as_deref(), Some("ReadinessGatesNotReady"));
        assert_eq!(
            c.message.as_deref(),
            Some(
                "corresponding condition of pod readiness gate \"example.com/lb\" does not exist."
            )
        );
    }

    #[test]
    fn a_completed_pod_is_initialized_and_not_ready_with_reason_pod_completed() {
        let spec = mk_spec(&["a"], &[], "Never");
        let statuses = [terminated("a", 0)];
        let c = containers_ready_condition(&spec, &statuses, PodPhase::Succeeded);
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some("PodCompleted"))
        );
        let c = initialized_condition(&spec, &statuses, PodPhase::Succeeded);
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some("PodCompleted"))
        );
        let c = containers_ready_condition(&spec, &[terminated("a", 1)], PodPhase::Failed);
        assert_eq!(c.reason.as_deref(), Some("PodFailed"));
    }

    #[test]
    fn pending_init_containers_leave_the_pod_uninitialized() {
        let spec = mk_spec(&["app"], &["setup", "migrate"], "Always");
        let c = initialized_condition(&spec, &[running("setup", false)], PodPhase::Pending);
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some("ContainersNotInitialized"));
        assert_eq!(
            c.message.as_deref(),
            Some(
                "containers with unknown status: [migrate], containers with incomplete status: [setup]"
            )
        );
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged_and_keep_foreign_ones() {
        let spec = mk_spec(&["a"], &[], "Always");
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let t1 = Timestamp::from_second(1_700_000_100).unwrap();
        let foreign = PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            ..PodCondition::default()
        };
        let first = pod_conditions(
            &spec,
            std::slice::from_ref(&foreign),
            &[running("a", false)],
            PodPhase::Running,
            true,
            t0,
        );
        let types: Vec<&str> = first.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            [
                "DisruptionTarget",
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        let second = pod_conditions(
            &spec,
            &first,
            &[running("a", true)],
            PodPhase::Running,
            true,
            t1,
        );
        let time_of = |conds: &[PodCondition], t: &str| {
            conds
                .iter()
                .find(|c| c.type_ == t)
                .and_then(|c| c.last_transition_time.clone())
                .map(|t| t.0)
        };
        assert_eq!(time_of(&second, "PodScheduled"), Some(t0));
        assert_eq!(time_of(&second, "Initialized"), Some(t0));
        assert_eq!(time_of(&second, "Ready"), Some(t1));
        assert_eq!(time_of(&second, "ContainersReady"), Some(t1));
    }

    #[test]
    fn a_pod_never_leaves_a_terminal_phase_and_keeps_its_start_time() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let t1 = Timestamp::from_second(1_700_000_100).unwrap();
        let mut pod = Pod {
            spec: Some(mk_spec(&["a"], &[], "Never")),
            ..Pod::default()
        };
        let status = pod_status(&pod, vec![], vec![terminated("a", 1)], true, false, t0);
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(status.start_time, Some(Time(t0)));
        pod.status = Some(status);
        let status = pod_status(&pod, vec![], vec![running("a", true)], true, false, t1);
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(status.start_time, Some(Time(t0)));
    }
}
