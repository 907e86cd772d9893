//! WATCH: a chunked stream of `{"type": ..., "object": ...}` lines, filtered by label and field
//! selectors with kube-apiserver's semantics (an object that stops matching is seen as DELETED,
//! one that starts matching as ADDED: k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use knet_api::ResourceInfo;
use knet_labels::{FieldSelector, Selector};
use knet_store::{EventType, StoreError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ApiServer;
use crate::handlers::{from_store, matches, partial_metadata};
use crate::request::{Query, Shape};
use crate::status::ApiError;

/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);
/// Longest watch when the client sets no timeout (kube-apiserver picks 30-60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// A meta.k8s.io/v1 Table for `objects`.
pub(crate) fn table_for(
    info: &ResourceInfo,
    objects: &[Arc<Value>],
    rv: &str,
    query: &Query,
) -> Value {
    let refs: Vec<&Value> = objects.iter().map(|o| o.as_ref()).collect();
    let table = knet_printers::table(
        &info.api_version(),
        info.kind,
        &refs,
        jiff::Timestamp::now(),
    );
    let row_objects: Vec<Value> = objects
        .iter()
        .map(|o| match query.include_object.as_deref() {
            Some("Object") => Value::clone(o),
            Some("None") => Value::Null,
            _ => partial_metadata(o),
        })
        .collect();
    knet_printers::table_json(&table, row_objects, rv)
}

struct Filter {
    info: &'static ResourceInfo,
    labels: Selector,
    fields: FieldSelector,
}

impl Filter {
    fn pass(&self, obj: &Value) -> bool {
        matches(self.info, obj, &self.labels, &self.fields)
    }
}

fn event_line(kind: &str, object: Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn shaped(info: &ResourceInfo, obj: &Arc<Value>, shape: Shape, query: &Query) -> Value {
    match shape {
        Shape::Plain => Value::clone(obj),
        Shape::Metadata => partial_metadata(obj),
        Shape::Table => {
            let rv = obj
                .get("metadata")
                .and_then(|m| m.get("resourceVersion"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            table_for(info, std::slice::from_ref(obj), &rv, query)
        }
    }
}

fn bookmark(info: &ResourceInfo, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"apiVersion": info.api_version(), "kind": info.kind, "metadata": meta})
}

impl ApiServer {
    pub(crate) async fn watch(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<String>,
        query: &Query,
        shape: Shape,
    ) -> Result<Response, ApiError> {
        let (labels, fields) = self.selectors(info, query)?;
        let filter = Filter {
            info,
            labels,
            fields,
        };
        let store = self.store().clone();
        let resource = info.store_resource();
        let requested: Option<u64> =
            match query.resource_version.as_deref() {
                None | Some("") | Some("0") => None,
                Some(s) => Some(s.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version {s:?}"))
                })?),
            };
        let send_initial = query.send_initial_events.unwrap_or(requested.is_none());
        let bookmarks = query.allow_watch_bookmarks.unwrap_or(false);

        // Start: either replay from the requested revision, or the current state as ADDED events.
        let mut initial: Vec<Arc<Value>> = Vec::new();
        let from = match requested {
            Some(rv) if !send_initial => rv,
            _ => {
                let (items, rv) = store.list(&resource, namespace.as_deref());
                initial = items.into_iter().filter(|o| filter.pass(o)).collect();
                rv
            }
        };
        let mut watch = match store.watch(&resource, namespace.as_deref(), from) {
            Ok(w) => w,
            Err(StoreError::Gone { requested, oldest }) => {
                // kube-apiserver answers 200 and sends one ERROR event with a 410 Status.
                let status =
                    ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
                        .to_status();
                return Ok(stream_response(futures::stream::iter([Ok::<
                    _,
                    std::convert::Infallible,
                >(
                    event_line("ERROR", status),
                )])));
            }
            Err(e) => return Err(from_store(info, "", e)),
        };

        let timeout = query
            .timeout_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT);
        let query = query.clone();
        let (tx, rx) = mpsc::channel::<Bytes>(256);
        tokio::spawn(async move {
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            for obj in &initial {
                if tx
                    .send(event_line("ADDED", shaped(info, obj, shape, &query)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let mut last_rv = from;
            if query.send_initial_events == Some(true)
                && bookmarks
                && tx
                    .send(event_line("BOOKMARK", bookmark(info, from, true)))
                    .await
                    .is_err()
            {
                return;
            }
            let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
            ticker.tick().await;
            loop {
                let next = tokio::select! {
                    _ = &mut deadline => return,
                    _ = tx.closed() => return,
                    _ = ticker.tick(), if bookmarks => {
                        if tx.send(event_line("BOOKMARK", bookmark(info, last_rv, false))).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    next = watch.next() => next,
                };
                let event = match next {
                    None => return,
                    Some(Err(e)) => {
                        let status = from_store(info, "", e).to_status();
                        let _ = tx.send(event_line("ERROR", status)).await;
                        return;
                    }
                    Some(Ok(ev)) => ev,
                };
                last_rv = event.revision;
                let now = filter.pass(&event.object);
                let before = event.prev.as_ref().is_some_and(|p| filter.pass(p));
                let kind = match event.kind {
                    EventType::Added if now => "ADDED",
                    EventType::Modified if now && before => "MODIFIED",
                    EventType::Modified if now => "ADDED",
                    EventType::Modified if before => "DELETED",
                    EventType::Deleted if before || now => "DELETED",
                    _ => continue,
                };
                let line = event_line(kind, shaped(info, &event.object, shape, &query));
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
        });
        Ok(stream_response(stream))
    }
}

fn stream_response<S>(stream: S) -> Response
where
    S: futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
