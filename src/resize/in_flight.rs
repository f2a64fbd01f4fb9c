//! Resizes in flight: the kubelet's view of a pod's resize (conditions dated by their observedGeneration where the
//! server tracks generations, or `status.resize` on 1.32), following
//! it up (wait, back off after a kubelet error, withdraw one Deferred too long or Infeasible), and the
//! cooldowns and back-offs our record imposes on a container. Pure.

use super::draft::{Draft, add, minutes};
use super::eligibility::{namespace_and_name, resizable_containers};
use super::plan::{
    ContainerChange, EVENT_REASON_RESIZED, EVENT_REASON_WITHDRAWN, EventFields, NoteKind,
    PodAction, PodPlan, ResourceChange,
};
use super::policy::ResizePolicy;
use super::record::{ContainerRecord, Direction, PodRecord, ResourceTexts, render_record};
use super::values::{
    Resource, Values, allocated_values, memory_limit_decrease_forbidden, spec_values,
};
use crate::events::{EventAction, EventType};
use crate::model::pod::{Container, ContainerStatus, Pod, ResourceList};
use k8s_openapi::api::core::v1::PodCondition;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Follows up the pod's resize: with nothing in flight, `base` comes back for sizing; a resize the kubelet
/// has not caught up with, in progress, failing or pending is noted, backed off or withdrawn here, and the
/// pod is decided for this tick.
pub(super) fn follow_up(
    draft: &mut Draft,
    pod: &Pod,
    server_minor: u32,
    base: PodPlan,
    record: &mut PodRecord,
) -> Option<PodPlan> {
    let (ns, name) = namespace_and_name(pod);
    let skip = |draft: &mut Draft, reason: String| {
        draft.note(NoteKind::Skipped, ns, name, None, None, reason)
    };
    match resize_state(pod) {
        ResizeState::Settled => return Some(base),
        ResizeState::KubeletBehind {
            observed,
            generation,
        } => skip(
            draft,
            format!(
                "kubelet has not caught up with the spec (observedGeneration {observed} < generation {generation})"
            ),
        ),
        ResizeState::NotAllocated {
            generation,
            container,
        } => skip(
            draft,
            format!(
                "kubelet has seen generation {generation} but has not allocated its resources yet ({container}: allocatedResources differ from the spec)"
            ),
        ),
        ResizeState::InProgress { error: None } => skip(draft, "resize in progress".to_string()),
        ResizeState::InProgress {
            error: Some(message),
        } => on_kubelet_error(draft, pod, base, record, &message),
        ResizeState::Pending(pending) => {
            on_pending(draft, pod, server_minor, base, record, &pending)
        }
    }
    None
}

fn on_kubelet_error(
    draft: &mut Draft,
    pod: &Pod,
    base: PodPlan,
    record: &mut PodRecord,
    message: &str,
) {
    let (ns, name) = namespace_and_name(pod);
    // Often transient (autoscaler#10093): the kubelet retries; we only hold off our next step.
    let reason = format!("kubelet reports a resize error: {message}");
    draft.note(NoteKind::FollowUp, ns, name, None, None, reason.clone());
    let ours = ours(pod, record);
    // Someone else's resize is not ours to back off from; and while the same error persists, the
    // back-off already recorded says it all (re-arming it would write and warn every cooldown).
    let already_recorded = ours
        .iter()
        .all(|c| record.get(*c).and_then(|e| e.backoff_reason.as_deref()) == Some(reason.as_str()));
    if ours.is_empty() || already_recorded {
        return;
    }
    let until = add(draft.now, draft.policy.cooldown_up);
    if back_off(record, pod, &reason, until, draft.now) {
        draft.plan.pods.push(PodPlan {
            action: PodAction::RecordOnly,
            record: render_record(record),
            event: Some(EventFields {
                reason: EVENT_REASON_RESIZED.to_string(),
                type_: EventType::Warning,
                action: EventAction::Resize,
                note: format!("{reason}; next try after {until}"),
            }),
            ..base
        });
    }
}

fn on_pending(
    draft: &mut Draft,
    pod: &Pod,
    server_minor: u32,
    base: PodPlan,
    record: &mut PodRecord,
    pending: &PendingResize,
) {
    let (ns, name) = namespace_and_name(pod);
    let follow_up = |draft: &mut Draft, reason: String| {
        draft.note(NoteKind::FollowUp, ns, name, None, None, reason)
    };
    if ours(pod, record).is_empty() {
        return follow_up(
            draft,
            format!(
                "resize by someone else pending ({}): its spec is not what we last set, so we leave it",
                pending.reason
            ),
        );
    }
    let why = match withdrawal_reason(draft, record, pending) {
        Ok(why) => why,
        Err(waiting) => return follow_up(draft, waiting),
    };
    // A withdrawal already made and backed off (refused by the server, or not yet seen by the
    // kubelet) is not sent again until the back-off ends.
    if let Some(until) = ours(pod, record)
        .iter()
        .filter_map(|c| record.get(*c).and_then(|e| e.backoff_until))
        .filter(|until| *until > draft.now)
        .min()
    {
        return follow_up(
            draft,
            format!("{why}; already withdrawn or refused, backing off until {until}"),
        );
    }
    follow_up(draft, why.clone());
    withdraw(draft, pod, server_minor, base, std::mem::take(record), &why);
}

/// Why a pending resize of ours is withdrawn now; or, while a `Deferred` one may still wait, the note
/// saying so.
fn withdrawal_reason(
    draft: &Draft,
    record: &PodRecord,
    pending: &PendingResize,
) -> Result<String, String> {
    let PendingResize {
        reason,
        message,
        since,
    } = pending;
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    // 1.32's `status.resize` carries no time: our own resize started it, so it is at most that old.
    let since = since.or_else(|| record.values().map(|entry| entry.at).max());
    let deferred_for = since.map(|s| draft.now.duration_since(s));
    let timed_out = reason != "Deferred"
        || deferred_for.is_some_and(|d| {
            d >= SignedDuration::try_from(draft.policy.deferred_timeout)
                .unwrap_or(SignedDuration::MAX)
        });
    if !timed_out {
        let age = deferred_for.map_or("unknown time".to_string(), |d| format!("{}s", d.as_secs()));
        return Err(format!(
            "resize Deferred{detail} for {age}; withdrawn after {}",
            minutes(draft.policy.deferred_timeout)
        ));
    }
    Ok(if reason == "Deferred" {
        format!(
            "resize Deferred{detail} longer than {}: withdrawn, it holds node capacity",
            minutes(draft.policy.deferred_timeout)
        )
    } else {
        format!("resize {reason}{detail}: withdrawn")
    })
}

/// Why our record keeps a container as it is this tick: a back-off or a cooldown not yet over.
pub(super) fn resting(
    policy: &ResizePolicy,
    now: Timestamp,
    entry: Option<&ContainerRecord>,
) -> Option<String> {
    let entry = entry?;
    if let Some(until) = entry.backoff_until.filter(|u| *u > now) {
        let why = entry.backoff_reason.clone().unwrap_or_default();
        return Some(format!("backing off until {until} ({why})"));
    }
    let cooldown = match entry.direction {
        Direction::Up => policy.cooldown_up,
        _ => policy.cooldown_down,
    };
    let until = add(entry.at, cooldown);
    (until > now).then(|| {
        format!(
            "cooldown until {until} after the {} resize at {}",
            entry.direction, entry.at
        )
    })
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
    /// The kubelet has seen the current generation (1.34+) and says nothing is pending or in progress, but
    /// what it allocated is not the spec: not done yet.
    NotAllocated {
        generation: i64,
        container: String,
    },
    Pending(PendingResize),
    InProgress {
        error: Option<String>,
    },
}

/// A resize the kubelet has not started: `Deferred` (may fit later) or `Infeasible`.
#[derive(Debug, Clone, PartialEq)]
struct PendingResize {
    reason: String,
    message: String,
    since: Option<Timestamp>,
}

fn is_true(condition: &PodCondition) -> bool {
    condition.status == "True"
}

/// The kubelet's view of the pod's resize. Where the server tracks pod generations (PodObservedGenerationTracking:
/// beta and on in 1.34, GA in 1.35; kubernetes pkg/features/kube_features.go), every resize bumps
/// `metadata.generation` (pkg/registry/core/pod/strategy.go, updatePodGeneration, also in the `resize`
/// strategy) and the kubelet stamps `status.observedGeneration` and each resize condition with the generation it
/// acted on (pkg/kubelet/allocation/allocation_manager.go, handlePodResourcesResize). Then a condition older than
/// the pod's generation is about an earlier spec, and a resize is done only once the kubelet has observed the
/// current generation, with nothing pending or in progress, and allocated what the spec asks. On 1.33 the
/// server drops those fields (pkg/api/pod/util.go, dropDisabledPodStatusFields): the conditions are read as
/// they are.
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
        return ResizeState::Pending(PendingResize {
            reason: pending.reason.clone().unwrap_or_default(),
            message: pending.message.clone().unwrap_or_default(),
            since: pending.last_transition_time.as_ref().map(|t| t.0),
        });
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
    {
        if observed < generation {
            return ResizeState::KubeletBehind {
                observed,
                generation,
            };
        }
        if let Some(container) = not_allocated(pod) {
            return ResizeState::NotAllocated {
                generation,
                container,
            };
        }
    }
    // 1.32 servers report progress in the (since removed) status.resize field.
    match status.and_then(|s| s.resize.as_deref()) {
        Some(reason @ ("Deferred" | "Infeasible")) => ResizeState::Pending(PendingResize {
            reason: reason.to_string(),
            message: String::new(),
            since: None,
        }),
        Some("Proposed") => ResizeState::KubeletBehind {
            observed: 0,
            generation: generation.unwrap_or(0),
        },
        Some("InProgress") => ResizeState::InProgress { error: None },
        _ => ResizeState::Settled,
    }
}

/// The first container (or `pod-level`) whose allocated cpu/memory requests, where the kubelet reports them,
/// differ from its spec. The kubelet copies the allocated requests exactly (kubernetes
/// pkg/kubelet/kubelet_pods.go, convertToAPIContainerStatuses), so values are compared as numbers.
fn not_allocated(pod: &Pod) -> Option<String> {
    let differs = |spec: Option<i64>, allocated: Option<&ResourceList>, resource: Resource| {
        let allocated = allocated
            .and_then(|list| list.get(resource.name()))
            .and_then(|q| resource.parse(q).ok());
        matches!((spec, allocated), (Some(s), Some(a)) if s != a)
    };
    for (container, _, status) in resizable_containers(pod) {
        let Some(allocated) = status.and_then(|s| s.allocated_resources.as_ref()) else {
            continue;
        };
        let unallocated = [Resource::Cpu, Resource::Memory]
            .into_iter()
            .any(|resource| {
                let spec = spec_values(container, resource)
                    .ok()
                    .and_then(|v| v.request);
                differs(spec, Some(allocated), resource)
            });
        if unallocated {
            return Some(container.name.to_string());
        }
    }
    // Pod-level resources (1.36+): `status.allocatedResources` is the pod's allocated requests, `spec.overhead`
    // included (pkg/kubelet/kubelet_pods.go generateAPIPodStatus: resourcehelper.PodRequests).
    let spec = pod.spec.as_ref()?;
    let resources = spec.resources.as_deref()?;
    let allocated = pod.status.as_ref()?.allocated_resources.as_deref()?;
    [Resource::Cpu, Resource::Memory]
        .into_iter()
        .any(|resource| {
            let read = |list: Option<&ResourceList>| {
                list.and_then(|l| l.get(resource.name()))
                    .and_then(|q| resource.parse(q).ok())
            };
            let request = read(resources.requests.as_ref()).or(read(resources.limits.as_ref()));
            let overhead = read(spec.overhead.as_deref()).unwrap_or(0);
            matches!((request, read(Some(allocated))), (Some(r), Some(a)) if r + overhead != a)
        })
        .then(|| "pod-level".to_string())
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
pub(super) fn back_off_containers<'a>(
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
                oom_raises: Vec::new(),
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
    draft: &mut Draft,
    pod: &Pod,
    server_minor: u32,
    base: PodPlan,
    mut record: PodRecord,
    why: &str,
) {
    // Withdrawals the server would refuse: tried every tick, they would fail every tick.
    let mut refused = Vec::new();
    let changes = withdrawals(pod, &record, server_minor, draft.policy, why, &mut refused);
    if changes.is_empty() && refused.is_empty() {
        // Nothing of ours to set back: no back-off record, no Warning on the pod.
        return;
    }
    let ns = base.namespace.clone();
    for reason in &refused {
        draft.note(
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
    let until = add(draft.now, draft.policy.infeasible_backoff);
    if !back_off(&mut record, pod, why, until, draft.now) && changes.is_empty() {
        // The back-off is already recorded: unchanged state, no writes.
        return;
    }
    draft.plan.pods.push(PodPlan {
        action: if changes.is_empty() {
            PodAction::RecordOnly
        } else {
            PodAction::Withdraw
        },
        pod_level: if changes.is_empty() {
            Vec::new()
        } else {
            pod_level_withdrawals(pod, why)
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

/// Pod-level resources (1.36+) set back with our containers to what the kubelet allocated and applied: a
/// resize we made may have raised them (the fit's pod-level changes), and left raised, the Deferred or
/// Infeasible resize would stay so. `status.allocatedResources` holds the overhead too (kubernetes
/// pkg/kubelet/kubelet_pods.go, generateAPIPodStatus: resourcehelper.PodRequests); limits come from
/// `status.resources`. Only lowered, never raised, so the containers set back stay within them.
fn pod_level_withdrawals(pod: &Pod, why: &str) -> Vec<ResourceChange> {
    let Some(spec) = pod.spec.as_deref() else {
        return Vec::new();
    };
    let (Some(resources), Some(status)) = (spec.resources.as_deref(), pod.status.as_deref()) else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    for resource in [Resource::Cpu, Resource::Memory] {
        let read = |list: Option<&ResourceList>| {
            list.and_then(|l| l.get(resource.name()))
                .and_then(|q| resource.parse(q).ok())
        };
        let overhead = read(spec.overhead.as_deref()).unwrap_or(0);
        let from = Values {
            request: read(resources.requests.as_ref()).or(read(resources.limits.as_ref())),
            limit: read(resources.limits.as_ref()),
        };
        let allocated = read(status.allocated_resources.as_deref()).map(|a| a - overhead);
        let applied_limit = read(status.resources.as_deref().and_then(|r| r.limits.as_ref()));
        let lower = |spec: Option<i64>, to: Option<i64>| match (spec, to) {
            (Some(s), Some(t)) if t > 0 && t < s => Some(t),
            _ => spec,
        };
        let to = if from.request.is_some() && from.request == from.limit {
            // Equal request and limit stay equal (the pod's QoS class comes from them).
            let size = lower(from.request, allocated.or(applied_limit));
            Values {
                request: size,
                limit: size,
            }
        } else {
            Values {
                request: lower(from.request, allocated),
                limit: lower(from.limit, applied_limit),
            }
        };
        // A request above its limit would be refused: lower neither then.
        if to != from && to.request.zip(to.limit).is_none_or(|(r, l)| r <= l) {
            changes.push(ResourceChange {
                resource,
                direction: Direction::Withdraw,
                from,
                to,
                why: why.to_string(),
                oom_killed_at: None,
            });
        }
    }
    changes
}

/// The changes setting our containers back to their allocated values; those the server would refuse go
/// to `refused` instead.
fn withdrawals(
    pod: &Pod,
    record: &PodRecord,
    server_minor: u32,
    policy: &ResizePolicy,
    why: &str,
    refused: &mut Vec<String>,
) -> Vec<ContainerChange> {
    let mut changes = Vec::new();
    let ours = ours(pod, record);
    for (container, sidecar, status) in resizable_containers(pod) {
        // Only our own resizes: another tool's pending resize is not ours to undo.
        if !ours.contains(&container.name.as_str()) {
            continue;
        }
        let Some(status) = status else { continue };
        let container_changes = [Resource::Cpu, Resource::Memory]
            .into_iter()
            .filter_map(|resource| {
                withdrawal(
                    container,
                    status,
                    resource,
                    server_minor,
                    policy,
                    why,
                    refused,
                )
            })
            .collect::<Vec<_>>();
        if !container_changes.is_empty() {
            changes.push(ContainerChange {
                name: container.name.to_string(),
                sidecar,
                changes: container_changes,
            });
        }
    }
    changes
}

/// One resource of one container set back to its allocated value, if it differs from the spec and the
/// server would accept it (else the reason goes to `refused`).
fn withdrawal(
    container: &Container,
    status: &ContainerStatus,
    resource: Resource,
    server_minor: u32,
    policy: &ResizePolicy,
    why: &str,
    refused: &mut Vec<String>,
) -> Option<ResourceChange> {
    let (Ok(desired), Some(allocated)) = (
        spec_values(container, resource),
        allocated_values(status, resource),
    ) else {
        return None;
    };
    // Keep the spec's shape (absent stays absent); take the allocated numbers where known.
    let to = Values {
        request: desired.request.and(allocated.request.or(desired.request)),
        limit: desired.limit.and(allocated.limit.or(desired.limit)),
    };
    if resource == Resource::Memory
        && to.limit < desired.limit
        && let Some(reason) = memory_limit_decrease_forbidden(server_minor, container, policy)
    {
        refused.push(format!(
            "{} memory cannot be set back to {}: {reason}",
            container.name,
            to.describe(resource)
        ));
        return None;
    }
    (to != desired).then(|| ResourceChange {
        resource,
        direction: Direction::Withdraw,
        from: desired,
        to,
        why: why.to_string(),
        oom_killed_at: None,
    })
}
