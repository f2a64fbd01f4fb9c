//! Process exit codes: one place, so the README, shell-operator and tests agree.

/// What the process tells shell-operator (non-zero makes it drop the metrics file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// The tick (or `--config`) finished; per-object failures, if any, were not fatal.
    Done = 0,
    /// The tick failed: Prometheus unusable, the API unreachable, a malformed binding context, or some
    /// object's write failed. Nothing half-applied misleads the next tick.
    TickFailed = 1,
    /// Bad usage or settings: fix the Deployment, retrying will not help.
    Usage = 2,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
