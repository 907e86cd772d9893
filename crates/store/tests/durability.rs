//! The redb backend: reopen, and no acknowledged write lost to a `kill -9`.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use knet_store::{Key, Precondition, Store, StoreOptions, resource_version};
use serde_json::{Value, json};

fn mk_pod(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "crash"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
    })
}

fn rv(object: &Value) -> u64 {
    resource_version(object).expect("resourceVersion is set")
}

#[tokio::test]
async fn revision_is_monotonic_across_reopen_of_a_redb_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    let a = store
        .create(&Key::namespaced("pods", "ns", "a"), mk_pod("ns", "a"))
        .await
        .unwrap();
    let mut body = mk_pod("ns", "a");
    body["spec"]["nodeName"] = json!("node-1");
    let a2 = store
        .update(
            &Key::namespaced("pods", "ns", "a"),
            body,
            Precondition::ResourceVersion(rv(&a)),
        )
        .await
        .unwrap();
    store
        .create(
            &Key::cluster("nodes", "n1"),
            json!({"metadata": {"name": "n1"}}),
        )
        .await
        .unwrap();
    let gone = store
        .delete(&Key::cluster("nodes", "n1"), Precondition::None)
        .await
        .unwrap();
    let last = store.revision();
    assert_eq!(rv(&gone), last);
    store.close().await;
    drop(store);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the store holds Secrets: owner only");
    }

    let reopened = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(
        reopened.revision(),
        last,
        "the deletion's revision survives too"
    );
    assert_eq!(
        reopened.get(&Key::namespaced("pods", "ns", "a")).unwrap(),
        a2
    );
    assert!(reopened.get(&Key::cluster("nodes", "n1")).is_none());
    assert_eq!(reopened.list("pods", None).1, last);
    // History does not survive a restart, but the current revision is watchable.
    let mut watch = reopened.watch("pods", None, last).unwrap();
    assert!(reopened.watch("pods", None, last - 1).is_err());
    let b = reopened
        .create(&Key::namespaced("pods", "ns", "b"), mk_pod("ns", "b"))
        .await
        .unwrap();
    assert_eq!(rv(&b), last + 1);
    assert_eq!(watch.next().await.unwrap().unwrap().revision, last + 1);
}

#[tokio::test]
async fn a_second_store_on_an_open_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let _store = Store::open(&path, StoreOptions::default()).unwrap();
    let err = Store::open(&path, StoreOptions::default()).unwrap_err();
    assert!(matches!(err, knet_store::StoreError::Backend(_)), "{err:?}");
}

const CHILD_ENV: &str = "KNET_STORE_CRASH_CHILD";

/// Child side of the crash test: write forever from 16 tasks, printing each acknowledged write.
fn crash_child(path: &Path) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(path, StoreOptions::default()).unwrap();
        let mut tasks = Vec::new();
        for t in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // Stop on our own after a while, should the parent never kill us.
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let name = format!("pod-{t}-{i}");
                    let stored = store
                        .create(
                            &Key::namespaced("pods", "crash", &name),
                            mk_pod("crash", &name),
                        )
                        .await
                        .unwrap();
                    let line = format!("ACK {name} {}\n", rv(&stored));
                    // Written (and flushed) only after the store acknowledged the write.
                    let mut out = std::io::stdout().lock();
                    out.write_all(line.as_bytes()).unwrap();
                    out.flush().unwrap();
                    i += 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_sigkill_with_their_resource_versions() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        crash_child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_writes_survive_sigkill_with_their_resource_versions",
            "--nocapture",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = BTreeMap::new();
    let record = |acked: &mut BTreeMap<String, u64>, line: &str| {
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (name, rv) = rest.split_once(' ').unwrap();
            acked.insert(name.to_owned(), rv.parse::<u64>().unwrap());
        }
    };
    // Let it get going, then kill it mid-stream.
    for line in lines.by_ref() {
        record(&mut acked, &line.unwrap());
        if acked.len() >= 2_000 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    // Lines the child wrote before it died were acknowledged too.
    for line in lines {
        let Ok(line) = line else { break };
        record(&mut acked, &line);
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child was killed, it did not finish: {status:?}"
    );
    assert!(
        acked.len() >= 2_000,
        "the child acknowledged {} writes",
        acked.len()
    );

    let store = Store::open(&path, StoreOptions::default()).unwrap();
    for (name, rv_acked) in &acked {
        let object = store
            .get(&Key::namespaced("pods", "crash", name))
            .unwrap_or_else(|| panic!("acknowledged {name} is lost"));
        assert_eq!(
            rv(&object),
            *rv_acked,
            "{name} has the acknowledged resourceVersion"
        );
    }
    let max_acked = acked.values().copied().max().unwrap();
    assert!(store.revision() >= max_acked);
    let (items, _) = store.list("pods", Some("crash"));
    let mut revisions: Vec<u64> = items.iter().map(|o| rv(o)).collect();
    revisions.sort();
    revisions.dedup();
    assert_eq!(
        revisions.len(),
        items.len(),
        "every stored object has its own revision"
    );
    assert!(items.len() >= acked.len());
    assert!(store.revision() >= *revisions.last().unwrap());
    eprintln!(
        "crash test: {} acknowledged, {} on disk after SIGKILL, revision {}",
        acked.len(),
        items.len(),
        store.revision()
    );
}
