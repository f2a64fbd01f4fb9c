//! Scenario tests of the pure resize core: given pods, nodes and load, when deciding, then the plan.

use super::decide::ResizeInput;
use super::eligibility::is_opted_in;
use super::owners::owner_of;
use super::patch::{annotation_patch, resize_patch};
use super::plan::{Note, NoteKind, PodAction, ResizePlan, ResourceChange};
use super::record::{Direction, LAST_RESIZE_ANNOTATION, PodRecord};
use super::signals::{ContainerKey, ContainerStats, SignalTable};
use super::values::Values;
use super::{ResizePolicy, decide_resizes};
use crate::model::pod::Pod;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use proptest::prelude::*;
use serde_json::{Value, json};

mod beyond_utilization;
mod usage_sized_request;

const NS: &str = "shop";

fn now() -> Timestamp {
    "2025-06-01T12:00:00Z".parse().expect("timestamp")
}

fn minutes_ago(m: i64) -> Timestamp {
    now() - k8s_openapi::jiff::SignedDuration::from_mins(m)
}

fn container(name: &str, requests: Value, limits: Value) -> Value {
    json!({"name": name, "resources": {"requests": requests, "limits": limits}})
}

fn pod_json(name: &str, containers: Vec<Value>) -> Value {
    json!({
        "metadata": {
            "name": name, "namespace": NS, "resourceVersion": "100", "generation": 1,
            "labels": {"kube-thermostat.io/resize": "true", "pod-template-hash": "7d9f8b"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8b", "uid": "u1", "controller": true}]
        },
        "spec": {"nodeName": "node-1", "containers": containers},
        "status": {"phase": "Running", "observedGeneration": 1}
    })
}

fn pod(value: Value) -> Pod {
    serde_json::from_value(value).expect("pod json")
}

fn app_pod(requests: Value, limits: Value) -> Pod {
    pod(pod_json("web-1", vec![container("app", requests, limits)]))
}

fn node(cpu: &str, memory: &str) -> Node {
    serde_json::from_value(json!({"metadata": {"name": "node-1"}, "status": {"allocatable": {"cpu": cpu, "memory": memory}}}))
        .expect("node json")
}

/// Short-window minimum and maximum `short`, stabilization peak `peak`, full history.
fn load(pod: &str, container: &str, short: f64, peak: f64) -> (ContainerKey, ContainerStats) {
    (
        ContainerKey::new(NS, pod, container),
        ContainerStats {
            short_min: Some(short),
            short_max: Some(short),
            peak: Some(peak.max(short)),
            samples: Some(60.0),
            short_samples: Some(6.0),
            // A steady load: the long view saw nothing above the window's peak.
            long: Some(peak.max(short)),
            ..ContainerStats::default()
        },
    )
}

struct World {
    pods: Vec<Pod>,
    nodes: Vec<Node>,
    others: Vec<Pod>,
    hpas: Vec<HorizontalPodAutoscaler>,
    vpas: Vec<Value>,
    minor: u32,
    cpu: SignalTable,
    memory: SignalTable,
    policy: ResizePolicy,
    explain_unchanged: bool,
}

impl World {
    fn new(pods: Vec<Pod>) -> World {
        World {
            pods,
            nodes: vec![node("16", "64Gi")],
            others: Vec::new(),
            hpas: Vec::new(),
            vpas: Vec::new(),
            minor: 34,
            cpu: SignalTable::new(),
            memory: SignalTable::new(),
            policy: ResizePolicy::default(),
            explain_unchanged: true,
        }
    }
    fn cpu(mut self, pod: &str, container: &str, short: f64, peak: f64) -> World {
        let (k, v) = load(pod, container, short, peak);
        self.cpu.insert(k, v);
        self
    }
    fn memory(mut self, pod: &str, container: &str, short: f64, peak: f64) -> World {
        let (k, v) = load(pod, container, short, peak);
        self.memory.insert(k, v);
        self.policy.memory_enabled = true;
        self
    }
    fn plan_at(&self, at: Timestamp) -> ResizePlan {
        self.with_input(|input| decide_resizes(input, &self.policy, at))
    }
    /// The containers whose CPU the plan lowers: what a live tick reads the throttling guard for.
    fn cpu_scale_downs(&self) -> Vec<ContainerKey> {
        self.with_input(|input| crate::resize::cpu_scale_downs(input, &self.policy, now()))
    }
    fn with_input<T>(&self, decide: impl FnOnce(&ResizeInput) -> T) -> T {
        let mut all = self.pods.clone();
        all.extend(self.others.iter().cloned());
        let opted_in: Vec<&Pod> = self.pods.iter().collect();
        let input = ResizeInput {
            pods: &opted_in,
            nodes: &self.nodes,
            all_pods: &all,
            hpas: &self.hpas,
            vpas: &self.vpas,
            limit_ranges: &[],
            resource_quotas: &[],
            server_minor: self.minor,
            cpu: &self.cpu,
            memory: &self.memory,
            explain_unchanged: self.explain_unchanged,
            reserved: None,
        };
        decide(&input)
    }
    fn plan(&self) -> ResizePlan {
        self.plan_at(now())
    }
}

fn only_change(plan: &ResizePlan) -> &ResourceChange {
    assert_eq!(plan.pods.len(), 1, "{plan}");
    assert_eq!(plan.pods[0].containers.len(), 1, "{plan}");
    assert_eq!(plan.pods[0].containers[0].changes.len(), 1, "{plan}");
    &plan.pods[0].containers[0].changes[0]
}

fn v(request: Option<i64>, limit: Option<i64>) -> Values {
    Values { request, limit }
}

fn reasons(plan: &ResizePlan) -> String {
    plan.notes
        .iter()
        .map(|n| n.reason.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn hot_container_scales_up_to_the_target_utilization() {
    // 900m used of a 1-core Guaranteed limit: 90 % > 80 % → 900m / 60 % = 1500m.
    let world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.9, 0.95);
    let plan = world.plan();
    let change = only_change(&plan);
    assert_eq!(change.direction, Direction::Up);
    assert_eq!(change.to, v(Some(1500), Some(1500)));
    assert!(change.why.contains("above 80%"), "{}", change.why);
    assert_eq!(
        plan.pods[0].event.as_ref().map(|e| e.reason.as_str()),
        Some("ThermostatResized")
    );
}

#[test]
fn idle_container_scales_down_to_peak_over_target() {
    // Peak 290m of 1000m (29 % < 30 %) over the full window; with a 50 % target → 580m.
    // (With the default 60 % target any peak under 30 % asks for less than half: the /2 cap applies.)
    let mut pod = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    pod.metadata.annotations = Some(
        [(
            "kube-thermostat.io/cpu-target".to_string(),
            "50".to_string(),
        )]
        .into(),
    );
    let world = World::new(vec![pod]).cpu("web-1", "app", 0.1, 0.29);
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.direction, Direction::Down);
    assert_eq!(change.to, v(Some(580), Some(580)));
    assert!(
        change.why.contains("stayed below 30% over 30m"),
        "{}",
        change.why
    );
}

#[test]
fn usage_between_the_marks_changes_nothing() {
    let world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.5, 0.7);
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(
        reasons(&plan).contains("between the 30% and 80% marks"),
        "{plan}"
    );
}

#[test]
fn kept_containers_are_counted_but_noted_only_when_the_plan_is_shown() {
    let mut pods: Vec<Pod> = (1..=3)
        .map(|i| {
            pod(pod_json(
                &format!("web-{i}"),
                vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
            ))
        })
        .collect();
    pods.push(pod(pod_json(
        "web-4",
        vec![container("app", json!({}), json!({}))],
    )));
    let mut world = World::new(pods)
        .cpu("web-1", "app", 0.5, 0.7)
        .cpu("web-2", "app", 0.95, 0.99)
        .cpu("web-3", "app", 0.6, 0.7);
    let shown = world.plan();
    world.explain_unchanged = false;
    let quiet = world.plan();

    assert_eq!(
        shown.unchanged, 3,
        "web-1, web-3 between the marks; web-4 BestEffort\n{shown}"
    );
    assert_eq!(quiet.unchanged, shown.unchanged);
    assert_eq!(quiet.pods, shown.pods, "the same writes");
    assert!(
        quiet.notes.iter().all(|n| n.kind != NoteKind::Unchanged),
        "{quiet}"
    );
    let others = |plan: &ResizePlan| -> Vec<Note> {
        plan.notes
            .iter()
            .filter(|n| n.kind != NoteKind::Unchanged)
            .cloned()
            .collect()
    };
    assert_eq!(others(&quiet), others(&shown));
}

#[test]
fn small_changes_within_tolerance_are_not_made() {
    // 81 % of 1000m → wanted 1350m, but a cpu-target of 75 % asks for 1080m: within 10 %.
    let mut pod = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    pod.metadata.annotations = Some(
        [(
            "kube-thermostat.io/cpu-target".to_string(),
            "75".to_string(),
        )]
        .into(),
    );
    let plan = World::new(vec![pod]).cpu("web-1", "app", 0.81, 0.81).plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("tolerance"), "{plan}");
}

fn annotated(mut pod: Pod, annotations: &[(&str, &str)]) -> Pod {
    pod.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(key, value)| (format!("kube-thermostat.io/{key}"), value.to_string()))
            .collect(),
    );
    pod
}

#[test]
fn a_pod_meant_to_run_hot_keeps_its_size_with_its_own_marks() {
    // A Guaranteed batch worker at 90 % of its 2 cores: hot by the default 80 % mark, between its own 95 %.
    let guaranteed = || app_pod(json!({"cpu": "2"}), json!({"cpu": "2"}));
    let hot = World::new(vec![guaranteed()]).cpu("web-1", "app", 1.8, 1.8);
    let change = only_change(&hot.plan()).clone();
    assert_eq!(change.direction, Direction::Up);

    let own_marks = annotated(guaranteed(), &[("cpu-high", "95"), ("cpu-target", "90%")]);
    let plan = World::new(vec![own_marks.clone()])
        .cpu("web-1", "app", 1.8, 1.8)
        .plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("95%"), "{plan}");

    // Past its own mark it grows to its own target: 2000m / 90 % = 2223m → 2230m.
    let change = only_change(
        &World::new(vec![own_marks])
            .cpu("web-1", "app", 2.0, 2.0)
            .plan(),
    )
    .clone();
    assert_eq!(change.to, v(Some(2230), Some(2230)));
    assert!(change.why.contains("above 95%"), "{}", change.why);
}

#[test]
fn a_pods_own_low_mark_lets_it_shrink_sooner() {
    // Peak 450m of 1000m: 45 %, between the default marks; under a low mark of 50 % → 450m / 60 % = 750m.
    let pod = || app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    let plan = World::new(vec![pod()])
        .cpu("web-1", "app", 0.4, 0.45)
        .plan();
    assert!(plan.is_empty(), "{plan}");
    let world =
        World::new(vec![annotated(pod(), &[("cpu-low", "50")])]).cpu("web-1", "app", 0.4, 0.45);
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.direction, Direction::Down);
    assert_eq!(change.to, v(Some(750), Some(750)));
    assert!(change.why.contains("below 50%"), "{}", change.why);
}

#[test]
fn a_target_outside_the_marks_skips_the_pod_naming_both_sources() {
    // A target at or above the high mark would shrink a hot container; at or below the low mark, grow an idle one.
    for (annotations, expected) in [
        (
            vec![("cpu-target", "90")],
            "cpu marks RESIZE_CPU_LOW (30) < kube-thermostat.io/cpu-target (90) < RESIZE_CPU_HIGH (80) do not hold",
        ),
        (
            vec![("cpu-low", "70")],
            "cpu marks kube-thermostat.io/cpu-low (70) < RESIZE_CPU_TARGET (60) < RESIZE_CPU_HIGH (80) do not hold",
        ),
        (
            vec![("cpu-high", "50"), ("cpu-target", "50")],
            "cpu marks RESIZE_CPU_LOW (30) < kube-thermostat.io/cpu-target (50) < kube-thermostat.io/cpu-high (50) \
             do not hold",
        ),
    ] {
        let pod = annotated(
            app_pod(json!({"cpu": "1"}), json!({"cpu": "1"})),
            &annotations,
        );
        let plan = World::new(vec![pod]).cpu("web-1", "app", 0.95, 0.95).plan();
        assert!(plan.is_empty(), "{plan}");
        assert_eq!(plan.notes[0].kind, NoteKind::Skipped, "{plan}");
        assert!(plan.notes[0].reason.starts_with(expected), "{plan}");
    }
    // With cpu off for the pod its marks do not matter: not skipped.
    let pod = annotated(
        app_pod(json!({"cpu": "1"}), json!({"cpu": "1"})),
        &[("cpu", "off"), ("cpu-target", "90")],
    );
    let plan = World::new(vec![pod]).cpu("web-1", "app", 0.95, 0.95).plan();
    assert!(
        plan.notes.iter().all(|note| note.kind != NoteKind::Skipped),
        "{plan}"
    );
    let pod = annotated(
        app_pod(json!({"cpu": "1"}), json!({"cpu": "1"})),
        &[("cpu-high", "high")],
    );
    let plan = World::new(vec![pod]).cpu("web-1", "app", 0.95, 0.95).plan();
    assert_eq!(
        plan.notes[0].reason,
        "annotation kube-thermostat.io/cpu-high = \"high\": must be a percentage in (0, 100]"
    );
}

#[test]
fn scale_up_is_capped_at_twice_and_scale_down_at_half() {
    // No limit: 500m used of a 100m request wants 834m, capped at 200m.
    let hot =
        World::new(vec![app_pod(json!({"cpu": "100m"}), json!({}))]).cpu("web-1", "app", 0.5, 0.5);
    let change = only_change(&hot.plan()).clone();
    assert_eq!(change.to, v(Some(200), None));
    assert!(change.why.contains("step capped at x2"), "{}", change.why);

    let idle = World::new(vec![app_pod(json!({"cpu": "4"}), json!({"cpu": "4"}))])
        .cpu("web-1", "app", 0.01, 0.01);
    let change = only_change(&idle.plan()).clone();
    assert_eq!(change.to, v(Some(2000), Some(2000)));
    assert!(change.why.contains("step capped at /2"), "{}", change.why);
}

#[test]
fn new_sizes_round_up_to_the_granularity() {
    // 850m / 60 % = 1416.7m → 1420m.
    let world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.85, 0.85);
    assert_eq!(only_change(&world.plan()).to, v(Some(1420), Some(1420)));
}

#[test]
fn float_noise_in_measured_usage_does_not_add_a_granularity_step() {
    // Regression: a steady 480m read back from Prometheus' rate() as 480.0000001m was sized 810m.
    let world = World::new(vec![app_pod(
        json!({"cpu": "500m"}),
        json!({"cpu": "500m"}),
    )])
    .cpu("web-1", "app", 0.480_000_000_1, 0.480_000_000_1);
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.to, v(Some(800), Some(800)));
    assert!(change.why.contains("at least 480m"), "{}", change.why);
    // A real excess still rounds up.
    let world = World::new(vec![app_pod(
        json!({"cpu": "500m"}),
        json!({"cpu": "500m"}),
    )])
    .cpu("web-1", "app", 0.4801, 0.4801);
    assert_eq!(only_change(&world.plan()).to, v(Some(810), Some(810)));
}

#[test]
fn global_and_annotation_bounds_clamp_the_new_size() {
    let mut world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.95, 0.95);
    world.policy.cpu_max_millis = 1200;
    assert_eq!(only_change(&world.plan()).to, v(Some(1200), Some(1200)));

    let mut pod = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    pod.metadata.annotations = Some(
        [(
            "kube-thermostat.io/cpu-max".to_string(),
            "1300m".to_string(),
        )]
        .into(),
    );
    world.pods = vec![pod];
    world.policy.cpu_max_millis = 16_000;
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.to, v(Some(1300), Some(1300)));
    assert!(change.why.contains("bounded"), "{}", change.why);

    let mut at_max = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    at_max.metadata.annotations =
        Some([("kube-thermostat.io/cpu-max".to_string(), "1".to_string())].into());
    world.pods = vec![at_max];
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");

    let mut floor = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    floor.metadata.annotations =
        Some([("kube-thermostat.io/cpu-min".to_string(), "800m".to_string())].into());
    let world = World::new(vec![floor]).cpu("web-1", "app", 0.05, 0.05);
    assert_eq!(only_change(&world.plan()).to, v(Some(800), Some(800)));
}

#[test]
fn burstable_keeps_its_ratio_and_stays_burstable() {
    // request:limit = 1:2; 1800m of a 2-core limit (90 %) → limit 3000m, request 1500m.
    let world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "2"}))])
        .cpu("web-1", "app", 1.8, 1.8);
    assert_eq!(only_change(&world.plan()).to, v(Some(1500), Some(3000)));
}

#[test]
fn container_without_limit_is_sized_on_its_request() {
    // 450m used of a 500m request (90 %) → request 750m; the limit stays absent.
    let world = World::new(vec![app_pod(json!({"cpu": "500m"}), json!({}))])
        .cpu("web-1", "app", 0.45, 0.45);
    let plan = world.plan();
    assert_eq!(only_change(&plan).to, v(Some(750), None));
    let body = resize_patch(&plan.pods[0]).expect("body");
    assert_eq!(
        body["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "750m"}})
    );
}

#[test]
fn limit_only_container_is_read_as_defaulted_request_equal_limit() {
    let world =
        World::new(vec![app_pod(json!({}), json!({"cpu": "1"}))]).cpu("web-1", "app", 0.9, 0.9);
    let plan = world.plan();
    assert_eq!(only_change(&plan).to, v(Some(1500), Some(1500)));
}

#[test]
fn best_effort_container_is_left_alone() {
    let world = World::new(vec![app_pod(json!({}), json!({}))]).cpu("web-1", "app", 0.9, 0.9);
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("BestEffort"), "{plan}");
}

#[test]
fn only_the_hot_container_of_two_is_resized() {
    let pod = pod(pod_json(
        "web-1",
        vec![
            container("app", json!({"cpu": "1"}), json!({"cpu": "1"})),
            container("proxy", json!({"cpu": "200m"}), json!({"cpu": "200m"})),
        ],
    ));
    let world = World::new(vec![pod])
        .cpu("web-1", "app", 0.95, 0.95)
        .cpu("web-1", "proxy", 0.1, 0.1);
    let plan = world.plan();
    assert_eq!(plan.pods[0].containers.len(), 1, "{plan}");
    assert_eq!(plan.pods[0].containers[0].name, "app");
    let body = resize_patch(&plan.pods[0]).expect("body");
    assert_eq!(body["spec"]["containers"].as_array().map(Vec::len), Some(1));
}

#[test]
fn sidecar_is_resizable_and_plain_init_container_is_ignored() {
    let mut value = pod_json(
        "web-1",
        vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
    );
    let mut sidecar = container("mesh", json!({"cpu": "100m"}), json!({"cpu": "100m"}));
    sidecar["restartPolicy"] = json!("Always");
    value["spec"]["initContainers"] = json!([
        container("migrate", json!({"cpu": "100m"}), json!({"cpu": "100m"})),
        sidecar
    ]);
    let world = World::new(vec![pod(value)])
        .cpu("web-1", "app", 0.5, 0.5)
        .cpu("web-1", "mesh", 0.09, 0.09)
        .cpu("web-1", "migrate", 0.09, 0.09);
    let plan = world.plan();
    let pod_plan = &plan.pods[0];
    assert_eq!(pod_plan.containers.len(), 1, "{plan}");
    assert!(pod_plan.containers[0].sidecar);
    let body = resize_patch(pod_plan).expect("body");
    assert_eq!(
        body,
        json!({"metadata": {"resourceVersion": "100"}, "spec": {"initContainers": [
            {"name": "mesh", "resources": {"requests": {"cpu": "150m"}, "limits": {"cpu": "150m"}}}
        ]}})
    );
}

#[test]
fn restart_container_policy_is_skipped_unless_restarts_are_allowed() {
    let mut value = pod_json(
        "web-1",
        vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
    );
    value["spec"]["containers"][0]["resizePolicy"] =
        json!([{"resourceName": "cpu", "restartPolicy": "RestartContainer"}]);
    let mut world = World::new(vec![pod(value)]).cpu("web-1", "app", 0.9, 0.9);
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("RestartContainer"), "{plan}");
    world.policy.allow_restart = true;
    assert_eq!(world.plan().pods.len(), 1);
}

#[test]
fn full_node_cuts_the_upsize_to_what_fits_or_skips_it() {
    // Node 2 cores; another pod takes 700m; ours holds 1000m and wants 1500m: 300m free → 1300m.
    let mut world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.9, 0.9);
    world.nodes = vec![node("2", "64Gi")];
    world.others = vec![pod(pod_json(
        "db-1",
        vec![container("db", json!({"cpu": "700m"}), json!({}))],
    ))];
    let plan = world.plan();
    let change = only_change(&plan);
    assert_eq!(change.to, v(Some(1300), Some(1300)));
    assert!(change.why.contains("fits on node node-1"), "{}", change.why);

    // 950m taken: only 50m free, below the 10 % tolerance → skipped with the reason.
    world.others = vec![pod(pod_json(
        "db-1",
        vec![container("db", json!({"cpu": "950m"}), json!({}))],
    ))];
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("node node-1 is full"), "{plan}");
}

#[test]
fn pods_mid_resize_count_the_larger_of_desired_and_allocated() {
    // The other pod is mid-resize: spec 200m, allocated 900m. Only 100m is free.
    let mut other = pod_json(
        "db-1",
        vec![container("db", json!({"cpu": "200m"}), json!({}))],
    );
    other["status"]["containerStatuses"] =
        json!([{"name": "db", "allocatedResources": {"cpu": "900m"}}]);
    let mut world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.9, 0.9);
    world.nodes = vec![node("2", "64Gi")];
    world.others = vec![pod(other)];
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
}

fn with_record(mut pod: Pod, record: Value) -> Pod {
    pod.metadata
        .annotations
        .get_or_insert_default()
        .insert(LAST_RESIZE_ANNOTATION.to_string(), record.to_string());
    pod
}

#[test]
fn cooldown_holds_a_container_after_its_last_resize() {
    let recent_up = json!({"app": {"at": minutes_ago(2).to_string(), "direction": "up"}});
    let world = World::new(vec![with_record(
        app_pod(json!({"cpu": "1"}), json!({"cpu": "1"})),
        recent_up,
    )])
    .cpu("web-1", "app", 0.9, 0.9);
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("cooldown"), "{plan}");
    assert_eq!(
        world
            .plan_at(now() + k8s_openapi::jiff::SignedDuration::from_mins(2))
            .pods
            .len(),
        1
    );

    let recent_down = json!({"app": {"at": minutes_ago(10).to_string(), "direction": "down"}});
    let world = World::new(vec![with_record(
        app_pod(json!({"cpu": "1"}), json!({"cpu": "1"})),
        recent_down,
    )])
    .cpu("web-1", "app", 0.9, 0.9);
    assert!(world.plan().is_empty());
    assert_eq!(
        world
            .plan_at(now() + k8s_openapi::jiff::SignedDuration::from_mins(6))
            .pods
            .len(),
        1
    );
}

#[test]
fn malformed_record_is_reported_and_ignored() {
    let mut pod = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    pod.metadata.annotations =
        Some([(LAST_RESIZE_ANNOTATION.to_string(), "{not json".to_string())].into());
    let plan = World::new(vec![pod]).cpu("web-1", "app", 0.9, 0.9).plan();
    assert_eq!(plan.pods.len(), 1);
    assert!(
        plan.notes.iter().any(|n| n.kind == NoteKind::Warning),
        "{plan}"
    );
}

#[test]
fn short_history_gives_no_scale_down() {
    let mut world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.1, 0.1);
    world.cpu.values_mut().for_each(|s| s.samples = Some(40.0));
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("too short"), "{plan}");
}

#[test]
fn container_younger_than_the_short_window_gets_no_scale_up() {
    // Regression: a pod burning CPU (or filling memory) in its first minute had a short-window minimum over one
    // or two points and was doubled at once.
    for points in [1.0, 2.0, 5.0] {
        let mut world = World::new(vec![app_pod(
            json!({"cpu": "1", "memory": "1Gi"}),
            json!({"cpu": "1", "memory": "1Gi"}),
        )])
        .cpu("web-1", "app", 0.95, 0.95)
        .memory("web-1", "app", 1e9, 1e9);
        world
            .cpu
            .values_mut()
            .for_each(|s| s.short_samples = Some(points));
        world.memory.values_mut().for_each(|s| {
            s.short_samples = Some(points);
        });
        let plan = world.plan();
        assert!(plan.is_empty(), "{points} points: {plan}");
        let refusals = plan
            .notes
            .iter()
            .filter(|n| n.reason.contains("history shorter than the short window"))
            .count();
        assert_eq!(refusals, 2, "{points} points: {plan}");
    }
    let mut full = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
        .cpu("web-1", "app", 0.95, 0.95);
    full.cpu
        .values_mut()
        .for_each(|s| s.short_samples = Some(6.0));
    assert_eq!(only_change(&full.plan()).direction, Direction::Up);
    full.cpu.values_mut().for_each(|s| s.short_samples = None);
    assert!(full.plan().is_empty());
}

fn with_condition(mut value: Value, type_: &str, reason: &str, since: Timestamp) -> Value {
    value["status"]["conditions"] = json!([{"type": type_, "status": "True", "reason": reason, "message": "node is busy",
        "lastTransitionTime": since.to_string(), "observedGeneration": 2}]);
    value["metadata"]["generation"] = json!(2);
    value["status"]["observedGeneration"] = json!(2);
    value
}

fn resized_app(limits_cpu: &str) -> Value {
    let mut value = pod_json(
        "web-1",
        vec![container(
            "app",
            json!({"cpu": limits_cpu}),
            json!({"cpu": limits_cpu}),
        )],
    );
    value["status"]["containerStatuses"] = json!([{"name": "app",
        "allocatedResources": {"cpu": "1"}, "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}}]);
    value["metadata"]["annotations"] =
        json!({LAST_RESIZE_ANNOTATION: our_upsize_to(limits_cpu, 30).to_string()});
    value
}

/// Our record of an upsize of `app` to `cpu`, `minutes` ago.
fn our_upsize_to(cpu: &str, minutes: i64) -> Value {
    json!({"app": {"at": minutes_ago(minutes).to_string(), "direction": "up",
        "to": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}}})
}

#[test]
fn deferred_resize_waits_then_is_withdrawn_with_backoff() {
    let young = World::new(vec![pod(with_condition(
        resized_app("2"),
        "PodResizePending",
        "Deferred",
        minutes_ago(3),
    ))])
    .cpu("web-1", "app", 0.9, 0.9);
    let plan = young.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("Deferred"), "{plan}");

    let old = World::new(vec![pod(with_condition(
        resized_app("2"),
        "PodResizePending",
        "Deferred",
        minutes_ago(11),
    ))])
    .cpu("web-1", "app", 0.9, 0.9);
    let plan = old.plan();
    assert_eq!(plan.pods[0].action, PodAction::Withdraw, "{plan}");
    assert_eq!(only_change(&plan).to, v(Some(1000), Some(1000)));
    assert_eq!(
        plan.pods[0].event.as_ref().map(|e| e.reason.as_str()),
        Some("ThermostatResizeWithdrawn")
    );
    let record: PodRecord = serde_json::from_str(&plan.pods[0].record).expect("record");
    assert!(record["app"].backoff_until.is_some_and(|u| u > now()));
}

#[test]
fn deferred_resize_reported_the_1_32_way_is_timed_from_our_resize() {
    // Regression: 1.32's `status.resize: Deferred` has no transition time, so it was never withdrawn.
    let deferred_since_our_resize = |minutes: i64| {
        let mut value = resized_app("2");
        value["status"]["resize"] = json!("Deferred");
        value["status"]
            .as_object_mut()
            .expect("status")
            .remove("observedGeneration");
        value["metadata"]["annotations"] =
            json!({LAST_RESIZE_ANNOTATION: our_upsize_to("2", minutes).to_string()});
        World::new(vec![pod(value)]).cpu("web-1", "app", 0.9, 0.9)
    };
    let plan = deferred_since_our_resize(3).plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("Deferred"), "{plan}");

    let plan = deferred_since_our_resize(11).plan();
    assert_eq!(plan.pods[0].action, PodAction::Withdraw, "{plan}");
    assert_eq!(only_change(&plan).to, v(Some(1000), Some(1000)));
}

#[test]
fn infeasible_resize_is_withdrawn_and_backed_off() {
    let world = World::new(vec![pod(with_condition(
        resized_app("2"),
        "PodResizePending",
        "Infeasible",
        minutes_ago(1),
    ))]);
    let plan = world.plan();
    assert_eq!(plan.pods[0].action, PodAction::Withdraw, "{plan}");
    assert!(
        plan.notes
            .iter()
            .any(|n| n.kind == NoteKind::FollowUp && n.reason.contains("Infeasible"))
    );
}

fn infeasible(value: Value) -> World {
    World::new(vec![pod(with_condition(
        value,
        "PodResizePending",
        "Infeasible",
        minutes_ago(1),
    ))])
}

#[test]
fn pending_resize_of_a_pod_steered_by_an_hpa_is_not_withdrawn() {
    // Regression: the pending-resize handling ran before the HPA/VPA skip and withdrew their resizes.
    let mut world = infeasible(resized_app("2"));
    world.hpas = vec![hpa(json!([]))];
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("HorizontalPodAutoscaler"), "{plan}");
}

#[test]
fn pending_resize_by_someone_else_is_left_alone_without_writes() {
    // Regression: a stale record of ours made another tool's pending resize look ours; a pod without any
    // container to set back still got a back-off annotation and a Warning.
    let mut someone_elses = resized_app("3");
    someone_elses["metadata"]["annotations"] =
        json!({LAST_RESIZE_ANNOTATION: our_upsize_to("2", 30).to_string()});
    let plan = infeasible(someone_elses).plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(
        reasons(&plan).contains("resize by someone else pending"),
        "{plan}"
    );

    let mut no_record = resized_app("2");
    no_record["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("annotations");
    let plan = infeasible(no_record).plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(
        reasons(&plan).contains("resize by someone else pending"),
        "{plan}"
    );
}

#[test]
fn withdrawing_a_memory_upsize_on_1_33_backs_off_instead_of_lowering_the_limit() {
    // Regression: the withdrawal lowered the memory limit, which 1.33 refuses, so the PATCH failed every tick.
    let mut value = pod_json(
        "web-1",
        vec![container(
            "app",
            json!({"memory": "2Gi"}),
            json!({"memory": "2Gi"}),
        )],
    );
    value["status"]["containerStatuses"] = json!([{"name": "app",
        "resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}}]);
    value["metadata"]["annotations"] = json!({LAST_RESIZE_ANNOTATION: json!({"app": {"at": minutes_ago(30).to_string(),
        "direction": "up", "to": {"requests": {"memory": "2Gi"}, "limits": {"memory": "2Gi"}}}}).to_string()});
    let mut world = infeasible(value.clone());
    world.minor = 33;
    let plan = world.plan();
    assert_eq!(plan.pods.len(), 1, "{plan}");
    assert_eq!(plan.pods[0].action, PodAction::RecordOnly, "{plan}");
    assert!(resize_patch(&plan.pods[0]).is_none(), "{plan}");
    assert!(reasons(&plan).contains("1.33 forbids"), "{plan}");
    let record: PodRecord = serde_json::from_str(&plan.pods[0].record).expect("record");
    assert!(record["app"].backoff_until.is_some_and(|u| u > now()));

    // With the back-off recorded, later ticks write nothing.
    let mut applied = world.pods[0].clone();
    applied.metadata.annotations.get_or_insert_default().insert(
        LAST_RESIZE_ANNOTATION.to_string(),
        plan.pods[0].record.clone(),
    );
    world.pods = vec![applied];
    assert!(world.plan().is_empty(), "{}", world.plan());

    // 1.34 allows it: the limit is set back.
    let mut world = infeasible(value);
    world.minor = 34;
    let plan = world.plan();
    assert_eq!(plan.pods[0].action, PodAction::Withdraw, "{plan}");
    assert_eq!(only_change(&plan).to, v(Some(1 << 30), Some(1 << 30)));
}

#[test]
fn at_most_max_pods_per_tick_are_resized_withdrawals_then_hottest_first() {
    let app = |name: &str| {
        pod(pod_json(
            name,
            vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
        ))
    };
    let mut world = World::new(vec![
        app("idle-d"),
        app("hot-a"),
        app("hot-c"),
        pod(with_condition(
            resized_app("2"),
            "PodResizePending",
            "Infeasible",
            minutes_ago(1),
        )),
        app("hot-b"),
    ])
    .cpu("idle-d", "app", 0.1, 0.1)
    .cpu("hot-a", "app", 0.95, 0.95)
    .cpu("hot-b", "app", 0.99, 0.99)
    .cpu("hot-c", "app", 0.85, 0.85);
    world.policy.max_pods_per_tick = 3;
    let plan = world.plan();
    let planned: Vec<(&str, PodAction)> = plan
        .pods
        .iter()
        .map(|p| (p.name.as_str(), p.action))
        .collect();
    assert_eq!(
        planned,
        [
            ("web-1", PodAction::Withdraw),
            ("hot-b", PodAction::Resize),
            ("hot-a", PodAction::Resize)
        ],
        "{plan}"
    );
    let deferred: Vec<&str> = plan
        .notes
        .iter()
        .filter(|n| n.reason == "deferred to a later tick: at most 3 pods per tick")
        .map(|n| n.pod.as_str())
        .collect();
    assert_eq!(deferred, ["hot-c", "idle-d"], "{plan}");

    world.policy.max_pods_per_tick = 100;
    assert_eq!(world.plan().pods.len(), 5);
}

#[test]
fn backed_off_container_is_left_alone_until_the_backoff_ends() {
    let until = now() + k8s_openapi::jiff::SignedDuration::from_mins(30);
    let record = json!({"app": {"at": minutes_ago(40).to_string(), "direction": "withdraw", "backoffUntil": until.to_string(), "backoffReason": "Infeasible"}});
    let world = World::new(vec![with_record(
        app_pod(json!({"cpu": "1"}), json!({"cpu": "1"})),
        record,
    )])
    .cpu("web-1", "app", 0.9, 0.9);
    assert!(world.plan().is_empty());
    assert_eq!(world.plan_at(until).pods.len(), 1);
}

#[test]
fn resize_in_progress_is_waited_for_and_an_error_backs_off_once() {
    let busy = World::new(vec![pod(with_condition(
        resized_app("2"),
        "PodResizeInProgress",
        "",
        minutes_ago(1),
    ))])
    .cpu("web-1", "app", 0.9, 0.9);
    let plan = busy.plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(reasons(&plan).contains("in progress"), "{plan}");

    let failing = World::new(vec![pod(with_condition(
        resized_app("2"),
        "PodResizeInProgress",
        "Error",
        minutes_ago(1),
    ))]);
    let plan = failing.plan();
    assert_eq!(plan.pods[0].action, PodAction::RecordOnly, "{plan}");
    assert!(resize_patch(&plan.pods[0]).is_none());
    // Applying the record, the next tick writes nothing more.
    let mut applied = failing.pods[0].clone();
    applied.metadata.annotations.get_or_insert_default().insert(
        LAST_RESIZE_ANNOTATION.to_string(),
        plan.pods[0].record.clone(),
    );
    assert!(World::new(vec![applied.clone()]).plan().is_empty());
    // Regression: the back-off was re-armed every cooldown while the same error persisted, writing the
    // annotation and a Warning every few minutes for ever.
    let much_later = now() + k8s_openapi::jiff::SignedDuration::from_mins(60);
    let plan = World::new(vec![applied.clone()]).plan_at(much_later);
    assert!(plan.is_empty(), "{plan}");
    // A new error is news: recorded once.
    let mut other_error = applied;
    for condition in other_error
        .status
        .as_mut()
        .and_then(|s| s.conditions.as_mut())
        .expect("conditions")
    {
        condition.message = Some("cgroup is gone".to_string());
    }
    let plan = World::new(vec![other_error]).plan_at(much_later);
    assert_eq!(plan.pods.len(), 1, "{plan}");
    assert_eq!(plan.pods[0].action, PodAction::RecordOnly, "{plan}");
}

#[test]
fn kubelet_behind_the_spec_means_wait() {
    let mut value = pod_json(
        "web-1",
        vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
    );
    value["metadata"]["generation"] = json!(3);
    value["status"]["observedGeneration"] = json!(2);
    // A stale condition from generation 1 does not count.
    value["status"]["conditions"] = json!([{"type": "PodResizePending", "status": "True", "reason": "Infeasible", "observedGeneration": 1}]);
    let plan = World::new(vec![pod(value)])
        .cpu("web-1", "app", 0.9, 0.9)
        .plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(
        reasons(&plan).contains("observedGeneration 2 < generation 3"),
        "{plan}"
    );
}

#[test]
fn pods_not_running_or_not_bound_are_skipped() {
    let mut pending = pod_json(
        "web-1",
        vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
    );
    pending["status"]["phase"] = json!("Pending");
    let mut unbound = pod_json(
        "web-2",
        vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
    );
    unbound["spec"]["nodeName"] = Value::Null;
    let plan = World::new(vec![pod(pending), pod(unbound)])
        .cpu("web-1", "app", 0.9, 0.9)
        .cpu("web-2", "app", 0.9, 0.9)
        .plan();
    assert!(plan.is_empty());
    let text = reasons(&plan);
    assert!(
        text.contains("not Running") && text.contains("not bound"),
        "{text}"
    );
}

#[test]
fn pods_on_a_kubelet_without_in_place_resize_are_skipped() {
    // Regression: their resize was sent, refused with 422 and failed every tick.
    let mut old_kubelet = pod_json(
        "web-1",
        vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
    );
    old_kubelet["status"]["containerStatuses"] = json!([{"name": "app", "ready": true}]);
    let plan = World::new(vec![pod(old_kubelet)])
        .cpu("web-1", "app", 0.9, 0.9)
        .plan();
    assert!(plan.is_empty(), "{plan}");
    assert!(
        reasons(&plan).contains("does not support in-place resize"),
        "{plan}"
    );
}

fn memory_pod(request: &str, limit: &str, memory_policy: Option<&str>) -> Pod {
    let mut value = pod_json(
        "web-1",
        vec![container(
            "app",
            json!({"memory": request}),
            json!({"memory": limit}),
        )],
    );
    if let Some(policy) = memory_policy {
        value["spec"]["containers"][0]["resizePolicy"] =
            json!([{"resourceName": "memory", "restartPolicy": policy}]);
    }
    pod(value)
}

#[test]
fn memory_scales_up_near_the_limit() {
    let gi = f64::from(1 << 30);
    let world = World::new(vec![memory_pod("1Gi", "1Gi", None)]).memory(
        "web-1",
        "app",
        0.95 * gi,
        0.95 * gi,
    );
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.direction, Direction::Up);
    // 0.95Gi / 75 % = 1297.07Mi → 1298Mi.
    assert_eq!(change.to, v(Some(1298 << 20), Some(1298 << 20)));
}

#[test]
fn memory_limit_decrease_follows_the_server_version() {
    let gi = f64::from(1 << 30);
    let idle = |minor, policy: Option<&str>, allow| {
        let mut world = World::new(vec![memory_pod("2Gi", "2Gi", policy)]).memory(
            "web-1",
            "app",
            0.4 * gi,
            0.5 * gi,
        );
        world.minor = minor;
        world.policy.allow_restart = allow;
        world.plan()
    };
    // Peak 512Mi + 20 % = 614.4Mi → 615Mi, above the /2 cap of 1Gi → 1Gi.
    assert_eq!(
        only_change(&idle(32, None, false)).to,
        v(Some(1 << 30), Some(1 << 30))
    );
    assert_eq!(
        only_change(&idle(34, None, false)).to,
        v(Some(1 << 30), Some(1 << 30))
    );
    let forbidden = idle(33, None, false);
    assert!(
        forbidden.is_empty() && reasons(&forbidden).contains("1.33"),
        "{forbidden}"
    );
    assert_eq!(idle(33, Some("RestartContainer"), true).pods.len(), 1);

    // A request-only container may shrink on 1.33.
    let mut world = World::new(vec![pod(pod_json(
        "web-1",
        vec![container("app", json!({"memory": "2Gi"}), json!({}))],
    ))])
    .memory("web-1", "app", 0.4 * gi, 0.5 * gi);
    world.minor = 33;
    assert_eq!(only_change(&world.plan()).to, v(Some(1 << 30), None));
}

#[test]
fn memory_is_off_unless_enabled_per_setting_or_annotation() {
    let gi = f64::from(1 << 30);
    let mut world = World::new(vec![memory_pod("1Gi", "1Gi", None)]).memory(
        "web-1",
        "app",
        0.95 * gi,
        0.95 * gi,
    );
    world.policy.memory_enabled = false;
    assert!(world.plan().is_empty());
    world.pods[0].metadata.annotations =
        Some([("kube-thermostat.io/memory".to_string(), "on".to_string())].into());
    assert_eq!(world.plan().pods.len(), 1);
}

fn vpa(mode: Option<&str>) -> Value {
    let mut value = json!({"metadata": {"name": "web-vpa", "namespace": NS}, "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}});
    if let Some(mode) = mode {
        value["spec"]["updatePolicy"] = json!({"updateMode": mode});
    }
    value
}

#[test]
fn pods_steered_by_a_vpa_are_skipped_unless_it_only_recommends() {
    for (mode, steered) in [
        (None, true),
        (Some("Auto"), true),
        (Some("Recreate"), true),
        (Some("InPlaceOrRecreate"), true),
        (Some("Off"), false),
        (Some("Initial"), false),
    ] {
        let mut world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
            .cpu("web-1", "app", 0.9, 0.9);
        world.vpas = vec![vpa(mode)];
        let plan = world.plan();
        assert_eq!(plan.is_empty(), steered, "{mode:?}: {plan}");
    }
}

fn hpa(metrics: Value) -> HorizontalPodAutoscaler {
    serde_json::from_value(json!({"metadata": {"name": "web-hpa", "namespace": NS},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5, "metrics": metrics}}))
    .expect("hpa")
}

#[test]
fn pods_under_an_hpa_keep_what_it_scales_on_and_other_metrics_leave_them_to_us() {
    let resource = |name: &str| json!([{"type": "Resource", "resource": {"name": name, "target": {"type": "Utilization", "averageUtilization": 70}}}]);
    let container = json!([{"type": "ContainerResource", "containerResource": {"name": "memory", "container": "app", "target": {"type": "Utilization"}}}]);
    let external = json!([{"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "10"}}}]);
    // Only cpu is hot; memory resizing is off (the default).
    for (metrics, cpu_resized) in [
        (resource("cpu"), false),
        (json!([]), false),
        (resource("memory"), true),
        (container, true),
        (external, true),
    ] {
        let mut world = World::new(vec![app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}))])
            .cpu("web-1", "app", 0.9, 0.9);
        world.hpas = vec![hpa(metrics.clone())];
        let plan = world.plan();
        assert_eq!(!plan.is_empty(), cpu_resized, "{metrics}: {plan}");
    }
}

/// `app` hot on cpu (900m of 1) and on memory (its peak near its 512Mi limit).
fn hot_on_both() -> World {
    World::new(vec![app_pod(
        json!({"cpu": "1", "memory": "512Mi"}),
        json!({"cpu": "1", "memory": "512Mi"}),
    )])
    .cpu("web-1", "app", 0.9, 0.9)
    .memory("web-1", "app", 500e6, 510e6)
}

#[test]
fn an_hpa_on_cpu_leaves_memory_to_us_and_keeps_cpu_with_its_name() {
    let mut world = hot_on_both();
    world.hpas = vec![hpa(
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]),
    )];
    let plan = world.plan();
    let change = only_change(&plan);
    assert_eq!(change.resource, super::values::Resource::Memory, "{plan}");
    assert_eq!(change.direction, Direction::Up, "{plan}");
    let kept = plan
        .notes
        .iter()
        .find(|n| n.resource == Some(super::values::Resource::Cpu))
        .expect("cpu kept");
    assert_eq!(
        kept.reason,
        "HorizontalPodAutoscaler web-hpa scales Deployment/web on cpu: cpu kept so that its replica count does not move"
    );
    let body = resize_patch(&plan.pods[0]).expect("a resize");
    assert!(
        body["spec"]["containers"][0]["resources"]["requests"]
            .get("cpu")
            .is_none(),
        "cpu is not in the patch: {body}"
    );
}

#[test]
fn an_hpa_on_memory_leaves_cpu_to_us() {
    let mut world = hot_on_both();
    world.hpas = vec![hpa(
        json!([{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}}}]),
    )];
    let change = only_change(&world.plan()).clone();
    assert_eq!(change.resource, super::values::Resource::Cpu);
}

#[test]
fn an_hpa_on_both_or_on_cpu_with_memory_off_skips_the_pod_saying_why() {
    let on = |name: &str| json!({"type": "Resource", "resource": {"name": name, "target": {"type": "Utilization", "averageUtilization": 70}}});
    let mut world = hot_on_both();
    world.hpas = vec![hpa(json!([on("cpu"), on("memory")]))];
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(
        plan.notes[0].reason,
        "HorizontalPodAutoscaler web-hpa scales Deployment/web on cpu and memory"
    );
    assert_eq!(plan.notes[0].kind, NoteKind::Skipped);

    let mut world = hot_on_both();
    world.policy.memory_enabled = false;
    world.hpas = vec![hpa(json!([on("cpu")]))];
    let plan = world.plan();
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(plan.notes[0].kind, NoteKind::Skipped);
    assert_eq!(
        plan.notes[0].reason,
        "HorizontalPodAutoscaler web-hpa scales Deployment/web on cpu, and memory resizing is off (RESIZE_MEMORY, or the pod's kube-thermostat.io/memory)"
    );
}

#[test]
fn a_container_resource_metric_steers_only_the_container_it_names() {
    let mut value = pod_json(
        "web-1",
        vec![
            container("app", json!({"cpu": "1"}), json!({"cpu": "1"})),
            container("proxy", json!({"cpu": "1"}), json!({"cpu": "1"})),
        ],
    );
    value["metadata"]["name"] = json!("web-1");
    let mut world = World::new(vec![pod(value)])
        .cpu("web-1", "app", 0.9, 0.9)
        .cpu("web-1", "proxy", 0.9, 0.9);
    world.hpas = vec![hpa(
        json!([{"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {"type": "Utilization"}}}]),
    )];
    let plan = world.plan();
    assert_eq!(plan.pods.len(), 1, "{plan}");
    let names: Vec<&str> = plan.pods[0]
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["proxy"], "{plan}");
    assert!(
        reasons(&plan).contains("on cpu of container app: cpu kept"),
        "{plan}"
    );
}

#[test]
fn owner_heuristic_maps_hashed_replica_sets_to_deployments() {
    let owner = owner_of(&app_pod(json!({}), json!({}))).expect("owner");
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "web")
    );
    let mut plain = pod_json("x", vec![]);
    plain["metadata"]["labels"] = json!({});
    assert_eq!(owner_of(&pod(plain)).expect("owner").kind, "ReplicaSet");
    let mut stateful = pod_json("db-0", vec![]);
    stateful["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "u", "controller": true}]);
    assert_eq!(owner_of(&pod(stateful)).expect("owner").name, "db");
}

#[test]
fn bad_annotation_skips_only_that_pod_naming_it() {
    let mut bad = app_pod(json!({"cpu": "1"}), json!({"cpu": "1"}));
    bad.metadata.annotations =
        Some([("kube-thermostat.io/cpu-max".to_string(), "lots".to_string())].into());
    let mut good = pod(pod_json(
        "web-2",
        vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
    ));
    good.metadata.annotations =
        Some([("kube-thermostat.io/cpu".to_string(), "on".to_string())].into());
    let plan = World::new(vec![bad, good])
        .cpu("web-1", "app", 0.9, 0.9)
        .cpu("web-2", "app", 0.9, 0.9)
        .plan();
    assert_eq!(plan.pods.len(), 1);
    assert_eq!(plan.pods[0].name, "web-2");
    assert!(
        reasons(&plan).contains("annotation kube-thermostat.io/cpu-max = \"lots\""),
        "{plan}"
    );
}

/// Applies a plan the way the API server and kubelet would: new spec, status caught up, annotation.
fn apply(world: &mut World, plan: &ResizePlan) {
    for pod_plan in &plan.pods {
        let pod = world
            .pods
            .iter_mut()
            .find(|p| p.metadata.name.as_deref() == Some(&pod_plan.name))
            .expect("pod");
        let mut value = serde_json::to_value(&*pod).expect("pod");
        for change in &pod_plan.containers {
            let list = if change.sidecar {
                "initContainers"
            } else {
                "containers"
            };
            let containers = value["spec"][list].as_array_mut().expect("containers");
            let container = containers
                .iter_mut()
                .find(|c| c["name"] == change.name.as_str())
                .expect("container");
            for c in &change.changes {
                if let Some(r) = c.to.request {
                    container["resources"]["requests"][c.resource.name()] =
                        json!(c.resource.format(r));
                }
                if let Some(l) = c.to.limit {
                    container["resources"]["limits"][c.resource.name()] =
                        json!(c.resource.format(l));
                }
            }
        }
        value["metadata"]["annotations"][LAST_RESIZE_ANNOTATION] = json!(pod_plan.record);
        *pod = serde_json::from_value(value).expect("pod");
        let _ = annotation_patch(pod_plan, None);
    }
}

#[test]
fn second_plan_on_unchanged_load_is_empty() {
    let gi = f64::from(1 << 30);
    let two = pod(pod_json(
        "web-1",
        vec![
            container(
                "app",
                json!({"cpu": "1", "memory": "1Gi"}),
                json!({"cpu": "2", "memory": "1Gi"}),
            ),
            container("idle", json!({"cpu": "1"}), json!({"cpu": "1"})),
        ],
    ));
    let mut world = World::new(vec![two])
        .cpu("web-1", "app", 1.9, 1.9)
        .cpu("web-1", "idle", 0.05, 0.05)
        .memory("web-1", "app", 0.95 * gi, 0.95 * gi);
    let first = world.plan();
    assert_eq!(first.pods.len(), 1);
    apply(&mut world, &first);
    let later = now() + k8s_openapi::jiff::SignedDuration::from_mins(16);
    let second = world.plan_at(later);
    // The idle one keeps halving until the sizing for peak / target is reached, then nothing.
    let mut rounds = 0;
    let mut plan = second;
    let mut at = later;
    while !plan.is_empty() && rounds < 10 {
        apply(&mut world, &plan);
        at += k8s_openapi::jiff::SignedDuration::from_mins(16);
        plan = world.plan_at(at);
        rounds += 1;
    }
    assert!(plan.is_empty() && rounds < 10, "{plan}");
    // The hot one was sized once: 1.9 / 60 % = 3166.7m → 3170m, then stays in the band.
    let app = &world.pods[0].spec.as_ref().expect("spec").containers[0];
    assert_eq!(
        app.resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("cpu")),
        Some("3170m")
    );
}

#[test]
fn resize_and_annotation_bodies_carry_only_changes_and_the_precondition() {
    let world = World::new(vec![app_pod(
        json!({"cpu": "1", "memory": "1Gi"}),
        json!({"cpu": "1", "memory": "1Gi"}),
    )])
    .cpu("web-1", "app", 0.9, 0.9);
    let plan = world.plan();
    let body = resize_patch(&plan.pods[0]).expect("body");
    assert_eq!(
        body,
        json!({"metadata": {"resourceVersion": "100"}, "spec": {"containers": [
            {"name": "app", "resources": {"requests": {"cpu": "1500m"}, "limits": {"cpu": "1500m"}}}
        ]}})
    );
    let annotation = annotation_patch(&plan.pods[0], Some("101"));
    assert_eq!(annotation["metadata"]["resourceVersion"], "101");
    let record: PodRecord = serde_json::from_str(
        annotation["metadata"]["annotations"][LAST_RESIZE_ANNOTATION]
            .as_str()
            .expect("text"),
    )
    .expect("record");
    assert_eq!(record["app"].direction, Direction::Up);
    assert_eq!(record["app"].to.limits["cpu"], "1500m");
    assert_eq!(record["app"].from.limits["cpu"], "1");
    assert_eq!(record["app"].at, now());
    let note = &plan.pods[0].event.as_ref().expect("event").note;
    assert!(note.contains("app cpu 1 -> 1500m"), "{note}");
}

#[test]
fn opt_in_reads_pod_or_namespace_label() {
    const DEFAULT: (&str, &str) = ("kube-thermostat.io/resize", "true");
    let pod = app_pod(json!({}), json!({}));
    assert!(is_opted_in(&pod, None, DEFAULT, DEFAULT));
    let mut other = pod.clone();
    other.metadata.labels = None;
    assert!(!is_opted_in(&other, None, DEFAULT, DEFAULT));
    let ns_labels = [("kube-thermostat.io/resize".to_string(), "true".to_string())].into();
    assert!(is_opted_in(&other, Some(&ns_labels), DEFAULT, DEFAULT));
    assert!(
        !is_opted_in(&other, Some(&ns_labels), DEFAULT, ("team/autosize", "on")),
        "a custom namespace selector replaces the default"
    );
}

fn shape_strategy() -> impl Strategy<Value = (Option<i64>, Option<i64>)> {
    prop_oneof![
        (10_i64..8000).prop_map(|x| (Some(x), Some(x))),
        (10_i64..4000, 1_i64..4000).prop_map(|(r, extra)| (Some(r), Some(r + extra))),
        (10_i64..8000).prop_map(|r| (Some(r), None)),
    ]
}

proptest! {
    #[test]
    fn resizes_keep_qos_shape_bounds_and_order(
        (request, limit) in shape_strategy(),
        short in 0.0_f64..20.0,
        peak_extra in 0.0_f64..5.0,
        min in 10_i64..500,
        span in 0_i64..10_000,
    ) {
        let requests = request.map_or(json!({}), |r| json!({"cpu": format!("{r}m")}));
        let limits = limit.map_or(json!({}), |l| json!({"cpu": format!("{l}m")}));
        let mut world = World::new(vec![app_pod(requests, limits)]).cpu("web-1", "app", short, short + peak_extra);
        world.policy.cpu_min_millis = min;
        world.policy.cpu_max_millis = min + span;
        world.nodes = vec![node("1000", "64Gi")];
        let plan = world.plan();
        for pod_plan in &plan.pods {
            for c in pod_plan.containers.iter().flat_map(|c| &c.changes) {
                prop_assert_eq!(c.to.request.is_some(), c.from.request.is_some());
                prop_assert_eq!(c.to.limit.is_some(), c.from.limit.is_some());
                if let (Some(r), Some(l)) = (c.to.request, c.to.limit) {
                    prop_assert!(r <= l);
                    prop_assert_eq!(r == l, c.from.request == c.from.limit, "QoS class changed: {:?}", c);
                }
                let basis = c.to.basis().unwrap_or(0);
                prop_assert!(basis >= min && basis <= min + span, "{:?} outside [{}, {}]", c, min, min + span);
                prop_assert!(c.to.request.unwrap_or(1) > 0);
            }
        }
    }
}

// ---- generation and observedGeneration (KEP-5067) --------------------------------------------------------------

#[test]
fn a_pending_condition_from_an_earlier_generation_is_stale_and_not_withdrawn() {
    // The kubelet has seen generation 3 and allocated it; the Infeasible condition is about generation 2.
    let mut value = resized_app("2");
    value["metadata"]["generation"] = json!(3);
    value["status"]["observedGeneration"] = json!(3);
    value["status"]["containerStatuses"][0]["allocatedResources"] = json!({"cpu": "2"});
    value["status"]["conditions"] = json!([{"type": "PodResizePending", "status": "True",
        "reason": "Infeasible", "observedGeneration": 2}]);
    let plan = World::new(vec![pod(value)]).plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert!(!reasons(&plan).contains("Infeasible"), "{plan}");
}

#[test]
fn a_resize_the_kubelet_has_seen_but_not_allocated_is_not_done() {
    // Generation observed, no condition, but the kubelet still reports the old allocation: wait.
    let mut value = resized_app("2");
    value["metadata"]["generation"] = json!(2);
    value["status"]["observedGeneration"] = json!(2);
    let plan = World::new(vec![pod(value)])
        .cpu("web-1", "app", 0.9, 0.9)
        .plan();
    assert!(plan.pods.is_empty(), "{plan}");
    assert_eq!(
        reasons(&plan),
        "kubelet has seen generation 2 but has not allocated its resources yet (app: allocatedResources differ from the spec)"
    );
}

#[test]
fn without_generation_tracking_conditions_are_read_as_they_are() {
    // 1.33: the server drops observedGeneration (gate off), so the condition cannot be dated: trusted.
    let mut value = resized_app("2");
    value["metadata"]["generation"] = json!(3);
    value["status"]
        .as_object_mut()
        .expect("status")
        .remove("observedGeneration");
    value["status"]["conditions"] =
        json!([{"type": "PodResizePending", "status": "True", "reason": "Infeasible"}]);
    let mut world = World::new(vec![pod(value)]);
    world.minor = 33;
    let plan = world.plan();
    assert_eq!(plan.pods[0].action, PodAction::Withdraw, "{plan}");
}

// ---- pod-level resources (KEP-2837, resized in place from 1.36: KEP-5419) ---------------------------------------

/// `web-1` with pod-level cpu `pod_cpu` (request and limit, or `pod_limit` as the limit) and one container `app`
/// of 1 cpu (Guaranteed), 90 % busy: it wants 1500m.
fn pod_level_pod(pod_cpu: &str, pod_limit: Option<&str>) -> World {
    let mut value = pod_json(
        "web-1",
        vec![container("app", json!({"cpu": "1"}), json!({"cpu": "1"}))],
    );
    value["spec"]["resources"] =
        json!({"requests": {"cpu": pod_cpu}, "limits": {"cpu": pod_limit.unwrap_or(pod_cpu)}});
    let mut world = World::new(vec![pod(value)]).cpu("web-1", "app", 0.9, 0.9);
    world.minor = 36;
    world
}

#[test]
fn pod_level_resources_are_skipped_before_1_36_with_the_version() {
    for minor in [33, 34, 35] {
        let mut world = pod_level_pod("2", None);
        world.minor = minor;
        let plan = world.plan();
        assert!(plan.is_empty(), "{plan}");
        assert_eq!(
            reasons(&plan),
            format!(
                "pod-level resources (spec.resources) are resized in place from Kubernetes 1.36; the server is 1.{minor}"
            )
        );
    }
}

#[test]
fn a_container_growing_within_its_pod_level_budget_leaves_the_pod_level_alone() {
    let plan = pod_level_pod("2", None).plan();
    assert_eq!(only_change(&plan).to, v(Some(1500), Some(1500)));
    assert!(plan.pods[0].pod_level.is_empty(), "{plan}");
    let body = resize_patch(&plan.pods[0]).expect("a resize");
    assert!(body["spec"].get("resources").is_none(), "{body}");
}

#[test]
fn a_container_growing_past_its_pod_level_budget_raises_it_in_the_same_patch() {
    let plan = pod_level_pod("1200m", None).plan();
    assert_eq!(only_change(&plan).to, v(Some(1500), Some(1500)));
    let pod_level = &plan.pods[0].pod_level;
    assert_eq!(pod_level.len(), 1, "{plan}");
    assert_eq!(
        pod_level[0].to,
        v(Some(1500), Some(1500)),
        "Guaranteed shape kept"
    );
    let body = resize_patch(&plan.pods[0]).expect("a resize");
    assert_eq!(
        body["spec"]["resources"],
        json!({"requests": {"cpu": "1500m"}, "limits": {"cpu": "1500m"}}),
        "{body}"
    );
    assert_eq!(
        body["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "1500m"}, "limits": {"cpu": "1500m"}})
    );
    assert!(
        plan.pods[0]
            .event
            .as_ref()
            .is_some_and(|e| e.note.contains("pod-level cpu 1200m -> 1500m")),
        "{plan}"
    );
}

#[test]
fn a_burstable_pod_level_budget_keeps_its_gap_when_raised() {
    // Pod-level 1200m / 1300m: the request must reach 1500m, the limit stays 100m above it.
    let plan = pod_level_pod("1200m", Some("1300m")).plan();
    assert_eq!(
        plan.pods[0].pod_level[0].to,
        v(Some(1500), Some(1600)),
        "{plan}"
    );
}

#[test]
fn only_growth_past_the_pod_level_budget_needs_room_on_the_node() {
    // The node has 100m left; the pod's budget leaves 200m above its container: 300m of growth fit.
    let mut world = pod_level_pod("1200m", None);
    world.nodes = vec![node("1300m", "64Gi")];
    let plan = world.plan();
    assert_eq!(only_change(&plan).to, v(Some(1300), Some(1300)), "{plan}");
    assert_eq!(plan.pods[0].pod_level[0].to, v(Some(1300), Some(1300)));
    // With no room on the node, the budget alone: 200m.
    let mut world = pod_level_pod("1200m", None);
    world.nodes = vec![node("1200m", "64Gi")];
    let plan = world.plan();
    assert_eq!(only_change(&plan).to, v(Some(1200), Some(1200)), "{plan}");
    assert!(plan.pods[0].pod_level.is_empty(), "{plan}");
}

#[test]
fn a_withdrawn_resize_sets_a_raised_pod_level_budget_back_too() {
    // We raised app to 2 cpus and the pod-level budget with it; the kubelet still holds 1 and 1200m.
    let mut value = resized_app("2");
    value["spec"]["resources"] = json!({"requests": {"cpu": "2"}, "limits": {"cpu": "2"}});
    value["status"]["allocatedResources"] = json!({"cpu": "1200m"});
    value["status"]["resources"] =
        json!({"requests": {"cpu": "1200m"}, "limits": {"cpu": "1200m"}});
    let mut world = World::new(vec![pod(with_condition(
        value,
        "PodResizePending",
        "Infeasible",
        minutes_ago(1),
    ))]);
    world.minor = 36;
    let plan = world.plan();
    assert_eq!(plan.pods[0].action, PodAction::Withdraw, "{plan}");
    assert_eq!(only_change(&plan).to, v(Some(1000), Some(1000)));
    assert_eq!(
        plan.pods[0].pod_level[0].to,
        v(Some(1200), Some(1200)),
        "{plan}"
    );
    let body = resize_patch(&plan.pods[0]).expect("a resize");
    assert_eq!(
        body["spec"]["resources"],
        json!({"requests": {"cpu": "1200m"}, "limits": {"cpu": "1200m"}})
    );
}
