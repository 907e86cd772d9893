//! Node IPAM: hands every Node a pod CIDR from the cluster CIDR.
//!
//! Mirrors the range allocator of kube-controller-manager
//! (pkg/controller/nodeipam/ipam/range_allocator.go) and its `CidrSet`
//! (pkg/controller/nodeipam/ipam/cidrset/cidr_set.go): the used set is rebuilt
//! from the Nodes' `spec.podCIDRs` (so allocations survive restarts), a rotating
//! next-candidate cursor picks the next free block, and an exhausted range is
//! reported with a `CIDRNotAvailable` event on the node.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;

use crate::action::{Action, EventSpec, EventType, Plan};
use crate::meta::{created, name_of, object_reference, uid_of};

/// `source.component` of the allocator's events, as upstream.
pub const IPAM_COMPONENT: &str = "cidrAllocator";

/// Errors of the CIDR allocator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// The node mask is shorter than the cluster CIDR's prefix, or longer than 32.
    #[error("node CIDR mask /{node_mask} does not fit cluster CIDR {cluster}")]
    InvalidMask {
        /// The cluster CIDR.
        cluster: Ipv4Net,
        /// The requested per-node mask.
        node_mask: u8,
    },
    /// Every block is in use.
    #[error(
        "CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"
    )]
    Exhausted,
    /// A CIDR outside the cluster CIDR was offered to `occupy`.
    #[error("cidr {cidr} is out the range of cluster cidr {cluster}")]
    OutOfRange {
        /// The offending CIDR.
        cidr: Ipv4Net,
        /// The cluster CIDR.
        cluster: Ipv4Net,
    },
}

/// The set of per-node blocks carved out of a cluster CIDR (upstream `CidrSet`).
#[derive(Debug, Clone)]
pub struct CidrSet {
    cluster: Ipv4Net,
    node_mask: u8,
    max: u64,
    used: BTreeSet<u64>,
    next_candidate: u64,
}

impl CidrSet {
    /// A set of `/node_mask` blocks of `cluster`, all free.
    pub fn new(cluster: Ipv4Net, node_mask: u8) -> Result<Self, IpamError> {
        let cluster = cluster.trunc();
        if node_mask < cluster.prefix_len() || node_mask > 32 {
            return Err(IpamError::InvalidMask { cluster, node_mask });
        }
        Ok(CidrSet {
            cluster,
            node_mask,
            max: 1u64 << (node_mask - cluster.prefix_len()),
            used: BTreeSet::new(),
            next_candidate: 0,
        })
    }

    /// Number of blocks in the range.
    pub fn capacity(&self) -> u64 {
        self.max
    }

    /// Number of blocks in use.
    pub fn allocated(&self) -> usize {
        self.used.len()
    }

    /// The cursor where the next search starts.
    pub fn next_candidate(&self) -> u64 {
        self.next_candidate
    }

    /// Sets the search cursor (kept across reconciles by the controller).
    pub fn set_next_candidate(&mut self, candidate: u64) {
        self.next_candidate = if self.max == 0 {
            0
        } else {
            candidate % self.max
        };
    }

    fn block(&self, index: u64) -> Ipv4Net {
        let base = u64::from(u32::from(self.cluster.network()));
        let shift = 32 - u32::from(self.node_mask);
        let addr = base + (index << shift);
        let addr = u32::try_from(addr).unwrap_or(u32::MAX);
        Ipv4Net::new(Ipv4Addr::from(addr), self.node_mask).unwrap_or(self.cluster)
    }

    fn index_of(&self, addr: Ipv4Addr) -> u64 {
        let offset = u32::from(addr).wrapping_sub(u32::from(self.cluster.network()));
        u64::from(offset) >> (32 - u32::from(self.node_mask))
    }

    /// Indices of the blocks `cidr` covers (upstream `getBeginningAndEndIndices`).
    fn range_of(&self, cidr: Ipv4Net) -> Result<(u64, u64), IpamError> {
        let cidr = cidr.trunc();
        if cidr.contains(&self.cluster) {
            return Ok((0, self.max - 1));
        }
        if !self.cluster.contains(&cidr) {
            return Err(IpamError::OutOfRange {
                cidr,
                cluster: self.cluster,
            });
        }
        Ok((
            self.index_of(cidr.network()),
            self.index_of(cidr.broadcast()),
        ))
    }

    /// Marks the blocks of `cidr` used (an existing node's podCIDR).
    pub fn occupy(&mut self, cidr: Ipv4Net) -> Result<(), IpamError> {
        let (begin, end) = self.range_of(cidr)?;
        for i in begin..=end {
            self.used.insert(i);
        }
        Ok(())
    }

    /// Frees the blocks of `cidr`.
    pub fn release(&mut self, cidr: Ipv4Net) -> Result<(), IpamError> {
        let (begin, end) = self.range_of(cidr)?;
        for i in begin..=end {
            self.used.remove(&i);
        }
        Ok(())
    }

    /// Allocates the first free block at or after the cursor, wrapping around
    /// (upstream `AllocateNext`), and moves the cursor past it.
    pub fn allocate_next(&mut self) -> Result<Ipv4Net, IpamError> {
        if self.used.len() as u64 >= self.max {
            return Err(IpamError::Exhausted);
        }
        let index = self
            .first_free_from(self.next_candidate, self.max)
            .or_else(|| self.first_free_from(0, self.next_candidate))
            .ok_or(IpamError::Exhausted)?;
        self.used.insert(index);
        self.next_candidate = (index + 1) % self.max;
        Ok(self.block(index))
    }

    fn first_free_from(&self, start: u64, end: u64) -> Option<u64> {
        let mut candidate = start;
        for &used in self.used.range(start..end) {
            if used != candidate {
                break;
            }
            candidate += 1;
        }
        (candidate < end).then_some(candidate)
    }
}

/// What the IPAM loop remembers between reconciles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamState {
    /// Allocations patched onto nodes but not yet seen in the node cache, by node
    /// name; counted as used so a stale cache never hands a CIDR out twice.
    pub pending: BTreeMap<String, Ipv4Net>,
    /// The allocator cursor.
    pub next_candidate: u64,
    /// Node uids already told `CIDRNotAvailable`, so the event is not repeated.
    pub reported_unavailable: BTreeSet<String>,
}

/// The IPv4 pod CIDRs a node holds (`spec.podCIDRs`, else `spec.podCIDR`).
pub fn node_pod_cidrs(node: &Node) -> Vec<Ipv4Net> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    let list: Vec<&String> = match spec.pod_cidrs.as_deref() {
        Some(list) if !list.is_empty() => list.iter().collect(),
        _ => spec.pod_cidr.iter().collect(),
    };
    list.into_iter()
        .filter_map(|s| s.parse::<Ipv4Net>().ok())
        .collect()
}

fn has_pod_cidr(node: &Node) -> bool {
    node.spec.as_ref().is_some_and(|s| {
        s.pod_cidr.as_ref().is_some_and(|c| !c.is_empty())
            || s.pod_cidrs.as_ref().is_some_and(|c| !c.is_empty())
    })
}

/// Result of one IPAM reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct IpamOutcome {
    /// Node patches and events.
    pub plan: Plan,
    /// The new pending allocations (the input's, minus observed ones, plus new ones).
    pub pending: BTreeMap<String, Ipv4Net>,
    /// The allocator cursor after this reconcile.
    pub next_candidate: u64,
}

/// Allocates a pod CIDR to every node without one.
///
/// Pure: the used set is rebuilt from `nodes` plus `state.pending`; pending
/// entries whose node now shows a CIDR, or is gone, are dropped. Nodes are served
/// oldest first (then by name) so allocation order is deterministic.
pub fn reconcile_node_ipam(
    nodes: &[Arc<Node>],
    cluster_cidr: Ipv4Net,
    node_mask: u8,
    state: &IpamState,
) -> Result<IpamOutcome, IpamError> {
    let mut set = CidrSet::new(cluster_cidr, node_mask)?;
    set.set_next_candidate(state.next_candidate);

    let by_name: BTreeMap<&str, &Node> = nodes
        .iter()
        .map(|n| (name_of(&n.metadata), n.as_ref()))
        .collect();
    let mut pending = BTreeMap::new();
    for (name, cidr) in &state.pending {
        // Keep the reservation until the node shows a CIDR (or is gone).
        if let Some(node) = by_name.get(name.as_str())
            && !has_pod_cidr(node)
        {
            pending.insert(name.clone(), *cidr);
        }
    }

    for node in nodes {
        for cidr in node_pod_cidrs(node) {
            // Upstream logs and skips CIDRs outside the cluster CIDR.
            if let Err(err) = set.occupy(cidr) {
                tracing::debug!(node = name_of(&node.metadata), %err, "node pod CIDR not in cluster CIDR");
            }
        }
    }
    for cidr in pending.values() {
        let _ = set.occupy(*cidr);
    }

    let mut order: Vec<&Arc<Node>> = nodes.iter().collect();
    order.sort_by(|a, b| {
        created(&a.metadata)
            .cmp(&created(&b.metadata))
            .then_with(|| name_of(&a.metadata).cmp(name_of(&b.metadata)))
    });

    let mut plan = Plan::new();
    for node in order {
        let name = name_of(&node.metadata);
        if has_pod_cidr(node)
            || pending.contains_key(name)
            || node.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        match set.allocate_next() {
            Ok(cidr) => {
                pending.insert(name.to_string(), cidr);
                plan.push_group(
                    format!("Node {name}"),
                    vec![Action::PatchNodePodCidr {
                        node: name.to_string(),
                        cidr,
                    }],
                );
            }
            Err(_) => {
                if state.reported_unavailable.contains(uid_of(&node.metadata)) {
                    continue;
                }
                // nodeutil.RecordNodeStatusChange(recorder, node, "CIDRNotAvailable")
                plan.push_group(
                    format!("Node {name}"),
                    vec![Action::Event(EventSpec {
                        involved: object_reference("v1", "Node", &node.metadata),
                        type_: EventType::Normal,
                        reason: "CIDRNotAvailable".into(),
                        message: format!("Node {name} status is now: CIDRNotAvailable"),
                        component: IPAM_COMPONENT,
                        action: None,
                    })],
                );
            }
        }
    }
    Ok(IpamOutcome {
        plan,
        pending,
        next_candidate: set.next_candidate(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{NodeExt, mk_node};

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn patched(plan: &Plan) -> Vec<(String, String)> {
        plan.actions()
            .filter_map(|a| match a {
                Action::PatchNodePodCidr { node, cidr } => Some((node.clone(), cidr.to_string())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn allocator_hands_out_consecutive_blocks_then_exhausts() {
        let mut set = CidrSet::new(net("10.244.0.0/22"), 24).unwrap();
        assert_eq!(set.capacity(), 4);
        let got: Vec<String> = (0..4)
            .map(|_| set.allocate_next().unwrap().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "10.244.0.0/24",
                "10.244.1.0/24",
                "10.244.2.0/24",
                "10.244.3.0/24"
            ]
        );
        assert_eq!(set.allocate_next(), Err(IpamError::Exhausted));
    }

    #[test]
    fn allocator_never_hands_out_an_occupied_block() {
        let mut set = CidrSet::new(net("10.244.0.0/16"), 24).unwrap();
        set.occupy(net("10.244.0.0/24")).unwrap();
        set.occupy(net("10.244.2.0/24")).unwrap();
        assert_eq!(set.allocate_next().unwrap(), net("10.244.1.0/24"));
        assert_eq!(set.allocate_next().unwrap(), net("10.244.3.0/24"));
    }

    #[test]
    fn allocator_reuses_a_released_block_after_wrapping() {
        let mut set = CidrSet::new(net("10.244.0.0/23"), 24).unwrap();
        let a = set.allocate_next().unwrap();
        let _b = set.allocate_next().unwrap();
        assert_eq!(set.allocate_next(), Err(IpamError::Exhausted));
        set.release(a).unwrap();
        assert_eq!(set.allocate_next().unwrap(), a);
    }

    #[test]
    fn allocator_rejects_foreign_cidrs_and_bad_masks() {
        let mut set = CidrSet::new(net("10.244.0.0/16"), 24).unwrap();
        assert!(matches!(
            set.occupy(net("192.0.2.0/24")),
            Err(IpamError::OutOfRange { .. })
        ));
        assert!(CidrSet::new(net("10.244.0.0/16"), 8).is_err());
        assert!(CidrSet::new(net("10.244.0.0/16"), 33).is_err());
    }

    #[test]
    fn nodes_without_cidr_get_the_next_free_block_in_creation_order() {
        let nodes = vec![
            Arc::new(mk_node("node-b", 2).with_pod_cidr("10.244.0.0/24")),
            Arc::new(mk_node("node-c", 3)),
            Arc::new(mk_node("node-a", 1)),
        ];
        let out =
            reconcile_node_ipam(&nodes, net("10.244.0.0/16"), 24, &IpamState::default()).unwrap();
        assert_eq!(
            patched(&out.plan),
            [
                ("node-a".to_string(), "10.244.1.0/24".to_string()),
                ("node-c".to_string(), "10.244.2.0/24".to_string())
            ]
        );
        assert_eq!(out.pending.len(), 2);
        assert_eq!(out.next_candidate, 3);
    }

    #[test]
    fn pending_allocations_are_not_handed_out_twice_while_the_cache_is_stale() {
        let nodes = vec![
            Arc::new(mk_node("node-a", 1)),
            Arc::new(mk_node("node-b", 2)),
        ];
        let first =
            reconcile_node_ipam(&nodes, net("10.244.0.0/16"), 24, &IpamState::default()).unwrap();
        // The node cache has not seen the patches yet; a restart of the cursor must
        // still not reuse the pending blocks.
        let state = IpamState {
            pending: first.pending.clone(),
            next_candidate: 0,
            ..IpamState::default()
        };
        let nodes2 = vec![
            nodes[0].clone(),
            nodes[1].clone(),
            Arc::new(mk_node("node-c", 3)),
        ];
        let second = reconcile_node_ipam(&nodes2, net("10.244.0.0/16"), 24, &state).unwrap();
        assert_eq!(
            patched(&second.plan),
            [("node-c".to_string(), "10.244.2.0/24".to_string())]
        );
    }

    #[test]
    fn used_set_is_rebuilt_from_nodes_after_a_restart() {
        let nodes = vec![
            Arc::new(mk_node("node-a", 1).with_pod_cidr("10.244.0.0/24")),
            Arc::new(mk_node("node-b", 2).with_pod_cidr("10.244.1.0/24")),
            Arc::new(mk_node("node-c", 3)),
        ];
        let out =
            reconcile_node_ipam(&nodes, net("10.244.0.0/16"), 24, &IpamState::default()).unwrap();
        assert_eq!(
            patched(&out.plan),
            [("node-c".to_string(), "10.244.2.0/24".to_string())]
        );
    }

    #[test]
    fn a_deleted_nodes_block_is_reused_only_after_the_cursor_wraps() {
        // Four blocks; node-a held .0 and was deleted, node-b holds .1, cursor at 2.
        let mut nodes = vec![
            Arc::new(mk_node("node-b", 2).with_pod_cidr("10.244.1.0/24")),
            Arc::new(mk_node("node-e", 5)),
        ];
        let mut state = IpamState {
            next_candidate: 2,
            ..IpamState::default()
        };
        let mut got = Vec::new();
        for (i, name) in ["node-f", "node-g"].into_iter().enumerate() {
            let out = reconcile_node_ipam(&nodes, net("10.244.0.0/22"), 24, &state).unwrap();
            got.extend(patched(&out.plan));
            state.pending = out.pending;
            state.next_candidate = out.next_candidate;
            nodes.push(Arc::new(mk_node(name, 6 + i as i64)));
        }
        let out = reconcile_node_ipam(&nodes, net("10.244.0.0/22"), 24, &state).unwrap();
        got.extend(patched(&out.plan));
        assert_eq!(
            got,
            [
                ("node-e".to_string(), "10.244.2.0/24".to_string()),
                ("node-f".to_string(), "10.244.3.0/24".to_string()),
                ("node-g".to_string(), "10.244.0.0/24".to_string()),
            ]
        );
    }

    #[test]
    fn exhausted_range_records_cidr_not_available_once_per_node() {
        let nodes = vec![
            Arc::new(mk_node("node-a", 1).with_pod_cidr("10.244.0.0/24")),
            Arc::new(mk_node("node-b", 2)),
        ];
        let out =
            reconcile_node_ipam(&nodes, net("10.244.0.0/24"), 24, &IpamState::default()).unwrap();
        let events: Vec<&EventSpec> = out
            .plan
            .actions()
            .filter_map(|a| match a {
                Action::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "CIDRNotAvailable");
        assert_eq!(
            events[0].message,
            "Node node-b status is now: CIDRNotAvailable"
        );
        assert_eq!(events[0].involved.kind.as_deref(), Some("Node"));

        let mut state = IpamState::default();
        state.reported_unavailable.insert("uid-node-b".into());
        let again = reconcile_node_ipam(&nodes, net("10.244.0.0/24"), 24, &state).unwrap();
        assert!(again.plan.is_empty());
    }
}
