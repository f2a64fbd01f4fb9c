//! Security properties of the real binary: secrets never reach logs or errors, TLS is verified unless asked
//! otherwise, no shelling out, and the shipped ClusterRole is enough for every request the hook makes.

use crate::support;

use std::path::Path;

use serde::Deserialize as _;

use crate::support::{
    Cluster, ContainerLoad, FaultProxy, Options, PodHistory, Profile, Prometheus,
};
use serde_json::{Value, json};
use thermostat_rig::apiserver::PolicyRule;
use thermostat_rig::prometheus::Fault;

const KUBE_TOKEN: &str = "kube-tok-3f9a1c2e7b";
const PROMETHEUS_PASSWORD: &str = "prom-pw-8d7c6b5a4e";
const PROMETHEUS_TOKEN: &str = "prom-bearer-1a2b3c4d5e";
const HEADER_SECRET: &str = "hdr-secret-0f1e2d3c4b";

/// Every secret and the encodings that would leak it (basic auth is base64 of `user:password`).
fn secrets() -> Vec<String> {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("thermostat:{PROMETHEUS_PASSWORD}"));
    vec![
        KUBE_TOKEN.into(),
        PROMETHEUS_PASSWORD.into(),
        PROMETHEUS_TOKEN.into(),
        HEADER_SECRET.into(),
        basic,
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in secrets() {
        assert!(
            !text.contains(&secret),
            "{what}: secret {secret:?} leaked in:\n{text}"
        );
    }
}

fn kubeconfig(cluster: &Cluster, name: &str, server: Value, token: &str) -> String {
    let path = cluster.dir.path().join(name);
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": server}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path.display().to_string()
}

fn hot_world(cluster: &Cluster) {
    for node in ["hot-1", "cool-1", "cool-2", "cool-3"] {
        cluster.add_node(node, json!({}));
    }
    cluster.node_load("hot-1", Profile::Constant(0.95));
    for node in ["cool-1", "cool-2", "cool-3"] {
        cluster.node_load(node, Profile::Constant(0.2));
    }
}

/// Runs both controllers, as a hook and by hand, at debug level in both log formats, and checks all output.
fn run_everything_and_check(cluster: &Cluster, what: &str, env: &[(&str, &str)]) -> Vec<i32> {
    let mut codes = Vec::new();
    for log_type in ["text", "json"] {
        let mut all = env.to_vec();
        all.push(("LOG_LEVEL", "debug"));
        all.push(("LOG_TYPE", log_type));
        for binding in ["taint-nodes", "resize-pods"] {
            let output = cluster.tick(binding, &all);
            assert_no_secret(&format!("{what}, {binding} tick, stderr"), &output.stderr);
            assert_no_secret(&format!("{what}, {binding} tick, stdout"), &output.stdout);
            assert_no_secret(
                &format!("{what}, {binding} tick, metrics"),
                &serde_json::to_string(&output.metrics).unwrap(),
            );
            codes.push(output.code);
        }
        let output = cluster.run_cli(&["--dry-run", "--output", "json"], &all);
        assert_no_secret(&format!("{what}, run, stderr"), &output.stderr);
        assert_no_secret(&format!("{what}, run, stdout"), &output.stdout);
        codes.push(output.code);
    }
    codes
}

fn secret_env(password_file: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PROMETHEUS_USERNAME", "thermostat".to_owned()),
        ("PROMETHEUS_PASSWORD_FILE", password_file.to_owned()),
        (
            "PROMETHEUS_HEADERS",
            format!("X-Api-Key: {HEADER_SECRET},X-Scope-OrgID: team-a"),
        ),
    ]
}

#[test]
fn secrets_never_appear_in_logs_errors_or_metrics_whatever_fails() {
    let cluster = support::cluster_with(Options {
        token: Some(KUBE_TOKEN.into()),
        ..Options::default()
    });
    hot_world(&cluster);
    let password_file = cluster.dir.path().join("prom-password");
    std::fs::write(&password_file, PROMETHEUS_PASSWORD).unwrap();
    let password_file = password_file.display().to_string();
    let own = secret_env(&password_file);
    let env: Vec<(&str, &str)> = own.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let good_kubeconfig = kubeconfig(
        &cluster,
        "good",
        json!({"server": cluster.api.url()}),
        KUBE_TOKEN,
    );

    // Healthy: the secrets are used, never shown.
    let mut healthy = env.clone();
    healthy.push(("KUBECONFIG", &good_kubeconfig));
    let codes = run_everything_and_check(&cluster, "healthy", &healthy);
    assert!(codes.iter().all(|c| *c == 0), "{codes:?}");
    assert!(!cluster.api.requests().is_empty(), "the API was asked");
    assert!(
        cluster
            .api
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {KUBE_TOKEN}"))),
        "the token was sent"
    );

    // 401: the API server no longer accepts the token.
    cluster.api.set_token("some-other-token");
    let codes = run_everything_and_check(&cluster, "401", &healthy);
    assert!(codes.contains(&1), "the failure was hit: {codes:?}");
    cluster.api.set_token(KUBE_TOKEN);

    // Prometheus answering 401 / 403 to our credentials.
    let proxied = cluster_with_proxy(&cluster);
    for status in [401, 403] {
        proxied.1.fail_all(Fault::Status(status));
        let mut env = healthy.clone();
        env.push(("PROMETHEUS_URL", &proxied.0));
        let codes = run_everything_and_check(&cluster, &format!("Prometheus {status}"), &env);
        assert!(codes.contains(&1), "the failure was hit: {codes:?}");
        let sent = proxied.1.requests();
        assert!(
            sent.iter()
                .any(|r| r.header("X-Api-Key") == Some(HEADER_SECRET)),
            "the secret header was sent"
        );
        proxied.1.clear_requests();
    }

    // A TLS failure: an https URL to a plain-HTTP server.
    let tls_kubeconfig = kubeconfig(
        &cluster,
        "tls",
        json!({"server": cluster.api.url().replace("http://", "https://")}),
        KUBE_TOKEN,
    );
    let mut env_tls = env.clone();
    env_tls.push(("KUBECONFIG", &tls_kubeconfig));
    let codes = run_everything_and_check(&cluster, "bad TLS", &env_tls);
    assert!(codes.contains(&1), "the failure was hit: {codes:?}");
}

/// A fault proxy in front of the scenario's Prometheus; the URL is returned for the env.
fn cluster_with_proxy(cluster: &Cluster) -> (String, FaultProxy) {
    let proxy = FaultProxy::start(&cluster.prometheus).unwrap();
    (proxy.url(), proxy)
}

#[test]
fn forbidden_answers_quote_the_server_but_never_the_token() {
    let cluster = support::cluster_with(Options {
        token: Some(KUBE_TOKEN.into()),
        rbac: Some(vec![PolicyRule::new(&[""], &["nodes"], &["get", "list"])]),
        ..Options::default()
    });
    hot_world(&cluster);
    let config = kubeconfig(
        &cluster,
        "k",
        json!({"server": cluster.api.url()}),
        KUBE_TOKEN,
    );
    let output = cluster.tick(
        "taint-nodes",
        &[("KUBECONFIG", &config), ("LOG_LEVEL", "debug")],
    );
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("cannot patch resource \"nodes\""),
        "{}",
        output.stderr
    );
    assert_no_secret("403", &output.stderr);
}

#[test]
fn api_server_tls_is_verified_by_default() {
    let cluster = support::cluster_with(Options {
        tls: true,
        token: Some(KUBE_TOKEN.into()),
        ..Options::default()
    });
    hot_world(&cluster);
    // No certificate-authority: only the system roots, which did not sign the stand-in's certificate.
    let config = kubeconfig(
        &cluster,
        "no-ca",
        json!({"server": cluster.api.url()}),
        KUBE_TOKEN,
    );
    let output = cluster.tick("taint-nodes", &[("KUBECONFIG", &config)]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(output.stderr.contains("certificate"), "{}", output.stderr);
    assert!(cluster.api.requests().is_empty(), "nothing sent in clear");
    assert_no_secret("no CA", &output.stderr);
}

#[test]
fn prometheus_tls_is_verified_by_default_and_skipped_only_when_asked() {
    let cluster = support::cluster();
    hot_world(&cluster);
    let tls = Prometheus::builder().tls().start().unwrap();
    let url = tls.url();
    let refused = cluster.tick("taint-nodes", &[("PROMETHEUS_URL", &url)]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("certificate"), "{}", refused.stderr);
    assert_eq!(cluster.api.count_writes(), 0);

    let ca = tls.tls().unwrap().ca_file.display().to_string();
    let trusted = cluster.tick(
        "taint-nodes",
        &[("PROMETHEUS_URL", &url), ("PROMETHEUS_CA_FILE", &ca)],
    );
    // That Prometheus holds no history: the CA is accepted and the query answers (0 series is its own error).
    assert!(
        !trusted.stderr.contains("certificate"),
        "{}",
        trusted.stderr
    );
}

/// `std::process::Command` runs kubeconfig exec credential plugins (what kubectl does) and nothing else; test
/// modules may run tools such as promtool.
#[test]
fn no_shelling_out_but_kubeconfig_exec_plugins() {
    let mut offenders = Vec::new();
    visit(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut |path, text| {
            let production = text.split("#[cfg(test)]").next().unwrap_or("");
            let relative = path
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap()
                .display()
                .to_string();
            // `Command::new` alone is also clap's: it counts where the file reaches std::process.
            let spawns = production.contains("std::process");
            for needle in [
                "Command::new",
                "process::Command",
                "libc::exec",
                "os::unix::process",
            ] {
                let found = production.contains(needle) && (needle != "Command::new" || spawns);
                if found && relative != "src/kube/credentials.rs" {
                    offenders.push(format!("{relative}: {needle}"));
                }
            }
        },
    );
    assert!(offenders.is_empty(), "{offenders:#?}");
}

fn visit(dir: &Path, f: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, f);
        } else if path.extension().is_some_and(|e| e == "rs") {
            f(&path, &std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The shipped ClusterRole (config/base/rbac.yaml) is enough for every request both controllers make, as a
/// hook and by hand: not one 403. That it grants nothing more is tests/it/manifests.rs' check.
#[test]
fn shipped_cluster_role_is_enough_for_both_controllers() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/base/rbac.yaml"
    ));
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("the shipped RBAC {}: {error}", path.display()));
    let role = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde_yaml_ng::Value::deserialize(doc).unwrap())
        .map(|doc| serde_json::to_value(doc).unwrap())
        .find(|doc| doc["kind"] == "ClusterRole")
        .expect("a ClusterRole in rbac.yaml");
    let rules = PolicyRule::from_cluster_role(&role).unwrap();
    let cluster = support::cluster_with(Options {
        rbac: Some(rules),
        ..Options::default()
    });
    hot_world(&cluster);
    let resources = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
    cluster.api.put(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"kube-thermostat.io/resize": "true"}},
        "spec": {"nodeName": "cool-1", "containers": [{"name": "app", "image": "app:1", "resources": resources}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
            "image": "app:1", "imageID": "sha256:1", "resources": resources}]}
    }));
    cluster.push(
        PodHistory::new(
            "default",
            "web-1",
            "cool-1",
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.49),
                Profile::Constant(1e8),
            )],
        )
        .series(&cluster.timeline),
    );
    cluster.tick("taint-nodes", &[]).assert_success();
    cluster.tick("resize-pods", &[]).assert_success();
    cluster.run_cli(&["--dry-run"], &[]).assert_success();
    cluster
        .run_cli(&["taint-nodes", "--remove-all"], &[])
        .assert_success();
    let forbidden: Vec<String> = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.status == 403)
        .map(|r| format!("{} {}", r.verb, r.resource))
        .collect();
    assert!(forbidden.is_empty(), "{forbidden:?}");
    assert!(cluster.api.count("patch", "pods/resize") >= 1);
}
