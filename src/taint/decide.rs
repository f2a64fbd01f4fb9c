//! The pure decision: nodes + readings + policy + now → a [`TaintPlan`] (every node's state, reason and the
//! writes to make).
//!
//! Rules, in order:
//! 1. Per signal a node is `hot` (stayed above the threshold for the hot window), `cool` (stayed below the
//!    untaint threshold for the cool window), `band` (anything in between, including "above but not for long
//!    enough") or `unknown` (no series, NaN, or the deciding window not full of data). A node is hot if ANY
//!    enabled signal is hot, else unknown if any is unknown, else cool if ALL are cool, else band.
//! 2. Hysteresis: an eligible hot node should carry our taint, a cool one should not, and a band or unknown
//!    node keeps what it has. A node that is not eligible (control plane, cordoned, being deleted by
//!    cluster-autoscaler or Karpenter, opted out, being deleted) is never newly tainted and keeps our taint until it is cool.
//! 3. Cap, over eligible nodes only: at most `floor(max_tainted_fraction × eligible)` of them carry our taint
//!    after the plan. Nodes that already carry it keep their place first (no churn between equally hot
//!    nodes), hot before band/unknown, hottest first; new hot nodes fill what is left, hottest first. So when the
//!    cap is lowered (or eligible nodes go away) below the current count, the least hot of our tainted
//!    eligible nodes are untainted until the cap holds. With a scheduling effect, the last eligible node that
//!    no foreign NoSchedule/NoExecute taint blocks is never tainted (and is untainted if all are). Nodes left
//!    or made untainted by these limits are `capped`.
//!    Invariant (unless fail-safe): eligible nodes carrying our taint after the plan ≤ the cap; non-eligible
//!    nodes keep theirs and are not counted.
//! 4. Fail-safe: when strictly more than `max_unknown_fraction` of all nodes are unknown, no writes at all.
//! 5. Writes only where the taint list or our annotation changes.

use super::ownership::{Ownership, our_taint};
use super::policy::SignalKind;
use super::policy::{SignalPolicy, TaintEffect, TaintPolicy, human_duration};
use super::signals::{NodeReading, SignalReadings, UnmatchedSeries};
use crate::events::{EventAction, EventType};
use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// The taint cluster-autoscaler puts on a node it is deleting.
const CA_TO_BE_DELETED: &str = "ToBeDeletedByClusterAutoscaler";
/// The taint Karpenter puts (NoSchedule) on a node it is draining to remove it (kubernetes-sigs/karpenter
/// pkg/apis/v1/taints.go `DisruptedTaintKey`). Any effect counts: the node is on its way out either way.
const KARPENTER_DISRUPTED: &str = "karpenter.sh/disrupted";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Hot,
    Cool,
    Band,
    Unknown,
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeState::Hot => "hot",
            NodeState::Cool => "cool",
            NodeState::Band => "band",
            NodeState::Unknown => "unknown",
        })
    }
}

/// Why a node is not eligible for a new taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exclusion {
    /// Carries one of the control-plane labels.
    ControlPlane { label: String },
    /// `spec.unschedulable` (kubectl cordon).
    Cordoned,
    /// Carries cluster-autoscaler's `ToBeDeletedByClusterAutoscaler` taint.
    ScaleDown,
    /// Carries Karpenter's `karpenter.sh/disrupted` taint: Karpenter is removing the node.
    KarpenterDisrupted,
    /// Carries the opt-out label.
    OptedOut { label: String },
    /// Has a `deletionTimestamp`.
    Deleting,
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::ControlPlane { label } => write!(f, "control-plane node (label {label})"),
            Exclusion::Cordoned => f.write_str("cordoned"),
            Exclusion::ScaleDown => write!(
                f,
                "being scaled down by cluster-autoscaler (taint {CA_TO_BE_DELETED})"
            ),
            Exclusion::KarpenterDisrupted => write!(
                f,
                "being removed by Karpenter (taint {KARPENTER_DISRUPTED})"
            ),
            Exclusion::OptedOut { label } => write!(f, "opted out (label {label})"),
            Exclusion::Deleting => f.write_str("being deleted"),
        }
    }
}

/// What happens to our taint on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Not tainted by us before, tainted after.
    Add,
    /// Tainted by us before, not after.
    Remove,
    /// Tainted before and after, but rewritten: new value, key or effect from the settings, or the
    /// annotation adopted/repaired.
    Update,
    /// Tainted before and after, nothing written.
    Keep,
    /// Not tainted by us before or after (a stale annotation may still be cleaned up).
    None,
}

impl Action {
    /// Whether the node carries our taint after this action.
    pub fn leaves_our_taint(self) -> bool {
        match self {
            Action::Add | Action::Update | Action::Keep => true,
            Action::Remove | Action::None => false,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Add => "add",
            Action::Remove => "remove",
            Action::Update => "update",
            Action::Keep => "keep",
            Action::None => "none",
        })
    }
}

/// One signal's verdict on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalVerdict {
    pub signal: SignalKind,
    pub state: NodeState,
    pub current: Option<f64>,
    pub hot_min: Option<f64>,
    pub cool_max: Option<f64>,
    pub hot_samples: u32,
    pub cool_samples: u32,
    /// For people: value, threshold, window.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDecision {
    pub name: String,
    pub state: NodeState,
    pub signals: Vec<SignalVerdict>,
    pub eligible: bool,
    pub exclusion: Option<Exclusion>,
    /// Whether the node carried our taint (current or recorded form) when read.
    pub has_our_taint: bool,
    /// Left or made untainted by the cap or the last-schedulable-node rule.
    pub capped: bool,
    pub action: Action,
    /// For people: the state, the values, and what limited the action.
    pub reason: String,
    /// Whether the plan writes to this node.
    pub write: bool,
}

/// An Event to post on the Node for a change (events.k8s.io/v1 fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeEvent {
    /// `ThermostatTainted` or `ThermostatUntainted`.
    pub reason: String,
    /// `Taint` or `Untaint`.
    pub action: EventAction,
    /// `Normal`.
    #[serde(rename = "type")]
    pub type_: EventType,
    /// At most 1 kB.
    pub note: String,
}

/// The write for one node: the taint list and annotation as read, and as they must become.
/// [`super::node_patch`] turns it into a guarded JSON Patch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeWrite {
    pub node: String,
    /// `spec.taints` as read; `None` when the field was absent.
    pub taints_before: Option<Vec<Taint>>,
    pub taints_after: Vec<Taint>,
    /// Whether `metadata.annotations` existed when read.
    pub annotations_present: bool,
    pub annotation_before: Option<String>,
    pub annotation_after: Option<String>,
    /// `None` for bookkeeping writes (annotation adoption or clean-up).
    pub event: Option<NodeEvent>,
}

impl NodeWrite {
    pub fn taints_change(&self) -> bool {
        self.taints_before.as_deref().unwrap_or_default() != self.taints_after.as_slice()
    }

    pub fn annotation_changes(&self) -> bool {
        self.annotation_before != self.annotation_after
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanSummary {
    pub nodes: usize,
    pub hot: usize,
    pub cool: usize,
    pub band: usize,
    pub unknown: usize,
    pub excluded: usize,
    pub capped: usize,
    pub eligible: usize,
    /// `floor(max_tainted_fraction × eligible)`.
    pub cap: usize,
    /// Nodes carrying our taint after the plan (all of them, eligible or not).
    pub tainted_after: usize,
    pub add: usize,
    pub remove: usize,
    pub update: usize,
    pub writes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaintPlan {
    /// Every node, by name.
    pub decisions: Vec<NodeDecision>,
    /// The nodes to write, by name. Empty under fail-safe.
    pub writes: Vec<NodeWrite>,
    /// Why no writes are made, when the fail-safe tripped.
    pub fail_safe: Option<String>,
    /// Series per signal that matched no node.
    pub unmatched: BTreeMap<SignalKind, UnmatchedSeries>,
    pub summary: PlanSummary,
}

/// Per-node facts gathered before the cap is applied.
struct Candidate {
    name: String,
    ownership: Ownership,
    exclusion: Option<Exclusion>,
    signals: Vec<SignalVerdict>,
    state: NodeState,
    /// Highest `current - threshold` over the signals, in percentage points: how hot, for ordering.
    heat: f64,
    /// Whether any foreign taint keeps pods off the node (then our taint changes nothing for scheduling).
    blocked_by_others: bool,
}

/// Decides every node. `readings` holds one entry per signal that was queried; an enabled signal without an
/// entry makes every node unknown for it. `now` stamps our annotation.
pub fn decide_taints(
    nodes: &[Node],
    readings: &[SignalReadings],
    policy: &TaintPolicy,
    now: Timestamp,
) -> TaintPlan {
    let since = timestamp_text(now);
    let mut candidates: Vec<Candidate> = named_nodes(nodes)
        .map(|(name, node)| candidate(name, node, readings, policy))
        .collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));

    let fail_safe = fail_safe(&candidates, policy);
    let eligible = candidates.iter().filter(|c| c.exclusion.is_none()).count();
    let cap = ((policy.max_tainted_fraction * eligible as f64) + 1e-9).floor() as usize;
    let limits = apply_limits(&candidates, policy, cap);

    let mut decisions = Vec::with_capacity(candidates.len());
    let mut writes = Vec::new();
    for (candidate, limit) in candidates.iter().zip(&limits) {
        let (reason, want) = explain(candidate, *limit, eligible, cap, policy);
        let (decision, write) = decide_node(
            candidate,
            *limit,
            reason,
            want,
            policy,
            &since,
            fail_safe.as_deref(),
        );
        decisions.push(decision);
        writes.extend(write);
    }

    let unmatched = readings
        .iter()
        .filter(|r| r.unmatched.count > 0)
        .map(|r| (r.signal, r.unmatched.clone()))
        .collect();
    let summary = summarize(&decisions, &writes, eligible, cap);
    TaintPlan {
        decisions,
        writes,
        fail_safe,
        unmatched,
        summary,
    }
}

/// A node's facts before the cap: ownership, eligibility, each signal's verdict, the state they combine to
/// and how hot it is.
fn candidate(
    name: &str,
    node: &Node,
    readings: &[SignalReadings],
    policy: &TaintPolicy,
) -> Candidate {
    let ownership = Ownership::read(node, policy);
    let signals: Vec<SignalVerdict> = policy
        .signals()
        .into_iter()
        .map(|(kind, signal)| {
            let answer = readings.iter().find(|r| r.signal == kind);
            judge_signal(kind, signal, answer, name)
        })
        .collect();
    let state = combine(&signals);
    let heat = signals
        .iter()
        .filter_map(|v| Some(v.current? - policy.signal(v.signal)?.threshold_percent))
        .fold(f64::NEG_INFINITY, f64::max);
    let blocked_by_others = ownership
        .foreign()
        .iter()
        .any(|t| TaintEffect::blocks_scheduling(&t.effect));
    Candidate {
        name: name.to_string(),
        exclusion: exclusion(node, policy),
        ownership,
        signals,
        state,
        heat,
        blocked_by_others,
    }
}

/// Rule 4 of the module docs: why no writes are made, when too many nodes are unknown.
fn fail_safe(candidates: &[Candidate], policy: &TaintPolicy) -> Option<String> {
    let total = candidates.len();
    let unknown = candidates
        .iter()
        .filter(|c| c.state == NodeState::Unknown)
        .count();
    (total > 0 && unknown as f64 > policy.max_unknown_fraction * total as f64).then(|| {
        format!(
            "fail-safe: {unknown} of {total} nodes are unknown (more than {}%): no taint changes this tick",
            percent_text(policy.max_unknown_fraction * 100.0)
        )
    })
}

/// One node's decision, and its write unless nothing changes or the fail-safe holds writes back. `want`:
/// whether the node carries our taint after the plan, `reason` why.
fn decide_node(
    candidate: &Candidate,
    limit: Limit,
    mut reason: String,
    want: bool,
    policy: &TaintPolicy,
    since: &str,
    fail_safe: Option<&str>,
) -> (NodeDecision, Option<NodeWrite>) {
    let ownership = &candidate.ownership;
    let had = ownership.has_our_taint();
    let write = if want {
        let taints = ownership.taints_with_ours(policy);
        let ours = our_taint(policy);
        let annotation = ownership.annotation_for(&ours, since, &reason);
        node_write(&candidate.name, ownership, taints, Some(annotation))
    } else {
        node_write(&candidate.name, ownership, ownership.foreign(), None)
    };
    let changes = write.taints_change() || write.annotation_changes();
    let mut action = match (had, want) {
        (false, true) => Action::Add,
        (true, false) => Action::Remove,
        (true, true) if changes => Action::Update,
        (true, true) => Action::Keep,
        (false, false) => Action::None,
    };
    let mut will_write = changes;
    if let Some(why) = fail_safe {
        if changes {
            reason = format!("{why}; would {action}: {reason}");
        }
        action = if had { Action::Keep } else { Action::None };
        will_write = false;
    }
    let write = will_write.then(|| with_event(write, action, policy, &reason));
    let decision = NodeDecision {
        name: candidate.name.clone(),
        state: candidate.state,
        signals: candidate.signals.clone(),
        eligible: candidate.exclusion.is_none(),
        exclusion: candidate.exclusion.clone(),
        has_our_taint: had,
        capped: matches!(limit, Limit::Cap | Limit::LastSchedulable),
        action,
        reason,
        write: will_write,
    };
    (decision, write)
}

/// The write turning the node's taints and our annotation as read into `taints_after` and
/// `annotation_after`, without an Event yet.
fn node_write(
    name: &str,
    ownership: &Ownership,
    taints_after: Vec<Taint>,
    annotation_after: Option<String>,
) -> NodeWrite {
    NodeWrite {
        node: name.to_string(),
        taints_before: ownership.taints.clone(),
        taints_after,
        annotations_present: ownership.annotations_present,
        annotation_before: ownership.annotation.clone(),
        annotation_after,
        event: None,
    }
}

/// The write with its Event, when its taints change: adopting or cleaning up the annotation alone is
/// bookkeeping, not news.
fn with_event(write: NodeWrite, action: Action, policy: &TaintPolicy, reason: &str) -> NodeWrite {
    let event = if write.taints_change() {
        event_for(action, policy, reason)
    } else {
        None
    };
    NodeWrite { event, ..write }
}

/// Removes our taints (current and recorded form) and our annotation from every node, and nothing else.
pub fn plan_remove_all(nodes: &[Node], policy: &TaintPolicy) -> TaintPlan {
    let mut decisions = Vec::new();
    let mut writes = Vec::new();
    let mut sorted: Vec<(&str, &Node)> = named_nodes(nodes).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (name, node) in sorted {
        let ownership = Ownership::read(node, policy);
        let had = ownership.has_our_taint();
        let write = node_write(name, &ownership, ownership.foreign(), None);
        let changes = write.taints_change() || write.annotation_changes();
        let reason = if had {
            "remove-all: removing our taint".to_string()
        } else if changes {
            "remove-all: removing our annotation".to_string()
        } else {
            "remove-all: nothing of ours on this node".to_string()
        };
        let action = if had { Action::Remove } else { Action::None };
        if changes {
            writes.push(with_event(write, action, policy, &reason));
        }
        decisions.push(NodeDecision {
            name: name.to_string(),
            state: NodeState::Unknown,
            signals: Vec::new(),
            eligible: exclusion(node, policy).is_none(),
            exclusion: exclusion(node, policy),
            has_our_taint: had,
            capped: false,
            action,
            reason,
            write: changes,
        });
    }
    let eligible = decisions.iter().filter(|d| d.eligible).count();
    let summary = summarize(&decisions, &writes, eligible, 0);
    TaintPlan {
        decisions,
        writes,
        fail_safe: None,
        unmatched: BTreeMap::new(),
        summary,
    }
}

/// Nodes with a name (a nameless object cannot be patched and is skipped).
fn named_nodes(nodes: &[Node]) -> impl Iterator<Item = (&str, &Node)> {
    nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref().filter(|s| !s.is_empty())?, n)))
}

fn exclusion(node: &Node, policy: &TaintPolicy) -> Option<Exclusion> {
    let labels = node.metadata.labels.as_ref();
    if let Some(label) = policy
        .control_plane_labels
        .iter()
        .find(|l| labels.is_some_and(|m| m.contains_key(*l)))
    {
        return Some(Exclusion::ControlPlane {
            label: label.clone(),
        });
    }
    if node.metadata.deletion_timestamp.is_some() {
        return Some(Exclusion::Deleting);
    }
    let spec = node.spec.as_ref();
    if spec.and_then(|s| s.unschedulable) == Some(true) {
        return Some(Exclusion::Cordoned);
    }
    if spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .any(|t| t.key == CA_TO_BE_DELETED)
    {
        return Some(Exclusion::ScaleDown);
    }
    if spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .any(|t| t.key == KARPENTER_DISRUPTED)
    {
        return Some(Exclusion::KarpenterDisrupted);
    }
    let key = &policy.exclude_label_key;
    if labels.and_then(|m| m.get(key)) == Some(&policy.exclude_label_value) {
        return Some(Exclusion::OptedOut {
            label: format!("{key}={}", policy.exclude_label_value),
        });
    }
    None
}

/// One signal's verdict on one node: unknown without an answer, a matching series or a current value; else
/// as [`classify`] finds the reading.
fn judge_signal(
    kind: SignalKind,
    signal: &SignalPolicy,
    answer: Option<&SignalReadings>,
    node: &str,
) -> SignalVerdict {
    let verdict = |state, reading: &NodeReading, note: String| SignalVerdict {
        signal: kind,
        state,
        current: reading.current,
        hot_min: reading.hot_min,
        cool_max: reading.cool_max,
        hot_samples: reading.hot_samples,
        cool_samples: reading.cool_samples,
        note,
    };
    let empty = NodeReading::default();
    let Some(answer) = answer else {
        return verdict(
            NodeState::Unknown,
            &empty,
            format!("{kind}: no answer from Prometheus"),
        );
    };
    let Some(reading) = answer.reading(node) else {
        return verdict(
            NodeState::Unknown,
            &empty,
            format!("{kind}: no series matched this node"),
        );
    };
    let Some(current) = reading.current else {
        return verdict(
            NodeState::Unknown,
            reading,
            format!("{kind}: no current value (missing or NaN)"),
        );
    };
    let (state, note) = classify(kind, signal, answer, reading, current);
    verdict(state, reading, note)
}

/// A reading's state against the signal's thresholds (hot, cool, band, or unknown while the deciding window
/// is not full) and the note saying why.
fn classify(
    kind: SignalKind,
    signal: &SignalPolicy,
    answer: &SignalReadings,
    reading: &NodeReading,
    current: f64,
) -> (NodeState, String) {
    let threshold = signal.threshold_percent;
    let untaint = signal.untaint_threshold_percent;
    let hot_window = human_duration(signal.hot_window);
    let cool_window = human_duration(signal.cool_window);
    let now = pct(current);
    let (t, u) = (pct(threshold), pct(untaint));
    match (reading.hot_min, reading.cool_max) {
        (Some(low), _) if current > threshold && low > threshold => (
            NodeState::Hot,
            format!(
                "{kind} {now} > {t}, above for {hot_window} (lowest {})",
                pct(low)
            ),
        ),
        (_, Some(high)) if current < untaint && high < untaint => (
            NodeState::Cool,
            format!(
                "{kind} {now} < {u}, below for {cool_window} (highest {})",
                pct(high)
            ),
        ),
        (None, _) if current > threshold => (
            NodeState::Unknown,
            format!(
                "{kind} {now} > {t} but the {hot_window} window is not full ({} of {} evaluations)",
                reading.hot_samples, answer.hot_samples_needed
            ),
        ),
        (_, None) if current < untaint => (
            NodeState::Unknown,
            format!(
                "{kind} {now} < {u} but the {cool_window} window is not full ({} of {} evaluations)",
                reading.cool_samples, answer.cool_samples_needed
            ),
        ),
        (Some(low), _) if current > threshold => (
            NodeState::Band,
            format!(
                "{kind} {now} > {t} for less than {hot_window} (lowest {})",
                pct(low)
            ),
        ),
        (_, Some(high)) if current < untaint => (
            NodeState::Band,
            format!(
                "{kind} {now} < {u} for less than {cool_window} (highest {})",
                pct(high)
            ),
        ),
        _ => (
            NodeState::Band,
            format!("{kind} {now} inside the band {u}..{t}"),
        ),
    }
}

fn combine(signals: &[SignalVerdict]) -> NodeState {
    let any = |state| signals.iter().any(|s| s.state == state);
    if signals.is_empty() {
        NodeState::Unknown
    } else if any(NodeState::Hot) {
        NodeState::Hot
    } else if any(NodeState::Unknown) {
        NodeState::Unknown
    } else if signals.iter().all(|s| s.state == NodeState::Cool) {
        NodeState::Cool
    } else {
        NodeState::Band
    }
}

/// What the limits did to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// The node should carry our taint after the plan.
    Granted,
    /// The node should not carry it, by its own state or eligibility.
    NotWanted,
    /// Wanted but over the cap.
    Cap,
    /// Wanted but it is the last schedulable eligible node.
    LastSchedulable,
}

/// Rules 2 and 3 of the module docs: which nodes carry our taint after the plan.
fn apply_limits(candidates: &[Candidate], policy: &TaintPolicy, cap: usize) -> Vec<Limit> {
    let mut limits: Vec<Limit> = candidates
        .iter()
        .map(|c| {
            let had = c.ownership.has_our_taint();
            let wants = match c.state {
                NodeState::Hot => had || c.exclusion.is_none(),
                NodeState::Cool => false,
                NodeState::Band | NodeState::Unknown => had,
            };
            if wants {
                Limit::Granted
            } else {
                Limit::NotWanted
            }
        })
        .collect();

    // Eligible nodes wanting the taint, in the order they get a place.
    let mut queue: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].exclusion.is_none() && limits[i] == Limit::Granted)
        .collect();
    let state_rank = |s: NodeState| match s {
        NodeState::Hot => 0,
        NodeState::Band => 1,
        NodeState::Unknown | NodeState::Cool => 2,
    };
    queue.sort_by(|&a, &b| {
        let (a, b) = (&candidates[a], &candidates[b]);
        b.ownership
            .has_our_taint()
            .cmp(&a.ownership.has_our_taint())
            .then(state_rank(a.state).cmp(&state_rank(b.state)))
            .then(b.heat.total_cmp(&a.heat))
            .then(a.name.cmp(&b.name))
    });

    // Eligible nodes only our taint would keep pods off: at least one of them must stay open.
    let blocking = TaintEffect::blocks_scheduling(policy.taint_effect.as_str());
    let mut open = candidates
        .iter()
        .filter(|c| c.exclusion.is_none() && !c.blocked_by_others)
        .count();
    let mut granted = 0;
    for i in queue {
        let schedulable_without_us = !candidates[i].blocked_by_others;
        if granted >= cap {
            limits[i] = Limit::Cap;
        } else if blocking && schedulable_without_us && open <= 1 {
            limits[i] = Limit::LastSchedulable;
        } else {
            granted += 1;
            if blocking && schedulable_without_us {
                open -= 1;
            }
        }
    }
    limits
}

/// The reason line and whether the node carries our taint after the plan.
fn explain(
    c: &Candidate,
    limit: Limit,
    eligible: usize,
    cap: usize,
    policy: &TaintPolicy,
) -> (String, bool) {
    let had = c.ownership.has_our_taint();
    let notes: Vec<&str> = c.signals.iter().map(|s| s.note.as_str()).collect();
    let values = notes.join("; ");
    let excluded = c
        .exclusion
        .as_ref()
        .map(|e| format!("not eligible: {e}; "))
        .unwrap_or_default();
    let state = c.state;
    match limit {
        Limit::Granted => {
            let why = match (had, state) {
                (_, NodeState::Hot) => format!("{state}: {values}"),
                (_, NodeState::Unknown) => format!("unknown, keeping our taint: {values}"),
                _ => format!("{state}, keeping our taint (hysteresis): {values}"),
            };
            (format!("{excluded}{why}"), true)
        }
        Limit::NotWanted => {
            let why = match (had, state) {
                (true, NodeState::Cool) => format!("cool: {values}"),
                (false, NodeState::Hot) => format!("hot but never tainted: {values}"),
                (false, NodeState::Unknown) => format!("unknown, leaving untainted: {values}"),
                (false, NodeState::Band) => {
                    format!("band, leaving untainted (hysteresis): {values}")
                }
                _ => format!("{state}: {values}"),
            };
            (format!("{excluded}{why}"), false)
        }
        Limit::Cap => {
            let fraction = percent_text(policy.max_tainted_fraction * 100.0);
            (
                format!(
                    "capped: at most {cap} of {eligible} eligible nodes ({fraction}%) may carry the taint, hotter \
                     or already tainted nodes come first; {state}: {values}"
                ),
                false,
            )
        }
        Limit::LastSchedulable => (
            format!("capped: last schedulable eligible node, never tainted; {state}: {values}"),
            false,
        ),
    }
}

fn event_for(action: Action, policy: &TaintPolicy, reason: &str) -> Option<NodeEvent> {
    let taint = format!(
        "{}={}:{}",
        policy.taint_key, policy.taint_value, policy.taint_effect
    );
    let (event_reason, event_action, note) = match action {
        Action::Add => (
            "ThermostatTainted",
            EventAction::Taint,
            format!("tainted {taint}: {reason}"),
        ),
        Action::Update => (
            "ThermostatTainted",
            EventAction::Taint,
            format!("taint updated to {taint}: {reason}"),
        ),
        Action::Remove => (
            "ThermostatUntainted",
            EventAction::Untaint,
            format!("untainted: {reason}"),
        ),
        Action::Keep | Action::None => return None,
    };
    Some(NodeEvent {
        reason: event_reason.to_string(),
        action: event_action,
        type_: EventType::Normal,
        note,
    })
}

fn summarize(
    decisions: &[NodeDecision],
    writes: &[NodeWrite],
    eligible: usize,
    cap: usize,
) -> PlanSummary {
    let count = |f: &dyn Fn(&NodeDecision) -> bool| decisions.iter().filter(|d| f(d)).count();
    let tainted_after = count(&|d| d.action.leaves_our_taint());
    PlanSummary {
        nodes: decisions.len(),
        hot: count(&|d| d.state == NodeState::Hot),
        cool: count(&|d| d.state == NodeState::Cool),
        band: count(&|d| d.state == NodeState::Band),
        unknown: count(&|d| d.state == NodeState::Unknown),
        excluded: count(&|d| !d.eligible),
        capped: count(&|d| d.capped),
        eligible,
        cap,
        tainted_after,
        add: count(&|d| d.action == Action::Add),
        remove: count(&|d| d.action == Action::Remove),
        update: count(&|d| d.action == Action::Update),
        writes: writes.len(),
    }
}

impl TaintPlan {
    /// One line per node with a change (or held back by the cap or the fail-safe), then unmatched series and a
    /// summary line.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for d in &self.decisions {
            if d.write
                || d.capped
                || (self.fail_safe.is_some() && d.reason.starts_with("fail-safe"))
            {
                let _ = writeln!(out, "{:<7} {}  {}", d.action.to_string(), d.name, d.reason);
            }
        }
        for (signal, unmatched) in &self.unmatched {
            let _ = writeln!(
                out,
                "unmatched {signal}: {} series matched no node, e.g. {}",
                unmatched.count,
                unmatched.examples.join(", ")
            );
        }
        if let Some(why) = &self.fail_safe {
            let _ = writeln!(out, "{why}");
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "taint plan: {} nodes: {} hot, {} cool, {} band, {} unknown; {} excluded, {} capped; our taint on {} \
             nodes after (cap {} of {} eligible); writes {} (add {}, remove {}, update {})",
            s.nodes,
            s.hot,
            s.cool,
            s.band,
            s.unknown,
            s.excluded,
            s.capped,
            s.tainted_after,
            s.cap,
            s.eligible,
            s.writes,
            s.add,
            s.remove,
            s.update
        );
        out
    }
}

fn pct(value: f64) -> String {
    format!("{}%", percent_text(value))
}

/// `80`, `72.5`, `33.3`: one decimal at most.
fn percent_text(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// RFC 3339 in UTC at seconds, the way the API server writes times.
fn timestamp_text(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
