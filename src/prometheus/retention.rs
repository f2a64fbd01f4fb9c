//! How long the server keeps samples, as `/api/v1/status/runtimeinfo` says in `storageRetention`. Pure: unit-tested on
//! the texts Prometheus writes.

use super::answer::{Decoded, NO_DATA, succeeded};
use super::duration::parse_prometheus_duration;
use super::error::QueryFailure;
use serde::Deserialize;
use std::time::Duration;

/// The server's storage retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// The time limit; `None` when the server keeps samples by size only (`10GiB`), or says something we do not read.
    pub time: Option<Duration>,
    /// `storageRetention` verbatim, for messages: `15d`, `15d or 10GiB`, `10GiB`.
    pub text: String,
}

impl Retention {
    /// Reads `storageRetention`. Prometheus writes the time limit (`model.Duration`'s `String`: `15d`, `1d12h`), then
    /// ` or ` and the size limit (`10GiB`), then, since 3.x, ` or ` and a percentage of the disk (`80%`), each only
    /// when set; the default is `15d` (github.com/prometheus/prometheus `web/web.go` `runtimeInfo`,
    /// `cmd/prometheus/main.go` `defaultRetentionString`). So the time, when there is one, is the first part.
    pub fn parse(text: &str) -> Retention {
        let time = text
            .split(" or ")
            .next()
            .and_then(|first| parse_prometheus_duration(first.trim()))
            // `0` would mean "keep nothing"; Prometheus never writes it (a zero time limit is left out).
            .filter(|time| !time.is_zero());
        Retention {
            time,
            text: text.to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: Option<String>,
    data: Option<RuntimeInfo>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

/// The one field wanted of `RuntimeInfo` (github.com/prometheus/prometheus `web/api/v1/api.go`).
#[derive(Deserialize)]
struct RuntimeInfo {
    #[serde(rename = "storageRetention")]
    storage_retention: Option<String>,
}

/// Decodes a runtimeinfo answer: `Success(None)` when it names no retention (absent or empty). `Err` says what is
/// wrong with the body.
pub(crate) fn decode_runtime_info(body: &str) -> Result<Decoded<Option<Retention>>, String> {
    let envelope: Envelope = serde_json::from_str(body)
        .map_err(|e| format!("answer is not a Prometheus API response: {e}"))?;
    if !succeeded(envelope.status.as_deref())? {
        return Ok(Decoded::ApiError {
            error_type: envelope.error_type,
            error: envelope.error,
            warnings: envelope.warnings.unwrap_or_default(),
        });
    }
    let data = envelope.data.ok_or(NO_DATA)?;
    Ok(Decoded::Success(
        data.storage_retention
            .filter(|text| !text.trim().is_empty())
            .map(|text| Retention::parse(&text)),
    ))
}

/// Whether a failed answer says the endpoint does not exist there, rather than that it failed: any 404 (a server or
/// frontend without it, such as Thanos or Mimir; a route prefix that does not match), or VictoriaMetrics' 400 for a
/// path it does not serve (`unsupported path requested: "…"`, VictoriaMetrics `lib/httpserver/httpserver.go`
/// `Errorf`).
pub(crate) fn endpoint_missing(failure: &QueryFailure) -> bool {
    match failure {
        QueryFailure::Status { status: 404, .. } | QueryFailure::Api { status: 404, .. } => true,
        QueryFailure::Status {
            status: 400,
            excerpt,
        } => excerpt.contains("unsupported path requested"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * 86_400)
    }

    #[test]
    fn the_time_part_of_each_retention_form_is_read() {
        for (text, time) in [
            ("15d", Some(days(15))),
            ("1d12h", Some(days(1) + Duration::from_secs(12 * 3600))),
            ("2w", Some(days(14))),
            ("1y", Some(days(365))),
            ("15d or 10GiB", Some(days(15))),
            ("90d or 512MiB or 80%", Some(days(90))),
            ("10GiB", None),
            ("10GiB or 80%", None),
            ("80%", None),
            ("forever", None),
            ("0s", None),
        ] {
            assert_eq!(
                Retention::parse(text),
                Retention {
                    time,
                    text: text.to_owned()
                },
                "{text:?}"
            );
        }
    }

    fn runtime_info(retention: &str) -> String {
        // Prometheus 2.42's answer, trimmed of fields that do not matter here.
        format!(
            r#"{{"status":"success","data":{{"startTime":"2026-12-02T14:34:27.548504269Z","CWD":"/","reloadConfigSuccess":true,"GOMAXPROCS":2,"GOGC":"","GODEBUG":""{retention}}}}}"#
        )
    }

    #[test]
    fn runtime_info_answers_decode_to_the_retention_or_none() {
        assert_eq!(
            decode_runtime_info(&runtime_info(r#","storageRetention":"15d or 10GiB""#)),
            Ok(Decoded::Success(Some(Retention {
                time: Some(days(15)),
                text: "15d or 10GiB".into()
            })))
        );
        assert_eq!(
            decode_runtime_info(&runtime_info(r#","storageRetention":"""#)),
            Ok(Decoded::Success(None))
        );
        assert_eq!(
            decode_runtime_info(&runtime_info("")),
            Ok(Decoded::Success(None))
        );
    }

    #[test]
    fn runtime_info_errors_and_strangers_are_told_apart() {
        assert_eq!(
            decode_runtime_info(
                r#"{"status":"error","errorType":"internal","error":"error gathering runtime status: x"}"#
            ),
            Ok(Decoded::ApiError {
                error_type: Some("internal".into()),
                error: Some("error gathering runtime status: x".into()),
                warnings: vec![]
            })
        );
        let problem = decode_runtime_info("<html>Sign in</html>").unwrap_err();
        assert!(
            problem.contains("not a Prometheus API response"),
            "{problem}"
        );
        let problem = decode_runtime_info(r#"{"status":"success"}"#).unwrap_err();
        assert!(problem.contains("no \"data\""), "{problem}");
    }

    #[test]
    fn a_missing_endpoint_is_a_404_or_victoria_metrics_unsupported_path() {
        let status = |status: u16, excerpt: &str| QueryFailure::Status {
            status,
            excerpt: excerpt.into(),
        };
        let api = |status: u16, error_type: &str| QueryFailure::Api {
            status,
            error_type: Some(error_type.into()),
            error: Some("x".into()),
            warnings: vec![],
        };
        assert!(endpoint_missing(&status(404, "404 page not found")));
        assert!(endpoint_missing(&api(404, "not_found")));
        assert!(endpoint_missing(&status(
            400,
            "unsupported path requested: \"/api/v1/status/runtimeinfo\""
        )));
        assert!(!endpoint_missing(&api(400, "bad_data")));
        assert!(!endpoint_missing(&status(401, "Unauthorized")));
        assert!(!endpoint_missing(&status(500, "404 page not found")));
        assert!(!endpoint_missing(&QueryFailure::Redirect {
            status: 302,
            location: "/login".into()
        }));
    }
}
