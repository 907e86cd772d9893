//! Measures the store's write path on this machine: the raw fsync cost, redb commits one at a time, and creates/s
//! from concurrent writers with group commit.
//!
//! ```text
//! cargo run --release -p knet-store --example store_bench -- [--writers 32] [--count 20000] [--dir DIR]
//! ```
//! DIR (default: a temporary directory under the system's) must be on the disk to measure, not a tmpfs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use knet_store::{Backend, Key, Op, RedbBackend, Store, StoreOptions};
use serde_json::{Value, json};

struct Args {
    writers: usize,
    count: usize,
    dir: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        writers: 32,
        count: 20_000,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--writers" => args.writers = value.parse().map_err(|e| format!("--writers: {e}"))?,
            "--count" => args.count = value.parse().map_err(|e| format!("--count: {e}"))?,
            "--dir" => args.dir = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// A Pod about as large as a real one (~1.2 KB of JSON).
fn mk_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "bench",
            "uid": format!("6b1a3f7e-0000-4000-8000-{:012}", name.len()),
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"app": "bench", "pod-template-hash": "5d8f7c9b6d", "tier": "backend"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "bench-5d8f7c9b6d",
                                 "uid": "0b9c1d2e-0000-4000-8000-000000000001", "controller": true,
                                 "blockOwnerDeletion": true}],
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.example/bench/app:1.2.3",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "bench"}, {"name": "LOG_LEVEL", "value": "info"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "enableServiceLinks": true,
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// write(4 KiB) + fdatasync, as a commit's final flush costs at least.
fn fsync_cost(dir: &Path) -> std::io::Result<Vec<Duration>> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let block = [0x5au8; 4096];
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        times.push(t.elapsed());
    }
    std::fs::remove_file(&path)?;
    times.sort();
    Ok(times)
}

/// `count` creates from `writers` concurrent tasks; returns (elapsed, sorted latencies).
async fn concurrent_creates(
    store: &Store,
    prefix: &str,
    writers: usize,
    count: usize,
) -> (Duration, Vec<Duration>) {
    let per_writer = count / writers.max(1);
    let body = Arc::new(mk_pod("template"));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let prefix = prefix.to_owned();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_writer);
            for i in 0..per_writer {
                let name = format!("{prefix}-{w}-{i}");
                let mut pod = (*body).clone();
                pod["metadata"]["name"] = json!(name);
                let t = Instant::now();
                store
                    .create(&Key::namespaced("pods", "bench", &name), pod)
                    .await
                    .map_err(|e| e.to_string())?;
                latencies.push(t.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => latencies.extend(l),
            Ok(Err(e)) => eprintln!("write failed: {e}"),
            Err(e) => eprintln!("writer task failed: {e}"),
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    (elapsed, latencies)
}

fn report(label: &str, elapsed: Duration, latencies: &[Duration], commits: u64) {
    let n = latencies.len();
    println!(
        "{label}: {n} creates in {:.2}s = {:.0} creates/s; {commits} commits (avg batch {:.1}); latency p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        n as f64 / commits.max(1) as f64,
        ms(percentile(latencies, 0.5)),
        ms(percentile(latencies, 0.99)),
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let tmp = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    println!("directory: {}", tmp.path().display());

    let fsync = fsync_cost(tmp.path())?;
    println!(
        "raw write(4 KiB)+fdatasync: p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms",
        ms(percentile(&fsync, 0.5)),
        ms(percentile(&fsync, 0.99)),
        ms(fsync.iter().sum::<Duration>() / fsync.len() as u32)
    );

    // The backend alone: one redb transaction of `batch` puts of a Pod-sized value, fsynced.
    let mut backend = RedbBackend::open(&tmp.path().join("backend.redb"))?;
    let value = serde_json::to_vec(&mk_pod("template"))?;
    let mut revision = 0;
    for batch in [1usize, 32] {
        let mut times = Vec::new();
        for c in 0..200 {
            let ops: Vec<Op> = (0..batch)
                .map(|i| Op::Put {
                    key: Key::namespaced("pods", "bench", format!("b{batch}-{c}-{i}")),
                    value: value.clone(),
                })
                .collect();
            revision += batch as u64;
            let t = Instant::now();
            backend.commit(&ops, revision)?;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "redb commit of {batch} Pod(s): p50 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
    }
    drop(backend);

    // One writer: every create is its own redb transaction, i.e. the cost of one durable commit.
    let store = Store::open(&tmp.path().join("sequential.redb"), StoreOptions::default())?;
    let (elapsed, latencies) = concurrent_creates(&store, "seq", 1, 500).await;
    report(
        "1 writer (one commit per create)",
        elapsed,
        &latencies,
        store.stats().commits,
    );
    store.close().await;

    let store = Store::open(&tmp.path().join("concurrent.redb"), StoreOptions::default())?;
    let (elapsed, latencies) = concurrent_creates(&store, "c", args.writers, args.count).await;
    report(
        &format!("{} writers, redb (group commit)", args.writers),
        elapsed,
        &latencies,
        store.stats().commits,
    );
    store.close().await;
    let size = std::fs::metadata(tmp.path().join("concurrent.redb"))?.len();
    println!(
        "redb file after {} creates: {:.1} MiB",
        args.count,
        size as f64 / (1024.0 * 1024.0)
    );

    let t = Instant::now();
    let (raw, _) = Backend::load(&mut RedbBackend::open(&tmp.path().join("concurrent.redb"))?)?;
    let read = t.elapsed();
    let t = Instant::now();
    for (_, bytes) in &raw {
        let _: Value = serde_json::from_slice(bytes)?;
    }
    println!(
        "of which: redb read {:.0} ms, JSON parse {:.0} ms",
        ms(read),
        ms(t.elapsed())
    );
    drop(raw);

    let reopen = Instant::now();
    let store = Store::open(&tmp.path().join("concurrent.redb"), StoreOptions::default())?;
    println!(
        "reopen and load {} objects: {:.0} ms",
        store.list("pods", None).0.len(),
        ms(reopen.elapsed())
    );
    store.close().await;

    let store = Store::in_memory(StoreOptions::default());
    let (elapsed, latencies) = concurrent_creates(&store, "m", args.writers, args.count).await;
    report(
        &format!("{} writers, in memory (no disk)", args.writers),
        elapsed,
        &latencies,
        store.stats().commits,
    );
    Ok(())
}
