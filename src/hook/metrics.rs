//! Metrics for shell-operator's `METRICS_PATH`: one JSON object per line, served on its `/metrics/hooks`.
//!
//! What shell-operator v1.20.3 does with the file (its source, and the storage it uses,
//! `github.com/deckhouse/deckhouse/pkg/metrics-storage` v0.3.0 as pinned in its `go.mod`):
//! - Every operation gets a group: one without `group` is given the hook's name, its path under the hooks dir
//!   (`pkg/hook/operation.go` `MetricOperationsFromReader(r, defaultGroup)`, called from `pkg/hook/hook_io.go`
//!   with `hook.Name`, set in `pkg/hook/hook_manager.go` `loadHook` as `filepath.Rel(workingDir, hookPath)`).
//!   taint-nodes and resize-pods are two schedule bindings of one hook, so that default group would be shared.
//! - For each group a run writes, every series stored under that group, in every metric, is deleted first; then
//!   the run's operations of that group are applied in order (`metric_storage.go` `ApplyBatchOperations` →
//!   `applyGroupedOperations` → `GroupedVault.ExpireGroupMetrics`). Groups the run does not write are untouched.
//! - `add` makes a counter (`# TYPE … counter`, `collectors/counter_collector.go`); on a freshly emptied group it
//!   starts from 0, so it holds only this run's value. Its value is stored as `uint64(value)`: fractions are cut
//!   and a negative value is meaningless. `set` makes a gauge. `expire` (with a group, no name) deletes the
//!   group's series. A name is one type for good: a gauge op on a counter's name is logged and dropped.
//! - shell-operator adds the label `hook` (the hook's name) to every series, overriding one of ours
//!   (`pkg/shell-operator/operator.go` `handleRunHook`, `labels.MergeLabels(op.Labels, common)`).
//! - A series is identified by (group, label values): the same name with the same labels in two groups gives two
//!   identical series, and the registry's `Gather` then fails, so `/metrics/hooks` answers 500 for everything
//!   (client_golang v1.23.2 `registry.go` "was collected before with the same name and label values",
//!   `promhttp` default `HTTPErrorOnError`).
//! - A run that exits non-zero has its metrics file ignored (`pkg/hook/hook.go` `Run` returns before
//!   `ParseResult`); so does a run whose patch operations fail, or whose metrics file has an invalid operation
//!   (`handleRunHook` returns before `ApplyBatchOperations`, or it refuses the whole batch).
//!
//! So: every operation here names its controller's group (`kube_thermostat_taint_nodes`,
//! `kube_thermostat_resize_pods`) and carries a `controller` label, whatever the call site passes, so no series of
//! one controller is touched by the other's runs and no two series can collide. Gauges describe the last tick.
//! Counters cannot keep growing through the file alone, since their group is emptied every run: each
//! controller's totals live in an annotation on the hook's own Pod (see [`super::counters`]), and every run
//! exports the whole totals with `add` into the freshly emptied group, which yields exactly the total.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::counters::CounterTotals;

/// Prefix of every metric we export.
pub const PREFIX: &str = "kube_thermostat_";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricOp {
    pub group: String,
    pub name: String,
    pub action: &'static str,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
}

/// Collects metric operations during a tick; written once at the end. Every call is attributed to the
/// controller running now ([`Metrics::now_running`]): its group and its `controller` label. Controllers are
/// named by their binding name (`taint-nodes`).
#[derive(Debug)]
pub struct Metrics {
    ops: Vec<MetricOp>,
    running: String,
    increments: BTreeMap<String, CounterTotals>,
}

/// The metrics group of a controller's series, from its binding name.
pub fn group(controller: &str) -> String {
    format!("{PREFIX}{}", controller.replace('-', "_"))
}

impl Metrics {
    pub fn new(running: &str) -> Metrics {
        Metrics {
            ops: Vec::new(),
            running: running.to_owned(),
            increments: BTreeMap::new(),
        }
    }

    /// What follows is about `controller` (its binding name).
    pub fn now_running(&mut self, controller: &str) {
        controller.clone_into(&mut self.running);
    }

    /// A gauge describing this tick (its group is replaced as a whole every tick).
    pub fn gauge(&mut self, name: &str, value: f64, labels: &[(&str, &str)]) {
        self.push("set", name, value, labels);
    }

    /// Counts `value` more of a counter (a whole number of things; 0 declares the series, so that its first
    /// increase is seen by `increase()`). Saved and exported by [`Metrics::export_counters`].
    pub fn counter(&mut self, name: &str, value: f64, labels: &[(&str, &str)]) {
        // shell-operator keeps counters as uint64: only whole, non-negative counts mean anything.
        let count = if value.is_finite() && value >= 0.0 {
            value.round() as u64
        } else {
            0
        };
        self.increments
            .entry(self.running.clone())
            .or_default()
            .add(name, labels, count);
    }

    /// What the controller counted this tick, not yet saved.
    pub fn increments(&self, controller: &str) -> CounterTotals {
        self.increments.get(controller).cloned().unwrap_or_default()
    }

    /// The controller's counter totals, as `add` into its group: after shell-operator empties the group, each
    /// series holds exactly its total.
    pub fn export_counters(&mut self, totals: &CounterTotals) {
        for series in totals.series() {
            let labels: Vec<(&str, &str)> = series
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            self.push("add", &series.name, series.total as f64, &labels);
        }
    }

    fn push(&mut self, action: &'static str, name: &str, value: f64, labels: &[(&str, &str)]) {
        let mut labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.insert("controller".into(), self.running.clone());
        self.ops.push(MetricOp {
            group: group(&self.running),
            name: format!("{PREFIX}{name}"),
            action,
            value,
            labels,
        });
    }

    #[cfg(test)]
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
    fn every_op_names_its_controllers_group_and_label() {
        let mut metrics = Metrics::new("taint-nodes");
        metrics.gauge("nodes", 3.0, &[("state", "hot")]);
        metrics.now_running("resize-pods");
        metrics.gauge("containers", 2.0, &[("controller", "spoofed")]);
        assert_eq!(
            metrics.to_json_lines(),
            concat!(
                r#"{"group":"kube_thermostat_taint_nodes","name":"kube_thermostat_nodes","action":"set","value":3.0,"labels":{"controller":"taint-nodes","state":"hot"}}"#,
                "\n",
                r#"{"group":"kube_thermostat_resize_pods","name":"kube_thermostat_containers","action":"set","value":2.0,"labels":{"controller":"resize-pods"}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn counters_are_kept_per_controller_and_exported_as_totals() {
        let mut metrics = Metrics::new("taint-nodes");
        metrics.counter("taint_changes_total", 1.0, &[("action", "taint")]);
        metrics.counter("taint_changes_total", 2.0, &[("action", "taint")]);
        metrics.counter("taint_changes_total", 0.0, &[("action", "untaint")]);
        metrics.counter("taint_changes_total", -1.0, &[("action", "untaint")]);
        metrics.now_running("resize-pods");
        metrics.counter("events_rejected_total", 1.0, &[]);
        assert!(metrics.ops().is_empty(), "nothing exported before saving");
        let taint = metrics.increments("taint-nodes");
        assert_eq!(taint.get("taint_changes_total", &[("action", "taint")]), 3);
        assert_eq!(
            taint.get("taint_changes_total", &[("action", "untaint")]),
            0
        );
        let mut saved = CounterTotals::default();
        saved.add("taint_changes_total", &[("action", "taint")], 7);
        metrics.now_running("taint-nodes");
        metrics.export_counters(&saved.plus(&taint));
        let exported: Vec<_> = metrics
            .ops()
            .iter()
            .map(|op| {
                (
                    op.group.as_str(),
                    op.action,
                    op.labels["action"].as_str(),
                    op.value,
                )
            })
            .collect();
        assert_eq!(
            exported,
            [
                ("kube_thermostat_taint_nodes", "add", "taint", 10.0),
                ("kube_thermostat_taint_nodes", "add", "untaint", 0.0),
            ]
        );
        assert!(
            metrics
                .ops()
                .iter()
                .all(|op| op.labels["controller"] == "taint-nodes")
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
        let mut metrics = Metrics::new("taint-nodes");
        metrics.gauge("x", 1.0, &[]);
        metrics.write_to(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("{\"name\":\"other\""));
    }
}
