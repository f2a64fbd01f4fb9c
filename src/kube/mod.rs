//! Kubernetes REST client: kubectl-compatible configuration, requests built without I/O, one synchronous
//! client with timeouts, paging and bounded retries, and typed errors.
//!
//! Built on the shared [`crate::http`] layer (agent, TLS from PEM, retry loop, token files); imports nothing
//! above it but [`crate::deadline`] and [`crate::error_chain`]. Inside: `request` (no I/O) ← `error` ← `client`.
//!
//! ```text
//! config::resolve(&ConfigOptions, &ConfigSources::from_process()) -> ClusterEndpoint
//! Client::new(endpoint, ClientOptions::default()) -> Client
//! client.get / list_all / patch / create / version (each with the tick's Deadline)
//! ```

pub(crate) mod client;
pub mod config;
pub(crate) mod credentials;
pub(crate) mod error;
pub(crate) mod go_json;
pub(crate) mod json_pointer;
pub(crate) mod rate_limit;
pub(crate) mod request;

pub use client::{Client, ClientOptions, RequestStats, ServerVersion};
pub use config::{Auth, ClusterEndpoint, ConfigError, ConfigOptions, ConfigSources, resolve};
pub use error::{KubeError, Status};
pub use rate_limit::RateLimit;
pub use request::{ApiResource, ListParams, Patch, Request, RequestError, Verb};
