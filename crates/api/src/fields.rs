//! Field-selector values (upstream `GetAttrs`/`*ToSelectableFields` and the v1 field label
//! conversion functions of pkg/apis/core/v1/conversion.go and apps/v1).

use serde_json::Value;

use crate::registry::ResourceInfo;

fn text(object: &Value, pointer: &str) -> String {
    match object.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn flag(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

/// The value of field-selector `field` for `object`, or upstream's
/// `field label not supported: <field>` for fields the kind does not offer.
pub fn field_value(info: &ResourceInfo, object: &Value, field: &str) -> Result<String, String> {
    let meta = match field {
        "metadata.name" => Some(text(object, "/metadata/name")),
        "metadata.namespace" => Some(text(object, "/metadata/namespace")),
        _ => None,
    };
    let value = match (info.group, info.kind, field) {
        // Nodes and Namespaces convert only these labels upstream (no metadata.namespace).
        ("", "Node", "metadata.name") => meta,
        ("", "Node", "spec.unschedulable") => Some(flag(object, "/spec/unschedulable")),
        ("", "Node", _) => None,
        ("", "Namespace", "metadata.name") => meta,
        ("", "Namespace", "status.phase") => Some(text(object, "/status/phase")),
        ("", "Namespace", _) => None,
        ("", "Pod", f) => match f {
            "spec.nodeName" => Some(text(object, "/spec/nodeName")),
            "spec.restartPolicy" => Some(text(object, "/spec/restartPolicy")),
            "spec.schedulerName" => Some(text(object, "/spec/schedulerName")),
            "spec.serviceAccountName" => Some(text(object, "/spec/serviceAccountName")),
            "spec.hostNetwork" => Some(flag(object, "/spec/hostNetwork")),
            "status.phase" => Some(text(object, "/status/phase")),
            "status.podIP" => Some(pod_ip(object)),
            "status.nominatedNodeName" => Some(text(object, "/status/nominatedNodeName")),
            _ => meta,
        },
        ("", "Secret", "type") => Some(text(object, "/type")),
        ("", "Service", "spec.clusterIP") => Some(text(object, "/spec/clusterIP")),
        ("", "Service", "spec.type") => Some(text(object, "/spec/type")),
        ("", "Event", f) => match f {
            "involvedObject.kind"
            | "involvedObject.namespace"
            | "involvedObject.name"
            | "involvedObject.uid"
            | "involvedObject.apiVersion"
            | "involvedObject.resourceVersion"
            | "involvedObject.fieldPath" => {
                let sub = &f["involvedObject.".len()..];
                Some(text(object, &format!("/involvedObject/{sub}")))
            }
            "reason" => Some(text(object, "/reason")),
            "reportingComponent" => Some(text(object, "/reportingComponent")),
            "source" => {
                let source = text(object, "/source/component");
                Some(if source.is_empty() {
                    text(object, "/reportingComponent")
                } else {
                    source
                })
            }
            "type" => Some(text(object, "/type")),
            _ => meta,
        },
        ("apps", "ReplicaSet", "status.replicas") => Some(
            object
                .pointer("/status/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .to_string(),
        ),
        _ => meta,
    };
    value.ok_or_else(|| format!("field label not supported: {field}"))
}

/// `status.podIP` is the first of `status.podIPs` (falling back to `status.podIP`).
fn pod_ip(object: &Value) -> String {
    match object.pointer("/status/podIPs/0/ip") {
        Some(Value::String(s)) => s.clone(),
        _ => text(object, "/status/podIP"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::find_by_name;
    use serde_json::json;

    fn value(kind: &str, object: &Value, field: &str) -> Result<String, String> {
        field_value(find_by_name(kind).expect("kind"), object, field)
    }

    #[test]
    fn every_kind_offers_its_name_and_namespaced_kinds_their_namespace() {
        let o = json!({"metadata": {"name": "web", "namespace": "prod"}});
        for kind in [
            "pods",
            "services",
            "configmaps",
            "deployments",
            "ingresses",
            "endpointslices",
        ] {
            assert_eq!(
                value(kind, &o, "metadata.name"),
                Ok("web".to_string()),
                "{kind}"
            );
            assert_eq!(
                value(kind, &o, "metadata.namespace"),
                Ok("prod".to_string()),
                "{kind}"
            );
        }
        let n = json!({"metadata": {"name": "node-a"}});
        assert_eq!(
            value("nodes", &n, "metadata.name"),
            Ok("node-a".to_string())
        );
        assert_eq!(
            value("nodes", &n, "metadata.namespace"),
            Err("field label not supported: metadata.namespace".to_string())
        );
    }

    #[test]
    fn pod_fields_follow_the_pod_spec_and_status() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": "node-a", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                     "serviceAccountName": "default", "hostNetwork": true},
            "status": {"phase": "Running", "podIP": "192.0.2.9", "podIPs": [{"ip": "192.0.2.10"}],
                       "nominatedNodeName": "node-b"}
        });
        assert_eq!(value("po", &pod, "spec.nodeName").as_deref(), Ok("node-a"));
        assert_eq!(
            value("po", &pod, "spec.restartPolicy").as_deref(),
            Ok("Always")
        );
        assert_eq!(
            value("po", &pod, "spec.schedulerName").as_deref(),
            Ok("default-scheduler")
        );
        assert_eq!(
            value("po", &pod, "spec.serviceAccountName").as_deref(),
            Ok("default")
        );
        assert_eq!(value("po", &pod, "spec.hostNetwork").as_deref(), Ok("true"));
        assert_eq!(value("po", &pod, "status.phase").as_deref(), Ok("Running"));
        assert_eq!(
            value("po", &pod, "status.podIP").as_deref(),
            Ok("192.0.2.10")
        );
        assert_eq!(
            value("po", &pod, "status.nominatedNodeName").as_deref(),
            Ok("node-b")
        );
        let bare = json!({"metadata": {"name": "p"}});
        assert_eq!(
            value("po", &bare, "spec.hostNetwork").as_deref(),
            Ok("false")
        );
        assert_eq!(value("po", &bare, "spec.nodeName").as_deref(), Ok(""));
    }

    #[test]
    fn node_namespace_secret_service_and_replica_set_fields() {
        let node = json!({"spec": {"unschedulable": true}});
        assert_eq!(
            value("no", &node, "spec.unschedulable").as_deref(),
            Ok("true")
        );
        assert_eq!(
            value("no", &json!({}), "spec.unschedulable").as_deref(),
            Ok("false")
        );
        let ns = json!({"status": {"phase": "Active"}});
        assert_eq!(value("ns", &ns, "status.phase").as_deref(), Ok("Active"));
        let secret = json!({"type": "kubernetes.io/tls"});
        assert_eq!(
            value("secrets", &secret, "type").as_deref(),
            Ok("kubernetes.io/tls")
        );
        let svc = json!({"spec": {"clusterIP": "198.51.100.10", "type": "NodePort"}});
        assert_eq!(
            value("svc", &svc, "spec.clusterIP").as_deref(),
            Ok("198.51.100.10")
        );
        assert_eq!(value("svc", &svc, "spec.type").as_deref(), Ok("NodePort"));
        let rs = json!({"status": {"replicas": 3}});
        assert_eq!(value("rs", &rs, "status.replicas").as_deref(), Ok("3"));
        assert_eq!(
            value("rs", &json!({}), "status.replicas").as_deref(),
            Ok("0")
        );
    }

    #[test]
    fn event_fields_include_the_involved_object_and_the_source() {
        let ev = json!({
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1",
                               "apiVersion": "v1", "resourceVersion": "42", "fieldPath": "spec.containers{app}"},
            "reason": "Started", "reportingComponent": "kubelet", "type": "Normal"
        });
        for (f, want) in [
            ("involvedObject.kind", "Pod"),
            ("involvedObject.namespace", "default"),
            ("involvedObject.name", "web"),
            ("involvedObject.uid", "u1"),
            ("involvedObject.apiVersion", "v1"),
            ("involvedObject.resourceVersion", "42"),
            ("involvedObject.fieldPath", "spec.containers{app}"),
            ("reason", "Started"),
            ("reportingComponent", "kubelet"),
            ("source", "kubelet"),
            ("type", "Normal"),
        ] {
            assert_eq!(value("ev", &ev, f).as_deref(), Ok(want), "{f}");
        }
        let with_source = json!({"source": {"component": "scheduler"}, "reportingComponent": "x"});
        assert_eq!(
            value("ev", &with_source, "source").as_deref(),
            Ok("scheduler")
        );
    }

    #[test]
    fn unsupported_fields_are_rejected_with_upstream_wording() {
        let o = json!({});
        assert_eq!(
            value("po", &o, "foo"),
            Err("field label not supported: foo".to_string())
        );
        assert_eq!(
            value("deploy", &o, "status.replicas"),
            Err("field label not supported: status.replicas".to_string())
        );
        assert_eq!(
            value("ns", &o, "spec.finalizers"),
            Err("field label not supported: spec.finalizers".to_string())
        );
    }
}
