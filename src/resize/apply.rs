//! resize-pods, the imperative shell: gather pods, nodes and namespaces (snapshots or one paged LIST each),
//! HPAs and VPAs (one LIST each), the server version, one Prometheus query per signal; decide (pure); then per
//! pod a guarded resize through `pods/{name}/resize`, our annotation, and an Event.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Node, NodeStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::{Value, json};

use super::decide::{NoteKind, PodAction, PodPlan, ResizeInput, ResizePlan};
use super::pod::Pod;
use super::record::LAST_RESIZE_ANNOTATION;
use super::signals::{
    ContainerQuery, Signal, SignalTable, container_query, query_namespaces, record_sample,
    record_series,
};
use super::{ResizePolicy, ResizeSettings, decide_resizes, is_opted_in, patch};
use crate::events::{EventSpec, Regarding};
use crate::hook::binding_context::Snapshots;
use crate::hook::metrics::Metrics;
use crate::kube::{ApiResource, KubeError, ListParams, Patch};
use crate::log;
use crate::prometheus::{AnswerTooLarge, RangeSpan};
use crate::tick::{ControllerOutcome, RunOptions, Tick};

/// A pod whose resize keeps meeting concurrent changes is left for the next tick after this many re-reads.
const CONFLICT_REREADS: usize = 2;
/// The first release with the `resize` subresource.
const RESIZE_SUBRESOURCE_MINOR: u32 = 32;
/// Further tries of a resize the 1.36+ `PodResizeValidator` answered "not yet ready" (its node informer syncing
/// after an API server start). The server waits 10 s itself before so answering (k8s.io/apiserver
/// `admission/handler.go`, `timeToWaitForReady`), so a try can take that long: two more, within the deadline.
const ADMISSION_NOT_READY_RETRIES: usize = 2;
const ADMISSION_NOT_READY_PAUSE: Duration = Duration::from_secs(1);

/// One resize-pods tick. Errors mean nothing was written.
pub fn run(
    tick: &Tick,
    settings: &ResizeSettings,
    snapshots: Snapshots,
    options: RunOptions,
    metrics: &mut Metrics,
) -> Result<ControllerOutcome> {
    let deadline = tick.deadline;
    let mut all_pods = match snapshots.pods {
        Some(pods) => pods,
        None => {
            // Finished pods hold no node resources, as in the pods binding's field selector.
            let params =
                ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
            tick.kube
                .list_all::<Pod>(&ApiResource::PODS, None, &params, deadline)
                .context("listing pods")?
        }
    };
    let namespace_labels = match snapshots.namespaces {
        Some(namespaces) => labels_by_name(namespaces),
        None => {
            let (key, value) = &settings.namespace_selector;
            let params = ListParams::default().labels(format!("{key}={value}"));
            let namespaces = tick
                .kube
                .list_all::<Namespace>(&ApiResource::NAMESPACES, None, &params, deadline)
                .context("listing opted-in namespaces")?;
            labels_by_name(namespaces)
        }
    };

    let opted_in = opted_in_pods(&all_pods, &namespace_labels, settings);
    report_resize_progress(&opted_in, metrics);
    if opted_in.is_empty() {
        let (pod_key, pod_value) = &settings.pod_selector;
        let (ns_key, ns_value) = &settings.namespace_selector;
        return Ok(ControllerOutcome {
            plan_text: format!(
                "no pod opted in (label {pod_key}={pod_value} on a pod or on its namespace {ns_key}={ns_value})\n"
            ),
            plan_json: json!({"pods": [], "notes": []}),
            ..ControllerOutcome::default()
        });
    }

    let nodes: Vec<Node> = match snapshots.nodes {
        Some(nodes) => nodes.into_iter().map(fit_only).collect(),
        None => tick
            .kube
            .list_all::<ListedNode>(&ApiResource::NODES, None, &ListParams::default(), deadline)
            .context("listing nodes")?
            .into_iter()
            .map(Node::from)
            .collect(),
    };
    let server = tick
        .kube
        .version(deadline)
        .context("reading the API server version")?;
    if server.minor < RESIZE_SUBRESOURCE_MINOR {
        bail!(
            "the API server is {server}: in-place resize needs the pods/resize subresource of Kubernetes \
             1.{RESIZE_SUBRESOURCE_MINOR}+ (no fallback to patching pods, which would restart nothing and fail)"
        );
    }
    let hpas = tick
        .kube
        .list_all::<HorizontalPodAutoscaler>(
            &ApiResource::HORIZONTAL_POD_AUTOSCALERS,
            None,
            &ListParams::default(),
            deadline,
        )
        .context("listing HorizontalPodAutoscalers (pods they steer are left alone)")?;
    let vpas = match tick.kube.list_all::<Value>(
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

    let policy = &settings.policy;
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
            Err(error)
                if matches!(first, ContainerQuery::Range(_))
                    && error.chain().any(|cause| cause.is::<AnswerTooLarge>()) =>
            {
                log::warn(
                    "the range answer is over PROMETHEUS_MAX_RESPONSE_BYTES (x4): asking for the four statistics \
                     instead; lower RESIZE_QUERY_MAX_POINTS to skip the range query",
                    &[
                        ("signal", json!(signal.name())),
                        ("error", json!(format!("{error:#}"))),
                    ],
                );
                query_table(tick, signal, &query(signal, 0), policy)
            }
            result => result,
        }
    };
    let cpu = table(Signal::Cpu)?;
    let memory = if policy.memory_enabled {
        table(Signal::Memory)?
    } else {
        SignalTable::new()
    };

    // "Kept" notes are shown only in a printed plan, shadow mode's log and debug logs.
    let explain_unchanged =
        options.plan_as_text || options.plan_as_json || log::enabled(log::Level::Debug);
    let decide = |opted_in: &[&Pod], all_pods: &[Pod]| {
        let input = ResizeInput {
            pods: opted_in,
            nodes: &nodes,
            all_pods,
            hpas: &hpas,
            vpas: &vpas,
            server_minor: server.minor,
            cpu: &cpu,
            memory: &memory,
            explain_unchanged,
        };
        decide_resizes(&input, policy, tick.now)
    };
    let plan = decide(&opted_in, &all_pods);
    let mut outcome = ControllerOutcome::showing(&options, &plan, |plan| plan.to_string());
    report_plan(&plan, options.dry_run, metrics);
    if options.dry_run {
        // The whole plan, notes included, is printed or logged by the tick.
        return Ok(outcome);
    }
    log_notes(&plan);

    for pod_plan in &plan.pods {
        let mut pod_plan = pod_plan.clone();
        let mut rereads = 0;
        loop {
            match apply_pod(tick, &pod_plan, metrics) {
                Ok(()) => {
                    outcome.changed += 1;
                    break;
                }
                Err(ApplyError::Conflict(error)) if rereads < CONFLICT_REREADS => {
                    rereads += 1;
                    outcome.conflicts += 1;
                    log::info(
                        "pod changed since read: re-reading and deciding again",
                        &[
                            (
                                "pod",
                                json!(format!("{}/{}", pod_plan.namespace, pod_plan.name)),
                            ),
                            ("error", json!(error.to_string())),
                        ],
                    );
                    let fresh = match tick.kube.get::<Pod>(
                        &ApiResource::PODS,
                        Some(&pod_plan.namespace),
                        &pod_plan.name,
                        deadline,
                    ) {
                        Ok(fresh) => fresh,
                        Err(error) if error.is_not_found() => break,
                        Err(error) => {
                            outcome.failures.push(format!(
                                "pod {}/{}: {error}",
                                pod_plan.namespace, pod_plan.name
                            ));
                            break;
                        }
                    };
                    let node = fresh.spec.as_ref().and_then(|s| s.node_name.clone());
                    replace_pod(&mut all_pods, fresh);
                    // Only the pods of its node compete with it for room, and the per-tick cap already let it
                    // in: deciding for the whole cluster again would cost a full decision per conflict.
                    let neighbours: Vec<&Pod> =
                        opted_in_pods(&all_pods, &namespace_labels, settings)
                            .into_iter()
                            .filter(|pod| {
                                pod.spec.as_ref().and_then(|s| s.node_name.as_ref())
                                    == node.as_ref()
                            })
                            .collect();
                    let replan = decide(&neighbours, &all_pods);
                    match replan
                        .pods
                        .into_iter()
                        .find(|p| p.namespace == pod_plan.namespace && p.name == pod_plan.name)
                    {
                        Some(next) => pod_plan = next,
                        None => break,
                    }
                }
                Err(ApplyError::Conflict(error) | ApplyError::Failed(error)) => {
                    outcome.failures.push(format!(
                        "pod {}/{}: {error}",
                        pod_plan.namespace, pod_plan.name
                    ));
                    break;
                }
                Err(ApplyError::Gone) => {
                    // Deleted since the snapshot: pods come and go, nothing to do.
                    log::info(
                        "pod is gone: nothing to resize",
                        &[(
                            "pod",
                            json!(format!("{}/{}", pod_plan.namespace, pod_plan.name)),
                        )],
                    );
                    break;
                }
                Err(ApplyError::NoSubresource(error)) => {
                    // Every other pod would fail the same way: one clear error for the tick.
                    return Err(anyhow!(
                        "PATCH pods/{}/resize answered 404: the API server has no resize subresource (Kubernetes older \
                         than 1.32, or the InPlacePodVerticalScaling gate is off); no pod was resized and none will be \
                         patched directly: {error}",
                        pod_plan.name
                    ));
                }
            }
        }
    }
    Ok(outcome)
}

enum ApplyError {
    /// 409 / failed precondition: the pod changed since read.
    Conflict(KubeError),
    /// A 404 on the subresource while the pod exists.
    NoSubresource(KubeError),
    /// The pod itself is not found: deleted since it was read.
    Gone,
    Failed(KubeError),
}

/// The resize (if any container changes), then our annotation with the resourceVersion the resize answered,
/// then the Event. Both writes carry a resourceVersion precondition. A conflict on the resize leaves nothing
/// written (the caller re-reads and decides again); once the resize is made it must not be decided again.
fn apply_pod(tick: &Tick, plan: &PodPlan, metrics: &mut Metrics) -> Result<(), ApplyError> {
    let pod_gone = |error: &KubeError| {
        error.is_not_found()
            && error
                .to_string()
                .contains(&format!("pods \"{}\" not found", plan.name))
    };
    let classify = |error: KubeError| {
        if error.is_conflict() {
            ApplyError::Conflict(error)
        } else if pod_gone(&error) {
            ApplyError::Gone
        } else {
            ApplyError::Failed(error)
        }
    };
    let mut resource_version = plan.resource_version.clone();
    let mut uid = None;
    let mut resized = false;
    if let Some(body) = patch::resize_patch(plan).filter(|_| plan.action != PodAction::RecordOnly) {
        let body = Patch::Strategic(body);
        let mut not_ready_retries = 0;
        let answer = loop {
            let answer = tick.kube.patch::<Pod>(
                &ApiResource::PODS,
                Some(&plan.namespace),
                &plan.name,
                Some("resize"),
                &body,
                tick.deadline,
            );
            match answer {
                Err(error)
                    if error.is_admission_not_ready()
                        && not_ready_retries < ADMISSION_NOT_READY_RETRIES
                        && tick.deadline.remaining() > ADMISSION_NOT_READY_PAUSE =>
                {
                    not_ready_retries += 1;
                    log::info(
                        &format!(
                            "pod {}/{}: resize admission not ready yet, trying again",
                            plan.namespace, plan.name
                        ),
                        &[("error", json!(error.to_string()))],
                    );
                    std::thread::sleep(ADMISSION_NOT_READY_PAUSE);
                }
                answer => break answer,
            }
        };
        let answer: Pod = match answer {
            Ok(answer) => answer,
            // Transient, or about the node rather than the resize: reported, never backed off, tried again next
            // tick.
            Err(error) if error.is_admission_not_ready() || error.is_admission_node_not_found() => {
                return Err(ApplyError::Failed(error));
            }
            Err(error) if error.is_not_found() && !pod_gone(&error) => {
                return Err(ApplyError::NoSubresource(error));
            }
            // A resize or withdrawal the server refuses would be refused again every tick: record a back-off
            // (best effort) and report the refusal. A withdrawal's record carries its back-off already. Not for
            // missing RBAC: once the ClusterRole is fixed the next tick should succeed, not wait out a back-off.
            Err(error)
                if error.is_invalid() || (error.is_forbidden() && !error.is_denied_by_rbac()) =>
            {
                let record = match plan.action {
                    PodAction::Withdraw => Some(plan.record.as_str()),
                    _ => plan.record_if_refused.as_deref(),
                };
                if let Some(record) = record {
                    let body = patch::record_patch(plan, record, resource_version.as_deref());
                    if let Err(record_error) = tick.kube.patch::<Pod>(
                        &ApiResource::PODS,
                        Some(&plan.namespace),
                        &plan.name,
                        None,
                        &Patch::Merge(body),
                        tick.deadline,
                    ) {
                        log::warn(
                            &format!(
                                "pod {}/{}: resize refused, and recording its back-off in {LAST_RESIZE_ANNOTATION} failed",
                                plan.namespace, plan.name
                            ),
                            &[("error", json!(record_error.to_string()))],
                        );
                    }
                }
                return Err(ApplyError::Failed(error));
            }
            Err(error) => return Err(classify(error)),
        };
        resized = true;
        count_resizes(plan, "false", metrics);
        resource_version = answer.metadata.resource_version.map(String::from);
        uid = answer.metadata.uid.map(String::from);
        for container in &plan.containers {
            for change in &container.changes {
                log::info(
                    &format!(
                        "pod {}/{}: resized {} {}",
                        plan.namespace,
                        plan.name,
                        container.name,
                        change.resource.name()
                    ),
                    &[
                        ("from", json!(change.from)),
                        ("to", json!(change.to)),
                        ("why", json!(change.why)),
                    ],
                );
            }
        }
    }
    let mut rereads = 0;
    let annotated = loop {
        let annotation = patch::annotation_patch(plan, resource_version.as_deref());
        match tick.kube.patch::<Pod>(
            &ApiResource::PODS,
            Some(&plan.namespace),
            &plan.name,
            None,
            &Patch::Merge(annotation),
            tick.deadline,
        ) {
            Ok(pod) => break Ok(pod),
            // The kubelet writes the pod's status as soon as it sees a resize, often before our
            // annotation lands: the record of what was just done still has to be written.
            Err(error) if resized && error.is_conflict() && rereads < CONFLICT_REREADS => {
                rereads += 1;
                match tick.kube.get::<Pod>(
                    &ApiResource::PODS,
                    Some(&plan.namespace),
                    &plan.name,
                    tick.deadline,
                ) {
                    Ok(fresh) => {
                        resource_version = fresh.metadata.resource_version.map(String::from)
                    }
                    Err(error) => break Err(error),
                }
            }
            Err(error) => break Err(error),
        }
    };
    let annotated = match annotated {
        Ok(pod) => Some(pod),
        Err(error) if !resized || pod_gone(&error) => return Err(classify(error)),
        // Resized: report the failure (a lost record loses the cooldown) but never decide this pod again
        // in this tick, and still say on the pod what was done.
        Err(error) => {
            log::warn(
                &format!(
                    "pod {}/{}: resized, but recording it in {LAST_RESIZE_ANNOTATION} failed",
                    plan.namespace, plan.name
                ),
                &[("error", json!(error.to_string()))],
            );
            post_event(tick, plan, uid.clone());
            return Err(ApplyError::Failed(error));
        }
    };
    post_event(
        tick,
        plan,
        uid.or(annotated.and_then(|pod| pod.metadata.uid.map(String::from))),
    );
    Ok(())
}

fn post_event(tick: &Tick, plan: &PodPlan, uid: Option<String>) {
    if let Some(event) = &plan.event {
        let spec = EventSpec {
            regarding: Regarding {
                kind: "Pod",
                namespace: Some(plan.namespace.clone()),
                name: plan.name.clone(),
                uid,
                resource_version: None,
            },
            reason: event.reason.clone(),
            note: event.note.clone(),
            type_: if event.type_ == "Warning" {
                "Warning"
            } else {
                "Normal"
            },
            action: "Resize",
        };
        tick.post_event(&spec);
    }
}

/// A Node as the fit check reads it: its name and allocatable resources. Snapshot nodes also carry what
/// taint-nodes reads, LIST items images, conditions and more (~10 KB a node): 5,000 of them held through the
/// decision cost more than its plan.
fn fit_only(node: Node) -> Node {
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
struct ListedNode {
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

/// Containers of a pod that have a series of their own (sidecars included).
fn container_count(pod: &Pod) -> usize {
    pod.spec.as_ref().map_or(0, |spec| {
        spec.containers.len() + spec.init_containers.as_ref().map_or(0, Vec::len)
    })
}

fn query_table(
    tick: &Tick,
    signal: Signal,
    query: &ContainerQuery,
    policy: &ResizePolicy,
) -> Result<SignalTable> {
    let name = signal.name();
    let prometheus = tick.prometheus()?;
    let context = || format!("querying Prometheus for container {name}");
    let (table, series, warnings) = match query {
        ContainerQuery::Range(range) => {
            let end = std::time::UNIX_EPOCH + Duration::from_millis(range.end_ms.max(0) as u64);
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
                .with_context(context)?;
            (table, answer.series, answer.warnings)
        }
        ContainerQuery::Statistics(expression) => {
            let answer = prometheus
                .query(expression, tick.now_system_time(), &tick.deadline)
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
    for warning in &warnings {
        log::warn(
            "Prometheus warning",
            &[("signal", json!(name)), ("warning", json!(warning))],
        );
    }
    // Only called with opted-in pods running: an empty answer means the data is missing (cAdvisor not scraped,
    // relabelled, wrong tenant), not that every container is idle. Deciding on it would be deciding blind.
    if series == 0 {
        bail!(
            "the container {name} query returned no series at all (no writes made): check that cAdvisor's \
             container metrics are scraped with namespace, pod and container labels (and the tenant header, if \
             any); query: {}",
            query.expression()
        );
    }
    Ok(table)
}

fn labels_by_name(namespaces: Vec<Namespace>) -> HashMap<String, BTreeMap<String, String>> {
    namespaces
        .into_iter()
        .filter_map(|ns| Some((ns.metadata.name?, ns.metadata.labels.unwrap_or_default())))
        .collect()
}

/// Pods carrying the pod selector label, or living in a namespace carrying the namespace selector label.
fn opted_in_pods<'a>(
    all_pods: &'a [Pod],
    namespace_labels: &HashMap<String, BTreeMap<String, String>>,
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

fn replace_pod(pods: &mut [Pod], pod: Pod) {
    if let Some(slot) = pods.iter_mut().find(|p| {
        p.metadata.namespace == pod.metadata.namespace && p.metadata.name == pod.metadata.name
    }) {
        *slot = pod;
    }
}

/// Resizes the kubelet has not finished, by condition, from the pods as read (before this tick's writes).
fn report_resize_progress(pods: &[&Pod], metrics: &mut Metrics) {
    let mut pending: BTreeMap<&str, usize> = ["Deferred", "Infeasible", "InProgress", "Error"]
        .into_iter()
        .map(|r| (r, 0))
        .collect();
    for pod in pods {
        for condition in pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
        {
            // A condition about an older generation (e.g. a resize we withdrew) is no longer pending.
            let stale = matches!(
                (condition.observed_generation, pod.metadata.generation),
                (Some(observed), Some(generation)) if observed < generation
            );
            if condition.status != "True" || stale {
                continue;
            }
            let reason = condition.reason.as_deref().unwrap_or_default();
            let key = match (condition.type_.as_str(), reason) {
                ("PodResizePending", "Infeasible") => "Infeasible",
                ("PodResizePending", _) => "Deferred",
                ("PodResizeInProgress", "Error") => "Error",
                ("PodResizeInProgress", _) => "InProgress",
                _ => continue,
            };
            *pending.entry(key).or_default() += 1;
        }
    }
    for (reason, count) in pending {
        metrics.gauge("resizes_pending", count as f64, &[("reason", reason)]);
    }
}

/// Why pods and containers were left alone, so a hook's logs answer "why was my pod not resized?".
/// Skips, follow-ups and warnings are few (opted-in pods only); "unchanged" covers every quiet container,
/// so it is debug.
fn log_notes(plan: &ResizePlan) {
    for note in &plan.notes {
        let mut subject = format!("{}/{}", note.namespace, note.pod);
        if let Some(container) = &note.container {
            subject.push('/');
            subject.push_str(container);
        }
        if let Some(resource) = note.resource {
            subject.push(' ');
            subject.push_str(resource.name());
        }
        let fields = [("reason", json!(note.reason))];
        match note.kind {
            NoteKind::Skipped => log::info(&format!("skipped {subject}"), &fields),
            NoteKind::FollowUp => log::info(&format!("follow-up on {subject}"), &fields),
            NoteKind::Warning => log::warn(&format!("problem with {subject}"), &fields),
            NoteKind::Unchanged => log::debug(&format!("kept {subject}"), &fields),
        }
    }
}

/// `resizes_total` for the load-driven changes of one pod (withdrawals are not resizes).
fn count_resizes(pod: &PodPlan, dry_run: &str, metrics: &mut Metrics) {
    if pod.action != PodAction::Resize {
        return;
    }
    for container in &pod.containers {
        for change in &container.changes {
            metrics.counter(
                "resizes_total",
                1.0,
                &[
                    ("resource", change.resource.name()),
                    ("direction", &change.direction.to_string()),
                    ("dry_run", dry_run),
                ],
            );
        }
    }
}

fn report_plan(plan: &ResizePlan, dry_run: bool, metrics: &mut Metrics) {
    let dry = if dry_run { "true" } else { "false" };
    // Every series at 0 first: one must exist before its first resize for `increase()` to see that resize.
    for resource in ["cpu", "memory"] {
        for direction in ["up", "down"] {
            metrics.counter(
                "resizes_total",
                0.0,
                &[
                    ("resource", resource),
                    ("direction", direction),
                    ("dry_run", dry),
                ],
            );
        }
    }
    let mut decisions: BTreeMap<String, usize> = BTreeMap::new();
    for pod in &plan.pods {
        for container in &pod.containers {
            for change in &container.changes {
                let direction = change.direction.to_string();
                let decision = if pod.action == PodAction::Withdraw {
                    "withdraw".to_owned()
                } else {
                    direction.clone()
                };
                *decisions.entry(decision).or_default() += 1;
            }
        }
        if dry_run {
            // Shadow mode counts what it would do; a real tick counts each resize once the PATCH succeeded.
            count_resizes(pod, dry, metrics);
        }
    }
    for note in &plan.notes {
        let decision = match note.kind {
            NoteKind::Skipped => "skipped",
            NoteKind::FollowUp => "follow-up",
            // Counted whether or not each has its note.
            NoteKind::Unchanged | NoteKind::Warning => continue,
        };
        *decisions.entry(decision.to_owned()).or_default() += 1;
    }
    if plan.unchanged > 0 {
        decisions.insert("none".to_owned(), plan.unchanged);
    }
    for (decision, count) in decisions {
        metrics.gauge(
            "containers",
            count as f64,
            &[("decision", &decision), ("dry_run", dry)],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_keep_only_what_the_fit_check_reads_and_fit_the_same() {
        let item = json!({
            "metadata": {"name": "node-1", "labels": {"zone": "a"}, "annotations": {"x": "y"}},
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {
                "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110"},
                "capacity": {"cpu": "4", "memory": "16Gi"},
                "images": [{"names": ["example.com/app:1.0"], "sizeBytes": 1}],
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        });
        let full: Node = serde_json::from_value(item.clone()).expect("node");
        let listed: Node = serde_json::from_value::<ListedNode>(item)
            .expect("listed")
            .into();
        let from_snapshot = fit_only(full.clone());
        for slim in [&listed, &from_snapshot] {
            assert_eq!(slim.metadata.name.as_deref(), Some("node-1"));
            assert_eq!(
                crate::resize::fit::allocatable(slim),
                crate::resize::fit::allocatable(&full)
            );
            assert!(slim.spec.is_none() && slim.metadata.labels.is_none());
            assert!(
                slim.status
                    .as_ref()
                    .is_some_and(|s| s.images.is_none() && s.capacity.is_none())
            );
        }
        assert_eq!(listed, from_snapshot);
    }

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
