#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn parse(text: &str) -> Vec<Document> {
    parse_str("app.yaml", text).unwrap()
}

fn parse_err(text: &str) -> ManifestError {
    parse_str("app.yaml", text).unwrap_err()
}

fn at(err: &ManifestError) -> (usize, Option<usize>, usize, Option<usize>) {
    let p = err.position().unwrap();
    (p.index, p.item, p.line, p.column)
}

const TWO_DOCS: &str = "\
# a config map
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
--- # the second
apiVersion: v1
kind: Service
metadata:
  name: two
";

#[test]
fn multi_document_yaml_yields_each_object_with_its_start_line() {
    let docs = parse(TWO_DOCS);
    assert_eq!(docs.len(), 2);
    assert_eq!(
        (docs[0].index, docs[0].line, docs[0].kind()),
        (0, 2, "ConfigMap")
    );
    assert_eq!(
        (docs[1].index, docs[1].line, docs[1].kind()),
        (1, 7, "Service")
    );
    assert_eq!(docs[1].name(), Some("two"));
    assert_eq!(docs[1].source, "app.yaml");
    assert_eq!(docs[1].location(), "app.yaml: document 2 (line 7)");
}

#[test]
fn empty_and_comment_only_documents_are_skipped_but_counted() {
    let text = "---\n---\n# nothing here\n---\n~\n---\napiVersion: v1\nkind: Namespace\n";
    let docs = parse(text);
    assert_eq!(docs.len(), 1);
    assert_eq!((docs[0].index, docs[0].line), (3, 7));
    assert!(parse("").is_empty());
    assert!(parse("# just a comment\n").is_empty());
}

#[test]
fn end_markers_close_documents() {
    let text = "apiVersion: v1\nkind: A\n...\n---\napiVersion: v1\nkind: B\n...\n";
    let kinds: Vec<(usize, String)> = parse(text)
        .iter()
        .map(|d| (d.index, d.kind().to_string()))
        .collect();
    assert_eq!(kinds, vec![(0, "A".into()), (1, "B".into())]);
}

#[test]
fn a_bad_indentation_in_document_two_reports_the_file_line() {
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
---
apiVersion: v1
kind: Pod
metadata:
  name: two
   labels: {}
";
    let err = parse_err(text);
    assert!(matches!(err, ManifestError::Syntax { .. }), "{err:?}");
    let (index, item, line, column) = at(&err);
    assert_eq!((index, item, line), (1, None, 10));
    assert!(column.is_some());
    assert!(
        err.to_string()
            .starts_with("app.yaml: document 2 (line 10, column "),
        "{err}"
    );
}

#[test]
fn syntax_errors_report_line_and_column_of_the_original_file() {
    let text = "apiVersion: v1\nkind: A\n---\n# c\napiVersion: v1\nkind: B\ndata:\n  x: [1, 2\n";
    let err = parse_err(text);
    assert_eq!(at(&err), (1, None, 8, Some(6)));
    let err = parse_err("apiVersion: v1\nkind: A\nx: \"unterminated\n");
    assert_eq!(at(&err), (0, None, 3, Some(4)));
    let err = parse_err("apiVersion: v1\nkind: A\nx:\n\t- tab\n");
    assert_eq!(at(&err).2, 4);
}

#[test]
fn duplicate_keys_are_errors_naming_key_and_line() {
    let err = parse_err("apiVersion: v1\nkind: A\nmetadata:\n  name: a\n  name: b\n");
    match &err {
        ManifestError::DuplicateKey { key, at } => {
            assert_eq!(key, "name");
            assert_eq!((at.line, at.column), (5, Some(3)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "app.yaml: document 1 (line 5, column 3): duplicate key \"name\""
    );

    let err = parse_err("{\"apiVersion\": \"v1\",\n \"kind\": \"A\",\n \"kind\": \"B\"}");
    match &err {
        ManifestError::DuplicateKey { key, at } => {
            assert_eq!(key, "kind");
            assert_eq!(at.line, 3);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn documents_must_be_mappings_with_api_version_and_kind() {
    let err = parse_err("apiVersion: v1\nmetadata: {}\n");
    assert!(matches!(&err, ManifestError::MissingField { fields, .. } if fields == &["kind"]));
    assert_eq!(
        err.to_string(),
        "app.yaml: document 1 (line 1): missing required field \"kind\""
    );
    let err = parse_err("kind: Pod\n");
    assert!(
        matches!(&err, ManifestError::MissingField { fields, .. } if fields == &["apiVersion"])
    );
    let err = parse_err("metadata: {}\n");
    assert_eq!(
        err.to_string(),
        "app.yaml: document 1 (line 1): missing required field \"apiVersion\" and \"kind\""
    );
    let err = parse_err("apiVersion: v1\nkind: \"\"\n");
    assert!(matches!(&err, ManifestError::MissingField { fields, .. } if fields == &["kind"]));
    let err = parse_err("apiVersion: v1\nkind: 3\n");
    assert_eq!(
        err.to_string(),
        "app.yaml: document 1 (line 1): field \"kind\" must be a string, found a number"
    );
    let err = parse_err("apiVersion: v1\nkind: A\n---\n- a\n- b\n");
    assert_eq!(
        err.to_string(),
        "app.yaml: document 2 (line 4): expected an object with apiVersion and kind, found a sequence"
    );
    let err = parse_err("just a string\n");
    assert!(matches!(
        err,
        ManifestError::NotAnObject {
            found: "a string",
            ..
        }
    ));
}

#[test]
fn kind_list_expands_to_its_items_with_their_lines() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: a
- apiVersion: v1
  kind: Secret
  metadata:
    name: b
";
    let docs = parse(text);
    assert_eq!(docs.len(), 2);
    assert_eq!(
        (docs[0].item, docs[0].line, docs[0].kind()),
        (Some(0), 4, "ConfigMap")
    );
    assert_eq!(
        (docs[1].item, docs[1].line, docs[1].kind()),
        (Some(1), 8, "Secret")
    );
    assert_eq!(docs[1].location(), "app.yaml: document 1 (line 8), item 2");
    assert!(parse("apiVersion: v1\nkind: List\nitems: []\n").is_empty());
    assert!(parse("apiVersion: v1\nkind: List\n").is_empty());
}

#[test]
fn typed_list_items_inherit_kind_and_api_version() {
    let text = "apiVersion: v1\nkind: PodList\nitems:\n- metadata:\n    name: p\n";
    let docs = parse(text);
    assert_eq!(docs.len(), 1);
    assert_eq!(
        docs[0].object,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    );
    // A *List kind without items is an ordinary object.
    let docs = parse("apiVersion: example.com/v1\nkind: ShoppingList\nspec: {}\n");
    assert_eq!((docs.len(), docs[0].item), (1, None));
}

#[test]
fn list_items_are_validated_with_item_positions() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: A\n- metadata: {}\n";
    let err = parse_err(text);
    assert_eq!(at(&err), (0, Some(1), 6, None));
    assert_eq!(
        err.to_string(),
        "app.yaml: document 1 (line 6), item 2: missing required field \"apiVersion\" and \"kind\""
    );
    let err = parse_err("apiVersion: v1\nkind: List\nitems:\n- 3\n");
    assert!(matches!(
        err,
        ManifestError::NotAnObject {
            found: "a number",
            ..
        }
    ));
    let err = parse_err("apiVersion: v1\nkind: List\nitems: {}\n");
    assert_eq!(
        err.to_string(),
        "app.yaml: document 1 (line 1): field \"items\" of a List must be a list, found a mapping"
    );
}

#[test]
fn json_objects_single_or_concatenated_are_accepted() {
    let docs = parse_str(
        "pod.json",
        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"spec\": {\"replicas\": 3, \"on\": \"yes\"}\n}\n",
    )
    .unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].object["spec"], json!({"replicas": 3, "on": "yes"}));
    let docs = parse_str(
        "s.json",
        "{\"apiVersion\":\"v1\",\"kind\":\"A\"}\n\n{\"apiVersion\":\"v1\",\"kind\":\"B\"}{\"apiVersion\":\"v1\",\"kind\":\"C\"}",
    )
    .unwrap();
    let summary: Vec<(usize, usize, &str)> =
        docs.iter().map(|d| (d.index, d.line, d.kind())).collect();
    assert_eq!(summary, vec![(0, 1, "A"), (1, 3, "B"), (2, 3, "C")]);
}

#[test]
fn json_lists_expand_with_item_lines() {
    let text = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n  {\"apiVersion\": \"v1\", \"kind\": \"A\"},\n  {\"apiVersion\": \"v1\", \"kind\": \"B\"}\n]}";
    let docs = parse_str("l.json", text).unwrap();
    let lines: Vec<(Option<usize>, usize)> = docs.iter().map(|d| (d.item, d.line)).collect();
    assert_eq!(lines, vec![(Some(0), 2), (Some(1), 3)]);
}

#[test]
fn json_syntax_errors_have_positions() {
    let err = parse_str("x.json", "{\"apiVersion\": \"v1\",\n  \"kind\": }").unwrap_err();
    assert!(matches!(err, ManifestError::Syntax { .. }));
    assert_eq!(at(&err), (0, None, 2, Some(11)));
}

#[test]
fn large_json_files_parse() {
    let items: Vec<Value> = (0..20_000)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")},
                   "data": {"k": "v".repeat(50)}})
        })
        .collect();
    let text =
        serde_json::to_string_pretty(&json!({"apiVersion": "v1", "kind": "List", "items": items}))
            .unwrap();
    assert!(text.len() > 2_000_000);
    let docs = parse_str("big.json", &text).unwrap();
    assert_eq!(docs.len(), 20_000);
    assert_eq!(docs[19_999].name(), Some("cm-19999"));
    assert!(docs[1].line > docs[0].line);
}

#[test]
fn large_yaml_documents_parse() {
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n");
    for i in 0..25_000 {
        text.push_str(&format!("  key{i}: value-{i}\n"));
    }
    let docs = parse(&text);
    assert_eq!(docs[0].object["data"].as_object().unwrap().len(), 25_000);
}

#[test]
fn scalars_follow_yaml_12_with_octal_file_modes() {
    let docs = parse(
        "apiVersion: v1\nkind: A\nspec:\n  a: on\n  b: yes\n  c: 80\n  d: \"80\"\n  e: 0644\n  f: 1.5\n  g: true\n  h: ~\n  i: 2024-01-01\n",
    );
    assert_eq!(
        docs[0].object["spec"],
        json!({"a": "on", "b": "yes", "c": 80, "d": "80", "e": 420, "f": 1.5, "g": true, "h": null, "i": "2024-01-01"})
    );
}

#[test]
fn integers_larger_than_i64_are_errors_with_positions() {
    let err = parse_err("apiVersion: v1\nkind: A\nspec:\n  replicas: 99999999999999999999\n");
    assert!(
        matches!(&err, ManifestError::IntegerOutOfRange { literal, .. } if literal == "99999999999999999999")
    );
    assert_eq!(at(&err), (0, None, 4, Some(13)));
    assert_eq!(
        err.to_string(),
        "app.yaml: document 1 (line 4, column 13): integer 99999999999999999999 is out of range (must fit in a signed 64-bit integer)"
    );
    let err = parse_err("apiVersion: v1\nkind: A\nx: 18446744073709551615\n");
    assert_eq!(at(&err), (0, None, 3, Some(4)));
    let err = parse_str(
        "x.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"A\",\n \"x\": -9223372036854775809}",
    )
    .unwrap_err();
    assert!(matches!(err, ManifestError::IntegerOutOfRange { .. }));
    assert_eq!(at(&err), (0, None, 2, Some(7)));
    // Floats are floats, however large.
    let docs = parse("apiVersion: v1\nkind: A\nx: 1e20\ny: 9223372036854775807\n");
    assert_eq!(docs[0].object["x"], json!(1e20));
    assert_eq!(docs[0].object["y"], json!(i64::MAX));
}

#[test]
fn content_after_a_separator_is_rejected() {
    let err = parse_err("apiVersion: v1\nkind: A\n--- {apiVersion: v1, kind: B}\n");
    assert!(matches!(err, ManifestError::InvalidSeparator { .. }));
    assert_eq!(at(&err), (1, None, 3, Some(1)));
}

#[test]
fn anchors_aliases_and_merge_keys_are_resolved() {
    let docs =
        parse("apiVersion: v1\nkind: A\nbase: &b {x: 1}\nuse: *b\nmerged:\n  <<: *b\n  y: 2\n");
    assert_eq!(docs[0].object["use"], json!({"x": 1}));
    assert_eq!(docs[0].object["merged"], json!({"y": 2, "x": 1}));
}

#[test]
fn a_byte_order_mark_and_crlf_line_endings_are_accepted() {
    let docs = parse("\u{feff}apiVersion: v1\r\nkind: A\r\n---\r\napiVersion: v1\r\nkind: B\r\n");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].line, 4);
}

#[test]
fn binary_tags_keep_their_base64_text_as_kubectl_sends_it() {
    let docs = parse("apiVersion: v1\nkind: Secret\ndata:\n  k: !!binary aGVsbG8=\n");
    assert_eq!(docs[0].object["data"]["k"], json!("aGVsbG8="));
}

#[test]
fn keys_keep_their_order() {
    let docs = parse("kind: A\napiVersion: v1\nzeta: 1\nalpha: 2\n");
    let keys: Vec<&String> = docs[0].object.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["kind", "apiVersion", "zeta", "alpha"]);
}

fn write(dir: &Path, name: &str, kind: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, format!("apiVersion: v1\nkind: {kind}\n")).unwrap();
}

#[test]
fn directories_are_read_in_name_order_and_recursively_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.yaml", "B");
    write(dir.path(), "a.yml", "A");
    write(dir.path(), "d.json", "D");
    write(dir.path(), "c/inner.yaml", "C");
    write(dir.path(), "notes.txt", "Ignored");
    write(dir.path(), "Z.YAML", "IgnoredUpperCase");

    let kinds = |docs: Vec<Document>| {
        docs.iter()
            .map(|d| d.kind().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(read_path(dir.path(), false).unwrap()),
        vec!["A", "B", "D"]
    );
    let docs = read_path(dir.path(), true).unwrap();
    assert!(
        docs[2].source.ends_with("c/inner.yaml"),
        "{}",
        docs[2].source
    );
    assert_eq!(kinds(docs), vec!["A", "B", "C", "D"]);
    // A file named explicitly is read whatever its extension.
    let docs = read_path(&dir.path().join("notes.txt"), false).unwrap();
    assert_eq!(
        docs[0].source,
        dir.path().join("notes.txt").display().to_string()
    );
}

#[test]
fn a_directory_without_manifests_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sub/x.yaml", "X");
    let err = read_path(dir.path(), false).unwrap_err();
    assert!(
        matches!(err, ManifestError::NoManifestFiles { .. }),
        "{err:?}"
    );
    assert_eq!(read_path(dir.path(), true).unwrap().len(), 1);
}

#[test]
fn sources_refuse_urls_and_name_missing_files() {
    let err = read_sources(&["https://example.com/app.yaml".to_string()], false).unwrap_err();
    assert!(matches!(err, ManifestError::UrlNotSupported { .. }));
    assert!(err.to_string().contains("not supported"));
    let err = read_sources(&["/nonexistent/app.yaml".to_string()], false).unwrap_err();
    assert!(matches!(err, ManifestError::Read { .. }));
    assert!(
        err.to_string().starts_with("/nonexistent/app.yaml: "),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", "A");
    write(dir.path(), "b.yaml", "B");
    let args = vec![
        dir.path().join("b.yaml").display().to_string(),
        dir.path().join("a.yaml").display().to_string(),
    ];
    let kinds: Vec<String> = read_sources(&args, false)
        .unwrap()
        .iter()
        .map(|d| d.kind().to_string())
        .collect();
    assert_eq!(kinds, vec!["B", "A"]);
}

#[test]
fn readers_are_named_by_their_source_and_must_be_utf8() {
    let docs = read_reader(STDIN, "apiVersion: v1\nkind: A\n".as_bytes()).unwrap();
    assert_eq!(docs[0].source, "STDIN");
    let err = read_reader(STDIN, &b"apiVersion: v1\nkind: \xff\n"[..]).unwrap_err();
    assert_eq!(err.to_string(), "STDIN: line 2, column 7: invalid UTF-8");
}

fn tricky_object() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {"app": "web"}, "annotations": {}},
        "data": {
            "port": "80",
            "flag": "true",
            "no": "no",
            "yes": "yes",
            "on": "on",
            "empty": "",
            "null-word": "null",
            "tilde": "~",
            "mode": "0644",
            "float": "1.5",
            "exp": "1e3",
            "hex": "0x1F",
            "date": "2024-01-01",
            "colon": "a: b",
            "hash": "#not a comment",
            "dash": "- item",
            "lead": " leading space",
            "trail": "trailing space ",
            "multi": "line one\nline two\n",
            "multi-no-newline": "line one\nline two",
            "multi-trailing": "line\n\n",
            "indented": "  first\nsecond\n",
            "quote": "it's \"quoted\"",
            "unicode": "héllo ✓",
            "long": "word ".repeat(40),
            "tab": "a\tb",
        },
        "numbers": [0, -1, 1.5, 1e20, 9_223_372_036_854_775_807i64],
        "bools": [true, false],
        "nothing": null,
        "keys": {"80": 1, "true": 2, "": 3, "null": 4, "y": 5, "- a": 6, "a: b": 7},
        "nested": [[1, 2], [], {"a": [{"b": {}}]}],
    })
}

#[test]
fn yaml_output_round_trips_through_the_parser() {
    let v = tricky_object();
    let text = to_yaml(&v).unwrap();
    let docs = parse_str("out.yaml", &text).unwrap();
    assert_eq!(docs[0].object, v, "YAML was:\n{text}");
}

#[test]
fn yaml_output_looks_like_kubectl() {
    let v = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                                 "args": ["--port", "80"]}]},
    });
    assert_eq!(
        to_yaml(&v).unwrap(),
        "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
  - name: c
    image: nginx
    ports:
    - containerPort: 80
    args:
    - --port
    - \"80\"
"
    );
}

#[test]
fn yaml_documents_are_joined_by_separators_and_read_back() {
    let a = json!({"apiVersion": "v1", "kind": "A", "data": {"x": "1"}});
    let b = json!({"apiVersion": "v1", "kind": "B"});
    let text = to_yaml_documents(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(
        text,
        "apiVersion: v1\nkind: A\ndata:\n  x: \"1\"\n---\napiVersion: v1\nkind: B\n"
    );
    let docs = parse_str("out.yaml", &text).unwrap();
    assert_eq!(
        docs.iter().map(|d| d.object.clone()).collect::<Vec<_>>(),
        vec![a, b]
    );
    assert_eq!(to_yaml_documents(&[]).unwrap(), "");
}
