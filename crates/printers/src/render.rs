//! kubectl's human-readable table output (cli-runtime printers/tableprinter.go: decorateTable
//! and printTable) written through Go's tabwriter layout.

use serde_json::Value;

use crate::Table;
use crate::json::{namespace, string_map};
use crate::selector::format_labels;
use crate::tabwriter::TabWriter;

/// How `render` lays a table out, as kubectl's `PrintOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Show the priority-1 columns (`-o wide`).
    pub wide: bool,
    /// Prepend a NAMESPACE column (`-A` / `--all-namespaces`).
    pub with_namespace: bool,
    /// Prefix names with `<prefix>/`, lower-cased, as kubectl does for `get a,b` (e.g.
    /// `Some("deployment.apps")` prints `deployment.apps/web`).
    pub kind_prefix: Option<String>,
    /// Omit the header line (`--no-headers`).
    pub no_headers: bool,
    /// Append a LABELS column (`--show-labels`).
    pub show_labels: bool,
}

/// Terminal-unsafe characters replaced as cli-runtime's `WriteEscaped` does.
pub(crate) fn escape_terminal(s: &str) -> String {
    s.replace('\u{1b}', "^[").replace('\r', "\\r")
}

/// A cell's text: strings are cut at the first line break (with "..."), other values print
/// as Go's `fmt.Sprint`, null prints nothing.
fn cell_text(cell: &Value) -> String {
    match cell {
        Value::Null => String::new(),
        Value::String(s) => match s.find(['\u{0c}', '\n', '\r']) {
            Some(i) => format!("{}...", escape_terminal(&s[..i])),
            None => escape_terminal(s),
        },
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => escape_terminal(&other.to_string()),
    }
}

/// kubectl-style text for `table`: upper-case headers, columns aligned as kubectl's tabwriter
/// does (at least 6 wide, 3 spaces of padding, the last column unpadded). `objects` are the
/// rows' objects (by position) for the NAMESPACE and LABELS columns. A table without rows
/// renders as "" (kubectl prints no headers then).
pub fn render(table: &Table, objects: &[&Value], opts: &RenderOptions) -> String {
    if table.rows.is_empty() {
        return String::new();
    }
    let visible: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| opts.wide || c.priority == 0)
        .map(|(i, _)| i)
        .collect();
    let name_column = opts.kind_prefix.as_ref().and_then(|_| {
        table
            .columns
            .iter()
            .position(|c| c.format == "name" && c.kind == "string")
    });
    let prefix = opts
        .kind_prefix
        .as_deref()
        .map(str::to_lowercase)
        .unwrap_or_default();

    let mut w = TabWriter::for_tables();
    if !opts.no_headers {
        let mut headers: Vec<String> = Vec::new();
        if opts.with_namespace {
            headers.push("NAMESPACE".to_string());
        }
        headers.extend(
            visible
                .iter()
                .map(|&i| table.columns[i].name.to_uppercase()),
        );
        if opts.show_labels {
            headers.push("LABELS".to_string());
        }
        w.write_str(&headers.join("\t"));
        w.write_str("\n");
    }
    for (r, row) in table.rows.iter().enumerate() {
        let object = objects.get(r).copied();
        let mut cells: Vec<String> = Vec::new();
        if opts.with_namespace {
            cells.push(
                object
                    .map(|o| escape_terminal(namespace(o)))
                    .unwrap_or_default(),
            );
        }
        for &i in &visible {
            let cell = row.cells.get(i).unwrap_or(&Value::Null);
            let text = cell_text(cell);
            if Some(i) == name_column {
                cells.push(format!("{prefix}/{text}"));
            } else {
                cells.push(text);
            }
        }
        if opts.show_labels {
            cells.push(
                object
                    .map(|o| {
                        escape_terminal(&format_labels(&string_map(o, &["metadata", "labels"])))
                    })
                    .unwrap_or_default(),
            );
        }
        w.write_str(&cells.join("\t"));
        w.write_str("\n");
    }
    w.finish()
}
