//! `pods/{name}/exec` (`kubectl exec`) and `pods/{name}/attach` (`kubectl attach`, `kubectl run
//! -it`) over WebSocket with the remote command protocol `v5.channel.k8s.io` (or
//! `v4.channel.k8s.io`), which kubectl speaks by default from 1.30 on
//! (KEP-4006, <https://github.com/kubernetes/enhancements/tree/master/keps/sig-api-machinery/4006-transition-spdy-to-websockets>;
//! the framing is KEP-3396's). kube-apiserver proxies the stream to the pod's kubelet; here the
//! embedded node agents start the command or attach ([`PodExec`]) and this module speaks the
//! protocol.
//!
//! ```text
//!  client ──binary message [channel][data]──► server
//!    0 stdin · 4 resize {"Width","Height"} · 255 close [channel] (v5: stdin ended)
//!  server ──► client
//!    1 stdout · 2 stderr · 3 error: one metav1.Status when the command ends, then Close
//! ```

use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ApiError;

/// The remote command protocols served, the newest first.
pub const PROTOCOLS: [&str; 2] = [PROTOCOL_V5, "v4.channel.k8s.io"];
/// The protocol with the stream close signal (KEP-3396).
pub const PROTOCOL_V5: &str = "v5.channel.k8s.io";

const STDIN: u8 = 0;
/// The stdout channel.
pub const STDOUT: u8 = 1;
/// The stderr channel.
pub const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// A `pods/exec` request (core/v1 PodExecOptions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// The container (resolved: the pod's only container when the request named none).
    pub container: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Whether the client sends standard input.
    pub stdin: bool,
    /// Whether the client wants standard output.
    pub stdout: bool,
    /// Whether the client wants standard error.
    pub stderr: bool,
    /// Whether the command runs on a terminal.
    pub tty: bool,
}

/// The process's side of a session, channel numbers aside.
pub struct RemoteStreams {
    /// Bytes for the process's stdin; dropped when the client closes its stdin or goes away.
    pub input: Option<mpsc::Sender<Bytes>>,
    /// Output for the client: (channel, bytes), [`STDOUT`] or [`STDERR`].
    pub output: BoxStream<'static, (u8, Bytes)>,
    /// Sets the terminal's size (columns, rows), when there is a terminal.
    pub resize: Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
    /// The exit code when the session is over (attach: 0). Dropped early when the client leaves.
    pub done: BoxFuture<'static, std::io::Result<i32>>,
}

/// Runs `pods/exec` and `pods/attach` sessions: the node agents, which run the pods.
pub trait PodExec: Send + Sync + 'static {
    /// Starts `options.command` in `options.container` of `pod`, with the container's environment.
    fn exec(&self, pod: &Value, options: &ExecOptions) -> Result<RemoteStreams, ApiError>;
    /// Attaches to the running `options.container` of `pod`.
    fn attach(&self, pod: &Value, options: &ExecOptions) -> Result<RemoteStreams, ApiError>;
}

/// PodExecOptions (or PodAttachOptions, without `command`) from the query (`command` repeats,
/// one entry per argument); `container` as given (empty when absent).
pub fn parse_query(query: &str, attach: bool) -> Result<ExecOptions, ApiError> {
    let mut options = ExecOptions::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let flag = || -> Result<bool, ApiError> {
            match value.as_ref() {
                "" | "1" | "true" | "True" | "TRUE" => Ok(true),
                "0" | "false" | "False" | "FALSE" => Ok(false),
                other => Err(ApiError::bad_request(format!(
                    "invalid value {other:?} for {key}: want true or false"
                ))),
            }
        };
        match key.as_ref() {
            "command" => options.command.push(value.to_string()),
            "container" => options.container = value.to_string(),
            "stdin" => options.stdin = flag()?,
            "stdout" => options.stdout = flag()?,
            "stderr" => options.stderr = flag()?,
            "tty" => options.tty = flag()?,
            _ => {}
        }
    }
    if options.command.is_empty() && !attach {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    // pkg/apis/core/validation ValidatePodExecOptions... (registry/core/pod/rest/subresources.go).
    if !(options.stdin || options.stdout || options.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    if options.tty && options.stderr {
        // kubectl asks for no stderr with a terminal: the terminal merges it into stdout.
        options.stderr = false;
    }
    Ok(options)
}

/// The Status sent on the error channel when the command exited with `code` (kubelet's
/// `remotecommand` server: a non-zero exit is `NonZeroExitCode` with the code as a cause, which
/// kubectl turns into its own exit code).
pub fn exit_status(code: i32, command: &[String]) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The Status of an internal failure (the command could not be waited for).
fn error_status(message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
}

/// Upgrades `req` to a WebSocket and runs the session that `start` opens on it. Errors before
/// the upgrade are plain API errors (a client that does not speak WebSocket, e.g. kubectl before
/// 1.29, gets one).
pub(crate) async fn serve(
    req: Request,
    options: ExecOptions,
    start: impl FnOnce(&ExecOptions) -> Result<RemoteStreams, ApiError>,
) -> Result<Response, ApiError> {
    let (mut parts, _body) = req.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| {
            ApiError::bad_request(format!(
                "pods/exec and pods/attach are served over WebSocket ({}) only ({e}): use kubectl \
                 1.30 or later (1.29: set KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true), or `knet exec`",
                PROTOCOLS.join(", ")
            ))
        })?
        .protocols(PROTOCOLS);
    let Some(protocol) = upgrade.selected_protocol().cloned() else {
        return Err(ApiError::bad_request(format!(
            "no remote command protocol in common: knet serves {}",
            PROTOCOLS.join(", ")
        )));
    };
    let v5 = protocol.as_bytes() == PROTOCOL_V5.as_bytes();
    let streams = start(&options)?;
    Ok(upgrade.on_upgrade(move |socket| session(socket, streams, v5, options)))
}

/// The terminal size of a resize message (`{"Width":W,"Height":H}`, client-go's
/// `TerminalSize`): (columns, rows).
pub fn parse_resize(data: &[u8]) -> Option<(u16, u16)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct TerminalSize {
        width: u16,
        height: u16,
    }
    let size: TerminalSize = serde_json::from_slice(data).ok()?;
    Some((size.width, size.height))
}

/// One session: streams in both directions until it is done or the client goes away.
async fn session(socket: WebSocket, streams: RemoteStreams, v5: bool, options: ExecOptions) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        // A normal closure (1000): client-go takes any other as an error.
        let close = CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        };
        let _ = sink.send(Message::Close(Some(close))).await;
    });
    let frame = |channel: u8, data: &[u8]| {
        let mut framed = Vec::with_capacity(data.len() + 1);
        framed.push(channel);
        framed.extend_from_slice(data);
        Message::Binary(framed.into())
    };
    // Only the streams the client asked for (a terminal's output is all stdout).
    let wanted = |channel: u8| match channel {
        STDOUT => options.stdout,
        STDERR => options.stderr,
        _ => false,
    };
    let RemoteStreams {
        input,
        mut output,
        resize,
        mut done,
    } = streams;
    let mut stdin = input;
    let mut output_open = true;
    let ended = loop {
        tokio::select! {
            result = &mut done => break result,
            chunk = output.next(), if output_open => match chunk {
                Some((channel, data)) if wanted(channel) => {
                    if out.send(frame(channel, &data)).await.is_err() {
                        return;
                    }
                }
                Some(_) => {}
                None => output_open = false,
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) => match data.split_first() {
                    Some((&STDIN, rest)) => {
                        if let Some(tx) = stdin.as_ref()
                            && tx.send(Bytes::copy_from_slice(rest)).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    // v5: the client closed a stream; stdin is the only one it writes.
                    Some((&CLOSE, [STDIN])) if v5 => stdin = None,
                    Some((&RESIZE, size)) => {
                        if let (Some(resize), Some((columns, rows))) = (&resize, parse_resize(size)) {
                            resize(columns, rows);
                        }
                    }
                    _ => {}
                },
                // The client went away: dropping `done` ends an exec'd command; an attached
                // container goes on (its stdin closes with `stdinOnce`).
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    };
    drop(stdin);
    // What was written before the end reaches the client before the status; processes left
    // behind may hold the output open, so stop once it has been quiet for a moment.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while output_open && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(std::time::Duration::from_millis(200), output.next()).await {
            Ok(Some((channel, data))) => {
                if wanted(channel) && out.send(frame(channel, &data)).await.is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    let status = match ended {
        Ok(code) => exit_status(code, &options.command),
        Err(e) => error_status(&format!("waiting for the command: {e}")),
    };
    let _ = out
        .send(frame(
            ERROR,
            &serde_json::to_vec(&status).unwrap_or_default(),
        ))
        .await;
    drop(out);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_gives_the_command_arguments_in_order_and_the_streams() {
        let o = parse_query(
            "command=sh&command=-c&command=echo+%22a+b%22&container=app&stdin=true&stdout=true&stderr=true",
            false,
        )
        .unwrap();
        assert_eq!(o.command, ["sh", "-c", "echo \"a b\""]);
        assert_eq!(o.container, "app");
        assert!(o.stdin && o.stdout && o.stderr && !o.tty);

        let tty = parse_query("command=sh&stdin=1&stdout=1&stderr=true&tty=true", false).unwrap();
        assert!(tty.tty && !tty.stderr, "a terminal merges stderr");
        assert_eq!(tty.container, "");
    }

    #[test]
    fn a_query_without_a_command_or_streams_or_with_a_bad_flag_is_refused() {
        let e = parse_query("stdout=true", false).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("at least one command"), "{}", e.message);
        let e = parse_query("command=ls", false).unwrap_err();
        assert!(e.message.contains("stdin, stdout, stderr"), "{}", e.message);
        let e = parse_query("command=ls&stdout=yes", false).unwrap_err();
        // attach has no command.
        let attach = parse_query("container=app&stdin=true&stdout=true&tty=true", true).unwrap();
        assert!(attach.command.is_empty() && attach.tty && attach.stdin);
        assert!(e.message.contains("\"yes\" for stdout"), "{}", e.message);
    }

    #[test]
    fn resize_messages_give_columns_and_rows() {
        assert_eq!(
            parse_resize(br#"{"Width":120,"Height":40}"#),
            Some((120, 40))
        );
        assert_eq!(parse_resize(b"{}"), None);
        assert_eq!(parse_resize(b"garbage"), None);
    }

    #[test]
    fn exit_codes_become_kubelets_statuses() {
        assert_eq!(exit_status(0, &["true".into()])["status"], "Success");
        let failed = exit_status(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(failed["status"], "Failure");
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(failed["details"]["causes"][0]["message"], "3");
        assert!(
            failed["message"]
                .as_str()
                .unwrap()
                .ends_with("[sh -c exit 3], exit code 3")
        );
    }
}
