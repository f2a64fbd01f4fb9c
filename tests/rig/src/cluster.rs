//! A whole scenario in one value: a real Prometheus fed by remote write, the Kubernetes API stand-in, and the
//! real `kube-thermostat` binary run exactly as shell-operator runs it (`BINDING_CONTEXT_PATH`, `METRICS_PATH`,
//! snapshots made by gojq with the jqFilters from `--config`), or as a person runs `kube-thermostat run`.
//! Used by the integration tests, the demo and the benchmarks; panics are test failures.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::apiserver::{ApiServer, Options};
use crate::builders::NodeBuilder;
use crate::prometheus::{NodeHistory, Profile, Prometheus, Series, Timeline};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The hook's own pod (its name is also the run's HOSTNAME, as in a real pod).
pub const HOOK_POD_NAME: &str = "kube-thermostat-test";
pub const HOOK_POD_NAMESPACE: &str = "kube-thermostat";
/// The hook's name as shell-operator labels its metrics (its path under the hooks dir).
pub const HOOK_NAME: &str = "kube-thermostat";

/// One scenario's world. Everything it started stops when it is dropped.
pub struct Cluster {
    /// The `kube-thermostat` binary under test.
    pub binary: PathBuf,
    pub prometheus: Prometheus,
    pub api: ApiServer,
    pub dir: TempDir,
    kubeconfig: PathBuf,
    /// Where the hook sends its queries; a [`FaultProxy`](crate::prometheus::FaultProxy) URL to inject Prometheus faults.
    pub prometheus_url: String,
    pub timeline: Timeline,
}

/// What one hook run did.
#[derive(Debug)]
pub struct HookOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Operations written to METRICS_PATH.
    pub metrics: Vec<Value>,
    /// METRICS_PATH as written, for shell-operator's metric storage model.
    pub metrics_file: String,
}

impl HookOutput {
    /// The value of a gauge or counter op by metric name and labels (all given labels must match).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.metrics
            .iter()
            .filter(|op| op["name"] == name)
            .find(|op| labels.iter().all(|(k, v)| op["labels"][*k] == *v))
            .and_then(|op| op["value"].as_f64())
    }

    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "hook failed\nstderr:\n{}\nstdout:\n{}",
            self.stderr, self.stdout
        );
        self
    }
}

impl Cluster {
    pub fn start(binary: impl Into<PathBuf>) -> Cluster {
        Cluster::with_api(binary, Options::default())
    }

    pub fn with_api(binary: impl Into<PathBuf>, options: Options) -> Cluster {
        let prometheus =
            Prometheus::start().expect("start Prometheus (make test installs Debian's prometheus)");
        let api = ApiServer::start(options).expect("start the API stand-in");
        // Every real cluster has these; Node events live in `default`.
        for namespace in ["default", "kube-system"] {
            api.put(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
            );
        }
        // The hook's own pod, as the Deployment runs it: it keeps the counter totals (POD_NAME, POD_NAMESPACE).
        // Not scheduled on any node, so no node's fit check counts it.
        api.put(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": HOOK_POD_NAME, "namespace": HOOK_POD_NAMESPACE,
                         "labels": {"app.kubernetes.io/name": "kube-thermostat"}},
            "spec": {"containers": [{"name": "shell-operator", "image": "kube-thermostat"}]},
        }));
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        write_kubeconfig(&kubeconfig, &api);
        let prometheus_url = prometheus.url();
        Cluster {
            binary: binary.into(),
            prometheus,
            api,
            dir,
            kubeconfig,
            prometheus_url,
            timeline: Timeline::last_40_minutes(),
        }
    }

    // ---- Cluster contents ------------------------------------------------------------------------------

    /// A ready worker node with an InternalIP and allocatable capacity; `extra` is merged into it.
    pub fn add_node(&self, name: &str, extra: Value) -> Value {
        self.api.put(NodeBuilder::new(name).merge(extra).build())
    }

    /// Stores the pod and lets the kubelet report its resources as running (as on a node supporting resize).
    pub fn put_running(&self, pod: impl Into<Value>) -> Value {
        let pod = pod.into();
        let namespace = pod["metadata"]["namespace"].as_str().unwrap().to_owned();
        let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
        self.api.put(pod);
        self.api.kubelet_actuate(&namespace, &name)
    }

    pub fn node(&self, name: &str) -> Value {
        self.api
            .get("Node", None, name)
            .unwrap_or_else(|| panic!("node {name} exists"))
    }

    /// The counter totals kube-thermostat keeps on its own pod for `controller` (annotation text).
    pub fn saved_counters(&self, controller: &str) -> Option<String> {
        let pod = self
            .api
            .get("Pod", Some(HOOK_POD_NAMESPACE), HOOK_POD_NAME)?;
        pod["metadata"]["annotations"][format!("kube-thermostat.io/counters-{controller}")]
            .as_str()
            .map(str::to_owned)
    }

    /// Writes to anything but the hook's own pod (where it keeps its counter totals): what shadow mode must
    /// never do.
    pub fn writes_to_the_cluster(&self) -> usize {
        let own = format!("/namespaces/{HOOK_POD_NAMESPACE}/pods/{HOOK_POD_NAME}");
        self.api
            .requests()
            .iter()
            .filter(|r| matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete"))
            .filter(|r| !r.path.ends_with(&own))
            .count()
    }

    pub fn taints(&self, name: &str) -> Value {
        self.node(name)["spec"]["taints"].clone()
    }

    // ---- Load --------------------------------------------------------------------------------------------

    /// Pushes node-exporter history for a node: busy fraction (0..=1) over the last 40 minutes.
    pub fn node_load(&self, name: &str, cpu_busy: Profile) {
        self.push(NodeHistory::new(name, cpu_busy).series(&self.timeline));
    }

    pub fn push(&self, series: Vec<Series>) {
        self.prometheus.push(&series).expect("remote write");
    }

    // ---- Running the hook ----------------------------------------------------------------------------

    /// The environment every run gets (a test adds its own on top).
    fn base_env(&self) -> Vec<(String, String)> {
        vec![
            ("PROMETHEUS_URL".into(), self.prometheus_url.clone()),
            ("KUBECONFIG".into(), self.kubeconfig.display().to_string()),
            ("TICK_TIMEOUT".into(), "20s".into()),
            ("PROMETHEUS_TIMEOUT".into(), "5s".into()),
            ("HOSTNAME".into(), HOOK_POD_NAME.into()),
            ("POD_NAME".into(), HOOK_POD_NAME.into()),
            ("POD_NAMESPACE".into(), HOOK_POD_NAMESPACE.into()),
        ]
    }

    /// Runs one shell-operator tick of `binding` with snapshots built from the stand-in's objects through the
    /// real jqFilters (gojq), as shell-operator would.
    pub fn tick(&self, binding: &str, env: &[(&str, &str)]) -> HookOutput {
        let context = self.binding_context(binding, env);
        self.run_hook(&context, env)
    }

    /// The binding context [`Cluster::tick`] passes: snapshots of the stand-in's objects as they are now. Keep
    /// it to run later, after changing the cluster, for a tick on a stale snapshot.
    pub fn binding_context(&self, binding: &str, env: &[(&str, &str)]) -> Value {
        let config = self.hook_config(env);
        let mut snapshots = serde_json::Map::new();
        let include = config["schedule"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == binding)
            .and_then(|s| s["includeSnapshotsFrom"].as_array().cloned())
            .unwrap_or_default();
        for name in include {
            let name = name.as_str().unwrap();
            let watch = config["kubernetes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["name"] == name)
                .unwrap();
            let objects = self.api.list(watch["kind"].as_str().unwrap());
            let objects: Vec<Value> = objects
                .into_iter()
                .filter(|o| {
                    // The pods binding's field selector: finished pods are not watched.
                    watch["kind"] != "Pod"
                        || !matches!(o["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
                })
                .collect();
            let filtered = gojq_each(watch["jqFilter"].as_str().unwrap(), &objects);
            let items: Vec<Value> = filtered
                .into_iter()
                .map(|r| json!({"filterResult": r}))
                .collect();
            snapshots.insert(name.to_owned(), Value::Array(items));
        }
        json!([{"binding": binding, "type": "Schedule", "snapshots": snapshots}])
    }

    /// Runs the hook with an arbitrary binding context.
    pub fn run_hook(&self, context: &Value, env: &[(&str, &str)]) -> HookOutput {
        run_hook_in(
            self.dir.path(),
            &self.binary,
            &self.base_env(),
            context,
            env,
        )
    }

    /// `kube-thermostat run ARGS...` as a person runs it (no binding context, no snapshots).
    pub fn run_cli(&self, args: &[&str], env: &[(&str, &str)]) -> HookOutput {
        let mut all_args = vec!["run"];
        all_args.extend_from_slice(args);
        run_binary(&self.binary, &all_args, &self.base_env(), env)
    }

    /// `kube-thermostat ARGS...` (any subcommand: `replay ...`) with the same environment as a tick.
    pub fn run_cli_raw(&self, args: &[&str], env: &[(&str, &str)]) -> HookOutput {
        run_binary(&self.binary, args, &self.base_env(), env)
    }

    /// `--config` with the same environment as a tick.
    pub fn hook_config(&self, env: &[(&str, &str)]) -> Value {
        let output = run_binary(&self.binary, &["--config"], &self.base_env(), env);
        assert_eq!(output.code, 0, "--config: {}", output.stderr);
        serde_json::from_str(&output.stdout).unwrap()
    }
}

/// Runs `binary` as shell-operator runs a hook: `context` written to `dir` as the binding context, `METRICS_PATH`
/// in `dir` (read back into the output), `base` then `env` as its environment.
pub fn run_hook_in(
    dir: &Path,
    binary: &Path,
    base: &[(String, String)],
    context: &Value,
    env: &[(&str, &str)],
) -> HookOutput {
    let context_path = dir.join("binding-context.json");
    std::fs::write(&context_path, serde_json::to_vec_pretty(context).unwrap()).unwrap();
    let metrics_path = dir.join("metrics.json");
    let _ = std::fs::remove_file(&metrics_path);
    let mut all_env = base.to_vec();
    all_env.push((
        "BINDING_CONTEXT_PATH".into(),
        context_path.display().to_string(),
    ));
    all_env.push(("METRICS_PATH".into(), metrics_path.display().to_string()));
    let output = run_binary(binary, &[], &all_env, env);
    let metrics_file = std::fs::read_to_string(&metrics_path).unwrap_or_default();
    let metrics = metrics_file
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    HookOutput {
        metrics,
        metrics_file,
        ..output
    }
}

/// Runs `binary` with a clean environment: PATH, `base`, then `env` (which wins).
pub fn run_binary(
    binary: &Path,
    args: &[&str],
    base: &[(String, String)],
    env: &[(&str, &str)],
) -> HookOutput {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in base {
        command.env(key, value);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run kube-thermostat");
    HookOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        metrics: Vec::new(),
        metrics_file: String::new(),
    }
}

fn write_kubeconfig(path: &Path, api: &ApiServer) {
    let token = api.options().token.clone().unwrap_or_default();
    let mut cluster = json!({"server": api.url()});
    if let Some(ca) = api.ca_pem() {
        let ca_path = path.with_file_name("api-ca.pem");
        std::fs::write(&ca_path, ca).unwrap();
        cluster["certificate-authority"] = json!(ca_path.display().to_string());
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "rig", "cluster": cluster}],
        "users": [{"name": "hook", "user": {"token": token}}],
        "contexts": [{"name": "rig", "context": {"cluster": "rig", "user": "hook"}}],
        "current-context": "rig",
    });
    // JSON is YAML: the kubeconfig reader takes it as is.
    std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// Applies `filter` to each object with gojq (one process for the whole list).
pub fn gojq_each(filter: &str, objects: &[Value]) -> Vec<Value> {
    let mut child = Command::new("gojq")
        .args(["-c", &format!(".[] | ({filter})")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gojq is installed by `make test` (Debian package gojq)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(objects).unwrap())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "gojq: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// JSON merge of `extra` into `base` (objects merged, everything else replaced).
pub fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, extra) => *base = extra,
    }
}

/// The notes of a resize plan (`run resize-pods --dry-run --output json`) about `pod`, as `kind: reason` lines.
pub fn plan_notes_about(plan: &Value, pod: &str) -> Vec<String> {
    plan["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("a plan has notes: {plan}"))
        .iter()
        .filter(|note| note["pod"] == pod)
        .map(|note| {
            format!(
                "{}: {}",
                note["kind"].as_str().unwrap_or_default(),
                note["reason"].as_str().unwrap_or_default()
            )
        })
        .collect()
}
