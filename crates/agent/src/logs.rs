//! `pods/log`, `pods/exec` and `pods/attach` answered from the running pods' runtimes.

use std::time::Duration;

use futures::StreamExt;
use knet_apiserver::{
    ApiError, ExecOptions, LogOptions, LogStream, PodExec, PodLogs, RemoteStreams,
};
use serde_json::Value;

use crate::Registry;

/// Serves container logs of the pods this process runs.
pub struct RuntimeLogs(pub Registry);

impl PodLogs for RuntimeLogs {
    fn logs(&self, pod: &Value, o: &LogOptions) -> Result<LogStream, ApiError> {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        let Some(rt) = self.0.get(uid) else {
            return Err(ApiError::bad_request(format!(
                "container \"{}\" in pod \"{name}\" is waiting to start: the pod is not running on any node",
                o.container
            )));
        };
        if o.follow && !o.previous {
            let s = rt
                .follow_logs(
                    &o.container,
                    o.tail_lines,
                    o.timestamps,
                    Duration::from_millis(100),
                )
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            return Ok(Box::pin(s.map(|r| r.map_err(std::io::Error::other))));
        }
        let text = rt
            .read_logs(&o.container, o.previous, o.tail_lines, o.timestamps)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Box::pin(futures::stream::once(async move {
            Ok::<_, std::io::Error>(bytes::Bytes::from(text))
        })))
    }
}

/// Runs `pods/exec` and `pods/attach` sessions with the pods this process runs (CRI `Exec` and
/// `Attach` through [`knet_node::PodRuntime`]).
pub struct RuntimeExec(pub Registry);

impl RuntimeExec {
    fn runtime(&self, pod: &Value) -> Result<std::sync::Arc<knet_node::PodRuntime>, ApiError> {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        self.0.get(uid).ok_or_else(|| {
            ApiError::bad_request(format!(
                "pod {name} does not have a host assigned or is not running on any node yet"
            ))
        })
    }
}

/// The API's side of a runtime session: output streams become protocol channels.
fn remote(session: knet_node::IoSession) -> RemoteStreams {
    let output = session.output.map(|(stream, data)| {
        let channel = match stream {
            knet_node::LogStream::Stdout => knet_apiserver::exec::STDOUT,
            knet_node::LogStream::Stderr => knet_apiserver::exec::STDERR,
        };
        (channel, data)
    });
    RemoteStreams {
        input: session.input,
        output: Box::pin(output),
        resize: session.resize,
        done: session.done,
    }
}

impl PodExec for RuntimeExec {
    fn exec(&self, pod: &Value, o: &ExecOptions) -> Result<RemoteStreams, ApiError> {
        self.runtime(pod)?
            .exec_session(&o.container, &o.command, o.stdin, o.tty)
            .map(remote)
            .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {e}")))
    }

    fn attach(&self, pod: &Value, o: &ExecOptions) -> Result<RemoteStreams, ApiError> {
        self.runtime(pod)?
            .attach_session(&o.container, o.stdin)
            .map(remote)
            .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {e}")))
    }
}
