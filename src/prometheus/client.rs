//! The HTTP side: one agent from the shared [`crate::http`] layer, instant and range queries with retries inside
//! the tick's deadline (which failures are retried is decided here), answers decoded whole or as they arrive; the
//! storage retention from the runtime information endpoint.

use super::answer::{self, Decoded, QueryAnswer};
use super::config::{PrometheusConfig, is_secret_header, redact_url};
use super::error::{PrometheusError, QueryFailure};
use super::retention::{self, Retention};
use super::streamed::{self, StreamedAnswer};
use crate::deadline::Deadline;
use crate::http::{self, Backoff, GiveUp, RetryAfter, RetryPolicy, Step};
use base64::Engine;
use k8s_openapi::jiff::Timestamp;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// Backoff between attempts: 200 ms, doubled each time, at most 1.6 s.
const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(200),
    max: Duration::from_millis(1600),
};
/// The longest `Retry-After` taken: beyond any tick's deadline anyway; bounded so arithmetic on it cannot overflow.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(86_400);

/// The evaluations of a range query: `start`, `start + step`, ... up to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSpan {
    pub start: Timestamp,
    pub end: Timestamp,
    pub step: Duration,
}

/// A [`RangeSpan`] as form values.
struct RangeParams([String; 3]);

impl RangeSpan {
    fn params(&self) -> Result<RangeParams, PrometheusError> {
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
    /// Calls to [`PrometheusClient::retention`] (not queries).
    pub status_requests: u64,
    /// HTTP requests sent (first tries and retries), queries and status requests alike.
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
    runtime_info_url: String,
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
    Transient(QueryFailure),
    /// 429 or 503 with `Retry-After` (seconds): retry no sooner than that.
    Throttled(QueryFailure, Duration),
    /// The same request would fail again: bad query, auth, TLS, malformed answer, settings.
    Permanent(QueryFailure),
}

impl AttemptError {
    fn into_step<T>(self) -> Step<T, QueryFailure> {
        match self {
            AttemptError::Transient(error) => Step::Retry {
                error,
                retry_after: None,
            },
            AttemptError::Throttled(error, after) => Step::Retry {
                error,
                retry_after: Some(after),
            },
            AttemptError::Permanent(error) => Step::Fail(error),
        }
    }
}

impl PrometheusClient {
    /// Checks the settings and reads the TLS files; talks to no server.
    pub fn new(config: PrometheusConfig) -> Result<Self, PrometheusError> {
        let base = validate_url(&config.url)?;
        if config.bearer_token.is_some() && config.bearer_token_file.is_some() {
            return Err(PrometheusError::config(
                "Prometheus bearer token and bearer token file are both set: choose one",
            ));
        }
        if config.basic_auth.is_some()
            && (config.bearer_token.is_some() || config.bearer_token_file.is_some())
        {
            return Err(PrometheusError::config(
                "Prometheus basic auth and bearer token are both set: choose one",
            ));
        }
        check_headers(&config.headers)?;
        let agent = build_agent(&config)?;
        Ok(Self {
            agent,
            query_url: format!("{base}/api/v1/query"),
            query_range_url: format!("{base}/api/v1/query_range"),
            runtime_info_url: format!("{base}/api/v1/status/runtimeinfo"),
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
        at: Timestamp,
        deadline: &Deadline,
    ) -> Result<QueryAnswer, PrometheusError> {
        let time = unix_seconds(at)?;
        self.fetch(&self.query_url, expr, &[("time", &time)], deadline)
    }

    /// Evaluates `expr` at `start`, `start + step`, ... up to `end` (`/api/v1/query_range`): one pass over the
    /// series for a whole window, where several subqueries would each select them again. Retries as
    /// [`PrometheusClient::query`] does.
    pub fn query_range(
        &self,
        expr: &str,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
        deadline: &Deadline,
    ) -> Result<QueryAnswer, PrometheusError> {
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
    ) -> Result<(T, StreamedAnswer), PrometheusError>
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

    /// The server's storage retention (`storageRetention` of `/api/v1/status/runtimeinfo`): how far back history may
    /// be asked for. `Ok(None)` when the server has no such endpoint (Thanos, Mimir, VictoriaMetrics may not; a 404
    /// under a route prefix too) or names no retention: nothing can be checked then. Sent, retried and refused as
    /// queries are; counted in [`PrometheusStats::status_requests`], not in `queries`.
    pub fn retention(&self, deadline: &Deadline) -> Result<Option<Retention>, PrometheusError> {
        let url = &self.runtime_info_url;
        let result = self.with_retries(deadline, |budget| {
            let (status, response) = self.send_get(url, budget)?;
            self.read_runtime_info(status, response, budget)
        });
        self.lock_stats().status_requests += 1;
        result.map_err(|failure| PrometheusError::Request {
            url: url.to_owned(),
            failure: Box::new(failure),
        })
    }

    /// One query, counted in [`PrometheusStats`], its error naming the URL and the query.
    fn measured<T>(
        &self,
        url: &str,
        expr: &str,
        deadline: &Deadline,
        attempt: impl FnMut(Duration) -> Result<T, AttemptError>,
    ) -> Result<T, PrometheusError> {
        let started = Instant::now();
        let result = self.with_retries(deadline, attempt);
        let mut stats = self.lock_stats();
        stats.queries += 1;
        stats.failed_queries += u64::from(result.is_err());
        stats.query_time += started.elapsed();
        drop(stats);
        result.map_err(|failure| PrometheusError::Query {
            url: url.to_owned(),
            query: expr.to_owned(),
            failure: Box::new(failure),
        })
    }

    /// Sends and reads an answer as a whole (instant queries, small range answers).
    fn fetch(
        &self,
        url: &str,
        expr: &str,
        params: &[(&str, &str)],
        deadline: &Deadline,
    ) -> Result<QueryAnswer, PrometheusError> {
        self.measured(url, expr, deadline, |budget| {
            let (status, response) = self.send(url, expr, params, budget)?;
            self.read_whole(status, response, budget)
        })
    }

    /// Attempts within the deadline, each with at most `query_timeout`; the failure says why it gave up.
    fn with_retries<T>(
        &self,
        deadline: &Deadline,
        mut attempt: impl FnMut(Duration) -> Result<T, AttemptError>,
    ) -> Result<T, QueryFailure> {
        let policy = RetryPolicy {
            max_attempts: self.config.retries.saturating_add(1),
            backoff: BACKOFF,
            retry_after: RetryAfter::AtLeastBackoff,
            min_attempt_time: MIN_ATTEMPT_TIME,
        };
        let result = http::with_retries(&policy, deadline, |sends| {
            let budget = deadline.cap(self.config.query_timeout);
            if budget < MIN_ATTEMPT_TIME {
                return Step::Fail(QueryFailure::NoTime);
            }
            let mut stats = self.lock_stats();
            stats.attempts += 1;
            stats.retries += u64::from(sends > 1);
            drop(stats);
            match attempt(budget) {
                Ok(answer) => Step::Done(answer),
                Err(error) => error.into_step(),
            }
        });
        result.map_err(|give_up| match give_up {
            GiveUp::Failed(failure) => failure,
            GiveUp::NoTime { .. } => QueryFailure::NoTime,
            GiveUp::Exhausted { error, attempts } => QueryFailure::Exhausted {
                attempts,
                last: Box::new(error),
            },
            GiveUp::OutOfTime {
                error,
                wait,
                attempts,
            } => QueryFailure::OutOfTime {
                wait,
                attempts,
                last: Box::new(error),
            },
        })
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
        let request = self.with_credentials(self.agent.post(url), budget)?;
        let mut form = vec![("query", expr), ("timeout", server_timeout.as_str())];
        form.extend_from_slice(params);
        let response = request
            .send_form(form)
            .map_err(|error| classify(error, budget))?;
        refuse_redirect(response)
    }

    /// [`PrometheusClient::send`] for a status endpoint, which takes GET only (Prometheus answers POST with 405).
    fn send_get(
        &self,
        url: &str,
        budget: Duration,
    ) -> Result<(u16, ureq::http::Response<ureq::Body>), AttemptError> {
        let response = self
            .with_credentials(self.agent.get(url), budget)?
            .call()
            .map_err(|error| classify(error, budget))?;
        refuse_redirect(response)
    }

    /// `request` with the attempt's time limit, the extra headers and the `Authorization` header.
    fn with_credentials<B>(
        &self,
        request: ureq::RequestBuilder<B>,
        budget: Duration,
    ) -> Result<ureq::RequestBuilder<B>, AttemptError> {
        let mut request = request.config().timeout_global(Some(budget)).build();
        for (name, value) in &self.config.headers {
            request = request.header(name, value);
        }
        if let Some(authorization) = self.authorization().map_err(AttemptError::Permanent)? {
            request = request.header("Authorization", authorization);
        }
        Ok(request)
    }

    fn read_whole(
        &self,
        status: u16,
        response: ureq::http::Response<ureq::Body>,
        budget: Duration,
    ) -> Result<QueryAnswer, AttemptError> {
        let body = self.read_body(status, response, budget)?;
        match answer::decode(body) {
            Ok(Decoded::Success(answer)) => Ok(answer),
            Ok(Decoded::ApiError {
                error_type,
                error,
                warnings,
            }) => Err(AttemptError::Permanent(api_error(
                status, error_type, error, warnings,
            ))),
            Err((problem, body)) => Err(AttemptError::Permanent(QueryFailure::Decode {
                message: format!("HTTP {status}: {problem}; body: {}", excerpt(&body)),
                source: None,
            })),
        }
    }

    /// A runtimeinfo answer: a missing endpoint is `None`, any other failure is classified as a query's is.
    fn read_runtime_info(
        &self,
        status: u16,
        response: ureq::http::Response<ureq::Body>,
        budget: Duration,
    ) -> Result<Option<Retention>, AttemptError> {
        let body = match self.read_body(status, response, budget) {
            Err(AttemptError::Permanent(failure)) if retention::endpoint_missing(&failure) => {
                return Ok(None);
            }
            other => other?,
        };
        match retention::decode_runtime_info(&body) {
            Ok(Decoded::Success(retention)) => Ok(retention),
            Ok(Decoded::ApiError {
                error_type,
                error,
                warnings,
            }) => Err(AttemptError::Permanent(api_error(
                status, error_type, error, warnings,
            ))),
            Err(problem) => Err(AttemptError::Permanent(QueryFailure::Decode {
                message: format!("HTTP {status}: {problem}; body: {}", excerpt(&body)),
                source: None,
            })),
        }
    }

    /// The body of a 2xx answer (at most `max_response_bytes`); any other status is an error, Prometheus' own when
    /// the body is one.
    fn read_body(
        &self,
        status: u16,
        mut response: ureq::http::Response<ureq::Body>,
        budget: Duration,
    ) -> Result<String, AttemptError> {
        // Query frontends (Thanos, Mimir, Cortex) say when to come back.
        let retry_after = matches!(status, 429 | 503)
            .then(|| http::retry_after_header(response.headers()))
            .flatten()
            .map(|after| after.min(RETRY_AFTER_MAX));
        let body = response
            .body_mut()
            .with_config()
            .limit(self.config.max_response_bytes)
            .read_to_string()
            .map_err(|error| match error {
                ureq::Error::BodyExceedsLimit(limit) => too_large(status, limit),
                other => classify(other, budget),
            })?;
        if !(200..300).contains(&status) {
            return Err(match (failed_answer(status, body), retry_after) {
                (AttemptError::Transient(error), Some(after)) => AttemptError::Throttled(
                    QueryFailure::Throttled {
                        retry_after: after,
                        failure: Box::new(error),
                    },
                    after,
                ),
                (other, _) => other,
            });
        }
        Ok(body)
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
                status, error_type, error, warnings,
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
    fn authorization(&self) -> Result<Option<String>, QueryFailure> {
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

/// A redirect (to a login page, or a wrong path prefix) is refused, never followed; any other status is the
/// caller's to read.
fn refuse_redirect(
    response: ureq::http::Response<ureq::Body>,
) -> Result<(u16, ureq::http::Response<ureq::Body>), AttemptError> {
    let status = response.status().as_u16();
    if (300..400).contains(&status) {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        return Err(AttemptError::Permanent(QueryFailure::Redirect {
            status,
            location: redact_url(location),
        }));
    }
    Ok((status, response))
}

fn too_large(status: u16, limit: u64) -> AttemptError {
    AttemptError::Permanent(QueryFailure::AnswerTooLarge { status, limit })
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
        }) => wrap(transient, api_error(status, error_type, error, warnings)),
        _ => wrap(
            transient,
            QueryFailure::Status {
                status,
                excerpt: shown,
            },
        ),
    }
}

fn unexpected_success(status: u16) -> AttemptError {
    AttemptError::Permanent(QueryFailure::Decode {
        message: format!("HTTP {status} with a successful answer"),
        source: None,
    })
}

fn api_error(
    status: u16,
    error_type: Option<String>,
    error: Option<String>,
    warnings: Vec<String>,
) -> QueryFailure {
    QueryFailure::Api {
        status,
        error_type,
        error,
        warnings,
    }
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
            Some(ureq::Error::Timeout(_)) => AttemptError::Transient(QueryFailure::Transport {
                message: format!("HTTP {status}: answer not complete within {budget:?} ({error})"),
                source: None,
            }),
            _ => AttemptError::Transient(QueryFailure::Transport {
                message: format!("HTTP {status}: reading the answer failed: {error}"),
                source: Some(Box::new(error)),
            }),
        };
    }
    if error.is_eof() {
        return AttemptError::Transient(QueryFailure::Transport {
            message: format!("HTTP {status}: the answer ended early: {error}"),
            source: Some(Box::new(error)),
        });
    }
    // Only an error inside the kept head is about the answer as a whole (a login page, a proxy's error page);
    // further on, the head is a valid start and quoting it would mislead.
    if error.is_syntax() && error.line() == 1 && error.column() <= head.len() {
        // The head only: the body's length is not known, so no "(N bytes)" as `excerpt` writes.
        let mut shown: String = head.trim().chars().take(ERROR_BODY_CHARS).collect();
        if shown.len() < head.trim().len() {
            shown.push('…');
        }
        return AttemptError::Permanent(QueryFailure::Decode {
            message: format!(
                "HTTP {status}: answer is not a Prometheus API response: {error}; body starts: {shown}"
            ),
            source: Some(Box::new(error)),
        });
    }
    AttemptError::Permanent(QueryFailure::Decode {
        message: format!("HTTP {status}: malformed answer: {error}"),
        source: Some(Box::new(error)),
    })
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

fn wrap(transient: bool, error: QueryFailure) -> AttemptError {
    if transient {
        AttemptError::Transient(error)
    } else {
        AttemptError::Permanent(error)
    }
}

fn classify(error: ureq::Error, budget: Duration) -> AttemptError {
    let transport = |message: String, source: Option<ureq::Error>| QueryFailure::Transport {
        message,
        source: source.map(|error| Box::new(error) as super::error::Cause),
    };
    match error {
        // The message says all ureq's error does.
        ureq::Error::Timeout(_) => AttemptError::Transient(transport(
            format!("no answer within {budget:?} ({error})"),
            None,
        )),
        // rustls reports a refused certificate as InvalidData ("invalid peer certificate: UnknownIssuer").
        ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::InvalidData => {
            AttemptError::Permanent(transport(
                format!(
                    "TLS handshake failed (check the CA and client certificate settings): {error}"
                ),
                Some(error),
            ))
        }
        ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => AttemptError::Transient(transport(
            format!("connection failed: {error}"),
            Some(error),
        )),
        // TLS (untrusted certificate, bad client certificate) and everything else will not heal by retrying.
        other => AttemptError::Permanent(transport(other.to_string(), Some(other))),
    }
}

fn read_token(path: &Path) -> Result<String, QueryFailure> {
    http::read_token_file(path).map_err(|error| match error {
        http::TokenFileError::Unreadable { path, source } => QueryFailure::Credentials {
            message: format!(
                "reading the Prometheus bearer token file {}: {source}",
                path.display()
            ),
            source: Some(Box::new(source)),
        },
        http::TokenFileError::Empty { path } => QueryFailure::Credentials {
            message: format!(
                "the Prometheus bearer token file {} is empty",
                path.display()
            ),
            source: None,
        },
    })
}

/// Checks the base URL and returns it without a trailing slash.
fn validate_url(url: &str) -> Result<String, PrometheusError> {
    let shown = redact_url(url);
    let refuse = |why: &str| PrometheusError::config(format!("Prometheus URL {shown:?} {why}"));
    let trimmed = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(refuse("must start with http:// or https://"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(refuse("must start with http:// or https://"));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(refuse(
            "contains credentials: use the basic auth or bearer token settings",
        ));
    }
    if authority.is_empty() {
        return Err(refuse("has no host"));
    }
    if rest.contains(['?', '#']) {
        return Err(refuse("must not have a query or fragment"));
    }
    ureq::http::Uri::try_from(trimmed).map_err(|why| PrometheusError::Config {
        message: format!("Prometheus URL {shown:?} is not a valid URL"),
        source: Some(Box::new(why)),
    })?;
    Ok(trimmed.to_owned())
}

/// Extra headers must be sendable; a secret value is never shown.
fn check_headers(headers: &[(String, String)]) -> Result<(), PrometheusError> {
    for (name, value) in headers {
        ureq::http::HeaderName::from_bytes(name.as_bytes()).map_err(|why| {
            PrometheusError::Config {
                message: format!(
                    "Prometheus extra header name {name:?} is not a valid HTTP header name"
                ),
                source: Some(Box::new(why)),
            }
        })?;
        if ureq::http::HeaderValue::from_str(value).is_err() {
            let shown = if is_secret_header(name) {
                "<redacted>"
            } else {
                value.as_str()
            };
            return Err(PrometheusError::config(format!(
                "Prometheus extra header {name}: value {shown:?} is not a valid HTTP header value"
            )));
        }
    }
    Ok(())
}

/// The PEM files read now, at start-up: a missing file is a settings error, not a failed query.
fn build_agent(config: &PrometheusConfig) -> Result<ureq::Agent, PrometheusError> {
    let read = |path: &PathBuf, what: &str| {
        std::fs::read(path).map_err(|why| PrometheusError::Config {
            message: format!("reading the {what} {}", path.display()),
            source: Some(Box::new(why)),
        })
    };
    let named = |path: &PathBuf, what: &str| format!("{what} {}", path.display());
    let ca = match &config.ca_file {
        Some(path) => Some((
            read(path, "Prometheus CA file")?,
            named(path, "Prometheus CA file"),
        )),
        None => None,
    };
    let client = match (&config.client_cert_file, &config.client_key_file) {
        (Some(cert_path), Some(key_path)) => {
            let chain = read(cert_path, "Prometheus client certificate file")?;
            let key = read(key_path, "Prometheus client key file")?;
            Some((
                (
                    chain,
                    named(cert_path, "Prometheus client certificate file"),
                ),
                (key, named(key_path, "Prometheus client key file")),
            ))
        }
        (None, None) => None,
        _ => {
            return Err(PrometheusError::config(
                "Prometheus client certificate and key files must be set together",
            ));
        }
    };
    let tls = http::TlsPem {
        ca: ca.as_ref().map(pem),
        client: client.as_ref().map(|(chain, key)| http::ClientPem {
            chain: pem(chain),
            key: pem(key),
        }),
        insecure_skip_verify: config.insecure_skip_verify,
        malformed: http::MalformedPem::Refuse,
    };
    http::build_agent(http::AgentOptions {
        connect_timeout: CONNECT_TIMEOUT,
        request_timeout: config.query_timeout,
        tls,
        proxy: http::ProxyChoice::Environment,
        accept: None,
    })
    .map_err(|error| PrometheusError::Config {
        message: error.to_string(),
        source: Some(Box::new(error)),
    })
}

fn pem((bytes, what): &(Vec<u8>, String)) -> http::Pem<'_> {
    http::Pem { bytes, what }
}

/// `time=`, `start=`, `end=` as unix seconds with milliseconds: the API's own wire format.
fn unix_seconds(at: Timestamp) -> Result<String, PrometheusError> {
    let millis = at.as_millisecond();
    if millis < 0 {
        return Err(PrometheusError::config(format!(
            "query time {at} is before 1970"
        )));
    }
    Ok(format!("{}.{:03}", millis / 1000, millis % 1000))
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
        let at = Timestamp::from_millisecond(1_700_000_000_123).unwrap();
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
