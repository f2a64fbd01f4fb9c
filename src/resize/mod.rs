//! resize-pods: right-size hot and idle containers in place through the `pods/{name}/resize`
//! subresource. Everything here is pure; the shell, `controller::resize`, gathers the inputs and applies the
//! plan.
//!
//! The decision, by concern (each imports only what is listed before it, and the Pod model):
//! - [`policy`]: the knobs and [`ResizeSettings`] (which pods are ours); [`signals`]: the two PromQL queries and their answers per container
//! - [`long_view`]: the long-view and throttling queries, and the percentile the replay computes itself
//! - [`values`]: a container's cpu and memory as request and limit, read, scaled and rounded
//! - [`plan`]: what a decision produces ([`ResizePlan`]) and how it prints
//! - [`record`]: our `kube-thermostat.io/last-resize` annotation (cooldown, back-off)
//! - [`owners`]: owner heuristic, HPA / VPA steering
//! - [`eligibility`]: opted-in pods ([`is_opted_in`]), pods not considered, the resizable containers
//! - `overrides`: per-pod `kube-thermostat.io/*` annotations over the policy
//! - `sizing`: one resource's new size from its usage, or why it stays
//! - `in_flight`: resizes the kubelet has not finished: wait, back off, withdraw
//! - [`fit`]: what pods reserve on their node, and upsizes cut to what is left
//! - `admission`: the namespace's LimitRanges and ResourceQuotas, and changes held to what they admit
//! - [`decide`]: the orchestration ([`decide_resizes`]): per pod the steps above, then the per-tick cap
//! - [`patch`]: request bodies for the resize and the annotation

mod admission;
pub(crate) mod decide;
mod draft;
pub(crate) mod eligibility;
pub(crate) mod fit;
mod in_flight;
pub mod long_view;
pub(crate) mod overrides;
pub(crate) mod owners;
pub(crate) mod patch;
pub(crate) mod plan;
pub(crate) mod policy;
pub(crate) mod record;
pub mod signals;
mod sizing;
pub(crate) mod values;

pub use decide::{ResizeInput, cpu_scale_downs, decide_resizes};
pub use eligibility::is_opted_in;
pub use plan::ResizePlan;
pub use policy::{CpuRequest, ResizePolicy, ResizeSettings};

#[cfg(test)]
mod scenarios;
