//! The hostname an image reports.

/// The pod's hostname as the images report it: `$POD_NAME`, else `$HOSTNAME`, else the kernel's
/// hostname (the pod's UTS namespace), else `localhost`. agnhost reports `os.Hostname()`; knet
/// prefers the environment because the node agent may not give every pod its own UTS namespace.
pub fn pod_hostname() -> String {
    ["POD_NAME", "HOSTNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}
