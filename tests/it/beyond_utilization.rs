//! resize-pods' signals beyond utilization, end to end (issue 18): the real binary, a real Prometheus with
//! pushed cAdvisor history (CFS throttling counters included), the API stand-in. CPU throttling scales up
//! below the high mark and holds scale-downs; the long view keeps a peak from hours ago; an OOM kill in the
//! container's `lastState` raises memory at once, once; a CPU request sized from usage follows typical use.

use crate::support::{
    self, Cluster, ContainerLoad, FaultProxy, Options, PodHistory, Profile, Timeline,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use thermostat_rig::builders::{NodeBuilder, PodBuilder};
use thermostat_rig::cluster::plan_notes_about;
use thermostat_rig::prometheus::Fault;

const WEB: (&str, &str) = ("shop", "web-1");
const HOUR: Duration = Duration::from_secs(3600);

fn new_cluster() -> Cluster {
    support::scenario()
        .api(Options {
            server_minor: 34,
            ..Options::default()
        })
        .node(NodeBuilder::new("node-1").label("kubernetes.io/os", "linux"))
        .start()
}

fn web(cluster: &Cluster, resources: Value) {
    cluster.put_running(
        PodBuilder::new(WEB.0, WEB.1)
            .on("node-1")
            .container("app", resources),
    );
}

fn spec_resources(cluster: &Cluster) -> Value {
    let pod = cluster.api.get("Pod", Some(WEB.0), WEB.1).expect("pod");
    pod["spec"]["containers"][0]["resources"].clone()
}

fn last_resize(cluster: &Cluster) -> Value {
    let pod = cluster.api.get("Pod", Some(WEB.0), WEB.1).expect("pod");
    pod["metadata"]["annotations"]["kube-thermostat.io/last-resize"]
        .as_str()
        .map(|text| serde_json::from_str(text).expect("our annotation is JSON"))
        .unwrap_or(Value::Null)
}

/// Our record's reason for the container's last resize says `text`.
fn assert_why_contains(cluster: &Cluster, text: &str) {
    let why = last_resize(cluster)["app"]["why"].clone();
    assert!(why.as_str().is_some_and(|w| w.contains(text)), "{why}");
}

/// Three hours of the container's CPU at 30 s steps, its working set a steady 100 MB.
fn push_three_hours_of_cpu(cluster: &Cluster, cpu: Profile) {
    let timeline = Timeline {
        step: Duration::from_secs(30),
        ..Timeline::ending_now(3 * HOUR)
    };
    push(
        cluster,
        &timeline,
        ContainerLoad::new("app", cpu, Profile::Constant(100e6)),
    );
}

fn push(cluster: &Cluster, timeline: &Timeline, load: ContainerLoad) {
    cluster.push(PodHistory::new(WEB.0, WEB.1, "node-1", vec![load]).series(timeline));
}

/// `high` for ages in [young, old), `low` otherwise.
fn between(young: Duration, old: Duration, high: f64, low: f64) -> Profile {
    Profile::Custom(Arc::new(
        move |age| {
            if age >= young && age < old { high } else { low }
        },
    ))
}

fn notes_about_web(cluster: &Cluster, env: &[(&str, &str)]) -> Vec<String> {
    let output = cluster.run_cli(&["resize-pods", "--dry-run", "--output", "json"], env);
    output.assert_success();
    let plan: Value = serde_json::from_str(output.stdout.trim()).expect("plan JSON");
    plan_notes_about(&plan, WEB.1)
}

#[test]
fn a_container_throttled_below_the_high_mark_is_scaled_up() {
    let cluster = new_cluster();
    web(
        &cluster,
        json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}),
    );
    // 250m of 500m (50 %, under the 80 % mark) on average, but a third of its CFS periods throttled.
    let load = ContainerLoad::new("app", Profile::Constant(0.25), Profile::Constant(100e6))
        .throttled(Profile::Constant(0.33));
    push(
        &cluster,
        &Timeline::ending_now(Duration::from_secs(600)),
        load,
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        spec_resources(&cluster),
        json!({"requests": {"cpu": "840m"}, "limits": {"cpu": "840m"}}),
        "demand taken as at least the 500m limit: 500m / 60 % = 834m, rounded up to 10m\n{}",
        tick.stderr
    );
    assert_why_contains(&cluster, "throttled in 33% of CPU periods over 3m");

    // The same load unthrottled is between the marks; with throttling turned off, too.
    let quiet = new_cluster();
    web(
        &quiet,
        json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}),
    );
    let load = ContainerLoad::new("app", Profile::Constant(0.25), Profile::Constant(100e6))
        .throttled(Profile::Constant(0.33));
    push(
        &quiet,
        &Timeline::ending_now(Duration::from_secs(600)),
        load,
    );
    quiet
        .tick("resize-pods", &[("RESIZE_CPU_THROTTLE", "0")])
        .assert_success();
    assert_eq!(quiet.api.count_writes(), 0);
}

#[test]
fn a_busy_hour_earlier_in_the_day_holds_the_scale_down_the_last_half_hour_would_make() {
    let cluster = new_cluster();
    web(
        &cluster,
        json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}),
    );
    // Three hours of history: busy (800m) from 3h to 2h ago, idle (100m) since.
    let cpu = between(2 * HOUR, 3 * HOUR + HOUR, 0.8, 0.1);
    push_three_hours_of_cpu(&cluster, cpu);

    // The day's p95 is the busy hour (a third of the history): 80 % of the limit, between the marks.
    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(cluster.api.count_writes(), 0);
    let notes = notes_about_web(&cluster, &[]);
    assert!(
        notes.iter().any(|n| n.contains("long view 80%")),
        "{notes:#?}"
    );

    // Without the long view the last 30 minutes alone decide: a scale-down.
    let tick = cluster.tick("resize-pods", &[("RESIZE_LONG_WINDOW", "0")]);
    tick.assert_success();
    assert_eq!(
        spec_resources(&cluster)["limits"]["cpu"],
        "500m",
        "idle at 100m: the /2 step\n{}",
        tick.stderr
    );
}

/// web-1 idle for the last 40 minutes at 100m of its 1-core limit, `throttled` (fraction of its CFS periods by
/// age); `band-1` between the marks, throttled as often: never a scale-down, so its throttling history is not
/// asked for. Served through a proxy that records (and can fail) the queries.
fn idle_web_and_a_busy_neighbour(throttled: Profile) -> (Cluster, FaultProxy) {
    let mut cluster = new_cluster();
    let resources = json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}});
    web(&cluster, resources.clone());
    cluster.put_running(
        PodBuilder::new(WEB.0, "band-1")
            .on("node-1")
            .container("app", resources),
    );
    let timeline = Timeline::ending_now(90 * 60 * Duration::from_secs(1));
    let load = |cpu: f64| {
        ContainerLoad::new("app", Profile::Constant(cpu), Profile::Constant(100e6))
            .throttled(throttled.clone())
    };
    // One push: Prometheus refuses samples older than its head once newer ones are in.
    let mut series = PodHistory::new(WEB.0, WEB.1, "node-1", vec![load(0.1)]).series(&timeline);
    series.extend(PodHistory::new(WEB.0, "band-1", "node-1", vec![load(0.5)]).series(&timeline));
    cluster.push(series);
    let proxy = FaultProxy::start(&cluster.prometheus).unwrap();
    cluster.prometheus_url = proxy.url();
    (cluster, proxy)
}

fn throttle_guard_queries(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .requests_to("/api/v1/query")
        .iter()
        .filter_map(|request| request.form_field("query"))
        .filter(|query| query.contains(r#""throttled_long""#))
        .collect()
}

#[test]
fn throttling_within_the_long_window_holds_the_scale_down() {
    // Throttled in 40 % of its periods for 10 minutes an hour ago.
    let throttled = between(
        60 * 60 * Duration::from_secs(1),
        70 * 60 * Duration::from_secs(1),
        0.4,
        0.0,
    );
    let (cluster, proxy) = idle_web_and_a_busy_neighbour(throttled);

    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(cluster.api.count_writes(), 0);
    // The guard, the costliest part of the long view, is read for the one container a scale-down waits on.
    let guards = throttle_guard_queries(&proxy);
    assert_eq!(guards.len(), 1, "{guards:#?}");
    assert!(
        guards[0].contains(r#"pod=~"web-1""#) && !guards[0].contains("band-1"),
        "{}",
        guards[0]
    );
    assert_eq!(proxy.query_count(), 3, "statistics, long view, guard");
    let notes = notes_about_web(&cluster, &[]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("of CPU periods within the last 24h (mark 10%): no scale-down")),
        "{notes:#?}"
    );
}

#[test]
fn a_failed_throttling_guard_holds_the_scale_down_it_was_asked_for() {
    let (cluster, proxy) = idle_web_and_a_busy_neighbour(Profile::Constant(0.0));
    proxy.fail_matching("throttled_long", Fault::Status(503));

    // With the long view on and off (then the guard covers the stabilization window).
    for env in [&[][..], &[("RESIZE_LONG_WINDOW", "0")][..]] {
        let tick = cluster.tick("resize-pods", env);
        tick.assert_success();
        assert!(
            tick.stderr
                .contains("no throttling history this tick: these CPU scale-downs wait"),
            "{}",
            tick.stderr
        );
        assert_eq!(cluster.api.count_writes(), 0, "{env:?}: {}", tick.stderr);
        let notes = notes_about_web(&cluster, env);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("no throttling history (RESIZE_CPU_THROTTLE)")),
            "{env:?}: {notes:#?}"
        );
    }

    // Answered, the same idle and never throttled container is scaled down.
    proxy.heal();
    cluster.tick("resize-pods", &[]).assert_success();
    assert_ne!(spec_resources(&cluster)["limits"]["cpu"], "1");
}

#[test]
fn a_bursty_container_sized_from_usage_reserves_its_typical_use_and_keeps_its_limit() {
    let cluster = new_cluster();
    let resources = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "2"}});
    web(&cluster, resources.clone());
    // Three hours at 100m, and a 2-minute burst to 1.2 cores ten minutes ago: 60 % of the limit at the peak,
    // between the marks; the p80 of its 5-minute averages is the 100m it usually uses.
    let minute = Duration::from_secs(60);
    let cpu = between(8 * minute, 10 * minute, 1.2, 0.1);
    push_three_hours_of_cpu(&cluster, cpu);

    // By default the request keeps its ratio to the limit, which is between its marks: nothing to do.
    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(cluster.api.count_writes(), 0);

    let tick = cluster.tick("resize-pods", &[("RESIZE_CPU_REQUEST", "usage")]);
    tick.assert_success();
    assert_eq!(
        spec_resources(&cluster),
        json!({"requests": {"cpu": "250m"}, "limits": {"cpu": "2"}}),
        "100m x 1.15 = 115m, one /2 step from 500m; the limit still covers the burst\n{}",
        tick.stderr
    );
    assert_why_contains(
        &cluster,
        "request sized to p80 of its 5-minute CPU over 24h (100m) + 15%",
    );
}

/// Marks the container's previous run as OOM-killed `ago`, as the kubelet reports it.
fn oom_killed(cluster: &Cluster, ago: Duration) -> String {
    let mut pod = cluster.api.get("Pod", Some(WEB.0), WEB.1).expect("pod");
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let finished = k8s_openapi::jiff::Timestamp::from_second(now_s - ago.as_secs() as i64)
        .unwrap()
        .to_string();
    pod["status"]["containerStatuses"][0]["lastState"] = json!({"terminated": {
        "reason": "OOMKilled", "exitCode": 137, "finishedAt": finished.clone(),
        "startedAt": "2026-01-01T00:00:00Z"
    }});
    pod["status"]["containerStatuses"][0]["restartCount"] = json!(1);
    cluster.api.put(pod);
    finished
}

#[test]
fn an_oom_kill_raises_memory_at_once_and_only_once() {
    let cluster = new_cluster();
    web(
        &cluster,
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}),
    );
    // Its new run uses little memory so far: the kill, not the usage, is the reason.
    push(
        &cluster,
        &Timeline::ending_now(Duration::from_secs(600)),
        ContainerLoad::new("app", Profile::Constant(0.25), Profile::Constant(100e6)),
    );
    let finished = oom_killed(&cluster, Duration::from_secs(120));
    let env = [("RESIZE_MEMORY", "true")];

    let tick = cluster.tick("resize-pods", &env);
    tick.assert_success();
    assert_eq!(
        spec_resources(&cluster)["limits"]["memory"],
        "615Mi",
        "max(512Mi x 1.2, 512Mi + 100Mi) = 614.4Mi, rounded up to 1Mi\n{}",
        tick.stderr
    );
    let record = last_resize(&cluster);
    assert_eq!(record["app"]["oomRaises"], json!([finished]), "{record}");
    assert!(
        record["app"]["why"]
            .as_str()
            .unwrap()
            .contains(&format!("OOM-killed at {finished}: raised at once")),
        "{record}"
    );

    // The kubelet applies it; the same kill, still in lastState, is not raised again (cooldown over or not).
    cluster.api.kubelet_actuate(WEB.0, WEB.1);
    oom_killed(&cluster, Duration::from_secs(120));
    let writes = cluster.api.count_writes();
    cluster
        .tick(
            "resize-pods",
            &[("RESIZE_MEMORY", "true"), ("RESIZE_COOLDOWN_UP", "0")],
        )
        .assert_success();
    assert_eq!(cluster.api.count_writes(), writes, "the kill was answered");
}
