//! What kubelet gives every container besides its spec: Service environment variables (the
//! Services of its namespace that exist when it starts, the `kubernetes` Service always,
//! `enableServiceLinks: false`, the container's own env winning), variables from ConfigMaps and
//! Secrets (read when the container starts; a missing one holds it in CreateContainerConfigError)
//! and /etc/resolv.conf per `dnsPolicy` (ClusterFirst in a namespace, Default, None with
//! `dnsConfig`).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Cluster;

/// A pod of namespace `shop` whose container prints its environment and resolv.conf, then sleeps.
fn printing_pod(name: &str, extra_spec: &str, extra_container: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: shop
spec:
{extra_spec}  containers:
  - name: main
    image: busybox
    command: [\"/bin/sh\", \"-c\", \"env; echo ---resolv---; cat /etc/resolv.conf; echo ---end---; exec sleep 3600\"]
{extra_container}"
    )
}

/// The pod's log once its container has printed everything: (environment, resolv.conf text).
fn printed(c: &Cluster, pod: &str) -> (BTreeMap<String, String>, String) {
    let logs = c.eventually(
        Duration::from_secs(40),
        &format!("the output of pod {pod}"),
        || {
            let r = c.kubectl(&["logs", "-n", "shop", pod]);
            (r.code == 0 && r.stdout.contains("---end---")).then_some(r.stdout)
        },
    );
    let (env_text, rest) = logs.split_once("---resolv---\n").unwrap();
    let (resolv, _) = rest.split_once("---end---").unwrap();
    let env = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (env, resolv.to_owned())
}

fn create_namespace(c: &Cluster) {
    c.kubectl(&["create", "namespace", "shop"]).ok();
}

const BACKEND_SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: backend-service
  namespace: shop
spec:
  selector: {app: backend}
  ports:
  - {name: http, port: 80, targetPort: 8080}
";

#[test]
fn pods_get_the_variables_of_the_services_that_exist_when_they_start() {
    let c = Cluster::up(1);
    create_namespace(&c);
    c.kubectl_stdin(&["apply", "-f", "-"], BACKEND_SERVICE).ok();
    let ip = c.get_json(&["service", "-n", "shop", "backend-service"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_owned();
    let pods = [
        printing_pod("linked", "", ""),
        printing_pod("unlinked", "  enableServiceLinks: false\n", ""),
        printing_pod(
            "overriding",
            "",
            "    env:\n    - {name: BACKEND_SERVICE_SERVICE_HOST, value: declared}\n",
        ),
    ]
    .join("---\n");
    c.kubectl_stdin(&["apply", "-f", "-"], &pods).ok();

    let (env, _) = printed(&c, "linked");
    let want = [
        ("BACKEND_SERVICE_SERVICE_HOST", ip.clone()),
        ("BACKEND_SERVICE_SERVICE_PORT", "80".into()),
        ("BACKEND_SERVICE_SERVICE_PORT_HTTP", "80".into()),
        ("BACKEND_SERVICE_PORT", format!("tcp://{ip}:80")),
        ("BACKEND_SERVICE_PORT_80_TCP", format!("tcp://{ip}:80")),
        ("BACKEND_SERVICE_PORT_80_TCP_PROTO", "tcp".into()),
        ("BACKEND_SERVICE_PORT_80_TCP_PORT", "80".into()),
        ("BACKEND_SERVICE_PORT_80_TCP_ADDR", ip.clone()),
        // The master Service of `default`, for a pod of another namespace.
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1".into()),
        ("KUBERNETES_SERVICE_PORT", "443".into()),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443".into()),
        ("KUBERNETES_PORT", "tcp://10.96.0.1:443".into()),
    ];
    for (name, value) in &want {
        assert_eq!(env.get(*name), Some(value), "{name} in {env:#?}");
    }

    let (env, _) = printed(&c, "unlinked");
    assert!(
        !env.keys().any(|k| k.starts_with("BACKEND_SERVICE")),
        "enableServiceLinks: false leaves the namespace's Services out: {env:#?}"
    );
    assert_eq!(
        env.get("KUBERNETES_SERVICE_HOST").map(String::as_str),
        Some("10.96.0.1"),
        "the kubernetes Service stays: {env:#?}"
    );

    let (env, _) = printed(&c, "overriding");
    assert_eq!(
        env.get("BACKEND_SERVICE_SERVICE_HOST").map(String::as_str),
        Some("declared")
    );
    assert_eq!(
        env.get("BACKEND_SERVICE_PORT_80_TCP_ADDR"),
        Some(&ip),
        "the Service's other variables are still given"
    );

    // A Service created after a pod started is not in its environment; a pod started after it is.
    let late = BACKEND_SERVICE.replace("backend-service", "late-service");
    c.kubectl_stdin(&["apply", "-f", "-"], &late).ok();
    let late_ip = c.get_json(&["service", "-n", "shop", "late-service"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_owned();
    c.kubectl_stdin(&["apply", "-f", "-"], &printing_pod("after", "", ""))
        .ok();
    let (after, _) = printed(&c, "after");
    assert_eq!(after.get("LATE_SERVICE_SERVICE_HOST"), Some(&late_ip));
    assert_eq!(after.get("BACKEND_SERVICE_SERVICE_HOST"), Some(&ip));
    let (before, _) = printed(&c, "linked");
    assert!(
        !before.keys().any(|k| k.starts_with("LATE_SERVICE")),
        "{before:#?}"
    );

    // `knet exec` runs with the environment the container started with, as `kubectl exec`
    // does: the Service variables of then, not of now, and the container's own override.
    for (pod, host) in [("linked", ip.as_str()), ("overriding", "declared")] {
        let run = c.knet(&["exec", "-n", "shop", pod, "--", "env"]);
        let out = run.ok();
        let exec: BTreeMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
        assert_eq!(
            exec.get("BACKEND_SERVICE_SERVICE_HOST"),
            Some(&host),
            "{pod}: {out}"
        );
        assert_eq!(
            exec.get("KUBERNETES_SERVICE_HOST"),
            Some(&"10.96.0.1"),
            "{pod}: {out}"
        );
        assert!(!out.contains("LATE_SERVICE"), "{pod}: {out}");
    }
}

/// The host's resolver settings, as kubelet reads them: nameservers, the last search line.
#[test]
fn config_maps_and_secrets_are_read_when_the_container_starts() {
    let c = Cluster::up(1);
    create_namespace(&c);
    let sources = "apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: fast, level: debug}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {token: s3cr3t}
";
    c.kubectl_stdin(&["apply", "-f", "-"], sources).ok();
    let env = "    envFrom:
    - prefix: CFG_
      configMapRef: {name: settings}
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: creds, key: token}}
    - name: LATER
      valueFrom: {configMapKeyRef: {name: later, key: value}}
    - name: MAYBE
      valueFrom: {configMapKeyRef: {name: absent, key: value, optional: true}}
";
    c.kubectl_stdin(&["apply", "-f", "-"], &printing_pod("configured", "", env))
        .ok();

    // ConfigMap `later` does not exist yet: the container waits, as kubelet's does.
    let message = c.eventually(
        Duration::from_secs(30),
        "the container waiting in CreateContainerConfigError",
        || {
            let pod = c.get_json(&["pod", "-n", "shop", "configured"]);
            let waiting = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
            (waiting["reason"] == "CreateContainerConfigError")
                .then(|| waiting["message"].as_str().unwrap_or_default().to_owned())
        },
    );
    assert_eq!(message, "configmap \"later\" not found");

    // A Service made while it waits is in its environment: kubelet computes the environment when
    // the container starts, not when the pod does.
    c.kubectl_stdin(&["apply", "-f", "-"], BACKEND_SERVICE).ok();
    let ip = c.get_json(&["service", "-n", "shop", "backend-service"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later, namespace: shop}\ndata: {value: now}\n";
    c.kubectl_stdin(&["apply", "-f", "-"], later).ok();

    let (env, _) = printed(&c, "configured");
    let get = |name: &str| env.get(name).map(String::as_str);
    assert_eq!(get("CFG_mode"), Some("fast"), "{env:#?}");
    assert_eq!(get("CFG_level"), Some("debug"), "{env:#?}");
    assert_eq!(get("TOKEN"), Some("s3cr3t"), "{env:#?}");
    assert_eq!(get("LATER"), Some("now"), "{env:#?}");
    assert_eq!(
        get("MAYBE"),
        None,
        "an optional missing ConfigMap sets nothing"
    );
    assert_eq!(get("BACKEND_SERVICE_SERVICE_HOST"), Some(ip.as_str()));
    // `knet exec` gets the same values.
    let run = c.knet(&["exec", "-n", "shop", "configured", "--", "env"]);
    let out = run.ok();
    assert!(out.lines().any(|l| l == "TOKEN=s3cr3t"), "{out}");
    assert!(out.lines().any(|l| l == "LATER=now"), "{out}");
}

fn host_resolver() -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut servers = Vec::new();
    let mut searches = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("nameserver") => servers.extend(fields.next().map(str::to_owned)),
            Some("search") => {
                searches = fields
                    .filter(|s| *s != ".")
                    .map(|s| s.trim_end_matches('.').to_owned())
                    .collect()
            }
            _ => {}
        }
    }
    (servers, searches)
}

fn lines_starting(text: &str, keyword: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(keyword))
        .map(|rest| rest.trim().to_owned())
        .collect()
}

#[test]
fn resolv_conf_follows_the_dns_policy() {
    let c = Cluster::up(1);
    create_namespace(&c);
    let pods = [
        printing_pod("cluster-first", "", ""),
        printing_pod("default-policy", "  dnsPolicy: Default\n", ""),
        printing_pod(
            "none-policy",
            "  dnsPolicy: None
  dnsConfig:
    nameservers: [192.0.2.1]
    searches: [ns1.svc.cluster-domain.example, my.dns.search.suffix]
    options:
    - {name: ndots, value: \"2\"}
    - {name: edns0}
",
            "",
        ),
    ]
    .join("---\n");
    c.kubectl_stdin(&["apply", "-f", "-"], &pods).ok();
    let (host_servers, host_searches) = host_resolver();

    // ClusterFirst (the default): the cluster DNS, the namespace's search path, then the node's.
    let (_, resolv) = printed(&c, "cluster-first");
    assert_eq!(lines_starting(&resolv, "nameserver "), ["10.96.0.10"]);
    let mut searches: Vec<String> = [
        "shop.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
    ]
    .map(str::to_owned)
    .to_vec();
    for s in host_searches.iter().take(29) {
        if !searches.contains(s) {
            searches.push(s.clone());
        }
    }
    assert_eq!(
        lines_starting(&resolv, "search "),
        [searches.join(" ")],
        "{resolv}"
    );
    assert_eq!(lines_starting(&resolv, "options "), ["ndots:5"], "{resolv}");
    // `knet exec` sees the same file as the container.
    let exec = c.knet(&[
        "exec",
        "-n",
        "shop",
        "cluster-first",
        "--",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert_eq!(exec.ok(), resolv);

    // Default: the node's resolver configuration.
    let (_, resolv) = printed(&c, "default-policy");
    let servers: Vec<String> = host_servers.iter().take(3).cloned().collect();
    assert_eq!(lines_starting(&resolv, "nameserver "), servers, "{resolv}");
    let want_search: Vec<String> = if host_searches.is_empty() {
        Vec::new()
    } else {
        vec![host_searches.join(" ")]
    };
    assert_eq!(lines_starting(&resolv, "search "), want_search, "{resolv}");
    assert!(!resolv.contains("cluster.local"), "{resolv}");

    // None: dnsConfig alone.
    let (_, resolv) = printed(&c, "none-policy");
    assert_eq!(
        resolv,
        "search ns1.svc.cluster-domain.example my.dns.search.suffix\n\
         nameserver 192.0.2.1\n\
         options ndots:2 edns0\n"
    );
}
