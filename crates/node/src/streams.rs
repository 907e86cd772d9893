//! Interactive I/O with containers, as CRI's `Exec` and `Attach` give it to kubelet's streaming
//! server: a command started in a running container ([`PodRuntime::exec_session`]) or the main
//! process of a container that asked for `stdin`/`tty` ([`PodRuntime::attach_session`]), on pipes
//! or on a pseudo-terminal.
//!
//! [`PodRuntime::exec_session`]: crate::PodRuntime::exec_session
//! [`PodRuntime::attach_session`]: crate::PodRuntime::attach_session

use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{broadcast, mpsc};

use crate::logs::LogStream;

/// One side of an interactive session with a process in a container.
pub struct IoSession {
    /// Bytes for the process's stdin; dropping it ends stdin (with `stdinOnce`, for good).
    pub input: Option<mpsc::Sender<Bytes>>,
    /// What the process writes, by stream (a terminal's output is all `Stdout`).
    pub output: BoxStream<'static, (LogStream, Bytes)>,
    /// Sets the terminal's size (columns, rows); None without a terminal.
    pub resize: Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
    /// Ends with the session: an exec's exit code; for an attach, 0 when the instance ended.
    /// Dropping it before the end kills an exec'd command (an attached container goes on).
    pub done: BoxFuture<'static, std::io::Result<i32>>,
}

impl std::fmt::Debug for IoSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoSession")
            .field("input", &self.input.is_some())
            .field("resize", &self.resize.is_some())
            .finish_non_exhaustive()
    }
}

/// A new pseudo-terminal: (master, slave).
pub fn open_pty() -> std::io::Result<(OwnedFd, OwnedFd)> {
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

/// Sets the size of the terminal whose master is `master`.
pub fn set_terminal_size(master: &OwnedFd, columns: u16, rows: u16) {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let _ = rustix::termios::tcsetwinsize(master, size);
}

/// `command` run by `setsid --ctty` (util-linux): a new session whose controlling terminal is its
/// stdin, so that ^C on the terminal reaches its foreground process as SIGINT. The command keeps
/// exactly the environment it sets (the runtime's commands clear the inherited one), plus
/// `TERM=xterm` when it has none, as containerd gives a terminal. Do not put the command in a
/// process group of its own: setsid would then fork and return at once.
pub fn under_terminal(command: &std::process::Command) -> std::io::Result<std::process::Command> {
    let setsid = ["/usr/bin/setsid", "/bin/setsid"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "a terminal needs setsid (util-linux), not found in /usr/bin or /bin",
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

/// `command` [under a terminal](under_terminal) whose slave side `slave` is its stdin, stdout
/// and stderr, ready to spawn.
pub(crate) fn on_terminal(
    command: &std::process::Command,
    slave: &OwnedFd,
) -> std::io::Result<tokio::process::Command> {
    let mut wrapped = under_terminal(command)?;
    wrapped
        .stdin(slave.try_clone()?)
        .stdout(slave.try_clone()?)
        .stderr(slave.try_clone()?);
    Ok(tokio::process::Command::from(wrapped))
}

/// A tokio file over a duplicate of `fd` (a terminal's master: reads and writes go through the
/// blocking pool, each direction on its own file).
pub(crate) fn async_file(fd: &OwnedFd) -> std::io::Result<tokio::fs::File> {
    Ok(tokio::fs::File::from_std(std::fs::File::from(
        fd.try_clone()?,
    )))
}

/// Output of `reader` as a stream of chunks on `stream`.
pub(crate) fn chunks(
    reader: impl AsyncRead + Send + Unpin + 'static,
    stream: LogStream,
) -> BoxStream<'static, (LogStream, Bytes)> {
    use futures::StreamExt;
    // A terminal's master reads EIO once the last process on it is gone: the end, too.
    tokio_util::io::ReaderStream::new(reader)
        .take_while(|r| futures::future::ready(r.is_ok()))
        .filter_map(move |r| futures::future::ready(r.ok().map(|b| (stream, b))))
        .boxed()
}

/// Feeds what arrives on the returned sender to `writer` until the sender is dropped, then closes
/// `writer` (the process sees the end of its stdin).
pub(crate) fn feed(mut writer: impl AsyncWrite + Send + Unpin + 'static) -> mpsc::Sender<Bytes> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if writer.write_all(&data).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    tx
}

/// Copies what passes through to the attach point's listeners.
pub(crate) struct Tee<R> {
    pub(crate) inner: R,
    pub(crate) stream: LogStream,
    pub(crate) to: broadcast::Sender<(LogStream, Bytes)>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Tee<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let new = &buf.filled()[before..];
            if !new.is_empty() && self.to.receiver_count() > 0 {
                let _ = self.to.send((self.stream, Bytes::copy_from_slice(new)));
            }
        }
        polled
    }
}

/// Where clients attach to a container (kubelet's attach): its current instance's stdin (when it
/// asked for one) and terminal (when it asked for one), and a copy of its output.
pub(crate) struct AttachPoint {
    pub(crate) tty: bool,
    /// `stdin`: the instance gets a pipe (or its terminal) for attached clients to write to.
    pub(crate) stdin: bool,
    /// `stdinOnce`: stdin closes when the first attached client detaches.
    pub(crate) stdin_once: bool,
    pub(crate) output: broadcast::Sender<(LogStream, Bytes)>,
    pub(crate) instance: Mutex<Option<InstanceIo>>,
    /// Bumped when an instance ends.
    pub(crate) ended: tokio::sync::watch::Sender<u64>,
}

/// The stdin and terminal of a container's running instance.
pub(crate) struct InstanceIo {
    pub(crate) stdin: Option<mpsc::Sender<Bytes>>,
    pub(crate) terminal: Option<Arc<OwnedFd>>,
}

impl AttachPoint {
    pub(crate) fn new(tty: bool, stdin: bool, stdin_once: bool) -> Self {
        AttachPoint {
            tty,
            stdin,
            stdin_once,
            output: broadcast::channel(256).0,
            instance: Mutex::new(None),
            ended: tokio::sync::watch::channel(0).0,
        }
    }
}
