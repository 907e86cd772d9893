//! Splits a YAML stream into documents with a line scan, so that each document can be parsed
//! on its own and its positions mapped back to the original text.
//!
//! A line starting with `---` at column 0 separates documents. YAML forbids `---` at column 0
//! inside any scalar (block scalars included: their content is indented, and even a top-level
//! block scalar ends at a `---` line), so no scalar state needs tracking. As kubectl's
//! `YAMLReader` (`k8s.io/apimachinery/pkg/util/yaml/decoder.go`), only a comment may follow
//! the marker on its line. A `...` line ends the current document.
//!
//! Counting follows YAML: an explicit `---` always starts a document, even an empty one;
//! text before the first `---` is a document only when it has content (a leading comment
//! block is not a document).

use crate::error::{ManifestError, Position};

/// One document's text and where it sits in the source.
#[derive(Debug)]
pub(crate) struct Chunk<'a> {
    /// 0-based document index in the source.
    pub(crate) index: usize,
    /// 1-based source line of the chunk's first line (`text` starts there).
    pub(crate) first_line: usize,
    /// 1-based source line of the first line with content (not blank, comment, directive or
    /// marker); `None` for an empty or comment-only document.
    pub(crate) content_line: Option<usize>,
    /// The document text, including its `---`/`...` markers and surrounding comments.
    pub(crate) text: &'a str,
}

struct Current {
    start: usize,
    first_line: usize,
    explicit: bool,
    content_line: Option<usize>,
}

/// Whether `line` (without its line break) is the marker `marker` followed by nothing, blanks
/// or a comment. `Some(rest)` when the line starts with the marker.
fn marker_rest<'l>(line: &'l str, marker: &str) -> Option<&'l str> {
    line.strip_prefix(marker)
}

fn is_blank_or_comment(rest: &str) -> bool {
    let t = rest.trim();
    t.is_empty() || t.starts_with('#')
}

/// Splits `text` (already free of a byte-order mark) into document chunks.
pub(crate) fn split_documents<'a>(
    source: &str,
    text: &'a str,
) -> Result<Vec<Chunk<'a>>, ManifestError> {
    let mut chunks = Vec::new();
    let mut cur = Current {
        start: 0,
        first_line: 1,
        explicit: false,
        content_line: None,
    };
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches(['\n', '\r']);
        if let Some(rest) = marker_rest(line, "---") {
            if !is_blank_or_comment(rest) {
                return Err(ManifestError::InvalidSeparator {
                    at: Position {
                        source: source.to_string(),
                        index: chunks.len()
                            + usize::from(cur.explicit || cur.content_line.is_some()),
                        item: None,
                        line: line_no,
                        column: Some(1),
                    },
                    text: line.to_string(),
                });
            }
            if cur.explicit || cur.content_line.is_some() {
                chunks.push(Chunk {
                    index: chunks.len(),
                    first_line: cur.first_line,
                    content_line: cur.content_line,
                    text: &text[cur.start..offset],
                });
                cur = Current {
                    start: offset,
                    first_line: line_no,
                    explicit: true,
                    content_line: None,
                };
            } else {
                // Only comments, blanks or directives so far: they belong to this document.
                cur.explicit = true;
            }
        } else if marker_rest(line, "...").is_some_and(|rest| {
            rest.is_empty() || (rest.starts_with([' ', '\t']) && is_blank_or_comment(rest))
        }) {
            let end = offset + raw.len();
            if cur.explicit || cur.content_line.is_some() {
                chunks.push(Chunk {
                    index: chunks.len(),
                    first_line: cur.first_line,
                    content_line: cur.content_line,
                    text: &text[cur.start..end],
                });
            }
            cur = Current {
                start: end,
                first_line: line_no + 1,
                explicit: false,
                content_line: None,
            };
        } else if cur.content_line.is_none() && is_content(line) {
            cur.content_line = Some(line_no);
        }
        offset += raw.len();
    }
    if cur.explicit || cur.content_line.is_some() {
        chunks.push(Chunk {
            index: chunks.len(),
            first_line: cur.first_line,
            content_line: cur.content_line,
            text: &text[cur.start..],
        });
    }
    Ok(chunks)
}

/// Whether a line holds YAML content: not blank, not a comment, not a `%` directive.
fn is_content(line: &str) -> bool {
    let t = line.trim();
    !(t.is_empty() || t.starts_with('#') || line.starts_with('%'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(usize, usize, Option<usize>, String)> {
        split_documents("t.yaml", text)
            .unwrap()
            .into_iter()
            .map(|c| (c.index, c.first_line, c.content_line, c.text.to_string()))
            .collect()
    }

    #[test]
    fn separators_split_documents_and_keep_their_line() {
        let got = summary("a: 1\n---\nb: 2\n--- # two\n\nc: 3\n");
        assert_eq!(
            got,
            vec![
                (0, 1, Some(1), "a: 1\n".to_string()),
                (1, 2, Some(3), "---\nb: 2\n".to_string()),
                (2, 4, Some(6), "--- # two\n\nc: 3\n".to_string()),
            ]
        );
    }

    #[test]
    fn a_leading_comment_block_is_not_a_document() {
        let got = summary("# header\n\n---\na: 1\n");
        assert_eq!(
            got,
            vec![(0, 1, Some(4), "# header\n\n---\na: 1\n".to_string())]
        );
    }

    #[test]
    fn empty_explicit_documents_count() {
        let got = summary("---\n---\n# only a comment\n---\na: 1\n");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].2, None);
        assert_eq!(got[1].2, None);
        assert_eq!((got[2].0, got[2].2), (2, Some(5)));
    }

    #[test]
    fn end_markers_close_documents() {
        let got = summary("a: 1\n...\n---\nb: 2\n...\n");
        assert_eq!(
            got,
            vec![
                (0, 1, Some(1), "a: 1\n...\n".to_string()),
                (1, 3, Some(4), "---\nb: 2\n...\n".to_string()),
            ]
        );
    }

    #[test]
    fn content_after_a_separator_is_rejected_like_kubectl() {
        let err = split_documents("t.yaml", "a: 1\n--- b: 2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.yaml: document 2 (line 2, column 1): invalid YAML document separator: \"--- b: 2\""
        );
    }

    #[test]
    fn crlf_line_endings_are_understood() {
        let got = summary("a: 1\r\n---\r\nb: 2\r\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].2, Some(3));
    }
}
