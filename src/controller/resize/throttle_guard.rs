//! resize-pods, the throttling guard: whether the limit throttled a container within the long window, read
//! after a first decision and only for the containers it would scale down. Asked for every container, the guard
//! was most of the long view's Prometheus time (BENCHMARKS.md, "The long view"); a scale-down is rare, and the
//! guard can only hold one ([`crate::resize::cpu_scale_downs`]), so the plan is the same.

use std::collections::BTreeSet;

use serde_json::json;

use super::observe::{cpu_long_asks, opted_in_pods, query_into};
use super::observed::{Observed, cpu_scale_downs_for};
use crate::controller::context::Tick;
use crate::error_chain;
use crate::log;
use crate::resize::ResizeSettings;
use crate::resize::long_view::throttle_guard_query;
use crate::resize::signals::{ContainerKey, SignalTable};

const MAX_LOGGED_ERROR_CHARS: usize = 2000;

/// Adds `throttled_long` to the CPU table for the containers the tick would scale down (of the pod `only`, after
/// a conflict re-read it), unless already read. A failed query holds those scale-downs (with the long view off
/// too), and is a warning, not a failed tick.
pub(super) fn read_throttle_guard(
    tick: &Tick,
    settings: &ResizeSettings,
    observed: &mut Observed,
    only: Option<(&str, &str)>,
) {
    let candidates: Vec<ContainerKey> = {
        let all_opted_in = opted_in_pods(&observed.all_pods, &observed.namespace_labels, settings);
        if !cpu_long_asks(&settings.policy, &all_opted_in).throttle {
            return;
        }
        let pods: Vec<_> = all_opted_in
            .into_iter()
            .filter(|pod| {
                only.is_none_or(|(namespace, name)| {
                    pod.metadata.namespace.as_deref() == Some(namespace)
                        && pod.metadata.name.as_deref() == Some(name)
                })
            })
            .collect();
        cpu_scale_downs_for(settings, observed, &pods, tick.now)
            .into_iter()
            .filter(|key| !observed.throttle_guarded.contains(key))
            .collect()
    };
    observed.throttle_guarded.extend(candidates.iter().cloned());
    let Some(query) = throttle_guard_query(&settings.policy.windows, &candidates) else {
        return;
    };
    let mut answered = SignalTable::new();
    match query_into(tick, "cpu", "throttling guard", &query, &mut answered) {
        Ok(()) => {
            // The selector may also match a namespace's pod named like another's candidate: only candidates.
            let wanted: BTreeSet<&ContainerKey> = candidates.iter().collect();
            for (key, stats) in answered {
                if wanted.contains(&key)
                    && let Some(entry) = observed.cpu.get_mut(&key)
                {
                    entry.throttled_long = stats.throttled_long;
                }
            }
        }
        Err(error) => {
            let mut error = error_chain::render_anyhow(&error);
            // Its query names every candidate pod (hundreds of kilobytes on a first tick): the start says enough.
            if let Some((cut, _)) = error.char_indices().nth(MAX_LOGGED_ERROR_CHARS) {
                error.truncate(cut);
                error.push('…');
            }
            log::warn(
                "no throttling history this tick: these CPU scale-downs wait (scale-ups do not)",
                &[
                    ("containers", json!(candidates.len())),
                    ("error", json!(error)),
                ],
            );
            for key in &candidates {
                if let Some(entry) = observed.cpu.get_mut(key) {
                    entry.throttling_unknown = true;
                }
            }
        }
    }
}
