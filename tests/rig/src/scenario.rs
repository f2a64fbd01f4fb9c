//! The "given" of a scenario in one expression: the nodes the API stand-in holds and the history the real
//! Prometheus has, built up front and started as one [`Cluster`] (which then runs the hook: `tick`, `run_cli`).
//!
//! ```no_run
//! # use thermostat_rig::{builders::NodeBuilder, prometheus::node_load::{COOL, HOT}, scenario::Scenario};
//! let cluster = Scenario::new("target/debug/kube-thermostat")
//!     .node_with_load(NodeBuilder::new("cooled").tainted_by_us(), COOL)
//!     .nodes(["hot-1"], HOT)
//!     .nodes(["cool-1", "cool-2"], COOL)
//!     .start();
//! let output = cluster.tick("taint-nodes", &[]);
//! ```
//!
//! History is computed when the scenario starts, so its timeline ends "now" for the run that follows. Imports
//! the rig's cluster, builders, API stand-in options and Prometheus history.

use std::path::PathBuf;
use std::time::Duration;

use crate::apiserver::Options;
use crate::builders::NodeBuilder;
use crate::cluster::Cluster;
use crate::prometheus::{NodeHistory, Profile, Series, Timeline};

/// Series to push, made once the scenario's timeline is known.
type History = Box<dyn FnOnce(&Timeline) -> Vec<Series>>;

/// A scenario's world before it starts: API stand-in options, nodes, and the history to push.
pub struct Scenario {
    binary: PathBuf,
    options: Options,
    history_length: Duration,
    nodes: Vec<NodeBuilder>,
    histories: Vec<History>,
}

impl Scenario {
    /// An empty cluster running `binary` (the `kube-thermostat` under test) with the default API stand-in and
    /// 40 minutes of history.
    pub fn new(binary: impl Into<PathBuf>) -> Scenario {
        Scenario {
            binary: binary.into(),
            options: Options::default(),
            history_length: Timeline::last_40_minutes().length,
            nodes: Vec::new(),
            histories: Vec::new(),
        }
    }

    /// API stand-in options (RBAC, server version, TLS...).
    pub fn api(mut self, options: Options) -> Scenario {
        self.options = options;
        self
    }

    /// How far back the pushed history goes (it ends when the scenario starts).
    pub fn history(mut self, length: Duration) -> Scenario {
        self.history_length = length;
        self
    }

    /// A node without any series (a node whose exporter is silent, or where history does not matter).
    pub fn node(mut self, node: NodeBuilder) -> Scenario {
        self.nodes.push(node);
        self
    }

    /// A node and its node-exporter history: every CPU `cpu_busy` (a fraction), at the node's address.
    pub fn node_with_load(self, node: NodeBuilder, cpu_busy: Profile) -> Scenario {
        let history = NodeHistory::new(node.name(), cpu_busy);
        self.node(node).node_history(history)
    }

    /// Plain worker nodes, all with the same load.
    pub fn nodes<S: AsRef<str>>(
        self,
        names: impl IntoIterator<Item = S>,
        cpu_busy: Profile,
    ) -> Scenario {
        names.into_iter().fold(self, |scenario, name| {
            scenario.node_with_load(NodeBuilder::new(name.as_ref()), cpu_busy.clone())
        })
    }

    /// node-exporter history as given (one CPU, another `instance`, memory use...), whatever node it names.
    pub fn node_history(self, history: NodeHistory) -> Scenario {
        self.series(move |timeline| history.series(timeline))
    }

    /// Any other series, made from the scenario's timeline.
    pub fn series(mut self, series: impl FnOnce(&Timeline) -> Vec<Series> + 'static) -> Scenario {
        self.histories.push(Box::new(series));
        self
    }

    /// Starts Prometheus and the API stand-in, stores the nodes and pushes the history (in one remote write).
    pub fn start(self) -> Cluster {
        let mut cluster = Cluster::with_api(self.binary, self.options);
        cluster.timeline = Timeline::ending_now(self.history_length);
        for node in self.nodes {
            cluster.api.put(node.build());
        }
        let series: Vec<Series> = self
            .histories
            .into_iter()
            .flat_map(|history| history(&cluster.timeline))
            .collect();
        if !series.is_empty() {
            cluster.push(series);
        }
        cluster
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::node_load::{COOL, HOT};

    #[test]
    fn a_scenario_stores_its_nodes_and_pushes_their_history_once_started() {
        let cluster = Scenario::new("kube-thermostat")
            .history(Duration::from_secs(10 * 60))
            .node(NodeBuilder::new("silent"))
            .node_with_load(NodeBuilder::new("hot-1").unschedulable(), HOT)
            .nodes(["cool-1", "cool-2"], COOL)
            .start();
        assert_eq!(cluster.timeline.length, Duration::from_secs(10 * 60));
        assert_eq!(cluster.node("hot-1")["spec"]["unschedulable"], true);
        for name in ["silent", "cool-1", "cool-2"] {
            assert_eq!(cluster.node(name)["metadata"]["name"], name);
        }
        let nodes_with_history = cluster
            .prometheus
            .query_single_value(
                "count(count by (node) (node_cpu_seconds_total))",
                cluster.timeline.end_ms,
            )
            .unwrap();
        assert_eq!(nodes_with_history, 3.0, "all but the silent node");
    }
}
