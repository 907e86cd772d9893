//! `pause` (the pod sandbox's container, as Kubernetes' build/pause/linux/pause.c) and `sleep`.

use crate::{Console, Shutdown, cli, parse_sleep_duration};

/// Sleeps until `shutdown` (SIGTERM/SIGINT), then exits 0. As PID 1 of a PID namespace it reaps
/// orphaned zombies on SIGCHLD, as pause.c's `sigreap` does.
pub(crate) async fn pause(console: Console, mut shutdown: Shutdown) -> i32 {
    if std::process::id() == 1 {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::child()) {
            Ok(mut children) => loop {
                tokio::select! {
                    _ = children.recv() => reap_zombies(),
                    () = &mut shutdown => break,
                }
            },
            Err(e) => {
                console.err(&format!(
                    "pause: cannot watch SIGCHLD, zombies will not be reaped: {e}"
                ));
                shutdown.await;
            }
        }
    } else {
        shutdown.await;
    }
    console.err("Shutting down, got signal");
    0
}

/// Collects every exited child without blocking.
fn reap_zombies() {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    use nix::unistd::Pid;
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// `sleep DURATION...`: sleeps for the sum of the operands (coreutils style, `infinity` allowed),
/// then exits 0; SIGTERM ends it early, also with 0.
pub(crate) async fn sleep(args: &[String], console: Console, shutdown: Shutdown) -> i32 {
    if args.is_empty() {
        return cli::usage_error(&console, "sleep", "missing operand, e.g. `sleep 10`");
    }
    let mut total = Some(std::time::Duration::ZERO);
    for arg in args {
        match parse_sleep_duration(arg) {
            Ok(Some(d)) => total = total.and_then(|t| t.checked_add(d)),
            Ok(None) => total = None,
            Err(e) => return cli::usage_error(&console, "sleep", &e),
        }
    }
    match total {
        Some(duration) => {
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                () = shutdown => {}
            }
        }
        None => shutdown.await,
    }
    0
}
