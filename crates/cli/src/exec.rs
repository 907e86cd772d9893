//! `knet exec`: runs a command in a pod's container, on the caller's terminal. The command joins the
//! world's namespaces and then the pod's (`knet sandbox-exec --world-pid`), with the environment the
//! container started with (recorded by the node agent), as a container runtime's exec does.

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The world's first process: the child of the supervisor whose pid the cluster recorded.
fn world_pid(cluster: &str) -> Result<u32> {
    let sup = crate::cluster::running_pid(cluster)
        .with_context(|| format!("cluster {cluster:?} is not running (knet up)"))?;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(sup) {
            return Ok(pid);
        }
    }
    bail!("the world process of cluster {cluster:?} was not found (its supervisor is pid {sup})")
}

/// Runs `command` in `container` of pod `namespace/pod`; returns its exit code.
pub async fn exec(
    c: &kube::Client,
    cluster: &str,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    command: &[String],
) -> Result<i32> {
    let pod = pod
        .strip_prefix("pod/")
        .or_else(|| pod.strip_prefix("pods/"))
        .unwrap_or(pod);
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}");
    let obj = crate::client::send(c, http::Method::GET, &path, None, None).await?;
    let containers: Vec<&Value> = obj["spec"]["containers"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let spec = match container {
        Some(name) => containers
            .iter()
            .find(|c| c["name"] == name)
            .copied()
            .with_context(|| format!("container {name} is not valid for pod {pod}"))?,
        None => containers
            .first()
            .copied()
            .with_context(|| format!("pod {pod} has no containers"))?,
    };
    if obj["status"]["phase"] != "Running" {
        bail!(
            "cannot exec into a container in a pod that is not running; pod {pod} is {}",
            obj["status"]["phase"].as_str().unwrap_or("Pending")
        );
    }
    let uid = obj["metadata"]["uid"].as_str().unwrap_or("");
    let node = obj["spec"]["nodeName"].as_str().unwrap_or("");
    let hostname = obj["spec"]["hostname"].as_str().unwrap_or(pod);
    let files = crate::cluster::cluster_dir(cluster)
        .join("nodes")
        .join(node)
        .join("pods")
        .join(uid);
    let world = world_pid(cluster)?;
    let exe = std::env::current_exe().context("finding the knet executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("sandbox-exec")
        .arg("--world-pid")
        .arg(world.to_string())
        .arg("--netns")
        .arg(format!("pod-{uid}"))
        .arg("--hostname")
        .arg(hostname)
        .arg("--hosts")
        .arg(files.join("hosts"))
        .arg("--resolv")
        .arg(files.join("resolv.conf"));
    if let Some(dir) = spec["workingDir"].as_str() {
        cmd.arg("--workdir").arg(dir);
    }
    cmd.arg("--").args(command);
    cmd.env_clear();
    // The environment the running container got (Service variables, envFrom, references
    // expanded), as the node agent recorded it when the container started; a container started
    // by an older knet has none recorded: its literal `env` then.
    let name = spec["name"].as_str().unwrap_or_default();
    match knet_node::read_env_file(&files.join("env").join(name)) {
        Ok(env) if !env.is_empty() => {
            cmd.envs(env);
        }
        _ => {
            cmd.env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOSTNAME", hostname);
            for e in spec["env"].as_array().into_iter().flatten() {
                if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                    cmd.env(k, v);
                }
            }
        }
    }
    let status = cmd.status().context("running the command in the pod")?;
    Ok(status.code().unwrap_or(128 + 9))
}
