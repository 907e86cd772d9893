//! `k8s.io/apimachinery/pkg/util/duration.HumanDuration`, and the AGE translation built on it.

use jiff::{SignedDuration, Timestamp};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_MINUTE: i128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i128 = 60 * NANOS_PER_MINUTE;

/// A succinct representation of a signed duration with ~2-3 significant figures, exactly as
/// upstream `duration.HumanDuration` (staging/src/k8s.io/apimachinery/pkg/util/duration/duration.go):
/// "0s" for up to 2 seconds in the future (clock skew), "<invalid>" further in the future.
pub(crate) fn human_nanos(d: i128) -> String {
    // Go: `int(d.Seconds())` truncates toward zero, as does i128 division.
    let seconds = d / NANOS_PER_SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d / NANOS_PER_MINUTE;
    if minutes < 10 {
        let s = (d / NANOS_PER_SECOND) % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / NANOS_PER_HOUR;
    if hours < 8 {
        let m = (d / NANOS_PER_MINUTE) % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// `duration.HumanDuration` for a non-negative duration.
pub fn human_duration(d: std::time::Duration) -> String {
    human_nanos(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// `duration.HumanDuration` for a signed duration (negative: a time in the future, which
/// prints "0s" within 2 seconds of skew and `<invalid>` beyond).
pub fn human_signed_duration(d: SignedDuration) -> String {
    human_nanos(d.as_nanos())
}

/// Upstream `translateTimestampSince`: the age of `ts` at `now`, `<unknown>` when unset.
pub fn translate_timestamp_since(ts: Option<Timestamp>, now: Timestamp) -> String {
    match ts {
        None => "<unknown>".to_string(),
        Some(ts) => human_signed_duration(now.duration_since(ts)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i128 = 1_000_000;
    const S: i128 = NANOS_PER_SECOND;
    const M: i128 = NANOS_PER_MINUTE;
    const H: i128 = NANOS_PER_HOUR;
    const D: i128 = 24 * H;
    const Y: i128 = 365 * D;

    // The cases of upstream duration_test.go TestHumanDuration.
    #[test]
    fn human_duration_matches_upstream_examples() {
        let cases = [
            (S, "1s"),
            (70 * S, "70s"),
            (190 * S, "3m10s"),
            (70 * M, "70m"),
            (47 * H, "47h"),
            (49 * H, "2d1h"),
            ((8 * 24 + 2) * H, "8d"),
            ((367 * 24) * H, "367d"),
            ((365 * 2 * 24 + 25) * H, "2y1d"),
            ((365 * 8 * 24 + 2) * H, "8y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_nanos(d), want, "duration {d}ns");
        }
    }

    // The cases of upstream duration_test.go TestHumanDurationBoundaries.
    #[test]
    fn human_duration_matches_upstream_boundaries() {
        let cases = [
            (-2 * S, "<invalid>"),
            (-2 * S + 1, "0s"),
            (0, "0s"),
            (S - MS, "0s"),
            (2 * M - MS, "119s"),
            (2 * M, "2m"),
            (2 * M + S, "2m1s"),
            (10 * M - MS, "9m59s"),
            (10 * M, "10m"),
            (10 * M + S, "10m"),
            (3 * H - MS, "179m"),
            (3 * H, "3h"),
            (3 * H + M, "3h1m"),
            (8 * H - MS, "7h59m"),
            (8 * H, "8h"),
            (8 * H + 59 * M, "8h"),
            (2 * D - MS, "47h"),
            (2 * D, "2d"),
            (2 * D + H, "2d1h"),
            (8 * D - MS, "7d23h"),
            (8 * D, "8d"),
            (8 * D + 23 * H, "8d"),
            (2 * Y - MS, "729d"),
            (2 * Y, "2y"),
            (2 * Y + 23 * H, "2y"),
            (2 * Y + 23 * H + 59 * M, "2y"),
            (2 * Y + 24 * H - MS, "2y"),
            (2 * Y + 24 * H, "2y1d"),
            (3 * Y, "3y"),
            (4 * Y, "4y"),
            (5 * Y, "5y"),
            (6 * Y, "6y"),
            (7 * Y, "7y"),
            (8 * Y - MS, "7y364d"),
            (8 * Y, "8y"),
            (8 * Y + 364 * D, "8y"),
            (9 * Y, "9y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_nanos(d), want, "duration {d}ns");
        }
    }

    #[test]
    fn std_duration_entry_point_formats_like_upstream() {
        assert_eq!(
            human_duration(std::time::Duration::from_secs(5 * 86400 + 19 * 3600)),
            "5d19h"
        );
        assert_eq!(human_duration(std::time::Duration::from_secs(182)), "3m2s");
    }

    #[test]
    fn a_timestamp_in_the_future_is_invalid_and_a_missing_one_unknown() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let later: Timestamp = "2024-05-01T12:00:10Z".parse().unwrap();
        assert_eq!(translate_timestamp_since(Some(later), now), "<invalid>");
        assert_eq!(translate_timestamp_since(None, now), "<unknown>");
        let earlier: Timestamp = "2024-04-25T17:00:00Z".parse().unwrap();
        assert_eq!(translate_timestamp_since(Some(earlier), now), "5d19h");
    }
}
