//! Raw settings (text, as typed; [`crate::cli::RawSettings`]) → checked [`Settings`]: the policies of both
//! controllers, the client settings and the hook configuration. Every rule about a setting's value lives here.
//!
//! A setting's env variable, flag, default and help are defined once, in clap (`src/cli.rs`); the rules here
//! name a setting by its field (`name!(hot_window)`), so the names in messages are clap's. All problems are
//! collected and reported together, each naming the env variable and flag, the value and what is allowed, so one
//! failed start-up shows everything to fix; each bad value is reported once, and no rule is judged on a value
//! already refused.
//!
//! - [`check`]: the [`Checker`] and the value parsers
//! - [`names`]: each setting's env variable and flag, read from clap
//! - [`hook`]: the schedules `--config` prints, and the tick's switches
//! - [`prometheus`], [`kube`]: the clients' settings
//! - [`taint`], [`resize`]: the controllers' policies
//!
//! Imports the command-line definition, the policies and client types below it, and nothing of the tick.

pub(crate) mod check;
pub(crate) mod hook;
pub(crate) mod kube;
pub(crate) mod names;
pub(crate) mod prometheus;
pub(crate) mod resize;
pub(crate) mod taint;

#[cfg(test)]
mod defaults;

use std::time::Duration;

pub use check::{
    Checker, SettingError, SettingsError, format_duration, is_label_value, is_qualified_name,
    parse_bool, parse_duration,
};
pub use hook::hook_config;
pub use kube::KubeSettings;
pub use names::Name;
pub use prometheus::{PrometheusSettings, SecretSource};
pub use taint::CA_STATUS_TAINT_PREFIX;

use crate::cli::RawSettings;
use crate::hook::config::HookConfig;
use crate::resize::ResizeSettings;
use crate::taint::TaintPolicy;
use names::name;

/// Checked settings of a tick (hook mode or `run`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub hook: HookConfig,
    pub taint_enabled: bool,
    pub resize_enabled: bool,
    pub tick_timeout: Duration,
    pub taint_dry_run: bool,
    pub resize_dry_run: bool,
    pub prometheus: PrometheusSettings,
    pub kube: KubeSettings,
    pub taint: TaintPolicy,
    pub resize: ResizeSettings,
    /// Accepted but questionable settings, each naming the setting and why (logged as warnings every tick).
    pub warnings: Vec<String>,
}

impl Settings {
    /// `prometheus_required`: false only for work that queries nothing (`run taint-nodes --remove-all`), so an
    /// uninstall does not need a Prometheus URL.
    pub fn from_raw(
        raw: &RawSettings,
        prometheus_required: bool,
    ) -> Result<Settings, SettingsError> {
        let mut check = Checker::default();
        let hook = hook::checked_hook_config(&mut check, raw);
        let switches = hook::switches(&mut check, raw);
        let tick_timeout = hook::tick_timeout(&mut check, raw);
        hook::check_log_level(&mut check, raw);
        let prometheus = prometheus::settings(&mut check, raw, prometheus_required);
        let kube = kube::settings(&mut check, raw);
        let shared = Shared::from_raw(&mut check, raw);
        let resize = resize::settings(&mut check, raw, &shared);
        let taint = taint::policy(&mut check, raw, &shared);
        let warnings = check.take_warnings();
        check.finish(Settings {
            hook,
            taint_enabled: switches.taint_enabled,
            resize_enabled: switches.resize_enabled,
            tick_timeout,
            taint_dry_run: switches.taint_dry_run,
            resize_dry_run: switches.resize_dry_run,
            prometheus,
            kube,
            taint,
            resize,
            warnings,
        })
    }
}

/// A threshold as parsed, with the setting it came from (a rule on it names that setting).
#[derive(Debug, Clone, Copy)]
struct Threshold {
    name: Name,
    percent: f64,
}

/// The settings both controllers read, parsed once so that a bad value is reported once.
struct Shared {
    /// `QUERY_STEP`: the resolution of the history windows of nodes and containers, whole seconds.
    query_step: Duration,
    /// `CPU_THRESHOLD`: a node's taint threshold, and the containers' scale-up mark unless `RESIZE_CPU_HIGH`.
    cpu_threshold: Threshold,
}

impl Shared {
    fn from_raw(check: &mut Checker, raw: &RawSettings) -> Shared {
        let query_step = check.duration(name!(query_step), &raw.query_step, Duration::from_secs(1));
        if check.accepted(&[name!(query_step)]) && query_step.subsec_nanos() != 0 {
            check.reject(
                name!(query_step),
                &raw.query_step,
                "must be whole seconds, e.g. 30s",
            );
        }
        let cpu_threshold = Threshold {
            name: name!(cpu_threshold),
            percent: check.percent(name!(cpu_threshold), &raw.cpu_threshold),
        };
        Shared {
            query_step,
            cpu_threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resize::CpuRequest;

    #[test]
    fn answer_size_limit_and_range_budget_are_read_and_checked() {
        let mut raw = raw();
        let defaults = Settings::from_raw(&raw, true).unwrap();
        assert_eq!(defaults.prometheus.max_response_bytes, 256 << 20);
        assert_eq!(defaults.resize.policy.query_max_points, 6_000_000);
        raw.prometheus_max_response_bytes = "1Gi".into();
        raw.resize_query_max_points = "0".into();
        let settings = Settings::from_raw(&raw, true).unwrap();
        assert_eq!(settings.prometheus.max_response_bytes, 1 << 30);
        assert_eq!(
            settings.resize.policy.query_max_points, 0,
            "0: always the statistics"
        );
        raw.prometheus_max_response_bytes = "lots".into();
        raw.resize_query_max_points = "-1".into();
        let error = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(
            error.contains(
                "PROMETHEUS_MAX_RESPONSE_BYTES (--prometheus-max-response-bytes) = \"lots\""
            ),
            "{error}"
        );
        assert!(
            error.contains("RESIZE_QUERY_MAX_POINTS (--resize-query-max-points) = \"-1\""),
            "{error}"
        );
    }

    #[test]
    fn the_long_view_throttling_and_oom_settings_are_read_and_checked() {
        let mut raw = raw();
        let policy = Settings::from_raw(&raw, true).unwrap().resize.policy;
        assert_eq!(policy.windows.long_window, Duration::from_secs(24 * 3600));
        assert_eq!(policy.long_min_history, Duration::from_secs(6 * 3600));
        assert_eq!(
            (policy.cpu_long_percentile, policy.cpu_throttle_percent),
            (95.0, 10.0)
        );
        assert_eq!(policy.oom_min_bump_bytes, 100 << 20);
        // A long view shorter than the wait: the whole long view is the wait. `0` turns both off.
        raw.resize_long_window = "2h".into();
        let policy = Settings::from_raw(&raw, true).unwrap().resize.policy;
        assert_eq!(policy.long_min_history, Duration::from_secs(2 * 3600));
        raw.resize_long_window = "0".into();
        raw.resize_cpu_throttle = "0".into();
        let policy = Settings::from_raw(&raw, true).unwrap().resize.policy;
        assert!(policy.windows.long_window.is_zero());
        assert_eq!(policy.cpu_throttle_percent, 0.0);

        raw.resize_long_window = "10m".into();
        raw.resize_cpu_long_percentile = "40".into();
        raw.resize_oom_bump = "0.5".into();
        raw.resize_oom_max_bumps = "0".into();
        assert_eq!(
            refused(&raw),
            [
                "RESIZE_LONG_WINDOW",
                "RESIZE_CPU_LONG_PERCENTILE",
                "RESIZE_OOM_BUMP",
                "RESIZE_OOM_MAX_BUMPS"
            ]
        );
        let error = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(
            error.contains("must be 0 (off) or at least RESIZE_STABILIZATION_WINDOW"),
            "{error}"
        );
    }

    #[test]
    fn a_cpu_request_sized_from_usage_is_read_and_needs_the_long_view() {
        let mut raw = raw();
        let policy = Settings::from_raw(&raw, true).unwrap().resize.policy;
        assert_eq!(policy.cpu_request, CpuRequest::Ratio);
        raw.resize_cpu_request = "usage".into();
        raw.resize_cpu_request_percentile = "80".into();
        raw.resize_cpu_request_margin = "25%".into();
        let policy = Settings::from_raw(&raw, true).unwrap().resize.policy;
        assert_eq!(
            (
                policy.cpu_request,
                policy.cpu_request_percentile,
                policy.cpu_request_margin_percent
            ),
            (CpuRequest::Usage, 80.0, 25.0)
        );
        raw.resize_long_window = "0".into();
        let error = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(
            error.contains(
                "RESIZE_CPU_REQUEST (--resize-cpu-request) = \"usage\": \"usage\" needs the long view, which \
                 RESIZE_LONG_WINDOW = 0 turns off"
            ),
            "{error}"
        );
        raw.resize_long_window = "24h".into();
        raw.resize_cpu_request = "limits".into();
        raw.resize_cpu_request_percentile = "20".into();
        assert_eq!(
            refused(&raw),
            ["RESIZE_CPU_REQUEST", "RESIZE_CPU_REQUEST_PERCENTILE"]
        );
    }

    /// clap's defaults (no env read) and a Prometheus URL.
    fn raw() -> RawSettings {
        let mut raw = defaults::clap_defaults();
        raw.prometheus_url = Some("http://prometheus:9090".into());
        raw
    }

    /// The env names of the rejected settings, in order.
    fn refused(raw: &RawSettings) -> Vec<&'static str> {
        let errors = Settings::from_raw(raw, true).unwrap_err();
        errors.0.iter().map(|error| error.env).collect()
    }

    #[test]
    fn defaults_are_valid_once_prometheus_is_named() {
        let settings = Settings::from_raw(&raw(), true).unwrap();
        assert_eq!(settings.prometheus.url, "http://prometheus:9090");
        assert_eq!(settings.tick_timeout, Duration::from_secs(25));
        assert!(!settings.taint_dry_run && !settings.resize_dry_run);
    }

    #[test]
    fn the_default_taint_key_is_of_our_own_domain_and_draws_no_warning() {
        let settings = Settings::from_raw(&raw(), true).unwrap();
        assert_eq!(settings.taint.taint_key, "kube-thermostat.io/hot");
        assert!(settings.taint.adopted_taints.is_empty());
        assert_eq!(settings.warnings, Vec::<String>::new());
    }

    #[test]
    fn a_taint_key_under_a_reserved_prefix_is_accepted_with_a_warning_naming_the_prefix() {
        for (key, domain) in [
            ("node.kubernetes.io/pressure", "node.kubernetes.io"),
            ("kubernetes.io/hot", "kubernetes.io"),
            ("team.k8s.io/hot", "team.k8s.io"),
        ] {
            let mut raw = raw();
            raw.taint_key = key.into();
            let settings = Settings::from_raw(&raw, true).unwrap();
            assert_eq!(settings.taint.taint_key, key);
            assert_eq!(settings.warnings.len(), 1, "{key}");
            let warning = &settings.warnings[0];
            assert!(
                warning.starts_with(&format!("TAINT_KEY (--taint-key) = {key:?}"))
                    && warning.contains(&format!("the prefix {domain} is reserved")),
                "{warning}"
            );
        }
        for key in [
            "example.com/hot",
            "notkubernetes.io/hot",
            "status-taint.cluster-autoscaler.kubernetes.io/kube-thermostat",
        ] {
            let mut raw = raw();
            raw.taint_key = key.into();
            let settings = Settings::from_raw(&raw, true).unwrap();
            assert_eq!(settings.warnings, Vec::<String>::new(), "{key}");
        }
    }

    #[test]
    fn a_taint_key_cluster_autoscaler_reads_as_a_startup_taint_is_refused() {
        for key in [
            "ignore-taint.cluster-autoscaler.kubernetes.io/hot",
            "startup-taint.cluster-autoscaler.kubernetes.io/hot",
        ] {
            let mut raw = raw();
            raw.taint_key = key.into();
            let text = Settings::from_raw(&raw, true).unwrap_err().to_string();
            assert!(
                text.contains("TAINT_KEY (--taint-key)")
                    && text.contains("not ready")
                    && text.contains("status-taint.cluster-autoscaler.kubernetes.io/"),
                "{text}"
            );
        }
    }

    #[test]
    fn adopted_taints_are_exact_key_and_effect_pairs_and_never_a_system_taint() {
        let mut listed = raw();
        listed.adopt_taints =
            " node.kubernetes.io/pressure:NoSchedule, example.com/old:PreferNoSchedule,".into();
        let settings = Settings::from_raw(&listed, true).unwrap();
        let adopted: Vec<String> = settings
            .taint
            .adopted_taints
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            adopted,
            [
                "node.kubernetes.io/pressure:NoSchedule",
                "example.com/old:PreferNoSchedule"
            ]
        );
        for (bad, why) in [
            ("node.kubernetes.io/pressure", "key:Effect"),
            ("node.kubernetes.io/pressure:noschedule", "key:Effect"),
            ("bad key:NoSchedule", "key:Effect"),
            ("node.kubernetes.io/unschedulable:NoSchedule", "never ours"),
            ("ToBeDeletedByClusterAutoscaler:NoSchedule", "never ours"),
            ("karpenter.sh/disrupted:NoSchedule", "never ours"),
        ] {
            let mut raw = raw();
            raw.adopt_taints = bad.into();
            let text = Settings::from_raw(&raw, true).unwrap_err().to_string();
            assert!(
                text.contains(&format!("ADOPT_TAINTS (--adopt-taints) = {bad:?}"))
                    && text.contains(why),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn the_api_rate_limit_defaults_to_the_kubelets_and_is_checked() {
        let settings = Settings::from_raw(&raw(), true).unwrap();
        assert_eq!(
            settings.kube.rate_limit,
            crate::kube::RateLimit {
                qps: 50.0,
                burst: 100
            }
        );
        let mut off = raw();
        off.kube_api_qps = "0".into();
        assert!(
            Settings::from_raw(&off, true)
                .unwrap()
                .kube
                .rate_limit
                .is_off()
        );
        let mut bad = raw();
        bad.kube_api_qps = "-1".into();
        bad.kube_api_burst = "0".into();
        let text = Settings::from_raw(&bad, true).unwrap_err().to_string();
        assert!(
            text.contains("KUBE_API_QPS (--kube-api-qps) = \"-1\"")
                && text.contains("KUBE_API_BURST (--kube-api-burst) = \"0\""),
            "{text}"
        );
    }

    #[test]
    fn every_bad_setting_is_reported_at_once() {
        let mut raw = raw();
        raw.prometheus_url = None;
        raw.tick_timeout = "forever".into();
        raw.prometheus_headers = vec!["X-Api-Key secret-value".into()];
        let errors = Settings::from_raw(&raw, true).unwrap_err();
        let text = errors.to_string();
        assert_eq!(errors.0.len(), 3, "{text}");
        assert!(text.contains("PROMETHEUS_URL (--prometheus-url)"), "{text}");
        assert!(
            text.contains("TICK_TIMEOUT (--tick-timeout) = \"forever\""),
            "{text}"
        );
        assert!(
            !text.contains("secret-value"),
            "a malformed header's value may be a credential: {text}"
        );
    }

    #[test]
    fn a_window_longer_than_prometheus_answers_in_one_range_query_is_refused() {
        let mut raw = raw();
        raw.query_step = "1s".into();
        raw.cool_window = "4h".into();
        let text = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(
            text.contains("COOL_WINDOW (--cool-window) = \"4h\""),
            "{text}"
        );
        assert!(text.contains("raise QUERY_STEP"), "{text}");
        raw.query_step = "2s".into();
        assert!(Settings::from_raw(&raw, true).is_ok(), "7,200 points");
    }

    #[test]
    fn removing_our_taints_needs_no_prometheus() {
        let mut raw = raw();
        raw.prometheus_url = None;
        assert!(Settings::from_raw(&raw, false).is_ok());
        assert!(Settings::from_raw(&raw, true).is_err());
    }

    #[test]
    fn resize_settings_reach_the_policy() {
        let mut raw = raw();
        raw.resize_max_pods_per_tick = "25".into();
        raw.resize_cpu_max = "4".into();
        let settings = Settings::from_raw(&raw, true).unwrap();
        assert_eq!(settings.resize.policy.max_pods_per_tick, 25);
        assert_eq!(settings.resize.policy.cpu_max_millis, 4000);
        raw.resize_max_pods_per_tick = "0".into();
        let error = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(
            error.contains("RESIZE_MAX_PODS_PER_TICK (--resize-max-pods-per-tick) = \"0\""),
            "{error}"
        );
    }

    #[test]
    fn per_controller_dry_run_overrides_the_global_one() {
        let mut raw = raw();
        raw.dry_run = "true".into();
        raw.resize_dry_run = Some("false".into());
        let settings = Settings::from_raw(&raw, true).unwrap();
        assert!(settings.taint_dry_run);
        assert!(!settings.resize_dry_run);
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let mut raw = raw();
        raw.prometheus_username = Some("thermostat".into());
        raw.prometheus_password = Some("hunter2".into());
        raw.prometheus_headers = vec!["X-Api-Key: k3y".into()];
        let settings = Settings::from_raw(&raw, true).unwrap();
        let debug = format!("{settings:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("k3y"),
            "{debug}"
        );
        assert!(debug.contains("X-Api-Key"));
    }

    #[test]
    fn each_bad_value_is_reported_once_and_nothing_derived_from_it() {
        let mut raw = raw();
        raw.cpu_threshold = "120".into();
        raw.hot_window = "abc".into();
        let errors = Settings::from_raw(&raw, true).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "invalid settings:\n  \
             CPU_THRESHOLD (--cpu-threshold) = \"120\": must be a percentage between 0 and 100 (exclusive), e.g. 80\n  \
             HOT_WINDOW (--hot-window) = \"abc\": must be a duration of at least 1s like 30s, 5m or 1h30m"
        );
        let mut raw = self::raw();
        raw.query_step = "often".into();
        raw.cool_window = "10s".into();
        raw.resize_short_window = "1s".into();
        assert_eq!(
            refused(&raw),
            ["QUERY_STEP"],
            "nothing judged against a refused step"
        );
        let mut raw = self::raw();
        raw.resize_cpu_low = "lots".into();
        raw.resize_memory_high = "0".into();
        raw.resize_cpu_min = "none".into();
        raw.resize_memory_max = "-1".into();
        raw.cpu_untaint_threshold = Some("95".into());
        raw.allow_no_execute = "perhaps".into();
        raw.taint_effect = "NoExecute".into();
        assert_eq!(
            refused(&raw),
            [
                "RESIZE_CPU_LOW",
                "RESIZE_MEMORY_HIGH",
                "RESIZE_CPU_MIN",
                "RESIZE_MEMORY_MAX",
                "CPU_UNTAINT_THRESHOLD",
                "ALLOW_NO_EXECUTE"
            ]
        );
    }

    #[test]
    fn a_memory_margin_that_lands_a_scale_down_on_the_high_mark_is_refused() {
        // Peak + 10 % puts the peak at 90.9 % of the new size: at the 90 % mark, scaled back up next tick.
        let mut raw = raw();
        raw.resize_memory = "true".into();
        raw.resize_memory_margin = "10".into();
        let text = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert_eq!(refused(&raw), ["RESIZE_MEMORY_MARGIN"], "{text}");
        assert!(
            text.contains(
                "RESIZE_MEMORY_MARGIN (--resize-memory-margin) = \"10\": with RESIZE_MEMORY_HIGH = 90, a scale-down \
                 to the peak + 10% leaves the peak at 90.9% of the new size, at or above the mark, and the next tick \
                 would scale it back up: the margin must be at least 11.2 (or the mark higher)"
            ),
            "{text}"
        );
        raw.resize_memory_margin = "11.2".into();
        assert!(Settings::from_raw(&raw, true).is_ok());
        raw.resize_memory_high = "95".into();
        raw.resize_memory_margin = "10".into();
        assert!(Settings::from_raw(&raw, true).is_ok());
        // A mark of 80 needs more than the default 20 (83.3 %): exactly 25 lands on the mark.
        raw.resize_memory_high = "80".into();
        raw.resize_memory_margin = "25".into();
        let text = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(text.contains("the margin must be at least 25.1"), "{text}");
        // With memory resizing off, the same pair is a warning, not a refusal: the taint controller goes on.
        raw.resize_memory = "false".into();
        let settings = Settings::from_raw(&raw, true).expect("memory off: only warned");
        assert!(
            settings
                .warnings
                .iter()
                .any(|w| w.contains("only pods annotated kube-thermostat.io/memory: on")),
            "{:?}",
            settings.warnings
        );
    }

    #[test]
    fn a_rule_between_accepted_values_is_still_judged() {
        let mut raw = raw();
        raw.resize_cpu_high = Some("50".into());
        raw.resize_memory_target = "95".into();
        raw.resize_cpu_min = "2".into();
        raw.resize_cpu_max = "1".into();
        raw.hot_window = "10s".into();
        let text = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert_eq!(
            refused(&raw),
            [
                "RESIZE_CPU_TARGET",
                "RESIZE_MEMORY_TARGET",
                "RESIZE_CPU_MIN",
                "HOT_WINDOW"
            ],
            "{text}"
        );
        assert!(
            text.contains(
                "RESIZE_CPU_TARGET (--resize-cpu-target) = \"60\": must lie strictly between RESIZE_CPU_LOW (30) \
                 and the high mark (50), or resizes would flap"
            ),
            "{text}"
        );
        assert!(
            text.contains("must be below RESIZE_MEMORY_HIGH (90)"),
            "{text}"
        );
        assert!(text.contains("must not exceed RESIZE_CPU_MAX"), "{text}");
        assert!(
            text.contains("HOT_WINDOW (--hot-window) = \"10s\": must be whole seconds and at least QUERY_STEP (30s)"),
            "{text}"
        );
    }

    #[test]
    fn one_bad_value_of_each_kind_is_one_error() {
        type Change = fn(&mut RawSettings);
        let cases: [(Change, &str); 8] = [
            (|raw| raw.query_step = "1.5s".into(), "QUERY_STEP"),
            (|raw| raw.cpu_threshold = "0".into(), "CPU_THRESHOLD"),
            (
                |raw| raw.resize_cpu_high = Some("x".into()),
                "RESIZE_CPU_HIGH",
            ),
            (
                |raw| raw.resize_cpu_target = "x".into(),
                "RESIZE_CPU_TARGET",
            ),
            (|raw| raw.cool_window = "x".into(), "COOL_WINDOW"),
            (
                |raw| raw.memory_threshold = Some("x".into()),
                "MEMORY_THRESHOLD",
            ),
            (
                |raw| raw.resize_memory_target = "x".into(),
                "RESIZE_MEMORY_TARGET",
            ),
            (
                |raw| raw.resize_memory_min = "x".into(),
                "RESIZE_MEMORY_MIN",
            ),
        ];
        for (set, env) in cases {
            let mut raw = raw();
            set(&mut raw);
            assert_eq!(refused(&raw), [env]);
        }
    }

    // The rules a taint policy's values must follow, once checked by the policy itself too.
    #[test]
    fn no_execute_is_refused_without_the_explicit_setting() {
        let mut raw = raw();
        raw.taint_effect = "NoExecute".into();
        let error = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(
            error.contains("TAINT_EFFECT") && error.contains("NoExecute"),
            "{error}"
        );
        raw.allow_no_execute = "true".into();
        let settings = Settings::from_raw(&raw, true).unwrap();
        assert_eq!(
            settings.taint.taint_effect,
            crate::taint::TaintEffect::NoExecute
        );
    }

    #[test]
    fn a_system_taint_can_never_be_adopted() {
        for key in ["node.kubernetes.io/unschedulable", "karpenter.sh/disrupted"] {
            let mut raw = raw();
            raw.adopt_taints = format!("{key}:NoSchedule");
            let error = Settings::from_raw(&raw, true).unwrap_err().to_string();
            assert!(
                error.contains(key) && error.contains("never ours"),
                "{error}"
            );
        }
    }

    #[test]
    fn untaint_threshold_above_threshold_is_refused() {
        let mut raw = raw();
        raw.cpu_untaint_threshold = Some("85".into());
        let error = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(
            error.contains("CPU_UNTAINT_THRESHOLD (--cpu-untaint-threshold) = \"85\": must be below CPU_THRESHOLD (80)"),
            "{error}"
        );
    }

    #[test]
    fn window_shorter_than_the_step_is_refused() {
        let mut raw = raw();
        raw.hot_window = "10s".into();
        let error = Settings::from_raw(&raw, true).unwrap_err().to_string();
        assert!(error.contains("HOT_WINDOW (--hot-window)"), "{error}");
    }

    #[test]
    fn a_prometheus_label_name_is_accepted_as_the_node_label() {
        let mut raw = raw();
        raw.node_label = "nodename".into();
        let settings = Settings::from_raw(&raw, true).unwrap();
        assert_eq!(settings.taint.match_label.as_deref(), Some("nodename"));
        raw.node_label = "node-name".into();
        assert_eq!(refused(&raw), ["NODE_LABEL"]);
    }
}
