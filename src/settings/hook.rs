//! The settings of the hook and of a tick as a whole: the schedules `--config` prints, snapshots, which
//! controllers run, the tick's time budget, shadow mode and the log level.

use std::time::Duration;

use super::check::{Checker, SettingsError, parse_bool};
use super::names::{Name, name};
use crate::cli::RawSettings;
use crate::hook::config::HookConfig;
use crate::log::Level;

/// What `--config` needs. Checked on its own: nothing else may make `--config` fail.
pub fn hook_config(raw: &RawSettings) -> Result<HookConfig, SettingsError> {
    let mut check = Checker::default();
    let config = schedules(&mut check, raw);
    check.finish(config)
}

/// Only a bad schedule of an enabled controller is an error: shell-operator could not run it anyway. A bad
/// `SNAPSHOTS` or `*_ENABLED` falls back to its default here (the tick reports it).
pub(super) fn schedules(check: &mut Checker, raw: &RawSettings) -> HookConfig {
    let taint_enabled = parse_bool(&raw.taint_enabled).unwrap_or(true);
    let resize_enabled = parse_bool(&raw.resize_enabled).unwrap_or(true);
    let mut schedule = |enabled: bool, name: Name, value: &str| {
        if !enabled {
            return None;
        }
        // What shell-operator reads is what we print: the trimmed text.
        let value = value.trim();
        if let Err(why) = crate::hook::crontab::check(value) {
            check.reject(
                name,
                value,
                format!("{why}; must be a crontab as shell-operator reads it (robfig/cron v2)"),
            );
        }
        Some(value.to_owned())
    };
    let taint_schedule = schedule(taint_enabled, name!(taint_schedule), &raw.taint_schedule);
    let resize_schedule = schedule(resize_enabled, name!(resize_schedule), &raw.resize_schedule);
    HookConfig {
        taint_schedule,
        resize_schedule,
        snapshots: parse_bool(&raw.snapshots).unwrap_or(true),
    }
}

/// The tick's view of the hook: the schedules as `--config` judges them, and a bad `SNAPSHOTS` is an error.
pub(super) fn checked_hook_config(check: &mut Checker, raw: &RawSettings) -> HookConfig {
    let config = schedules(check, raw);
    HookConfig {
        snapshots: check.bool(name!(snapshots), &raw.snapshots),
        ..config
    }
}

/// Which controllers run, and whether each only shadows (decides and writes nothing).
pub(super) struct Switches {
    pub taint_enabled: bool,
    pub resize_enabled: bool,
    pub taint_dry_run: bool,
    pub resize_dry_run: bool,
}

pub(super) fn switches(check: &mut Checker, raw: &RawSettings) -> Switches {
    let taint_enabled = check.bool(name!(taint_enabled), &raw.taint_enabled);
    let resize_enabled = check.bool(name!(resize_enabled), &raw.resize_enabled);
    let dry_run = check.bool(name!(dry_run), &raw.dry_run);
    let taint_dry_run = match &raw.taint_dry_run {
        Some(value) => check.bool(name!(taint_dry_run), value),
        None => dry_run,
    };
    let resize_dry_run = match &raw.resize_dry_run {
        Some(value) => check.bool(name!(resize_dry_run), value),
        None => dry_run,
    };
    Switches {
        taint_enabled,
        resize_enabled,
        taint_dry_run,
        resize_dry_run,
    }
}

/// The wall-clock budget of one tick.
pub(super) fn tick_timeout(check: &mut Checker, raw: &RawSettings) -> Duration {
    check.duration(
        name!(tick_timeout),
        &raw.tick_timeout,
        Duration::from_secs(1),
    )
}

/// The log level was already applied (with a fallback) before the settings were checked; a bad one is still
/// an error of the tick.
pub(super) fn check_log_level(check: &mut Checker, raw: &RawSettings) {
    if Level::parse(&raw.log_level).is_none() {
        check.reject(
            name!(log_level),
            &raw.log_level,
            "must be debug, info, warn or error",
        );
    }
}
