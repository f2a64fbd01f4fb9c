//! resize-pods end to end: the real binary, a real Prometheus with pushed history, the API stand-in applying
//! the resize subresource's rules per server version. One scenario per test, asserting what an SRE checks after
//! a tick: the pod's spec resources (exact strings), its QoS class, the writes made, our annotation, the Events,
//! the exit code, the metrics and the `--dry-run` plan.

use crate::support;

use crate::support::{
    Cluster, ContainerLoad, Fault, FaultKind, FaultProxy, Options, PodHistory, Profile, Timeline,
};
use serde_json::{Value, json};
use std::time::Duration;
use thermostat_rig::apiserver::PolicyRule;
use thermostat_rig::builders::{NodeBuilder, PodBuilder, container};
use thermostat_rig::cluster::{merge, plan_notes_about};

const MI: f64 = 1024.0 * 1024.0;
const LAST_RESIZE: &str = "kube-thermostat.io/last-resize";

// ---- Given ---------------------------------------------------------------------------------------------

/// A pod opted in by its label, bound to `node`, running `containers`; tests merge extra fields into it.
fn pod(namespace: &str, name: &str, node: &str, containers: Vec<Value>) -> Value {
    containers
        .into_iter()
        .fold(
            PodBuilder::new(namespace, name).on(node),
            PodBuilder::with_container,
        )
        .build()
}

/// Stores the pod and lets the kubelet report its resources as running (as on a node supporting resize).
fn put_running(cluster: &Cluster, pod: impl Into<Value>) -> Value {
    cluster.put_running(pod)
}

/// The usual subject before its containers: `shop/web-1` on `node-1`.
fn web() -> PodBuilder {
    PodBuilder::new("shop", "web-1").on("node-1")
}

/// The usual subject: `shop/web-1` on `node-1` with one container `app`.
fn web_pod(cluster: &Cluster, resources: Value) -> Value {
    cluster.put_running(web().container("app", resources))
}

/// Requests equal to limits: a Guaranteed CPU.
fn guaranteed_cpu(cpu: &str) -> Value {
    json!({"requests": {"cpu": cpu}, "limits": {"cpu": cpu}})
}

/// Enough history for an upsize (the short window and the rate window).
fn short_history() -> Timeline {
    Timeline::ending_now(Duration::from_secs(6 * 60))
}

/// CPU cores (and a steady 100 MB working set) per container of a pod, over `timeline`.
fn cpu_load(
    cluster: &Cluster,
    timeline: &Timeline,
    (namespace, pod, node): (&str, &str, &str),
    containers: &[(&str, Profile)],
) {
    let loads = containers
        .iter()
        .map(|(name, cpu)| ContainerLoad::new(name, cpu.clone(), Profile::Constant(100e6)))
        .collect();
    cluster.push(PodHistory::new(namespace, pod, node, loads).series(timeline));
}

const WEB: (&str, &str, &str) = ("shop", "web-1", "node-1");

// ---- Then ----------------------------------------------------------------------------------------------

fn read_pod(cluster: &Cluster, namespace: &str, name: &str) -> Value {
    cluster
        .api
        .get("Pod", Some(namespace), name)
        .unwrap_or_else(|| panic!("pod {namespace}/{name} exists"))
}

/// The spec resources of a container (regular or init) of a pod.
fn resources(
    cluster: &Cluster,
    (namespace, name, _): (&str, &str, &str),
    container: &str,
) -> Value {
    let pod = read_pod(cluster, namespace, name);
    ["containers", "initContainers"]
        .iter()
        .flat_map(|list| pod["spec"][list].as_array().cloned().unwrap_or_default())
        .find(|c| c["name"] == container)
        .unwrap_or_else(|| panic!("container {container} in {namespace}/{name}"))["resources"]
        .clone()
}

fn qos(cluster: &Cluster, (namespace, name, _): (&str, &str, &str)) -> Value {
    read_pod(cluster, namespace, name)["status"]["qosClass"].clone()
}

fn last_resize(cluster: &Cluster, (namespace, name, _): (&str, &str, &str)) -> Option<Value> {
    read_pod(cluster, namespace, name)["metadata"]["annotations"][LAST_RESIZE]
        .as_str()
        .map(|text| serde_json::from_str(text).unwrap())
}

fn events_with_reason(cluster: &Cluster, reason: &str) -> Vec<Value> {
    cluster
        .api
        .events()
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

fn resize_patches(cluster: &Cluster) -> usize {
    cluster.api.count("patch", "pods/resize")
}

/// `kube-thermostat run resize-pods --dry-run --output json`: the plan as JSON.
fn dry_run_plan(cluster: &Cluster, env: &[(&str, &str)]) -> Value {
    let output = cluster.run_cli(&["resize-pods", "--dry-run", "--output", "json"], env);
    output.assert_success();
    serde_json::from_str(output.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "plan is JSON ({e}):\n{}\nstderr:\n{}",
            output.stdout, output.stderr
        )
    })
}

/// A cluster at `1.{server_minor}` with one Linux node (as the kubelet labels it). A 1.32 cluster here has the
/// InPlacePodVerticalScaling alpha gate on, without which it serves no `resize` route.
fn cluster_at(server_minor: u32) -> Cluster {
    support::scenario()
        .api(Options {
            server_minor,
            resize_alpha_gate: server_minor == 32,
            ..Options::default()
        })
        .node(NodeBuilder::new("node-1").label("kubernetes.io/os", "linux"))
        .start()
}

fn one_node_cluster() -> Cluster {
    cluster_at(34)
}

// ---- Direction ---------------------------------------------------------------------------------------------

#[test]
fn hot_container_is_scaled_up_through_the_resize_subresource_once() {
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let first = cluster.tick("resize-pods", &[]);
    first.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "800m"}, "limits": {"cpu": "800m"}}),
        "usage 480m / target 60% = 800m, Guaranteed stays Guaranteed\n{}",
        first.stderr
    );
    assert_eq!(
        qos(&cluster, WEB),
        "Burstable",
        "no memory: Burstable, kept"
    );
    assert_eq!(resize_patches(&cluster), 1);
    assert_eq!(
        cluster.api.count("patch", "pods"),
        2,
        "one annotation write on the pod, and the counter totals on our own pod"
    );
    assert!(cluster.saved_counters("resize-pods").is_some());
    let record = last_resize(&cluster, WEB).unwrap();
    assert_eq!(record["app"]["direction"], "up");
    assert_eq!(record["app"]["from"]["limits"]["cpu"], "500m");
    assert_eq!(record["app"]["to"]["limits"]["cpu"], "800m");
    let events = events_with_reason(&cluster, "ThermostatResized");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["regarding"]["name"], "web-1");
    assert_eq!(events[0]["type"], "Normal");
    let note = events[0]["note"].as_str().unwrap();
    assert!(
        note.contains("500m") && note.contains("800m"),
        "the Event says from and to: {note}"
    );
    assert_eq!(
        first.metric(
            "kube_thermostat_resizes_total",
            &[
                ("resource", "cpu"),
                ("direction", "up"),
                ("dry_run", "false")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        first.metric(
            "kube_thermostat_containers",
            &[("decision", "up"), ("dry_run", "false")]
        ),
        Some(1.0)
    );

    cluster.api.reset_requests();
    let second = cluster.tick("resize-pods", &[]);
    second.assert_success();
    assert_eq!(
        cluster.api.count_writes(),
        0,
        "a resize in its cooldown is not made again:\n{}",
        second.stderr
    );
}

/// issue 14 item 2: the resize Event passes the strict `events.k8s.io/v1` rules, even for a pod whose name has
/// the longest length Kubernetes allows (the Event's name is cut to stay a valid 253-byte subdomain).
#[test]
fn resize_events_pass_the_strict_events_api_even_for_a_253_byte_pod_name() {
    let cluster = one_node_cluster();
    let long = format!("{}-{}", "web".repeat(80), "a".repeat(12));
    assert_eq!(long.len(), 253);
    for name in ["web-1", long.as_str()] {
        put_running(
            &cluster,
            pod(
                "shop",
                name,
                "node-1",
                vec![container("app", guaranteed_cpu("500m"))],
            ),
        );
        cpu_load(
            &cluster,
            &short_history(),
            ("shop", name, "node-1"),
            &[("app", Profile::Constant(0.48))],
        );
    }

    let output = cluster.tick("resize-pods", &[]);
    output.assert_success();
    assert_eq!(resize_patches(&cluster), 2, "{}", output.stderr);
    let events = events_with_reason(&cluster, "ThermostatResized");
    let mut about: Vec<&str> = events
        .iter()
        .map(|e| e["regarding"]["name"].as_str().unwrap())
        .collect();
    about.sort();
    assert_eq!(about, ["web-1", long.as_str()], "{}", output.stderr);
    for event in &events {
        let name = event["metadata"]["name"].as_str().unwrap();
        assert!(name.len() <= 253, "{name}");
        assert_eq!(event["metadata"]["namespace"], "shop");
    }
    assert!(
        !output.stderr.contains("Event not posted"),
        "{}",
        output.stderr
    );
}

#[test]
fn idle_container_is_scaled_down_after_a_full_stabilization_window_below_the_low_mark() {
    let cluster = one_node_cluster();
    web_pod(
        &cluster,
        json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}),
    );
    cpu_load(
        &cluster,
        &Timeline::last_40_minutes(),
        WEB,
        &[("app", Profile::Constant(0.25))],
    );

    // With the default marks (low 30 %, target 60 %) every downsize is a /2 step; a larger step shows the sizing.
    let tick = cluster.tick("resize-pods", &[("RESIZE_MAX_STEP_DOWN", "4")]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "420m"}, "limits": {"cpu": "420m"}}),
        "peak 250m / target 60% = 417m, rounded up to 10m\n{}",
        tick.stderr
    );
    assert_eq!(resize_patches(&cluster), 1);
    assert_eq!(
        last_resize(&cluster, WEB).unwrap()["app"]["direction"],
        "down"
    );
    assert_eq!(
        tick.metric(
            "kube_thermostat_resizes_total",
            &[("resource", "cpu"), ("direction", "down")]
        ),
        Some(1.0)
    );
}

#[test]
fn idle_container_with_history_shorter_than_the_window_is_not_scaled_down() {
    let cluster = one_node_cluster();
    web_pod(
        &cluster,
        json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}),
    );
    cpu_load(
        &cluster,
        &Timeline::ending_now(Duration::from_secs(20 * 60)),
        WEB,
        &[("app", Profile::Constant(0.25))],
    );

    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(cluster.api.count_writes(), 0);
    assert_eq!(
        resources(&cluster, WEB, "app")["limits"]["cpu"],
        "1",
        "a new pod is not judged idle on 20 minutes"
    );
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.contains("too short for a scale-down")),
        "{plan}"
    );
}

#[test]
fn container_hot_only_since_it_started_a_minute_ago_is_not_scaled_up() {
    // Regression: a start-up burn over one or two points of the short window doubled the pod at once.
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    cpu_load(
        &cluster,
        &Timeline::ending_now(Duration::from_secs(100)),
        WEB,
        // Far above the limit, so even the partial first rate points are above the high mark.
        &[("app", Profile::Constant(3.0))],
    );

    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(resize_patches(&cluster), 0);
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.contains("history shorter than the short window")),
        "{plan}"
    );
}

#[test]
fn container_between_the_marks_is_left_alone() {
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    // 50 % of the limit, between 30 % and 80 %, for the whole history.
    cpu_load(
        &cluster,
        &Timeline::last_40_minutes(),
        WEB,
        &[("app", Profile::Constant(0.25))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
    assert!(last_resize(&cluster, WEB).is_none());
    assert_eq!(
        tick.metric(
            "kube_thermostat_containers",
            &[("decision", "none"), ("dry_run", "false")]
        ),
        Some(1.0)
    );
}

// ---- Bounds and steps --------------------------------------------------------------------------------------

#[test]
fn upsize_is_bounded_by_the_global_cpu_max() {
    let cluster = one_node_cluster();
    web_pod(
        &cluster,
        json!({"requests": {"cpu": "800m"}, "limits": {"cpu": "800m"}}),
    );
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.75))],
    );

    let tick = cluster.tick("resize-pods", &[("RESIZE_CPU_MAX", "1")]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}),
        "wanted 1250m, bounded to RESIZE_CPU_MAX\n{}",
        tick.stderr
    );
}

#[test]
fn upsize_is_bounded_by_the_pods_cpu_max_annotation() {
    let cluster = one_node_cluster();
    let mut web = pod(
        "shop",
        "web-1",
        "node-1",
        vec![container("app", guaranteed_cpu("500m"))],
    );
    merge(
        &mut web,
        json!({"metadata": {"annotations": {"kube-thermostat.io/cpu-max": "600m"}}}),
    );
    put_running(&cluster, web);
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "600m"}, "limits": {"cpu": "600m"}}),
        "wanted 800m, bounded by the pod's annotation\n{}",
        tick.stderr
    );
}

/// A Guaranteed worker at 90 % of its limit, annotated as the test says.
fn hot_worker_annotated(cluster: &Cluster, annotations: Value) {
    let mut web = pod(
        "shop",
        "web-1",
        "node-1",
        vec![container("app", guaranteed_cpu("1"))],
    );
    merge(&mut web, json!({"metadata": {"annotations": annotations}}));
    put_running(cluster, web);
    cpu_load(
        cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.9))],
    );
}

#[test]
fn a_pod_with_its_own_cpu_marks_runs_near_its_limit_untouched() {
    let cluster = one_node_cluster();
    hot_worker_annotated(
        &cluster,
        json!({"kube-thermostat.io/cpu-high": "95", "kube-thermostat.io/cpu-target": "90"}),
    );
    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.contains("is between the 30% and 95% marks")),
        "{plan}"
    );

    // The same load without the annotations is hot by the default 80 % mark.
    let cluster = one_node_cluster();
    hot_worker_annotated(&cluster, json!({}));
    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "1500m"}, "limits": {"cpu": "1500m"}})
    );
}

#[test]
fn a_pod_whose_cpu_target_is_above_its_high_mark_is_skipped_saying_so() {
    let cluster = one_node_cluster();
    hot_worker_annotated(&cluster, json!({"kube-thermostat.io/cpu-target": "90"}));
    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.starts_with("skipped")
                && n.contains(
                    "kube-thermostat.io/cpu-target (90) < RESIZE_CPU_HIGH (80) do not hold"
                )),
        "{plan}"
    );
}

#[test]
fn container_at_its_max_is_not_resized() {
    let cluster = one_node_cluster();
    web_pod(
        &cluster,
        json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}),
    );
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.95))],
    );

    let tick = cluster.tick("resize-pods", &[("RESIZE_CPU_MAX", "1")]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
}

#[test]
fn upsize_is_capped_at_twice_the_size_per_step() {
    let cluster = one_node_cluster();
    // Request only: usage can exceed it, here 5x.
    web_pod(&cluster, json!({"requests": {"cpu": "100m"}}));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.5))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "200m"}}),
        "wanted 834m, one step is at most x2\n{}",
        tick.stderr
    );
    let record = last_resize(&cluster, WEB).unwrap();
    assert!(
        record["app"]["why"]
            .as_str()
            .unwrap()
            .contains("step capped at x2"),
        "{record}"
    );
}

#[test]
fn downsize_is_capped_at_half_the_size_per_step() {
    let cluster = one_node_cluster();
    web_pod(
        &cluster,
        json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}),
    );
    cpu_load(
        &cluster,
        &Timeline::last_40_minutes(),
        WEB,
        &[("app", Profile::Constant(0.05))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        guaranteed_cpu("500m"),
        "wanted 84m, one step is at most /2\n{}",
        tick.stderr
    );
    let record = last_resize(&cluster, WEB).unwrap();
    assert!(
        record["app"]["why"]
            .as_str()
            .unwrap()
            .contains("step capped at /2"),
        "{record}"
    );
}

// ---- Shapes and QoS ----------------------------------------------------------------------------------------

#[test]
fn guaranteed_pod_stays_guaranteed() {
    let cluster = one_node_cluster();
    web_pod(
        &cluster,
        json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}),
    );
    assert_eq!(qos(&cluster, WEB), "Guaranteed");
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.45))],
    );

    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "750m", "memory": "256Mi"}, "limits": {"cpu": "750m", "memory": "256Mi"}})
    );
    assert_eq!(qos(&cluster, WEB), "Guaranteed");
}

#[test]
fn burstable_pod_keeps_its_request_to_limit_ratio() {
    let cluster = one_node_cluster();
    web_pod(
        &cluster,
        json!({"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}),
    );
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.45))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "380m", "memory": "128Mi"}, "limits": {"cpu": "750m", "memory": "256Mi"}}),
        "limit 750m, request half of it (375m) rounded up to 10m\n{}",
        tick.stderr
    );
    assert_eq!(qos(&cluster, WEB), "Burstable");
}

#[test]
fn container_without_a_limit_gets_a_new_request_and_still_no_limit() {
    let cluster = one_node_cluster();
    web_pod(&cluster, json!({"requests": {"cpu": "200m"}}));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.19))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "320m"}}),
        "95% of the request: 190m / 60% = 317m, rounded up\n{}",
        tick.stderr
    );
}

#[test]
fn container_with_only_a_limit_is_resized_with_the_request_the_server_defaulted() {
    let cluster = one_node_cluster();
    web_pod(&cluster, json!({"limits": {"cpu": "500m"}}));
    assert_eq!(
        resources(&cluster, WEB, "app"),
        guaranteed_cpu("500m"),
        "the API server defaults the request to the limit"
    );
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.45))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "750m"}, "limits": {"cpu": "750m"}}),
        "{}",
        tick.stderr
    );
}

#[test]
fn container_without_requests_or_limits_is_not_given_any() {
    let cluster = one_node_cluster();
    web_pod(&cluster, json!({}));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.9))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "BestEffort stays BestEffort");
    assert_eq!(qos(&cluster, WEB), "BestEffort");
}

// ---- Containers --------------------------------------------------------------------------------------------

#[test]
fn only_the_hot_container_of_two_is_resized() {
    let cluster = one_node_cluster();
    let both = guaranteed_cpu("500m");
    put_running(
        &cluster,
        pod(
            "shop",
            "web-1",
            "node-1",
            vec![
                container("app", both.clone()),
                container("proxy", both.clone()),
            ],
        ),
    );
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[
            ("app", Profile::Constant(0.45)),
            ("proxy", Profile::Constant(0.25)),
        ],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "750m"}, "limits": {"cpu": "750m"}}),
        "{}",
        tick.stderr
    );
    assert_eq!(resources(&cluster, WEB, "proxy"), both);
    assert_eq!(resize_patches(&cluster), 1, "one write for the pod");
    let resize = cluster
        .api
        .requests()
        .into_iter()
        .find(|r| r.resource == "pods/resize")
        .unwrap();
    assert!(
        !resize.body.contains("proxy"),
        "the patch names only the changed container: {}",
        resize.body
    );
    let record = last_resize(&cluster, WEB).unwrap();
    assert!(record.get("proxy").is_none(), "{record}");
}

fn pod_with_init_container(init: Value) -> PodBuilder {
    web()
        .container("app", guaranteed_cpu("500m"))
        .init_container(init)
}

#[test]
fn hot_sidecar_is_resized_in_place() {
    let cluster = one_node_cluster();
    let mut sidecar = container(
        "mesh",
        json!({"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}}),
    );
    sidecar["restartPolicy"] = json!("Always");
    put_running(&cluster, pod_with_init_container(sidecar));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[
            ("app", Profile::Constant(0.25)),
            ("mesh", Profile::Constant(0.18)),
        ],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "mesh"),
        json!({"requests": {"cpu": "150m"}, "limits": {"cpu": "300m"}}),
        "180m / 60% = 300m, request keeps its 1:2 ratio\n{}",
        tick.stderr
    );
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
    assert_eq!(resize_patches(&cluster), 1);
}

#[test]
fn plain_init_container_is_never_resized() {
    let cluster = one_node_cluster();
    let init = container(
        "migrate",
        json!({"requests": {"cpu": "100m"}, "limits": {"cpu": "100m"}}),
    );
    put_running(&cluster, pod_with_init_container(init.clone()));
    // Even with a (stale) hot series for it: init containers that are not sidecars are immutable.
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[
            ("app", Profile::Constant(0.25)),
            ("migrate", Profile::Constant(0.1)),
        ],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    assert_eq!(resources(&cluster, WEB, "migrate"), init["resources"]);
}

fn restart_container_pod() -> PodBuilder {
    let mut app = container("app", guaranteed_cpu("500m"));
    app["resizePolicy"] = json!([{"resourceName": "cpu", "restartPolicy": "RestartContainer"}]);
    web().with_container(app)
}

#[test]
fn container_whose_cpu_resize_restarts_it_is_skipped() {
    let cluster = one_node_cluster();
    put_running(&cluster, restart_container_pod());
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.contains("RestartContainer")),
        "{plan}"
    );
}

#[test]
fn container_whose_cpu_resize_restarts_it_is_resized_when_restarts_are_allowed() {
    let cluster = one_node_cluster();
    put_running(&cluster, restart_container_pod());
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let tick = cluster.tick("resize-pods", &[("RESIZE_ALLOW_RESTART", "true")]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "800m"}, "limits": {"cpu": "800m"}}),
        "{}",
        tick.stderr
    );
}

// ---- Node capacity -----------------------------------------------------------------------------------------

/// Another workload's pod requesting `cpu` on node-1 (not opted in).
fn neighbour(cluster: &Cluster, cpu: &str) {
    cluster.put_running(
        PodBuilder::new("batch", "cruncher")
            .on("node-1")
            .no_labels()
            .container("main", guaranteed_cpu(cpu)),
    );
}

#[test]
fn upsize_on_a_nearly_full_node_is_cut_to_what_fits() {
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    // Allocatable 4: 3200m + 500m leave 300m free.
    neighbour(&cluster, "3200m");
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "800m"}, "limits": {"cpu": "800m"}}),
        "300m free is exactly the growth\n{}",
        tick.stderr
    );

    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    // 200m free: 700m instead of 800m.
    neighbour(&cluster, "3300m");
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );
    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "700m"}, "limits": {"cpu": "700m"}}),
        "{}",
        tick.stderr
    );
    let record = last_resize(&cluster, WEB).unwrap();
    assert!(
        record["app"]["why"].as_str().unwrap().contains("fits"),
        "{record}"
    );
}

#[test]
fn upsize_on_a_full_node_is_skipped_with_the_reason() {
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    neighbour(&cluster, "3500m");
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.contains("node node-1 is full")),
        "{plan}"
    );
}

#[test]
fn two_hot_pods_competing_for_the_last_room_on_a_node_do_not_overcommit_it() {
    let cluster = one_node_cluster();
    for name in ["web-1", "web-2"] {
        put_running(
            &cluster,
            pod(
                "shop",
                name,
                "node-1",
                vec![container("app", guaranteed_cpu("500m"))],
            ),
        );
        cpu_load(
            &cluster,
            &short_history(),
            ("shop", name, "node-1"),
            &[("app", Profile::Constant(0.48))],
        );
    }
    // 4 - 2700m - 2 x 500m = 300m free: one upsize by 300m fits, not two.
    neighbour(&cluster, "2700m");

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    let limits: Vec<Value> = ["web-1", "web-2"]
        .iter()
        .map(|name| resources(&cluster, ("shop", name, "node-1"), "app")["limits"]["cpu"].clone())
        .collect();
    assert_eq!(limits, ["800m", "500m"], "{}", tick.stderr);
    assert_eq!(resize_patches(&cluster), 1);
}

// ---- Following up on the kubelet -------------------------------------------------------------------------

/// A 500m Guaranteed `app` scaled up to 800m by a first tick, not yet applied by the kubelet.
fn resized_once(cluster: &Cluster, env: &[(&str, &str)]) {
    web_pod(cluster, guaranteed_cpu("500m"));
    cpu_load(
        cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );
    cluster.tick("resize-pods", env).assert_success();
    assert_eq!(resources(cluster, WEB, "app")["limits"]["cpu"], "800m");
    cluster.api.reset_requests();
}

/// Moves the resize conditions' transition time `age` into the past.
fn age_conditions(cluster: &Cluster, age: Duration) {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .saturating_sub(age)
        .as_secs();
    let text = k8s_openapi::jiff::Timestamp::from_second(seconds as i64)
        .unwrap()
        .to_string();
    cluster.api.modify("Pod", Some("shop"), "web-1", |pod| {
        for condition in pod["status"]["conditions"].as_array_mut().unwrap() {
            condition["lastTransitionTime"] = json!(text);
        }
    });
}

#[test]
fn resize_deferred_within_the_timeout_is_left_pending() {
    let cluster = one_node_cluster();
    resized_once(&cluster, &[]);
    cluster.api.kubelet_set_resize_condition(
        "shop",
        "web-1",
        "PodResizePending",
        "Deferred",
        "Node didn't have enough resource: cpu",
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "800m");
    assert_eq!(
        tick.metric("kube_thermostat_resizes_pending", &[("reason", "Deferred")]),
        Some(1.0)
    );
}

#[test]
fn resize_deferred_past_the_timeout_is_withdrawn_with_an_event_and_backed_off() {
    let cluster = one_node_cluster();
    resized_once(&cluster, &[]);
    cluster.api.kubelet_set_resize_condition(
        "shop",
        "web-1",
        "PodResizePending",
        "Deferred",
        "Node didn't have enough resource: cpu",
    );
    age_conditions(&cluster, Duration::from_secs(11 * 60));

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        guaranteed_cpu("500m"),
        "the spec is set back to what the kubelet allocated\n{}",
        tick.stderr
    );
    assert_eq!(resize_patches(&cluster), 1);
    let withdrawn = events_with_reason(&cluster, "ThermostatResizeWithdrawn");
    assert_eq!(withdrawn.len(), 1, "{}", tick.stderr);
    assert_eq!(withdrawn[0]["type"], "Warning");
    assert!(
        withdrawn[0]["note"].as_str().unwrap().contains("Deferred"),
        "{}",
        withdrawn[0]
    );
    let record = last_resize(&cluster, WEB).unwrap();
    assert!(record["app"]["backoffUntil"].is_string(), "{record}");
    assert_eq!(
        tick.metric("kube_thermostat_resizes_pending", &[("reason", "Deferred")]),
        Some(1.0),
        "as read at the start of the tick"
    );

    // Before the kubelet notices: the condition is about the withdrawn generation.
    cluster.api.reset_requests();
    let stale = cluster.tick("resize-pods", &[]);
    stale.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", stale.stderr);
    assert_eq!(
        stale.metric("kube_thermostat_resizes_pending", &[("reason", "Deferred")]),
        Some(0.0),
        "a withdrawn resize is not pending"
    );

    // Still hot, but backed off: no retry storm.
    cluster.api.kubelet_actuate("shop", "web-1");
    cluster.api.reset_requests();
    let next = cluster.tick("resize-pods", &[]);
    next.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", next.stderr);
}

#[test]
fn infeasible_resize_is_withdrawn_and_backed_off() {
    let cluster = one_node_cluster();
    resized_once(&cluster, &[]);
    cluster.api.kubelet_set_resize_condition(
        "shop",
        "web-1",
        "PodResizePending",
        "Infeasible",
        "Node didn't have enough capacity: cpu, requested: 800, capacity: 600",
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        guaranteed_cpu("500m"),
        "{}",
        tick.stderr
    );
    assert_eq!(
        events_with_reason(&cluster, "ThermostatResizeWithdrawn").len(),
        1
    );
    assert_eq!(
        tick.metric(
            "kube_thermostat_resizes_pending",
            &[("reason", "Infeasible")]
        ),
        Some(1.0)
    );

    cluster.api.kubelet_actuate("shop", "web-1");
    cluster.api.reset_requests();
    let next = cluster.tick("resize-pods", &[]);
    next.assert_success();
    assert_eq!(
        cluster.api.count_writes(),
        0,
        "backed off for RESIZE_BACKOFF:\n{}",
        next.stderr
    );
}

#[test]
fn withdrawal_refused_by_the_server_is_backed_off_not_retried_every_tick() {
    // Regression: a refused withdrawal PATCH left no back-off record, so every tick sent it again.
    let cluster = one_node_cluster();
    resized_once(&cluster, &[]);
    cluster.api.kubelet_set_resize_condition(
        "shop",
        "web-1",
        "PodResizePending",
        "Infeasible",
        "Node didn't have enough capacity",
    );
    cluster.api.inject(Fault::on(
        "PATCH",
        "/resize",
        FaultKind::Status {
            code: 422,
            retry_after: None,
        },
        1,
    ));

    let tick = cluster.tick("resize-pods", &[]);
    assert_ne!(tick.code, 0, "the refusal is reported: {}", tick.stderr);
    let record = last_resize(&cluster, WEB).unwrap();
    assert!(record["app"]["backoffUntil"].is_string(), "{record}");

    cluster.api.reset_requests();
    let next = cluster.tick("resize-pods", &[]);
    next.assert_success();
    assert_eq!(resize_patches(&cluster), 0, "{}", next.stderr);
    assert_eq!(cluster.api.count_writes(), 0, "{}", next.stderr);
}

/// A 1.32 cluster where the first tick's resize is `Infeasible`, reported the 1.32 way: in `status.resize`,
/// not in conditions.
fn infeasible_the_1_32_way() -> Cluster {
    let cluster = cluster_at(32);
    resized_once(&cluster, &[]);
    cluster.api.modify("Pod", Some("shop"), "web-1", |pod| {
        pod["status"]["resize"] = json!("Infeasible");
        // Pod observedGeneration came with 1.33 (PodObservedGenerationTracking).
        pod["status"]
            .as_object_mut()
            .unwrap()
            .remove("observedGeneration");
    });
    cluster
}

#[test]
fn infeasible_resize_reported_the_1_32_way_is_withdrawn_by_run() {
    let cluster = infeasible_the_1_32_way();

    let run = cluster.run_cli(&["resize-pods"], &[]);
    run.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        guaranteed_cpu("500m"),
        "{}",
        run.stderr
    );
}

#[test]
fn infeasible_resize_reported_the_1_32_way_is_withdrawn_by_the_hook() {
    let cluster = infeasible_the_1_32_way();

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        guaranteed_cpu("500m"),
        "{}",
        tick.stderr
    );
    assert_eq!(
        events_with_reason(&cluster, "ThermostatResizeWithdrawn").len(),
        1
    );
}

#[test]
fn transient_resize_error_is_not_withdrawn_and_retried_later() {
    let cluster = one_node_cluster();
    let env = [("RESIZE_COOLDOWN_UP", "2s")];
    // Far above any size: each step is x2 until the kubelet fails.
    web_pod(&cluster, guaranteed_cpu("500m"));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(3.0))],
    );
    cluster.tick("resize-pods", &env).assert_success();
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "1");
    cluster.api.kubelet_set_resize_condition(
        "shop",
        "web-1",
        "PodResizeInProgress",
        "Error",
        "failed to update cgroup: device or resource busy",
    );
    cluster.api.reset_requests();

    let tick = cluster.tick("resize-pods", &env);
    tick.assert_success();
    assert_eq!(resize_patches(&cluster), 0, "{}", tick.stderr);
    assert_eq!(
        resources(&cluster, WEB, "app")["limits"]["cpu"],
        "1",
        "an Error is not Infeasible: the spec stays"
    );
    assert_eq!(
        tick.metric("kube_thermostat_resizes_pending", &[("reason", "Error")]),
        Some(1.0)
    );
    let record = last_resize(&cluster, WEB).unwrap();
    assert!(record["app"]["backoffUntil"].is_string(), "{record}");

    // The kubelet's own retry succeeds; after the short back-off the next step is taken.
    cluster.api.kubelet_actuate("shop", "web-1");
    std::thread::sleep(Duration::from_millis(2100));
    cluster.api.reset_requests();
    let later = cluster.tick("resize-pods", &env);
    later.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app")["limits"]["cpu"],
        "2",
        "{}",
        later.stderr
    );
}

#[test]
fn second_tick_after_the_kubelet_applied_the_resize_writes_nothing() {
    let cluster = one_node_cluster();
    resized_once(&cluster, &[]);
    cluster.api.kubelet_actuate("shop", "web-1");

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
}

#[test]
fn still_hot_container_is_not_resized_again_within_the_cooldown() {
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(3.0))],
    );
    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "1");
    cluster.api.kubelet_actuate("shop", "web-1");
    cluster.api.reset_requests();

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.contains("cooldown")),
        "{plan}"
    );
}

#[test]
fn pod_on_a_kubelet_without_in_place_resize_is_skipped_not_failed() {
    // Version skew: a 1.34 control plane with an older kubelet that reports no container resources.
    let cluster = one_node_cluster();
    cluster.api.put(pod(
        "shop",
        "web-1",
        "node-1",
        vec![container("app", guaranteed_cpu("500m"))],
    ));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.starts_with("skipped") && n.contains("kubelet")),
        "{plan}"
    );
}

#[test]
fn duplicate_scrapes_of_a_container_do_not_double_its_usage() {
    let cluster = one_node_cluster();
    web_pod(
        &cluster,
        json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}),
    );
    // Two overlapping ServiceMonitors: 450m counted twice would read 90 % and scale up.
    cluster.push(
        PodHistory::new(
            "shop",
            "web-1",
            "node-1",
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.45),
                Profile::Constant(100e6),
            )],
        )
        .scraped_by(2)
        .series(&short_history()),
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
}

// ---- Memory and server versions ----------------------------------------------------------------------

/// `app` with a 1Gi memory limit whose working set stayed at 200Mi for 40 minutes, CPU in the band.
fn oversized_memory(cluster: &Cluster, memory_policy: Option<&str>) {
    let mut app = container(
        "app",
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}),
    );
    if let Some(policy) = memory_policy {
        app["resizePolicy"] = json!([{"resourceName": "memory", "restartPolicy": policy}]);
    }
    put_running(cluster, pod("shop", "web-1", "node-1", vec![app]));
    cluster.push(
        PodHistory::new(
            "shop",
            "web-1",
            "node-1",
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.25),
                Profile::Constant(200.0 * MI),
            )],
        )
        .series(&Timeline::last_40_minutes()),
    );
}

const MEMORY_HALVED: &str = "512Mi";

#[test]
fn memory_limit_is_lowered_on_1_32() {
    let cluster = cluster_at(32);
    oversized_memory(&cluster, None);

    let tick = cluster.tick("resize-pods", &[("RESIZE_MEMORY", "true")]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "500m", "memory": MEMORY_HALVED}, "limits": {"cpu": "500m", "memory": MEMORY_HALVED}}),
        "peak 200Mi + 20% wanted, one step is /2\n{}",
        tick.stderr
    );
}

#[test]
fn memory_limit_is_not_lowered_on_1_33() {
    let cluster = cluster_at(33);
    oversized_memory(&cluster, None);

    let tick = cluster.tick("resize-pods", &[("RESIZE_MEMORY", "true")]);
    tick.assert_success();
    assert_eq!(
        resize_patches(&cluster),
        0,
        "1.33 refuses it: no doomed write\n{}",
        tick.stderr
    );
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["memory"], "1Gi");
    let plan = dry_run_plan(&cluster, &[("RESIZE_MEMORY", "true")]);
    assert!(
        plan_notes_about(&plan, "web-1")
            .iter()
            .any(|n| n.contains("1.33")),
        "{plan}"
    );
}

#[test]
fn memory_limit_is_lowered_on_1_33_with_restart_container_when_restarts_are_allowed() {
    let cluster = cluster_at(33);
    oversized_memory(&cluster, Some("RestartContainer"));

    let tick = cluster.tick(
        "resize-pods",
        &[("RESIZE_MEMORY", "true"), ("RESIZE_ALLOW_RESTART", "true")],
    );
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app")["limits"]["memory"],
        MEMORY_HALVED,
        "{}",
        tick.stderr
    );
}

#[test]
fn memory_limit_is_lowered_on_1_34() {
    let cluster = cluster_at(34);
    oversized_memory(&cluster, None);

    let tick = cluster.tick("resize-pods", &[("RESIZE_MEMORY", "true")]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app")["limits"]["memory"],
        MEMORY_HALVED,
        "{}",
        tick.stderr
    );
    assert_eq!(
        tick.metric(
            "kube_thermostat_resizes_total",
            &[("resource", "memory"), ("direction", "down")]
        ),
        Some(1.0)
    );
}

#[test]
fn memory_near_its_limit_is_scaled_up() {
    let cluster = cluster_at(33);
    put_running(
        &cluster,
        pod(
            "shop",
            "web-1",
            "node-1",
            vec![container(
                "app",
                json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}),
            )],
        ),
    );
    cluster.push(
        PodHistory::new(
            "shop",
            "web-1",
            "node-1",
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.25),
                Profile::Constant(240.0 * MI),
            )],
        )
        .series(&short_history()),
    );

    let tick = cluster.tick("resize-pods", &[("RESIZE_MEMORY", "true")]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "500m", "memory": "320Mi"}, "limits": {"cpu": "500m", "memory": "320Mi"}}),
        "240Mi is 94% of 256Mi; 240Mi / 75% = 320Mi (raising a limit is fine on 1.33)\n{}",
        tick.stderr
    );
    assert_eq!(qos(&cluster, WEB), "Guaranteed");
}

#[test]
fn memory_request_without_a_limit_is_lowered_even_on_1_33() {
    let cluster = cluster_at(33);
    put_running(
        &cluster,
        pod(
            "shop",
            "web-1",
            "node-1",
            vec![container(
                "app",
                json!({"requests": {"cpu": "500m", "memory": "1Gi"}}),
            )],
        ),
    );
    cluster.push(
        PodHistory::new(
            "shop",
            "web-1",
            "node-1",
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.25),
                Profile::Constant(200.0 * MI),
            )],
        )
        .series(&Timeline::last_40_minutes()),
    );

    let tick = cluster.tick("resize-pods", &[("RESIZE_MEMORY", "true")]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app"),
        json!({"requests": {"cpu": "500m", "memory": MEMORY_HALVED}}),
        "only limits are guarded by 1.33\n{}",
        tick.stderr
    );
}

#[test]
fn memory_is_left_alone_unless_enabled() {
    let cluster = cluster_at(34);
    oversized_memory(&cluster, None);

    cluster.tick("resize-pods", &[]).assert_success();
    assert_eq!(cluster.api.count_writes(), 0);
}

// ---- API and Prometheus failures ---------------------------------------------------------------------------

#[test]
fn server_without_the_resize_subresource_fails_the_tick_with_one_clear_error() {
    let cluster = cluster_at(31);
    web_pod(&cluster, guaranteed_cpu("500m"));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    assert_eq!(tick.code, 1, "{}", tick.stderr);
    assert_eq!(
        tick.stderr.matches("1.32").count(),
        1,
        "one error naming the version needed:\n{}",
        tick.stderr
    );
    assert_eq!(
        cluster.api.count_writes(),
        0,
        "no fallback to patching the pod"
    );
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
}

#[test]
fn resize_subresource_answering_404_fails_the_tick_without_patching_the_pod() {
    // A 1.32+ server with the InPlacePodVerticalScaling gate off: /version looks fine, the subresource is absent.
    let cluster = one_node_cluster();
    for name in ["web-1", "web-2"] {
        put_running(
            &cluster,
            pod(
                "shop",
                name,
                "node-1",
                vec![container("app", guaranteed_cpu("500m"))],
            ),
        );
        cpu_load(
            &cluster,
            &short_history(),
            ("shop", name, "node-1"),
            &[("app", Profile::Constant(0.48))],
        );
    }
    cluster.api.inject(Fault::on(
        "PATCH",
        "/resize",
        FaultKind::Status {
            code: 404,
            retry_after: None,
        },
        10,
    ));

    let tick = cluster.tick("resize-pods", &[]);
    assert_eq!(tick.code, 1, "{}", tick.stderr);
    assert_eq!(
        resize_patches(&cluster),
        1,
        "the first 404 stops the tick: every pod would fail alike"
    );
    assert_eq!(cluster.api.count("patch", "pods"), 0, "no fallback");
    assert!(
        tick.stderr.contains("resize subresource"),
        "{}",
        tick.stderr
    );
}

#[test]
fn pod_changed_between_read_and_write_is_re_read_and_not_overwritten() {
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );
    // Another writer changes the pod just before our resize lands.
    cluster
        .api
        .inject(Fault::on("PATCH", "/resize", FaultKind::ConflictOnce, 1));

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resize_patches(&cluster),
        2,
        "409, then decided again on the fresh pod\n{}",
        tick.stderr
    );
    let reads_of_web_1 = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.verb == "get" && r.path.ends_with("/pods/web-1"))
        .count();
    assert_eq!(reads_of_web_1, 1, "one re-read");
    let pod = read_pod(&cluster, "shop", "web-1");
    assert!(
        pod["metadata"]["annotations"][thermostat_rig::apiserver::FOREIGN_ANNOTATION_KEY]
            .is_string(),
        "the other writer's change survives: {}",
        pod["metadata"]
    );
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "800m");
    assert_eq!(
        tick.metric(
            "kube_thermostat_tick_writes",
            &[("controller", "resize-pods"), ("result", "conflict")]
        ),
        Some(1.0)
    );
}

#[test]
fn a_re_read_after_a_conflict_reads_the_namespace_quotas_again() {
    // Issue 18: the server charges each admitted resize to the quota; deciding again from the quotas read at
    // the start of the tick would hand out headroom already taken.
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );
    let hard = json!({"requests.cpu": "10"});
    cluster.api.put(json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": "shop"},
        "spec": {"hard": hard}, "status": {"hard": hard, "used": {"requests.cpu": "1"}},
    }));
    cluster
        .api
        .inject(Fault::on("PATCH", "/resize", FaultKind::ConflictOnce, 1));

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(resize_patches(&cluster), 2, "{}", tick.stderr);
    let quota_lists: Vec<String> = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.verb == "list" && r.path.ends_with("/resourcequotas"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        quota_lists,
        [
            "/api/v1/resourcequotas",
            "/api/v1/namespaces/shop/resourcequotas"
        ],
        "once per tick, then the pod's namespace again on its re-read"
    );
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "800m");
}

#[test]
fn kubelet_status_update_between_the_resize_and_the_annotation_loses_neither() {
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    // Far above the limit: a second step in the same tick would be visible (2 instead of 1).
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(3.0))],
    );
    let generation = read_pod(&cluster, "shop", "web-1")["metadata"]["generation"].clone();
    // Both PATCHes wait a little before being served; the kubelet acts on the new spec meanwhile.
    cluster.api.inject(Fault::on(
        "PATCH",
        "/pods/web-1",
        FaultKind::Latency(Duration::from_millis(300)),
        2,
    ));
    let api = &cluster.api;
    let (tick, kubelet_updated) = std::thread::scope(|scope| {
        let kubelet = scope.spawn(|| {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                let pod = api.get("Pod", Some("shop"), "web-1").unwrap();
                if pod["metadata"]["generation"] != generation {
                    api.kubelet_set_resize_condition(
                        "shop",
                        "web-1",
                        "PodResizeInProgress",
                        "",
                        "",
                    );
                    return true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            false
        });
        let tick = cluster.tick("resize-pods", &[]);
        (tick, kubelet.join().unwrap())
    });
    tick.assert_success();
    // Without the kubelet's update in between, this test would pass without testing the race.
    assert!(
        kubelet_updated,
        "the kubelet saw the new spec and updated the status mid-tick:\n{}",
        tick.stderr
    );
    let conditions = read_pod(&cluster, "shop", "web-1")["status"]["conditions"].clone();
    assert!(
        conditions
            .as_array()
            .is_some_and(|all| all.iter().any(|c| c["type"] == "PodResizeInProgress")),
        "the kubelet's condition is kept: {conditions}"
    );
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "1");
    assert_eq!(resize_patches(&cluster), 1, "one step: {}", tick.stderr);
    let record = last_resize(&cluster, WEB);
    assert!(
        record.is_some_and(|r| r["app"]["direction"] == "up"),
        "the cooldown record is written despite the kubelet's update:\n{}",
        tick.stderr
    );
    assert_eq!(events_with_reason(&cluster, "ThermostatResized").len(), 1);
    assert_eq!(
        tick.metric(
            "kube_thermostat_tick_writes",
            &[("controller", "resize-pods"), ("result", "changed")]
        ),
        Some(1.0)
    );
}

#[test]
fn pod_deleted_after_the_snapshot_is_passed_over_without_failing_the_tick() {
    let cluster = one_node_cluster();
    for name in ["web-1", "web-2"] {
        put_running(
            &cluster,
            pod(
                "shop",
                name,
                "node-1",
                vec![container("app", guaranteed_cpu("500m"))],
            ),
        );
        cpu_load(
            &cluster,
            &short_history(),
            ("shop", name, "node-1"),
            &[("app", Profile::Constant(0.48))],
        );
    }
    // shell-operator's snapshot still holds web-1 when the tick runs: pods come and go all the time.
    let context = cluster.binding_context("resize-pods", &[]);
    cluster.api.delete("Pod", Some("shop"), "web-1");

    let tick = cluster.run_hook(&context, &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, ("shop", "web-2", "node-1"), "app")["limits"]["cpu"],
        "800m"
    );
    assert!(
        cluster.api.get("Pod", Some("shop"), "web-1").is_none(),
        "not recreated by a patch"
    );
}

#[test]
fn prometheus_down_means_no_writes_and_a_failed_tick() {
    let mut cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );
    let proxy = FaultProxy::start(&cluster.prometheus).unwrap();
    proxy.refuse_connections();
    cluster.prometheus_url = proxy.url();

    let tick = cluster.tick("resize-pods", &[("PROMETHEUS_RETRIES", "0")]);
    assert_eq!(tick.code, 1, "{}", tick.stderr);
    assert_eq!(cluster.api.count_writes(), 0);
    assert!(tick.stderr.contains("Prometheus"), "{}", tick.stderr);
    assert!(
        tick.metric(
            "kube_thermostat_tick_last_success_timestamp_seconds",
            &[("controller", "resize-pods")]
        )
        .is_none()
    );
}

#[test]
fn prometheus_without_any_container_series_is_a_failed_tick_not_an_idle_cluster() {
    // A wrong tenant header or relabelled cAdvisor series answer nothing: deciding on that would be deciding
    // blind, so the tick refuses and names the query.
    let cluster = one_node_cluster();
    web_pod(&cluster, guaranteed_cpu("500m"));

    let tick = cluster.tick("resize-pods", &[]);
    assert_eq!(tick.code, 1, "{}", tick.stderr);
    assert_eq!(cluster.api.count_writes(), 0);
    assert!(
        tick.stderr.contains("returned no series at all")
            && tick.stderr.contains("container_cpu_usage_seconds_total"),
        "{}",
        tick.stderr
    );
}

// ---- Dry run -----------------------------------------------------------------------------------------------

fn hot_web(cluster: &Cluster) {
    web_pod(cluster, guaranteed_cpu("500m"));
    cpu_load(
        cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );
}

#[test]
fn resize_refused_by_the_server_backs_off_instead_of_being_sent_every_tick() {
    // Regression: a load-driven resize refused with 422/403 (a LimitRange, an admission policy) wrote no record,
    // so every tick sent the same refused PATCH and failed again.
    for code in [422, 403] {
        let cluster = one_node_cluster();
        hot_web(&cluster);
        cluster.api.inject(Fault::on(
            "PATCH",
            "/resize",
            FaultKind::Status {
                code,
                retry_after: None,
            },
            1,
        ));

        let tick = cluster.tick("resize-pods", &[]);
        assert_ne!(
            tick.code, 0,
            "{code}: the refusal is reported: {}",
            tick.stderr
        );
        assert!(tick.stderr.contains(&code.to_string()), "{}", tick.stderr);
        assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
        let record = last_resize(&cluster, WEB).unwrap();
        assert!(
            record["app"]["backoffUntil"].is_string(),
            "{code}: {record}"
        );
        assert_eq!(
            record["app"]["backoffReason"], "the API server refused the resize",
            "{record}"
        );
        cluster.api.reset_requests();
        let next = cluster.tick("resize-pods", &[]);
        next.assert_success();
        assert_eq!(
            resize_patches(&cluster),
            0,
            "{code}: backing off\n{}",
            next.stderr
        );
        assert_eq!(cluster.api.count_writes(), 0, "{}", next.stderr);
    }
}

#[test]
fn refused_resize_is_not_counted_as_a_resize() {
    // Regression: resizes_total was counted from the plan, before any write.
    let cluster = one_node_cluster();
    hot_web(&cluster);
    cluster.api.inject(Fault::on(
        "PATCH",
        "/resize",
        FaultKind::Status {
            code: 422,
            retry_after: None,
        },
        1,
    ));
    let tick = cluster.tick("resize-pods", &[]);
    assert_ne!(tick.code, 0, "{}", tick.stderr);
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
    assert_eq!(
        tick.metric(
            "kube_thermostat_resizes_total",
            &[
                ("resource", "cpu"),
                ("direction", "up"),
                ("dry_run", "false")
            ]
        )
        .unwrap_or(0.0),
        0.0,
        "{}",
        tick.stderr
    );
}

#[test]
fn dry_run_and_resize_dry_run_write_nothing_but_report_the_resize() {
    for env in [[("DRY_RUN", "true")], [("RESIZE_DRY_RUN", "true")]] {
        let cluster = one_node_cluster();
        hot_web(&cluster);
        let tick = cluster.tick("resize-pods", &env);
        tick.assert_success();
        assert_eq!(
            cluster.writes_to_the_cluster(),
            0,
            "{env:?}: {}",
            tick.stderr
        );
        assert_eq!(
            cluster.api.count_writes(),
            1,
            "only the counter totals, on our own pod"
        );
        assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
        assert_eq!(
            tick.metric(
                "kube_thermostat_resizes_total",
                &[
                    ("resource", "cpu"),
                    ("direction", "up"),
                    ("dry_run", "true")
                ]
            ),
            Some(1.0),
            "{env:?}"
        );
        assert!(
            tick.stderr.contains("800m"),
            "the plan is logged: {}",
            tick.stderr
        );
    }
}

#[test]
fn run_resize_pods_dry_run_prints_the_json_plan_and_writes_nothing() {
    let cluster = one_node_cluster();
    hot_web(&cluster);

    let plan = dry_run_plan(&cluster, &[]);
    assert_eq!(cluster.api.count_writes(), 0);
    let pods = plan["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 1, "{plan}");
    assert_eq!(pods[0]["namespace"], "shop");
    assert_eq!(pods[0]["name"], "web-1");
    let change = &pods[0]["containers"][0]["changes"][0];
    assert_eq!(pods[0]["containers"][0]["name"], "app");
    assert_eq!(change["resource"], "cpu");
    assert_eq!(change["direction"], "up");
    assert_eq!(change["from"], json!({"request": 500, "limit": 500}));
    assert_eq!(change["to"], json!({"request": 800, "limit": 800}));
}

// ---- Which pods --------------------------------------------------------------------------------------------

#[test]
fn pods_in_a_namespace_labelled_for_resizing_are_resized() {
    let cluster = one_node_cluster();
    cluster
        .api
        .put(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"kube-thermostat.io/resize": "true"}}}));
    let resources_500m = guaranteed_cpu("500m");
    for (namespace, name) in [("shop", "web-1"), ("other", "web-2")] {
        let mut unlabelled = pod(
            namespace,
            name,
            "node-1",
            vec![container("app", resources_500m.clone())],
        );
        unlabelled["metadata"]["labels"] = json!({});
        put_running(&cluster, unlabelled);
        cpu_load(
            &cluster,
            &short_history(),
            (namespace, name, "node-1"),
            &[("app", Profile::Constant(0.48))],
        );
    }

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, WEB, "app")["limits"]["cpu"],
        "800m",
        "{}",
        tick.stderr
    );
    assert_eq!(
        resources(&cluster, ("other", "web-2", "node-1"), "app"),
        resources_500m,
        "neither the pod nor its namespace opted in"
    );
    assert_eq!(resize_patches(&cluster), 1);
}

/// `shop/web-5d4f8b-x2k9q` created by Deployment `web` through ReplicaSet `web-5d4f8b`, hot.
fn deployment_pod(cluster: &Cluster) -> (&'static str, &'static str, &'static str) {
    let at = ("shop", "web-5d4f8b-x2k9q", "node-1");
    let mut web = pod(
        at.0,
        at.1,
        at.2,
        vec![container("app", guaranteed_cpu("500m"))],
    );
    merge(
        &mut web,
        json!({"metadata": {
            "labels": {"pod-template-hash": "5d4f8b", "app": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4f8b",
                                 "uid": "3f1c", "controller": true, "blockOwnerDeletion": true}]
        }}),
    );
    put_running(cluster, web);
    cpu_load(
        cluster,
        &short_history(),
        at,
        &[("app", Profile::Constant(0.48))],
    );
    at
}

#[test]
fn pods_scaled_by_an_hpa_on_cpu_are_left_alone() {
    let cluster = one_node_cluster();
    let at = deployment_pod(&cluster);
    cluster.api.put(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 2, "maxReplicas": 10,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                              "target": {"type": "Utilization", "averageUtilization": 70}}}]}
    }));

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    assert_eq!(resources(&cluster, at, "app")["limits"]["cpu"], "500m");
    assert!(
        tick.stderr.contains("HorizontalPodAutoscaler web"),
        "the hook's log says why: {}",
        tick.stderr
    );
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, at.1)
            .iter()
            .any(|n| n.starts_with("skipped") && n.contains("HorizontalPodAutoscaler web")),
        "{plan}"
    );
}

#[test]
fn pods_resized_by_a_vpa_in_auto_mode_are_left_alone() {
    let cluster = one_node_cluster();
    let at = deployment_pod(&cluster);
    cluster.api.put(json!({
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "updatePolicy": {"updateMode": "Auto"}}
    }));

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, at.1)
            .iter()
            .any(|n| n.contains("VerticalPodAutoscaler web")),
        "{plan}"
    );
}

#[test]
fn hpa_on_another_metric_or_vpa_only_recommending_leaves_the_pod_to_us() {
    let cluster = one_node_cluster();
    let at = deployment_pod(&cluster);
    cluster.api.put(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 2, "maxReplicas": 10,
                 "metrics": [{"type": "Pods", "pods": {"metric": {"name": "requests_per_second"},
                              "target": {"type": "AverageValue", "averageValue": "100"}}}]}
    }));
    cluster.api.put(json!({
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "updatePolicy": {"updateMode": "Off"}}
    }));

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(
        resources(&cluster, at, "app")["limits"]["cpu"],
        "800m",
        "{}",
        tick.stderr
    );
}

#[test]
fn malformed_record_annotation_is_reported_and_rewritten() {
    let cluster = one_node_cluster();
    let mut web = pod(
        "shop",
        "web-1",
        "node-1",
        vec![container("app", guaranteed_cpu("500m"))],
    );
    merge(
        &mut web,
        json!({"metadata": {"annotations": {LAST_RESIZE: "edited by hand"}}}),
    );
    put_running(&cluster, web);
    cpu_load(
        &cluster,
        &short_history(),
        WEB,
        &[("app", Profile::Constant(0.48))],
    );

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert!(tick.stderr.contains(LAST_RESIZE), "{}", tick.stderr);
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "800m");
    assert_eq!(
        last_resize(&cluster, WEB).unwrap()["app"]["direction"],
        "up"
    );
}

#[test]
fn cluster_without_the_vpa_crd_is_not_an_error() {
    let cluster = support::scenario()
        .api(Options {
            vpa_crd_installed: false,
            ..Options::default()
        })
        .node(NodeBuilder::new("node-1"))
        .start();
    let at = deployment_pod(&cluster);

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(resources(&cluster, at, "app")["limits"]["cpu"], "800m");
    let vpa_lists: Vec<u16> = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/verticalpodautoscalers"))
        .map(|r| r.status)
        .collect();
    assert_eq!(vpa_lists, [404], "asked once, the 404 taken as no VPA");
}

#[test]
fn pods_not_running_or_not_bound_are_left_alone() {
    let cluster = one_node_cluster();
    let resources_500m = guaranteed_cpu("500m");
    let mut pending = pod(
        "shop",
        "starting",
        "node-1",
        vec![container("app", resources_500m.clone())],
    );
    pending["status"] = json!({"phase": "Pending"});
    cluster.api.put(pending);
    let mut unbound = pod(
        "shop",
        "unscheduled",
        "",
        vec![container("app", resources_500m.clone())],
    );
    unbound["spec"].as_object_mut().unwrap().remove("nodeName");
    unbound["status"] = json!({"phase": "Running"});
    cluster.api.put(unbound);
    for name in ["starting", "unscheduled"] {
        cpu_load(
            &cluster,
            &short_history(),
            ("shop", name, "node-1"),
            &[("app", Profile::Constant(0.48))],
        );
    }

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "{}", tick.stderr);
    let plan = dry_run_plan(&cluster, &[]);
    assert!(
        plan_notes_about(&plan, "starting")
            .iter()
            .any(|n| n.contains("not Running")),
        "{plan}"
    );
    assert!(
        plan_notes_about(&plan, "unscheduled")
            .iter()
            .any(|n| n.contains("not bound")),
        "{plan}"
    );
}

// ---- Cost --------------------------------------------------------------------------------------------------

#[test]
fn two_hundred_containers_cost_two_queries_per_resource_no_lists_and_three_writes_per_resized_pod()
{
    for memory in [false, true] {
        let mut cluster =
            (0..4)
                .fold(support::scenario(), |scenario, node| {
                    scenario.node(NodeBuilder::new(&format!("node-{node}")).merge(
                        json!({"status": {"allocatable": {"cpu": "64", "memory": "256Gi"}}}),
                    ))
                })
                .start();
        let size = json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}});
        let timeline = short_history();
        let mut series = Vec::new();
        let mut hot_pods = 0;
        for i in 0..100 {
            let (name, node) = (format!("web-{i}"), format!("node-{}", i % 4));
            put_running(
                &cluster,
                pod(
                    "shop",
                    &name,
                    &node,
                    vec![
                        container("app", size.clone()),
                        container("proxy", size.clone()),
                    ],
                ),
            );
            // Every tenth pod has a hot app container; the rest sit in the band.
            let app_cpu = if i % 10 == 0 {
                hot_pods += 1;
                0.48
            } else {
                0.25
            };
            series.extend(
                PodHistory::new(
                    "shop",
                    &name,
                    &node,
                    vec![
                        ContainerLoad::new(
                            "app",
                            Profile::Constant(app_cpu),
                            Profile::Constant(150.0 * MI),
                        ),
                        ContainerLoad::new(
                            "proxy",
                            Profile::Constant(0.25),
                            Profile::Constant(150.0 * MI),
                        ),
                    ],
                )
                .series(&timeline),
            );
        }
        cluster.push(series);
        let proxy = FaultProxy::start(&cluster.prometheus).unwrap();
        cluster.prometheus_url = proxy.url();
        cluster.api.reset_requests();

        let env = [("RESIZE_MEMORY", if memory { "true" } else { "false" })];
        let tick = cluster.tick("resize-pods", &env);
        tick.assert_success();
        let api = &cluster.api;
        // Per resource: its usage over the short and stabilization windows, and its long view.
        assert_eq!(
            proxy.query_count(),
            if memory { 4 } else { 2 },
            "memory {memory}"
        );
        let long_views = proxy
            .requests_to("/api/v1/query")
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("quantile_over_time"))
            .count();
        assert_eq!(long_views, 1, "the CPU long view (memory's is a maximum)");
        // Only the namespace with opted-in pods is selected: Prometheus' cost follows the opted-in containers.
        for request in proxy.requests_to("/api/v1/query") {
            let body = String::from_utf8_lossy(&request.body);
            assert!(
                body.contains("namespace%3D~%22shop%22"),
                "query not narrowed to the opted-in namespace: {body}"
            );
        }
        assert_eq!(
            tick.metric(
                "kube_thermostat_tick_prometheus_queries",
                &[("controller", "resize-pods")]
            ),
            Some(if memory { 4.0 } else { 2.0 })
        );
        for resource in ["pods", "nodes", "namespaces"] {
            assert_eq!(
                api.count("list", resource),
                0,
                "{resource}: snapshots replace the LIST"
            );
        }
        assert_eq!(api.count("list", "horizontalpodautoscalers"), 1);
        assert_eq!(api.count("list", "verticalpodautoscalers"), 1);
        // Issue 18: the admission rules a resize must pass, read once per tick rather than met as 403s.
        assert_eq!(api.count("list", "limitranges"), 1);
        assert_eq!(api.count("list", "resourcequotas"), 1);
        assert_eq!(
            api.requests()
                .iter()
                .filter(|r| r.path == "/version")
                .count(),
            1
        );
        assert_eq!(
            api.count("patch", "pods/resize"),
            hot_pods,
            "memory {memory}: {}",
            tick.stderr
        );
        assert_eq!(
            api.count("patch", "pods"),
            hot_pods + 1,
            "one annotation per resized pod, and the counter totals on our own pod"
        );
        assert_eq!(
            api.count("create", "events"),
            hot_pods,
            "one Event per resized pod"
        );
        assert_eq!(api.count_writes(), 3 * hot_pods + 1);
        assert_eq!(
            api.count("get", "pods"),
            1,
            "our own pod, for the counter totals"
        );
        assert_eq!(
            api.requests().len(),
            5 + 3 * hot_pods + 2,
            "nothing else: {:?}",
            api.requests()
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>()
        );
    }
}

// ---- Permissions -------------------------------------------------------------------------------------------

/// What resize-pods needs (issue 6): patch pods/resize, our annotation and Events; read pods, nodes,
/// namespaces, HPAs and VPAs, LimitRanges and ResourceQuotas (issue 18).
fn resize_rules(with_resize: bool) -> Vec<PolicyRule> {
    let mut rules = vec![
        PolicyRule::new(&[""], &["pods"], &["get", "list", "patch"]),
        PolicyRule::new(
            &[""],
            &["nodes", "namespaces", "limitranges", "resourcequotas"],
            &["list"],
        ),
        PolicyRule::new(&["events.k8s.io"], &["events"], &["create"]),
        PolicyRule::new(&["autoscaling"], &["horizontalpodautoscalers"], &["list"]),
        PolicyRule::new(
            &["autoscaling.k8s.io"],
            &["verticalpodautoscalers"],
            &["list"],
        ),
    ];
    if with_resize {
        rules.push(PolicyRule::new(&[""], &["pods/resize"], &["patch"]));
    }
    rules
}

fn cluster_with_rules(rules: Vec<PolicyRule>) -> Cluster {
    let cluster = support::scenario()
        .api(Options {
            rbac: Some(rules),
            ..Options::default()
        })
        .node(NodeBuilder::new("node-1"))
        .start();
    hot_web(&cluster);
    cluster
}

#[test]
fn documented_permissions_are_enough_for_hook_ticks_and_run() {
    let cluster = cluster_with_rules(resize_rules(true));

    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "800m");
    let forbidden: Vec<String> = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.status == 403)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(forbidden.is_empty(), "{forbidden:?}");

    cluster.run_cli(&["resize-pods"], &[]).assert_success();
}

#[test]
fn missing_permission_on_pods_resize_fails_the_tick_saying_so() {
    let cluster = cluster_with_rules(resize_rules(false));

    let tick = cluster.tick("resize-pods", &[]);
    assert_eq!(tick.code, 1, "{}", tick.stderr);
    assert!(
        tick.stderr
            .contains("cannot patch resource \"pods/resize\""),
        "{}",
        tick.stderr
    );
    assert_eq!(
        cluster.api.count("patch", "pods"),
        0,
        "no annotation for a resize not made"
    );
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
}

// ---- Kubernetes 1.36 PodResizeValidator admission ---------------------------------------------------------

/// A 403 of the 1.36+ `PodResizeValidator` (kubernetes plugin/pkg/admission/podresize/admission.go).
fn admission_refusal(tick: &support::HookOutput, says: &str) {
    assert_eq!(tick.code, 1, "the refusal is reported: {}", tick.stderr);
    assert!(tick.stderr.contains("403"), "{}", tick.stderr);
    assert!(tick.stderr.contains(says), "{}", tick.stderr);
}

/// The refused resize backs off for RESIZE_BACKOFF: the next tick sends nothing.
fn backed_off(cluster: &Cluster) {
    assert_eq!(resources(cluster, WEB, "app")["limits"]["cpu"], "500m");
    let record = last_resize(cluster, WEB).expect("a back-off record");
    assert!(record["app"]["backoffUntil"].is_string(), "{record}");
    cluster.api.reset_requests();
    let next = cluster.tick("resize-pods", &[]);
    next.assert_success();
    assert_eq!(resize_patches(cluster), 0, "backing off\n{}", next.stderr);
}

#[test]
fn resize_above_the_nodes_allocatable_is_refused_by_1_36_admission_and_backed_off() {
    let cluster = cluster_at(36);
    hot_web(&cluster);
    // The snapshot still shows a roomy node; the server's node has shrunk since (allocatable 700m).
    let context = cluster.binding_context("resize-pods", &[]);
    cluster.api.modify("Node", None, "node-1", |node| {
        node["status"]["allocatable"]["cpu"] = json!("700m");
    });
    let tick = cluster.run_hook(&context, &[]);
    admission_refusal(
        &tick,
        "node didn't have enough allocatable resources: cpu, requested: ",
    );
    let refusal = cluster
        .api
        .requests()
        .into_iter()
        .find(|r| r.resource == "pods/resize")
        .unwrap();
    assert_eq!(refusal.status, 403);
    backed_off(&cluster);
}

#[test]
fn resize_on_a_node_that_is_not_linux_is_refused_by_1_36_admission_and_backed_off() {
    let cluster = cluster_at(36);
    cluster.api.modify("Node", None, "node-1", |node| {
        node["metadata"]["labels"]["kubernetes.io/os"] = json!("windows");
    });
    hot_web(&cluster);
    let tick = cluster.tick("resize-pods", &[]);
    admission_refusal(
        &tick,
        r#"pod resize is only supported on linux nodes, node "node-1" is "windows""#,
    );
    backed_off(&cluster);
}

#[test]
fn resize_whose_node_admission_cannot_find_fails_the_tick_without_a_back_off() {
    let cluster = cluster_at(36);
    hot_web(&cluster);
    let context = cluster.binding_context("resize-pods", &[]);
    let node = cluster.api.delete("Node", None, "node-1").unwrap();
    let tick = cluster.run_hook(&context, &[]);
    admission_refusal(&tick, "not found");
    assert_eq!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
    assert!(
        last_resize(&cluster, WEB).is_none(),
        "about the node, not the resize: no back-off"
    );
    // The node's informer catches up: the next tick resizes.
    cluster.api.put(node);
    cluster.tick("resize-pods", &[]).assert_success();
    assert_ne!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
}

#[test]
fn resize_meeting_1_36_admission_not_ready_is_retried_in_the_tick_and_never_backed_off() {
    // Once: a retry within the tick gets it through.
    let cluster = cluster_at(36);
    hot_web(&cluster);
    cluster.api.resize_admission_unready(1);
    let tick = cluster.tick("resize-pods", &[]);
    tick.assert_success();
    assert_eq!(resize_patches(&cluster), 2, "{}", tick.stderr);
    assert_ne!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
    let record = last_resize(&cluster, WEB).unwrap();
    assert!(record["app"].get("backoffUntil").is_none(), "{record}");

    // Longer than the tick's retries: the tick fails, nothing is backed off, the next tick resizes.
    let cluster = cluster_at(36);
    hot_web(&cluster);
    cluster.api.resize_admission_unready(100);
    let tick = cluster.tick("resize-pods", &[]);
    admission_refusal(&tick, "not yet ready to handle request");
    assert_eq!(
        resize_patches(&cluster),
        3,
        "bounded: three tries\n{}",
        tick.stderr
    );
    assert!(last_resize(&cluster, WEB).is_none(), "never backed off");
    cluster.api.resize_admission_unready(0);
    cluster.tick("resize-pods", &[]).assert_success();
    assert_ne!(resources(&cluster, WEB, "app")["limits"]["cpu"], "500m");
}

#[test]
fn a_default_1_32_server_serves_no_resize_route_and_the_tick_says_so() {
    // InPlacePodVerticalScaling is alpha (off) in 1.32: the route is not registered, /version looks fine.
    let cluster = support::cluster_with(Options {
        server_minor: 32,
        ..Options::default()
    });
    cluster.add_node("node-1", json!({}));
    hot_web(&cluster);
    let tick = cluster.tick("resize-pods", &[]);
    assert_eq!(tick.code, 1, "{}", tick.stderr);
    assert!(
        tick.stderr.contains("InPlacePodVerticalScaling"),
        "{}",
        tick.stderr
    );
    let tried: Vec<u16> = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/web-1/resize"))
        .map(|r| r.status)
        .collect();
    assert_eq!(tried, [404], "one try, answered 404");
    assert_eq!(cluster.api.count("patch", "pods"), 0, "no fallback");
}
