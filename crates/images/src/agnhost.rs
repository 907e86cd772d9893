//! `agnhost <subcommand>`: the subset of Kubernetes' agnhost test image knet carries
//! (test/images/agnhost/agnhost.go): `netexec`, `connect`, `serve-hostname`, `pause`.

use std::time::Duration;

use crate::client::{self, ClientError};
use crate::{Console, EXIT_USAGE, Shutdown, cli, parse_go_duration};

const SUBCOMMANDS: &str = "connect, netexec, pause, serve-hostname";

/// Runs `agnhost SUBCOMMAND [flags]`.
pub(crate) async fn run(args: &[String], console: Console, shutdown: Shutdown) -> i32 {
    let Some((subcommand, rest)) = args.split_first() else {
        console.err(&format!(
            "agnhost: missing subcommand; knet's agnhost has: {SUBCOMMANDS}"
        ));
        return EXIT_USAGE;
    };
    match subcommand.as_str() {
        "netexec" => crate::netexec::run(rest, console, shutdown).await,
        "connect" => connect(rest, console, shutdown).await,
        "serve-hostname" => crate::serve_hostname::run(rest, console, shutdown).await,
        "pause" => crate::pause::pause(console, shutdown).await,
        "-h" | "--help" | "help" => {
            console.out(&format!(
                "agnhost (knet built-in); subcommands: {SUBCOMMANDS}"
            ));
            0
        }
        other => {
            console.err(&format!(
                "agnhost: subcommand {other:?} is not built into knet; it has: {SUBCOMMANDS}"
            ));
            EXIT_USAGE
        }
    }
}

/// agnhost connect's command line (test/images/agnhost/connect/connect.go).
#[derive(Debug, clap::Parser)]
#[command(
    name = "connect",
    about = "Attempts a TCP or UDP connection and prints REFUSED, TIMEOUT, DNS, OTHER or UNKNOWN on failure",
    disable_version_flag = true
)]
struct ConnectFlags {
    /// `HOST:PORT`.
    dest: String,
    /// Maximum time before returning an error (Go duration); 0 means knet's 5s bound.
    #[arg(long, default_value = "0")]
    timeout: String,
    /// tcp or udp (sctp is not supported).
    #[arg(long, default_value = "tcp")]
    protocol: String,
    /// The UDP payload sent to the server.
    #[arg(long = "udp-data", default_value = "hostname")]
    udp_data: String,
    /// Accepted for compatibility; SCTP is not supported.
    #[arg(long = "sctp-data", default_value = "hostname")]
    sctp_data: String,
}

/// `agnhost connect HOST:PORT [--timeout D] [--protocol tcp|udp]`: exit 0 when connected, else 1
/// with agnhost's fixed prefix on stderr. Unlike agnhost, a zero timeout is bounded (5s).
async fn connect(args: &[String], console: Console, shutdown: Shutdown) -> i32 {
    let flags: ConnectFlags = match cli::parse("connect", args, &console) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let timeout = match parse_go_duration(&flags.timeout) {
        Ok(d) if d.is_zero() => client::DEFAULT_TIMEOUT,
        Ok(d) => d,
        Err(e) => {
            console.err(&format!("UNKNOWN: --timeout: {e}"));
            return 1;
        }
    };
    let attempt = async {
        match flags.protocol.as_str() {
            "" | "tcp" => client::tcp_connect(&flags.dest, timeout).await.map(|_| ()),
            "udp" => udp_connect(&flags.dest, &flags.udp_data, timeout).await,
            other => Err(ClientError::InvalidTarget {
                target: flags.dest.clone(),
                reason: format!("unsupported protocol {other:?}"),
            }),
        }
    };
    let result = tokio::select! {
        r = attempt => r,
        () = shutdown => return 0,
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            console.err(&client::failure_line(&e));
            1
        }
    }
}

/// UDP "connect": sends `data` and a newline and requires a non-empty answer, as agnhost does.
async fn udp_connect(dest: &str, data: &str, timeout: Duration) -> Result<(), ClientError> {
    let answer = client::udp_exchange(dest, &format!("{data}\n"), timeout).await?;
    if answer.is_empty() {
        return Err(ClientError::Io {
            op: "read",
            target: dest.to_owned(),
            source: std::io::Error::other(
                "No data received from the server. Cannot guarantee the server received the request.",
            ),
        });
    }
    Ok(())
}
