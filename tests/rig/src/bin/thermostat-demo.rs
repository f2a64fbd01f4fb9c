//! `make demo`: a synthetic cluster (a few dozen nodes, a few hundred pods: some hot, some idle, some flapping) in
//! the API stand-in, its load in a real Prometheus, and several ticks of the real `kube-thermostat` run exactly as
//! shell-operator runs them (`--config`, binding-context files with snapshots, METRICS_PATH). Prints what each tick
//! did and why, then a summary. Everything it starts stops when it ends.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use thermostat_rig::cluster::{Cluster, HookOutput};
use thermostat_rig::synthetic::{NodeClass, NodeRole, Spec, SyntheticCluster};

const TAINT_KEY: &str = "kube-thermostat.io/hot";

struct Args {
    binary: PathBuf,
    nodes: usize,
    containers: usize,
    ticks: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        binary: PathBuf::from("target/release/kube-thermostat"),
        nodes: 36,
        containers: 300,
        ticks: 3,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--binary" => args.binary = PathBuf::from(value()?),
            "--nodes" => args.nodes = value()?.parse().context("--nodes")?,
            "--containers" => args.containers = value()?.parse().context("--containers")?,
            "--ticks" => args.ticks = value()?.parse().context("--ticks")?,
            "--help" | "-h" => {
                println!(
                    "thermostat-demo [--binary PATH] [--nodes N] [--containers N] [--ticks N]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if !args.binary.is_file() {
        bail!(
            "{} does not exist: build it first (cargo build --release)",
            args.binary.display()
        );
    }
    Ok(args)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    println!(
        "kube-thermostat demo: {} nodes, {} opted-in containers, {} ticks\n",
        args.nodes, args.containers, args.ticks
    );

    let cluster = Cluster::start(&args.binary);
    let synthetic = SyntheticCluster::generate(&Spec::new(args.nodes, args.containers));
    synthetic.put_objects(&cluster.api);
    synthetic.push_load(&cluster.prometheus, &cluster.timeline)?;
    let tainted_before = pre_taint(&cluster, &synthetic);
    describe_cluster(&synthetic, &tainted_before);

    let config = cluster.hook_config(&[]);
    let schedules: Vec<String> = config["schedule"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{} ({})",
                s["name"].as_str().unwrap_or("?"),
                s["crontab"].as_str().unwrap_or("?")
            )
        })
        .collect();
    println!(
        "shell-operator runs `kube-thermostat --config`: schedules {}",
        schedules.join(", ")
    );
    println!(
        "Prometheus at {}, API stand-in at {}\n",
        cluster.prometheus.url(),
        cluster.api.url()
    );

    let mut totals = Totals::default();
    for tick in 1..=args.ticks {
        println!("── tick {tick} ─────────────────────────────────────────────────────────────");
        for binding in ["taint-nodes", "resize-pods"] {
            let before = State::read(&cluster);
            let events_before = cluster.api.events().len();
            cluster.api.reset_requests();
            let output = cluster.tick(binding, &[]);
            let after = State::read(&cluster);
            let events: Vec<Value> = cluster
                .api
                .events()
                .into_iter()
                .skip(events_before)
                .collect();
            report_tick(
                binding,
                &output,
                &before,
                &after,
                &events,
                &cluster,
                &mut totals,
            );
        }
        // The kubelet applies the resizes before the next tick, as it would within seconds.
        for pod in cluster.api.list("Pod") {
            if pod["metadata"]["generation"] != pod["status"]["observedGeneration"] {
                let namespace = pod["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let name = pod["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                cluster.api.kubelet_actuate(&namespace, &name);
            }
        }
        println!();
    }

    println!("── summary ──────────────────────────────────────────────────────────────");
    println!(
        "taints added {}, removed {}; containers resized up {}, down {}; failed ticks {}",
        totals.tainted,
        totals.untainted,
        totals.resized_up,
        totals.resized_down,
        totals.failed_ticks
    );
    let now_tainted = State::read(&cluster).tainted.len();
    let hot = synthetic.truth.hot_nodes().len();
    println!(
        "{now_tainted} nodes carry our taint ({hot} hot workers; the cap allows {}); control-plane and cordoned nodes untouched; \
         foreign taints kept",
        (synthetic.truth.eligible_nodes() as f64 * 0.3).floor()
    );
    println!(
        "Prometheus queries {}, API requests {}, in {:.1} s",
        totals.queries,
        totals.requests,
        started.elapsed().as_secs_f64()
    );
    if totals.failed_ticks > 0 {
        bail!("{} tick(s) failed", totals.failed_ticks);
    }
    replay(&cluster)?;
    Ok(())
}

/// Ends the demo as an SRE would start: what the policy would have done over the history Prometheus holds,
/// printed and written as an HTML report that outlives the demo.
fn replay(cluster: &Cluster) -> Result<()> {
    let dir = std::path::Path::new("target/demo");
    std::fs::create_dir_all(dir)?;
    let html = std::fs::canonicalize(dir)?.join("replay.html");
    let html_arg = html.display().to_string();
    println!("\n── replay ───────────────────────────────────────────────────────────────");
    println!("kube-thermostat replay --last 30m --every 1m --html {html_arg}");
    let output = cluster.run_cli_raw(
        &[
            "replay", "--last", "30m", "--every", "1m", "--html", &html_arg,
        ],
        &[],
    );
    print!("{}", output.stdout);
    if output.code != 0 {
        bail!("replay failed ({}):\n{}", output.code, output.stderr);
    }
    println!("\nthe report with its charts: {}", html.display());
    Ok(())
}

/// Puts our taint (and our annotation, as an earlier tick would have) on one cool node and one node in the band, so
/// the demo shows both sides of the hysteresis: the cool one is untainted, the one in the band keeps its taint.
fn pre_taint(cluster: &Cluster, synthetic: &SyntheticCluster) -> Vec<String> {
    let pick = |class: NodeClass| {
        synthetic
            .nodes
            .iter()
            .find(|n| n.class == class && n.role == NodeRole::Worker)
            .map(|n| {
                n.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
    };
    let mut tainted = Vec::new();
    for name in [pick(NodeClass::Cool), pick(NodeClass::Band)]
        .into_iter()
        .flatten()
    {
        cluster.api.modify("Node", None, &name, |node| {
            let taints = node["spec"]["taints"].as_array().cloned().unwrap_or_default();
            let mut taints = taints;
            taints.push(json!({"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}));
            node["spec"]["taints"] = Value::Array(taints);
            let record = json!({"key": TAINT_KEY, "value": "true", "effect": "NoSchedule",
                                "since": "2026-01-01T00:00:00Z", "reason": "tainted before the demo"});
            node["metadata"]["annotations"]["kube-thermostat.io/taint"] = Value::String(record.to_string());
        });
        tainted.push(name);
    }
    tainted
}

fn describe_cluster(synthetic: &SyntheticCluster, tainted_before: &[String]) {
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for node in &synthetic.nodes {
        let key = match node.role {
            NodeRole::Worker => format!("{:?}", node.class).to_lowercase(),
            role => format!("{role:?} (hot)").to_lowercase(),
        };
        *classes.entry(key).or_default() += 1;
    }
    let summary: Vec<String> = classes
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    println!("nodes: {}", summary.join(", "));
    println!(
        "already tainted before the demo (as by an earlier tick): {}",
        tainted_before.join(", ")
    );
    let containers = &synthetic.truth.containers;
    let mut by_class: BTreeMap<String, usize> = BTreeMap::new();
    for truth in containers.values() {
        *by_class
            .entry(format!("{:?}", truth.class).to_lowercase())
            .or_default() += 1;
    }
    let summary: Vec<String> = by_class
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    println!("containers: {}\n", summary.join(", "));
}

/// What the demo compares between ticks.
struct State {
    /// Nodes carrying our taint.
    tainted: Vec<String>,
    /// `ns/pod/container` → CPU "request/limit".
    cpu: BTreeMap<String, String>,
}

impl State {
    fn read(cluster: &Cluster) -> State {
        let mut tainted = Vec::new();
        for node in cluster.api.list("Node") {
            let ours = node["spec"]["taints"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["key"] == TAINT_KEY);
            if ours {
                tainted.push(
                    node["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        let mut cpu = BTreeMap::new();
        for pod in cluster.api.list("Pod") {
            let id = format!(
                "{}/{}",
                pod["metadata"]["namespace"].as_str().unwrap_or(""),
                pod["metadata"]["name"].as_str().unwrap_or("")
            );
            let containers = pod["spec"]["containers"].as_array().into_iter().flatten();
            let sidecars = pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten();
            for container in containers.chain(sidecars) {
                let resources = &container["resources"];
                let size = format!(
                    "{}/{}",
                    resources["requests"]["cpu"].as_str().unwrap_or("-"),
                    resources["limits"]["cpu"].as_str().unwrap_or("-")
                );
                cpu.insert(
                    format!("{id}/{}", container["name"].as_str().unwrap_or("")),
                    size,
                );
            }
        }
        State { tainted, cpu }
    }
}

#[derive(Default)]
struct Totals {
    tainted: usize,
    untainted: usize,
    resized_up: usize,
    resized_down: usize,
    failed_ticks: usize,
    queries: usize,
    requests: usize,
}

fn report_tick(
    binding: &str,
    output: &HookOutput,
    before: &State,
    after: &State,
    events: &[Value],
    cluster: &Cluster,
    totals: &mut Totals,
) {
    let note_for = |name: &str| {
        events
            .iter()
            .find(|e| e["regarding"]["name"] == name)
            .and_then(|e| e["note"].as_str().or(e["message"].as_str()))
            .unwrap_or("")
            .to_owned()
    };
    let queries = output
        .metric(
            "kube_thermostat_tick_prometheus_queries",
            &[("controller", binding)],
        )
        .unwrap_or(0.0);
    let requests = cluster.api.requests();
    let writes = requests.iter().filter(|r| r.verb == "patch").count();
    totals.queries += queries as usize;
    totals.requests += requests.len();
    let status = if output.code == 0 {
        "ok".to_owned()
    } else {
        format!("FAILED (exit {})", output.code)
    };
    println!(
        "{binding}: {status}; {queries} Prometheus quer{}, {} API request{} ({writes} writes)",
        if queries == 1.0 { "y" } else { "ies" },
        requests.len(),
        if requests.len() == 1 { "" } else { "s" }
    );
    if output.code != 0 {
        totals.failed_ticks += 1;
        for line in output
            .stderr
            .lines()
            .filter(|l| l.contains("ERROR"))
            .take(5)
        {
            println!("  {line}");
        }
    }
    match binding {
        "taint-nodes" => {
            let added: Vec<&String> = after
                .tainted
                .iter()
                .filter(|n| !before.tainted.contains(n))
                .collect();
            let removed: Vec<&String> = before
                .tainted
                .iter()
                .filter(|n| !after.tainted.contains(n))
                .collect();
            for node in &added {
                println!("  + tainted   {node}: {}", note_for(node));
            }
            for node in &removed {
                println!("  - untainted {node}: {}", note_for(node));
            }
            let kept: Vec<&str> = after
                .tainted
                .iter()
                .filter(|n| before.tainted.contains(n))
                .map(String::as_str)
                .collect();
            if added.is_empty() && removed.is_empty() {
                println!(
                    "  no taint changes: unchanged load, nothing to write ({} nodes carry our taint)",
                    after.tainted.len()
                );
            } else if !kept.is_empty() {
                println!(
                    "  = kept      {} (still hot, or in the hysteresis band)",
                    kept.join(", ")
                );
            }
            totals.tainted += added.len();
            totals.untainted += removed.len();
        }
        _ => {
            let mut shown = 0;
            let mut changed = 0;
            for (container, size) in &after.cpu {
                let Some(old) = before.cpu.get(container) else {
                    continue;
                };
                if old == size {
                    continue;
                }
                changed += 1;
                let up = cpu_millis(size) > cpu_millis(old);
                if up {
                    totals.resized_up += 1
                } else {
                    totals.resized_down += 1
                }
                if shown < 12 {
                    let pod = container.rsplit_once('/').map_or("", |(pod, _)| pod);
                    let pod_name = pod.rsplit_once('/').map_or(pod, |(_, name)| name);
                    // The pod's Event note has one "; "-separated part per container, each starting with its name.
                    let container_name = container.rsplit('/').next().unwrap_or_default();
                    let note = note_for(pod_name);
                    let why = note
                        .split("; ")
                        .find(|part| part.starts_with(&format!("{container_name} ")))
                        .and_then(|part| part.split_once(" ("))
                        .map_or(String::new(), |(_, why)| format!("({why}"));
                    println!(
                        "  {} {container} cpu {old} → {size}  {why}",
                        if up { "↑" } else { "↓" }
                    );
                    shown += 1;
                }
            }
            if changed > shown {
                println!("  ... and {} more containers", changed - shown);
            }
            if changed == 0 {
                println!(
                    "  no resizes: the resized containers are in their cooldown, the rest need nothing"
                );
            }
        }
    }
}

/// The limit (else request) of a "request/limit" pair in millicores, for the arrow's direction.
fn cpu_millis(pair: &str) -> i64 {
    let (request, limit) = pair.split_once('/').unwrap_or((pair, "-"));
    let text = if limit != "-" { limit } else { request };
    thermostat_rig::synthetic::parse_cpu_millis(text)
}
