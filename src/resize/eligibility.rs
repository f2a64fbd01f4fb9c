//! Which pods and containers resize-pods may act on: opted-in pods ([`is_opted_in`]), the reasons a pod is not
//! considered at all, and the containers the rules may resize. Pure.

use super::fit::is_sidecar;
use super::owners::{HpaSteering, SteeringHpas, owner_of, steering_vpa};
use super::values::Resource;
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
/// without in-place resize, pod-level resources on a server before 1.36.
pub(super) fn not_resizable(pod: &Pod, server_minor: u32) -> Option<String> {
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
    if has_pod_level_resources(pod) && server_minor < FIRST_MINOR_RESIZING_POD_LEVEL {
        // 1.33 refuses the resize outright; 1.34 and 1.35 unless the alpha InPlacePodLevelResourcesVerticalScaling
        // gate is on (kubernetes 1.33 pkg/apis/core/validation/validation.go ValidatePodResize; 1.36
        // pkg/features/kube_features.go: beta and on from 1.36).
        return Some(format!(
            "pod-level resources (spec.resources) are resized in place from Kubernetes 1.{FIRST_MINOR_RESIZING_POD_LEVEL}; the server is 1.{server_minor}"
        ));
    }
    None
}

/// The first minor whose API server resizes pods with pod-level resources by default (KEP-5419).
pub(super) const FIRST_MINOR_RESIZING_POD_LEVEL: u32 = 36;

/// True when `spec.resources` sets a request or a limit (an empty one is as good as none, as the API server's
/// `isPodLevelResourcesSet` says in ValidatePodResize).
pub(super) fn has_pod_level_resources(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.resources.as_deref())
        .is_some_and(|r| {
            [&r.requests, &r.limits]
                .into_iter()
                .any(|list| list.as_ref().is_some_and(|l| l.iter().next().is_some()))
        })
}

/// How another autoscaler steers the pod's owner: not at all (`Ok(None)`); on some of its resources, which are
/// then kept (`Ok(Some)`: an HPA on cpu leaves memory to us, as VPA's `controlledResources: [memory]` does); or
/// on everything we would resize (`Err`, the reason to leave the pod alone). `enabled` says which resources
/// this pod's policy resizes at all.
pub(super) fn steered_by_another_autoscaler<'a>(
    pod: &Pod,
    hpas: &'a SteeringHpas<'a>,
    vpas: &[serde_json::Value],
    enabled: impl Fn(Resource) -> bool,
) -> Result<Option<Steered<'a>>, String> {
    let Some(owner) = owner_of(pod) else {
        return Ok(None);
    };
    let ns = namespace_and_name(pod).0;
    if let Some(vpa) = steering_vpa(&owner, ns, vpas) {
        return Err(format!("VerticalPodAutoscaler {vpa} resizes {owner}"));
    }
    let Some(hpa) = hpas.steering(&owner, ns) else {
        return Ok(None);
    };
    let scales = format!(
        "HorizontalPodAutoscaler {} scales {owner} on {}",
        hpa.name,
        hpa.describe()
    );
    if hpa.steers_everything() {
        return Err(scales);
    }
    let containers = resizable_containers(pod);
    let left = |resource: Resource| {
        containers
            .iter()
            .any(|(c, _, _)| !hpa.steers(resource, &c.name))
    };
    let free: Vec<Resource> = [Resource::Cpu, Resource::Memory]
        .into_iter()
        .filter(|r| left(*r))
        .collect();
    if !free.iter().any(|r| enabled(*r)) {
        // What the HPA leaves us is turned off: say both, so the fix (RESIZE_MEMORY) is in the reason.
        let off = free
            .iter()
            .map(|r| match r {
                Resource::Memory => {
                    "memory resizing is off (RESIZE_MEMORY, or the pod's kube-thermostat.io/memory)"
                }
                Resource::Cpu => "cpu resizing is off (the pod's kube-thermostat.io/cpu)",
            })
            .collect::<Vec<_>>()
            .join(" and ");
        return Err(if off.is_empty() {
            scales
        } else {
            format!("{scales}, and {off}")
        });
    }
    Ok(Some(Steered { hpa, scales }))
}

/// An HPA that scales the pod's owner on some of the pod's resources: those stay as they are, since
/// changing their requests would move its replica count.
#[derive(Debug)]
pub(super) struct Steered<'a> {
    hpa: &'a HpaSteering<'a>,
    /// "HorizontalPodAutoscaler web scales Deployment/web on cpu".
    scales: String,
}

impl Steered<'_> {
    /// Why `resource` of `container` is kept, when the HPA steers it.
    pub(super) fn holds(&self, container: &str, resource: Resource) -> Option<String> {
        self.hpa.steers(resource, container).then(|| {
            format!(
                "{}: {} kept so that its replica count does not move",
                self.scales,
                resource.name()
            )
        })
    }
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
