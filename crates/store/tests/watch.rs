//! Watches: history replay, hand-over to live events, filtering, Gone.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use futures::StreamExt;
use knet_store::{
    Event, EventType, Key, Precondition, Store, StoreError, StoreOptions, resource_version,
};
use serde_json::{Value, json};

fn mk_pod(ns: &str, name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": ns}, "spec": {"containers": []}})
}

fn pod_key(ns: &str, name: &str) -> Key {
    Key::namespaced("pods", ns, name)
}

async fn next_event(watch: &mut knet_store::Watch) -> Event {
    tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("an event within 5s")
        .expect("the watch is open")
        .expect("not an error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_replays_history_then_live_events_in_order_without_gaps_or_duplicates() {
    let store = Store::in_memory(StoreOptions::default());
    let start = store.revision();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                let name = format!("p{}", i % 50);
                let key = pod_key("default", &name);
                if store.get(&key).is_some() {
                    if i % 7 == 0 {
                        store.delete(&key, Precondition::None).await.unwrap();
                    } else {
                        let mut body = mk_pod("default", &name);
                        body["spec"]["i"] = json!(i);
                        store.update(&key, body, Precondition::None).await.unwrap();
                    }
                } else {
                    store.create(&key, mk_pod("default", &name)).await.unwrap();
                }
            }
        })
    };
    // Start watches from `start` while the writer runs, so that each hands over from history to live at a
    // different point: each must see exactly the revisions after `start`.
    let mut watches = Vec::new();
    let mut handed_over_mid_stream = 0;
    let mut last_at = 0;
    while !writer.is_finished() && watches.len() < 100 {
        let at = store.revision();
        if at != last_at {
            last_at = at;
            if at > start && at < start + 300 {
                handed_over_mid_stream += 1;
            }
            watches.push(store.watch("pods", None, start).unwrap());
        }
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert!(
        handed_over_mid_stream > 0,
        "no watch started while writes were under way"
    );
    let end = store.revision();
    assert_eq!(end - start, 300);
    for mut watch in watches {
        let mut expected = start + 1;
        while expected <= end {
            let event = next_event(&mut watch).await;
            assert_eq!(event.revision, expected, "no gap, no duplicate");
            assert_eq!(resource_version(&event.object), Some(event.revision));
            expected += 1;
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(10), watch.next())
                .await
                .is_err(),
            "nothing after the last write"
        );
    }
}

#[tokio::test]
async fn events_carry_kind_object_and_previous_state() {
    let store = Store::in_memory(StoreOptions::default());
    let key = pod_key("default", "web");
    let mut watch = store.watch("pods", None, store.revision()).unwrap();
    let created = store.create(&key, mk_pod("default", "web")).await.unwrap();
    let mut body = mk_pod("default", "web");
    body["spec"]["nodeName"] = json!("node-1");
    let updated = store.update(&key, body, Precondition::None).await.unwrap();
    let deleted = store.delete(&key, Precondition::None).await.unwrap();

    let added = next_event(&mut watch).await;
    assert_eq!((added.kind, &added.key), (EventType::Added, &key));
    assert_eq!(added.object, created);
    assert!(added.prev.is_none());

    let modified = next_event(&mut watch).await;
    assert_eq!(modified.kind, EventType::Modified);
    assert_eq!(modified.object, updated);
    assert_eq!(modified.prev.as_ref(), Some(&created));

    let gone = next_event(&mut watch).await;
    assert_eq!(gone.kind, EventType::Deleted);
    assert_eq!(gone.object, deleted);
    assert_eq!(
        resource_version(&gone.object),
        Some(gone.revision),
        "deletion revision, as etcd3 watch sends"
    );
    assert_eq!(gone.object["spec"]["nodeName"], "node-1");
    assert_eq!(gone.prev.as_ref(), Some(&updated));
    assert_eq!(EventType::Deleted.as_str(), "DELETED");
}

#[tokio::test]
async fn watch_from_a_revision_older_than_the_history_is_gone() {
    let store = Store::in_memory(StoreOptions { history_len: 10 });
    let start = store.revision();
    for i in 0..25 {
        store
            .create(
                &pod_key("default", &format!("p{i}")),
                mk_pod("default", "p"),
            )
            .await
            .unwrap();
    }
    let now = store.revision();
    match store.watch("pods", None, start) {
        Err(StoreError::Gone { requested, oldest }) => {
            assert_eq!(requested, start);
            assert_eq!(oldest, now - 10);
        }
        other => panic!("expected Gone, got {other:?}"),
    }
    // The oldest revision kept is still watchable, and replays the last 10 events.
    let mut watch = store.watch("pods", None, now - 10).unwrap();
    for expected in now - 9..=now {
        assert_eq!(next_event(&mut watch).await.revision, expected);
    }
    assert!(matches!(
        store.watch("pods", None, now - 11),
        Err(StoreError::Gone { .. })
    ));
}

#[tokio::test]
async fn the_current_revision_is_watchable_without_any_history() {
    let store = Store::in_memory(StoreOptions { history_len: 0 });
    store
        .create(&pod_key("default", "a"), mk_pod("default", "a"))
        .await
        .unwrap();
    let now = store.revision();
    assert!(matches!(
        store.watch("pods", None, now - 1),
        Err(StoreError::Gone { .. })
    ));
    let mut watch = store.watch("pods", None, now).unwrap();
    store
        .create(&pod_key("default", "b"), mk_pod("default", "b"))
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.revision, now + 1);
}

#[tokio::test]
async fn namespace_filtered_watch_sees_only_its_namespace_and_resource() {
    let store = Store::in_memory(StoreOptions::default());
    let start = store.revision();
    store
        .create(&pod_key("default", "a"), mk_pod("default", "a"))
        .await
        .unwrap();
    store
        .create(&pod_key("other", "a"), mk_pod("other", "a"))
        .await
        .unwrap();
    store
        .create(
            &Key::namespaced("services", "default", "a"),
            mk_pod("default", "a"),
        )
        .await
        .unwrap();
    let mut watch = store.watch("pods", Some("default"), start).unwrap();
    store
        .create(&pod_key("other", "b"), mk_pod("other", "b"))
        .await
        .unwrap();
    store
        .create(&pod_key("default", "b"), mk_pod("default", "b"))
        .await
        .unwrap();

    let first = next_event(&mut watch).await;
    assert_eq!(first.key, pod_key("default", "a"));
    assert_eq!(first.revision, start + 1);
    let second = next_event(&mut watch).await;
    assert_eq!(second.key, pod_key("default", "b"));
    assert_eq!(second.revision, start + 5);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), watch.next())
            .await
            .is_err(),
        "nothing else arrives"
    );
}

#[tokio::test]
async fn cluster_wide_watch_sees_every_namespace_of_its_resource() {
    let store = Store::in_memory(StoreOptions::default());
    let mut watch = store.watch("pods", None, store.revision()).unwrap();
    store
        .create(&pod_key("a", "x"), mk_pod("a", "x"))
        .await
        .unwrap();
    store
        .create(
            &Key::cluster("nodes", "n"),
            json!({"metadata": {"name": "n"}}),
        )
        .await
        .unwrap();
    store
        .create(&pod_key("b", "x"), mk_pod("b", "x"))
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.key, pod_key("a", "x"));
    assert_eq!(next_event(&mut watch).await.key, pod_key("b", "x"));
}

#[tokio::test]
async fn slow_watcher_gets_gone_and_does_not_block_writers() {
    let store = Store::in_memory(StoreOptions::default());
    let start = store.revision();
    let mut slow = store.watch_with_capacity("pods", None, start, 16).unwrap();
    let mut fast = store.watch("pods", None, start).unwrap();
    // Nobody reads `slow` while 100 writes go through: they must all complete promptly.
    tokio::time::timeout(Duration::from_secs(10), async {
        for i in 0..100 {
            store
                .create(
                    &pod_key("default", &format!("p{i}")),
                    mk_pod("default", "p"),
                )
                .await
                .unwrap();
        }
    })
    .await
    .expect("writers are not blocked by a slow watcher");

    // The slow watcher gets what was buffered, contiguous, then Gone, then the end.
    let mut expected = start + 1;
    let gone = loop {
        match slow.next().await {
            Some(Ok(event)) => {
                assert_eq!(event.revision, expected);
                expected += 1;
            }
            Some(Err(err)) => break err,
            None => panic!("the watch ended without Gone"),
        }
    };
    assert_eq!(expected, start + 17, "exactly the 16 buffered events");
    assert!(
        matches!(gone, StoreError::Gone { requested, .. } if requested == start + 16),
        "{gone:?}"
    );
    assert!(slow.next().await.is_none());
    assert_eq!(
        store.stats().watchers,
        1,
        "the slow watcher was unsubscribed"
    );
    // A watcher that kept up is unaffected.
    for expected in start + 1..=start + 100 {
        assert_eq!(next_event(&mut fast).await.revision, expected);
    }
}

#[tokio::test]
async fn watch_is_a_stream() {
    let store = Store::in_memory(StoreOptions::default());
    let watch = store.watch("pods", None, store.revision()).unwrap();
    for name in ["a", "b", "c"] {
        store
            .create(&pod_key("default", name), mk_pod("default", name))
            .await
            .unwrap();
    }
    let events: Vec<_> = watch.take(3).map(|e| e.unwrap().key.name).collect().await;
    assert_eq!(events, ["a", "b", "c"]);
}

#[tokio::test]
async fn watch_from_a_future_revision_starts_after_it() {
    let store = Store::in_memory(StoreOptions::default());
    let now = store.revision();
    let mut watch = store.watch("pods", None, now + 2).unwrap();
    for name in ["a", "b", "c"] {
        store
            .create(&pod_key("default", name), mk_pod("default", name))
            .await
            .unwrap();
    }
    let event = next_event(&mut watch).await;
    assert_eq!((event.revision, event.key.name.as_str()), (now + 3, "c"));
}

#[tokio::test]
async fn dropped_watches_are_unsubscribed() {
    let store = Store::in_memory(StoreOptions::default());
    for _ in 0..1000 {
        let watch = store
            .watch_with_capacity("pods", None, store.revision(), 1)
            .unwrap();
        drop(watch);
    }
    assert_eq!(store.stats().watchers, 0);
    store
        .create(&pod_key("default", "a"), mk_pod("default", "a"))
        .await
        .unwrap();
    let mut live = store.watch("pods", None, store.revision()).unwrap();
    store
        .create(&pod_key("default", "b"), mk_pod("default", "b"))
        .await
        .unwrap();
    assert_eq!(next_event(&mut live).await.key.name, "b");
    assert_eq!(store.stats().watchers, 1);
    drop(live);
    assert_eq!(store.stats().watchers, 0);
}
