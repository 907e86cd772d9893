//! Pod rows as the API server's printPod computes them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ago, cell, cells, mk_pod, now, running};
use serde_json::json;

fn status(pod: &serde_json::Value) -> String {
    cell("v1", "Pod", pod, "Status")
        .as_str()
        .unwrap()
        .to_string()
}

fn ready(pod: &serde_json::Value) -> String {
    cell("v1", "Pod", pod, "Ready")
        .as_str()
        .unwrap()
        .to_string()
}

fn restarts(pod: &serde_json::Value) -> String {
    cell("v1", "Pod", pod, "Restarts")
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_running_pod_prints_ready_status_restarts_and_age() {
    let mut pod = mk_pod("web-1");
    pod["status"] = json!({"phase": "Running", "containerStatuses": [running("app", 0)]});
    let row = cells("v1", "Pod", &pod);
    assert_eq!(
        row[..5],
        [
            json!("web-1"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m")
        ]
    );
}

#[test]
fn a_pod_without_container_statuses_shows_its_phase() {
    let pod = mk_pod("web-1");
    assert_eq!(status(&pod), "Pending");
    assert_eq!(ready(&pod), "0/1");
}

#[test]
fn a_waiting_container_shows_its_reason_container_creating() {
    let mut pod = mk_pod("web-1");
    pod["status"]["containerStatuses"] = json!([{
        "name": "app", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}}
    }]);
    assert_eq!(status(&pod), "ContainerCreating");
    assert_eq!(ready(&pod), "0/1");
}

#[test]
fn a_crash_looping_container_shows_crash_loop_back_off_and_the_last_restart_age() {
    let mut pod = mk_pod("web-1");
    pod["status"] = json!({
        "phase": "Running",
        "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(300)}}
        }]
    });
    assert_eq!(status(&pod), "CrashLoopBackOff");
    assert_eq!(restarts(&pod), "3 (5m ago)");
}

#[test]
fn restarts_without_a_recorded_termination_print_only_the_count() {
    let mut pod = mk_pod("web-1");
    pod["status"] = json!({"phase": "Running", "containerStatuses": [running("app", 2)]});
    assert_eq!(restarts(&pod), "2");
}

#[test]
fn a_succeeded_pod_shows_completed_and_carries_the_completed_row_condition() {
    let mut pod = mk_pod("job-1");
    pod["status"] = json!({
        "phase": "Succeeded",
        "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
        }]
    });
    assert_eq!(status(&pod), "Completed");
    assert_eq!(ready(&pod), "0/1");
    let table = knet_printers::table("v1", "Pod", &[&pod], now());
    let cond = &table.rows[0].conditions;
    assert_eq!(cond.len(), 1);
    assert_eq!((cond[0].kind, cond[0].reason), ("Completed", "Succeeded"));
}

#[test]
fn a_terminated_container_without_reason_shows_its_exit_code_or_signal() {
    let mut pod = mk_pod("web-1");
    pod["status"] = json!({"phase": "Failed", "containerStatuses": [{
        "name": "app", "state": {"terminated": {"exitCode": 137}}
    }]});
    assert_eq!(status(&pod), "ExitCode:137");
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["signal"] = json!(9);
    assert_eq!(status(&pod), "Signal:9");
}

#[test]
fn a_pod_being_deleted_is_terminating() {
    let mut pod = mk_pod("web-1");
    pod["metadata"]["deletionTimestamp"] = json!(ago(-30));
    pod["status"] = json!({"phase": "Running", "containerStatuses": [running("app", 0)]});
    assert_eq!(status(&pod), "Terminating");
}

#[test]
fn a_deleted_pod_on_a_lost_node_is_unknown_and_a_finished_one_keeps_its_status() {
    let mut pod = mk_pod("web-1");
    pod["metadata"]["deletionTimestamp"] = json!(ago(10));
    pod["status"] = json!({"phase": "Running", "reason": "NodeLost"});
    assert_eq!(status(&pod), "Unknown");
    pod["status"] = json!({"phase": "Succeeded"});
    assert_eq!(status(&pod), "Succeeded");
}

#[test]
fn a_running_init_container_shows_init_progress() {
    let mut pod = mk_pod("web-1");
    pod["spec"]["initContainers"] = json!([{"name": "setup", "image": "busybox"}]);
    pod["status"] = json!({
        "phase": "Pending",
        "conditions": [{"type": "Initialized", "status": "False"}],
        "initContainerStatuses": [{
            "name": "setup", "ready": false, "restartCount": 0,
            "state": {"running": {"startedAt": ago(20)}}
        }],
        "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "PodInitializing"}}
        }]
    });
    assert_eq!(status(&pod), "Init:0/1");
    assert_eq!(ready(&pod), "0/1");
}

#[test]
fn a_failing_init_container_shows_its_reason() {
    let mut pod = mk_pod("web-1");
    pod["spec"]["initContainers"] = json!([{"name": "a"}, {"name": "b"}]);
    pod["status"]["initContainerStatuses"] = json!([
        {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "b", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    ]);
    assert_eq!(status(&pod), "Init:CrashLoopBackOff");
    assert_eq!(restarts(&pod), "4");
}

#[test]
fn a_started_sidecar_counts_as_a_ready_container() {
    let mut pod = mk_pod("web-1");
    pod["spec"]["initContainers"] = json!([{"name": "proxy", "restartPolicy": "Always"}]);
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [{
            "name": "proxy", "ready": true, "started": true, "restartCount": 1,
            "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(125)}}
        }],
        "containerStatuses": [running("app", 0)]
    });
    assert_eq!(ready(&pod), "2/2");
    assert_eq!(status(&pod), "Running");
    assert_eq!(restarts(&pod), "1 (2m5s ago)");
}

#[test]
fn a_completed_container_next_to_a_running_one_leaves_the_pod_running_or_not_ready() {
    let mut pod = mk_pod("web-1");
    pod["spec"]["containers"] = json!([{"name": "app"}, {"name": "once"}]);
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            running("app", 0),
            {"name": "once", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]
    });
    assert_eq!(status(&pod), "Running");
    assert_eq!(ready(&pod), "1/2");
    pod["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    assert_eq!(status(&pod), "NotReady");
}

#[test]
fn a_scheduling_gated_pod_shows_scheduling_gated() {
    let mut pod = mk_pod("web-1");
    pod["status"]["conditions"] =
        json!([{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]);
    assert_eq!(status(&pod), "SchedulingGated");
}

#[test]
fn wide_cells_show_the_first_pod_ip_node_nominated_node_and_readiness_gates() {
    let mut pod = mk_pod("web-1");
    pod["spec"]["nodeName"] = json!("worker-1");
    pod["spec"]["readinessGates"] =
        json!([{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]);
    pod["status"] = json!({
        "phase": "Running",
        "podIP": "192.0.2.10",
        "podIPs": [{"ip": "192.0.2.10"}, {"ip": "2001:db8::10"}],
        "conditions": [
            {"type": "example.com/lb", "status": "True"},
            {"type": "example.com/dns", "status": "False"}
        ],
        "containerStatuses": [running("app", 0)]
    });
    let row = cells("v1", "Pod", &pod);
    assert_eq!(
        row[5..],
        [
            json!("192.0.2.10"),
            json!("worker-1"),
            json!("<none>"),
            json!("1/2")
        ]
    );
    let unscheduled = mk_pod("web-2");
    assert_eq!(
        cells("v1", "Pod", &unscheduled)[5..],
        [
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn pod_columns_mark_the_wide_ones_priority_one() {
    let cols = knet_printers::columns("v1", "Pod");
    let names: Vec<(&str, i32)> = cols.iter().map(|c| (c.name, c.priority)).collect();
    assert_eq!(
        names,
        [
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
    );
    assert_eq!(cols[0].format, "name");
    assert_eq!(cols[3].kind, "string");
}
