//! Pod sandbox network setup, timed: for each of N pods on one node bridge, create the pod's network namespace, a
//! veth pair with `eth0` in the pod and the other end on `cni0`, the address, loopback and default route, as the
//! node agent will. Prints the median and tail per pod and how they grow with the number of pods on the bridge;
//! then tears everything down, timed too. With `--cni`, runs the reference CNI `bridge` plugin (Debian's
//! containernetworking-plugins, `/usr/lib/cni/bridge` + host-local IPAM) over as many pods in the same world, the
//! peer measurement of `/work/shared/notes/cni-peer.md`, and prints the ratio. With `--no-ipv6`, the veths get no
//! IPv6 link-local address (`VethSpec::ipv6_link_local = false`), to show what the IPv6 traffic of each new port
//! (DAD, router solicitation, MLD), flooded by the bridge to every port, costs as pods accumulate.
//!
//! Everything happens inside a world (`enter_world`): run it as root or as any user, nothing touches the host.
//!
//! ```text
//! cargo run --release -p knet-netns --example sandbox_bench -- [PODS] [--cni] [--no-ipv6]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use knet_netns::{
    BridgeSpec, Dataplane, KernelDataplane, MacAddr, RouteSpec, VethSpec, WorldOptions, enter_world,
};

const NODE: &str = "bench-node";
const CNI_PLUGIN: &str = "/usr/lib/cni/bridge";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pods: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100);
    let with_cni = args.iter().any(|a| a == "--cni");
    let no_ipv6 = args.iter().any(|a| a == "--no-ipv6");
    // /tmp becomes a tmpfs of the world: the CNI plugin's IPAM state lives and dies there.
    let world = enter_world(WorldOptions {
        tmpfs: vec!["/tmp".into()],
        ..Default::default()
    })
    .expect("enter the world");
    println!(
        "world: user namespace {}, outer uid {}; {pods} pods on one bridge",
        world.user_namespace, world.outer_uid
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let knet = rt.block_on(knet_pods(pods, no_ipv6));
    if with_cni {
        if Path::new(CNI_PLUGIN).exists() {
            let cni = cni_pods(pods);
            println!(
                "\nratio of medians, CNI bridge plugin ADD / knet network setup: {:.1}x (CNI excludes netns creation)",
                cni.as_secs_f64() / knet.as_secs_f64()
            );
        } else {
            println!(
                "\n{CNI_PLUGIN} not found: apt-get install containernetworking-plugins to compare"
            );
        }
    }
}

fn pod_ip(i: usize) -> Ipv4Addr {
    // 10.250.0.0/17: 10.250.1.2 onwards; the gateway is 10.250.0.1.
    Ipv4Addr::new(10, 250, (1 + i / 250) as u8, (2 + i % 250) as u8)
}

fn pod_name(i: usize) -> String {
    format!("bench-pod-{i}")
}

fn veth_name(i: usize) -> String {
    format!("veth{i:08x}")
}

/// Returns the median network setup time (without the namespace creation).
async fn knet_pods(pods: usize, no_ipv6: bool) -> Duration {
    let dp = KernelDataplane::new();
    dp.create_netns(NODE).await.unwrap();
    let mut cni0 = BridgeSpec::new("cni0");
    cni0.mac = Some(MacAddr::local_from_ipv4(0x0a, Ipv4Addr::new(10, 250, 0, 1)));
    dp.create_bridge(NODE, &cni0).await.unwrap();
    dp.add_address(NODE, "cni0", "10.250.0.1/17".parse().unwrap())
        .await
        .unwrap();
    dp.set_up(NODE, "cni0").await.unwrap();
    let gateway = IpAddr::V4(Ipv4Addr::new(10, 250, 0, 1));

    let mut netns_times = Vec::with_capacity(pods);
    let mut network_times = Vec::with_capacity(pods);
    let mut totals = Vec::with_capacity(pods);
    let mut steps: [Vec<Duration>; 7] = Default::default();
    let started = Instant::now();
    for i in 0..pods {
        let (pod, veth) = (pod_name(i), veth_name(i));
        let t0 = Instant::now();
        dp.create_netns(&pod).await.unwrap();
        let t1 = Instant::now();
        let mut spec = VethSpec::new(&veth, "eth0", Some(pod.clone()));
        spec.mtu = Some(1500);
        spec.ipv6_link_local = !no_ipv6;
        let mut lap = Instant::now();
        let mut step = |k: usize| {
            let now = Instant::now();
            steps[k].push(now - lap);
            lap = now;
        };
        dp.create_veth_pair(NODE, &spec).await.unwrap();
        step(0);
        dp.attach_to_bridge(NODE, &veth, "cni0").await.unwrap();
        step(1);
        dp.set_up(NODE, &veth).await.unwrap();
        step(2);
        dp.set_up(&pod, "lo").await.unwrap();
        step(3);
        dp.set_up(&pod, "eth0").await.unwrap();
        step(4);
        let addr = IpNet::V4(Ipv4Net::new(pod_ip(i), 17).unwrap());
        dp.add_address(&pod, "eth0", addr).await.unwrap();
        step(5);
        dp.add_route(&pod, &RouteSpec::default_via(gateway))
            .await
            .unwrap();
        step(6);
        let t2 = Instant::now();
        netns_times.push(t1 - t0);
        network_times.push(t2 - t1);
        totals.push(t2 - t0);
    }
    let elapsed = started.elapsed();
    println!(
        "\nknet sandbox setup ({pods} pods, {:.0} pods/s):",
        pods as f64 / elapsed.as_secs_f64()
    );
    report("  netns create", &netns_times);
    report(
        "  network (veth, bridge port, up x3, address, route)",
        &network_times,
    );
    let names = [
        "veth pair (+ netlink connection to the pod)",
        "attach to cni0",
        "node end up",
        "pod lo up",
        "pod eth0 up",
        "address",
        "default route",
    ];
    let parts: Vec<String> = names
        .iter()
        .zip(&steps)
        .map(|(n, t)| format!("{n} {}", ms(median(t))))
        .collect();
    println!("    median by step: {}", parts.join(", "));
    report("  total per pod", &totals);
    by_chunks("  total per pod", &totals);

    // Two ways to tear down, on alternate pods: deleting the veth first (synchronous: unregistering a device waits
    // for RCU grace periods), or only the namespace's name (the kernel destroys the namespace and its veth in its
    // cleanup work queue, batched, once the last reference is gone).
    let (mut with_link, mut netns_only) = (Vec::new(), Vec::new());
    for i in 0..pods {
        let t0 = Instant::now();
        if i % 2 == 0 {
            dp.delete_link(NODE, &veth_name(i)).await.unwrap();
            dp.delete_netns(&pod_name(i)).await.unwrap();
            with_link.push(t0.elapsed());
        } else {
            dp.delete_netns(&pod_name(i)).await.unwrap();
            netns_only.push(t0.elapsed());
        }
    }
    report("  teardown, delete veth + delete netns", &with_link);
    report("  teardown, delete netns only", &netns_only);
    dp.delete_netns(NODE).await.unwrap();
    median(&network_times)
}

/// The reference CNI bridge plugin over `pods` namespaces of ours; returns the median ADD time.
fn cni_pods(pods: usize) -> Duration {
    let ipam_dir = tempfile::tempdir().unwrap();
    let conf = format!(
        r#"{{"cniVersion":"1.0.0","name":"peer","type":"bridge","bridge":"cnip0","isGateway":true,"ipMasq":false,
"hairpinMode":true,"ipam":{{"type":"host-local","ranges":[[{{"subnet":"10.250.128.0/17"}}]],"dataDir":"{}"}}}}"#,
        ipam_dir.path().display()
    );
    let run = |command: &str, i: usize| {
        let mut child = Command::new(CNI_PLUGIN)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", format!("c{i}"))
            .env("CNI_NETNS", format!("/run/netns/cni-pod-{i}"))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/usr/lib/cni")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.as_bytes())
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "CNI {command} for pod {i}: {status}");
    };
    let mut netns_times = Vec::with_capacity(pods);
    let mut add_times = Vec::with_capacity(pods);
    for i in 0..pods {
        let t0 = Instant::now();
        let netns = knet_netns::Netns::create(&format!("cni-pod-{i}")).unwrap();
        drop(netns);
        let t1 = Instant::now();
        run("ADD", i);
        netns_times.push(t1 - t0);
        add_times.push(t1.elapsed());
    }
    println!("\nCNI bridge plugin (same world, same kernel):");
    report("  netns create (knet's Netns::create)", &netns_times);
    report("  bridge ADD (one plugin process per pod)", &add_times);
    by_chunks("  bridge ADD", &add_times);
    let mut del_times = Vec::with_capacity(pods);
    for i in 0..pods {
        let t0 = Instant::now();
        run("DEL", i);
        knet_netns::Netns::remove(&format!("cni-pod-{i}")).unwrap();
        del_times.push(t0.elapsed());
    }
    report("  bridge DEL + netns delete", &del_times);
    median(&add_times)
}

fn sorted(times: &[Duration]) -> Vec<Duration> {
    let mut v = times.to_vec();
    v.sort();
    v
}

fn median(times: &[Duration]) -> Duration {
    let v = sorted(times);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn percentile(times: &[Duration], p: f64) -> Duration {
    let v = sorted(times);
    if v.is_empty() {
        return Duration::ZERO;
    }
    let at = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[at]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn report(what: &str, times: &[Duration]) {
    println!(
        "{what}: median {}, p90 {}, p99 {}, max {}",
        ms(median(times)),
        ms(percentile(times, 0.90)),
        ms(percentile(times, 0.99)),
        ms(sorted(times).last().copied().unwrap_or_default())
    );
}

/// Medians of five consecutive fifths: does the cost grow with the pods already on the bridge?
fn by_chunks(what: &str, times: &[Duration]) {
    let n = times.len();
    let parts: Vec<String> = (0..5)
        .filter_map(|c| {
            let (s, e) = (c * n / 5, (c + 1) * n / 5);
            (e > s).then(|| format!("pods {}-{}: {}", s + 1, e, ms(median(&times[s..e]))))
        })
        .collect();
    println!("{what}, median by fifth: {}", parts.join("; "));
}
