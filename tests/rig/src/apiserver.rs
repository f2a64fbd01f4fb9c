//! Kubernetes API stand-in (to be written).
