//! The [`Checker`], which collects every rejected setting, and the parsers of setting values (booleans, numbers,
//! Go durations, Kubernetes label keys and values, quantities). Imports the value types below it only.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::names::Name;

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

/// Collects errors while converting settings; each parser returns a placeholder on error so checking goes on.
/// A rule between settings is only judged when all of them were accepted ([`Checker::accepted`]): each bad
/// value is reported once, and nothing is derived from a placeholder.
#[derive(Default)]
pub struct Checker {
    errors: Vec<SettingError>,
    /// Accepted settings a person should still look at (logged at every tick).
    warnings: Vec<String>,
}

impl Checker {
    pub fn warn(&mut self, name: Name, value: &str, why: &str) {
        self.warnings
            .push(format!("{} (--{}) = {value:?}: {why}", name.env, name.flag));
    }

    pub fn reject(&mut self, name: Name, value: &str, allowed: impl Into<String>) {
        self.errors.push(SettingError {
            env: name.env,
            flag: name.flag,
            value: value.to_owned(),
            allowed: allowed.into(),
        });
    }

    /// Whether none of `names` was rejected so far.
    pub fn accepted(&self, names: &[Name]) -> bool {
        !self
            .errors
            .iter()
            .any(|error| names.iter().any(|name| name.env == error.env))
    }

    /// The warnings so far, taken out of the checker.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    pub fn finish<T>(self, value: T) -> Result<T, SettingsError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(SettingsError(self.errors))
        }
    }

    pub fn bool(&mut self, name: Name, value: &str) -> bool {
        match parse_bool(value) {
            Some(b) => b,
            None => {
                self.reject(
                    name,
                    value,
                    "must be true or false (also 1/0, yes/no, on/off)",
                );
                false
            }
        }
    }

    /// A number in `[min, max]`.
    pub fn number(&mut self, name: Name, value: &str, min: f64, max: f64) -> f64 {
        match value.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => n,
            _ => {
                self.reject(name, value, format!("must be a number from {min} to {max}"));
                min
            }
        }
    }

    /// A percentage strictly inside (0, 100): thresholds of 0 or 100 would fire always or never.
    pub fn percent(&mut self, name: Name, value: &str) -> f64 {
        match value.trim().trim_end_matches('%').trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 && n < 100.0 => n,
            _ => {
                self.reject(
                    name,
                    value,
                    "must be a percentage between 0 and 100 (exclusive), e.g. 80",
                );
                50.0
            }
        }
    }

    /// A fraction in [0, 1], given as `0.3` or `30%`.
    pub fn fraction(&mut self, name: Name, value: &str) -> f64 {
        let text = value.trim();
        let parsed = match text.strip_suffix('%') {
            Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
            None => text.parse::<f64>(),
        };
        match parsed {
            Ok(f) if f.is_finite() && (0.0..=1.0).contains(&f) => f,
            _ => {
                self.reject(
                    name,
                    value,
                    "must be a fraction from 0 to 1, or a percentage like 30%",
                );
                0.0
            }
        }
    }

    /// A whole number in `[min, max]`.
    pub fn count(&mut self, name: Name, value: &str, min: u32, max: u32) -> u32 {
        match value.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.reject(
                    name,
                    value,
                    format!("must be a whole number from {min} to {max}"),
                );
                min
            }
        }
    }

    /// A duration at least `min`, written as Go does (`90s`, `1m30s`, `2h`).
    pub fn duration(&mut self, name: Name, value: &str, min: Duration) -> Duration {
        match parse_duration(value) {
            Some(d) if d >= min => d,
            _ => {
                self.reject(
                    name,
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
    pub fn label_pair(&mut self, name: Name, value: &str) -> (String, String) {
        match value.split_once('=') {
            Some((key, val)) if is_qualified_name(key.trim()) && is_label_value(val.trim()) => {
                (key.trim().to_owned(), val.trim().to_owned())
            }
            _ => {
                self.reject(
                    name,
                    value,
                    "must be a label key=value, e.g. kube-thermostat.io/resize=true",
                );
                (String::new(), String::new())
            }
        }
    }

    /// A Kubernetes label key.
    pub fn label_key(&mut self, name: Name, value: &str) -> String {
        if is_qualified_name(value.trim()) {
            value.trim().to_owned()
        } else {
            self.reject(
                name,
                value,
                "must be a label key such as node-role.kubernetes.io/control-plane",
            );
            String::new()
        }
    }

    /// A CPU quantity (`500m`, `2`) in millicores, positive.
    pub fn cpu(&mut self, name: Name, value: &str) -> i64 {
        match crate::quantity::cpu_millis(value.trim()) {
            Ok(millis) if millis > 0 => millis,
            Ok(_) => {
                self.reject(
                    name,
                    value,
                    "must be a positive CPU quantity such as 250m or 2",
                );
                1
            }
            Err(error) => {
                self.reject(
                    name,
                    value,
                    format!("must be a CPU quantity such as 250m or 2 ({error})"),
                );
                1
            }
        }
    }

    /// A memory quantity (`512Mi`, `1G`) in bytes, positive.
    pub fn memory(&mut self, name: Name, value: &str) -> i64 {
        match crate::quantity::memory_bytes(value.trim()) {
            Ok(bytes) if bytes > 0 => bytes,
            Ok(_) => {
                self.reject(
                    name,
                    value,
                    "must be a positive memory quantity such as 256Mi or 1Gi",
                );
                1
            }
            Err(error) => {
                self.reject(
                    name,
                    value,
                    format!("must be a memory quantity such as 256Mi or 1Gi ({error})"),
                );
                1
            }
        }
    }

    /// An existing file's path (checked here so a typo is reported at start-up, not mid-tick).
    pub fn file(&mut self, name: Name, value: &str) -> PathBuf {
        let path = PathBuf::from(value);
        if !path.is_file() {
            self.reject(name, value, "must name a readable file");
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

/// A setting given and not blank, trimmed.
pub fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    rest.is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
    })
}

/// An HTTP header name (RFC 9110 token).
pub fn is_header_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::names::name;

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
        check.percent(name!(cpu_threshold), "180");
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
        assert_eq!(check.fraction(name!(max_tainted_fraction), "0.3"), 0.3);
        assert_eq!(check.fraction(name!(max_tainted_fraction), "30%"), 0.3);
        check.fraction(name!(max_tainted_fraction), "1.5");
        check.fraction(name!(max_tainted_fraction), "lots");
        assert_eq!(check.finish(()).unwrap_err().0.len(), 2);
    }
}
