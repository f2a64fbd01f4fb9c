//! A deterministic, realistic cluster of any size, with its load history and the truth an outcome is checked
//! against: what the demo and the benchmarks run on.
//!
//! ```no_run
//! use thermostat_rig::synthetic::{Spec, SyntheticCluster};
//! let synthetic = SyntheticCluster::generate(&Spec::new(100, 1_000));
//! // synthetic.put_objects(&cluster.api); synthetic.push_load(&cluster.prometheus, &timeline);
//! assert!(!synthetic.truth.hot_nodes().is_empty());
//! ```
//!
//! What is in it, all from one seed:
//! - Nodes `node-0` .. `node-{n-1}`: labels, addresses (the InternalIP node-exporter's `instance` carries),
//!   allocatable sized for their pods, conditions, node info, images. `node-0` is a control-plane node (with its
//!   taint), `node-1` is cordoned (`unschedulable` and the kubelet's taint); a few workers carry foreign taints
//!   (the kubelet's `disk-pressure` with `timeAdded`, a `dedicated` taint). Unpadded names, as in real clusters,
//!   so `node-1` is a prefix of `node-10`.
//! - Node load: about `hot_node_fraction` of the workers hot for the whole history, `near_threshold_fraction`
//!   in the hysteresis band, `flapping_node_fraction` flapping faster than the hot window, the rest cool. The
//!   control-plane and cordoned nodes are hot too: they must never be tainted.
//! - Namespaces `team-*` (every fourth opted in by its label, the others through pod labels), Deployments whose
//!   pods carry a ReplicaSet owner and `pod-template-hash`, 1 to 3 containers per pod, Guaranteed and Burstable
//!   pods (some without a CPU limit), native sidecars, `status.containerStatuses` with `resources` (what the API
//!   server needs to accept a resize), a few HPAs steering Deployments on CPU, and one kube-proxy pod per node
//!   (not opted in).
//! - Container load: `hot_container_fraction` above the resize threshold, `idle_container_fraction` far below
//!   the low mark for the whole history, `near_threshold_fraction` just under the threshold, some flapping, the
//!   rest steady.
//!
//! The expectations are the defaults' (CPU_THRESHOLD 80, untaint at 70, HOT_WINDOW 3m, COOL_WINDOW 5m,
//! MAX_TAINTED_FRACTION 0.3; resize high 80 %, low 30 %, short window 3m, stabilization 30m).
#![allow(clippy::unwrap_used)]

use crate::apiserver::ApiServer;
use crate::prometheus::{
    ContainerLoad, NodeHistory, PodHistory, Profile, Prometheus, Series, Timeline,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub nodes: usize,
    /// Opted-in containers (sidecars included; kube-proxy pods not).
    pub containers: usize,
    /// Of the workers: hot for the whole history.
    pub hot_node_fraction: f64,
    /// Of the workers, and of the containers: just under the threshold (in the hysteresis band for nodes).
    pub near_threshold_fraction: f64,
    /// Of the workers: above the threshold half the time, in periods shorter than the hot window.
    pub flapping_node_fraction: f64,
    pub hot_container_fraction: f64,
    pub idle_container_fraction: f64,
    pub flapping_container_fraction: f64,
    /// Of the Deployments: steered by an HPA on CPU (their containers are not resized on CPU).
    pub hpa_fraction: f64,
    /// One kube-proxy pod (not opted in, with load series) per node.
    pub system_pods: bool,
    pub seed: u64,
}

impl Spec {
    /// A realistic mix: ~10 % hot nodes and containers, 20 % idle containers, some near the thresholds.
    pub fn new(nodes: usize, containers: usize) -> Spec {
        Spec {
            nodes,
            containers,
            hot_node_fraction: 0.1,
            near_threshold_fraction: 0.05,
            flapping_node_fraction: 0.03,
            hot_container_fraction: 0.1,
            idle_container_fraction: 0.2,
            flapping_container_fraction: 0.03,
            hpa_fraction: 0.05,
            system_pods: true,
            seed: 42,
        }
    }
}

/// How a node's CPU behaves over the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeClass {
    /// Above the threshold for the whole history.
    Hot,
    /// Between the untaint threshold and the threshold.
    Band,
    /// Above then below the threshold every 2 minutes: never hot for the hot window, never cool for the cool one.
    Flapping,
    /// Below the untaint threshold.
    Cool,
}

/// Why a node may never be tainted, whatever its load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeRole {
    Worker,
    ControlPlane,
    Cordoned,
}

/// How a container's CPU behaves over the history, relative to its size (limit, else request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContainerClass {
    /// Above the resize threshold for the whole history: must be scaled up.
    Hot,
    /// Far below the low mark for the whole history: may be scaled down, never up.
    Idle,
    /// Just under the threshold: unchanged.
    Near,
    /// Above the threshold half the time in short periods: unchanged.
    Flapping,
    /// Between the low mark and the threshold: unchanged.
    Steady,
    /// Its Deployment is steered by an HPA on CPU (hot or not): CPU unchanged.
    Steered,
}

/// One generated node.
#[derive(Debug, Clone)]
pub struct SyntheticNode {
    pub object: Value,
    pub history: NodeHistory,
    pub class: NodeClass,
    pub role: NodeRole,
}

/// One generated pod.
#[derive(Debug, Clone)]
pub struct SyntheticPod {
    pub object: Value,
    pub history: PodHistory,
}

/// One opted-in container and what must happen to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerTruth {
    pub class: ContainerClass,
    /// The CPU size the thresholds apply to (limit, else request), in millicores, as generated.
    pub cpu_size_millis: i64,
    /// Average CPU use over the history, in millicores.
    pub cpu_use_millis: i64,
}

/// `(namespace, pod, container)`.
pub type ContainerId = (String, String, String);

/// What the load means, to check an outcome against.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub nodes: BTreeMap<String, (NodeClass, NodeRole)>,
    pub containers: BTreeMap<ContainerId, ContainerTruth>,
}

impl Truth {
    /// Workers (eligible for our taint) that are hot: all must be tainted, up to the cap.
    pub fn hot_nodes(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter(|(_, (class, role))| *class == NodeClass::Hot && *role == NodeRole::Worker)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Nodes eligible for our taint.
    pub fn eligible_nodes(&self) -> usize {
        self.nodes
            .values()
            .filter(|(_, role)| *role == NodeRole::Worker)
            .count()
    }

    pub fn containers_of(&self, class: ContainerClass) -> usize {
        self.containers
            .values()
            .filter(|c| c.class == class)
            .count()
    }
}

/// A whole generated cluster.
#[derive(Debug, Clone)]
pub struct SyntheticCluster {
    pub spec: Spec,
    pub namespaces: Vec<Value>,
    pub nodes: Vec<SyntheticNode>,
    pub pods: Vec<SyntheticPod>,
    pub hpas: Vec<Value>,
    pub truth: Truth,
}

/// xorshift64*: deterministic, good enough to shuffle a synthetic cluster.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Lower-case letters and digits as Kubernetes uses in generated names.
    pub fn name_suffix(&mut self, len: usize) -> String {
        const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| SAFE[self.below(SAFE.len())] as char)
            .collect()
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

const CREATED: &str = "2025-01-06T09:00:00Z";
const WORDS: &[&str] = &[
    "api", "web", "worker", "cart", "checkout", "search", "auth", "billing", "ledger", "mailer",
    "render", "ingest", "gateway", "catalog", "reports", "notify",
];
const SIDECAR: &str = "proxy";

/// A load level with a small deterministic wiggle (±`wiggle`), as real load never is a flat line.
fn wiggly(level: f64, wiggle: f64, phase: f64) -> Profile {
    Profile::Custom(Arc::new(move |age: Duration| {
        level + wiggle * (age.as_secs_f64() / 97.0 + phase).sin()
    }))
}

fn node_profile(class: NodeClass, rng: &mut Rng) -> Profile {
    let phase = rng.between(0.0, std::f64::consts::TAU);
    match class {
        NodeClass::Hot => wiggly(rng.between(0.88, 0.96), 0.02, phase),
        NodeClass::Band => wiggly(rng.between(0.73, 0.77), 0.015, phase),
        NodeClass::Flapping => Profile::Flapping {
            low: rng.between(0.3, 0.5),
            high: rng.between(0.9, 0.97),
            period: Duration::from_secs(240),
        },
        NodeClass::Cool => wiggly(rng.between(0.08, 0.6), 0.03, phase),
    }
}

/// CPU use (cores) of a container of this size and class.
fn container_profile(class: ContainerClass, size_cores: f64, rng: &mut Rng) -> (Profile, f64) {
    let phase = rng.between(0.0, std::f64::consts::TAU);
    let (level, wiggle) = match class {
        ContainerClass::Hot => (rng.between(0.9, 0.97), 0.02),
        ContainerClass::Idle => (rng.between(0.05, 0.18), 0.02),
        ContainerClass::Near => (rng.between(0.70, 0.76), 0.02),
        ContainerClass::Steady | ContainerClass::Steered => (rng.between(0.4, 0.62), 0.04),
        ContainerClass::Flapping => {
            let low = rng.between(0.35, 0.5);
            let high = rng.between(0.9, 0.97);
            let profile = Profile::Flapping {
                low: low * size_cores,
                high: high * size_cores,
                period: Duration::from_secs(240),
            };
            return (profile, (low + high) / 2.0 * size_cores);
        }
    };
    (
        wiggly(level * size_cores, wiggle * size_cores, phase),
        level * size_cores,
    )
}

fn cpu_text(millis: i64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

fn mib_text(mib: i64) -> String {
    if mib % 1024 == 0 {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

/// Resources of one container: `(resources JSON, size the thresholds apply to in millicores, request millis,
/// request MiB)`.
#[derive(Debug, Clone)]
struct Sizing {
    resources: Value,
    size_millis: i64,
    request_millis: i64,
    request_mib: i64,
}

fn sizing(rng: &mut Rng) -> Sizing {
    let cpu = [100, 200, 250, 500, 750, 1000][rng.below(6)];
    let mib = [128, 256, 512, 1024][rng.below(4)];
    match rng.below(20) {
        // Guaranteed.
        0..=7 => Sizing {
            resources: json!({"requests": {"cpu": cpu_text(cpu), "memory": mib_text(mib)},
                              "limits": {"cpu": cpu_text(cpu), "memory": mib_text(mib)}}),
            size_millis: cpu,
            request_millis: cpu,
            request_mib: mib,
        },
        // Burstable with a CPU limit.
        8..=16 => Sizing {
            resources: json!({"requests": {"cpu": cpu_text(cpu / 2), "memory": mib_text(mib / 2)},
                              "limits": {"cpu": cpu_text(cpu), "memory": mib_text(mib)}}),
            size_millis: cpu,
            request_millis: cpu / 2,
            request_mib: mib / 2,
        },
        // Burstable without a CPU limit: utilization is of the request.
        _ => Sizing {
            resources: json!({"requests": {"cpu": cpu_text(cpu), "memory": mib_text(mib)},
                              "limits": {"memory": mib_text(mib * 2)}}),
            size_millis: cpu,
            request_millis: cpu,
            request_mib: mib,
        },
    }
}

fn container_spec(name: &str, image: &str, resources: &Value, port: u16) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "resources": resources,
        "readinessProbe": {"httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"},
                           "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]
    })
}

fn container_status(name: &str, image: &str, resources: &Value, seq: u64) -> Value {
    json!({
        "name": name,
        "ready": true,
        "started": true,
        "restartCount": 0,
        "image": image,
        "imageID": format!("{image}@sha256:{seq:064x}"),
        "containerID": format!("containerd://{:064x}", seq.wrapping_mul(0x9e37_79b9)),
        "state": {"running": {"startedAt": CREATED}},
        "lastState": {},
        "resources": resources,
        "allocatedResources": resources.get("requests").cloned().unwrap_or(json!({})),
    })
}

struct NodePlan {
    name: String,
    role: NodeRole,
    class: NodeClass,
    request_millis: i64,
    request_mib: i64,
    pods: usize,
}

impl SyntheticCluster {
    pub fn generate(spec: &Spec) -> SyntheticCluster {
        assert!(
            spec.nodes >= 3,
            "a synthetic cluster has a control-plane node, a cordoned node and workers: nodes >= 3"
        );
        let mut rng = Rng::new(spec.seed);
        let mut truth = Truth::default();

        // ---- Node roles and load classes.
        let workers = spec.nodes - 2;
        let count = |fraction: f64| ((workers as f64 * fraction).round() as usize).min(workers);
        let hot = count(spec.hot_node_fraction).max(1);
        let band = count(spec.near_threshold_fraction);
        let flapping = count(spec.flapping_node_fraction);
        let mut classes: Vec<NodeClass> = std::iter::repeat_n(NodeClass::Hot, hot)
            .chain(std::iter::repeat_n(NodeClass::Band, band))
            .chain(std::iter::repeat_n(NodeClass::Flapping, flapping))
            .chain(std::iter::repeat(NodeClass::Cool))
            .take(workers)
            .collect();
        rng.shuffle(&mut classes);
        let mut plans: Vec<NodePlan> = (0..spec.nodes)
            .map(|i| {
                let (role, class) = match i {
                    0 => (NodeRole::ControlPlane, NodeClass::Hot),
                    1 => (NodeRole::Cordoned, NodeClass::Hot),
                    _ => (NodeRole::Worker, classes[i - 2]),
                };
                NodePlan {
                    name: format!("node-{i}"),
                    role,
                    class,
                    request_millis: 0,
                    request_mib: 0,
                    pods: 0,
                }
            })
            .collect();

        // ---- Namespaces, Deployments, pods, containers.
        let namespace_count = (spec.containers / 400).clamp(3, 200);
        let namespaces: Vec<Value> = (0..namespace_count)
            .map(|k| {
                let mut labels = json!({"kubernetes.io/metadata.name": format!("team-{k}"), "team": format!("team-{k}")});
                if k % 4 == 0 {
                    labels["kube-thermostat.io/resize"] = json!("true");
                }
                json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": format!("team-{k}"), "labels": labels},
                       "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
            })
            .collect();
        let mut container_classes: Vec<ContainerClass> = {
            let n = spec.containers;
            let count = |f: f64| (n as f64 * f).round() as usize;
            std::iter::repeat_n(ContainerClass::Hot, count(spec.hot_container_fraction))
                .chain(std::iter::repeat_n(
                    ContainerClass::Idle,
                    count(spec.idle_container_fraction),
                ))
                .chain(std::iter::repeat_n(
                    ContainerClass::Near,
                    count(spec.near_threshold_fraction),
                ))
                .chain(std::iter::repeat_n(
                    ContainerClass::Flapping,
                    count(spec.flapping_container_fraction),
                ))
                .chain(std::iter::repeat(ContainerClass::Steady))
                .take(n)
                .collect()
        };
        rng.shuffle(&mut container_classes);
        let mut next_class = container_classes.into_iter();

        let worker_indices: Vec<usize> = (1..spec.nodes).collect();
        let mut pods = Vec::new();
        let mut hpas = Vec::new();
        let mut made = 0usize;
        let mut deployment_seq = 0usize;
        let mut seq = 0u64;
        while made < spec.containers {
            let namespace = format!("team-{}", deployment_seq % namespace_count);
            let namespace_opted = (deployment_seq % namespace_count).is_multiple_of(4);
            let deployment = format!(
                "{}-{}",
                WORDS[deployment_seq % WORDS.len()],
                deployment_seq / WORDS.len()
            );
            deployment_seq += 1;
            let hash = rng.name_suffix(10);
            let replicaset = format!("{deployment}-{hash}");
            let steered = rng.unit() < spec.hpa_fraction;
            if steered {
                hpas.push(json!({
                    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": deployment, "namespace": namespace},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                             "minReplicas": 2, "maxReplicas": 20,
                             "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                          "target": {"type": "Utilization", "averageUtilization": 70}}}]}
                }));
            }
            let main_containers = match rng.below(10) {
                0..=5 => 1,
                6..=8 => 2,
                _ => 3,
            };
            let sidecar = rng.below(10) == 0;
            let shapes: Vec<(String, Sizing)> = (0..main_containers)
                .map(|c| {
                    let name = if c == 0 {
                        "app".to_owned()
                    } else {
                        ["cache", "exporter"][c - 1].to_owned()
                    };
                    (name, sizing(&mut rng))
                })
                .collect();
            let sidecar_sizing = sidecar.then(|| sizing(&mut rng));
            let replicas = 1 + rng.below(6);
            for _ in 0..replicas {
                if made >= spec.containers {
                    break;
                }
                let pod_name = format!("{replicaset}-{}", rng.name_suffix(5));
                // Workers and the cordoned node hold application pods (it was cordoned after they started).
                let plan_index = worker_indices[rng.below(worker_indices.len())];
                let node = plans[plan_index].name.clone();
                let mut containers = Vec::new();
                let mut statuses = Vec::new();
                let mut loads = Vec::new();
                let mut add = |name: &str,
                               sizing: &Sizing,
                               class: ContainerClass,
                               rng: &mut Rng,
                               specs: &mut Vec<Value>,
                               statuses: &mut Vec<Value>| {
                    seq += 1;
                    let image = format!("registry.example.com/{deployment}/{name}:1.{}", seq % 7);
                    specs.push(container_spec(
                        name,
                        &image,
                        &sizing.resources,
                        8080 + specs.len() as u16,
                    ));
                    statuses.push(container_status(name, &image, &sizing.resources, seq));
                    let size_cores = sizing.size_millis as f64 / 1000.0;
                    let (profile, average) = container_profile(class, size_cores, rng);
                    let memory = wiggly(
                        sizing.request_mib as f64 * 1_048_576.0 * rng.between(0.3, 0.7),
                        2e6,
                        0.0,
                    );
                    loads.push(ContainerLoad::new(name, profile, memory));
                    plans[plan_index].request_millis += sizing.request_millis;
                    plans[plan_index].request_mib += sizing.request_mib;
                    truth.containers.insert(
                        (namespace.clone(), pod_name.clone(), name.to_owned()),
                        ContainerTruth {
                            class,
                            cpu_size_millis: sizing.size_millis,
                            cpu_use_millis: (average * 1000.0).round() as i64,
                        },
                    );
                };
                for (name, sizing) in &shapes {
                    if made >= spec.containers {
                        break;
                    }
                    let class = next_class.next().unwrap_or(ContainerClass::Steady);
                    let class = if steered {
                        ContainerClass::Steered
                    } else {
                        class
                    };
                    add(
                        name,
                        sizing,
                        class,
                        &mut rng,
                        &mut containers,
                        &mut statuses,
                    );
                    made += 1;
                }
                let mut init_containers = Vec::new();
                let mut init_statuses = Vec::new();
                if let Some(sizing) = &sidecar_sizing
                    && made < spec.containers
                {
                    // A native sidecar with steady load: how sidecars are resized is not what this checks.
                    let class = if steered {
                        ContainerClass::Steered
                    } else {
                        ContainerClass::Steady
                    };
                    add(
                        SIDECAR,
                        sizing,
                        class,
                        &mut rng,
                        &mut init_containers,
                        &mut init_statuses,
                    );
                    init_containers[0]["restartPolicy"] = json!("Always");
                    made += 1;
                }
                plans[plan_index].pods += 1;
                let mut labels = json!({"app": deployment, "pod-template-hash": hash});
                if !namespace_opted {
                    labels["kube-thermostat.io/resize"] = json!("true");
                }
                let uid = format!("{:08x}-{:04x}-4000-8000-{:012x}", seq, seq % 0xffff, seq);
                let mut pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {
                        "name": pod_name, "namespace": namespace, "uid": uid, "labels": labels,
                        "annotations": {"kubectl.kubernetes.io/restartedAt": CREATED},
                        "generateName": format!("{replicaset}-"),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replicaset,
                                             "uid": format!("{:08x}-0000-4000-8000-000000000000", deployment_seq),
                                             "controller": true, "blockOwnerDeletion": true}]
                    },
                    "spec": {
                        "nodeName": node, "containers": containers,
                        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                        "serviceAccountName": "default", "schedulerName": "default-scheduler", "priority": 0,
                        "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
                        "tolerations": [
                            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
                        "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}]
                    },
                    "status": {
                        "phase": "Running", "startTime": CREATED,
                        "hostIP": node_ip(&node), "podIP": format!("10.244.{}.{}", seq / 250 % 250, seq % 250 + 2),
                        "conditions": [
                            {"type": "Initialized", "status": "True", "lastTransitionTime": CREATED},
                            {"type": "Ready", "status": "True", "lastTransitionTime": CREATED},
                            {"type": "ContainersReady", "status": "True", "lastTransitionTime": CREATED},
                            {"type": "PodScheduled", "status": "True", "lastTransitionTime": CREATED}],
                        "containerStatuses": statuses
                    }
                });
                if !init_containers.is_empty() {
                    pod["spec"]["initContainers"] = Value::Array(init_containers);
                    pod["status"]["initContainerStatuses"] = Value::Array(init_statuses);
                }
                let history = PodHistory::new(&namespace, &pod_name, &node, loads);
                pods.push(SyntheticPod {
                    object: pod,
                    history,
                });
            }
        }

        if spec.system_pods {
            for plan in &mut plans {
                let name = format!("kube-proxy-{}", rng.name_suffix(5));
                let resources = json!({"requests": {"cpu": "100m", "memory": "64Mi"}});
                let image = "registry.k8s.io/kube-proxy:v1.34.1";
                seq += 1;
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "kube-system",
                                 "labels": {"k8s-app": "kube-proxy", "controller-revision-hash": "6d4b5c8f7"},
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy",
                                                      "uid": "00000000-0000-4000-8000-00000000d5e7", "controller": true}]},
                    // The volume its container mounts: kube-apiserver refuses a mount of no volume (422).
                    "spec": {"nodeName": plan.name, "priorityClassName": "system-node-critical", "hostNetwork": true,
                             "containers": [container_spec("kube-proxy", image, &resources, 10256)],
                             "tolerations": [{"operator": "Exists"}],
                             "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                                 {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                                 {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}]},
                    "status": {"phase": "Running", "startTime": CREATED, "hostIP": node_ip(&plan.name),
                               "containerStatuses": [container_status("kube-proxy", image, &resources, seq)]}
                });
                plan.request_millis += 100;
                plan.request_mib += 64;
                plan.pods += 1;
                let history = PodHistory::new(
                    "kube-system",
                    &name,
                    &plan.name,
                    vec![ContainerLoad::new(
                        "kube-proxy",
                        wiggly(0.02, 0.005, 0.0),
                        Profile::Constant(40e6),
                    )],
                );
                pods.push(SyntheticPod {
                    object: pod,
                    history,
                });
            }
        }

        // ---- Node objects, sized for their pods (twice the requests: every hot container can double).
        let nodes = plans
            .iter()
            .enumerate()
            .map(|(i, plan)| {
                truth
                    .nodes
                    .insert(plan.name.clone(), (plan.class, plan.role));
                let history = NodeHistory::new(&plan.name, node_profile(plan.class, &mut rng));
                let object = node_object(i, plan, &history, &mut rng);
                SyntheticNode {
                    object,
                    history,
                    class: plan.class,
                    role: plan.role,
                }
            })
            .collect();

        SyntheticCluster {
            spec: spec.clone(),
            namespaces,
            nodes,
            pods,
            hpas,
            truth,
        }
    }

    /// Creates (or puts back, replacing what is there) every object: namespaces, nodes, pods, HPAs.
    pub fn put_objects(&self, api: &ApiServer) {
        for object in self
            .namespaces
            .iter()
            .chain(self.nodes.iter().map(|n| &n.object))
            .chain(self.pods.iter().map(|p| &p.object))
            .chain(&self.hpas)
        {
            api.put(object.clone());
        }
    }

    /// Pushes every node's and pod's history over `timeline`, a few million samples per call (each call is cut into
    /// remote-write requests by the rig).
    pub fn push_load(&self, prometheus: &Prometheus, timeline: &Timeline) -> anyhow::Result<()> {
        const BATCH_SAMPLES: usize = 2_000_000;
        let mut batch: Vec<Series> = Vec::new();
        let mut samples = 0;
        let flush = |batch: &mut Vec<Series>, samples: &mut usize| -> anyhow::Result<()> {
            if !batch.is_empty() {
                prometheus.push(batch)?;
            }
            batch.clear();
            *samples = 0;
            Ok(())
        };
        let node_series = self.nodes.iter().map(|n| n.history.series(timeline));
        let pod_series = self.pods.iter().map(|p| p.history.series(timeline));
        for series in node_series.chain(pod_series) {
            samples += series.iter().map(|s| s.samples.len()).sum::<usize>();
            batch.extend(series);
            if samples >= BATCH_SAMPLES {
                flush(&mut batch, &mut samples)?;
            }
        }
        flush(&mut batch, &mut samples)
    }

    /// The stored foreign taints (every taint that is not `ours_key`) of every node.
    pub fn foreign_taints(api: &ApiServer, ours_key: &str) -> BTreeMap<String, Vec<Value>> {
        api.list("Node")
            .into_iter()
            .map(|node| {
                let name = node["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let foreign = node["spec"]["taints"]
                    .as_array()
                    .map(|taints| {
                        taints
                            .iter()
                            .filter(|t| t["key"] != ours_key)
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                (name, foreign)
            })
            .collect()
    }

    /// Checks the nodes against the truth after a taint tick: every eligible hot node carries our taint (all of
    /// them, or exactly the cap's worth of hot ones when there are more), no other node does, and every foreign
    /// taint in `foreign_before` is still there. Returns what is wrong (empty when all is right).
    pub fn check_taints(
        &self,
        api: &ApiServer,
        taint_key: &str,
        max_tainted_fraction: f64,
        foreign_before: &BTreeMap<String, Vec<Value>>,
    ) -> TaintOutcome {
        let hot = self.truth.hot_nodes();
        let cap = (max_tainted_fraction * self.truth.eligible_nodes() as f64).floor() as usize;
        let mut outcome = TaintOutcome::default();
        let after = SyntheticCluster::foreign_taints(api, taint_key);
        for node in api.list("Node") {
            let name = node["metadata"]["name"].as_str().unwrap_or_default();
            let tainted = node["spec"]["taints"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["key"] == taint_key));
            if tainted {
                outcome.tainted += 1;
                if !hot.contains(name) {
                    outcome
                        .problems
                        .push(format!("{name} is tainted but not a hot eligible node"));
                }
            } else if hot.contains(name) {
                outcome.missed_hot.push(name.to_owned());
            }
            if foreign_before.get(name) != after.get(name) {
                outcome.problems.push(format!(
                    "{name}: foreign taints changed from {:?} to {:?}",
                    foreign_before.get(name),
                    after.get(name)
                ));
            }
        }
        let expected = hot.len().min(cap);
        if outcome.tainted < expected {
            outcome.problems.push(format!(
                "{} of {} hot eligible nodes tainted (cap {cap}); missed: {}",
                outcome.tainted,
                hot.len(),
                outcome
                    .missed_hot
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if outcome.tainted > cap {
            outcome.problems.push(format!(
                "{} nodes tainted, above the cap of {cap}",
                outcome.tainted
            ));
        }
        outcome
    }

    /// Checks the pods against the truth after a resize tick (CPU sizes compared with the generated ones): every
    /// hot container scaled up, no idle one scaled up, nothing else changed, no pod that is not opted in touched.
    pub fn check_resizes(&self, api: &ApiServer) -> ResizeOutcome {
        let mut outcome = ResizeOutcome::default();
        let mut stored: BTreeMap<(String, String), Value> = BTreeMap::new();
        for pod in api.list("Pod") {
            let key = (
                pod["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                pod["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            stored.insert(key, pod);
        }
        for generated in &self.pods {
            let namespace = generated.object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default();
            let name = generated.object["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            let Some(pod) = stored.get(&(namespace.to_owned(), name.to_owned())) else {
                outcome.problems.push(format!("{namespace}/{name} is gone"));
                continue;
            };
            for list in ["containers", "initContainers"] {
                let before = generated.object["spec"][list]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for container in before {
                    let container_name = container["name"].as_str().unwrap_or_default();
                    let after = pod["spec"][list]
                        .as_array()
                        .and_then(|cs| cs.iter().find(|c| c["name"] == container_name))
                        .map(|c| c["resources"].clone())
                        .unwrap_or(Value::Null);
                    let size_before = cpu_size_millis(&container["resources"]);
                    let size_after = cpu_size_millis(&after);
                    let memory_changed = container["resources"]["requests"]["memory"]
                        != after["requests"]["memory"]
                        || container["resources"]["limits"]["memory"] != after["limits"]["memory"];
                    let id = (
                        namespace.to_owned(),
                        name.to_owned(),
                        container_name.to_owned(),
                    );
                    let where_ = format!("{namespace}/{name}/{container_name}");
                    let Some(truth) = self.truth.containers.get(&id) else {
                        if size_after != size_before || memory_changed {
                            outcome
                                .problems
                                .push(format!("{where_} is not opted in but was resized"));
                        }
                        continue;
                    };
                    let direction = size_after.cmp(&size_before);
                    match direction {
                        std::cmp::Ordering::Greater => outcome.up += 1,
                        std::cmp::Ordering::Less => outcome.down += 1,
                        std::cmp::Ordering::Equal => {}
                    }
                    if memory_changed {
                        outcome
                            .problems
                            .push(format!("{where_}: memory changed (RESIZE_MEMORY is off)"));
                    }
                    let wrong = match truth.class {
                        ContainerClass::Hot => {
                            if direction != std::cmp::Ordering::Greater {
                                outcome.missed_hot.push(where_.clone());
                            }
                            false
                        }
                        ContainerClass::Idle => {
                            if direction == std::cmp::Ordering::Less {
                                outcome.idle_down += 1;
                            }
                            direction == std::cmp::Ordering::Greater
                        }
                        _ => direction != std::cmp::Ordering::Equal,
                    };
                    if wrong {
                        outcome.problems.push(format!(
                            "{where_} ({:?}, {}m used of {}m) went from {}m to {}m",
                            truth.class,
                            truth.cpu_use_millis,
                            truth.cpu_size_millis,
                            size_before,
                            size_after
                        ));
                    }
                }
            }
        }
        if !outcome.missed_hot.is_empty() {
            outcome.problems.push(format!(
                "{} of {} hot containers not scaled up, e.g. {}",
                outcome.missed_hot.len(),
                self.truth.containers_of(ContainerClass::Hot),
                outcome
                    .missed_hot
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        outcome
    }
}

/// What a taint tick did, as checked against the truth.
#[derive(Debug, Clone, Default)]
pub struct TaintOutcome {
    pub tainted: usize,
    pub missed_hot: Vec<String>,
    pub problems: Vec<String>,
}

/// What a resize tick did, as checked against the truth.
#[derive(Debug, Clone, Default)]
pub struct ResizeOutcome {
    pub up: usize,
    pub down: usize,
    pub idle_down: usize,
    pub missed_hot: Vec<String>,
    pub problems: Vec<String>,
}

/// The CPU size the thresholds apply to (limit, else request) in millicores; 0 when neither is set.
pub fn cpu_size_millis(resources: &Value) -> i64 {
    let text = resources["limits"]["cpu"]
        .as_str()
        .or_else(|| resources["requests"]["cpu"].as_str())
        .unwrap_or("0");
    parse_cpu_millis(text)
}

/// `250m` → 250, `2` → 2000, `1.5` → 1500.
pub fn parse_cpu_millis(text: &str) -> i64 {
    match text.strip_suffix('m') {
        Some(millis) => millis.parse().unwrap_or(0),
        None => (text.parse::<f64>().unwrap_or(0.0) * 1000.0).round() as i64,
    }
}

fn node_ip(name: &str) -> String {
    NodeHistory::new(name, Profile::Constant(0.0))
        .instance
        .trim_end_matches(":9100")
        .to_owned()
}

fn node_object(index: usize, plan: &NodePlan, history: &NodeHistory, rng: &mut Rng) -> Value {
    let name = &plan.name;
    let zone = ["a", "b", "c"][index % 3];
    let cpu_cores = ((plan.request_millis * 2 + 1000) as f64 / 1000.0 / 4.0).ceil() as i64 * 4;
    let cpu_cores = cpu_cores.max(8);
    let memory_gib = ((plan.request_mib * 2) as f64 / 1024.0 / 16.0).ceil() as i64 * 16;
    let memory_gib = memory_gib.max(32);
    let max_pods = (plan.pods + 20).max(110);
    let mut labels = json!({
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": format!("m6i.{}xlarge", cpu_cores / 4),
        "topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": format!("eu-west-1{zone}"),
    });
    let mut taints = Vec::new();
    let mut spec = json!({"podCIDR": format!("10.244.{}.0/24", index % 256), "providerID": format!("synthetic:///{name}")});
    let mut disk_pressure = false;
    match plan.role {
        NodeRole::ControlPlane => {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
            taints.push(
                json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}),
            );
        }
        NodeRole::Cordoned => {
            spec["unschedulable"] = json!(true);
            taints.push(json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": CREATED}));
        }
        NodeRole::Worker => match rng.below(50) {
            0 => {
                disk_pressure = true;
                taints.push(json!({"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule", "timeAdded": CREATED}));
            }
            1 => taints
                .push(json!({"key": "dedicated", "value": "batch", "effect": "PreferNoSchedule"})),
            _ => {}
        },
    }
    if !taints.is_empty() {
        spec["taints"] = Value::Array(taints);
    }
    let condition = |kind: &str, status: bool, reason: &str| {
        json!({"type": kind, "status": if status { "True" } else { "False" }, "reason": reason,
               "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED, "message": format!("kubelet reports {reason}")})
    };
    let images: Vec<Value> = (0..8)
        .map(|k| {
            json!({"names": [format!("registry.example.com/base/image-{k}@sha256:{:064x}", k * 7919 + index),
                             format!("registry.example.com/base/image-{k}:1.{k}")],
                   "sizeBytes": 20_000_000 + k * 3_000_000})
        })
        .collect();
    let capacity = json!({"cpu": cpu_cores.to_string(), "memory": format!("{memory_gib}Gi"),
                          "pods": max_pods.to_string(), "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"});
    let mut allocatable = capacity.clone();
    allocatable["memory"] = json!(format!("{}Mi", memory_gib * 1024 - 512));
    let mut annotations = Map::new();
    annotations.insert("node.alpha.kubernetes.io/ttl".into(), json!("0"));
    annotations.insert(
        "volumes.kubernetes.io/controller-managed-attach-detach".into(),
        json!("true"),
    );
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": history.instance.trim_end_matches(":9100")},
                          {"type": "Hostname", "address": name}],
            "allocatable": allocatable,
            "capacity": capacity,
            "conditions": [condition("MemoryPressure", false, "KubeletHasSufficientMemory"),
                           condition("DiskPressure", disk_pressure, if disk_pressure { "KubeletHasDiskPressure" } else { "KubeletHasNoDiskPressure" }),
                           condition("PIDPressure", false, "KubeletHasSufficientPID"),
                           condition("Ready", true, "KubeletReady")],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.22",
                         "kernelVersion": "6.1.0-25-cloud-amd64", "kubeProxyVersion": "v1.34.1",
                         "kubeletVersion": "v1.34.1", "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "machineID": format!("{:032x}", index), "systemUUID": format!("ec2{:029x}", index),
                         "bootID": format!("{:032x}", index * 31)},
            "images": images
        }
    })
}

// ---- Snapshots made in Rust ------------------------------------------------------------------------------------
//
// gojq over 50,000 pods takes seconds; these produce what the jqFilters of `--config` produce, and
// [`check_filters_match_gojq`] proves it for a sample against gojq and the filters the binary prints.

fn field(object: &Value, path: &[&str]) -> Value {
    let mut value = object;
    for key in path {
        value = &value[*key];
    }
    value.clone()
}

fn our_annotations(annotations: &Value) -> Value {
    Value::Object(
        annotations
            .as_object()
            .map(|map| {
                map.iter()
                    .filter(|(k, _)| k.starts_with("kube-thermostat.io/"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

fn pick(object: &Value, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .map(|k| ((*k).to_owned(), object[*k].clone()))
            .collect(),
    )
}

fn array_of(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// What the `nodes` jqFilter keeps of a Node.
pub fn node_filter_result(node: &Value) -> Value {
    let annotations = &node["metadata"]["annotations"];
    json!({
        "metadata": {
            "name": field(node, &["metadata", "name"]),
            "uid": field(node, &["metadata", "uid"]),
            "resourceVersion": field(node, &["metadata", "resourceVersion"]),
            "deletionTimestamp": field(node, &["metadata", "deletionTimestamp"]),
            "labels": field(node, &["metadata", "labels"]),
            "annotations": if annotations.is_null() { Value::Null } else { our_annotations(annotations) },
        },
        "spec": {"taints": field(node, &["spec", "taints"]), "unschedulable": field(node, &["spec", "unschedulable"])},
        "status": {"addresses": field(node, &["status", "addresses"]), "allocatable": field(node, &["status", "allocatable"])},
    })
}

/// What the `pods` jqFilter keeps of a Pod.
pub fn pod_filter_result(pod: &Value) -> Value {
    let statuses = |list: &str| -> Vec<Value> {
        array_of(&pod["status"][list])
            .iter()
            .map(|s| pick(s, &["name", "resources", "allocatedResources"]))
            .collect()
    };
    json!({
        "metadata": {
            "name": field(pod, &["metadata", "name"]),
            "namespace": field(pod, &["metadata", "namespace"]),
            "uid": field(pod, &["metadata", "uid"]),
            "resourceVersion": field(pod, &["metadata", "resourceVersion"]),
            "generation": field(pod, &["metadata", "generation"]),
            "labels": field(pod, &["metadata", "labels"]),
            "annotations": our_annotations(&pod["metadata"]["annotations"]),
            "ownerReferences": field(pod, &["metadata", "ownerReferences"]),
        },
        "spec": {
            "nodeName": field(pod, &["spec", "nodeName"]),
            "overhead": field(pod, &["spec", "overhead"]),
            "resources": field(pod, &["spec", "resources"]),
            "containers": array_of(&pod["spec"]["containers"]).iter()
                .map(|c| pick(c, &["name", "resources", "resizePolicy"])).collect::<Vec<_>>(),
            "initContainers": array_of(&pod["spec"]["initContainers"]).iter()
                .map(|c| pick(c, &["name", "resources", "resizePolicy", "restartPolicy"])).collect::<Vec<_>>(),
        },
        "status": {
            "phase": field(pod, &["status", "phase"]),
            "startTime": field(pod, &["status", "startTime"]),
            "observedGeneration": field(pod, &["status", "observedGeneration"]),
            "resize": field(pod, &["status", "resize"]),
            "allocatedResources": if pod["spec"]["resources"].is_null() { Value::Null } else { field(pod, &["status", "allocatedResources"]) },
            "resources": if pod["spec"]["resources"].is_null() { Value::Null } else { field(pod, &["status", "resources"]) },
            "conditions": array_of(&pod["status"]["conditions"]).iter()
                .filter(|c| c["type"].as_str().is_some_and(|t| t.starts_with("PodResize")))
                .cloned().collect::<Vec<_>>(),
            "containerStatuses": statuses("containerStatuses"),
            "initContainerStatuses": statuses("initContainerStatuses"),
        }
    })
}

/// What the `namespaces` jqFilter keeps of a Namespace.
pub fn namespace_filter_result(namespace: &Value) -> Value {
    json!({"metadata": {"name": field(namespace, &["metadata", "name"]), "labels": field(namespace, &["metadata", "labels"])}})
}

/// The filter result for an object of `kind` (Node, Pod, Namespace).
pub fn filter_result(kind: &str, object: &Value) -> Value {
    match kind {
        "Node" => node_filter_result(object),
        "Pod" => pod_filter_result(object),
        "Namespace" => namespace_filter_result(object),
        other => panic!("no Rust snapshot filter for kind {other}"),
    }
}

/// The kubernetes bindings of `config` (the JSON `--config` printed) that `binding` includes snapshots from:
/// `(binding name, kind, jqFilter)`.
pub fn snapshot_bindings(config: &Value, binding: &str) -> Vec<(String, String, String)> {
    let include: Vec<String> = array_of(&config["schedule"])
        .iter()
        .find(|s| s["name"] == binding)
        .map(|s| {
            array_of(&s["includeSnapshotsFrom"])
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    include
        .iter()
        .filter_map(|name| {
            array_of(&config["kubernetes"])
                .iter()
                .find(|b| b["name"] == name.as_str())
                .map(|b| {
                    (
                        name.clone(),
                        b["kind"].as_str().unwrap_or_default().to_owned(),
                        b["jqFilter"].as_str().unwrap_or_default().to_owned(),
                    )
                })
        })
        .collect()
}

/// A Schedule binding context for `binding` with the snapshots its configuration asks for, made in Rust from
/// the stand-in's objects (what `Cluster::tick` makes with gojq, without its cost).
pub fn binding_context(api: &ApiServer, config: &Value, binding: &str) -> Value {
    let mut snapshots = Map::new();
    for (name, kind, _) in snapshot_bindings(config, binding) {
        let items: Vec<Value> = api
            .list(&kind)
            .iter()
            .filter(|o| {
                kind != "Pod"
                    || !matches!(o["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
            })
            .map(|o| json!({"filterResult": filter_result(&kind, o)}))
            .collect();
        snapshots.insert(name, Value::Array(items));
    }
    json!([{"binding": binding, "type": "Schedule", "snapshots": snapshots}])
}

/// Compares the Rust filter results with gojq's, through the jqFilters of `config`, for `objects` (of any
/// kinds). Returns the first difference.
pub fn check_filters_match_gojq(config: &Value, objects: &[Value]) -> Result<(), String> {
    for binding in array_of(&config["kubernetes"]) {
        let kind = binding["kind"].as_str().unwrap_or_default();
        let filter = binding["jqFilter"].as_str().unwrap_or_default();
        let sample: Vec<Value> = objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .cloned()
            .collect();
        if sample.is_empty() {
            continue;
        }
        let from_gojq = crate::cluster::gojq_each(filter, &sample);
        for (object, expected) in sample.iter().zip(&from_gojq) {
            let ours = filter_result(kind, object);
            if &ours != expected {
                return Err(format!(
                    "{kind} {}: Rust snapshot differs from gojq's\nrust: {ours}\ngojq: {expected}",
                    object["metadata"]["name"]
                ));
            }
        }
        if from_gojq.len() != sample.len() {
            return Err(format!(
                "{kind}: gojq gave {} results for {} objects",
                from_gojq.len(),
                sample.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_has_the_asked_mix() {
        let spec = Spec::new(50, 600);
        let a = SyntheticCluster::generate(&spec);
        let b = SyntheticCluster::generate(&spec);
        assert_eq!(a.pods.len(), b.pods.len());
        assert_eq!(a.pods[7].object, b.pods[7].object);
        assert_eq!(a.truth.containers.len(), 600);
        assert_eq!(a.truth.hot_nodes().len(), 5, "10 % of 48 workers");
        assert!(a.truth.containers_of(ContainerClass::Hot) > 30);
        assert!(a.truth.containers_of(ContainerClass::Idle) > 60);
        assert_eq!(a.nodes.len(), 50);
        assert_eq!(a.nodes[0].role, NodeRole::ControlPlane);
        assert_eq!(a.nodes[1].object["spec"]["unschedulable"], true);
    }

    #[test]
    fn every_opted_in_container_has_load_and_a_status_with_resources() {
        let synthetic = SyntheticCluster::generate(&Spec::new(10, 200));
        for pod in &synthetic.pods {
            let statuses = pod.object["status"]["containerStatuses"]
                .as_array()
                .unwrap();
            for container in pod.object["spec"]["containers"].as_array().unwrap() {
                let status = statuses
                    .iter()
                    .find(|s| s["name"] == container["name"])
                    .unwrap();
                assert_eq!(status["resources"], container["resources"]);
                assert!(
                    pod.history
                        .containers
                        .iter()
                        .any(|c| c.name == container["name"])
                );
            }
        }
    }

    #[test]
    fn nodes_have_room_for_every_container_to_double() {
        let synthetic = SyntheticCluster::generate(&Spec::new(10, 1_000));
        for node in &synthetic.nodes {
            let name = &node.object["metadata"]["name"];
            let requested: i64 = synthetic
                .pods
                .iter()
                .filter(|p| &p.object["spec"]["nodeName"] == name)
                .flat_map(|p| p.object["spec"]["containers"].as_array().unwrap().clone())
                .map(|c| {
                    parse_cpu_millis(c["resources"]["requests"]["cpu"].as_str().unwrap_or("0"))
                })
                .sum();
            let allocatable = parse_cpu_millis(
                node.object["status"]["allocatable"]["cpu"]
                    .as_str()
                    .unwrap(),
            );
            assert!(
                allocatable >= 2 * requested,
                "{name}: {allocatable}m for {requested}m requested"
            );
        }
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_cpu_millis("250m"), 250);
        assert_eq!(parse_cpu_millis("2"), 2000);
        assert_eq!(parse_cpu_millis("1.5"), 1500);
    }
}
