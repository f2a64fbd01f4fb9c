//! The shell-operator contract: `--config` output, binding context input, metrics output.

pub mod binding_context;
pub mod config;
pub mod counters;
pub mod crontab;
pub mod metrics;
