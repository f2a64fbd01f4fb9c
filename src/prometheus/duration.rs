use std::time::Duration;

/// A duration in PromQL's spelling for range selectors and subquery steps: `30s`, `3m`, `2h`. Whole seconds,
/// at least `1s` (a zero range is invalid PromQL; settings never allow one).
pub fn promql_duration(duration: Duration) -> String {
    let secs = duration.as_secs().max(1);
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// A duration as Prometheus spells one in flags and answers (`model.ParseDuration`): whole numbers of `y w d h m s
/// ms`, largest unit first, each at most once (`15d`, `1d12h`, `2w`); `0` alone has no unit; a year is 365 days.
/// `None` for anything else, such as Go's `1.5h`. Upstream: github.com/prometheus/common `model/time.go`
/// (`ParseDuration`, `unitMap`).
pub fn parse_prometheus_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut millis: u64 = 0;
    // Index into UNITS past the last unit used: units must come in order, once each.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        if digits == 0 || unit_len == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        let unit = &rest[digits..digits + unit_len];
        let position = UNITS[next_unit..]
            .iter()
            .position(|(name, _)| *name == unit)?;
        let (_, unit_millis) = UNITS[next_unit + position];
        next_unit += position + 1;
        millis = millis.checked_add(number.checked_mul(unit_millis)?)?;
        rest = &rest[digits + unit_len..];
    }
    // Go's time.Duration holds at most 2^63-1 ns; beyond that Prometheus says "duration out of range".
    (!text.is_empty() && millis <= i64::MAX as u64 / 1_000_000)
        .then(|| Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_whole_unit() {
        assert_eq!(promql_duration(Duration::from_secs(180)), "3m");
        assert_eq!(promql_duration(Duration::from_secs(90)), "90s");
        assert_eq!(promql_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(promql_duration(Duration::from_millis(10)), "1s");
    }

    #[test]
    fn prometheus_durations_parse_as_model_parse_duration_does() {
        let days = |n: u64| Duration::from_secs(n * 86_400);
        assert_eq!(parse_prometheus_duration("15d"), Some(days(15)));
        assert_eq!(
            parse_prometheus_duration("1d12h"),
            Some(days(1) + Duration::from_secs(12 * 3600))
        );
        assert_eq!(parse_prometheus_duration("2w"), Some(days(14)));
        assert_eq!(parse_prometheus_duration("1y"), Some(days(365)));
        assert_eq!(
            parse_prometheus_duration("1h30m15s250ms"),
            Some(Duration::from_millis(5_415_250))
        );
        assert_eq!(parse_prometheus_duration("90d"), Some(days(90)));
        assert_eq!(parse_prometheus_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_prometheus_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_prometheus_duration("292y"), Some(days(292 * 365)));
        for bad in [
            "", "15", "d", "1.5h", "-1d", "1d 12h", "12h1d", "1d1d", "1M", "1ns", "15d ", "300y",
            "10GiB",
        ] {
            assert_eq!(
                parse_prometheus_duration(bad),
                None,
                "{bad:?} must be refused"
            );
        }
    }
}
