//! taint-nodes end to end: the real binary, a real Prometheus with pushed history, the API stand-in.

mod support;

use serde_json::json;
use support::Profile;

#[test]
fn hot_node_is_tainted_cool_node_is_not_and_a_second_tick_writes_nothing() {
    let cluster = support::cluster();
    cluster.add_node("hot-1", json!({}));
    cluster.add_node("cool-1", json!({}));
    cluster.add_node("cool-2", json!({}));
    cluster.add_node("cool-3", json!({}));
    cluster.node_load("hot-1", Profile::Constant(0.95));
    for node in ["cool-1", "cool-2", "cool-3"] {
        cluster.node_load(node, Profile::Constant(0.20));
    }

    let first = cluster.tick("taint-nodes", &[]);
    first.assert_success();
    assert_eq!(
        cluster.taints("hot-1"),
        json!([{"key": "node.kubernetes.io/pressure", "value": "true", "effect": "NoSchedule"}]),
        "{}",
        first.stderr
    );
    assert!(cluster.taints("cool-1").is_null());
    assert_eq!(
        cluster.api.count("list", "nodes"),
        0,
        "snapshots replace the LIST"
    );
    assert_eq!(
        cluster.api.count("patch", "nodes"),
        1,
        "one write: the node whose taint changes"
    );
    assert_eq!(
        first.metric(
            "kube_thermostat_tick_prometheus_queries",
            &[("controller", "taint-nodes")]
        ),
        Some(1.0)
    );
    let annotation =
        cluster.node("hot-1")["metadata"]["annotations"]["kube-thermostat.io/taint"].clone();
    assert!(
        annotation.as_str().unwrap().contains("NoSchedule"),
        "{annotation}"
    );
    assert!(
        cluster
            .api
            .events()
            .iter()
            .any(|e| e["reason"] == "ThermostatTainted"),
        "{}",
        first.stderr
    );

    cluster.api.reset_requests();
    let second = cluster.tick("taint-nodes", &[]);
    second.assert_success();
    assert_eq!(
        cluster.api.count("patch", "nodes"),
        0,
        "unchanged load makes no writes:\n{}",
        second.stderr
    );
}
