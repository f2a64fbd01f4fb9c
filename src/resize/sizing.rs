//! Sizing: from a container's usage (the signals' statistics), its current size and the policy (with the pod's
//! overrides), the new size of one resource and why, or why it stays: high and low marks, step caps,
//! granularity, bounds, tolerance, enough history. Pure.

use super::draft::{add, minutes};
use super::long_view::throttle_guard_window;
use super::overrides::{CpuMarks, Overrides};
use super::plan::ResourceChange;
use super::policy::{CpuRequest, ResizePolicy};
use super::record::Direction;
use super::signals::ContainerStats;
use super::values::{
    Resource, Values, granularity, memory_limit_decrease_forbidden, restart_policy_of, round_down,
    round_up, spec_values,
};
use crate::model::pod::Container;
use crate::quantity::{format_cpu_millis, format_memory_bytes};
use k8s_openapi::jiff::Timestamp;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// Why a resource stays as it is, as figures: rendered only where a note explains it. Most containers stay
/// as they are on most ticks, and formatting every reason only to count it was an eighth of a replayed tick.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kept {
    /// A reason already in words (fixed, or rare enough not to matter).
    Said(Cow<'static, str>),
    CpuBetweenMarks {
        utilization: Option<f64>,
        peak_utilization: f64,
        /// The long view's utilization, when it is on.
        long_utilization: Option<f64>,
        low: f64,
        high: f64,
    },
    /// The pod is younger than the long view needs for a scale-down.
    TooYoung {
        started: Timestamp,
        needed: Duration,
    },
    /// The long view is on but its query gave nothing for this container (failed, or no 5-minute evaluation yet).
    NoLongView,
    /// The throttling guard could not be read this tick: a scale-down might throttle it again.
    ThrottlingUnknown,
    /// Throttled in some step of the guard window: a scale-down would throttle it again.
    ThrottledRecently {
        throttled: f64,
        mark: f64,
        window: Duration,
    },
    /// An OOM kill within the long window: memory is not lowered.
    OomKilledRecently {
        at: Timestamp,
    },
    /// Killed again after as many raises as allowed: more memory does not fix a leak.
    OomRaisesSpent {
        at: Timestamp,
        raises: usize,
        window: Duration,
        until: Timestamp,
    },
    CpuNoPeak {
        utilization: f64,
        basis: i64,
        window: Duration,
    },
    MemoryNoRoom {
        peak_utilization: f64,
        basis: i64,
        margin: f64,
        high: f64,
    },
    MemoryBelowPeak {
        peak: f64,
    },
    HeldByBounds {
        resource: Resource,
        wanted: i64,
        min: i64,
        max: i64,
        basis: i64,
    },
    WithinTolerance {
        resource: Resource,
        basis: i64,
        bounded: i64,
        tolerance: f64,
    },
    HistoryTooShort {
        samples: f64,
        expected: f64,
        window: Duration,
    },
    ShortWindowNotFull {
        samples: f64,
        needed: f64,
        window: Duration,
    },
}

impl From<&'static str> for Kept {
    fn from(reason: &'static str) -> Self {
        Kept::Said(Cow::Borrowed(reason))
    }
}

impl From<String> for Kept {
    fn from(reason: String) -> Self {
        Kept::Said(Cow::Owned(reason))
    }
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kept::Said(reason) => f.write_str(reason),
            Kept::CpuBetweenMarks {
                utilization,
                peak_utilization,
                long_utilization,
                low,
                high,
            } => write!(
                f,
                "utilization {} (peak {}{}) is between the {} and {} marks",
                utilization.map_or("unknown".to_string(), percent),
                percent(*peak_utilization),
                long_utilization.map_or(String::new(), |u| format!(", long view {}", percent(u))),
                percent(*low),
                percent(*high)
            ),
            Kept::TooYoung { started, needed } => write!(
                f,
                "the pod started at {started}: its history is shorter than the {} a scale-down needs \
                 (RESIZE_LONG_MIN_HISTORY)",
                minutes(*needed)
            ),
            Kept::NoLongView => f.write_str(
                "no long-view data (RESIZE_LONG_WINDOW) for this container this tick: no scale-down",
            ),
            Kept::ThrottlingUnknown => f.write_str(
                "no throttling history (RESIZE_CPU_THROTTLE) for this container this tick: no scale-down",
            ),
            Kept::ThrottledRecently {
                throttled,
                mark,
                window,
            } => write!(
                f,
                "throttled in {} of CPU periods within the last {} (mark {}): no scale-down",
                percent(throttled * 100.0),
                minutes(*window),
                percent(*mark)
            ),
            Kept::OomKilledRecently { at } => {
                write!(f, "OOM-killed at {at}, within the long window: memory is not lowered")
            }
            Kept::OomRaisesSpent {
                at,
                raises,
                window,
                until,
            } => write!(
                f,
                "OOM-killed at {at} after {raises} memory raises within {}: not raised again before {until} \
                 (a leak is not fixed by more memory; RESIZE_OOM_MAX_BUMPS)",
                minutes(*window)
            ),
            Kept::CpuNoPeak {
                utilization,
                basis,
                window,
            } => write!(
                f,
                "{} of {}: no peak over {}",
                percent(*utilization),
                format_cpu_millis(*basis),
                minutes(*window)
            ),
            Kept::MemoryNoRoom {
                peak_utilization,
                basis,
                margin,
                high,
            } => write!(
                f,
                "peak working set {} of {} leaves no room to shrink (needs peak + {}) and is below the {} mark",
                percent(*peak_utilization),
                format_memory_bytes(*basis),
                percent(*margin),
                percent(*high)
            ),
            Kept::MemoryBelowPeak { peak } => write!(
                f,
                "the bounds would go below the peak {}",
                format_memory_bytes(ceil_ignoring_noise(*peak) as i64)
            ),
            Kept::HeldByBounds {
                resource,
                wanted,
                min,
                max,
                basis,
            } => write!(
                f,
                "wanted {} but {} bounds [{}, {}] keep it at {}",
                resource.format(*wanted),
                resource.name(),
                resource.format(*min),
                resource.format(*max),
                resource.format(*basis)
            ),
            Kept::WithinTolerance {
                resource,
                basis,
                bounded,
                tolerance,
            } => write!(
                f,
                "change {} -> {} is within the {} tolerance",
                resource.format(*basis),
                resource.format(*bounded),
                percent(tolerance * 100.0)
            ),
            Kept::HistoryTooShort {
                samples,
                expected,
                window,
            } => write!(
                f,
                "history of {samples} of {expected} points over {} is too short for a scale-down",
                minutes(*window)
            ),
            Kept::ShortWindowNotFull {
                samples,
                needed,
                window,
            } => write!(
                f,
                "history shorter than the short window: {samples} of {needed} points over {}, no scale-up yet",
                minutes(*window)
            ),
        }
    }
}

/// A container's OOM kills as the rules read them: the kubelet's last one and the raises our record holds.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OomKills<'a> {
    /// `finishedAt` of the previous run, when it was OOM-killed.
    pub(super) last: Option<Timestamp>,
    /// The kills we raised memory for (see [`super::record::ContainerRecord::oom_raises`]).
    pub(super) raised: &'a [Timestamp],
}

impl OomKills<'_> {
    /// The last kill, when it is within the window ending `now`.
    fn recent(&self, now: Timestamp, window: Duration) -> Option<Timestamp> {
        self.last.filter(|at| add(*at, window) > now)
    }

    /// The last kill, when it is recent and not answered yet.
    pub(super) fn unanswered(&self, now: Timestamp, window: Duration) -> Option<Timestamp> {
        self.recent(now, window)
            .filter(|at| !self.raised.contains(at))
    }
}

/// The span OOM kills are remembered over: the long window, or a day without it.
pub(super) fn oom_window(policy: &ResizePolicy) -> Duration {
    if policy.windows.long_window.is_zero() {
        Duration::from_secs(24 * 3600)
    } else {
        policy.windows.long_window
    }
}

/// One resource of one container: the change and, for an upsize, its utilization (how hot, for the cap);
/// or why it stays as it is. `stats` is the container's usage of this resource, if any.
pub(super) fn size_resource(
    policy: &ResizePolicy,
    server_minor: u32,
    container: &Container,
    resource: Resource,
    overrides: &Overrides,
    stats: Option<&ContainerStats>,
    (oom, now, pod_started): (OomKills, Timestamp, Option<Timestamp>),
) -> Result<(ResourceChange, Option<f64>), Kept> {
    let values =
        spec_values(container, resource).map_err(|err| format!("unreadable resources: {err}"))?;
    let Some(basis) = values.basis().filter(|b| *b > 0) else {
        return Err(
            "no request or limit (BestEffort): adding one would change the QoS class".into(),
        );
    };
    if restart_policy_of(container, resource) == "RestartContainer" && !policy.allow_restart {
        return Err("resizePolicy is RestartContainer and restarts are not allowed".into());
    }
    let young = too_young_for_the_long_view(policy, overrides, pod_started, now);
    let oom_raise = match resource {
        Resource::Memory => raise_after_oom(policy, overrides, basis, oom, now),
        Resource::Cpu => None,
    };
    let oom_killed_at = oom_raise
        .as_ref()
        .and_then(|raise| raise.as_ref().ok().map(|(at, ..)| *at));
    let decided = decide_basis(
        policy,
        overrides,
        resource,
        stats,
        (basis, young.as_ref()),
        (oom_raise, oom, now),
    );
    if let Some((request, limit)) =
        usage_sized_request_applies(policy, overrides, resource, &values)
    {
        return with_usage_sized_request(
            policy,
            overrides,
            stats,
            (request, limit),
            decided,
            young.as_ref(),
        );
    }
    let (new_basis, direction, why, heat) = decided?;
    let to = values.scaled_to(new_basis, granularity(policy, resource));
    if resource == Resource::Memory
        && to.limit < values.limit
        && let Some(reason) = memory_limit_decrease_forbidden(server_minor, container, policy)
    {
        return Err(reason.into());
    }
    let change = ResourceChange {
        resource,
        direction,
        from: values,
        to,
        why,
        oom_killed_at,
    };
    Ok((change, heat))
}

/// An OOM kill's raise: when it was, the new size and why; or why it is not raised.
type OomRaise = Result<(Timestamp, i64, String), Kept>;

/// A new basis, its direction, why and, for an upsize, its heat; or why the resource stays as it is.
type BasisDecision = Result<(i64, Direction, String, Option<f64>), Kept>;

/// The basis (the limit, or the request without one) of one resource: raised after an OOM kill, or decided from
/// usage.
fn decide_basis(
    policy: &ResizePolicy,
    overrides: &Overrides,
    resource: Resource,
    stats: Option<&ContainerStats>,
    (basis, young): (i64, Option<&Kept>),
    (oom_raise, oom, now): (Option<OomRaise>, OomKills, Timestamp),
) -> BasisDecision {
    if let Some(raise) = oom_raise {
        let (at, mut new_basis, mut why) = raise?;
        // The working set may ask for more than the bump: the larger wins.
        if let Some(stats) = stats
            && let Ok((usage_basis, Direction::Up, usage_why)) =
                decide_memory(policy, overrides, stats, basis, (Some(at), None))
            && usage_basis > new_basis
        {
            new_basis = usage_basis;
            why = format!("{why}; {usage_why}");
        }
        // An OOM kill is the most urgent upsize there is: first under the per-tick cap.
        return Ok((new_basis, Direction::Up, why, Some(f64::INFINITY)));
    }
    let Some(stats) = stats else {
        return Err("no usage data".into());
    };
    let (new_basis, direction, why) = match resource {
        Resource::Cpu => decide_cpu(policy, overrides, stats, basis, young),
        Resource::Memory => decide_memory(
            policy,
            overrides,
            stats,
            basis,
            (oom.recent(now, oom_window(policy)), young),
        ),
    }?;
    let heat = (direction == Direction::Up).then(|| {
        let usage = match resource {
            Resource::Cpu => stats.short_min.map(|cores| cores * 1000.0),
            Resource::Memory => stats.short_max,
        };
        usage.unwrap_or(0.0) / basis as f64
    });
    Ok((new_basis, direction, why, heat))
}

/// The request and limit of a CPU resource whose request is sized from usage: a Burstable container (request
/// below its limit) with the mode on for it. Guaranteed containers keep request == limit; a request without a
/// limit is the basis itself.
fn usage_sized_request_applies(
    policy: &ResizePolicy,
    overrides: &Overrides,
    resource: Resource,
    values: &Values,
) -> Option<(i64, i64)> {
    let mode = overrides.cpu_request.unwrap_or(policy.cpu_request);
    match (resource, mode, values.request, values.limit) {
        (Resource::Cpu, CpuRequest::Usage, Some(request), Some(limit)) if request < limit => {
            Some((request, limit))
        }
        _ => None,
    }
}

/// A Burstable CPU resource with its request sized from usage: the limit as decided from the peaks (`decided`),
/// the request to `RESIZE_CPU_REQUEST_PERCENTILE` of the long view plus the margin, strictly below the limit
/// (the QoS class stays Burstable). Either may change alone. A request that cannot be sized this tick (no long
/// view, a young pod for a lower one) stays, or follows the limit's ratio when the limit drops to it.
fn with_usage_sized_request(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: Option<&ContainerStats>,
    (request, limit): (i64, i64),
    decided: BasisDecision,
    young: Option<&Kept>,
) -> Result<(ResourceChange, Option<f64>), Kept> {
    let from = Values {
        request: Some(request),
        limit: Some(limit),
    };
    let granularity = granularity(policy, Resource::Cpu);
    let new_limit = decided.as_ref().map_or(limit, |(new, ..)| *new);
    let sized = size_request_from_usage(policy, overrides, stats, (request, new_limit), young);
    let (to, direction, why, heat) = match (decided, sized) {
        (Ok((new_limit, limit_direction, why, heat)), sized) => {
            let (new_request, why) = match sized {
                Ok((new_request, request_why)) => (new_request, format!("{why}; {request_why}")),
                Err(_) if request < new_limit => (request, why),
                Err(_) => (
                    from.scaled_to(new_limit, granularity)
                        .request
                        .unwrap_or(request),
                    why,
                ),
            };
            let to = Values {
                request: Some(new_request),
                limit: Some(new_limit),
            };
            // Opposite moves are both: the record then rests the container as long as a downsize would.
            let request_direction = match new_request.cmp(&request) {
                std::cmp::Ordering::Greater => Some(Direction::Up),
                std::cmp::Ordering::Less => Some(Direction::Down),
                std::cmp::Ordering::Equal => None,
            };
            let direction = match request_direction {
                Some(moved) if moved != limit_direction => Direction::Mixed,
                _ => limit_direction,
            };
            (to, direction, why, heat)
        }
        (Err(_), Ok((new_request, why))) => {
            let direction = if new_request > request {
                Direction::Up
            } else {
                Direction::Down
            };
            let heat = (direction == Direction::Up).then(|| {
                stats
                    .and_then(|s| s.long_request)
                    // Against the limit, as a limit's heat is: a request raise is no hotter than its container.
                    .map_or(0.0, |cores| cores * 1000.0 / limit as f64)
            });
            let to = Values {
                request: Some(new_request),
                limit: Some(limit),
            };
            (to, direction, why, heat)
        }
        // A limit between its marks says less than a request waiting for its long view or for the pod to age.
        (
            Err(Kept::CpuBetweenMarks { .. }),
            Err(waits @ (Kept::TooYoung { .. } | Kept::NoLongView)),
        ) => return Err(waits),
        (Err(kept), Err(_)) => return Err(kept),
    };
    let change = ResourceChange {
        resource: Resource::Cpu,
        direction,
        from,
        to,
        why,
        oom_killed_at: None,
    };
    Ok((change, heat))
}

/// A Burstable CPU request sized to the container's typical usage: `RESIZE_CPU_REQUEST_PERCENTILE` of its 5-minute
/// averages over the long window plus `RESIZE_CPU_REQUEST_MARGIN`, within the bounds and strictly below `limit`,
/// with the step caps and tolerance of any change. Lowered only for a pod old enough and with a full
/// stabilization window, as a limit is.
fn size_request_from_usage(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: Option<&ContainerStats>,
    (request, limit): (i64, i64),
    young: Option<&Kept>,
) -> Result<(i64, String), Kept> {
    if policy.windows.long_window.is_zero() || overrides.long_view == Some(false) {
        return Err("the request is sized from the long view, which is off".into());
    }
    let stats = stats.ok_or(Kept::from("no usage data"))?;
    let typical = stats.long_request.ok_or(Kept::NoLongView)? * 1000.0;
    let granularity = policy.cpu_granularity_millis.max(1);
    let min = overrides.cpu_min.unwrap_or(policy.cpu_min_millis);
    // The largest request on the grid strictly below the limit: equal would make the pod Guaranteed.
    let below_limit = round_down(limit - 1, granularity);
    if below_limit < min.max(1) {
        return Err(format!(
            "no request of at least {} fits below the {} limit",
            format_cpu_millis(min),
            format_cpu_millis(limit)
        )
        .into());
    }
    let wanted = typical * (1.0 + policy.cpu_request_margin_percent / 100.0);
    let (new, notes) = shape(
        policy,
        wanted,
        request,
        granularity,
        min,
        below_limit,
        Resource::Cpu,
    )?;
    if new < request {
        if let Some(young) = young {
            return Err(young.clone());
        }
        history_is_full(policy, stats)?;
    }
    let why = format!(
        "request sized to p{} of its 5-minute CPU over {} ({}) + {}",
        policy.cpu_request_percentile,
        minutes(policy.windows.long_window),
        format_cpu_millis(ceil_ignoring_noise(typical) as i64),
        percent(policy.cpu_request_margin_percent),
    );
    Ok((new, with_notes(why, notes)))
}

/// Memory raised at once after an OOM kill not answered yet: to `RESIZE_OOM_BUMP` x its size, at least
/// `RESIZE_OOM_MIN_BUMP` more (VPA's recommender raises by max(x1.2, +100Mi) from the usage at the kill,
/// kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/model/container.go` `RecordOOM`; the usage
/// at a kill by its limit is the limit). `None`: no such kill, or raising is off; the kill then only holds
/// scale-downs back. Bounded: after `RESIZE_OOM_MAX_BUMPS` raises within the window, a new kill is not raised.
fn raise_after_oom(
    policy: &ResizePolicy,
    overrides: &Overrides,
    basis: i64,
    oom: OomKills,
    now: Timestamp,
) -> Option<OomRaise> {
    let bump = overrides.oom_bump.unwrap_or(policy.oom_bump);
    let window = oom_window(policy);
    let at = oom.unanswered(now, window)?;
    if bump <= 1.0 {
        return None;
    }
    let raised: Vec<Timestamp> = oom
        .raised
        .iter()
        .copied()
        .filter(|r| add(*r, window) > now)
        .collect();
    if raised.len() >= policy.oom_max_bumps as usize {
        let oldest = raised.iter().min().copied().unwrap_or(now);
        return Some(Err(Kept::OomRaisesSpent {
            at,
            raises: raised.len(),
            window,
            until: add(oldest, window),
        }));
    }
    let wanted = (basis as f64 * bump).max((basis + policy.oom_min_bump_bytes) as f64);
    let min = overrides.memory_min.unwrap_or(policy.memory_min_bytes);
    let max = overrides.memory_max.unwrap_or(policy.memory_max_bytes);
    Some(
        shape(
            policy,
            wanted,
            basis,
            policy.memory_granularity_bytes.max(1),
            min,
            max,
            Resource::Memory,
        )
        .map(|(new, notes)| {
            let why = format!(
                "OOM-killed at {at}: raised at once (x{bump}, at least +{}; raise {} of {} within {})",
                format_memory_bytes(policy.oom_min_bump_bytes),
                raised.len() + 1,
                policy.oom_max_bumps,
                minutes(window)
            );
            (at, new, with_notes(why, notes))
        }),
    )
}

/// `why` followed by what shaped the size (step caps, bounds).
fn with_notes(mut why: String, notes: Vec<String>) -> String {
    for n in notes {
        why.push_str(&format!(", {n}"));
    }
    why
}

fn percent(value: f64) -> String {
    format!("{value:.0}%")
}

/// Rounds up, except that a value a billionth above a whole unit counts as that unit: PromQL's rate
/// of a steady 480m reads 480.0000001m, which must size to 800m, not a whole granularity step more.
fn ceil_ignoring_noise(value: f64) -> f64 {
    (value - value.abs() * 1e-9).ceil()
}

/// Applies step cap, granularity and bounds to a wanted size; `None` when no meaningful change remains.
fn shape(
    policy: &ResizePolicy,
    wanted: f64,
    basis: i64,
    granularity: i64,
    min: i64,
    max: i64,
    resource: Resource,
) -> Result<(i64, Vec<String>), Kept> {
    let mut notes = Vec::new();
    let up = wanted > basis as f64;
    let capped = if up {
        let cap = basis as f64 * policy.max_step_up;
        if wanted > cap {
            notes.push(format!("step capped at x{}", policy.max_step_up));
        }
        wanted.min(cap)
    } else {
        let cap = basis as f64 / policy.max_step_down;
        if wanted < cap {
            notes.push(format!("step capped at /{}", policy.max_step_down));
        }
        wanted.max(cap)
    };
    let rounded = round_up(
        ceil_ignoring_noise(capped).min(i64::MAX as f64) as i64,
        granularity,
    );
    let bounded = rounded.clamp(min, max.max(min));
    if bounded != rounded {
        notes.push(format!(
            "bounded to [{}, {}]",
            resource.format(min),
            resource.format(max.max(min))
        ));
    }
    let meaningful = (bounded - basis).unsigned_abs() as f64 > policy.tolerance * basis as f64;
    if (up && bounded <= basis) || (!up && bounded >= basis) {
        return Err(Kept::HeldByBounds {
            resource,
            wanted: ceil_ignoring_noise(capped) as i64,
            min,
            max,
            basis,
        });
    }
    if !meaningful {
        return Err(Kept::WithinTolerance {
            resource,
            basis,
            bounded,
            tolerance: policy.tolerance,
        });
    }
    Ok((bounded, notes))
}

fn history_is_full(policy: &ResizePolicy, stats: &ContainerStats) -> Result<(), Kept> {
    let expected = policy.windows.expected_samples() as f64;
    let needed = (expected * policy.min_history_fraction).floor();
    match stats.samples {
        Some(samples) if samples >= needed => Ok(()),
        samples => Err(Kept::HistoryTooShort {
            samples: samples.unwrap_or(0.0),
            expected,
            window: policy.windows.stabilization_window,
        }),
    }
}

/// A scale-up needs a full short window: the minimum of a container's first point or two (start-up
/// burn) is not usage that *stayed* high.
fn short_history_is_full(policy: &ResizePolicy, stats: &ContainerStats) -> Result<(), Kept> {
    let needed = policy.windows.expected_short_samples() as f64;
    match stats.short_samples {
        Some(samples) if samples >= needed => Ok(()),
        samples => Err(Kept::ShortWindowNotFull {
            samples: samples.unwrap_or(0.0),
            needed,
            window: policy.windows.short_window,
        }),
    }
}

/// A new basis, its direction and why; or why the resource stays as it is.
type Decision = Result<(i64, Direction, String), Kept>;

/// The cpu decision: up when usage stayed above the high mark over the short window, or the limit throttled it
/// often; down when neither the peak over the stabilization window nor the long view reached the low mark and
/// nothing throttled it over the long window; otherwise why not.
pub(super) fn decide_cpu(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: &ContainerStats,
    basis: i64,
    young: Option<&Kept>,
) -> Decision {
    let CpuMarks { low, target, high } = overrides.cpu_marks(policy);
    let min = overrides.cpu_min.unwrap_or(policy.cpu_min_millis);
    let max = overrides.cpu_max.unwrap_or(policy.cpu_max_millis);
    let throttle_mark = overrides
        .cpu_throttle
        .unwrap_or(policy.cpu_throttle_percent);
    let granularity = policy.cpu_granularity_millis.max(1);
    let sustained = stats.short_min.map(|cores| cores * 1000.0);
    let peak = stats.peak.map(|cores| cores * 1000.0);
    let utilization = |millis: f64| millis / basis as f64 * 100.0;
    // Every CPU change aims `usage` at the target utilization, then the step caps, granularity and bounds.
    let sized_for_target = |usage: f64| {
        shape(
            policy,
            usage / (target / 100.0),
            basis,
            granularity,
            min,
            max,
            Resource::Cpu,
        )
    };
    let short = minutes(policy.windows.short_window);
    if let Some(usage) = sustained
        && utilization(usage) > high
    {
        short_history_is_full(policy, stats)?;
        let (new, notes) = sized_for_target(usage)?;
        let why = format!(
            "usage stayed above {} over {short} (at least {}, {} of {}), sized for {}",
            percent(high),
            format_cpu_millis(ceil_ignoring_noise(usage) as i64),
            percent(utilization(usage)),
            format_cpu_millis(basis),
            percent(target),
        );
        return Ok((new, Direction::Up, with_notes(why, notes)));
    }
    if throttle_mark > 0.0
        && let Some(throttled) = stats.throttled_short
        && throttled * 100.0 >= throttle_mark
    {
        short_history_is_full(policy, stats)?;
        // Throttled, the container used all the limit allowed in those periods: its demand is at least the limit,
        // whatever the average says.
        let demand = sustained.unwrap_or(0.0).max(basis as f64);
        let (new, notes) = sized_for_target(demand)?;
        let why = format!(
            "throttled in {} of CPU periods over {short} (mark {}) at {} of its {} limit: demand is above the limit, \
             sized for {}",
            percent(throttled * 100.0),
            percent(throttle_mark),
            sustained.map_or("unknown".to_string(), |u| percent(utilization(u))),
            format_cpu_millis(basis),
            percent(target),
        );
        return Ok((new, Direction::Up, with_notes(why, notes)));
    }
    let Some(peak) = peak else {
        return Err(match sustained {
            Some(usage) => Kept::CpuNoPeak {
                utilization: utilization(usage),
                basis,
                window: policy.windows.stabilization_window,
            },
            None => "no usage data".into(),
        });
    };
    let long = long_view(policy, overrides, stats)?.map(|cores| cores * 1000.0);
    let level = long.map_or(peak, |long| long.max(peak));
    if utilization(level) < low {
        if let Some(young) = young {
            return Err(young.clone());
        }
        history_is_full(policy, stats)?;
        let (new, notes) = sized_for_target(level)?;
        // Last, so that only a scale-down that would happen reads the throttling history: the shell asks
        // Prometheus for it for those containers alone (the guard is the costliest part of the long view).
        if throttle_mark > 0.0 && stats.throttling_unknown {
            return Err(Kept::ThrottlingUnknown);
        }
        if throttle_mark > 0.0
            && let Some(throttled) = stats.throttled_long
            && throttled * 100.0 >= throttle_mark
        {
            return Err(Kept::ThrottledRecently {
                throttled,
                mark: throttle_mark,
                window: throttle_guard_window(&policy.windows),
            });
        }
        let long_part = long.map_or(String::new(), |long| {
            format!(
                ", as did p{} over {} ({}, {})",
                policy.cpu_long_percentile,
                minutes(policy.windows.long_window),
                format_cpu_millis(ceil_ignoring_noise(long) as i64),
                percent(utilization(long))
            )
        });
        let why = format!(
            "peak {} ({} of {}) stayed below {} over {stabilization}{long_part}, sized for {}",
            format_cpu_millis(ceil_ignoring_noise(peak) as i64),
            percent(utilization(peak)),
            format_cpu_millis(basis),
            percent(low),
            percent(target),
            stabilization = minutes(policy.windows.stabilization_window)
        );
        return Ok((new, Direction::Down, with_notes(why, notes)));
    }
    Err(Kept::CpuBetweenMarks {
        utilization: sustained.map(utilization),
        peak_utilization: utilization(peak),
        long_utilization: long.map(utilization),
        low,
        high,
    })
}

/// Why a scale-down waits for the pod to age: with the long view on (for this pod too), a pod younger than
/// `RESIZE_LONG_MIN_HISTORY` has too little of it (cAdvisor's series are per pod: a new pod starts a new history)
/// to have seen its own peaks. A pod without a start time is not held (nothing says it is young).
fn too_young_for_the_long_view(
    policy: &ResizePolicy,
    overrides: &Overrides,
    started: Option<Timestamp>,
    now: Timestamp,
) -> Option<Kept> {
    let needed = policy.long_min_history;
    if policy.windows.long_window.is_zero()
        || overrides.long_view == Some(false)
        || needed.is_zero()
    {
        return None;
    }
    let started = started?;
    (add(started, needed) > now).then_some(Kept::TooYoung { started, needed })
}

/// The long view's figure for a scale-down: `None` when it is off (globally or for this pod); no data while it is
/// on holds the scale-down.
fn long_view(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: &ContainerStats,
) -> Result<Option<f64>, Kept> {
    if policy.windows.long_window.is_zero() || overrides.long_view == Some(false) {
        return Ok(None);
    }
    stats.long.map(Some).ok_or(Kept::NoLongView)
}

/// The memory decision: up when the working set reached the high mark over the short window, down to the
/// peak plus a margin when that leaves room; otherwise why not.
pub(super) fn decide_memory(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: &ContainerStats,
    basis: i64,
    (recent_oom_kill, young): (Option<Timestamp>, Option<&Kept>),
) -> Decision {
    let min = overrides.memory_min.unwrap_or(policy.memory_min_bytes);
    let max = overrides.memory_max.unwrap_or(policy.memory_max_bytes);
    let granularity = policy.memory_granularity_bytes.max(1);
    let utilization = |bytes: f64| bytes / basis as f64 * 100.0;
    if let Some(recent) = stats.short_max
        && utilization(recent) >= policy.memory_high_percent
    {
        short_history_is_full(policy, stats)?;
        let target = policy.memory_target_percent;
        let (new, notes) = shape(
            policy,
            recent / (target / 100.0),
            basis,
            granularity,
            min,
            max,
            Resource::Memory,
        )?;
        let why = format!(
            "working set reached {} ({} of {}) over {short}, at or above {}, sized for {}",
            format_memory_bytes(ceil_ignoring_noise(recent) as i64),
            percent(utilization(recent)),
            format_memory_bytes(basis),
            percent(policy.memory_high_percent),
            percent(target),
            short = minutes(policy.windows.short_window)
        );
        return Ok((new, Direction::Up, with_notes(why, notes)));
    }
    let Some(peak) = stats.peak else {
        return Err("no working-set peak".into());
    };
    let long = long_view(policy, overrides, stats)?;
    let level = long.map_or(peak, |long| long.max(peak));
    let wanted = level * (1.0 + policy.memory_margin_percent / 100.0);
    if wanted < basis as f64 * (1.0 - policy.tolerance) {
        if let Some(at) = recent_oom_kill {
            return Err(Kept::OomKilledRecently { at });
        }
        if let Some(young) = young {
            return Err(young.clone());
        }
        history_is_full(policy, stats)?;
        let (new, notes) = shape(
            policy,
            wanted,
            basis,
            granularity,
            min,
            max,
            Resource::Memory,
        )?;
        if (new as f64) < level {
            return Err(Kept::MemoryBelowPeak { peak: level });
        }
        let long_part = long.map_or(String::new(), |long| {
            format!(
                " (p{} of its 5-minute peaks over {}: {})",
                policy.memory_long_percentile,
                minutes(policy.windows.long_window),
                format_memory_bytes(ceil_ignoring_noise(long) as i64)
            )
        });
        let why = format!(
            "peak working set {} over {stabilization}{long_part} is {} of {}, sized to peak + {}",
            format_memory_bytes(ceil_ignoring_noise(level) as i64),
            percent(utilization(level)),
            format_memory_bytes(basis),
            percent(policy.memory_margin_percent),
            stabilization = minutes(policy.windows.stabilization_window)
        );
        return Ok((new, Direction::Down, with_notes(why, notes)));
    }
    Err(Kept::MemoryNoRoom {
        peak_utilization: utilization(level),
        basis,
        margin: policy.memory_margin_percent,
        high: policy.memory_high_percent,
    })
}
