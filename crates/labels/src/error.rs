//! The error returned when a label or field selector cannot be parsed or built.

/// Why a label selector or field selector was rejected.
///
/// The messages follow upstream's wording (`k8s.io/apimachinery/pkg/labels/selector.go`,
/// `pkg/fields/selector.go`), because the API server returns them to clients verbatim.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The selector string does not follow the selector grammar outside a requirement,
    /// e.g. `found ',', expected: !, identifier, or 'end of string'`.
    #[error("{message}")]
    Syntax {
        /// Upstream's parser message, naming the offending token.
        message: String,
    },
    /// One requirement of a label selector is malformed or invalid, e.g.
    /// `unable to parse requirement: found '(', expected: identifier`.
    #[error("unable to parse requirement: {message}")]
    Requirement {
        /// Upstream's message for the requirement, naming the offending text.
        message: String,
    },
    /// A requirement built from values (a `LabelSelector` or [`crate::Requirement::new`])
    /// is invalid, e.g. `values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty`.
    #[error("{message}")]
    InvalidRequirement {
        /// Upstream's aggregated field error text.
        message: String,
    },
    /// A `LabelSelector` match expression uses an operator other than
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[error("{operator:?} is not a valid label selector operator")]
    InvalidOperator {
        /// The operator as written.
        operator: String,
    },
    /// A field selector term has no `=`, `==` or `!=` operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm {
        /// The whole field selector.
        selector: String,
        /// The term that could not be understood.
        term: String,
    },
    /// A field selector value contains a backslash escape other than `\\`, `\,` or `\=`.
    #[error("invalid field selector: invalid escape sequence: {sequence}")]
    InvalidEscape {
        /// The escape sequence, e.g. `\n` or a lone trailing `\`.
        sequence: String,
    },
    /// A field selector value contains an unescaped `,` or `=`.
    // Upstream prints the rune as a number (`%v` of a rune); we print the character.
    #[error("invalid field selector: unescaped character in value: '{character}'")]
    UnescapedCharacter {
        /// The character that should have been escaped.
        character: char,
    },
}
