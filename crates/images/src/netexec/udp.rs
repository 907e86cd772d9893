//! netexec's UDP server: answers `hostname`, `echo <msg>` and `clientip` datagrams, as agnhost's
//! `startUDPServer` does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::State;
use crate::listen;

/// Largest datagram read, as agnhost's buffer.
const MAX_DATAGRAM: usize = 2048;

/// The answer to one datagram, or `None` for an unknown command (agnhost logs and stays silent).
/// Commands are matched case-insensitively after trimming; unlike agnhost, `echo` keeps the
/// message's case.
pub(super) fn answer(datagram: &[u8], hostname: &str, peer: SocketAddr) -> Option<String> {
    let text = String::from_utf8_lossy(datagram);
    let text = text.trim();
    let (command, rest) = match text.split_once(' ') {
        Some((c, r)) => (c, Some(r)),
        None => (text, None),
    };
    match (command.to_ascii_lowercase().as_str(), rest) {
        ("hostname", None) => Some(hostname.to_owned()),
        ("clientip", None) => Some(listen::canonical(peer).to_string()),
        ("echo", Some(msg)) => Some(msg.to_owned()),
        _ => None,
    }
}

/// Serves datagrams until the task is aborted.
pub(super) async fn serve(socket: UdpSocket, state: Arc<State>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                state.console.log(&format!("UDP receive failed: {e}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let datagram = &buf[..n];
        let shown = listen::canonical(peer);
        match answer(datagram, &state.hostname, peer) {
            Some(reply) => {
                state.console.log(&format!(
                    "UDP {:?} from {shown}",
                    String::from_utf8_lossy(datagram).trim()
                ));
                if let Err(e) = socket.send_to(reply.as_bytes(), peer).await {
                    state
                        .console
                        .log(&format!("UDP reply to {shown} failed: {e}"));
                }
            }
            None if datagram.iter().all(u8::is_ascii_whitespace) => {}
            None => state.console.log(&format!(
                "Unknown UDP command received from {shown}: {:?}",
                String::from_utf8_lossy(datagram).trim()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "192.0.2.7:40000".parse().unwrap()
    }

    #[test]
    fn hostname_clientip_and_echo_are_answered() {
        assert_eq!(
            answer(b"hostname", "pod-a", peer()).as_deref(),
            Some("pod-a")
        );
        assert_eq!(
            answer(b"HostName\n", "pod-a", peer()).as_deref(),
            Some("pod-a")
        );
        assert_eq!(
            answer(b"clientip", "pod-a", peer()).as_deref(),
            Some("192.0.2.7:40000")
        );
        assert_eq!(
            answer(b"echo Hello World\n", "pod-a", peer()).as_deref(),
            Some("Hello World")
        );
    }

    #[test]
    fn an_ipv4_mapped_peer_is_reported_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:5".parse().unwrap();
        assert_eq!(
            answer(b"clientip", "p", mapped).as_deref(),
            Some("192.0.2.7:5")
        );
    }

    #[test]
    fn unknown_commands_get_no_answer() {
        assert_eq!(answer(b"", "p", peer()), None);
        assert_eq!(answer(b"hostnames", "p", peer()), None);
        assert_eq!(answer(b"echo", "p", peer()), None);
        assert_eq!(answer(b"\xff\xfe", "p", peer()), None);
    }
}
