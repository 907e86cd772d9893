//! A pod's /etc/resolv.conf from its `dnsPolicy` and `dnsConfig`, as kubelet computes it
//! (pkg/kubelet/network/dns/dns.go `GetPodDNS`) and containerd writes it; see
//! <https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/#pod-s-dns-policy>.
//! Pure: the caller reads the node's resolv.conf.
//!
//! ```text
//!  ClusterFirst ─► cluster DNS, <ns>.svc.<domain> svc.<domain> <domain> + node's searches, ndots:5 ┐
//!  Default      ─► the node's resolv.conf                                                        ├─► + dnsConfig ─► limits ─► text
//!  None         ─► nothing                                                                        ┘
//! ```

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, PodDNSConfig};

/// Most nameservers a resolver uses (glibc `MAXNS`; API validation `MaxDNSNameservers`).
pub const MAX_DNS_NAMESERVERS: usize = 3;
/// Most search domains (API validation `MaxDNSSearchPaths`, since Kubernetes 1.28).
pub const MAX_DNS_SEARCH_PATHS: usize = 32;
/// Longest search line, spaces included (API validation `MaxDNSSearchListChars`, since 1.28).
pub const MAX_DNS_SEARCH_LIST_CHARS: usize = 2048;
/// Longest single search domain (`DNS1123SubdomainMaxLength`): glibc aborts on longer ones.
const MAX_SEARCH_DOMAIN_CHARS: usize = 253;

/// The options of ClusterFirst pods (kubelet `defaultDNSOptions`).
const CLUSTER_FIRST_OPTIONS: &[&str] = &["ndots:5"];

/// Resolver settings: what becomes /etc/resolv.conf (CRI `DNSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolverConfig {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<String>,
    /// The `search` line's domains, in order, without trailing dots.
    pub searches: Vec<String>,
    /// The `options` line's entries (`ndots:5`, `edns0`), one per option name.
    pub options: Vec<String>,
}

impl ResolverConfig {
    /// Parses resolv.conf text as kubelet's `parseResolvConf` does: `nameserver` lines accumulate,
    /// the last `search` line wins (trailing dots dropped, `.` ignored), `options` accumulate with
    /// a later option replacing an earlier one of the same name; comments and other lines are
    /// skipped.
    pub fn parse(text: &str) -> Self {
        let mut config = ResolverConfig::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => {
                    if let Some(server) = fields.next() {
                        config.nameservers.push(server.to_owned());
                    }
                }
                Some("search") => {
                    config.searches = fields
                        .filter(|s| *s != ".")
                        .map(|s| s.strip_suffix('.').unwrap_or(s).to_owned())
                        .collect();
                }
                Some("options") => {
                    for option in fields {
                        set_option(&mut config.options, option_name(option), option.to_owned());
                    }
                }
                _ => {}
            }
        }
        config
    }

    /// The resolv.conf text, as containerd writes it (`parseDNSOptions`): a `search` line, one
    /// `nameserver` line each, an `options` line; empty parts are left out.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if !self.searches.is_empty() {
            text.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for server in &self.nameservers {
            text.push_str(&format!("nameserver {server}\n"));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }
}

/// The name of a resolver option (`ndots` of `ndots:5`).
fn option_name(option: &str) -> &str {
    option.split_once(':').map_or(option, |(name, _)| name)
}

/// Sets `option` in place of the one named `name`, or appends it.
fn set_option(options: &mut Vec<String>, name: &str, option: String) {
    match options.iter_mut().find(|o| option_name(o) == name) {
        Some(slot) => *slot = option,
        None => options.push(option),
    }
}

/// Appends `items` that are not there yet (kubelet `omitDuplicates`).
fn append_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Which base configuration a pod's policy takes (kubelet `getPodDNSType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodDnsType {
    /// The cluster's DNS.
    Cluster,
    /// The node's resolver configuration.
    Host,
    /// Nothing but `dnsConfig`.
    None,
}

fn pod_dns_type(pod: &Pod) -> PodDnsType {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    match spec.and_then(|s| s.dns_policy.as_deref()) {
        Some("None") => PodDnsType::None,
        Some("ClusterFirstWithHostNet") => PodDnsType::Cluster,
        Some("Default") => PodDnsType::Host,
        // ClusterFirst on the host's network is Default: the pod cannot reach the cluster DNS by
        // name of its namespace (dns.go: "Fallback to DNSDefault for pod on hostnetwork").
        Some("ClusterFirst") if host_network => PodDnsType::Host,
        // ClusterFirst, unset (the API server defaults it) or unknown (validation rejects those;
        // kubelet falls back to ClusterFirst).
        _ => PodDnsType::Cluster,
    }
}

/// The resolver settings of `pod` (kubelet `GetPodDNS`): the base its `dnsPolicy` picks (see the
/// module doc), `dnsConfig` merged in (nameservers and searches appended without duplicates,
/// options by name with the pod's winning), then cut to the resolver's limits (3 nameservers, 32
/// search domains of at most 253 characters, a search line of at most 2048).
///
/// ClusterFirst with no `cluster_dns` falls back to Default, as kubelet does when it has no
/// `--cluster-dns`; an empty `cluster_domain` gives the node's search domains alone.
pub fn pod_dns_config(
    pod: &Pod,
    cluster_dns: &[IpAddr],
    cluster_domain: &str,
    node: &ResolverConfig,
) -> ResolverConfig {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut config = match pod_dns_type(pod) {
        PodDnsType::None => ResolverConfig::default(),
        PodDnsType::Cluster if !cluster_dns.is_empty() => {
            let mut searches = Vec::new();
            if !cluster_domain.is_empty() {
                searches = vec![
                    format!("{namespace}.svc.{cluster_domain}"),
                    format!("svc.{cluster_domain}"),
                    cluster_domain.to_owned(),
                ];
            }
            append_unique(&mut searches, node.searches.iter().cloned());
            ResolverConfig {
                nameservers: cluster_dns.iter().map(ToString::to_string).collect(),
                searches,
                options: CLUSTER_FIRST_OPTIONS
                    .iter()
                    .map(|o| (*o).to_owned())
                    .collect(),
            }
        }
        PodDnsType::Cluster | PodDnsType::Host => node.clone(),
    };
    if let Some(extra) = pod.spec.as_ref().and_then(|s| s.dns_config.as_ref()) {
        merge_dns_config(&mut config, extra);
    }
    fit_limits(&mut config);
    config
}

/// kubelet `appendDNSConfig`.
fn merge_dns_config(config: &mut ResolverConfig, extra: &PodDNSConfig) {
    append_unique(
        &mut config.nameservers,
        extra.nameservers.iter().flatten().cloned(),
    );
    append_unique(
        &mut config.searches,
        extra.searches.iter().flatten().cloned(),
    );
    for option in extra.options.iter().flatten() {
        let Some(name) = option.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        let text = match option.value.as_deref().filter(|v| !v.is_empty()) {
            Some(value) => format!("{name}:{value}"),
            None => name.to_owned(),
        };
        set_option(&mut config.options, name, text);
    }
}

/// kubelet `formDNSConfigFitsLimits`: what does not fit is left out (kubelet also records a
/// `DNSConfigForming` warning event).
fn fit_limits(config: &mut ResolverConfig) {
    config.nameservers.truncate(MAX_DNS_NAMESERVERS);
    config.searches.truncate(MAX_DNS_SEARCH_PATHS);
    config
        .searches
        .retain(|s| s.len() <= MAX_SEARCH_DOMAIN_CHARS);
    let line_len =
        |s: &[String]| s.iter().map(String::len).sum::<usize>() + s.len().saturating_sub(1);
    while line_len(&config.searches) > MAX_DNS_SEARCH_LIST_CHARS {
        config.searches.pop();
    }
}

/// The /etc/resolv.conf text of `pod` ([`pod_dns_config`] over the node's resolv.conf text).
pub fn pod_resolv_conf(
    pod: &Pod,
    cluster_dns: &[IpAddr],
    cluster_domain: &str,
    node_resolv_conf: &str,
) -> String {
    let node = ResolverConfig::parse(node_resolv_conf);
    pod_dns_config(pod, cluster_dns, cluster_domain, &node).render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodDNSConfigOption, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const CLUSTER_DOMAIN: &str = "cluster.local";

    fn cluster_dns() -> Vec<IpAddr> {
        vec!["10.96.0.10".parse().unwrap()]
    }

    const NODE: &str = "# generated by the host\n\
        nameserver 192.0.2.53\n\
        nameserver 198.51.100.53\n\
        search corp.example.com. lab.example.com\n\
        options edns0 ndots:2\n";

    fn mk_pod(namespace: &str, policy: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web-0".into()),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                dns_policy: policy.map(str::to_owned),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn with_dns_config(
        mut pod: Pod,
        nameservers: &[&str],
        searches: &[&str],
        options: &[(&str, Option<&str>)],
    ) -> Pod {
        let strings = |items: &[&str]| Some(items.iter().map(|s| (*s).to_owned()).collect());
        if let Some(spec) = pod.spec.as_mut() {
            spec.dns_config = Some(PodDNSConfig {
                nameservers: strings(nameservers),
                searches: strings(searches),
                options: Some(
                    options
                        .iter()
                        .map(|(name, value)| PodDNSConfigOption {
                            name: Some((*name).to_owned()),
                            value: value.map(str::to_owned),
                        })
                        .collect(),
                ),
            });
        }
        pod
    }

    fn resolv(pod: &Pod, node: &str) -> String {
        pod_resolv_conf(pod, &cluster_dns(), CLUSTER_DOMAIN, node)
    }

    #[test]
    fn the_node_file_parses_as_kubelet_reads_it() {
        let text = "nameserver 192.0.2.1\nsearch old.example\n; comment\n# nameserver 192.0.2.9\n\
                    nameserver 192.0.2.2\nsearch a.example. . b.example\noptions ndots:1 rotate\n\
                    options ndots:3\nnameserver\n";
        let config = ResolverConfig::parse(text);
        assert_eq!(config.nameservers, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(config.searches, ["a.example", "b.example"]);
        assert_eq!(config.options, ["ndots:3", "rotate"]);
    }

    #[test]
    fn cluster_first_uses_the_cluster_dns_and_the_namespace_search_path() {
        let pod = mk_pod("shop", Some("ClusterFirst"));
        assert_eq!(
            resolv(&pod, NODE),
            "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example.com lab.example.com\n\
             nameserver 10.96.0.10\n\
             options ndots:5\n"
        );
        // Unset is the API server's default, ClusterFirst.
        assert_eq!(resolv(&mk_pod("shop", None), NODE), resolv(&pod, NODE));
    }

    #[test]
    fn cluster_first_without_node_search_domains_has_the_cluster_ones_only() {
        let pod = mk_pod("default", Some("ClusterFirst"));
        assert_eq!(
            resolv(&pod, ""),
            "search default.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 10.96.0.10\n\
             options ndots:5\n"
        );
    }

    #[test]
    fn cluster_first_on_the_host_network_is_default_unless_with_host_net() {
        let mut pod = mk_pod("shop", Some("ClusterFirst"));
        if let Some(spec) = pod.spec.as_mut() {
            spec.host_network = Some(true);
        }
        let node = ResolverConfig::parse(NODE);
        assert_eq!(
            pod_dns_config(&pod, &cluster_dns(), CLUSTER_DOMAIN, &node),
            node
        );
        if let Some(spec) = pod.spec.as_mut() {
            spec.dns_policy = Some("ClusterFirstWithHostNet".into());
        }
        let config = pod_dns_config(&pod, &cluster_dns(), CLUSTER_DOMAIN, &node);
        assert_eq!(config.nameservers, ["10.96.0.10"]);
        assert_eq!(config.searches[0], "shop.svc.cluster.local");
    }

    #[test]
    fn cluster_first_without_cluster_dns_falls_back_to_default() {
        let pod = mk_pod("shop", Some("ClusterFirst"));
        let node = ResolverConfig::parse(NODE);
        assert_eq!(pod_dns_config(&pod, &[], CLUSTER_DOMAIN, &node), node);
    }

    #[test]
    fn default_is_the_nodes_configuration() {
        let pod = mk_pod("shop", Some("Default"));
        assert_eq!(
            resolv(&pod, NODE),
            "search corp.example.com lab.example.com\n\
             nameserver 192.0.2.53\n\
             nameserver 198.51.100.53\n\
             options edns0 ndots:2\n"
        );
        assert_eq!(
            resolv(&pod, ""),
            "",
            "an unreadable node file gives nothing"
        );
    }

    #[test]
    fn none_is_the_dns_config_alone() {
        // The documentation's example (dns-pod-service/#pod-dns-config).
        let pod = with_dns_config(
            mk_pod("shop", Some("None")),
            &["192.0.2.1"],
            &["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
            &[("ndots", Some("2")), ("edns0", None)],
        );
        assert_eq!(
            resolv(&pod, NODE),
            "search ns1.svc.cluster-domain.example my.dns.search.suffix\n\
             nameserver 192.0.2.1\n\
             options ndots:2 edns0\n"
        );
    }

    #[test]
    fn dns_config_is_appended_without_duplicates_and_its_options_win_by_name() {
        let pod = with_dns_config(
            mk_pod("shop", Some("ClusterFirst")),
            &["10.96.0.10", "203.0.113.53"],
            &["cluster.local", "extra.example"],
            &[
                ("ndots", Some("1")),
                ("timeout", Some("3")),
                ("edns0", None),
            ],
        );
        let config = pod_dns_config(
            &pod,
            &cluster_dns(),
            CLUSTER_DOMAIN,
            &ResolverConfig::default(),
        );
        assert_eq!(config.nameservers, ["10.96.0.10", "203.0.113.53"]);
        assert_eq!(
            config.searches,
            [
                "shop.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "extra.example"
            ]
        );
        assert_eq!(config.options, ["ndots:1", "timeout:3", "edns0"]);
    }

    #[test]
    fn nameservers_beyond_three_are_left_out() {
        let pod = with_dns_config(
            mk_pod("shop", Some("Default")),
            &["203.0.113.1", "203.0.113.2"],
            &[],
            &[],
        );
        let config = pod_dns_config(
            &pod,
            &cluster_dns(),
            CLUSTER_DOMAIN,
            &ResolverConfig::parse(NODE),
        );
        assert_eq!(
            config.nameservers,
            ["192.0.2.53", "198.51.100.53", "203.0.113.1"]
        );
    }

    #[test]
    fn search_domains_beyond_the_limits_are_left_out() {
        // 40 node domains: 3 cluster ones + 29 of them fit the 32.
        let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let node = ResolverConfig {
            searches: many.clone(),
            ..ResolverConfig::default()
        };
        let pod = mk_pod("shop", Some("ClusterFirst"));
        let config = pod_dns_config(&pod, &cluster_dns(), CLUSTER_DOMAIN, &node);
        assert_eq!(config.searches.len(), MAX_DNS_SEARCH_PATHS);
        assert_eq!(config.searches[31], "d28.example");

        // A domain longer than 253 characters is dropped; the line is cut to 2048 from the end.
        let long = format!("{}.example", "a".repeat(250));
        let wide: Vec<String> = (0..10)
            .map(|i| format!("{}{i}.example", "b".repeat(240)))
            .collect();
        let mut searches = vec![long];
        searches.extend(wide.iter().cloned());
        let node = ResolverConfig {
            searches,
            ..ResolverConfig::default()
        };
        let config = pod_dns_config(&mk_pod("shop", Some("Default")), &[], "", &node);
        assert_eq!(config.searches, wide[..8]);
        let line = config.searches.join(" ");
        assert!(line.len() <= MAX_DNS_SEARCH_LIST_CHARS, "{}", line.len());
    }

    #[test]
    fn an_empty_cluster_domain_keeps_the_node_search_domains_only() {
        let pod = mk_pod("shop", Some("ClusterFirst"));
        let config = pod_dns_config(&pod, &cluster_dns(), "", &ResolverConfig::parse(NODE));
        assert_eq!(config.searches, ["corp.example.com", "lab.example.com"]);
        assert_eq!(config.nameservers, ["10.96.0.10"]);
    }
}
