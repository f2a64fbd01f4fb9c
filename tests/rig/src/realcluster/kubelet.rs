//! The kubelet's (and the node lifecycle controller's) part, played through the real API: no kubelet can run
//! here. What is written is what those components write: a Node with its status (capacity, allocatable,
//! addresses, Ready), pods bound to a node and set Running through the `status` subresource, and the status a
//! kubelet writes when it actuates a resize (allocated resources, container resources, resize conditions,
//! `observedGeneration`).

use anyhow::Context;
use serde_json::{Value, json};

use super::RealCluster;
use crate::cluster::merge;
use crate::prometheus::{NodeHistory, Profile};

/// The taint kube-apiserver's `TaintNodesByCondition` admission plugin puts on every new Node; the node lifecycle
/// controller removes it once the node reports Ready (kubernetes: plugin/pkg/admission/nodetaint/admission.go).
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// The resize features a 1.36+ kubelet declares in `status.declaredFeatures` at default feature gates.
pub const RESIZE_DECLARED_FEATURES: [&str; 2] = [
    "InPlacePodLevelResourcesVerticalScaling",
    "InPlacePodVerticalScalingInitContainers",
];

/// An RFC 3339 time for condition timestamps (the server only checks the format).
const A_TIME: &str = "2025-01-01T00:00:00Z";

impl RealCluster {
    /// Registers a ready worker node as a kubelet does (4 CPUs, 16 GiB, the InternalIP that the rig's
    /// node-exporter history uses for its `instance` label), then removes the not-ready taint as the node
    /// lifecycle controller would. `extra` is merged into the Node (labels, annotations, taints).
    pub fn add_node(&self, name: &str, extra: Value) -> anyhow::Result<Value> {
        let instance = NodeHistory::new(name, Profile::Constant(0.0)).instance;
        let address = instance.trim_end_matches(":9100").to_owned();
        let status = json!({
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                "lastHeartbeatTime": A_TIME, "lastTransitionTime": A_TIME,
            }],
            "nodeInfo": {
                "architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": self.apiserver_version,
                "bootID": "", "containerRuntimeVersion": "containerd://2.0.0", "kernelVersion": "6.1.0",
                "kubeProxyVersion": "", "machineID": "", "osImage": "Debian GNU/Linux 13", "systemUUID": "",
            },
        });
        let mut node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            }},
            "spec": {},
            "status": status,
        });
        if self.minor() >= 36 {
            // A kubelet declares the features its gates enable (KEP-5328, NodeDeclaredFeatures, beta and on in
            // 1.36); the NodeDeclaredFeatureValidator admission refuses a resize of pod-level resources or of a
            // non-sidecar init container on a node that does not declare them (kubernetes:
            // plugin/pkg/admission/nodedeclaredfeatures/admission.go; k8s.io/component-helpers
            // nodedeclaredfeatures/features/inplacepodresize/). Both gates are on by default from 1.36.
            node["status"]["declaredFeatures"] = json!(RESIZE_DECLARED_FEATURES);
        }
        merge(&mut node, extra);
        self.request("POST", "/api/v1/nodes", Some(&node))?
            .ok()
            .with_context(|| format!("creating node {name}"))?;
        let path = format!("/api/v1/nodes/{name}");
        self.update(&format!("{path}/status"), |stored| {
            stored["status"] = node["status"].clone();
        })
        .with_context(|| format!("writing node {name}'s status"))?;
        self.update(&path, |stored| {
            if let Some(taints) = stored["spec"]["taints"].as_array_mut() {
                taints.retain(|taint| taint["key"] != NOT_READY_TAINT);
            }
        })
        .with_context(|| format!("removing {NOT_READY_TAINT} from node {name}"))
    }

    /// Deletes every Node (between scenarios that share the cluster).
    pub fn delete_all_nodes(&self) -> anyhow::Result<()> {
        self.request("DELETE", "/api/v1/nodes", None)?
            .ok()
            .context("deleting every node")?;
        Ok(())
    }

    /// A namespace with the `default` ServiceAccount that the ServiceAccount admission plugin requires of every
    /// pod (the controller manager that would create it does not run here).
    pub fn add_namespace(&self, name: &str, labels: Value) -> anyhow::Result<()> {
        self.request(
            "POST",
            "/api/v1/namespaces",
            Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})),
        )?
        .ok()
        .with_context(|| format!("creating namespace {name}"))?;
        self.request(
            "POST",
            &format!("/api/v1/namespaces/{name}/serviceaccounts"),
            Some(&json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})),
        )?
        .ok()
        .with_context(|| format!("creating {name}/default ServiceAccount"))?;
        Ok(())
    }

    /// Creates `pod` (bound to `spec.nodeName`) and reports it Running as its kubelet would: every container
    /// started and ready, with the resources it runs with.
    pub fn run_pod(&self, namespace: &str, pod: Value) -> anyhow::Result<Value> {
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.request(
            "POST",
            &format!("/api/v1/namespaces/{namespace}/pods"),
            Some(&pod),
        )?
        .ok()
        .with_context(|| format!("creating pod {namespace}/{name}"))?;
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}/status");
        let minor = self.minor();
        self.update(&path, |stored| {
            let statuses = |list: &str, offset: usize| -> Vec<Value> {
                let containers = stored["spec"][list].as_array().cloned().unwrap_or_default();
                containers
                    .iter()
                    .enumerate()
                    .map(|(index, container)| {
                        let index = index + offset;
                        // A sidecar (restartable init container) runs beside the app; any other init container
                        // ran to completion before the app started.
                        let running = list == "containers" || container["restartPolicy"] == "Always";
                        let state = if running {
                            json!({"running": {"startedAt": A_TIME}})
                        } else {
                            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": A_TIME, "finishedAt": A_TIME}})
                        };
                        json!({
                            "name": container["name"],
                            "image": container["image"],
                            "imageID": format!("docker.io/library/app@sha256:{index:064}"),
                            "containerID": format!("containerd://{index:064}"),
                            "ready": running,
                            "started": running,
                            "restartCount": 0,
                            "state": state,
                            "allocatedResources": container["resources"]["requests"],
                            "resources": container["resources"],
                        })
                    })
                    .collect()
            };
            let init_statuses = statuses("initContainers", 100);
            let container_statuses = statuses("containers", 0);
            let generation = stored["metadata"]["generation"].clone();
            let status = &mut stored["status"];
            status["phase"] = json!("Running");
            status["hostIP"] = json!("10.0.0.1");
            status["podIP"] = json!("10.244.0.10");
            status["startTime"] = json!(A_TIME);
            status["conditions"] = json!([
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": A_TIME},
                {"type": "Initialized", "status": "True", "lastTransitionTime": A_TIME},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": A_TIME},
                {"type": "Ready", "status": "True", "lastTransitionTime": A_TIME},
            ]);
            status["containerStatuses"] = Value::Array(container_statuses);
            if !init_statuses.is_empty() {
                status["initContainerStatuses"] = Value::Array(init_statuses);
            }
            status["observedGeneration"] = generation;
            pod_level_status(stored, minor);
        })
        .with_context(|| format!("setting pod {namespace}/{name} Running"))
    }

    /// What a kubelet writes once it has applied an accepted resize: each container's allocated and actual
    /// resources become its spec's, the resize conditions go, and `observedGeneration` follows the pod's
    /// generation (kubernetes: pkg/kubelet/kubelet_pods.go, generateAPIPodStatus).
    pub fn actuate_resize(&self, namespace: &str, name: &str) -> anyhow::Result<Value> {
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}/status");
        self.update(&path, |stored| {
            for (list, statuses) in [
                ("containers", "containerStatuses"),
                ("initContainers", "initContainerStatuses"),
            ] {
                let containers = stored["spec"][list].as_array().cloned().unwrap_or_default();
                if let Some(statuses) = stored["status"][statuses].as_array_mut() {
                    for status in statuses.iter_mut() {
                        if let Some(container) =
                            containers.iter().find(|c| c["name"] == status["name"])
                        {
                            status["allocatedResources"] =
                                container["resources"]["requests"].clone();
                            status["resources"] = container["resources"].clone();
                        }
                    }
                }
            }
            if let Some(conditions) = stored["status"]["conditions"].as_array_mut() {
                conditions.retain(|c| {
                    c["type"] != "PodResizePending" && c["type"] != "PodResizeInProgress"
                });
            }
            stored["status"]["observedGeneration"] = stored["metadata"]["generation"].clone();
            pod_level_status(stored, self.minor());
        })
        .with_context(|| format!("actuating the resize of pod {namespace}/{name}"))
    }
}

/// A 1.36+ kubelet's pod-level status of a pod with pod-level resources: `allocatedResources` (its requests; no
/// overhead here) and `resources` as applied (kubernetes 1.36 pkg/kubelet/kubelet_pods.go, generateAPIPodStatus;
/// InPlacePodLevelResourcesVerticalScaling beta and on). The real kubelet reports `allocatedResources` for every
/// pod; only pods with pod-level resources are written here, the ones the hook reads it of.
fn pod_level_status(pod: &mut Value, minor: u32) {
    if minor < 36 {
        return;
    }
    if let Some(resources) = pod["spec"]
        .get("resources")
        .filter(|r| r.is_object())
        .cloned()
    {
        pod["status"]["allocatedResources"] = resources["requests"].clone();
        pod["status"]["resources"] = resources;
    }
}
