//! The objects a replay decides for, read once: from the cluster (one LIST each, as `run` reads them) or from
//! a file (`kubectl get nodes,pods,namespaces,hpa,limitranges -A -o json`), so a replay can run away from the
//! cluster. ResourceQuotas are not replayed: their usage moves as the replay resizes, which the replay does not
//! track, so a quota's headroom read once would be wrong after the first ticks.

use std::path::Path;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Node};
use serde_json::Value;

use crate::controller::resize::observe::{self, Cluster, NamespaceLabels};
use crate::deadline::Deadline;
use crate::kube::{self, ApiResource, ListParams};
use crate::model::node::fit_only;
use crate::model::pod::Pod;
use crate::resize::ResizeSettings;

/// Nodes (whole, as taint-nodes reads them), pods, namespace labels, autoscalers and the server's minor
/// version (resize-pods' view).
pub(crate) struct Objects {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub namespace_labels: NamespaceLabels,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub vpas: Vec<Value>,
    pub limit_ranges: Vec<LimitRange>,
    pub server_minor: u32,
    /// Where they came from, for the report.
    pub source: String,
    /// What the source could not tell (no HPAs in a file...), for the report's notes.
    pub notes: Vec<String>,
}

impl Objects {
    /// resize-pods' cluster view: nodes reduced to what the fit check reads.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            nodes: self.nodes.iter().cloned().map(fit_only).collect(),
            server_minor: self.server_minor,
            hpas: self.hpas.clone(),
            vpas: self.vpas.clone(),
            limit_ranges: self.limit_ranges.clone(),
            resource_quotas: Vec::new(),
        }
    }
}

/// Reads what the controllers to replay need from the cluster.
pub(crate) fn from_cluster(
    kube: &kube::Client,
    settings: &ResizeSettings,
    with_pods: bool,
    deadline: Deadline,
) -> Result<Objects> {
    let nodes = kube
        .list_all::<Node>(&ApiResource::NODES, None, &ListParams::default(), deadline)
        .context("listing nodes")?;
    let mut objects = Objects {
        nodes,
        pods: Vec::new(),
        namespace_labels: NamespaceLabels::new(),
        hpas: Vec::new(),
        vpas: Vec::new(),
        limit_ranges: Vec::new(),
        server_minor: 0,
        source: format!("the cluster at {}", kube.server()),
        notes: Vec::new(),
    };
    if with_pods {
        objects.pods = observe::read_pods(kube, deadline, None)?;
        objects.namespace_labels = observe::read_namespace_labels(kube, deadline, settings, None)?;
        let cluster = observe::read_cluster(kube, deadline, Some(Vec::new()))?;
        objects.server_minor = cluster.server_minor;
        objects.hpas = cluster.hpas;
        objects.vpas = cluster.vpas;
        objects.limit_ranges = cluster.limit_ranges;
        if !cluster.resource_quotas.is_empty() {
            objects
                .notes
                .push(quotas_not_replayed(cluster.resource_quotas.len()));
        }
    }
    Ok(objects)
}

/// Reads a Kubernetes list (`kind: List`, or a typed `NodeList`/`PodList`...) of Nodes, Pods, Namespaces,
/// HorizontalPodAutoscalers and VerticalPodAutoscalers; other kinds are counted and skipped.
pub(crate) fn from_file(path: &Path, server_minor: u32) -> Result<Objects> {
    let what = || format!("objects file {}", path.display());
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", what()))?;
    let document: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON: write it with `kubectl get nodes,pods,namespaces,hpa,limitranges -A -o json`",
            what()
        )
    })?;
    drop(text);
    let mut objects = parse_list(&document, server_minor).with_context(what)?;
    objects.source = format!("the file {}", path.display());
    Ok(objects)
}

fn parse_list(document: &Value, server_minor: u32) -> Result<Objects> {
    let kind = document.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(items) = document.get("items").and_then(Value::as_array) else {
        bail!(
            "not a Kubernetes list (kind {kind:?}, no `items` array): write it with `kubectl get \
             nodes,pods,namespaces,hpa,limitranges -A -o json`"
        );
    };
    if !kind.ends_with("List") {
        bail!("not a Kubernetes list: kind is {kind:?}, expected List (or NodeList, PodList...)");
    }
    // A typed list (`NodeList`) leaves its items' kind out.
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
    let mut objects = Objects {
        nodes: Vec::new(),
        pods: Vec::new(),
        namespace_labels: NamespaceLabels::new(),
        hpas: Vec::new(),
        vpas: Vec::new(),
        limit_ranges: Vec::new(),
        server_minor,
        source: String::new(),
        notes: Vec::new(),
    };
    let mut namespaces = 0;
    let mut quotas = 0;
    let mut skipped = std::collections::BTreeMap::<String, usize>::new();
    for (index, item) in items.iter().enumerate() {
        let kind = item
            .get("kind")
            .and_then(Value::as_str)
            .or(item_kind)
            .unwrap_or("");
        let at = || {
            let name = item
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            format!("items[{index}] ({kind} {name})")
        };
        match kind {
            "Node" => objects
                .nodes
                .push(serde_json::from_value(item.clone()).with_context(at)?),
            "Pod" => {
                let pod: Pod = serde_json::from_value(item.clone()).with_context(at)?;
                // Finished pods hold no node resources: the LIST `run` makes leaves them out too.
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                if !matches!(phase, Some("Succeeded" | "Failed")) {
                    objects.pods.push(pod);
                }
            }
            "Namespace" => {
                let namespace: Namespace = serde_json::from_value(item.clone()).with_context(at)?;
                if let Some(name) = namespace.metadata.name {
                    namespaces += 1;
                    objects
                        .namespace_labels
                        .insert(name, namespace.metadata.labels.unwrap_or_default());
                }
            }
            "HorizontalPodAutoscaler" => objects
                .hpas
                .push(serde_json::from_value(item.clone()).with_context(at)?),
            "VerticalPodAutoscaler" => objects.vpas.push(item.clone()),
            "LimitRange" => objects
                .limit_ranges
                .push(serde_json::from_value(item.clone()).with_context(at)?),
            "ResourceQuota" => quotas += 1,
            "" => bail!("{}: an item without kind", at()),
            other => *skipped.entry(other.to_string()).or_default() += 1,
        }
    }
    if objects.nodes.is_empty() && objects.pods.is_empty() {
        bail!("it holds no Node and no Pod: nothing to replay");
    }
    if !objects.pods.is_empty() && namespaces == 0 {
        objects.notes.push(
            "the objects file holds no Namespaces: pods opted in by their namespace's label are not seen"
                .to_string(),
        );
    }
    if !objects.pods.is_empty() && objects.hpas.is_empty() {
        objects.notes.push(
            "the objects file holds no HorizontalPodAutoscalers: pods an HPA steers are resized in the replay \
             (add `hpa` to the kubectl get)"
                .to_string(),
        );
    }
    if quotas > 0 {
        objects.notes.push(quotas_not_replayed(quotas));
    }
    for (kind, count) in skipped {
        objects
            .notes
            .push(format!("{count} {kind} objects in the file are not read"));
    }
    Ok(objects)
}

fn quotas_not_replayed(count: usize) -> String {
    format!(
        "{count} ResourceQuotas are not replayed (their usage moves as the replay resizes): upsizes are not held to \
         their headroom"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_kubectl_list_gives_nodes_pods_and_namespace_labels() {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
             "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done", "namespace": "a"},
             "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Succeeded"}},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"x": "y"}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"}},
            {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits", "namespace": "a"},
             "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}},
            {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute", "namespace": "a"},
             "spec": {"hard": {"requests.cpu": "10"}}}
        ]});
        let objects = parse_list(&list, 33).unwrap();
        assert_eq!(objects.nodes.len(), 1);
        assert_eq!(objects.pods.len(), 1, "finished pods are left out");
        assert_eq!(objects.namespace_labels["a"]["x"], "y");
        assert!(
            objects
                .notes
                .iter()
                .any(|n| n.contains("HorizontalPodAutoscalers"))
        );
        assert!(objects.notes.iter().any(|n| n.contains("1 Service")));
        assert_eq!(
            objects.cluster().limit_ranges.len(),
            1,
            "LimitRanges are replayed"
        );
        assert!(
            objects
                .notes
                .iter()
                .any(|n| n.contains("1 ResourceQuotas are not replayed")),
            "{:?}",
            objects.notes
        );
    }

    #[test]
    fn a_typed_list_needs_no_kind_on_its_items() {
        let list = json!({"kind": "NodeList", "items": [{"metadata": {"name": "n1"}}]});
        assert_eq!(parse_list(&list, 33).unwrap().nodes.len(), 1);
    }

    #[test]
    fn what_is_not_a_list_is_named() {
        let error = |value: Value| format!("{:#}", parse_list(&value, 33).err().unwrap());
        assert!(error(json!({"kind": "Node", "metadata": {}})).contains("not a Kubernetes list"));
        assert!(error(json!({"kind": "Pod", "items": []})).contains("kind is \"Pod\""));
        assert!(error(json!({"kind": "List", "items": []})).contains("no Node and no Pod"));
        let bad =
            error(json!({"kind": "List", "items": [{"kind": "Node", "metadata": {"name": 3}}]}));
        assert!(bad.contains("items[0] (Node ?)"), "{bad}");
    }

    #[test]
    fn a_file_is_named_as_the_source_of_its_objects() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), r#"{"kind": "List", "items": [{"kind": "Node", "apiVersion": "v1", "metadata": {"name": "a"}}]}"#).unwrap();
        let objects = from_file(file.path(), 33).unwrap();
        assert_eq!(
            objects.source,
            format!("the file {}", file.path().display())
        );
    }
}
