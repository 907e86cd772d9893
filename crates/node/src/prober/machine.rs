//! One probe worker's state machine, without I/O: kubelet's `worker.doProbe`
//! (pkg/kubelet/prober/worker.go) split in two steps. [`Machine::tick`] looks at the container
//! (passed in, with the time) and says whether to probe now, when to look again, or to stop;
//! [`Machine::record`] counts a probe's outcome against the thresholds. Both return the result
//! store operations to apply; the caller runs the probe, applies them and restarts containers.
//!
//! ```text
//!  new instance ─► result = initial (readiness Failure, liveness Success, startup Unknown)
//!     │ initialDelaySeconds since the instance started: wait
//!     │ startup probe not yet succeeded: only the startup worker probes
//!     ▼ every periodSeconds: probe ─► same outcome N times in a row?
//!        success × successThreshold ─► Success
//!        failure × failureThreshold ─► Failure ─(liveness, startup)─► restart, hold until the next instance
//! ```

use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    /// `readinessProbe`: whether the container takes traffic (`ready`).
    Readiness,
    /// `livenessProbe`: a failure restarts the container.
    Liveness,
    /// `startupProbe`: holds the other two back until it succeeds; a failure restarts.
    Startup,
}

impl ProbeKind {
    /// The name kubelet's messages use ("Readiness", "Liveness", "Startup").
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// The result a new container instance starts with (worker.go `initialValue`): not ready, alive,
    /// not known to have started.
    fn initial(self) -> ProbeResult {
        match self {
            ProbeKind::Readiness => ProbeResult::Failure,
            ProbeKind::Liveness => ProbeResult::Success,
            ProbeKind::Startup => ProbeResult::Unknown,
        }
    }

    /// Whether a failure of this probe restarts the container.
    fn restarts(self) -> bool {
        matches!(self, ProbeKind::Liveness | ProbeKind::Startup)
    }
}

/// A stored probe result (kubelet pkg/kubelet/prober/results `Result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Not known yet.
    Unknown,
    /// The probe passes.
    Success,
    /// The probe fails.
    Failure,
}

/// What one run of a probe found (pkg/probe `Result`, with `Warning` folded into success).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The check passed; the output is what it said (a response body, a command's output).
    Success(String),
    /// The check failed, with why.
    Failure(String),
    /// The probe could not be run (e.g. a named port the container does not have): kubelet throws
    /// the result away, so it counts neither way (worker.go: "Prober error, throw away the result").
    Error(String),
}

/// A probe's timing and thresholds, defaults applied (`SetDefaults_Probe`,
/// pkg/apis/core/v1/defaults.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// `initialDelaySeconds` (default 0).
    pub(crate) initial_delay: Duration,
    /// `periodSeconds` (default 10).
    pub(crate) period: Duration,
    /// `timeoutSeconds` (default 1).
    pub(crate) timeout: Duration,
    /// `successThreshold` (default 1; always 1 for liveness and startup, as validation demands).
    pub(crate) success_threshold: u32,
    /// `failureThreshold` (default 3).
    pub(crate) failure_threshold: u32,
}

impl Timing {
    /// The timing of `probe` used as a `kind` probe.
    pub(crate) fn of(probe: &Probe, kind: ProbeKind) -> Timing {
        let positive = |v: Option<i32>, default: u32| {
            v.and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        let seconds = |s: u32| Duration::from_secs(u64::from(s));
        Timing {
            initial_delay: seconds(
                probe
                    .initial_delay_seconds
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0),
            ),
            period: seconds(positive(probe.period_seconds, 10)),
            timeout: seconds(positive(probe.timeout_seconds, 1)),
            success_threshold: if kind.restarts() {
                1
            } else {
                positive(probe.success_threshold, 1)
            },
            failure_threshold: positive(probe.failure_threshold, 3),
        }
    }
}

/// The container as the worker sees it at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instance<'a> {
    /// No instance: not created yet, or waiting to be started again.
    Absent,
    /// An instance runs.
    Running {
        /// Its container ID.
        id: &'a str,
        /// How long it has run.
        since_start: Duration,
        /// Whether it has started: no startup probe, or the startup probe succeeded.
        started: bool,
    },
    /// The instance ended.
    Exited {
        /// Its container ID.
        id: &'a str,
    },
}

/// What the worker knows at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View<'a> {
    /// The container.
    pub(crate) instance: Instance<'a>,
    /// The pod is being deleted.
    pub(crate) pod_deleting: bool,
    /// The pod's `restartPolicy` is `Never`.
    pub(crate) restart_never: bool,
    /// The worker's clock.
    pub(crate) now: Duration,
}

/// A change to the result store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreOp {
    /// The result for a container instance is now `result`.
    Set {
        container_id: String,
        result: ProbeResult,
    },
    /// The instance is gone: forget its result.
    Remove { container_id: String },
}

/// What the worker does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Run the probe now.
    Probe,
    /// Look again at this time on the worker's clock (or earlier, when the pod changes).
    WaitUntil(Duration),
    /// The worker is done (the container will not run again, or the pod is being deleted).
    Stop,
}

/// The result of [`Machine::tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tick {
    pub(crate) ops: Vec<StoreOp>,
    pub(crate) next: Next,
}

/// The result of [`Machine::record`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) ops: Vec<StoreOp>,
    /// Restart the probed instance (a liveness or startup failure reached its threshold).
    pub(crate) restart: bool,
}

/// The state of one (container, probe kind) worker.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    kind: ProbeKind,
    timing: Timing,
    /// The instance being probed.
    container_id: Option<String>,
    /// The last outcome (true: success) and how many times in a row it came.
    last: Option<bool>,
    run: u32,
    /// After a liveness/startup failure: no probing until the next instance.
    on_hold: bool,
    /// When the last probe of this instance started.
    last_probe: Option<Duration>,
}

impl Machine {
    /// A worker for a `kind` probe with `timing`.
    pub(crate) fn new(kind: ProbeKind, timing: Timing) -> Machine {
        Machine {
            kind,
            timing,
            container_id: None,
            last: None,
            run: 0,
            on_hold: false,
            last_probe: None,
        }
    }

    /// The probe's timing.
    pub(crate) fn timing(&self) -> Timing {
        self.timing
    }

    /// Looks at the container: what to store, and whether to probe now.
    pub(crate) fn tick(&mut self, view: View<'_>) -> Tick {
        let mut ops = Vec::new();
        let later = Next::WaitUntil(view.now + self.timing.period);
        let id = match view.instance {
            // "Either the container has not been created yet, or it was deleted": wait.
            Instance::Absent => return Tick { ops, next: later },
            Instance::Running { id, .. } | Instance::Exited { id } => id,
        };
        if self.container_id.as_deref() != Some(id) {
            if let Some(old) = self.container_id.take() {
                ops.push(StoreOp::Remove { container_id: old });
            }
            self.container_id = Some(id.to_owned());
            ops.push(StoreOp::Set {
                container_id: id.to_owned(),
                result: self.kind.initial(),
            });
            // A new instance is probed afresh. (kubelet keeps the run count across instances, so a
            // new instance may inherit a partial run; counting per instance is what the docs say.)
            self.on_hold = false;
            self.last = None;
            self.run = 0;
            // Readiness is probed at once (kubelet's prober manager triggers a readiness worker
            // whose container has no result yet, prober_manager.go `UpdatePodStatus`); liveness
            // and startup wait for their next tick, here one period.
            self.last_probe = (self.kind != ProbeKind::Readiness).then_some(view.now);
        }
        if self.on_hold {
            return Tick { ops, next: later };
        }
        let (since_start, started) = match view.instance {
            Instance::Running {
                since_start,
                started,
                ..
            } => (since_start, started),
            _ => {
                // A container that is not running fails every probe; the worker ends when it will
                // not run again.
                ops.push(StoreOp::Set {
                    container_id: id.to_owned(),
                    result: ProbeResult::Failure,
                });
                let next = if view.restart_never {
                    Next::Stop
                } else {
                    later
                };
                return Tick { ops, next };
            }
        };
        if view.pod_deleting && self.kind.restarts() {
            // Graceful shutdown: a last success, so that nothing restarts the container while it
            // stops, then no more probing.
            ops.push(StoreOp::Set {
                container_id: id.to_owned(),
                result: ProbeResult::Success,
            });
            return Tick {
                ops,
                next: Next::Stop,
            };
        }
        if since_start < self.timing.initial_delay {
            let remaining = self.timing.initial_delay - since_start;
            return Tick {
                ops,
                next: Next::WaitUntil(view.now + remaining),
            };
        }
        // The startup probe runs until the container has started; the others only after.
        if started == (self.kind == ProbeKind::Startup) {
            return Tick { ops, next: later };
        }
        if let Some(last) = self.last_probe {
            let due = last + self.timing.period;
            if view.now < due {
                return Tick {
                    ops,
                    next: Next::WaitUntil(due),
                };
            }
        }
        Tick {
            ops,
            next: Next::Probe,
        }
    }

    /// Counts the outcome of the probe that started at `started` against the thresholds.
    pub(crate) fn record(&mut self, started: Duration, outcome: &ProbeOutcome) -> Recorded {
        self.last_probe = Some(started);
        let mut recorded = Recorded::default();
        let Some(id) = self.container_id.clone() else {
            return recorded;
        };
        let success = match outcome {
            ProbeOutcome::Success(_) => true,
            ProbeOutcome::Failure(_) => false,
            ProbeOutcome::Error(_) => return recorded,
        };
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success {
            self.timing.success_threshold
        } else {
            self.timing.failure_threshold
        };
        if self.run < threshold {
            return recorded;
        }
        recorded.ops.push(StoreOp::Set {
            container_id: id,
            result: if success {
                ProbeResult::Success
            } else {
                ProbeResult::Failure
            },
        });
        if !success && self.kind.restarts() {
            // The container will be restarted: hold until its next instance.
            self.on_hold = true;
            self.run = 0;
            recorded.restart = true;
        }
        recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timing(initial: u64, period: u64, success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: S * initial as u32,
            period: S * period as u32,
            timeout: S,
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    fn running(id: &str, since_start: Duration, started: bool, now: Duration) -> View<'_> {
        View {
            instance: Instance::Running {
                id,
                since_start,
                started,
            },
            pod_deleting: false,
            restart_never: false,
            now,
        }
    }

    fn set(id: &str, result: ProbeResult) -> StoreOp {
        StoreOp::Set {
            container_id: id.into(),
            result,
        }
    }

    fn ok() -> ProbeOutcome {
        ProbeOutcome::Success(String::new())
    }

    fn fail() -> ProbeOutcome {
        ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into())
    }

    /// Ticks at `now` (the instance started at 0) and, when the machine says so, probes with
    /// `outcome`; returns the store operations of both steps and whether it asked for a restart.
    fn step(m: &mut Machine, now: u64, started: bool, outcome: ProbeOutcome) -> (Recorded, Next) {
        let now = S * now as u32;
        let tick = m.tick(running("c1", now, started, now));
        let mut recorded = Recorded {
            ops: tick.ops,
            restart: false,
        };
        if tick.next == Next::Probe {
            let r = m.record(now, &outcome);
            recorded.ops.extend(r.ops);
            recorded.restart = r.restart;
        }
        (recorded, tick.next)
    }

    #[test]
    fn defaults_are_kubelets_and_liveness_needs_one_success() {
        let probe = Probe {
            success_threshold: Some(3),
            ..Probe::default()
        };
        let t = Timing::of(&probe, ProbeKind::Readiness);
        assert_eq!(t, timing(0, 10, 3, 3));
        assert_eq!(Timing::of(&probe, ProbeKind::Liveness).success_threshold, 1);
        assert_eq!(Timing::of(&probe, ProbeKind::Startup).success_threshold, 1);
        let odd = Probe {
            period_seconds: Some(0),
            timeout_seconds: Some(-1),
            initial_delay_seconds: Some(-5),
            ..Probe::default()
        };
        assert_eq!(Timing::of(&odd, ProbeKind::Readiness), timing(0, 10, 1, 3));
    }

    #[test]
    fn a_new_instance_starts_not_ready_and_is_not_probed_during_the_initial_delay() {
        let mut m = Machine::new(ProbeKind::Readiness, timing(5, 1, 1, 3));
        let tick = m.tick(running("c1", S * 2, true, S * 2));
        assert_eq!(tick.ops, vec![set("c1", ProbeResult::Failure)]);
        assert_eq!(
            tick.next,
            Next::WaitUntil(S * 5),
            "wakes when the delay ends"
        );
        let tick = m.tick(running("c1", S * 5, true, S * 5));
        assert_eq!(tick.next, Next::Probe);
        assert!(tick.ops.is_empty(), "the initial result is set once");
    }

    #[test]
    fn probes_run_once_per_period() {
        let mut m = Machine::new(ProbeKind::Readiness, timing(0, 10, 1, 3));
        assert_eq!(m.tick(running("c1", S, true, S)).next, Next::Probe);
        m.record(S, &ok());
        assert_eq!(
            m.tick(running("c1", S * 4, true, S * 4)).next,
            Next::WaitUntil(S * 11)
        );
        assert_eq!(
            m.tick(running("c1", S * 11, true, S * 11)).next,
            Next::Probe
        );
    }

    #[test]
    fn readiness_flips_only_after_the_thresholds() {
        let mut m = Machine::new(ProbeKind::Readiness, timing(0, 1, 2, 3));
        let (r, _) = step(&mut m, 0, true, ok());
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Failure)], "initial only");
        let (r, _) = step(&mut m, 1, true, ok());
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Success)], "2 successes");
        for t in 2..4 {
            let (r, _) = step(&mut m, t, true, fail());
            assert!(r.ops.is_empty(), "failure {} of 3 changes nothing", t - 1);
        }
        // A success in between starts the failure count again.
        let (r, _) = step(&mut m, 4, true, ok());
        assert!(r.ops.is_empty());
        let _ = step(&mut m, 5, true, fail());
        let _ = step(&mut m, 6, true, fail());
        let (r, _) = step(&mut m, 7, true, fail());
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Failure)], "3 failures");
        assert!(!r.restart, "readiness never restarts");
        // One success is not enough with successThreshold 2, two are.
        let (r, _) = step(&mut m, 8, true, ok());
        assert!(r.ops.is_empty());
        let (r, _) = step(&mut m, 9, true, ok());
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Success)]);
    }

    #[test]
    fn liveness_failure_at_the_threshold_asks_for_a_restart_and_holds_until_the_next_instance() {
        let mut m = Machine::new(ProbeKind::Liveness, timing(0, 1, 1, 2));
        let (r, next) = step(&mut m, 0, true, fail());
        assert_eq!(
            r.ops,
            vec![set("c1", ProbeResult::Success)],
            "alive at first"
        );
        assert_eq!(next, Next::WaitUntil(S), "first probe a period after start");
        let (r, _) = step(&mut m, 1, true, fail());
        assert!(r.ops.is_empty() && !r.restart, "1 failure of 2");
        let (r, _) = step(&mut m, 2, true, fail());
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Failure)]);
        assert!(r.restart);
        // On hold: the dying instance is not probed again.
        let (r, next) = step(&mut m, 3, true, fail());
        assert!(r.ops.is_empty() && !r.restart);
        assert_eq!(next, Next::WaitUntil(S * 4));
        // The next instance is probed again from scratch.
        let tick = m.tick(running("c2", Duration::ZERO, true, S * 4));
        assert_eq!(
            tick.ops,
            vec![
                StoreOp::Remove {
                    container_id: "c1".into()
                },
                set("c2", ProbeResult::Success)
            ]
        );
        assert_eq!(tick.next, Next::WaitUntil(S * 5));
        assert_eq!(m.tick(running("c2", S, true, S * 5)).next, Next::Probe);
        assert!(!m.record(S * 5, &fail()).restart, "1 failure of 2");
    }

    #[test]
    fn the_startup_probe_gates_the_others_and_stops_once_started() {
        let mut readiness = Machine::new(ProbeKind::Readiness, timing(0, 1, 1, 1));
        let mut liveness = Machine::new(ProbeKind::Liveness, timing(0, 1, 1, 1));
        let mut startup = Machine::new(ProbeKind::Startup, timing(0, 1, 1, 3));
        // Not started: only the startup probe runs.
        let (r, next) = step(&mut readiness, 0, false, ok());
        assert_eq!(next, Next::WaitUntil(S));
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Failure)]);
        let (r, next) = step(&mut liveness, 0, false, fail());
        assert_eq!(next, Next::WaitUntil(S));
        assert!(!r.restart);
        let (r, next) = step(&mut startup, 0, false, ok());
        assert_eq!(next, Next::WaitUntil(S));
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Unknown)]);
        let (r, next) = step(&mut startup, 1, false, ok());
        assert_eq!(next, Next::Probe);
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Success)]);
        // Started: the others run, the startup probe does not.
        assert_eq!(
            step(&mut startup, 2, true, fail()).1,
            Next::WaitUntil(S * 3)
        );
        let (r, next) = step(&mut readiness, 2, true, ok());
        assert_eq!(next, Next::Probe);
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Success)]);
        let (r, _) = step(&mut liveness, 2, true, fail());
        assert!(r.restart);
    }

    #[test]
    fn a_startup_failure_at_the_threshold_restarts() {
        let mut m = Machine::new(ProbeKind::Startup, timing(0, 1, 1, 2));
        assert!(!step(&mut m, 0, false, fail()).0.restart);
        assert!(!step(&mut m, 1, false, fail()).0.restart);
        let (r, _) = step(&mut m, 2, false, fail());
        assert!(r.restart);
        assert_eq!(r.ops, vec![set("c1", ProbeResult::Failure)]);
    }

    #[test]
    fn probe_errors_count_neither_way() {
        let mut m = Machine::new(ProbeKind::Liveness, timing(0, 1, 1, 1));
        let _ = step(&mut m, 0, true, ok());
        let (r, next) = step(
            &mut m,
            1,
            true,
            ProbeOutcome::Error("port http not found".into()),
        );
        assert_eq!(next, Next::Probe);
        assert!(r.ops.is_empty() && !r.restart, "thrown away");
        let later = Duration::from_millis(1500);
        assert_eq!(
            m.tick(running("c1", later, true, later)).next,
            Next::WaitUntil(S * 2),
            "the errored probe still took its period"
        );
    }

    #[test]
    fn a_stopped_container_fails_and_ends_the_worker_when_it_will_not_run_again() {
        let mut m = Machine::new(ProbeKind::Readiness, timing(0, 1, 1, 1));
        let _ = step(&mut m, 0, true, ok());
        let exited = |restart_never| View {
            instance: Instance::Exited { id: "c1" },
            pod_deleting: false,
            restart_never,
            now: S,
        };
        let tick = m.tick(exited(false));
        assert_eq!(tick.ops, vec![set("c1", ProbeResult::Failure)]);
        assert_eq!(tick.next, Next::WaitUntil(S * 2));
        assert_eq!(m.tick(exited(true)).next, Next::Stop);
        // Waiting for a restart: nothing known, nothing changes.
        let absent = View {
            instance: Instance::Absent,
            pod_deleting: false,
            restart_never: false,
            now: S,
        };
        assert_eq!(
            m.tick(absent),
            Tick {
                ops: vec![],
                next: Next::WaitUntil(S * 2)
            }
        );
    }

    #[test]
    fn deletion_stops_liveness_with_a_last_success_but_not_readiness() {
        let deleting = View {
            pod_deleting: true,
            ..running("c1", S, true, S)
        };
        let mut liveness = Machine::new(ProbeKind::Liveness, timing(0, 1, 1, 1));
        let tick = liveness.tick(deleting);
        assert_eq!(tick.next, Next::Stop);
        assert_eq!(tick.ops.last(), Some(&set("c1", ProbeResult::Success)));
        let mut readiness = Machine::new(ProbeKind::Readiness, timing(0, 1, 1, 1));
        assert_eq!(readiness.tick(deleting).next, Next::Probe);
    }
}
