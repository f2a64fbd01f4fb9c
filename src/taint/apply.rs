//! taint-nodes, the imperative shell: read nodes (snapshot or one paged LIST), one Prometheus query per signal,
//! decide (pure), then one guarded JSON Patch per node whose taints change, an Event per change, metrics.

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Node;
use serde_json::json;
use std::collections::BTreeMap;

use super::{Action, NodeState, NodeWrite, SignalReadings, TaintPlan, TaintPolicy};
use crate::events::{EventSpec, Regarding};
use crate::hook::metrics::Metrics;
use crate::kube::{ApiResource, KubeError, ListParams, Patch};
use crate::log;
use crate::tick::{ControllerOutcome, RunOptions, Tick};

/// A node whose write keeps failing on concurrent changes is left for the next tick after this many re-reads.
const CONFLICT_REREADS: usize = 3;

/// One taint-nodes tick. Errors (Prometheus unusable, nodes unreadable) mean nothing was written.
pub fn run(
    tick: &Tick,
    policy: &TaintPolicy,
    snapshot: Option<Vec<Node>>,
    options: RunOptions,
    metrics: &mut Metrics,
) -> Result<ControllerOutcome> {
    let mut nodes = match snapshot {
        Some(nodes) => nodes,
        None => tick
            .kube
            .list_all::<Node>(
                &ApiResource::NODES,
                None,
                &ListParams::default(),
                tick.deadline,
            )
            .context("listing nodes")?,
    };

    let readings = if options.remove_all {
        Vec::new()
    } else {
        read_signals(tick, policy, &nodes)?
    };
    let decider = Decider {
        tick,
        policy,
        readings: &readings,
        remove_all: options.remove_all,
    };
    let plan = decider.decide(&nodes);

    let mut outcome = ControllerOutcome::showing(&options, &plan, |plan| plan.render_text());
    if let Some(reason) = &plan.fail_safe {
        outcome.refused = Some(format!("no taint changes this tick (fail-safe): {reason}"));
    }
    let mut results = BTreeMap::new();
    if plan.fail_safe.is_none() && !options.dry_run {
        let actions: BTreeMap<&str, Action> = plan
            .decisions
            .iter()
            .map(|d| (d.name.as_str(), d.action))
            .collect();
        for write in &plan.writes {
            let action = actions
                .get(write.node.as_str())
                .copied()
                .unwrap_or(Action::None);
            let result = apply_write(&decider, &mut nodes, write.clone(), action, &mut outcome);
            results.insert(write.node.clone(), result);
        }
    }
    report(&plan, &results, options.dry_run, metrics);
    Ok(outcome)
}

/// What became of one planned write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteResult {
    /// Made, with the action decided last (after any re-read).
    Made(Action),
    /// Not needed after a re-read: the node already was as wanted, carrying our taint or not.
    AlreadyDone { tainted: bool },
    /// The node was deleted since it was read.
    Gone,
    /// Failed: the node stays as read.
    Failed,
}

/// One query per enabled signal. Any failure, or answers that match no node at all, stops the tick before a
/// write: deciding on missing data would untaint nothing and taint nothing, but saying so matters.
fn read_signals(tick: &Tick, policy: &TaintPolicy, nodes: &[Node]) -> Result<Vec<SignalReadings>> {
    let mut readings = Vec::new();
    // The tick's time, whole milliseconds as the API takes it, so point times compare exactly with it.
    let end = tick.now;
    let end_secs = tick.now.as_millisecond() as f64 / 1000.0;
    for query in super::signal_queries(policy) {
        let signal = query.signal;
        let answer = tick
            .prometheus()?
            .query_range(
                &query.expression,
                end - query.range,
                end,
                query.step,
                &tick.deadline,
            )
            .with_context(|| format!("querying Prometheus for the {signal} signal"))?;
        for warning in &answer.warnings {
            log::warn(
                "Prometheus warning",
                &[
                    ("signal", json!(signal.to_string())),
                    ("warning", json!(warning)),
                ],
            );
        }
        let series = answer
            .result
            .into_matrix()
            .map_err(|error| anyhow!("the {signal} signal query answered {error}"))?;
        let matched = super::match_range(signal, &series, end_secs, nodes, policy);
        if matched.unmatched.count > 0 {
            log::warn(
                "series matched no node",
                &[
                    ("signal", json!(signal.to_string())),
                    ("count", json!(matched.unmatched.count)),
                    ("examples", json!(matched.unmatched.examples)),
                ],
            );
        }
        let query = &query.expression;
        if !nodes.is_empty() && series.is_empty() {
            bail!(
                "the {signal} signal query returned no series at all (no writes made): check that Prometheus \
                 scrapes node-exporter (or that the custom expression returns data); query: {query}"
            );
        }
        if !nodes.is_empty() && matched.nodes.is_empty() {
            bail!(
                "the {signal} signal query returned {} series and none matched a node (no writes made), e.g. {}: \
                 check NODE_LABEL and that the series carry a node or instance label naming the nodes (or their \
                 InternalIP); query: {query}",
                matched.unmatched.count,
                matched.unmatched.examples.join(", ")
            );
        }
        readings.push(matched);
    }
    Ok(readings)
}

/// Writes one node. On a concurrent change (409, or 422 from a failed `test`) the node is re-read, the whole
/// plan decided again with it (the cap depends on every node), and this node's new write tried, a bounded
/// number of times. Failures are recorded; other nodes go on.
fn apply_write(
    decider: &Decider,
    nodes: &mut [Node],
    mut write: NodeWrite,
    mut action: Action,
    outcome: &mut ControllerOutcome,
) -> WriteResult {
    let mut rereads = 0;
    loop {
        let patch = Patch::Json(super::node_patch(&write));
        let tick = decider.tick;
        match tick.kube.patch::<Node>(
            &ApiResource::NODES,
            None,
            &write.node,
            None,
            &patch,
            tick.deadline,
        ) {
            Ok(updated) => {
                outcome.changed += 1;
                log_change(&write);
                post_event(tick, &write, &updated);
                replace_node(nodes, updated);
                return WriteResult::Made(action);
            }
            // Deleted since read (cluster-autoscaler scale-down, a snapshot not yet updated): nothing to do.
            Err(error) if error.is_not_found() => return gone(&write.node),
            Err(error)
                if (error.is_conflict() || error.is_invalid()) && rereads < CONFLICT_REREADS =>
            {
                rereads += 1;
                outcome.conflicts += 1;
                log::info(
                    "node changed since read: re-reading and deciding again",
                    &[
                        ("node", json!(write.node)),
                        ("error", json!(error.to_string())),
                    ],
                );
                let fresh = match tick.kube.get::<Node>(
                    &ApiResource::NODES,
                    None,
                    &write.node,
                    tick.deadline,
                ) {
                    Ok(fresh) => fresh,
                    Err(error) if error.is_not_found() => return gone(&write.node),
                    Err(error) => return fail(outcome, &write.node, &error),
                };
                replace_node(nodes, fresh);
                let replan = decider.decide(nodes);
                let decided = replan
                    .decisions
                    .iter()
                    .find(|d| d.name == write.node)
                    .map_or(Action::None, |d| d.action);
                match replan.writes.into_iter().find(|w| w.node == write.node) {
                    Some(next) => {
                        write = next;
                        action = decided;
                    }
                    // Someone else already made the change (or our own last write, missing from a stale
                    // snapshot): nothing to write, nothing to announce.
                    None => {
                        return WriteResult::AlreadyDone {
                            tainted: decided.leaves_our_taint(),
                        };
                    }
                }
            }
            Err(error) => return fail(outcome, &write.node, &error),
        }
    }
}

/// Everything a plan is decided from except the nodes, to decide again after a re-read.
struct Decider<'a> {
    tick: &'a Tick,
    policy: &'a TaintPolicy,
    readings: &'a [SignalReadings],
    remove_all: bool,
}

impl Decider<'_> {
    fn decide(&self, nodes: &[Node]) -> TaintPlan {
        if self.remove_all {
            super::plan_remove_all(nodes, self.policy)
        } else {
            super::decide_taints(nodes, self.readings, self.policy, self.tick.now)
        }
    }
}

fn gone(node: &str) -> WriteResult {
    log::info(
        &format!("node {node}: deleted since read, nothing to write"),
        &[("node", json!(node))],
    );
    WriteResult::Gone
}

fn fail(outcome: &mut ControllerOutcome, node: &str, error: &KubeError) -> WriteResult {
    outcome.failures.push(format!("node {node}: {error}"));
    WriteResult::Failed
}

fn replace_node(nodes: &mut [Node], node: Node) {
    if let Some(slot) = nodes
        .iter_mut()
        .find(|n| n.metadata.name == node.metadata.name)
    {
        *slot = node;
    }
}

fn log_change(write: &NodeWrite) {
    let what = match &write.event {
        Some(event) => event.action.to_lowercase(),
        None => "annotation".to_owned(),
    };
    let note = write
        .event
        .as_ref()
        .map(|e| e.note.clone())
        .unwrap_or_default();
    log::info(
        &format!("node {}: {what}", write.node),
        &[("node", json!(write.node)), ("why", json!(note))],
    );
}

/// Best effort: an Event that cannot be written is logged, never fatal (the change itself is done).
fn post_event(tick: &Tick, write: &NodeWrite, node: &Node) {
    let Some(event) = &write.event else { return };
    let spec = EventSpec {
        regarding: Regarding {
            kind: "Node",
            namespace: None,
            name: write.node.clone(),
            uid: node.metadata.uid.clone(),
            resource_version: None,
        },
        reason: event.reason.clone(),
        note: event.note.clone(),
        type_: if event.type_ == "Warning" {
            "Warning"
        } else {
            "Normal"
        },
        action: if event.action == "Untaint" {
            "Untaint"
        } else {
            "Taint"
        },
    };
    tick.post_event(&spec);
}

/// Per-tick gauges (grouped: a deleted node's series disappears) and change counters. State, cap and exclusion
/// gauges describe the plan; what is tainted and the change counters describe the nodes after the writes (in
/// shadow mode, after the writes it would make).
fn report(
    plan: &TaintPlan,
    results: &BTreeMap<String, WriteResult>,
    dry_run: bool,
    metrics: &mut Metrics,
) {
    let dry = if dry_run { "true" } else { "false" };
    let summary = &plan.summary;
    for (state, count) in [
        (NodeState::Hot, summary.hot),
        (NodeState::Cool, summary.cool),
        (NodeState::Band, summary.band),
        (NodeState::Unknown, summary.unknown),
    ] {
        metrics.gauge(
            "nodes",
            count as f64,
            &[("state", &state.to_string()), ("dry_run", dry)],
        );
    }
    let mut excluded = BTreeMap::<String, usize>::new();
    let mut tainted_after = 0;
    let (mut taints, mut untaints) = (0, 0);
    for decision in &plan.decisions {
        if let Some(exclusion) = &decision.exclusion {
            *excluded
                .entry(exclusion_reason(exclusion).to_owned())
                .or_default() += 1;
        }
        // What the node carries now, and the change made, if any.
        let (tainted, made) = match results.get(&decision.name) {
            None if plan.fail_safe.is_some() => (decision.has_our_taint, None),
            None => (
                decision.action.leaves_our_taint(),
                decision.write.then_some(decision.action),
            ),
            Some(WriteResult::Made(action)) => (action.leaves_our_taint(), Some(*action)),
            Some(WriteResult::AlreadyDone { tainted }) => (*tainted, None),
            Some(WriteResult::Gone) => continue,
            Some(WriteResult::Failed) => (decision.has_our_taint, None),
        };
        match made {
            Some(Action::Add) => taints += 1,
            Some(Action::Remove) => untaints += 1,
            _ => {}
        }
        if tainted {
            tainted_after += 1;
            metrics.gauge(
                "node_tainted",
                1.0,
                &[
                    ("node", &decision.name),
                    ("reason", &decision.state.to_string()),
                ],
            );
        }
    }
    for (reason, count) in excluded {
        metrics.gauge("nodes_excluded", count as f64, &[("reason", &reason)]);
    }
    metrics.gauge("nodes_tainted", tainted_after as f64, &[("dry_run", dry)]);
    metrics.gauge("taint_cap", summary.cap as f64, &[]);
    metrics.gauge("nodes_capped", summary.capped as f64, &[("dry_run", dry)]);
    for (signal, unmatched) in &plan.unmatched {
        metrics.gauge(
            "unmatched_series",
            unmatched.count as f64,
            &[("signal", &signal.to_string())],
        );
    }
    // Both actions every tick, 0 included: a series must exist before its first change for `increase()` to
    // see that change.
    for (action, count) in [("taint", taints), ("untaint", untaints)] {
        metrics.counter(
            "taint_changes_total",
            count as f64,
            &[("action", action), ("dry_run", dry)],
        );
    }
}

fn exclusion_reason(exclusion: &super::Exclusion) -> &'static str {
    match exclusion {
        super::Exclusion::ControlPlane { .. } => "control-plane",
        super::Exclusion::Cordoned => "cordoned",
        super::Exclusion::ScaleDown => "scale-down",
        super::Exclusion::KarpenterDisrupted => "karpenter-disrupted",
        super::Exclusion::OptedOut { .. } => "opted-out",
        super::Exclusion::Deleting => "deleting",
    }
}
