//! resize-pods, the imperative shell: observe ([`observe`]: pods, nodes, namespaces, autoscalers, the server
//! version, one Prometheus query per signal, into `observed::Observed`; then `throttle_guard`, for the
//! containers a first decision would scale down), decide (pure, [`crate::resize`]), act
//! ([`act`]: per pod a guarded resize through `pods/{name}/resize`, our annotation, and an Event), report
//! ([`report`]: metrics, notes).

mod act;
pub(super) mod observe;
pub(super) mod observed;
mod report;
mod throttle_guard;

use anyhow::Result;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use self::act::{CONFLICT_REREADS, PodRewrite};
use self::observe::opted_in_pods;
use self::observed::{Observed, decide_for};
use self::report::{log_notes, report_plan, report_resize_progress};
use crate::controller::act::write_with_rereads;
use crate::controller::context::Tick;
use crate::controller::outcome::{Outcome, RunOptions};
use crate::controller::reconcile::{Observation, Reconcile};
use crate::hook::binding_context::Snapshots;
use crate::hook::metrics::Metrics;
use crate::log;
use crate::resize::ResizePlan;
use crate::resize::ResizeSettings;

/// The resize-pods controller, configured for one run.
pub(crate) struct ResizePods<'a> {
    settings: &'a ResizeSettings,
    options: RunOptions,
}

impl<'a> ResizePods<'a> {
    pub(crate) fn new(settings: &'a ResizeSettings, options: RunOptions) -> ResizePods<'a> {
        ResizePods { settings, options }
    }

    /// What a tick reports when no pod opted in: nothing else is read.
    fn nobody_opted_in(&self) -> Outcome {
        let (pod_key, pod_value) = &self.settings.pod_selector;
        let (ns_key, ns_value) = &self.settings.namespace_selector;
        Outcome {
            plan_text: format!(
                "no pod opted in (label {pod_key}={pod_value} on a pod or on its namespace {ns_key}={ns_value})\n"
            ),
            plan_json: json!({"pods": [], "notes": []}),
            ..Outcome::default()
        }
    }
}

impl Reconcile for ResizePods<'_> {
    type Observed = Observed;
    type Plan = ResizePlan;

    /// Errors mean nothing was written.
    fn observe(
        &self,
        tick: &Tick,
        snapshots: Snapshots,
        metrics: &mut Metrics,
    ) -> Result<Observation<Observed>> {
        let all_pods = observe::read_pods(&tick.kube, tick.deadline, snapshots.pods)?;
        let namespace_labels = observe::read_namespace_labels(
            &tick.kube,
            tick.deadline,
            self.settings,
            snapshots.namespaces,
        )?;
        let opted_in = opted_in_pods(&all_pods, &namespace_labels, self.settings);
        report_resize_progress(&opted_in, metrics);
        if opted_in.is_empty() {
            return Ok(Observation::Settled(self.nobody_opted_in()));
        }
        let cluster = observe::read_cluster(&tick.kube, tick.deadline, snapshots.nodes)?;
        let (cpu, memory) = observe::read_signals(tick, &self.settings.policy, &opted_in)?;
        let explain_unchanged = self.options.plan_as_text
            || self.options.plan_as_json
            || log::enabled(log::Level::Debug);
        let mut observed = Observed {
            all_pods,
            namespace_labels,
            cluster,
            cpu,
            memory,
            explain_unchanged,
            reserved: None,
            throttle_guarded: Default::default(),
        };
        throttle_guard::read_throttle_guard(tick, self.settings, &mut observed, None);
        Ok(Observation::Ready(observed))
    }

    fn decide(&self, observed: &Observed, now: Timestamp) -> ResizePlan {
        let opted_in = opted_in_pods(
            &observed.all_pods,
            &observed.namespace_labels,
            self.settings,
        );
        decide_for(self.settings, observed, &opted_in, now)
    }

    fn act(
        &self,
        tick: &Tick,
        mut observed: Observed,
        plan: ResizePlan,
        metrics: &mut Metrics,
    ) -> Result<Outcome> {
        let mut outcome = Outcome::showing(&self.options, &plan, |plan| plan.to_string());
        report_plan(&plan, self.options.dry_run, metrics);
        if self.options.dry_run {
            // The whole plan, notes included, is printed or logged by the tick.
            return Ok(outcome);
        }
        log_notes(&plan);
        let mut rewrite = PodRewrite {
            settings: self.settings,
            tick,
            observed: &mut observed,
            metrics,
        };
        for pod_plan in &plan.pods {
            write_with_rereads(
                &mut rewrite,
                pod_plan.clone(),
                CONFLICT_REREADS,
                &mut outcome,
            )?;
        }
        Ok(outcome)
    }
}
