//! Slim Kubernetes object models: the fields the controllers read, under the API's JSON names, decoded from
//! snapshots, LIST and GET/PATCH answers alike.
//!
//! The hook contract (`hook::binding_context`) and both controllers import these downward; the models import
//! nothing of the crate (only serde, compact_str and k8s-openapi).
//!
//! - [`pod`]: the Pod as resize-pods reads it (also what snapshots of pods decode into)
//! - [`node`]: the Node as resize-pods' fit check reads it

pub mod node;
pub mod pod;
