//! Kubernetes REST client: kubectl-compatible configuration, requests built without I/O, one synchronous
//! client with timeouts, paging and bounded retries, and typed errors.

pub mod config;
pub mod error;
pub mod request;
