//! Exact Kubernetes resource.Quantity arithmetic (to be written).
