//! Kubernetes objects for scenarios, built from what a test cares about: a [`NodeBuilder`] for a ready worker
//! node (cordoned, tainted, tainted by us on an earlier tick...), a [`PodBuilder`] for a running pod opted in to
//! resizing. Each gives the JSON the API stand-in stores (`build()`); everything else a test needs is merged in
//! with `merge`. Imports serde_json and the rig's Prometheus names (a node's address is where its node-exporter
//! series say it is).

use serde_json::{Value, json};

use crate::cluster::merge;
use crate::prometheus::{NodeHistory, Profile};

/// The label that opts a pod in to resize-pods.
pub const RESIZE_LABEL: &str = "kube-thermostat.io/resize";

/// The key of the taint taint-nodes puts on a hot node with the default settings.
pub const TAINT_KEY: &str = "kube-thermostat.io/hot";

/// The node annotation in which taint-nodes records the taint it made (key, value, effect, since, reason).
pub const TAINT_ANNOTATION: &str = "kube-thermostat.io/taint";

/// Our taint as the API server stores it with the default settings.
pub fn our_taint() -> Value {
    json!({"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"})
}

/// A ready worker node with an InternalIP (the one its node-exporter history is pushed under) and 4 CPUs,
/// 16Gi and 110 pods allocatable.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    node: Value,
}

impl NodeBuilder {
    pub fn new(name: &str) -> NodeBuilder {
        let history = NodeHistory::new(name, Profile::Constant(0.0));
        let address = history.instance.trim_end_matches(":9100").to_owned();
        NodeBuilder {
            node: json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": {},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": address},
                                  {"type": "Hostname", "address": name}],
                    "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                    "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"}
                }
            }),
        }
    }

    pub fn name(&self) -> &str {
        self.node["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub fn label(mut self, key: &str, value: &str) -> NodeBuilder {
        self.node["metadata"]["labels"][key] = json!(value);
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> NodeBuilder {
        self.node["metadata"]["annotations"][key] = json!(value);
        self
    }

    /// `spec.taints` as given (a JSON array), replacing any taint added before.
    pub fn taints(mut self, taints: Value) -> NodeBuilder {
        self.node["spec"]["taints"] = taints;
        self
    }

    /// One more entry of `spec.taints`, after the others.
    pub fn taint(mut self, taint: Value) -> NodeBuilder {
        push(&mut self.node["spec"]["taints"], taint);
        self
    }

    /// `spec.unschedulable`, as `kubectl cordon` sets it.
    pub fn unschedulable(mut self) -> NodeBuilder {
        self.node["spec"]["unschedulable"] = json!(true);
        self
    }

    /// As an earlier tick left a hot node: our taint added to its taints and recorded by our annotation.
    pub fn tainted_by_us(self) -> NodeBuilder {
        self.taint(our_taint())
            .taint_recorded("hot: cpu 95% > 80%, above for 3m")
    }

    /// Our annotation recording our taint (the default settings') for `reason`; the taints are left as they are.
    pub fn taint_recorded(self, reason: &str) -> NodeBuilder {
        let record = json!({
            "key": TAINT_KEY, "value": "true", "effect": "NoSchedule",
            "since": "2025-01-01T00:00:00Z", "reason": reason,
        });
        self.annotation(TAINT_ANNOTATION, &record.to_string())
    }

    /// Anything else, merged in (objects key by key, everything else replaced).
    pub fn merge(mut self, extra: Value) -> NodeBuilder {
        merge(&mut self.node, extra);
        self
    }

    pub fn build(self) -> Value {
        self.node
    }
}

/// A container entry: its name, an image named after it, and `resources` as the spec would hold them.
pub fn container(name: &str, resources: Value) -> Value {
    json!({"name": name, "image": format!("{name}:1"), "resources": resources})
}

/// A running pod bound to a node, opted in by its label, each container ready and running.
#[derive(Debug, Clone)]
pub struct PodBuilder {
    pod: Value,
}

impl PodBuilder {
    pub fn new(namespace: &str, name: &str) -> PodBuilder {
        PodBuilder {
            pod: json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": {RESIZE_LABEL: "true"}},
                "spec": {"containers": []},
                "status": {"phase": "Running", "containerStatuses": []}
            }),
        }
    }

    pub fn on(mut self, node: &str) -> PodBuilder {
        self.pod["spec"]["nodeName"] = json!(node);
        self
    }

    /// A container named `name` with `resources` (see [`container`]).
    pub fn container(self, name: &str, resources: Value) -> PodBuilder {
        self.with_container(container(name, resources))
    }

    /// A container given whole (a sidecar's `restartPolicy`, a `resizePolicy`...), with its running status.
    pub fn with_container(mut self, container: Value) -> PodBuilder {
        let status = json!({"name": container["name"], "ready": true, "restartCount": 0,
                            "image": container["image"], "imageID": "sha256:1",
                            "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}});
        push(&mut self.pod["spec"]["containers"], container);
        push(&mut self.pod["status"]["containerStatuses"], status);
        self
    }

    /// An entry of `spec.initContainers`, given whole.
    pub fn init_container(mut self, container: Value) -> PodBuilder {
        push(&mut self.pod["spec"]["initContainers"], container);
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> PodBuilder {
        self.pod["metadata"]["labels"][key] = json!(value);
        self
    }

    /// Without any label: not opted in by itself (another workload's pod, or one opted in by its namespace).
    pub fn no_labels(mut self) -> PodBuilder {
        self.pod["metadata"]["labels"] = json!({});
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> PodBuilder {
        self.pod["metadata"]["annotations"][key] = json!(value);
        self
    }

    /// Anything else, merged in (objects key by key, everything else replaced).
    pub fn merge(mut self, extra: Value) -> PodBuilder {
        merge(&mut self.pod, extra);
        self
    }

    pub fn build(self) -> Value {
        self.pod
    }
}

impl From<PodBuilder> for Value {
    fn from(pod: PodBuilder) -> Value {
        pod.build()
    }
}

fn push(list: &mut Value, item: Value) {
    match list.as_array_mut() {
        Some(items) => items.push(item),
        None => *list = json!([item]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_a_ready_worker_at_the_address_of_its_history() {
        let node = NodeBuilder::new("node-1")
            .label("kubernetes.io/os", "linux")
            .taints(json!([{"key": "k", "effect": "NoSchedule"}]))
            .build();
        assert_eq!(
            node["metadata"]["labels"]["kubernetes.io/hostname"],
            "node-1"
        );
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/os"], "linux");
        assert_eq!(node["spec"]["taints"][0]["key"], "k");
        let instance = NodeHistory::new("node-1", Profile::Constant(0.0)).instance;
        assert_eq!(
            format!(
                "{}:9100",
                node["status"]["addresses"][0]["address"].as_str().unwrap()
            ),
            instance
        );
        assert_eq!(node["status"]["allocatable"]["cpu"], "4");
    }

    #[test]
    fn a_node_tainted_by_us_keeps_its_other_taints_and_records_ours() {
        let foreign = json!({"key": "dedicated", "value": "db", "effect": "NoSchedule"});
        let builder = NodeBuilder::new("hot-1")
            .taint(foreign.clone())
            .tainted_by_us()
            .unschedulable();
        assert_eq!(builder.name(), "hot-1");
        let node = builder.build();
        assert_eq!(node["spec"]["taints"], json!([foreign, our_taint()]));
        assert_eq!(node["spec"]["unschedulable"], true);
        let record: Value = serde_json::from_str(
            node["metadata"]["annotations"][TAINT_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (&record["key"], &record["effect"], &record["reason"]),
            (
                &json!(TAINT_KEY),
                &json!("NoSchedule"),
                &json!("hot: cpu 95% > 80%, above for 3m")
            )
        );
    }

    #[test]
    fn a_pod_has_a_running_status_per_container_and_none_for_init_containers() {
        let pod = PodBuilder::new("shop", "web-1")
            .on("node-1")
            .container("app", json!({"limits": {"cpu": "1"}}))
            .container("proxy", json!({}))
            .init_container(container("migrate", json!({})))
            .annotation("a", "b")
            .build();
        assert_eq!(pod["metadata"]["labels"][RESIZE_LABEL], "true");
        assert_eq!(pod["spec"]["nodeName"], "node-1");
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "1"
        );
        assert_eq!(pod["spec"]["containers"][1]["image"], "proxy:1");
        assert_eq!(
            pod["status"]["containerStatuses"].as_array().unwrap().len(),
            2
        );
        assert_eq!(pod["status"]["containerStatuses"][1]["name"], "proxy");
        assert_eq!(pod["spec"]["initContainers"][0]["name"], "migrate");
        assert_eq!(pod["metadata"]["annotations"]["a"], "b");
        assert_eq!(
            PodBuilder::new("a", "b").no_labels().build()["metadata"]["labels"],
            json!({})
        );
    }
}
