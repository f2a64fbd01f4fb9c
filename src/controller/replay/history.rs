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
///
/// The next chunk is read while `per_chunk` decides the current one: Prometheus evaluates and we decode on
/// one core while the ticks are decided on the other, which takes the history's reading out of a replay's wall
/// time. At most two chunks are held at once, each bounded by the answer size limit.
pub(super) fn by_chunks<L: DeserializeOwned + Default + std::fmt::Debug + Send>(
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
    let reader = ChunkReader {
        prometheus,
        signals,
        ends_ms,
        step,
        options,
        range_ms,
        window_points,
    };
    let max_points = points_budget(options.series, options.max_response_bytes).max(window_points);
    if ends_ms.is_empty() {
        return Ok(());
    }
    std::thread::scope(|scope| {
        let mut current = reader.read(0, max_points)?;
        loop {
            let (ticks, answers, max_points) = current;
            let reader = &reader;
            let first = ticks.end;
            let ahead = (first < ends_ms.len())
                .then(|| scope.spawn(move || reader.read(first, max_points)));
            per_chunk(ticks, answers)?;
            let Some(ahead) = ahead else {
                return Ok(());
            };
            current = ahead
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        }
    })
}

/// What reading one chunk needs.
struct ChunkReader<'a> {
    prometheus: &'a PrometheusClient,
    signals: &'a [SignalSpec],
    ends_ms: &'a [i64],
    step: Duration,
    options: FetchOptions,
    range_ms: i64,
    /// One tick's window: no chunk reads fewer points.
    window_points: u64,
}

/// A chunk read: its ticks, each signal's answer, and the points per series the next chunk may ask for.
type ChunkRead<L> = (std::ops::Range<usize>, Vec<Answer<L>>, u64);

impl ChunkReader<'_> {
    /// The chunk from tick `first`, at most `max_points` per series, asked again half as long while the
    /// answer is too large.
    fn read<L: DeserializeOwned + Default + std::fmt::Debug>(
        &self,
        first: usize,
        mut max_points: u64,
    ) -> Result<ChunkRead<L>> {
        let step_ms = (self.step.as_millis() as i64).max(1);
        loop {
            let chunk = next_chunk(self.ends_ms, first, self.range_ms, step_ms, max_points);
            let mut answers = Vec::with_capacity(self.signals.len());
            let mut shrink = false;
            for signal in self.signals {
                match fetch::<L>(
                    self.prometheus,
                    signal,
                    chunk.start_ms,
                    chunk.end_ms,
                    self.step,
                    self.options,
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
            if !shrink {
                return Ok((chunk.ticks, answers, max_points));
            }
            // Fewer ticks per chunk, never fewer points than one tick's window.
            let points = ((chunk.end_ms - chunk.start_ms) / step_ms + 1) as u64;
            max_points = (points / 2).max(self.window_points);
        }
    }
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
