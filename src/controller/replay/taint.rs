//! taint-nodes replayed: at each tick, the signals' readings from the chunk's points (the window a live tick
//! reads, [`crate::replay::chunks::window`]), the live decision ([`taint::decide_taints`]), the writes applied
//! to the nodes in memory ([`crate::replay::simulate`]), and the tick recorded.

use std::collections::BTreeMap;

use anyhow::Result;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;

use super::history::{self, Answer, FetchOptions, SignalSpec};
use crate::prometheus::PrometheusClient;
use crate::replay::chunks::window;
use crate::replay::simulate::apply_node_write;
use crate::replay::{TaintRecorder, report::TaintReport};
use crate::taint::{
    self, SeriesStats, SignalQuery, TaintPolicy, aligned_end, match_series, signal_queries,
};

/// Labels of a node series; the metric name is dropped, as a live tick does before matching.
type Labels = BTreeMap<String, String>;

/// One set of settings replayed: its policy, its nodes as the replay has changed them, what happened.
pub(super) struct TaintRun<'a> {
    pub policy: &'a TaintPolicy,
    pub nodes: Vec<Node>,
    pub recorder: TaintRecorder,
}

impl TaintRun<'_> {
    pub fn finish(self, to: Timestamp) -> TaintReport {
        self.recorder.finish(to)
    }
}

/// What decides whether two runs can share their history: the same queries on the same grid.
pub(super) fn history_key(policy: &TaintPolicy) -> (Vec<SignalQuery>, std::time::Duration) {
    (signal_queries(policy), policy.query_step)
}

/// Replays `runs` (all with the same [`history_key`]) at `ticks`.
pub(super) fn replay(
    prometheus: &PrometheusClient,
    runs: &mut [TaintRun],
    ticks: &[Timestamp],
    options: FetchOptions,
) -> Result<()> {
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let policy = first.policy;
    let queries = signal_queries(policy);
    let specs: Vec<SignalSpec> = queries
        .iter()
        .map(|q| SignalSpec {
            name: format!("{} signal", q.signal),
            expression: q.expression.clone(),
            range_ms: q.range.as_millis() as i64,
        })
        .collect();
    let ends: Vec<i64> = ticks
        .iter()
        .map(|t| aligned_end(*t, policy.query_step).as_millisecond())
        .collect();
    history::by_chunks::<Labels>(
        prometheus,
        &specs,
        &ends,
        policy.query_step,
        options,
        |chunk, answers| {
            for i in chunk {
                for run in runs.iter_mut() {
                    tick(run, ticks[i], ends[i], &queries, &answers);
                }
            }
            Ok(())
        },
    )
}

fn tick(
    run: &mut TaintRun,
    at: Timestamp,
    end_ms: i64,
    queries: &[SignalQuery],
    answers: &[Answer<Labels>],
) {
    let end_secs = end_ms as f64 / 1000.0;
    let mut readings = Vec::with_capacity(queries.len());
    for (query, series) in queries.iter().zip(answers) {
        let signal = query.signal;
        let (hot, cool) = run
            .policy
            .signal(signal)
            .map(|s| (s.hot_window, s.cool_window))
            .unwrap_or_default();
        let range_ms = query.range.as_millis() as i64;
        // A series without a point in the window is not in a live tick's answer at all.
        let stats: Vec<(Labels, SeriesStats)> = series
            .iter()
            .filter_map(|(labels, points)| {
                let points = window(points, end_ms, range_ms);
                let mut identity = labels.clone();
                identity.remove("__name__");
                (!points.is_empty()).then(|| {
                    (
                        identity,
                        SeriesStats::from_points(points, end_secs, hot, cool),
                    )
                })
            })
            .collect();
        // The live tick stops before any write in both cases (`controller::taint::read_signals`).
        if !run.nodes.is_empty() && stats.is_empty() {
            run.recorder.failed_tick(
                at,
                &format!("no data: the {signal} signal returned no series"),
            );
            return;
        }
        let matched = match_series(signal, stats, &run.nodes, run.policy);
        if !run.nodes.is_empty() && matched.nodes.is_empty() {
            run.recorder.failed_tick(
                at,
                &format!("the {signal} signal's series matched no node (check NODE_LABEL)"),
            );
            return;
        }
        readings.push(matched);
    }
    let plan = taint::decide_taints(&run.nodes, &readings, run.policy, at);
    if plan.fail_safe.is_none() {
        for write in &plan.writes {
            if let Some(node) = run
                .nodes
                .iter_mut()
                .find(|n| n.metadata.name.as_deref() == Some(write.node.as_str()))
            {
                apply_node_write(node, write);
            }
        }
    }
    run.recorder.tick(at, &plan);
}
