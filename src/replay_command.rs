//! `kube-thermostat replay`: the settings (and `--compare`'s second set), the period, the objects, the replay
//! ([`crate::controller::replay`]), then the report printed and, with `--html`, written. One exit code.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use crate::cli::{Cli, Command, OutputFormat, RawSettings, ReplayArgs};
use crate::controller::Controller;
use crate::controller::context::{kube_client, prometheus_client, tick_clock};
use crate::controller::replay::{self, ReplayPlan, RunSpec, objects};
use crate::deadline::Deadline;
use crate::error_chain;
use crate::exit::ExitCode;
use crate::log;
use crate::replay::text;
use crate::settings::Settings;

/// Runs `replay` as typed (`args` is the whole command line, for `--compare`'s re-parse).
pub fn run(args: &[OsString], raw: &RawSettings, replay: &ReplayArgs) -> ExitCode {
    match replay_and_report(args, raw, replay) {
        Ok(()) => ExitCode::Done,
        Err(Failure::Usage(message)) => {
            log::error(&message, &[("phase", json!("replay"))]);
            ExitCode::Usage
        }
        Err(Failure::Failed(error)) => {
            log::error(
                &error_chain::render_anyhow(&error),
                &[("phase", json!("replay"))],
            );
            ExitCode::TickFailed
        }
    }
}

enum Failure {
    /// What was typed is wrong: nothing was read.
    Usage(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Failed(error)
    }
}

fn replay_and_report(
    args: &[OsString],
    raw: &RawSettings,
    typed: &ReplayArgs,
) -> Result<(), Failure> {
    let settings = settings(raw)?;
    let compared = match typed.compare.is_empty() {
        true => None,
        false => Some(compared_settings(args, &typed.compare)?),
    };
    let now = tick_clock().map_err(Failure::Failed)?;
    let (from, to) = period(typed, now).map_err(Failure::Usage)?;
    let every = match &typed.every {
        Some(text) => Some(replay::parse_period(text).ok_or_else(|| {
            Failure::Usage(format!("--every {text:?} is not a duration (e.g. 1m)"))
        })?),
        None => None,
    };
    let flap_window = replay::parse_period(&typed.flap_window).ok_or_else(|| {
        Failure::Usage(format!(
            "--flap-window {:?} is not a duration (e.g. 30m)",
            typed.flap_window
        ))
    })?;
    let controllers = controllers(&typed.controllers, &settings);
    let mut runs = vec![RunSpec {
        name: "as configured".to_string(),
        overrides: Vec::new(),
        settings: &settings,
        taint_schedule: raw.taint_schedule.clone(),
        resize_schedule: raw.resize_schedule.clone(),
    }];
    if let Some((compare_raw, compare_settings)) = &compared {
        runs.push(RunSpec {
            name: typed.compare.join(" "),
            overrides: typed.compare.clone(),
            settings: compare_settings,
            taint_schedule: compare_raw.taint_schedule.clone(),
            resize_schedule: compare_raw.resize_schedule.clone(),
        });
    }
    let prometheus = prometheus_client(&settings)?;
    let with_pods = controllers.contains(&Controller::ResizePods);
    let objects = match &typed.objects {
        Some(path) => objects::from_file(path, typed.server_minor)?,
        None => {
            let kube = kube_client(&settings)?;
            let deadline = Deadline::after(settings.tick_timeout.max(Duration::from_secs(60)));
            objects::from_cluster(&kube, &settings.resize, with_pods, deadline)?
        }
    };
    let plan = ReplayPlan {
        runs,
        controllers,
        from,
        to,
        every,
        flap_window,
        top: typed.top,
        now,
    };
    let report = replay::replay(&prometheus, objects, &plan)?;
    match typed.output {
        OutputFormat::Text => print!("{}", text::render(&report)),
        OutputFormat::Json => {
            let json = serde_json::to_string_pretty(&report).context("serializing the report")?;
            println!("{json}");
        }
    }
    if let Some(path) = &typed.html {
        std::fs::write(path, crate::replay::html::render(&report))
            .with_context(|| format!("writing the HTML report to {}", path.display()))?;
        log::info(
            &format!("HTML report written to {}", path.display()),
            &[("path", json!(path.display().to_string()))],
        );
    }
    Ok(())
}

fn settings(raw: &RawSettings) -> Result<Settings, Failure> {
    let settings = Settings::from_raw(raw, true).map_err(|e| Failure::Usage(e.to_string()))?;
    for warning in &settings.warnings {
        log::warn(warning, &[("phase", json!("settings"))]);
    }
    Ok(settings)
}

/// The settings with `--compare`'s `ENV=VALUE` pairs applied: the command line again, each pair appended as
/// its flag (clap lets the last one win), checked as any settings are.
fn compared_settings(
    args: &[OsString],
    pairs: &[String],
) -> Result<(RawSettings, Settings), Failure> {
    let command = Cli::command();
    let mut again: Vec<OsString> = args.to_vec();
    for pair in pairs {
        let Some((env, value)) = pair.split_once('=') else {
            return Err(Failure::Usage(format!(
                "--compare {pair:?}: expected ENV=VALUE, e.g. --compare CPU_THRESHOLD=75"
            )));
        };
        let flag = command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|e| e == env))
            .and_then(|arg| arg.get_long());
        let Some(flag) = flag else {
            return Err(Failure::Usage(format!(
                "--compare {pair:?}: {env} is not a setting (see --help for the environment names)"
            )));
        };
        again.push(format!("--{flag}={value}").into());
    }
    let cli = Cli::try_parse_from(&again).map_err(|e| Failure::Usage(format!("--compare: {e}")))?;
    let Some(Command::Replay(_)) = cli.command else {
        return Err(Failure::Usage(
            "--compare: the command line did not parse again".to_string(),
        ));
    };
    let settings = Settings::from_raw(&cli.settings, true)
        .map_err(|e| Failure::Usage(format!("--compare {}: {e}", pairs.join(" "))))?;
    Ok((cli.settings, settings))
}

/// `--from`/`--to` or `--last`, checked: a start before the end, neither in the future.
fn period(typed: &ReplayArgs, now: Timestamp) -> Result<(Timestamp, Timestamp), String> {
    let instant = |flag: &str, text: &str| -> Result<Timestamp, String> {
        text.parse::<Timestamp>().map_err(|e| {
            format!("{flag} {text:?} is not an RFC 3339 instant (e.g. 2026-12-01T00:00:00Z): {e}")
        })
    };
    let (from, to) = match (&typed.last, &typed.from) {
        (Some(last), _) => {
            let length = replay::parse_period(last)
                .ok_or_else(|| format!("--last {last:?} is not a duration (e.g. 24h, 7d)"))?;
            let seconds = i64::try_from(length.as_secs())
                .map_err(|_| format!("--last {last:?} is too long"))?;
            let from = Timestamp::from_second(now.as_second() - seconds)
                .map_err(|e| format!("--last {last:?}: {e}"))?;
            (from, now)
        }
        (None, Some(from)) => {
            let to = match &typed.to {
                Some(to) => instant("--to", to)?,
                None => now,
            };
            (instant("--from", from)?, to)
        }
        (None, None) => return Err("give the period: --last 24h, or --from T [--to T]".to_string()),
    };
    if from >= to {
        return Err(format!(
            "the period is empty: --from {from} is not before --to {to}"
        ));
    }
    if to > now {
        return Err(format!(
            "--to {to} is in the future (now is {now}): a replay reads recorded history"
        ));
    }
    Ok((from, to))
}

/// The controllers named (each once, in running order), else every enabled one, else both.
fn controllers(named: &[Controller], settings: &Settings) -> Vec<Controller> {
    if !named.is_empty() {
        let mut chosen = named.to_vec();
        chosen.sort();
        chosen.dedup();
        return chosen;
    }
    let enabled: Vec<Controller> = Controller::ALL
        .into_iter()
        .filter(|c| c.enabled(settings))
        .collect();
    if enabled.is_empty() {
        Controller::ALL.to_vec()
    } else {
        enabled
    }
}
