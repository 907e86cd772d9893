//! Container logs in the CRI format, as kubelet keeps them under
//! `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`: one line per entry,
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>`, where `P` marks a piece of a line
//! longer than 16 KiB and `F` its end (containerd `pkg/cri/io/logger.go`; kubelet reads them in
//! `pkg/kubelet/kuberuntime/logs/logs.go`).
//!
//! ```text
//!  <pod log dir>/app/0.log   2024-05-01T10:00:00.123456789Z stdout F hello
//!               /app/1.log   (after the first restart)
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use jiff::Timestamp;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncSeekExt, BufReader};

/// Longest content of one log entry; longer lines are split into `P` entries (containerd's default
/// `max_container_log_line_size`).
pub const MAX_LOG_LINE: usize = 16 * 1024;

/// Bounds of the polling interval of [`follow_logs`].
const MIN_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_secs(1);

/// Errors reading logs.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A log file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The container has not started yet, so there is no log.
    #[error("container {container:?} has not started yet: it has no logs")]
    NoLogs {
        /// The container's name.
        container: String,
    },
    /// `--previous` for a container that has not been restarted (kubelet's wording).
    #[error("previous terminated container {container:?} in pod {pod:?} not found")]
    NoPrevious {
        /// The container's name.
        container: String,
        /// The pod's name (empty when unknown).
        pod: String,
    },
    /// The container is waiting to start (kubelet `validateContainerLogStatus`).
    #[error("container {container:?} in pod {pod:?} is waiting to start: {reason}")]
    Waiting {
        /// The container's name.
        container: String,
        /// The pod's name.
        pod: String,
        /// Why, in kubelet's words (`image can't be pulled`, `ContainerCreating`, ...).
        reason: String,
    },
    /// The pod has no container of that name (kubelet's wording).
    #[error("container {container} is not valid for pod {pod}")]
    UnknownContainer {
        /// The name asked for.
        container: String,
        /// The pod's name.
        pod: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
}

impl LogStream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// The log directory of a pod as kubelet names it: `<root>/<namespace>_<pod>_<uid>`
/// (`BuildPodLogsDirectory`, pkg/kubelet/kuberuntime/helpers.go).
pub fn pod_log_dir(root: &Path, namespace: &str, pod: &str, uid: &str) -> PathBuf {
    root.join(format!("{namespace}_{pod}_{uid}"))
}

/// The log file of one container instance: `<pod log dir>/<container>/<restartCount>.log`
/// (`BuildContainerLogsDirectory` + `buildContainerLogsPath`).
pub fn container_log_path(pod_log_dir: &Path, container: &str, restart_count: u32) -> PathBuf {
    pod_log_dir
        .join(container)
        .join(format!("{restart_count}.log"))
}

/// RFC 3339 with nine fraction digits in UTC, as kubelet prints timestamps (`RFC3339NanoFixed`).
pub fn format_timestamp(ts: Timestamp) -> String {
    format!(
        "{}.{:09}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ts.subsec_nanosecond()
    )
}

/// Appends one CRI log entry for `content` (which holds no newline) to `out`.
pub fn encode_entry(
    ts: Timestamp,
    stream: LogStream,
    partial: bool,
    content: &[u8],
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(format_timestamp(ts).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<'a> {
    timestamp: &'a [u8],
    stream: &'a [u8],
    partial: bool,
    content: &'a [u8],
}

/// Parses one line (without its newline): `timestamp stream tag content`, where the tag's first
/// `:`-separated field is `P` or `F`. A line that is not in this form is content of its own.
fn parse_entry(line: &[u8]) -> Entry<'_> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let (Some(ts), Some(stream), Some(tag)) = (fields.next(), fields.next(), fields.next()) else {
        return Entry {
            timestamp: b"",
            stream: b"stdout",
            partial: false,
            content: line,
        };
    };
    let content = fields.next().unwrap_or_default();
    let first_tag = tag.split(|b| *b == b':').next().unwrap_or_default();
    Entry {
        timestamp: ts,
        stream,
        partial: first_tag == b"P",
        content,
    }
}

/// Whole lines of a log as the user sees them: content joined across `P` entries of one stream,
/// with the timestamp of the line's first entry.
#[derive(Debug, Default)]
struct Decoder {
    /// A line being assembled from `P` entries, per stream: (timestamp, content).
    pending: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

impl Decoder {
    /// Feeds one log file line; returns a finished user line (timestamp, content) when it ends one.
    fn feed(&mut self, line: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let entry = parse_entry(line);
        let slot = self.pending.iter().position(|(s, _, _)| s == entry.stream);
        let (ts, mut content) = match slot {
            Some(i) => {
                let (_, ts, content) = self.pending.swap_remove(i);
                (ts, content)
            }
            None => (entry.timestamp.to_vec(), Vec::new()),
        };
        content.extend_from_slice(entry.content);
        if entry.partial {
            self.pending.push((entry.stream.to_vec(), ts, content));
            None
        } else {
            Some((ts, content))
        }
    }
}

/// Renders user lines: `content\n`, prefixed by `timestamp ` when asked.
fn render(lines: &[(Vec<u8>, Vec<u8>)], timestamps: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (ts, content) in lines {
        if timestamps && !ts.is_empty() {
            out.extend_from_slice(ts);
            out.push(b' ');
        }
        out.extend_from_slice(content);
        out.push(b'\n');
    }
    out
}

/// Decodes a whole log file's bytes into user lines (an unterminated last file line included).
fn decode_all(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut decoder = Decoder::default();
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == b'\n')
        .filter_map(|line| decoder.feed(line))
        .collect()
}

fn keep_tail<T>(mut lines: Vec<T>, tail_lines: Option<usize>) -> Vec<T> {
    if let Some(n) = tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    lines
}

/// The restart numbers that have a log file for `container`, in increasing order.
pub fn log_instances(pod_log_dir: &Path, container: &str) -> Result<Vec<u32>, LogError> {
    let dir = pod_log_dir.join(container);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&dir)(e)),
    };
    let mut instances: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".log")?
                .parse::<u32>()
                .ok()
        })
        .collect();
    instances.sort_unstable();
    Ok(instances)
}

/// Removes the log files of `container`'s instances older than `keep_from` (best effort).
pub(crate) fn remove_logs_before(pod_log_dir: &Path, container: &str, keep_from: u32) {
    let Ok(instances) = log_instances(pod_log_dir, container) else {
        return;
    };
    for restart in instances.into_iter().filter(|r| *r < keep_from) {
        let path = container_log_path(pod_log_dir, container, restart);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::debug!(path = %path.display(), error = %e, "cannot remove an old container log");
        }
    }
}

/// The user lines of one instance's log (`restart_count`), the last `tail_lines` of them when given,
/// each prefixed by its timestamp when `timestamps`.
pub fn read_instance_log(
    pod_log_dir: &Path,
    container: &str,
    restart_count: u32,
    tail_lines: Option<usize>,
    timestamps: bool,
) -> Result<String, LogError> {
    let path = container_log_path(pod_log_dir, container, restart_count);
    let data = std::fs::read(&path).map_err(io_error(&path))?;
    let lines = keep_tail(decode_all(&data), tail_lines);
    Ok(String::from_utf8_lossy(&render(&lines, timestamps)).into_owned())
}

/// `kubectl logs` from the files alone: the latest instance of `container`, or with `previous` the
/// one before it; the last `tail_lines` lines; timestamps kept when asked. (While a container waits
/// in CrashLoopBackOff its latest instance is the one that failed; [`crate::PodRuntime::read_logs`]
/// knows the container's state and answers `--previous` exactly as kubelet does.)
pub fn read_logs(
    pod_log_dir: &Path,
    container: &str,
    previous: bool,
    tail_lines: Option<usize>,
    timestamps: bool,
) -> Result<String, LogError> {
    let instances = log_instances(pod_log_dir, container)?;
    let chosen = if previous {
        instances.iter().rev().nth(1)
    } else {
        instances.last()
    };
    let Some(&restart) = chosen else {
        return Err(if previous && !instances.is_empty() {
            LogError::NoPrevious {
                container: container.to_owned(),
                pod: String::new(),
            }
        } else {
            LogError::NoLogs {
                container: container.to_owned(),
            }
        });
    };
    read_instance_log(pod_log_dir, container, restart, tail_lines, timestamps)
}

/// `kubectl logs -f`: the latest instance's lines (the last `tail_lines` first), then new lines as
/// they are written, polling the file every `poll` (bounded to 10 ms ..= 1 s). The stream ends once
/// `running()` says the instance stopped (after the last lines are read) or a newer instance's log
/// appears; it waits for a first log while `running()` holds.
pub fn follow_logs(
    pod_log_dir: PathBuf,
    container: String,
    tail_lines: Option<usize>,
    timestamps: bool,
    poll: Duration,
    running: impl Fn() -> bool + Send + 'static,
) -> impl Stream<Item = Result<Bytes, LogError>> + Send + 'static {
    let poll = poll.clamp(MIN_POLL, MAX_POLL);
    let state = Follow {
        dir: pod_log_dir,
        container,
        tail_lines,
        timestamps,
        poll,
        running: Box::new(running),
        file: None,
        restart: 0,
        offset: 0,
        carry: Vec::new(),
        decoder: Decoder::default(),
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        match state.step().await {
            Ok(Some(bytes)) => Some((Ok(bytes), state)),
            Ok(None) => None,
            Err(e) => {
                state.done = true;
                Some((Err(e), state))
            }
        }
    })
}

/// State of [`follow_logs`].
struct Follow {
    dir: PathBuf,
    container: String,
    tail_lines: Option<usize>,
    timestamps: bool,
    poll: Duration,
    running: Box<dyn Fn() -> bool + Send>,
    /// The file being followed, once it exists.
    file: Option<tokio::fs::File>,
    restart: u32,
    offset: u64,
    /// Bytes of an unfinished file line.
    carry: Vec<u8>,
    decoder: Decoder,
    done: bool,
}

impl Follow {
    /// Waits for and returns the next bytes for the reader; `None` at the end.
    async fn step(&mut self) -> Result<Option<Bytes>, LogError> {
        loop {
            let first = self.file.is_none();
            if first && !self.open_latest().await? {
                if !(self.running)() {
                    // Nothing was ever written and nothing will be.
                    return match log_instances(&self.dir, &self.container)?.last() {
                        Some(_) => continue,
                        None => Ok(None),
                    };
                }
                tokio::time::sleep(self.poll).await;
                continue;
            }
            // Whether the writer was done before this read: then what it reads is the last.
            let stopped = !(self.running)() || self.newer_instance_exists()?;
            let lines = self.read_new_lines(stopped).await?;
            let lines = if first {
                keep_tail(lines, self.tail_lines)
            } else {
                lines
            };
            if !lines.is_empty() {
                return Ok(Some(Bytes::from(render(&lines, self.timestamps))));
            }
            if stopped {
                return Ok(None);
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn open_latest(&mut self) -> Result<bool, LogError> {
        let Some(&restart) = log_instances(&self.dir, &self.container)?.last() else {
            return Ok(false);
        };
        let path = container_log_path(&self.dir, &self.container, restart);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(io_error(&path))?;
        self.file = Some(file);
        self.restart = restart;
        Ok(true)
    }

    fn newer_instance_exists(&self) -> Result<bool, LogError> {
        let instances = log_instances(&self.dir, &self.container)?;
        Ok(instances.last().is_some_and(|&r| r > self.restart))
    }

    /// Reads what was appended since the last call and decodes the complete lines; with `flush`,
    /// an unterminated last line counts too.
    async fn read_new_lines(&mut self, flush: bool) -> Result<Vec<(Vec<u8>, Vec<u8>)>, LogError> {
        let path = container_log_path(&self.dir, &self.container, self.restart);
        let Some(file) = self.file.as_mut() else {
            return Ok(Vec::new());
        };
        file.seek(std::io::SeekFrom::Start(self.offset))
            .await
            .map_err(io_error(&path))?;
        let mut fresh = Vec::new();
        let n = file
            .read_to_end(&mut fresh)
            .await
            .map_err(io_error(&path))?;
        self.offset += n as u64;
        self.carry.extend_from_slice(&fresh);
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(end) = self.carry[start..].iter().position(|b| *b == b'\n') {
            if let Some(line) = self.decoder.feed(&self.carry[start..start + end]) {
                lines.push(line);
            }
            start += end + 1;
        }
        self.carry.drain(..start);
        if flush && !self.carry.is_empty() {
            let rest = std::mem::take(&mut self.carry);
            if let Some(line) = self.decoder.feed(&rest) {
                lines.push(line);
            }
        }
        Ok(lines)
    }
}

/// The log file of one container instance, shared by the copiers of its stdout and stderr. Each
/// entry is written with one `write_all` on a file opened for appending, under a lock, so entries
/// of the two streams never interleave.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl LogFile {
    /// Creates (or appends to) `<pod log dir>/<container>/<restart>.log`.
    pub(crate) fn create(
        pod_log_dir: &Path,
        container: &str,
        restart_count: u32,
    ) -> Result<Self, LogError> {
        let dir = pod_log_dir.join(container);
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let path = container_log_path(pod_log_dir, container, restart_count);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn write_entry(&self, stream: LogStream, partial: bool, content: &[u8]) {
        let mut line = Vec::with_capacity(content.len() + 48);
        encode_entry(Timestamp::now(), stream, partial, content, &mut line);
        let mut file = match self.file.lock() {
            Ok(file) => file,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(e) = file.write_all(&line) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write a container log entry");
        }
    }

    /// Copies `reader` (a process's stdout or stderr) into the file until it ends, one entry per
    /// line; lines longer than [`MAX_LOG_LINE`] become `P` entries, and a last line without a
    /// newline is written as a full entry.
    pub(crate) async fn copy_from(&self, reader: impl AsyncRead + Unpin, stream: LogStream) {
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match read_bounded_line(&mut reader, &mut line, MAX_LOG_LINE).await {
                Ok(0) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        self.write_entry(stream, false, &line);
                    } else if line.len() >= MAX_LOG_LINE {
                        self.write_entry(stream, true, &line);
                    } else {
                        // The stream ended in the middle of a line.
                        self.write_entry(stream, false, &line);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "container output stream failed");
                    break;
                }
            }
        }
    }
}

/// Reads up to and including the next newline, or `max` bytes, whichever comes first.
async fn read_bounded_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    out: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let room = max - out.len();
        let window = &available[..available.len().min(room)];
        let (take, done) = match window.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (window.len(), out.len() + window.len() >= max),
        };
        out.extend_from_slice(&window[..take]);
        reader.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

/// The last `max_lines` lines of an instance's log, cut to its last `max_bytes` bytes: the
/// termination message of `terminationMessagePolicy: FallbackToLogsOnError` (kubelet:
/// 80 lines, 2048 bytes, pkg/kubelet/kuberuntime/kuberuntime_container.go).
pub(crate) fn tail_for_message(path: &Path, max_lines: usize, max_bytes: usize) -> Option<String> {
    let data = std::fs::read(path).ok()?;
    let lines = keep_tail(decode_all(&data), Some(max_lines));
    let text = render(&lines, false);
    let cut = &text[text.len().saturating_sub(max_bytes)..];
    let message = String::from_utf8_lossy(cut).into_owned();
    (!message.is_empty()).then_some(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn ts() -> Timestamp {
        Timestamp::new(1_714_557_600, 123_456_789).unwrap()
    }

    #[test]
    fn entries_are_written_in_the_cri_format() {
        let mut out = Vec::new();
        encode_entry(ts(), LogStream::Stdout, false, b"hello world", &mut out);
        encode_entry(ts(), LogStream::Stderr, true, b"part", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2024-05-01T10:00:00.123456789Z stdout F hello world\n\
             2024-05-01T10:00:00.123456789Z stderr P part\n"
        );
        let whole = Timestamp::from_second(1_714_557_600).unwrap();
        assert_eq!(format_timestamp(whole), "2024-05-01T10:00:00.000000000Z");
    }

    #[test]
    fn partial_entries_join_into_one_line_per_stream() {
        let log = "2024-05-01T10:00:00.000000001Z stdout P abc\n\
                   2024-05-01T10:00:00.000000002Z stderr F oops\n\
                   2024-05-01T10:00:00.000000003Z stdout F def\n\
                   2024-05-01T10:00:00.000000004Z stdout F  two spaces\n\
                   2024-05-01T10:00:00.000000005Z stdout F \n";
        let lines = decode_all(log.as_bytes());
        let text = String::from_utf8(render(&lines, false)).unwrap();
        assert_eq!(text, "oops\nabcdef\n two spaces\n\n");
        let text = String::from_utf8(render(&lines[..2], true)).unwrap();
        assert_eq!(
            text,
            "2024-05-01T10:00:00.000000002Z oops\n2024-05-01T10:00:00.000000001Z abcdef\n"
        );
    }

    #[test]
    fn a_line_in_no_known_format_is_kept_as_content() {
        let lines = decode_all(b"garbage\n");
        assert_eq!(render(&lines, false), b"garbage\n");
    }

    #[tokio::test]
    async fn long_lines_are_split_into_partial_entries_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = LogFile::create(dir.path(), "app", 0).unwrap();
        let long = "x".repeat(MAX_LOG_LINE * 2 + 10);
        let input = format!("{long}\nshort\nno newline at the end");
        file.copy_from(input.as_bytes(), LogStream::Stdout).await;
        let raw = std::fs::read_to_string(file.path()).unwrap();
        let tags: Vec<&str> = raw.lines().map(|l| l.split(' ').nth(2).unwrap()).collect();
        assert_eq!(tags, ["P", "P", "F", "F", "F"]);
        let text = read_logs(dir.path(), "app", false, None, false).unwrap();
        assert_eq!(text, format!("{long}\nshort\nno newline at the end\n"));
    }

    #[test]
    fn the_latest_instance_is_read_and_previous_is_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        for (restart, text) in [(0, "first"), (1, "second"), (2, "third")] {
            let path = container_log_path(dir.path(), "app", restart);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut out = Vec::new();
            encode_entry(ts(), LogStream::Stdout, false, text.as_bytes(), &mut out);
            encode_entry(ts(), LogStream::Stdout, false, b"bye", &mut out);
            std::fs::write(path, out).unwrap();
        }
        assert_eq!(
            read_logs(dir.path(), "app", false, None, false).unwrap(),
            "third\nbye\n"
        );
        assert_eq!(
            read_logs(dir.path(), "app", true, Some(1), false).unwrap(),
            "bye\n"
        );
        assert_eq!(
            read_logs(dir.path(), "app", true, None, true).unwrap(),
            "2024-05-01T10:00:00.123456789Z second\n2024-05-01T10:00:00.123456789Z bye\n"
        );
        assert!(matches!(
            read_logs(dir.path(), "web", false, None, false),
            Err(LogError::NoLogs { .. })
        ));
    }

    #[tokio::test]
    async fn following_a_log_gives_the_tail_then_new_lines_then_ends_when_the_writer_stops() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::sync::Arc::new(LogFile::create(dir.path(), "app", 0).unwrap());
        file.copy_from(&b"one\ntwo\nthree\n"[..], LogStream::Stdout)
            .await;
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = running.clone();
        let stream = follow_logs(
            dir.path().to_path_buf(),
            "app".into(),
            Some(2),
            false,
            Duration::from_millis(10),
            move || flag.load(std::sync::atomic::Ordering::SeqCst),
        );
        let mut stream = Box::pin(stream);
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(&first[..], b"two\nthree\n");
        file.copy_from(&b"four\n"[..], LogStream::Stderr).await;
        let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&next[..], b"four\n");
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap();
        assert!(end.is_none());
    }

    #[test]
    fn the_fallback_termination_message_is_the_tail_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = container_log_path(dir.path(), "app", 0);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut out = Vec::new();
        for i in 0..100 {
            encode_entry(
                ts(),
                LogStream::Stderr,
                false,
                format!("line {i}").as_bytes(),
                &mut out,
            );
        }
        std::fs::write(&path, out).unwrap();
        let message = tail_for_message(&path, 80, 2048).unwrap();
        assert!(message.starts_with("line 20\n"), "{message}");
        let message = tail_for_message(&path, 80, 8).unwrap();
        assert_eq!(message, "line 99\n");
    }
}
