//! Real processes through `HostSandbox`: logs, restart policies and back-off, graceful deletion,
//! several containers in one pod. Back-off and grace periods are shortened so the suite stays fast.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use knet_node::{
    BackoffPolicy, EnvSourceData, EnvSources, HostImages, HostSandbox, LogError, PodRuntime,
    RuntimeConfig, read_logs,
};

const WAIT: Duration = Duration::from_secs(8);

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
            node_name: Some("knet-worker".into()),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn config(log_dir: &Path) -> RuntimeConfig {
    let mut config = RuntimeConfig::new(log_dir, Arc::new(HostImages::new("/nonexistent/knet")));
    config.backoff = BackoffPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    config.min_grace_period = Duration::from_millis(50);
    config
}

fn start(pod: Pod, log_dir: &Path) -> PodRuntime {
    PodRuntime::start(pod, Arc::new(HostSandbox), config(log_dir)).unwrap()
}

fn status_of(rt: &PodRuntime, name: &str) -> ContainerStatus {
    rt.container_statuses()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

fn exit_code(s: &ContainerStatus) -> Option<i32> {
    s.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code)
}

fn waiting_reason(s: &ContainerStatus) -> Option<String> {
    s.state.as_ref()?.waiting.as_ref()?.reason.clone()
}

fn is_running(s: &ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.running.is_some())
}

async fn wait_until(rt: &PodRuntime, what: &str, check: impl Fn(&PodRuntime) -> bool) {
    let deadline = Instant::now() + WAIT;
    let mut changes = rt.changes();
    while !check(rt) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:#?}",
            rt.container_statuses()
        );
        let _ = tokio::time::timeout(Duration::from_millis(50), changes.changed()).await;
    }
}

fn phase(rt: &PodRuntime) -> String {
    rt.status(rt.pod()).phase.unwrap_or_default()
}

/// A string no other test's processes carry, to find this test's processes in /proc.
fn marker(test: &str) -> String {
    format!("knet-node-test-{test}-{}", std::process::id())
}

/// (pid, pgid, state) of every process whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<(i32, i32, char)> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(marker)
            && let Some((pgid, state)) = stat(pid)
        {
            found.push((pid, pgid, state));
        }
    }
    found
}

/// (pgid, state) of a process from /proc/PID/stat.
fn stat(pid: i32) -> Option<(i32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((pgid, state))
}

/// Processes of group `pgid` that are not zombies.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut members = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Some((g, state)) = stat(pid)
            && g == pgid
            && state != 'Z'
        {
            members.push(pid);
        }
    }
    members
}

async fn assert_nothing_left(pgid: i32, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let members = live_members(pgid);
        let reaped = !Path::new(&format!("/proc/{pid}")).exists();
        if members.is_empty() && reaped {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: group {pgid} members {members:?}, first process reaped: {reaped}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn group_of(marker: &str) -> (i32, i32) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(&(pid, pgid, _)) = processes_with(marker)
            .iter()
            .find(|(pid, pgid, _)| pid == pgid)
        {
            return (pid, pgid);
        }
        assert!(Instant::now() < deadline, "no process carries {marker}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn output_is_kept_in_cri_format_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let pod = mk_pod(
        "logger",
        "Never",
        vec![mk_container("app", "echo hi; echo oops >&2; exit 3")],
    );
    let rt = start(pod, dir.path());
    wait_until(&rt, "the container to exit", |rt| {
        exit_code(&status_of(rt, "app")).is_some()
    })
    .await;

    let raw = std::fs::read_to_string(dir.path().join("app").join("0.log")).unwrap();
    let mut entries: Vec<(String, String)> = raw
        .lines()
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let ts = parts.next().unwrap();
            assert!(
                ts.parse::<jiff::Timestamp>().is_ok() && ts.len() == 30 && ts.ends_with('Z'),
                "timestamp {ts:?}"
            );
            let stream = parts.next().unwrap().to_owned();
            assert_eq!(parts.next(), Some("F"));
            (stream, parts.next().unwrap().to_owned())
        })
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            ("stderr".to_owned(), "oops".to_owned()),
            ("stdout".to_owned(), "hi".to_owned())
        ]
    );

    let text = read_logs(dir.path(), "app", false, None, false).unwrap();
    assert!(text == "hi\noops\n" || text == "oops\nhi\n", "{text:?}");
    assert_eq!(
        rt.read_logs("app", false, Some(1), false)
            .unwrap()
            .lines()
            .count(),
        1
    );
    let stamped = rt.read_logs("app", false, None, true).unwrap();
    assert!(
        stamped
            .lines()
            .all(|l| l.len() > 31 && l.as_bytes()[30] == b' '),
        "{stamped:?}"
    );
    assert!(matches!(
        rt.read_logs("app", true, None, false),
        Err(LogError::NoPrevious { .. })
    ));
    assert!(matches!(
        rt.read_logs("web", false, None, false),
        Err(LogError::UnknownContainer { .. })
    ));

    let status = status_of(&rt, "app");
    let terminated = status.state.unwrap().terminated.unwrap();
    assert_eq!(terminated.exit_code, 3);
    assert_eq!(terminated.reason.as_deref(), Some("Error"));
    assert!(terminated.started_at.is_some() && terminated.finished_at.is_some());
    assert!(terminated.container_id.unwrap().starts_with("knet://"));
    assert_eq!(status.image, "busybox:1.36");
    assert!(status.image_id.ends_with("/sh"), "{}", status.image_id);
    assert_eq!(phase(&rt), "Failed");
}

#[tokio::test]
async fn on_failure_restarts_on_exit_3_with_back_off_and_keeps_the_previous_log() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("runs");
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; echo \"run $n\"; \
         [ $n -ge 3 ] && exit 0; exit 3",
        c = counter.display()
    );
    let logs = dir.path().join("logs");
    let rt = start(
        mk_pod("flaky", "OnFailure", vec![mk_container("app", &script)]),
        &logs,
    );
    let started = Instant::now();
    let mut saw_back_off = false;
    let deadline = Instant::now() + WAIT;
    loop {
        let s = status_of(&rt, "app");
        if waiting_reason(&s).as_deref() == Some("CrashLoopBackOff") {
            saw_back_off = true;
            let message = s.state.unwrap().waiting.unwrap().message.unwrap();
            assert_eq!(
                message,
                "back-off 100ms restarting failed container=app pod=flaky_default(uid-flaky)"
            );
            let last = s.last_state.unwrap().terminated.unwrap();
            assert_eq!(last.exit_code, 3);
        }
        if exit_code(&status_of(&rt, "app")) == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "{:#?}", rt.container_statuses());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // First restart immediate, second after the 100 ms back-off.
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(saw_back_off, "the second failure waits in CrashLoopBackOff");

    let s = status_of(&rt, "app");
    assert_eq!(s.restart_count, 2);
    let last = s.last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));
    assert_eq!(
        s.state.unwrap().terminated.unwrap().reason.as_deref(),
        Some("Completed")
    );
    assert_eq!(phase(&rt), "Succeeded");
    assert_eq!(rt.read_logs("app", false, None, false).unwrap(), "run 3\n");
    assert_eq!(rt.read_logs("app", true, None, false).unwrap(), "run 2\n");
    assert_eq!(
        read_logs(&logs, "app", true, None, false).unwrap(),
        "run 2\n"
    );
}

#[tokio::test]
async fn on_failure_does_not_restart_on_exit_0_and_never_never_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let ok = start(
        mk_pod("ok", "OnFailure", vec![mk_container("app", "exit 0")]),
        &dir.path().join("ok"),
    );
    let never = start(
        mk_pod("never", "Never", vec![mk_container("app", "exit 3")]),
        &dir.path().join("never"),
    );
    wait_until(&ok, "exit", |rt| exit_code(&status_of(rt, "app")).is_some()).await;
    wait_until(&never, "exit", |rt| {
        exit_code(&status_of(rt, "app")).is_some()
    })
    .await;
    // Longer than the back-off: a restart would have happened by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = status_of(&ok, "app");
    assert_eq!((exit_code(&s), s.restart_count), (Some(0), 0));
    assert_eq!(phase(&ok), "Succeeded");
    let s = status_of(&never, "app");
    assert_eq!((exit_code(&s), s.restart_count), (Some(3), 0));
    assert_eq!(phase(&never), "Failed");
    let conditions = never.status(never.pod()).conditions.unwrap();
    let ready = conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("False", Some("PodFailed"))
    );
}

#[tokio::test]
async fn always_restarts_even_after_success_and_counts_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let rt = start(
        mk_pod(
            "looper",
            "Always",
            vec![mk_container("app", "echo tick; exit 0")],
        ),
        dir.path(),
    );
    wait_until(&rt, "three restarts", |rt| {
        status_of(rt, "app").restart_count >= 3
    })
    .await;
    // Only the current and the previous instance keep their logs.
    let instances = knet_node::log_instances(dir.path(), "app").unwrap();
    assert!(
        instances.len() <= 2 && !instances.contains(&0),
        "{instances:?}"
    );
    let s = status_of(&rt, "app");
    let last = s.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.reason.as_deref(), Some("Completed"));
    assert_eq!(phase(&rt), "Running");
    let termination = rt.terminate(None).await;
    assert!(termination.killed.is_empty());
    assert!(rt.is_terminated());
    let count = status_of(&rt, "app").restart_count;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status_of(&rt, "app").restart_count,
        count,
        "no restart after terminate"
    );
}

#[tokio::test]
async fn deletion_sends_sigterm_to_a_process_that_handles_it() {
    let dir = tempfile::tempdir().unwrap();
    let mark = marker("term");
    let script = format!(
        "trap 'echo got TERM; exit 0' TERM; echo {mark} >/dev/null; while :; do sleep 0.05; done"
    );
    let rt = start(
        mk_pod("graceful", "Always", vec![mk_container("app", &script)]),
        dir.path(),
    );
    let (pid, pgid) = group_of(&mark).await;
    wait_until(&rt, "running", |rt| is_running(&status_of(rt, "app"))).await;
    let begun = Instant::now();
    let termination = rt.terminate(Some(Duration::from_secs(5))).await;
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "it did not wait for the grace period"
    );
    assert!(termination.killed.is_empty(), "{termination:?}");
    let s = status_of(&rt, "app");
    assert_eq!(exit_code(&s), Some(0));
    assert!(
        rt.read_logs("app", false, None, false)
            .unwrap()
            .contains("got TERM")
    );
    assert_nothing_left(pgid, pid).await;
    assert_eq!(phase(&rt), "Succeeded");
}

#[tokio::test]
async fn deletion_kills_a_process_that_ignores_sigterm_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mark = marker("ignore");
    let script = format!("trap '' TERM; echo {mark} >/dev/null; while :; do sleep 0.05; done");
    let rt = start(
        mk_pod("stubborn", "Always", vec![mk_container("app", &script)]),
        dir.path(),
    );
    let (pid, pgid) = group_of(&mark).await;
    wait_until(&rt, "running", |rt| is_running(&status_of(rt, "app"))).await;
    let begun = Instant::now();
    let termination = rt.terminate(Some(Duration::from_millis(400))).await;
    assert!(begun.elapsed() >= Duration::from_millis(400));
    assert_eq!(termination.killed, ["app"]);
    assert_eq!(exit_code(&status_of(&rt, "app")), Some(137));
    assert_nothing_left(pgid, pid).await;
    assert_eq!(phase(&rt), "Failed");
}

#[tokio::test]
async fn two_containers_of_one_pod_run_side_by_side_and_both_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, m2) = (marker("side-a"), marker("side-b"));
    let rt = start(
        mk_pod(
            "pair",
            "Always",
            vec![
                mk_container("web", &format!("echo {m1} >/dev/null; sleep 30")),
                mk_container("sidecar", &format!("echo {m2} >/dev/null; sleep 30")),
            ],
        ),
        dir.path(),
    );
    wait_until(&rt, "both running", |rt| {
        rt.container_statuses().iter().all(is_running)
    })
    .await;
    let groups = [group_of(&m1).await, group_of(&m2).await];
    assert_ne!(
        groups[0].1, groups[1].1,
        "each container has its own process group"
    );
    let status = rt.status(rt.pod());
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let conditions = status.conditions.unwrap();
    for type_ in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        let c = conditions.iter().find(|c| c.type_ == type_).unwrap();
        assert_eq!(c.status, "True", "{type_}");
    }
    for s in rt.container_statuses() {
        assert!(s.ready && s.started == Some(true), "{s:?}");
    }
    let termination = rt.terminate(Some(Duration::from_secs(5))).await;
    assert!(termination.killed.is_empty(), "sleep dies of SIGTERM");
    for (pid, pgid) in groups {
        assert_nothing_left(pgid, pid).await;
    }
    for s in rt.container_statuses() {
        assert_eq!(exit_code(&s), Some(143));
    }
}

#[tokio::test]
async fn an_image_that_cannot_be_had_waits_without_disturbing_the_other_container() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Container {
        name: "backend".into(),
        image: Some("contoso/mybackend".into()),
        ..Container::default()
    };
    let rt = start(
        mk_pod(
            "mixed",
            "Always",
            vec![backend, mk_container("web", "sleep 30")],
        ),
        dir.path(),
    );
    wait_until(&rt, "ErrImagePull", |rt| {
        waiting_reason(&status_of(rt, "backend")).as_deref() == Some("ErrImagePull")
    })
    .await;
    let message = status_of(&rt, "backend")
        .state
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap();
    assert!(message.contains("is not built into knet"), "{message}");
    wait_until(&rt, "ImagePullBackOff", |rt| {
        waiting_reason(&status_of(rt, "backend")).as_deref() == Some("ImagePullBackOff")
    })
    .await;
    let message = status_of(&rt, "backend")
        .state
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap();
    assert!(
        message.starts_with("Back-off pulling image \"contoso/mybackend\": ErrImagePull: image"),
        "{message}"
    );
    wait_until(&rt, "web running", |rt| is_running(&status_of(rt, "web"))).await;
    assert_eq!(phase(&rt), "Pending");
    match rt.read_logs("backend", false, None, false) {
        Err(LogError::Waiting { reason, .. }) => {
            assert!(
                reason == "image can't be pulled" || reason == "trying and failing to pull image"
            )
        }
        other => panic!("{other:?}"),
    }
    rt.terminate(None).await;
}

#[tokio::test]
async fn a_command_that_does_not_exist_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Container {
        name: "app".into(),
        image: Some("contoso/app".into()),
        command: Some(vec!["knet-no-such-program-xyz".into()]),
        ..Container::default()
    };
    let rt = start(mk_pod("typo", "Never", vec![missing]), dir.path());
    wait_until(&rt, "exit", |rt| exit_code(&status_of(rt, "app")).is_some()).await;
    let t = status_of(&rt, "app").state.unwrap().terminated.unwrap();
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (128, Some("StartError"))
    );
    assert_eq!(
        t.message.as_deref(),
        Some("exec: \"knet-no-such-program-xyz\": executable file not found in $PATH")
    );
    assert_eq!(phase(&rt), "Failed");
}

#[tokio::test]
async fn init_containers_run_first_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let t = trail.display();
    let mut pod = mk_pod(
        "initd",
        "Never",
        vec![mk_container("app", &format!("echo app >> {t}"))],
    );
    if let Some(spec) = pod.spec.as_mut() {
        spec.init_containers = Some(vec![
            mk_container("first", &format!("sleep 0.1; echo first >> {t}")),
            mk_container("second", &format!("echo second >> {t}")),
        ]);
    }
    let rt = start(pod, &dir.path().join("logs"));
    wait_until(&rt, "app done", |rt| {
        exit_code(&status_of(rt, "app")).is_some()
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&trail).unwrap(),
        "first\nsecond\napp\n"
    );
    let init = rt.init_container_statuses();
    assert!(
        init.iter().all(|s| s.ready && exit_code(s) == Some(0)),
        "{init:?}"
    );
    let status = rt.status(rt.pod());
    assert_eq!(status.phase.as_deref(), Some("Succeeded"));
    let initialized = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Initialized")
        .unwrap();
    assert_eq!(initialized.status, "True");
}

#[tokio::test]
async fn exec_runs_in_the_container_environment_and_follow_streams_until_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = mk_container("app", "echo one; sleep 0.3; echo two; sleep 30");
    c.env = Some(vec![
        EnvVar {
            name: "NAME".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.name".into(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
        EnvVar {
            name: "GREETING".into(),
            // Only declared variables expand: HOSTNAME comes from the runtime, so it stays as is.
            value: Some("hello from $(NAME) on $(HOSTNAME)".into()),
            ..EnvVar::default()
        },
    ]);
    c.working_dir = Some("/tmp".into());
    let rt = start(mk_pod("shell", "Never", vec![c]), dir.path());
    wait_until(&rt, "running", |rt| is_running(&status_of(rt, "app"))).await;

    let output = rt
        .exec_command(
            "app",
            &["sh".into(), "-c".into(), "echo $GREETING; pwd".into()],
        )
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello from shell on $(HOSTNAME)\n/tmp\n"
    );
    let output = rt
        .exec_command("app", &["sh".into(), "-c".into(), "echo $HOSTNAME".into()])
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "shell\n");

    let stream = rt
        .follow_logs("app", None, false, Duration::from_millis(20))
        .unwrap();
    let mut stream = Box::pin(stream);
    let mut seen = String::new();
    while !seen.contains("two") {
        let chunk = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(seen, "one\ntwo\n");
    rt.terminate(Some(Duration::from_secs(2))).await;
    let end = tokio::time::timeout(WAIT, stream.next()).await.unwrap();
    assert!(end.is_none(), "the stream ends with the container");
    assert!(rt.exec_command("app", &["true".into()]).is_err());
}

/// Env sources that change at every read: read N gives `GEN=N` and, from the second read on,
/// ConfigMap `settings` with `v: N`.
struct CountingSources(std::sync::atomic::AtomicU32);

impl EnvSources for CountingSources {
    fn read<'a>(&'a self, _pod: &'a Pod) -> futures::future::BoxFuture<'a, EnvSourceData> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut data = EnvSourceData::default();
        data.service_env.insert("GEN".into(), n.to_string());
        if n > 0 {
            let settings = [("v".to_owned(), n.to_string())].into();
            data.config_maps.insert("settings".into(), settings);
        }
        Box::pin(async move { data })
    }
}

#[tokio::test]
async fn each_container_start_reads_the_env_sources_again_and_exec_gets_the_instances_env() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = mk_container(
        "app",
        "echo gen=$GEN v=$V; [ \"$GEN\" = 1 ] && exit 1; exec sleep 30",
    );
    c.env = Some(vec![EnvVar {
        name: "V".into(),
        value_from: Some(EnvVarSource {
            config_map_key_ref: Some(k8s_openapi::api::core::v1::ConfigMapKeySelector {
                name: "settings".into(),
                key: "v".into(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }]);
    let mut cfg = config(dir.path());
    cfg.env_sources = Some(Arc::new(CountingSources(0.into())));
    let pod = mk_pod("sourced", "Always", vec![c]);
    let rt = PodRuntime::start(pod, Arc::new(HostSandbox), cfg).unwrap();

    // The first read has no ConfigMap `settings`: the container waits, then the next read has it.
    wait_until(&rt, "the missing ConfigMap reported", |rt| {
        waiting_reason(&status_of(rt, "app")).as_deref() == Some("CreateContainerConfigError")
    })
    .await;
    wait_until(&rt, "the second instance running", |rt| {
        let s = status_of(rt, "app");
        s.restart_count >= 1 && is_running(&s)
    })
    .await;
    let first = read_logs(dir.path(), "app", true, None, false).unwrap();
    assert_eq!(first, "gen=1 v=1\n");
    // The restarted instance got the data of its own start, and exec gets that instance's env.
    let output = rt
        .exec_command("app", &["sh".into(), "-c".into(), "echo $GEN $V".into()])
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 2\n");
    rt.terminate(Some(Duration::from_secs(2))).await;
}

#[tokio::test]
async fn dropping_the_runtime_kills_its_processes() {
    let dir = tempfile::tempdir().unwrap();
    let mark = marker("drop");
    let rt = start(
        mk_pod(
            "dropped",
            "Always",
            vec![mk_container(
                "app",
                &format!("trap '' TERM; echo {mark} >/dev/null; sleep 30"),
            )],
        ),
        dir.path(),
    );
    let (pid, pgid) = group_of(&mark).await;
    drop(rt);
    assert_nothing_left(pgid, pid).await;
}

#[tokio::test]
async fn deleting_a_crash_looping_pod_ends_its_back_off_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.backoff = BackoffPolicy {
        initial: Duration::from_secs(30),
        max: Duration::from_secs(60),
    };
    let rt = PodRuntime::start(
        mk_pod(
            "crashy",
            "Always",
            vec![mk_container("app", "echo run; exit 1")],
        ),
        Arc::new(HostSandbox),
        config,
    )
    .unwrap();
    wait_until(&rt, "CrashLoopBackOff", |rt| {
        waiting_reason(&status_of(rt, "app")).as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let s = status_of(&rt, "app");
    assert_eq!(s.restart_count, 1);
    assert_eq!(
        s.state.unwrap().waiting.unwrap().message.as_deref(),
        Some("back-off 30s restarting failed container=app pod=crashy_default(uid-crashy)")
    );
    // While it waits, its logs are those of the instance that failed, as kubelet shows them.
    assert_eq!(rt.read_logs("app", false, None, false).unwrap(), "run\n");
    assert_eq!(rt.read_logs("app", true, None, false).unwrap(), "run\n");

    let begun = Instant::now();
    let termination = rt.terminate(None).await;
    assert!(begun.elapsed() < Duration::from_secs(2));
    assert!(termination.killed.is_empty());
    let s = status_of(&rt, "app");
    assert_eq!(exit_code(&s), Some(1), "back to the last terminated state");
    let last = s.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 1);
    assert_ne!(
        last.container_id,
        status_of(&rt, "app").container_id,
        "lastState is the instance before"
    );
    assert_eq!(phase(&rt), "Failed");
}

/// Reads `session`'s output until it contains `want` (or fails after [`WAIT`]).
async fn read_until(session: &mut knet_node::IoSession, want: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(want) {
        let next = tokio::time::timeout(WAIT, session.output.next()).await;
        let (_, chunk) = next
            .unwrap_or_else(|_| panic!("no {want:?} in {seen:?}"))
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

#[tokio::test]
async fn attach_reaches_a_stdin_container_and_a_terminal_one() {
    let dir = tempfile::tempdir().unwrap();
    // stdin + stdinOnce, no terminal: what the client writes reaches the process; the end of
    // the client's input ends the process's stdin.
    let mut cat = mk_container("cat", "echo ready; cat; echo closed");
    cat.stdin = Some(true);
    cat.stdin_once = Some(true);
    // A terminal: the shell reads commands from it; its output and stderr come back on it.
    let mut shell = mk_container("shell", "exec sh -i");
    shell.stdin = Some(true);
    shell.tty = Some(true);
    let plain = mk_container("plain", "sleep 0.5; echo tick; sleep 30");
    let rt = start(
        mk_pod("attached", "Never", vec![cat, shell, plain]),
        dir.path(),
    );
    wait_until(&rt, "all running", |rt| {
        ["cat", "shell", "plain"]
            .iter()
            .all(|c| is_running(&status_of(rt, c)))
    })
    .await;

    let mut session = rt.attach_session("cat", true).unwrap();
    assert!(session.resize.is_none(), "no terminal");
    let input = session.input.take().unwrap();
    input.send("abc\n".into()).await.unwrap();
    read_until(&mut session, "abc\n").await;
    drop(input);
    read_until(&mut session, "closed").await;
    let code = tokio::time::timeout(WAIT, &mut session.done).await.unwrap();
    assert_eq!(code.unwrap(), 0, "attach ends with the instance");

    let mut session = rt.attach_session("shell", true).unwrap();
    (session.resize.as_ref().unwrap())(100, 30);
    let input = session.input.take().unwrap();
    input
        .send("tty; stty size; echo done-$((2+2)) >&2; exit 4\n".into())
        .await
        .unwrap();
    // The terminal echoes the line: wait for what only running it prints.
    let seen = read_until(&mut session, "done-4").await;
    assert!(seen.contains("/dev/pts/"), "{seen}");
    assert!(seen.contains("30 100"), "{seen}");
    tokio::time::timeout(WAIT, &mut session.done)
        .await
        .unwrap()
        .unwrap();
    wait_until(&rt, "the shell's exit", |rt| {
        exit_code(&status_of(rt, "shell")) == Some(4)
    })
    .await;

    // Any container can be attached to for its output; it has no stdin to write to.
    let mut session = rt.attach_session("plain", true).unwrap();
    assert!(session.input.is_none());
    read_until(&mut session, "tick").await;
    rt.terminate(Some(Duration::from_secs(2))).await;
}

#[tokio::test]
async fn an_exec_session_streams_both_ways_and_ends_with_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let rt = start(
        mk_pod("execd", "Never", vec![mk_container("app", "sleep 30")]),
        dir.path(),
    );
    wait_until(&rt, "running", |rt| is_running(&status_of(rt, "app"))).await;
    let command = [
        "sh".into(),
        "-c".into(),
        "read x; echo got=$x; echo oops >&2; exit 3".into(),
    ];
    let mut session = rt.exec_session("app", &command, true, false).unwrap();
    let input = session.input.take().unwrap();
    input.send("hello\n".into()).await.unwrap();
    let mut out = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout(WAIT, session.output.next()).await {
        out.push(item);
    }
    let text = |s: knet_node::LogStream| -> String {
        out.iter()
            .filter(|(k, _)| *k == s)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    };
    assert_eq!(text(knet_node::LogStream::Stdout), "got=hello\n");
    assert_eq!(text(knet_node::LogStream::Stderr), "oops\n");
    assert_eq!(session.done.await.unwrap(), 3);
    rt.terminate(Some(Duration::from_secs(2))).await;
}
