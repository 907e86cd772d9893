//! What knet leaves on the host (nothing), rootless operation, and agent restarts.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Cluster, knet_bin};
use serde_json::Value;

/// The host's network state that knet must not change: namespaces, links, nftables tables, netns mounts.
fn host_snapshot() -> String {
    let run = |args: &[&str]| {
        Command::new(args[0])
            .args(&args[1..])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let links: Vec<String> = run(&["ip", "-o", "link", "show"])
        .lines()
        .filter_map(|l| {
            l.split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap_or(n).to_string())
        })
        .collect();
    let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("netns") || l.contains("knet"))
        .map(str::to_string)
        .collect();
    format!(
        "netns: {}\nlinks: {}\nnft: {}\nmounts: {}\nroutes: {}",
        run(&["ip", "netns", "list"]).trim(),
        links.join(","),
        run(&["nft", "list", "tables"]).trim(),
        mounts.join(" | "),
        run(&["ip", "route"]).trim(),
    )
}

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: knet/netexec
";

fn running(c: &Cluster, n: usize) -> Vec<Value> {
    c.eventually(
        Duration::from_secs(30),
        &format!("{n} running pods"),
        || {
            let pods = c.get_json(&["pods"]);
            let items = pods["items"].as_array()?.clone();
            (items.len() == n && items.iter().all(|p| p["status"]["phase"] == "Running"))
                .then_some(items)
        },
    )
}

fn pids_of_world(c: &Cluster) -> Vec<i32> {
    // Every process of the cluster descends from its supervisor.
    let sup = c.server_pid();
    let mut all = vec![sup];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if ppid == Some(parent) && !all.contains(&pid) {
                all.push(pid);
            }
        }
        i += 1;
    }
    all
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn down_and_kill_9_leave_the_host_as_it_was() {
    let before = host_snapshot();
    {
        let c = Cluster::up(2);
        c.knet_stdin(&["apply", "-f", "-"], WEB).ok();
        running(&c, 2);
        assert_eq!(
            host_snapshot(),
            before,
            "a running cluster changes nothing on the host"
        );
        c.knet(&["down"]).ok();
    }
    assert_eq!(host_snapshot(), before, "after knet down");

    let c = Cluster::up(2);
    c.knet_stdin(&["apply", "-f", "-"], WEB).ok();
    running(&c, 2);
    let pids = pids_of_world(&c);
    assert!(
        pids.len() >= 4,
        "supervisor, world and two containers at least: {pids:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    c.eventually(
        Duration::from_secs(10),
        "every process of the cluster to go",
        || pids.iter().all(|p| !alive(*p)).then_some(()),
    );
    assert_eq!(host_snapshot(), before, "after kill -9 of knet");
}

#[test]
fn an_agent_restart_does_not_disturb_running_pods() {
    let c = Cluster::up(1);
    c.knet_stdin(&["apply", "-f", "-"], WEB).ok();
    let pods = running(&c, 2);
    let ids: Vec<String> = pods
        .iter()
        .map(|p| {
            p["status"]["containerStatuses"][0]["containerID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let ip = pods[1]["status"]["podIP"].as_str().unwrap().to_string();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.server_pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let after = running(&c, 2);
    let ids_after: Vec<String> = after
        .iter()
        .map(|p| {
            p["status"]["containerStatuses"][0]["containerID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ids_after, "the same containers run");
    assert!(
        after
            .iter()
            .all(|p| p["status"]["containerStatuses"][0]["restartCount"] == 0)
    );
    let name = pods[0]["metadata"]["name"].as_str().unwrap();
    let r = c.knet(&[
        "exec",
        name,
        "--",
        knet_bin(),
        "image",
        "client",
        "http",
        &format!("http://{ip}:8080/hostname"),
    ]);
    assert_eq!(r.ok().trim(), pods[1]["metadata"]["name"].as_str().unwrap());
    // The restarted agents still do their job.
    c.kubectl(&["scale", "deploy", "web", "--replicas=3"]).ok();
    running(&c, 3);
}

#[test]
fn an_unprivileged_user_gets_the_same_cluster() {
    let me = nix::unistd::geteuid();
    let state = tempfile::tempdir().unwrap();
    let uid = if me.is_root() { 65534 } else { me.as_raw() };
    nix::unistd::chown(
        state.path(),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(uid)),
    )
    .ok();
    let knet = |args: &[&str]| {
        let mut cmd = if me.is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid",
                &uid.to_string(),
                "--regid",
                &uid.to_string(),
                "--clear-groups",
                knet_bin(),
            ]);
            c
        } else {
            Command::new(knet_bin())
        };
        let out = cmd
            .args(args)
            .env("KNET_STATE_DIR", state.path())
            .env("HOME", state.path())
            .env("KNET_CLUSTER", "rootless")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = knet(&["up", "--nodes", "2"]);
    assert!(ok, "{err}");
    let log = std::fs::read_to_string(state.path().join("rootless/knet.log")).unwrap_or_default();
    assert!(log.contains("rootless=true") || !me.is_root(), "{log}");
    let path = state.path().join("web.yaml");
    let service = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n";
    std::fs::write(
        &path,
        format!("{}{service}", WEB.replace("replicas: 2", "replicas: 3")),
    )
    .unwrap();
    nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(uid)), None).ok();
    let (ok, _, err) = knet(&["apply", "-f", path.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut pods: Vec<(String, String)> = Vec::new();
    for _ in 0..300 {
        let (_, out, _) = knet(&["get", "pods", "-o", "json"]);
        if let Ok(v) = serde_json::from_str::<Value>(&out) {
            pods = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string())
                .map(|p| {
                    (
                        p["metadata"]["name"].as_str().unwrap().to_string(),
                        p["status"]["podIP"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            if pods.len() == 3 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pods.len(), 3, "three pods run rootless");
    let (ok, out, err) = knet(&[
        "exec",
        &pods[0].0,
        "--",
        knet_bin(),
        "image",
        "client",
        "rr",
        &format!("http://{}:8080/hostname", pods[2].1),
        "--count",
        "3",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("{} 3", pods[2].0));
    // The Service by name, rootless too: the cluster DNS and the nftables proxy.
    let mut answered = String::new();
    for _ in 0..50 {
        let (ok, out, _) = knet(&[
            "exec",
            &pods[0].0,
            "--",
            knet_bin(),
            "image",
            "client",
            "http",
            "http://web/hostname",
            "--timeout",
            "1000",
        ]);
        if ok {
            answered = out.trim().to_string();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        pods.iter().any(|(name, _)| *name == answered),
        "a pod answered through the Service: {answered:?}"
    );
    let (ok, _, err) = knet(&["down"]);
    assert!(ok, "{err}");
}
