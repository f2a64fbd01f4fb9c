//! Per-pod overrides of the policy from `kube-thermostat.io/*` annotations (bounds, cpu target, cpu and
//! memory on or off, the throttling mark, the OOM raise, the long view on or off, how the CPU request is sized),
//! checked as they are read. Pure.

use super::policy::CpuRequest;
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
pub(super) fn read_overrides(pod: &Pod) -> Result<Overrides, String> {
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
            "cpu-target" => {
                let target = value
                    .trim_end_matches('%')
                    .parse::<f64>()
                    .ok()
                    .filter(|t| *t > 0.0 && *t <= 100.0)
                    .ok_or_else(|| bad("must be a percentage in (0, 100]"))?;
                overrides.cpu_target = Some(target);
            }
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
    Ok(overrides)
}
