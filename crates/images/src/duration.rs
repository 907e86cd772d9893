//! Durations as agnhost's flags and query parameters spell them (Go's `time.ParseDuration`), and
//! as `sleep` takes them.

use std::time::Duration;

/// Parses a Go duration (`300ms`, `1.5s`, `2h45m`, `0`), as `time.ParseDuration` does
/// (https://pkg.go.dev/time#ParseDuration). Negative durations are rejected: every use here is a
/// wait or a timeout.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {s:?}");
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let seconds_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("missing unit in duration {s:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {s:?}")),
        };
        total += value * seconds_per_unit;
        rest = after;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

/// Parses `sleep`'s operand: seconds as a decimal number, optionally suffixed `s`, `m`, `h` or `d`
/// (as coreutils' sleep), or `infinity` (returns `None`: sleep until terminated).
pub fn parse_sleep_duration(s: &str) -> Result<Option<Duration>, String> {
    if s.eq_ignore_ascii_case("infinity") || s.eq_ignore_ascii_case("inf") {
        return Ok(None);
    }
    let (number, multiplier) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1.0),
        Some((i, 'm')) => (&s[..i], 60.0),
        Some((i, 'h')) => (&s[..i], 3600.0),
        Some((i, 'd')) => (&s[..i], 86400.0),
        _ => (s, 1.0),
    };
    let invalid = || format!("invalid time interval {s:?}");
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    Duration::try_from_secs_f64(value * multiplier)
        .map(Some)
        .map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_time_parse_duration() {
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_go_duration("+5s"), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn go_durations_without_a_unit_or_with_junk_are_rejected() {
        for bad in ["", "5", "s", "1x", "-1s", "1.2.3s", ".s", "5 s"] {
            assert!(
                parse_go_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn sleep_takes_seconds_suffixes_and_infinity() {
        assert_eq!(parse_sleep_duration("3"), Ok(Some(Duration::from_secs(3))));
        assert_eq!(
            parse_sleep_duration("0.25"),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(
            parse_sleep_duration("2m"),
            Ok(Some(Duration::from_secs(120)))
        );
        assert_eq!(
            parse_sleep_duration("1d"),
            Ok(Some(Duration::from_secs(86400)))
        );
        assert_eq!(parse_sleep_duration("infinity"), Ok(None));
        for bad in ["", "s", "-1", "abc", "1x"] {
            assert!(
                parse_sleep_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
