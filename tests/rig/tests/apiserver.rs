//! Scenarios for the Kubernetes API stand-in, driven by a real HTTP client (ureq) as the
//! controller's client will be.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use thermostat_rig::apiserver::{
    ApiServer, FOREIGN_TAINT_KEY, Fault, FaultKind, Options, PolicyRule,
};

const JSON_PATCH: &str = "application/json-patch+json";
const MERGE_PATCH: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";

struct Answer {
    status: u16,
    body: Value,
    text: String,
    retry_after: Option<String>,
    content_type: String,
}

struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(server: &ApiServer) -> Client {
        Client::with_tls(server, ureq::tls::TlsConfig::builder().build())
    }

    fn with_tls(server: &ApiServer, tls: ureq::tls::TlsConfig) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .tls_config(tls)
            .build()
            .new_agent();
        Client {
            agent,
            base: server.url(),
            token: Some("test-token".into()),
        }
    }

    fn try_send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, ureq::Error> {
        let url = format!("{}{}", self.base, path);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut req = $req.header("User-Agent", "rig-test");
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                if let Some(ct) = content_type {
                    req = req.header("Content-Type", ct);
                }
                req
            }};
        }
        let text_body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut response = match method {
            "GET" => with_headers!(self.agent.get(&url)).call()?,
            "DELETE" => with_headers!(self.agent.delete(&url)).call()?,
            "POST" => with_headers!(self.agent.post(&url)).send(text_body.as_bytes())?,
            "PUT" => with_headers!(self.agent.put(&url)).send(text_body.as_bytes())?,
            "PATCH" => with_headers!(self.agent.patch(&url)).send(text_body.as_bytes())?,
            other => panic!("method {other}"),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after");
        let content_type = header("content-type").unwrap_or_default();
        let text = response.body_mut().read_to_string()?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            body,
            text,
            retry_after,
            content_type,
        })
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        self.try_send(method, path, content_type, body).unwrap()
    }

    fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None, None)
    }

    fn patch(&self, path: &str, content_type: &str, body: Value) -> Answer {
        self.send("PATCH", path, Some(content_type), Some(&body))
    }
}

fn node(name: &str, labels: Value, taints: Value) -> Value {
    json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})
}

fn pod(ns: &str, name: &str, containers: Value) -> Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": containers},
        "status": {"phase": "Running"}
    })
}

fn burstable_container(name: &str) -> Value {
    json!({"name": name, "image": "nginx", "resources": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "200m", "memory": "256Mi"}}})
}

fn guaranteed_container(name: &str) -> Value {
    json!({"name": name, "image": "nginx", "resources": {
        "requests": {"cpu": "500m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"}}})
}

fn start(options: Options) -> (ApiServer, Client) {
    let server = ApiServer::start(options).unwrap();
    let client = Client::new(&server);
    (server, client)
}

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_status(answer: &Answer, code: u16, reason: &str) {
    assert_eq!(answer.status, code, "{}", answer.text);
    assert_eq!(answer.body["kind"], "Status", "{}", answer.text);
    assert_eq!(answer.body["apiVersion"], "v1");
    assert_eq!(answer.body["status"], "Failure");
    assert_eq!(answer.body["reason"], reason, "{}", answer.text);
    assert_eq!(answer.body["code"], code);
}

// ------------------------------------------------------------------ version, auth

#[test]
fn version_reports_the_configured_minor() {
    let (_server, client) = start(Options {
        server_minor: 33,
        ..Options::default()
    });
    let answer = client.get("/version");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["major"], "1");
    assert_eq!(answer.body["minor"], "33");
    assert_eq!(answer.body["gitVersion"], "v1.33.1");
}

#[test]
fn wrong_or_missing_token_is_401_and_a_rotated_token_is_accepted() {
    let (server, mut client) = start(Options::default());
    client.token = Some("nope".into());
    let answer = client.get("/api/v1/nodes");
    assert_status(&answer, 401, "Unauthorized");
    assert_eq!(answer.body["message"], "Unauthorized");
    client.token = None;
    assert_status(&client.get("/api/v1/nodes"), 401, "Unauthorized");

    server.set_token("rotated");
    client.token = Some("test-token".into());
    assert_eq!(client.get("/api/v1/nodes").status, 401);
    client.token = Some("rotated".into());
    assert_eq!(client.get("/api/v1/nodes").status, 200);
    let records = server.requests();
    assert_eq!(
        records.last().unwrap().authorization.as_deref(),
        Some("Bearer rotated")
    );
    assert_eq!(
        records.last().unwrap().user_agent.as_deref(),
        Some("rig-test")
    );
}

// ------------------------------------------------------------------ get, list, paging

#[test]
fn get_node_and_not_found_status() {
    let (server, client) = start(Options::default());
    server.put(node("n1", json!({}), json!([])));
    let answer = client.get("/api/v1/nodes/n1");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["kind"], "Node");
    assert!(!rv(&answer.body).is_empty());
    assert!(answer.body["metadata"]["uid"].is_string());

    let missing = client.get("/api/v1/nodes/x");
    assert_status(&missing, 404, "NotFound");
    assert_eq!(missing.body["message"], "nodes \"x\" not found");
    assert_eq!(
        missing.body["details"],
        json!({"name": "x", "kind": "nodes"})
    );

    let unknown = client.get("/api/v1/widgets");
    assert_status(&unknown, 404, "NotFound");
    assert_eq!(
        unknown.body["message"],
        "the server could not find the requested resource"
    );
}

#[test]
fn list_pages_with_opaque_continue_tokens_until_done() {
    let (server, client) = start(Options::default());
    for i in 0..7 {
        server.put(node(&format!("node-{i}"), json!({}), json!([])));
    }
    let mut names = Vec::new();
    let mut path = "/api/v1/nodes?limit=3".to_string();
    let mut pages = 0;
    loop {
        let answer = client.get(&path);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["kind"], "NodeList");
        assert_eq!(answer.body["apiVersion"], "v1");
        assert!(answer.body["metadata"]["resourceVersion"].is_string());
        let items = answer.body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        // kube-apiserver leaves kind/apiVersion out of list items.
        assert!(items.iter().all(|i| i.get("kind").is_none()));
        names.extend(
            items
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        pages += 1;
        match answer.body["metadata"]["continue"].as_str() {
            Some(token) => path = format!("/api/v1/nodes?limit=3&continue={token}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..7).map(|i| format!("node-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(server.count("list", "nodes"), 3);
}

#[test]
fn expired_continue_token_is_410_expired() {
    let (server, client) = start(Options::default());
    for i in 0..4 {
        server.put(node(&format!("n{i}"), json!({}), json!([])));
    }
    let first = client.get("/api/v1/nodes?limit=2");
    let token = first.body["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_string();
    server.expire_continue_tokens();
    let answer = client.get(&format!("/api/v1/nodes?limit=2&continue={token}"));
    assert_status(&answer, 410, "Expired");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .starts_with("The provided continue parameter is too old")
    );

    // The same through a fault, for a test that wants it mid-listing.
    let fresh = client.get("/api/v1/nodes?limit=2");
    let token = fresh.body["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_string();
    server.inject(Fault::on(
        "GET",
        "continue=",
        FaultKind::ExpireContinueTokens,
        1,
    ));
    assert_eq!(
        client
            .get(&format!("/api/v1/nodes?limit=2&continue={token}"))
            .status,
        410
    );
}

#[test]
fn label_and_field_selectors_filter_lists() {
    let (server, client) = start(Options::default());
    server.put(node(
        "cp",
        json!({"node-role.kubernetes.io/control-plane": ""}),
        json!([]),
    ));
    server.put(node("w1", json!({"pool": "a"}), json!([])));
    server.put(node("w2", json!({"pool": "b"}), json!([])));
    let names = |answer: &Answer| -> Vec<String> {
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let sel = |s: &str| {
        client.get(&format!(
            "/api/v1/nodes?labelSelector={}",
            s.replace(' ', "%20").replace('!', "%21")
        ))
    };
    assert_eq!(
        names(&sel("!node-role.kubernetes.io/control-plane")),
        ["w1", "w2"]
    );
    assert_eq!(names(&sel("pool in (a,c)")), ["w1"]);
    assert_eq!(names(&sel("pool notin (a)")), ["cp", "w2"]);
    assert_eq!(names(&sel("pool!=a")), ["cp", "w2"]);
    assert_eq!(names(&sel("pool")), ["w1", "w2"]);
    assert_eq!(
        names(&client.get("/api/v1/nodes?fieldSelector=metadata.name%3Dw2")),
        ["w2"]
    );

    server.put(pod("ns1", "p1", json!([burstable_container("c")])));
    let mut other = pod("ns2", "p2", json!([burstable_container("c")]));
    other["spec"]["nodeName"] = json!("n2");
    other["status"]["phase"] = json!("Pending");
    server.put(other);
    assert_eq!(
        names(&client.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dn2")),
        ["p2"]
    );
    assert_eq!(
        names(&client.get("/api/v1/pods?fieldSelector=status.phase%3DRunning")),
        ["p1"]
    );
    assert_eq!(
        names(&client.get("/api/v1/pods?fieldSelector=status.phase!%3DRunning")),
        ["p2"]
    );
    assert_eq!(names(&client.get("/api/v1/namespaces/ns1/pods")), ["p1"]);
    assert_status(
        &client.get("/api/v1/pods?fieldSelector=spec.bogus%3Dx"),
        400,
        "BadRequest",
    );
}

// ------------------------------------------------------------------ node patches

#[test]
fn guarded_json_patch_writes_once_and_a_stale_test_is_422_without_writing() {
    let (server, client) = start(Options::default());
    let foreign = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    server.put(node("n1", json!({}), foreign.clone()));
    let ours =
        json!({"key": "node.kubernetes.io/pressure", "value": "true", "effect": "NoSchedule"});
    let mut wanted = foreign.as_array().unwrap().clone();
    wanted.push(ours.clone());
    let patch = json!([
        {"op": "test", "path": "/spec/taints", "value": foreign},
        {"op": "replace", "path": "/spec/taints", "value": wanted},
    ]);
    let before = server.resource_version();
    let answer = client.patch("/api/v1/nodes/n1", JSON_PATCH, patch.clone());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["spec"]["taints"], json!(wanted));
    assert!(server.resource_version() > before);

    // Same patch again: the test no longer holds.
    let stale = client.patch("/api/v1/nodes/n1", JSON_PATCH, patch);
    assert_status(&stale, 422, "Invalid");
    assert_eq!(
        stale.body["message"],
        "the server rejected our request due to an error in our request"
    );
    assert_eq!(
        server.get("Node", None, "n1").unwrap()["spec"]["taints"],
        json!(wanted)
    );
    assert_eq!(server.count("patch", "nodes"), 2);
}

#[test]
fn json_patch_test_of_null_matches_a_node_without_taints() {
    let (server, client) = start(Options::default());
    server.put(json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"}, "spec": {}}));
    let patch = json!([
        {"op": "test", "path": "/spec/taints", "value": null},
        {"op": "add", "path": "/spec/taints", "value": [{"key": "k", "effect": "NoSchedule"}]},
    ]);
    assert_eq!(
        client.patch("/api/v1/nodes/n1", JSON_PATCH, patch).status,
        200
    );
}

#[test]
fn stale_resource_version_in_a_patch_is_409_conflict() {
    let (server, client) = start(Options::default());
    let stored = server.put(node("n1", json!({}), json!([])));
    let old_rv = rv(&stored);
    server.modify("Node", None, "n1", |n| {
        n["metadata"]["labels"]["x"] = json!("y")
    });
    let answer = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"metadata": {"resourceVersion": old_rv}, "spec": {"taints": []}}),
    );
    assert_status(&answer, 409, "Conflict");
    assert_eq!(
        answer.body["message"],
        "Operation cannot be fulfilled on nodes \"n1\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // JSON Patch form of the same guard.
    let answer = client.patch(
        "/api/v1/nodes/n1",
        JSON_PATCH,
        json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": old_rv}]),
    );
    assert_status(&answer, 409, "Conflict");
}

#[test]
fn a_patch_that_changes_nothing_keeps_the_resource_version() {
    let (server, client) = start(Options::default());
    let stored = server.put(node("n1", json!({"a": "b"}), json!([])));
    let answer = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"metadata": {"labels": {"a": "b"}}}),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(rv(&answer.body), rv(&stored));
    let changed = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"metadata": {"labels": {"a": "c"}}}),
    );
    assert_ne!(rv(&changed.body), rv(&stored));
}

#[test]
fn merge_and_strategic_patches_replace_the_whole_taint_list() {
    let (server, client) = start(Options::default());
    server.put(node(
        "n1",
        json!({}),
        json!([{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}]),
    ));
    let only_c = json!([{"key": "c", "effect": "NoSchedule"}]);
    let answer = client.patch(
        "/api/v1/nodes/n1",
        STRATEGIC,
        json!({"spec": {"taints": only_c}}),
    );
    assert_eq!(answer.body["spec"]["taints"], only_c);
    let only_d = json!([{"key": "d", "effect": "PreferNoSchedule"}]);
    let answer = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"spec": {"taints": only_d}}),
    );
    assert_eq!(answer.body["spec"]["taints"], only_d);
}

#[test]
fn invalid_taints_are_422_with_field_causes() {
    let (server, client) = start(Options::default());
    server.put(node("n1", json!({}), json!([])));
    let answer = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}}),
    );
    assert_status(&answer, 422, "Invalid");
    assert_eq!(
        answer.body["message"],
        "Node \"n1\" is invalid: spec.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\""
    );
    assert_eq!(
        answer.body["details"]["causes"][0]["field"],
        "spec.taints[0].effect"
    );
    assert_eq!(
        answer.body["details"]["causes"][0]["reason"],
        "FieldValueNotSupported"
    );

    let duplicate = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"spec": {"taints": [{"key": "k", "value": "1", "effect": "NoSchedule"}, {"key": "k", "value": "2", "effect": "NoSchedule"}]}}),
    );
    assert_status(&duplicate, 422, "Invalid");
    assert_eq!(
        duplicate.body["details"]["causes"][0]["field"],
        "spec.taints[1]"
    );
    assert!(
        duplicate.body["message"]
            .as_str()
            .unwrap()
            .contains("taints must be unique by key and effect pair")
    );

    let bad_key = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"spec": {"taints": [{"key": "bad key", "effect": "NoSchedule"}]}}),
    );
    assert_eq!(
        bad_key.body["details"]["causes"][0]["field"],
        "spec.taints[0].key"
    );
    let bad_value = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"spec": {"taints": [{"key": "k", "value": "a b", "effect": "NoSchedule"}]}}),
    );
    assert_eq!(
        bad_value.body["details"]["causes"][0]["field"],
        "spec.taints[0].value"
    );
    assert!(
        server.get("Node", None, "n1").unwrap()["spec"]["taints"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn taints_get_no_time_added_from_the_server() {
    // The node strategy does no taint mutation (kubernetes pkg/registry/core/node/strategy.go).
    let (server, client) = start(Options::default());
    server.put(node("n1", json!({}), json!([])));
    let answer = client.patch(
        "/api/v1/nodes/n1",
        MERGE_PATCH,
        json!({"spec": {"taints": [
        {"key": "a", "effect": "NoExecute"}, {"key": "b", "effect": "NoSchedule"}]}}),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    for taint in answer.body["spec"]["taints"].as_array().unwrap() {
        assert!(taint.get("timeAdded").is_none(), "{taint}");
    }
}

#[test]
fn unknown_patch_content_types_are_415() {
    let (server, client) = start(Options::default());
    server.put(node("n1", json!({}), json!([])));
    for content_type in [
        "application/json",
        "application/apply-patch+yaml",
        "text/plain",
    ] {
        assert_status(
            &client.patch("/api/v1/nodes/n1", content_type, json!({})),
            415,
            "UnsupportedMediaType",
        );
    }
    server.put(json!({"kind": "VerticalPodAutoscaler", "apiVersion": "autoscaling.k8s.io/v1", "metadata": {"name": "v", "namespace": "ns"}, "spec": {}}));
    let vpa = client.patch(
        "/apis/autoscaling.k8s.io/v1/namespaces/ns/verticalpodautoscalers/v",
        STRATEGIC,
        json!({}),
    );
    assert_status(&vpa, 415, "UnsupportedMediaType");
}

// ------------------------------------------------------------------ pods and resize

#[test]
fn pod_resources_cannot_change_through_the_pod_but_labels_can() {
    let (server, client) = start(Options::default());
    server.put(pod("ns", "p", json!([burstable_container("c")])));
    let answer = client.patch(
        "/api/v1/namespaces/ns/pods/p",
        STRATEGIC,
        json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "400m"}}}]}}),
    );
    assert_status(&answer, 422, "Invalid");
    assert!(answer.body["message"].as_str().unwrap().starts_with(
        "Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than"
    ));

    let labels = client.patch(
        "/api/v1/namespaces/ns/pods/p",
        MERGE_PATCH,
        json!({"metadata": {"annotations": {"kube-thermostat.io/last-resize": "x"}}}),
    );
    assert_eq!(labels.status, 200, "{}", labels.text);
    assert_eq!(
        labels.body["metadata"]["annotations"]["kube-thermostat.io/last-resize"],
        "x"
    );
    assert_eq!(labels.body["metadata"]["generation"], 1);
}

fn resize(client: &Client, content_type: &str, body: Value) -> Answer {
    client.patch("/api/v1/namespaces/ns/pods/p/resize", content_type, body)
}

fn cpu_patch(container: &str, request: &str, limit: &str) -> Value {
    json!({"spec": {"containers": [{"name": container, "resources": {"requests": {"cpu": request}, "limits": {"cpu": limit}}}]}})
}

#[test]
fn resize_changes_cpu_and_bumps_generation() {
    let (server, client) = start(Options::default());
    server.put(pod(
        "ns",
        "p",
        json!([
            burstable_container("c"),
            burstable_container("sidecar-like")
        ]),
    ));
    let answer = resize(&client, STRATEGIC, cpu_patch("c", "150m", "300m"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "150m"
    );
    assert_eq!(
        answer.body["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "256Mi"
    );
    assert_eq!(
        answer.body["spec"]["containers"][1],
        server.get("Pod", Some("ns"), "p").unwrap()["spec"]["containers"][1]
    );
    assert_eq!(answer.body["metadata"]["generation"], 2);
    assert_eq!(server.count("patch", "pods/resize"), 1);

    // JSON Patch on a leaf, guarded by a test of the value read.
    let leaf = json!([
        {"op": "test", "path": "/spec/containers/0/resources/requests/cpu", "value": "150m"},
        {"op": "replace", "path": "/spec/containers/0/resources/requests/cpu", "value": "200m"},
    ]);
    let answer = resize(&client, JSON_PATCH, leaf.clone());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["metadata"]["generation"], 3);
    assert_status(&resize(&client, JSON_PATCH, leaf), 422, "Invalid");
}

#[test]
fn observed_generation_is_kept_from_1_34_and_dropped_before_as_the_real_server_does() {
    for (minor, kept) in [(33, false), (34, true), (36, true)] {
        let (server, client) = start(Options {
            server_minor: minor,
            ..Options::default()
        });
        server.put(
            json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}}),
        );
        server.put(pod("ns", "p", json!([guaranteed_container("c")])));
        let answer = client.patch(
            "/api/v1/namespaces/ns/pods/p/status",
            MERGE_PATCH,
            json!({"status": {"observedGeneration": 1, "conditions": [
                {"type": "PodResizePending", "status": "True", "reason": "Deferred", "observedGeneration": 1}]}}),
        );
        assert_eq!(answer.status, 200, "{}", answer.text);
        let status = &answer.body["status"];
        assert_eq!(
            status.get("observedGeneration").is_some(),
            kept,
            "1.{minor}: {status}"
        );
        assert_eq!(
            status["conditions"][0].get("observedGeneration").is_some(),
            kept,
            "1.{minor}: {status}"
        );
        // The resize still bumps the generation on every minor.
        let answer = resize(&client, STRATEGIC, cpu_patch("c", "600m", "600m"));
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["metadata"]["generation"], 2, "1.{minor}");
    }
}

#[test]
fn a_pod_level_resize_must_keep_the_containers_within_the_pod_level_values() {
    let (server, client) = start(Options {
        server_minor: 36,
        ..Options::default()
    });
    server.put(
        json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"},
        "status": {"allocatable": {"cpu": "4", "memory": "16Gi"},
                   "declaredFeatures": ["InPlacePodLevelResourcesVerticalScaling"]}}),
    );
    let mut budgeted = pod("ns", "p", json!([guaranteed_container("c")]));
    budgeted["spec"]["resources"] = json!({"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}});
    server.put(budgeted);
    server.kubelet_actuate("ns", "p");
    let past = resize(&client, STRATEGIC, cpu_patch("c", "1500m", "1500m"));
    assert_status(&past, 422, "Invalid");
    assert!(
        past.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("must be greater than or equal to aggregate container requests of 1500m"),
        "{}",
        past.text
    );
    let mut together = cpu_patch("c", "1500m", "1500m");
    together["spec"]["resources"] =
        json!({"requests": {"cpu": "1500m"}, "limits": {"cpu": "1500m"}});
    let answer = resize(&client, STRATEGIC, together);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["spec"]["resources"]["limits"]["cpu"], "1500m");
    let actuated = server.kubelet_actuate("ns", "p");
    assert_eq!(actuated["status"]["allocatedResources"]["cpu"], "1500m");
}

#[test]
fn resize_refuses_qos_change_removal_and_requests_above_limits() {
    let (server, client) = start(Options::default());
    server.put(pod("ns", "p", json!([guaranteed_container("c")])));
    // Guaranteed -> Burstable.
    let answer = resize(&client, STRATEGIC, cpu_patch("c", "400m", "500m"));
    assert_status(&answer, 422, "Invalid");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("Pod QOS Class may not change as a result of resizing"),
        "{}",
        answer.text
    );

    server.put(pod("ns", "p", json!([burstable_container("c")])));
    let removal = resize(
        &client,
        STRATEGIC,
        json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": null}}}]}}),
    );
    assert_status(&removal, 422, "Invalid");
    assert!(
        removal.body["message"].as_str().unwrap().contains(
            "spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed"
        ),
        "{}",
        removal.text
    );

    let above = resize(&client, STRATEGIC, cpu_patch("c", "900m", "300m"));
    assert_status(&above, 422, "Invalid");
    assert_eq!(
        above.body["details"]["causes"][0]["field"],
        "spec.containers[0].resources.requests[cpu]"
    );

    let other = resize(
        &client,
        STRATEGIC,
        json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"ephemeral-storage": "1Gi"}}}]}}),
    );
    assert_status(&other, 422, "Invalid");
    assert!(
        other.body["message"]
            .as_str()
            .unwrap()
            .contains("only cpu and memory resources are mutable")
    );
    assert_eq!(
        server.get("Pod", Some("ns"), "p").unwrap()["metadata"]["generation"],
        1
    );
}

#[test]
fn resize_merge_patch_of_a_partial_container_list_is_refused() {
    let (server, client) = start(Options::default());
    server.put(pod(
        "ns",
        "p",
        json!([burstable_container("a"), burstable_container("b")]),
    ));
    let answer = resize(&client, MERGE_PATCH, cpu_patch("b", "150m", "300m"));
    assert_status(&answer, 422, "Invalid");
}

#[test]
fn resize_ignores_non_resource_changes_and_checks_resource_version() {
    let (server, client) = start(Options::default());
    let stored = server.put(pod("ns", "p", json!([burstable_container("c")])));
    server.kubelet_actuate("ns", "p");
    let mut stale = cpu_patch("c", "150m", "300m");
    stale["metadata"] = json!({"resourceVersion": rv(&stored)});
    assert_status(&resize(&client, STRATEGIC, stale), 409, "Conflict");
    let mut labelled = cpu_patch("c", "150m", "300m");
    labelled["metadata"] = json!({"labels": {"sneaky": "yes"}});
    let answer = resize(&client, STRATEGIC, labelled);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.body["metadata"]["labels"].get("sneaky").is_none());
}

fn memory_limit_decrease(minor: u32, restart_policy: Option<&str>) -> u16 {
    let (server, client) = start(Options {
        server_minor: minor,
        resize_alpha_gate: true,
        ..Options::default()
    });
    let mut container = burstable_container("c");
    if let Some(policy) = restart_policy {
        container["resizePolicy"] = json!([{"resourceName": "memory", "restartPolicy": policy}]);
    }
    server.put(pod("ns", "p", json!([container])));
    let patch = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "200Mi"}}}]}});
    resize(&client, STRATEGIC, patch).status
}

#[test]
fn memory_limit_decrease_follows_the_server_version() {
    assert_eq!(memory_limit_decrease(32, None), 200);
    assert_eq!(memory_limit_decrease(33, None), 422);
    assert_eq!(memory_limit_decrease(33, Some("RestartContainer")), 200);
    assert_eq!(memory_limit_decrease(34, None), 200);
    assert_eq!(memory_limit_decrease(35, None), 200);
}

#[test]
fn resize_subresource_on_1_32_is_served_only_with_the_alpha_gate() {
    for (gate, code) in [(false, 404), (true, 200)] {
        let (server, client) = start(Options {
            server_minor: 32,
            resize_alpha_gate: gate,
            ..Options::default()
        });
        server.put(pod("ns", "p", json!([burstable_container("c")])));
        let answer = resize(&client, STRATEGIC, cpu_patch("c", "150m", "300m"));
        assert_eq!(answer.status, code, "gate {gate}: {}", answer.text);
    }
}

#[test]
fn resize_subresource_is_404_before_1_32() {
    let (server, client) = start(Options {
        server_minor: 31,
        ..Options::default()
    });
    server.put(pod("ns", "p", json!([burstable_container("c")])));
    let answer = resize(&client, STRATEGIC, cpu_patch("c", "150m", "300m"));
    assert_status(&answer, 404, "NotFound");
}

#[test]
fn sidecars_resize_but_plain_init_containers_do_not() {
    let (server, client) = start(Options::default());
    let mut sidecar = burstable_container("proxy");
    sidecar["restartPolicy"] = json!("Always");
    let mut p = pod("ns", "p", json!([burstable_container("c")]));
    p["spec"]["initContainers"] = json!([burstable_container("setup"), sidecar]);
    server.put(p);
    let patch = |name: &str| json!({"spec": {"initContainers": [{"name": name, "resources": {"requests": {"cpu": "150m"}}}]}});
    assert_eq!(resize(&client, STRATEGIC, patch("proxy")).status, 200);
    let plain = resize(&client, STRATEGIC, patch("setup"));
    assert_status(&plain, 422, "Invalid");
    assert!(
        plain.body["message"]
            .as_str()
            .unwrap()
            .contains("resources for non-sidecar init containers are immutable")
    );
}

#[test]
fn kubelet_helpers_report_progress_and_completion() {
    let (server, client) = start(Options::default());
    server.put(pod("ns", "p", json!([burstable_container("c")])));
    resize(&client, STRATEGIC, cpu_patch("c", "150m", "300m"));
    let pending = server.kubelet_set_resize_condition(
        "ns",
        "p",
        "PodResizePending",
        "Deferred",
        "Node didn't have enough capacity",
    );
    let condition = &pending["status"]["conditions"][0];
    assert_eq!(condition["reason"], "Deferred");
    assert_eq!(condition["observedGeneration"], 2);
    let done = server.kubelet_actuate("ns", "p");
    assert_eq!(done["status"]["observedGeneration"], 2);
    assert_eq!(
        done["status"]["containerStatuses"][0]["resources"]["requests"]["cpu"],
        "150m"
    );
    assert!(done["status"]["conditions"].as_array().unwrap().is_empty());
}

// ------------------------------------------------------------------ faults

#[test]
fn injected_429_carries_retry_after_and_then_passes() {
    let (server, client) = start(Options::default());
    server.inject(Fault::on(
        "GET",
        "/api/v1/nodes",
        FaultKind::Status {
            code: 429,
            retry_after: Some(2),
        },
        1,
    ));
    let answer = client.get("/api/v1/nodes");
    assert_status(&answer, 429, "TooManyRequests");
    assert_eq!(answer.retry_after.as_deref(), Some("2"));
    assert_eq!(client.get("/api/v1/nodes").status, 200);

    server.inject(Fault::any(
        FaultKind::Status {
            code: 500,
            retry_after: None,
        },
        2,
    ));
    assert_status(&client.get("/api/v1/nodes"), 500, "InternalError");
    assert_status(&client.get("/api/v1/nodes"), 500, "InternalError");
    assert_eq!(client.get("/api/v1/nodes").status, 200);
    assert_eq!(server.count("list", "nodes"), 5);
}

#[test]
fn latency_and_dropped_connections() {
    let (server, client) = start(Options::default());
    server.inject(Fault::any(
        FaultKind::Latency(Duration::from_millis(300)),
        1,
    ));
    let started = Instant::now();
    assert_eq!(client.get("/version").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    server.inject(Fault::on(
        "GET",
        "/api/v1/nodes",
        FaultKind::DropConnection,
        1,
    ));
    assert!(client.try_send("GET", "/api/v1/nodes", None, None).is_err());
    assert_eq!(client.get("/api/v1/nodes").status, 200);
    assert_eq!(
        server.requests().iter().filter(|r| r.status == 0).count(),
        1
    );
}

#[test]
fn conflict_once_makes_another_writer_win_the_race() {
    let (server, client) = start(Options::default());
    let stored = server.put(node("n1", json!({}), json!([])));
    server.inject(Fault::on(
        "PATCH",
        "/api/v1/nodes/n1",
        FaultKind::ConflictOnce,
        1,
    ));
    let patch = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv(&stored)},
        {"op": "replace", "path": "/spec/taints", "value": [{"key": "ours", "effect": "NoSchedule"}]},
    ]);
    assert_status(
        &client.patch("/api/v1/nodes/n1", JSON_PATCH, patch),
        422,
        "Invalid",
    );
    let now = server.get("Node", None, "n1").unwrap();
    assert_eq!(now["spec"]["taints"][0]["key"], FOREIGN_TAINT_KEY);
}

// ------------------------------------------------------------------ RBAC

#[test]
fn rbac_denials_name_the_verb_resource_and_scope() {
    let role = json!({"kind": "ClusterRole", "rules": [
        {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list"]},
    ]});
    let rules = PolicyRule::from_cluster_role(&role).unwrap();
    let (server, client) = start(Options {
        rbac: Some(rules),
        ..Options::default()
    });
    server.put(node("n1", json!({}), json!([])));
    server.put(pod("ns", "p", json!([burstable_container("c")])));
    assert_eq!(client.get("/api/v1/nodes").status, 200);
    let denied = client.patch("/api/v1/nodes/n1", MERGE_PATCH, json!({}));
    assert_status(&denied, 403, "Forbidden");
    assert_eq!(
        denied.body["message"],
        "nodes \"n1\" is forbidden: User \"system:serviceaccount:kube-thermostat:kube-thermostat\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"
    );
    let resize = client.patch("/api/v1/namespaces/ns/pods/p/resize", STRATEGIC, json!({}));
    assert_eq!(
        resize.body["message"],
        "pods \"p\" is forbidden: User \"system:serviceaccount:kube-thermostat:kube-thermostat\" cannot patch resource \"pods/resize\" in API group \"\" in the namespace \"ns\""
    );
    let hpa = client.get("/apis/autoscaling/v2/horizontalpodautoscalers");
    assert_eq!(
        hpa.body["message"],
        "horizontalpodautoscalers.autoscaling is forbidden: User \"system:serviceaccount:kube-thermostat:kube-thermostat\" cannot list resource \"horizontalpodautoscalers\" in API group \"autoscaling\" at the cluster scope"
    );
    assert_eq!(client.get("/version").status, 200);
}

// ------------------------------------------------------------------ TLS

fn tls_config(ca_pem: &str, client_cert: Option<(String, String)>) -> ureq::tls::TlsConfig {
    let ca = ureq::tls::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let mut builder =
        ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]));
    if let Some((cert, key)) = client_cert {
        let cert = ureq::tls::Certificate::from_pem(cert.as_bytes()).unwrap();
        let key = ureq::tls::PrivateKey::from_pem(key.as_bytes()).unwrap();
        builder = builder.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&[cert], key)));
    }
    builder.build()
}

#[test]
fn tls_is_verified_against_the_rig_ca_and_refused_with_another() {
    let server = ApiServer::start(Options {
        tls: true,
        ..Options::default()
    })
    .unwrap();
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let client = Client::with_tls(&server, tls_config(&server.ca_pem().unwrap(), None));
    assert_eq!(client.get("/version").status, 200);

    let other = ApiServer::start(Options {
        tls: true,
        ..Options::default()
    })
    .unwrap();
    let wrong_ca = Client::with_tls(&server, tls_config(&other.ca_pem().unwrap(), None));
    assert!(wrong_ca.try_send("GET", "/version", None, None).is_err());
}

#[test]
fn client_certificates_authenticate_as_their_common_name() {
    let rules = vec![PolicyRule::new(&[""], &["nodes"], &["list"])];
    let server = ApiServer::start(Options {
        tls: true,
        client_ca_auth: true,
        token: None,
        rbac: Some(rules),
        ..Options::default()
    })
    .unwrap();
    let ca = server.ca_pem().unwrap();
    let mut client = Client::with_tls(
        &server,
        tls_config(&ca, Some(server.client_cert_pem("alice"))),
    );
    client.token = None;
    assert_eq!(client.get("/api/v1/nodes").status, 200);
    let denied = client.get("/api/v1/pods");
    assert!(
        denied.body["message"]
            .as_str()
            .unwrap()
            .contains("User \"alice\" cannot list")
    );
    let mut anonymous = Client::with_tls(&server, tls_config(&ca, None));
    anonymous.token = None;
    assert_eq!(anonymous.get("/api/v1/nodes").status, 401);
}

// ------------------------------------------------------------------ events, HPA, VPA

#[test]
fn events_are_created_and_validated() {
    let (server, client) = start(Options::default());
    server.put(json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "default"}}));
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"generateName": "n1-"},
        "regarding": {"kind": "Node", "name": "n1", "apiVersion": "v1"},
        "reason": "ThermostatTainted", "note": "cpu 93% > 80% for 3m", "type": "Normal",
        "action": "Taint", "reportingController": "kube-thermostat.io/taint-nodes",
        "reportingInstance": "kube-thermostat-abc", "eventTime": "2025-01-01T00:00:00.000000Z"
    });
    let answer = client.send(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        Some("application/json"),
        Some(&event),
    );
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert!(
        answer.body["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("n1-")
    );
    assert_eq!(server.events().len(), 1);
    assert_eq!(server.count("create", "events"), 1);

    // generateName is a DNS-1123 subdomain prefix with only a trailing '-' excused (apimachinery
    // maskTrailingDash): a trailing '.' is a 422 naming the field.
    let mut dotted = event.clone();
    dotted["metadata"] = json!({"generateName": "n1."});
    let answer = client.send(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        Some("application/json"),
        Some(&dotted),
    );
    assert_status(&answer, 422, "Invalid");
    assert!(
        answer
            .text
            .contains("metadata.generateName: Invalid value: \\\"n1.\\\""),
        "{}",
        answer.text
    );

    let mut incomplete = event.clone();
    incomplete.as_object_mut().unwrap().remove("reason");
    incomplete
        .as_object_mut()
        .unwrap()
        .remove("reportingController");
    let answer = client.send(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        Some("application/json"),
        Some(&incomplete),
    );
    assert_status(&answer, 422, "Invalid");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Event.events.k8s.io"),
        "{}",
        answer.text
    );

    // An Event about a Node must live in "default".
    server.put(pod("apps", "p", json!([burstable_container("c")])));
    let answer = client.send(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/apps/events",
        Some("application/json"),
        Some(&event),
    );
    assert_status(&answer, 422, "Invalid");

    let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "p.1"},
        "involvedObject": {"kind": "Pod", "namespace": "apps", "name": "p"}, "reason": "ThermostatResized", "message": "cpu 100m -> 150m", "type": "Normal"});
    let answer = client.send(
        "POST",
        "/api/v1/namespaces/apps/events",
        Some("application/json"),
        Some(&core),
    );
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(server.events().len(), 2);
    let again = client.send(
        "POST",
        "/api/v1/namespaces/apps/events",
        Some("application/json"),
        Some(&core),
    );
    assert_status(&again, 409, "AlreadyExists");
    let missing_ns = client.send(
        "POST",
        "/api/v1/namespaces/ghost/events",
        Some("application/json"),
        Some(&core),
    );
    assert_eq!(missing_ns.status, 404);
}

#[test]
fn hpa_lists_and_vpa_paths_depend_on_the_crd() {
    let (server, client) = start(Options {
        vpa_crd_installed: false,
        ..Options::default()
    });
    server.put(json!({"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
        "metadata": {"name": "web", "namespace": "apps"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}}}));
    let hpas = client.get("/apis/autoscaling/v2/horizontalpodautoscalers");
    assert_eq!(hpas.body["kind"], "HorizontalPodAutoscalerList");
    assert_eq!(hpas.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        client
            .get("/apis/autoscaling/v2/namespaces/other/horizontalpodautoscalers")
            .body["items"],
        json!([])
    );

    let vpa = client.get("/apis/autoscaling.k8s.io/v1/verticalpodautoscalers");
    assert_eq!(vpa.status, 404);
    assert_eq!(vpa.text, "404 page not found\n");
    assert!(vpa.content_type.starts_with("text/plain"));

    let (server, client) = start(Options::default());
    server.put(json!({"kind": "VerticalPodAutoscaler", "apiVersion": "autoscaling.k8s.io/v1",
        "metadata": {"name": "web", "namespace": "apps"}, "spec": {"updatePolicy": {"updateMode": "Auto"}}}));
    let vpas = client.get("/apis/autoscaling.k8s.io/v1/verticalpodautoscalers");
    assert_eq!(vpas.body["kind"], "VerticalPodAutoscalerList");
    assert_eq!(
        vpas.body["items"][0]["spec"]["updatePolicy"]["updateMode"],
        "Auto"
    );
}

#[test]
fn eviction_deletes_the_pod() {
    let (server, client) = start(Options::default());
    server.put(pod("ns", "p", json!([burstable_container("c")])));
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "ns"}});
    let answer = client.send(
        "POST",
        "/api/v1/namespaces/ns/pods/p/eviction",
        Some("application/json"),
        Some(&eviction),
    );
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body["status"], "Success");
    assert!(server.get("Pod", Some("ns"), "p").is_none());
    assert_eq!(server.count("create", "pods/eviction"), 1);
}

// ------------------------------------------------------------------ HTTP

fn raw_exchange(server: &ApiServer, request: &str) -> String {
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    socket.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection_and_honours_close() {
    let (server, _client) = start(Options {
        token: None,
        ..Options::default()
    });
    let out = raw_exchange(
        &server,
        "GET /version HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/nodes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    assert!(out.contains("NodeList"));
}

#[test]
fn chunked_request_bodies_are_read() {
    let (server, _client) = start(Options {
        token: None,
        ..Options::default()
    });
    server.put(node("n1", json!({}), json!([])));
    let body = r#"{"metadata":{"labels":{"a":"b"}}}"#;
    let request = format!(
        "PATCH /api/v1/nodes/n1 HTTP/1.1\r\nHost: x\r\nContent-Type: {MERGE_PATCH}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let out = raw_exchange(&server, &request);
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert_eq!(
        server.get("Node", None, "n1").unwrap()["metadata"]["labels"]["a"],
        "b"
    );
}

/// The real kube-apiserver refused the synthetic kube-proxy pods for this (a mount of a volume the pod does not
/// declare) while the stand-in stored them (`ValidateVolumeMounts`, `field.NotFound`).
#[test]
fn a_pod_mounting_a_volume_it_does_not_declare_is_422_not_found() {
    let (server, client) = start(Options::default());
    server.put(json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "default"}}));
    let pod = |volumes: Value| {
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "proxy"},
            "spec": {
                "containers": [{"name": "kube-proxy", "image": "k", "volumeMounts": [
                    {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
                ]}],
                "volumes": volumes
            }
        })
    };
    let refused = client.send(
        "POST",
        "/api/v1/namespaces/default/pods",
        Some("application/json"),
        Some(&pod(json!([]))),
    );
    assert_status(&refused, 422, "Invalid");
    assert_eq!(
        refused.body["message"],
        "Pod \"proxy\" is invalid: spec.containers[0].volumeMounts[0].name: Not found: \"kube-api-access\""
    );
    assert_eq!(
        refused.body["details"]["causes"][0]["reason"],
        "FieldValueNotFound"
    );
    let accepted = client.send(
        "POST",
        "/api/v1/namespaces/default/pods",
        Some("application/json"),
        Some(&pod(json!([{"name": "kube-api-access", "emptyDir": {}}]))),
    );
    assert_eq!(accepted.status, 201, "{}", accepted.text);
}
