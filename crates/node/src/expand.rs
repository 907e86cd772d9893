//! `$(VAR)` expansion in env values, `command` and `args`, as Kubernetes does it.
//!
//! Mirrors `third_party/forked/golang/expansion/expand.go` (kubernetes/kubernetes): `$(NAME)` is
//! replaced by the variable's value when it is defined and left as written when it is not; `$$` is an
//! escaped `$`; any other `$` (`$VAR`, `${VAR}`, `$?`, a trailing `$`, an unterminated `$(`) passes
//! through unchanged. There is no nesting and no recursion: a value that is itself a reference stays
//! as it is.

/// Expands `$(NAME)` references in `input` with `lookup` (see the module doc for the rules).
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    // `checkpoint` is the start of the input not yet copied; `cursor` scans for `$`. Both always sit
    // on char boundaries because `$`, `(` and `)` are ASCII.
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match read_variable(rest) {
                Read::Escaped => {
                    out.push('$');
                    1
                }
                Read::Variable(name) => {
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    name.len() + 2
                }
                Read::Literal(len) => {
                    out.push('$');
                    out.push_str(&rest[..len]);
                    len
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

enum Read<'a> {
    /// `$$`: one `$`, one byte consumed after the operator.
    Escaped,
    /// `$(NAME)`: the name; `NAME.len() + 2` bytes consumed.
    Variable(&'a str),
    /// Not a reference: copy the operator and this many bytes after it.
    Literal(usize),
}

/// `tryReadVariableName` of expand.go: what follows a `$` (never empty).
fn read_variable(rest: &str) -> Read<'_> {
    match rest.as_bytes().first() {
        Some(b'$') => Read::Escaped,
        Some(b'(') => match rest[1..].find(')') {
            Some(end) => Read::Variable(&rest[1..1 + end]),
            // Incomplete reference: keep `$(` and rescan after the parenthesis.
            None => Read::Literal(1),
        },
        // Any other character (possibly multi-byte) is copied with the operator.
        _ => Read::Literal(rest.chars().next().map_or(0, char::len_utf8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vars() -> BTreeMap<&'static str, &'static str> {
        BTreeMap::from([
            ("VAR_A", "A"),
            ("VAR_B", "B"),
            ("VAR_C", "C"),
            ("VAR_REF", "$(VAR_A)"),
            ("VAR_EMPTY", ""),
        ])
    }

    fn ex(input: &str) -> String {
        let vars = vars();
        expand(input, |name| vars.get(name).map(|v| (*v).to_owned()))
    }

    /// The cases of upstream's expand_test.go, one by one.
    #[test]
    fn expansion_matches_the_upstream_test_table() {
        let cases = [
            ("$(VAR_A)", "A"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("$(VAR_A)-1", "A-1"),
            ("___$(VAR_B)___", "___B___"),
            ("___$(VAR_C)", "___C"),
            ("$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
            ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
            ("$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
            ("f000-$$VAR_A", "f000-$VAR_A"),
            ("foo\\$(VAR_C)bar", "foo\\Cbar"),
            ("foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
            ("foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
            ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
            ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
            ("$(VAR_REF)", "$(VAR_A)"),
            ("%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
            ("foo$(VAR_EMPTY)bar", "foobar"),
            ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
            ("f00__(VAR_A)__", "f00__(VAR_A)__"),
            ("$?_boo_$!", "$?_boo_$!"),
            ("$VAR_A", "$VAR_A"),
            ("$(VAR_DNE)", "$(VAR_DNE)"),
            ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
            ("$$$$$$(VAR_A)", "$$$(VAR_A)"),
            ("$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
            ("$$$$$$$(VAR_A)", "$$$A"),
            ("$VAR_A)", "$VAR_A)"),
            ("${VAR_A}", "${VAR_A}"),
            ("$(VAR_B)_______$(A", "B_______$(A"),
            ("$(VAR_C)_______$(", "C_______$("),
            ("$(VAR_A)foobarzab$", "Afoobarzab$"),
            ("foo-\\$(VAR_A", "foo-\\$(VAR_A"),
            ("--$($($($($--", "--$($($($($--"),
            ("$($($($($--foo$(", "$($($($($--foo$("),
            ("foo0--$($($($(", "foo0--$($($($("),
            ("$(foo$$var)", "$(foo$$var)"),
            ("\n", "\n"),
        ];
        for (input, expected) in cases {
            assert_eq!(ex(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn non_ascii_text_around_references_is_kept() {
        assert_eq!(ex("é$(VAR_A)ü$ß"), "éAü$ß");
        assert_eq!(ex("$é"), "$é");
        assert_eq!(ex(""), "");
        assert_eq!(ex("$"), "$");
    }
}
