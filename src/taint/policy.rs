//! What the taint controller is told to do: plain data, built and range-checked by the settings code.
//!
//! [`TaintPolicy::default`] holds the defaults a cautious SRE would accept; [`TaintPolicy::validate`] is the one
//! check every policy must pass before [`super::decide_taints`] sees it (the settings code calls it and adds the
//! env names of its own).

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The seed script's `CPU_THRESHOLD` default: a node above 80 % CPU busy is hot.
pub const CPU_THRESHOLD: f64 = 80.0;
/// The untaint threshold sits this far below the taint threshold unless set (hysteresis band).
pub const DEFAULT_HYSTERESIS: f64 = 10.0;
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
    /// Between the two (the hysteresis band) nothing changes. Default: `threshold_percent - 10`.
    pub untaint_threshold_percent: f64,
    /// How long the signal must stay above the threshold before the node is hot (default 3 min).
    #[serde(serialize_with = "serialize_seconds")]
    pub hot_window: Duration,
    /// How long the signal must stay below the untaint threshold before the node is cool (default 5 min).
    #[serde(serialize_with = "serialize_seconds")]
    pub cool_window: Duration,
}

impl SignalPolicy {
    /// A signal with the default windows and an untaint threshold `DEFAULT_HYSTERESIS` below `threshold_percent`.
    pub fn with_threshold(threshold_percent: f64) -> SignalPolicy {
        SignalPolicy {
            threshold_percent,
            untaint_threshold_percent: threshold_percent - DEFAULT_HYSTERESIS,
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
    /// node), never to add. Never a system taint (see [`TaintPolicy::validate`]).
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
    /// Checks the rules no setting combination may break. The message names the setting (by its env name where
    /// the seed fixed one) and the value.
    pub fn validate(&self) -> Result<(), String> {
        if self.taint_effect == TaintEffect::NoExecute && !self.allow_no_execute {
            return Err("TAINT_EFFECT = \"NoExecute\" evicts running pods from hot nodes: it is refused unless \
                        the explicit allow-NoExecute setting is true"
                .to_string());
        }
        if self.taint_key.trim().is_empty() {
            return Err("TAINT_KEY is empty: a taint needs a key".to_string());
        }
        if let Some(adopted) = self
            .adopted_taints
            .iter()
            .find(|a| super::ownership::SYSTEM_TAINT_KEYS.contains(&a.key.as_str()))
        {
            return Err(format!(
                "adopted taint {adopted}: the key is owned by Kubernetes, cluster-autoscaler or Karpenter, \
                 never ours to remove"
            ));
        }
        if self.cpu.is_none() && self.memory.is_none() && self.custom.is_none() {
            return Err(
                "no signal is enabled: enable at least one of cpu, memory, custom".to_string(),
            );
        }
        let step = self.query_step.as_secs();
        if step == 0 || self.query_step.subsec_nanos() != 0 {
            return Err(format!(
                "query step = {:?}: must be a whole number of seconds, at least 1s",
                self.query_step
            ));
        }
        let rate = self.cpu_rate_window;
        if rate.subsec_nanos() != 0 || rate.as_secs() == 0 {
            return Err(format!(
                "CPU rate window = {rate:?}: must be a whole number of seconds, at least 1s"
            ));
        }
        for (name, signal) in self.signals() {
            check_signal(name, signal, self.query_step)?;
        }
        if let Some(custom) = &self.custom
            && custom.expression.trim().is_empty()
        {
            return Err("custom signal expression is empty".to_string());
        }
        if !(0.0..=1.0).contains(&self.max_tainted_fraction) {
            return Err(format!(
                "max tainted fraction = {}: must be in [0, 1]",
                self.max_tainted_fraction
            ));
        }
        if !(0.0..=1.0).contains(&self.max_unknown_fraction) {
            return Err(format!(
                "max unknown fraction = {}: must be in [0, 1]",
                self.max_unknown_fraction
            ));
        }
        if let Some(label) = &self.match_label
            && !is_label_name(label)
        {
            return Err(format!(
                "match label = {label:?}: not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
            ));
        }
        Ok(())
    }

    /// The enabled signals, in a fixed order.
    pub fn signals(&self) -> Vec<(super::SignalKind, &SignalPolicy)> {
        let mut out = Vec::new();
        if let Some(cpu) = &self.cpu {
            out.push((super::SignalKind::Cpu, cpu));
        }
        if let Some(memory) = &self.memory {
            out.push((super::SignalKind::Memory, memory));
        }
        if let Some(custom) = &self.custom {
            out.push((super::SignalKind::Custom, &custom.signal));
        }
        out
    }

    pub fn signal(&self, kind: super::SignalKind) -> Option<&SignalPolicy> {
        match kind {
            super::SignalKind::Cpu => self.cpu.as_ref(),
            super::SignalKind::Memory => self.memory.as_ref(),
            super::SignalKind::Custom => self.custom.as_ref().map(|c| &c.signal),
        }
    }

    /// Our taint's value as the API stores it: the server omits an empty value.
    pub(crate) fn taint_value_field(&self) -> Option<String> {
        (!self.taint_value.is_empty()).then(|| self.taint_value.clone())
    }
}

fn check_signal(
    name: super::SignalKind,
    signal: &SignalPolicy,
    step: Duration,
) -> Result<(), String> {
    let t = signal.threshold_percent;
    let u = signal.untaint_threshold_percent;
    if !t.is_finite() || !(0.0..=100.0).contains(&t) {
        return Err(format!(
            "{name} threshold = {t}: must be a percentage in [0, 100]"
        ));
    }
    if !u.is_finite() || u > t {
        return Err(format!(
            "{name} untaint threshold = {u}: must be a number not above the threshold ({t})"
        ));
    }
    for (what, window) in [
        ("hot window", signal.hot_window),
        ("cool window", signal.cool_window),
    ] {
        if window < step || window.subsec_nanos() != 0 {
            return Err(format!(
                "{name} {what} = {window:?}: must be whole seconds and at least the subquery step ({step:?})"
            ));
        }
    }
    Ok(())
}

fn is_label_name(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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

    #[test]
    fn defaults_are_valid_and_match_the_seed() {
        let policy = TaintPolicy::default();
        assert_eq!(policy.validate(), Ok(()));
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
    fn no_execute_is_refused_without_the_explicit_setting() {
        let policy = TaintPolicy {
            taint_effect: TaintEffect::NoExecute,
            ..TaintPolicy::default()
        };
        let error = policy.validate().unwrap_err();
        assert!(
            error.contains("TAINT_EFFECT") && error.contains("NoExecute"),
            "{error}"
        );
        let allowed = TaintPolicy {
            allow_no_execute: true,
            ..policy
        };
        assert_eq!(allowed.validate(), Ok(()));
    }

    #[test]
    fn a_system_taint_can_never_be_adopted() {
        for key in ["node.kubernetes.io/unschedulable", "karpenter.sh/disrupted"] {
            let policy = TaintPolicy {
                adopted_taints: vec![AdoptedTaint {
                    key: key.to_string(),
                    effect: TaintEffect::NoSchedule,
                }],
                ..TaintPolicy::default()
            };
            let error = policy.validate().unwrap_err();
            assert!(
                error.contains(key) && error.contains("never ours"),
                "{error}"
            );
        }
    }

    #[test]
    fn untaint_threshold_above_threshold_is_refused() {
        let policy = TaintPolicy {
            cpu: Some(SignalPolicy {
                untaint_threshold_percent: 85.0,
                ..SignalPolicy::with_threshold(80.0)
            }),
            ..TaintPolicy::default()
        };
        let error = policy.validate().unwrap_err();
        assert!(error.contains("cpu untaint threshold = 85"), "{error}");
    }

    #[test]
    fn window_shorter_than_the_step_is_refused() {
        let policy = TaintPolicy {
            cpu: Some(SignalPolicy {
                hot_window: Duration::from_secs(10),
                ..SignalPolicy::with_threshold(80.0)
            }),
            ..TaintPolicy::default()
        };
        assert!(policy.validate().unwrap_err().contains("cpu hot window"));
    }

    #[test]
    fn durations_use_promql_units() {
        assert_eq!(promql_duration(Duration::from_secs(180)), "3m");
        assert_eq!(promql_duration(Duration::from_secs(90)), "90s");
    }
}
