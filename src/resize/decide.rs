//! Pure resize decisions: opted-in pods, nodes, signals, policy and `now` in; a plan out.

use super::fit::{Reserved, allocatable, is_sidecar, reserved_by_node};
use super::owners::{owner_of, steering_hpa, steering_vpa};
use super::policy::ResizePolicy;
use super::record::{
    ContainerRecord, Direction, PodRecord, ResourceTexts, read_record, render_record,
};
use super::signals::{ContainerKey, ContainerStats, SignalTable};
use crate::events::{EventAction, EventType};
use crate::model::pod::{Container, ContainerStatus, Pod, ResourceList};
use crate::quantity::{cpu_millis, format_cpu_millis, format_memory_bytes, memory_bytes};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, PodCondition};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

pub const ANNOTATION_PREFIX: &str = "kube-thermostat.io/";
pub const EVENT_REASON_RESIZED: &str = "ThermostatResized";
pub const EVENT_REASON_WITHDRAWN: &str = "ThermostatResizeWithdrawn";

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

/// Everything the decision reads, gathered once per tick by the I/O layer.
#[derive(Debug, Clone, Copy)]
pub struct ResizeInput<'a> {
    /// Opted-in pods (may be reduced by a jqFilter; missing fields read as absent), borrowed from
    /// `all_pods` rather than copied: at 5,000 nodes the pods are most of the tick's memory.
    pub pods: &'a [&'a Pod],
    /// Nodes with `status.allocatable`.
    pub nodes: &'a [Node],
    /// Every pod bound to a node, opted-in ones included (reduced: spec containers/initContainers
    /// resources and restartPolicy, overhead, nodeName; status phase, container statuses).
    pub all_pods: &'a [Pod],
    pub hpas: &'a [HorizontalPodAutoscaler],
    /// VerticalPodAutoscaler objects (CRD; empty when the CRD is missing).
    pub vpas: &'a [serde_json::Value],
    /// API server minor version (32, 33, 34, ...).
    pub server_minor: u32,
    /// CPU usage in cores per container.
    pub cpu: &'a SignalTable,
    /// Memory working set in bytes per container.
    pub memory: &'a SignalTable,
    /// Keep a note for every container left as it is (for debug logs and printed plans); otherwise they are only
    /// counted ([`ResizePlan::unchanged`]): one per quiet container, 34 MB at 50,000 containers.
    pub explain_unchanged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Resource {
    Cpu,
    Memory,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
        }
    }
    fn parse(self, text: &str) -> Result<i64, crate::quantity::QuantityError> {
        match self {
            Resource::Cpu => cpu_millis(text),
            Resource::Memory => memory_bytes(text),
        }
    }
    pub fn format(self, value: i64) -> String {
        match self {
            Resource::Cpu => format_cpu_millis(value),
            Resource::Memory => format_memory_bytes(value),
        }
    }
}

/// A container's request and limit of one resource (millicores or bytes); `None` is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Values {
    pub request: Option<i64>,
    pub limit: Option<i64>,
}

impl Values {
    /// The size the rules act on: the limit, or the request when there is no limit.
    pub fn basis(&self) -> Option<i64> {
        self.limit.or(self.request)
    }

    /// The same shape resized so that its basis is `basis`: Guaranteed stays request == limit,
    /// Burstable keeps its request:limit ratio and stays strictly below the limit, absent stays absent.
    pub fn scaled_to(&self, basis: i64, granularity: i64) -> Values {
        match (self.request, self.limit) {
            (Some(request), Some(limit)) if request < limit && limit > 0 => {
                let proportional = i128::from(basis) * i128::from(request) / i128::from(limit);
                let rounded =
                    round_up(i64::try_from(proportional).unwrap_or(i64::MAX), granularity);
                // Equal request and limit would turn a Burstable pod Guaranteed: a QoS change.
                let request = rounded.min(basis - 1).max(1.min(basis - 1)).max(0);
                Values {
                    request: Some(request),
                    limit: Some(basis),
                }
            }
            (Some(_), Some(_)) => Values {
                request: Some(basis),
                limit: Some(basis),
            },
            (None, Some(_)) => Values {
                request: None,
                limit: Some(basis),
            },
            (Some(_), None) => Values {
                request: Some(basis),
                limit: None,
            },
            (None, None) => *self,
        }
    }

    fn describe(&self, resource: Resource) -> String {
        let text = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| resource.format(v));
        match (self.request, self.limit) {
            (Some(r), Some(l)) if r == l => text(Some(r)),
            _ => format!("{}/{}", text(self.request), text(self.limit)),
        }
    }
}

fn round_up(value: i64, granularity: i64) -> i64 {
    let g = granularity.max(1);
    value
        .div_euclid(g)
        .saturating_add(i64::from(value.rem_euclid(g) != 0))
        .saturating_mul(g)
}

fn round_down(value: i64, granularity: i64) -> i64 {
    let g = granularity.max(1);
    value.div_euclid(g) * g
}

/// One resource of one container to change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChange {
    pub resource: Resource,
    pub direction: Direction,
    pub from: Values,
    pub to: Values,
    pub why: String,
}

/// A container to change; `sidecar` ones live under `initContainers` in patches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerChange {
    pub name: String,
    pub sidecar: bool,
    pub changes: Vec<ResourceChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PodAction {
    /// Load-driven resize.
    Resize,
    /// Set the spec back to the allocated values (Deferred too long, or Infeasible).
    Withdraw,
    /// Only our annotation changes (a back-off is recorded).
    RecordOnly,
}

/// Event fields for the pod (`regarding` is the pod itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventFields {
    pub reason: String,
    pub type_: EventType,
    /// Not in the printed plan, which never showed it.
    #[serde(skip)]
    pub action: EventAction,
    pub note: String,
}

/// Writes for one pod: the resize (if containers change), our annotation, an Event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodPlan {
    pub namespace: String,
    pub name: String,
    /// Precondition for both writes: a pod changed since we read it is not overwritten (409).
    pub resource_version: Option<String>,
    pub node: String,
    pub action: PodAction,
    pub containers: Vec<ContainerChange>,
    /// New value of the `kube-thermostat.io/last-resize` annotation.
    pub record: String,
    /// Its value should the API server refuse the resize (422, 403: a LimitRange, an admission policy): the
    /// changed containers back off, so the same refused write is not sent every tick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_if_refused: Option<String>,
    pub event: Option<EventFields>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NoteKind {
    /// Not considered at all (not running, steered by another autoscaler, bad annotation...).
    Skipped,
    /// Considered, no change needed or possible (band, tolerance, bound, cooldown, fit...).
    Unchanged,
    /// A resize condition read back from the kubelet.
    FollowUp,
    /// Something to fix, not blocking (malformed annotation).
    Warning,
}

/// A decision without writes, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub kind: NoteKind,
    pub namespace: String,
    pub pod: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResizePlan {
    pub pods: Vec<PodPlan>,
    pub notes: Vec<Note>,
    /// Decisions to leave a container (or one of its resources) as it is, noted or not.
    pub unchanged: usize,
}

impl ResizePlan {
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }
}

impl fmt::Display for ResizePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pod in &self.pods {
            let action = match pod.action {
                PodAction::Resize => "resize",
                PodAction::Withdraw => "withdraw",
                PodAction::RecordOnly => "record",
            };
            for container in &pod.containers {
                for change in &container.changes {
                    writeln!(
                        f,
                        "{action} {}/{}/{} {} {} -> {}: {}",
                        pod.namespace,
                        pod.name,
                        container.name,
                        change.resource.name(),
                        change.from.describe(change.resource),
                        change.to.describe(change.resource),
                        change.why
                    )?;
                }
            }
            if pod.containers.is_empty() {
                let note = pod.event.as_ref().map_or("", |e| e.note.as_str());
                writeln!(f, "{action} {}/{}: {note}", pod.namespace, pod.name)?;
            }
        }
        for note in &self.notes {
            let kind = match note.kind {
                NoteKind::Skipped => "skip",
                NoteKind::Unchanged => "keep",
                NoteKind::FollowUp => "follow-up",
                NoteKind::Warning => "warning",
            };
            write!(f, "{kind} {}/{}", note.namespace, note.pod)?;
            if let Some(container) = &note.container {
                write!(f, "/{container}")?;
            }
            if let Some(resource) = note.resource {
                write!(f, " {}", resource.name())?;
            }
            writeln!(f, ": {}", note.reason)?;
        }
        Ok(())
    }
}

/// Per-pod overrides from `kube-thermostat.io/*` annotations.
#[derive(Debug, Clone, Default, PartialEq)]
struct Overrides {
    cpu_min: Option<i64>,
    cpu_max: Option<i64>,
    memory_min: Option<i64>,
    memory_max: Option<i64>,
    cpu_target: Option<f64>,
    cpu: Option<bool>,
    memory: Option<bool>,
}

fn read_overrides(pod: &Pod) -> Result<Overrides, String> {
    let mut overrides = Overrides::default();
    let Some(annotations) = pod.metadata.annotations.as_ref() else {
        return Ok(overrides);
    };
    for (key, value) in annotations.iter() {
        let Some(name) = key.strip_prefix(ANNOTATION_PREFIX) else {
            continue;
        };
        let bad = |allowed: &str| format!("annotation {key} = {value:?}: {allowed}");
        let quantity = |resource: Resource| {
            resource
                .parse(value)
                .map_err(|err| bad(&format!("must be a {} quantity ({err})", resource.name())))
        };
        let switch = || match value {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(bad("must be \"on\" or \"off\"")),
        };
        match name {
            "cpu-min" => overrides.cpu_min = Some(quantity(Resource::Cpu)?),
            "cpu-max" => overrides.cpu_max = Some(quantity(Resource::Cpu)?),
            "memory-min" => overrides.memory_min = Some(quantity(Resource::Memory)?),
            "memory-max" => overrides.memory_max = Some(quantity(Resource::Memory)?),
            "cpu-target" => {
                let target = value
                    .trim_end_matches('%')
                    .parse::<f64>()
                    .ok()
                    .filter(|t| *t > 0.0 && *t <= 100.0)
                    .ok_or_else(|| bad("must be a percentage in (0, 100]"))?;
                overrides.cpu_target = Some(target);
            }
            "cpu" => overrides.cpu = Some(switch()?),
            "memory" => overrides.memory = Some(switch()?),
            _ => {}
        }
    }
    for (resource, min, max) in [
        (Resource::Cpu, overrides.cpu_min, overrides.cpu_max),
        (Resource::Memory, overrides.memory_min, overrides.memory_max),
    ] {
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(format!(
                "annotations {ANNOTATION_PREFIX}{0}-min = {1} and {ANNOTATION_PREFIX}{0}-max = {2}: min is above max",
                resource.name(),
                resource.format(min),
                resource.format(max)
            ));
        }
    }
    Ok(overrides)
}

/// The kubelet's view of a pod's resize, from the conditions (1.33+) or `status.resize` (1.32).
#[derive(Debug, Clone, PartialEq)]
enum ResizeState {
    Settled,
    /// `status.observedGeneration < metadata.generation`.
    KubeletBehind {
        observed: i64,
        generation: i64,
    },
    Pending {
        reason: String,
        message: String,
        since: Option<Timestamp>,
    },
    InProgress {
        error: Option<String>,
    },
}

fn is_true(condition: &PodCondition) -> bool {
    condition.status == "True"
}

fn resize_state(pod: &Pod) -> ResizeState {
    let generation = pod.metadata.generation;
    let status = pod.status.as_ref();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    // A condition written for an older generation is stale: the kubelet has not judged the
    // current spec yet (kubernetes PR #131157: both conditions can coexist for different generations).
    let current = |c: &&PodCondition| match (c.observed_generation, generation) {
        (Some(observed), Some(generation)) => observed >= generation,
        _ => true,
    };
    let find = |type_: &str| {
        conditions
            .iter()
            .filter(current)
            .find(|c| c.type_ == type_ && is_true(c))
    };
    if let Some(pending) = find("PodResizePending") {
        return ResizeState::Pending {
            reason: pending.reason.clone().unwrap_or_default(),
            message: pending.message.clone().unwrap_or_default(),
            since: pending.last_transition_time.as_ref().map(|t| t.0),
        };
    }
    if let Some(in_progress) = find("PodResizeInProgress") {
        let error = (in_progress.reason.as_deref() == Some("Error")).then(|| {
            in_progress
                .message
                .clone()
                .unwrap_or_else(|| "no message".to_string())
        });
        return ResizeState::InProgress { error };
    }
    if let (Some(observed), Some(generation)) =
        (status.and_then(|s| s.observed_generation), generation)
        && observed < generation
    {
        return ResizeState::KubeletBehind {
            observed,
            generation,
        };
    }
    // 1.32 servers report progress in the (since removed) status.resize field.
    match status.and_then(|s| s.resize.as_deref()) {
        Some(reason @ ("Deferred" | "Infeasible")) => ResizeState::Pending {
            reason: reason.to_string(),
            message: String::new(),
            since: None,
        },
        Some("Proposed") => ResizeState::KubeletBehind {
            observed: 0,
            generation: generation.unwrap_or(0),
        },
        Some("InProgress") => ResizeState::InProgress { error: None },
        _ => ResizeState::Settled,
    }
}

fn quantity_of(map: Option<&ResourceList>, resource: Resource) -> Result<Option<i64>, String> {
    match map.and_then(|m| m.get(resource.name())) {
        None => Ok(None),
        Some(q) => resource.parse(q).map(Some).map_err(|e| e.to_string()),
    }
}

fn spec_values(container: &Container, resource: Resource) -> Result<Values, String> {
    let resources = container.resources.as_ref();
    let request = quantity_of(resources.and_then(|r| r.requests.as_ref()), resource)?;
    let limit = quantity_of(resources.and_then(|r| r.limits.as_ref()), resource)?;
    // The API server defaults a missing request to the limit; a reduced object may lack it.
    Ok(Values {
        request: request.or(limit),
        limit,
    })
}

/// What the kubelet has applied: `status.containerStatuses[].resources`, else `allocatedResources`.
fn allocated_values(status: &ContainerStatus, resource: Resource) -> Option<Values> {
    if let Some(resources) = status.resources.as_ref() {
        let request = quantity_of(resources.requests.as_ref(), resource).ok()?;
        let limit = quantity_of(resources.limits.as_ref(), resource).ok()?;
        return Some(Values { request, limit });
    }
    let request = quantity_of(status.allocated_resources.as_ref(), resource).ok()??;
    Some(Values {
        request: Some(request),
        limit: None,
    })
}

fn restart_policy_of(container: &Container, resource: Resource) -> &str {
    container
        .resize_policy
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|p| p.resource_name == resource.name())
        .map_or("NotRequired", |p| p.restart_policy.as_str())
}

fn add(now: Timestamp, duration: Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

fn minutes(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

struct Ctx<'a> {
    policy: &'a ResizePolicy,
    explain_unchanged: bool,
    now: Timestamp,
    plan: ResizePlan,
    /// Highest utilization of a pod's upsizes, by index in `plan.pods`: the hottest go first under the cap.
    heat: HashMap<usize, f64>,
}

impl Ctx<'_> {
    fn note(
        &mut self,
        kind: NoteKind,
        ns: &str,
        pod: &str,
        container: Option<&str>,
        resource: Option<Resource>,
        reason: String,
    ) {
        if kind == NoteKind::Unchanged {
            self.plan.unchanged += 1;
            if !self.explain_unchanged {
                return;
            }
        }
        self.plan.notes.push(Note {
            kind,
            namespace: ns.to_string(),
            pod: pod.to_string(),
            container: container.map(str::to_string),
            resource,
            reason,
        });
    }
}

fn find_status<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

/// The containers the rules may resize: regular ones and sidecars (restartable init containers).
fn resizable_containers(pod: &Pod) -> Vec<(&Container, bool, Option<&ContainerStatus>)> {
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

/// Decides the resizes of one tick. Pure: the same input gives the same plan.
pub fn decide_resizes(input: &ResizeInput, policy: &ResizePolicy, now: Timestamp) -> ResizePlan {
    let mut ctx = Ctx {
        policy,
        explain_unchanged: input.explain_unchanged,
        now,
        plan: ResizePlan::default(),
        heat: HashMap::new(),
    };
    let mut node_reserved = reserved_by_node(input.all_pods);
    let nodes: HashMap<&str, Reserved> = input
        .nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref()?, allocatable(n))))
        .collect();
    for pod in input.pods {
        decide_pod(&mut ctx, input, pod, &nodes, &mut node_reserved);
    }
    cap_pods_per_tick(&mut ctx);
    ctx.plan
}

/// Keeps at most `max_pods_per_tick` resized or withdrawn pods (withdrawals first: they free capacity; then
/// upsizes hottest first; then downsizes) and reports the rest as deferred. Record-only writes are not resizes.
fn cap_pods_per_tick(ctx: &mut Ctx) {
    let max = ctx.policy.max_pods_per_tick;
    let pods = std::mem::take(&mut ctx.plan.pods);
    let mut ranked: Vec<(usize, PodPlan)> = pods.into_iter().enumerate().collect();
    let rank = |(index, pod): &(usize, PodPlan)| -> (u8, f64) {
        match pod.action {
            PodAction::RecordOnly => (0, 0.0),
            PodAction::Withdraw => (1, 0.0),
            PodAction::Resize => match ctx.heat.get(index) {
                Some(heat) => (2, -heat),
                None => (3, 0.0),
            },
        }
    };
    // Stable: equal ranks keep the input order.
    ranked.sort_by(|a, b| {
        let (a, b) = (rank(a), rank(b));
        a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
    });
    let mut resized = 0;
    for (_, pod) in ranked {
        if pod.action == PodAction::RecordOnly || resized < max {
            resized += usize::from(pod.action != PodAction::RecordOnly);
            ctx.plan.pods.push(pod);
        } else {
            ctx.plan.notes.push(Note {
                kind: NoteKind::Skipped,
                namespace: pod.namespace,
                pod: pod.name,
                container: None,
                resource: None,
                reason: format!("deferred to a later tick: at most {max} pods per tick"),
            });
        }
    }
    ctx.heat.clear();
}

fn decide_pod(
    ctx: &mut Ctx,
    input: &ResizeInput,
    pod: &Pod,
    nodes: &HashMap<&str, Reserved>,
    node_reserved: &mut BTreeMap<String, Reserved>,
) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let skip =
        |ctx: &mut Ctx, reason: String| ctx.note(NoteKind::Skipped, ns, name, None, None, reason);
    if name.is_empty() {
        return skip(ctx, "pod without a name".to_string());
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown");
    if phase != "Running" {
        return skip(ctx, format!("phase is {phase}, not Running"));
    }
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default();
    if node.is_empty() {
        // Resizing an unbound pod races the scheduler (kubernetes#126891).
        return skip(ctx, "not bound to a node yet".to_string());
    }
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    if !statuses.is_empty() && statuses.iter().all(|s| s.resources.is_none()) {
        // A kubelet that supports in-place resize reports what it applied in `resources`; the API
        // server refuses resizes of pods whose running containers lack it (version skew).
        return skip(
            ctx,
            format!(
                "the kubelet on node {node} reports no container resources: it does not support in-place resize"
            ),
        );
    }
    if pod.spec.as_ref().is_some_and(|s| s.resources.is_some()) {
        return skip(
            ctx,
            "has pod-level resources (spec.resources), which we do not resize".to_string(),
        );
    }
    let overrides = match read_overrides(pod) {
        Ok(o) => o,
        Err(reason) => return skip(ctx, reason),
    };
    let (mut record, record_problem) = read_record(pod);
    if let Some(problem) = record_problem {
        ctx.note(NoteKind::Warning, ns, name, None, None, problem);
    }
    let base = PodPlan {
        namespace: ns.to_string(),
        name: name.to_string(),
        resource_version: pod.metadata.resource_version.as_deref().map(String::from),
        node: node.to_string(),
        action: PodAction::Resize,
        containers: Vec::new(),
        record: String::new(),
        record_if_refused: None,
        event: None,
    };
    // Another autoscaler's pod is not ours: not its resizes either (no withdrawal, no back-off record).
    if let Some(owner) = owner_of(pod) {
        if let Some(hpa) = steering_hpa(&owner, ns, input.hpas) {
            return skip(
                ctx,
                format!("HorizontalPodAutoscaler {hpa} scales {owner} on cpu/memory"),
            );
        }
        if let Some(vpa) = steering_vpa(&owner, ns, input.vpas) {
            return skip(ctx, format!("VerticalPodAutoscaler {vpa} resizes {owner}"));
        }
    }
    match resize_state(pod) {
        ResizeState::Settled => {}
        ResizeState::KubeletBehind {
            observed,
            generation,
        } => {
            return skip(
                ctx,
                format!(
                    "kubelet has not caught up with the spec (observedGeneration {observed} < generation {generation})"
                ),
            );
        }
        ResizeState::InProgress { error: None } => {
            return skip(ctx, "resize in progress".to_string());
        }
        ResizeState::InProgress {
            error: Some(message),
        } => {
            // Often transient (autoscaler#10093): the kubelet retries; we only hold off our next step.
            let reason = format!("kubelet reports a resize error: {message}");
            ctx.note(NoteKind::FollowUp, ns, name, None, None, reason.clone());
            let ours = ours(pod, &record);
            // Someone else's resize is not ours to back off from; and while the same error persists, the
            // back-off already recorded says it all (re-arming it would write and warn every cooldown).
            let already_recorded = ours.iter().all(|c| {
                record.get(*c).and_then(|e| e.backoff_reason.as_deref()) == Some(reason.as_str())
            });
            if ours.is_empty() || already_recorded {
                return;
            }
            let until = add(ctx.now, ctx.policy.cooldown_up);
            if back_off(&mut record, pod, &reason, until, ctx.now) {
                ctx.plan.pods.push(PodPlan {
                    action: PodAction::RecordOnly,
                    record: render_record(&record),
                    event: Some(EventFields {
                        reason: EVENT_REASON_RESIZED.to_string(),
                        type_: EventType::Warning,
                        action: EventAction::Resize,
                        note: format!("{reason}; next try after {until}"),
                    }),
                    ..base
                });
            }
            return;
        }
        ResizeState::Pending {
            reason,
            message,
            since,
        } => {
            if ours(pod, &record).is_empty() {
                return ctx.note(
                    NoteKind::FollowUp,
                    ns,
                    name,
                    None,
                    None,
                    format!(
                        "resize by someone else pending ({reason}): its spec is not what we last set, so we leave it"
                    ),
                );
            }
            let detail = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            // 1.32's `status.resize` carries no time: our own resize started it, so it is at most that old.
            let since = since.or_else(|| record.values().map(|entry| entry.at).max());
            let deferred_for = since.map(|s| ctx.now.duration_since(s));
            let timed_out = reason != "Deferred"
                || deferred_for.is_some_and(|d| {
                    d >= SignedDuration::try_from(ctx.policy.deferred_timeout)
                        .unwrap_or(SignedDuration::MAX)
                });
            if !timed_out {
                let age = deferred_for
                    .map_or("unknown time".to_string(), |d| format!("{}s", d.as_secs()));
                return ctx.note(
                    NoteKind::FollowUp,
                    ns,
                    name,
                    None,
                    None,
                    format!(
                        "resize Deferred{detail} for {age}; withdrawn after {}",
                        minutes(ctx.policy.deferred_timeout)
                    ),
                );
            }
            let why = if reason == "Deferred" {
                format!(
                    "resize Deferred{detail} longer than {}: withdrawn, it holds node capacity",
                    minutes(ctx.policy.deferred_timeout)
                )
            } else {
                format!("resize {reason}{detail}: withdrawn")
            };
            // A withdrawal already made and backed off (refused by the server, or not yet seen by the
            // kubelet) is not sent again until the back-off ends.
            if let Some(until) = ours(pod, &record)
                .iter()
                .filter_map(|c| record.get(*c).and_then(|e| e.backoff_until))
                .filter(|until| *until > ctx.now)
                .min()
            {
                return ctx.note(
                    NoteKind::FollowUp,
                    ns,
                    name,
                    None,
                    None,
                    format!("{why}; already withdrawn or refused, backing off until {until}"),
                );
            }
            ctx.note(NoteKind::FollowUp, ns, name, None, None, why.clone());
            return withdraw(ctx, pod, input.server_minor, base, record, &why);
        }
    }

    let mut changes: Vec<ContainerChange> = Vec::new();
    let mut heat: Option<f64> = None;
    for (container, sidecar, _) in resizable_containers(pod) {
        let key = ContainerKey::new(ns, name, &container.name);
        let mut container_changes = Vec::new();
        if let Some(entry) = record.get(container.name.as_str()) {
            if let Some(until) = entry.backoff_until.filter(|u| *u > ctx.now) {
                let why = entry.backoff_reason.clone().unwrap_or_default();
                ctx.note(
                    NoteKind::Unchanged,
                    ns,
                    name,
                    Some(&container.name),
                    None,
                    format!("backing off until {until} ({why})"),
                );
                continue;
            }
            let cooldown = match entry.direction {
                Direction::Up => ctx.policy.cooldown_up,
                _ => ctx.policy.cooldown_down,
            };
            let until = add(entry.at, cooldown);
            if until > ctx.now {
                ctx.note(
                    NoteKind::Unchanged,
                    ns,
                    name,
                    Some(&container.name),
                    None,
                    format!(
                        "cooldown until {until} after the {} resize at {}",
                        entry.direction, entry.at
                    ),
                );
                continue;
            }
        }
        for resource in [Resource::Cpu, Resource::Memory] {
            let enabled = match resource {
                Resource::Cpu => overrides.cpu.unwrap_or(true),
                Resource::Memory => overrides.memory.unwrap_or(ctx.policy.memory_enabled),
            };
            if !enabled {
                continue;
            }
            let note = |ctx: &mut Ctx, reason: String| {
                ctx.note(
                    NoteKind::Unchanged,
                    ns,
                    name,
                    Some(&container.name),
                    Some(resource),
                    reason,
                )
            };
            let values = match spec_values(container, resource) {
                Ok(v) => v,
                Err(err) => {
                    note(ctx, format!("unreadable resources: {err}"));
                    continue;
                }
            };
            let Some(basis) = values.basis().filter(|b| *b > 0) else {
                note(
                    ctx,
                    "no request or limit (BestEffort): adding one would change the QoS class"
                        .to_string(),
                );
                continue;
            };
            if restart_policy_of(container, resource) == "RestartContainer"
                && !ctx.policy.allow_restart
            {
                note(
                    ctx,
                    "resizePolicy is RestartContainer and restarts are not allowed".to_string(),
                );
                continue;
            }
            let table = match resource {
                Resource::Cpu => input.cpu,
                Resource::Memory => input.memory,
            };
            let Some(stats) = table.get(&key) else {
                note(ctx, "no usage data".to_string());
                continue;
            };
            let decision = match resource {
                Resource::Cpu => decide_cpu(ctx.policy, &overrides, stats, basis),
                Resource::Memory => decide_memory(ctx.policy, &overrides, stats, basis),
            };
            let (new_basis, direction, why) = match decision {
                Ok(d) => d,
                Err(reason) => {
                    note(ctx, reason);
                    continue;
                }
            };
            if direction == Direction::Up {
                let usage = match resource {
                    Resource::Cpu => stats.short_min.map(|cores| cores * 1000.0),
                    Resource::Memory => stats.short_max,
                };
                let utilization = usage.unwrap_or(0.0) / basis as f64;
                heat = Some(heat.map_or(utilization, |h| h.max(utilization)));
            }
            let granularity = granularity(ctx.policy, resource);
            let to = values.scaled_to(new_basis, granularity);
            if resource == Resource::Memory
                && to.limit < values.limit
                && let Some(reason) =
                    memory_limit_decrease_forbidden(input.server_minor, container, ctx.policy)
            {
                note(ctx, reason);
                continue;
            }
            container_changes.push(ResourceChange {
                resource,
                direction,
                from: values,
                to,
                why,
            });
        }
        if !container_changes.is_empty() {
            changes.push(ContainerChange {
                name: container.name.to_string(),
                sidecar,
                changes: container_changes,
            });
        }
    }

    fit_on_node(ctx, ns, name, node, nodes, node_reserved, &mut changes);
    if changes.is_empty() {
        return;
    }
    let mut refused = record.clone();
    back_off_containers(
        &mut refused,
        changes.iter().map(|c| c.name.as_str()),
        "the API server refused the resize",
        add(ctx.now, ctx.policy.infeasible_backoff),
        ctx.now,
    );
    let mut notes = Vec::new();
    for change in &changes {
        let direction = combined_direction(change.changes.iter().map(|c| c.direction));
        let why = change
            .changes
            .iter()
            .map(|c| format!("{}: {}", c.resource.name(), c.why))
            .collect::<Vec<_>>()
            .join("; ");
        let (from, to) = texts(&change.changes);
        notes.push(format!(
            "{} {}",
            change.name,
            change
                .changes
                .iter()
                .map(|c| format!(
                    "{} {} -> {} ({})",
                    c.resource.name(),
                    c.from.describe(c.resource),
                    c.to.describe(c.resource),
                    c.why
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        record.insert(
            change.name.clone(),
            ContainerRecord {
                at: ctx.now,
                direction,
                from,
                to,
                why,
                backoff_until: None,
                backoff_reason: None,
            },
        );
    }
    // An upsize cut away by the node fit leaves no heat to rank by.
    let upsizes = changes
        .iter()
        .any(|c| c.changes.iter().any(|r| r.direction == Direction::Up));
    if let Some(heat) = heat.filter(|_| upsizes) {
        ctx.heat.insert(ctx.plan.pods.len(), heat);
    }
    ctx.plan.pods.push(PodPlan {
        containers: changes,
        record: render_record(&record),
        record_if_refused: Some(render_record(&refused)),
        event: Some(EventFields {
            reason: EVENT_REASON_RESIZED.to_string(),
            type_: EventType::Normal,
            action: EventAction::Resize,
            note: notes.join("; "),
        }),
        ..base
    });
}

fn granularity(policy: &ResizePolicy, resource: Resource) -> i64 {
    match resource {
        Resource::Cpu => policy.cpu_granularity_millis.max(1),
        Resource::Memory => policy.memory_granularity_bytes.max(1),
    }
}

fn combined_direction(directions: impl Iterator<Item = Direction>) -> Direction {
    directions
        .reduce(|a, b| if a == b { a } else { Direction::Mixed })
        .unwrap_or(Direction::Up)
}

fn texts(changes: &[ResourceChange]) -> (ResourceTexts, ResourceTexts) {
    let mut from = ResourceTexts::default();
    let mut to = ResourceTexts::default();
    for change in changes {
        let resource = change.resource;
        for (texts, values) in [(&mut from, change.from), (&mut to, change.to)] {
            if let Some(request) = values.request {
                texts
                    .requests
                    .insert(resource.name().to_string(), resource.format(request));
            }
            if let Some(limit) = values.limit {
                texts
                    .limits
                    .insert(resource.name().to_string(), resource.format(limit));
            }
        }
    }
    (from, to)
}

/// Records a back-off for every container the pod has; true when the record changed.
fn back_off(
    record: &mut PodRecord,
    pod: &Pod,
    reason: &str,
    until: Timestamp,
    now: Timestamp,
) -> bool {
    let containers = resizable_containers(pod);
    let names = containers
        .iter()
        .map(|(container, _, _)| container.name.as_str());
    back_off_containers(record, names, reason, until, now)
}

/// Records a back-off for the named containers (an earlier, longer one stays); true when the record changed.
fn back_off_containers<'a>(
    record: &mut PodRecord,
    containers: impl IntoIterator<Item = &'a str>,
    reason: &str,
    until: Timestamp,
    now: Timestamp,
) -> bool {
    let mut changed = false;
    for container in containers {
        let entry = record
            .entry(container.to_string())
            .or_insert_with(|| ContainerRecord {
                at: now,
                direction: Direction::Withdraw,
                from: ResourceTexts::default(),
                to: ResourceTexts::default(),
                why: String::new(),
                backoff_until: None,
                backoff_reason: None,
            });
        if entry.backoff_until.is_none_or(|u| u <= now) {
            entry.backoff_until = Some(until);
            entry.backoff_reason = Some(reason.to_string());
            changed = true;
        }
    }
    changed
}

/// The containers whose spec is what our record says we last set (`to`): a pending resize of those is ours.
fn ours<'a>(pod: &'a Pod, record: &PodRecord) -> Vec<&'a str> {
    resizable_containers(pod)
        .into_iter()
        .filter(|(container, _, _)| {
            record
                .get(container.name.as_str())
                .is_some_and(|entry| spec_matches(container, &entry.to))
        })
        .map(|(container, _, _)| container.name.as_str())
        .collect()
}

/// True when every value in `texts` (non-empty) equals the container's spec.
fn spec_matches(container: &Container, texts: &ResourceTexts) -> bool {
    if texts.requests.is_empty() && texts.limits.is_empty() {
        return false;
    }
    [Resource::Cpu, Resource::Memory]
        .into_iter()
        .all(|resource| {
            let Ok(spec) = spec_values(container, resource) else {
                return false;
            };
            let same = |text: Option<&String>, value: Option<i64>| match text {
                None => true,
                Some(text) => resource.parse(text).ok() == value,
            };
            same(texts.requests.get(resource.name()), spec.request)
                && same(texts.limits.get(resource.name()), spec.limit)
        })
}

/// Sets the containers we resized back to what the kubelet allocated, and backs off.
fn withdraw(
    ctx: &mut Ctx,
    pod: &Pod,
    server_minor: u32,
    base: PodPlan,
    mut record: PodRecord,
    why: &str,
) {
    let mut changes = Vec::new();
    // Withdrawals the server would refuse: tried every tick, they would fail every tick.
    let mut refused = Vec::new();
    let ours = ours(pod, &record);
    for (container, sidecar, status) in resizable_containers(pod) {
        // Only our own resizes: another tool's pending resize is not ours to undo.
        if !ours.contains(&container.name.as_str()) {
            continue;
        }
        let Some(status) = status else { continue };
        let mut container_changes = Vec::new();
        for resource in [Resource::Cpu, Resource::Memory] {
            let (Ok(desired), Some(allocated)) = (
                spec_values(container, resource),
                allocated_values(status, resource),
            ) else {
                continue;
            };
            // Keep the spec's shape (absent stays absent); take the allocated numbers where known.
            let to = Values {
                request: desired.request.and(allocated.request.or(desired.request)),
                limit: desired.limit.and(allocated.limit.or(desired.limit)),
            };
            if resource == Resource::Memory
                && to.limit < desired.limit
                && let Some(reason) =
                    memory_limit_decrease_forbidden(server_minor, container, ctx.policy)
            {
                refused.push(format!(
                    "{} memory cannot be set back to {}: {reason}",
                    container.name,
                    to.describe(resource)
                ));
                continue;
            }
            if to != desired {
                container_changes.push(ResourceChange {
                    resource,
                    direction: Direction::Withdraw,
                    from: desired,
                    to,
                    why: why.to_string(),
                });
            }
        }
        if !container_changes.is_empty() {
            changes.push(ContainerChange {
                name: container.name.to_string(),
                sidecar,
                changes: container_changes,
            });
        }
    }
    if changes.is_empty() && refused.is_empty() {
        // Nothing of ours to set back: no back-off record, no Warning on the pod.
        return;
    }
    let ns = base.namespace.clone();
    for reason in &refused {
        ctx.note(
            NoteKind::FollowUp,
            &ns,
            &base.name,
            None,
            Some(Resource::Memory),
            format!("{reason}; backing off instead"),
        );
    }
    let why = if refused.is_empty() {
        why.to_string()
    } else {
        format!("{why}; {}", refused.join("; "))
    };
    let why = why.as_str();
    let until = add(ctx.now, ctx.policy.infeasible_backoff);
    if !back_off(&mut record, pod, why, until, ctx.now) && changes.is_empty() {
        // The back-off is already recorded: unchanged state, no writes.
        return;
    }
    ctx.plan.pods.push(PodPlan {
        action: if changes.is_empty() {
            PodAction::RecordOnly
        } else {
            PodAction::Withdraw
        },
        containers: changes,
        record: render_record(&record),
        event: Some(EventFields {
            reason: EVENT_REASON_WITHDRAWN.to_string(),
            type_: EventType::Warning,
            action: EventAction::Resize,
            note: format!("{why}; no new resize before {until}"),
        }),
        ..base
    });
}

/// Memory limits may shrink on 1.32 and from 1.34; 1.33 only with `RestartContainer`.
fn memory_limit_decrease_forbidden(
    server_minor: u32,
    container: &Container,
    policy: &ResizePolicy,
) -> Option<String> {
    let restart = restart_policy_of(container, Resource::Memory) == "RestartContainer"
        && policy.allow_restart;
    (server_minor == 33 && !restart)
        .then(|| "Kubernetes 1.33 forbids lowering a memory limit unless its resizePolicy is RestartContainer".to_string())
}

fn percent(value: f64) -> String {
    format!("{value:.0}%")
}

/// Rounds up, except that a value a billionth above a whole unit counts as that unit: PromQL's rate
/// of a steady 480m reads 480.0000001m, which must size to 800m, not a whole granularity step more.
fn ceil_ignoring_noise(value: f64) -> f64 {
    (value - value.abs() * 1e-9).ceil()
}

/// Applies step cap, granularity and bounds to a wanted size; `None` when no meaningful change remains.
fn shape(
    policy: &ResizePolicy,
    wanted: f64,
    basis: i64,
    granularity: i64,
    min: i64,
    max: i64,
    resource: Resource,
) -> Result<(i64, Vec<String>), String> {
    let mut notes = Vec::new();
    let up = wanted > basis as f64;
    let capped = if up {
        let cap = basis as f64 * policy.max_step_up;
        if wanted > cap {
            notes.push(format!("step capped at x{}", policy.max_step_up));
        }
        wanted.min(cap)
    } else {
        let cap = basis as f64 / policy.max_step_down;
        if wanted < cap {
            notes.push(format!("step capped at /{}", policy.max_step_down));
        }
        wanted.max(cap)
    };
    let rounded = round_up(
        ceil_ignoring_noise(capped).min(i64::MAX as f64) as i64,
        granularity,
    );
    let bounded = rounded.clamp(min, max.max(min));
    if bounded != rounded {
        notes.push(format!(
            "bounded to [{}, {}]",
            resource.format(min),
            resource.format(max.max(min))
        ));
    }
    let meaningful = (bounded - basis).unsigned_abs() as f64 > policy.tolerance * basis as f64;
    if (up && bounded <= basis) || (!up && bounded >= basis) {
        return Err(format!(
            "wanted {} but {} bounds [{}, {}] keep it at {}",
            resource.format(ceil_ignoring_noise(capped) as i64),
            resource.name(),
            resource.format(min),
            resource.format(max),
            resource.format(basis)
        ));
    }
    if !meaningful {
        return Err(format!(
            "change {} -> {} is within the {} tolerance",
            resource.format(basis),
            resource.format(bounded),
            percent(policy.tolerance * 100.0)
        ));
    }
    Ok((bounded, notes))
}

fn history_is_full(policy: &ResizePolicy, stats: &ContainerStats) -> Result<(), String> {
    let expected = policy.windows.expected_samples() as f64;
    let needed = (expected * policy.min_history_fraction).floor();
    match stats.samples {
        Some(samples) if samples >= needed => Ok(()),
        samples => Err(format!(
            "history of {} of {} points over {} is too short for a scale-down",
            samples.unwrap_or(0.0),
            expected,
            minutes(policy.windows.stabilization_window)
        )),
    }
}

/// A scale-up needs a full short window: the minimum of a container's first point or two (start-up
/// burn) is not usage that *stayed* high.
fn short_history_is_full(policy: &ResizePolicy, stats: &ContainerStats) -> Result<(), String> {
    let needed = policy.windows.expected_short_samples() as f64;
    match stats.short_samples {
        Some(samples) if samples >= needed => Ok(()),
        samples => Err(format!(
            "history shorter than the short window: {} of {} points over {}, no scale-up yet",
            samples.unwrap_or(0.0),
            needed,
            minutes(policy.windows.short_window)
        )),
    }
}

type Decision = Result<(i64, Direction, String), String>;

fn decide_cpu(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: &ContainerStats,
    basis: i64,
) -> Decision {
    let target = overrides.cpu_target.unwrap_or(policy.cpu_target_percent);
    let min = overrides.cpu_min.unwrap_or(policy.cpu_min_millis);
    let max = overrides.cpu_max.unwrap_or(policy.cpu_max_millis);
    let granularity = policy.cpu_granularity_millis.max(1);
    let short = minutes(policy.windows.short_window);
    let long = minutes(policy.windows.stabilization_window);
    let sustained = stats.short_min.map(|cores| cores * 1000.0);
    let peak = stats.peak.map(|cores| cores * 1000.0);
    let utilization = |millis: f64| millis / basis as f64 * 100.0;
    if let Some(usage) = sustained
        && utilization(usage) > policy.cpu_high_percent
    {
        short_history_is_full(policy, stats)?;
        let (new, notes) = shape(
            policy,
            usage / (target / 100.0),
            basis,
            granularity,
            min,
            max,
            Resource::Cpu,
        )?;
        let mut why = format!(
            "usage stayed above {} over {short} (at least {}, {} of {}), sized for {}",
            percent(policy.cpu_high_percent),
            format_cpu_millis(ceil_ignoring_noise(usage) as i64),
            percent(utilization(usage)),
            format_cpu_millis(basis),
            percent(target)
        );
        for n in notes {
            why.push_str(&format!(", {n}"));
        }
        return Ok((new, Direction::Up, why));
    }
    let Some(peak) = peak else {
        return Err(match sustained {
            Some(usage) => format!(
                "{} of {}: no peak over {long}",
                percent(utilization(usage)),
                format_cpu_millis(basis)
            ),
            None => "no usage data".to_string(),
        });
    };
    if utilization(peak) < policy.cpu_low_percent {
        history_is_full(policy, stats)?;
        let (new, notes) = shape(
            policy,
            peak / (target / 100.0),
            basis,
            granularity,
            min,
            max,
            Resource::Cpu,
        )?;
        let mut why = format!(
            "peak {} ({} of {}) stayed below {} over {long}, sized for {}",
            format_cpu_millis(ceil_ignoring_noise(peak) as i64),
            percent(utilization(peak)),
            format_cpu_millis(basis),
            percent(policy.cpu_low_percent),
            percent(target)
        );
        for n in notes {
            why.push_str(&format!(", {n}"));
        }
        return Ok((new, Direction::Down, why));
    }
    Err(format!(
        "utilization {} (peak {}) is between the {} and {} marks",
        sustained.map_or("unknown".to_string(), |u| percent(utilization(u))),
        percent(utilization(peak)),
        percent(policy.cpu_low_percent),
        percent(policy.cpu_high_percent)
    ))
}

fn decide_memory(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: &ContainerStats,
    basis: i64,
) -> Decision {
    let min = overrides.memory_min.unwrap_or(policy.memory_min_bytes);
    let max = overrides.memory_max.unwrap_or(policy.memory_max_bytes);
    let granularity = policy.memory_granularity_bytes.max(1);
    let short = minutes(policy.windows.short_window);
    let long = minutes(policy.windows.stabilization_window);
    let utilization = |bytes: f64| bytes / basis as f64 * 100.0;
    if let Some(recent) = stats.short_max
        && utilization(recent) >= policy.memory_high_percent
    {
        short_history_is_full(policy, stats)?;
        let target = policy.memory_target_percent;
        let (new, notes) = shape(
            policy,
            recent / (target / 100.0),
            basis,
            granularity,
            min,
            max,
            Resource::Memory,
        )?;
        let mut why = format!(
            "working set reached {} ({} of {}) over {short}, at or above {}, sized for {}",
            format_memory_bytes(ceil_ignoring_noise(recent) as i64),
            percent(utilization(recent)),
            format_memory_bytes(basis),
            percent(policy.memory_high_percent),
            percent(target)
        );
        for n in notes {
            why.push_str(&format!(", {n}"));
        }
        return Ok((new, Direction::Up, why));
    }
    let Some(peak) = stats.peak else {
        return Err("no working-set peak".to_string());
    };
    let wanted = peak * (1.0 + policy.memory_margin_percent / 100.0);
    if wanted < basis as f64 * (1.0 - policy.tolerance) {
        history_is_full(policy, stats)?;
        let (new, notes) = shape(
            policy,
            wanted,
            basis,
            granularity,
            min,
            max,
            Resource::Memory,
        )?;
        if (new as f64) < peak {
            return Err(format!(
                "the bounds would go below the peak {}",
                format_memory_bytes(ceil_ignoring_noise(peak) as i64)
            ));
        }
        let mut why = format!(
            "peak working set {} over {long} is {} of {}, sized to peak + {}",
            format_memory_bytes(ceil_ignoring_noise(peak) as i64),
            percent(utilization(peak)),
            format_memory_bytes(basis),
            percent(policy.memory_margin_percent)
        );
        for n in notes {
            why.push_str(&format!(", {n}"));
        }
        return Ok((new, Direction::Down, why));
    }
    Err(format!(
        "peak working set {} of {} leaves no room to shrink (needs peak + {}) and is below the {} mark",
        percent(utilization(peak)),
        format_memory_bytes(basis),
        percent(policy.memory_margin_percent),
        percent(policy.memory_high_percent)
    ))
}

/// Requests that grow must fit the node: allocatable minus what every pod there reserves.
/// Growth beyond that is cut to what fits (rounded down), or dropped when too small to matter.
fn fit_on_node(
    ctx: &mut Ctx,
    ns: &str,
    name: &str,
    node: &str,
    nodes: &HashMap<&str, Reserved>,
    node_reserved: &mut BTreeMap<String, Reserved>,
    changes: &mut Vec<ContainerChange>,
) {
    let reserved = node_reserved.get(node).copied().unwrap_or_default();
    let mut headroom = nodes
        .get(node)
        .map(|allocatable| allocatable.saturating_sub(reserved));
    for container in changes.iter_mut() {
        container.changes.retain_mut(|change| {
            let old_request = change.from.request.unwrap_or(0);
            let new_request = change.to.request.unwrap_or(0);
            let growth = new_request - old_request;
            if growth <= 0 {
                return true;
            }
            let Some(room) = headroom.as_mut() else {
                ctx.note(
                    NoteKind::Unchanged,
                    ns,
                    name,
                    Some(&container.name),
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
            let granularity = granularity(ctx.policy, change.resource);
            let basis = change.from.basis().unwrap_or(0);
            // Largest basis whose request still fits.
            let mut candidate = round_down(
                match (change.from.request, change.from.limit) {
                    (Some(r), Some(l)) if r > 0 && r < l => i64::try_from(
                        i128::from(old_request + *free) * i128::from(l) / i128::from(r),
                    )
                    .unwrap_or(i64::MAX),
                    _ => old_request + (*free).max(0),
                },
                granularity,
            );
            let mut to = change.from.scaled_to(candidate, granularity);
            while candidate > basis && to.request.unwrap_or(0) - old_request > *free {
                candidate -= granularity;
                to = change.from.scaled_to(candidate, granularity);
            }
            let available = ctx.policy.tolerance * basis as f64;
            if candidate <= basis || ((candidate - basis) as f64) <= available {
                ctx.note(
                    NoteKind::Unchanged,
                    ns,
                    name,
                    Some(&container.name),
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
        });
    }
    changes.retain(|c| !c.changes.is_empty());
    if let Some(allocatable) = nodes.get(node)
        && let Some(room) = headroom
    {
        // Later pods on the same node see this pod's growth.
        node_reserved.insert(node.to_string(), allocatable.saturating_sub(room));
    }
}
