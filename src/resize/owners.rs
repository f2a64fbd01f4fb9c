//! Which workload owns a pod, and whether another autoscaler already steers that workload.
//!
//! Owner heuristic (no ReplicaSet reads, so no extra API calls or RBAC): a pod's controller
//! ownerReference names its owner. A ReplicaSet named `<deployment>-<hash>` whose pods carry the
//! label `pod-template-hash=<hash>` is taken as created by the Deployment `<deployment>`: the
//! Deployment controller names its ReplicaSets exactly so. A ReplicaSet without that shape (created
//! by hand or by another controller) stays a ReplicaSet. StatefulSet, DaemonSet, Job and any other
//! kind are taken as they are. A pod without a controller has no owner and no autoscaler can target it.
//!
//! Pure: reads the pod and the listed autoscalers as given.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde::Serialize;

use crate::model::pod::Pod;

/// A workload, as a `scaleTargetRef` / `targetRef` names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// The workload that owns the pod (see the module notes for the Deployment heuristic).
pub fn owner_of(pod: &Pod) -> Option<Owner> {
    let references = pod.metadata.owner_references.as_deref().unwrap_or_default();
    let reference = references
        .iter()
        .find(|r| r.controller == Some(true))
        .or_else(|| references.first())?;
    if reference.kind == "ReplicaSet" {
        let hash = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get("pod-template-hash"));
        if let Some(deployment) = hash.and_then(|hash| {
            reference
                .name
                .strip_suffix(hash)
                .and_then(|rest| rest.strip_suffix('-'))
        }) && !deployment.is_empty()
        {
            return Some(Owner {
                kind: "Deployment".to_string(),
                name: deployment.to_string(),
            });
        }
    }
    Some(Owner {
        kind: reference.kind.to_string(),
        name: reference.name.to_string(),
    })
}

/// The HPA (by name) that scales the owner on cpu or memory, if any. Such an HPA computes
/// utilization against requests, so changing requests under it moves its replica count. An HPA
/// without metrics defaults to 80 % CPU, so it counts too.
pub fn steering_hpa<'a>(
    owner: &Owner,
    namespace: &str,
    hpas: &'a [HorizontalPodAutoscaler],
) -> Option<&'a str> {
    hpas.iter().find_map(|hpa| {
        let spec = hpa.spec.as_ref()?;
        let same_namespace = hpa.metadata.namespace.as_deref().unwrap_or(namespace) == namespace;
        let targets_owner =
            spec.scale_target_ref.kind == owner.kind && spec.scale_target_ref.name == owner.name;
        if !same_namespace || !targets_owner {
            return None;
        }
        let on_cpu_or_memory = match spec.metrics.as_deref() {
            None | Some([]) => true,
            Some(metrics) => metrics.iter().any(|metric| {
                let resource = metric
                    .resource
                    .as_ref()
                    .map(|r| r.name.as_str())
                    .or_else(|| metric.container_resource.as_ref().map(|r| r.name.as_str()));
                matches!(resource, Some("cpu" | "memory"))
            }),
        };
        on_cpu_or_memory.then(|| hpa.metadata.name.as_deref().unwrap_or("<unnamed>"))
    })
}

/// The VPA (by name) that resizes the owner's pods itself: update mode `Auto` (the default when
/// unset), `Recreate` or `InPlaceOrRecreate`. `Initial` and `Off` only recommend or set sizes at
/// creation, so they leave running pods to us.
pub fn steering_vpa<'a>(
    owner: &Owner,
    namespace: &str,
    vpas: &'a [serde_json::Value],
) -> Option<&'a str> {
    vpas.iter().find_map(|vpa| {
        let metadata = vpa.get("metadata")?;
        let name = metadata
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("<unnamed>");
        let vpa_namespace = metadata
            .get("namespace")
            .and_then(|n| n.as_str())
            .unwrap_or(namespace);
        let spec = vpa.get("spec")?;
        let target = spec.get("targetRef")?;
        let kind = target.get("kind").and_then(|k| k.as_str())?;
        let target_name = target.get("name").and_then(|k| k.as_str())?;
        let mode = spec
            .pointer("/updatePolicy/updateMode")
            .and_then(|m| m.as_str())
            .unwrap_or("Auto");
        let steers = matches!(mode, "Auto" | "Recreate" | "InPlaceOrRecreate");
        (vpa_namespace == namespace && kind == owner.kind && target_name == owner.name && steers)
            .then_some(name)
    })
}
