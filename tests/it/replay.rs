//! `kube-thermostat replay` end to end: the real binary, a real Prometheus with pushed history, the API
//! stand-in. The proof that live and replay are the same code: live ticks at t1..tn (the clock pinned to each),
//! then a replay of the same period from the objects as they were before t1, and the decisions are identical.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use thermostat_rig::builders::{NodeBuilder, PodBuilder};

use crate::support::{self, Cluster, ContainerLoad, PodHistory, Profile};

const MINUTE: Duration = Duration::from_secs(60);

/// `high` while the age (time before the history's end) is within `[young, old)`, `low` otherwise.
fn between(young: Duration, old: Duration, high: f64, low: f64) -> Profile {
    Profile::Custom(Arc::new(
        move |age| {
            if age >= young && age < old { high } else { low }
        },
    ))
}

fn rfc3339(ms: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_string()
}

/// Every object the stand-in holds that a replay reads, as `kubectl get nodes,pods,namespaces -o json` lists
/// them.
fn objects_file(cluster: &Cluster) -> std::path::PathBuf {
    let mut items = Vec::new();
    for kind in ["Node", "Pod", "Namespace"] {
        for mut object in cluster.api.list(kind) {
            object["kind"] = json!(kind);
            object["apiVersion"] = json!("v1");
            items.push(object);
        }
    }
    let path = cluster.dir.path().join("objects.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
    path
}

/// The changes of a live `run taint-nodes --output json` plan: (node, taint|untaint, why).
fn live_taint_changes(plan: &Value) -> Vec<(String, String, String)> {
    if !plan["fail_safe"].is_null() {
        return Vec::new();
    }
    let notes: std::collections::BTreeMap<String, String> = plan["writes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| !w["event"].is_null())
        .map(|w| {
            (
                w["node"].as_str().unwrap().to_string(),
                w["event"]["note"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    plan["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| {
            let action = match d["action"].as_str().unwrap() {
                "add" => "taint",
                "remove" => "untaint",
                _ => return None,
            };
            let node = d["name"].as_str().unwrap().to_string();
            let why = notes
                .get(&node)
                .cloned()
                .unwrap_or_else(|| d["reason"].as_str().unwrap().to_string());
            Some((node, action.to_string(), why))
        })
        .collect()
}

/// One resource change: (namespace/pod, container, resource, direction, why).
type ResizeChange = (String, String, String, String, String);

/// The changes of a live `run resize-pods --output json` plan.
fn live_resize_changes(plan: &Value) -> Vec<ResizeChange> {
    let mut changes = Vec::new();
    for pod in plan["pods"].as_array().unwrap() {
        for container in pod["containers"].as_array().unwrap() {
            for change in container["changes"].as_array().unwrap() {
                changes.push((
                    format!(
                        "{}/{}",
                        pod["namespace"].as_str().unwrap(),
                        pod["name"].as_str().unwrap()
                    ),
                    container["name"].as_str().unwrap().to_string(),
                    change["resource"].as_str().unwrap().to_string(),
                    change["direction"].as_str().unwrap().to_string(),
                    change["why"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    changes
}

/// The minute boundary `minutes` before the end of the pushed history, as RFC 3339.
fn minutes_before_end(cluster: &Cluster, minutes: i64) -> String {
    let end_ms = cluster.timeline.end_ms;
    rfc3339(end_ms - end_ms.rem_euclid(60_000) - minutes * 60_000)
}

/// `kube-thermostat ARGS... --output json` (a replay), which must succeed: its report.
fn replay_report(cluster: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let output = cluster.run_cli_raw(&all, env);
    output.assert_success();
    serde_json::from_str(output.stdout.trim())
        .unwrap_or_else(|e| panic!("JSON ({e}):\n{}\nstderr:\n{}", output.stdout, output.stderr))
}

fn run_json(cluster: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Value {
    let output = cluster.run_cli(args, env);
    output.assert_success();
    serde_json::from_str(output.stdout.trim())
        .unwrap_or_else(|e| panic!("JSON ({e}):\n{}\nstderr:\n{}", output.stdout, output.stderr))
}

/// A long view the hour's history can show (the median of 2-minute averages over 30 minutes): the replay
/// computes it from the evaluations a live tick's subquery takes, to the same figure in the same words.
const LONG_VIEW: [(&str, &str); 3] = [
    ("RESIZE_LONG_WINDOW", "30m"),
    ("RESIZE_LONG_STEP", "2m"),
    ("RESIZE_CPU_LONG_PERCENTILE", "50"),
];

#[test]
fn live_ticks_and_a_replay_of_the_same_period_decide_exactly_the_same() {
    // 100 minutes of history ending now; the live ticks run at t1..tn, one a minute, inside its last hour.
    let cluster = support::scenario()
        .history(100 * MINUTE)
        .node_with_load(
            NodeBuilder::new("flappy"),
            between(30 * MINUTE, 50 * MINUTE, 0.95, 0.20),
        )
        .node_with_load(
            NodeBuilder::new("late"),
            between(Duration::ZERO, 18 * MINUTE, 0.95, 0.30),
        )
        .node_with_load(NodeBuilder::new("steady"), Profile::Constant(0.40))
        .node_with_load(
            NodeBuilder::new("node-1").label("kubernetes.io/os", "linux"),
            Profile::Constant(0.30),
        )
        // Busy (near its limit) in the first part of the hour, then idle long enough for a scale-down. One
        // push with the nodes' history: Prometheus takes samples over an hour old only into an empty head.
        .series(|timeline| {
            PodHistory::new(
                "shop",
                "web-1",
                "node-1",
                vec![ContainerLoad::new(
                    "app",
                    between(44 * MINUTE, 58 * MINUTE, 0.45, 0.03),
                    Profile::Constant(100e6),
                )],
            )
            // Two jobs scrape its kubelet: the replay merges the duplicate series as the live tick does.
            .scraped_by(2)
            .series(timeline)
        })
        // Mostly idle with a busy spell: its CPU request is sized from usage (the annotation), apart from its limit.
        .series(|timeline| {
            PodHistory::new(
                "shop",
                "web-2",
                "node-1",
                vec![ContainerLoad::new(
                    "app",
                    between(20 * MINUTE, 26 * MINUTE, 0.6, 0.04),
                    Profile::Constant(100e6),
                )],
            )
            .series(timeline)
        })
        .start();
    cluster.put_running(PodBuilder::new("shop", "web-1").on("node-1").container(
        "app",
        json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}),
    ));
    cluster.put_running(
        PodBuilder::new("shop", "web-2")
            .on("node-1")
            .annotation("kube-thermostat.io/cpu-request", "usage")
            .container(
                "app",
                json!({"requests": {"cpu": "400m"}, "limits": {"cpu": "1"}}),
            ),
    );

    let end_ms = cluster.timeline.end_ms;
    let first_ms = end_ms - end_ms.rem_euclid(60_000) - 55 * 60_000;
    let ticks: Vec<i64> = (0..54).map(|k| first_ms + k * 60_000).collect();
    let objects = objects_file(&cluster);

    let mut live_taints = Vec::new();
    let mut live_resizes = Vec::new();
    for &at in &ticks {
        let now = rfc3339(at);
        let env = [("KUBE_THERMOSTAT_FAKE_NOW", now.as_str())];
        let taint = run_json(&cluster, &["taint-nodes", "--output", "json"], &env);
        for (node, action, why) in live_taint_changes(&taint) {
            live_taints.push((now.clone(), node, action, why));
        }
        // resize-pods' default schedule, `*/2 * * * *`: even minutes.
        if (at / 60_000) % 2 != 0 {
            continue;
        }
        let resize = run_json(
            &cluster,
            &["resize-pods", "--output", "json"],
            &[env.as_slice(), LONG_VIEW.as_slice()].concat(),
        );
        for change in live_resize_changes(&resize) {
            live_resizes.push((now.clone(), change));
        }
        // The kubelet actuates every resize before the next tick, as a replay assumes.
        for pod in resize["pods"].as_array().unwrap() {
            cluster.api.kubelet_actuate(
                pod["namespace"].as_str().unwrap(),
                pod["name"].as_str().unwrap(),
            );
        }
    }

    let from = rfc3339(ticks[0]);
    let to = rfc3339(*ticks.last().unwrap());
    let objects = objects.to_str().unwrap();
    // At the default schedules (TAINT_SCHEDULE `* * * * *`, RESIZE_SCHEDULE `*/2 * * * *`), as the live ticks ran.
    let args = ["replay", "--from", &from, "--to", &to, "--objects", objects];
    let report = replay_report(&cluster, &args, &LONG_VIEW);
    let run = &report["runs"][0];
    let replayed_taints: Vec<(String, String, String, String)> = run["taint_nodes"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["at"].as_str().unwrap().to_string(),
                c["node"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
                c["why"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let replayed_resizes: Vec<(String, ResizeChange)> = run["resize_pods"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["at"].as_str().unwrap().to_string(),
                (
                    format!(
                        "{}/{}",
                        c["namespace"].as_str().unwrap(),
                        c["pod"].as_str().unwrap()
                    ),
                    c["container"].as_str().unwrap().to_string(),
                    c["resource"].as_str().unwrap().to_string(),
                    c["direction"].as_str().unwrap().to_string(),
                    c["why"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();

    // Not vacuous: the period holds taints, untaints and resizes both ways.
    let actions: Vec<&str> = live_taints.iter().map(|c| c.2.as_str()).collect();
    assert!(
        actions.contains(&"taint") && actions.contains(&"untaint"),
        "live ticks tainted and untainted: {live_taints:#?}"
    );
    let directions: Vec<&str> = live_resizes.iter().map(|c| c.1.3.as_str()).collect();
    assert!(
        directions.contains(&"up") && directions.contains(&"down"),
        "live ticks resized up and down: {live_resizes:#?}"
    );
    assert!(
        live_resizes
            .iter()
            .any(|c| c.1.3 == "down" && c.1.4.contains("as did p50 over 30m")),
        "the scale-down read the long view: {live_resizes:#?}"
    );
    assert!(
        live_resizes.iter().any(|c| c.1.0 == "shop/web-2"
            && c.1
                .4
                .contains("request sized to p80 of its 5-minute CPU over 30m")),
        "web-2's request was sized from usage: {live_resizes:#?}"
    );
    assert_eq!(
        replayed_taints, live_taints,
        "taint decisions, tick by tick"
    );
    assert_eq!(
        replayed_resizes, live_resizes,
        "resize decisions, tick by tick"
    );
    assert_eq!(run["taint_nodes"]["ticks"], ticks.len());
    assert_eq!(run["resize_pods"]["ticks"], ticks.len() / 2);
    // The resized container is charted, size against its recorded usage.
    let top = run["resize_pods"]["top"].as_array().unwrap();
    assert!(top.contains(&json!("shop/web-1/app")), "{top:?}");
    let web_1 = run["resize_pods"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pod"] == "web-1")
        .expect("web-1 tracked");
    let usage = web_1["usage"].as_array().unwrap();
    assert!(usage.len() > 50, "{} usage points", usage.len());
    assert!(
        usage.iter().any(|p| p["cpu"].as_f64().unwrap_or(0.0) > 0.4),
        "the busy part is in the chart"
    );
}

/// A period reaching before the history: the ticks without data are gaps that decide nothing (no untaint of a
/// node we cannot see), reported as such, and the replay reads the cluster without writing to it.
#[test]
fn a_replay_reports_missing_history_as_gaps_and_writes_nothing() {
    let cluster = support::scenario()
        .history(40 * MINUTE)
        .node_with_load(
            NodeBuilder::new("hot").tainted_by_us(),
            Profile::Constant(0.95),
        )
        // Enough nodes for the cap (30 %) to allow one taint.
        .nodes(["cool-1", "cool-2", "cool-3"], Profile::Constant(0.20))
        .start();
    let (from, to) = (
        minutes_before_end(&cluster, 90),
        minutes_before_end(&cluster, 0),
    );
    cluster.api.reset_requests();
    let args = [
        "replay",
        "taint-nodes",
        "--from",
        &from,
        "--to",
        &to,
        "--every",
        "1m",
    ];
    let report = replay_report(&cluster, &args, &[]);
    assert_eq!(cluster.api.count_writes(), 0, "a replay writes nothing");
    let taint = &report["runs"][0]["taint_nodes"];
    let gaps = taint["gaps"].as_array().unwrap();
    assert!(
        !gaps.is_empty() && gaps[0]["reason"].as_str().unwrap().contains("no data"),
        "the hour before the history is a gap: {gaps:#?}"
    );
    assert_eq!(gaps[0]["from"], from.as_str());
    assert!(gaps[0]["ticks"].as_u64().unwrap() >= 45, "{gaps:#?}");
    let changes = taint["changes"].as_array().unwrap();
    assert_eq!(
        changes.len(),
        1,
        "our taint on the hot node was stripped at the start, so it is tainted once the data is there, and \
         nothing happens to any node while there is none: {changes:#?}"
    );
    assert_eq!(changes[0]["node"], "hot");
    assert_eq!(changes[0]["action"], "taint");

    let text = cluster.run_cli_raw(&args, &[]);
    text.assert_success();
    assert!(
        text.stdout.contains("no decision") && text.stdout.contains("no data"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("what a replay cannot know"),
        "{}",
        text.stdout
    );
}

/// `--compare` replays a second set of settings over the same history, reading it once.
#[test]
fn compare_replays_two_settings_side_by_side_from_one_read_of_the_history() {
    let cluster = support::scenario()
        .history(40 * MINUTE)
        .node_with_load(NodeBuilder::new("warm"), Profile::Constant(0.85))
        .nodes(["cool-1", "cool-2", "cool-3"], Profile::Constant(0.20))
        .start();
    let (from, to) = (
        minutes_before_end(&cluster, 20),
        minutes_before_end(&cluster, 0),
    );
    let args = [
        "replay",
        "taint-nodes",
        "--from",
        &from,
        "--to",
        &to,
        "--every",
        "1m",
        "--compare",
        "CPU_THRESHOLD=90",
        "--compare",
        "CPU_UNTAINT_THRESHOLD=60",
    ];
    let report = replay_report(&cluster, &args, &[]);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[1]["overrides"],
        json!(["CPU_THRESHOLD=90", "CPU_UNTAINT_THRESHOLD=60"])
    );
    assert_eq!(
        runs[0]["taint_nodes"]["totals"]["taints"], 1,
        "85% is hot at the default 80%"
    );
    assert_eq!(
        runs[1]["taint_nodes"]["totals"]["taints"], 0,
        "and not at 90%"
    );
    // Same queries, same ticks: the history is read once for both (one query per chunk of the one signal).
    let chunks = report["queries"].as_u64().unwrap();
    assert!(
        (1..=2).contains(&chunks),
        "{chunks} queries for a 20-minute period"
    );

    let text = cluster.run_cli_raw(&args, &[]);
    text.assert_success();
    assert!(text.stdout.contains("compared:"), "{}", text.stdout);
    assert!(text.stdout.contains("CPU_THRESHOLD=90"), "{}", text.stdout);
}

/// Bad input is named, and nothing is read past it.
#[test]
fn bad_replay_input_is_named() {
    let cluster = support::scenario()
        .node_with_load(NodeBuilder::new("n1"), Profile::Constant(0.20))
        .start();
    let not_a_list = cluster.dir.path().join("node.json");
    std::fs::write(
        &not_a_list,
        r#"{"kind": "Node", "metadata": {"name": "n1"}}"#,
    )
    .unwrap();
    let twenty_days_ago = rfc3339(cluster.timeline.end_ms - 20 * 86_400_000);
    let cases: [(&[&str], i32, &str); 6] = [
        // Debian's Prometheus keeps 15 days by default.
        (
            &["replay", "--from", &twenty_days_ago],
            1,
            "but Prometheus keeps \"15d\" (storageRetention",
        ),
        (
            &[
                "replay",
                "--last",
                "1h",
                "--objects",
                not_a_list.to_str().unwrap(),
            ],
            1,
            "not a Kubernetes list",
        ),
        (
            &["replay", "--last", "soon"],
            2,
            "--last \"soon\" is not a duration",
        ),
        (
            &[
                "replay",
                "--from",
                "2026-12-02T10:00:00Z",
                "--to",
                "2026-12-02T09:00:00Z",
            ],
            2,
            "the period is empty",
        ),
        (
            &["replay", "--last", "1h", "--compare", "NOT_A_SETTING=1"],
            2,
            "NOT_A_SETTING is not a setting",
        ),
        (
            &["replay", "--last", "1h", "--compare", "CPU_THRESHOLD=150"],
            2,
            "CPU_THRESHOLD",
        ),
    ];
    for (args, code, message) in cases {
        let output = cluster.run_cli_raw(args, &[]);
        assert_eq!(output.code, code, "{args:?}: {}", output.stderr);
        assert!(
            output.stderr.contains(message),
            "{args:?}: {}",
            output.stderr
        );
    }
}

/// A smaller PROMETHEUS_MAX_RESPONSE_BYTES cuts the period into more chunks (more, smaller answers) and
/// changes no decision.
#[test]
fn the_answer_size_limit_bounds_each_chunk_and_changes_no_decision() {
    let cluster = support::scenario()
        .history(60 * MINUTE)
        .node_with_load(
            NodeBuilder::new("flappy"),
            between(10 * MINUTE, 30 * MINUTE, 0.95, 0.20),
        )
        .nodes(["cool-1", "cool-2", "cool-3"], Profile::Constant(0.20))
        .start();
    let (from, to) = (
        minutes_before_end(&cluster, 45),
        minutes_before_end(&cluster, 0),
    );
    let args = [
        "replay",
        "taint-nodes",
        "--from",
        &from,
        "--to",
        &to,
        "--every",
        "1m",
    ];
    let replay = |env: &[(&str, &str)]| replay_report(&cluster, &args, env);
    let whole = replay(&[]);
    let chunked = replay(&[("PROMETHEUS_MAX_RESPONSE_BYTES", "8Ki")]);
    let changes = |report: &Value| report["runs"][0]["taint_nodes"]["changes"].clone();
    assert_eq!(whole["queries"], 1, "45 minutes of 4 nodes fit one answer");
    assert!(
        chunked["queries"].as_u64().unwrap() >= 4,
        "8 KiB answers: {} queries",
        chunked["queries"]
    );
    assert_eq!(changes(&chunked), changes(&whole));
    assert_eq!(
        changes(&whole).as_array().unwrap().len(),
        2,
        "{:#}",
        changes(&whole)
    );
}

/// The resize changes of `replay resize-pods` over the hour before the pushed history's end (from 65 to 1 minute
/// before it), from the stand-in's objects, with `args` and `env` added.
fn replayed_resizes_of_the_last_hour(
    cluster: &Cluster,
    args: &[&str],
    env: &[(&str, &str)],
) -> Vec<Value> {
    let objects = objects_file(cluster);
    let from = minutes_before_end(cluster, 65);
    let to = minutes_before_end(cluster, 1);
    let mut all = vec![
        "replay",
        "resize-pods",
        "--from",
        &from,
        "--to",
        &to,
        "--objects",
        objects.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let report = replay_report(cluster, &all, env);
    report["runs"][0]["resize_pods"]["changes"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_replayed_downsize_that_the_working_set_outgrows_is_an_oom_kill_the_next_tick_answers() {
    // 100 minutes of history: 200Mi of working set, then 400Mi for the last 20 minutes.
    let working_set = between(
        Duration::ZERO,
        20 * MINUTE,
        400.0 * 1048576.0,
        200.0 * 1048576.0,
    );
    let cluster = support::scenario()
        .history(100 * MINUTE)
        .node(NodeBuilder::new("node-1"))
        .series(move |timeline| {
            PodHistory::new(
                "shop",
                "web-1",
                "node-1",
                vec![ContainerLoad::new(
                    "app",
                    Profile::Constant(0.25),
                    working_set.clone(),
                )],
            )
            .series(timeline)
        })
        .start();
    cluster.put_running(
        PodBuilder::new("shop", "web-1")
            .on("node-1")
            .annotation("kube-thermostat.io/cpu", "off")
            .container(
                "app",
                json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "2Gi"}}),
            ),
    );
    // Lowering a memory limit in place needs 1.34+ (1.33 only with a restart).
    let changes = replayed_resizes_of_the_last_hour(
        &cluster,
        &["--server-minor", "34"],
        &[("RESIZE_MEMORY", "true"), ("RESIZE_MAX_STEP_DOWN", "8")],
    );
    let whys: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c["direction"].as_str().unwrap(), c["why"].as_str().unwrap()))
        .collect();
    // 200Mi + 20 % asks for 240Mi; the /8 step allows 256Mi.
    assert_eq!(changes[0]["to"], "256Mi", "{whys:#?}");
    let raise = whys
        .iter()
        .position(|(_, why)| why.starts_with("OOM-killed at"))
        .unwrap_or_else(|| panic!("the kill is answered: {whys:#?}"));
    assert_eq!(whys[raise].0, "up");
    assert!(
        whys[..raise]
            .iter()
            .all(|(direction, _)| *direction == "down"),
        "{whys:#?}"
    );
}

#[test]
fn a_replay_raises_a_throttled_container_once_and_then_holds_its_scale_downs() {
    // 250m of a 500m limit on average for 100 minutes, a third of its CFS periods throttled throughout.
    let cluster = support::scenario()
        .history(100 * MINUTE)
        .node(NodeBuilder::new("node-1"))
        .series(|timeline| {
            PodHistory::new(
                "shop",
                "web-1",
                "node-1",
                vec![
                    ContainerLoad::new("app", Profile::Constant(0.25), Profile::Constant(100e6))
                        .throttled(Profile::Constant(0.33)),
                ],
            )
            .series(timeline)
        })
        .start();
    cluster.put_running(PodBuilder::new("shop", "web-1").on("node-1").container(
        "app",
        json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}),
    ));
    let changes = replayed_resizes_of_the_last_hour(&cluster, &[], &[]);
    let whys: Vec<(&str, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["direction"].as_str().unwrap(),
                c["to"].as_str().unwrap(),
                c["why"].as_str().unwrap(),
            )
        })
        .collect();
    // Raised once at the first tick (demand at least the limit: 500m / 60 % → 840m); then at 30 % of 840m the
    // recorded throttling, within the guard window, keeps it from shrinking back into it.
    assert_eq!(whys.len(), 1, "{whys:#?}");
    assert_eq!(whys[0].0, "up");
    assert_eq!(whys[0].1, "840m");
    assert!(
        whys[0].2.contains("throttled in 33% of CPU periods"),
        "{whys:#?}"
    );
}
