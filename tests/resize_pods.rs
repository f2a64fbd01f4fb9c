//! resize-pods end to end: the real binary, a real Prometheus with pushed history, the API stand-in applying
//! the resize subresource's rules.

mod support;

use serde_json::{Value, json};
use support::{Cluster, ContainerLoad, PodHistory, Profile};

/// A running, opted-in pod on `node` with one container `app` of the given requests/limits.
fn add_pod(cluster: &Cluster, namespace: &str, name: &str, node: &str, resources: Value) -> Value {
    cluster.api.put(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"kube-thermostat.io/resize": "true"}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1", "resources": resources}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
            "image": "app:1", "imageID": "sha256:1", "resources": resources}]}
    }))
}

#[test]
fn hot_container_is_scaled_up_through_the_resize_subresource_once() {
    let cluster = support::cluster();
    cluster.add_node("node-1", json!({}));
    add_pod(
        &cluster,
        "shop",
        "web-1",
        "node-1",
        json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}),
    );
    cluster.push(
        PodHistory::new(
            "shop",
            "web-1",
            "node-1",
            vec![ContainerLoad::new(
                "app",
                Profile::Constant(0.48),
                Profile::Constant(100e6),
            )],
        )
        .series(&cluster.timeline),
    );

    let first = cluster.tick("resize-pods", &[]);
    first.assert_success();
    let pod = cluster.api.get("Pod", Some("shop"), "web-1").unwrap();
    let resources = &pod["spec"]["containers"][0]["resources"];
    assert_eq!(
        resources["limits"]["cpu"], "800m",
        "usage 480m / target 60% = 800m\n{}",
        first.stderr
    );
    assert_eq!(
        resources["requests"]["cpu"], "800m",
        "Guaranteed stays Guaranteed"
    );
    assert_eq!(cluster.api.count("patch", "pods/resize"), 1);
    assert!(pod["metadata"]["annotations"]["kube-thermostat.io/last-resize"].is_string());

    cluster.api.reset_requests();
    let second = cluster.tick("resize-pods", &[]);
    second.assert_success();
    assert_eq!(
        cluster.api.count("patch", "pods/resize"),
        0,
        "a resize in progress is not resized again:\n{}",
        second.stdout
    );
}
