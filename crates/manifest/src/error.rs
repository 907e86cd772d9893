//! Where a manifest problem is, and what it is.

use std::fmt;

/// A place in a manifest source: the source, the document, optionally the `kind: List` item,
/// and the line (and column, where known) in the ORIGINAL source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The file path as given, or `STDIN`.
    pub source: String,
    /// 0-based index of the YAML document (or JSON value) within the source.
    pub index: usize,
    /// 0-based index into `items` when the problem is in an item of a `kind: List`.
    pub item: Option<usize>,
    /// 1-based line in the source.
    pub line: usize,
    /// 1-based column (in characters) in the source, when known.
    pub column: Option<usize>,
}

impl fmt::Display for Position {
    /// `app.yaml: document 2 (line 7, column 3)` or `app.yaml: document 1 (line 9), item 2`.
    /// Documents and items are numbered from 1 here, for people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: document {} (line {}",
            self.source,
            self.index + 1,
            self.line
        )?;
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        f.write_str(")")?;
        if let Some(item) = self.item {
            write!(f, ", item {}", item + 1)?;
        }
        Ok(())
    }
}

/// Why manifests could not be read. Every variant about content carries a [`Position`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A file, directory or stdin could not be read.
    #[error("{path}: {error}")]
    Read {
        /// The path as given (or `STDIN`).
        path: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// A source is not UTF-8 text.
    #[error("{path}: line {line}, column {column}: invalid UTF-8")]
    InvalidUtf8 {
        /// The path as given (or `STDIN`).
        path: String,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based column of the first invalid byte.
        column: usize,
    },
    /// A directory given without `--recursive` (or a tree) holds no manifest files.
    // kubectl: "error reading [dir]: recognized file extensions are [.json .yaml .yml]".
    #[error(
        "{path}: no manifest files found (recognized file extensions are .json, .yaml and .yml)"
    )]
    NoManifestFiles {
        /// The directory as given.
        path: String,
    },
    /// An `http://` or `https://` source: knet never fetches manifests over the network.
    #[error(
        "{url}: reading manifests from a URL is not supported (knet does not use the network); download the file and pass its path"
    )]
    UrlNotSupported {
        /// The URL as given.
        url: String,
    },
    /// A line starting with `---` carries content other than a comment. kubectl's
    /// `YAMLReader` rejects these too ("invalid Yaml document separator").
    #[error("{at}: invalid YAML document separator: {text:?}")]
    InvalidSeparator {
        /// Where the separator is.
        at: Position,
        /// The separator line.
        text: String,
    },
    /// The YAML or JSON text is not well-formed.
    #[error("{at}: {reason}")]
    Syntax {
        /// Where the parser stopped.
        at: Position,
        /// The parser's explanation.
        reason: String,
    },
    /// A mapping has the same key twice (kubectl's strict decoding rejects this too).
    #[error("{at}: duplicate key {key:?}")]
    DuplicateKey {
        /// Where the repeated key is.
        at: Position,
        /// The key.
        key: String,
    },
    /// An integer does not fit in a 64-bit signed integer, which is what Kubernetes
    /// integer fields hold.
    #[error("{at}: integer {literal} is out of range (must fit in a signed 64-bit integer)")]
    IntegerOutOfRange {
        /// Where the integer is.
        at: Position,
        /// The integer as written.
        literal: String,
    },
    /// A document or list item is not a mapping.
    #[error("{at}: expected an object with apiVersion and kind, found {found}")]
    NotAnObject {
        /// Where the document or item starts.
        at: Position,
        /// What was found: `a sequence`, `a string`, `a number`, `a boolean` or `null`.
        found: &'static str,
    },
    /// A document or list item has no (or an empty) `apiVersion` or `kind`.
    #[error("{at}: missing required field {}", quote_fields(fields))]
    MissingField {
        /// Where the object starts.
        at: Position,
        /// The missing fields, `apiVersion` and/or `kind`.
        fields: Vec<&'static str>,
    },
    /// `apiVersion` or `kind` is not a string.
    #[error("{at}: field {field:?} must be a string, found {found}")]
    FieldNotString {
        /// Where the object starts.
        at: Position,
        /// `apiVersion` or `kind`.
        field: &'static str,
        /// What was found instead.
        found: &'static str,
    },
    /// The `items` of a `kind: List` (or `*List`) is not a sequence.
    #[error("{at}: field \"items\" of a {kind} must be a list, found {found}")]
    InvalidListItems {
        /// Where the list starts.
        at: Position,
        /// The list's kind.
        kind: String,
        /// What was found instead.
        found: &'static str,
    },
    /// A value could not be written as YAML.
    #[error("writing YAML: {reason}")]
    Serialize {
        /// The serializer's explanation.
        reason: String,
    },
}

impl ManifestError {
    /// The position of the problem, for errors about manifest content.
    pub fn position(&self) -> Option<&Position> {
        match self {
            ManifestError::InvalidSeparator { at, .. }
            | ManifestError::Syntax { at, .. }
            | ManifestError::DuplicateKey { at, .. }
            | ManifestError::IntegerOutOfRange { at, .. }
            | ManifestError::NotAnObject { at, .. }
            | ManifestError::MissingField { at, .. }
            | ManifestError::FieldNotString { at, .. }
            | ManifestError::InvalidListItems { at, .. } => Some(at),
            _ => None,
        }
    }
}

fn quote_fields(fields: &[&'static str]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("{f:?}")).collect();
    quoted.join(" and ")
}

/// How a JSON value is named in messages.
pub(crate) fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a sequence",
        serde_json::Value::Object(_) => "a mapping",
    }
}
