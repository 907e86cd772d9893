//! The served kinds as one typed value, and the per-kind dispatch of defaulting, strategies
//! and validation.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, NamespaceSpec, NamespaceStatus, Node, Pod, Secret,
    Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::decode::{self, Decoded};
use crate::field::FieldError;
use crate::registry::ResourceInfo;
use crate::validation::{apps, corev1, discovery, networking, pod};
use crate::{AdmitError, defaults, strategy};

macro_rules! objects {
    ($($kind:ident),* $(,)?) => {
        /// One object of a served kind.
        pub(crate) enum Object {
            $($kind(Box<$kind>),)*
        }

        impl Object {
            /// Strictly decodes `value` as `info`'s kind.
            pub(crate) fn decode(info: &ResourceInfo, value: Value) -> Result<(Object, Vec<String>), AdmitError> {
                match info.kind {
                    $(stringify!($kind) => {
                        let Decoded { object, unknown_fields } = decode::decode::<$kind>(info, value)?;
                        Ok((Object::$kind(Box::new(object)), unknown_fields))
                    })*
                    other => Err(decode::decode_error(info, &format!("kind {other} is not served"))),
                }
            }

            /// The object as JSON.
            pub(crate) fn to_value(&self) -> Result<Value, serde_json::Error> {
                match self {
                    $(Object::$kind(o) => serde_json::to_value(o),)*
                }
            }

            /// The object's metadata.
            pub(crate) fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$kind(o) => &o.metadata,)*
                }
            }

            /// The object's metadata, mutable.
            pub(crate) fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$kind(o) => &mut o.metadata,)*
                }
            }
        }
    };
}

objects!(
    Namespace,
    Node,
    Pod,
    Service,
    Endpoints,
    ConfigMap,
    Secret,
    Event,
    EndpointSlice,
    Deployment,
    ReplicaSet,
    NetworkPolicy,
    Ingress,
    IngressClass,
);

/// What validation needs to know about the raw input that decoding loses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Input {
    /// `spec.selector` was present (Deployments, ReplicaSets require it).
    pub(crate) selector_given: bool,
}

impl Input {
    pub(crate) fn of(value: &Value) -> Input {
        Input {
            selector_given: value
                .pointer("/spec/selector")
                .is_some_and(|v| !v.is_null()),
        }
    }
}

impl Object {
    /// Defaulting (`SetObjectDefaults_*`) and the v1 conversion quirks.
    pub(crate) fn set_defaults(&mut self) {
        match self {
            Object::Namespace(o) => defaults::namespace(o),
            Object::Node(o) => defaults::node(o),
            Object::Pod(o) => defaults::pod(o),
            Object::Service(o) => defaults::service(o),
            Object::Endpoints(o) => defaults::endpoints(o),
            Object::Secret(o) => defaults::secret(o),
            Object::EndpointSlice(o) => defaults::endpoint_slice(o),
            Object::Deployment(o) => defaults::deployment(o),
            Object::ReplicaSet(o) => defaults::replica_set(o),
            Object::NetworkPolicy(o) => defaults::network_policy(o),
            Object::IngressClass(o) => defaults::ingress_class(o),
            Object::ConfigMap(_) | Object::Event(_) | Object::Ingress(_) => {}
        }
    }

    /// `PrepareForCreate` of the kind's strategy and the mutating admission of pods.
    pub(crate) fn prepare_for_create(&mut self) {
        strategy::meta_for_create(self.metadata_mut());
        match self {
            Object::Namespace(ns) => {
                ns.status = Some(NamespaceStatus {
                    phase: Some("Active".to_string()),
                    ..Default::default()
                });
                let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
                let finalizers = spec.finalizers.get_or_insert_with(Vec::new);
                if !finalizers.iter().any(|f| f == "kubernetes") {
                    finalizers.push("kubernetes".to_string());
                }
            }
            Object::Pod(p) => strategy::pod_for_create(p),
            Object::Service(s) => strategy::service_for_create(s),
            Object::Deployment(d) => d.status = Some(Default::default()),
            Object::ReplicaSet(r) => r.status = Some(Default::default()),
            Object::Ingress(i) => i.status = Some(strategy::empty_ingress_status()),
            _ => {}
        }
    }

    /// `PrepareForUpdate` of the kind's strategy: status and other server-owned fields are kept.
    pub(crate) fn prepare_for_update(&mut self, old: &Object) {
        strategy::meta_for_update(self.metadata_mut(), old.metadata());
        match (self, old) {
            (Object::Namespace(n), Object::Namespace(o)) => {
                n.status.clone_from(&o.status);
                let finalizers = o.spec.as_ref().and_then(|s| s.finalizers.clone());
                n.spec.get_or_insert_with(NamespaceSpec::default).finalizers = finalizers;
            }
            (Object::Node(n), Object::Node(o)) => n.status.clone_from(&o.status),
            (Object::Pod(n), Object::Pod(o)) => strategy::pod_for_update(n, o),
            (Object::Service(n), Object::Service(o)) => strategy::service_for_update(n, o),
            (Object::Deployment(n), Object::Deployment(o)) => n.status.clone_from(&o.status),
            (Object::ReplicaSet(n), Object::ReplicaSet(o)) => n.status.clone_from(&o.status),
            (Object::Ingress(n), Object::Ingress(o)) => n.status.clone_from(&o.status),
            _ => {}
        }
    }

    /// The object that a status update stores: `old` with the status of `self`.
    pub(crate) fn with_status_of(old: &Object, new: Object) -> Option<Object> {
        let mut result = old.clone_object();
        match (&mut result, new) {
            (Object::Namespace(r), Object::Namespace(n)) => r.status = n.status,
            (Object::Node(r), Object::Node(n)) => r.status = n.status,
            (Object::Pod(r), Object::Pod(n)) => {
                let old_qos = r.status.as_ref().and_then(|s| s.qos_class.clone());
                r.status = n.status;
                if let Some(s) = r.status.as_mut() {
                    // The QoS class is immutable; old kubelets dropped it.
                    if s.qos_class.as_deref().unwrap_or("").is_empty() {
                        s.qos_class = old_qos;
                    }
                }
            }
            (Object::Service(r), Object::Service(n)) => {
                r.status = n.status;
                // SetDefaults_Service: load balancer ingress IPs get ipMode VIP.
                defaults::service(r);
            }
            (Object::Deployment(r), Object::Deployment(n)) => r.status = n.status,
            (Object::ReplicaSet(r), Object::ReplicaSet(n)) => r.status = n.status,
            (Object::Ingress(r), Object::Ingress(n)) => r.status = n.status,
            _ => return None,
        }
        Some(result)
    }

    fn clone_object(&self) -> Object {
        match self {
            Object::Namespace(o) => Object::Namespace(o.clone()),
            Object::Node(o) => Object::Node(o.clone()),
            Object::Pod(o) => Object::Pod(o.clone()),
            Object::Service(o) => Object::Service(o.clone()),
            Object::Endpoints(o) => Object::Endpoints(o.clone()),
            Object::ConfigMap(o) => Object::ConfigMap(o.clone()),
            Object::Secret(o) => Object::Secret(o.clone()),
            Object::Event(o) => Object::Event(o.clone()),
            Object::EndpointSlice(o) => Object::EndpointSlice(o.clone()),
            Object::Deployment(o) => Object::Deployment(o.clone()),
            Object::ReplicaSet(o) => Object::ReplicaSet(o.clone()),
            Object::NetworkPolicy(o) => Object::NetworkPolicy(o.clone()),
            Object::Ingress(o) => Object::Ingress(o.clone()),
            Object::IngressClass(o) => Object::IngressClass(o.clone()),
        }
    }

    /// The kind's `Validate` (create).
    pub(crate) fn validate_create(&self, input: Input) -> Vec<FieldError> {
        match self {
            Object::Namespace(o) => corev1::namespace(o),
            Object::Node(o) => corev1::node(o),
            Object::Pod(o) => pod::pod_create(o),
            Object::Service(o) => corev1::service(o),
            Object::Endpoints(o) => corev1::endpoints(o),
            Object::ConfigMap(o) => corev1::config_map(o),
            Object::Secret(o) => corev1::secret(o),
            Object::Event(o) => corev1::event(o),
            Object::EndpointSlice(o) => discovery::endpoint_slice(o, false),
            Object::Deployment(o) => apps::deployment(o, input.selector_given),
            Object::ReplicaSet(o) => apps::replica_set(o, input.selector_given),
            Object::NetworkPolicy(o) => networking::network_policy(o),
            Object::Ingress(o) => networking::ingress_create(o),
            Object::IngressClass(o) => networking::ingress_class(o),
        }
    }

    /// The kind's `ValidateUpdate`.
    pub(crate) fn validate_update(&self, old: &Object, input: Input) -> Vec<FieldError> {
        let meta_update = || {
            crate::validation::meta::object_meta_update(
                self.metadata(),
                old.metadata(),
                &crate::field::Path::new("metadata"),
            )
        };
        match (self, old) {
            (Object::Namespace(n), Object::Namespace(_)) => {
                let mut errs = meta_update();
                // The generic create-time checks run on every update too (validateCommonFields).
                errs.extend(corev1::namespace(n));
                errs
            }
            (Object::Node(n), Object::Node(o)) => {
                let mut errs = corev1::node_update(n, o);
                errs.extend(corev1::node(n));
                errs
            }
            (Object::Pod(n), Object::Pod(o)) => pod::pod_update(n, o),
            (Object::Service(n), Object::Service(o)) => corev1::service_update(n, o),
            (Object::Endpoints(n), Object::Endpoints(_)) => {
                let mut errs = meta_update();
                errs.extend(corev1::endpoints(n));
                errs
            }
            (Object::ConfigMap(n), Object::ConfigMap(o)) => corev1::config_map_update(n, o),
            (Object::Secret(n), Object::Secret(o)) => corev1::secret_update(n, o),
            (Object::Event(n), Object::Event(_)) => {
                let mut errs = meta_update();
                errs.extend(corev1::event(n));
                errs
            }
            (Object::EndpointSlice(n), Object::EndpointSlice(o)) => {
                discovery::endpoint_slice_update(n, o)
            }
            (Object::Deployment(n), Object::Deployment(o)) => {
                apps::deployment_update(n, o, input.selector_given)
            }
            (Object::ReplicaSet(n), Object::ReplicaSet(o)) => {
                apps::replica_set_update(n, o, input.selector_given)
            }
            (Object::NetworkPolicy(n), Object::NetworkPolicy(o)) => {
                networking::network_policy_update(n, o)
            }
            (Object::Ingress(n), Object::Ingress(o)) => networking::ingress_update(n, o),
            (Object::IngressClass(n), Object::IngressClass(o)) => {
                networking::ingress_class_update(n, o)
            }
            _ => Vec::new(),
        }
    }

    /// The kind's `ValidateStatusUpdate`.
    pub(crate) fn validate_status_update(&self, old: &Object) -> Vec<FieldError> {
        match (self, old) {
            (Object::Namespace(n), Object::Namespace(o)) => corev1::namespace_status_update(n, o),
            (Object::Node(n), Object::Node(o)) => corev1::node_update(n, o),
            (Object::Pod(n), Object::Pod(o)) => pod::pod_status_update(n, o),
            (Object::Service(n), Object::Service(o)) => corev1::service_status_update(n, o),
            (Object::Deployment(n), Object::Deployment(o)) => apps::deployment_status_update(n, o),
            (Object::ReplicaSet(n), Object::ReplicaSet(o)) => apps::replica_set_status_update(n, o),
            (Object::Ingress(n), Object::Ingress(o)) => networking::ingress_status_update(n, o),
            _ => Vec::new(),
        }
    }
}
