//! resize-pods' settings → [`ResizeSettings`]: which pods, the utilization marks, windows, step sizes, bounds,
//! cooldowns and the blast radius.

use std::time::Duration;

use super::check::Checker;
use super::names::{Name, name};
use super::{Shared, Threshold};
use crate::cli::RawSettings;
use crate::resize::signals::SignalWindows;
use crate::resize::{CpuRequest, ResizePolicy, ResizeSettings};

pub(super) fn settings(check: &mut Checker, raw: &RawSettings, shared: &Shared) -> ResizeSettings {
    let mut policy = ResizePolicy::default();
    cpu_marks(check, raw, shared, &mut policy);
    memory_marks(check, raw, &mut policy);
    policy.windows = windows(check, raw, shared.query_step);
    long_view(check, raw, &mut policy);
    oom(check, raw, &mut policy);
    bounds(check, raw, &mut policy);
    steps(check, raw, &mut policy);
    timing(check, raw, &mut policy);
    policy.max_pods_per_tick = check.count(
        name!(resize_max_pods_per_tick),
        &raw.resize_max_pods_per_tick,
        1,
        100_000,
    ) as usize;
    policy.query_max_points = check.count(
        name!(resize_query_max_points),
        &raw.resize_query_max_points,
        0,
        1_000_000_000,
    ) as u64;
    ResizeSettings {
        policy,
        pod_selector: check.label_pair(name!(resize_pod_selector), &raw.resize_pod_selector),
        namespace_selector: check.label_pair(
            name!(resize_namespace_selector),
            &raw.resize_namespace_selector,
        ),
    }
}

fn cpu_marks(check: &mut Checker, raw: &RawSettings, shared: &Shared, policy: &mut ResizePolicy) {
    let high = match &raw.resize_cpu_high {
        Some(value) => Threshold {
            name: name!(resize_cpu_high),
            percent: check.percent(name!(resize_cpu_high), value),
        },
        // The seed hook's CPU_THRESHOLD (80) is the scale-up mark unless set apart.
        None => shared.cpu_threshold,
    };
    let target = check.percent(name!(resize_cpu_target), &raw.resize_cpu_target);
    let low = check.percent(name!(resize_cpu_low), &raw.resize_cpu_low);
    let marks = [high.name, name!(resize_cpu_target), name!(resize_cpu_low)];
    if check.accepted(&marks) && !(low < target && target < high.percent) {
        check.reject(
            name!(resize_cpu_target),
            &raw.resize_cpu_target,
            format!(
                "must lie strictly between {} ({low}) and the high mark ({}), or resizes would flap",
                name!(resize_cpu_low).env,
                high.percent
            ),
        );
    }
    policy.cpu_high_percent = high.percent;
    policy.cpu_target_percent = target;
    policy.cpu_low_percent = low;
}

fn memory_marks(check: &mut Checker, raw: &RawSettings, policy: &mut ResizePolicy) {
    policy.memory_enabled = check.bool(name!(resize_memory), &raw.resize_memory);
    let high = check.percent(name!(resize_memory_high), &raw.resize_memory_high);
    let target = check.percent(name!(resize_memory_target), &raw.resize_memory_target);
    if check.accepted(&[name!(resize_memory_high), name!(resize_memory_target)]) && target >= high {
        check.reject(
            name!(resize_memory_target),
            &raw.resize_memory_target,
            format!("must be below {} ({high})", name!(resize_memory_high).env),
        );
    }
    let margin = check.number(
        name!(resize_memory_margin),
        &raw.resize_memory_margin,
        0.0,
        200.0,
    );
    // A scale-down lands the peak at 1 / (1 + margin) of the new size: at or above the high mark, the next tick
    // scales it straight back up (measured in the right-sizing bench: a 10 % margin under the 90 % mark resized a
    // steady container 125 times a day). Refused while memory is resized; with memory off only pods annotated
    // `memory: on` would flap, so a warning does (a refusal would stop the taint controller too).
    let landing = 100.0 / (1.0 + margin / 100.0);
    if check.accepted(&[name!(resize_memory_high), name!(resize_memory_margin)]) && landing >= high
    {
        // The smallest margin on a 0.1 grid that lands strictly below the mark.
        let smallest = ((100.0 / high - 1.0) * 1000.0).floor() / 10.0 + 0.1;
        let why = format!(
            "with {} = {high}, a scale-down to the peak + {margin}% leaves the peak at {landing:.1}% of the new \
             size, at or above the mark, and the next tick would scale it back up: the margin must be at least \
             {smallest:.1} (or the mark higher)",
            name!(resize_memory_high).env,
        );
        if policy.memory_enabled {
            check.reject(name!(resize_memory_margin), &raw.resize_memory_margin, why);
        } else {
            check.warn(
                name!(resize_memory_margin),
                &raw.resize_memory_margin,
                &format!("{why}; memory resizing is off, so only pods annotated kube-thermostat.io/memory: on would flap"),
            );
        }
    }
    policy.memory_high_percent = high;
    policy.memory_target_percent = target;
    policy.memory_margin_percent = margin;
}

/// The windows hold at least one step; when `QUERY_STEP` itself was refused, at least a second.
fn windows(check: &mut Checker, raw: &RawSettings, step: Duration) -> SignalWindows {
    let min = if check.accepted(&[name!(query_step)]) {
        step
    } else {
        Duration::from_secs(1)
    };
    SignalWindows {
        step,
        short_window: check.duration(name!(resize_short_window), &raw.resize_short_window, min),
        stabilization_window: check.duration(
            name!(resize_stabilization_window),
            &raw.resize_stabilization_window,
            min,
        ),
        ..SignalWindows::default()
    }
}

/// The long view's window, grid and percentiles, and the throttling mark.
fn long_view(check: &mut Checker, raw: &RawSettings, policy: &mut ResizePolicy) {
    let windows = &mut policy.windows;
    windows.long_window = check.duration(
        name!(resize_long_window),
        &raw.resize_long_window,
        Duration::ZERO,
    );
    windows.long_step = check.duration(
        name!(resize_long_step),
        &raw.resize_long_step,
        Duration::from_secs(60),
    );
    let spans = [
        name!(resize_long_window),
        name!(resize_stabilization_window),
        name!(resize_long_step),
    ];
    if check.accepted(&spans)
        && !windows.long_window.is_zero()
        && (windows.long_window < windows.stabilization_window
            || windows.long_window < windows.long_step)
    {
        check.reject(
            name!(resize_long_window),
            &raw.resize_long_window,
            format!(
                "must be 0 (off) or at least {} and {}: a shorter long view would see less than they do",
                name!(resize_stabilization_window).env,
                name!(resize_long_step).env
            ),
        );
    }
    policy.long_min_history = check.duration(
        name!(resize_long_min_history),
        &raw.resize_long_min_history,
        Duration::ZERO,
    );
    // A long view shorter than the wait: the whole long view is wait enough.
    if !policy.windows.long_window.is_zero() {
        policy.long_min_history = policy.long_min_history.min(policy.windows.long_window);
    }
    policy.cpu_long_percentile = check.number(
        name!(resize_cpu_long_percentile),
        &raw.resize_cpu_long_percentile,
        50.0,
        100.0,
    );
    policy.memory_long_percentile = check.number(
        name!(resize_memory_long_percentile),
        &raw.resize_memory_long_percentile,
        50.0,
        100.0,
    );
    policy.cpu_throttle_percent = check.number(
        name!(resize_cpu_throttle),
        raw.resize_cpu_throttle.trim_end_matches('%'),
        0.0,
        100.0,
    );
    cpu_request(check, raw, policy);
}

/// How Burstable CPU requests are sized; from usage needs the long view, which holds the usage it is sized to.
fn cpu_request(check: &mut Checker, raw: &RawSettings, policy: &mut ResizePolicy) {
    match CpuRequest::parse(raw.resize_cpu_request.trim()) {
        Some(CpuRequest::Usage) if policy.windows.long_window.is_zero() => {
            if check.accepted(&[name!(resize_long_window)]) {
                check.reject(
                    name!(resize_cpu_request),
                    &raw.resize_cpu_request,
                    format!(
                        "\"usage\" needs the long view, which {} = 0 turns off",
                        name!(resize_long_window).env
                    ),
                );
            }
        }
        Some(mode) => policy.cpu_request = mode,
        None => check.reject(
            name!(resize_cpu_request),
            &raw.resize_cpu_request,
            "must be \"ratio\" (the request keeps its ratio to the limit) or \"usage\"",
        ),
    }
    policy.cpu_request_percentile = check.number(
        name!(resize_cpu_request_percentile),
        &raw.resize_cpu_request_percentile,
        50.0,
        100.0,
    );
    policy.cpu_request_margin_percent = check.number(
        name!(resize_cpu_request_margin),
        raw.resize_cpu_request_margin.trim_end_matches('%'),
        0.0,
        200.0,
    );
}

/// How far memory goes after an OOM kill, and how often.
fn oom(check: &mut Checker, raw: &RawSettings, policy: &mut ResizePolicy) {
    policy.oom_bump = check.number(name!(resize_oom_bump), &raw.resize_oom_bump, 1.0, 10.0);
    policy.oom_min_bump_bytes = check.memory(name!(resize_oom_min_bump), &raw.resize_oom_min_bump);
    policy.oom_max_bumps = check.count(
        name!(resize_oom_max_bumps),
        &raw.resize_oom_max_bumps,
        1,
        100,
    );
}

/// The global bounds of the sizes we set, each minimum at most its maximum.
fn bounds(check: &mut Checker, raw: &RawSettings, policy: &mut ResizePolicy) {
    let cpu = (name!(resize_cpu_min), name!(resize_cpu_max));
    policy.cpu_min_millis = check.cpu(cpu.0, &raw.resize_cpu_min);
    policy.cpu_max_millis = check.cpu(cpu.1, &raw.resize_cpu_max);
    reject_min_over_max(
        check,
        cpu,
        &raw.resize_cpu_min,
        policy.cpu_min_millis > policy.cpu_max_millis,
    );
    let memory = (name!(resize_memory_min), name!(resize_memory_max));
    policy.memory_min_bytes = check.memory(memory.0, &raw.resize_memory_min);
    policy.memory_max_bytes = check.memory(memory.1, &raw.resize_memory_max);
    reject_min_over_max(
        check,
        memory,
        &raw.resize_memory_min,
        policy.memory_min_bytes > policy.memory_max_bytes,
    );
}

fn reject_min_over_max(check: &mut Checker, (min, max): (Name, Name), value: &str, over: bool) {
    if over && check.accepted(&[min, max]) {
        check.reject(min, value, format!("must not exceed {}", max.env));
    }
}

/// How far one step goes, its rounding and the tolerance below which no step is made.
fn steps(check: &mut Checker, raw: &RawSettings, policy: &mut ResizePolicy) {
    policy.max_step_up = check.number(
        name!(resize_max_step_up),
        &raw.resize_max_step_up,
        1.01,
        100.0,
    );
    policy.max_step_down = check.number(
        name!(resize_max_step_down),
        &raw.resize_max_step_down,
        1.01,
        100.0,
    );
    policy.cpu_granularity_millis = check
        .cpu(name!(resize_cpu_granularity), &raw.resize_cpu_granularity)
        .max(1);
    policy.memory_granularity_bytes = check
        .memory(
            name!(resize_memory_granularity),
            &raw.resize_memory_granularity,
        )
        .max(1);
    policy.tolerance = check.number(name!(resize_tolerance), &raw.resize_tolerance, 0.0, 0.9);
}

/// Cooldowns, restarts, the Deferred timeout and the back-off.
fn timing(check: &mut Checker, raw: &RawSettings, policy: &mut ResizePolicy) {
    policy.cooldown_up = check.duration(
        name!(resize_cooldown_up),
        &raw.resize_cooldown_up,
        Duration::ZERO,
    );
    policy.cooldown_down = check.duration(
        name!(resize_cooldown_down),
        &raw.resize_cooldown_down,
        Duration::ZERO,
    );
    policy.allow_restart = check.bool(name!(resize_allow_restart), &raw.resize_allow_restart);
    policy.deferred_timeout = check.duration(
        name!(resize_deferred_timeout),
        &raw.resize_deferred_timeout,
        Duration::from_secs(1),
    );
    policy.infeasible_backoff =
        check.duration(name!(resize_backoff), &raw.resize_backoff, Duration::ZERO);
}
