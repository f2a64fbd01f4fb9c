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
use std::collections::HashMap;

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

/// The HPAs that scale on cpu or memory, by the workload they target: a pod's HPA is found with one lookup
/// instead of a pass over every HPA (pods x HPAs comparisons each tick: 25 million at 25,000 pods and
/// 1,000 HPAs). Such an HPA computes utilization against requests, so changing requests under it moves its
/// replica count. An HPA without metrics defaults to 80 % CPU, so it counts too.
#[derive(Debug, Default)]
pub struct SteeringHpas<'a> {
    /// (namespace, kind, name) -> (position in the list, HPA name): the first in the list wins, as a search would.
    by_target: HashMap<(&'a str, &'a str, &'a str), (usize, &'a str)>,
    /// HPAs without a namespace (not as the API serves them) match the owner in any namespace: few, searched.
    anywhere: Vec<(usize, &'a str, &'a str, &'a str)>,
}

impl<'a> SteeringHpas<'a> {
    pub fn new(hpas: &'a [HorizontalPodAutoscaler]) -> Self {
        let mut index = SteeringHpas::default();
        for (position, hpa) in hpas.iter().enumerate() {
            let Some(spec) = hpa.spec.as_ref() else {
                continue;
            };
            if !scales_on_cpu_or_memory(hpa) {
                continue;
            }
            let target = &spec.scale_target_ref;
            let name = hpa.metadata.name.as_deref().unwrap_or("<unnamed>");
            match hpa.metadata.namespace.as_deref() {
                Some(namespace) => {
                    index
                        .by_target
                        .entry((namespace, target.kind.as_str(), target.name.as_str()))
                        .or_insert((position, name));
                }
                None => index.anywhere.push((
                    position,
                    target.kind.as_str(),
                    target.name.as_str(),
                    name,
                )),
            }
        }
        index
    }

    /// The HPA (by name) that scales the owner, in `namespace`, on cpu or memory, if any.
    pub fn steering(&self, owner: &Owner, namespace: &str) -> Option<&'a str> {
        let here = self
            .by_target
            .get(&(namespace, owner.kind.as_str(), owner.name.as_str()))
            .copied();
        let anywhere = self
            .anywhere
            .iter()
            .find(|(_, kind, name, _)| *kind == owner.kind && *name == owner.name)
            .map(|&(position, _, _, hpa)| (position, hpa));
        [here, anywhere]
            .into_iter()
            .flatten()
            .min_by_key(|&(position, _)| position)
            .map(|(_, hpa)| hpa)
    }
}

fn scales_on_cpu_or_memory(hpa: &HorizontalPodAutoscaler) -> bool {
    match hpa.spec.as_ref().and_then(|spec| spec.metrics.as_deref()) {
        None | Some([]) => true,
        Some(metrics) => metrics.iter().any(|metric| {
            let resource = metric
                .resource
                .as_ref()
                .map(|r| r.name.as_str())
                .or_else(|| metric.container_resource.as_ref().map(|r| r.name.as_str()));
            matches!(resource, Some("cpu" | "memory"))
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hpa(
        name: &str,
        namespace: Option<&str>,
        target: &str,
        metric: &str,
    ) -> HorizontalPodAutoscaler {
        let mut object = json!({"metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "maxReplicas": 5,
                     "metrics": [{"type": "Resource", "resource": {"name": metric,
                                  "target": {"type": "Utilization", "averageUtilization": 70}}}]}});
        if let Some(namespace) = namespace {
            object["metadata"]["namespace"] = json!(namespace);
        }
        serde_json::from_value(object).expect("hpa")
    }

    fn deployment(name: &str) -> Owner {
        Owner {
            kind: "Deployment".to_string(),
            name: name.to_string(),
        }
    }

    #[test]
    fn the_steering_hpa_is_the_first_in_the_list_that_targets_the_owner_on_cpu_or_memory() {
        let hpas = [
            hpa("on-queue", Some("shop"), "web", "queue"),
            hpa("elsewhere", Some("other"), "web", "cpu"),
            hpa("first", Some("shop"), "web", "memory"),
            hpa("second", Some("shop"), "web", "cpu"),
            hpa("anywhere", None, "api", "cpu"),
            hpa("later", Some("shop"), "api", "cpu"),
        ];
        let index = SteeringHpas::new(&hpas);
        assert_eq!(index.steering(&deployment("web"), "shop"), Some("first"));
        assert_eq!(
            index.steering(&deployment("web"), "other"),
            Some("elsewhere")
        );
        assert_eq!(index.steering(&deployment("web"), "third"), None);
        // A namespace-less HPA matches in every namespace, and wins when it comes first.
        assert_eq!(index.steering(&deployment("api"), "shop"), Some("anywhere"));
        assert_eq!(
            index.steering(&deployment("api"), "third"),
            Some("anywhere")
        );
        assert_eq!(index.steering(&deployment("db"), "shop"), None);
    }
}
