//! Scenarios of a Burstable CPU request sized from usage (`RESIZE_CPU_REQUEST=usage`): the request follows the
//! container's typical use, the limit its peaks, the QoS class stays.

use super::*;
use crate::resize::CpuRequest;

/// A bursty Burstable container: 500m / 2000m, 60 % of its limit at the peak (between the marks), typically
/// `typical` cores (the request percentile of its long view).
fn bursty(typical: f64) -> World {
    let mut world = World::new(vec![app_pod(json!({"cpu": "500m"}), json!({"cpu": "2"}))])
        .cpu("web-1", "app", 0.3, 1.2);
    let key = ContainerKey::new(NS, "web-1", "app");
    let stats = world.cpu.get_mut(&key).expect("cpu load of web-1/app");
    stats.long = Some(1.2);
    stats.long_request = Some(typical);
    world.policy.cpu_request = CpuRequest::Usage;
    world
}

/// 500m / 1000m at 90 % of its limit over the short window (a limit raise to 1500m), typically `typical` cores.
fn hot(typical: Option<f64>) -> World {
    let mut world = World::new(vec![app_pod(json!({"cpu": "500m"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.9, 0.9);
    let key = ContainerKey::new(NS, "web-1", "app");
    world.cpu.get_mut(&key).expect("load").long_request = typical;
    world.policy.cpu_request = CpuRequest::Usage;
    world
}

#[test]
fn a_bursty_container_reserves_its_typical_use_and_keeps_its_limit_for_the_bursts() {
    // p80 100m + 15 % = 115m, but one step divides by at most 2: 500m → 250m; the limit stays.
    let change = only_change(&bursty(0.1).plan()).clone();
    assert_eq!(change.direction, Direction::Down);
    assert_eq!(change.to, v(Some(250), Some(2000)));
    assert!(
        change
            .why
            .contains("request sized to p80 of its 5-minute CPU over 24h (100m) + 15%"),
        "{}",
        change.why
    );
    // Without the step cap it goes the whole way, rounded up to the granularity: 115m → 120m.
    let mut uncapped = bursty(0.1);
    uncapped.policy.max_step_down = 10.0;
    assert_eq!(only_change(&uncapped.plan()).to, v(Some(120), Some(2000)));
}

#[test]
fn with_the_default_ratio_the_same_container_is_left_alone() {
    let mut world = bursty(0.1);
    world.policy.cpu_request = CpuRequest::Ratio;
    let plan = world.plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(
        reasons(&plan).contains("between the 30% and 80% marks"),
        "{plan}"
    );
}

#[test]
fn a_request_rises_with_typical_use_but_stays_below_the_limit() {
    // 600m x 1.15 = 690m.
    let change = only_change(&bursty(0.6).plan()).clone();
    assert_eq!(change.direction, Direction::Up);
    assert_eq!(change.to, v(Some(690), Some(2000)));
    // Typically at the limit: the request stops a granularity step below it, still Burstable.
    let mut near = bursty(1.95);
    near.policy.max_step_up = 10.0;
    assert_eq!(only_change(&near.plan()).to, v(Some(1990), Some(2000)));
}

#[test]
fn when_the_limit_is_raised_the_request_is_sized_from_usage_in_the_same_change() {
    // 90 % of 1000m over the short window: the limit goes to 900m / 60 % = 1500m; the request to 200m x 1.15.
    let world = hot(Some(0.2));
    let change = only_change(&world.plan()).clone();
    // The limit up, the request down: both directions, so the longer (downsize) cooldown follows.
    assert_eq!(change.direction, Direction::Mixed);
    assert_eq!(change.to, v(Some(250), Some(1500)));
    assert!(
        change.why.contains("usage stayed above 80%"),
        "{}",
        change.why
    );
    assert!(
        change.why.contains("; request sized to p80"),
        "{}",
        change.why
    );
}

#[test]
fn without_its_long_view_the_request_stays_and_a_raised_limit_keeps_it() {
    let mut world = bursty(0.1);
    let key = ContainerKey::new(NS, "web-1", "app");
    world.cpu.get_mut(&key).expect("load").long_request = None;
    let plan = world.plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("no long-view data"), "{plan}");

    assert_eq!(only_change(&hot(None).plan()).to, v(Some(500), Some(1500)));
}

#[test]
fn a_young_pod_keeps_its_request_until_its_long_view_is_old_enough() {
    let mut world = bursty(0.1);
    let mut value = serde_json::to_value(&world.pods[0]).expect("pod to json");
    value["status"]["startTime"] = json!(minutes_ago(60).to_string());
    world.pods[0] = serde_json::from_value(value).expect("pod json");
    let plan = world.plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("RESIZE_LONG_MIN_HISTORY"), "{plan}");
    // A rise is not held: too little reserved is the risk.
    let key = ContainerKey::new(NS, "web-1", "app");
    world.cpu.get_mut(&key).expect("load").long_request = Some(0.6);
    assert_eq!(only_change(&world.plan()).to, v(Some(690), Some(2000)));
}

#[test]
fn guaranteed_containers_keep_request_equal_to_limit() {
    let mut world = World::new(vec![app_pod(json!({"cpu": "2"}), json!({"cpu": "2"}))])
        .cpu("web-1", "app", 0.3, 1.2);
    let key = ContainerKey::new(NS, "web-1", "app");
    world.cpu.get_mut(&key).expect("load").long_request = Some(0.1);
    world.policy.cpu_request = CpuRequest::Usage;
    let plan = world.plan();
    assert!(plan.pods.is_empty(), "{plan}");
}

#[test]
fn the_annotation_chooses_per_pod_and_a_bad_value_skips_the_pod() {
    let annotated = |mode: &str, global: CpuRequest| {
        let mut world = bursty(0.1);
        world.policy.cpu_request = global;
        world.pods[0].metadata.annotations = Some(
            [(
                "kube-thermostat.io/cpu-request".to_string(),
                mode.to_string(),
            )]
            .into(),
        );
        world.plan()
    };
    assert_eq!(
        only_change(&annotated("usage", CpuRequest::Ratio)).to,
        v(Some(250), Some(2000))
    );
    assert!(annotated("ratio", CpuRequest::Usage).pods.is_empty());
    let plan = annotated("half", CpuRequest::Usage);
    assert!(plan.pods.is_empty(), "{plan}");
    assert_eq!(plan.notes[0].kind, NoteKind::Skipped);
    assert!(
        plan.notes[0]
            .reason
            .contains("must be \"ratio\" or \"usage\""),
        "{}",
        plan.notes[0].reason
    );
}

#[test]
fn on_a_full_node_only_the_request_is_cut_and_the_limit_is_not_raised() {
    // 500m → 690m wanted, 100m free on the node: 600m, the 2-core limit as it was.
    let mut world = bursty(0.6);
    world.nodes = vec![node("600m", "64Gi")];
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.to, v(Some(600), Some(2000)));
    assert!(change.why.contains("cut from"), "{}", change.why);
}

#[test]
fn a_limit_raised_while_its_request_falls_is_both_directions() {
    let world = hot(Some(0.2));
    assert_eq!(only_change(&world.plan()).direction, Direction::Mixed);
}
