//! The dataplane against the real kernel, with real TCP traffic, inside a world.
//!
//! How it runs: `main` (this is a `harness = false` test) first snapshots the host (named namespaces, links,
//! addresses, routes, nftables, mounts), then re-executes itself with `KNET_NETNS_TEST_IN_WORLD=1` and the same
//! arguments. The re-executed process calls `enter_world` while it still has one thread, so every trial runs as
//! root of a private user (when not root) + mount + net + pid namespace: namespaces are created under the world's
//! own `/run/netns`, and the world's death takes everything with it. When the inner run ends, the outer process
//! snapshots the host again and fails if anything differs. As an ordinary user the same suite runs rootless.
//! All addresses are in 10.250.0.0/16, inside the world's namespaces only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode};

use ipnet::IpNet;
use knet_netns::{
    BridgeSpec, Dataplane, FdbEntry, KernelDataplane, MacAddr, NeighborEntry, Netns, NetnsError,
    RouteSpec, VXLAN_OVERHEAD, VethSpec, VxlanSpec, WorldOptions, command_in, enter_world,
    nft_apply,
};
use libtest_mimic::{Arguments, Failed, Trial};

const IN_WORLD: &str = "KNET_NETNS_TEST_IN_WORLD";

fn main() -> ExitCode {
    if std::env::var_os(IN_WORLD).is_none() {
        return run_outside();
    }
    enter_world(WorldOptions::default()).expect("enter the world");
    let args = Arguments::from_args();
    let trials = vec![
        trial(
            "pods on one bridge talk tcp and the server sees the client's own address",
            pods_on_one_bridge,
        ),
        trial(
            "host-gw routes carry pod traffic between nodes without nat",
            host_gw_between_nodes,
        ),
        trial(
            "a vxlan overlay carries pod traffic between nodes without nat",
            vxlan_between_nodes,
        ),
        trial(
            "masquerade applied with nft in a middle namespace hides the client's address",
            masquerade_in_router,
        ),
        trial(
            "nft_apply reports nft's error and applies nothing of a bad script",
            nft_errors_are_reported,
        ),
        trial(
            "repeating an operation succeeds and leaves one copy of its effect",
            operations_are_idempotent,
        ),
        trial(
            "errors name the namespace and the object",
            errors_name_the_namespace_and_object,
        ),
        trial(
            "sysctls are set inside their namespace only",
            sysctls_stay_in_their_namespace,
        ),
        trial(
            "command_in runs a program inside the namespace",
            command_in_runs_inside,
        ),
        trial(
            "named namespaces are created listed opened and deleted",
            netns_lifecycle,
        ),
        trial(
            "veth mac and mtu are applied to both ends",
            veth_mac_and_mtu,
        ),
        trial(
            "a veth created without ipv6 link-local gets no ipv6 address when up",
            veth_without_ipv6_link_local,
        ),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}

/// The host side: snapshot, run the suite in a world, snapshot again. As root, run it a second time as `nobody`
/// (setpriv, util-linux) so that the rootless path (user namespace, /run copy-up) is exercised on every run.
fn run_outside() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let listing = args.iter().any(|a| a == "--list");
    let before = common::host_snapshot();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(&args)
        .env(IN_WORLD, "1")
        .status()
        .expect("re-execute the test binary");
    let mut ok = status.success();
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !listing && nix::unistd::geteuid().is_root() && setpriv.exists() {
        println!("\nthe same trials as an unprivileged user (uid 65534, rootless world):");
        let status = Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(&args)
            .env(IN_WORLD, "1")
            .current_dir("/")
            .status()
            .expect("run setpriv");
        match status.code() {
            // setpriv could not execute the binary (e.g. a target directory others cannot read): not a failure
            // of the code under test.
            Some(126 | 127) => println!(
                "skipped: uid 65534 cannot execute {:?}",
                std::env::current_exe()
            ),
            _ => ok &= status.success(),
        }
    }
    let after = common::host_snapshot();
    if before != after {
        eprintln!(
            "the host changed during the dataplane tests:\n{}",
            common::diff(&before, &after)
        );
        return ExitCode::FAILURE;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn trial<F, Fut>(name: &'static str, f: F) -> Trial
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    Trial::test(name, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f());
        Ok::<(), Failed>(())
    })
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// TCP echo from `client` to `server_addr` in `server`, off the async threads.
async fn tcp(
    dp: &KernelDataplane,
    client: &str,
    server: &str,
    server_addr: SocketAddr,
    len: usize,
) -> common::Exchange {
    let client = dp.netns(client).await.unwrap();
    let server = dp.netns(server).await.unwrap();
    tokio::task::spawn_blocking(move || common::tcp_echo(&server, server_addr, &client, len))
        .await
        .unwrap()
}

/// A pod on `node`'s bridge `cni0`, the way the node agent will build it.
async fn add_pod(
    dp: &KernelDataplane,
    node: &str,
    pod: &str,
    host_veth: &str,
    addr: &str,
    gateway: &str,
    mtu: u32,
) {
    dp.create_netns(pod).await.unwrap();
    let mut veth = VethSpec::new(host_veth, "eth0", Some(pod.to_string()));
    veth.mtu = Some(mtu);
    dp.create_veth_pair(node, &veth).await.unwrap();
    dp.attach_to_bridge(node, host_veth, "cni0").await.unwrap();
    dp.set_up(node, host_veth).await.unwrap();
    dp.set_up(pod, "lo").await.unwrap();
    dp.set_up(pod, "eth0").await.unwrap();
    dp.add_address(pod, "eth0", net(addr)).await.unwrap();
    dp.add_route(pod, &RouteSpec::default_via(ip(gateway)))
        .await
        .unwrap();
}

/// A node on the LAN bridge `lan0` of `lan`, with `cni0` as its pods' gateway and forwarding on.
async fn add_node(
    dp: &KernelDataplane,
    lan: &str,
    node: &str,
    lan_veth: &str,
    node_addr: &str,
    cni_addr: &str,
) {
    dp.create_netns(node).await.unwrap();
    dp.create_veth_pair(
        lan,
        &VethSpec::new(lan_veth, "eth0", Some(node.to_string())),
    )
    .await
    .unwrap();
    dp.attach_to_bridge(lan, lan_veth, "lan0").await.unwrap();
    dp.set_up(lan, lan_veth).await.unwrap();
    dp.set_up(node, "lo").await.unwrap();
    dp.set_up(node, "eth0").await.unwrap();
    dp.add_address(node, "eth0", net(node_addr)).await.unwrap();
    let mut cni0 = BridgeSpec::new("cni0");
    let IpAddr::V4(cni_ip) = net(cni_addr).addr() else {
        panic!("{cni_addr} is not IPv4")
    };
    cni0.mac = Some(MacAddr::local_from_ipv4(0x0a, cni_ip));
    dp.create_bridge(node, &cni0).await.unwrap();
    dp.add_address(node, "cni0", net(cni_addr)).await.unwrap();
    dp.set_up(node, "cni0").await.unwrap();
    dp.set_sysctl(node, "net.ipv4.ip_forward", "1")
        .await
        .unwrap();
    dp.set_sysctl(node, "net.ipv4.conf.all.rp_filter", "0")
        .await
        .unwrap();
}

async fn add_lan(dp: &KernelDataplane, lan: &str) {
    dp.create_netns(lan).await.unwrap();
    dp.create_bridge(lan, &BridgeSpec::new("lan0"))
        .await
        .unwrap();
    dp.set_up(lan, "lan0").await.unwrap();
}

async fn delete_all(dp: &KernelDataplane, names: &[&str]) {
    for name in names {
        dp.delete_netns(name).await.unwrap();
    }
    for name in names {
        assert!(!Netns::exists(name), "{name} still listed");
    }
}

async fn pods_on_one_bridge() {
    let dp = KernelDataplane::new();
    dp.create_netns("t1-node").await.unwrap();
    dp.create_bridge("t1-node", &BridgeSpec::new("cni0"))
        .await
        .unwrap();
    dp.add_address("t1-node", "cni0", net("10.250.1.1/24"))
        .await
        .unwrap();
    dp.set_up("t1-node", "cni0").await.unwrap();
    add_pod(
        &dp,
        "t1-node",
        "t1-pa",
        "veth-t1a",
        "10.250.1.10/24",
        "10.250.1.1",
        1500,
    )
    .await;
    add_pod(
        &dp,
        "t1-node",
        "t1-pb",
        "veth-t1b",
        "10.250.1.11/24",
        "10.250.1.1",
        1500,
    )
    .await;

    let exchange = tcp(&dp, "t1-pa", "t1-pb", sock("10.250.1.11:8080"), 64 * 1024).await;
    assert_eq!(exchange.seen_by_server.ip(), ip("10.250.1.10"));
    assert_eq!(exchange.client_local.ip(), ip("10.250.1.10"));
    // The node reaches its pods too (node-to-pod), from its bridge address.
    let exchange = tcp(&dp, "t1-node", "t1-pa", sock("10.250.1.10:8081"), 1000).await;
    assert_eq!(exchange.seen_by_server.ip(), ip("10.250.1.1"));

    let links = dp.links("t1-node").await.unwrap();
    let cni0 = links.iter().find(|l| l.name == "cni0").unwrap();
    for veth in ["veth-t1a", "veth-t1b"] {
        let l = links.iter().find(|l| l.name == veth).unwrap();
        assert_eq!(
            (l.kind.as_deref(), l.controller, l.up),
            (Some("veth"), Some(cni0.index), true),
            "{l:?}"
        );
    }
    // Deleting a pod's veth from the node side is synchronous and takes the pod's eth0 along.
    dp.delete_link("t1-node", "veth-t1a").await.unwrap();
    let pod_links: Vec<String> = dp
        .links("t1-pa")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(pod_links, vec!["lo"]);
    // Deleting a namespace also destroys its veths, but only once the kernel's (asynchronous) namespace cleanup
    // runs after the last reference (bind mount, descriptor, socket) is gone.
    delete_all(&dp, &["t1-pa", "t1-pb"]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut left: Vec<String>;
    loop {
        left = dp
            .links("t1-node")
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        if left == ["lo", "cni0"] || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        left,
        vec!["lo", "cni0"],
        "the node end of a deleted pod's veth"
    );
    delete_all(&dp, &["t1-node"]).await;
}

async fn host_gw_between_nodes() {
    let dp = KernelDataplane::new();
    add_lan(&dp, "t2-lan").await;
    add_node(
        &dp,
        "t2-lan",
        "t2-na",
        "t2-na",
        "10.250.0.2/24",
        "10.250.10.1/24",
    )
    .await;
    add_node(
        &dp,
        "t2-lan",
        "t2-nb",
        "t2-nb",
        "10.250.0.3/24",
        "10.250.20.1/24",
    )
    .await;
    add_pod(
        &dp,
        "t2-na",
        "t2-pa",
        "veth-t2a",
        "10.250.10.2/24",
        "10.250.10.1",
        1500,
    )
    .await;
    add_pod(
        &dp,
        "t2-nb",
        "t2-pb",
        "veth-t2b",
        "10.250.20.2/24",
        "10.250.20.1",
        1500,
    )
    .await;
    // host-gw: each node routes the other's pod CIDR via the other's LAN address.
    dp.add_route(
        "t2-na",
        &RouteSpec::via(net("10.250.20.0/24"), ip("10.250.0.3")),
    )
    .await
    .unwrap();
    dp.add_route(
        "t2-nb",
        &RouteSpec::via(net("10.250.10.0/24"), ip("10.250.0.2")),
    )
    .await
    .unwrap();

    let exchange = tcp(&dp, "t2-pa", "t2-pb", sock("10.250.20.2:9000"), 256 * 1024).await;
    assert_eq!(
        exchange.seen_by_server.ip(),
        ip("10.250.10.2"),
        "pod-to-pod across nodes is not NATed"
    );
    // Pod to the other node, and that node to the pod.
    let exchange = tcp(&dp, "t2-pb", "t2-na", sock("10.250.0.2:9001"), 1000).await;
    assert_eq!(exchange.seen_by_server.ip(), ip("10.250.20.2"));
    let exchange = tcp(&dp, "t2-na", "t2-pb", sock("10.250.20.2:9002"), 1000).await;
    assert_eq!(exchange.seen_by_server.ip(), ip("10.250.0.2"));
    delete_all(&dp, &["t2-pa", "t2-pb", "t2-na", "t2-nb", "t2-lan"]).await;
}

/// flannel's vxlan layout: `vxlan0` holds the node's pod CIDR's `.0/32`; the other node's CIDR is routed via its
/// `.0` onlink; a permanent neighbour entry gives that `.0` the other VTEP's MAC, and the all-zeros FDB entry sends
/// the frames to the other node's LAN address.
async fn vxlan_between_nodes() {
    let dp = KernelDataplane::new();
    add_lan(&dp, "t3-lan").await;
    add_node(
        &dp,
        "t3-lan",
        "t3-na",
        "t3-na",
        "10.250.0.2/24",
        "10.250.10.1/24",
    )
    .await;
    add_node(
        &dp,
        "t3-lan",
        "t3-nb",
        "t3-nb",
        "10.250.0.3/24",
        "10.250.20.1/24",
    )
    .await;
    let mtu = 1500 - VXLAN_OVERHEAD;
    add_pod(
        &dp,
        "t3-na",
        "t3-pa",
        "veth-t3a",
        "10.250.10.2/24",
        "10.250.10.1",
        mtu,
    )
    .await;
    add_pod(
        &dp,
        "t3-nb",
        "t3-pb",
        "veth-t3b",
        "10.250.20.2/24",
        "10.250.20.1",
        mtu,
    )
    .await;
    let nodes = [
        ("t3-na", Ipv4Addr::new(10, 250, 0, 2), "10.250.10.0"),
        ("t3-nb", Ipv4Addr::new(10, 250, 0, 3), "10.250.20.0"),
    ];
    for (node, lan_ip, vtep) in nodes {
        let mut vxlan = VxlanSpec::new("vxlan0", 42, lan_ip);
        vxlan.underlay = Some("eth0".into());
        vxlan.mtu = Some(mtu);
        vxlan.mac = Some(MacAddr::local_from_ipv4(0x0e, lan_ip));
        dp.create_vxlan(node, &vxlan).await.unwrap();
        dp.add_address(node, "vxlan0", net(&format!("{vtep}/32")))
            .await
            .unwrap();
        dp.set_up(node, "vxlan0").await.unwrap();
    }
    for ((node, _, _), (_, peer_ip, peer_vtep)) in [(nodes[0], nodes[1]), (nodes[1], nodes[0])] {
        let peer_mac = MacAddr::local_from_ipv4(0x0e, peer_ip);
        dp.add_fdb_entry(node, &FdbEntry::flood("vxlan0", IpAddr::V4(peer_ip)))
            .await
            .unwrap();
        let neighbor = NeighborEntry {
            dev: "vxlan0".into(),
            ip: ip(peer_vtep),
            mac: peer_mac,
        };
        dp.add_neighbor(node, &neighbor).await.unwrap();
        let mut route = RouteSpec::via(net(&format!("{peer_vtep}/24")), ip(peer_vtep));
        route.dev = Some("vxlan0".into());
        route.onlink = true;
        dp.add_route(node, &route).await.unwrap();
    }
    // No route between the pod CIDRs exists outside the tunnel: traffic that arrives went through vxlan0.
    let exchange = tcp(&dp, "t3-pa", "t3-pb", sock("10.250.20.2:9000"), 256 * 1024).await;
    assert_eq!(
        exchange.seen_by_server.ip(),
        ip("10.250.10.2"),
        "pod-to-pod over vxlan is not NATed"
    );

    let vxlan_a = dp
        .links("t3-na")
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "vxlan0")
        .unwrap();
    let vxlan_b = dp
        .links("t3-nb")
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "vxlan0")
        .unwrap();
    assert_eq!((vxlan_a.kind.as_deref(), vxlan_a.mtu), (Some("vxlan"), mtu));
    // Counted after segmentation offload merged segments, so not one per MTU: only that traffic went through.
    assert!(
        vxlan_a.tx_packets > 0 && vxlan_b.rx_packets > 0,
        "a: {vxlan_a:?}\nb: {vxlan_b:?}"
    );
    delete_all(&dp, &["t3-pa", "t3-pb", "t3-na", "t3-nb", "t3-lan"]).await;
}

const MASQUERADE: &str = "
table ip knet_test {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"eth-s\" masquerade
  }
}
";

/// client (10.250.30.2) ── router (10.250.30.1 | 10.250.31.1) ── server (10.250.31.2)
async fn build_router(dp: &KernelDataplane, prefix: &str) -> [String; 3] {
    let [client, router, server] = ["client", "router", "server"].map(|n| format!("{prefix}-{n}"));
    for ns in [&client, &router, &server] {
        dp.create_netns(ns).await.unwrap();
        dp.set_up(ns, "lo").await.unwrap();
    }
    for (link, peer_ns, router_addr, peer_addr) in [
        ("eth-c", &client, "10.250.30.1/24", "10.250.30.2/24"),
        ("eth-s", &server, "10.250.31.1/24", "10.250.31.2/24"),
    ] {
        dp.create_veth_pair(&router, &VethSpec::new(link, "eth0", Some(peer_ns.clone())))
            .await
            .unwrap();
        dp.add_address(&router, link, net(router_addr))
            .await
            .unwrap();
        dp.set_up(&router, link).await.unwrap();
        dp.add_address(peer_ns, "eth0", net(peer_addr))
            .await
            .unwrap();
        dp.set_up(peer_ns, "eth0").await.unwrap();
        let gateway = net(router_addr).addr();
        dp.add_route(peer_ns, &RouteSpec::default_via(gateway))
            .await
            .unwrap();
    }
    dp.set_sysctl(&router, "net.ipv4.ip_forward", "1")
        .await
        .unwrap();
    [client, router, server]
}

async fn masquerade_in_router() {
    let dp = KernelDataplane::new();
    let [client, router, server] = build_router(&dp, "t4").await;
    let exchange = tcp(&dp, &client, &server, sock("10.250.31.2:7000"), 1000).await;
    assert_eq!(
        exchange.seen_by_server.ip(),
        ip("10.250.30.2"),
        "routed, not NATed, before the rule"
    );

    dp.nft_apply(&router, MASQUERADE).await.unwrap();
    let exchange = tcp(&dp, &client, &server, sock("10.250.31.2:7001"), 1000).await;
    assert_eq!(
        exchange.seen_by_server.ip(),
        ip("10.250.31.1"),
        "masqueraded to the router's address"
    );
    assert_eq!(
        exchange.client_local.ip(),
        ip("10.250.30.2"),
        "the client still uses its own address"
    );
    delete_all(&dp, &[&client, &router, &server]).await;
}

async fn nft_errors_are_reported() {
    let dp = KernelDataplane::new();
    dp.create_netns("t5-nft").await.unwrap();
    let netns = dp.netns("t5-nft").await.unwrap();
    nft_apply(&netns, "table ip knet_test {\n  chain c {\n  }\n}\n")
        .await
        .unwrap();
    // The second statement is bad: nft applies the script as one transaction, so the new chain is not created.
    let bad = "add chain ip knet_test good\nadd rule ip knet_test nosuchchain counter\n";
    let err = nft_apply(&netns, bad).await.unwrap_err();
    match &err {
        NetnsError::Nft { ns, stderr, .. } => {
            assert_eq!(ns, "t5-nft");
            assert!(stderr.contains("nosuchchain"), "{stderr}");
        }
        other => panic!("want an nft error, got {other}"),
    }
    let listed = command_in(
        &netns,
        knet_netns::nft_program().unwrap(),
        ["list", "table", "ip", "knet_test"],
    )
    .output()
    .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("chain c") && !listed.contains("chain good"),
        "{listed}"
    );
    delete_all(&dp, &["t5-nft"]).await;
}

async fn operations_are_idempotent() {
    let dp = KernelDataplane::new();
    let ns = "t6-idem";
    let route = RouteSpec::dev(net("10.250.41.0/24"), "br0");
    let vxlan = VxlanSpec::new("vx0", 7, Ipv4Addr::new(10, 250, 40, 1));
    let fdb = FdbEntry::flood("vx0", ip("10.250.40.9"));
    let neighbor = NeighborEntry {
        dev: "br0".into(),
        ip: ip("10.250.40.7"),
        mac: "02:00:00:00:00:07".parse().unwrap(),
    };
    for _ in 0..2 {
        dp.create_netns(ns).await.unwrap();
        dp.create_bridge(ns, &BridgeSpec::new("br0")).await.unwrap();
        dp.add_address(ns, "br0", net("10.250.40.1/24"))
            .await
            .unwrap();
        dp.set_up(ns, "br0").await.unwrap();
        dp.add_route(ns, &route).await.unwrap();
        dp.create_vxlan(ns, &vxlan).await.unwrap();
        dp.add_fdb_entry(ns, &fdb).await.unwrap();
        dp.add_neighbor(ns, &neighbor).await.unwrap();
        dp.create_veth_pair(ns, &VethSpec::new("va", "vb", None))
            .await
            .unwrap();
        dp.set_sysctl(ns, "net.ipv4.ip_forward", "1").await.unwrap();
    }
    let v4: Vec<IpNet> = dp
        .addresses(ns, "br0")
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.addr().is_ipv4())
        .collect();
    assert_eq!(v4, vec![net("10.250.40.1/24")]);
    // A /32 added and deleted twice: gone, and the other address stays.
    for _ in 0..2 {
        dp.add_address(ns, "br0", net("10.250.40.200/32"))
            .await
            .unwrap();
    }
    for _ in 0..2 {
        dp.delete_address(ns, "br0", net("10.250.40.200/32"))
            .await
            .unwrap();
    }
    let v4: Vec<IpNet> = dp
        .addresses(ns, "br0")
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.addr().is_ipv4())
        .collect();
    assert_eq!(v4, vec![net("10.250.40.1/24")]);
    let names: Vec<String> = dp
        .links(ns)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "br0").count(), 1, "{names:?}");
    for _ in 0..2 {
        dp.delete_route(ns, &route).await.unwrap();
        dp.delete_fdb_entry(ns, &fdb).await.unwrap();
        dp.delete_neighbor(ns, &neighbor).await.unwrap();
        dp.delete_link(ns, "va").await.unwrap();
        dp.delete_link(ns, "vx0").await.unwrap();
        dp.delete_link(ns, "br0").await.unwrap();
    }
    let names: Vec<String> = dp
        .links(ns)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(
        names,
        vec!["lo"],
        "a veth deleted by one end is gone at both"
    );
    dp.delete_netns(ns).await.unwrap();
    dp.delete_netns(ns).await.unwrap();
    assert!(!Netns::exists(ns));
}

async fn errors_name_the_namespace_and_object() {
    let dp = KernelDataplane::new();
    let ns = "t7-err";
    dp.create_netns(ns).await.unwrap();
    dp.create_veth_pair(ns, &VethSpec::new("v0", "v1", None))
        .await
        .unwrap();
    dp.set_up(ns, "v0").await.unwrap();

    let err = dp
        .add_address(ns, "nope0", net("10.250.50.1/24"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "netns t7-err: link \"nope0\" not found");
    let err = dp
        .create_bridge(ns, &BridgeSpec::new("v0"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "netns t7-err: link \"v0\" exists as a veth, not a bridge"
    );
    let err = dp
        .set_up(ns, "a-name-too-long-for-linux")
        .await
        .unwrap_err();
    assert!(matches!(err, NetnsError::InvalidLinkName { .. }), "{err}");
    let err = dp.set_up("t7-missing", "lo").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "network namespace \"t7-missing\" not found"
    );
    // The kernel's refusal, with the namespace, operation and route in the message and the errno kept.
    let err = dp
        .add_route(
            ns,
            &RouteSpec::via(net("10.250.99.0/24"), ip("10.250.98.1")),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("netns t7-err: add route 10.250.99.0/24 via 10.250.98.1: "),
        "{err}"
    );
    assert_eq!(err.errno(), Some(libc::ENETUNREACH), "{err}");
    let err = dp.set_sysctl(ns, "kernel.hostname", "x").await.unwrap_err();
    assert!(matches!(err, NetnsError::InvalidSysctl { .. }), "{err}");
    delete_all(&dp, &[ns]).await;
}

async fn sysctls_stay_in_their_namespace() {
    let dp = KernelDataplane::new();
    dp.create_netns("t8-a").await.unwrap();
    dp.create_netns("t8-b").await.unwrap();
    let world_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    dp.set_sysctl("t8-a", "net.ipv4.ip_forward", "1")
        .await
        .unwrap();
    dp.set_sysctl("t8-a", "net/ipv4/conf/lo/proxy_arp", "1")
        .await
        .unwrap();
    let a = dp.netns("t8-a").await.unwrap();
    let b = dp.netns("t8-b").await.unwrap();
    assert_eq!(a.sysctl_get("net.ipv4.ip_forward").unwrap(), "1");
    assert_eq!(a.sysctl_get("net.ipv4.conf.lo.proxy_arp").unwrap(), "1");
    assert_eq!(b.sysctl_get("net.ipv4.ip_forward").unwrap(), "0");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        world_before
    );
    delete_all(&dp, &["t8-a", "t8-b"]).await;
}

async fn command_in_runs_inside() {
    let dp = KernelDataplane::new();
    dp.create_netns("t9-cmd").await.unwrap();
    dp.create_bridge("t9-cmd", &BridgeSpec::new("only-here"))
        .await
        .unwrap();
    let netns = dp.netns("t9-cmd").await.unwrap();
    let inode = netns.inode().unwrap();
    let out = command_in(&netns, "readlink", ["/proc/self/ns/net"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("net:[{inode}]")
    );
    // /proc/net follows the reader's namespace: the program sees this namespace's links.
    let out = command_in(&netns, "cat", ["/proc/self/net/dev"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("only-here:"));
    // iproute2 sees our named namespaces inside the world: `ip netns exec` works.
    if std::path::Path::new("/usr/sbin/ip").exists() || std::path::Path::new("/sbin/ip").exists() {
        let out = Command::new("ip")
            .args(["netns", "exec", "t9-cmd", "readlink", "/proc/self/ns/net"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("net:[{inode}]"),
            "{out:?}"
        );
    }
    delete_all(&dp, &["t9-cmd"]).await;
}

async fn netns_lifecycle() {
    let made = Netns::create("t10-ns").unwrap();
    assert!(matches!(
        Netns::create("t10-ns"),
        Err(NetnsError::AlreadyExists { .. })
    ));
    assert!(Netns::list().unwrap().contains(&"t10-ns".to_string()));
    let opened = Netns::open("t10-ns").unwrap();
    assert_eq!(made.inode().unwrap(), opened.inode().unwrap());
    assert_eq!(made.path(), std::path::Path::new("/run/netns/t10-ns"));
    let own = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    assert_ne!(
        own.to_string_lossy(),
        format!("net:[{}]", made.inode().unwrap())
    );
    // run_in's thread is in the namespace; the caller's thread is not moved.
    let inside = made
        .run_in(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
        .unwrap();
    assert_eq!(
        inside.to_string_lossy(),
        format!("net:[{}]", made.inode().unwrap())
    );
    assert_eq!(std::fs::read_link("/proc/thread-self/ns/net").unwrap(), own);
    made.delete().unwrap();
    assert!(!Netns::list().unwrap().contains(&"t10-ns".to_string()));
    assert!(matches!(
        Netns::open("t10-ns"),
        Err(NetnsError::NotFound { .. })
    ));
    assert!(matches!(
        Netns::create("../etc"),
        Err(NetnsError::InvalidName { .. })
    ));

    let attached = Netns::attach_current("t10-here").unwrap();
    assert_eq!(
        own.to_string_lossy(),
        format!("net:[{}]", attached.inode().unwrap())
    );
    Netns::remove("t10-here").unwrap();
    Netns::remove("t10-here").unwrap();
}

async fn veth_mac_and_mtu() {
    let dp = KernelDataplane::new();
    dp.create_netns("t11-a").await.unwrap();
    dp.create_netns("t11-b").await.unwrap();
    let mut veth = VethSpec::new("veth-x", "eth0", Some("t11-b".into()));
    veth.mtu = Some(1400);
    veth.mac = Some("02:00:00:00:11:01".parse().unwrap());
    veth.peer_mac = Some("02:00:00:00:11:02".parse().unwrap());
    dp.create_veth_pair("t11-a", &veth).await.unwrap();
    let a = dp
        .links("t11-a")
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "veth-x")
        .unwrap();
    let b = dp
        .links("t11-b")
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "eth0")
        .unwrap();
    assert_eq!((a.mtu, a.mac), (1400, veth.mac));
    assert_eq!(
        (b.mtu, b.mac, b.kind.as_deref()),
        (1400, veth.peer_mac, Some("veth"))
    );
    dp.set_mtu("t11-b", "eth0", 1300).await.unwrap();
    let b = dp
        .links("t11-b")
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "eth0")
        .unwrap();
    assert_eq!(b.mtu, 1300);
    delete_all(&dp, &["t11-a", "t11-b"]).await;
}

async fn veth_without_ipv6_link_local() {
    let dp = KernelDataplane::new();
    dp.create_netns("t12-a").await.unwrap();
    dp.create_netns("t12-b").await.unwrap();
    let mut plain = VethSpec::new("v6-on", "eth0", Some("t12-b".into()));
    let mut quiet = VethSpec::new("v6-off", "eth1", Some("t12-b".into()));
    quiet.ipv6_link_local = false;
    plain.mtu = Some(1500);
    for (veth, peer) in [(&plain, "eth0"), (&quiet, "eth1")] {
        dp.create_veth_pair("t12-a", veth).await.unwrap();
        dp.set_up("t12-a", &veth.name).await.unwrap();
        dp.set_up("t12-b", peer).await.unwrap();
    }
    let v6 = |addrs: Vec<IpNet>| addrs.into_iter().filter(|a| a.addr().is_ipv6()).count();
    assert_eq!(
        v6(dp.addresses("t12-a", "v6-on").await.unwrap()),
        1,
        "kernel default: fe80::/64"
    );
    assert_eq!(v6(dp.addresses("t12-b", "eth0").await.unwrap()), 1);
    assert_eq!(v6(dp.addresses("t12-a", "v6-off").await.unwrap()), 0);
    assert_eq!(v6(dp.addresses("t12-b", "eth1").await.unwrap()), 0);
    delete_all(&dp, &["t12-a", "t12-b"]).await;
}
