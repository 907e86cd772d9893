//! Reading one YAML document with serde-saphyr, with positions mapped back to the source.
//!
//! Schema: serde-saphyr's YAML 1.2 core schema, with two deliberate choices. Booleans are
//! only `true`/`false` (any case), so `on`, `yes`, `y` stay strings as YAML 1.2 says (kubectl,
//! through `sigs.k8s.io/yaml`, reads them as booleans: quote them to be portable). Integers
//! with a leading zero are octal (`defaultMode: 0644` is 420), as kubectl reads them: this is
//! YAML 1.1 behaviour, kept because file modes in Secret and ConfigMap volumes are written
//! that way everywhere and reading them as decimal would silently produce a different mode.
//! `!!binary` scalars keep their base64 text, which is what kubectl ends up sending.

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};
use serde_saphyr::{DuplicateKeyPolicy, MessageFormatter, Spanned, UserMessageFormatter};

use crate::value::{StrictValue, is_out_of_range_integer};

/// A parse failure at a place in the document (1-based, relative to the document text).
pub(crate) struct DocError {
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
    pub(crate) kind: DocErrorKind,
}

pub(crate) enum DocErrorKind {
    Syntax(String),
    DuplicateKey(String),
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // Per-document limits, well above any real manifest (large CRDs have tens of
        // thousands of nodes and nest about 30 deep) but still bounding hostile input.
        budget: serde_saphyr::budget! {
            max_events: 20_000_000,
            max_nodes: 5_000_000,
            max_depth: 200,
            max_total_scalar_bytes: 512 * 1024 * 1024,
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
        strict_booleans: true,
        legacy_octal_numbers: true,
        // `!!binary` values stay base64 text: that is what Secret `data` holds, and what
        // kubectl sends (sigs.k8s.io/yaml re-encodes []byte as base64).
        ignore_binary_tag_for_string: true,
        with_snippet: false,
    }
}

/// Parses one document's text into a value (`Null` for a document without content).
pub(crate) fn parse_document(text: &str) -> Result<Value, DocError> {
    serde_saphyr::from_str_with_options::<StrictValue>(text, options())
        .map(|v| v.0)
        .map_err(doc_error)
}

fn doc_error(err: serde_saphyr::Error) -> DocError {
    let err = err.without_snippet();
    let location = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (to_usize(l.line()), to_usize(l.column())));
    let (line, column) = match location {
        Some((line, column)) => (Some(line), (column > 0).then_some(column)),
        None => (None, None),
    };
    let kind = match err {
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => {
            DocErrorKind::DuplicateKey(key.clone().unwrap_or_default())
        }
        other => {
            let message = UserMessageFormatter.format_message(other).into_owned();
            // Keep messages on one line, whatever the parser put in them.
            DocErrorKind::Syntax(message.replace(['\n', '\r'], " "))
        }
    };
    DocError { line, column, kind }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// 1-based (line, column) of the start of each `items[i]`, relative to the document text.
pub(crate) fn list_item_positions(text: &str) -> Vec<(usize, usize)> {
    #[derive(Deserialize)]
    struct ListSpans {
        #[serde(default)]
        items: Option<Vec<Spanned<serde::de::IgnoredAny>>>,
    }
    let Ok(spans) = serde_saphyr::from_str_with_options::<ListSpans>(text, options()) else {
        return Vec::new();
    };
    spans
        .items
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                to_usize(s.referenced.line()),
                to_usize(s.referenced.column()),
            )
        })
        .collect()
}

/// The first plain scalar *value* (not a key) in `text` that is an integer literal outside
/// the `i64` range: its 1-based (line, column) relative to `text`, and the literal.
pub(crate) fn find_out_of_range_literal(text: &str) -> Option<(usize, usize, String)> {
    enum Frame {
        Seq,
        Map { expect_key: bool },
    }
    fn complete(stack: &mut [Frame]) {
        if let Some(Frame::Map { expect_key }) = stack.last_mut() {
            *expect_key = !*expect_key;
        }
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        match event {
            Event::Scalar(value, style, _, tag) => {
                let is_key = matches!(stack.last(), Some(Frame::Map { expect_key: true }));
                if !is_key
                    && style == ScalarStyle::Plain
                    && tag.is_none()
                    && is_out_of_range_integer(&value)
                {
                    return Some((span.start.line(), span.start.col() + 1, value.into_owned()));
                }
                complete(&mut stack);
            }
            Event::Alias(_) => complete(&mut stack),
            Event::SequenceStart(..) => stack.push(Frame::Seq),
            Event::MappingStart(..) => stack.push(Frame::Map { expect_key: true }),
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                complete(&mut stack);
            }
            Event::StreamEnd => break,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_12_scalars_with_octal_file_modes() {
        let v = parse_document(
            "a: 1\nb: on\nc: yes\nd: 0644\ne: 1.5\nf: true\ng: ~\nh: '80'\ni: 0o17\nj: False\n",
        )
        .ok()
        .unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": "on", "c": "yes", "d": 420, "e": 1.5, "f": true, "g": null, "h": "80", "i": 15, "j": false})
        );
    }

    #[test]
    fn list_item_positions_point_at_each_item() {
        let text = "kind: List\nitems:\n- a: 1\n  b: 2\n-   c: 3\n- {d: 4}\n";
        assert_eq!(list_item_positions(text), vec![(3, 3), (5, 5), (6, 3)]);
    }

    #[test]
    fn out_of_range_literals_are_located_but_keys_are_ignored() {
        let text = "99999999999999999999: x\nspec:\n  replicas: 99999999999999999999\n";
        assert_eq!(
            find_out_of_range_literal(text),
            Some((3, 13, "99999999999999999999".to_string()))
        );
        assert_eq!(
            find_out_of_range_literal("a: 1e20\nb: '99999999999999999999'\n"),
            None
        );
    }
}
