//! Which pods and containers resize-pods may act on: opted-in pods ([`is_opted_in`]), the reasons a pod is not
//! considered at all, and the containers the rules may resize. Pure.

use super::fit::is_sidecar;
use super::owners::{SteeringHpas, owner_of, steering_vpa};
use crate::model::pod::{Container, ContainerStatus, Pod};
use std::collections::BTreeMap;

/// Opt-in: the pod carries the pod selector label, or its namespace carries the namespace selector label (each a
/// `key=value` pair: `RESIZE_POD_SELECTOR`, `RESIZE_NAMESPACE_SELECTOR`, both `kube-thermostat.io/resize=true` by
/// default).
pub fn is_opted_in(
    pod: &Pod,
    namespace_labels: Option<&BTreeMap<String, String>>,
    pod_selector: (&str, &str),
    namespace_selector: (&str, &str),
) -> bool {
    let pod_label = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(pod_selector.0));
    let namespace_label = namespace_labels.and_then(|l| l.get(namespace_selector.0));
    pod_label == Some(pod_selector.1)
        || namespace_label.map(String::as_str) == Some(namespace_selector.1)
}

/// The pod's namespace and name (empty when absent).
pub(super) fn namespace_and_name(pod: &Pod) -> (&str, &str) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    (ns, name)
}

/// The node the pod is bound to (empty while unbound).
pub(super) fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// Why the pod is not considered at all, by its own fields: no name, not running, not bound, a kubelet
/// without in-place resize, pod-level resources.
pub(super) fn not_resizable(pod: &Pod) -> Option<String> {
    if namespace_and_name(pod).1.is_empty() {
        return Some("pod without a name".to_string());
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown");
    if phase != "Running" {
        return Some(format!("phase is {phase}, not Running"));
    }
    let node = node_name(pod);
    if node.is_empty() {
        // Resizing an unbound pod races the scheduler (kubernetes#126891).
        return Some("not bound to a node yet".to_string());
    }
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    if !statuses.is_empty() && statuses.iter().all(|s| s.resources.is_none()) {
        // A kubelet that supports in-place resize reports what it applied in `resources`; the API
        // server refuses resizes of pods whose running containers lack it (version skew).
        return Some(format!(
            "the kubelet on node {node} reports no container resources: it does not support in-place resize"
        ));
    }
    if pod.spec.as_ref().is_some_and(|s| s.resources.is_some()) {
        return Some(
            "has pod-level resources (spec.resources), which we do not resize".to_string(),
        );
    }
    None
}

/// The HPA or VPA that already steers the pod's owner on cpu/memory, as a reason to leave the pod alone.
pub(super) fn steered_by_another_autoscaler(
    pod: &Pod,
    hpas: &SteeringHpas,
    vpas: &[serde_json::Value],
) -> Option<String> {
    let owner = owner_of(pod)?;
    let ns = namespace_and_name(pod).0;
    if let Some(hpa) = hpas.steering(&owner, ns) {
        return Some(format!(
            "HorizontalPodAutoscaler {hpa} scales {owner} on cpu/memory"
        ));
    }
    steering_vpa(&owner, ns, vpas).map(|vpa| format!("VerticalPodAutoscaler {vpa} resizes {owner}"))
}

fn find_status<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

/// The containers the rules may resize: regular ones and sidecars (restartable init containers).
pub(crate) fn resizable_containers(pod: &Pod) -> Vec<(&Container, bool, Option<&ContainerStatus>)> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let status = pod.status.as_ref();
    let statuses: &[ContainerStatus] = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let init_statuses: &[ContainerStatus] = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let regular = spec
        .containers
        .iter()
        .map(|c| (c, false, find_status(statuses, &c.name)));
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| is_sidecar(c))
        .map(|c| (c, true, find_status(init_statuses, &c.name)));
    regular.chain(sidecars).collect()
}
