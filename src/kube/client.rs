//! All API I/O: one ureq agent with explicit timeouts, credentials per request, paging, bounded retries.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::RequestExt;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::config::{ClusterEndpoint, SecretBytes, TlsSettings};
use super::credentials::{Credentials, CurrentCredentials};
use super::error::{KubeError, Status};
use super::rate_limit::{RateLimit, TokenBucket};
use super::request::{ApiResource, ListParams, Patch, Request, Verb};
use crate::deadline::Deadline;

/// Knobs with defaults that suit a hook ticking every minute.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// TCP + TLS set-up; a healthy API server answers in milliseconds.
    pub connect_timeout: Duration,
    /// One request, body included; always capped further by the call's deadline.
    pub request_timeout: Duration,
    /// Attempts per request, first included, for retryable failures (429, 503, 504, 5xx with Retry-After,
    /// dropped connections).
    pub max_attempts: u32,
    /// Exponential backoff between attempts: first wait, doubled each time, capped.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// The most we wait on a server's `Retry-After`.
    pub retry_after_max: Duration,
    /// Response body cap. A LIST page of 500 pods with managed fields is ~10 MB; beyond this something is wrong.
    pub max_response_bytes: u64,
    /// Client-side rate limit of every HTTP request, retries included (`KUBE_API_QPS`, `KUBE_API_BURST`).
    pub rate_limit: RateLimit,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_attempts: 5,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(3),
            retry_after_max: Duration::from_secs(10),
            max_response_bytes: 64 * 1024 * 1024,
            rate_limit: RateLimit::default(),
        }
    }
}

/// Request counters, for metrics and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP requests sent (retries included) by (verb, resource), e.g. `("patch", "pods/resize")`.
    pub requests: BTreeMap<(String, String), u64>,
    /// Attempts after the first (retries and the re-read of credentials after a 401).
    pub retries: u64,
    /// LISTs restarted from the first page after a 410 Expired continue token.
    pub list_restarts: u64,
    /// Time spent waiting for the client-side rate limit.
    pub rate_limited_wait: Duration,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl RequestStats {
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.requests
            .get(&(verb.to_owned(), resource.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// The server's version, from `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub git_version: String,
}

impl ServerVersion {
    /// Parses `major`/`minor` as servers send them: managed clusters add a `+` (`"34+"`), some leave them
    /// empty, in which case `gitVersion` (`v1.34.2-eks-xyz`) is used.
    pub fn from_info(major: &str, minor: &str, git_version: &str) -> Option<ServerVersion> {
        fn leading_number(text: &str) -> Option<u32> {
            let digits: String = text
                .trim()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        }
        let from_fields = leading_number(major).zip(leading_number(minor));
        let from_git = || {
            let mut parts = git_version.trim().trim_start_matches('v').split('.');
            leading_number(parts.next()?).zip(leading_number(parts.next()?))
        };
        let (major, minor) = from_fields.or_else(from_git)?;
        Some(ServerVersion {
            major,
            minor,
            git_version: git_version.to_owned(),
        })
    }

    /// True when the server is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} ({})", self.major, self.minor, self.git_version)
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    #[serde(default)]
    major: String,
    #[serde(default)]
    minor: String,
    #[serde(default)]
    git_version: String,
}

#[derive(serde::Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct ListPage<T> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(serde::Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

struct AgentState {
    agent: ureq::Agent,
    /// The exec-plugin certificate the agent was built with, to rebuild it when the plugin returns another.
    exec_cert: Option<(Vec<u8>, SecretBytes)>,
}

/// A synchronous Kubernetes API client. Every call takes the tick's [`Deadline`]; nothing blocks past it.
pub struct Client {
    server: String,
    origin: String,
    tls: TlsSettings,
    proxy_url: Option<String>,
    options: ClientOptions,
    credentials: Credentials,
    agent: Mutex<AgentState>,
    stats: Mutex<RequestStats>,
    bucket: Mutex<TokenBucket>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("origin", &self.origin)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Failure classes the retry loop tells apart.
enum Attempt {
    Done(Vec<u8>),
    /// Worth another attempt, after at least this long (a server's `Retry-After`), or the backoff.
    Retry(KubeError, Option<Duration>),
    /// A 401 with credentials that may have changed (rotated token file, expired exec credential).
    Unauthorized(KubeError),
    Fail(KubeError),
}

impl Client {
    pub fn new(endpoint: ClusterEndpoint, options: ClientOptions) -> Result<Client, KubeError> {
        let agent = build_agent(&endpoint.tls, None, endpoint.proxy_url.as_deref(), &options)?;
        Ok(Client {
            server: endpoint.server,
            origin: endpoint.origin,
            tls: endpoint.tls,
            proxy_url: endpoint.proxy_url,
            credentials: Credentials::new(endpoint.auth),
            agent: Mutex::new(AgentState {
                agent,
                exec_cert: None,
            }),
            stats: Mutex::new(RequestStats::default()),
            bucket: Mutex::new(TokenBucket::new(options.rate_limit)),
            options,
        })
    }

    /// The API server's base URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Where the connection settings came from, for logs.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn stats(&self) -> RequestStats {
        lock(&self.stats).clone()
    }

    /// GET one object.
    pub fn get<T: DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        deadline: Deadline,
    ) -> Result<T, KubeError> {
        let request = Request::get(resource, namespace, name)?;
        self.send_json(&request, deadline)
    }

    /// LIST every object, page by page (`limit`, `continue`). A continue token that expired (410) restarts the
    /// list once from the first page, since the pages read so far may be from an older snapshot.
    pub fn list_all<T: DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        params: &ListParams,
        deadline: Deadline,
    ) -> Result<Vec<T>, KubeError> {
        let mut restarted = false;
        'from_first_page: loop {
            let mut items = Vec::new();
            let mut continue_token: Option<String> = None;
            loop {
                let request =
                    Request::list(resource, namespace, params, continue_token.as_deref())?;
                let page: ListPage<T> = match self.send_json(&request, deadline) {
                    Ok(page) => page,
                    Err(error) if error.is_expired() && continue_token.is_some() && !restarted => {
                        restarted = true;
                        lock(&self.stats).list_restarts += 1;
                        continue 'from_first_page;
                    }
                    Err(error) => return Err(error),
                };
                items.extend(page.items);
                match page
                    .metadata
                    .continue_token
                    .filter(|token| !token.is_empty())
                {
                    Some(next) if Some(&next) == continue_token.as_ref() => {
                        return Err(KubeError::Decode {
                            verb: Verb::List,
                            url: self.url(&request),
                            expected: "list page",
                            message: "the server returned the same continue token again".to_owned(),
                        });
                    }
                    Some(next) => continue_token = Some(next),
                    None => return Ok(items),
                }
            }
        }
    }

    /// PATCH an object or a subresource (`status`, `resize`); the patch kind sets the content type.
    /// 409 and 422 come back as errors for the caller to decide on; they are never retried here.
    pub fn patch<T: DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch: &Patch,
        deadline: Deadline,
    ) -> Result<T, KubeError> {
        let request = Request::patch(resource, namespace, name, subresource, patch)?;
        self.send_json(&request, deadline)
    }

    /// POST a new object (e.g. an Event) into a collection.
    pub fn create<T: DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        body: &impl Serialize,
        deadline: Deadline,
    ) -> Result<T, KubeError> {
        let request = Request::create(resource, namespace, body)?;
        self.send_json(&request, deadline)
    }

    /// POST to an object's subresource (e.g. `pods/{name}/eviction`).
    pub fn create_subresource<T: DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        subresource: &str,
        body: &impl Serialize,
        deadline: Deadline,
    ) -> Result<T, KubeError> {
        let request = Request::create_subresource(resource, namespace, name, subresource, body)?;
        self.send_json(&request, deadline)
    }

    /// `GET /version`.
    pub fn version(&self, deadline: Deadline) -> Result<ServerVersion, KubeError> {
        let request = Request::version();
        let info: VersionInfo = self.send_json(&request, deadline)?;
        ServerVersion::from_info(&info.major, &info.minor, &info.git_version).ok_or_else(|| {
            KubeError::Decode {
                verb: request.verb,
                url: self.url(&request),
                expected: "version",
                message: format!(
                    "major {:?}, minor {:?}, gitVersion {:?} hold no version number",
                    info.major, info.minor, info.git_version
                ),
            }
        })
    }

    /// Sends a request and decodes the JSON answer.
    pub fn send_json<T: DeserializeOwned>(
        &self,
        request: &Request,
        deadline: Deadline,
    ) -> Result<T, KubeError> {
        let body = self.send(request, deadline)?;
        serde_json::from_slice(&body).map_err(|why| KubeError::Decode {
            verb: request.verb,
            url: self.url(request),
            expected: std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("object"),
            message: why.to_string(),
        })
    }

    /// Sends a request, retrying what is worth retrying within the deadline, and returns a 2xx answer's body.
    pub fn send(&self, request: &Request, deadline: Deadline) -> Result<Vec<u8>, KubeError> {
        let url = self.url(request);
        let mut attempts = 0;
        let mut credentials_refreshed = false;
        loop {
            if deadline.expired() {
                return Err(KubeError::DeadlineExceeded {
                    verb: request.verb,
                    url,
                    attempts,
                });
            }
            self.wait_for_rate_limit(request, &url, deadline)?;
            attempts += 1;
            let outcome = self.attempt(request, &url, deadline);
            let (error, wait) = match outcome {
                Attempt::Done(body) => return Ok(body),
                Attempt::Fail(error) => return Err(error),
                Attempt::Unauthorized(error) => {
                    // One more try with fresh credentials; it does not count against max_attempts.
                    if credentials_refreshed || !self.credentials.invalidate() {
                        return Err(error);
                    }
                    credentials_refreshed = true;
                    attempts -= 1;
                    (error, Duration::ZERO)
                }
                Attempt::Retry(error, retry_after) => {
                    if attempts >= self.options.max_attempts.max(1) {
                        return Err(error);
                    }
                    (error, retry_wait(&self.options, attempts, retry_after))
                }
            };
            if deadline.expired() && matches!(error, KubeError::Transport { .. }) {
                return Err(KubeError::DeadlineExceeded {
                    verb: request.verb,
                    url,
                    attempts,
                });
            }
            if wait >= deadline.remaining() {
                // Waiting would pass the deadline: the last error says more than "deadline exceeded".
                return Err(error);
            }
            lock(&self.stats).retries += 1;
            std::thread::sleep(wait);
        }
    }

    /// Waits for the rate limit's token, or gives up at once, sending nothing, when it would come after the
    /// tick's deadline. Every write is one request that stands alone, so giving up here leaves what a deadline
    /// between two writes leaves: the next tick decides again from what is there.
    fn wait_for_rate_limit(
        &self,
        request: &Request,
        url: &str,
        deadline: Deadline,
    ) -> Result<(), KubeError> {
        let mut bucket = lock(&self.bucket);
        let limit = bucket.limit();
        let reserved = bucket.reserve(std::time::Instant::now(), deadline.remaining());
        drop(bucket);
        match reserved {
            Ok(wait) => {
                if !wait.is_zero() {
                    lock(&self.stats).rate_limited_wait += wait;
                    std::thread::sleep(wait);
                }
                Ok(())
            }
            Err(wait) => Err(KubeError::RateLimited {
                verb: request.verb,
                url: url.to_owned(),
                wait,
                qps: limit.qps,
                burst: limit.burst,
            }),
        }
    }

    fn url(&self, request: &Request) -> String {
        format!("{}{}", self.server, request.path)
    }

    fn attempt(&self, request: &Request, url: &str, deadline: Deadline) -> Attempt {
        let credentials = match self.credentials.current(deadline) {
            Ok(credentials) => credentials,
            Err(error) => return Attempt::Fail(error),
        };
        let agent = match self.agent_for(&credentials) {
            Ok(agent) => agent,
            Err(error) => return Attempt::Fail(error),
        };
        let transport = |message: String| KubeError::Transport {
            verb: request.verb,
            url: url.to_owned(),
            message,
        };
        let mut builder = ureq::http::Request::builder()
            .method(request.verb.http_method())
            .uri(url);
        if let Some(authorization) = &credentials.authorization {
            builder = builder.header("Authorization", authorization.expose());
        }
        if let Some(content_type) = request.content_type {
            builder = builder.header("Content-Type", content_type);
        }
        {
            let mut stats = lock(&self.stats);
            *stats
                .requests
                .entry((request.verb.as_str().to_owned(), request.resource.clone()))
                .or_default() += 1;
            stats.bytes_sent += request.body.as_ref().map_or(0, |body| body.len() as u64);
        }
        let timeout = Some(deadline.cap(self.options.request_timeout));
        let connect_timeout = Some(deadline.cap(self.options.connect_timeout));
        let result = match &request.body {
            Some(body) => builder.body(body.clone()).map(|http_request| {
                http_request
                    .with_agent(&agent)
                    .configure()
                    .timeout_global(timeout)
                    .timeout_connect(connect_timeout)
                    .run()
            }),
            None => builder.body(()).map(|http_request| {
                http_request
                    .with_agent(&agent)
                    .configure()
                    .timeout_global(timeout)
                    .timeout_connect(connect_timeout)
                    .run()
            }),
        };
        let mut response = match result {
            Err(why) => {
                return Attempt::Fail(transport(format!("cannot build the request: {why}")));
            }
            Ok(Err(error)) => return classify_transport_error(error, transport),
            Ok(Ok(response)) => response,
        };
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response
            .body_mut()
            .with_config()
            .limit(self.options.max_response_bytes)
            .read_to_vec()
        {
            Ok(body) => body,
            Err(error) => return classify_transport_error(error, transport),
        };
        lock(&self.stats).bytes_received += body.len() as u64;
        if (200..300).contains(&code) {
            return Attempt::Done(body);
        }
        let status = Status::from_response(code, &body);
        let retry_after = retry_after.or_else(|| {
            status
                .details
                .as_ref()
                .and_then(|details| details.retry_after_seconds)
                .map(|seconds| Duration::from_secs(u64::from(seconds)))
        });
        let error = KubeError::Api {
            status: Box::new(status),
            verb: request.verb,
            url: url.to_owned(),
        };
        match code {
            401 => Attempt::Unauthorized(error),
            // Priority and fairness, overloaded or restarting servers: kube-rs and client-go retry these.
            // A plain 500 is not retried: it is usually deterministic (e.g. a strategic merge on a type
            // without merge keys), and retrying a write that failed half-way is not ours to decide.
            429 | 503 | 504 => Attempt::Retry(error, retry_after),
            500..=599 if retry_after.is_some() => Attempt::Retry(error, retry_after),
            _ => Attempt::Fail(error),
        }
    }

    /// The agent for these credentials: rebuilt when an exec plugin hands out a different client certificate.
    fn agent_for(&self, credentials: &CurrentCredentials) -> Result<ureq::Agent, KubeError> {
        let mut state = lock(&self.agent);
        if state.exec_cert != credentials.client_cert {
            state.agent = build_agent(
                &self.tls,
                credentials.client_cert.as_ref(),
                self.proxy_url.as_deref(),
                &self.options,
            )?;
            state.exec_cert = credentials.client_cert.clone();
        }
        Ok(state.agent.clone())
    }
}

/// How long to wait before attempt `attempts + 1`: the server's `Retry-After` (capped), else exponential
/// backoff (capped). No jitter: one hook process per cluster does not make a thundering herd.
fn retry_wait(options: &ClientOptions, attempts: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(after) => after.min(options.retry_after_max),
        None => options
            .backoff_initial
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)))
            .min(options.backoff_max),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn classify_transport_error(
    error: ureq::Error,
    transport: impl Fn(String) -> KubeError,
) -> Attempt {
    match error {
        // A timeout cut short by the deadline is reported as such by the retry loop.
        ureq::Error::Timeout(which) => {
            Attempt::Retry(transport(format!("timed out ({which:?})")), None)
        }
        // Refused, reset or dropped connections: the server may be restarting, or a pooled connection went stale.
        // rustls reports certificate and handshake failures as InvalidData: retrying cannot fix a wrong CA.
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            let why = io
                .get_ref()
                .map_or_else(|| io.to_string(), ToString::to_string);
            Attempt::Fail(transport(format!("TLS: {why}")))
        }
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => {
            Attempt::Retry(transport(error.to_string()), None)
        }
        ureq::Error::BodyExceedsLimit(limit) => Attempt::Fail(transport(format!(
            "the answer is larger than the {limit}-byte limit (use paging)"
        ))),
        ureq::Error::Rustls(why) => Attempt::Fail(transport(format!("TLS: {why}"))),
        other => Attempt::Fail(transport(other.to_string())),
    }
}

fn config_error(message: String) -> KubeError {
    KubeError::Config { message }
}

fn build_agent(
    tls: &TlsSettings,
    exec_cert: Option<&(Vec<u8>, SecretBytes)>,
    proxy_url: Option<&str>,
    options: &ClientOptions,
) -> Result<ureq::Agent, KubeError> {
    let mut tls_config = TlsConfig::builder().disable_verification(tls.insecure_skip_tls_verify);
    if let Some(ca_pem) = &tls.ca_pem {
        let roots: Vec<Certificate<'static>> = ureq::tls::parse_pem(ca_pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if roots.is_empty() {
            return Err(config_error(
                "the certificate authority holds no PEM certificate".to_owned(),
            ));
        }
        tls_config = tls_config.root_certs(RootCerts::new_with_certs(&roots));
    }
    let client_pair = exec_cert
        .map(|(cert, key)| (cert.as_slice(), key.expose(), "exec plugin"))
        .or_else(|| {
            tls.client_cert_pem
                .as_deref()
                .zip(tls.client_key_pem.as_ref().map(SecretBytes::expose))
                .map(|(cert, key)| (cert, key, "kubeconfig"))
        });
    if let Some((cert_pem, key_pem, source)) = client_pair {
        let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(cert_pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if chain.is_empty() {
            return Err(config_error(format!(
                "the client certificate from the {source} holds no PEM certificate"
            )));
        }
        // Never quote the key material in the message.
        let key = PrivateKey::from_pem(key_pem).map_err(|_| {
            config_error(format!(
                "the client key from the {source} is not a PEM private key"
            ))
        })?;
        tls_config = tls_config.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    let proxy = match proxy_url {
        Some(url) => Some(
            ureq::Proxy::new(url)
                .map_err(|why| config_error(format!("proxy-url {url:?} is not usable: {why}")))?,
        ),
        None => None,
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(format!("kube-thermostat/{}", env!("CARGO_PKG_VERSION")))
        .accept("application/json")
        .timeout_connect(Some(options.connect_timeout))
        .timeout_global(Some(options.request_timeout))
        // The API does not redirect; a redirect must never carry our token elsewhere.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .proxy(proxy)
        .tls_config(tls_config.build())
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_retry_after_is_capped() {
        let options = ClientOptions::default();
        let waits: Vec<Duration> = (1..=6)
            .map(|attempt| retry_wait(&options, attempt, None))
            .collect();
        let millis: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [200, 400, 800, 1600, 3000, 3000]);
        assert_eq!(
            retry_wait(&options, 1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_wait(&options, 1, Some(Duration::from_secs(3600))),
            options.retry_after_max
        );
    }

    #[test]
    fn client_debug_shows_no_credentials() {
        let endpoint = ClusterEndpoint {
            server: "https://k8s:6443".to_owned(),
            tls: TlsSettings::default(),
            auth: crate::kube::config::Auth::Basic {
                username: "ops".to_owned(),
                password: crate::kube::config::Secret::new("hunter2"),
            },
            proxy_url: None,
            origin: "test".to_owned(),
            notes: Vec::new(),
        };
        let client = Client::new(endpoint, ClientOptions::default()).unwrap();
        let debug = format!("{client:?}");
        assert!(
            debug.contains("https://k8s:6443") && !debug.contains("hunter2"),
            "{debug}"
        );
    }

    #[test]
    fn version_minor_with_plus_is_tolerated() {
        let version = ServerVersion::from_info("1", "34+", "v1.34.1-eks-abc").unwrap();
        assert_eq!((version.major, version.minor), (1, 34));
        assert!(version.at_least(1, 33) && !version.at_least(1, 35));
    }

    #[test]
    fn empty_version_fields_fall_back_to_git_version() {
        let version = ServerVersion::from_info("", "", "v1.32.5+k3s1").unwrap();
        assert_eq!((version.major, version.minor), (1, 32));
        assert_eq!(ServerVersion::from_info("", "", "devel"), None);
    }

    #[test]
    fn a_bad_ca_is_a_clear_config_error() {
        let tls = TlsSettings {
            ca_pem: Some(b"not a pem".to_vec()),
            ..TlsSettings::default()
        };
        let message = build_agent(&tls, None, None, &ClientOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            message.contains("certificate authority holds no PEM certificate"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_client_key_is_named_without_its_content() {
        let tls = TlsSettings {
            client_cert_pem: Some(b"junk".to_vec()),
            client_key_pem: Some(SecretBytes::new(b"SECRET-KEY".to_vec())),
            ..TlsSettings::default()
        };
        let message = build_agent(&tls, None, None, &ClientOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            message.contains("client certificate from the kubeconfig"),
            "{message}"
        );
        assert!(!message.contains("SECRET-KEY"));
    }
}
