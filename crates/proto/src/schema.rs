//! The compiled-in descriptor pool and the mapping from a Go type (apiVersion + kind)
//! to its protobuf message.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, MessageDescriptor};

use crate::ProtoError;

/// `build.rs` compiles `protos/**/generated.proto` into this `FileDescriptorSet`.
static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes.fds"));

/// Protobuf package of `k8s.io/apimachinery/pkg/apis/meta/v1`.
pub(crate) const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";
/// Full name of the `runtime.Unknown` envelope message.
pub(crate) const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";

/// The descriptor pool, decoded once.
pub(crate) fn pool() -> Result<&'static DescriptorPool, ProtoError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTORS).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| ProtoError::Schema(e.clone()))
}

/// Looks up a message by its full protobuf name.
pub(crate) fn message(full_name: &str) -> Result<MessageDescriptor, ProtoError> {
    pool()?
        .get_message_by_name(full_name)
        .ok_or_else(|| ProtoError::Schema(format!("message {full_name} is not compiled in")))
}

/// Kinds that `metav1.AddToGroupVersion` registers in every group version, so a client may
/// send them under any apiVersion (kubectl sends `DeleteOptions` as `v1`, `apps/v1`, ...).
/// Upstream: staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/register.go (`optionsTypes`,
/// `WatchEvent`).
const META_KINDS_IN_EVERY_GROUP: &[&str] = &[
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "GetOptions",
    "ListOptions",
    "WatchEvent",
];

/// Kinds registered as unversioned (`v1`) by the same function: `Status` and discovery documents.
const META_UNVERSIONED_KINDS: &[&str] = &[
    "Status",
    "APIVersions",
    "APIGroupList",
    "APIGroup",
    "APIResourceList",
];

/// The protobuf message name for a Go type, following go-to-protobuf's package naming:
/// the core group is `k8s.io.api.core.<version>`, a group `x` or `x.k8s.io` is
/// `k8s.io.api.x.<version>`, and `meta.k8s.io` is apimachinery's `meta/v1`.
pub(crate) fn message_name(api_version: &str, kind: &str) -> String {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    };
    if META_KINDS_IN_EVERY_GROUP.contains(&kind)
        || group == "meta.k8s.io"
        || (group.is_empty() && version == "v1" && META_UNVERSIONED_KINDS.contains(&kind))
    {
        return format!("{META_V1}.{kind}");
    }
    let package = if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    format!("k8s.io.api.{package}.{version}.{kind}")
}

/// The descriptor of a Go type, if its protobuf schema is vendored.
pub(crate) fn descriptor_for(
    api_version: &str,
    kind: &str,
) -> Result<MessageDescriptor, ProtoError> {
    let unknown = || ProtoError::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    };
    // A kind is a Go identifier; anything else cannot name a message and must not be
    // spliced into a lookup that could hit a nested or unrelated message.
    let is_ident = |s: &str| {
        !s.is_empty()
            && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && s.chars().all(|c| c.is_ascii_alphanumeric())
    };
    if !is_ident(kind) {
        return Err(unknown());
    }
    pool()?
        .get_message_by_name(&message_name(api_version, kind))
        .ok_or_else(unknown)
}
