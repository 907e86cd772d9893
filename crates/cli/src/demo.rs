//! `knet demo`: the main job on the embedded default. Starts a cluster (unless one is up), runs a
//! Deployment of the built-in network test server, and has every pod ask every other pod who it is
//! and which address it sees, so you watch real packets cross namespaces, veths, the bridge and the
//! nodes' routes without NAT; then one pod calls the Service by name (cluster DNS, then the
//! nftables proxy's load balancing).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

const MANIFEST: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  labels:
    app: demo
spec:
  replicas: 3
  selector:
    matchLabels:
      app: demo
  template:
    metadata:
      labels:
        app: demo
    spec:
      containers:
      - name: netexec
        image: registry.k8s.io/e2e-test-images/agnhost:2.47
        args: [\"netexec\", \"--http-port=8080\"]
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: demo
spec:
  selector:
    app: demo
  ports:
  - port: 80
    targetPort: 8080
";

/// Runs the demo against cluster `cluster`.
pub async fn run(cluster: &str) -> Result<()> {
    if crate::cluster::running_pid(cluster).is_none() {
        crate::cluster::up(crate::cluster::UpOptions {
            serve: crate::cluster::ServeOptions {
                name: cluster.to_string(),
                nodes: 2,
                port: 0,
                overlay: knet_topology::Overlay::HostGw,
                upstream_dns: Vec::new(),
            },
            foreground: false,
            wait: Duration::from_secs(60),
        })
        .await?;
    }
    let c = crate::client::connect(&crate::cluster::kubeconfig_path(cluster)).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("demo.yaml");
    std::fs::write(&file, MANIFEST)?;
    eprintln!(
        "\n$ knet apply -f demo.yaml   (a Deployment of 3 agnhost netexec servers and a Service `demo`)"
    );
    let opts = crate::apply::ManifestOptions {
        files: vec![file.to_string_lossy().into_owned()],
        ..Default::default()
    };
    crate::apply::run(&c, crate::apply::Mode::Apply, &opts).await?;
    let started = Instant::now();
    let pods = loop {
        let list = crate::client::send(
            &c,
            http::Method::GET,
            "/api/v1/namespaces/default/pods?labelSelector=app%3Ddemo",
            None,
            None,
        )
        .await?;
        let items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
        let ready = items
            .iter()
            .filter(|p| p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string())
            .count();
        if items.len() == 3 && ready == 3 {
            break items;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the demo pods did not start within 60 s (knet get pods, knet describe pods)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("\n$ knet get pods -o wide");
    let scope = crate::get::Scope {
        selector: Some("app=demo".into()),
        ..Default::default()
    };
    let opts = crate::get::GetOptions {
        output: crate::get::Output::Wide,
        watch: false,
        show_labels: false,
        no_headers: false,
    };
    crate::get::get(&c, &["pods".to_string()], &scope, &opts).await?;

    eprintln!(
        "\nEvery pod asks every other pod GET /hostname and /clientip (knet exec POD -- knet image client http ...):\n"
    );
    let exe = std::env::current_exe()?;
    let exe = exe.to_string_lossy().into_owned();
    let field = |p: &Value, path: &[&str]| -> String {
        let mut v = p;
        for k in path {
            v = &v[*k];
        }
        v.as_str().unwrap_or("").to_string()
    };
    outln!(
        "{:<28} {:<28} {:<24} {}",
        "FROM (NODE, IP)",
        "TO (NODE, IP)",
        "ANSWERED /hostname",
        "SERVER SAW (/clientip)"
    );
    for from in &pods {
        for to in &pods {
            if std::ptr::eq(from, to) {
                continue;
            }
            let url =
                |path: &str| format!("http://{}:8080/{path}", field(to, &["status", "podIP"]));
            let ask = |path: &str| -> Result<String> {
                let out = std::process::Command::new(&exe)
                    .args([
                        "--cluster",
                        cluster,
                        "exec",
                        &field(from, &["metadata", "name"]),
                        "--",
                        &exe,
                        "image",
                        "client",
                        "http",
                        &url(path),
                        "--timeout",
                        "3000",
                    ])
                    .output()
                    .context("running knet exec")?;
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
            };
            let short = |p: &Value| {
                format!(
                    "{} ({}, {})",
                    field(p, &["metadata", "name"])
                        .rsplit('-')
                        .next()
                        .unwrap_or(""),
                    field(p, &["spec", "nodeName"])
                        .rsplit('-')
                        .next()
                        .unwrap_or(""),
                    field(p, &["status", "podIP"])
                )
            };
            outln!(
                "{:<28} {:<28} {:<24} {}",
                short(from),
                short(to),
                ask("hostname")?,
                ask("clientip")?
            );
        }
    }
    eprintln!(
        "\nThe server sees the client pod's own IP: pod-to-pod traffic is not NATed, on one node or across nodes."
    );
    // The Service by its DNS name: the cluster DNS answers `demo` (search path), the node's
    // nftables proxy balances the ClusterIP over the ready pods.
    let first = field(&pods[0], &["metadata", "name"]);
    eprintln!(
        "\n$ knet exec {first} -- knet image client rr http://demo/hostname --count 30   (by Service name: DNS, then the ClusterIP)\n"
    );
    let started = Instant::now();
    let spread = loop {
        let out = std::process::Command::new(&exe)
            .args([
                "--cluster",
                cluster,
                "exec",
                &first,
                "--",
                &exe,
                "image",
                "client",
                "rr",
            ])
            .args(["http://demo/hostname", "--count", "30", "--timeout", "3000"])
            .output()
            .context("running knet exec")?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && text.lines().count() == 3 {
            break text;
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!(
                "the Service `demo` did not answer from all 3 pods within 20 s: {text} {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    outln!("{:<28} {}", "ANSWERED BY", "REQUESTS");
    for line in spread.lines() {
        let (name, n) = line.rsplit_once(' ').unwrap_or((line, ""));
        outln!("{name:<28} {n}");
    }
    eprintln!(
        "Try: knet exec <pod> -- hostname;  knet logs <pod>;  kubectl --kubeconfig $(knet kubeconfig) get pods -o wide;  knet down"
    );
    Ok(())
}
