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
}
