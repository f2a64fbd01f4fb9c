//! `make bench`: what a tick costs at 10 to 5,000 nodes and 1,000 to 50,000 containers, ours and the seed
//! approach's, on the same data in the same run. See BENCHMARKS.md for the method.
//!
//! ```text
//! thermostat-bench --binary target/release/kube-thermostat [--quick] [--repeats N] [--sizes 10x1000,100x5000]
//!                  [--out DIR] [--seed-max-nodes N] [--seed-max-containers N] [--markdown BENCHMARKS.md]
//!                  [--controllers taint-nodes,resize-pods] [--wrap 'valgrind --tool=massif'] [--hold]
//! ```
//! Internal modes: `__measure OUT CMD ARGS...` (runs CMD, writes its wall time, CPU time and peak RSS to OUT),
//! `__seed taint|resize` (the seed approach, reading SEED_* variables).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thermostat_rig::cluster::Cluster;
use thermostat_rig::measure::{self, ProcessCost, PromCounters, machine, prometheus_counters};
use thermostat_rig::prometheus::Timeline;
use thermostat_rig::synthetic::{self, Spec, SyntheticCluster};

const TAINT_KEY: &str = "kube-thermostat.io/hot";
const MAX_TAINTED_FRACTION: f64 = 0.3;
/// Settings every measured run gets on top of the rig's: generous budgets, so a slow shared machine measures
/// slowness instead of failing.
/// The bench measures a whole first tick's work and checks it against the truth in one tick: lift the per-tick
/// resize cap (RESIZE_MAX_PODS_PER_TICK, 100 by default, which spreads that work over ticks in production) and
/// the client-side rate limit (KUBE_API_QPS, 50/s by default: its waits are time, not cost, and would hide ours).
const RUN_ENV: &[(&str, &str)] = &[
    ("TICK_TIMEOUT", "300s"),
    ("PROMETHEUS_TIMEOUT", "240s"),
    ("RESIZE_MAX_PODS_PER_TICK", "100000"),
    ("KUBE_API_QPS", "0"),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("__measure") => measure::measure_child(&args[1..]),
        Some("__seed") => seed::run(args.get(1).map(String::as_str).unwrap_or_default()),
        _ => bench(&args),
    };
    if let Err(error) = result {
        eprintln!("thermostat-bench: {error:#}");
        std::process::exit(2);
    }
}

// ---- Measuring one process ---------------------------------------------------------------------------------

/// A shell script that runs `binary` under `__measure`, writing to `out`: what the rig's `Cluster` runs as "the
/// binary", so the hook is measured exactly as the rig runs it (environment cleared, binding context on disk).
fn measured_wrapper(
    dir: &Path,
    binary: &Path,
    out: &Path,
    wrap: Option<&str>,
) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let script = dir.join("measured-kube-thermostat");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' __measure '{}' {} '{}' \"$@\"\n",
            me.display(),
            out.display(),
            wrap.unwrap_or_default(),
            binary.display()
        ),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(script)
}

// ---- One measured run ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize)]
struct Run {
    nodes: usize,
    containers: usize,
    approach: &'static str,
    controller: &'static str,
    snapshots: bool,
    tick: u8,
    repeat: usize,
    cost: ProcessCost,
    /// The hook's own `kube_thermostat_tick_duration_seconds`.
    tick_s: Option<f64>,
    prom_queries: u64,
    prom_server_s: f64,
    prom_bytes_out: u64,
    api_requests: BTreeMap<String, usize>,
    api_total: usize,
    api_bytes_in: u64,
    api_bytes_out: u64,
    /// Successful create/patch/update/delete requests.
    writes: usize,
    /// Successful writes that changed nothing (the stand-in keeps resourceVersion on a no-op).
    noop_writes: usize,
    /// Writes the server refused, by status.
    rejected_writes: BTreeMap<u16, usize>,
    outcome: String,
    problems: Vec<String>,
}

struct Bench {
    cluster: Cluster,
    generated: SyntheticCluster,
    config: Value,
    measure_out: PathBuf,
    prometheus_base: String,
    api_token: String,
}

impl Bench {
    fn before(&self) -> (PromCounters, u64) {
        self.cluster.api.reset_requests();
        (
            prometheus_counters(&self.prometheus_base),
            self.cluster.api.resource_version(),
        )
    }

    fn after(&self, run: &mut Run, before: (PromCounters, u64)) {
        let prom = prometheus_counters(&self.prometheus_base);
        run.prom_queries = (prom.queries - before.0.queries).round() as u64;
        run.prom_server_s = prom.seconds - before.0.seconds;
        run.prom_bytes_out = (prom.bytes - before.0.bytes).round() as u64;
        let requests = self.cluster.api.requests();
        let mut successful_writes = 0;
        for request in &requests {
            let resource = if request.resource.is_empty() {
                request.path.clone()
            } else {
                request.resource.clone()
            };
            *run.api_requests
                .entry(format!("{} {resource}", request.verb))
                .or_default() += 1;
            run.api_bytes_in += request.bytes_in as u64;
            run.api_bytes_out += request.bytes_out as u64;
            if matches!(
                request.verb.as_str(),
                "create" | "patch" | "update" | "delete"
            ) {
                if (200..300).contains(&request.status) {
                    successful_writes += 1;
                } else {
                    *run.rejected_writes.entry(request.status).or_default() += 1;
                }
            }
        }
        run.api_total = requests.len();
        run.writes = successful_writes;
        let effective = (self.cluster.api.resource_version() - before.1) as usize;
        run.noop_writes = successful_writes.saturating_sub(effective);
        run.cost = measure::read_cost(&self.measure_out);
    }

    /// One tick of our hook through the hook contract.
    fn ours(&self, controller: &'static str, snapshots: bool, tick: u8, repeat: usize) -> Run {
        let context = if snapshots {
            synthetic::binding_context(&self.cluster.api, &self.config, controller)
        } else {
            json!([{"binding": controller, "type": "Schedule"}])
        };
        let mut env = RUN_ENV.to_vec();
        if !snapshots {
            env.push(("SNAPSHOTS", "false"));
        }
        let _ = std::fs::remove_file(&self.measure_out);
        let before = self.before();
        let output = self.cluster.run_hook(&context, &env);
        let mut run = self.run_record("ours", controller, snapshots, tick, repeat);
        self.after(&mut run, before);
        run.tick_s = output.metric(
            "kube_thermostat_tick_duration_seconds",
            &[("controller", controller)],
        );
        if output.code != 0 {
            let tail: String = output
                .stderr
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ");
            run.problems
                .push(format!("hook exited {}: {tail}", output.code));
        }
        run
    }

    /// One tick of the seed approach, as its own measured process.
    fn seed(&self, controller: &'static str, tick: u8, repeat: usize) -> Run {
        let mode = if controller == "taint-nodes" {
            "taint"
        } else {
            "resize"
        };
        let me = std::env::current_exe().unwrap();
        let _ = std::fs::remove_file(&self.measure_out);
        let before = self.before();
        let status = Command::new(&me)
            .args(["__measure", &self.measure_out.display().to_string()])
            .arg(&me)
            .args(["__seed", mode])
            .env("SEED_API_URL", self.cluster.api.url())
            .env("SEED_TOKEN", &self.api_token)
            .env("SEED_PROMETHEUS_URL", &self.prometheus_base)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        let mut run = self.run_record("seed", controller, false, tick, repeat);
        self.after(&mut run, before);
        if !status.success() {
            run.problems
                .push(format!("seed exited {:?}", status.code()));
        }
        run
    }

    fn run_record(
        &self,
        approach: &'static str,
        controller: &'static str,
        snapshots: bool,
        tick: u8,
        repeat: usize,
    ) -> Run {
        Run {
            nodes: self.generated.spec.nodes,
            containers: self.generated.spec.containers,
            approach,
            controller,
            snapshots,
            tick,
            repeat,
            ..Run::default()
        }
    }

    /// Puts every object back as generated: each pair of ticks starts from the same state.
    fn reset(&self) {
        self.generated.put_objects(&self.cluster.api);
    }

    /// The kubelet finishing every resize the last tick asked for (what happens within seconds on a node).
    fn actuate_resizes(&self) {
        for request in self.cluster.api.requests() {
            if request.resource == "pods/resize" && (200..300).contains(&request.status) {
                let parts: Vec<&str> = request.path.split('/').collect();
                // /api/v1/namespaces/{ns}/pods/{name}/resize
                if let [
                    _,
                    "api",
                    "v1",
                    "namespaces",
                    namespace,
                    "pods",
                    name,
                    "resize",
                ] = parts.as_slice()
                {
                    self.cluster.api.kubelet_actuate(namespace, name);
                }
            }
        }
    }

    /// First and second tick of a controller; the outcome of the first is checked against the truth, the
    /// second must write nothing.
    fn tick_pair(
        &self,
        approach: &'static str,
        controller: &'static str,
        snapshots: bool,
        repeat: usize,
    ) -> Vec<Run> {
        self.reset();
        let foreign = SyntheticCluster::foreign_taints(&self.cluster.api, TAINT_KEY);
        let tick = |n: u8| match approach {
            "ours" => self.ours(controller, snapshots, n, repeat),
            _ => self.seed(controller, n, repeat),
        };
        let mut first = tick(1);
        self.check(&mut first, &foreign);
        if controller == "resize-pods" {
            self.actuate_resizes();
        }
        let mut second = tick(2);
        self.check(&mut second, &foreign);
        if approach == "ours" && second.writes > 0 {
            second
                .problems
                .push(format!("{} writes on the second tick", second.writes));
        }
        vec![first, second]
    }

    fn check(&self, run: &mut Run, foreign: &BTreeMap<String, Vec<Value>>) {
        if run.controller == "taint-nodes" {
            let outcome = self.generated.check_taints(
                &self.cluster.api,
                TAINT_KEY,
                MAX_TAINTED_FRACTION,
                foreign,
            );
            run.outcome = format!(
                "{} tainted of {} hot",
                outcome.tainted,
                self.generated.truth.hot_nodes().len()
            );
            run.problems.extend(outcome.problems);
        } else {
            let outcome = self.generated.check_resizes(&self.cluster.api);
            run.outcome = format!(
                "{} up, {} down ({} idle); {} hot",
                outcome.up,
                outcome.down,
                outcome.idle_down,
                self.generated
                    .truth
                    .containers_of(synthetic::ContainerClass::Hot)
            );
            run.problems.extend(outcome.problems);
        }
    }
}

// ---- The benchmark ---------------------------------------------------------------------------------------------

struct Options {
    binary: PathBuf,
    sizes: Vec<(usize, usize)>,
    repeats: usize,
    out: PathBuf,
    seed_max_nodes: usize,
    seed_max_containers: usize,
    markdown: Option<PathBuf>,
    /// How far past the start of a size's runs its pushed history reaches (all its runs must fit in it).
    lead: Duration,
    /// A command the hook runs under, e.g. `valgrind --tool=callgrind` (times are then meaningless).
    wrap: Option<String>,
    controllers: Vec<&'static str>,
    /// Keep the first size's Prometheus and API stand-in up (for query experiments) instead of running.
    hold: bool,
}

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        binary: PathBuf::from("target/release/kube-thermostat"),
        sizes: vec![(10, 1_000), (100, 5_000), (1_000, 10_000), (5_000, 50_000)],
        repeats: 3,
        out: PathBuf::from("target/bench"),
        seed_max_nodes: 5_000,
        seed_max_containers: 10_000,
        markdown: None,
        // With 55 minutes of history and a 30-minute stabilization window (plus the rate window), at most ~23.
        lead: Duration::from_secs(22 * 60),
        wrap: None,
        controllers: vec!["taint-nodes", "resize-pods"],
        hold: false,
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
            "--repeats" => options.repeats = value()?.parse().context("--repeats")?,
            "--out" => options.out = value()?.into(),
            "--seed-max-nodes" => {
                options.seed_max_nodes = value()?.parse().context("--seed-max-nodes")?
            }
            "--seed-max-containers" => {
                options.seed_max_containers = value()?.parse().context("--seed-max-containers")?
            }
            "--markdown" => options.markdown = Some(value()?.into()),
            "--wrap" => options.wrap = Some(value()?),
            "--hold" => options.hold = true,
            "--controllers" => {
                let wanted = value()?;
                options.controllers = ["taint-nodes", "resize-pods"]
                    .into_iter()
                    .filter(|c| wanted.split(',').any(|w| w == *c))
                    .collect();
            }
            "--quick" => {
                options.sizes = vec![(10, 1_000), (100, 2_000)];
                options.repeats = 1;
                options.lead = Duration::from_secs(5 * 60);
                options.seed_max_nodes = 100;
                options.seed_max_containers = 2_000;
            }
            "--sizes" => options.sizes = thermostat_rig::measure::parse_sizes(&value()?)?,
            other => bail!("unknown argument {other:?} (see the comment atop thermostat-bench.rs)"),
        }
    }
    if !options.binary.is_file() {
        bail!(
            "--binary {}: no such file (build it with cargo build --release)",
            options.binary.display()
        );
    }
    Ok(options)
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[derive(Debug, Clone, Serialize)]
struct SizeSetup {
    repeats: usize,
    nodes: usize,
    containers: usize,
    pods: usize,
    series: usize,
    samples: usize,
    generate_s: f64,
    put_s: f64,
    push_s: f64,
    snapshot_rust_s: f64,
    snapshot_gojq_s: Option<f64>,
    config_wall_ms: f64,
    config_rss_mb: f64,
}

fn bench(args: &[String]) -> anyhow::Result<()> {
    let options = parse_options(args)?;
    std::fs::create_dir_all(&options.out)?;
    let binary = std::fs::canonicalize(&options.binary)?;
    let mut runs: Vec<Run> = Vec::new();
    let mut setups = Vec::new();
    let started = Instant::now();
    for &(nodes, containers) in &options.sizes {
        eprintln!("== {nodes} nodes, {containers} containers");
        let size_start = Instant::now();
        let (setup, size_runs) = bench_size(&options, &binary, nodes, containers)?;
        eprintln!(
            "   done in {:.0} s (setup: generate {:.1} s, put {:.1} s, push {:.1} s)",
            size_start.elapsed().as_secs_f64(),
            setup.generate_s,
            setup.put_s,
            setup.push_s
        );
        setups.push(setup);
        runs.extend(size_runs);
    }
    let results = json!({"machine": machine(), "setups": setups, "runs": runs,
                         "repeats": options.repeats, "total_s": started.elapsed().as_secs_f64()});
    std::fs::write(
        options.out.join("results.json"),
        serde_json::to_vec_pretty(&results)?,
    )?;
    let report = report(&runs, &setups, options.repeats);
    std::fs::write(options.out.join("tables.md"), &report)?;
    std::fs::write(options.out.join("plot.tsv"), plot_data(&runs))?;
    println!("{report}");
    if let Some(path) = &options.markdown {
        thermostat_rig::report::splice_markdown(
            path,
            "bench",
            "`make bench`",
            &report,
            &machine(),
        )?;
    }
    let problems: Vec<String> = runs
        .iter()
        .filter(|r| r.approach == "ours")
        .flat_map(|r| {
            r.problems.iter().map(move |p| {
                format!(
                    "{}x{} {} snapshots={} tick {}: {p}",
                    r.nodes, r.containers, r.controller, r.snapshots, r.tick
                )
            })
        })
        .collect();
    if !problems.is_empty() {
        for problem in problems.iter().take(20) {
            eprintln!("PROBLEM {problem}");
        }
        bail!("{} problems in our runs (see above)", problems.len());
    }
    Ok(())
}

fn bench_size(
    options: &Options,
    binary: &Path,
    nodes: usize,
    containers: usize,
) -> anyhow::Result<(SizeSetup, Vec<Run>)> {
    let clock = Instant::now();
    let generated = SyntheticCluster::generate(&Spec::new(nodes, containers));
    let generate_s = clock.elapsed().as_secs_f64();

    let mut cluster = Cluster::start(binary);
    let measure_out = cluster.dir.path().join("measure.json");
    cluster.binary = measured_wrapper(
        cluster.dir.path(),
        binary,
        &measure_out,
        options.wrap.as_deref(),
    )?;

    let clock = Instant::now();
    generated.put_objects(&cluster.api);
    let put_s = clock.elapsed().as_secs_f64();

    // History reaching `lead` into the future: every run of this size reads a full history ending at its
    // "now" (the query engine ignores samples after the evaluation time). 55 minutes in all: the TSDB head takes
    // samples down to an hour before its newest one.
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let history_end = Instant::now() + options.lead;
    let timeline = Timeline {
        end_ms: now_ms - now_ms % 1000 + options.lead.as_millis() as i64,
        step: Duration::from_secs(30),
        length: Duration::from_secs(55 * 60),
    };
    let clock = Instant::now();
    generated.push_load(&cluster.prometheus, &timeline)?;
    let push_s = clock.elapsed().as_secs_f64();
    let series: usize = generated
        .nodes
        .iter()
        .map(|n| n.history.cpus as usize * 5 + 2)
        .sum::<usize>()
        + generated
            .pods
            .iter()
            .map(|p| (p.history.containers.len() + 2) * 2)
            .sum::<usize>();
    let samples = series * timeline.points().len();

    let config = cluster.hook_config(&[]);
    let mut sample = cluster.api.list("Node");
    sample.truncate(50);
    sample.extend(cluster.api.list("Pod").into_iter().take(200));
    sample.extend(cluster.api.list("Namespace"));
    synthetic::check_filters_match_gojq(&config, &sample)
        .map_err(|e| anyhow::anyhow!("the Rust snapshots no longer match the jqFilters: {e}"))?;

    let clock = Instant::now();
    let context = synthetic::binding_context(&cluster.api, &config, "resize-pods");
    let snapshot_rust_s = clock.elapsed().as_secs_f64();
    drop(context);
    // gojq over every pod, as `Cluster::tick` does: measured up to 10,000 containers (it is what we avoid).
    let snapshot_gojq_s = (containers <= 10_000).then(|| {
        let pods = cluster.api.list("Pod");
        let filter = synthetic::snapshot_bindings(&config, "resize-pods")
            .into_iter()
            .find(|(_, kind, _)| kind == "Pod")
            .map(|(_, _, filter)| filter)
            .unwrap_or_default();
        let clock = Instant::now();
        thermostat_rig::cluster::gojq_each(&filter, &pods);
        clock.elapsed().as_secs_f64()
    });

    if options.hold {
        hold(&cluster, &config, &options.out)?;
    }
    let (config_wall_ms, config_rss_mb) = config_cost(binary)?;

    let bench = Bench {
        api_token: cluster.api.options().token.clone().unwrap_or_default(),
        prometheus_base: cluster.prometheus.url(),
        cluster,
        generated,
        config,
        measure_out,
    };
    let mut runs = Vec::new();
    let mut repeats_done = 0;
    for repeat in 0..options.repeats {
        let repeat_start = Instant::now();
        for &controller in &options.controllers {
            for snapshots in [true, false] {
                runs.extend(bench.tick_pair("ours", controller, snapshots, repeat));
            }
            let seed_allowed = if controller == "taint-nodes" {
                nodes <= options.seed_max_nodes
            } else {
                containers <= options.seed_max_containers
            };
            // The seed is slow: three repeats where it takes seconds, one where it takes minutes.
            let seed_repeats = if nodes > 1_000 { 1 } else { options.repeats };
            if seed_allowed && repeat < seed_repeats {
                runs.extend(bench.tick_pair("seed", controller, false, repeat));
            }
        }
        let problems: usize = runs
            .iter()
            .filter(|r| r.approach == "ours" && r.repeat == repeat)
            .map(|r| r.problems.len())
            .sum();
        eprintln!(
            "   repeat {} done in {:.0} s ({problems} problems in our runs)",
            repeat + 1,
            repeat_start.elapsed().as_secs_f64(),
        );
        repeats_done += 1;
        // Every run must read a history that reaches its "now": stop before the pushed history ends.
        if Instant::now() + repeat_start.elapsed() > history_end && repeat + 1 < options.repeats {
            eprintln!(
                "   stopping after {repeats_done} repeats: another would outlast the pushed history"
            );
            break;
        }
    }
    let setup = SizeSetup {
        repeats: repeats_done,
        nodes,
        containers,
        pods: bench.generated.pods.len(),
        series,
        samples,
        generate_s,
        put_s,
        push_s,
        snapshot_rust_s,
        snapshot_gojq_s,
        config_wall_ms,
        config_rss_mb,
    };
    Ok((setup, runs))
}

/// `--config`: median wall time of 21 runs (spawn to exit), peak RSS of one.
fn config_cost(binary: &Path) -> anyhow::Result<(f64, f64)> {
    let mut times = Vec::new();
    for _ in 0..21 {
        let clock = Instant::now();
        let output = Command::new(binary).arg("--config").env_clear().output()?;
        times.push(clock.elapsed().as_secs_f64() * 1000.0);
        if !output.status.success() {
            bail!(
                "--config failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("measure.json");
    let me = std::env::current_exe()?;
    Command::new(me)
        .args(["__measure", &out.display().to_string()])
        .arg(binary)
        .arg("--config")
        .env_clear()
        .stdout(std::process::Stdio::null())
        .status()?;
    let cost: ProcessCost = serde_json::from_slice(&std::fs::read(&out)?)?;
    Ok((median(times), cost.max_rss_mb))
}

/// `--hold`: writes both controllers' binding contexts and the servers' addresses, then waits (for
/// profiling the hook or trying queries by hand against a loaded Prometheus).
fn hold(cluster: &Cluster, config: &Value, out: &Path) -> anyhow::Result<()> {
    for binding in ["taint-nodes", "resize-pods"] {
        let context = synthetic::binding_context(&cluster.api, config, binding);
        std::fs::write(
            out.join(format!("context-{binding}.json")),
            serde_json::to_vec(&context)?,
        )?;
    }
    eprintln!(
        "holding: PROMETHEUS_URL={} KUBE_API_URL={} contexts in {}; Ctrl-C to stop",
        cluster.prometheus.url(),
        cluster.api.url(),
        out.display()
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

// ---- Reporting -------------------------------------------------------------------------------------------------

type Key = (usize, usize, &'static str, &'static str, bool, u8);

fn key(run: &Run) -> Key {
    (
        run.nodes,
        run.containers,
        run.approach,
        run.controller,
        run.snapshots,
        run.tick,
    )
}

/// Medians of the times over repeats; the counts of the first repeat (they are exact; a difference between
/// repeats is flagged).
struct Summary<'a> {
    first: &'a Run,
    wall_ms: f64,
    cpu_ms: f64,
    rss_mb: f64,
    prom_server_ms: f64,
    counts_vary: bool,
    problems: usize,
}

fn summarize(runs: &[Run]) -> BTreeMap<Key, Summary<'_>> {
    let mut groups: BTreeMap<Key, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        groups.entry(key(run)).or_default().push(run);
    }
    groups
        .into_iter()
        .map(|(k, group)| {
            let first = group[0];
            let field = |f: fn(&Run) -> f64| median(group.iter().map(|r| f(r)).collect());
            let counts_vary = group.iter().any(|r| {
                r.prom_queries != first.prom_queries
                    || r.api_requests != first.api_requests
                    || r.writes != first.writes
            });
            let summary = Summary {
                first,
                wall_ms: field(|r| r.cost.wall_s * 1000.0),
                cpu_ms: field(|r| r.cost.cpu_s * 1000.0),
                rss_mb: field(|r| r.cost.max_rss_mb),
                prom_server_ms: field(|r| r.prom_server_s * 1000.0),
                counts_vary,
                problems: group.iter().map(|r| r.problems.len()).sum(),
            };
            (k, summary)
        })
        .collect()
}

fn requests_text(run: &Run) -> String {
    run.api_requests
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bytes_text(bytes: u64) -> String {
    if bytes >= 10 * 1024 * 1024 {
        format!("{:.0} MiB", bytes as f64 / 1048576.0)
    } else if bytes >= 10 * 1024 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn report(runs: &[Run], setups: &[SizeSetup], repeats: usize) -> String {
    let summaries = summarize(runs);
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    for controller in ["taint-nodes", "resize-pods"] {
        line(format!(
            "\n#### {controller}: our hook (median of {repeats}; counts exact)\n"
        ));
        line("| nodes | containers | snapshots | tick | hook wall | CPU | peak RSS | Prometheus queries (server time, bytes) | API requests | API bytes in / out | writes (no-op, refused) | outcome |".into());
        line("|---:|---:|:---:|:---:|---:|---:|---:|---|---|---|---|---|".into());
        for (k, s) in &summaries {
            if k.2 != "ours" || k.3 != controller {
                continue;
            }
            let r = s.first;
            let refused: usize = r.rejected_writes.values().sum();
            let problems = if s.problems > 0 {
                format!(" **{} problems**", s.problems)
            } else {
                " ✓".into()
            };
            line(format!(
                "| {} | {} | {} | {} | {:.0} ms | {:.0} ms | {:.1} MB | {} ({:.0} ms, {}) | {} | {} / {} | {} ({}, {}) | {}{}{} |",
                r.nodes,
                r.containers,
                if r.snapshots { "yes" } else { "no" },
                r.tick,
                s.wall_ms,
                s.cpu_ms,
                s.rss_mb,
                r.prom_queries,
                s.prom_server_ms,
                bytes_text(r.prom_bytes_out),
                requests_text(r),
                bytes_text(r.api_bytes_in),
                bytes_text(r.api_bytes_out),
                r.writes,
                r.noop_writes,
                refused,
                r.outcome,
                problems,
                if s.counts_vary { " (counts vary)" } else { "" },
            ));
        }
    }
    line("\n#### Ours against the seed approach (first tick; ours without snapshots, like the seed)\n".into());
    line("| controller | nodes | containers | hook wall: ours / seed | ratio | Prometheus queries: ours / seed | ratio | API requests: ours / seed | seed writes (no-op, refused) | seed outcome |".into());
    line("|---|---:|---:|---|---:|---|---:|---|---|---|".into());
    for (k, seed) in &summaries {
        if k.2 != "seed" || k.5 != 1 {
            continue;
        }
        let Some(ours) = summaries.get(&(k.0, k.1, "ours", k.3, false, 1)) else {
            continue;
        };
        let s = seed.first;
        let refused: usize = s.rejected_writes.values().sum();
        line(format!(
            "| {} | {} | {} | {:.0} ms / {:.0} ms | {:.0}× | {} / {} | {:.0}× | {} / {} | {} ({}, {}) | {} |",
            k.3,
            k.0,
            k.1,
            ours.wall_ms,
            seed.wall_ms,
            seed.wall_ms / ours.wall_ms,
            ours.first.prom_queries,
            s.prom_queries,
            s.prom_queries as f64 / ours.first.prom_queries.max(1) as f64,
            ours.first.api_total,
            s.api_total,
            s.writes,
            s.noop_writes,
            refused,
            if s.problems.is_empty() {
                s.outcome.clone()
            } else {
                format!("{}; {} wrong", s.outcome, s.problems.len())
            },
        ));
    }
    line("\n#### Setup and `--config`\n".into());
    line("| nodes | containers | pods | series | samples | generate | put | push | snapshots in Rust | snapshots by gojq | `--config` wall | `--config` RSS | repeats |".into());
    line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".into());
    for s in setups {
        line(format!(
            "| {} | {} | {} | {} | {} | {:.1} s | {:.1} s | {:.1} s | {:.2} s | {} | {:.1} ms | {:.1} MB | {} |",
            s.nodes,
            s.containers,
            s.pods,
            s.series,
            s.samples,
            s.generate_s,
            s.put_s,
            s.push_s,
            s.snapshot_rust_s,
            s.snapshot_gojq_s
                .map(|t| format!("{t:.2} s"))
                .unwrap_or_else(|| "not run".into()),
            s.config_wall_ms,
            s.config_rss_mb,
            s.repeats,
        ));
    }
    out
}

/// Columns: nodes containers controller approach wall_ms requests(prom + api), first tick, no snapshots.
fn plot_data(runs: &[Run]) -> String {
    let summaries = summarize(runs);
    let mut out = String::from(
        "# nodes\tcontainers\tcontroller\tapproach\twall_ms\tprom_queries\tapi_requests\n",
    );
    for (k, s) in &summaries {
        let snapshots_wanted = k.2 == "ours";
        if k.5 != 1 || k.4 != snapshots_wanted {
            continue;
        }
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{:.1}\t{}\t{}\n",
            k.0, k.1, k.3, k.2, s.wall_ms, s.first.prom_queries, s.first.api_total
        ));
    }
    out
}

// ---- The seed approach -----------------------------------------------------------------------------------------

/// The approach of the seed articles, rebuilt in Rust so that its cost is measured on the same data: the Python
/// auto-taint loop (000) and the shell-operator resize hook (004).
mod seed {
    use anyhow::Context;
    use serde_json::{Value, json};

    const THRESHOLD: f64 = 80.0;
    const TAINT_KEY: &str = "kube-thermostat.io/hot";

    struct Clients {
        agent: ureq::Agent,
        api: String,
        token: String,
        prometheus: String,
    }

    impl Clients {
        fn from_env() -> anyhow::Result<Clients> {
            let var =
                |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
            Ok(Clients {
                agent: ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into(),
                api: var("SEED_API_URL")?,
                token: var("SEED_TOKEN")?,
                prometheus: var("SEED_PROMETHEUS_URL")?,
            })
        }

        fn get(&self, path: &str) -> anyhow::Result<Value> {
            let mut response = self
                .agent
                .get(&format!("{}{path}", self.api))
                .header("Authorization", &format!("Bearer {}", self.token))
                .call()?;
            let text = response
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_string()?;
            Ok(serde_json::from_str(&text)?)
        }

        /// kubernetes-client/python's `patch_*` with an object body: a strategic merge patch.
        fn patch(&self, path: &str, body: &Value) -> anyhow::Result<u16> {
            let response = self
                .agent
                .patch(&format!("{}{path}", self.api))
                .header("Authorization", &format!("Bearer {}", self.token))
                .content_type("application/strategic-merge-patch+json")
                .send(serde_json::to_vec(body)?)?;
            Ok(response.status().as_u16())
        }

        /// One instant query (GET, as `requests.get` in the seed); the first result's value.
        fn query(&self, expr: &str) -> Option<f64> {
            let url = format!("{}/api/v1/query?query={}", self.prometheus, encode(expr));
            let mut response = self.agent.get(&url).call().ok()?;
            let body: Value =
                serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()?;
            body["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
        }
    }

    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    pub fn run(mode: &str) -> anyhow::Result<()> {
        let clients = Clients::from_env()?;
        match mode {
            "taint" => taint(&clients),
            "resize" => resize(&clients),
            other => anyhow::bail!("__seed {other:?}: expected taint or resize"),
        }
    }

    fn ours(taint: &Value) -> bool {
        taint["key"] == TAINT_KEY && taint["value"] == "true" && taint["effect"] == "NoSchedule"
    }

    /// 000: list nodes; per node one query (prefix-matched name, as the seed's `instance=~"NAME.*"`, on the
    /// `node` label our series carry) and a read-modify-write of the whole node.
    fn taint(clients: &Clients) -> anyhow::Result<()> {
        let nodes = clients.get("/api/v1/nodes")?;
        for node in nodes["items"].as_array().cloned().unwrap_or_default() {
            let name = node["metadata"]["name"].as_str().unwrap_or_default();
            let expr = format!(
                "100 - (avg by (instance) (irate(node_cpu_seconds_total{{mode=\"idle\", node=~\"{name}.*\"}}[5m])) * 100)"
            );
            let Some(usage) = clients.query(&expr) else {
                continue;
            };
            let path = format!("/api/v1/nodes/{name}");
            let mut node = clients.get(&path)?;
            let taints = node["spec"]["taints"].as_array().cloned();
            if usage > THRESHOLD {
                let mut taints = taints.unwrap_or_default();
                if taints.iter().any(ours) {
                    continue;
                }
                taints.push(json!({"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}));
                node["spec"]["taints"] = Value::Array(taints);
            } else {
                let Some(taints) = taints else { continue };
                node["spec"]["taints"] =
                    Value::Array(taints.into_iter().filter(|t| !ours(t)).collect());
            }
            clients.patch(&path, &node)?;
        }
        Ok(())
    }

    /// 004: per container of every opted-in pod one query; above 80 % of the CPU limit, double the limit with a
    /// patch of the pod itself (not its resize subresource).
    fn resize(clients: &Clients) -> anyhow::Result<()> {
        let namespaces = clients.get("/api/v1/namespaces")?;
        let opted_namespaces: Vec<String> = namespaces["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|n| n["metadata"]["labels"]["kube-thermostat.io/resize"] == "true")
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        let pods = clients.get("/api/v1/pods")?;
        for pod in pods["items"].as_array().cloned().unwrap_or_default() {
            let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let opted = pod["metadata"]["labels"]["kube-thermostat.io/resize"] == "true"
                || opted_namespaces.iter().any(|n| n == namespace);
            if !opted {
                continue;
            }
            for container in pod["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let container_name = container["name"].as_str().unwrap_or_default();
                let expr = format!(
                    "sum(rate(container_cpu_usage_seconds_total{{namespace=\"{namespace}\", pod=\"{name}\", container=\"{container_name}\"}}[5m])) by (pod, container)"
                );
                let usage = clients.query(&expr);
                let limit = container["resources"]["limits"]["cpu"]
                    .as_str()
                    .map(thermostat_rig::synthetic::parse_cpu_millis);
                let (Some(usage), Some(limit)) = (usage, limit) else {
                    continue;
                };
                if limit > 0 && usage * 1000.0 / limit as f64 * 100.0 > THRESHOLD {
                    let body = json!({"spec": {"containers": [{"name": container_name,
                        "resources": {"limits": {"cpu": format!("{}m", limit * 2)}}}]}});
                    clients.patch(
                        &format!("/api/v1/namespaces/{namespace}/pods/{name}"),
                        &body,
                    )?;
                }
            }
        }
        Ok(())
    }
}
