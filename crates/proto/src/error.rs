//! The error type of this crate.

/// Why a body could not be decoded. Every variant is the client's fault except
/// [`ProtoError::Schema`], which means the vendored descriptors are unusable (a build bug).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The body does not start with the 4-byte `k8s\0` magic prefix.
    #[error("provided data does not appear to be a protobuf message, expected prefix \"k8s\\x00\"")]
    NotProtobuf,
    /// The `runtime.Unknown` envelope after the prefix is empty, malformed or lacks apiVersion/kind.
    #[error("invalid protobuf envelope: {0}")]
    Envelope(String),
    /// No vendored protobuf schema describes this kind.
    #[error("no protobuf schema for kind {kind:?} in version {api_version:?}")]
    UnknownKind {
        /// The `apiVersion` of the envelope.
        api_version: String,
        /// The `kind` of the envelope.
        kind: String,
    },
    /// The object bytes do not decode as the kind's message, or hold a value JSON cannot carry.
    #[error("decoding {kind} from protobuf: {reason}")]
    Decode {
        /// The `kind` being decoded.
        kind: String,
        /// What went wrong, with the field path where known.
        reason: String,
    },
    /// The compiled-in descriptor set could not be loaded.
    #[error("protobuf schema is unusable: {0}")]
    Schema(String),
}
