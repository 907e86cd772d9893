//! Helpers shared by the integration tests: host snapshots and TCP echo between namespaces.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use knet_netns::Netns;

/// What the tests promise to leave unchanged on the host: named namespaces, links, addresses, routes, nftables
/// and mount points of the host's namespaces (read from the test harness process, which never enters a world).
pub fn host_snapshot() -> String {
    let mut out = String::new();
    out += &format!("/run/netns: {:?}\n", list_dir(Path::new("/run/netns")));
    out += &format!("links: {:?}\n", list_dir(Path::new("/sys/class/net")));
    for (what, program, args) in [
        ("addresses", "ip", &["-o", "addr", "show"][..]),
        ("routes", "ip", &["route", "show", "table", "all"][..]),
        ("nftables", "nft", &["list", "ruleset"][..]),
    ] {
        let text = Command::new(program)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_else(|e| format!("({program} unavailable: {e})"));
        out += &format!("{what}:\n{text}\n");
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .collect();
    mounts.sort();
    out += &format!("mounts: {mounts:?}\n");
    out
}

fn list_dir(dir: &Path) -> Option<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Some(names)
}

/// Line-by-line difference of two snapshots, for failure messages.
pub fn diff(before: &str, after: &str) -> String {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let mut out = String::new();
    for line in &b {
        if !a.contains(line) {
            out += &format!("- {line}\n");
        }
    }
    for line in &a {
        if !b.contains(line) {
            out += &format!("+ {line}\n");
        }
    }
    out
}

/// The result of one TCP exchange between two namespaces.
#[derive(Debug)]
pub struct Exchange {
    /// The client's address as the server saw it (`accept`).
    pub seen_by_server: SocketAddr,
    /// The client socket's own address.
    pub client_local: SocketAddr,
}

/// Connects from `client` to a server listening on `addr` in `server`, sends `len` bytes, and checks that the
/// server echoes them back unchanged. Sockets are created inside the namespaces (`run_in`) and used from
/// ordinary threads: a socket keeps the namespace it was created in.
pub fn tcp_echo(server: &Netns, addr: SocketAddr, client: &Netns, len: usize) -> Exchange {
    let listener = server.run_in(|| TcpListener::bind(addr)).unwrap().unwrap();
    let server_thread = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf).unwrap();
        conn.write_all(&buf).unwrap();
        peer
    });
    let mut stream = client
        .run_in(|| TcpStream::connect_timeout(&addr, Duration::from_secs(5)))
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "connect from {} to {addr} (in {}): {e}",
                client.name(),
                server.name()
            )
        });
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let client_local = stream.local_addr().unwrap();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let payload = payload.clone();
        std::thread::spawn(move || {
            stream.write_all(&payload).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        })
    };
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).unwrap();
    writer.join().unwrap();
    assert!(
        echoed == payload,
        "echo of {len} bytes came back altered ({} bytes)",
        echoed.len()
    );
    Exchange {
        seen_by_server: server_thread.join().unwrap(),
        client_local,
    }
}
