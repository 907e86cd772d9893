//! Reads, writes, preconditions and group commit of the store.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::sync::Arc;
use std::time::Duration;

use knet_store::{
    Backend, Change, Key, Loaded, MemoryBackend, Op, Outcome, Precondition, Store, StoreError,
    StoreOptions, resource_version,
};
use serde_json::{Value, json};

fn mk_pod(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}")},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
    })
}

fn pod_key(ns: &str, name: &str) -> Key {
    Key::namespaced("pods", ns, name)
}

fn rv(object: &Value) -> u64 {
    resource_version(object).expect("resourceVersion is set")
}

fn names(items: &[Arc<Value>]) -> Vec<String> {
    items
        .iter()
        .map(|o| {
            let m = &o["metadata"];
            format!(
                "{}/{}",
                m["namespace"].as_str().unwrap_or("-"),
                m["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn revision_is_monotonic_across_create_update_and_delete() {
    let store = Store::in_memory(StoreOptions::default());
    let start = store.revision();
    let key = pod_key("default", "web");

    let created = store.create(&key, mk_pod("default", "web")).await.unwrap();
    assert_eq!(rv(&created), start + 1);
    assert_eq!(store.revision(), start + 1);

    let mut changed = mk_pod("default", "web");
    changed["spec"]["nodeName"] = json!("node-1");
    let updated = store
        .update(&key, changed, Precondition::None)
        .await
        .unwrap();
    assert_eq!(rv(&updated), start + 2);

    let other = store
        .create(&pod_key("default", "db"), mk_pod("default", "db"))
        .await
        .unwrap();
    assert_eq!(rv(&other), start + 3);

    let deleted = store.delete(&key, Precondition::None).await.unwrap();
    assert_eq!(
        rv(&deleted),
        start + 4,
        "the last state carries the deletion revision"
    );
    assert_eq!(
        deleted["spec"]["nodeName"], "node-1",
        "the last state is the object before deletion"
    );
    assert_eq!(store.revision(), start + 4);
    assert!(store.get(&key).is_none());
    assert_eq!(
        rv(&store.get(&pod_key("default", "db")).unwrap()),
        start + 3
    );
}

#[tokio::test]
async fn a_new_store_starts_at_revision_one_so_no_list_is_at_zero() {
    let store = Store::in_memory(StoreOptions::default());
    let (items, revision) = store.list("pods", None);
    assert!(items.is_empty());
    assert_eq!(revision, 1);
}

#[tokio::test]
async fn revision_and_objects_survive_reopen_on_the_same_backend() {
    let backend = MemoryBackend::new();
    let store = Store::with_backend(backend.clone(), StoreOptions::default()).unwrap();
    let a = store
        .create(&pod_key("ns", "a"), mk_pod("ns", "a"))
        .await
        .unwrap();
    store
        .create(&pod_key("ns", "b"), mk_pod("ns", "b"))
        .await
        .unwrap();
    let deleted = store
        .delete(&pod_key("ns", "b"), Precondition::None)
        .await
        .unwrap();
    store.close().await;

    let reopened = Store::with_backend(backend, StoreOptions::default()).unwrap();
    assert_eq!(
        reopened.revision(),
        rv(&deleted),
        "a deletion's revision is persisted too"
    );
    assert_eq!(reopened.get(&pod_key("ns", "a")).unwrap(), a);
    assert!(reopened.get(&pod_key("ns", "b")).is_none());
    let c = reopened
        .create(&pod_key("ns", "c"), mk_pod("ns", "c"))
        .await
        .unwrap();
    assert_eq!(rv(&c), rv(&deleted) + 1);
}

#[tokio::test]
async fn create_of_an_existing_object_is_already_exists() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    store.create(&key, mk_pod("default", "web")).await.unwrap();
    let revision = store.revision();
    let err = store
        .create(&key, mk_pod("default", "web"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(k) if k == key));
    assert_eq!(
        store.revision(),
        revision,
        "a failed write takes no revision"
    );
}

#[tokio::test]
async fn update_and_delete_of_a_missing_object_are_not_found() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "ghost");
    let err = store
        .update(&key, mk_pod("default", "ghost"), Precondition::None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(k) if k == key));
    let err = store.delete(&key, Precondition::None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
}

#[tokio::test]
async fn stale_resource_version_precondition_is_a_conflict() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    let v1 = store.create(&key, mk_pod("default", "web")).await.unwrap();
    let mut body = mk_pod("default", "web");
    body["spec"]["nodeName"] = json!("node-1");
    let v2 = store
        .update(&key, body.clone(), Precondition::ResourceVersion(rv(&v1)))
        .await
        .unwrap();

    body["spec"]["nodeName"] = json!("node-2");
    let err = store
        .update(&key, body, Precondition::ResourceVersion(rv(&v1)))
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            key: k,
            expected,
            actual,
        } => {
            assert_eq!(k, key);
            assert_eq!(expected, rv(&v1).to_string());
            assert_eq!(actual, rv(&v2).to_string());
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let err = store
        .delete(&key, Precondition::ResourceVersion(rv(&v1)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    assert_eq!(store.get(&key).unwrap(), v2, "nothing changed");
}

#[tokio::test]
async fn uid_precondition_mismatch_is_a_conflict() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    store.create(&key, mk_pod("default", "web")).await.unwrap();
    let err = store
        .delete(&key, Precondition::Uid("uid-of-an-older-web".into()))
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict {
            expected, actual, ..
        } => {
            assert_eq!(expected, "uid-of-an-older-web");
            assert_eq!(actual, "uid-default-web");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    store
        .delete(&key, Precondition::Uid("uid-default-web".into()))
        .await
        .unwrap();
    assert!(store.get(&key).is_none());
}

#[tokio::test]
async fn update_ignores_the_resource_version_in_the_object() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    store.create(&key, mk_pod("default", "web")).await.unwrap();
    let mut body = mk_pod("default", "web");
    body["metadata"]["resourceVersion"] = json!("12345");
    body["spec"]["nodeName"] = json!("node-1");
    let updated = store.update(&key, body, Precondition::None).await.unwrap();
    assert_eq!(rv(&updated), store.revision());
}

#[tokio::test]
async fn update_with_an_unchanged_object_keeps_its_resource_version() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    let created = store.create(&key, mk_pod("default", "web")).await.unwrap();
    let revision = store.revision();
    let same = store
        .update(&key, mk_pod("default", "web"), Precondition::None)
        .await
        .unwrap();
    assert_eq!(same, created);
    assert_eq!(store.revision(), revision, "no write, no new revision");
    let same = store
        .guaranteed_update(&key, |cur| Ok(cur.unwrap().clone()))
        .await
        .unwrap();
    assert_eq!(rv(&same), rv(&created));
    assert_eq!(store.stats().writes, 1);
}

#[tokio::test]
async fn concurrent_guaranteed_updates_lose_no_update() {
    let store = Store::in_memory(StoreOptions::default());
    let key = Key::cluster("configmaps", "counter");
    store
        .create(
            &key,
            json!({"metadata": {"name": "counter"}, "data": {"n": 0}}),
        )
        .await
        .unwrap();
    let start = store.revision();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = store.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                store
                    .guaranteed_update(&key, |cur| {
                        let mut next = cur.cloned().ok_or_else(|| {
                            StoreError::NotFound(Key::cluster("configmaps", "counter"))
                        })?;
                        let n = next["data"]["n"].as_u64().unwrap_or(0);
                        next["data"]["n"] = json!(n + 1);
                        Ok(next)
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let counter = store.get(&key).unwrap();
    assert_eq!(counter["data"]["n"], 800);
    assert_eq!(rv(&counter), start + 800);
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("field is immutable: {0}")]
struct Immutable(String);

#[tokio::test]
async fn a_rejected_guaranteed_update_gives_the_callers_typed_error_back() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    store.create(&key, mk_pod("default", "web")).await.unwrap();
    let revision = store.revision();
    let err = store
        .guaranteed_update(&key, |_| {
            Err(StoreError::rejected(Immutable("spec.nodeName".into())))
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "field is immutable: spec.nodeName");
    assert_eq!(
        err.rejected_ref::<Immutable>(),
        Some(&Immutable("spec.nodeName".into()))
    );
    assert_eq!(
        err.downcast_rejected::<Immutable>().unwrap(),
        Immutable("spec.nodeName".into())
    );
    assert_eq!(store.revision(), revision);
}

#[tokio::test]
async fn guaranteed_update_creates_an_absent_object() {
    let store = Store::in_memory(StoreOptions::default());
    let key = Key::cluster("nodes", "node-1");
    let created = store
        .guaranteed_update(&key, |cur| {
            assert!(cur.is_none());
            Ok(json!({"metadata": {"name": "node-1"}}))
        })
        .await
        .unwrap();
    assert_eq!(rv(&created), store.revision());
    assert_eq!(store.get(&key).unwrap(), created);
}

#[tokio::test]
async fn a_panicking_update_function_fails_its_request_and_the_store_keeps_working() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    store.create(&key, mk_pod("default", "web")).await.unwrap();
    let err = store
        .guaranteed_update(&key, |_| -> Result<Value, StoreError> {
            panic!("bug in a caller")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    store
        .create(&pod_key("default", "db"), mk_pod("default", "db"))
        .await
        .unwrap();
}

#[tokio::test]
async fn modify_can_delete_or_keep_atomically() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    let created = store.create(&key, mk_pod("default", "web")).await.unwrap();
    let kept = store.modify(&key, |_| Ok(Change::Keep)).await.unwrap();
    assert_eq!(kept, Outcome::Unchanged(Some(created.clone())));
    let deleted = store
        .modify(&key, |cur| {
            let finalizers = cur.and_then(|o| o["metadata"].get("finalizers"));
            Ok(if finalizers.is_none() {
                Change::Delete
            } else {
                Change::Keep
            })
        })
        .await
        .unwrap();
    match deleted {
        Outcome::Deleted(last) => assert_eq!(rv(&last), store.revision()),
        other => panic!("expected a deletion, got {other:?}"),
    }
    let err = store
        .modify(&key, |_| Ok(Change::Delete))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
}

#[tokio::test]
async fn objects_that_are_not_json_objects_are_refused() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    let err = store.create(&key, json!(["a", "list"])).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidObject { .. }));
    let err = store
        .create(&key, json!({"metadata": "web"}))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidObject { .. }));
    let err = store
        .guaranteed_update(&key, |_| Ok(json!(42)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidObject { .. }));
    let created = store.create(&key, json!({"kind": "Pod"})).await.unwrap();
    assert_eq!(
        created["metadata"]["resourceVersion"],
        store.revision().to_string()
    );
}

#[tokio::test]
async fn list_is_sorted_and_namespace_filtered_with_its_revision() {
    let store = Store::in_memory(StoreOptions::default());
    for (ns, name) in [
        ("kube-system", "dns"),
        ("default", "web"),
        ("default", "api"),
        ("b", "z"),
        ("default", "db"),
    ] {
        store
            .create(&pod_key(ns, name), mk_pod(ns, name))
            .await
            .unwrap();
    }
    store
        .create(
            &Key::cluster("nodes", "node-1"),
            json!({"metadata": {"name": "node-1"}}),
        )
        .await
        .unwrap();
    store
        .create(
            &Key::namespaced("deployments.apps", "default", "web"),
            mk_pod("default", "web"),
        )
        .await
        .unwrap();

    let (all, revision) = store.list("pods", None);
    assert_eq!(
        names(&all),
        [
            "b/z",
            "default/api",
            "default/db",
            "default/web",
            "kube-system/dns"
        ]
    );
    assert_eq!(revision, store.revision());

    let (default, revision) = store.list("pods", Some("default"));
    assert_eq!(
        names(&default),
        ["default/api", "default/db", "default/web"]
    );
    assert_eq!(revision, store.revision());

    assert!(store.list("pods", Some("nope")).0.is_empty());
    assert_eq!(store.list("nodes", None).0.len(), 1);
    assert_eq!(store.list("deployments.apps", Some("default")).0.len(), 1);

    store
        .delete(&pod_key("default", "db"), Precondition::None)
        .await
        .unwrap();
    let (default, revision) = store.list("pods", Some("default"));
    assert_eq!(names(&default), ["default/api", "default/web"]);
    assert_eq!(revision, store.revision());
}

/// A backend that takes its time to commit, as a disk's fsync does.
struct SlowBackend(MemoryBackend);

impl Backend for SlowBackend {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        self.0.load()
    }

    fn commit(&mut self, ops: &[Op], revision: u64) -> Result<(), StoreError> {
        std::thread::sleep(Duration::from_millis(20));
        self.0.commit(ops, revision)
    }
}

#[tokio::test]
async fn concurrent_writes_are_group_committed_in_few_transactions() {
    let backend = MemoryBackend::new();
    let store = Store::with_backend(SlowBackend(backend.clone()), StoreOptions::default()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("pod-{i}");
            store
                .create(&pod_key("default", &name), mk_pod("default", &name))
                .await
                .unwrap()
        }));
    }
    let mut revisions = Vec::new();
    for t in tasks {
        revisions.push(rv(&t.await.unwrap()));
    }
    revisions.sort();
    revisions.dedup();
    assert_eq!(revisions.len(), 64, "every write has its own revision");
    assert_eq!(backend.len(), 64);
    assert!(
        backend.commits() <= 8,
        "64 concurrent writes took {} commits",
        backend.commits()
    );
    assert_eq!(store.stats().commits, backend.commits());
    assert_eq!(backend.revision(), store.revision());
}

#[tokio::test]
async fn a_failed_commit_fails_its_writes_publishes_nothing_and_refuses_later_writes() {
    let backend = MemoryBackend::new();
    let store = Store::with_backend(backend.clone(), StoreOptions::default()).unwrap();
    store
        .create(&pod_key("default", "a"), mk_pod("default", "a"))
        .await
        .unwrap();
    let revision = store.revision();
    let mut watch = store.watch("pods", None, revision).unwrap();

    backend.fail_commits(Some("disk on fire"));
    let err = store
        .create(&pod_key("default", "b"), mk_pod("default", "b"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("disk on fire")),
        "{err:?}"
    );
    assert!(store.get(&pod_key("default", "b")).is_none());
    assert_eq!(store.revision(), revision);

    backend.fail_commits(None);
    let err = store
        .create(&pod_key("default", "c"), mk_pod("default", "c"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Backend(_)),
        "the store stays failed until reopened"
    );
    // Reads still work.
    assert!(store.get(&pod_key("default", "a")).is_some());

    store.close().await;
    assert!(
        watch.next().await.is_none(),
        "no event was published for the failed write"
    );
    let reopened = Store::with_backend(backend, StoreOptions::default()).unwrap();
    let b = reopened
        .create(&pod_key("default", "b"), mk_pod("default", "b"))
        .await
        .unwrap();
    assert_eq!(rv(&b), revision + 1);
}

#[tokio::test]
async fn writes_and_watches_after_close_are_closed_and_reads_keep_working() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    store.create(&key, mk_pod("default", "web")).await.unwrap();
    let mut watch = store.watch("pods", None, store.revision()).unwrap();
    store.close().await;
    store.close().await;
    assert!(matches!(
        store
            .create(&pod_key("default", "x"), mk_pod("default", "x"))
            .await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        store.watch("pods", None, store.revision()),
        Err(StoreError::Closed)
    ));
    assert!(watch.next().await.is_none(), "open watches end");
    assert!(store.get(&key).is_some());
}

#[test]
fn the_store_works_outside_a_tokio_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.redb"), StoreOptions::default()).unwrap();
    let key = pod_key("default", "web");
    let created =
        futures::executor::block_on(store.create(&key, mk_pod("default", "web"))).unwrap();
    assert_eq!(store.get(&key).unwrap(), created);
    futures::executor::block_on(store.close());
}

#[test]
fn key_display_names_resource_namespace_and_name() {
    assert_eq!(pod_key("default", "web").to_string(), "pods/default/web");
    assert_eq!(Key::cluster("nodes", "node-1").to_string(), "nodes/node-1");
}
