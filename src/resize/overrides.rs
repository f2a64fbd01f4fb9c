//! Per-pod overrides of the policy from `kube-thermostat.io/*` annotations (bounds, cpu marks and target, cpu and
//! memory on or off, the throttling mark, the OOM raise, the long view on or off, how the CPU request is sized),
//! checked as they are read. Pure.

use super::policy::{CpuRequest, ResizePolicy};
use super::values::Resource;
use crate::model::pod::Pod;

pub const ANNOTATION_PREFIX: &str = "kube-thermostat.io/";

/// The per-pod throttling mark: the shell also reads it, to ask for throttling when only some pods want it.
pub const CPU_THROTTLE_ANNOTATION: &str = "kube-thermostat.io/cpu-throttle";

/// The per-pod way of sizing a Burstable CPU request: the shell also reads it, to ask for the request's
/// percentile when only some pods size their request from usage.
pub const CPU_REQUEST_ANNOTATION: &str = "kube-thermostat.io/cpu-request";

/// Per-pod overrides from `kube-thermostat.io/*` annotations.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Overrides {
    pub(super) cpu_min: Option<i64>,
    pub(super) cpu_max: Option<i64>,
    pub(super) memory_min: Option<i64>,
    pub(super) memory_max: Option<i64>,
    pub(super) cpu_target: Option<f64>,
    /// `cpu-high`: the mark sustained usage must pass to scale up.
    pub(super) cpu_high: Option<f64>,
    /// `cpu-low`: the mark the peak must stay under to scale down.
    pub(super) cpu_low: Option<f64>,
    pub(super) cpu: Option<bool>,
    pub(super) memory: Option<bool>,
    /// `cpu-throttle`: the throttling mark, 0 off.
    pub(super) cpu_throttle: Option<f64>,
    /// `oom-bump`: the raise after an OOM kill, 1 off.
    pub(super) oom_bump: Option<f64>,
    /// `long-view`: `off` sizes this pod's scale-downs from the stabilization window alone.
    pub(super) long_view: Option<bool>,
    /// `cpu-request`: `ratio` or `usage`.
    pub(super) cpu_request: Option<CpuRequest>,
}

/// The pod's overrides, or why they cannot be read (the pod is then skipped).
pub(super) fn read_overrides(pod: &Pod, policy: &ResizePolicy) -> Result<Overrides, String> {
    let mut overrides = Overrides::default();
    let Some(annotations) = pod.metadata.annotations.as_ref() else {
        return Ok(overrides);
    };
    for (key, value) in annotations.iter() {
        let Some(name) = key.strip_prefix(ANNOTATION_PREFIX) else {
            continue;
        };
        let bad = |allowed: &str| format!("annotation {key} = {value:?}: {allowed}");
        let quantity = |resource: Resource| {
            resource
                .parse(value)
                .map_err(|err| bad(&format!("must be a {} quantity ({err})", resource.name())))
        };
        let utilization_percent = || {
            value
                .trim_end_matches('%')
                .parse::<f64>()
                .ok()
                .filter(|t| *t > 0.0 && *t <= 100.0)
                .ok_or_else(|| bad("must be a percentage in (0, 100]"))
        };
        let switch = || match value {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(bad("must be \"on\" or \"off\"")),
        };
        match name {
            "cpu-min" => overrides.cpu_min = Some(quantity(Resource::Cpu)?),
            "cpu-max" => overrides.cpu_max = Some(quantity(Resource::Cpu)?),
            "memory-min" => overrides.memory_min = Some(quantity(Resource::Memory)?),
            "memory-max" => overrides.memory_max = Some(quantity(Resource::Memory)?),
            "cpu-target" => overrides.cpu_target = Some(utilization_percent()?),
            "cpu-high" => overrides.cpu_high = Some(utilization_percent()?),
            "cpu-low" => overrides.cpu_low = Some(utilization_percent()?),
            "cpu-throttle" => {
                let mark = value
                    .trim_end_matches('%')
                    .parse::<f64>()
                    .ok()
                    .filter(|t| (0.0..=100.0).contains(t))
                    .ok_or_else(|| bad("must be a percentage in [0, 100] (0: off)"))?;
                overrides.cpu_throttle = Some(mark);
            }
            "oom-bump" => {
                let bump = value
                    .parse::<f64>()
                    .ok()
                    .filter(|b| (1.0..=10.0).contains(b))
                    .ok_or_else(|| bad("must be a factor from 1 (off) to 10"))?;
                overrides.oom_bump = Some(bump);
            }
            "long-view" => overrides.long_view = Some(switch()?),
            "cpu-request" => {
                overrides.cpu_request = Some(
                    CpuRequest::parse(value)
                        .ok_or_else(|| bad("must be \"ratio\" or \"usage\""))?,
                );
            }
            "cpu" => overrides.cpu = Some(switch()?),
            "memory" => overrides.memory = Some(switch()?),
            _ => {}
        }
    }
    for (resource, min, max) in [
        (Resource::Cpu, overrides.cpu_min, overrides.cpu_max),
        (Resource::Memory, overrides.memory_min, overrides.memory_max),
    ] {
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(format!(
                "annotations {ANNOTATION_PREFIX}{0}-min = {1} and {ANNOTATION_PREFIX}{0}-max = {2}: min is above max",
                resource.name(),
                resource.format(min),
                resource.format(max)
            ));
        }
    }
    // A pod whose cpu is not resized keeps its memory resizing whatever its cpu marks say.
    if overrides.cpu != Some(false) {
        check_cpu_marks(&overrides, policy)?;
    }
    Ok(overrides)
}

/// A pod's CPU marks and target, each from its annotation or else the settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CpuMarks {
    pub(super) low: f64,
    pub(super) target: f64,
    pub(super) high: f64,
}

impl Overrides {
    pub(super) fn cpu_marks(&self, policy: &ResizePolicy) -> CpuMarks {
        CpuMarks {
            low: self.cpu_low.unwrap_or(policy.cpu_low_percent),
            target: self.cpu_target.unwrap_or(policy.cpu_target_percent),
            high: self.cpu_high.unwrap_or(policy.cpu_high_percent),
        }
    }
}

/// The settings hold low < target < high (settings/resize.rs); a pod's annotations must too, mixed with the
/// settings they leave alone: a target at or above the high mark would shrink a hot container, one at or below
/// the low mark would grow an idle one.
fn check_cpu_marks(overrides: &Overrides, policy: &ResizePolicy) -> Result<(), String> {
    if overrides.cpu_low.is_none() && overrides.cpu_target.is_none() && overrides.cpu_high.is_none()
    {
        return Ok(());
    }
    let marks = overrides.cpu_marks(policy);
    if marks.low < marks.target && marks.target < marks.high {
        return Ok(());
    }
    let source = |name: &str, annotated: Option<f64>, setting: &str| match annotated {
        Some(_) => format!("{ANNOTATION_PREFIX}{name}"),
        None => setting.to_string(),
    };
    Err(format!(
        "cpu marks {} ({}) < {} ({}) < {} ({}) do not hold: the target must lie strictly between the low and high marks",
        source("cpu-low", overrides.cpu_low, "RESIZE_CPU_LOW"),
        marks.low,
        source("cpu-target", overrides.cpu_target, "RESIZE_CPU_TARGET"),
        marks.target,
        source("cpu-high", overrides.cpu_high, "RESIZE_CPU_HIGH"),
        marks.high,
    ))
}
