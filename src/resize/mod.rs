//! resize-pods: right-size hot and idle containers in place through the `pods/{name}/resize`
//! subresource. Everything here is pure; the I/O layer gathers the inputs and applies the plan.
//!
//! - [`signals`]: the two PromQL queries and their answers per container
//! - [`decide`]: which pods, which containers, which new sizes ([`decide_resizes`])
//! - [`fit`]: what pods reserve on their node
//! - [`owners`]: owner heuristic, HPA / VPA steering
//! - [`record`]: our `kube-thermostat.io/last-resize` annotation (cooldown, back-off)
//! - [`pod`]: the slim Pod model the controller reads
//! - [`patch`]: request bodies for the resize, the annotation and the Event

pub mod apply;
pub mod decide;
pub mod fit;
pub mod owners;
pub mod patch;
pub mod pod;
pub mod policy;
pub mod record;
pub mod signals;

pub use decide::{ResizeInput, ResizePlan, decide_resizes, is_opted_in};
pub use policy::{ResizePolicy, ResizeSettings};

#[cfg(test)]
mod scenarios;
