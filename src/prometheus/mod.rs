//! Prometheus HTTP API client (to be written).
