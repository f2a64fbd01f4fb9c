//! Prometheus HTTP API client: instant and range queries, answer decoding (a large range answer while it
//! arrives), the storage [`Retention`], PromQL escaping, and [`PrometheusError`], whose [`QueryFailure`] says how a
//! query failed.
//!
//! Built on the shared [`crate::http`] layer; imports nothing above it but [`crate::deadline`] and
//! [`crate::error_chain`]. Instants at its API are [`Timestamp`](k8s_openapi::jiff::Timestamp)s, spans
//! `Duration`s; inside the answer decoders times stay Prometheus' own f64 unix seconds, the wire format the
//! callers' series arithmetic is written in (`RangeSeries::points`, the fold's `(f64, f64)` points).
//!
//! ```no_run
//! # use kube_thermostat::{deadline::Deadline, prometheus::*};
//! # use k8s_openapi::jiff::Timestamp;
//! # use std::time::Duration;
//! # fn main() -> anyhow::Result<()> {
//! let client = PrometheusClient::new(PrometheusConfig::new("http://prometheus:9090"))?;
//! let expr = format!(r#"up{{node="{}"}}"#, escape_label_value("node-1"));
//! let at = Timestamp::from_second(1_700_000_000).map_err(|e| anyhow::anyhow!("{e}"))?;
//! let answer = client.query(&expr, at, &Deadline::after(Duration::from_secs(10)))?;
//! for warning in &answer.warnings {
//!     eprintln!("Prometheus warns: {warning}");
//! }
//! let samples = answer.result.into_vector().map_err(anyhow::Error::msg)?;
//! # Ok(()) }
//! ```

mod answer;
mod client;
mod config;
mod duration;
mod error;
mod escape;
mod retention;
mod sample;
mod stats;
mod streamed;

pub use answer::{QueryAnswer, QueryResult, RangeSeries, VectorResult};
pub use client::{PrometheusClient, PrometheusStats, RangeSpan};
pub use config::PrometheusConfig;
pub use duration::{parse_prometheus_duration, promql_duration};
pub use error::{Cause, PrometheusError, QueryFailure};
pub use escape::escape_label_value;
pub use retention::Retention;
pub use sample::Sample;
pub use stats::{STAT_LABEL, tag_stat};
pub use streamed::StreamedAnswer;
