//! Prometheus HTTP API client: instant queries, answer decoding, PromQL escaping.

mod answer;
mod client;
mod config;
mod duration;
mod escape;
mod sample;

pub use answer::{QueryAnswer, QueryResult, RangeSeries};
pub use client::{PrometheusClient, PrometheusStats};
pub use config::PrometheusConfig;
pub use duration::promql_duration;
pub use escape::escape_label_value;
pub use sample::Sample;
