//! netexec's HTTP endpoints, as agnhost's `addRoutes` registers them
//! (test/images/agnhost/netexec/netexec.go), plus knet's `/sethealth` and `/setready`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use super::{ExitRequest, State};
use crate::client;
use crate::duration::parse_go_duration;

/// Largest form body read for POSTed parameters.
const MAX_FORM_BODY: usize = 1 << 20;

type Reply = Response<Full<Bytes>>;

/// Request parameters: the query string and, for POSTed forms, the body (which wins, as in Go's
/// `Request.FormValue`).
#[derive(Debug, Default)]
pub(super) struct Form(Vec<(String, String)>);

impl Form {
    fn parse_into(&mut self, encoded: &[u8]) {
        self.0.extend(form_urlencoded::parse(encoded).into_owned());
    }

    /// The first value of `key`, or "" when absent (as `FormValue`).
    fn value(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn ok(body: impl Into<Bytes>) -> Reply {
    reply(StatusCode::OK, body)
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = reply(status, body);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => reply(
            StatusCode::EXPECTATION_FAILED,
            format!("response could not be serialized. {e}"),
        ),
    }
}

/// Serves one request; never fails (errors are responses).
pub(super) async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Reply, Infallible> {
    state.console.log(&format!(
        "{peer} \"{} {} {:?}\"",
        req.method(),
        req.uri(),
        req.version()
    ));
    let (parts, body) = req.into_parts();

    let (path, query) = match &state.http_override {
        // agnhost --http-override: serve every request as a GET of the override.
        Some(target) => match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (target.clone(), String::new()),
        },
        None => (
            parts.uri.path().to_owned(),
            parts.uri.query().unwrap_or("").to_owned(),
        ),
    };

    let mut form = Form::default();
    if parts.method == Method::POST && is_form(&parts.headers) {
        match Limited::new(body, MAX_FORM_BODY).collect().await {
            Ok(collected) => form.parse_into(&collected.to_bytes()),
            Err(e) => {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read form body: {e}"),
                ));
            }
        }
    }
    form.parse_into(query.as_bytes());

    Ok(route(&state, peer, &parts.headers, &path, &form).await)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

async fn route(
    state: &State,
    peer: SocketAddr,
    headers: &HeaderMap,
    path: &str,
    form: &Form,
) -> Reply {
    match path {
        "/clientip" => ok(peer.to_string()),
        "/header" => header_value(headers, form.value("key")),
        "/dial" => dial(form).await,
        "/echo" => echo(form),
        "/exit" => exit(state, form).await,
        "/shutdown" => {
            request_exit(
                state,
                ExitRequest {
                    code: 0,
                    timeout: Duration::ZERO,
                },
            )
            .await;
            ok("")
        }
        "/healthz" => code_reply(state.health_code.load(Ordering::Relaxed), "", "unhealthy"),
        "/readyz" => readyz(state),
        "/sethealth" => set_code(&state.health_code, "/healthz", form),
        "/setready" => set_code(&state.ready_code, "/readyz", form),
        "/hostname" | "/hostName" => ok(state.hostname.clone()),
        "/redirect" => redirect(form),
        "/shell" => shell(&state.shell, form).await,
        "/upload" => reply(
            StatusCode::NOT_IMPLEMENTED,
            "/upload is not supported by knet's netexec",
        ),
        // Go's ServeMux sends every other path to the "/" handler.
        _ => ok(format!("NOW: {}", now())),
    }
}

/// The time as Go's `time.Time.String()` prints it (without the monotonic reading).
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S%.f +0000 UTC")
        .to_string()
}

/// `/header?key=K`: the request's `K` header; without a key, every header as JSON
/// (`{"Accept":["*/*"],...}`, Go's canonical names).
fn header_value(headers: &HeaderMap, key: &str) -> Reply {
    if !key.is_empty() {
        let value = headers
            .get(key)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        return ok(value);
    }
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        all.entry(canonical_header_name(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    json(StatusCode::OK, &all)
}

/// `x-forwarded-for` → `X-Forwarded-For`, as Go's `textproto.CanonicalMIMEHeaderKey`.
pub(super) fn canonical_header_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// Parses an HTTP status code parameter; `None` for an empty one.
fn status_param(value: &str) -> Result<Option<StatusCode>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .map(Some)
        .ok_or_else(|| format!("argument 'code' must be an integer or empty, got {value:?}\n"))
}

/// `/echo?msg=M&code=C`: answers `M` with status `C` (default 200).
fn echo(form: &Form) -> Reply {
    match status_param(form.value("code")) {
        Ok(code) => reply(code.unwrap_or(StatusCode::OK), form.value("msg").to_owned()),
        Err(e) => reply(StatusCode::BAD_REQUEST, e),
    }
}

/// `/redirect?location=L&code=C`: a redirect to `L` (default status 302).
fn redirect(form: &Form) -> Reply {
    let code = match status_param(form.value("code")) {
        Ok(code) => code.unwrap_or(StatusCode::FOUND),
        Err(e) => return reply(StatusCode::BAD_REQUEST, e),
    };
    let location = form.value("location");
    let Ok(value) = header::HeaderValue::from_str(location) else {
        return reply(
            StatusCode::BAD_REQUEST,
            format!("invalid location {location:?}"),
        );
    };
    let mut response = reply(
        code,
        format!(
            "<a href=\"{}\">{}</a>.\n",
            location,
            code.canonical_reason().unwrap_or("")
        ),
    );
    response.headers_mut().insert(header::LOCATION, value);
    response
}

/// `/exit?code=C&timeout=T&wait=W`: after `W`, stop accepting, give open connections `T`, then
/// exit with `C`. With no timeout the process exits at once (the response may not arrive).
async fn exit(state: &State, form: &Form) -> Reply {
    let duration = |name: &str| -> Result<Duration, String> {
        let raw = form.value(name);
        if raw.is_empty() {
            return Ok(Duration::ZERO);
        }
        parse_go_duration(raw).map_err(|_| {
            format!("argument '{name}' must be a valid golang duration or empty, got {raw:?}\n")
        })
    };
    let (timeout, wait) = match (duration("timeout"), duration("wait")) {
        (Ok(t), Ok(w)) => (t, w),
        (Err(e), _) | (_, Err(e)) => return reply(StatusCode::BAD_REQUEST, e),
    };
    let raw_code = form.value("code");
    let code = if raw_code.is_empty() {
        0
    } else {
        match raw_code.parse::<i32>() {
            Ok(c) => c,
            Err(_) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "argument 'code' must be an integer [0-127] or empty, got {raw_code:?}\n"
                    ),
                );
            }
        }
    };
    state.console.log(&format!(
        "Will begin shutdown in {wait:?}, allowing {timeout:?} for connections to close, then will exit with {code}"
    ));
    tokio::time::sleep(wait).await;
    request_exit(state, ExitRequest { code, timeout }).await;
    ok("")
}

async fn request_exit(state: &State, request: ExitRequest) {
    // The server loop only goes away when it is already stopping: nothing left to do then.
    let _ = state.exit.send(request).await;
}

/// A status answer for a switchable probe endpoint.
fn code_reply(code: u16, ok_body: &'static str, failing_body: &'static str) -> Reply {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(
        status,
        if status.is_success() {
            ok_body
        } else {
            failing_body
        },
    )
}

/// `/readyz`: 503 "shutting down" once SIGTERM was seen (as agnhost's), else the switch.
fn readyz(state: &State) -> Reply {
    if state.terminating.load(Ordering::Relaxed) {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    code_reply(state.ready_code.load(Ordering::Relaxed), "ok", "not ready")
}

/// `/sethealth?code=500` and `/setready?code=503` (knet extras): what the probe endpoint answers
/// from now on. `status` is accepted as another name for `code`.
fn set_code(switch: &std::sync::atomic::AtomicU16, endpoint: &str, form: &Form) -> Reply {
    let raw = match form.value("code") {
        "" => form.value("status"),
        code => code,
    };
    match status_param(raw) {
        Ok(Some(code)) => {
            switch.store(code.as_u16(), Ordering::Relaxed);
            ok(format!("{endpoint} now answers {}", code.as_u16()))
        }
        Ok(None) => reply(
            StatusCode::BAD_REQUEST,
            "argument 'code' is required, e.g. ?code=500\n",
        ),
        Err(e) => reply(StatusCode::BAD_REQUEST, e),
    }
}

/// `/dial?request=R&host=H&port=P&protocol=http|udp|tcp&tries=N`: makes the request `N` times
/// and answers `{"responses":[...],"errors":[...]}` (each key only when non-empty).
///
/// agnhost omits `responses` when the *last* try failed even if earlier ones succeeded; knet
/// keeps every successful response. `tcp` is a knet extra (sends `R` plus a newline, reads until
/// the peer closes).
async fn dial(form: &Form) -> Reply {
    let host = form.value("host");
    let port = form.value("port");
    let request = form.value("request");
    let protocol = form.value("protocol").to_ascii_lowercase();
    let tries = match form.value("tries") {
        "" => 1,
        raw => match raw.parse::<i64>() {
            Ok(n) => n,
            Err(e) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    format!("tries parameter is invalid. {e}\n"),
                );
            }
        },
    };
    if request.is_empty() {
        return reply(
            StatusCode::BAD_REQUEST,
            "request parameter not specified.\n",
        );
    }
    if !matches!(protocol.as_str(), "" | "http" | "udp" | "tcp") {
        return reply(
            StatusCode::BAD_REQUEST,
            format!("unsupported protocol. {protocol}\n"),
        );
    }
    let target = client::join_host_port(host, port);
    let addr = match client::resolve_target(&target).await {
        Ok(addrs) => match addrs.first() {
            Some(a) => *a,
            None => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    format!("host and/or port param are invalid. no address for {target}\n"),
                );
            }
        },
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                format!("host and/or port param are invalid. {e}\n"),
            );
        }
    };

    let mut responses = Vec::new();
    let mut errors = Vec::new();
    for _ in 0..tries {
        let target = addr.to_string();
        let result = match protocol.as_str() {
            "udp" => client::udp_exchange(&target, request, client::DEFAULT_TIMEOUT).await,
            "tcp" => client::tcp_exchange(&target, Some(request), client::DEFAULT_TIMEOUT).await,
            _ => {
                let url = format!("http://{target}/{}", request.trim_start_matches('/'));
                client::http_get(&url, client::DEFAULT_TIMEOUT)
                    .await
                    .map(|r| r.body)
            }
        };
        match result {
            Ok(response) => responses.push(response),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut output = BTreeMap::new();
    if !responses.is_empty() {
        output.insert("responses", responses);
    }
    if !errors.is_empty() {
        output.insert("errors", errors);
    }
    json(StatusCode::OK, &output)
}

/// `/shell?cmd=C` (or `shellCommand=C`): runs `sh -c C` and answers
/// `{"output": <stdout and stderr>, "error": "exit status N"}` (each key only when non-empty).
async fn shell(shell: &Path, form: &Form) -> Reply {
    let cmd = match form.value("shellCommand") {
        "" => form.value("cmd"),
        c => c,
    };
    let (output, error) = run_shell(shell, cmd).await;
    let mut body = BTreeMap::new();
    if !output.is_empty() {
        body.insert("output", String::from_utf8_lossy(&output).into_owned());
    }
    if let Some(error) = error {
        body.insert("error", error);
    }
    json(StatusCode::OK, &body)
}

/// Runs `shell -c cmd` with stdout and stderr into one pipe (Go's `CombinedOutput`); returns the
/// output and the error as Go formats it (`exit status 1`, `signal: killed`).
pub(super) async fn run_shell(shell: &Path, cmd: &str) -> (Vec<u8>, Option<String>) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;

    let pipe = std::io::pipe().and_then(|(r, w)| Ok((r, w.try_clone()?, w)));
    let (mut reader, stdout, stderr) = match pipe {
        Ok(p) => p,
        Err(e) => return (Vec::new(), Some(format!("cannot create a pipe: {e}"))),
    };
    let mut command = tokio::process::Command::new(shell);
    command
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    let child = command.spawn();
    // The command holds the pipe's write ends: close ours so the read sees EOF when the child exits.
    drop(command);
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return (
                Vec::new(),
                Some(format!("fork/exec {}: {e}", shell.display())),
            );
        }
    };
    let reading = tokio::task::spawn_blocking(move || {
        let mut output = Vec::new();
        reader.read_to_end(&mut output).map(|_| output)
    });
    let status = child.wait().await;
    let output = match reading.await {
        Ok(Ok(output)) => output,
        _ => Vec::new(),
    };
    let error = match status {
        Ok(s) if s.success() => None,
        Ok(s) => Some(match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("signal: {}", signal_name(signal)),
            (None, None) => s.to_string(),
        }),
        Err(e) => Some(e.to_string()),
    };
    (output, error)
}

fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| match s {
            nix::sys::signal::Signal::SIGKILL => "killed".to_owned(),
            nix::sys::signal::Signal::SIGTERM => "terminated".to_owned(),
            other => other.as_str().to_owned(),
        })
        .unwrap_or_else(|_| signal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonicalized_as_go_does() {
        assert_eq!(canonical_header_name("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical_header_name("host"), "Host");
        assert_eq!(canonical_header_name("USER-AGENT"), "User-Agent");
    }

    #[test]
    fn form_values_are_decoded_and_missing_ones_are_empty() {
        let mut form = Form::default();
        form.parse_into(b"msg=hello%20world&code=201&msg=second");
        assert_eq!(form.value("msg"), "hello world");
        assert_eq!(form.value("code"), "201");
        assert_eq!(form.value("absent"), "");
    }

    #[test]
    fn status_codes_outside_the_http_range_are_rejected() {
        assert_eq!(status_param(""), Ok(None));
        assert_eq!(
            status_param("503"),
            Ok(Some(StatusCode::SERVICE_UNAVAILABLE))
        );
        assert!(status_param("42").is_err());
        assert!(status_param("1000").is_err());
        assert!(status_param("abc").is_err());
    }

    #[tokio::test]
    async fn shell_combines_stdout_and_stderr_and_reports_the_exit_status() {
        let (output, error) =
            run_shell(Path::new("/bin/sh"), "echo out; echo err >&2; exit 3").await;
        assert_eq!(String::from_utf8_lossy(&output), "out\nerr\n");
        assert_eq!(error.as_deref(), Some("exit status 3"));
        let (output, error) = run_shell(Path::new("/bin/sh"), "printf ok").await;
        assert_eq!(output, b"ok");
        assert_eq!(error, None);
    }

    #[tokio::test]
    async fn shell_reports_a_missing_shell_as_an_error() {
        let (output, error) = run_shell(Path::new("/nonexistent/sh"), "true").await;
        assert!(output.is_empty());
        assert!(error.is_some_and(|e| e.starts_with("fork/exec /nonexistent/sh")));
    }
}
