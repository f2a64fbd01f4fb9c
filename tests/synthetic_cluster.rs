//! The synthetic cluster the demo and the benchmarks run on: its Rust-made snapshots equal gojq's through the
//! real jqFilters, and a tick of each controller on it gives the outcome its generated truth says.
#![allow(clippy::unwrap_used)]

mod support;

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
