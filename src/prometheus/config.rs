//! How to reach Prometheus: URL, credentials, TLS, headers, time limits.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Connection settings for [`super::PrometheusClient`]. Secrets are redacted from `Debug`.
#[derive(Clone)]
pub struct PrometheusConfig {
    /// Base URL, possibly with a path prefix: `https://thanos.example:9090/prom`.
    pub url: String,
    /// File holding a bearer token, re-read on every query so rotated tokens are picked up.
    pub bearer_token_file: Option<PathBuf>,
    pub bearer_token: Option<String>,
    /// `(user, password)`.
    pub basic_auth: Option<(String, String)>,
    /// PEM file of the CA(s) to trust instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key for mutual TLS (both or neither).
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// Accept any server certificate. Never a fallback: only when set on purpose.
    pub insecure_skip_verify: bool,
    /// Extra headers on every request, e.g. `X-Scope-OrgID` for Thanos/Cortex/Mimir tenants.
    pub headers: Vec<(String, String)>,
    /// Upper bound for one attempt (connect, send, evaluate, read); the tick's deadline may cut it shorter.
    pub query_timeout: Duration,
    /// Extra attempts after a 5xx, 429, timeout or connection error, as long as the deadline allows.
    pub retries: u32,
    /// Largest answer body accepted; bigger answers fail instead of exhausting memory. An answer decoded as it
    /// arrives (`query_range_fold`) may be 4 times this.
    pub max_response_bytes: u64,
}

impl PrometheusConfig {
    /// Defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            bearer_token_file: None,
            bearer_token: None,
            basic_auth: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            insecure_skip_verify: false,
            headers: Vec::new(),
            // PROMETHEUS_TIMEOUT's default: the history subqueries of a cluster-wide query take seconds.
            query_timeout: Duration::from_secs(30),
            retries: 2,
            // A cluster-wide per-container vector on 5,000 nodes is tens of MB; leave room, but not unbounded.
            max_response_bytes: 256 * 1024 * 1024,
        }
    }
}

const REDACTED: &str = "<redacted>";

/// Header names whose values are secrets.
pub(crate) fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["auth", "token", "secret", "key", "cookie", "password"]
        .iter()
        .any(|word| name.contains(word))
}

impl fmt::Debug for PrometheusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str(),
                    if is_secret_header(name) {
                        REDACTED
                    } else {
                        value.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("PrometheusConfig")
            .field("url", &redact_url(&self.url))
            .field("bearer_token_file", &self.bearer_token_file)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| REDACTED),
            )
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(user, _)| (user, REDACTED)),
            )
            .field("ca_file", &self.ca_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("headers", &headers)
            .field("query_timeout", &self.query_timeout)
            .field("retries", &self.retries)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// The URL without any `user:password@` part.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{REDACTED}@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut config = PrometheusConfig::new("https://user:hunter2@prom.example/prom");
        config.bearer_token = Some("s3cr3t-token".into());
        config.basic_auth = Some(("alice".into(), "pa55word".into()));
        config.headers = vec![
            ("X-Scope-OrgID".into(), "tenant-a".into()),
            ("X-Api-Key".into(), "k3y".into()),
        ];
        let debug = format!("{config:?}");
        for secret in ["hunter2", "s3cr3t-token", "pa55word", "k3y"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert!(
            debug.contains("alice")
                && debug.contains("tenant-a")
                && debug.contains("prom.example/prom")
        );
    }

    #[test]
    fn redacting_a_url_keeps_host_and_path() {
        assert_eq!(
            redact_url("http://a:b@h:9090/p?q=1"),
            "http://<redacted>@h:9090/p?q=1"
        );
        assert_eq!(redact_url("http://h:9090/p@x"), "http://h:9090/p@x");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
