//! Container specs to processes: what program a container runs, with which arguments, environment
//! and working directory. Pure: the host's programs are looked up through the [`Images`] trait.
//!
//! ```text
//!  Pod + Container + PodContext ──plan_container──► ProcessSpec { program, args, env, workingDir }
//!                                    │                 or Waiting { ErrImagePull | CreateContainerConfigError }
//!            command set ────────────┼─► host program found in PATH        → that program
//!                                    ├─► else built-in image               → knet image NAME command... args...
//!            no command, built-in ───┼─► knet image NAME args...
//!            no command, other image ┴─► Waiting ErrImagePull (no registry is reachable)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod};

use crate::expand::expand;

/// `PATH` a container gets when neither the pod nor the host gives one: the default of containerd and
/// runc for images without `ENV PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Waiting reason when the image cannot be had (kubelet `images.ErrImagePull`).
pub const REASON_ERR_IMAGE_PULL: &str = "ErrImagePull";
/// Waiting reason between two attempts to get an image (kubelet `images.ErrImagePullBackOff`).
pub const REASON_IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
/// Waiting reason when the container's configuration (env sources) cannot be built
/// (kubelet `kubecontainer.ErrCreateContainerConfig`).
pub const REASON_CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";
/// Waiting reason for a container without a usable image reference (kubelet `images.ErrInvalidImageName`).
pub const REASON_INVALID_IMAGE_NAME: &str = "InvalidImageName";

/// How one container instance is started: a process, before the pod's [`Sandbox`](crate::Sandbox)
/// puts it in the pod's namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program: an absolute host path when it was found, the knet executable for built-in
    /// images, or `command[0]` as written when it was not found (starting it then fails with
    /// `StartError`, as runc's exec does).
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// The whole environment, in order (the process inherits nothing else).
    pub env: Vec<(String, String)>,
    /// `workingDir`, `/` when the container gives none.
    pub working_dir: PathBuf,
    /// The container's `image`, as `ContainerStatus.image` reports it.
    pub image: String,
    /// `ContainerStatus.imageID`: `knet://builtin/NAME` for a built-in image, else the host program's path.
    pub image_id: String,
}

/// Why a container cannot be started yet: the `state.waiting` kubelet reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// `ErrImagePull`, `CreateContainerConfigError`, `InvalidImageName`.
    pub reason: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Waiting {
    fn new(reason: &str, message: impl Into<String>) -> Self {
        Self {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// What a container can run: knet's built-in images and the host's programs.
pub trait Images: Send + Sync {
    /// The canonical name of the built-in image `image` refers to (see [`knet_images::resolve`]).
    fn builtin(&self, image: &str) -> Option<&'static str> {
        knet_images::resolve(image).map(|i| i.name)
    }
    /// The executable that runs built-in images as `EXE image NAME ARGS...` (the knet binary).
    fn knet_executable(&self) -> &Path;
    /// Finds `program` as execvp(3) does: a name with a `/` is a path (relative to `working_dir`),
    /// any other name is looked up in the directories of `path`. Only executable regular files count.
    fn find_program(&self, program: &str, path: &str, working_dir: &Path) -> Option<PathBuf>;
    /// The environment every container starts from, before the pod's own (`PATH`, `HOME`): the
    /// `ENV` of an image.
    fn base_env(&self) -> Vec<(String, String)>;
}

/// [`Images`] of the machine knet runs on: built-in images run by `knet_executable`, host programs
/// found on the file system with the agent's own `PATH` (or [`DEFAULT_PATH`]).
#[derive(Debug, Clone)]
pub struct HostImages {
    knet: PathBuf,
    path: String,
    home: Option<String>,
}

impl HostImages {
    /// Host images whose built-ins run through `knet_executable` (normally `std::env::current_exe()`
    /// of the knet binary).
    pub fn new(knet_executable: impl Into<PathBuf>) -> Self {
        let path = std::env::var("PATH")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_PATH.to_owned());
        Self {
            knet: knet_executable.into(),
            path,
            home: std::env::var("HOME").ok().filter(|h| !h.is_empty()),
        }
    }
}

impl Images for HostImages {
    fn knet_executable(&self) -> &Path {
        &self.knet
    }

    fn find_program(&self, program: &str, path: &str, working_dir: &Path) -> Option<PathBuf> {
        find_executable(program, path, working_dir)
    }

    fn base_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("PATH".to_owned(), self.path.clone())];
        // runc sets HOME from the user's passwd entry when the image does not; the agent's own HOME
        // is the host user's.
        if let Some(home) = &self.home {
            env.push(("HOME".to_owned(), home.clone()));
        }
        env
    }
}

/// execvp-style lookup on the real file system (see [`Images::find_program`]).
pub fn find_executable(program: &str, path: &str, working_dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        // `./run.sh` in /srv/app is /srv/app/run.sh (`.` components dropped, nothing else).
        let candidate: PathBuf = working_dir
            .join(program)
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect();
        return is_executable(&candidate).then_some(candidate);
    }
    path.split(':')
        .map(|dir| {
            // An empty PATH entry is the current directory (POSIX).
            if dir.is_empty() {
                working_dir.join(program)
            } else {
                working_dir.join(dir).join(program)
            }
        })
        .find(|candidate| is_executable(candidate))
}

/// What the node knows about a pod beyond its spec, for the downward API and env sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodContext {
    /// The pod's addresses (`status.podIP` is the first), empty until the sandbox has one.
    pub pod_ips: Vec<IpAddr>,
    /// The node's addresses (`status.hostIP` is the first).
    pub host_ips: Vec<IpAddr>,
    /// `data` of the ConfigMaps of the pod's namespace, by name (absent: not found).
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// `data` of the Secrets of the pod's namespace, by name, decoded (absent: not found).
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
    /// Service environment variables (`{SVC}_SERVICE_HOST`, ...) as [`crate::service_env`] computes
    /// them, `enableServiceLinks` already applied; the container's own variables win over them.
    pub service_env: BTreeMap<String, String>,
}

/// The hostname of a pod's containers: `spec.hostname`, else the pod name, cut to 63 characters
/// (kubelet `GeneratePodHostNameAndDomain`, pkg/kubelet/kubelet_pods.go).
pub fn pod_hostname(pod: &Pod) -> String {
    let spec_hostname = pod.spec.as_ref().and_then(|s| s.hostname.as_deref());
    let name = spec_hostname
        .filter(|h| !h.is_empty())
        .or(pod.metadata.name.as_deref())
        .unwrap_or_default();
    // Truncation as kubelet's truncatePodHostnameIfNeeded: cut at 63 and trim trailing '-' and '.'.
    let cut: String = name.chars().take(63).collect();
    if cut.len() < name.len() {
        cut.trim_end_matches(['-', '.']).to_owned()
    } else {
        cut
    }
}

/// Plans how `container` of `pod` runs (see the module doc): the image and command rules of
/// Kubernetes (`command` replaces the image's ENTRYPOINT, `args` its CMD), the container's
/// environment as kubelet's `makeEnvironmentVariables` builds it (pkg/kubelet/kubelet_pods.go:
/// `envFrom`, then `env` with `$(VAR)` expansion over earlier variables and service links, the
/// downward API, ConfigMap and Secret keys), and `$(VAR)` expansion of `command` and `args` over the
/// result (`ExpandContainerCommandAndArgs`, pkg/kubelet/container/helpers.go).
///
/// The process also gets `HOSTNAME` (as containerd sets it) and, for built-in images, `POD_NAME`,
/// which the images report as their hostname; both can be overridden by `env`.
pub fn plan_container(
    pod: &Pod,
    container: &Container,
    context: &PodContext,
    images: &dyn Images,
) -> Result<ProcessSpec, Waiting> {
    let image = container.image.clone().unwrap_or_default();
    let mut command = container.command.clone().unwrap_or_default();
    let mut container_args = container.args.clone().unwrap_or_default();
    let builtin = images.builtin(&image);
    if command.is_empty()
        && builtin.is_none()
        && let Some(cmd) = base_image_cmd(&image)
    {
        // No ENTRYPOINT: `args` replace the image's CMD and name the program
        // (https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes).
        command = if container_args.is_empty() {
            vec![cmd.to_owned()]
        } else {
            std::mem::take(&mut container_args)
        };
    }
    if command.is_empty() {
        if image.trim().is_empty() {
            return Err(Waiting::new(
                REASON_INVALID_IMAGE_NAME,
                "the container has neither an image nor a command; give it a `command` (a host program) \
                 or a built-in image",
            ));
        }
        if builtin.is_none() {
            return Err(Waiting::new(
                REASON_ERR_IMAGE_PULL,
                image_not_built_in(&image),
            ));
        }
    }

    let mut env = Env::default();
    for (name, value) in images.base_env() {
        env.set(name, value);
    }
    env.set("HOSTNAME".into(), pod_hostname(pod));
    if builtin.is_some() {
        env.set(
            "POD_NAME".into(),
            pod.metadata.name.clone().unwrap_or_default(),
        );
    }
    let declared = container_env(pod, container, context)?;
    for (name, value) in declared {
        env.set(name, value);
    }

    let lookup = |name: &str| env.get(name).map(str::to_owned);
    let command: Vec<String> = command.iter().map(|c| expand(c, lookup)).collect();
    let args: Vec<String> = container_args.iter().map(|a| expand(a, lookup)).collect();
    let working_dir = container
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from);

    let builtin_spec = |name: &str, rest: Vec<String>| {
        let mut argv = vec!["image".to_owned(), name.to_owned()];
        argv.extend(rest);
        (
            images.knet_executable().to_path_buf(),
            argv,
            format!("knet://builtin/{name}"),
        )
    };
    let (program, argv, image_id) = match command.split_first() {
        None => {
            let Some(name) = builtin else {
                return Err(Waiting::new(
                    REASON_ERR_IMAGE_PULL,
                    image_not_built_in(&image),
                ));
            };
            builtin_spec(name, args)
        }
        Some((first, rest)) => {
            let path = env.get("PATH").unwrap_or(DEFAULT_PATH);
            match (images.find_program(first, path, &working_dir), builtin) {
                (Some(found), _) => {
                    let mut argv = rest.to_vec();
                    argv.extend(args);
                    let id = found.display().to_string();
                    (found, argv, id)
                }
                // `command: ["/agnhost", "netexec"]` with a built-in image: the image's own
                // program, which the image skips as its program name.
                (None, Some(name)) => {
                    let mut argv = command.clone();
                    argv.extend(args);
                    builtin_spec(name, argv)
                }
                // Not found anywhere: starting it fails with StartError, as runc's exec does.
                (None, None) => {
                    let mut argv = rest.to_vec();
                    argv.extend(args);
                    (PathBuf::from(first), argv, first.clone())
                }
            }
        }
    };

    Ok(ProcessSpec {
        program,
        args: argv,
        env: env.vars,
        working_dir,
        image,
        image_id,
    })
}

/// Base OS images (no ENTRYPOINT, a shell as CMD), whose programs knet takes from the host as it
/// does for any `command`: `kubectl run tools --image=busybox -- sleep 3600` runs the host's
/// `sleep`. By repository name (registry, namespace, tag and digest aside): the image's CMD.
const BASE_IMAGES: [(&str, &str); 10] = [
    ("busybox", "sh"),
    ("alpine", "/bin/sh"),
    ("ubuntu", "/bin/bash"),
    ("debian", "bash"),
    ("fedora", "/bin/bash"),
    ("centos", "/bin/bash"),
    ("rockylinux", "/bin/bash"),
    ("almalinux", "/bin/bash"),
    ("archlinux", "/usr/bin/bash"),
    ("opensuse/leap", "/bin/bash"),
];

/// The CMD of `image` when it is one of [`BASE_IMAGES`].
fn base_image_cmd(image: &str) -> Option<&'static str> {
    let without_digest = image.split('@').next().unwrap_or_default();
    // A tag is after the last ':' unless that ':' belongs to a registry's port (`host:5000/x`).
    let repo = match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    };
    let repo = repo
        .trim_start_matches("docker.io/")
        .trim_start_matches("library/");
    BASE_IMAGES
        .iter()
        .find(|(name, _)| repo == *name || repo.ends_with(&format!("/{name}")))
        .map(|(_, cmd)| *cmd)
}

fn image_not_built_in(image: &str) -> String {
    let names: Vec<&str> = knet_images::builtin_images()
        .iter()
        .map(|i| i.name)
        .collect();
    let bases: Vec<&str> = BASE_IMAGES.iter().map(|(name, _)| *name).collect();
    format!(
        "image {image:?} is not built into knet and no registry is reachable; give the container a \
         `command` (a host program), use a built-in image ({}) or a base OS image whose `args` run \
         as host programs ({})",
        names.join(", "),
        bases.join(", ")
    )
}

/// An ordered environment in which setting a name again replaces its value in place.
#[derive(Debug, Default)]
struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    fn set(&mut self, name: String, value: String) {
        match self.vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The ConfigMaps and the Secrets (in that order) that the environment of `pod`'s containers
/// (init, sidecar and regular) refers to, by name: through `envFrom` and `valueFrom` key refs.
pub fn env_source_names(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut config_maps = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let Some(spec) = &pod.spec else {
        return (config_maps, secrets);
    };
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers);
    for container in containers {
        for source in container.env_from.iter().flatten() {
            config_maps.extend(source.config_map_ref.as_ref().map(|r| r.name.clone()));
            secrets.extend(source.secret_ref.as_ref().map(|r| r.name.clone()));
        }
        for value_from in container
            .env
            .iter()
            .flatten()
            .filter_map(|v| v.value_from.as_ref())
        {
            let cm = value_from.config_map_key_ref.as_ref();
            config_maps.extend(cm.map(|r| r.name.clone()));
            secrets.extend(value_from.secret_key_ref.as_ref().map(|r| r.name.clone()));
        }
    }
    (config_maps, secrets)
}

/// The container's declared environment: kubelet's `makeEnvironmentVariables`.
fn container_env(
    pod: &Pod,
    container: &Container,
    context: &PodContext,
) -> Result<Vec<(String, String)>, Waiting> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let config_error =
        |message: String| Waiting::new(REASON_CREATE_CONTAINER_CONFIG_ERROR, message);
    // `enableServiceLinks: false` is applied where the set is computed ([`crate::service_env`]):
    // the master `kubernetes` Service's variables stay even then (kubelet `getServiceEnvVarMap`).
    let service_env = &context.service_env;

    let mut env = Env::default();
    // envFrom first; `env` then overrides it.
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.as_deref().unwrap_or_default();
        let data = if let Some(cm) = &source.config_map_ref {
            let data = context.config_maps.get(&cm.name);
            if data.is_none() && !cm.optional.unwrap_or(false) {
                return Err(config_error(format!("configmap {:?} not found", cm.name)));
            }
            data
        } else if let Some(secret) = &source.secret_ref {
            let data = context.secrets.get(&secret.name);
            if data.is_none() && !secret.optional.unwrap_or(false) {
                return Err(config_error(format!("secret {:?} not found", secret.name)));
            }
            data
        } else {
            None
        };
        for (key, value) in data.into_iter().flatten() {
            env.set(format!("{prefix}{key}"), value.clone());
        }
    }

    for var in container.env.iter().flatten() {
        let Some(value) = env_value(pod, namespace, var, context, &env, service_env)? else {
            continue;
        };
        env.set(var.name.clone(), value);
    }

    for (name, value) in service_env {
        if env.get(name).is_none() {
            env.set(name.clone(), value.clone());
        }
    }
    Ok(env.vars)
}

/// One `env` entry's value; `None` when an optional source is missing (the variable is not set).
fn env_value(
    pod: &Pod,
    namespace: &str,
    var: &EnvVar,
    context: &PodContext,
    declared: &Env,
    service_env: &BTreeMap<String, String>,
) -> Result<Option<String>, Waiting> {
    let config_error =
        |message: String| Waiting::new(REASON_CREATE_CONTAINER_CONFIG_ERROR, message);
    if let Some(value) = var.value.as_deref().filter(|v| !v.is_empty()) {
        let lookup = |name: &str| {
            declared
                .get(name)
                .or_else(|| service_env.get(name).map(String::as_str))
                .map(str::to_owned)
        };
        return Ok(Some(expand(value, lookup)));
    }
    let Some(source) = &var.value_from else {
        return Ok(Some(String::new()));
    };
    if let Some(field) = &source.field_ref {
        return field_value(pod, &field.field_path, context)
            .map(Some)
            .map_err(config_error);
    }
    if let Some(key_ref) = &source.config_map_key_ref {
        let optional = key_ref.optional.unwrap_or(false);
        let Some(data) = context.config_maps.get(&key_ref.name) else {
            return if optional {
                Ok(None)
            } else {
                Err(config_error(format!(
                    "configmap {:?} not found",
                    key_ref.name
                )))
            };
        };
        return match data.get(&key_ref.key) {
            Some(v) => Ok(Some(v.clone())),
            None if optional => Ok(None),
            None => Err(config_error(format!(
                "couldn't find key {} in ConfigMap {namespace}/{}",
                key_ref.key, key_ref.name
            ))),
        };
    }
    if let Some(key_ref) = &source.secret_key_ref {
        let optional = key_ref.optional.unwrap_or(false);
        let Some(data) = context.secrets.get(&key_ref.name) else {
            return if optional {
                Ok(None)
            } else {
                Err(config_error(format!("secret {:?} not found", key_ref.name)))
            };
        };
        return match data.get(&key_ref.key) {
            Some(v) => Ok(Some(v.clone())),
            None if optional => Ok(None),
            None => Err(config_error(format!(
                "couldn't find key {} in Secret {namespace}/{}",
                key_ref.key, key_ref.name
            ))),
        };
    }
    if source.resource_field_ref.is_some() {
        return Err(config_error(format!(
            "env {:?}: resourceFieldRef is not supported by knet (containers have no resource limits); \
             use a literal value",
            var.name
        )));
    }
    Ok(Some(String::new()))
}

/// The downward API for env: kubelet `podFieldSelectorRuntimeValue` (pkg/kubelet/kubelet_pods.go)
/// and `fieldpath.ExtractFieldPathAsString` (pkg/fieldpath/fieldpath.go).
fn field_value(pod: &Pod, field_path: &str, context: &PodContext) -> Result<String, String> {
    let spec = pod.spec.as_ref();
    let meta = &pod.metadata;
    let join = |ips: &[IpAddr]| {
        ips.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let first = |ips: &[IpAddr]| ips.first().map(ToString::to_string).unwrap_or_default();
    let value = match field_path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "spec.terminationGracePeriodSeconds" => spec
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
            .to_string(),
        "status.hostIP" => first(&context.host_ips),
        "status.hostIPs" => join(&context.host_ips),
        "status.podIP" => first(&context.pod_ips),
        "status.podIPs" => join(&context.pod_ips),
        other => {
            let subscript = |prefix: &str| {
                other
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('['))
                    .and_then(|r| r.strip_suffix(']'))
                    .map(|k| k.trim_matches(|c| c == '\'' || c == '"').to_owned())
            };
            if let Some(key) = subscript("metadata.labels") {
                meta.labels
                    .as_ref()
                    .and_then(|l| l.get(&key).cloned())
                    .unwrap_or_default()
            } else if let Some(key) = subscript("metadata.annotations") {
                meta.annotations
                    .as_ref()
                    .and_then(|a| a.get(&key).cloned())
                    .unwrap_or_default()
            } else {
                return Err(format!("unsupported fieldPath: {other}"));
            }
        }
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVarSource, ObjectFieldSelector,
        PodSpec, SecretEnvSource, SecretKeySelector, Service, ServicePort, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    /// Images whose host has exactly the programs listed (absolute paths).
    struct FakeImages {
        programs: BTreeSet<&'static str>,
    }

    impl FakeImages {
        fn new(programs: &[&'static str]) -> Self {
            Self {
                programs: programs.iter().copied().collect(),
            }
        }
    }

    impl Images for FakeImages {
        fn knet_executable(&self) -> &Path {
            Path::new("/opt/knet/bin/knet")
        }
        fn find_program(&self, program: &str, path: &str, working_dir: &Path) -> Option<PathBuf> {
            let candidates: Vec<PathBuf> = if program.contains('/') {
                vec![working_dir.join(program.trim_start_matches("./"))]
            } else {
                path.split(':')
                    .map(|d| Path::new(d).join(program))
                    .collect()
            };
            candidates
                .into_iter()
                .find(|c| c.to_str().is_some_and(|s| self.programs.contains(s)))
        }
        fn base_env(&self) -> Vec<(String, String)> {
            vec![("PATH".into(), "/usr/bin:/bin".into())]
        }
    }

    fn mk_pod(name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                uid: Some("8d1c3a52-0000-4000-8000-000000000001".into()),
                labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("knet-worker".into()),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn mk_container(image: &str) -> Container {
        Container {
            name: "app".into(),
            image: Some(image.into()),
            ..Container::default()
        }
    }

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| (*s).to_owned()).collect())
    }

    fn env(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..EnvVar::default()
        }
    }

    fn field_env(name: &str, path: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: path.into(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }
    }

    fn plan(container: &Container) -> Result<ProcessSpec, Waiting> {
        plan_with(container, &PodContext::default())
    }

    fn plan_with(container: &Container, context: &PodContext) -> Result<ProcessSpec, Waiting> {
        let images = FakeImages::new(&["/bin/sh", "/usr/bin/env", "/srv/app/run.sh"]);
        plan_container(&mk_pod("web-0"), container, context, &images)
    }

    fn env_of<'a>(spec: &'a ProcessSpec, name: &str) -> Option<&'a str> {
        spec.env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_command_runs_the_host_program_found_in_path_with_command_then_args() {
        let mut c = mk_container("busybox:1.36");
        c.command = strings(&["sh", "-c"]);
        c.args = strings(&["echo hi"]);
        let spec = plan(&c).unwrap();
        assert_eq!(spec.program, PathBuf::from("/bin/sh"));
        assert_eq!(spec.args, ["-c", "echo hi"]);
        assert_eq!(spec.image_id, "/bin/sh");
        assert_eq!(spec.image, "busybox:1.36");
        assert_eq!(spec.working_dir, PathBuf::from("/"));
    }

    #[test]
    fn a_command_with_a_slash_is_a_path_relative_to_the_working_dir() {
        let mut c = mk_container("contoso/app");
        c.command = strings(&["./run.sh"]);
        c.working_dir = Some("/srv/app".into());
        let spec = plan(&c).unwrap();
        assert_eq!(spec.program, PathBuf::from("/srv/app/run.sh"));
        assert_eq!(spec.working_dir, PathBuf::from("/srv/app"));
    }

    #[test]
    fn a_built_in_image_without_command_runs_knet_image_with_args() {
        let mut c = mk_container("registry.k8s.io/e2e-test-images/agnhost:2.47");
        c.args = strings(&["netexec", "--http-port=8080"]);
        let spec = plan(&c).unwrap();
        assert_eq!(spec.program, PathBuf::from("/opt/knet/bin/knet"));
        assert_eq!(
            spec.args,
            ["image", "agnhost", "netexec", "--http-port=8080"]
        );
        assert_eq!(spec.image_id, "knet://builtin/agnhost");
        assert_eq!(env_of(&spec, "POD_NAME"), Some("web-0"));
        assert_eq!(env_of(&spec, "HOSTNAME"), Some("web-0"));
    }

    #[test]
    fn a_built_in_image_whose_command_names_its_own_program_runs_the_built_in() {
        let mut c = mk_container("registry.k8s.io/e2e-test-images/agnhost:2.47");
        c.command = strings(&["/agnhost", "netexec"]);
        c.args = strings(&["--http-port=8080"]);
        let spec = plan(&c).unwrap();
        assert_eq!(spec.program, PathBuf::from("/opt/knet/bin/knet"));
        assert_eq!(
            spec.args,
            [
                "image",
                "agnhost",
                "/agnhost",
                "netexec",
                "--http-port=8080"
            ]
        );
    }

    #[test]
    fn a_host_program_wins_over_a_built_in_image() {
        let mut c = mk_container("netexec");
        c.command = strings(&["sh", "-c", "true"]);
        let spec = plan(&c).unwrap();
        assert_eq!(spec.program, PathBuf::from("/bin/sh"));
        assert_eq!(spec.image_id, "/bin/sh");
        // POD_NAME is for the built-in programs; a built-in image still gets it.
        assert_eq!(env_of(&spec, "POD_NAME"), Some("web-0"));
    }

    #[test]
    fn an_image_that_is_not_built_in_and_has_no_command_waits_with_err_image_pull() {
        let waiting = plan(&mk_container("contoso/mybackend")).unwrap_err();
        assert_eq!(waiting.reason, "ErrImagePull");
        assert!(
            waiting.message.starts_with(
                "image \"contoso/mybackend\" is not built into knet and no registry is reachable; \
                 give the container a `command` (a host program), use a built-in image ("
            ),
            "{}",
            waiting.message
        );
        for name in ["netexec", "client", "agnhost"] {
            assert!(waiting.message.contains(name), "{}", waiting.message);
        }
    }

    #[test]
    fn a_command_that_is_nowhere_to_be_found_is_kept_as_written() {
        let mut c = mk_container("contoso/mybackend");
        c.command = strings(&["mybackend", "--port=8080"]);
        let spec = plan(&c).unwrap();
        assert_eq!(spec.program, PathBuf::from("mybackend"));
        assert_eq!(spec.args, ["--port=8080"]);
    }

    #[test]
    fn a_container_without_image_or_command_has_an_invalid_image_name() {
        let mut c = mk_container("");
        c.image = None;
        assert_eq!(plan(&c).unwrap_err().reason, "InvalidImageName");
    }

    #[test]
    fn env_values_expand_earlier_variables_and_leave_unknown_ones() {
        let mut c = mk_container("busybox");
        c.command = strings(&["sh"]);
        c.env = Some(vec![
            env("GREETING", "hello"),
            env("MESSAGE", "$(GREETING) world $(LATER) $$(GREETING)"),
            env("LATER", "late"),
        ]);
        let spec = plan(&c).unwrap();
        assert_eq!(
            env_of(&spec, "MESSAGE"),
            Some("hello world $(LATER) $(GREETING)")
        );
    }

    #[test]
    fn command_and_args_expand_the_final_environment() {
        let mut c = mk_container("busybox");
        c.command = strings(&["sh", "-c", "echo $(MESSAGE)"]);
        c.args = strings(&["$(POD_IP)", "$$(POD_IP)", "$(UNDEFINED)", "$HOME"]);
        c.env = Some(vec![
            env("MESSAGE", "hi"),
            field_env("POD_IP", "status.podIP"),
        ]);
        let context = PodContext {
            pod_ips: vec!["10.244.1.5".parse().unwrap()],
            ..PodContext::default()
        };
        let spec = plan_with(&c, &context).unwrap();
        assert_eq!(
            spec.args,
            [
                "-c",
                "echo hi",
                "10.244.1.5",
                "$(POD_IP)",
                "$(UNDEFINED)",
                "$HOME"
            ]
        );
    }

    #[test]
    fn the_downward_api_gives_pod_and_node_fields() {
        let mut c = mk_container("busybox");
        c.command = strings(&["env"]);
        c.env = Some(vec![
            field_env("MY_NAME", "metadata.name"),
            field_env("MY_NS", "metadata.namespace"),
            field_env("MY_UID", "metadata.uid"),
            field_env("MY_NODE", "spec.nodeName"),
            field_env("MY_IP", "status.podIP"),
            field_env("MY_HOST_IP", "status.hostIP"),
            field_env("MY_APP", "metadata.labels['app']"),
        ]);
        let context = PodContext {
            pod_ips: vec!["10.244.1.5".parse().unwrap()],
            host_ips: vec!["172.18.0.3".parse().unwrap()],
            ..PodContext::default()
        };
        let spec = plan_with(&c, &context).unwrap();
        let want = [
            ("MY_NAME", "web-0"),
            ("MY_NS", "shop"),
            ("MY_UID", "8d1c3a52-0000-4000-8000-000000000001"),
            ("MY_NODE", "knet-worker"),
            ("MY_IP", "10.244.1.5"),
            ("MY_HOST_IP", "172.18.0.3"),
            ("MY_APP", "web"),
        ];
        for (name, value) in want {
            assert_eq!(env_of(&spec, name), Some(value), "{name}");
        }
        assert_eq!(spec.program, PathBuf::from("/usr/bin/env"));
    }

    #[test]
    fn an_unsupported_field_path_is_a_create_container_config_error() {
        let mut c = mk_container("busybox");
        c.command = strings(&["sh"]);
        c.env = Some(vec![field_env("X", "status.phase")]);
        let waiting = plan(&c).unwrap_err();
        assert_eq!(waiting.reason, "CreateContainerConfigError");
        assert_eq!(waiting.message, "unsupported fieldPath: status.phase");
    }

    #[test]
    fn config_map_keys_resolve_and_missing_ones_say_what_is_missing() {
        let key_ref = |name: &str, key: &str, optional: Option<bool>| EnvVar {
            name: "LEVEL".into(),
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: name.into(),
                    key: key.into(),
                    optional,
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        };
        let context = PodContext {
            config_maps: BTreeMap::from([(
                "settings".into(),
                BTreeMap::from([("level".into(), "debug".into())]),
            )]),
            ..PodContext::default()
        };
        let mut c = mk_container("busybox");
        c.command = strings(&["sh"]);

        c.env = Some(vec![key_ref("settings", "level", None)]);
        let spec = plan_with(&c, &context).unwrap();
        assert_eq!(env_of(&spec, "LEVEL"), Some("debug"));

        c.env = Some(vec![key_ref("settings", "colour", None)]);
        let waiting = plan_with(&c, &context).unwrap_err();
        assert_eq!(
            waiting.message,
            "couldn't find key colour in ConfigMap shop/settings"
        );

        c.env = Some(vec![key_ref("absent", "level", None)]);
        let waiting = plan_with(&c, &context).unwrap_err();
        assert_eq!(waiting.reason, "CreateContainerConfigError");
        assert_eq!(waiting.message, "configmap \"absent\" not found");

        c.env = Some(vec![key_ref("absent", "level", Some(true))]);
        let spec = plan_with(&c, &context).unwrap();
        assert_eq!(env_of(&spec, "LEVEL"), None);
    }

    #[test]
    fn env_from_is_prefixed_and_overridden_by_env() {
        let context = PodContext {
            config_maps: BTreeMap::from([(
                "settings".into(),
                BTreeMap::from([
                    ("level".into(), "debug".into()),
                    ("mode".into(), "fast".into()),
                ]),
            )]),
            secrets: BTreeMap::from([(
                "creds".into(),
                BTreeMap::from([("token".into(), "s3cr3t".into())]),
            )]),
            ..PodContext::default()
        };
        let mut c = mk_container("busybox");
        c.command = strings(&["sh"]);
        c.env_from = Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: "settings".into(),
                optional: None,
            }),
            prefix: Some("CFG_".into()),
            ..EnvFromSource::default()
        }]);
        c.env = Some(vec![
            env("CFG_mode", "slow"),
            EnvVar {
                name: "TOKEN".into(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: "creds".into(),
                        key: "token".into(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
        ]);
        let spec = plan_with(&c, &context).unwrap();
        assert_eq!(env_of(&spec, "CFG_level"), Some("debug"));
        assert_eq!(env_of(&spec, "CFG_mode"), Some("slow"));
        assert_eq!(env_of(&spec, "TOKEN"), Some("s3cr3t"));
    }

    #[test]
    fn base_os_images_run_their_args_or_their_shell_from_the_host() {
        let mut c = mk_container("busybox");
        c.args = strings(&["sh", "-c", "echo hi"]);
        let spec = plan_with(&c, &PodContext::default()).unwrap();
        assert_eq!(spec.program, PathBuf::from("/bin/sh"));
        assert_eq!(spec.args, ["-c", "echo hi"]);

        let bare = mk_container("docker.io/library/alpine:3.20");
        let spec = plan_with(&bare, &PodContext::default()).unwrap();
        assert_eq!(spec.program, PathBuf::from("/bin/sh"), "alpine's CMD");
        assert!(spec.args.is_empty());

        // A command still wins over args-as-program.
        let mut c = mk_container("registry.local:5000/tools/busybox@sha256:0123");
        c.command = strings(&["/usr/bin/env"]);
        c.args = strings(&["true"]);
        let spec = plan_with(&c, &PodContext::default()).unwrap();
        assert_eq!(spec.program, PathBuf::from("/usr/bin/env"));
        assert_eq!(spec.args, ["true"]);

        for other in ["nginx:1.27", "mybusybox", "example.com/busybox-tools:1"] {
            let err = plan_with(&mk_container(other), &PodContext::default()).unwrap_err();
            assert_eq!(err.reason, REASON_ERR_IMAGE_PULL, "{other}");
            assert!(err.message.contains("busybox, alpine"), "{}", err.message);
        }
        assert_eq!(base_image_cmd("ubuntu:24.04"), Some("/bin/bash"));
        assert_eq!(base_image_cmd("quay.io/opensuse/leap"), Some("/bin/bash"));
        assert_eq!(base_image_cmd("localhost:5000/debian"), Some("bash"));
    }

    #[test]
    fn env_source_names_cover_env_from_key_refs_and_init_containers() {
        let key_ref = |name: &str, cm: bool| EnvVar {
            name: "V".into(),
            value_from: Some(EnvVarSource {
                config_map_key_ref: cm.then(|| ConfigMapKeySelector {
                    name: name.into(),
                    key: "k".into(),
                    optional: None,
                }),
                secret_key_ref: (!cm).then(|| SecretKeySelector {
                    name: name.into(),
                    key: "k".into(),
                    optional: Some(true),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        };
        let mut init = mk_container("busybox");
        init.env_from = Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: "init-creds".into(),
                optional: None,
            }),
            ..EnvFromSource::default()
        }]);
        let mut app = mk_container("busybox");
        app.env = Some(vec![
            env("PLAIN", "x"),
            key_ref("settings", true),
            key_ref("creds", false),
        ]);
        app.env_from = Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: "more".into(),
                optional: Some(true),
            }),
            ..EnvFromSource::default()
        }]);
        let mut pod = mk_pod("web-0");
        let spec = pod.spec.get_or_insert_with(PodSpec::default);
        spec.init_containers = Some(vec![init]);
        spec.containers = vec![app];
        let (config_maps, secrets) = env_source_names(&pod);
        assert_eq!(
            config_maps,
            BTreeSet::from(["more".into(), "settings".into()])
        );
        assert_eq!(
            secrets,
            BTreeSet::from(["creds".into(), "init-creds".into()])
        );
        assert_eq!(
            env_source_names(&mk_pod("bare")),
            (BTreeSet::new(), BTreeSet::new())
        );
    }

    #[test]
    fn service_variables_are_added_and_declared_env_wins() {
        let context = PodContext {
            service_env: BTreeMap::from([
                ("BACKEND_SERVICE_HOST".into(), "10.96.0.20".into()),
                ("GREETING".into(), "from-service".into()),
            ]),
            ..PodContext::default()
        };
        let mut c = mk_container("busybox");
        c.command = strings(&["sh"]);
        c.env = Some(vec![
            env("GREETING", "declared"),
            env("URL", "http://$(BACKEND_SERVICE_HOST)/"),
        ]);
        let spec = plan_with(&c, &context).unwrap();
        assert_eq!(env_of(&spec, "BACKEND_SERVICE_HOST"), Some("10.96.0.20"));
        assert_eq!(env_of(&spec, "GREETING"), Some("declared"));
        assert_eq!(env_of(&spec, "URL"), Some("http://10.96.0.20/"));
    }

    #[test]
    fn without_service_links_only_the_kubernetes_service_variables_are_added() {
        let service = |ns: &str, name: &str, ip: &str| Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.into()),
                ports: Some(vec![ServicePort {
                    port: 443,
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        let services = [
            service("default", "kubernetes", "10.96.0.1"),
            service("shop", "backend", "10.96.0.20"),
        ];
        let mut pod = mk_pod("web-0");
        if let Some(spec) = pod.spec.as_mut() {
            spec.enable_service_links = Some(false);
        }
        let context = PodContext {
            service_env: crate::service_env("shop", &services, false),
            ..PodContext::default()
        };
        let mut c = mk_container("busybox");
        c.command = strings(&["sh"]);
        c.env = Some(vec![
            env("URL", "http://$(BACKEND_SERVICE_HOST)/"),
            env("API", "https://$(KUBERNETES_SERVICE_HOST)/"),
        ]);
        let images = FakeImages::new(&["/bin/sh"]);
        let spec = plan_container(&pod, &c, &context, &images).unwrap();
        assert_eq!(env_of(&spec, "BACKEND_SERVICE_HOST"), None);
        assert_eq!(
            env_of(&spec, "URL"),
            Some("http://$(BACKEND_SERVICE_HOST)/")
        );
        assert_eq!(env_of(&spec, "KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
        assert_eq!(env_of(&spec, "API"), Some("https://10.96.0.1/"));
    }

    #[test]
    fn the_environment_starts_from_the_image_env_and_hostname_can_be_overridden() {
        let mut c = mk_container("busybox");
        c.command = strings(&["sh"]);
        c.env = Some(vec![env("HOSTNAME", "custom"), env("PATH", "/bin")]);
        let spec = plan(&c).unwrap();
        assert_eq!(env_of(&spec, "HOSTNAME"), Some("custom"));
        assert_eq!(env_of(&spec, "PATH"), Some("/bin"));
        assert_eq!(env_of(&spec, "POD_NAME"), None);
        // The container's own PATH is where its command is looked up.
        assert_eq!(spec.program, PathBuf::from("/bin/sh"));
    }

    #[test]
    fn the_pod_hostname_is_spec_hostname_or_the_name_cut_to_63_characters() {
        let mut pod = mk_pod(&format!("{}-x", "a".repeat(62)));
        assert_eq!(pod_hostname(&pod), "a".repeat(62));
        if let Some(spec) = pod.spec.as_mut() {
            spec.hostname = Some("db-0".into());
        }
        assert_eq!(pod_hostname(&pod), "db-0");
    }

    #[test]
    fn execvp_lookup_finds_executables_only() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let data = dir.path().join("data");
        std::fs::write(&data, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("/nonexistent:{}", dir.path().display());
        assert_eq!(find_executable("tool", &path, Path::new("/")), Some(exe));
        assert_eq!(find_executable("data", &path, Path::new("/")), None);
        assert_eq!(find_executable("", &path, Path::new("/")), None);
        assert_eq!(
            find_executable("./data", &path, dir.path()),
            None,
            "not executable"
        );
        assert_eq!(
            find_executable("./tool", "", dir.path()),
            Some(dir.path().join("tool"))
        );
    }
}
