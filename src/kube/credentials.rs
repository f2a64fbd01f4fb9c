//! Credentials at request time: token files re-read (rotation, through [`crate::http::read_token_file`]), exec
//! plugins run and cached until they expire.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::config::{Auth, ExecConfig, Secret, SecretBytes};
use super::error::KubeError;
use crate::deadline::Deadline;

/// A credential is refreshed this long before it expires, so it does not expire in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// How much of a failing plugin's stderr goes into the message.
const MAX_STDERR_IN_MESSAGE: usize = 1024;

/// What to send with the next request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CurrentCredentials {
    /// The whole `Authorization` header value (`Bearer ...` or `Basic ...`).
    pub authorization: Option<Secret>,
    /// A client certificate (PEM chain, PEM key) from an exec plugin; the client's TLS settings hold static ones.
    pub client_cert: Option<(Vec<u8>, SecretBytes)>,
}

#[derive(Debug)]
pub struct Credentials {
    auth: Auth,
    exec_cache: Mutex<Option<CachedExec>>,
}

#[derive(Debug, Clone)]
struct CachedExec {
    credentials: CurrentCredentials,
    /// `None`: valid until the server says 401.
    refresh_at: Option<Instant>,
}

impl Credentials {
    pub fn new(auth: Auth) -> Credentials {
        Credentials {
            auth,
            exec_cache: Mutex::new(None),
        }
    }

    pub fn current(&self, deadline: Deadline) -> Result<CurrentCredentials, KubeError> {
        match &self.auth {
            Auth::None => Ok(CurrentCredentials::default()),
            Auth::Token(token) => Ok(bearer(token.expose())),
            Auth::TokenFile(path) => crate::http::read_token_file(path)
                .map(|token| bearer(&token))
                .map_err(|error| KubeError::Credentials {
                    message: crate::error_chain::render(&error),
                    source: Some(Box::new(error)),
                }),
            Auth::Basic { username, password } => {
                use base64::Engine;
                let pair = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Ok(CurrentCredentials {
                    authorization: Some(Secret::new(format!("Basic {encoded}"))),
                    client_cert: None,
                })
            }
            Auth::Exec(exec) => {
                let mut cache = self
                    .exec_cache
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(cached) = cache.as_ref()
                    && cached.refresh_at.is_none_or(|at| Instant::now() < at)
                {
                    return Ok(cached.credentials.clone());
                }
                let fresh = run_exec_plugin(exec, deadline)?;
                *cache = Some(fresh.clone());
                Ok(fresh.credentials)
            }
        }
    }

    /// After a 401: forget cached credentials. True when asking again may give different ones.
    pub fn invalidate(&self) -> bool {
        match &self.auth {
            Auth::TokenFile(_) => true,
            Auth::Exec(_) => {
                *self
                    .exec_cache
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
                true
            }
            Auth::None | Auth::Token(_) | Auth::Basic { .. } => false,
        }
    }
}

fn bearer(token: &str) -> CurrentCredentials {
    CurrentCredentials {
        authorization: Some(Secret::new(format!("Bearer {token}"))),
        client_cert: None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    api_version: Option<String>,
    status: Option<ExecCredentialStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
    expiration_timestamp: Option<String>,
}

fn run_exec_plugin(exec: &ExecConfig, deadline: Deadline) -> Result<CachedExec, KubeError> {
    let what = format!(
        "exec plugin {:?} of kubeconfig user {:?}",
        exec.command, exec.user
    );
    let fail = |message: String| KubeError::Credentials {
        message: format!("{what}: {message}"),
        source: None,
    };
    let mut spec = serde_json::json!({ "interactive": false });
    if let Some(cluster) = &exec.cluster_info {
        spec["cluster"] = cluster.clone();
    }
    let exec_info = serde_json::json!({
        "apiVersion": exec.api_version,
        "kind": "ExecCredential",
        "spec": spec,
    });
    // The one program we run: the kubeconfig asks for it. No shell; stdin closed (never interactive).
    let mut child = Command::new(&exec.command)
        .args(&exec.args)
        .envs(exec.env.iter().map(|(name, value)| (name, value)))
        .env("KUBERNETES_EXEC_INFO", exec_info.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|why| {
            let hint = exec
                .install_hint
                .as_deref()
                .map(|hint| format!(" ({})", hint.trim()))
                .unwrap_or_default();
            KubeError::Credentials {
                message: format!("{what}: cannot run it: {why}{hint}"),
                source: Some(Box::new(why)),
            }
        })?;
    // Drain both pipes on threads so a chatty plugin cannot block on a full pipe while we wait.
    let stdout_reader = child.stdout.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    });
    let stderr_reader = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if deadline.expired() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail("did not finish before the tick's deadline".to_owned()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(why) => return Err(fail(format!("waiting for it failed: {why}"))),
        }
    };
    let stdout = stdout_reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let stderr = stderr_reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        let stderr = stderr.trim();
        let mut start = stderr.len().saturating_sub(MAX_STDERR_IN_MESSAGE);
        while !stderr.is_char_boundary(start) {
            start += 1;
        }
        return Err(fail(format!("exited with {status}: {}", &stderr[start..])));
    }
    let unix_seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
    let wall_now = k8s_openapi::jiff::Timestamp::from_second(unix_seconds)
        .map_err(|why| fail(format!("the system clock is unusable: {why}")))?;
    parse_exec_credential(&stdout, &exec.api_version, Instant::now(), wall_now).map_err(fail)
}

/// Pure: the plugin's answer, and the clocks read once by the caller.
fn parse_exec_credential(
    stdout: &[u8],
    expected_api_version: &str,
    now: Instant,
    wall_now: k8s_openapi::jiff::Timestamp,
) -> Result<CachedExec, String> {
    // The plugin's output may hold a token: never quote it in an error.
    let credential: ExecCredential = serde_json::from_slice(stdout)
        .map_err(|why| format!("its output is not an ExecCredential JSON object ({why})"))?;
    let api_version = credential.api_version.unwrap_or_default();
    if api_version != expected_api_version {
        return Err(format!(
            "it answered apiVersion {api_version:?} but the kubeconfig asks for {expected_api_version:?}"
        ));
    }
    let status = credential
        .status
        .ok_or("its ExecCredential has no status")?;
    let client_cert = match (status.client_certificate_data, status.client_key_data) {
        (Some(cert), Some(key)) if !cert.is_empty() && !key.is_empty() => {
            Some((cert.into_bytes(), SecretBytes::new(key.into_bytes())))
        }
        (None, None) => None,
        _ => {
            return Err(
                "its ExecCredential has a client certificate or key without the other".to_owned(),
            );
        }
    };
    let token = status.token.filter(|token| !token.is_empty());
    if token.is_none() && client_cert.is_none() {
        return Err("its ExecCredential has neither a token nor a client certificate".to_owned());
    }
    let refresh_at = match status.expiration_timestamp.filter(|text| !text.is_empty()) {
        None => None,
        Some(text) => {
            let expires: k8s_openapi::jiff::Timestamp = text.parse().map_err(|why| {
                format!("expirationTimestamp {text:?} is not an RFC 3339 time ({why})")
            })?;
            let left =
                Duration::try_from(expires.duration_since(wall_now)).unwrap_or(Duration::ZERO);
            Some(now + left.saturating_sub(EXPIRY_MARGIN))
        }
    };
    Ok(CachedExec {
        credentials: CurrentCredentials {
            authorization: token.map(|token| Secret::new(format!("Bearer {token}"))),
            client_cert,
        },
        refresh_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "client.authentication.k8s.io/v1";

    fn wall(text: &str) -> k8s_openapi::jiff::Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn exec_token_is_cached_until_shortly_before_it_expires() {
        let now = Instant::now();
        let answer = br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
            "status":{"token":"tok","expirationTimestamp":"2030-01-01T00:10:00Z"}}"#;
        let cached = parse_exec_credential(answer, V1, now, wall("2030-01-01T00:00:00Z")).unwrap();
        assert_eq!(
            cached.credentials.authorization,
            Some(Secret::new("Bearer tok"))
        );
        assert_eq!(
            cached.refresh_at,
            Some(now + Duration::from_secs(600) - EXPIRY_MARGIN)
        );
    }

    #[test]
    fn expired_credential_is_refreshed_at_once() {
        let now = Instant::now();
        let answer = br#"{"apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t","expirationTimestamp":"2020-01-01T00:00:00Z"}}"#;
        let cached = parse_exec_credential(answer, V1, now, wall("2030-01-01T00:00:00Z")).unwrap();
        assert_eq!(cached.refresh_at, Some(now));
    }

    #[test]
    fn exec_client_certificate_without_expiry_is_kept() {
        let answer = br#"{"apiVersion":"client.authentication.k8s.io/v1beta1","status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}}"#;
        let cached = parse_exec_credential(
            answer,
            "client.authentication.k8s.io/v1beta1",
            Instant::now(),
            wall("2030-01-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(cached.refresh_at, None);
        assert_eq!(cached.credentials.authorization, None);
        let (cert, key) = cached.credentials.client_cert.unwrap();
        assert_eq!((cert.as_slice(), key.expose()), (&b"CERT"[..], &b"KEY"[..]));
    }

    #[test]
    fn bad_exec_answers_are_explained_without_quoting_the_output() {
        let now = Instant::now();
        let wall_now = wall("2030-01-01T00:00:00Z");
        let cases: [(&[u8], &str); 4] = [
            (b"token: secret-in-yaml", "not an ExecCredential"),
            (
                br#"{"apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}}"#,
                "asks for",
            ),
            (
                br#"{"apiVersion":"client.authentication.k8s.io/v1"}"#,
                "no status",
            ),
            (
                br#"{"apiVersion":"client.authentication.k8s.io/v1","status":{}}"#,
                "neither a token",
            ),
        ];
        for (answer, expected) in cases {
            let message = parse_exec_credential(answer, V1, now, wall_now)
                .err()
                .unwrap();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("secret-in-yaml"), "{message}");
        }
    }

    #[test]
    fn token_file_is_read_on_every_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let credentials = Credentials::new(Auth::TokenFile(path.clone()));
        let deadline = Deadline::after(Duration::from_secs(5));
        assert_eq!(
            credentials.current(deadline).unwrap().authorization,
            Some(Secret::new("Bearer first"))
        );
        std::fs::write(&path, "rotated").unwrap();
        assert_eq!(
            credentials.current(deadline).unwrap().authorization,
            Some(Secret::new("Bearer rotated"))
        );
        std::fs::write(&path, "  \n").unwrap();
        let message = credentials.current(deadline).unwrap_err().to_string();
        assert!(message.contains("is empty"), "{message}");
    }

    #[test]
    fn basic_auth_header() {
        let credentials = Credentials::new(Auth::Basic {
            username: "ops".to_owned(),
            password: Secret::new("pw"),
        });
        let current = credentials
            .current(Deadline::after(Duration::from_secs(1)))
            .unwrap();
        assert_eq!(current.authorization, Some(Secret::new("Basic b3BzOnB3")));
    }
}
