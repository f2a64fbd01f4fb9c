//! Carrying a replay's simulated state from one tick to the next: what the API server and the kubelet would
//! have made of our writes, applied to the objects in memory. Pure.
//!
//! A replayed write always lands and a resize is actuated at once (spec, status and `observedGeneration`
//! follow, as when the kubelet has room): the replay shows what the policy decides, not what the node could
//! give. Usage stays as recorded.

use compact_str::CompactString;
use k8s_openapi::api::core::v1::Node;

use crate::model::pod::{Container, ContainerStatus, Pod, ResourceList};
use crate::resize::plan::PodPlan;
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
                let name = CompactString::from(resource.resource.name());
                let resources = container.resources.get_or_insert_with(Default::default);
                if let Some(request) = resource.to.request {
                    let text = resource.resource.format(request);
                    resources
                        .requests
                        .get_or_insert_with(ResourceList::default)
                        .insert(name.clone(), text.into());
                }
                if let Some(limit) = resource.to.limit {
                    let text = resource.resource.format(limit);
                    resources
                        .limits
                        .get_or_insert_with(ResourceList::default)
                        .insert(name, text.into());
                }
            }
            actuate(container, statuses);
        }
        status.observed_generation = Some(generation);
    }
    let annotations = pod
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.insert(LAST_RESIZE_ANNOTATION, plan.record.as_str());
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
