//! What a resize decision produces: the [`ResizePlan`] (per pod the writes, [`PodPlan`]; the decisions without
//! writes, [`Note`]) and how it prints. Pure data: the shell applies it, `--output json` serializes it.

use super::record::Direction;
use super::values::{Resource, Values};
use crate::events::{EventAction, EventType};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use std::fmt;

pub const EVENT_REASON_RESIZED: &str = "ThermostatResized";
pub const EVENT_REASON_WITHDRAWN: &str = "ThermostatResizeWithdrawn";

/// One resource of one container to change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChange {
    pub resource: Resource,
    pub direction: Direction,
    pub from: Values,
    pub to: Values,
    pub why: String,
    /// The OOM kill (its `finishedAt`) this memory raise answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_killed_at: Option<Timestamp>,
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
    /// Pod-level resources (`spec.resources`, 1.36+) raised in the same resize so that the containers stay
    /// within them, as the API server requires.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pod_level: Vec<ResourceChange>,
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
            for change in &pod.pod_level {
                writeln!(
                    f,
                    "{action} {}/{} pod-level {} {} -> {}: {}",
                    pod.namespace,
                    pod.name,
                    change.resource.name(),
                    change.from.describe(change.resource),
                    change.to.describe(change.resource),
                    change.why
                )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_event_in_the_json_plan_keeps_its_spelling() {
        let event = EventFields {
            reason: EVENT_REASON_WITHDRAWN.to_string(),
            type_: EventType::Warning,
            action: EventAction::Resize,
            note: "resize Infeasible: withdrawn".to_string(),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"reason": "ThermostatResizeWithdrawn", "type_": "Warning", "note": "resize Infeasible: withdrawn"})
        );
    }
}
