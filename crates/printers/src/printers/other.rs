//! Lease, RBAC bindings, PriorityClass, PodDisruptionBudget and the API server's default
//! table.

use jiff::Timestamp;
use serde_json::Value;

use super::{age, n, s};
use crate::json::{bool_at, get, int_at, int_or_string, list_at, name, opt_str, str_at};

pub(crate) fn lease_cells(lease: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        s(name(lease)),
        s(opt_str(lease, &["spec", "holderIdentity"]).unwrap_or("")),
        age(lease, now),
    ]
}

/// `rbac.SubjectsStrings`: users, groups and `namespace/name` service accounts.
fn subjects(binding: &Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for subject in list_at(binding, &["subjects"]) {
        let subject_name = str_at(subject, &["name"]).to_string();
        match str_at(subject, &["kind"]) {
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                str_at(subject, &["namespace"]),
                subject_name
            )),
            "User" => users.push(subject_name),
            "Group" => groups.push(subject_name),
            _ => {}
        }
    }
    (users, groups, sas)
}

pub(crate) fn role_binding_cells(binding: &Value, now: Timestamp) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(binding, &["roleRef", "kind"]),
        str_at(binding, &["roleRef", "name"])
    );
    let (users, groups, sas) = subjects(binding);
    vec![
        s(name(binding)),
        s(role),
        age(binding, now),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(sas.join(", ")),
    ]
}

pub(crate) fn priority_class_cells(pc: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        s(name(pc)),
        n(int_at(pc, &["value"])),
        Value::Bool(bool_at(pc, &["globalDefault"])),
        age(pc, now),
        s(opt_str(pc, &["preemptionPolicy"]).unwrap_or("")),
    ]
}

pub(crate) fn pod_disruption_budget_cells(pdb: &Value, now: Timestamp) -> Vec<Value> {
    let or_na = |field: &str| match get(pdb, &["spec", field]) {
        Some(v) => int_or_string(Some(v)),
        None => "N/A".to_string(),
    };
    vec![
        s(name(pdb)),
        s(or_na("minAvailable")),
        s(or_na("maxUnavailable")),
        n(int_at(pdb, &["status", "disruptionsAllowed"])),
        age(pdb, now),
    ]
}

/// The API server's default table row: name and the creation time in RFC 3339 (UTC), Go's
/// zero time when unset.
pub(crate) fn default_cells(obj: &Value) -> Vec<Value> {
    let created = crate::json::time_at(obj, &["metadata", "creationTimestamp"])
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![s(name(obj)), s(created)]
}
