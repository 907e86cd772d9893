//! Restart and image back-off, as kubelet's `flowcontrol.Backoff` (pkg/util/flowcontrol/backoff.go)
//! keyed by container: 10 s doubling to 300 s (`MaxContainerBackOff`, pkg/kubelet/kubelet.go), and
//! forgotten when nothing happened for twice the maximum (10 minutes). Pure: times are given.

use std::time::Duration;

use jiff::Timestamp;

/// The back-off schedule: the first delay and the cap. kubelet: 10 s and 300 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// First delay (kubelet `backOffPeriod`, 10 s).
    pub initial: Duration,
    /// Cap of the doubling (kubelet `MaxContainerBackOff`, 300 s); after twice this without an
    /// event the back-off starts over.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
        }
    }
}

/// One key's back-off entry (a container, or a container's image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    policy: BackoffPolicy,
    entry: Option<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    backoff: Duration,
    last_update: Timestamp,
}

impl Backoff {
    /// A back-off with no history.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            entry: None,
        }
    }

    /// The current delay (`Backoff.Get`): zero before the first [`next`](Self::next).
    pub fn get(&self) -> Duration {
        self.entry.map_or(Duration::ZERO, |e| e.backoff)
    }

    /// Records an event at `event_time` (`Backoff.Next`): the delay starts at `initial`, doubles up
    /// to `max`, and starts over when the previous event is more than `2 × max` old.
    pub fn next(&mut self, event_time: Timestamp) {
        let backoff = match self.entry {
            Some(e) if !self.has_expired(event_time, e.last_update) => {
                (e.backoff * 2).min(self.policy.max)
            }
            _ => self.policy.initial,
        };
        self.entry = Some(Entry {
            backoff,
            last_update: event_time,
        });
    }

    /// Whether, at `now`, the key is still backing off from an event at `event_time`
    /// (`Backoff.IsInBackOffSince`).
    pub fn is_in_backoff_since(&self, event_time: Timestamp, now: Timestamp) -> bool {
        let Some(entry) = self.entry else {
            return false;
        };
        if self.has_expired(now, entry.last_update) {
            return false;
        }
        since(event_time, now) < entry.backoff
    }

    /// How long after `now` the back-off from `event_time` ends (zero when it has).
    pub fn remaining(&self, event_time: Timestamp, now: Timestamp) -> Duration {
        if !self.is_in_backoff_since(event_time, now) {
            return Duration::ZERO;
        }
        self.get().saturating_sub(since(event_time, now))
    }

    fn has_expired(&self, event_time: Timestamp, last_update: Timestamp) -> bool {
        since(last_update, event_time) > self.policy.max * 2
    }
}

/// `now - then`, zero when `then` is later.
fn since(then: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or(Duration::ZERO)
}

/// A duration as Go's `time.Duration.String()` writes it (`10s`, `1m20s`, `5m0s`, `250ms`), as
/// kubelet's CrashLoopBackOff message shows it.
pub fn go_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if d.is_zero() {
        return "0s".to_owned();
    }
    if d < Duration::from_secs(1) {
        return if total_ms == 0 {
            format!("{}µs", d.as_micros())
        } else {
            format!("{total_ms}ms")
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let millis = d.subsec_millis();
    let sec_text = if millis == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{millis:03}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => sec_text,
        (0, m) => format!("{m}m{sec_text}"),
        (h, m) => format!("{h}h{m}m{sec_text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn the_delay_doubles_from_ten_seconds_to_five_minutes() {
        let mut b = Backoff::new(BackoffPolicy::default());
        assert_eq!(b.get(), Duration::ZERO);
        let mut seen = vec![];
        for i in 0..8 {
            b.next(t(i * 10));
            seen.push(b.get().as_secs());
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn the_first_failure_is_not_backed_off_and_the_second_is() {
        // kubelet doBackOff: no entry → restart now and record; then wait the recorded delay.
        let mut b = Backoff::new(BackoffPolicy::default());
        assert!(!b.is_in_backoff_since(t(0), t(0)));
        b.next(t(0));
        assert!(b.is_in_backoff_since(t(5), t(6)));
        assert_eq!(b.remaining(t(5), t(6)), Duration::from_secs(9));
        assert!(!b.is_in_backoff_since(t(5), t(15)));
    }

    #[test]
    fn the_back_off_starts_over_after_ten_quiet_minutes() {
        let mut b = Backoff::new(BackoffPolicy::default());
        b.next(t(0));
        b.next(t(10));
        b.next(t(30));
        assert_eq!(b.get(), Duration::from_secs(40));
        // 601 s after the last event, it is forgotten.
        assert!(!b.is_in_backoff_since(t(631), t(632)));
        b.next(t(631));
        assert_eq!(b.get(), Duration::from_secs(10));
    }

    #[test]
    fn durations_are_written_as_go_writes_them() {
        let cases = [
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(80), "1m20s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(3700), "1h1m40s"),
            (Duration::ZERO, "0s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want);
        }
    }
}
