//! taint-nodes' settings → [`TaintPolicy`]: the signals and their windows, our taint, the nodes left alone.

use std::time::Duration;

use super::check::{Checker, format_duration, is_label_value, is_qualified_name, non_empty};
use super::names::{Name, name};
use super::{Shared, Threshold};
use crate::cli::RawSettings;
use crate::taint::ownership::SYSTEM_TAINT_KEYS;
use crate::taint::{
    AdoptedTaint, CustomSignal, DEFAULT_TAINT_KEY, SignalPolicy, TaintEffect, TaintPolicy,
    default_untaint_threshold,
};

/// Prometheus' limit on the steps of one range query (`/api/v1/query_range`).
const MAX_RANGE_POINTS: u64 = 11_000;

/// cluster-autoscaler's key prefix for taints other tools put on running nodes: dropped from its node templates,
/// the node still counted as ready (kubernetes/autoscaler cluster-autoscaler/utils/taints/taints.go,
/// `StatusTaintPrefix`).
pub const CA_STATUS_TAINT_PREFIX: &str = "status-taint.cluster-autoscaler.kubernetes.io/";

pub(super) fn policy(check: &mut Checker, raw: &RawSettings, shared: &Shared) -> TaintPolicy {
    let mut policy = TaintPolicy {
        query_step: shared.query_step,
        ..TaintPolicy::default()
    };
    signals(check, raw, shared, &mut policy);
    our_taint(check, raw, &mut policy);
    nodes(check, raw, &mut policy);
    policy.max_tainted_fraction =
        check.fraction(name!(max_tainted_fraction), &raw.max_tainted_fraction);
    policy.max_unknown_fraction =
        check.fraction(name!(max_unknown_fraction), &raw.max_unknown_fraction);
    policy
}

/// The history windows every signal shares.
#[derive(Clone, Copy)]
struct Windows {
    hot: Duration,
    cool: Duration,
}

fn windows(check: &mut Checker, raw: &RawSettings, step: Duration) -> Windows {
    let one_second = Duration::from_secs(1);
    let hot = check.duration(name!(hot_window), &raw.hot_window, one_second);
    let cool = check.duration(name!(cool_window), &raw.cool_window, one_second);
    for (name, value, window) in [
        (name!(hot_window), &raw.hot_window, hot),
        (name!(cool_window), &raw.cool_window, cool),
    ] {
        if !check.accepted(&[name, name!(query_step)]) {
            continue;
        }
        if window < step || window.subsec_nanos() != 0 {
            check.reject(
                name,
                value,
                format!(
                    "must be whole seconds and at least {} ({})",
                    name!(query_step).env,
                    format_duration(step)
                ),
            );
        } else if window.as_secs() / step.as_secs().max(1) > MAX_RANGE_POINTS {
            // Prometheus refuses a range query of more than 11,000 steps (web/api/v1).
            check.reject(
                name,
                value,
                format!(
                    "holds more than {MAX_RANGE_POINTS} points of {} ({}), more than Prometheus answers \
                     in one range query: raise {}",
                    name!(query_step).env,
                    format_duration(step),
                    name!(query_step).env
                ),
            );
        }
    }
    Windows { hot, cool }
}

/// One signal: its threshold, its untaint threshold (default: [`default_untaint_threshold`]) and the windows.
fn signal(
    check: &mut Checker,
    threshold: Threshold,
    untaint: (Name, Option<&String>),
    windows: Windows,
) -> SignalPolicy {
    let (untaint_name, untaint_value) = untaint;
    let untaint_threshold_percent = match untaint_value {
        Some(value) => {
            let untaint_percent = check.percent(untaint_name, value);
            if check.accepted(&[threshold.name, untaint_name])
                && untaint_percent >= threshold.percent
            {
                check.reject(
                    untaint_name,
                    value,
                    format!(
                        "must be below {} ({}): the gap is the hysteresis band",
                        threshold.name.env, threshold.percent
                    ),
                );
            }
            untaint_percent
        }
        None => default_untaint_threshold(threshold.percent),
    };
    SignalPolicy {
        threshold_percent: threshold.percent,
        untaint_threshold_percent,
        hot_window: windows.hot,
        cool_window: windows.cool,
    }
}

fn signals(check: &mut Checker, raw: &RawSettings, shared: &Shared, policy: &mut TaintPolicy) {
    let windows = windows(check, raw, shared.query_step);
    policy.cpu = Some(signal(
        check,
        shared.cpu_threshold,
        (
            name!(cpu_untaint_threshold),
            raw.cpu_untaint_threshold.as_ref(),
        ),
        windows,
    ));
    policy.memory = non_empty(&raw.memory_threshold).map(|value| {
        let threshold = Threshold {
            name: name!(memory_threshold),
            percent: check.percent(name!(memory_threshold), &value),
        };
        let untaint = (
            name!(memory_untaint_threshold),
            raw.memory_untaint_threshold.as_ref(),
        );
        signal(check, threshold, untaint, windows)
    });
    policy.custom = custom_signal(check, raw, windows);
}

fn custom_signal(check: &mut Checker, raw: &RawSettings, windows: Windows) -> Option<CustomSignal> {
    match (
        non_empty(&raw.custom_query),
        non_empty(&raw.custom_threshold),
    ) {
        (Some(expression), Some(value)) => {
            let threshold = Threshold {
                name: name!(custom_threshold),
                percent: check.percent(name!(custom_threshold), &value),
            };
            let untaint = (
                name!(custom_untaint_threshold),
                raw.custom_untaint_threshold.as_ref(),
            );
            Some(CustomSignal {
                expression,
                signal: signal(check, threshold, untaint, windows),
            })
        }
        (None, None) => None,
        (Some(_), None) => {
            check.reject(
                name!(custom_threshold),
                "",
                format!("is required with {}", name!(custom_query).env),
            );
            None
        }
        (None, Some(value)) => {
            check.reject(
                name!(custom_threshold),
                &value,
                format!("needs {}", name!(custom_query).env),
            );
            None
        }
    }
}

/// Our taint (key, value, effect) and the taints of others we take over.
fn our_taint(check: &mut Checker, raw: &RawSettings, policy: &mut TaintPolicy) {
    policy.taint_key = taint_key(check, &raw.taint_key);
    policy.adopted_taints = adopted_taints(check, &raw.adopt_taints);
    policy.taint_value = raw.taint_value.trim().to_owned();
    if !is_label_value(&policy.taint_value) {
        check.reject(
            name!(taint_value),
            &raw.taint_value,
            "must be a label value: up to 63 of [A-Za-z0-9_.-], starting and ending alphanumeric",
        );
    }
    let effect = TaintEffect::parse(raw.taint_effect.trim());
    if effect.is_none() {
        check.reject(
            name!(taint_effect),
            &raw.taint_effect,
            format!(
                "must be NoSchedule or PreferNoSchedule (NoExecute with {}=true)",
                name!(allow_no_execute).env
            ),
        );
    }
    policy.taint_effect = effect.unwrap_or(TaintEffect::NoSchedule);
    policy.allow_no_execute = check.bool(name!(allow_no_execute), &raw.allow_no_execute);
    if policy.taint_effect == TaintEffect::NoExecute
        && !policy.allow_no_execute
        && check.accepted(&[name!(allow_no_execute)])
    {
        check.reject(
            name!(taint_effect),
            &raw.taint_effect,
            format!(
                "NoExecute evicts running pods without a toleration from every hot node: set {}=true to mean it",
                name!(allow_no_execute).env
            ),
        );
    }
}

fn taint_key(check: &mut Checker, value: &str) -> String {
    let name = name!(taint_key);
    let taint_key = check.label_key(name, value);
    // Taints Kubernetes, cluster-autoscaler and Karpenter manage: ours must never be one of them.
    if SYSTEM_TAINT_KEYS.contains(&taint_key.as_str()) {
        check.reject(
            name,
            value,
            "is owned by Kubernetes, cluster-autoscaler or Karpenter: choose a key of our own",
        );
    } else if let Some(prefix) = cluster_autoscaler_startup_prefix(&taint_key) {
        check.reject(
            name,
            value,
            format!(
                "cluster-autoscaler treats a taint under {prefix} as a startup taint and the node as not ready: \
                 use the status-taint prefix {CA_STATUS_TAINT_PREFIX} instead"
            ),
        );
    } else if let Some(domain) = reserved_domain(&taint_key) {
        check.warn(
            name,
            value,
            &format!(
                "the prefix {domain} is reserved for Kubernetes components (kubernetes.io, k8s.io): accepted for \
                 a migration, but choose a key of your own domain (default {DEFAULT_TAINT_KEY}; {} \
                 takes over the taints left under the old key)",
                name!(adopt_taints).env
            ),
        );
    }
    taint_key
}

/// Which nodes are matched to series, and which are never tainted.
fn nodes(check: &mut Checker, raw: &RawSettings, policy: &mut TaintPolicy) {
    policy.match_label = match raw.node_label.trim() {
        "auto" | "" => None,
        label
            if label.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Some(label.to_owned())
        }
        _ => {
            check.reject(
                name!(node_label),
                &raw.node_label,
                "must be `auto` or a Prometheus label name such as node or instance",
            );
            None
        }
    };
    let control_plane = check.label_key(name!(control_plane_label), &raw.control_plane_label);
    let mut control_plane_labels = vec![control_plane];
    // The legacy label still marks control planes on older clusters.
    control_plane_labels.push("node-role.kubernetes.io/master".to_owned());
    control_plane_labels.dedup();
    policy.control_plane_labels = control_plane_labels;
    (policy.exclude_label_key, policy.exclude_label_value) =
        check.label_pair(name!(taint_exclude_label), &raw.taint_exclude_label);
}
/// The prefixes cluster-autoscaler reads as startup taints (taints.go `IgnoreTaintPrefix`, `StartupTaintPrefix`):
/// `FilterOutNodesWithStartupTaints` then counts the node as not ready. Our taint must not be one.
fn cluster_autoscaler_startup_prefix(key: &str) -> Option<&'static str> {
    [
        "ignore-taint.cluster-autoscaler.kubernetes.io/",
        "startup-taint.cluster-autoscaler.kubernetes.io/",
    ]
    .into_iter()
    .find(|prefix| key.starts_with(prefix))
}

/// The reserved domain of a key's prefix, if any: `kubernetes.io` and `k8s.io` and their subdomains belong to
/// Kubernetes components (kubernetes.io docs, reference/labels-annotations-taints). cluster-autoscaler's
/// status-taint prefix is excepted: it exists for taints of other tools.
fn reserved_domain(key: &str) -> Option<&str> {
    if key.starts_with(CA_STATUS_TAINT_PREFIX) {
        return None;
    }
    let (domain, _) = key.rsplit_once('/')?;
    ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|reserved| {
            domain == *reserved
                || domain
                    .strip_suffix(reserved)
                    .is_some_and(|head| head.ends_with('.'))
        })
        .then_some(domain)
}

/// `ADOPT_TAINTS`: `key:Effect`, comma-separated. A system key is refused: adopting means removing.
fn adopted_taints(check: &mut Checker, text: &str) -> Vec<AdoptedTaint> {
    let mut adopted: Vec<AdoptedTaint> = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let parsed = item.rsplit_once(':').and_then(|(key, effect)| {
            let key = key.trim();
            Some((key, TaintEffect::parse(effect.trim())?)).filter(|_| is_qualified_name(key))
        });
        match parsed {
            Some((key, _)) if SYSTEM_TAINT_KEYS.contains(&key) => check.reject(
                name!(adopt_taints),
                item,
                "is a taint of Kubernetes, cluster-autoscaler or Karpenter: never ours to remove",
            ),
            Some((key, effect)) => {
                let taint = AdoptedTaint {
                    key: key.to_owned(),
                    effect,
                };
                if !adopted.contains(&taint) {
                    adopted.push(taint);
                }
            }
            None => check.reject(
                name!(adopt_taints),
                item,
                "must be key:Effect items, comma-separated, e.g. node.kubernetes.io/pressure:NoSchedule",
            ),
        }
    }
    adopted
}
