//! Strict decoding: unknown fields, type errors, bytes, quantities, apiVersion and kind.

use serde_json::json;

use super::*;
use crate::{FieldValidation, admit_create_with};

#[test]
fn unknown_fields_at_depth_are_reported_with_their_full_path_in_input_order() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
    pod["spec"]["foo"] = json!(1);
    pod["metadata"]["labelz"] = json!({"a": "b"});
    assert_eq!(
        create_error("pods", pod),
        "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: \
         unknown field \"metadata.labelz\", unknown field \"spec.containers[0].imagePullPolicyy\", \
         unknown field \"spec.foo\""
    );
}

#[test]
fn unknown_fields_are_a_bad_request() {
    let mut svc = mk_service("web");
    svc["spec"]["portz"] = json!([]);
    let err = admit_create(info("svc"), svc).expect_err("unknown field");
    assert_eq!(err.code(), 400);
    assert_eq!(err.reason(), "BadRequest");
    assert!(matches!(err, AdmitError::Decode { ref kind, .. } if kind == "Service"));
}

#[test]
fn unknown_fields_inside_lists_of_lists_keep_every_index() {
    let mut d = mk_deployment("web");
    d["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 80}, {"containerPort": 81, "hostPortt": 1}]);
    assert!(create_error("deploy", d).ends_with(
        "strict decoding error: unknown field \"spec.template.spec.containers[0].ports[1].hostPortt\""
    ));
}

#[test]
fn warn_mode_drops_unknown_fields_and_returns_warnings() {
    let mut pod = mk_pod("web");
    pod["spec"]["foo"] = json!("bar");
    let admitted = admit_create_with(info("po"), pod, FieldValidation::Warn).expect("admitted");
    assert_eq!(
        admitted.warnings,
        vec!["unknown field \"spec.foo\"".to_string()]
    );
    assert!(admitted.object["spec"].get("foo").is_none());
    let mut pod = mk_pod("web");
    pod["spec"]["foo"] = json!("bar");
    let admitted = admit_create_with(info("po"), pod, FieldValidation::Ignore).expect("admitted");
    assert!(admitted.warnings.is_empty());
}

#[test]
fn type_mismatches_are_decode_errors_that_name_the_field() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["ports"] = json!([{"containerPort": "eighty"}]);
    let msg = create_error("pods", pod);
    assert!(
        msg.starts_with(
            "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal string"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("spec.containers[0].ports[0].containerPort"),
        "{msg}"
    );
    assert!(msg.ends_with("of type int32"), "{msg}");
}

#[test]
fn explicit_nulls_are_treated_as_absent_fields() {
    let mut pod = mk_pod("web");
    pod["metadata"]["creationTimestamp"] = json!(null);
    pod["spec"]["nodeName"] = json!(null);
    pod["status"] = json!(null);
    let v = created("pods", pod);
    assert!(v["spec"].get("nodeName").is_none());
    assert_eq!(v["status"]["phase"], "Pending");
}

#[test]
fn int_or_string_ports_accept_numbers_and_names() {
    let mut svc = mk_service("web");
    svc["spec"]["ports"] = json!([{"name": "a", "port": 80, "targetPort": 8080}, {"name": "b", "port": 81, "targetPort": "http"}]);
    let v = created("svc", svc);
    assert_eq!(v["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(v["spec"]["ports"][1]["targetPort"], "http");
}

#[test]
fn invalid_base64_in_secret_data_is_a_decode_error() {
    let mut s = mk_secret("db");
    s["data"]["password"] = json!("not base64!");
    assert_eq!(
        create_error("secrets", s),
        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
    );
}

#[test]
fn base64_with_line_breaks_is_accepted_as_go_does() {
    let mut s = mk_secret("db");
    s["data"]["password"] = json!("czNj\ncjN0");
    let v = created("secrets", s);
    assert_eq!(v["data"]["password"], "czNjcjN0");
}

#[test]
fn quantities_given_as_numbers_are_stored_in_canonical_form() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["resources"] = json!({
        "requests": {"cpu": 0.5, "memory": "1Gi"},
        "limits": {"cpu": 1, "memory": "1024Mi"}
    });
    let v = created("pods", pod);
    let r = &v["spec"]["containers"][0]["resources"];
    assert_eq!(r["requests"]["cpu"], "500m");
    assert_eq!(r["limits"]["cpu"], "1");
    assert_eq!(r["limits"]["memory"], "1Gi");
}

#[test]
fn malformed_quantities_are_decode_errors_with_upstream_wording() {
    let mut pod = mk_pod("web");
    pod["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "one"}});
    assert_eq!(
        create_error("pods", pod),
        "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression \
         '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
}

#[test]
fn a_body_of_another_api_version_or_kind_is_rejected() {
    let mut d = mk_deployment("web");
    d["apiVersion"] = json!("apps/v1beta2");
    assert_eq!(
        create_error("deploy", d),
        "the API version in the data (apps/v1beta2) does not match the expected API version (apps/v1)"
    );
    let mut pod = mk_pod("web");
    pod["kind"] = json!("Service");
    assert!(create_error("pods", pod).contains("does not match the expected kind (Pod)"));
}

#[test]
fn missing_api_version_and_kind_are_filled_in() {
    let mut pod = mk_pod("web");
    pod.as_object_mut().expect("object").remove("apiVersion");
    pod.as_object_mut().expect("object").remove("kind");
    let v = created("po", pod);
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["kind"], "Pod");
}

#[test]
fn a_body_that_is_not_an_object_is_rejected() {
    assert!(create_error("pods", json!([1, 2])).contains("cannot unmarshal array"));
}
