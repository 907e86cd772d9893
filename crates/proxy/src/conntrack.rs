//! Stale UDP conntrack entries: which to delete when a UDP Service loses endpoints.
//!
//! A UDP "connection" is only a conntrack entry. Once a client's flow to a cluster IP has been
//! DNATed to an endpoint, every later datagram of that flow (same addresses and ports) follows
//! the entry, not the ruleset, and each one refreshes the entry's timeout; when the endpoint goes
//! away the flow is black-holed for as long as the client keeps sending. kube-proxy deletes those
//! entries after each sync (pkg/proxy/conntrack/cleanup.go, `CleanStaleEntries`): for every UDP
//! Service port, the flows to its cluster IP, external and LoadBalancer IPs (service port) and
//! node port whose reply comes from an endpoint that no longer receives traffic. This module
//! computes those filters; the agent runs them (`conntrack -D`) in the node's namespace.
//!
//! ```text
//!  old UdpFlows {frontends, endpoints} ─┐
//!                                       ├─ stale_entries ─► [ConntrackDelete] ─► conntrack -D -p udp ...
//!  new UdpFlows (None: port gone) ──────┘   (frontends × endpoints no longer used)
//! ```

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::{Endpoint, Protocol, ServicePort};

/// Where the clients of a UDP Service port send (`(address, port)`; `None` for a node port,
/// which any address of the node serves) and which endpoints the proxy forwards them to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UdpFlows {
    /// Cluster IP, external IPs and LoadBalancer IPs with the service port; the node port.
    pub frontends: BTreeSet<(Option<Ipv4Addr>, u16)>,
    /// Endpoints traffic goes to: the ready ones, or the serving terminating ones when none is
    /// ready (KEP-1669), as the ruleset does.
    pub endpoints: BTreeSet<(Ipv4Addr, u16)>,
}

/// The flows of one Service port; `None` unless it is UDP.
pub fn udp_flows(port: &ServicePort, endpoints: &[Endpoint]) -> Option<UdpFlows> {
    if port.protocol != Protocol::Udp {
        return None;
    }
    let mut frontends: BTreeSet<(Option<Ipv4Addr>, u16)> = std::iter::once(port.cluster_ip)
        .chain(port.external_ips.iter().copied())
        .chain(port.load_balancer_ips.iter().copied())
        .map(|ip| (Some(ip), port.port))
        .collect();
    if let Some(np) = port.node_port {
        frontends.insert((None, np));
    }
    let ready: BTreeSet<(Ipv4Addr, u16)> = endpoints
        .iter()
        .filter(|e| e.ready)
        .map(|e| (e.ip, e.port))
        .collect();
    let endpoints = if ready.is_empty() {
        endpoints
            .iter()
            .filter(|e| e.serving && e.terminating)
            .map(|e| (e.ip, e.port))
            .collect()
    } else {
        ready
    };
    Some(UdpFlows {
        frontends,
        endpoints,
    })
}

/// One `conntrack -D` filter: UDP entries sent to `orig_dst:orig_port_dst` (any address of the
/// node when `orig_dst` is `None`) and answered by `reply_src`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConntrackDelete {
    /// The frontend address clients sent to; `None` for a node port.
    pub orig_dst: Option<Ipv4Addr>,
    /// The frontend port (service port or node port).
    pub orig_port_dst: u16,
    /// The endpoint that answered (the entry's reply source).
    pub reply_src: Ipv4Addr,
}

impl ConntrackDelete {
    /// The arguments of `conntrack` (conntrack-tools) that delete the matching entries.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["-D".to_owned(), "-p".to_owned(), "udp".to_owned()];
        if let Some(dst) = self.orig_dst {
            args.extend(["--orig-dst".to_owned(), dst.to_string()]);
        }
        args.extend([
            "--orig-port-dst".to_owned(),
            self.orig_port_dst.to_string(),
            "--reply-src".to_owned(),
            self.reply_src.to_string(),
        ]);
        args
    }
}

/// The entries to delete after a Service port went from `old` to `new` (`None`: the port is gone
/// or no longer UDP): every old frontend with every old endpoint that no longer receives its
/// traffic (kube-proxy deletes per stale endpoint too; a frontend that went away takes its
/// endpoints' entries with it).
pub fn stale_entries(old: &UdpFlows, new: Option<&UdpFlows>) -> Vec<ConntrackDelete> {
    let mut out = BTreeSet::new();
    for &(dst, port) in &old.frontends {
        let frontend_kept = new.is_some_and(|n| n.frontends.contains(&(dst, port)));
        for &(ep, ep_port) in &old.endpoints {
            let endpoint_kept = new.is_some_and(|n| n.endpoints.contains(&(ep, ep_port)));
            if !(frontend_kept && endpoint_kept) {
                out.insert(ConntrackDelete {
                    orig_dst: dst,
                    orig_port_dst: port,
                    reply_src: ep,
                });
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    fn dns_port() -> ServicePort {
        ServicePort {
            node_port: Some(30053),
            load_balancer_ips: vec![ip("172.18.0.200")],
            ..ServicePort::cluster_ip("kube-system/dns:dns", ip("10.96.0.10"), 53, Protocol::Udp)
        }
    }

    fn ep(addr: &str, ready: bool) -> Endpoint {
        Endpoint {
            ready,
            ..Endpoint::new(ip(addr), 5353)
        }
    }

    #[test]
    fn only_udp_ports_have_flows_and_they_name_every_frontend() {
        let tcp = ServicePort::cluster_ip("a/b:http", ip("10.96.0.20"), 80, Protocol::Tcp);
        assert_eq!(udp_flows(&tcp, &[ep("10.244.1.2", true)]), None);
        let flows = udp_flows(
            &dns_port(),
            &[ep("10.244.1.2", true), ep("10.244.1.3", false)],
        );
        let flows = flows.unwrap_or_default();
        assert_eq!(
            flows.frontends,
            [
                (None, 30053),
                (Some(ip("10.96.0.10")), 53),
                (Some(ip("172.18.0.200")), 53),
            ]
            .into_iter()
            .collect()
        );
        // Not-ready endpoints receive no traffic, so hold no flows.
        assert_eq!(
            flows.endpoints,
            [(ip("10.244.1.2"), 5353)].into_iter().collect()
        );
    }

    #[test]
    fn serving_terminating_endpoints_count_when_none_is_ready() {
        let term = Endpoint {
            ready: false,
            serving: true,
            terminating: true,
            ..Endpoint::new(ip("10.244.1.9"), 5353)
        };
        let flows = udp_flows(&dns_port(), &[term, ep("10.244.1.3", false)]).unwrap_or_default();
        assert_eq!(
            flows.endpoints,
            [(ip("10.244.1.9"), 5353)].into_iter().collect()
        );
    }

    #[test]
    fn a_removed_endpoint_has_its_entries_deleted_for_every_frontend() {
        let port = dns_port();
        let old =
            udp_flows(&port, &[ep("10.244.1.2", true), ep("10.244.2.2", true)]).unwrap_or_default();
        let new = udp_flows(&port, &[ep("10.244.2.2", true)]).unwrap_or_default();
        let stale = stale_entries(&old, Some(&new));
        assert_eq!(stale.len(), 3, "{stale:?}");
        assert!(stale.iter().all(|d| d.reply_src == ip("10.244.1.2")));
        assert!(
            stale
                .iter()
                .any(|d| d.orig_dst.is_none() && d.orig_port_dst == 30053)
        );
        assert_eq!(
            stale
                .iter()
                .find(|d| d.orig_dst == Some(ip("10.96.0.10")))
                .map(ConntrackDelete::args),
            Some(
                [
                    "-D",
                    "-p",
                    "udp",
                    "--orig-dst",
                    "10.96.0.10",
                    "--orig-port-dst",
                    "53",
                    "--reply-src",
                    "10.244.1.2"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        // An endpoint that became not ready stops receiving traffic too.
        let unready = udp_flows(&port, &[ep("10.244.1.2", false), ep("10.244.2.2", true)])
            .unwrap_or_default();
        assert_eq!(stale_entries(&old, Some(&unready)), stale);
    }

    #[test]
    fn nothing_is_deleted_when_nothing_was_lost() {
        let port = dns_port();
        let old = udp_flows(&port, &[ep("10.244.1.2", true)]).unwrap_or_default();
        let more =
            udp_flows(&port, &[ep("10.244.1.2", true), ep("10.244.2.2", true)]).unwrap_or_default();
        assert!(stale_entries(&old, Some(&more)).is_empty());
        assert!(stale_entries(&old, Some(&old)).is_empty());
    }

    #[test]
    fn a_deleted_port_or_a_lost_frontend_takes_its_entries_along() {
        let port = dns_port();
        let old = udp_flows(&port, &[ep("10.244.1.2", true)]).unwrap_or_default();
        assert_eq!(stale_entries(&old, None).len(), 3);
        let without_lb = ServicePort {
            load_balancer_ips: vec![],
            ..port
        };
        let new = udp_flows(&without_lb, &[ep("10.244.1.2", true)]).unwrap_or_default();
        assert_eq!(
            stale_entries(&old, Some(&new)),
            vec![ConntrackDelete {
                orig_dst: Some(ip("172.18.0.200")),
                orig_port_dst: 53,
                reply_src: ip("10.244.1.2"),
            }]
        );
    }
}
