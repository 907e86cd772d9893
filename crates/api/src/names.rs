//! String-format checks: the ones knet-labels owns (wrapped here in one place) and the few
//! more of `k8s.io/apimachinery/pkg/util/validation` that only validation needs.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use crate::field::{FieldError, Path};

pub(crate) fn dns1123_label(s: &str) -> Vec<String> {
    knet_labels::validation::is_dns1123_label(s)
}

pub(crate) fn dns1123_subdomain(s: &str) -> Vec<String> {
    knet_labels::validation::is_dns1123_subdomain(s)
}

pub(crate) fn dns1035_label(s: &str) -> Vec<String> {
    knet_labels::validation::is_dns1035_label(s)
}

pub(crate) fn qualified_name(s: &str) -> Vec<String> {
    knet_labels::validation::is_qualified_name(s)
}

pub(crate) fn label_value(s: &str) -> Vec<String> {
    knet_labels::validation::is_valid_label_value(s)
}

pub(crate) fn env_var_name(s: &str) -> Vec<String> {
    knet_labels::validation::is_env_var_name(s)
}

pub(crate) fn port_num(p: i64) -> Vec<String> {
    knet_labels::validation::is_valid_port_num(p)
}

pub(crate) fn port_name(s: &str) -> Vec<String> {
    knet_labels::validation::is_valid_port_name(s)
}

pub(crate) fn ip(s: &str) -> Vec<String> {
    knet_labels::validation::is_valid_ip(s)
}

/// How a kind's `metadata.name` is checked (upstream `ValidateNameFunc`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// `NameIsDNSSubdomain`: most kinds.
    Subdomain,
    /// `NameIsDNSLabel`: namespaces.
    Label,
    /// `NameIsDNS1035Label`: services.
    Dns1035,
    /// `path.ValidatePathSegmentName`: kinds without a stricter rule (Events).
    PathSegment,
}

impl NameRule {
    /// Checks a name; with `prefix` (a `generateName`) a trailing dash is allowed.
    pub(crate) fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && name.ends_with('-') {
            // upstream maskTrailingDash: name[:len(name)-2] + "a"
            masked = match name.len() {
                0 | 1 => "a".to_string(),
                n => format!("{}a", &name[..floor_char_boundary(name, n - 2)]),
            };
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Subdomain => dns1123_subdomain(name),
            NameRule::Label => dns1123_label(name),
            NameRule::Dns1035 => dns1035_label(name),
            NameRule::PathSegment => path_segment_name(name),
        }
    }
}

/// `path.IsValidPathSegmentName`.
pub(crate) fn path_segment_name(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name == "." || name == ".." {
        errs.push(format!("may not be '{name}'"));
    }
    for bad in ["/", "%"] {
        if name.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Every message of `msgs` as an `Invalid` error at `path`.
pub(crate) fn invalid_all(path: &Path, value: &str, msgs: Vec<String>) -> Vec<FieldError> {
    msgs.iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// `validation.InclusiveRangeError`.
pub(crate) fn inclusive_range_error(lo: i64, hi: i64) -> String {
    knet_labels::validation::inclusive_range_error(lo, hi)
}

/// `validation.RegexError`.
pub(crate) fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    knet_labels::validation::regex_error(msg, fmt, examples)
}

fn re(pattern: &str) -> Regex {
    // The patterns are constants of this file, compiled by the tests below.
    Regex::new(pattern).expect("constant regular expression")
}

const CONFIG_MAP_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
static CONFIG_MAP_KEY: LazyLock<Regex> = LazyLock::new(|| re("^[-._a-zA-Z0-9]+$"));

/// `validation.IsConfigMapKey`: keys of ConfigMap and Secret data.
pub(crate) fn config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !CONFIG_MAP_KEY.is_match(value) {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            CONFIG_MAP_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if value == "." {
        errs.push("must not be '.'".to_string());
    } else if value == ".." {
        errs.push("must not be '..'".to_string());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

static PERCENT: LazyLock<Regex> = LazyLock::new(|| re("^[0-9]+%$"));

/// `validation.IsValidPercent`.
pub(crate) fn percent(value: &str) -> Vec<String> {
    if PERCENT.is_match(value) {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid percent string must be a numeric string followed by an ending '%'",
            "[0-9]+%",
            &["1%", "93%"],
        )]
    }
}

const WILDCARD_FMT: &str = "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
static WILDCARD: LazyLock<Regex> = LazyLock::new(|| re(&format!("^{WILDCARD_FMT}$")));

/// `validation.IsWildcardDNS1123Subdomain`: `*.example.com`.
pub(crate) fn wildcard_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !WILDCARD.is_match(value) {
        errs.push(regex_error(
            "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
            WILDCARD_FMT,
            &["*.example.com"],
        ));
    }
    errs
}

const HTTP_HEADER_FMT: &str = "[-A-Za-z0-9]+";
static HTTP_HEADER: LazyLock<Regex> = LazyLock::new(|| re("^[-A-Za-z0-9]+$"));

/// `validation.IsHTTPHeaderName`.
pub(crate) fn http_header_name(value: &str) -> Vec<String> {
    if HTTP_HEADER.is_match(value) {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid HTTP header must consist of alphanumeric characters or '-'",
            HTTP_HEADER_FMT,
            &["X-Header-Name"],
        )]
    }
}

const HTTP_PATH_FMT: &str = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";
static HTTP_PATH: LazyLock<Regex> = LazyLock::new(|| re("^[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+$"));

/// `validation.IsDomainPrefixedPath`: `acme.io/foo`.
pub(crate) fn domain_prefixed_path(path: &Path, value: &str) -> Vec<FieldError> {
    if value.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let Some((host, rest)) = value
        .split_once('/')
        .filter(|(h, r)| !h.is_empty() && !r.is_empty())
    else {
        return vec![FieldError::invalid(
            path,
            value,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        )];
    };
    let mut errs = invalid_all(path, host, dns1123_subdomain(host));
    if !HTTP_PATH.is_match(rest) {
        errs.push(FieldError::invalid(
            path,
            rest,
            &regex_error("Invalid path", HTTP_PATH_FMT, &[]),
        ));
    }
    errs
}

/// `validation.IsValidUserID` / `IsValidGroupID`.
pub(crate) fn user_or_group_id(id: i64) -> Vec<String> {
    if (0..=2_147_483_647).contains(&id) {
        Vec::new()
    } else {
        vec![inclusive_range_error(0, 2_147_483_647)]
    }
}

/// A CIDR as legacy fields accept it (`IsValidCIDRForLegacyField`, non-strict, the 1.33
/// default): host bits may be set.
pub(crate) fn cidr(path: &Path, value: &str) -> Vec<FieldError> {
    if parse_cidr(value).is_some() {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            path,
            value,
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        )]
    }
}

/// Parses `addr/len` the way Go's `ParseCIDRSloppy` does (host bits allowed).
pub(crate) fn parse_cidr(value: &str) -> Option<ipnet::IpNet> {
    let (addr, len) = value.split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return None;
    }
    let addr = IpAddr::from_str(addr).ok()?;
    let len: u8 = len.parse().ok()?;
    ipnet::IpNet::new(addr, len).ok()
}

/// `validation.IsValidIPv4Address`.
pub(crate) fn ipv4_address(path: &Path, value: &str) -> Vec<FieldError> {
    match IpAddr::from_str(value) {
        Ok(IpAddr::V4(_)) => Vec::new(),
        _ => vec![FieldError::invalid(
            path,
            value,
            "must be a valid IPv4 address",
        )],
    }
}

/// `validation.IsValidIPv6Address`.
pub(crate) fn ipv6_address(path: &Path, value: &str) -> Vec<FieldError> {
    match IpAddr::from_str(value) {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => Vec::new(),
        _ => vec![FieldError::invalid(
            path,
            value,
            "must be a valid IPv6 address",
        )],
    }
}

/// `ValidateNonSpecialIP`: no unspecified, loopback or link-local addresses.
pub(crate) fn non_special_ip(path: &Path, value: &str) -> Vec<FieldError> {
    let Ok(ip) = IpAddr::from_str(value) else {
        return vec![FieldError::invalid(
            path,
            value,
            "must be a valid IP address",
        )];
    };
    let mut errs = Vec::new();
    let (unspecified, loopback, link_local, link_local_mc) = match ip {
        IpAddr::V4(v4) => (
            v4.is_unspecified(),
            v4.is_loopback(),
            v4.is_link_local(),
            v4.octets()[..3] == [224, 0, 0],
        ),
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            (
                v6.is_unspecified(),
                v6.is_loopback(),
                seg[0] & 0xffc0 == 0xfe80,
                seg[0] & 0xff0f == 0xff02,
            )
        }
    };
    if unspecified {
        errs.push(FieldError::invalid(
            path,
            value,
            &format!("may not be unspecified ({value})"),
        ));
    }
    if loopback {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    if link_local {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if link_local_mc {
        errs.push(FieldError::invalid(
            path,
            value,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

/// `validation.IsFullyQualifiedDomainName`.
pub(crate) fn fully_qualified_domain_name(path: &Path, name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let errs = dns1123_subdomain(name);
    if !errs.is_empty() {
        return vec![FieldError::invalid(path, name, &errs.join(","))];
    }
    if name.split('.').count() < 2 {
        return vec![FieldError::invalid(
            path,
            name,
            "should be a domain with at least two segments separated by dots",
        )];
    }
    for label in name.split('.') {
        let errs = dns1123_label(label);
        if !errs.is_empty() {
            return vec![FieldError::invalid(path, label, &errs.join(","))];
        }
    }
    Vec::new()
}

/// Whether two addresses are one IPv4 and one IPv6 (`IsDualStackIPStrings` for two values).
pub(crate) fn is_dual_stack(values: &[String]) -> bool {
    let mut v4 = 0;
    let mut v6 = 0;
    for v in values {
        let v = v.split('/').next().unwrap_or(v);
        match IpAddr::from_str(v) {
            Ok(IpAddr::V4(_)) => v4 += 1,
            Ok(IpAddr::V6(_)) => v6 += 1,
            Err(_) => return false,
        }
    }
    v4 >= 1 && v6 >= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_map_keys_allow_dots_dashes_and_underscores() {
        assert!(config_map_key("app.properties").is_empty());
        assert!(config_map_key("KEY_NAME-1").is_empty());
        assert!(!config_map_key("a/b").is_empty());
        assert_eq!(config_map_key(".."), vec!["must not be '..'".to_string()]);
        assert!(!config_map_key("").is_empty());
    }

    #[test]
    fn percents_need_digits_and_a_percent_sign() {
        assert!(percent("25%").is_empty());
        assert_eq!(
            percent("25"),
            vec!["a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')".to_string()]
        );
    }

    #[test]
    fn wildcard_hosts_need_a_leading_star_dot() {
        assert!(wildcard_dns1123_subdomain("*.example.com").is_empty());
        assert!(!wildcard_dns1123_subdomain("foo.*.example.com").is_empty());
    }

    #[test]
    fn cidrs_accept_host_bits_like_legacy_fields() {
        let p = Path::new("cidr");
        assert!(cidr(&p, "192.0.2.0/24").is_empty());
        assert!(cidr(&p, "192.0.2.7/24").is_empty());
        assert!(cidr(&p, "2001:db8::/32").is_empty());
        assert_eq!(cidr(&p, "192.0.2.0").len(), 1);
        assert_eq!(cidr(&p, "192.0.2.0/33").len(), 1);
    }

    #[test]
    fn special_addresses_are_named() {
        let p = Path::new("ip");
        assert!(non_special_ip(&p, "192.0.2.10").is_empty());
        assert_eq!(non_special_ip(&p, "127.0.0.1").len(), 1);
        assert_eq!(non_special_ip(&p, "0.0.0.0").len(), 1);
        assert_eq!(non_special_ip(&p, "169.254.1.1").len(), 1);
        assert_eq!(non_special_ip(&p, "fe80::1").len(), 1);
    }

    #[test]
    fn generate_name_prefixes_may_end_in_a_dash() {
        assert!(NameRule::Subdomain.check("web-", true).is_empty());
        assert!(!NameRule::Subdomain.check("web-", false).is_empty());
    }

    #[test]
    fn domain_prefixed_paths_need_a_domain_and_a_path() {
        let p = Path::new("spec").child("controller");
        assert!(domain_prefixed_path(&p, "example.com/ingress").is_empty());
        assert_eq!(domain_prefixed_path(&p, "nginx").len(), 1);
    }
}
