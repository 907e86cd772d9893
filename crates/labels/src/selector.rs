//! Label selectors: the string syntax (`a=b,c in (x,y),!d`), `LabelSelector` objects and
//! Service-style maps, and matching them against an object's labels.
//!
//! Mirrors `k8s.io/apimachinery/pkg/labels/selector.go` (lexer, parser, `NewRequirement`
//! validation, `String()`) and `metav1.LabelSelectorAsSelector`.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::error::SelectorError;
use crate::validation;

/// How a [`Requirement`] relates a label's value to its values (upstream `selection.Operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`: the label exists and equals the value.
    Equals,
    /// `key==value`: same as [`Operator::Equals`].
    DoubleEquals,
    /// `key!=value`: the label is absent or differs from the value.
    NotEquals,
    /// `key in (a,b)`: the label exists and is one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or none of the values.
    NotIn,
    /// `key`: the label exists, whatever its value.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>3`: the label exists and, read as a 64-bit integer, is greater than the value.
    GreaterThan,
    /// `key<3`: the label exists and, read as a 64-bit integer, is less than the value.
    LessThan,
}

impl Operator {
    /// The operator as upstream's `selection.Operator` spells it
    /// (`=`, `==`, `!=`, `in`, `notin`, `exists`, `!`, `gt`, `lt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition of a [`Selector`]: a label key, an operator and its values.
///
/// Invariant when built by this crate: `values` is sorted and free of duplicates, has
/// exactly one element for `=`, `==`, `!=`, `>` and `<`, at least one for `in`/`notin`,
/// and none for `exists`/`!`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// The label key, a qualified name such as `app.kubernetes.io/name`.
    pub key: String,
    /// How the label's value is compared.
    pub operator: Operator,
    /// The values compared against, sorted.
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a validated requirement, as upstream `labels.NewRequirement`: the key must be a
    /// qualified name, the values valid label values, `in`/`notin` need at least one value,
    /// `=`/`==`/`!=` exactly one, `exists`/`!` none, and `gt`/`lt` exactly one integer.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        let key = key.into();
        let errs = requirement_errors(&key, operator, &values);
        if !errs.is_empty() {
            return Err(SelectorError::InvalidRequirement {
                message: aggregate(errs),
            });
        }
        Ok(Requirement::new_unchecked(key, operator, values))
    }

    /// Builds a requirement without validation, sorting and de-duplicating the values.
    fn new_unchecked(key: String, operator: Operator, mut values: Vec<String>) -> Requirement {
        values.sort();
        values.dedup();
        Requirement {
            key,
            operator,
            values,
        }
    }

    /// Whether labels, looked up with `get`, satisfy this requirement (upstream `Requirement.Matches`).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let has_value = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                get(&self.key).is_some_and(has_value)
            }
            Operator::NotIn | Operator::NotEquals => get(&self.key).is_none_or(|v| !has_value(v)),
            Operator::Exists => get(&self.key).is_some(),
            Operator::DoesNotExist => get(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(label) = get(&self.key).and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [bound] = self.values.as_slice() else {
                    return false;
                };
                let Ok(bound) = bound.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    label > bound
                } else {
                    label < bound
                }
            }
        }
    }

    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }
}

impl fmt::Display for Requirement {
    /// Upstream `Requirement.String()`: `key=v`, `key in (a,b)`, `key`, `!key`, `key>3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: requirements that must all hold (AND).
///
/// An empty selector ([`Selector::everything`]) matches every object. Requirements are kept
/// sorted by key (stable), as upstream sorts them, so [`Display`](fmt::Display) is canonical.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches all objects.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Parses the label selector syntax of `kubectl -l` and `?labelSelector=`, e.g.
    /// `a=b,c!=d,e in (x,y),f notin (z),g,!h,i>3`. Whitespace between tokens is ignored.
    /// Errors are worded as upstream's `labels.Parse`.
    pub fn parse(s: &str) -> Result<Selector, SelectorError> {
        let tokens = lex(s);
        let mut parser = Parser {
            tokens: &tokens,
            pos: 0,
        };
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements })
    }

    /// A selector requiring every `key=value` of `m`: a Service's `spec.selector` or a
    /// `matchLabels` map. Not validated, as upstream `SelectorFromSet`; an empty map selects
    /// everything.
    pub fn from_map(m: &BTreeMap<String, String>) -> Selector {
        Selector {
            requirements: m
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: vec![v.clone()],
                })
                .collect(),
        }
    }

    /// Converts a `LabelSelector` (`matchLabels` AND `matchExpressions`) as upstream
    /// `metav1.LabelSelectorAsSelector`. Expressions accept `In`, `NotIn` (which need values),
    /// `Exists` and `DoesNotExist` (which take none); keys and values are validated.
    ///
    /// An empty `LabelSelector` selects everything. A *missing* selector (a nil pointer
    /// upstream) selects nothing; callers handle that case themselves.
    pub fn from_label_selector(ls: &LabelSelector) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in ls.match_labels.iter().flatten() {
            requirements.push(Requirement::new(
                k.clone(),
                Operator::Equals,
                vec![v.clone()],
            )?);
        }
        for expr in ls.match_expressions.iter().flatten() {
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::InvalidOperator {
                        operator: other.to_string(),
                    });
                }
            };
            let values = expr.values.clone().unwrap_or_default();
            requirements.push(Requirement::new(expr.key.clone(), operator, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements })
    }

    /// Adds a requirement, keeping requirements sorted by key (upstream `Selector.Add`).
    pub fn with(mut self, requirement: Requirement) -> Selector {
        self.requirements.push(requirement);
        self.requirements.sort_by(|a, b| a.key.cmp(&b.key));
        self
    }

    /// Whether labels looked up with `get` satisfy every requirement.
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str> + Copy) -> bool {
        self.requirements.iter().all(|r| r.matches_with(get))
    }

    /// Whether `labels` satisfy every requirement. Extra labels do not matter.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// Whether an object's `metadata.labels` (a JSON object, possibly absent) satisfy every
    /// requirement. An absent or non-object value is no labels; non-string values are ignored.
    pub fn matches_json(&self, labels: Option<&serde_json::Value>) -> bool {
        let map = labels.and_then(serde_json::Value::as_object);
        self.matches_with(|k| {
            map.and_then(|m| m.get(k))
                .and_then(serde_json::Value::as_str)
        })
    }

    /// Whether the selector has no requirements, and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The value `label` must have when the selector pins it to a single value with `=`,
    /// `==` or a one-value `in` (upstream `RequiresExactMatch`).
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == label)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
    /// Upstream `String()`: the requirements joined by `,`; empty for everything.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Upstream `NewRequirement` checks, as field error strings (paths relative to the requirement).
fn requirement_errors(key: &str, operator: Operator, values: &[String]) -> Vec<String> {
    let mut errs = Vec::new();
    let key_errs = validation::is_qualified_name(key);
    if !key_errs.is_empty() {
        errs.push(format!(
            "key: Invalid value: {}: {}",
            go_quote(key),
            key_errs.join("; ")
        ));
    }
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => errs.push(format!(
            "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
            go_string_slice(values)
        )),
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            errs.push(format!(
                "values: Invalid value: {}: exact-match compatibility requires one single value",
                go_string_slice(values)
            ))
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(format!(
            "values: Invalid value: {}: values set must be empty for exists and does not exist",
            go_string_slice(values)
        )),
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errs.push(format!(
                    "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                    go_string_slice(values)
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(format!(
                        "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                        go_quote(v)
                    ));
                }
            }
        }
        _ => {}
    }
    for (i, v) in values.iter().enumerate() {
        let value_errs = validation::is_valid_label_value(v);
        if !value_errs.is_empty() {
            errs.push(format!(
                "values[{i}][{key}]: Invalid value: {}: {}",
                go_quote(v),
                value_errs.join("; ")
            ));
        }
    }
    // Upstream `ErrorList.ToAggregate` drops repeated messages.
    let mut seen = std::collections::HashSet::new();
    errs.retain(|e| seen.insert(e.clone()));
    errs
}

/// Upstream `utilerrors.Aggregate.Error()`: one message as is, several as `[a, b]`.
fn aggregate(errs: Vec<String>) -> String {
    if errs.len() == 1 {
        errs.into_iter().next().unwrap_or_default()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// Go's `%q` for the strings that appear in selectors (close enough for printable text).
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Go's `%#v` of a `[]string`, e.g. `[]string{"a", "b"}`.
fn go_string_slice(values: &[String]) -> String {
    let inner: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[]string{{{}}}", inner.join(", "))
}

/// Lexer tokens (upstream `Token`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

#[derive(Clone, Debug)]
struct Scanned {
    token: Token,
    literal: String,
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits a selector into tokens, ending with [`Token::EndOfString`] (upstream `Lexer`).
fn lex(s: &str) -> Vec<Scanned> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            out.push(Scanned {
                token: Token::EndOfString,
                literal: String::new(),
            });
            return out;
        }
        if is_special(b[pos]) {
            // Longest match among the operator tokens: "!=" and "==" before single symbols.
            let two = b.get(pos..pos + 2);
            let (token, len) = match two {
                Some(b"!=") => (Token::NotEquals, 2),
                Some(b"==") => (Token::DoubleEquals, 2),
                _ => match b[pos] {
                    b'=' => (Token::Equals, 1),
                    b'!' => (Token::DoesNotExist, 1),
                    b'(' => (Token::OpenPar, 1),
                    b')' => (Token::ClosedPar, 1),
                    b',' => (Token::Comma, 1),
                    b'>' => (Token::GreaterThan, 1),
                    _ => (Token::LessThan, 1),
                },
            };
            out.push(Scanned {
                token,
                literal: s[pos..pos + len].to_string(),
            });
            pos += len;
            continue;
        }
        let start = pos;
        while pos < b.len() && !is_special(b[pos]) && !is_whitespace(b[pos]) {
            pos += 1;
        }
        // Splitting only at ASCII bytes keeps `literal` valid UTF-8.
        let literal = s[start..pos].to_string();
        let token = match literal.as_str() {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Identifier,
        };
        out.push(Scanned { token, literal });
    }
}

/// Whether `in`/`notin` are keywords (operator position) or plain identifiers (upstream
/// `ParserContext`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser<'a> {
    tokens: &'a [Scanned],
    pos: usize,
}

fn requirement_error(message: String) -> SelectorError {
    SelectorError::Requirement { message }
}

impl Parser<'_> {
    fn lookahead(&self, ctx: Context) -> (Token, &str) {
        let s = self
            .tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map(|s| (s.token, s.literal.as_str()))
            .unwrap_or((Token::EndOfString, ""));
        match (ctx, s.0) {
            (Context::Values, Token::In | Token::NotIn) => (Token::Identifier, s.1),
            _ => s,
        }
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let (t, l) = self.lookahead(ctx);
        let out = (t, l.to_string());
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        out
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    requirements.push(self.parse_requirement()?);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(SelectorError::Syntax {
                                    message: format!(
                                        "found '{l2}', expected: identifier after ','"
                                    ),
                                });
                            }
                        }
                        _ => {
                            return Err(SelectorError::Syntax {
                                message: format!("found '{l}', expected: ',' or 'end of string'"),
                            });
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(SelectorError::Syntax {
                        message: format!(
                            "found '{lit}', expected: !, identifier, or 'end of string'"
                        ),
                    });
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return self.build(key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        self.build(key, op, values)
    }

    fn build(
        &self,
        key: String,
        op: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        let errs = requirement_errors(&key, op, &values);
        if errs.is_empty() {
            Ok(Requirement::new_unchecked(key, op, values))
        } else {
            Err(requirement_error(aggregate(errs)))
        }
    }

    /// Reads `[!]key`; infers `Exists`/`DoesNotExist` when no operator follows.
    fn parse_key_and_infer_operator(
        &mut self,
    ) -> Result<(String, Option<Operator>), SelectorError> {
        let (mut tok, mut lit) = self.consume(Context::Values);
        let mut does_not_exist = false;
        if tok == Token::DoesNotExist {
            does_not_exist = true;
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(requirement_error(format!(
                "found '{lit}', expected: identifier"
            )));
        }
        let key_errs = validation::is_qualified_name(&lit);
        if !key_errs.is_empty() {
            // Upstream validates with a nil field path here, which prints as "<nil>".
            return Err(requirement_error(format!(
                "<nil>: Invalid value: {}: {}",
                go_quote(&lit),
                key_errs.join("; ")
            )));
        }
        if does_not_exist {
            return Ok((lit, Some(Operator::DoesNotExist)));
        }
        let (next, _) = self.lookahead(Context::Values);
        if next == Token::EndOfString || next == Token::Comma {
            return Ok((lit, Some(Operator::Exists)));
        }
        Ok((lit, None))
    }

    fn parse_operator(&mut self) -> Result<Operator, SelectorError> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(requirement_error(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                )));
            }
        })
    }

    /// Reads `(a,b,c)`; empty entries (`(a,,b)`, `()`) are the empty value, as upstream.
    fn parse_values(&mut self) -> Result<Vec<String>, SelectorError> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(requirement_error(format!("found '{lit}' expected: '('")));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                let (tok, lit) = self.consume(Context::Values);
                if tok != Token::ClosedPar {
                    return Err(requirement_error(format!("found '{lit}', expected: ')'")));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(requirement_error(format!(
                "found '{lit}', expected: ',', ')' or identifier"
            ))),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, SelectorError> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    values.push(lit);
                    let (tok2, lit2) = self.lookahead(Context::Values);
                    match tok2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => {
                            return Err(requirement_error(format!(
                                "found '{lit2}', expected: ',' or ')'"
                            )));
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push(String::new()); // "(,"
                    }
                    let (tok2, _) = self.lookahead(Context::Values);
                    if tok2 == Token::ClosedPar {
                        values.push(String::new()); // ",)"
                        return Ok(values);
                    }
                    if tok2 == Token::Comma {
                        values.push(String::new()); // ",,"
                    }
                }
                _ => {
                    return Err(requirement_error(format!(
                        "found '{lit}', expected: ',', or identifier"
                    )));
                }
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(vec![lit])
        } else {
            Err(requirement_error(format!(
                "found '{lit}', expected: identifier"
            )))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn parse_reads_every_operator() {
        let s = Selector::parse("a=b,c!=d,e in (y,x),f notin (z),g,!h,i>3,j<4,k==l").unwrap();
        assert_eq!(
            s.requirements(),
            &[
                req("a", Operator::Equals, &["b"]),
                req("c", Operator::NotEquals, &["d"]),
                req("e", Operator::In, &["x", "y"]),
                req("f", Operator::NotIn, &["z"]),
                req("g", Operator::Exists, &[]),
                req("h", Operator::DoesNotExist, &[]),
                req("i", Operator::GreaterThan, &["3"]),
                req("j", Operator::LessThan, &["4"]),
                req("k", Operator::DoubleEquals, &["l"]),
            ]
        );
    }

    #[test]
    fn parse_tolerates_whitespace_between_tokens() {
        let s = Selector::parse("  app = web ,\ttier in ( front , back ) , ! legacy ").unwrap();
        assert_eq!(s.to_string(), "app=web,!legacy,tier in (back,front)");
    }

    #[test]
    fn display_is_canonical_and_sorted_by_key() {
        let s = Selector::parse("z=1,a in (c,b,a),m notin (x),k,!j,n>5").unwrap();
        assert_eq!(s.to_string(), "a in (a,b,c),!j,k,m notin (x),n>5,z=1");
        assert_eq!(Selector::parse(&s.to_string()).unwrap(), s);
        assert_eq!(Selector::everything().to_string(), "");
    }

    #[test]
    fn empty_string_parses_to_everything() {
        let s = Selector::parse("").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&labels(&[("a", "b")])));
        assert!(Selector::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn empty_values_are_allowed_as_upstream() {
        let s = Selector::parse("a=,b in (),c in (x,,y)").unwrap();
        assert_eq!(
            s.requirements(),
            &[
                req("a", Operator::Equals, &[""]),
                req("b", Operator::In, &[""]),
                req("c", Operator::In, &["", "x", "y"]),
            ]
        );
        assert!(s.matches(&labels(&[("a", ""), ("b", ""), ("c", "")])));
    }

    #[test]
    fn in_and_notin_are_identifiers_in_value_position() {
        let s = Selector::parse("in in (in,notin)").unwrap();
        assert_eq!(
            s.requirements(),
            &[req("in", Operator::In, &["in", "notin"])]
        );
        let s = Selector::parse("x=in").unwrap();
        assert_eq!(s.requirements(), &[req("x", Operator::Equals, &["in"])]);
    }

    #[test]
    fn parse_errors_name_the_offending_token_like_upstream() {
        let cases = [
            ("a=b,", "found '', expected: identifier after ','"),
            (
                ",a",
                "found ',', expected: !, identifier, or 'end of string'",
            ),
            ("a=b c", "found 'c', expected: ',' or 'end of string'"),
            (
                "a in b",
                "unable to parse requirement: found 'b' expected: '('",
            ),
            (
                "a in (b",
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            (
                "a in (=)",
                "unable to parse requirement: found '=', expected: ',', ')' or identifier",
            ),
            (
                "a ! b",
                "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "!=a",
                "found '!=', expected: !, identifier, or 'end of string'",
            ),
            (
                "!",
                "unable to parse requirement: found '', expected: identifier",
            ),
            (
                "a=(b)",
                "unable to parse requirement: found '(', expected: identifier",
            ),
            ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ];
        for (input, want) in cases {
            let err = Selector::parse(input).unwrap_err();
            assert_eq!(err.to_string(), want, "input {input:?}");
        }
        assert!(matches!(
            Selector::parse("(").unwrap_err(),
            SelectorError::Syntax { .. }
        ));
    }

    #[test]
    fn parse_validates_keys_and_values() {
        let err = Selector::parse("-a=b").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters"
            ),
            "{err}"
        );
        let err = Selector::parse("a=b c d").unwrap_err();
        assert_eq!(
            err.to_string(),
            "found 'c', expected: ',' or 'end of string'"
        );
        let err = Selector::parse("a=-b").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string"
            ),
            "{err}"
        );
        let err = Selector::parse("a>b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        let long = "x".repeat(64);
        assert!(Selector::parse(&format!("{long}=a")).is_err());
    }

    #[test]
    fn a_pod_with_extra_labels_matches_and_a_pod_missing_one_does_not() {
        let s = Selector::parse("app=web,tier=front").unwrap();
        assert!(s.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("extra", "x")
        ])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back")])));
        assert!(!s.matches(&labels(&[])));
    }

    #[test]
    fn set_based_operators_match_as_upstream() {
        let s = Selector::parse("env in (prod,staging)").unwrap();
        assert!(s.matches(&labels(&[("env", "prod")])));
        assert!(!s.matches(&labels(&[("env", "dev")])));
        assert!(!s.matches(&labels(&[])));

        let s = Selector::parse("env notin (prod)").unwrap();
        assert!(s.matches(&labels(&[("env", "dev")])));
        assert!(s.matches(&labels(&[])), "notin matches a missing label");
        assert!(!s.matches(&labels(&[("env", "prod")])));

        let s = Selector::parse("env!=prod").unwrap();
        assert!(s.matches(&labels(&[])), "!= matches a missing label");
        assert!(!s.matches(&labels(&[("env", "prod")])));

        let s = Selector::parse("gpu").unwrap();
        assert!(s.matches(&labels(&[("gpu", "")])));
        assert!(!s.matches(&labels(&[])));

        let s = Selector::parse("!gpu").unwrap();
        assert!(!s.matches(&labels(&[("gpu", "")])));
        assert!(s.matches(&labels(&[])));
    }

    #[test]
    fn numeric_operators_compare_as_integers() {
        let s = Selector::parse("rank>9").unwrap();
        assert!(s.matches(&labels(&[("rank", "10")])));
        assert!(!s.matches(&labels(&[("rank", "9")])));
        assert!(!s.matches(&labels(&[("rank", "x")])));
        assert!(!s.matches(&labels(&[])));
        let s = Selector::parse("rank<0").unwrap();
        assert!(s.matches(&labels(&[("rank", "-2")])));
        assert!(!s.matches(&labels(&[("rank", "0")])));
        // As upstream, the bound must also be a valid label value, so it cannot be negative.
        assert!(Selector::parse("rank<-1").is_err());
    }

    #[test]
    fn from_map_requires_every_pair() {
        let s = Selector::from_map(&labels(&[("app", "web"), ("tier", "front")]));
        assert_eq!(s.to_string(), "app=web,tier=front");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(Selector::from_map(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn matches_json_reads_metadata_labels() {
        let s = Selector::parse("app=web,!canary").unwrap();
        let l = serde_json::json!({"app": "web", "n": 1});
        assert!(s.matches_json(Some(&l)));
        assert!(!s.matches_json(None));
        assert!(Selector::parse("!app").unwrap().matches_json(None));
        assert!(!Selector::parse("n=1").unwrap().matches_json(Some(&l)));
        assert!(Selector::everything().matches_json(Some(&serde_json::json!("junk"))));
    }

    fn label_selector(
        match_labels: &[(&str, &str)],
        exprs: &[(&str, &str, Option<&[&str]>)],
    ) -> LabelSelector {
        LabelSelector {
            match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
            match_expressions: (!exprs.is_empty()).then(|| {
                exprs
                    .iter()
                    .map(|(k, op, vals)| LabelSelectorRequirement {
                        key: k.to_string(),
                        operator: op.to_string(),
                        values: vals.map(|v| v.iter().map(|s| s.to_string()).collect()),
                    })
                    .collect()
            }),
        }
    }

    #[test]
    fn label_selector_combines_match_labels_and_expressions() {
        let ls = label_selector(
            &[("app", "web")],
            &[
                ("tier", "In", Some(&["front", "edge"])),
                ("env", "NotIn", Some(&["dev"])),
                ("gpu", "Exists", None),
                ("legacy", "DoesNotExist", Some(&[])),
            ],
        );
        let s = Selector::from_label_selector(&ls).unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,env notin (dev),gpu,!legacy,tier in (edge,front)"
        );
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "edge"), ("gpu", "1")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "edge")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("gpu", "1"),
            ("legacy", "")
        ])));
    }

    #[test]
    fn an_empty_label_selector_selects_everything() {
        let s = Selector::from_label_selector(&LabelSelector::default()).unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&labels(&[("any", "thing")])));
    }

    #[test]
    fn label_selector_expressions_are_validated() {
        let err =
            Selector::from_label_selector(&label_selector(&[], &[("a", "In", None)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
        let err =
            Selector::from_label_selector(&label_selector(&[], &[("a", "Exists", Some(&["x"]))]))
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        let err = Selector::from_label_selector(&label_selector(&[], &[("a", "Gt", Some(&["1"]))]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"Gt\" is not a valid label selector operator"
        );
        let err =
            Selector::from_label_selector(&label_selector(&[("bad key", "v")], &[])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("key: Invalid value: \"bad key\": name part")
        );
    }

    #[test]
    fn requirement_new_rejects_wrong_value_counts() {
        assert!(Requirement::new("a", Operator::Equals, vec![]).is_err());
        assert!(
            Requirement::new("a", Operator::GreaterThan, vec!["1".into(), "2".into()]).is_err()
        );
        let r =
            Requirement::new("a", Operator::In, vec!["b".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(r.values, vec!["a", "b"]);
        let err = Requirement::new("-", Operator::In, vec![]).unwrap_err();
        assert!(
            err.to_string().starts_with("[key: Invalid value: \"-\""),
            "{err}"
        );
    }

    #[test]
    fn requires_exact_match_reports_pinned_values() {
        let s = Selector::parse("a=1,b in (2),c in (3,4),d!=5").unwrap();
        assert_eq!(s.requires_exact_match("a"), Some("1"));
        assert_eq!(s.requires_exact_match("b"), Some("2"));
        assert_eq!(s.requires_exact_match("c"), None);
        assert_eq!(s.requires_exact_match("d"), None);
        assert_eq!(s.requires_exact_match("e"), None);
    }

    #[test]
    fn with_keeps_requirements_sorted() {
        let s = Selector::parse("b=1")
            .unwrap()
            .with(Requirement::new("a", Operator::Exists, vec![]).unwrap());
        assert_eq!(s.to_string(), "a,b=1");
    }
}
