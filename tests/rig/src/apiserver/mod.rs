//! A Kubernetes API stand-in: a local HTTP(S) server on 127.0.0.1 that behaves like
//! kube-apiserver where kube-thermostat depends on it.
//!
//! Objects are `serde_json::Value`s. The server reproduces, from the upstream sources:
//! - `Status` error bodies with the real reasons and message shapes (404, 409, 410, 415, 422,
//!   429 + `Retry-After`, 401, 403 with the RBAC message, 500);
//! - `metadata.resourceVersion` bumped on every effective write (not on a no-op patch) and
//!   checked as a precondition (409); `metadata.generation` on Pod/HPA/VPA spec changes;
//! - JSON Patch (evanphx/json-patch v4 semantics; a failed `test` is a 422), merge patch and
//!   strategic merge patch with the core/v1 merge keys (`spec.taints` has none: replaced);
//! - Node taint validation; Pod spec immutability; the `pods/{name}/resize` rules per server
//!   minor version (1.32 / 1.33 / 1.34+; from 1.36 non-sidecar init containers and pod-level
//!   resources too, with the `PodResizeValidator` and `NodeDeclaredFeatureValidator` admissions);
//!   `404` for `resize` before 1.32;
//! - LIST with label/field selectors, `limit`/`continue` paging and expiring continue tokens;
//! - bearer tokens (rotatable), optional TLS with client certificates, optional RBAC;
//! - injectable faults and a record of every request.
//!
//! ```no_run
//! use thermostat_rig::apiserver::{ApiServer, Options};
//! let server = ApiServer::start(Options::default()).unwrap();
//! server.put(serde_json::json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1"}}));
//! // ... run the client against server.url() with bearer token "test-token" ...
//! assert_eq!(server.count("list", "nodes"), 0);
//! ```

mod admission;
mod handler;
mod http;
mod patch;
mod rbac;
mod selectors;
mod status;
mod store;
mod validate;

pub use rbac::PolicyRule;
pub use store::rfc3339;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};
use store::{ResourceType, Store};

/// The user a valid bearer token authenticates as, unless [`Options::token_user`] says otherwise.
pub const DEFAULT_TOKEN_USER: &str = "system:serviceaccount:kube-thermostat:kube-thermostat";
/// The taint [`FaultKind::ConflictOnce`] adds to a Node, as another writer would.
pub const FOREIGN_TAINT_KEY: &str = "example.com/other-writer";
/// The annotation [`FaultKind::ConflictOnce`] sets on objects other than Nodes.
pub const FOREIGN_ANNOTATION_KEY: &str = "example.com/other-writer";

/// How the stand-in is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost` signed by [`ApiServer::ca_pem`].
    pub tls: bool,
    /// The bearer token accepted; `None` with `client_ca_auth` false means no authentication.
    pub token: Option<String>,
    /// The user a valid token authenticates as (shown in 403 messages).
    pub token_user: String,
    /// The Kubernetes minor version served (`/version`, resize rules, the 1.36 `PodResizeValidator`): 31 to 36.
    pub server_minor: u32,
    /// On 1.32, the `InPlacePodVerticalScaling` alpha gate is on: only then is `pods/{name}/resize` served
    /// (beta and on by default from 1.33).
    pub resize_alpha_gate: bool,
    /// Whether `autoscaling.k8s.io/v1` (the VPA CRD) is served; otherwise its paths are 404.
    pub vpa_crd_installed: bool,
    /// RBAC rules granted to every authenticated user; `None` allows everything.
    pub rbac: Option<Vec<PolicyRule>>,
    /// Accept TLS client certificates signed by the CA (user = certificate CN). Needs `tls`.
    pub client_ca_auth: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tls: false,
            token: Some("test-token".to_string()),
            token_user: DEFAULT_TOKEN_USER.to_string(),
            server_minor: 34,
            resize_alpha_gate: false,
            vpa_crd_installed: true,
            rbac: None,
            client_ca_auth: false,
        }
    }
}

/// One request as the server saw it, whatever its answer.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (percent-encoded), empty when none.
    pub query: String,
    pub content_type: Option<String>,
    /// RBAC verb: `get`, `list`, `create`, `patch`, `update`, `delete`; lower-case method otherwise.
    pub verb: String,
    /// `nodes`, `pods`, `pods/resize`, `events`, ...; empty for `/version` and unknown paths.
    pub resource: String,
    /// HTTP status answered; 0 when the connection was dropped by a fault.
    pub status: u16,
    /// Request bytes (head and body) and response body bytes.
    pub bytes_in: usize,
    pub bytes_out: usize,
    /// Authenticated user, if authentication succeeded.
    pub user: Option<String>,
    pub user_agent: Option<String>,
    pub authorization: Option<String>,
    pub body: String,
    /// When the request's head and body had been read.
    pub received: std::time::Instant,
}

/// A fault injected into the next `times` matching requests.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Match only this HTTP method (case-insensitive); `None` matches all.
    pub method: Option<String>,
    /// Match only requests whose `path?query` contains this; `None` matches all.
    pub path_contains: Option<String>,
    /// `path_contains` must be the whole `path?query` (a pod's PATCH, not its `resize` subresource).
    pub exact: bool,
    pub times: usize,
    pub kind: FaultKind,
}

impl Fault {
    /// A fault on every request, `times` times.
    pub fn any(kind: FaultKind, times: usize) -> Fault {
        Fault {
            method: None,
            path_contains: None,
            exact: false,
            times,
            kind,
        }
    }

    /// A fault on requests with `method` whose path contains `path_contains`.
    pub fn on(method: &str, path_contains: &str, kind: FaultKind, times: usize) -> Fault {
        Fault {
            method: Some(method.to_string()),
            path_contains: Some(path_contains.to_string()),
            exact: false,
            times,
            kind,
        }
    }

    /// A fault on `method` requests to exactly `path` (with its query, if any), `times` times.
    pub fn on_exact(method: &str, path: &str, kind: FaultKind, times: usize) -> Fault {
        Fault {
            exact: true,
            ..Fault::on(method, path, kind, times)
        }
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.times > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path_contains.as_deref().is_none_or(|p| {
                if self.exact {
                    target == p
                } else {
                    target.contains(p)
                }
            })
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Wait this long, then handle the request normally.
    Latency(Duration),
    /// Answer with this status code and the matching `Status` body (429 `TooManyRequests`,
    /// 500 `InternalError`, 503, 504 ...), with a `Retry-After` header when given.
    Status { code: u16, retry_after: Option<u64> },
    /// Close the connection without answering.
    DropConnection,
    /// Before handling, another writer changes the addressed object (a Node gets the taint
    /// [`FOREIGN_TAINT_KEY`]`=true:NoSchedule`, anything else the annotation
    /// [`FOREIGN_ANNOTATION_KEY`]), bumping its resourceVersion; then the request proceeds.
    ConflictOnce,
    /// Every continue token issued so far expires (410 `Expired`), as after etcd compaction.
    ExpireContinueTokens,
}

/// State shared by the server threads and the test.
pub(crate) struct Shared {
    options: Options,
    store: Mutex<Store>,
    token: Mutex<Option<String>>,
    requests: Mutex<Vec<RequestRecord>>,
    faults: Mutex<Vec<Fault>>,
    /// Resize requests the 1.36 `PodResizeValidator` answers "not yet ready" (its node informer syncing).
    resize_admission_unready: Mutex<usize>,
    client_certs: Mutex<Vec<(Vec<u8>, String)>>,
    stop: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn lock_store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Whether this resize meets a `PodResizeValidator` not ready yet (consuming one use).
    fn take_resize_admission_unready(&self) -> bool {
        let mut left = lock(&self.resize_admission_unready);
        let unready = *left > 0;
        *left = left.saturating_sub(1);
        unready
    }

    /// The kinds of the faults that apply to this request, consuming one use of each.
    fn take_faults(&self, method: &str, target: &str) -> Vec<FaultKind> {
        let mut faults = lock(&self.faults);
        let mut taken = Vec::new();
        for fault in faults.iter_mut() {
            if fault.matches(method, target) {
                fault.times -= 1;
                let terminal = !matches!(fault.kind, FaultKind::Latency(_));
                taken.push(fault.kind.clone());
                if terminal {
                    break;
                }
            }
        }
        faults.retain(|f| f.times > 0);
        taken
    }

    fn cert_user(&self, der: &[u8]) -> Option<String> {
        lock(&self.client_certs)
            .iter()
            .find(|(d, _)| d == der)
            .map(|(_, user)| user.clone())
    }

    fn write_as_other_writer(&self, resource: &ResourceType, namespace: Option<&str>, name: &str) {
        let mut store = self.lock_store();
        let key = store::key(resource, namespace, name);
        let Some(mut object) = store.objects.get(&key).cloned() else {
            return;
        };
        let marker = store.resource_version + 1;
        if resource.kind == "Node" {
            let taints = object["spec"]["taints"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut taints: Vec<Value> = taints
                .into_iter()
                .filter(|t| t["key"] != FOREIGN_TAINT_KEY)
                .collect();
            taints.push(json!({"key": FOREIGN_TAINT_KEY, "value": marker.to_string(), "effect": "NoSchedule"}));
            object["spec"]["taints"] = Value::Array(taints);
        } else {
            object["metadata"]["annotations"][FOREIGN_ANNOTATION_KEY] = json!(marker.to_string());
        }
        store.replace(resource, &key, object);
    }
}

/// A running stand-in. Dropping it stops the server and its connection threads.
pub struct ApiServer {
    shared: Arc<Shared>,
    port: u16,
    pki: Option<http::Pki>,
    accept_thread: Option<JoinHandle<()>>,
}

fn resource_of(kind: &str, api_version: Option<&str>) -> &'static ResourceType {
    ResourceType::for_kind(kind, api_version)
        .unwrap_or_else(|| panic!("apiserver stand-in: unknown kind {kind:?}"))
}

impl ApiServer {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub fn start(options: Options) -> anyhow::Result<ApiServer> {
        if !(31..=36).contains(&options.server_minor) {
            bail!(
                "server_minor = {}: the stand-in models 1.31 to 1.36",
                options.server_minor
            );
        }
        if options.client_ca_auth && !options.tls {
            bail!("client_ca_auth needs tls = true");
        }
        let pki = if options.tls {
            Some(http::Pki::new(options.client_ca_auth)?)
        } else {
            None
        };
        let listener =
            TcpListener::bind("127.0.0.1:0").context("binding the API stand-in on 127.0.0.1")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            token: Mutex::new(options.token.clone()),
            options,
            store: Mutex::new(Store::default()),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            resize_admission_unready: Mutex::new(0),
            client_certs: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let tls = pki.as_ref().map(|p| p.server_config.clone());
        let thread_shared = shared.clone();
        let accept_thread = std::thread::Builder::new()
            .name(format!("apiserver-{port}"))
            .spawn(move || http::accept_loop(listener, thread_shared, tls))?;
        Ok(ApiServer {
            shared,
            port,
            pki,
            accept_thread: Some(accept_thread),
        })
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.pki.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The options it was started with.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// PEM of the CA that signed the server certificate (and client certificates), with TLS.
    pub fn ca_pem(&self) -> Option<String> {
        self.pki.as_ref().map(|p| p.ca_pem.clone())
    }

    /// A client certificate and PKCS#8 private key (both PEM) for `user` (the certificate CN),
    /// signed by the CA. Accepted as authentication when [`Options::client_ca_auth`] is set.
    /// Panics without TLS.
    pub fn client_cert_pem(&self, user: &str) -> (String, String) {
        let pki = self
            .pki
            .as_ref()
            .expect("client_cert_pem needs Options { tls: true, .. }");
        let (cert, key, der) = pki.client_cert(user).expect("issuing a client certificate");
        lock(&self.shared.client_certs).push((der, user.to_string()));
        (cert, key)
    }

    /// Replaces the accepted bearer token (service-account token rotation).
    pub fn set_token(&self, token: &str) {
        *lock(&self.shared.token) = Some(token.to_string());
    }

    /// Creates or replaces an object by its `kind`/`apiVersion`, as an admin would, without
    /// validation. Fills uid, creationTimestamp, generation (Pods, HPAs, VPAs), a new
    /// resourceVersion; defaults Pods like the server (requests from limits, resizePolicy,
    /// `status.qosClass`); creates a missing Namespace of a namespaced object. Returns the
    /// stored object.
    ///
    /// Like the real server (`isPodResizeRequestSupported`), a resize of a Pod whose first
    /// running container status has no `resources` is refused (node without resize support):
    /// give running `containerStatuses` their `resources`, or call [`ApiServer::kubelet_actuate`].
    pub fn put(&self, mut object: Value) -> Value {
        let kind = object["kind"]
            .as_str()
            .expect("put: object without kind")
            .to_string();
        let resource = resource_of(&kind, object["apiVersion"].as_str());
        let name = object["metadata"]["name"]
            .as_str()
            .expect("put: object without metadata.name")
            .to_string();
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_string);
        if resource.namespaced && namespace.is_none() {
            panic!("put: {kind} {name:?} needs metadata.namespace");
        }
        if resource.kind == "Pod" {
            validate::default_pod(&mut object);
            if object["status"]["qosClass"].is_null() {
                object["status"]["qosClass"] = json!(validate::compute_qos(&object));
            }
        }
        let mut store = self.shared.lock_store();
        if let Some(ns) = &namespace {
            let namespaces = resource_of("Namespace", Some("v1"));
            if !store
                .objects
                .contains_key(&store::key(namespaces, None, ns))
            {
                store.create(
                    namespaces,
                    json!({"metadata": {"name": ns}, "status": {"phase": "Active"}}),
                );
            }
        }
        store
            .objects
            .remove(&store::key(resource, namespace.as_deref(), &name));
        store.create(resource, object)
    }

    /// The stored object (`kind` as in `"Node"`, `"Pod"`, `"HorizontalPodAutoscaler"`).
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let resource = resource_of(kind, None);
        self.shared
            .lock_store()
            .objects
            .get(&store::key(resource, namespace, name))
            .cloned()
    }

    /// All stored objects of a kind, in LIST order.
    pub fn list(&self, kind: &str) -> Vec<Value> {
        let index = resource_of(kind, None).index();
        self.shared
            .lock_store()
            .objects
            .iter()
            .filter(|((r, _, _), _)| *r == index)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Deletes an object; returns it if it existed.
    pub fn delete(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let resource = resource_of(kind, None);
        let mut store = self.shared.lock_store();
        let removed = store.objects.remove(&store::key(resource, namespace, name));
        if removed.is_some() {
            store.resource_version += 1;
        }
        removed
    }

    /// Changes an object as another writer would (kubelet, a user), bumping its resourceVersion
    /// (and generation on a spec change) if `change` changed anything. Panics if it is missing.
    pub fn modify(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Value {
        let resource = resource_of(kind, None);
        let mut store = self.shared.lock_store();
        let key = store::key(resource, namespace, name);
        let mut object = store
            .objects
            .get(&key)
            .cloned()
            .unwrap_or_else(|| panic!("modify: no {kind} {namespace:?}/{name}"));
        change(&mut object);
        store.replace(resource, &key, object)
    }

    /// What the kubelet does to status: same as [`ApiServer::modify`].
    pub fn update_status(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Value {
        self.modify(kind, namespace, name, change)
    }

    /// The kubelet finishing a resize: copies each container's spec resources into
    /// `status.containerStatuses[].resources` and `allocatedResources` (requests), sets
    /// `status.observedGeneration` to `metadata.generation` (from 1.34; dropped before, as the real server does),
    /// removes the resize conditions; from 1.36 reports the pod-level allocation of pods with pod-level resources.
    pub fn kubelet_actuate(&self, namespace: &str, name: &str) -> Value {
        let minor = self.shared.options.server_minor;
        self.modify("Pod", Some(namespace), name, |pod| {
            let before = pod.clone();
            let generation = pod["metadata"]["generation"].clone();
            for (spec_list, status_list) in [("containers", "containerStatuses"), ("initContainers", "initContainerStatuses")] {
                let containers = pod["spec"][spec_list].as_array().cloned().unwrap_or_default();
                if containers.is_empty() {
                    continue;
                }
                let mut statuses = pod["status"][status_list].as_array().cloned().unwrap_or_default();
                for container in &containers {
                    let name = &container["name"];
                    let resources = container.get("resources").cloned().unwrap_or(json!({}));
                    let position = statuses.iter().position(|s| &s["name"] == name);
                    let status = match position {
                        Some(i) => &mut statuses[i],
                        None => {
                            statuses.push(json!({"name": name, "ready": true, "restartCount": 0, "state": {"running": {"startedAt": store::rfc3339(SystemTime::now())}}}));
                            statuses.last_mut().expect("just pushed")
                        }
                    };
                    status["resources"] = resources.clone();
                    status["allocatedResources"] = resources.get("requests").cloned().unwrap_or(json!({}));
                }
                pod["status"][status_list] = Value::Array(statuses);
            }
            pod["status"]["observedGeneration"] = generation;
            if let Some(conditions) = pod["status"]["conditions"].as_array_mut() {
                conditions.retain(|c| c["type"] != "PodResizePending" && c["type"] != "PodResizeInProgress");
            }
            // A 1.36+ kubelet reports the pod-level allocation too (kubernetes pkg/kubelet/kubelet_pods.go,
            // generateAPIPodStatus); here only for pods with pod-level resources, which are what it is read for.
            if minor >= validate::FIRST_MINOR_RESIZING_POD_LEVEL_AND_INIT
                && let Some(resources) = pod["spec"].get("resources").filter(|r| r.is_object()).cloned()
            {
                pod["status"]["allocatedResources"] = resources.get("requests").cloned().unwrap_or(json!({}));
                pod["status"]["resources"] = resources;
            }
            if minor < validate::FIRST_MINOR_TRACKING_OBSERVED_GENERATION {
                validate::drop_observed_generation(pod, &before);
            }
        })
    }

    /// The kubelet reporting a resize state: sets (or replaces) the pod condition `condition_type`
    /// (`PodResizePending` with reason `Deferred`/`Infeasible`, `PodResizeInProgress` with reason
    /// `Error` or empty) with the pod's current generation as its `observedGeneration` (from 1.34; dropped before,
    /// as the real server does).
    pub fn kubelet_set_resize_condition(
        &self,
        namespace: &str,
        name: &str,
        condition_type: &str,
        reason: &str,
        message: &str,
    ) -> Value {
        let minor = self.shared.options.server_minor;
        self.modify("Pod", Some(namespace), name, |pod| {
            let before = pod.clone();
            let generation = pod["metadata"]["generation"].clone();
            let mut condition = json!({
                "type": condition_type,
                "status": "True",
                "observedGeneration": generation,
                "lastProbeTime": null,
                "lastTransitionTime": store::rfc3339(SystemTime::now()),
            });
            if !reason.is_empty() {
                condition["reason"] = json!(reason);
            }
            if !message.is_empty() {
                condition["message"] = json!(message);
            }
            let mut conditions = pod["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            conditions.retain(|c| c["type"] != condition_type);
            conditions.push(condition);
            pod["status"]["conditions"] = Value::Array(conditions);
            if minor < validate::FIRST_MINOR_TRACKING_OBSERVED_GENERATION {
                validate::drop_observed_generation(pod, &before);
            }
        })
    }

    /// Every stored Event, both `events.k8s.io/v1` and core `v1`.
    pub fn events(&self) -> Vec<Value> {
        let mut events = self.list("Event");
        let index = resource_of("Event", Some("events.k8s.io/v1")).index();
        events.extend(
            self.shared
                .lock_store()
                .objects
                .iter()
                .filter(|((r, _, _), _)| *r == index)
                .map(|(_, v)| v.clone()),
        );
        events
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock_store().resource_version
    }

    /// Every request received since start or the last [`ApiServer::reset_requests`].
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).clone()
    }

    /// How many requests had this RBAC verb (`get`, `list`, `patch`, `create`, `update`,
    /// `delete`) on this resource (`nodes`, `pods`, `pods/resize`, `events`, ...), any answer.
    pub fn count(&self, verb: &str, resource: &str) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.verb == verb && r.resource == resource)
            .count()
    }

    /// Writes (create, update, patch, delete) of any resource, any answer.
    pub fn count_writes(&self) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete"))
            .count()
    }

    pub fn reset_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// The next `times` resizes that reach the 1.36+ `PodResizeValidator` are answered 403 "not yet ready to
    /// handle request", as while its node informer syncs after an API server start.
    pub fn resize_admission_unready(&self, times: usize) {
        *lock(&self.shared.resize_admission_unready) = times;
    }

    /// Adds a fault; faults are tried in the order added.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Makes every continue token issued so far expire (410 `Expired` on use).
    pub fn expire_continue_tokens(&self) {
        self.shared.lock_store().continue_epoch += 1;
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}
