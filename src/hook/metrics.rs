//! Metrics for shell-operator's `METRICS_PATH`: one JSON object per line, served on its `/metrics/hooks`.
//!
//! Per-tick gauges carry a `group` (one per controller): shell-operator expires the group's previous series
//! before applying the new ones, so a deleted node's gauge disappears and every gauge shows the last tick.
//! Counters of changes carry no group so they accumulate across ticks (their label sets are small and fixed).
//! A run that exits non-zero has its metrics file ignored by shell-operator: failures are visible through
//! shell-operator's own `shell_operator_hook_run_allowed_errors_total`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Prefix of every metric we export.
pub const PREFIX: &str = "kube_thermostat_";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricOp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub name: String,
    pub action: &'static str,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
}

/// Collects metric operations during a tick; written once at the end.
#[derive(Debug, Default)]
pub struct Metrics {
    ops: Vec<MetricOp>,
}

impl Metrics {
    /// A per-tick gauge in `group` (replaced as a whole every tick).
    pub fn gauge(&mut self, group: &str, name: &str, value: f64, labels: &[(&str, &str)]) {
        self.push(Some(group), name, "set", value, labels);
    }

    /// A counter that accumulates across ticks.
    pub fn counter(&mut self, name: &str, value: f64, labels: &[(&str, &str)]) {
        self.push(None, name, "add", value, labels);
    }

    fn push(
        &mut self,
        group: Option<&str>,
        name: &str,
        action: &'static str,
        value: f64,
        labels: &[(&str, &str)],
    ) {
        self.ops.push(MetricOp {
            group: group.map(str::to_owned),
            name: format!("{PREFIX}{name}"),
            action,
            value,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        });
    }

    pub fn ops(&self) -> &[MetricOp] {
        &self.ops
    }

    /// JSON Lines, as shell-operator reads them.
    pub fn to_json_lines(&self) -> String {
        let mut text = String::new();
        for op in &self.ops {
            // A struct of strings, numbers and string maps always serializes; NaN would become null, so
            // callers only pass finite values.
            text.push_str(&serde_json::to_string(op).unwrap_or_default());
            text.push('\n');
        }
        text
    }

    /// Appends to the metrics file (shell-operator creates it; other hooks' lines are not ours to clobber).
    pub fn write_to(&self, path: &Path) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening METRICS_PATH {}", path.display()))?;
        file.write_all(self.to_json_lines().as_bytes())
            .with_context(|| format!("writing METRICS_PATH {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_grouped_and_counters_are_not() {
        let mut metrics = Metrics::default();
        metrics.gauge(
            "kube_thermostat_taint_nodes",
            "nodes",
            3.0,
            &[("state", "hot")],
        );
        metrics.counter("taint_changes_total", 1.0, &[("action", "add")]);
        assert_eq!(
            metrics.to_json_lines(),
            concat!(
                r#"{"group":"kube_thermostat_taint_nodes","name":"kube_thermostat_nodes","action":"set","value":3.0,"labels":{"state":"hot"}}"#,
                "\n",
                r#"{"name":"kube_thermostat_taint_changes_total","action":"add","value":1.0,"labels":{"action":"add"}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn writing_appends_to_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.json");
        std::fs::write(
            &path,
            "{\"name\":\"other\",\"action\":\"set\",\"value\":1}\n",
        )
        .unwrap();
        let mut metrics = Metrics::default();
        metrics.counter("x_total", 1.0, &[]);
        metrics.write_to(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("{\"name\":\"other\""));
    }
}
