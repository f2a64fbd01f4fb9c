//! Requests built without I/O: paths, query strings, bodies and content types, and why a request cannot be
//! built ([`RequestError`]). Imports nothing of the client or its errors (as kube-core builds requests apart from
//! kube-client's I/O).

use std::fmt;

use serde::Serialize;

/// What a request does, named as RBAC and kubectl name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    Get,
    List,
    Patch,
    Create,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Patch => "patch",
            Verb::Create => "create",
        }
    }

    pub fn http_method(self) -> &'static str {
        match self {
            Verb::Get | Verb::List => "GET",
            Verb::Patch => "PATCH",
            Verb::Create => "POST",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource type: where it lives in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiResource {
    /// Empty for the core group (`/api/v1`).
    pub group: &'static str,
    pub version: &'static str,
    /// Lower-case plural, as in URLs and RBAC rules.
    pub plural: &'static str,
    pub namespaced: bool,
}

impl ApiResource {
    pub const NODES: ApiResource = ApiResource::core("nodes", false);
    pub const PODS: ApiResource = ApiResource::core("pods", true);
    pub const NAMESPACES: ApiResource = ApiResource::core("namespaces", false);
    pub const LIMIT_RANGES: ApiResource = ApiResource::core("limitranges", true);
    pub const RESOURCE_QUOTAS: ApiResource = ApiResource::core("resourcequotas", true);
    pub const EVENTS: ApiResource = ApiResource {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        namespaced: true,
    };
    pub const HORIZONTAL_POD_AUTOSCALERS: ApiResource = ApiResource {
        group: "autoscaling",
        version: "v2",
        plural: "horizontalpodautoscalers",
        namespaced: true,
    };
    pub const VERTICAL_POD_AUTOSCALERS: ApiResource = ApiResource {
        group: "autoscaling.k8s.io",
        version: "v1",
        plural: "verticalpodautoscalers",
        namespaced: true,
    };

    pub const fn core(plural: &'static str, namespaced: bool) -> ApiResource {
        ApiResource {
            group: "",
            version: "v1",
            plural,
            namespaced,
        }
    }

    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection path; `namespace: None` on a namespaced resource lists across all namespaces.
    fn collection_path(&self, namespace: Option<&str>) -> Result<String, RequestError> {
        let prefix = self.prefix();
        match (self.namespaced, namespace) {
            (true, Some(namespace)) => Ok(format!(
                "{prefix}/namespaces/{}/{}",
                segment("namespace", namespace)?,
                self.plural
            )),
            (true, None) => Ok(format!("{prefix}/{}", self.plural)),
            (false, None) => Ok(format!("{prefix}/{}", self.plural)),
            (false, Some(namespace)) => Err(invalid(format!(
                "{} are cluster-scoped, yet namespace {namespace:?} was given",
                self.plural
            ))),
        }
    }

    fn object_path(
        &self,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
    ) -> Result<String, RequestError> {
        if self.namespaced && namespace.is_none() {
            return Err(invalid(format!(
                "{} {name:?}: a namespace is required",
                self.plural
            )));
        }
        let mut path = format!(
            "{}/{}",
            self.collection_path(namespace)?,
            segment("name", name)?
        );
        if let Some(subresource) = subresource {
            path.push('/');
            path.push_str(&segment("subresource", subresource)?);
        }
        Ok(path)
    }

    /// `pods` or `pods/resize`: the key used in request counters and RBAC.
    fn counter_name(&self, subresource: Option<&str>) -> String {
        match subresource {
            Some(subresource) => format!("{}/{subresource}", self.plural),
            None => self.plural.to_owned(),
        }
    }
}

/// LIST options. `limit` defaults to 500 (kubectl's page size); the client follows `continue` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// Page size; `None` asks for everything at once (avoid: big clusters make huge answers).
    pub limit: Option<u32>,
}

impl Default for ListParams {
    fn default() -> Self {
        ListParams {
            label_selector: None,
            field_selector: None,
            limit: Some(500),
        }
    }
}

impl ListParams {
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    pub fn limit(mut self, limit: Option<u32>) -> Self {
        self.limit = limit;
        self
    }
}

/// A patch body that knows its content type (the server picks the patch semantics from it).
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// RFC 6902 JSON Patch: a list of operations; `test` ops make the write conditional.
    Json(serde_json::Value),
    /// RFC 7386 JSON merge patch: lists are replaced whole.
    Merge(serde_json::Value),
    /// Kubernetes strategic merge patch: lists with a merge key (containers by `name`) are merged.
    Strategic(serde_json::Value),
}

impl Patch {
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Json(_) => "application/json-patch+json",
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
        }
    }

    pub fn body(&self) -> &serde_json::Value {
        match self {
            Patch::Json(body) | Patch::Merge(body) | Patch::Strategic(body) => body,
        }
    }
}

/// One HTTP request to the API, relative to the server's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub verb: Verb,
    /// Path and query, e.g. `/api/v1/pods?labelSelector=a%3Db&limit=500`.
    pub path: String,
    pub body: Option<Vec<u8>>,
    pub content_type: Option<&'static str>,
    /// `pods`, `pods/resize`, `version`: for request counters.
    pub resource: String,
}

impl Request {
    pub fn get(
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Request, RequestError> {
        Ok(Request {
            verb: Verb::Get,
            path: resource.object_path(namespace, name, None)?,
            body: None,
            content_type: None,
            resource: resource.counter_name(None),
        })
    }

    /// One page of a LIST; `continue_token` comes from the previous page's `metadata.continue`.
    pub fn list(
        resource: &ApiResource,
        namespace: Option<&str>,
        params: &ListParams,
        continue_token: Option<&str>,
    ) -> Result<Request, RequestError> {
        let mut query = Vec::new();
        if let Some(selector) = &params.label_selector {
            query.push(("labelSelector", selector.clone()));
        }
        if let Some(selector) = &params.field_selector {
            query.push(("fieldSelector", selector.clone()));
        }
        if let Some(limit) = params.limit {
            if limit == 0 {
                return Err(invalid(
                    "LIST limit 0 means no limit to the server; use None".to_owned(),
                ));
            }
            query.push(("limit", limit.to_string()));
        }
        if let Some(token) = continue_token.filter(|token| !token.is_empty()) {
            query.push(("continue", token.to_owned()));
        }
        Ok(Request {
            verb: Verb::List,
            path: format!(
                "{}{}",
                resource.collection_path(namespace)?,
                query_string(&query)
            ),
            body: None,
            content_type: None,
            resource: resource.counter_name(None),
        })
    }

    /// PATCH an object or one of its subresources (`status`, `resize`).
    pub fn patch(
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch: &Patch,
    ) -> Result<Request, RequestError> {
        Ok(Request {
            verb: Verb::Patch,
            path: resource.object_path(namespace, name, subresource)?,
            body: Some(match patch {
                // A JSON Patch `test` compares strings byte-wise with the server's spelling (see go_json).
                Patch::Json(ops) => super::go_json::to_vec(ops).map_err(RequestError::Body)?,
                Patch::Merge(body) | Patch::Strategic(body) => to_json(body)?,
            }),
            content_type: Some(patch.content_type()),
            resource: resource.counter_name(subresource),
        })
    }

    /// POST a new object into a collection (e.g. an Event).
    pub fn create(
        resource: &ApiResource,
        namespace: Option<&str>,
        body: &impl Serialize,
    ) -> Result<Request, RequestError> {
        Ok(Request {
            verb: Verb::Create,
            path: resource.collection_path(namespace)?,
            body: Some(to_json(body)?),
            content_type: Some("application/json"),
            resource: resource.counter_name(None),
        })
    }

    /// POST to an object's subresource (e.g. `pods/{name}/eviction` with a policy/v1 Eviction).
    pub fn create_subresource(
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        subresource: &str,
        body: &impl Serialize,
    ) -> Result<Request, RequestError> {
        Ok(Request {
            verb: Verb::Create,
            path: resource.object_path(namespace, name, Some(subresource))?,
            body: Some(to_json(body)?),
            content_type: Some("application/json"),
            resource: resource.counter_name(Some(subresource)),
        })
    }

    /// `GET /version`.
    pub fn version() -> Request {
        Request {
            verb: Verb::Get,
            path: "/version".to_owned(),
            body: None,
            content_type: None,
            resource: "version".to_owned(),
        }
    }
}

/// Why a request must not be sent: a bug in the caller, never the server's doing.
#[derive(Debug)]
pub enum RequestError {
    /// A name, namespace or parameter that would address the wrong thing.
    Invalid(String),
    /// The body cannot be written as JSON.
    Body(serde_json::Error),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Invalid(message) => f.write_str(message),
            RequestError::Body(_) => f.write_str("the body cannot be serialized as JSON"),
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RequestError::Invalid(_) => None,
            RequestError::Body(error) => Some(error),
        }
    }
}

fn invalid(message: String) -> RequestError {
    RequestError::Invalid(message)
}

fn to_json(body: &(impl Serialize + ?Sized)) -> Result<Vec<u8>, RequestError> {
    serde_json::to_vec(body).map_err(RequestError::Body)
}

/// One path segment. An empty name would turn a GET of one object into a LIST of all (kube-rs refuses it for
/// the same reason); `/`, `.` and `..` would address another path.
fn segment(what: &str, value: &str) -> Result<String, RequestError> {
    if value.is_empty() {
        return Err(invalid(format!("empty {what}")));
    }
    if value == "." || value == ".." || value.contains('/') {
        return Err(invalid(format!(
            "{what} {value:?} is not a valid path segment"
        )));
    }
    Ok(percent_encode(value))
}

fn query_string(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", percent_encode(value)))
        .collect();
    format!("?{}", joined.join("&"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so selectors like `a in (x,y),!b` and
/// continue tokens (base64 with `=`, `+`, `/`) reach the server unchanged.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn core_cluster_scoped_object_path() {
        let request = Request::get(&ApiResource::NODES, None, "node-1").unwrap();
        assert_eq!(request.path, "/api/v1/nodes/node-1");
        assert_eq!(request.verb.http_method(), "GET");
        assert_eq!(request.resource, "nodes");
    }

    #[test]
    fn group_namespaced_object_path() {
        let request = Request::get(
            &ApiResource::HORIZONTAL_POD_AUTOSCALERS,
            Some("shop"),
            "web",
        )
        .unwrap();
        assert_eq!(
            request.path,
            "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web"
        );
    }

    #[test]
    fn empty_name_is_refused_since_it_would_list_everything() {
        let error = Request::get(&ApiResource::NODES, None, "").unwrap_err();
        assert!(matches!(error, RequestError::Invalid(_)));
        assert!(error.to_string().contains("empty name"), "{error}");
        let patch = Patch::Merge(json!({}));
        assert!(
            Request::patch(&ApiResource::PODS, Some("ns"), "", Some("resize"), &patch).is_err()
        );
    }

    #[test]
    fn names_that_would_escape_their_segment_are_refused() {
        for name in ["a/b", ".", ".."] {
            assert!(
                Request::get(&ApiResource::NODES, None, name).is_err(),
                "{name}"
            );
        }
        assert!(Request::get(&ApiResource::PODS, Some(""), "web").is_err());
        assert!(Request::get(&ApiResource::PODS, Some("a/b"), "web").is_err());
    }

    #[test]
    fn namespace_rules_follow_the_resource_scope() {
        assert!(Request::get(&ApiResource::PODS, None, "web-0").is_err());
        assert!(Request::get(&ApiResource::NODES, Some("default"), "node-1").is_err());
        let all = Request::list(&ApiResource::PODS, None, &ListParams::default(), None).unwrap();
        assert_eq!(all.path, "/api/v1/pods?limit=500");
    }

    #[test]
    fn subresource_paths_and_counter_names() {
        let patch = Patch::Strategic(json!({"spec": {}}));
        let resize = Request::patch(
            &ApiResource::PODS,
            Some("shop"),
            "web-0",
            Some("resize"),
            &patch,
        )
        .unwrap();
        assert_eq!(resize.path, "/api/v1/namespaces/shop/pods/web-0/resize");
        assert_eq!(resize.resource, "pods/resize");
        let status =
            Request::patch(&ApiResource::NODES, None, "node-1", Some("status"), &patch).unwrap();
        assert_eq!(status.path, "/api/v1/nodes/node-1/status");
        let eviction =
            json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-0"}});
        let evict = Request::create_subresource(
            &ApiResource::PODS,
            Some("shop"),
            "web-0",
            "eviction",
            &eviction,
        )
        .unwrap();
        assert_eq!(evict.path, "/api/v1/namespaces/shop/pods/web-0/eviction");
        assert_eq!(evict.verb.http_method(), "POST");
        assert_eq!(evict.resource, "pods/eviction");
    }

    #[test]
    fn list_query_is_percent_encoded() {
        let params = ListParams::default()
            .labels("kube-thermostat.io/resize=true,tier in (web,api),!legacy")
            .fields("spec.nodeName=node-1")
            .limit(Some(100));
        let request = Request::list(
            &ApiResource::PODS,
            Some("shop"),
            &params,
            Some("eyJ2Ijoi+/="),
        )
        .unwrap();
        assert_eq!(
            request.path,
            "/api/v1/namespaces/shop/pods?labelSelector=kube-thermostat.io%2Fresize%3Dtrue%2Ctier%20in%20%28web%2Capi%29%2C%21legacy\
             &fieldSelector=spec.nodeName%3Dnode-1&limit=100&continue=eyJ2Ijoi%2B%2F%3D"
        );
        assert_eq!(request.verb, Verb::List);
    }

    #[test]
    fn list_without_limit_or_selectors_has_no_query() {
        let params = ListParams::default().limit(None);
        let request = Request::list(&ApiResource::NODES, None, &params, Some("")).unwrap();
        assert_eq!(request.path, "/api/v1/nodes");
        assert!(
            Request::list(
                &ApiResource::NODES,
                None,
                &ListParams::default().limit(Some(0)),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn patch_kinds_carry_their_content_types() {
        let ops = json!([{"op": "test", "path": "/spec/taints", "value": []}]);
        let cases = [
            (Patch::Json(ops.clone()), "application/json-patch+json"),
            (
                Patch::Merge(json!({"a": 1})),
                "application/merge-patch+json",
            ),
            (
                Patch::Strategic(json!({"a": 1})),
                "application/strategic-merge-patch+json",
            ),
        ];
        for (patch, content_type) in cases {
            let request =
                Request::patch(&ApiResource::NODES, None, "node-1", None, &patch).unwrap();
            assert_eq!(request.content_type, Some(content_type));
            assert_eq!(request.verb.http_method(), "PATCH");
            let sent: serde_json::Value =
                serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
            assert_eq!(&sent, patch.body());
        }
    }

    #[test]
    fn json_patch_bodies_spell_strings_as_the_api_server_stores_them() {
        let ops = json!([{"op": "test", "path": "/a", "value": "cpu 91% > 80% & <x>"}]);
        let request =
            Request::patch(&ApiResource::NODES, None, "n", None, &Patch::Json(ops)).unwrap();
        let body = String::from_utf8(request.body.unwrap()).unwrap();
        assert!(
            body.contains(r#""cpu 91% \u003e 80% \u0026 \u003cx\u003e""#),
            "{body}"
        );
    }

    #[test]
    fn create_posts_json_to_the_collection() {
        let event = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "reason": "ThermostatTainted"});
        let request = Request::create(&ApiResource::EVENTS, Some("default"), &event).unwrap();
        assert_eq!(
            request.path,
            "/apis/events.k8s.io/v1/namespaces/default/events"
        );
        assert_eq!(request.content_type, Some("application/json"));
        assert_eq!(request.verb, Verb::Create);
    }

    #[test]
    fn names_with_colons_are_encoded_not_refused() {
        let request = Request::get(&ApiResource::NODES, None, "ip-10-0-0-1.ec2:x").unwrap();
        assert_eq!(request.path, "/api/v1/nodes/ip-10-0-0-1.ec2%3Ax");
    }
}
