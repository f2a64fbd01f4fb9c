//! The real control plane: etcd and kube-apiserver built from their Go modules by `make peers`
//! (`scripts/build-peers.sh`, pins under `tests/peers/`), started on 127.0.0.1 for a test.
//!
//! [`RealCluster::start`] runs etcd and kube-apiserver with a fresh CA, serving and client certificates, a
//! service-account signing key, `--authorization-mode=Node,RBAC`, the default admission plugins plus
//! `ValidatingAdmissionPolicy`, and feature gates at their defaults. It applies the shipped manifests
//! (`config/hardening`: namespace, ServiceAccount, ClusterRole and binding, the admission policies) and writes a
//! kubeconfig for our ServiceAccount with a token from the TokenRequest API: the hook talks to it exactly as in a
//! cluster. Dropping the cluster kills both processes and removes their files; both also die with the thread that
//! started them (`setpriv --pdeathsig`), as the Prometheus launcher's do.
//!
//! No kubelet runs here: [`kubelet`] plays its part (Node registration and status, pod status, resize actuation).

pub mod kubelet;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::prometheus::{CertificateAuthority, dies_with_parent};

/// Our ServiceAccount, as the shipped manifests name it.
pub const HOOK_NAMESPACE: &str = "kube-thermostat";
pub const HOOK_SERVICE_ACCOUNT: &str = "kube-thermostat";
/// The user the API server authenticates our ServiceAccount's token as.
pub const HOOK_USER: &str = "system:serviceaccount:kube-thermostat:kube-thermostat";

/// Start-up budget of each process: generous, since the machine's two cores are shared with compilers and tests.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const LOG_LINES_KEPT: usize = 300;

/// A binary `make peers` builds: name, version and where it is (or would be).
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
}

impl Peer {
    /// Fails unless the binary is there, saying to run `make peers`: the suite fails, it never skips.
    pub fn check_built(&self) -> anyhow::Result<()> {
        if !self.path.is_file() {
            bail!(
                "{} {} is not built ({} is missing): run `make peers` (builds the real peers with Go, minutes \
                 the first time)",
                self.name,
                self.version,
                self.path.display()
            );
        }
        Ok(())
    }

    /// `kube-apiserver v1.33.13` → `1.33`.
    pub fn minor(&self) -> String {
        let version = self.version.trim_start_matches('v');
        let mut parts = version.split('.');
        format!(
            "{}.{}",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        )
    }
}

/// The repository root (the rig lives in `tests/rig`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every peer the pins under `tests/peers/` describe, as `scripts/build-peers.sh --list` names them (built or
/// not: [`Peer::check_built`] says).
pub fn peers() -> anyhow::Result<Vec<Peer>> {
    let script = repo_root().join("scripts/build-peers.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg("--list")
        .output()
        .with_context(|| format!("running {} --list", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} --list failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut peers = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut fields = line.splitn(3, ' ');
        let (Some(name), Some(version), Some(path)) = (fields.next(), fields.next(), fields.next())
        else {
            bail!("unexpected line from build-peers.sh --list: {line:?}");
        };
        let peer = Peer {
            name: name.to_owned(),
            version: version.to_owned(),
            path: PathBuf::from(path),
        };
        peers.push(peer);
    }
    Ok(peers)
}

/// The one peer named `name` (e.g. `etcd`).
pub fn peer(peers: &[Peer], name: &str) -> anyhow::Result<Peer> {
    peers
        .iter()
        .find(|peer| peer.name == name)
        .cloned()
        .with_context(|| format!("no {name} among the peers of tests/peers/"))
}

/// A port the kernel says is free now. Another process may take it before ours binds it: starting retries.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A started program whose output is kept (the last lines) for failure messages. Dropping it kills it.
#[derive(Debug)]
struct Daemon {
    name: String,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Daemon {
    fn spawn(name: &str, program: &Path, args: &[String]) -> anyhow::Result<Daemon> {
        let mut command = dies_with_parent(&program.display().to_string());
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stdout) = child.stdout.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || keep_lines(stdout, &log));
        }
        if let Some(stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || keep_lines(stderr, &log));
        }
        Ok(Daemon {
            name: name.to_owned(),
            child,
            log,
        })
    }

    fn log_tail(&self) -> String {
        self.log
            .lock()
            .map(|lines| Vec::from(lines.clone()).join("\n"))
            .unwrap_or_default()
    }

    /// Fails when the process has exited.
    fn check_running(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "{} exited with {status}; its last output:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keep_lines(stream: impl Read, log: &Mutex<VecDeque<String>>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        if let Ok(mut log) = log.lock() {
            if log.len() == LOG_LINES_KEPT {
                log.pop_front();
            }
            log.push_back(line);
        }
    }
}

/// An answer from the API server: status code and body (JSON, or a string when it is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The body, failing unless the status is 2xx.
    pub fn ok(self) -> anyhow::Result<Value> {
        if (200..300).contains(&self.status) {
            Ok(self.body)
        } else {
            bail!("API server answered {}: {}", self.status, self.body)
        }
    }
}

/// A running etcd + kube-apiserver. Field order is drop order: the API server stops before etcd, then the files go.
pub struct RealCluster {
    pub apiserver_version: String,
    pub etcd_version: String,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    apiserver: Daemon,
    etcd: Daemon,
    admin: ureq::Agent,
    /// The CA the API server's certificate is signed by (what a kubeconfig's `certificate-authority` names).
    pub ca_file: PathBuf,
    /// A kubeconfig for the cluster admin (client certificate, group `system:masters`), for kubectl.
    pub admin_kubeconfig: PathBuf,
    /// A kubeconfig for our ServiceAccount: the API server's URL, the CA file and a TokenRequest token.
    pub hook_kubeconfig: PathBuf,
    /// That token (for requests made as the hook outside the binary).
    pub hook_token: String,
    ca: CertificateAuthority,
    dir: TempDir,
}

impl std::fmt::Debug for RealCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealCluster")
            .field("apiserver_version", &self.apiserver_version)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RealCluster {
    /// Starts etcd and kube-apiserver, applies the shipped `config/hardening` manifests and issues our
    /// ServiceAccount's token. Retries once on a start-up failure (a free port taken in the meantime).
    pub fn start(apiserver: &Peer, etcd: &Peer) -> anyhow::Result<RealCluster> {
        Self::start_with_feature_gates(apiserver, etcd, &[])
    }

    /// [`RealCluster::start`] with kube-apiserver's `--feature-gates` set to `gates` (`Name=true`), for a
    /// scenario about a non-default gate (an alpha feature turned on).
    pub fn start_with_feature_gates(
        apiserver: &Peer,
        etcd: &Peer,
        gates: &[&str],
    ) -> anyhow::Result<RealCluster> {
        apiserver.check_built()?;
        etcd.check_built()?;
        match Self::launch(apiserver, etcd, gates) {
            Ok(cluster) => Ok(cluster),
            Err(first) => Self::launch(apiserver, etcd, gates).with_context(|| {
                format!(
                    "second start of kube-apiserver {} (the first: {first:#})",
                    apiserver.version
                )
            }),
        }
    }

    fn launch(apiserver: &Peer, etcd: &Peer, gates: &[&str]) -> anyhow::Result<RealCluster> {
        let dir = tempfile::Builder::new()
            .prefix("thermostat-realcluster-")
            .tempdir()
            .context("creating the cluster's temp dir")?;
        let path = |name: &str| dir.path().join(name);
        let write = |name: &str, content: &str| -> anyhow::Result<PathBuf> {
            let file = path(name);
            std::fs::write(&file, content)
                .with_context(|| format!("writing {}", file.display()))?;
            Ok(file)
        };

        let ca = CertificateAuthority::new("thermostat real-cluster CA")?;
        let ca_file = write("ca.crt", &ca.cert_pem())?;
        let serving = ca.issue_server(&[
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
        ])?;
        let serving_cert = write("apiserver.crt", &serving.cert_pem)?;
        let serving_key = write("apiserver.key", &serving.key_pem)?;
        let admin_cert = ca.issue_client_in_group("thermostat-test-admin", "system:masters")?;
        let admin_cert_file = write("admin.crt", &admin_cert.cert_pem)?;
        let admin_key_file = write("admin.key", &admin_cert.key_pem)?;
        // The service-account token signer (ECDSA P-256: ES256 tokens) and its public half for verification.
        let signing_key = rcgen::KeyPair::generate().context("generating the SA signing key")?;
        let sa_key = write("sa.key", &signing_key.serialize_pem())?;
        let sa_pub = write("sa.pub", &signing_key.public_key_pem())?;

        let etcd_client_port = free_port()?;
        let etcd_peer_port = free_port()?;
        let etcd_client = format!("http://127.0.0.1:{etcd_client_port}");
        let etcd_peer = format!("http://127.0.0.1:{etcd_peer_port}");
        let mut etcd_daemon = Daemon::spawn(
            "etcd",
            &etcd.path,
            &[
                "--name=thermostat".to_owned(),
                format!("--data-dir={}", path("etcd").display()),
                format!("--listen-client-urls={etcd_client}"),
                format!("--advertise-client-urls={etcd_client}"),
                format!("--listen-peer-urls={etcd_peer}"),
                format!("--initial-advertise-peer-urls={etcd_peer}"),
                format!("--initial-cluster=thermostat={etcd_peer}"),
                // Test data: durability is not wanted, speed is (and the disk is shared).
                "--unsafe-no-fsync".to_owned(),
                "--log-level=warn".to_owned(),
            ],
        )?;
        let plain = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        wait_until(&mut etcd_daemon, "etcd /health", || {
            let mut response = plain.get(format!("{etcd_client}/health")).call().ok()?;
            let body = response.body_mut().read_to_string().ok()?;
            body.contains("\"health\":\"true\"").then_some(())
        })?;

        let port = free_port()?;
        let url = format!("https://127.0.0.1:{port}");
        let feature_gates =
            (!gates.is_empty()).then(|| format!("--feature-gates={}", gates.join(",")));
        let mut apiserver_daemon = Daemon::spawn(
            "kube-apiserver",
            &apiserver.path,
            &[
                format!("--etcd-servers={etcd_client}"),
                "--bind-address=127.0.0.1".to_owned(),
                "--advertise-address=127.0.0.1".to_owned(),
                format!("--secure-port={port}"),
                format!("--cert-dir={}", path("apiserver-certs").display()),
                format!("--tls-cert-file={}", serving_cert.display()),
                format!("--tls-private-key-file={}", serving_key.display()),
                format!("--client-ca-file={}", ca_file.display()),
                "--service-account-issuer=https://kubernetes.default.svc".to_owned(),
                format!("--service-account-key-file={}", sa_pub.display()),
                format!("--service-account-signing-key-file={}", sa_key.display()),
                "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
                "--authorization-mode=Node,RBAC".to_owned(),
                // Added to the default set (which already has it on recent minors): the hardening policies use it.
                "--enable-admission-plugins=ValidatingAdmissionPolicy".to_owned(),
                // No Endpoints for "kubernetes" pointing at this test process.
                "--endpoint-reconciler-type=none".to_owned(),
                "--profiling=false".to_owned(),
            ]
            .into_iter()
            .chain(feature_gates)
            .collect::<Vec<_>>(),
        )?;
        let admin = admin_agent(&ca, &admin_cert.cert_pem, &admin_cert.key_pem)?;
        wait_until(&mut apiserver_daemon, "kube-apiserver /readyz", || {
            let response = admin.get(format!("{url}/readyz")).call().ok()?;
            (response.status() == 200).then_some(())
        })?;

        let admin_kubeconfig = path("admin.kubeconfig");
        write_kubeconfig(
            &admin_kubeconfig,
            &url,
            &ca_file,
            json!({
                "client-certificate": admin_cert_file.display().to_string(),
                "client-key": admin_key_file.display().to_string(),
            }),
        )?;
        let mut cluster = RealCluster {
            apiserver_version: apiserver.version.clone(),
            etcd_version: etcd.version.clone(),
            url,
            apiserver: apiserver_daemon,
            etcd: etcd_daemon,
            admin,
            ca_file,
            admin_kubeconfig,
            hook_kubeconfig: path("hook.kubeconfig"),
            hook_token: String::new(),
            ca,
            dir,
        };
        cluster.apply_shipped_manifests()?;
        cluster.hook_token = cluster.request_token(HOOK_NAMESPACE, HOOK_SERVICE_ACCOUNT)?;
        write_kubeconfig(
            &cluster.hook_kubeconfig,
            &cluster.url,
            &cluster.ca_file,
            json!({"token": cluster.hook_token}),
        )?;
        Ok(cluster)
    }

    /// Writes a kubeconfig for this cluster (its URL and CA file) with `user` (e.g. `{"token": ...}` or
    /// `{"client-certificate": path, "client-key": path}`).
    pub fn write_kubeconfig(&self, path: &Path, user: Value) -> anyhow::Result<()> {
        write_kubeconfig(path, &self.url, &self.ca_file, user)
    }

    /// The served Kubernetes minor (`v1.36.3` → 36).
    pub fn minor(&self) -> u32 {
        self.apiserver_version
            .trim_start_matches('v')
            .split('.')
            .nth(1)
            .and_then(|minor| minor.parse().ok())
            .unwrap_or_default()
    }

    /// The cluster's files (certificates, kubeconfigs, etcd data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA that signs the serving certificate and the client certificates the server accepts.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The API server's last log lines, and etcd's (for failure messages).
    pub fn log_tail(&self) -> String {
        format!(
            "--- kube-apiserver:\n{}\n--- etcd:\n{}",
            self.apiserver.log_tail(),
            self.etcd.log_tail()
        )
    }

    /// The process ids of kube-apiserver and etcd (for reading their `/proc` accounting).
    pub fn pids(&self) -> (u32, u32) {
        (self.apiserver.child.id(), self.etcd.child.id())
    }

    /// GET as the admin, the body as raw bytes with no size limit (an unpaginated LIST of a large cluster is
    /// hundreds of megabytes; [`RealCluster::request`] keeps ureq's default limit).
    pub fn get_raw(&self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.url);
        let mut response = self
            .admin
            .get(&url)
            .header("Accept", "application/json")
            .config()
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .call()
            .with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .with_context(|| format!("reading GET {url}"))?;
        Ok((status, body))
    }

    /// `kubectl kustomize config/hardening | kubectl apply -f -` as the admin: the base (namespace, ServiceAccount,
    /// ClusterRole, binding, Deployment, Service, ConfigMap) and the ValidatingAdmissionPolicies, as shipped.
    fn apply_shipped_manifests(&mut self) -> anyhow::Result<()> {
        let kubectl = kubectl()?;
        let rendered = Command::new(&kubectl)
            .arg("kustomize")
            .arg(repo_root().join("config/hardening"))
            .output()
            .with_context(|| format!("running {} kustomize", kubectl.display()))?;
        if !rendered.status.success() {
            bail!(
                "kubectl kustomize config/hardening: {}",
                String::from_utf8_lossy(&rendered.stderr)
            );
        }
        let manifests = self.dir.path().join("shipped.yaml");
        std::fs::write(&manifests, &rendered.stdout)?;
        self.kubectl(&["apply", "-f", &manifests.display().to_string()])
            .context("applying the shipped config/hardening manifests")?;
        Ok(())
    }

    /// Runs kubectl as the cluster admin; its stdout, or an error with its stderr.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        let kubectl = kubectl()?;
        let output = Command::new(&kubectl)
            .arg(format!("--kubeconfig={}", self.admin_kubeconfig.display()))
            .args(args)
            .output()
            .with_context(|| format!("running {}", kubectl.display()))?;
        if !output.status.success() {
            bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A token for `namespace/name` from the TokenRequest API (`serviceaccounts/token`), valid for an hour.
    pub fn request_token(&self, namespace: &str, name: &str) -> anyhow::Result<String> {
        let answer = self.request(
            "POST",
            &format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"),
            Some(&json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            })),
        )?;
        let body = answer.ok().context("TokenRequest")?;
        body["status"]["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("TokenRequest answer without status.token: {body}"))
    }

    /// A request as the cluster admin. `content_type` defaults to JSON.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        self.request_as(&self.admin, None, method, path, body, "application/json")
    }

    /// A PATCH as the cluster admin with the given patch content type.
    pub fn patch(&self, path: &str, content_type: &str, body: &Value) -> anyhow::Result<Answer> {
        self.request_as(&self.admin, None, "PATCH", path, Some(body), content_type)
    }

    /// A request as our ServiceAccount (bearer token), outside the binary.
    pub fn request_as_hook(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let agent = token_agent(&self.ca)?;
        self.request_as(
            &agent,
            Some(&self.hook_token),
            method,
            path,
            body,
            "application/json",
        )
    }

    /// A PATCH as our ServiceAccount with the given patch content type.
    pub fn patch_as_hook(
        &self,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> anyhow::Result<Answer> {
        let agent = token_agent(&self.ca)?;
        self.request_as(
            &agent,
            Some(&self.hook_token),
            "PATCH",
            path,
            Some(body),
            content_type,
        )
    }

    fn request_as(
        &self,
        agent: &ureq::Agent,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.url);
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Accept", "application/json");
        let builder = match token {
            Some(token) => builder.header("Authorization", format!("Bearer {token}")),
            None => builder,
        };
        let result = match body {
            Some(body) => agent.run(
                builder
                    .header("Content-Type", content_type)
                    .body(serde_json::to_vec(body)?)?,
            ),
            None => agent.run(builder.body(())?),
        };
        let mut response = result.with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }

    /// GET as the admin; panics on anything but 200 (a test failure).
    pub fn get(&self, path: &str) -> Value {
        match self.request("GET", path, None).and_then(Answer::ok) {
            Ok(body) => body,
            Err(error) => panic!("GET {path}: {error:#}"),
        }
    }

    /// Reads, changes and writes back an object (PUT with its resourceVersion), again on a 409 conflict.
    pub fn update(&self, path: &str, change: impl Fn(&mut Value)) -> anyhow::Result<Value> {
        for _ in 0..10 {
            let mut object = self.request("GET", path, None)?.ok()?;
            change(&mut object);
            let answer = self.request("PUT", path, Some(&object))?;
            if answer.status == 409 {
                continue;
            }
            return answer.ok().with_context(|| format!("PUT {path}"));
        }
        bail!("PUT {path}: still conflicting after 10 tries")
    }

    /// Every object of a LIST path (all pages).
    pub fn list(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut token = String::new();
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page_path = if token.is_empty() {
                format!("{path}{separator}limit=500")
            } else {
                format!(
                    "{path}{separator}limit=500&continue={}",
                    percent_encode(&token)
                )
            };
            let page = self.request("GET", &page_path, None)?;
            if page.status == 404 {
                return Ok(items);
            }
            let page = page.ok()?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["metadata"]["continue"].as_str() {
                Some(next) if !next.is_empty() => token = next.to_owned(),
                _ => return Ok(items),
            }
        }
    }
}

/// Polls `ready` until it answers, the process exits (with its log) or [`START_TIMEOUT`] passes.
fn wait_until(
    daemon: &mut Daemon,
    what: &str,
    mut ready: impl FnMut() -> Option<()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        daemon.check_running()?;
        if ready().is_some() {
            return Ok(());
        }
        if started.elapsed() > START_TIMEOUT {
            bail!(
                "{what} not ready after {START_TIMEOUT:?}; last output:\n{}",
                daemon.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The venv's kubectl (`make deps`), else one on PATH.
pub fn kubectl() -> anyhow::Result<PathBuf> {
    let venv = std::env::var_os("TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/kube-thermostat/venv")
        });
    let in_venv = venv.join("bin/kubectl");
    if in_venv.is_file() {
        return Ok(in_venv);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("kubectl"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|candidate| candidate.is_file());
    on_path.with_context(|| {
        format!(
            "no kubectl at {} nor on PATH: run `make deps`",
            in_venv.display()
        )
    })
}

fn tls_config(ca: &CertificateAuthority) -> anyhow::Result<ureq::tls::TlsConfigBuilder> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let root = Certificate::from_pem(ca.cert_pem().as_bytes())?.to_owned();
    Ok(TlsConfig::builder().root_certs(RootCerts::new_with_certs(&[root])))
}

fn agent_with(tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .tls_config(tls)
        .build()
        .new_agent()
}

fn admin_agent(
    ca: &CertificateAuthority,
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<ureq::Agent> {
    use ureq::tls::{Certificate, ClientCert, PrivateKey};
    let cert = Certificate::from_pem(cert_pem.as_bytes())?.to_owned();
    let key = PrivateKey::from_pem(key_pem.as_bytes())?.to_owned();
    let tls = tls_config(ca)?
        .client_cert(Some(ClientCert::new_with_certs(&[cert], key)))
        .build();
    Ok(agent_with(tls))
}

fn token_agent(ca: &CertificateAuthority) -> anyhow::Result<ureq::Agent> {
    Ok(agent_with(tls_config(ca)?.build()))
}

fn write_kubeconfig(path: &Path, url: &str, ca_file: &Path, user: Value) -> anyhow::Result<()> {
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "real", "cluster": {
            "server": url,
            "certificate-authority": ca_file.display().to_string(),
        }}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "real", "context": {"cluster": "real", "user": "user"}}],
        "current-context": "real",
    });
    // JSON is YAML: kubectl and the hook read it as is.
    std::fs::write(path, serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Percent-encodes a query value (continue tokens are base64 with `+`, `/`, `=`).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
