//! Raw settings (text, as typed) → checked [`Settings`]. Every rule lives here.
//!
//! All problems are collected and reported together, each naming the env variable and flag, the value and what
//! is allowed, so one failed start-up shows everything to fix.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::RawSettings;
use crate::log::Level;

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
}

impl Checker {
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
    let secs = duration.as_secs();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
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

/// A crontab shell-operator accepts: 5 fields, 6 with seconds, or a `@` descriptor such as `@every 30s`.
pub fn is_crontab(text: &str) -> bool {
    let text = text.trim();
    if let Some(every) = text.strip_prefix("@every ") {
        return parse_duration(every).is_some_and(|d| d >= Duration::from_secs(1));
    }
    if text.starts_with('@') {
        return matches!(
            text,
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly"
        );
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    (5..=6).contains(&fields.len())
        && fields.iter().all(|f| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '?'))
        })
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
            if !is_crontab(value) {
                check.reject(
                    env,
                    flag,
                    value,
                    "must be a crontab of 5 or 6 fields, or @every DURATION",
                );
            }
            Some(value.trim().to_owned())
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
}

impl Settings {
    pub fn from_raw(raw: &RawSettings) -> Result<Settings, SettingsError> {
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
        let dry_run = check.bool("DRY_RUN", "dry-run", &raw.dry_run);
        let taint_dry_run = match &raw.taint_dry_run {
            Some(value) => check.bool("TAINT_DRY_RUN", "taint-dry-run", value),
            None => dry_run,
        };
        let resize_dry_run = match &raw.resize_dry_run {
            Some(value) => check.bool("RESIZE_DRY_RUN", "resize-dry-run", value),
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
        let prometheus = prometheus_settings(&mut check, raw, tick_timeout);
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
        };
        check.finish(Settings {
            hook,
            taint_enabled,
            resize_enabled,
            tick_timeout,
            taint_dry_run,
            resize_dry_run,
            prometheus,
            kube,
        })
    }
}

fn prometheus_settings(
    check: &mut Checker,
    raw: &RawSettings,
    tick_timeout: Duration,
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
        None => {
            check.reject(
                "PROMETHEUS_URL",
                "prometheus-url",
                "",
                "is required for a tick, e.g. http://prometheus-k8s.monitoring.svc:9090",
            );
            String::new()
        }
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
    // Compared only against a valid TICK_TIMEOUT: one mistake is reported once.
    if parse_duration(&raw.tick_timeout).is_some() && timeout > tick_timeout {
        check.reject(
            "PROMETHEUS_TIMEOUT",
            "prometheus-timeout",
            &raw.prometheus_timeout,
            format!(
                "must not exceed TICK_TIMEOUT ({})",
                format_duration(tick_timeout)
            ),
        );
    }
    let retries = check.count(
        "PROMETHEUS_RETRIES",
        "prometheus-retries",
        &raw.prometheus_retries,
        0,
        10,
    );
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
    fn crontabs_accepted_as_shell_operator_does() {
        for good in [
            "* * * * *",
            "*/2 * * * *",
            "*/30 * * * * *",
            "0 9-17 * * MON-FRI",
            "@every 30s",
            "@hourly",
        ] {
            assert!(is_crontab(good), "{good:?}");
        }
        for bad in [
            "",
            "* * * *",
            "* * * * * * *",
            "@every",
            "@every soon",
            "@sometimes",
            "* * * * ;",
        ] {
            assert!(!is_crontab(bad), "{bad:?}");
        }
    }

    #[test]
    fn qualified_names_follow_kubernetes_rules() {
        for good in [
            "node.kubernetes.io/pressure",
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
        let settings = Settings::from_raw(&raw()).unwrap();
        assert_eq!(settings.prometheus.url, "http://prometheus:9090");
        assert_eq!(settings.tick_timeout, Duration::from_secs(45));
        assert!(!settings.taint_dry_run && !settings.resize_dry_run);
    }

    #[test]
    fn every_bad_setting_is_reported_at_once() {
        let mut raw = raw();
        raw.prometheus_url = None;
        raw.tick_timeout = "forever".into();
        raw.prometheus_headers = vec!["X-Api-Key secret-value".into()];
        let errors = Settings::from_raw(&raw).unwrap_err();
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
    fn per_controller_dry_run_overrides_the_global_one() {
        let mut raw = raw();
        raw.dry_run = "true".into();
        raw.resize_dry_run = Some("false".into());
        let settings = Settings::from_raw(&raw).unwrap();
        assert!(settings.taint_dry_run);
        assert!(!settings.resize_dry_run);
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let mut raw = raw();
        raw.prometheus_username = Some("thermostat".into());
        raw.prometheus_password = Some("hunter2".into());
        raw.prometheus_headers = vec!["X-Api-Key: k3y".into()];
        let settings = Settings::from_raw(&raw).unwrap();
        let debug = format!("{settings:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("k3y"),
            "{debug}"
        );
        assert!(debug.contains("X-Api-Key"));
    }
}
