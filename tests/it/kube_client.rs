//! The Kubernetes client against the API stand-in: auth, TLS, paging, each error kind, retries, deadlines,
//! patch content types, and kubeconfig variants end to end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube_thermostat::deadline::Deadline;
use kube_thermostat::kube::config::{Files, Secret, TlsSettings};
use kube_thermostat::kube::{
    ApiResource, Auth, Client, ClientOptions, ClusterEndpoint, ConfigOptions, ConfigSources,
    KubeError, ListParams, Patch, resolve,
};
use serde_json::{Value, json};
use thermostat_rig::apiserver::{ApiServer, Fault, FaultKind, Options, PolicyRule};

const TOKEN: &str = "test-token";

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(20))
}

fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"pool": "web"}}})
}

fn endpoint(server: &ApiServer, auth: Auth) -> ClusterEndpoint {
    ClusterEndpoint {
        server: server.url(),
        tls: TlsSettings {
            ca_pem: server.ca_pem().map(String::into_bytes),
            ..TlsSettings::default()
        },
        auth,
        proxy_url: None,
        origin: "test".to_owned(),
        notes: Vec::new(),
    }
}

fn client_with(server: &ApiServer, auth: Auth) -> Client {
    Client::new(endpoint(server, auth), ClientOptions::default()).unwrap()
}

fn client(server: &ApiServer) -> Client {
    client_with(server, Auth::Token(Secret::new(TOKEN)))
}

fn start(options: Options) -> ApiServer {
    ApiServer::start(options).unwrap()
}

fn get_node(client: &Client, name: &str) -> Result<Value, KubeError> {
    client.get(&ApiResource::NODES, None, name, deadline())
}

// ---- auth ----

#[test]
fn bearer_token_authenticates_and_requests_identify_the_client() {
    let server = start(Options::default());
    server.put(node("node-1"));
    let node = get_node(&client(&server), "node-1").unwrap();
    assert_eq!(node["metadata"]["name"], "node-1");
    let record = &server.requests()[0];
    assert_eq!(record.authorization.as_deref(), Some("Bearer test-token"));
    assert_eq!(
        record.user_agent.as_deref(),
        Some(concat!("kube-thermostat/", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn wrong_token_is_a_401_whose_message_never_shows_the_token() {
    let server = start(Options::default());
    server.put(node("node-1"));
    let error = get_node(
        &client_with(&server, Auth::Token(Secret::new("wrong-secret"))),
        "node-1",
    )
    .unwrap_err();
    assert!(error.is_unauthorized(), "{error}");
    let message = error.to_string();
    assert_eq!(
        message,
        format!(
            "get {}/api/v1/nodes/node-1: HTTP 401 Unauthorized: Unauthorized",
            server.url()
        )
    );
    assert!(!format!("{message} {error:?}").contains("wrong-secret"));
    // A static token cannot change: no second attempt.
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn rotated_token_file_is_read_again() {
    let server = start(Options::default());
    server.put(node("node-1"));
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, format!("{TOKEN}\n")).unwrap();
    let client = client_with(&server, Auth::TokenFile(token_path.clone()));
    get_node(&client, "node-1").unwrap();

    // The kubelet rotates the projected token: the server accepts only the new one.
    server.set_token("rotated-token");
    std::fs::write(&token_path, "rotated-token").unwrap();
    get_node(&client, "node-1").unwrap();
    let authorizations: Vec<Option<String>> = server
        .requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert_eq!(
        authorizations,
        [
            Some("Bearer test-token".to_owned()),
            Some("Bearer rotated-token".to_owned())
        ]
    );
}

#[test]
fn a_401_with_a_token_file_rereads_it_once_then_gives_up() {
    let server = start(Options::default());
    server.put(node("node-1"));
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "stale").unwrap();
    let error = get_node(&client_with(&server, Auth::TokenFile(token_path)), "node-1").unwrap_err();
    assert!(error.is_unauthorized());
    assert_eq!(server.requests().len(), 2);
}

// ---- TLS ----

#[test]
fn tls_with_the_right_ca_works() {
    let server = start(Options {
        tls: true,
        ..Options::default()
    });
    server.put(node("node-1"));
    assert!(server.url().starts_with("https://"));
    get_node(&client(&server), "node-1").unwrap();
}

#[test]
fn tls_with_a_wrong_ca_is_refused_without_any_insecure_fallback() {
    let server = start(Options {
        tls: true,
        ..Options::default()
    });
    let other = start(Options {
        tls: true,
        ..Options::default()
    });
    let mut endpoint = endpoint(&server, Auth::Token(Secret::new(TOKEN)));
    endpoint.tls.ca_pem = other.ca_pem().map(String::into_bytes);
    let client = Client::new(endpoint, ClientOptions::default()).unwrap();
    let error = get_node(&client, "node-1").unwrap_err();
    assert!(matches!(error, KubeError::Transport { .. }), "{error:?}");
    assert!(
        error.to_string().contains("TLS: invalid peer certificate"),
        "{error}"
    );
    assert_eq!(
        client.stats().retries,
        0,
        "a certificate failure is not retried"
    );
    assert!(
        server.requests().is_empty(),
        "no request may reach the server"
    );
    // The bundled web roots do not trust the stand-in's CA either.
    let mut no_ca = self::endpoint(&server, Auth::Token(Secret::new(TOKEN)));
    no_ca.tls.ca_pem = None;
    assert!(
        get_node(
            &Client::new(no_ca, ClientOptions::default()).unwrap(),
            "node-1"
        )
        .is_err()
    );
    assert!(server.requests().is_empty());
}

#[test]
fn client_certificate_authenticates_as_its_common_name() {
    let server = start(Options {
        tls: true,
        client_ca_auth: true,
        token: None,
        ..Options::default()
    });
    server.put(node("node-1"));
    let (cert, key) = server.client_cert_pem("thermostat-admin");
    let mut endpoint = endpoint(&server, Auth::None);
    endpoint.tls.client_cert_pem = Some(cert.into_bytes());
    endpoint.tls.client_key_pem = Some(kube_thermostat::kube::config::SecretBytes::new(
        key.into_bytes(),
    ));
    get_node(
        &Client::new(endpoint, ClientOptions::default()).unwrap(),
        "node-1",
    )
    .unwrap();
    assert_eq!(
        server.requests()[0].user.as_deref(),
        Some("thermostat-admin")
    );
}

// ---- LIST ----

#[test]
fn list_follows_continue_tokens_across_pages() {
    let server = start(Options::default());
    for index in 0..7 {
        server.put(node(&format!("node-{index}")));
    }
    let client = client(&server);
    let params = ListParams::default().limit(Some(3));
    let nodes: Vec<Value> = client
        .list_all(&ApiResource::NODES, None, &params, deadline())
        .unwrap();
    let mut names: Vec<&str> = nodes
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "node-0", "node-1", "node-2", "node-3", "node-4", "node-5", "node-6"
        ]
    );
    assert_eq!(server.count("list", "nodes"), 3);
    assert_eq!(client.stats().count("list", "nodes"), 3);
    let queries: Vec<String> = server.requests().into_iter().map(|r| r.query).collect();
    assert_eq!(queries[0], "limit=3");
    assert!(queries[1].starts_with("limit=3&continue="), "{queries:?}");
}

#[test]
fn typed_list_with_label_selector() {
    let server = start(Options::default());
    server.put(node("web-1"));
    let mut batch = node("batch-1");
    batch["metadata"]["labels"]["pool"] = json!("batch");
    server.put(batch);
    let params = ListParams::default().labels("pool=web");
    let nodes: Vec<k8s_openapi::api::core::v1::Node> = client(&server)
        .list_all(&ApiResource::NODES, None, &params, deadline())
        .unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].metadata.name.as_deref(), Some("web-1"));
}

#[test]
fn expired_continue_token_restarts_the_list_once() {
    let server = start(Options::default());
    for index in 0..5 {
        server.put(node(&format!("node-{index}")));
    }
    server.inject(Fault::on(
        "GET",
        "continue=",
        FaultKind::ExpireContinueTokens,
        1,
    ));
    let client = client(&server);
    let params = ListParams::default().limit(Some(2));
    let nodes: Vec<Value> = client
        .list_all(&ApiResource::NODES, None, &params, deadline())
        .unwrap();
    assert_eq!(nodes.len(), 5, "no node lost or duplicated by the restart");
    let statuses: Vec<u16> = server.requests().into_iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 410, 200, 200, 200]);
    assert_eq!(client.stats().list_restarts, 1);
}

#[test]
fn continue_tokens_that_keep_expiring_end_in_an_expired_error() {
    let server = start(Options::default());
    for index in 0..5 {
        server.put(node(&format!("node-{index}")));
    }
    server.inject(Fault::on(
        "GET",
        "continue=",
        FaultKind::ExpireContinueTokens,
        5,
    ));
    let params = ListParams::default().limit(Some(2));
    let error = client(&server)
        .list_all::<Value>(&ApiResource::NODES, None, &params, deadline())
        .unwrap_err();
    assert!(error.is_expired(), "{error}");
    assert_eq!(
        server.count("list", "nodes"),
        4,
        "first page, 410, first page again, 410"
    );
}

// ---- errors ----

#[test]
fn missing_object_is_not_found_with_the_servers_message() {
    let server = start(Options::default());
    let error = get_node(&client(&server), "node-9").unwrap_err();
    assert!(error.is_not_found());
    assert!(
        error
            .to_string()
            .ends_with("HTTP 404 NotFound: nodes \"node-9\" not found"),
        "{error}"
    );
}

#[test]
fn stale_resource_version_is_a_conflict_left_to_the_caller() {
    let server = start(Options::default());
    server.put(node("node-1"));
    let read = get_node(&client(&server), "node-1").unwrap();
    // Another writer changes the node after our read.
    server.put(node("node-1"));
    let stale = read["metadata"]["resourceVersion"].clone();
    server.reset_requests();
    let patch = Patch::Merge(json!({"metadata": {"resourceVersion": stale, "labels": {"a": "b"}}}));
    let error = client(&server)
        .patch::<Value>(
            &ApiResource::NODES,
            None,
            "node-1",
            None,
            &patch,
            deadline(),
        )
        .unwrap_err();
    assert!(error.is_conflict(), "{error}");
    assert_eq!(server.count("patch", "nodes"), 1, "409 is never retried");
}

#[test]
fn failed_json_patch_test_is_invalid_left_to_the_caller() {
    let server = start(Options::default());
    server.put(node("node-1"));
    let patch = Patch::Json(json!([
        {"op": "test", "path": "/metadata/labels/pool", "value": "batch"},
        {"op": "replace", "path": "/metadata/labels/pool", "value": "web2"}
    ]));
    let error = client(&server)
        .patch::<Value>(
            &ApiResource::NODES,
            None,
            "node-1",
            None,
            &patch,
            deadline(),
        )
        .unwrap_err();
    assert!(error.is_invalid(), "{error}");
    assert_eq!(server.count("patch", "nodes"), 1, "422 is never retried");
    assert_eq!(
        server.get("Node", None, "node-1").unwrap()["metadata"]["labels"]["pool"],
        "web"
    );
}

#[test]
fn forbidden_names_the_verb_and_resource() {
    let server = start(Options {
        rbac: Some(vec![PolicyRule::new(&[""], &["nodes"], &["get", "list"])]),
        ..Options::default()
    });
    server.put(node("node-1"));
    let client = client(&server);
    get_node(&client, "node-1").unwrap();
    let error = client
        .patch::<Value>(
            &ApiResource::NODES,
            None,
            "node-1",
            None,
            &Patch::Merge(json!({})),
            deadline(),
        )
        .unwrap_err();
    assert!(error.is_forbidden());
    let message = error.to_string();
    assert!(message.starts_with(&format!(
        "patch {}/api/v1/nodes/node-1: HTTP 403 Forbidden",
        server.url()
    )));
    assert!(
        message.contains("cannot patch resource \"nodes\""),
        "{message}"
    );
}

// ---- retries and deadlines ----

#[test]
fn too_many_requests_waits_for_retry_after_then_succeeds() {
    let server = start(Options::default());
    server.put(node("node-1"));
    server.inject(Fault::any(
        FaultKind::Status {
            code: 429,
            retry_after: Some(1),
        },
        1,
    ));
    let client = client(&server);
    let started = Instant::now();
    get_node(&client, "node-1").unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(server.count("get", "nodes"), 2);
    assert_eq!(client.stats().retries, 1);
}

#[test]
fn too_many_requests_beyond_the_deadline_returns_the_429() {
    let server = start(Options::default());
    server.put(node("node-1"));
    server.inject(Fault::any(
        FaultKind::Status {
            code: 429,
            retry_after: Some(5),
        },
        1,
    ));
    let started = Instant::now();
    let error = client(&server)
        .get::<Value>(
            &ApiResource::NODES,
            None,
            "node-1",
            Deadline::after(Duration::from_secs(2)),
        )
        .unwrap_err();
    assert!(error.is_too_many_requests(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn burst_of_503_is_retried_then_succeeds() {
    let server = start(Options::default());
    server.put(node("node-1"));
    server.inject(Fault::any(
        FaultKind::Status {
            code: 503,
            retry_after: None,
        },
        3,
    ));
    let client = client(&server);
    get_node(&client, "node-1").unwrap();
    assert_eq!(server.count("get", "nodes"), 4);
    assert_eq!(client.stats().retries, 3);
}

#[test]
fn endless_504_gives_up_after_bounded_attempts() {
    let server = start(Options::default());
    server.put(node("node-1"));
    server.inject(Fault::any(
        FaultKind::Status {
            code: 504,
            retry_after: None,
        },
        100,
    ));
    let error = get_node(&client(&server), "node-1").unwrap_err();
    assert_eq!(error.status().map(|status| status.code), Some(504));
    assert_eq!(
        server.count("get", "nodes"),
        ClientOptions::default().max_attempts as usize
    );
}

#[test]
fn plain_500_is_not_retried() {
    let server = start(Options::default());
    server.put(node("node-1"));
    server.inject(Fault::any(
        FaultKind::Status {
            code: 500,
            retry_after: None,
        },
        1,
    ));
    let error = get_node(&client(&server), "node-1").unwrap_err();
    assert_eq!(error.status().map(|status| status.code), Some(500));
    assert_eq!(server.count("get", "nodes"), 1);
}

#[test]
fn dropped_connection_is_retried() {
    let server = start(Options::default());
    server.put(node("node-1"));
    server.inject(Fault::any(FaultKind::DropConnection, 1));
    let client = client(&server);
    get_node(&client, "node-1").unwrap();
    assert_eq!(server.count("get", "nodes"), 2);
    assert_eq!(client.stats().retries, 1);
}

#[test]
fn hanging_server_cannot_hold_the_client_past_its_deadline() {
    let server = start(Options::default());
    server.put(node("node-1"));
    server.inject(Fault::any(FaultKind::Latency(Duration::from_secs(5)), 10));
    let started = Instant::now();
    let error = client(&server)
        .get::<Value>(
            &ApiResource::NODES,
            None,
            "node-1",
            Deadline::after(Duration::from_millis(500)),
        )
        .unwrap_err();
    assert!(error.is_deadline_exceeded(), "{error}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn refused_connection_is_retried_and_then_reported() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = ClusterEndpoint {
        server: format!("http://127.0.0.1:{port}"),
        tls: TlsSettings::default(),
        auth: Auth::None,
        proxy_url: None,
        origin: "test".to_owned(),
        notes: Vec::new(),
    };
    let client = Client::new(endpoint, ClientOptions::default()).unwrap();
    let error = get_node(&client, "node-1").unwrap_err();
    assert!(matches!(error, KubeError::Transport { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!(
        "get http://127.0.0.1:{port}/api/v1/nodes/node-1: "
    )));
    assert_eq!(
        client.stats().retries,
        u64::from(ClientOptions::default().max_attempts - 1)
    );
}

// ---- writes ----

#[test]
fn patch_kinds_reach_the_server_with_their_content_types() {
    let server = start(Options::default());
    server.put(node("node-1"));
    let client = client(&server);
    let patches = [
        Patch::Json(json!([{"op": "add", "path": "/metadata/labels/json", "value": "yes"}])),
        Patch::Merge(json!({"metadata": {"labels": {"merge": "yes"}}})),
        Patch::Strategic(json!({"metadata": {"labels": {"strategic": "yes"}}})),
    ];
    for patch in &patches {
        let _: Value = client
            .patch(&ApiResource::NODES, None, "node-1", None, patch, deadline())
            .unwrap();
    }
    let content_types: Vec<Option<String>> = server
        .requests()
        .into_iter()
        .map(|r| r.content_type)
        .collect();
    assert_eq!(
        content_types,
        patches
            .iter()
            .map(|p| Some(p.content_type().to_owned()))
            .collect::<Vec<_>>()
    );
    let labels = &server.get("Node", None, "node-1").unwrap()["metadata"]["labels"];
    assert_eq!(
        (&labels["json"], &labels["merge"], &labels["strategic"]),
        (&json!("yes"), &json!("yes"), &json!("yes"))
    );
    let stats = client.stats();
    assert_eq!(stats.count("patch", "nodes"), 3);
    assert!(stats.bytes_sent > 0 && stats.bytes_received > 0);
}

#[test]
fn event_is_created_with_post() {
    let server = start(Options::default());
    server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}));
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "node-1.18d75b842b4ecd15", "namespace": "default"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "kube-thermostat.io/taint-nodes", "reportingInstance": "hook",
        "action": "Taint", "reason": "ThermostatTainted", "note": "cpu 93% > 80%", "type": "Normal",
        "regarding": {"kind": "Node", "name": "node-1", "apiVersion": "v1"}
    });
    let created: Value = client(&server)
        .create(&ApiResource::EVENTS, Some("default"), &event, deadline())
        .unwrap();
    assert_eq!(created["reason"], "ThermostatTainted");
    assert_eq!(server.events().len(), 1);
    assert_eq!(server.count("create", "events"), 1);

    // events.k8s.io/v1 checks generateName as a DNS-1123 subdomain prefix: a trailing '.' is a 422.
    let mut generated = event.clone();
    generated["metadata"] = json!({"generateName": "node-1.", "namespace": "default"});
    let error = client(&server)
        .create::<Value>(
            &ApiResource::EVENTS,
            Some("default"),
            &generated,
            deadline(),
        )
        .unwrap_err();
    assert!(error.is_invalid(), "{error}");
    assert!(
        error
            .to_string()
            .contains("metadata.generateName: Invalid value: \"node-1.\""),
        "{error}"
    );
}

#[test]
fn server_version_is_read() {
    let server = start(Options {
        server_minor: 33,
        ..Options::default()
    });
    let version = client(&server).version(deadline()).unwrap();
    assert_eq!((version.major, version.minor), (1, 33));
}

// ---- kubeconfig end to end ----

fn kubeconfig_sources(path: &Path) -> ConfigSources {
    ConfigSources {
        kubeconfig_env: Some(path.display().to_string()),
        home: None,
        service_host: None,
        service_port: None,
        service_account_dir: PathBuf::from("/nonexistent"),
        files: Files::Disk,
    }
}

/// Writes a kubeconfig for `server` with the given `user:` body, resolves it from disk, and builds a client.
fn kubeconfig_client(server: &ApiServer, dir: &Path, user_yaml: &str) -> Client {
    use base64::Engine;
    let ca = server.ca_pem().unwrap_or_default();
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca);
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: rig\nclusters:\n- name: rig\n  cluster:\n    server: {}\n    certificate-authority-data: {ca_data}\ncontexts:\n- name: rig\n  context: {{cluster: rig, user: me}}\nusers:\n- name: me\n  user:\n{user_yaml}\n",
        server.url()
    );
    let path = dir.join("config");
    std::fs::write(&path, text).unwrap();
    let endpoint = resolve(&ConfigOptions::default(), &kubeconfig_sources(&path)).unwrap();
    Client::new(endpoint, ClientOptions::default()).unwrap()
}

fn tls_server() -> ApiServer {
    start(Options {
        tls: true,
        ..Options::default()
    })
}

#[test]
fn kubeconfig_with_token() {
    let server = tls_server();
    server.put(node("node-1"));
    let dir = tempfile::tempdir().unwrap();
    let node = get_node(
        &kubeconfig_client(&server, dir.path(), "    token: test-token"),
        "node-1",
    )
    .unwrap();
    assert_eq!(node["metadata"]["name"], "node-1");
    assert_eq!(
        server.requests()[0].authorization.as_deref(),
        Some("Bearer test-token"),
        "the kubeconfig's token is what the server sees, over TLS verified with the kubeconfig's CA"
    );
}

#[test]
fn kubeconfig_with_token_file_relative_to_it() {
    let server = tls_server();
    server.put(node("node-1"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let node = get_node(
        &kubeconfig_client(&server, dir.path(), "    tokenFile: token"),
        "node-1",
    )
    .unwrap();
    assert_eq!(node["metadata"]["name"], "node-1");
    assert_eq!(
        server.requests()[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str()),
        "the token file is found beside the kubeconfig, not in the working directory"
    );
}

#[test]
fn kubeconfig_with_client_certificate_data() {
    use base64::Engine;
    let server = start(Options {
        tls: true,
        client_ca_auth: true,
        token: None,
        ..Options::default()
    });
    server.put(node("node-1"));
    let (cert, key) = server.client_cert_pem("kubeconfig-user");
    let encode = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let dir = tempfile::tempdir().unwrap();
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}",
        encode(&cert),
        encode(&key)
    );
    get_node(&kubeconfig_client(&server, dir.path(), &user), "node-1").unwrap();
    assert_eq!(
        server.requests()[0].user.as_deref(),
        Some("kubeconfig-user")
    );
}

fn write_plugin(dir: &Path, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("credential-plugin");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn kubeconfig_exec_plugin_token_is_cached_between_requests() {
    let server = tls_server();
    server.put(node("node-1"));
    let dir = tempfile::tempdir().unwrap();
    write_plugin(
        dir.path(),
        "#!/bin/sh\necho run >> \"$RUNS_FILE\"\nprintf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$RUNS_FILE.info\"\n\
         echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
         \"status\":{\"token\":\"test-token\",\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}'\n",
    );
    let runs = dir.path().join("runs");
    let user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./credential-plugin\n      args: null\n      env:\n      - name: RUNS_FILE\n        value: {}\n      provideClusterInfo: true",
        runs.display()
    );
    let client = kubeconfig_client(&server, dir.path(), &user);
    get_node(&client, "node-1").unwrap();
    get_node(&client, "node-1").unwrap();
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 1);
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("runs.info")).unwrap())
            .unwrap();
    assert_eq!(info["kind"], "ExecCredential");
    assert_eq!(info["spec"]["interactive"], false);
    assert_eq!(info["spec"]["cluster"]["server"], json!(server.url()));
}

#[test]
fn kubeconfig_exec_plugin_failure_shows_its_stderr() {
    let server = tls_server();
    let dir = tempfile::tempdir().unwrap();
    write_plugin(
        dir.path(),
        "#!/bin/sh\necho 'login expired: run sso login' >&2\nexit 3\n",
    );
    let user = "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: ./credential-plugin";
    let error = get_node(&kubeconfig_client(&server, dir.path(), user), "node-1").unwrap_err();
    assert!(matches!(error, KubeError::Credentials { .. }));
    let message = error.to_string();
    assert!(
        message.contains("login expired: run sso login"),
        "{message}"
    );
    assert!(message.contains("user \"me\""), "{message}");
    assert!(server.requests().is_empty());
}

#[test]
fn kube_api_url_talks_to_a_proxy_without_auth() {
    let server = start(Options {
        token: None,
        ..Options::default()
    });
    server.put(node("node-1"));
    let options = ConfigOptions {
        kube_api_url: Some(server.url()),
        ..ConfigOptions::default()
    };
    let sources = kubeconfig_sources(Path::new("/nonexistent/config"));
    let client = Client::new(
        resolve(&options, &sources).unwrap(),
        ClientOptions::default(),
    )
    .unwrap();
    get_node(&client, "node-1").unwrap();
    assert_eq!(server.requests()[0].authorization, None);
}

#[test]
fn kubeconfig_exec_plugin_client_certificate_is_used_for_mutual_tls() {
    let server = start(Options {
        tls: true,
        client_ca_auth: true,
        token: None,
        ..Options::default()
    });
    server.put(node("node-1"));
    let (cert, key) = server.client_cert_pem("exec-cert-user");
    let dir = tempfile::tempdir().unwrap();
    let credential = json!({
        "apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
        "status": {"clientCertificateData": cert, "clientKeyData": key}
    });
    std::fs::write(dir.path().join("credential.json"), credential.to_string()).unwrap();
    write_plugin(
        dir.path(),
        "#!/bin/sh\ncat \"$(dirname \"$0\")/credential.json\"\n",
    );
    let user = "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: ./credential-plugin";
    get_node(&kubeconfig_client(&server, dir.path(), user), "node-1").unwrap();
    assert_eq!(server.requests()[0].user.as_deref(), Some("exec-cert-user"));
}

#[test]
fn hung_exec_plugin_is_stopped_at_the_deadline() {
    let server = tls_server();
    let dir = tempfile::tempdir().unwrap();
    write_plugin(dir.path(), "#!/bin/sh\nexec sleep 30\n");
    let user = "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./credential-plugin";
    let client = kubeconfig_client(&server, dir.path(), user);
    let started = Instant::now();
    let error = client
        .get::<Value>(
            &ApiResource::NODES,
            None,
            "node-1",
            Deadline::after(Duration::from_millis(500)),
        )
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("did not finish before the tick's deadline"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
