//! A tick: gather (snapshots or one paged LIST, one Prometheus query per signal) → decide (pure) → apply →
//! report (logs, plan on stdout for `run`, METRICS_PATH), then one exit code.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use crate::cli::{Cli, Command, ControllerName, OutputFormat};
use crate::deadline::Deadline;
use crate::error_chain;
use crate::events::{self, EventSpec};
use crate::exit::ExitCode;
use crate::hook::binding_context::{self, Snapshots};
use crate::hook::counters::{self, OwnPod, Saving};
use crate::hook::metrics::Metrics;
use crate::kube::{self, ApiResource, ConfigOptions, ConfigSources};
use crate::log;
use crate::prometheus::{PrometheusClient, PrometheusConfig};
use crate::settings::{SecretSource, Settings};
use crate::{resize, taint};

/// The clients and clock of one tick, shared by the controllers it runs.
pub struct Tick {
    pub deadline: Deadline,
    /// The tick's "now": decisions, annotations and Prometheus queries all use this one instant.
    pub now: Timestamp,
    pub kube: kube::Client,
    /// `None` when the work queries nothing (`run taint-nodes --remove-all` without PROMETHEUS_URL).
    prometheus: Option<PrometheusClient>,
    /// Who we are in Events (`reportingInstance`): the pod name under shell-operator.
    pub instance: String,
    /// Events posted so far this tick: keeps their names apart although they share `now`.
    event_sequence: std::cell::Cell<i128>,
    /// Events the server refused this tick, by HTTP code, for `events_rejected_total`.
    events_rejected: std::cell::RefCell<std::collections::BTreeMap<String, u64>>,
}

impl Tick {
    /// The Prometheus client; an error when none was configured (only work that queries nothing runs so).
    pub fn prometheus(&self) -> Result<&PrometheusClient> {
        self.prometheus
            .as_ref()
            .context("PROMETHEUS_URL is not set: this work needs Prometheus")
    }

    /// Posts an Event about a change we made. Best effort: one that cannot be written (RBAC, validation, API
    /// trouble) is logged with the server's message and counted, never fatal, since the change itself is done.
    /// The name is client-go's (`events::event_name`); the tick's one `now` plus a sequence keeps the names of
    /// one tick apart, and a 409 AlreadyExists (another writer, same nanosecond) is tried once more under a
    /// name from the wall clock.
    pub fn post_event(&self, event: &EventSpec) {
        let sequence = self.event_sequence.get();
        self.event_sequence.set(sequence + 1);
        let namespace = events::event_namespace(&event.regarding);
        let post = |nanos: i128| {
            let name = events::event_name(&event.regarding.name, nanos + sequence);
            let body = events::event_body(event, &name, self.now, &self.instance);
            self.kube
                .create::<serde_json::Value>(
                    &ApiResource::EVENTS,
                    Some(namespace),
                    &body,
                    self.deadline,
                )
                .map_err(|error| (name, error))
        };
        let result = match post(self.now.as_nanosecond()) {
            Err((_, error)) if error.is_already_exists() => post(wall_clock().as_nanosecond()),
            other => other,
        };
        if let Err((name, error)) = result {
            let code = error
                .status()
                .map_or_else(|| "none".to_owned(), |status| status.code.to_string());
            *self.events_rejected.borrow_mut().entry(code).or_default() += 1;
            log::warn(
                "Event not posted: the change is made, only its Event is missing",
                &[
                    ("event", json!(name)),
                    ("event_reason", json!(event.reason)),
                    ("kind", json!(event.regarding.kind)),
                    ("namespace", json!(event.regarding.namespace)),
                    ("name", json!(event.regarding.name)),
                    ("error", json!(error.to_string())),
                ],
            );
        }
    }

    /// Events not posted since the last call, by HTTP code (`none` without an answer); resets the count.
    fn take_events_rejected(&self) -> std::collections::BTreeMap<String, u64> {
        std::mem::take(&mut *self.events_rejected.borrow_mut())
    }

    /// Queries sent so far (0 without a client).
    fn prometheus_queries(&self) -> u64 {
        self.prometheus.as_ref().map_or(0, |p| p.stats().queries)
    }
}

/// Decisions logged one per line in shadow mode per controller and tick; the rest are counted in a summary line.
/// A plan holds a line per node or container: logged whole, a big cluster's would flood shell-operator's log
/// every tick (`run CONTROLLER --dry-run` prints all of it).
pub const SHADOW_LOG_MAX_DECISIONS: usize = 200;

/// Shadow mode's log of a plan: one bounded line per decision (writes first, as the plan lists them), at most
/// [`SHADOW_LOG_MAX_DECISIONS`], then one summary line. No line grows with the cluster.
fn log_shadow_plan(controller: &str, plan_text: &str) {
    let decisions: Vec<&str> = plan_text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    for decision in decisions.iter().take(SHADOW_LOG_MAX_DECISIONS) {
        log::info(
            "shadow mode: would",
            &[
                ("controller", json!(controller)),
                ("decision", json!(decision)),
            ],
        );
    }
    let not_logged = decisions.len().saturating_sub(SHADOW_LOG_MAX_DECISIONS);
    let mut fields = vec![
        ("controller", json!(controller)),
        ("decisions", json!(decisions.len())),
    ];
    if not_logged > 0 {
        fields.push(("not_logged", json!(not_logged)));
        fields.push((
            "whole_plan",
            json!(format!("kube-thermostat run {controller} --dry-run")),
        ));
    }
    log::info("shadow mode: plan not applied", &fields);
}

/// What a controller did in a tick, for the report.
#[derive(Debug, Default)]
pub struct ControllerOutcome {
    /// The plan for people (`run`, shadow mode logs).
    pub plan_text: String,
    /// The plan for `--output json`.
    pub plan_json: serde_json::Value,
    /// Writes that changed an object.
    pub changed: usize,
    /// Writes refused by a concurrent change (409 / failed test) and retried after a re-read.
    pub conflicts: usize,
    /// Per-object failures: the tick goes on with the other objects and exits non-zero.
    pub failures: Vec<String>,
    /// Why the controller made no writes on purpose although it had decided some (fail-safe): exits non-zero.
    pub refused: Option<String>,
}

impl ControllerOutcome {
    /// An outcome carrying `plan` rendered only as this run shows it (see [`RunOptions::plan_as_text`]).
    pub fn showing<P: serde::Serialize>(
        options: &RunOptions,
        plan: &P,
        as_text: impl FnOnce(&P) -> String,
    ) -> ControllerOutcome {
        ControllerOutcome {
            plan_text: if options.plan_as_text {
                as_text(plan)
            } else {
                String::new()
            },
            plan_json: if options.plan_as_json {
                serde_json::to_value(plan).unwrap_or_default()
            } else {
                serde_json::Value::Null
            },
            ..ControllerOutcome::default()
        }
    }
}

/// How a controller runs this time.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub dry_run: bool,
    /// taint-nodes only: remove our taints everywhere.
    pub remove_all: bool,
    /// The plan is printed (`run`) or logged (shadow mode) as text, or printed as JSON: only then is it
    /// rendered so, since the text or JSON of a cluster-wide plan costs more memory than the plan itself.
    pub plan_as_text: bool,
    pub plan_as_json: bool,
}

/// Hook mode (no subcommand) or `run`.
pub fn run(cli: Cli) -> ExitCode {
    let prometheus_required = !matches!(&cli.command, Some(Command::Run(args)) if args.remove_all);
    let settings = match Settings::from_raw(&cli.settings, prometheus_required) {
        Ok(settings) => settings,
        Err(error) => {
            log::error(&error.to_string(), &[]);
            return ExitCode::Usage;
        }
    };
    for warning in &settings.warnings {
        log::warn(warning, &[("phase", json!("settings"))]);
    }
    // `run --dry-run` is a promise to write nothing: it overrides every shadow-mode setting, false ones included.
    let (work, output, remove_all, manual, forced_dry_run) = match cli.command {
        None => match hook_work(&settings) {
            Ok(work) => (work, None, false, false, false),
            Err(code) => return code,
        },
        Some(Command::Run(args)) => {
            let controllers = if args.controllers.is_empty() {
                enabled(&settings)
            } else {
                let mut chosen = args.controllers.clone();
                chosen.sort();
                chosen.dedup();
                chosen
            };
            if args.remove_all && controllers != [ControllerName::TaintNodes] {
                log::error("--remove-all goes with `run taint-nodes` alone", &[]);
                return ExitCode::Usage;
            }
            let work = controllers
                .into_iter()
                .map(|c| (c, Snapshots::default()))
                .collect();
            (work, Some(args.output), args.remove_all, true, args.dry_run)
        }
    };
    if work.is_empty() {
        log::info("no controller to run", &[]);
        return ExitCode::Done;
    }

    let started = Instant::now();
    let deadline = Deadline::after(settings.tick_timeout);
    let tick = match connect(&settings, deadline) {
        Ok(tick) => tick,
        Err(error) => {
            log::error(
                &error_chain::render_anyhow(&error),
                &[("phase", json!("connect"))],
            );
            return ExitCode::TickFailed;
        }
    };

    let metrics_path = std::env::var_os("METRICS_PATH").map(PathBuf::from);
    // Counter totals are kept on our own pod, so only under shell-operator: `run` writes nothing it was not asked
    // to, and its counts would mean nothing to a Prometheus that never scraped them.
    let count = !manual && metrics_path.is_some();
    let own_pod = if count { OwnPod::from_env() } else { None };
    let mut metrics = Metrics::new(work[0].0);
    let mut failed = false;
    for (controller, snapshots) in work {
        metrics.now_running(controller);
        let dry_run = forced_dry_run
            || match controller {
                ControllerName::TaintNodes => settings.taint_dry_run,
                ControllerName::ResizePods => settings.resize_dry_run,
            };
        let options = RunOptions {
            dry_run,
            remove_all,
            plan_as_text: output == Some(OutputFormat::Text) || (!manual && dry_run),
            plan_as_json: output == Some(OutputFormat::Json),
        };
        let controller_started = Instant::now();
        let requests_before = tick.kube.stats();
        let queries_before = tick.prometheus_queries();
        let result = match controller {
            ControllerName::TaintNodes => taint::apply::run(
                &tick,
                &settings.taint,
                snapshots.nodes,
                options,
                &mut metrics,
            ),
            ControllerName::ResizePods => {
                resize::apply::run(&tick, &settings.resize, snapshots, options, &mut metrics)
            }
        };
        let name = controller.binding();
        // Rejected Events are counted by the controller whose run posted them (controllers run one after another),
        // before its totals are saved.
        for (code, count) in tick.take_events_rejected() {
            metrics.counter(
                "events_rejected_total",
                count as f64,
                &[("controller", name), ("code", &code)],
            );
        }
        if count {
            save_counters(&tick, own_pod.as_ref(), controller, &mut metrics);
        }
        let dry_label = if dry_run { "true" } else { "false" };
        let requests = requests_since(&tick.kube.stats(), &requests_before);
        let queries = tick.prometheus_queries() - queries_before;
        match result {
            Ok(outcome) => {
                print_plan(output, &outcome);
                if !manual && dry_run && !outcome.plan_text.is_empty() {
                    log_shadow_plan(name, &outcome.plan_text);
                }
                for failure in &outcome.failures {
                    log::error(failure, &[("controller", json!(name))]);
                }
                if let Some(reason) = &outcome.refused {
                    log::error(reason, &[("controller", json!(name))]);
                }
                let ok = outcome.failures.is_empty() && outcome.refused.is_none();
                failed |= !ok;
                metrics.gauge(
                    "tick_writes",
                    outcome.changed as f64,
                    &[("result", "changed")],
                );
                metrics.gauge(
                    "tick_writes",
                    outcome.conflicts as f64,
                    &[("result", "conflict")],
                );
                // No failure metrics: shell-operator drops the metrics file of a run that exits non-zero, as any
                // failure makes this one. Failures show in shell_operator_hook_run_allowed_errors_total and the log.
                if ok {
                    metrics.gauge(
                        "tick_last_success_timestamp_seconds",
                        tick.now.as_second() as f64,
                        &[],
                    );
                }
                log::info(
                    "tick done",
                    &[
                        ("controller", json!(name)),
                        ("dry_run", json!(dry_run)),
                        ("changed", json!(outcome.changed)),
                        ("conflicts", json!(outcome.conflicts)),
                        ("failures", json!(outcome.failures.len())),
                        ("prometheus_queries", json!(queries)),
                        ("api_requests", json!(requests.values().sum::<u64>())),
                        ("seconds", json!(controller_started.elapsed().as_secs_f64())),
                    ],
                );
            }
            Err(error) => {
                failed = true;
                log::error(
                    &error_chain::render_anyhow(&error),
                    &[("controller", json!(name)), ("phase", json!("tick"))],
                );
            }
        }
        metrics.gauge(
            "tick_duration_seconds",
            controller_started.elapsed().as_secs_f64(),
            &[("dry_run", dry_label)],
        );
        metrics.gauge("tick_prometheus_queries", queries as f64, &[]);
        for ((verb, resource), count) in &requests {
            metrics.gauge(
                "tick_api_requests",
                *count as f64,
                &[("verb", verb), ("resource", resource)],
            );
        }
    }

    if let Some(path) = &metrics_path
        && let Err(error) = metrics.write_to(path)
    {
        log::error(&format!("{error:#}"), &[]);
        failed = true;
    }
    log::debug(
        "tick finished",
        &[("seconds", json!(started.elapsed().as_secs_f64()))],
    );
    if failed {
        ExitCode::TickFailed
    } else {
        ExitCode::Done
    }
}

/// The controllers to run for this binding context, each with its newest snapshots.
fn hook_work(settings: &Settings) -> Result<Vec<(ControllerName, Snapshots)>, ExitCode> {
    let Some(path) = std::env::var_os("BINDING_CONTEXT_PATH").map(PathBuf::from) else {
        log::error(
            "BINDING_CONTEXT_PATH is not set: without arguments kube-thermostat runs as a shell-operator hook; \
             by hand, use `kube-thermostat run [taint-nodes|resize-pods] --dry-run`",
            &[],
        );
        return Err(ExitCode::Usage);
    };
    let run = match binding_context::read(&path) {
        Ok(run) => run,
        Err(error) => {
            log::error(
                &format!("{error:#}"),
                &[("phase", json!("binding context"))],
            );
            return Err(ExitCode::TickFailed);
        }
    };
    for skipped in &run.skipped {
        log::debug(
            "binding context element needs no work",
            &[("element", json!(skipped))],
        );
    }
    let mut work = Vec::new();
    if let Some(snapshots) = run.taint_nodes {
        if settings.taint_enabled {
            work.push((ControllerName::TaintNodes, snapshots));
        } else {
            log::warn(
                "taint-nodes is disabled (TAINT_ENABLED=false): skipped",
                &[],
            );
        }
    }
    if let Some(snapshots) = run.resize_pods {
        if settings.resize_enabled {
            work.push((ControllerName::ResizePods, snapshots));
        } else {
            log::warn(
                "resize-pods is disabled (RESIZE_ENABLED=false): skipped",
                &[],
            );
        }
    }
    Ok(work)
}

fn enabled(settings: &Settings) -> Vec<ControllerName> {
    let mut controllers = Vec::new();
    if settings.taint_enabled {
        controllers.push(ControllerName::TaintNodes);
    }
    if settings.resize_enabled {
        controllers.push(ControllerName::ResizePods);
    }
    controllers
}

/// Builds both clients. Nothing is sent yet: the first request is the controller's.
fn connect(settings: &Settings, deadline: Deadline) -> Result<Tick> {
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
    let kube = kube::Client::new(endpoint, client_options).context("Kubernetes API client")?;

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
    let prometheus = if p.url.is_empty() {
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
        now: wall_clock(),
        kube,
        prometheus,
        instance,
        event_sequence: Default::default(),
        events_rejected: Default::default(),
    })
}

fn requests_since(
    now: &kube::RequestStats,
    before: &kube::RequestStats,
) -> std::collections::BTreeMap<(String, String), u64> {
    now.requests
        .iter()
        .map(|(key, count)| {
            (
                key.clone(),
                count - before.requests.get(key).copied().unwrap_or(0),
            )
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// Adds the controller's counts of this tick to its totals on our pod and exports the totals that are saved.
/// A problem is logged and shown as `kube_thermostat_counters_saved` 0; it never fails the tick.
fn save_counters(
    tick: &Tick,
    own_pod: Option<&OwnPod>,
    controller: ControllerName,
    metrics: &mut Metrics,
) {
    let increments = metrics.increments(controller);
    let saving = match own_pod {
        Some(pod) => counters::save(&tick.kube, pod, controller, &increments, tick.deadline),
        None => Saving {
            export: None,
            saved: false,
            problem: Some(
                "POD_NAME and POD_NAMESPACE are not set (downward API, see config/base/deployment.yaml): \
                 counters are not exported"
                    .into(),
            ),
        },
    };
    if let Some(problem) = &saving.problem {
        log::warn(problem, &[("controller", json!(controller.binding()))]);
    }
    metrics.gauge("counters_saved", if saving.saved { 1.0 } else { 0.0 }, &[]);
    if let Some(totals) = &saving.export {
        metrics.export_counters(totals);
    }
}

/// `run` prints the plan on stdout; the hook prints nothing there (shell-operator would log it as output).
fn print_plan(output: Option<OutputFormat>, outcome: &ControllerOutcome) {
    match output {
        Some(OutputFormat::Text) => print!("{}", outcome.plan_text),
        Some(OutputFormat::Json) => println!("{}", outcome.plan_json),
        None => {}
    }
}

/// The one place a tick reads the clock; everything downstream gets this instant.
fn wall_clock() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_millisecond(millis).unwrap_or(Timestamp::UNIX_EPOCH)
}
