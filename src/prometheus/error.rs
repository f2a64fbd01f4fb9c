//! Why a Prometheus query (or status request), or the client's settings, failed: one error type with a `source()` chain that reads
//! outermost first (`Prometheus query to … failed` → `gave up after 3 attempts` → `HTTP 503: …`), so a caller
//! matches a [`QueryFailure`] instead of searching the chain.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// The error beneath one of ours (ureq's, an I/O error, a JSON decoder's).
pub type Cause = Box<dyn StdError + Send + Sync>;

#[derive(Debug)]
pub enum PrometheusError {
    /// The client's settings are unusable (URL, credentials, headers, TLS files): nothing was sent.
    Config {
        message: String,
        source: Option<Cause>,
    },
    /// A query failed; `failure` says how.
    Query {
        url: String,
        query: String,
        failure: Box<QueryFailure>,
    },
    /// A request to a status endpoint (no query, e.g. `/api/v1/status/runtimeinfo`) failed; `failure` says how.
    Request {
        url: String,
        failure: Box<QueryFailure>,
    },
}

/// The start of Prometheus' error for a query over `--query.max-samples`; the rest names where (`in query
/// execution`). Upstream: github.com/prometheus/prometheus `promql/engine.go` `ErrTooManySamples.Error`.
const TOO_MANY_SAMPLES: &str = "query processing would load too many samples into memory";

/// How a query failed: the retry loop's verdict first, then the last attempt's failure.
#[derive(Debug)]
pub enum QueryFailure {
    /// The tick's deadline left no time to send it.
    NoTime,
    /// Every allowed attempt failed; `last` is the last one's failure.
    Exhausted {
        attempts: u32,
        last: Box<QueryFailure>,
    },
    /// The wait before another attempt would have passed the deadline.
    OutOfTime {
        wait: Duration,
        attempts: u32,
        last: Box<QueryFailure>,
    },
    /// The server said when to come back (`Retry-After`, seconds).
    Throttled {
        retry_after: Duration,
        failure: Box<QueryFailure>,
    },
    /// No usable answer: timeout, refused or dropped connection, TLS, an answer cut off.
    Transport {
        message: String,
        source: Option<Cause>,
    },
    /// A redirect (to a login page, or a wrong path prefix); never followed.
    Redirect { status: u16, location: String },
    /// A failed status whose body is not Prometheus' own error: `excerpt` is its start.
    Status { status: u16, excerpt: String },
    /// Prometheus' own `errorType` and `error` (a bad query, a timeout, too many samples...).
    Api {
        status: u16,
        error_type: Option<String>,
        error: Option<String>,
        warnings: Vec<String>,
    },
    /// The answer is not one the HTTP API returns.
    Decode {
        message: String,
        source: Option<Cause>,
    },
    /// The answer is over the byte limit: ask for less (aggregate more, a shorter window, a coarser step).
    AnswerTooLarge { status: u16, limit: u64 },
    /// The bearer token file gave no token.
    Credentials {
        message: String,
        source: Option<Cause>,
    },
}

impl PrometheusError {
    pub(crate) fn config(message: impl Into<String>) -> PrometheusError {
        PrometheusError::Config {
            message: message.into(),
            source: None,
        }
    }

    /// The last attempt's failure, beneath the retry loop's verdict; `None` for settings.
    pub fn failure(&self) -> Option<&QueryFailure> {
        let (PrometheusError::Query { failure, .. } | PrometheusError::Request { failure, .. }) =
            self
        else {
            return None;
        };
        let mut failure = failure.as_ref();
        loop {
            match failure {
                QueryFailure::Exhausted { last, .. } | QueryFailure::OutOfTime { last, .. } => {
                    failure = last;
                }
                QueryFailure::Throttled { failure: inner, .. } => failure = inner,
                other => return Some(other),
            }
        }
    }

    /// The answer was over the byte limit: asking for less may succeed.
    pub fn is_answer_too_large(&self) -> bool {
        matches!(self.failure(), Some(QueryFailure::AnswerTooLarge { .. }))
    }

    /// Prometheus refused the query for the samples it would hold at once (`--query.max-samples`): the same query
    /// over a shorter span or with a coarser step may pass.
    pub fn is_too_many_samples(&self) -> bool {
        self.failure()
            .is_some_and(QueryFailure::is_too_many_samples)
    }
}

impl QueryFailure {
    /// This failure (not one beneath a retry verdict: see [`PrometheusError::is_too_many_samples`]) is Prometheus'
    /// refusal of a query over `--query.max-samples`: errorType `execution` (HTTP 422, github.com/prometheus/prometheus
    /// `web/api/v1/api.go` `returnAPIError`, `respondError`) and the engine's `ErrTooManySamples` text, which a
    /// frontend (Thanos) may quote inside its own.
    pub fn is_too_many_samples(&self) -> bool {
        matches!(
            self,
            QueryFailure::Api {
                error_type: Some(error_type),
                error: Some(error),
                ..
            } if error_type == "execution" && error.contains(TOO_MANY_SAMPLES)
        )
    }
}

impl fmt::Display for PrometheusError {
    /// `{}` is this layer; `{:#}` the whole chain on one line ([`crate::error_chain::render`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f.write_str(&crate::error_chain::render(self));
        }
        match self {
            PrometheusError::Config { message, .. } => f.write_str(message),
            PrometheusError::Query { url, query, .. } => {
                write!(f, "Prometheus query to {url} failed (query: {query})")
            }
            PrometheusError::Request { url, .. } => write!(f, "Prometheus request to {url} failed"),
        }
    }
}

impl StdError for PrometheusError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            PrometheusError::Config { source, .. } => cause(source),
            PrometheusError::Query { failure, .. } | PrometheusError::Request { failure, .. } => {
                Some(failure.as_ref())
            }
        }
    }
}

impl fmt::Display for QueryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryFailure::NoTime => f.write_str("the tick's deadline left no time to send it"),
            QueryFailure::Exhausted { attempts, .. } => {
                write!(f, "gave up after {attempts} attempts")
            }
            QueryFailure::OutOfTime { wait, attempts, .. } => write!(
                f,
                "no time left before the tick's deadline for another attempt {wait:?} from now, after \
                 {attempts} attempts"
            ),
            QueryFailure::Throttled { retry_after, .. } => {
                write!(f, "Retry-After: {}", retry_after.as_secs())
            }
            QueryFailure::Transport { message, .. }
            | QueryFailure::Decode { message, .. }
            | QueryFailure::Credentials { message, .. } => f.write_str(message),
            QueryFailure::Redirect { status, location } => write!(
                f,
                "HTTP {status} redirect to {location}: check the URL and its path prefix (a login page?)"
            ),
            QueryFailure::Status { status, excerpt } => write!(f, "HTTP {status}: {excerpt}"),
            QueryFailure::Api {
                status,
                error_type,
                error,
                warnings,
            } => {
                write!(
                    f,
                    "HTTP {status}, errorType {}: {}",
                    error_type.as_deref().unwrap_or("(none)"),
                    error.as_deref().unwrap_or("(no error message)")
                )?;
                if !warnings.is_empty() {
                    write!(f, " (warnings: {})", warnings.join("; "))?;
                }
                Ok(())
            }
            QueryFailure::AnswerTooLarge { status, limit } => write!(
                f,
                "HTTP {status}: answer larger than the {limit} byte limit (PROMETHEUS_MAX_RESPONSE_BYTES, 4 times \
                 that for a range answer read as it arrives): ask for less (aggregate more, a shorter window, a \
                 coarser step) or raise it"
            ),
        }
    }
}

impl StdError for QueryFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            QueryFailure::Exhausted { last, .. } | QueryFailure::OutOfTime { last, .. } => {
                Some(last.as_ref())
            }
            QueryFailure::Throttled { failure, .. } => Some(failure.as_ref()),
            QueryFailure::Transport { source, .. }
            | QueryFailure::Decode { source, .. }
            | QueryFailure::Credentials { source, .. } => cause(source),
            QueryFailure::NoTime
            | QueryFailure::Redirect { .. }
            | QueryFailure::Status { .. }
            | QueryFailure::Api { .. }
            | QueryFailure::AnswerTooLarge { .. } => None,
        }
    }
}

fn cause(source: &Option<Cause>) -> Option<&(dyn StdError + 'static)> {
    source
        .as_deref()
        .map(|cause| cause as &(dyn StdError + 'static))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_beneath_the_retry_verdict_is_matched_and_the_chain_reads_outermost_first() {
        let error = PrometheusError::Query {
            url: "http://prom/api/v1/query_range".into(),
            query: "up".into(),
            failure: Box::new(QueryFailure::Exhausted {
                attempts: 2,
                last: Box::new(QueryFailure::AnswerTooLarge {
                    status: 200,
                    limit: 10,
                }),
            }),
        };
        assert!(error.is_answer_too_large());
        let line = format!("{error:#}");
        assert!(
            line.starts_with(
                "Prometheus query to http://prom/api/v1/query_range failed (query: up): gave up after 2 \
                 attempts: HTTP 200: answer larger than the 10 byte limit"
            ),
            "{line}"
        );
        assert_eq!(
            error.to_string(),
            "Prometheus query to http://prom/api/v1/query_range failed (query: up)"
        );
        assert!(!PrometheusError::config("bad").is_answer_too_large());
    }

    fn api(status: u16, error_type: &str, error: &str) -> QueryFailure {
        QueryFailure::Api {
            status,
            error_type: Some(error_type.into()),
            error: Some(error.into()),
            warnings: vec![],
        }
    }

    fn query_error(failure: QueryFailure) -> PrometheusError {
        PrometheusError::Query {
            url: "http://prom/api/v1/query_range".into(),
            query: "up".into(),
            failure: Box::new(failure),
        }
    }

    #[test]
    fn too_many_samples_is_seen_beneath_any_retry_verdict() {
        // Prometheus 2.42's answer to a query over --query.max-samples (HTTP 422).
        let refused = || {
            api(
                422,
                "execution",
                "query processing would load too many samples into memory in query execution",
            )
        };
        assert!(refused().is_too_many_samples());
        assert!(query_error(refused()).is_too_many_samples());
        for wrapped in [
            QueryFailure::Exhausted {
                attempts: 3,
                last: Box::new(refused()),
            },
            QueryFailure::OutOfTime {
                wait: Duration::from_secs(1),
                attempts: 1,
                last: Box::new(QueryFailure::Throttled {
                    retry_after: Duration::from_secs(1),
                    failure: Box::new(refused()),
                }),
            },
        ] {
            assert!(!wrapped.is_too_many_samples(), "only this level: {wrapped}");
            assert!(query_error(wrapped).is_too_many_samples());
        }
    }

    #[test]
    fn other_refusals_are_not_too_many_samples() {
        for other in [
            api(
                422,
                "execution",
                "expanding series: context deadline exceeded",
            ),
            api(503, "timeout", "query timed out in query execution"),
            api(
                400,
                "bad_data",
                "query processing would load too many samples into memory",
            ),
            QueryFailure::AnswerTooLarge {
                status: 200,
                limit: 10,
            },
        ] {
            assert!(!query_error(other).is_too_many_samples());
        }
        assert!(!PrometheusError::config("bad").is_too_many_samples());
    }

    #[test]
    fn a_status_request_error_names_its_url_without_a_query() {
        let error = PrometheusError::Request {
            url: "http://prom/api/v1/status/runtimeinfo".into(),
            failure: Box::new(QueryFailure::Status {
                status: 403,
                excerpt: "forbidden".into(),
            }),
        };
        assert_eq!(
            format!("{error:#}"),
            "Prometheus request to http://prom/api/v1/status/runtimeinfo failed: HTTP 403: forbidden"
        );
        assert!(matches!(
            error.failure(),
            Some(QueryFailure::Status { status: 403, .. })
        ));
    }
}
