//! The hook as shell-operator runs it, beyond one controller: binding contexts of every shape, merged runs,
//! both controllers in one run, bad input, logs and metrics.

use crate::support;

use crate::support::Profile;
use serde_json::{Value, json};

fn hot_cluster() -> support::Cluster {
    let cluster = support::cluster();
    for (name, busy) in [
        ("hot", 0.95),
        ("cool-1", 0.2),
        ("cool-2", 0.2),
        ("cool-3", 0.2),
    ] {
        cluster.add_node(name, json!({}));
        cluster.node_load(name, Profile::Constant(busy));
    }
    cluster
}

#[test]
fn a_malformed_binding_context_fails_before_any_request_naming_file_and_element() {
    let cluster = hot_cluster();
    let bad = json!([{"binding": "taint-nodes", "type": "Schedule", "snapshots": {"nodes": [{"filterResult": {"spec": {"taints": "none"}}}]}}]);
    let output = cluster.run_hook(&bad, &[]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("binding-context.json"),
        "names the file: {}",
        output.stderr
    );
    assert!(
        output.stderr.contains(
            "element 0 (binding taint-nodes): snapshots.nodes[0].filterResult.spec.taints"
        ),
        "{}",
        output.stderr
    );
    assert!(
        cluster.api.requests().is_empty(),
        "nothing read, nothing written"
    );
    assert!(output.metrics.is_empty(), "a failed run writes no metrics");
}

#[test]
fn merged_runs_do_the_work_once_and_skip_unknown_bindings() {
    let cluster = hot_cluster();
    let context = cluster.binding_context("taint-nodes", &[]);
    let element = context[0].clone();
    let merged = json!([element.clone(), {"binding": "onStartup"}, {"binding": "some-other-hook", "type": "Schedule"}, element]);
    let output = cluster.run_hook(&merged, &[]);
    output.assert_success();
    assert_eq!(
        output.metric(
            "kube_thermostat_tick_prometheus_queries",
            &[("controller", "taint-nodes")]
        ),
        Some(1.0)
    );
    assert_eq!(cluster.api.count("patch", "nodes"), 1, "the hot node, once");
}

#[test]
fn both_controllers_in_one_run_report_separately() {
    let cluster = hot_cluster();
    let taint = cluster.binding_context("taint-nodes", &[]);
    let resize = cluster.binding_context("resize-pods", &[]);
    let both = json!([taint[0], resize[0]]);
    let output = cluster.run_hook(&both, &[]);
    output.assert_success();
    assert!(
        output
            .metric(
                "kube_thermostat_tick_duration_seconds",
                &[("controller", "taint-nodes")]
            )
            .is_some()
    );
    assert!(
        output
            .metric(
                "kube_thermostat_tick_duration_seconds",
                &[("controller", "resize-pods")]
            )
            .is_some()
    );
    assert!(
        output.stderr.contains("no pod opted in")
            || output.stderr.contains("controller=resize-pods"),
        "{}",
        output.stderr
    );
}

#[test]
fn without_binding_context_path_the_hook_explains_how_to_run_it() {
    let cluster = hot_cluster();
    let output = cluster.run_cli(&[], &[]);
    // `run` with no controller runs every enabled one: the by-hand path works without a binding context.
    output.assert_success();
    let hook = std::process::Command::new(env!("CARGO_BIN_EXE_kube-thermostat"))
        .env_clear()
        .env("PROMETHEUS_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(hook.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&hook.stderr);
    assert!(
        stderr.contains("BINDING_CONTEXT_PATH is not set")
            && stderr.contains("kube-thermostat run"),
        "{stderr}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_level_and_message() {
    let cluster = hot_cluster();
    let output = cluster.tick("taint-nodes", &[("LOG_TYPE", "json")]);
    output.assert_success();
    let lines: Vec<Value> = output
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["msg"].is_string() && l["time"].is_string())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["msg"] == "node hot: taint" && l["node"] == "hot"),
        "{}",
        output.stderr
    );
    assert!(
        output.stdout.is_empty(),
        "stdout is not for logs in hook mode"
    );
}

#[test]
fn every_metric_is_in_its_controllers_group_with_its_controller_label_in_shell_operator_format() {
    let cluster = hot_cluster();
    let output = cluster.tick("taint-nodes", &[]);
    output.assert_success();
    for op in &output.metrics {
        let name = op["name"].as_str().unwrap();
        assert!(name.starts_with("kube_thermostat_"), "{op}");
        assert!(op["value"].as_f64().is_some_and(f64::is_finite), "{op}");
        // Without a group shell-operator would use the hook's name, shared with resize-pods.
        assert_eq!(op["group"], "kube_thermostat_taint_nodes", "{op}");
        assert_eq!(op["labels"]["controller"], "taint-nodes", "{op}");
        match op["action"].as_str().unwrap() {
            "set" => assert!(!name.ends_with("_total"), "{op}"),
            "add" => assert!(name.ends_with("_total"), "{op}"),
            other => panic!("unexpected action {other}"),
        }
    }
    assert_eq!(
        output.metric("kube_thermostat_nodes", &[("state", "hot")]),
        Some(1.0)
    );
    assert_eq!(
        output.metric(
            "kube_thermostat_taint_changes_total",
            &[("action", "taint")]
        ),
        Some(1.0)
    );
    assert_eq!(
        output.metric("kube_thermostat_node_tainted", &[("node", "hot")]),
        Some(1.0)
    );
}

#[test]
fn a_disabled_controller_is_skipped_even_when_its_binding_fires() {
    let cluster = hot_cluster();
    let output = cluster.tick("taint-nodes", &[("TAINT_ENABLED", "false")]);
    output.assert_success();
    assert_eq!(cluster.api.count_writes(), 0);
    assert!(
        output.stderr.contains("taint-nodes is disabled"),
        "{}",
        output.stderr
    );
}

#[test]
fn bad_settings_exit_2_naming_every_problem_before_any_request() {
    let cluster = hot_cluster();
    let output = cluster.tick(
        "taint-nodes",
        &[
            ("CPU_THRESHOLD", "hot"),
            ("TAINT_EFFECT", "Evict"),
            ("HOT_WINDOW", "3 minutes"),
        ],
    );
    assert_eq!(output.code, 2);
    for expected in [
        "CPU_THRESHOLD (--cpu-threshold) = \"hot\"",
        "TAINT_EFFECT (--taint-effect) = \"Evict\"",
        "HOT_WINDOW (--hot-window)",
    ] {
        assert!(
            output.stderr.contains(expected),
            "{expected}: {}",
            output.stderr
        );
    }
    assert!(cluster.api.requests().is_empty());
}

#[test]
fn run_dry_run_writes_nothing_even_when_shadow_mode_is_switched_off() {
    // The settings of a live install (TAINT_DRY_RUN=false) must not turn an SRE's preview into real writes.
    let cluster = hot_cluster();
    let env = [
        ("DRY_RUN", "false"),
        ("TAINT_DRY_RUN", "false"),
        ("RESIZE_DRY_RUN", "false"),
    ];
    for args in [
        &["taint-nodes", "--dry-run"][..],
        &["--dry-run"][..],
        &["--dry-run", "taint-nodes"][..],
    ] {
        let output = cluster.run_cli(args, &env);
        output.assert_success();
        assert!(
            output.stdout.contains("hot"),
            "{args:?} prints the plan:\n{}",
            output.stdout
        );
    }
    assert_eq!(cluster.api.count_writes(), 0);
    assert!(cluster.api.events().is_empty());
}
