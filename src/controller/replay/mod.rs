//! `kube-thermostat replay`, the shell: the objects read once ([`objects`]), the history read in chunks
//! ([`history`]), and per replayed tick the controllers' own decisions on the points a live tick would have
//! read, with our writes carried forward in memory ([`taint`], [`resize`]; the pure parts in
//! [`crate::replay`]). Nothing is written to the cluster.

pub(crate) mod history;
mod long_view;
pub(crate) mod objects;
mod resize;
mod taint;
mod usage;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::jiff::Timestamp;

use self::history::FetchOptions;
use self::objects::Objects;
use self::resize::ResizeRun;
use self::taint::TaintRun;
use crate::controller::Controller;
use crate::controller::resize::observe::opted_in_pods;
use crate::controller::resize::observed::Observed;
use crate::deadline::Deadline;
use crate::hook::crontab::Schedule;
use crate::prometheus::{PrometheusClient, Retention};
use crate::replay::report::{ReplayReport, RunReport};
use crate::replay::simulate::strip_our_state;
use crate::replay::{TaintRecorder, cannot_know};
use crate::resize::fit::reserved_by_node;
use crate::settings::Settings;

/// A replay runs at most this many ticks per controller: 7 days at one tick every 30 s is 20,160.
pub const MAX_TICKS: usize = 50_000;

/// One set of settings to replay.
pub(crate) struct RunSpec<'a> {
    pub name: String,
    pub overrides: Vec<String>,
    pub settings: &'a Settings,
    /// TAINT_SCHEDULE and RESIZE_SCHEDULE as given (read even for a controller not enabled yet).
    pub taint_schedule: String,
    pub resize_schedule: String,
}

/// What to replay.
pub(crate) struct ReplayPlan<'a> {
    pub runs: Vec<RunSpec<'a>>,
    pub controllers: Vec<Controller>,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Ticks every this long from `from`, instead of the schedules.
    pub every: Option<Duration>,
    pub flap_window: Duration,
    /// Containers charted.
    pub top: usize,
    /// The replay's "now", for the retention check.
    pub now: Timestamp,
}

/// `90m`, `24h`, `7d`, `1d12h`: Go durations, with days (`d`) and weeks (`w`) in front, as a period is
/// usually given.
pub(crate) fn parse_period(text: &str) -> Option<Duration> {
    let mut seconds = 0u64;
    let mut rest = text.trim();
    for (unit, unit_seconds) in [('w', 7 * 86_400), ('d', 86_400)] {
        if let Some(at) = rest.find(unit) {
            let count: u64 = rest[..at].parse().ok()?;
            seconds = seconds.checked_add(count.checked_mul(unit_seconds)?)?;
            rest = &rest[at + 1..];
        }
    }
    let rest = if rest.is_empty() {
        Duration::ZERO
    } else {
        crate::settings::parse_duration(rest)?
    };
    let total = Duration::from_secs(seconds) + rest;
    (!total.is_zero()).then_some(total)
}

/// The instants a controller ticks at over the period: its schedule's fire times, or every `every` from the
/// start (as shell-operator counts `@every` from its own start).
pub(crate) fn tick_times(
    controller: Controller,
    schedule: &str,
    every: Option<Duration>,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Timestamp>> {
    let (from_s, to_s) = (from.as_second(), to.as_second());
    let seconds: Vec<i64> = match every {
        Some(every) => {
            let step = every.as_secs().max(1) as i64;
            (0..)
                .map(|k| from_s + k * step)
                .take_while(|t| *t <= to_s)
                .take(MAX_TICKS + 1)
                .collect()
        }
        None => {
            let name = controller.binding();
            let parsed = Schedule::parse(schedule).map_err(|why| {
                anyhow::anyhow!("the {name} schedule {schedule:?} cannot be replayed: {why}")
            })?;
            parsed.require_utc().map_err(|why| {
                anyhow::anyhow!("the {name} schedule {schedule:?} cannot be replayed: {why}")
            })?;
            parsed.fire_times(from_s, to_s, MAX_TICKS + 1)
        }
    };
    if seconds.len() > MAX_TICKS {
        bail!(
            "{} would tick more than {MAX_TICKS} times over the period: replay a shorter period or pass a \
             longer --every",
            controller.binding()
        );
    }
    Ok(seconds
        .into_iter()
        .filter_map(|s| Timestamp::from_second(s).ok())
        .collect())
}

/// Replays `plan` over the history `prometheus` holds, for `objects`.
pub(crate) fn replay(
    prometheus: &PrometheusClient,
    mut objects: Objects,
    plan: &ReplayPlan,
) -> Result<ReplayReport> {
    let base = plan
        .runs
        .first()
        .context("nothing to replay (this is a bug)")?
        .settings;
    strip_our_state(&mut objects.nodes, &mut objects.pods, &base.taint.taint_key);
    let mut reports: Vec<RunReport> = plan
        .runs
        .iter()
        .map(|run| RunReport {
            name: run.name.clone(),
            overrides: run.overrides.clone(),
            taint_nodes: None,
            resize_pods: None,
        })
        .collect();
    let mut notes = objects.notes.clone();
    notes.insert(0, format!("objects read from {}", objects.source));
    check_retention(prometheus, plan, base, &mut notes)?;
    let options = |series: usize, settings: &Settings| FetchOptions {
        series,
        max_response_bytes: settings.prometheus.max_response_bytes,
        query_budget: settings.prometheus.timeout * (settings.prometheus.retries + 1)
            + Duration::from_secs(5),
    };

    if plan.controllers.contains(&Controller::TaintNodes) {
        let mut runs = Vec::new();
        for (i, spec) in plan.runs.iter().enumerate() {
            let ticks = tick_times(
                Controller::TaintNodes,
                &spec.taint_schedule,
                plan.every,
                plan.from,
                plan.to,
            )?;
            let run = TaintRun {
                policy: &spec.settings.taint,
                nodes: objects.nodes.clone(),
                recorder: TaintRecorder::new(plan.flap_window.as_secs() as i64),
            };
            let key = (taint::history_key(run.policy), ticks);
            runs.push((i, key, run));
        }
        // Runs asking the same queries at the same ticks share one read of the history.
        for ((_, ticks), group) in groups(runs) {
            let (indexes, mut group_runs): (Vec<usize>, Vec<TaintRun>) = group.into_iter().unzip();
            let settings = plan.runs[indexes[0]].settings;
            taint::replay(
                prometheus,
                &mut group_runs,
                &ticks,
                options(objects.nodes.len(), settings),
            )
            .context("replaying taint-nodes")?;
            for (i, run) in indexes.into_iter().zip(group_runs) {
                reports[i].taint_nodes = Some(run.finish(plan.to));
            }
        }
    }

    if plan.controllers.contains(&Controller::ResizePods) {
        if objects.server_minor < 32 {
            bail!(
                "the API server is 1.{}: in-place resize needs Kubernetes 1.32+ (pass --server-minor with an \
                 objects file)",
                objects.server_minor
            );
        }
        let settings = &base.resize;
        if opted_in_pods(&objects.pods, &objects.namespace_labels, settings).is_empty() {
            let (key, value) = &settings.pod_selector;
            notes.push(format!(
                "resize-pods: no pod opted in (label {key}={value}), nothing to replay"
            ));
        }
        let containers: usize = objects.pods.iter().map(container_count).sum();
        let mut runs = Vec::new();
        for (i, spec) in plan.runs.iter().enumerate() {
            let ticks = tick_times(
                Controller::ResizePods,
                &spec.resize_schedule,
                plan.every,
                plan.from,
                plan.to,
            )?;
            let observed = Observed {
                all_pods: objects.pods.clone(),
                namespace_labels: objects.namespace_labels.clone(),
                cluster: objects.cluster(),
                cpu: Default::default(),
                memory: Default::default(),
                explain_unchanged: false,
                // Summed once and kept as the replay resizes: the set of pods does not change.
                reserved: Some(reserved_by_node(&objects.pods)),
                // Unused: a replay reads every container's throttling history with the rest of its range data.
                throttle_guarded: Default::default(),
            };
            let run = ResizeRun::new(&spec.settings.resize, observed, plan.from);
            let key = (resize::history_key(&run, plan.from)?, ticks);
            runs.push((i, key, run));
        }
        for ((_, ticks), group) in groups(runs) {
            let (indexes, mut group_runs): (Vec<usize>, Vec<ResizeRun>) = group.into_iter().unzip();
            let settings = plan.runs[indexes[0]].settings;
            resize::replay(
                prometheus,
                &mut group_runs,
                &ticks,
                options(containers, settings),
            )
            .context("replaying resize-pods")?;
            for (i, run) in indexes.into_iter().zip(group_runs) {
                reports[i].resize_pods = Some(run.finish(plan.from, plan.to, plan.top));
            }
        }
        let mut resize_reports: Vec<&mut _> = reports
            .iter_mut()
            .filter_map(|r| r.resize_pods.as_mut())
            .collect();
        usage::chart_usage(
            prometheus,
            &mut resize_reports,
            &settings.policy.windows,
            settings.policy.memory_enabled,
            (plan.from, plan.to),
            options(1, base).query_budget,
        )?;
    }

    Ok(ReplayReport {
        from: plan.from,
        to: plan.to,
        runs: reports,
        queries: prometheus.stats().queries,
        cannot_know: cannot_know(),
        notes,
    })
}

/// `(index, key, run)`s grouped by equal keys, in order of first appearance: runs whose queries and ticks are
/// the same share one read of the history.
fn groups<K: PartialEq, R>(runs: Vec<(usize, K, R)>) -> Vec<(K, Vec<(usize, R)>)> {
    let mut groups: Vec<(K, Vec<(usize, R)>)> = Vec::new();
    for (i, key, run) in runs {
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push((i, run)),
            None => groups.push((key, vec![(i, run)])),
        }
    }
    groups
}

/// Refuses a period that starts before what Prometheus keeps, saying what it keeps. Where that cannot be
/// known (no status endpoint, a retention by size, the endpoint refused), says so: parts of the period without
/// data are then reported as gaps.
fn check_retention(
    prometheus: &PrometheusClient,
    plan: &ReplayPlan,
    settings: &Settings,
    notes: &mut Vec<String>,
) -> Result<()> {
    let deadline = Deadline::after(settings.prometheus.timeout);
    match prometheus.retention(&deadline) {
        Ok(Some(Retention {
            time: Some(keep),
            text,
        })) => {
            let keep_seconds = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
            let oldest = Timestamp::from_second(plan.now.as_second().saturating_sub(keep_seconds))
                .unwrap_or(Timestamp::UNIX_EPOCH);
            if plan.from < oldest {
                bail!(
                    "the period starts at {}, but Prometheus keeps {text:?} (storageRetention,                      /api/v1/status/runtimeinfo): it holds data from about {oldest} on; start --from after                      that or use --last with at most {text}",
                    plan.from
                );
            }
        }
        Ok(Some(Retention { time: None, text })) => notes.push(format!(
            "Prometheus keeps {text:?} (by size): how far back it reaches is not known, so the period was not              checked against it; a part it no longer holds shows as gaps"
        )),
        Ok(None) => notes.push(
            "Prometheus does not say its retention (no /api/v1/status/runtimeinfo, as on Thanos or Mimir): the              period was not checked against it; a part it does not hold shows as gaps"
                .to_string(),
        ),
        Err(error) => notes.push(format!(
            "Prometheus' retention could not be read ({}): the period was not checked against it",
            crate::error_chain::render(&error)
        )),
    }
    Ok(())
}

fn container_count(pod: &crate::model::pod::Pod) -> usize {
    pod.spec.as_ref().map_or(0, |spec| {
        spec.containers.len() + spec.init_containers.as_ref().map_or(0, Vec::len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_days_weeks_and_go_durations() {
        assert_eq!(parse_period("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_period("1w"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_period("1d12h"), Some(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_period("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_period("24h"), Some(Duration::from_secs(86_400)));
        for bad in ["", "0s", "d", "7x", "-1d", "3d-1h"] {
            assert_eq!(parse_period(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_ticks_from_the_start_to_the_end_inclusive() {
        let from = Timestamp::from_second(1_000_000_020).unwrap();
        let to = Timestamp::from_second(1_000_000_200).unwrap();
        let ticks = tick_times(
            Controller::TaintNodes,
            "",
            Some(Duration::from_secs(60)),
            from,
            to,
        )
        .unwrap();
        let seconds: Vec<i64> = ticks.iter().map(|t| t.as_second()).collect();
        assert_eq!(
            seconds,
            [1_000_000_020, 1_000_000_080, 1_000_000_140, 1_000_000_200]
        );
    }

    #[test]
    fn too_many_ticks_are_refused_with_the_way_out() {
        let from = Timestamp::from_second(0).unwrap();
        let to = Timestamp::from_second(60 * 86_400).unwrap();
        let error = tick_times(
            Controller::TaintNodes,
            "",
            Some(Duration::from_secs(30)),
            from,
            to,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("--every"), "{error}");
    }
}
