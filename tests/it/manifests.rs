#![allow(clippy::expect_used)] // test helpers outside #[test] fns; a panic is the failure report
//! What ships beside the binary, checked with the tools a cluster operator would use, offline:
//! the kustomize layout under `config/` renders (`kubectl kustomize`) and validates against the Kubernetes 1.33
//! schema (`kubernetes-validate --strict`); the ClusterRole grants exactly the requests the code makes; the
//! Deployment, cleanup Job and admission policies agree with each other and with the settings; the alerts and the
//! dashboard use only metrics from the catalogue (`config/monitoring/METRICS.md`) and pass `promtool check rules`;
//! the Dockerfile passes hadolint and builds on a pinned shell-operator release.
//!
//! The tools come from `make deps` (PyPI ones in the venv `TOOLS_VENV`, default `~/.cache/kube-thermostat/venv`);
//! a missing tool fails the test with that hint rather than skipping it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

/// The Kubernetes minor we support at the least: the resize subresource is beta and on by default from 1.33.
const KUBERNETES_VERSION: &str = "1.33.0";
const CATALOGUE: &str = "config/monitoring/METRICS.md";
/// Labels Prometheus (prometheus-operator's ServiceMonitor) puts on every scraped series, and `hook`, which
/// shell-operator adds to every hook metric.
const TARGET_LABELS: [&str; 7] = [
    "namespace",
    "pod",
    "job",
    "instance",
    "service",
    "endpoint",
    "container",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from the `make deps` venv, else from PATH.
fn tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("kube-thermostat/venv")
        });
    let in_venv = venv.join("bin").join(name);
    if in_venv.is_file() {
        return in_venv;
    }
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "`{name}` not found in {} nor on PATH: run `make deps`",
            venv.display()
        )
    })
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn parse_yaml_stream(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).expect("YAML document"))
        .filter(|document| !document.is_null())
        .collect()
}

/// `kubectl kustomize config/<dir>`: the objects `kubectl apply -k` would send.
fn render(dir: &str) -> Vec<Value> {
    let output = run(Command::new(tool("kubectl"))
        .arg("kustomize")
        .arg(repo().join(dir)));
    parse_yaml_stream(&String::from_utf8(output.stdout).unwrap())
}

fn kind_of(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| kind_of(object) == kind && object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among the rendered objects"))
}

fn find_kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let mut found = objects.iter().filter(|object| kind_of(object) == kind);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no {kind} among the rendered objects"));
    assert!(found.next().is_none(), "more than one {kind}");
    first
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Objects of the Kubernetes API itself; custom resources (prometheus-operator's) have no schema offline.
fn is_builtin(object: &Value) -> bool {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    !api_version.contains(".coreos.com/")
}

fn validate_against_kubernetes_schema(dir: &str, objects: &[Value]) {
    let builtin: Vec<&Value> = objects.iter().filter(|object| is_builtin(object)).collect();
    assert!(!builtin.is_empty(), "{dir}: no Kubernetes objects rendered");
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch
        .path()
        .join(format!("{}.yaml", dir.replace('/', "-")));
    let stream: String = builtin
        .iter()
        .map(|object| format!("---\n{}", serde_yaml_ng::to_string(object).unwrap()))
        .collect();
    std::fs::write(&file, stream).unwrap();
    run(Command::new(tool("kubernetes-validate"))
        .args([
            "--strict",
            "--quiet",
            "--kubernetes-version",
            KUBERNETES_VERSION,
        ])
        .arg(&file));
}

/// The settings file the base turns into the settings ConfigMap.
fn settings_env() -> BTreeMap<String, String> {
    std::fs::read_to_string(repo().join("config/base/settings.env"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("settings.env line without `=`: {line}"));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

// --- Rendering and schema ------------------------------------------------------------------------------------

#[test]
fn base_install_renders_and_validates_against_the_kubernetes_schema() {
    let objects = render("config");
    validate_against_kubernetes_schema("config", &objects);
    let kinds: BTreeSet<&str> = objects.iter().map(kind_of).collect();
    let wanted = [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
    ];
    assert_eq!(
        kinds,
        wanted.into_iter().collect(),
        "the base installs exactly these kinds"
    );
    assert!(
        objects.iter().all(is_builtin),
        "the base must apply on clusters without prometheus-operator's CRDs"
    );
}

#[test]
fn cleanup_hardening_and_monitoring_render_and_validate() {
    for dir in ["config/cleanup", "config/hardening", "config/monitoring"] {
        let objects = render(dir);
        validate_against_kubernetes_schema(dir, &objects);
    }
}

#[test]
fn schema_validation_catches_a_misspelled_field() {
    // Guards the guard: --strict must reject what a typo would silently drop in a cluster.
    let mut objects = render("config");
    let deployment = objects
        .iter_mut()
        .find(|object| kind_of(object) == "Deployment")
        .unwrap();
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] =
        true.into();
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("typo.yaml");
    std::fs::write(&file, serde_yaml_ng::to_string(deployment).unwrap()).unwrap();
    let output = Command::new(tool("kubernetes-validate"))
        .args([
            "--strict",
            "--quiet",
            "--kubernetes-version",
            KUBERNETES_VERSION,
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "kubernetes-validate accepted an unknown field"
    );
}

// --- RBAC ----------------------------------------------------------------------------------------------------

/// Every request kube-thermostat makes, shell-operator's watches for its snapshots included, as (API group,
/// resource, verb). A request missing here fails in the cluster; one extra here is privilege nobody uses.
fn requests_the_code_makes() -> BTreeSet<(String, String, String)> {
    let grants: [(&str, &str, &[&str]); 9] = [
        ("", "nodes", &["get", "list", "watch", "patch"]),
        ("", "pods", &["get", "list", "watch", "patch"]),
        ("", "pods/resize", &["patch"]),
        ("", "namespaces", &["get", "list", "watch"]),
        // One LIST each per resize tick (no binding watches them).
        ("", "limitranges", &["list"]),
        ("", "resourcequotas", &["list"]),
        ("events.k8s.io", "events", &["create"]),
        (
            "autoscaling",
            "horizontalpodautoscalers",
            &["get", "list", "watch"],
        ),
        (
            "autoscaling.k8s.io",
            "verticalpodautoscalers",
            &["get", "list", "watch"],
        ),
    ];
    grants
        .iter()
        .flat_map(|(group, resource, verbs)| {
            verbs
                .iter()
                .map(|verb| (group.to_string(), resource.to_string(), verb.to_string()))
        })
        .collect()
}

/// The ClusterRole's rules, expanded to (API group, resource, verb); wildcards and resourceNames are refused.
fn grants_of(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().expect("ClusterRole rules") {
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "unexpected rule {rule}"
        );
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    assert!(
                        ![&group, &resource, &verb]
                            .iter()
                            .any(|word| word.contains('*')),
                        "wildcard in ClusterRole rule {rule}"
                    );
                    grants.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    grants
}

#[test]
fn cluster_role_grants_exactly_the_requests_the_code_makes() {
    let objects = render("config");
    let granted = grants_of(find_kind(&objects, "ClusterRole"));
    let needed = requests_the_code_makes();
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "ClusterRole: missing {missing:?}, extra {extra:?}"
    );
    // The rendered role lives in config/base/rbac.yaml: the API stand-in's RBAC test can load it from there.
    let source =
        parse_yaml_stream(&std::fs::read_to_string(repo().join("config/base/rbac.yaml")).unwrap());
    assert_eq!(grants_of(find_kind(&source, "ClusterRole")), needed);
}

#[test]
fn cluster_role_is_bound_to_the_service_account_the_pods_run_as() {
    let objects = render("config");
    let role = find_kind(&objects, "ClusterRole");
    let binding = find_kind(&objects, "ClusterRoleBinding");
    let account = find_kind(&objects, "ServiceAccount");
    let deployment = find_kind(&objects, "Deployment");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let subjects = binding["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 1, "one subject: our ServiceAccount");
    assert_eq!(subjects[0]["kind"], "ServiceAccount");
    assert_eq!(subjects[0]["name"], account["metadata"]["name"]);
    assert_eq!(subjects[0]["namespace"], account["metadata"]["namespace"]);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        account["metadata"]["name"]
    );
    assert_eq!(
        deployment["metadata"]["namespace"],
        account["metadata"]["namespace"]
    );
}

// --- Deployment, settings, cleanup ---------------------------------------------------------------------------

#[test]
fn controller_runs_alone_locked_down_with_a_writable_tmp() {
    let objects = render("config");
    let deployment = find_kind(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1, "one writer");
    assert_eq!(
        deployment["spec"]["strategy"]["type"], "Recreate",
        "never two pods during a rollout"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    for bound in ["requests", "limits"] {
        assert!(
            container["resources"][bound]["memory"].is_string(),
            "memory {bound}"
        );
    }
    assert!(
        container["resources"]["requests"]["cpu"].is_string(),
        "cpu request"
    );

    // shell-operator writes its tmp dir (/tmp/shell-operator) and, as the image configures it, its debug socket
    // under /tmp: with a read-only root both need an emptyDir there.
    let tmp_volume = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| mount["mountPath"] == "/tmp")
        .expect("a volume mounted at /tmp")["name"]
        .clone();
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|volume| volume["name"] == tmp_volume)
        .unwrap();
    assert!(volume.get("emptyDir").is_some(), "/tmp is an emptyDir");
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(
        dockerfile
            .lines()
            .any(|line| line.starts_with("ENV DEBUG_UNIX_SOCKET=/tmp/")),
        "the image moves shell-operator's debug socket under /tmp"
    );

    // Probes and the Service hit shell-operator's HTTP port (9115): / and /metrics exist there, /healthz does not.
    let port = &container["ports"].as_array().unwrap()[0];
    assert_eq!(port["containerPort"], 9115);
    for probe in ["livenessProbe", "readinessProbe"] {
        let http = &container[probe]["httpGet"];
        assert_eq!(http["port"], port["name"], "{probe} port");
        assert!(
            ["/", "/metrics"].contains(&http["path"].as_str().unwrap()),
            "{probe} path {}",
            http["path"]
        );
    }
    let service = find_kind(&objects, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], port["name"]);
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(
            &labels[key], value,
            "the Service selects the controller pod ({key})"
        );
    }
}

/// shell-operator's own shutdown wait on SIGTERM (`pkg/shell-operator/operator.go`, `DefaultShutdownTimeout`):
/// after it the operator exits and the hook in flight dies with the container.
const SHELL_OPERATOR_SHUTDOWN_SECONDS: u64 = 30;

fn seconds(text: &str) -> u64 {
    let text = text.trim();
    text.strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a whole number of seconds: {text:?}"))
}

#[test]
fn a_tick_in_flight_on_sigterm_ends_inside_shell_operators_shutdown_budget() {
    let help = run(Command::new(env!("CARGO_BIN_EXE_kube-thermostat"))
        .arg("--help")
        .env_clear());
    let help = String::from_utf8(help.stdout).unwrap();
    let after = &help[help
        .find("[env: TICK_TIMEOUT=")
        .expect("TICK_TIMEOUT in --help")..];
    let default = after
        .split_once("[default: ")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(value, _)| seconds(value))
        .unwrap();
    let installed = seconds(&settings_env()["TICK_TIMEOUT"]);
    // Room for process start, the metrics file and the last request's own round trip.
    for (what, tick) in [("the default", default), ("settings.env", installed)] {
        assert!(
            tick + 5 <= SHELL_OPERATOR_SHUTDOWN_SECONDS,
            "TICK_TIMEOUT of {what} ({tick}s) must end a tick well inside shell-operator's {SHELL_OPERATOR_SHUTDOWN_SECONDS}s"
        );
    }
    let objects = render("config");
    let grace = find_kind(&objects, "Deployment")["spec"]["template"]["spec"]
        ["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        grace > SHELL_OPERATOR_SHUTDOWN_SECONDS,
        "the kubelet's SIGKILL ({grace}s) must not come before shell-operator's own {SHELL_OPERATOR_SHUTDOWN_SECONDS}s are over"
    );
}

#[test]
fn image_user_is_the_user_the_pods_run_as() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("a USER line");
    let (uid, gid) = user.trim().split_once(':').expect("USER uid:gid, numeric");
    let (uid, gid): (u64, u64) = (
        uid.parse().expect("numeric uid"),
        gid.parse().expect("numeric gid"),
    );
    assert_ne!(uid, 0, "not root");
    for dir in ["config", "config/cleanup"] {
        for object in render(dir)
            .iter()
            .filter(|object| ["Deployment", "Job"].contains(&kind_of(object)))
        {
            let context = &object["spec"]["template"]["spec"]["securityContext"];
            assert_eq!(context["runAsUser"], uid, "{} runAsUser", kind_of(object));
            assert_eq!(context["runAsGroup"], gid, "{} runAsGroup", kind_of(object));
        }
    }
}

#[test]
fn settings_are_ones_the_hook_reads() {
    let help = run(Command::new(env!("CARGO_BIN_EXE_kube-thermostat"))
        .arg("--help")
        .env_clear());
    let help = String::from_utf8(help.stdout).unwrap();
    let settings = settings_env();
    assert!(
        settings.contains_key("PROMETHEUS_URL"),
        "PROMETHEUS_URL is required: the ConfigMap sets it"
    );
    for key in settings.keys() {
        assert!(
            help.contains(&format!("[env: {key}=")),
            "settings.env sets {key}, which kube-thermostat does not read"
        );
    }
    // And the pod gets them: the generated ConfigMap, by its hashed name, through envFrom.
    let objects = render("config");
    let config_map = find_kind(&objects, "ConfigMap");
    assert_eq!(
        config_map["data"].as_object().unwrap().len(),
        settings.len()
    );
    let deployment = find_kind(&objects, "Deployment");
    let env_from = &deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]
        ["name"];
    assert_eq!(env_from, &config_map["metadata"]["name"]);
}

#[test]
fn controller_and_cleanup_tolerate_our_own_taint() {
    // Else a rescheduled controller could not return to a node it tainted (and NoExecute would evict it).
    let taint_key = settings_env()
        .remove("TAINT_KEY")
        .expect("settings.env sets TAINT_KEY");
    for object in render("config/cleanup")
        .iter()
        .filter(|object| ["Deployment", "Job"].contains(&kind_of(object)))
    {
        let tolerations = object["spec"]["template"]["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            tolerations
                .iter()
                .any(|toleration| toleration["key"] == taint_key.as_str()
                    && toleration["operator"] == "Exists"),
            "{} does not tolerate {taint_key}",
            kind_of(object)
        );
    }
}

/// The CEL of a policy variable.
fn policy_variable<'a>(policy: &'a Value, name: &str) -> &'a str {
    policy["spec"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|variable| variable["name"] == name)
        .unwrap_or_else(|| panic!("no variable {name}"))["expression"]
        .as_str()
        .unwrap()
}

/// `config/` copied with settings.env lines replaced, rendered at `dir` (relative to `config/`).
fn render_with_settings(dir: &str, settings: &[(&str, &str)]) -> Vec<Value> {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("config");
    run(Command::new("cp")
        .arg("-r")
        .arg(repo().join("config"))
        .arg(&copy));
    let path = copy.join("base/settings.env");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (key, value) in settings {
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("{key}=")))
            .unwrap_or_else(|| panic!("settings.env has no {key}= line"))
            .to_owned();
        text = text.replace(&line, &format!("{key}={value}"));
    }
    std::fs::write(&path, text).unwrap();
    let output = run(Command::new(tool("kubectl"))
        .arg("kustomize")
        .arg(copy.join(dir)));
    parse_yaml_stream(&String::from_utf8(output.stdout).unwrap())
}

#[test]
fn another_taint_key_in_settings_env_reaches_the_tolerations_and_the_node_policy() {
    let key = "status-taint.cluster-autoscaler.kubernetes.io/kube-thermostat-hot";
    let adopted = "node.kubernetes.io/pressure:NoSchedule,example.com/old:PreferNoSchedule";
    let settings = [("TAINT_KEY", key), ("ADOPT_TAINTS", adopted)];
    for dir in ["cleanup", "hardening"] {
        let objects = render_with_settings(dir, &settings);
        for object in objects
            .iter()
            .filter(|object| ["Deployment", "Job"].contains(&kind_of(object)))
        {
            assert_eq!(
                object["spec"]["template"]["spec"]["tolerations"][0]["key"],
                key,
                "{dir}: {} tolerates TAINT_KEY",
                kind_of(object)
            );
        }
        if dir == "hardening" {
            let nodes = find(
                &objects,
                "ValidatingAdmissionPolicy",
                "kube-thermostat-nodes",
            );
            assert_eq!(policy_variable(nodes, "ourTaintKey"), format!("'{key}'"));
            assert_eq!(
                policy_variable(nodes, "adoptTaintsSetting"),
                format!("'{adopted}'")
            );
            validate_against_kubernetes_schema("config/hardening", &objects);
        }
    }
}

#[test]
fn cleanup_stops_the_controller_and_removes_every_taint_with_its_settings() {
    let objects = render("config/cleanup");
    let deployment = find_kind(&objects, "Deployment");
    let job = find_kind(&objects, "Job");
    assert_eq!(
        deployment["spec"]["replicas"], 0,
        "the controller is stopped, or it would taint again"
    );
    let pod = &job["spec"]["template"]["spec"];
    let controller = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], controller["serviceAccountName"]);
    let container = &pod["containers"][0];
    assert_eq!(
        strings(&container["command"]),
        [
            "/hooks/kube-thermostat",
            "run",
            "taint-nodes",
            "--remove-all"
        ]
    );
    assert_eq!(
        container["image"], controller["containers"][0]["image"],
        "the Job runs the controller's image"
    );
    assert_eq!(
        container["envFrom"], controller["containers"][0]["envFrom"],
        "same settings (TAINT_KEY) as the controller"
    );
    // Shadow mode in the shared settings must not turn the uninstall into a no-op.
    for name in ["DRY_RUN", "TAINT_DRY_RUN"] {
        let set = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == name);
        assert_eq!(
            set.map(|e| e["value"].clone()),
            Some("false".into()),
            "the Job sets {name}=false"
        );
    }
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(
        job["spec"]["activeDeadlineSeconds"].is_u64(),
        "a stuck cleanup ends"
    );
}

#[test]
fn remove_all_is_a_command_the_binary_accepts() {
    let output = Command::new(env!("CARGO_BIN_EXE_kube-thermostat"))
        .args(["run", "taint-nodes", "--remove-all", "--help"])
        .env_clear()
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("--remove-all"));
}

// --- Hardening -----------------------------------------------------------------------------------------------

#[test]
fn admission_policies_fence_our_service_account_and_taint_key() {
    let objects = render("config/hardening");
    let account = find_kind(&objects, "ServiceAccount");
    let username = format!(
        "system:serviceaccount:{}:{}",
        account["metadata"]["namespace"].as_str().unwrap(),
        account["metadata"]["name"].as_str().unwrap()
    );
    let taint_key = settings_env().remove("TAINT_KEY").unwrap();
    let policies: Vec<&Value> = objects
        .iter()
        .filter(|object| kind_of(object) == "ValidatingAdmissionPolicy")
        .collect();
    assert_eq!(policies.len(), 2, "one policy for nodes, one for pods");
    for policy in &policies {
        let name = policy["metadata"]["name"].as_str().unwrap();
        assert!(
            policy["metadata"].get("namespace").is_none(),
            "{name} is cluster-scoped"
        );
        assert_eq!(
            policy["spec"]["failurePolicy"], "Fail",
            "{name}: a policy that cannot run must not let writes by"
        );
        let conditions = policy["spec"]["matchConditions"].to_string();
        assert!(
            conditions.contains(&format!("'{username}'")),
            "{name} applies to {username} only"
        );
        let binding = find(&objects, "ValidatingAdmissionPolicyBinding", name);
        assert_eq!(binding["spec"]["policyName"], name);
        assert_eq!(
            strings(&binding["spec"]["validationActions"]),
            ["Deny"],
            "{name} denies, not only warns"
        );
    }
    let nodes = find(
        &objects,
        "ValidatingAdmissionPolicy",
        "kube-thermostat-nodes",
    );
    assert_eq!(
        policy_variable(nodes, "ourTaintKey"),
        format!("'{taint_key}'"),
        "the policy fences TAINT_KEY from settings.env"
    );
    assert_eq!(
        policy_variable(nodes, "adoptTaintsSetting"),
        format!("'{}'", settings_env().remove("ADOPT_TAINTS").unwrap()),
        "the policy lets the taints of ADOPT_TAINTS go"
    );
    // The spec is frozen as a whole but for its taints, not field by field: fields a later Kubernetes adds
    // (externalID is old, podPreemptionPolicy is 1.37's) are covered without being named.
    let spec_rule = nodes["spec"]["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["expression"].as_str().unwrap())
        .find(|rule| rule.contains("variables.newSpec"))
        .expect("a rule over the whole spec");
    assert!(
        spec_rule.contains("variables.newSpec.all(field, field == 'taints'")
            && spec_rule.contains("variables.oldSpec.all(field, field == 'taints'"),
        "{spec_rule}"
    );
    for field in ["unschedulable", "podCIDR", "providerID", "externalID"] {
        assert!(!spec_rule.contains(field), "{field} named in {spec_rule}");
    }
    let pods = find(
        &objects,
        "ValidatingAdmissionPolicy",
        "kube-thermostat-pods",
    );
    let resources = strings(&pods["spec"]["matchConstraints"]["resourceRules"][0]["resources"]);
    assert_eq!(resources, ["pods", "pods/resize"]);
}

// --- Monitoring ----------------------------------------------------------------------------------------------

/// `name -> (labels, type)` from METRICS.md lines `` - `name{a,b}` type: ... ``.
fn catalogue() -> BTreeMap<String, (BTreeSet<String>, String)> {
    let text = std::fs::read_to_string(repo().join(CATALOGUE)).unwrap();
    let mut metrics = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("- `") else {
            continue;
        };
        let (signature, after) = rest.split_once('`').unwrap();
        let kind = after
            .trim_start()
            .split(':')
            .next()
            .unwrap()
            .trim()
            .to_owned();
        assert!(
            ["gauge", "counter", "histogram"].contains(&kind.as_str()),
            "{CATALOGUE}: type of {signature}: {kind}"
        );
        let (name, labels) = match signature.split_once('{') {
            Some((name, labels)) => (
                name,
                labels
                    .trim_end_matches('}')
                    .split(',')
                    .map(str::to_owned)
                    .collect(),
            ),
            None => (signature, BTreeSet::new()),
        };
        assert!(
            metrics.insert(name.to_owned(), (labels, kind)).is_none(),
            "{CATALOGUE}: {name} twice"
        );
    }
    metrics
}

/// What a PromQL expression refers to: metric names with the labels their selectors use, and the label names of
/// `by`, `without`, `on`, `ignoring`, `group_left`, `group_right` clauses. A small scanner: enough for our rules.
#[derive(Debug, Default)]
struct References {
    selectors: Vec<(String, Vec<String>)>,
    grouping_labels: Vec<String>,
}

fn references(expr: &str) -> References {
    let chars: Vec<char> = expr.chars().collect();
    let mut found = References::default();
    let mut i = 0;
    let identifier_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_string = |i: &mut usize| {
        let quote = chars[*i];
        *i += 1;
        while *i < chars.len() && chars[*i] != quote {
            *i += if chars[*i] == '\\' { 2 } else { 1 };
        }
        *i += 1;
    };
    let read_identifier = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && identifier_char(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    let skip_space = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            skip_string(&mut i);
        } else if c == '[' {
            // A range or subquery duration: `[5m]`, `[$__rate_interval]`.
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
        } else if identifier_char(c)
            && !c.is_ascii_digit()
            && (i == 0 || !identifier_char(chars[i - 1]))
        {
            let word = read_identifier(&mut i);
            skip_space(&mut i);
            let grouping = [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&word.as_str());
            if grouping && chars.get(i) == Some(&'(') {
                i += 1;
                loop {
                    skip_space(&mut i);
                    match chars.get(i) {
                        Some(')') | None => break,
                        Some(',') => i += 1,
                        _ => found.grouping_labels.push(read_identifier(&mut i)),
                    }
                }
            } else if word.starts_with("kube_thermostat_") || word.starts_with("shell_operator_") {
                let mut labels = Vec::new();
                if chars.get(i) == Some(&'{') {
                    i += 1;
                    loop {
                        skip_space(&mut i);
                        match chars.get(i) {
                            Some('}') | None => break,
                            Some(',') => i += 1,
                            Some('"') | Some('\'') | Some('`') => skip_string(&mut i),
                            Some(c) if identifier_char(*c) => labels.push(read_identifier(&mut i)),
                            _ => i += 1, // =, !=, =~, !~
                        }
                    }
                }
                found.selectors.push((word, labels));
            }
            continue;
        }
        i += 1;
    }
    found
}

/// The catalogue entry a series name belongs to: itself, or the histogram it is a `_bucket`/`_sum`/`_count` of.
fn catalogued<'a>(
    catalogue: &'a BTreeMap<String, (BTreeSet<String>, String)>,
    series: &str,
) -> Option<(&'a BTreeSet<String>, bool)> {
    if let Some((labels, _)) = catalogue.get(series) {
        return Some((labels, false));
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let (labels, kind) = catalogue.get(series.strip_suffix(suffix)?)?;
        (kind == "histogram").then_some((labels, *suffix == "_bucket"))
    })
}

/// Every problem with one expression: unknown metrics, labels a metric does not have, grouping by unknown labels.
fn check_expression(
    catalogue: &BTreeMap<String, (BTreeSet<String>, String)>,
    expr: &str,
) -> Vec<String> {
    let all_labels: BTreeSet<&str> = catalogue
        .values()
        .flat_map(|(labels, _)| labels.iter().map(String::as_str))
        .chain(TARGET_LABELS)
        .chain(["hook", "le"])
        .collect();
    let found = references(expr);
    let mut problems = Vec::new();
    for (series, labels) in &found.selectors {
        let Some((known, is_bucket)) = catalogued(catalogue, series) else {
            problems.push(format!("`{series}` is not in {CATALOGUE}"));
            continue;
        };
        for label in labels {
            let fine = known.contains(label)
                || TARGET_LABELS.contains(&label.as_str())
                || label == "hook"
                || (is_bucket && label == "le");
            if !fine {
                problems.push(format!("`{series}` has no label `{label}`"));
            }
        }
    }
    for label in &found.grouping_labels {
        if !all_labels.contains(label.as_str()) {
            problems.push(format!(
                "grouping by `{label}`, a label no catalogued metric has"
            ));
        }
    }
    problems
}

fn prometheus_rule_groups() -> Value {
    let objects = parse_yaml_stream(
        &std::fs::read_to_string(repo().join("config/monitoring/prometheusrule.yaml")).unwrap(),
    );
    let rule = find_kind(&objects, "PrometheusRule");
    rule["spec"]["groups"].clone()
}

fn alert_rules() -> Vec<Value> {
    prometheus_rule_groups()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn the_metric_scanner_sees_names_labels_and_grouping() {
    let found = references(
        r#"sum by (namespace, binding) (increase(shell_operator_hook_run_allowed_errors_total{hook="kube-thermostat", queue=~"a|b"}[15m])) / on() kube_thermostat_taint_cap"#,
    );
    assert_eq!(
        found.selectors,
        [
            (
                "shell_operator_hook_run_allowed_errors_total".to_owned(),
                vec!["hook".to_owned(), "queue".to_owned()]
            ),
            ("kube_thermostat_taint_cap".to_owned(), vec![])
        ]
    );
    assert_eq!(found.grouping_labels, ["namespace", "binding"]);
    let catalogue = catalogue();
    assert_eq!(
        check_expression(&catalogue, "kube_thermostat_nodes{state=\"hot\"}"),
        Vec::<String>::new()
    );
    assert_eq!(
        check_expression(&catalogue, "kube_thermostat_nodes{node=\"a\"}").len(),
        1,
        "nodes has no node label"
    );
    assert_eq!(
        check_expression(&catalogue, "kube_thermostat_made_up").len(),
        1
    );
    assert!(
        check_expression(
            &catalogue,
            "shell_operator_hook_run_seconds_bucket{le=\"1\"}"
        )
        .is_empty()
    );
}

/// Metric names written by the code, read from its `metrics.gauge("name", ..)` / `metrics.counter("name", ..)`
/// calls.
fn metric_names_in_source() -> BTreeSet<String> {
    fn walk(dir: &Path, names: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, names);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("hook/metrics.rs")
            {
                // (hook/metrics.rs defines the calls; its unit tests write example names.)
                let text: String = std::fs::read_to_string(&path)
                    .unwrap()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                for call in [".gauge(", ".counter("] {
                    for rest in text.split(call).skip(1) {
                        let argument = rest.trim_start();
                        if let Some(quoted) = argument.strip_prefix('"')
                            && let Some((name, _)) = quoted.split_once('"')
                        {
                            names.insert(format!("kube_thermostat_{name}"));
                        }
                    }
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut names,
    );
    names
}

#[test]
fn catalogue_lists_the_hook_metrics_we_promised() {
    let catalogue = catalogue();
    let ours: Vec<&String> = catalogue
        .keys()
        .filter(|name| name.starts_with("kube_thermostat_"))
        .collect();
    // The catalogue is exactly what the code emits: every `metrics.gauge("name", ..)` and
    // `metrics.counter("name", ..)` call in src/, prefixed as hook/metrics.rs does.
    let emitted = metric_names_in_source();
    let listed: BTreeSet<String> = ours.iter().map(|name| (*name).clone()).collect();
    assert_eq!(
        listed, emitted,
        "config/monitoring/METRICS.md vs the metrics src/ writes"
    );
    for (name, (_, kind)) in &catalogue {
        if name.starts_with("kube_thermostat_") {
            assert_eq!(
                name.ends_with("_total"),
                kind == "counter",
                "{name}: counters and only counters end in _total"
            );
        }
    }
}

#[test]
fn alerts_use_only_catalogued_metrics_and_labels() {
    let catalogue = catalogue();
    let mut problems = Vec::new();
    for rule in alert_rules() {
        let name = rule["alert"].as_str().expect("only alerting rules");
        for problem in check_expression(&catalogue, rule["expr"].as_str().unwrap()) {
            problems.push(format!("{name}: {problem}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_alert_tells_on_call_what_and_how_bad() {
    let names: Vec<String> = alert_rules()
        .iter()
        .map(|rule| rule["alert"].as_str().unwrap().to_owned())
        .collect();
    for wanted in [
        "KubeThermostatHookFailing",
        "KubeThermostatTickStale",
        "KubeThermostatTaintCapReached",
        "KubeThermostatResizeInfeasible",
        "KubeThermostatResizePendingLong",
        "KubeThermostatNodeDataMissing",
    ] {
        assert!(names.iter().any(|name| name == wanted), "no {wanted} alert");
    }
    for rule in alert_rules() {
        let name = rule["alert"].as_str().unwrap();
        assert!(
            ["info", "warning", "critical"]
                .contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
            "{name} severity"
        );
        for annotation in ["summary", "description"] {
            assert!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|text| !text.is_empty()),
                "{name} {annotation}"
            );
        }
        assert!(
            rule["for"].is_string(),
            "{name}: a `for` keeps one bad scrape from paging"
        );
    }
}

#[test]
fn alert_rules_pass_promtool() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("rules.yaml");
    let rules = serde_json::json!({ "groups": prometheus_rule_groups() });
    std::fs::write(&file, serde_yaml_ng::to_string(&rules).unwrap()).unwrap();
    run(Command::new(tool("promtool"))
        .args(["check", "rules"])
        .arg(&file));
}

#[test]
fn alerts_fire_in_the_scenarios_they_are_for() {
    // promtool compares annotations too; their templates are checked by `promtool check rules` above, so the
    // scenarios (config/monitoring/alerts-test.yaml) assert on labels only.
    let mut groups = prometheus_rule_groups();
    for group in groups.as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            rule.as_object_mut().unwrap().remove("annotations");
        }
    }
    let scratch = tempfile::tempdir().unwrap();
    let rules = serde_json::json!({ "groups": groups });
    std::fs::write(
        scratch.path().join("rules.yaml"),
        serde_yaml_ng::to_string(&rules).unwrap(),
    )
    .unwrap();
    let scenarios = scratch.path().join("alerts-test.yaml");
    std::fs::copy(
        repo().join("config/monitoring/alerts-test.yaml"),
        &scenarios,
    )
    .unwrap();
    run(Command::new(tool("promtool"))
        .args(["test", "rules"])
        .arg(&scenarios));
}

fn dashboard() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo().join("config/monitoring/dashboard.json")).unwrap(),
    )
    .unwrap()
}

fn dashboard_targets(dashboard: &Value) -> Vec<(String, Value)> {
    let mut targets = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        let nested = panel["panels"].as_array().cloned().unwrap_or_default();
        for panel in std::iter::once(panel).chain(nested.iter()) {
            for target in panel["targets"].as_array().cloned().unwrap_or_default() {
                targets.push((title.clone(), target));
            }
        }
    }
    targets
}

#[test]
fn dashboard_uses_only_catalogued_metrics_and_labels() {
    let catalogue = catalogue();
    let dashboard = dashboard();
    let targets = dashboard_targets(&dashboard);
    assert!(targets.len() >= 10, "the dashboard has its panels");
    let all_labels: BTreeSet<String> = catalogue
        .values()
        .flat_map(|(labels, _)| labels.iter().cloned())
        .chain(TARGET_LABELS.map(str::to_owned))
        .collect();
    let mut problems = Vec::new();
    for (title, target) in &targets {
        let expr = target["expr"]
            .as_str()
            .unwrap_or_else(|| panic!("panel {title}: a target without expr"));
        for problem in check_expression(&catalogue, expr) {
            problems.push(format!("panel {title}: {problem}"));
        }
        // Legends name labels as {{label}}: a misspelt one shows literally.
        let legend = target["legendFormat"].as_str().unwrap_or_default();
        for piece in legend.split("{{").skip(1) {
            let label = piece.split("}}").next().unwrap().trim();
            if !all_labels.contains(label) {
                problems.push(format!("panel {title}: legend uses `{label}`"));
            }
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(definition) = variable["definition"].as_str() {
            problems.extend(check_expression(&catalogue, definition));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn dashboard_shows_what_the_issue_asks_for() {
    let exprs: String = dashboard_targets(&dashboard())
        .iter()
        .map(|(_, target)| target["expr"].to_string())
        .collect();
    for metric in [
        "kube_thermostat_node_tainted", // tainted nodes over time, with reasons
        "kube_thermostat_resizes_total", // resizes
        "kube_thermostat_tick_duration_seconds", // tick duration
        "kube_thermostat_tick_prometheus_queries", // queries
        "kube_thermostat_tick_api_requests", // API requests
    ] {
        assert!(exprs.contains(metric), "no panel shows {metric}");
    }
}

#[test]
fn service_monitor_scrapes_both_metric_paths_of_the_service() {
    let monitoring = render("config/monitoring");
    let base = render("config");
    let monitor = find_kind(&monitoring, "ServiceMonitor");
    let service = find_kind(&base, "Service");
    assert_eq!(
        monitor["metadata"]["namespace"],
        service["metadata"]["namespace"]
    );
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "the ServiceMonitor selects the Service ({key})"
        );
    }
    let port = &service["spec"]["ports"][0]["name"];
    let paths: BTreeSet<&str> = monitor["spec"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|endpoint| assert_eq!(&endpoint["port"], port))
        .map(|endpoint| endpoint["path"].as_str().unwrap())
        .collect();
    // shell-operator serves its own metrics on /metrics and the hooks' on /metrics/hooks.
    assert_eq!(paths, BTreeSet::from(["/metrics", "/metrics/hooks"]));
    let dashboard = find(&monitoring, "ConfigMap", "kube-thermostat-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
}

// --- Image ---------------------------------------------------------------------------------------------------

#[test]
fn dockerfile_passes_hadolint() {
    run(Command::new(tool("hadolint")).arg(repo().join("Dockerfile")));
}

#[test]
fn dockerfile_builds_a_static_binary_on_a_pinned_shell_operator_release() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let from: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("FROM "))
        .collect();
    assert_eq!(from.len(), 2, "two stages: build, then shell-operator");
    let exact_version = |tag: &str| {
        let version = tag.trim_start_matches('v');
        let parts: Vec<&str> = version.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
    };
    let builder = from[0].split_whitespace().next().unwrap();
    let builder_tag = builder
        .strip_prefix("rust:")
        .expect("the build stage is an official rust image");
    assert!(
        exact_version(builder_tag.split('-').next().unwrap()),
        "rust image pinned to x.y.z: {builder}"
    );

    let runtime = from[1].split_whitespace().next().unwrap();
    let (reference, digest) = runtime
        .split_once('@')
        .map_or((runtime, None), |(reference, digest)| {
            (reference, Some(digest))
        });
    let tag = reference
        .strip_prefix("ghcr.io/flant/shell-operator:")
        .expect("runs on ghcr.io/flant/shell-operator");
    assert!(
        exact_version(tag),
        "shell-operator pinned to a release tag vX.Y.Z, not `{tag}`"
    );
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        assert!(
            hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            "digest {digest}"
        );
    } else {
        assert!(
            dockerfile.contains("pin it at release"),
            "a missing digest is called out in the Dockerfile"
        );
    }
    // The image's hooks dir holds exactly our binary, where scripts/static-build.sh runs --config from.
    let copies: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("COPY --from=build"))
        .collect();
    assert_eq!(
        copies,
        ["COPY --from=build /kube-thermostat /hooks/kube-thermostat"]
    );
    assert!(
        dockerfile.contains("--target x86_64-unknown-linux-musl"),
        "static musl build"
    );
    assert!(dockerfile.contains("--locked"), "builds from Cargo.lock");
}
