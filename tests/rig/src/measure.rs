//! What a benchmarked process cost, and what Prometheus spent answering it: shared by the benchmarks.
//!
//! `thermostat-bench __measure OUT CMD ARGS...` ([`measure_child`]) runs CMD as its only child and writes a
//! [`ProcessCost`] to OUT; a bench reads it back with [`read_cost`]. [`prometheus_counters`] reads the query API's
//! own accounting from Prometheus' `/metrics`, to difference around a run.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// What one process cost.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ProcessCost {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub max_rss_mb: f64,
    pub code: i32,
}

/// `__measure OUT CMD ARGS...`: runs CMD (inheriting stdio and environment), then writes its wall time (spawn to
/// exit) and, from getrusage(RUSAGE_CHILDREN) of this wrapper whose only child it is, its CPU time and peak RSS.
/// Exits with CMD's code.
pub fn measure_child(args: &[String]) -> anyhow::Result<()> {
    let [out, command, rest @ ..] = args else {
        bail!("usage: __measure OUT CMD ARGS...");
    };
    let start = Instant::now();
    let status = Command::new(command)
        .args(rest)
        .status()
        .with_context(|| format!("running {command}"))?;
    let wall_s = start.elapsed().as_secs_f64();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let cost = ProcessCost {
        wall_s,
        cpu_s: seconds(usage.user_time()) + seconds(usage.system_time()),
        // Linux reports kilobytes.
        max_rss_mb: usage.max_rss() as f64 / 1024.0,
        code: status.code().unwrap_or(-1),
    };
    std::fs::write(out, serde_json::to_vec(&cost)?)?;
    std::process::exit(cost.code);
}

/// The cost `__measure` wrote to `path`; zeros when it wrote none (the measurer itself failed to start).
pub fn read_cost(path: &Path) -> ProcessCost {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Query API requests (instant and range), their total handling time and response bytes, from Prometheus'
/// /metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct PromCounters {
    pub queries: f64,
    pub seconds: f64,
    pub bytes: f64,
}

impl PromCounters {
    /// What was counted between `before` and `self`.
    pub fn since(&self, before: &PromCounters) -> PromCounters {
        PromCounters {
            queries: self.queries - before.queries,
            seconds: self.seconds - before.seconds,
            bytes: self.bytes - before.bytes,
        }
    }
}

/// Reads the counters at `base_url` (zeros when Prometheus cannot be reached: the run's figures then say 0).
pub fn prometheus_counters(base_url: &str) -> PromCounters {
    let text = ureq::get(&format!("{base_url}/metrics"))
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap_or_default();
    let mut counters = PromCounters::default();
    for line in text.lines() {
        let query_handler = line.contains("handler=\"/api/v1/query\"")
            || line.contains("handler=\"/api/v1/query_range\"");
        if !query_handler {
            continue;
        }
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if line.starts_with("prometheus_http_request_duration_seconds_count") {
            counters.queries += value;
        } else if line.starts_with("prometheus_http_request_duration_seconds_sum") {
            counters.seconds += value;
        } else if line.starts_with("prometheus_http_response_size_bytes_sum") {
            counters.bytes += value;
        }
    }
    counters
}

/// The machine line of the benchmark tables: CPUs, their model, memory.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} CPUs ({cpu}), {memory_gib:.1} GiB memory")
}

/// `--sizes 1000x10000,5000x50000`: the (nodes, containers) pairs a benchmark runs.
pub fn parse_sizes(text: &str) -> anyhow::Result<Vec<(usize, usize)>> {
    text.split(',')
        .map(|size| {
            let (nodes, containers) = size
                .split_once('x')
                .with_context(|| format!("--sizes: {size:?} is not NODESxCONTAINERS"))?;
            let number = |n: &str| {
                n.parse::<usize>()
                    .with_context(|| format!("--sizes: {n:?} in {size:?} is not a number"))
            };
            Ok((number(nodes)?, number(containers)?))
        })
        .collect()
}
