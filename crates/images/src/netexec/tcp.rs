//! netexec's TCP echo server (knet extra): every byte a client sends comes back, so a line sent
//! is a line echoed; the connection closes when the client closes its side.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::State;
use crate::listen;

/// Accepts and echoes until the task is aborted (which also ends open connections).
pub(super) async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((mut stream, peer)) => {
                    let peer = listen::canonical(peer);
                    let state = state.clone();
                    conns.spawn(async move {
                        state.console.log(&format!("TCP connection from {peer}"));
                        let (mut reader, mut writer) = stream.split();
                        match tokio::io::copy(&mut reader, &mut writer).await {
                            Ok(n) => state
                                .console
                                .log(&format!("TCP connection from {peer} closed after {n} bytes")),
                            Err(e) => state
                                .console
                                .log(&format!("TCP connection from {peer} failed: {e}")),
                        }
                    });
                }
                Err(e) => {
                    state.console.log(&format!("TCP accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}
