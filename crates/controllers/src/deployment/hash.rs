//! `pod-template-hash`: naming a Deployment's ReplicaSets after their template.
//!
//! Upstream `controller.ComputeHash` (pkg/controller/controller_utils.go) feeds
//! fnv32a with `hashutil.DeepHashObject` — a go-spew dump of the Go struct —
//! then the collision count as 8 little-endian bytes (only the low four set),
//! and encodes the decimal sum with `rand.SafeEncodeString`.
//!
//! Deviation: a go-spew dump of Go structs cannot be reproduced from Rust types,
//! so this hashes a canonical JSON of the template instead (keys sorted; null,
//! empty lists and empty maps dropped, as Go's semantic equality treats nil and
//! empty alike). Everything after that is upstream's: fnv32a, the collision
//! bytes, and the same alphabet. Names therefore look like upstream's
//! (`web-5d78c4b8f`) but are not byte-identical to what kube-controller-manager
//! would pick for the same template.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// `rand.SafeEncodeString`'s alphabet: no vowels, no 0/1/3 (no bad words).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a, 32 bit.
struct Fnv32a(u32);

impl Fnv32a {
    fn new() -> Self {
        Fnv32a(0x811c_9dc5)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

/// `rand.SafeEncodeString`: maps every character through the safe alphabet.
pub fn safe_encode(s: &str) -> String {
    s.chars()
        .map(|c| ALPHANUMS[(c as usize) % ALPHANUMS.len()] as char)
        .collect()
}

/// Drops null, empty arrays and empty objects, recursively, and sorts keys.
pub(crate) fn normalize(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Array(items) => {
            let items: Vec<Value> = items
                .into_iter()
                .map(|v| normalize(v).unwrap_or(Value::Null))
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map
                .into_iter()
                .filter_map(|(k, v)| normalize(v).map(|v| (k, v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            (!entries.is_empty()).then(|| Value::Object(entries.into_iter().collect()))
        }
        other => Some(other),
    }
}

/// The canonical JSON text of a template (see the module docs).
pub(crate) fn canonical_json(template: &PodTemplateSpec) -> String {
    let value = serde_json::to_value(template).unwrap_or(Value::Null);
    normalize(value).map(|v| v.to_string()).unwrap_or_default()
}

/// The `pod-template-hash` of a template and collision count.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hasher = Fnv32a::new();
    hasher.write(canonical_json(template).as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hasher.write(&bytes);
    }
    safe_encode(&hasher.0.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::mk_template;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let mut h = Fnv32a::new();
        h.write(b"");
        assert_eq!(h.0, 0x811c_9dc5);
        let mut h = Fnv32a::new();
        h.write(b"a");
        assert_eq!(h.0, 0xe40c_292c);
        let mut h = Fnv32a::new();
        h.write(b"foobar");
        assert_eq!(h.0, 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_maps_digits_into_the_safe_alphabet() {
        // '0' is 48 → 48 % 27 = 21 → '4'; '9' is 57 → 3 → 'f'.
        assert_eq!(safe_encode("09"), "4f");
        assert!(
            safe_encode("1234567890")
                .chars()
                .all(|c| ALPHANUMS.contains(&(c as u8)))
        );
    }

    #[test]
    fn hash_is_stable_and_changes_with_the_template_and_collision_count() {
        let a = mk_template(&[("app", "web")], "registry.example/web:1");
        let h = compute_hash(&a, None);
        assert_eq!(h, compute_hash(&a.clone(), None));
        assert!(h.len() >= 6 && h.len() <= 10, "{h}");
        let b = mk_template(&[("app", "web")], "registry.example/web:2");
        assert_ne!(h, compute_hash(&b, None));
        assert_ne!(h, compute_hash(&a, Some(1)));
        assert_ne!(compute_hash(&a, Some(1)), compute_hash(&a, Some(2)));
    }

    #[test]
    fn nil_and_empty_collections_hash_alike() {
        let a = mk_template(&[("app", "web")], "registry.example/web:1");
        let mut b = a.clone();
        b.metadata.as_mut().unwrap().annotations = Some(Default::default());
        b.spec.as_mut().unwrap().containers[0].args = Some(vec![]);
        assert_eq!(compute_hash(&a, None), compute_hash(&b, None));
    }
}
