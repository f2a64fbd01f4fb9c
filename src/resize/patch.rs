//! Request bodies for a [`PodPlan`]: built explicitly (never from typed structs, whose required
//! fields would be sent too) and guarded by `metadata.resourceVersion`, so a pod changed since we
//! read it answers 409 instead of being overwritten.

use super::decide::{PodPlan, Values};
use super::record::LAST_RESIZE_ANNOTATION;
use serde_json::{Map, Value, json};

/// Content type of [`resize_patch`]: containers merge by `name`; a JSON merge patch would replace
/// the whole list and fail validation.
pub const RESIZE_PATCH_CONTENT_TYPE: &str = "application/strategic-merge-patch+json";
/// Content type of [`annotation_patch`].
pub const ANNOTATION_PATCH_CONTENT_TYPE: &str = "application/merge-patch+json";

/// Path of the resize subresource (1.32+; a 404 there means the server is older or the gate is off).
pub fn resize_path(plan: &PodPlan) -> String {
    format!(
        "/api/v1/namespaces/{}/pods/{}/resize",
        plan.namespace, plan.name
    )
}

/// Path of the pod itself, for the annotation patch.
pub fn pod_path(plan: &PodPlan) -> String {
    format!("/api/v1/namespaces/{}/pods/{}", plan.namespace, plan.name)
}

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
        let mut requests = Map::new();
        let mut limits = Map::new();
        for change in &container.changes {
            let Values { request, limit } = change.to;
            let name = change.resource.name().to_string();
            if request.is_some() && request != change.from.request {
                requests.insert(
                    name.clone(),
                    json!(change.resource.format(request.unwrap_or(0))),
                );
            }
            if limit.is_some() && limit != change.from.limit {
                limits.insert(name, json!(change.resource.format(limit.unwrap_or(0))));
            }
        }
        let mut resources = Map::new();
        if !requests.is_empty() {
            resources.insert("requests".to_string(), Value::Object(requests));
        }
        if !limits.is_empty() {
            resources.insert("limits".to_string(), Value::Object(limits));
        }
        if resources.is_empty() {
            continue;
        }
        let entry = json!({"name": container.name, "resources": resources});
        if container.sidecar {
            init_containers.push(entry);
        } else {
            containers.push(entry);
        }
    }
    if containers.is_empty() && init_containers.is_empty() {
        return None;
    }
    let mut spec = Map::new();
    if !containers.is_empty() {
        spec.insert("containers".to_string(), Value::Array(containers));
    }
    if !init_containers.is_empty() {
        spec.insert("initContainers".to_string(), Value::Array(init_containers));
    }
    Some(json!({"metadata": metadata(plan), "spec": spec}))
}

/// JSON merge patch of our annotation on the pod. Sent after the resize: that one changed the
/// pod's resourceVersion, so the I/O layer passes the version the resize answered with.
pub fn annotation_patch(plan: &PodPlan, resource_version: Option<&str>) -> Value {
    let mut metadata = Map::new();
    if let Some(rv) = resource_version.or(plan.resource_version.as_deref()) {
        metadata.insert("resourceVersion".to_string(), json!(rv));
    }
    metadata.insert(
        "annotations".to_string(),
        json!({ LAST_RESIZE_ANNOTATION: plan.record }),
    );
    json!({ "metadata": metadata })
}

/// `events.k8s.io/v1` Event body regarding the pod. `event_time` (RFC 3339 with microseconds),
/// `name` and `instance` come from the I/O layer, which owns the clock and the identity.
pub fn event_body(
    plan: &PodPlan,
    pod_uid: Option<&str>,
    event_time: &str,
    name: &str,
    instance: &str,
) -> Option<Value> {
    let event = plan.event.as_ref()?;
    // Event notes are limited to 1 kB by validation.
    let mut note = event.note.clone();
    if note.len() > 1024 {
        let mut cut = 1021;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    Some(json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": plan.namespace},
        "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": plan.namespace, "name": plan.name, "uid": pod_uid.unwrap_or_default()},
        "reason": event.reason,
        "type": event.type_,
        "note": note,
        "action": "Resize",
        "eventTime": event_time,
        "reportingController": "kube-thermostat.io/resize-pods",
        "reportingInstance": instance,
    }))
}
