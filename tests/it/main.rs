//! The integration tests, one binary (as ripgrep's `tests/tests.rs`): cargo builds and links the rig and the
//! library once instead of once per file. One module per area; run one with a filter, e.g.
//! `cargo test --test it resize_pods::`. The soak is `#[ignore]`d: `make soak`
//! (`cargo test --test it soak:: -- --ignored --nocapture`).
//!
//! Imports: the library's public API, the rig (`thermostat_rig`) and [`support`]; the modules do not import
//! each other.
#![allow(clippy::unwrap_used)] // a panic is the failure report

mod support;

mod beyond_utilization;
mod concurrency;
mod container_signals;
mod crash_consistency;
mod faults_api;
mod faults_prometheus;
mod hook_config;
mod hook_metrics;
mod hook_mode;
mod kube_client;
mod layering;
mod manifests;
mod prometheus_client;
mod properties;
mod readme;
mod real_apiserver;
mod replay;
mod replay_html;
mod resize_pods;
mod security;
mod soak;
mod synthetic_cluster;
mod taint_nodes;
