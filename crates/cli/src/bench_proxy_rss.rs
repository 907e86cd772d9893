//! The third part of `knet bench proxy`: the memory of a real cluster's control-plane process
//! (API server, store, controllers, DNS and the node agents with their service proxies, which
//! knet runs as tasks of one process) before and after N Services with E endpoints each are
//! created through the API and programmed into a node's nftables table.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};

/// What the measurement found.
pub(crate) struct RssReport {
    pub services: usize,
    pub endpoints: usize,
    pub create: Duration,
    pub programmed: Duration,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub hwm_after_kib: u64,
    pub table_elements: usize,
    /// Worker nodes (each with a node agent and its proxy, besides the control-plane node's).
    pub workers: usize,
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The world process (the one that runs the control plane, the child of `supervisor`).
fn world_pid(supervisor: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == supervisor).then_some(pid)
    })
}

/// Elements of `node`'s `service-ips` map (one per proxied Service port).
fn programmed_services(world: u32, node: &str) -> Result<usize> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["sandbox-exec", "--world-pid", &world.to_string()])
        .args(["--netns", node, "--"])
        .args(["nft", "list", "map", "ip", "knet-proxy", "service-ips"])
        .output()
        .with_context(|| format!("listing {node}'s service-ips map"))?;
    if !out.status.success() {
        return Ok(0);
    }
    Ok(String::from_utf8_lossy(&out.stdout).matches("goto").count())
}

fn service(i: usize) -> Result<Service> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": format!("svc-{i}"), "namespace": "bench"},
        "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    }))?)
}

/// A hand-made slice: `endpoints` addresses from 198.18.0.0/15 (the benchmarking range of
/// RFC 2544; no packet is ever sent to them).
fn slice(i: usize, endpoints: usize) -> Result<EndpointSlice> {
    let eps: Vec<serde_json::Value> = (0..endpoints)
        .map(|j| {
            let n = (i * endpoints + j) as u32;
            let ip =
                std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)) + n);
            serde_json::json!({"addresses": [ip.to_string()], "conditions": {"ready": true}})
        })
        .collect();
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("svc-{i}-1"), "namespace": "bench",
            "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }))?)
}

/// Starts a cluster (control plane + 1 worker), creates the Services and their slices, waits
/// until the worker's table holds them all, and reads the process's memory.
pub(crate) async fn measure(
    services: usize,
    endpoints: usize,
    workers: usize,
) -> Result<RssReport> {
    if services * endpoints > (1 << 17) {
        bail!("at most 131072 endpoints in all (the 198.18.0.0/15 range)");
    }
    let mut server = super::start_server_with(workers, true).await?;
    // Every worker's table (the control-plane node runs no proxied pods but programs too).
    let nodes: Vec<String> = (1..=workers).map(|i| format!("node{i}")).collect();
    let last = format!("node1..node{workers}");
    let programmed = |world: u32| -> Result<usize> {
        let mut least = usize::MAX;
        for node in &nodes {
            least = least.min(programmed_services(world, node)?);
        }
        Ok(least)
    };
    let kubeconfig = server.dir.path().join(&server.name).join("kubeconfig");
    let client = crate::client::client_from_kubeconfig_text(
        &std::fs::read_to_string(&kubeconfig).context("reading the bench cluster's kubeconfig")?,
    )
    .await?;
    let world = world_pid(server.child.id()).context("finding the control-plane process")?;
    let start = Instant::now();
    let base = loop {
        let n = programmed(world)?;
        if n > 0 {
            break n;
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!(
                "{last}'s proxies did not program their tables within 60 s; {}",
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let start-up settle before the first reading.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before_kib = status_kib(world, "VmRSS:").unwrap_or(0);

    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({"metadata": {"name": "bench"}}))?,
    )
    .await
    .context("creating namespace bench")?;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "bench");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "bench");
    eprintln!("  creating {services} Services with {endpoints} endpoints each through the API...");
    let created = Instant::now();
    let results: Vec<Result<()>> = futures::stream::iter(0..services)
        .map(|i| {
            let (svcs, slices) = (svcs.clone(), slices.clone());
            async move {
                svcs.create(&PostParams::default(), &service(i)?)
                    .await
                    .with_context(|| format!("creating svc-{i}"))?;
                slices
                    .create(&PostParams::default(), &slice(i, endpoints)?)
                    .await
                    .with_context(|| format!("creating the slice of svc-{i}"))?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let create = created.elapsed();
    eprintln!("  created in {create:.1?}; waiting for the tables of {last}...");
    let table_elements = loop {
        let n = programmed(world)?;
        if n >= base + services {
            break n;
        }
        if created.elapsed() > Duration::from_secs(600) {
            bail!(
                "a table of {last} holds {n} of {} Services after 600 s",
                base + services
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let programmed = created.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = RssReport {
        services,
        endpoints,
        create,
        programmed,
        rss_before_kib,
        rss_after_kib: status_kib(world, "VmRSS:").unwrap_or(0),
        hwm_after_kib: status_kib(world, "VmHWM:").unwrap_or(0),
        table_elements,
        workers,
    };
    server.stop().await;
    Ok(report)
}

impl RssReport {
    /// What the process grew by with the Services.
    pub(crate) fn growth_kib(&self) -> u64 {
        self.rss_after_kib.saturating_sub(self.rss_before_kib)
    }

    /// Lines for the terminal and docs/benchmarks.md.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mib = |k: u64| k as f64 / 1024.0;
        vec![
            format!(
                "control-plane process (API server, store, controllers, DNS, {} node agents with their proxies) with {} Services x {} endpoints:",
                self.workers + 1,
                self.services,
                self.endpoints
            ),
            format!(
                "  created through the API in {:.1} s; in every worker's nftables table {:.1} s after the first create ({} service-ips elements)",
                self.create.as_secs_f64(),
                self.programmed.as_secs_f64(),
                self.table_elements
            ),
            format!(
                "  RSS {:.0} MiB before, {:.0} MiB after (+{:.0} MiB); peak {:.0} MiB",
                mib(self.rss_before_kib),
                mib(self.rss_after_kib),
                mib(self.growth_kib()),
                mib(self.hwm_after_kib)
            ),
        ]
    }
}

/// What one more node agent (with its proxy) adds with the Services: the difference of the
/// growth of two clusters that differ only in their number of workers.
pub(crate) fn per_agent_line(small: &RssReport, large: &RssReport) -> Option<String> {
    let extra = large
        .workers
        .checked_sub(small.workers)
        .filter(|n| *n > 0)?;
    let diff = large.growth_kib() as f64 - small.growth_kib() as f64;
    Some(format!(
        "one node agent with its service proxy, from {} to {} workers: +{:.0} MiB per agent with {} Services x {} endpoints ({:.1} KiB per Service)",
        small.workers,
        large.workers,
        diff / extra as f64 / 1024.0,
        large.services,
        large.endpoints,
        diff / extra as f64 / large.services.max(1) as f64
    ))
}
