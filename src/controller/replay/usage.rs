//! The charted containers' recorded usage over the whole period: one range query per signal for all of them
//! together, at a chart's resolution (about [`CHART_POINTS`] points), after the replay chose them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::jiff::Timestamp;

use crate::deadline::Deadline;
use crate::prometheus::{PrometheusClient, RangeSpan};
use crate::replay::report::{ResizeReport, UsageAt, container_id};
use crate::resize::signals::{
    ContainerKey, ContainerSeriesLabels, Signal, SignalWindows, usage_chart_query,
};

/// About how many points a usage chart holds over the period.
pub const CHART_POINTS: i64 = 400;

/// Fills `usage` of every charted container of `reports` (the same container charted in two runs is read
/// once). `memory`: whether the memory signal is read at all.
pub(super) fn chart_usage(
    prometheus: &PrometheusClient,
    reports: &mut [&mut ResizeReport],
    windows: &SignalWindows,
    memory: bool,
    (from, to): (Timestamp, Timestamp),
    query_budget: Duration,
) -> Result<()> {
    let charted: BTreeSet<ContainerKey> = reports
        .iter()
        .flat_map(|report| {
            report
                .containers
                .iter()
                .filter(|c| report.top.contains(&container_id(c)))
                .map(|c| ContainerKey::new(&c.namespace, &c.pod, &c.container))
        })
        .collect();
    for report in reports.iter_mut() {
        report.memory_read = memory;
    }
    if charted.is_empty() {
        return Ok(());
    }
    let keys: Vec<ContainerKey> = charted.iter().cloned().collect();
    let step_ms = (windows.step.as_millis() as i64).max(1);
    let period_ms = (to.as_millisecond() - from.as_millisecond()).max(step_ms);
    let chart_step_ms = ((period_ms / CHART_POINTS) as u64)
        .div_ceil(step_ms as u64)
        .max(1) as i64
        * step_ms;
    let chart_step = Duration::from_millis(chart_step_ms as u64);
    let mut points: BTreeMap<ContainerKey, BTreeMap<i64, UsageAt>> = BTreeMap::new();
    let mut signals = vec![Signal::Cpu];
    if memory {
        signals.push(Signal::Memory);
    }
    for signal in signals {
        let query = usage_chart_query(signal, windows, &keys, chart_step);
        let span = RangeSpan {
            start: from,
            end: to,
            step: chart_step,
        };
        let deadline = Deadline::after(query_budget);
        let (series, _) = prometheus
            .query_range_fold(
                &query,
                span,
                &deadline,
                Vec::new,
                |all: &mut Vec<(ContainerKey, Vec<(f64, f64)>)>,
                 labels: ContainerSeriesLabels,
                 values: &[(f64, f64)]| {
                    if let Some((key, _)) = labels.into_key() {
                        all.push((key, values.to_vec()));
                    }
                },
            )
            .with_context(|| format!("reading the charted containers' {} usage", signal.name()))?;
        for (key, values) in series {
            if !charted.contains(&key) {
                continue;
            }
            let by_time = points.entry(key).or_default();
            for (at, value) in values {
                let ms = (at * 1000.0).round() as i64;
                let Ok(instant) = Timestamp::from_millisecond(ms) else {
                    continue;
                };
                let point = by_time.entry(ms).or_insert(UsageAt {
                    at: instant,
                    cpu: None,
                    memory: None,
                });
                let value = value.is_finite().then_some(value);
                match signal {
                    Signal::Cpu => point.cpu = value,
                    Signal::Memory => point.memory = value,
                }
            }
        }
    }
    for report in reports.iter_mut() {
        for container in report.containers.iter_mut() {
            let key = ContainerKey::new(&container.namespace, &container.pod, &container.container);
            if report.top.contains(&container_id(container))
                && let Some(by_time) = points.get(&key)
            {
                container.usage = by_time.values().copied().collect();
            }
        }
    }
    Ok(())
}
