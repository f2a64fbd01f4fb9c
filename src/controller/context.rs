//! The [`Tick`] context: the clients, the one "now", the deadline, and the Event bookkeeping shared by the
//! controllers one tick runs. [`Tick::connect`] builds it from the settings; it is the one place a tick reads
//! the clock, the environment (`HOSTNAME`) and a password file.
//!
//! Imports the clients ([`crate::kube`], [`crate::prometheus`]), [`crate::settings`] and [`crate::deadline`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, Result};
use k8s_openapi::jiff::Timestamp;

use crate::deadline::Deadline;
use crate::kube::{self, ConfigOptions, ConfigSources};
use crate::prometheus::{PrometheusClient, PrometheusConfig};
use crate::settings::{SecretSource, Settings};

/// The clients and clock of one tick, shared by the controllers it runs.
pub(crate) struct Tick {
    pub deadline: Deadline,
    /// The tick's "now": decisions, annotations and Prometheus queries all use this one instant.
    pub now: Timestamp,
    pub kube: kube::Client,
    /// `None` when the work queries nothing (`run taint-nodes --remove-all` without PROMETHEUS_URL).
    prometheus: Option<PrometheusClient>,
    /// Who we are in Events (`reportingInstance`): the pod name under shell-operator.
    pub(super) instance: String,
    /// Events posted so far this tick: keeps their names apart although they share `now`.
    pub(super) event_sequence: Cell<i128>,
    /// Events the server refused this tick, by HTTP code, for `events_rejected_total`.
    pub(super) events_rejected: RefCell<BTreeMap<String, u64>>,
}

impl Tick {
    /// Builds both clients. Nothing is sent yet: the first request is the controller's.
    pub fn connect(settings: &Settings, deadline: Deadline) -> Result<Tick> {
        let kube = kube_client(settings)?;
        let config = prometheus_config(settings)?;
        let prometheus = if settings.prometheus.url.is_empty() {
            None
        } else {
            Some(PrometheusClient::new(config).context("Prometheus client")?)
        };

        let instance = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "kube-thermostat".into());
        Ok(Tick {
            deadline,
            now: tick_clock()?,
            kube,
            prometheus,
            instance,
            event_sequence: Default::default(),
            events_rejected: Default::default(),
        })
    }

    /// The Prometheus client; an error when none was configured (only work that queries nothing runs so).
    pub fn prometheus(&self) -> Result<&PrometheusClient> {
        self.prometheus
            .as_ref()
            .context("PROMETHEUS_URL is not set: this work needs Prometheus")
    }

    /// Events not posted since the last call, by HTTP code (`none` without an answer); resets the count.
    pub fn take_events_rejected(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.events_rejected.borrow_mut())
    }

    /// Queries sent so far (0 without a client).
    pub fn prometheus_queries(&self) -> u64 {
        self.prometheus.as_ref().map_or(0, |p| p.stats().queries)
    }
}

/// The Kubernetes API client the settings describe (kubeconfig, context, in-cluster or KUBE_API_URL).
pub(crate) fn kube_client(settings: &Settings) -> Result<kube::Client> {
    let options = ConfigOptions {
        kubeconfig: settings.kube.kubeconfig.clone().map(PathBuf::from),
        context: settings.kube.context.clone(),
        kube_api_url: settings.kube.api_url.clone(),
    };
    let endpoint = kube::resolve(&options, &ConfigSources::from_process())
        .context("Kubernetes API configuration")?;
    let client_options = kube::ClientOptions {
        rate_limit: settings.kube.rate_limit,
        ..kube::ClientOptions::default()
    };
    kube::Client::new(endpoint, client_options).context("Kubernetes API client")
}

/// The Prometheus client the settings describe (PROMETHEUS_URL must be set).
pub(crate) fn prometheus_client(settings: &Settings) -> Result<PrometheusClient> {
    PrometheusClient::new(prometheus_config(settings)?).context("Prometheus client")
}

/// The Prometheus client's configuration from the settings. A password file is read now, once per tick, even
/// without PROMETHEUS_URL: a file set but unreadable is an error whatever the work.
fn prometheus_config(settings: &Settings) -> Result<PrometheusConfig> {
    let p = &settings.prometheus;
    let mut config = PrometheusConfig::new(p.url.clone());
    config.bearer_token_file = p.bearer_token_file.clone();
    config.basic_auth = match &p.basic_auth {
        Some((user, SecretSource::Inline(password))) => Some((user.clone(), password.clone())),
        Some((user, SecretSource::File(path))) => {
            let password = std::fs::read_to_string(path)
                .with_context(|| format!("reading PROMETHEUS_PASSWORD_FILE {}", path.display()))?;
            Some((
                user.clone(),
                password.trim_end_matches(['\n', '\r']).to_owned(),
            ))
        }
        None => None,
    };
    config.ca_file = p.ca_file.clone();
    if let Some((cert, key)) = &p.client_cert {
        config.client_cert_file = Some(cert.clone());
        config.client_key_file = Some(key.clone());
    }
    config.insecure_skip_verify = p.insecure_skip_tls_verify;
    config.headers = p.headers.clone();
    config.query_timeout = p.timeout;
    config.retries = p.retries;
    config.max_response_bytes = p.max_response_bytes;
    Ok(config)
}

/// Pins the tick's clock to an RFC 3339 instant, for tests that run live ticks at chosen instants of a
/// recorded history (the replay rig test compares them with `replay`). Never for production: every tick that
/// honours it says so in the log.
pub const FAKE_NOW_ENV: &str = "KUBE_THERMOSTAT_FAKE_NOW";

/// The tick's "now": the wall clock, or [`FAKE_NOW_ENV`] when set.
pub(crate) fn tick_clock() -> Result<Timestamp> {
    let Some(text) = std::env::var(FAKE_NOW_ENV).ok().filter(|t| !t.is_empty()) else {
        return Ok(wall_clock());
    };
    let pinned: Timestamp = text.parse().map_err(|error| {
        anyhow::anyhow!(
            "{FAKE_NOW_ENV}={text:?} is not an RFC 3339 instant (e.g. 2026-12-02T14:00:00Z): {error}"
        )
    })?;
    crate::log::warn(
        &format!(
            "{FAKE_NOW_ENV} is set: this tick's clock is pinned (for tests, never in production)"
        ),
        &[("now", serde_json::json!(pinned.to_string()))],
    );
    Ok(pinned)
}

/// The one place a tick reads the clock; everything downstream gets this instant.
pub(super) fn wall_clock() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_millisecond(millis).unwrap_or(Timestamp::UNIX_EPOCH)
}
