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

use super::values::Resource;
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
    /// The HPAs that steer, in list order.
    hpas: Vec<HpaSteering<'a>>,
    /// (namespace, kind, name) -> index in `hpas`: the first in the list wins, as a search would.
    by_target: HashMap<(&'a str, &'a str, &'a str), usize>,
    /// HPAs without a namespace (not as the API serves them) match the owner in any namespace: few, searched.
    anywhere: Vec<(&'a str, &'a str, usize)>,
}

/// What one HPA steers: each `(resource, container)` its metrics compute utilization of. `None` as the
/// container is every container (a `Resource` metric: the pod's total against the sum of requests); a
/// `ContainerResource` metric reads only the named container's usage against that container's request
/// (k8s.io/api autoscaling/v2 types.go, ContainerResourceMetricSource), so the other containers' requests do
/// not move it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpaSteering<'a> {
    pub name: &'a str,
    steered: Vec<(Resource, Option<&'a str>)>,
}

impl HpaSteering<'_> {
    /// Whether changing `resource` of `container` moves this HPA's replica count.
    pub fn steers(&self, resource: Resource, container: &str) -> bool {
        self.steered
            .iter()
            .any(|(r, c)| *r == resource && c.is_none_or(|c| c == container))
    }

    /// True when the HPA steers both cpu and memory of every container (`Resource` metrics on both): nothing is
    /// left to resize.
    pub fn steers_everything(&self) -> bool {
        [Resource::Cpu, Resource::Memory]
            .iter()
            .all(|resource| self.steered.contains(&(*resource, None)))
    }

    /// The resources it scales on, for reasons: "cpu", "memory", "cpu and memory", with the container a
    /// `ContainerResource` metric names (`cpu of container app`).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for resource in [Resource::Cpu, Resource::Memory] {
            if self.steered.contains(&(resource, None)) {
                parts.push(resource.name().to_string());
                continue;
            }
            let containers: Vec<&str> = self
                .steered
                .iter()
                .filter(|(r, _)| *r == resource)
                .filter_map(|(_, c)| *c)
                .collect();
            if !containers.is_empty() {
                let plural = if containers.len() > 1 { "s" } else { "" };
                parts.push(format!(
                    "{} of container{plural} {}",
                    resource.name(),
                    containers.join(", ")
                ));
            }
        }
        parts.join(" and ")
    }
}

impl<'a> SteeringHpas<'a> {
    pub fn new(hpas: &'a [HorizontalPodAutoscaler]) -> Self {
        let mut index = SteeringHpas::default();
        for hpa in hpas {
            let Some(spec) = hpa.spec.as_ref() else {
                continue;
            };
            let steered = steered_resources(hpa);
            if steered.is_empty() {
                continue;
            }
            let target = &spec.scale_target_ref;
            let at = index.hpas.len();
            index.hpas.push(HpaSteering {
                name: hpa.metadata.name.as_deref().unwrap_or("<unnamed>"),
                steered,
            });
            match hpa.metadata.namespace.as_deref() {
                Some(namespace) => {
                    index
                        .by_target
                        .entry((namespace, target.kind.as_str(), target.name.as_str()))
                        .or_insert(at);
                }
                None => index
                    .anywhere
                    .push((target.kind.as_str(), target.name.as_str(), at)),
            }
        }
        index
    }

    /// The HPA that scales the owner, in `namespace`, on cpu or memory, if any.
    pub fn steering(&self, owner: &Owner, namespace: &str) -> Option<&HpaSteering<'a>> {
        let here = self
            .by_target
            .get(&(namespace, owner.kind.as_str(), owner.name.as_str()))
            .copied();
        let anywhere = self
            .anywhere
            .iter()
            .find(|(kind, name, _)| *kind == owner.kind && *name == owner.name)
            .map(|&(_, _, at)| at);
        [here, anywhere]
            .into_iter()
            .flatten()
            .min()
            .map(|at| &self.hpas[at])
    }
}

/// The cpu/memory an HPA's metrics read: `Resource` metrics (every container) and `ContainerResource` ones
/// (one container); no metrics is the 80 % cpu default (k8s.io/api autoscaling/v2 types.go,
/// HorizontalPodAutoscalerSpec.Metrics). `Pods`, `Object` and `External` metrics do not read requests.
fn steered_resources(hpa: &HorizontalPodAutoscaler) -> Vec<(Resource, Option<&str>)> {
    let resource_of = |name: &str| match name {
        "cpu" => Some(Resource::Cpu),
        "memory" => Some(Resource::Memory),
        _ => None,
    };
    match hpa.spec.as_ref().and_then(|spec| spec.metrics.as_deref()) {
        None | Some([]) => vec![(Resource::Cpu, None)],
        Some(metrics) => {
            let mut steered = Vec::new();
            for metric in metrics {
                let found = match (&metric.resource, &metric.container_resource) {
                    (Some(r), _) => resource_of(&r.name).map(|resource| (resource, None)),
                    (None, Some(c)) => {
                        resource_of(&c.name).map(|resource| (resource, Some(c.container.as_str())))
                    }
                    (None, None) => None,
                };
                if let Some(found) = found
                    && !steered.contains(&found)
                {
                    steered.push(found);
                }
            }
            steered
        }
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
        let name = |owner: &str, namespace: &str| {
            index
                .steering(&deployment(owner), namespace)
                .map(|hpa| hpa.name)
        };
        assert_eq!(name("web", "shop"), Some("first"));
        assert_eq!(name("web", "other"), Some("elsewhere"));
        assert_eq!(name("web", "third"), None);
        // A namespace-less HPA matches in every namespace, and wins when it comes first.
        assert_eq!(name("api", "shop"), Some("anywhere"));
        assert_eq!(name("api", "third"), Some("anywhere"));
        assert_eq!(name("db", "shop"), None);
    }

    fn hpa_with(metrics: serde_json::Value) -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 5, "metrics": metrics}}))
        .expect("hpa")
    }

    fn utilization(name: &str) -> serde_json::Value {
        json!({"name": name, "target": {"type": "Utilization", "averageUtilization": 70}})
    }

    #[test]
    fn an_hpa_steers_the_resources_its_metrics_read_and_a_container_metric_only_that_container() {
        let hpas = [hpa_with(json!([
            {"type": "Resource", "resource": utilization("cpu")},
            {"type": "ContainerResource", "containerResource": {"container": "app", "name": "memory",
             "target": {"type": "Utilization", "averageUtilization": 80}}},
            {"type": "Pods", "pods": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "1"}}},
        ]))];
        let index = SteeringHpas::new(&hpas);
        let steering = index.steering(&deployment("web"), "shop").expect("steers");
        assert!(steering.steers(Resource::Cpu, "app") && steering.steers(Resource::Cpu, "proxy"));
        assert!(steering.steers(Resource::Memory, "app"));
        assert!(
            !steering.steers(Resource::Memory, "proxy"),
            "only the named container's memory"
        );
        assert!(!steering.steers_everything());
        assert_eq!(steering.describe(), "cpu and memory of container app");
    }

    #[test]
    fn an_hpa_without_metrics_steers_cpu_only_and_one_on_both_steers_everything() {
        let default = [hpa_with(json!(null))];
        let index = SteeringHpas::new(&default);
        let steering = index
            .steering(&deployment("web"), "shop")
            .expect("80 % cpu by default");
        assert!(steering.steers(Resource::Cpu, "app") && !steering.steers(Resource::Memory, "app"));
        assert_eq!(steering.describe(), "cpu");
        let both = [hpa_with(json!([
            {"type": "Resource", "resource": utilization("memory")},
            {"type": "Resource", "resource": utilization("cpu")},
        ]))];
        let index = SteeringHpas::new(&both);
        let steering = index.steering(&deployment("web"), "shop").expect("steers");
        assert!(steering.steers_everything());
        assert_eq!(steering.describe(), "cpu and memory");
        let elsewhere = [hpa_with(json!([
            {"type": "Resource", "resource": utilization("ephemeral-storage")},
        ]))];
        assert!(
            SteeringHpas::new(&elsewhere)
                .steering(&deployment("web"), "shop")
                .is_none()
        );
    }
}
