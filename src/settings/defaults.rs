//! The defaults the binary runs with are clap's (`src/cli.rs`): these tests prove that the pure core's
//! `Default`s, the clients' defaults and the README's settings table say the same.

use clap::{Args, Command, FromArgMatches};

use super::Settings;
use super::names::definition;
use crate::cli::RawSettings;
use crate::hook::config::HookConfig;
use crate::kube::RateLimit;
use crate::prometheus::PrometheusConfig;
use crate::resize::ResizePolicy;
use crate::taint::{SignalPolicy, TaintPolicy};

const PROMETHEUS_URL: &str = "http://prometheus:9090";

/// The settings as clap gives them with nothing set: its defaults, whatever the test process' environment says.
pub(super) fn clap_defaults() -> RawSettings {
    let command = RawSettings::augment_args(Command::new("kube-thermostat"))
        .mut_args(|arg| arg.env(None::<&str>));
    let matches = command.try_get_matches_from(["kube-thermostat"]).unwrap();
    RawSettings::from_arg_matches(&matches).unwrap()
}

/// The defaults plus the one setting a tick requires.
fn defaults_for_a_tick() -> Settings {
    let mut raw = clap_defaults();
    raw.prometheus_url = Some(PROMETHEUS_URL.into());
    Settings::from_raw(&raw, true).unwrap()
}

#[test]
fn the_policies_defaults_are_the_defaults_the_binary_runs_with() {
    let settings = defaults_for_a_tick();
    assert_eq!(settings.taint, TaintPolicy::default());
    assert_eq!(settings.resize.policy, ResizePolicy::default());
    assert_eq!(settings.kube.rate_limit, RateLimit::default());
    assert_eq!(
        settings.hook,
        HookConfig {
            taint_schedule: Some("* * * * *".into()),
            resize_schedule: Some("*/2 * * * *".into()),
            snapshots: true,
        }
    );
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn the_prometheus_clients_defaults_are_the_defaults_the_binary_runs_with() {
    let settings = defaults_for_a_tick().prometheus;
    let client = PrometheusConfig::new(PROMETHEUS_URL);
    assert_eq!(settings.url, client.url);
    assert_eq!(settings.timeout, client.query_timeout);
    assert_eq!(settings.retries, client.retries);
    assert_eq!(settings.max_response_bytes, client.max_response_bytes);
    assert_eq!(
        settings.insecure_skip_tls_verify,
        client.insecure_skip_verify
    );
    assert_eq!(settings.headers, client.headers);
    assert_eq!(settings.bearer_token_file, client.bearer_token_file);
    assert_eq!(settings.ca_file, client.ca_file);
    assert!(settings.basic_auth.is_none() && client.basic_auth.is_none());
    assert!(settings.client_cert.is_none() && client.client_cert_file.is_none());
}

#[test]
fn a_signal_policy_made_from_a_threshold_is_what_the_threshold_setting_gives() {
    // The untaint threshold's default once differed here: ten below in the core, never under half in settings.
    for threshold in [5.0, 12.0, 19.0, 20.0, 50.0, 80.0, 95.0] {
        let mut raw = clap_defaults();
        raw.prometheus_url = Some(PROMETHEUS_URL.into());
        raw.cpu_threshold = threshold.to_string();
        // A low CPU_THRESHOLD would otherwise be the containers' scale-up mark too, below their target.
        raw.resize_cpu_high = Some("90".into());
        raw.memory_threshold = Some(threshold.to_string());
        let taint = Settings::from_raw(&raw, true).unwrap().taint;
        assert_eq!(taint.cpu, Some(SignalPolicy::with_threshold(threshold)));
        assert_eq!(taint.memory, Some(SignalPolicy::with_threshold(threshold)));
    }
}

/// The README's settings table: `| `ENV` | `--flag` | default | meaning |` rows.
fn readme_rows() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    readme
        .lines()
        .filter(|line| line.starts_with("| `") && line.contains("| `--"))
        .map(|line| line.split('|').map(|cell| cell.trim().to_owned()).collect())
        .collect()
}

#[test]
fn the_readme_names_every_setting_with_clap_s_flag_and_default() {
    let rows = readme_rows();
    let mut disagreements = Vec::new();
    for arg in definition().get_arguments() {
        let flag = format!("`--{}`", arg.get_long().unwrap());
        let env = arg
            .get_env()
            .map(|env| format!("`{}`", env.to_str().unwrap()));
        let Some(row) = rows.iter().find(|row| row[2] == flag) else {
            disagreements.push(format!("{flag} is not in the README"));
            continue;
        };
        if let Some(env) = env
            && row[1] != env
        {
            disagreements.push(format!("{flag}: README says {}, clap {env}", row[1]));
        }
        let default = arg.get_default_values().first().and_then(|d| d.to_str());
        if let Some(default) = default.filter(|d| !d.is_empty())
            && !row[3].starts_with(&format!("`{default}`"))
        {
            disagreements.push(format!(
                "{flag}: README's default is {}, clap's `{default}`",
                row[3]
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
