//! `knet apply`, `knet create` and `knet delete` of manifests and named objects, reporting each
//! object's outcome like kubectl (`deployment.apps/web created`), and every error with the file,
//! document, line and object it concerns.

use std::time::{Duration, Instant};

use anyhow::Result;
use knet_api::ResourceInfo;
use knet_manifest::Document;
use serde_json::{Value, json};

use crate::client::{self, describe_error, kind_name};
use crate::get::Scope;

/// kubectl's annotation holding the last applied configuration.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What to do with each manifest object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Create or update (client-side apply with the last-applied annotation).
    Apply,
    /// Create only.
    Create,
    /// Delete.
    Delete,
}

/// Options shared by manifest commands.
#[derive(Clone, Debug, Default)]
pub struct ManifestOptions {
    /// `-f` values.
    pub files: Vec<String>,
    /// `-R`.
    pub recursive: bool,
    /// `-n`.
    pub namespace: Option<String>,
    /// `--dry-run=server`.
    pub dry_run: bool,
    /// `--ignore-not-found` (delete).
    pub ignore_not_found: bool,
    /// `--wait` (delete): wait until objects are gone.
    pub wait: bool,
}

fn verb(mode: Mode) -> &'static str {
    match mode {
        Mode::Apply => "applying",
        Mode::Create => "creating",
        Mode::Delete => "deleting",
    }
}

struct Target<'a> {
    info: &'static ResourceInfo,
    namespace: Option<String>,
    name: String,
    doc: &'a Document,
}

fn resolve<'a>(
    doc: &'a Document,
    namespace_flag: Option<&str>,
    mode: Mode,
) -> Result<Target<'a>, String> {
    let api_version = doc.object["apiVersion"].as_str().unwrap_or("");
    let kind = doc.object["kind"].as_str().unwrap_or("");
    let name = doc.object["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let info = knet_api::find_by_kind(api_version, kind).ok_or_else(|| {
        let known = knet_api::resources()
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.api_version())
            .collect::<Vec<_>>();
        let hint = if known.is_empty() {
            format!("knet serves no kind {kind:?}")
        } else {
            format!("{kind} is served as apiVersion {}", known.join(", "))
        };
        format!(
            "error: {}: resource mapping not found for name: {name:?}: no matches for kind {kind:?} in version {api_version:?} ({hint})",
            doc.location()
        )
    })?;
    if name.is_empty()
        && !(mode == Mode::Create && doc.object["metadata"]["generateName"].is_string())
    {
        return Err(format!(
            "error: {}: {kind}: metadata.name: Required value: name is required",
            doc.location()
        ));
    }
    let namespace = if info.namespaced {
        let own = doc.object["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty());
        match (own, namespace_flag) {
            (Some(a), Some(b)) if a != b => {
                return Err(format!(
                    "error: {}: the namespace from the provided object {a:?} does not match the namespace {b:?}. You must pass '--namespace={a}' to perform this operation.",
                    doc.location()
                ));
            }
            (Some(a), _) => Some(a.to_string()),
            (None, Some(b)) => Some(b.to_string()),
            (None, None) => Some("default".to_string()),
        }
    } else {
        None
    };
    Ok(Target {
        info,
        namespace,
        name,
        doc,
    })
}

fn with_query(path: String, dry_run: bool) -> String {
    let mut p = path;
    p.push_str("?fieldValidation=Strict");
    if dry_run {
        p.push_str("&dryRun=All");
    }
    p
}

fn server_error(mode: Mode, doc: &Document, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!(
            "Error from server ({}): error when {} {}: {}",
            if s.reason.is_empty() {
                "Unknown"
            } else {
                &s.reason
            },
            verb(mode),
            doc.location(),
            s.message
        ),
        other => format!("error: {} {}: {other}", verb(mode), doc.location()),
    }
}

/// Runs apply/create/delete over manifests. Returns whether every object succeeded.
pub async fn run(c: &kube::Client, mode: Mode, opts: &ManifestOptions) -> Result<bool> {
    if opts.files.is_empty() {
        anyhow::bail!("must specify one of -f and -k (knet: -f FILE|DIR|-)");
    }
    let docs = knet_manifest::read_sources(&opts.files, opts.recursive)?;
    if docs.is_empty() {
        anyhow::bail!(
            "no objects passed to {}",
            match mode {
                Mode::Apply => "apply",
                Mode::Create => "create",
                Mode::Delete => "delete",
            }
        );
    }
    let suffix = if opts.dry_run {
        " (server dry run)"
    } else {
        ""
    };
    let mut ok = true;
    let mut deleted: Vec<(&'static ResourceInfo, Option<String>, String)> = Vec::new();
    for doc in &docs {
        let t = match resolve(doc, opts.namespace.as_deref(), mode) {
            Ok(t) => t,
            Err(msg) => {
                eprintln!("{msg}");
                ok = false;
                continue;
            }
        };
        let outcome = match mode {
            Mode::Create => create(c, &t, opts.dry_run).await,
            Mode::Apply => apply_one(c, &t, opts.dry_run).await,
            Mode::Delete => {
                delete_one(c, t.info, t.namespace.as_deref(), &t.name, opts.dry_run).await
            }
        };
        match outcome {
            Ok(Outcome::Done(word)) => {
                let name = if t.name.is_empty() { "" } else { &t.name };
                if mode == Mode::Delete {
                    outln!(
                        "{} \"{}\" deleted{suffix}",
                        t.info.kind.to_lowercase(),
                        name
                    );
                    deleted.push((t.info, t.namespace.clone(), t.name.clone()));
                } else {
                    outln!("{} {word}{suffix}", kind_name(t.info, name));
                }
            }
            Ok(Outcome::Created(name)) => outln!("{} created{suffix}", kind_name(t.info, &name)),
            Err(kube::Error::Api(s))
                if s.code == 404 && mode == Mode::Delete && opts.ignore_not_found => {}
            Err(e) => {
                eprintln!("{}", server_error(mode, t.doc, &e));
                ok = false;
            }
        }
    }
    if mode == Mode::Delete && opts.wait && !opts.dry_run {
        wait_gone(c, &deleted).await?;
    }
    Ok(ok)
}

enum Outcome {
    Done(&'static str),
    Created(String),
}

async fn create(c: &kube::Client, t: &Target<'_>, dry_run: bool) -> Result<Outcome, kube::Error> {
    let path = with_query(client::path(t.info, t.namespace.as_deref(), None), dry_run);
    let created = client::send(c, http::Method::POST, &path, Some(&t.doc.object), None).await?;
    Ok(Outcome::Created(
        created["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    ))
}

/// The configuration as applied: the manifest with the last-applied annotation holding itself.
fn with_last_applied(obj: &Value) -> Value {
    let mut original = obj.clone();
    if let Some(a) = original["metadata"]
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(LAST_APPLIED);
        if a.is_empty()
            && let Some(m) = original["metadata"].as_object_mut()
        {
            m.remove("annotations");
        }
    }
    let text = serde_json::to_string(&original).unwrap_or_default();
    let mut modified = original;
    if !modified["metadata"]["annotations"].is_object() {
        modified["metadata"]["annotations"] = json!({});
    }
    modified["metadata"]["annotations"][LAST_APPLIED] = json!(format!("{text}\n"));
    modified
}

async fn apply_one(
    c: &kube::Client,
    t: &Target<'_>,
    dry_run: bool,
) -> Result<Outcome, kube::Error> {
    let object_path = client::path(t.info, t.namespace.as_deref(), Some(&t.name));
    let modified = with_last_applied(&t.doc.object);
    let current = client::get_opt(c, &object_path).await?;
    let Some(current) = current else {
        let path = with_query(client::path(t.info, t.namespace.as_deref(), None), dry_run);
        client::send(c, http::Method::POST, &path, Some(&modified), None).await?;
        return Ok(Outcome::Done("created"));
    };
    let original: Option<Value> = current["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok());
    // What kubectl apply sends: a strategic merge patch for built-in kinds, a JSON merge patch otherwise.
    let api_version = t.info.api_version();
    let (patch, content_type) = if knet_patch::is_known_kind(&api_version, t.info.kind) {
        (
            knet_patch::create_three_way_strategic_merge_patch(
                original.as_ref(),
                &modified,
                &current,
                &api_version,
                t.info.kind,
            ),
            "application/strategic-merge-patch+json",
        )
    } else {
        (
            knet_patch::create_three_way_merge_patch(original.as_ref(), &modified, &current),
            "application/merge-patch+json",
        )
    };
    let patch = patch.map_err(|e| {
        kube::Error::Api(Box::new(
            kube::core::Status::failure(&e.to_string(), "BadRequest").with_code(400),
        ))
    })?;
    if patch.as_object().is_some_and(|m| m.is_empty()) || patch.is_null() {
        return Ok(Outcome::Done("unchanged"));
    }
    let before = current["metadata"]["resourceVersion"].clone();
    let updated = client::send(
        c,
        http::Method::PATCH,
        &with_query(object_path, dry_run),
        Some(&patch),
        Some(content_type),
    )
    .await?;
    if updated["metadata"]["resourceVersion"] == before {
        Ok(Outcome::Done("unchanged"))
    } else {
        Ok(Outcome::Done("configured"))
    }
}

async fn delete_one(
    c: &kube::Client,
    info: &'static ResourceInfo,
    namespace: Option<&str>,
    name: &str,
    dry_run: bool,
) -> Result<Outcome, kube::Error> {
    let mut path = client::path(info, namespace, Some(name));
    if dry_run {
        path.push_str("?dryRun=All");
    }
    let opts =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
    client::send(c, http::Method::DELETE, &path, Some(&opts), None).await?;
    Ok(Outcome::Done("deleted"))
}

async fn wait_gone(
    c: &kube::Client,
    objects: &[(&'static ResourceInfo, Option<String>, String)],
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for (info, ns, name) in objects {
        let p = client::path(info, ns.as_deref(), Some(name));
        while client::get_opt(c, &p).await?.is_some() {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "timed out waiting for {} to be deleted",
                    kind_name(info, name)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// `knet delete TYPE NAME...`, `TYPE/NAME`, `TYPE --all`, `TYPE -l sel`.
pub async fn delete_named(
    c: &kube::Client,
    args: &[String],
    scope: &Scope,
    all: bool,
    opts: &ManifestOptions,
) -> Result<bool> {
    let requests = crate::resources::parse(args)?;
    let mut ok = true;
    let mut deleted = Vec::new();
    for r in requests {
        let names: Vec<(Option<String>, String)> = if r.names.is_empty() {
            if !all && scope.selector.is_none() && scope.field_selector.is_none() {
                anyhow::bail!(
                    "resource(s) were provided, but no name was specified; use --all to delete every {} in the namespace",
                    r.info.plural
                );
            }
            let ns = (!scope.all_namespaces).then(|| scope.ns());
            let mut p = client::path(r.info, ns, None);
            if let Some(l) = &scope.selector {
                p.push_str(&format!("?labelSelector={}", crate::get::urlencode(l)));
            }
            let list = client::send(c, http::Method::GET, &p, None, None).await?;
            list["items"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| {
                            (
                                o["metadata"]["namespace"].as_str().map(str::to_string),
                                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            let ns = r.info.namespaced.then(|| scope.ns().to_string());
            r.names.iter().map(|n| (ns.clone(), n.clone())).collect()
        };
        for (ns, name) in names {
            match delete_one(c, r.info, ns.as_deref(), &name, opts.dry_run).await {
                Ok(_) => {
                    outln!(
                        "{} \"{name}\" deleted{}",
                        r.info.kind.to_lowercase(),
                        if opts.dry_run {
                            " (server dry run)"
                        } else {
                            ""
                        }
                    );
                    deleted.push((r.info, ns, name));
                }
                Err(kube::Error::Api(s)) if s.code == 404 && opts.ignore_not_found => {}
                Err(e) => {
                    eprintln!("{}", describe_error(&e));
                    ok = false;
                }
            }
        }
    }
    if opts.wait && !opts.dry_run {
        wait_gone(c, &deleted).await?;
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_applied_holds_the_manifest_without_itself() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let m = with_last_applied(&obj);
        let text = m["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        let back: Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, obj);
        let again = with_last_applied(&m);
        assert_eq!(again, m, "applying the applied form again changes nothing");
    }
}
