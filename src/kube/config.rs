//! Where the API is and how to authenticate: `--kube-api-url`, kubeconfig (`KUBECONFIG`, `~/.kube/config`), or
//! the in-cluster service account.
//!
//! Resolution is pure: [`ConfigSources`] carries the environment values and a file reader, read at one edge
//! ([`ConfigSources::from_process`]), so every kubeconfig variant is unit-tested from strings.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

/// Where in-cluster pods find their service account (token, `ca.crt`, namespace).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A secret string (token, password). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A secret byte string (private key PEM). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(value: Vec<u8>) -> SecretBytes {
        SecretBytes(value)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted, {} bytes>)", self.0.len())
    }
}

/// Everything needed to talk to one API server.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterEndpoint {
    /// Base URL without a trailing `/`; may carry a path prefix (Rancher-style proxies).
    pub server: String,
    pub tls: TlsSettings,
    pub auth: Auth,
    /// kubeconfig `proxy-url`. Proxy environment variables are not used: in-cluster traffic must not leave
    /// through a proxy meant for the internet.
    pub proxy_url: Option<String>,
    /// Where this came from, for logs: `kubeconfig /root/.kube/config, context "prod"`.
    pub origin: String,
    /// Things worth a log line, e.g. why the kubeconfig was skipped for the in-cluster account.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsSettings {
    /// PEM roots to trust; `None` uses the bundled web roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain (PEM) and its key, for mutual TLS.
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<SecretBytes>,
    /// Only ever true when the kubeconfig says `insecure-skip-tls-verify: true`; never a fallback.
    pub insecure_skip_tls_verify: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    Token(Secret),
    /// Re-read before every request, so a rotated service-account token is picked up.
    TokenFile(PathBuf),
    Basic {
        username: String,
        password: Secret,
    },
    Exec(ExecConfig),
}

/// A kubeconfig `exec` credential plugin.
#[derive(Clone, PartialEq)]
pub struct ExecConfig {
    /// Resolved against the kubeconfig's folder when it contains a `/`; otherwise looked up on `PATH`.
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `client.authentication.k8s.io/v1` or `v1beta1`.
    pub api_version: String,
    pub install_hint: Option<String>,
    /// The `cluster` given to the plugin in `KUBERNETES_EXEC_INFO` when `provideClusterInfo` is set.
    pub cluster_info: Option<serde_json::Value>,
    /// The kubeconfig user, for messages.
    pub user: String,
}

impl fmt::Debug for ExecConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plugin arguments and environment values may carry secrets (API keys): show names only.
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ExecConfig")
            .field("command", &self.command)
            .field("args", &format_args!("<{} redacted>", self.args.len()))
            .field("env", &env_names)
            .field("api_version", &self.api_version)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// What was asked for on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigOptions {
    /// `--kubeconfig`: this file only, no in-cluster fallback.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: this context instead of `current-context`, no in-cluster fallback.
    pub context: Option<String>,
    /// `--kube-api-url`, e.g. `kubectl proxy` at `http://127.0.0.1:8001`: no auth, nothing else read.
    pub kube_api_url: Option<String>,
}

/// Where file contents come from: the disk, or a map in tests.
#[derive(Clone)]
pub enum Files {
    Disk,
    Memory(BTreeMap<PathBuf, Vec<u8>>),
}

impl Files {
    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self {
            Files::Disk => std::fs::read(path),
            Files::Memory(files) => files.get(path).cloned().ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "No such file or directory")
            }),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        match self {
            Files::Disk => path.exists(),
            Files::Memory(files) => files.contains_key(path),
        }
    }
}

impl fmt::Debug for Files {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Files::Disk => f.write_str("Disk"),
            Files::Memory(files) => f
                .debug_tuple("Memory")
                .field(&files.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// The environment values config resolution looks at, and a file reader.
#[derive(Debug, Clone)]
pub struct ConfigSources {
    /// `KUBECONFIG`
    pub kubeconfig_env: Option<String>,
    /// The home folder, for `~/.kube/config`.
    pub home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`
    pub service_host: Option<String>,
    pub service_port: Option<String>,
    /// [`SERVICE_ACCOUNT_DIR`] outside tests.
    pub service_account_dir: PathBuf,
    pub files: Files,
}

impl ConfigSources {
    /// The one place that reads the process environment for the Kubernetes connection.
    pub fn from_process() -> ConfigSources {
        let var = |name: &str| std::env::var(name).ok();
        ConfigSources {
            kubeconfig_env: var("KUBECONFIG"),
            home: var("HOME")
                .filter(|home| !home.is_empty())
                .map(PathBuf::from),
            service_host: var("KUBERNETES_SERVICE_HOST"),
            service_port: var("KUBERNETES_SERVICE_PORT"),
            service_account_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
            files: Files::Disk,
        }
    }
}

/// Why no usable connection settings were found. The message names the file, context, user or field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn error(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// Picks the API endpoint and credentials, as kubectl and client libraries do:
/// 1. `--kube-api-url`: that URL, no auth;
/// 2. `--kubeconfig` or `--context`: the kubeconfig, no fallback;
/// 3. `KUBECONFIG` or `~/.kube/config` when present, else the in-cluster service account; when both fail,
///    both failures are reported.
pub fn resolve(
    options: &ConfigOptions,
    sources: &ConfigSources,
) -> Result<ClusterEndpoint, ConfigError> {
    if let Some(url) = &options.kube_api_url {
        return api_url_endpoint(url);
    }
    if let Some(path) = &options.kubeconfig {
        return from_kubeconfig(
            std::slice::from_ref(path),
            true,
            options.context.as_deref(),
            sources,
        );
    }
    let paths = kubeconfig_paths(sources);
    if options.context.is_some() {
        if paths.is_empty() {
            return Err(error(
                "--context was given but there is no kubeconfig: KUBECONFIG is not set and the home folder is unknown",
            ));
        }
        return from_kubeconfig(&paths, false, options.context.as_deref(), sources);
    }
    let any_kubeconfig = paths.iter().any(|path| sources.files.exists(path));
    if !any_kubeconfig {
        return in_cluster(sources).map_err(|in_cluster_error| {
            let looked_at = if paths.is_empty() {
                "KUBECONFIG is not set and the home folder is unknown".to_owned()
            } else {
                format!("no kubeconfig at {}", display_paths(&paths))
            };
            error(format!(
                "no Kubernetes API configuration found: {looked_at}, and in-cluster configuration failed: {in_cluster_error}"
            ))
        });
    }
    match from_kubeconfig(&paths, false, None, sources) {
        Ok(endpoint) => Ok(endpoint),
        Err(kubeconfig_error) => match in_cluster(sources) {
            Ok(mut endpoint) => {
                endpoint.notes.push(format!(
                    "kubeconfig not used ({kubeconfig_error}); using the in-cluster service account"
                ));
                Ok(endpoint)
            }
            Err(in_cluster_error) => Err(error(format!(
                "no usable Kubernetes API configuration: kubeconfig: {kubeconfig_error}; in-cluster: {in_cluster_error}"
            ))),
        },
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn api_url_endpoint(url: &str) -> Result<ClusterEndpoint, ConfigError> {
    let server =
        check_server_url(url).map_err(|why| error(format!("--kube-api-url {url:?}: {why}")))?;
    Ok(ClusterEndpoint {
        server,
        tls: TlsSettings::default(),
        auth: Auth::None,
        proxy_url: None,
        origin: format!("--kube-api-url {url}"),
        notes: Vec::new(),
    })
}

fn check_server_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host".to_owned());
    }
    if rest.contains(['?', '#']) {
        return Err("must not carry a query or fragment".to_owned());
    }
    Ok(trimmed.to_owned())
}

/// `KUBECONFIG` split as kubectl does (`:`-separated on Unix, empty entries skipped), else `~/.kube/config`.
fn kubeconfig_paths(sources: &ConfigSources) -> Vec<PathBuf> {
    if let Some(list) = sources
        .kubeconfig_env
        .as_deref()
        .filter(|list| !list.trim().is_empty())
    {
        return std::env::split_paths(list)
            .filter(|path| !path.as_os_str().is_empty())
            .collect();
    }
    sources
        .home
        .as_ref()
        .map(|home| vec![home.join(".kube").join("config")])
        .unwrap_or_default()
}

// ---- in-cluster ----

fn in_cluster(sources: &ConfigSources) -> Result<ClusterEndpoint, ConfigError> {
    let host = sources
        .service_host
        .as_deref()
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .ok_or_else(|| error("KUBERNETES_SERVICE_HOST is not set (not running in a pod?)"))?;
    let port = sources
        .service_port
        .as_deref()
        .map(str::trim)
        .filter(|port| !port.is_empty())
        .ok_or_else(|| error("KUBERNETES_SERVICE_PORT is not set (not running in a pod?)"))?;
    port.parse::<u16>().map_err(|_| {
        error(format!(
            "KUBERNETES_SERVICE_PORT = {port:?}: not a port number"
        ))
    })?;
    // An IPv6 service address needs brackets in a URL.
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let token_path = sources.service_account_dir.join("token");
    sources.files.read(&token_path).map_err(|why| {
        error(format!(
            "service account token {}: {why}",
            token_path.display()
        ))
    })?;
    let ca_path = sources.service_account_dir.join("ca.crt");
    let ca = sources
        .files
        .read(&ca_path)
        .map_err(|why| error(format!("service account CA {}: {why}", ca_path.display())))?;
    Ok(ClusterEndpoint {
        server: format!("https://{host}:{port}"),
        tls: TlsSettings {
            ca_pem: Some(ca),
            ..TlsSettings::default()
        },
        auth: Auth::TokenFile(token_path),
        proxy_url: None,
        origin: "in-cluster service account".to_owned(),
        notes: Vec::new(),
    })
}

// ---- kubeconfig ----

/// The top level of a kubeconfig. Entries stay raw YAML until used, so a broken entry nobody uses (bad base64,
/// an odd type) cannot fail the run.
#[derive(Debug, Default, Deserialize)]
struct RawKubeconfig {
    #[serde(rename = "current-context")]
    current_context: Option<String>,
    clusters: Option<Vec<NamedEntry>>,
    users: Option<Vec<NamedEntry>>,
    contexts: Option<Vec<NamedEntry>>,
}

#[derive(Debug, Deserialize)]
struct NamedEntry {
    name: Option<String>,
    cluster: Option<serde_yaml_ng::Value>,
    user: Option<serde_yaml_ng::Value>,
    context: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawCluster {
    server: Option<String>,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    insecure_skip_tls_verify: Option<bool>,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawUser {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<RawExec>,
    auth_provider: Option<RawAuthProvider>,
}

#[derive(Debug, Default, Deserialize)]
struct RawAuthProvider {
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExec {
    command: Option<String>,
    args: Option<Vec<String>>,
    env: Option<Vec<RawEnvVar>>,
    api_version: Option<String>,
    install_hint: Option<String>,
    provide_cluster_info: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct RawEnvVar {
    name: String,
    value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawContext {
    cluster: Option<String>,
    user: Option<String>,
}

/// A named entry and the file it came from (relative paths are relative to that file's folder).
struct Located {
    value: serde_yaml_ng::Value,
    file: PathBuf,
}

impl Located {
    fn dir(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// Several kubeconfig files merged as kubectl merges them: the first file to set a name (or
/// `current-context`) wins.
#[derive(Default)]
struct MergedKubeconfig {
    files: Vec<PathBuf>,
    current_context: Option<(String, PathBuf)>,
    clusters: BTreeMap<String, Located>,
    users: BTreeMap<String, Located>,
    contexts: BTreeMap<String, Located>,
}

fn parse_kubeconfig(text: &str, path: &Path) -> Result<RawKubeconfig, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Some files carry several YAML documents; kubectl reads the first one that has content.
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let parsed: Option<RawKubeconfig> = Option::deserialize(document)
            .map_err(|why| error(format!("kubeconfig {} is not valid: {why}", path.display())))?;
        if let Some(parsed) = parsed {
            return Ok(parsed);
        }
    }
    Ok(RawKubeconfig::default())
}

fn load_kubeconfigs(
    paths: &[PathBuf],
    explicit: bool,
    sources: &ConfigSources,
) -> Result<MergedKubeconfig, ConfigError> {
    let mut merged = MergedKubeconfig::default();
    for path in paths {
        let bytes = match sources.files.read(path) {
            Ok(bytes) => bytes,
            // Missing files in a KUBECONFIG list are skipped, as kubectl does.
            Err(why) if why.kind() == io::ErrorKind::NotFound && !explicit => continue,
            Err(why) => return Err(error(format!("kubeconfig {}: {why}", path.display()))),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| error(format!("kubeconfig {} is not UTF-8 text", path.display())))?;
        let raw = parse_kubeconfig(&text, path)?;
        merged.files.push(path.clone());
        if merged.current_context.is_none()
            && let Some(current) = raw.current_context.filter(|name| !name.is_empty())
        {
            merged.current_context = Some((current, path.clone()));
        }
        let sections = [
            (raw.clusters, &mut merged.clusters, Section::Cluster),
            (raw.users, &mut merged.users, Section::User),
            (raw.contexts, &mut merged.contexts, Section::Context),
        ];
        for (entries, map, section) in sections {
            for entry in entries.into_iter().flatten() {
                let Some(name) = entry.name else { continue };
                let value = match section {
                    Section::Cluster => entry.cluster,
                    Section::User => entry.user,
                    Section::Context => entry.context,
                };
                map.entry(name).or_insert(Located {
                    value: value.unwrap_or(serde_yaml_ng::Value::Null),
                    file: path.clone(),
                });
            }
        }
    }
    if merged.files.is_empty() {
        return Err(error(format!(
            "no kubeconfig file exists at {}",
            display_paths(paths)
        )));
    }
    Ok(merged)
}

#[derive(Clone, Copy)]
enum Section {
    Cluster,
    User,
    Context,
}

fn decode_entry<T: Default + for<'de> Deserialize<'de>>(
    located: &Located,
    what: &str,
) -> Result<T, ConfigError> {
    if located.value.is_null() {
        return Ok(T::default());
    }
    serde_yaml_ng::from_value(located.value.clone()).map_err(|why| {
        error(format!(
            "{what} in kubeconfig {}: {why}",
            located.file.display()
        ))
    })
}

fn from_kubeconfig(
    paths: &[PathBuf],
    explicit: bool,
    context: Option<&str>,
    sources: &ConfigSources,
) -> Result<ClusterEndpoint, ConfigError> {
    let merged = load_kubeconfigs(paths, explicit, sources)?;
    let files = display_paths(&merged.files);
    let known_contexts = || {
        if merged.contexts.is_empty() {
            "it defines no contexts".to_owned()
        } else {
            let names: Vec<&str> = merged.contexts.keys().map(String::as_str).collect();
            format!("known contexts: {}", names.join(", "))
        }
    };
    let (context_name, chosen_by) = match context {
        Some(name) => (name.to_owned(), "--context".to_owned()),
        None => match &merged.current_context {
            Some((name, file)) => (
                name.clone(),
                format!("current-context of {}", file.display()),
            ),
            None => {
                return Err(error(format!(
                    "kubeconfig {files} has no current-context; pass --context ({})",
                    known_contexts()
                )));
            }
        },
    };
    let located_context = merged.contexts.get(&context_name).ok_or_else(|| {
        error(format!(
            "context {context_name:?} ({chosen_by}) does not exist in kubeconfig {files}; {}",
            known_contexts()
        ))
    })?;
    let raw_context: RawContext =
        decode_entry(located_context, &format!("context {context_name:?}"))?;

    let cluster_name = raw_context
        .cluster
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            error(format!(
                "context {context_name:?} in kubeconfig {files} names no cluster"
            ))
        })?;
    let located_cluster = merged.clusters.get(&cluster_name).ok_or_else(|| {
        error(format!(
            "cluster {cluster_name:?} (of context {context_name:?}) does not exist in kubeconfig {files}"
        ))
    })?;
    let cluster_what = format!("cluster {cluster_name:?}");
    let raw_cluster: RawCluster = decode_entry(located_cluster, &cluster_what)?;
    let cluster_file = located_cluster.file.display().to_string();
    let server_value = raw_cluster
        .server
        .clone()
        .filter(|server| !server.trim().is_empty())
        .ok_or_else(|| {
            error(format!(
                "{cluster_what} in kubeconfig {cluster_file} has no server"
            ))
        })?;
    let server = check_server_url(&server_value).map_err(|why| {
        error(format!(
            "{cluster_what} in kubeconfig {cluster_file}: server {server_value:?} {why}"
        ))
    })?;
    if raw_cluster
        .tls_server_name
        .as_deref()
        .is_some_and(|name| !name.is_empty())
    {
        return Err(error(format!(
            "{cluster_what} in kubeconfig {cluster_file} sets tls-server-name, which kube-thermostat does not support; \
             use a server URL whose host the certificate names"
        )));
    }
    let insecure = raw_cluster.insecure_skip_tls_verify.unwrap_or(false);
    let ca_pem = data_or_file(
        raw_cluster.certificate_authority_data.as_deref(),
        raw_cluster.certificate_authority.as_deref(),
        &located_cluster.dir(),
        &format!("{cluster_what} certificate-authority"),
        &cluster_file,
        sources,
    )?;
    if insecure && ca_pem.is_some() {
        // kubectl refuses this combination too: the intent is unclear.
        return Err(error(format!(
            "{cluster_what} in kubeconfig {cluster_file} sets both insecure-skip-tls-verify and a certificate-authority"
        )));
    }

    let mut tls = TlsSettings {
        ca_pem,
        insecure_skip_tls_verify: insecure,
        ..TlsSettings::default()
    };
    let user_name = raw_context.user.unwrap_or_default();
    let auth = if user_name.is_empty() {
        Auth::None
    } else {
        let located_user = merged.users.get(&user_name).ok_or_else(|| {
            error(format!(
                "user {user_name:?} (of context {context_name:?}) does not exist in kubeconfig {files}"
            ))
        })?;
        let raw_user: RawUser = decode_entry(located_user, &format!("user {user_name:?}"))?;
        let cluster_info = serde_json::json!({
            "server": server,
            "certificate-authority-data": tls.ca_pem.as_ref().map(|pem| base64::engine::general_purpose::STANDARD.encode(pem)),
            "insecure-skip-tls-verify": insecure,
        });
        user_auth(
            &user_name,
            raw_user,
            located_user,
            cluster_info,
            &mut tls,
            sources,
        )?
    };
    Ok(ClusterEndpoint {
        server,
        tls,
        auth,
        proxy_url: raw_cluster.proxy_url.filter(|url| !url.is_empty()),
        origin: format!("kubeconfig {files}, context {context_name:?}"),
        notes: Vec::new(),
    })
}

fn user_auth(
    user_name: &str,
    raw: RawUser,
    located: &Located,
    cluster_info: serde_json::Value,
    tls: &mut TlsSettings,
    sources: &ConfigSources,
) -> Result<Auth, ConfigError> {
    let file = located.file.display().to_string();
    let dir = located.dir();
    let what = format!("user {user_name:?}");
    let cert = data_or_file(
        raw.client_certificate_data.as_deref(),
        raw.client_certificate.as_deref(),
        &dir,
        &format!("{what} client-certificate"),
        &file,
        sources,
    )?;
    let key = data_or_file(
        raw.client_key_data.as_deref(),
        raw.client_key.as_deref(),
        &dir,
        &format!("{what} client-key"),
        &file,
        sources,
    )?;
    match (cert, key) {
        (Some(cert), Some(key)) => {
            tls.client_cert_pem = Some(cert);
            tls.client_key_pem = Some(SecretBytes::new(key));
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(error(format!(
                "{what} in kubeconfig {file} has a client certificate but no client key"
            )));
        }
        (None, Some(_)) => {
            return Err(error(format!(
                "{what} in kubeconfig {file} has a client key but no client certificate"
            )));
        }
    }
    let token = raw.token.filter(|token| !token.is_empty());
    let token_file = raw.token_file.filter(|path| !path.is_empty());
    let username = raw.username.filter(|name| !name.is_empty());
    if (token.is_some() || token_file.is_some()) && username.is_some() {
        return Err(error(format!(
            "{what} in kubeconfig {file} sets both a token and username/password; only one may be used"
        )));
    }
    if let Some(exec) = raw.exec {
        return exec_config(user_name, exec, &dir, &file, cluster_info).map(Auth::Exec);
    }
    if let Some(path) = token_file {
        let path = relative_to(&dir, &path);
        sources.files.read(&path).map_err(|why| {
            error(format!(
                "{what} in kubeconfig {file}: tokenFile {}: {why}",
                path.display()
            ))
        })?;
        return Ok(Auth::TokenFile(path));
    }
    if let Some(token) = token {
        return Ok(Auth::Token(Secret::new(token)));
    }
    if let Some(username) = username {
        return Ok(Auth::Basic {
            username,
            password: Secret::new(raw.password.unwrap_or_default()),
        });
    }
    if let Some(provider) = raw.auth_provider
        && tls.client_cert_pem.is_none()
    {
        let name = provider.name.unwrap_or_default();
        return Err(error(format!(
            "{what} in kubeconfig {file} uses the legacy auth-provider {name:?}, which kube-thermostat does not support; \
             use an exec credential plugin (e.g. gke-gcloud-auth-plugin, kubelogin) instead"
        )));
    }
    Ok(Auth::None)
}

fn exec_config(
    user_name: &str,
    raw: RawExec,
    dir: &Path,
    file: &str,
    cluster_info: serde_json::Value,
) -> Result<ExecConfig, ConfigError> {
    let what = format!("user {user_name:?} exec");
    let command = raw
        .command
        .filter(|command| !command.is_empty())
        .ok_or_else(|| error(format!("{what} in kubeconfig {file} has no command")))?;
    // As kubectl: a command with a path separator is relative to the kubeconfig's folder; a bare name uses PATH.
    let command = if command.contains('/') {
        relative_to(dir, &command).to_string_lossy().into_owned()
    } else {
        command
    };
    let api_version = raw.api_version.unwrap_or_default();
    if !matches!(
        api_version.as_str(),
        "client.authentication.k8s.io/v1" | "client.authentication.k8s.io/v1beta1"
    ) {
        return Err(error(format!(
            "{what} in kubeconfig {file}: apiVersion {api_version:?} is not supported; \
             use client.authentication.k8s.io/v1 or v1beta1"
        )));
    }
    Ok(ExecConfig {
        command,
        args: raw.args.unwrap_or_default(),
        env: raw
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|var| (var.name, var.value.unwrap_or_default()))
            .collect(),
        api_version,
        install_hint: raw.install_hint.filter(|hint| !hint.is_empty()),
        cluster_info: raw
            .provide_cluster_info
            .unwrap_or(false)
            .then_some(cluster_info),
        user: user_name.to_owned(),
    })
}

fn relative_to(dir: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

/// A `*-data` field (base64) wins over its file field, as in client-go. Only called for the entries in use.
fn data_or_file(
    data: Option<&str>,
    path: Option<&str>,
    dir: &Path,
    what: &str,
    file: &str,
    sources: &ConfigSources,
) -> Result<Option<Vec<u8>>, ConfigError> {
    if let Some(data) = data.filter(|data| !data.trim().is_empty()) {
        let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(Some)
            .map_err(|why| {
                error(format!(
                    "{what}-data in kubeconfig {file} is not valid base64: {why}"
                ))
            });
    }
    if let Some(path) = path.filter(|path| !path.is_empty()) {
        let path = relative_to(dir, path);
        return sources.files.read(&path).map(Some).map_err(|why| {
            error(format!(
                "{what} in kubeconfig {file}: {}: {why}",
                path.display()
            ))
        });
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// Sources with the given files in memory and nothing else set.
    fn sources(files: &[(&str, &str)]) -> ConfigSources {
        ConfigSources {
            kubeconfig_env: None,
            home: Some(PathBuf::from("/home/sre")),
            service_host: None,
            service_port: None,
            service_account_dir: PathBuf::from("/sa"),
            files: Files::Memory(
                files
                    .iter()
                    .map(|(path, text)| (PathBuf::from(path), text.as_bytes().to_vec()))
                    .collect(),
            ),
        }
    }

    fn home_config(text: &str) -> ConfigSources {
        sources(&[("/home/sre/.kube/config", text)])
    }

    fn resolve_default(sources: &ConfigSources) -> Result<ClusterEndpoint, ConfigError> {
        resolve(&ConfigOptions::default(), sources)
    }

    fn in_cluster_sources() -> ConfigSources {
        let mut sources = sources(&[("/sa/token", "sa-token"), ("/sa/ca.crt", CA_PEM)]);
        sources.service_host = Some("10.96.0.1".to_owned());
        sources.service_port = Some("443".to_owned());
        sources
    }

    const TOKEN_CONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://prod.example.com:6443/
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
contexts:
- name: prod
  context:
    cluster: prod-cluster
    user: admin
    namespace: default
users:
- name: admin
  user:
    token: s3cr3t-token
"#;

    #[test]
    fn kubeconfig_with_token_and_ca_data() {
        let endpoint = resolve_default(&home_config(TOKEN_CONFIG)).unwrap();
        assert_eq!(endpoint.server, "https://prod.example.com:6443");
        assert_eq!(endpoint.auth, Auth::Token(Secret::new("s3cr3t-token")));
        assert_eq!(endpoint.tls.ca_pem.as_deref(), Some(CA_PEM.as_bytes()));
        assert!(!endpoint.tls.insecure_skip_tls_verify);
        assert_eq!(
            endpoint.origin,
            "kubeconfig /home/sre/.kube/config, context \"prod\""
        );
    }

    #[test]
    fn api_url_override_uses_no_auth_and_reads_nothing() {
        let options = ConfigOptions {
            kube_api_url: Some("http://127.0.0.1:8001/".to_owned()),
            ..ConfigOptions::default()
        };
        let endpoint = resolve(&options, &home_config("not: [valid")).unwrap();
        assert_eq!(endpoint.server, "http://127.0.0.1:8001");
        assert_eq!(endpoint.auth, Auth::None);
        let bad = ConfigOptions {
            kube_api_url: Some("127.0.0.1:8001".to_owned()),
            ..ConfigOptions::default()
        };
        let message = resolve(&bad, &home_config("")).unwrap_err().to_string();
        assert!(
            message.contains("--kube-api-url \"127.0.0.1:8001\"") && message.contains("https://"),
            "{message}"
        );
    }

    #[test]
    fn in_cluster_keeps_the_token_path_not_the_token() {
        let endpoint = resolve_default(&in_cluster_sources()).unwrap();
        assert_eq!(endpoint.server, "https://10.96.0.1:443");
        assert_eq!(endpoint.auth, Auth::TokenFile(PathBuf::from("/sa/token")));
        assert_eq!(endpoint.tls.ca_pem.as_deref(), Some(CA_PEM.as_bytes()));
        assert_eq!(endpoint.origin, "in-cluster service account");
    }

    #[test]
    fn in_cluster_ipv6_host_is_bracketed() {
        let mut sources = in_cluster_sources();
        sources.service_host = Some("fd00:10:96::1".to_owned());
        assert_eq!(
            resolve_default(&sources).unwrap().server,
            "https://[fd00:10:96::1]:443"
        );
    }

    #[test]
    fn in_cluster_failures_name_what_is_missing() {
        let mut no_ca = in_cluster_sources();
        no_ca.files = Files::Memory(BTreeMap::from([(
            PathBuf::from("/sa/token"),
            b"t".to_vec(),
        )]));
        let message = resolve_default(&no_ca).unwrap_err().to_string();
        assert!(
            message.contains("service account CA /sa/ca.crt"),
            "{message}"
        );
        let mut bad_port = in_cluster_sources();
        bad_port.service_port = Some("https".to_owned());
        let message = resolve_default(&bad_port).unwrap_err().to_string();
        assert!(
            message.contains("KUBERNETES_SERVICE_PORT = \"https\""),
            "{message}"
        );
    }

    #[test]
    fn kubeconfig_wins_over_in_cluster_when_present() {
        let mut sources = in_cluster_sources();
        sources.files = Files::Memory(BTreeMap::from([
            (
                PathBuf::from("/home/sre/.kube/config"),
                TOKEN_CONFIG.as_bytes().to_vec(),
            ),
            (PathBuf::from("/sa/token"), b"t".to_vec()),
            (PathBuf::from("/sa/ca.crt"), CA_PEM.as_bytes().to_vec()),
        ]));
        assert_eq!(
            resolve_default(&sources).unwrap().server,
            "https://prod.example.com:6443"
        );
    }

    #[test]
    fn broken_kubeconfig_falls_back_to_in_cluster_with_a_note() {
        let mut sources = in_cluster_sources();
        sources.files = Files::Memory(BTreeMap::from([
            (
                PathBuf::from("/home/sre/.kube/config"),
                b"clusters: []\n".to_vec(),
            ),
            (PathBuf::from("/sa/token"), b"t".to_vec()),
            (PathBuf::from("/sa/ca.crt"), CA_PEM.as_bytes().to_vec()),
        ]));
        let endpoint = resolve_default(&sources).unwrap();
        assert_eq!(endpoint.origin, "in-cluster service account");
        assert!(
            endpoint.notes[0].contains("no current-context"),
            "{:?}",
            endpoint.notes
        );
    }

    #[test]
    fn when_both_fail_both_failures_are_reported() {
        let message = resolve_default(&home_config("current-context: gone\n"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("kubeconfig: context \"gone\""),
            "{message}"
        );
        assert!(
            message.contains("in-cluster: KUBERNETES_SERVICE_HOST is not set"),
            "{message}"
        );
        let message = resolve_default(&sources(&[])).unwrap_err().to_string();
        assert!(
            message.contains("no kubeconfig at /home/sre/.kube/config"),
            "{message}"
        );
        assert!(
            message.contains("KUBERNETES_SERVICE_HOST is not set"),
            "{message}"
        );
    }

    #[test]
    fn explicit_context_selects_it_and_never_falls_back() {
        let text = TOKEN_CONFIG
            .replace(
                "contexts:\n",
                "contexts:\n- name: staging\n  context: {cluster: staging-cluster}\n",
            )
            .replace(
                "clusters:\n",
                "clusters:\n- name: staging-cluster\n  cluster: {server: 'https://staging:6443'}\n",
            );
        let mut sources = in_cluster_sources();
        sources.files = Files::Memory(BTreeMap::from([(
            PathBuf::from("/home/sre/.kube/config"),
            text.into_bytes(),
        )]));
        let options = ConfigOptions {
            context: Some("staging".to_owned()),
            ..ConfigOptions::default()
        };
        let endpoint = resolve(&options, &sources).unwrap();
        assert_eq!(endpoint.server, "https://staging:6443");
        assert_eq!(endpoint.auth, Auth::None);
        let missing = ConfigOptions {
            context: Some("nope".to_owned()),
            ..ConfigOptions::default()
        };
        let message = resolve(&missing, &sources).unwrap_err().to_string();
        assert!(
            message.contains("context \"nope\" (--context) does not exist"),
            "{message}"
        );
        assert!(
            message.contains("known contexts: prod, staging"),
            "{message}"
        );
    }

    #[test]
    fn several_kubeconfig_files_merge_first_setter_wins() {
        let first = r#"
current-context: b
clusters:
- name: shared
  cluster: {server: "https://first:6443"}
users:
- name: u
  user: {token: first-token}
"#;
        let second = r#"
current-context: a
clusters:
- name: shared
  cluster: {server: "https://second:6443"}
- name: only-second
  cluster: {server: "https://only-second:6443"}
contexts:
- name: b
  context: {cluster: shared, user: u}
- name: a
  context: {cluster: only-second}
users:
- name: u
  user: {token: second-token}
"#;
        let mut sources = sources(&[("/k/one", first), ("/k/two", second)]);
        sources.kubeconfig_env = Some("/k/missing::/k/one:/k/two".to_owned());
        let endpoint = resolve_default(&sources).unwrap();
        assert_eq!(endpoint.server, "https://first:6443");
        assert_eq!(endpoint.auth, Auth::Token(Secret::new("first-token")));
        assert_eq!(endpoint.origin, "kubeconfig /k/one, /k/two, context \"b\"");
    }

    #[test]
    fn missing_current_context_is_a_clear_error() {
        let text = TOKEN_CONFIG.replace("current-context: prod\n", "");
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/home/sre/.kube/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &home_config(&text))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "kubeconfig /home/sre/.kube/config has no current-context; pass --context (known contexts: prod)"
        );
    }

    #[test]
    fn dangling_current_context_names_the_file() {
        let text = TOKEN_CONFIG.replace("current-context: prod", "current-context: deleted");
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/home/sre/.kube/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &home_config(&text))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(
                "context \"deleted\" (current-context of /home/sre/.kube/config) does not exist in kubeconfig"
            ),
            "{message}"
        );
    }

    #[test]
    fn explicit_kubeconfig_file_that_is_missing_is_an_error() {
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/nowhere/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &sources(&[])).unwrap_err().to_string();
        assert!(
            message.starts_with("kubeconfig /nowhere/config:"),
            "{message}"
        );
    }

    #[test]
    fn messy_kubeconfig_null_lists_unknown_keys_extensions_bom_and_two_documents() {
        let text = "\u{feff}apiVersion: v1\nkind: Config\npreferences: {}\nextensions: null\nusers: null\n\
             clusters:\n- name: c\n  cluster:\n    server: https://c:6443\n    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension: {audience: x}\n    some-future-key: 1\n\
             - name: unused\n  cluster:\n    server: https://unused\n    certificate-authority-data: '%%% not base64 %%%'\n\
             - name: entry-without-body\n- cluster: {server: https://no-name}\n\
             contexts:\n- name: ctx\n  context: {cluster: c, user: ''}\n  extensions: []\n\
             current-context: ctx\n---\ncurrent-context: other\n";
        let endpoint = resolve_default(&home_config(text)).unwrap();
        assert_eq!(endpoint.server, "https://c:6443");
        assert_eq!(endpoint.auth, Auth::None);
        assert_eq!(endpoint.tls.ca_pem, None);
    }

    #[test]
    fn empty_kubeconfig_file_says_no_current_context() {
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/home/sre/.kube/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &home_config("")).unwrap_err().to_string();
        assert!(message.contains("has no current-context"), "{message}");
        assert!(message.contains("it defines no contexts"), "{message}");
    }

    #[test]
    fn invalid_base64_in_a_used_field_names_the_field() {
        let text = TOKEN_CONFIG.replace(
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
            "'not*base64'",
        );
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/home/sre/.kube/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &home_config(&text))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("cluster \"prod-cluster\" certificate-authority-data in kubeconfig /home/sre/.kube/config is not valid base64"),
            "{message}"
        );
    }

    #[test]
    fn file_paths_are_relative_to_the_kubeconfig_folder() {
        let text = r#"
current-context: x
clusters:
- name: c
  cluster: {server: "https://c:6443", certificate-authority: certs/ca.pem}
contexts:
- name: x
  context: {cluster: c, user: u}
users:
- name: u
  user: {client-certificate: certs/me.crt, client-key: /abs/me.key}
"#;
        let mut sources = sources(&[
            ("/etc/kube/config", text),
            ("/etc/kube/certs/ca.pem", CA_PEM),
            ("/etc/kube/certs/me.crt", "CERT"),
            ("/abs/me.key", "KEY"),
        ]);
        sources.kubeconfig_env = Some("/etc/kube/config".to_owned());
        let endpoint = resolve_default(&sources).unwrap();
        assert_eq!(endpoint.tls.ca_pem.as_deref(), Some(CA_PEM.as_bytes()));
        assert_eq!(endpoint.tls.client_cert_pem.as_deref(), Some(&b"CERT"[..]));
        assert_eq!(
            endpoint.tls.client_key_pem,
            Some(SecretBytes::new(b"KEY".to_vec()))
        );
        assert_eq!(endpoint.auth, Auth::None);
    }

    #[test]
    fn client_certificate_data_and_key_data() {
        let text = TOKEN_CONFIG.replace(
            "token: s3cr3t-token",
            &format!(
                "client-certificate-data: {}\n    client-key-data: {}",
                b64("CERT"),
                b64("KEY")
            ),
        );
        let endpoint = resolve_default(&home_config(&text)).unwrap();
        assert_eq!(endpoint.tls.client_cert_pem.as_deref(), Some(&b"CERT"[..]));
        assert_eq!(
            endpoint
                .tls
                .client_key_pem
                .as_ref()
                .map(SecretBytes::expose),
            Some(&b"KEY"[..])
        );
        let half = TOKEN_CONFIG.replace(
            "token: s3cr3t-token",
            &format!("client-certificate-data: {}", b64("CERT")),
        );
        let message = resolve_default(&home_config(&half))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("has a client certificate but no client key"),
            "{message}"
        );
    }

    #[test]
    fn token_file_is_kept_as_a_path_relative_to_the_kubeconfig() {
        let text = TOKEN_CONFIG.replace("token: s3cr3t-token", "tokenFile: token.txt");
        let sources = sources(&[
            ("/home/sre/.kube/config", &text),
            ("/home/sre/.kube/token.txt", "t"),
        ]);
        let endpoint = resolve_default(&sources).unwrap();
        assert_eq!(
            endpoint.auth,
            Auth::TokenFile(PathBuf::from("/home/sre/.kube/token.txt"))
        );
    }

    #[test]
    fn basic_auth_and_its_conflict_with_a_token() {
        let text = TOKEN_CONFIG.replace(
            "token: s3cr3t-token",
            "username: ops\n    password: hunter2",
        );
        let endpoint = resolve_default(&home_config(&text)).unwrap();
        assert_eq!(
            endpoint.auth,
            Auth::Basic {
                username: "ops".to_owned(),
                password: Secret::new("hunter2")
            }
        );
        let both = TOKEN_CONFIG.replace(
            "token: s3cr3t-token",
            "token: t\n    username: ops\n    password: p",
        );
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/home/sre/.kube/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &home_config(&both))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("both a token and username/password"),
            "{message}"
        );
    }

    #[test]
    fn exec_plugin_with_null_args_and_relative_command() {
        let text = TOKEN_CONFIG.replace(
            "token: s3cr3t-token",
            "exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: ./bin/get-token\n      args: null\n      env:\n      - name: AWS_PROFILE\n        value: prod\n      interactiveMode: Never\n      provideClusterInfo: true",
        );
        let endpoint = resolve_default(&home_config(&text)).unwrap();
        let Auth::Exec(exec) = endpoint.auth else {
            panic!("expected exec auth, got {:?}", endpoint.auth)
        };
        assert_eq!(exec.command, "/home/sre/.kube/./bin/get-token");
        assert!(exec.args.is_empty());
        assert_eq!(
            exec.env,
            vec![("AWS_PROFILE".to_owned(), "prod".to_owned())]
        );
        assert_eq!(exec.api_version, "client.authentication.k8s.io/v1beta1");
        assert_eq!(
            exec.cluster_info.unwrap()["server"],
            "https://prod.example.com:6443"
        );
    }

    #[test]
    fn exec_plugin_on_path_and_unsupported_api_version() {
        let text = TOKEN_CONFIG.replace(
            "token: s3cr3t-token",
            "exec: {apiVersion: client.authentication.k8s.io/v1, command: aws, args: [eks, get-token]}",
        );
        let Auth::Exec(exec) = resolve_default(&home_config(&text)).unwrap().auth else {
            panic!("expected exec auth")
        };
        assert_eq!(exec.command, "aws");
        assert_eq!(exec.args, vec!["eks", "get-token"]);
        assert_eq!(exec.cluster_info, None);
        let old = text.replace(
            "client.authentication.k8s.io/v1",
            "client.authentication.k8s.io/v1alpha1",
        );
        let message = resolve_default(&home_config(&old)).unwrap_err().to_string();
        assert!(
            message
                .contains("apiVersion \"client.authentication.k8s.io/v1alpha1\" is not supported"),
            "{message}"
        );
    }

    #[test]
    fn legacy_auth_provider_fails_only_when_used() {
        let provider = "auth-provider:\n      name: gcp\n      config: {cmd-path: gcloud}";
        let used = TOKEN_CONFIG.replace("token: s3cr3t-token", provider);
        let message = resolve_default(&home_config(&used))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("legacy auth-provider \"gcp\""),
            "{message}"
        );
        assert!(
            message.contains("use an exec credential plugin"),
            "{message}"
        );
        let unused = format!("{TOKEN_CONFIG}- name: old-gke\n  user:\n    {provider}\n");
        assert!(resolve_default(&home_config(&unused)).is_ok());
    }

    #[test]
    fn insecure_skip_tls_verify_only_when_configured_and_never_with_a_ca() {
        let insecure = TOKEN_CONFIG.replace(
            "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
            "insecure-skip-tls-verify: true",
        );
        assert!(
            resolve_default(&home_config(&insecure))
                .unwrap()
                .tls
                .insecure_skip_tls_verify
        );
        let both = TOKEN_CONFIG.replace("server:", "insecure-skip-tls-verify: true\n    server:");
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/home/sre/.kube/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &home_config(&both))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("both insecure-skip-tls-verify and a certificate-authority"),
            "{message}"
        );
    }

    #[test]
    fn tls_server_name_and_proxy_url() {
        let named = TOKEN_CONFIG.replace("server:", "tls-server-name: api.internal\n    server:");
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/home/sre/.kube/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &home_config(&named))
            .unwrap_err()
            .to_string();
        assert!(message.contains("tls-server-name"), "{message}");
        let proxied = TOKEN_CONFIG.replace("server:", "proxy-url: http://proxy:3128\n    server:");
        let endpoint = resolve_default(&home_config(&proxied)).unwrap();
        assert_eq!(endpoint.proxy_url.as_deref(), Some("http://proxy:3128"));
    }

    #[test]
    fn cluster_without_server_and_context_without_cluster_are_named() {
        let no_server = TOKEN_CONFIG.replace("    server: https://prod.example.com:6443/\n", "");
        let options = ConfigOptions {
            kubeconfig: Some(PathBuf::from("/home/sre/.kube/config")),
            ..ConfigOptions::default()
        };
        let message = resolve(&options, &home_config(&no_server))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "cluster \"prod-cluster\" in kubeconfig /home/sre/.kube/config has no server"
        );
        let no_user = TOKEN_CONFIG.replace("user: admin", "user: ghost");
        let message = resolve(&options, &home_config(&no_user))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("user \"ghost\" (of context \"prod\") does not exist"),
            "{message}"
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let text = TOKEN_CONFIG.replace(
            "token: s3cr3t-token",
            &format!(
                "client-certificate-data: {}\n    client-key-data: {}",
                b64("CERT"),
                b64("PRIVATE-KEY-BYTES")
            ),
        );
        let endpoint = resolve_default(&home_config(&text)).unwrap();
        let debug = format!("{endpoint:?}");
        assert!(!debug.contains("PRIVATE-KEY-BYTES"), "{debug}");
        let basic = Auth::Basic {
            username: "ops".to_owned(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{basic:?}").contains("hunter2"));
        assert!(!format!("{:?}", Auth::Token(Secret::new("s3cr3t-token"))).contains("s3cr3t"));
        let exec = ExecConfig {
            command: "aws".to_owned(),
            args: vec!["--api-key=abc123".to_owned()],
            env: vec![("API_KEY".to_owned(), "abc123".to_owned())],
            api_version: "client.authentication.k8s.io/v1".to_owned(),
            install_hint: None,
            cluster_info: None,
            user: "u".to_owned(),
        };
        let debug = format!("{exec:?}");
        assert!(
            !debug.contains("abc123") && debug.contains("API_KEY"),
            "{debug}"
        );
    }
}
