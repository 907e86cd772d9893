//! What a request addresses: parsed from the URL path and query, as kube-apiserver's
//! RequestInfoFactory does (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go).

use knet_api::ResourceInfo;

use crate::status::ApiError;

/// The target of a resource request.
#[derive(Debug, Clone)]
pub enum Target {
    /// `/api/v1/pods`, `/api/v1/namespaces/ns/pods`, `/api/v1/nodes`.
    Collection {
        /// The resource.
        info: &'static ResourceInfo,
        /// The namespace from the path (None: cluster-scoped, or all namespaces).
        namespace: Option<String>,
    },
    /// One object, optionally a subresource of it.
    Object {
        /// The resource.
        info: &'static ResourceInfo,
        /// The namespace (None for cluster-scoped).
        namespace: Option<String>,
        /// The object's name.
        name: String,
        /// `status`, `binding`, `finalize`.
        sub: Option<String>,
    },
}

/// Parses the segments after `/api/v1` or `/apis/<group>/<version>`.
pub fn parse_target(group: &str, version: &str, segs: &[&str]) -> Result<Target, ApiError> {
    let find = |plural: &str| {
        knet_api::find_by_plural(group, version, plural).ok_or_else(|| {
            ApiError::no_route(format!(
                "the server could not find the requested resource ({})",
                crate::status::qualified(group, plural)
            ))
        })
    };
    let namespaced = |info: &'static ResourceInfo, ns: &str| -> Result<(), ApiError> {
        if !info.namespaced {
            return Err(ApiError::no_route(format!(
                "the server could not find the requested resource: {} is not namespaced (namespace {ns:?} given)",
                info.plural
            )));
        }
        Ok(())
    };
    match segs {
        [plural] => Ok(Target::Collection {
            info: find(plural)?,
            namespace: None,
        }),
        // `/api/v1/namespaces/{ns}/{plural}` versus `/api/v1/{plural}/{name}/{sub}`:
        // under `namespaces`, a third segment that is a resource names a collection.
        ["namespaces", ns, plural]
            if group.is_empty() && !matches!(*plural, "status" | "finalize") =>
        {
            let info = find(plural)?;
            namespaced(info, ns)?;
            Ok(Target::Collection {
                info,
                namespace: Some(ns.to_string()),
            })
        }
        ["namespaces", ns, plural] if !group.is_empty() => {
            let info = find(plural)?;
            namespaced(info, ns)?;
            Ok(Target::Collection {
                info,
                namespace: Some(ns.to_string()),
            })
        }
        [plural, name] => {
            let info = find(plural)?;
            Ok(Target::Object {
                info,
                namespace: None,
                name: name.to_string(),
                sub: None,
            })
        }
        [plural, name, sub] => {
            let info = find(plural)?;
            Ok(Target::Object {
                info,
                namespace: None,
                name: name.to_string(),
                sub: Some(sub.to_string()),
            })
        }
        ["namespaces", ns, plural, name] => {
            let info = find(plural)?;
            namespaced(info, ns)?;
            Ok(Target::Object {
                info,
                namespace: Some(ns.to_string()),
                name: name.to_string(),
                sub: None,
            })
        }
        ["namespaces", ns, plural, name, sub] => {
            let info = find(plural)?;
            namespaced(info, ns)?;
            Ok(Target::Object {
                info,
                namespace: Some(ns.to_string()),
                name: name.to_string(),
                sub: Some(sub.to_string()),
            })
        }
        _ => Err(ApiError::no_route(
            "the server could not find the requested resource",
        )),
    }
}

/// Query parameters the server understands (metav1.ListOptions, CreateOptions, DeleteOptions...).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `watch=true|1`.
    pub watch: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`: `NotOlderThan` or `Exact`.
    pub resource_version_match: Option<String>,
    /// `timeoutSeconds` of a watch.
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`.
    pub allow_watch_bookmarks: Option<bool>,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// `limit` of a list page.
    pub limit: Option<usize>,
    /// `continue` token.
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
    /// `fieldValidation`: `Strict` (the default here), `Warn`, `Ignore`.
    pub field_validation: Option<String>,
    /// `dryRun=All`.
    pub dry_run: Option<String>,
    /// `includeObject` for tables: `None`, `Metadata` (default), `Object`.
    pub include_object: Option<String>,
    /// `propagationPolicy` for deletes given in the query.
    pub propagation_policy: Option<String>,
    /// `gracePeriodSeconds` for deletes given in the query.
    pub grace_period_seconds: Option<i64>,
    /// `fieldManager` (accepted, not tracked).
    pub field_manager: Option<String>,
    /// `pretty` (accepted).
    pub pretty: Option<String>,
    /// `container` of `pods/log`.
    pub container: Option<String>,
    /// `follow` of `pods/log`.
    pub follow: Option<bool>,
    /// `previous` of `pods/log`.
    pub previous: Option<bool>,
    /// `tailLines` of `pods/log`.
    pub tail_lines: Option<usize>,
    /// `timestamps` of `pods/log`.
    pub timestamps: Option<bool>,
}

impl Query {
    /// Parses a URL query string.
    pub fn parse(q: Option<&str>) -> Result<Query, ApiError> {
        match q {
            None | Some("") => Ok(Query::default()),
            Some(q) => serde_urlencoded::from_str(q)
                .map_err(|e| ApiError::bad_request(format!("invalid query parameters: {e}"))),
        }
    }

    /// Whether this is a watch request.
    pub fn is_watch(&self) -> bool {
        matches!(self.watch.as_deref(), Some("true") | Some("1"))
    }

    /// Whether this is a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run.as_deref() == Some("All")
    }
}

/// How the client wants the response shaped (from `Accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The object or list itself.
    Plain,
    /// A meta.k8s.io/v1 Table.
    Table,
    /// PartialObjectMetadata(List).
    Metadata,
}

/// Picks the response shape from an `Accept` header, preferring what the client lists first.
pub fn shape(accept: Option<&str>) -> Shape {
    let Some(accept) = accept else {
        return Shape::Plain;
    };
    for part in accept.split(',') {
        let part = part.trim();
        if !part.starts_with("application/json") && !part.starts_with("*/*") {
            continue;
        }
        if part.contains("as=Table") {
            return Shape::Table;
        }
        if part.contains("as=PartialObjectMetadata") {
            return Shape::Metadata;
        }
        return Shape::Plain;
    }
    Shape::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_collection_and_namespace_subresource_are_told_apart() {
        match parse_target("", "v1", &["namespaces", "team-a", "pods"]).unwrap() {
            Target::Collection { info, namespace } => {
                assert_eq!(info.plural, "pods");
                assert_eq!(namespace.as_deref(), Some("team-a"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse_target("", "v1", &["namespaces", "team-a", "finalize"]).unwrap() {
            Target::Object {
                info, name, sub, ..
            } => {
                assert_eq!(info.plural, "namespaces");
                assert_eq!(name, "team-a");
                assert_eq!(sub.as_deref(), Some("finalize"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_unknown_resource_is_not_found() {
        let err = parse_target("", "v1", &["widgets"]).unwrap_err();
        assert_eq!(err.code, 404);
    }

    #[test]
    fn kubectl_table_accept_header_asks_for_a_table() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(shape(Some(accept)), Shape::Table);
        assert_eq!(shape(Some("application/json")), Shape::Plain);
        assert_eq!(shape(None), Shape::Plain);
    }

    #[test]
    fn query_parameters_are_read() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb&watch=true&timeoutSeconds=5&continue=abc",
        ))
        .unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("app=web"));
        assert!(q.is_watch());
        assert_eq!(q.timeout_seconds, Some(5));
        assert_eq!(q.continue_token.as_deref(), Some("abc"));
    }
}
