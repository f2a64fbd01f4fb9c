//! Prometheus faults against the real binary: a real Prometheus behind a fault-injecting proxy, the API stand-in.
//!
//! Each scenario has one decision ready to be written (a hot node to taint, a hot container to scale up) and then
//! breaks Prometheus. What users need: no write unless the data behind that decision is sound, an error naming what
//! failed, exit code 1 (shell-operator drops the metrics and retries), and the tick over within TICK_TIMEOUT.

use crate::support;

use std::time::{Duration, Instant};

use crate::support::{
    Cluster, ContainerLoad, FaultProxy, NodeHistory, PodHistory, Profile, Timeline,
};
use serde_json::{Value, json};
use thermostat_rig::prometheus::Fault;

const TICK_TIMEOUT: Duration = Duration::from_secs(3);
/// Process start, connect, metrics file: what a tick may take beyond its budget.
const MARGIN: Duration = Duration::from_millis(1500);

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TICK_TIMEOUT", "3s"),
        ("PROMETHEUS_TIMEOUT", "2s"),
        ("PROMETHEUS_RETRIES", "1"),
    ]
}

/// Four nodes, `hot-1` busy at 95% (one taint to write, within the cap), the rest at 20%; one opted-in pod
/// whose container runs at its CPU limit (one resize to write). Queries go through a fault proxy.
fn world() -> (Cluster, FaultProxy) {
    let mut cluster = support::cluster();
    for node in ["hot-1", "cool-1", "cool-2", "cool-3"] {
        cluster.add_node(node, json!({}));
    }
    cluster.node_load("hot-1", Profile::Constant(0.95));
    for node in ["cool-1", "cool-2", "cool-3"] {
        cluster.node_load(node, Profile::Constant(0.20));
    }
    add_hot_pod(&cluster, "web-1", "cool-1");
    let proxy = FaultProxy::start(&cluster.prometheus).unwrap();
    cluster.prometheus_url = proxy.url();
    (cluster, proxy)
}

fn add_hot_pod(cluster: &Cluster, name: &str, node: &str) {
    let resources = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
    cluster.api.put(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"kube-thermostat.io/resize": "true"}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1", "resources": resources}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
            "image": "app:1", "imageID": "sha256:1", "resources": resources}]}
    }));
    cluster.push(
        PodHistory::new(
            "default",
            name,
            node,
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.49),
                Profile::Constant(100e6),
            )],
        )
        .series(&cluster.timeline),
    );
}

/// Runs one tick of `binding` and checks the tick is refused as a whole: exit 1, nothing written, within the
/// deadline, and stderr names `names` (what failed).
fn assert_refused_in_time(cluster: &Cluster, binding: &str, names: &[&str]) -> String {
    cluster.api.reset_requests();
    let started = Instant::now();
    let output = cluster.tick(binding, &env());
    let took = started.elapsed();
    assert_eq!(
        output.code, 1,
        "{binding}: a broken Prometheus aborts the tick\n{}",
        output.stderr
    );
    assert_eq!(
        cluster.api.count_writes(),
        0,
        "{binding}: no write without sound data\n{}",
        output.stderr
    );
    assert!(
        took < TICK_TIMEOUT + MARGIN,
        "{binding}: tick took {took:?}, budget {TICK_TIMEOUT:?}\n{}",
        output.stderr
    );
    for name in names {
        assert!(
            output.stderr.contains(name),
            "{binding}: error names {name:?}\n{}",
            output.stderr
        );
    }
    assert!(
        !output
            .metrics
            .iter()
            .any(|op| op["name"] == "kube_thermostat_tick_last_success_timestamp_seconds"),
        "{binding}: a failed tick does not report success"
    );
    output.stderr
}

fn untouched(cluster: &Cluster) {
    assert!(cluster.taints("hot-1").is_null(), "hot-1 not tainted");
    let pod = cluster.api.get("Pod", Some("default"), "web-1").unwrap();
    assert_eq!(
        pod["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "500m"
    );
}

/// Both controllers refused, then the proxy heals and the very next ticks write what was due.
fn refused_then_recovers(cluster: &Cluster, proxy: &FaultProxy, names: &[&str]) {
    assert_refused_in_time(cluster, "taint-nodes", names);
    assert_refused_in_time(cluster, "resize-pods", names);
    untouched(cluster);
    proxy.heal();
    cluster.tick("taint-nodes", &env()).assert_success();
    cluster.tick("resize-pods", &env()).assert_success();
    assert_eq!(cluster.taints("hot-1")[0]["key"], "kube-thermostat.io/hot");
    let pod = cluster.api.get("Pod", Some("default"), "web-1").unwrap();
    assert_ne!(
        pod["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "500m"
    );
}

#[test]
fn prometheus_refusing_connections_aborts_the_tick_without_writes() {
    let (cluster, proxy) = world();
    proxy.refuse_connections();
    refused_then_recovers(&cluster, &proxy, &[&proxy.url()]);
}

#[test]
fn prometheus_hanging_past_the_deadline_ends_the_tick_within_tick_timeout() {
    let (cluster, proxy) = world();
    proxy.fail_all(Fault::Hang);
    // A per-query timeout as long as the tick, and retries: only the tick deadline can end it in time.
    let mut long = env();
    long.retain(|(k, _)| *k != "PROMETHEUS_TIMEOUT");
    long.push(("PROMETHEUS_TIMEOUT", "3s"));
    long.retain(|(k, _)| *k != "PROMETHEUS_RETRIES");
    long.push(("PROMETHEUS_RETRIES", "3"));
    for binding in ["taint-nodes", "resize-pods"] {
        cluster.api.reset_requests();
        let started = Instant::now();
        let output = cluster.tick(binding, &long);
        let took = started.elapsed();
        assert_eq!(output.code, 1, "{}", output.stderr);
        assert!(
            took < TICK_TIMEOUT + MARGIN,
            "{binding}: hung Prometheus held the tick {took:?} (TICK_TIMEOUT 3s)\n{}",
            output.stderr
        );
        assert_eq!(cluster.api.count_writes(), 0, "{}", output.stderr);
        assert!(output.stderr.contains(&proxy.url()), "{}", output.stderr);
    }
    untouched(&cluster);
}

#[test]
fn slow_prometheus_within_the_budget_still_gets_the_work_done() {
    let (cluster, proxy) = world();
    proxy.fail_all(Fault::Latency(Duration::from_millis(700)));
    let started = Instant::now();
    cluster.tick("taint-nodes", &env()).assert_success();
    assert!(started.elapsed() < TICK_TIMEOUT + MARGIN);
    assert_eq!(cluster.taints("hot-1").as_array().unwrap().len(), 1);
}

#[test]
fn slow_prometheus_beyond_the_per_query_timeout_aborts_without_writes() {
    let (cluster, proxy) = world();
    proxy.fail_all(Fault::Latency(Duration::from_secs(10)));
    refused_then_recovers(&cluster, &proxy, &["/api/v1/query"]);
}

#[test]
fn prometheus_answering_5xx_aborts_after_retries_naming_the_status() {
    let (cluster, proxy) = world();
    proxy.fail_all(Fault::Status(503));
    refused_then_recovers(&cluster, &proxy, &["503"]);
    // One retry per query (PROMETHEUS_RETRIES=1), not a storm.
    assert!(proxy.query_count() <= 2 * 2 + 4, "{}", proxy.query_count());
}

#[test]
fn a_single_5xx_is_retried_and_the_tick_succeeds() {
    let (cluster, proxy) = world();
    proxy.fail_next(Fault::Status(502));
    cluster.tick("taint-nodes", &env()).assert_success();
    assert_eq!(cluster.taints("hot-1").as_array().unwrap().len(), 1);
}

#[test]
fn prometheus_answering_422_is_not_retried_and_names_the_error() {
    let (cluster, proxy) = world();
    proxy.fail_all(Fault::Status(422));
    refused_then_recovers(&cluster, &proxy, &["422"]);
}

#[test]
fn prometheus_answering_html_garbage_aborts_without_writes() {
    let (cluster, proxy) = world();
    proxy.fail_all(Fault::Garbage);
    refused_then_recovers(&cluster, &proxy, &["not a Prometheus API response"]);
}

#[test]
fn a_huge_empty_prometheus_answer_aborts_naming_the_query() {
    let (cluster, proxy) = world();
    // 16 MiB of padding around an empty vector (a hundred times a real answer at this size, and still readable
    // within the 3 s tick on a loaded 2-core machine): read, decoded, and found to match no node.
    proxy.fail_all(Fault::HugeBody(16 << 20));
    assert_refused_in_time(
        &cluster,
        "taint-nodes",
        &["no writes made", "node_cpu_seconds_total"],
    );
    // resize-pods reads "no series" as "no container has data": nothing to decide, nothing written.
    cluster.api.reset_requests();
    let resize = cluster.tick("resize-pods", &env());
    assert_eq!(cluster.api.count_writes(), 0, "{}", resize.stderr);
    untouched(&cluster);
}

#[test]
fn a_resize_range_answer_over_the_size_limit_is_asked_again_as_statistics() {
    let (cluster, proxy) = world();
    // 8 MiB against a 1 MiB limit (4 MiB for an answer read as it arrives): the range query cannot be read.
    proxy.fail_next(Fault::HugeBody(8 << 20));
    let mut env = env();
    env.push(("PROMETHEUS_MAX_RESPONSE_BYTES", "1Mi"));
    // Not a test of time: a slow read of the 8 MiB on a loaded machine must not turn into a timeout and a retry
    // of the range query.
    env.retain(|(k, _)| !matches!(*k, "TICK_TIMEOUT" | "PROMETHEUS_TIMEOUT"));
    env.extend([("TICK_TIMEOUT", "25s"), ("PROMETHEUS_TIMEOUT", "20s")]);

    let tick = cluster.tick("resize-pods", &env);

    tick.assert_success();
    let paths: Vec<String> = proxy.requests().iter().map(|r| r.path.clone()).collect();
    // The range query, the statistics instead, then the long view (an instant query of its own).
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths[0].ends_with("/api/v1/query_range"), "{paths:?}");
    assert!(
        paths[1].ends_with("/api/v1/query") && paths[2].ends_with("/api/v1/query"),
        "then the statistics and the long view: {paths:?}"
    );
    assert!(
        tick.stderr
            .contains("asking for the four statistics instead"),
        "{}",
        tick.stderr
    );
    let pod = cluster.api.get("Pod", Some("default"), "web-1").unwrap();
    assert_ne!(
        pod["spec"]["containers"][0]["resources"]["limits"]["cpu"], "500m",
        "the hot container is resized all the same"
    );
}

#[test]
fn a_failed_long_view_query_holds_scale_downs_but_not_the_scale_up() {
    let (cluster, proxy) = world();
    // Every long-view query fails; the usage query answers.
    proxy.fail_matching("quantile_over_time", Fault::Status(503));

    let tick = cluster.tick("resize-pods", &env());

    tick.assert_success();
    assert!(
        tick.stderr
            .contains("no long view this tick: scale-downs wait"),
        "{}",
        tick.stderr
    );
    let long_views = proxy
        .requests()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("quantile_over_time"))
        .count();
    assert_eq!(
        long_views, 2,
        "the long-view query, retried once (PROMETHEUS_RETRIES=1)"
    );
    let pod = cluster.api.get("Pod", Some("default"), "web-1").unwrap();
    assert_ne!(
        pod["spec"]["containers"][0]["resources"]["limits"]["cpu"], "500m",
        "the hot container is resized all the same"
    );
}

#[test]
fn an_answer_beyond_the_size_cap_is_cut_off_without_writes() {
    let (cluster, proxy) = world();
    // Past the client's 256 MiB cap: the read stops at the cap ("byte limit") or, on a busy machine, at the
    // tick deadline first; either way the tick is refused in time.
    proxy.fail_all(Fault::HugeBody(300 << 20));
    let stderr = assert_refused_in_time(&cluster, "taint-nodes", &["/api/v1/query"]);
    assert!(
        stderr.contains("byte limit") || stderr.contains("no answer within"),
        "{stderr}"
    );
    untouched(&cluster);
}

#[test]
fn prometheus_dropping_connections_aborts_without_writes() {
    let (cluster, proxy) = world();
    proxy.fail_all(Fault::Drop);
    refused_then_recovers(&cluster, &proxy, &[&proxy.url()]);
}

#[test]
fn prometheus_down_aborts_without_writes() {
    let (mut cluster, proxy) = world();
    // A port nobody listens on: the proxy's, once dropped.
    let url = proxy.url();
    drop(proxy);
    cluster.prometheus_url = url.clone();
    assert_refused_in_time(&cluster, "taint-nodes", &[&url]);
    assert_refused_in_time(&cluster, "resize-pods", &[&url]);
    untouched(&cluster);
}

// ---- Stale and partial data --------------------------------------------------------------------------------

/// History ending `ago` before now: what Prometheus holds for a node whose exporter died then.
fn stale_timeline(cluster: &Cluster, ago: Duration) -> Timeline {
    Timeline {
        end_ms: cluster.timeline.end_ms - ago.as_millis() as i64,
        ..cluster.timeline
    }
}

#[test]
fn node_whose_series_stopped_ten_minutes_ago_is_neither_tainted_nor_untainted() {
    let cluster = support::cluster();
    for node in ["stale-hot", "cool-1", "cool-2", "cool-3", "cool-4"] {
        cluster.add_node(node, json!({}));
    }
    for node in ["cool-1", "cool-2", "cool-3", "cool-4"] {
        cluster.node_load(node, Profile::Constant(0.20));
    }
    let stale = stale_timeline(&cluster, Duration::from_secs(600));
    cluster.push(NodeHistory::new("stale-hot", Profile::Constant(0.99)).series(&stale));

    let output = cluster.tick("taint-nodes", &[]);
    output.assert_success();
    assert!(
        cluster.taints("stale-hot").is_null(),
        "a load last seen 10 minutes ago is no reason to taint\n{}",
        output.stderr
    );
    assert_eq!(cluster.api.count("patch", "nodes"), 0);
    assert_eq!(
        output.metric("kube_thermostat_nodes", &[("state", "unknown")]),
        Some(1.0),
        "{:?}",
        output.metrics
    );
}

#[test]
fn tainted_node_whose_series_vanished_keeps_its_taint() {
    let cluster = support::cluster();
    for node in ["hot-1", "cool-1", "cool-2", "cool-3", "cool-4"] {
        cluster.add_node(node, json!({}));
    }
    for node in ["cool-1", "cool-2", "cool-3", "cool-4"] {
        cluster.node_load(node, Profile::Constant(0.20));
    }
    // Hot until 10 minutes ago, then its exporter stops: tainted while known, and not untainted on no data.
    let stale = stale_timeline(&cluster, Duration::from_secs(600));
    cluster.push(NodeHistory::new("hot-1", Profile::Constant(0.99)).series(&stale));
    let tainted_before = taint_by_hand(&cluster, "hot-1");

    let output = cluster.tick("taint-nodes", &[]);
    output.assert_success();
    assert_eq!(
        cluster.taints("hot-1"),
        tainted_before,
        "no data is no reason to untaint\n{}",
        output.stderr
    );
    assert_eq!(cluster.api.count("patch", "nodes"), 0);
}

/// Marks a node tainted by kube-thermostat the way a previous healthy tick left it; returns its taints.
fn taint_by_hand(cluster: &Cluster, node: &str) -> Value {
    // A healthy tick on a fresh hot history would do it; here the history must stay stale, so run a tick
    // against a history that is hot now, in a throw-away world, and copy what it wrote.
    let donor = support::cluster();
    for name in [node, "a", "b", "c"] {
        donor.add_node(name, json!({}));
    }
    donor.node_load(node, Profile::Constant(0.99));
    for name in ["a", "b", "c"] {
        donor.node_load(name, Profile::Constant(0.1));
    }
    donor.tick("taint-nodes", &[]).assert_success();
    let written = donor.node(node);
    let taints = written["spec"]["taints"].clone();
    let annotations = written["metadata"]["annotations"].clone();
    cluster.api.modify("Node", None, node, |object| {
        object["spec"]["taints"] = taints.clone();
        object["metadata"]["annotations"] = annotations.clone();
    });
    cluster.api.reset_requests();
    cluster.taints(node)
}

#[test]
fn some_nodes_missing_from_prometheus_are_left_alone_the_rest_decided() {
    let cluster = support::cluster();
    let nodes = ["hot-1", "cool-1", "cool-2", "cool-3", "gone-1"];
    for node in nodes {
        cluster.add_node(node, json!({}));
    }
    cluster.node_load("hot-1", Profile::Constant(0.95));
    for node in ["cool-1", "cool-2", "cool-3"] {
        cluster.node_load(node, Profile::Constant(0.20));
    }
    let output = cluster.tick("taint-nodes", &[]);
    output.assert_success();
    assert_eq!(cluster.taints("hot-1").as_array().unwrap().len(), 1);
    assert!(cluster.taints("gone-1").is_null());
    assert_eq!(cluster.api.count("patch", "nodes"), 1);
}

#[test]
fn most_nodes_missing_from_prometheus_trips_the_fail_safe_exit_1_no_writes() {
    let cluster = support::cluster();
    for node in ["hot-1", "gone-1", "gone-2", "gone-3", "gone-4"] {
        cluster.add_node(node, json!({}));
    }
    cluster.node_load("hot-1", Profile::Constant(0.95));
    let output = cluster.tick("taint-nodes", &[]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert_eq!(cluster.api.count_writes(), 0, "{}", output.stderr);
    assert!(output.stderr.contains("fail-safe"), "{}", output.stderr);
}

#[test]
fn container_whose_series_stopped_ten_minutes_ago_is_not_resized() {
    let cluster = support::cluster();
    cluster.add_node("node-1", json!({}));
    let resources = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
    cluster.api.put(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"kube-thermostat.io/resize": "true"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app:1", "resources": resources}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
            "image": "app:1", "imageID": "sha256:1", "resources": resources}]}
    }));
    let stale = stale_timeline(&cluster, Duration::from_secs(600));
    cluster.push(
        PodHistory::new(
            "default",
            "web-1",
            "node-1",
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.49),
                Profile::Constant(100e6),
            )],
        )
        .series(&stale),
    );
    let output = cluster.tick("resize-pods", &[]);
    output.assert_success();
    assert_eq!(
        cluster.api.count("patch", "pods/resize"),
        0,
        "{}",
        output.stderr
    );
}
