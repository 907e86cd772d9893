//! LoadBalancer IPAM: gives each Service of type LoadBalancer an IPv4 address
//! from a pool, written to `status.loadBalancer.ingress[0]` (`ipMode: VIP`), as
//! MetalLB's and kube-vip's controllers do for clusters without a cloud.
//!
//! - `spec.loadBalancerIP` is honoured when it is in the pool and free.
//! - When the pool is exhausted, or the requested address is invalid, outside the
//!   pool or taken, the status is left empty and a Warning `AllocationFailed`
//!   event says why (once per distinct reason).
//! - Services with `spec.loadBalancerClass` belong to another implementation and
//!   are skipped; addresses they hold still count as taken.
//! - Nothing is stored besides Service status: which address is in use is read
//!   back from every Service's status on each pass (so it is rebuilt at start),
//!   plus the writes the loop has made that its cache does not show yet. An
//!   address is free again once its Service is gone or is no longer of type
//!   LoadBalancer (the API server clears the status on that change; a leftover
//!   ingress on such a Service is cleared here).
//! - When two Services claim one address, the older (creation time, then
//!   namespace/name) keeps it and the other is given a new one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus};

use crate::action::{Action, EventSpec, EventType, Plan};
use crate::meta::{created, key_of, object_reference, uid_of};
use crate::service::{service_type, spec_of};

/// `source.component` of this controller's events.
pub const LB_COMPONENT: &str = "lb-ipam-controller";
/// Reason of the Normal event recorded when an address is assigned.
pub const REASON_ALLOCATED: &str = "IPAllocated";
/// Reason of the Warning event recorded when no address can be assigned.
pub const REASON_ALLOCATION_FAILED: &str = "AllocationFailed";

/// An inclusive range of IPv4 addresses handed to LoadBalancer Services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LbPool {
    first: Ipv4Addr,
    last: Ipv4Addr,
}

/// Why a pool cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LbPoolError {
    /// Not `FIRST-LAST`, `ADDRESS/PREFIX` or one address.
    #[error("invalid address pool {0:?}: expected FIRST-LAST, a CIDR or one IPv4 address")]
    Syntax(String),
    /// The first address comes after the last.
    #[error("invalid address pool {first}-{last}: the first address is after the last")]
    Reversed {
        /// First address given.
        first: Ipv4Addr,
        /// Last address given.
        last: Ipv4Addr,
    },
}

impl LbPool {
    /// The addresses from `first` to `last`, both included.
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Result<Self, LbPoolError> {
        if first > last {
            return Err(LbPoolError::Reversed { first, last });
        }
        Ok(LbPool { first, last })
    }

    /// First address of the pool.
    pub fn first(&self) -> Ipv4Addr {
        self.first
    }

    /// Last address of the pool.
    pub fn last(&self) -> Ipv4Addr {
        self.last
    }

    /// Whether `ip` is in the pool.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.first <= ip && ip <= self.last
    }

    /// Number of addresses (at least 1).
    pub fn size(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    /// The addresses in ascending order.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + use<> {
        (u32::from(self.first)..=u32::from(self.last)).map(Ipv4Addr::from)
    }
}

impl Default for LbPool {
    /// `172.18.0.200-172.18.0.250`: inside knet's node LAN (172.18.0.0/24, where
    /// the gateway is .1, nodes start at .2 and the external client is .254).
    fn default() -> Self {
        LbPool {
            first: Ipv4Addr::new(172, 18, 0, 200),
            last: Ipv4Addr::new(172, 18, 0, 250),
        }
    }
}

impl fmt::Display for LbPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for LbPool {
    type Err = LbPoolError;

    /// `FIRST-LAST`, `ADDRESS/PREFIX` (every address of the block, as MetalLB
    /// reads a CIDR) or a single address.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || LbPoolError::Syntax(s.to_string());
        let s = s.trim();
        if let Some((a, b)) = s.split_once('-') {
            let first = a.trim().parse().map_err(|_| syntax())?;
            let last = b.trim().parse().map_err(|_| syntax())?;
            return LbPool::new(first, last);
        }
        if s.contains('/') {
            let net: ipnet::Ipv4Net = s.parse().map_err(|_| syntax())?;
            return LbPool::new(net.network(), net.broadcast());
        }
        let ip = s.parse().map_err(|_| syntax())?;
        LbPool::new(ip, ip)
    }
}

/// What one LB IPAM reconcile looks at.
#[derive(Debug, Clone, Copy)]
pub struct LbSnapshot<'a> {
    /// All Services.
    pub services: &'a [Arc<Service>],
    /// The pool to allocate from.
    pub pool: LbPool,
    /// Status writes the cache may not show yet: Service uid → the address
    /// written (`None`: the status was cleared).
    pub assumed: &'a BTreeMap<String, Option<Ipv4Addr>>,
    /// Service uid → message of the last `AllocationFailed` event recorded, so an
    /// unchanged failure is not reported again.
    pub reported: &'a BTreeMap<String, String>,
}

/// Whether this controller assigns the Service's address: type LoadBalancer and
/// no `loadBalancerClass`.
pub fn wants_address(svc: &Service) -> bool {
    service_type(svc) == "LoadBalancer"
        && spec_of(svc)
            .load_balancer_class
            .as_deref()
            .is_none_or(str::is_empty)
}

fn status_ingress(svc: &Service) -> &[LoadBalancerIngress] {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default()
}

/// The ingress the Service has, counting writes the cache does not show yet.
fn effective_ingress(
    svc: &Service,
    assumed: &BTreeMap<String, Option<Ipv4Addr>>,
) -> Vec<LoadBalancerIngress> {
    match assumed.get(uid_of(&svc.metadata)) {
        Some(Some(ip)) => vec![vip(*ip)],
        Some(None) => Vec::new(),
        None => status_ingress(svc).to_vec(),
    }
}

fn ingress_ip(ingress: &LoadBalancerIngress) -> Option<Ipv4Addr> {
    ingress.ip.as_deref().and_then(|ip| ip.parse().ok())
}

/// The address of the first ingress entry, if it is an IPv4 address.
pub fn assigned_ip(svc: &Service) -> Option<Ipv4Addr> {
    status_ingress(svc).first().and_then(ingress_ip)
}

fn vip(ip: Ipv4Addr) -> LoadBalancerIngress {
    LoadBalancerIngress {
        ip: Some(ip.to_string()),
        ip_mode: Some("VIP".into()),
        ..LoadBalancerIngress::default()
    }
}

/// The status is exactly `[{ip, ipMode: VIP}]` (an unset ipMode defaults to VIP).
fn is_exactly(ingress: &[LoadBalancerIngress], ip: Ipv4Addr) -> bool {
    match ingress {
        [only] => {
            ingress_ip(only) == Some(ip)
                && only.ip_mode.as_deref().unwrap_or("VIP") == "VIP"
                && only.hostname.as_deref().unwrap_or_default().is_empty()
                && only.ports.as_deref().unwrap_or_default().is_empty()
        }
        _ => false,
    }
}

fn with_ingress(svc: &Service, ingress: Vec<LoadBalancerIngress>) -> Service {
    let mut updated = svc.clone();
    let status = updated.status.get_or_insert_with(ServiceStatus::default);
    status.load_balancer = Some(LoadBalancerStatus {
        ingress: (!ingress.is_empty()).then_some(ingress),
    });
    updated
}

/// Order of precedence between Services: creation time, then namespace/name.
fn seniority(svc: &Service) -> (Option<jiff::Timestamp>, String) {
    (created(&svc.metadata), key_of(&svc.metadata))
}

/// Assigns, keeps, moves or clears load balancer addresses: one group per
/// Service (`Service <ns>/<name>`) with a status write and its event.
pub fn reconcile_load_balancers(snap: &LbSnapshot<'_>) -> Plan {
    let mut services: Vec<&Service> = snap.services.iter().map(|s| s.as_ref()).collect();
    services.sort_by_key(|s| seniority(s));

    // Who holds which address: the senior claimant of each. Our Services claim
    // their first ingress address; others (another loadBalancerClass) all of theirs.
    let mut owner: Owners<'_> = BTreeMap::new();
    for svc in &services {
        if service_type(svc) != "LoadBalancer" {
            continue;
        }
        let ingress = effective_ingress(svc, snap.assumed);
        let claimed: Vec<Ipv4Addr> = if wants_address(svc) {
            ingress.first().and_then(ingress_ip).into_iter().collect()
        } else {
            ingress.iter().filter_map(ingress_ip).collect()
        };
        for ip in claimed {
            owner
                .entry(ip)
                .or_insert_with(|| (uid_of(&svc.metadata), key_of(&svc.metadata)));
        }
    }

    // Services asking for a specific address go first, so that a dynamic
    // allocation in the same pass cannot take it from them.
    let requests = |svc: &Service| requested_ip(svc).is_some();
    let order = services
        .iter()
        .enumerate()
        .filter(|(_, s)| requests(s))
        .chain(services.iter().enumerate().filter(|(_, s)| !requests(s)));
    let mut groups: BTreeMap<usize, Vec<Action>> = BTreeMap::new();
    for (i, svc) in order {
        groups.insert(i, reconcile_service(svc, snap, &mut owner));
    }
    let mut plan = Plan::new();
    for (i, actions) in groups {
        if let Some(svc) = services.get(i) {
            plan.push_group(format!("Service {}", key_of(&svc.metadata)), actions);
        }
    }
    plan
}

fn requested_ip(svc: &Service) -> Option<&str> {
    spec_of(svc)
        .load_balancer_ip
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

type Owners<'a> = BTreeMap<Ipv4Addr, (&'a str, String)>;

/// The status write and events for one Service; records a new address in `owner`.
fn reconcile_service<'a>(
    svc: &'a Service,
    snap: &LbSnapshot<'_>,
    owner: &mut Owners<'a>,
) -> Vec<Action> {
    let key = key_of(&svc.metadata);
    let ingress = effective_ingress(svc, snap.assumed);
    let mut actions = Vec::new();
    if service_type(svc) != "LoadBalancer" {
        // Released: no ingress may stay behind (validation forbids it).
        if !ingress.is_empty() {
            actions.push(Action::ReplaceServiceStatus(Box::new(with_ingress(
                svc,
                Vec::new(),
            ))));
        }
        return actions;
    }
    if !wants_address(svc) || svc.metadata.deletion_timestamp.is_some() {
        return actions;
    }
    let uid = uid_of(&svc.metadata);
    let current = ingress.first().and_then(ingress_ip);
    let requested = requested_ip(svc);
    let held = current.filter(|ip| {
        snap.pool.contains(*ip)
            && owner.get(ip).is_some_and(|(o, _)| *o == uid)
            && requested.is_none_or(|r| r.parse::<Ipv4Addr>().ok() == Some(*ip))
    });
    let outcome = match held {
        Some(ip) => Ok(ip),
        None => allocate(snap.pool, requested, uid, owner),
    };

    let involved = object_reference("v1", "Service", &svc.metadata);
    match outcome {
        Ok(ip) => {
            // The address is this Service's from now on; no later one takes it.
            owner.insert(ip, (uid, key.clone()));
            if !is_exactly(&ingress, ip) {
                actions.push(Action::ReplaceServiceStatus(Box::new(with_ingress(
                    svc,
                    vec![vip(ip)],
                ))));
                if current != Some(ip) {
                    actions.push(Action::Event(EventSpec {
                        involved,
                        type_: EventType::Normal,
                        reason: REASON_ALLOCATED.into(),
                        message: format!("Assigned IP [\"{ip}\"]"),
                        component: LB_COMPONENT,
                        action: None,
                    }));
                }
            }
        }
        Err(reason) => {
            if !ingress.is_empty() {
                actions.push(Action::ReplaceServiceStatus(Box::new(with_ingress(
                    svc,
                    Vec::new(),
                ))));
            }
            let message = format!("Failed to allocate IP for \"{key}\": {reason}");
            if snap.reported.get(uid) != Some(&message) {
                actions.push(Action::Event(EventSpec {
                    involved,
                    type_: EventType::Warning,
                    reason: REASON_ALLOCATION_FAILED.into(),
                    message,
                    component: LB_COMPONENT,
                    action: None,
                }));
            }
        }
    }
    actions
}

/// A requested address if valid and free, else the lowest free one.
fn allocate(
    pool: LbPool,
    requested: Option<&str>,
    uid: &str,
    owner: &Owners<'_>,
) -> Result<Ipv4Addr, String> {
    let free = |ip: &Ipv4Addr| owner.get(ip).is_none_or(|(o, _)| *o == uid);
    match requested {
        Some(raw) => {
            let ip: Ipv4Addr = raw
                .parse()
                .map_err(|_| format!("spec.loadBalancerIP {raw:?} is not an IPv4 address"))?;
            if !pool.contains(ip) {
                return Err(format!(
                    "requested IP {ip} is not in the address pool {pool}"
                ));
            }
            match owner.get(&ip) {
                Some((o, holder)) if *o != uid => Err(format!(
                    "requested IP {ip} is already in use by Service {holder}"
                )),
                _ => Ok(ip),
            }
        }
        None => pool
            .addresses()
            .find(free)
            .ok_or_else(|| format!("no available IPs in the address pool {pool}")),
    }
}

/// The Services (uids) that should keep an `AllocationFailed` report: ours,
/// still of type LoadBalancer, without an address.
pub(crate) fn still_unallocated(services: &[Arc<Service>]) -> BTreeSet<String> {
    services
        .iter()
        .filter(|s| wants_address(s) && assigned_ip(s).is_none())
        .map(|s| uid_of(&s.metadata).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ServiceExt, mk_service};

    fn pool() -> LbPool {
        "203.0.113.10-203.0.113.12".parse().unwrap()
    }

    fn lb(name: &str, created: i64) -> Service {
        mk_service("default", name, &[("app", name)])
            .load_balancer()
            .created_at(created)
    }

    fn run_with(
        services: &[Service],
        assumed: &BTreeMap<String, Option<Ipv4Addr>>,
        reported: &BTreeMap<String, String>,
    ) -> Plan {
        let services: Vec<Arc<Service>> = services.iter().cloned().map(Arc::new).collect();
        reconcile_load_balancers(&LbSnapshot {
            services: &services,
            pool: pool(),
            assumed,
            reported,
        })
    }

    fn run(services: &[Service]) -> Plan {
        run_with(services, &BTreeMap::new(), &BTreeMap::new())
    }

    /// Service name → the address its status write sets (`None`: cleared).
    fn writes(plan: &Plan) -> BTreeMap<String, Option<String>> {
        plan.actions()
            .filter_map(|a| match a {
                Action::ReplaceServiceStatus(svc) => Some((
                    svc.metadata.name.clone().unwrap(),
                    status_ingress(svc).first().and_then(|i| i.ip.clone()),
                )),
                _ => None,
            })
            .collect()
    }

    fn events(plan: &Plan) -> Vec<(String, String)> {
        plan.actions()
            .filter_map(|a| match a {
                Action::Event(e) => Some((e.reason.clone(), e.message.clone())),
                _ => None,
            })
            .collect()
    }

    fn w(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn pools_parse_from_ranges_cidrs_and_single_addresses() {
        let p: LbPool = "172.18.0.200-172.18.0.250".parse().unwrap();
        assert_eq!(p, LbPool::default());
        assert_eq!(p.size(), 51);
        assert_eq!(p.to_string(), "172.18.0.200-172.18.0.250");
        let c: LbPool = "203.0.113.8/30".parse().unwrap();
        assert_eq!(
            (c.first(), c.last()),
            (
                "203.0.113.8".parse().unwrap(),
                "203.0.113.11".parse().unwrap()
            )
        );
        assert_eq!(" 203.0.113.5 ".parse::<LbPool>().unwrap().size(), 1);
        assert!(matches!(
            "203.0.113.9-203.0.113.1".parse::<LbPool>(),
            Err(LbPoolError::Reversed { .. })
        ));
        assert!(matches!(
            "pool".parse::<LbPool>(),
            Err(LbPoolError::Syntax(_))
        ));
        assert!(matches!(
            "2001:db8::1-2001:db8::9".parse::<LbPool>(),
            Err(LbPoolError::Syntax(_))
        ));
    }

    #[test]
    fn load_balancer_services_get_the_lowest_free_addresses_in_age_order() {
        let services = [
            lb("b", 5),
            lb("a", 1),
            mk_service("default", "plain", &[("app", "x")]),
        ];
        let plan = run(&services);
        assert_eq!(
            writes(&plan),
            w(&[("a", Some("203.0.113.10")), ("b", Some("203.0.113.11"))])
        );
        let Some(Action::ReplaceServiceStatus(svc)) = plan.actions().next() else {
            unreachable!()
        };
        assert_eq!(status_ingress(svc)[0].ip_mode.as_deref(), Some("VIP"));
        assert_eq!(status_ingress(svc).len(), 1);
        assert_eq!(
            events(&plan),
            [
                (
                    REASON_ALLOCATED.to_string(),
                    "Assigned IP [\"203.0.113.10\"]".to_string()
                ),
                (
                    REASON_ALLOCATED.to_string(),
                    "Assigned IP [\"203.0.113.11\"]".to_string()
                ),
            ]
        );
        // Once the status shows the address nothing more is written.
        let done = [
            lb("a", 1).with_ingress_ip("203.0.113.10"),
            lb("b", 5).with_ingress_ip("203.0.113.11"),
        ];
        assert!(run(&done).is_empty());
    }

    #[test]
    fn a_requested_address_is_honoured_when_free_and_in_the_pool() {
        // b asks for .10: requests are served before dynamic allocations of the
        // same pass, so the older a gets the next free address instead.
        let services = [lb("a", 1), lb("b", 2).requesting_ip("203.0.113.10")];
        let plan = run(&services);
        assert_eq!(
            writes(&plan),
            w(&[("a", Some("203.0.113.11")), ("b", Some("203.0.113.10"))])
        );
        // Groups stay in age order.
        assert_eq!(plan.groups[0].key, "Service default/a");

        // Taken by someone already: refused, with the holder named.
        let services = [
            lb("a", 1).with_ingress_ip("203.0.113.10"),
            lb("b", 2).requesting_ip("203.0.113.10"),
        ];
        let plan = run(&services);
        assert!(writes(&plan).is_empty());
        assert_eq!(
            events(&plan),
            [(
                REASON_ALLOCATION_FAILED.to_string(),
                "Failed to allocate IP for \"default/b\": requested IP 203.0.113.10 is already in use by Service default/a".to_string()
            )]
        );
    }

    #[test]
    fn a_requested_address_outside_the_pool_or_invalid_leaves_the_status_empty() {
        let plan = run(&[lb("a", 1).requesting_ip("198.51.100.7")]);
        assert!(writes(&plan).is_empty());
        assert_eq!(
            events(&plan),
            [(
                REASON_ALLOCATION_FAILED.to_string(),
                "Failed to allocate IP for \"default/a\": requested IP 198.51.100.7 is not in the address pool 203.0.113.10-203.0.113.12".to_string()
            )]
        );
        let plan = run(&[lb("a", 1).requesting_ip("not-an-ip")]);
        assert!(events(&plan)[0].1.contains("is not an IPv4 address"));

        // Asking for another address than the one held moves, or clears on failure.
        let held = lb("a", 1).with_ingress_ip("203.0.113.10");
        let plan = run(&[held.clone().requesting_ip("203.0.113.12")]);
        assert_eq!(writes(&plan), w(&[("a", Some("203.0.113.12"))]));
        let plan = run(&[held.requesting_ip("198.51.100.7")]);
        assert_eq!(writes(&plan), w(&[("a", None)]));
    }

    #[test]
    fn an_exhausted_pool_is_reported_once_per_reason() {
        let services = [
            lb("a", 1).with_ingress_ip("203.0.113.10"),
            lb("b", 2).with_ingress_ip("203.0.113.11"),
            lb("c", 3).with_ingress_ip("203.0.113.12"),
            lb("d", 4),
        ];
        let plan = run(&services);
        assert!(writes(&plan).is_empty());
        let evs = events(&plan);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].0, REASON_ALLOCATION_FAILED);
        assert!(
            evs[0]
                .1
                .ends_with("no available IPs in the address pool 203.0.113.10-203.0.113.12")
        );
        let Some(Action::Event(e)) = plan.actions().next() else {
            unreachable!()
        };
        assert_eq!(e.type_, EventType::Warning);
        assert_eq!(e.involved.name.as_deref(), Some("d"));
        assert_eq!(e.involved.kind.as_deref(), Some("Service"));

        let reported = BTreeMap::from([("uid-d".to_string(), evs[0].1.clone())]);
        assert!(run_with(&services, &BTreeMap::new(), &reported).is_empty());
    }

    #[test]
    fn a_deleted_service_frees_its_address_for_the_next() {
        let services = [lb("a", 1).with_ingress_ip("203.0.113.10"), lb("b", 2)];
        assert_eq!(writes(&run(&services)), w(&[("b", Some("203.0.113.11"))]));
        assert_eq!(
            writes(&run(&services[1..])),
            w(&[("b", Some("203.0.113.10"))])
        );
    }

    #[test]
    fn a_service_that_stops_being_a_load_balancer_is_cleared_and_releases_its_address() {
        let was_lb = lb("a", 1)
            .with_ingress_ip("203.0.113.10")
            .type_("ClusterIP");
        let plan = run(&[was_lb.clone(), lb("b", 2)]);
        assert_eq!(
            writes(&plan),
            w(&[("a", None), ("b", Some("203.0.113.10"))])
        );
        // Cleared ones are left alone.
        assert!(run(&[lb("a", 1).type_("ClusterIP")]).is_empty());
    }

    #[test]
    fn allocation_is_rebuilt_from_the_services_statuses() {
        // A restart sees addresses held (even out of order) and fills the gaps.
        let services = [
            lb("a", 1).with_ingress_ip("203.0.113.11"),
            lb("b", 2),
            lb("c", 3),
        ];
        assert_eq!(
            writes(&run(&services)),
            w(&[("b", Some("203.0.113.10")), ("c", Some("203.0.113.12"))])
        );
    }

    #[test]
    fn writes_the_cache_does_not_show_yet_count_as_made() {
        let services = [lb("a", 1), lb("b", 2)];
        let assumed =
            BTreeMap::from([("uid-a".to_string(), Some("203.0.113.10".parse().unwrap()))]);
        let plan = run_with(&services, &assumed, &BTreeMap::new());
        assert_eq!(writes(&plan), w(&[("b", Some("203.0.113.11"))]));
    }

    #[test]
    fn other_load_balancer_classes_are_skipped_but_their_addresses_are_taken() {
        let theirs = lb("other", 0)
            .lb_class("example.com/lb")
            .with_ingress_ip("203.0.113.10");
        let plan = run(&[
            theirs.clone(),
            lb("a", 1),
            lb("unclaimed", 2).lb_class("example.com/lb"),
        ]);
        assert_eq!(writes(&plan), w(&[("a", Some("203.0.113.11"))]));
    }

    #[test]
    fn of_two_services_claiming_one_address_the_older_keeps_it() {
        let services = [
            lb("young", 9).with_ingress_ip("203.0.113.10"),
            lb("old", 1).with_ingress_ip("203.0.113.10"),
        ];
        assert_eq!(
            writes(&run(&services)),
            w(&[("young", Some("203.0.113.11"))])
        );
    }

    #[test]
    fn addresses_outside_a_changed_pool_are_replaced_and_deleting_services_kept() {
        let services = [lb("a", 1).with_ingress_ip("198.51.100.20")];
        assert_eq!(writes(&run(&services)), w(&[("a", Some("203.0.113.10"))]));
        let going = [
            lb("a", 1).with_ingress_ip("203.0.113.10").deleting(),
            lb("b", 2),
        ];
        assert_eq!(writes(&run(&going)), w(&[("b", Some("203.0.113.11"))]));
    }
}
