//! The computed table in the real kernel: loaded with the real `nft` into a throw-away network
//! namespace (`unshare -rn`, so any user can run it), with real TCP connections between three
//! namespaces:
//!
//! ```text
//!  client netns                       node netns (the table)              pods netns
//!  eth0 192.0.2.20 "external"  ── v-client 192.0.2.10     v-pods 10.244.1.1 ── eth0 10.244.1.2-.5
//!       10.244.2.9 "a pod elsewhere"                                             server on :8080
//! ```
//!
//! The server answers each connection with the address it was reached at (the endpoint the
//! DNAT chose) and the peer it saw (the client, or the node's 10.244.1.1 when masqueraded).

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use knet_proxy::{
    Endpoint, Protocol, Proxier, Ruleset, ServicePort, Snapshot, TrafficPolicy, compute,
    full_transaction, transaction,
};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};

const INSIDE: &str = "KNET_PROXY_NFT_TEST_INSIDE";
const INNER_TEST: &str = "real_connections_inside_a_private_network_namespace";

const NODE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const EXTERNAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
const POD_ELSEWHERE: Ipv4Addr = Ipv4Addr::new(10, 244, 2, 9);
const NODE_ON_PODS: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 1);
const EP2: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 2);
const EP3: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 3);
const EP4: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 4);
const EP5: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 5);

#[test]
fn the_table_dnats_real_connections_in_a_private_network_namespace() {
    let probe = Command::new("unshare")
        .args(["-rn", "nft", "list", "ruleset"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            println!(
                "skipped: `unshare -rn nft list ruleset` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("skipped: cannot run `unshare` ({e})");
            return;
        }
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("unshare")
        .arg("-rn")
        .arg(exe)
        .args(["--exact", INNER_TEST, "--ignored", "--nocapture"])
        .env(INSIDE, "1")
        .output()
        .expect("run the test inside unshare -rn");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    println!("{stdout}\n{stderr}");
    assert!(out.status.success(), "inner test failed");
    assert!(
        stdout.contains("1 passed"),
        "the inner test did not run: {stdout}"
    );
}

// ---------------------------------------------------------------------------------------
// Inside the namespace.

fn sh(cmd: &str) {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn nft_apply(script: &str) {
    let path = std::env::temp_dir().join(format!("knet-proxy-test-{}.nft", std::process::id()));
    std::fs::write(&path, script).expect("write script");
    let out = Command::new("nft")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run nft");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "nft -f failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn nft_list(what: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("nft list {what}")])
        .output()
        .expect("run nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new network namespace, kept alive by the returned handle.
fn new_netns() -> OwnedFd {
    std::thread::spawn(|| {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare a network namespace");
        OwnedFd::from(std::fs::File::open("/proc/thread-self/ns/net").expect("open netns"))
    })
    .join()
    .expect("netns thread")
}

/// Runs `f` on a thread inside `ns` (commands it starts run there too).
fn in_ns<T: Send + 'static>(ns: &OwnedFd, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.try_clone().expect("dup netns fd");
    std::thread::spawn(move || {
        setns(&ns, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("thread in netns")
}

/// What a connection attempt ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Reached the endpoint `at`, which saw the connection come from `peer`.
    Reached { at: SocketAddrV4, peer: Ipv4Addr },
    /// Connection refused (the table's reject).
    Refused,
    /// No answer before the timeout (the table's drop).
    TimedOut,
}

/// Connects from `src` (bound) to `dst` with `timeout`, in the calling thread's namespace.
fn attempt(src: Ipv4Addr, dst: SocketAddrV4, timeout: Duration) -> Outcome {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    // connect() waits at most SO_SNDTIMEO.
    setsockopt(&fd, sockopt::SendTimeout, &TimeVal::milliseconds(ms)).expect("SO_SNDTIMEO");
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::milliseconds(ms)).expect("SO_RCVTIMEO");
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0))).expect("bind");
    match connect(fd.as_raw_fd(), &SockaddrIn::from(dst)) {
        Ok(()) => {}
        Err(nix::errno::Errno::ECONNREFUSED) => return Outcome::Refused,
        Err(nix::errno::Errno::EINPROGRESS | nix::errno::Errno::EAGAIN) => {
            return Outcome::TimedOut;
        }
        Err(e) => panic!("connect {src} -> {dst}: {e}"),
    }
    let mut line = String::new();
    TcpStream::from(fd)
        .read_to_string(&mut line)
        .expect("read the server's answer");
    let mut words = line.split_whitespace();
    let at = words.next().and_then(|w| w.parse().ok());
    let peer = words.next().and_then(|w| w.parse::<SocketAddrV4>().ok());
    match (at, peer) {
        (Some(at), Some(peer)) => Outcome::Reached {
            at,
            peer: *peer.ip(),
        },
        _ => panic!("bad answer {line:?}"),
    }
}

fn reached(at: Ipv4Addr, peer: Ipv4Addr) -> Outcome {
    Outcome::Reached {
        at: SocketAddrV4::new(at, 8080),
        peer,
    }
}

fn sp(name: &str, vip: &str) -> ServicePort {
    ServicePort::cluster_ip(
        format!("default/{name}:http"),
        vip.parse().expect("vip"),
        80,
        Protocol::Tcp,
    )
}

fn eps(ips: &[Ipv4Addr], local: &[Ipv4Addr]) -> Vec<Endpoint> {
    ips.iter()
        .map(|ip| Endpoint {
            local: local.contains(ip),
            ..Endpoint::new(*ip, 8080)
        })
        .collect()
}

fn cluster() -> Snapshot {
    let mut s = Snapshot::new("10.244.0.0/16".parse().expect("cidr"), vec![NODE]);
    let all = [EP2, EP3, EP4];
    s.insert(
        ServicePort {
            node_port: Some(30080),
            ..sp("web", "10.96.0.20")
        },
        eps(&all, &[]),
    );
    s.insert(sp("self", "10.96.0.21"), eps(&[EP2], &[]));
    s.insert(
        ServicePort {
            session_affinity_timeout: Some(10_800),
            ..sp("sticky", "10.96.0.22")
        },
        eps(&all, &[]),
    );
    s.insert(
        ServicePort {
            session_affinity_timeout: Some(2),
            ..sp("brief", "10.96.0.23")
        },
        eps(&all, &[]),
    );
    s.insert(
        ServicePort {
            load_balancer_ips: vec!["198.51.100.7".parse().expect("ip")],
            external_traffic_policy: TrafficPolicy::Local,
            ..sp("lb-local", "10.96.0.24")
        },
        eps(&all, &[EP2]),
    );
    s.insert(
        ServicePort {
            load_balancer_ips: vec!["198.51.100.9".parse().expect("ip")],
            external_traffic_policy: TrafficPolicy::Local,
            ..sp("lb-elsewhere", "10.96.0.25")
        },
        eps(&[EP3, EP4], &[]),
    );
    s.insert(
        ServicePort {
            load_balancer_ips: vec!["198.51.100.10".parse().expect("ip")],
            ..sp("empty", "10.96.0.26")
        },
        vec![],
    );
    s.insert(
        ServicePort {
            load_balancer_ips: vec!["198.51.100.8".parse().expect("ip")],
            ..sp("lb-cluster", "10.96.0.27")
        },
        eps(&all, &[EP2]),
    );
    s.insert(
        ServicePort {
            internal_traffic_policy: TrafficPolicy::Local,
            ..sp("itp-local", "10.96.0.28")
        },
        eps(&all, &[EP2]),
    );
    s
}

fn to(vip: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(vip.parse().expect("vip"), port)
}

const QUICK: Duration = Duration::from_secs(2);

#[test]
#[ignore = "runs inside `unshare -rn`, started by the_table_dnats_real_connections_in_a_private_network_namespace"]
fn real_connections_inside_a_private_network_namespace() {
    if std::env::var_os(INSIDE).is_none() {
        println!("not inside the test's network namespace: nothing to do");
        return;
    }
    // The node: this process's namespace.
    let pods = new_netns();
    let client = new_netns();
    let me = std::process::id();
    sh("ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward");
    in_ns(&pods, move || {
        sh(&format!(
            "ip link set lo up && ip link add eth0 type veth peer name v-pods netns /proc/{me}/ns/net \
             && ip addr add 10.244.1.2/24 dev eth0 && ip addr add 10.244.1.3/24 dev eth0 \
             && ip addr add 10.244.1.4/24 dev eth0 && ip addr add 10.244.1.5/24 dev eth0 \
             && ip link set eth0 up && ip route add default via 10.244.1.1"
        ));
    });
    in_ns(&client, move || {
        sh(&format!(
            "ip link set lo up && ip link add eth0 type veth peer name v-client netns /proc/{me}/ns/net \
             && ip addr add 192.0.2.20/24 dev eth0 && ip addr add 10.244.2.9/24 dev eth0 \
             && ip link set eth0 up && ip route add default via 192.0.2.10"
        ));
    });
    sh(
        "ip addr add 10.244.1.1/24 dev v-pods && ip link set v-pods up \
        && ip addr add 192.0.2.10/24 dev v-client && ip link set v-client up \
        && ip route add 10.244.2.0/24 via 192.0.2.20 \
        && ip route add 10.96.0.0/12 dev v-pods && ip route add 198.51.100.0/24 dev v-pods",
    );
    // The endpoints: one server for all of the pods' addresses.
    let pods2 = pods.try_clone().expect("dup");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        setns(&pods2, CloneFlags::CLONE_NEWNET).expect("setns");
        let listener = TcpListener::bind("0.0.0.0:8080").expect("listen");
        let _ = ready_tx.send(());
        for mut conn in listener.incoming().flatten() {
            use std::io::Write;
            if let (Ok(local), Ok(peer)) = (conn.local_addr(), conn.peer_addr()) {
                let _ = writeln!(conn, "{local} {peer}");
            }
        }
    });
    ready_rx.recv().expect("server ready");

    let desired = compute(&cluster());
    assert_eq!(desired.conflicts().len(), 0);
    // A full transaction recreates the table, also when it exists.
    nft_apply(&full_transaction(&desired).render());
    let mut proxier = Proxier::new();
    let full = proxier.full(&cluster());
    assert_eq!(full, full_transaction(&desired));
    nft_apply(&full.render());

    let from_client = |src: Ipv4Addr, dst: SocketAddrV4, timeout: Duration| {
        in_ns(&client, move || attempt(src, dst, timeout))
    };
    let from_pod =
        |src: Ipv4Addr, dst: SocketAddrV4| in_ns(&pods, move || attempt(src, dst, QUICK));

    // ClusterIP from a pod: balanced, the pod's address kept.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        match from_client(POD_ELSEWHERE, to("10.96.0.20", 80), QUICK) {
            Outcome::Reached { at, peer } => {
                assert_eq!(peer, POD_ELSEWHERE, "a pod's address is kept");
                seen.insert(*at.ip());
            }
            o => panic!("cluster IP from a pod: {o:?}"),
        }
    }
    assert!(
        seen.len() >= 2 && seen.iter().all(|ip| [EP2, EP3, EP4].contains(ip)),
        "{seen:?}"
    );
    // ClusterIP from outside the cluster and from the node: masqueraded.
    assert!(matches!(
        from_client(EXTERNAL, to("10.96.0.20", 80), QUICK),
        Outcome::Reached {
            peer: NODE_ON_PODS,
            ..
        }
    ));
    assert!(matches!(
        attempt(NODE, to("10.96.0.20", 80), QUICK),
        Outcome::Reached {
            peer: NODE_ON_PODS,
            ..
        }
    ));
    // NodePort from outside: masqueraded.
    assert!(matches!(
        from_client(EXTERNAL, SocketAddrV4::new(NODE, 30080), QUICK),
        Outcome::Reached {
            peer: NODE_ON_PODS,
            ..
        }
    ));
    // Hairpin: a pod reaching itself through its Service is masqueraded (else the reply
    // would never come back through the node's conntrack).
    assert_eq!(
        from_pod(EP2, to("10.96.0.21", 80)),
        reached(EP2, NODE_ON_PODS)
    );
    // LoadBalancer IP, externalTrafficPolicy Local: the local endpoint, client address kept.
    for _ in 0..10 {
        assert_eq!(
            from_client(EXTERNAL, to("198.51.100.7", 80), QUICK),
            reached(EP2, EXTERNAL)
        );
    }
    // ... while pods short-circuit to every endpoint.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        if let Outcome::Reached { at, peer } =
            from_client(POD_ELSEWHERE, to("198.51.100.7", 80), QUICK)
        {
            assert_eq!(peer, POD_ELSEWHERE);
            seen.insert(*at.ip());
        }
    }
    assert!(seen.len() >= 2, "{seen:?}");
    // Local policy without a local endpoint: external clients dropped, pods served.
    assert_eq!(
        from_client(EXTERNAL, to("198.51.100.9", 80), Duration::from_secs(1)),
        Outcome::TimedOut
    );
    assert!(matches!(
        from_client(POD_ELSEWHERE, to("198.51.100.9", 80), QUICK),
        Outcome::Reached { .. }
    ));
    // LoadBalancer IP with policy Cluster: masqueraded.
    assert!(matches!(
        from_client(EXTERNAL, to("198.51.100.8", 80), QUICK),
        Outcome::Reached {
            peer: NODE_ON_PODS,
            ..
        }
    ));
    // No endpoints: rejected, on the cluster IP and on the LoadBalancer IP.
    assert_eq!(
        from_client(POD_ELSEWHERE, to("10.96.0.26", 80), QUICK),
        Outcome::Refused
    );
    assert_eq!(
        from_client(EXTERNAL, to("198.51.100.10", 80), QUICK),
        Outcome::Refused
    );
    // internalTrafficPolicy Local: only the local endpoint.
    for _ in 0..10 {
        assert_eq!(
            from_client(POD_ELSEWHERE, to("10.96.0.28", 80), QUICK),
            reached(EP2, POD_ELSEWHERE)
        );
    }

    // Session affinity: every connection of a client goes to its first endpoint.
    let sticky =
        |src: Ipv4Addr, timeout: Duration| match from_client(src, to("10.96.0.22", 80), timeout) {
            Outcome::Reached { at, .. } => *at.ip(),
            o => panic!("sticky service: {o:?}"),
        };
    let first = sticky(POD_ELSEWHERE, QUICK);
    for _ in 0..15 {
        assert_eq!(sticky(POD_ELSEWHERE, QUICK), first);
    }
    let external_first = sticky(EXTERNAL, QUICK);
    for _ in 0..5 {
        assert_eq!(sticky(EXTERNAL, QUICK), external_first);
    }
    // The entry expires after the Service's timeout of inactivity.
    assert!(matches!(
        from_client(POD_ELSEWHERE, to("10.96.0.23", 80), QUICK),
        Outcome::Reached { .. }
    ));
    let entry = "10.244.2.9 . 10.96.0.23 . tcp . 80";
    assert!(nft_list("map ip knet-proxy affinity").contains(entry));
    std::thread::sleep(Duration::from_millis(3500));
    assert!(!nft_list("map ip knet-proxy affinity").contains(entry));

    // An incremental change applied with nft -f, as the node agent makes it (the Proxier,
    // given the changed Service ports): web gains a fourth endpoint (a new endpoint count, so
    // a new lb-4 chain and backends-4 map), and the sticky Service loses the endpoint the pod
    // was stuck to.
    let mut next = cluster();
    let mut changed = BTreeSet::new();
    for (key, (sp, eps)) in next.services.iter_mut() {
        if sp.service == "default/web:http" {
            eps.push(Endpoint::new(EP5, 8080));
            changed.insert(key.clone());
        }
        if sp.service == "default/sticky:http" {
            eps.retain(|e| e.ip != first);
            changed.insert(key.clone());
        }
    }
    let tx = proxier.update(&next, &changed);
    let next = compute(&next);
    assert_eq!(proxier.ruleset(), Some(&next));
    assert!(!tx.full);
    let script = tx.render();
    assert!(script.contains("add chain ip knet-proxy lb-4"), "{script}");
    nft_apply(&script);
    let listed = nft_list("table ip knet-proxy");
    assert!(listed.contains("backends-4") && listed.contains("10.244.1.5 . 8080"));
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        if let Outcome::Reached { at, .. } = from_client(POD_ELSEWHERE, to("10.96.0.20", 80), QUICK)
        {
            seen.insert(*at.ip());
        }
    }
    assert!(
        seen.contains(&EP5),
        "the new endpoint gets traffic: {seen:?}"
    );
    // The stuck client's first SYN is dropped and its entry removed; the retransmission
    // (after about a second) is balanced over the remaining endpoints, and sticks.
    let started = Instant::now();
    let moved = sticky(POD_ELSEWHERE, Duration::from_secs(5));
    assert_ne!(moved, first);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the first SYN was dropped"
    );
    for _ in 0..10 {
        assert_eq!(sticky(POD_ELSEWHERE, QUICK), moved);
    }
    // The other client's endpoint is still there: it keeps it.
    if external_first != first {
        assert_eq!(sticky(EXTERNAL, QUICK), external_first);
    }
    check_back(&next, &desired);
}

/// And back: the reverse transaction applies too and removes the chain it added.
fn check_back(from: &Ruleset, to_: &Ruleset) {
    let tx = transaction(from, to_);
    assert!(tx.render().contains("delete chain ip knet-proxy lb-4"));
    nft_apply(&tx.render());
    assert!(!nft_list("table ip knet-proxy").contains("lb-4"));
}
