//! The hook killed (SIGKILL, as the OOM killer or a node drain does) in the middle of a tick, after k of n writes,
//! with the write in flight either landing on the server anyway or lost. The next tick must converge to the right
//! state, and no foreign taint, annotation or resource value may be lost or duplicated. shell-operator kills a tick
//! this way when its 30 s shutdown budget on SIGTERM runs out; the defaults keep a tick inside it.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Cluster, ContainerLoad, Fault, FaultKind, FaultProxy, PodHistory, Profile};
use serde_json::{Value, json};
use thermostat_rig::prometheus::Fault as PrometheusFault;

const OUR_KEY: &str = "kube-thermostat.io/hot";
const HOT: [&str; 4] = ["hot-1", "hot-2", "hot-3", "hot-4"];
const COOL: [&str; 4] = ["cool-1", "cool-2", "cool-3", "cool-4"];
/// Room for the four hot nodes among eight.
const ENV: &[(&str, &str)] = &[("MAX_TAINTED_FRACTION", "0.5")];
/// How long the victim write is held by the server; the kill comes well inside it.
const HOLD: Duration = Duration::from_secs(2);
const KILL_AFTER: Duration = Duration::from_millis(700);

fn kubeconfig(cluster: &Cluster) -> PathBuf {
    let path = cluster.dir.path().join("crash-kubeconfig");
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": cluster.api.url()}}],
        "users": [{"name": "u", "user": {"token": "test-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path
}

/// `kube-thermostat run CONTROLLER` in the background, to be killed.
fn spawn_run(cluster: &Cluster, controller: &str, kubeconfig: &Path) -> Child {
    let mut command = Command::new(&cluster.binary);
    command
        .args(["run", controller])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PROMETHEUS_URL", &cluster.prometheus_url)
        .env("KUBECONFIG", kubeconfig)
        .env("TICK_TIMEOUT", "20s")
        .env("HOSTNAME", "kube-thermostat-crash")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in ENV {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// Each node's foreign taints and annotations (everything not ours), to compare before and after.
fn foreign_state(cluster: &Cluster, nodes: &[&str]) -> Vec<(String, Value, Value)> {
    nodes
        .iter()
        .map(|name| {
            let node = cluster.node(name);
            let taints: Vec<Value> = node["spec"]["taints"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|t| t["key"] != OUR_KEY)
                .collect();
            let mut annotations = node["metadata"]["annotations"].clone();
            if let Some(map) = annotations.as_object_mut() {
                map.retain(|k, _| !k.starts_with("kube-thermostat.io/"));
            }
            (name.to_string(), Value::Array(taints), annotations)
        })
        .collect()
}

fn our_taints(cluster: &Cluster, node: &str) -> usize {
    cluster.taints(node).as_array().map_or(0, |taints| {
        taints.iter().filter(|t| t["key"] == OUR_KEY).count()
    })
}

fn node_world(cluster: &Cluster) {
    for (i, node) in HOT.iter().chain(COOL.iter()).enumerate() {
        cluster.add_node(
            node,
            json!({
                "metadata": {"annotations": {"team.example/rack": format!("r{i}")}},
                "spec": {"taints": [
                    {"key": "team.example/dedicated", "value": format!("t{i}"), "effect": "NoSchedule"},
                    {"key": "team.example/maintenance", "effect": "PreferNoSchedule"}
                ]}
            }),
        );
    }
    for node in HOT {
        cluster.node_load(node, Profile::Constant(0.95));
    }
    for node in COOL {
        cluster.node_load(node, Profile::Constant(0.20));
    }
}

/// Kills a run while the server holds the patch of `victim`; returns k, the node writes done before the kill.
fn kill_during_write_of(cluster: &Cluster, victim: &str, in_flight_lands: bool) -> usize {
    let config = kubeconfig(cluster);
    let victim_path = format!("/api/v1/nodes/{victim}");
    cluster.api.inject(Fault::on(
        "PATCH",
        &victim_path,
        FaultKind::Latency(HOLD),
        1,
    ));
    if !in_flight_lands {
        cluster.api.inject(Fault::on(
            "PATCH",
            &victim_path,
            FaultKind::DropConnection,
            1,
        ));
    }
    let started = Instant::now();
    let mut child = spawn_run(cluster, "taint-nodes", &config);
    std::thread::sleep(KILL_AFTER);
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before_kill = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.resource == "nodes" && r.status == 200)
        .count();
    // Let the server finish (or drop) the write it was holding before the next tick looks.
    while started.elapsed() < HOLD + Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.api.clear_faults();
    done_before_kill
}

#[test]
fn hook_killed_after_k_of_n_taint_writes_converges_next_tick_without_losing_foreign_taints() {
    let mut seen_k = Vec::new();
    for (i, victim) in HOT.iter().enumerate() {
        let cluster = support::cluster();
        node_world(&cluster);
        let all: Vec<&str> = HOT.iter().chain(COOL.iter()).copied().collect();
        let before = foreign_state(&cluster, &all);
        let lands = i % 2 == 0;
        let k = kill_during_write_of(&cluster, victim, lands);
        seen_k.push(k);

        // After the crash: each hot node has our taint at most once; nothing foreign changed.
        for node in HOT {
            assert!(our_taints(&cluster, node) <= 1, "{node} after the kill");
        }
        assert_eq!(foreign_state(&cluster, &all), before, "after the kill");

        let next = cluster.tick("taint-nodes", ENV);
        next.assert_success();
        for node in HOT {
            assert_eq!(
                our_taints(&cluster, node),
                1,
                "victim {victim} (k={k}, in-flight lands: {lands}): {node} converged\n{}",
                next.stderr
            );
        }
        for node in COOL {
            assert_eq!(our_taints(&cluster, node), 0, "{node}");
        }
        assert_eq!(
            foreign_state(&cluster, &all),
            before,
            "foreign state intact"
        );
        cluster.api.reset_requests();
        cluster.tick("taint-nodes", ENV).assert_success();
        assert_eq!(cluster.api.count_writes(), 0, "converged: nothing left");
    }
    eprintln!("killed after k node writes, k = {seen_k:?}");
    seen_k.sort();
    seen_k.dedup();
    assert!(
        seen_k.len() >= 2,
        "killed after several different numbers of writes: {seen_k:?}"
    );
}

#[test]
fn hook_killed_between_resize_and_its_annotation_does_not_resize_twice() {
    for lands in [true, false] {
        let cluster = support::cluster();
        cluster.add_node("node-1", json!({}));
        let resources = json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}});
        cluster.api.put(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default",
                         "labels": {"kube-thermostat.io/resize": "true", "app": "web"},
                         "annotations": {"team.example/owner": "shop"}},
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "app", "image": "app:1", "resources": resources},
                {"name": "sidecar", "image": "proxy:1", "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "50m"}}}
            ]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0, "image": "app:1", "imageID": "sha256:1", "resources": resources},
                {"name": "sidecar", "ready": true, "restartCount": 0, "image": "proxy:1", "imageID": "sha256:2",
                 "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "50m"}}}
            ]}
        }));
        cluster.push(
            PodHistory::new(
                "default",
                "web-1",
                "node-1",
                vec![
                    ContainerLoad::new("app", Profile::Constant(0.49), Profile::Constant(100e6)),
                    ContainerLoad::new("sidecar", Profile::Constant(0.02), Profile::Constant(20e6)),
                ],
            )
            .series(&cluster.timeline),
        );
        let config = kubeconfig(&cluster);
        let path = "/api/v1/namespaces/default/pods/web-1/resize";
        cluster
            .api
            .inject(Fault::on("PATCH", path, FaultKind::Latency(HOLD), 1));
        if !lands {
            cluster
                .api
                .inject(Fault::on("PATCH", path, FaultKind::DropConnection, 1));
        }
        let started = Instant::now();
        let mut child = spawn_run(&cluster, "resize-pods", &config);
        std::thread::sleep(KILL_AFTER);
        child.kill().unwrap();
        child.wait().unwrap();
        while started.elapsed() < HOLD + Duration::from_millis(500) {
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster.api.clear_faults();
        let after_kill = cluster.api.get("Pod", Some("default"), "web-1").unwrap();
        let limit_after_kill =
            after_kill["spec"]["containers"][0]["resources"]["limits"]["cpu"].clone();
        assert_eq!(
            limit_after_kill != "500m",
            lands,
            "the held resize landed iff the server kept it"
        );

        // Ticks until the kubelet has actuated: at most one accepted resize in all.
        for _ in 0..2 {
            let output = cluster.tick("resize-pods", &[]);
            output.assert_success();
            cluster.api.kubelet_actuate("default", "web-1");
        }
        let pod = cluster.api.get("Pod", Some("default"), "web-1").unwrap();
        let accepted = cluster
            .api
            .requests()
            .iter()
            .filter(|r| r.resource == "pods/resize" && r.status == 200)
            .count();
        assert_eq!(accepted, 1, "one resize in all (in-flight lands: {lands})");
        let app = &pod["spec"]["containers"][0]["resources"];
        assert_ne!(app["limits"]["cpu"], "500m", "scaled up");
        assert_eq!(
            app["requests"]["cpu"], app["limits"]["cpu"],
            "Guaranteed kept"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["limits"]["memory"], "256Mi",
            "memory untouched"
        );
        assert_eq!(
            pod["spec"]["containers"][1]["resources"],
            json!({"requests": {"cpu": "50m"}, "limits": {"cpu": "50m"}}),
            "the sidecar within its band is untouched"
        );
        assert_eq!(pod["metadata"]["annotations"]["team.example/owner"], "shop");
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
    }
}

const BATCH: [&str; 4] = ["web-1", "web-2", "web-3", "web-4"];
const RECORD: &str = "kube-thermostat.io/last-resize";

/// Four hot Guaranteed pods on one roomy node: one resize batch of four pods, two writes each (the resize,
/// then our record on the pod), then an Event.
fn batch_world(cluster: &Cluster) {
    cluster.add_node("node-1", json!({}));
    let resources = json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}});
    for (i, name) in BATCH.iter().enumerate() {
        cluster.api.put(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "labels": {"kube-thermostat.io/resize": "true", "app": "web"},
                         "annotations": {"team.example/owner": format!("shop-{i}")}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app:1", "resources": resources}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0, "image": "app:1", "imageID": "sha256:1", "resources": resources}
            ]}
        }));
        cluster.push(
            PodHistory::new(
                "default",
                name,
                "node-1",
                vec![ContainerLoad::new(
                    "app",
                    Profile::Constant(0.49),
                    Profile::Constant(100e6),
                )],
            )
            .series(&cluster.timeline),
        );
    }
}

/// What must hold of every pod at any cut: our record names only resizes that were made (each value it says we
/// set is the pod's spec), Guaranteed stays Guaranteed, and foreign labels and annotations are intact.
fn assert_no_half_done_pod(cluster: &Cluster, when: &str) {
    for (i, name) in BATCH.iter().enumerate() {
        let pod = cluster.api.get("Pod", Some("default"), name).unwrap();
        let resources = &pod["spec"]["containers"][0]["resources"];
        assert_eq!(
            resources["requests"]["cpu"], resources["limits"]["cpu"],
            "{when}: {name} stays Guaranteed"
        );
        assert_eq!(
            pod["metadata"]["annotations"]["team.example/owner"],
            format!("shop-{i}"),
            "{when}: {name}"
        );
        assert_eq!(pod["metadata"]["labels"]["app"], "web", "{when}: {name}");
        let Some(text) = pod["metadata"]["annotations"][RECORD].as_str() else {
            continue;
        };
        let record: Value = serde_json::from_str(text).unwrap();
        for (container, entry) in record.as_object().unwrap() {
            assert_eq!(container, "app", "{when}: {name}: {text}");
            for bound in ["requests", "limits"] {
                for (resource, value) in entry["to"][bound].as_object().into_iter().flatten() {
                    assert_eq!(
                        &resources[bound][resource], value,
                        "{when}: {name}'s record says {bound}.{resource} was set to {value}, the spec says otherwise: {text}"
                    );
                }
            }
        }
    }
}

fn accepted_resizes(cluster: &Cluster, pod: &str) -> usize {
    let path = format!("/api/v1/namespaces/default/pods/{pod}/resize");
    cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.path == path && r.status == 200)
        .count()
}

#[test]
fn hook_killed_in_a_resize_batch_leaves_no_half_done_pod_and_the_next_ticks_converge() {
    // (victim pod, the write held when the kill comes, whether the held write lands anyway)
    let cuts = [
        ("web-2", "resize", true),
        ("web-3", "record", false),
        ("web-1", "record", true),
        ("web-4", "resize", false),
    ];
    let mut seen_k = Vec::new();
    for (victim, write, lands) in cuts {
        let cluster = support::cluster();
        batch_world(&cluster);
        let pod_path = format!("/api/v1/namespaces/default/pods/{victim}");
        let path = match write {
            "resize" => format!("{pod_path}/resize"),
            _ => pod_path,
        };
        cluster
            .api
            .inject(Fault::on_exact("PATCH", &path, FaultKind::Latency(HOLD), 1));
        if !lands {
            cluster.api.inject(Fault::on_exact(
                "PATCH",
                &path,
                FaultKind::DropConnection,
                1,
            ));
        }
        let config = kubeconfig(&cluster);
        let started = Instant::now();
        let mut child = spawn_run(&cluster, "resize-pods", &config);
        std::thread::sleep(KILL_AFTER);
        child.kill().unwrap();
        child.wait().unwrap();
        let k = BATCH
            .iter()
            .filter(|pod| **pod != victim && accepted_resizes(&cluster, pod) == 1)
            .count();
        seen_k.push(k);
        while started.elapsed() < HOLD + Duration::from_millis(500) {
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster.api.clear_faults();
        let case = format!("victim {victim} ({write} held, lands: {lands}, k={k})");
        assert!(
            cluster
                .api
                .requests()
                .iter()
                .any(|r| r.path == path && r.method == "PATCH"),
            "{case}: the kill came while the victim's write was held"
        );
        assert_no_half_done_pod(&cluster, &format!("{case}, after the kill"));

        // Ticks until every kubelet has actuated: each pod resized exactly once in all, none left behind.
        for round in 0..3 {
            let output = cluster.tick("resize-pods", &[]);
            output.assert_success();
            assert_no_half_done_pod(&cluster, &format!("{case}, tick {round}"));
            for pod in BATCH {
                cluster.api.kubelet_actuate("default", pod);
            }
        }
        for pod in BATCH {
            assert_eq!(
                accepted_resizes(&cluster, pod),
                1,
                "{case}: {pod} resized exactly once"
            );
            let cpu = cluster.api.get("Pod", Some("default"), pod).unwrap()["spec"]["containers"]
                [0]["resources"]["limits"]["cpu"]
                .clone();
            assert_ne!(cpu, "500m", "{case}: {pod} scaled up");
        }
        cluster.api.reset_requests();
        let settled = cluster.tick("resize-pods", &[]);
        settled.assert_success();
        assert_eq!(
            cluster.api.count("patch", "pods/resize"),
            0,
            "{case}: converged, nothing left to resize\n{}",
            settled.stderr
        );
    }
    eprintln!("killed after k whole pods of the batch, k = {seen_k:?}");
    seen_k.sort();
    seen_k.dedup();
    assert!(
        seen_k.len() >= 2,
        "killed at several points of the batch: {seen_k:?}"
    );
}

/// shell-operator's wait for its queues on SIGTERM (`pkg/shell-operator/operator.go`, `DefaultShutdownTimeout`);
/// after it the operator exits and the hook in flight is killed with the container.
const SHELL_OPERATOR_SHUTDOWN: Duration = Duration::from_secs(30);

#[test]
fn with_default_settings_a_stuck_tick_ends_inside_shell_operators_shutdown_budget() {
    let mut cluster = support::cluster();
    cluster.add_node("hot-1", json!({}));
    cluster.node_load("hot-1", Profile::Constant(0.95));
    let proxy = FaultProxy::start(&cluster.prometheus).unwrap();
    proxy.fail_all(PrometheusFault::Hang);
    cluster.prometheus_url = proxy.url();
    let config = kubeconfig(&cluster);
    let started = Instant::now();
    // No TICK_TIMEOUT, no PROMETHEUS_TIMEOUT: the defaults alone must end the tick in time.
    let output = Command::new(&cluster.binary)
        .args(["run", "taint-nodes"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PROMETHEUS_URL", &cluster.prometheus_url)
        .env("KUBECONFIG", &config)
        .env("HOSTNAME", "kube-thermostat-budget")
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // Process start and exit, and the metrics file, within what is left of the 30 s.
    assert!(
        took + Duration::from_secs(3) < SHELL_OPERATOR_SHUTDOWN,
        "a hung Prometheus held the tick {took:?}: shell-operator would have killed it mid-way\n{stderr}"
    );
    assert_eq!(cluster.api.count_writes(), 0, "{stderr}");
}
