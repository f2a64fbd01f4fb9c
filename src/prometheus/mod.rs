//! Prometheus HTTP API client (to be written).

mod sample;

pub use sample::Sample;
