//! kubectl-compatible printing: the `meta.k8s.io/v1` Table columns and cells of the Kubernetes
//! API server's printers, kubectl's text layout, `kubectl describe` text and HumanDuration.
//! Pure functions over plain JSON (no I/O, no clock: callers pass `now`); never panics on input.
//!
//! ```text
//!  objects ─► table() ─► Table ─┬─► table_json()  API server: Accept ...;as=Table;g=meta.k8s.io
//!                               └─► render()      knet get (kubectl's tabwriter layout)
//!  object + context ─► describe_with() ─► text   knet describe
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::print_stdout)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod describe;
mod duration;
mod json;
mod printers;
mod quantity;
mod render;
mod selector;
mod tabwriter;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

pub use describe::{DescribeContext, describe, describe_with};
pub use duration::{human_duration, human_signed_duration, translate_timestamp_since};
pub use render::{RenderOptions, render};
pub use selector::format_labels;

use printers::Printer;

/// A `meta.k8s.io/v1` TableColumnDefinition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Human-readable column name ("Name", "Ready", ...); kubectl upper-cases it.
    pub name: &'static str,
    /// The OpenAPI type of the column as upstream declares it: "string", "integer", "boolean"
    /// or "date" (serialized as `type`).
    pub kind: &'static str,
    /// "name" for the column holding the object name, "" otherwise.
    pub format: &'static str,
    /// Description of the column (the field's API documentation upstream).
    pub description: &'static str,
    /// 0 for normal columns, 1 for columns kubectl shows only with `-o wide`.
    pub priority: i32,
}

/// A `meta.k8s.io/v1` TableRowCondition (upstream sets `Completed` on finished pods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowCondition {
    /// The condition type ("Completed"), serialized as `type`.
    pub kind: &'static str,
    /// "True", "False" or "Unknown".
    pub status: &'static str,
    /// Machine-readable reason ("Succeeded", "Failed").
    pub reason: &'static str,
    /// Human-readable message.
    pub message: &'static str,
}

/// One table row: one cell per column (strings, integers or booleans as upstream prints them).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The cells, in column order.
    pub cells: Vec<Value>,
    /// Row conditions (empty for most kinds).
    pub conditions: Vec<RowCondition>,
}

/// Columns and rows for objects of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column definitions, including the wide (priority 1) ones.
    pub columns: Vec<Column>,
    /// One row per object, in input order.
    pub rows: Vec<Row>,
}

/// The column definitions the API server returns for a kind (`apiVersion` + `kind`, e.g.
/// `("v1", "Pod")`, `("apps/v1", "Deployment")`); kinds without a printer get the server's
/// default table (Name, Created At).
pub fn columns(api_version: &str, kind: &str) -> Vec<Column> {
    Printer::resolve(api_version, kind).columns()
}

/// Columns and rows for `objects` of one kind, cells computed as the API server's printers do
/// (always with every wide cell filled); `now` is the reference time for ages.
pub fn table(api_version: &str, kind: &str, objects: &[&Value], now: Timestamp) -> Table {
    let printer = Printer::resolve(api_version, kind);
    Table {
        columns: printer.columns(),
        rows: objects.iter().map(|o| printer.row(o, now)).collect(),
    }
}

/// The `meta.k8s.io/v1` Table JSON the API server answers with: `columnDefinitions`, then
/// `rows[].cells` (and `conditions` when set) and `rows[].object` taken from `row_objects` by
/// position (`null` where missing: the server chooses full objects, PartialObjectMetadata or
/// nothing per `includeObject`); `metadata.resourceVersion` when not empty.
pub fn table_json(table: &Table, row_objects: Vec<Value>, resource_version: &str) -> Value {
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".to_string(), json!(resource_version));
    }
    let columns: Vec<Value> = table
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.kind,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let mut objects = row_objects.into_iter();
    let rows: Vec<Value> = table
        .rows
        .iter()
        .map(|r| {
            let mut row = Map::new();
            row.insert("cells".to_string(), Value::Array(r.cells.clone()));
            if !r.conditions.is_empty() {
                let conditions = r
                    .conditions
                    .iter()
                    .map(|c| {
                        json!({
                            "type": c.kind,
                            "status": c.status,
                            "reason": c.reason,
                            "message": c.message,
                        })
                    })
                    .collect();
                row.insert("conditions".to_string(), Value::Array(conditions));
            }
            row.insert("object".to_string(), objects.next().unwrap_or(Value::Null));
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": Value::Object(metadata),
        "columnDefinitions": columns,
        "rows": rows,
    })
}
