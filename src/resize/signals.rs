//! Container load signals: one PromQL query per signal for the whole cluster, and the matching of
//! the answer's series to containers by exact (namespace, pod, container).
//!
//! A signal's decisions read five statistics per container (see [`ContainerStats`]), over the short window and
//! the stabilization window, from evaluations of the signal every `step` (aligned to multiples of the step, the
//! newest at or before the tick, windows left-open). They come from one of two queries ([`container_query`]):
//!
//! - **Range** (the default): the signal itself, one range query over the stabilization window. Prometheus
//!   selects the series once and the hook reads the statistics off the points ([`record_series`]), decoding
//!   the answer as it arrives. At 50,000 containers: ~2 s of Prometheus time, a 135 MB answer.
//! - **Statistics**, when the answer would exceed `max_points` (RESIZE_QUERY_MAX_POINTS) or Prometheus' 11,000
//!   steps: one instant query of the statistics as subqueries, told apart by an added `thermostat_stat` label
//!   (`label_replace` + `or`), read by [`record_sample`]. Prometheus selects the series once per statistic
//!   (3-4x the CPU), but the answer is one value per statistic and container.
//!
//! Duplicate scrapes of a container (kubelet and a second job) are merged, hottest wins: the largest statistic
//! over the container's series, as `max by (namespace, pod, container)` does *after* each `*_over_time` in the
//! statistics query (inside, it would aggregate at every step: 8 times the cost, BENCHMARKS.md).
//!
//! Pure: builds query text and matches answers already fetched; imports Prometheus' answer helpers, never
//! its client.

use crate::prometheus::{promql_duration, tag_stat};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The label added to tell the statistics of one query apart.
pub use crate::prometheus::STAT_LABEL;

/// Time spans of the queries (see [`crate::resize::ResizePolicy`] for the defaults' reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignalWindows {
    /// `rate()` window for CPU counters; at least two scrape intervals.
    pub rate_window: Duration,
    /// Usage must stay high over this span before a scale-up.
    pub short_window: Duration,
    /// Usage must stay low over this span (with full history) before a scale-down.
    pub stabilization_window: Duration,
    /// Resolution of the subqueries.
    pub step: Duration,
    /// The long view a scale-down also keeps (a high percentile of usage, so a daily peak is not forgotten after
    /// the stabilization window); zero: off.
    pub long_window: Duration,
    /// Resolution of the long view: usage is averaged (CPU) or its peak taken (memory) over each step.
    pub long_step: Duration,
}

impl Default for SignalWindows {
    fn default() -> Self {
        SignalWindows {
            rate_window: Duration::from_secs(120),
            short_window: Duration::from_secs(180),
            stabilization_window: Duration::from_secs(1800),
            step: Duration::from_secs(30),
            long_window: Duration::from_secs(24 * 3600),
            long_step: Duration::from_secs(300),
        }
    }
}

impl SignalWindows {
    /// How many subquery points a full stabilization window holds.
    pub fn expected_samples(&self) -> u64 {
        self.stabilization_window.as_secs() / self.step.as_secs().max(1)
    }

    /// How many subquery points a full short window holds (Prometheus 3 ranges are left-open), at least 1.
    pub fn expected_short_samples(&self) -> u64 {
        (self.short_window.as_secs() / self.step.as_secs().max(1)).max(1)
    }
}

/// The statistics a query answers per container, by `thermostat_stat` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// Lowest value over the short window: the level usage *stayed* above.
    ShortMin,
    /// Highest value over the short window.
    ShortMax,
    /// Highest value over the stabilization window.
    Peak,
    /// Number of subquery points over the stabilization window that have a value.
    Samples,
    /// Number of subquery points over the short window that have a value: a container younger than
    /// the short window has a minimum over one or two points, which says nothing about staying high.
    ShortSamples,
    /// The long view: a percentile of usage over the long window ([`crate::resize::long_view`]).
    Long,
    /// Fraction of CFS periods throttled over the short window (CPU only).
    ThrottledShort,
    /// Highest fraction of CFS periods throttled in one long-view step over the long window (CPU only).
    ThrottledLong,
    /// The usage a CPU request sized from usage covers: `RESIZE_CPU_REQUEST_PERCENTILE` of the long view's
    /// 5-minute averages (CPU only).
    LongRequest,
}

impl Stat {
    pub const ALL: [Stat; 9] = [
        Stat::ShortMin,
        Stat::ShortMax,
        Stat::Peak,
        Stat::Samples,
        Stat::ShortSamples,
        Stat::Long,
        Stat::ThrottledShort,
        Stat::ThrottledLong,
        Stat::LongRequest,
    ];

    pub fn label_value(self) -> &'static str {
        match self {
            Stat::ShortMin => "short_min",
            Stat::ShortMax => "short_max",
            Stat::Peak => "peak",
            Stat::Samples => "samples",
            Stat::ShortSamples => "short_samples",
            Stat::Long => "long",
            Stat::ThrottledShort => "throttled_short",
            Stat::ThrottledLong => "throttled_long",
            Stat::LongRequest => "long_request",
        }
    }
}

/// cAdvisor series of real containers: `container=""` is the pod cgroup, `"POD"` the pause container.
pub(super) const CONTAINER_SELECTOR: &str = r#"container!="",container!="POD""#;

/// Above this many namespaces the selector is not narrowed: the alternation would cost Prometheus about as
/// much as it saves, and the query text grows with it.
pub const MAX_NARROWED_NAMESPACES: usize = 500;

/// The namespaces to narrow the queries to: those of the opted-in pods. Prometheus' cost grows with the series
/// it selects, so a cluster that opts in a few namespaces pays for their containers, not for all of them.
/// `None` (every namespace) above [`MAX_NARROWED_NAMESPACES`], or for a name that is not a DNS label (the API
/// server allows no other, and such a name could not go into the regular expression as it is).
pub fn query_namespaces<'a>(
    namespaces: impl IntoIterator<Item = &'a str>,
) -> Option<BTreeSet<&'a str>> {
    let set: BTreeSet<&str> = namespaces.into_iter().collect();
    let dns_label = |name: &&str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    (set.len() <= MAX_NARROWED_NAMESPACES && set.iter().all(dns_label)).then_some(set)
}

pub(super) fn container_selector(namespaces: Option<&BTreeSet<&str>>) -> String {
    match namespaces {
        Some(names) => format!(
            r#"{CONTAINER_SELECTOR},namespace=~"{}""#,
            names.iter().copied().collect::<Vec<_>>().join("|")
        ),
        None => CONTAINER_SELECTOR.to_string(),
    }
}

/// Prometheus' limit on the steps of one range query.
const MAX_RANGE_POINTS: u64 = 11_000;

/// The two container signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Cpu,
    Memory,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Cpu => "cpu",
            Signal::Memory => "memory",
        }
    }

    /// The signal itself: one value per container series and evaluation.
    fn expression(self, windows: &SignalWindows, namespaces: Option<&BTreeSet<&str>>) -> String {
        let selector = container_selector(namespaces);
        match self {
            Signal::Cpu => format!(
                "rate(container_cpu_usage_seconds_total{{{selector}}}[{}])",
                promql_duration(windows.rate_window)
            ),
            Signal::Memory => format!("container_memory_working_set_bytes{{{selector}}}"),
        }
    }
}

/// A range query of a signal: evaluations every `step` from `end_ms - range` to `end_ms` (unix milliseconds,
/// a multiple of the step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub expression: String,
    pub end_ms: i64,
    pub range: Duration,
    pub step: Duration,
}

/// How a tick asks for one signal (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerQuery {
    Range(RangeQuery),
    Statistics(String),
}

impl ContainerQuery {
    pub fn expression(&self) -> &str {
        match self {
            ContainerQuery::Range(range) => &range.expression,
            ContainerQuery::Statistics(expression) => expression,
        }
    }
}

/// The query of `signal` at `now_ms` for about `series` container series: a range query unless its answer would
/// hold more than `max_points` points (or more steps than Prometheus allows), then the statistics query.
pub fn container_query(
    signal: Signal,
    windows: &SignalWindows,
    namespaces: Option<&BTreeSet<&str>>,
    series: usize,
    max_points: u64,
    now_ms: i64,
) -> ContainerQuery {
    let step_ms = (windows.step.as_millis() as i64).max(1);
    // Both windows are read off the same points, so they span the longer one: every multiple of the step in
    // (end - window, end], ceil(window / step) of them.
    let longest_ms = windows
        .stabilization_window
        .max(windows.short_window)
        .as_millis() as u64;
    let points = longest_ms.div_ceil(step_ms as u64).max(1);
    if max_points == 0
        || points > MAX_RANGE_POINTS
        || points.saturating_mul(series as u64) > max_points
    {
        return ContainerQuery::Statistics(match signal {
            Signal::Cpu => cpu_usage_query(windows, namespaces),
            Signal::Memory => memory_working_set_query(windows, namespaces),
        });
    }
    ContainerQuery::Range(RangeQuery {
        expression: signal.expression(windows, namespaces),
        end_ms: now_ms - now_ms.rem_euclid(step_ms),
        range: windows.step * (points - 1) as u32,
        step: windows.step,
    })
}

/// A few containers' recorded usage over a period, for a chart: per container the highest evaluation of the
/// signal within each `chart_step` (a peak between two chart points is not lost), hottest scrape winning.
pub fn usage_chart_query(
    signal: Signal,
    windows: &SignalWindows,
    containers: &[ContainerKey],
    chart_step: Duration,
) -> String {
    // Pod and namespace names are DNS names: only `.` means something in a regular expression.
    let alternatives = |names: BTreeSet<&str>| {
        names
            .into_iter()
            .map(|name| name.replace('.', "\\\\."))
            .collect::<Vec<_>>()
            .join("|")
    };
    let namespaces = alternatives(containers.iter().map(|c| c.namespace.as_str()).collect());
    let pods = alternatives(containers.iter().map(|c| c.pod.as_str()).collect());
    let selector = format!(r#"{CONTAINER_SELECTOR},namespace=~"{namespaces}",pod=~"{pods}""#);
    let series = match signal {
        Signal::Cpu => format!(
            "rate(container_cpu_usage_seconds_total{{{selector}}}[{}])",
            promql_duration(windows.rate_window)
        ),
        Signal::Memory => format!("container_memory_working_set_bytes{{{selector}}}"),
    };
    format!(
        "max by (namespace, pod, container) (max_over_time(({series})[{}:{}]))",
        promql_duration(chart_step),
        promql_duration(windows.step)
    )
}

/// The four statistics of `series` a signal reads; `level` is the short-window statistic that a
/// scale-up compares with its mark.
fn multi_stat_query(series: &str, level: Stat, windows: &SignalWindows) -> String {
    let step = promql_duration(windows.step);
    let short = promql_duration(windows.short_window);
    let long = promql_duration(windows.stabilization_window);
    let level_function = if level == Stat::ShortMin {
        "min_over_time"
    } else {
        "max_over_time"
    };
    [
        (level, level_function, &short),
        (Stat::ShortSamples, "count_over_time", &short),
        (Stat::Peak, "max_over_time", &long),
        (Stat::Samples, "count_over_time", &long),
    ]
    .iter()
    .map(|(stat, function, range)| {
        // Several scrapers (kubelet and a second Prometheus job) often report the same container.
        tag_stat(
            &format!("max by (namespace, pod, container) ({function}(({series})[{range}:{step}]))"),
            stat.label_value(),
        )
    })
    .collect::<Vec<_>>()
    .join(" or ")
}

/// Container CPU usage in cores: the short-window minimum (usage that *stayed* high), the
/// stabilization-window peak and both windows' point counts, in one query.
pub fn cpu_usage_query(windows: &SignalWindows, namespaces: Option<&BTreeSet<&str>>) -> String {
    multi_stat_query(
        &Signal::Cpu.expression(windows, namespaces),
        Stat::ShortMin,
        windows,
    )
}

/// Container memory working set in bytes: the short-window maximum (memory is not given back, so a
/// high point is a need), the stabilization-window peak and both windows' point counts, in one query.
pub fn memory_working_set_query(
    windows: &SignalWindows,
    namespaces: Option<&BTreeSet<&str>>,
) -> String {
    multi_stat_query(
        &Signal::Memory.expression(windows, namespaces),
        Stat::ShortMax,
        windows,
    )
}

/// Exact identity of a container in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ContainerKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl ContainerKey {
    pub fn new(namespace: &str, pod: &str, container: &str) -> ContainerKey {
        ContainerKey {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            container: container.to_string(),
        }
    }
}

impl std::fmt::Display for ContainerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.pod, self.container)
    }
}

/// The statistics of one container's signal; `None` is "no data" (absent, NaN or infinite).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ContainerStats {
    pub short_min: Option<f64>,
    pub short_max: Option<f64>,
    pub peak: Option<f64>,
    pub samples: Option<f64>,
    pub short_samples: Option<f64>,
    /// [`Stat::Long`].
    pub long: Option<f64>,
    /// [`Stat::ThrottledShort`], a fraction.
    pub throttled_short: Option<f64>,
    /// [`Stat::ThrottledLong`], a fraction.
    pub throttled_long: Option<f64>,
    /// [`Stat::LongRequest`].
    pub long_request: Option<f64>,
    /// The throttling guard's query failed for this container this tick: whether the limit throttled it is not
    /// known, so its CPU is not scaled down (whatever the long view's setting).
    pub throttling_unknown: bool,
}

/// One signal's answer, by container.
pub type SignalTable = BTreeMap<ContainerKey, ContainerStats>;

/// The labels of an answer's series that [`record_sample`] reads; the rest are skipped while decoding
/// (a map of every label per sample would cost more than the whole table).
#[derive(Debug, Default, Deserialize)]
pub struct ContainerSeriesLabels {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    /// [`STAT_LABEL`].
    #[serde(rename = "thermostat_stat")]
    pub stat: Option<String>,
}

impl ContainerSeriesLabels {
    /// The container a series is about and its statistic label; `None` without the identifying labels.
    pub fn into_key(self) -> Option<(ContainerKey, Option<String>)> {
        let key = ContainerKey {
            namespace: self.namespace?,
            pod: self.pod?,
            container: self.container?,
        };
        Some((key, self.stat))
    }
}

/// Adds one sample of an answer to the per-container statistics. Series without the identifying
/// labels or with an unknown statistic are ignored; NaN and infinities count as no data.
pub fn record_sample(table: &mut SignalTable, labels: ContainerSeriesLabels, value: f64) {
    let Some((key, Some(stat))) = labels.into_key() else {
        return;
    };
    let Some(stat) = Stat::ALL.into_iter().find(|s| s.label_value() == stat) else {
        return;
    };
    let value = value.is_finite().then_some(value);
    let entry = table.entry(key).or_default();
    let slot = match stat {
        Stat::ShortMin => &mut entry.short_min,
        Stat::ShortMax => &mut entry.short_max,
        Stat::Peak => &mut entry.peak,
        Stat::Samples => &mut entry.samples,
        Stat::ShortSamples => &mut entry.short_samples,
        Stat::Long => &mut entry.long,
        Stat::ThrottledShort => &mut entry.throttled_short,
        Stat::ThrottledLong => &mut entry.throttled_long,
        Stat::LongRequest => &mut entry.long_request,
    };
    *slot = value;
}

/// Adds one series of a range answer (see [`container_query`]) ending at `end_ms`: its statistics, merged with
/// those of the container's other series (hottest wins). Points without a finite value are gaps. Series without
/// the identifying labels are ignored.
pub fn record_series(
    table: &mut SignalTable,
    labels: ContainerSeriesLabels,
    points: &[(f64, f64)],
    end_ms: i64,
    windows: &SignalWindows,
) {
    let Some((key, _)) = labels.into_key() else {
        return;
    };
    record_points(table, key, points, end_ms, windows);
}

/// [`record_series`] for a series already keyed: replay keys each series once per chunk and reads many ticks
/// off it.
pub fn record_points(
    table: &mut SignalTable,
    key: ContainerKey,
    points: &[(f64, f64)],
    end_ms: i64,
    windows: &SignalWindows,
) {
    table
        .entry(key)
        .or_default()
        .merge_hottest(&series_stats(points, end_ms, windows));
}

impl ContainerStats {
    /// Adds another series of the same container (a duplicate scrape): each statistic is the hotter of the two.
    pub fn merge_hottest(&mut self, other: &ContainerStats) {
        let hottest = |slot: &mut Option<f64>, value: Option<f64>| {
            if let Some(value) = value {
                *slot = Some(slot.map_or(value, |old| old.max(value)));
            }
        };
        hottest(&mut self.short_min, other.short_min);
        hottest(&mut self.short_max, other.short_max);
        hottest(&mut self.peak, other.peak);
        hottest(&mut self.samples, other.samples);
        hottest(&mut self.short_samples, other.short_samples);
        hottest(&mut self.long, other.long);
        hottest(&mut self.throttled_short, other.throttled_short);
        hottest(&mut self.throttled_long, other.throttled_long);
        hottest(&mut self.long_request, other.long_request);
        self.throttling_unknown |= other.throttling_unknown;
    }
}

/// One series' statistics from its points: those aged less than a window (by whole milliseconds, the API's
/// precision) are in it.
pub fn series_stats(points: &[(f64, f64)], end_ms: i64, windows: &SignalWindows) -> ContainerStats {
    let short_ms = windows.short_window.as_millis() as i64;
    let long_ms = windows.stabilization_window.as_millis() as i64;
    let (mut short, mut long) = (Extremes::default(), Extremes::default());
    for &(at, value) in points {
        let age_ms = end_ms - (at * 1000.0).round() as i64;
        if !value.is_finite() || age_ms < 0 {
            continue;
        }
        if age_ms < short_ms {
            short.add(value);
        }
        if age_ms < long_ms {
            long.add(value);
        }
    }
    ContainerStats {
        short_min: short.min,
        short_max: short.max,
        peak: long.max,
        samples: (long.count > 0).then_some(long.count as f64),
        short_samples: (short.count > 0).then_some(short.count as f64),
        ..ContainerStats::default()
    }
}

#[derive(Default)]
struct Extremes {
    min: Option<f64>,
    max: Option<f64>,
    count: u32,
}

impl Extremes {
    fn add(&mut self, value: f64) {
        self.min = Some(self.min.map_or(value, |m| m.min(value)));
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_usage_chart_asks_for_the_charted_containers_only_with_peaks_kept() {
        let containers = [
            ContainerKey::new("shop", "web-1.a", "app"),
            ContainerKey::new("batch", "job-7", "worker"),
        ];
        let query = usage_chart_query(
            Signal::Cpu,
            &SignalWindows::default(),
            &containers,
            Duration::from_secs(300),
        );
        assert_eq!(
            query,
            r#"max by (namespace, pod, container) (max_over_time((rate(container_cpu_usage_seconds_total{container!="",container!="POD",namespace=~"batch|shop",pod=~"job-7|web-1\\.a"}[2m]))[5m:30s]))"#
        );
    }
    use super::*;

    /// A sample as the decoder hands it over: the labels we read, from a JSON object of all labels.
    fn sample(labels: &[(&str, &str)], value: f64) -> (ContainerSeriesLabels, f64) {
        let object: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        (serde_json::from_value(object.into()).unwrap(), value)
    }

    fn collect_container_stats(answer: Vec<(ContainerSeriesLabels, f64)>) -> SignalTable {
        let mut table = SignalTable::new();
        for (labels, value) in answer {
            record_sample(&mut table, labels, value);
        }
        table
    }

    const NOW_MS: i64 = 1_700_000_017_500;

    #[test]
    fn a_signal_is_one_range_query_over_the_stabilization_window_ending_on_the_step_grid() {
        let windows = SignalWindows::default();
        let ContainerQuery::Range(query) =
            container_query(Signal::Cpu, &windows, None, 50_000, 6_000_000, NOW_MS)
        else {
            panic!("50,000 containers x 60 points fit 6,000,000")
        };
        assert_eq!(
            query.expression,
            r#"rate(container_cpu_usage_seconds_total{container!="",container!="POD"}[2m])"#
        );
        assert_eq!(query.end_ms % 30_000, 0, "on the grid of the step");
        assert!(query.end_ms <= NOW_MS && NOW_MS - query.end_ms < 30_000);
        assert_eq!(query.step, Duration::from_secs(30));
        // 60 points, the oldest 29.5 minutes before the end: the window (end - 30m, end] is left-open.
        assert_eq!(query.range, Duration::from_secs(59 * 30));
        let memory = container_query(Signal::Memory, &windows, None, 1, 6_000_000, NOW_MS);
        assert_eq!(
            memory.expression(),
            r#"container_memory_working_set_bytes{container!="",container!="POD"}"#
        );
    }

    #[test]
    fn answers_above_the_point_budget_or_prometheus_step_limit_ask_for_the_statistics() {
        let windows = SignalWindows::default();
        let namespaces = query_namespaces(["shop"]);
        let ask = |containers, budget, windows: &SignalWindows| {
            container_query(
                Signal::Cpu,
                windows,
                namespaces.as_ref(),
                containers,
                budget,
                NOW_MS,
            )
        };
        assert!(matches!(
            ask(100_000, 6_000_000, &windows),
            ContainerQuery::Range(_)
        ));
        assert_eq!(
            ask(100_001, 6_000_000, &windows),
            ContainerQuery::Statistics(cpu_usage_query(&windows, namespaces.as_ref()))
        );
        assert!(
            matches!(ask(1, 0, &windows), ContainerQuery::Statistics(_)),
            "0: always"
        );
        let fine = SignalWindows {
            step: Duration::from_secs(1),
            stabilization_window: Duration::from_secs(4 * 3600),
            ..windows
        };
        assert!(
            matches!(ask(1, u64::MAX, &fine), ContainerQuery::Statistics(_)),
            "14,400 steps: Prometheus refuses a range query of more than 11,000"
        );
    }

    #[test]
    fn the_range_spans_the_longer_window_and_every_step_inside_it() {
        // A short window longer than the stabilization window: its points must all be asked for, or its count
        // could never be full and nothing would ever scale up.
        let long_short = SignalWindows {
            short_window: Duration::from_secs(40 * 60),
            ..SignalWindows::default()
        };
        let ContainerQuery::Range(query) =
            container_query(Signal::Cpu, &long_short, None, 1, u64::MAX, NOW_MS)
        else {
            panic!("a range query")
        };
        assert_eq!(query.range, Duration::from_secs(79 * 30));
        // 1000 s at 30 s: the points aged 0, 30, ... 990 s, 34 of them.
        let odd = SignalWindows {
            stabilization_window: Duration::from_secs(1000),
            ..SignalWindows::default()
        };
        let ContainerQuery::Range(query) =
            container_query(Signal::Cpu, &odd, None, 1, u64::MAX, NOW_MS)
        else {
            panic!("a range query")
        };
        assert_eq!(query.range, Duration::from_secs(990));
        assert!(
            matches!(
                container_query(Signal::Cpu, &odd, None, 0, 0, NOW_MS),
                ContainerQuery::Statistics(_)
            ),
            "0 means always the statistics, whatever the count"
        );
    }

    fn labels(namespace: &str, pod: &str, container: &str) -> ContainerSeriesLabels {
        ContainerSeriesLabels {
            namespace: Some(namespace.into()),
            pod: Some(pod.into()),
            container: Some(container.into()),
            stat: None,
        }
    }

    /// Points every 30 s up to `end_ms`, oldest first, from values newest first.
    fn points(end_ms: i64, newest_first: &[f64]) -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = newest_first
            .iter()
            .enumerate()
            .map(|(age, value)| ((end_ms - age as i64 * 30_000) as f64 / 1000.0, *value))
            .collect();
        points.reverse();
        points
    }

    #[test]
    fn statistics_are_read_off_the_points_in_each_left_open_window() {
        let windows = SignalWindows::default();
        let end_ms = 1_700_000_010_000;
        // 62 points: the two oldest are 30 and 30.5 minutes old, outside the 30-minute window.
        let mut values = vec![0.5; 62];
        values[0] = 0.9; // now
        values[5] = 0.2; // 2.5 minutes ago: in the short window
        values[6] = 0.1; // 3 minutes ago: not in it
        values[30] = 2.0; // the peak
        values[60] = 9.0; // exactly 30 minutes ago: outside
        values[61] = 9.0;
        let mut table = SignalTable::new();
        record_series(
            &mut table,
            labels("shop", "web-1", "app"),
            &points(end_ms, &values),
            end_ms,
            &windows,
        );
        let stats = table[&ContainerKey::new("shop", "web-1", "app")];
        assert_eq!(
            stats,
            ContainerStats {
                short_min: Some(0.2),
                short_max: Some(0.9),
                peak: Some(2.0),
                samples: Some(60.0),
                short_samples: Some(6.0),
                ..ContainerStats::default()
            }
        );
    }

    #[test]
    fn gaps_nan_and_points_after_the_end_are_not_counted() {
        let windows = SignalWindows::default();
        let end_ms = 1_700_000_010_000;
        let mut values = vec![0.5; 60];
        values[1] = f64::NAN;
        values[2] = f64::INFINITY;
        let mut series = points(end_ms, &values);
        series.remove(40); // a scrape gap
        series.push(((end_ms + 30_000) as f64 / 1000.0, 7.0)); // after the end: not read
        let mut table = SignalTable::new();
        record_series(
            &mut table,
            labels("shop", "web-1", "app"),
            &series,
            end_ms,
            &windows,
        );
        let stats = table[&ContainerKey::new("shop", "web-1", "app")];
        assert_eq!(stats.samples, Some(57.0));
        assert_eq!(stats.short_samples, Some(4.0));
        assert_eq!(stats.peak, Some(0.5));
        let mut empty = SignalTable::new();
        record_series(
            &mut empty,
            labels("shop", "web-1", "app"),
            &[(1.0, f64::NAN)],
            end_ms,
            &windows,
        );
        assert_eq!(
            empty[&ContainerKey::new("shop", "web-1", "app")],
            ContainerStats::default(),
            "no value: no statistic, not zero"
        );
    }

    #[test]
    fn duplicate_series_of_a_container_merge_hottest_wins_and_unlabelled_ones_are_ignored() {
        let windows = SignalWindows::default();
        let end_ms = 1_700_000_010_000;
        let mut table = SignalTable::new();
        let kubelet = points(end_ms, &[0.8; 60]);
        let mut second_job = vec![0.9; 40];
        second_job[3] = 0.85;
        record_series(
            &mut table,
            labels("shop", "web-1", "app"),
            &kubelet,
            end_ms,
            &windows,
        );
        record_series(
            &mut table,
            labels("shop", "web-1", "app"),
            &points(end_ms, &second_job),
            end_ms,
            &windows,
        );
        let mut unlabelled = labels("shop", "web-1", "app");
        unlabelled.container = None;
        record_series(
            &mut table,
            unlabelled,
            &points(end_ms, &[5.0; 60]),
            end_ms,
            &windows,
        );
        assert_eq!(table.len(), 1);
        assert_eq!(
            table[&ContainerKey::new("shop", "web-1", "app")],
            ContainerStats {
                short_min: Some(0.85),
                short_max: Some(0.9),
                peak: Some(0.9),
                samples: Some(60.0),
                short_samples: Some(6.0),
                ..ContainerStats::default()
            },
            "as max by (namespace, pod, container) after each *_over_time"
        );
    }

    #[test]
    fn the_stat_label_is_decoded_by_its_name() {
        assert_eq!(STAT_LABEL, "thermostat_stat");
        let (labels, _) = sample(&[(STAT_LABEL, "peak"), ("job", "kubelet")], 1.0);
        assert_eq!(labels.stat.as_deref(), Some("peak"));
    }

    #[test]
    fn cpu_query_carries_the_four_stats_it_reads_merged_after_each_window() {
        let query = cpu_usage_query(&SignalWindows::default(), None);
        let rate =
            r#"(rate(container_cpu_usage_seconds_total{container!="",container!="POD"}[2m]))"#;
        let by = "max by (namespace, pod, container)";
        assert_eq!(
            query,
            format!(
                r#"label_replace({by} (min_over_time({rate}[3m:30s])), "thermostat_stat", "short_min", "", "") or label_replace({by} (count_over_time({rate}[3m:30s])), "thermostat_stat", "short_samples", "", "") or label_replace({by} (max_over_time({rate}[30m:30s])), "thermostat_stat", "peak", "", "") or label_replace({by} (count_over_time({rate}[30m:30s])), "thermostat_stat", "samples", "", "")"#
            )
        );
    }

    #[test]
    fn memory_query_reads_the_working_set_maximum() {
        let query = memory_working_set_query(&SignalWindows::default(), None);
        assert!(query.contains(
            r#"max by (namespace, pod, container) (max_over_time((container_memory_working_set_bytes{container!="",container!="POD"})[3m:30s])), "thermostat_stat", "short_max""#
        ), "{query}");
        assert_eq!(query.matches(" or ").count(), 3);
    }

    #[test]
    fn queries_are_narrowed_to_the_namespaces_of_opted_in_pods() {
        let namespaces = query_namespaces(["shop", "web", "shop"]).unwrap();
        let query = cpu_usage_query(&SignalWindows::default(), Some(&namespaces));
        assert_eq!(
            query
                .matches(r#"{container!="",container!="POD",namespace=~"shop|web"}"#)
                .count(),
            4,
            "{query}"
        );
        let memory = memory_working_set_query(&SignalWindows::default(), Some(&namespaces));
        assert!(memory.contains(r#"namespace=~"shop|web""#), "{memory}");
    }

    #[test]
    fn too_many_or_odd_namespaces_leave_the_selector_wide() {
        let many: Vec<String> = (0..=MAX_NARROWED_NAMESPACES)
            .map(|i| format!("ns-{i}"))
            .collect();
        assert!(query_namespaces(many.iter().map(String::as_str)).is_none());
        assert!(query_namespaces(many[1..].iter().map(String::as_str)).is_some());
        assert!(
            query_namespaces(["shop", "a.b"]).is_none(),
            "a regex metacharacter"
        );
        assert!(query_namespaces(["shop", "Shop"]).is_none());
    }

    #[test]
    fn series_are_matched_to_containers_exactly_and_nan_is_no_data() {
        let answer = vec![
            sample(
                &[
                    ("namespace", "shop"),
                    ("pod", "web-1"),
                    ("container", "app"),
                    (STAT_LABEL, "short_min"),
                ],
                0.9,
            ),
            sample(
                &[
                    ("namespace", "shop"),
                    ("pod", "web-1"),
                    ("container", "app"),
                    (STAT_LABEL, "peak"),
                ],
                f64::NAN,
            ),
            sample(
                &[
                    ("namespace", "shop"),
                    ("pod", "web-1"),
                    ("container", "app"),
                    (STAT_LABEL, "samples"),
                ],
                60.0,
            ),
            sample(
                &[
                    ("namespace", "shop"),
                    ("pod", "web-10"),
                    ("container", "app"),
                    (STAT_LABEL, "short_min"),
                ],
                0.1,
            ),
            sample(
                &[
                    ("namespace", "shop"),
                    ("pod", "web-1"),
                    (STAT_LABEL, "short_min"),
                ],
                5.0,
            ),
            sample(
                &[
                    ("namespace", "shop"),
                    ("pod", "web-1"),
                    ("container", "app"),
                    (STAT_LABEL, "mystery"),
                ],
                5.0,
            ),
            sample(
                &[
                    ("namespace", "shop"),
                    ("pod", "web-1"),
                    ("container", "app"),
                    (STAT_LABEL, "short_max"),
                ],
                f64::INFINITY,
            ),
        ];
        let table = collect_container_stats(answer);
        assert_eq!(table.len(), 2);
        let app = table[&ContainerKey::new("shop", "web-1", "app")];
        assert_eq!(
            app,
            ContainerStats {
                short_min: Some(0.9),
                short_max: None,
                peak: None,
                samples: Some(60.0),
                short_samples: None,
                ..ContainerStats::default()
            }
        );
        assert_eq!(
            table[&ContainerKey::new("shop", "web-10", "app")].short_min,
            Some(0.1)
        );
    }
}
