//! taint-nodes: taint hot nodes, untaint cooled ones, safely. This module is the pure core:
//!
//! - [`signals`]: one PromQL range query per signal ([`signal_queries`]) and exact matching of its answer to
//!   nodes ([`match_range`]).
//! - [`decide`]: [`decide_taints`] (nodes + readings + policy + now → [`TaintPlan`]) and [`plan_remove_all`].
//! - [`patch`]: the guarded JSON Patch for one node's write ([`node_patch`]).
//! - [`policy`]: [`TaintPolicy`] and its defaults.
//!
//! Time is `k8s_openapi::jiff::Timestamp`. Nothing here reads a clock, the environment, files or the network.

pub(crate) mod decide;
pub(crate) mod ownership;
pub(crate) mod patch;
pub(crate) mod policy;
pub(crate) mod signals;

pub use decide::{
    Action, Exclusion, NodeDecision, NodeEvent, NodeState, NodeWrite, PlanSummary, SignalVerdict,
    TaintPlan, decide_taints, plan_remove_all,
};
pub use ownership::TaintRecord;
pub use patch::node_patch;
pub use policy::{
    AdoptedTaint, CPU_THRESHOLD, CustomSignal, DEFAULT_TAINT_KEY, SignalKind, SignalPolicy,
    TAINT_ANNOTATION, TaintEffect, TaintPolicy, default_untaint_threshold,
};
#[cfg(test)]
pub(crate) use signals::match_samples;
pub use signals::{
    NodeReading, SeriesStats, SignalQuery, SignalReadings, UnmatchedSeries, aligned_end,
    match_range, match_series, signal_queries, signal_query, strip_port,
};

#[cfg(test)]
mod tests;
