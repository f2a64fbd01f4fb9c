//! Kubernetes API faults against the real binary: the stand-in's fault injection, RBAC, TLS and token rotation.
//!
//! What users need: transient faults (429, 503, a dropped connection, a race with another writer) cost a retry or a
//! tick, never a lost or doubled change; permanent ones (403, 404, a wrong CA, a dead token) stop with a message
//! naming what failed, and the next tick after the fix converges.

use crate::support;

use std::time::{Duration, Instant};

use crate::support::{Cluster, ContainerLoad, Fault, FaultKind, Options, PodHistory, Profile};
use serde_json::{Value, json};
use thermostat_rig::apiserver::{FOREIGN_ANNOTATION_KEY, FOREIGN_TAINT_KEY, PolicyRule};

const OUR_KEY: &str = "kube-thermostat.io/hot";

/// Room for two taints among four nodes.
const ENV: &[(&str, &str)] = &[("MAX_TAINTED_FRACTION", "0.5")];

/// Four nodes: `hot-1` and `hot-2` at 95% (two taints due), two at 20%; `hot-1` already carries a foreign taint.
fn taint_world(cluster: &Cluster) {
    for node in ["hot-1", "hot-2", "cool-1", "cool-2"] {
        cluster.add_node(node, json!({}));
    }
    cluster.api.modify("Node", None, "hot-1", |node| {
        node["spec"]["taints"] =
            json!([{"key": "team.example/gpu", "value": "a100", "effect": "NoSchedule"}]);
    });
    for node in ["hot-1", "hot-2"] {
        cluster.node_load(node, Profile::Constant(0.95));
    }
    for node in ["cool-1", "cool-2"] {
        cluster.node_load(node, Profile::Constant(0.20));
    }
}

fn our_taints(cluster: &Cluster, node: &str) -> usize {
    cluster
        .taints(node)
        .as_array()
        .map(|t| t.iter().filter(|t| t["key"] == OUR_KEY).count())
        .unwrap_or(0)
}

/// The converged state: each hot node carries our taint once, the foreign GPU taint is intact, cool nodes clean.
fn assert_converged(cluster: &Cluster) {
    for node in ["hot-1", "hot-2"] {
        assert_eq!(
            our_taints(cluster, node),
            1,
            "{node}: {}",
            cluster.taints(node)
        );
    }
    assert!(
        cluster
            .taints("hot-1")
            .as_array()
            .unwrap()
            .contains(&json!({"key": "team.example/gpu", "value": "a100", "effect": "NoSchedule"})),
        "foreign taint kept: {}",
        cluster.taints("hot-1")
    );
    for node in ["cool-1", "cool-2"] {
        assert!(cluster.taints(node).is_null(), "{node}");
    }
}

/// A running, opted-in pod whose one container `app` uses 490m of a 500m limit: one resize up due.
fn add_hot_pod(cluster: &Cluster, name: &str) {
    cluster.add_node("node-1", json!({}));
    let resources = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
    cluster.api.put(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"kube-thermostat.io/resize": "true"},
                     "annotations": {"team.example/owner": "shop"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app:1", "resources": resources}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
            "image": "app:1", "imageID": "sha256:1", "resources": resources}]}
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

fn cpu_limit(cluster: &Cluster, pod: &str) -> Value {
    cluster.api.get("Pod", Some("default"), pod).unwrap()["spec"]["containers"][0]["resources"]
        ["limits"]["cpu"]
        .clone()
}

// ---- Transient faults ------------------------------------------------------------------------------------------

#[test]
fn patch_answered_429_with_retry_after_is_retried_after_the_wait() {
    let cluster = support::cluster();
    taint_world(&cluster);
    cluster.api.inject(Fault::on(
        "PATCH",
        "/nodes/hot-1",
        FaultKind::Status {
            code: 429,
            retry_after: Some(1),
        },
        1,
    ));
    let started = Instant::now();
    let output = cluster.tick("taint-nodes", ENV);
    output.assert_success();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_converged(&cluster);
    let hot_1_patches = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/nodes/hot-1"))
        .count();
    assert_eq!(hot_1_patches, 2, "one refusal, one retry");
}

#[test]
fn a_burst_of_503_shorter_than_the_retries_is_absorbed() {
    let cluster = support::cluster();
    taint_world(&cluster);
    cluster.api.inject(Fault::on(
        "PATCH",
        "/nodes/",
        FaultKind::Status {
            code: 503,
            retry_after: None,
        },
        2,
    ));
    cluster.tick("taint-nodes", ENV).assert_success();
    assert_converged(&cluster);
}

#[test]
fn a_burst_of_500_fails_the_node_names_it_and_the_next_tick_converges() {
    let cluster = support::cluster();
    taint_world(&cluster);
    cluster.api.inject(Fault::on(
        "PATCH",
        "/nodes/hot-1",
        FaultKind::Status {
            code: 500,
            retry_after: None,
        },
        10,
    ));
    let output = cluster.tick("taint-nodes", ENV);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(output.stderr.contains("hot-1"), "{}", output.stderr);
    assert!(output.stderr.contains("500"), "{}", output.stderr);
    assert_eq!(
        our_taints(&cluster, "hot-2"),
        1,
        "one node's failure does not stop the others"
    );
    cluster.api.clear_faults();
    cluster.tick("taint-nodes", ENV).assert_success();
    assert_converged(&cluster);
}

#[test]
fn a_connection_dropped_on_a_write_loses_nothing_and_the_next_tick_converges() {
    let cluster = support::cluster();
    taint_world(&cluster);
    cluster.api.inject(Fault::on(
        "PATCH",
        "/nodes/hot-1",
        FaultKind::DropConnection,
        1,
    ));
    // A JSON Patch guarded by `test` ops is safe to send again: the client retries it at once.
    cluster.tick("taint-nodes", ENV).assert_success();
    assert_converged(&cluster);
    cluster.api.reset_requests();
    cluster.tick("taint-nodes", ENV).assert_success();
    assert_eq!(cluster.api.count_writes(), 0, "nothing left to do");
}

#[test]
fn a_connection_dropped_on_the_node_list_aborts_before_any_write() {
    let cluster = support::cluster();
    taint_world(&cluster);
    cluster.api.inject(Fault::on(
        "GET",
        "/api/v1/nodes",
        FaultKind::DropConnection,
        10,
    ));
    let output = cluster.run_cli(&["taint-nodes"], ENV);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(output.stderr.contains("listing nodes"), "{}", output.stderr);
    assert_eq!(cluster.api.count_writes(), 0);
}

#[test]
fn conflict_with_another_writer_keeps_their_taint_and_adds_ours_once() {
    let cluster = support::cluster();
    taint_world(&cluster);
    cluster.api.inject(Fault::on(
        "PATCH",
        "/nodes/hot-1",
        FaultKind::ConflictOnce,
        1,
    ));
    let output = cluster.tick("taint-nodes", ENV);
    output.assert_success();
    assert_converged(&cluster);
    let taints = cluster.taints("hot-1");
    assert_eq!(
        taints
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["key"] == FOREIGN_TAINT_KEY)
            .count(),
        1,
        "the other writer's taint survives our write: {taints}"
    );
    assert_eq!(
        output.metric(
            "kube_thermostat_tick_writes",
            &[("controller", "taint-nodes"), ("result", "conflict")]
        ),
        Some(1.0),
        "{}",
        output.stderr
    );
}

#[test]
fn conflict_on_resize_keeps_the_other_writers_annotation_and_resizes_once() {
    let cluster = support::cluster();
    add_hot_pod(&cluster, "web-1");
    cluster.api.inject(Fault::on(
        "PATCH",
        "/pods/web-1/resize",
        FaultKind::ConflictOnce,
        1,
    ));
    let output = cluster.tick("resize-pods", &[]);
    let pod = cluster.api.get("Pod", Some("default"), "web-1").unwrap();
    assert!(
        pod["metadata"]["annotations"][FOREIGN_ANNOTATION_KEY].is_string(),
        "the other writer's annotation survives: {}\n{}",
        pod["metadata"],
        output.stderr
    );
    assert_eq!(
        pod["metadata"]["annotations"]["team.example/owner"], "shop",
        "foreign annotation kept"
    );
    // Either resized after a re-read now, or left for the next tick; never twice.
    cluster.tick("resize-pods", &[]).assert_success();
    assert_ne!(cpu_limit(&cluster, "web-1"), "500m", "{}", output.stderr);
    let accepted = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.resource == "pods/resize" && r.status == 200)
        .count();
    assert_eq!(accepted, 1, "resized exactly once");
}

// ---- Permanent faults ------------------------------------------------------------------------------------------

/// The rules the hook needs, minus `patch` on nodes.
fn rbac_without_node_patch() -> Vec<PolicyRule> {
    vec![
        PolicyRule::new(&[""], &["nodes"], &["get", "list", "watch"]),
        PolicyRule::new(&[""], &["pods", "namespaces"], &["get", "list", "watch"]),
        PolicyRule::new(&[""], &["pods"], &["patch"]),
        PolicyRule::new(&[""], &["pods/resize"], &["patch"]),
        PolicyRule::new(&[""], &["limitranges", "resourcequotas"], &["list"]),
        PolicyRule::new(&["events.k8s.io"], &["events"], &["create"]),
        PolicyRule::new(&["autoscaling"], &["horizontalpodautoscalers"], &["list"]),
        PolicyRule::new(
            &["autoscaling.k8s.io"],
            &["verticalpodautoscalers"],
            &["list"],
        ),
    ]
}

#[test]
fn forbidden_node_patch_names_the_verb_and_resource_and_exits_1() {
    let cluster = support::cluster_with(Options {
        rbac: Some(rbac_without_node_patch()),
        ..Options::default()
    });
    taint_world(&cluster);
    let output = cluster.tick("taint-nodes", ENV);
    assert_eq!(output.code, 1, "{}", output.stderr);
    for needle in ["patch", "nodes", "403"] {
        assert!(
            output.stderr.contains(needle),
            "names {needle:?}:\n{}",
            output.stderr
        );
    }
    assert_eq!(our_taints(&cluster, "hot-1"), 0);
}

#[test]
fn resize_subresource_missing_before_1_32_is_reported_and_the_pod_left_alone() {
    let cluster = support::cluster_with(Options {
        server_minor: 31,
        ..Options::default()
    });
    add_hot_pod(&cluster, "web-1");
    let output = cluster.tick("resize-pods", &[]);
    assert_eq!(
        cluster.api.count_writes(),
        cluster.api.count("create", "events"),
        "no write but Events:\n{}",
        output.stderr
    );
    assert_eq!(cpu_limit(&cluster, "web-1"), "500m");
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("1.31") && output.stderr.contains("pods/resize"),
        "{}",
        output.stderr
    );
    assert_eq!(
        cluster.api.count("patch", "pods/resize"),
        0,
        "the version is checked before trying: {}",
        output.stderr
    );
}

#[test]
fn wrong_certificate_authority_is_refused_without_insecure_fallback() {
    let cluster = support::cluster_with(Options {
        tls: true,
        ..Options::default()
    });
    taint_world(&cluster);
    // A kubeconfig trusting another CA than the one that signed the server's certificate.
    let other_ca = thermostat_rig::prometheus::CertificateAuthority::new("other-ca").unwrap();
    let ca_path = cluster.dir.path().join("other-ca.pem");
    std::fs::write(&ca_path, other_ca.cert_pem()).unwrap();
    let kubeconfig = write_kubeconfig(
        &cluster,
        "wrong-ca",
        json!({"server": cluster.api.url(), "certificate-authority": ca_path}),
        json!({"token": "test-token"}),
    );
    let output = cluster.tick("taint-nodes", &[("KUBECONFIG", &kubeconfig), ENV[0]]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.to_lowercase().contains("certificate"),
        "{}",
        output.stderr
    );
    assert!(
        cluster.api.requests().is_empty(),
        "no request got through the handshake"
    );
    assert_eq!(our_taints(&cluster, "hot-1"), 0);
}

fn write_kubeconfig(cluster: &Cluster, name: &str, server: Value, user: Value) -> String {
    let path = cluster.dir.path().join(name);
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": server}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn rotated_service_account_token_is_read_again_on_the_next_tick() {
    let cluster = support::cluster();
    taint_world(&cluster);
    let token_file = cluster.dir.path().join("token");
    std::fs::write(&token_file, "test-token").unwrap();
    let kubeconfig = write_kubeconfig(
        &cluster,
        "token-file",
        json!({"server": cluster.api.url()}),
        json!({"tokenFile": token_file}),
    );
    let env = [("KUBECONFIG", kubeconfig.as_str()), ENV[0]];

    // The API server rotates its key: the old token is now refused.
    cluster.api.set_token("rotated-token-2");
    let refused = cluster.tick("taint-nodes", &env);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("401"), "{}", refused.stderr);
    assert_eq!(our_taints(&cluster, "hot-1"), 0);

    // The kubelet writes the new token into the projected volume: the next tick works with no restart.
    std::fs::write(&token_file, "rotated-token-2").unwrap();
    cluster.tick("taint-nodes", &env).assert_success();
    assert_converged(&cluster);
}
