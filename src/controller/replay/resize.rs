//! resize-pods replayed: at each tick, the containers' statistics from the chunk's points (the window a live
//! tick reads), the live decision ([`decide_for`], the same call a live tick makes), the resizes applied to the
//! pods in memory and actuated at once ([`crate::replay::simulate`]), and the tick recorded with the recorded
//! usage judged against the replayed sizes.

use anyhow::{Result, bail};
use compact_str::CompactString;
use k8s_openapi::jiff::Timestamp;
use std::collections::HashMap;

use super::history::{self, Answer, FetchOptions, SignalSpec};
use super::long_view::{self, CpuExtras, LongViews};
use crate::controller::resize::observe::{cpu_long_asks, opted_in_pods};
use crate::controller::resize::observed::{Observed, decide_for};
use crate::model::pod::{ContainerStatus, LastState, Pod, Terminated};
use crate::prometheus::PrometheusClient;
use crate::replay::ResizeRecorder;
use crate::replay::chunks::window;
use crate::replay::report::{ResizeReport, Sizes};
use crate::replay::simulate::apply_pod_plan;
use crate::resize::ResizeSettings;
use crate::resize::eligibility::resizable_containers;
use crate::resize::fit::{pod_reserved, reserved_by_node};
use crate::resize::owners::owner_of;
use crate::resize::signals::{
    ContainerKey, ContainerQuery, ContainerSeriesLabels, ContainerStats, RangeQuery, Signal,
    SignalTable, container_query, query_namespaces, series_stats,
};
use crate::resize::values::{Resource, spec_values};

/// One set of settings replayed: its settings, the objects as the replay has changed them, what happened.
pub(super) struct ResizeRun<'a> {
    pub settings: &'a ResizeSettings,
    pub observed: Observed,
    pub recorder: ResizeRecorder,
    /// The newest evaluation already judged for usage: each recorded point is judged once.
    judged_until_ms: i64,
    /// The last tick (the period's start before the first): requests are held from then.
    last_tick: Timestamp,
    /// Where each pod is in `observed.all_pods`, by namespace and name: a plan's pods are found without a scan
    /// of every pod (the set of pods does not change during a replay).
    pod_index: HashMap<(CompactString, CompactString), usize>,
}

impl<'a> ResizeRun<'a> {
    /// Starts following every resizable container of the opted-in pods at `from`.
    pub fn new(settings: &'a ResizeSettings, observed: Observed, from: Timestamp) -> ResizeRun<'a> {
        let step = settings.policy.windows.step.as_secs_f64();
        let mut recorder = ResizeRecorder::new(step);
        for pod in opted_in_pods(&observed.all_pods, &observed.namespace_labels, settings) {
            track_pod(&mut recorder, pod, from);
        }
        let mut pod_index = HashMap::with_capacity(observed.all_pods.len());
        for (i, pod) in observed.all_pods.iter().enumerate() {
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            // The first of a repeated name, as a search in order would find.
            pod_index.entry((namespace, name)).or_insert(i);
        }
        ResizeRun {
            settings,
            observed,
            recorder,
            judged_until_ms: from.as_millisecond(),
            last_tick: from,
            pod_index,
        }
    }

    pub fn finish(mut self, from: Timestamp, to: Timestamp, top: usize) -> ResizeReport {
        self.recorder.reserve(seconds_between(self.last_tick, to));
        self.recorder.finish(from, to, top)
    }
}

fn track_pod(recorder: &mut ResizeRecorder, pod: &Pod, from: Timestamp) {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let workload = owner_of(pod).map_or_else(|| format!("Pod/{name}"), |o| o.to_string());
    for (container, _sidecar, _status) in resizable_containers(pod) {
        let cpu = spec_values(container, Resource::Cpu).unwrap_or_default();
        let memory = spec_values(container, Resource::Memory).unwrap_or_default();
        recorder.track(
            ContainerKey::new(namespace, name, &container.name),
            workload.clone(),
            Sizes {
                cpu_request: cpu.request,
                cpu_limit: cpu.limit,
                memory_request: memory.request,
                memory_limit: memory.limit,
            },
            from,
        );
    }
}

/// The live range query of `signal` for a tick at `at`: its expression, grid and window.
fn live_query(
    settings: &ResizeSettings,
    pods: &[&Pod],
    signal: Signal,
    at: Timestamp,
) -> Result<RangeQuery> {
    let namespaces = query_namespaces(pods.iter().filter_map(|p| p.metadata.namespace.as_deref()));
    match container_query(
        signal,
        &settings.policy.windows,
        namespaces.as_ref(),
        1,
        u64::MAX,
        at.as_millisecond(),
    ) {
        ContainerQuery::Range(range) => Ok(range),
        ContainerQuery::Statistics(_) => bail!(
            "the resize windows span more than Prometheus' 11,000 points per series at RESIZE_QUERY_STEP: \
             a replay reads them as one range query (raise RESIZE_QUERY_STEP)"
        ),
    }
}

/// What decides whether two runs can share their history: the same queries on the same grid.
pub(super) fn history_key(run: &ResizeRun, at: Timestamp) -> Result<Vec<(String, i64, u128)>> {
    let pods = opted_in_pods(
        &run.observed.all_pods,
        &run.observed.namespace_labels,
        run.settings,
    );
    let mut key = signals(run.settings)
        .into_iter()
        .map(|signal| {
            let q = live_query(run.settings, &pods, signal, at)?;
            Ok((q.expression, q.range.as_millis() as i64, q.step.as_millis()))
        })
        .collect::<Result<Vec<_>>>()?;
    // The long view is read once per group too: the same window, grid and percentiles.
    let policy = &run.settings.policy;
    let asks = cpu_long_asks(policy, &pods);
    key.push((
        format!(
            "long view p{} p{}, throttling {}, request p{:?}",
            policy.cpu_long_percentile,
            policy.memory_long_percentile,
            asks.throttle,
            asks.request_percentile
        ),
        policy.windows.long_window.as_millis() as i64,
        policy.windows.long_step.as_millis(),
    ));
    Ok(key)
}

fn signals(settings: &ResizeSettings) -> Vec<Signal> {
    let mut signals = vec![Signal::Cpu];
    if settings.policy.memory_enabled {
        signals.push(Signal::Memory);
    }
    signals
}

/// Replays `runs` (all with the same [`history_key`]) at `ticks`.
pub(super) fn replay(
    prometheus: &PrometheusClient,
    runs: &mut [ResizeRun],
    ticks: &[Timestamp],
    options: FetchOptions,
) -> Result<()> {
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let settings = first.settings;
    let pods = opted_in_pods(
        &first.observed.all_pods,
        &first.observed.namespace_labels,
        settings,
    );
    if pods.is_empty() || ticks.is_empty() {
        return Ok(());
    }
    let signals = signals(settings);
    let mut specs = Vec::new();
    for &signal in &signals {
        let q = live_query(settings, &pods, signal, ticks[0])?;
        specs.push(SignalSpec {
            name: format!("container {}", signal.name()),
            expression: q.expression,
            range_ms: q.range.as_millis() as i64,
        });
    }
    let step = settings.policy.windows.step;
    let mut ends = Vec::with_capacity(ticks.len());
    for &at in ticks {
        ends.push(live_query(settings, &pods, Signal::Cpu, at)?.end_ms);
    }
    let namespaces = query_namespaces(pods.iter().filter_map(|p| p.metadata.namespace.as_deref()));
    let mut long_views = Vec::with_capacity(signals.len());
    for &signal in &signals {
        long_views.push(long_view::read(
            prometheus,
            &settings.policy,
            namespaces.as_ref(),
            signal,
            &ends,
            options,
        )?);
    }
    let cpu_extras = long_view::read_cpu_extras(
        prometheus,
        &settings.policy,
        namespaces.as_ref(),
        (&ends, cpu_long_asks(&settings.policy, &pods)),
        options,
    )?;
    drop(namespaces);
    drop(pods);
    history::by_chunks::<ContainerSeriesLabels>(
        prometheus,
        &specs,
        &ends,
        step,
        options,
        |chunk, answers| {
            let keyed: Vec<Keyed> = answers.into_iter().map(sorted_by_container).collect();
            for i in chunk {
                for run in runs.iter_mut() {
                    let signals = (signals.as_slice(), specs.as_slice(), long_views.as_slice());
                    tick(run, ticks[i], ends[i], signals, &cpu_extras, &keyed);
                }
            }
            Ok(())
        },
    )
}

/// A chunk's answer to one signal, each series by the container it is about, in the table's order.
type Keyed = Vec<(Option<ContainerKey>, Vec<(f64, f64)>)>;

/// The container each series is about (`None` without the identifying labels: in the answer, never matched),
/// sorted once per chunk so that each tick builds its table in order (a bulk build, no search per container)
/// and finds a container's duplicate series next to each other. Stable: duplicates keep the answer's order.
fn sorted_by_container(answer: Answer<ContainerSeriesLabels>) -> Keyed {
    let mut keyed: Keyed = answer
        .into_iter()
        .map(|(labels, points)| (labels.into_key().map(|(key, _)| key), points))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed
}

fn tick(
    run: &mut ResizeRun,
    at: Timestamp,
    end_ms: i64,
    (signals, specs, long_views): (&[Signal], &[SignalSpec], &[LongViews]),
    cpu_extras: &CpuExtras,
    answers: &[Keyed],
) {
    let windows = &run.settings.policy.windows;
    run.recorder.reserve(seconds_between(run.last_tick, at));
    run.last_tick = at;
    let mut tables = Vec::with_capacity(signals.len());
    for (((signal, spec), series), long) in signals.iter().zip(specs).zip(answers).zip(long_views) {
        let mut rows: Vec<(ContainerKey, ContainerStats)> = Vec::with_capacity(series.len());
        let mut present = 0;
        let resource = match signal {
            Signal::Cpu => Resource::Cpu,
            Signal::Memory => Resource::Memory,
        };
        for (key, points) in series {
            let in_window = window(points.as_slice(), end_ms, spec.range_ms);
            if in_window.is_empty() {
                continue;
            }
            present += 1;
            let Some(key) = key else { continue };
            let mut stats = series_stats(in_window, end_ms, windows);
            stats.long = long.at(key, end_ms);
            if *signal == Signal::Cpu {
                // Throttling now says nothing of a limit the replay raised; throttling in the guard window
                // happened (a live tick after that raise would see the part before it), so it holds back.
                if !run.recorder.cpu_limit_raised(key) {
                    stats.throttled_short = cpu_extras.throttled_short.at(key, end_ms);
                }
                stats.throttled_long = cpu_extras.throttled_long.at(key, end_ms);
                stats.long_request = cpu_extras.request.at(key, end_ms);
            }
            // A duplicate scrape measures the same thing: merged as the live table merges it, its usage judged
            // once (the first series, as sorted stably).
            if let Some((last, merged)) = rows.last_mut()
                && last == key
            {
                merged.merge_hottest(&stats);
                continue;
            }
            // Usage since the last tick, against the sizes in force until now.
            let new = window(in_window, end_ms, end_ms - run.judged_until_ms - 1);
            let killed_at = run.recorder.usage(key, resource, new.iter().copied());
            if let Some(at) = killed_at {
                report_oom_kill(run, key, at);
            }
            rows.push((key.clone(), stats));
        }
        // The live tick stops before any write (`require_series` in controller::resize::observe).
        if present == 0 {
            run.recorder.failed_tick(
                at,
                &format!(
                    "no data: the container {} query returned no series",
                    signal.name()
                ),
            );
            run.judged_until_ms = run.judged_until_ms.max(end_ms);
            return;
        }
        // Sorted and unique: collected without a search per key.
        tables.push(rows.into_iter().collect::<SignalTable>());
    }
    run.judged_until_ms = run.judged_until_ms.max(end_ms);
    let mut tables = tables.into_iter();
    run.observed.cpu = tables.next().unwrap_or_default();
    run.observed.memory = tables.next().unwrap_or_default();
    let pods = opted_in_pods(
        &run.observed.all_pods,
        &run.observed.namespace_labels,
        run.settings,
    );
    let plan = decide_for(run.settings, &run.observed, &pods, at);
    drop(pods);
    for pod_plan in &plan.pods {
        let key = (
            CompactString::from(pod_plan.namespace.as_str()),
            CompactString::from(pod_plan.name.as_str()),
        );
        if let Some(&i) = run.pod_index.get(&key) {
            let pod = &mut run.observed.all_pods[i];
            let before = pod_reserved(pod);
            apply_pod_plan(pod, pod_plan);
            let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
            if let (Some(reserved), Some(node)) = (run.observed.reserved.as_mut(), node)
                && let Some(total) = reserved.get_mut(node)
            {
                *total = total.saturating_sub(before).add(pod_reserved(pod));
            }
        }
    }
    // The kept sums are what a live tick would sum from the pods.
    debug_assert_eq!(
        run.observed.reserved.as_ref(),
        Some(&reserved_by_node(&run.observed.all_pods)),
        "node reservations kept by the replay"
    );
    run.recorder.tick(at, &plan);
}

/// A working set over the replayed limit is an OOM kill: the container's status says so from then on
/// (`lastState.terminated`), as the kubelet's would, so the next tick answers it as a live one would.
fn report_oom_kill(run: &mut ResizeRun, key: &ContainerKey, at_seconds: f64) {
    let index = (
        CompactString::from(key.namespace.as_str()),
        CompactString::from(key.pod.as_str()),
    );
    let Some(&i) = run.pod_index.get(&index) else {
        return;
    };
    let Ok(finished) = Timestamp::from_millisecond((at_seconds * 1000.0).round() as i64) else {
        return;
    };
    let status = run.observed.all_pods[i].status.get_or_insert_default();
    let statuses = status.container_statuses.get_or_insert_default();
    let position = match statuses.iter().position(|s| s.name == key.container) {
        Some(position) => position,
        None => {
            statuses.push(ContainerStatus {
                name: CompactString::from(key.container.as_str()),
                ..ContainerStatus::default()
            });
            statuses.len() - 1
        }
    };
    statuses[position].last_state = Some(Box::new(LastState {
        terminated: Some(Terminated {
            reason: Some(CompactString::const_new("OOMKilled")),
            finished_at: Some(CompactString::from(finished.to_string())),
        }),
    }));
}

fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.as_millisecond() - from.as_millisecond()).max(0) as f64 / 1000.0
}
