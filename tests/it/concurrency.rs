//! Two instances at once: shell-operator's tick and a person's `kube-thermostat run` on the same cluster, while
//! other writers change the same objects. No lost update (their changes survive ours), no double change (our taint
//! once, each container resized at most once per cooldown).

use crate::support;

use crate::support::{Cluster, ContainerLoad, PodHistory, Profile};
use serde_json::{Value, json};

const OUR_KEY: &str = "kube-thermostat.io/hot";
const ENV: &[(&str, &str)] = &[("MAX_TAINTED_FRACTION", "0.5")];
const ROUNDS: usize = 5;

#[test]
fn hook_tick_and_manual_run_in_parallel_lose_no_foreign_change_and_taint_once() {
    let cluster = support::cluster();
    let hot = ["hot-1", "hot-2", "hot-3"];
    let cool = ["cool-1", "cool-2", "cool-3"];
    for node in hot.iter().chain(cool.iter()) {
        cluster.add_node(node, json!({}));
    }
    for node in hot {
        cluster.node_load(node, Profile::Constant(0.95));
    }
    for node in cool {
        cluster.node_load(node, Profile::Constant(0.2));
    }

    for round in 0..ROUNDS {
        // Every round starts from no taint of ours, so both instances have writes to race on.
        if round > 0 {
            cluster
                .run_cli(&["taint-nodes", "--remove-all"], ENV)
                .assert_success();
        }
        let (tick, run) = std::thread::scope(|scope| {
            let tick = scope.spawn(|| cluster.tick("taint-nodes", ENV));
            let run = scope.spawn(|| cluster.run_cli(&["taint-nodes"], ENV));
            // A third writer (another controller, a person) touches the same nodes meanwhile.
            let other = scope.spawn(|| {
                for node in hot.iter().chain(cool.iter()) {
                    other_writer(&cluster, node, round);
                }
            });
            other.join().unwrap();
            (tick.join().unwrap(), run.join().unwrap())
        });
        for (who, output) in [("tick", &tick), ("run", &run)] {
            assert!(matches!(output.code, 0 | 1), "{who}: {}", output.stderr);
        }
        let refused = cluster
            .api
            .requests()
            .iter()
            .filter(|r| matches!(r.status, 409 | 422))
            .count();
        eprintln!("taint race round {round}: {refused} writes refused by a precondition so far");
        // A loser may give up on a node after bounded re-reads; the next tick finishes the job.
        cluster.tick("taint-nodes", ENV).assert_success();
        for node in hot {
            assert_eq!(
                ours(&cluster, node),
                1,
                "round {round}: {node} tainted once"
            );
        }
        for node in cool {
            assert_eq!(ours(&cluster, node), 0, "round {round}: {node}");
        }
        for node in hot.iter().chain(cool.iter()) {
            assert_other_writer_survived(&cluster, node, round);
        }
    }
}

/// Another writer's change: a taint and an annotation whose values say which round wrote them.
fn other_writer(cluster: &Cluster, node: &str, round: usize) {
    cluster.api.modify("Node", None, node, |object| {
        let mut taints: Vec<Value> = object["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t["key"] != "team.example/round")
            .collect();
        taints.push(json!({"key": "team.example/round", "value": format!("r{round}"), "effect": "PreferNoSchedule"}));
        object["spec"]["taints"] = Value::Array(taints);
        object["metadata"]["annotations"]["team.example/round"] = json!(format!("r{round}"));
    });
}

fn assert_other_writer_survived(cluster: &Cluster, node: &str, round: usize) {
    let object = cluster.node(node);
    let theirs: Vec<&Value> = object["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["key"] == "team.example/round")
        .collect();
    assert_eq!(
        theirs,
        vec![
            &json!({"key": "team.example/round", "value": format!("r{round}"), "effect": "PreferNoSchedule"})
        ],
        "{node}: the other writer's taint of round {round} survived"
    );
    assert_eq!(
        object["metadata"]["annotations"]["team.example/round"],
        format!("r{round}")
    );
}

fn ours(cluster: &Cluster, node: &str) -> usize {
    cluster.taints(node).as_array().map_or(0, |taints| {
        taints.iter().filter(|t| t["key"] == OUR_KEY).count()
    })
}

#[test]
fn hook_tick_and_manual_run_in_parallel_resize_each_container_once() {
    let cluster = support::cluster();
    cluster.add_node("node-1", json!({}));
    let pods = ["web-1", "web-2", "web-3"];
    for pod in pods {
        let resources = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}});
        cluster.api.put(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": "default", "labels": {"kube-thermostat.io/resize": "true"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app:1", "resources": resources}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "image": "app:1", "imageID": "sha256:1", "resources": resources}]}
        }));
        cluster.push(
            PodHistory::new(
                "default",
                pod,
                "node-1",
                vec![ContainerLoad::new(
                    "app",
                    Profile::Constant(0.49),
                    Profile::Constant(100e6),
                )],
            )
            .series(&cluster.timeline),
        );
    }

    for round in 0..ROUNDS {
        let (tick, run) = std::thread::scope(|scope| {
            let tick = scope.spawn(|| cluster.tick("resize-pods", &[]));
            let run = scope.spawn(|| cluster.run_cli(&["resize-pods"], &[]));
            let other = scope.spawn(|| {
                for pod in pods {
                    cluster.api.modify("Pod", Some("default"), pod, |object| {
                        object["metadata"]["annotations"]["team.example/round"] =
                            json!(format!("r{round}"));
                    });
                }
            });
            other.join().unwrap();
            (tick.join().unwrap(), run.join().unwrap())
        });
        for (who, output) in [("tick", &tick), ("run", &run)] {
            assert!(matches!(output.code, 0 | 1), "{who}: {}", output.stderr);
        }
        for pod in pods {
            cluster.api.kubelet_actuate("default", pod);
            let object = cluster.api.get("Pod", Some("default"), pod).unwrap();
            assert_eq!(
                object["metadata"]["annotations"]["team.example/round"],
                format!("r{round}"),
                "{pod}: the other writer's annotation survived"
            );
            let app = &object["spec"]["containers"][0]["resources"];
            assert_eq!(app["requests"]["cpu"], app["limits"]["cpu"], "QoS kept");
        }
    }
    let accepted: Vec<String> = cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.resource == "pods/resize" && r.status == 200)
        .map(|r| r.path.clone())
        .collect();
    let refused = cluster
        .api
        .requests()
        .iter()
        .filter(|r| matches!(r.status, 409 | 422))
        .count();
    eprintln!(
        "resize race: {} accepted resizes, {refused} writes refused by a precondition",
        accepted.len()
    );
    for pod in pods {
        let count = accepted
            .iter()
            .filter(|p| p.contains(&format!("/{pod}/")))
            .count();
        assert_eq!(
            count, 1,
            "{pod} resized once over {ROUNDS} rounds of two racing instances (cooldown 3m): {accepted:?}"
        );
    }
}
