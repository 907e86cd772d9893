//! Per-key exponential back-off, as client-go's `ItemExponentialFailureRateLimiter`.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// First retry delay.
pub(crate) const BASE_DELAY: Duration = Duration::from_millis(200);
/// Longest retry delay.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(30);

/// Failures per key and when the key may run again.
#[derive(Debug, Default)]
pub(crate) struct KeyedBackoff {
    entries: HashMap<String, (u32, Instant)>,
}

impl KeyedBackoff {
    /// The delay after `failures` consecutive failures.
    pub(crate) fn delay(failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(16);
        BASE_DELAY.saturating_mul(1u32 << exp).min(MAX_DELAY)
    }

    /// May `key` run at `now`?
    pub(crate) fn ready(&self, key: &str, now: Instant) -> bool {
        self.entries.get(key).is_none_or(|(_, at)| *at <= now)
    }

    /// Records a failure; returns when the key may run again.
    pub(crate) fn failed(&mut self, key: &str, now: Instant) -> Instant {
        let entry = self.entries.entry(key.to_string()).or_insert((0, now));
        entry.0 += 1;
        entry.1 = now + Self::delay(entry.0);
        entry.1
    }

    /// Forgets the key's failures.
    pub(crate) fn succeeded(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// The earliest time a backed-off key becomes ready again.
    pub(crate) fn next_ready(&self) -> Option<Instant> {
        self.entries.values().map(|(_, at)| *at).min()
    }

    /// Drops keys the caller no longer produces.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        assert_eq!(KeyedBackoff::delay(1), Duration::from_millis(200));
        assert_eq!(KeyedBackoff::delay(2), Duration::from_millis(400));
        assert_eq!(KeyedBackoff::delay(5), Duration::from_millis(3200));
        assert_eq!(KeyedBackoff::delay(40), MAX_DELAY);
    }

    #[test]
    fn a_failed_key_waits_and_success_resets_it() {
        let now = Instant::now();
        let mut b = KeyedBackoff::default();
        assert!(b.ready("k", now));
        let at = b.failed("k", now);
        assert!(!b.ready("k", now));
        assert!(b.ready("k", at));
        assert_eq!(b.next_ready(), Some(at));
        b.succeeded("k");
        assert!(b.ready("k", now));
        assert_eq!(b.next_ready(), None);
    }
}
