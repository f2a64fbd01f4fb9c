//! The resize decision of one tick: opted-in pods, nodes, signals, policy and `now` in; a [`ResizePlan`] out.
//!
//! Per pod, in order: not considered ([`eligibility`](super::eligibility), overrides, another autoscaler),
//! a resize in flight followed up (`in_flight`: wait, back off, withdraw), each container sized
//! (`sizing`) unless in cooldown or back-off, upsizes fitted to the node ([`fit`](super::fit)) and to the
//! namespace's LimitRanges and ResourceQuotas (`admission`), then the writes and the Event. Last, at most
//! `max_pods_per_tick` pods are kept. Pure: the same input gives the same plan; nothing here reads a clock, the
//! environment, files or the network.

use super::admission::{Admission, admit};
use super::draft::{Draft, add};
use super::eligibility::{
    Steered, namespace_and_name, node_name, not_resizable, resizable_containers,
    steered_by_another_autoscaler,
};
use super::fit::{Reserved, allocatable, fit_on_node, pod_level_changes, reserved_by_node};
use super::in_flight::{back_off_containers, follow_up, resting};
use super::overrides::{Overrides, read_overrides};
use super::owners::SteeringHpas;
use super::plan::{
    ContainerChange, EVENT_REASON_RESIZED, EventFields, Note, NoteKind, PodAction, PodPlan,
    ResizePlan, ResourceChange,
};
use super::policy::ResizePolicy;
use super::record::{
    ContainerRecord, Direction, PodRecord, ResourceTexts, read_record, render_record,
};
use super::signals::{ContainerKey, SignalTable};
use super::sizing::{Kept, OomKills, oom_window, size_resource};
use super::values::Resource;
use crate::events::{EventAction, EventType};
use crate::model::pod::{Container, ContainerStatus, Pod};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Node, ResourceQuota};
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};

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
    /// LimitRanges and ResourceQuotas of every namespace: what the API server's admission lets a resize do.
    pub limit_ranges: &'a [LimitRange],
    pub resource_quotas: &'a [ResourceQuota],
    /// API server minor version (32, 33, 34, ...).
    pub server_minor: u32,
    /// CPU usage in cores per container.
    pub cpu: &'a SignalTable,
    /// Memory working set in bytes per container.
    pub memory: &'a SignalTable,
    /// What the pods on each node reserve, when the caller keeps it (a replay, updating it as it resizes);
    /// `None`: summed from `all_pods` here, as a live tick does (its pods change as conflicts are re-read).
    pub reserved: Option<&'a BTreeMap<String, Reserved>>,
    /// Keep a note for every container left as it is (for debug logs and printed plans); otherwise they are only
    /// counted ([`ResizePlan::unchanged`]): one per quiet container, 34 MB at 50,000 containers.
    pub explain_unchanged: bool,
}

/// Decides the resizes of one tick. Pure: the same input gives the same plan.
pub fn decide_resizes(input: &ResizeInput, policy: &ResizePolicy, now: Timestamp) -> ResizePlan {
    draft_resizes(input, policy, now).plan
}

/// The containers whose CPU [`decide_resizes`] would lower on `input` (before node fit, admission and the cap
/// per tick), sorted. The throttling guard can only hold such a scale-down (it is read last, for a decrease that
/// would happen), so deciding once without it, reading it for these containers alone and deciding again gives
/// the plan that reading it for every container would.
pub fn cpu_scale_downs(
    input: &ResizeInput,
    policy: &ResizePolicy,
    now: Timestamp,
) -> Vec<ContainerKey> {
    // Why each container stays is not wanted here: it would only be formatted and dropped.
    let quiet = ResizeInput {
        explain_unchanged: false,
        ..*input
    };
    let mut keys = draft_resizes(&quiet, policy, now).cpu_scale_downs;
    keys.sort();
    keys.dedup();
    keys
}

fn draft_resizes<'a>(input: &ResizeInput, policy: &'a ResizePolicy, now: Timestamp) -> Draft<'a> {
    let mut draft = Draft {
        policy,
        explain_unchanged: input.explain_unchanged,
        now,
        plan: ResizePlan::default(),
        heat: HashMap::new(),
        cpu_scale_downs: Vec::new(),
    };
    let mut node_reserved = input
        .reserved
        .cloned()
        .unwrap_or_else(|| reserved_by_node(input.all_pods));
    let nodes: HashMap<&str, Reserved> = input
        .nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref()?, allocatable(n))))
        .collect();
    let hpas = SteeringHpas::new(input.hpas);
    let mut admission = Admission::new(input.limit_ranges, input.resource_quotas);
    for pod in input.pods {
        decide_pod(
            &mut draft,
            input,
            pod,
            &hpas,
            &nodes,
            &mut node_reserved,
            &mut admission,
        );
    }
    cap_pods_per_tick(&mut draft);
    draft
}

/// Keeps at most `max_pods_per_tick` resized or withdrawn pods (withdrawals first: they free capacity; then
/// upsizes hottest first; then downsizes) and reports the rest as deferred. Record-only writes are not resizes.
fn cap_pods_per_tick(draft: &mut Draft) {
    let max = draft.policy.max_pods_per_tick;
    let pods = std::mem::take(&mut draft.plan.pods);
    let mut ranked: Vec<(usize, PodPlan)> = pods.into_iter().enumerate().collect();
    let rank = |(index, pod): &(usize, PodPlan)| -> (u8, f64) {
        match pod.action {
            PodAction::RecordOnly => (0, 0.0),
            PodAction::Withdraw => (1, 0.0),
            PodAction::Resize => match draft.heat.get(index) {
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
            draft.plan.pods.push(pod);
        } else {
            draft.plan.notes.push(Note {
                kind: NoteKind::Skipped,
                namespace: pod.namespace,
                pod: pod.name,
                container: None,
                resource: None,
                reason: format!("deferred to a later tick: at most {max} pods per tick"),
            });
        }
    }
    draft.heat.clear();
}

fn decide_pod(
    draft: &mut Draft,
    input: &ResizeInput,
    pod: &Pod,
    hpas: &SteeringHpas,
    nodes: &HashMap<&str, Reserved>,
    node_reserved: &mut BTreeMap<String, Reserved>,
    admission: &mut Admission,
) {
    let (ns, name) = namespace_and_name(pod);
    let skip = |draft: &mut Draft, reason: String| {
        draft.note(NoteKind::Skipped, ns, name, None, None, reason)
    };
    if let Some(reason) = not_resizable(pod, input.server_minor) {
        return skip(draft, reason);
    }
    let overrides = match read_overrides(pod, draft.policy) {
        Ok(o) => o,
        Err(reason) => return skip(draft, reason),
    };
    let (mut record, record_problem) = read_record(pod);
    if let Some(problem) = record_problem {
        draft.note(NoteKind::Warning, ns, name, None, None, problem);
    }
    // Another autoscaler's pod is not ours: not its resizes either (no withdrawal, no back-off record).
    let enabled = |resource| is_enabled(draft.policy, &overrides, resource);
    let steered = match steered_by_another_autoscaler(pod, hpas, input.vpas, enabled) {
        Ok(steered) => steered,
        Err(reason) => return skip(draft, reason),
    };
    let base = PodPlan {
        namespace: ns.to_string(),
        name: name.to_string(),
        resource_version: pod.metadata.resource_version.as_deref().map(String::from),
        node: node_name(pod).to_string(),
        action: PodAction::Resize,
        containers: Vec::new(),
        pod_level: Vec::new(),
        record: String::new(),
        record_if_refused: None,
        event: None,
    };
    let Some(base) = follow_up(draft, pod, input.server_minor, base, &mut record) else {
        return;
    };
    let (mut changes, heat) =
        size_containers(draft, input, pod, &overrides, &record, steered.as_ref());
    fit_on_node(draft, pod, &base.node, nodes, node_reserved, &mut changes);
    admit(
        draft,
        admission,
        pod,
        (ns, name),
        input.server_minor,
        &mut changes,
    );
    // After both cuts: the pod-level values the containers' final sizes need (1.36+).
    let pod_level = pod_level_changes(pod, &changes);
    if !changes.is_empty() {
        plan_resize(draft, PodPlan { pod_level, ..base }, record, changes, heat);
    }
}

/// Sizes every resizable container that our record does not hold back (cooldown, back-off): the changes,
/// and the pod's heat (the highest utilization of its upsizes).
fn size_containers(
    draft: &mut Draft,
    input: &ResizeInput,
    pod: &Pod,
    overrides: &Overrides,
    record: &PodRecord,
    steered: Option<&Steered>,
) -> (Vec<ContainerChange>, Option<f64>) {
    let (ns, name) = namespace_and_name(pod);
    let mut changes: Vec<ContainerChange> = Vec::new();
    let mut heat: Option<f64> = None;
    for (container, sidecar, status) in resizable_containers(pod) {
        let key = ContainerKey::new(ns, name, &container.name);
        let entry = record.get(container.name.as_str());
        let oom = OomKills {
            last: status.and_then(oom_killed_at),
            raised: entry.map_or(&[], |e| e.oom_raises.as_slice()),
        };
        let mut resources: &[Resource] = &[Resource::Cpu, Resource::Memory];
        if let Some(reason) = resting(draft.policy, draft.now, entry) {
            // A cooldown does not hold back the answer to an OOM kill; a back-off (the server or the node
            // refused) does.
            let backing_off = entry.is_some_and(|e| e.backoff_until.is_some_and(|u| u > draft.now));
            let answers_a_kill = is_enabled(draft.policy, overrides, Resource::Memory)
                && oom
                    .unanswered(draft.now, oom_window(draft.policy))
                    .is_some();
            if backing_off || !answers_a_kill {
                draft.note(
                    NoteKind::Unchanged,
                    ns,
                    name,
                    Some(&container.name),
                    None,
                    reason,
                );
                continue;
            }
            resources = &[Resource::Memory];
        }
        let mut container_changes = Vec::new();
        for &resource in resources {
            if !is_enabled(draft.policy, overrides, resource) {
                continue;
            }
            if let Some(held) = steered.and_then(|s| s.holds(&container.name, resource)) {
                draft.keep(ns, name, &container.name, resource, &held);
                continue;
            }
            let sized = size_container_resource(
                (draft.policy, input),
                container,
                resource,
                overrides,
                &key,
                (oom, draft.now, pod_started(pod)),
            );
            match sized {
                Ok((change, upsize_heat)) => {
                    if let Some(utilization) = upsize_heat {
                        heat = Some(heat.map_or(utilization, |h| h.max(utilization)));
                    }
                    if resource == Resource::Cpu && change.direction != Direction::Up {
                        draft.cpu_scale_downs.push(key.clone());
                    }
                    container_changes.push(change);
                }
                Err(kept) => draft.keep(ns, name, &container.name, resource, &kept),
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
    (changes, heat)
}

/// Whether the rules size `resource` of this pod: cpu unless turned off, memory as the policy says unless
/// the pod says otherwise.
fn is_enabled(policy: &ResizePolicy, overrides: &Overrides, resource: Resource) -> bool {
    match resource {
        Resource::Cpu => overrides.cpu.unwrap_or(true),
        Resource::Memory => overrides.memory.unwrap_or(policy.memory_enabled),
    }
}

/// [`size_resource`] with the container's usage of `resource` from this tick's signals.
fn size_container_resource(
    (policy, input): (&ResizePolicy, &ResizeInput),
    container: &Container,
    resource: Resource,
    overrides: &Overrides,
    key: &ContainerKey,
    oom: (OomKills, Timestamp, Option<Timestamp>),
) -> Result<(ResourceChange, Option<f64>), Kept> {
    let table: &SignalTable = match resource {
        Resource::Cpu => input.cpu,
        Resource::Memory => input.memory,
    };
    size_resource(
        policy,
        input.server_minor,
        container,
        resource,
        overrides,
        table.get(key),
        oom,
    )
}

/// When the kubelet took the pod on (`status.startTime`); unreadable or absent: unknown.
fn pod_started(pod: &Pod) -> Option<Timestamp> {
    pod.status.as_ref()?.start_time.as_deref()?.parse().ok()
}

/// When the container's previous run ended in an OOM kill (`lastState.terminated.reason`), its `finishedAt`.
/// An unreadable time is no kill: nothing would say whether it was answered.
fn oom_killed_at(status: &ContainerStatus) -> Option<Timestamp> {
    let terminated = status.last_state.as_ref()?.terminated.as_ref()?;
    if terminated.reason.as_deref() != Some("OOMKilled") {
        return None;
    }
    terminated.finished_at.as_deref()?.parse().ok()
}

/// The pod's resize: our record of it (and the record should the server refuse it: the changed containers
/// back off), the Event, and its heat for [`cap_pods_per_tick`].
fn plan_resize(
    draft: &mut Draft,
    base: PodPlan,
    mut record: PodRecord,
    changes: Vec<ContainerChange>,
    heat: Option<f64>,
) {
    let mut refused = record.clone();
    back_off_containers(
        &mut refused,
        changes.iter().map(|c| c.name.as_str()),
        "the API server refused the resize",
        add(draft.now, draft.policy.infeasible_backoff),
        draft.now,
    );
    let mut notes = Vec::new();
    for change in &changes {
        notes.push(change_note(change));
        let previous = record.get(&change.name);
        let oom_raises = oom_raises_after(draft.policy, draft.now, previous, change);
        let mut entry = record_of(change, draft.now);
        entry.oom_raises = oom_raises;
        record.insert(change.name.clone(), entry);
    }
    notes.extend(base.pod_level.iter().map(|c| {
        let (from, to) = (c.from.describe(c.resource), c.to.describe(c.resource));
        format!("pod-level {} {from} -> {to} ({})", c.resource.name(), c.why)
    }));
    // An upsize cut away by the node fit leaves no heat to rank by.
    let upsizes = changes
        .iter()
        .any(|c| c.changes.iter().any(|r| r.direction == Direction::Up));
    if let Some(heat) = heat.filter(|_| upsizes) {
        draft.heat.insert(draft.plan.pods.len(), heat);
    }
    draft.plan.pods.push(PodPlan {
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

/// The Event's words for one container: each resource from and to, and why.
fn change_note(change: &ContainerChange) -> String {
    format!(
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
    )
}

/// Our record of a container's resize made `now`.
fn record_of(change: &ContainerChange, now: Timestamp) -> ContainerRecord {
    let direction = combined_direction(change.changes.iter().map(|c| c.direction));
    let why = change
        .changes
        .iter()
        .map(|c| format!("{}: {}", c.resource.name(), c.why))
        .collect::<Vec<_>>()
        .join("; ");
    let (from, to) = texts(&change.changes);
    ContainerRecord {
        at: now,
        direction,
        from,
        to,
        why,
        backoff_until: None,
        backoff_reason: None,
        oom_raises: Vec::new(),
    }
}

/// The OOM raises a container's record keeps after `change`: those within the window, and the kill it answers.
fn oom_raises_after(
    policy: &ResizePolicy,
    now: Timestamp,
    previous: Option<&ContainerRecord>,
    change: &ContainerChange,
) -> Vec<Timestamp> {
    let window = oom_window(policy);
    let mut raises: Vec<Timestamp> = previous
        .map(|p| p.oom_raises.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|at| add(*at, window) > now)
        .collect();
    raises.extend(change.changes.iter().filter_map(|c| c.oom_killed_at));
    raises.sort();
    raises.dedup();
    raises
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
