//! `Status` bodies with the reasons and message shapes of kube-apiserver
//! (k8s.io/apimachinery `pkg/api/errors`, `pkg/util/validation/field`).

use serde_json::{Value, json};

/// An error answer: HTTP code, `Status` body and an optional `Retry-After`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
    /// The plain-text body Go's `http.NotFound` writes, used instead of `body` when set.
    pub plain_text: Option<&'static str>,
}

impl ApiError {
    fn new(code: u16, reason: &str, message: String, details: Option<Value>) -> ApiError {
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
        });
        if let Some(details) = details {
            body["details"] = details;
        }
        body["code"] = json!(code);
        ApiError {
            code,
            body,
            retry_after: None,
            plain_text: None,
        }
    }
}

/// What a resource is called in messages and `details`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Qualified<'a> {
    pub group: &'a str,
    pub plural: &'a str,
}

impl Qualified<'_> {
    /// `nodes`, `horizontalpodautoscalers.autoscaling` (schema.GroupResource.String()).
    pub fn name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn details(&self, name: &str) -> Value {
        let mut details = json!({});
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        if !self.group.is_empty() {
            details["group"] = json!(self.group);
        }
        details["kind"] = json!(self.plural);
        details
    }
}

/// `nodes "x" not found`.
pub(crate) fn not_found(resource: Qualified, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{} \"{}\" not found", resource.name(), name),
        Some(resource.details(name)),
    )
}

/// `namespaces "x" not found` when creating in a namespace that does not exist.
pub(crate) fn already_exists(resource: Qualified, name: &str) -> ApiError {
    ApiError::new(
        409,
        "AlreadyExists",
        format!("{} \"{}\" already exists", resource.name(), name),
        Some(resource.details(name)),
    )
}

/// The optimistic-lock conflict of `registry/generic/registry/store.go`.
pub(crate) fn conflict(resource: Qualified, name: &str) -> ApiError {
    ApiError::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
            resource.name(),
            name
        ),
        Some(resource.details(name)),
    )
}

/// A conflict with a free-form cause (UID precondition).
pub(crate) fn conflict_with(resource: Qualified, name: &str, cause: &str) -> ApiError {
    ApiError::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{}\": {}",
            resource.name(),
            name,
            cause
        ),
        Some(resource.details(name)),
    )
}

/// `apierrors.NewGenericServerResponse(code, "", schema.GroupResource{}, "", msg, 0, false)`: the
/// server's own message is dropped, as it is for a failed JSON Patch `test`.
pub(crate) fn generic(code: u16) -> ApiError {
    let (reason, message) = match code {
        409 => ("Conflict", "the server reported a conflict"),
        404 => (
            "NotFound",
            "the server could not find the requested resource",
        ),
        400 => (
            "BadRequest",
            "the server rejected our request for an unknown reason",
        ),
        405 => (
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
        422 => (
            "Invalid",
            "the server rejected our request due to an error in our request",
        ),
        _ => (
            "Unknown",
            "the server responded with an unexpected status code",
        ),
    };
    ApiError::new(code, reason, message.to_string(), Some(json!({})))
}

/// Go's `http.NotFound`: what kube-apiserver answers for a path no API group serves (an absent CRD).
pub(crate) fn page_not_found() -> ApiError {
    let mut error = ApiError::new(404, "NotFound", "404 page not found".into(), None);
    error.plain_text = Some("404 page not found\n");
    error
}

/// `apierrors.NewRequestEntityTooLargeError` (e.g. more than 10,000 JSON Patch ops).
pub(crate) fn request_entity_too_large(message: &str) -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: {message}"),
        None,
    )
}

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "BadRequest", message.into(), None)
}

pub(crate) fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized".into(), None)
}

/// The RBAC denial of `endpoints/handlers/responsewriters/errors.go` `forbiddenMessage`.
pub(crate) fn forbidden(
    user: &str,
    verb: &str,
    resource: Qualified,
    subresource: Option<&str>,
    namespace: Option<&str>,
    name: &str,
) -> ApiError {
    let shown = match subresource {
        Some(sub) => format!("{}/{}", resource.plural, sub),
        None => resource.plural.to_string(),
    };
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let why = format!(
        "User \"{user}\" cannot {verb} resource \"{shown}\" in API group \"{}\" {scope}",
        resource.group
    );
    let message = if name.is_empty() {
        format!("{} is forbidden: {why}", resource.name())
    } else {
        format!("{} \"{name}\" is forbidden: {why}", resource.name())
    };
    ApiError::new(403, "Forbidden", message, Some(resource.details(name)))
}

/// `admission.NewForbidden`: `{plural} "{name}" is forbidden: {why}`, with an optional cause (reason only).
pub(crate) fn admission_forbidden(
    plural: &str,
    name: &str,
    why: &str,
    cause: Option<&str>,
) -> ApiError {
    let resource = Qualified { group: "", plural };
    let mut details = resource.details(name);
    if let Some(cause) = cause {
        details["causes"] = serde_json::json!([{ "reason": cause }]);
    }
    ApiError::new(
        403,
        "Forbidden",
        format!("{} \"{name}\" is forbidden: {why}", resource.name()),
        Some(details),
    )
}

pub(crate) fn method_not_allowed() -> ApiError {
    generic(405)
}

pub(crate) fn unsupported_media_type(accepted: &[&str]) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ),
        None,
    )
}

/// The 410 of an expired continue token (`storage/errors.go` / etcd3 compaction).
pub(crate) fn expired_continue() -> ApiError {
    ApiError::new(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
        None,
    )
}

/// API Priority and Fairness rejection.
pub(crate) fn too_many_requests(retry_after: Option<u64>) -> ApiError {
    let details = retry_after.map(|seconds| json!({ "retryAfterSeconds": seconds }));
    let mut error = ApiError::new(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.".into(),
        details,
    );
    error.retry_after = retry_after;
    error
}

/// `apierrors.NewInternalError`.
pub(crate) fn internal(cause: &str) -> ApiError {
    ApiError::new(
        500,
        "InternalError",
        format!("Internal error occurred: {cause}"),
        Some(json!({ "causes": [{ "message": cause }] })),
    )
}

/// Any other injected status code, with the reason client-go would expect for it.
pub(crate) fn for_code(code: u16, retry_after: Option<u64>) -> ApiError {
    let mut error = match code {
        429 => too_many_requests(retry_after),
        500 => internal("injected fault"),
        503 => ApiError::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request".into(),
            None,
        ),
        504 => ApiError::new(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request".into(),
            None,
        ),
        401 => unauthorized(),
        410 => expired_continue(),
        _ if code >= 500 => ApiError::new(
            code,
            "InternalError",
            "an error on the server (\"injected fault\") has prevented the request from succeeding".into(),
            None,
        ),
        _ => generic(code),
    };
    if retry_after.is_some() {
        error.retry_after = retry_after;
    }
    error
}

/// One `field.Error`.
#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    pub field: String,
    pub kind: FieldErrorKind,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub(crate) enum FieldErrorKind {
    Required,
    Forbidden,
    /// The bad value, already formatted the way Go's `%#v`/`%q` would show it.
    Invalid(String),
    NotSupported(String),
    Duplicate(String),
    /// `field.NotFound`: the value, formatted as `%q` would show it.
    NotFound(String),
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Required,
            detail: detail.into(),
        }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Forbidden,
            detail: detail.into(),
        }
    }
    pub fn invalid(field: impl Into<String>, value: &str, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Invalid(format!("{value:?}")),
            detail: detail.into(),
        }
    }
    pub fn not_supported(field: impl Into<String>, value: &str, allowed: &[&str]) -> FieldError {
        let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::NotSupported(format!("{value:?}")),
            detail: format!("supported values: {}", allowed.join(", ")),
        }
    }
    pub fn not_found(field: impl Into<String>, value: &str) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::NotFound(format!("{value:?}")),
            detail: String::new(),
        }
    }
    pub fn duplicate(
        field: impl Into<String>,
        value: String,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::Duplicate(value),
            detail: detail.into(),
        }
    }

    fn cause_type(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::Invalid(_) => "FieldValueInvalid",
            FieldErrorKind::NotSupported(_) => "FieldValueNotSupported",
            FieldErrorKind::Duplicate(_) => "FieldValueDuplicate",
            FieldErrorKind::NotFound(_) => "FieldValueNotFound",
        }
    }

    /// `field.Error.ErrorBody()`.
    pub fn body(&self) -> String {
        let mut body = match &self.kind {
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
            FieldErrorKind::Invalid(v) => format!("Invalid value: {v}"),
            FieldErrorKind::NotSupported(v) => format!("Unsupported value: {v}"),
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {v}"),
            FieldErrorKind::NotFound(v) => format!("Not found: {v}"),
        };
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }
}

/// `apierrors.NewInvalid`: `Node "n1" is invalid: spec.taints[0].effect: Unsupported value: ...`.
/// `kind` is the qualified kind (`Pod`, `Event.events.k8s.io`).
pub(crate) fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let qualified_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let shown: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.body()))
        .collect();
    let message = match shown.len() {
        0 => format!("{qualified_kind} \"{name}\" is invalid"),
        1 => format!("{qualified_kind} \"{name}\" is invalid: {}", shown[0]),
        _ => format!(
            "{qualified_kind} \"{name}\" is invalid: [{}]",
            shown.join(", ")
        ),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({ "reason": e.cause_type(), "message": e.body(), "field": e.field }))
        .collect();
    let mut details = json!({ "name": name });
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    details["kind"] = json!(kind);
    details["causes"] = json!(causes);
    ApiError::new(422, "Invalid", message, Some(details))
}

/// A successful `Status` (eviction, some deletes).
pub(crate) fn success(code: u16) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code })
}
