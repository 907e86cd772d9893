//! JSON sources: one object, or several concatenated, read with serde_json (fast on large
//! files) rather than as YAML. As kubectl (`yaml.NewYAMLOrJSONDecoder`), a source whose first
//! non-blank character is `{` is JSON.

/// One JSON value of a stream, with its byte range in the source.
pub(crate) struct JsonDoc {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) value: serde_json::Value,
}

/// A JSON parse failure: 1-based line and column in the source, and serde_json's message
/// without its position suffix.
pub(crate) struct JsonError {
    pub(crate) index: usize,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// Whether the source is a JSON stream: its first non-whitespace character is `{`.
pub(crate) fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// Reads every JSON value of `text`.
pub(crate) fn parse_stream(text: &str) -> Result<Vec<JsonDoc>, JsonError> {
    let mut stream =
        serde_json::Deserializer::from_str(text).into_iter::<crate::value::StrictValue>();
    let mut docs = Vec::new();
    loop {
        let before = stream.byte_offset();
        match stream.next() {
            None => return Ok(docs),
            Some(Ok(v)) => {
                let start = before + leading_whitespace(&text[before..]);
                docs.push(JsonDoc {
                    start,
                    end: stream.byte_offset(),
                    value: v.0,
                });
            }
            Some(Err(e)) => {
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let full = e.to_string();
                let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
                return Err(JsonError {
                    index: docs.len(),
                    line: e.line().max(1),
                    column: e.column().max(1),
                    message,
                });
            }
        }
    }
}

fn leading_whitespace(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len()
}

/// A tiny structural scanner over already-validated JSON, for positions serde_json does
/// not report.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// Skips a string starting at its opening quote; returns its raw contents.
    fn string(&mut self) -> &[u8] {
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => self.i += 2,
                b'"' => break,
                _ => self.i += 1,
            }
        }
        let end = self.i.min(self.b.len());
        self.i += 1;
        &self.b[start.min(end)..end]
    }

    fn value(&mut self) {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                self.string();
            }
            Some(open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek() {
                        None => return,
                        Some(c) if c == close => {
                            self.i += 1;
                            return;
                        }
                        Some(b',' | b':') => self.i += 1,
                        Some(_) => self.value(),
                    }
                }
            }
            Some(_) => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b':' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.i += 1;
                }
            }
            None => {}
        }
    }
}

/// Byte offsets (within `doc`, which starts at its `{`) where each `items[i]` starts.
pub(crate) fn list_item_offsets(doc: &str) -> Vec<usize> {
    let mut s = Scan {
        b: doc.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    s.ws();
    if s.peek() != Some(b'{') {
        return out;
    }
    s.i += 1;
    loop {
        s.ws();
        match s.peek() {
            Some(b'"') => {}
            Some(b',') => {
                s.i += 1;
                continue;
            }
            _ => return out,
        }
        let is_items = s.string() == b"items";
        s.ws();
        if s.peek() != Some(b':') {
            return out;
        }
        s.i += 1;
        s.ws();
        if is_items && s.peek() == Some(b'[') {
            s.i += 1;
            loop {
                s.ws();
                match s.peek() {
                    None => return out,
                    Some(b']') => {
                        s.i += 1;
                        break;
                    }
                    Some(b',') => s.i += 1,
                    Some(_) => {
                        out.push(s.i);
                        s.value();
                    }
                }
            }
        } else {
            s.value();
        }
    }
}

/// The first number token in `doc` that is an integer literal outside the `i64` range:
/// its byte offset within `doc` and the literal.
pub(crate) fn find_out_of_range_literal(doc: &str) -> Option<(usize, String)> {
    let b = doc.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = &doc[start..i];
                let digits = token.strip_prefix('-').unwrap_or(token);
                if !digits.is_empty()
                    && digits.bytes().all(|c| c.is_ascii_digit())
                    && token.parse::<i64>().is_err()
                {
                    return Some((start, token.to_string()));
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_objects_are_separate_documents() {
        let text = "{\"a\": 1}\n\n  {\"b\": [1, 2]}{\"c\": \"}\"}\n";
        let docs = parse_stream(text).ok().unwrap();
        let starts: Vec<usize> = docs.iter().map(|d| d.start).collect();
        assert_eq!(starts, vec![0, 12, 25]);
        assert_eq!(&text[docs[1].start..docs[1].end], "{\"b\": [1, 2]}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse_stream("{\"a\": 1}\n{\"b\": ,}\n").err().unwrap();
        assert_eq!((err.index, err.line, err.column), (1, 2, 7));
        assert_eq!(err.message, "expected value");
    }

    #[test]
    fn list_items_are_located() {
        let doc =
            r#"{"kind": "List", "x": {"items": [0]}, "items" : [ {"a": "]"}, [1,2] ,{"b": {}}]}"#;
        let offsets = list_item_offsets(doc);
        let starts: Vec<&str> = offsets.iter().map(|&o| &doc[o..o + 2]).collect();
        assert_eq!(starts, vec!["{\"", "[1", "{\""]);
        assert_eq!(offsets.len(), 3);
    }

    #[test]
    fn out_of_range_numbers_are_found_outside_strings() {
        let doc = r#"{"s": "99999999999999999999", "f": 1e20, "n": -99999999999999999999}"#;
        let (offset, literal) = find_out_of_range_literal(doc).unwrap();
        assert_eq!(literal, "-99999999999999999999");
        assert_eq!(&doc[offset..offset + 3], "-99");
        assert_eq!(
            find_out_of_range_literal(r#"{"a": 9223372036854775807}"#),
            None
        );
    }
}
