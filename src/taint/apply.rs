//! taint-nodes, the imperative shell: read nodes (snapshot or one paged LIST), one Prometheus query per signal,
//! decide (pure), then one guarded JSON Patch per node whose taints change, an Event per change, metrics.

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Node;
use serde_json::json;

use super::{Action, NodeState, NodeWrite, SignalReadings, TaintPlan, TaintPolicy};
use crate::events::{self, EventSpec, Regarding};
use crate::hook::metrics::Metrics;
use crate::kube::{ApiResource, KubeError, ListParams, Patch};
use crate::log;
use crate::tick::{ControllerOutcome, RunOptions, Tick};

/// A node whose write keeps failing on concurrent changes is left for the next tick after this many re-reads.
const CONFLICT_REREADS: usize = 3;
const GROUP: &str = "kube_thermostat_taint_nodes";

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

    let (plan, readings) = if options.remove_all {
        (super::plan_remove_all(&nodes, policy), Vec::new())
    } else {
        let readings = read_signals(tick, policy, &nodes)?;
        (
            super::decide_taints(&nodes, &readings, policy, tick.now),
            readings,
        )
    };

    let mut outcome = ControllerOutcome {
        plan_text: plan.render_text(),
        plan_json: serde_json::to_value(&plan).unwrap_or_default(),
        ..ControllerOutcome::default()
    };
    report_plan(&plan, options.dry_run, metrics);
    if let Some(reason) = &plan.fail_safe {
        outcome.refused = Some(format!("no taint changes this tick (fail-safe): {reason}"));
        return Ok(outcome);
    }
    if options.dry_run {
        return Ok(outcome);
    }

    for write in &plan.writes {
        apply_write(
            tick,
            policy,
            &readings,
            options,
            &mut nodes,
            write.clone(),
            &mut outcome,
        );
    }
    Ok(outcome)
}

/// One query per enabled signal. Any failure, or answers that match no node at all, stops the tick before a
/// write: deciding on missing data would untaint nothing and taint nothing, but saying so matters.
fn read_signals(tick: &Tick, policy: &TaintPolicy, nodes: &[Node]) -> Result<Vec<SignalReadings>> {
    let mut readings = Vec::new();
    for (signal, query) in super::signal_queries(policy) {
        let answer = tick
            .prometheus
            .query(&query, tick.now_system_time(), &tick.deadline)
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
        let samples = answer
            .result
            .into_vector()
            .map_err(|error| anyhow!("the {signal} signal query answered {error}"))?;
        let matched = super::match_samples(signal, &samples, nodes, policy);
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
        if !nodes.is_empty() && matched.nodes.is_empty() {
            bail!(
                "the {signal} signal query returned {} series and none matched a node (no writes made): check \
                 NODE_LABEL and that node-exporter series carry a node or instance label naming the nodes; \
                 query: {query}",
                samples.len()
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
    tick: &Tick,
    policy: &TaintPolicy,
    readings: &[SignalReadings],
    options: RunOptions,
    nodes: &mut [Node],
    mut write: NodeWrite,
    outcome: &mut ControllerOutcome,
) {
    let mut rereads = 0;
    loop {
        let patch = Patch::Json(super::node_patch(&write));
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
                return;
            }
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
                    Err(error) if error.is_not_found() => return, // deleted meanwhile: nothing to taint
                    Err(error) => return fail(outcome, &write.node, &error),
                };
                replace_node(nodes, fresh);
                let replan = if options.remove_all {
                    super::plan_remove_all(nodes, policy)
                } else {
                    super::decide_taints(nodes, readings, policy, tick.now)
                };
                match replan.writes.into_iter().find(|w| w.node == write.node) {
                    Some(next) => write = next,
                    None => return, // someone else already made the change
                }
            }
            Err(error) => return fail(outcome, &write.node, &error),
        }
    }
}

fn fail(outcome: &mut ControllerOutcome, node: &str, error: &KubeError) {
    outcome.failures.push(format!("node {node}: {error}"));
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
    let body = events::event_body(&spec, tick.now, &tick.instance);
    let namespace = events::event_namespace(&spec.regarding);
    if let Err(error) = tick.kube.create::<serde_json::Value>(
        &ApiResource::EVENTS,
        Some(namespace),
        &body,
        tick.deadline,
    ) {
        log::warn(
            "could not post Event",
            &[
                ("node", json!(write.node)),
                ("error", json!(error.to_string())),
            ],
        );
    }
}

/// Per-tick gauges (grouped: a deleted node's series disappears) and change counters.
fn report_plan(plan: &TaintPlan, dry_run: bool, metrics: &mut Metrics) {
    let dry = if dry_run { "true" } else { "false" };
    let summary = &plan.summary;
    for (state, count) in [
        (NodeState::Hot, summary.hot),
        (NodeState::Cool, summary.cool),
        (NodeState::Band, summary.band),
        (NodeState::Unknown, summary.unknown),
    ] {
        metrics.gauge(
            GROUP,
            "nodes",
            count as f64,
            &[("state", &state.to_string()), ("dry_run", dry)],
        );
    }
    let mut excluded = std::collections::BTreeMap::<String, usize>::new();
    for decision in &plan.decisions {
        if let Some(exclusion) = &decision.exclusion {
            *excluded
                .entry(exclusion_reason(exclusion).to_owned())
                .or_default() += 1;
        }
        let tainted_after = match decision.action {
            Action::Add | Action::Update | Action::Keep => true,
            Action::Remove | Action::None => false,
        };
        if tainted_after {
            metrics.gauge(
                GROUP,
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
        metrics.gauge(
            GROUP,
            "nodes_excluded",
            count as f64,
            &[("reason", &reason)],
        );
    }
    metrics.gauge(
        GROUP,
        "nodes_tainted",
        summary.tainted_after as f64,
        &[("dry_run", dry)],
    );
    metrics.gauge(GROUP, "taint_cap", summary.cap as f64, &[]);
    metrics.gauge(
        GROUP,
        "nodes_capped",
        summary.capped as f64,
        &[("dry_run", dry)],
    );
    metrics.gauge(
        GROUP,
        "taint_fail_safe",
        if plan.fail_safe.is_some() { 1.0 } else { 0.0 },
        &[],
    );
    for (signal, unmatched) in &plan.unmatched {
        metrics.gauge(
            GROUP,
            "unmatched_series",
            unmatched.count as f64,
            &[("signal", &signal.to_string())],
        );
    }
    if plan.fail_safe.is_none() {
        if summary.add > 0 {
            metrics.counter(
                "taint_changes_total",
                summary.add as f64,
                &[("action", "taint"), ("dry_run", dry)],
            );
        }
        if summary.remove > 0 {
            metrics.counter(
                "taint_changes_total",
                summary.remove as f64,
                &[("action", "untaint"), ("dry_run", dry)],
            );
        }
    }
}

fn exclusion_reason(exclusion: &super::Exclusion) -> &'static str {
    match exclusion {
        super::Exclusion::ControlPlane { .. } => "control-plane",
        super::Exclusion::Cordoned => "cordoned",
        super::Exclusion::ScaleDown => "scale-down",
        super::Exclusion::OptedOut { .. } => "opted-out",
        super::Exclusion::Deleting => "deleting",
    }
}
