//! The seam for readiness, startup and liveness probes: the runtime asks a [`Probes`] for the latest
//! results, as kubelet's status computation reads its probe results managers
//! (pkg/kubelet/prober/prober_manager.go `UpdatePodStatus`). The implementation that runs probes is
//! [`Prober`](crate::Prober) (its [`ProbeResults`](crate::ProbeResults)); its workers restart
//! containers whose liveness or startup probe fails, as
//! [`PodRuntime::restart_container`](crate::PodRuntime::restart_container) does.

use k8s_openapi::api::core::v1::Container;

/// The latest probe results of a pod's containers, by container instance.
pub trait Probes: Send + Sync {
    /// The latest readinessProbe result of instance `container_id` of `container`: `None` while
    /// there is none yet. Only asked when the container defines a readinessProbe.
    fn readiness(&self, container: &str, container_id: &str) -> Option<bool>;
    /// The latest startupProbe result, likewise; only asked when the container defines one.
    fn startup(&self, container: &str, container_id: &str) -> Option<bool>;
}

/// No probe has run: containers without probes are ready and started as soon as they run, those
/// with probes are neither until a [`Probes`] says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbes;

impl Probes for NoProbes {
    fn readiness(&self, _container: &str, _container_id: &str) -> Option<bool> {
        None
    }
    fn startup(&self, _container: &str, _container_id: &str) -> Option<bool> {
        None
    }
}

/// `started` and `ready` of a running container instance, as kubelet's prober manager sets them: a
/// container without a startupProbe is started when it runs; one without a readinessProbe is ready
/// once started; otherwise the probe's latest result decides (none yet: false).
pub fn started_and_ready(
    container: &Container,
    container_id: &str,
    probes: &dyn Probes,
) -> (bool, bool) {
    let started = container.startup_probe.is_none()
        || probes.startup(&container.name, container_id) == Some(true);
    let ready = started
        && (container.readiness_probe.is_none()
            || probes.readiness(&container.name, container_id) == Some(true));
    (started, ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Probe;

    struct Fixed(Option<bool>, Option<bool>);
    impl Probes for Fixed {
        fn readiness(&self, _: &str, _: &str) -> Option<bool> {
            self.0
        }
        fn startup(&self, _: &str, _: &str) -> Option<bool> {
            self.1
        }
    }

    #[test]
    fn a_container_without_probes_is_started_and_ready() {
        let c = Container {
            name: "app".into(),
            ..Container::default()
        };
        assert_eq!(started_and_ready(&c, "knet://1", &NoProbes), (true, true));
    }

    #[test]
    fn a_readiness_probe_decides_readiness_and_no_result_means_not_ready() {
        let c = Container {
            name: "app".into(),
            readiness_probe: Some(Probe::default()),
            ..Container::default()
        };
        assert_eq!(started_and_ready(&c, "id", &NoProbes), (true, false));
        assert_eq!(
            started_and_ready(&c, "id", &Fixed(Some(true), None)),
            (true, true)
        );
        let c = Container {
            startup_probe: Some(Probe::default()),
            ..c
        };
        assert_eq!(
            started_and_ready(&c, "id", &Fixed(Some(true), None)),
            (false, false)
        );
        assert_eq!(
            started_and_ready(&c, "id", &Fixed(Some(true), Some(true))),
            (true, true)
        );
    }
}
