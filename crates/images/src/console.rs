//! Where an image's stdout and stderr lines go: the process streams, or memory for tests.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// One output stream of an image.
#[derive(Debug, Clone)]
enum Sink {
    Stdout,
    Stderr,
    Buffer(Arc<Mutex<Vec<u8>>>),
    Discard,
}

impl Sink {
    fn line(&self, line: &str) {
        match self {
            // A closed stdout (the log reader went away) must not kill the server: ignore errors.
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes());
                let _ = out.write_all(b"\n");
                let _ = out.flush();
            }
            Sink::Stderr => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(line.as_bytes());
                let _ = err.write_all(b"\n");
            }
            Sink::Buffer(buf) => {
                let mut buf = buf.lock().unwrap_or_else(PoisonError::into_inner);
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
            }
            Sink::Discard => {}
        }
    }

    fn text(&self) -> String {
        match self {
            Sink::Buffer(buf) => {
                let buf = buf.lock().unwrap_or_else(PoisonError::into_inner);
                String::from_utf8_lossy(&buf).into_owned()
            }
            _ => String::new(),
        }
    }
}

/// An image's stdout and stderr. Cheap to clone; clones write to the same streams.
#[derive(Debug, Clone)]
pub struct Console {
    out: Sink,
    err: Sink,
}

impl Console {
    /// The process's own stdout and stderr (what the node agent keeps as container logs).
    pub fn std() -> Self {
        Console {
            out: Sink::Stdout,
            err: Sink::Stderr,
        }
    }

    /// Both streams kept in memory, readable with [`Console::out_text`] and [`Console::err_text`].
    pub fn buffered() -> Self {
        Console {
            out: Sink::Buffer(Arc::default()),
            err: Sink::Buffer(Arc::default()),
        }
    }

    /// Both streams dropped.
    pub fn discard() -> Self {
        Console {
            out: Sink::Discard,
            err: Sink::Discard,
        }
    }

    /// Everything written to stdout so far (empty unless [`Console::buffered`]).
    pub fn out_text(&self) -> String {
        self.out.text()
    }

    /// Everything written to stderr so far (empty unless [`Console::buffered`]).
    pub fn err_text(&self) -> String {
        self.err.text()
    }

    /// Writes one line to stdout.
    pub(crate) fn out(&self, line: &str) {
        self.out.line(line);
    }

    /// Writes one line to stderr.
    pub(crate) fn err(&self, line: &str) {
        self.err.line(line);
    }

    /// Writes one log line to stdout with a Go `log` style timestamp (`2006/01/02 15:04:05 msg`),
    /// as agnhost's log lines read.
    pub(crate) fn log(&self, msg: &str) {
        let now = jiff::Timestamp::now().strftime("%Y/%m/%d %H:%M:%S");
        self.out(&format!("{now} {msg}"));
    }
}
