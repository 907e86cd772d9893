//! The pod sandbox as the container runtime sees it: commands go through `knet sandbox-exec`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// A pod's namespaces and files.
pub(crate) struct PodSandbox {
    pub(crate) knet_exe: PathBuf,
    pub(crate) netns: String,
    pub(crate) hostname: String,
    pub(crate) hosts: PathBuf,
    pub(crate) resolv: PathBuf,
}

impl knet_node::Sandbox for PodSandbox {
    fn command(&self, program: &Path, args: &[String]) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.knet_exe);
        cmd.arg("sandbox-exec")
            .arg("--netns")
            .arg(&self.netns)
            .arg("--hostname")
            .arg(&self.hostname)
            .arg("--hosts")
            .arg(&self.hosts)
            .arg("--resolv")
            .arg(&self.resolv)
            .arg("--")
            .arg(program)
            .args(args);
        cmd
    }
}

/// kubelet's managed /etc/hosts (pkg/kubelet/kubelet_pods.go managedHostsFileContent).
pub(crate) fn hosts_file(hostname: &str, ip: Ipv4Addr) -> String {
    format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{ip}\t{hostname}\n"
    )
}

/// /etc/resolv.conf for dnsPolicy ClusterFirst (pkg/kubelet/network/dns/dns.go).
pub(crate) fn resolv_conf(namespace: &str) -> String {
    format!(
        "search {namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    )
}
