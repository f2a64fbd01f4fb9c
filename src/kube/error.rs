//! API errors: `Status` decoding, the typed error returned to callers, and client-go's predicates.
//!
//! Imports [`super::request`] for what a request is ([`Verb`], [`RequestError`]); request building never imports
//! this file.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::request::{RequestError, Verb};

/// The error beneath one of ours: what a transport, decoder or credential source reported.
pub type Cause = Box<dyn StdError + Send + Sync>;

/// A `meta/v1` `Status` as kube-apiserver sends it with every 4xx/5xx answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Status {
    /// `Failure` or `Success`.
    pub status: String,
    /// Human-readable; shown to users verbatim.
    pub message: String,
    /// Machine-readable, e.g. `NotFound`, `Conflict`, `Invalid`; empty when the server gave none.
    pub reason: String,
    /// The HTTP status code.
    pub code: u16,
    pub details: Option<StatusDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatusDetails {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub causes: Vec<StatusCause>,
    pub retry_after_seconds: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusCause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// Reasons kube-apiserver defines (apimachinery `metav1.StatusReason*`). client-go falls back to the HTTP code
/// only when the reason is not one of these, so a proxy's bare 404 still counts as NotFound while an
/// `AlreadyExists` 409 does not count as a `Conflict`.
const KNOWN_REASONS: &[&str] = &[
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Gone",
    "Invalid",
    "ServerTimeout",
    "StoreReadError",
    "Timeout",
    "TooManyRequests",
    "BadRequest",
    "MethodNotAllowed",
    "NotAcceptable",
    "RequestEntityTooLarge",
    "UnsupportedMediaType",
    "InternalError",
    "Expired",
    "ServiceUnavailable",
];

/// How much of a non-`Status` error body we keep in a message: enough to recognise an HTML error page.
const MAX_BODY_IN_MESSAGE: usize = 512;

impl Status {
    /// Decodes an error answer: the server's `Status` when the body is one, else a synthetic `Status` with the
    /// HTTP code and the body text (proxies and load balancers answer with HTML or plain text).
    pub fn from_response(http_code: u16, body: &[u8]) -> Status {
        if let Ok(mut status) = serde_json::from_slice::<Status>(body)
            && (!status.message.is_empty() || !status.reason.is_empty())
        {
            if status.code == 0 {
                status.code = http_code;
            }
            return status;
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let message = if text.is_empty() {
            "(empty body)".to_owned()
        } else {
            let mut end = text.len().min(MAX_BODY_IN_MESSAGE);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let ellipsis = if end < text.len() { "…" } else { "" };
            format!("{}{ellipsis}", &text[..end])
        };
        Status {
            status: "Failure".to_owned(),
            message,
            reason: String::new(),
            code: http_code,
            details: None,
        }
    }

    fn reason_is_known(&self) -> bool {
        KNOWN_REASONS.contains(&self.reason.as_str())
    }

    /// client-go's rule: the reason decides; the code counts only when the reason is unknown or empty.
    fn matches(&self, reason: &str, code: u16) -> bool {
        self.reason == reason || (!self.reason_is_known() && self.code == code)
    }
}

/// Why a request failed. Secrets never appear in it (tokens travel only in headers, which are not kept).
///
/// The message (`Display`) is whole, quoting the underlying error's text where there is one, as users have always
/// read it; `source()` gives that underlying error for callers that inspect it (a chain printer should not repeat
/// a cause its parent already quotes).
#[derive(Debug)]
pub enum KubeError {
    /// The server answered with an error status (4xx/5xx), decoded as [`Status`].
    Api {
        status: Box<Status>,
        verb: Verb,
        url: String,
    },
    /// No usable HTTP answer: connection refused or dropped, TLS failure, DNS, protocol error, a too large body.
    Transport {
        verb: Verb,
        url: String,
        message: String,
        source: Option<Cause>,
    },
    /// The answer was not the JSON we expected.
    Decode {
        verb: Verb,
        url: String,
        expected: &'static str,
        message: String,
        source: Option<serde_json::Error>,
    },
    /// The tick's deadline passed before an answer came (including retries).
    DeadlineExceeded {
        verb: Verb,
        url: String,
        attempts: u32,
    },
    /// Not sent: the client-side rate limit would have held it past the tick's deadline.
    RateLimited {
        verb: Verb,
        url: String,
        wait: Duration,
        qps: f64,
        burst: u32,
    },
    /// Getting credentials failed: token file unreadable, exec plugin failed.
    Credentials {
        message: String,
        source: Option<Cause>,
    },
    /// A request that must not be sent (empty name, bad namespace...): a bug in the caller.
    InvalidRequest(RequestError),
    /// The connection settings are unusable (bad CA PEM, bad client key, a proxy URL ureq refuses...).
    Config {
        message: String,
        source: Option<Cause>,
    },
}

impl KubeError {
    /// A [`KubeError::Config`] that stands alone.
    pub(crate) fn config(message: impl Into<String>) -> KubeError {
        KubeError::Config {
            message: message.into(),
            source: None,
        }
    }
}

impl From<RequestError> for KubeError {
    fn from(error: RequestError) -> Self {
        KubeError::InvalidRequest(error)
    }
}

impl fmt::Display for KubeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KubeError::Api { status, verb, url } => {
                let reason = if status.reason.is_empty() {
                    String::new()
                } else {
                    format!(" {}", status.reason)
                };
                write!(
                    f,
                    "{verb} {url}: HTTP {}{reason}: {}",
                    status.code, status.message
                )
            }
            KubeError::Transport {
                verb, url, message, ..
            } => write!(f, "{verb} {url}: {message}"),
            KubeError::Decode {
                verb,
                url,
                expected,
                message,
                ..
            } => write!(
                f,
                "{verb} {url}: the answer is not a valid {expected}: {message}"
            ),
            KubeError::RateLimited {
                verb,
                url,
                wait,
                qps,
                burst,
            } => write!(
                f,
                "{verb} {url}: not sent: the client-side rate limit (KUBE_API_QPS={qps}, KUBE_API_BURST={burst}) \
                 would hold it {:.1}s, past the tick's deadline; the next tick goes on from there",
                wait.as_secs_f64()
            ),
            KubeError::DeadlineExceeded {
                verb,
                url,
                attempts,
            } => write!(
                f,
                "{verb} {url}: no answer before the tick's deadline ({attempts} attempt{})",
                if *attempts == 1 { "" } else { "s" }
            ),
            KubeError::Credentials { message, .. } => {
                write!(f, "Kubernetes credentials: {message}")
            }
            KubeError::InvalidRequest(error) => {
                write!(f, "invalid Kubernetes request (this is a bug): {error}")?;
                if let Some(cause) = error.source() {
                    write!(f, ": {cause}")?;
                }
                Ok(())
            }
            KubeError::Config { message, .. } => {
                write!(f, "Kubernetes connection settings: {message}")
            }
        }
    }
}

impl StdError for KubeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            KubeError::Transport { source, .. }
            | KubeError::Credentials { source, .. }
            | KubeError::Config { source, .. } => source
                .as_deref()
                .map(|cause| cause as &(dyn StdError + 'static)),
            KubeError::Decode { source, .. } => source
                .as_ref()
                .map(|cause| cause as &(dyn StdError + 'static)),
            KubeError::InvalidRequest(error) => Some(error),
            KubeError::Api { .. }
            | KubeError::DeadlineExceeded { .. }
            | KubeError::RateLimited { .. } => None,
        }
    }
}

impl KubeError {
    /// The server's `Status`, when the server answered.
    pub fn status(&self) -> Option<&Status> {
        match self {
            KubeError::Api { status, .. } => Some(status),
            _ => None,
        }
    }

    fn status_matches(&self, reason: &str, code: u16) -> bool {
        self.status()
            .is_some_and(|status| status.matches(reason, code))
    }

    /// 409 `Conflict`: a stale `resourceVersion`. The caller re-reads and decides again.
    pub fn is_conflict(&self) -> bool {
        self.status_matches("Conflict", 409)
    }

    /// 409 `AlreadyExists` (a create of an existing object).
    pub fn is_already_exists(&self) -> bool {
        self.status_matches("AlreadyExists", 409)
    }

    /// 422 `Invalid`: validation failed, or a JSON Patch `test` op failed.
    pub fn is_invalid(&self) -> bool {
        self.status_matches("Invalid", 422)
    }

    pub fn is_not_found(&self) -> bool {
        self.status_matches("NotFound", 404)
    }

    /// A 404 about this very object (`resource` as its lower-case plural, e.g. `pods`), from the Status details
    /// the server fills in (apimachinery `NewNotFound`: `kind` is the resource, `name` the object's name). A 404
    /// on a path the server does not serve (an old server without a subresource) names no object.
    pub fn is_not_found_for(&self, resource: &str, name: &str) -> bool {
        self.is_not_found()
            && self
                .status()
                .and_then(|status| status.details.as_ref())
                .is_some_and(|details| details.kind == resource && details.name == name)
    }

    pub fn is_forbidden(&self) -> bool {
        self.status_matches("Forbidden", 403)
    }

    /// A 403 from authorization (RBAC: `User "..." cannot patch resource "pods/resize" ...`), as opposed to one
    /// from admission (a LimitRange, a policy): the first is fixed in our RBAC and then succeeds at once.
    pub fn is_denied_by_rbac(&self) -> bool {
        // The authorizer's wording (apiserver's forbidden message): `<what> is forbidden: User "<name>" cannot ...`.
        // Admission refusals name no user.
        self.is_forbidden()
            && self.status().is_some_and(|status| {
                status
                    .message
                    .split_once("is forbidden: User \"")
                    .is_some_and(|(_, rest)| rest.contains("\" cannot "))
            })
    }

    /// The 1.36+ `PodResizeValidator` admission plugin's answer while its node informer has not synced (after
    /// the server's own 10 s wait): transient, to be retried, never a refusal (kubernetes
    /// `plugin/pkg/admission/podresize/admission.go`, `admission.NewForbidden` → `... is forbidden: not yet
    /// ready to handle request`).
    pub fn is_admission_not_ready(&self) -> bool {
        self.is_forbidden()
            && self.status().is_some_and(|status| {
                status
                    .message
                    .ends_with("is forbidden: not yet ready to handle request")
            })
    }

    /// `PodResizeValidator`: the pod's node is not in the plugin's node informer (`node "NAME" not found`): the
    /// node is being deleted (and its pods with it) or is too new for the informer; not the resize's fault.
    pub fn is_admission_node_not_found(&self) -> bool {
        self.is_forbidden()
            && self.status().is_some_and(|status| {
                status
                    .message
                    .split_once("is forbidden: node \"")
                    .is_some_and(|(_, rest)| rest.ends_with("\" not found"))
            })
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status_matches("Unauthorized", 401)
    }

    /// As client-go, a 429 counts whatever its reason.
    pub fn is_too_many_requests(&self) -> bool {
        self.status()
            .is_some_and(|status| status.reason == "TooManyRequests" || status.code == 429)
    }

    /// 410 `Expired`: a LIST `continue` token too old to use.
    pub fn is_expired(&self) -> bool {
        self.status_matches("Expired", 410)
    }

    /// Out of time: the deadline passed, or the rate limit would have made the request pass it.
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(
            self,
            KubeError::DeadlineExceeded { .. } | KubeError::RateLimited { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(http_code: u16, body: &str) -> KubeError {
        KubeError::Api {
            status: Box::new(Status::from_response(http_code, body.as_bytes())),
            verb: Verb::Patch,
            url: "https://10.0.0.1/api/v1/nodes/node-1".to_owned(),
        }
    }

    #[test]
    fn status_body_is_decoded_with_details() {
        let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"nodes \"node-9\" not found","reason":"NotFound",
            "details":{"name":"node-9","kind":"nodes","causes":[{"reason":"FieldValueInvalid","message":"m","field":"spec"}]},
            "code":404}"#;
        let status = Status::from_response(404, body.as_bytes());
        assert_eq!(status.reason, "NotFound");
        assert_eq!(status.message, "nodes \"node-9\" not found");
        assert_eq!(status.code, 404);
        let details = status.details.expect("details");
        assert_eq!(details.name, "node-9");
        assert_eq!(details.causes[0].field, "spec");
    }

    /// A 403 to a resize of pod `shop/web-1` with `message`.
    fn forbidden(message: &str) -> KubeError {
        KubeError::Api {
            status: Box::new(Status {
                status: "Failure".into(),
                message: message.into(),
                reason: "Forbidden".into(),
                code: 403,
                details: None,
            }),
            verb: Verb::Patch,
            url: "https://api/api/v1/namespaces/shop/pods/web-1/resize".into(),
        }
    }

    #[test]
    fn a_403_is_from_rbac_only_in_the_authorizer_s_wording() {
        assert!(forbidden(
            r#"pods "web-1" is forbidden: User "system:serviceaccount:kt:kube-thermostat" cannot patch resource "pods/resize" in API group "" in the namespace "shop""#
        )
        .is_denied_by_rbac());
        for admission in [
            r#"pods "web-1" is forbidden: maximum cpu usage per Container is 2, but limit is 4"#,
            r#"pods "web-1" is forbidden: ValidatingAdmissionPolicy 'limits' with binding 'b' denied request: memory resource cannot exceed 4Gi"#,
            r#"admission webhook "v.example.com" denied the request: the cpu resource cannot grow"#,
        ] {
            assert!(!forbidden(admission).is_denied_by_rbac(), "{admission}");
        }
    }

    #[test]
    fn resize_admission_answers_are_told_apart() {
        // The messages of kubernetes plugin/pkg/admission/podresize through admission.NewForbidden.
        let not_ready = forbidden(r#"pods "web-1" is forbidden: not yet ready to handle request"#);
        let no_node = forbidden(r#"pods "web-1" is forbidden: node "node-1" not found"#);
        let capacity = forbidden(
            r#"pods "web-1" is forbidden: node didn't have enough allocatable resources: cpu, requested: 5000, allocatable: 3920"#,
        );
        let platform = forbidden(
            r#"pods "web-1" is forbidden: pod resize is only supported on linux nodes, node "w-1" is "windows""#,
        );
        assert!(not_ready.is_admission_not_ready() && !not_ready.is_admission_node_not_found());
        assert!(no_node.is_admission_node_not_found() && !no_node.is_admission_not_ready());
        for refusal in [&capacity, &platform] {
            assert!(!refusal.is_admission_not_ready() && !refusal.is_admission_node_not_found());
            assert!(refusal.is_forbidden() && !refusal.is_denied_by_rbac());
        }
        for error in [&not_ready, &no_node] {
            assert!(!error.is_denied_by_rbac());
        }
    }

    #[test]
    fn not_found_for_an_object_reads_the_status_details() {
        let pod_gone = api_error(
            404,
            r#"{"reason":"NotFound","message":"pods \"web-1\" not found","details":{"name":"web-1","kind":"pods"},"code":404}"#,
        );
        assert!(pod_gone.is_not_found_for("pods", "web-1"));
        assert!(!pod_gone.is_not_found_for("pods", "web-2"));
        assert!(!pod_gone.is_not_found_for("nodes", "web-1"));
        let no_path = api_error(
            404,
            r#"{"reason":"NotFound","message":"the server could not find the requested resource","details":{},"code":404}"#,
        );
        assert!(no_path.is_not_found() && !no_path.is_not_found_for("pods", "web-1"));
        assert!(!api_error(404, "404 page not found").is_not_found_for("pods", "web-1"));
    }

    #[test]
    fn non_status_body_becomes_synthetic_status_with_code_and_text() {
        let status = Status::from_response(502, b"<html>Bad Gateway</html>\n");
        assert_eq!(status.code, 502);
        assert_eq!(status.reason, "");
        assert_eq!(status.message, "<html>Bad Gateway</html>");
    }

    #[test]
    fn empty_body_is_named_in_the_synthetic_message() {
        let status = Status::from_response(503, b"");
        assert_eq!(status.message, "(empty body)");
    }

    #[test]
    fn json_that_is_not_a_status_keeps_its_text() {
        let status = Status::from_response(500, br#"{"error":"boom"}"#);
        assert_eq!(status.code, 500);
        assert_eq!(status.message, r#"{"error":"boom"}"#);
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(2000);
        let status = Status::from_response(500, body.as_bytes());
        assert!(status.message.len() < 700);
        assert!(status.message.ends_with('…'));
    }

    #[test]
    fn status_without_code_takes_the_http_code() {
        let status = Status::from_response(409, br#"{"reason":"Conflict","message":"stale"}"#);
        assert_eq!(status.code, 409);
    }

    #[test]
    fn predicates_match_the_reason_first() {
        assert!(api_error(409, r#"{"reason":"Conflict","message":"m","code":409}"#).is_conflict());
        assert!(api_error(422, r#"{"reason":"Invalid","message":"m","code":422}"#).is_invalid());
        assert!(api_error(404, r#"{"reason":"NotFound","message":"m","code":404}"#).is_not_found());
        assert!(
            api_error(403, r#"{"reason":"Forbidden","message":"m","code":403}"#).is_forbidden()
        );
        assert!(api_error(410, r#"{"reason":"Expired","message":"m","code":410}"#).is_expired());
        assert!(
            api_error(401, r#"{"reason":"Unauthorized","message":"m","code":401}"#)
                .is_unauthorized()
        );
    }

    #[test]
    fn already_exists_is_not_a_conflict_though_both_are_409() {
        let error = api_error(
            409,
            r#"{"reason":"AlreadyExists","message":"m","code":409}"#,
        );
        assert!(!error.is_conflict());
        assert!(error.is_already_exists());
    }

    #[test]
    fn code_counts_only_when_the_reason_is_unknown_or_empty() {
        assert!(api_error(404, "404 page not found").is_not_found());
        assert!(
            api_error(409, r#"{"reason":"SomethingNew","message":"m","code":409}"#).is_conflict()
        );
        // A known reason with another meaning wins over the code.
        assert!(
            !api_error(404, r#"{"reason":"Forbidden","message":"m","code":404}"#).is_not_found()
        );
        assert!(!api_error(410, r#"{"reason":"Gone","message":"m","code":410}"#).is_expired());
    }

    #[test]
    fn any_429_is_too_many_requests() {
        assert!(
            api_error(429, r#"{"reason":"Whatever","message":"m","code":429}"#)
                .is_too_many_requests()
        );
        assert!(api_error(429, "slow down").is_too_many_requests());
        assert!(!api_error(503, "busy").is_too_many_requests());
    }

    #[test]
    fn non_api_errors_match_no_predicate() {
        let error = KubeError::Transport {
            verb: Verb::Get,
            url: "u".to_owned(),
            message: "connection refused".to_owned(),
            source: None,
        };
        assert!(!error.is_not_found() && !error.is_conflict() && !error.is_too_many_requests());
    }

    #[test]
    fn message_shows_verb_url_code_reason_and_server_message_verbatim() {
        let error = api_error(
            403,
            r#"{"reason":"Forbidden","code":403,"message":"nodes \"node-1\" is forbidden: User \"system:serviceaccount:ops:thermostat\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"}"#,
        );
        assert_eq!(
            error.to_string(),
            "patch https://10.0.0.1/api/v1/nodes/node-1: HTTP 403 Forbidden: nodes \"node-1\" is forbidden: User \
             \"system:serviceaccount:ops:thermostat\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"
        );
    }
}
