//! The Node as resize-pods' fit check reads it: its name and `status.allocatable`, nothing else.
//!
//! Pure data: imports only k8s-openapi and serde, nothing of the controllers above it.

use k8s_openapi::api::core::v1::{Node, NodeStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A Node as the fit check reads it: its name and allocatable resources. Snapshot nodes also carry what
/// taint-nodes reads, LIST items images, conditions and more (~10 KB a node): 5,000 of them held through the
/// decision cost more than its plan.
pub fn fit_only(node: Node) -> Node {
    fit_node(node.metadata.name, node.status.map(|s| s.allocatable))
}

/// A Node of only a name and, with a status, its allocatable resources.
fn fit_node(name: Option<String>, allocatable: Option<Option<BTreeMap<String, Quantity>>>) -> Node {
    Node {
        metadata: ObjectMeta {
            name,
            ..ObjectMeta::default()
        },
        status: allocatable.map(|allocatable| NodeStatus {
            allocatable,
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

/// A LIST item decoded into what [`fit_only`] keeps, and nothing else.
#[derive(Deserialize)]
pub struct ListedNode {
    #[serde(default)]
    metadata: ListedNodeMeta,
    #[serde(default)]
    status: Option<ListedNodeStatus>,
}

#[derive(Default, Deserialize)]
struct ListedNodeMeta {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct ListedNodeStatus {
    #[serde(default)]
    allocatable: Option<BTreeMap<String, Quantity>>,
}

impl From<ListedNode> for Node {
    fn from(listed: ListedNode) -> Node {
        fit_node(listed.metadata.name, listed.status.map(|s| s.allocatable))
    }
}
