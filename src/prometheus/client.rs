//! The HTTP side: one ureq agent, instant and range queries with retries inside the tick's deadline.

use super::answer::{self, Decoded, QueryAnswer};
use super::config::{PrometheusConfig, is_secret_header, redact_url};
use super::streamed::{self, StreamedAnswer};
use crate::deadline::Deadline;
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// TCP connect limit (a dead host should fail fast, leaving time for a retry).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Below this much time left an attempt is pointless.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(50);
/// Body shown in an error message, at most.
const ERROR_BODY_CHARS: usize = 512;
/// A streamed answer may be this many times `max_response_bytes` (1 GiB by default).
const STREAMED_LIMIT_FACTOR: u64 = 4;
/// Read size for a streamed answer: few reads, little memory.
const STREAM_BUFFER_BYTES: usize = 256 * 1024;

/// The evaluations of a range query: `start`, `start + step`, ... up to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSpan {
    pub start: SystemTime,
    pub end: SystemTime,
    pub step: Duration,
}

/// A [`RangeSpan`] as form values.
struct RangeParams([String; 3]);

impl RangeSpan {
    fn params(&self) -> anyhow::Result<RangeParams> {
        Ok(RangeParams([
            unix_seconds(self.start)?,
            unix_seconds(self.end)?,
            format!("{:.3}", self.step.as_secs_f64()),
        ]))
    }
}

impl RangeParams {
    fn as_form(&self) -> [(&str, &str); 3] {
        let [start, end, step] = &self.0;
        [("start", start), ("end", end), ("step", step)]
    }
}

/// Counters for the tick's metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PrometheusStats {
    /// Calls to [`PrometheusClient::query`] and [`PrometheusClient::query_range`].
    pub queries: u64,
    /// Queries that ended in an error.
    pub failed_queries: u64,
    /// HTTP requests sent (first tries and retries).
    pub attempts: u64,
    pub retries: u64,
    /// Wall time spent in `query`, retries and back-off included.
    pub query_time: Duration,
}

/// A Prometheus HTTP API client. Build once per tick (or process) and share: it pools connections.
pub struct PrometheusClient {
    agent: ureq::Agent,
    config: PrometheusConfig,
    query_url: String,
    query_range_url: String,
    stats: Mutex<PrometheusStats>,
}

impl fmt::Debug for PrometheusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed, and whether another may help.
enum AttemptError {
    /// 5xx, 429, timeout, connection trouble.
    Transient(anyhow::Error),
    /// 429 or 503 with `Retry-After` (seconds): retry no sooner than that.
    Throttled(anyhow::Error, Duration),
    /// The same request would fail again: bad query, auth, TLS, malformed answer, settings.
    Permanent(anyhow::Error),
}

impl PrometheusClient {
    /// Checks the settings and reads the TLS files; talks to no server.
    pub fn new(config: PrometheusConfig) -> anyhow::Result<Self> {
        let base = validate_url(&config.url)?;
        if config.bearer_token.is_some() && config.bearer_token_file.is_some() {
            bail!("Prometheus bearer token and bearer token file are both set: choose one");
        }
        if config.basic_auth.is_some()
            && (config.bearer_token.is_some() || config.bearer_token_file.is_some())
        {
            bail!("Prometheus basic auth and bearer token are both set: choose one");
        }
        for (name, value) in &config.headers {
            ureq::http::HeaderName::from_bytes(name.as_bytes()).with_context(|| {
                format!("Prometheus extra header name {name:?} is not a valid HTTP header name")
            })?;
            if ureq::http::HeaderValue::from_str(value).is_err() {
                let shown = if is_secret_header(name) {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                bail!(
                    "Prometheus extra header {name}: value {shown:?} is not a valid HTTP header value"
                );
            }
        }
        let mut agent_config = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(config.query_timeout))
            // Read 4xx/5xx bodies: Prometheus explains the failure there.
            .http_status_as_error(false)
            // A redirect from the query endpoint is a login page or a wrong URL; following it hides that.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("kube-thermostat/", env!("CARGO_PKG_VERSION")));
        if let Some(tls) = tls_config(&config)? {
            agent_config = agent_config.tls_config(tls);
        }
        Ok(Self {
            agent: agent_config.build().into(),
            query_url: format!("{base}/api/v1/query"),
            query_range_url: format!("{base}/api/v1/query_range"),
            config,
            stats: Mutex::default(),
        })
    }

    /// The query endpoint (no credentials), for messages.
    pub fn query_url(&self) -> &str {
        &self.query_url
    }

    pub fn stats(&self) -> PrometheusStats {
        *self.lock_stats()
    }

    /// Evaluates `expr` at `at`. Retries transient failures (5xx, 429, timeouts, connection errors) up to
    /// `retries` times, never past `deadline`; the server-side `timeout` is bounded by it too.
    pub fn query(
        &self,
        expr: &str,
        at: SystemTime,
        deadline: &Deadline,
    ) -> anyhow::Result<QueryAnswer> {
        let time = unix_seconds(at)?;
        self.fetch(&self.query_url, expr, &[("time", &time)], deadline)
    }

    /// Evaluates `expr` at `start`, `start + step`, ... up to `end` (`/api/v1/query_range`): one pass over the
    /// series for a whole window, where several subqueries would each select them again. Retries as
    /// [`PrometheusClient::query`] does.
    pub fn query_range(
        &self,
        expr: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
        deadline: &Deadline,
    ) -> anyhow::Result<QueryAnswer> {
        let params = RangeSpan { start, end, step }.params()?;
        self.fetch(&self.query_range_url, expr, &params.as_form(), deadline)
    }

    /// [`PrometheusClient::query_range`] for an answer too large to hold: each series is decoded as it arrives
    /// (labels as `L`, a struct of the labels wanted) and folded into a `T` started by `init`, so memory follows
    /// what the caller keeps, not the answer's size. A retry starts a new `T`; the one returned comes from a
    /// complete, checked answer.
    pub fn query_range_fold<L, T>(
        &self,
        expr: &str,
        span: RangeSpan,
        deadline: &Deadline,
        init: impl Fn() -> T,
        mut fold: impl FnMut(&mut T, L, &[(f64, f64)]),
    ) -> anyhow::Result<(T, StreamedAnswer)>
    where
        L: DeserializeOwned + Default + fmt::Debug,
    {
        let params = span.params()?;
        let url = &self.query_range_url;
        self.measured(url, expr, deadline, |budget| {
            let (status, response) = self.send(url, expr, &params.as_form(), budget)?;
            self.read_streamed(status, response, budget, &init, &mut fold)
        })
    }

    /// One query, counted in [`PrometheusStats`], its error naming the URL and the query.
    fn measured<T>(
        &self,
        url: &str,
        expr: &str,
        deadline: &Deadline,
        attempt: impl FnMut(Duration) -> Result<T, AttemptError>,
    ) -> anyhow::Result<T> {
        let started = Instant::now();
        let result = self.with_retries(deadline, attempt);
        let mut stats = self.lock_stats();
        stats.queries += 1;
        stats.failed_queries += u64::from(result.is_err());
        stats.query_time += started.elapsed();
        drop(stats);
        result.with_context(|| format!("Prometheus query to {url} failed (query: {expr})"))
    }

    /// Sends and reads an answer as a whole (instant queries, small range answers).
    fn fetch(
        &self,
        url: &str,
        expr: &str,
        params: &[(&str, &str)],
        deadline: &Deadline,
    ) -> anyhow::Result<QueryAnswer> {
        self.measured(url, expr, deadline, |budget| {
            let (status, response) = self.send(url, expr, params, budget)?;
            self.read_whole(status, response, budget)
        })
    }

    fn with_retries<T>(
        &self,
        deadline: &Deadline,
        mut attempt: impl FnMut(Duration) -> Result<T, AttemptError>,
    ) -> anyhow::Result<T> {
        let attempts_allowed = self.config.retries.saturating_add(1);
        let mut tries = 0;
        loop {
            tries += 1;
            let budget = deadline.cap(self.config.query_timeout);
            if budget < MIN_ATTEMPT_TIME {
                bail!("the tick's deadline left no time to send it");
            }
            self.lock_stats().attempts += 1;
            let backoff = Duration::from_millis(100 * (1 << tries.min(4)));
            let (error, wait) = match attempt(budget) {
                Ok(answer) => return Ok(answer),
                Err(AttemptError::Permanent(error)) => return Err(error),
                Err(AttemptError::Transient(error)) => (error, backoff),
                Err(AttemptError::Throttled(error, after)) => (error, after.max(backoff)),
            };
            if tries >= attempts_allowed {
                return Err(error.context(format!("gave up after {tries} attempts")));
            }
            if deadline.remaining() < wait + MIN_ATTEMPT_TIME {
                return Err(error.context(format!(
                    "no time left before the tick's deadline for another attempt {wait:?} from now, after \
                     {tries} attempts"
                )));
            }
            std::thread::sleep(wait);
            self.lock_stats().retries += 1;
        }
    }

    /// Sends one query; a redirect is refused here, any other status is the caller's to read.
    fn send(
        &self,
        url: &str,
        expr: &str,
        params: &[(&str, &str)],
        budget: Duration,
    ) -> Result<(u16, ureq::http::Response<ureq::Body>), AttemptError> {
        // Ask the server to stop a little before we stop waiting, so a slow query fails with its own explanation.
        let server_timeout = budget.saturating_sub((budget / 10).min(Duration::from_millis(500)));
        let server_timeout = format!("{:.3}", server_timeout.as_secs_f64().max(0.001));
        let mut request = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(budget))
            .build();
        for (name, value) in &self.config.headers {
            request = request.header(name, value);
        }
        if let Some(authorization) = self.authorization().map_err(AttemptError::Permanent)? {
            request = request.header("Authorization", authorization);
        }
        let mut form = vec![("query", expr), ("timeout", server_timeout.as_str())];
        form.extend_from_slice(params);
        let response = request
            .send_form(form)
            .map_err(|error| classify(error, budget))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?");
            return Err(AttemptError::Permanent(anyhow!(
                "HTTP {status} redirect to {}: check the URL and its path prefix (a login page?)",
                redact_url(location)
            )));
        }
        Ok((status, response))
    }

    fn read_whole(
        &self,
        status: u16,
        mut response: ureq::http::Response<ureq::Body>,
        budget: Duration,
    ) -> Result<QueryAnswer, AttemptError> {
        // Query frontends (Thanos, Mimir, Cortex) say when to come back; HTTP dates are not worth parsing here.
        let retry_after = matches!(status, 429 | 503)
            .then(|| response.headers().get("Retry-After"))
            .flatten()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            // Beyond any tick's deadline anyway; bounded so the arithmetic on it cannot overflow.
            .map(|seconds| Duration::from_secs(seconds.min(86_400)));
        let body = response
            .body_mut()
            .with_config()
            .limit(self.config.max_response_bytes)
            .read_to_string()
            .map_err(|error| match error {
                ureq::Error::BodyExceedsLimit(limit) => too_large(status, limit),
                other => classify(other, budget),
            })?;
        let transient = status >= 500 || status == 429;
        if !(200..300).contains(&status) {
            return Err(match (failed_answer(status, body), retry_after) {
                (AttemptError::Transient(error), Some(after)) => AttemptError::Throttled(
                    error.context(format!("Retry-After: {}", after.as_secs())),
                    after,
                ),
                (other, _) => other,
            });
        }
        match answer::decode(body) {
            Ok(Decoded::Success(answer)) => Ok(answer),
            Ok(Decoded::ApiError {
                error_type,
                error,
                warnings,
            }) => Err(wrap(
                transient,
                api_error(status, error_type, error, &warnings),
            )),
            Err((problem, body)) => Err(AttemptError::Permanent(anyhow!(
                "HTTP {status}: {problem}; body: {}",
                excerpt(&body)
            ))),
        }
    }

    /// A success is decoded while it arrives; any other status has a small body, read whole.
    fn read_streamed<L, T>(
        &self,
        status: u16,
        mut response: ureq::http::Response<ureq::Body>,
        budget: Duration,
        init: &impl Fn() -> T,
        fold: &mut impl FnMut(&mut T, L, &[(f64, f64)]),
    ) -> Result<(T, StreamedAnswer), AttemptError>
    where
        L: DeserializeOwned + Default + fmt::Debug,
    {
        if !(200..300).contains(&status) {
            return Err(match self.read_whole(status, response, budget) {
                Err(error) => error,
                Ok(_) => unexpected_success(status),
            });
        }
        // Memory does not follow a streamed answer's size, so it may be larger than one held whole; the limit
        // still stops a runaway answer (duplicate scrapes multiply the expected size).
        let limit = self
            .config
            .max_response_bytes
            .saturating_mul(STREAMED_LIMIT_FACTOR);
        let reader = response.body_mut().with_config().limit(limit).reader();
        // The head is kept below the buffer: its first read is a whole buffer, not the one byte the decoder saw.
        let mut reader = BufReader::with_capacity(STREAM_BUFFER_BYTES, KeepingHead::new(reader));
        let mut folded = init();
        let decoded = streamed::decode_matrix_from(&mut reader, |labels, points| {
            fold(&mut folded, labels, points)
        });
        match decoded {
            Ok(Decoded::Success(answer)) => Ok((folded, answer)),
            Ok(Decoded::ApiError {
                error_type,
                error,
                warnings,
            }) => Err(AttemptError::Permanent(api_error(
                status, error_type, error, &warnings,
            ))),
            Err(error) => Err(classify_stream_error(
                status,
                error,
                &reader.get_ref().head(),
                limit,
                budget,
            )),
        }
    }

    /// The `Authorization` header value, reading the token file now so a rotated token is used.
    fn authorization(&self) -> anyhow::Result<Option<String>> {
        if let Some(path) = &self.config.bearer_token_file {
            return Ok(Some(format!("Bearer {}", read_token(path)?)));
        }
        if let Some(token) = &self.config.bearer_token {
            return Ok(Some(format!("Bearer {}", token.trim())));
        }
        if let Some((user, password)) = &self.config.basic_auth {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            return Ok(Some(format!("Basic {encoded}")));
        }
        Ok(None)
    }

    fn lock_stats(&self) -> MutexGuard<'_, PrometheusStats> {
        self.stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An answer stopped at the byte limit: the caller may ask for less instead (find it in the error's chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerTooLarge {
    pub limit: u64,
}

impl fmt::Display for AnswerTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "answer larger than the {} byte limit (PROMETHEUS_MAX_RESPONSE_BYTES, 4 times that for a range answer \
             read as it arrives): ask for less (aggregate more, a shorter window, a coarser step) or raise it",
            self.limit
        )
    }
}

impl std::error::Error for AnswerTooLarge {}

fn too_large(status: u16, limit: u64) -> AttemptError {
    AttemptError::Permanent(
        anyhow::Error::new(AnswerTooLarge { limit }).context(format!("HTTP {status}")),
    )
}

/// A non-2xx answer: Prometheus' own explanation when the body has one, else the body.
fn failed_answer(status: u16, body: String) -> AttemptError {
    let transient = status >= 500 || status == 429;
    let shown = excerpt(&body);
    match answer::decode(body) {
        Ok(Decoded::ApiError {
            error_type,
            error,
            warnings,
        }) => wrap(transient, api_error(status, error_type, error, &warnings)),
        _ => wrap(transient, anyhow!("HTTP {status}: {shown}")),
    }
}

fn unexpected_success(status: u16) -> AttemptError {
    AttemptError::Permanent(anyhow!("HTTP {status} with a successful answer"))
}

fn api_error(
    status: u16,
    error_type: Option<String>,
    error: Option<String>,
    warnings: &[String],
) -> anyhow::Error {
    let mut message = format!(
        "HTTP {status}, errorType {}: {}",
        error_type.as_deref().unwrap_or("(none)"),
        error.as_deref().unwrap_or("(no error message)")
    );
    if !warnings.is_empty() {
        message.push_str(&format!(" (warnings: {})", warnings.join("; ")));
    }
    anyhow!(message)
}

/// A streamed answer that failed part-way: the connection (worth a retry, unless the size limit stopped it) or
/// the answer itself (no excerpt: it was not kept).
fn classify_stream_error(
    status: u16,
    error: serde_json::Error,
    head: &str,
    limit: u64,
    budget: Duration,
) -> AttemptError {
    if error.is_io() {
        // serde_json gives the reader's own error back this way (its `source()` skips a level).
        let error = std::io::Error::from(error);
        let ureq_error = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>());
        return match ureq_error {
            Some(ureq::Error::BodyExceedsLimit(_)) => too_large(status, limit),
            Some(ureq::Error::Timeout(_)) => AttemptError::Transient(anyhow!(
                "HTTP {status}: answer not complete within {budget:?} ({error})"
            )),
            _ => AttemptError::Transient(anyhow!(
                "HTTP {status}: reading the answer failed: {error}"
            )),
        };
    }
    if error.is_eof() {
        return AttemptError::Transient(anyhow!("HTTP {status}: the answer ended early: {error}"));
    }
    // Only an error inside the kept head is about the answer as a whole (a login page, a proxy's error page);
    // further on, the head is a valid start and quoting it would mislead.
    if error.is_syntax() && error.line() == 1 && error.column() <= head.len() {
        // The head only: the body's length is not known, so no "(N bytes)" as `excerpt` writes.
        let mut shown: String = head.trim().chars().take(ERROR_BODY_CHARS).collect();
        if shown.len() < head.trim().len() {
            shown.push('…');
        }
        return AttemptError::Permanent(anyhow!(
            "HTTP {status}: answer is not a Prometheus API response: {error}; body starts: {shown}"
        ));
    }
    AttemptError::Permanent(anyhow!("HTTP {status}: malformed answer: {error}"))
}

/// A reader that keeps the first bytes it reads, so that an answer decoded as it arrives can still be quoted
/// when it turns out not to be one.
struct KeepingHead<R> {
    inner: R,
    head: Vec<u8>,
}

impl<R: Read> KeepingHead<R> {
    fn new(inner: R) -> Self {
        KeepingHead {
            inner,
            head: Vec::new(),
        }
    }

    fn head(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }
}

impl<R: Read> Read for KeepingHead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        let room = (ERROR_BODY_CHARS * 4).saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..read.min(room)]);
        Ok(read)
    }
}

fn wrap(transient: bool, error: anyhow::Error) -> AttemptError {
    if transient {
        AttemptError::Transient(error)
    } else {
        AttemptError::Permanent(error)
    }
}

fn classify(error: ureq::Error, budget: Duration) -> AttemptError {
    match error {
        ureq::Error::Timeout(_) => {
            AttemptError::Transient(anyhow!("no answer within {budget:?} ({error})"))
        }
        // rustls reports a refused certificate as InvalidData ("invalid peer certificate: UnknownIssuer").
        ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::InvalidData => {
            AttemptError::Permanent(anyhow!(
                "TLS handshake failed (check the CA and client certificate settings): {error}"
            ))
        }
        ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => {
            AttemptError::Transient(anyhow!("connection failed: {error}"))
        }
        // TLS (untrusted certificate, bad client certificate) and everything else will not heal by retrying.
        other => AttemptError::Permanent(anyhow!(other)),
    }
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the Prometheus bearer token file {}",
            path.display()
        )
    })?;
    let token = token.trim();
    if token.is_empty() {
        bail!(
            "the Prometheus bearer token file {} is empty",
            path.display()
        );
    }
    Ok(token.to_owned())
}

/// Checks the base URL and returns it without a trailing slash.
fn validate_url(url: &str) -> anyhow::Result<String> {
    let shown = redact_url(url);
    let trimmed = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        bail!("Prometheus URL {shown:?} must start with http:// or https://");
    };
    if scheme != "http" && scheme != "https" {
        bail!("Prometheus URL {shown:?} must start with http:// or https://");
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        bail!(
            "Prometheus URL {shown:?} contains credentials: use the basic auth or bearer token settings"
        );
    }
    if authority.is_empty() {
        bail!("Prometheus URL {shown:?} has no host");
    }
    if rest.contains(['?', '#']) {
        bail!("Prometheus URL {shown:?} must not have a query or fragment");
    }
    ureq::http::Uri::try_from(trimmed)
        .with_context(|| format!("Prometheus URL {shown:?} is not a valid URL"))?;
    Ok(trimmed.to_owned())
}

fn tls_config(config: &PrometheusConfig) -> anyhow::Result<Option<TlsConfig>> {
    if config.ca_file.is_none()
        && config.client_cert_file.is_none()
        && config.client_key_file.is_none()
        && !config.insecure_skip_verify
    {
        return Ok(None);
    }
    let mut tls = TlsConfig::builder().disable_verification(config.insecure_skip_verify);
    if let Some(path) = &config.ca_file {
        let certs = read_certificates(path, "Prometheus CA file")?;
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    match (&config.client_cert_file, &config.client_key_file) {
        (Some(cert_path), Some(key_path)) => {
            let chain = read_certificates(cert_path, "Prometheus client certificate file")?;
            let key_pem = std::fs::read(key_path).with_context(|| {
                format!(
                    "reading the Prometheus client key file {}",
                    key_path.display()
                )
            })?;
            let key = PrivateKey::from_pem(&key_pem).map_err(|e| {
                anyhow!(
                    "the Prometheus client key file {} has no usable private key: {e}",
                    key_path.display()
                )
            })?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        (None, None) => {}
        _ => bail!("Prometheus client certificate and key files must be set together"),
    }
    Ok(Some(tls.build()))
}

fn read_certificates(path: &Path, what: &str) -> anyhow::Result<Vec<Certificate<'static>>> {
    let pem =
        std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| anyhow!("the {what} {} is not valid PEM: {e}", path.display()))? {
            PemItem::Certificate(cert) => certs.push(cert),
            _ => continue,
        }
    }
    if certs.is_empty() {
        bail!("the {what} {} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// `time=`, `start=`, `end=` as unix seconds with milliseconds.
fn unix_seconds(at: SystemTime) -> anyhow::Result<String> {
    let since = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| anyhow!("query time {at:?} is before 1970"))?;
    Ok(format!("{}.{:03}", since.as_secs(), since.subsec_millis()))
}

/// The start of a body for an error message.
fn excerpt(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    match body.char_indices().nth(ERROR_BODY_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes)", &body[..cut], body.len()),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_prefix_is_kept_and_trailing_slash_dropped() {
        assert_eq!(
            validate_url("http://h:9090/prom/").unwrap(),
            "http://h:9090/prom"
        );
        assert_eq!(validate_url("https://h").unwrap(), "https://h");
    }

    #[test]
    fn bad_urls_are_refused_without_showing_credentials() {
        for (url, complaint) in [
            ("h:9090", "must start with http"),
            ("ftp://h", "must start with http"),
            ("http://u:hunter2@h", "contains credentials"),
            ("http://h/prom?x=1", "query or fragment"),
            ("http:///prom", "no host"),
        ] {
            let message = format!("{:#}", validate_url(url).unwrap_err());
            assert!(message.contains(complaint), "{url}: {message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn query_time_has_millisecond_precision() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(unix_seconds(at).unwrap(), "1700000000.123");
    }

    #[test]
    fn long_error_bodies_are_cut() {
        let body = "x".repeat(10_000);
        let shown = excerpt(&body);
        assert!(shown.len() < 600 && shown.ends_with("(10000 bytes)"));
        assert_eq!(excerpt("  "), "(empty body)");
    }

    #[test]
    fn conflicting_auth_settings_are_refused() {
        let mut config = PrometheusConfig::new("http://h");
        config.bearer_token = Some("t".into());
        config.basic_auth = Some(("u".into(), "p".into()));
        let message = format!("{:#}", PrometheusClient::new(config).unwrap_err());
        assert!(message.contains("choose one"), "{message}");
    }
}
