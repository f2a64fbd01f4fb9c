//! The synthetic cluster the demo and the benchmarks run on: its Rust-made snapshots equal gojq's through the
//! real jqFilters, and a tick of each controller on it gives the outcome its generated truth says.

use crate::support;

use thermostat_rig::synthetic::{self, Spec, SyntheticCluster};

const TAINT_KEY: &str = "kube-thermostat.io/hot";

#[test]
fn rust_made_snapshots_equal_gojq_and_ticks_match_the_generated_truth() {
    let cluster = support::cluster();
    let generated = SyntheticCluster::generate(&Spec::new(20, 300));
    generated.put_objects(&cluster.api);
    generated
        .push_load(&cluster.prometheus, &cluster.timeline)
        .unwrap();

    let config = cluster.hook_config(&[]);
    let mut sample = cluster.api.list("Node");
    sample.extend(cluster.api.list("Pod").into_iter().take(40));
    sample.extend(cluster.api.list("Namespace"));
    synthetic::check_filters_match_gojq(&config, &sample).unwrap();

    let foreign = SyntheticCluster::foreign_taints(&cluster.api, TAINT_KEY);
    let context = synthetic::binding_context(&cluster.api, &config, "taint-nodes");
    cluster.run_hook(&context, &[]).assert_success();
    let taints = generated.check_taints(&cluster.api, TAINT_KEY, 0.3, &foreign);
    assert!(taints.problems.is_empty(), "{:#?}", taints.problems);
    assert_eq!(taints.tainted, generated.truth.hot_nodes().len());

    let context = synthetic::binding_context(&cluster.api, &config, "resize-pods");
    let output = cluster.run_hook(&context, &[]);
    output.assert_success();
    let resizes = generated.check_resizes(&cluster.api);
    assert!(
        resizes.problems.is_empty(),
        "{:#?}\n{}",
        resizes.problems,
        output.stderr
    );
    assert!(resizes.idle_down > 0, "idle containers are scaled down");
}

/// shell-operator re-parses each line a hook writes: a record over 10,000 characters becomes one truncated field,
/// and a `{...` line it cannot parse in one read is dropped (shell-operator `pkg/executor/executor.go`). Shadow
/// mode on a big cluster must log every decision it logs on a line of its own, each valid and short.
#[test]
fn shadow_mode_on_a_big_cluster_logs_only_short_valid_json_lines() {
    let cluster = support::cluster();
    let generated = SyntheticCluster::generate(&Spec::new(150, 1_500));
    generated.put_objects(&cluster.api);
    generated
        .push_load(&cluster.prometheus, &cluster.timeline)
        .unwrap();
    let env = [("DRY_RUN", "true"), ("LOG_TYPE", "json")];
    let config = cluster.hook_config(&env);
    for binding in ["resize-pods", "taint-nodes"] {
        let context = synthetic::binding_context(&cluster.api, &config, binding);
        let output = cluster.run_hook(&context, &env);
        output.assert_success();
        let mut decisions = 0;
        let mut summary = None;
        for line in output.stderr.lines() {
            assert!(
                line.len() < 10_000,
                "{binding}: a {}-character log line, which shell-operator would cut: {}...",
                line.len(),
                &line[..200]
            );
            let record: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{binding}: not one JSON object ({e}): {line}"));
            assert!(record["msg"].is_string(), "{line}");
            match record["msg"].as_str() {
                Some("shadow mode: would") => decisions += 1,
                Some("shadow mode: plan not applied") => summary = Some(record.clone()),
                _ => {}
            }
        }
        let summary = summary.unwrap_or_else(|| panic!("{binding}: no summary\n{}", output.stderr));
        let total = summary["decisions"].as_u64().unwrap() as usize;
        assert!(decisions > 0, "{binding}: decisions are logged");
        assert_eq!(
            decisions,
            total.min(kube_thermostat::tick::SHADOW_LOG_MAX_DECISIONS),
            "{binding}: {summary}"
        );
        if total > decisions {
            assert_eq!(summary["not_logged"], total - decisions, "{summary}");
        }
        assert_eq!(
            cluster.writes_to_the_cluster(),
            0,
            "shadow mode writes nothing but its counter totals on its own pod"
        );
    }
}
