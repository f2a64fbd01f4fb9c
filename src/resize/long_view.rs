//! The long view and CPU throttling: what a container used over hours to days, so that a scale-down keeps a
//! daily peak it saw outside the stabilization window, and how often its CPU limit throttled it.
//!
//! One instant query per resource per tick, of subqueries on a coarse grid (`long_step`, 5m), the statistics
//! told apart by the `thermostat_stat` label as in the statistics query of [`super::signals`]:
//! - `long`: the `RESIZE_*_LONG_PERCENTILE` of the container's 5-minute CPU averages (`rate(..[5m])`), or of its
//!   5-minute working-set peaks (`max_over_time(..[5m])`), over `RESIZE_LONG_WINDOW`; 100 is the maximum.
//! - CPU only, when some pod sizes its CPU request from usage (`RESIZE_CPU_REQUEST=usage`): `long_request`, the
//!   `RESIZE_CPU_REQUEST_PERCENTILE` of the same 5-minute averages.
//! - CPU only, with `RESIZE_CPU_THROTTLE` on: `throttled_short`, the fraction of CFS periods throttled over the
//!   short window (cAdvisor reports these counters only for containers with a CPU limit).
//!
//! The throttling guard, `throttled_long` (the highest such fraction of one 5-minute step over the long window,
//! the stabilization window when the long view is off), is a query of its own ([`throttle_guard_query`]), asked
//! only for the containers the tick would otherwise scale down.
//!
//! Prometheus computes the percentile (`quantile_over_time`) rather than us from range data: on 11,000 containers
//! x 24 h of history (BENCHMARKS.md, "The long view") the subquery took 1.2 s of Prometheus time for a 1.4 MB answer;
//! the range answer we would aggregate ourselves took 0.8 s plus 1.2 s to encode, and was 115 MB to decode.
//! The grid keeps the subquery's peak samples at containers x window / step (at 50,000 containers and 24 h /
//! 5m: 14.4 M, under Prometheus' default `--query.max-samples` of 50 M; a 1m grid would be 72 M).
//!
//! The replay, which reads the history itself, computes the same figures from the same 5-minute evaluations
//! ([`quantile`]). Pure.

use std::collections::BTreeSet;
use std::time::Duration;

use super::signals::{CONTAINER_SELECTOR, ContainerKey, SignalWindows, Stat, container_selector};
use crate::prometheus::escape_label_value;
use crate::prometheus::{promql_duration, tag_stat};

/// `by` labels of every statistic: duplicate scrapes of a container are merged, hottest wins.
const BY_CONTAINER: &str = "max by (namespace, pod, container)";

/// CPU usage in cores averaged over each long-view step: what the CPU long view takes a percentile of.
pub fn cpu_long_expression(windows: &SignalWindows, namespaces: Option<&BTreeSet<&str>>) -> String {
    cpu_usage_rate(&container_selector(namespaces), windows)
}

fn cpu_usage_rate(selector: &str, windows: &SignalWindows) -> String {
    format!(
        "rate(container_cpu_usage_seconds_total{{{selector}}}[{}])",
        promql_duration(windows.long_step)
    )
}

/// The working set's peak within each long-view step: what the memory long view takes a percentile of.
pub fn memory_long_expression(
    windows: &SignalWindows,
    namespaces: Option<&BTreeSet<&str>>,
) -> String {
    format!(
        "max_over_time(container_memory_working_set_bytes{{{}}}[{}])",
        container_selector(namespaces),
        promql_duration(windows.long_step)
    )
}

/// The fraction of CFS periods in which the container was throttled, over `window`. NaN (no data) where it ran
/// no period, as an idle container or one without a CPU limit.
pub fn throttled_expression(window: Duration, namespaces: Option<&BTreeSet<&str>>) -> String {
    throttled_ratio(&container_selector(namespaces), window)
}

fn throttled_ratio(selector: &str, window: Duration) -> String {
    let window = promql_duration(window);
    format!(
        "rate(container_cpu_cfs_throttled_periods_total{{{selector}}}[{window}]) / \
         rate(container_cpu_cfs_periods_total{{{selector}}}[{window}])"
    )
}

/// The window over which throttling holds a CPU scale-down back: the long view's, or the stabilization window
/// without it.
pub fn throttle_guard_window(windows: &SignalWindows) -> Duration {
    if windows.long_window.is_zero() {
        windows.stabilization_window
    } else {
        windows.long_window
    }
}

/// `percentile` (0-100] of `expression`'s evaluations every long step over `window`, per container. The range
/// is a second short of the window: Prometheus 2 takes a point exactly one range old, Prometheus 3 does not
/// (left-open ranges), and a grid point is never within the last second, so both take the same points.
fn percentile_over(expression: &str, percentile: f64, window: Duration, step: Duration) -> String {
    let range = format!(
        "[{}:{}]",
        promql_duration(window.saturating_sub(Duration::from_secs(1))),
        promql_duration(step)
    );
    if percentile >= 100.0 {
        format!("{BY_CONTAINER} (max_over_time(({expression}){range}))")
    } else {
        format!(
            "{BY_CONTAINER} (quantile_over_time({}, ({expression}){range}))",
            percentile / 100.0
        )
    }
}

/// What the CPU long-view query asks for besides the scale-down percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuLongAsks {
    /// Both throttling statistics.
    pub throttle: bool,
    /// The percentile a usage-sized request covers (`long_request`), when some pod sizes its request so.
    pub request_percentile: Option<f64>,
}

/// The CPU long-view query: the `long` percentile (when the long view is on), the `long_request` percentile
/// when asked (for the pods `request_pods` names, every container when `None`: a second subquery costs as much
/// as the first, so one annotated pod should not double it for the cluster), and the short throttling when asked.
/// `None` when there is nothing to ask.
pub fn cpu_long_query(
    windows: &SignalWindows,
    namespaces: Option<&BTreeSet<&str>>,
    percentile: f64,
    asks: CpuLongAsks,
    request_pods: Option<&BTreeSet<(&str, &str)>>,
) -> Option<String> {
    let mut parts = Vec::new();
    if !windows.long_window.is_zero() {
        let inner = cpu_long_expression(windows, namespaces);
        parts.push(tag_stat(
            &percentile_over(&inner, percentile, windows.long_window, windows.long_step),
            Stat::Long.label_value(),
        ));
        if let Some(request) = asks.request_percentile {
            let inner = match request_pods {
                Some(pods) => cpu_usage_rate(&pods_selector(pods.iter().copied()), windows),
                None => inner,
            };
            parts.push(tag_stat(
                &percentile_over(&inner, request, windows.long_window, windows.long_step),
                Stat::LongRequest.label_value(),
            ));
        }
    }
    let throttle = asks.throttle;
    if throttle {
        let short = throttled_expression(windows.short_window, namespaces);
        parts.push(tag_stat(
            &format!("{BY_CONTAINER} ({short})"),
            Stat::ThrottledShort.label_value(),
        ));
    }
    (!parts.is_empty()).then(|| parts.join(" or "))
}

/// The throttling guard (`throttled_long`) for `candidates` alone: the containers a tick would otherwise scale
/// down ([`crate::resize::cpu_scale_downs`]); `None` when there are none. Asked for every container, it was most
/// of the long view's cost: the ratio of two counters inside a subquery is a join at every grid point (BENCHMARKS.md,
/// "The long view": 6.1 s of Prometheus 2.42 at 11,000 containers, where the percentile took 1.1 s).
pub fn throttle_guard_query(
    windows: &SignalWindows,
    candidates: &[ContainerKey],
) -> Option<String> {
    if candidates.is_empty() {
        return None;
    }
    let pods = candidates
        .iter()
        .map(|key| (key.namespace.as_str(), key.pod.as_str()));
    let per_step = throttled_ratio(&pods_selector(pods), windows.long_step);
    Some(tag_stat(
        &percentile_over(
            &per_step,
            100.0,
            throttle_guard_window(windows),
            windows.long_step,
        ),
        Stat::ThrottledLong.label_value(),
    ))
}

/// The matchers (no braces) of these pods' containers: their namespaces and names, each a literal alternative of
/// an anchored regex, which Prometheus looks up as a set rather than matching every value. It may also select a
/// pod of the same name in another of the namespaces: harmless, as a figure is only read for the pods asked for.
fn pods_selector<'a>(pods: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> String {
    let alternatives = |values: BTreeSet<&str>| {
        let literals: Vec<String> = values.into_iter().map(regex_literal).collect();
        escape_label_value(&literals.join("|"))
    };
    let namespaces = alternatives(pods.clone().map(|(namespace, _)| namespace).collect());
    let pods = alternatives(pods.map(|(_, pod)| pod).collect());
    format!(r#"{CONTAINER_SELECTOR},namespace=~"{namespaces}",pod=~"{pods}""#)
}

/// `value` matched literally by an RE2 regex (Prometheus' `=~`).
fn regex_literal(value: &str) -> String {
    let mut literal = String::with_capacity(value.len());
    for c in value.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            literal.push('\\');
        }
        literal.push(c);
    }
    literal
}

/// The memory long-view query; `None` when the long view is off.
pub fn memory_long_query(
    windows: &SignalWindows,
    namespaces: Option<&BTreeSet<&str>>,
    percentile: f64,
) -> Option<String> {
    (!windows.long_window.is_zero()).then(|| {
        let inner = memory_long_expression(windows, namespaces);
        tag_stat(
            &percentile_over(&inner, percentile, windows.long_window, windows.long_step),
            Stat::Long.label_value(),
        )
    })
}

/// Prometheus' `quantile_over_time` of `values` (sorted here): the value at rank `q * (n - 1)`, interpolated
/// linearly between the two samples around it (prometheus `promql/quantile.go`, `quantile`). `None` without values.
pub fn quantile(q: f64, values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let rank = q.clamp(0.0, 1.0) * (n - 1.0);
    let lower = rank.floor();
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - lower;
    Some(values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    const THROTTLE: CpuLongAsks = CpuLongAsks {
        throttle: true,
        request_percentile: None,
    };
    const NOTHING: CpuLongAsks = CpuLongAsks {
        throttle: false,
        request_percentile: None,
    };

    #[test]
    fn a_usage_sized_request_adds_its_percentile_to_the_same_query() {
        let asks = CpuLongAsks {
            throttle: false,
            request_percentile: Some(90.0),
        };
        let query = cpu_long_query(&SignalWindows::default(), None, 95.0, asks, None).unwrap();
        assert_eq!(
            query,
            r#"label_replace(max by (namespace, pod, container) (quantile_over_time(0.95, (rate(container_cpu_usage_seconds_total{container!="",container!="POD"}[5m]))[86399s:5m])), "thermostat_stat", "long", "", "") or label_replace(max by (namespace, pod, container) (quantile_over_time(0.9, (rate(container_cpu_usage_seconds_total{container!="",container!="POD"}[5m]))[86399s:5m])), "thermostat_stat", "long_request", "", "")"#
        );
        let off = SignalWindows {
            long_window: Duration::ZERO,
            ..SignalWindows::default()
        };
        assert_eq!(cpu_long_query(&off, None, 95.0, asks, None), None);

        // Asked by one pod's annotation: its percentile for that pod alone.
        let annotated: BTreeSet<(&str, &str)> = [("shop", "web-1")].into();
        let query = cpu_long_query(
            &SignalWindows::default(),
            None,
            95.0,
            asks,
            Some(&annotated),
        )
        .unwrap();
        assert!(
            query.ends_with(r#"(quantile_over_time(0.9, (rate(container_cpu_usage_seconds_total{container!="",container!="POD",namespace=~"shop",pod=~"web-1"}[5m]))[86399s:5m])), "thermostat_stat", "long_request", "", "")"#),
            "{query}"
        );
    }

    #[test]
    fn the_cpu_long_view_is_one_query_of_a_percentile_and_the_short_throttling() {
        let windows = SignalWindows::default();
        let namespaces: BTreeSet<&str> = ["shop"].into();
        let query = cpu_long_query(&windows, Some(&namespaces), 95.0, THROTTLE, None).unwrap();
        let selector = r#"{container!="",container!="POD",namespace=~"shop"}"#;
        assert_eq!(
            query,
            format!(
                r#"label_replace(max by (namespace, pod, container) (quantile_over_time(0.95, (rate(container_cpu_usage_seconds_total{selector}[5m]))[86399s:5m])), "thermostat_stat", "long", "", "") or label_replace(max by (namespace, pod, container) (rate(container_cpu_cfs_throttled_periods_total{selector}[3m]) / rate(container_cpu_cfs_periods_total{selector}[3m])), "thermostat_stat", "throttled_short", "", "")"#
            )
        );
    }

    #[test]
    fn the_throttling_guard_selects_its_candidates_alone_by_literal_names() {
        let candidates = [
            ContainerKey::new("shop", "web-1", "app"),
            ContainerKey::new("shop", "web.2", "app"),
            ContainerKey::new("tools", "web-1", "sidecar"),
        ];
        let query = throttle_guard_query(&SignalWindows::default(), &candidates).unwrap();
        // `.` is a regex metacharacter: escaped for the regex, and that backslash again for the PromQL string.
        let selector =
            r#"{container!="",container!="POD",namespace=~"shop|tools",pod=~"web-1|web\\.2"}"#;
        assert_eq!(
            query,
            format!(
                r#"label_replace(max by (namespace, pod, container) (max_over_time((rate(container_cpu_cfs_throttled_periods_total{selector}[5m]) / rate(container_cpu_cfs_periods_total{selector}[5m]))[86399s:5m])), "thermostat_stat", "throttled_long", "", "")"#
            )
        );
        assert_eq!(throttle_guard_query(&SignalWindows::default(), &[]), None);
        assert_eq!(regex_literal(r"a.b|c(d)*"), r"a\.b\|c\(d\)\*");
    }

    #[test]
    fn without_the_long_view_throttling_is_guarded_over_the_stabilization_window() {
        let windows = SignalWindows {
            long_window: Duration::ZERO,
            ..SignalWindows::default()
        };
        let query = cpu_long_query(&windows, None, 95.0, THROTTLE, None).unwrap();
        assert!(!query.contains("\"long\""), "{query}");
        assert!(query.contains("throttled_short"), "{query}");
        let candidates = [ContainerKey::new("shop", "web-1", "app")];
        let guard = throttle_guard_query(&windows, &candidates).unwrap();
        assert!(guard.contains("[1799s:5m]"), "{guard}");
        assert_eq!(cpu_long_query(&windows, None, 95.0, NOTHING, None), None);
        assert_eq!(memory_long_query(&windows, None, 100.0), None);
    }

    #[test]
    fn the_memory_long_view_at_100_is_the_highest_five_minute_peak() {
        let query = memory_long_query(&SignalWindows::default(), None, 100.0).unwrap();
        assert_eq!(
            query,
            r#"label_replace(max by (namespace, pod, container) (max_over_time((max_over_time(container_memory_working_set_bytes{container!="",container!="POD"}[5m]))[86399s:5m])), "thermostat_stat", "long", "", "")"#
        );
    }

    #[test]
    fn quantile_interpolates_between_ranks_as_prometheus_does() {
        assert_eq!(quantile(0.95, &mut []), None);
        assert_eq!(quantile(0.5, &mut [3.0]), Some(3.0));
        // rank 0.9 x 4 = 3.6: 0.4 of the way from the 4th (40) to the 5th (50) value.
        let value = quantile(0.9, &mut [50.0, 10.0, 30.0, 20.0, 40.0]).unwrap();
        assert!((value - 46.0).abs() < 1e-9, "{value}");
        assert_eq!(quantile(1.0, &mut [1.0, 7.0, 2.0]), Some(7.0));
    }
}
