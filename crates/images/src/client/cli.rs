//! `client <mode> ...` as a container runs it: prints results to stdout, failures to stderr with
//! agnhost connect's prefixes, exits 0 only when everything succeeded.

use std::time::Duration;

use super::{
    ClientError, connect_latency, http_get, round_robin, tcp_connect, tcp_exchange,
    udp_exchange_from,
};
use crate::{Console, Shutdown, cli};

#[derive(Debug, clap::Parser)]
#[command(
    name = "client",
    about = "knet's test client (never hangs: every operation has a timeout)",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, clap::Args)]
struct Timeout {
    /// Timeout of each operation, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    timeout: u64,
}

impl Timeout {
    fn duration(&self) -> Duration {
        Duration::from_millis(self.timeout)
    }
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// GET URL COUNT times (new connection each) and print each body on its own line.
    Http {
        /// `http://HOST[:PORT]/PATH` (the scheme may be left out).
        url: String,
        /// Number of requests.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Pause between requests, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 0)]
        interval: u64,
        #[command(flatten)]
        timeout: Timeout,
    },
    /// Connect over TCP, send TEXT and a newline (if given), print what comes back until close.
    Tcp {
        /// `HOST:PORT`.
        target: String,
        /// Text to send.
        #[arg(long)]
        send: Option<String>,
        #[command(flatten)]
        timeout: Timeout,
    },
    /// Send TEXT as one UDP datagram and print the datagram that comes back.
    Udp {
        /// `HOST:PORT`.
        target: String,
        /// Text to send (netexec answers `hostname`, `clientip`, `echo X`).
        #[arg(long)]
        send: String,
        /// Local port to send from (0: any); the same port each time is one flow to conntrack.
        #[arg(long, default_value_t = 0)]
        source_port: u16,
        #[command(flatten)]
        timeout: Timeout,
    },
    /// Open a TCP connection: exit 0, or 1 with REFUSED, TIMEOUT, DNS, OTHER or UNKNOWN.
    Connect {
        /// `HOST:PORT`.
        target: String,
        #[command(flatten)]
        timeout: Timeout,
    },
    /// GET URL COUNT times (new connection each) and print `answer count` lines.
    Rr {
        /// URL answering each backend's name, e.g. `http://svc/hostname`.
        url: String,
        /// Number of requests.
        #[arg(long, default_value_t = 100)]
        count: u32,
        #[command(flatten)]
        timeout: Timeout,
    },
    /// Connect over TCP COUNT times and print connect-time percentiles (microseconds).
    Latency {
        /// `HOST:PORT`.
        target: String,
        /// Number of connects.
        #[arg(long, default_value_t = 100)]
        count: u32,
        #[command(flatten)]
        timeout: Timeout,
    },
}

/// How agnhost connect prints a failure: the bare class for REFUSED and TIMEOUT, else
/// `CLASS: detail`.
pub(crate) fn failure_line(e: &ClientError) -> String {
    match e {
        ClientError::Refused { .. } | ClientError::Timeout { .. } => e.class().to_owned(),
        _ => format!("{}: {e}", e.class()),
    }
}

/// Prints a body as one line (one trailing newline removed).
fn body_line(console: &Console, body: &str) {
    console.out(body.strip_suffix('\n').unwrap_or(body));
}

/// Runs `client` with `args`; SIGTERM stops it with exit code 0.
pub(crate) async fn run(args: &[String], console: Console, shutdown: Shutdown) -> i32 {
    let cli: Cli = match cli::parse("client", args, &console) {
        Ok(c) => c,
        Err(code) => return code,
    };
    tokio::select! {
        code = run_mode(cli.mode, &console) => code,
        () = shutdown => 0,
    }
}

async fn run_mode(mode: Mode, console: &Console) -> i32 {
    match mode {
        Mode::Http {
            url,
            count,
            interval,
            timeout,
        } => {
            let mut failed = 0;
            for i in 0..count {
                if i > 0 && interval > 0 {
                    tokio::time::sleep(Duration::from_millis(interval)).await;
                }
                match http_get(&url, timeout.duration()).await {
                    Ok(response) => {
                        body_line(console, &response.body);
                        if response.status >= 400 {
                            failed += 1;
                            console.err(&format!(
                                "request {}/{count}: GET {url}: status {}",
                                i + 1,
                                response.status
                            ));
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        console.err(&format!("request {}/{count}: {}", i + 1, failure_line(&e)));
                    }
                }
            }
            i32::from(failed > 0)
        }
        Mode::Tcp {
            target,
            send,
            timeout,
        } => match tcp_exchange(&target, send.as_deref(), timeout.duration()).await {
            Ok(received) => {
                body_line(console, &received);
                0
            }
            Err(e) => {
                console.err(&failure_line(&e));
                1
            }
        },
        Mode::Udp {
            target,
            send,
            source_port,
            timeout,
        } => match udp_exchange_from(&target, &send, timeout.duration(), source_port).await {
            Ok(received) => {
                body_line(console, &received);
                0
            }
            Err(e) => {
                console.err(&failure_line(&e));
                1
            }
        },
        Mode::Connect { target, timeout } => match tcp_connect(&target, timeout.duration()).await {
            Ok(_) => 0,
            Err(e) => {
                console.err(&failure_line(&e));
                1
            }
        },
        Mode::Rr {
            url,
            count,
            timeout,
        } => {
            let result = round_robin(&url, count, timeout.duration()).await;
            for (answer, n) in &result.counts {
                console.out(&format!("{answer} {n}"));
            }
            if let Some(last) = result.errors.last() {
                console.err(&format!(
                    "{} of {count} requests failed; last: {}",
                    result.errors.len(),
                    failure_line(last)
                ));
                return 1;
            }
            0
        }
        Mode::Latency {
            target,
            count,
            timeout,
        } => {
            let report = connect_latency(&target, count, timeout.duration()).await;
            let micros = |p: f64| report.percentile(p).map_or(0, |d| d.as_micros());
            console.out(&format!("connects {}", report.samples.len()));
            console.out(&format!("errors {}", report.errors.len()));
            console.out(&format!("min_us {}", micros(0.0)));
            console.out(&format!("p50_us {}", micros(50.0)));
            console.out(&format!("p90_us {}", micros(90.0)));
            console.out(&format!("p99_us {}", micros(99.0)));
            console.out(&format!("max_us {}", micros(100.0)));
            if let Some(last) = report.errors.last() {
                console.err(&format!(
                    "{} of {count} connects failed; last: {}",
                    report.errors.len(),
                    failure_line(last)
                ));
                return 1;
            }
            0
        }
    }
}
