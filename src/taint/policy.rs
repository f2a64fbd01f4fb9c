//! What the taint controller is told to do: plain data, built and range-checked by the settings code.
//!
//! [`TaintPolicy::default`] holds the defaults a cautious SRE would accept, the same the binary runs with (the
//! settings code proves it). The rules a policy's values must follow are checked once, by the settings code,
//! which names the setting a person has to fix. Imports nothing above the pure core.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The signals a node is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    Cpu,
    Memory,
    Custom,
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignalKind::Cpu => "cpu",
            SignalKind::Memory => "memory",
            SignalKind::Custom => "custom",
        })
    }
}

/// The seed script's `CPU_THRESHOLD` default: a node above 80 % CPU busy is hot.
pub const CPU_THRESHOLD: f64 = 80.0;
/// The untaint threshold sits this far below the taint threshold unless set (hysteresis band).
pub const DEFAULT_HYSTERESIS: f64 = 10.0;

/// The untaint threshold of a signal whose own is not set: [`DEFAULT_HYSTERESIS`] points of hysteresis, but
/// never below zero for a low threshold (half the threshold below 20).
pub fn default_untaint_threshold(threshold_percent: f64) -> f64 {
    (threshold_percent - DEFAULT_HYSTERESIS).max(threshold_percent / 2.0)
}
/// Our taint's default key. Of our own domain: `node.kubernetes.io/` and every other `kubernetes.io`/`k8s.io`
/// prefix is reserved for Kubernetes components (the seed script's `node.kubernetes.io/pressure` sat there;
/// `ADOPT_TAINTS` takes its taints over).
pub const DEFAULT_TAINT_KEY: &str = "kube-thermostat.io/hot";
/// Our annotation on the node: the taint we put there, as JSON (see [`super::ownership::TaintRecord`]).
pub const TAINT_ANNOTATION: &str = "kube-thermostat.io/taint";

/// The effect of our taint (`TAINT_EFFECT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TaintEffect {
    /// New pods without a toleration are not scheduled on the node; running pods stay (the seed's default).
    NoSchedule,
    /// Only a scoring hint: kube-scheduler avoids the node when another one scores as well.
    PreferNoSchedule,
    /// Evicts running pods without a toleration: only with [`TaintPolicy::allow_no_execute`].
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }

    /// Parses the API's spelling (case-sensitive, as the API server is).
    pub fn parse(text: &str) -> Option<TaintEffect> {
        match text {
            "NoSchedule" => Some(TaintEffect::NoSchedule),
            "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
            "NoExecute" => Some(TaintEffect::NoExecute),
            _ => None,
        }
    }

    /// Whether a taint with this effect keeps new pods off the node (`PreferNoSchedule` does not).
    pub fn blocks_scheduling(effect: &str) -> bool {
        effect == "NoSchedule" || effect == "NoExecute"
    }
}

impl fmt::Display for TaintEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A taint (exact key and effect, any value) left by another tool that we take over: removed, never added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdoptedTaint {
    pub key: String,
    pub effect: TaintEffect,
}

impl AdoptedTaint {
    pub(crate) fn matches(&self, taint: &k8s_openapi::api::core::v1::Taint) -> bool {
        taint.key == self.key && taint.effect == self.effect.as_str()
    }
}

impl fmt::Display for AdoptedTaint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key, self.effect)
    }
}

/// The thresholds and debounce windows of one signal. Values are percentages (0-100).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalPolicy {
    /// A node is hot for this signal when every evaluation in the last `hot_window` was strictly above this.
    pub threshold_percent: f64,
    /// A node is cool for this signal when every evaluation in the last `cool_window` was strictly below this.
    /// Between the two (the hysteresis band) nothing changes. Default: [`default_untaint_threshold`].
    pub untaint_threshold_percent: f64,
    /// How long the signal must stay above the threshold before the node is hot (default 3 min).
    #[serde(serialize_with = "serialize_seconds")]
    pub hot_window: Duration,
    /// How long the signal must stay below the untaint threshold before the node is cool (default 5 min).
    #[serde(serialize_with = "serialize_seconds")]
    pub cool_window: Duration,
}

impl SignalPolicy {
    /// A signal with the default windows and the default untaint threshold ([`default_untaint_threshold`]).
    pub fn with_threshold(threshold_percent: f64) -> SignalPolicy {
        SignalPolicy {
            threshold_percent,
            untaint_threshold_percent: default_untaint_threshold(threshold_percent),
            hot_window: Duration::from_secs(180),
            cool_window: Duration::from_secs(300),
        }
    }
}

/// A user PromQL expression returning one 0-100 value per node, with its own thresholds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomSignal {
    /// Inserted verbatim (in parentheses) into the query; its series must carry the match label (see
    /// [`TaintPolicy::match_label`]).
    pub expression: String,
    pub signal: SignalPolicy,
}

/// Everything [`super::decide_taints`] and [`super::signal_queries`] need. Every field is documented with its
/// default; the settings code maps env vars onto it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaintPolicy {
    /// CPU busy % from node-exporter. Default: enabled, threshold [`CPU_THRESHOLD`] (80), untaint 70, 3m / 5m.
    pub cpu: Option<SignalPolicy>,
    /// Memory used % (`100 * (1 - MemAvailable / MemTotal)`) from node-exporter. Default: disabled (opt-in).
    pub memory: Option<SignalPolicy>,
    /// A user expression. Default: none (opt-in).
    pub custom: Option<CustomSignal>,
    /// Resolution of the history windows: the range query's step (default 30 s). A window is "full" when it holds
    /// `window / query_step` evaluations. 30 s matches the most common scrape interval, so each step sees a
    /// new sample, and keeps a 5 m window at 10 evaluations per series, cheap at 5,000 nodes.
    #[serde(serialize_with = "serialize_seconds")]
    pub query_step: Duration,
    /// The `rate()` range of the default CPU expression (default 2 m). Prometheus needs two samples in the range
    /// for a rate; 2 m holds four at a 30 s scrape interval and two at 60 s, so one lost scrape does not blank a
    /// node, while staying short enough for the hot window (3 m) to mean "hot for about 3 m", not 3 m + 5 m.
    #[serde(serialize_with = "serialize_seconds")]
    pub cpu_rate_window: Duration,
    /// The series label that names the node. `None` (default): the `node` label when a series carries it, else
    /// `instance`. Either way a `:port` is stripped and the value is compared exactly to node names, then to
    /// node addresses (InternalIP, Hostname, ExternalIP).
    pub match_label: Option<String>,
    /// Our taint's key (`TAINT_KEY`, default [`DEFAULT_TAINT_KEY`]). Dedicated to this controller: a taint with
    /// this key and [`TaintPolicy::taint_effect`] is ours even if we did not record it.
    pub taint_key: String,
    /// Taints another tool left that we take over (`ADOPT_TAINTS`, default none): each exact key + effect named
    /// here is ours to remove (when the node is cool, by `--remove-all`, or replaced by our own taint on a hot
    /// node), never to add. Never a system taint (the settings code refuses one).
    pub adopted_taints: Vec<AdoptedTaint>,
    /// Our taint's value (`TAINT_VALUE`, default `true`). An empty value means "no value".
    pub taint_value: String,
    /// Our taint's effect (`TAINT_EFFECT`, default `NoSchedule`).
    pub taint_effect: TaintEffect,
    /// `NoExecute` evicts running pods: refused unless this is set (default false).
    pub allow_no_execute: bool,
    /// At most this fraction of eligible nodes may carry our taint (default 0.3), rounded down.
    pub max_tainted_fraction: f64,
    /// When strictly more than this fraction of all nodes is `unknown`, the plan makes no writes (default 0.5).
    /// A wholesale failure (label mismatch, exporter down, Prometheus lost its history) blanks most nodes, while
    /// scattered unknowns (new nodes, one crashed exporter) are normal and must not freeze the controller.
    pub max_unknown_fraction: f64,
    /// A node with any of these labels (any value) is a control-plane node: never tainted by us. Default:
    /// `node-role.kubernetes.io/control-plane` and the legacy `node-role.kubernetes.io/master`.
    pub control_plane_labels: Vec<String>,
    /// A node whose label `exclude_label_key` equals `exclude_label_value` is opted out (default
    /// `kube-thermostat.io/exclude` = `true`).
    pub exclude_label_key: String,
    pub exclude_label_value: String,
}

impl Default for TaintPolicy {
    fn default() -> TaintPolicy {
        TaintPolicy {
            cpu: Some(SignalPolicy::with_threshold(CPU_THRESHOLD)),
            memory: None,
            custom: None,
            query_step: Duration::from_secs(30),
            cpu_rate_window: Duration::from_secs(120),
            match_label: None,
            taint_key: DEFAULT_TAINT_KEY.to_string(),
            adopted_taints: Vec::new(),
            taint_value: "true".to_string(),
            taint_effect: TaintEffect::NoSchedule,
            allow_no_execute: false,
            max_tainted_fraction: 0.3,
            max_unknown_fraction: 0.5,
            control_plane_labels: vec![
                "node-role.kubernetes.io/control-plane".to_string(),
                "node-role.kubernetes.io/master".to_string(),
            ],
            exclude_label_key: "kube-thermostat.io/exclude".to_string(),
            exclude_label_value: "true".to_string(),
        }
    }
}

impl TaintPolicy {
    /// The enabled signals, in a fixed order.
    pub fn signals(&self) -> Vec<(SignalKind, &SignalPolicy)> {
        let mut out = Vec::new();
        if let Some(cpu) = &self.cpu {
            out.push((SignalKind::Cpu, cpu));
        }
        if let Some(memory) = &self.memory {
            out.push((SignalKind::Memory, memory));
        }
        if let Some(custom) = &self.custom {
            out.push((SignalKind::Custom, &custom.signal));
        }
        out
    }

    pub fn signal(&self, kind: SignalKind) -> Option<&SignalPolicy> {
        match kind {
            SignalKind::Cpu => self.cpu.as_ref(),
            SignalKind::Memory => self.memory.as_ref(),
            SignalKind::Custom => self.custom.as_ref().map(|c| &c.signal),
        }
    }

    /// Our taint's value as the API stores it: the server omits an empty value.
    pub(crate) fn taint_value_field(&self) -> Option<String> {
        (!self.taint_value.is_empty()).then(|| self.taint_value.clone())
    }
}

fn serialize_seconds<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

pub(crate) use crate::prometheus::promql_duration;

/// A duration for people: `3m`, `90s`.
pub(crate) fn human_duration(duration: Duration) -> String {
    promql_duration(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    // That the defaults are valid (accepted by the settings code) and are what the binary runs with is proven
    // in `settings::defaults`; the rules on a policy's values are tested there too.
    #[test]
    fn defaults_match_the_seed() {
        let policy = TaintPolicy::default();
        assert_eq!(policy.taint_key, "kube-thermostat.io/hot");
        assert!(
            policy.adopted_taints.is_empty(),
            "nothing adopted unless asked"
        );
        assert_eq!(policy.cpu.as_ref().map(|c| c.threshold_percent), Some(80.0));
        assert_eq!(
            policy.cpu.as_ref().map(|c| c.untaint_threshold_percent),
            Some(70.0)
        );
    }

    #[test]
    fn the_default_untaint_threshold_is_ten_below_but_never_under_half() {
        assert_eq!(default_untaint_threshold(80.0), 70.0);
        assert_eq!(default_untaint_threshold(20.0), 10.0);
        assert_eq!(default_untaint_threshold(12.0), 6.0);
        assert_eq!(
            SignalPolicy::with_threshold(5.0).untaint_threshold_percent,
            2.5
        );
    }

    #[test]
    fn durations_use_promql_units() {
        assert_eq!(promql_duration(Duration::from_secs(180)), "3m");
        assert_eq!(promql_duration(Duration::from_secs(90)), "90s");
    }
}
