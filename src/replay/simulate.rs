//! Carrying a replay's simulated state from one tick to the next: what the API server and the kubelet would
//! have made of our writes, applied to the objects in memory. Pure.
//!
//! A replayed write always lands and a resize is actuated at once (spec, status and `observedGeneration`
//! follow, as when the kubelet has room): the replay shows what the policy decides, not what the node could
//! give. Usage stays as recorded.

use compact_str::CompactString;
use k8s_openapi::api::core::v1::Node;

use crate::model::pod::{Container, ContainerStatus, Pod, ResourceList, ResourceRequirements};
use crate::resize::plan::{PodPlan, ResourceChange};
use crate::resize::record::LAST_RESIZE_ANNOTATION;
use crate::taint::{NodeWrite, TAINT_ANNOTATION};

/// A node after our guarded patch ([`crate::taint::node_patch`]) was accepted: its taints and our annotation
/// as written.
pub fn apply_node_write(node: &mut Node, write: &NodeWrite) {
    if write.taints_change() {
        let spec = node.spec.get_or_insert_with(Default::default);
        spec.taints = (!write.taints_after.is_empty()).then(|| write.taints_after.clone());
    }
    if write.annotation_changes() {
        let annotations = node
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        match &write.annotation_after {
            Some(value) => {
                annotations.insert(TAINT_ANNOTATION.to_string(), value.clone());
            }
            None => {
                annotations.remove(TAINT_ANNOTATION);
            }
        }
    }
}

/// A pod after our resize and record were accepted and the kubelet actuated the resize.
pub fn apply_pod_plan(pod: &mut Pod, plan: &PodPlan) {
    if !plan.containers.is_empty() {
        let generation = pod.metadata.generation.unwrap_or(1) + 1;
        pod.metadata.generation = Some(generation);
        let Some(spec) = pod.spec.as_mut() else {
            return;
        };
        let status = pod.status.get_or_insert_with(Default::default);
        for change in &plan.containers {
            let (containers, statuses) = if change.sidecar {
                (
                    spec.init_containers.get_or_insert_with(Vec::new),
                    status.init_container_statuses.get_or_insert_with(Vec::new),
                )
            } else {
                (
                    &mut spec.containers,
                    status.container_statuses.get_or_insert_with(Vec::new),
                )
            };
            let Some(container) = containers.iter_mut().find(|c| c.name == change.name) else {
                continue;
            };
            for resource in &change.changes {
                set_values(
                    container.resources.get_or_insert_with(Default::default),
                    resource,
                );
            }
            actuate(container, statuses);
        }
        if !plan.pod_level.is_empty() {
            let resources = spec.resources.get_or_insert_with(Default::default);
            for change in &plan.pod_level {
                set_values(resources, change);
            }
            // The kubelet's side at pod level (1.36+): allocated and actual follow the spec.
            status.allocated_resources = resources.requests.clone().map(Box::new);
            status.resources = Some(resources.clone());
        }
        status.observed_generation = Some(generation);
    }
    let annotations = pod
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.insert(LAST_RESIZE_ANNOTATION, plan.record.as_str());
}

/// `change.to` written into `resources` (absent values stay as they are).
fn set_values(resources: &mut ResourceRequirements, change: &ResourceChange) {
    let name = CompactString::from(change.resource.name());
    if let Some(request) = change.to.request {
        let text = change.resource.format(request);
        resources
            .requests
            .get_or_insert_with(ResourceList::default)
            .insert(name.clone(), text.into());
    }
    if let Some(limit) = change.to.limit {
        let text = change.resource.format(limit);
        resources
            .limits
            .get_or_insert_with(ResourceList::default)
            .insert(name, text.into());
    }
}

/// The kubelet's side of a finished resize: the status reports the spec's resources, requests allocated.
fn actuate(container: &Container, statuses: &mut Vec<ContainerStatus>) {
    let resources = container.resources.clone().unwrap_or_default();
    let position = statuses.iter().position(|s| s.name == container.name);
    let status = match position {
        Some(at) => &mut statuses[at],
        None => {
            statuses.push(ContainerStatus {
                name: container.name.clone(),
                ..ContainerStatus::default()
            });
            statuses.last_mut().expect("just pushed")
        }
    };
    status.allocated_resources = resources.requests.clone();
    status.resources = Some(resources);
}

/// Our state removed, so a replay starts as if kube-thermostat were enabled at its first tick: the taint
/// we own on a node that records owning it, that record, and our resize records. Other taints and
/// annotations (the per-pod overrides among them) stay.
pub fn strip_our_state(nodes: &mut [Node], pods: &mut [Pod], taint_key: &str) {
    for node in nodes {
        let owned = node
            .metadata
            .annotations
            .as_mut()
            .and_then(|a| a.remove(TAINT_ANNOTATION))
            .is_some();
        if owned && let Some(taints) = node.spec.as_mut().and_then(|s| s.taints.as_mut()) {
            taints.retain(|t| t.key != taint_key);
            if taints.is_empty() {
                node.spec.as_mut().expect("has taints").taints = None;
            }
        }
    }
    for pod in pods {
        if let Some(annotations) = pod.metadata.annotations.as_mut() {
            annotations.remove(LAST_RESIZE_ANNOTATION);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resize::plan::{ContainerChange, PodAction, ResourceChange};
    use crate::resize::record::Direction;
    use crate::resize::values::{Resource, Values};
    use k8s_openapi::api::core::v1::Taint;
    use serde_json::json;

    fn taint(key: &str) -> Taint {
        Taint {
            key: key.to_string(),
            effect: "NoSchedule".to_string(),
            ..Taint::default()
        }
    }

    #[test]
    fn a_node_write_sets_the_taints_and_our_record_and_keeps_the_rest() {
        let mut node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n", "annotations": {"other": "x"}},
            "spec": {"taints": [{"key": "foreign", "effect": "NoSchedule"}]}
        }))
        .unwrap();
        let write = NodeWrite {
            node: "n".to_string(),
            taints_before: Some(vec![taint("foreign")]),
            taints_after: vec![taint("foreign"), taint("kube-thermostat.io/hot")],
            annotations_present: true,
            annotation_before: None,
            annotation_after: Some("{}".to_string()),
            event: None,
        };
        apply_node_write(&mut node, &write);
        let taints = node.spec.as_ref().unwrap().taints.as_ref().unwrap();
        assert_eq!(taints.len(), 2);
        let annotations = node.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[TAINT_ANNOTATION], "{}");
        assert_eq!(annotations["other"], "x");

        let untaint = NodeWrite {
            taints_before: Some(taints.clone()),
            taints_after: Vec::new(),
            annotation_before: Some("{}".to_string()),
            annotation_after: None,
            ..write
        };
        apply_node_write(&mut node, &untaint);
        assert_eq!(node.spec.as_ref().unwrap().taints, None);
        assert!(
            !node
                .metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key(TAINT_ANNOTATION)
        );
    }

    #[test]
    fn a_resize_is_actuated_at_once_with_our_record() {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "generation": 3},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                                 "limits": {"cpu": "1"}}}]},
            "status": {"observedGeneration": 3, "containerStatuses": [{"name": "c"}]}
        }))
        .unwrap();
        let plan = PodPlan {
            namespace: "ns".to_string(),
            name: "p".to_string(),
            resource_version: None,
            node: "n".to_string(),
            action: PodAction::Resize,
            containers: vec![ContainerChange {
                name: "c".to_string(),
                sidecar: false,
                changes: vec![ResourceChange {
                    resource: Resource::Cpu,
                    direction: Direction::Down,
                    from: Values {
                        request: Some(1000),
                        limit: Some(1000),
                    },
                    to: Values {
                        request: Some(250),
                        limit: Some(250),
                    },
                    why: "idle".to_string(),
                    oom_killed_at: None,
                }],
            }],
            pod_level: Vec::new(),
            record: "{\"c\":{}}".to_string(),
            record_if_refused: None,
            event: None,
        };
        apply_pod_plan(&mut pod, &plan);
        let resources = pod.spec.as_ref().unwrap().containers[0]
            .resources
            .as_ref()
            .unwrap();
        assert_eq!(
            resources.requests.as_ref().unwrap().get("cpu"),
            Some("250m")
        );
        assert_eq!(
            resources.requests.as_ref().unwrap().get("memory"),
            Some("1Gi")
        );
        assert_eq!(resources.limits.as_ref().unwrap().get("cpu"), Some("250m"));
        let status = pod.status.as_ref().unwrap();
        assert_eq!(pod.metadata.generation, Some(4));
        assert_eq!(
            status.observed_generation,
            Some(4),
            "the kubelet has caught up"
        );
        let container_status = &status.container_statuses.as_ref().unwrap()[0];
        assert_eq!(container_status.resources.as_ref(), Some(resources));
        assert_eq!(
            container_status
                .allocated_resources
                .as_ref()
                .unwrap()
                .get("cpu"),
            Some("250m")
        );
        let annotations = pod.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.get(LAST_RESIZE_ANNOTATION), Some("{\"c\":{}}"));
    }

    #[test]
    fn stripping_drops_our_owned_taint_and_records_only() {
        let mut nodes: Vec<Node> = vec![
            serde_json::from_value(json!({
                "metadata": {"name": "ours", "annotations": {TAINT_ANNOTATION: "{}", "keep": "1"}},
                "spec": {"taints": [{"key": "kube-thermostat.io/hot", "effect": "NoSchedule"},
                                    {"key": "foreign", "effect": "NoSchedule"}]}
            }))
            .unwrap(),
            // Our key without our record: someone else's taint, left alone.
            serde_json::from_value(json!({
                "metadata": {"name": "theirs"},
                "spec": {"taints": [{"key": "kube-thermostat.io/hot", "effect": "NoSchedule"}]}
            }))
            .unwrap(),
        ];
        let mut pods: Vec<Pod> = vec![
            serde_json::from_value(json!({"metadata": {"name": "p", "annotations": {
                LAST_RESIZE_ANNOTATION: "{}", "kube-thermostat.io/cpu-max": "2"}}}))
            .unwrap(),
        ];
        strip_our_state(&mut nodes, &mut pods, "kube-thermostat.io/hot");
        let keys = |node: &Node| -> Vec<String> {
            node.spec
                .as_ref()
                .unwrap()
                .taints
                .iter()
                .flatten()
                .map(|t| t.key.clone())
                .collect()
        };
        assert_eq!(keys(&nodes[0]), ["foreign"]);
        assert_eq!(nodes[0].metadata.annotations.as_ref().unwrap().len(), 1);
        assert_eq!(keys(&nodes[1]), ["kube-thermostat.io/hot"]);
        let annotations = pods[0].metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.get(LAST_RESIZE_ANNOTATION), None);
        assert_eq!(
            annotations.get("kube-thermostat.io/cpu-max"),
            Some("2"),
            "overrides stay"
        );
    }
}
