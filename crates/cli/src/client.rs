//! Talking to the API server like any client: kube-rs with the cluster's kubeconfig, raw JSON
//! requests, and kubectl-style error messages.

use std::path::Path;

use anyhow::{Context, Result};
use knet_api::ResourceInfo;
use serde_json::Value;

/// A client from a kubeconfig file.
pub async fn connect(kubeconfig: &Path) -> Result<kube::Client> {
    let text = std::fs::read_to_string(kubeconfig).with_context(|| {
        format!(
            "reading the kubeconfig {} (is the cluster up? run `knet up`)",
            kubeconfig.display()
        )
    })?;
    client_from_kubeconfig_text(&text).await
}

/// A client from kubeconfig YAML.
pub async fn client_from_kubeconfig_text(text: &str) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(text).context("parsing the kubeconfig")?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("building the API client")
}

/// The URL path of a collection or object.
pub fn path(info: &ResourceInfo, namespace: Option<&str>, name: Option<&str>) -> String {
    let mut p = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    if info.namespaced
        && let Some(ns) = namespace
    {
        p.push_str(&format!("/namespaces/{ns}"));
    }
    p.push('/');
    p.push_str(info.plural);
    if let Some(n) = name {
        p.push('/');
        p.push_str(n);
    }
    p
}

/// Sends a request with an optional JSON body and returns the JSON answer.
pub async fn send(
    client: &kube::Client,
    method: http::Method,
    path: &str,
    body: Option<&Value>,
    content_type: Option<&str>,
) -> Result<Value, kube::Error> {
    let mut builder = http::Request::builder().method(method).uri(path);
    let bytes = match body {
        Some(b) => {
            builder = builder.header(
                http::header::CONTENT_TYPE,
                content_type.unwrap_or("application/json"),
            );
            serde_json::to_vec(b).map_err(kube::Error::SerdeError)?
        }
        None => Vec::new(),
    };
    let req = builder.body(bytes).map_err(kube::Error::HttpError)?;
    client.request::<Value>(req).await
}

/// GET that answers None on 404.
pub async fn get_opt(client: &kube::Client, path: &str) -> Result<Option<Value>, kube::Error> {
    match send(client, http::Method::GET, path, None, None).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// kubectl's wording: `Error from server (NotFound): pods "x" not found`.
pub fn describe_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() {
                "Unknown"
            } else {
                s.reason.as_str()
            };
            format!("Error from server ({reason}): {}", s.message)
        }
        other => format!("error: {other}"),
    }
}

/// `deployment.apps/web`, `pod/web-1` (kubectl's resource/name form).
pub fn kind_name(info: &ResourceInfo, name: &str) -> String {
    if info.group.is_empty() {
        format!("{}/{name}", info.kind.to_lowercase())
    } else {
        format!("{}.{}/{name}", info.kind.to_lowercase(), info.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_kubernetes_rest_layout() {
        let pods = knet_api::find_by_name("pods").unwrap();
        assert_eq!(
            path(pods, Some("default"), Some("web")),
            "/api/v1/namespaces/default/pods/web"
        );
        assert_eq!(path(pods, None, None), "/api/v1/pods");
        let deploy = knet_api::find_by_name("deploy").unwrap();
        assert_eq!(
            path(deploy, Some("a"), None),
            "/apis/apps/v1/namespaces/a/deployments"
        );
        let nodes = knet_api::find_by_name("nodes").unwrap();
        assert_eq!(path(nodes, Some("ignored"), Some("n1")), "/api/v1/nodes/n1");
        assert_eq!(kind_name(deploy, "web"), "deployment.apps/web");
    }
}
