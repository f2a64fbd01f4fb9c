//! Signals: one PromQL query per signal for the whole cluster, and exact matching of its series to nodes.
//!
//! # The query
//! Each signal has a base expression `E` giving one 0-100 value per node series. One range query evaluates `E`
//! over the longer of the hot and cool windows, every `query_step` (QUERY_STEP) up to `t`, the tick's time
//! rounded down to a multiple of the step ([`aligned_end`]; the points at `t`, `t - step`, ...), and the hook
//! reads five stats per series off the points:
//!
//! | stat | from the points | meaning |
//! |---|---|---|
//! | `current` | the point at `t` | the value now |
//! | `hot_min` | min over the points in `(t - hot, t]` | lowest evaluation in the hot window |
//! | `hot_samples` | how many of them have a value | evaluations with data in the hot window |
//! | `cool_max` | max over the points in `(t - cool, t]` | highest evaluation in the cool window |
//! | `cool_samples` | how many of them have a value | evaluations with data in the cool window |
//!
//! A window of `w` holds `w / step` points; it is *full* when all of them have a (finite) value. A new node or a
//! scrape gap gives a window that is not full, hence no hot/cool verdict.
//!
//! So: hot = `hot_min > threshold` over a full window ("every 30 s evaluation of the last 3 m was above"), cool
//! = `cool_max < untaint threshold` over a full window. The history lives in Prometheus: a restarted hook or a
//! skipped tick changes nothing.
//!
//! Why a range query and not five subqueries in one instant query: Prometheus selects a query's series once per
//! place a selector appears, and at 5,000 nodes selecting is most of the cost; a range query selects them once
//! for every step (measured in BENCHMARKS.md).
//!
//! Pure: builds query text and matches answers already fetched; imports Prometheus' answer types, never its
//! client.

use super::policy::{SignalKind, TaintPolicy, promql_duration};
use crate::prometheus::RangeSeries;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
/// How many unmatched series a report quotes.
const UNMATCHED_EXAMPLES: usize = 5;

/// The labels the built-in expressions keep: the ones matching may use.
fn grouping_labels(policy: &TaintPolicy) -> String {
    let mut labels = vec!["node".to_string(), "instance".to_string()];
    if let Some(label) = &policy.match_label
        && !labels.contains(label)
    {
        labels.push(label.clone());
    }
    labels.join(", ")
}

/// The base expression `E` of a signal (one 0-100 value per node series), or `None` when it is disabled.
pub fn signal_expression(kind: SignalKind, policy: &TaintPolicy) -> Option<String> {
    policy.signal(kind)?;
    let by = grouping_labels(policy);
    Some(match kind {
        // Busy = 1 - idle share, averaged over the node's cores. `avg by` also merges duplicate scrapes of the
        // same target (other `job`) into one series.
        SignalKind::Cpu => format!(
            "100 * (1 - avg by ({by}) (rate(node_cpu_seconds_total{{mode=\"idle\"}}[{}])))",
            promql_duration(policy.cpu_rate_window)
        ),
        SignalKind::Memory => format!(
            "100 * (1 - avg by ({by}) (node_memory_MemAvailable_bytes) / avg by ({by}) (node_memory_MemTotal_bytes))"
        ),
        SignalKind::Custom => policy.custom.as_ref()?.expression.trim().to_string(),
    })
}

/// The one query of a signal (see the module docs): `expression` evaluated every `step` over `range` up to the
/// tick's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalQuery {
    pub signal: SignalKind,
    pub expression: String,
    /// From the oldest point to the newest: the longer window, less one step (windows are left-open).
    pub range: Duration,
    pub step: Duration,
}

/// The query of a signal, or `None` when it is disabled.
pub fn signal_query(kind: SignalKind, policy: &TaintPolicy) -> Option<SignalQuery> {
    let expression = signal_expression(kind, policy)?;
    let signal = policy.signal(kind)?;
    let step = policy.query_step;
    let step_secs = step.as_secs().max(1);
    let longest = signal.hot_window.max(signal.cool_window).as_secs();
    let points = window_evaluations(longest, step_secs);
    Some(SignalQuery {
        signal: kind,
        expression,
        range: step * points.saturating_sub(1),
        step,
    })
}

/// The newest evaluation time of a tick at `now`: the last multiple of `step` (unix time) at or before it.
///
/// Aligned evaluations make every tick's points a subset of one grid, so `kube-thermostat replay` reads a
/// whole period with one range query per chunk and sees exactly the values each live tick saw; a point is at
/// most one step old, well inside the shortest window.
pub fn aligned_end(now: Timestamp, step: Duration) -> Timestamp {
    let step_ms = (step.as_millis() as i64).max(1);
    let now_ms = now.as_millisecond();
    Timestamp::from_millisecond(now_ms - now_ms.rem_euclid(step_ms)).unwrap_or(now)
}

/// The queries of every enabled signal, in a fixed order: the whole Prometheus traffic of one tick.
pub fn signal_queries(policy: &TaintPolicy) -> Vec<SignalQuery> {
    policy
        .signals()
        .into_iter()
        .filter_map(|(kind, _)| signal_query(kind, policy))
        .collect()
}

/// One node's stats for one signal, after merging its series (duplicate scrapers).
///
/// Merge rule, hottest reading wins: `current` is the highest current value; `hot_min` is the highest
/// window minimum among series whose hot window is full (one full series vouching "hot" is enough); `cool_max`
/// is the highest window maximum among series whose cool window is full (every full series must agree it is
/// cool). A series whose window is not full cannot vouch for that window. NaN and ±Inf count as missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeReading {
    pub current: Option<f64>,
    /// `None` when no series of this node has a full hot window.
    pub hot_min: Option<f64>,
    /// `None` when no series of this node has a full cool window.
    pub cool_max: Option<f64>,
    /// The most evaluations with data in the hot window over this node's series.
    pub hot_samples: u32,
    pub cool_samples: u32,
    /// How many series matched this node.
    pub series: usize,
}

/// Series that matched no node: a label mismatch the operator should see.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnmatchedSeries {
    pub count: usize,
    /// A few of them, as `label="value"` of the label used for matching (or all labels when it is missing).
    pub examples: Vec<String>,
}

/// Everything one signal's answer says, keyed by node name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalReadings {
    pub signal: SignalKind,
    pub nodes: BTreeMap<String, NodeReading>,
    pub unmatched: UnmatchedSeries,
    /// Evaluations a full hot / cool window holds (`window / query_step`).
    pub hot_samples_needed: u32,
    pub cool_samples_needed: u32,
}

impl SignalReadings {
    pub fn reading(&self, node: &str) -> Option<&NodeReading> {
        self.nodes.get(node)
    }
}

/// `host:9100` → `host`, `[fd00::1]:9100` → `fd00::1`, `10.0.0.1:9100` → `10.0.0.1`; a bare IPv6 address or a
/// name without port is returned as is.
pub fn strip_port(target: &str) -> &str {
    if let Some(rest) = target.strip_prefix('[')
        && let Some(end) = rest.find(']')
    {
        let after = &rest[end + 1..];
        if after.is_empty() || after.strip_prefix(':').is_some_and(is_port) {
            return &rest[..end];
        }
        return target;
    }
    match target.rsplit_once(':') {
        // Exactly one colon: a port. More than one: a bare IPv6 address, which has no port.
        Some((host, port)) if !host.contains(':') && is_port(port) => host,
        _ => target,
    }
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Node names, then node addresses, for exact lookups.
pub(crate) struct NodeIndex<'a> {
    names: BTreeSet<&'a str>,
    addresses: HashMap<&'a str, BTreeSet<&'a str>>,
}

impl<'a> NodeIndex<'a> {
    pub(crate) fn new(nodes: &'a [Node]) -> NodeIndex<'a> {
        let mut names = BTreeSet::new();
        let mut addresses: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for node in nodes {
            let Some(name) = node.metadata.name.as_deref() else {
                continue;
            };
            names.insert(name);
            let node_addresses = node.status.as_ref().and_then(|s| s.addresses.as_ref());
            for address in node_addresses.into_iter().flatten() {
                if matches!(
                    address.type_.as_str(),
                    "InternalIP" | "Hostname" | "ExternalIP"
                ) && !address.address.is_empty()
                {
                    addresses
                        .entry(address.address.as_str())
                        .or_default()
                        .insert(name);
                }
            }
        }
        NodeIndex { names, addresses }
    }

    /// The node a target (port already stripped) names: its name exactly, else the one node owning the address.
    /// An address shared by several nodes names none of them.
    pub(crate) fn lookup(&self, target: &str) -> Option<&'a str> {
        if let Some(name) = self.names.get(target) {
            return Some(name);
        }
        match self.addresses.get(target) {
            Some(owners) if owners.len() == 1 => owners.first().copied(),
            _ => None,
        }
    }
}

/// The label value naming the node for one series, per [`TaintPolicy::match_label`], with its label name.
fn target_label<'s>(
    labels: &'s BTreeMap<String, String>,
    policy: &'s TaintPolicy,
) -> Option<(&'s str, &'s str)> {
    let non_empty = |name: &'s str| {
        labels
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| (name, v.as_str()))
    };
    match &policy.match_label {
        Some(label) => non_empty(label.as_str()),
        None => non_empty("node").or_else(|| non_empty("instance")),
    }
}

/// The five stats of one series (see the module docs); counts are of points with a finite value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SeriesStats {
    pub current: Option<f64>,
    pub hot_min: Option<f64>,
    pub hot_samples: u32,
    pub cool_max: Option<f64>,
    pub cool_samples: u32,
}

impl SeriesStats {
    /// The stats of a series' points, `end` being the query's last evaluation time (unix seconds). Points
    /// outside both windows, NaN and ±Inf are ignored.
    pub fn from_points(
        points: &[(f64, f64)],
        end: f64,
        hot: Duration,
        cool: Duration,
    ) -> SeriesStats {
        let (hot_ms, cool_ms) = (hot.as_millis() as i64, cool.as_millis() as i64);
        let mut stats = SeriesStats::default();
        for &(at, value) in points {
            if !value.is_finite() {
                continue;
            }
            // Whole milliseconds: the API writes times with millisecond precision.
            let age_ms = ((end - at) * 1000.0).round() as i64;
            if age_ms < 0 {
                continue;
            }
            if age_ms == 0 {
                stats.current = Some(value);
            }
            if age_ms < hot_ms {
                stats.hot_samples += 1;
                stats.hot_min = Some(stats.hot_min.map_or(value, |m| m.min(value)));
            }
            if age_ms < cool_ms {
                stats.cool_samples += 1;
                stats.cool_max = Some(stats.cool_max.map_or(value, |m| m.max(value)));
            }
        }
        stats
    }
}

/// Matches one signal's range-query answer (see [`signal_query`]), evaluated up to `end` (unix seconds), to the
/// nodes.
pub fn match_range(
    signal: SignalKind,
    series: &[RangeSeries],
    end: f64,
    nodes: &[Node],
    policy: &TaintPolicy,
) -> SignalReadings {
    let (hot, cool) = policy
        .signal(signal)
        .map_or((Duration::ZERO, Duration::ZERO), |s| {
            (s.hot_window, s.cool_window)
        });
    let stats = series.iter().map(|one| {
        let mut identity = one.labels.clone();
        // A bare selector keeps its metric name; the name does not tell series apart.
        identity.remove("__name__");
        (
            identity,
            SeriesStats::from_points(&one.points, end, hot, cool),
        )
    });
    match_series(signal, stats, nodes, policy)
}

/// Matches per-series stats to the nodes (several series of one node are merged, see [`NodeReading`]).
pub fn match_series(
    signal: SignalKind,
    series: impl IntoIterator<Item = (BTreeMap<String, String>, SeriesStats)>,
    nodes: &[Node],
    policy: &TaintPolicy,
) -> SignalReadings {
    let step = policy.query_step.as_secs().max(1);
    let (hot_samples_needed, cool_samples_needed) = match policy.signal(signal) {
        Some(s) => (
            window_evaluations(s.hot_window.as_secs(), step),
            window_evaluations(s.cool_window.as_secs(), step),
        ),
        None => (1, 1),
    };
    let index = NodeIndex::new(nodes);
    let mut readings: BTreeMap<String, NodeReading> = BTreeMap::new();
    let mut unmatched = UnmatchedSeries::default();
    let mut examples = BTreeSet::new();
    for (labels, stats) in series {
        let target = target_label(&labels, policy);
        let node = target.and_then(|(_, value)| index.lookup(strip_port(value)));
        let Some(node) = node else {
            unmatched.count += 1;
            examples.insert(match target {
                Some((name, value)) => format!("{name}={value:?}"),
                None => format!("{labels:?}"),
            });
            continue;
        };
        let reading = readings.entry(node.to_string()).or_default();
        reading.series += 1;
        reading.current = hottest(reading.current, stats.current);
        let (hot_samples, cool_samples) = (stats.hot_samples, stats.cool_samples);
        reading.hot_samples = reading.hot_samples.max(hot_samples);
        reading.cool_samples = reading.cool_samples.max(cool_samples);
        if hot_samples >= hot_samples_needed {
            reading.hot_min = hottest(reading.hot_min, stats.hot_min);
        }
        if cool_samples >= cool_samples_needed {
            reading.cool_max = hottest(reading.cool_max, stats.cool_max);
        }
    }
    unmatched.examples = examples.into_iter().take(UNMATCHED_EXAMPLES).collect();
    SignalReadings {
        signal,
        nodes: readings,
        unmatched,
        hot_samples_needed,
        cool_samples_needed,
    }
}

/// Test notation: each series' five stats as samples labelled `thermostat_stat="<stat>"` (the shape of a
/// table in the module docs), matched as [`match_series`] does.
#[cfg(test)]
pub(crate) fn match_samples(
    signal: SignalKind,
    samples: &[crate::prometheus::Sample],
    nodes: &[Node],
    policy: &TaintPolicy,
) -> SignalReadings {
    use crate::prometheus::STAT_LABEL;
    let mut series: BTreeMap<BTreeMap<String, String>, SeriesStats> = BTreeMap::new();
    for sample in samples {
        let Some(stat) = sample.label(STAT_LABEL) else {
            continue;
        };
        let mut identity = sample.labels.clone();
        identity.remove(STAT_LABEL);
        let stats = series.entry(identity).or_default();
        let value = sample.value.is_finite().then_some(sample.value);
        let count = value.map_or(0, |v| v.clamp(0.0, f64::from(u32::MAX)) as u32);
        match stat {
            "current" => stats.current = value,
            "hot_min" => stats.hot_min = value,
            "hot_samples" => stats.hot_samples = count,
            "cool_max" => stats.cool_max = value,
            "cool_samples" => stats.cool_samples = count,
            other => panic!("unknown stat {other}"),
        }
    }
    match_series(signal, series, nodes, policy)
}

/// Evaluations every `step` that a full window `(t - window, t]` holds.
fn window_evaluations(window_secs: u64, step_secs: u64) -> u32 {
    u32::try_from((window_secs / step_secs).max(1)).unwrap_or(u32::MAX)
}

fn hottest(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::{STAT_LABEL, Sample};
    use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, addresses: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            status: Some(NodeStatus {
                addresses: Some(
                    addresses
                        .iter()
                        .map(|(t, a)| NodeAddress {
                            type_: t.to_string(),
                            address: a.to_string(),
                        })
                        .collect(),
                ),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    /// The five stats of one series, as the query would answer them.
    fn series(
        labels: &[(&str, &str)],
        current: f64,
        hot_min: f64,
        hot_n: f64,
        cool_max: f64,
        cool_n: f64,
    ) -> Vec<Sample> {
        [
            ("current", current),
            ("hot_min", hot_min),
            ("hot_samples", hot_n),
            ("cool_max", cool_max),
            ("cool_samples", cool_n),
        ]
        .into_iter()
        .map(|(stat, value)| {
            let mut map: BTreeMap<String, String> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            map.insert(STAT_LABEL.to_string(), stat.to_string());
            Sample { labels: map, value }
        })
        .collect()
    }

    fn cpu(samples: &[Sample], nodes: &[Node]) -> SignalReadings {
        match_samples(SignalKind::Cpu, samples, nodes, &TaintPolicy::default())
    }

    #[test]
    fn ports_are_stripped_from_names_ipv4_and_bracketed_ipv6() {
        assert_eq!(strip_port("node-1:9100"), "node-1");
        assert_eq!(strip_port("10.0.0.1:9100"), "10.0.0.1");
        assert_eq!(strip_port("[fd00::1]:9100"), "fd00::1");
        assert_eq!(strip_port("[fd00::1]"), "fd00::1");
        assert_eq!(strip_port("fd00::1"), "fd00::1");
        assert_eq!(strip_port("node-1"), "node-1");
        assert_eq!(strip_port("node-1:http"), "node-1:http");
    }

    #[test]
    fn name_prefixes_never_match_another_node() {
        let nodes = [
            node("node-1", &[]),
            node("node-10", &[]),
            node("node-100", &[]),
        ];
        let samples: Vec<Sample> = [("node-10:9100", 95.0), ("node-100:9100", 50.0)]
            .into_iter()
            .flat_map(|(instance, v)| series(&[("instance", instance)], v, v, 6.0, v, 10.0))
            .collect();
        let readings = cpu(&samples, &nodes);
        assert_eq!(
            readings.reading("node-1"),
            None,
            "node-1 has no series of its own"
        );
        assert_eq!(
            readings.reading("node-10").and_then(|r| r.current),
            Some(95.0)
        );
        assert_eq!(
            readings.reading("node-100").and_then(|r| r.current),
            Some(50.0)
        );
    }

    #[test]
    fn node_label_wins_over_instance() {
        let nodes = [node("worker-a", &[])];
        let samples = series(
            &[("node", "worker-a"), ("instance", "10.9.9.9:9100")],
            42.0,
            40.0,
            6.0,
            45.0,
            10.0,
        );
        let readings = cpu(&samples, &nodes);
        assert_eq!(
            readings.reading("worker-a").and_then(|r| r.current),
            Some(42.0)
        );
        assert_eq!(readings.unmatched.count, 0);
    }

    #[test]
    fn instance_ip_falls_back_to_node_addresses_v4_and_v6() {
        let nodes = [
            node(
                "worker-a",
                &[("InternalIP", "10.0.0.7"), ("Hostname", "ip-10-0-0-7")],
            ),
            node("worker-b", &[("InternalIP", "fd00::b")]),
            node("worker-c", &[("Hostname", "host-c.internal")]),
        ];
        let mut samples = series(
            &[("instance", "10.0.0.7:9100")],
            81.0,
            81.0,
            6.0,
            81.0,
            10.0,
        );
        samples.extend(series(
            &[("instance", "[fd00::b]:9100")],
            12.0,
            12.0,
            6.0,
            12.0,
            10.0,
        ));
        samples.extend(series(
            &[("instance", "host-c.internal:9100")],
            33.0,
            33.0,
            6.0,
            33.0,
            10.0,
        ));
        let readings = cpu(&samples, &nodes);
        assert_eq!(
            readings.reading("worker-a").and_then(|r| r.current),
            Some(81.0)
        );
        assert_eq!(
            readings.reading("worker-b").and_then(|r| r.current),
            Some(12.0)
        );
        assert_eq!(
            readings.reading("worker-c").and_then(|r| r.current),
            Some(33.0)
        );
    }

    #[test]
    fn an_address_shared_by_two_nodes_matches_neither_and_is_reported() {
        let nodes = [
            node("a", &[("InternalIP", "10.0.0.1")]),
            node("b", &[("InternalIP", "10.0.0.1")]),
        ];
        let readings = cpu(
            &series(
                &[("instance", "10.0.0.1:9100")],
                90.0,
                90.0,
                6.0,
                90.0,
                10.0,
            ),
            &nodes,
        );
        assert!(readings.nodes.is_empty());
        assert_eq!(readings.unmatched.count, 1);
        assert_eq!(
            readings.unmatched.examples,
            vec!["instance=\"10.0.0.1:9100\"".to_string()]
        );
    }

    #[test]
    fn unmatched_series_are_counted_with_a_few_examples() {
        let nodes = [node("node-1", &[])];
        let samples: Vec<Sample> = (0..8)
            .flat_map(|i| {
                series(
                    &[("instance", &format!("ghost-{i}:9100"))],
                    1.0,
                    1.0,
                    6.0,
                    1.0,
                    10.0,
                )
            })
            .collect();
        let readings = cpu(&samples, &nodes);
        assert_eq!(readings.unmatched.count, 8);
        assert_eq!(readings.unmatched.examples.len(), UNMATCHED_EXAMPLES);
    }

    #[test]
    fn duplicate_scrapers_merge_hottest_first_and_only_full_windows_vouch() {
        let nodes = [node("node-1", &[("InternalIP", "10.0.0.1")])];
        // Scraper A by name, full windows, cool; scraper B by IP, hot but its hot window is not full.
        let mut samples = series(
            &[("instance", "node-1:9100"), ("job", "a")],
            50.0,
            45.0,
            6.0,
            55.0,
            10.0,
        );
        samples.extend(series(
            &[("instance", "10.0.0.1:9100"), ("job", "b")],
            90.0,
            85.0,
            3.0,
            92.0,
            10.0,
        ));
        let reading = cpu(&samples, &nodes).nodes["node-1"].clone();
        assert_eq!(reading.series, 2);
        assert_eq!(reading.current, Some(90.0));
        assert_eq!(
            reading.hot_min,
            Some(45.0),
            "B's hot window is not full: it cannot vouch for hot"
        );
        assert_eq!(
            reading.cool_max,
            Some(92.0),
            "both cool windows are full: the hottest max wins"
        );
        assert_eq!(reading.hot_samples, 6);
    }

    #[test]
    fn nan_and_infinite_values_count_as_missing() {
        let nodes = [node("node-1", &[])];
        let samples = series(
            &[("node", "node-1")],
            f64::NAN,
            f64::INFINITY,
            6.0,
            f64::NEG_INFINITY,
            10.0,
        );
        let reading = cpu(&samples, &nodes).nodes["node-1"].clone();
        assert_eq!(
            (reading.current, reading.hot_min, reading.cool_max),
            (None, None, None)
        );
    }

    #[test]
    fn a_window_that_is_not_full_gives_no_window_stat() {
        let nodes = [node("node-1", &[])];
        let reading = cpu(
            &series(&[("node", "node-1")], 95.0, 91.0, 5.0, 96.0, 9.0),
            &nodes,
        )
        .nodes["node-1"]
            .clone();
        assert_eq!((reading.hot_min, reading.cool_max), (None, None));
        assert_eq!((reading.hot_samples, reading.cool_samples), (5, 9));
    }

    #[test]
    fn configured_match_label_is_the_only_label_used() {
        let policy = TaintPolicy {
            match_label: Some("nodename".to_string()),
            ..TaintPolicy::default()
        };
        let nodes = [node("node-1", &[]), node("node-2", &[])];
        let mut samples = series(
            &[("nodename", "node-1"), ("node", "node-2")],
            10.0,
            10.0,
            6.0,
            10.0,
            10.0,
        );
        samples.extend(series(&[("node", "node-2")], 20.0, 20.0, 6.0, 20.0, 10.0));
        let readings = match_samples(SignalKind::Cpu, &samples, &nodes, &policy);
        assert_eq!(
            readings.reading("node-1").and_then(|r| r.current),
            Some(10.0)
        );
        assert_eq!(readings.reading("node-2"), None);
        assert_eq!(readings.unmatched.count, 1);
        let query = signal_query(SignalKind::Cpu, &policy).unwrap().expression;
        assert!(
            query.contains("avg by (node, instance, nodename)"),
            "{query}"
        );
    }

    #[test]
    fn one_query_per_enabled_signal() {
        let mut policy = TaintPolicy::default();
        assert_eq!(signal_queries(&policy).len(), 1);
        policy.memory = Some(super::super::SignalPolicy::with_threshold(90.0));
        policy.custom = Some(super::super::CustomSignal {
            expression: "my_load_percent".to_string(),
            signal: super::super::SignalPolicy::with_threshold(75.0),
        });
        let queries = signal_queries(&policy);
        assert_eq!(
            queries.iter().map(|q| q.signal).collect::<Vec<_>>(),
            [SignalKind::Cpu, SignalKind::Memory, SignalKind::Custom]
        );
        assert_eq!(queries[2].expression, "my_load_percent");
    }

    #[test]
    fn default_cpu_query_spans_the_cool_window_at_the_step() {
        let query = signal_query(SignalKind::Cpu, &TaintPolicy::default()).unwrap();
        assert_eq!(
            query.expression,
            "100 * (1 - avg by (node, instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[2m])))"
        );
        // A 5m cool window at 30 s holds 10 points: t - 4m30s .. t.
        assert_eq!(query.range, Duration::from_secs(270));
        assert_eq!(query.step, Duration::from_secs(30));
    }

    /// Points every 30 s ending at `end` (newest last), `None` for a gap.
    fn points(end: f64, values: &[Option<f64>]) -> Vec<(f64, f64)> {
        let n = values.len();
        values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (end - 30.0 * (n - 1 - i) as f64, v)))
            .collect()
    }

    fn default_stats(points: &[(f64, f64)], end: f64) -> SeriesStats {
        SeriesStats::from_points(
            points,
            end,
            Duration::from_secs(180),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn windows_are_left_open_and_count_only_values() {
        let end = 1_700_000_000.5;
        // 10 points: the oldest four are only in the cool window, the newest six in both.
        let p = points(
            end,
            &[95.0, 20.0, 90.0, 90.0, 85.0, 86.0, 87.0, 88.0, 89.0, 84.0].map(Some),
        );
        let stats = default_stats(&p, end);
        assert_eq!(stats.current, Some(84.0));
        assert_eq!((stats.hot_min, stats.hot_samples), (Some(84.0), 6));
        assert_eq!((stats.cool_max, stats.cool_samples), (Some(95.0), 10));
        // A point exactly one window old is outside it (Prometheus' ranges are left-open).
        let with_older = [vec![(end - 300.0, 99.0)], p].concat();
        assert_eq!(default_stats(&with_older, end), stats);
    }

    #[test]
    fn gaps_nan_and_a_missing_last_point_leave_windows_short() {
        let end = 1_700_000_000.0;
        let mut values = [Some(90.0); 10];
        values[7] = None;
        values[9] = Some(f64::NAN);
        let stats = default_stats(&points(end, &values), end);
        assert_eq!(stats.current, None, "NaN now is no value now");
        assert_eq!(stats.hot_samples, 4);
        assert_eq!(stats.cool_samples, 8);
        let readings = match_series(
            SignalKind::Cpu,
            [(
                BTreeMap::from([("node".to_string(), "a".to_string())]),
                stats,
            )],
            &[node("a", &[])],
            &TaintPolicy::default(),
        );
        let reading = readings.reading("a").unwrap();
        assert_eq!(
            (reading.hot_min, reading.cool_max),
            (None, None),
            "not full"
        );
    }

    #[test]
    fn range_answers_match_nodes_by_label_without_the_metric_name() {
        let end = 1_700_000_000.0;
        let labels = BTreeMap::from([
            ("__name__".to_string(), "my_load_percent".to_string()),
            ("instance".to_string(), "node-1:9100".to_string()),
        ]);
        let series = [RangeSeries {
            labels,
            points: points(end, &[Some(91.0); 10]),
        }];
        let readings = match_range(
            SignalKind::Cpu,
            &series,
            end,
            &[node("node-1", &[])],
            &TaintPolicy::default(),
        );
        let reading = readings.reading("node-1").unwrap();
        assert_eq!(reading.hot_min, Some(91.0));
        assert_eq!(reading.cool_samples, 10);
        assert_eq!(readings.unmatched.count, 0);
    }
}

/// The query checked by the real PromQL engine (`promtool test rules` evaluates an expression over synthetic
/// series without a server): it parses, and each stat means what the module docs say.
#[cfg(test)]
mod promql_engine {
    use super::*;
    use std::process::Command;

    /// The default CPU expression gives each node's busy percentage, evaluated by the real engine at several
    /// times (the points a range query returns).
    #[test]
    fn default_cpu_expression_is_busy_percent_per_node() {
        if Command::new("promtool").arg("--version").output().is_err() {
            eprintln!("promtool not installed: skipping the PromQL engine check");
            return;
        }
        let expression = signal_query(SignalKind::Cpu, &TaintPolicy::default())
            .unwrap()
            .expression;
        // Two one-core nodes sampled every 30 s: `steady` idles 10 % of the time (90 % busy) throughout;
        // `cooling` is 90 % busy for 6 minutes, then 40 %; a duplicate scrape of `steady` (another job) merges.
        let mut tests = String::new();
        for (eval_time, cooling) in [("5m", 90), ("10m", 40)] {
            tests.push_str(&format!(
                "      - expr: '{expression}'\n        eval_time: {eval_time}\n        exp_samples:\n\
                 \x20         - labels: '{{instance=\"steady:9100\"}}'\n            value: 90\n\
                 \x20         - labels: '{{instance=\"cooling:9100\"}}'\n            value: {cooling}\n"
            ));
        }
        let test = format!(
            "rule_files: []\nevaluation_interval: 30s\ntests:\n  - interval: 30s\n    input_series:\n\
             \x20     - series: 'node_cpu_seconds_total{{mode=\"idle\",cpu=\"0\",instance=\"steady:9100\"}}'\n\
             \x20       values: '0+3x40'\n\
             \x20     - series: 'node_cpu_seconds_total{{mode=\"idle\",cpu=\"0\",instance=\"steady:9100\",job=\"other\"}}'\n\
             \x20       values: '0+3x40'\n\
             \x20     - series: 'node_cpu_seconds_total{{mode=\"idle\",cpu=\"0\",instance=\"cooling:9100\"}}'\n\
             \x20       values: '0+3x12 54+18x28'\n\
             \x20   promql_expr_test:\n{tests}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("query_test.yml");
        std::fs::write(&path, test).unwrap();
        let output = Command::new("promtool")
            .arg("test")
            .arg("rules")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
