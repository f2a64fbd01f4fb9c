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

/// One resource of one container: the change and, for an upsize, its utilization (how hot, for the cap);
/// or why it stays as it is. `stats` is the container's usage of this resource, if any.
pub(super) fn size_resource(
    policy: &ResizePolicy,
    server_minor: u32,
    container: &Container,
    resource: Resource,
    overrides: &Overrides,
    stats: Option<&ContainerStats>,
) -> Result<(ResourceChange, Option<f64>), String> {
    let values =
        spec_values(container, resource).map_err(|err| format!("unreadable resources: {err}"))?;
    let Some(basis) = values.basis().filter(|b| *b > 0) else {
        return Err(
            "no request or limit (BestEffort): adding one would change the QoS class".to_string(),
        );
    };
    if restart_policy_of(container, resource) == "RestartContainer" && !policy.allow_restart {
        return Err("resizePolicy is RestartContainer and restarts are not allowed".to_string());
    }
    let Some(stats) = stats else {
        return Err("no usage data".to_string());
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
        return Err(reason);
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
) -> Result<(i64, Vec<String>), String> {
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
        return Err(format!(
            "wanted {} but {} bounds [{}, {}] keep it at {}",
            resource.format(ceil_ignoring_noise(capped) as i64),
            resource.name(),
            resource.format(min),
            resource.format(max),
            resource.format(basis)
        ));
    }
    if !meaningful {
        return Err(format!(
            "change {} -> {} is within the {} tolerance",
            resource.format(basis),
            resource.format(bounded),
            percent(policy.tolerance * 100.0)
        ));
    }
    Ok((bounded, notes))
}

fn history_is_full(policy: &ResizePolicy, stats: &ContainerStats) -> Result<(), String> {
    let expected = policy.windows.expected_samples() as f64;
    let needed = (expected * policy.min_history_fraction).floor();
    match stats.samples {
        Some(samples) if samples >= needed => Ok(()),
        samples => Err(format!(
            "history of {} of {} points over {} is too short for a scale-down",
            samples.unwrap_or(0.0),
            expected,
            minutes(policy.windows.stabilization_window)
        )),
    }
}

/// A scale-up needs a full short window: the minimum of a container's first point or two (start-up
/// burn) is not usage that *stayed* high.
fn short_history_is_full(policy: &ResizePolicy, stats: &ContainerStats) -> Result<(), String> {
    let needed = policy.windows.expected_short_samples() as f64;
    match stats.short_samples {
        Some(samples) if samples >= needed => Ok(()),
        samples => Err(format!(
            "history shorter than the short window: {} of {} points over {}, no scale-up yet",
            samples.unwrap_or(0.0),
            needed,
            minutes(policy.windows.short_window)
        )),
    }
}

/// A new basis, its direction and why; or why the resource stays as it is.
type Decision = Result<(i64, Direction, String), String>;

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
    let short = minutes(policy.windows.short_window);
    let long = minutes(policy.windows.stabilization_window);
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
            percent(target)
        );
        return Ok((new, Direction::Up, with_notes(why, notes)));
    }
    let Some(peak) = peak else {
        return Err(match sustained {
            Some(usage) => format!(
                "{} of {}: no peak over {long}",
                percent(utilization(usage)),
                format_cpu_millis(basis)
            ),
            None => "no usage data".to_string(),
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
            percent(target)
        );
        return Ok((new, Direction::Down, with_notes(why, notes)));
    }
    Err(format!(
        "utilization {} (peak {}) is between the {} and {} marks",
        sustained.map_or("unknown".to_string(), |u| percent(utilization(u))),
        percent(utilization(peak)),
        percent(policy.cpu_low_percent),
        percent(policy.cpu_high_percent)
    ))
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
    let short = minutes(policy.windows.short_window);
    let long = minutes(policy.windows.stabilization_window);
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
            percent(target)
        );
        return Ok((new, Direction::Up, with_notes(why, notes)));
    }
    let Some(peak) = stats.peak else {
        return Err("no working-set peak".to_string());
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
            return Err(format!(
                "the bounds would go below the peak {}",
                format_memory_bytes(ceil_ignoring_noise(peak) as i64)
            ));
        }
        let why = format!(
            "peak working set {} over {long} is {} of {}, sized to peak + {}",
            format_memory_bytes(ceil_ignoring_noise(peak) as i64),
            percent(utilization(peak)),
            format_memory_bytes(basis),
            percent(policy.memory_margin_percent)
        );
        return Ok((new, Direction::Down, with_notes(why, notes)));
    }
    Err(format!(
        "peak working set {} of {} leaves no room to shrink (needs peak + {}) and is below the {} mark",
        percent(utilization(peak)),
        format_memory_bytes(basis),
        percent(policy.memory_margin_percent),
        percent(policy.memory_high_percent)
    ))
}
