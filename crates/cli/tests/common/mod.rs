//! Test harness: a real knet cluster in a private state directory, driven by `knet` and the real
//! `kubectl`. Each test gets its own cluster name, state directory, port and kubectl cache, so
//! tests run in parallel without colliding; dropping the cluster runs `knet down`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// kubectl to drive clusters with: `$KUBECTL`, else /usr/bin/kubectl.
pub fn kubectl_path() -> PathBuf {
    let p = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    assert!(
        p.exists(),
        "these tests drive the real kubectl; none at {} (set KUBECTL)",
        p.display()
    );
    p
}

/// Result of a command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts failure and returns stderr.
    #[track_caller]
    pub fn fails(&self) -> &str {
        assert_ne!(
            self.code, 0,
            "command should have failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stderr
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// A running cluster.
pub struct Cluster {
    pub name: String,
    pub state: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

pub fn knet_bin() -> &'static str {
    env!("CARGO_BIN_EXE_knet")
}

impl Cluster {
    /// `knet up --nodes N` in a fresh state directory.
    pub fn up(nodes: u8) -> Cluster {
        Cluster::up_with(nodes, &[])
    }

    /// `knet up --nodes N EXTRA...` in a fresh state directory.
    pub fn up_with(nodes: u8, extra: &[&str]) -> Cluster {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}-{n}", std::process::id());
        let state = tempfile::tempdir().expect("tempdir");
        let cache = tempfile::tempdir().expect("tempdir");
        let kubeconfig = state.path().join(&name).join("kubeconfig");
        let c = Cluster {
            name,
            state,
            kubeconfig,
            cache,
        };
        let n = nodes.to_string();
        let mut args = vec!["up", "--nodes", n.as_str()];
        args.extend_from_slice(extra);
        let r = c.knet(&args);
        r.ok();
        assert!(c.kubeconfig.exists(), "knet up wrote no kubeconfig");
        c
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("KNET_STATE_DIR", self.state.path())
            .env("KNET_CLUSTER", &self.name)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `knet ARGS`.
    pub fn knet(&self, args: &[&str]) -> Run {
        Run::from(
            self.command(Path::new(knet_bin()))
                .args(args)
                .output()
                .expect("running knet"),
        )
    }

    /// Runs `knet ARGS` with `input` on stdin.
    pub fn knet_stdin(&self, args: &[&str], input: &str) -> Run {
        run_with_stdin(self.command(Path::new(knet_bin())).args(args), input)
    }

    /// The kubectl command with this cluster's kubeconfig and a private cache.
    pub fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(&kubectl_path());
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args);
        cmd
    }

    /// Runs `kubectl ARGS`.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        Run::from(self.kubectl_cmd(args).output().expect("running kubectl"))
    }

    /// Runs `kubectl ARGS` with `input` on stdin.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Run {
        run_with_stdin(&mut self.kubectl_cmd(args), input)
    }

    /// `kubectl get ARGS -o json`.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        self.kubectl(&a).json()
    }

    /// Polls `f` until it returns Some, or panics after `timeout` with `what`.
    #[track_caller]
    pub fn eventually<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the cluster's world (the namespaces' first process, child of the supervisor).
    pub fn world_pid(&self) -> u32 {
        let sup = self.server_pid();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if ppid == Some(sup) {
                return pid;
            }
        }
        panic!("no world process under {sup}");
    }

    /// Runs `knet ARGS` in a namespace of the cluster's world (a node, `external`), in the background.
    pub fn spawn_in(&self, netns: &str, args: &[&str]) -> std::process::Child {
        Command::new(knet_bin())
            .args(["sandbox-exec", "--world-pid", &self.world_pid().to_string()])
            .args(["--netns", netns, "--"])
            .arg(knet_bin())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Runs a host program in a namespace of the cluster's world, in the background.
    pub fn spawn_program_in(&self, netns: &str, args: &[&str]) -> std::process::Child {
        Command::new(knet_bin())
            .args(["sandbox-exec", "--world-pid", &self.world_pid().to_string()])
            .args(["--netns", netns, "--"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Runs a program in a namespace of the cluster's world and returns its output.
    pub fn run_in_netns(&self, netns: &str, args: &[&str]) -> Run {
        Run::from(
            Command::new(knet_bin())
                .args(["sandbox-exec", "--world-pid", &self.world_pid().to_string()])
                .args(["--netns", netns, "--"])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    }

    /// Runs a program in a namespace of the cluster's world; it must succeed: its stdout.
    pub fn run_in(&self, netns: &str, args: &[&str]) -> String {
        self.run_in_netns(netns, args).ok().to_string()
    }

    /// The pid of the control-plane process.
    pub fn server_pid(&self) -> i32 {
        std::fs::read_to_string(self.state.path().join(&self.name).join("knet.pid"))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    Run::from(child.wait_with_output().expect("wait"))
}

impl Cluster {
    /// Pods (of `get pods ARGS`, e.g. `-A`) whose name starts with `prefix`, not being deleted,
    /// once there are `n` of them and all are Ready (within 40 s).
    pub fn ready_pods(&self, get_args: &[&str], prefix: &str, n: usize) -> Vec<Value> {
        let mut args = vec!["pods"];
        args.extend_from_slice(get_args);
        self.eventually(
            Duration::from_secs(40),
            &format!("{n} ready pods {prefix}*"),
            || {
                let pods = self.get_json(&args);
                let items: Vec<Value> = pods["items"]
                    .as_array()?
                    .iter()
                    .filter(|p| {
                        p["metadata"]["name"]
                            .as_str()
                            .is_some_and(|s| s.starts_with(prefix))
                            && p["metadata"]["deletionTimestamp"].is_null()
                    })
                    .cloned()
                    .collect();
                let ready = items.iter().filter(|p| is_ready(p)).count();
                (items.len() == n && ready == n).then_some(items)
            },
        )
    }

    /// `knet exec POD -- knet image client http URL`: the body, trimmed (3 s timeout).
    pub fn http_from(&self, pod: &str, url: &str) -> String {
        let run = self.knet(&[
            "exec",
            pod,
            "--",
            knet_bin(),
            "image",
            "client",
            "http",
            url,
            "--timeout",
            "3000",
        ]);
        run.ok().trim().to_owned()
    }
}

/// Whether a pod (as JSON) has the condition Ready=True.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// A pod's IP (the pod must have one).
pub fn pod_ip(pod: &Value) -> String {
    pod["status"]["podIP"].as_str().unwrap().to_string()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let r = self.knet(&["down"]);
        if r.code != 0 {
            eprintln!("knet down failed: {}", r.stderr);
        }
    }
}

/// The directory of the YAML examples taken from the source documents.
pub fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds")
}
