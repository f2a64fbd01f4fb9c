//! resize-pods, observing: pods, nodes and namespaces (snapshots or one paged LIST each), HPAs, VPAs,
//! LimitRanges and ResourceQuotas (one LIST each), the server version, and one Prometheus query per signal, read into [`SignalTable`]s.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Node, ResourceQuota};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::controller::context::Tick;
use crate::controller::observe::{log_prometheus_warnings, require_series};
use crate::deadline::Deadline;
use crate::error_chain;
use crate::kube::{self, ApiResource, ListParams};
use crate::log;
use crate::model::node::{ListedNode, fit_only};
use crate::model::pod::Pod;
use crate::prometheus::RangeSpan;
use crate::resize::ResizeSettings;
use crate::resize::long_view;
use crate::resize::overrides::{CPU_REQUEST_ANNOTATION, CPU_THROTTLE_ANNOTATION};
use crate::resize::signals::{
    ContainerQuery, Signal, SignalTable, container_query, query_namespaces, record_sample,
    record_series,
};
use crate::resize::{CpuRequest, ResizePolicy, is_opted_in};

/// The first release with the `resize` subresource.
const RESIZE_SUBRESOURCE_MINOR: u32 = 32;

/// Labels of each namespace, by name: which namespaces opt their pods in.
pub(crate) type NamespaceLabels = HashMap<String, BTreeMap<String, String>>;

/// Every pod bound to a node, from the snapshot or one paged LIST.
pub(in crate::controller) fn read_pods(
    kube: &kube::Client,
    deadline: Deadline,
    snapshot: Option<Vec<Pod>>,
) -> Result<Vec<Pod>> {
    match snapshot {
        Some(pods) => Ok(pods),
        None => {
            // Finished pods hold no node resources, as in the pods binding's field selector.
            let params =
                ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
            kube.list_all::<Pod>(&ApiResource::PODS, None, &params, deadline)
                .context("listing pods")
        }
    }
}

/// The labels of the opted-in namespaces (of every namespace, from a snapshot).
pub(in crate::controller) fn read_namespace_labels(
    kube: &kube::Client,
    deadline: Deadline,
    settings: &ResizeSettings,
    snapshot: Option<Vec<Namespace>>,
) -> Result<NamespaceLabels> {
    let namespaces = match snapshot {
        Some(namespaces) => namespaces,
        None => {
            let (key, value) = &settings.namespace_selector;
            let params = ListParams::default().labels(format!("{key}={value}"));
            kube.list_all::<Namespace>(&ApiResource::NAMESPACES, None, &params, deadline)
                .context("listing opted-in namespaces")?
        }
    };
    Ok(namespaces
        .into_iter()
        .filter_map(|ns| Some((ns.metadata.name?, ns.metadata.labels.unwrap_or_default())))
        .collect())
}

/// Nodes, HPAs, VPAs, LimitRanges, ResourceQuotas and the server's minor version: what decides whether, where
/// and how much pods may grow.
pub(crate) struct Cluster {
    pub nodes: Vec<Node>,
    pub server_minor: u32,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub vpas: Vec<Value>,
    pub limit_ranges: Vec<LimitRange>,
    pub resource_quotas: Vec<ResourceQuota>,
}

/// Reads the [`Cluster`]; an error when the server has no `resize` subresource.
pub(in crate::controller) fn read_cluster(
    kube: &kube::Client,
    deadline: Deadline,
    snapshot_nodes: Option<Vec<Node>>,
) -> Result<Cluster> {
    let nodes: Vec<Node> = match snapshot_nodes {
        Some(nodes) => nodes.into_iter().map(fit_only).collect(),
        None => kube
            .list_all::<ListedNode>(&ApiResource::NODES, None, &ListParams::default(), deadline)
            .context("listing nodes")?
            .into_iter()
            .map(Node::from)
            .collect(),
    };
    let server = kube
        .version(deadline)
        .context("reading the API server version")?;
    if server.minor < RESIZE_SUBRESOURCE_MINOR {
        bail!(
            "the API server is {server}: in-place resize needs the pods/resize subresource of Kubernetes \
             1.{RESIZE_SUBRESOURCE_MINOR}+ (no fallback to patching pods, which would restart nothing and fail)"
        );
    }
    let hpas = kube
        .list_all::<HorizontalPodAutoscaler>(
            &ApiResource::HORIZONTAL_POD_AUTOSCALERS,
            None,
            &ListParams::default(),
            deadline,
        )
        .context("listing HorizontalPodAutoscalers (pods they steer are left alone)")?;
    let vpas = match kube.list_all::<Value>(
        &ApiResource::VERTICAL_POD_AUTOSCALERS,
        None,
        &ListParams::default(),
        deadline,
    ) {
        Ok(vpas) => vpas,
        // No VPA CRD installed: nothing can steer pods that way.
        Err(error) if error.is_not_found() => Vec::new(),
        Err(error) => {
            return Err(error)
                .context("listing VerticalPodAutoscalers (pods they steer are left alone)");
        }
    };
    // Read once, cluster-wide, rather than learning of them from a 403 per refused resize.
    let limit_ranges = kube
        .list_all::<LimitRange>(
            &ApiResource::LIMIT_RANGES,
            None,
            &ListParams::default(),
            deadline,
        )
        .context("listing LimitRanges (resizes are held to what they allow)")?;
    let resource_quotas = kube
        .list_all::<ResourceQuota>(
            &ApiResource::RESOURCE_QUOTAS,
            None,
            &ListParams::default(),
            deadline,
        )
        .context("listing ResourceQuotas (upsizes are held to their headroom)")?;
    Ok(Cluster {
        nodes,
        server_minor: server.minor,
        hpas,
        vpas,
        limit_ranges,
        resource_quotas,
    })
}

/// The CPU and memory tables of the opted-in pods' containers (memory empty when its signal is off).
pub(super) fn read_signals(
    tick: &Tick,
    policy: &ResizePolicy,
    opted_in: &[&Pod],
) -> Result<(SignalTable, SignalTable)> {
    let namespaces = query_namespaces(
        opted_in
            .iter()
            .filter_map(|pod| pod.metadata.namespace.as_deref()),
    );
    let containers: usize = opted_in.iter().map(|pod| container_count(pod)).sum();
    let query = |signal: Signal, max_points: u64| {
        container_query(
            signal,
            &policy.windows,
            namespaces.as_ref(),
            containers,
            max_points,
            tick.now.as_millisecond(),
        )
    };
    // The point budget is an estimate from the opted-in containers: the answer holds every container series
    // of their namespaces, duplicate scrapes included. A range answer over the size limit is asked again as
    // statistics rather than failing every tick.
    let table = |signal: Signal| {
        let first = query(signal, policy.query_max_points);
        match query_table(tick, signal, &first, policy) {
            Err(TableError {
                error,
                answer_too_large: true,
            }) if matches!(first, ContainerQuery::Range(_)) => {
                log::warn(
                    "the range answer is over PROMETHEUS_MAX_RESPONSE_BYTES (x4): asking for the four statistics \
                     instead; lower RESIZE_QUERY_MAX_POINTS to skip the range query",
                    &[
                        ("signal", json!(signal.name())),
                        ("error", json!(error_chain::render_anyhow(&error))),
                    ],
                );
                query_table(tick, signal, &query(signal, 0), policy).map_err(|e| e.error)
            }
            result => result.map_err(|e| e.error),
        }
    };
    let mut cpu = table(Signal::Cpu)?;
    let windows = &policy.windows;
    let asks = cpu_long_asks(policy, opted_in);
    let request_pods = usage_sized_request_pods(policy, opted_in);
    let cpu_long = long_view::cpu_long_query(
        windows,
        namespaces.as_ref(),
        policy.cpu_long_percentile,
        asks,
        request_pods.as_ref(),
    );
    read_long_view(tick, Signal::Cpu, cpu_long, &mut cpu);
    let memory = if policy.memory_enabled {
        let mut memory = table(Signal::Memory)?;
        let memory_long = long_view::memory_long_query(
            windows,
            namespaces.as_ref(),
            policy.memory_long_percentile,
        );
        read_long_view(tick, Signal::Memory, memory_long, &mut memory);
        memory
    } else {
        SignalTable::new()
    };
    Ok((cpu, memory))
}

/// What the CPU long-view query asks for besides the long view: throttling, and the percentile of a usage-sized
/// request, each when the policy or some opted-in pod's annotation wants it. The replay asks the same.
pub(crate) fn cpu_long_asks(policy: &ResizePolicy, opted_in: &[&Pod]) -> long_view::CpuLongAsks {
    long_view::CpuLongAsks {
        throttle: policy.cpu_throttle_percent > 0.0 || any_throttle_override(opted_in),
        request_percentile: (policy.cpu_request == CpuRequest::Usage
            || any_usage_sized_request(opted_in))
        .then_some(policy.cpu_request_percentile),
    }
}

/// Whether some opted-in pod turns throttling on for itself while it is off for all.
fn any_throttle_override(opted_in: &[&Pod]) -> bool {
    any_annotation(opted_in, CPU_THROTTLE_ANNOTATION, |mark| {
        mark.trim_end_matches('%').trim() != "0"
    })
}

/// Whether some opted-in pod sizes its CPU request from usage while the rest keep the ratio.
fn any_usage_sized_request(opted_in: &[&Pod]) -> bool {
    any_annotation(opted_in, CPU_REQUEST_ANNOTATION, |mode| mode == "usage")
}

/// The pods whose CPU request is sized from usage by their own annotation, as (namespace, name); `None` when
/// the policy sizes every pod's so (then every container's percentile is asked for).
fn usage_sized_request_pods<'a>(
    policy: &ResizePolicy,
    opted_in: &[&'a Pod],
) -> Option<BTreeSet<(&'a str, &'a str)>> {
    if policy.cpu_request == CpuRequest::Usage {
        return None;
    }
    Some(
        opted_in
            .iter()
            .filter(|pod| any_usage_sized_request(&[pod]))
            .filter_map(|pod| {
                Some((
                    pod.metadata.namespace.as_deref()?,
                    pod.metadata.name.as_deref()?,
                ))
            })
            .collect(),
    )
}

fn any_annotation(opted_in: &[&Pod], key: &str, wanted: impl Fn(&str) -> bool) -> bool {
    opted_in.iter().any(|pod| {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(key))
            .is_some_and(&wanted)
    })
}

/// Adds the long view (and throttling) to a signal's table. A failed query is a warning, not a failed tick: the
/// containers then have no long view, which holds their scale-downs (never a scale-down on less than it asks for),
/// while scale-ups, which need only the short window, go on.
fn read_long_view(tick: &Tick, signal: Signal, query: Option<String>, table: &mut SignalTable) {
    let Some(query) = query else {
        return;
    };
    let name = signal.name();
    if let Err(error) = query_into(tick, name, "long view", &query, table) {
        log::warn(
            "no long view this tick: scale-downs wait (scale-ups do not); check Prometheus' --query.max-samples \
             and --query.timeout against RESIZE_LONG_WINDOW / RESIZE_LONG_STEP",
            &[
                ("signal", json!(name)),
                ("error", json!(error_chain::render_anyhow(&error))),
                ("query", json!(query)),
            ],
        );
    }
}

/// Evaluates an instant query of tagged statistics (`what`: "long view") into `table`.
pub(super) fn query_into(
    tick: &Tick,
    signal: &str,
    what: &str,
    query: &str,
    table: &mut SignalTable,
) -> Result<()> {
    let answer = tick
        .prometheus()
        .and_then(|prometheus| {
            prometheus
                .query(query, tick.now, &tick.deadline)
                .map_err(anyhow::Error::new)
        })
        .with_context(|| format!("querying Prometheus for the container {signal} {what}"))?;
    log_prometheus_warnings(signal, &answer.warnings);
    answer
        .result
        .vector()
        .and_then(|vector| vector.for_each(|labels, value| record_sample(table, labels, value)))
        .map_err(|error| anyhow!("the container {signal} {what} query answered {error}"))?;
    Ok(())
}

/// Containers of a pod that have a series of their own (sidecars included).
fn container_count(pod: &Pod) -> usize {
    pod.spec.as_ref().map_or(0, |spec| {
        spec.containers.len() + spec.init_containers.as_ref().map_or(0, Vec::len)
    })
}

/// Why a signal's table was not read; an answer over the size limit is told apart, so the caller can ask for less.
struct TableError {
    error: anyhow::Error,
    answer_too_large: bool,
}

impl From<anyhow::Error> for TableError {
    fn from(error: anyhow::Error) -> Self {
        TableError {
            error,
            answer_too_large: false,
        }
    }
}

fn query_table(
    tick: &Tick,
    signal: Signal,
    query: &ContainerQuery,
    policy: &ResizePolicy,
) -> Result<SignalTable, TableError> {
    let name = signal.name();
    let prometheus = tick.prometheus()?;
    let context = || format!("querying Prometheus for container {name}");
    let (table, series, warnings) = match query {
        ContainerQuery::Range(range) => {
            let end =
                Timestamp::from_millisecond(range.end_ms.max(0)).unwrap_or(Timestamp::UNIX_EPOCH);
            let span = RangeSpan {
                start: end - range.range,
                end,
                step: range.step,
            };
            let (table, answer) = prometheus
                .query_range_fold(
                    &range.expression,
                    span,
                    &tick.deadline,
                    SignalTable::new,
                    |table, labels, points| {
                        record_series(table, labels, points, range.end_ms, &policy.windows)
                    },
                )
                .map_err(|error| TableError {
                    answer_too_large: error.is_answer_too_large(),
                    error: anyhow::Error::new(error).context(context()),
                })?;
            (table, answer.series, answer.warnings)
        }
        ContainerQuery::Statistics(expression) => {
            let answer = prometheus
                .query(expression, tick.now, &tick.deadline)
                .with_context(context)?;
            let mut table = SignalTable::new();
            let samples = answer
                .result
                .vector()
                .and_then(|vector| {
                    vector.for_each(|labels, value| record_sample(&mut table, labels, value))
                })
                .map_err(|error| anyhow!("the container {name} query answered {error}"))?;
            (table, samples, answer.warnings)
        }
    };
    log_prometheus_warnings(name, &warnings);
    // Only called with opted-in pods running: an empty answer means the data is missing (cAdvisor not scraped,
    // relabelled, wrong tenant), not that every container is idle. Deciding on it would be deciding blind.
    require_series(
        series,
        &format!("the container {name}"),
        "check that cAdvisor's container metrics are scraped with namespace, pod and container labels (and the \
         tenant header, if any)",
        query.expression(),
    )?;
    Ok(table)
}

/// Pods carrying the pod selector label, or living in a namespace carrying the namespace selector label.
pub(in crate::controller) fn opted_in_pods<'a>(
    all_pods: &'a [Pod],
    namespace_labels: &NamespaceLabels,
    settings: &ResizeSettings,
) -> Vec<&'a Pod> {
    let pod_selector = (
        settings.pod_selector.0.as_str(),
        settings.pod_selector.1.as_str(),
    );
    let namespace_selector = (
        settings.namespace_selector.0.as_str(),
        settings.namespace_selector.1.as_str(),
    );
    all_pods
        .iter()
        .filter(|pod| {
            let namespace = pod
                .metadata
                .namespace
                .as_ref()
                .and_then(|ns| namespace_labels.get(ns.as_str()));
            is_opted_in(pod, namespace, pod_selector, namespace_selector)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opted_in_pods_are_borrowed_not_copied() {
        // Regression (BENCHMARKS.md, memory at scale): the opted-in pods were cloned out of all pods.
        let pod = |name: &str, labels: Value| -> Pod {
            serde_json::from_value(
                json!({"metadata": {"name": name, "namespace": "shop", "labels": labels}}),
            )
            .expect("pod json")
        };
        let all_pods = vec![
            pod("web-1", json!({"kube-thermostat.io/resize": "true"})),
            pod("db-1", json!({})),
        ];
        let settings = ResizeSettings {
            policy: ResizePolicy::default(),
            pod_selector: ("kube-thermostat.io/resize".into(), "true".into()),
            namespace_selector: ("kube-thermostat.io/resize".into(), "true".into()),
        };
        let opted_in = opted_in_pods(&all_pods, &HashMap::new(), &settings);
        assert_eq!(opted_in.len(), 1);
        assert!(std::ptr::eq(opted_in[0], &all_pods[0]));
    }
}
