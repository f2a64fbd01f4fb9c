//! The right-sizing models of issue 18 on every workload shape, without Prometheus: what the VPA model, the seed
//! hook's rule and no resizing reserve and cost. kube-thermostat's own arm runs through `kube-thermostat replay`
//! in the benchmark; this prints the comparison arms only.
//!
//! ```text
//! thermostat-rightsizing-models [--days 4] [--seed 42] [--tick-minutes 2]
//! ```

use anyhow::{Context, Result, bail};
use thermostat_rig::rightsizing::seed::SeedRule;
use thermostat_rig::rightsizing::simulate::{NoResizing, Outcome, Policy, Settings, simulate};
use thermostat_rig::rightsizing::vpa::VpaModel;
use thermostat_rig::rightsizing::{MIB, Sizes, shapes};

struct Args {
    settings: Settings,
    seed: u64,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut parsed = Args {
        settings: Settings::default(),
        seed: 42,
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--days" => parsed.settings.days = parse(&flag, &value()?)?,
            "--seed" => parsed.seed = parse(&flag, &value()?)?,
            "--tick-minutes" => parsed.settings.tick_minutes = parse(&flag, &value()?)?,
            _ => bail!("unknown argument {flag:?}: expected --days, --seed or --tick-minutes"),
        }
    }
    if parsed.settings.days == 0 || parsed.settings.tick_minutes == 0 {
        bail!("--days and --tick-minutes must be at least 1");
    }
    Ok(parsed)
}

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag} = {value:?}: must be a non-negative whole number"))
}

fn main() -> std::process::ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("thermostat-rightsizing-models: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(args: impl IntoIterator<Item = String>) -> Result<()> {
    let Args { settings, seed } = parse_args(args)?;
    println!(
        "Right-sizing models over {} days, one point a minute, a decision every {} minutes (seed {seed}).\n",
        settings.days, settings.tick_minutes
    );
    println!(
        "| shape | policy | core-hours | GiB-hours | throttled min | OOM kills | resizes/container/day | \
         CPU req / limit at the end | memory req / limit at the end |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|---|");
    for shape in shapes::all(seed) {
        let policies: [Box<dyn Policy>; 3] = [
            Box::new(VpaModel::default()),
            Box::new(SeedRule::default()),
            Box::new(NoResizing),
        ];
        for mut policy in policies {
            println!("{}", row(&simulate(&shape, policy.as_mut(), &settings)));
        }
    }
    println!("\nInitial sizes (what the team set):");
    for shape in shapes::all(seed) {
        println!(
            "- {}: {} CPU, {} memory",
            shape.name,
            cpu(&shape.initial),
            memory(&shape.initial)
        );
    }
    Ok(())
}

fn row(o: &Outcome) -> String {
    format!(
        "| {} | {} | {:.1} | {:.1} | {} | {} | {:.2} | {} | {} |",
        o.shape,
        o.policy,
        o.core_hours,
        o.gib_hours,
        o.throttled_minutes,
        o.oom_kills,
        o.resizes_per_day(),
        cpu(&o.last_sizes),
        memory(&o.last_sizes),
    )
}

fn cpu(s: &Sizes) -> String {
    let limit = s
        .cpu_limit_cores
        .map_or("none".to_string(), |l| format!("{:.0}m", l * 1000.0));
    format!("{:.0}m / {limit}", s.cpu_request_cores * 1000.0)
}

fn memory(s: &Sizes) -> String {
    let limit = s
        .memory_limit_bytes
        .map_or("none".to_string(), |l| format!("{:.0}Mi", l / MIB));
    format!("{:.0}Mi / {limit}", s.memory_request_bytes / MIB)
}
