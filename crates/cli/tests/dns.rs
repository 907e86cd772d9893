//! Cluster DNS with real lookups from inside pods (`dig` and `getent` from Debian's dnsutils and
//! libc): short names through the search path, `name.namespace`, FQDNs, headless Services,
//! SRV, PTR, ExternalName, names outside the cluster through an upstream in the external
//! namespace, a new Service resolving at once and a deleted one answering NXDOMAIN, and the
//! source documents' frontend reaching `backend-service` by its short name.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, knet_bin, pod_ip, seeds_dir};

/// A seed manifest with its (not built-in) image replaced by knet's netexec on `port`.
fn seed_with_netexec(file: &str, image: &str, port: u16) -> String {
    let text = std::fs::read_to_string(seeds_dir().join(file)).unwrap();
    text.replace(
        &format!("image: {image}"),
        &format!(
            "image: knet/netexec\n          args: [\"--http-port={port}\", \"--udp-port=-1\"]"
        ),
    )
}

/// `dig +short ARGS` run inside pod `pod`: the answer lines, sorted.
fn dig(c: &Cluster, pod: &str, args: &[&str]) -> Vec<String> {
    let mut cmd = vec!["exec", pod, "--", "dig", "+short", "+time=2", "+tries=2"];
    cmd.extend_from_slice(args);
    let out = c.knet(&cmd);
    let mut lines: Vec<String> = out
        .ok()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

/// The response code of `dig NAME` from `pod`.
fn status(c: &Cluster, pod: &str, name: &str) -> String {
    let out = c.knet(&["exec", pod, "--", "dig", "+time=2", "+tries=2", name]);
    let text = out.ok();
    text.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
        .to_string()
}

const HEADLESS: &str = "apiVersion: v1
kind: Service
metadata:
  name: hl
spec:
  clusterIP: None
  selector: {app: hl}
  ports:
  - {name: http, port: 8080}
---
apiVersion: v1
kind: Pod
metadata:
  name: hl-0
  labels: {app: hl}
spec:
  hostname: hl-0
  subdomain: hl
  containers:
  - name: web
    image: knet/netexec
    args: [\"--http-port=8080\", \"--udp-port=-1\"]
---
apiVersion: v1
kind: Pod
metadata:
  name: hl-1
  labels: {app: hl}
spec:
  hostname: hl-1
  subdomain: hl
  containers:
  - name: web
    image: knet/netexec
    args: [\"--http-port=8080\", \"--udp-port=-1\"]
---
apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: other
spec:
  ports:
  - {name: pg, port: 5432}
---
apiVersion: v1
kind: Service
metadata:
  name: ext
spec:
  type: ExternalName
  externalName: outside.example
";

#[test]
fn pods_resolve_services_by_name_through_the_cluster_dns() {
    let c = Cluster::up_with(2, &["--upstream-dns", "172.18.0.254"]);
    // The world's outside: a DNS server in the external namespace knowing one name.
    let mut upstream = c.spawn_program_in(
        "external",
        &[
            "dnsmasq",
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=172.18.0.254",
            "--address=/outside.example/172.18.0.254",
        ],
    );
    // The source documents' frontend and backend (images replaced by the built-in server).
    let manifest = [
        seed_with_netexec("02-backend-deployment.yaml", "contoso/mybackend", 8080),
        std::fs::read_to_string(seeds_dir().join("03-backend-service.yaml")).unwrap(),
        seed_with_netexec("04-frontend-deployment.yaml", "contoso/myfrontend", 8080),
        HEADLESS.to_string(),
    ]
    .join("\n---\n");
    c.knet_stdin(&["apply", "-f", "-"], &manifest).ok();
    let backends = c.ready_pods(&["-A"], "backend-", 3);
    let frontends = c.ready_pods(&["-A"], "frontend-", 3);
    let hl = c.ready_pods(&["-A"], "hl-", 2);
    let fe = frontends[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let backend_ip = c.get_json(&["svc", "backend-service"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();

    // The kube-dns Service, as kubeadm makes it.
    let dns = c.get_json(&["svc", "kube-dns", "-n", "kube-system"]);
    assert_eq!(dns["spec"]["clusterIP"], "10.96.0.10");

    // The frontend reaches the backend by its short name (search path, ndots:5).
    let host = c.eventually(
        Duration::from_secs(15),
        "frontend -> backend-service",
        || {
            let r = c.knet(&[
                "exec",
                &fe,
                "--",
                knet_bin(),
                "image",
                "client",
                "http",
                "http://backend-service/hostname",
                "--timeout",
                "2000",
            ]);
            (r.code == 0).then(|| r.stdout.trim().to_string())
        },
    );
    assert!(
        backends
            .iter()
            .any(|b| b["metadata"]["name"] == host.as_str()),
        "{host}"
    );
    // libc's resolver: short name, name.namespace, FQDN.
    for name in [
        "backend-service",
        "backend-service.default",
        "backend-service.default.svc.cluster.local",
    ] {
        let out = c.knet(&["exec", &fe, "--", "getent", "hosts", name]);
        assert!(
            out.ok().starts_with(&format!("{backend_ip} ")),
            "{name}: {}",
            out.stdout
        );
    }
    // Another namespace needs name.namespace; the short name alone is not found.
    let db_ip = c.get_json(&["svc", "db", "-n", "other"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        dig(&c, &fe, &["db.other.svc.cluster.local"]),
        vec![db_ip.clone()]
    );
    let out = c.knet(&["exec", &fe, "--", "getent", "hosts", "db.other"]);
    assert!(out.ok().starts_with(&format!("{db_ip} ")), "{}", out.stdout);
    assert_ne!(
        c.knet(&["exec", &fe, "--", "getent", "hosts", "db"]).code,
        0
    );
    // Headless: the pods' own addresses, and each pod's hostname under the Service.
    let mut hl_ips: Vec<String> = hl.iter().map(pod_ip).collect();
    hl_ips.sort();
    assert_eq!(dig(&c, &fe, &["hl.default.svc.cluster.local"]), hl_ips);
    let hl0 = hl.iter().find(|p| p["metadata"]["name"] == "hl-0").unwrap();
    assert_eq!(
        dig(&c, &fe, &["hl-0.hl.default.svc.cluster.local"]),
        vec![pod_ip(hl0)]
    );
    // SRV for a named port: the ClusterIP Service's name; per pod for the headless one.
    assert_eq!(
        dig(&c, &fe, &["SRV", "_http._tcp.hl.default.svc.cluster.local"]).len(),
        2
    );
    let srv = dig(&c, &fe, &["SRV", "_pg._tcp.db.other.svc.cluster.local"]);
    assert_eq!(srv.len(), 1, "{srv:?}");
    assert!(
        srv[0].ends_with(" 5432 db.other.svc.cluster.local."),
        "{srv:?}"
    );
    // PTR for a ClusterIP.
    assert_eq!(
        dig(&c, &fe, &["-x", &backend_ip]),
        vec!["backend-service.default.svc.cluster.local.".to_string()]
    );
    // ExternalName: a CNAME, followed through the upstream.
    let ext = dig(&c, &fe, &["ext.default.svc.cluster.local"]);
    assert_eq!(
        ext,
        vec!["172.18.0.254".to_string(), "outside.example.".to_string()]
    );
    // A name outside the cluster, answered by the upstream in the external namespace.
    assert_eq!(dig(&c, &fe, &["outside.example"]), vec!["172.18.0.254"]);
    // The schema version record.
    assert_eq!(
        dig(&c, &fe, &["TXT", "dns-version.cluster.local"]),
        vec!["\"1.1.0\"".to_string()]
    );
    // Over TCP too.
    assert_eq!(
        dig(
            &c,
            &fe,
            &["+tcp", "backend-service.default.svc.cluster.local"]
        ),
        vec![backend_ip.clone()]
    );

    // A new Service resolves at once; a deleted one answers NXDOMAIN.
    assert_eq!(
        status(&c, &fe, "fresh.default.svc.cluster.local"),
        "NXDOMAIN"
    );
    c.knet_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: fresh\nspec:\n  ports:\n  - port: 80\n",
    )
    .ok();
    let created = Instant::now();
    let fresh_ip = c.get_json(&["svc", "fresh"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();
    c.eventually(Duration::from_secs(5), "fresh resolves", || {
        (dig(&c, &fe, &["fresh.default.svc.cluster.local"]) == vec![fresh_ip.clone()]).then_some(())
    });
    let took = created.elapsed();
    eprintln!("a new Service resolved {took:?} after it was created");
    assert!(took < Duration::from_secs(2), "{took:?}");
    c.knet(&["delete", "svc", "fresh"]).ok();
    c.eventually(Duration::from_secs(5), "fresh is gone", || {
        (status(&c, &fe, "fresh.default.svc.cluster.local") == "NXDOMAIN").then_some(())
    });
    let _ = upstream.kill();
    let _ = upstream.wait();
}
