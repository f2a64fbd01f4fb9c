//! The HTTP layer under both API clients ([`crate::kube`] and [`crate::prometheus`]): one ureq agent built from
//! explicit options (timeouts, TLS from PEM), a retry loop bounded by the tick's [`Deadline`](crate::deadline)
//! whose failure classes each client decides, the `Retry-After` header, and bearer token files read at request
//! time (they rotate).
//!
//! Imports nothing of the crate but [`crate::deadline`]: the clients build on it, never the other way.

mod agent;
mod retry;
mod token;

pub use agent::{
    AgentOptions, ClientPem, MalformedPem, Pem, ProxyChoice, TlsError, TlsPem, build_agent,
};
pub use retry::{Backoff, GiveUp, RetryAfter, RetryPolicy, Step, retry_after_header, with_retries};
pub use token::{TokenFileError, read_token_file};

/// The `User-Agent` of every request we send.
pub const USER_AGENT: &str = concat!("kube-thermostat/", env!("CARGO_PKG_VERSION"));
