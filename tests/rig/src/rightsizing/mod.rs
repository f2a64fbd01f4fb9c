//! Right-sizing models for the benchmark of issue 18: generated workload shapes, and the policies kube-thermostat
//! is compared with, run minute by minute in one closed loop.
//!
//! - [`shapes`]: per-container demand (CPU cores, memory working set) one point a minute, from a seed, each shape
//!   with the requests and limits a team would have set.
//! - [`vpa`]: VPA's recommender and updater as documented upstream (decaying histograms, p90 + 15 %, daily memory
//!   peaks, OOM bump, floors), applied in place. For comparison only.
//! - [`seed`]: the seed hook's rule (double the CPU request and limit above 80 % of the limit, never down).
//! - [`simulate`]: a [`simulate::Policy`] run over a shape, with what it reserved and what it cost: core-hours and
//!   GiB-hours of requests, minutes throttled, OOM kills, resizes per container per day. Also the "no resizing"
//!   policy.
//!
//! - [`thermostat`]: kube-thermostat's own arm in the same loop: the real binary against a real Prometheus fed the
//!   observed series and the API stand-in, tick by tick.
//!
//! All but [`thermostat`] is pure: the same shape, seed and policy give the same figures, with no clock read.

pub mod seed;
pub mod shapes;
pub mod simulate;
pub mod thermostat;
pub mod vpa;

/// Bytes in a mebibyte: requests and limits in the shapes are written in MiB, as teams write them.
pub const MIB: f64 = 1024.0 * 1024.0;
/// Bytes in a gibibyte, the unit of the GiB-hours figure.
pub const GIB: f64 = 1024.0 * MIB;
/// Minutes in a day: demand has one point a minute.
pub const MINUTES_PER_DAY: u32 = 24 * 60;

/// One container's requests and limits. No limit (`None`) means no CFS quota for CPU (never throttled) and no
/// cgroup cap for memory (never OOM-killed by its own limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizes {
    pub cpu_request_cores: f64,
    pub cpu_limit_cores: Option<f64>,
    pub memory_request_bytes: f64,
    pub memory_limit_bytes: Option<f64>,
}

/// What a container asks for during one minute: the CPU it would use if nothing throttled it, and its working set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}
