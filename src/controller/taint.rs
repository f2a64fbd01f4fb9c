//! taint-nodes, the imperative shell: observe nodes (snapshot or one paged LIST) and one Prometheus query per
//! signal, decide (pure, [`crate::taint`]), then act: one guarded JSON Patch per node whose taints change, an
//! Event per change, metrics.

use std::collections::BTreeMap;
use std::convert::Infallible;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::act::{self, Attempt, Reread, Rewrite, WriteEnd};
use super::context::Tick;
use super::observe::{log_prometheus_warnings, require_series};
use super::outcome::{Outcome, RunOptions};
use super::reconcile::{Observation, Reconcile};
use crate::events::{EventSpec, Regarding};
use crate::hook::binding_context::Snapshots;
use crate::hook::metrics::Metrics;
use crate::kube::{ApiResource, ListParams, Patch};
use crate::log;
use crate::taint::{
    self, Action, Exclusion, NodeState, NodeWrite, SignalReadings, TaintPlan, TaintPolicy,
};

/// A node whose write keeps failing on concurrent changes is left for the next tick after this many re-reads.
const CONFLICT_REREADS: usize = 3;

/// The taint-nodes controller, configured for one run.
pub(crate) struct TaintNodes<'a> {
    policy: &'a TaintPolicy,
    options: RunOptions,
}

/// What a taint plan is decided from.
pub(crate) struct Observed {
    /// Every node, updated as writes answer and conflicts are re-read: the cap depends on all of them.
    nodes: Vec<Node>,
    /// One per enabled signal; none with `--remove-all`.
    readings: Vec<SignalReadings>,
}

impl<'a> TaintNodes<'a> {
    pub(crate) fn new(policy: &'a TaintPolicy, options: RunOptions) -> TaintNodes<'a> {
        TaintNodes { policy, options }
    }
}

impl Reconcile for TaintNodes<'_> {
    type Observed = Observed;
    type Plan = TaintPlan;

    /// Errors (Prometheus unusable, nodes unreadable) mean nothing was written.
    fn observe(
        &self,
        tick: &Tick,
        snapshots: Snapshots,
        _metrics: &mut Metrics,
    ) -> Result<Observation<Observed>> {
        let nodes = match snapshots.nodes {
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
        let readings = if self.options.remove_all {
            Vec::new()
        } else {
            read_signals(tick, self.policy, &nodes)?
        };
        Ok(Observation::Ready(Observed { nodes, readings }))
    }

    fn decide(&self, observed: &Observed, now: Timestamp) -> TaintPlan {
        if self.options.remove_all {
            taint::plan_remove_all(&observed.nodes, self.policy)
        } else {
            taint::decide_taints(&observed.nodes, &observed.readings, self.policy, now)
        }
    }

    fn act(
        &self,
        tick: &Tick,
        mut observed: Observed,
        plan: TaintPlan,
        metrics: &mut Metrics,
    ) -> Result<Outcome> {
        let mut outcome = Outcome::showing(&self.options, &plan, |plan| plan.render_text());
        if let Some(reason) = &plan.fail_safe {
            outcome.refused = Some(format!("no taint changes this tick (fail-safe): {reason}"));
        }
        let mut results = BTreeMap::new();
        if plan.fail_safe.is_none() && !self.options.dry_run {
            let actions: BTreeMap<&str, Action> = plan
                .decisions
                .iter()
                .map(|d| (d.name.as_str(), d.action))
                .collect();
            let mut rewrite = NodeRewrite {
                controller: self,
                tick,
                observed: &mut observed,
            };
            for write in &plan.writes {
                let action = actions
                    .get(write.node.as_str())
                    .copied()
                    .unwrap_or(Action::None);
                let planned = PlannedWrite {
                    write: write.clone(),
                    action,
                };
                let result =
                    act::write_with_rereads(&mut rewrite, planned, CONFLICT_REREADS, &mut outcome)
                        .unwrap_or_else(|never: Infallible| match never {});
                results.insert(write.node.clone(), result);
            }
        }
        report(&plan, &results, self.options.dry_run, metrics);
        Ok(outcome)
    }
}

/// One query per enabled signal. Any failure, or answers that match no node at all, stops the tick before a
/// write: deciding on missing data would untaint nothing and taint nothing, but saying so matters.
fn read_signals(tick: &Tick, policy: &TaintPolicy, nodes: &[Node]) -> Result<Vec<SignalReadings>> {
    let mut readings = Vec::new();
    // Evaluations on multiples of the step (the newest at or before the tick), so a replay's one long range
    // query holds exactly the points each live tick reads (`taint::aligned_end`).
    let end = taint::aligned_end(tick.now, policy.query_step);
    let end_secs = end.as_millisecond() as f64 / 1000.0;
    for query in taint::signal_queries(policy) {
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
        log_prometheus_warnings(&signal.to_string(), &answer.warnings);
        let series = answer
            .result
            .into_matrix()
            .map_err(|error| anyhow!("the {signal} signal query answered {error}"))?;
        let matched = taint::match_range(signal, &series, end_secs, nodes, policy);
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
        if !nodes.is_empty() {
            require_series(
                series.len(),
                &format!("the {signal} signal"),
                "check that Prometheus scrapes node-exporter (or that the custom expression returns data)",
                query,
            )?;
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

/// One node's write and the action it carries out, as last decided.
struct PlannedWrite {
    write: NodeWrite,
    action: Action,
}

/// A write found not needed after a re-read: the node already was as wanted, carrying our taint or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AlreadyDone {
    tainted: bool,
}

/// What became of one planned write: made with the action decided last, already done, gone or failed.
type NodeWriteEnd = WriteEnd<Action, AlreadyDone>;

/// Writes nodes for [`act::write_with_rereads`]. On a concurrent change (409, or 422 from a failed `test`) the
/// node is re-read and the whole plan decided again with it (the cap depends on every node).
struct NodeRewrite<'a, 'c> {
    controller: &'a TaintNodes<'c>,
    tick: &'a Tick,
    observed: &'a mut Observed,
}

impl Rewrite for NodeRewrite<'_, '_> {
    type Write = PlannedWrite;
    type Written = Action;
    type NotNeeded = AlreadyDone;
    type Fatal = Infallible;

    const KIND: &'static str = "node";

    fn subject(planned: &PlannedWrite) -> String {
        planned.write.node.clone()
    }

    fn try_write(&mut self, planned: &PlannedWrite) -> Attempt<Self> {
        let write = &planned.write;
        let patch = Patch::Json(taint::node_patch(write));
        let tick = self.tick;
        match tick.kube.patch::<Node>(
            &ApiResource::NODES,
            None,
            &write.node,
            None,
            &patch,
            tick.deadline,
        ) {
            Ok(updated) => {
                log_change(write);
                post_event(tick, write, &updated);
                replace_node(&mut self.observed.nodes, updated);
                Attempt::Written(planned.action)
            }
            // Deleted since read (cluster-autoscaler scale-down, a snapshot not yet updated): nothing to do.
            Err(error) if error.is_not_found() => {
                log_gone(&write.node);
                Attempt::Gone
            }
            Err(error) if error.is_conflict() || error.is_invalid() => Attempt::Conflict(error),
            Err(error) => Attempt::Failed(error),
        }
    }

    fn reread(&mut self, planned: &PlannedWrite) -> Reread<Self> {
        let node = &planned.write.node;
        let tick = self.tick;
        let fresh = match tick
            .kube
            .get::<Node>(&ApiResource::NODES, None, node, tick.deadline)
        {
            Ok(fresh) => fresh,
            Err(error) if error.is_not_found() => {
                log_gone(node);
                return Reread::Gone;
            }
            Err(error) => return Reread::Failed(error),
        };
        replace_node(&mut self.observed.nodes, fresh);
        let replan = self.controller.decide(self.observed, tick.now);
        let decided = replan
            .decisions
            .iter()
            .find(|d| &d.name == node)
            .map_or(Action::None, |d| d.action);
        match replan.writes.into_iter().find(|w| &w.node == node) {
            Some(next) => Reread::Decided(PlannedWrite {
                write: next,
                action: decided,
            }),
            // Someone else already made the change (or our own last write, missing from a stale snapshot):
            // nothing to write, nothing to announce.
            None => Reread::NotNeeded(AlreadyDone {
                tainted: decided.leaves_our_taint(),
            }),
        }
    }
}

fn log_gone(node: &str) {
    log::info(
        &format!("node {node}: deleted since read, nothing to write"),
        &[("node", json!(node))],
    );
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
        Some(event) => event.action.as_str().to_lowercase(),
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
        type_: event.type_,
        action: event.action,
    };
    tick.post_event(&spec);
}

/// Per-tick gauges (grouped: a deleted node's series disappears) and change counters. State, cap and exclusion
/// gauges describe the plan; what is tainted and the change counters describe the nodes after the writes (in
/// shadow mode, after the writes it would make).
fn report(
    plan: &TaintPlan,
    results: &BTreeMap<String, NodeWriteEnd>,
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
            Some(WriteEnd::Written(action)) => (action.leaves_our_taint(), Some(*action)),
            Some(WriteEnd::NotNeeded(AlreadyDone { tainted })) => (*tainted, None),
            Some(WriteEnd::Gone) => continue,
            Some(WriteEnd::Failed) => (decision.has_our_taint, None),
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

fn exclusion_reason(exclusion: &Exclusion) -> &'static str {
    match exclusion {
        Exclusion::ControlPlane { .. } => "control-plane",
        Exclusion::Cordoned => "cordoned",
        Exclusion::ScaleDown => "scale-down",
        Exclusion::KarpenterDisrupted => "karpenter-disrupted",
        Exclusion::OptedOut { .. } => "opted-out",
        Exclusion::Deleting => "deleting",
    }
}
