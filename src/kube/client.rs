//! All API I/O: one agent from the shared [`crate::http`] layer, credentials per request, paging, retries
//! bounded by the deadline (which answers are retried is decided here), the client-side rate limit.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::RequestExt;

use super::config::{ClusterEndpoint, SecretBytes, TlsSettings};
use super::credentials::{Credentials, CurrentCredentials};
use super::error::{Cause, KubeError, Status};
use super::rate_limit::{RateLimit, TokenBucket};
use super::request::{ApiResource, ListParams, Patch, Request, Verb};
use crate::deadline::Deadline;
use crate::http::{self, Backoff, GiveUp, RetryAfter, RetryPolicy, Step};

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
                            source: None,
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
                source: None,
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
            source: Some(why),
        })
    }

    /// Sends a request, retrying what is worth retrying within the deadline, and returns a 2xx answer's body.
    /// A 401 is tried once more with fresh credentials when they may have changed; that try does not count
    /// against `max_attempts`.
    pub fn send(&self, request: &Request, deadline: Deadline) -> Result<Vec<u8>, KubeError> {
        let url = self.url(request);
        let mut credentials_refreshed = false;
        let result = http::with_retries(&self.retry_policy(), &deadline, |sends| {
            if sends > 1 {
                lock(&self.stats).retries += 1;
            }
            if let Err(error) = self.wait_for_rate_limit(request, &url, deadline) {
                return Step::Fail(error);
            }
            match self.attempt(request, &url, deadline) {
                Step::Again(error) => {
                    if credentials_refreshed || !self.credentials.invalidate() {
                        return Step::Fail(error);
                    }
                    credentials_refreshed = true;
                    Step::Again(error)
                }
                step => step,
            }
        });
        result.map_err(|give_up| match give_up {
            GiveUp::Failed(error) | GiveUp::Exhausted { error, .. } => error,
            GiveUp::OutOfTime {
                error, attempts, ..
            } => {
                // A transport failure at the deadline is the deadline's doing; any other error says more.
                if deadline.expired() && matches!(error, KubeError::Transport { .. }) {
                    KubeError::DeadlineExceeded {
                        verb: request.verb,
                        url: url.clone(),
                        attempts,
                    }
                } else {
                    error
                }
            }
            GiveUp::NoTime { attempts } => KubeError::DeadlineExceeded {
                verb: request.verb,
                url: url.clone(),
                attempts,
            },
        })
    }

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.options.max_attempts,
            backoff: Backoff {
                initial: self.options.backoff_initial,
                max: self.options.backoff_max,
            },
            retry_after: RetryAfter::Instead {
                max: self.options.retry_after_max,
            },
            min_attempt_time: Duration::ZERO,
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

    /// One send: [`Step::Again`] is a 401 (credentials may have changed), [`Step::Retry`] what may heal.
    fn attempt(
        &self,
        request: &Request,
        url: &str,
        deadline: Deadline,
    ) -> Step<Vec<u8>, KubeError> {
        let credentials = match self.credentials.current(deadline) {
            Ok(credentials) => credentials,
            Err(error) => return Step::Fail(error),
        };
        let agent = match self.agent_for(&credentials) {
            Ok(agent) => agent,
            Err(error) => return Step::Fail(error),
        };
        let transport = |message: String, source: Option<Cause>| KubeError::Transport {
            verb: request.verb,
            url: url.to_owned(),
            message,
            source,
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
                let message = format!("cannot build the request: {why}");
                return Step::Fail(transport(message, Some(Box::new(why))));
            }
            Ok(Err(error)) => return classify_transport_error(error, transport),
            Ok(Ok(response)) => response,
        };
        let code = response.status().as_u16();
        let retry_after = http::retry_after_header(response.headers());
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
            return Step::Done(body);
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
            401 => Step::Again(error),
            // Priority and fairness, overloaded or restarting servers: kube-rs and client-go retry these.
            // A plain 500 is not retried: it is usually deterministic (e.g. a strategic merge on a type
            // without merge keys), and retrying a write that failed half-way is not ours to decide.
            429 | 503 | 504 => Step::Retry { error, retry_after },
            500..=599 if retry_after.is_some() => Step::Retry { error, retry_after },
            _ => Step::Fail(error),
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Which transport failures may heal. Each keeps the underlying error as its source where the message quotes it.
fn classify_transport_error(
    error: ureq::Error,
    transport: impl Fn(String, Option<Cause>) -> KubeError,
) -> Step<Vec<u8>, KubeError> {
    let retry = |error| Step::Retry {
        error,
        retry_after: None,
    };
    match error {
        // A timeout cut short by the deadline is reported as such by the retry loop. The message says all
        // ureq's error does.
        ureq::Error::Timeout(which) => retry(transport(format!("timed out ({which:?})"), None)),
        // Refused, reset or dropped connections: the server may be restarting, or a pooled connection went stale.
        // rustls reports certificate and handshake failures as InvalidData: retrying cannot fix a wrong CA.
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            let why: Cause = match io.into_inner() {
                Some(inner) => inner,
                None => Box::new(std::io::Error::from(std::io::ErrorKind::InvalidData)),
            };
            Step::Fail(transport(format!("TLS: {why}"), Some(why)))
        }
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => {
            retry(transport(error.to_string(), Some(Box::new(error))))
        }
        ureq::Error::BodyExceedsLimit(limit) => Step::Fail(transport(
            format!("the answer is larger than the {limit}-byte limit (use paging)"),
            None,
        )),
        ureq::Error::Rustls(why) => {
            Step::Fail(transport(format!("TLS: {why}"), Some(Box::new(why))))
        }
        other => Step::Fail(transport(other.to_string(), Some(Box::new(other)))),
    }
}

/// The agent for these TLS settings, with the exec plugin's client certificate instead of the kubeconfig's when
/// there is one.
fn build_agent(
    tls: &TlsSettings,
    exec_cert: Option<&(Vec<u8>, SecretBytes)>,
    proxy_url: Option<&str>,
    options: &ClientOptions,
) -> Result<ureq::Agent, KubeError> {
    let client_pair = exec_cert
        .map(|(cert, key)| (cert.as_slice(), key.expose(), "exec plugin"))
        .or_else(|| {
            tls.client_cert_pem
                .as_deref()
                .zip(tls.client_key_pem.as_ref().map(SecretBytes::expose))
                .map(|(cert, key)| (cert, key, "kubeconfig"))
        });
    let chain_what =
        client_pair.map(|(_, _, source)| format!("client certificate from the {source}"));
    let key_what = client_pair.map(|(_, _, source)| format!("client key from the {source}"));
    let client = client_pair
        .zip(chain_what.as_deref().zip(key_what.as_deref()))
        .map(|((cert, key, _), (chain_what, key_what))| http::ClientPem {
            chain: http::Pem {
                bytes: cert,
                what: chain_what,
            },
            key: http::Pem {
                bytes: key,
                what: key_what,
            },
        });
    let tls = http::TlsPem {
        ca: tls.ca_pem.as_deref().map(|bytes| http::Pem {
            bytes,
            what: "certificate authority",
        }),
        client,
        insecure_skip_verify: tls.insecure_skip_tls_verify,
        malformed: http::MalformedPem::Skip,
    };
    let proxy = match proxy_url {
        Some(url) => Some(ureq::Proxy::new(url).map_err(|why| KubeError::Config {
            message: format!("proxy-url {url:?} is not usable: {why}"),
            source: Some(Box::new(why)),
        })?),
        None => None,
    };
    http::build_agent(http::AgentOptions {
        connect_timeout: options.connect_timeout,
        request_timeout: options.request_timeout,
        tls,
        // Proxy environment variables are not used: in-cluster traffic must not leave through a proxy meant
        // for the internet.
        proxy: http::ProxyChoice::Exactly(proxy),
        accept: Some("application/json"),
    })
    .map_err(|error| match error {
        // Never quote the key material, nor a parse error about it.
        http::TlsError::BadKey { what, .. } => {
            KubeError::config(format!("the {what} is not a PEM private key"))
        }
        other => KubeError::config(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_retry_after_is_capped() {
        let options = ClientOptions::default();
        let client = Client::new(endpoint(), options.clone()).unwrap();
        let policy = client.retry_policy();
        let millis: Vec<u128> = (1..=6)
            .map(|attempt| policy.backoff.after(attempt).as_millis())
            .collect();
        assert_eq!(millis, [200, 400, 800, 1600, 3000, 3000]);
        assert_eq!(
            policy.retry_after,
            RetryAfter::Instead {
                max: options.retry_after_max
            }
        );
        assert_eq!(policy.max_attempts, 5);
    }

    fn endpoint() -> ClusterEndpoint {
        ClusterEndpoint {
            server: "https://k8s:6443".to_owned(),
            tls: TlsSettings::default(),
            auth: crate::kube::config::Auth::Basic {
                username: "ops".to_owned(),
                password: crate::kube::config::Secret::new("hunter2"),
            },
            proxy_url: None,
            origin: "test".to_owned(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn client_debug_shows_no_credentials() {
        let client = Client::new(endpoint(), ClientOptions::default()).unwrap();
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
