//! The node agent's container runtime and the pure logic around it: container specs to processes
//! ([`plan_container`]), supervision of a pod's processes with kubelet's restart rules and back-off
//! ([`PodRuntime`]), CRI-format container logs ([`read_logs`], [`follow_logs`]), pod phase and
//! conditions ([`pod_status`]), readiness/liveness/startup probes ([`Prober`]), and the node's pod
//! IP allocation ([`PodIpam`]).
//!
//! It is not the network: the pod sandbox (namespaces, veth, addresses) is knet-netns's, reached
//! through the [`Sandbox`] trait; nor the API client loop that feeds it pods and writes statuses.
//!
//! ```text
//!  Pod ──plan_container──► ProcessSpec ──Sandbox::command──► process (own group) ──► <log dir>/<c>/<n>.log
//!                                             ▲                    │ exit
//!  PodRuntime: restart policy, back-off ──────┘      ContainerStatus ◄┘ ──pod_status──► phase, conditions
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::dbg_macro, clippy::print_stdout)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backoff;
mod dns;
mod envvars;
mod expand;
mod ipam;
mod logs;
mod plan;
mod probe;
mod prober;
mod runtime;
mod sandbox;
mod status;
mod streams;

pub use backoff::{Backoff, BackoffPolicy, go_duration};
pub use dns::{
    MAX_DNS_NAMESERVERS, MAX_DNS_SEARCH_LIST_CHARS, MAX_DNS_SEARCH_PATHS, ResolverConfig,
    pod_dns_config, pod_resolv_conf,
};
pub use envvars::{MASTER_SERVICE_NAMESPACE, MASTER_SERVICES, service_env};
pub use expand::expand;
pub use ipam::{IpamError, PodIpam};
pub use logs::{
    LogError, LogStream, MAX_LOG_LINE, container_log_path, encode_entry, follow_logs,
    format_timestamp, log_instances, pod_log_dir, read_instance_log, read_logs,
};
pub use plan::{
    DEFAULT_PATH, HostImages, Images, PodContext, ProcessSpec,
    REASON_CREATE_CONTAINER_CONFIG_ERROR, REASON_ERR_IMAGE_PULL, REASON_IMAGE_PULL_BACK_OFF,
    REASON_INVALID_IMAGE_NAME, Waiting, env_source_names, find_executable, plan_container,
    pod_hostname,
};
pub use probe::{NoProbes, Probes, started_and_ready};
pub use prober::{
    HostDialer, ProbeDialer, ProbeKind, ProbeOutcome, ProbeResult, ProbeResults, ProbeWorkers,
    Prober,
};
pub use runtime::{
    EnvSourceData, EnvSources, PodRuntime, REASON_COMPLETED, REASON_CONTAINER_CREATING,
    REASON_CRASH_LOOP_BACK_OFF, REASON_ERROR, REASON_POD_INITIALIZING, REASON_START_ERROR,
    RuntimeConfig, RuntimeError, Termination, grace_period, read_env_file, should_restart,
};
pub use sandbox::{HostSandbox, Sandbox};
pub use status::{
    PodPhase, containers_ready_condition, initialized_condition, pod_conditions, pod_phase,
    pod_status, ready_condition,
};
pub use streams::{IoSession, open_pty, set_terminal_size, under_terminal};
