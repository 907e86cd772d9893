//! Validation of the served kinds, mirroring pkg/apis/*/validation of Kubernetes 1.33.

pub(crate) mod apps;
pub(crate) mod corev1;
pub(crate) mod discovery;
pub(crate) mod meta;
pub(crate) mod networking;
pub(crate) mod pod;
