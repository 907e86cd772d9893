//! `pods/{name}/exec` (`kubectl exec`) over WebSocket with the remote command protocol
//! `v5.channel.k8s.io` (or `v4.channel.k8s.io`), which kubectl speaks by default from 1.30 on
//! (KEP-4006, <https://github.com/kubernetes/enhancements/tree/master/keps/sig-api-machinery/4006-transition-spdy-to-websockets>;
//! the framing is KEP-3396's). kube-apiserver proxies the stream to the pod's kubelet; knet's
//! embedded node agents give the command to run ([`PodExec`]) and the server runs it here.
//!
//! ```text
//!  client ──binary message [channel][data]──► server
//!    0 stdin · 4 resize {"Width","Height"} · 255 close [channel] (v5: stdin ended)
//!  server ──► client
//!    1 stdout · 2 stderr · 3 error: one metav1.Status when the command ends, then Close
//! ```

use std::os::fd::OwnedFd;
use std::process::Stdio;

use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::ApiError;

/// The remote command protocols served, the newest first.
pub const PROTOCOLS: [&str; 2] = [PROTOCOL_V5, "v4.channel.k8s.io"];
/// The protocol with the stream close signal (KEP-3396).
pub const PROTOCOL_V5: &str = "v5.channel.k8s.io";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
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

/// Gives the command of a `pods/exec` request: the node agents, which run the pod.
pub trait PodExec: Send + Sync + 'static {
    /// `options.command` to run in `options.container` of `pod`, with the container's environment
    /// and working directory, not yet started (the server sets up its standard streams).
    fn command(
        &self,
        pod: &Value,
        options: &ExecOptions,
    ) -> Result<std::process::Command, ApiError>;
}

/// PodExecOptions from the query (`command` repeats, one entry per argument); `container` as
/// given (empty when absent).
pub fn parse_query(query: &str) -> Result<ExecOptions, ApiError> {
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
    if options.command.is_empty() {
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

/// Upgrades `req` to a WebSocket and runs `command` on it. Errors before the upgrade are plain
/// API errors (a client that does not speak WebSocket, e.g. kubectl before 1.29, gets one).
pub(crate) async fn serve(
    req: Request,
    command: std::process::Command,
    options: ExecOptions,
) -> Result<Response, ApiError> {
    let (mut parts, _body) = req.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| {
            ApiError::bad_request(format!(
                "pods/exec is served over WebSocket ({}) only ({e}): use kubectl 1.30 or later \
                 (1.29: set KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true), or `knet exec`",
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
    let what = format!(
        "cannot start {:?} in container {}",
        options.command.join(" "),
        options.container
    );
    let (child, streams) =
        start(command, &options).map_err(|e| ApiError::internal(format!("{what}: {e}")))?;
    Ok(upgrade.on_upgrade(move |socket| session(socket, child, streams, v5, options.command)))
}

type Input = Box<dyn AsyncWrite + Unpin + Send>;
type Output = Box<dyn AsyncRead + Unpin + Send>;

/// The command's side of the streams.
struct Streams {
    /// Where the client's stdin goes.
    input: Option<Input>,
    /// What goes to the client, by channel.
    outputs: Vec<(u8, Output)>,
    /// The terminal's master side, for resizes.
    terminal: Option<OwnedFd>,
}

/// Starts `command`: with pipes, or on a new pseudo-terminal when `options.tty` (stdin, stdout
/// and stderr all on it, and it the controlling terminal of a new session, so that ^C reaches the
/// foreground process as SIGINT).
fn start(
    mut command: std::process::Command,
    options: &ExecOptions,
) -> std::io::Result<(tokio::process::Child, Streams)> {
    if options.tty {
        let (master, slave) = open_pty()?;
        let mut command = under_terminal(&command)?;
        command
            .stdin(slave.try_clone()?)
            .stdout(slave.try_clone()?)
            .stderr(slave);
        let child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()?;
        let file = |fd: &OwnedFd| -> std::io::Result<tokio::fs::File> {
            Ok(tokio::fs::File::from_std(std::fs::File::from(
                fd.try_clone()?,
            )))
        };
        let input: Option<Input> = if options.stdin {
            Some(Box::new(file(&master)?))
        } else {
            None
        };
        let output: Output = Box::new(file(&master)?);
        let streams = Streams {
            input,
            outputs: vec![(STDOUT, output)],
            terminal: Some(master),
        };
        return Ok((child, streams));
    }
    let piped = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    command
        .stdin(piped(options.stdin))
        .stdout(piped(options.stdout))
        .stderr(piped(options.stderr));
    let mut child = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()?;
    let mut outputs: Vec<(u8, Output)> = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        outputs.push((STDOUT, Box::new(stdout)));
    }
    if let Some(stderr) = child.stderr.take() {
        outputs.push((STDERR, Box::new(stderr)));
    }
    let input = child.stdin.take().map(|i| Box::new(i) as Input);
    let streams = Streams {
        input,
        outputs,
        terminal: None,
    };
    Ok((child, streams))
}

/// A new pseudo-terminal: (master, slave).
fn open_pty() -> std::io::Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
    let slave = rustix::fs::open(name.as_c_str(), flags, Mode::empty())?;
    Ok((master, slave))
}

/// `command` run by `setsid --ctty` (util-linux): a new session whose controlling terminal is its
/// stdin. The command keeps exactly the environment it sets (the runtime's commands clear the
/// inherited one), plus `TERM=xterm` when it has none, as containerd gives a terminal exec.
fn under_terminal(command: &std::process::Command) -> std::io::Result<std::process::Command> {
    let setsid = ["/usr/bin/setsid", "/bin/setsid"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.exists())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "a terminal (-t) needs setsid (util-linux), not found in /usr/bin or /bin",
            )
        })?;
    let mut wrapped = std::process::Command::new(setsid);
    wrapped
        .arg("--ctty")
        .arg("--")
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear();
    let mut has_term = false;
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            has_term |= key == "TERM";
            wrapped.env(key, value);
        }
    }
    if !has_term {
        wrapped.env("TERM", "xterm");
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    Ok(wrapped)
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

/// Copies `reader` to the client on `channel` until it ends.
async fn pump(mut reader: Output, channel: u8, out: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf[1..]).await {
            // A terminal's master reads EIO once the last process on it is gone.
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf[0] = channel;
        let frame = Bytes::copy_from_slice(&buf[..=n]);
        if out.send(Message::Binary(frame)).await.is_err() {
            return;
        }
    }
}

/// One exec: streams in both directions until the command ends or the client goes away.
async fn session(
    socket: WebSocket,
    mut child: tokio::process::Child,
    streams: Streams,
    v5: bool,
    command: Vec<String>,
) {
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
    let mut pumps = tokio::task::JoinSet::new();
    for (channel, reader) in streams.outputs {
        pumps.spawn(pump(reader, channel, out.clone()));
    }
    let mut stdin = streams.input;
    let terminal = streams.terminal;
    let exited = loop {
        tokio::select! {
            status = child.wait() => break status,
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) => match data.split_first() {
                    Some((&STDIN, rest)) => {
                        if let Some(pipe) = stdin.as_mut() {
                            let written = async {
                                pipe.write_all(rest).await?;
                                pipe.flush().await
                            };
                            if written.await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    // v5: the client closed a stream; stdin is the only one it writes.
                    Some((&CLOSE, [STDIN])) if v5 => stdin = None,
                    Some((&RESIZE, size)) => {
                        if let (Some(fd), Some((cols, rows))) = (&terminal, parse_resize(size)) {
                            let size = rustix::termios::Winsize {
                                ws_row: rows,
                                ws_col: cols,
                                ws_xpixel: 0,
                                ws_ypixel: 0,
                            };
                            let _ = rustix::termios::tcsetwinsize(fd, size);
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    // The client went away: the command goes with it.
                    let _ = child.start_kill();
                    break child.wait().await;
                }
                Some(Ok(_)) => {}
            },
        }
    };
    drop(stdin);
    // What the command wrote before it ended reaches the client before the status; processes
    // it left behind may hold the pipes open, so wait for them only briefly.
    let drain = async { while pumps.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(1), drain)
        .await
        .is_err()
    {
        pumps.abort_all();
    }
    drop(terminal);
    let status = match exited {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            exit_status(code, &command)
        }
        Err(e) => error_status(&format!("waiting for the command: {e}")),
    };
    let mut frame = vec![ERROR];
    frame.extend_from_slice(&serde_json::to_vec(&status).unwrap_or_default());
    let _ = out.send(Message::Binary(frame.into())).await;
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
        )
        .unwrap();
        assert_eq!(o.command, ["sh", "-c", "echo \"a b\""]);
        assert_eq!(o.container, "app");
        assert!(o.stdin && o.stdout && o.stderr && !o.tty);

        let tty = parse_query("command=sh&stdin=1&stdout=1&stderr=true&tty=true").unwrap();
        assert!(tty.tty && !tty.stderr, "a terminal merges stderr");
        assert_eq!(tty.container, "");
    }

    #[test]
    fn a_query_without_a_command_or_streams_or_with_a_bad_flag_is_refused() {
        let e = parse_query("stdout=true").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("at least one command"), "{}", e.message);
        let e = parse_query("command=ls").unwrap_err();
        assert!(e.message.contains("stdin, stdout, stderr"), "{}", e.message);
        let e = parse_query("command=ls&stdout=yes").unwrap_err();
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
