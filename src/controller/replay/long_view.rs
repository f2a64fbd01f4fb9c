//! The long view in a replay: the figure a live tick's long-view query would have answered, for every container
//! at every step of the long-view grid of the period, computed here from the same 5-minute evaluations
//! ([`crate::resize::long_view`]): one range query per resource over the period and the long window before it,
//! read in chunks, and per container a window of the last evaluations kept sorted as it slides.
//!
//! Throttling is read the same way (the CFS counters' ratio over the short window at each tick, and its highest
//! 5-minute value over the guard window), and fed to a tick only while the replayed CPU limit is not above the
//! recorded one: throttling recorded under a limit says nothing of a larger one. The percentile a usage-sized
//! CPU request covers is read as the long view is.

use std::collections::HashMap;

use anyhow::Result;

use super::history::{self, Answer, FetchOptions, SignalSpec};
use crate::prometheus::PrometheusClient;
use crate::resize::ResizePolicy;
use crate::resize::long_view::{
    CpuLongAsks, cpu_long_expression, memory_long_expression, quantile, throttle_guard_window,
    throttled_expression,
};
use crate::resize::signals::{ContainerKey, ContainerSeriesLabels, Signal};
use std::collections::BTreeSet;
use std::time::Duration;

/// One resource's long view: per container, the figure at each grid step from `first_ms`.
#[derive(Debug, Default)]
pub(super) struct LongViews {
    first_ms: i64,
    step_ms: i64,
    by_container: HashMap<ContainerKey, Vec<f64>>,
}

impl LongViews {
    /// The figure a live long-view query at a tick whose newest evaluation is `end_ms` would answer: the
    /// subquery's newest point is the last grid step at or before it.
    pub(super) fn at(&self, key: &ContainerKey, end_ms: i64) -> Option<f64> {
        let values = self.by_container.get(key)?;
        let index = (end_ms - self.first_ms).div_euclid(self.step_ms.max(1));
        let value = *values.get(usize::try_from(index).ok()?)?;
        value.is_finite().then_some(value)
    }
}

/// Reads the long view of `signal` for ticks whose newest evaluations are `ends_ms` (oldest first); empty when
/// the long view is off.
pub(super) fn read(
    prometheus: &PrometheusClient,
    policy: &ResizePolicy,
    namespaces: Option<&BTreeSet<&str>>,
    signal: Signal,
    ends_ms: &[i64],
    options: FetchOptions,
) -> Result<LongViews> {
    let windows = &policy.windows;
    if windows.long_window.is_zero() {
        return Ok(LongViews::default());
    }
    let (expression, percentile) = match signal {
        Signal::Cpu => (
            cpu_long_expression(windows, namespaces),
            policy.cpu_long_percentile,
        ),
        Signal::Memory => (
            memory_long_expression(windows, namespaces),
            policy.memory_long_percentile,
        ),
    };
    let figures = Figures {
        name: format!("container {} long view", signal.name()),
        expression,
        window: windows.long_window,
        step: windows.long_step,
        percentile,
    };
    figures.read(prometheus, ends_ms, options)
}

/// The figures a live tick's CPU long-view query answers besides the long view, each empty when not asked for.
#[derive(Debug, Default)]
pub(super) struct CpuExtras {
    pub(super) throttled_short: LongViews,
    pub(super) throttled_long: LongViews,
    /// The percentile a usage-sized request covers (`long_request`).
    pub(super) request: LongViews,
}

/// Reads what `asks` asks for of [`CpuExtras`].
pub(super) fn read_cpu_extras(
    prometheus: &PrometheusClient,
    policy: &ResizePolicy,
    namespaces: Option<&BTreeSet<&str>>,
    (ends_ms, asks): (&[i64], CpuLongAsks),
    options: FetchOptions,
) -> Result<CpuExtras> {
    let windows = &policy.windows;
    let request = match asks.request_percentile {
        Some(percentile) if !windows.long_window.is_zero() => Figures {
            name: "container cpu request long view".to_string(),
            expression: cpu_long_expression(windows, namespaces),
            window: windows.long_window,
            step: windows.long_step,
            percentile,
        }
        .read(prometheus, ends_ms, options)?,
        _ => LongViews::default(),
    };
    let (throttled_short, throttled_long) = if asks.throttle {
        read_throttling(prometheus, policy, namespaces, ends_ms, options)?
    } else {
        Default::default()
    };
    Ok(CpuExtras {
        throttled_short,
        throttled_long,
        request,
    })
}

/// The two throttling figures a live tick's CPU long-view query answers (`throttled_short`, `throttled_long`).
fn read_throttling(
    prometheus: &PrometheusClient,
    policy: &ResizePolicy,
    namespaces: Option<&BTreeSet<&str>>,
    ends_ms: &[i64],
    options: FetchOptions,
) -> Result<(LongViews, LongViews)> {
    let windows = &policy.windows;
    // The live query's instant value over the short window, read at each tick's newest evaluation.
    let short = Figures {
        name: "container cpu throttling".to_string(),
        expression: throttled_expression(windows.short_window, namespaces),
        window: windows.step,
        step: windows.step,
        percentile: 100.0,
    };
    let long = Figures {
        name: "container cpu throttling long view".to_string(),
        expression: throttled_expression(windows.long_step, namespaces),
        window: throttle_guard_window(windows),
        step: windows.long_step,
        percentile: 100.0,
    };
    Ok((
        short.read(prometheus, ends_ms, options)?,
        long.read(prometheus, ends_ms, options)?,
    ))
}

/// A figure per container and grid step: `percentile` of `expression`'s evaluations every `step` over `window`.
struct Figures {
    name: String,
    expression: String,
    window: Duration,
    step: Duration,
    percentile: f64,
}

impl Figures {
    fn read(
        self,
        prometheus: &PrometheusClient,
        ends_ms: &[i64],
        options: FetchOptions,
    ) -> Result<LongViews> {
        let (Some(&first), Some(&last)) = (ends_ms.first(), ends_ms.last()) else {
            return Ok(LongViews::default());
        };
        let step_ms = (self.step.as_millis() as i64).max(1);
        let window_ms = self.window.as_millis() as i64;
        let first_ms = first - first.rem_euclid(step_ms);
        let grid: Vec<i64> = (0..=(last - first_ms) / step_ms)
            .map(|i| first_ms + i * step_ms)
            .collect();
        let spec = SignalSpec {
            name: self.name,
            expression: self.expression,
            // The subquery's points lie in (end - window, end].
            range_ms: window_ms - step_ms,
        };
        let percentile = self.percentile;
        let mut views = LongViews {
            first_ms,
            step_ms,
            by_container: HashMap::new(),
        };
        history::by_chunks::<ContainerSeriesLabels>(
            prometheus,
            std::slice::from_ref(&spec),
            &grid,
            self.step,
            options,
            |chunk, mut answers| {
                let answer: Answer<ContainerSeriesLabels> = answers.pop().unwrap_or_default();
                for (labels, points) in answer {
                    let Some((key, _)) = labels.into_key() else {
                        continue;
                    };
                    let figures =
                        sliding_quantiles(&points, &grid[chunk.clone()], window_ms, percentile);
                    let values = views
                        .by_container
                        .entry(key)
                        .or_insert_with(|| vec![f64::NAN; grid.len()]);
                    // A duplicate scrape: the hotter figure, as `max by` after the quantile does live.
                    for (slot, figure) in values[chunk.clone()].iter_mut().zip(figures) {
                        if figure.is_finite() && !(slot.is_finite() && *slot >= figure) {
                            *slot = figure;
                        }
                    }
                }
                Ok(())
            },
        )?;
        Ok(views)
    }
}

/// At each of `ends_ms` (ascending), the `percentile` of the finite points in (end - window, end]; NaN where
/// there is none. The window slides: each point enters and leaves a sorted copy once.
fn sliding_quantiles(
    points: &[(f64, f64)],
    ends_ms: &[i64],
    window_ms: i64,
    percentile: f64,
) -> Vec<f64> {
    let at_ms = |i: usize| (points[i].0 * 1000.0).round() as i64;
    let mut sorted: Vec<f64> = Vec::new();
    let (mut entered, mut left) = (0, 0);
    let mut figures = Vec::with_capacity(ends_ms.len());
    for &end in ends_ms {
        while entered < points.len() && at_ms(entered) <= end {
            let value = points[entered].1;
            if value.is_finite() {
                let at = sorted.partition_point(|v| v.total_cmp(&value).is_lt());
                sorted.insert(at, value);
            }
            entered += 1;
        }
        while left < entered && at_ms(left) <= end - window_ms {
            let value = points[left].1;
            if value.is_finite() {
                let at = sorted.partition_point(|v| v.total_cmp(&value).is_lt());
                sorted.remove(at);
            }
            left += 1;
        }
        figures.push(quantile(percentile / 100.0, &mut sorted).unwrap_or(f64::NAN));
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sliding_percentile_is_the_percentile_of_each_window() {
        // One point a minute for an hour, values 0..60 shuffled by a fixed stride; windows of 10 minutes.
        let points: Vec<(f64, f64)> = (0..60)
            .map(|i| ((i * 60) as f64, ((i * 37) % 60) as f64))
            .collect();
        let ends: Vec<i64> = (0..60).step_by(7).map(|i| i * 60_000).collect();
        let figures = sliding_quantiles(&points, &ends, 600_000, 95.0);
        for (end, figure) in ends.iter().zip(figures) {
            let mut window: Vec<f64> = points
                .iter()
                .filter(|(at, _)| {
                    let ms = (*at * 1000.0) as i64;
                    ms <= *end && ms > end - 600_000
                })
                .map(|(_, v)| *v)
                .collect();
            assert_eq!(Some(figure), quantile(0.95, &mut window), "at {end}");
        }
    }

    #[test]
    fn gaps_are_skipped_and_an_empty_window_has_no_figure() {
        let points = [(0.0, 1.0), (60.0, f64::NAN), (120.0, 3.0)];
        let figures = sliding_quantiles(&points, &[120_000, 1_000_000], 180_000, 100.0);
        assert_eq!(figures[0], 3.0);
        assert!(figures[1].is_nan());
    }
}
