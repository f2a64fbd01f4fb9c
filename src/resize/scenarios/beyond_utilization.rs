//! Scenarios of the signals beyond utilization (issue 18): CPU throttling, the long view, OOM kills.

use super::*;
use k8s_openapi::jiff::SignedDuration;

/// `world` with the container's CPU statistics changed by `change`.
fn with_cpu(mut world: World, change: impl FnOnce(&mut ContainerStats)) -> World {
    let key = ContainerKey::new(NS, "web-1", "app");
    change(world.cpu.get_mut(&key).expect("cpu load of web-1/app"));
    world
}

fn guaranteed_cpu(short: f64, peak: f64) -> World {
    World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", short, peak)
}

#[test]
fn a_container_throttled_below_the_high_mark_scales_up_as_if_it_used_its_limit() {
    // 50 % of the limit on average, yet throttled in 25 % of its CFS periods: demand >= 1000m → 1000m / 60 %.
    let world = with_cpu(guaranteed_cpu(0.5, 0.6), |s| s.throttled_short = Some(0.25));
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.direction, Direction::Up);
    assert_eq!(change.to, v(Some(1670), Some(1670)));
    assert!(
        change.why.contains("throttled in 25% of CPU periods"),
        "{}",
        change.why
    );
}

#[test]
fn throttling_below_its_mark_or_turned_off_changes_nothing() {
    let world = with_cpu(guaranteed_cpu(0.5, 0.6), |s| s.throttled_short = Some(0.05));
    assert!(world.plan().pods.is_empty(), "{}", world.plan());

    let mut off = with_cpu(guaranteed_cpu(0.5, 0.6), |s| s.throttled_short = Some(0.5));
    off.policy.cpu_throttle_percent = 0.0;
    assert!(off.plan().pods.is_empty(), "{}", off.plan());

    // Per pod: a lower mark turns it on for this pod, `0` off.
    for (mark, resized) in [("5", true), ("0", false)] {
        let mut pod = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
        pod.metadata.annotations = Some(
            [(
                "kube-thermostat.io/cpu-throttle".to_string(),
                mark.to_string(),
            )]
            .into(),
        );
        let world = with_cpu(World::new(vec![pod]).cpu("web-1", "app", 0.5, 0.6), |s| {
            s.throttled_short = Some(0.06)
        });
        assert_eq!(
            !world.plan().pods.is_empty(),
            resized,
            "mark {mark}: {}",
            world.plan()
        );
    }
}

#[test]
fn a_container_throttled_within_the_long_window_is_not_scaled_down() {
    let world = with_cpu(guaranteed_cpu(0.1, 0.2), |s| s.throttled_long = Some(0.3));
    let plan = world.plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(
        reasons(&plan).contains("throttled in 30% of CPU periods within the last 24h"),
        "{plan}"
    );
}

#[test]
fn the_throttling_guard_read_for_the_scale_downs_alone_gives_the_plan_reading_it_for_all_would() {
    // web-1 hot, web-2 idle and throttled within the day, web-3 idle, web-4 between the marks but throttled
    // within the day: a live tick reads the guard only for what a first decision scales down.
    let guaranteed = |name: &str| {
        pod(pod_json(
            name,
            vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
        ))
    };
    let mut full = World::new(
        ["web-1", "web-2", "web-3", "web-4"]
            .map(guaranteed)
            .to_vec(),
    )
    .cpu("web-1", "app", 0.9, 0.95)
    .cpu("web-2", "app", 0.1, 0.2)
    .cpu("web-3", "app", 0.1, 0.2)
    .cpu("web-4", "app", 0.5, 0.6);
    for (pod, throttled) in [
        ("web-1", 0.0),
        ("web-2", 0.3),
        ("web-3", 0.0),
        ("web-4", 0.4),
    ] {
        full.cpu
            .get_mut(&ContainerKey::new(NS, pod, "app"))
            .unwrap()
            .throttled_long = Some(throttled);
    }

    let mut live = World::new(full.pods.clone());
    live.cpu = full.cpu.clone();
    for stats in live.cpu.values_mut() {
        stats.throttled_long = None;
    }
    let candidates = live.cpu_scale_downs();
    assert_eq!(
        candidates,
        vec![
            ContainerKey::new(NS, "web-2", "app"),
            ContainerKey::new(NS, "web-3", "app")
        ]
    );
    for key in &candidates {
        live.cpu.get_mut(key).unwrap().throttled_long = full.cpu[key].throttled_long;
    }
    let plan = live.plan();
    assert_eq!(plan, full.plan());
    let resized: Vec<&str> = plan.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(resized, ["web-1", "web-3"], "{plan}");
    assert!(
        reasons(&plan).contains("throttled in 30% of CPU periods"),
        "{plan}"
    );
    // The container between the marks says so, throttled or not: the guard only holds a scale-down.
    assert!(!reasons(&plan).contains("throttled in 40%"), "{plan}");
}

#[test]
fn unknown_throttling_holds_a_scale_down_with_the_long_view_on_or_off() {
    for long_window in [
        std::time::Duration::from_secs(24 * 3600),
        std::time::Duration::ZERO,
    ] {
        let mut world = with_cpu(guaranteed_cpu(0.1, 0.2), |s| s.throttling_unknown = true);
        world.policy.windows.long_window = long_window;
        let plan = world.plan();
        assert!(plan.pods.is_empty(), "{plan}");
        assert!(
            reasons(&plan).contains("no throttling history (RESIZE_CPU_THROTTLE)"),
            "{plan}"
        );
        // With throttling off nothing is waited for.
        world.policy.cpu_throttle_percent = 0.0;
        assert_eq!(only_change(&world.plan()).direction, Direction::Down);
    }
}

#[test]
fn a_daily_peak_in_the_long_view_holds_a_scale_down_the_last_half_hour_would_make() {
    // Idle for the last 30 minutes (peak 20 %), but p95 of the day is 70 %: between the marks.
    let world = with_cpu(guaranteed_cpu(0.1, 0.2), |s| s.long = Some(0.7));
    let plan = world.plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("long view 70%"), "{plan}");

    // Without the long view (globally, or for this pod) the same container shrinks.
    let mut off = with_cpu(guaranteed_cpu(0.1, 0.2), |s| s.long = Some(0.7));
    off.policy.windows.long_window = std::time::Duration::ZERO;
    assert_eq!(only_change(&off.plan()).direction, Direction::Down);
    let mut pod = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    pod.metadata.annotations = Some(
        [(
            "kube-thermostat.io/long-view".to_string(),
            "off".to_string(),
        )]
        .into(),
    );
    let world = with_cpu(World::new(vec![pod]).cpu("web-1", "app", 0.1, 0.2), |s| {
        s.long = Some(0.7)
    });
    assert_eq!(only_change(&world.plan()).direction, Direction::Down);
}

#[test]
fn a_scale_down_is_sized_for_the_long_view_when_it_is_above_the_recent_peak() {
    // Peak 100m over 30m, p95 280m over the day: 280m / 60 % = 467m → 470m (the /4 step cap allows it).
    let mut world = with_cpu(guaranteed_cpu(0.05, 0.1), |s| s.long = Some(0.28));
    world.policy.max_step_down = 4.0;
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.direction, Direction::Down);
    assert_eq!(change.to, v(Some(470), Some(470)));
    assert!(
        change.why.contains("as did p95 over 24h (280m, 28%)"),
        "{}",
        change.why
    );
}

#[test]
fn no_long_view_data_holds_the_scale_down_but_not_the_scale_up() {
    let world = with_cpu(guaranteed_cpu(0.1, 0.2), |s| s.long = None);
    let plan = world.plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("no long-view data"), "{plan}");

    let hot = with_cpu(guaranteed_cpu(0.9, 0.95), |s| s.long = None);
    assert_eq!(only_change(&hot.plan()).direction, Direction::Up);
}

fn oom_killed(mut pod: Pod, finished: Timestamp) -> Pod {
    let mut value = serde_json::to_value(&pod).expect("pod to json");
    value["status"]["containerStatuses"] = json!([{
        "name": "app",
        "resources": {"limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi"}},
        "lastState": {"terminated": {"reason": "OOMKilled", "finishedAt": finished.to_string()}}
    }]);
    pod = serde_json::from_value(value).expect("pod json");
    pod
}

fn memory_world(pod: Pod) -> World {
    let mut world = World::new(vec![pod]);
    world.policy.memory_enabled = true;
    world
}

#[test]
fn an_oom_kill_raises_memory_at_once_even_in_cooldown_and_is_recorded() {
    let killed = minutes_ago(1);
    let recent_up = json!({"app": {"at": minutes_ago(1).to_string(), "direction": "up"}});
    let pod = with_record(
        oom_killed(memory_pod("1Gi", "1Gi", None), killed),
        recent_up,
    );
    // No usage data at all: the kill alone is the reason.
    let plan = memory_world(pod).plan();
    let change = only_change(&plan).clone();
    assert_eq!(change.direction, Direction::Up);
    // max(1Gi x 1.2, 1Gi + 100Mi) = 1228.8Mi → 1229Mi.
    assert_eq!(change.to, v(Some(1229 << 20), Some(1229 << 20)));
    assert!(change.why.starts_with("OOM-killed at"), "{}", change.why);
    assert_eq!(change.oom_killed_at, Some(killed));
    let record: PodRecord = serde_json::from_str(&plan.pods[0].record).expect("record");
    assert_eq!(record["app"].oom_raises, vec![killed]);
}

#[test]
fn an_answered_oom_kill_is_not_raised_twice_and_holds_memory_scale_downs() {
    let killed = minutes_ago(30);
    let answered = json!({"app": {
        "at": minutes_ago(29).to_string(), "direction": "up", "oomRaises": [killed.to_string()]
    }});
    let pod = with_record(oom_killed(memory_pod("2Gi", "2Gi", None), killed), answered);
    let mb = f64::from(1 << 20);
    let world = memory_world(pod).memory("web-1", "app", 200.0 * mb, 200.0 * mb);
    let plan = world.plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("memory is not lowered"), "{plan}");
    // A day later the kill is out of the long window: the idle container shrinks.
    let later = world.plan_at(now() + SignedDuration::from_hours(24));
    assert_eq!(only_change(&later).direction, Direction::Down);
}

#[test]
fn a_container_killed_again_after_its_raises_is_left_alone() {
    let killed = minutes_ago(5);
    let raises: Vec<String> = [600, 300, 60]
        .iter()
        .map(|m| minutes_ago(*m).to_string())
        .collect();
    let record =
        json!({"app": {"at": minutes_ago(60).to_string(), "direction": "up", "oomRaises": raises}});
    let pod = with_record(oom_killed(memory_pod("2Gi", "2Gi", None), killed), record);
    let plan = memory_world(pod).plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(
        reasons(&plan).contains("after 3 memory raises within 24h: not raised again before"),
        "{plan}"
    );
}

#[test]
fn a_back_off_holds_the_oom_raise_and_raising_can_be_turned_off() {
    let killed = minutes_ago(5);
    let backing_off = json!({"app": {
        "at": minutes_ago(20).to_string(), "direction": "up",
        "backoffUntil": (now() + SignedDuration::from_mins(30)).to_string(), "backoffReason": "Infeasible"
    }});
    let pod = with_record(
        oom_killed(memory_pod("1Gi", "1Gi", None), killed),
        backing_off,
    );
    assert!(memory_world(pod).plan().pods.is_empty());

    let mut off = memory_world(oom_killed(memory_pod("1Gi", "1Gi", None), killed));
    off.policy.oom_bump = 1.0;
    assert!(off.plan().pods.is_empty(), "{}", off.plan());
    let mut pod = oom_killed(memory_pod("1Gi", "1Gi", None), killed);
    pod.metadata.annotations =
        Some([("kube-thermostat.io/oom-bump".to_string(), "1".to_string())].into());
    assert!(memory_world(pod).plan().pods.is_empty());
}

#[test]
fn bad_values_of_the_new_annotations_skip_the_pod_with_a_reason() {
    for (name, value, says) in [
        ("oom-bump", "0.5", "from 1 (off) to 10"),
        ("cpu-throttle", "120", "[0, 100]"),
        ("long-view", "maybe", "\"on\" or \"off\""),
    ] {
        let mut pod = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
        pod.metadata.annotations =
            Some([(format!("kube-thermostat.io/{name}"), value.to_string())].into());
        let plan = World::new(vec![pod]).cpu("web-1", "app", 0.9, 0.9).plan();
        assert!(plan.pods.is_empty(), "{plan}");
        let skipped = &plan.notes[0];
        assert_eq!(skipped.kind, NoteKind::Skipped);
        assert!(skipped.reason.contains(says), "{}", skipped.reason);
    }
}

#[test]
fn after_an_oom_kill_a_working_set_that_asks_for_more_than_the_bump_gets_it() {
    let killed = minutes_ago(1);
    let mb = f64::from(1 << 20);
    // 1Gi x 1.2 = 1229Mi, but the working set of 1000Mi asks for 1000Mi / 75 % = 1334Mi.
    let world = memory_world(oom_killed(memory_pod("1Gi", "1Gi", None), killed)).memory(
        "web-1",
        "app",
        1000.0 * mb,
        1000.0 * mb,
    );
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.to, v(Some(1334 << 20), Some(1334 << 20)));
    assert!(change.why.starts_with("OOM-killed at"), "{}", change.why);
    assert!(change.why.contains("working set reached"), "{}", change.why);
    assert_eq!(change.oom_killed_at, Some(killed));
}

#[test]
fn a_pod_younger_than_the_long_view_needs_is_not_scaled_down_but_is_scaled_up() {
    let started = |minutes: i64| {
        let mut pod = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
        let mut value = serde_json::to_value(&pod).expect("pod to json");
        value["status"]["startTime"] = json!(minutes_ago(minutes).to_string());
        pod = serde_json::from_value(value).expect("pod json");
        pod
    };
    let idle = World::new(vec![started(60)]).cpu("web-1", "app", 0.1, 0.2);
    let plan = idle.plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("RESIZE_LONG_MIN_HISTORY"), "{plan}");
    // Old enough, or with the wait turned off: the same container shrinks.
    let old = World::new(vec![started(7 * 60)]).cpu("web-1", "app", 0.1, 0.2);
    assert_eq!(only_change(&old.plan()).direction, Direction::Down);
    let mut no_wait = World::new(vec![started(60)]).cpu("web-1", "app", 0.1, 0.2);
    no_wait.policy.long_min_history = std::time::Duration::ZERO;
    assert_eq!(only_change(&no_wait.plan()).direction, Direction::Down);
    let hot = World::new(vec![started(60)]).cpu("web-1", "app", 0.9, 0.95);
    assert_eq!(only_change(&hot.plan()).direction, Direction::Up);
}

#[test]
fn an_oom_kill_of_a_pod_whose_memory_is_not_ours_leaves_its_cooldown_note() {
    let killed = minutes_ago(1);
    let recent_up = json!({"app": {"at": minutes_ago(1).to_string(), "direction": "up"}});
    let pod = with_record(
        oom_killed(memory_pod("1Gi", "1Gi", None), killed),
        recent_up,
    );
    // Memory resizing off (the default): the kill is not ours to answer, the cooldown says why nothing happens.
    let plan = World::new(vec![pod]).plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("cooldown until"), "{plan}");
}
