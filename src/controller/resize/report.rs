//! resize-pods, reporting: the per-tick metrics of a plan and of the resizes in progress, and the log lines
//! saying why pods were left alone.

use std::collections::BTreeMap;

use crate::hook::metrics::Metrics;
use crate::log;
use crate::model::pod::Pod;
use crate::resize::ResizePlan;
use crate::resize::plan::{NoteKind, PodAction, PodPlan};
use serde_json::json;

/// Resizes the kubelet has not finished, by condition, from the pods as read (before this tick's writes).
pub(super) fn report_resize_progress(pods: &[&Pod], metrics: &mut Metrics) {
    let mut pending: BTreeMap<&str, usize> = ["Deferred", "Infeasible", "InProgress", "Error"]
        .into_iter()
        .map(|r| (r, 0))
        .collect();
    for pod in pods {
        for condition in pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
        {
            // A condition about an older generation (e.g. a resize we withdrew) is no longer pending.
            let stale = matches!(
                (condition.observed_generation, pod.metadata.generation),
                (Some(observed), Some(generation)) if observed < generation
            );
            if condition.status != "True" || stale {
                continue;
            }
            let reason = condition.reason.as_deref().unwrap_or_default();
            let key = match (condition.type_.as_str(), reason) {
                ("PodResizePending", "Infeasible") => "Infeasible",
                ("PodResizePending", _) => "Deferred",
                ("PodResizeInProgress", "Error") => "Error",
                ("PodResizeInProgress", _) => "InProgress",
                _ => continue,
            };
            *pending.entry(key).or_default() += 1;
        }
    }
    for (reason, count) in pending {
        metrics.gauge("resizes_pending", count as f64, &[("reason", reason)]);
    }
}

/// Why pods and containers were left alone, so a hook's logs answer "why was my pod not resized?".
/// Skips, follow-ups and warnings are few (opted-in pods only); "unchanged" covers every quiet container,
/// so it is debug.
pub(super) fn log_notes(plan: &ResizePlan) {
    for note in &plan.notes {
        let mut subject = format!("{}/{}", note.namespace, note.pod);
        if let Some(container) = &note.container {
            subject.push('/');
            subject.push_str(container);
        }
        if let Some(resource) = note.resource {
            subject.push(' ');
            subject.push_str(resource.name());
        }
        let fields = [("reason", json!(note.reason))];
        match note.kind {
            NoteKind::Skipped => log::info(&format!("skipped {subject}"), &fields),
            NoteKind::FollowUp => log::info(&format!("follow-up on {subject}"), &fields),
            NoteKind::Warning => log::warn(&format!("problem with {subject}"), &fields),
            NoteKind::Unchanged => log::debug(&format!("kept {subject}"), &fields),
        }
    }
}

/// `resizes_total` for the load-driven changes of one pod (withdrawals are not resizes).
pub(super) fn count_resizes(pod: &PodPlan, dry_run: &str, metrics: &mut Metrics) {
    if pod.action != PodAction::Resize {
        return;
    }
    for container in &pod.containers {
        for change in &container.changes {
            metrics.counter(
                "resizes_total",
                1.0,
                &[
                    ("resource", change.resource.name()),
                    ("direction", &change.direction.to_string()),
                    ("dry_run", dry_run),
                ],
            );
        }
    }
}

pub(super) fn report_plan(plan: &ResizePlan, dry_run: bool, metrics: &mut Metrics) {
    let dry = if dry_run { "true" } else { "false" };
    // Every series at 0 first: one must exist before its first resize for `increase()` to see that resize.
    for resource in ["cpu", "memory"] {
        for direction in ["up", "down"] {
            metrics.counter(
                "resizes_total",
                0.0,
                &[
                    ("resource", resource),
                    ("direction", direction),
                    ("dry_run", dry),
                ],
            );
        }
    }
    let mut decisions: BTreeMap<String, usize> = BTreeMap::new();
    for pod in &plan.pods {
        for container in &pod.containers {
            for change in &container.changes {
                let direction = change.direction.to_string();
                let decision = if pod.action == PodAction::Withdraw {
                    "withdraw".to_owned()
                } else {
                    direction.clone()
                };
                *decisions.entry(decision).or_default() += 1;
            }
        }
        if dry_run {
            // Shadow mode counts what it would do; a real tick counts each resize once the PATCH succeeded.
            count_resizes(pod, dry, metrics);
        }
    }
    for note in &plan.notes {
        let decision = match note.kind {
            NoteKind::Skipped => "skipped",
            NoteKind::FollowUp => "follow-up",
            // Counted whether or not each has its note.
            NoteKind::Unchanged | NoteKind::Warning => continue,
        };
        *decisions.entry(decision.to_owned()).or_default() += 1;
    }
    if plan.unchanged > 0 {
        decisions.insert("none".to_owned(), plan.unchanged);
    }
    for (decision, count) in decisions {
        metrics.gauge(
            "containers",
            count as f64,
            &[("decision", &decision), ("dry_run", dry)],
        );
    }
}
