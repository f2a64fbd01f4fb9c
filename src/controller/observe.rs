//! What both controllers do the same way while observing: logging the warnings Prometheus sends with an
//! answer, and giving up before any write when a signal query returns no series at all.
//!
//! Imports logging only.

use anyhow::{Result, bail};
use serde_json::json;

use crate::log;

/// Logs each warning of a Prometheus answer, naming the signal.
pub(crate) fn log_prometheus_warnings(signal: &str, warnings: &[String]) {
    for warning in warnings {
        log::warn(
            "Prometheus warning",
            &[("signal", json!(signal)), ("warning", json!(warning))],
        );
    }
}

/// An error when a query returned no series at all although it was asked about objects that exist: the data is
/// missing (not scraped, relabelled, wrong tenant), and deciding on it would be deciding blind. `what` names the
/// query ("the cpu signal"), `check` says what to check.
pub(crate) fn require_series(series: usize, what: &str, check: &str, query: &str) -> Result<()> {
    if series == 0 {
        bail!("{what} query returned no series at all (no writes made): {check}; query: {query}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_series_is_an_error_naming_the_query_and_what_to_check() {
        assert!(require_series(1, "the cpu signal", "check it", "up").is_ok());
        let error = require_series(0, "the cpu signal", "check it", "up").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the cpu signal query returned no series at all (no writes made): check it; query: up"
        );
    }
}
