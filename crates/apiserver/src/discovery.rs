//! Discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`), `/version`
//! and the OpenAPI v3 index kubectl reads to learn that the server validates fields itself.

use std::collections::BTreeMap;

use knet_api::ResourceInfo;
use serde_json::{Value, json};

/// Kubernetes version knet's API mirrors (k8s-openapi's `v1_33`).
pub const KUBE_MINOR: &str = "33";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBE_MINOR,
        "emulationMajor": "1",
        "emulationMinor": KUBE_MINOR,
        "gitVersion": format!("v1.{KUBE_MINOR}.0-knet.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "knet",
        "gitTreeState": "clean",
        "buildDate": "2026-11-27T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Groups (other than core) and their versions, in a stable order.
fn groups() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut groups: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    for r in knet_api::resources() {
        if r.group.is_empty() {
            continue;
        }
        let versions = groups.entry(r.group).or_default();
        if !versions.contains(&r.version) {
            versions.push(r.version);
        }
    }
    groups
}

/// `/api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

fn group_json(name: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": name, "versions": vs, "preferredVersion": preferred})
}

/// `/apis`.
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups()
        .iter()
        .map(|(name, versions)| group_json(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(name: &str) -> Option<Value> {
    let groups = groups();
    let versions = groups.get(name)?;
    let mut g = group_json(name, versions);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

/// Subresources served for a resource, with whether they are namespaced like their parent.
fn subresources(r: &ResourceInfo) -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let mut subs = Vec::new();
    if r.has_status {
        subs.push(("status", r.kind, vec!["get", "patch", "update"]));
    }
    match (r.group, r.plural) {
        ("", "pods") => {
            subs.push(("binding", "Binding", vec!["create"]));
            subs.push(("log", "Pod", vec!["get"]));
            subs.push(("exec", "PodExecOptions", vec!["create", "get"]));
            subs.push(("attach", "PodAttachOptions", vec!["create", "get"]));
        }
        ("", "namespaces") => subs.push(("finalize", "Namespace", vec!["update"])),
        ("apps", "deployments" | "replicasets") => {
            subs.push(("scale", "Scale", vec!["get", "patch", "update"]))
        }
        _ => {}
    }
    subs
}

/// `/api/v1` or `/apis/<group>/<version>`: the resources of one group version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<&ResourceInfo> = knet_api::resources()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for r in &rs {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        out.push(entry);
        for (sub, kind, verbs) in subresources(r) {
            let mut e = json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if sub == "scale" {
                e["group"] = json!("autoscaling");
                e["version"] = json!("v1");
            }
            out.push(e);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}),
    )
}

/// `/openapi/v2`: a Swagger 2.0 document without definitions. kubectl fetches it (as protobuf)
/// before client-side validation of kinds the server does not serve; with no definitions it skips
/// that validation and reports the unknown kind itself ("no matches for kind ... in version ..."),
/// as against any Kubernetes server (k8s.io/kubectl/pkg/util/openapi/validation).
pub fn openapi_v2(accept: Option<&str>) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    // kube-apiserver answers with this spelling: Go's mime parser rejects the `@` of the Accept form.
    const PB: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
    if accept.is_some_and(|a| a.contains("protobuf")) {
        // gnostic openapi_v2.Document { swagger (field 1) = "2.0" }
        let body: Vec<u8> = vec![0x0a, 0x03, b'2', b'.', b'0'];
        let mut resp = axum::response::Response::new(axum::body::Body::from(body));
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PB));
        return resp;
    }
    crate::json_response(
        StatusCode::OK,
        &json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": format!("v1.{KUBE_MINOR}.0")}, "paths": {}}),
    )
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_v3_root() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": "/openapi/v3/api/v1"}),
    );
    for (g, versions) in groups() {
        for v in versions {
            paths.insert(
                format!("apis/{g}/{v}"),
                json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<gv path>`: a minimal OpenAPI document. It lists every object path with its
/// PATCH operation, its group-version-kind and the `fieldValidation` query parameter. kubectl
/// (k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go) reads exactly this to decide that
/// the server validates fields itself, so `kubectl apply` sends `fieldValidation=Strict` instead of
/// needing the full schema. Schemas are not published: kubectl then computes strategic merge
/// patches from its compiled-in types, as it does for any server without them.
pub fn openapi_v3_doc(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<&ResourceInfo> = knet_api::resources()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    for r in rs {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ]);
        let op = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", r.kind),
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        paths.insert(
            path,
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
        let collection = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        paths.insert(collection, json!({"get": op("list"), "post": op("post")}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{KUBE_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": schemas(group, version)},
    }))
}

/// The schema name of `T`, its schema and those it refers to added to `generator`.
fn add<T: schemars::JsonSchema>(generator: &mut schemars::SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// `components.schemas` of `group/version`: the upstream OpenAPI schemas of its served kinds
/// (k8s-openapi carries them) and every schema they refer to, each kind's marked with
/// `x-kubernetes-group-version-kind`, which is how `kubectl explain` finds them. Built once.
fn schemas(group: &str, version: &str) -> Value {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, Value>>> =
        std::sync::OnceLock::new();
    let key = format!("{group}/{version}");
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return found;
    }
    use k8s_openapi::api::{apps, core, discovery, networking};
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    let g = &mut generator;
    let kinds: Vec<(String, &str)> = knet_api::resources()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .filter_map(|r| {
            let name = match (r.group, r.kind) {
                ("", "Namespace") => add::<core::v1::Namespace>(g),
                ("", "Node") => add::<core::v1::Node>(g),
                ("", "Pod") => add::<core::v1::Pod>(g),
                ("", "Service") => add::<core::v1::Service>(g),
                ("", "Endpoints") => add::<core::v1::Endpoints>(g),
                ("", "ConfigMap") => add::<core::v1::ConfigMap>(g),
                ("", "Secret") => add::<core::v1::Secret>(g),
                ("", "Event") => add::<core::v1::Event>(g),
                ("discovery.k8s.io", "EndpointSlice") => add::<discovery::v1::EndpointSlice>(g),
                ("apps", "Deployment") => add::<apps::v1::Deployment>(g),
                ("apps", "ReplicaSet") => add::<apps::v1::ReplicaSet>(g),
                ("networking.k8s.io", "NetworkPolicy") => add::<networking::v1::NetworkPolicy>(g),
                ("networking.k8s.io", "Ingress") => add::<networking::v1::Ingress>(g),
                ("networking.k8s.io", "IngressClass") => add::<networking::v1::IngressClass>(g),
                _ => return None,
            };
            Some((name, r.kind))
        })
        .collect();
    let mut definitions = generator.take_definitions(true);
    for (name, kind) in kinds {
        if let Some(Value::Object(schema)) = definitions.get_mut(&name) {
            let gvk = json!([{"group": group, "version": version, "kind": kind}]);
            schema.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
    }
    let value = Value::Object(definitions);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, value.clone());
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_v3_carries_the_kinds_schemas_marked_with_their_gvk() {
        let doc = openapi_v3_doc("", "v1").unwrap();
        let schemas = &doc["components"]["schemas"];
        let svc = &schemas["io.k8s.api.core.v1.Service"];
        assert_eq!(
            svc["x-kubernetes-group-version-kind"],
            json!([{"group": "", "version": "v1", "kind": "Service"}])
        );
        assert!(svc["properties"]["spec"].is_object());
        // What a kind refers to is there too, unmarked.
        let spec = &schemas["io.k8s.api.core.v1.ServiceSpec"];
        assert!(spec["properties"]["sessionAffinity"]["description"].is_string());
        assert!(spec.get("x-kubernetes-group-version-kind").is_none());
        let apps = openapi_v3_doc("apps", "v1").unwrap();
        let deploy = &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deploy["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
    }

    #[test]
    fn core_v1_lists_pods_with_their_subresources() {
        let list = resource_list("", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods"));
        assert!(names.contains(&"pods/status"));
        assert!(names.contains(&"pods/binding"));
        assert!(names.contains(&"namespaces/finalize"));
    }

    #[test]
    fn apis_lists_apps_and_networking() {
        let groups = group_list();
        let names: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"apps"));
        assert!(names.contains(&"networking.k8s.io"));
        assert!(names.contains(&"discovery.k8s.io"));
    }

    #[test]
    fn openapi_patch_operations_declare_field_validation() {
        let doc = openapi_v3_doc("apps", "v1").unwrap();
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert_eq!(op["parameters"][0]["name"], "fieldValidation");
    }
}
