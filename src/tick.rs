//! A tick: gather (snapshots or LIST, one Prometheus query per signal) → decide (pure) → apply → report.

use crate::cli::Cli;
use crate::exit::ExitCode;
use crate::log;

/// Hook mode and `run`: the controllers are wired in by their own modules.
pub fn run(_cli: Cli) -> ExitCode {
    log::error("no controller is built into this version yet", &[]);
    ExitCode::TickFailed
}
