//! The Prometheus client's settings: where it is, how to authenticate (secrets stay in files where possible and
//! are read per tick), TLS, extra headers and limits.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::check::{Checker, is_header_name, is_http_url, non_empty};
use super::names::name;
use crate::cli::RawSettings;

/// Where Prometheus is and how to authenticate.
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

/// `required`: false only for work that queries nothing (`run taint-nodes --remove-all`).
pub(super) fn settings(
    check: &mut Checker,
    raw: &RawSettings,
    required: bool,
) -> PrometheusSettings {
    let url = url(check, raw, required);
    let bearer_token_file = non_empty(&raw.prometheus_bearer_token_file)
        .map(|path| check.file(name!(prometheus_bearer_token_file), &path));
    let basic_auth = basic_auth(check, raw);
    if bearer_token_file.is_some() && basic_auth.is_some() {
        check.reject(
            name!(prometheus_bearer_token_file),
            "<set>",
            "conflicts with basic auth: use one",
        );
    }
    let ca_file =
        non_empty(&raw.prometheus_ca_file).map(|path| check.file(name!(prometheus_ca_file), &path));
    let client_cert = client_cert(check, raw);
    let insecure_skip_tls_verify = check.bool(
        name!(prometheus_insecure_skip_tls_verify),
        &raw.prometheus_insecure_skip_tls_verify,
    );
    let headers = headers(check, raw);
    let timeout = check.duration(
        name!(prometheus_timeout),
        &raw.prometheus_timeout,
        Duration::from_secs(1),
    );
    // A PROMETHEUS_TIMEOUT longer than TICK_TIMEOUT is no error: every query is cut at the tick's deadline.
    let retries = check.count(name!(prometheus_retries), &raw.prometheus_retries, 0, 10);
    let max_response_bytes = check.memory(
        name!(prometheus_max_response_bytes),
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

fn url(check: &mut Checker, raw: &RawSettings, required: bool) -> String {
    match non_empty(&raw.prometheus_url) {
        Some(url) if is_http_url(&url) => url.trim_end_matches('/').to_owned(),
        Some(url) => {
            check.reject(
                name!(prometheus_url),
                &url,
                "must be an http:// or https:// URL",
            );
            String::new()
        }
        None if required => {
            check.reject(
                name!(prometheus_url),
                "",
                "is required for a tick, e.g. http://prometheus-k8s.monitoring.svc:9090",
            );
            String::new()
        }
        None => String::new(),
    }
}

fn basic_auth(check: &mut Checker, raw: &RawSettings) -> Option<(String, SecretSource)> {
    let password = match (
        non_empty(&raw.prometheus_password),
        non_empty(&raw.prometheus_password_file),
    ) {
        (Some(_), Some(file)) => {
            check.reject(
                name!(prometheus_password_file),
                &file,
                format!("conflicts with {}: set one", name!(prometheus_password).env),
            );
            None
        }
        (Some(password), None) => Some(SecretSource::Inline(password)),
        (None, Some(file)) => Some(SecretSource::File(
            check.file(name!(prometheus_password_file), &file),
        )),
        (None, None) => None,
    };
    match (non_empty(&raw.prometheus_username), password) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        (Some(user), None) => {
            check.reject(
                name!(prometheus_username),
                &user,
                format!(
                    "needs {} or {}",
                    name!(prometheus_password).env,
                    name!(prometheus_password_file).env
                ),
            );
            None
        }
        (None, Some(_)) => {
            check.reject(
                name!(prometheus_password),
                "<redacted>",
                format!("needs {}", name!(prometheus_username).env),
            );
            None
        }
    }
}

fn client_cert(check: &mut Checker, raw: &RawSettings) -> Option<(PathBuf, PathBuf)> {
    match (
        non_empty(&raw.prometheus_client_cert_file),
        non_empty(&raw.prometheus_client_key_file),
    ) {
        (Some(cert), Some(key)) => Some((
            check.file(name!(prometheus_client_cert_file), &cert),
            check.file(name!(prometheus_client_key_file), &key),
        )),
        (None, None) => None,
        (Some(cert), None) => {
            check.reject(
                name!(prometheus_client_cert_file),
                &cert,
                format!("needs {}", name!(prometheus_client_key_file).env),
            );
            None
        }
        (None, Some(key)) => {
            check.reject(
                name!(prometheus_client_key_file),
                &key,
                format!("needs {}", name!(prometheus_client_cert_file).env),
            );
            None
        }
    }
}

fn headers(check: &mut Checker, raw: &RawSettings) -> Vec<(String, String)> {
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
                    name!(prometheus_headers),
                    shown,
                    "must be `Name: value`, e.g. `X-Scope-OrgID: team-a`",
                );
            }
        }
    }
    headers
}
