//! Dispatch: `--config`, hook mode (no arguments) or `run`. Turns every outcome into an exit code and prints
//! errors once, with their whole cause chain.

use std::ffi::OsString;

use clap::Parser;
use serde_json::json;

use crate::cli::{Cli, Command};
use crate::exit::ExitCode;
use crate::hook;
use crate::log;
use crate::settings::hook_config;

/// Runs the program with `args` (the first one is the program name) and the process environment.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version to stdout with success, usage errors to stderr.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Done
            };
        }
    };
    log::init(
        log::Format::parse(&cli.settings.log_type),
        log::Level::parse(&cli.settings.log_level).unwrap_or(log::Level::Info),
    );

    if cli.config {
        return print_config(&cli);
    }
    if let Some(Command::Replay(replay)) = &cli.command {
        return crate::replay_command::run(&args, &cli.settings, replay);
    }
    crate::tick::run(cli)
}

fn print_config(cli: &Cli) -> ExitCode {
    match hook_config(&cli.settings) {
        Ok(settings) => {
            print!("{}", hook::config::render(&settings));
            ExitCode::Done
        }
        Err(error) => {
            log::error(&error.to_string(), &[("phase", json!("--config"))]);
            ExitCode::Usage
        }
    }
}
