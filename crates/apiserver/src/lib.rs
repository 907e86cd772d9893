//! knet's Kubernetes API server: the REST API (discovery, CRUD, list/watch, patch, status) over
//! `knet-store`, with TLS and bearer-token auth, so that kubectl and kube-rs clients work unchanged.
//! It does not run controllers; they are clients of it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alloc;
pub mod discovery;
pub mod exec;
mod handlers;
pub mod pki;
pub mod request;
pub mod status;
mod watch;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use knet_store::Store;
use serde_json::Value;

pub use exec::{ExecOptions, PodExec, RemoteStreams};
pub use status::ApiError;

/// Options of a `pods/{name}/log` request (core/v1 PodLogOptions).
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// The container (already resolved: the pod's only container when the request named none).
    pub container: String,
    /// Keep streaming as the container writes.
    pub follow: bool,
    /// The previous (terminated) instance of the container.
    pub previous: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
}

/// A stream of log bytes.
pub type LogStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send>>;

/// Serves `pods/{name}/log` (`kubectl logs`, `knet logs`): the node agents, which keep the logs.
/// kube-apiserver proxies this to the pod's kubelet; knet's embedded agents answer in process.
pub trait PodLogs: Send + Sync + 'static {
    /// The log of `options.container` of `pod`.
    fn logs(&self, pod: &Value, options: &LogOptions) -> Result<LogStream, ApiError>;
}

/// Namespaces every cluster has (kube-apiserver's system namespaces controller makes them).
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The API server: cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    token: Option<String>,
    pod_logs: std::sync::OnceLock<Arc<dyn PodLogs>>,
    pod_exec: std::sync::OnceLock<Arc<dyn PodExec>>,
    graceful_pods: std::sync::atomic::AtomicBool,
    /// ClusterIPs and NodePorts in use, rebuilt from the stored Services at start.
    alloc: Arc<std::sync::Mutex<handlers::Allocators>>,
}

impl ApiServer {
    /// A server over `store`. With `token`, every request but health and version checks must
    /// carry `Authorization: Bearer <token>`.
    pub fn new(store: Store, token: Option<String>) -> ApiServer {
        ApiServer {
            inner: Arc::new(Inner {
                store: store.clone(),
                token,
                alloc: Arc::new(std::sync::Mutex::new(handlers::Allocators::from_store(
                    &store,
                ))),
                pod_logs: std::sync::OnceLock::new(),
                pod_exec: std::sync::OnceLock::new(),
                graceful_pods: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Deletes scheduled pods gracefully (deletionTimestamp + grace period, finished by the node's
    /// agent), as kube-apiserver does. Off until node agents run, since nothing would finish them.
    pub fn set_graceful_pod_deletion(&self, on: bool) {
        self.inner
            .graceful_pods
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Installs what serves `pods/{name}/log`; the first call wins.
    pub fn set_pod_logs(&self, logs: Arc<dyn PodLogs>) {
        let _ = self.inner.pod_logs.set(logs);
    }

    /// Installs what runs `pods/{name}/exec` and `pods/{name}/attach` sessions; the first call wins.
    pub fn set_pod_exec(&self, exec: Arc<dyn PodExec>) {
        let _ = self.inner.pod_exec.set(exec);
    }

    /// The store behind the server.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Creates the system namespaces and the `kubernetes` Service (the first address of the service
    /// range, as kube-apiserver's bootstrap controller does) when missing.
    pub async fn bootstrap(&self) -> Result<(), ApiError> {
        let mut objects: Vec<Value> = SYSTEM_NAMESPACES
            .iter()
            .map(|ns| serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .collect();
        objects.push(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        }));
        for obj in objects {
            let info = knet_api::find_by_kind(
                obj["apiVersion"].as_str().unwrap_or(""),
                obj["kind"].as_str().unwrap_or(""),
            );
            let exists = info.is_some_and(|info| {
                self.inner
                    .store
                    .get(&knet_store::Key {
                        resource: info.store_resource(),
                        namespace: obj["metadata"]["namespace"].as_str().map(str::to_string),
                        name: obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    })
                    .is_some()
            });
            if exists {
                continue;
            }
            match self.create_value(obj).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The HTTP application.
    pub fn router(&self) -> Router {
        Router::new().fallback(dispatch).with_state(self.clone())
    }

    /// Serves on `listener` (TLS when `tls` is given; HTTP/2 and HTTP/1.1) until `shutdown`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto::Builder;
        use hyper_util::service::TowerToHyperService;

        let app = self.router();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::pin!(shutdown);
        loop {
            let (stream, _peer) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = Builder::new(TokioExecutor::new());
                let result = match acceptor {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls) => {
                            builder
                                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                                .await
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                    },
                    None => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
    }

    fn authorized(&self, req: &Request) -> bool {
        let Some(token) = &self.inner.token else {
            return true;
        };
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return false;
        };
        let Ok(value) = value.to_str() else {
            return false;
        };
        match value.strip_prefix("Bearer ") {
            Some(given) => constant_time_eq(given.trim().as_bytes(), token.as_bytes()),
            None => false,
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON response with the given code.
pub(crate) fn json_response(code: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn dispatch(State(server): State<ApiServer>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["healthz"] | ["readyz"] | ["livez"] => {
            return (StatusCode::OK, "ok").into_response();
        }
        ["version"] => return json_response(StatusCode::OK, &discovery::version()),
        _ => {}
    }
    if !server.authorized(&req) {
        return ApiError::unauthorized().into_response();
    }
    let method = req.method().clone();
    let result = match segs.as_slice() {
        ["api"] => Ok(json_response(StatusCode::OK, &discovery::core_versions())),
        ["apis"] => Ok(json_response(StatusCode::OK, &discovery::group_list())),
        ["apis", group] => discovery::group(group)
            .map(|g| json_response(StatusCode::OK, &g))
            .ok_or_else(|| ApiError::no_route("the server could not find the requested resource")),
        ["api", "v1"] => discovery::resource_list("", "v1")
            .map(|g| json_response(StatusCode::OK, &g))
            .ok_or_else(|| ApiError::no_route("the server could not find the requested resource")),
        ["apis", group, version] => discovery::resource_list(group, version)
            .map(|g| json_response(StatusCode::OK, &g))
            .ok_or_else(|| ApiError::no_route("the server could not find the requested resource")),
        ["openapi", "v2"] => Ok(discovery::openapi_v2(
            req.headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
        )),
        ["openapi", "v3"] => Ok(json_response(StatusCode::OK, &discovery::openapi_v3_root())),
        ["openapi", "v3", "api", "v1"] => discovery::openapi_v3_doc("", "v1")
            .map(|d| json_response(StatusCode::OK, &d))
            .ok_or_else(|| ApiError::no_route("no such OpenAPI document")),
        ["openapi", "v3", "apis", group, version] => discovery::openapi_v3_doc(group, version)
            .map(|d| json_response(StatusCode::OK, &d))
            .ok_or_else(|| ApiError::no_route("no such OpenAPI document")),
        ["api", "v1", "namespaces", _, "pods", _, "portforward"] => Err(ApiError::other(
            501,
            "NotImplemented",
            "knet does not serve pods/portforward: run the client inside the cluster, with \
             `kubectl exec` / `knet exec` or in a pod of its own (`kubectl run -it --rm debug \
             --image=busybox -- sh`)",
        )),
        // A stream, not a request/response: handled before the body is read.
        [
            "api",
            "v1",
            "namespaces",
            ns,
            "pods",
            name,
            sub @ ("exec" | "attach"),
        ] => {
            let (ns, name, attach) = (ns.to_string(), name.to_string(), *sub == "attach");
            server.pod_stream(&ns, &name, attach, req).await
        }
        ["api", "v1", rest @ ..] => {
            let target = request::parse_target("", "v1", rest);
            match target {
                Ok(t) => server.handle(method, t, req).await,
                Err(e) => Err(e),
            }
        }
        ["apis", group, version, rest @ ..] => {
            let (group, version) = (group.to_string(), version.to_string());
            match request::parse_target(&group, &version, rest) {
                Ok(t) => server.handle(method, t, req).await,
                Err(e) => Err(e),
            }
        }
        _ => Err(ApiError::no_route(format!(
            "the server could not find the requested resource: {path}"
        ))),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}
