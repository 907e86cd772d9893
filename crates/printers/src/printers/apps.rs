//! Workload printers: Deployment, ReplicaSet, DaemonSet, StatefulSet, Job, CronJob.

use jiff::Timestamp;
use serde_json::Value;

use super::{age, container_cells, n, s};
use crate::duration::{human_signed_duration, translate_timestamp_since};
use crate::json::{get, int_at, list_at, name, opt_bool, opt_int, str_at, string_map, time_at};
use crate::selector::{format_label_selector, format_labels, selector_string};

/// `spec.replicas`, which the apps/v1 defaulting sets to 1 when unset.
pub(crate) fn desired_replicas(obj: &Value) -> i64 {
    opt_int(obj, &["spec", "replicas"]).unwrap_or(1)
}

pub(crate) fn deployment_cells(d: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(&["spec", "template", "spec"], d);
    let selector =
        selector_string(get(d, &["spec", "selector"])).unwrap_or_else(|()| "<invalid>".to_string());
    vec![
        s(name(d)),
        s(format!(
            "{}/{}",
            int_at(d, &["status", "readyReplicas"]),
            desired_replicas(d)
        )),
        n(int_at(d, &["status", "updatedReplicas"])),
        n(int_at(d, &["status", "availableReplicas"])),
        age(d, now),
        names,
        images,
        s(selector),
    ]
}

pub(crate) fn replica_set_cells(rs: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(&["spec", "template", "spec"], rs);
    vec![
        s(name(rs)),
        n(desired_replicas(rs)),
        n(int_at(rs, &["status", "replicas"])),
        n(int_at(rs, &["status", "readyReplicas"])),
        age(rs, now),
        names,
        images,
        s(format_label_selector(get(rs, &["spec", "selector"]))),
    ]
}

pub(crate) fn daemon_set_cells(ds: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(&["spec", "template", "spec"], ds);
    vec![
        s(name(ds)),
        n(int_at(ds, &["status", "desiredNumberScheduled"])),
        n(int_at(ds, &["status", "currentNumberScheduled"])),
        n(int_at(ds, &["status", "numberReady"])),
        n(int_at(ds, &["status", "updatedNumberScheduled"])),
        n(int_at(ds, &["status", "numberAvailable"])),
        s(format_labels(&string_map(
            ds,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        age(ds, now),
        names,
        images,
        s(format_label_selector(get(ds, &["spec", "selector"]))),
    ]
}

pub(crate) fn stateful_set_cells(sts: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(&["spec", "template", "spec"], sts);
    vec![
        s(name(sts)),
        s(format!(
            "{}/{}",
            int_at(sts, &["status", "readyReplicas"]),
            desired_replicas(sts)
        )),
        age(sts, now),
        names,
        images,
    ]
}

/// `hasJobCondition`: the first condition of that type decides.
fn job_condition(job: &Value, kind: &str) -> bool {
    list_at(job, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == kind)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

pub(crate) fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int_at(job, &["status", "succeeded"]);
    let completions = match opt_int(job, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int_at(job, &["spec", "parallelism"]);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = time_at(job, &["status", "startTime"]);
    let completion = time_at(job, &["status", "completionTime"]);
    let duration = match (start, completion) {
        (None, _) => String::new(),
        (Some(start), None) => human_signed_duration(now.duration_since(start)),
        (Some(start), Some(done)) => human_signed_duration(done.duration_since(start)),
    };
    let status = if job_condition(job, "Complete") {
        "Complete"
    } else if job_condition(job, "Failed") {
        "Failed"
    } else if get(job, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if job_condition(job, "Suspended") {
        "Suspended"
    } else if job_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(&["spec", "template", "spec"], job);
    vec![
        s(name(job)),
        s(status),
        s(completions),
        s(duration),
        age(job, now),
        names,
        images,
        s(format_label_selector(get(job, &["spec", "selector"]))),
    ]
}

/// `printBoolPtr`.
pub(crate) fn bool_ptr(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

pub(crate) fn cron_job_cells(cj: &Value, now: Timestamp) -> Vec<Value> {
    let last_schedule = match time_at(cj, &["status", "lastScheduleTime"]) {
        Some(t) => translate_timestamp_since(Some(t), now),
        None => "<none>".to_string(),
    };
    let time_zone = match get(cj, &["spec", "timeZone"]).and_then(Value::as_str) {
        Some(tz) => tz.to_string(),
        None => "<none>".to_string(),
    };
    let template_spec = ["spec", "jobTemplate", "spec", "template", "spec"];
    let (names, images) = container_cells(&template_spec, cj);
    vec![
        s(name(cj)),
        s(str_at(cj, &["spec", "schedule"])),
        s(time_zone),
        s(bool_ptr(opt_bool(cj, &["spec", "suspend"]))),
        n(i64::try_from(list_at(cj, &["status", "active"]).len()).unwrap_or(i64::MAX)),
        s(last_schedule),
        age(cj, now),
        names,
        images,
        s(format_label_selector(get(
            cj,
            &["spec", "jobTemplate", "spec", "selector"],
        ))),
    ]
}
