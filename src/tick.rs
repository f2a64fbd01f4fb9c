//! A tick: the settings → the work list (the binding context's controllers, or `run`'s) → connect → per
//! controller: run it ([`crate::controller`]), then its metrics and logs → one exit code. It only sequences and
//! reports; what a controller reads, decides and writes is [`crate::controller`]'s.
//!
//! Imported by `app.rs` alone; imports the command line, the settings, the controllers and the hook's
//! files (binding context, metrics, counters).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{Cli, Command, OutputFormat, RunArgs};
use crate::controller::{Controller, Outcome, RunOptions, Tick};
use crate::deadline::Deadline;
use crate::error_chain;
use crate::exit::ExitCode;
use crate::hook::binding_context::{self, Snapshots};
use crate::hook::counters::{self, OwnPod, Saving};
use crate::hook::metrics::Metrics;
use crate::kube;
use crate::log;
use crate::settings::Settings;

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

/// What this invocation runs, and how.
struct Work {
    /// The controllers to run, in order, each with its snapshots.
    controllers: Vec<(Controller, Snapshots)>,
    /// `run`'s plan format; `None` under shell-operator, which must see nothing on stdout.
    output: Option<OutputFormat>,
    remove_all: bool,
    /// `run` by hand rather than a hook run.
    manual: bool,
    /// `run --dry-run` is a promise to write nothing: it overrides every shadow-mode setting, false ones
    /// included.
    forced_dry_run: bool,
}

impl Work {
    fn options(&self, controller: Controller, settings: &Settings) -> RunOptions {
        let dry_run = self.forced_dry_run || controller.shadow(settings);
        RunOptions {
            dry_run,
            remove_all: self.remove_all,
            plan_as_text: self.output == Some(OutputFormat::Text) || (!self.manual && dry_run),
            plan_as_json: self.output == Some(OutputFormat::Json),
        }
    }
}

/// Hook mode (no subcommand) or `run`.
pub fn run(cli: Cli) -> ExitCode {
    let settings = match load_settings(&cli) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let mut work = match work_list(cli.command, &settings) {
        Ok(work) => work,
        Err(code) => return code,
    };
    let Some(&(first, _)) = work.controllers.first() else {
        log::info("no controller to run", &[]);
        return ExitCode::Done;
    };

    let started = Instant::now();
    let deadline = Deadline::after(settings.tick_timeout);
    exit_if_overrun(deadline, started);
    let tick = match Tick::connect(&settings, deadline) {
        Ok(tick) => tick,
        Err(error) => {
            log::error(
                &error_chain::render_anyhow(&error),
                &[("phase", json!("connect"))],
            );
            return ExitCode::TickFailed;
        }
    };

    let mut report = Report::new(&work, first);
    let mut failed = false;
    for (controller, snapshots) in std::mem::take(&mut work.controllers) {
        failed |= !run_controller(&tick, &settings, &work, controller, snapshots, &mut report);
    }
    failed |= !report.write_metrics();
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

/// How long past its deadline a tick may still be running before the process ends itself.
const OVERRUN_GRACE: Duration = Duration::from_secs(1);

/// Ends the process if the tick is still running [`OVERRUN_GRACE`] after its deadline. Every request is bounded
/// by the deadline, but the bound is the HTTP client's timeout, and one long wait can overshoot it: a hung
/// Prometheus held a single 25 s attempt 1.3-2 s past ureq's global timeout on our CI machine (6 s: +0.04 s,
/// 15 s: +0.2 s). shell-operator kills a hook still running at the end of its 30 s shutdown budget; leaving
/// here, with a message, is the same exit a failed tick makes (non-zero: shell-operator drops the metrics file).
fn exit_if_overrun(deadline: Deadline, started: Instant) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline.remaining() + OVERRUN_GRACE);
        log::error(
            "the tick ran past its deadline (TICK_TIMEOUT): ending it before shell-operator would kill it; \
             the next tick decides again from what the API server holds",
            &[("seconds", json!(started.elapsed().as_secs_f64()))],
        );
        std::process::exit(ExitCode::TickFailed as i32);
    });
}

/// The checked settings, their warnings logged; a usage error when they are wrong.
fn load_settings(cli: &Cli) -> Result<Settings, ExitCode> {
    let prometheus_required = !matches!(&cli.command, Some(Command::Run(args)) if args.remove_all);
    let settings = match Settings::from_raw(&cli.settings, prometheus_required) {
        Ok(settings) => settings,
        Err(error) => {
            log::error(&error.to_string(), &[]);
            return Err(ExitCode::Usage);
        }
    };
    for warning in &settings.warnings {
        log::warn(warning, &[("phase", json!("settings"))]);
    }
    Ok(settings)
}

/// What to run: the binding context's controllers in hook mode, `run`'s otherwise.
fn work_list(command: Option<Command>, settings: &Settings) -> Result<Work, ExitCode> {
    match command {
        None => Ok(Work {
            controllers: hook_work(settings)?,
            output: None,
            remove_all: false,
            manual: false,
            forced_dry_run: false,
        }),
        Some(Command::Run(args)) => run_work(args, settings),
        Some(Command::Replay(_)) => {
            log::error(
                "`replay` is not a tick: app.rs runs it (this is a bug)",
                &[],
            );
            Err(ExitCode::Usage)
        }
    }
}

/// `run [CONTROLLER]...`: the controllers named (each once, in running order), or every enabled one.
fn run_work(args: RunArgs, settings: &Settings) -> Result<Work, ExitCode> {
    let controllers = if args.controllers.is_empty() {
        enabled(settings)
    } else {
        let mut chosen = args.controllers.clone();
        chosen.sort();
        chosen.dedup();
        chosen
    };
    if args.remove_all && controllers != [Controller::TaintNodes] {
        log::error("--remove-all goes with `run taint-nodes` alone", &[]);
        return Err(ExitCode::Usage);
    }
    Ok(Work {
        controllers: controllers
            .into_iter()
            .map(|c| (c, Snapshots::default()))
            .collect(),
        output: Some(args.output),
        remove_all: args.remove_all,
        manual: true,
        forced_dry_run: args.dry_run,
    })
}

/// The controllers to run for this binding context, each with its newest snapshots.
fn hook_work(settings: &Settings) -> Result<Vec<(Controller, Snapshots)>, ExitCode> {
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
    for (controller, snapshots, setting) in [
        (Controller::TaintNodes, run.taint_nodes, "TAINT_ENABLED"),
        (Controller::ResizePods, run.resize_pods, "RESIZE_ENABLED"),
    ] {
        let Some(snapshots) = snapshots else { continue };
        if controller.enabled(settings) {
            work.push((controller, snapshots));
        } else {
            log::warn(
                &format!(
                    "{} is disabled ({setting}=false): skipped",
                    controller.binding()
                ),
                &[],
            );
        }
    }
    Ok(work)
}

fn enabled(settings: &Settings) -> Vec<Controller> {
    Controller::ALL
        .into_iter()
        .filter(|controller| controller.enabled(settings))
        .collect()
}

/// The metrics of the tick and where they go.
struct Report {
    metrics: Metrics,
    metrics_path: Option<PathBuf>,
    /// Counter totals are kept on our own pod, so only under shell-operator: `run` writes nothing it was not
    /// asked to, and its counts would mean nothing to a Prometheus that never scraped them.
    count: bool,
    own_pod: Option<OwnPod>,
}

impl Report {
    fn new(work: &Work, first: Controller) -> Report {
        let metrics_path = std::env::var_os("METRICS_PATH").map(PathBuf::from);
        let count = !work.manual && metrics_path.is_some();
        let own_pod = if count { OwnPod::from_env() } else { None };
        Report {
            metrics: Metrics::new(first.binding()),
            metrics_path,
            count,
            own_pod,
        }
    }

    /// Writes METRICS_PATH, if set; false when that failed (logged).
    fn write_metrics(&self) -> bool {
        if let Some(path) = &self.metrics_path
            && let Err(error) = self.metrics.write_to(path)
        {
            log::error(&format!("{error:#}"), &[]);
            return false;
        }
        true
    }
}

/// What a controller's run cost: requests, queries, time.
struct Cost {
    requests: BTreeMap<(String, String), u64>,
    queries: u64,
    started: Instant,
}

/// Runs one controller and reports it: logs, plan, metrics, counters. True when it succeeded.
fn run_controller(
    tick: &Tick,
    settings: &Settings,
    work: &Work,
    controller: Controller,
    snapshots: Snapshots,
    report: &mut Report,
) -> bool {
    let name = controller.binding();
    let metrics = &mut report.metrics;
    metrics.now_running(name);
    let options = work.options(controller, settings);
    let started = Instant::now();
    let requests_before = tick.kube.stats();
    let queries_before = tick.prometheus_queries();
    let result = controller.run(tick, settings, snapshots, options, metrics);
    // Rejected Events are counted by the controller whose run posted them (controllers run one after another),
    // before its totals are saved.
    for (code, count) in tick.take_events_rejected() {
        metrics.counter(
            "events_rejected_total",
            count as f64,
            &[("controller", name), ("code", &code)],
        );
    }
    if report.count {
        save_counters(tick, report.own_pod.as_ref(), controller, metrics);
    }
    let cost = Cost {
        requests: requests_since(&tick.kube.stats(), &requests_before),
        queries: tick.prometheus_queries() - queries_before,
        started,
    };
    let ok = match result {
        Ok(outcome) => {
            report_outcome(tick, work, name, options.dry_run, &outcome, &cost, metrics);
            outcome.ok()
        }
        Err(error) => {
            log::error(
                &error_chain::render_anyhow(&error),
                &[("controller", json!(name)), ("phase", json!("tick"))],
            );
            false
        }
    };
    report_cost(&cost, options.dry_run, metrics);
    ok
}

/// The plan (printed, or logged in shadow mode), failures, the writes' gauges and the "tick done" line.
fn report_outcome(
    tick: &Tick,
    work: &Work,
    name: &str,
    dry_run: bool,
    outcome: &Outcome,
    cost: &Cost,
    metrics: &mut Metrics,
) {
    print_plan(work.output, outcome);
    if !work.manual && dry_run && !outcome.plan_text.is_empty() {
        log_shadow_plan(name, &outcome.plan_text);
    }
    for failure in &outcome.failures {
        log::error(failure, &[("controller", json!(name))]);
    }
    if let Some(reason) = &outcome.refused {
        log::error(reason, &[("controller", json!(name))]);
    }
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
    // No failure metrics: shell-operator drops the metrics file of a run that exits non-zero, as any failure
    // makes this one. Failures show in shell_operator_hook_run_allowed_errors_total and the log.
    if outcome.ok() {
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
            ("prometheus_queries", json!(cost.queries)),
            ("api_requests", json!(cost.requests.values().sum::<u64>())),
            ("seconds", json!(cost.started.elapsed().as_secs_f64())),
        ],
    );
}

/// The run's duration, queries and requests, succeeded or not.
fn report_cost(cost: &Cost, dry_run: bool, metrics: &mut Metrics) {
    let dry_label = if dry_run { "true" } else { "false" };
    metrics.gauge(
        "tick_duration_seconds",
        cost.started.elapsed().as_secs_f64(),
        &[("dry_run", dry_label)],
    );
    metrics.gauge("tick_prometheus_queries", cost.queries as f64, &[]);
    for ((verb, resource), count) in &cost.requests {
        metrics.gauge(
            "tick_api_requests",
            *count as f64,
            &[("verb", verb), ("resource", resource)],
        );
    }
}

fn requests_since(
    now: &kube::RequestStats,
    before: &kube::RequestStats,
) -> BTreeMap<(String, String), u64> {
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
    controller: Controller,
    metrics: &mut Metrics,
) {
    let name = controller.binding();
    let increments = metrics.increments(name);
    let saving = match own_pod {
        Some(pod) => counters::save(&tick.kube, pod, name, &increments, tick.deadline),
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
        log::warn(problem, &[("controller", json!(name))]);
    }
    metrics.gauge("counters_saved", if saving.saved { 1.0 } else { 0.0 }, &[]);
    if let Some(totals) = &saving.export {
        metrics.export_counters(totals);
    }
}

/// `run` prints the plan on stdout; the hook prints nothing there (shell-operator would log it as output).
fn print_plan(output: Option<OutputFormat>, outcome: &Outcome) {
    match output {
        Some(OutputFormat::Text) => print!("{}", outcome.plan_text),
        Some(OutputFormat::Json) => println!("{}", outcome.plan_json),
        None => {}
    }
}
