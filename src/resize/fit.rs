//! What a pod reserves on its node, as the scheduler and kubelet count it, and what is left.
//!
//! Per resource: the larger of (sum of regular containers and sidecars) and (each plain init
//! container plus the sidecars started before it), plus `spec.overhead`. For every container the
//! larger of the desired (`spec`) and the allocated / actual (`status`) request counts: during a
//! resize, and while one is `Deferred`, the scheduler and kubelet reserve the larger one
//! (kubernetes#135107). Pod-level requests (`spec.resources`), where set, replace the containers' (the larger
//! of spec, allocated and actual from 1.36). Pods that have finished (Succeeded / Failed) reserve nothing.
//!
//! `fit_on_node` holds a tick's upsizes to that: growth is cut to what is left on the node, in the order
//! pods are decided; a pod with pod-level requests may also grow into what they leave above its containers.
//! `pod_level_changes` raises the pod-level values the containers would pass (1.36+). Pure.

use super::draft::Draft;
use super::plan::{ContainerChange, NoteKind, ResourceChange};
use super::record::Direction;
use super::values::{Resource, Values, granularity, round_down, spec_values};
use crate::model::pod::{Container, ContainerStatus, Pod, PodSpec, ResourceList};
use crate::quantity::{QuantityError, cpu_millis, memory_bytes};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Requests of cpu (millicores) and memory (bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reserved {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

impl Reserved {
    /// `value` of `resource`, nothing of the other.
    fn of(resource: Resource, value: i64) -> Reserved {
        match resource {
            Resource::Cpu => Reserved {
                cpu_millis: value,
                memory_bytes: 0,
            },
            Resource::Memory => Reserved {
                cpu_millis: 0,
                memory_bytes: value,
            },
        }
    }
    fn get(self, resource: Resource) -> i64 {
        match resource {
            Resource::Cpu => self.cpu_millis,
            Resource::Memory => self.memory_bytes,
        }
    }
    fn max(self, other: Reserved) -> Reserved {
        Reserved {
            cpu_millis: self.cpu_millis.max(other.cpu_millis),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
        }
    }
    pub fn add(self, other: Reserved) -> Reserved {
        Reserved {
            cpu_millis: self.cpu_millis.saturating_add(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
        }
    }
    pub fn saturating_sub(self, other: Reserved) -> Reserved {
        Reserved {
            cpu_millis: self.cpu_millis.saturating_sub(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
        }
    }
}

/// A pod's resource list or a node's allocatable map (still k8s-openapi's).
trait ResourceLookup {
    fn quantity(&self, name: &str) -> Option<&str>;
}

impl ResourceLookup for ResourceList {
    fn quantity(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

impl ResourceLookup for BTreeMap<String, Quantity> {
    fn quantity(&self, name: &str) -> Option<&str> {
        self.get(name).map(|q| q.0.as_str())
    }
}

/// Reads a cpu/memory map; unparsable values count as zero (the API server validated them).
fn reserved_of(map: Option<&impl ResourceLookup>) -> Reserved {
    let Some(map) = map else {
        return Reserved::default();
    };
    Reserved {
        cpu_millis: map
            .quantity("cpu")
            .and_then(|q| cpu_millis(q).ok())
            .unwrap_or(0),
        memory_bytes: map
            .quantity("memory")
            .and_then(|q| memory_bytes(q).ok())
            .unwrap_or(0),
    }
}

fn container_requests(container: &Container, statuses: &[ContainerStatus]) -> Reserved {
    let spec = reserved_of(
        container
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref()),
    );
    let Some(status) = statuses.iter().find(|s| s.name == container.name) else {
        return spec;
    };
    let allocated = reserved_of(status.allocated_resources.as_ref());
    let actual = reserved_of(status.resources.as_ref().and_then(|r| r.requests.as_ref()));
    spec.max(allocated).max(actual)
}

/// True for a sidecar: an init container with `restartPolicy: Always`.
pub fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// The containers' part of a pod's requests, each container's requests read by `requests`: the larger of (sum of
/// regular containers and sidecars) and (each plain init container plus the sidecars started before it)
/// (k8s.io/component-helpers resource/helpers.go, AggregateContainerRequests).
fn aggregate_requests(spec: &PodSpec, requests: impl Fn(&Container, bool) -> Reserved) -> Reserved {
    let mut sidecars = Reserved::default();
    let mut init_peak = Reserved::default();
    for init in spec.init_containers.as_deref().unwrap_or_default() {
        let own = requests(init, true);
        if is_sidecar(init) {
            sidecars = sidecars.add(own);
            init_peak = init_peak.max(sidecars);
        } else {
            init_peak = init_peak.max(sidecars.add(own));
        }
    }
    let regular = spec
        .containers
        .iter()
        .map(|c| requests(c, false))
        .fold(Reserved::default(), Reserved::add);
    regular.add(sidecars).max(init_peak)
}

/// What the pod reserves on its node (see the module notes).
pub fn pod_reserved(pod: &Pod) -> Reserved {
    if matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    ) {
        return Reserved::default();
    }
    let Some(spec) = pod.spec.as_ref() else {
        return Reserved::default();
    };
    let status = pod.status.as_ref();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let containers = aggregate_requests(spec, |container, init| {
        container_requests(container, if init { init_statuses } else { statuses })
    });
    // Pod-level requests (KEP-2837, 1.34+), where set, are what the scheduler and kubelet reserve for that
    // resource instead of the containers'; from 1.36 the larger of the spec and the pod-level allocated and
    // actual values, as for containers (k8s.io/component-helpers resource/helpers.go, PodRequests). The
    // allocated value already holds the overhead, which is added again after, as PodRequests does.
    let pod_level = spec.resources.as_ref().and_then(|r| r.requests.as_ref());
    let allocated = status.and_then(|s| s.allocated_resources.as_deref());
    let actual = status
        .and_then(|s| s.resources.as_deref())
        .and_then(|r| r.requests.as_ref());
    let pod_level_of = |name: &str, parse: fn(&str) -> Result<i64, QuantityError>| {
        let read = |list: Option<&ResourceList>| {
            list.and_then(|l| l.get(name)).and_then(|q| parse(q).ok())
        };
        let spec = read(pod_level)?;
        Some(
            spec.max(read(allocated).unwrap_or(0))
                .max(read(actual).unwrap_or(0)),
        )
    };
    let requests = Reserved {
        cpu_millis: pod_level_of("cpu", cpu_millis).unwrap_or(containers.cpu_millis),
        memory_bytes: pod_level_of("memory", memory_bytes).unwrap_or(containers.memory_bytes),
    };
    requests.add(reserved_of(spec.overhead.as_deref()))
}

/// A pod's pod-level request and limit of `resource` (`spec.resources`), the request defaulted to the limit as
/// the API server does; `None` when neither is set.
fn pod_level_values(spec: &PodSpec, resource: Resource) -> Option<Values> {
    let resources = spec.resources.as_deref()?;
    let read = |list: Option<&ResourceList>| {
        list.and_then(|l| l.get(resource.name()))
            .and_then(|q| resource.parse(q).ok())
    };
    let limit = read(resources.limits.as_ref());
    let request = read(resources.requests.as_ref()).or(limit);
    (request.is_some() || limit.is_some()).then_some(Values { request, limit })
}

/// The containers' requests and limits of `resource` as the spec says, with this tick's changes applied.
fn container_values(
    container: &Container,
    resource: Resource,
    changes: &[ContainerChange],
) -> Values {
    changes
        .iter()
        .find(|c| c.name == container.name)
        .and_then(|c| c.changes.iter().find(|r| r.resource == resource))
        .map(|r| r.to)
        .unwrap_or_else(|| spec_values(container, resource).unwrap_or_default())
}

/// What a pod's pod-level requests leave above its containers' requests, per resource with a pod-level request:
/// containers may grow into it without the node reserving more (the scheduler counts the pod-level request).
fn pod_level_slack(pod: &Pod) -> Reserved {
    let Some(spec) = pod.spec.as_deref() else {
        return Reserved::default();
    };
    let containers = aggregate_requests(spec, |c, _| {
        let request = |r| container_values(c, r, &[]).request.unwrap_or(0);
        Reserved::of(Resource::Cpu, request(Resource::Cpu))
            .add(Reserved::of(Resource::Memory, request(Resource::Memory)))
    });
    let slack = |resource| {
        pod_level_values(spec, resource)
            .and_then(|v| v.request)
            .map_or(0, |p| (p - containers.get(resource)).max(0))
    };
    Reserved::of(Resource::Cpu, slack(Resource::Cpu))
        .add(Reserved::of(Resource::Memory, slack(Resource::Memory)))
}

/// The pod-level changes (1.36+) that keep `changes` valid: the API server requires the containers' aggregate
/// requests to stay within the pod-level requests and every container's limit within the pod-level limit
/// (kubernetes 1.36 pkg/apis/core/validation/validation.go, validatePodResourceConsistency, run on resize
/// too). Pod-level values only grow, and keep their shape: equal request and limit stay equal, a request
/// below its limit stays below it by the same gap (the pod's QoS class comes from them: qos.go ComputePodQOS).
pub(super) fn pod_level_changes(pod: &Pod, changes: &[ContainerChange]) -> Vec<ResourceChange> {
    let Some(spec) = pod.spec.as_deref() else {
        return Vec::new();
    };
    let mut raised = Vec::new();
    for resource in [Resource::Cpu, Resource::Memory] {
        if !changes
            .iter()
            .any(|c| c.changes.iter().any(|r| r.resource == resource))
        {
            continue;
        }
        let Some(from) = pod_level_values(spec, resource) else {
            continue;
        };
        let needed = aggregate_requests(spec, |c, _| {
            Reserved::of(
                resource,
                container_values(c, resource, changes).request.unwrap_or(0),
            )
        })
        .get(resource);
        // Only regular containers' limits are checked against the pod-level limit.
        let widest = spec
            .containers
            .iter()
            .filter_map(|c| container_values(c, resource, changes).limit)
            .max();
        let to = match (from.request, from.limit) {
            (Some(request), Some(limit)) if request == limit => {
                let size = request.max(needed).max(widest.unwrap_or(0));
                Values {
                    request: Some(size),
                    limit: Some(size),
                }
            }
            (Some(request), Some(limit)) => {
                let request = request.max(needed);
                let limit = limit.max(widest.unwrap_or(0));
                let gap = from.limit.unwrap_or(0) - from.request.unwrap_or(0);
                Values {
                    request: Some(request),
                    limit: Some(if request >= limit {
                        request + gap
                    } else {
                        limit
                    }),
                }
            }
            (request, limit) => Values {
                request: request.map(|r| r.max(needed)),
                limit: limit.map(|l| l.max(widest.unwrap_or(0))),
            },
        };
        if to != from {
            raised.push(ResourceChange {
                resource,
                direction: Direction::Up,
                from,
                to,
                why: format!(
                    "pod-level {} raised so that the containers ({} requested{}) stay within it",
                    resource.name(),
                    resource.format(needed),
                    widest.map_or(String::new(), |w| format!(
                        ", widest limit {}",
                        resource.format(w)
                    ))
                ),
                oom_killed_at: None,
            });
        }
    }
    raised
}

/// What all pods bound to each node reserve, by node name; computed once per tick.
pub fn reserved_by_node(pods: &[Pod]) -> BTreeMap<String, Reserved> {
    let mut totals = BTreeMap::<String, Reserved>::new();
    for pod in pods {
        if let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        {
            let total = totals.entry(node.to_string()).or_default();
            *total = total.add(pod_reserved(pod));
        }
    }
    totals
}

/// Allocatable cpu/memory of a node.
pub fn allocatable(node: &Node) -> Reserved {
    reserved_of(node.status.as_ref().and_then(|s| s.allocatable.as_ref()))
}

/// Requests that grow must fit the node: allocatable minus what every pod there reserves, plus, for a pod with
/// pod-level requests, what those leave above its containers' (growth there reserves nothing more).
/// Growth beyond that is cut to what fits (rounded down), or dropped when too small to matter. The pod-level
/// changes the final sizes need come after, from [`pod_level_changes`].
pub(super) fn fit_on_node(
    draft: &mut Draft,
    pod: &Pod,
    node: &str,
    nodes: &HashMap<&str, Reserved>,
    node_reserved: &mut BTreeMap<String, Reserved>,
    changes: &mut Vec<ContainerChange>,
) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let reserved = node_reserved.get(node).copied().unwrap_or_default();
    let node_room = nodes
        .get(node)
        .map(|allocatable| allocatable.saturating_sub(reserved));
    let slack = pod_level_slack(pod);
    let mut headroom = node_room.map(|room| room.add(slack));
    for container in changes.iter_mut() {
        let subject = Subject {
            ns,
            pod: name,
            container: &container.name,
            node,
        };
        container
            .changes
            .retain_mut(|change| fit_change(draft, &subject, headroom.as_mut(), change));
    }
    changes.retain(|c| !c.changes.is_empty());
    if let Some(allocatable) = nodes.get(node)
        && let (Some(room), Some(node_room)) = (headroom, node_room)
    {
        // Later pods on the same node see this pod's growth: what it took beyond its own pod-level slack.
        let left = Reserved {
            cpu_millis: room.cpu_millis.min(node_room.cpu_millis),
            memory_bytes: room.memory_bytes.min(node_room.memory_bytes),
        };
        node_reserved.insert(node.to_string(), allocatable.saturating_sub(left));
    }
}

/// Whose change `fit_change` checks, for its notes.
struct Subject<'a> {
    ns: &'a str,
    pod: &'a str,
    container: &'a str,
    node: &'a str,
}

/// Keeps a change that fits `room` (taking what it grows from it), cuts an upsize to what fits, or drops it
/// with a note (false) when the node is unknown or too full for a meaningful upsize.
fn fit_change(
    draft: &mut Draft,
    subject: &Subject,
    room: Option<&mut Reserved>,
    change: &mut ResourceChange,
) -> bool {
    let Subject {
        ns,
        pod,
        container,
        node,
    } = *subject;
    let old_request = change.from.request.unwrap_or(0);
    let new_request = change.to.request.unwrap_or(0);
    let growth = new_request - old_request;
    if growth <= 0 {
        return true;
    }
    let Some(room) = room else {
        draft.note(
            NoteKind::Unchanged,
            ns,
            pod,
            Some(container),
            Some(change.resource),
            format!("node {node} is unknown, so an upsize cannot be checked to fit"),
        );
        return false;
    };
    let free = match change.resource {
        Resource::Cpu => &mut room.cpu_millis,
        Resource::Memory => &mut room.memory_bytes,
    };
    if growth <= *free {
        *free -= growth;
        return true;
    }
    let granularity = granularity(draft.policy, change.resource);
    let basis = change.from.basis().unwrap_or(0);
    // A request sized apart from its limit (`RESIZE_CPU_REQUEST=usage`) is cut alone: scaling the old shape up
    // to what fits would write a limit nobody decided.
    let apart = change
        .to
        .basis()
        .is_some_and(|to_basis| change.from.scaled_to(to_basis, granularity) != change.to);
    let (candidate, to, basis) = if apart {
        let request = old_request + round_down((*free).max(0), granularity);
        let to = Values {
            request: Some(request),
            limit: change.to.limit,
        };
        (request, to, old_request)
    } else {
        let (candidate, to) = largest_fitting(change.from, *free, granularity);
        (candidate, to, basis)
    };
    let available = draft.policy.tolerance * basis as f64;
    if candidate <= basis || ((candidate - basis) as f64) <= available {
        draft.note(
            NoteKind::Unchanged,
            ns,
            pod,
            Some(container),
            Some(change.resource),
            format!(
                "node {node} is full: {} free, the upsize to {} needs {} more",
                change.resource.format((*free).max(0)),
                change.to.describe(change.resource),
                change.resource.format(growth)
            ),
        );
        return false;
    }
    *free -= to.request.unwrap_or(0) - old_request;
    change.why.push_str(&format!(
        ", cut from {} to what fits on node {node}",
        change.to.describe(change.resource)
    ));
    change.to = to;
    true
}

/// The largest basis (and the values it scales `from` to) whose request grows by at most `free`; not above
/// `from`'s basis when nothing fits.
fn largest_fitting(from: Values, free: i64, granularity: i64) -> (i64, Values) {
    let old_request = from.request.unwrap_or(0);
    let basis = from.basis().unwrap_or(0);
    let mut candidate = round_down(
        match (from.request, from.limit) {
            (Some(r), Some(l)) if r > 0 && r < l => {
                i64::try_from(i128::from(old_request + free) * i128::from(l) / i128::from(r))
                    .unwrap_or(i64::MAX)
            }
            _ => old_request + free.max(0),
        },
        granularity,
    );
    let mut to = from.scaled_to(candidate, granularity);
    while candidate > basis && to.request.unwrap_or(0) - old_request > free {
        candidate -= granularity;
        to = from.scaled_to(candidate, granularity);
    }
    (candidate, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::node::{ListedNode, fit_only};
    use serde_json::json;

    #[test]
    fn nodes_keep_only_what_the_fit_check_reads_and_fit_the_same() {
        let item = json!({
            "metadata": {"name": "node-1", "labels": {"zone": "a"}, "annotations": {"x": "y"}},
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {
                "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110"},
                "capacity": {"cpu": "4", "memory": "16Gi"},
                "images": [{"names": ["example.com/app:1.0"], "sizeBytes": 1}],
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        });
        let full: Node = serde_json::from_value(item.clone()).expect("node");
        let listed: Node = serde_json::from_value::<ListedNode>(item)
            .expect("listed")
            .into();
        let from_snapshot = fit_only(full.clone());
        for slim in [&listed, &from_snapshot] {
            assert_eq!(slim.metadata.name.as_deref(), Some("node-1"));
            assert_eq!(allocatable(slim), allocatable(&full));
            assert!(slim.spec.is_none() && slim.metadata.labels.is_none());
            assert!(
                slim.status
                    .as_ref()
                    .is_some_and(|s| s.images.is_none() && s.capacity.is_none())
            );
        }
        assert_eq!(listed, from_snapshot);
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": spec,
            "status": {"phase": "Running"},
        }))
        .unwrap()
    }

    #[test]
    fn pod_level_requests_replace_the_containers_sum() {
        let budgeted = pod(json!({
            "resources": {"requests": {"cpu": "3500m"}, "limits": {"cpu": "4"}},
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                {"name": "b"},
            ],
            "overhead": {"cpu": "50m"},
        }));
        assert_eq!(
            pod_reserved(&budgeted),
            Reserved {
                cpu_millis: 3_550,
                memory_bytes: 64 << 20
            },
            "cpu from the pod-level request (plus overhead), memory from the containers (no pod-level request)"
        );
    }

    #[test]
    fn pod_level_requests_count_the_larger_of_spec_allocated_and_actual() {
        // A pod-level downsize not yet actuated (1.36+): the kubelet still holds 2 cpus.
        let mut shrinking = pod(json!({
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}],
        }));
        let status = shrinking.status.as_mut().unwrap();
        status.allocated_resources = Some(Box::new(
            [("cpu", "2"), ("memory", "1Gi")].into_iter().collect(),
        ));
        status.resources = Some(Box::new(
            serde_json::from_value(json!({"requests": {"cpu": "1500m", "memory": "2Gi"}})).unwrap(),
        ));
        assert_eq!(
            pod_reserved(&shrinking),
            Reserved {
                cpu_millis: 2_000,
                memory_bytes: 2 << 30
            }
        );
    }
}
