//! The right-sizing comparison of issue 18 on every workload shape: what the VPA model, the seed hook's rule and no
//! resizing reserve and cost, computed in the rig without Prometheus.
//!
//! ```text
//! thermostat-rightsizing-models [--days 4] [--seed 42] [--tick-minutes 2] [--binary target/release/kube-thermostat]
//!     [--compare ENV=VALUE ...] [--annotated] [--shapes daily-cycle,batch]
//! ```
//!
//! With `--binary`, kube-thermostat itself is a fourth arm in the same loop ([`Thermostat`]): the real binary at
//! every tick against a real Prometheus and the API stand-in (minutes per shape and day). `--compare` adds an arm
//! with other settings; `--annotated` one with the shape's suggested pod annotations ([`shapes::Shape::annotations`]),
//! on the shapes that have some.

use anyhow::{Context, Result, bail};
use thermostat_rig::rightsizing::seed::SeedRule;
use thermostat_rig::rightsizing::simulate::{NoResizing, Outcome, Policy, Settings, simulate};
use thermostat_rig::rightsizing::thermostat::Thermostat;
use thermostat_rig::rightsizing::vpa::VpaModel;
use thermostat_rig::rightsizing::{MIB, Sizes, shapes};

struct Args {
    settings: Settings,
    seed: u64,
    binary: Option<std::path::PathBuf>,
    shapes: Option<Vec<String>>,
    /// Settings of a second kube-thermostat arm (`--compare ENV=VALUE`, repeated).
    compare: Vec<(String, String)>,
    /// An arm with each shape's suggested annotations (`--annotated`).
    annotated: bool,
    /// Where the table goes between `<!-- rightsizing:begin/end -->` markers.
    markdown: Option<std::path::PathBuf>,
    /// Where the figures go as tab-separated values, for `scripts/rightsizing-plot.sh`.
    tsv: Option<std::path::PathBuf>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut parsed = Args {
        settings: Settings::default(),
        seed: 42,
        binary: None,
        shapes: None,
        compare: Vec::new(),
        annotated: false,
        markdown: None,
        tsv: None,
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--days" => parsed.settings.days = parse(&flag, &value()?)?,
            "--seed" => parsed.seed = parse(&flag, &value()?)?,
            "--tick-minutes" => parsed.settings.tick_minutes = parse(&flag, &value()?)?,
            "--binary" => parsed.binary = Some(std::fs::canonicalize(value()?)?),
            "--compare" => {
                let setting = value()?;
                let (key, value) = setting
                    .split_once('=')
                    .with_context(|| format!("--compare {setting:?}: expected ENV=VALUE"))?;
                parsed.compare.push((key.to_string(), value.to_string()));
            }
            "--annotated" => parsed.annotated = true,
            "--markdown" => parsed.markdown = Some(value()?.into()),
            "--tsv" => parsed.tsv = Some(value()?.into()),
            "--shapes" => {
                parsed.shapes = Some(value()?.split(',').map(str::to_string).collect());
            }
            _ => bail!(
                "unknown argument {flag:?}: expected --days, --seed, --tick-minutes, --binary, --compare, --annotated, --shapes, --markdown or --tsv"
            ),
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
    let Args {
        settings,
        seed,
        binary,
        shapes: only,
        compare,
        annotated,
        markdown,
        tsv,
    } = parse_args(args)?;
    let chosen = |shape: &shapes::Shape| {
        only.as_ref()
            .is_none_or(|o| o.iter().any(|n| n == shape.name))
    };
    let mut table = format!(
        "Right-sizing over {} days, one point a minute, a decision every {} minutes (seed {seed}).\n\n",
        settings.days, settings.tick_minutes
    );
    table.push_str(
        "| shape | policy | core-hours | GiB-hours | throttled min | OOM kills | resizes/container/day | \
         CPU req / limit at the end | memory req / limit at the end |\n|---|---|---:|---:|---:|---:|---:|---|---|\n",
    );
    let mut figures =
        String::from("# shape\tpolicy\tcore_hours\tgib_hours\tthrottled_minutes\toom_kills\n");
    for shape in shapes::all(seed).into_iter().filter(chosen) {
        let mut policies: Vec<Box<dyn Policy>> = Vec::new();
        if let Some(binary) = &binary {
            policies.push(Box::new(Thermostat::start(
                binary,
                &shape.initial,
                settings.days,
                &[],
                &[],
            )));
            if !compare.is_empty() {
                let env: Vec<(&str, &str)> = compare
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let settings_text: Vec<String> =
                    compare.iter().map(|(k, v)| format!("{k}={v}")).collect();
                policies.push(Box::new(
                    Thermostat::start(binary, &shape.initial, settings.days, &env, &[])
                        .named(&format!("kube-thermostat, {}", settings_text.join(" "))),
                ));
            }
            if annotated && !shape.annotations.is_empty() {
                policies.push(Box::new(
                    Thermostat::start(
                        binary,
                        &shape.initial,
                        settings.days,
                        &[],
                        shape.annotations,
                    )
                    .named("kube-thermostat, annotated"),
                ));
            }
        }
        policies.push(Box::new(VpaModel::default()));
        policies.push(Box::new(SeedRule::default()));
        policies.push(Box::new(NoResizing));
        for mut policy in policies {
            let outcome = simulate(&shape, policy.as_mut(), &settings);
            let line = row(&outcome);
            println!("{line}");
            table.push_str(&line);
            table.push('\n');
            figures.push_str(&format!(
                "{}\t{}\t{:.2}\t{:.2}\t{}\t{}\n",
                outcome.shape,
                outcome.policy,
                outcome.core_hours,
                outcome.gib_hours,
                outcome.throttled_minutes,
                outcome.oom_kills
            ));
        }
    }
    table.push_str("\nInitial sizes (what a team would have set):\n");
    for shape in shapes::all(seed).into_iter().filter(chosen) {
        table.push_str(&format!(
            "- {}: {} CPU, {} memory\n",
            shape.name,
            cpu(&shape.initial),
            memory(&shape.initial)
        ));
    }
    if annotated && binary.is_some() {
        table.push_str("\nThe annotated arm's pod annotations (under `kube-thermostat.io/`):\n");
        for shape in shapes::all(seed).into_iter().filter(chosen) {
            if shape.annotations.is_empty() {
                continue;
            }
            let names: Vec<String> = shape
                .annotations
                .iter()
                .map(|(name, value)| format!("`{name}: {value}`"))
                .collect();
            table.push_str(&format!("- {}: {}\n", shape.name, names.join(", ")));
        }
    }
    println!("\n{table}");
    if let Some(path) = &tsv {
        std::fs::write(path, &figures).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &markdown {
        thermostat_rig::report::splice_markdown(
            path,
            "rightsizing",
            "`make bench` (thermostat-rightsizing-models)",
            &table,
            &thermostat_rig::measure::machine(),
        )?;
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
