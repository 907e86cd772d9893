//! Resource handlers: what kube-apiserver's generic registry store does for create, get, list,
//! update, patch, delete and the status, binding and finalize subresources
//! (k8s.io/apiserver/pkg/registry/generic/registry/store.go).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use knet_api::{AdmitError, ResourceInfo};
use knet_labels::{FieldSelector, Selector};
use knet_store::{Key, Precondition, StoreError};
use serde_json::{Value, json};

use crate::request::{Query, Shape, Target};
use crate::status::{ApiError, Cause};
use crate::{ApiServer, json_response};

/// Largest request body accepted (kube-apiserver's limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds).
pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Per-request admission settings: the `fieldValidation` directive and the warnings to send back
/// (as `Warning: 299` headers, which kubectl prints).
#[derive(Clone, Default)]
pub(crate) struct Ctx {
    validation: knet_api::FieldValidation,
    warnings: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Ctx {
    fn from_query(q: &Query) -> Result<Ctx, ApiError> {
        let validation = match q.field_validation.as_deref() {
            None | Some("") | Some("Strict") => knet_api::FieldValidation::Strict,
            Some("Warn") => knet_api::FieldValidation::Warn,
            Some("Ignore") => knet_api::FieldValidation::Ignore,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
                )));
            }
        };
        Ok(Ctx {
            validation,
            warnings: Arc::default(),
        })
    }

    fn warn(&self, w: impl IntoIterator<Item = String>) {
        if let Ok(mut all) = self.warnings.lock() {
            for one in w {
                if !all.contains(&one) {
                    all.push(one);
                }
            }
        }
    }

    /// A JSON response carrying this request's warnings.
    fn respond(&self, code: StatusCode, value: &Value) -> Response {
        let mut resp = json_response(code, value);
        if let Ok(all) = self.warnings.lock() {
            for w in all.iter() {
                let text = format!("299 - {}", serde_json::Value::String(w.replace('\n', " ")));
                if let Ok(h) = axum::http::HeaderValue::from_str(&text) {
                    resp.headers_mut().append("warning", h);
                }
            }
        }
        resp
    }
}

/// Shapes that people write from examples and that Kubernetes rejects, moved to where they belong
/// with a warning that shows the right shape. The EndpointSlice example of the source documents
/// nests addressType/ports/endpoints under `spec:`; discovery.k8s.io/v1 has them at the top level
/// (https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/).
fn compat(info: &ResourceInfo, obj: &mut Value, ctx: &Ctx) {
    if info.group == "discovery.k8s.io" && info.kind == "EndpointSlice" {
        let Some(spec) = obj.get("spec").and_then(Value::as_object).cloned() else {
            return;
        };
        let movable = ["addressType", "ports", "endpoints"];
        if spec.keys().all(|k| movable.contains(&k.as_str()))
            && movable.iter().all(|k| obj.get(*k).is_none())
        {
            if let Some(m) = obj.as_object_mut() {
                m.remove("spec");
                for (k, v) in spec {
                    m.insert(k, v);
                }
            }
            ctx.warn([format!(
                "EndpointSlice {:?}: addressType, ports and endpoints belong at the top level, not under spec (Kubernetes rejects spec with 'unknown field \"spec\"'); knet moved them",
                meta_str(obj, "name").unwrap_or("")
            )]);
        }
    }
}

/// The service CIDR (`--service-cluster-ip-range`).
pub(crate) const SERVICE_CIDR: &str = "10.96.0.0/12";

/// ClusterIP and NodePort ranges in use.
pub(crate) struct Allocators {
    ips: crate::alloc::Range,
    ports: crate::alloc::Range,
}

fn is_service(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "services"
}

fn cluster_ip_of(svc: &Value) -> Option<std::net::Ipv4Addr> {
    svc["spec"]["clusterIP"]
        .as_str()
        .and_then(|s| s.parse().ok())
}

/// Every node port a Service holds: its ports' `nodePort`s and its `healthCheckNodePort`.
fn node_ports_of(svc: &Value) -> Vec<u32> {
    let mut ports: Vec<u32> = svc["spec"]["ports"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["nodePort"].as_u64())
                .map(|p| p as u32)
                .collect()
        })
        .unwrap_or_default();
    if let Some(hc) = svc["spec"]["healthCheckNodePort"].as_u64() {
        ports.push(hc as u32);
    }
    ports
}

/// A LoadBalancer Service with `externalTrafficPolicy: Local` gets a health check node port
/// (pkg/registry/core/service/storage/storage.go `needsHCNodePort`).
fn needs_health_check_node_port(svc: &Value) -> bool {
    svc["spec"]["type"] == "LoadBalancer" && svc["spec"]["externalTrafficPolicy"] == "Local"
}

fn needs_node_ports(svc: &Value) -> bool {
    match svc["spec"]["type"].as_str() {
        Some("NodePort") => true,
        Some("LoadBalancer") => svc["spec"]["allocateLoadBalancerNodePorts"] != json!(false),
        _ => false,
    }
}

impl Allocators {
    pub(crate) fn from_store(store: &knet_store::Store) -> Allocators {
        let cidr = SERVICE_CIDR.parse().unwrap_or_default();
        let mut a = Allocators {
            ips: crate::alloc::Range::cluster_ips(cidr),
            ports: crate::alloc::Range::node_ports(
                u16::try_from(*knet_api::NODE_PORT_RANGE.start()).unwrap_or(30000),
                u16::try_from(*knet_api::NODE_PORT_RANGE.end()).unwrap_or(32767),
            ),
        };
        for svc in store.list("services", None).0 {
            if let Some(ip) = cluster_ip_of(&svc) {
                a.ips.mark(crate::alloc::ip_value(ip));
            }
            for p in node_ports_of(&svc) {
                a.ports.mark(p);
            }
        }
        a
    }

    /// Gives a Service its ClusterIP and NodePorts (pkg/registry/core/service/storage/alloc.go):
    /// requested ones are checked and taken, missing ones allocated. All or nothing.
    pub(crate) fn allocate(
        &mut self,
        old: Option<&Value>,
        svc: &mut Value,
    ) -> Result<(), ApiError> {
        let name = meta_str(svc, "name").unwrap_or("").to_string();
        let invalid = |field: String, value: String, e: crate::alloc::AllocError| {
            let message = format!("Invalid value: {value}: {e}");
            ApiError::invalid(
                "",
                "Service",
                &name,
                format!("Service \"{name}\" is invalid: {field}: {message}"),
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message,
                    field,
                }],
            )
        };
        let mut taken_ips = Vec::new();
        let mut taken_ports = Vec::new();
        let result = (|| {
            let external = svc["spec"]["type"] == "ExternalName";
            let had_ip = old.and_then(cluster_ip_of);
            if !external {
                match svc["spec"]["clusterIP"].as_str() {
                    Some("None") => svc["spec"]["clusterIPs"] = json!(["None"]),
                    Some(ip) if !ip.is_empty() => {
                        let parsed: std::net::Ipv4Addr = ip.parse().map_err(|_| {
                            invalid(
                                "spec.clusterIPs[0]".into(),
                                format!("\"{ip}\""),
                                crate::alloc::AllocError::OutOfRange {
                                    what: "IP",
                                    range: SERVICE_CIDR.into(),
                                },
                            )
                        })?;
                        if had_ip != Some(parsed) {
                            self.ips.take(crate::alloc::ip_value(parsed)).map_err(|e| {
                                invalid("spec.clusterIPs[0]".into(), format!("\"{ip}\""), e)
                            })?;
                            taken_ips.push(parsed);
                        }
                        svc["spec"]["clusterIPs"] = json!([ip]);
                    }
                    _ => {
                        let ip = std::net::Ipv4Addr::from(self.ips.allocate().map_err(|e| {
                            ApiError::internal(format!("failed to allocate a serviceIP: {e}"))
                        })?);
                        taken_ips.push(ip);
                        svc["spec"]["clusterIP"] = json!(ip.to_string());
                        svc["spec"]["clusterIPs"] = json!([ip.to_string()]);
                    }
                }
                svc["spec"]["ipFamilies"] = json!(["IPv4"]);
                svc["spec"]["ipFamilyPolicy"] = json!("SingleStack");
            }
            let old_ports = old.map(node_ports_of).unwrap_or_default();
            let wants = needs_node_ports(svc);
            if let Some(ports) = svc["spec"]["ports"].as_array_mut() {
                for (i, p) in ports.iter_mut().enumerate() {
                    if !wants {
                        if let Some(m) = p.as_object_mut() {
                            m.remove("nodePort");
                        }
                        continue;
                    }
                    match p["nodePort"].as_u64() {
                        Some(n) if old_ports.contains(&(n as u32)) => {}
                        Some(n) => {
                            self.ports.take(n as u32).map_err(|e| {
                                invalid(format!("spec.ports[{i}].nodePort"), n.to_string(), e)
                            })?;
                            taken_ports.push(n as u32);
                        }
                        None => {
                            let n = self.ports.allocate().map_err(|e| {
                                ApiError::internal(format!("failed to allocate a nodePort: {e}"))
                            })?;
                            taken_ports.push(n);
                            p["nodePort"] = json!(n);
                        }
                    }
                }
            }
            if needs_health_check_node_port(svc) {
                match svc["spec"]["healthCheckNodePort"].as_u64() {
                    Some(n) if old_ports.contains(&(n as u32)) => {}
                    Some(n) => {
                        self.ports.take(n as u32).map_err(|e| {
                            invalid("spec.healthCheckNodePort".into(), n.to_string(), e)
                        })?;
                        taken_ports.push(n as u32);
                    }
                    None => {
                        let n = self.ports.allocate().map_err(|e| {
                            ApiError::internal(format!(
                                "failed to allocate a healthCheckNodePort: {e}"
                            ))
                        })?;
                        taken_ports.push(n);
                        svc["spec"]["healthCheckNodePort"] = json!(n);
                    }
                }
            } else if let Some(m) = svc["spec"].as_object_mut() {
                m.remove("healthCheckNodePort");
            }
            Ok(())
        })();
        if result.is_err() {
            for ip in taken_ips {
                self.ips.release(crate::alloc::ip_value(ip));
            }
            for p in taken_ports {
                self.ports.release(p);
            }
        }
        result
    }

    /// Releases what `old` held and `new` (None: deleted) no longer does.
    pub(crate) fn release(&mut self, old: &Value, new: Option<&Value>) {
        let keep_ip = new.and_then(cluster_ip_of);
        if let Some(ip) = cluster_ip_of(old).filter(|ip| keep_ip != Some(*ip)) {
            self.ips.release(crate::alloc::ip_value(ip));
        }
        let keep = new.map(node_ports_of).unwrap_or_default();
        for p in node_ports_of(old) {
            if !keep.contains(&p) {
                self.ports.release(p);
            }
        }
    }
}

/// Error carried through the store's read-modify-write back to the handler.
#[derive(Debug)]
struct Rejected(ApiError);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Rejected {}

fn reject(e: ApiError) -> StoreError {
    StoreError::Rejected(Box::new(Rejected(e)))
}

/// Turns a store error into the API error kube-apiserver gives.
pub(crate) fn from_store(info: &ResourceInfo, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::not_found(info.group, info.plural, name),
        StoreError::AlreadyExists(_) => ApiError::already_exists(info.group, info.plural, name),
        StoreError::Conflict { .. } => ApiError::conflict(
            info.group,
            info.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
        StoreError::Gone { requested, oldest } => {
            ApiError::gone(format!("too old resource version: {requested} ({oldest})"))
        }
        StoreError::Rejected(inner) => match inner.downcast::<Rejected>() {
            Ok(r) => r.0,
            Err(other) => ApiError::internal(other.to_string()),
        },
        other => ApiError::internal(other.to_string()),
    }
}

fn admit_error(info: &ResourceInfo, e: AdmitError) -> ApiError {
    match e {
        AdmitError::Decode { message, .. } => ApiError::bad_request(message),
        AdmitError::Invalid { kind, name, errors } => {
            let message = e_message(&kind, &name, &errors);
            let causes = errors
                .iter()
                .map(|fe| Cause {
                    reason: fe.reason().to_string(),
                    message: fe.message(),
                    field: fe.field.clone(),
                })
                .collect();
            ApiError::invalid(info.group, &kind, &name, message, causes)
        }
    }
}

/// `Service "web" is invalid: spec.ports[0].port: Invalid value: ...` (one error) or a bracketed list.
fn e_message(kind: &str, name: &str, errors: &[knet_api::FieldError]) -> String {
    let msgs: Vec<String> = errors.iter().map(|e| e.message()).collect();
    match msgs.as_slice() {
        [one] => format!("{kind} \"{name}\" is invalid: {one}"),
        many => format!("{kind} \"{name}\" is invalid: [{}]", many.join(", ")),
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn set_meta(obj: &mut Value, field: &str, value: Value) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"][field] = value;
}

fn remove_meta(obj: &mut Value, field: &str) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove(field);
    }
}

fn key(info: &ResourceInfo, namespace: Option<&str>, name: &str) -> Key {
    Key {
        resource: info.store_resource(),
        namespace: namespace.map(str::to_string),
        name: name.to_string(),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

/// A request body as JSON: JSON itself, or Kubernetes protobuf (what kubectl sends for built-in types).
fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if knet_proto::is_protobuf(content_type) {
        return knet_proto::decode(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the protobuf request body could not be decoded: {e}"
            ))
        });
    }
    parse_json(body)
}

/// DeleteOptions bodies may be empty.
fn delete_body(body: &[u8], content_type: &str) -> Result<Vec<u8>, ApiError> {
    if body.is_empty() || !knet_proto::is_protobuf(content_type) {
        return Ok(body.to_vec());
    }
    let v = parse_body(body, content_type)?;
    serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.to_string()))
}

/// The apiVersion and kind of a body must be those of the URL (kubectl always sends them).
fn check_type(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let want = info.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(want),
        Some(v) if v == want => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want})"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(info.kind),
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({}) for {}",
                info.kind,
                info.group_resource()
            )));
        }
    }
    Ok(())
}

/// Delete options from the query and the body (metav1.DeleteOptions).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteOptions {
    propagation_policy: Option<String>,
    preconditions: Option<Preconditions>,
    grace_period_seconds: Option<i64>,
    dry_run: Option<Vec<String>>,
    orphan_dependents: Option<bool>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Preconditions {
    uid: Option<String>,
    resource_version: Option<String>,
}

/// Finalizers still holding an object that is being deleted.
fn pending_finalizers(info: &ResourceInfo, obj: &Value) -> bool {
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    if non_empty(obj.get("metadata").and_then(|m| m.get("finalizers"))) {
        return true;
    }
    info.group.is_empty()
        && info.plural == "namespaces"
        && non_empty(obj.get("spec").and_then(|s| s.get("finalizers")))
}

fn random_suffix() -> String {
    // k8s.io/apiserver/pkg/storage/names: 5 characters from an alphabet without vowels.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Fields of an update that only the server sets: copied from the stored object.
fn carry_system_fields(info: &ResourceInfo, old: &Value, new: &mut Value, bump_generation: bool) {
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "selfLink",
    ] {
        match old.get("metadata").and_then(|m| m.get(field)) {
            Some(v) => set_meta(new, field, v.clone()),
            None => remove_meta(new, field),
        }
    }
    remove_meta(new, "resourceVersion");
    if bump_generation && info.has_status && old.get("spec") != new.get("spec") {
        let generation = old
            .get("metadata")
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        set_meta(new, "generation", json!(generation + 1));
    }
}

/// Update of the main resource: admission, then server-owned fields from the stored object.
fn prepare_update(
    info: &'static ResourceInfo,
    old: &Value,
    mut new: Value,
    ctx: &Ctx,
) -> Result<Value, ApiError> {
    check_type(info, &mut new)?;
    compat(info, &mut new, ctx);
    if let Some(rv) = meta_str(&new, "resourceVersion").filter(|s| !s.is_empty()) {
        let current = meta_str(old, "resourceVersion").unwrap_or("");
        if rv != current {
            let name = meta_str(old, "name").unwrap_or("");
            return Err(ApiError::conflict(
                info.group,
                info.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
    }
    for field in ["name", "namespace"] {
        let before = meta_str(old, field).unwrap_or("");
        match meta_str(&new, field) {
            None | Some("") => set_meta(&mut new, field, json!(before)),
            Some(after) if after == before => {}
            Some(after) => {
                return Err(ApiError::bad_request(format!(
                    "the {field} of the object ({after}) does not match the {field} on the URL ({before})"
                )));
            }
        }
    }
    if !info.namespaced {
        remove_meta(&mut new, "namespace");
    }
    let admitted = knet_api::admit_update_with(info, old, new, ctx.validation)
        .map_err(|e| admit_error(info, e))?;
    ctx.warn(admitted.warnings);
    let mut admitted = admitted.object;
    carry_system_fields(info, old, &mut admitted, true);
    Ok(admitted)
}

fn prepare_status_update(
    info: &'static ResourceInfo,
    old: &Value,
    mut new: Value,
    ctx: &Ctx,
) -> Result<Value, ApiError> {
    check_type(info, &mut new)?;
    if let Some(rv) = meta_str(&new, "resourceVersion").filter(|s| !s.is_empty())
        && Some(rv) != meta_str(old, "resourceVersion")
    {
        let name = meta_str(old, "name").unwrap_or("");
        return Err(ApiError::conflict(
            info.group,
            info.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let admitted = knet_api::admit_status_update_with(info, old, new, ctx.validation)
        .map_err(|e| admit_error(info, e))?;
    ctx.warn(admitted.warnings);
    let mut admitted = admitted.object;
    carry_system_fields(info, old, &mut admitted, false);
    Ok(admitted)
}

#[derive(Clone, Copy, Debug)]
enum PatchKind {
    Merge,
    Json,
    Strategic,
}

fn patch_kind(content_type: &str) -> Result<PatchKind, ApiError> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    match base {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Err(ApiError::other(
            415,
            "UnsupportedMediaType",
            "server-side apply is not supported by knet yet: use client-side `kubectl apply` (without --server-side)",
        )),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

fn apply_patch(
    info: &'static ResourceInfo,
    kind: PatchKind,
    current: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    let result = match kind {
        PatchKind::Merge => knet_patch::apply_merge_patch(current, patch),
        PatchKind::Json => knet_patch::apply_json_patch(current, patch),
        PatchKind::Strategic => {
            knet_patch::apply_strategic_merge_patch(current, patch, &info.api_version(), info.kind)
        }
    };
    result.map_err(|e| {
        // The codes kube-apiserver answers for each kind of patch failure.
        let mut err = ApiError::bad_request(format!("the patch could not be applied: {e}"));
        err.code = e.http_status();
        err.reason = match err.code {
            422 => "Invalid",
            413 => "RequestEntityTooLarge",
            500 => "InternalError",
            _ => "BadRequest",
        };
        err
    })
}

impl ApiServer {
    pub(crate) async fn handle(
        &self,
        method: Method,
        target: Target,
        req: Request,
    ) -> Result<Response, ApiError> {
        let query = Query::parse(req.uri().query())?;
        let ctx = Ctx::from_query(&query)?;
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let shape = crate::request::shape(accept.as_deref());
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string();
        let body: Bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;

        match target {
            Target::Collection { info, namespace } => match method {
                Method::GET if query.is_watch() => self.watch(info, namespace, &query, shape).await,
                Method::GET => self.list(info, namespace.as_deref(), &query, shape),
                Method::POST => {
                    if info.namespaced && namespace.is_none() {
                        return Err(ApiError::method_not_allowed(format!(
                            "{} must be created in a namespace: POST to /{}/namespaces/<namespace>/{}",
                            info.plural,
                            if info.group.is_empty() {
                                "api/v1".to_string()
                            } else {
                                format!("apis/{}/{}", info.group, info.version)
                            },
                            info.plural
                        )));
                    }
                    let obj = parse_body(&body, &content_type)?;
                    let created = self.create(info, namespace, obj, &query, &ctx).await?;
                    Ok(ctx.respond(StatusCode::CREATED, &created))
                }
                Method::DELETE => {
                    let body = delete_body(&body, &content_type)?;
                    self.delete_collection(info, namespace.as_deref(), &query, &body)
                        .await
                }
                _ => Err(ApiError::method_not_allowed(format!(
                    "method {method} is not supported on {}",
                    info.plural
                ))),
            },
            Target::Object {
                info,
                namespace,
                name,
                sub,
            } => {
                if info.namespaced && namespace.is_none() {
                    return Err(ApiError::no_route(format!(
                        "{} are namespaced: use /namespaces/<namespace>/{}/{name}",
                        info.plural, info.plural
                    )));
                }
                let ns = namespace.as_deref();
                match (sub.as_deref(), method.clone()) {
                    (None, Method::GET) => self.get(info, ns, &name, shape, &query),
                    (None, Method::PUT) => {
                        let obj = parse_body(&body, &content_type)?;
                        let updated = self.update(info, ns, &name, obj, &query, &ctx).await?;
                        Ok(ctx.respond(StatusCode::OK, &updated))
                    }
                    (None | Some("status"), Method::PATCH) => {
                        if sub.is_some() && !info.has_status {
                            return Err(ApiError::no_route(format!(
                                "{} has no status subresource",
                                info.plural
                            )));
                        }
                        let kind = patch_kind(&content_type)?;
                        let patch = parse_json(&body)?;
                        let patched = self
                            .patch(info, ns, &name, sub.is_some(), kind, patch, &query, &ctx)
                            .await?;
                        Ok(ctx.respond(StatusCode::OK, &patched))
                    }
                    (None, Method::DELETE) => {
                        let body = delete_body(&body, &content_type)?;
                        self.delete(info, ns, &name, &query, &body).await
                    }
                    (Some("status"), Method::GET) if info.has_status => {
                        self.get(info, ns, &name, Shape::Plain, &query)
                    }
                    (Some("status"), Method::PUT) if info.has_status => {
                        let obj = parse_body(&body, &content_type)?;
                        let updated = self
                            .update_status(info, ns, &name, obj, &query, &ctx)
                            .await?;
                        Ok(ctx.respond(StatusCode::OK, &updated))
                    }
                    (Some("scale"), Method::GET | Method::PUT | Method::PATCH)
                        if has_scale(info) =>
                    {
                        let body = if body.is_empty() {
                            None
                        } else if method == Method::PATCH {
                            Some(parse_json(&body)?)
                        } else {
                            Some(parse_body(&body, &content_type)?)
                        };
                        let kind = if method == Method::PATCH {
                            Some(patch_kind(&content_type)?)
                        } else {
                            None
                        };
                        let scale = self
                            .scale(
                                info,
                                ns.unwrap_or("default"),
                                &name,
                                kind,
                                body,
                                &query,
                                &ctx,
                            )
                            .await?;
                        Ok(ctx.respond(StatusCode::OK, &scale))
                    }
                    (Some("log"), Method::GET)
                        if info.group.is_empty() && info.plural == "pods" =>
                    {
                        self.pod_log(ns.unwrap_or("default"), &name, &query)
                    }
                    (Some("binding"), Method::POST)
                        if info.group.is_empty() && info.plural == "pods" =>
                    {
                        let binding = parse_body(&body, &content_type)?;
                        self.bind(info, ns.unwrap_or("default"), &name, binding)
                            .await?;
                        Ok(json_response(
                            StatusCode::CREATED,
                            &crate::status::success(json!({"name": name, "kind": "pods"})),
                        ))
                    }
                    (Some("finalize"), Method::PUT)
                        if info.group.is_empty() && info.plural == "namespaces" =>
                    {
                        let obj = parse_body(&body, &content_type)?;
                        let done = self.finalize_namespace(info, &name, obj).await?;
                        Ok(json_response(StatusCode::OK, &done))
                    }
                    (Some(sub), m) => Err(ApiError::no_route(format!(
                        "the server could not find the requested resource: {} {}/{sub} (method {m})",
                        info.plural, name
                    ))),
                    (None, m) => Err(ApiError::method_not_allowed(format!(
                        "method {m} is not supported on a {}",
                        info.singular
                    ))),
                }
            }
        }
    }

    /// Creates an object given only its JSON (apiVersion/kind pick the resource).
    pub async fn create_value(&self, obj: Value) -> Result<Value, ApiError> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let info = knet_api::find_by_kind(api_version, kind).ok_or_else(|| {
            ApiError::bad_request(format!(
                "no kind {kind:?} is registered for version {api_version:?}"
            ))
        })?;
        let ns = info
            .namespaced
            .then(|| meta_str(&obj, "namespace").unwrap_or("default").to_string());
        self.create(info, ns, obj, &Query::default(), &Ctx::default())
            .await
    }

    async fn create(
        &self,
        info: &'static ResourceInfo,
        url_namespace: Option<String>,
        mut obj: Value,
        query: &Query,
        ctx: &Ctx,
    ) -> Result<Value, ApiError> {
        check_type(info, &mut obj)?;
        compat(info, &mut obj, ctx);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        // Namespace: from the URL; the body may repeat it but not contradict it.
        let namespace = if info.namespaced {
            let body_ns = meta_str(&obj, "namespace")
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            let ns = match (url_namespace, body_ns) {
                (Some(u), Some(b)) if u != b => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                (Some(u), _) => u,
                (None, Some(b)) => b,
                (None, None) => "default".to_string(),
            };
            set_meta(&mut obj, "namespace", json!(ns));
            Some(ns)
        } else {
            remove_meta(&mut obj, "namespace");
            None
        };
        if meta_str(&obj, "resourceVersion").is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        if meta_str(&obj, "name").is_none_or(str::is_empty)
            && let Some(prefix) = meta_str(&obj, "generateName").filter(|s| !s.is_empty())
        {
            let name = format!("{prefix}{}", random_suffix());
            set_meta(&mut obj, "name", json!(name));
        }
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
            "resourceVersion",
        ] {
            remove_meta(&mut obj, field);
        }
        let admitted = knet_api::admit_create_with(info, obj, ctx.validation)
            .map_err(|e| admit_error(info, e))?;
        ctx.warn(admitted.warnings);
        let mut obj = admitted.object;
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        if let Some(ns) = &namespace {
            self.check_namespace_open(info, ns, &name)?;
        }
        set_meta(&mut obj, "uid", json!(uuid::Uuid::new_v4().to_string()));
        set_meta(&mut obj, "creationTimestamp", json!(now_rfc3339()));
        if info.has_status && obj.get("spec").is_some() {
            set_meta(&mut obj, "generation", json!(1));
        }
        if is_service(info) {
            let mut alloc = self.alloc();
            alloc.allocate(None, &mut obj)?;
            if query.is_dry_run() {
                alloc.release(&obj, None);
            }
        }
        if query.is_dry_run() {
            return Ok(obj);
        }
        let key = key(info, namespace.as_deref(), &name);
        let result = self.inner.store.create(&key, obj.clone()).await;
        if result.is_err() && is_service(info) {
            self.alloc().release(&obj, None);
        }
        let stored = result.map_err(|e| from_store(info, &name, e))?;
        Ok(Value::clone(&stored))
    }

    /// New content may go only into a namespace that exists and is not being deleted.
    fn check_namespace_open(
        &self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let ns_key = Key {
            resource: "namespaces".into(),
            namespace: None,
            name: ns.to_string(),
        };
        match self.inner.store.get(&ns_key) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n)
                if n.get("metadata")
                    .and_then(|m| m.get("deletionTimestamp"))
                    .is_some() =>
            {
                Err(ApiError::forbidden(
                    info.group,
                    info.plural,
                    name,
                    format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        crate::status::qualified(info.group, info.plural)
                    ),
                ))
            }
            Some(_) => Ok(()),
        }
    }

    fn get(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        shape: Shape,
        query: &Query,
    ) -> Result<Response, ApiError> {
        let obj = self
            .inner
            .store
            .get(&key(info, namespace, name))
            .ok_or_else(|| ApiError::not_found(info.group, info.plural, name))?;
        let body = match shape {
            Shape::Plain => Value::clone(&obj),
            Shape::Table => {
                let rv = meta_str(&obj, "resourceVersion").unwrap_or("").to_string();
                crate::watch::table_for(info, &[obj], &rv, query)
            }
            Shape::Metadata => partial_metadata(&obj),
        };
        Ok(json_response(StatusCode::OK, &body))
    }

    pub(crate) fn selectors(
        &self,
        info: &'static ResourceInfo,
        query: &Query,
    ) -> Result<(Selector, FieldSelector), ApiError> {
        let labels = match query.label_selector.as_deref() {
            None | Some("") => Selector::everything(),
            Some(s) => Selector::parse(s)
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
        };
        let fields = match query.field_selector.as_deref() {
            None | Some("") => FieldSelector::everything(),
            Some(s) => FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?,
        };
        for term in fields.terms() {
            knet_api::field_value(info, &json!({"metadata": {}}), &term.field)
                .map_err(ApiError::bad_request)?;
        }
        Ok((labels, fields))
    }

    fn list(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<&str>,
        query: &Query,
        shape: Shape,
    ) -> Result<Response, ApiError> {
        let (labels, fields) = self.selectors(info, query)?;
        let (items, rv) = self.inner.store.list(&info.store_resource(), namespace);
        check_list_version(query, rv)?;
        let mut items: Vec<Arc<Value>> = items
            .into_iter()
            .filter(|o| matches(info, o, &labels, &fields))
            .collect();

        // Pagination (limit/continue): the token names the last key returned.
        if let Some(token) = query.continue_token.as_deref().filter(|t| !t.is_empty()) {
            let after = decode_continue(token)?;
            items.retain(|o| sort_key(o) > after);
        }
        let mut continue_token = None;
        let mut remaining = None;
        if let Some(limit) = query.limit.filter(|l| *l > 0)
            && items.len() > limit
        {
            remaining = Some(items.len() - limit);
            items.truncate(limit);
            if let Some(last) = items.last() {
                continue_token = Some(encode_continue(&sort_key(last)));
            }
        }
        let rv = rv.to_string();
        let body = match shape {
            Shape::Table => {
                let mut t = crate::watch::table_for(info, &items, &rv, query);
                if let Some(c) = &continue_token {
                    t["metadata"]["continue"] = json!(c);
                }
                t
            }
            Shape::Metadata => {
                let items: Vec<Value> = items.iter().map(|o| partial_metadata(o)).collect();
                json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {"resourceVersion": rv}, "items": items})
            }
            Shape::Plain => {
                let items: Vec<&Value> = items.iter().map(|o| o.as_ref()).collect();
                let mut list = json!({
                    "apiVersion": info.api_version(),
                    "kind": info.list_kind(),
                    "metadata": {"resourceVersion": rv},
                    "items": items,
                });
                if let Some(c) = &continue_token {
                    list["metadata"]["continue"] = json!(c);
                }
                if let Some(r) = remaining {
                    list["metadata"]["remainingItemCount"] = json!(r);
                }
                list
            }
        };
        Ok(json_response(StatusCode::OK, &body))
    }

    fn alloc(&self) -> std::sync::MutexGuard<'_, Allocators> {
        self.inner
            .alloc
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Read-modify-write of one object: `compute` turns the stored object into the new one. A dry
    /// run computes against the current object and stores nothing; otherwise the store runs
    /// `compute` on its writer, so no concurrent update is lost.
    async fn modify(
        &self,
        info: &'static ResourceInfo,
        key: &Key,
        dry_run: bool,
        compute: impl FnOnce(&Value) -> Result<Value, ApiError> + Send + 'static,
    ) -> Result<Arc<Value>, ApiError> {
        let name = key.name.clone();
        if dry_run {
            let current = self
                .inner
                .store
                .get(key)
                .ok_or_else(|| ApiError::not_found(info.group, info.plural, &name))?;
            return compute(&current).map(Arc::new);
        }
        let n = name.clone();
        let alloc = is_service(info).then(|| self.inner.alloc.clone());
        self.inner
            .store
            .guaranteed_update(key, move |current| {
                let current = current
                    .ok_or_else(|| reject(ApiError::not_found(info.group, info.plural, &n)))?;
                let mut new = compute(current).map_err(reject)?;
                // A Service that becomes a NodePort gets its ports; one that stops being one frees them.
                if let Some(alloc) = alloc {
                    let mut a = alloc
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    a.allocate(Some(current), &mut new).map_err(reject)?;
                    a.release(current, Some(&new));
                }
                Ok(new)
            })
            .await
            .map_err(|e| from_store(info, &name, e))
    }

    async fn update(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        obj: Value,
        query: &Query,
        ctx: &Ctx,
    ) -> Result<Value, ApiError> {
        let key = key(info, namespace, name);
        let ctx = ctx.clone();
        let updated = self
            .modify(info, &key, query.is_dry_run(), move |current| {
                prepare_update(info, current, obj, &ctx)
            })
            .await?;
        if query.is_dry_run() {
            return Ok(Value::clone(&updated));
        }
        self.finalize_if_done(info, &key, updated).await
    }

    async fn update_status(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        obj: Value,
        query: &Query,
        ctx: &Ctx,
    ) -> Result<Value, ApiError> {
        let key = key(info, namespace, name);
        let ctx = ctx.clone();
        let updated = self
            .modify(info, &key, query.is_dry_run(), move |current| {
                prepare_status_update(info, current, obj, &ctx)
            })
            .await?;
        Ok(Value::clone(&updated))
    }

    #[allow(clippy::too_many_arguments)]
    async fn patch(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        status: bool,
        kind: PatchKind,
        patch: Value,
        query: &Query,
        ctx: &Ctx,
    ) -> Result<Value, ApiError> {
        let key = key(info, namespace, name);
        let ctx = ctx.clone();
        let updated = self
            .modify(info, &key, query.is_dry_run(), move |current| {
                let patched = apply_patch(info, kind, current, &patch)?;
                if status {
                    prepare_status_update(info, current, patched, &ctx)
                } else {
                    prepare_update(info, current, patched, &ctx)
                }
            })
            .await?;
        if query.is_dry_run() {
            return Ok(Value::clone(&updated));
        }
        self.finalize_if_done(info, &key, updated).await
    }

    /// An object whose deletion waited for finalizers goes once the last one is removed.
    async fn finalize_if_done(
        &self,
        info: &'static ResourceInfo,
        key: &Key,
        obj: Arc<Value>,
    ) -> Result<Value, ApiError> {
        let deleting = obj
            .get("metadata")
            .and_then(|m| m.get("deletionTimestamp"))
            .is_some();
        // A graceful deletion still running (a pod whose agent is stopping it) is finished by a
        // delete with grace period 0, not by the last finalizer going.
        let grace_left = obj
            .get("metadata")
            .and_then(|m| m.get("deletionGracePeriodSeconds"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if !deleting || grace_left > 0 || pending_finalizers(info, &obj) {
            return Ok(Value::clone(&obj));
        }
        let uid = meta_str(&obj, "uid").unwrap_or("").to_string();
        match self.inner.store.delete(key, Precondition::Uid(uid)).await {
            Ok(last) => {
                if is_service(info) {
                    self.alloc().release(&last, None);
                }
                Ok(Value::clone(&last))
            }
            Err(StoreError::NotFound(_)) => Ok(Value::clone(&obj)),
            Err(e) => Err(from_store(info, &key.name, e)),
        }
    }

    async fn bind(
        &self,
        info: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        binding: Value,
    ) -> Result<(), ApiError> {
        let node = binding
            .get("target")
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad_request("a Binding needs target.name (the node)"))?
            .to_string();
        let key = key(info, Some(namespace), name);
        let n = name.to_string();
        self.inner
            .store
            .guaranteed_update(&key, move |current| {
                let current = current.ok_or_else(|| reject(ApiError::not_found("", "pods", &n)))?;
                if current.get("metadata").and_then(|m| m.get("deletionTimestamp")).is_some() {
                    return Err(reject(ApiError::conflict("", "pods", &n, "the pod is being deleted")));
                }
                let assigned = current
                    .get("spec")
                    .and_then(|s| s.get("nodeName"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !assigned.is_empty() {
                    // pkg/registry/core/pod/storage/storage.go: assignPod
                    return Err(reject(ApiError::conflict(
                        "",
                        "pods",
                        &n,
                        format!("pod {n} is already assigned to node \"{assigned}\""),
                    )));
                }
                let mut pod = current.clone();
                pod["spec"]["nodeName"] = json!(node);
                let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now_rfc3339()});
                let conds = pod["status"]
                    .get("conditions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut conds: Vec<Value> = conds
                    .into_iter()
                    .filter(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"))
                    .collect();
                conds.push(cond);
                if !pod.get("status").is_some_and(Value::is_object) {
                    pod["status"] = json!({});
                }
                pod["status"]["conditions"] = Value::Array(conds);
                remove_meta(&mut pod, "resourceVersion");
                Ok(pod)
            })
            .await
            .map_err(|e| from_store(info, name, e))?;
        Ok(())
    }

    /// `pods/{name}/log`, answered by the node agents (see [`crate::PodLogs`]).
    fn pod_log(&self, namespace: &str, name: &str, query: &Query) -> Result<Response, ApiError> {
        let (pod, container) = self.pod_container(namespace, name, query.container.as_deref())?;
        let Some(logs) = self.inner.pod_logs.get() else {
            return Err(ApiError::unavailable(format!(
                "no node agent serves the logs of pod {name}: knet's node agents are not running"
            )));
        };
        let options = crate::LogOptions {
            container,
            follow: query.follow.unwrap_or(false),
            previous: query.previous.unwrap_or(false),
            tail_lines: query.tail_lines,
            timestamps: query.timestamps.unwrap_or(false),
        };
        let stream = logs.logs(&pod, &options)?;
        let mut resp = Response::new(axum::body::Body::from_stream(stream));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("text/plain"),
        );
        Ok(resp)
    }

    /// A pod and the container a `log` or `exec` request means: the one named, or the pod's only
    /// one (pkg/registry/core/pod/strategy.go: it must be named when there are several).
    pub(crate) fn pod_container(
        &self,
        namespace: &str,
        name: &str,
        requested: Option<&str>,
    ) -> Result<(Arc<Value>, String), ApiError> {
        let pod = self
            .inner
            .store
            .get(&Key {
                resource: "pods".into(),
                namespace: Some(namespace.to_string()),
                name: name.to_string(),
            })
            .ok_or_else(|| ApiError::not_found("", "pods", name))?;
        let containers: Vec<String> = pod
            .get("spec")
            .and_then(|s| s.get("containers"))
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let container = match requested.filter(|c| !c.is_empty()) {
            Some(c) if containers.iter().any(|x| x == c) => c.to_string(),
            Some(c) => {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            None if containers.len() == 1 => containers[0].clone(),
            None => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                )));
            }
        };
        Ok((pod, container))
    }

    /// `pods/{name}/exec` and `pods/{name}/attach` (see [`crate::exec`]): the node agents start
    /// the session, this server speaks the protocol.
    pub(crate) async fn pod_stream(
        &self,
        namespace: &str,
        name: &str,
        attach: bool,
        req: Request,
    ) -> Result<Response, ApiError> {
        let mut options = crate::exec::parse_query(req.uri().query().unwrap_or(""), attach)?;
        let requested = Some(options.container.as_str());
        let (pod, container) = self.pod_container(namespace, name, requested)?;
        options.container = container;
        let phase = pod["status"]["phase"].as_str().unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            // pkg/registry/core/pod/rest/subresources.go (streamLocation).
            let verb = if attach { "attach" } else { "exec" };
            return Err(ApiError::bad_request(format!(
                "cannot {verb} into a container in a completed pod; current phase is {phase}"
            )));
        }
        let Some(exec) = self.inner.pod_exec.get().cloned() else {
            return Err(ApiError::unavailable(format!(
                "no node agent runs pod {name}: knet's node agents are not running"
            )));
        };
        crate::exec::serve(req, options, |o| {
            if attach {
                exec.attach(&pod, o)
            } else {
                exec.exec(&pod, o)
            }
        })
        .await
    }

    /// The `scale` subresource (autoscaling/v1 Scale) of Deployments and ReplicaSets.
    async fn scale(
        &self,
        info: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        patch: Option<PatchKind>,
        body: Option<Value>,
        query: &Query,
        ctx: &Ctx,
    ) -> Result<Value, ApiError> {
        let key = key(info, Some(namespace), name);
        let ctx = ctx.clone();
        let current = self
            .inner
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(info.group, info.plural, name))?;
        let Some(body) = body else {
            return Ok(scale_of(&current));
        };
        let n = name.to_string();
        let compute = move |current: &Value| -> Result<Value, ApiError> {
            let scale = scale_of(current);
            let wanted = match patch {
                Some(kind) => apply_patch(info, kind, &scale, &body)?,
                None => body.clone(),
            };
            if let Some(rv) = meta_str(&wanted, "resourceVersion").filter(|s| !s.is_empty())
                && Some(rv) != meta_str(current, "resourceVersion")
            {
                return Err(ApiError::conflict(
                    info.group,
                    info.plural,
                    &n,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
            let replicas = wanted
                .get("spec")
                .and_then(|s| s.get("replicas"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let mut obj = current.clone();
            obj["spec"]["replicas"] = json!(replicas);
            remove_meta(&mut obj, "resourceVersion");
            prepare_update(info, current, obj, &ctx)
        };
        let updated = self.modify(info, &key, query.is_dry_run(), compute).await?;
        Ok(scale_of(&updated))
    }

    async fn finalize_namespace(
        &self,
        info: &'static ResourceInfo,
        name: &str,
        obj: Value,
    ) -> Result<Value, ApiError> {
        let finalizers = obj
            .get("spec")
            .and_then(|s| s.get("finalizers"))
            .cloned()
            .unwrap_or_else(|| json!([]));
        let key = key(info, None, name);
        let n = name.to_string();
        let updated = self
            .inner
            .store
            .guaranteed_update(&key, move |current| {
                let current =
                    current.ok_or_else(|| reject(ApiError::not_found("", "namespaces", &n)))?;
                let mut ns = current.clone();
                if !ns.get("spec").is_some_and(Value::is_object) {
                    ns["spec"] = json!({});
                }
                ns["spec"]["finalizers"] = finalizers;
                remove_meta(&mut ns, "resourceVersion");
                Ok(ns)
            })
            .await
            .map_err(|e| from_store(info, name, e))?;
        self.finalize_if_done(info, &key, updated).await
    }

    async fn delete(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        query: &Query,
        body: &[u8],
    ) -> Result<Response, ApiError> {
        let mut opts: DeleteOptions = if body.is_empty() {
            DeleteOptions::default()
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        if opts.propagation_policy.is_none() {
            opts.propagation_policy = query.propagation_policy.clone();
        }
        if opts.propagation_policy.is_none() && opts.orphan_dependents == Some(true) {
            opts.propagation_policy = Some("Orphan".into());
        }
        if opts.grace_period_seconds.is_none() {
            opts.grace_period_seconds = query.grace_period_seconds;
        }
        let dry_run = query.is_dry_run()
            || opts
                .dry_run
                .as_ref()
                .is_some_and(|d| d.iter().any(|s| s == "All"));
        let key = key(info, namespace, name);
        let current = self
            .inner
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(info.group, info.plural, name))?;
        if let Some(pre) = &opts.preconditions {
            if let Some(uid) = pre.uid.as_deref().filter(|u| !u.is_empty())
                && Some(uid) != meta_str(&current, "uid")
            {
                return Err(ApiError::conflict(
                    info.group,
                    info.plural,
                    name,
                    format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta_str(&current, "uid").unwrap_or("")
                    ),
                ));
            }
            if let Some(rv) = pre.resource_version.as_deref().filter(|r| !r.is_empty())
                && Some(rv) != meta_str(&current, "resourceVersion")
            {
                return Err(ApiError::conflict(
                    info.group,
                    info.plural,
                    name,
                    format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        meta_str(&current, "resourceVersion").unwrap_or("")
                    ),
                ));
            }
        }
        let extra_finalizer = match opts.propagation_policy.as_deref() {
            None | Some("Background") => None,
            Some("Orphan") => Some("orphan"),
            Some("Foreground") => Some("foregroundDeletion"),
            Some(other) => {
                return Err(ApiError::invalid(
                    info.group,
                    info.kind,
                    name,
                    format!(
                        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                    ),
                    vec![Cause {
                        reason: "FieldValueNotSupported".into(),
                        message: format!("Unsupported value: \"{other}\""),
                        field: "propagationPolicy".into(),
                    }],
                ));
            }
        };
        if dry_run {
            return Ok(json_response(StatusCode::OK, &current));
        }
        let pod_grace = self.pod_grace_period(info, &current, opts.grace_period_seconds);
        let graceful =
            extra_finalizer.is_some() || pending_finalizers(info, &current) || pod_grace.is_some();
        if !graceful {
            let uid = meta_str(&current, "uid").unwrap_or("").to_string();
            let last = self
                .inner
                .store
                .delete(&key, Precondition::Uid(uid))
                .await
                .map_err(|e| from_store(info, name, e))?;
            if is_service(info) {
                self.alloc().release(&last, None);
            }
            return Ok(json_response(StatusCode::OK, &last));
        }
        // Deletion waits for finalizers: mark the object (k8s.io/apiserver/.../store.go updateForGracefulDeletionAndFinalizers).
        let n = name.to_string();
        let updated = self
            .inner
            .store
            .guaranteed_update(&key, move |cur| {
                let cur =
                    cur.ok_or_else(|| reject(ApiError::not_found(info.group, info.plural, &n)))?;
                let mut obj = cur.clone();
                if obj["metadata"].get("deletionTimestamp").is_none() {
                    set_meta(&mut obj, "deletionTimestamp", json!(now_rfc3339()));
                    set_meta(
                        &mut obj,
                        "deletionGracePeriodSeconds",
                        json!(pod_grace.unwrap_or(0)),
                    );
                } else if let Some(g) = pod_grace {
                    // A second delete may shorten the grace period, never lengthen it.
                    let before = obj["metadata"]["deletionGracePeriodSeconds"]
                        .as_i64()
                        .unwrap_or(g);
                    set_meta(&mut obj, "deletionGracePeriodSeconds", json!(g.min(before)));
                }
                if let Some(f) = extra_finalizer {
                    let mut fins: Vec<Value> = obj["metadata"]
                        .get("finalizers")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if !fins.iter().any(|x| x == f) {
                        fins.push(json!(f));
                    }
                    set_meta(&mut obj, "finalizers", Value::Array(fins));
                }
                if info.group.is_empty() && info.plural == "namespaces" {
                    if !obj.get("status").is_some_and(Value::is_object) {
                        obj["status"] = json!({});
                    }
                    obj["status"]["phase"] = json!("Terminating");
                }
                remove_meta(&mut obj, "resourceVersion");
                Ok(obj)
            })
            .await
            .map_err(|e| from_store(info, name, e))?;
        let result = self.finalize_if_done(info, &key, updated).await?;
        Ok(json_response(StatusCode::OK, &result))
    }

    /// Graceful deletion of pods (pkg/registry/core/pod/strategy.go CheckGracefulDelete): a pod
    /// that runs on a node with an agent is marked with a deletionTimestamp and a grace period;
    /// the node's agent stops its containers and then deletes it with grace 0. Unscheduled and
    /// finished pods, and a grace period of 0, delete at once.
    fn pod_grace_period(
        &self,
        info: &ResourceInfo,
        pod: &Value,
        requested: Option<i64>,
    ) -> Option<i64> {
        if !(info.group.is_empty() && info.plural == "pods") {
            return None;
        }
        if !self
            .inner
            .graceful_pods
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let scheduled = pod["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty());
        let finished = matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        );
        let grace = requested
            .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30)
            .max(0);
        (scheduled && !finished && grace > 0).then_some(grace)
    }

    async fn delete_collection(
        &self,
        info: &'static ResourceInfo,
        namespace: Option<&str>,
        query: &Query,
        body: &[u8],
    ) -> Result<Response, ApiError> {
        let (labels, fields) = self.selectors(info, query)?;
        let (items, rv) = self.inner.store.list(&info.store_resource(), namespace);
        let mut deleted = Vec::new();
        for item in items.iter().filter(|o| matches(info, o, &labels, &fields)) {
            let name = meta_str(item, "name").unwrap_or("").to_string();
            let ns = meta_str(item, "namespace").map(str::to_string);
            match self.delete(info, ns.as_deref(), &name, query, body).await {
                Ok(_) => deleted.push(Value::clone(item)),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let list = json!({
            "apiVersion": info.api_version(),
            "kind": info.list_kind(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": deleted,
        });
        Ok(json_response(StatusCode::OK, &list))
    }
}

fn has_scale(info: &ResourceInfo) -> bool {
    info.group == "apps" && matches!(info.plural, "deployments" | "replicasets")
}

/// autoscaling/v1 Scale of a Deployment or ReplicaSet.
fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .get("spec")
        .and_then(|s| s.get("selector"))
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.get("spec").and_then(|s| s.get("replicas")).cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.get("status").and_then(|s| s.get("replicas")).cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// `resourceVersion` on a list (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions):
/// unset or "0" is served from the current state; `NotOlderThan` (the default for a set version) is
/// served when the store has reached it, else 504 "Too large resource version" as kube-apiserver
/// answers; `Exact` is served only for the current revision, since the store keeps no snapshots of the
/// past: an older one is 410 Expired, and clients relist.
fn check_list_version(query: &Query, current: u64) -> Result<(), ApiError> {
    let requested = match query.resource_version.as_deref() {
        None | Some("") | Some("0") => return Ok(()),
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version {s:?}")))?,
    };
    if requested > current {
        return Err(ApiError::other(
            504,
            "Timeout",
            format!("Too large resource version: {requested}, current: {current}"),
        ));
    }
    match query.resource_version_match.as_deref() {
        Some("Exact") if requested != current => Err(ApiError::gone(format!(
            "too old resource version: {requested} ({current})"
        ))),
        None | Some("") | Some("NotOlderThan") | Some("Exact") => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
        ))),
    }
}

/// Whether an object passes label and field selectors.
pub(crate) fn matches(
    info: &ResourceInfo,
    obj: &Value,
    labels: &Selector,
    fields: &FieldSelector,
) -> bool {
    let labels_ok =
        labels.is_empty() || labels.matches_json(obj.get("metadata").and_then(|m| m.get("labels")));
    labels_ok
        && (fields.is_empty() || fields.matches(&|f| knet_api::field_value(info, obj, f).ok()))
}

/// PartialObjectMetadata for an object.
pub(crate) fn partial_metadata(obj: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn sort_key(obj: &Value) -> String {
    format!(
        "{}/{}",
        meta_str(obj, "namespace").unwrap_or(""),
        meta_str(obj, "name").unwrap_or("")
    )
}

fn encode_continue(after: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"start": after}).to_string())
}

fn decode_continue(token: &str) -> Result<String, ApiError> {
    use base64::Engine;
    let bad = || ApiError::bad_request("continue key is not valid: invalid continue token");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    v.get("start")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(rv: &str, m: Option<&str>) -> Query {
        Query {
            resource_version: Some(rv.into()),
            resource_version_match: m.map(str::to_string),
            ..Query::default()
        }
    }

    #[test]
    fn lists_at_a_resource_version_follow_kube_apiserver() {
        assert!(check_list_version(&q("0", None), 10).is_ok());
        assert!(
            check_list_version(&q("7", None), 10).is_ok(),
            "not older than 7"
        );
        assert!(check_list_version(&q("10", Some("Exact")), 10).is_ok());
        assert_eq!(
            check_list_version(&q("7", Some("Exact")), 10)
                .unwrap_err()
                .code,
            410
        );
        assert_eq!(
            check_list_version(&q("11", None), 10).unwrap_err().code,
            504
        );
        assert_eq!(check_list_version(&q("x", None), 10).unwrap_err().code, 400);
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue("default/web-1");
        assert_eq!(decode_continue(&t).unwrap(), "default/web-1");
        assert!(decode_continue("!!!").is_err());
    }

    #[test]
    fn patch_content_types_are_recognised() {
        assert!(matches!(
            patch_kind("application/strategic-merge-patch+json").unwrap(),
            PatchKind::Strategic
        ));
        assert!(matches!(
            patch_kind("application/merge-patch+json; charset=utf-8").unwrap(),
            PatchKind::Merge
        ));
        assert!(matches!(
            patch_kind("application/json-patch+json").unwrap(),
            PatchKind::Json
        ));
        assert_eq!(
            patch_kind("application/apply-patch+yaml").unwrap_err().code,
            415
        );
        assert_eq!(patch_kind("text/plain").unwrap_err().code, 415);
    }

    #[test]
    fn generated_names_use_the_upstream_alphabet() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
