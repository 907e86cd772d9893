//! A port of Go's `text/tabwriter` (padding with spaces, no flags), which both `kubectl get`
//! (minwidth 6, padding 3) and `kubectl describe` (minwidth 0, padding 2) write through.
//!
//! Semantics kept from Go: cells are tab-terminated, the text after a line's last tab is not
//! part of any column (so it is never padded); a column block is a run of consecutive lines that
//! have a cell in that column; a line without any tab flushes everything buffered, so alignment
//! restarts after it; widths count Unicode scalar values.

#[derive(Debug, Default)]
struct Cell {
    text: String,
    width: usize,
}

/// A tab-aligning writer into a `String`.
#[derive(Debug)]
pub(crate) struct TabWriter {
    minwidth: usize,
    padding: usize,
    out: String,
    /// Buffered lines; the last one is the line in progress.
    lines: Vec<Vec<Cell>>,
    cell: String,
    widths: Vec<usize>,
}

impl TabWriter {
    pub(crate) fn new(minwidth: usize, padding: usize) -> Self {
        TabWriter {
            minwidth,
            padding,
            out: String::new(),
            lines: vec![Vec::new()],
            cell: String::new(),
            widths: Vec::new(),
        }
    }

    /// The writer `kubectl get` prints tables through (cli-runtime `GetNewTabWriter`).
    pub(crate) fn for_tables() -> Self {
        TabWriter::new(6, 3)
    }

    /// The writer `kubectl describe` prints through (describe.go `tabbedString`).
    pub(crate) fn for_describe() -> Self {
        TabWriter::new(0, 2)
    }

    pub(crate) fn write_str(&mut self, s: &str) {
        for ch in s.chars() {
            match ch {
                '\t' | '\u{0b}' => {
                    self.terminate_cell();
                }
                '\n' | '\u{0c}' => {
                    let ncells = self.terminate_cell();
                    self.lines.push(Vec::new());
                    if ch == '\u{0c}' || ncells == 1 {
                        // A line with a single cell does not affect the formatting of the
                        // following lines: flush, as Go does.
                        self.flush();
                    }
                }
                _ => self.cell.push(ch),
            }
        }
    }

    fn terminate_cell(&mut self) -> usize {
        let text = std::mem::take(&mut self.cell);
        let width = text.chars().count();
        let line = self.current_line();
        line.push(Cell { text, width });
        line.len()
    }

    fn current_line(&mut self) -> &mut Vec<Cell> {
        if self.lines.is_empty() {
            self.lines.push(Vec::new());
        }
        let last = self.lines.len() - 1;
        &mut self.lines[last]
    }

    /// Formats and emits everything buffered; alignment restarts afterwards.
    pub(crate) fn flush(&mut self) {
        if !self.cell.is_empty() {
            self.terminate_cell();
        }
        let lines = std::mem::replace(&mut self.lines, vec![Vec::new()]);
        self.widths.clear();
        self.format(&lines, 0, lines.len());
    }

    pub(crate) fn finish(mut self) -> String {
        self.flush();
        self.out
    }

    fn format(&mut self, lines: &[Vec<Cell>], mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // A cell exists in this column: print the lines before this block.
            self.write_lines(lines, line0, this);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 {
                let line = &lines[this];
                if column + 1 >= line.len() {
                    break;
                }
                width = width.max(line[column].width + self.padding);
                this += 1;
            }
            self.widths.push(width);
            self.format(lines, line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, line1);
    }

    fn write_lines(&mut self, lines: &[Vec<Cell>], line0: usize, line1: usize) {
        for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
            for (j, cell) in line.iter().enumerate() {
                self.out.push_str(&cell.text);
                if let Some(&w) = self.widths.get(j) {
                    for _ in cell.width..w {
                        self.out.push(' ');
                    }
                }
            }
            if i + 1 != lines.len() {
                self.out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(input: &str) -> String {
        let mut w = TabWriter::for_tables();
        w.write_str(input);
        w.finish()
    }

    #[test]
    fn columns_take_the_widest_cell_plus_padding_and_the_last_cell_is_not_padded() {
        let out = table("NAME\tREADY\tAGE\nnginx\t1/1\t5m\n");
        assert_eq!(out, "NAME    READY   AGE\nnginx   1/1     5m\n");
    }

    #[test]
    fn narrow_columns_get_the_minimum_width() {
        let out = table("A\tB\nx\ty\n");
        assert_eq!(out, "A     B\nx     y\n");
    }

    #[test]
    fn a_line_without_tabs_restarts_alignment() {
        let mut w = TabWriter::for_describe();
        w.write_str("Name:\tx\nLongerName:\ty\nSection:\n  A:\tz\n");
        assert_eq!(
            w.finish(),
            "Name:        x\nLongerName:  y\nSection:\n  A:  z\n"
        );
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let out = table("NAME\tX\nnäme\ty\n");
        assert_eq!(out, "NAME   X\nnäme   y\n");
    }

    #[test]
    fn lines_with_fewer_cells_end_the_column_block() {
        let mut w = TabWriter::for_describe();
        w.write_str("a\tb\tc\nlonger\td\n");
        assert_eq!(w.finish(), "a       b  c\nlonger  d\n");
    }
}
