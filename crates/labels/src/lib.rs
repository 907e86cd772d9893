//! Kubernetes label selectors, field selectors and name validation, as pure functions.
//! Mirrors `k8s.io/apimachinery/pkg/labels`, `pkg/fields` and `pkg/util/validation`;
//! it does no I/O and knows nothing about resources or how their fields are extracted.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod error;
mod fields;
mod selector;
pub mod validation;

pub use error::SelectorError;
pub use fields::{FieldSelector, FieldTerm, escape_field_value, unescape_field_value};
pub use selector::{Operator, Requirement, Selector};
