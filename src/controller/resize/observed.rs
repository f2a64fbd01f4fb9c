//! What a resize plan is decided from ([`Observed`]), and the decision for some of its pods ([`decide_for`]),
//! shared by the first decision and the decisions again after a conflict.

use k8s_openapi::jiff::Timestamp;

use super::observe::{Cluster, NamespaceLabels};
use crate::model::pod::Pod;
use crate::resize::ResizeSettings;
use crate::resize::fit::Reserved;
use crate::resize::signals::{ContainerKey, SignalTable};
use crate::resize::{ResizeInput, ResizePlan, cpu_scale_downs, decide_resizes};
use std::collections::{BTreeMap, BTreeSet};

/// What a resize plan is decided from.
pub(crate) struct Observed {
    /// Every pod bound to a node, updated as conflicts are re-read; the opted-in ones are borrowed from it.
    pub(in crate::controller) all_pods: Vec<Pod>,
    pub(in crate::controller) namespace_labels: NamespaceLabels,
    pub(in crate::controller) cluster: Cluster,
    pub(in crate::controller) cpu: SignalTable,
    pub(in crate::controller) memory: SignalTable,
    /// "Kept" notes are shown only in a printed plan, shadow mode's log and debug logs.
    pub(in crate::controller) explain_unchanged: bool,
    /// What each node's pods reserve, kept up to date by a replay as it resizes; `None` (live): summed from
    /// `all_pods` at each decision.
    pub(in crate::controller) reserved: Option<BTreeMap<String, Reserved>>,
    /// Containers whose throttling guard this tick has read (live: only the ones it would scale down).
    pub(in crate::controller) throttle_guarded: BTreeSet<ContainerKey>,
}

/// The plan for `pods` (opted-in pods, borrowed from `observed`), with the rest of what was observed.
pub(in crate::controller) fn decide_for(
    settings: &ResizeSettings,
    observed: &Observed,
    pods: &[&Pod],
    now: Timestamp,
) -> ResizePlan {
    decide_resizes(&input_for(observed, pods), &settings.policy, now)
}

/// The containers of `pods` whose CPU that plan would lower: what the throttling guard is read for.
pub(in crate::controller) fn cpu_scale_downs_for(
    settings: &ResizeSettings,
    observed: &Observed,
    pods: &[&Pod],
    now: Timestamp,
) -> Vec<ContainerKey> {
    cpu_scale_downs(&input_for(observed, pods), &settings.policy, now)
}

fn input_for<'a>(observed: &'a Observed, pods: &'a [&'a Pod]) -> ResizeInput<'a> {
    let cluster = &observed.cluster;
    ResizeInput {
        pods,
        nodes: &cluster.nodes,
        all_pods: &observed.all_pods,
        hpas: &cluster.hpas,
        vpas: &cluster.vpas,
        limit_ranges: &cluster.limit_ranges,
        resource_quotas: &cluster.resource_quotas,
        server_minor: cluster.server_minor,
        cpu: &observed.cpu,
        memory: &observed.memory,
        explain_unchanged: observed.explain_unchanged,
        reserved: observed.reserved.as_ref(),
    }
}
