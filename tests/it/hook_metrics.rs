//! What Prometheus scrapes from shell-operator's `/metrics/hooks` over many ticks of both controllers: each
//! tick's METRICS_PATH file (the real binary, the API stand-in, a real Prometheus for the signals) is fed to the
//! rig's model of shell-operator's metric storage, and the exposition is checked after every run, failed runs
//! included (shell-operator ignores their file).

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{
    Cluster, ContainerLoad, Fault, FaultKind, Options, PodHistory, Profile, Series,
};
use serde_json::json;
use thermostat_rig::cluster::HOOK_NAME;
use thermostat_rig::metric_storage::{HookMetricStorage, Kind, Sample};
use thermostat_rig::prometheus::Timeline;

const ENV: &[(&str, &str)] = &[("MAX_TAINTED_FRACTION", "1")];

/// Series identity as Prometheus stores it: name and labels.
type SeriesId = (String, BTreeMap<String, String>);

/// The scrapes so far, and the checks every scrape must pass against the previous ones.
struct Scrapes {
    storage: HookMetricStorage,
    last: BTreeMap<SeriesId, (Kind, f64)>,
    /// Every scrape after a run, oldest first.
    history: Vec<BTreeMap<SeriesId, (Kind, f64)>>,
}

impl Scrapes {
    fn new() -> Self {
        Scrapes {
            storage: HookMetricStorage::new(),
            last: BTreeMap::new(),
            history: Vec::new(),
        }
    }

    /// Feeds one run of `controller` to shell-operator's storage, scrapes, and checks: no counter went down or
    /// vanished, and the other controller's series are exactly as they were (gauges of the running controller
    /// describe its last tick: those of a node no longer tainted go, as they should).
    fn run(&mut self, what: &str, controller: &str, output: &support::HookOutput) {
        self.storage
            .apply_run(HOOK_NAME, output.code == 0, &output.metrics_file)
            .unwrap_or_else(|e| panic!("{what}: shell-operator refuses the metrics file: {e}"));
        let samples: Vec<Sample> = self
            .storage
            .samples()
            .unwrap_or_else(|e| panic!("{what}: /metrics/hooks fails: {e}"));
        let now: BTreeMap<SeriesId, (Kind, f64)> = samples
            .into_iter()
            .map(|s| ((s.name, s.labels), (s.kind, s.value)))
            .collect();
        for (id, (kind, before)) in &self.last {
            let other = id.1.get("controller").map(String::as_str) != Some(controller);
            let after = now.get(id).map(|(_, value)| *value);
            if other {
                assert_eq!(
                    after,
                    Some(*before),
                    "{what}: {id:?} of the other controller changed\nfile:\n{}",
                    output.metrics_file
                );
            }
            if *kind == Kind::Counter {
                let Some(after) = after else {
                    panic!(
                        "{what}: counter {id:?} vanished\nfile:\n{}\nstderr:\n{}",
                        output.metrics_file, output.stderr
                    );
                };
                assert!(
                    after >= *before,
                    "{what}: counter {id:?} went down from {before} to {after} (Prometheus reads a reset)"
                );
            }
        }
        for ((name, _), (kind, _)) in &now {
            assert_eq!(
                name.ends_with("_total"),
                *kind == Kind::Counter,
                "{what}: {name} is exposed as {kind:?}"
            );
        }
        self.history.push(now.clone());
        self.last = now;
    }

    /// Stores the scrapes in the real Prometheus, a minute apart, and asks it whether any counter reset.
    fn assert_prometheus_sees_no_reset(&self, cluster: &Cluster) {
        let now_ms = cluster.timeline.end_seconds() as i64 * 1000;
        let count = self.history.len() as i64;
        let mut series: BTreeMap<&SeriesId, Vec<(i64, f64)>> = BTreeMap::new();
        for (i, scrape) in self.history.iter().enumerate() {
            let at = now_ms - (count - i as i64) * 60_000;
            for (id, (kind, value)) in scrape {
                if *kind == Kind::Counter {
                    series.entry(id).or_default().push((at, *value));
                }
            }
        }
        let pushed: Vec<Series> = series
            .iter()
            .map(|((name, labels), samples)| {
                let labels: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                Series::new(name, &labels).with_samples(samples.clone())
            })
            .collect();
        assert!(!pushed.is_empty());
        cluster.push(pushed);
        let resets = cluster
            .prometheus
            .query_at(
                r#"resets({__name__=~"kube_thermostat_.*_total"}[1h])"#,
                now_ms as f64 / 1000.0,
            )
            .unwrap();
        let resets = resets.as_array().unwrap();
        assert_eq!(resets.len(), series.len(), "{resets:?}");
        for reset in resets {
            assert_eq!(
                reset["value"][1], "0",
                "Prometheus sees a counter reset: {reset}"
            );
        }
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.last
            .iter()
            .find(|((n, l), _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, (_, value))| *value)
    }

    fn taints(&self) -> Option<f64> {
        self.value(
            "kube_thermostat_taint_changes_total",
            &[("action", "taint"), ("dry_run", "false")],
        )
    }

    fn cpu_upsizes(&self) -> Option<f64> {
        self.value(
            "kube_thermostat_resizes_total",
            &[
                ("resource", "cpu"),
                ("direction", "up"),
                ("dry_run", "false"),
            ],
        )
    }
}

fn world() -> Cluster {
    let mut cluster = support::cluster_with(Options {
        server_minor: 34,
        ..Options::default()
    });
    cluster.timeline = Timeline::ending_now(Duration::from_secs(15 * 60));
    for (node, load) in [("cool-1", 0.2), ("cool-2", 0.2), ("node-1", 0.2)] {
        cluster.add_node(node, json!({}));
        cluster.node_load(node, Profile::Constant(load));
    }
    cluster
}

/// An opted-in pod on node-1 using 480m of its 500m CPU: due an upsize.
fn hot_pod(cluster: &Cluster, name: &str) {
    let container = json!({"name": "app", "image": "app:1",
                           "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}});
    cluster.api.put(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"kube-thermostat.io/resize": "true"}},
        "spec": {"nodeName": "node-1", "containers": [container]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
            "image": "app:1", "imageID": "sha256:1", "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}]},
    }));
    cluster.api.kubelet_actuate("shop", name);
    let load = ContainerLoad::new("app", Profile::Constant(0.48), Profile::Constant(100e6));
    cluster.push(
        PodHistory::new("shop", name, "node-1", vec![load])
            .series(&Timeline::ending_now(Duration::from_secs(6 * 60))),
    );
}

fn hot_node(cluster: &Cluster, name: &str) {
    cluster.add_node(name, json!({}));
    cluster.node_load(name, Profile::Constant(0.95));
}

#[test]
fn counters_grow_by_the_changes_made_over_interleaved_ticks_and_no_series_vanishes() {
    let cluster = world();
    hot_node(&cluster, "hot-1");
    hot_pod(&cluster, "web-1");
    let mut scrapes = Scrapes::new();

    let tick = cluster.tick("taint-nodes", ENV);
    tick.assert_success();
    scrapes.run("taint tick 1 (taints hot-1)", "taint-nodes", &tick);
    assert_eq!(scrapes.taints(), Some(1.0));

    let tick = cluster.tick("resize-pods", ENV);
    tick.assert_success();
    scrapes.run("resize tick 1 (upsizes web-1)", "resize-pods", &tick);
    assert_eq!(scrapes.cpu_upsizes(), Some(1.0));
    assert_eq!(
        scrapes.taints(),
        Some(1.0),
        "taint-nodes' counter survives a resize run"
    );

    let tick = cluster.tick("taint-nodes", ENV);
    tick.assert_success();
    scrapes.run("taint tick 2 (no change)", "taint-nodes", &tick);
    assert_eq!(
        scrapes.taints(),
        Some(1.0),
        "a tick without changes keeps the total"
    );
    assert_eq!(
        scrapes.cpu_upsizes(),
        Some(1.0),
        "resize-pods' counter survives a taint run"
    );

    // A failing run: hot-2 is tainted, hot-3's write fails, the run exits 1 and its file is ignored.
    hot_node(&cluster, "hot-2");
    hot_node(&cluster, "hot-3");
    cluster.api.inject(Fault::on(
        "PATCH",
        "/nodes/hot-3",
        FaultKind::Status {
            code: 500,
            retry_after: None,
        },
        10,
    ));
    let tick = cluster.tick("taint-nodes", ENV);
    assert_eq!(tick.code, 1, "{}", tick.stderr);
    scrapes.run(
        "taint tick 3 (fails: hot-2 tainted, hot-3 not)",
        "taint-nodes",
        &tick,
    );
    assert_eq!(
        scrapes.taints(),
        Some(1.0),
        "the failed run's file is ignored"
    );
    cluster.api.clear_faults();

    hot_pod(&cluster, "web-2");
    let tick = cluster.tick("resize-pods", ENV);
    tick.assert_success();
    scrapes.run("resize tick 2 (upsizes web-2)", "resize-pods", &tick);
    assert_eq!(scrapes.cpu_upsizes(), Some(2.0));

    let tick = cluster.tick("taint-nodes", ENV);
    tick.assert_success();
    scrapes.run("taint tick 4 (taints hot-3)", "taint-nodes", &tick);
    assert_eq!(
        scrapes.taints(),
        Some(3.0),
        "hot-1, hot-2 (made in the failed run) and hot-3"
    );

    let tick = cluster.tick("resize-pods", ENV);
    tick.assert_success();
    scrapes.run("resize tick 3 (cooldown: no change)", "resize-pods", &tick);
    assert_eq!(scrapes.cpu_upsizes(), Some(2.0));
    assert_eq!(scrapes.taints(), Some(3.0));

    // The totals equal what was done, as counted from the cluster itself.
    let tainted = ["hot-1", "hot-2", "hot-3"]
        .iter()
        .filter(|n| !cluster.taints(n).is_null())
        .count();
    assert_eq!(tainted, 3);
    assert_eq!(cluster.api.count("patch", "pods/resize"), 2);
    scrapes.assert_prometheus_sees_no_reset(&cluster);
    for controller in ["taint-nodes", "resize-pods"] {
        assert_eq!(
            scrapes.value(
                "kube_thermostat_counters_saved",
                &[("controller", controller)]
            ),
            Some(1.0),
            "{controller}"
        );
    }
}

#[test]
fn when_the_totals_cannot_be_saved_the_saved_ones_are_exported_and_the_gauge_says_so() {
    let cluster = world();
    hot_node(&cluster, "hot-1");
    let mut scrapes = Scrapes::new();
    let tick = cluster.tick("taint-nodes", ENV);
    tick.assert_success();
    scrapes.run("taint tick 1", "taint-nodes", &tick);
    assert_eq!(scrapes.taints(), Some(1.0));

    hot_node(&cluster, "hot-2");
    cluster.api.inject(Fault::on(
        "PATCH",
        "/pods/kube-thermostat-test",
        FaultKind::Status {
            code: 500,
            retry_after: None,
        },
        10,
    ));
    let tick = cluster.tick("taint-nodes", ENV);
    tick.assert_success();
    assert!(
        !cluster.taints("hot-2").is_null(),
        "the change itself is made"
    );
    assert!(
        tick.stderr.contains("could not save the counter totals"),
        "{}",
        tick.stderr
    );
    scrapes.run("taint tick 2 (save fails)", "taint-nodes", &tick);
    assert_eq!(
        scrapes.taints(),
        Some(1.0),
        "the saved total, never one the next tick could undercut"
    );
    assert_eq!(
        scrapes.value(
            "kube_thermostat_counters_saved",
            &[("controller", "taint-nodes")]
        ),
        Some(0.0)
    );
    cluster.api.clear_faults();

    hot_node(&cluster, "hot-3");
    let tick = cluster.tick("taint-nodes", ENV);
    tick.assert_success();
    scrapes.run("taint tick 3", "taint-nodes", &tick);
    assert_eq!(
        scrapes.taints(),
        Some(2.0),
        "hot-2's taint is lost to the count, never double counted"
    );
    assert_eq!(
        cluster.saved_counters("taint-nodes").as_deref(),
        Some(
            r#"{"taint_changes_total{action=taint,dry_run=false}":2,"taint_changes_total{action=untaint,dry_run=false}":0}"#
        )
    );
}
