//! The knobs of the resize decisions, as plain data. The settings layer builds and validates it.

use super::signals::SignalWindows;
use serde::Serialize;
use std::time::Duration;

/// Which pods are ours to resize (a pod label, or a label on their namespace, `key=value` each) and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeSettings {
    pub policy: ResizePolicy,
    pub pod_selector: (String, String),
    pub namespace_selector: (String, String),
}

/// Resize rules. Percentages are of the container's limit, or of its request when it has no limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResizePolicy {
    /// CPU scale-up mark (`CPU_THRESHOLD`): usage stayed above it over the short window. 80.
    pub cpu_high_percent: f64,
    /// CPU utilization a resize aims at: new = usage / target. 60.
    pub cpu_target_percent: f64,
    /// CPU scale-down mark: the peak over the stabilization window stayed below it. 30.
    pub cpu_low_percent: f64,
    /// Resize memory at all. Off: memory is riskier (OOM kills, version rules). false.
    pub memory_enabled: bool,
    /// Memory scale-up mark: working set over the short window reached it. 90.
    pub memory_high_percent: f64,
    /// Memory utilization a scale-up aims at. 75.
    pub memory_target_percent: f64,
    /// Memory scale-down goes to the window's peak plus this margin, never lower. 20.
    pub memory_margin_percent: f64,
    /// Query windows: rate 2m, short 3m, stabilization 30m, step 30s; long view 24h on a 5m grid.
    pub windows: SignalWindows,
    /// A scale-down keeps this percentile of the CPU's 5-minute averages over the long window. 95.
    pub cpu_long_percentile: f64,
    /// ... of the working set's 5-minute peaks (100: the highest). 100.
    pub memory_long_percentile: f64,
    /// How a Burstable container's CPU request is sized: in proportion to its limit, or from its own usage. Ratio.
    pub cpu_request: CpuRequest,
    /// With [`CpuRequest::Usage`]: the request covers this percentile of the 5-minute CPU averages over the long
    /// window ... 80.
    pub cpu_request_percentile: f64,
    /// ... plus this margin. 15.
    pub cpu_request_margin_percent: f64,
    /// With the long view on, no scale-down of a pod younger than this: its long view would not have seen its
    /// peaks yet. 6h.
    pub long_min_history: Duration,
    /// Throttled in at least this % of CFS periods over the short window: scale CPU up even below the high mark;
    /// that much in any 5-minute step of the long window: no CPU scale-down. 0 turns throttling off. 10.
    pub cpu_throttle_percent: f64,
    /// After an OOM kill, memory goes at once to at least this multiple of its size ... 1.2 (1: off).
    pub oom_bump: f64,
    /// ... and at least this much more. 100Mi.
    pub oom_min_bump_bytes: i64,
    /// At most this many OOM raises of a container within the long window (24h when it is off): a container
    /// killed again after that is leaking, and raising it further would only move the kill. 3.
    pub oom_max_bumps: u32,
    /// Scale-down needs this fraction of the stabilization window's points to have data. 0.95.
    pub min_history_fraction: f64,
    /// One step multiplies a size by at most this. 2.
    pub max_step_up: f64,
    /// One step divides a size by at most this. 2.
    pub max_step_down: f64,
    /// New CPU sizes are multiples of this. 10m.
    pub cpu_granularity_millis: i64,
    /// New memory sizes are multiples of this. 1Mi.
    pub memory_granularity_bytes: i64,
    /// Changes within this fraction of the current size are not made (HPA's default). 0.1.
    pub tolerance: f64,
    /// Global bounds on the sized value (the limit, or the request without a limit).
    pub cpu_min_millis: i64,
    pub cpu_max_millis: i64,
    pub memory_min_bytes: i64,
    pub memory_max_bytes: i64,
    /// No second resize of a container this soon after an upsize. 3m.
    pub cooldown_up: Duration,
    /// ... after a downsize. 15m (downsizes are the risky direction).
    pub cooldown_down: Duration,
    /// Resize resources whose `resizePolicy` is `RestartContainer` (restarts the container). false.
    pub allow_restart: bool,
    /// A `Deferred` resize older than this is withdrawn (it holds node capacity). 10m.
    pub deferred_timeout: Duration,
    /// After an `Infeasible`, withdrawn or refused (422, admission 403) resize, leave the container alone this long. 1h.
    pub infeasible_backoff: Duration,
    /// Blast radius: at most this many pods resized (or withdrawn) per tick; withdrawals first, then
    /// upsizes hottest first, then downsizes; the rest wait for a later tick. 100.
    pub max_pods_per_tick: usize,
    /// Largest range answer, in points (containers x points per stabilization window), that a signal is asked
    /// for as a range query; above, the statistics query (see `signals`). 6,000,000 (~240 MB of JSON, read as
    /// it arrives); 0 always asks for the statistics.
    pub query_max_points: u64,
}

impl Default for ResizePolicy {
    fn default() -> Self {
        ResizePolicy {
            cpu_high_percent: 80.0,
            cpu_target_percent: 60.0,
            cpu_low_percent: 30.0,
            memory_enabled: false,
            memory_high_percent: 90.0,
            memory_target_percent: 75.0,
            memory_margin_percent: 20.0,
            windows: SignalWindows::default(),
            cpu_long_percentile: 95.0,
            memory_long_percentile: 100.0,
            cpu_request: CpuRequest::Ratio,
            cpu_request_percentile: 80.0,
            cpu_request_margin_percent: 15.0,
            long_min_history: Duration::from_secs(6 * 3600),
            cpu_throttle_percent: 10.0,
            oom_bump: 1.2,
            oom_min_bump_bytes: 100 << 20,
            oom_max_bumps: 3,
            min_history_fraction: 0.95,
            max_step_up: 2.0,
            max_step_down: 2.0,
            cpu_granularity_millis: 10,
            memory_granularity_bytes: 1 << 20,
            tolerance: 0.1,
            cpu_min_millis: 10,
            cpu_max_millis: 16_000,
            memory_min_bytes: 32 << 20,
            memory_max_bytes: 64 << 30,
            cooldown_up: Duration::from_secs(180),
            cooldown_down: Duration::from_secs(900),
            allow_restart: false,
            deferred_timeout: Duration::from_secs(600),
            infeasible_backoff: Duration::from_secs(3600),
            max_pods_per_tick: 100,
            query_max_points: 6_000_000,
        }
    }
}

/// How a Burstable container's CPU request follows a resize (`RESIZE_CPU_REQUEST`, annotation
/// `kube-thermostat.io/cpu-request`). Guaranteed containers keep request == limit either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuRequest {
    /// The request keeps its ratio to the limit (as VPA's `RequestsAndLimits`).
    Ratio,
    /// The request is sized to the container's typical usage (a percentile of the long view plus a margin), the
    /// limit to its peaks: bursty containers reserve what they usually use and keep room for their bursts.
    Usage,
}

impl CpuRequest {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ratio" => Some(CpuRequest::Ratio),
            "usage" => Some(CpuRequest::Usage),
            _ => None,
        }
    }
}
