//! Test rig shared by the integration tests, the demo and the benchmarks.
//!
//! - [`prometheus`]: starts a real Prometheus on 127.0.0.1 and feeds it deterministic history by remote write.
//! - [`apiserver`]: a Kubernetes API stand-in that behaves like kube-apiserver where kube-thermostat depends on it.
//! - [`builders`]: nodes and pods for scenarios, built from what a test cares about.
//! - [`cluster`]: one scenario's world (Prometheus, the API stand-in) and the binary run as shell-operator runs it.
//! - [`scenario`]: a [`cluster::Cluster`] given in one expression: its nodes and their load history.
//! - [`metric_storage`]: shell-operator's hook metric storage, to see what a sequence of ticks exposes.
//! - [`measure`]: what a benchmarked process cost, and Prometheus' own accounting of its queries.
//! - [`report`]: benchmark tables spliced into Markdown between markers.
//! - [`rightsizing`]: workload shapes and the right-sizing policies kube-thermostat is compared with (VPA's
//!   recommender, the seed hook's rule, none), replayed without Prometheus (issue 18).
//! - [`realcluster`]: the real etcd and kube-apiserver that `make peers` builds, started for a test.
//! - [`synthetic`]: a deterministic cluster of any size with its load history and the truth to check outcomes.

pub mod apiserver;
pub mod builders;
pub mod cluster;
pub mod measure;
pub mod metric_storage;
pub mod prometheus;
pub mod realcluster;
pub mod report;
pub mod rightsizing;
pub mod scenario;
pub mod synthetic;
