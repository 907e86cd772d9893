//! describe.go's `PrefixWriter` over `tabbedString`'s tabwriter (minwidth 0, padding 2).

use crate::render::escape_terminal;
use crate::tabwriter::TabWriter;

/// Writes text at indentation levels (two spaces each) through the describe tabwriter,
/// escaping terminal control characters as kubectl's `WriteEscaped` does.
pub(crate) struct Writer {
    tw: TabWriter,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Writer {
            tw: TabWriter::for_describe(),
        }
    }

    /// `Write(level, ...)`.
    pub(crate) fn write(&mut self, level: usize, text: &str) {
        let mut s = "  ".repeat(level);
        s.push_str(text);
        self.tw.write_str(&escape_terminal(&s));
    }

    /// `WriteLine(text)`: the text and a newline, no indentation.
    pub(crate) fn line(&mut self, text: &str) {
        self.tw.write_str(&escape_terminal(text));
        self.tw.write_str("\n");
    }

    /// `Flush()`: alignment restarts after this point.
    pub(crate) fn flush(&mut self) {
        self.tw.flush();
    }

    pub(crate) fn finish(self) -> String {
        self.tw.finish()
    }
}

/// `w.Write(level, format, args...)`.
macro_rules! wr {
    ($w:expr, $level:expr, $($arg:tt)*) => {
        $w.write($level, &format!($($arg)*))
    };
}
pub(crate) use wr;
