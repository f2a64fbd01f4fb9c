//! Kubernetes REST client (to be written).
