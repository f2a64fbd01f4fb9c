//! Scenarios for the taint decision, end to end through the pure core: samples as the query answers them →
//! matching → decision → JSON Patch applied to the node's JSON the way the API server does → next decision.

use super::*;
use crate::prometheus::{STAT_LABEL, Sample};
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeSpec, NodeStatus, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeMap;

mod fixtures {
    use super::*;

    pub fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    pub fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.map(str::to_string),
            effect: effect.to_string(),
            time_added: None,
        }
    }

    pub fn taint_at(key: &str, effect: &str, at: &str) -> Taint {
        Taint {
            time_added: Some(Time(at.parse().unwrap())),
            ..taint(key, None, effect)
        }
    }

    pub fn ours() -> Taint {
        taint("kube-thermostat.io/hot", Some("true"), "NoSchedule")
    }

    #[derive(Clone)]
    pub struct NodeBuilder(pub Node);

    pub fn node(name: &str) -> NodeBuilder {
        NodeBuilder(Node {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec::default()),
            ..Node::default()
        })
    }

    impl NodeBuilder {
        pub fn taints(mut self, taints: Vec<Taint>) -> Self {
            self.0.spec.get_or_insert_with(NodeSpec::default).taints = Some(taints);
            self
        }
        /// Carries our taint as we record it: taint plus annotation.
        pub fn tainted(self) -> Self {
            let record = json!({"key": "kube-thermostat.io/hot", "value": "true", "effect": "NoSchedule",
                                "since": "2025-06-01T11:00:00Z", "reason": "hot"});
            self.seed_tainted()
                .annotation(TAINT_ANNOTATION, &record.to_string())
        }
        /// Carries our taint without our annotation, as the seed script left it.
        pub fn seed_tainted(self) -> Self {
            self.taints(vec![ours()])
        }
        pub fn label(mut self, key: &str, value: &str) -> Self {
            self.0
                .metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(key.to_string(), value.to_string());
            self
        }
        pub fn annotation(mut self, key: &str, value: &str) -> Self {
            self.0
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(key.to_string(), value.to_string());
            self
        }
        pub fn cordoned(mut self) -> Self {
            self.0
                .spec
                .get_or_insert_with(NodeSpec::default)
                .unschedulable = Some(true);
            self
        }
        pub fn address(mut self, type_: &str, address: &str) -> Self {
            let status = self.0.status.get_or_insert_with(NodeStatus::default);
            status
                .addresses
                .get_or_insert_with(Vec::new)
                .push(NodeAddress {
                    type_: type_.to_string(),
                    address: address.to_string(),
                });
            self
        }
        pub fn build(self) -> Node {
            self.0
        }
    }

    /// The five stats of one series as the signal query answers them.
    pub fn series(labels: &[(&str, &str)], stats: Stats) -> Vec<Sample> {
        [
            ("current", stats.current),
            ("hot_min", stats.hot_min),
            ("hot_samples", stats.hot_samples),
            ("cool_max", stats.cool_max),
            ("cool_samples", stats.cool_samples),
        ]
        .into_iter()
        .map(|(stat, value)| {
            let mut map: BTreeMap<String, String> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            map.insert(STAT_LABEL.to_string(), stat.to_string());
            Sample { labels: map, value }
        })
        .collect()
    }

    #[derive(Clone, Copy, Debug)]
    pub struct Stats {
        pub current: f64,
        pub hot_min: f64,
        pub hot_samples: f64,
        pub cool_max: f64,
        pub cool_samples: f64,
    }

    /// A node that has been at `value` for longer than both windows.
    pub fn steady(value: f64) -> Stats {
        Stats {
            current: value,
            hot_min: value,
            hot_samples: 6.0,
            cool_max: value,
            cool_samples: 10.0,
        }
    }

    /// `node="<name>"` series at a steady value.
    pub fn at(name: &str, value: f64) -> Vec<Sample> {
        series(&[("node", name)], steady(value))
    }

    /// Nine cool untainted peers, so the default cap (30 %) leaves room for three tainted nodes and the
    /// last-schedulable rule stays out of the way.
    pub fn with_peers(mut nodes: Vec<Node>, mut samples: Vec<Sample>) -> (Vec<Node>, Vec<Sample>) {
        for i in 0..9 {
            let name = format!("peer-{i}");
            nodes.push(node(&name).build());
            samples.extend(at(&name, 5.0));
        }
        (nodes, samples)
    }

    /// The plan for `nodes` among nine cool peers.
    pub fn plan_among_peers(nodes: &[Node], samples: &[Sample]) -> TaintPlan {
        let (nodes, samples) = with_peers(nodes.to_vec(), samples.to_vec());
        plan(&nodes, &samples)
    }

    pub fn cpu_readings(
        samples: &[Sample],
        nodes: &[Node],
        policy: &TaintPolicy,
    ) -> Vec<SignalReadings> {
        vec![match_samples(SignalKind::Cpu, samples, nodes, policy)]
    }

    pub fn plan(nodes: &[Node], samples: &[Sample]) -> TaintPlan {
        plan_with(nodes, samples, &TaintPolicy::default())
    }

    pub fn plan_with(nodes: &[Node], samples: &[Sample], policy: &TaintPolicy) -> TaintPlan {
        decide_taints(nodes, &cpu_readings(samples, nodes, policy), policy, now())
    }

    pub fn decision<'p>(plan: &'p TaintPlan, name: &str) -> &'p NodeDecision {
        plan.decisions.iter().find(|d| d.name == name).unwrap()
    }

    pub fn write<'p>(plan: &'p TaintPlan, name: &str) -> Option<&'p NodeWrite> {
        plan.writes.iter().find(|w| w.node == name)
    }

    pub fn tainted_names(plan: &TaintPlan) -> Vec<&str> {
        plan.decisions
            .iter()
            .filter(|d| matches!(d.action, Action::Add | Action::Keep | Action::Update))
            .map(|d| d.name.as_str())
            .collect()
    }

    /// Applies a JSON Patch to a JSON document with the semantics of gopkg.in/evanphx/json-patch.v4 for the ops
    /// we use: `test` (a missing member equals null), `add` (creates or replaces a member), `remove`.
    pub fn apply_json_patch(doc: &mut Value, patch: &Value) -> Result<(), String> {
        for op in patch.as_array().ok_or("patch is not an array")? {
            let path = op["path"].as_str().ok_or("op without path")?;
            let (parent_path, key) = path.rsplit_once('/').ok_or("path without /")?;
            let key = key.replace("~1", "/").replace("~0", "~");
            let parent = doc
                .pointer_mut(parent_path)
                .ok_or(format!("missing path {parent_path}"))?;
            let object = parent
                .as_object_mut()
                .ok_or(format!("{parent_path} is not an object"))?;
            match op["op"].as_str() {
                Some("test") => {
                    let current = object.get(&key).cloned().unwrap_or(Value::Null);
                    if current != op["value"] {
                        return Err(format!("test {path} failed: {current} != {}", op["value"]));
                    }
                }
                Some("add") => {
                    object.insert(key, op["value"].clone());
                }
                Some("remove") => {
                    object
                        .remove(&key)
                        .ok_or(format!("remove {path}: missing"))?;
                }
                other => return Err(format!("unexpected op {other:?}")),
            }
        }
        Ok(())
    }

    /// The nodes after the plan's writes, each applied as its JSON Patch to the node's JSON.
    pub fn after_writes(nodes: &[Node], plan: &TaintPlan) -> Vec<Node> {
        nodes
            .iter()
            .map(|node| {
                let name = node.metadata.name.as_deref().unwrap_or_default();
                match write(plan, name) {
                    None => node.clone(),
                    Some(w) => {
                        let mut doc = serde_json::to_value(node).unwrap();
                        apply_json_patch(&mut doc, &node_patch(w)).unwrap();
                        serde_json::from_value(doc).unwrap()
                    }
                }
            })
            .collect()
    }

    pub fn taints_of(node: &Node) -> Vec<Taint> {
        node.spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
    }
}

use fixtures::*;

mod hysteresis {
    use super::*;

    #[test]
    fn hot_node_gets_our_taint_an_annotation_and_an_event() {
        let nodes = [node("node-1").build()];
        let plan = plan_among_peers(&nodes, &at("node-1", 92.0));
        let d = decision(&plan, "node-1");
        assert_eq!((d.state, d.action), (NodeState::Hot, Action::Add));
        assert!(
            d.reason.contains("cpu 92% > 80%, above for 3m"),
            "{}",
            d.reason
        );
        let w = write(&plan, "node-1").unwrap();
        assert_eq!(w.taints_after, vec![ours()]);
        let record: TaintRecord =
            serde_json::from_str(w.annotation_after.as_deref().unwrap()).unwrap();
        assert_eq!(
            (record.key.as_str(), record.value.as_str()),
            ("kube-thermostat.io/hot", "true")
        );
        assert_eq!(record.since, "2025-06-01T12:00:00Z");
        assert_eq!(
            w.event.as_ref().map(|e| e.reason.as_str()),
            Some("ThermostatTainted")
        );
    }

    #[test]
    fn cool_tainted_node_is_untainted() {
        let nodes = [node("node-1").tainted().build()];
        let plan = plan_among_peers(&nodes, &at("node-1", 40.0));
        assert_eq!(decision(&plan, "node-1").action, Action::Remove);
        let w = write(&plan, "node-1").unwrap();
        assert!(w.taints_after.is_empty());
        assert_eq!(
            w.event.as_ref().map(|e| e.reason.as_str()),
            Some("ThermostatUntainted")
        );
        assert!(taints_of(&after_writes(&nodes, &plan)[0]).is_empty());
    }

    #[test]
    fn hot_node_stays_tainted_inside_hysteresis_band() {
        let nodes = [node("node-1").tainted().build()];
        let plan = plan_among_peers(&nodes, &at("node-1", 75.0));
        let d = decision(&plan, "node-1");
        assert_eq!(
            (d.state, d.action, d.write),
            (NodeState::Band, Action::Keep, false)
        );
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn cool_node_stays_untainted_inside_hysteresis_band() {
        let nodes = [node("node-1").build()];
        let plan = plan_among_peers(&nodes, &at("node-1", 79.9));
        assert_eq!(decision(&plan, "node-1").action, Action::None);
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn a_spike_shorter_than_the_hot_window_does_not_taint() {
        let nodes = [node("node-1").build()];
        let spike = Stats {
            current: 99.0,
            hot_min: 35.0,
            hot_samples: 6.0,
            cool_max: 99.0,
            cool_samples: 10.0,
        };
        let plan = plan_among_peers(&nodes, &series(&[("node", "node-1")], spike));
        let d = decision(&plan, "node-1");
        assert_eq!((d.state, d.action), (NodeState::Band, Action::None));
        assert!(
            d.reason.contains("for less than 3m (lowest 35%)"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn a_dip_shorter_than_the_cool_window_does_not_untaint() {
        let nodes = [node("node-1").tainted().build()];
        let dip = Stats {
            current: 20.0,
            hot_min: 20.0,
            hot_samples: 6.0,
            cool_max: 95.0,
            cool_samples: 10.0,
        };
        let plan = plan_among_peers(&nodes, &series(&[("node", "node-1")], dip));
        assert_eq!(decision(&plan, "node-1").action, Action::Keep);
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn any_hot_signal_makes_the_node_hot_and_all_must_be_cool_to_untaint() {
        let policy = TaintPolicy {
            memory: Some(SignalPolicy::with_threshold(90.0)),
            max_tainted_fraction: 1.0,
            ..TaintPolicy::default()
        };
        let nodes = [
            node("a").build(),
            node("b").tainted().build(),
            node("c").tainted().build(),
        ];
        let cpu = [at("a", 10.0), at("b", 10.0), at("c", 10.0)].concat();
        let memory = [at("a", 95.0), at("b", 85.0), at("c", 50.0)].concat();
        let readings = vec![
            match_samples(SignalKind::Cpu, &cpu, &nodes, &policy),
            match_samples(SignalKind::Memory, &memory, &nodes, &policy),
        ];
        let plan = decide_taints(&nodes, &readings, &policy, now());
        assert_eq!(decision(&plan, "a").action, Action::Add, "memory is hot");
        assert_eq!(
            decision(&plan, "b").action,
            Action::Keep,
            "memory is in its band"
        );
        assert_eq!(decision(&plan, "c").action, Action::Remove, "both cool");
    }
}

mod unknown {
    use super::*;

    fn three_nodes_one_silent(silent: Vec<Sample>) -> TaintPlan {
        let nodes = [
            node("quiet").tainted().build(),
            node("b").build(),
            node("c").build(),
        ];
        let samples = [silent, at("b", 10.0), at("c", 10.0)].concat();
        plan_among_peers(&nodes, &samples)
    }

    #[test]
    fn node_without_series_is_unknown_and_keeps_its_taint() {
        let plan = three_nodes_one_silent(Vec::new());
        let d = decision(&plan, "quiet");
        assert_eq!((d.state, d.action), (NodeState::Unknown, Action::Keep));
        assert!(d.reason.contains("no series matched"), "{}", d.reason);
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn nan_is_unknown() {
        let plan = three_nodes_one_silent(at("quiet", f64::NAN));
        let d = decision(&plan, "quiet");
        assert_eq!((d.state, d.action), (NodeState::Unknown, Action::Keep));
        assert!(d.reason.contains("NaN"), "{}", d.reason);
    }

    #[test]
    fn a_window_not_full_of_data_gives_no_verdict() {
        let young = Stats {
            current: 5.0,
            hot_min: 5.0,
            hot_samples: 6.0,
            cool_max: 5.0,
            cool_samples: 4.0,
        };
        let plan = three_nodes_one_silent(series(&[("node", "quiet")], young));
        let d = decision(&plan, "quiet");
        assert_eq!((d.state, d.action), (NodeState::Unknown, Action::Keep));
        assert!(
            d.reason
                .contains("5m window is not full (4 of 10 evaluations)"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn new_hot_node_is_not_tainted_before_its_hot_window_is_full() {
        let nodes = [node("new").build(), node("b").build(), node("c").build()];
        let young = Stats {
            current: 95.0,
            hot_min: 95.0,
            hot_samples: 3.0,
            cool_max: 95.0,
            cool_samples: 3.0,
        };
        let samples = [
            series(&[("node", "new")], young),
            at("b", 10.0),
            at("c", 10.0),
        ]
        .concat();
        let plan = plan(&nodes, &samples);
        assert_eq!(decision(&plan, "new").state, NodeState::Unknown);
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn more_than_half_unknown_makes_no_writes_but_reports_everything() {
        let nodes = [
            node("hot").build(),
            node("cool").tainted().build(),
            node("u1").build(),
            node("u2").build(),
            node("u3").build(),
        ];
        let plan = plan(&nodes, &[at("hot", 95.0), at("cool", 5.0)].concat());
        assert!(plan.writes.is_empty());
        let why = plan.fail_safe.as_deref().unwrap();
        assert!(why.contains("3 of 5 nodes are unknown"), "{why}");
        assert_eq!(decision(&plan, "hot").action, Action::None);
        assert_eq!(decision(&plan, "cool").action, Action::Keep);
        assert!(decision(&plan, "hot").reason.contains("would add"));
        assert!(plan.render_text().contains("fail-safe"));
    }

    #[test]
    fn exactly_half_unknown_still_acts() {
        let nodes = [
            node("hot").build(),
            node("b").build(),
            node("u1").build(),
            node("u2").build(),
        ];
        let policy = TaintPolicy {
            max_tainted_fraction: 1.0,
            ..TaintPolicy::default()
        };
        let plan = plan_with(&nodes, &[at("hot", 95.0), at("b", 10.0)].concat(), &policy);
        assert_eq!(plan.fail_safe, None);
        assert_eq!(decision(&plan, "hot").action, Action::Add);
    }

    #[test]
    fn a_signal_without_an_answer_makes_every_node_unknown() {
        let nodes = [node("a").tainted().build()];
        let plan = decide_taints(&nodes, &[], &TaintPolicy::default(), now());
        assert_eq!(decision(&plan, "a").state, NodeState::Unknown);
        assert!(plan.fail_safe.is_some());
        assert!(plan.writes.is_empty());
    }
}

mod matching {
    use super::*;

    fn all(policy_fraction: f64) -> TaintPolicy {
        TaintPolicy {
            max_tainted_fraction: policy_fraction,
            ..TaintPolicy::default()
        }
    }

    #[test]
    fn host_port_instances_match_node_names() {
        let nodes = [node("node-1").build(), node("node-2").build()];
        let samples = [
            series(&[("instance", "node-1:9100")], steady(95.0)),
            series(&[("instance", "node-2:9100")], steady(10.0)),
        ]
        .concat();
        let plan = plan_with(&nodes, &samples, &all(0.5));
        assert_eq!(tainted_names(&plan), ["node-1"]);
    }

    #[test]
    fn ipv6_instance_matches_through_node_addresses() {
        let nodes = [
            node("v6").address("InternalIP", "fd00::6").build(),
            node("other").build(),
        ];
        let samples = [
            series(&[("instance", "[fd00::6]:9100")], steady(95.0)),
            at("other", 5.0),
        ]
        .concat();
        let plan = plan_with(&nodes, &samples, &all(0.5));
        assert_eq!(tainted_names(&plan), ["v6"]);
    }

    #[test]
    fn instance_ip_falls_back_to_internal_ip() {
        let nodes = [
            node("ip-node").address("InternalIP", "10.1.2.3").build(),
            node("other").build(),
        ];
        let samples = [
            series(&[("instance", "10.1.2.3:9100")], steady(95.0)),
            at("other", 5.0),
        ]
        .concat();
        let plan = plan_with(&nodes, &samples, &all(0.5));
        assert_eq!(tainted_names(&plan), ["ip-node"]);
    }

    #[test]
    fn hot_node_10_never_taints_node_1_or_node_100() {
        let nodes = [
            node("node-1").build(),
            node("node-10").build(),
            node("node-100").build(),
        ];
        let samples = [
            series(&[("instance", "node-1:9100")], steady(10.0)),
            series(&[("instance", "node-10:9100")], steady(99.0)),
            series(&[("instance", "node-100:9100")], steady(10.0)),
        ]
        .concat();
        let plan = plan_with(&nodes, &samples, &all(1.0));
        assert_eq!(tainted_names(&plan), ["node-10"]);
    }

    #[test]
    fn duplicate_scrapers_hottest_reading_wins() {
        let nodes = [
            node("node-1").address("InternalIP", "10.0.0.1").build(),
            node("other").build(),
        ];
        let samples = [
            series(&[("instance", "node-1:9100"), ("job", "a")], steady(30.0)),
            series(&[("instance", "10.0.0.1:9100"), ("job", "b")], steady(90.0)),
            at("other", 5.0),
        ]
        .concat();
        let plan = plan_with(&nodes, &samples, &all(0.5));
        assert_eq!(decision(&plan, "node-1").state, NodeState::Hot);
    }

    #[test]
    fn unmatched_series_are_reported_in_the_plan() {
        let nodes = [node("node-1").build()];
        let samples = [
            at("node-1", 10.0),
            series(&[("instance", "stranger:9100")], steady(99.0)),
        ]
        .concat();
        let plan = plan(&nodes, &samples);
        assert_eq!(plan.unmatched[&SignalKind::Cpu].count, 1);
        assert!(
            plan.render_text().contains(
                "unmatched cpu: 1 series matched no node, e.g. instance=\"stranger:9100\""
            )
        );
    }
}

mod cap {
    use super::*;

    fn cluster(n: usize) -> Vec<Node> {
        (0..n).map(|i| node(&format!("n{i:02}")).build()).collect()
    }

    #[test]
    fn at_most_thirty_percent_hottest_first_and_the_rest_reported_capped() {
        let nodes = cluster(10);
        let samples: Vec<Sample> = (0..10)
            .flat_map(|i| at(&format!("n{i:02}"), 81.0 + i as f64))
            .collect();
        let plan = plan(&nodes, &samples);
        assert_eq!(tainted_names(&plan), ["n07", "n08", "n09"]);
        assert_eq!(plan.summary.capped, 7);
        let d = decision(&plan, "n00");
        assert!(
            d.capped
                && d.reason
                    .starts_with("capped: at most 3 of 10 eligible nodes (30%)"),
            "{}",
            d.reason
        );
        assert!(plan.render_text().contains("none    n00  capped"));
    }

    #[test]
    fn already_tainted_nodes_keep_their_place_against_hotter_newcomers() {
        let mut nodes = cluster(10);
        for n in nodes.iter_mut().take(3) {
            n.spec.get_or_insert_with(NodeSpec::default).taints = Some(vec![ours()]);
        }
        let samples: Vec<Sample> = (0..10)
            .flat_map(|i| at(&format!("n{i:02}"), 81.0 + i as f64))
            .collect();
        let plan = plan(&nodes, &samples);
        assert_eq!(tainted_names(&plan), ["n00", "n01", "n02"]);
        assert!(plan.writes.iter().all(|w| !w.taints_change()));
    }

    #[test]
    fn lowering_the_cap_untaints_the_least_hot_first() {
        let nodes: Vec<Node> = (0..10)
            .map(|i| {
                let b = node(&format!("n{i:02}"));
                if i < 5 {
                    b.tainted().build()
                } else {
                    b.build()
                }
            })
            .collect();
        // n00..n04 tainted: n00, n01 in the band, n02..n04 hot; cap is 3.
        let values = [75.0, 78.0, 85.0, 90.0, 95.0, 10.0, 10.0, 10.0, 10.0, 10.0];
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .flat_map(|(i, v)| at(&format!("n{i:02}"), *v))
            .collect();
        let plan = plan(&nodes, &samples);
        assert_eq!(tainted_names(&plan), ["n02", "n03", "n04"]);
        for name in ["n00", "n01"] {
            let d = decision(&plan, name);
            assert_eq!((d.action, d.capped), (Action::Remove, true), "{name}");
        }
    }

    #[test]
    fn the_last_schedulable_eligible_node_is_never_tainted() {
        let nodes = cluster(2);
        let policy = TaintPolicy {
            max_tainted_fraction: 1.0,
            ..TaintPolicy::default()
        };
        let plan = plan_with(
            &nodes,
            &[at("n00", 95.0), at("n01", 90.0)].concat(),
            &policy,
        );
        assert_eq!(tainted_names(&plan), ["n00"]);
        let d = decision(&plan, "n01");
        assert!(
            d.capped && d.reason.contains("last schedulable"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn a_node_blocked_by_a_foreign_taint_is_not_a_schedulable_one() {
        let nodes = [
            node("gpu")
                .taints(vec![taint("dedicated", Some("gpu"), "NoSchedule")])
                .build(),
            node("plain").build(),
        ];
        let policy = TaintPolicy {
            max_tainted_fraction: 1.0,
            ..TaintPolicy::default()
        };
        let plan = plan_with(
            &nodes,
            &[at("gpu", 95.0), at("plain", 90.0)].concat(),
            &policy,
        );
        assert_eq!(tainted_names(&plan), ["gpu"]);
        assert!(decision(&plan, "plain").capped);
    }

    #[test]
    fn prefer_no_schedule_may_cover_every_node() {
        let nodes = cluster(2);
        let policy = TaintPolicy {
            max_tainted_fraction: 1.0,
            taint_effect: TaintEffect::PreferNoSchedule,
            ..TaintPolicy::default()
        };
        let plan = plan_with(
            &nodes,
            &[at("n00", 95.0), at("n01", 90.0)].concat(),
            &policy,
        );
        assert_eq!(tainted_names(&plan), ["n00", "n01"]);
    }

    #[test]
    fn excluded_nodes_neither_count_nor_get_tainted() {
        let nodes = [
            node("cp")
                .label("node-role.kubernetes.io/control-plane", "")
                .build(),
            node("w1").build(),
            node("w2").build(),
            node("w3").build(),
        ];
        let samples = [
            at("cp", 99.0),
            at("w1", 95.0),
            at("w2", 10.0),
            at("w3", 10.0),
        ]
        .concat();
        let policy = TaintPolicy {
            max_tainted_fraction: 0.34,
            ..TaintPolicy::default()
        };
        let plan = plan_with(&nodes, &samples, &policy);
        assert_eq!((plan.summary.eligible, plan.summary.cap), (3, 1));
        assert_eq!(tainted_names(&plan), ["w1"]);
    }
}

mod eligibility {
    use super::*;

    fn hot_with(builder: NodeBuilder) -> NodeDecision {
        let nodes = [
            builder.build(),
            node("a").build(),
            node("b").build(),
            node("c").build(),
            node("d").build(),
        ];
        let samples = [
            at("x", 99.0),
            at("a", 5.0),
            at("b", 5.0),
            at("c", 5.0),
            at("d", 5.0),
        ]
        .concat();
        let plan = plan_with(
            &nodes,
            &samples,
            &TaintPolicy {
                max_tainted_fraction: 1.0,
                ..TaintPolicy::default()
            },
        );
        decision(&plan, "x").clone()
    }

    #[test]
    fn control_plane_nodes_are_never_tainted() {
        for label in [
            "node-role.kubernetes.io/control-plane",
            "node-role.kubernetes.io/master",
        ] {
            let d = hot_with(node("x").label(label, ""));
            assert_eq!(
                (d.state, d.action, d.eligible),
                (NodeState::Hot, Action::None, false)
            );
            assert!(
                d.reason
                    .contains(&format!("control-plane node (label {label})")),
                "{}",
                d.reason
            );
        }
    }

    #[test]
    fn cordoned_nodes_are_never_tainted() {
        let d = hot_with(node("x").cordoned());
        assert_eq!(
            (d.action, d.exclusion),
            (Action::None, Some(Exclusion::Cordoned))
        );
    }

    #[test]
    fn nodes_scaled_down_by_cluster_autoscaler_are_never_tainted() {
        let d = hot_with(node("x").taints(vec![taint(
            "ToBeDeletedByClusterAutoscaler",
            Some("1717"),
            "NoSchedule",
        )]));
        assert_eq!(
            (d.action, d.exclusion),
            (Action::None, Some(Exclusion::ScaleDown))
        );
    }

    #[test]
    fn nodes_karpenter_is_removing_are_never_tainted_whatever_the_effect() {
        for effect in ["NoSchedule", "NoExecute", "PreferNoSchedule"] {
            let d = hot_with(node("x").taints(vec![taint("karpenter.sh/disrupted", None, effect)]));
            assert_eq!(
                (d.action, d.exclusion.clone()),
                (Action::None, Some(Exclusion::KarpenterDisrupted)),
                "{effect}"
            );
            assert!(
                d.reason.contains("being removed by Karpenter"),
                "{}",
                d.reason
            );
        }
    }

    #[test]
    fn a_node_karpenter_is_removing_keeps_our_taint_until_cool_and_karpenters_taint_is_never_ours()
    {
        let disrupted = taint("karpenter.sh/disrupted", None, "NoSchedule");
        let nodes = [node("x").taints(vec![ours(), disrupted.clone()]).build()];
        let plan = plan_among_peers(&nodes, &at("x", 5.0));
        assert_eq!(decision(&plan, "x").action, Action::Remove);
        assert_eq!(write(&plan, "x").unwrap().taints_after, vec![disrupted]);
    }

    #[test]
    fn opted_out_nodes_are_never_tainted() {
        let d = hot_with(node("x").label("kube-thermostat.io/exclude", "true"));
        assert_eq!(d.action, Action::None);
        assert!(
            d.reason
                .contains("opted out (label kube-thermostat.io/exclude=true)"),
            "{}",
            d.reason
        );
        let not_opted = hot_with(node("x").label("kube-thermostat.io/exclude", "false"));
        assert_eq!(not_opted.action, Action::Add);
    }

    #[test]
    fn a_non_eligible_node_keeps_our_taint_until_it_is_cool() {
        let nodes = [
            node("hot").cordoned().tainted().build(),
            node("cool").cordoned().tainted().build(),
        ];
        let plan = plan_among_peers(&nodes, &[at("hot", 99.0), at("cool", 5.0)].concat());
        assert_eq!(decision(&plan, "hot").action, Action::Keep);
        assert_eq!(decision(&plan, "cool").action, Action::Remove);
    }
}

mod ownership {
    use super::*;

    fn foreign_zoo() -> Vec<Taint> {
        vec![
            taint_at(
                "node.kubernetes.io/not-ready",
                "NoExecute",
                "2025-05-31T23:59:01Z",
            ),
            taint("node.kubernetes.io/unschedulable", None, "NoSchedule"),
            taint("dedicated", Some("db"), "NoSchedule"),
            taint("kube-thermostat.io/hot", Some("true"), "PreferNoSchedule"),
            taint_at(
                "example.com/maintenance",
                "NoExecute",
                "2024-01-02T03:04:05Z",
            ),
            taint(
                "node.cloudprovider.kubernetes.io/uninitialized",
                Some("true"),
                "NoSchedule",
            ),
        ]
    }

    #[test]
    fn foreign_taints_are_kept_byte_for_byte_in_order_with_time_added() {
        // The node JSON as the API server would send it, so nothing passes through our types first.
        let raw_taints = json!([
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": "2025-05-31T23:59:01Z"},
            {"key": "dedicated", "value": "db", "effect": "NoSchedule"},
            {"key": "kube-thermostat.io/hot", "value": "true", "effect": "PreferNoSchedule"},
            {"key": "example.com/maintenance", "effect": "NoExecute", "timeAdded": "2024-01-02T03:04:05Z"}
        ]);
        let raw_node = json!({"metadata": {"name": "x", "annotations": {"keep": "me"}}, "spec": {"taints": raw_taints}});
        let nodes: Vec<Node> = vec![
            serde_json::from_value(raw_node.clone()).unwrap(),
            node("b").build(),
        ];
        let policy = TaintPolicy {
            max_tainted_fraction: 1.0,
            ..TaintPolicy::default()
        };
        let add = plan_with(&nodes, &[at("x", 99.0), at("b", 5.0)].concat(), &policy);
        let patch = node_patch(write(&add, "x").unwrap());
        assert_eq!(
            patch[0],
            json!({"op": "test", "path": "/spec/taints", "value": raw_taints})
        );
        let mut doc = raw_node.clone();
        apply_json_patch(&mut doc, &patch).unwrap();
        let mut expected = raw_taints.as_array().unwrap().clone();
        expected.push(
            json!({"key": "kube-thermostat.io/hot", "value": "true", "effect": "NoSchedule"}),
        );
        assert_eq!(doc["spec"]["taints"], Value::Array(expected));
        assert_eq!(doc["metadata"]["annotations"]["keep"], "me");

        // And back: untainting leaves exactly the original list.
        let tainted: Node = serde_json::from_value(doc.clone()).unwrap();
        let nodes = [tainted, node("b").build()];
        let remove = plan_with(&nodes, &[at("x", 5.0), at("b", 5.0)].concat(), &policy);
        apply_json_patch(&mut doc, &node_patch(write(&remove, "x").unwrap())).unwrap();
        assert_eq!(doc, raw_node);
    }

    #[test]
    fn our_key_with_another_effect_is_not_ours() {
        let zoo = foreign_zoo();
        let nodes = [node("x").taints(zoo.clone()).build()];
        let plan = plan_with(&nodes, &at("x", 5.0), &TaintPolicy::default());
        let d = decision(&plan, "x");
        assert_eq!((d.has_our_taint, d.action), (false, Action::None));
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn a_taint_left_by_the_seed_script_is_adopted_with_an_annotation_and_no_event() {
        let nodes = [node("x").seed_tainted().build()];
        let plan = plan_among_peers(&nodes, &at("x", 75.0));
        let d = decision(&plan, "x");
        assert_eq!((d.has_our_taint, d.action), (true, Action::Update));
        let w = write(&plan, "x").unwrap();
        assert!(!w.taints_change());
        assert!(w.annotation_after.is_some());
        assert_eq!(w.event, None);
        let (nodes, samples) = with_peers(nodes.to_vec(), at("x", 75.0));
        let later = after_writes(&nodes, &plan);
        assert!(
            plan_with(&later, &samples, &TaintPolicy::default())
                .writes
                .is_empty()
        );
    }

    #[test]
    fn a_seed_taint_on_a_cool_node_is_removed() {
        let nodes = [node("x").seed_tainted().build()];
        let plan = plan_among_peers(&nodes, &at("x", 5.0));
        assert_eq!(decision(&plan, "x").action, Action::Remove);
    }

    fn tainted_by_old_settings(name: &str) -> Node {
        let old = taint("old.example/hot", Some("yes"), "PreferNoSchedule");
        let record = json!({"key": "old.example/hot", "value": "yes", "effect": "PreferNoSchedule",
                            "since": "2025-01-01T00:00:00Z", "reason": "hot"});
        node(name)
            .taints(vec![taint("dedicated", Some("db"), "NoSchedule"), old])
            .annotation(TAINT_ANNOTATION, &record.to_string())
            .build()
    }

    #[test]
    fn after_a_key_and_effect_change_the_old_recorded_taint_is_removed_from_a_cool_node() {
        let nodes = [tainted_by_old_settings("x")];
        let plan = plan_among_peers(&nodes, &at("x", 5.0));
        let w = write(&plan, "x").unwrap();
        assert_eq!(
            w.taints_after,
            vec![taint("dedicated", Some("db"), "NoSchedule")]
        );
        assert_eq!(w.annotation_after, None);
    }

    #[test]
    fn after_a_key_and_effect_change_a_band_node_moves_to_the_new_taint() {
        let nodes = [tainted_by_old_settings("x")];
        let plan = plan_among_peers(&nodes, &at("x", 75.0));
        assert_eq!(decision(&plan, "x").action, Action::Update);
        let w = write(&plan, "x").unwrap();
        assert_eq!(
            w.taints_after,
            vec![taint("dedicated", Some("db"), "NoSchedule"), ours()]
        );
        let record: TaintRecord =
            serde_json::from_str(w.annotation_after.as_deref().unwrap()).unwrap();
        assert_eq!(
            (record.key.as_str(), record.effect.as_str()),
            ("kube-thermostat.io/hot", "NoSchedule")
        );
    }

    #[test]
    fn a_value_change_in_the_settings_updates_our_taint_in_place() {
        let nodes = [node("x")
            .taints(vec![ours(), taint("dedicated", Some("db"), "NoSchedule")])
            .build()];
        let policy = TaintPolicy {
            taint_value: "hot".to_string(),
            ..TaintPolicy::default()
        };
        let (nodes, samples) = with_peers(nodes.to_vec(), at("x", 75.0));
        let plan = plan_with(&nodes, &samples, &policy);
        let w = write(&plan, "x").unwrap();
        assert_eq!(
            w.taints_after,
            vec![
                taint("kube-thermostat.io/hot", Some("hot"), "NoSchedule"),
                taint("dedicated", Some("db"), "NoSchedule")
            ]
        );
        assert_eq!(
            w.event.as_ref().map(|e| e.reason.as_str()),
            Some("ThermostatTainted")
        );
    }

    #[test]
    fn a_recorded_system_taint_is_never_treated_as_ours() {
        let record = json!({"key": "node.kubernetes.io/unschedulable", "value": "", "effect": "NoSchedule",
                            "since": "2025-01-01T00:00:00Z", "reason": "edited by hand"});
        let nodes = [node("x")
            .taints(vec![taint(
                "node.kubernetes.io/unschedulable",
                None,
                "NoSchedule",
            )])
            .annotation(TAINT_ANNOTATION, &record.to_string())
            .build()];
        let plan = plan_among_peers(&nodes, &at("x", 5.0));
        let w = write(&plan, "x").unwrap();
        assert_eq!(
            w.taints_after,
            vec![taint(
                "node.kubernetes.io/unschedulable",
                None,
                "NoSchedule"
            )]
        );
        assert_eq!(
            w.annotation_after, None,
            "the stale annotation is cleaned up"
        );
    }

    fn adopting_the_seed() -> TaintPolicy {
        TaintPolicy {
            adopted_taints: vec![AdoptedTaint {
                key: "node.kubernetes.io/pressure".to_string(),
                effect: TaintEffect::NoSchedule,
            }],
            ..TaintPolicy::default()
        }
    }

    fn seed_taint() -> Taint {
        taint("node.kubernetes.io/pressure", Some("true"), "NoSchedule")
    }

    #[test]
    fn an_adopted_taint_is_removed_once_the_node_is_cool_and_only_it() {
        let dedicated = taint("dedicated", Some("db"), "NoSchedule");
        let same_key_other_effect = taint("node.kubernetes.io/pressure", None, "PreferNoSchedule");
        let nodes = vec![
            node("x")
                .taints(vec![
                    dedicated.clone(),
                    seed_taint(),
                    same_key_other_effect.clone(),
                ])
                .build(),
        ];
        let (nodes, samples) = with_peers(nodes, at("x", 5.0));
        let plan = plan_with(&nodes, &samples, &adopting_the_seed());
        assert_eq!(decision(&plan, "x").action, Action::Remove);
        let w = write(&plan, "x").unwrap();
        assert_eq!(w.taints_after, vec![dedicated, same_key_other_effect]);
        assert_eq!(
            w.event.as_ref().map(|e| e.reason.as_str()),
            Some("ThermostatUntainted")
        );
    }

    #[test]
    fn without_adoption_the_seed_taint_is_foreign() {
        let nodes = vec![node("x").taints(vec![seed_taint()]).build()];
        let plan = plan_among_peers(&nodes, &at("x", 5.0));
        assert_eq!(decision(&plan, "x").action, Action::None);
        assert!(write(&plan, "x").is_none());
    }

    #[test]
    fn an_adopted_taint_on_a_hot_node_is_replaced_by_ours_and_never_added() {
        let nodes = vec![
            node("seeded").taints(vec![seed_taint()]).build(),
            node("fresh").build(),
        ];
        let samples = [at("seeded", 99.0), at("fresh", 99.0)].concat();
        let (nodes, samples) = with_peers(nodes, samples);
        let plan = plan_with(&nodes, &samples, &adopting_the_seed());
        assert_eq!(decision(&plan, "seeded").action, Action::Update);
        assert_eq!(write(&plan, "seeded").unwrap().taints_after, vec![ours()]);
        assert_eq!(decision(&plan, "fresh").action, Action::Add);
        assert_eq!(write(&plan, "fresh").unwrap().taints_after, vec![ours()]);
    }

    #[test]
    fn remove_all_removes_adopted_taints_too() {
        let dedicated = taint("dedicated", Some("db"), "NoSchedule");
        let nodes = [node("x")
            .taints(vec![seed_taint(), dedicated.clone()])
            .build()];
        let plan = plan_remove_all(&nodes, &adopting_the_seed());
        assert_eq!(plan.writes[0].taints_after, vec![dedicated]);
        assert!(
            plan_remove_all(&nodes, &TaintPolicy::default())
                .writes
                .is_empty()
        );
    }

    #[test]
    fn remove_all_removes_only_our_taints_and_annotation() {
        let mut zoo = foreign_zoo();
        zoo.insert(2, ours());
        let nodes = [
            node("a").taints(zoo).annotation("keep", "me").build(),
            tainted_by_old_settings("b"),
            node("c").taints(foreign_zoo()).build(),
        ];
        let plan = plan_remove_all(&nodes, &TaintPolicy::default());
        assert_eq!(plan.writes.len(), 2);
        let after = after_writes(&nodes, &plan);
        assert_eq!(taints_of(&after[0]), foreign_zoo());
        assert_eq!(
            after[0].metadata.annotations.as_ref().map(|a| a.len()),
            Some(1)
        );
        assert_eq!(
            taints_of(&after[1]),
            vec![taint("dedicated", Some("db"), "NoSchedule")]
        );
        assert_eq!(
            after[1]
                .metadata
                .annotations
                .as_ref()
                .map(|a| a.contains_key(TAINT_ANNOTATION)),
            Some(false)
        );
        assert_eq!(decision(&plan, "c").action, Action::None);
        assert!(
            plan_remove_all(&after, &TaintPolicy::default())
                .writes
                .is_empty()
        );
    }
}

mod writes {
    use super::*;

    #[test]
    fn unchanged_load_makes_no_writes_the_second_time() {
        let nodes: Vec<Node> = (0..10).map(|i| node(&format!("n{i}")).build()).collect();
        let values = [
            99.0,
            95.0,
            91.0,
            88.0,
            75.0,
            60.0,
            10.0,
            10.0,
            10.0,
            f64::NAN,
        ];
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .flat_map(|(i, v)| at(&format!("n{i}"), *v))
            .collect();
        let first = plan(&nodes, &samples);
        assert_eq!(first.summary.add, 3);
        let second = plan(&after_writes(&nodes, &first), &samples);
        assert!(second.writes.is_empty(), "{}", second.render_text());
        assert_eq!(second.summary.tainted_after, 3);
    }

    #[test]
    fn patch_for_a_node_without_taints_or_annotations_tests_for_absence() {
        let mut bare = node("x").build();
        bare.spec = Some(NodeSpec::default());
        let nodes = [bare];
        let plan = plan_with(
            &nodes,
            &at("x", 99.0),
            &TaintPolicy {
                max_tainted_fraction: 1.0,
                ..Default::default()
            },
        );
        // One node: it is the last schedulable one.
        assert!(plan.writes.is_empty());
        let nodes = [node("x").build(), node("y").build()];
        let plan = plan_with(
            &nodes,
            &[at("x", 99.0), at("y", 5.0)].concat(),
            &TaintPolicy {
                max_tainted_fraction: 1.0,
                ..Default::default()
            },
        );
        let patch = node_patch(write(&plan, "x").unwrap());
        let ops = patch.as_array().unwrap();
        assert_eq!(
            ops[0],
            json!({"op": "test", "path": "/spec/taints", "value": null})
        );
        assert_eq!(ops[1]["op"], "add");
        assert_eq!(
            ops[2],
            json!({"op": "test", "path": "/metadata/annotations", "value": null})
        );
        assert_eq!(ops[3]["path"], "/metadata/annotations");
        assert!(ops[3]["value"][TAINT_ANNOTATION].is_string());
    }

    #[test]
    fn patch_removes_the_taints_field_when_our_taint_was_the_only_one() {
        let nodes = [node("x").seed_tainted().annotation("other", "1").build()];
        let plan = plan_among_peers(&nodes, &at("x", 5.0));
        let patch = node_patch(write(&plan, "x").unwrap());
        assert_eq!(patch[1], json!({"op": "remove", "path": "/spec/taints"}));
        // No annotation of ours was there: nothing to do about it.
        assert_eq!(patch.as_array().unwrap().len(), 2);
    }

    #[test]
    fn annotation_path_escapes_the_slash() {
        assert_eq!(
            patch::annotation_path(),
            "/metadata/annotations/kube-thermostat.io~1taint"
        );
        assert_eq!(
            crate::kube::json_pointer::escape_pointer_token("a~b/c"),
            "a~0b~1c"
        );
    }

    #[test]
    fn a_concurrent_taint_change_fails_the_test_op() {
        let nodes = [node("x").build(), node("y").build()];
        let policy = TaintPolicy {
            max_tainted_fraction: 1.0,
            ..Default::default()
        };
        let plan = plan_with(&nodes, &[at("x", 99.0), at("y", 5.0)].concat(), &policy);
        let mut changed = serde_json::to_value(
            node("x")
                .taints(vec![taint("new", None, "NoSchedule")])
                .build(),
        )
        .unwrap();
        let error =
            apply_json_patch(&mut changed, &node_patch(write(&plan, "x").unwrap())).unwrap_err();
        assert!(error.contains("test /spec/taints failed"), "{error}");
    }

    #[test]
    fn plan_serializes_to_json_and_renders_a_summary() {
        let nodes = [
            node("a").build(),
            node("b").tainted().build(),
            node("c").build(),
            node("d").build(),
        ];
        let plan = plan(
            &nodes,
            &[at("a", 99.0), at("b", 5.0), at("c", 5.0), at("d", 5.0)].concat(),
        );
        let value = serde_json::to_value(&plan).unwrap();
        assert_eq!(value["decisions"][0]["action"], "add");
        assert_eq!(value["decisions"][0]["state"], "hot");
        let text = plan.render_text();
        assert!(
            text.contains("add     a  hot: cpu 99% > 80%, above for 3m (lowest 99%)"),
            "{text}"
        );
        assert!(
            text.contains("remove  b  cool: cpu 5% < 70%, below for 5m (highest 5%)"),
            "{text}"
        );
        assert!(
            text.contains("4 nodes: 1 hot, 3 cool, 0 band, 0 unknown"),
            "{text}"
        );
        assert!(
            text.contains("writes 2 (add 1, remove 1, update 0)"),
            "{text}"
        );
    }

    #[test]
    fn events_in_the_json_plan_keep_the_api_spelling() {
        let nodes = [node("a").build(), node("b").tainted().build()];
        let plan = plan_among_peers(&nodes, &[at("a", 99.0), at("b", 5.0)].concat());
        let value = serde_json::to_value(&plan).unwrap();
        let events: Vec<&Value> = value["writes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| &w["event"])
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(
            (&events[0]["action"], &events[0]["type"]),
            (&json!("Taint"), &json!("Normal"))
        );
        assert_eq!(events[0]["reason"], "ThermostatTainted");
        assert_eq!(
            (&events[1]["action"], &events[1]["type"]),
            (&json!("Untaint"), &json!("Normal"))
        );
        assert!(events[1].get("type_").is_none());
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "kube-thermostat.io/hot";
    const OLD_KEY: &str = "old.example/hot";

    #[derive(Debug, Clone)]
    struct NodeCase {
        foreign: Vec<Taint>,
        ours_at: Option<(usize, Option<&'static str>)>,
        old_recorded: bool,
        control_plane: bool,
        cordoned: bool,
        opted_out: bool,
        load: Option<Stats>,
    }

    fn foreign_taint() -> impl Strategy<Value = Taint> {
        prop_oneof![
            Just(taint("dedicated", Some("db"), "NoSchedule")),
            Just(taint_at(
                "node.kubernetes.io/not-ready",
                "NoExecute",
                "2025-05-31T23:59:01Z"
            )),
            Just(taint(
                "node.kubernetes.io/unschedulable",
                None,
                "NoSchedule"
            )),
            Just(taint(KEY, Some("true"), "PreferNoSchedule")),
            Just(taint(KEY, None, "NoExecute")),
            Just(taint("example.com/soft", Some("x"), "PreferNoSchedule")),
            Just(taint(
                "ToBeDeletedByClusterAutoscaler",
                Some("1"),
                "NoSchedule"
            )),
        ]
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![0.0..100.0f64, Just(f64::NAN), Just(70.0), Just(80.0)]
    }

    fn stats() -> impl Strategy<Value = Stats> {
        (value(), value(), 0u32..8, value(), 0u32..12).prop_map(
            |(current, hot_min, h, cool_max, c)| Stats {
                current,
                hot_min,
                hot_samples: f64::from(h),
                cool_max,
                cool_samples: f64::from(c),
            },
        )
    }

    fn node_case() -> impl Strategy<Value = NodeCase> {
        (
            proptest::collection::vec(foreign_taint(), 0..4),
            proptest::option::of((
                0usize..4,
                prop_oneof![Just(Some("true")), Just(Some("old")), Just(None)],
            )),
            any::<bool>(),
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.1),
            proptest::option::weighted(0.85, stats()),
        )
            .prop_map(
                |(mut foreign, ours_at, old_recorded, control_plane, cordoned, opted_out, load)| {
                    // Key+effect is unique on a real node.
                    let mut seen = std::collections::BTreeSet::new();
                    foreign.retain(|t| seen.insert((t.key.clone(), t.effect.clone())));
                    NodeCase {
                        foreign,
                        ours_at,
                        old_recorded,
                        control_plane,
                        cordoned,
                        opted_out,
                        load,
                    }
                },
            )
    }

    fn policy() -> impl Strategy<Value = TaintPolicy> {
        (0.0..=1.0f64, 0.0..=1.0f64, any::<bool>()).prop_map(|(cap, unknown, prefer)| TaintPolicy {
            max_tainted_fraction: cap,
            max_unknown_fraction: unknown,
            taint_effect: if prefer {
                TaintEffect::PreferNoSchedule
            } else {
                TaintEffect::NoSchedule
            },
            ..TaintPolicy::default()
        })
    }

    fn build(cases: &[NodeCase], policy: &TaintPolicy) -> (Vec<Node>, Vec<Sample>) {
        let mut nodes = Vec::new();
        let mut samples = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            let name = format!("node-{i}");
            let mut taints = case.foreign.clone();
            if let Some((at, value)) = case.ours_at {
                taints.retain(|t| !(t.key == KEY && t.effect == policy.taint_effect.as_str()));
                taints.insert(
                    at.min(taints.len()),
                    taint(KEY, value, policy.taint_effect.as_str()),
                );
            }
            let mut b = node(&name);
            if case.old_recorded {
                taints.push(taint(OLD_KEY, Some("y"), "NoSchedule"));
                let record = json!({"key": OLD_KEY, "value": "y", "effect": "NoSchedule", "since": "x", "reason": "x"});
                b = b.annotation(TAINT_ANNOTATION, &record.to_string());
            }
            b = b.taints(taints);
            if case.control_plane {
                b = b.label("node-role.kubernetes.io/control-plane", "");
            }
            if case.cordoned {
                b = b.cordoned();
            }
            if case.opted_out {
                b = b.label("kube-thermostat.io/exclude", "true");
            }
            nodes.push(b.build());
            if let Some(load) = case.load {
                samples.extend(series(&[("instance", &format!("{name}:9100"))], load));
            }
        }
        (nodes, samples)
    }

    fn is_ours(t: &Taint, policy: &TaintPolicy) -> bool {
        (t.key == KEY && t.effect == policy.taint_effect.as_str()) || t.key == OLD_KEY
    }

    fn carries_ours(node: &Node, policy: &TaintPolicy) -> bool {
        taints_of(node).iter().any(|t| is_ours(t, policy))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn foreign_taints_survive_every_plan_exactly(cases in proptest::collection::vec(node_case(), 1..12), policy in policy()) {
            let (nodes, samples) = build(&cases, &policy);
            let plan = plan_with(&nodes, &samples, &policy);
            let after = after_writes(&nodes, &plan);
            for (before, after) in nodes.iter().zip(&after) {
                let keep = |n: &Node| taints_of(n).into_iter().filter(|t| !is_ours(t, &policy)).collect::<Vec<_>>();
                prop_assert_eq!(keep(before), keep(after));
            }
            let removed = after_writes(&nodes, &plan_remove_all(&nodes, &policy));
            for (before, after) in nodes.iter().zip(&removed) {
                let keep: Vec<Taint> = taints_of(before).into_iter().filter(|t| !is_ours(t, &policy)).collect();
                prop_assert_eq!(keep, taints_of(after));
            }
        }

        #[test]
        fn the_cap_holds_over_eligible_nodes(cases in proptest::collection::vec(node_case(), 1..12), policy in policy()) {
            let (nodes, samples) = build(&cases, &policy);
            let plan = plan_with(&nodes, &samples, &policy);
            if plan.fail_safe.is_some() {
                prop_assert!(plan.writes.is_empty());
                return Ok(());
            }
            let after = after_writes(&nodes, &plan);
            let tainted_eligible = after
                .iter()
                .filter(|n| decision(&plan, n.metadata.name.as_deref().unwrap()).eligible && carries_ours(n, &policy))
                .count();
            prop_assert!(tainted_eligible <= plan.summary.cap, "{} > cap {}", tainted_eligible, plan.summary.cap);
        }

        #[test]
        fn nothing_flips_inside_the_band_or_when_unknown(cases in proptest::collection::vec(node_case(), 1..12), policy in policy()) {
            let (nodes, samples) = build(&cases, &policy);
            let plan = plan_with(&nodes, &samples, &policy);
            let after = after_writes(&nodes, &plan);
            for (before, after) in nodes.iter().zip(&after) {
                let d = decision(&plan, before.metadata.name.as_deref().unwrap());
                if matches!(d.state, NodeState::Band | NodeState::Unknown) {
                    prop_assert!(carries_ours(before, &policy) || !carries_ours(after, &policy), "{} newly tainted", d.name);
                    if !d.capped {
                        prop_assert!(!carries_ours(before, &policy) || carries_ours(after, &policy), "{} untainted", d.name);
                    }
                }
            }
        }

        #[test]
        fn an_eligible_node_only_we_would_block_stays_open(cases in proptest::collection::vec(node_case(), 1..12), policy in policy()) {
            let (nodes, samples) = build(&cases, &policy);
            let plan = plan_with(&nodes, &samples, &policy);
            let blocks = |t: &Taint| TaintEffect::blocks_scheduling(&t.effect);
            // Eligible nodes that no foreign NoSchedule/NoExecute taint blocks.
            let open_without_us: Vec<Node> = after_writes(&nodes, &plan)
                .into_iter()
                .filter(|n| decision(&plan, n.metadata.name.as_deref().unwrap()).eligible)
                .filter(|n| !taints_of(n).iter().any(|t| !is_ours(t, &policy) && blocks(t)))
                .collect();
            if plan.fail_safe.is_none() && !open_without_us.is_empty() {
                prop_assert!(open_without_us.iter().any(|n| !taints_of(n).iter().any(blocks)));
            }
        }

        #[test]
        fn the_second_plan_on_the_result_is_empty(cases in proptest::collection::vec(node_case(), 1..12), policy in policy()) {
            let (nodes, samples) = build(&cases, &policy);
            let first = plan_with(&nodes, &samples, &policy);
            let after = after_writes(&nodes, &first);
            let second = plan_with(&after, &samples, &policy);
            prop_assert!(second.writes.is_empty(), "{}\n---\n{}", first.render_text(), second.render_text());
        }
    }
}
