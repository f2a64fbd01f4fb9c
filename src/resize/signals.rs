//! Container load signals: one PromQL query per signal for the whole cluster, and the matching of
//! the answer's series to containers by exact (namespace, pod, container).
//!
//! Each query carries the four statistics a signal's decisions read, told apart by an added
//! `thermostat_stat` label (`label_replace` + `or`), so a tick costs one query per signal whatever the
//! size of the cluster.
//!
//! Cost: Prometheus selects the series once per statistic, and at 50,000 containers selecting is most
//! of a query's time, so the query asks only for what is read (the CPU level a scale-up needs is the
//! short-window minimum, the memory one the maximum). Duplicate scrapes are merged by `max by` *after*
//! each `*_over_time`: merging inside the subquery aggregates at every step, which cost 8 times more
//! (BENCHMARKS.md).

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
}

impl Default for SignalWindows {
    fn default() -> Self {
        SignalWindows {
            rate_window: Duration::from_secs(120),
            short_window: Duration::from_secs(180),
            stabilization_window: Duration::from_secs(1800),
            step: Duration::from_secs(30),
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
}

impl Stat {
    pub const ALL: [Stat; 5] = [
        Stat::ShortMin,
        Stat::ShortMax,
        Stat::Peak,
        Stat::Samples,
        Stat::ShortSamples,
    ];

    pub fn label_value(self) -> &'static str {
        match self {
            Stat::ShortMin => "short_min",
            Stat::ShortMax => "short_max",
            Stat::Peak => "peak",
            Stat::Samples => "samples",
            Stat::ShortSamples => "short_samples",
        }
    }
}

/// cAdvisor series of real containers: `container=""` is the pod cgroup, `"POD"` the pause container.
const CONTAINER_SELECTOR: &str = r#"container!="",container!="POD""#;

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

fn container_selector(namespaces: Option<&BTreeSet<&str>>) -> String {
    match namespaces {
        Some(names) => format!(
            r#"{CONTAINER_SELECTOR},namespace=~"{}""#,
            names.iter().copied().collect::<Vec<_>>().join("|")
        ),
        None => CONTAINER_SELECTOR.to_string(),
    }
}

/// The four statistics of `series` a signal reads; `level` is the short-window statistic that a
/// scale-up compares with its mark.
fn multi_stat_query(series: &str, level: Stat, windows: &SignalWindows) -> String {
    let step = promql_duration(windows.step);
    let short = promql_duration(windows.short_window);
    let long = promql_duration(windows.stabilization_window);
    [level, Stat::ShortSamples, Stat::Peak, Stat::Samples]
        .iter()
        .map(|stat| {
            let (function, range) = match stat {
                Stat::ShortMin => ("min_over_time", &short),
                Stat::ShortMax => ("max_over_time", &short),
                Stat::Peak => ("max_over_time", &long),
                Stat::Samples => ("count_over_time", &long),
                Stat::ShortSamples => ("count_over_time", &short),
            };
            // Several scrapers (kubelet and a second Prometheus job) often report the same container.
            tag_stat(
                &format!(
                    "max by (namespace, pod, container) ({function}(({series})[{range}:{step}]))"
                ),
                stat.label_value(),
            )
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Container CPU usage in cores: the short-window minimum (usage that *stayed* high), the
/// stabilization-window peak and both windows' point counts, in one query.
pub fn cpu_usage_query(windows: &SignalWindows, namespaces: Option<&BTreeSet<&str>>) -> String {
    let rate = promql_duration(windows.rate_window);
    let selector = container_selector(namespaces);
    multi_stat_query(
        &format!("rate(container_cpu_usage_seconds_total{{{selector}}}[{rate}])"),
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
    let selector = container_selector(namespaces);
    multi_stat_query(
        &format!("container_memory_working_set_bytes{{{selector}}}"),
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

/// Adds one sample of an answer to the per-container statistics. Series without the identifying
/// labels or with an unknown statistic are ignored; NaN and infinities count as no data.
pub fn record_sample(table: &mut SignalTable, labels: ContainerSeriesLabels, value: f64) {
    let (Some(namespace), Some(pod), Some(container), Some(stat)) =
        (labels.namespace, labels.pod, labels.container, labels.stat)
    else {
        return;
    };
    let Some(stat) = Stat::ALL.into_iter().find(|s| s.label_value() == stat) else {
        return;
    };
    let value = value.is_finite().then_some(value);
    let entry = table
        .entry(ContainerKey {
            namespace,
            pod,
            container,
        })
        .or_default();
    let slot = match stat {
        Stat::ShortMin => &mut entry.short_min,
        Stat::ShortMax => &mut entry.short_max,
        Stat::Peak => &mut entry.peak,
        Stat::Samples => &mut entry.samples,
        Stat::ShortSamples => &mut entry.short_samples,
    };
    *slot = value;
}

#[cfg(test)]
mod tests {
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
            }
        );
        assert_eq!(
            table[&ContainerKey::new("shop", "web-10", "app")].short_min,
            Some(0.1)
        );
    }
}
