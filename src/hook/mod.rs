//! The shell-operator contract: `--config` output, binding context input, metrics output.

pub mod binding_context;
pub(crate) mod config;
pub(crate) mod counters;
pub(crate) mod crontab;
pub(crate) mod metrics;
