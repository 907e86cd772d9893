//! `knet get` and `knet describe`: tables like kubectl's, `-o wide|yaml|json|name`, `-w`.

use anyhow::{Result, bail};
use futures::TryStreamExt;
use knet_api::ResourceInfo;
use serde_json::{Value, json};

use crate::client::{self, describe_error};
use crate::resources::{self, Request};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Columns.
    Table,
    /// Columns with the wide ones.
    Wide,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
    /// `kind/name`.
    Name,
}

impl std::str::FromStr for Output {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "wide" => Ok(Output::Wide),
            "yaml" => Ok(Output::Yaml),
            "json" => Ok(Output::Json),
            "name" => Ok(Output::Name),
            other => Err(format!(
                "unable to match a printer suitable for the output format {other:?}, allowed formats are: json, name, wide, yaml"
            )),
        }
    }
}

/// Where and what to list.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// `-n`.
    pub namespace: Option<String>,
    /// `-A`.
    pub all_namespaces: bool,
    /// `-l`.
    pub selector: Option<String>,
    /// `--field-selector`.
    pub field_selector: Option<String>,
}

impl Scope {
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    fn list_path(&self, info: &ResourceInfo) -> String {
        let ns = (!self.all_namespaces).then(|| self.ns());
        let mut p = client::path(info, ns, None);
        let mut q = Vec::new();
        if let Some(l) = &self.selector {
            q.push(format!("labelSelector={}", urlencode(l)));
        }
        if let Some(f) = &self.field_selector {
            q.push(format!("fieldSelector={}", urlencode(f)));
        }
        if !q.is_empty() {
            p.push('?');
            p.push_str(&q.join("&"));
        }
        p
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Objects found for one request.
struct Found {
    info: &'static ResourceInfo,
    items: Vec<Value>,
    resource_version: String,
}

async fn fetch(
    c: &kube::Client,
    req: &Request,
    scope: &Scope,
    errors: &mut Vec<String>,
) -> Result<Found> {
    let mut items = Vec::new();
    let mut rv = String::new();
    if req.names.is_empty() {
        let list =
            client::send(c, http::Method::GET, &scope.list_path(req.info), None, None).await?;
        rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if let Some(a) = list["items"].as_array() {
            items = a.clone();
        }
    } else {
        for name in &req.names {
            let p = client::path(req.info, Some(scope.ns()), Some(name));
            match client::send(c, http::Method::GET, &p, None, None).await {
                Ok(o) => items.push(o),
                Err(e @ kube::Error::Api(_)) => errors.push(describe_error(&e)),
                Err(e) => return Err(e.into()),
            }
        }
    }
    for item in &mut items {
        // List items may omit their type; printers and -o yaml want it.
        if item.get("kind").is_none() {
            item["kind"] = json!(req.info.kind);
            item["apiVersion"] = json!(req.info.api_version());
        }
    }
    Ok(Found {
        info: req.info,
        items,
        resource_version: rv,
    })
}

/// The tables of several types as kubectl prints them: one table per type that has objects, a
/// blank line between tables, and each NAME prefixed with its type (`service/web`) when more than
/// one type was asked for, so that rows of different tables cannot be mistaken for one another
/// (kubectl `get.go`: `printWithKind`, set when several kinds were requested).
fn render_tables(
    found: &[Found],
    opts: &GetOptions,
    scope: &Scope,
    now: jiff::Timestamp,
) -> String {
    let several = found.len() > 1;
    found
        .iter()
        .filter(|f| !f.items.is_empty())
        .map(|f| {
            render_table(
                f,
                opts.output,
                scope,
                several,
                opts.show_labels,
                opts.no_headers,
                now,
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_table(
    found: &Found,
    out: Output,
    scope: &Scope,
    kind_prefix: bool,
    show_labels: bool,
    no_headers: bool,
    now: jiff::Timestamp,
) -> String {
    let refs: Vec<&Value> = found.items.iter().collect();
    let table = knet_printers::table(&found.info.api_version(), found.info.kind, &refs, now);
    let opts = knet_printers::RenderOptions {
        wide: out == Output::Wide,
        with_namespace: scope.all_namespaces && found.info.namespaced,
        kind_prefix: kind_prefix.then(|| kind_prefix_of(found.info)),
        no_headers,
        show_labels,
    };
    knet_printers::render(&table, &refs, &opts)
}

fn kind_prefix_of(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.kind.to_lowercase()
    } else {
        format!("{}.{}", info.kind.to_lowercase(), info.group)
    }
}

/// Prints objects as YAML/JSON: one object alone, several as a `List`.
pub fn print_objects(items: Vec<Value>, out: Output, single: bool) -> Result<()> {
    let value = if single && items.len() == 1 {
        items.into_iter().next().unwrap_or(Value::Null)
    } else {
        json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
    };
    match out {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&value)?),
        _ => out!("{}", knet_manifest::to_yaml(&value)?),
    }
    Ok(())
}

/// Options of `knet get`.
pub struct GetOptions {
    pub output: Output,
    pub watch: bool,
    pub show_labels: bool,
    pub no_headers: bool,
}

/// `knet get`. Returns whether everything asked for was found.
pub async fn get(
    c: &kube::Client,
    args: &[String],
    scope: &Scope,
    opts: &GetOptions,
) -> Result<bool> {
    let requests = resources::parse(args)?;
    if opts.watch && requests.len() != 1 {
        bail!("you may only specify a single resource type with --watch");
    }
    let mut errors = Vec::new();
    let mut found = Vec::new();
    for r in &requests {
        found.push(fetch(c, r, scope, &mut errors).await?);
    }
    let named = requests.iter().any(|r| !r.names.is_empty());
    match opts.output {
        Output::Yaml | Output::Json => {
            let single = requests.len() == 1 && requests[0].names.len() == 1;
            let items: Vec<Value> = found.iter().flat_map(|f| f.items.iter().cloned()).collect();
            if !items.is_empty() || !single {
                print_objects(items, opts.output, single)?;
            }
        }
        Output::Name => {
            for f in &found {
                for o in &f.items {
                    outln!(
                        "{}",
                        client::kind_name(f.info, o["metadata"]["name"].as_str().unwrap_or(""))
                    );
                }
            }
        }
        Output::Table | Output::Wide => {
            let text = render_tables(&found, opts, scope, jiff::Timestamp::now());
            out!("{text}");
            if text.is_empty() && errors.is_empty() && !named && !opts.watch {
                if scope.all_namespaces || requests.iter().all(|r| !r.info.namespaced) {
                    eprintln!("No resources found");
                } else {
                    eprintln!("No resources found in {} namespace.", scope.ns());
                }
            }
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    if opts.watch {
        let f = &found[0];
        watch(c, f, scope, opts).await?;
    }
    Ok(errors.is_empty())
}

async fn watch(c: &kube::Client, f: &Found, scope: &Scope, opts: &GetOptions) -> Result<()> {
    let mut path = scope.list_path(f.info);
    path.push(if path.contains('?') { '&' } else { '?' });
    path.push_str(&format!(
        "watch=true&resourceVersion={}",
        f.resource_version
    ));
    let req = http::Request::builder()
        .method(http::Method::GET)
        .uri(path)
        .body(Vec::new())?;
    let stream = c.request_events::<Value>(req).await?;
    futures::pin_mut!(stream);
    let mut headers_printed = !f.items.is_empty() || opts.no_headers;
    while let Some(ev) = stream.try_next().await? {
        let obj = match ev {
            kube::core::WatchEvent::Added(o)
            | kube::core::WatchEvent::Modified(o)
            | kube::core::WatchEvent::Deleted(o) => o,
            kube::core::WatchEvent::Bookmark(_) => continue,
            kube::core::WatchEvent::Error(e) => bail!("watch ended: {} ({})", e.message, e.code),
        };
        match opts.output {
            Output::Yaml | Output::Json => print_objects(vec![obj], opts.output, true)?,
            Output::Name => outln!(
                "{}",
                client::kind_name(f.info, obj["metadata"]["name"].as_str().unwrap_or(""))
            ),
            Output::Table | Output::Wide => {
                let one = Found {
                    info: f.info,
                    items: vec![obj],
                    resource_version: String::new(),
                };
                out!(
                    "{}",
                    render_table(
                        &one,
                        opts.output,
                        scope,
                        false,
                        opts.show_labels,
                        headers_printed,
                        jiff::Timestamp::now(),
                    )
                );
                headers_printed = true;
            }
        }
    }
    Ok(())
}

/// `knet describe`.
pub async fn describe(c: &kube::Client, args: &[String], scope: &Scope) -> Result<bool> {
    let requests = resources::parse(args)?;
    let mut errors = Vec::new();
    let mut first = true;
    for r in &requests {
        let f = fetch(c, r, scope, &mut errors).await?;
        for obj in &f.items {
            let name = obj["metadata"]["name"].as_str().unwrap_or("");
            let uid = obj["metadata"]["uid"].as_str().unwrap_or("");
            let mut selector = format!("involvedObject.name={name},involvedObject.uid={uid}");
            let ns = obj["metadata"]["namespace"].as_str();
            if let Some(ns) = ns {
                selector.push_str(&format!(",involvedObject.namespace={ns}"));
            }
            let events_path = match ns {
                Some(ns) => format!(
                    "/api/v1/namespaces/{ns}/events?fieldSelector={}",
                    urlencode(&selector)
                ),
                None => format!("/api/v1/events?fieldSelector={}", urlencode(&selector)),
            };
            let events = client::send(c, http::Method::GET, &events_path, None, None).await?;
            let events: Vec<&Value> = events["items"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            if !first {
                outln!("\n");
            }
            first = false;
            out!(
                "{}",
                knet_printers::describe(
                    &f.info.api_version(),
                    f.info.kind,
                    obj,
                    &events,
                    jiff::Timestamp::now()
                )
            );
        }
        if f.items.is_empty() && r.names.is_empty() {
            eprintln!("No resources found in {} namespace.", scope.ns());
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(errors.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> &'static ResourceInfo {
        knet_api::find_by_name(name).unwrap()
    }

    fn mk_service(name: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "selector": {"app": name},
                     "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}
        })
    }

    fn mk_endpoint_slice(name: &str) -> Value {
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "addressType": "IPv4",
            "ports": [{"port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["192.0.2.10"]}]
        })
    }

    fn found(name: &str, items: Vec<Value>) -> Found {
        Found {
            info: info(name),
            items,
            resource_version: String::new(),
        }
    }

    fn opts() -> GetOptions {
        GetOptions {
            output: Output::Table,
            watch: false,
            show_labels: false,
            no_headers: false,
        }
    }

    fn now() -> jiff::Timestamp {
        "2025-01-01T00:05:00Z".parse().unwrap()
    }

    #[test]
    fn several_types_print_one_table_each_with_type_prefixed_names() {
        let f = [
            found("svc", vec![mk_service("web")]),
            found("endpointslices", vec![mk_endpoint_slice("web-x7k2p")]),
        ];
        let text = render_tables(&f, &opts(), &Scope::default(), now());
        let tables: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(tables.len(), 2, "{text}");
        assert!(tables[0].starts_with("NAME"), "{text}");
        assert!(tables[0].contains("CLUSTER-IP"), "{text}");
        assert!(tables[0].contains("service/web "), "{text}");
        assert!(tables[1].starts_with("NAME"), "{text}");
        assert!(tables[1].contains("ADDRESSTYPE"), "{text}");
        assert!(
            tables[1].contains("endpointslice.discovery.k8s.io/web-x7k2p"),
            "{text}"
        );
    }

    #[test]
    fn a_type_without_objects_prints_no_table_but_names_keep_their_type() {
        let f = [
            found("svc", vec![mk_service("web")]),
            found("endpoints", vec![]),
        ];
        let text = render_tables(&f, &opts(), &Scope::default(), now());
        assert!(!text.contains("\n\n"), "{text}");
        assert_eq!(text.matches("NAME").count(), 1, "{text}");
        assert!(text.contains("service/web "), "{text}");
    }

    #[test]
    fn one_type_prints_bare_names() {
        let f = [found("svc", vec![mk_service("web"), mk_service("db")])];
        let text = render_tables(&f, &opts(), &Scope::default(), now());
        assert!(!text.contains("service/"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("web ")), "{text}");
        let nothing = render_tables(&[found("svc", vec![])], &opts(), &Scope::default(), now());
        assert_eq!(nothing, "");
    }
}
