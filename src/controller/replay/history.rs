//! Reading a replayed period's history: one range query per signal per chunk ([`crate::replay::chunks`]),
//! each series decoded as it arrives into its labels (only those wanted) and points. A chunk whose answer is
//! too large, or which Prometheus refuses for loading too many samples, is asked again half as long.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::jiff::Timestamp;
use serde::de::DeserializeOwned;

use crate::controller::observe::log_prometheus_warnings;
use crate::deadline::Deadline;
use crate::prometheus::{PrometheusClient, PrometheusError, RangeSpan};
use crate::replay::chunks::{next_chunk, points_budget};

/// One signal's query: its expression and how far before a tick's newest evaluation it reads.
pub(super) struct SignalSpec {
    pub name: String,
    pub expression: String,
    pub range_ms: i64,
}

/// A chunk's answer to one signal: each series' labels and points, oldest first.
pub(super) type Answer<L> = Vec<(L, Vec<(f64, f64)>)>;

/// How the history is read.
#[derive(Debug, Clone, Copy)]
pub(super) struct FetchOptions {
    /// About how many series a signal's answer holds (nodes, or the containers of the queried namespaces).
    pub series: usize,
    pub max_response_bytes: u64,
    /// For one query, retries included.
    pub query_budget: Duration,
}

/// Calls `per_chunk(ticks, answers)` for every chunk in order (`ends_ms`: the ticks' newest evaluations, on the
/// `step` grid), `answers` holding each signal's series over a span that covers those ticks' windows.
pub(super) fn by_chunks<L: DeserializeOwned + Default + std::fmt::Debug>(
    prometheus: &PrometheusClient,
    signals: &[SignalSpec],
    ends_ms: &[i64],
    step: Duration,
    options: FetchOptions,
    mut per_chunk: impl FnMut(std::ops::Range<usize>, Vec<Answer<L>>) -> Result<()>,
) -> Result<()> {
    let step_ms = (step.as_millis() as i64).max(1);
    let range_ms = signals.iter().map(|s| s.range_ms).max().unwrap_or(0);
    let window_points = (range_ms / step_ms + 1) as u64;
    let mut max_points =
        points_budget(options.series, options.max_response_bytes).max(window_points);
    let mut next = 0;
    while next < ends_ms.len() {
        let chunk = next_chunk(ends_ms, next, range_ms, step_ms, max_points);
        let mut answers = Vec::with_capacity(signals.len());
        let mut shrink = false;
        for signal in signals {
            match fetch::<L>(
                prometheus,
                signal,
                chunk.start_ms,
                chunk.end_ms,
                step,
                options,
            ) {
                Ok(answer) => answers.push(answer),
                Err(error) if shrinkable(&error) && chunk.ticks.len() > 1 => {
                    shrink = true;
                    break;
                }
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!(
                            "reading the {} history from {} to {}",
                            signal.name,
                            millis(chunk.start_ms),
                            millis(chunk.end_ms)
                        )
                    });
                }
            }
        }
        if shrink {
            // Fewer ticks per chunk, never fewer points than one tick's window.
            let points = ((chunk.end_ms - chunk.start_ms) / step_ms + 1) as u64;
            max_points = (points / 2).max(window_points);
            continue;
        }
        next = chunk.ticks.end;
        per_chunk(chunk.ticks, answers)?;
    }
    Ok(())
}

/// An answer Prometheus would give for a shorter chunk: one over our byte limit, or a query over its
/// `--query.max-samples`.
fn shrinkable(error: &PrometheusError) -> bool {
    error.is_answer_too_large() || error.is_too_many_samples()
}

fn fetch<L: DeserializeOwned + Default + std::fmt::Debug>(
    prometheus: &PrometheusClient,
    signal: &SignalSpec,
    start_ms: i64,
    end_ms: i64,
    step: Duration,
    options: FetchOptions,
) -> Result<Answer<L>, PrometheusError> {
    let span = RangeSpan {
        start: millis(start_ms),
        end: millis(end_ms),
        step,
    };
    let deadline = Deadline::after(options.query_budget);
    let (answer, streamed) = prometheus.query_range_fold(
        &signal.expression,
        span,
        &deadline,
        Vec::new,
        |series: &mut Answer<L>, labels: L, points: &[(f64, f64)]| {
            series.push((labels, points.to_vec()));
        },
    )?;
    log_prometheus_warnings(&signal.name, &streamed.warnings);
    Ok(answer)
}

pub(super) fn millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}
