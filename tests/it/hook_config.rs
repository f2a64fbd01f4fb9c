//! `kube-thermostat --config`, as shell-operator runs it at start-up: byte-stable, accepted by shell-operator's
//! v1 schema, independent of every setting but the schedules, and with jqFilters that gojq (the jq inside
//! shell-operator) turns real objects into snapshots our decoder reads.

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use serde_json::{Value, json};

const GOLDEN: &str = "tests/golden/config.json";

/// Runs the binary with a pinned environment: only what the test sets, so a developer's env cannot leak in.
fn hook(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kube-thermostat"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run kube-thermostat")
}

fn config_json(env: &[(&str, &str)]) -> Value {
    let output = hook(&["--config"], env);
    assert!(
        output.status.success(),
        "--config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("--config prints JSON")
}

#[test]
fn config_matches_the_golden_file_byte_for_byte() {
    let output = hook(&["--config"], &[]);
    assert!(output.status.success());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &output.stdout).unwrap();
    }
    let golden = std::fs::read(&path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&golden)
    );
    assert!(output.stderr.is_empty(), "--config logs nothing on success");
}

#[test]
fn config_is_the_same_on_every_run() {
    let first = hook(&["--config"], &[]).stdout;
    let second = hook(&["--config"], &[]).stdout;
    assert_eq!(first, second);
}

#[test]
fn config_never_fails_on_settings_only_a_tick_needs() {
    let broken = [
        ("CPU_THRESHOLD", "hot"),
        ("TAINT_EFFECT", "Evict"),
        ("PROMETHEUS_URL", "::not a url::"),
        ("TICK_TIMEOUT", "soon"),
        ("KUBECONFIG", "/nonexistent"),
        ("SNAPSHOTS", "maybe"),
        ("RESIZE_CPU_MIN", "lots"),
    ];
    let config = config_json(&broken);
    assert_shell_operator_accepts(&config);
    // A bad SNAPSHOTS falls back to its default (on) instead of failing start-up.
    assert!(config.get("kubernetes").is_some());
}

#[test]
fn a_bad_schedule_is_a_usage_error_naming_the_setting() {
    let output = hook(&["--config"], &[("RESIZE_SCHEDULE", "every two minutes")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        output.stdout.is_empty(),
        "nothing half-printed for shell-operator to parse"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"RESIZE_SCHEDULE (--resize-schedule) = "every two minutes""#),
        "{stderr}"
    );
}

#[test]
fn schedules_are_settable_by_flag_and_env() {
    let config = config_json(&[("TAINT_SCHEDULE", "*/30 * * * * *")]);
    assert_eq!(config["schedule"][0]["crontab"], "*/30 * * * * *");
    let output = hook(&["--config", "--resize-schedule", "@every 5m"], &[]);
    let config: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(config["schedule"][1]["crontab"], "@every 5m");
    assert_shell_operator_accepts(&config);
}

#[test]
fn every_variant_of_the_config_is_accepted_by_shell_operator() {
    let variants: [&[(&str, &str)]; 5] = [
        &[],
        &[("SNAPSHOTS", "false")],
        &[("TAINT_ENABLED", "false")],
        &[("RESIZE_ENABLED", "false"), ("SNAPSHOTS", "false")],
        &[("RESIZE_ENABLED", "false"), ("TAINT_ENABLED", "false")],
    ];
    for env in variants {
        let config = config_json(env);
        assert_shell_operator_accepts(&config);
    }
}

#[test]
fn schedules_include_snapshots_of_existing_bindings_only() {
    let config = config_json(&[]);
    let watched: Vec<&str> = config["kubernetes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    for schedule in config["schedule"].as_array().unwrap() {
        for name in schedule["includeSnapshotsFrom"].as_array().unwrap() {
            assert!(
                watched.contains(&name.as_str().unwrap()),
                "{name} is not a kubernetes binding"
            );
        }
    }
}

// ---- jqFilters, through gojq (what shell-operator embeds) -------------------------------------------------

fn gojq(filter: &str, input: &str) -> Value {
    let mut child = Command::new("gojq")
        .args(["-c", filter])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gojq is installed by `make test` (Debian package gojq)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "gojq failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn filter_of(config: &Value, binding: &str) -> String {
    config["kubernetes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == binding)
        .unwrap()["jqFilter"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

#[test]
fn node_filter_keeps_what_the_controllers_read_and_drops_the_rest() {
    let config = config_json(&[]);
    let result = gojq(&filter_of(&config, "nodes"), &fixture("node.json"));
    let node: Node = serde_json::from_value(result.clone()).expect("filter result is a Node");
    let original: Node = serde_json::from_str(&fixture("node.json")).unwrap();
    assert_eq!(node.metadata.name, original.metadata.name);
    assert_eq!(
        node.metadata.resource_version,
        original.metadata.resource_version
    );
    assert_eq!(node.metadata.labels, original.metadata.labels);
    let spec = node.spec.unwrap();
    assert_eq!(
        spec.taints,
        original.spec.as_ref().unwrap().taints,
        "taints kept exactly, timeAdded included"
    );
    let status = node.status.unwrap();
    assert_eq!(
        status.addresses,
        original.status.as_ref().unwrap().addresses
    );
    assert_eq!(
        status.allocatable,
        original.status.as_ref().unwrap().allocatable
    );
    let annotations = node.metadata.annotations.unwrap();
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        ["kube-thermostat.io/taint"],
        "only our annotations"
    );
    assert!(result["metadata"].get("managedFields").is_none());
    assert!(result["status"].get("images").is_none());
}

#[test]
fn pod_filter_keeps_resources_policies_owners_and_resize_progress() {
    let config = config_json(&[]);
    let result = gojq(&filter_of(&config, "pods"), &fixture("pod.json"));
    let pod: Pod = serde_json::from_value(result.clone()).expect("filter result is a Pod");
    let original: Pod = serde_json::from_str(&fixture("pod.json")).unwrap();
    assert_eq!(pod.metadata.generation, Some(3));
    assert_eq!(
        pod.metadata.owner_references,
        original.metadata.owner_references
    );
    assert_eq!(pod.metadata.labels, original.metadata.labels);
    let spec = pod.spec.unwrap();
    let original_spec = original.spec.unwrap();
    assert_eq!(spec.node_name, original_spec.node_name);
    assert_eq!(spec.overhead, original_spec.overhead);
    assert_eq!(
        spec.containers[0].resources,
        original_spec.containers[0].resources
    );
    assert_eq!(
        spec.containers[0].resize_policy,
        original_spec.containers[0].resize_policy
    );
    assert!(
        spec.containers[0].env.is_none(),
        "env (and secret references) are not cached"
    );
    let init = spec.init_containers.unwrap();
    assert_eq!(
        init[1].restart_policy.as_deref(),
        Some("Always"),
        "sidecars stay recognisable"
    );
    let status = pod.status.unwrap();
    assert_eq!(status.observed_generation, Some(3));
    let conditions = status.conditions.unwrap();
    assert_eq!(conditions.len(), 1, "only resize conditions are kept");
    assert_eq!(conditions[0].type_, "PodResizePending");
    assert_eq!(conditions[0].observed_generation, Some(3));
    let statuses = status.container_statuses.unwrap();
    assert_eq!(
        statuses[0].resources,
        original
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .resources
    );
    assert_eq!(
        statuses[0].allocated_resources.as_ref().unwrap()["cpu"].0,
        "500m"
    );
    let annotations = pod.metadata.annotations.unwrap();
    assert!(
        annotations
            .keys()
            .all(|k| k.starts_with("kube-thermostat.io/"))
    );
    assert!(
        annotations.contains_key("kube-thermostat.io/cpu-max"),
        "ours are kept: {annotations:?}"
    );
}

#[test]
fn namespace_filter_keeps_name_and_labels() {
    let config = config_json(&[]);
    let result = gojq(
        &filter_of(&config, "namespaces"),
        &fixture("namespace.json"),
    );
    let namespace: Namespace = serde_json::from_value(result).unwrap();
    assert_eq!(namespace.metadata.name.as_deref(), Some("shop"));
    assert_eq!(
        namespace.metadata.labels.unwrap()["kube-thermostat.io/resize"],
        "true"
    );
    assert!(namespace.metadata.annotations.is_none());
}

#[test]
fn node_filter_keeps_absent_annotations_absent() {
    // The taint patch creates the annotations map only when the node has none: a filter that turned a missing
    // map into `{}` would make every first write to such a node fail its test and cost a re-read.
    let config = config_json(&[]);
    let bare = json!({"metadata": {"name": "n"}, "spec": {}, "status": {}});
    let result = gojq(&filter_of(&config, "nodes"), &bare.to_string());
    assert!(result["metadata"]["annotations"].is_null(), "{result}");
    let node: Node = serde_json::from_value(result).unwrap();
    assert!(node.metadata.annotations.is_none());
}

#[test]
fn pod_filter_keeps_pod_level_resources_and_what_the_kubelet_allocated_of_them() {
    let config = config_json(&[]);
    // As a 1.36+ kubelet reports a pod with pod-level resources (pkg/kubelet/kubelet_pods.go,
    // generateAPIPodStatus: status.allocatedResources and status.resources at pod level).
    let pod = json!({"metadata": {"name": "p", "namespace": "n"},
                     "spec": {"resources": {"limits": {"cpu": "2"}}, "containers": [{"name": "c"}]},
                     "status": {"phase": "Running", "qosClass": "Burstable",
                                "allocatedResources": {"cpu": "2"},
                                "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}}});
    let result = gojq(&filter_of(&config, "pods"), &pod.to_string());
    assert_eq!(result["spec"]["resources"], json!({"limits": {"cpu": "2"}}));
    assert_eq!(result["status"]["allocatedResources"], json!({"cpu": "2"}));
    assert_eq!(
        result["status"]["resources"],
        json!({"requests": {"cpu": "2"}, "limits": {"cpu": "2"}})
    );
    assert!(result["status"].get("qosClass").is_none(), "{result}");
    // Without pod-level resources nothing reads them: dropped (a 1.36+ kubelet reports them for every pod).
    let mut plain = pod;
    plain["spec"].as_object_mut().unwrap().remove("resources");
    let result = gojq(&filter_of(&config, "pods"), &plain.to_string());
    assert_eq!(
        result["status"]["allocatedResources"],
        Value::Null,
        "{result}"
    );
    assert_eq!(result["status"]["resources"], Value::Null, "{result}");
}

#[test]
fn pod_filter_copes_with_a_minimal_pod() {
    let config = config_json(&[]);
    let minimal = json!({"metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": [{"name": "c"}]}});
    let result = gojq(&filter_of(&config, "pods"), &minimal.to_string());
    let pod: Pod = serde_json::from_value(result)
        .expect("a pod without status or init containers still decodes");
    assert_eq!(pod.spec.unwrap().containers[0].name, "c");
}

// ---- shell-operator's v1 config schema, as rules (pkg/hook/config/schemas.go) -----------------------------

/// Checks what shell-operator's start-up validation checks: known keys only at every level, no nulls, the right
/// types and enums, non-empty arrays where required, and `includeSnapshotsFrom` naming existing bindings.
fn assert_shell_operator_accepts(config: &Value) {
    assert_no_nulls(config, "$");
    let top = config.as_object().expect("config is an object");
    assert_keys(
        top,
        &[
            "configVersion",
            "onStartup",
            "schedule",
            "kubernetes",
            "settings",
        ],
        "$",
    );
    assert_eq!(top.get("configVersion"), Some(&json!("v1")));
    assert!(
        top.len() >= 2,
        "a config of configVersion alone is rejected"
    );
    if let Some(order) = top.get("onStartup") {
        assert!(order.is_u64(), "onStartup is an integer");
    }
    let mut binding_names = Vec::new();
    if let Some(kubernetes) = top.get("kubernetes") {
        let bindings = kubernetes.as_array().expect("kubernetes is an array");
        assert!(!bindings.is_empty(), "kubernetes: minItems 1");
        for (i, binding) in bindings.iter().enumerate() {
            let at = format!("$.kubernetes[{i}]");
            let fields = binding.as_object().unwrap();
            assert_keys(
                fields,
                &[
                    "name",
                    "apiVersion",
                    "kind",
                    "includeSnapshotsFrom",
                    "queue",
                    "jqFilter",
                    "keepFullObjectsInMemory",
                    "allowFailure",
                    "executeHookOnSynchronization",
                    "waitForSynchronization",
                    "resynchronizationPeriod",
                    "nameSelector",
                    "labelSelector",
                    "fieldSelector",
                    "group",
                    "namespace",
                    "executeHookOnEvent",
                    "watchEvent",
                ],
                &at,
            );
            assert!(fields["kind"].is_string(), "{at}.kind is required");
            for key in ["name", "apiVersion", "queue", "jqFilter"] {
                assert!(
                    fields.get(key).is_none_or(Value::is_string),
                    "{at}.{key} is a string"
                );
            }
            for key in [
                "keepFullObjectsInMemory",
                "executeHookOnSynchronization",
                "allowFailure",
            ] {
                assert!(
                    fields.get(key).is_none_or(Value::is_boolean),
                    "{at}.{key} is a boolean"
                );
            }
            if let Some(events) = fields.get("executeHookOnEvent") {
                for event in events.as_array().unwrap() {
                    assert!(["Added", "Modified", "Deleted"].contains(&event.as_str().unwrap()));
                }
            }
            if let Some(selector) = fields.get("fieldSelector") {
                let selector = selector.as_object().unwrap();
                assert_keys(
                    selector,
                    &["matchExpressions"],
                    &format!("{at}.fieldSelector"),
                );
                for expression in selector["matchExpressions"].as_array().unwrap() {
                    let expression = expression.as_object().unwrap();
                    assert_eq!(expression.len(), 3, "field, operator and value");
                    assert_keys(
                        expression,
                        &["field", "operator", "value"],
                        &format!("{at}.fieldSelector"),
                    );
                    let operator = expression["operator"].as_str().unwrap();
                    assert!(["=", "==", "Equals", "!=", "NotEquals"].contains(&operator));
                }
            }
            binding_names.push(fields["name"].as_str().unwrap().to_owned());
        }
    }
    if let Some(schedule) = top.get("schedule") {
        let bindings = schedule.as_array().expect("schedule is an array");
        assert!(!bindings.is_empty(), "schedule: minItems 1");
        for (i, binding) in bindings.iter().enumerate() {
            let at = format!("$.schedule[{i}]");
            let fields = binding.as_object().unwrap();
            assert_keys(
                fields,
                &[
                    "name",
                    "crontab",
                    "allowFailure",
                    "includeSnapshotsFrom",
                    "queue",
                    "group",
                ],
                &at,
            );
            assert!(fields["crontab"].is_string(), "{at}.crontab is required");
            assert!(fields.get("allowFailure").is_none_or(Value::is_boolean));
            if let Some(names) = fields.get("includeSnapshotsFrom") {
                let names = names.as_array().unwrap();
                assert!(!names.is_empty(), "{at}.includeSnapshotsFrom: minItems 1");
                for name in names {
                    assert!(
                        binding_names.contains(&name.as_str().unwrap().to_owned()),
                        "{at}: unknown {name}"
                    );
                }
            }
        }
    }
}

fn assert_keys(object: &serde_json::Map<String, Value>, allowed: &[&str], at: &str) {
    for key in object.keys() {
        assert!(
            allowed.contains(&key.as_str()),
            "{at}: key {key:?} is rejected by shell-operator"
        );
    }
}

fn assert_no_nulls(value: &Value, at: &str) {
    match value {
        Value::Null => panic!("{at} is null: shell-operator rejects nulls"),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| assert_no_nulls(v, &format!("{at}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| assert_no_nulls(v, &format!("{at}.{k}"))),
        _ => {}
    }
}

/// shell-operator checks every crontab with robfig/cron v2 at config load and stops entirely on a refusal
/// (`pkg/hook/config/config_v1.go`): `--config` judges each spec the same way, naming the setting.
#[test]
fn crontabs_are_judged_at_config_as_shell_operators_parser_judges_them() {
    // Accepted by robfig/cron v2, printed as given.
    for spec in [
        "TZ=UTC 0 3 * * *",
        "TZ=Europe/Berlin @daily",
        "*/30 * * * * *",
        "0 0 9-17 ? * mon-fri",
        "@every 1h30m",
        "@annually",
    ] {
        let config = config_json(&[("TAINT_SCHEDULE", spec)]);
        assert_eq!(config["schedule"][0]["crontab"], spec);
    }
    // Refused by it (or, for the step of 0, hanging it), each with what is wrong.
    for (spec, why) in [
        (
            "60 * * * *",
            "minutes field \"60\": 60 is above the maximum 59",
        ),
        (
            "* * * * 7",
            "day of week field \"7\": 7 is above the maximum 6",
        ),
        (
            "* * 0 * *",
            "day of month field \"0\": 0 is below the minimum 1",
        ),
        ("* * * * * * *", "found 7"),
        ("*/0 * * * *", "a step of 0"),
        ("@every 1 minute", "not a Go duration"),
        ("TZ=UTC", "followed by a space"),
    ] {
        let output = hook(&["--config"], &[("TAINT_SCHEDULE", spec)]);
        assert_eq!(output.status.code(), Some(2), "{spec:?}");
        assert!(output.stdout.is_empty(), "{spec:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("TAINT_SCHEDULE (--taint-schedule) = {spec:?}"))
                && stderr.contains(why),
            "{spec:?}: {stderr}"
        );
    }
}

/// The settings a tick refuses, as the binary prints them (`run` stops before reaching any server).
fn refused_settings(env: &[(&str, &str)]) -> Vec<String> {
    let mut env = env.to_vec();
    env.push(("PROMETHEUS_URL", "http://127.0.0.1:1"));
    let output = hook(&["run", "--dry-run"], &env);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = stderr.split("invalid settings:").nth(1).unwrap_or_default();
    report
        .split("\\n  ")
        .skip(1)
        .map(|line| line.split(' ').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_tick_reports_each_bad_setting_once_and_nothing_derived_from_it() {
    for (env, refused) in [
        (
            &[("CPU_THRESHOLD", "120"), ("HOT_WINDOW", "abc")][..],
            &["CPU_THRESHOLD", "HOT_WINDOW"][..],
        ),
        (
            &[("QUERY_STEP", "often"), ("COOL_WINDOW", "10s")],
            &["QUERY_STEP"],
        ),
        (
            &[("RESIZE_CPU_LOW", "lots"), ("RESIZE_CPU_MAX", "none")],
            &["RESIZE_CPU_LOW", "RESIZE_CPU_MAX"],
        ),
        (
            &[
                ("TAINT_EFFECT", "NoExecute"),
                ("ALLOW_NO_EXECUTE", "perhaps"),
            ],
            &["ALLOW_NO_EXECUTE"],
        ),
        (
            &[("RESIZE_CPU_HIGH", "50"), ("MEMORY_THRESHOLD", "x")],
            &["RESIZE_CPU_TARGET", "MEMORY_THRESHOLD"],
        ),
    ] {
        assert_eq!(refused_settings(env), refused, "{env:?}");
    }
}
