//! `make bench` (second part): what our ticks without snapshots cost the REAL kube-apiserver and etcd (the newest
//! minor `make peers` built), loaded with a synthetic cluster whose objects are as big as real ones. See the
//! section "Against the real API server" of BENCHMARKS.md.
//!
//! ```text
//! thermostat-real-bench --binary target/release/kube-thermostat [--measurer target/release/thermostat-bench]
//!                       [--quick] [--sizes 1000x10000,5000x50000] [--out DIR] [--markdown BENCHMARKS.md]
//! thermostat-real-bench --from-results target/bench/real/results.json [--markdown BENCHMARKS.md]
//! ```
//! Per size: a fresh etcd + kube-apiserver, loaded through the admin client (a few connections), then per
//! controller two ticks of the hook with `SNAPSHOTS=false`. Around each tick: kube-apiserver's and etcd's CPU time
//! (`/proc/PID/stat` utime+stime) and peak RSS (`VmHWM`, reset through `/proc/PID/clear_refs` just before), the
//! server's own request counters and response sizes (`/metrics`: how many LIST pages, how many bytes), and the
//! hook's wall time, CPU and peak RSS (`thermostat-bench __measure`, getrusage of the child). Then the servers'
//! steady memory holding the objects, and one unpaginated LIST of nodes and of pods: the bytes a shell-operator
//! informer starts from (a lower bound of what it holds).
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thermostat_rig::cluster::run_binary;
use thermostat_rig::prometheus::{Prometheus, Timeline};
use thermostat_rig::realcluster::{self, RealCluster};
use thermostat_rig::synthetic::{Spec, SyntheticCluster};

/// The shipped TAINT_KEY (config/base/settings.env), which the shipped hardening policies are written for.
const TAINT_KEY: &str = "kube-thermostat.io/hot";
/// What the hook LISTs without snapshots. Other LISTs during a tick are kube-apiserver's own: its LimitRanger
/// admission plugin lists a namespace's LimitRanges when it admits a write to a pod there and has none cached
/// (kubernetes: plugin/pkg/admission/limitranger/admission.go, GetLimitRanges' live lookup).
const HOOK_LISTS: &[&str] = &["nodes", "pods", "namespaces", "horizontalpodautoscalers"];
/// Connections creating objects at once: enough to keep kube-apiserver busy, few enough for two shared cores.
const LOADERS: usize = 6;
/// The hook's settings on top of its defaults: budgets for a slow shared machine, and no client-side rate limit
/// (KUBE_API_QPS; its waits are time, not cost). RESIZE_MAX_PODS_PER_TICK keeps its default (100), as in
/// production: what this measures is the reading, which the cap does not change.
const RUN_ENV: &[(&str, &str)] = &[
    ("SNAPSHOTS", "false"),
    ("TICK_TIMEOUT", "600s"),
    ("PROMETHEUS_TIMEOUT", "240s"),
    ("KUBE_API_QPS", "0"),
    ("TAINT_KEY", TAINT_KEY),
    ("HOSTNAME", "kube-thermostat-bench"),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(error) = bench(&args) {
        eprintln!("thermostat-real-bench: {error:#}");
        std::process::exit(2);
    }
}

struct Options {
    binary: PathBuf,
    measurer: PathBuf,
    sizes: Vec<(usize, usize)>,
    out: PathBuf,
    markdown: Option<PathBuf>,
    /// Render the tables of an earlier run's results.json instead of running.
    from_results: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let here = std::env::current_exe()?;
    let mut options = Options {
        binary: PathBuf::from("target/release/kube-thermostat"),
        measurer: here.with_file_name("thermostat-bench"),
        // 5,000 nodes with 50,000 opted-in containers are 36,275 pods (kube-proxy pods included).
        sizes: vec![(1_000, 10_000), (5_000, 50_000)],
        out: PathBuf::from("target/bench/real"),
        markdown: None,
        from_results: None,
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
            "--quick" => options.sizes = vec![(20, 300)],
            "--from-results" => options.from_results = Some(value()?.into()),
            "--sizes" => options.sizes = thermostat_rig::measure::parse_sizes(&value()?)?,
            other => {
                bail!("unknown argument {other:?} (see the comment atop thermostat-real-bench.rs)")
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
    Ok(options)
}

// ---- A process's accounting from /proc -------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default)]
struct ProcSample {
    cpu_s: f64,
    rss_mb: f64,
    peak_mb: f64,
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime (every thread: proc(5), /proc/PID/stat fields 14 and 15), VmRSS and VmHWM.
fn sample(pid: u32, ticks: f64) -> anyhow::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("/proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: f64 = fields[11].parse()?;
    let stime: f64 = fields[12].parse()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    Ok(ProcSample {
        cpu_s: (utime + stime) / ticks,
        rss_mb: kb("VmRSS:") / 1024.0,
        peak_mb: kb("VmHWM:") / 1024.0,
    })
}

/// Resets the peak RSS (VmHWM) to the current RSS: writing 5 to clear_refs (proc(5), Linux 4.0+).
fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak RSS of {pid}"))
}

// ---- kube-apiserver's own request accounting --------------------------------------------------------------------

/// Per "VERB resource[/subresource] code": requests; per "VERB resource": response bytes and server seconds.
#[derive(Debug, Clone, Default)]
struct ServerCounters {
    requests: BTreeMap<String, f64>,
    response_bytes: BTreeMap<String, f64>,
    seconds: BTreeMap<String, f64>,
}

fn label<'a>(line: &'a str, name: &str) -> &'a str {
    let needle = format!("{name}=\"");
    line.split_once(&needle)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| value)
        .unwrap_or_default()
}

/// Reads `/metrics`: apiserver_request_total, apiserver_response_sizes_sum and
/// apiserver_request_duration_seconds_sum (kubernetes: staging/src/k8s.io/apiserver/pkg/endpoints/metrics/metrics.go).
fn server_counters(cluster: &RealCluster) -> anyhow::Result<ServerCounters> {
    let (status, body) = cluster.get_raw("/metrics")?;
    if status != 200 {
        bail!("GET /metrics answered {status}");
    }
    let text = String::from_utf8_lossy(&body);
    let mut counters = ServerCounters::default();
    for line in text.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let resource = label(series, "resource");
        if resource.is_empty() {
            continue;
        }
        let subresource = label(series, "subresource");
        let resource = if subresource.is_empty() {
            resource.to_owned()
        } else {
            format!("{resource}/{subresource}")
        };
        let key = format!("{} {resource}", label(series, "verb"));
        if series.starts_with("apiserver_request_total{") {
            *counters
                .requests
                .entry(format!("{key} {}", label(series, "code")))
                .or_default() += value;
        } else if series.starts_with("apiserver_response_sizes_sum{") {
            *counters.response_bytes.entry(key).or_default() += value;
        } else if series.starts_with("apiserver_request_duration_seconds_sum{") {
            *counters.seconds.entry(key).or_default() += value;
        }
    }
    Ok(counters)
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.5e-3)
        .collect()
}

// ---- Loading the cluster ---------------------------------------------------------------------------------------

/// Runs `work` on every item with [`LOADERS`] threads; fails with the first errors.
fn in_parallel<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..LOADERS {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    if let Err(error) = work(item) {
                        let mut errors = errors.lock().unwrap();
                        errors.push(format!("{error:#}"));
                        if errors.len() >= 5 {
                            next.store(items.len(), Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        bail!("{} failed, the first:\n{}", errors.len(), errors.join("\n"));
    }
    Ok(())
}

fn created(cluster: &RealCluster, path: &str, object: &Value) -> anyhow::Result<()> {
    let mut object = object.clone();
    // The server makes these on create.
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("uid");
        metadata.remove("resourceVersion");
        metadata.remove("creationTimestamp");
    }
    cluster
        .request("POST", path, Some(&object))?
        .ok()
        .with_context(|| format!("POST {path}"))?;
    Ok(())
}

fn merge_patched(cluster: &RealCluster, path: &str, patch: &Value) -> anyhow::Result<()> {
    cluster
        .patch(path, "application/merge-patch+json", patch)?
        .ok()
        .with_context(|| format!("PATCH {path}"))?;
    Ok(())
}

/// Creates every synthetic object as its controllers and kubelets would have left it: namespaces (with the
/// `default` ServiceAccount the ServiceAccount admission plugin wants of each pod's namespace), nodes with
/// their status and only their own taints (kube-apiserver's TaintNodesByCondition adds `not-ready` on create,
/// which the node lifecycle controller would remove), pods bound to their node with the status their kubelet
/// writes, HPAs.
fn load(cluster: &RealCluster, generated: &SyntheticCluster) -> anyhow::Result<()> {
    for namespace in &generated.namespaces {
        let name = namespace["metadata"]["name"].as_str().unwrap_or_default();
        cluster.add_namespace(name, namespace["metadata"]["labels"].clone())?;
    }
    created(
        cluster,
        "/api/v1/namespaces/kube-system/serviceaccounts",
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
    )?;
    in_parallel(&generated.nodes, |node| {
        let object = &node.object;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        created(cluster, "/api/v1/nodes", object)?;
        merge_patched(
            cluster,
            &format!("/api/v1/nodes/{name}/status"),
            &json!({"status": object["status"]}),
        )?;
        let taints = match &object["spec"]["taints"] {
            Value::Null => Value::Null,
            taints => taints.clone(),
        };
        merge_patched(
            cluster,
            &format!("/api/v1/nodes/{name}"),
            &json!({"spec": {"taints": taints}}),
        )
    })?;
    eprintln!("   {} nodes created", generated.nodes.len());
    in_parallel(&generated.pods, |pod| {
        let object = &pod.object;
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        created(
            cluster,
            &format!("/api/v1/namespaces/{namespace}/pods"),
            object,
        )?;
        let mut status = object["status"].clone();
        // A new pod's generation is 1; the kubelet reports the generation it has seen.
        status["observedGeneration"] = json!(1);
        merge_patched(
            cluster,
            &format!("/api/v1/namespaces/{namespace}/pods/{name}/status"),
            &json!({"status": status}),
        )
    })?;
    eprintln!("   {} pods created", generated.pods.len());
    in_parallel(&generated.hpas, |hpa| {
        let namespace = hpa["metadata"]["namespace"].as_str().unwrap_or_default();
        created(
            cluster,
            &format!("/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"),
            hpa,
        )
    })
}

// ---- One measured tick -----------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
struct Tick {
    controller: String,
    tick: u8,
    code: i32,
    hook_wall_s: f64,
    hook_cpu_s: f64,
    hook_peak_mb: f64,
    /// The hook's own kube_thermostat_tick_duration_seconds.
    tick_s: Option<f64>,
    apiserver_cpu_s: f64,
    apiserver_peak_mb: f64,
    apiserver_rss_before_mb: f64,
    etcd_cpu_s: f64,
    etcd_peak_mb: f64,
    /// "VERB resource code" → count, as kube-apiserver counted them during the tick.
    requests: BTreeMap<String, f64>,
    /// "LIST resource" → response bytes.
    list_bytes: BTreeMap<String, f64>,
    /// "LIST resource" → server seconds.
    list_seconds: BTreeMap<String, f64>,
    outcome: String,
    /// What is wrong with the outcome, if anything.
    #[serde(default)]
    problem: Option<String>,
    stderr_tail: String,
}

struct Servers<'a> {
    cluster: &'a RealCluster,
    apiserver: u32,
    etcd: u32,
    ticks: f64,
}

/// What kube-apiserver and etcd spent while `work` ran: CPU seconds and peak RSS of each.
fn server_cost<T>(
    servers: &Servers,
    work: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, ProcSample, ProcSample, ProcSample)> {
    reset_peak(servers.apiserver)?;
    reset_peak(servers.etcd)?;
    let api_before = sample(servers.apiserver, servers.ticks)?;
    let etcd_before = sample(servers.etcd, servers.ticks)?;
    let result = work()?;
    let api_after = sample(servers.apiserver, servers.ticks)?;
    let etcd_after = sample(servers.etcd, servers.ticks)?;
    let api = ProcSample {
        cpu_s: api_after.cpu_s - api_before.cpu_s,
        rss_mb: api_after.rss_mb,
        peak_mb: api_after.peak_mb,
    };
    let etcd = ProcSample {
        cpu_s: etcd_after.cpu_s - etcd_before.cpu_s,
        rss_mb: etcd_after.rss_mb,
        peak_mb: etcd_after.peak_mb,
    };
    Ok((result, api, etcd, api_before))
}

fn tagged_nodes(cluster: &RealCluster) -> anyhow::Result<usize> {
    Ok(cluster
        .list("/api/v1/nodes")?
        .iter()
        .filter(|node| {
            node["spec"]["taints"]
                .as_array()
                .is_some_and(|taints| taints.iter().any(|t| t["key"] == TAINT_KEY))
        })
        .count())
}

fn tick(
    servers: &Servers,
    options: &Options,
    dir: &Path,
    prometheus: &Prometheus,
    generated: &SyntheticCluster,
    controller: &str,
    number: u8,
) -> anyhow::Result<Tick> {
    let cluster = servers.cluster;
    let context = dir.join("binding-context.json");
    std::fs::write(
        &context,
        serde_json::to_vec(&json!([{"binding": controller, "type": "Schedule"}]))?,
    )?;
    let metrics_path = dir.join("metrics.json");
    let measure_out = dir.join("measure.json");
    let _ = std::fs::remove_file(&metrics_path);
    let _ = std::fs::remove_file(&measure_out);
    let base: Vec<(String, String)> = vec![
        ("PROMETHEUS_URL".into(), prometheus.url()),
        (
            "KUBECONFIG".into(),
            cluster.hook_kubeconfig.display().to_string(),
        ),
        ("BINDING_CONTEXT_PATH".into(), context.display().to_string()),
        ("METRICS_PATH".into(), metrics_path.display().to_string()),
    ];
    let measure_out_text = measure_out.display().to_string();
    let binary_text = options.binary.display().to_string();
    let counters_before = server_counters(cluster)?;
    let (output, api, etcd, api_before) = server_cost(servers, || {
        Ok(run_binary(
            &options.measurer,
            &["__measure", &measure_out_text, &binary_text],
            &base,
            RUN_ENV,
        ))
    })?;
    let counters_after = server_counters(cluster)?;
    let cost = thermostat_rig::measure::read_cost(&measure_out);
    let tick_s = std::fs::read_to_string(&metrics_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|op| {
            op["name"] == "kube_thermostat_tick_duration_seconds"
                && op["labels"]["controller"] == controller
        })
        .and_then(|op| op["value"].as_f64());
    let requests = delta(&counters_after.requests, &counters_before.requests);
    let lists = |map: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>| {
        delta(map, before)
            .into_iter()
            .filter(|(k, _)| k.starts_with("LIST "))
            .collect::<BTreeMap<_, _>>()
    };
    let mut problem = None;
    let outcome = if controller == "taint-nodes" {
        let tainted = tagged_nodes(cluster)?;
        let hot = generated.truth.hot_nodes().len();
        // ~10 % of the workers are hot, under the 30 % cap: every one of them, and no other, carries our taint.
        if tainted != hot {
            problem = Some(format!("{tainted} nodes carry our taint, {hot} are hot"));
        }
        format!("{tainted} nodes carry our taint; {hot} hot")
    } else {
        let resized: f64 = requests
            .iter()
            .filter(|(k, _)| k.starts_with("PATCH pods/resize 2"))
            .map(|(_, v)| v)
            .sum::<f64>()
            + 0.0;
        if number == 1 && resized < 1.0 {
            problem = Some("the first resize tick resized nothing".to_owned());
        }
        format!("{resized:.0} resizes accepted")
    };
    Ok(Tick {
        controller: controller.to_owned(),
        tick: number,
        code: output.code,
        hook_wall_s: cost.wall_s,
        hook_cpu_s: cost.cpu_s,
        hook_peak_mb: cost.max_rss_mb,
        tick_s,
        apiserver_cpu_s: api.cpu_s,
        apiserver_peak_mb: api.peak_mb,
        apiserver_rss_before_mb: api_before.rss_mb,
        etcd_cpu_s: etcd.cpu_s,
        etcd_peak_mb: etcd.peak_mb,
        requests,
        list_bytes: lists(
            &counters_after.response_bytes,
            &counters_before.response_bytes,
        ),
        list_seconds: lists(&counters_after.seconds, &counters_before.seconds),
        outcome,
        problem,
        stderr_tail: output
            .stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" | "),
    })
}

// ---- One size --------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
struct UnpaginatedList {
    resource: String,
    items: usize,
    bytes: usize,
    wall_s: f64,
    apiserver_cpu_s: f64,
    apiserver_peak_mb: f64,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
struct SizeResult {
    apiserver_version: String,
    etcd_version: String,
    nodes: usize,
    containers: usize,
    pods: usize,
    load_s: f64,
    load_requests: usize,
    apiserver_empty_mb: f64,
    etcd_empty_mb: f64,
    apiserver_loaded_mb: f64,
    etcd_loaded_mb: f64,
    ticks: Vec<Tick>,
    lists: Vec<UnpaginatedList>,
}

fn newest_apiserver() -> anyhow::Result<(realcluster::Peer, realcluster::Peer)> {
    let peers = realcluster::peers()?;
    let minor_number = |peer: &realcluster::Peer| -> (u32, u32) {
        let minor = peer.minor();
        let (major, minor) = minor.split_once('.').unwrap_or_default();
        (major.parse().unwrap_or(0), minor.parse().unwrap_or(0))
    };
    let apiserver = peers
        .iter()
        .filter(|peer| peer.name == "kube-apiserver")
        .max_by_key(|peer| minor_number(peer))
        .cloned()
        .context("no kube-apiserver among the peers of tests/peers/")?;
    let etcd = realcluster::peer(&peers, "etcd")?;
    Ok((apiserver, etcd))
}

fn bench_size(options: &Options, nodes: usize, containers: usize) -> anyhow::Result<SizeResult> {
    let (apiserver, etcd) = newest_apiserver()?;
    let generated = SyntheticCluster::generate(&Spec::new(nodes, containers));
    let cluster = RealCluster::start(&apiserver, &etcd)?;
    let (apiserver_pid, etcd_pid) = cluster.pids();
    let servers = Servers {
        cluster: &cluster,
        apiserver: apiserver_pid,
        etcd: etcd_pid,
        ticks: clock_ticks_per_second(),
    };
    std::thread::sleep(Duration::from_secs(5));
    let apiserver_empty = sample(apiserver_pid, servers.ticks)?;
    let etcd_empty = sample(etcd_pid, servers.ticks)?;

    let clock = Instant::now();
    load(&cluster, &generated)?;
    let load_s = clock.elapsed().as_secs_f64();
    let load_requests = generated.namespaces.len() * 2
        + 1
        + generated.nodes.len() * 3
        + generated.pods.len() * 2
        + generated.hpas.len();
    eprintln!(
        "   loaded in {load_s:.0} s ({:.0} requests/s)",
        load_requests as f64 / load_s
    );
    // Let the watch cache and Go's heap settle.
    std::thread::sleep(Duration::from_secs(15));
    let apiserver_loaded = sample(apiserver_pid, servers.ticks)?;
    let etcd_loaded = sample(etcd_pid, servers.ticks)?;

    let prometheus = Prometheus::start().context("starting Prometheus (make demo-deps)")?;
    let lead = Duration::from_secs(20 * 60);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let timeline = Timeline {
        end_ms: now_ms - now_ms % 1000 + lead.as_millis() as i64,
        step: Duration::from_secs(30),
        length: Duration::from_secs(55 * 60),
    };
    let clock = Instant::now();
    generated.push_load(&prometheus, &timeline)?;
    eprintln!(
        "   load history pushed in {:.0} s",
        clock.elapsed().as_secs_f64()
    );
    let pushed = Instant::now();

    let dir = tempfile::tempdir()?;
    let mut ticks = Vec::new();
    for controller in ["taint-nodes", "resize-pods"] {
        for number in [1, 2] {
            let result = tick(
                &servers,
                options,
                dir.path(),
                &prometheus,
                &generated,
                controller,
                number,
            )?;
            eprintln!(
                "   {controller} tick {number}: hook {:.1} s, kube-apiserver CPU {:.1} s; {}",
                result.hook_wall_s, result.apiserver_cpu_s, result.outcome
            );
            ticks.push(result);
        }
    }
    if pushed.elapsed() > lead {
        bail!(
            "the ticks outlasted the pushed load history ({lead:?}): their Prometheus answers were empty"
        );
    }

    let mut lists = Vec::new();
    for resource in ["nodes", "pods"] {
        let clock = Instant::now();
        let ((status, body), api, _, _) =
            server_cost(&servers, || cluster.get_raw(&format!("/api/v1/{resource}")))?;
        let wall_s = clock.elapsed().as_secs_f64();
        if status != 200 {
            bail!("unpaginated LIST of {resource} answered {status}");
        }
        let items = serde_json::from_slice::<Value>(&body)?["items"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        lists.push(UnpaginatedList {
            resource: resource.to_owned(),
            items,
            bytes: body.len(),
            wall_s,
            apiserver_cpu_s: api.cpu_s,
            apiserver_peak_mb: api.peak_mb,
        });
    }
    Ok(SizeResult {
        apiserver_version: cluster.apiserver_version.clone(),
        etcd_version: cluster.etcd_version.clone(),
        nodes,
        containers,
        pods: generated.pods.len(),
        load_s,
        load_requests,
        apiserver_empty_mb: apiserver_empty.rss_mb,
        etcd_empty_mb: etcd_empty.rss_mb,
        apiserver_loaded_mb: apiserver_loaded.rss_mb,
        etcd_loaded_mb: etcd_loaded.rss_mb,
        ticks,
        lists,
    })
}

// ---- Reporting -------------------------------------------------------------------------------------------------

fn mib(bytes: f64) -> String {
    if bytes >= 10.0 * 1048576.0 {
        format!("{:.0} MiB", bytes / 1048576.0)
    } else if bytes >= 1048576.0 {
        format!("{:.1} MiB", bytes / 1048576.0)
    } else {
        format!("{:.0} KiB", bytes / 1024.0)
    }
}

fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.1} s")
    }
}

fn report(results: &[SizeResult]) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    if let Some(first) = results.first() {
        line(format!(
            "\nkube-apiserver {}, etcd {}; one run per size.\n",
            first.apiserver_version, first.etcd_version
        ));
    }
    line("#### A tick without snapshots (`SNAPSHOTS=false`)\n".into());
    line("| nodes | pods | controller | tick | hook wall | hook CPU | hook peak RSS | our LIST pages (bytes, server time) | other requests (kube-apiserver's own included) | kube-apiserver CPU | kube-apiserver peak RSS (before) | etcd CPU | etcd peak RSS | outcome |".into());
    line("|---:|---:|---|:---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|".into());
    for size in results {
        for t in &size.ticks {
            let mut pages = Vec::new();
            for (key, bytes) in &t.list_bytes {
                let resource = key.trim_start_matches("LIST ");
                if !HOOK_LISTS.contains(&resource) {
                    continue;
                }
                let count: f64 = t
                    .requests
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("{key} ")))
                    .map(|(_, v)| v)
                    .sum();
                let server_s = t.list_seconds.get(key).copied().unwrap_or(0.0);
                pages.push(format!(
                    "{count:.0} {resource} ({}, {})",
                    mib(*bytes),
                    seconds(server_s)
                ));
            }
            let others: Vec<String> = t
                .requests
                .iter()
                .filter(|(k, _)| {
                    let listed_by_us = HOOK_LISTS
                        .iter()
                        .any(|resource| k.starts_with(&format!("LIST {resource} ")));
                    !listed_by_us && !k.starts_with("WATCH ")
                })
                .map(|(k, v)| {
                    let server_s = k
                        .rsplit_once(' ')
                        .and_then(|(key, _)| t.list_seconds.get(key))
                        .map(|s| format!(" ({})", seconds(*s)))
                        .unwrap_or_default();
                    format!("{v:.0} {k}{server_s}")
                })
                .collect();
            let failed = match (&t.problem, t.code) {
                (None, 0) => " ✓".to_owned(),
                (problem, code) => format!(
                    " **exited {code}: {} {}**",
                    problem.as_deref().unwrap_or_default(),
                    t.stderr_tail
                ),
            };
            line(format!(
                "| {} | {} | {} | {} | {} | {} | {:.0} MB | {} | {} | {} | {:.0} MB ({:.0} MB) | {} | {:.0} MB | {}{} |",
                size.nodes,
                size.pods,
                t.controller,
                t.tick,
                seconds(t.hook_wall_s),
                seconds(t.hook_cpu_s),
                t.hook_peak_mb,
                pages.join(", "),
                others.join(", "),
                seconds(t.apiserver_cpu_s),
                t.apiserver_peak_mb,
                t.apiserver_rss_before_mb,
                seconds(t.etcd_cpu_s),
                t.etcd_peak_mb,
                t.outcome,
                failed,
            ));
        }
    }
    line("\n#### Holding the objects, and one unpaginated LIST (what a shell-operator informer starts from)\n".into());
    line("| nodes | pods | load (requests/s) | kube-apiserver RSS: empty → loaded | etcd RSS: empty → loaded | unpaginated LIST of nodes: JSON bytes, wall, kube-apiserver CPU, peak RSS | the same of pods |".into());
    line("|---:|---:|---:|---:|---:|---|---|".into());
    for size in results {
        let list = |resource: &str| {
            size.lists
                .iter()
                .find(|l| l.resource == resource)
                .map(|l| {
                    format!(
                        "{} ({} items), {}, {}, {:.0} MB",
                        mib(l.bytes as f64),
                        l.items,
                        seconds(l.wall_s),
                        seconds(l.apiserver_cpu_s),
                        l.apiserver_peak_mb
                    )
                })
                .unwrap_or_default()
        };
        line(format!(
            "| {} | {} | {:.0} s ({:.0}/s) | {:.0} → {:.0} MB | {:.0} → {:.0} MB | {} | {} |",
            size.nodes,
            size.pods,
            size.load_s,
            size.load_requests as f64 / size.load_s,
            size.apiserver_empty_mb,
            size.apiserver_loaded_mb,
            size.etcd_empty_mb,
            size.etcd_loaded_mb,
            list("nodes"),
            list("pods"),
        ));
    }
    out
}

/// The machine line, saying that the servers shared it with the hook and the bench.
fn machine() -> String {
    format!(
        "{}; shared with other work while it ran",
        thermostat_rig::measure::machine()
    )
}

fn bench(args: &[String]) -> anyhow::Result<()> {
    let options = parse_options(args)?;
    if let Some(path) = &options.from_results {
        let saved: Value = serde_json::from_slice(&std::fs::read(path)?)
            .with_context(|| format!("reading {}", path.display()))?;
        let results: Vec<SizeResult> = serde_json::from_value(saved["sizes"].clone())?;
        let tables = report(&results);
        println!("{tables}");
        if let Some(markdown) = &options.markdown {
            let machine = saved["machine"].as_str().unwrap_or_default();
            thermostat_rig::report::splice_markdown(
                markdown,
                "real-bench",
                "`make bench` (thermostat-real-bench)",
                &tables,
                machine,
            )?;
        }
        return Ok(());
    }
    std::fs::create_dir_all(&options.out)?;
    let mut results = Vec::new();
    for &(nodes, containers) in &options.sizes {
        eprintln!("== real kube-apiserver: {nodes} nodes, {containers} containers");
        let clock = Instant::now();
        results.push(bench_size(&options, nodes, containers)?);
        eprintln!("   done in {:.0} s", clock.elapsed().as_secs_f64());
        // Written after each size: a later size failing keeps the earlier figures.
        std::fs::write(
            options.out.join("results.json"),
            serde_json::to_vec_pretty(&json!({"machine": machine(), "sizes": results}))?,
        )?;
    }
    let tables = report(&results);
    std::fs::write(options.out.join("tables.md"), &tables)?;
    println!("{tables}");
    if let Some(path) = &options.markdown {
        thermostat_rig::report::splice_markdown(
            path,
            "real-bench",
            "`make bench` (thermostat-real-bench)",
            &tables,
            &machine(),
        )?;
    }
    let failed: Vec<String> = results
        .iter()
        .flat_map(|size| {
            size.ticks
                .iter()
                .filter(|t| t.code != 0 || t.problem.is_some())
                .map(move |t| {
                    format!(
                        "{} nodes {} tick {}: exited {}: {} {}",
                        size.nodes,
                        t.controller,
                        t.tick,
                        t.code,
                        t.problem.as_deref().unwrap_or_default(),
                        t.stderr_tail
                    )
                })
        })
        .collect();
    if !failed.is_empty() {
        bail!("ticks failed or went wrong:\n{}", failed.join("\n"));
    }
    Ok(())
}
