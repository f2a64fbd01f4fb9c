//! Request routing and the REST verbs: what kube-apiserver does between parsing and answering.

use super::admission;
use super::patch::{self, PatchError};
use super::rbac;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{self, ApiError, FieldError};
use super::store::{self, ListQuery, ResourceType};
use super::validate;
use super::{FaultKind, RequestRecord, Shared};
use serde_json::{Value, json};

/// A parsed HTTP request.
#[derive(Debug, Default)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The user named by a verified TLS client certificate.
    pub cert_user: Option<String>,
    pub bytes_in: usize,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub code: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the connection should do.
pub(crate) enum Outcome {
    Respond(Response),
    /// Close the socket without answering (injected fault).
    Drop,
}

fn json_response(code: u16, body: &Value) -> Response {
    Response {
        code,
        content_type: "application/json",
        headers: Vec::new(),
        body: body.to_string().into_bytes(),
    }
}

fn error_response(error: &ApiError) -> Response {
    let mut headers = Vec::new();
    if let Some(seconds) = error.retry_after {
        headers.push(("Retry-After".to_string(), seconds.to_string()));
    }
    match error.plain_text {
        Some(text) => {
            headers.push(("X-Content-Type-Options".into(), "nosniff".into()));
            Response {
                code: error.code,
                content_type: "text/plain; charset=utf-8",
                headers,
                body: text.as_bytes().to_vec(),
            }
        }
        None => Response {
            code: error.code,
            content_type: "application/json",
            headers,
            body: error.body.to_string().into_bytes(),
        },
    }
}

/// Where a path leads.
#[derive(Debug)]
enum Route {
    Version,
    Resource {
        resource: &'static ResourceType,
        namespace: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
    NotServed(ApiError),
}

fn route(path: &str, shared: &Shared) -> Route {
    if path == "/version" || path == "/version/" {
        return Route::Version;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => {
            let served = match (*group, *version) {
                ("autoscaling", "v2") | ("events.k8s.io", "v1") => true,
                ("autoscaling.k8s.io", "v1") => shared.options.vpa_crd_installed,
                _ => false,
            };
            if !served {
                // No API group serves this path: Go's `http.NotFound` from the last delegate.
                return Route::NotServed(status::page_not_found());
            }
            (*group, *version, rest)
        }
        _ => return Route::NotServed(status::page_not_found()),
    };
    let unknown = || Route::NotServed(status::generic(404));
    let (namespace, plural, name, sub) = match rest {
        ["namespaces", ns, plural, more @ ..] => {
            if more.len() > 2 {
                return unknown();
            }
            (
                Some(ns.to_string()),
                *plural,
                more.first().map(|s| s.to_string()),
                more.get(1).map(|s| s.to_string()),
            )
        }
        [plural, more @ ..] if !plural.is_empty() => {
            if more.len() > 2 {
                return unknown();
            }
            (
                None,
                *plural,
                more.first().map(|s| s.to_string()),
                more.get(1).map(|s| s.to_string()),
            )
        }
        _ => return unknown(),
    };
    let Some(resource) = ResourceType::for_path(group, version, plural) else {
        return unknown();
    };
    if namespace.is_some() && !resource.namespaced {
        return unknown();
    }
    if resource.namespaced && namespace.is_none() && name.is_some() {
        return unknown();
    }
    if let Some(sub) = &sub {
        let known = match (resource.plural, resource.group, sub.as_str()) {
            // 1.32 registers the route only with the alpha gate on (kubernetes pkg/registry/core/pod/storage).
            ("pods", "", "resize") => {
                shared.options.server_minor >= 33
                    || (shared.options.server_minor == 32 && shared.options.resize_alpha_gate)
            }
            ("pods", "", "eviction" | "status") | ("nodes", "", "status") => true,
            _ => false,
        };
        if !known {
            return unknown();
        }
    }
    Route::Resource {
        resource,
        namespace,
        name,
        sub,
    }
}

/// The RBAC verb and resource label of a request (as recorded and authorized).
fn verb_of(method: &str, has_name: bool) -> &'static str {
    match (method, has_name) {
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// Handles one request end to end and records it.
pub(crate) fn handle(shared: &Shared, request: &Request) -> Outcome {
    let route = route(&request.path, shared);
    let (verb, resource_label) = match &route {
        Route::Resource {
            resource,
            name,
            sub,
            ..
        } => {
            let has_name = name.is_some() && sub.as_deref() != Some("eviction");
            let verb = if sub.as_deref() == Some("eviction") {
                "create"
            } else {
                verb_of(&request.method, has_name)
            };
            let label = match sub {
                Some(sub) => format!("{}/{sub}", resource.plural),
                None => resource.plural.to_string(),
            };
            (verb.to_string(), label)
        }
        _ => (request.method.to_lowercase(), String::new()),
    };
    let mut record = RequestRecord {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        content_type: request.header("content-type").map(str::to_string),
        verb,
        resource: resource_label,
        status: 0,
        bytes_in: request.bytes_in,
        bytes_out: 0,
        user: None,
        user_agent: request.header("user-agent").map(str::to_string),
        authorization: request.header("authorization").map(str::to_string),
        body: String::from_utf8_lossy(&request.body).into_owned(),
        received: std::time::Instant::now(),
    };
    let outcome = handle_inner(shared, request, &route, &mut record);
    match &outcome {
        Outcome::Respond(response) => {
            record.status = response.code;
            record.bytes_out = response.body.len();
        }
        Outcome::Drop => record.status = 0,
    }
    shared
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(record);
    outcome
}

fn handle_inner(
    shared: &Shared,
    request: &Request,
    route: &Route,
    record: &mut RequestRecord,
) -> Outcome {
    let target = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    for fault in shared.take_faults(&request.method, &target) {
        match fault {
            FaultKind::Latency(delay) => std::thread::sleep(delay),
            FaultKind::Status { code, retry_after } => {
                return Outcome::Respond(error_response(&status::for_code(code, retry_after)));
            }
            FaultKind::DropConnection => return Outcome::Drop,
            FaultKind::ConflictOnce => {
                if let Route::Resource {
                    resource,
                    namespace,
                    name: Some(name),
                    ..
                } = route
                {
                    shared.write_as_other_writer(resource, namespace.as_deref(), name);
                }
            }
            FaultKind::ExpireContinueTokens => {
                shared.lock_store().continue_epoch += 1;
            }
        }
    }
    let user = match authenticate(shared, request) {
        Ok(user) => user,
        Err(error) => return Outcome::Respond(error_response(&error)),
    };
    record.user = Some(user.clone());
    let result = match route {
        Route::Version => Ok(json_response(
            200,
            &version_body(shared.options.server_minor),
        )),
        Route::NotServed(error) => Err(error.clone()),
        Route::Resource {
            resource,
            namespace,
            name,
            sub,
        } => authorize(
            shared,
            &user,
            record,
            resource,
            namespace.as_deref(),
            name.as_deref(),
            sub.as_deref(),
        )
        .and_then(|()| {
            dispatch(
                shared,
                request,
                resource,
                namespace.as_deref(),
                name.as_deref(),
                sub.as_deref(),
            )
        }),
    };
    Outcome::Respond(result.unwrap_or_else(|error| error_response(&error)))
}

fn version_body(minor: u32) -> Value {
    json!({
        "major": "1",
        "minor": minor.to_string(),
        "emulationMajor": "1",
        "emulationMinor": minor.to_string(),
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": (minor - 1).to_string(),
        "gitVersion": format!("v1.{minor}.1"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

fn authenticate(shared: &Shared, request: &Request) -> Result<String, ApiError> {
    if let Some(user) = &request.cert_user {
        return Ok(user.clone());
    }
    let token = shared
        .token
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match (token, request.header("authorization")) {
        (None, _) if !shared.options.client_ca_auth => Ok("system:admin".into()),
        (Some(expected), Some(header)) => {
            let given = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "));
            if given.map(str::trim) == Some(expected.as_str()) {
                Ok(shared.options.token_user.clone())
            } else {
                Err(status::unauthorized())
            }
        }
        _ => Err(status::unauthorized()),
    }
}

fn authorize(
    shared: &Shared,
    user: &str,
    record: &RequestRecord,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: Option<&str>,
    sub: Option<&str>,
) -> Result<(), ApiError> {
    let Some(rules) = &shared.options.rbac else {
        return Ok(());
    };
    let name = name.unwrap_or_default();
    if rbac::allowed(rules, resource.group, &record.resource, &record.verb, name) {
        return Ok(());
    }
    Err(status::forbidden(
        user,
        &record.verb,
        resource.qualified(),
        sub,
        namespace,
        name,
    ))
}

fn parse_body(request: &Request) -> Result<Value, ApiError> {
    serde_json::from_slice(&request.body)
        .map_err(|e| status::bad_request(format!("error decoding patch: {e}")))
}

fn dispatch(
    shared: &Shared,
    request: &Request,
    resource: &'static ResourceType,
    namespace: Option<&str>,
    name: Option<&str>,
    sub: Option<&str>,
) -> Result<Response, ApiError> {
    let method = request.method.as_str();
    match (method, name, sub) {
        ("GET", Some(name), None | Some("status")) => {
            let store = shared.lock_store();
            store
                .objects
                .get(&store::key(resource, namespace, name))
                .map(|object| json_response(200, object))
                .ok_or_else(|| status::not_found(resource.qualified(), name))
        }
        ("GET", None, None) => {
            let query = list_query(request, resource)?;
            shared
                .lock_store()
                .list(resource, namespace, &query)
                .map(|list| json_response(200, &list))
        }
        ("POST", None, None) => create(shared, request, resource, namespace),
        ("POST", Some(name), Some("eviction")) => {
            let mut store = shared.lock_store();
            let key = store::key(resource, namespace, name);
            if store.objects.remove(&key).is_none() {
                return Err(status::not_found(resource.qualified(), name));
            }
            store.resource_version += 1;
            Ok(json_response(201, &status::success(201)))
        }
        ("PATCH", Some(name), None | Some("resize") | Some("status")) => {
            let content_type = request
                .header("content-type")
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            // A JSON Patch keeps its raw bytes: `test` compares them with the stored object's.
            let patch_body = match content_type.as_str() {
                "application/json-patch+json" => None,
                _ => Some(parse_body(request)?),
            };
            write(shared, resource, namespace, name, sub, |current| {
                apply_patch(
                    resource,
                    &content_type,
                    current,
                    &request.body,
                    patch_body.as_ref(),
                )
            })
        }
        ("PUT", Some(name), None | Some("resize") | Some("status")) => {
            let body = parse_body(request)?;
            write(shared, resource, namespace, name, sub, |_| Ok(body.clone()))
        }
        ("DELETE", Some(name), None) => {
            let mut store = shared.lock_store();
            let removed = store.objects.remove(&store::key(resource, namespace, name));
            match removed {
                Some(object) => {
                    store.resource_version += 1;
                    Ok(json_response(200, &object))
                }
                None => Err(status::not_found(resource.qualified(), name)),
            }
        }
        _ => Err(status::method_not_allowed()),
    }
}

fn list_query(request: &Request, resource: &ResourceType) -> Result<ListQuery, ApiError> {
    let labels = LabelSelector::parse(&request.query_param("labelSelector").unwrap_or_default())
        .map_err(status::bad_request)?;
    let mut supported = vec!["metadata.name", "metadata.namespace"];
    supported.extend(resource.fields);
    let fields = FieldSelector::parse(
        &request.query_param("fieldSelector").unwrap_or_default(),
        &supported,
    )
    .map_err(status::bad_request)?;
    let limit = match request.query_param("limit").filter(|l| !l.is_empty()) {
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => return Err(status::bad_request(format!("invalid limit {l:?}"))),
        },
        None => None,
    };
    let continue_token = request.query_param("continue").filter(|c| !c.is_empty());
    Ok(ListQuery {
        labels,
        fields,
        limit,
        continue_token,
    })
}

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

fn apply_patch(
    resource: &ResourceType,
    content_type: &str,
    current: &Value,
    raw_body: &[u8],
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let parsed = || body.cloned().unwrap_or(Value::Null);
    let result = match content_type {
        "application/json-patch+json" => patch::json_patch(current, raw_body),
        "application/merge-patch+json" => Ok(patch::merge_patch(current, &parsed())),
        "application/strategic-merge-patch+json" if !resource.custom => {
            patch::strategic_merge_patch(resource.kind, current, &parsed())
        }
        "application/strategic-merge-patch+json" => {
            // Custom resources have no Go struct to read merge keys from.
            return Err(status::unsupported_media_type(&[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ]));
        }
        // Server-side apply is not modelled by the stand-in.
        _ => return Err(status::unsupported_media_type(PATCH_TYPES)),
    };
    result.map_err(|error| match error {
        PatchError::BadRequest(message) => status::bad_request(message),
        PatchError::DoesNotApply(reason) => {
            // The real answer drops the reason; show it in the test output for whoever debugs.
            eprintln!("apiserver stand-in: patch does not apply: {reason}");
            status::generic(422)
        }
        PatchError::Internal(message) => status::internal(&message),
        PatchError::TooLarge(message) => status::request_entity_too_large(&message),
    })
}

/// The shared update path of PATCH and PUT: preconditions, strategy, validation, store.
fn write(
    shared: &Shared,
    resource: &'static ResourceType,
    namespace: Option<&str>,
    name: &str,
    sub: Option<&str>,
    produce: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let mut store = shared.lock_store();
    let key = store::key(resource, namespace, name);
    let current = store
        .objects
        .get(&key)
        .cloned()
        .ok_or_else(|| status::not_found(resource.qualified(), name))?;
    let mut new = produce(&current)?;
    if !new.is_object() {
        return Err(status::bad_request(format!(
            "the body of the request must be a {} object",
            resource.kind
        )));
    }
    if !new["metadata"].is_object() {
        new["metadata"] = json!({});
    }
    match new["metadata"]["name"].as_str() {
        Some(n) if n != name => {
            return Err(status::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        _ => new["metadata"]["name"] = json!(name),
    }
    if let Some(ns) = namespace {
        match new["metadata"]["namespace"].as_str() {
            Some(n) if n != ns => {
                return Err(status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => new["metadata"]["namespace"] = json!(ns),
        }
    }
    new["kind"] = json!(resource.kind);
    new["apiVersion"] = json!(resource.api_version());
    // metadata.resourceVersion and uid in the body are preconditions.
    if let Some(rv) = new["metadata"]["resourceVersion"]
        .as_str()
        .filter(|rv| !rv.is_empty())
        && Some(rv) != current["metadata"]["resourceVersion"].as_str()
    {
        return Err(status::conflict(resource.qualified(), name));
    }
    if let Some(uid) = new["metadata"]["uid"].as_str().filter(|u| !u.is_empty()) {
        let current_uid = current["metadata"]["uid"].as_str().unwrap_or_default();
        if uid != current_uid {
            return Err(status::conflict_with(
                resource.qualified(),
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {current_uid}"
                ),
            ));
        }
    }
    for field in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
        match current["metadata"].get(field) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    let qualified_invalid =
        |errors: &[FieldError]| status::invalid(resource.group, resource.kind, name, errors);
    match (resource.kind, sub) {
        ("Node", Some("status")) => keep_field(&mut new, &current, "spec"),
        ("Node", _) => {
            // No taint mutation: the node strategy leaves `timeAdded` to whoever writes the taint
            // (kubernetes pkg/registry/core/node/strategy.go, PrepareForUpdate).
            keep_field(&mut new, &current, "status");
            let errors = validate::validate_node(&new);
            if !errors.is_empty() {
                return Err(qualified_invalid(&errors));
            }
        }
        ("Pod", Some("resize")) => {
            validate::default_pod(&mut new);
            let mut prepared =
                validate::prepare_resize(&new, &current, shared.options.server_minor);
            for field in ["uid", "creationTimestamp", "generation"] {
                if let Some(v) = current["metadata"].get(field) {
                    prepared["metadata"][field] = v.clone();
                }
            }
            let errors =
                validate::validate_resize(&prepared, &current, shared.options.server_minor);
            if !errors.is_empty() {
                return Err(qualified_invalid(&errors));
            }
            // Validating admission runs after the object is validated.
            if shared.options.server_minor >= admission::FIRST_MINOR
                && prepared["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty())
                && prepared["spec"] != current["spec"]
            {
                if shared.take_resize_admission_unready() {
                    return Err(admission::not_ready(name));
                }
                let nodes =
                    ResourceType::for_kind("Node", Some("v1")).expect("the stand-in serves nodes");
                admission::validate_declared_features(&prepared, &current, name, |node| {
                    store.objects.get(&store::key(nodes, None, node)).cloned()
                })?;
                admission::validate(&prepared, &current, name, |node| {
                    store.objects.get(&store::key(nodes, None, node)).cloned()
                })?;
            }
            new = prepared;
        }
        ("Pod", Some("status")) => {
            keep_field(&mut new, &current, "spec");
            if shared.options.server_minor < validate::FIRST_MINOR_TRACKING_OBSERVED_GENERATION {
                validate::drop_observed_generation(&mut new, &current);
            }
        }
        ("Pod", _) => {
            validate::default_pod(&mut new);
            keep_field(&mut new, &current, "status");
            let errors = validate::validate_pod_update(&new, &current);
            if !errors.is_empty() {
                return Err(qualified_invalid(&errors));
            }
        }
        (_, None) => keep_field(&mut new, &current, "status"),
        _ => {}
    }
    let stored = store.replace(resource, &key, new);
    Ok(json_response(200, &stored))
}

/// A field the endpoint may not change (status through the main resource, spec through status).
fn keep_field(new: &mut Value, current: &Value, field: &str) {
    match (current.get(field), new.as_object_mut()) {
        (Some(value), Some(map)) => {
            map.insert(field.to_string(), value.clone());
        }
        (None, Some(map)) => {
            map.remove(field);
        }
        _ => {}
    }
}

fn create(
    shared: &Shared,
    request: &Request,
    resource: &'static ResourceType,
    namespace: Option<&str>,
) -> Result<Response, ApiError> {
    let mut object: Value = serde_json::from_slice(&request.body).map_err(|e| {
        status::bad_request(format!("the body of the request could not be decoded: {e}"))
    })?;
    if !object.is_object() {
        return Err(status::bad_request(
            "the body of the request must be an object",
        ));
    }
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    if let Some(ns) = namespace {
        match object["metadata"]["namespace"].as_str() {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => object["metadata"]["namespace"] = json!(ns),
        }
    }
    let mut store = shared.lock_store();
    if object["metadata"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
        && let Some(prefix) = object["metadata"]["generateName"].as_str()
    {
        let suffix = store.next_uid();
        object["metadata"]["name"] = json!(format!("{prefix}{}", &suffix[suffix.len() - 5..]));
    }
    // NamespaceLifecycle admission runs before validation.
    if let Some(ns) = namespace {
        let namespaces =
            ResourceType::for_kind("Namespace", Some("v1")).unwrap_or(&store::RESOURCES[2]);
        if !store
            .objects
            .contains_key(&store::key(namespaces, None, ns))
        {
            return Err(status::not_found(namespaces.qualified(), ns));
        }
    }
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    if resource.kind == "Event" {
        errors.extend(validate_event(
            resource,
            &object,
            namespace.unwrap_or_default(),
        ));
    }
    if resource.kind == "Node" {
        errors.extend(validate::validate_node(&object));
    }
    if resource.kind == "Pod" {
        errors.extend(validate::validate_pod_volume_mounts(&object));
    }
    if !errors.is_empty() {
        return Err(status::invalid(
            resource.group,
            resource.kind,
            &name,
            &errors,
        ));
    }
    if store
        .objects
        .contains_key(&store::key(resource, namespace, &name))
    {
        return Err(status::already_exists(resource.qualified(), &name));
    }
    if resource.kind == "Pod" {
        validate::default_pod(&mut object);
    }
    let stored = store.create(resource, object);
    Ok(json_response(201, &stored))
}

/// `ValidateEventCreate` (kubernetes `pkg/apis/core/validation/events.go`). core/v1 gets the legacy checks
/// only; `events.k8s.io/v1` the strict ones as well, in the server's order: legacy (with `eventTime` set),
/// then `ValidateObjectMeta(.., NameIsDNSSubdomain, ..)`, then `eventTime`, `type` and the deprecated fields.
/// Field paths are the internal type's (`involvedObject`, `message`), as the server reports them.
fn validate_event(resource: &ResourceType, event: &Value, namespace: &str) -> Vec<FieldError> {
    if resource.group.is_empty() {
        return validate_core_event(event, namespace);
    }
    let mut errors = Vec::new();
    let text = |field: &str| event[field].as_str().unwrap_or_default();
    let has_event_time = !text("eventTime").is_empty();
    // legacyValidateEvent, eventTime set (unset: the strict check below names it).
    if has_event_time {
        let object_ns = event["regarding"]["namespace"].as_str().unwrap_or_default();
        if object_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
            errors.push(FieldError::invalid(
                "involvedObject.namespace",
                object_ns,
                "does not match event.namespace",
            ));
        }
        let controller = text("reportingController");
        if controller.is_empty() {
            errors.push(FieldError::required("reportingController", ""));
        }
        for message in validate::qualified_name_errors(controller) {
            errors.push(FieldError::invalid(
                "reportingController",
                controller,
                message,
            ));
        }
        for (field, reported_as) in [
            ("reportingInstance", "reportingInstance"),
            ("action", "action"),
            ("reason", "reason"),
        ] {
            let value = text(field);
            if value.is_empty() {
                errors.push(FieldError::required(reported_as, ""));
            }
            if value.len() > 128 {
                errors.push(FieldError::invalid(
                    reported_as,
                    "",
                    "can have at most 128 characters",
                ));
            }
        }
        if text("note").len() > 1024 {
            errors.push(FieldError::invalid(
                "message",
                "",
                "can have at most 1024 characters",
            ));
        }
    }
    for message in validate::dns1123_subdomain_errors(namespace) {
        errors.push(FieldError::invalid("namespace", namespace, message));
    }
    // ValidateObjectMeta with NameIsDNSSubdomain (apimachinery objectmeta.go, generic.go).
    let metadata = &event["metadata"];
    let generate_name = metadata["generateName"].as_str().unwrap_or_default();
    if !generate_name.is_empty() {
        for message in validate::dns1123_subdomain_errors(&mask_trailing_dash(generate_name)) {
            errors.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                message,
            ));
        }
    }
    let name = metadata["name"].as_str().unwrap_or_default();
    if !name.is_empty() {
        for message in validate::dns1123_subdomain_errors(name) {
            errors.push(FieldError::invalid("metadata.name", name, message));
        }
    }
    if event["series"].is_object() {
        if event["series"]["count"].as_i64().unwrap_or_default() < 2 {
            errors.push(FieldError::invalid(
                "series.count",
                "",
                "should be at least 2",
            ));
        }
        if event["series"]["lastObservedTime"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            errors.push(FieldError::required("series.lastObservedTime", ""));
        }
    }
    if !has_event_time {
        errors.push(FieldError::required("eventTime", ""));
    }
    let kind = text("type");
    if kind != "Normal" && kind != "Warning" {
        errors.push(FieldError::invalid(
            "type",
            "",
            format!("has invalid value: {kind}"),
        ));
    }
    for (field, reported_as) in [
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
    ] {
        if !text(field).is_empty() {
            errors.push(FieldError::invalid(reported_as, "", "needs to be unset"));
        }
    }
    if event["deprecatedCount"].as_i64().unwrap_or_default() != 0 {
        errors.push(FieldError::invalid("count", "", "needs to be unset"));
    }
    if event["deprecatedSource"].as_object().is_some_and(|source| {
        source
            .values()
            .any(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    }) {
        errors.push(FieldError::invalid("source", "", "needs to be unset"));
    }
    errors
}

/// apimachinery `maskTrailingDash`: a `generateName` may end in `-` (the server appends to it); nothing else
/// is excused.
fn mask_trailing_dash(name: &str) -> String {
    match name.strip_suffix('-') {
        Some(_) if name.len() >= 2 => format!("{}a", &name[..name.len() - 2]),
        _ => name.to_owned(),
    }
}

/// core/v1 Events: what a client most often gets wrong (the legacy rules, loosely).
fn validate_core_event(event: &Value, namespace: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let object = &event["involvedObject"];
    if object.as_object().is_none_or(|o| o.is_empty()) {
        errors.push(FieldError::required("involvedObject", ""));
    } else {
        let object_ns = object["namespace"].as_str().unwrap_or_default();
        let fine = if object_ns.is_empty() {
            namespace == "default" || namespace.is_empty()
        } else {
            object_ns == namespace
        };
        if !fine {
            errors.push(FieldError::invalid(
                "involvedObject.namespace",
                object_ns,
                "does not match event.namespace",
            ));
        }
    }
    if event["reason"].as_str().is_none_or(str::is_empty) {
        errors.push(FieldError::required("reason", ""));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict_event(metadata: Value) -> Value {
        json!({
            "metadata": metadata,
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "kube-thermostat.io/kube-thermostat",
            "reportingInstance": "i",
            "action": "Taint",
            "reason": "ThermostatTainted",
            "note": "n",
            "type": "Normal",
            "regarding": {"apiVersion": "v1", "kind": "Node", "name": "worker-1"},
        })
    }

    fn messages(event: &Value, namespace: &str) -> Vec<String> {
        let events = ResourceType::for_kind("Event", Some("events.k8s.io/v1")).unwrap();
        validate_event(events, event, namespace)
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect()
    }

    #[test]
    fn a_generate_name_ending_in_a_dot_is_refused_one_ending_in_a_dash_is_not() {
        let dotted = strict_event(json!({"name": "worker-1.abcde", "generateName": "worker-1."}));
        let errors = messages(&dotted, "default");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "metadata.generateName: Invalid value: \"worker-1.\": a lowercase RFC 1123 subdomain"
            ),
            "{errors:?}"
        );
        let dashed = strict_event(json!({"name": "worker-1-abcde", "generateName": "worker-1-"}));
        assert!(messages(&dashed, "default").is_empty());
        let named = strict_event(json!({"name": "worker-1.18d75b842b4ecd15"}));
        assert!(messages(&named, "default").is_empty());
        assert!(messages(&named, "kube-system").is_empty());
    }

    #[test]
    fn strict_rules_name_each_field_as_the_server_does() {
        let mut event = strict_event(json!({"name": format!("{}.1", "a".repeat(253))}));
        event["reason"] = json!("R".repeat(129));
        event["note"] = json!("n".repeat(1025));
        event["reportingController"] = json!("not a qualified name");
        event["type"] = json!("Info");
        event.as_object_mut().unwrap().remove("eventTime");
        let errors = messages(&event, "shop").join("\n");
        for expected in [
            "metadata.name: Invalid value: ",
            "must be no more than 253 characters",
            "eventTime: Required value",
            "type: Invalid value: \"\": has invalid value: Info",
        ] {
            assert!(errors.contains(expected), "{expected} in\n{errors}");
        }
        // With eventTime set, the legacy rules apply too: a Node's Event outside default/kube-system, lengths.
        event["eventTime"] = json!("2026-01-01T00:00:00.000000Z");
        let errors = messages(&event, "shop").join("\n");
        for expected in [
            "involvedObject.namespace: Invalid value: \"\": does not match event.namespace",
            "reason: Invalid value: \"\": can have at most 128 characters",
            "message: Invalid value: \"\": can have at most 1024 characters",
            "reportingController: Invalid value: \"not a qualified name\"",
        ] {
            assert!(errors.contains(expected), "{expected} in\n{errors}");
        }
    }
}
