//! `pods/log` and `pods/exec` answered from the running pods' runtimes.

use std::time::Duration;

use futures::StreamExt;
use knet_apiserver::{ApiError, ExecOptions, LogOptions, LogStream, PodExec, PodLogs};
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

/// Gives the commands of `pods/exec` for the pods this process runs: the container's
/// environment and working directory, in the pod's sandbox (as [`knet_node::PodRuntime::exec_command`]).
pub struct RuntimeExec(pub Registry);

impl PodExec for RuntimeExec {
    fn command(&self, pod: &Value, o: &ExecOptions) -> Result<std::process::Command, ApiError> {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        let Some(rt) = self.0.get(uid) else {
            return Err(ApiError::bad_request(format!(
                "pod {name} does not have a host assigned or is not running on any node yet"
            )));
        };
        rt.exec_command(&o.container, &o.command)
            .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {e}")))
    }
}
