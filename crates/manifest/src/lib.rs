//! Kubernetes manifests as users write them: multi-document YAML, JSON, `kind: List`, files,
//! directories and stdin, read into JSON values with precise file/document/line positions,
//! plus kubectl-style YAML output. It neither validates objects against API schemas nor
//! fetches anything over the network.
//!
//! ```text
//!  file / dir / STDIN ──► text ──► split at `---` (line scan) ──► each document parsed alone
//!                                  (JSON: serde_json stream)      positions + document offset
//!                                                                 ──► Document per object
//!                                                                     (List items expanded)
//! ```
//!
//! YAML follows serde-saphyr's YAML 1.2 core schema, except that leading-zero integers are
//! octal (`0644`), as kubectl reads them; see [`parse_str`] for the rules.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod error;
mod json;
mod split;
mod value;
mod yaml;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use error::{ManifestError, Position};

use crate::error::type_name;
use crate::value::{DUPLICATE_KEY_PREFIX, OutOfRange, find_out_of_range};

/// The source name used for standard input.
pub const STDIN: &str = "STDIN";

/// One Kubernetes object read from a manifest, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The file path as given, or `STDIN` for `-`.
    pub source: String,
    /// 0-based index of the YAML document (or JSON value) within the source. Empty and
    /// comment-only documents produce no `Document` but still count.
    pub index: usize,
    /// `Some(i)` when the object is `items[i]` of a `kind: List` (or typed `*List`).
    pub item: Option<usize>,
    /// 1-based line where the document (or list item) starts in the source: its first line
    /// that is not blank, a comment or a `---` marker.
    pub line: usize,
    /// The object: a JSON object with string `apiVersion` and `kind`.
    pub object: Value,
}

impl Document {
    /// Where the object is, for messages: `app.yaml: document 2 (line 14)` or
    /// `app.yaml: document 1 (line 3), item 2` (documents and items numbered from 1).
    pub fn location(&self) -> String {
        let mut s = format!(
            "{}: document {} (line {})",
            self.source,
            self.index + 1,
            self.line
        );
        if let Some(item) = self.item {
            s.push_str(&format!(", item {}", item + 1));
        }
        s
    }

    /// The object's `apiVersion` (always present in a `Document`).
    pub fn api_version(&self) -> &str {
        self.object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The object's `kind` (always present in a `Document`).
    pub fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The object's `metadata.name`, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.object.get("metadata")?.get("name")?.as_str()
    }

    /// The object's `metadata.namespace`, if it has one.
    pub fn namespace(&self) -> Option<&str> {
        self.object.get("metadata")?.get("namespace")?.as_str()
    }
}

/// Parses manifest text. `source` names it in positions and errors (a path, or `STDIN`).
///
/// Rules:
/// - A source whose first non-blank character is `{` is a JSON stream: one object or several
///   concatenated ones (as kubectl decides). Anything else is YAML.
/// - YAML documents are separated by lines starting with `---` (a comment may follow) and
///   may end with `...`. Each document is parsed on its own; errors report line and column in
///   the original source. Empty, comment-only and `null` documents are skipped but counted
///   in [`Document::index`]; a comment block before the first `---` is not a document.
/// - Every document must be a mapping with non-empty string `apiVersion` and `kind`.
/// - `kind: List`, and typed lists such as `PodList` that have `items`, expand to one
///   `Document` per item. As upstream `decodeToList`, an item of a typed list that has
///   neither `apiVersion` nor `kind` gets the list's `apiVersion` and the kind without its
///   `List` suffix. Nested lists are not expanded further.
/// - Duplicate keys in a mapping are errors, as in kubectl's strict decoding.
/// - Scalars follow the YAML 1.2 core schema: `on`, `yes`, `y` are strings; numbers stay
///   numbers; a leading-zero integer is octal (`0644` = 420) as kubectl reads it. Integers
///   that do not fit a signed 64-bit integer are errors.
pub fn parse_str(source: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if json::looks_like_json(text) {
        parse_json(source, text)
    } else {
        parse_yaml(source, text)
    }
}

fn parse_yaml(source: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    let mut docs = Vec::new();
    for chunk in split::split_documents(source, text)? {
        let Some(content_line) = chunk.content_line else {
            continue;
        };
        // Lines reported by the parser are relative to the chunk; shift them to the source.
        let at = |line: Option<usize>, column: Option<usize>| Position {
            source: source.to_string(),
            index: chunk.index,
            item: None,
            line: line.map_or(content_line, |l| chunk.first_line + l.saturating_sub(1)),
            column,
        };
        let value = yaml::parse_document(chunk.text).map_err(|e| match e.kind {
            yaml::DocErrorKind::Syntax(reason) => ManifestError::Syntax {
                at: at(e.line, e.column),
                reason,
            },
            yaml::DocErrorKind::DuplicateKey(key) => ManifestError::DuplicateKey {
                at: at(e.line, e.column),
                key,
            },
        })?;
        if let Some(found) = find_out_of_range(&value) {
            match yaml::find_out_of_range_literal(chunk.text) {
                Some((line, column, literal)) => {
                    return Err(ManifestError::IntegerOutOfRange {
                        at: at(Some(line), Some(column)),
                        literal,
                    });
                }
                None => {
                    if let OutOfRange::Certain(literal) = found {
                        return Err(ManifestError::IntegerOutOfRange {
                            at: at(None, None),
                            literal,
                        });
                    }
                }
            }
        }
        let item_lines = || {
            yaml::list_item_positions(chunk.text)
                .into_iter()
                .map(|(l, _)| chunk.first_line + l.saturating_sub(1))
                .collect()
        };
        expand(
            source,
            chunk.index,
            content_line,
            value,
            item_lines,
            &mut docs,
        )?;
    }
    Ok(docs)
}

fn parse_json(source: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    let lines = LineIndex::new(text);
    let stream = json::parse_stream(text).map_err(|e| {
        let at = Position {
            source: source.to_string(),
            index: e.index,
            item: None,
            line: e.line,
            column: Some(e.column),
        };
        match e.message.strip_prefix(DUPLICATE_KEY_PREFIX) {
            Some(key) => ManifestError::DuplicateKey {
                at,
                key: serde_json::from_str(key).unwrap_or_else(|_| key.to_string()),
            },
            None => ManifestError::Syntax {
                at,
                reason: e.message,
            },
        }
    })?;
    let mut docs = Vec::new();
    for (index, doc) in stream.into_iter().enumerate() {
        let doc_text = &text[doc.start..doc.end];
        let (line, _) = lines.line_col(doc.start);
        if let Some(found) = find_out_of_range(&doc.value) {
            let located = json::find_out_of_range_literal(doc_text);
            let certain = match found {
                OutOfRange::Certain(literal) => Some(literal),
                OutOfRange::Possible => None,
            };
            if let Some((offset, literal)) = located {
                let (l, c) = lines.line_col(doc.start + offset);
                return Err(ManifestError::IntegerOutOfRange {
                    at: Position {
                        source: source.to_string(),
                        index,
                        item: None,
                        line: l,
                        column: Some(c),
                    },
                    literal,
                });
            } else if let Some(literal) = certain {
                return Err(ManifestError::IntegerOutOfRange {
                    at: Position {
                        source: source.to_string(),
                        index,
                        item: None,
                        line,
                        column: None,
                    },
                    literal,
                });
            }
        }
        let item_lines = || {
            json::list_item_offsets(doc_text)
                .into_iter()
                .map(|o| lines.line_col(doc.start + o).0)
                .collect()
        };
        expand(source, index, line, doc.value, item_lines, &mut docs)?;
    }
    Ok(docs)
}

/// Checks one parsed document and appends its object(s) to `out`, expanding lists.
fn expand(
    source: &str,
    index: usize,
    line: usize,
    value: Value,
    item_lines: impl FnOnce() -> Vec<usize>,
    out: &mut Vec<Document>,
) -> Result<(), ManifestError> {
    let at = Position {
        source: source.to_string(),
        index,
        item: None,
        line,
        column: None,
    };
    let mut object = match value {
        // kubectl skips documents that decode to `null` (e.g. `~`).
        Value::Null => return Ok(()),
        Value::Object(object) => object,
        other => {
            return Err(ManifestError::NotAnObject {
                at,
                found: type_name(&other),
            });
        }
    };
    let (api_version, kind) = check_type_meta(&object, &at)?;
    let has_items = object.get("items").is_some_and(|v| !v.is_null());
    if !(kind == "List" || (kind.ends_with("List") && has_items)) {
        out.push(Document {
            source: source.to_string(),
            index,
            item: None,
            line,
            object: Value::Object(object),
        });
        return Ok(());
    }
    let items = match object.remove("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ManifestError::InvalidListItems {
                at,
                kind,
                found: type_name(&other),
            });
        }
    };
    let lines = if items.is_empty() {
        Vec::new()
    } else {
        item_lines()
    };
    // Upstream `unstructuredJSONScheme.decodeToList`: the item kind of a typed list.
    let item_kind = kind.strip_suffix("List").unwrap_or_default();
    for (i, item) in items.into_iter().enumerate() {
        let at = Position {
            item: Some(i),
            line: lines.get(i).copied().unwrap_or(line),
            ..at.clone()
        };
        let Value::Object(item) = item else {
            return Err(ManifestError::NotAnObject {
                at,
                found: type_name(&item),
            });
        };
        let item =
            if !item_kind.is_empty() && is_unset(&item, "apiVersion") && is_unset(&item, "kind") {
                let mut with_meta = Map::new();
                with_meta.insert("apiVersion".into(), Value::String(api_version.clone()));
                with_meta.insert("kind".into(), Value::String(item_kind.to_string()));
                with_meta.extend(
                    item.into_iter()
                        .filter(|(k, _)| k != "apiVersion" && k != "kind"),
                );
                with_meta
            } else {
                item
            };
        check_type_meta(&item, &at)?;
        out.push(Document {
            source: source.to_string(),
            index,
            item: Some(i),
            line: at.line,
            object: Value::Object(item),
        });
    }
    Ok(())
}

fn is_unset(object: &Map<String, Value>, field: &str) -> bool {
    match object.get(field) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// Requires non-empty string `apiVersion` and `kind`; returns them.
fn check_type_meta(
    object: &Map<String, Value>,
    at: &Position,
) -> Result<(String, String), ManifestError> {
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for field in ["apiVersion", "kind"] {
        match object.get(field) {
            None | Some(Value::Null) => missing.push(field),
            Some(Value::String(s)) if s.is_empty() => missing.push(field),
            Some(Value::String(s)) => found.push(s.clone()),
            Some(other) => {
                return Err(ManifestError::FieldNotString {
                    at: at.clone(),
                    field,
                    found: type_name(other),
                });
            }
        }
    }
    match <[String; 2]>::try_from(found) {
        Ok([api_version, kind]) if missing.is_empty() => Ok((api_version, kind)),
        _ => Err(ManifestError::MissingField {
            at: at.clone(),
            fields: missing,
        }),
    }
}

/// Byte offset → 1-based (line, column in characters).
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }
}

/// Reads a manifest file, or every `*.yaml`, `*.yml` and `*.json` file of a directory in
/// name order (descending into subdirectories, in the same order, only when `recursive`),
/// as kubectl's `-f DIR [-R]` does. A file given explicitly is read whatever its extension.
pub fn read_path(path: &Path, recursive: bool) -> Result<Vec<Document>, ManifestError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|error| ManifestError::Read {
        path: shown.clone(),
        error,
    })?;
    if !meta.is_dir() {
        return read_file(path);
    }
    let mut files = Vec::new();
    collect_files(path, recursive, &mut files)?;
    if files.is_empty() {
        return Err(ManifestError::NoManifestFiles { path: shown });
    }
    let mut docs = Vec::new();
    for file in files {
        docs.extend(read_file(&file)?);
    }
    Ok(docs)
}

fn collect_files(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let read_error = |error| ManifestError::Read {
        path: dir.display().to_string(),
        error,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    // Byte-wise name order, as Go's filepath.Walk.
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type().map_err(read_error)?;
        if file_type.is_dir() {
            if recursive {
                collect_files(&path, recursive, out)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Vec<Document>, ManifestError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| ManifestError::Read {
        path: shown.clone(),
        error,
    })?;
    let text = decode(&shown, bytes)?;
    parse_str(&shown, &text)
}

fn decode(source: &str, bytes: Vec<u8>) -> Result<String, ManifestError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]);
        let (line, column) = LineIndex::new(&prefix).line_col(prefix.len());
        ManifestError::InvalidUtf8 {
            path: source.to_string(),
            line,
            column,
        }
    })
}

/// Reads manifests from any reader (e.g. a pipe), naming them `source`.
pub fn read_reader<R: Read>(source: &str, mut reader: R) -> Result<Vec<Document>, ManifestError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|error| ManifestError::Read {
            path: source.to_string(),
            error,
        })?;
    let text = decode(source, bytes)?;
    parse_str(source, &text)
}

/// Reads manifests from standard input (source `STDIN`).
pub fn read_stdin() -> Result<Vec<Document>, ManifestError> {
    read_reader(STDIN, std::io::stdin().lock())
}

/// Reads every `-f` value in order: `-` is stdin, `http://` and `https://` URLs are refused
/// (no network), anything else is a file or directory ([`read_path`]).
pub fn read_sources(args: &[String], recursive: bool) -> Result<Vec<Document>, ManifestError> {
    let mut docs = Vec::new();
    for arg in args {
        let lower = arg.to_ascii_lowercase();
        if arg == "-" {
            docs.extend(read_stdin()?);
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            return Err(ManifestError::UrlNotSupported { url: arg.clone() });
        } else {
            docs.extend(read_path(Path::new(arg), recursive)?);
        }
    }
    Ok(docs)
}

/// Writes a value as kubectl-style YAML: block style, 2-space indentation, sequences not
/// indented under their key, keys in object order, multi-line strings as `|` blocks, long
/// strings never folded, and strings that would read back as another type quoted (`"80"`,
/// `"true"`, `"yes"`, `""`). Ends with a newline.
pub fn to_yaml(v: &Value) -> Result<String, ManifestError> {
    let options = serde_saphyr::ser_options! {
        indent_step: 2,
        compact_list_indent: true,
        folded_wrap_chars: usize::MAX,
    };
    let mut out =
        serde_saphyr::to_string_with_options(v, options).map_err(|e| ManifestError::Serialize {
            reason: e.to_string(),
        })?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Writes several values as YAML documents joined by `---\n`.
pub fn to_yaml_documents(vs: &[Value]) -> Result<String, ManifestError> {
    let docs = vs.iter().map(to_yaml).collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

#[cfg(test)]
mod tests;
