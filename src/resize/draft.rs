//! The plan being drafted: the state every step of one tick's resize decision shares, and the small time
//! helpers their notes use. Pure.

use super::plan::{Note, NoteKind, ResizePlan};
use super::policy::ResizePolicy;
use super::signals::ContainerKey;
use super::values::Resource;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::time::Duration;

/// One tick's decision under way: what every step reads (policy, now) and the plan they add to.
pub(super) struct Draft<'a> {
    pub(super) policy: &'a ResizePolicy,
    pub(super) explain_unchanged: bool,
    pub(super) now: Timestamp,
    pub(super) plan: ResizePlan,
    /// Highest utilization of a pod's upsizes, by index in `plan.pods`: the hottest go first under the cap.
    pub(super) heat: HashMap<usize, f64>,
    /// Containers whose CPU this decision lowers, before fitting and the cap: what the throttling guard is read
    /// for ([`super::cpu_scale_downs`]).
    pub(super) cpu_scale_downs: Vec<ContainerKey>,
}

impl Draft<'_> {
    /// Notes a decision without writes; an `Unchanged` one is only counted unless unchanged ones are explained.
    pub(super) fn note(
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

    /// Notes a resource left as it is; its reason is put in words only when unchanged ones are explained.
    pub(super) fn keep(
        &mut self,
        ns: &str,
        pod: &str,
        container: &str,
        resource: Resource,
        kept: &impl std::fmt::Display,
    ) {
        if !self.explain_unchanged {
            self.plan.unchanged += 1;
            return;
        }
        let reason = kept.to_string();
        self.note(
            NoteKind::Unchanged,
            ns,
            pod,
            Some(container),
            Some(resource),
            reason,
        );
    }
}

/// `now + duration`, or the end of time when that overflows.
pub(super) fn add(now: Timestamp, duration: Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// `5m`, `24h` when whole hours, or `90s` when not whole minutes: how notes show a window.
pub(super) fn minutes(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 3600 && secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}
