//! Shared by the integration tests: the rig's [`Cluster`] (or a [`Scenario`] that starts one) running this
//! crate's `kube-thermostat` binary, and the rig's types the scenarios name. Imports the rig only.

pub use thermostat_rig::apiserver::{Fault, FaultKind, Options};
pub use thermostat_rig::cluster::{Cluster, HookOutput};
pub use thermostat_rig::prometheus::{
    ContainerLoad, FaultProxy, NodeHistory, PodHistory, Profile, Prometheus, Series, Timeline,
};
pub use thermostat_rig::scenario::Scenario;

/// A fresh world for one scenario, running the binary cargo built for these tests.
pub fn cluster() -> Cluster {
    Cluster::start(env!("CARGO_BIN_EXE_kube-thermostat"))
}

/// The same with API stand-in options (TLS, RBAC, server version...).
pub fn cluster_with(options: Options) -> Cluster {
    Cluster::with_api(env!("CARGO_BIN_EXE_kube-thermostat"), options)
}

/// A scenario to give (nodes, their load, API options) before it starts, running the same binary.
pub fn scenario() -> Scenario {
    Scenario::new(env!("CARGO_BIN_EXE_kube-thermostat"))
}
