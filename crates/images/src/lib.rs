//! Built-in container images: the programs a knet pod's container runs when its `image` names one
//! of them (`netexec`, `client`, `pause`, `sleep`, and `agnhost` with its subcommands), since no
//! image registry is reachable. It is not a container runtime: the node agent runs these in a pod.
//!
//! ```text
//!  pod image ref ──resolve()──► BuiltinImage ──run(name, args)──► exit code
//!  "registry.k8s.io/e2e-test-images/agnhost:2.47" + ["netexec", "--http-port=8080"]
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod agnhost;
mod cli;
pub mod client;
mod console;
mod duration;
mod error;
mod hostname;
mod listen;
pub mod netexec;
mod pause;
pub mod serve_hostname;

use std::future::Future;
use std::pin::Pin;

pub use console::Console;
pub use duration::{parse_go_duration, parse_sleep_duration};
pub use error::ImageError;
pub use hostname::pod_hostname;

/// Exit code for a command line the image does not understand (as Go's flag packages and clap use).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the image is not built in (as a shell reports a command that is not found).
pub const EXIT_UNKNOWN_IMAGE: i32 = 127;

/// An image knet carries: its name as written in a pod's `image` (any registry prefix and tag are
/// ignored, e.g. `registry.k8s.io/e2e-test-images/agnhost:2.47`, `knet/netexec`, `netexec`), with
/// a one-line description for the README and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinImage {
    /// Canonical name, as accepted by [`run`].
    pub name: &'static str,
    /// One line saying what the program does.
    pub description: &'static str,
}

static IMAGES: [BuiltinImage; 6] = [
    BuiltinImage {
        name: "agnhost",
        description: "Kubernetes' e2e test image: subcommands netexec, connect, serve-hostname, pause",
    },
    BuiltinImage {
        name: "netexec",
        description: "HTTP/UDP/TCP test server as agnhost netexec: /hostname, /clientip, /echo, /dial, /shell, health switches",
    },
    BuiltinImage {
        name: "client",
        description: "test client: http, tcp, udp, connect (REFUSED/TIMEOUT), rr (per-backend counts), latency (TCP connect p50/p99)",
    },
    BuiltinImage {
        name: "serve-hostname",
        description: "serves the pod's hostname over HTTP, TCP or UDP, as agnhost serve-hostname",
    },
    BuiltinImage {
        name: "pause",
        description: "the pod sandbox container: sleeps until SIGTERM or SIGINT, reaps zombies as PID 1",
    },
    BuiltinImage {
        name: "sleep",
        description: "sleeps SECONDS (or `infinity`), then exits 0",
    },
];

/// Other names an image goes by, so references written for upstream images resolve
/// (`registry.k8s.io/pause:3.10`, the old `serve_hostname` image).
const ALIASES: [(&str, &str); 1] = [("serve_hostname", "serve-hostname")];

/// Images knet carries, in the order the README lists them.
pub fn builtin_images() -> &'static [BuiltinImage] {
    &IMAGES
}

/// Resolves an image reference to a built-in image: the last path segment of the reference with
/// its `:tag` and `@digest` removed must be a built-in name (or alias). `agnhost` resolves to the
/// `agnhost` image, whose subcommand comes from the container's args, as agnhost's does.
///
/// ```
/// let image = knet_images::resolve("registry.k8s.io/e2e-test-images/agnhost:2.47");
/// assert_eq!(image.map(|i| i.name), Some("agnhost"));
/// ```
pub fn resolve(image: &str) -> Option<&'static BuiltinImage> {
    let name = image_name(image)?;
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, canonical)| *canonical);
    IMAGES.iter().find(|i| i.name == name)
}

/// The repository's last path segment without tag or digest: `a/b/netexec:1.0@sha256:..` → `netexec`.
fn image_name(reference: &str) -> Option<&str> {
    let reference = reference.trim();
    let without_digest = reference.split_once('@').map_or(reference, |(r, _)| r);
    let last = without_digest.rsplit('/').next()?;
    let name = last.split_once(':').map_or(last, |(n, _)| n);
    (!name.is_empty()).then_some(name)
}

/// A future that resolves when the image should stop (SIGTERM in a container).
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs image `name` (any reference [`resolve`] accepts) with `args` (a container's
/// `command`+`args`; a leading program name such as `/agnhost` or `netexec` is skipped) until it
/// exits or receives SIGTERM/SIGINT; returns the process exit code. Builds its own tokio runtime,
/// so it must not be called from inside one (use [`run_image`] there).
pub fn run(name: &str, args: &[String]) -> i32 {
    let console = Console::std();
    let Some(image) = resolve(name) else {
        console.err(&ImageError::unknown_image(name).to_string());
        return EXIT_UNKNOWN_IMAGE;
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        // block_on inside a runtime would panic: say what to do instead.
        console.err("knet_images::run called inside a tokio runtime; use run_image there");
        return 1;
    }
    let mut builder = if matches!(image.name, "pause" | "sleep" | "client") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            console.err(&format!("{}: failed to start the runtime: {e}", image.name));
            return 1;
        }
    };
    runtime.block_on(async {
        let shutdown = match termination_signal() {
            Ok(s) => s,
            Err(e) => {
                console.err(&format!("{}: {e}", image.name));
                return 1;
            }
        };
        run_image(image.name, args, console.clone(), shutdown).await
    })
}

/// A future that completes on the first SIGTERM or SIGINT.
fn termination_signal() -> Result<Shutdown, ImageError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(ImageError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ImageError::Signal)?;
    Ok(Box::pin(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }))
}

/// Runs image `name` inside the caller's tokio runtime, writing its output to `console`, until it
/// exits or `shutdown` completes (then it exits gracefully with 0). Returns the exit code.
pub async fn run_image(name: &str, args: &[String], console: Console, shutdown: Shutdown) -> i32 {
    let Some(image) = resolve(name) else {
        console.err(&ImageError::unknown_image(name).to_string());
        return EXIT_UNKNOWN_IMAGE;
    };
    let args = skip_program_name(image.name, args);
    match image.name {
        "agnhost" => agnhost::run(args, console, shutdown).await,
        "netexec" => netexec::run(args, console, shutdown).await,
        "client" => client::run(args, console, shutdown).await,
        "serve-hostname" => serve_hostname::run(args, console, shutdown).await,
        "pause" => pause::pause(console, shutdown).await,
        "sleep" => pause::sleep(args, console, shutdown).await,
        other => {
            console.err(&ImageError::unknown_image(other).to_string());
            EXIT_UNKNOWN_IMAGE
        }
    }
}

/// Drops `args[0]` when it names the image's own program (`/agnhost`, `netexec`, `/pause`), as a
/// pod's `command: ["/agnhost", "netexec"]` or `command: ["sleep", "10"]` spells it; for an image
/// that is also an agnhost subcommand, an agnhost-style `/agnhost netexec` prefix is dropped too.
fn skip_program_name<'a>(image: &str, args: &'a [String]) -> &'a [String] {
    let is_agnhost = |a: &String| a.rsplit('/').next() == Some("agnhost");
    if image != "agnhost" && args.first().is_some_and(is_agnhost) {
        if args.get(1).is_some_and(|sub| sub == image) {
            return &args[2..];
        }
        return &args[1..];
    }
    match args.split_first() {
        Some((first, rest)) => {
            let base = first.rsplit('/').next().unwrap_or(first);
            let names_image = base == image
                || ALIASES
                    .iter()
                    .any(|(alias, canonical)| *canonical == image && *alias == base);
            if names_image { rest } else { args }
        }
        None => args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(reference: &str) -> Option<&'static str> {
        resolve(reference).map(|i| i.name)
    }

    #[test]
    fn plain_names_resolve_to_themselves() {
        for image in builtin_images() {
            assert_eq!(name_of(image.name), Some(image.name));
        }
    }

    #[test]
    fn registry_prefixes_and_tags_are_ignored() {
        assert_eq!(
            name_of("registry.k8s.io/e2e-test-images/agnhost:2.47"),
            Some("agnhost")
        );
        assert_eq!(name_of("knet/netexec"), Some("netexec"));
        assert_eq!(name_of("netexec:latest"), Some("netexec"));
        assert_eq!(name_of("localhost:5000/knet/client:v1"), Some("client"));
        assert_eq!(name_of("registry.k8s.io/pause:3.10"), Some("pause"));
    }

    #[test]
    fn digests_are_ignored() {
        assert_eq!(
            name_of("registry.k8s.io/e2e-test-images/agnhost@sha256:0123abcd"),
            Some("agnhost")
        );
        assert_eq!(name_of("knet/sleep:1@sha256:0123abcd"), Some("sleep"));
    }

    #[test]
    fn the_old_serve_hostname_image_name_is_an_alias() {
        assert_eq!(
            name_of("gcr.io/google_containers/serve_hostname:v1.4"),
            Some("serve-hostname")
        );
    }

    #[test]
    fn images_that_are_not_built_in_do_not_resolve() {
        assert_eq!(name_of("nginx:1.27"), None);
        assert_eq!(name_of("busybox"), None);
        assert_eq!(name_of("docker.io/library/netexec-extra"), None);
        assert_eq!(name_of(""), None);
        assert_eq!(name_of("registry.k8s.io/"), None);
        assert_eq!(name_of(":tag"), None);
    }

    #[test]
    fn every_image_has_a_one_line_description() {
        for image in builtin_images() {
            assert!(!image.description.is_empty());
            assert!(!image.description.contains('\n'));
        }
    }

    #[test]
    fn a_leading_program_name_in_args_is_skipped() {
        let args: Vec<String> = ["/agnhost", "netexec"].map(String::from).into();
        assert_eq!(skip_program_name("agnhost", &args), &args[1..]);
        let args: Vec<String> = ["netexec", "--http-port=80"].map(String::from).into();
        assert_eq!(skip_program_name("agnhost", &args), &args[..]);
        assert_eq!(skip_program_name("netexec", &args), &args[1..]);
        let args: Vec<String> = ["serve_hostname"].map(String::from).into();
        assert!(skip_program_name("serve-hostname", &args).is_empty());
        assert!(skip_program_name("pause", &[]).is_empty());
        let args: Vec<String> = ["/agnhost", "netexec", "--http-port=80"]
            .map(String::from)
            .into();
        assert_eq!(skip_program_name("netexec", &args), &args[2..]);
    }
}
