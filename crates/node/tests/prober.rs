//! Probes run for real against host processes (`HostSandbox`, pod IP 127.0.0.1): readiness
//! through exec and HTTP, startup gating, liveness restarts and the restart policy. Periods are
//! kubelet's minimum (1 s), so each test takes a few seconds.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, ExecAction, HTTPGetAction, Pod, PodSpec, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knet_node::{
    BackoffPolicy, HostDialer, HostImages, HostSandbox, PodRuntime, ProbeWorkers, Prober,
    RuntimeConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(10);

fn mk_container(name: &str, script: &str) -> Container {
    Container {
        name: name.into(),
        image: Some("busybox:1.36".into()),
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        ..Container::default()
    }
}

fn mk_pod(name: &str, restart_policy: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers,
            restart_policy: Some(restart_policy.into()),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// A probe every second that flips on the first result.
fn fast(probe: Probe) -> Probe {
    Probe {
        period_seconds: Some(1),
        timeout_seconds: Some(1),
        failure_threshold: Some(1),
        ..probe
    }
}

fn exec_probe(script: &str) -> Probe {
    fast(Probe {
        exec: Some(ExecAction {
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        }),
        ..Probe::default()
    })
}

/// Starts `pod` with a prober; the workers stop when the returned handle is dropped.
fn start(pod: Pod, log_dir: &Path) -> (Arc<PodRuntime>, ProbeWorkers) {
    let prober = Prober::new(Arc::new(HostDialer));
    let mut config = RuntimeConfig::new(log_dir, Arc::new(HostImages::new("/nonexistent/knet")));
    config.backoff = BackoffPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    config.min_grace_period = Duration::from_millis(50);
    config.probes = prober.results();
    let rt = Arc::new(PodRuntime::start(pod, Arc::new(HostSandbox), config).unwrap());
    let workers = prober.start(&rt, IpAddr::from([127, 0, 0, 1]));
    (rt, workers)
}

fn status_of(rt: &PodRuntime, name: &str) -> ContainerStatus {
    rt.container_statuses()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

/// The pod's `Ready` condition.
fn pod_ready(rt: &PodRuntime) -> String {
    rt.status(rt.pod())
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status)
        .unwrap_or_default()
}

/// Waits for `check`, woken by the runtime's change notifications (what the status writer
/// listens to); returns how long it took.
async fn wait_until(rt: &PodRuntime, what: &str, check: impl Fn(&PodRuntime) -> bool) -> Duration {
    let start = Instant::now();
    let mut changes = rt.changes();
    while !check(rt) {
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}: {:#?}",
            rt.container_statuses()
        );
        let _ = tokio::time::timeout(Duration::from_secs(5), changes.changed()).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_readiness_probe_makes_the_container_and_pod_ready_and_unready() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ready");
    let mut c = mk_container("app", "sleep 30");
    c.readiness_probe = Some(exec_probe(&format!("test -f {}", flag.display())));
    let (rt, _workers) = start(mk_pod("ready", "Always", vec![c]), &dir.path().join("logs"));
    wait_until(&rt, "running", |rt| {
        status_of(rt, "app").state.unwrap().running.is_some()
    })
    .await;
    // Running but failing its probe: not ready.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!status_of(&rt, "app").ready);
    assert_eq!(pod_ready(&rt), "False");
    std::fs::write(&flag, "").unwrap();
    let took = wait_until(&rt, "ready", |rt| status_of(rt, "app").ready).await;
    assert!(took < Duration::from_secs(3), "within a period: {took:?}");
    assert_eq!(pod_ready(&rt), "True");
    std::fs::remove_file(&flag).unwrap();
    wait_until(&rt, "not ready again", |rt| !status_of(rt, "app").ready).await;
    assert_eq!(pod_ready(&rt), "False");
    rt.terminate(Some(Duration::from_millis(100))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_readiness_probe_follows_the_servers_answers() {
    let dir = tempfile::tempdir().unwrap();
    let code = Arc::new(AtomicU16::new(503));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = code.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let code = answer.load(Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let reply = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    let mut c = mk_container("web", "sleep 30");
    c.readiness_probe = Some(fast(Probe {
        http_get: Some(HTTPGetAction {
            port: IntOrString::Int(i32::from(port)),
            path: Some("/readyz".into()),
            ..HTTPGetAction::default()
        }),
        ..Probe::default()
    }));
    let (rt, _workers) = start(mk_pod("web", "Always", vec![c]), &dir.path().join("logs"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!status_of(&rt, "web").ready, "503 is not ready");
    code.store(200, Ordering::Relaxed);
    wait_until(&rt, "ready on 200", |rt| status_of(rt, "web").ready).await;
    code.store(500, Ordering::Relaxed);
    wait_until(&rt, "unready on 500", |rt| !status_of(rt, "web").ready).await;
    rt.terminate(Some(Duration::from_millis(100))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_probe_holds_readiness_back_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("started");
    let mut c = mk_container("app", "sleep 30");
    c.startup_probe = Some(Probe {
        failure_threshold: Some(30),
        ..exec_probe(&format!("test -f {}", flag.display()))
    });
    c.readiness_probe = Some(exec_probe("true"));
    let (rt, _workers) = start(mk_pod("gated", "Always", vec![c]), &dir.path().join("logs"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = status_of(&rt, "app");
    assert!(s.state.unwrap().running.is_some());
    assert_eq!((s.started, s.ready), (Some(false), false), "not started");
    std::fs::write(&flag, "").unwrap();
    wait_until(&rt, "started and ready", |rt| {
        let s = status_of(rt, "app");
        s.started == Some(true) && s.ready
    })
    .await;
    assert_eq!(status_of(&rt, "app").restart_count, 0);
    rt.terminate(Some(Duration::from_millis(100))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_liveness_probe_restarts_the_container_even_when_it_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Exits 0 on SIGTERM: OnFailure would not restart that exit, a liveness kill restarts anyway.
    let mut c = mk_container("app", "trap 'exit 0' TERM; while true; do sleep 0.1; done");
    c.liveness_probe = Some(fast(Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(i32::from(closed)),
            host: None,
        }),
        ..Probe::default()
    }));
    let (rt, _workers) = start(
        mk_pod("dead", "OnFailure", vec![c]),
        &dir.path().join("logs"),
    );
    wait_until(&rt, "two restarts", |rt| {
        status_of(rt, "app").restart_count >= 2
    })
    .await;
    let s = status_of(&rt, "app");
    let last = s.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 0, "{last:?}");
    rt.terminate(Some(Duration::from_millis(100))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liveness_failure_under_restart_policy_never_stops_the_container_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = mk_container("app", "sleep 30");
    c.liveness_probe = Some(exec_probe("exit 1"));
    let (rt, _workers) = start(mk_pod("never", "Never", vec![c]), &dir.path().join("logs"));
    wait_until(&rt, "killed", |rt| {
        status_of(rt, "app").state.unwrap().terminated.is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = status_of(&rt, "app");
    assert_eq!(s.restart_count, 0);
    assert_eq!(s.state.unwrap().terminated.unwrap().exit_code, 128 + 15);
    assert_eq!(rt.status(rt.pod()).phase.as_deref(), Some("Failed"));
    rt.terminate(Some(Duration::from_millis(100))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_workers_stops_probing() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = mk_container("app", "sleep 30");
    c.liveness_probe = Some(Probe {
        initial_delay_seconds: Some(1),
        ..exec_probe("exit 1")
    });
    let (rt, workers) = start(mk_pod("quiet", "Always", vec![c]), &dir.path().join("logs"));
    assert_eq!(workers.len(), 1);
    workers.stop();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = status_of(&rt, "app");
    assert!(s.state.unwrap().running.is_some());
    assert_eq!(s.restart_count, 0, "nobody probed");
    rt.terminate(Some(Duration::from_millis(100))).await;
}
