//! What a replay found, as data: per controller a timeline of decisions and totals, built tick by tick by a
//! recorder ([`TaintRecorder`], [`ResizeRecorder`]) and rendered by [`super::text`] and [`super::html`] or
//! serialized as `--output json`. Pure.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::resize::ResizePlan;
use crate::resize::signals::ContainerKey;
use crate::resize::values::Resource;
use crate::taint::{Action, NodeState, TaintPlan};

/// Recorded usage at or above this share of the limit in force is "at the limit": CPU throttled there (its
/// rate cannot pass the limit, so the demand above is unseen), memory under reclaim pressure.
pub const AT_LIMIT_FRACTION: f64 = 0.95;

/// The whole replay: the period, one run per set of settings (two with `--compare`), and what it cannot know.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub runs: Vec<RunReport>,
    /// Prometheus queries the replay made (history chunks and the top containers' usage).
    pub queries: u64,
    /// Limits of a replay, said in every report.
    pub cannot_know: Vec<String>,
    /// Facts about the input worth a look (objects file without HPAs, retention not checked...).
    pub notes: Vec<String>,
}

/// One set of settings replayed over the period.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `as configured`, or the `--compare` overrides.
    pub name: String,
    pub overrides: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taint_nodes: Option<TaintReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize_pods: Option<ResizeReport>,
}

/// A span of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Span {
    pub fn seconds(&self) -> i64 {
        self.to.as_second() - self.from.as_second()
    }
}

/// Ticks that decided nothing (no data, fail-safe), merged while the reason stays the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from: Timestamp,
    pub to: Timestamp,
    pub ticks: usize,
    pub reason: String,
}

fn add_gap(gaps: &mut Vec<Gap>, at: Timestamp, reason: &str) {
    if let Some(last) = gaps.last_mut()
        && last.reason == reason
    {
        last.to = at;
        last.ticks += 1;
        return;
    }
    gaps.push(Gap {
        from: at,
        to: at,
        ticks: 1,
        reason: reason.to_string(),
    });
}

// ---- taint-nodes ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct TaintReport {
    pub ticks: usize,
    pub gaps: Vec<Gap>,
    /// Every node that was tainted or had no data at some point, by name.
    pub nodes: Vec<NodeTimeline>,
    /// Nodes tainted (and the cap) after each tick.
    pub over_time: Vec<TaintedAt>,
    /// Every taint and untaint, in order.
    pub changes: Vec<TaintChange>,
    pub totals: TaintTotals,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeTimeline {
    pub node: String,
    pub tainted: Vec<Span>,
    /// No data (a window not full, a signal missing): neither hot nor cool.
    pub unknown: Vec<Span>,
    pub taints: usize,
    pub flaps: usize,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TaintedAt {
    pub at: Timestamp,
    pub tainted: usize,
    pub cap: usize,
    pub unknown: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaintChange {
    pub at: Timestamp,
    pub node: String,
    /// `taint` or `untaint`.
    pub action: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaintTotals {
    pub nodes: usize,
    pub taints: usize,
    pub untaints: usize,
    /// Taints removed, or nodes tainted again, within the flap window.
    pub flaps: usize,
    pub flap_window_seconds: i64,
    pub cap_full_hours: f64,
    pub most_tainted: usize,
    pub most_tainted_at: Option<Timestamp>,
    pub tainted_node_hours: f64,
    pub unknown_node_hours: f64,
}

#[derive(Default)]
struct NodeTrack {
    tainted_since: Option<Timestamp>,
    unknown_since: Option<Timestamp>,
    tainted: Vec<Span>,
    unknown: Vec<Span>,
    last_taint: Option<Timestamp>,
    last_untaint: Option<Timestamp>,
    taints: usize,
    flaps: usize,
}

impl NodeTrack {
    fn close(&mut self, at: Timestamp) {
        if let Some(from) = self.tainted_since.take() {
            self.tainted.push(Span { from, to: at });
        }
        if let Some(from) = self.unknown_since.take() {
            self.unknown.push(Span { from, to: at });
        }
    }
}

/// Builds a [`TaintReport`] from the plans of successive ticks (after their writes were applied).
pub struct TaintRecorder {
    flap_window_seconds: i64,
    nodes: BTreeMap<String, NodeTrack>,
    over_time: Vec<TaintedAt>,
    changes: Vec<TaintChange>,
    gaps: Vec<Gap>,
    ticks: usize,
}

impl TaintRecorder {
    pub fn new(flap_window_seconds: i64) -> TaintRecorder {
        TaintRecorder {
            flap_window_seconds,
            nodes: BTreeMap::new(),
            over_time: Vec::new(),
            changes: Vec::new(),
            gaps: Vec::new(),
            ticks: 0,
        }
    }

    /// A tick that decided: `plan` as the live tick would have applied it.
    pub fn tick(&mut self, at: Timestamp, plan: &TaintPlan) {
        self.ticks += 1;
        if let Some(reason) = &plan.fail_safe {
            add_gap(&mut self.gaps, at, reason);
        }
        let notes: BTreeMap<&str, &str> = plan
            .writes
            .iter()
            .filter_map(|w| Some((w.node.as_str(), w.event.as_ref()?.note.as_str())))
            .collect();
        let (mut tainted, mut unknown) = (0, 0);
        for decision in &plan.decisions {
            let track = self.nodes.entry(decision.name.clone()).or_default();
            let after = if plan.fail_safe.is_some() {
                decision.has_our_taint
            } else {
                decision.action.leaves_our_taint()
            };
            let change = match decision.action {
                Action::Add if plan.fail_safe.is_none() => Some("taint"),
                Action::Remove if plan.fail_safe.is_none() => Some("untaint"),
                _ => None,
            };
            if let Some(action) = change {
                let within = |since: Option<Timestamp>| {
                    since.is_some_and(|s| at.as_second() - s.as_second() < self.flap_window_seconds)
                };
                if action == "taint" {
                    track.flaps += usize::from(within(track.last_untaint));
                    track.taints += 1;
                    track.last_taint = Some(at);
                } else {
                    track.flaps += usize::from(within(track.last_taint));
                    track.last_untaint = Some(at);
                }
                let why = notes.get(decision.name.as_str()).copied();
                self.changes.push(TaintChange {
                    at,
                    node: decision.name.clone(),
                    action: action.to_string(),
                    why: why.unwrap_or(&decision.reason).to_string(),
                });
            }
            match (after, track.tainted_since) {
                (true, None) => track.tainted_since = Some(at),
                (false, Some(from)) => {
                    track.tainted.push(Span { from, to: at });
                    track.tainted_since = None;
                }
                _ => {}
            }
            let is_unknown = decision.state == NodeState::Unknown;
            match (is_unknown, track.unknown_since) {
                (true, None) => track.unknown_since = Some(at),
                (false, Some(from)) => {
                    track.unknown.push(Span { from, to: at });
                    track.unknown_since = None;
                }
                _ => {}
            }
            tainted += usize::from(after);
            unknown += usize::from(is_unknown);
        }
        self.over_time.push(TaintedAt {
            at,
            tainted,
            cap: plan.summary.cap,
            unknown,
        });
    }

    /// A tick that could not decide (the live tick would have failed before any write): nothing changes.
    pub fn failed_tick(&mut self, at: Timestamp, reason: &str) {
        self.ticks += 1;
        add_gap(&mut self.gaps, at, reason);
    }

    pub fn finish(mut self, to: Timestamp) -> TaintReport {
        let mut totals = TaintTotals {
            flap_window_seconds: self.flap_window_seconds,
            ..TaintTotals::default()
        };
        for (i, point) in self.over_time.iter().enumerate() {
            let until = self.over_time.get(i + 1).map_or(to, |next| next.at);
            let hours = (until.as_second() - point.at.as_second()).max(0) as f64 / 3600.0;
            if point.cap > 0 && point.tainted >= point.cap {
                totals.cap_full_hours += hours;
            }
            if point.tainted > totals.most_tainted {
                totals.most_tainted = point.tainted;
                totals.most_tainted_at = Some(point.at);
            }
        }
        totals.nodes = self.nodes.len();
        totals.taints = self.changes.iter().filter(|c| c.action == "taint").count();
        totals.untaints = self.changes.len() - totals.taints;
        let mut nodes = Vec::new();
        for (name, mut track) in std::mem::take(&mut self.nodes) {
            track.close(to);
            totals.flaps += track.flaps;
            let hours =
                |spans: &[Span]| spans.iter().map(Span::seconds).sum::<i64>() as f64 / 3600.0;
            totals.tainted_node_hours += hours(&track.tainted);
            totals.unknown_node_hours += hours(&track.unknown);
            if !track.tainted.is_empty() || !track.unknown.is_empty() {
                nodes.push(NodeTimeline {
                    node: name,
                    tainted: track.tainted,
                    unknown: track.unknown,
                    taints: track.taints,
                    flaps: track.flaps,
                });
            }
        }
        TaintReport {
            ticks: self.ticks,
            gaps: self.gaps,
            nodes,
            over_time: self.over_time,
            changes: self.changes,
            totals,
        }
    }
}

// ---- resize-pods ------------------------------------------------------------------------------------

/// A container's requests and limits (millicores, bytes); `None` is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sizes {
    pub cpu_request: Option<i64>,
    pub cpu_limit: Option<i64>,
    pub memory_request: Option<i64>,
    pub memory_limit: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizeAt {
    pub at: Timestamp,
    #[serde(flatten)]
    pub sizes: Sizes,
}

/// Recorded usage, for a chart: CPU in cores, memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsageAt {
    pub at: Timestamp,
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResizeChange {
    pub at: Timestamp,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub resource: String,
    pub direction: String,
    pub from: String,
    pub to: String,
    pub why: String,
}

/// Requests reserved over the period: CPU in core-hours, memory in GiB-hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Reserved {
    pub cpu_core_hours: f64,
    pub memory_gib_hours: f64,
}

/// What the new sizes would have risked, judged on recorded usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Risk {
    /// Recorded CPU usage at or above [`AT_LIMIT_FRACTION`] of a replayed limit other than the real one.
    pub cpu_at_limit_minutes: f64,
    /// Recorded working set above a replayed memory limit other than the real one: the kernel would have
    /// OOM-killed it.
    pub memory_over_limit_minutes: f64,
    /// Times the working set went above the replayed limit.
    pub oom_kills: usize,
    /// Recorded usage at the limit that was really in force: throttled (CPU) or reclaimed (memory), so the
    /// true demand there is unknown and the replay cannot say what a larger size would have seen.
    pub demand_unknown_minutes: f64,
}

impl Risk {
    fn add(&mut self, other: &Risk) {
        self.cpu_at_limit_minutes += other.cpu_at_limit_minutes;
        self.memory_over_limit_minutes += other.memory_over_limit_minutes;
        self.oom_kills += other.oom_kills;
        self.demand_unknown_minutes += other.demand_unknown_minutes;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerReport {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub workload: String,
    /// Sizes at the start, then after each change.
    pub sizes: Vec<SizeAt>,
    pub resizes: usize,
    pub before: Reserved,
    pub after: Reserved,
    pub risk: Risk,
    /// Recorded usage over the period, for the top containers only (the chart's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<UsageAt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    pub namespace: String,
    pub workload: String,
    pub containers: usize,
    pub resizes: usize,
    pub before: Reserved,
    pub after: Reserved,
    pub risk: Risk,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ResizeTotals {
    pub containers: usize,
    pub resizes: usize,
    pub resizes_per_container_day: f64,
    pub before: Reserved,
    pub after: Reserved,
    pub risk: Risk,
    /// Containers with any recorded usage at their real limit.
    pub containers_demand_unknown: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResizeReport {
    pub ticks: usize,
    pub gaps: Vec<Gap>,
    /// Every tracked container, by namespace/pod/container.
    pub containers: Vec<ContainerReport>,
    pub workloads: Vec<WorkloadReport>,
    /// Every resource change, in order.
    pub changes: Vec<ResizeChange>,
    pub totals: ResizeTotals,
    /// The containers charted (keys into `containers`), most changed first.
    pub top: Vec<String>,
    /// Whether memory usage was read (only when memory is resized, `RESIZE_MEMORY`): without it a memory
    /// chart shows the sizes alone.
    pub memory_read: bool,
}

struct ContainerTrack {
    workload: String,
    original: Sizes,
    current: Sizes,
    sizes: Vec<SizeAt>,
    resizes: usize,
    before: Reserved,
    after: Reserved,
    risk: Risk,
    over_memory: bool,
}

/// Builds a [`ResizeReport`] from recorded usage and the plans of successive ticks.
pub struct ResizeRecorder {
    step_seconds: f64,
    containers: BTreeMap<ContainerKey, ContainerTrack>,
    changes: Vec<ResizeChange>,
    gaps: Vec<Gap>,
    ticks: usize,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl ResizeRecorder {
    /// `step_seconds`: how long one recorded point stands for (the query step).
    pub fn new(step_seconds: f64) -> ResizeRecorder {
        ResizeRecorder {
            step_seconds,
            containers: BTreeMap::new(),
            changes: Vec::new(),
            gaps: Vec::new(),
            ticks: 0,
        }
    }

    /// A container to follow from `at`, sized `sizes`.
    pub fn track(&mut self, key: ContainerKey, workload: String, sizes: Sizes, at: Timestamp) {
        self.containers.insert(
            key,
            ContainerTrack {
                workload,
                original: sizes,
                current: sizes,
                sizes: vec![SizeAt { at, sizes }],
                resizes: 0,
                before: Reserved::default(),
                after: Reserved::default(),
                risk: Risk::default(),
                over_memory: false,
            },
        );
    }

    /// Recorded values of a container (CPU cores or working-set bytes), oldest first, judged against the size
    /// replayed at that time and the size really in force; nothing when the container is not followed.
    ///
    /// Returns when (of the values' times, seconds) the last OOM kill these values start happened: the working
    /// set crossing the replayed memory limit, which the replay then reports to the next tick as the kubelet would.
    pub fn usage(
        &mut self,
        key: &ContainerKey,
        resource: Resource,
        values: impl IntoIterator<Item = (f64, f64)>,
    ) -> Option<f64> {
        let track = self.containers.get_mut(key)?;
        let minutes = self.step_seconds / 60.0;
        let mut killed_at = None;
        for (at, value) in values.into_iter().filter(|(_, v)| v.is_finite()) {
            if judge_usage(track, resource, value, minutes) {
                killed_at = Some(at);
            }
        }
        killed_at
    }

    /// Whether the replay has raised the container's CPU limit above the recorded one: throttling recorded under
    /// the old limit then says nothing of the new.
    pub fn cpu_limit_raised(&self, key: &ContainerKey) -> bool {
        self.containers.get(key).is_some_and(|track| {
            match (track.current.cpu_limit, track.original.cpu_limit) {
                (Some(current), Some(original)) => current > original,
                (current, original) => current != original,
            }
        })
    }

    /// Requests held for `seconds`: the original sizes (before) and the replayed ones (after).
    pub fn reserve(&mut self, seconds: f64) {
        let hours = seconds.max(0.0) / 3600.0;
        let add = |reserved: &mut Reserved, sizes: &Sizes| {
            reserved.cpu_core_hours += sizes.cpu_request.unwrap_or(0) as f64 / 1000.0 * hours;
            reserved.memory_gib_hours += sizes.memory_request.unwrap_or(0) as f64 / GIB * hours;
        };
        for track in self.containers.values_mut() {
            add(&mut track.before, &track.original);
            add(&mut track.after, &track.current);
        }
    }

    /// A tick that decided: the plan's changes become the containers' sizes from `at`.
    pub fn tick(&mut self, at: Timestamp, plan: &ResizePlan) {
        self.ticks += 1;
        for pod in &plan.pods {
            for container in &pod.containers {
                let key = ContainerKey::new(&pod.namespace, &pod.name, &container.name);
                let Some(track) = self.containers.get_mut(&key) else {
                    continue;
                };
                for change in &container.changes {
                    let (request, limit) = match change.resource {
                        Resource::Cpu => {
                            (&mut track.current.cpu_request, &mut track.current.cpu_limit)
                        }
                        Resource::Memory => (
                            &mut track.current.memory_request,
                            &mut track.current.memory_limit,
                        ),
                    };
                    if change.to.request.is_some() {
                        *request = change.to.request;
                    }
                    if change.to.limit.is_some() {
                        *limit = change.to.limit;
                    }
                    self.changes.push(ResizeChange {
                        at,
                        namespace: pod.namespace.clone(),
                        pod: pod.name.clone(),
                        container: container.name.clone(),
                        resource: change.resource.name().to_string(),
                        direction: change.direction.to_string(),
                        from: change.from.describe(change.resource),
                        to: change.to.describe(change.resource),
                        why: change.why.clone(),
                    });
                }
                track.resizes += 1;
                track.sizes.push(SizeAt {
                    at,
                    sizes: track.current,
                });
            }
        }
    }

    /// A tick that could not decide (the live tick would have failed before any write).
    pub fn failed_tick(&mut self, at: Timestamp, reason: &str) {
        self.ticks += 1;
        add_gap(&mut self.gaps, at, reason);
    }

    /// The report; `top` containers are the `top_count` with the largest change in reserved requests or any
    /// risk, for the charts.
    pub fn finish(self, from: Timestamp, to: Timestamp, top_count: usize) -> ResizeReport {
        let days = ((to.as_second() - from.as_second()).max(1) as f64) / 86_400.0;
        let mut totals = ResizeTotals {
            containers: self.containers.len(),
            ..ResizeTotals::default()
        };
        let mut workloads: BTreeMap<(String, String), WorkloadReport> = BTreeMap::new();
        let mut containers = Vec::new();
        for (key, track) in self.containers {
            totals.resizes += track.resizes;
            add_reserved(&mut totals.before, &track.before);
            add_reserved(&mut totals.after, &track.after);
            totals.risk.add(&track.risk);
            totals.containers_demand_unknown +=
                usize::from(track.risk.demand_unknown_minutes > 0.0);
            let workload = workloads
                .entry((key.namespace.clone(), track.workload.clone()))
                .or_insert_with(|| WorkloadReport {
                    namespace: key.namespace.clone(),
                    workload: track.workload.clone(),
                    containers: 0,
                    resizes: 0,
                    before: Reserved::default(),
                    after: Reserved::default(),
                    risk: Risk::default(),
                });
            workload.containers += 1;
            workload.resizes += track.resizes;
            add_reserved(&mut workload.before, &track.before);
            add_reserved(&mut workload.after, &track.after);
            workload.risk.add(&track.risk);
            containers.push(ContainerReport {
                namespace: key.namespace,
                pod: key.pod,
                container: key.container,
                workload: track.workload,
                sizes: track.sizes,
                resizes: track.resizes,
                before: track.before,
                after: track.after,
                risk: track.risk,
                usage: Vec::new(),
            });
        }
        totals.resizes_per_container_day = if totals.containers == 0 {
            0.0
        } else {
            totals.resizes as f64 / totals.containers as f64 / days
        };
        let top = top_containers(&containers, top_count);
        ResizeReport {
            ticks: self.ticks,
            gaps: self.gaps,
            containers,
            workloads: workloads.into_values().collect(),
            changes: self.changes,
            totals,
            top,
            memory_read: false,
        }
    }
}

fn add_reserved(total: &mut Reserved, part: &Reserved) {
    total.cpu_core_hours += part.cpu_core_hours;
    total.memory_gib_hours += part.memory_gib_hours;
}

/// `namespace/pod/container` of a container report.
pub fn container_id(container: &ContainerReport) -> String {
    format!(
        "{}/{}/{}",
        container.namespace, container.pod, container.container
    )
}

/// The containers most worth a chart: any risk first, then the largest change in reserved requests
/// (CPU core-hours and memory GiB-hours weighed alike), ties by name.
fn top_containers(containers: &[ContainerReport], count: usize) -> Vec<String> {
    let mut ranked: Vec<(bool, f64, String)> = containers
        .iter()
        .filter(|c| c.resizes > 0 || c.risk != Risk::default())
        .map(|c| {
            let risky = c.risk.cpu_at_limit_minutes > 0.0 || c.risk.memory_over_limit_minutes > 0.0;
            let change = (c.before.cpu_core_hours - c.after.cpu_core_hours).abs()
                + (c.before.memory_gib_hours - c.after.memory_gib_hours).abs();
            (risky, change, container_id(c))
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.total_cmp(&a.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    ranked
        .into_iter()
        .take(count)
        .map(|(_, _, id)| id)
        .collect()
}

/// One recorded value of a followed container, `minutes` long.
/// Whether this value starts an OOM kill.
fn judge_usage(track: &mut ContainerTrack, resource: Resource, value: f64, minutes: f64) -> bool {
    let mut killed = false;
    match resource {
        Resource::Cpu => {
            let at_limit = |limit: Option<i64>| {
                limit.is_some_and(|l| value * 1000.0 >= AT_LIMIT_FRACTION * l as f64)
            };
            // At an unchanged limit this is what really happened (demand unknown, below), not a risk
            // the replayed size takes.
            let changed = track.current.cpu_limit != track.original.cpu_limit;
            if changed && at_limit(track.current.cpu_limit) {
                track.risk.cpu_at_limit_minutes += minutes;
            }
            if at_limit(track.original.cpu_limit) {
                track.risk.demand_unknown_minutes += minutes;
            }
        }
        Resource::Memory => {
            let changed = track.current.memory_limit != track.original.memory_limit;
            let over = changed && track.current.memory_limit.is_some_and(|l| value > l as f64);
            if over {
                track.risk.memory_over_limit_minutes += minutes;
                if !track.over_memory {
                    track.risk.oom_kills += 1;
                    killed = true;
                }
            }
            track.over_memory = over;
            if track
                .original
                .memory_limit
                .is_some_and(|l| value >= AT_LIMIT_FRACTION * l as f64)
            {
                track.risk.demand_unknown_minutes += minutes;
            }
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resize::plan::{ContainerChange, PodAction, PodPlan, ResourceChange};
    use crate::resize::record::Direction;
    use crate::resize::values::Values;
    use crate::taint::{NodeDecision, PlanSummary};

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minute * 60).unwrap()
    }

    fn decision(name: &str, action: Action, had: bool) -> NodeDecision {
        NodeDecision {
            name: name.to_string(),
            state: NodeState::Hot,
            signals: Vec::new(),
            eligible: true,
            exclusion: None,
            has_our_taint: had,
            capped: false,
            action,
            reason: format!("{name} {action}"),
            write: matches!(action, Action::Add | Action::Remove),
        }
    }

    fn plan(decisions: Vec<NodeDecision>, cap: usize) -> TaintPlan {
        TaintPlan {
            decisions,
            writes: Vec::new(),
            fail_safe: None,
            unmatched: BTreeMap::new(),
            summary: PlanSummary {
                cap,
                ..PlanSummary::default()
            },
        }
    }

    #[test]
    fn taint_spans_flaps_and_cap_hours_follow_the_ticks() {
        let mut recorder = TaintRecorder::new(30 * 60);
        recorder.tick(at(0), &plan(vec![decision("a", Action::Add, false)], 1));
        recorder.tick(at(10), &plan(vec![decision("a", Action::Remove, true)], 1));
        recorder.failed_tick(at(20), "no data");
        recorder.failed_tick(at(30), "no data");
        recorder.tick(at(60), &plan(vec![decision("a", Action::Add, false)], 1));
        let report = recorder.finish(at(120));
        let t = &report.totals;
        assert_eq!((t.taints, t.untaints), (2, 1));
        assert_eq!(
            t.flaps, 1,
            "untainted 10 min after the taint; tainted again 50 min after the untaint"
        );
        assert_eq!(t.most_tainted, 1);
        assert!(
            (t.cap_full_hours - (10.0 + 60.0) / 60.0).abs() < 1e-9,
            "{}",
            t.cap_full_hours
        );
        assert!((t.tainted_node_hours - 70.0 / 60.0).abs() < 1e-9);
        assert_eq!(report.nodes[0].tainted.len(), 2);
        assert_eq!(report.gaps.len(), 1, "consecutive failed ticks merge");
        assert_eq!(report.gaps[0].ticks, 2);
        assert_eq!(report.ticks, 5);
    }

    #[test]
    fn a_fail_safe_tick_changes_nothing_and_is_a_gap() {
        let mut recorder = TaintRecorder::new(1800);
        recorder.tick(at(0), &plan(vec![decision("a", Action::Add, false)], 1));
        let mut held = plan(vec![decision("a", Action::Remove, true)], 1);
        held.fail_safe = Some("3 of 4 nodes are unknown".to_string());
        recorder.tick(at(1), &held);
        let report = recorder.finish(at(2));
        assert_eq!(report.totals.untaints, 0);
        assert_eq!(
            report.nodes[0].tainted,
            [Span {
                from: at(0),
                to: at(2)
            }]
        );
        assert_eq!(report.gaps[0].reason, "3 of 4 nodes are unknown");
    }

    fn cpu_resize(to_millis: i64) -> ResizePlan {
        let change = ResourceChange {
            resource: Resource::Cpu,
            direction: Direction::Down,
            from: Values {
                request: Some(1000),
                limit: Some(1000),
            },
            to: Values {
                request: Some(to_millis),
                limit: Some(to_millis),
            },
            why: "idle".to_string(),
            oom_killed_at: None,
        };
        ResizePlan {
            pods: vec![PodPlan {
                namespace: "ns".to_string(),
                name: "p".to_string(),
                resource_version: None,
                node: "n".to_string(),
                action: PodAction::Resize,
                containers: vec![ContainerChange {
                    name: "c".to_string(),
                    sidecar: false,
                    changes: vec![change],
                }],
                pod_level: Vec::new(),
                record: "{}".to_string(),
                record_if_refused: None,
                event: None,
            }],
            notes: Vec::new(),
            unchanged: 0,
        }
    }

    #[test]
    fn reserved_hours_and_risk_follow_the_replayed_size() {
        let key = ContainerKey::new("ns", "p", "c");
        let mut recorder = ResizeRecorder::new(60.0);
        let sizes = Sizes {
            cpu_request: Some(1000),
            cpu_limit: Some(1000),
            memory_request: Some(1 << 30),
            memory_limit: Some(1 << 30),
        };
        recorder.track(key.clone(), "Deployment/web".to_string(), sizes, at(0));
        recorder.reserve(3600.0);
        // At the real limit before any change: what really happened, not a risk.
        recorder.usage(&key, Resource::Cpu, [(0.0, 0.99)]);
        recorder.tick(at(60), &cpu_resize(250));
        recorder.reserve(3600.0);
        recorder.usage(&key, Resource::Cpu, [(0.0, 0.30)]);
        recorder.usage(&key, Resource::Cpu, [(0.0, 0.10)]);
        let report = recorder.finish(at(0), at(120), 5);
        let c = &report.containers[0];
        assert!((c.before.cpu_core_hours - 2.0).abs() < 1e-9);
        assert!((c.after.cpu_core_hours - 1.25).abs() < 1e-9);
        assert!((c.before.memory_gib_hours - 2.0).abs() < 1e-9);
        assert_eq!(
            c.risk.cpu_at_limit_minutes, 1.0,
            "0.30 cores at a 250m limit"
        );
        assert_eq!(
            c.risk.demand_unknown_minutes, 1.0,
            "0.99 cores at the real 1-core limit"
        );
        assert_eq!(c.resizes, 1);
        assert_eq!(c.sizes.len(), 2);
        assert_eq!(report.top, ["ns/p/c"]);
        assert!((report.totals.resizes_per_container_day - 12.0).abs() < 1e-9);
        assert_eq!(report.workloads[0].workload, "Deployment/web");
    }

    #[test]
    fn each_excursion_over_a_replayed_memory_limit_is_one_oom_kill() {
        let key = ContainerKey::new("ns", "p", "c");
        let mut recorder = ResizeRecorder::new(30.0);
        let sizes = Sizes {
            memory_request: Some(100),
            memory_limit: Some(200),
            ..Sizes::default()
        };
        recorder.track(key.clone(), "Pod/p".to_string(), sizes, at(0));
        let mut plan = cpu_resize(0);
        let change = &mut plan.pods[0].containers[0].changes[0];
        change.resource = Resource::Memory;
        change.to = Values {
            request: Some(100),
            limit: Some(150),
        };
        recorder.tick(at(1), &plan);
        for value in [120.0, 160.0, 170.0, 140.0, 180.0] {
            recorder.usage(&key, Resource::Memory, [(0.0, value)]);
        }
        let risk = recorder.finish(at(0), at(10), 1).totals.risk;
        assert_eq!(risk.oom_kills, 2);
        assert_eq!(risk.memory_over_limit_minutes, 1.5);
    }
}
