//! Sizing: from a container's usage (the signals' statistics), its current size and the policy (with the pod's
//! overrides), the new size of one resource and why, or why it stays: high and low marks, step caps,
//! granularity, bounds, tolerance, enough history. Pure.

use super::draft::minutes;
use super::overrides::Overrides;
use super::plan::ResourceChange;
use super::policy::ResizePolicy;
use super::record::Direction;
use super::signals::ContainerStats;
use super::values::{
    Resource, granularity, memory_limit_decrease_forbidden, restart_policy_of, round_up,
    spec_values,
};
use crate::model::pod::Container;
use crate::quantity::{format_cpu_millis, format_memory_bytes};
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
        low: f64,
        high: f64,
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
                low,
                high,
            } => write!(
                f,
                "utilization {} (peak {}) is between the {} and {} marks",
                utilization.map_or("unknown".to_string(), percent),
                percent(*peak_utilization),
                percent(*low),
                percent(*high)
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

/// One resource of one container: the change and, for an upsize, its utilization (how hot, for the cap);
/// or why it stays as it is. `stats` is the container's usage of this resource, if any.
pub(super) fn size_resource(
    policy: &ResizePolicy,
    server_minor: u32,
    container: &Container,
    resource: Resource,
    overrides: &Overrides,
    stats: Option<&ContainerStats>,
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
    let Some(stats) = stats else {
        return Err("no usage data".into());
    };
    let (new_basis, direction, why) = match resource {
        Resource::Cpu => decide_cpu(policy, overrides, stats, basis),
        Resource::Memory => decide_memory(policy, overrides, stats, basis),
    }?;
    let heat = (direction == Direction::Up).then(|| {
        let usage = match resource {
            Resource::Cpu => stats.short_min.map(|cores| cores * 1000.0),
            Resource::Memory => stats.short_max,
        };
        usage.unwrap_or(0.0) / basis as f64
    });
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
    };
    Ok((change, heat))
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

/// The cpu decision: up when usage stayed above the high mark over the short window, down when the peak
/// stayed below the low mark over the stabilization window; otherwise why not.
pub(super) fn decide_cpu(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: &ContainerStats,
    basis: i64,
) -> Decision {
    let target = overrides.cpu_target.unwrap_or(policy.cpu_target_percent);
    let min = overrides.cpu_min.unwrap_or(policy.cpu_min_millis);
    let max = overrides.cpu_max.unwrap_or(policy.cpu_max_millis);
    let granularity = policy.cpu_granularity_millis.max(1);
    let sustained = stats.short_min.map(|cores| cores * 1000.0);
    let peak = stats.peak.map(|cores| cores * 1000.0);
    let utilization = |millis: f64| millis / basis as f64 * 100.0;
    if let Some(usage) = sustained
        && utilization(usage) > policy.cpu_high_percent
    {
        short_history_is_full(policy, stats)?;
        let (new, notes) = shape(
            policy,
            usage / (target / 100.0),
            basis,
            granularity,
            min,
            max,
            Resource::Cpu,
        )?;
        let why = format!(
            "usage stayed above {} over {short} (at least {}, {} of {}), sized for {}",
            percent(policy.cpu_high_percent),
            format_cpu_millis(ceil_ignoring_noise(usage) as i64),
            percent(utilization(usage)),
            format_cpu_millis(basis),
            percent(target),
            short = minutes(policy.windows.short_window)
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
    if utilization(peak) < policy.cpu_low_percent {
        history_is_full(policy, stats)?;
        let (new, notes) = shape(
            policy,
            peak / (target / 100.0),
            basis,
            granularity,
            min,
            max,
            Resource::Cpu,
        )?;
        let why = format!(
            "peak {} ({} of {}) stayed below {} over {long}, sized for {}",
            format_cpu_millis(ceil_ignoring_noise(peak) as i64),
            percent(utilization(peak)),
            format_cpu_millis(basis),
            percent(policy.cpu_low_percent),
            percent(target),
            long = minutes(policy.windows.stabilization_window)
        );
        return Ok((new, Direction::Down, with_notes(why, notes)));
    }
    Err(Kept::CpuBetweenMarks {
        utilization: sustained.map(utilization),
        peak_utilization: utilization(peak),
        low: policy.cpu_low_percent,
        high: policy.cpu_high_percent,
    })
}

/// The memory decision: up when the working set reached the high mark over the short window, down to the
/// peak plus a margin when that leaves room; otherwise why not.
pub(super) fn decide_memory(
    policy: &ResizePolicy,
    overrides: &Overrides,
    stats: &ContainerStats,
    basis: i64,
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
    let wanted = peak * (1.0 + policy.memory_margin_percent / 100.0);
    if wanted < basis as f64 * (1.0 - policy.tolerance) {
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
        if (new as f64) < peak {
            return Err(Kept::MemoryBelowPeak { peak });
        }
        let why = format!(
            "peak working set {} over {long} is {} of {}, sized to peak + {}",
            format_memory_bytes(ceil_ignoring_noise(peak) as i64),
            percent(utilization(peak)),
            format_memory_bytes(basis),
            percent(policy.memory_margin_percent),
            long = minutes(policy.windows.stabilization_window)
        );
        return Ok((new, Direction::Down, with_notes(why, notes)));
    }
    Err(Kept::MemoryNoRoom {
        peak_utilization: utilization(peak),
        basis,
        margin: policy.memory_margin_percent,
        high: policy.memory_high_percent,
    })
}
