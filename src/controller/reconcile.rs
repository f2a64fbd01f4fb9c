//! The one shape of every controller: observe → decide (pure) → act ([`Reconcile`]).
//!
//! Imports the tick context and outcome, and the hook's snapshots and metrics.

use anyhow::Result;
use k8s_openapi::jiff::Timestamp;

use super::context::Tick;
use super::outcome::Outcome;
use crate::hook::binding_context::Snapshots;
use crate::hook::metrics::Metrics;

/// One controller's tick, in three steps of the same shape for every controller.
pub(crate) trait Reconcile {
    /// What the decision is made from.
    type Observed;
    /// What the decision is.
    type Plan;

    /// Reads the objects (snapshots, or a LIST each) and the signals. An error means nothing was written.
    fn observe(
        &self,
        tick: &Tick,
        snapshots: Snapshots,
        metrics: &mut Metrics,
    ) -> Result<Observation<Self::Observed>>;

    /// The decision: pure, from what was observed and the tick's `now`.
    fn decide(&self, observed: &Self::Observed, now: Timestamp) -> Self::Plan;

    /// Applies the plan (or, dry, only reports it). `observed` is the controller's to update as it re-reads
    /// objects and decides again.
    fn act(
        &self,
        tick: &Tick,
        observed: Self::Observed,
        plan: Self::Plan,
        metrics: &mut Metrics,
    ) -> Result<Outcome>;

    /// observe → decide → act.
    fn reconcile(
        &self,
        tick: &Tick,
        snapshots: Snapshots,
        metrics: &mut Metrics,
    ) -> Result<Outcome> {
        match self.observe(tick, snapshots, metrics)? {
            Observation::Ready(observed) => {
                let plan = self.decide(&observed, tick.now);
                self.act(tick, observed, plan, metrics)
            }
            Observation::Settled(outcome) => Ok(outcome),
        }
    }
}

/// What observing came to.
pub(crate) enum Observation<O> {
    /// Everything the decision needs.
    Ready(O),
    /// Nothing to decide (e.g. no pod opted in): the outcome as it is reported.
    Settled(Outcome),
}
