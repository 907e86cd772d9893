//! Strategic merge patch tests: kubectl-shaped patches on real kinds, and cases ported from
//! upstream's patch_test.go (testdata/upstream_cases.yaml) on its MergeItem test type.

use serde_json::{Value, json};

use crate::{
    PatchError, apply_strategic_merge_patch, create_three_way_strategic_merge_patch,
    create_two_way_strategic_merge_patch,
};

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

fn deployment() -> Value {
    yaml(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  uid: 6f1b2c3d-0000-4000-8000-000000000001
  resourceVersion: "41"
  generation: 2
  labels: {app: web}
  annotations:
    deployment.kubernetes.io/revision: "1"
    kubectl.kubernetes.io/last-applied-configuration: '{"old":true}'
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        imagePullPolicy: IfNotPresent
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
        ports:
        - {containerPort: 80, protocol: TCP}
        env:
        - {name: MODE, value: prod}
        - {name: OLD, value: "1"}
      - name: sidecar
        image: envoy:1.30
        terminationMessagePath: /dev/termination-log
      volumes:
      - name: cache
        emptyDir: {}
      restartPolicy: Always
      dnsPolicy: ClusterFirst
status:
  observedGeneration: 2
  replicas: 1
  conditions:
  - {type: Available, status: "True"}
  - {type: Progressing, status: "True"}
"#,
    )
}

fn smp(target: &Value, patch: &Value) -> Value {
    apply_strategic_merge_patch(target, patch, "apps/v1", "Deployment").unwrap()
}

fn containers(object: &Value) -> &Vec<Value> {
    object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
}

#[test]
fn a_kubectl_apply_patch_changes_image_and_replicas_and_keeps_server_added_fields() {
    // What `kubectl apply` 1.32 sends after the manifest's image and replicas changed.
    let patch = json!({
        "metadata": {"annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"
        }},
        "spec": {
            "replicas": 3,
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
                "containers": [{"image": "nginx:1.27", "name": "web"}]
            }}
        }
    });
    let got = smp(&deployment(), &patch);

    let mut want = deployment();
    want["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!("{\"new\":true}");
    want["spec"]["replicas"] = json!(3);
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    assert_eq!(got, want);
    assert_eq!(
        containers(&got)[0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    assert_eq!(got["status"]["conditions"][0]["type"], "Available");
}

#[test]
fn an_env_var_is_added_and_another_removed_by_name() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{
            "name": "web",
            "$setElementOrder/env": [{"name": "MODE"}, {"name": "NEW"}],
            "env": [{"name": "NEW", "value": "x"}, {"$patch": "delete", "name": "OLD"}]
        }]
    }}}});
    let got = smp(&deployment(), &patch);
    assert_eq!(
        containers(&got)[0]["env"],
        json!([{"name": "MODE", "value": "prod"}, {"name": "NEW", "value": "x"}])
    );
    assert_eq!(
        containers(&got)[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
}

#[test]
fn an_env_var_patch_without_order_merges_by_name_and_appends_new_ones() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "web",
        "env": [{"name": "OLD", "value": "2"}, {"name": "EXTRA", "value": "y"}]
    }]}}}});
    let got = smp(&deployment(), &patch);
    assert_eq!(
        containers(&got)[0]["env"],
        json!([
            {"name": "MODE", "value": "prod"},
            {"name": "OLD", "value": "2"},
            {"name": "EXTRA", "value": "y"}
        ])
    );
}

#[test]
fn set_element_order_reorders_containers_and_keeps_their_fields() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]
    }}}});
    let got = smp(&deployment(), &patch);
    let names: Vec<&str> = containers(&got)
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sidecar", "web"]);
    assert_eq!(containers(&got)[1], containers(&deployment())[0]);
}

#[test]
fn set_element_order_puts_new_containers_in_place_and_server_only_ones_after() {
    let mut target = deployment();
    target["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "injected", "image": "proxy"}));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init"}, {"name": "web"}, {"name": "sidecar"}],
        "containers": [{"name": "init", "image": "busybox"}]
    }}}});
    let got = smp(&target, &patch);
    let names: Vec<&str> = containers(&got)
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["init", "web", "sidecar", "injected"]);
}

#[test]
fn patch_delete_removes_a_container_and_a_volume_by_name() {
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"$patch": "delete", "name": "sidecar"}],
        "volumes": [{"$patch": "delete", "name": "cache"}]
    }}}});
    let got = smp(&deployment(), &patch);
    assert_eq!(containers(&got).len(), 1);
    assert_eq!(containers(&got)[0]["name"], "web");
    assert_eq!(got["spec"]["template"]["spec"]["volumes"], json!([]));
}

#[test]
fn patch_delete_of_an_element_without_its_merge_key_fails() {
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"$patch": "delete", "image": "envoy:1.30"}]
    }}}});
    let err =
        apply_strategic_merge_patch(&deployment(), &patch, "apps/v1", "Deployment").unwrap_err();
    assert!(
        matches!(err, PatchError::MissingMergeKey { ref merge_key, .. } if merge_key == "name")
    );
}

#[test]
fn a_container_without_its_merge_key_fails_as_upstream() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:1.27"}]}}}});
    let err =
        apply_strategic_merge_patch(&deployment(), &patch, "apps/v1", "Deployment").unwrap_err();
    assert_eq!(
        err.to_string(),
        "map: map[image:nginx:1.27] does not contain declared merge key: name"
    );
    assert_eq!(
        err,
        PatchError::MissingMergeKey {
            path: "spec.template.spec.containers".into(),
            merge_key: "name".into(),
            element: "map[image:nginx:1.27]".into(),
        }
    );
}

#[test]
fn retain_keys_clears_the_rolling_update_when_switching_to_recreate() {
    // kubectl sends $retainKeys for Deployment spec.strategy (`patchStrategy:"retainKeys"`).
    let patch = json!({"spec": {"strategy": {
        "$retainKeys": ["type"],
        "rollingUpdate": null,
        "type": "Recreate"
    }}});
    let got = smp(&deployment(), &patch);
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_in_a_volume_switches_its_source() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/volumes": [{"name": "cache"}],
        "volumes": [{
            "$retainKeys": ["hostPath", "name"],
            "hostPath": {"path": "/var/cache"},
            "name": "cache"
        }]
    }}}});
    let got = smp(&deployment(), &patch);
    assert_eq!(
        got["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "cache", "hostPath": {"path": "/var/cache"}}])
    );
}

#[test]
fn retain_keys_refuses_a_patch_setting_a_key_it_does_not_retain() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
    let err =
        apply_strategic_merge_patch(&deployment(), &patch, "apps/v1", "Deployment").unwrap_err();
    assert_eq!(
        err.to_string(),
        "patch content doesn't match retainKeys list"
    );
    assert_eq!(err.http_status(), 422);
    let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
    let err =
        apply_strategic_merge_patch(&deployment(), &patch, "apps/v1", "Deployment").unwrap_err();
    assert_eq!(err.to_string(), "invalid patch format of retainKeys");
}

#[test]
fn delete_from_primitive_list_removes_a_finalizer_and_keeps_the_others() {
    let mut target = deployment();
    target["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b", "example.com/c"]);
    let patch = json!({"metadata": {
        "$setElementOrder/finalizers": ["example.com/c", "example.com/a"],
        "$deleteFromPrimitiveList/finalizers": ["example.com/b"]
    }});
    let got = smp(&target, &patch);
    assert_eq!(
        got["metadata"]["finalizers"],
        json!(["example.com/c", "example.com/a"])
    );
}

#[test]
fn finalizers_merge_as_a_set_of_primitives() {
    let mut target = deployment();
    target["metadata"]["finalizers"] = json!(["example.com/a"]);
    let patch = json!({"metadata": {"finalizers": ["example.com/b", "example.com/a"]}});
    let got = smp(&target, &patch);
    assert_eq!(
        got["metadata"]["finalizers"],
        json!(["example.com/b", "example.com/a"])
    );
}

#[test]
fn a_malformed_delete_from_primitive_list_directive_is_a_bad_request() {
    let patch = json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}});
    let err =
        apply_strategic_merge_patch(&deployment(), &patch, "apps/v1", "Deployment").unwrap_err();
    assert_eq!(err.to_string(), "invalid patch format of primitive list");
    assert_eq!(err.http_status(), 400);
}

#[test]
fn a_list_without_merge_key_is_replaced_whole() {
    let mut target = deployment();
    target["spec"]["template"]["spec"]["tolerations"] =
        json!([{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]);
    let patch = json!({"spec": {"template": {"spec": {
        "tolerations": [{"key": "c", "operator": "Exists"}],
        "containers": [{"name": "web", "args": ["--fast"]}]
    }}}});
    let got = smp(&target, &patch);
    assert_eq!(
        got["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "c", "operator": "Exists"}])
    );
    assert_eq!(containers(&got)[0]["args"], json!(["--fast"]));
}

#[test]
fn null_deletes_keys_at_any_depth_and_is_dropped_for_missing_keys() {
    let patch = json!({
        "metadata": {"labels": {"app": null, "absent": null}},
        "spec": {"strategy": {"rollingUpdate": null}, "paused": null},
        "status": null
    });
    let got = smp(&deployment(), &patch);
    assert_eq!(got["metadata"]["labels"], json!({}));
    assert_eq!(got["spec"]["strategy"], json!({"type": "RollingUpdate"}));
    assert!(got.get("status").is_none());
    assert!(got["spec"].get("paused").is_none());
}

#[test]
fn a_new_key_takes_the_patch_value_without_its_nulls_and_directives() {
    let patch = json!({"spec": {"template": {"spec": {
        "nodeSelector": {"disk": "ssd", "zone": null},
        "hostAliases": [{"ip": "192.0.2.10", "hostnames": ["db"]}, {"$patch": "delete", "ip": "192.0.2.99"}]
    }}}});
    let got = smp(&deployment(), &patch);
    assert_eq!(
        got["spec"]["template"]["spec"]["nodeSelector"],
        json!({"disk": "ssd"})
    );
    assert_eq!(
        got["spec"]["template"]["spec"]["hostAliases"],
        json!([{"ip": "192.0.2.10", "hostnames": ["db"]}])
    );
}

#[test]
fn patch_replace_on_a_map_replaces_it_whole() {
    let patch = json!({"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "tier": "front"}}}}});
    let got = smp(&deployment(), &patch);
    assert_eq!(
        got["spec"]["template"]["metadata"]["labels"],
        json!({"tier": "front"})
    );
}

#[test]
fn patch_replace_in_a_list_replaces_the_list_with_the_rest_of_the_patch() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"},
        {"name": "solo", "image": "busybox"}
    ]}}}});
    let got = smp(&deployment(), &patch);
    assert_eq!(
        containers(&got),
        &vec![json!({"name": "solo", "image": "busybox"})]
    );
}

#[test]
fn patch_delete_on_a_map_empties_it() {
    let patch = json!({"spec": {"selector": {"$patch": "delete"}}});
    let got = smp(&deployment(), &patch);
    assert_eq!(got["spec"]["selector"], json!({}));
}

#[test]
fn patch_merge_is_refused_as_upstream_refuses_it() {
    let err = apply_strategic_merge_patch(
        &deployment(),
        &json!({"spec": {"$patch": "merge", "replicas": 2}}),
        "apps/v1",
        "Deployment",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown patch type: merge in map: "),
        "{err}"
    );
    let err = apply_strategic_merge_patch(
        &deployment(),
        &json!({"spec": {"template": {"spec": {"containers": [{"$patch": "merge", "name": "web"}]}}}}),
        "apps/v1",
        "Deployment",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "merging lists cannot yet be specified in the patch"
    );
    assert!(matches!(err, PatchError::UnsupportedDirective { .. }));
}

#[test]
fn status_conditions_merge_by_type() {
    let patch = json!({"status": {"conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
        {"type": "ReplicaFailure", "status": "True"}
    ]}});
    let got = smp(&deployment(), &patch);
    assert_eq!(
        got["status"]["conditions"],
        json!([
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
            {"type": "ReplicaFailure", "status": "True"}
        ])
    );
}

#[test]
fn service_ports_merge_on_port_and_node_addresses_on_type() {
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}
        ]}
    });
    let got = apply_strategic_merge_patch(
        &service,
        &json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}]}}),
        "v1",
        "Service",
    )
    .unwrap();
    assert_eq!(got["spec"]["ports"][1]["targetPort"], 9443);
    assert_eq!(got["spec"]["ports"][1]["name"], "https");
    assert_eq!(got["spec"]["ports"][0]["targetPort"], 8080);

    let node = json!({"metadata": {"name": "n1"}, "status": {"addresses": [
        {"type": "InternalIP", "address": "192.0.2.1"},
        {"type": "Hostname", "address": "n1"}
    ]}});
    let got = apply_strategic_merge_patch(
        &node,
        &json!({"status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.2"}]}}),
        "v1",
        "Node",
    )
    .unwrap();
    assert_eq!(
        got["status"]["addresses"],
        json!([
            {"type": "InternalIP", "address": "192.0.2.2"},
            {"type": "Hostname", "address": "n1"}
        ])
    );
}

#[test]
fn lists_of_kinds_without_a_table_are_replaced_but_metadata_still_merges() {
    let widget = json!({
        "metadata": {"name": "w", "finalizers": ["a"]},
        "spec": {"items": [{"name": "x", "v": 1}]}
    });
    let got = apply_strategic_merge_patch(
        &widget,
        &json!({"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "y"}]}}),
        "example.com/v1",
        "Widget",
    )
    .unwrap();
    // New patch items go before target items upstream when nothing orders them.
    assert_eq!(got["metadata"]["finalizers"], json!(["b", "a"]));
    assert_eq!(got["spec"]["items"], json!([{"name": "y"}]));
}

#[test]
fn target_and_patch_must_be_objects() {
    let err = apply_strategic_merge_patch(&json!({}), &json!([1]), "v1", "Pod").unwrap_err();
    assert!(matches!(err, PatchError::InvalidDocument { .. }));
    assert_eq!(err.http_status(), 400);
    let err = apply_strategic_merge_patch(&json!("x"), &json!({}), "v1", "Pod").unwrap_err();
    assert!(matches!(err, PatchError::InvalidDocument { .. }));
}

#[test]
fn lists_of_lists_and_mixed_lists_are_refused_in_merging_lists() {
    let target = json!({"metadata": {"finalizers": ["a"]}});
    let err = apply_strategic_merge_patch(
        &target,
        &json!({"metadata": {"finalizers": [["b"]]}}),
        "v1",
        "Pod",
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "lists of lists are not supported");
    let err = apply_strategic_merge_patch(
        &target,
        &json!({"metadata": {"finalizers": [1]}}),
        "v1",
        "Pod",
    )
    .unwrap_err();
    assert!(matches!(err, PatchError::MixedListElements { .. }), "{err}");
}

#[test]
fn upstream_patch_cases_apply_as_upstream() {
    let cases: Vec<Value> = yaml(include_str!("testdata/upstream_cases.yaml"))
        .as_array()
        .unwrap()
        .clone();
    assert!(cases.len() > 60, "{} cases", cases.len());
    let apply = |target: &Value, patch: &Value| {
        apply_strategic_merge_patch(target, patch, "test.knet.dev/v1", "MergeItem")
    };
    let mut failures = Vec::new();
    let mut checks = [0usize; 4];
    for case in &cases {
        let description = case["description"].as_str().unwrap();
        let original = case.get("original").cloned().unwrap_or_else(|| json!({}));
        if let Some(two_way) = case.get("twoWay") {
            checks[2] += 1;
            match (apply(&original, two_way), case.get("error")) {
                (Err(err), Some(want)) => {
                    let want = want.as_str().unwrap();
                    if !err.to_string().contains(want) {
                        failures.push(format!("{description}: error {err:?} lacks {want:?}"));
                    }
                }
                (Ok(got), Some(_)) => {
                    failures.push(format!("{description}: expected an error, got {got}"))
                }
                (Err(err), None) => failures.push(format!("{description}: two-way: {err}")),
                (Ok(got), None) => {
                    let want = case
                        .get("twoWayResult")
                        .or_else(|| case.get("modified"))
                        .unwrap();
                    if &got != want {
                        failures.push(format!("{description}: two-way got {got}, want {want}"));
                    }
                }
            }
        }
        let created = case.get("applyOnly").is_none() && case.get("error").is_none();
        if let (true, Some(modified), Some(want)) =
            (created, case.get("modified"), case.get("twoWay"))
        {
            checks[0] += 1;
            match create_two_way_strategic_merge_patch(
                &original,
                modified,
                "test.knet.dev/v1",
                "MergeItem",
            ) {
                Ok(got) if &got == want => {}
                Ok(got) => {
                    failures.push(format!("{description}: created two-way {got}, want {want}"))
                }
                Err(err) => failures.push(format!("{description}: creating two-way: {err}")),
            }
        }
        if let (true, Some(modified), Some(current), Some(want)) = (
            created,
            case.get("modified"),
            case.get("current"),
            case.get("threeWay"),
        ) {
            checks[1] += 1;
            match create_three_way_strategic_merge_patch(
                case.get("original"),
                modified,
                current,
                "test.knet.dev/v1",
                "MergeItem",
            ) {
                Ok(got) if &got == want => {}
                Ok(got) => failures.push(format!(
                    "{description}: created three-way {got}, want {want}"
                )),
                Err(err) => failures.push(format!("{description}: creating three-way: {err}")),
            }
        }
        if let (Some(current), Some(three_way), Some(want)) = (
            case.get("current"),
            case.get("threeWay"),
            case.get("result"),
        ) {
            checks[3] += 1;
            match apply(current, three_way) {
                Ok(got) if &got == want => {}
                Ok(got) => {
                    failures.push(format!("{description}: three-way got {got}, want {want}"))
                }
                Err(err) => failures.push(format!("{description}: three-way: {err}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // created two-way, created three-way, applied two-way, applied three-way
    assert_eq!(checks, [60, 59, 84, 59], "checks");
}
