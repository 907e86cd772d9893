//! Pod IP allocation on one node, over the node's `spec.podCIDR`: `.1` is the gateway (the node's
//! `cni0`), pods get `.2` onwards. Like CNI's host-local plugin, allocation goes round-robin from the
//! last address handed out, so a released address is not handed out again at once (other nodes'
//! caches and Endpoints may still name it). Allocations are kept in a small JSON file, replaced
//! atomically (temp file, fsync, rename, fsync of the directory), so that they survive restarts.
//!
//! ```text
//!  10.244.1.0/24:  .0 network  .1 gateway (cni0)  .2 ... .254 pods  .255 broadcast
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Errors of [`PodIpam`].
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// The pod CIDR leaves no address for pods.
    #[error(
        "pod CIDR {0} is too small: it needs room for a gateway and at least one pod (a /30 or larger)"
    )]
    CidrTooSmall(Ipv4Net),
    /// Every pod address is in use.
    #[error("no pod IP left in {cidr}: all {size} addresses are allocated")]
    Exhausted {
        /// The node's pod CIDR.
        cidr: Ipv4Net,
        /// How many pod addresses it has.
        size: u32,
    },
    /// The state file could not be read or written.
    #[error("pod IP allocations {path}: {source}")]
    Io {
        /// The state file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not valid JSON of the expected shape.
    #[error("pod IP allocations {path} are corrupt: {source}")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

/// What the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// The pod CIDR the allocations belong to.
    cidr: Option<Ipv4Net>,
    /// The last address handed out (the round-robin cursor).
    last: Option<Ipv4Addr>,
    /// Pod UID → address.
    allocations: BTreeMap<String, Ipv4Addr>,
}

/// The pod IPs of one node (see the module doc). `allocate` is idempotent per pod UID; no address is
/// ever held by two pods.
#[derive(Debug)]
pub struct PodIpam {
    cidr: Ipv4Net,
    path: Option<PathBuf>,
    state: State,
}

impl PodIpam {
    /// Allocations in memory only.
    pub fn new(cidr: Ipv4Net) -> Result<Self, IpamError> {
        let cidr = cidr.trunc();
        if cidr.prefix_len() > 30 {
            return Err(IpamError::CidrTooSmall(cidr));
        }
        Ok(Self {
            cidr,
            path: None,
            state: State {
                cidr: Some(cidr),
                ..State::default()
            },
        })
    }

    /// Allocations kept in `path` (created on the first change). Allocations read back that lie
    /// outside `cidr` (the node got another range) are dropped.
    pub fn open(cidr: Ipv4Net, path: impl Into<PathBuf>) -> Result<Self, IpamError> {
        let mut ipam = Self::new(cidr)?;
        let path = path.into();
        match std::fs::read(&path) {
            Ok(data) => {
                let state: State =
                    serde_json::from_slice(&data).map_err(|source| IpamError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                let mut seen = std::collections::BTreeSet::new();
                for (uid, ip) in state.allocations {
                    // Keep the first holder should the file ever name an address twice.
                    if ipam.is_pod_address(ip) && seen.insert(ip) {
                        ipam.state.allocations.insert(uid, ip);
                    } else {
                        tracing::warn!(%uid, %ip, cidr = %ipam.cidr, "dropping a pod IP allocation outside the pod CIDR");
                    }
                }
                ipam.state.last = state.last.filter(|ip| ipam.is_pod_address(*ip));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(IpamError::Io { path, source }),
        }
        ipam.path = Some(path);
        Ok(ipam)
    }

    /// The node's pod CIDR.
    pub fn cidr(&self) -> Ipv4Net {
        self.cidr
    }

    /// The gateway address (first of the range), the node's bridge address.
    pub fn gateway(&self) -> Ipv4Addr {
        offset(self.cidr.network(), 1)
    }

    /// How many addresses pods can get.
    pub fn capacity(&self) -> u32 {
        self.last_pod_address_offset() - 1
    }

    /// The address of `pod_uid`, if it has one.
    pub fn get(&self, pod_uid: &str) -> Option<Ipv4Addr> {
        self.state.allocations.get(pod_uid).copied()
    }

    /// Every allocation, pod UID → address.
    pub fn allocations(&self) -> &BTreeMap<String, Ipv4Addr> {
        &self.state.allocations
    }

    /// The address of `pod_uid`: the one it already has, else the next free one after the last
    /// handed out (wrapping around). Persisted before it is returned.
    pub fn allocate(&mut self, pod_uid: &str) -> Result<Ipv4Addr, IpamError> {
        if let Some(ip) = self.get(pod_uid) {
            return Ok(ip);
        }
        let used: std::collections::BTreeSet<Ipv4Addr> =
            self.state.allocations.values().copied().collect();
        let size = self.capacity();
        let start = self
            .state
            .last
            .map_or(0, |last| self.pod_index(last).map_or(0, |i| (i + 1) % size));
        let Some(ip) = (0..size)
            .map(|k| self.pod_address((start + k) % size))
            .find(|ip| !used.contains(ip))
        else {
            return Err(IpamError::Exhausted {
                cidr: self.cidr,
                size,
            });
        };
        let mut next = self.state.clone();
        next.allocations.insert(pod_uid.to_owned(), ip);
        next.last = Some(ip);
        self.commit(next)?;
        Ok(ip)
    }

    /// Frees the address of `pod_uid`; returns it (None when it had none).
    pub fn release(&mut self, pod_uid: &str) -> Result<Option<Ipv4Addr>, IpamError> {
        let Some(ip) = self.get(pod_uid) else {
            return Ok(None);
        };
        let mut next = self.state.clone();
        next.allocations.remove(pod_uid);
        self.commit(next)?;
        Ok(Some(ip))
    }

    /// Brings the allocations in line with the pods the API server says are on this node, given as
    /// (UID, `status.podIP` if any): allocations of pods not in the list are released; a listed pod
    /// whose reported address is in range, free, and unknown here (state lost) gets it back, so that
    /// no live address is handed out again. Returns the released (UID, address) pairs.
    pub fn reconcile<'a>(
        &mut self,
        live_pods: impl IntoIterator<Item = (&'a str, Option<Ipv4Addr>)>,
    ) -> Result<Vec<(String, Ipv4Addr)>, IpamError> {
        let live: BTreeMap<&str, Option<Ipv4Addr>> = live_pods.into_iter().collect();
        let mut next = self.state.clone();
        let released: Vec<(String, Ipv4Addr)> = next
            .allocations
            .iter()
            .filter(|(uid, _)| !live.contains_key(uid.as_str()))
            .map(|(uid, ip)| (uid.clone(), *ip))
            .collect();
        for (uid, _) in &released {
            next.allocations.remove(uid);
        }
        for (uid, reported) in &live {
            let Some(ip) = reported else { continue };
            let held = next.allocations.values().any(|a| a == ip);
            if !next.allocations.contains_key(*uid) && self.is_pod_address(*ip) && !held {
                next.allocations.insert((*uid).to_owned(), *ip);
            }
        }
        if next != self.state {
            self.commit(next)?;
        }
        Ok(released)
    }

    fn commit(&mut self, next: State) -> Result<(), IpamError> {
        if let Some(path) = &self.path {
            write_atomically(path, &next)?;
        }
        self.state = next;
        Ok(())
    }

    /// Offset (from the network address) of the last pod address: broadcast − 1.
    fn last_pod_address_offset(&self) -> u32 {
        let host_bits = 32 - u32::from(self.cidr.prefix_len());
        // prefix_len ≤ 30, so host_bits ≥ 2 and this is ≥ 2.
        (1u32 << host_bits).saturating_sub(2)
    }

    /// The `index`-th pod address (0 → network + 2).
    fn pod_address(&self, index: u32) -> Ipv4Addr {
        offset(self.cidr.network(), index + 2)
    }

    fn pod_index(&self, ip: Ipv4Addr) -> Option<u32> {
        self.is_pod_address(ip)
            .then(|| u32::from(ip) - u32::from(self.cidr.network()) - 2)
    }

    fn is_pod_address(&self, ip: Ipv4Addr) -> bool {
        let off = u32::from(ip).wrapping_sub(u32::from(self.cidr.network()));
        self.cidr.contains(&ip) && (2..=self.last_pod_address_offset()).contains(&off)
    }
}

fn offset(base: Ipv4Addr, by: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(by))
}

/// Replaces `path` with `state`: write a temporary file beside it, fsync it, rename it over `path`,
/// fsync the directory, so a crash leaves the old or the new content, never a mix.
fn write_atomically(path: &Path, state: &State) -> Result<(), IpamError> {
    let io = |source| IpamError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let data = serde_json::to_vec_pretty(state).map_err(|source| IpamError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ipam.json".to_owned());
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&data).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_handed_out_from_two_in_order_after_the_gateway() {
        let mut ipam = PodIpam::new(cidr("10.244.1.0/24")).unwrap();
        assert_eq!(ipam.gateway(), ip("10.244.1.1"));
        assert_eq!(ipam.capacity(), 253);
        assert_eq!(ipam.allocate("a").unwrap(), ip("10.244.1.2"));
        assert_eq!(ipam.allocate("b").unwrap(), ip("10.244.1.3"));
        assert_eq!(ipam.allocate("c").unwrap(), ip("10.244.1.4"));
    }

    #[test]
    fn allocating_twice_for_one_pod_gives_the_same_address() {
        let mut ipam = PodIpam::new(cidr("10.244.1.0/24")).unwrap();
        let first = ipam.allocate("a").unwrap();
        assert_eq!(ipam.allocate("a").unwrap(), first);
        assert_eq!(ipam.allocations().len(), 1);
    }

    #[test]
    fn no_address_is_ever_held_by_two_pods() {
        let mut ipam = PodIpam::new(cidr("10.244.1.0/26")).unwrap();
        let mut held = std::collections::BTreeMap::new();
        // Churn: allocate, release every third, allocate more, wrapping several times.
        for round in 0..20 {
            for i in 0..20 {
                let uid = format!("pod-{round}-{i}");
                if let Ok(ip) = ipam.allocate(&uid) {
                    assert!(
                        held.insert(ip, uid.clone()).is_none(),
                        "{ip} handed out twice"
                    );
                }
            }
            let victims: Vec<(Ipv4Addr, String)> = held
                .iter()
                .enumerate()
                .filter(|(k, _)| k % 3 != 0)
                .map(|(_, (ip, uid))| (*ip, uid.clone()))
                .collect();
            for (ip, uid) in victims {
                assert_eq!(ipam.release(&uid).unwrap(), Some(ip));
                held.remove(&ip);
            }
        }
        assert_eq!(ipam.allocations().len(), held.len());
    }

    #[test]
    fn a_released_address_is_reused_once_the_others_have_been_handed_out() {
        let mut ipam = PodIpam::new(cidr("10.244.1.0/29")).unwrap();
        // /29: .2 ... .6 for pods.
        for uid in ["a", "b", "c"] {
            ipam.allocate(uid).unwrap();
        }
        assert_eq!(ipam.release("a").unwrap(), Some(ip("10.244.1.2")));
        assert_eq!(ipam.release("a").unwrap(), None);
        assert_eq!(ipam.allocate("d").unwrap(), ip("10.244.1.5"));
        assert_eq!(ipam.allocate("e").unwrap(), ip("10.244.1.6"));
        assert_eq!(ipam.allocate("f").unwrap(), ip("10.244.1.2"));
    }

    #[test]
    fn a_full_range_is_an_exhaustion_error_until_an_address_is_released() {
        let mut ipam = PodIpam::new(cidr("10.244.1.0/30")).unwrap();
        assert_eq!(ipam.allocate("a").unwrap(), ip("10.244.1.2"));
        let err = ipam.allocate("b").unwrap_err();
        assert!(matches!(err, IpamError::Exhausted { size: 1, .. }));
        assert_eq!(
            err.to_string(),
            "no pod IP left in 10.244.1.0/30: all 1 addresses are allocated"
        );
        ipam.release("a").unwrap();
        assert_eq!(ipam.allocate("b").unwrap(), ip("10.244.1.2"));
    }

    #[test]
    fn a_range_without_room_for_pods_is_refused() {
        assert!(matches!(
            PodIpam::new(cidr("10.244.1.0/31")),
            Err(IpamError::CidrTooSmall(_))
        ));
    }

    #[test]
    fn allocations_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("ipam.json");
        let mut ipam = PodIpam::open(cidr("10.244.2.0/24"), &path).unwrap();
        ipam.allocate("a").unwrap();
        ipam.allocate("b").unwrap();
        ipam.release("a").unwrap();
        drop(ipam);

        let mut again = PodIpam::open(cidr("10.244.2.0/24"), &path).unwrap();
        assert_eq!(again.get("b"), Some(ip("10.244.2.3")));
        assert_eq!(again.get("a"), None);
        // The cursor survived too: the next pod gets .4, not the just released .2.
        assert_eq!(again.allocate("c").unwrap(), ip("10.244.2.4"));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["ipam.json"], "no temporary file is left behind");
    }

    #[test]
    fn allocations_outside_a_new_range_are_dropped_and_a_corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ipam.json");
        let mut ipam = PodIpam::open(cidr("10.244.2.0/24"), &path).unwrap();
        ipam.allocate("a").unwrap();
        let moved = PodIpam::open(cidr("10.244.3.0/24"), &path).unwrap();
        assert!(moved.allocations().is_empty());

        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            PodIpam::open(cidr("10.244.2.0/24"), &path),
            Err(IpamError::Corrupt { .. })
        ));
    }

    #[test]
    fn reconcile_releases_gone_pods_keeps_live_ones_and_adopts_reported_addresses() {
        let mut ipam = PodIpam::new(cidr("10.244.1.0/24")).unwrap();
        let a = ipam.allocate("a").unwrap();
        let b = ipam.allocate("b").unwrap();
        let released = ipam
            .reconcile([("a", Some(a)), ("c", Some(ip("10.244.1.9"))), ("d", None)])
            .unwrap();
        assert_eq!(released, [("b".to_owned(), b)]);
        assert_eq!(ipam.get("a"), Some(a));
        assert_eq!(
            ipam.get("c"),
            Some(ip("10.244.1.9")),
            "a live address is never handed out again"
        );
        assert_eq!(ipam.get("d"), None);
        // An address reported by two pods stays with the one that holds it.
        ipam.reconcile([
            ("a", Some(a)),
            ("c", Some(ip("10.244.1.9"))),
            ("e", Some(a)),
        ])
        .unwrap();
        assert_eq!(ipam.get("e"), None);
        // Out-of-range reports are ignored.
        ipam.reconcile([("f", Some(ip("192.0.2.7")))]).unwrap();
        assert_eq!(ipam.get("f"), None);
    }
}
