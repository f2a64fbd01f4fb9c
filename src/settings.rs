//! Raw settings (text, as typed) → checked [`Settings`]. Every rule lives here.
//!
//! All problems are collected and reported together, each naming the env variable and flag, the value and what
//! is allowed, so one failed start-up shows everything to fix.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::RawSettings;
use crate::log::Level;
use crate::resize::ResizePolicy;
use crate::resize::apply::ResizeSettings;
use crate::resize::signals::SignalWindows;
use crate::taint::ownership::SYSTEM_TAINT_KEYS;
use crate::taint::{
    AdoptedTaint, CustomSignal, DEFAULT_TAINT_KEY, SignalPolicy, TaintEffect, TaintPolicy,
};

/// Prometheus' limit on the steps of one range query (`/api/v1/query_range`).
const MAX_RANGE_POINTS: u64 = 11_000;

/// One rejected setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub env: &'static str,
    pub flag: &'static str,
    pub value: String,
    pub allowed: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (--{}) = {:?}: {}",
            self.env, self.flag, self.value, self.allowed
        )
    }
}

/// Every rejected setting of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub Vec<SettingError>);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid settings:")?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SettingsError {}

/// Collects errors while converting settings; each `parse_*` returns a placeholder on error so checking goes on.
#[derive(Default)]
pub struct Checker {
    errors: Vec<SettingError>,
    /// Accepted settings a person should still look at (logged at every tick).
    warnings: Vec<String>,
}

impl Checker {
    pub fn warn(&mut self, env: &'static str, flag: &'static str, value: &str, why: &str) {
        self.warnings
            .push(format!("{env} (--{flag}) = {value:?}: {why}"));
    }

    pub fn reject(
        &mut self,
        env: &'static str,
        flag: &'static str,
        value: &str,
        allowed: impl Into<String>,
    ) {
        self.errors.push(SettingError {
            env,
            flag,
            value: value.to_owned(),
            allowed: allowed.into(),
        });
    }

    pub fn finish<T>(self, value: T) -> Result<T, SettingsError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(SettingsError(self.errors))
        }
    }

    pub fn bool(&mut self, env: &'static str, flag: &'static str, value: &str) -> bool {
        match parse_bool(value) {
            Some(b) => b,
            None => {
                self.reject(
                    env,
                    flag,
                    value,
                    "must be true or false (also 1/0, yes/no, on/off)",
                );
                false
            }
        }
    }

    /// A number in `[min, max]`.
    pub fn number(
        &mut self,
        env: &'static str,
        flag: &'static str,
        value: &str,
        min: f64,
        max: f64,
    ) -> f64 {
        match value.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => n,
            _ => {
                self.reject(
                    env,
                    flag,
                    value,
                    format!("must be a number from {min} to {max}"),
                );
                min
            }
        }
    }

    /// A percentage strictly inside (0, 100): thresholds of 0 or 100 would fire always or never.
    pub fn percent(&mut self, env: &'static str, flag: &'static str, value: &str) -> f64 {
        match value.trim().trim_end_matches('%').trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 && n < 100.0 => n,
            _ => {
                self.reject(
                    env,
                    flag,
                    value,
                    "must be a percentage between 0 and 100 (exclusive), e.g. 80",
                );
                50.0
            }
        }
    }

    /// A fraction in [0, 1], given as `0.3` or `30%`.
    pub fn fraction(&mut self, env: &'static str, flag: &'static str, value: &str) -> f64 {
        let text = value.trim();
        let parsed = match text.strip_suffix('%') {
            Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
            None => text.parse::<f64>(),
        };
        match parsed {
            Ok(f) if f.is_finite() && (0.0..=1.0).contains(&f) => f,
            _ => {
                self.reject(
                    env,
                    flag,
                    value,
                    "must be a fraction from 0 to 1, or a percentage like 30%",
                );
                0.0
            }
        }
    }

    /// A whole number in `[min, max]`.
    pub fn count(
        &mut self,
        env: &'static str,
        flag: &'static str,
        value: &str,
        min: u32,
        max: u32,
    ) -> u32 {
        match value.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.reject(
                    env,
                    flag,
                    value,
                    format!("must be a whole number from {min} to {max}"),
                );
                min
            }
        }
    }

    /// A duration at least `min`, written as Go does (`90s`, `1m30s`, `2h`).
    pub fn duration(
        &mut self,
        env: &'static str,
        flag: &'static str,
        value: &str,
        min: Duration,
    ) -> Duration {
        match parse_duration(value) {
            Some(d) if d >= min => d,
            _ => {
                self.reject(
                    env,
                    flag,
                    value,
                    format!(
                        "must be a duration of at least {} like 30s, 5m or 1h30m",
                        format_duration(min)
                    ),
                );
                min.max(Duration::from_secs(1))
            }
        }
    }

    /// A Kubernetes label `key=value` (what a selector or opt-out label matches).
    pub fn label_pair(
        &mut self,
        env: &'static str,
        flag: &'static str,
        value: &str,
    ) -> (String, String) {
        match value.split_once('=') {
            Some((key, val)) if is_qualified_name(key.trim()) && is_label_value(val.trim()) => {
                (key.trim().to_owned(), val.trim().to_owned())
            }
            _ => {
                self.reject(
                    env,
                    flag,
                    value,
                    "must be a label key=value, e.g. kube-thermostat.io/resize=true",
                );
                (String::new(), String::new())
            }
        }
    }

    /// A Kubernetes label key.
    pub fn label_key(&mut self, env: &'static str, flag: &'static str, value: &str) -> String {
        if is_qualified_name(value.trim()) {
            value.trim().to_owned()
        } else {
            self.reject(
                env,
                flag,
                value,
                "must be a label key such as node-role.kubernetes.io/control-plane",
            );
            String::new()
        }
    }

    /// A CPU quantity (`500m`, `2`) in millicores, positive.
    pub fn cpu(&mut self, env: &'static str, flag: &'static str, value: &str) -> i64 {
        match crate::quantity::cpu_millis(value.trim()) {
            Ok(millis) if millis > 0 => millis,
            Ok(_) => {
                self.reject(
                    env,
                    flag,
                    value,
                    "must be a positive CPU quantity such as 250m or 2",
                );
                1
            }
            Err(error) => {
                self.reject(
                    env,
                    flag,
                    value,
                    format!("must be a CPU quantity such as 250m or 2 ({error})"),
                );
                1
            }
        }
    }

    /// A memory quantity (`512Mi`, `1G`) in bytes, positive.
    pub fn memory(&mut self, env: &'static str, flag: &'static str, value: &str) -> i64 {
        match crate::quantity::memory_bytes(value.trim()) {
            Ok(bytes) if bytes > 0 => bytes,
            Ok(_) => {
                self.reject(
                    env,
                    flag,
                    value,
                    "must be a positive memory quantity such as 256Mi or 1Gi",
                );
                1
            }
            Err(error) => {
                self.reject(
                    env,
                    flag,
                    value,
                    format!("must be a memory quantity such as 256Mi or 1Gi ({error})"),
                );
                1
            }
        }
    }

    /// An existing file's path (checked here so a typo is reported at start-up, not mid-tick).
    pub fn file(&mut self, env: &'static str, flag: &'static str, value: &str) -> PathBuf {
        let path = PathBuf::from(value);
        if !path.is_file() {
            self.reject(env, flag, value, "must name a readable file");
        }
        path
    }
}

pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// Go's `time.ParseDuration` subset that people write in Kubernetes settings: `300ms`, `30s`, `5m`, `1h30m`.
/// (humantime reads `1M` as a month; we follow Go, which Kubernetes users know.)
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    (total.is_finite() && total < 1e9).then(|| Duration::from_secs_f64(total))
}

/// Inverse of [`parse_duration`] for whole seconds, as PromQL range selectors want (`3m`, `90s`, `1h`).
pub fn format_duration(duration: Duration) -> String {
    if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        crate::prometheus::promql_duration(duration)
    }
}

/// A Kubernetes qualified name: optional DNS-subdomain prefix, `/`, and a name of at most 63 characters.
pub fn is_qualified_name(text: &str) -> bool {
    let (prefix, name) = match text.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, text),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    name_ok && prefix_ok
}

/// A Kubernetes label value: empty, or at most 63 alphanumerics with `-_.` inside.
pub fn is_label_value(text: &str) -> bool {
    text.is_empty()
        || (text.len() <= 63
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text.ends_with(|c: char| c.is_ascii_alphanumeric())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

// ---- The part of the settings `--config` needs ------------------------------------------------------------

/// What `--config` needs. Checked on its own: nothing else may make `--config` fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    pub taint_schedule: Option<String>,
    pub resize_schedule: Option<String>,
    pub snapshots: bool,
}

impl HookSettings {
    /// Only a bad schedule of an enabled controller is an error: shell-operator could not run it anyway. A bad
    /// `SNAPSHOTS` or `*_ENABLED` falls back to its default here (the tick reports it).
    pub fn from_raw(raw: &RawSettings) -> Result<Self, SettingsError> {
        let mut check = Checker::default();
        let taint_enabled = parse_bool(&raw.taint_enabled).unwrap_or(true);
        let resize_enabled = parse_bool(&raw.resize_enabled).unwrap_or(true);
        let mut schedule = |enabled: bool, env: &'static str, flag: &'static str, value: &str| {
            if !enabled {
                return None;
            }
            // What shell-operator reads is what we print: the trimmed text.
            let value = value.trim();
            if let Err(why) = crate::hook::crontab::check(value) {
                check.reject(
                    env,
                    flag,
                    value,
                    format!("{why}; must be a crontab as shell-operator reads it (robfig/cron v2)"),
                );
            }
            Some(value.to_owned())
        };
        let taint_schedule = schedule(
            taint_enabled,
            "TAINT_SCHEDULE",
            "taint-schedule",
            &raw.taint_schedule,
        );
        let resize_schedule = schedule(
            resize_enabled,
            "RESIZE_SCHEDULE",
            "resize-schedule",
            &raw.resize_schedule,
        );
        let snapshots = parse_bool(&raw.snapshots).unwrap_or(true);
        check.finish(HookSettings {
            taint_schedule,
            resize_schedule,
            snapshots,
        })
    }
}

// ---- The settings of a tick -------------------------------------------------------------------------------

/// Checked settings of a tick (hook mode or `run`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub hook: HookSettings,
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

/// Where Prometheus is and how to authenticate. Secrets stay in files where possible and are read per tick.
#[derive(Clone, Default)]
pub struct PrometheusSettings {
    pub url: String,
    pub bearer_token_file: Option<PathBuf>,
    pub basic_auth: Option<(String, SecretSource)>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub insecure_skip_tls_verify: bool,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub retries: u32,
    pub max_response_bytes: u64,
}

/// A password given inline or as a file to read when needed.
#[derive(Clone)]
pub enum SecretSource {
    Inline(String),
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl fmt::Debug for PrometheusSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials (an API key header): only their names are shown.
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("PrometheusSettings")
            .field("url", &self.url)
            .field("bearer_token_file", &self.bearer_token_file)
            .field(
                "basic_auth_user",
                &self.basic_auth.as_ref().map(|(user, _)| user),
            )
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("headers", &header_names)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

/// How to reach the Kubernetes API.
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub api_url: Option<String>,
    /// `KUBE_API_QPS` / `KUBE_API_BURST`.
    pub rate_limit: crate::kube::RateLimit,
}

impl Settings {
    /// `prometheus_required`: false only for work that queries nothing (`run taint-nodes --remove-all`), so an
    /// uninstall does not need a Prometheus URL.
    pub fn from_raw(
        raw: &RawSettings,
        prometheus_required: bool,
    ) -> Result<Settings, SettingsError> {
        let mut check = Checker::default();
        let hook = match HookSettings::from_raw(raw) {
            Ok(hook) => hook,
            Err(SettingsError(errors)) => {
                check.errors.extend(errors);
                HookSettings {
                    taint_schedule: None,
                    resize_schedule: None,
                    snapshots: true,
                }
            }
        };
        let snapshots = check.bool("SNAPSHOTS", "snapshots", &raw.snapshots);
        let hook = HookSettings { snapshots, ..hook };
        let taint_enabled = check.bool("TAINT_ENABLED", "taint-enabled", &raw.taint_enabled);
        let resize_enabled = check.bool("RESIZE_ENABLED", "resize-enabled", &raw.resize_enabled);
        let tick_timeout = check.duration(
            "TICK_TIMEOUT",
            "tick-timeout",
            &raw.tick_timeout,
            Duration::from_secs(1),
        );
        let dry_run = check.bool("DRY_RUN", "shadow", &raw.dry_run);
        let taint_dry_run = match &raw.taint_dry_run {
            Some(value) => check.bool("TAINT_DRY_RUN", "taint-shadow", value),
            None => dry_run,
        };
        let resize_dry_run = match &raw.resize_dry_run {
            Some(value) => check.bool("RESIZE_DRY_RUN", "resize-shadow", value),
            None => dry_run,
        };
        if Level::parse(&raw.log_level).is_none() {
            check.reject(
                "LOG_LEVEL",
                "log-level",
                &raw.log_level,
                "must be debug, info, warn or error",
            );
        }
        let prometheus = prometheus_settings(&mut check, raw, prometheus_required);
        let kube = KubeSettings {
            kubeconfig: non_empty(&raw.kubeconfig),
            context: non_empty(&raw.context),
            api_url: non_empty(&raw.kube_api_url).map(|url| {
                if !is_http_url(&url) {
                    check.reject(
                        "KUBE_API_URL",
                        "kube-api-url",
                        &url,
                        "must be an http:// or https:// URL",
                    );
                }
                url.trim_end_matches('/').to_owned()
            }),
            rate_limit: crate::kube::RateLimit {
                qps: check.number(
                    "KUBE_API_QPS",
                    "kube-api-qps",
                    &raw.kube_api_qps,
                    0.0,
                    100_000.0,
                ),
                burst: check.count(
                    "KUBE_API_BURST",
                    "kube-api-burst",
                    &raw.kube_api_burst,
                    1,
                    100_000,
                ),
            },
        };
        let resize = resize_settings(&mut check, raw);
        let taint = taint_settings(&mut check, raw);
        let warnings = std::mem::take(&mut check.warnings);
        check.finish(Settings {
            hook,
            taint_enabled,
            resize_enabled,
            tick_timeout,
            taint_dry_run,
            resize_dry_run,
            prometheus,
            kube,
            taint,
            resize,
            warnings,
        })
    }
}

fn prometheus_settings(
    check: &mut Checker,
    raw: &RawSettings,
    required: bool,
) -> PrometheusSettings {
    let url = match non_empty(&raw.prometheus_url) {
        Some(url) if is_http_url(&url) => url.trim_end_matches('/').to_owned(),
        Some(url) => {
            check.reject(
                "PROMETHEUS_URL",
                "prometheus-url",
                &url,
                "must be an http:// or https:// URL",
            );
            String::new()
        }
        None if required => {
            check.reject(
                "PROMETHEUS_URL",
                "prometheus-url",
                "",
                "is required for a tick, e.g. http://prometheus-k8s.monitoring.svc:9090",
            );
            String::new()
        }
        None => String::new(),
    };
    let bearer_token_file = non_empty(&raw.prometheus_bearer_token_file).map(|path| {
        check.file(
            "PROMETHEUS_BEARER_TOKEN_FILE",
            "prometheus-bearer-token-file",
            &path,
        )
    });
    let password = match (
        non_empty(&raw.prometheus_password),
        non_empty(&raw.prometheus_password_file),
    ) {
        (Some(_), Some(file)) => {
            check.reject(
                "PROMETHEUS_PASSWORD_FILE",
                "prometheus-password-file",
                &file,
                "conflicts with PROMETHEUS_PASSWORD: set one",
            );
            None
        }
        (Some(password), None) => Some(SecretSource::Inline(password)),
        (None, Some(file)) => Some(SecretSource::File(check.file(
            "PROMETHEUS_PASSWORD_FILE",
            "prometheus-password-file",
            &file,
        ))),
        (None, None) => None,
    };
    let basic_auth = match (non_empty(&raw.prometheus_username), password) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        (Some(user), None) => {
            check.reject(
                "PROMETHEUS_USERNAME",
                "prometheus-username",
                &user,
                "needs PROMETHEUS_PASSWORD or PROMETHEUS_PASSWORD_FILE",
            );
            None
        }
        (None, Some(_)) => {
            check.reject(
                "PROMETHEUS_PASSWORD",
                "prometheus-password",
                "<redacted>",
                "needs PROMETHEUS_USERNAME",
            );
            None
        }
    };
    if bearer_token_file.is_some() && basic_auth.is_some() {
        check.reject(
            "PROMETHEUS_BEARER_TOKEN_FILE",
            "prometheus-bearer-token-file",
            "<set>",
            "conflicts with basic auth: use one",
        );
    }
    let ca_file = non_empty(&raw.prometheus_ca_file)
        .map(|path| check.file("PROMETHEUS_CA_FILE", "prometheus-ca-file", &path));
    let client_cert = match (
        non_empty(&raw.prometheus_client_cert_file),
        non_empty(&raw.prometheus_client_key_file),
    ) {
        (Some(cert), Some(key)) => Some((
            check.file(
                "PROMETHEUS_CLIENT_CERT_FILE",
                "prometheus-client-cert-file",
                &cert,
            ),
            check.file(
                "PROMETHEUS_CLIENT_KEY_FILE",
                "prometheus-client-key-file",
                &key,
            ),
        )),
        (None, None) => None,
        (Some(cert), None) => {
            check.reject(
                "PROMETHEUS_CLIENT_CERT_FILE",
                "prometheus-client-cert-file",
                &cert,
                "needs PROMETHEUS_CLIENT_KEY_FILE",
            );
            None
        }
        (None, Some(key)) => {
            check.reject(
                "PROMETHEUS_CLIENT_KEY_FILE",
                "prometheus-client-key-file",
                &key,
                "needs PROMETHEUS_CLIENT_CERT_FILE",
            );
            None
        }
    };
    let insecure_skip_tls_verify = check.bool(
        "PROMETHEUS_INSECURE_SKIP_TLS_VERIFY",
        "prometheus-insecure-skip-tls-verify",
        &raw.prometheus_insecure_skip_tls_verify,
    );
    let mut headers = Vec::new();
    for header in raw
        .prometheus_headers
        .iter()
        .filter(|h| !h.trim().is_empty())
    {
        match header.split_once(':') {
            Some((name, value)) if is_header_name(name.trim()) => {
                headers.push((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => {
                // The value may be a credential: show only what precedes the colon.
                let shown = header.split([':', ' ', '=']).next().unwrap_or_default();
                check.reject(
                    "PROMETHEUS_HEADERS",
                    "prometheus-header",
                    shown,
                    "must be `Name: value`, e.g. `X-Scope-OrgID: team-a`",
                );
            }
        }
    }
    let timeout = check.duration(
        "PROMETHEUS_TIMEOUT",
        "prometheus-timeout",
        &raw.prometheus_timeout,
        Duration::from_secs(1),
    );
    // A PROMETHEUS_TIMEOUT longer than TICK_TIMEOUT is no error: every query is cut at the tick's deadline.
    let retries = check.count(
        "PROMETHEUS_RETRIES",
        "prometheus-retries",
        &raw.prometheus_retries,
        0,
        10,
    );
    let max_response_bytes = check.memory(
        "PROMETHEUS_MAX_RESPONSE_BYTES",
        "prometheus-max-response-bytes",
        &raw.prometheus_max_response_bytes,
    ) as u64;
    PrometheusSettings {
        url,
        bearer_token_file,
        basic_auth,
        ca_file,
        client_cert,
        insecure_skip_tls_verify,
        headers,
        timeout,
        retries,
        max_response_bytes,
    }
}

fn taint_settings(check: &mut Checker, raw: &RawSettings) -> TaintPolicy {
    let defaults = TaintPolicy::default();
    let hot_window = check.duration(
        "HOT_WINDOW",
        "hot-window",
        &raw.hot_window,
        Duration::from_secs(1),
    );
    let cool_window = check.duration(
        "COOL_WINDOW",
        "cool-window",
        &raw.cool_window,
        Duration::from_secs(1),
    );
    let step = check.duration(
        "QUERY_STEP",
        "query-step",
        &raw.query_step,
        Duration::from_secs(1),
    );
    if step.subsec_nanos() != 0 {
        check.reject(
            "QUERY_STEP",
            "query-step",
            &raw.query_step,
            "must be whole seconds, e.g. 30s",
        );
    }
    for (env, flag, value, window) in [
        ("HOT_WINDOW", "hot-window", &raw.hot_window, hot_window),
        ("COOL_WINDOW", "cool-window", &raw.cool_window, cool_window),
    ] {
        if window < step || window.subsec_nanos() != 0 {
            check.reject(
                env,
                flag,
                value,
                format!(
                    "must be whole seconds and at least QUERY_STEP ({})",
                    format_duration(step)
                ),
            );
        } else if window.as_secs() / step.as_secs().max(1) > MAX_RANGE_POINTS {
            // Prometheus refuses a range query of more than 11,000 steps (web/api/v1).
            check.reject(
                env,
                flag,
                value,
                format!(
                    "holds more than {MAX_RANGE_POINTS} points of QUERY_STEP ({}), more than Prometheus answers \
                     in one range query: raise QUERY_STEP",
                    format_duration(step)
                ),
            );
        }
    }
    let mut signal = |threshold: (&'static str, &'static str, &str),
                      untaint: (&'static str, &'static str, Option<&String>)| {
        let threshold_percent = check.percent(threshold.0, threshold.1, threshold.2);
        let untaint_threshold_percent = match untaint.2 {
            Some(value) => {
                let untaint_percent = check.percent(untaint.0, untaint.1, value);
                if untaint_percent >= threshold_percent {
                    check.reject(
                        untaint.0,
                        untaint.1,
                        value,
                        format!("must be below {} ({threshold_percent}): the gap is the hysteresis band", threshold.0),
                    );
                }
                untaint_percent
            }
            // Ten points of hysteresis, but never below zero for a low threshold.
            None => (threshold_percent - 10.0).max(threshold_percent / 2.0),
        };
        SignalPolicy {
            threshold_percent,
            untaint_threshold_percent,
            hot_window,
            cool_window,
        }
    };
    let cpu = Some(signal(
        ("CPU_THRESHOLD", "cpu-threshold", &raw.cpu_threshold),
        (
            "CPU_UNTAINT_THRESHOLD",
            "cpu-untaint-threshold",
            raw.cpu_untaint_threshold.as_ref(),
        ),
    ));
    let memory = non_empty(&raw.memory_threshold).map(|threshold| {
        signal(
            ("MEMORY_THRESHOLD", "memory-threshold", &threshold),
            (
                "MEMORY_UNTAINT_THRESHOLD",
                "memory-untaint-threshold",
                raw.memory_untaint_threshold.as_ref(),
            ),
        )
    });
    let custom = match (
        non_empty(&raw.custom_query),
        non_empty(&raw.custom_threshold),
    ) {
        (Some(expression), Some(threshold)) => Some(CustomSignal {
            expression,
            signal: signal(
                ("CUSTOM_THRESHOLD", "custom-threshold", &threshold),
                (
                    "CUSTOM_UNTAINT_THRESHOLD",
                    "custom-untaint-threshold",
                    raw.custom_untaint_threshold.as_ref(),
                ),
            ),
        }),
        (None, None) => None,
        (Some(_), None) => {
            check.reject(
                "CUSTOM_THRESHOLD",
                "custom-threshold",
                "",
                "is required with CUSTOM_QUERY",
            );
            None
        }
        (None, Some(threshold)) => {
            check.reject(
                "CUSTOM_THRESHOLD",
                "custom-threshold",
                &threshold,
                "needs CUSTOM_QUERY",
            );
            None
        }
    };
    let taint_key = check.label_key("TAINT_KEY", "taint-key", &raw.taint_key);
    // Taints Kubernetes, cluster-autoscaler and Karpenter manage: ours must never be one of them.
    if SYSTEM_TAINT_KEYS.contains(&taint_key.as_str()) {
        check.reject(
            "TAINT_KEY",
            "taint-key",
            &raw.taint_key,
            "is owned by Kubernetes, cluster-autoscaler or Karpenter: choose a key of our own",
        );
    } else if let Some(prefix) = cluster_autoscaler_startup_prefix(&taint_key) {
        check.reject(
            "TAINT_KEY",
            "taint-key",
            &raw.taint_key,
            format!(
                "cluster-autoscaler treats a taint under {prefix} as a startup taint and the node as not ready: \
                 use the status-taint prefix {CA_STATUS_TAINT_PREFIX} instead"
            ),
        );
    } else if let Some(domain) = reserved_domain(&taint_key) {
        check.warn(
            "TAINT_KEY",
            "taint-key",
            &raw.taint_key,
            &format!(
                "the prefix {domain} is reserved for Kubernetes components (kubernetes.io, k8s.io): accepted for \
                 a migration, but choose a key of your own domain (default {DEFAULT_TAINT_KEY}; ADOPT_TAINTS \
                 takes over the taints left under the old key)"
            ),
        );
    }
    let adopted_taints = adopted_taints(check, &raw.adopt_taints);
    let taint_value = raw.taint_value.trim().to_owned();
    if !is_label_value(&taint_value) {
        check.reject(
            "TAINT_VALUE",
            "taint-value",
            &raw.taint_value,
            "must be a label value: up to 63 of [A-Za-z0-9_.-], starting and ending alphanumeric",
        );
    }
    let taint_effect = match TaintEffect::parse(raw.taint_effect.trim()) {
        Some(effect) => effect,
        None => {
            check.reject(
                "TAINT_EFFECT",
                "taint-effect",
                &raw.taint_effect,
                "must be NoSchedule or PreferNoSchedule (NoExecute with ALLOW_NO_EXECUTE=true)",
            );
            TaintEffect::NoSchedule
        }
    };
    let allow_no_execute = check.bool(
        "ALLOW_NO_EXECUTE",
        "allow-no-execute",
        &raw.allow_no_execute,
    );
    if taint_effect == TaintEffect::NoExecute && !allow_no_execute {
        check.reject(
            "TAINT_EFFECT",
            "taint-effect",
            &raw.taint_effect,
            "NoExecute evicts running pods without a toleration from every hot node: set ALLOW_NO_EXECUTE=true to mean it",
        );
    }
    let match_label = match raw.node_label.trim() {
        "auto" | "" => None,
        label
            if label.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Some(label.to_owned())
        }
        _ => {
            check.reject(
                "NODE_LABEL",
                "node-label",
                &raw.node_label,
                "must be `auto` or a Prometheus label name such as node or instance",
            );
            None
        }
    };
    let control_plane = check.label_key(
        "CONTROL_PLANE_LABEL",
        "control-plane-label",
        &raw.control_plane_label,
    );
    let mut control_plane_labels = vec![control_plane];
    // The legacy label still marks control planes on older clusters.
    control_plane_labels.push("node-role.kubernetes.io/master".to_owned());
    control_plane_labels.dedup();
    let (exclude_label_key, exclude_label_value) = check.label_pair(
        "TAINT_EXCLUDE_LABEL",
        "taint-exclude-label",
        &raw.taint_exclude_label,
    );
    TaintPolicy {
        cpu,
        memory,
        custom,
        query_step: step,
        match_label,
        taint_key,
        adopted_taints,
        taint_value,
        taint_effect,
        allow_no_execute,
        max_tainted_fraction: check.fraction(
            "MAX_TAINTED_FRACTION",
            "max-tainted-fraction",
            &raw.max_tainted_fraction,
        ),
        max_unknown_fraction: check.fraction(
            "MAX_UNKNOWN_FRACTION",
            "max-unknown-fraction",
            &raw.max_unknown_fraction,
        ),
        control_plane_labels,
        exclude_label_key,
        exclude_label_value,
        ..defaults
    }
}

/// cluster-autoscaler's key prefix for taints other tools put on running nodes: dropped from its node templates,
/// the node still counted as ready (kubernetes/autoscaler cluster-autoscaler/utils/taints/taints.go,
/// `StatusTaintPrefix`).
pub const CA_STATUS_TAINT_PREFIX: &str = "status-taint.cluster-autoscaler.kubernetes.io/";

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
                "ADOPT_TAINTS",
                "adopt-taints",
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
                "ADOPT_TAINTS",
                "adopt-taints",
                item,
                "must be key:Effect items, comma-separated, e.g. node.kubernetes.io/pressure:NoSchedule",
            ),
        }
    }
    adopted
}

fn resize_settings(check: &mut Checker, raw: &RawSettings) -> ResizeSettings {
    let defaults = ResizePolicy::default();
    let high = match &raw.resize_cpu_high {
        Some(value) => check.percent("RESIZE_CPU_HIGH", "resize-cpu-high", value),
        // The seed hook's CPU_THRESHOLD (80) is the scale-up mark unless set apart.
        None => check.percent("CPU_THRESHOLD", "cpu-threshold", &raw.cpu_threshold),
    };
    let target = check.percent(
        "RESIZE_CPU_TARGET",
        "resize-cpu-target",
        &raw.resize_cpu_target,
    );
    let low = check.percent("RESIZE_CPU_LOW", "resize-cpu-low", &raw.resize_cpu_low);
    if !(low < target && target < high) {
        check.reject(
            "RESIZE_CPU_TARGET",
            "resize-cpu-target",
            &raw.resize_cpu_target,
            format!("must lie strictly between RESIZE_CPU_LOW ({low}) and the high mark ({high}), or resizes would flap"),
        );
    }
    let memory_high = check.percent(
        "RESIZE_MEMORY_HIGH",
        "resize-memory-high",
        &raw.resize_memory_high,
    );
    let memory_target = check.percent(
        "RESIZE_MEMORY_TARGET",
        "resize-memory-target",
        &raw.resize_memory_target,
    );
    if memory_target >= memory_high {
        check.reject(
            "RESIZE_MEMORY_TARGET",
            "resize-memory-target",
            &raw.resize_memory_target,
            format!("must be below RESIZE_MEMORY_HIGH ({memory_high})"),
        );
    }
    let step = check.duration(
        "QUERY_STEP",
        "query-step",
        &raw.query_step,
        Duration::from_secs(1),
    );
    let short_window = check.duration(
        "RESIZE_SHORT_WINDOW",
        "resize-short-window",
        &raw.resize_short_window,
        step,
    );
    let stabilization_window = check.duration(
        "RESIZE_STABILIZATION_WINDOW",
        "resize-stabilization-window",
        &raw.resize_stabilization_window,
        step,
    );
    let cpu_min = check.cpu("RESIZE_CPU_MIN", "resize-cpu-min", &raw.resize_cpu_min);
    let cpu_max = check.cpu("RESIZE_CPU_MAX", "resize-cpu-max", &raw.resize_cpu_max);
    if cpu_min > cpu_max {
        check.reject(
            "RESIZE_CPU_MIN",
            "resize-cpu-min",
            &raw.resize_cpu_min,
            "must not exceed RESIZE_CPU_MAX",
        );
    }
    let memory_min = check.memory(
        "RESIZE_MEMORY_MIN",
        "resize-memory-min",
        &raw.resize_memory_min,
    );
    let memory_max = check.memory(
        "RESIZE_MEMORY_MAX",
        "resize-memory-max",
        &raw.resize_memory_max,
    );
    if memory_min > memory_max {
        check.reject(
            "RESIZE_MEMORY_MIN",
            "resize-memory-min",
            &raw.resize_memory_min,
            "must not exceed RESIZE_MEMORY_MAX",
        );
    }
    let policy = ResizePolicy {
        cpu_high_percent: high,
        cpu_target_percent: target,
        cpu_low_percent: low,
        memory_enabled: check.bool("RESIZE_MEMORY", "resize-memory", &raw.resize_memory),
        memory_high_percent: memory_high,
        memory_target_percent: memory_target,
        memory_margin_percent: check.number(
            "RESIZE_MEMORY_MARGIN",
            "resize-memory-margin",
            &raw.resize_memory_margin,
            0.0,
            200.0,
        ),
        windows: SignalWindows {
            step,
            short_window,
            stabilization_window,
            ..defaults.windows
        },
        max_step_up: check.number(
            "RESIZE_MAX_STEP_UP",
            "resize-max-step-up",
            &raw.resize_max_step_up,
            1.01,
            100.0,
        ),
        max_step_down: check.number(
            "RESIZE_MAX_STEP_DOWN",
            "resize-max-step-down",
            &raw.resize_max_step_down,
            1.01,
            100.0,
        ),
        cpu_granularity_millis: check
            .cpu(
                "RESIZE_CPU_GRANULARITY",
                "resize-cpu-granularity",
                &raw.resize_cpu_granularity,
            )
            .max(1),
        memory_granularity_bytes: check
            .memory(
                "RESIZE_MEMORY_GRANULARITY",
                "resize-memory-granularity",
                &raw.resize_memory_granularity,
            )
            .max(1),
        tolerance: check.number(
            "RESIZE_TOLERANCE",
            "resize-tolerance",
            &raw.resize_tolerance,
            0.0,
            0.9,
        ),
        cpu_min_millis: cpu_min,
        cpu_max_millis: cpu_max,
        memory_min_bytes: memory_min,
        memory_max_bytes: memory_max,
        cooldown_up: check.duration(
            "RESIZE_COOLDOWN_UP",
            "resize-cooldown-up",
            &raw.resize_cooldown_up,
            Duration::ZERO,
        ),
        cooldown_down: check.duration(
            "RESIZE_COOLDOWN_DOWN",
            "resize-cooldown-down",
            &raw.resize_cooldown_down,
            Duration::ZERO,
        ),
        allow_restart: check.bool(
            "RESIZE_ALLOW_RESTART",
            "resize-allow-restart",
            &raw.resize_allow_restart,
        ),
        deferred_timeout: check.duration(
            "RESIZE_DEFERRED_TIMEOUT",
            "resize-deferred-timeout",
            &raw.resize_deferred_timeout,
            Duration::from_secs(1),
        ),
        infeasible_backoff: check.duration(
            "RESIZE_BACKOFF",
            "resize-backoff",
            &raw.resize_backoff,
            Duration::ZERO,
        ),
        max_pods_per_tick: check.count(
            "RESIZE_MAX_PODS_PER_TICK",
            "resize-max-pods-per-tick",
            &raw.resize_max_pods_per_tick,
            1,
            100_000,
        ) as usize,
        query_max_points: check.count(
            "RESIZE_QUERY_MAX_POINTS",
            "resize-query-max-points",
            &raw.resize_query_max_points,
            0,
            1_000_000_000,
        ) as u64,
        ..defaults
    };
    ResizeSettings {
        policy,
        pod_selector: check.label_pair(
            "RESIZE_POD_SELECTOR",
            "resize-pod-selector",
            &raw.resize_pod_selector,
        ),
        namespace_selector: check.label_pair(
            "RESIZE_NAMESPACE_SELECTOR",
            "resize-namespace-selector",
            &raw.resize_namespace_selector,
        ),
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    rest.is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
    })
}

/// An HTTP header name (RFC 9110 token).
fn is_header_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_kubernetes_users_write_them() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "5", "m", "5x", "1M", "-5s", "5 m", "1h-30m"] {
            assert_eq!(parse_duration(bad), None, "{bad:?} must be rejected");
        }
    }

    #[test]
    fn durations_format_as_promql_ranges() {
        assert_eq!(format_duration(Duration::from_secs(180)), "3m");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn qualified_names_follow_kubernetes_rules() {
        for good in [
            "kube-thermostat.io/hot",
            "kube-thermostat.io/exclude",
            "dedicated",
            "a.b/c_d.e-f",
        ] {
            assert!(is_qualified_name(good), "{good:?}");
        }
        for bad in [
            "",
            "/x",
            "Bad.Prefix/x",
            "x/",
            "-x",
            "x-",
            "a/b/c",
            &"x".repeat(64),
        ] {
            assert!(!is_qualified_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn setting_error_names_env_flag_value_and_rule() {
        let mut check = Checker::default();
        check.percent("CPU_THRESHOLD", "cpu-threshold", "180");
        let message = check.finish(()).unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid settings:\n  CPU_THRESHOLD (--cpu-threshold) = \"180\": must be a percentage between 0 and 100 \
             (exclusive), e.g. 80"
        );
    }

    #[test]
    fn fractions_accept_decimals_and_percentages() {
        let mut check = Checker::default();
        assert_eq!(check.fraction("F", "f", "0.3"), 0.3);
        assert_eq!(check.fraction("F", "f", "30%"), 0.3);
        check.fraction("F", "f", "1.5");
        check.fraction("F", "f", "lots");
        assert_eq!(check.finish(()).unwrap_err().0.len(), 2);
    }

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

    fn raw() -> RawSettings {
        use clap::Parser;
        // Parse an empty command line so clap's defaults apply, as in production (no env is read: the test
        // process env is not pinned, so every env-backed field is then overwritten below).
        let mut raw = crate::cli::Cli::try_parse_from(["kube-thermostat"])
            .unwrap()
            .settings;
        raw.prometheus_url = Some("http://prometheus:9090".into());
        raw.kubeconfig = None;
        raw.context = None;
        raw.kube_api_url = None;
        raw
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
}
