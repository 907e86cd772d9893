//! Pieces shared by the describers of describe.go: labels, annotations, events, containers,
//! pod templates, volumes, tolerations, probes, resources.

use jiff::Timestamp;
use serde_json::Value;

use super::writer::{Writer, wr};
use crate::duration::translate_timestamp_since;
use crate::json::{
    bool_at, get, int_at, int_or_string, list_at, obj_at, opt_bool, opt_int, opt_str, str_at,
    string_map, time_at,
};
use crate::printers::core::{events_v1_as_core, protocol};
use crate::quantity::Quantity;
use crate::selector::format_label_selector;

/// Annotations `kubectl describe` never shows.
const SKIP_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];
const MAX_ANNOTATION_LEN: usize = 140;

/// Go's `time.RFC1123Z` layout, in UTC (Go's zero time when unset).
pub(crate) fn rfc1123z(ts: Option<Timestamp>) -> String {
    match ts {
        Some(t) => t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string(),
        None => "Mon, 01 Jan 0001 00:00:00 +0000".to_string(),
    }
}

/// `printLabelsMultilineWithIndent`.
pub(crate) fn labels_with_indent(
    w: &mut Writer,
    initial_indent: &str,
    title: &str,
    inner_indent: &str,
    labels: &[(&str, &str)],
) {
    wr!(w, 0, "{initial_indent}{title}:{inner_indent}");
    if labels.is_empty() {
        w.line("<none>");
        return;
    }
    for (i, (k, v)) in labels.iter().enumerate() {
        if i != 0 {
            w.write(0, initial_indent);
            w.write(0, inner_indent);
        }
        wr!(w, 0, "{k}={v}\n");
    }
}

/// `printLabelsMultiline` of the map at `path`.
pub(crate) fn labels(w: &mut Writer, title: &str, obj: &Value, path: &[&str]) {
    labels_with_indent(w, "", title, "\t", &string_map(obj, path));
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// `printAnnotationsMultiline` of the map at `path`.
pub(crate) fn annotations(w: &mut Writer, title: &str, obj: &Value, path: &[&str]) {
    wr!(w, 0, "{title}:\t");
    let entries: Vec<(&str, &str)> = string_map(obj, path)
        .into_iter()
        .filter(|(k, _)| !SKIP_ANNOTATIONS.contains(k))
        .collect();
    if entries.is_empty() {
        w.line("<none>");
        return;
    }
    let indent = "\t";
    for (i, (key, value)) in entries.iter().enumerate() {
        if i != 0 {
            w.write(0, indent);
        }
        let value = value.strip_suffix('\n').unwrap_or(value);
        if value.len() + key.len() + 2 > MAX_ANNOTATION_LEN || value.contains('\n') {
            wr!(w, 0, "{key}:\n");
            for line in value.split('\n') {
                wr!(
                    w,
                    0,
                    "{indent}  {}\n",
                    shorten(line, MAX_ANNOTATION_LEN - 2)
                );
            }
        } else {
            wr!(w, 0, "{key}: {value}\n");
        }
    }
}

/// Name, Namespace, Labels, Annotations: the opening of most describers.
pub(crate) fn object_meta(w: &mut Writer, obj: &Value) {
    wr!(w, 0, "Name:\t{}\n", crate::json::name(obj));
    wr!(w, 0, "Namespace:\t{}\n", crate::json::namespace(obj));
    labels(w, "Labels", obj, &["metadata", "labels"]);
    annotations(w, "Annotations", obj, &["metadata", "annotations"]);
}

/// `printController`: "Kind/name" of the controller owner reference.
pub(crate) fn controlled_by(obj: &Value) -> Option<String> {
    crate::json::controller_ref(obj)
        .map(|r| format!("{}/{}", str_at(r, &["kind"]), str_at(r, &["name"])))
}

/// The time that orders events (`event.SortableEvents`).
fn event_time(e: &Value) -> Option<Timestamp> {
    if get(e, &["series"]).is_some() {
        return time_at(e, &["series", "lastObservedTime"]);
    }
    time_at(e, &["lastTimestamp"]).or_else(|| time_at(e, &["eventTime"]))
}

/// `DescribeEvents`: the Events table sorted oldest first, "<none>" without events.
pub(crate) fn events(w: &mut Writer, events: &[&Value], now: Timestamp) {
    if events.is_empty() {
        w.write(0, "Events:\t<none>\n");
        return;
    }
    w.flush();
    let mut sorted: Vec<Value> = events
        .iter()
        .map(|e| {
            if crate::printers::group_of(str_at(e, &["apiVersion"])) == "events.k8s.io" {
                events_v1_as_core(e)
            } else {
                (*e).clone()
            }
        })
        .collect();
    sorted.sort_by_key(event_time);
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    w.write(1, "----\t------\t----\t----\t-------\n");
    for e in &sorted {
        let mut first_seen = translate_timestamp_since(time_at(e, &["eventTime"]), now);
        if time_at(e, &["eventTime"]).is_none() {
            first_seen = translate_timestamp_since(time_at(e, &["firstTimestamp"]), now);
        }
        let count = int_at(e, &["count"]);
        let interval = if get(e, &["series"]).is_some() {
            format!(
                "{} (x{} over {first_seen})",
                translate_timestamp_since(time_at(e, &["series", "lastObservedTime"]), now),
                int_at(e, &["series", "count"])
            )
        } else if count > 1 {
            format!(
                "{} (x{count} over {first_seen})",
                translate_timestamp_since(time_at(e, &["lastTimestamp"]), now)
            )
        } else {
            first_seen
        };
        let mut source = str_at(e, &["source", "component"]).to_string();
        if source.is_empty() {
            source = str_at(e, &["reportingComponent"]).to_string();
        }
        wr!(
            w,
            1,
            "{}\t{}\t{interval}\t{source}\t{}\n",
            str_at(e, &["type"]),
            str_at(e, &["reason"]),
            str_at(e, &["message"]).trim()
        );
    }
}

/// A quantity as `Quantity.String()` prints it; unparseable text is shown as written.
pub(crate) fn quantity_text(v: &Value) -> String {
    match Quantity::from_json(Some(v)) {
        Some(q) => q.to_string(),
        None => crate::json::scalar_text(v),
    }
}

/// `describeResources`: Limits then Requests, resource names sorted.
pub(crate) fn resources(w: &mut Writer, res: Option<&Value>, level: usize) {
    let Some(res) = res else { return };
    for (title, field) in [("Limits", "limits"), ("Requests", "requests")] {
        if let Some(list) = obj_at(res, &[field]) {
            if list.is_empty() {
                continue;
            }
            wr!(w, level, "{title}:\n");
            let mut names: Vec<&String> = list.keys().collect();
            names.sort();
            for name in names {
                let q = list.get(name).map(quantity_text).unwrap_or_default();
                wr!(w, level + 1, "{name}:\t{q}\n");
            }
        }
    }
}

/// An IntOrString field as Go prints a zero-valued one ("0" when unset).
fn intstr_text(v: Option<&Value>) -> String {
    match v {
        None => "0".to_string(),
        some => int_or_string(some),
    }
}

/// `DescribeProbe`.
pub(crate) fn probe(p: &Value) -> String {
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        int_at(p, &["initialDelaySeconds"]),
        int_at(p, &["timeoutSeconds"]),
        int_at(p, &["periodSeconds"]),
        int_at(p, &["successThreshold"]),
        int_at(p, &["failureThreshold"])
    );
    if get(p, &["exec"]).is_some() {
        let cmd: Vec<&str> = list_at(p, &["exec", "command"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        return format!("exec [{}] {attrs}", cmd.join(" "));
    }
    if let Some(http) = get(p, &["httpGet"]) {
        // url.URL{Scheme, Host, Path}.String()
        let scheme = str_at(http, &["scheme"]).to_lowercase();
        let port = intstr_text(get(http, &["port"]));
        let host = str_at(http, &["host"]);
        let host_port = if port.is_empty() {
            host.to_string()
        } else {
            crate::printers::join_host_port(host, &port)
        };
        let path = str_at(http, &["path"]);
        let mut url = String::new();
        if !scheme.is_empty() {
            url.push_str(&scheme);
            url.push(':');
        }
        if (!scheme.is_empty() || !host_port.is_empty())
            && (!host_port.is_empty() || !path.is_empty())
        {
            url.push_str("//");
            url.push_str(&host_port);
        }
        if !path.is_empty() && !path.starts_with('/') && !host_port.is_empty() {
            url.push('/');
        }
        url.push_str(path);
        return format!("http-get {url} {attrs}");
    }
    if let Some(tcp) = get(p, &["tcpSocket"]) {
        return format!(
            "tcp-socket {}:{} {attrs}",
            str_at(tcp, &["host"]),
            intstr_text(get(tcp, &["port"]))
        );
    }
    if let Some(grpc) = get(p, &["grpc"]) {
        return format!(
            "grpc <pod>:{} {} {attrs}",
            int_at(grpc, &["port"]),
            str_at(grpc, &["service"])
        );
    }
    format!("unknown {attrs}")
}

/// `fieldpath.ExtractFieldPathAsString` for the downward-API paths of a pod.
fn pod_field(pod: &Value, field_path: &str) -> String {
    for (prefix, map) in [
        ("metadata.labels", "labels"),
        ("metadata.annotations", "annotations"),
    ] {
        if let Some(rest) = field_path.strip_prefix(prefix) {
            if rest.is_empty() {
                return string_map(pod, &["metadata", map])
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            if let Some(key) = rest.strip_prefix("['").and_then(|r| r.strip_suffix("']")) {
                return str_at(pod, &["metadata", map, key]).to_string();
            }
        }
    }
    match field_path {
        "status.podIPs" | "status.hostIPs" => {
            let field = field_path.trim_start_matches("status.");
            list_at(pod, &["status", field])
                .iter()
                .map(|ip| str_at(ip, &["ip"]))
                .collect::<Vec<_>>()
                .join(",")
        }
        other => {
            let path: Vec<&str> = other.split('.').collect();
            get(pod, &path)
                .map(crate::json::scalar_text)
                .unwrap_or_default()
        }
    }
}

/// `resourcehelper.ExtractContainerResourceValue`: a container resource divided by the
/// divisor, rounded up.
fn container_resource_value(selector: &Value, container: &Value) -> Option<String> {
    let divisor = Quantity::from_json(get(selector, &["divisor"]))
        .filter(|d| !d.is_zero())
        .or_else(|| Quantity::parse("1"))?;
    let resource = str_at(selector, &["resource"]);
    let (field, name) = resource.split_once('.')?;
    if field != "limits" && field != "requests" {
        return None;
    }
    let q = Quantity::from_json(get(container, &["resources", field, name]))
        .unwrap_or_else(Quantity::zero);
    let value = match name {
        "cpu" => {
            let d = divisor.milli_value();
            if d == 0 {
                return None;
            }
            ceil_div(q.milli_value(), d)
        }
        "memory" | "ephemeral-storage" => {
            let d = divisor.value();
            if d == 0 {
                return None;
            }
            ceil_div(q.value(), d)
        }
        n if n.starts_with("hugepages-") => {
            let d = divisor.value();
            if d == 0 {
                return None;
            }
            ceil_div(q.value(), d)
        }
        _ => return None,
    };
    Some(value.to_string())
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a > 0) == (b > 0)) {
        q + 1
    } else {
        q
    }
}

/// `describeContainers` for the containers at `list` with their statuses; `pod` resolves
/// downward-API environment values (templates pass `None`); `space` indents templates.
pub(crate) fn containers(
    w: &mut Writer,
    label: &str,
    list: &[Value],
    statuses: &[Value],
    pod: Option<&Value>,
    space: &str,
) {
    let none = if list.is_empty() { " <none>" } else { "" };
    wr!(w, 0, "{space}{label}:{none}\n");
    let name_indent = if space.is_empty() { "" } else { " " };
    for c in list {
        let cname = str_at(c, &["name"]);
        let status = statuses.iter().find(|s| str_at(s, &["name"]) == cname);
        wr!(w, 1, "{name_indent}{cname}:\n");
        if let Some(s) = status {
            wr!(w, 2, "Container ID:\t{}\n", str_at(s, &["containerID"]));
        }
        wr!(w, 2, "Image:\t{}\n", str_at(c, &["image"]));
        if let Some(s) = status {
            wr!(w, 2, "Image ID:\t{}\n", str_at(s, &["imageID"]));
        }
        let ports = list_at(c, &["ports"]);
        let port_text = ports
            .iter()
            .map(|p| format!("{}/{}", int_at(p, &["containerPort"]), protocol(p)))
            .collect::<Vec<_>>()
            .join(", ");
        if port_text.contains(',') {
            wr!(w, 2, "Ports:\t{port_text}\n");
        } else {
            wr!(w, 2, "Port:\t{}\n", or_none(&port_text));
        }
        let host_port_text = ports
            .iter()
            .map(|p| format!("{}/{}", int_at(p, &["hostPort"]), protocol(p)))
            .collect::<Vec<_>>()
            .join(", ");
        if host_port_text.contains(',') {
            wr!(w, 2, "Host Ports:\t{host_port_text}\n");
        } else {
            wr!(w, 2, "Host Port:\t{}\n", or_none(&host_port_text));
        }
        seccomp(w, c, &["securityContext", "seccompProfile"], 2);
        for (title, field) in [("Command", "command"), ("Args", "args")] {
            let items = list_at(c, &[field]);
            if !items.is_empty() {
                wr!(w, 2, "{title}:\n");
                for item in items.iter().filter_map(Value::as_str) {
                    for line in item.split('\n') {
                        wr!(w, 3, "{line}\n");
                    }
                }
            }
        }
        if let Some(s) = status {
            container_state(w, "State", get(s, &["state"]));
            if get(s, &["lastState", "terminated"]).is_some() {
                container_state(w, "Last State", get(s, &["lastState"]));
            }
            wr!(w, 2, "Ready:\t{}\n", print_bool(bool_at(s, &["ready"])));
            wr!(w, 2, "Restart Count:\t{}\n", int_at(s, &["restartCount"]));
        }
        resources(w, get(c, &["resources"]), 2);
        for (title, field) in [
            ("Liveness", "livenessProbe"),
            ("Readiness", "readinessProbe"),
            ("Startup", "startupProbe"),
        ] {
            if let Some(p) = get(c, &[field]) {
                wr!(w, 2, "{title}:\t{}\n", probe(p));
            }
        }
        env_from(w, c);
        env(w, c, pod);
        mounts(w, c);
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

/// `printBool`.
pub(crate) fn print_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn seccomp(w: &mut Writer, obj: &Value, path: &[&str], level: usize) {
    if let Some(profile) = get(obj, path) {
        let kind = str_at(profile, &["type"]);
        wr!(w, level, "SeccompProfile:\t{kind}\n");
        if kind == "Localhost" {
            wr!(
                w,
                level + 1,
                "LocalhostProfile:\t{}\n",
                str_at(profile, &["localhostProfile"])
            );
        }
    }
}

/// `describeStatus`.
fn container_state(w: &mut Writer, title: &str, state: Option<&Value>) {
    let state = state.cloned().unwrap_or(Value::Null);
    if get(&state, &["running"]).is_some() {
        wr!(w, 2, "{title}:\tRunning\n");
        wr!(
            w,
            3,
            "Started:\t{}\n",
            rfc1123z(time_at(&state, &["running", "startedAt"]))
        );
    } else if get(&state, &["waiting"]).is_some() {
        wr!(w, 2, "{title}:\tWaiting\n");
        let reason = str_at(&state, &["waiting", "reason"]);
        if !reason.is_empty() {
            wr!(w, 3, "Reason:\t{reason}\n");
        }
    } else if let Some(t) = get(&state, &["terminated"]) {
        wr!(w, 2, "{title}:\tTerminated\n");
        let reason = str_at(t, &["reason"]);
        if !reason.is_empty() {
            wr!(w, 3, "Reason:\t{reason}\n");
        }
        let message = str_at(t, &["message"]);
        if !message.is_empty() {
            wr!(w, 3, "Message:\t{message}\n");
        }
        wr!(w, 3, "Exit Code:\t{}\n", int_at(t, &["exitCode"]));
        let signal = int_at(t, &["signal"]);
        if signal > 0 {
            wr!(w, 3, "Signal:\t{signal}\n");
        }
        wr!(w, 3, "Started:\t{}\n", rfc1123z(time_at(t, &["startedAt"])));
        wr!(
            w,
            3,
            "Finished:\t{}\n",
            rfc1123z(time_at(t, &["finishedAt"]))
        );
    } else {
        wr!(w, 2, "{title}:\tWaiting\n");
    }
}

fn env_from(w: &mut Writer, c: &Value) {
    let list = list_at(c, &["envFrom"]);
    if list.is_empty() {
        return;
    }
    wr!(w, 2, "Environment Variables from:\n");
    for e in list {
        let (from, r) = if let Some(r) = get(e, &["configMapRef"]) {
            ("ConfigMap", Some(r))
        } else if let Some(r) = get(e, &["secretRef"]) {
            ("Secret", Some(r))
        } else {
            ("", None)
        };
        let name = r.map(|r| str_at(r, &["name"])).unwrap_or("");
        let optional = r.is_some_and(|r| bool_at(r, &["optional"]));
        let prefix = str_at(e, &["prefix"]);
        if prefix.is_empty() {
            wr!(w, 3, "{name}\t{from}\tOptional: {optional}\n");
        } else {
            wr!(
                w,
                3,
                "{name}\t{from} with prefix '{prefix}'\tOptional: {optional}\n"
            );
        }
    }
}

fn env(w: &mut Writer, c: &Value, pod: Option<&Value>) {
    let list = list_at(c, &["env"]);
    let none = if list.is_empty() { "\t<none>" } else { "" };
    wr!(w, 2, "Environment:{none}\n");
    for e in list {
        let name = str_at(e, &["name"]);
        let Some(from) = get(e, &["valueFrom"]) else {
            for (i, line) in str_at(e, &["value"]).split('\n').enumerate() {
                if i == 0 {
                    wr!(w, 3, "{name}:\t{line}\n");
                } else {
                    wr!(w, 3, "\t{line}\n");
                }
            }
            continue;
        };
        if let Some(f) = get(from, &["fieldRef"]) {
            let path = str_at(f, &["fieldPath"]);
            let value = pod.map(|p| pod_field(p, path)).unwrap_or_default();
            wr!(
                w,
                3,
                "{name}:\t{value} ({}:{path})\n",
                str_at(f, &["apiVersion"])
            );
        } else if let Some(r) = get(from, &["resourceFieldRef"]) {
            let resource = str_at(r, &["resource"]);
            let mut value = container_resource_value(r, c).unwrap_or_default();
            if value == "0" && (resource == "limits.cpu" || resource == "limits.memory") {
                value = "node allocatable".to_string();
            }
            wr!(w, 3, "{name}:\t{value} ({resource})\n");
        } else if let Some(r) = get(from, &["secretKeyRef"]) {
            wr!(
                w,
                3,
                "{name}:\t<set to the key '{}' in secret '{}'>\tOptional: {}\n",
                str_at(r, &["key"]),
                str_at(r, &["name"]),
                bool_at(r, &["optional"])
            );
        } else if let Some(r) = get(from, &["configMapKeyRef"]) {
            wr!(
                w,
                3,
                "{name}:\t<set to the key '{}' of config map '{}'>\tOptional: {}\n",
                str_at(r, &["key"]),
                str_at(r, &["name"]),
                bool_at(r, &["optional"])
            );
        }
    }
}

fn mounts(w: &mut Writer, c: &Value) {
    let list = list_at(c, &["volumeMounts"]);
    let none = if list.is_empty() { "\t<none>" } else { "" };
    wr!(w, 2, "Mounts:{none}\n");
    let mut sorted: Vec<&Value> = list.iter().collect();
    sorted.sort_by_key(|m| str_at(m, &["mountPath"]));
    for m in sorted {
        let mut flags = vec![
            if bool_at(m, &["readOnly"]) {
                "ro"
            } else {
                "rw"
            }
            .to_string(),
        ];
        let sub_path = str_at(m, &["subPath"]);
        if !sub_path.is_empty() {
            flags.push(format!("path={sub_path:?}"));
        }
        wr!(
            w,
            3,
            "{} from {} ({})\n",
            str_at(m, &["mountPath"]),
            str_at(m, &["name"]),
            flags.join(",")
        );
    }
    let devices = list_at(c, &["volumeDevices"]);
    if !devices.is_empty() {
        wr!(w, 2, "Devices:{none}\n");
        let mut sorted: Vec<&Value> = devices.iter().collect();
        sorted.sort_by_key(|d| str_at(d, &["devicePath"]));
        for d in sorted {
            wr!(
                w,
                3,
                "{} from {}\n",
                str_at(d, &["devicePath"]),
                str_at(d, &["name"])
            );
        }
    }
}

/// `describeVolumes`.
pub(crate) fn volumes(w: &mut Writer, list: &[Value], space: &str) {
    if list.is_empty() {
        wr!(w, 0, "{space}Volumes:\t<none>\n");
        return;
    }
    wr!(w, 0, "{space}Volumes:\n");
    let name_indent = if space.is_empty() { "" } else { " " };
    for v in list {
        wr!(w, 1, "{name_indent}{}:\n", str_at(v, &["name"]));
        volume_source(w, v);
    }
}

fn optional(v: &Value) -> bool {
    opt_bool(v, &["optional"]).unwrap_or(false)
}

fn volume_source(w: &mut Writer, v: &Value) {
    if let Some(hp) = get(v, &["hostPath"]) {
        let kind = opt_str(hp, &["type"]).unwrap_or("<none>");
        wr!(
            w,
            2,
            "Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{kind}\n",
            str_at(hp, &["path"])
        );
    } else if let Some(ed) = get(v, &["emptyDir"]) {
        let size = Quantity::from_json(get(ed, &["sizeLimit"]))
            .filter(|q| q.milli_value() > 0)
            .map(|q| q.to_string())
            .unwrap_or_else(|| "<unset>".to_string());
        wr!(
            w,
            2,
            "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{size}\n",
            str_at(ed, &["medium"])
        );
    } else if let Some(s) = get(v, &["secret"]) {
        wr!(
            w,
            2,
            "Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
            str_at(s, &["secretName"]),
            optional(s)
        );
    } else if let Some(cm) = get(v, &["configMap"]) {
        wr!(
            w,
            2,
            "Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
            str_at(cm, &["name"]),
            optional(cm)
        );
    } else if let Some(p) = get(v, &["projected"]) {
        w.write(
            2,
            "Type:\tProjected (a volume that contains injected data from multiple sources)\n",
        );
        for source in list_at(p, &["sources"]) {
            if let Some(s) = get(source, &["secret"]) {
                wr!(
                    w,
                    2,
                    "SecretName:\t{}\n    Optional:\t{}\n",
                    str_at(s, &["name"]),
                    optional(s)
                );
            } else if get(source, &["downwardAPI"]).is_some() {
                w.write(2, "DownwardAPI:\ttrue\n");
            } else if let Some(cm) = get(source, &["configMap"]) {
                wr!(
                    w,
                    2,
                    "ConfigMapName:\t{}\n    Optional:\t{}\n",
                    str_at(cm, &["name"]),
                    optional(cm)
                );
            } else if let Some(t) = get(source, &["serviceAccountToken"]) {
                wr!(
                    w,
                    2,
                    "TokenExpirationSeconds:\t{}\n",
                    opt_int(t, &["expirationSeconds"]).unwrap_or(3600)
                );
            }
        }
    } else if let Some(pvc) = get(v, &["persistentVolumeClaim"]) {
        wr!(
            w,
            2,
            "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t{}\n    ReadOnly:\t{}\n",
            str_at(pvc, &["claimName"]),
            bool_at(pvc, &["readOnly"])
        );
    } else if let Some(d) = get(v, &["downwardAPI"]) {
        w.write(
            2,
            "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n",
        );
        for item in list_at(d, &["items"]) {
            let path = str_at(item, &["path"]);
            if let Some(f) = get(item, &["fieldRef"]) {
                wr!(w, 3, "{} -> {path}\n", str_at(f, &["fieldPath"]));
            }
            if let Some(r) = get(item, &["resourceFieldRef"]) {
                wr!(w, 3, "{} -> {path}\n", str_at(r, &["resource"]));
            }
        }
    } else if let Some(nfs) = get(v, &["nfs"]) {
        wr!(
            w,
            2,
            "Type:\tNFS (an NFS mount that lasts the lifetime of a pod)\n    Server:\t{}\n    Path:\t{}\n    ReadOnly:\t{}\n",
            str_at(nfs, &["server"]),
            str_at(nfs, &["path"]),
            bool_at(nfs, &["readOnly"])
        );
    } else if get(v, &["ephemeral"]).is_some() {
        w.write(
            2,
            "Type:\tEphemeralVolume (an inline specification for a volume that gets created and deleted with the pod)\n",
        );
    } else if let Some(csi) = get(v, &["csi"]) {
        wr!(
            w,
            2,
            "Type:\tCSI (a Container Storage Interface (CSI) volume source)\n    Driver:\t{}\n    FSType:\t{}\n    ReadOnly:\t{}\n",
            str_at(csi, &["driver"]),
            str_at(csi, &["fsType"]),
            bool_at(csi, &["readOnly"])
        );
        let attrs = string_map(csi, &["volumeAttributes"]);
        w.write(2, "VolumeAttributes:\t");
        if attrs.is_empty() {
            w.line("<none>");
        } else {
            for (i, (k, val)) in attrs.iter().enumerate() {
                if i != 0 {
                    w.write(2, "\t");
                }
                wr!(
                    w,
                    2,
                    "{}\n",
                    shorten(&format!("{k}={val}"), MAX_ANNOTATION_LEN)
                );
            }
        }
    } else if let Some(img) = get(v, &["image"]) {
        wr!(
            w,
            2,
            "Type:\tImage (a container image or OCI artifact)\n    Reference:\t{}\n    PullPolicy:\t{}\n",
            str_at(img, &["reference"]),
            str_at(img, &["pullPolicy"])
        );
    } else {
        w.write(1, "<unknown>\n");
    }
}

/// `printTolerationsMultilineWithIndent`, sorted by key.
pub(crate) fn tolerations(w: &mut Writer, initial_indent: &str, title: &str, list: &[Value]) {
    let inner_indent = "\t";
    wr!(w, 0, "{initial_indent}{title}:{inner_indent}");
    if list.is_empty() {
        w.line("<none>");
        return;
    }
    let mut sorted: Vec<&Value> = list.iter().collect();
    sorted.sort_by_key(|t| str_at(t, &["key"]));
    for (i, t) in sorted.iter().enumerate() {
        if i != 0 {
            w.write(0, initial_indent);
            w.write(0, inner_indent);
        }
        let key = str_at(t, &["key"]);
        let value = str_at(t, &["value"]);
        let effect = str_at(t, &["effect"]);
        let mut text = key.to_string();
        if !value.is_empty() {
            text.push('=');
            text.push_str(value);
        }
        if !effect.is_empty() {
            text.push(':');
            text.push_str(effect);
        }
        if str_at(t, &["operator"]) == "Exists" && value.is_empty() {
            if !key.is_empty() || !effect.is_empty() {
                text.push_str(" op=Exists");
            } else {
                text.push_str("op=Exists");
            }
        }
        if let Some(secs) = opt_int(t, &["tolerationSeconds"]) {
            text.push_str(&format!(" for {secs}s"));
        }
        wr!(w, 0, "{text}\n");
    }
}

/// `describeTopologySpreadConstraints`, sorted by topology key.
pub(crate) fn topology_spread(w: &mut Writer, list: &[Value], space: &str) {
    if list.is_empty() {
        return;
    }
    let mut sorted: Vec<&Value> = list.iter().collect();
    sorted.sort_by_key(|t| str_at(t, &["topologyKey"]));
    wr!(w, 0, "{space}Topology Spread Constraints:\t");
    for (i, t) in sorted.iter().enumerate() {
        if i != 0 {
            wr!(w, 0, "{space}\t");
        }
        let mut text = format!(
            "{}:{} when max skew {} is exceeded",
            str_at(t, &["topologyKey"]),
            str_at(t, &["whenUnsatisfiable"]),
            int_at(t, &["maxSkew"])
        );
        if let Some(sel) = get(t, &["labelSelector"]) {
            text.push_str(&format!(
                " for selector {}",
                format_label_selector(Some(sel))
            ));
        }
        wr!(w, 0, "{text}\n");
    }
}

/// `DescribePodTemplate`.
pub(crate) fn pod_template(w: &mut Writer, template: Option<&Value>) {
    w.write(0, "Pod Template:\n");
    let Some(t) = template else {
        w.write(1, "<unset>");
        return;
    };
    labels(w, "  Labels", t, &["metadata", "labels"]);
    if crate::json::map_len(t, &["metadata", "annotations"]) > 0 {
        annotations(w, "  Annotations", t, &["metadata", "annotations"]);
    }
    let sa = str_at(t, &["spec", "serviceAccountName"]);
    if !sa.is_empty() {
        wr!(w, 1, "Service Account:\t{sa}\n");
    }
    let init = list_at(t, &["spec", "initContainers"]);
    if !init.is_empty() {
        containers(w, "Init Containers", init, &[], None, "  ");
    }
    containers(
        w,
        "Containers",
        list_at(t, &["spec", "containers"]),
        &[],
        None,
        "  ",
    );
    volumes(w, list_at(t, &["spec", "volumes"]), "  ");
    topology_spread(w, list_at(t, &["spec", "topologySpreadConstraints"]), "  ");
    let pc = str_at(t, &["spec", "priorityClassName"]);
    if !pc.is_empty() {
        wr!(w, 1, "Priority Class Name:\t{pc}\n");
    }
    labels(w, "  Node-Selectors", t, &["spec", "nodeSelector"]);
    tolerations(w, "", "  Tolerations", list_at(t, &["spec", "tolerations"]));
}
