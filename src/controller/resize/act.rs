//! resize-pods, acting: per pod the resize (if any container changes), our annotation and the Event, each
//! guarded by the resourceVersion read; through [`write_with_rereads`](crate::controller::act::write_with_rereads)
//! a conflict re-reads the pod and decides again for its node.

use std::time::Duration;

use anyhow::anyhow;
use serde_json::json;

use super::observe::{Cluster, opted_in_pods};
use super::observed::{Observed, decide_for};
use super::report::count_resizes;
use super::throttle_guard::read_throttle_guard;
use crate::controller::act::{Attempt, Reread, Rewrite};
use crate::controller::context::Tick;
use crate::events::{EventSpec, Regarding};
use crate::hook::metrics::Metrics;
use crate::kube::{ApiResource, KubeError, ListParams, Patch};
use crate::log;
use crate::model::pod::Pod;
use crate::resize::ResizeSettings;
use crate::resize::patch;
use crate::resize::plan::{PodAction, PodPlan};
use crate::resize::record::LAST_RESIZE_ANNOTATION;
use k8s_openapi::api::core::v1::ResourceQuota;

/// Further tries of a resize the 1.36+ `PodResizeValidator` answered "not yet ready" (its node informer syncing
/// after an API server start). The server waits 10 s itself before so answering (k8s.io/apiserver
/// `admission/handler.go`, `timeToWaitForReady`), so a try can take that long: two more, within the deadline.
const ADMISSION_NOT_READY_RETRIES: usize = 2;
const ADMISSION_NOT_READY_PAUSE: Duration = Duration::from_secs(1);
/// A pod whose resize keeps meeting concurrent changes is left for the next tick after this many re-reads.
pub(super) const CONFLICT_REREADS: usize = 2;

/// Resizes pods for [`write_with_rereads`](crate::controller::act::write_with_rereads).
pub(super) struct PodRewrite<'a> {
    pub settings: &'a ResizeSettings,
    pub tick: &'a Tick,
    pub observed: &'a mut Observed,
    pub metrics: &'a mut Metrics,
}

impl Rewrite for PodRewrite<'_> {
    type Write = PodPlan;
    type Written = ();
    type NotNeeded = ();
    type Fatal = anyhow::Error;

    const KIND: &'static str = "pod";

    fn subject(plan: &PodPlan) -> String {
        format!("{}/{}", plan.namespace, plan.name)
    }

    fn try_write(&mut self, plan: &PodPlan) -> Attempt<Self> {
        match apply_pod(self.tick, plan, self.metrics) {
            Ok(()) => Attempt::Written(()),
            Err(ApplyError::Conflict(error)) => Attempt::Conflict(error),
            Err(ApplyError::Failed(error)) => Attempt::Failed(error),
            Err(ApplyError::Gone) => {
                // Deleted since the snapshot: pods come and go, nothing to do.
                log::info(
                    "pod is gone: nothing to resize",
                    &[("pod", json!(Self::subject(plan)))],
                );
                Attempt::Gone
            }
            // Every other pod would fail the same way: one clear error for the tick.
            Err(ApplyError::NoSubresource(error)) => Attempt::Fatal(anyhow!(
                "PATCH pods/{}/resize answered 404: the API server has no resize subresource (Kubernetes older \
                 than 1.32, or the InPlacePodVerticalScaling gate is off); no pod was resized and none will be \
                 patched directly: {error}",
                plan.name
            )),
        }
    }

    fn reread(&mut self, plan: &PodPlan) -> Reread<Self> {
        let tick = self.tick;
        let fresh = match tick.kube.get::<Pod>(
            &ApiResource::PODS,
            Some(&plan.namespace),
            &plan.name,
            tick.deadline,
        ) {
            Ok(fresh) => fresh,
            Err(error) if error.is_not_found() => return Reread::Gone,
            Err(error) => return Reread::Failed(error),
        };
        let node = fresh.spec.as_ref().and_then(|s| s.node_name.clone());
        replace_pod(&mut self.observed.all_pods, fresh);
        if let Err(error) = reread_quotas(tick, &mut self.observed.cluster, &plan.namespace) {
            return Reread::Failed(error);
        }
        // Its changed spec may make a scale-down of a container whose throttling was not read.
        read_throttle_guard(
            tick,
            self.settings,
            self.observed,
            Some((&plan.namespace, &plan.name)),
        );
        let observed = &*self.observed;
        // Only the pods of its node compete with it for room, and the per-tick cap already let it in: deciding
        // for the whole cluster again would cost a full decision per conflict.
        let neighbours: Vec<&Pod> = opted_in_pods(
            &observed.all_pods,
            &observed.namespace_labels,
            self.settings,
        )
        .into_iter()
        .filter(|pod| pod.spec.as_ref().and_then(|s| s.node_name.as_ref()) == node.as_ref())
        .collect();
        let replan = decide_for(self.settings, observed, &neighbours, tick.now);
        match replan
            .pods
            .into_iter()
            .find(|p| p.namespace == plan.namespace && p.name == plan.name)
        {
            Some(next) => Reread::Decided(next),
            None => Reread::NotNeeded(()),
        }
    }
}

/// The namespace's ResourceQuotas, read again when it has any: the server charged this tick's writes to them as
/// it admitted them, and a decision again from the quotas read at the start would hand out that headroom twice.
fn reread_quotas(tick: &Tick, cluster: &mut Cluster, namespace: &str) -> Result<(), KubeError> {
    let in_namespace = |q: &ResourceQuota| q.metadata.namespace.as_deref() == Some(namespace);
    if !cluster.resource_quotas.iter().any(in_namespace) {
        return Ok(());
    }
    let fresh = tick.kube.list_all::<ResourceQuota>(
        &ApiResource::RESOURCE_QUOTAS,
        Some(namespace),
        &ListParams::default(),
        tick.deadline,
    )?;
    cluster.resource_quotas.retain(|q| !in_namespace(q));
    cluster.resource_quotas.extend(fresh);
    Ok(())
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

/// Whether `error` says the pod itself is not found (rather than its subresource).
fn pod_gone(plan: &PodPlan, error: &KubeError) -> bool {
    error.is_not_found_for(ApiResource::PODS.plural, &plan.name)
}

fn classify(plan: &PodPlan, error: KubeError) -> ApplyError {
    if error.is_conflict() {
        ApplyError::Conflict(error)
    } else if pod_gone(plan, &error) {
        ApplyError::Gone
    } else {
        ApplyError::Failed(error)
    }
}

/// The resize (if any container changes), then our annotation with the resourceVersion the resize answered,
/// then the Event. Both writes carry a resourceVersion precondition. A conflict on the resize leaves nothing
/// written (the caller re-reads and decides again); once the resize is made it must not be decided again.
fn apply_pod(tick: &Tick, plan: &PodPlan, metrics: &mut Metrics) -> Result<(), ApplyError> {
    let mut resource_version = plan.resource_version.clone();
    let mut uid = None;
    let resize = patch::resize_patch(plan).filter(|_| plan.action != PodAction::RecordOnly);
    let resized = resize.is_some();
    if let Some(body) = resize {
        let answer = resize_pod(tick, plan, &Patch::Strategic(body))?;
        count_resizes(plan, "false", metrics);
        resource_version = answer.metadata.resource_version.map(String::from);
        uid = answer.metadata.uid.map(String::from);
        log_resized(plan, answer.metadata.generation);
    }
    let annotated = match annotate(tick, plan, resized, resource_version) {
        Ok(pod) => pod,
        Err(error) if !resized || pod_gone(plan, &error) => return Err(classify(plan, error)),
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
            post_event(tick, plan, uid);
            return Err(ApplyError::Failed(error));
        }
    };
    post_event(tick, plan, uid.or(annotated.metadata.uid.map(String::from)));
    Ok(())
}

/// The resize through `pods/{name}/resize`. A refusal the server would repeat every tick records a back-off.
fn resize_pod(tick: &Tick, plan: &PodPlan, body: &Patch) -> Result<Pod, ApplyError> {
    match patch_resize(tick, plan, body) {
        Ok(answer) => Ok(answer),
        // Transient, or about the node rather than the resize: reported, never backed off, tried again next
        // tick.
        Err(error) if error.is_admission_not_ready() || error.is_admission_node_not_found() => {
            Err(ApplyError::Failed(error))
        }
        Err(error) if error.is_not_found() && !pod_gone(plan, &error) => {
            Err(ApplyError::NoSubresource(error))
        }
        // A resize or withdrawal the server refuses would be refused again every tick: record a back-off
        // (best effort) and report the refusal. A withdrawal's record carries its back-off already. Not for
        // missing RBAC: once the ClusterRole is fixed the next tick should succeed, not wait out a back-off.
        Err(error)
            if error.is_invalid() || (error.is_forbidden() && !error.is_denied_by_rbac()) =>
        {
            record_back_off(tick, plan);
            Err(ApplyError::Failed(error))
        }
        Err(error) => Err(classify(plan, error)),
    }
}

/// The resize PATCH, tried again while the resize admission is not ready yet and the deadline allows.
fn patch_resize(tick: &Tick, plan: &PodPlan, body: &Patch) -> Result<Pod, KubeError> {
    let mut not_ready_retries = 0;
    loop {
        let answer = tick.kube.patch::<Pod>(
            &ApiResource::PODS,
            Some(&plan.namespace),
            &plan.name,
            Some("resize"),
            body,
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
            answer => return answer,
        }
    }
}

/// Records the back-off of a refused resize or withdrawal on the pod, as read (best effort: logged).
fn record_back_off(tick: &Tick, plan: &PodPlan) {
    let record = match plan.action {
        PodAction::Withdraw => Some(plan.record.as_str()),
        _ => plan.record_if_refused.as_deref(),
    };
    let Some(record) = record else { return };
    let body = patch::record_patch(plan, record, plan.resource_version.as_deref());
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

/// Our annotation, guarded by `resource_version`. After a resize, a conflict re-reads the pod's
/// resourceVersion and tries again.
fn annotate(
    tick: &Tick,
    plan: &PodPlan,
    resized: bool,
    mut resource_version: Option<String>,
) -> Result<Pod, KubeError> {
    let mut rereads = 0;
    loop {
        let annotation = patch::annotation_patch(plan, resource_version.as_deref());
        match tick.kube.patch::<Pod>(
            &ApiResource::PODS,
            Some(&plan.namespace),
            &plan.name,
            None,
            &Patch::Merge(annotation),
            tick.deadline,
        ) {
            Ok(pod) => return Ok(pod),
            // The kubelet writes the pod's status as soon as it sees a resize, often before our
            // annotation lands: the record of what was just done still has to be written.
            Err(error) if resized && error.is_conflict() && rereads < CONFLICT_REREADS => {
                rereads += 1;
                let fresh = tick.kube.get::<Pod>(
                    &ApiResource::PODS,
                    Some(&plan.namespace),
                    &plan.name,
                    tick.deadline,
                )?;
                resource_version = fresh.metadata.resource_version.map(String::from);
            }
            Err(error) => return Err(error),
        }
    }
}

/// One line per changed resource, with the pod's generation the resize answered: the one the kubelet's
/// `observedGeneration` must reach (1.34+) before the resize counts as seen.
fn log_resized(plan: &PodPlan, generation: Option<i64>) {
    let generation = json!(generation);
    for change in &plan.pod_level {
        log::info(
            &format!(
                "pod {}/{}: resized pod-level {}",
                plan.namespace,
                plan.name,
                change.resource.name()
            ),
            &[
                ("from", json!(change.from)),
                ("to", json!(change.to)),
                ("why", json!(change.why)),
                ("generation", generation.clone()),
            ],
        );
    }
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
                    ("generation", generation.clone()),
                ],
            );
        }
    }
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
            type_: event.type_,
            action: event.action,
        };
        tick.post_event(&spec);
    }
}

fn replace_pod(pods: &mut [Pod], pod: Pod) {
    if let Some(slot) = pods.iter_mut().find(|p| {
        p.metadata.namespace == pod.metadata.namespace && p.metadata.name == pod.metadata.name
    }) {
        *slot = pod;
    }
}
