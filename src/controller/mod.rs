//! The controllers: each one's tick is observe → decide (pure) → act (the `Reconcile` trait), started by
//! `Controller::run`.
//!
//! - [`kind`]: [`Controller`], the one name of each controller (command line, binding, metrics).
//! - `reconcile`: the `Reconcile` trait, the one shape of every controller.
//! - `context`: the `Tick` context (clients, the tick's one `now`, deadline, Event bookkeeping).
//! - `outcome`: `RunOptions` in, `Outcome` out.
//! - `observe` and `act`: the steps both controllers share (Prometheus warnings, "no series: give up"; the
//!   write with re-read and decide again, Event posting).
//! - `taint` and `resize`: the two shells. Their pure cores are [`crate::taint`] and [`crate::resize`], which
//!   import nothing of this module: keeping the shells here leaves those directories pure and every import
//!   pointing down (this module → cores, clients, settings).
//!
//! Imported by `tick.rs` (and [`kind`] by `cli.rs`); imports the clients, the cores, `hook/` (metrics,
//! snapshots), `settings.rs` and logging, never `tick.rs` or `cli.rs`. Within it,
//! files import the file that defines an item, never this one, so the re-exports here make no cycle.

pub(crate) mod act;
pub(crate) mod context;
pub mod kind;
pub(crate) mod observe;
pub(crate) mod outcome;
pub(crate) mod reconcile;
pub(crate) mod replay;
pub(crate) mod resize;
pub(crate) mod taint;

use anyhow::Result;

pub(crate) use context::Tick;
pub use kind::Controller;
pub(crate) use outcome::{Outcome, RunOptions};

use self::reconcile::Reconcile;
use crate::hook::binding_context::Snapshots;
use crate::hook::metrics::Metrics;
use crate::settings::Settings;

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
