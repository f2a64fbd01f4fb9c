//! The hook against the real kube-apiserver (and etcd) that `make peers` builds, one test per Kubernetes minor
//! pinned under `tests/peers/`. Each starts one control plane with the shipped manifests applied
//! (`config/hardening`), then runs every scenario below against it in turn, each with its own real Prometheus:
//! what the Rust stand-in (`tests/rig/src/apiserver`) believes, checked against the program it stands in for.
//!
//! A missing binary fails the test with "run `make peers`"; nothing here is skipped. Set `REAL_SCENARIO=text` to
//! run only the scenarios whose name contains `text`. The suite writes to the terminal (not captured) which
//! versions run and how many scenarios passed against each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use thermostat_rig::apiserver::{ApiServer, Options};
use thermostat_rig::cluster::{self, HookOutput, gojq_each, plan_notes_about, run_binary};
use thermostat_rig::prometheus::{
    ContainerLoad, NodeHistory, PodHistory, Profile, Prometheus, Timeline,
};
use thermostat_rig::realcluster::{self, HOOK_USER, Peer, RealCluster};

const ANNOTATION: &str = "kube-thermostat.io/taint";
const LAST_RESIZE: &str = "kube-thermostat.io/last-resize";
/// The label that opts a namespace and a pod in (RESIZE_NAMESPACE_SELECTOR, RESIZE_POD_SELECTOR defaults).
const RESIZE_LABEL: &str = "kube-thermostat.io/resize";
const FOREIGN_TAINT: &str = "example.com/dedicated";
const COOL_NEIGHBOURS: [&str; 3] = ["cool-1", "cool-2", "cool-3"];
use thermostat_rig::prometheus::node_load::{COOL, HOT, IN_BAND, cooled_for};

/// The minors with a test function below; `every_pinned_minor_has_a_test` keeps it equal to `tests/peers/`.
const MINORS: &[&str] = &["1.33", "1.36", "1.37"];

#[test]
fn kubernetes_1_33() {
    run_suite("1.33");
}

/// The first minor with the `PodResizeValidator` admission plugin.
#[test]
fn kubernetes_1_36() {
    run_suite("1.36");
}

#[test]
fn kubernetes_1_37() {
    run_suite("1.37");
}

/// 1.33 with the alpha `PodLevelResources` gate on, the one way a 1.33 pod keeps pod-level resources (the server
/// drops them at creation otherwise): such a pod is skipped with the version in the reason, and the real server
/// refuses its resize.
#[test]
fn kubernetes_1_33_with_the_pod_level_resources_alpha_gate() {
    run_suite_with(
        "1.33",
        &["PodLevelResources=true"],
        &[(
            "a_pod_with_pod_level_resources_is_skipped_on_1_33_with_the_alpha_gate",
            a_pod_with_pod_level_resources_is_skipped_on_1_33_with_the_alpha_gate,
        )],
    );
}

fn a_pod_with_pod_level_resources_is_skipped_on_1_33_with_the_alpha_gate(world: &World) {
    let namespace = "resize-pod-level-alpha";
    opted_in_namespace(world, namespace);
    world.add_node("node-0", json!({}), None);
    let probe = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
        "spec": {"nodeName": "node-0", "resources": {"requests": {"cpu": "1"}},
                 "containers": [{"name": "c", "image": "c:1"}]}});
    let stored = world.cluster.run_pod(namespace, probe).unwrap();
    assert!(
        stored["spec"]["resources"].is_object(),
        "the gate keeps pod-level resources at creation: {}",
        stored["spec"]
    );
    a_pod_with_pod_level_resources_is_resized_from_1_36_with_its_budget(world);
}

#[test]
fn every_pinned_minor_has_a_test() {
    let mut pinned: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers"))
            .unwrap()
            .filter_map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                name.strip_prefix("kubernetes-").map(str::to_owned)
            })
            .collect();
    pinned.sort();
    assert_eq!(
        pinned, MINORS,
        "tests/peers/kubernetes-* and the test functions of this file"
    );
}

type Scenario = fn(&World);

/// Every scenario, run against each minor in this order.
const SCENARIOS: &[(&str, Scenario)] = &[
    (
        "version_is_the_pinned_kube_apiserver",
        version_is_the_pinned_kube_apiserver,
    ),
    (
        "hot_node_is_tainted_then_kept_without_a_write",
        hot_node_is_tainted_then_kept_without_a_write,
    ),
    (
        "our_taint_is_removed_after_cooling_whatever_its_reason_says",
        our_taint_is_removed_after_cooling_whatever_its_reason_says,
    ),
    (
        "taint_then_untaint_through_snapshots_of_the_real_objects",
        taint_then_untaint_through_snapshots_of_the_real_objects,
    ),
    (
        "a_foreign_writer_between_snapshot_and_write_gets_a_real_422_and_a_re_read",
        a_foreign_writer_between_snapshot_and_write_gets_a_real_422_and_a_re_read,
    ),
    ("in_band_node_keeps_its_taint", in_band_node_keeps_its_taint),
    (
        "remove_all_removes_ours_and_keeps_foreign_taints",
        remove_all_removes_ours_and_keeps_foreign_taints,
    ),
    (
        "events_are_accepted_and_readable",
        events_are_accepted_and_readable,
    ),
    (
        "dry_runs_of_both_controllers_need_only_the_shipped_role",
        dry_runs_of_both_controllers_need_only_the_shipped_role,
    ),
    (
        "a_request_outside_the_shipped_role_is_a_real_403",
        a_request_outside_the_shipped_role_is_a_real_403,
    ),
    (
        "hardening_policies_refuse_foreign_changes_by_our_service_account",
        hardening_policies_refuse_foreign_changes_by_our_service_account,
    ),
    (
        "a_client_certificate_kubeconfig_works_with_the_shipped_role",
        a_client_certificate_kubeconfig_works_with_the_shipped_role,
    ),
    (
        "list_pages_follow_real_continue_tokens",
        list_pages_follow_real_continue_tokens,
    ),
    (
        "hot_container_is_resized_in_place_and_actuated",
        hot_container_is_resized_in_place_and_actuated,
    ),
    (
        "a_sidecar_is_resized_like_a_container_and_an_init_container_is_left_alone",
        a_sidecar_is_resized_like_a_container_and_an_init_container_is_left_alone,
    ),
    (
        "memory_limits_are_lowered_where_the_minor_allows",
        memory_limits_are_lowered_where_the_minor_allows,
    ),
    (
        "a_pod_with_pod_level_resources_is_resized_from_1_36_with_its_budget",
        a_pod_with_pod_level_resources_is_resized_from_1_36_with_its_budget,
    ),
    (
        "generation_and_observed_generation_as_the_real_server_keeps_them",
        generation_and_observed_generation_as_the_real_server_keeps_them,
    ),
    (
        "an_hpa_on_cpu_leaves_memory_to_be_resized",
        an_hpa_on_cpu_leaves_memory_to_be_resized,
    ),
    (
        "pod_level_requests_of_a_neighbour_count_against_an_upsize",
        pod_level_requests_of_a_neighbour_count_against_an_upsize,
    ),
    (
        "a_foreign_writer_between_read_and_resize_gets_a_real_409_and_a_re_read",
        a_foreign_writer_between_read_and_resize_gets_a_real_409_and_a_re_read,
    ),
    (
        "resize_answers_match_the_stand_in",
        resize_answers_match_the_stand_in,
    ),
    (
        "limit_ranges_and_quotas_cut_or_keep_an_upsize_as_the_real_admission_would",
        limit_ranges_and_quotas_cut_or_keep_an_upsize_as_the_real_admission_would,
    ),
];

/// Writes to the terminal even while libtest captures the test's output.
fn announce(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn run_suite(minor: &str) {
    run_suite_with(minor, &[], SCENARIOS);
}

/// `scenarios` against kube-apiserver `minor` started with `--feature-gates` `gates` (none: the defaults).
fn run_suite_with(minor: &str, gates: &[&str], scenarios: &[(&str, Scenario)]) {
    let peers = realcluster::peers().unwrap_or_else(|error| panic!("{error:#}"));
    let apiserver = peers
        .iter()
        .find(|peer| peer.name == "kube-apiserver" && peer.minor() == minor)
        .unwrap_or_else(|| panic!("no kube-apiserver {minor} among the peers: {peers:?}"))
        .clone();
    let etcd = realcluster::peer(&peers, "etcd").unwrap();
    let filter = std::env::var("REAL_SCENARIO").unwrap_or_default();
    // A suite of a few scenarios (a non-default gate) is not started for a filter meant for the others; the full
    // suites still fail on a filter that matches nothing (a typo).
    if !std::ptr::eq(scenarios, SCENARIOS)
        && !scenarios.iter().any(|(name, _)| name.contains(&filter))
    {
        announce(&format!(
            "real peers: kube-apiserver {minor} with --feature-gates={}: no scenario matches REAL_SCENARIO={filter:?}",
            gates.join(",")
        ));
        return;
    }
    announce(&format!(
        "real peers: kube-apiserver {} with etcd {}{}: starting",
        apiserver.version,
        etcd.version,
        if gates.is_empty() {
            String::new()
        } else {
            format!(", --feature-gates={}", gates.join(","))
        }
    ));
    let started = Instant::now();
    let cluster = RealCluster::start_with_feature_gates(&apiserver, &etcd, gates)
        .unwrap_or_else(|error| panic!("{error:#}"));
    announce(&format!(
        "real peers: kube-apiserver {} ready in {:.1} s",
        apiserver.version,
        started.elapsed().as_secs_f64()
    ));
    let mut failed = Vec::new();
    let mut passed = 0;
    for (name, scenario) in scenarios.iter().filter(|(name, _)| name.contains(&filter)) {
        cluster.delete_all_nodes().unwrap();
        delete_opted_in_pods(&cluster);
        let world = World::new(&cluster, &apiserver);
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&world)));
        let elapsed = started.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => {
                passed += 1;
                announce(&format!(
                    "  {} {name} ... ok ({elapsed:.1} s)",
                    apiserver.version
                ));
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                    .unwrap_or_default();
                announce(&format!(
                    "  {} {name} ... FAILED ({elapsed:.1} s)",
                    apiserver.version
                ));
                failed.push(format!("{name}: {message}"));
            }
        }
    }
    assert!(
        passed + failed.len() > 0,
        "REAL_SCENARIO={filter:?} matches no scenario"
    );
    announce(&format!(
        "real peers: kube-apiserver {}: {passed} scenarios passed, {} failed",
        apiserver.version,
        failed.len()
    ));
    assert!(
        failed.is_empty(),
        "against kube-apiserver {}:\n{}\n--- server logs:\n{}",
        apiserver.version,
        failed.join("\n\n"),
        cluster.log_tail()
    );
}

/// Pods left by an earlier scenario would be resize candidates of the next: gone at once (grace period 0, as
/// `kubectl delete --force`), since no kubelet confirms a graceful deletion here.
fn delete_opted_in_pods(cluster: &RealCluster) {
    let namespaces = cluster
        .list(&format!(
            "/api/v1/namespaces?labelSelector={RESIZE_LABEL}%3Dtrue"
        ))
        .unwrap();
    for namespace in namespaces {
        let name = namespace["metadata"]["name"].as_str().unwrap();
        cluster
            .request(
                "DELETE",
                &format!("/api/v1/namespaces/{name}/pods?gracePeriodSeconds=0"),
                None,
            )
            .unwrap()
            .ok()
            .unwrap();
    }
}

/// One scenario's world: the shared control plane, a fresh Prometheus, the binary under test.
struct World<'a> {
    cluster: &'a RealCluster,
    apiserver: &'a Peer,
    prometheus: Prometheus,
    timeline: Timeline,
    binary: PathBuf,
    dir: TempDir,
    /// The shipped TAINT_KEY (config/base/settings.env), which the shipped policies were written for.
    taint_key: String,
}

impl<'a> World<'a> {
    fn new(cluster: &'a RealCluster, apiserver: &'a Peer) -> World<'a> {
        World {
            cluster,
            apiserver,
            prometheus: Prometheus::start()
                .expect("start Prometheus (make deps installs Debian's prometheus)"),
            timeline: Timeline::ending_now(Duration::from_secs(15 * 60)),
            binary: PathBuf::from(env!("CARGO_BIN_EXE_kube-thermostat")),
            dir: tempfile::tempdir().unwrap(),
            taint_key: shipped_setting("TAINT_KEY"),
        }
    }

    fn ours(&self) -> Value {
        json!({"key": self.taint_key, "value": "true", "effect": "NoSchedule"})
    }

    /// A node we tainted on an earlier tick, its annotation recording `reason`.
    fn tainted_earlier(&self, reason: &str) -> Value {
        let record = json!({
            "key": self.taint_key, "value": "true", "effect": "NoSchedule",
            "since": "2025-01-01T00:00:00Z", "reason": reason,
        });
        json!({
            "metadata": {"annotations": {ANNOTATION: record.to_string()}},
            "spec": {"taints": [self.ours()]},
        })
    }

    fn add_node(&self, name: &str, extra: Value, load: Option<Profile>) {
        self.cluster.add_node(name, extra).unwrap();
        if let Some(load) = load {
            self.load(name, load);
        }
    }

    /// Three cool nodes: with one more, MAX_TAINTED_FRACTION (30 %) lets one node of four carry the taint.
    fn add_cool_neighbours(&self) {
        for name in COOL_NEIGHBOURS {
            self.add_node(name, json!({}), Some(COOL));
        }
    }

    fn load(&self, name: &str, profile: Profile) {
        self.prometheus
            .push(&NodeHistory::new(name, profile).series(&self.timeline))
            .unwrap();
    }

    fn node(&self, name: &str) -> Value {
        self.cluster.get(&format!("/api/v1/nodes/{name}"))
    }

    fn taints(&self, name: &str) -> Value {
        self.node(name)["spec"]["taints"].clone()
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PROMETHEUS_URL".into(), self.prometheus.url()),
            (
                "KUBECONFIG".into(),
                self.cluster.hook_kubeconfig.display().to_string(),
            ),
            ("TAINT_KEY".into(), self.taint_key.clone()),
            ("TICK_TIMEOUT".into(), "30s".into()),
            ("PROMETHEUS_TIMEOUT".into(), "5s".into()),
            ("HOSTNAME".into(), "kube-thermostat-test".into()),
        ]
    }

    /// `kube-thermostat run ARGS` as our ServiceAccount (no snapshots: the hook LISTs).
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> HookOutput {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        run_binary(&self.binary, &all, &self.env(), env)
    }

    /// One shell-operator tick of `binding`, its snapshots made from the real server's objects (LIST as admin,
    /// as shell-operator's informers hold them) through the hook's own jqFilters (gojq).
    fn tick(&self, binding: &str, env: &[(&str, &str)]) -> HookOutput {
        let context = self.binding_context(binding, env);
        self.run_hook(&context, env)
    }

    /// The binding context of a tick of `binding` on the objects as they are now.
    fn binding_context(&self, binding: &str, env: &[(&str, &str)]) -> Value {
        let config = run_binary(&self.binary, &["--config"], &self.env(), env);
        assert_eq!(config.code, 0, "--config: {}", config.stderr);
        let config: Value = serde_json::from_str(&config.stdout).unwrap();
        let include = config["schedule"]
            .as_array()
            .unwrap()
            .iter()
            .find(|schedule| schedule["name"] == binding)
            .and_then(|schedule| schedule["includeSnapshotsFrom"].as_array().cloned())
            .unwrap_or_default();
        let mut snapshots = serde_json::Map::new();
        for name in include {
            let name = name.as_str().unwrap();
            let watch = config["kubernetes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|watch| watch["name"] == name)
                .unwrap();
            let objects = self.cluster.list(&list_path(watch)).unwrap();
            let items: Vec<Value> = gojq_each(watch["jqFilter"].as_str().unwrap(), &objects)
                .into_iter()
                .map(|result| json!({"filterResult": result}))
                .collect();
            snapshots.insert(name.to_owned(), Value::Array(items));
        }
        json!([{"binding": binding, "type": "Schedule", "snapshots": snapshots}])
    }

    /// Runs the hook as shell-operator does, with `context` as its binding context.
    fn run_hook(&self, context: &Value, env: &[(&str, &str)]) -> HookOutput {
        cluster::run_hook_in(self.dir.path(), &self.binary, &self.env(), context, env)
    }
}

/// The REST path shell-operator's informer lists for a `kubernetes` binding (kind, apiVersion, field selector).
fn list_path(watch: &Value) -> String {
    let kind = watch["kind"].as_str().unwrap();
    let api_version = watch["apiVersion"].as_str().unwrap_or("v1");
    let plural = match kind {
        "Node" => "nodes",
        "Pod" => "pods",
        "Namespace" => "namespaces",
        "HorizontalPodAutoscaler" => "horizontalpodautoscalers",
        "VerticalPodAutoscaler" => "verticalpodautoscalers",
        other => panic!("no REST path for kind {other}"),
    };
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let mut path = format!("{prefix}/{plural}");
    let selectors: Vec<String> = watch["fieldSelector"]["matchExpressions"]
        .as_array()
        .map(|expressions| {
            expressions
                .iter()
                .map(|e| {
                    let operator = if e["operator"] == "NotEquals" {
                        "!="
                    } else {
                        "="
                    };
                    format!(
                        "{}{operator}{}",
                        e["field"].as_str().unwrap(),
                        e["value"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if !selectors.is_empty() {
        path.push_str(&format!("?fieldSelector={}", selectors.join(",")));
    }
    path
}

/// A setting as the shipped `config/base/settings.env` has it.
fn shipped_setting(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/base/settings.env");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} is not in {}", path.display()))
}

fn resource_version(node: &Value) -> String {
    node["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

// ---- Scenarios ------------------------------------------------------------------------------------------------

fn version_is_the_pinned_kube_apiserver(world: &World) {
    let answer = world
        .cluster
        .request_as_hook("GET", "/version", None)
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["gitVersion"], world.apiserver.version,
        "{}",
        answer.body
    );
    let minor = world.apiserver.minor();
    assert_eq!(
        answer.body["minor"],
        minor.split('.').nth(1).unwrap(),
        "{}",
        answer.body
    );
}

fn hot_node_is_tainted_then_kept_without_a_write(world: &World) {
    world.add_node("hot-1", json!({}), Some(HOT));
    world.add_cool_neighbours();

    let first = world.run(&["taint-nodes"], &[]);
    first.assert_success();
    assert_eq!(
        world.taints("hot-1"),
        json!([world.ours()]),
        "{}",
        first.stderr
    );
    assert!(world.taints("cool-1").is_null(), "{}", first.stderr);
    let record: Value = serde_json::from_str(
        world.node("hot-1")["metadata"]["annotations"][ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        record["reason"].as_str().unwrap().contains("> 80%"),
        "{record}"
    );

    let before = resource_version(&world.node("hot-1"));
    let second = world.run(&["taint-nodes"], &[]);
    second.assert_success();
    assert_eq!(
        resource_version(&world.node("hot-1")),
        before,
        "a second tick at the same load writes nothing:\n{}",
        second.stderr
    );
}

fn our_taint_is_removed_after_cooling_whatever_its_reason_says(world: &World) {
    // The real server stores the annotation as Go's encoding/json writes it (`<` as \u003c, ...): the write's
    // JSON Patch `test` must still match (issue 14, item 1).
    let reason = "hot: cpu 95% > 80% & memory <unknown>, above for 3m";
    world.add_node(
        "cooled",
        world.tainted_earlier(reason),
        Some(cooled_for(10)),
    );
    world.add_cool_neighbours();

    let output = world.run(&["taint-nodes"], &[]);
    output.assert_success();
    assert!(
        world.taints("cooled").is_null(),
        "cooled for 10m: untainted\n{}",
        output.stderr
    );
    assert!(
        world.node("cooled")["metadata"]["annotations"]
            .get(ANNOTATION)
            .is_none(),
        "our annotation goes with our taint"
    );
}

fn taint_then_untaint_through_snapshots_of_the_real_objects(world: &World) {
    world.add_node("cycle", json!({}), Some(HOT));
    world.add_cool_neighbours();
    let hot = world.tick("taint-nodes", &[]);
    hot.assert_success();
    assert_eq!(
        world.taints("cycle"),
        json!([world.ours()]),
        "{}",
        hot.stderr
    );

    // The same node, its history now cooled for 10 minutes (a new Prometheus: history cannot be rewritten).
    let cooled = World::new(world.cluster, world.apiserver);
    cooled.load("cycle", cooled_for(10));
    for name in COOL_NEIGHBOURS {
        cooled.load(name, COOL);
    }
    let cool = cooled.tick("taint-nodes", &[]);
    cool.assert_success();
    assert!(
        world.taints("cycle").is_null(),
        "the annotation our binary wrote (a reason with `>`) must not stop the untaint:\n{}",
        cool.stderr
    );
}

fn a_foreign_writer_between_snapshot_and_write_gets_a_real_422_and_a_re_read(world: &World) {
    world.add_node("contended", json!({}), Some(HOT));
    world.add_cool_neighbours();
    let context = world.binding_context("taint-nodes", &[]);
    // Another controller taints the node after shell-operator's snapshot and before our write.
    let dedicated = json!({"key": FOREIGN_TAINT, "value": "gpu", "effect": "NoSchedule"});
    world
        .cluster
        .update("/api/v1/nodes/contended", |node| {
            node["spec"]["taints"] = json!([dedicated]);
        })
        .unwrap();
    let output = world.run_hook(&context, &[]);
    output.assert_success();
    assert!(
        output.stderr.contains("node changed since read"),
        "the write built from the snapshot fails its test and the node is read again:\n{}",
        output.stderr
    );
    assert_eq!(
        world.taints("contended"),
        json!([dedicated, world.ours()]),
        "the foreign taint is kept and ours added:\n{}",
        output.stderr
    );
}

fn in_band_node_keeps_its_taint(world: &World) {
    world.add_node(
        "in-band",
        world.tainted_earlier("hot: cpu 95% > 80%"),
        Some(IN_BAND),
    );
    world.add_cool_neighbours();
    let before = resource_version(&world.node("in-band"));
    let output = world.run(&["taint-nodes"], &[]);
    output.assert_success();
    assert_eq!(
        world.taints("in-band"),
        json!([world.ours()]),
        "{}",
        output.stderr
    );
    assert_eq!(
        resource_version(&world.node("in-band")),
        before,
        "{}",
        output.stderr
    );
}

fn remove_all_removes_ours_and_keeps_foreign_taints(world: &World) {
    let dedicated = json!({"key": FOREIGN_TAINT, "value": "gpu", "effect": "NoSchedule"});
    let mut recorded = world.tainted_earlier("hot: cpu 95% > 80% & <more>");
    recorded["spec"]["taints"] = json!([dedicated, world.ours()]);
    world.add_node("recorded", recorded, None);
    world.add_node("seed", json!({"spec": {"taints": [world.ours()]}}), None);
    world.add_node(
        "foreign-only",
        json!({"spec": {"taints": [dedicated]}}),
        None,
    );

    let output = world.run(&["taint-nodes", "--remove-all"], &[("PROMETHEUS_URL", "")]);
    output.assert_success();
    assert_eq!(
        world.taints("recorded"),
        json!([dedicated]),
        "{}",
        output.stderr
    );
    assert!(
        world.node("recorded")["metadata"]["annotations"]
            .get(ANNOTATION)
            .is_none()
    );
    assert!(world.taints("seed").is_null(), "{}", output.stderr);
    assert_eq!(world.taints("foreign-only"), json!([dedicated]));
}

fn events_are_accepted_and_readable(world: &World) {
    world.add_node("eventful", json!({}), Some(HOT));
    world.add_cool_neighbours();
    let output = world.run(&["taint-nodes"], &[]);
    output.assert_success();
    assert_eq!(
        world.taints("eventful"),
        json!([world.ours()]),
        "{}",
        output.stderr
    );
    let events = world
        .cluster
        .list("/apis/events.k8s.io/v1/events?fieldSelector=regarding.name=eventful")
        .unwrap();
    let tainted: Vec<&Value> = events
        .iter()
        .filter(|e| e["reason"] == "ThermostatTainted")
        .collect();
    assert_eq!(
        tainted.len(),
        1,
        "one ThermostatTainted Event about the node, accepted by the real server:\n{events:?}\n{}",
        output.stderr
    );
    assert_eq!(tainted[0]["regarding"]["kind"], "Node");
    // What an SRE types. kubectl reads core/v1 Events (the same objects, served in both versions), whose field
    // is involvedObject.name.
    let table = world
        .cluster
        .kubectl(&[
            "get",
            "events",
            "--all-namespaces",
            "--field-selector",
            "involvedObject.name=eventful",
        ])
        .unwrap();
    assert!(table.contains("ThermostatTainted"), "{table}");
}

fn dry_runs_of_both_controllers_need_only_the_shipped_role(world: &World) {
    world.add_node("hot-1", json!({}), Some(HOT));
    world.add_cool_neighbours();
    for controller in ["taint-nodes", "resize-pods"] {
        let output = world.run(&[controller, "--dry-run"], &[]);
        output.assert_success();
        // "Forbidden" is how a refused request reads (status and reason); a bare "403" also matches times like
        // 12:46:44.403Z and durations.
        assert!(
            !output.stderr.to_lowercase().contains("forbidden"),
            "{controller} --dry-run as our ServiceAccount:\n{}",
            output.stderr
        );
        let tick = world.tick(controller, &[("DRY_RUN", "true")]);
        tick.assert_success();
        assert!(
            !tick.stderr.contains("forbidden"),
            "{controller} tick:\n{}",
            tick.stderr
        );
    }
    assert!(world.taints("hot-1").is_null(), "dry runs change nothing");
}

fn a_request_outside_the_shipped_role_is_a_real_403(world: &World) {
    world.add_node("guarded", json!({}), None);
    let secrets = world
        .cluster
        .request_as_hook("GET", "/api/v1/secrets", None)
        .unwrap();
    assert_eq!(secrets.status, 403, "{}", secrets.body);
    assert_eq!(
        secrets.body["message"],
        format!(
            "secrets is forbidden: User \"{HOOK_USER}\" cannot list resource \"secrets\" in API group \"\" at the \
             cluster scope"
        ),
        "{}",
        secrets.body
    );
    assert_eq!(secrets.body["reason"], "Forbidden");
    let delete = world
        .cluster
        .request_as_hook("DELETE", "/api/v1/nodes/guarded", None)
        .unwrap();
    assert_eq!(delete.status, 403, "{}", delete.body);
    assert_eq!(
        delete.body["message"],
        format!(
            "nodes \"guarded\" is forbidden: User \"{HOOK_USER}\" cannot delete resource \"nodes\" in API group \"\" \
             at the cluster scope"
        ),
        "{}",
        delete.body
    );
}

fn hardening_policies_refuse_foreign_changes_by_our_service_account(world: &World) {
    let dedicated = json!({"key": FOREIGN_TAINT, "value": "gpu", "effect": "NoSchedule"});
    world.add_node("fenced", json!({"spec": {"taints": [dedicated]}}), None);
    let path = "/api/v1/nodes/fenced";
    let merge = "application/merge-patch+json";
    // The policies are applied with the cluster; their admission takes a moment to load them. Until it does,
    // a write goes through, so the node is set back before each try.
    let started = Instant::now();
    let refused = loop {
        world
            .cluster
            .update(path, |node| node["spec"]["taints"] = json!([dedicated]))
            .unwrap();
        let answer = world
            .cluster
            .patch_as_hook(path, merge, &json!({"spec": {"taints": []}}))
            .unwrap();
        if answer.status != 200 || started.elapsed() > Duration::from_secs(30) {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(refused.status, 403, "{}", refused.body);
    let message = refused.body["message"].as_str().unwrap();
    assert!(
        message.contains("ValidatingAdmissionPolicy 'kube-thermostat-nodes'")
            && message.contains("kube-thermostat may add, change or remove only its own taint"),
        "{message}"
    );
    assert_eq!(world.taints("fenced"), json!([dedicated]));

    let annotation = world
        .cluster
        .patch_as_hook(
            path,
            merge,
            &json!({"metadata": {"annotations": {"example.com/owner": "us"}}}),
        )
        .unwrap();
    assert_eq!(annotation.status, 403, "{}", annotation.body);
    assert!(
        annotation.body["message"]
            .as_str()
            .unwrap()
            .contains("kube-thermostat may change only kube-thermostat.io/ annotations"),
        "{}",
        annotation.body
    );

    // Our own taint and annotation go through.
    let ours = world
        .cluster
        .patch_as_hook(
            path,
            merge,
            &json!({"metadata": {"annotations": {"kube-thermostat.io/probe": "x"}},
                    "spec": {"taints": [dedicated, world.ours()]}}),
        )
        .unwrap();
    assert_eq!(ours.status, 200, "{}", ours.body);
}

fn a_client_certificate_kubeconfig_works_with_the_shipped_role(world: &World) {
    world.add_node("hot-1", json!({}), Some(HOT));
    world.add_cool_neighbours();
    // A user authenticated by a client certificate (x509: CN is the user), bound to the shipped ClusterRole.
    let user = "kube-thermostat-cert-user";
    let binding = format!("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{user}");
    if world.cluster.request("GET", &binding, None).unwrap().status == 404 {
        world
            .cluster
            .request(
                "POST",
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                Some(&json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": user},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-thermostat"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
                })),
            )
            .unwrap()
            .ok()
            .unwrap();
    }
    let cert = world.cluster.ca().issue_client(user).unwrap();
    let cert_file = world.dir.path().join("client.crt");
    let key_file = world.dir.path().join("client.key");
    std::fs::write(&cert_file, &cert.cert_pem).unwrap();
    std::fs::write(&key_file, &cert.key_pem).unwrap();
    let kubeconfig = world.dir.path().join("cert.kubeconfig");
    world
        .cluster
        .write_kubeconfig(
            &kubeconfig,
            json!({"client-certificate": cert_file.display().to_string(), "client-key": key_file.display().to_string()}),
        )
        .unwrap();
    let kubeconfig = kubeconfig.display().to_string();
    let output = world.run(
        &["taint-nodes", "--dry-run", "--output", "json"],
        &[("KUBECONFIG", &kubeconfig)],
    );
    output.assert_success();
    let plan: Value = serde_json::from_str(&output.stdout).unwrap();
    let hot = plan["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "hot-1")
        .unwrap();
    assert_eq!(hot["action"], "add", "{hot}");
}

fn list_pages_follow_real_continue_tokens(world: &World) {
    // More than two pages of 500 (the hook's page size). Created bare (no status): only the LIST matters.
    const COUNT: usize = 1_100;
    for index in 0..COUNT - 1 {
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("page-{index:04}")}});
        world
            .cluster
            .request("POST", "/api/v1/nodes", Some(&node))
            .unwrap()
            .ok()
            .unwrap();
    }
    // The last name in etcd's key order: on the third page. The bare nodes keep the not-ready taint, so they
    // are not eligible, and this one alone is never tainted (the last schedulable node): reading it is the point.
    world.add_node("page-9999", json!({}), Some(HOT));
    let first = world.cluster.get("/api/v1/nodes?limit=500");
    assert!(
        !first["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "a real continue token: {}",
        first["metadata"]
    );
    let output = world.run(
        &["taint-nodes", "--dry-run", "--output", "json"],
        &[("MAX_UNKNOWN_FRACTION", "1"), ("SNAPSHOTS", "false")],
    );
    output.assert_success();
    let plan: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("plan is JSON ({error}): {}", output.stdout));
    let decisions = plan["decisions"].as_array().unwrap();
    assert_eq!(
        decisions.len(),
        COUNT,
        "every node of every page is decided on"
    );
    let last = decisions.iter().find(|d| d["name"] == "page-9999").unwrap();
    assert_eq!(
        last["state"], "hot",
        "the node on the last page, with its load: {last}"
    );
}

/// A pod opted in to resizing, bound to `node`, with one container `app`.
fn opted_in_pod(name: &str, node: &str, resources: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {RESIZE_LABEL: "true"}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1", "resources": resources}]},
    })
}

fn hot_container_is_resized_in_place_and_actuated(world: &World) {
    let namespace = "resize-accepted";
    if world
        .cluster
        .request("GET", &format!("/api/v1/namespaces/{namespace}"), None)
        .unwrap()
        .status
        == 404
    {
        world
            .cluster
            .add_namespace(namespace, json!({RESIZE_LABEL: "true"}))
            .unwrap();
    }
    world.add_node("node-1", json!({}), None);
    let resources = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
    world
        .cluster
        .run_pod(namespace, opted_in_pod("web-1", "node-1", resources))
        .unwrap();
    let loads = vec![ContainerLoad::new(
        "app",
        Profile::Constant(0.48),
        Profile::Constant(100e6),
    )];
    world
        .prometheus
        .push(&PodHistory::new(namespace, "web-1", "node-1", loads).series(&world.timeline))
        .unwrap();

    let first = world.tick("resize-pods", &[]);
    first.assert_success();
    let path = format!("/api/v1/namespaces/{namespace}/pods/web-1");
    let pod = world.cluster.get(&path);
    assert_eq!(
        pod["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "800m"}, "limits": {"cpu": "800m"}}),
        "usage 480m / target 60% = 800m, accepted by the real resize subresource\n{}",
        first.stderr
    );
    assert_eq!(
        pod["status"]["qosClass"], "Burstable",
        "no memory: Burstable, kept"
    );
    assert!(
        pod["metadata"]["annotations"][LAST_RESIZE].is_string(),
        "{}",
        pod["metadata"]
    );

    let actuated = world.cluster.actuate_resize(namespace, "web-1").unwrap();
    assert_eq!(
        actuated["status"]["containerStatuses"][0]["resources"]["limits"]["cpu"],
        "800m"
    );
    let before = resource_version(&actuated);
    let second = world.tick("resize-pods", &[]);
    second.assert_success();
    assert_eq!(
        resource_version(&world.cluster.get(&path)),
        before,
        "a resize in its cooldown is not made again:\n{}",
        second.stderr
    );
    let events = world
        .cluster
        .list(&format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events?fieldSelector=regarding.name=web-1"))
        .unwrap();
    let resized: Vec<&Value> = events
        .iter()
        .filter(|e| e["reason"] == "ThermostatResized")
        .collect();
    assert_eq!(
        resized.len(),
        1,
        "one ThermostatResized Event, accepted by the real server: {events:?}\n{}",
        first.stderr
    );
    let event = resized[0];
    assert_eq!(event["regarding"]["kind"], "Pod", "{event}");
    assert_eq!(event["regarding"]["uid"], pod["metadata"]["uid"], "{event}");
    assert_eq!(event["type"], "Normal", "{event}");
    assert!(
        event["note"].as_str().unwrap().contains("800m"),
        "the note says the new size: {event}"
    );
    let table = world
        .cluster
        .kubectl(&[
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            "involvedObject.name=web-1",
        ])
        .unwrap();
    assert!(table.contains("ThermostatResized"), "{table}");
}

/// `namespace` opted in to resizing, created once per cluster (namespaces outlive scenarios: no namespace
/// controller runs to finish deleting one).
fn opted_in_namespace(world: &World, namespace: &str) {
    let path = format!("/api/v1/namespaces/{namespace}");
    if world.cluster.request("GET", &path, None).unwrap().status == 404 {
        world
            .cluster
            .add_namespace(namespace, json!({RESIZE_LABEL: "true"}))
            .unwrap();
    }
}

/// A `pods/{name}/resize` strategic merge patch to the stand-in, as the hook sends it; status and body.
fn stand_in_resize(api: &ApiServer, namespace: &str, name: &str, patch: &Value) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent
        .patch(format!(
            "{}/api/v1/namespaces/{namespace}/pods/{name}/resize",
            api.url()
        ))
        .header(
            "Authorization",
            format!("Bearer {}", api.options().token.clone().unwrap_or_default()),
        )
        .header("Content-Type", "application/strategic-merge-patch+json")
        .send(serde_json::to_vec(patch).unwrap())
        .unwrap();
    let status = response.status().as_u16();
    let body =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null);
    (status, body)
}

/// A pod of the differential check: `containers` (and `init`, `pod_resources`) as in its spec.
struct DiffCase {
    case: &'static str,
    node: &'static str,
    spec: Value,
    patch: Value,
    /// The patch carries the resourceVersion read before a foreign writer changed the pod.
    stale: bool,
}

fn app(resources: Value) -> Value {
    json!({"name": "app", "image": "app:1", "resources": resources})
}

fn containers_patch(resources: Value) -> Value {
    json!({"spec": {"containers": [{"name": "app", "resources": resources}]}})
}

/// The resize requests of the differential check, each on a fresh pod. What each must get from the real
/// server is not written here: the real server decides, the stand-in must agree (the printed table shows both).
fn differential_cases() -> Vec<DiffCase> {
    let guaranteed = json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}});
    let burstable = json!({"requests": {"cpu": "500m"}});
    let burstable_with_limit = json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "256Mi"}});
    let restart_memory = json!([
        {"resourceName": "cpu", "restartPolicy": "NotRequired"},
        {"resourceName": "memory", "restartPolicy": "RestartContainer"},
    ]);
    let sidecar = json!({"name": "proxy", "image": "proxy:1", "restartPolicy": "Always",
                         "resources": {"requests": {"cpu": "100m"}}});
    let init = json!({"name": "migrate", "image": "migrate:1", "resources": {"requests": {"cpu": "100m"}}});
    let init_patch = |name: &str| json!({"spec": {"initContainers": [{"name": name, "resources": {"requests": {"cpu": "200m"}}}]}});
    let plain = |resources: &Value| json!({"containers": [app(resources.clone())]});
    let case = |case, spec, patch| DiffCase {
        case,
        node: "node-1",
        spec,
        patch,
        stale: false,
    };
    let pod_level = json!({
        "resources": {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "containers": [app(json!({"requests": {"cpu": "500m"}}))],
    });
    vec![
        DiffCase {
            node: "node-no-os",
            ..case(
                "no-os-label",
                plain(&burstable),
                containers_patch(json!({"requests": {"cpu": "600m"}})),
            )
        },
        case(
            "cpu-up",
            plain(&guaranteed),
            containers_patch(
                json!({"requests": {"cpu": "800m", "memory": "256Mi"}, "limits": {"cpu": "800m", "memory": "256Mi"}}),
            ),
        ),
        case(
            "qos-change",
            plain(&guaranteed),
            containers_patch(
                json!({"requests": {"cpu": "400m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}),
            ),
        ),
        case(
            "memory-down",
            plain(&guaranteed),
            containers_patch(
                json!({"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}),
            ),
        ),
        case(
            "memory-down-restart-container",
            json!({"containers": [{"name": "app", "image": "app:1", "resources": guaranteed, "resizePolicy": restart_memory}]}),
            containers_patch(
                json!({"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}),
            ),
        ),
        case(
            "memory-limit-added",
            plain(&json!({"requests": {"cpu": "500m", "memory": "128Mi"}})),
            containers_patch(
                json!({"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}),
            ),
        ),
        // RESIZE_CPU_REQUEST=usage: a Burstable request moved apart from its limit, down and (refused, QoS would
        // become Guaranteed) up to the limit. Ours stays a granularity step below the limit.
        case(
            "burstable-request-down-limit-kept",
            plain(&burstable_with_limit),
            containers_patch(
                json!({"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "256Mi"}}),
            ),
        ),
        case(
            "burstable-request-up-to-its-limit",
            plain(&burstable_with_limit),
            containers_patch(
                json!({"requests": {"cpu": "2", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "256Mi"}}),
            ),
        ),
        case(
            "limit-added",
            plain(&burstable),
            containers_patch(json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "800m"}})),
        ),
        case(
            "requests-removed",
            plain(&burstable),
            containers_patch(json!({"requests": null})),
        ),
        case(
            "above-allocatable",
            plain(&burstable),
            containers_patch(json!({"requests": {"cpu": "8"}})),
        ),
        case(
            "sidecar-cpu-up",
            json!({"initContainers": [sidecar], "containers": [app(burstable.clone())]}),
            init_patch("proxy"),
        ),
        case(
            "init-container-cpu-up",
            json!({"initContainers": [init], "containers": [app(burstable.clone())]}),
            init_patch("migrate"),
        ),
        DiffCase {
            node: "node-no-features",
            ..case(
                "init-container-cpu-up-undeclared",
                json!({"initContainers": [init], "containers": [app(burstable.clone())]}),
                init_patch("migrate"),
            )
        },
        case(
            "pod-level-container-cpu-up",
            pod_level.clone(),
            containers_patch(json!({"requests": {"cpu": "800m"}})),
        ),
        case(
            "pod-level-container-cpu-up-past-the-pod-level",
            pod_level.clone(),
            containers_patch(json!({"requests": {"cpu": "1500m"}})),
        ),
        case(
            "pod-level-and-container-cpu-up-together",
            pod_level.clone(),
            json!({"spec": {"resources": {"requests": {"cpu": "2", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "512Mi"}},
                            "containers": [{"name": "app", "resources": {"requests": {"cpu": "1500m"}}}]}}),
        ),
        case(
            "pod-level-cpu-up",
            pod_level.clone(),
            json!({"spec": {"resources": {"requests": {"cpu": "2", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "512Mi"}}}}),
        ),
        DiffCase {
            node: "node-no-features",
            ..case(
                "pod-level-cpu-up-undeclared",
                pod_level,
                json!({"spec": {"resources": {"requests": {"cpu": "2", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "512Mi"}}}}),
            )
        },
        DiffCase {
            stale: true,
            ..case(
                "stale-resource-version",
                plain(&burstable),
                containers_patch(json!({"requests": {"cpu": "600m"}})),
            )
        },
    ]
}

/// The same resize requests against the real server and the stand-in set to the same minor (or the newest it
/// models): the same status codes and reasons, so that the stand-in the fault-injection tests rely on cannot
/// drift from the real validation. Messages are printed side by side.
fn resize_answers_match_the_stand_in(world: &World) {
    let namespace = "resize-differential";
    opted_in_namespace(world, namespace);
    world.add_node("node-1", json!({}), None);
    // A node without the kubernetes.io/os label: PodResizeValidator lets it through (kubernetes:
    // plugin/pkg/admission/podresize/admission.go, validateLinuxNode: `!ok || val == "linux"`).
    world.add_node("node-no-os", json!({}), None);
    world
        .cluster
        .update("/api/v1/nodes/node-no-os", |node| {
            node["metadata"]["labels"]
                .as_object_mut()
                .unwrap()
                .remove("kubernetes.io/os");
        })
        .unwrap();
    // A node whose kubelet declares no features (one older than 1.36, or with the gates off).
    world.add_node("node-no-features", json!({}), None);
    world
        .cluster
        .update("/api/v1/nodes/node-no-features/status", |node| {
            node["status"]
                .as_object_mut()
                .unwrap()
                .remove("declaredFeatures");
        })
        .unwrap();
    let minor = world.cluster.minor();
    let stand_in = ApiServer::start(Options {
        server_minor: minor.min(36),
        ..Options::default()
    })
    .unwrap();
    // The very Nodes the real server holds.
    for name in ["node-1", "node-no-os", "node-no-features"] {
        let mut node = world.node(name);
        node["metadata"] = json!({"name": name, "labels": node["metadata"]["labels"]});
        stand_in.put(node);
    }
    let mut rows = Vec::new();
    let mut differences = Vec::new();
    for DiffCase {
        case,
        node,
        spec,
        mut patch,
        stale,
    } in differential_cases()
    {
        let name = format!("diff-{case}");
        let mut pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {RESIZE_LABEL: "true"}},
            "spec": spec,
        });
        pod["spec"]["nodeName"] = json!(node);
        let stored = world.cluster.run_pod(namespace, pod).unwrap();
        // The very Pod the real server holds (its defaults, and what its feature gates dropped at creation).
        let stand_in_pod = stand_in.put(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": stored["metadata"]["labels"]},
            "spec": stored["spec"], "status": stored["status"],
        }));
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}");
        let (real_patch, stand_in_patch) = if stale {
            // Read, then another writer changes the pod, then the write with what was read.
            let read = resource_version(&stored);
            world
                .cluster
                .update(&path, |pod| {
                    pod["metadata"]["labels"]["example.com/touched"] = json!("yes");
                })
                .unwrap();
            let stand_in_read = resource_version(&stand_in_pod);
            let mut touched = stand_in.get("Pod", Some(namespace), &name).unwrap();
            touched["metadata"]["labels"]["example.com/touched"] = json!("yes");
            stand_in.put(touched);
            let mut stand_in_patch = patch.clone();
            patch["metadata"] = json!({"resourceVersion": read});
            stand_in_patch["metadata"] = json!({"resourceVersion": stand_in_read});
            (patch, stand_in_patch)
        } else {
            (patch.clone(), patch)
        };
        let real = world
            .cluster
            .patch(
                &format!("{path}/resize"),
                "application/strategic-merge-patch+json",
                &real_patch,
            )
            .unwrap();
        let (stand_in_status, stand_in_body) =
            stand_in_resize(&stand_in, namespace, &name, &stand_in_patch);
        let reason = |status: u16, body: &Value| {
            if status == 200 {
                String::new()
            } else {
                body["reason"].as_str().unwrap_or_default().to_owned()
            }
        };
        let real_reason = reason(real.status, &real.body);
        let stand_in_reason = reason(stand_in_status, &stand_in_body);
        let row = format!(
            "    {case}: real {} {real_reason} {:?} | stand-in {stand_in_status} {stand_in_reason} {:?}",
            real.status,
            real.body["message"].as_str().unwrap_or_default(),
            stand_in_body["message"].as_str().unwrap_or_default()
        );
        if (real.status, &real_reason) != (stand_in_status, &stand_in_reason) {
            differences.push(row.clone());
        }
        rows.push(row);
    }
    announce(&format!(
        "  {} resize answers, real | stand-in (1.{}):\n{}",
        world.apiserver.version,
        minor.min(36),
        rows.join("\n")
    ));
    assert!(
        differences.is_empty(),
        "the stand-in answers differently:\n{}",
        differences.join("\n")
    );
}

/// `kube-thermostat run resize-pods --dry-run --output json` as our ServiceAccount: the plan.
fn resize_plan(world: &World, env: &[(&str, &str)]) -> Value {
    let output = world.run(&["resize-pods", "--dry-run", "--output", "json"], env);
    output.assert_success();
    serde_json::from_str(output.stdout.trim()).unwrap_or_else(|error| {
        panic!(
            "plan is JSON ({error}): {}\n{}",
            output.stdout, output.stderr
        )
    })
}

/// `name` in `namespace` on `node` (created and Running), with a usage history per container.
fn loaded_pod(
    world: &World,
    namespace: &str,
    name: &str,
    spec: Value,
    loads: Vec<ContainerLoad>,
) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {RESIZE_LABEL: "true"}},
        "spec": spec,
    });
    pod["spec"]["nodeName"] = json!("node-1");
    let stored = world.cluster.run_pod(namespace, pod).unwrap();
    world
        .prometheus
        .push(&PodHistory::new(namespace, name, "node-1", loads).series(&world.timeline))
        .unwrap();
    stored
}

fn pod_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods/{name}")
}

fn a_sidecar_is_resized_like_a_container_and_an_init_container_is_left_alone(world: &World) {
    let namespace = "resize-sidecars";
    opted_in_namespace(world, namespace);
    world.add_node("node-1", json!({}), None);
    let cpu = |millis: &str| json!({"requests": {"cpu": millis}, "limits": {"cpu": millis}});
    let spec = json!({
        "initContainers": [
            {"name": "migrate", "image": "migrate:1", "resources": cpu("100m")},
            {"name": "proxy", "image": "proxy:1", "restartPolicy": "Always", "resources": cpu("200m")},
        ],
        "containers": [app(cpu("500m"))],
    });
    let loads = vec![
        // 95 % of its 200m: scaled up to 190m / 60 % = 320m (10m steps).
        ContainerLoad::new("proxy", Profile::Constant(0.19), Profile::Constant(20e6)),
        // 50 %: between the marks, kept.
        ContainerLoad::new("app", Profile::Constant(0.25), Profile::Constant(100e6)),
    ];
    loaded_pod(world, namespace, "web-1", spec, loads);

    let output = world.tick("resize-pods", &[]);
    output.assert_success();
    let pod = world.cluster.get(&pod_path(namespace, "web-1"));
    assert_eq!(
        pod["spec"]["initContainers"][1]["resources"],
        cpu("320m"),
        "the sidecar, resized through initContainers and accepted by the real server\n{}",
        output.stderr
    );
    assert_eq!(
        pod["spec"]["initContainers"][0]["resources"],
        cpu("100m"),
        "a completed init container is not ours to resize"
    );
    assert_eq!(pod["spec"]["containers"][0]["resources"], cpu("500m"));
    assert_eq!(pod["status"]["qosClass"], "Burstable");
    let actuated = world.cluster.actuate_resize(namespace, "web-1").unwrap();
    assert_eq!(
        actuated["status"]["initContainerStatuses"][1]["resources"],
        cpu("320m")
    );
}

fn memory_limits_are_lowered_where_the_minor_allows(world: &World) {
    let namespace = "resize-memory";
    opted_in_namespace(world, namespace);
    world.add_node("node-1", json!({}), None);
    let guaranteed = json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}});
    let loads = || {
        // cpu 50 % (kept), memory 100 MB of 1 GiB for the whole window.
        vec![ContainerLoad::new(
            "app",
            Profile::Constant(0.25),
            Profile::Constant(100e6),
        )]
    };
    loaded_pod(
        world,
        namespace,
        "not-required",
        json!({"containers": [app(guaranteed.clone())]}),
        loads(),
    );
    let restart = json!({"name": "app", "image": "app:1", "resources": guaranteed,
        "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"},
                         {"resourceName": "memory", "restartPolicy": "RestartContainer"}]});
    loaded_pod(
        world,
        namespace,
        "restart-container",
        json!({"containers": [restart]}),
        loads(),
    );
    let env = [
        ("RESIZE_MEMORY", "true"),
        ("RESIZE_ALLOW_RESTART", "true"),
        // Within the 15 minutes of history pushed.
        ("RESIZE_STABILIZATION_WINDOW", "10m"),
    ];
    let plan = resize_plan(world, &env);
    let output = world.tick("resize-pods", &env);
    output.assert_success();
    let memory = |name: &str| {
        let pod = world.cluster.get(&pod_path(namespace, name));
        let resources = pod["spec"]["containers"][0]["resources"].clone();
        assert_eq!(
            resources["requests"], resources["limits"],
            "Guaranteed kept: {resources}"
        );
        resources["limits"]["memory"].as_str().unwrap().to_owned()
    };
    let lowered = memory("restart-container");
    assert_ne!(
        lowered, "1Gi",
        "RestartContainer: lowered on every minor, accepted by the real server\n{}",
        output.stderr
    );
    if world.cluster.minor() == 33 {
        assert_eq!(
            memory("not-required"),
            "1Gi",
            "1.33 forbids lowering a memory limit without RestartContainer: not asked\n{}",
            output.stderr
        );
        let notes = plan_notes_about(&plan, "not-required");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("1.33 forbids lowering a memory limit")),
            "{notes:?}"
        );
    } else {
        assert_eq!(
            memory("not-required"),
            lowered,
            "from 1.34 a memory limit may be lowered with NotRequired\n{}",
            output.stderr
        );
    }
}

fn a_pod_with_pod_level_resources_is_resized_from_1_36_with_its_budget(world: &World) {
    let namespace = "resize-pod-level";
    opted_in_namespace(world, namespace);
    world.add_node("node-1", json!({}), None);
    // A pod-level budget of 600m (Guaranteed at pod level), one container of 500m.
    let budget = |cpu: &str| json!({"requests": {"cpu": cpu, "memory": "512Mi"}, "limits": {"cpu": cpu, "memory": "512Mi"}});
    let cpu = |millis: &str| json!({"requests": {"cpu": millis}, "limits": {"cpu": millis}});
    let spec = json!({"resources": budget("600m"), "containers": [app(cpu("500m"))]});
    // 96 % of its 500m: hot, it wants 480m / 60 % = 800m, past the budget.
    let loads = vec![ContainerLoad::new(
        "app",
        Profile::Constant(0.48),
        Profile::Constant(100e6),
    )];
    let stored = loaded_pod(world, namespace, "budgeted", spec, loads);
    let plan = resize_plan(world, &[]);
    let output = world.tick("resize-pods", &[]);
    output.assert_success();
    let path = pod_path(namespace, "budgeted");
    let pod = world.cluster.get(&path);
    let minor = world.cluster.minor();
    if stored["spec"].get("resources").is_none() {
        // The PodLevelResources gate is off before 1.34: the server dropped spec.resources at creation, so this is
        // a plain pod to the hook and to the resize validation.
        assert!(minor < 34, "{}", stored["spec"]);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            cpu("800m"),
            "{}",
            output.stderr
        );
    } else if minor < 36 {
        assert_eq!(
            resource_version(&pod),
            resource_version(&stored),
            "nothing written\n{}",
            output.stderr
        );
        let notes = plan_notes_about(&plan, "budgeted");
        let reason = format!(
            "skipped: pod-level resources (spec.resources) are resized in place from Kubernetes 1.36; the server is 1.{minor}"
        );
        assert!(notes.contains(&reason), "{notes:?}");
        // Rightly: the real server refuses the resize (kubernetes 1.33 validation.go ValidatePodResize).
        let refused = world
            .cluster
            .patch(
                &format!("{path}/resize"),
                "application/strategic-merge-patch+json",
                &json!({"spec": {"resources": budget("800m"), "containers": [{"name": "app", "resources": cpu("800m")}]}}),
            )
            .unwrap();
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(
            refused.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("pods with pod-level resources cannot be resized"),
            "{}",
            refused.body
        );
    } else {
        // The container and the budget grew in one resize the real server accepted (200): the containers must
        // stay within the pod-level values (validation.go validatePodResourceConsistency).
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            cpu("800m"),
            "{}",
            output.stderr
        );
        assert_eq!(
            pod["spec"]["resources"],
            budget("800m"),
            "{}",
            output.stderr
        );
        assert_eq!(pod["status"]["qosClass"], "Guaranteed");
        assert_eq!(pod["metadata"]["generation"], 2, "{}", pod["metadata"]);
        assert!(
            output.stderr.contains("resized pod-level cpu"),
            "{}",
            output.stderr
        );
        let actuated = world.cluster.actuate_resize(namespace, "budgeted").unwrap();
        assert_eq!(actuated["status"]["allocatedResources"]["cpu"], "800m");
        let after = resize_plan(world, &[]);
        let notes = plan_notes_about(&after, "budgeted");
        assert!(
            notes.iter().all(|n| !n.contains("has not allocated")),
            "the kubelet's pod-level allocation matches: done\n{notes:?}"
        );
    }
}

/// What the real server keeps of generations: every minor bumps `metadata.generation` on a resize; from 1.34 it
/// keeps the kubelet's `observedGeneration` (status and conditions), 1.33 drops it (PodObservedGenerationTracking
/// alpha, off: pkg/api/pod/util.go dropDisabledPodStatusFields). The hook reads each as it comes.
fn generation_and_observed_generation_as_the_real_server_keeps_them(world: &World) {
    let namespace = "resize-generations";
    opted_in_namespace(world, namespace);
    world.add_node("node-1", json!({}), None);
    let cpu = |millis: &str| json!({"requests": {"cpu": millis}, "limits": {"cpu": millis}});
    let loads = vec![ContainerLoad::new(
        "app",
        Profile::Constant(0.48),
        Profile::Constant(100e6),
    )];
    let stored = loaded_pod(
        world,
        namespace,
        "web-1",
        json!({"containers": [app(cpu("500m"))]}),
        loads,
    );
    let tracking = world.cluster.minor() >= 34;
    assert_eq!(stored["metadata"]["generation"], 1);
    // The rig's kubelet wrote observedGeneration 1 with the Running status.
    assert_eq!(
        stored["status"].get("observedGeneration").is_some(),
        tracking,
        "{}",
        stored["status"]
    );
    let output = world.tick("resize-pods", &[]);
    output.assert_success();
    let path = pod_path(namespace, "web-1");
    let resized = world.cluster.get(&path);
    assert_eq!(resized["spec"]["containers"][0]["resources"], cpu("800m"));
    assert_eq!(
        resized["metadata"]["generation"], 2,
        "the resize bumps the generation on every minor (strategy.go updatePodGeneration)"
    );
    assert!(
        output
            .stderr
            .lines()
            .any(|line| line.contains("resized app cpu") && line.contains("generation=2")),
        "the log says the generation the resize answered with:\n{}",
        output.stderr
    );
    // Before the kubelet acts: from 1.34 the hook knows it has not seen the resize.
    let notes = plan_notes_about(&resize_plan(world, &[]), "web-1");
    let behind =
        "skipped: kubelet has not caught up with the spec (observedGeneration 1 < generation 2)";
    assert_eq!(notes.iter().any(|n| n == behind), tracking, "{notes:?}");
    // The kubelet allocates generation 2, while a PodResizePending from generation 1 is still in its status.
    world
        .cluster
        .update(&format!("{path}/status"), |pod| {
            let status = &mut pod["status"];
            status["containerStatuses"][0]["allocatedResources"] = json!({"cpu": "800m"});
            status["containerStatuses"][0]["resources"] = cpu("800m");
            status["observedGeneration"] = json!(2);
            status["conditions"].as_array_mut().unwrap().push(json!({
                "type": "PodResizePending", "status": "True", "reason": "Infeasible",
                "message": "from an earlier resize", "observedGeneration": 1,
                "lastTransitionTime": "2025-01-01T00:00:00Z",
            }));
        })
        .unwrap();
    let status = world.cluster.get(&path)["status"].clone();
    let pending = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodResizePending")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            status.get("observedGeneration").cloned(),
            pending.get("observedGeneration").cloned()
        ),
        if tracking {
            (Some(json!(2)), Some(json!(1)))
        } else {
            (None, None)
        },
        "{status}"
    );
    let notes = plan_notes_about(&resize_plan(world, &[]), "web-1");
    let withdrawn = notes.iter().any(|n| n.contains("resize Infeasible"));
    // From 1.34 the condition is dated and stale: not ours. On 1.33 it cannot be dated: trusted, withdrawn.
    assert_eq!(withdrawn, !tracking, "{notes:?}");
}

fn an_hpa_on_cpu_leaves_memory_to_be_resized(world: &World) {
    let namespace = "resize-under-hpa";
    opted_in_namespace(world, namespace);
    world.add_node("node-1", json!({}), None);
    let resources = json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}});
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d9f8b6c5-abcde",
                     "labels": {RESIZE_LABEL: "true", "pod-template-hash": "7d9f8b6c5"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8b6c5",
                                          "uid": "00000000-0000-0000-0000-000000000001", "controller": true}]},
        "spec": {"containers": [app(resources)]},
    });
    pod["spec"]["nodeName"] = json!("node-1");
    world.cluster.run_pod(namespace, pod).unwrap();
    // Hot on both: cpu 96 %, memory 250 MB of 256 MiB.
    let loads = vec![ContainerLoad::new(
        "app",
        Profile::Constant(0.48),
        Profile::Constant(250e6),
    )];
    world
        .prometheus
        .push(
            &PodHistory::new(namespace, "web-7d9f8b6c5-abcde", "node-1", loads)
                .series(&world.timeline),
        )
        .unwrap();
    world
        .cluster
        .request(
            "POST",
            &format!("/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"),
            Some(&json!({
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                         "minReplicas": 2, "maxReplicas": 10,
                         "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                      "target": {"type": "Utilization", "averageUtilization": 70}}}]},
            })),
        )
        .unwrap()
        .ok()
        .unwrap();
    let path = pod_path(namespace, "web-7d9f8b6c5-abcde");
    // Memory off (the default): the pod is left alone, and the reason says both.
    let notes = plan_notes_about(&resize_plan(world, &[]), "web-7d9f8b6c5-abcde");
    assert!(
        notes.iter().any(|n| n.starts_with("skipped: HorizontalPodAutoscaler web scales Deployment/web on cpu, and memory resizing is off")),
        "{notes:?}"
    );
    let env = [("RESIZE_MEMORY", "true")];
    let output = world.tick("resize-pods", &env);
    output.assert_success();
    let resized = world.cluster.get(&path)["spec"]["containers"][0]["resources"].clone();
    assert_eq!(
        resized["limits"]["cpu"], "500m",
        "cpu steered by the HPA: kept\n{}",
        output.stderr
    );
    assert_ne!(
        resized["limits"]["memory"], "256Mi",
        "memory resized, accepted by the real server\n{}",
        output.stderr
    );
    assert_eq!(resized["requests"], resized["limits"], "Guaranteed kept");
}

fn a_foreign_writer_between_read_and_resize_gets_a_real_409_and_a_re_read(world: &World) {
    let namespace = "resize-contended";
    opted_in_namespace(world, namespace);
    world.add_node("node-1", json!({}), None);
    let loads = vec![ContainerLoad::new(
        "app",
        Profile::Constant(0.48),
        Profile::Constant(100e6),
    )];
    let cpu = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
    loaded_pod(
        world,
        namespace,
        "web-1",
        json!({"containers": [app(cpu)]}),
        loads,
    );
    let context = world.binding_context("resize-pods", &[]);
    // Another controller labels the pod after shell-operator's snapshot and before our write.
    let path = pod_path(namespace, "web-1");
    world
        .cluster
        .update(&path, |pod| {
            pod["metadata"]["labels"]["example.com/owner"] = json!("team-a");
        })
        .unwrap();
    let output = world.run_hook(&context, &[]);
    output.assert_success();
    assert!(
        output.stderr.contains("pod changed since read"),
        "the resize built from the snapshot gets the real 409 and the pod is read again:\n{}",
        output.stderr
    );
    let pod = world.cluster.get(&path);
    assert_eq!(
        pod["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "800m"}, "limits": {"cpu": "800m"}}),
        "{}",
        output.stderr
    );
    assert_eq!(pod["metadata"]["labels"]["example.com/owner"], "team-a");
    assert!(pod["metadata"]["annotations"][LAST_RESIZE].is_string());
}

fn pod_level_requests_of_a_neighbour_count_against_an_upsize(world: &World) {
    let namespace = "resize-neighbours";
    opted_in_namespace(world, namespace);
    world.add_node("node-1", json!({}), None);
    // Not opted in; its containers request nothing, its pod-level request is what the scheduler reserves.
    let neighbour = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "budgeted"},
        "spec": {"nodeName": "node-1", "resources": {"requests": {"cpu": "3500m"}},
                 "containers": [{"name": "batch", "image": "batch:1"}]},
    });
    let neighbour = world.cluster.run_pod(namespace, neighbour).unwrap();
    let cpu = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
    let loads = vec![ContainerLoad::new(
        "app",
        Profile::Constant(0.48),
        Profile::Constant(100e6),
    )];
    loaded_pod(
        world,
        namespace,
        "web-1",
        json!({"containers": [app(cpu.clone())]}),
        loads,
    );
    let plan = resize_plan(world, &[]);
    let output = world.tick("resize-pods", &[]);
    output.assert_success();
    let resources =
        world.cluster.get(&pod_path(namespace, "web-1"))["spec"]["containers"][0]["resources"]
            .clone();
    if world.cluster.minor() < 34 {
        // No pod-level resources before 1.34 (dropped at creation): the node has room.
        assert!(neighbour["spec"].get("resources").is_none());
        assert_eq!(resources["limits"]["cpu"], "800m", "{}", output.stderr);
    } else {
        // 4 CPUs, 3.5 reserved by the neighbour's pod-level request, 0.5 by web-1: no room.
        assert_eq!(resources, cpu, "{}", output.stderr);
        let notes = plan_notes_about(&plan, "web-1");
        assert!(
            notes.iter().any(|n| n.contains("node node-1 is full")),
            "{notes:?}"
        );
    }
}

/// A `pods/{name}/resize` of `app` to `cpu` (request = limit) as the admin, dry run: what the real admission
/// plugins answer, nothing stored. Asked again (up to 10 s) while the answer is `waiting`: the plugins read
/// LimitRanges and quota status from informers, a moment behind a write.
fn dry_run_resize(
    world: &World,
    namespace: &str,
    name: &str,
    cpu: &str,
    waiting: impl Fn(&realcluster::Answer) -> bool,
) -> realcluster::Answer {
    let body = containers_patch(json!({"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}));
    let path = format!("{}/resize?dryRun=All", pod_path(namespace, name));
    let started = Instant::now();
    loop {
        let answer = world
            .cluster
            .patch(&path, "application/strategic-merge-patch+json", &body)
            .unwrap();
        if !waiting(&answer) || started.elapsed() > Duration::from_secs(10) {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sets a quota's status as the quota controller (not running here) would: `hard` from its spec, `used` given.
fn count_quota(world: &World, namespace: &str, name: &str, used: Value) {
    world
        .cluster
        .update(
            &format!("/api/v1/namespaces/{namespace}/resourcequotas/{name}/status"),
            |quota| {
                quota["status"] =
                    json!({"hard": quota["spec"]["hard"].clone(), "used": used.clone()});
            },
        )
        .unwrap();
}

/// Issue 18: a hot pod's upsize (500m at 96 % wants 800m) against a LimitRange max, a ResourceQuota's headroom
/// shared by two pods, and a LimitRange default the resize would add. The real admission's 403s (dry runs)
/// show the rules the hook models; the hook then cuts or keeps with that rule and sends nothing refused.
fn limit_ranges_and_quotas_cut_or_keep_an_upsize_as_the_real_admission_would(world: &World) {
    world.add_node("node-1", json!({}), None);
    let cpu = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
    let hot = || {
        vec![ContainerLoad::new(
            "app",
            Profile::Constant(0.48),
            Profile::Constant(100e6),
        )]
    };
    let refused = |answer: &realcluster::Answer| answer.status == 403;

    // A LimitRange that was there before the pod: max 700m per container.
    let limited = "resize-limitrange";
    opted_in_namespace(world, limited);
    world
        .cluster
        .request(
            "POST",
            &format!("/api/v1/namespaces/{limited}/limitranges"),
            Some(
                &json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits"},
                         "spec": {"limits": [{"type": "Container", "max": {"cpu": "700m"}}]}}),
            ),
        )
        .unwrap()
        .ok()
        .unwrap();
    loaded_pod(
        world,
        limited,
        "web-1",
        json!({"containers": [app(cpu.clone())]}),
        hot(),
    );
    let answer = dry_run_resize(world, limited, "web-1", "800m", |a| !refused(a));
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(
        answer.body["message"],
        "pods \"web-1\" is forbidden: maximum cpu usage per Container is 700m, but limit is 800m",
        "the rule the hook models"
    );

    // A quota counting 1000m of 1200m: 200m of headroom for two hot pods of 500m that each want 300m more.
    let quoted = "resize-quota";
    opted_in_namespace(world, quoted);
    for name in ["web-1", "web-2"] {
        loaded_pod(
            world,
            quoted,
            name,
            json!({"containers": [app(cpu.clone())]}),
            hot(),
        );
    }
    world
        .cluster
        .request(
            "POST",
            &format!("/api/v1/namespaces/{quoted}/resourcequotas"),
            Some(&json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute"},
                         "spec": {"hard": {"requests.cpu": "1200m"}}})),
        )
        .unwrap()
        .ok()
        .unwrap();
    count_quota(world, quoted, "compute", json!({"requests.cpu": "1000m"}));
    let answer = dry_run_resize(world, quoted, "web-1", "800m", |a| !refused(a));
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(
        answer.body["message"],
        "pods \"web-1\" is forbidden: exceeded quota: compute, requested: requests.cpu=300m, used: \
         requests.cpu=1, limited: requests.cpu=1200m",
        "the increase is charged, not the new size"
    );
    let answer = dry_run_resize(world, quoted, "web-1", "700m", |_| false);
    assert_eq!(answer.status, 200, "200m fits: {}", answer.body);

    // A LimitRange with a default memory limit, made after the pod: the resize would get it filled in.
    let defaulted = "resize-limitrange-default";
    opted_in_namespace(world, defaulted);
    loaded_pod(
        world,
        defaulted,
        "web-1",
        json!({"containers": [app(cpu.clone())]}),
        hot(),
    );
    world
        .cluster
        .request(
            "POST",
            &format!("/api/v1/namespaces/{defaulted}/limitranges"),
            Some(&json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
                         "spec": {"limits": [{"type": "Container", "default": {"memory": "512Mi"}}]}})),
        )
        .unwrap()
        .ok()
        .unwrap();
    let added = |answer: &realcluster::Answer| {
        answer.body["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    };
    let answer = dry_run_resize(world, defaulted, "web-1", "800m", |a| {
        a.status == 200 && !added(a)
    });
    assert!(
        answer.status != 200 || added(&answer),
        "LimitRanger fills in its default on a resize: either the memory limit is added or the resize is \
         refused, never a plain cpu change: {} {}",
        answer.status,
        answer.body
    );
    announce(&format!(
        "  {} a cpu resize under a LimitRange default memory limit: {} ({})",
        world.apiserver.version,
        answer.status,
        if answer.status == 200 {
            "memory limit 512Mi added".to_owned()
        } else {
            answer.body["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    ));

    let plan = resize_plan(world, &[]);
    let change_of = |namespace: &str, name: &str| -> Option<Value> {
        plan["pods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["namespace"] == namespace && p["name"] == name)
            .map(|p| p["containers"][0]["changes"][0].clone())
    };
    let notes_in = |namespace: &str, name: &str| -> Vec<String> {
        plan["notes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["namespace"] == namespace && n["pod"] == name)
            .map(|n| n["reason"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let cut = change_of(limited, "web-1").unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(cut["to"], json!({"request": 700, "limit": 700}), "{cut}");
    assert!(
        cut["why"]
            .as_str()
            .unwrap()
            .ends_with("cut from 800m to what LimitRange resize-limitrange/limits allows (max cpu per Container is 700m)"),
        "{cut}"
    );
    let first = change_of(quoted, "web-1").unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(
        first["to"],
        json!({"request": 700, "limit": 700}),
        "{first}"
    );
    assert!(
        first["why"]
            .as_str()
            .unwrap()
            .ends_with("cut from 800m to what ResourceQuota resize-quota/compute allows (requests.cpu 1 of 1200m used)"),
        "{first}"
    );
    assert!(change_of(quoted, "web-2").is_none(), "{plan}");
    assert_eq!(
        notes_in(quoted, "web-2"),
        [
            "ResourceQuota resize-quota/compute: requests.cpu 1200m of 1200m used, the upsize needs 300m, so the \
          API server would refuse the resize"
        ],
        "web-1 took the headroom first"
    );
    assert!(change_of(defaulted, "web-1").is_none(), "{plan}");
    let notes = notes_in(defaulted, "web-1");
    assert!(
        notes.iter().any(|n| n.contains(
            "LimitRange resize-limitrange-default/defaults: default memory limit per Container is 512Mi, and \
             container app has none"
        )),
        "{notes:?}"
    );

    let before = resource_version(&world.cluster.get(&pod_path(defaulted, "web-1")));
    let output = world.tick("resize-pods", &[]);
    output.assert_success();
    for needle in ["403", "forbidden", "refused"] {
        assert!(
            !output.stderr.contains(needle),
            "no write the server refuses: {needle:?} in\n{}",
            output.stderr
        );
    }
    let limits_of = |namespace: &str, name: &str| {
        let pod = world.cluster.get(&pod_path(namespace, name));
        let record = pod["metadata"]["annotations"][LAST_RESIZE]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            !record.contains("backoff"),
            "no back-off recorded: {record}"
        );
        pod["spec"]["containers"][0]["resources"].clone()
    };
    let at = |millis: &str| json!({"requests": {"cpu": millis}, "limits": {"cpu": millis}});
    assert_eq!(limits_of(limited, "web-1"), at("700m"), "{}", output.stderr);
    assert_eq!(limits_of(quoted, "web-1"), at("700m"), "{}", output.stderr);
    assert_eq!(limits_of(quoted, "web-2"), at("500m"), "{}", output.stderr);
    assert_eq!(
        resource_version(&world.cluster.get(&pod_path(defaulted, "web-1"))),
        before,
        "nothing written to the pod a default would change"
    );
    let quota = world.cluster.get(&format!(
        "/api/v1/namespaces/{quoted}/resourcequotas/compute"
    ));
    assert_eq!(
        quota["status"]["used"]["requests.cpu"], "1200m",
        "the real admission charged the 200m: {quota}"
    );
}
