//! The `PodResizeValidator` admission plugin of Kubernetes 1.36+ (kubernetes
//! `plugin/pkg/admission/podresize/admission.go`): on a `pods/{name}/resize` update that changes the spec of a
//! pod bound to a node, 403 `Forbidden` when the node is not in its informer ("node \"X\" not found"), when the
//! node's `kubernetes.io/os` label says another platform than `linux` (cause `UnsupportedPlatform`; a node
//! without the label passes), when the pod's requests exceed the node's allocatable (cause `NodeCapacity`), and, while its node informer has not synced yet,
//! "not yet ready to handle request" (after `WaitForReady`'s 10 s, k8s.io/apiserver `admission/handler.go`).

use serde_json::Value;

use super::status::{self, ApiError};
use super::validate::quantity_in;

/// The first minor version with the plugin (on by default).
pub(crate) const FIRST_MINOR: u32 = 36;

/// `admission.NewForbidden(a, err)`: the resource of the attributes is `pods` (no subresource in the message).
fn forbidden(name: &str, why: &str, cause: Option<&str>) -> ApiError {
    status::admission_forbidden("pods", name, why, cause)
}

pub(crate) fn not_ready(name: &str) -> ApiError {
    forbidden(name, "not yet ready to handle request", None)
}

/// `validatePodResize` on the pod as it would be stored (`new`), against what is stored (`old`).
pub(crate) fn validate(
    new: &Value,
    old: &Value,
    name: &str,
    node_of: impl FnOnce(&str) -> Option<Value>,
) -> Result<(), ApiError> {
    let node_name = new["spec"]["nodeName"].as_str().unwrap_or_default();
    // Only bound pods, and only when the spec (so the generation) changes.
    if node_name.is_empty() || new["spec"] == old["spec"] {
        return Ok(());
    }
    let Some(node) = node_of(node_name) else {
        return Err(forbidden(
            name,
            &format!("node {node_name:?} not found"),
            None,
        ));
    };
    // The platform first, then capacity; a node without the label passes (`validateLinuxNode`: `!ok || val ==
    // "linux"`, 1.36.3 and 1.37.2; the real servers agree in tests/it/real_apiserver.rs).
    if let Some(os) = node["metadata"]["labels"]["kubernetes.io/os"].as_str()
        && os != "linux"
    {
        return Err(forbidden(
            name,
            &format!(
                "pod resize is only supported on linux nodes, node {:?} is {os:?}",
                node["metadata"]["name"].as_str().unwrap_or_default()
            ),
            Some("UnsupportedPlatform"),
        ));
    }
    let allocatable = &node["status"]["allocatable"];
    let cpu_allocatable = (quantity_in(allocatable, "cpu").unwrap_or(0) + 999_999) / 1_000_000;
    let memory_allocatable =
        (quantity_in(allocatable, "memory").unwrap_or(0) + 999_999_999) / 1_000_000_000;
    // Quantity's MilliValue and Value round up.
    let cpu_requests = (pod_requests(new, "cpu") + 999_999) / 1_000_000;
    let memory_requests = (pod_requests(new, "memory") + 999_999_999) / 1_000_000_000;
    let mut short = Vec::new();
    if cpu_requests > cpu_allocatable {
        short.push(format!(
            "cpu, requested: {cpu_requests}, allocatable: {cpu_allocatable}"
        ));
    }
    if memory_requests > memory_allocatable {
        short.push(format!(
            "memory, requested: {memory_requests}, allocatable: {memory_allocatable}"
        ));
    }
    if !short.is_empty() {
        return Err(forbidden(
            name,
            &format!(
                "node didn't have enough allocatable resources: {}",
                short.join("; ")
            ),
            Some("NodeCapacity"),
        ));
    }
    Ok(())
}

/// A pod's request of `resource` in billionths (kubernetes `pkg/api/v1/resource` `PodRequests`): its containers
/// and restartable init containers (sidecars) summed, a plain init container's request if that is larger, plus
/// the pod overhead.
fn pod_requests(pod: &Value, resource: &str) -> i128 {
    let request = |container: &Value| quantity_in(&container["resources"]["requests"], resource);
    let mut sum: i128 = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(request)
        .sum();
    let mut largest_init = 0;
    for init in pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let value = request(init).unwrap_or(0);
        if init["restartPolicy"] == "Always" {
            sum += value;
        } else {
            largest_init = largest_init.max(sum + value);
        }
    }
    // Pod-level requests (KEP-2837), where set, replace the containers' (k8s.io/component-helpers
    // resource/helpers.go, PodRequests).
    let requests = quantity_in(&pod["spec"]["resources"]["requests"], resource)
        .unwrap_or(sum.max(largest_init));
    requests + quantity_in(&pod["spec"]["overhead"], resource).unwrap_or(0)
}

/// The `NodeDeclaredFeatureValidator` admission plugin of 1.36+ (kubernetes
/// `plugin/pkg/admission/nodedeclaredfeatures/admission.go`; the features in k8s.io/component-helpers
/// `nodedeclaredfeatures/features/inplacepodresize/`, in the registry's order): a resize that changes the
/// pod-level resources or a non-sidecar init container's resources needs the node to declare the feature in
/// `status.declaredFeatures`; 403 otherwise. It runs before `PodResizeValidator` (the server's plugin order).
pub(crate) fn validate_declared_features(
    new: &Value,
    old: &Value,
    name: &str,
    node_of: impl FnOnce(&str) -> Option<Value>,
) -> Result<(), ApiError> {
    let node_name = new["spec"]["nodeName"].as_str().unwrap_or_default();
    if node_name.is_empty() || new["spec"] == old["spec"] {
        return Ok(());
    }
    let mut required = Vec::new();
    let pod_level = |pod: &Value| {
        pod["spec"]
            .get("resources")
            .filter(|r| !r.is_null())
            .cloned()
    };
    if (pod_level(old).is_some() || pod_level(new).is_some()) && pod_level(old) != pod_level(new) {
        required.push("InPlacePodLevelResourcesVerticalScaling");
    }
    let old_init = old["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let new_init = new["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if old_init
        .iter()
        .zip(&new_init)
        .any(|(o, n)| o["restartPolicy"] != "Always" && o.get("resources") != n.get("resources"))
    {
        required.push("InPlacePodVerticalScalingInitContainers");
    }
    if required.is_empty() {
        return Ok(());
    }
    let Some(node) = node_of(node_name) else {
        return Err(forbidden(
            name,
            &format!("node {node_name:?} not found"),
            None,
        ));
    };
    let declared: Vec<&str> = node["status"]["declaredFeatures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let missing: Vec<&str> = required
        .into_iter()
        .filter(|feature| !declared.contains(feature))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(forbidden(
        name,
        &format!(
            "pod update requires features {} which are not available on node {node_name:?}",
            missing.join(", ")
        ),
        None,
    ))
}
