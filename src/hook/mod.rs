//! The shell-operator contract: `--config` output, binding context input, metrics output.
