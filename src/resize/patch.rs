//! Request bodies for a [`PodPlan`]: built explicitly (never from typed structs, whose required
//! fields would be sent too) and guarded by `metadata.resourceVersion`, so a pod changed since we
//! read it answers 409 instead of being overwritten. The resize goes as a strategic merge patch
//! (containers merge by `name`; a JSON merge patch would replace the whole list), the annotation
//! as a merge patch; `kube::Patch` carries the content types.
//!
//! Pure: bodies only; the shell sends them.

use super::plan::{PodPlan, ResourceChange};
use super::record::LAST_RESIZE_ANNOTATION;
use super::values::Values;
use serde_json::{Map, Value, json};

fn metadata(plan: &PodPlan) -> Map<String, Value> {
    let mut metadata = Map::new();
    if let Some(rv) = &plan.resource_version {
        metadata.insert("resourceVersion".to_string(), json!(rv));
    }
    metadata
}

/// Strategic merge patch for `PATCH pods/{name}/resize` carrying only the changed values;
/// `None` when no container changes (an annotation-only plan).
pub fn resize_patch(plan: &PodPlan) -> Option<Value> {
    let mut containers = Vec::new();
    let mut init_containers = Vec::new();
    for container in &plan.containers {
        let Some(resources) = resources_patch(&container.changes) else {
            continue;
        };
        let entry = json!({"name": container.name, "resources": resources});
        if container.sidecar {
            init_containers.push(entry);
        } else {
            containers.push(entry);
        }
    }
    // Pod-level resources go in the same patch: the server checks the containers against the new pod-level
    // values (kubernetes 1.36 pkg/registry/core/pod/strategy.go dropNonResizeUpdates keeps `spec.resources`;
    // validation.go validatePodResourceConsistency). Merged by key, so only the changed values are sent.
    let pod_level = resources_patch(&plan.pod_level);
    if containers.is_empty() && init_containers.is_empty() && pod_level.is_none() {
        return None;
    }
    let mut spec = Map::new();
    if let Some(resources) = pod_level {
        spec.insert("resources".to_string(), Value::Object(resources));
    }
    if !containers.is_empty() {
        spec.insert("containers".to_string(), Value::Array(containers));
    }
    if !init_containers.is_empty() {
        spec.insert("initContainers".to_string(), Value::Array(init_containers));
    }
    Some(json!({"metadata": metadata(plan), "spec": spec}))
}

/// `{requests, limits}` with only the values that change; `None` when none does.
fn resources_patch(changes: &[ResourceChange]) -> Option<Map<String, Value>> {
    let mut requests = Map::new();
    let mut limits = Map::new();
    for change in changes {
        let Values { request, limit } = change.to;
        let name = change.resource.name().to_string();
        if let Some(request) = request.filter(|r| Some(*r) != change.from.request) {
            requests.insert(name.clone(), json!(change.resource.format(request)));
        }
        if let Some(limit) = limit.filter(|l| Some(*l) != change.from.limit) {
            limits.insert(name, json!(change.resource.format(limit)));
        }
    }
    let mut resources = Map::new();
    if !requests.is_empty() {
        resources.insert("requests".to_string(), Value::Object(requests));
    }
    if !limits.is_empty() {
        resources.insert("limits".to_string(), Value::Object(limits));
    }
    (!resources.is_empty()).then_some(resources)
}

/// JSON merge patch of our annotation on the pod. Sent after the resize: that one changed the
/// pod's resourceVersion, so the I/O layer passes the version the resize answered with.
pub fn annotation_patch(plan: &PodPlan, resource_version: Option<&str>) -> Value {
    record_patch(plan, &plan.record, resource_version)
}

/// Our annotation set to `record`, guarded by the pod's `resourceVersion`.
pub fn record_patch(plan: &PodPlan, record: &str, resource_version: Option<&str>) -> Value {
    let mut metadata = Map::new();
    if let Some(rv) = resource_version.or(plan.resource_version.as_deref()) {
        metadata.insert("resourceVersion".to_string(), json!(rv));
    }
    metadata.insert(
        "annotations".to_string(),
        json!({ LAST_RESIZE_ANNOTATION: record }),
    );
    json!({ "metadata": metadata })
}
