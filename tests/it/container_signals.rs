//! resize-pods' two ways of asking for a container signal, against a real Prometheus: the range query read as it
//! arrives (the default) and the instant query of four statistics (for answers above RESIZE_QUERY_MAX_POINTS)
//! must give every container the same statistics, or switching between them would change decisions.

use k8s_openapi::jiff::Timestamp;
use kube_thermostat::deadline::Deadline;
use kube_thermostat::prometheus::{PrometheusClient, PrometheusConfig, RangeSpan};
use kube_thermostat::resize::signals::{
    ContainerKey, ContainerQuery, Signal, SignalTable, SignalWindows, container_query,
    query_namespaces, record_sample, record_series,
};
use std::time::Duration;
use thermostat_rig::prometheus::{ContainerLoad, PodHistory, Profile, Prometheus, Timeline};

const MIB: f64 = 1024.0 * 1024.0;

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(20))
}

/// The table of `signal` at `now_ms`, asked as a range query (`max_points` unbounded) or as statistics (0).
fn table(
    client: &PrometheusClient,
    signal: Signal,
    namespaces: &[&str],
    max_points: u64,
    now_ms: i64,
) -> (SignalTable, ContainerQuery) {
    let windows = SignalWindows::default();
    let namespaces = query_namespaces(namespaces.iter().copied());
    let query = container_query(
        signal,
        &windows,
        namespaces.as_ref(),
        10,
        max_points,
        now_ms,
    );
    let mut table = SignalTable::new();
    match &query {
        ContainerQuery::Range(range) => {
            let end = Timestamp::from_millisecond(range.end_ms).unwrap();
            let (folded, answer) = client
                .query_range_fold(
                    &range.expression,
                    RangeSpan {
                        start: end - range.range,
                        end,
                        step: range.step,
                    },
                    &deadline(),
                    SignalTable::new,
                    |table, labels, points| {
                        record_series(table, labels, points, range.end_ms, &windows)
                    },
                )
                .unwrap();
            assert!(answer.series > 0);
            table = folded;
        }
        ContainerQuery::Statistics(expression) => {
            let at = Timestamp::from_millisecond(now_ms).unwrap();
            let answer = client.query(expression, at, &deadline()).unwrap();
            answer
                .result
                .vector()
                .unwrap()
                .for_each(|labels, value| record_sample(&mut table, labels, value))
                .unwrap();
        }
    }
    (table, query)
}

#[test]
fn range_and_statistics_queries_read_the_same_statistics_for_every_container() {
    let server = Prometheus::start().unwrap();
    let full = Timeline::last_40_minutes();
    let young = Timeline {
        length: Duration::from_secs(10 * 60),
        ..full
    };
    let mb = |n: f64| Profile::Constant(n * MIB);
    let mut series: Vec<_> = [
        PodHistory::new(
            "shop",
            "web-1",
            "node-a",
            vec![
                ContainerLoad::new("steady", Profile::Constant(0.4), mb(200.0)),
                ContainerLoad::new(
                    "ramp",
                    Profile::Ramp { from: 0.1, to: 0.9 },
                    Profile::Ramp {
                        from: 100.0 * MIB,
                        to: 300.0 * MIB,
                    },
                ),
                ContainerLoad::new(
                    "flapping",
                    Profile::Flapping {
                        low: 0.05,
                        high: 0.95,
                        period: Duration::from_secs(140),
                    },
                    mb(50.0),
                ),
            ],
        )
        .series(&full),
        // Two jobs scrape this kubelet 3 s apart: duplicate series whose rates differ.
        PodHistory::new(
            "shop",
            "api-1",
            "node-b",
            vec![ContainerLoad::new(
                "app",
                Profile::Step {
                    before: 0.2,
                    after: 0.7,
                    age: Duration::from_secs(100),
                },
                mb(80.0),
            )],
        )
        .scraped_by(2)
        .series(&full),
        // Started 10 minutes ago: windows not full.
        PodHistory::new(
            "shop",
            "new-1",
            "node-a",
            vec![ContainerLoad::new("app", Profile::Constant(0.3), mb(10.0))],
        )
        .series(&young),
        // Not opted in: outside the narrowed namespaces.
        PodHistory::new(
            "other",
            "x-1",
            "node-a",
            vec![ContainerLoad::new("app", Profile::Constant(0.5), mb(10.0))],
        )
        .series(&full),
    ]
    .concat();
    // A scrape gap of 5 minutes, 10 minutes ago, in one container's series.
    for one in &mut series {
        let is = |name: &str, value: &str| one.labels.iter().any(|(k, v)| k == name && v == value);
        if is("pod", "web-1") && is("container", "steady") {
            let gap = (full.end_ms - 15 * 60_000)..(full.end_ms - 10 * 60_000);
            one.samples.retain(|(ms, _)| !gap.contains(ms));
        }
    }
    server.push(&series).unwrap();
    let client = PrometheusClient::new(PrometheusConfig::new(server.url())).unwrap();

    // Off the step grid: Prometheus 2's subqueries include a point at exactly `now - window`, 3's do not; off the
    // grid both take the same evaluations as the range query (multiples of the step in (now - window, now]). 20 s
    // off, more than the 15 s between samples: evaluating at `now` instead would read other samples.
    let now_ms = full.end_ms - full.end_ms % 30_000 - 10_000;
    for signal in [Signal::Cpu, Signal::Memory] {
        let (range, range_query) = table(&client, signal, &["shop"], u64::MAX, now_ms);
        let (statistics, statistics_query) = table(&client, signal, &["shop"], 0, now_ms);
        assert!(matches!(range_query, ContainerQuery::Range(_)));
        assert!(matches!(statistics_query, ContainerQuery::Statistics(_)));
        assert_eq!(range.len(), 5, "{signal:?}: the five shop containers");
        assert_eq!(
            range.keys().collect::<Vec<_>>(),
            statistics.keys().collect::<Vec<_>>()
        );
        for (key, from_range) in &range {
            let from_statistics = &statistics[key];
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                (a, b) => a == b,
            };
            // The statistics query asks for the short-window level a signal reads: CPU's minimum, memory's maximum.
            let level = |stats: &kube_thermostat::resize::signals::ContainerStats| match signal {
                Signal::Cpu => stats.short_min,
                Signal::Memory => stats.short_max,
            };
            assert!(
                level(from_range).is_some(),
                "{signal:?} {key}: {from_range:?}"
            );
            assert!(
                close(level(from_range), level(from_statistics))
                    && close(from_range.peak, from_statistics.peak)
                    && from_range.samples == from_statistics.samples
                    && from_range.short_samples == from_statistics.short_samples,
                "{signal:?} {key}:\n range      {from_range:?}\n statistics {from_statistics:?}"
            );
        }

        let windows = SignalWindows::default();
        let full_window = Some(windows.expected_samples() as f64);
        let stats = |pod: &str, container: &str| range[&ContainerKey::new("shop", pod, container)];
        assert_eq!(stats("web-1", "ramp").samples, full_window);
        assert_eq!(
            stats("web-1", "ramp").short_samples,
            Some(windows.expected_short_samples() as f64)
        );
        assert!(
            stats("new-1", "app").samples.unwrap() < 25.0,
            "{signal:?}: 10 minutes of history is not a full window: {:?}",
            stats("new-1", "app")
        );
        if signal == Signal::Cpu {
            // The gap drops 10 evaluations (5 minutes, widened by the 2-minute rate window).
            let steady = stats("web-1", "steady");
            assert!(steady.samples < full_window, "{steady:?}");
            assert!((steady.short_min.unwrap() - 0.4).abs() < 1e-6, "{steady:?}");
            let flapping = stats("web-1", "flapping");
            assert!(flapping.peak.unwrap() > 0.5 && flapping.short_min.unwrap() < 0.5);
        }
    }
}
