//! The controllers: each one tick is observe → decide (pure) → act ([`Reconcile`]), run by [`run`].
//!
//! - [`kind`]: [`Controller`], the one name of each controller (command line, binding, metrics).
//! - [`context`]: the [`Tick`] context (clients, the tick's one `now`, deadline, Event bookkeeping).
//! - [`outcome`]: [`RunOptions`] in, [`Outcome`] out.
//! - [`observe`] and [`act`]: the steps both controllers share (Prometheus warnings, "no series: give up";
//!   the write with re-read and decide again, Event posting).
//! - [`taint`] and [`resize`]: the two shells. Their pure cores are [`crate::taint`] and [`crate::resize`],
//!   which import nothing of this module: keeping the shells here leaves those directories pure and every
//!   import pointing down (this module → cores, clients, settings).
//!
//! Imported by [`crate::tick`] (and [`kind`] by [`crate::cli`]); imports the clients, the cores, [`crate::hook`]
//! (metrics, snapshots), [`crate::settings`] and logging, never [`crate::tick`] or [`crate::cli`].

pub(crate) mod act;
pub(crate) mod context;
pub mod kind;
pub(crate) mod observe;
pub(crate) mod outcome;
pub(crate) mod resize;
pub(crate) mod taint;

use anyhow::Result;
use k8s_openapi::jiff::Timestamp;

pub(crate) use context::Tick;
pub use kind::Controller;
pub(crate) use outcome::{Outcome, RunOptions};

use crate::hook::binding_context::Snapshots;
use crate::hook::metrics::Metrics;
use crate::settings::Settings;

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

impl Controller {
    /// Whether the settings enable this controller (`TAINT_ENABLED`, `RESIZE_ENABLED`).
    pub(crate) fn enabled(self, settings: &Settings) -> bool {
        match self {
            Controller::TaintNodes => settings.taint_enabled,
            Controller::ResizePods => settings.resize_enabled,
        }
    }

    /// Whether the settings put this controller in shadow mode (`DRY_RUN` and its per-controller overrides).
    pub(crate) fn shadow(self, settings: &Settings) -> bool {
        match self {
            Controller::TaintNodes => settings.taint_dry_run,
            Controller::ResizePods => settings.resize_dry_run,
        }
    }

    /// One tick of this controller.
    pub(crate) fn run(
        self,
        tick: &Tick,
        settings: &Settings,
        snapshots: Snapshots,
        options: RunOptions,
        metrics: &mut Metrics,
    ) -> Result<Outcome> {
        match self {
            Controller::TaintNodes => {
                taint::TaintNodes::new(&settings.taint, options).reconcile(tick, snapshots, metrics)
            }
            Controller::ResizePods => resize::ResizePods::new(&settings.resize, options)
                .reconcile(tick, snapshots, metrics),
        }
    }
}
