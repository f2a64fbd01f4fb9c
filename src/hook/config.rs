//! `kube-thermostat --config`: the shell-operator hook configuration.
//!
//! Pure and infallible once the schedules are checked: shell-operator stops entirely when `--config` fails, so
//! nothing here may depend on the cluster, Prometheus or settings that only the tick needs. The JSON comes from
//! plain structs whose field order is the output order, so it is byte-stable (checked against a golden file).

use serde::Serialize;

/// Binding names, shared by the configuration, the binding-context dispatcher and the snapshot reader.
pub mod binding {
    pub const TAINT_NODES: &str = "taint-nodes";
    pub const RESIZE_PODS: &str = "resize-pods";
    pub const NODES: &str = "nodes";
    pub const PODS: &str = "pods";
    pub const NAMESPACES: &str = "namespaces";
}

/// Keeps what taint-nodes and resize-pods read of a Node: labels (exclusion labels are settable), our own
/// annotations only, taints exactly (the patch `test`s them), cordon, deletion, addresses (series matching) and
/// allocatable (resize fit). The result has
/// the shape of a Node, so snapshots and LIST results go through the same code.
pub const NODE_JQ_FILTER: &str = concat!(
    "{metadata: {name: .metadata.name, uid: .metadata.uid, resourceVersion: .metadata.resourceVersion, ",
    "deletionTimestamp: .metadata.deletionTimestamp, labels: .metadata.labels, ",
    // Absent stays absent (null): the taint patch creates the annotations map only when there is none.
    "annotations: (if .metadata.annotations == null then null else (.metadata.annotations | ",
    "with_entries(select(.key | startswith(\"kube-thermostat.io/\")))) end)}, ",
    "spec: {taints: .spec.taints, unschedulable: .spec.unschedulable}, ",
    "status: {addresses: .status.addresses, allocatable: .status.allocatable}}"
);

/// Keeps what resize-pods reads of a Pod: identity and guards (resourceVersion, generation), labels (opt-in,
/// owner heuristic), our own annotations, owners, placement, container resources and resize policies, and the
/// resize progress in status. Every non-terminal pod is watched because fitting a resize needs the requests of
/// all pods on a node; the filter keeps each one small.
pub const POD_JQ_FILTER: &str = concat!(
    "{metadata: {name: .metadata.name, namespace: .metadata.namespace, uid: .metadata.uid, ",
    "resourceVersion: .metadata.resourceVersion, generation: .metadata.generation, labels: .metadata.labels, ",
    "annotations: ((.metadata.annotations // {}) | with_entries(select(.key | startswith(\"kube-thermostat.io/\")))), ",
    "ownerReferences: .metadata.ownerReferences}, ",
    // Pod-level `resources` (1.34+): resized with the containers from 1.36, and what the pod reserves.
    "spec: {nodeName: .spec.nodeName, overhead: .spec.overhead, resources: .spec.resources, ",
    "containers: [.spec.containers[] | {name, resources, resizePolicy}], ",
    "initContainers: [(.spec.initContainers // [])[] | {name, resources, resizePolicy, restartPolicy}]}, ",
    // `resize` is how 1.32 reports a pending resize (replaced by conditions from 1.33); the pod-level
    // `allocatedResources` and `resources` (1.36+) count in what a pod with pod-level resources reserves. A 1.36+
    // kubelet reports `allocatedResources` for every pod: kept only where `spec.resources` is set, the one place
    // it is read, so the other pods' snapshots stay as small.
    "status: {phase: .status.phase, startTime: .status.startTime, observedGeneration: .status.observedGeneration, ",
    "resize: .status.resize, ",
    "allocatedResources: (if .spec.resources == null then null else .status.allocatedResources end), ",
    "resources: (if .spec.resources == null then null else .status.resources end), ",
    "conditions: [(.status.conditions // [])[] | select(.type | startswith(\"PodResize\"))], ",
    // Only an OOM kill of the previous run is read (it raises memory at once): other terminations stay out.
    "containerStatuses: [(.status.containerStatuses // [])[] | {name, resources, allocatedResources} + ",
    "(.lastState.terminated | if .reason == \"OOMKilled\" then {lastState: {terminated: {reason, finishedAt}}} else {} end)], ",
    "initContainerStatuses: [(.status.initContainerStatuses // [])[] | {name, resources, allocatedResources} + ",
    "(.lastState.terminated | if .reason == \"OOMKilled\" then {lastState: {terminated: {reason, finishedAt}}} else {} end)]}}"
);

/// Namespaces are watched for the opt-in label only.
pub const NAMESPACE_JQ_FILTER: &str =
    "{metadata: {name: .metadata.name, labels: .metadata.labels}}";

/// What `--config` renders, as plain data: the settings code builds it from the checked schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// The taint-nodes crontab; `None` when the controller is disabled (no binding).
    pub taint_schedule: Option<String>,
    /// The resize-pods crontab; `None` when the controller is disabled.
    pub resize_schedule: Option<String>,
    /// Let shell-operator pass cached objects (snapshots) to the schedules.
    pub snapshots: bool,
}

// The structs below mirror shell-operator's v1 schema: field order is output order, and no field is ever null
// (the schema rejects nulls), hence `skip_serializing_if` on every optional one.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigDocument {
    config_version: &'static str,
    /// Only when no controller is enabled: a config of `configVersion` alone is invalid, so the hook runs once
    /// at start-up and says that it has nothing to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    on_startup: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    schedule: Vec<ScheduleBinding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kubernetes: Vec<KubernetesBinding>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleBinding {
    name: &'static str,
    crontab: String,
    allow_failure: bool,
    queue: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    include_snapshots_from: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KubernetesBinding {
    name: &'static str,
    api_version: &'static str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field_selector: Option<FieldSelector>,
    jq_filter: &'static str,
    keep_full_objects_in_memory: bool,
    execute_hook_on_event: Vec<&'static str>,
    execute_hook_on_synchronization: bool,
    queue: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FieldSelector {
    match_expressions: Vec<FieldExpression>,
}

#[derive(Serialize)]
struct FieldExpression {
    field: &'static str,
    operator: &'static str,
    value: &'static str,
}

/// The queue name of each schedule: its own, so a slow or failing controller never delays the other.
fn queue_of(binding: &'static str) -> &'static str {
    binding
}

/// The hook configuration, pretty-printed JSON with a trailing newline.
pub fn render(settings: &HookConfig) -> String {
    let schedule = schedule_bindings(settings);
    let kubernetes = if settings.snapshots {
        watch_bindings(settings)
    } else {
        Vec::new()
    };
    let on_startup = schedule.is_empty().then_some(1);
    let config = ConfigDocument {
        config_version: "v1",
        on_startup,
        schedule,
        kubernetes,
    };
    // Serializing plain structs of strings, bools and vectors cannot fail.
    let mut text = serde_json::to_string_pretty(&config)
        .unwrap_or_else(|_| unreachable!("plain data serializes"));
    text.push('\n');
    text
}

/// One schedule per enabled controller, with the snapshots it reads.
fn schedule_bindings(settings: &HookConfig) -> Vec<ScheduleBinding> {
    let snapshots = settings.snapshots;
    let mut schedule = Vec::new();
    if let Some(crontab) = &settings.taint_schedule {
        schedule.push(ScheduleBinding {
            name: binding::TAINT_NODES,
            crontab: crontab.clone(),
            allow_failure: true,
            queue: queue_of(binding::TAINT_NODES),
            include_snapshots_from: if snapshots {
                vec![binding::NODES]
            } else {
                vec![]
            },
        });
    }
    if let Some(crontab) = &settings.resize_schedule {
        schedule.push(ScheduleBinding {
            name: binding::RESIZE_PODS,
            crontab: crontab.clone(),
            allow_failure: true,
            queue: queue_of(binding::RESIZE_PODS),
            include_snapshots_from: if snapshots {
                vec![binding::NODES, binding::PODS, binding::NAMESPACES]
            } else {
                vec![]
            },
        });
    }
    schedule
}

/// The watches that keep shell-operator's cache of the objects the enabled controllers read.
fn watch_bindings(settings: &HookConfig) -> Vec<KubernetesBinding> {
    let mut kubernetes = Vec::new();
    // `executeHookOnEvent: []` and no synchronization run: these bindings only keep shell-operator's cache
    // current for the schedules; the hook never runs for a watch event. They sit on a queue of their own
    // so that, should shell-operator ever queue anything for them, no controller waits behind it.
    let watch = |name, kind, field_selector, jq_filter| KubernetesBinding {
        name,
        api_version: "v1",
        kind,
        field_selector,
        jq_filter,
        keep_full_objects_in_memory: false,
        execute_hook_on_event: vec![],
        execute_hook_on_synchronization: false,
        queue: "kube-thermostat-cache",
    };
    let resize = settings.resize_schedule.is_some();
    if settings.taint_schedule.is_some() || resize {
        kubernetes.push(watch(binding::NODES, "Node", None, NODE_JQ_FILTER));
    }
    if resize {
        // Finished pods hold no node resources: leave them out of the cache.
        let non_terminal = FieldSelector {
            match_expressions: vec![
                FieldExpression {
                    field: "status.phase",
                    operator: "NotEquals",
                    value: "Succeeded",
                },
                FieldExpression {
                    field: "status.phase",
                    operator: "NotEquals",
                    value: "Failed",
                },
            ],
        };
        kubernetes.push(watch(
            binding::PODS,
            "Pod",
            Some(non_terminal),
            POD_JQ_FILTER,
        ));
        kubernetes.push(watch(
            binding::NAMESPACES,
            "Namespace",
            None,
            NAMESPACE_JQ_FILTER,
        ));
    }
    kubernetes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> HookConfig {
        HookConfig {
            taint_schedule: Some("* * * * *".into()),
            resize_schedule: Some("*/2 * * * *".into()),
            snapshots: true,
        }
    }

    #[test]
    fn schedules_have_their_own_queue_and_allow_failure() {
        let config: serde_json::Value = serde_json::from_str(&render(&defaults())).unwrap();
        let schedules = config["schedule"].as_array().unwrap();
        assert_eq!(schedules.len(), 2);
        assert_eq!(schedules[0]["queue"], "taint-nodes");
        assert_eq!(schedules[1]["queue"], "resize-pods");
        assert!(schedules.iter().all(|s| s["allowFailure"] == true));
    }

    #[test]
    fn without_snapshots_there_are_no_kubernetes_bindings() {
        let settings = HookConfig {
            snapshots: false,
            ..defaults()
        };
        let config: serde_json::Value = serde_json::from_str(&render(&settings)).unwrap();
        assert!(config.get("kubernetes").is_none());
        assert!(config["schedule"][0].get("includeSnapshotsFrom").is_none());
    }

    #[test]
    fn a_disabled_controller_has_no_binding() {
        let settings = HookConfig {
            resize_schedule: None,
            ..defaults()
        };
        let config: serde_json::Value = serde_json::from_str(&render(&settings)).unwrap();
        assert_eq!(config["schedule"].as_array().unwrap().len(), 1);
        let watched: Vec<&str> = config["kubernetes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap())
            .collect();
        assert_eq!(watched, ["nodes"]);
    }
}
