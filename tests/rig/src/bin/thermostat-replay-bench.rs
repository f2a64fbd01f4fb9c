//! `make bench` (third part): what `kube-thermostat replay` costs over a day and a week of history of a large
//! cluster, at the default schedules (issue 17, "Cost"). See the section "Replay" of BENCHMARKS.md.
//!
//! ```text
//! thermostat-replay-bench --binary target/release/kube-thermostat [--measurer target/release/thermostat-bench]
//!                         [--sizes 1000x10000] [--days 1,7] [--quick] [--out DIR] [--markdown BENCHMARKS.md]
//!                         [--long-sets taint-nodes,resize-pods,both]
//! ```
//! Per size: the synthetic cluster (seed 42) as one `kind: List` objects file; per replay length its load
//! history (one sample a minute, from an hour before the period to its end) written as OpenMetrics, a day per
//! file, and backfilled with `promtool tsdb create-blocks-from openmetrics` into a TSDB cached under
//! `~/.cache/kube-thermostat/replay-bench/`; then a real Prometheus on that TSDB and, each under
//! `thermostat-bench __measure`, `replay taint-nodes`, `replay resize-pods` and `replay` (both), their JSON
//! reports checked against the generated truth (over 7 days, only `both` unless `--long-sets` says more).
//! `--quick` (a CI smoke): 20 nodes, 200 containers, 2 hours.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};
use thermostat_rig::measure::{self, ProcessCost, machine, prometheus_counters};
use thermostat_rig::prometheus::{
    MetricType, NodeHistory, OpenMetricsWriter, PodHistory, Profile, Prometheus, Series, Timeline,
};
use thermostat_rig::synthetic::{ContainerClass, NodeClass, NodeRole, Spec, SyntheticCluster};

/// Part of the cache key: bump it when the generated history changes (profiles, modulation, labels, step).
const GENERATOR_VERSION: u32 = 1;
/// The end of every replayed period, 2026-01-06T00:00:00Z: fixed, so a cached history stays usable. A UTC
/// midnight whose 25 hours before lie inside one 54-hour block range (ranges start at multiples of 54 h since
/// the epoch, prometheus: tsdb/compact.go `splitByRange`): a 24-hour history backfills into one block, which
/// Prometheus has nothing to compact.
const END_S: i64 = 1_767_657_600;
/// One sample a minute: a common scrape interval, and half the samples of the rig's usual 30 s.
const STEP_S: i64 = 60;
/// History before the period's first tick: its windows (rate 2 m, resize stabilization 30 m) read back.
const LEAD_S: i64 = 3600;
/// promtool's `--max-block-duration`. promtool parses its whole input once per block range it covers
/// (prometheus: cmd/promtool/backfill.go `createBlocks`), 13 times for a day at the default 2 h: at 54 h a day
/// file is read once or twice, its samples held in one block writer (a few hundred MB).
const BLOCK_DURATION: &str = "54h";
/// Kept longer than any cached history's age: at start Prometheus deletes blocks past its retention.
const RETENTION: &str = "3650d";
/// Modulation of the steady loads over a day (peak 14:00 UTC, trough 02:00): the lowest factor.
/// Cool nodes (8 to 60 % busy) swing down to 60 %: they stay far below the untaint threshold (70 %).
const COOL_NODE_LOW: f64 = 0.6;
/// Steady containers (40 to 62 % of their size, ±4 %) swing down to 90 %: at least 32 %, above the low mark (30 %).
const STEADY_CONTAINER_LOW: f64 = 0.9;
const SETS: [&str; 3] = ["taint-nodes", "resize-pods", "both"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(error) = bench(&args) {
        eprintln!("thermostat-replay-bench: {error:#}");
        std::process::exit(2);
    }
}

struct Options {
    binary: PathBuf,
    measurer: PathBuf,
    sizes: Vec<(usize, usize)>,
    /// Replay lengths, in hours.
    lengths_h: Vec<i64>,
    out: PathBuf,
    markdown: Option<PathBuf>,
    /// Controller sets replayed over lengths above a day (their replays take longest).
    long_sets: Vec<&'static str>,
    cache: PathBuf,
}

fn parse_sets(text: &str) -> anyhow::Result<Vec<&'static str>> {
    let sets: Vec<&'static str> = SETS
        .into_iter()
        .filter(|s| text.split(',').any(|w| w == *s))
        .collect();
    if sets.is_empty() {
        bail!("{text:?} names no controller set (taint-nodes, resize-pods, both)");
    }
    Ok(sets)
}

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let here = std::env::current_exe()?;
    let home =
        std::env::var("HOME").context("HOME is not set (the history cache lives under it)")?;
    let mut options = Options {
        binary: PathBuf::from("target/release/kube-thermostat"),
        measurer: here.with_file_name("thermostat-bench"),
        sizes: vec![(1_000, 10_000)],
        lengths_h: vec![24, 7 * 24],
        out: PathBuf::from("target/bench/replay"),
        markdown: None,
        // A week's replay takes minutes per controller set: only the one that runs both, by default.
        long_sets: vec!["both"],
        cache: Path::new(&home).join(".cache/kube-thermostat/replay-bench"),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value"))
                .cloned()
        };
        match arg.as_str() {
            "--binary" => options.binary = value()?.into(),
            "--measurer" => options.measurer = value()?.into(),
            "--out" => options.out = value()?.into(),
            "--markdown" => options.markdown = Some(value()?.into()),
            "--long-sets" => options.long_sets = parse_sets(&value()?).context("--long-sets")?,
            "--quick" => {
                options.sizes = vec![(20, 200)];
                options.lengths_h = vec![2];
            }
            "--days" => {
                options.lengths_h = value()?
                    .split(',')
                    .map(|d| {
                        let days: i64 = d.parse().with_context(|| format!("--days: {d:?}"))?;
                        if !(1..=30).contains(&days) {
                            bail!("--days: {days} is not 1 to 30");
                        }
                        Ok(days * 24)
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            "--sizes" => options.sizes = thermostat_rig::measure::parse_sizes(&value()?)?,
            other => {
                bail!(
                    "unknown argument {other:?} (see the comment atop thermostat-replay-bench.rs)"
                )
            }
        }
    }
    for (flag, path) in [
        ("--binary", &options.binary),
        ("--measurer", &options.measurer),
    ] {
        if !path.is_file() {
            bail!(
                "{flag} {}: no such file (cargo build --release)",
                path.display()
            );
        }
    }
    options.binary = std::fs::canonicalize(&options.binary)?;
    options.measurer = std::fs::canonicalize(&options.measurer)?;
    Ok(options)
}

// ---- Time ------------------------------------------------------------------------------------------------------

/// RFC 3339 of a unix second, UTC (the civil-from-days algorithm of Howard Hinnant's date library).
fn rfc3339(seconds: i64) -> String {
    thermostat_rig::apiserver::rfc3339(UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64))
}

fn length_text(hours: i64) -> String {
    if hours % 24 == 0 {
        format!("{} d", hours / 24)
    } else {
        format!("{hours} h")
    }
}

// ---- The history -----------------------------------------------------------------------------------------------

/// The load factor at unix second `at`: 1 at 14:00 UTC, `low` at 02:00, a cosine between.
fn daily_factor(at_s: f64, low: f64) -> f64 {
    let phase = (at_s - 14.0 * 3600.0) / 86_400.0 * std::f64::consts::TAU;
    low + (1.0 - low) * (1.0 + phase.cos()) / 2.0
}

/// `inner` with the daily modulation, on a timeline ending at `end_s` (profiles see the age before the end).
fn modulated(inner: &Profile, end_s: i64, length: Duration, low: f64) -> Profile {
    let inner = inner.clone();
    Profile::Custom(Arc::new(move |age: Duration| {
        inner.value(age, length) * daily_factor(end_s as f64 - age.as_secs_f64(), low)
    }))
}

/// The families of the generated history, in file order, and whether they are counters.
const NODE_FAMILIES: [(&str, MetricType); 3] = [
    ("node_cpu_seconds_total", MetricType::Counter),
    ("node_memory_MemTotal_bytes", MetricType::Gauge),
    ("node_memory_MemAvailable_bytes", MetricType::Gauge),
];
const POD_FAMILIES: [(&str, MetricType); 2] = [
    ("container_cpu_usage_seconds_total", MetricType::Counter),
    ("container_memory_working_set_bytes", MetricType::Gauge),
];

/// Counters continued from one file to the next: each file's timeline starts its counters afresh, so each
/// series is shifted to go on from where the previous file left it (a drop would read as a counter reset).
#[derive(Default)]
struct Carry {
    /// Per counter family, each series' last value, in generation order.
    last: BTreeMap<&'static str, Vec<f64>>,
}

/// Writes the samples of one file's `timeline` to `writer`: every family's series together, the nodes' and
/// pods' histories generated once per family (regenerating is cheaper than holding a day of series).
/// `continues`: an earlier file ended at this timeline's first sample, which is then left out.
fn write_history_file(
    generated: &SyntheticCluster,
    timeline: &Timeline,
    continues: bool,
    carry: &mut Carry,
    writer: &mut OpenMetricsWriter<BufWriter<std::fs::File>>,
) -> anyhow::Result<()> {
    let end_s = timeline.end_ms / 1000;
    let length = timeline.length;
    let first_ms = timeline.end_ms - length.as_millis() as i64;
    let from_ms = if continues { first_ms + 1 } else { first_ms };
    let nodes: Vec<NodeHistory> = generated
        .nodes
        .iter()
        .map(|node| {
            let mut history = node.history.clone();
            if node.class == NodeClass::Cool && node.role == NodeRole::Worker {
                history.cpu_busy = modulated(&history.cpu_busy, end_s, length, COOL_NODE_LOW);
            }
            history
        })
        .collect();
    let pods: Vec<PodHistory> = generated
        .pods
        .iter()
        .map(|pod| {
            let mut history = pod.history.clone();
            for container in &mut history.containers {
                let id = (
                    history.namespace.clone(),
                    history.pod.clone(),
                    container.name.clone(),
                );
                let steady = generated.truth.containers.get(&id).is_some_and(|t| {
                    matches!(t.class, ContainerClass::Steady | ContainerClass::Steered)
                });
                if steady {
                    container.cpu_cores =
                        modulated(&container.cpu_cores, end_s, length, STEADY_CONTAINER_LOW);
                }
            }
            history
        })
        .collect();
    let mut family_pass = |name: &'static str,
                           kind: MetricType,
                           histories: &mut dyn Iterator<Item = Vec<Series>>|
     -> anyhow::Result<()> {
        writer.family(name, kind)?;
        let last = carry.last.entry(name).or_default();
        let mut index = 0;
        for series in histories {
            for mut series in series
                .into_iter()
                .filter(|s| s.label("__name__") == Some(name))
            {
                if kind == MetricType::Counter {
                    if continues {
                        let start = series.samples.first().map_or(0.0, |s| s.1);
                        let shift = last.get(index).copied().unwrap_or(start) - start;
                        for sample in &mut series.samples {
                            sample.1 += shift;
                        }
                    }
                    let end = series.samples.last().map_or(0.0, |s| s.1);
                    match last.get_mut(index) {
                        Some(value) => *value = end,
                        None => last.push(end),
                    }
                    index += 1;
                }
                writer.series(&series, from_ms)?;
            }
        }
        Ok(())
    };
    for (name, kind) in NODE_FAMILIES {
        family_pass(name, kind, &mut nodes.iter().map(|n| n.series(timeline)))?;
    }
    for (name, kind) in POD_FAMILIES {
        family_pass(name, kind, &mut pods.iter().map(|p| p.series(timeline)))?;
    }
    Ok(())
}

/// How a cached history was built.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DataBuild {
    nodes: usize,
    containers: usize,
    hours: i64,
    files: usize,
    samples: u64,
    /// OpenMetrics text written, all files.
    text_bytes: u64,
    write_s: f64,
    promtool: ProcessCost,
    /// promtool wall time over all files (`promtool` holds the costliest file's RSS).
    promtool_wall_s: f64,
    promtool_cpu_s: f64,
    blocks_written: usize,
    /// Waiting for Prometheus' first compaction of the backfilled blocks (0 when one block: nothing to do).
    settle_s: f64,
    blocks: usize,
    tsdb_bytes: u64,
    /// Reused from the cache by this run.
    #[serde(default)]
    cached: bool,
}

fn blocks_in(tsdb: &Path) -> anyhow::Result<usize> {
    let mut blocks = 0;
    for entry in std::fs::read_dir(tsdb)? {
        let entry = entry?;
        blocks += usize::from(entry.path().join("meta.json").is_file());
    }
    Ok(blocks)
}

fn bytes_under(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| bytes_under(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
    } else {
        meta.len()
    }
}

/// The history of `hours` (plus [`LEAD_S`]) ending at [`END_S`] as a TSDB: from the cache, else built there.
fn history_tsdb(
    options: &Options,
    generated: &SyntheticCluster,
    hours: i64,
) -> anyhow::Result<(PathBuf, DataBuild)> {
    let (nodes, containers) = (generated.spec.nodes, generated.spec.containers);
    let dir = options.cache.join(format!(
        "{nodes}x{containers}-{hours}h-step{STEP_S}s-v{GENERATOR_VERSION}-end{END_S}"
    ));
    let tsdb = dir.join("tsdb");
    let complete = dir.join("complete");
    if complete.is_file() {
        let mut build: DataBuild = serde_json::from_slice(&std::fs::read(&complete)?)
            .with_context(|| format!("reading {}", complete.display()))?;
        build.cached = true;
        eprintln!("   history cached in {}", dir.display());
        return Ok((tsdb, build));
    }
    // Whatever an interrupted build left is thrown away.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&tsdb).with_context(|| format!("creating {}", tsdb.display()))?;
    let mut build = DataBuild {
        nodes,
        containers,
        hours,
        ..DataBuild::default()
    };
    // One file per day, from the end back; the first (oldest) also holds the lead.
    let start_s = END_S - hours * 3600 - LEAD_S;
    let mut bounds: Vec<i64> = (0..)
        .map(|k| END_S - k * 86_400)
        .take_while(|b| *b > start_s + LEAD_S)
        .collect();
    bounds.push(start_s);
    bounds.reverse();
    let mut carry = Carry::default();
    for (index, pair) in bounds.windows(2).enumerate() {
        let (from_s, to_s) = (pair[0], pair[1]);
        let file = dir.join(format!("history-{index}.om"));
        let clock = Instant::now();
        let timeline = Timeline {
            end_ms: to_s * 1000,
            step: Duration::from_secs(STEP_S as u64),
            length: Duration::from_secs((to_s - from_s) as u64),
        };
        let out =
            std::fs::File::create(&file).with_context(|| format!("creating {}", file.display()))?;
        let mut writer = OpenMetricsWriter::new(BufWriter::with_capacity(4 << 20, out));
        write_history_file(generated, &timeline, index > 0, &mut carry, &mut writer)?;
        build.samples += writer.samples();
        writer.finish()?;
        build.write_s += clock.elapsed().as_secs_f64();
        let text_bytes = std::fs::metadata(&file)?.len();
        build.text_bytes += text_bytes;
        eprintln!(
            "   {} to {}: {:.1} GB of OpenMetrics written in {:.0} s; promtool...",
            rfc3339(from_s),
            rfc3339(to_s),
            text_bytes as f64 / 1e9,
            clock.elapsed().as_secs_f64()
        );
        let measured = dir.join("promtool-cost.json");
        let status = Command::new(&options.measurer)
            .arg("__measure")
            .arg(&measured)
            .args(["promtool", "tsdb", "create-blocks-from", "openmetrics"])
            .arg(format!("--max-block-duration={BLOCK_DURATION}"))
            .arg("--quiet")
            .arg(&file)
            .arg(&tsdb)
            .stdout(Stdio::null())
            .status()
            .context("running promtool (apt-get install prometheus)")?;
        let cost = measure::read_cost(&measured);
        if !status.success() {
            bail!(
                "promtool tsdb create-blocks-from openmetrics {} failed ({status})",
                file.display()
            );
        }
        std::fs::remove_file(&file)?;
        eprintln!(
            "   promtool: {:.0} s, {:.0} s CPU, {:.0} MB peak",
            cost.wall_s, cost.cpu_s, cost.max_rss_mb
        );
        build.promtool_wall_s += cost.wall_s;
        build.promtool_cpu_s += cost.cpu_s;
        if cost.max_rss_mb >= build.promtool.max_rss_mb {
            build.promtool = cost;
        }
        build.files += 1;
    }
    build.blocks_written = blocks_in(&tsdb)?;
    if build.blocks_written > 1 {
        build.settle_s = settle_compaction(&tsdb)?;
    }
    build.blocks = blocks_in(&tsdb)?;
    build.tsdb_bytes = bytes_under(&tsdb);
    // Last: a build interrupted before this line is rebuilt.
    std::fs::write(&complete, serde_json::to_vec_pretty(&build)?)?;
    Ok((tsdb, build))
}

/// A counter or gauge of Prometheus' own /metrics (summed over its series).
fn own_metric(base_url: &str, name: &str) -> f64 {
    let text = ureq::get(&format!("{base_url}/metrics"))
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Lets Prometheus compact the backfilled blocks once, so that no measured replay shares the machine with a
/// compaction. Its TSDB loop triggers the first compaction a minute after start and runs it to the end (every
/// plan, level after level) before it waits the next minute (prometheus: tsdb/db.go `DB.run`): the second
/// trigger means the first round is done, and a TSDB without a head has nothing left to compact.
fn settle_compaction(tsdb: &Path) -> anyhow::Result<f64> {
    let clock = Instant::now();
    let prometheus = Prometheus::builder()
        .existing_tsdb(tsdb)
        .retention_time(RETENTION)
        .start()?;
    eprintln!(
        "   {} blocks: waiting for Prometheus' compaction...",
        blocks_in(tsdb)?
    );
    while own_metric(
        &prometheus.url(),
        "prometheus_tsdb_compactions_triggered_total",
    ) < 2.0
    {
        if clock.elapsed() > Duration::from_secs(3600) {
            bail!(
                "Prometheus did not finish compacting {} within an hour; log:\n{}",
                tsdb.display(),
                prometheus.log_tail()
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let failed = own_metric(
        &prometheus.url(),
        "prometheus_tsdb_compactions_failed_total",
    );
    if failed > 0.0 {
        bail!(
            "Prometheus failed to compact {}; log:\n{}",
            tsdb.display(),
            prometheus.log_tail()
        );
    }
    let seconds = clock.elapsed().as_secs_f64();
    eprintln!(
        "   compacted to {} blocks in {seconds:.0} s",
        blocks_in(tsdb)?
    );
    Ok(seconds)
}

// ---- The objects -----------------------------------------------------------------------------------------------

/// What `kubectl get nodes,pods,namespaces,hpa -A -o json` writes: one `kind: List`.
fn write_objects(generated: &SyntheticCluster, path: &Path) -> anyhow::Result<()> {
    let items: Vec<&Value> = generated
        .nodes
        .iter()
        .map(|n| &n.object)
        .chain(generated.pods.iter().map(|p| &p.object))
        .chain(&generated.namespaces)
        .chain(&generated.hpas)
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    serde_json::to_writer(BufWriter::new(file), &list)?;
    Ok(())
}

// ---- One measured replay ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize)]
struct Run {
    nodes: usize,
    containers: usize,
    hours: i64,
    set: String,
    cost: ProcessCost,
    prom_queries: u64,
    prom_server_s: f64,
    prom_bytes_out: u64,
    /// The report's own count of its queries.
    report_queries: u64,
    taint_ticks: Option<u64>,
    resize_ticks: Option<u64>,
    outcome: Vec<String>,
    problems: Vec<String>,
    stderr_tail: String,
}

fn replay(
    options: &Options,
    prometheus: &Prometheus,
    generated: &SyntheticCluster,
    objects: &Path,
    hours: i64,
    set: &str,
) -> anyhow::Result<Run> {
    let dir = options.out.join(format!(
        "{}x{}-{hours}h",
        generated.spec.nodes, generated.spec.containers
    ));
    std::fs::create_dir_all(&dir)?;
    let measured = dir.join(format!("{set}.cost.json"));
    let report_path = dir.join(format!("{set}.report.json"));
    let log_path = dir.join(format!("{set}.stderr"));
    let _ = std::fs::remove_file(&measured);
    let mut command = Command::new(&options.measurer);
    command
        .arg("__measure")
        .arg(&measured)
        .arg(&options.binary)
        .arg("replay");
    if set != "both" {
        command.arg(set);
    }
    command
        .arg("--objects")
        .arg(objects)
        .args(["--from", &rfc3339(END_S - hours * 3600)])
        .args(["--to", &rfc3339(END_S)])
        .args(["--output", "json"])
        // Defaults for everything but the server: nothing from the shell that runs the bench.
        .env_clear()
        .env("PROMETHEUS_URL", prometheus.url())
        .stdout(std::fs::File::create(&report_path)?)
        .stderr(std::fs::File::create(&log_path)?);
    let before = prometheus_counters(&prometheus.url());
    let status = command.status().context("running the measured replay")?;
    let prom = prometheus_counters(&prometheus.url()).since(&before);
    let mut run = Run {
        nodes: generated.spec.nodes,
        containers: generated.spec.containers,
        hours,
        set: set.to_owned(),
        cost: measure::read_cost(&measured),
        prom_queries: prom.queries.round() as u64,
        prom_server_s: prom.seconds,
        prom_bytes_out: prom.bytes.round() as u64,
        ..Run::default()
    };
    let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
    run.stderr_tail = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
    if !status.success() {
        run.problems.push(format!(
            "replay exited {:?}: {}",
            status.code(),
            run.stderr_tail
        ));
        return Ok(run);
    }
    let report: Value =
        serde_json::from_reader(std::io::BufReader::new(std::fs::File::open(&report_path)?))
            .with_context(|| format!("{} is not JSON", report_path.display()))?;
    run.report_queries = report["queries"].as_u64().unwrap_or(0);
    check_report(&report, generated, hours, set, &mut run);
    Ok(run)
}

// ---- The outcome -----------------------------------------------------------------------------------------------

fn gaps_problem(part: &Value, controller: &str) -> Option<String> {
    let gaps = part["gaps"].as_array().map(Vec::len).unwrap_or(0);
    (gaps > 0).then(|| format!("{controller}: {gaps} gaps: {}", part["gaps"][0]))
}

/// Checks the report against the generated truth. Nodes: the hot workers stay hot all day and the rest stay
/// below the threshold, so the replay taints exactly the hot workers (up to the cap) once and never untaints.
/// Containers: every hot one is scaled up; idle ones may shrink but never end above their size; the others
/// (near the threshold, flapping, steady, steered by an HPA) keep theirs; memory is not resized (RESIZE_MEMORY
/// is off by default).
fn check_report(
    report: &Value,
    generated: &SyntheticCluster,
    hours: i64,
    set: &str,
    run: &mut Run,
) {
    let run_report = &report["runs"][0];
    let truth = &generated.truth;
    if set != "resize-pods" {
        let part = &run_report["taint_nodes"];
        if part.is_null() {
            run.problems.push("no taint_nodes report".into());
        } else {
            run.problems.extend(gaps_problem(part, "taint-nodes"));
            let ticks = part["ticks"].as_u64().unwrap_or(0);
            run.taint_ticks = Some(ticks);
            // `* * * * *`: every minute of the period.
            if (ticks as i64) < hours * 60 {
                run.problems.push(format!(
                    "taint-nodes: {ticks} ticks, fewer than one a minute"
                ));
            }
            let hot = truth.hot_nodes();
            let cap = (0.3 * truth.eligible_nodes() as f64).floor() as usize;
            let mut last_action: BTreeMap<&str, &str> = BTreeMap::new();
            let changes = part["changes"].as_array().cloned().unwrap_or_default();
            for change in &changes {
                let node = change["node"].as_str().unwrap_or_default();
                if !hot.contains(node) {
                    run.problems.push(format!(
                        "taint-nodes: {node} changed ({} at {}) but is not a hot worker",
                        change["action"], change["at"]
                    ));
                }
            }
            for change in &changes {
                last_action.insert(
                    change["node"].as_str().unwrap_or_default(),
                    change["action"].as_str().unwrap_or_default(),
                );
            }
            let tainted: BTreeSet<&str> = last_action
                .iter()
                .filter(|(_, action)| **action == "taint")
                .map(|(node, _)| *node)
                .collect();
            let untaints = part["totals"]["untaints"].as_u64().unwrap_or(0);
            if untaints > 0 {
                run.problems.push(format!(
                    "taint-nodes: {untaints} untaints of nodes that stayed hot"
                ));
            }
            let expected = hot.len().min(cap);
            if tainted.len() != expected {
                run.problems.push(format!(
                    "taint-nodes: {} nodes tainted at the end, expected {expected} ({} hot workers, cap {cap})",
                    tainted.len(),
                    hot.len()
                ));
            }
            let last_point = part["over_time"]
                .as_array()
                .and_then(|p| p.last())
                .map(|p| p["tainted"].as_u64().unwrap_or(0) as usize);
            if last_point != Some(tainted.len()) {
                run.problems.push(format!(
                    "taint-nodes: the last tick holds {last_point:?} tainted, the changes {}",
                    tainted.len()
                ));
            }
            run.outcome.push(format!(
                "{} of {} hot tainted, {} untaints",
                tainted.len(),
                hot.len(),
                untaints
            ));
        }
    }
    if set != "taint-nodes" {
        let part = &run_report["resize_pods"];
        if part.is_null() {
            run.problems.push("no resize_pods report".into());
            return;
        }
        run.problems.extend(gaps_problem(part, "resize-pods"));
        let ticks = part["ticks"].as_u64().unwrap_or(0);
        run.resize_ticks = Some(ticks);
        // `*/2 * * * *`: every other minute.
        if (ticks as i64) < hours * 30 {
            run.problems.push(format!(
                "resize-pods: {ticks} ticks, fewer than one every 2 minutes"
            ));
        }
        let followed = part["totals"]["containers"].as_u64().unwrap_or(0) as usize;
        if followed != truth.containers.len() {
            run.problems.push(format!(
                "resize-pods: {followed} containers followed, {} opted in",
                truth.containers.len()
            ));
        }
        let cpu = |sizes: &Value| {
            sizes["cpu_limit"]
                .as_i64()
                .or_else(|| sizes["cpu_request"].as_i64())
                .unwrap_or(0)
        };
        let mut ups: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        let mut changed: BTreeSet<(String, String, String)> = BTreeSet::new();
        let mut wrong = Vec::new();
        for change in part["changes"].as_array().cloned().unwrap_or_default() {
            let id = (
                change["namespace"].as_str().unwrap_or_default().to_owned(),
                change["pod"].as_str().unwrap_or_default().to_owned(),
                change["container"].as_str().unwrap_or_default().to_owned(),
            );
            if change["resource"] != "cpu" {
                wrong.push(format!("{}/{}/{}: memory resized", id.0, id.1, id.2));
            }
            if change["direction"] == "up" {
                *ups.entry(id.clone()).or_default() += 1;
            }
            changed.insert(id);
        }
        let (mut hot_up, mut idle_down, mut idle_up) = (0, 0, 0);
        let sizes: BTreeMap<(String, String, String), (i64, i64)> = part["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let id = (
                    c["namespace"].as_str().unwrap_or_default().to_owned(),
                    c["pod"].as_str().unwrap_or_default().to_owned(),
                    c["container"].as_str().unwrap_or_default().to_owned(),
                );
                let history = c["sizes"].as_array().cloned().unwrap_or_default();
                let first = history.first().map(cpu).unwrap_or(0);
                let last = history.last().map(cpu).unwrap_or(0);
                (id, (first, last))
            })
            .collect();
        for id in &changed {
            let Some(class) = truth.containers.get(id).map(|t| t.class) else {
                wrong.push(format!("{}/{}/{}: resized, not opted in", id.0, id.1, id.2));
                continue;
            };
            let (first, last) = sizes.get(id).copied().unwrap_or_default();
            match class {
                ContainerClass::Hot => {}
                ContainerClass::Idle => {
                    idle_down += usize::from(last < first);
                    idle_up += usize::from(ups.contains_key(id));
                    if last > first {
                        wrong.push(format!(
                            "{}/{}/{} (idle) ended at {last}m, above its {first}m",
                            id.0, id.1, id.2
                        ));
                    }
                }
                other => wrong.push(format!(
                    "{}/{}/{} ({other:?}) went from {first}m to {last}m",
                    id.0, id.1, id.2
                )),
            }
        }
        let mut missed = Vec::new();
        for (id, container) in &truth.containers {
            if container.class != ContainerClass::Hot {
                continue;
            }
            let (first, last) = sizes.get(id).copied().unwrap_or_default();
            if ups.contains_key(id) && last > first {
                hot_up += 1;
            } else {
                missed.push(format!("{}/{}/{}", id.0, id.1, id.2));
            }
        }
        if !missed.is_empty() {
            wrong.push(format!(
                "{} hot containers not scaled up, e.g. {}",
                missed.len(),
                missed[..missed.len().min(3)].join(", ")
            ));
        }
        let hot = truth.containers_of(ContainerClass::Hot);
        let idle = truth.containers_of(ContainerClass::Idle);
        let resizes = part["totals"]["resizes"].as_u64().unwrap_or(0);
        run.outcome.push(format!(
            "{resizes} resizes: {hot_up} of {hot} hot up, {idle_down} of {idle} idle down{}",
            if idle_up > 0 {
                format!(" ({idle_up} idle also up)")
            } else {
                String::new()
            }
        ));
        let count = wrong.len();
        run.problems.extend(
            wrong
                .into_iter()
                .take(10)
                .map(|w| format!("resize-pods: {w}")),
        );
        if count > 10 {
            run.problems
                .push(format!("resize-pods: and {} more", count - 10));
        }
    }
}

// ---- Reporting -------------------------------------------------------------------------------------------------

fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 100.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

fn mib(bytes: f64) -> String {
    if bytes >= 10.0 * 1048576.0 {
        format!("{:.0} MiB", bytes / 1048576.0)
    } else {
        format!("{:.1} MiB", bytes / 1048576.0)
    }
}

fn report(runs: &[Run], builds: &[DataBuild], skipped: &[String]) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "\nPeriods end at {} (fixed: the history is cached); default schedules (taint-nodes every minute, \
         resize-pods every 2 minutes), one run each.\n",
        rfc3339(END_S)
    ));
    line("#### Replays\n".into());
    line("| nodes | containers | period | controllers | ticks | wall | CPU | peak RSS | Prometheus queries (server time, bytes) | outcome |".into());
    line("|---:|---:|---:|---|---:|---:|---:|---:|---|---|".into());
    for r in runs {
        let ticks = [
            r.taint_ticks.map(|t| format!("{t} taint")),
            r.resize_ticks.map(|t| format!("{t} resize")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" + ");
        let verdict = if r.problems.is_empty() {
            " ✓".to_owned()
        } else {
            format!(" **{} problems: {}**", r.problems.len(), r.problems[0])
        };
        line(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} MB | {} ({}, {}) | {}{} |",
            r.nodes,
            r.containers,
            length_text(r.hours),
            r.set,
            ticks,
            seconds(r.cost.wall_s),
            seconds(r.cost.cpu_s),
            r.cost.max_rss_mb,
            r.prom_queries,
            seconds(r.prom_server_s),
            mib(r.prom_bytes_out as f64),
            r.outcome.join("; "),
            verdict,
        ));
    }
    for note in skipped {
        line(format!("\n{note}"));
    }
    line("\n#### The history (built once, then cached)\n".into());
    line("| nodes | containers | history | samples | OpenMetrics written (files, time) | promtool wall (CPU, peak RSS of one file, mostly its mmapped input) | compaction wait | TSDB (blocks written → kept) |".into());
    line("|---:|---:|---:|---:|---|---|---:|---|".into());
    for b in builds {
        line(format!(
            "| {} | {} | {} + 1 h{} | {:.1} M | {:.1} GB ({}, {}) | {} ({}, {:.0} MB) | {} | {} ({} → {}) |",
            b.nodes,
            b.containers,
            length_text(b.hours),
            if b.cached {
                " (cached: built earlier)"
            } else {
                ""
            },
            b.samples as f64 / 1e6,
            b.text_bytes as f64 / 1e9,
            b.files,
            seconds(b.write_s),
            seconds(b.promtool_wall_s),
            seconds(b.promtool_cpu_s),
            b.promtool.max_rss_mb,
            if b.settle_s > 0.0 {
                seconds(b.settle_s)
            } else {
                "none".into()
            },
            mib(b.tsdb_bytes as f64),
            b.blocks_written,
            b.blocks,
        ));
    }
    out
}

fn bench(args: &[String]) -> anyhow::Result<()> {
    let options = parse_options(args)?;
    std::fs::create_dir_all(&options.out)?;
    let mut runs: Vec<Run> = Vec::new();
    let mut builds: Vec<DataBuild> = Vec::new();
    let mut skipped = Vec::new();
    let save = |runs: &[Run], builds: &[DataBuild]| -> anyhow::Result<()> {
        // After each replay: a later failure keeps the earlier figures.
        std::fs::write(
            options.out.join("results.json"),
            serde_json::to_vec_pretty(
                &json!({"machine": machine(), "end": rfc3339(END_S), "builds": builds, "runs": runs}),
            )?,
        )?;
        Ok(())
    };
    for &(nodes, containers) in &options.sizes {
        eprintln!("== replay: {nodes} nodes, {containers} containers");
        let generated = SyntheticCluster::generate(&Spec::new(nodes, containers));
        let objects = options
            .out
            .join(format!("objects-{nodes}x{containers}.json"));
        write_objects(&generated, &objects)?;
        for &hours in &options.lengths_h {
            eprintln!("-- {} of history", length_text(hours));
            let (tsdb, build) = history_tsdb(&options, &generated, hours)?;
            builds.push(build);
            let prometheus = Prometheus::builder()
                .existing_tsdb(&tsdb)
                .retention_time(RETENTION)
                .start()
                .context("starting Prometheus on the backfilled history (make demo-deps)")?;
            let sets: Vec<&str> = if hours > 24 {
                options.long_sets.clone()
            } else {
                SETS.to_vec()
            };
            if sets.len() < SETS.len() {
                skipped.push(format!(
                    "{}: only {} replayed (--long-sets), to keep the run short.",
                    length_text(hours),
                    sets.join(", ")
                ));
            }
            for set in sets {
                let run = replay(&options, &prometheus, &generated, &objects, hours, set)?;
                eprintln!(
                    "   {set}: {:.1} s wall, {:.1} s CPU, {:.0} MB, {} queries; {}{}",
                    run.cost.wall_s,
                    run.cost.cpu_s,
                    run.cost.max_rss_mb,
                    run.prom_queries,
                    run.outcome.join("; "),
                    if run.problems.is_empty() {
                        String::new()
                    } else {
                        format!("; PROBLEMS: {}", run.problems.join(" | "))
                    }
                );
                runs.push(run);
                save(&runs, &builds)?;
            }
        }
    }
    let tables = report(&runs, &builds, &skipped);
    std::fs::write(options.out.join("tables.md"), &tables)?;
    println!("{tables}");
    if let Some(path) = &options.markdown {
        thermostat_rig::report::splice_markdown(
            path,
            "replay",
            "`make bench` (thermostat-replay-bench)",
            &tables,
            &machine(),
        )?;
    }
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| {
            format!(
                "{}x{} {} {}: {}",
                r.nodes,
                r.containers,
                length_text(r.hours),
                r.set,
                r.problems.join(" | ")
            )
        })
        .collect();
    if !failed.is_empty() {
        bail!("replays failed or went wrong:\n{}", failed.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_as_rfc_3339_utc() {
        assert_eq!(rfc3339(END_S), "2026-01-06T00:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_825_599), "2000-02-29T11:59:59Z");
    }

    #[test]
    fn the_end_leaves_a_day_and_its_lead_in_one_54_hour_block() {
        let range_s = 54 * 3600;
        assert_eq!(END_S % 86_400, 0, "a UTC midnight");
        assert_eq!(
            (END_S - 24 * 3600 - LEAD_S).div_euclid(range_s),
            (END_S - 1).div_euclid(range_s)
        );
    }

    #[test]
    fn the_daily_factor_peaks_in_the_afternoon_and_stays_in_its_band() {
        assert!((daily_factor(14.0 * 3600.0, 0.6) - 1.0).abs() < 1e-12);
        assert!((daily_factor(2.0 * 3600.0, 0.6) - 0.6).abs() < 1e-12);
        for hour in 0..48 {
            let f = daily_factor(f64::from(hour) * 1800.0, 0.9);
            assert!((0.9..=1.0).contains(&f), "{f}");
        }
    }

    #[test]
    fn counters_go_on_across_files_without_a_reset() {
        let generated = SyntheticCluster::generate(&Spec::new(3, 4));
        let dir = tempfile::tempdir().unwrap();
        let mut carry = Carry::default();
        let mut texts = Vec::new();
        for (index, end_s) in [END_S - 600, END_S].into_iter().enumerate() {
            let path = dir.path().join(format!("{index}.om"));
            let file = std::fs::File::create(&path).unwrap();
            let mut writer = OpenMetricsWriter::new(BufWriter::new(file));
            let timeline = Timeline {
                end_ms: end_s * 1000,
                step: Duration::from_secs(60),
                length: Duration::from_secs(600),
            };
            write_history_file(&generated, &timeline, index > 0, &mut carry, &mut writer).unwrap();
            writer.finish().unwrap();
            texts.push(std::fs::read_to_string(&path).unwrap());
        }
        let samples = |text: &str, series: &str| -> Vec<(i64, f64)> {
            text.lines()
                .filter(|l| l.starts_with(series))
                .map(|l| {
                    let mut fields = l.rsplit(' ');
                    let ts = fields.next().unwrap().parse().unwrap();
                    (ts, fields.next().unwrap().parse().unwrap())
                })
                .collect()
        };
        let series = texts[0]
            .lines()
            .find(|l| l.starts_with("node_cpu_seconds_total{"))
            .and_then(|l| l.rsplit_once("} "))
            .map(|(labels, _)| format!("{labels}}} "))
            .unwrap();
        let first = samples(&texts[0], &series);
        let second = samples(&texts[1], &series);
        assert_eq!(first.len(), 11);
        assert_eq!(second.len(), 10, "the shared instant is written once");
        assert_eq!(second[0].0, first[10].0 + 60);
        let step_before = first[10].1 - first[9].1;
        let step_across = second[0].1 - first[10].1;
        assert!(
            step_across >= 0.0 && (step_across - step_before).abs() < 10.0,
            "{step_before} then {step_across}"
        );
        for text in &texts {
            assert!(text.ends_with("# EOF\n"));
            let families: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
            assert_eq!(families.len(), 5, "{families:?}");
        }
    }
}
