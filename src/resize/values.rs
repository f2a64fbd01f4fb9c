//! A container's cpu and memory as the rules read them: the [`Resource`]s, a request and limit as [`Values`]
//! (read from the spec or the kubelet's status, scaled keeping the QoS shape, rounded), and the server's
//! rules about changing them. Pure: imports only the Pod model, the policy and `quantity`.

use super::policy::ResizePolicy;
use crate::model::pod::{Container, ContainerStatus, ResourceList};
use crate::quantity::{
    QuantityError, cpu_millis, format_cpu_millis, format_memory_bytes, memory_bytes,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Resource {
    Cpu,
    Memory,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
        }
    }
    pub(super) fn parse(self, text: &str) -> Result<i64, QuantityError> {
        match self {
            Resource::Cpu => cpu_millis(text),
            Resource::Memory => memory_bytes(text),
        }
    }
    pub fn format(self, value: i64) -> String {
        match self {
            Resource::Cpu => format_cpu_millis(value),
            Resource::Memory => format_memory_bytes(value),
        }
    }
}

/// A container's request and limit of one resource (millicores or bytes); `None` is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Values {
    pub request: Option<i64>,
    pub limit: Option<i64>,
}

impl Values {
    /// The size the rules act on: the limit, or the request when there is no limit.
    pub fn basis(&self) -> Option<i64> {
        self.limit.or(self.request)
    }

    /// The same shape resized so that its basis is `basis`: Guaranteed stays request == limit,
    /// Burstable keeps its request:limit ratio and stays strictly below the limit, absent stays absent.
    pub fn scaled_to(&self, basis: i64, granularity: i64) -> Values {
        match (self.request, self.limit) {
            (Some(request), Some(limit)) if request < limit && limit > 0 => {
                let proportional = i128::from(basis) * i128::from(request) / i128::from(limit);
                let rounded =
                    round_up(i64::try_from(proportional).unwrap_or(i64::MAX), granularity);
                // Equal request and limit would turn a Burstable pod Guaranteed: a QoS change.
                let request = rounded.min(basis - 1).max(1.min(basis - 1)).max(0);
                Values {
                    request: Some(request),
                    limit: Some(basis),
                }
            }
            (Some(_), Some(_)) => Values {
                request: Some(basis),
                limit: Some(basis),
            },
            (None, Some(_)) => Values {
                request: None,
                limit: Some(basis),
            },
            (Some(_), None) => Values {
                request: Some(basis),
                limit: None,
            },
            (None, None) => *self,
        }
    }

    pub(crate) fn describe(&self, resource: Resource) -> String {
        let text = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| resource.format(v));
        match (self.request, self.limit) {
            (Some(r), Some(l)) if r == l => text(Some(r)),
            _ => format!("{}/{}", text(self.request), text(self.limit)),
        }
    }
}

pub(super) fn round_up(value: i64, granularity: i64) -> i64 {
    let g = granularity.max(1);
    value
        .div_euclid(g)
        .saturating_add(i64::from(value.rem_euclid(g) != 0))
        .saturating_mul(g)
}

pub(super) fn round_down(value: i64, granularity: i64) -> i64 {
    let g = granularity.max(1);
    value.div_euclid(g) * g
}

fn quantity_of(map: Option<&ResourceList>, resource: Resource) -> Result<Option<i64>, String> {
    match map.and_then(|m| m.get(resource.name())) {
        None => Ok(None),
        Some(q) => resource.parse(q).map(Some).map_err(|e| e.to_string()),
    }
}

pub(crate) fn spec_values(container: &Container, resource: Resource) -> Result<Values, String> {
    let resources = container.resources.as_ref();
    let request = quantity_of(resources.and_then(|r| r.requests.as_ref()), resource)?;
    let limit = quantity_of(resources.and_then(|r| r.limits.as_ref()), resource)?;
    // The API server defaults a missing request to the limit; a reduced object may lack it.
    Ok(Values {
        request: request.or(limit),
        limit,
    })
}

/// What the kubelet has applied: `status.containerStatuses[].resources`, else `allocatedResources`.
pub(super) fn allocated_values(status: &ContainerStatus, resource: Resource) -> Option<Values> {
    if let Some(resources) = status.resources.as_ref() {
        let request = quantity_of(resources.requests.as_ref(), resource).ok()?;
        let limit = quantity_of(resources.limits.as_ref(), resource).ok()?;
        return Some(Values { request, limit });
    }
    let request = quantity_of(status.allocated_resources.as_ref(), resource).ok()??;
    Some(Values {
        request: Some(request),
        limit: None,
    })
}

pub(super) fn restart_policy_of(container: &Container, resource: Resource) -> &str {
    container
        .resize_policy
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|p| p.resource_name == resource.name())
        .map_or("NotRequired", |p| p.restart_policy.as_str())
}

/// The step sizes round to: millicores of cpu, bytes of memory.
pub(super) fn granularity(policy: &ResizePolicy, resource: Resource) -> i64 {
    match resource {
        Resource::Cpu => policy.cpu_granularity_millis.max(1),
        Resource::Memory => policy.memory_granularity_bytes.max(1),
    }
}

/// Memory limits may shrink on 1.32 and from 1.34; 1.33 only with `RestartContainer`.
pub(super) fn memory_limit_decrease_forbidden(
    server_minor: u32,
    container: &Container,
    policy: &ResizePolicy,
) -> Option<String> {
    let restart = restart_policy_of(container, Resource::Memory) == "RestartContainer"
        && policy.allow_restart;
    (server_minor == 33 && !restart)
        .then(|| "Kubernetes 1.33 forbids lowering a memory limit unless its resizePolicy is RestartContainer".to_string())
}
